//! Bodies of the admin login, session, first-run setup and user management routes.

use serde::{Deserialize, Serialize};

/// `POST /api/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

/// The answer to a successful login. The server also sets the `sync_session` cookie (same
/// token); browsers use the cookie and send `csrfToken` as `X-CSRF-Token` on state-changing
/// requests, scripts send `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub user: String,
    /// The session token (64 hex characters).
    pub token: String,
    /// The CSRF token of this session (64 hex characters).
    pub csrf_token: String,
    /// When the session ends unless used, in milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
    pub permissions: Permissions,
}

/// `GET /api/session`: who is logged in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The user name; `None` in unsecured mode (`--admin-unsecured-no-authentication`).
    pub user: Option<String>,
    pub permissions: Permissions,
    /// When the session ends unless used (each request extends it), in ms since the Unix
    /// epoch; `None` in unsecured mode.
    pub expires_at_ms: Option<u64>,
    /// The CSRF token to send as `X-CSRF-Token`; `None` in unsecured mode.
    pub csrf_token: Option<String>,
    /// True when the admin API runs without login.
    pub unsecured: bool,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    /// May use the admin API and app.
    pub admin: bool,
    /// May log in as a sync client (with `auth.obxAdmin`).
    pub sync_login: bool,
    /// May send changes as a sync client.
    pub sync_write: bool,
}

/// A user as listed by `GET /api/users`. Never contains the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub name: String,
    pub permissions: Permissions,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// `POST /api/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateUserRequest {
    pub name: String,
    pub password: String,
    pub permissions: Permissions,
}

/// `PUT /api/users/{name}/password`. `currentPassword` is required when users change their own
/// password, and ignored when an admin sets someone else's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_password: Option<String>,
    pub new_password: String,
}

/// `PUT /api/users/{name}/permissions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SetPermissionsRequest {
    pub permissions: Permissions,
}

/// `POST /api/setup`: creates the first admin with the one-time token from the server log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SetupRequest {
    pub setup_token: String,
    pub user: String,
    pub password: String,
}

/// `GET /api/setup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SetupStatus {
    /// True while no user exists: the first admin must be created with `POST /api/setup`.
    pub needs_setup: bool,
}
