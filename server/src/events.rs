//! Log events: important things that happened (start, stop, schema changes, errors), kept in
//! LMDB for the admin app.
//!
//! Events are keyed by `u64 BE unix time in ns ‖ u32 BE counter`, so keys sort by time and two
//! events in the same nanosecond stay apart; the value is the JSON [`wire::admin::events::LogEvent`].
//! Recording never waits for the commit: it queues a write request and returns, so it is cheap
//! enough for error paths. Only the newest [`MAX_STORED_EVENTS`] are kept.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use shared_types as wire;
use wire::admin::events::{EventType, LogEvent};

use crate::store::{self, Store};

/// How many events are kept; the oldest are dropped beyond this.
pub const MAX_STORED_EVENTS: u64 = 10_000;

/// The length of an event key: time in ns (8 bytes) and a counter (4 bytes).
pub const KEY_LEN: usize = 12;

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventType,
    pub component: &'static str,
    pub message: String,
    pub peer_id: Option<u64>,
    pub extra: BTreeMap<String, String>,
}

impl Event {
    pub fn new(kind: EventType, component: &'static str, message: impl Into<String>) -> Event {
        Event {
            kind,
            component,
            message: message.into(),
            peer_id: None,
            extra: BTreeMap::new(),
        }
    }

    /// Adds an extra key and value.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl ToString) -> Event {
        self.extra.insert(key.to_owned(), value.to_string());
        self
    }

    #[must_use]
    pub fn peer(mut self, peer: u64) -> Event {
        self.peer_id = Some(peer);
        self
    }
}

/// Queues `event` for storage without waiting. Failures are logged, never returned: losing an
/// event must not fail what it reports on. Do not call it on the writer thread (see
/// [`record_from_writer`]).
pub fn record(store: &Store, event: Event) {
    let (key, value) = encode(event);
    let submitted = store.submit_with(
        move |w| w.put_event(&key, &value, MAX_STORED_EVENTS),
        |result: store::Result<()>| {
            if let Err(e) = result {
                tracing::warn!(target: "SvEvnt", "cannot store log event: {e}");
            }
        },
    );
    if let Err(e) = submitted {
        tracing::warn!(target: "SvEvnt", "cannot store log event: {e}");
    }
}

/// Like [`record`], for code running on the store's writer thread (post-commit callbacks): a
/// helper thread queues the request, because the writer must never block on its own full queue.
pub fn record_from_writer(store: &Store, event: Event) {
    let store = store.clone();
    let spawned = std::thread::Builder::new()
        .name("log-event".into())
        .spawn(move || record(&store, event));
    if let Err(e) = spawned {
        tracing::warn!(target: "SvEvnt", "cannot store log event: {e}");
    }
}

/// Records `event` and waits until it is stored (start-up and shutdown, where the store closes
/// right after).
pub fn record_blocking(store: &Store, event: Event) {
    let (key, value) = encode(event);
    if let Err(e) = store.write_blocking(move |w| w.put_event(&key, &value, MAX_STORED_EVENTS)) {
        tracing::warn!(target: "SvEvnt", "cannot store log event: {e}");
    }
}

/// Reads stored events newest first, older than the cursor `before` (from [`LogEvent::cursor`]).
pub fn newest_first(
    store: &Store,
    before: Option<&[u8]>,
    limit: usize,
) -> store::Result<Vec<LogEvent>> {
    let raw = store.read(|r| r.events_before(before, limit))?;
    Ok(raw
        .into_iter()
        .map(|(key, value)| decode(&key, &value))
        .collect())
}

/// Parses a cursor given by a client: the hex text of an event key.
pub fn parse_cursor(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok().filter(|k| k.len() == KEY_LEN)
}

/// Turns a stored event into its wire form, with its cursor. A value that does not parse (written
/// by a newer server, or damaged) is shown as an event saying so rather than hiding the page.
pub fn decode(key: &[u8], value: &[u8]) -> LogEvent {
    let cursor = hex::encode(key);
    match serde_json::from_slice::<LogEvent>(value) {
        Ok(mut event) => {
            event.cursor = cursor;
            event
        }
        Err(e) => LogEvent {
            id: String::new(),
            time_ms: key
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, |b| u64::from_be_bytes(b) / 1_000_000),
            kind: EventType::Unknown,
            component: "events".into(),
            message: format!("unreadable stored event: {e}"),
            peer_id: None,
            extra: BTreeMap::new(),
            server_version: String::new(),
            cursor,
        },
    }
}

fn encode(event: Event) -> (Vec<u8>, Vec<u8>) {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
    let mut key = Vec::with_capacity(KEY_LEN);
    key.extend_from_slice(&ns.to_be_bytes());
    key.extend_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    let wire_event = LogEvent {
        id: uuid::Uuid::new_v4().to_string(),
        time_ms: ns / 1_000_000,
        kind: event.kind,
        component: event.component.to_owned(),
        message: event.message,
        peer_id: event.peer_id.map(|p| format!("{p:016X}")),
        extra: event.extra,
        server_version: crate::VERSION.to_owned(),
        cursor: String::new(),
    };
    let value = serde_json::to_vec(&wire_event).unwrap_or_default();
    (key, value)
}
