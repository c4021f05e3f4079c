//! Log event bodies: important events stored by the server, newest first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How important an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    Debug,
    Info,
    Important,
    Warning,
    Error,
    Crash,
    /// A type from a newer server.
    #[serde(other)]
    Unknown,
}

/// One stored log event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEvent {
    /// A UUID v4.
    pub id: String,
    pub time_ms: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// E.g. `server`, `schema`, `sync`.
    pub component: String,
    pub message: String,
    /// The client peer in hex, for events about one client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
    pub server_version: String,
    /// Where this event sits; pass it as `before` to get older events. Not stored.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cursor: String,
}

/// `GET /api/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventPage {
    pub events: Vec<LogEvent>,
    /// The cursor for the next (older) page, `None` at the oldest event.
    pub next_before: Option<String>,
}
