//! Admission and inbound rate of sync connections: connection slots (in total and per IP
//! address) and the token buckets that pace what one connection may send.
//!
//! A refused connection gets an HTTP error before the WebSocket upgrade, naming the limit, so it
//! costs no WebSocket state. A connection over its inbound rate is not closed: the server stops
//! reading from it until the bucket refills, and TCP flow control slows the client down
//! (backpressure), so a client with a large backlog still gets all of it through.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::stats::{Counter, Counters};

/// How long a refused client is asked to wait before it retries (`Retry-After`).
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// Refusals are logged at WARN at most this often, so that a flood does not flood the log.
pub const REFUSAL_WARN_INTERVAL: Duration = Duration::from_secs(60);

/// Hands out connection slots within `maxConnections` and `maxConnectionsPerAddress`.
pub struct Admission {
    max_total: usize,
    /// 0 means no limit.
    max_per_address: usize,
    /// Open connections in total and per address. One lock for both, held only to count, so the
    /// two limits are checked and taken together.
    open: Mutex<Open>,
    /// Counts refusals by `maxConnections` and by `maxConnectionsPerAddress`.
    counters: Arc<Counters>,
}

/// A connection slot; dropping it frees the slot.
#[must_use = "the slot is freed when dropped"]
pub struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `maxConnections` connections are open.
    Total(usize),
    /// The address already holds `maxConnectionsPerAddress` connections.
    PerAddress(IpAddr, usize),
}

impl Admission {
    pub fn new(
        max_total: usize,
        max_per_address: usize,
        counters: Arc<Counters>,
    ) -> Arc<Admission> {
        Arc::new(Admission {
            max_total,
            max_per_address,
            open: Mutex::new(Open::default()),
            counters,
        })
    }

    /// Takes a slot for a connection from `ip`, or says which limit refuses it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let refusal = {
            let mut open = crate::lock(&self.open);
            let from_ip = open.per_address.get(&ip).copied().unwrap_or(0);
            if open.total >= self.max_total {
                Refusal::Total(self.max_total)
            } else if self.max_per_address > 0 && from_ip >= self.max_per_address {
                Refusal::PerAddress(ip, self.max_per_address)
            } else {
                open.total += 1;
                open.per_address.insert(ip, from_ip + 1);
                return Ok(Slot {
                    admission: self.clone(),
                    ip,
                });
            }
        };
        self.log_refusal(refusal);
        Err(refusal)
    }

    /// Open connections in total.
    pub fn open(&self) -> usize {
        crate::lock(&self.open).total
    }

    fn log_refusal(&self, refusal: Refusal) {
        match refusal {
            Refusal::Total(_) => self.counters.inc(Counter::RefusedMaxConnections),
            Refusal::PerAddress(..) => self.counters.inc(Counter::RefusedPerAddress),
        }
        tracing::debug!(target: "SvrWs", "Connection refused: {refusal}");
        let mut open = crate::lock(&self.open);
        let now = Instant::now();
        if open
            .last_warned
            .is_some_and(|t| now.duration_since(t) < REFUSAL_WARN_INTERVAL)
        {
            return;
        }
        open.last_warned = Some(now);
        drop(open);
        tracing::warn!(target: "SvrWs", "Refusing sync connections: {refusal} (logged at most once a minute)");
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = crate::lock(&self.admission.open);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_address.remove(&self.ip);
            }
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Total(max) => write!(
                f,
                "too many connections: the server holds at most {max} sync connections \
                 (--max-connections / maxConnections); try again later"
            ),
            Refusal::PerAddress(ip, max) => write!(
                f,
                "too many connections from {ip}: at most {max} sync connections per address \
                 (--max-connections-per-address / maxConnectionsPerAddress)"
            ),
        }
    }
}

impl IntoResponse for Refusal {
    /// 503 when the server is full, 429 when this address is; both with `Retry-After` and the
    /// reason as plain text.
    fn into_response(self) -> Response {
        let status = match self {
            Refusal::Total(_) => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::PerAddress(..) => StatusCode::TOO_MANY_REQUESTS,
        };
        (
            status,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                (header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()),
            ],
            format!("{self}\n"),
        )
            .into_response()
    }
}

/// Paces what one connection sends: a token bucket for messages and one for bytes, each holding
/// one second's worth. A message is always read whole and may take a bucket below zero; the
/// connection then waits until the debt is repaid, so a message larger than a second's worth of
/// bytes still gets through, just slowly.
#[derive(Debug)]
pub struct InboundRate {
    messages: Option<Bucket>,
    bytes: Option<Bucket>,
}

impl InboundRate {
    /// A rate of 0 means no limit for that measure.
    pub fn new(messages_per_second: u32, bytes_per_second: u64, now: Instant) -> InboundRate {
        InboundRate {
            messages: Bucket::new(f64::from(messages_per_second), now),
            bytes: Bucket::new(bytes_per_second as f64, now),
        }
    }

    /// Accounts one received message of `bytes`; returns how long to pause reading, if at all.
    pub fn take(&mut self, bytes: usize, now: Instant) -> Option<Duration> {
        let waits = [
            self.messages.as_mut().and_then(|b| b.take(1.0, now)),
            self.bytes.as_mut().and_then(|b| b.take(bytes as f64, now)),
        ];
        waits.into_iter().flatten().max()
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
    last_warned: Option<Instant>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens per second, also the capacity.
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Option<Bucket> {
        (rate > 0.0).then_some(Bucket {
            rate,
            tokens: rate,
            at: now,
        })
    }

    fn take(&mut self, n: f64, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate) - n;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

#[cfg(test)]
mod tests;
