//! Credentials a client presents at login, turned into wire credentials for one `Hello`.

use shared_types::protocol::{Credential, JwtKind};
use shared_types::shared_secret::shared_secret_proof;

/// What a client proves its identity with.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// Nothing; only a server started with `--unsecured-no-authentication` admits it.
    None,
    /// A secret shared with the server. It never leaves the client: login sends an HMAC of the
    /// server's nonce and the peer id keyed with it.
    SharedSecret(Vec<u8>),
    /// A JSON Web Token of the given kind.
    Jwt { kind: JwtKind, token: String },
    /// An admin user's name and password. Send it only over `wss://`.
    UserPassword { user: String, password: String },
}

impl Credentials {
    /// The wire credentials for a login after a `Hello` with `nonce`.
    pub fn to_wire(&self, nonce: &[u8], peer_id: u64) -> Vec<Credential> {
        vec![match self {
            Credentials::None => Credential::None,
            Credentials::SharedSecret(secret) => Credential::SharedSecret {
                hmac: shared_secret_proof(secret, nonce, peer_id),
            },
            Credentials::Jwt { kind, token } => Credential::Jwt {
                kind: *kind,
                token: token.clone(),
            },
            Credentials::UserPassword { user, password } => Credential::UserPassword {
                user: user.clone(),
                password: password.clone(),
            },
        }]
    }
}

/// Debug output never shows secrets, tokens or passwords.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::SharedSecret(_) => f.write_str("SharedSecret(..)"),
            Credentials::Jwt { kind, .. } => write!(f, "Jwt({kind:?}, ..)"),
            Credentials::UserPassword { user, .. } => write!(f, "UserPassword({user}, ..)"),
        }
    }
}
