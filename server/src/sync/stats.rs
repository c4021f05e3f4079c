//! Global sync counters: relaxed atomics, cheap to bump on the hot path, read by the admin API.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters since start. Names follow the ObjectBox statistics and Prometheus metrics.
#[derive(Debug, Default)]
pub struct Counters {
    pub connects: AtomicU64,
    /// Logged-in clients now (a gauge).
    pub connected_clients: AtomicI64,
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub login_successes: AtomicU64,
    pub login_failures_credentials: AtomicU64,
    pub login_failures_auth_unavailable: AtomicU64,
    pub login_failures_other: AtomicU64,
    /// Admin-user logins without the sync login permission. Not bumped until admin-user sync
    /// login lands.
    pub login_failures_no_permission: AtomicU64,
    pub client_txs_applied: AtomicU64,
    pub client_tx_ops_applied: AtomicU64,
    pub client_tx_bytes_applied: AtomicU64,
    pub client_txs_rejected: AtomicU64,
    pub skipped_tx_dups: AtomicU64,
    pub put_conflicts: AtomicU64,
    pub full_syncs: AtomicU64,
    pub txs_sent_historic: AtomicU64,
    pub txs_sent_new: AtomicU64,
    pub errors_protocol: AtomicU64,
    pub errors_handler: AtomicU64,
    pub heartbeat_failures: AtomicU64,
    pub heartbeats_received: AtomicU64,
    /// Messages that could not be sent. Not bumped yet: a failed send ends the connection.
    pub message_send_failures: AtomicU64,
    /// Connections whose processing was aborted. Not bumped yet.
    pub disconnect_aborts: AtomicU64,
    /// Times a connection went over its inbound rate and reading paused.
    pub inbound_pauses: AtomicU64,
    /// Client transactions rejected for having more than `maxTxObjects` operations.
    pub txs_too_large: AtomicU64,
    /// Transactions applied by the server itself (no such writer exists yet).
    pub local_txs_applied: AtomicU64,
}

impl Counters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A plain copy of every counter, for reports and tests.
    pub fn snapshot(&self) -> Snapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            connects: g(&self.connects),
            connected_clients: self.connected_clients.load(Ordering::Relaxed),
            messages_received: g(&self.messages_received),
            messages_sent: g(&self.messages_sent),
            bytes_received: g(&self.bytes_received),
            bytes_sent: g(&self.bytes_sent),
            login_successes: g(&self.login_successes),
            login_failures: g(&self.login_failures_credentials)
                + g(&self.login_failures_auth_unavailable)
                + g(&self.login_failures_other)
                + g(&self.login_failures_no_permission),
            client_txs_applied: g(&self.client_txs_applied),
            client_tx_ops_applied: g(&self.client_tx_ops_applied),
            skipped_tx_dups: g(&self.skipped_tx_dups),
            put_conflicts: g(&self.put_conflicts),
            full_syncs: g(&self.full_syncs),
            txs_sent_historic: g(&self.txs_sent_historic),
            txs_sent_new: g(&self.txs_sent_new),
            errors_protocol: g(&self.errors_protocol),
        }
    }
}

/// A point-in-time copy of the main counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub connects: u64,
    pub connected_clients: i64,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub login_successes: u64,
    pub login_failures: u64,
    pub client_txs_applied: u64,
    pub client_tx_ops_applied: u64,
    pub skipped_tx_dups: u64,
    pub put_conflicts: u64,
    pub full_syncs: u64,
    pub txs_sent_historic: u64,
    pub txs_sent_new: u64,
    pub errors_protocol: u64,
}
