//! The Prometheus text exposition (format 0.0.4) with the ObjectBox Sync Server's metric names
//! and labels, so existing dashboards and alerts keep working.
//!
//! Written by hand: a few dozen lines of fixed metrics do not need a metrics registry, and the
//! values already live in `sync::stats::Counters`.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::current_counters;
use crate::admin::AdminState;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics in Prometheus text format. Needs no session, like ObjectBox's endpoint.
#[utoipa::path(
    get,
    path = "/api/sync/prometheus",
    tag = "stats",
    security(()),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4; also served on /metrics",
         body = String, content_type = "text/plain"),
    ),
)]
pub async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let text = render(&state);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}

/// The whole exposition text.
pub fn render(state: &AdminState) -> String {
    let c = current_counters(state);
    let db_size = state.store.disk_size().ok();
    let mut out = Exposition::default();
    use MetricType::{Counter, Gauge};

    out.single(
        "obx_uptime",
        Counter,
        "Seconds since the server started",
        c.uptime_seconds,
    );
    out.single(
        "obx_connected_clients",
        Gauge,
        "Logged-in sync clients",
        c.connected_clients,
    );
    out.single(
        "obx_connects",
        Counter,
        "WebSocket connections accepted",
        c.connects,
    );
    out.single(
        "obx_login_successes",
        Counter,
        "Successful client logins",
        c.login_successes,
    );
    out.single(
        "obx_heartbeats_received",
        Counter,
        "Heartbeats received from clients",
        c.heartbeats_received,
    );
    let login_failures = c.login_failures_credentials
        + c.login_failures_auth_unavailable
        + c.login_failures_no_permission
        + c.login_failures_other;
    out.labelled(
        "obx_client_failures",
        Counter,
        "Client failures by type; type=\"login\" counts every failed login",
        "type",
        &[
            ("login", login_failures),
            ("login_auth_unavailable", c.login_failures_auth_unavailable),
            ("login_user_bad_credentials", c.login_failures_credentials),
            ("login_user_no_permission", c.login_failures_no_permission),
            ("msg_sent", c.message_send_failures),
            ("heartbeat", c.heartbeat_failures),
            ("disconnect", c.disconnect_aborts),
        ],
    );
    let limits = &state.sync.admission;
    let counters = &state.sync.hub.counters;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    out.labelled(
        "sync_limit_hits",
        Counter,
        "Times a client reached a limit: connections refused (maxConnections, \
         maxConnectionsPerAddress), transactions rejected (maxTxObjects), reading paused \
         (maxInboundMessagesPerSecond / maxInboundKbPerSecond)",
        "limit",
        &[
            ("max_connections", load(&limits.refused_total)),
            (
                "max_connections_per_address",
                load(&limits.refused_per_address),
            ),
            ("max_tx_objects", load(&counters.txs_too_large)),
            ("inbound_rate", load(&counters.inbound_pauses)),
        ],
    );
    out.labelled(
        "obx_errors",
        Counter,
        "Protocol errors (connection closed) and errors in message handlers",
        "type",
        &[
            ("protocol", c.errors_protocol),
            ("in_handler", c.errors_handler),
        ],
    );
    out.labelled(
        "obx_messages",
        Counter,
        "Protocol messages received and sent",
        "type",
        &[("recv", c.messages_received), ("sent", c.messages_sent)],
    );
    out.labelled(
        "obx_message_bytes",
        Counter,
        "Protocol message bytes received and sent",
        "type",
        &[("recv", c.bytes_received), ("sent", c.bytes_sent)],
    );
    out.single(
        "obx_full_syncs",
        Counter,
        "Full-sync messages sent (each chunk)",
        c.full_syncs,
    );
    out.labelled(
        "obx_txs_applied",
        Counter,
        "Transactions applied, from clients and local",
        "from",
        &[
            ("client", c.client_txs_applied),
            ("local", c.local_txs_applied),
        ],
    );
    out.single(
        "obx_client_tx_ops_applied",
        Counter,
        "Operations (puts and removes) in client transactions applied",
        c.client_tx_ops_applied,
    );
    out.single(
        "obx_client_tx_bytes_applied",
        Counter,
        "Bytes of client transactions applied",
        c.client_tx_bytes_applied,
    );
    out.single(
        "obx_skipped_tx_dups",
        Counter,
        "Client transactions skipped as already applied",
        c.skipped_tx_dups,
    );
    out.labelled(
        "obx_txs_sent",
        Counter,
        "Transactions sent to clients: historic (catch-up) and new (live pushes)",
        "type",
        &[("historic", c.txs_sent_historic), ("new", c.txs_sent_new)],
    );
    out.single(
        "obx_client_txs_behind",
        Gauge,
        "History transactions not yet sent to the most-behind client (not tracked yet: 0)",
        0,
    );
    out.single(
        "obx_tx_history_sequence",
        Counter,
        "The newest transaction log sequence number",
        c.tx_log_head,
    );
    // Ours, not ObjectBox's.
    out.single(
        "obx_put_conflicts",
        Counter,
        "Puts rejected by conflict resolution",
        c.put_conflicts,
    );
    out.single(
        "obx_client_txs_rejected",
        Counter,
        "Client transactions rejected as invalid",
        c.client_txs_rejected,
    );
    if let Some(size) = db_size {
        out.single(
            "obx_db_size_bytes",
            Gauge,
            "Size of the database file",
            size,
        );
    }
    out.single(
        "obx_db_max_size_bytes",
        Gauge,
        "The configured database size limit",
        state.store.max_size(),
    );
    out.text
}

#[derive(Debug, Clone, Copy)]
enum MetricType {
    Counter,
    Gauge,
}

#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn header(&mut self, name: &str, kind: MetricType, help: &str) {
        let kind = match kind {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
        };
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn single(&mut self, name: &str, kind: MetricType, help: &str, value: u64) {
        self.header(name, kind, help);
        let _ = writeln!(self.text, "{name} {value}");
    }

    fn labelled(
        &mut self,
        name: &str,
        kind: MetricType,
        help: &str,
        label: &str,
        values: &[(&str, u64)],
    ) {
        self.header(name, kind, help);
        for (label_value, value) in values {
            let _ = writeln!(self.text, "{name}{{{label}=\"{label_value}\"}} {value}");
        }
    }
}

/// HELP text escapes backslashes and line feeds.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}
