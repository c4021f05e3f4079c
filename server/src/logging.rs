//! Log output in the ObjectBox Sync Server's documented format, with a level that can change at run time.
//!
//! Each line is `TTT-HH:MM:SS.ffff [LEVEL] [Tag   ] message`: a per-process thread number, the UTC
//! time to 1/10,000 s, the level padded to five characters and an optional six-character component
//! tag. Code logs through `tracing` and names the tag as the target, e.g.
//! `tracing::info!(target: "SySvAp", "...")`. Events from dependencies (targets with `::`) are shown
//! without a tag and only at warn or above unless the level is debug or lower.

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How much the server logs, from most to least. Names and order follow the ObjectBox docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum LogLevel {
    All = 0,
    Trace = 1,
    Verbose = 2,
    Debug = 3,
    Info = 4,
    Warn = 5,
    Error = 6,
    None = 7,
}

impl LogLevel {
    /// Every level, in the order the docs list them.
    pub const ALL: [LogLevel; 8] = [
        LogLevel::All,
        LogLevel::Trace,
        LogLevel::Verbose,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
        LogLevel::None,
    ];

    /// The lower-case name used on the command line, in config files and in the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::All => "all",
            LogLevel::Trace => "trace",
            LogLevel::Verbose => "verbose",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::None => "none",
        }
    }

    fn from_u8(v: u8) -> LogLevel {
        LogLevel::ALL
            .get(usize::from(v))
            .copied()
            .unwrap_or(LogLevel::Info)
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a log level name that is not one of the documented ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown log level {0:?}; expected one of: all, trace, verbose, debug, info, warn, error, none"
)]
pub struct UnknownLogLevel(pub String);

impl FromStr for LogLevel {
    type Err = UnknownLogLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownLogLevel(s.to_owned()))
    }
}

/// The level threshold shared by the log output and whoever changes it (the admin API's
/// "Debug logging" switch). Cloning gives another handle to the same level.
#[derive(Debug, Clone)]
pub struct LevelHandle(Arc<AtomicU8>);

impl LevelHandle {
    /// The current threshold.
    pub fn get(&self) -> LogLevel {
        LogLevel::from_u8(self.0.load(Ordering::Relaxed))
    }

    /// Changes the threshold; takes effect for the next event logged by any thread.
    pub fn set(&self, level: LogLevel) {
        self.0.store(level as u8, Ordering::Relaxed);
    }
}

/// Installs the process-wide logger writing to standard output and returns the handle that
/// changes its level. Only the first call installs; later calls (tests starting several servers
/// in one process) get a handle to the already installed level and set it.
pub fn init(level: LogLevel) -> LevelHandle {
    let handle = GLOBAL_LEVEL
        .get_or_init(|| {
            let handle = LevelHandle(Arc::new(AtomicU8::new(level as u8)));
            let logger = Logger {
                level: handle.clone(),
                out: Output::Stdout,
            };
            // Another global subscriber may already be set (e.g. by a test harness); then our
            // lines are not printed, which is harmless.
            let _ = tracing::subscriber::set_global_default(logger);
            handle
        })
        .clone();
    handle.set(level);
    handle
}

/// Formats one log line; public so tests can check the format without capturing stdout.
pub fn format_line(
    thread: u32,
    unix_time: Duration,
    level: tracing::Level,
    tag: Option<&str>,
    message: &str,
) -> String {
    let day_secs = unix_time.as_secs() % 86_400;
    let ten_thousandths = unix_time.subsec_nanos() / 100_000;
    let level = match level {
        tracing::Level::ERROR => "ERROR",
        tracing::Level::WARN => "WARN ",
        tracing::Level::INFO => "INFO ",
        tracing::Level::DEBUG => "DEBUG",
        tracing::Level::TRACE => "TRACE",
    };
    let mut line = format!(
        "{thread:03}-{:02}:{:02}:{:02}.{ten_thousandths:04} [{level}] ",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60,
    );
    if let Some(tag) = tag {
        line.push_str(&format!("[{tag:<6}] "));
    }
    line.push_str(message);
    line.push('\n');
    line
}

static GLOBAL_LEVEL: OnceLock<LevelHandle> = OnceLock::new();

/// Numbers threads in the order they first log, starting at 1, as the docs' `TTT` column.
static NEXT_THREAD_NUMBER: AtomicU32 = AtomicU32::new(1);

thread_local! {
    static THREAD_NUMBER: u32 = NEXT_THREAD_NUMBER.fetch_add(1, Ordering::Relaxed);
}

enum Output {
    Stdout,
}

/// A minimal `tracing` subscriber: no spans, a dynamic level, one formatted line per event.
struct Logger {
    level: LevelHandle,
    out: Output,
}

impl Logger {
    fn threshold_allows(&self, metadata: &tracing::Metadata<'_>) -> bool {
        let threshold = self.level.get();
        let event_level = match *metadata.level() {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Verbose,
        };
        if is_tag(metadata.target()) {
            event_level >= threshold
        } else {
            // Dependencies are chatty at info; show them only when debugging or when they warn.
            event_level >= threshold.max(LogLevel::Warn)
                || (threshold <= LogLevel::Debug && event_level >= threshold)
        }
    }
}

fn is_tag(target: &str) -> bool {
    !target.contains("::") && target.len() <= 6 && !target.is_empty()
}

impl tracing::Subscriber for Logger {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // The level changes at run time, so every callsite must ask `enabled` each time.
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.is_event() && self.threshold_allows(metadata)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        None
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let metadata = event.metadata();
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let thread = THREAD_NUMBER.with(|n| *n);
        let target = metadata.target();
        let tag = is_tag(target).then_some(target);
        let line = format_line(thread, now, *metadata.level(), tag, &visitor.message);
        match self.out {
            Output::Stdout => {
                // A failed write to stdout (closed pipe) must not take the server down.
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Collects an event's message and appends other fields as ` key=value`.
#[derive(Default)]
struct MessageVisitor {
    message: String,
}

impl tracing::field::Visit for MessageVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message.insert_str(0, value);
        } else {
            self.message.push_str(&format!(" {}={value}", field.name()));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message.insert_str(0, &format!("{value:?}"));
        } else {
            self.message
                .push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

#[cfg(test)]
mod tests;
