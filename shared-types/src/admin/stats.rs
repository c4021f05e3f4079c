//! Bodies of the statistics routes: time series of the sync counters and the counters now.

use serde::{Deserialize, Serialize};

/// The interval of one point of a time series, and how many the server keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// One point per second, the last 60.
    Second,
    /// One point per minute, the last 60.
    Minute,
    /// One point per hour, the last 24.
    Hour,
    /// One point per day (UTC), the last 30.
    Day,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Resolution; 4] = [
        Resolution::Second,
        Resolution::Minute,
        Resolution::Hour,
        Resolution::Day,
    ];

    /// The name used in `?resolution=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Second => "second",
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
            Resolution::Day => "day",
        }
    }
}

/// What a series counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Events (connects, messages, transactions, failures).
    Count,
    Bytes,
    /// Connected clients.
    Clients,
    /// A transaction log sequence number.
    Seq,
}

/// How a series is aggregated over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SeriesKind {
    /// Events per interval: `values`.
    Counter,
    /// A level sampled every second: `min`, `avg` and `max` per interval.
    Gauge,
}

/// `GET /api/stats?resolution=...`: every series at one resolution, oldest point first.
///
/// Points are columns: `timestamps[i]` is the start of interval `i` and each series has its
/// `i`-th value for it. Intervals without samples (e.g. before the server started) are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub resolution: Resolution,
    /// Length of one interval in seconds.
    pub interval_seconds: u64,
    /// How many intervals the server keeps at this resolution.
    pub retained: u32,
    /// Start of each interval, in milliseconds since the Unix epoch (UTC-aligned).
    pub timestamps: Vec<i64>,
    /// The last interval is still running; its values so far include everything up to the
    /// request.
    pub last_partial: bool,
    pub series: Vec<Series>,
}

/// One time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// Stable camelCase key, e.g. `messagesReceived`.
    pub name: String,
    /// For people, e.g. "Messages received".
    pub label: String,
    pub unit: Unit,
    pub kind: SeriesKind,
    /// Counters: events per interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<u64>>,
    /// Gauges: the lowest sample per interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Vec<i64>>,
    /// Gauges: the mean of the samples per interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg: Option<Vec<f64>>,
    /// Gauges: the highest sample per interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Vec<i64>>,
}

/// `GET /api/stats/current`: every counter since start and the gauges now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CurrentCounters {
    pub uptime_seconds: u64,
    /// Logged-in clients now.
    pub connected_clients: u64,
    /// The newest transaction log sequence number.
    pub tx_log_head: u64,
    /// Every counter since start by its stable camelCase name, e.g. `connects`,
    /// `messagesReceived`, `clientTxsApplied` (the server's counter table lists them all, with
    /// labels, in the `series` of `GET /api/stats`).
    #[serde(flatten)]
    pub counters: std::collections::BTreeMap<String, u64>,
}
