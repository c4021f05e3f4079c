//! Log event routes: stored events newest first, and a download of all of them.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use shared_types as wire;
use utoipa::OpenApi;
use wire::admin::error::ErrorBody;
use wire::admin::events::EventPage;

use super::data::{blocking, parse_u64};
use super::{AdminState, ApiError};
use crate::events;

/// Events per page when the request gives no `limit`.
pub const DEFAULT_LIMIT: u64 = 100;

/// The largest `limit` a request may ask for.
pub const MAX_LIMIT: u64 = 1000;

/// Events read per read transaction while exporting.
pub const EXPORT_BATCH: usize = 500;

/// The log events' OpenAPI paths.
#[derive(OpenApi)]
#[openapi(paths(page, export))]
pub struct EventsApi;

/// The log event routes (behind the session guard).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/events", get(page))
        .route("/api/events/export", get(export))
}

/// Paging of `GET /api/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The `cursor` of an event: return older events only.
    before: Option<String>,
    /// Events to return, 1 to 1000 (default 100).
    limit: Option<String>,
}

/// Stored log events, newest first.
#[utoipa::path(get, path = "/api/events", tag = "events",
    security(("bearer" = []), ("cookie" = [])), params(EventsQuery),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorBody)))]
async fn page(
    State(state): State<AdminState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<axum::Json<EventPage>, ApiError> {
    let Query(query) = query.map_err(super::data::query_error)?;
    let before = match query.before.as_deref() {
        None => None,
        Some(text) => Some(events::parse_cursor(text).ok_or_else(|| {
            ApiError::invalid(format!(
                "invalid before {text:?}: expected the cursor of an event (24 hex digits)"
            ))
        })?),
    };
    let limit = parse_u64("limit", query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    if limit == 0 {
        return Err(ApiError::invalid("limit 0 is out of range: use 1 to 1000"));
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let store = state.store.clone();
    let list = blocking(move || {
        events::newest_first(&store, before.as_deref(), limit).map_err(ApiError::from)
    })
    .await?;
    let next_before = if list.len() == limit {
        list.last().map(|e| e.cursor.clone())
    } else {
        None
    };
    Ok(axum::Json(EventPage {
        events: list,
        next_before,
    }))
}

/// Downloads every stored event, newest first, as a JSON array (streamed).
#[utoipa::path(get, path = "/api/events/export", tag = "events",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "A JSON array of events, newest first",
        content_type = "application/json")))]
async fn export(State(state): State<AdminState>) -> Response {
    struct Cursor {
        store: crate::store::Store,
        before: Option<Vec<u8>>,
        first: bool,
        done: bool,
    }
    let start = Cursor {
        store: state.store.clone(),
        before: None,
        first: true,
        done: false,
    };
    let stream = futures_util::stream::unfold(start, |mut c| async move {
        if c.done {
            return None;
        }
        let store = c.store.clone();
        let before = c.before.take();
        let read = tokio::task::spawn_blocking(move || {
            events::newest_first(&store, before.as_deref(), EXPORT_BATCH)
        })
        .await;
        let list = match read {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => {
                c.done = true;
                return Some((Err(std::io::Error::other(e)), c));
            }
            Err(e) => {
                c.done = true;
                return Some((Err(std::io::Error::other(e)), c));
            }
        };
        let mut text = String::new();
        if c.first {
            text.push_str("[\n");
        }
        for event in &list {
            if !c.first {
                text.push_str(",\n");
            }
            c.first = false;
            text.push_str(&serde_json::to_string(event).unwrap_or_default());
        }
        if list.len() < EXPORT_BATCH {
            text.push_str("\n]\n");
            c.done = true;
        } else {
            c.before = events::parse_cursor(&list[list.len() - 1].cursor);
        }
        Some((Ok::<Bytes, std::io::Error>(Bytes::from(text)), c))
    });
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"sync-server-events.json\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
