//! The trial's admin routes: its status, and accepting its terms (the rules are in
//! `crate::trial`).

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use shared_types as wire;
use utoipa::OpenApi;
use wire::admin::error::ErrorBody;
use wire::admin::events::EventType;
use wire::admin::trial::{AcceptTrial, TrialStatus};

use super::sessions::CurrentUser;
use super::{AdminState, ApiError};
use crate::events::{self, Event};
use crate::store;
use crate::trial::{self, Acceptance, DAY_MS, HOW_TO_RESTART, TrialState, expired};

/// Recorded as the accepting user when the request has no logged-in user.
pub const ANONYMOUS_ACCEPTOR: &str = "admin-api";

/// The trial's OpenAPI paths.
#[derive(OpenApi)]
#[openapi(paths(status, accept))]
pub struct TrialApi;

/// The trial routes (behind the session guard).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/trial", get(status))
        .route("/api/trial/accept", post(accept))
}

/// The trial status of the dataset.
#[utoipa::path(get, path = "/api/trial", tag = "trial",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TrialStatus)))]
async fn status(State(state): State<AdminState>) -> Result<axum::Json<TrialStatus>, ApiError> {
    Ok(axum::Json(to_wire(
        &trial::read(&state.store)?,
        store::now_ms(),
    )))
}

/// Accepts the trial terms for this dataset (once).
#[utoipa::path(post, path = "/api/trial/accept", tag = "trial",
    security(("bearer" = []), ("cookie" = [])), request_body = AcceptTrial,
    responses((status = 200, body = TrialStatus), (status = 400, body = ErrorBody),
        (status = 409, description = "Already accepted", body = ErrorBody)))]
async fn accept(
    State(state): State<AdminState>,
    user: Option<axum::Extension<CurrentUser>>,
    body: Result<axum::Json<AcceptTrial>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::Json<TrialStatus>, ApiError> {
    let axum::Json(body) = body.map_err(super::schema::json_error)?;
    let acceptance = Acceptance {
        by: user
            .and_then(|u| u.0.name)
            .unwrap_or_else(|| ANONYMOUS_ACCEPTOR.to_owned()),
        ms: store::now_ms(),
        role: body.role,
    };
    let stored = trial::accept(&state.store, &acceptance).await?;
    if !stored {
        return Err(ApiError::conflict(
            "the trial terms of this dataset were already accepted",
        ));
    }
    tracing::info!(target: "SySvAp", "Trial terms accepted by {}", acceptance.by);
    events::record(
        &state.store,
        Event::new(
            EventType::Important,
            "trial",
            format!("Trial terms accepted by {}", acceptance.by),
        )
        .with(
            "role",
            serde_json::to_string(&acceptance.role).unwrap_or_default(),
        ),
    );
    Ok(axum::Json(to_wire(
        &trial::read(&state.store)?,
        store::now_ms(),
    )))
}

fn to_wire(state: &TrialState, now_ms: u64) -> TrialStatus {
    let (days_left, expired) = match state.days {
        None | Some(0) => (None, false),
        Some(days) => {
            let end = state.created_ms.saturating_add(u64::from(days) * DAY_MS);
            let left = end.saturating_sub(now_ms).div_ceil(DAY_MS);
            (Some(left), expired(state.created_ms, days, now_ms))
        }
    };
    let accepted = state.accepted.is_some();
    TrialStatus {
        dataset_id: state.dataset_id.clone(),
        created_ms: state.created_ms,
        accepted,
        accepted_by: state.accepted.as_ref().map(|a| a.by.clone()),
        accepted_ms: state.accepted.as_ref().map(|a| a.ms),
        role: state.accepted.as_ref().map(|a| a.role),
        trial_days: state.days,
        days_left,
        expired,
        clients_admitted: state.days.is_none() || (accepted && !expired),
        how_to_restart: HOW_TO_RESTART.to_owned(),
    }
}
