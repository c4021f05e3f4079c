//! Admin users and sessions, and the guard in front of every protected route.
//!
//! Placeholder until admin users land: with `--admin-unsecured-no-authentication` every request
//! passes; otherwise protected routes answer 401.

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{AdminState, ApiError};

/// Active sessions. Empty until admin users land.
#[derive(Debug, Default)]
pub struct Sessions {}

/// Routes that need no session (login, first-run setup).
pub fn public_routes() -> Router<AdminState> {
    Router::new()
}

/// Routes about users and sessions that need a session.
pub fn protected_routes() -> Router<AdminState> {
    Router::new().route("/api/session", axum::routing::get(session))
}

/// The current session.
async fn session(State(state): State<AdminState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "unsecured": state.config.admin_unsecured_no_authentication }))
}

/// Lets a request through only with a valid session.
pub async fn require_session(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.config.admin_unsecured_no_authentication {
        return Ok(next.run(request).await);
    }
    Err(ApiError::unauthorized("log in first: POST /api/login"))
}
