//! The results: rows of figures with their baselines, as a table for people or JSON.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use crate::measure::Fanout;
use crate::rss::Rss;

/// Everything one run measured, with the machine it ran on.
#[derive(Serialize)]
pub struct Report {
    pub quick: bool,
    /// `None` when the server ran in-process.
    pub server: Option<String>,
    pub machine: Machine,
    pub rows: Vec<Row>,
    pub skipped: Vec<String>,
}

/// One figure and, where there is one, its baseline from the same run.
#[derive(Serialize)]
pub struct Row {
    pub section: &'static str,
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub baseline_name: Option<String>,
    pub baseline: Option<f64>,
    /// `value / baseline`.
    pub ratio: Option<f64>,
    pub note: Option<String>,
}

/// Where the figures come from.
#[derive(Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
}

impl Row {
    pub fn new(
        section: &'static str,
        name: String,
        value: f64,
        unit: &'static str,
        baseline: Option<(String, f64)>,
    ) -> Row {
        let (baseline_name, baseline) = baseline.unzip();
        Row {
            section,
            name,
            value,
            unit,
            ratio: baseline.map(|b| value / b),
            baseline_name,
            baseline,
            note: None,
        }
    }

    pub fn with_note(mut self, note: String) -> Row {
        self.note = Some(note);
        self
    }
}

impl Report {
    pub fn new(quick: bool, server: Option<String>) -> Report {
        Report {
            quick,
            server,
            machine: Machine::current(),
            rows: Vec::new(),
            skipped: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn skip(&mut self, _section: &'static str, why: &str) {
        self.skipped.push(why.to_owned());
    }

    /// Latency percentiles and delivery rate of the server beside the broadcast baseline.
    pub fn fanout(&mut self, clients: usize, server: &Fanout, baseline: &Fanout) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        for (label, p) in [("p50", 0.50), ("p99", 0.99), ("max", 1.0)] {
            self.push(Row::new(
                "fan-out",
                format!("{clients} clients, send → receipt {label}"),
                ms(percentile(&server.latencies, p)),
                "ms",
                Some((
                    "plain broadcast server".into(),
                    ms(percentile(&baseline.latencies, p)),
                )),
            ));
        }
        let rate = |f: &Fanout| f.delivered as f64 / f.busy.as_secs_f64();
        self.push(Row::new(
            "fan-out",
            format!("{clients} clients, delivered messages/s"),
            rate(server),
            "msg/s",
            Some(("plain broadcast server".into(), rate(baseline))),
        ));
    }

    pub fn rss(&mut self, rss: &Rss) {
        self.push(Row::new(
            "rss",
            "idle server VmRSS".into(),
            rss.idle_kib as f64,
            "KiB",
            None,
        ));
        self.push(Row::new(
            "rss",
            format!("VmRSS with {} idle logged-in clients", rss.clients),
            rss.connected_kib as f64,
            "KiB",
            None,
        ));
        let per = (rss.connected_kib.saturating_sub(rss.idle_kib)) as f64 * 1024.0
            / rss.clients.max(1) as f64;
        self.push(Row::new(
            "rss",
            "RSS per idle connection".into(),
            per / 1000.0,
            "KB",
            None,
        ));
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "sync-bench ({}; server {}) on {} × {}, kernel {}",
            if self.quick { "quick" } else { "full" },
            self.server.as_deref().unwrap_or("in-process"),
            m.nproc,
            m.cpu,
            m.kernel
        );
        let _ = writeln!(
            out,
            "{:<10} {:<62} {:>14} {:<9} {:>14}  {:>7}  baseline",
            "section", "measurement", "value", "unit", "baseline", "ratio"
        );
        for row in &self.rows {
            let _ = write!(
                out,
                "{:<10} {:<62} {:>14} {:<9} {:>14}  {:>7}  {}",
                row.section,
                row.name,
                figure(row.value),
                row.unit,
                row.baseline.map(figure).unwrap_or_default(),
                row.ratio.map(|r| format!("{r:.2}")).unwrap_or_default(),
                row.baseline_name.as_deref().unwrap_or("")
            );
            if let Some(note) = &row.note {
                let _ = write!(out, "  [{note}]");
            }
            out.push('\n');
        }
        for skipped in &self.skipped {
            let _ = writeln!(out, "{skipped}");
        }
        out
    }
}

impl Machine {
    fn current() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            cpu,
            kernel,
        }
    }
}

/// The `p` quantile (nearest rank) of unsorted durations.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Three significant decimals for small figures, none for large ones.
fn figure(value: f64) -> String {
    if value >= 1000.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}
