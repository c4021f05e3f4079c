//! Admin users: names, argon2id password hashes and permissions, used by the admin API and by
//! sync logins with user name and password (`auth.obxAdmin`).
//!
//! Records live in the store's `admin-users` database as JSON (`UserRecord`), keyed by name. Hashing
//! and verifying (argon2id, PHC strings with a random salt) take tens of milliseconds, so they
//! run on the blocking pool and never on the writer thread; a write re-checks what it depends on
//! (the name is free, an admin remains) inside its transaction.
//!
//! Invariant: a password or hash never leaves this module except as a stored PHC string.

// `store.read(|r| r.method())`: the method path clippy suggests does not compile (it is not
// general enough over `store::Read`'s lifetime).
#![allow(clippy::redundant_closure_for_method_calls)]

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::store::{self, Store};

/// Longest accepted user name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password, in bytes (argon2 accepts more; this bounds the work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Password hashes computed at the same time at most. Each argon2 run takes about 19 MiB and a
/// core for tens of milliseconds; more concurrent logins wait, so a login flood can neither
/// exhaust memory nor starve the blocking pool.
pub const MAX_CONCURRENT_HASHES: usize = 4;

/// Handle to the user database. Cheap to clone.
#[derive(Clone)]
pub struct Users {
    store: Store,
    /// Permits for [`MAX_CONCURRENT_HASHES`]; shared by all clones (admin API and sync logins).
    hashing: Arc<Semaphore>,
}

/// A user without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub permissions: Permissions,
    pub created_ms: u64,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    /// May use the admin API.
    pub admin: bool,
    /// May log in as a sync client (with `auth.obxAdmin`).
    pub sync_login: bool,
    /// May send changes as a sync client.
    pub sync_write: bool,
}

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("user {0:?} does not exist")]
    NotFound(String),
    #[error("user {0:?} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("user {0:?} is the last admin; give another user the admin permission first")]
    LastAdmin(String),
    /// `POST /api/setup` after a user was created.
    #[error("the first admin user was already created")]
    AlreadySetUp,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Users {
    pub fn new(store: Store) -> Users {
        Users {
            store,
            hashing: Arc::new(Semaphore::new(MAX_CONCURRENT_HASHES)),
        }
    }

    /// Number of users.
    pub fn count(&self) -> Result<u64> {
        Ok(self.store.read(|r| r.user_count())?)
    }

    /// All users, ordered by name.
    pub fn list(&self) -> Result<Vec<User>> {
        let stored = self.store.read(|r| r.users())?;
        let mut users = Vec::with_capacity(stored.len());
        for (name, raw) in stored {
            users.push(decode(&name, &raw)?.user(&name));
        }
        Ok(users)
    }

    /// One user, or `None`.
    pub fn get(&self, name: &str) -> Result<Option<User>> {
        Ok(self.record(name)?.map(|record| record.user(name)))
    }

    /// Creates a user; fails if the name is taken.
    pub async fn create(
        &self,
        name: &str,
        password: &str,
        permissions: Permissions,
    ) -> Result<User> {
        self.insert(name, password, permissions, false).await
    }

    /// Creates the first user; fails with [`Error::AlreadySetUp`] if any user exists.
    pub async fn create_first(&self, name: &str, password: &str) -> Result<User> {
        let all = Permissions {
            admin: true,
            sync_login: true,
            sync_write: true,
        };
        self.insert(name, password, all, true).await
    }

    /// The user if `password` is theirs. Unknown users cost as much time as known ones.
    pub async fn verify(&self, name: &str, password: &str) -> Result<Option<User>> {
        let record = self.record(name)?;
        let hash = match &record {
            Some(record) => record.password_hash.clone(),
            None => dummy_hash().to_owned(),
        };
        let password = password.to_owned();
        let _permit = self.permit().await?;
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| Error::Hash(e.to_string()))?;
        Ok(match record {
            Some(record) if ok => Some(record.user(name)),
            _ => None,
        })
    }

    /// Replaces a user's password.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<()> {
        check_password(password)?;
        let hash = self.hash(password).await?;
        let name = name.to_owned();
        self.store
            .write(move |w| {
                let Some(raw) = w.read().user(&name)? else {
                    return Ok(Err(Error::NotFound(name)));
                };
                let mut record = decode(&name, &raw)?;
                record.password_hash = hash;
                put(w, &name, &record)?;
                Ok(Ok(()))
            })
            .await?
    }

    /// Replaces a user's permissions; refuses to take the admin permission from the last admin.
    pub async fn set_permissions(&self, name: &str, permissions: Permissions) -> Result<User> {
        let name = name.to_owned();
        self.store
            .write(move |w| {
                let Some(raw) = w.read().user(&name)? else {
                    return Ok(Err(Error::NotFound(name)));
                };
                let mut record = decode(&name, &raw)?;
                if record.permissions.admin && !permissions.admin && admin_count(&w.read())? <= 1 {
                    return Ok(Err(Error::LastAdmin(name)));
                }
                record.permissions = permissions;
                put(w, &name, &record)?;
                Ok(Ok(record.user(&name)))
            })
            .await?
    }

    /// Deletes a user; refuses to delete the last admin.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.store
            .write(move |w| {
                let Some(raw) = w.read().user(&name)? else {
                    return Ok(Err(Error::NotFound(name)));
                };
                let record = decode(&name, &raw)?;
                if record.permissions.admin && admin_count(&w.read())? <= 1 {
                    return Ok(Err(Error::LastAdmin(name)));
                }
                w.delete_user(&name)?;
                Ok(Ok(()))
            })
            .await?
    }

    fn record(&self, name: &str) -> Result<Option<UserRecord>> {
        match self.store.read(|r| r.user(name))? {
            Some(raw) => Ok(Some(decode(name, &raw)?)),
            None => Ok(None),
        }
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.hashing
            .acquire()
            .await
            .map_err(|e| Error::Hash(e.to_string()))
    }

    async fn hash(&self, password: &str) -> Result<String> {
        let _permit = self.permit().await?;
        hash_password(password.to_owned()).await
    }

    async fn insert(
        &self,
        name: &str,
        password: &str,
        permissions: Permissions,
        first: bool,
    ) -> Result<User> {
        check_name(name)?;
        check_password(password)?;
        let record = UserRecord {
            password_hash: self.hash(password).await?,
            permissions,
            created_ms: store::now_ms(),
        };
        let name = name.to_owned();
        self.store
            .write(move |w| {
                if first && w.read().user_count()? > 0 {
                    return Ok(Err(Error::AlreadySetUp));
                }
                if w.read().user(&name)?.is_some() {
                    return Ok(Err(Error::Exists(name)));
                }
                put(w, &name, &record)?;
                Ok(Ok(record.user(&name)))
            })
            .await?
    }
}

/// Checks a user name: 1 to [`MAX_NAME_LEN`] characters of `A-Z a-z 0-9 . _ @ -`, so that it
/// fits into a URL path and a log line unescaped.
pub fn check_name(name: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(allowed) {
        return Err(Error::Invalid(format!(
            "invalid user name {name:?}: use 1 to {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, \
             '.', '_', '@' and '-'"
        )));
    }
    Ok(())
}

/// Checks a new password's length (the value itself is never put into a message).
pub fn check_password(password: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN || password.len() > MAX_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "the password has {chars} characters; use at least {MIN_PASSWORD_LEN} and at most \
             {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

// Helpers below.

/// The stored form of a user (JSON in the `admin-users` database; the key is the name).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserRecord {
    /// argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
    password_hash: String,
    permissions: Permissions,
    created_ms: u64,
}

impl UserRecord {
    fn user(&self, name: &str) -> User {
        User {
            name: name.to_owned(),
            permissions: self.permissions,
            created_ms: self.created_ms,
        }
    }
}

fn decode(name: &str, raw: &[u8]) -> store::Result<UserRecord> {
    serde_json::from_slice(raw).map_err(|e| store::Error::Corrupt {
        what: format!("admin user {name:?}"),
        message: e.to_string(),
    })
}

fn put(w: &mut store::Write<'_, '_>, name: &str, record: &UserRecord) -> store::Result<()> {
    let raw = serde_json::to_vec(record).map_err(|e| store::Error::Corrupt {
        what: format!("admin user {name:?}"),
        message: e.to_string(),
    })?;
    w.put_user(name, &raw)
}

fn admin_count(r: &store::Read<'_>) -> store::Result<usize> {
    let mut admins = 0;
    for (name, raw) in r.users()? {
        if decode(&name, &raw)?.permissions.admin {
            admins += 1;
        }
    }
    Ok(admins)
}

async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Hash(e.to_string()))
    })
    .await
    .map_err(|e| Error::Hash(e.to_string()))?
}

fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a random password, verified against for unknown users so that the answer
/// time does not tell which names exist.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 16];
        let _ = getrandom::fill(&mut random);
        Argon2::default()
            .hash_password(&random)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}
