//! Trial bodies: the dataset's trial period and its acceptance.

use serde::{Deserialize, Serialize};

/// Who evaluates the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TrialRole {
    #[serde(rename = "1-10")]
    Company1To10,
    #[serde(rename = "11-50")]
    Company11To50,
    #[serde(rename = "51-250")]
    Company51To250,
    #[serde(rename = "251-1000")]
    Company251To1000,
    #[serde(rename = "1000+")]
    CompanyOver1000,
    ProfessionalIndividual,
    Hobbyist,
    Student,
}

/// `POST /api/trial/accept`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptTrial {
    pub role: TrialRole,
}

/// `GET /api/trial`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrialStatus {
    pub dataset_id: String,
    pub created_ms: u64,
    pub accepted: bool,
    pub accepted_by: Option<String>,
    pub accepted_ms: Option<u64>,
    pub role: Option<TrialRole>,
    /// The trial period; `None` when no trial is configured (no acceptance needed, unlimited),
    /// `Some(0)` for an unlimited trial that still needs acceptance.
    pub trial_days: Option<u32>,
    /// Whole days left, `None` when unlimited.
    pub days_left: Option<u64>,
    pub expired: bool,
    /// Whether clients may log in now.
    pub clients_admitted: bool,
    pub how_to_restart: String,
}
