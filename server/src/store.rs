//! The database: one LMDB environment behind typed read and write transactions.
//!
//! Only this module names heed. Everyone reads through short read transactions taken with
//! [`Store::read`], which hand out a [`Read`]; every write goes through [`Store::write`] (or
//! [`Store::write_blocking`], [`Store::submit_with`]) to the one writer thread (`writer`), which
//! hands each request a [`Write`]. Both have typed methods per area, one submodule each:
//!
//! - `keys`: database names and the key layout (docs/storage.md).
//! - `meta`: the dataset's identity, the schema versions and the small `meta` values.
//! - `objects`: objects and standalone relation links.
//! - `log`: the transaction log and the last applied transaction of each peer.
//! - `users`: admin user records (their format belongs to `crate::users`).
//! - `events`: stored log events (their format belongs to `crate::events`).
//! - `writer`: the writer thread: group commit, one nested transaction per request.

// `Store`'s short-read wrappers take closures `|r| r.method()`: the method path that clippy
// suggests instead is not general enough over `Read`'s lifetime and does not compile.
#![allow(clippy::redundant_closure_for_method_calls)]

mod events;
mod keys;
mod log;
mod meta;
mod objects;
mod users;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use heed::types::{Bytes, SerdeJson, Str, U64};
use heed::{Database, Env, EnvOpenOptions, RoTxn, RwTxn, WithoutTls, byteorder::BigEndian};

pub use self::keys::meta_key;
pub use self::log::{LogBounds, LogRecord, chain_hash};
pub use self::meta::{DatasetInfo, SchemaVersionRecord};
pub use self::objects::{SnapshotCursor, SnapshotItem};
pub use self::writer::{MAX_REQUESTS_PER_COMMIT, WRITE_QUEUE_DEPTH};

/// The on-disk layout version written to `meta`. Bumped with a migration when the layout changes.
pub const STORE_FORMAT_VERSION: u32 = 1;

/// How many named databases the environment may hold (eight are used).
const MAX_DBS: u32 = 16;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot create database directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database in {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error(
        "the database is full: it reached its maximum size of {max_size} bytes; \
         restart with a larger --db-max-size (config key dbMaxSize)"
    )]
    Full { max_size: u64 },
    /// The file system holding the database has no space left (or the quota is used up).
    /// Nothing of the failed commit is stored; writes work again once there is space.
    #[error(
        "the disk holding the database is full ({message}); free space on it and writes resume"
    )]
    DiskFull { message: String },
    #[error(
        "database layout version {found} in {path} is newer than this server supports ({supported})"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("stored value under {what} is corrupt: {message}")]
    Corrupt { what: String, message: String },
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("LMDB error: {0}")]
    Lmdb(heed::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the error is a lack of space (database map or disk): the request was not stored,
    /// and the same request can succeed once there is space.
    pub fn is_full(&self) -> bool {
        matches!(self, Error::Full { .. } | Error::DiskFull { .. })
    }
}

/// A handle to the open database. Cheap to clone; the environment closes when the last handle
/// is dropped after [`Store::close`].
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// A read transaction: a consistent view of the whole database until it ends. Methods are
/// grouped by area in the submodules (objects, log, meta, users, events).
pub struct Read<'t> {
    txn: &'t RoTxn<'t>,
    dbs: &'t Dbs,
}

/// One write request's transaction on the writer thread (nested in the commit's transaction,
/// so a failing request only drops its own changes). `read()` sees its own writes.
pub struct Write<'t, 'p> {
    txn: &'t mut RwTxn<'p>,
    dbs: &'t Dbs,
}

impl Store {
    /// Opens (creating if needed) the database in `dir` with a map of `max_size` bytes and starts
    /// the writer thread.
    pub fn open(dir: &Path, max_size: u64) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let map_size = usize::try_from(max_size).unwrap_or(usize::MAX);
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(map_size).max_dbs(MAX_DBS);
        // SAFETY: heed's `open` is unsafe because LMDB must not be opened twice in one process
        // with the same path (heed itself checks this and returns `EnvAlreadyOpened`), and because
        // the memory-mapped file must not be modified by other code while open. Only this module
        // opens the environment, once per server, and `data.mdb` is ours alone.
        let env = unsafe { options.open(dir) }.map_err(|e| open_error(dir, e))?;
        let dbs = Dbs::create(&env).map_err(|e| open_error(dir, e))?;
        let (sender, receiver) = mpsc::sync_channel(WRITE_QUEUE_DEPTH);
        let writer =
            writer::spawn(env.clone(), dbs, max_size, receiver).map_err(|e| Error::Open {
                path: dir.to_owned(),
                message: format!("cannot start writer thread: {e}"),
            })?;
        let store = Store {
            inner: Arc::new(Inner {
                env,
                dbs,
                path: dir.to_owned(),
                max_size,
                writer: std::sync::Mutex::new(Some(writer::Handle { sender, writer })),
            }),
        };
        store.init_meta()?;
        Ok(store)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The configured maximum size in bytes.
    pub fn max_size(&self) -> u64 {
        self.inner.max_size
    }

    /// Size of `data.mdb` on disk in bytes.
    pub fn disk_size(&self) -> Result<u64> {
        self.inner.env.real_disk_size().map_err(Error::Lmdb)
    }

    /// Runs `f` in a read transaction. Keep it short and never hold it across an `.await`:
    /// the transaction pins old pages until it ends.
    pub fn read<R>(&self, f: impl FnOnce(&Read<'_>) -> Result<R>) -> Result<R> {
        let rtxn = self.inner.env.read_txn().map_err(Error::Lmdb)?;
        f(&Read {
            txn: &rtxn,
            dbs: &self.inner.dbs,
        })
    }

    /// Sends `f` to the writer and waits until the commit that contains it is durable.
    /// `f` runs in its own nested transaction: if it fails, only its own changes are dropped.
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Write<'_, '_>) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit_with(f, move |result| {
            let _ = reply.send(result);
        })?;
        answer.await.map_err(|_| Error::WriterStopped)?
    }

    /// Like [`Store::write`] for code that is not async (start-up, shutdown, tests).
    pub fn write_blocking<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Write<'_, '_>) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        self.submit_with(f, move |result| {
            let _ = reply.send(result);
        })?;
        answer.recv().map_err(|_| Error::WriterStopped)?
    }

    /// Queues `f` for the writer now (so requests from one caller keep their order) and calls
    /// `on_done` on the writer thread once the commit holding it is durable, or with the error.
    /// `on_done` calls happen in commit order; keep them short (no blocking, no I/O).
    pub fn submit_with<R, F, C>(&self, f: F, on_done: C) -> Result<()>
    where
        R: Send + 'static,
        F: FnOnce(&mut Write<'_, '_>) -> Result<R> + Send + 'static,
        C: FnOnce(Result<R>) + Send + 'static,
    {
        let sender = crate::lock(&self.inner.writer)
            .as_ref()
            .map(|handle| handle.sender.clone())
            .ok_or(Error::WriterStopped)?;
        writer::submit(&sender, self.inner.max_size, f, on_done)
    }

    /// Stops the writer after it has committed everything queued, and closes the environment
    /// once no other handle is left. Later writes fail with [`Error::WriterStopped`].
    pub fn close(self) {
        let handle = crate::lock(&self.inner.writer).take();
        if let Some(handle) = handle {
            handle.stop();
        }
        if let Ok(inner) = Arc::try_unwrap(self.inner) {
            let Inner { env, .. } = inner;
            env.prepare_for_closing().wait();
        }
    }

    fn init_meta(&self) -> Result<()> {
        let path = self.inner.path.clone();
        self.write_blocking(move |w| w.init_meta(path))
            .map_err(|e| match e {
                Error::Lmdb(e) => open_error(&self.inner.path, e),
                other => other,
            })
    }
}

impl Write<'_, '_> {
    /// A read view of this transaction, including its own uncommitted writes.
    pub fn read(&self) -> Read<'_> {
        Read {
            txn: self.txn,
            dbs: self.dbs,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

// Helpers below.

/// The typed databases. `'static` because they live exactly as long as the `Env` in the same
/// [`Inner`]; see the SAFETY note in [`Dbs::create`].
#[derive(Clone, Copy)]
struct Dbs {
    meta: Database<'static, Str, Bytes>,
    schema_versions: Database<'static, U64<BigEndian>, SerdeJson<SchemaVersionRecord>>,
    objects: Database<'static, Bytes, Bytes>,
    tx_log: Database<'static, U64<BigEndian>, Bytes>,
    peers: Database<'static, U64<BigEndian>, Bytes>,
    links: Database<'static, Bytes, Bytes>,
    users: Database<'static, Str, Bytes>,
    events: Database<'static, Bytes, Bytes>,
}

impl Dbs {
    /// Opens or creates every database of [`keys::db_name`] in one committed transaction.
    fn create(env: &Env<WithoutTls>) -> heed::Result<Dbs> {
        use keys::db_name;
        let wtxn = env.write_txn()?;
        let dbs = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> heed::Result<_> {
                let meta = opener.create_database::<Str, Bytes>(wtxn, Some(db_name::META))?;
                let schema_versions =
                    opener.create_database(wtxn, Some(db_name::SCHEMA_VERSIONS))?;
                let objects =
                    opener.create_database::<Bytes, Bytes>(wtxn, Some(db_name::OBJECTS))?;
                let tx_log = opener.create_database(wtxn, Some(db_name::TX_LOG))?;
                let peers = opener.create_database(wtxn, Some(db_name::PEERS))?;
                let links = opener.create_database::<Bytes, Bytes>(wtxn, Some(db_name::LINKS))?;
                let users = opener.create_database::<Str, Bytes>(wtxn, Some(db_name::USERS))?;
                let events = opener.create_database::<Bytes, Bytes>(wtxn, Some(db_name::EVENTS))?;
                Ok(heed::CommitOrAbort::<_, ()>::Commit((
                    meta,
                    schema_versions,
                    objects,
                    tx_log,
                    peers,
                    links,
                    users,
                    events,
                )))
            })?
            .unwrap_commit();
        // SAFETY: a `Database` is only an environment identifier and a DBI number (no pointer);
        // its lifetime ties it to the `Env` it came from. We keep the `Env` in the same `Inner`
        // as the handles and never hand a handle out past the `Inner` (the fields are private to
        // this module), so extending the lifetime to 'static never lets a handle outlive its
        // environment.
        unsafe {
            Ok(Dbs {
                meta: extend(dbs.0),
                schema_versions: extend(dbs.1),
                objects: extend(dbs.2),
                tx_log: extend(dbs.3),
                peers: extend(dbs.4),
                links: extend(dbs.5),
                users: extend(dbs.6),
                events: extend(dbs.7),
            })
        }
    }
}

/// Extends a database handle's lifetime to `'static`.
///
/// # Safety
///
/// The handle must not be used after its environment closed (see [`Dbs::create`]).
unsafe fn extend<K: 'static, V: 'static>(db: Database<'_, K, V>) -> Database<'static, K, V> {
    // SAFETY: `Database<'a, K, V>` has the same layout for every `'a`; the caller keeps the
    // environment alive.
    unsafe { std::mem::transmute::<Database<'_, K, V>, Database<'static, K, V>>(db) }
}

struct Inner {
    env: Env<WithoutTls>,
    dbs: Dbs,
    path: PathBuf,
    max_size: u64,
    /// The writer's request queue and thread. `None` after `close`; dropping the sender stops
    /// the writer once it has drained the queue.
    writer: std::sync::Mutex<Option<writer::Handle>>,
}

fn open_error(dir: &Path, e: heed::Error) -> Error {
    let message = match &e {
        heed::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            format!("permission denied; the directory must be writable by this user ({io})")
        }
        heed::Error::Mdb(heed::MdbError::Other(13)) => {
            "permission denied; the directory must be writable by this user".into()
        }
        heed::Error::Mdb(heed::MdbError::Invalid) => {
            "data.mdb is not an LMDB database or is damaged".into()
        }
        heed::Error::Mdb(heed::MdbError::VersionMismatch) => {
            "data.mdb was written by an incompatible LMDB version".into()
        }
        other => other.to_string(),
    };
    Error::Open {
        path: dir.to_owned(),
        message,
    }
}

/// Turns LMDB's "map full" and a full disk into the errors that tell the operator what to do.
fn full_error(e: Error, max_size: u64) -> Error {
    use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
    match e {
        Error::Lmdb(heed::Error::Mdb(heed::MdbError::MapFull)) => Error::Full { max_size },
        Error::Lmdb(heed::Error::Io(io))
            if matches!(io.kind(), StorageFull | QuotaExceeded | FileTooLarge) =>
        {
            Error::DiskFull {
                message: io.to_string(),
            }
        }
        other => other,
    }
}

fn lmdb(e: heed::Error) -> Error {
    Error::Lmdb(e)
}

fn decode_u64(bytes: &[u8]) -> Result<u64> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| Error::Corrupt {
        what: "meta".into(),
        message: format!("expected 8 bytes, found {}", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(array))
}
