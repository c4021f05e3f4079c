//! The results: rows of figures with their baselines, as a table for people or JSON.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use crate::measure::Fanout;
use crate::rss::Rss;
use crate::scale::{Connections, CpuIngest, FanoutProcesses, Start, Startup};

/// Everything one run measured, with the machine it ran on.
#[derive(Serialize)]
pub struct Report {
    pub quick: bool,
    /// `None` when the server ran in-process.
    pub server: Option<String>,
    /// The binary spawned for the measurements that need a server process of its own.
    pub server_binary: Option<String>,
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
    pub fn new(quick: bool, server: Option<String>, server_binary: Option<String>) -> Report {
        Report {
            quick,
            server,
            server_binary,
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

    /// Idle connections held by the spawned server, its RSS and RSS per connection.
    pub fn connections(&mut self, c: &Connections) {
        let mut note = format!(
            "{} swarm processes (VmRSS {:.1} KB per client), open-files limit {}; {} failed, \
             {} not tried after a failure; {} still open at the end; connecting and logging in \
             took {:.1} s and {:.2} s of server CPU ({:.0} µs per connection)",
            c.swarms,
            c.swarms_kib as f64 * 1.024 / c.connected.max(1) as f64,
            c.nofile,
            c.failed,
            c.not_tried,
            c.alive,
            c.connect_elapsed.as_secs_f64(),
            c.connect_cpu.as_secs_f64(),
            c.connect_cpu.as_secs_f64() * 1e6 / c.connected.max(1) as f64
        );
        if let Some(error) = &c.first_error {
            let _ = write!(note, "; first error: {error}");
        }
        if c.connected < c.requested && c.nofile <= c.requested as u64 {
            let _ = write!(
                note,
                "; the server, too, may hold only {} descriptors (the hard limit; raising it \
                 needs CAP_SYS_RESOURCE)",
                c.nofile
            );
        }
        self.push(
            Row::new(
                "conns",
                format!("idle logged-in connections held (of {})", c.requested),
                c.connected as f64,
                "conns",
                None,
            )
            .with_note(note),
        );
        self.push(Row::new(
            "conns",
            "spawned server VmRSS before connecting".into(),
            c.idle_kib as f64,
            "KiB",
            None,
        ));
        self.push(Row::new(
            "conns",
            format!("VmRSS with {} connections", c.connected),
            c.connected_kib as f64,
            "KiB",
            None,
        ));
        let per =
            c.connected_kib.saturating_sub(c.idle_kib) as f64 * 1024.0 / c.connected.max(1) as f64;
        self.push(Row::new(
            "conns",
            "RSS per connection (VmRSS delta / connections)".into(),
            per / 1000.0,
            "KB",
            None,
        ));
    }

    /// Fan-out to subscribers in swarm processes beside the broadcast process, with the
    /// serving process's CPU per delivered message.
    pub fn fanout_processes(&mut self, f: &FanoutProcesses) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let who = format!("{} subs in {} procs", f.subscribers, f.swarms);
        let base = "broadcast server process";
        for (label, p) in [("p50", 0.50), ("p99", 0.99), ("max", 1.0)] {
            self.push(Row::new(
                "fanout-p",
                format!("{who}, send → receipt {label}"),
                ms(percentile(&f.sync.latencies, p)),
                "ms",
                Some((base.into(), ms(percentile(&f.base.latencies, p)))),
            ));
        }
        let rate = |f: &Fanout| f.delivered as f64 / f.busy.as_secs_f64();
        self.push(
            Row::new(
                "fanout-p",
                format!("{who}, delivered messages/s"),
                rate(&f.sync),
                "msg/s",
                Some((base.into(), rate(&f.base))),
            )
            .with_note(format!(
                "{} rounds counted; machine CPU busy {:.0}% (sync) / {:.0}% (broadcast)",
                f.sync.delivered / f.subscribers.max(1) as u64,
                f.sync_machine_busy,
                f.base_machine_busy
            )),
        );
        let per = |cpu: Duration, f: &Fanout| cpu.as_secs_f64() * 1e6 / f.delivered.max(1) as f64;
        self.push(
            Row::new(
                "cpu",
                format!("server CPU per delivered message ({} subs)", f.subscribers),
                per(f.sync_cpu, &f.sync),
                "µs",
                Some((base.into(), per(f.base_cpu, &f.base))),
            )
            .with_note(format!(
                "utime+stime {:.2} s / {} messages",
                f.sync_cpu.as_secs_f64(),
                f.sync.delivered
            )),
        );
    }

    pub fn cpu_ingest(&mut self, c: &CpuIngest) {
        self.push(
            Row::new(
                "cpu",
                format!(
                    "server CPU per applied object ({} in 10k-object txs)",
                    c.objects
                ),
                c.cpu.as_secs_f64() * 1e6 / c.objects.max(1) as f64,
                "µs",
                None,
            )
            .with_note(format!(
                "utime+stime {:.2} s; ingest {:.0} objects/s; machine CPU busy {:.0}%",
                c.cpu.as_secs_f64(),
                c.objects as f64 / c.elapsed.as_secs_f64(),
                c.machine_busy
            )),
        );
    }

    pub fn startup(&mut self, s: &Startup) {
        let ms = |starts: &[Start]| {
            median(
                starts
                    .iter()
                    .map(|s| s.elapsed.as_secs_f64() * 1000.0)
                    .collect(),
            )
        };
        let reported =
            |starts: &[Start]| median(starts.iter().filter_map(|s| s.reported_ms).collect());
        let rss = |starts: &[Start]| median(starts.iter().map(|s| s.rss_kib as f64).collect());
        let n = s.filled.len();
        self.push(
            Row::new(
                "startup",
                format!(
                    "restart on {} objects, spawn → \"started\" line, median of {n}",
                    s.objects
                ),
                ms(&s.filled),
                "ms",
                Some(("empty database".into(), ms(&s.empty))),
            )
            .with_note(format!(
                "server's own figure {:.2} ms (empty: {:.2} ms); database {:.0} MB on disk, \
                 filled in {:.1} s, SIGTERM → exit {:.0} ms",
                reported(&s.filled),
                reported(&s.empty),
                s.db_bytes as f64 / 1e6,
                s.fill_elapsed.as_secs_f64(),
                s.stop_elapsed.as_secs_f64() * 1000.0
            )),
        );
        self.push(Row::new(
            "startup",
            format!(
                "VmRSS 300 ms after restart on {} objects, median",
                s.objects
            ),
            rss(&s.filled),
            "KiB",
            Some(("empty database".into(), rss(&s.empty))),
        ));
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "sync-bench ({}; server {}; spawned server {}) on {} × {}, kernel {}",
            if self.quick { "quick" } else { "full" },
            self.server.as_deref().unwrap_or("in-process"),
            self.server_binary.as_deref().unwrap_or("none"),
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

/// The median (upper middle for an even count); 0 for none.
fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Three significant decimals for small figures, none for large ones.
fn figure(value: f64) -> String {
    if value >= 1000.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}
