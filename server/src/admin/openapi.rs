//! The OpenAPI 3 document of the admin API, generated from the handlers' annotations.

use std::sync::OnceLock;

use utoipa::OpenApi;

use super::{data, events, history, schema, sessions, stats, status, trial};

/// The document for health and the document itself; the areas add theirs in [`document`].
#[derive(OpenApi)]
#[openapi(
    paths(super::health, serve),
    components(schemas(shared_types::health::Health)),
    tags((name = "health", description = "Liveness and this document"))
)]
struct CoreApi;

/// The whole admin API: every route, its authentication and its error responses.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = CoreApi::openapi();
    for part in [
        sessions::AuthApi::openapi(),
        status::StatusApi::openapi(),
        stats::StatsApi::openapi(),
        data::DataApi::openapi(),
        schema::SchemaApi::openapi(),
        history::HistoryApi::openapi(),
        events::EventsApi::openapi(),
        trial::TrialApi::openapi(),
    ] {
        doc.merge(part);
    }
    doc.info.title = "sync-server admin API".to_owned();
    doc.info.version = crate::VERSION.to_owned();
    doc.info.description = Some(
        "Operate a sync-server: users and sessions, status, data, schema versions, statistics, \
         sync history, log events and the trial. Protected routes take `Authorization: Bearer \
         <token>` from POST /api/login, or the session cookie plus the `X-CSRF-Token` header on \
         state-changing requests. Errors are JSON: {\"error\": {\"code\", \"message\"}}."
            .to_owned(),
    );
    doc
}

/// Serves the document (built once).
#[utoipa::path(get, path = "/api/openapi.json", tag = "health",
    responses((status = 200, description = "This API's OpenAPI 3 document", content_type = "application/json")))]
pub async fn serve() -> impl axum::response::IntoResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let body = DOC.get_or_init(|| {
        document()
            .to_pretty_json()
            .unwrap_or_else(|_| "{}".to_owned())
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.clone(),
    )
}
