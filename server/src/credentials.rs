//! Sync login: checks the credentials a client presents against the configured authenticators.
//!
//! Authenticators: the shared secret (`auth.sharedSecret`, an HMAC proof over the `Hello` nonce,
//! see `wire::shared_secret`), JWT (`auth.jwt`, see `jwt`), admin users with the sync login permission
//! (`auth.obxAdmin`, user name and password checked against the admin users database; the
//! sync write permission decides [`Identity::can_write`]) and the unsecured mode
//! (`--unsecured-no-authentication`). Google logins are not implemented yet; the config lists
//! them as unsupported and [`Authenticator::from_config`] refuses them.
//!
//! How [`Authenticator::authenticate`] decides:
//! - Each credential is checked by the authenticator of its kind, in the order sent; the first
//!   valid one gives the [`Identity`]. Credentials after it are checked only if their kind is
//!   required; the client may write only if every valid credential allows it.
//! - Required kinds (`required*` flags and `--auth-required`) must each come with a valid
//!   credential, else the login fails even if another credential is valid.
//! - In unsecured mode a client is admitted, as [`Method::None`], unless one of its credentials
//!   was checked by a configured authenticator and found invalid. So `Credential::None` always
//!   gets in, and so does anything when no authenticator is configured.
//!
//! Invariant: no secret, proof or token is logged or put into a [`Failure`]. Failure messages are
//! meant for the server log; they name methods, claims, key ids and the key URL.

mod jwt;
mod key_cache;
mod keys;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use shared_types as wire;
use wire::protocol::{Credential, JwtKind, LoginCode};

use crate::config::Config;

/// Clock skew tolerated when checking a JWT's `exp` and `nbf`, in seconds.
pub const JWT_LEEWAY_SECONDS: u64 = 60;
/// A token with an unknown `kid` makes the server refetch `publicKeyUrl`, at most this often.
pub const KID_MISS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// After a failed fetch of `publicKeyUrl`, logins fail at once for this long before the next try.
pub const FAILED_FETCH_RETRY_INTERVAL: Duration = Duration::from_secs(2);
/// Time limit for fetching `publicKeyUrl`, connecting included.
pub const KEY_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The configured authenticators, built once at start-up and shared by all connections.
pub struct Authenticator {
    unsecured: bool,
    /// The secret of `auth.sharedSecret`. Never formatted.
    shared_secret: Option<Vec<u8>>,
    jwt: Option<jwt::JwtAuthenticator>,
    /// `auth.obxAdmin` is set: admin users may log in with user name and password.
    obx_admin: bool,
    /// The admin users, given by [`Authenticator::with_admin_users`].
    admin_users: Option<crate::users::Users>,
    /// Slows down password guessing over sync logins, per user name (the admin API has its own).
    admin_throttle: crate::throttle::Throttle,
    /// Kinds a client must present valid credentials of, without duplicates.
    required: Vec<Method>,
}

/// Who a client is after a successful login.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// How it was authenticated.
    pub method: Method,
    /// The JWT's claims (for `$auth.<claim>` in sync filters); `None` for other methods.
    pub claims: Option<serde_json::Value>,
    /// May send changes: false for admin users without the sync write permission.
    pub can_write: bool,
    /// The admin user's name (`Method::AdminUser`); `None` for other methods.
    pub user: Option<String>,
}

impl Identity {
    /// What two logins must share for the newer to take over the older's peer id: the admin user,
    /// the JWT's `sub`, or the shared secret (every holder of it is equally trusted). `None` when
    /// nothing was proven (unsecured mode, or a JWT without `sub`): such a login never takes
    /// over a connected peer id.
    pub fn takeover_key(&self) -> Option<String> {
        match self.method {
            Method::None => None,
            Method::SharedSecret => Some("shared secret".to_owned()),
            Method::Jwt(_) => self
                .claims
                .as_ref()
                .and_then(|c| c.get("sub"))
                .and_then(serde_json::Value::as_str)
                .map(|sub| format!("jwt sub {sub}")),
            Method::AdminUser => self.user.as_ref().map(|u| format!("admin user {u}")),
        }
    }
}

/// How a client was authenticated, or a kind of credential that can be required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Admitted without checked credentials (unsecured mode).
    None,
    /// Proved knowledge of the shared secret.
    SharedSecret,
    /// Presented a valid JWT of this kind.
    Jwt(JwtKind),
    /// Logged in as an admin user with user name and password (`auth.obxAdmin`).
    AdminUser,
}

/// Why a login was refused. Messages contain no secret or token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// A credential is invalid, of a kind this server does not accept, or missing altogether.
    #[error("credentials rejected: {0}")]
    CredentialsRejected(String),
    /// The keys to check a credential with can't be had (e.g. `publicKeyUrl` is down); the client
    /// may retry later with the same credentials.
    #[error("authentication unreachable: {0}")]
    AuthUnreachable(String),
    /// A required kind of credential was not presented.
    #[error("required credentials missing: {0}")]
    MissingRequired(String),
    /// Valid admin user credentials of a user without the sync login permission.
    #[error("credentials rejected: {0}")]
    NoPermission(String),
}

/// Why the authenticators can't be built from the config. Each names the setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `auth.jwt.publicKey` is not a usable public key.
    #[error("invalid auth.jwt.publicKey: {reason}")]
    PublicKey {
        /// What is wrong, e.g. that it is a private key.
        reason: String,
    },
    /// The JWT key URL is not an http(s) URL.
    #[error(
        "invalid JWT public key URL {url:?} (--jwt-public-key-url / auth.jwt.publicKeyUrl): {reason}"
    )]
    PublicKeyUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A credential type is required but its authenticator is not configured.
    #[error("credential type {kind} is required ({option}) but {needs} is not configured")]
    RequiredWithoutAuthenticator {
        /// The required type, e.g. `JWT_ACCESS`.
        kind: String,
        /// Where it is required, e.g. `--auth-required`.
        option: &'static str,
        /// The setting that is missing, e.g. `auth.jwt`.
        needs: &'static str,
    },
    /// An authentication option that is not implemented yet.
    #[error("{0} is not supported yet")]
    Unsupported(String),
    /// `--auth-required` names a type this server does not know.
    #[error("unknown credential type {0:?} in --auth-required")]
    UnknownRequired(String),
}

impl Authenticator {
    /// Builds the configured authenticators; errors name the bad setting (e.g. an unparsable
    /// PEM). Fetches nothing: keys behind `publicKeyUrl` are fetched on the first JWT login.
    pub fn from_config(config: &Config) -> Result<Authenticator, Error> {
        Authenticator::with_timings(config, Timings::default())
    }

    /// Checks a login's credentials. `nonce` is the 32-byte nonce the server sent in `Hello`.
    pub async fn authenticate(
        &self,
        credentials: &[Credential],
        nonce: &[u8],
        peer_id: u64,
    ) -> Result<Identity, Failure> {
        let mut admitted: Option<Identity> = None;
        let mut satisfied: Vec<Method> = Vec::new();
        // Credentials a configured authenticator checked and refused, with their kind.
        let mut refused: Vec<(Method, Failure)> = Vec::new();
        // Credentials no configured authenticator checks, with the reason.
        let mut unchecked: Vec<String> = Vec::new();
        for credential in credentials {
            let kind = credential_kind(credential);
            let required = kind.is_some_and(|k| self.required.contains(&k));
            if admitted.is_some() && !required {
                continue;
            }
            match self.check(credential, nonce, peer_id).await {
                Check::Valid(identity) => {
                    satisfied.push(identity.method);
                    // Every valid credential must allow writing (a required admin user without
                    // the sync write permission stays read-only next to a shared secret).
                    match &mut admitted {
                        Some(first) => first.can_write &= identity.can_write,
                        None => admitted = Some(identity),
                    }
                }
                Check::Invalid(method, failure) => refused.push((method, failure)),
                Check::Unchecked(reason) => unchecked.push(reason),
            }
        }

        for kind in &self.required {
            if satisfied.contains(kind) {
                continue;
            }
            // A presented but invalid credential of the kind explains more than "missing".
            if let Some((_, failure)) = refused.iter().find(|(m, _)| m == kind) {
                return Err(failure.clone());
            }
            return Err(Failure::MissingRequired(format!(
                "a valid {kind} is required"
            )));
        }
        if let Some(identity) = admitted {
            return Ok(identity);
        }
        if self.unsecured && refused.is_empty() {
            return Ok(Identity {
                method: Method::None,
                claims: None,
                can_write: true,
                user: None,
            });
        }
        Err(combine(refused, unchecked))
    }

    /// Lets admin users log in with user name and password when `auth.obxAdmin` is set.
    #[must_use]
    pub fn with_admin_users(mut self, users: crate::users::Users) -> Authenticator {
        self.admin_users = Some(users);
        self
    }

    /// True with `--unsecured-no-authentication`.
    pub fn is_unsecured(&self) -> bool {
        self.unsecured
    }

    /// One line per authenticator for the start-up log, e.g. `["shared secret", "JWT
    /// (publicKeyUrl http://...)"]`, then the required kinds if any.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.unsecured {
            lines.push("unsecured (no authentication)".to_owned());
        }
        if self.shared_secret.is_some() {
            lines.push("shared secret".to_owned());
        }
        if let Some(jwt) = &self.jwt {
            lines.push(jwt.describe());
        }
        if self.obx_admin {
            lines.push("admin users with the sync login permission".to_owned());
        }
        if !self.required.is_empty() {
            let kinds: Vec<String> = self.required.iter().map(ToString::to_string).collect();
            lines.push(format!("required: {}", kinds.join(", ")));
        }
        lines
    }
}

impl Failure {
    /// The login result code sent to the client.
    pub fn login_code(&self) -> LoginCode {
        match self {
            Failure::CredentialsRejected(_)
            | Failure::MissingRequired(_)
            | Failure::NoPermission(_) => LoginCode::CredentialsRejected,
            Failure::AuthUnreachable(_) => LoginCode::AuthUnreachable,
        }
    }

    /// Whether the login failed only for a missing sync login permission (counted apart).
    pub fn is_missing_permission(&self) -> bool {
        matches!(self, Failure::NoPermission(_))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::None => "no credentials",
            Method::SharedSecret => "shared secret",
            Method::Jwt(JwtKind::Id) => "JWT ID token",
            Method::Jwt(JwtKind::Access) => "JWT access token",
            Method::Jwt(JwtKind::Refresh) => "JWT refresh token",
            Method::Jwt(JwtKind::Custom) => "JWT custom token",
            Method::AdminUser => "admin user",
        })
    }
}

impl fmt::Debug for Authenticator {
    /// The description only: the shared secret is never formatted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Authenticator")
            .field(&self.describe())
            .finish()
    }
}

// Helpers below.

/// Tunable times, separate from the config so tests can shorten them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timings {
    /// See [`KID_MISS_REFETCH_INTERVAL`].
    pub kid_miss_refetch_interval: Duration,
    /// See [`FAILED_FETCH_RETRY_INTERVAL`].
    pub failed_fetch_retry_interval: Duration,
    /// See [`KEY_FETCH_TIMEOUT`].
    pub fetch_timeout: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            kid_miss_refetch_interval: KID_MISS_REFETCH_INTERVAL,
            failed_fetch_retry_interval: FAILED_FETCH_RETRY_INTERVAL,
            fetch_timeout: KEY_FETCH_TIMEOUT,
        }
    }
}

/// The outcome of checking one credential.
enum Check {
    Valid(Identity),
    /// Checked by the authenticator of this kind and refused.
    Invalid(Method, Failure),
    /// No configured authenticator checks it (reason for the message).
    Unchecked(String),
}

impl Authenticator {
    /// [`Authenticator::from_config`] with other timings.
    pub(crate) fn with_timings(config: &Config, timings: Timings) -> Result<Authenticator, Error> {
        let auth = &config.auth;
        if auth.google.is_some() {
            return Err(Error::Unsupported("auth.google".to_owned()));
        }
        let jwt = auth
            .jwt
            .as_ref()
            .map(|j| jwt::JwtAuthenticator::from_config(j, timings))
            .transpose()?;
        let shared_secret = auth
            .shared_secret
            .as_ref()
            .map(|s| s.value.as_bytes().to_vec());

        // Required kinds from the flags, then from --auth-required.
        let mut required: Vec<(Method, &'static str, String)> = Vec::new();
        if auth.obx_admin.is_some_and(|o| o.required) {
            required.push((Method::AdminUser, "auth.obxAdmin.required", String::new()));
        }
        if let Some(s) = &auth.shared_secret
            && s.required
        {
            required.push((
                Method::SharedSecret,
                "auth.sharedSecret.required",
                String::new(),
            ));
        }
        if let Some(j) = &auth.jwt {
            let flags = [
                (j.required, JwtKind::Id, "auth.jwt.required"),
                (
                    j.required_access,
                    JwtKind::Access,
                    "auth.jwt.requiredAccess",
                ),
                (
                    j.required_refresh,
                    JwtKind::Refresh,
                    "auth.jwt.requiredRefresh",
                ),
                (
                    j.required_custom,
                    JwtKind::Custom,
                    "auth.jwt.requiredCustom",
                ),
            ];
            for (set, kind, option) in flags {
                if set {
                    required.push((Method::Jwt(kind), option, String::new()));
                }
            }
        }
        for name in &auth.required {
            let method = match name.as_str() {
                "SHARED_SECRET" | "SHARED_SECRET_SIPPED" => Method::SharedSecret,
                "JWT_ID" => Method::Jwt(JwtKind::Id),
                "JWT_ACCESS" => Method::Jwt(JwtKind::Access),
                "JWT_REFRESH" => Method::Jwt(JwtKind::Refresh),
                "JWT_CUSTOM" => Method::Jwt(JwtKind::Custom),
                "OBX_ADMIN_USER" => Method::AdminUser,
                "GOOGLE_AUTH" => {
                    return Err(Error::Unsupported(format!("{name} in --auth-required")));
                }
                other => return Err(Error::UnknownRequired(other.to_owned())),
            };
            required.push((method, "--auth-required", name.clone()));
        }
        for (method, option, name) in &required {
            let (configured, needs, default_name) = match method {
                Method::SharedSecret => (
                    shared_secret.is_some(),
                    "auth.sharedSecret",
                    "SHARED_SECRET_SIPPED",
                ),
                Method::Jwt(_) => (jwt.is_some(), "auth.jwt", "JWT"),
                Method::AdminUser => (auth.obx_admin.is_some(), "auth.obxAdmin", "OBX_ADMIN_USER"),
                Method::None => (true, "", ""),
            };
            if !configured {
                return Err(Error::RequiredWithoutAuthenticator {
                    kind: if name.is_empty() { default_name } else { name }.to_owned(),
                    option,
                    needs,
                });
            }
        }
        let mut kinds: Vec<Method> = Vec::new();
        for (method, _, _) in required {
            if !kinds.contains(&method) {
                kinds.push(method);
            }
        }

        Ok(Authenticator {
            unsecured: config.unsecured_no_authentication,
            shared_secret,
            jwt,
            obx_admin: auth.obx_admin.is_some(),
            admin_users: None,
            admin_throttle: crate::throttle::Throttle::default(),
            required: kinds,
        })
    }

    /// Checks one credential with the authenticator of its kind.
    async fn check(&self, credential: &Credential, nonce: &[u8], peer_id: u64) -> Check {
        match credential {
            Credential::None if self.unsecured => Check::Valid(Identity {
                method: Method::None,
                claims: None,
                can_write: true,
                user: None,
            }),
            Credential::None => Check::Unchecked(
                "no credentials were given, and this server requires authentication".to_owned(),
            ),
            Credential::SharedSecret { hmac } => match &self.shared_secret {
                Some(secret) => {
                    if wire::shared_secret::verify_shared_secret_proof(secret, nonce, peer_id, hmac)
                    {
                        Check::Valid(Identity {
                            method: Method::SharedSecret,
                            claims: None,
                            can_write: true,
                            user: None,
                        })
                    } else {
                        Check::Invalid(
                            Method::SharedSecret,
                            Failure::CredentialsRejected(
                                "the shared secret proof does not match (wrong secret, or \
                                 computed for another nonce or peer id)"
                                    .to_owned(),
                            ),
                        )
                    }
                }
                None => Check::Unchecked(
                    "shared secret credentials are not accepted (auth.sharedSecret is not set)"
                        .to_owned(),
                ),
            },
            Credential::Jwt { kind, token } => {
                let method = Method::Jwt(*kind);
                match &self.jwt {
                    Some(jwt) => match jwt.verify(token).await {
                        Ok(claims) => Check::Valid(Identity {
                            method,
                            claims: Some(claims),
                            can_write: true,
                            user: None,
                        }),
                        Err(failure) => Check::Invalid(method, prefix(&method, failure)),
                    },
                    None => Check::Unchecked(format!(
                        "{method} credentials are not accepted (auth.jwt is not set)"
                    )),
                }
            }
            Credential::UserPassword { user, password } => {
                self.check_admin_user(user, password).await
            }
        }
    }
}

impl Authenticator {
    /// Checks an admin user's name and password (`auth.obxAdmin`); the user needs the sync login
    /// permission, and may write with the sync write permission.
    async fn check_admin_user(&self, user: &str, password: &str) -> Check {
        let users = match (&self.admin_users, self.obx_admin) {
            (Some(users), true) => users,
            _ => {
                return Check::Unchecked(
                    "user and password credentials are not accepted (auth.obxAdmin is not set)"
                        .to_owned(),
                );
            }
        };
        let rejected =
            |m: String| Check::Invalid(Method::AdminUser, Failure::CredentialsRejected(m));
        let key: String = user.to_lowercase().chars().take(64).collect();
        if let Err(wait) = self.admin_throttle.check(&key) {
            return rejected(format!(
                "admin user: too many failed attempts; retry in {} s",
                wait.as_secs() + 1
            ));
        }
        // Counted as failed up front, so that parallel guesses are throttled too.
        self.admin_throttle.failed(&key);
        let verified = users.verify(user, password).await;
        if !matches!(verified, Ok(None)) {
            self.admin_throttle.succeeded(&key);
        }
        match verified {
            Ok(Some(found)) if found.permissions.sync_login => Check::Valid(Identity {
                method: Method::AdminUser,
                claims: None,
                can_write: found.permissions.sync_write,
                user: Some(found.name),
            }),
            Ok(Some(found)) => Check::Invalid(
                Method::AdminUser,
                Failure::NoPermission(format!(
                    "admin user {}: user lacks the sync login permission",
                    found.name
                )),
            ),
            Ok(None) => rejected("admin user: wrong user name or password".to_owned()),
            Err(e) => Check::Invalid(
                Method::AdminUser,
                Failure::AuthUnreachable(format!("admin user: cannot check the password: {e}")),
            ),
        }
    }
}

/// The kind a credential could satisfy a requirement for.
fn credential_kind(credential: &Credential) -> Option<Method> {
    match credential {
        Credential::SharedSecret { .. } => Some(Method::SharedSecret),
        Credential::Jwt { kind, .. } => Some(Method::Jwt(*kind)),
        Credential::UserPassword { .. } => Some(Method::AdminUser),
        Credential::None => None,
    }
}

/// Prefixes a failure's message with the credential kind, e.g. `JWT ID token: ...`.
fn prefix(method: &Method, failure: Failure) -> Failure {
    match failure {
        Failure::CredentialsRejected(m) => Failure::CredentialsRejected(format!("{method}: {m}")),
        Failure::AuthUnreachable(m) => Failure::AuthUnreachable(format!("{method}: {m}")),
        Failure::MissingRequired(m) => Failure::MissingRequired(format!("{method}: {m}")),
        Failure::NoPermission(m) => Failure::NoPermission(format!("{method}: {m}")),
    }
}

/// The failure of a login no credential admitted: unreachable wins (the client should retry),
/// else every reason joined.
fn combine(refused: Vec<(Method, Failure)>, unchecked: Vec<String>) -> Failure {
    if let Some((_, failure)) = refused
        .iter()
        .find(|(_, f)| matches!(f, Failure::AuthUnreachable(_)))
    {
        return failure.clone();
    }
    let no_permission = refused.iter().any(|(_, f)| f.is_missing_permission());
    let mut reasons: Vec<String> = refused
        .into_iter()
        .map(|(_, f)| match f {
            Failure::CredentialsRejected(m)
            | Failure::AuthUnreachable(m)
            | Failure::MissingRequired(m)
            | Failure::NoPermission(m) => m,
        })
        .collect();
    reasons.extend(unchecked);
    if reasons.is_empty() {
        reasons.push("no credentials were given".to_owned());
    }
    if no_permission {
        return Failure::NoPermission(reasons.join("; "));
    }
    Failure::CredentialsRejected(reasons.join("; "))
}
