//! Sync history bodies: the transaction log, page by page.

use serde::{Deserialize, Serialize};

/// One transaction log entry, without its operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    pub seq: u64,
    pub time_ms: u64,
    /// The client peer id in hex (16 digits); `0000000000000000` for server-side changes.
    pub origin: String,
    pub client_tx_id: u64,
    pub op_count: usize,
    /// Puts that lost a conflict.
    pub rejected_count: usize,
    /// Stored size in bytes.
    pub size: usize,
}

/// `GET /api/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryPage {
    /// The newest seq ever assigned.
    pub head_seq: u64,
    /// The oldest seq still retained, `None` if the log is empty.
    pub oldest_seq: Option<u64>,
    /// Oldest first with `from`, newest first otherwise.
    pub entries: Vec<HistoryEntry>,
}
