//! Time series of the sync counters: one sample a second, kept in fixed rings at second, minute,
//! hour and day resolution.
//!
//! The hot path never sees this module: connections only bump the relaxed atomics in
//! [`Counters`]. Once a second [`run_sampler`] reads all of them (a [`Reading`]) and hands it to
//! [`Series::record`], which turns counters into per-second deltas and merges the sample into
//! the current bucket of every resolution. A bucket keeps sum, min, max and the number of
//! samples per series, so merging seconds into a minute gives the same result as merging
//! finished minutes into an hour; feeding each level the second sample directly is that
//! aggregation without a cascade.
//!
//! Buckets are aligned to UTC: a minute bucket starts at a full minute, a day bucket at
//! midnight UTC. Statistics live only in memory and start empty on every start.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::hub::Hub;
use super::stats::{self, Counter, Counters, DEFS};

/// How often the sampler reads the counters.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Number of series: the counters marked `series` in the counter table, and two gauges.
pub const SERIES_COUNT: usize = series_counters() + 2;

/// The index of the `connectedClients` gauge in [`SERIES`] and a [`Reading`].
pub const CONNECTED_CLIENTS: usize = 1;

/// The index of the `txLogHead` gauge in [`SERIES`] and a [`Reading`].
pub const TX_LOG_HEAD: usize = SERIES_COUNT - 1;

/// Every series, in the order of a [`Reading`]: the first counter, the connected clients, the
/// other counters of the table, and the log head.
pub const SERIES: [Def; SERIES_COUNT] = build_series();

/// What a series counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Clients,
    Seq,
}

/// Counters are summed per interval; gauges keep min, average and max.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// The description of one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Def {
    /// Stable camelCase key.
    pub name: &'static str,
    pub label: &'static str,
    pub unit: Unit,
    pub kind: Kind,
    pub source: Source,
}

/// Where a series' value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Counter(Counter),
    ConnectedClients,
    TxLogHead,
}

/// One value per series in [`SERIES`] order: totals since start for counters, the current
/// level for gauges.
pub type Reading = [u64; SERIES_COUNT];

/// A resolution: how long one bucket is and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Second,
    Minute,
    Hour,
    Day,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Second, Level::Minute, Level::Hour, Level::Day];

    /// Length of one bucket in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Level::Second => 1,
            Level::Minute => 60,
            Level::Hour => 3600,
            Level::Day => 86_400,
        }
    }

    /// Buckets kept in memory: 60 s, 60 min, 24 h, 30 days.
    pub fn capacity(self) -> usize {
        match self {
            Level::Second | Level::Minute => 60,
            Level::Hour => 24,
            Level::Day => 30,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The aggregate of one series over one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agg {
    /// Counters: events in the bucket. Gauges: the sum of the samples (for the average).
    pub sum: u128,
    pub min: u64,
    pub max: u64,
}

impl Agg {
    const EMPTY: Agg = Agg {
        sum: 0,
        min: u64::MAX,
        max: 0,
    };

    fn add(&mut self, value: u64) {
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// The mean sample of a gauge over `samples` samples.
    pub fn avg(&self, samples: u32) -> f64 {
        if samples == 0 {
            0.0
        } else {
            self.sum as f64 / f64::from(samples)
        }
    }
}

/// One interval of every series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the interval in seconds since the Unix epoch.
    pub start_s: i64,
    /// Samples merged into this bucket.
    pub samples: u32,
    pub aggs: [Agg; SERIES_COUNT],
}

/// The buckets of one resolution, oldest first, as [`Series::snapshot`] returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub level: Level,
    pub buckets: Vec<Bucket>,
    /// The last bucket's interval is still running.
    pub last_partial: bool,
}

/// The rings of all resolutions. One per server, shared by the sampler and the admin API.
#[derive(Debug)]
pub struct Series {
    /// Held for microseconds: by the sampler once a second and by each stats request to copy
    /// one ring. Never held across an `.await`.
    state: Mutex<State>,
}

impl Default for Series {
    fn default() -> Self {
        Series::new()
    }
}

impl Series {
    pub fn new() -> Series {
        Series {
            state: Mutex::new(State {
                last: [0; SERIES_COUNT],
                levels: Level::ALL.map(|l| VecDeque::with_capacity(l.capacity())),
            }),
        }
    }

    /// Records one sample taken at `now_ms` (ms since the Unix epoch). Counters become the
    /// difference to the previous reading (the first is taken against zero, the counters at
    /// start).
    pub fn record(&self, now_ms: i64, reading: &Reading) {
        let mut state = crate::lock(&self.state);
        let sample = state.delta(reading);
        state.last = *reading;
        for level in Level::ALL {
            merge(&mut state.levels[level.index()], level, now_ms, &sample);
        }
    }

    /// The buckets of `level` that are within its retention at `now_ms`. With `live`, a reading
    /// taken now is merged into a copy (not recorded), so the answer includes everything up to
    /// this moment.
    pub fn snapshot(&self, level: Level, now_ms: i64, live: Option<&Reading>) -> Snapshot {
        let buckets = {
            let state = crate::lock(&self.state);
            let mut ring = state.levels[level.index()].clone();
            if let Some(reading) = live {
                merge(&mut ring, level, now_ms, &state.delta(reading));
            }
            ring
        };
        let current = period_start(now_ms, level);
        let oldest = current - level.seconds() * (level.capacity() as i64 - 1);
        let buckets: Vec<Bucket> = buckets
            .into_iter()
            .filter(|b| b.start_s >= oldest)
            .collect();
        let last_partial = buckets.last().is_some_and(|b| b.start_s == current);
        Snapshot {
            level,
            buckets,
            last_partial,
        }
    }
}

/// Reads every counter and gauge. `tx_log_head` is read from the store by the caller.
pub fn read(counters: &Counters, connected_clients: u64, tx_log_head: u64) -> Reading {
    SERIES.map(|def| match def.source {
        Source::Counter(counter) => counters.get(counter),
        Source::ConnectedClients => connected_clients,
        Source::TxLogHead => tx_log_head,
    })
}

/// Reads the hub's counters, its connected clients and the log head. If the store cannot be
/// read, the head is `fallback_head` (the previous value) rather than a misleading zero.
pub fn read_hub(hub: &Hub, fallback_head: u64) -> Reading {
    let head = match hub.store.log_bounds() {
        Ok((head, _)) => head,
        Err(e) => {
            tracing::debug!(target: "SvStat", "cannot read the log head for statistics: {e}");
            fallback_head
        }
    };
    read(&hub.counters, hub.peer_count() as u64, head)
}

/// Samples the hub every [`SAMPLE_INTERVAL`] into `series` until `stop` turns true.
pub async fn run_sampler(series: Arc<Series>, hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(SAMPLE_INTERVAL);
    // After a stall, sample once and go on: the deltas of the missed seconds are not lost, they
    // land in the next sample.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut head = 0;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let reading = read_hub(&hub, head);
        head = reading[TX_LOG_HEAD];
        series.record(now_ms(), &reading);
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[derive(Debug)]
struct State {
    /// The previous reading, to turn counter totals into deltas.
    last: Reading,
    /// One ring per [`Level`], oldest bucket first; the newest may still be filling.
    levels: [VecDeque<Bucket>; 4],
}

impl State {
    /// Counter deltas against the last reading, and gauge levels as they are.
    fn delta(&self, reading: &Reading) -> Reading {
        let mut sample = *reading;
        for (i, def) in SERIES.iter().enumerate() {
            if def.kind == Kind::Counter {
                sample[i] = reading[i].saturating_sub(self.last[i]);
            }
        }
        sample
    }
}

/// How many counters of the table have a series.
const fn series_counters() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < DEFS.len() {
        if DEFS[i].series {
            n += 1;
        }
        i += 1;
    }
    n
}

/// A gauge's description.
const fn gauge(name: &'static str, label: &'static str, unit: Unit, source: Source) -> Def {
    Def {
        name,
        label,
        unit,
        kind: Kind::Gauge,
        source,
    }
}

/// [`SERIES`], built from the counter table at compile time.
const fn build_series() -> [Def; SERIES_COUNT] {
    let mut out = [gauge(
        "txLogHead",
        "Transaction log head",
        Unit::Seq,
        Source::TxLogHead,
    ); SERIES_COUNT];
    out[CONNECTED_CLIENTS] = gauge(
        "connectedClients",
        "Connected clients",
        Unit::Clients,
        Source::ConnectedClients,
    );
    let mut at = 0;
    let mut i = 0;
    while i < DEFS.len() {
        let def = &DEFS[i];
        if def.series {
            out[at] = Def {
                name: def.name,
                label: def.label,
                unit: match def.unit {
                    stats::Unit::Count => Unit::Count,
                    stats::Unit::Bytes => Unit::Bytes,
                },
                kind: Kind::Counter,
                source: Source::Counter(def.counter),
            };
            at += if at == 0 { CONNECTED_CLIENTS + 1 } else { 1 };
        }
        i += 1;
    }
    out
}

/// Start of the bucket of `level` that contains `now_ms`, in seconds.
fn period_start(now_ms: i64, level: Level) -> i64 {
    now_ms.div_euclid(1000).div_euclid(level.seconds()) * level.seconds()
}

/// Merges one sample into the bucket of `now_ms`, starting a new bucket (and dropping the
/// oldest beyond capacity) when the interval changed.
fn merge(ring: &mut VecDeque<Bucket>, level: Level, now_ms: i64, sample: &Reading) {
    let start = period_start(now_ms, level);
    if ring.back().is_none_or(|b| b.start_s != start) {
        if ring.len() >= level.capacity() {
            ring.pop_front();
        }
        ring.push_back(Bucket {
            start_s: start,
            samples: 0,
            aggs: [Agg::EMPTY; SERIES_COUNT],
        });
    }
    if let Some(bucket) = ring.back_mut() {
        bucket.samples += 1;
        for (agg, value) in bucket.aggs.iter_mut().zip(sample) {
            agg.add(*value);
        }
    }
}

#[cfg(test)]
mod tests;
