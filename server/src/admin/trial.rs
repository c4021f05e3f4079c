//! The trial: a dataset's evaluation period, its one-time acceptance, and the login check.
//!
//! A trial applies only when `--trial-days` / `trialDays` is configured. Then an admin must
//! accept the trial terms once per dataset (recording who, when and the evaluator's role) before
//! clients are admitted, and after `trialDays` days from the dataset's creation client logins
//! get [`LoginCode::TrialExpired`] (0 days = no expiry, but acceptance is still needed). When
//! it is not configured, nothing changes: no acceptance is needed and there is no expiry, so
//! existing deployments and unattended use keep working; the status reports `trialDays: null`.
//!
//! The configured days are written to `meta` at start-up ([`configure`]), so that the login
//! check reads everything it needs from one short read transaction.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use shared_types as wire;
use shared_types::protocol::LoginCode;
use utoipa::OpenApi;
use wire::admin::error::ErrorBody;
use wire::admin::events::EventType;
use wire::admin::trial::{AcceptTrial, TrialRole, TrialStatus};

use super::auth::CurrentUser;
use super::{AdminState, ApiError};
use crate::events::{self, Event};
use crate::store::{self, Store};

/// `meta` key: the configured trial days (u64 BE); absent when no trial is configured.
pub const META_TRIAL_DAYS: &str = "trial-days";

/// `meta` key: the acceptance, JSON [`Acceptance`].
pub const META_TRIAL_ACCEPTED: &str = "trial-accepted";

/// Recorded as the accepting user when the request has no logged-in user.
pub const ANONYMOUS_ACCEPTOR: &str = "admin-api";

const DAY_MS: u64 = 86_400_000;

/// How to get a fresh trial, as the API and the login refusal say it.
pub const HOW_TO_RESTART: &str = "A trial period belongs to one dataset (one database \
    directory). To evaluate again, stop the server and start it with another --db-directory \
    (config key dbDirectory): that creates a fresh, empty dataset with a new id and its own trial \
    period. The expired dataset stays untouched in its directory.";

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

/// The stored acceptance of the trial terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Acceptance {
    pub by: String,
    pub ms: u64,
    pub role: TrialRole,
}

/// Writes the configured trial days to `meta` (removes them when not configured). Call once at
/// start-up, before clients are served.
pub fn configure(store: &Store, trial_days: Option<u32>) -> store::Result<()> {
    store.write_blocking(move |wtxn, dbs| {
        match trial_days {
            Some(days) => {
                store::write::put_meta(wtxn, dbs, META_TRIAL_DAYS, &u64::from(days).to_be_bytes())?;
            }
            None => {
                store::write::delete_meta(wtxn, dbs, META_TRIAL_DAYS)?;
            }
        }
        Ok(())
    })
}

/// Why a client login must be refused because of the trial, if it must.
pub fn login_refusal(store: &Store) -> Option<(LoginCode, String)> {
    let state = match read(store) {
        Ok(state) => state,
        Err(e) => {
            // A store failure is not a trial decision; the login fails elsewhere if it matters.
            tracing::warn!(target: "SvLgIn", "cannot read the trial state: {e}");
            return None;
        }
    };
    let days = state.days?;
    if state.accepted.is_none() {
        return Some((
            LoginCode::ReqRejected,
            "the trial terms have not been accepted yet in the admin app".into(),
        ));
    }
    if expired(state.created_ms, days, store::now_ms()) {
        return Some((
            LoginCode::TrialExpired,
            format!("the {days}-day trial period of this dataset has expired; {HOW_TO_RESTART}"),
        ));
    }
    None
}

/// The trial status of the dataset.
#[utoipa::path(get, path = "/api/trial", tag = "trial",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TrialStatus)))]
async fn status(State(state): State<AdminState>) -> Result<axum::Json<TrialStatus>, ApiError> {
    Ok(axum::Json(to_wire(&read(&state.store)?, store::now_ms())))
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
    let value = serde_json::to_vec(&acceptance).map_err(ApiError::internal)?;
    let stored = state
        .store
        .write(move |wtxn, dbs| {
            if store::write::meta(wtxn, dbs, META_TRIAL_ACCEPTED)?.is_some() {
                return Ok(false);
            }
            store::write::put_meta(wtxn, dbs, META_TRIAL_ACCEPTED, &value)?;
            Ok(true)
        })
        .await?;
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
    Ok(axum::Json(to_wire(&read(&state.store)?, store::now_ms())))
}

/// Everything the trial depends on, read together.
struct TrialState {
    dataset_id: String,
    created_ms: u64,
    days: Option<u32>,
    accepted: Option<Acceptance>,
}

fn read(store: &Store) -> store::Result<TrialState> {
    let dataset = store.dataset()?;
    let days = store
        .meta(META_TRIAL_DAYS)?
        .and_then(|v| v.try_into().ok())
        .map(|b: [u8; 8]| u32::try_from(u64::from_be_bytes(b)).unwrap_or(u32::MAX));
    let accepted = store
        .meta(META_TRIAL_ACCEPTED)?
        .and_then(|v| serde_json::from_slice(&v).ok());
    Ok(TrialState {
        dataset_id: dataset.id,
        created_ms: dataset.created_ms,
        days,
        accepted,
    })
}

fn expired(created_ms: u64, days: u32, now_ms: u64) -> bool {
    days != 0 && now_ms >= created_ms.saturating_add(u64::from(days) * DAY_MS)
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
