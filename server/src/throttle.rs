//! Slows down password guessing: failed attempts counted per key (client address, user name),
//! with exponential back-off once a key reaches [`MAX_FAILURES`] in a [`FAILURE_WINDOW`].
//!
//! The map is bounded by [`MAX_TRACKED`]: when full, stale entries go first, then the entries
//! whose last failure is oldest. An attacker who floods it with fresh keys can thus evict old
//! ones, but each flood key itself still backs off.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in one window after which every further attempt waits.
pub const MAX_FAILURES: u32 = 5;
/// Failures older than this are forgotten.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The first wait after [`MAX_FAILURES`] failures; it doubles with each further failure.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How many keys are remembered at most.
pub const MAX_TRACKED: usize = 10_000;

/// Failed attempts by key. The mutex is held only for map operations, never across `.await`.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Throttle {
    /// `Err(wait)` while `key` must wait before the next attempt.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    /// Records a failed attempt of `key`.
    pub fn failed(&self, key: &str) {
        self.failed_at(key, Instant::now());
    }

    /// Takes back one failure of `key`: callers record an attempt as failed before checking
    /// the password (so parallel attempts count at once) and refund it when it was right.
    pub fn refund(&self, key: &str) {
        let mut entries = crate::lock(&self.entries);
        if let Some(entry) = entries.get_mut(key) {
            entry.failures = entry.failures.saturating_sub(1);
            if entry.failures < MAX_FAILURES {
                entry.blocked_until = None;
            }
        }
    }

    /// Forgets `key`'s failures (after a successful login).
    pub fn succeeded(&self, key: &str) {
        crate::lock(&self.entries).remove(key);
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let entries = crate::lock(&self.entries);
        match entries.get(key).and_then(|e| e.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    fn failed_at(&self, key: &str, now: Instant) {
        let mut entries = crate::lock(&self.entries);
        if !entries.contains_key(key) && entries.len() >= MAX_TRACKED {
            evict(&mut entries, now);
        }
        let entry = entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            window_start: now,
            last_failure: now,
            blocked_until: None,
        });
        if now.duration_since(entry.window_start) > FAILURE_WINDOW {
            entry.failures = 0;
            entry.window_start = now;
        }
        entry.failures += 1;
        entry.last_failure = now;
        if entry.failures >= MAX_FAILURES {
            let doublings = (entry.failures - MAX_FAILURES).min(16);
            let wait = FIRST_BACKOFF
                .saturating_mul(1 << doublings)
                .min(MAX_BACKOFF);
            entry.blocked_until = Some(now + wait);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        crate::lock(&self.entries).len()
    }
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    window_start: Instant,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

impl Entry {
    fn stale(&self, now: Instant) -> bool {
        now.duration_since(self.window_start) > FAILURE_WINDOW
            && self.blocked_until.is_none_or(|until| until <= now)
    }
}

/// Makes room for at least one entry: drops stale entries, then the oldest tenth.
fn evict(entries: &mut HashMap<String, Entry>, now: Instant) {
    entries.retain(|_, e| !e.stale(now));
    if entries.len() < MAX_TRACKED {
        return;
    }
    let mut by_age: Vec<(Instant, String)> = entries
        .iter()
        .map(|(k, e)| (e.last_failure, k.clone()))
        .collect();
    by_age.sort_unstable();
    for (_, key) in by_age.into_iter().take(MAX_TRACKED / 10 + 1) {
        entries.remove(&key);
    }
}
