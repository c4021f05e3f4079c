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
//! check reads everything it needs from one short read transaction. The admin API's routes are
//! in `admin::trial`.

use serde::{Deserialize, Serialize};
use shared_types::admin::trial::TrialRole;
use shared_types::protocol::LoginCode;

use crate::store::{self, Store};

/// `meta` key: the configured trial days (u64 BE); absent when no trial is configured.
pub const META_TRIAL_DAYS: &str = "trial-days";

/// `meta` key: the acceptance, JSON [`Acceptance`].
pub const META_TRIAL_ACCEPTED: &str = "trial-accepted";

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;

/// How to get a fresh trial, as the API and the login refusal say it.
pub const HOW_TO_RESTART: &str = "A trial period belongs to one dataset (one database \
    directory). To evaluate again, stop the server and start it with another --db-directory \
    (config key dbDirectory): that creates a fresh, empty dataset with a new id and its own trial \
    period. The expired dataset stays untouched in its directory.";

/// The stored acceptance of the trial terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Acceptance {
    pub by: String,
    pub ms: u64,
    pub role: TrialRole,
}

/// Everything the trial depends on, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialState {
    pub dataset_id: String,
    pub created_ms: u64,
    /// `None` when no trial is configured.
    pub days: Option<u32>,
    pub accepted: Option<Acceptance>,
}

/// Writes the configured trial days to `meta` (removes them when not configured). Call once at
/// start-up, before clients are served.
pub fn configure(store: &Store, trial_days: Option<u32>) -> store::Result<()> {
    store.write_blocking(move |w| {
        match trial_days {
            Some(days) => w.put_meta(META_TRIAL_DAYS, &u64::from(days).to_be_bytes())?,
            None => {
                w.delete_meta(META_TRIAL_DAYS)?;
            }
        }
        Ok(())
    })
}

/// Records the acceptance; `false` if the terms of this dataset were accepted before.
pub async fn accept(store: &Store, acceptance: &Acceptance) -> store::Result<bool> {
    let value = serde_json::to_vec(acceptance).map_err(|e| store::Error::Corrupt {
        what: META_TRIAL_ACCEPTED.into(),
        message: e.to_string(),
    })?;
    store
        .write(move |w| {
            if w.read().meta(META_TRIAL_ACCEPTED)?.is_some() {
                return Ok(false);
            }
            w.put_meta(META_TRIAL_ACCEPTED, &value)?;
            Ok(true)
        })
        .await
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

/// The trial state of the dataset, in one read transaction.
pub fn read(store: &Store) -> store::Result<TrialState> {
    store.read(|r| {
        let dataset = r.dataset()?;
        let days = r
            .meta(META_TRIAL_DAYS)?
            .and_then(|v| v.try_into().ok())
            .map(|b: [u8; 8]| u32::try_from(u64::from_be_bytes(b)).unwrap_or(u32::MAX));
        let accepted = r
            .meta(META_TRIAL_ACCEPTED)?
            .and_then(|v| serde_json::from_slice(&v).ok());
        Ok(TrialState {
            dataset_id: dataset.id,
            created_ms: dataset.created_ms,
            days,
            accepted,
        })
    })
}

/// Whether a trial of `days` days from `created_ms` is over at `now_ms` (0 days never ends).
pub fn expired(created_ms: u64, days: u32, now_ms: u64) -> bool {
    days != 0 && now_ms >= created_ms.saturating_add(u64::from(days) * DAY_MS)
}
