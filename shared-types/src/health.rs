//! The admin server's `GET /api/health` answer.

use serde::{Deserialize, Serialize};

/// Liveness report of a running server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `"ok"`, or `"degraded"` when the database does not answer reads.
    pub status: String,
    /// The server's version, e.g. `0.1.0`.
    pub version: String,
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// The schema version the server runs on.
    pub schema_version: u64,
}
