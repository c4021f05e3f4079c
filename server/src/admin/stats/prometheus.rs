//! The Prometheus text exposition (format 0.0.4) with the ObjectBox Sync Server's metric names
//! and labels, so existing dashboards and alerts keep working.
//!
//! Written by hand: a few dozen fixed metrics do not need a metrics registry. The counters and
//! their metric names come from the counter table in `sync::stats`.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::current_counters;
use crate::admin::AdminState;
use crate::sync::stats::{Counter as StatCounter, DEFS, METRICS, Prometheus};

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

/// The whole exposition text: the counters of the table (`sync::stats`), then the gauges and
/// derived values that are not counters.
pub fn render(state: &AdminState) -> String {
    let c = current_counters(state);
    let counters = &state.sync.hub.counters;
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
    for def in DEFS {
        if let Prometheus::Single(name, help) = def.prometheus {
            out.single(name, Counter, help, counters.get(def.counter));
        }
    }
    for metric in METRICS {
        let mut values: Vec<(&str, u64)> = Vec::new();
        if metric.name == "obx_client_failures" {
            let logins = StatCounter::LOGIN_FAILURES
                .iter()
                .map(|&f| counters.get(f))
                .sum();
            values.push(("login", logins));
        }
        values.extend(DEFS.iter().filter_map(|def| match def.prometheus {
            Prometheus::Labelled(name, label) if name == metric.name => {
                Some((label, counters.get(def.counter)))
            }
            _ => None,
        }));
        if metric.name == "obx_txs_applied" {
            // Transactions the server makes itself: none exist yet (admin data is read-only).
            values.push(("local", 0));
        }
        out.labelled(metric.name, Counter, metric.help, metric.label, &values);
    }
    let head = c.tx_log_head;
    out.single(
        "obx_client_txs_behind",
        Gauge,
        "History transactions not yet sent to the most-behind logged-in client",
        state.sync.hub.most_behind(head),
    );
    out.single(
        "obx_tx_history_sequence",
        Counter,
        "The newest transaction log sequence number",
        head,
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
