//! The sync statistics: every counter declared once, in [`counters!`]'s table, with its name,
//! label, unit and Prometheus metric; the counters themselves are relaxed atomics, cheap to bump
//! on the hot path.
//!
//! Everything that lists counters is generated from the table: the admin API's current values
//! (`admin::stats`), the time series (`series`, the rows marked `series`) and the Prometheus
//! exposition (`admin::stats::prometheus`, rows with a metric). A tidy test checks that no other
//! module declares a counter.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
}

/// Where a counter goes in the Prometheus exposition: a metric of its own, or one label value
/// of a metric that several counters share (declared in [`METRICS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prometheus {
    /// Not exported.
    None,
    /// Its own counter metric with this name and help text.
    Single(&'static str, &'static str),
    /// The value of `label` of a metric in [`METRICS`].
    Labelled(&'static str, &'static str),
}

/// The description of one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Def {
    pub counter: Counter,
    /// Stable camelCase key (admin API and time series).
    pub name: &'static str,
    /// For people.
    pub label: &'static str,
    pub unit: Unit,
    /// Whether the admin statistics keep a time series of it.
    pub series: bool,
    pub prometheus: Prometheus,
}

/// A Prometheus metric that several counters share, one label value each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub help: &'static str,
    /// The label that tells the counters apart.
    pub label: &'static str,
}

/// Declares the counters: `Variant "name" "label" Unit series-or-not prometheus;`.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $variant:ident $name:literal $label:literal $unit:ident $series:ident $prom:expr;)*) => {
        /// One sync counter. The table in `counters!` is the only declaration.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(usize)]
        pub enum Counter {
            $($(#[doc = $doc])* $variant,)*
        }

        /// Every counter's description, in [`Counter`] order.
        pub const DEFS: &[Def] = &[
            $(Def {
                counter: Counter::$variant,
                name: $name,
                label: $label,
                unit: Unit::$unit,
                series: counters!(@series $series),
                prometheus: $prom,
            },)*
        ];
    };
    (@series series) => { true };
    (@series none) => { false };
}

use Prometheus::{Labelled, None as NotExported, Single};

counters! {
    /// WebSocket connections accepted.
    Connects "connects" "Connects" Count series Single("obx_connects", "WebSocket connections accepted");
    MessagesReceived "messagesReceived" "Messages received" Count series Labelled("obx_messages", "recv");
    MessagesSent "messagesSent" "Messages sent" Count series Labelled("obx_messages", "sent");
    BytesReceived "bytesReceived" "Message bytes received" Bytes series Labelled("obx_message_bytes", "recv");
    BytesSent "bytesSent" "Message bytes sent" Bytes series Labelled("obx_message_bytes", "sent");
    ClientTxsApplied "clientTxsApplied" "Client applied transactions" Count series Labelled("obx_txs_applied", "client");
    ClientTxOpsApplied "clientTxOpsApplied" "Client applied TX operations" Count series Single("obx_client_tx_ops_applied", "Operations (puts and removes) in client transactions applied");
    ClientTxBytesApplied "clientTxBytesApplied" "Client applied TX bytes" Bytes series Single("obx_client_tx_bytes_applied", "Bytes of client transactions applied");
    SkippedTxDups "skippedTxDups" "Skipped duplicate transactions" Count series Single("obx_skipped_tx_dups", "Client transactions skipped as already applied");
    PutConflicts "putConflicts" "Put conflicts" Count series Single("obx_put_conflicts", "Puts rejected by conflict resolution");
    FullSyncs "fullSyncs" "Full syncs" Count series Single("obx_full_syncs", "Full-sync messages sent (each chunk)");
    TxsSentHistoric "txsSentHistoric" "Transactions sent (historic)" Count series Labelled("obx_txs_sent", "historic");
    TxsSentNew "txsSentNew" "Transactions sent (new)" Count series Labelled("obx_txs_sent", "new");
    LoginSuccesses "loginSuccesses" "Login successes" Count series Single("obx_login_successes", "Successful client logins");
    LoginFailuresCredentials "loginFailuresCredentials" "Login failures: credentials rejected" Count series Labelled("obx_client_failures", "login_user_bad_credentials");
    LoginFailuresAuthUnavailable "loginFailuresAuthUnavailable" "Login failures: authenticator unavailable" Count series Labelled("obx_client_failures", "login_auth_unavailable");
    /// Admin users (`auth.obxAdmin`) without the sync login permission.
    LoginFailuresNoPermission "loginFailuresNoPermission" "Login failures: no sync permission" Count series Labelled("obx_client_failures", "login_user_no_permission");
    LoginFailuresOther "loginFailuresOther" "Login failures: other" Count series NotExported;
    ErrorsProtocol "errorsProtocol" "Protocol errors" Count series Labelled("obx_errors", "protocol");
    ErrorsHandler "errorsHandler" "Handler errors" Count series Labelled("obx_errors", "in_handler");
    HeartbeatFailures "heartbeatFailures" "Heartbeat failures" Count series Labelled("obx_client_failures", "heartbeat");
    HeartbeatsReceived "heartbeatsReceived" "Heartbeats received" Count series Single("obx_heartbeats_received", "Heartbeats received from clients");
    ClientTxsRejected "clientTxsRejected" "Client transactions rejected" Count none Single("obx_client_txs_rejected", "Client transactions rejected as invalid");
    /// Messages that could not be sent (the connection then ends).
    MessageSendFailures "messageSendFailures" "Message send failures" Count none Labelled("obx_client_failures", "msg_sent");
    /// Connections that ended without a close from either side (the client vanished).
    DisconnectAborts "disconnectAborts" "Connections aborted" Count none Labelled("obx_client_failures", "disconnect");
    /// Connections refused at `maxConnections`.
    RefusedMaxConnections "refusedMaxConnections" "Connections refused (maxConnections)" Count none Labelled("sync_limit_hits", "max_connections");
    /// Connections refused at `maxConnectionsPerAddress`.
    RefusedPerAddress "refusedPerAddress" "Connections refused (maxConnectionsPerAddress)" Count none Labelled("sync_limit_hits", "max_connections_per_address");
    /// Client transactions rejected for having more than `maxTxObjects` operations.
    TxsTooLarge "txsTooLarge" "Transactions over maxTxObjects" Count none Labelled("sync_limit_hits", "max_tx_objects");
    /// Times a connection went over its inbound rate and reading paused.
    InboundPauses "inboundPauses" "Inbound rate pauses" Count none Labelled("sync_limit_hits", "inbound_rate");
}

/// The Prometheus metrics that several counters share.
pub const METRICS: &[Metric] = &[
    Metric {
        name: "obx_client_failures",
        help: "Client failures by type; type=\"login\" counts every failed login",
        label: "type",
    },
    Metric {
        name: "sync_limit_hits",
        help: "Times a client reached a limit: connections refused (maxConnections, \
               maxConnectionsPerAddress), transactions rejected (maxTxObjects), reading paused \
               (maxInboundMessagesPerSecond / maxInboundKbPerSecond)",
        label: "limit",
    },
    Metric {
        name: "obx_errors",
        help: "Protocol errors (connection closed) and errors in message handlers",
        label: "type",
    },
    Metric {
        name: "obx_messages",
        help: "Protocol messages received and sent",
        label: "type",
    },
    Metric {
        name: "obx_message_bytes",
        help: "Protocol message bytes received and sent",
        label: "type",
    },
    Metric {
        name: "obx_txs_applied",
        help: "Transactions applied, from clients and local",
        label: "from",
    },
    Metric {
        name: "obx_txs_sent",
        help: "Transactions sent to clients: historic (catch-up) and new (live pushes)",
        label: "type",
    },
];

/// How many counters there are.
pub const COUNT: usize = DEFS.len();

/// Counters since start, one relaxed atomic per [`Counter`].
#[derive(Debug)]
pub struct Counters {
    values: [AtomicU64; COUNT],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            values: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Counters {
    /// Adds one to a counter.
    pub fn inc(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Adds `n` to a counter.
    pub fn add(&self, counter: Counter, n: u64) {
        self.values[counter as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// A counter's value now.
    pub fn get(&self, counter: Counter) -> u64 {
        self.values[counter as usize].load(Ordering::Relaxed)
    }
}

impl Counter {
    /// The counter's description.
    pub fn def(self) -> &'static Def {
        &DEFS[self as usize]
    }

    /// Every login failure (Prometheus `obx_client_failures{type="login"}`).
    pub const LOGIN_FAILURES: [Counter; 4] = [
        Counter::LoginFailuresCredentials,
        Counter::LoginFailuresAuthUnavailable,
        Counter::LoginFailuresNoPermission,
        Counter::LoginFailuresOther,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_counter_order_with_unique_names() {
        let mut names = std::collections::HashSet::new();
        for (i, def) in DEFS.iter().enumerate() {
            assert_eq!(def.counter as usize, i, "{}", def.name);
            assert!(names.insert(def.name), "{} twice", def.name);
        }
    }

    #[test]
    fn labelled_counters_belong_to_a_declared_metric() {
        for def in DEFS {
            if let Prometheus::Labelled(metric, _) = def.prometheus {
                assert!(METRICS.iter().any(|m| m.name == metric), "{metric}");
            }
        }
    }
}
