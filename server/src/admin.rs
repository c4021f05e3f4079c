//! The admin HTTP API on `--admin-bind`: JSON routes for operators and the admin app.
//!
//! - `error`: the one place errors become HTTP responses (`{"error": {"code", "message"}}`).
//! - `auth`: admin users, sessions (cookie with CSRF token, or bearer token) and the guard that
//!   every protected route sits behind.
//! - One module per area: `status`, `data`, `schema`, `stats`, `history`, `events`, `trial`.
//!
//! Request and response bodies are types from `shared_types::admin`; this module converts
//! domain values to them at the edge.

pub mod app;
pub mod data;
pub mod error;
pub mod events;
pub mod history;
pub mod limits;
pub mod openapi;
pub mod schema;
pub mod sessions;
pub mod stats;
pub mod status;
pub mod trial;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::routing::get;

pub use self::error::ApiError;
use crate::logging::LevelHandle;
use crate::schema::Schema;
use crate::store::Store;
use crate::sync::SyncService;
use shared_types as wire;

/// Everything admin handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AdminState(pub Arc<AdminShared>);

/// The shared parts of [`AdminState`].
pub struct AdminShared {
    pub store: Store,
    /// The schema version the server runs on.
    pub schema: Schema,
    pub started: Instant,
    pub sync: Arc<SyncService>,
    /// Changes the log level at run time (the "Debug logging" switch).
    pub level: LevelHandle,
    pub config: Arc<crate::config::Config>,
    pub auth: sessions::Sessions,
    /// The time series of the sync counters, filled by the sampler task.
    pub series: Arc<crate::sync::series::Series>,
    /// Where the sync and admin servers listen.
    pub listening: status::Listening,
}

impl std::ops::Deref for AdminState {
    type Target = AdminShared;

    fn deref(&self) -> &AdminShared {
        &self.0
    }
}

/// The admin router: public routes, and protected routes behind the session guard.
pub fn router(state: AdminState) -> Router {
    let public = Router::new()
        .route("/api/health", get(health))
        .route("/api/openapi.json", get(openapi::serve))
        .merge(sessions::public_routes())
        .merge(stats::public_routes());
    let protected = Router::new()
        .merge(sessions::protected_routes())
        .merge(status::protected_routes())
        .merge(stats::protected_routes())
        .merge(data::routes())
        .merge(schema::routes())
        .merge(history::routes())
        .merge(events::routes())
        .merge(trial::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            sessions::require_session,
        ));
    public
        .merge(protected)
        .fallback(app::serve)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::enforce,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
        .with_state(state)
}

/// Liveness: the server answers and its database reads.
#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, description = "The server is up", body = wire::health::Health)))]
async fn health(State(state): State<AdminState>) -> axum::Json<wire::health::Health> {
    // Touch the store so that the probe fails if the database stopped answering.
    let status = match state.store.current_schema_version() {
        Ok(_) => "ok",
        Err(_) => "degraded",
    };
    axum::Json(wire::health::Health {
        status: status.to_owned(),
        version: crate::VERSION.to_owned(),
        uptime_seconds: state.started.elapsed().as_secs(),
        schema_version: state.schema.record.id,
    })
}
