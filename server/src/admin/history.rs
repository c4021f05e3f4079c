//! Sync history routes: the transaction log page by page, and one entry by seq.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::Deserialize;
use shared_types as wire;
use utoipa::OpenApi;
use wire::admin::error::ErrorBody;
use wire::admin::history::{HistoryEntry, HistoryPage};

use super::data::{blocking, parse_u64};
use super::{AdminState, ApiError};
use crate::store::LogRecord;

/// Entries per page when the request gives no `limit`.
pub const DEFAULT_LIMIT: u64 = 50;

/// The largest `limit` a request may ask for.
pub const MAX_LIMIT: u64 = 1000;

/// The sync history's OpenAPI paths.
#[derive(OpenApi)]
#[openapi(paths(page, entry))]
pub struct HistoryApi;

/// The sync history routes (behind the session guard).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/history", get(page))
        .route("/api/history/{seq}", get(entry))
}

/// Paging of `GET /api/history`: `from` pages oldest first, otherwise newest first below
/// `before` (from the head when absent).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// First seq, oldest first.
    from: Option<String>,
    /// Newest first, entries with a smaller seq.
    before: Option<String>,
    /// Entries to return, 1 to 1000 (default 50).
    limit: Option<String>,
}

/// A page of the transaction log.
#[utoipa::path(get, path = "/api/history", tag = "history",
    security(("bearer" = []), ("cookie" = [])), params(HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = 400, body = ErrorBody)))]
async fn page(
    State(state): State<AdminState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<axum::Json<HistoryPage>, ApiError> {
    let Query(query) = query.map_err(super::data::query_error)?;
    if query.from.is_some() && query.before.is_some() {
        return Err(ApiError::invalid(
            "give either from (oldest first) or before (newest first), not both",
        ));
    }
    let from = query
        .from
        .as_deref()
        .map(|t| parse_u64("from", Some(t), 0, u64::MAX))
        .transpose()?;
    let before = query
        .before
        .as_deref()
        .map(|t| parse_u64("before", Some(t), 0, u64::MAX))
        .transpose()?;
    let limit = parse_u64("limit", query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    if limit == 0 {
        return Err(ApiError::invalid("limit 0 is out of range: use 1 to 1000"));
    }
    let store = state.store.clone();
    let (bounds, entries) = blocking(move || {
        let bounds = store.log_bounds()?;
        let entries = store
            .read(|r| r.log_page(from, before, usize::try_from(limit).unwrap_or(usize::MAX)))?;
        Ok((bounds, entries))
    })
    .await?;
    Ok(axum::Json(HistoryPage {
        head_seq: bounds.0,
        oldest_seq: bounds.1,
        entries: entries.iter().map(|(r, size)| to_wire(r, *size)).collect(),
    }))
}

/// One log entry by seq.
#[utoipa::path(get, path = "/api/history/{seq}", tag = "history",
    security(("bearer" = []), ("cookie" = [])),
    params(("seq" = String, Path, description = "Sequence number")),
    responses((status = 200, body = HistoryEntry), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn entry(
    State(state): State<AdminState>,
    Path(seq): Path<String>,
) -> Result<axum::Json<HistoryEntry>, ApiError> {
    let seq: u64 = seq.parse().map_err(|_| {
        ApiError::invalid(format!(
            "invalid seq {seq:?}: expected a non-negative integer"
        ))
    })?;
    let (record, size) = state.store.log_entry(seq)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no retained history entry with seq {seq} (pruned or not written yet)"
        ))
    })?;
    Ok(axum::Json(to_wire(&record, size)))
}

fn to_wire(record: &LogRecord, size: usize) -> HistoryEntry {
    HistoryEntry {
        seq: record.seq,
        time_ms: record.time_ms,
        origin: format!("{:016X}", record.origin),
        client_tx_id: record.client_tx_id,
        op_count: record.ops.len(),
        rejected_count: record.rejected.len(),
        size,
    }
}
