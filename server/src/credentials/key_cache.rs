//! JWT public keys fetched from `publicKeyUrl` and cached, with bounded refetching.
//!
//! Rules:
//! - Keys are fetched on first use and kept for the cache expiration time (`auth.jwt.
//!   publicKeyCacheExpirationSeconds`); after that the next login fetches them again.
//! - A token whose `kid` is not in the cached set triggers a refetch (the issuer may have rotated
//!   its keys), at most once per [`Timings::kid_miss_refetch_interval`].
//! - A failed fetch is not retried for [`Timings::failed_fetch_retry_interval`]; logins in that
//!   time fail at once with `AuthUnreachable` instead of queueing behind another slow fetch.
//! - Expired keys are not used when a refetch fails.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::keys::KeySet;
use super::{Failure, Timings};

/// Keys behind one URL, fetched lazily.
pub(crate) struct KeyCache {
    url: String,
    ttl: Duration,
    timings: Timings,
    agent: ureq::Agent,
    /// What was fetched last. A std mutex: held only to read or replace the fields, never across
    /// an `.await`.
    state: Mutex<State>,
    /// Held by the one task that is fetching; others that need keys wait here and then use its
    /// result, so a burst of logins makes one request.
    fetching: tokio::sync::Mutex<()>,
}

impl KeyCache {
    /// A cache for `url` keeping keys for `ttl`. Fetches nothing yet.
    pub fn new(url: String, ttl: Duration, timings: Timings) -> KeyCache {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timings.fetch_timeout))
            .build()
            .into();
        KeyCache {
            url,
            ttl,
            timings,
            agent,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The keys to check a token with header `kid` against, fetching them if the cache is empty,
    /// expired, or lacks `kid` (rate-limited). The returned set may still lack `kid`.
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, Failure> {
        let observed = match self.decide(kid) {
            Decision::Use(keys) => return Ok(keys),
            Decision::Fail(reason) => return Err(Failure::AuthUnreachable(reason)),
            Decision::Fetch { generation } => generation,
        };
        let _fetching = self.fetching.lock().await;
        // Another task may have fetched while this one waited: use its result if it helps.
        if self.lock().generation != observed {
            match self.decide(kid) {
                Decision::Use(keys) => return Ok(keys),
                Decision::Fail(reason) => return Err(Failure::AuthUnreachable(reason)),
                Decision::Fetch { .. } => {}
            }
        }
        let result = self.fetch().await;
        let mut state = self.lock();
        state.generation += 1;
        state.last_attempt = Some(Instant::now());
        match result {
            Ok(keys) => {
                tracing::info!(
                    target: "SvAuth",
                    "Fetched {} JWT public key(s) from {}", keys.len(), self.url
                );
                for skipped in keys.skipped() {
                    tracing::warn!(target: "SvAuth", "Ignored JWT key from {}: {skipped}", self.url);
                }
                let keys = Arc::new(keys);
                state.keys = Some((Arc::clone(&keys), Instant::now()));
                state.last_error = None;
                Ok(keys)
            }
            Err(reason) => {
                tracing::warn!(target: "SvAuth", "Cannot fetch JWT public keys: {reason}");
                state.last_error = Some(reason.clone());
                Err(Failure::AuthUnreachable(reason))
            }
        }
    }

    /// Decides from the cached state alone whether to use it, fail, or fetch.
    fn decide(&self, kid: Option<&str>) -> Decision {
        let state = self.lock();
        let now = Instant::now();
        let recently_tried = |interval: Duration| {
            state
                .last_attempt
                .is_some_and(|at| now.duration_since(at) < interval)
        };
        match &state.keys {
            Some((keys, fetched)) if now.duration_since(*fetched) < self.ttl => {
                if keys.has_key_for(kid) || recently_tried(self.timings.kid_miss_refetch_interval) {
                    return Decision::Use(Arc::clone(keys));
                }
            }
            _ => {
                if let Some(error) = &state.last_error
                    && recently_tried(self.timings.failed_fetch_retry_interval)
                {
                    return Decision::Fail(error.clone());
                }
            }
        }
        Decision::Fetch {
            generation: state.generation,
        }
    }

    /// Fetches and parses the document behind the URL, on the blocking pool.
    async fn fetch(&self) -> Result<KeySet, String> {
        let agent = self.agent.clone();
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || fetch_blocking(&agent, &url))
            .await
            .map_err(|e| format!("fetching {} failed: {e}", self.url))?
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is replaced field by field and is consistent after a panic, so a poisoned
        // lock is still usable.
        crate::lock(&self.state)
    }
}

// Helpers below.

/// The largest key document accepted from the URL (1 MiB); JWKS are a few KiB.
const MAX_KEY_DOCUMENT_BYTES: u64 = 1024 * 1024;

#[derive(Default)]
struct State {
    /// The last keys fetched successfully and when.
    keys: Option<(Arc<KeySet>, Instant)>,
    /// When the last fetch, successful or not, ended.
    last_attempt: Option<Instant>,
    /// Why the last fetch failed; `None` after a success.
    last_error: Option<String>,
    /// Counts fetches, so a task that waited for another's fetch notices it.
    generation: u64,
}

enum Decision {
    Use(Arc<KeySet>),
    Fail(String),
    Fetch { generation: u64 },
}

/// GETs `url` and parses the body. The error names the URL and the cause.
fn fetch_blocking(agent: &ureq::Agent, url: &str) -> Result<KeySet, String> {
    let mut response = agent
        .get(url)
        .header(
            "Accept",
            "application/json, application/x-pem-file, text/plain",
        )
        .call()
        .map_err(|e| format!("GET {url} failed: {e}"))?;
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_KEY_DOCUMENT_BYTES)
        .read_to_string()
        .map_err(|e| format!("GET {url}: cannot read the body: {e}"))?;
    KeySet::from_document(&body).map_err(|e| format!("{url} serves no usable key: {e}"))
}
