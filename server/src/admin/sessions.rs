//! Admin users and sessions, first-run setup, and the guard in front of every protected route.
//!
//! - `POST /api/login` checks a user's password ([`users`]) and opens a session: a random token
//!   sent both as the `sync_session` cookie (HttpOnly, SameSite=Strict) and in the body for
//!   `Authorization: Bearer`, plus a CSRF token. Sessions live in memory and end after
//!   `Config::admin_session_ttl` without requests, or at logout or restart.
//! - [`require_session`] lets a request through with a live session. Cookie requests with a
//!   state-changing method must carry `X-CSRF-Token`; bearer requests need not (browsers do not
//!   attach bearer tokens on their own). Routes need the admin permission, except logout, the
//!   session and changing one's own password. Permissions are read per request, so revoking one
//!   takes effect at once.
//! - Until the first user exists, `POST /api/setup` with the one-time token from the log creates
//!   it; `--admin-user`/`--admin-password` create it at start-up instead.
//! - Failed logins and setup attempts are slowed down per address and per user ([`throttle`]).
//!
//! Invariant: no password, session token or CSRF token is logged. The setup token is logged
//! once, on purpose: the log is how the operator receives it.
//!
//! Size: one file for login, setup, the session guard and the user routes, which share the session table, the throttle and the JSON body extractor; about a third of it is the routes' OpenAPI annotations.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Extension, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};

use super::{AdminState, ApiError};
use crate::config::Config;
use shared_types::admin::error::ErrorBody;
use shared_types::admin::sessions as wire;

use crate::throttle::Throttle;
use crate::users::{self, Users};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sync_session";
/// The header that carries the CSRF token on state-changing cookie requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at most; beyond it, logging in ends the sessions closest to expiry.
pub const MAX_SESSIONS: usize = 10_000;
/// Random bytes in a session, CSRF or setup token (sent as twice as many hex characters).
pub const TOKEN_BYTES: usize = 32;

/// The authentication state of the admin API: users, live sessions, the setup token and the
/// login throttle.
pub struct Sessions {
    pub users: Users,
    ttl: Duration,
    /// Session token → session. A std mutex: held only for map operations, never across
    /// `.await`, so it cannot stall the runtime.
    sessions: Mutex<HashMap<String, Session>>,
    /// The one-time token of `POST /api/setup`, while no user exists.
    setup_token: Mutex<Option<String>>,
    throttle: Throttle,
}

/// Who calls a protected route; the guard puts it into the request extensions.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// `None` in unsecured mode.
    pub name: Option<String>,
    pub permissions: users::Permissions,
    /// The session token; `None` in unsecured mode.
    token: Option<String>,
    csrf_token: Option<String>,
    expires_at_ms: Option<u64>,
}

/// The OpenAPI description of this module's routes, merged into the admin API's document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        login,
        setup_status,
        setup,
        logout,
        session,
        list_users,
        create_user,
        delete_user,
        change_password,
        set_permissions
    ),
    components(schemas(
        wire::LoginRequest,
        wire::LoginResponse,
        wire::SessionInfo,
        wire::Permissions,
        wire::User,
        wire::CreateUserRequest,
        wire::ChangePasswordRequest,
        wire::SetPermissionsRequest,
        wire::SetupRequest,
        wire::SetupStatus,
        ErrorBody
    )),
    modifiers(&SecuritySchemes),
    tags((name = "auth", description = "Login, sessions, first-run setup and admin users"))
)]
pub struct AuthApi;

impl Sessions {
    /// Sessions over `users` that end after `ttl` without requests.
    pub fn new(users: Users, ttl: Duration) -> Sessions {
        Sessions {
            users,
            ttl,
            sessions: Mutex::new(HashMap::new()),
            setup_token: Mutex::new(None),
            throttle: Throttle::default(),
        }
    }

    /// Makes sure there is a way in at start-up: with no user yet, creates the admin from
    /// `--admin-user`/`--admin-password`, or else makes and logs a one-time setup token.
    /// Errors are for the operator (e.g. a too short `--admin-password`).
    pub async fn prepare(&self, config: &Config) -> Result<(), String> {
        let count = self.users.count().map_err(|e| e.to_string())?;
        match (&config.admin_user, &config.admin_password) {
            (Some(_), None) => {
                return Err("--admin-user / adminUser is set but --admin-password / \
                            adminPassword (or env SYNC_SERVER_ADMIN_PASSWORD) is not"
                    .to_owned());
            }
            (None, Some(_)) => {
                return Err(
                    "--admin-password / adminPassword is set but --admin-user / \
                            adminUser is not"
                        .to_owned(),
                );
            }
            (Some(name), Some(password)) if count == 0 => {
                let user =
                    self.users.create_first(name, password).await.map_err(|e| {
                        format!("cannot create the admin user from --admin-user: {e}")
                    })?;
                tracing::info!(target: "HttpSv", "Created admin user {}", user.name);
                return Ok(());
            }
            (Some(name), Some(_)) => {
                tracing::info!(
                    target: "HttpSv",
                    "Admin users exist; --admin-user {name} and --admin-password are ignored"
                );
            }
            (None, None) => {}
        }
        if count == 0 {
            let token = random_hex();
            tracing::warn!(
                target: "HttpSv",
                "No admin user yet: open the admin app, or POST /api/setup with setup token {token}"
            );
            *crate::lock(&self.setup_token) = Some(token);
        }
        Ok(())
    }

    /// The caller of a request, from its bearer token or session cookie; extends the session.
    fn authenticate(&self, method: &Method, headers: &HeaderMap) -> Result<CurrentUser, ApiError> {
        let (token, via_cookie) = match bearer(headers) {
            Some(token) => (token, false),
            None => match cookie(headers, SESSION_COOKIE) {
                Some(token) => (token, true),
                None => {
                    return Err(ApiError::unauthorized(
                        "log in first: POST /api/login, then send the session cookie or \
                         Authorization: Bearer <token>",
                    ));
                }
            },
        };
        let now = Instant::now();
        let session = {
            let mut sessions = crate::lock(&self.sessions);
            match sessions.get_mut(&token) {
                Some(session) if session.expires > now => {
                    session.expires = now + self.ttl;
                    session.clone()
                }
                Some(_) => {
                    sessions.remove(&token);
                    return Err(ApiError::unauthorized("the session expired; log in again"));
                }
                None => {
                    return Err(ApiError::unauthorized(
                        "unknown session (logged out, expired or the server restarted); log in again",
                    ));
                }
            }
        };
        if via_cookie && !is_safe(method) {
            let sent = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "missing or wrong X-CSRF-Token header: requests with the session cookie that \
                     change something must send the csrfToken from the login",
                ));
            }
        }
        let Some(user) = self.users.get(&session.user).map_err(ApiError::from)? else {
            self.end_sessions_of(&session.user, None);
            return Err(ApiError::unauthorized(format!(
                "user {} no longer exists",
                session.user
            )));
        };
        Ok(CurrentUser {
            name: Some(user.name),
            permissions: user.permissions,
            token: Some(token),
            csrf_token: Some(session.csrf),
            expires_at_ms: Some(ms_from_now(self.ttl)),
        })
    }

    /// Opens a session for `user`.
    fn open(&self, user: &users::User) -> Result<wire::LoginResponse, ApiError> {
        let token = random_hex();
        let csrf = random_hex();
        let now = Instant::now();
        let mut sessions = crate::lock(&self.sessions);
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.expires > now);
        }
        if sessions.len() >= MAX_SESSIONS {
            let mut by_expiry: Vec<(Instant, String)> = sessions
                .iter()
                .map(|(t, s)| (s.expires, t.clone()))
                .collect();
            by_expiry.sort_unstable();
            for (_, token) in by_expiry.into_iter().take(MAX_SESSIONS / 10 + 1) {
                sessions.remove(&token);
            }
        }
        sessions.insert(
            token.clone(),
            Session {
                user: user.name.clone(),
                csrf: csrf.clone(),
                expires: now + self.ttl,
            },
        );
        Ok(wire::LoginResponse {
            user: user.name.clone(),
            token,
            csrf_token: csrf,
            expires_at_ms: ms_from_now(self.ttl),
            permissions: user.permissions.into(),
        })
    }

    /// Ends every session of `user` except `keep`.
    fn end_sessions_of(&self, user: &str, keep: Option<&str>) {
        crate::lock(&self.sessions)
            .retain(|token, s| s.user != user || Some(token.as_str()) == keep);
    }
}

impl std::fmt::Debug for Sessions {
    /// Counts only: tokens are never formatted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = crate::lock(&self.sessions).len();
        f.debug_struct("Sessions")
            .field("sessions", &count)
            .finish_non_exhaustive()
    }
}

impl CurrentUser {
    fn unsecured() -> CurrentUser {
        CurrentUser {
            name: None,
            permissions: users::Permissions {
                admin: true,
                sync_login: true,
                sync_write: true,
            },
            token: None,
            csrf_token: None,
            expires_at_ms: None,
        }
    }
}

/// Routes that need no session (login, first-run setup).
pub fn public_routes() -> Router<AdminState> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/setup", get(setup_status).post(setup))
}

/// Routes about users and sessions that need a session.
pub fn protected_routes() -> Router<AdminState> {
    Router::new()
        .route("/api/logout", post(logout))
        .route("/api/session", get(session))
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/users/{name}", delete(delete_user))
        .route("/api/users/{name}/password", put(change_password))
        .route("/api/users/{name}/permissions", put(set_permissions))
}

/// Lets a request through only with a valid session, and only to routes the user may use;
/// puts the [`CurrentUser`] into the request extensions.
pub async fn require_session(
    State(state): State<AdminState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.config.admin_unsecured_no_authentication {
        request.extensions_mut().insert(CurrentUser::unsecured());
        return Ok(next.run(request).await);
    }
    let current = state
        .auth
        .authenticate(request.method(), request.headers())?;
    if !current.permissions.admin
        && !open_to_every_user(request.method(), request.uri().path(), &current)
    {
        return Err(ApiError::forbidden(format!(
            "user {} lacks the admin permission",
            current.name.as_deref().unwrap_or_default()
        )));
    }
    request.extensions_mut().insert(current);
    Ok(next.run(request).await)
}

/// Logs in with user name and password.
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "auth",
    request_body = wire::LoginRequest,
    responses(
        (status = 200, description = "Logged in; also sets the `sync_session` cookie", body = wire::LoginResponse,
            headers(("set-cookie" = String, description = "sync_session=<token>; HttpOnly; SameSite=Strict; Path=/"))),
        (status = 400, description = "Malformed body (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "Wrong user name or password (`invalid_credentials`)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (`too_many_attempts`); see Retry-After", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
    ),
    security(())
)]
async fn login(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(request): JsonBody<wire::LoginRequest>,
) -> Result<Response, Response> {
    let auth = &state.auth;
    let keys = [address_key(peer), user_key(&request.user)];
    for key in &keys {
        auth.throttle.check(key).map_err(too_many_attempts)?;
    }
    // Counted as failed up front, so that parallel guesses are throttled too; refunded below.
    for key in &keys {
        auth.throttle.failed(key);
    }
    let verified = auth.users.verify(&request.user, &request.password).await;
    if !matches!(verified, Ok(None)) {
        auth.throttle.refund(&keys[0]);
        auth.throttle.succeeded(&keys[1]);
    }
    let Some(user) = verified.map_err(|e| ApiError::from(e).into_response())? else {
        tracing::info!(target: "HttpSv", "Failed admin login for user {:?} from {}", truncate(&request.user), peer.ip());
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong user name or password",
        )
        .into_response());
    };
    let body = auth.open(&user).map_err(IntoResponse::into_response)?;
    tracing::info!(target: "HttpSv", "Admin user {} logged in from {}", user.name, peer.ip());
    Ok(with_session_cookie(body, cookie_attributes(&state)))
}

/// Whether the first admin user still has to be created.
#[utoipa::path(
    get,
    path = "/api/setup",
    tag = "auth",
    responses((status = 200, description = "Setup state", body = wire::SetupStatus)),
    security(())
)]
async fn setup_status(
    State(state): State<AdminState>,
) -> Result<axum::Json<wire::SetupStatus>, ApiError> {
    Ok(axum::Json(wire::SetupStatus {
        needs_setup: state.auth.users.count()? == 0,
    }))
}

/// Creates the first admin user with the one-time setup token from the server log, and logs in.
#[utoipa::path(
    post,
    path = "/api/setup",
    tag = "auth",
    request_body = wire::SetupRequest,
    responses(
        (status = 200, description = "Admin created and logged in; also sets the `sync_session` cookie", body = wire::LoginResponse),
        (status = 400, description = "Invalid user name or password (`invalid_request`)", body = ErrorBody),
        (status = 403, description = "Wrong setup token (`invalid_setup_token`)", body = ErrorBody),
        (status = 409, description = "A user exists already (`already_set_up`)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (`too_many_attempts`)", body = ErrorBody),
    ),
    security(())
)]
async fn setup(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(request): JsonBody<wire::SetupRequest>,
) -> Result<Response, Response> {
    let auth = &state.auth;
    let already = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "already_set_up",
            "an admin user exists already; log in with POST /api/login",
        )
        .into_response()
    };
    let key = format!("setup {}", peer.ip());
    auth.throttle.check(&key).map_err(too_many_attempts)?;
    let expected = crate::lock(&auth.setup_token).clone();
    let Some(expected) = expected else {
        return Err(already());
    };
    if !constant_time_eq(request.setup_token.trim().as_bytes(), expected.as_bytes()) {
        auth.throttle.failed(&key);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_setup_token",
            "wrong setup token; it is in the server log (\"POST /api/setup with setup token ...\")",
        )
        .into_response());
    }
    let user = match auth
        .users
        .create_first(&request.user, &request.password)
        .await
    {
        Ok(user) => user,
        Err(users::Error::AlreadySetUp) => return Err(already()),
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    *crate::lock(&auth.setup_token) = None;
    tracing::info!(target: "HttpSv", "Created admin user {} (setup from {})", user.name, peer.ip());
    let body = auth.open(&user).map_err(IntoResponse::into_response)?;
    Ok(with_session_cookie(body, cookie_attributes(&state)))
}

/// Ends the current session and clears the cookie.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "auth",
    responses(
        (status = 204, description = "Logged out; the cookie is cleared"),
        (status = 401, description = "No valid session (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Cookie request without the CSRF header (`csrf`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn logout(
    State(state): State<AdminState>,
    Extension(current): Extension<CurrentUser>,
) -> Response {
    if let Some(token) = &current.token {
        crate::lock(&state.auth.sessions).remove(token);
    }
    let clear = format!(
        "{SESSION_COOKIE}=; {}; Max-Age=0",
        cookie_attributes(&state)
    );
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The current session: user, permissions, expiry and CSRF token.
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "auth",
    responses(
        (status = 200, description = "The session", body = wire::SessionInfo),
        (status = 401, description = "No valid session (`unauthorized`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn session(
    State(state): State<AdminState>,
    Extension(current): Extension<CurrentUser>,
) -> axum::Json<wire::SessionInfo> {
    axum::Json(wire::SessionInfo {
        user: current.name,
        permissions: current.permissions.into(),
        expires_at_ms: current.expires_at_ms,
        csrf_token: current.csrf_token,
        unsecured: state.config.admin_unsecured_no_authentication,
    })
}

/// All users, ordered by name.
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "auth",
    responses(
        (status = 200, description = "The users", body = [wire::User]),
        (status = 401, description = "No valid session (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn list_users(
    State(state): State<AdminState>,
) -> Result<axum::Json<Vec<wire::User>>, ApiError> {
    let users = state.auth.users.list()?;
    Ok(axum::Json(
        users.into_iter().map(wire::User::from).collect(),
    ))
}

/// Creates a user.
#[utoipa::path(
    post,
    path = "/api/users",
    tag = "auth",
    request_body = wire::CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = wire::User),
        (status = 400, description = "Invalid name or password (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No valid session (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`), or no CSRF header (`csrf`)", body = ErrorBody),
        (status = 409, description = "The name is taken (`conflict`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn create_user(
    State(state): State<AdminState>,
    Extension(current): Extension<CurrentUser>,
    JsonBody(request): JsonBody<wire::CreateUserRequest>,
) -> Result<(StatusCode, axum::Json<wire::User>), ApiError> {
    let user = state
        .auth
        .users
        .create(&request.name, &request.password, request.permissions.into())
        .await?;
    tracing::info!(target: "HttpSv", "Admin user {} created by {}", user.name, current.describe());
    Ok((StatusCode::CREATED, axum::Json(user.into())))
}

/// Deletes a user and ends their sessions. Not yourself, not the last admin.
#[utoipa::path(
    delete,
    path = "/api/users/{name}",
    tag = "auth",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid session (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`), or no CSRF header (`csrf`)", body = ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
        (status = 409, description = "Yourself (`conflict`) or the last admin (`last_admin`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn delete_user(
    State(state): State<AdminState>,
    Extension(current): Extension<CurrentUser>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if current.name.as_deref() == Some(name.as_str()) {
        return Err(ApiError::conflict(format!(
            "user {name} cannot delete themselves; log in as another admin"
        )));
    }
    state.auth.users.delete(&name).await?;
    state.auth.end_sessions_of(&name, None);
    tracing::info!(target: "HttpSv", "Admin user {name} deleted by {}", current.describe());
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a user's password. Admins may set anyone's; every user may change their own with the
/// current password. The user's other sessions end.
#[utoipa::path(
    put,
    path = "/api/users/{name}/password",
    tag = "auth",
    params(("name" = String, Path, description = "User name")),
    request_body = wire::ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Password too short or long (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No valid session (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Wrong current password (`wrong_password`), someone else's password without the admin permission (`forbidden`), or no CSRF header (`csrf`)", body = ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
        (status = 429, description = "Too many wrong current passwords (`too_many_attempts`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn change_password(
    State(state): State<AdminState>,
    Extension(current): Extension<CurrentUser>,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<wire::ChangePasswordRequest>,
) -> Result<StatusCode, Response> {
    let auth = &state.auth;
    if current.name.as_deref() == Some(name.as_str()) {
        let key = user_key(&name);
        auth.throttle.check(&key).map_err(too_many_attempts)?;
        auth.throttle.failed(&key);
        let given = request.current_password.as_deref().unwrap_or("");
        let verified = auth.users.verify(&name, given).await;
        if !matches!(verified, Ok(None)) {
            auth.throttle.refund(&key);
        }
        if verified
            .map_err(|e| ApiError::from(e).into_response())?
            .is_none()
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_password",
                "currentPassword is missing or wrong",
            )
            .into_response());
        }
    } else if !current.permissions.admin {
        return Err(
            ApiError::forbidden("only admins may set other users' passwords").into_response(),
        );
    }
    auth.users
        .set_password(&name, &request.new_password)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    auth.end_sessions_of(&name, current.token.as_deref());
    tracing::info!(target: "HttpSv", "Password of admin user {name} changed by {}", current.describe());
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a user's permissions. The last admin keeps the admin permission.
#[utoipa::path(
    put,
    path = "/api/users/{name}/permissions",
    tag = "auth",
    params(("name" = String, Path, description = "User name")),
    request_body = wire::SetPermissionsRequest,
    responses(
        (status = 200, description = "The user with the new permissions", body = wire::User),
        (status = 401, description = "No valid session (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`), or no CSRF header (`csrf`)", body = ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
        (status = 409, description = "Would leave no admin (`last_admin`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn set_permissions(
    State(state): State<AdminState>,
    Extension(current): Extension<CurrentUser>,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<wire::SetPermissionsRequest>,
) -> Result<axum::Json<wire::User>, ApiError> {
    let user = state
        .auth
        .users
        .set_permissions(&name, request.permissions.into())
        .await?;
    tracing::info!(
        target: "HttpSv",
        "Permissions of admin user {name} set to {:?} by {}",
        user.permissions,
        current.describe()
    );
    Ok(axum::Json(user.into()))
}

// Helpers below.

/// One live session.
#[derive(Debug, Clone)]
struct Session {
    user: String,
    csrf: String,
    /// Moves forward with every request (sliding expiry).
    expires: Instant,
}

/// A JSON body whose rejection is an [`ApiError`] (`invalid_request`) like every other error.
struct JsonBody<T>(T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ApiError::new(
                rejection.status(),
                "invalid_request",
                rejection.body_text(),
            )),
        }
    }
}

/// Declares the `bearer` and `cookie` security schemes the paths refer to.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "Session cookie from POST /api/login; state-changing requests must also send \
                 the X-CSRF-Token header",
            ))),
        );
    }
}

impl CurrentUser {
    /// For log lines: the user name, or `unsecured mode`.
    fn describe(&self) -> &str {
        self.name.as_deref().unwrap_or("(unsecured mode)")
    }
}

impl From<users::Error> for ApiError {
    fn from(e: users::Error) -> ApiError {
        match e {
            users::Error::NotFound(_) => ApiError::not_found(e.to_string()),
            users::Error::Exists(_) => ApiError::conflict(e.to_string()),
            users::Error::Invalid(message) => ApiError::invalid(message),
            users::Error::LastAdmin(_) => {
                ApiError::new(StatusCode::CONFLICT, "last_admin", e.to_string())
            }
            users::Error::AlreadySetUp => {
                ApiError::new(StatusCode::CONFLICT, "already_set_up", e.to_string())
            }
            users::Error::Hash(_) | users::Error::Store(_) => ApiError::internal(e),
        }
    }
}

impl From<users::Permissions> for wire::Permissions {
    fn from(p: users::Permissions) -> wire::Permissions {
        wire::Permissions {
            admin: p.admin,
            sync_login: p.sync_login,
            sync_write: p.sync_write,
        }
    }
}

impl From<wire::Permissions> for users::Permissions {
    fn from(p: wire::Permissions) -> users::Permissions {
        users::Permissions {
            admin: p.admin,
            sync_login: p.sync_login,
            sync_write: p.sync_write,
        }
    }
}

impl From<users::User> for wire::User {
    fn from(u: users::User) -> wire::User {
        wire::User {
            name: u.name,
            permissions: u.permissions.into(),
            created_ms: u.created_ms,
        }
    }
}

/// Routes a user without the admin permission may use: logout, the session, and their own
/// password.
fn open_to_every_user(method: &Method, path: &str, current: &CurrentUser) -> bool {
    let own_password = current
        .name
        .as_deref()
        .is_some_and(|name| path == format!("/api/users/{name}/password"));
    matches!(
        (method, path),
        (&Method::POST, "/api/logout") | (&Method::GET, "/api/session")
    ) || (method == Method::PUT && own_password)
}

/// The 429 answer with `Retry-After` in whole seconds (rounded up).
fn too_many_attempts(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many failed attempts; try again in {seconds} s"),
    );
    ([(header::RETRY_AFTER, seconds.to_string())], error).into_response()
}

/// The login answer with the session cookie set. The cookie has no `Max-Age`: the browser keeps
/// it for its session, and the server ends it after the sliding time to live.
fn with_session_cookie(body: wire::LoginResponse, attributes: &str) -> Response {
    let cookie = format!("{SESSION_COOKIE}={}; {attributes}", body.token);
    let mut response = axum::Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The session cookie's attributes: `Secure` too when the admin server speaks `https://`, so
/// the browser never sends the token over plain HTTP.
fn cookie_attributes(state: &AdminState) -> &'static str {
    let https = state.config.admin_bind.as_ref().is_some_and(|a| a.tls);
    if https {
        "HttpOnly; SameSite=Strict; Path=/; Secure"
    } else {
        "HttpOnly; SameSite=Strict; Path=/"
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Compares secrets without an early exit, so the time taken does not reveal a matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// [`TOKEN_BYTES`] random bytes as lowercase hex.
fn random_hex() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    if let Err(e) = getrandom::fill(&mut bytes) {
        // Without an OS random source nothing here can be secure; refuse rather than degrade.
        panic!("the operating system's random number generator failed: {e}");
    }
    hex::encode(bytes)
}

fn ms_from_now(ttl: Duration) -> u64 {
    crate::store::now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

fn address_key(peer: SocketAddr) -> String {
    format!("address {}", peer.ip())
}

/// The throttle key of a user name, bounded in length (and case-folded, so that `Admin` and
/// `admin` share it).
fn user_key(name: &str) -> String {
    format!("user {}", truncate(&name.to_lowercase()))
}

/// At most [`users::MAX_NAME_LEN`] characters of a name someone typed, for keys and logs.
fn truncate(name: &str) -> String {
    name.chars().take(users::MAX_NAME_LEN).collect()
}
