//! The LMDB (heed) environment: typed databases, their key layout, and the single writer.
//!
//! Only this module names heed. Everyone reads through short read transactions taken with
//! [`Store::read`]; every write goes through [`Store::write`] (or [`Store::write_blocking`]) to
//! one writer thread that owns the LMDB write transaction. The writer groups requests that
//! arrive together into one commit (group commit), runs each request in a nested transaction
//! so one failing request does not undo the others, and answers every request only after the
//! commit that holds it is durable. docs/storage.md describes the layout.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread;

use heed::types::{Bytes, SerdeJson, Str, U64};
use heed::{Database, Env, EnvOpenOptions, RoTxn, RwTxn, WithoutTls, byteorder::BigEndian};
use serde::{Deserialize, Serialize};
use shared_types::protocol::{GlobalId, Op};
use tokio::sync::oneshot;

/// The on-disk layout version written to `meta`. Bumped with a migration when the layout changes.
pub const STORE_FORMAT_VERSION: u32 = 1;

/// How many queued write requests the writer folds into one commit at most.
pub const MAX_REQUESTS_PER_COMMIT: usize = 4096;

/// How many write requests may wait for the writer before senders block.
pub const WRITE_QUEUE_DEPTH: usize = 16_384;

/// Names of the LMDB databases inside the environment.
pub mod db_name {
    /// Small keyed values: layout version, dataset id, creation time, current schema version.
    pub const META: &str = "meta";
    /// Schema versions by id (u64 big-endian), each a JSON [`super::SchemaVersionRecord`].
    pub const SCHEMA_VERSIONS: &str = "schema-versions";
    /// Objects by (entity UID, object id), both u64 big-endian.
    pub const OBJECTS: &str = "objects";
    /// The append-only transaction log by sequence number (u64 big-endian), each a MessagePack
    /// [`super::LogRecord`].
    pub const TX_LOG: &str = "tx-log";
    /// Per client peer id (u64 BE): the last applied client tx id and its seq (2 × u64 BE).
    pub const PEERS: &str = "peers";
    /// Standalone relation links: relation UID ‖ source global id ‖ target global id → empty.
    pub const LINKS: &str = "links";
    /// Admin users by name (UTF-8) → JSON record (the admin API's `auth` module owns the format).
    pub const USERS: &str = "admin-users";
    /// Log events by key (u64 BE time in ns ‖ u32 BE counter) → JSON record (admin `events`).
    pub const EVENTS: &str = "log-events";
}

/// Keys of the `meta` database.
pub mod meta_key {
    pub const FORMAT: &str = "format";
    pub const DATASET_ID: &str = "dataset-id";
    pub const CREATED_MS: &str = "created-ms";
    pub const CURRENT_SCHEMA: &str = "current-schema-version";
    /// The newest transaction log seq ever assigned (kept when old entries are pruned).
    pub const LOG_HEAD: &str = "tx-log-head";
    /// Total encoded size of the retained log entries, in bytes.
    pub const LOG_BYTES: &str = "tx-log-bytes";
}

/// One transaction log entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub seq: u64,
    /// The client peer that sent it (0 for server-side changes).
    pub origin: u64,
    /// The sender's transaction id (0 for server-side changes).
    pub client_tx_id: u64,
    pub time_ms: u64,
    /// The operations as applied (puts that lost a conflict are not here).
    pub ops: Vec<Op>,
    /// Puts of the client that lost a conflict: (entity id, object id).
    pub rejected: Vec<(u32, GlobalId)>,
    /// 16 bytes: SHA-256 over the previous entry's hash and this entry, truncated; see
    /// [`chain_hash`].
    #[serde(with = "serde_bytes")]
    pub hash: Vec<u8>,
}

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

/// One stored schema version. Serialized as JSON inside the `schema-versions` database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaVersionRecord {
    pub id: u64,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Who created it: `server-init`, `model-file`, or an admin user name.
    pub author: String,
    /// 32 hex characters.
    pub base_hash: String,
    /// 32 hex characters.
    pub full_hash: String,
    pub entity_count: usize,
    pub property_count: usize,
    pub relation_count: usize,
    pub index_count: usize,
    /// Whether clients on this version may log in.
    pub accept_clients: bool,
    /// The model file exactly as it was given.
    pub model_json: String,
}

/// Identity of a dataset (one database directory): created once, never changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    /// 32 hex characters, random.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// The typed databases. `'static` because they live exactly as long as the `Env` in the same
/// [`Inner`]; see the SAFETY note in [`Store::open`].
#[derive(Clone, Copy)]
pub struct Dbs {
    pub meta: Database<'static, Str, Bytes>,
    pub schema_versions: Database<'static, U64<BigEndian>, SerdeJson<SchemaVersionRecord>>,
    pub objects: Database<'static, Bytes, Bytes>,
    pub tx_log: Database<'static, U64<BigEndian>, Bytes>,
    pub peers: Database<'static, U64<BigEndian>, Bytes>,
    pub links: Database<'static, Bytes, Bytes>,
    pub users: Database<'static, Str, Bytes>,
    pub events: Database<'static, Bytes, Bytes>,
}

/// A handle to the open database. Cheap to clone; the environment closes when the last handle
/// is dropped after [`Store::close`].
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
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
        options.map_size(map_size).max_dbs(16);
        // SAFETY: heed's `open` is unsafe because LMDB must not be opened twice in one process
        // with the same path (heed itself checks this and returns `EnvAlreadyOpened`), and because
        // the memory-mapped file must not be modified by other code while open. Only this module
        // opens the environment, once per server, and `data.mdb` is ours alone.
        let env = unsafe { options.open(dir) }.map_err(|e| open_error(dir, e))?;

        let wtxn = env.write_txn().map_err(|e| open_error(dir, e))?;
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
            })
            .map_err(|e| open_error(dir, e))?
            .unwrap_commit();
        // SAFETY: a `Database` is only an environment identifier and a DBI number (no pointer);
        // its lifetime ties it to the `Env` it came from. We keep the `Env` in the same `Inner`
        // as the handles and never hand a handle out past the `Inner`, so extending the lifetime
        // to 'static never lets a handle outlive its environment.
        let dbs = unsafe {
            Dbs {
                meta: std::mem::transmute::<Database<'_, Str, Bytes>, Database<'static, Str, Bytes>>(
                    dbs.0,
                ),
                schema_versions: std::mem::transmute::<
                    Database<'_, U64<BigEndian>, SerdeJson<SchemaVersionRecord>>,
                    Database<'static, U64<BigEndian>, SerdeJson<SchemaVersionRecord>>,
                >(dbs.1),
                objects: std::mem::transmute::<
                    Database<'_, Bytes, Bytes>,
                    Database<'static, Bytes, Bytes>,
                >(dbs.2),
                tx_log: std::mem::transmute::<
                    Database<'_, U64<BigEndian>, Bytes>,
                    Database<'static, U64<BigEndian>, Bytes>,
                >(dbs.3),
                peers: std::mem::transmute::<
                    Database<'_, U64<BigEndian>, Bytes>,
                    Database<'static, U64<BigEndian>, Bytes>,
                >(dbs.4),
                links: std::mem::transmute::<
                    Database<'_, Bytes, Bytes>,
                    Database<'static, Bytes, Bytes>,
                >(dbs.5),
                users: std::mem::transmute::<Database<'_, Str, Bytes>, Database<'static, Str, Bytes>>(
                    dbs.6,
                ),
                events: std::mem::transmute::<
                    Database<'_, Bytes, Bytes>,
                    Database<'static, Bytes, Bytes>,
                >(dbs.7),
            }
        };

        let (sender, receiver) = mpsc::sync_channel(WRITE_QUEUE_DEPTH);
        let writer_env = env.clone();
        let writer = thread::Builder::new()
            .name("lmdb-writer".into())
            .spawn(move || writer_loop(&writer_env, dbs, max_size, &receiver))
            .map_err(|e| Error::Open {
                path: dir.to_owned(),
                message: format!("cannot start writer thread: {e}"),
            })?;

        let store = Store {
            inner: Arc::new(Inner {
                env,
                dbs,
                path: dir.to_owned(),
                max_size,
                sender: std::sync::Mutex::new(Some(sender)),
                writer: std::sync::Mutex::new(Some(writer)),
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
    pub fn read<R>(&self, f: impl FnOnce(&RoTxn<'_, WithoutTls>, &Dbs) -> Result<R>) -> Result<R> {
        let rtxn = self.inner.env.read_txn().map_err(Error::Lmdb)?;
        f(&rtxn, &self.inner.dbs)
    }

    /// Sends `f` to the writer and waits until the commit that contains it is durable.
    /// `f` runs in its own nested transaction: if it fails, only its own changes are dropped.
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut RwTxn<'_>, &Dbs) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.submit_with(f, move |result| {
            let _ = reply.send(result);
        })?;
        answer.await.map_err(|_| Error::WriterStopped)?
    }

    /// Like [`Store::write`] for code that is not async (start-up, shutdown, tests).
    pub fn write_blocking<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut RwTxn<'_>, &Dbs) -> Result<R> + Send + 'static,
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
        F: FnOnce(&mut RwTxn<'_>, &Dbs) -> Result<R> + Send + 'static,
        C: FnOnce(Result<R>) + Send + 'static,
    {
        let max_size = self.inner.max_size;
        self.submit(Box::new(move |wtxn, dbs| {
            match f(wtxn, dbs).map_err(|e| full_error(e, max_size)) {
                Ok(value) => {
                    Ok(
                        Box::new(move |committed: Result<()>| on_done(committed.map(|()| value)))
                            as Completion,
                    )
                }
                Err(e) => {
                    on_done(Err(e));
                    Err(())
                }
            }
        }))
    }

    /// Stops the writer after it has committed everything queued, and closes the environment
    /// once no other handle is left. Later writes fail with [`Error::WriterStopped`].
    pub fn close(self) {
        let sender = self.inner.sender.lock().ok().and_then(|mut s| s.take());
        drop(sender);
        let writer = self.inner.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        if let Ok(inner) = Arc::try_unwrap(self.inner) {
            let Inner { env, .. } = inner;
            env.prepare_for_closing().wait();
        }
    }

    /// The dataset's identity, written on first open.
    pub fn dataset(&self) -> Result<DatasetInfo> {
        self.read(|rtxn, dbs| {
            let id = dbs
                .meta
                .get(rtxn, meta_key::DATASET_ID)
                .map_err(Error::Lmdb)?
                .map(hex::encode);
            let created = dbs
                .meta
                .get(rtxn, meta_key::CREATED_MS)
                .map_err(Error::Lmdb)?
                .map(decode_u64);
            match (id, created) {
                (Some(id), Some(Ok(created_ms))) => Ok(DatasetInfo { id, created_ms }),
                _ => Err(Error::Corrupt {
                    what: "meta".into(),
                    message: "dataset id or creation time missing".into(),
                }),
            }
        })
    }

    /// The current schema version id, if any schema was stored yet.
    pub fn current_schema_version(&self) -> Result<Option<u64>> {
        self.read(|rtxn, dbs| {
            dbs.meta
                .get(rtxn, meta_key::CURRENT_SCHEMA)
                .map_err(Error::Lmdb)?
                .map(decode_u64)
                .transpose()
        })
    }

    /// All schema versions, oldest first.
    pub fn schema_versions(&self) -> Result<Vec<SchemaVersionRecord>> {
        self.read(|rtxn, dbs| {
            let iter = dbs.schema_versions.iter(rtxn).map_err(Error::Lmdb)?;
            iter.map(|entry| entry.map(|(_, v)| v).map_err(Error::Lmdb))
                .collect()
        })
    }

    /// One schema version.
    pub fn schema_version(&self, id: u64) -> Result<Option<SchemaVersionRecord>> {
        self.read(|rtxn, dbs| dbs.schema_versions.get(rtxn, &id).map_err(Error::Lmdb))
    }

    /// Number of objects stored for the entity with this UID.
    pub fn object_count(&self, entity_uid: u64) -> Result<u64> {
        self.read(|rtxn, dbs| {
            let mut count = 0;
            for entry in dbs
                .objects
                .prefix_iter(rtxn, &entity_uid.to_be_bytes())
                .map_err(Error::Lmdb)?
            {
                entry.map_err(Error::Lmdb)?;
                count += 1;
            }
            Ok(count)
        })
    }

    /// One object's stored bytes.
    pub fn object(&self, entity_uid: u64, id: GlobalId) -> Result<Option<Vec<u8>>> {
        self.read(|rtxn, dbs| {
            Ok(dbs
                .objects
                .get(rtxn, &object_key(entity_uid, id))
                .map_err(Error::Lmdb)?
                .map(<[u8]>::to_vec))
        })
    }

    /// The newest seq ever assigned and the oldest seq still retained (`None` if the log is
    /// empty, e.g. after pruning everything or before the first transaction).
    pub fn log_bounds(&self) -> Result<(u64, Option<u64>)> {
        self.read(|rtxn, dbs| {
            let head = read_u64(rtxn, dbs, meta_key::LOG_HEAD)?;
            let oldest = dbs
                .tx_log
                .first(rtxn)
                .map_err(Error::Lmdb)?
                .map(|(seq, _)| seq);
            Ok((head, oldest))
        })
    }

    /// Retained log entries with `seq >= from`, in order, at most `max_count` of them and
    /// stopping after the one that reaches `max_bytes`.
    pub fn read_log(
        &self,
        from: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<LogRecord>> {
        self.read(|rtxn, dbs| {
            let mut out = Vec::new();
            let mut bytes = 0;
            for entry in dbs.tx_log.range(rtxn, &(from..)).map_err(Error::Lmdb)? {
                let (seq, raw) = entry.map_err(Error::Lmdb)?;
                bytes += raw.len();
                out.push(decode_record(seq, raw)?);
                if out.len() >= max_count || bytes >= max_bytes {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// Checks the retained log: every entry's hash chains from the previous one (the first
    /// retained entry is trusted as the anchor, unless it is seq 1, which chains from 16 zero
    /// bytes), seqs have no gaps, the newest entry is the head and the stored size is the sum
    /// of the entries. Returns the number of entries checked.
    pub fn verify_log_chain(&self) -> Result<u64> {
        self.read(|rtxn, dbs| {
            let corrupt = |seq: u64, message: String| Error::Corrupt {
                what: format!("tx-log {seq}"),
                message,
            };
            let mut previous: Option<LogRecord> = None;
            let mut count = 0;
            let mut bytes = 0;
            for entry in dbs.tx_log.iter(rtxn).map_err(Error::Lmdb)? {
                let (seq, raw) = entry.map_err(Error::Lmdb)?;
                let record = decode_record(seq, raw)?;
                if record.seq != seq {
                    return Err(corrupt(seq, format!("stored as seq {}", record.seq)));
                }
                let prev_hash = match &previous {
                    Some(prev) if seq != prev.seq + 1 => {
                        return Err(corrupt(seq, format!("gap after seq {}", prev.seq)));
                    }
                    Some(prev) => Some(prev.hash.as_slice()),
                    None if seq == 1 => Some(&[0; 16][..]),
                    None => None,
                };
                if prev_hash.is_some_and(|prev| chain_hash(prev, &record) != record.hash) {
                    return Err(corrupt(
                        seq,
                        "hash does not chain from the previous entry".into(),
                    ));
                }
                bytes += raw.len() as u64;
                previous = Some(record);
                count += 1;
            }
            let head = read_u64(rtxn, dbs, meta_key::LOG_HEAD)?;
            let newest = previous.map_or(0, |r| r.seq);
            if newest != head {
                return Err(corrupt(
                    newest,
                    format!("the newest entry is not the head {head}"),
                ));
            }
            let stored = read_u64(rtxn, dbs, meta_key::LOG_BYTES)?;
            if stored != bytes {
                return Err(Error::Corrupt {
                    what: format!("meta {}", meta_key::LOG_BYTES),
                    message: format!("{stored}, but the retained entries hold {bytes} bytes"),
                });
            }
            Ok(count)
        })
    }

    /// The log's head seq and the last transaction applied for `peer` (its tx id, 0 if none),
    /// read in one transaction so that they agree.
    pub fn head_and_peer(&self, peer: u64) -> Result<(u64, u64)> {
        self.read(|rtxn, dbs| {
            let head = read_u64(rtxn, dbs, meta_key::LOG_HEAD)?;
            let tx = read_peer(rtxn, dbs, peer)?.map_or(0, |(tx, _)| tx);
            Ok((head, tx))
        })
    }

    /// The last client transaction applied for a peer, and the seq it got.
    pub fn peer_state(&self, peer: u64) -> Result<Option<(u64, u64)>> {
        self.read(|rtxn, dbs| read_peer(rtxn, dbs, peer))
    }

    /// Up to `max_bytes` of stored objects (and then links) after `after` (exclusive), for a
    /// full sync done in short read transactions. Returns the items and the cursor to continue
    /// from, `None` when done.
    pub fn snapshot_chunk(
        &self,
        after: Option<SnapshotCursor>,
        max_bytes: usize,
    ) -> Result<(Vec<SnapshotItem>, Option<SnapshotCursor>)> {
        self.read(|rtxn, dbs| {
            let mut items = Vec::new();
            let mut bytes = 0;
            let (in_links, start) = match &after {
                None => (false, None),
                Some(SnapshotCursor::Objects(key)) => (false, Some(key.clone())),
                Some(SnapshotCursor::Links(key)) => (true, Some(key.clone())),
            };
            if !in_links {
                let lower = match &start {
                    None => std::ops::Bound::Unbounded,
                    Some(key) => std::ops::Bound::Excluded(key.as_slice()),
                };
                let iter = dbs
                    .objects
                    .range(rtxn, &(lower, std::ops::Bound::Unbounded))
                    .map_err(Error::Lmdb)?;
                for entry in iter {
                    let (key, value) = entry.map_err(Error::Lmdb)?;
                    let Some((entity_uid, id)) = parse_object_key(key) else {
                        continue;
                    };
                    bytes += value.len() + 24;
                    items.push(SnapshotItem::Object {
                        entity_uid,
                        id,
                        props: value.to_vec(),
                    });
                    if bytes >= max_bytes {
                        return Ok((items, Some(SnapshotCursor::Objects(key.to_vec()))));
                    }
                }
            }
            let link_start = if in_links { start } else { None };
            let lower = match &link_start {
                None => std::ops::Bound::Unbounded,
                Some(key) => std::ops::Bound::Excluded(key.as_slice()),
            };
            let iter = dbs
                .links
                .range(rtxn, &(lower, std::ops::Bound::Unbounded))
                .map_err(Error::Lmdb)?;
            for entry in iter {
                let (key, _) = entry.map_err(Error::Lmdb)?;
                let Some((relation_uid, source, target)) = parse_link_key(key) else {
                    continue;
                };
                bytes += 40;
                items.push(SnapshotItem::Link {
                    relation_uid,
                    source,
                    target,
                });
                if bytes >= max_bytes {
                    return Ok((items, Some(SnapshotCursor::Links(key.to_vec()))));
                }
            }
            Ok((items, None))
        })
    }

    /// One page of an entity's objects in id order (skipping `offset`), and the entity's total.
    #[allow(clippy::type_complexity)] // Ids with stored bytes, and a count.
    pub fn objects_page(
        &self,
        entity_uid: u64,
        offset: u64,
        limit: usize,
    ) -> Result<(Vec<(GlobalId, Vec<u8>)>, u64)> {
        self.read(|rtxn, dbs| {
            let mut page = Vec::new();
            let mut total = 0;
            for entry in dbs
                .objects
                .prefix_iter(rtxn, &entity_uid.to_be_bytes())
                .map_err(Error::Lmdb)?
            {
                let (key, value) = entry.map_err(Error::Lmdb)?;
                if total >= offset
                    && page.len() < limit
                    && let Some((_, id)) = parse_object_key(key)
                {
                    page.push((id, value.to_vec()));
                }
                total += 1;
            }
            Ok((page, total))
        })
    }

    /// Up to `max_bytes` of objects after the object key `after` (exclusive), of one entity or
    /// of all, in key order, for exports done in short read transactions. Returns the items
    /// (entity UID, id, stored bytes) and the key to continue after, `None` when done.
    #[allow(clippy::type_complexity)] // A plain tuple list; a struct would only rename it.
    pub fn objects_chunk(
        &self,
        entity_uid: Option<u64>,
        after: Option<&[u8]>,
        max_bytes: usize,
    ) -> Result<(Vec<(u64, GlobalId, Vec<u8>)>, Option<Vec<u8>>)> {
        self.read(|rtxn, dbs| {
            let start = entity_uid.map(u64::to_be_bytes);
            let lower = match (after, &start) {
                (Some(key), _) => std::ops::Bound::Excluded(key),
                (None, Some(prefix)) => std::ops::Bound::Included(prefix.as_slice()),
                (None, None) => std::ops::Bound::Unbounded,
            };
            let iter = dbs
                .objects
                .range(rtxn, &(lower, std::ops::Bound::Unbounded))
                .map_err(Error::Lmdb)?;
            let mut items = Vec::new();
            let mut bytes = 0;
            for entry in iter {
                let (key, value) = entry.map_err(Error::Lmdb)?;
                let Some((uid, id)) = parse_object_key(key) else {
                    continue;
                };
                if entity_uid.is_some_and(|wanted| wanted != uid) {
                    return Ok((items, None));
                }
                bytes += value.len() + 24;
                items.push((uid, id, value.to_vec()));
                if bytes >= max_bytes {
                    return Ok((items, Some(key.to_vec())));
                }
            }
            Ok((items, None))
        })
    }

    /// Retained log entries with their stored size: oldest first from `from` (inclusive), or
    /// newest first below `before` (exclusive; `None` for the head), at most `limit`.
    pub fn log_page(
        &self,
        from: Option<u64>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(LogRecord, usize)>> {
        self.read(|rtxn, dbs| {
            let mut out = Vec::new();
            let mut push = |seq: u64, raw: &[u8]| -> Result<bool> {
                out.push((decode_record(seq, raw)?, raw.len()));
                Ok(out.len() < limit)
            };
            if let Some(from) = from {
                for entry in dbs.tx_log.range(rtxn, &(from..)).map_err(Error::Lmdb)? {
                    let (seq, raw) = entry.map_err(Error::Lmdb)?;
                    if !push(seq, raw)? {
                        break;
                    }
                }
            } else {
                let upper = before.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
                let range = (std::ops::Bound::Unbounded, upper);
                for entry in dbs.tx_log.rev_range(rtxn, &range).map_err(Error::Lmdb)? {
                    let (seq, raw) = entry.map_err(Error::Lmdb)?;
                    if !push(seq, raw)? {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    /// One retained log entry and its stored size.
    pub fn log_entry(&self, seq: u64) -> Result<Option<(LogRecord, usize)>> {
        self.read(
            |rtxn, dbs| match dbs.tx_log.get(rtxn, &seq).map_err(Error::Lmdb)? {
                Some(raw) => Ok(Some((decode_record(seq, raw)?, raw.len()))),
                None => Ok(None),
            },
        )
    }

    /// Stored log events newest first, below the key `before` (exclusive), at most `limit`.
    #[allow(clippy::type_complexity)] // Key and value bytes; the `events` module owns both.
    pub fn events_before(
        &self,
        before: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.read(|rtxn, dbs| {
            let upper = before.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
            let range = (std::ops::Bound::Unbounded, upper);
            let mut out = Vec::new();
            for entry in dbs.events.rev_range(rtxn, &range).map_err(Error::Lmdb)? {
                let (key, value) = entry.map_err(Error::Lmdb)?;
                out.push((key.to_vec(), value.to_vec()));
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// A value of the `meta` database.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read(|rtxn, dbs| {
            Ok(dbs
                .meta
                .get(rtxn, key)
                .map_err(Error::Lmdb)?
                .map(<[u8]>::to_vec))
        })
    }

    /// Every `meta` entry whose key starts with `prefix`.
    pub fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.read(|rtxn, dbs| {
            let mut out = Vec::new();
            for entry in dbs.meta.prefix_iter(rtxn, prefix).map_err(Error::Lmdb)? {
                let (key, value) = entry.map_err(Error::Lmdb)?;
                out.push((key.to_owned(), value.to_vec()));
            }
            Ok(out)
        })
    }

    fn submit(&self, job: Job) -> Result<()> {
        let sender = self
            .inner
            .sender
            .lock()
            .map_err(|_| Error::WriterStopped)?
            .clone();
        sender
            .ok_or(Error::WriterStopped)?
            .send(job)
            .map_err(|_| Error::WriterStopped)
    }

    fn init_meta(&self) -> Result<()> {
        let path = self.inner.path.clone();
        self.write_blocking(move |wtxn, dbs| {
            match dbs.meta.get(wtxn, meta_key::FORMAT).map_err(Error::Lmdb)? {
                Some(bytes) => {
                    let found = u32::try_from(decode_u64(bytes)?).unwrap_or(u32::MAX);
                    if found > STORE_FORMAT_VERSION {
                        return Err(Error::UnsupportedFormat {
                            path,
                            found,
                            supported: STORE_FORMAT_VERSION,
                        });
                    }
                }
                None => {
                    let id = uuid::Uuid::new_v4();
                    dbs.meta
                        .put(
                            wtxn,
                            meta_key::FORMAT,
                            &u64::from(STORE_FORMAT_VERSION).to_be_bytes(),
                        )
                        .map_err(Error::Lmdb)?;
                    dbs.meta
                        .put(wtxn, meta_key::DATASET_ID, id.as_bytes())
                        .map_err(Error::Lmdb)?;
                    dbs.meta
                        .put(wtxn, meta_key::CREATED_MS, &now_ms().to_be_bytes())
                        .map_err(Error::Lmdb)?;
                }
            }
            Ok(())
        })
        .map_err(|e| match e {
            Error::Lmdb(e) => open_error(&self.inner.path, e),
            other => other,
        })
    }
}

/// Writes done inside a write transaction. Kept as free functions over `&mut RwTxn` so that a
/// caller composes several in one atomic request.
pub mod write {
    use super::*;

    /// Stores a schema version record under its id.
    pub fn put_schema_version(
        wtxn: &mut RwTxn<'_>,
        dbs: &Dbs,
        record: &SchemaVersionRecord,
    ) -> Result<()> {
        dbs.schema_versions
            .put(wtxn, &record.id, record)
            .map_err(Error::Lmdb)
    }

    /// Makes `id` the current schema version.
    pub fn set_current_schema_version(wtxn: &mut RwTxn<'_>, dbs: &Dbs, id: u64) -> Result<()> {
        dbs.meta
            .put(wtxn, meta_key::CURRENT_SCHEMA, &id.to_be_bytes())
            .map_err(Error::Lmdb)
    }

    /// A value of the `meta` database, read inside the write transaction.
    pub fn meta(wtxn: &RwTxn<'_>, dbs: &Dbs, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(dbs
            .meta
            .get(wtxn, key)
            .map_err(Error::Lmdb)?
            .map(<[u8]>::to_vec))
    }

    /// Sets a value of the `meta` database (keys other modules own, e.g. trial acceptance).
    pub fn put_meta(wtxn: &mut RwTxn<'_>, dbs: &Dbs, key: &str, value: &[u8]) -> Result<()> {
        dbs.meta.put(wtxn, key, value).map_err(Error::Lmdb)
    }

    /// Removes a value of the `meta` database.
    pub fn delete_meta(wtxn: &mut RwTxn<'_>, dbs: &Dbs, key: &str) -> Result<bool> {
        dbs.meta.delete(wtxn, key).map_err(Error::Lmdb)
    }

    /// Stores a log event and then drops the oldest events beyond `keep`.
    pub fn put_event(
        wtxn: &mut RwTxn<'_>,
        dbs: &Dbs,
        key: &[u8],
        value: &[u8],
        keep: u64,
    ) -> Result<()> {
        dbs.events.put(wtxn, key, value).map_err(Error::Lmdb)?;
        let mut excess = dbs
            .events
            .len(wtxn)
            .map_err(Error::Lmdb)?
            .saturating_sub(keep);
        while excess > 0 {
            let Some(oldest) = dbs
                .events
                .first(wtxn)
                .map_err(Error::Lmdb)?
                .map(|(k, _)| k.to_vec())
            else {
                break;
            };
            dbs.events.delete(wtxn, &oldest).map_err(Error::Lmdb)?;
            excess -= 1;
        }
        Ok(())
    }

    /// Stores an object's bytes.
    pub fn put_object(
        wtxn: &mut RwTxn<'_>,
        dbs: &Dbs,
        entity_uid: u64,
        id: GlobalId,
        bytes: &[u8],
    ) -> Result<()> {
        dbs.objects
            .put(wtxn, &object_key(entity_uid, id), bytes)
            .map_err(Error::Lmdb)
    }

    /// Stores an object only if there is none under its key; returns whether it did. One B-tree
    /// search for a new object, where a lookup and then a put take two.
    pub fn insert_object(
        wtxn: &mut RwTxn<'_>,
        dbs: &Dbs,
        entity_uid: u64,
        id: GlobalId,
        bytes: &[u8],
    ) -> Result<bool> {
        let key = object_key(entity_uid, id);
        match dbs
            .objects
            .put_with_flags(wtxn, heed::PutFlags::NO_OVERWRITE, &key, bytes)
        {
            Ok(()) => Ok(true),
            Err(heed::Error::Mdb(heed::MdbError::KeyExist)) => Ok(false),
            Err(e) => Err(Error::Lmdb(e)),
        }
    }

    /// Removes an object; returns whether it existed.
    pub fn remove_object(
        wtxn: &mut RwTxn<'_>,
        dbs: &Dbs,
        entity_uid: u64,
        id: GlobalId,
    ) -> Result<bool> {
        dbs.objects
            .delete(wtxn, &object_key(entity_uid, id))
            .map_err(Error::Lmdb)
    }

    /// Removes every object of an entity (used when a model update retires the entity).
    pub fn remove_entity_objects(wtxn: &mut RwTxn<'_>, dbs: &Dbs, entity_uid: u64) -> Result<u64> {
        let mut removed = 0;
        let mut iter = dbs
            .objects
            .prefix_iter_mut(wtxn, &entity_uid.to_be_bytes())
            .map_err(Error::Lmdb)?;
        while let Some(entry) = iter.next() {
            entry.map_err(Error::Lmdb)?;
            // SAFETY: heed requires that no reference into the database is alive while the
            // cursor deletes; we dropped the entry's borrowed key and value above.
            unsafe { iter.del_current() }.map_err(Error::Lmdb)?;
            removed += 1;
        }
        Ok(removed)
    }
}

/// Log and peer writes, used by the sync hub inside one write request per transaction.
pub mod log {
    use super::*;

    /// The last applied client tx id of a peer and its seq, as seen inside this transaction.
    pub fn peer_state(wtxn: &RwTxn<'_>, dbs: &Dbs, peer: u64) -> Result<Option<(u64, u64)>> {
        read_peer(wtxn, dbs, peer)
    }

    /// Appends a record with the next seq, chaining its hash to the newest entry, and records
    /// the peer's tx id. Returns the stored record.
    pub fn append(
        wtxn: &mut RwTxn<'_>,
        dbs: &Dbs,
        origin: u64,
        client_tx_id: u64,
        ops: Vec<Op>,
        rejected: Vec<(u32, GlobalId)>,
    ) -> Result<LogRecord> {
        let head = read_u64(wtxn, dbs, meta_key::LOG_HEAD)?;
        let prev_hash = match dbs.tx_log.last(wtxn).map_err(Error::Lmdb)? {
            Some((seq, raw)) => match stored_hash(raw) {
                Some(hash) => hash.to_vec(),
                None => decode_record(seq, raw)?.hash,
            },
            None => vec![0; 16],
        };
        let mut record = LogRecord {
            seq: head + 1,
            origin,
            client_tx_id,
            time_ms: now_ms(),
            ops,
            rejected,
            hash: Vec::new(),
        };
        // The operations are encoded once: the hash covers these bytes and the stored record
        // embeds them.
        let corrupt = |message: String| Error::Corrupt {
            what: "tx-log".into(),
            message,
        };
        let ops_raw = rmp_serde::to_vec(&record.ops).map_err(|e| corrupt(e.to_string()))?;
        record.hash = chain_hash_of_encoded_ops(&prev_hash, &record, &ops_raw);
        let raw = encode_record(&record, &ops_raw).map_err(corrupt)?;
        dbs.tx_log
            .put(wtxn, &record.seq, &raw)
            .map_err(Error::Lmdb)?;
        dbs.meta
            .put(wtxn, meta_key::LOG_HEAD, &record.seq.to_be_bytes())
            .map_err(Error::Lmdb)?;
        let total = read_u64(wtxn, dbs, meta_key::LOG_BYTES)? + raw.len() as u64;
        dbs.meta
            .put(wtxn, meta_key::LOG_BYTES, &total.to_be_bytes())
            .map_err(Error::Lmdb)?;
        if origin != 0 {
            let mut value = [0; 16];
            value[..8].copy_from_slice(&client_tx_id.to_be_bytes());
            value[8..].copy_from_slice(&record.seq.to_be_bytes());
            dbs.peers.put(wtxn, &origin, &value).map_err(Error::Lmdb)?;
        }
        Ok(record)
    }

    /// Deletes the oldest entries while the retained log is larger than `max_bytes`, down to
    /// `target_bytes`. Returns how many entries were removed.
    pub fn prune(
        wtxn: &mut RwTxn<'_>,
        dbs: &Dbs,
        max_bytes: u64,
        target_bytes: u64,
    ) -> Result<u64> {
        let mut total = read_u64(wtxn, dbs, meta_key::LOG_BYTES)?;
        if total <= max_bytes {
            return Ok(0);
        }
        let mut removed = 0;
        while total > target_bytes {
            let Some((seq, len)) = dbs
                .tx_log
                .first(wtxn)
                .map_err(Error::Lmdb)?
                .map(|(seq, raw)| (seq, raw.len()))
            else {
                break;
            };
            // Keep the newest entry, so the hash chain always has an anchor.
            if Some(seq) == dbs.tx_log.last(wtxn).map_err(Error::Lmdb)?.map(|(s, _)| s) {
                break;
            }
            dbs.tx_log.delete(wtxn, &seq).map_err(Error::Lmdb)?;
            total = total.saturating_sub(len as u64);
            removed += 1;
        }
        dbs.meta
            .put(wtxn, meta_key::LOG_BYTES, &total.to_be_bytes())
            .map_err(Error::Lmdb)?;
        Ok(removed)
    }

    /// Reads an object inside the write transaction (for conflict resolution).
    pub fn object(
        wtxn: &RwTxn<'_>,
        dbs: &Dbs,
        entity_uid: u64,
        id: GlobalId,
    ) -> Result<Option<Vec<u8>>> {
        Ok(dbs
            .objects
            .get(wtxn, &object_key(entity_uid, id))
            .map_err(Error::Lmdb)?
            .map(<[u8]>::to_vec))
    }

    /// Adds a standalone relation link.
    pub fn add_link(
        wtxn: &mut RwTxn<'_>,
        dbs: &Dbs,
        relation_uid: u64,
        source: GlobalId,
        target: GlobalId,
    ) -> Result<()> {
        dbs.links
            .put(wtxn, &link_key(relation_uid, source, target), &[])
            .map_err(Error::Lmdb)
    }

    /// Removes a standalone relation link.
    pub fn remove_link(
        wtxn: &mut RwTxn<'_>,
        dbs: &Dbs,
        relation_uid: u64,
        source: GlobalId,
        target: GlobalId,
    ) -> Result<bool> {
        dbs.links
            .delete(wtxn, &link_key(relation_uid, source, target))
            .map_err(Error::Lmdb)
    }

    /// Removes every link of `relation_uid` whose source is `source`.
    pub fn remove_links_from(
        wtxn: &mut RwTxn<'_>,
        dbs: &Dbs,
        relation_uid: u64,
        source: GlobalId,
    ) -> Result<()> {
        let mut prefix = [0; 24];
        prefix[..8].copy_from_slice(&relation_uid.to_be_bytes());
        prefix[8..16].copy_from_slice(&source.0.to_be_bytes());
        prefix[16..].copy_from_slice(&source.1.to_be_bytes());
        let mut iter = dbs
            .links
            .prefix_iter_mut(wtxn, &prefix)
            .map_err(Error::Lmdb)?;
        while let Some(entry) = iter.next() {
            entry.map_err(Error::Lmdb)?;
            // SAFETY: no reference into the database is held while deleting (see heed's docs).
            unsafe { iter.del_current() }.map_err(Error::Lmdb)?;
        }
        Ok(())
    }
}

/// Where a full sync continues from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotCursor {
    Objects(Vec<u8>),
    Links(Vec<u8>),
}

/// One item of a full-sync snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotItem {
    Object {
        entity_uid: u64,
        id: GlobalId,
        props: Vec<u8>,
    },
    Link {
        relation_uid: u64,
        source: GlobalId,
        target: GlobalId,
    },
}

/// The hash of a log record chained to the previous one: the first 16 bytes of SHA-256 over
/// `prev_hash ‖ seq ‖ origin ‖ client_tx_id ‖ time_ms` (u64 big-endian each) `‖ MessagePack(ops)`.
pub fn chain_hash(prev_hash: &[u8], record: &LogRecord) -> Vec<u8> {
    chain_hash_of_encoded_ops(
        prev_hash,
        record,
        &rmp_serde::to_vec(&record.ops).unwrap_or_default(),
    )
}

/// [`chain_hash`] with `MessagePack(ops)` already encoded.
fn chain_hash_of_encoded_ops(prev_hash: &[u8], record: &LogRecord, ops_raw: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(prev_hash);
    for n in [
        record.seq,
        record.origin,
        record.client_tx_id,
        record.time_ms,
    ] {
        hasher.update(n.to_be_bytes());
    }
    hasher.update(ops_raw);
    hasher.finalize()[..16].to_vec()
}

/// Encodes a record as `rmp_serde::to_vec(record)` does (a 7-element array in field order), but
/// with its operations already encoded as `ops_raw` (`rmp_serde::to_vec(&record.ops)`), so they
/// are not encoded twice. A test checks the bytes against `rmp_serde`.
fn encode_record(record: &LogRecord, ops_raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut raw = Vec::with_capacity(ops_raw.len() + 64 + 16 * record.rejected.len());
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    rmp::encode::write_array_len(&mut raw, 7).map_err(|e| fail(&e))?;
    for n in [
        record.seq,
        record.origin,
        record.client_tx_id,
        record.time_ms,
    ] {
        rmp::encode::write_uint(&mut raw, n).map_err(|e| fail(&e))?;
    }
    raw.extend_from_slice(ops_raw);
    rmp_serde::encode::write(&mut raw, &record.rejected).map_err(|e| fail(&e))?;
    rmp::encode::write_bin(&mut raw, &record.hash).map_err(|e| fail(&e))?;
    Ok(raw)
}

/// The 40-byte key of a standalone relation link.
pub fn link_key(relation_uid: u64, source: GlobalId, target: GlobalId) -> [u8; 40] {
    let mut key = [0; 40];
    key[..8].copy_from_slice(&relation_uid.to_be_bytes());
    key[8..16].copy_from_slice(&source.0.to_be_bytes());
    key[16..24].copy_from_slice(&source.1.to_be_bytes());
    key[24..32].copy_from_slice(&target.0.to_be_bytes());
    key[32..].copy_from_slice(&target.1.to_be_bytes());
    key
}

fn parse_link_key(key: &[u8]) -> Option<(u64, GlobalId, GlobalId)> {
    let part = |i: usize| {
        key.get(i..i + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    };
    if key.len() != 40 {
        return None;
    }
    Some((
        part(0)?,
        GlobalId(part(8)?, part(16)?),
        GlobalId(part(24)?, part(32)?),
    ))
}

/// The hash of an encoded [`LogRecord`] without decoding it: the record is a MessagePack array
/// whose last element is the 16-byte hash (`bin8` marker 0xc4, length 16). Appending reads the
/// previous entry's hash this way, so it does not decode every operation of a large entry again.
/// `None` if the bytes do not end that way (the caller then decodes the record).
fn stored_hash(raw: &[u8]) -> Option<&[u8]> {
    let tail = raw.len().checked_sub(18).map(|start| &raw[start..])?;
    (tail[0] == 0xc4 && tail[1] == 16).then(|| &tail[2..])
}

fn decode_record(seq: u64, raw: &[u8]) -> Result<LogRecord> {
    rmp_serde::from_slice(raw).map_err(|e| Error::Corrupt {
        what: format!("tx-log {seq}"),
        message: e.to_string(),
    })
}

fn read_u64(txn: &RoTxn<'_>, dbs: &Dbs, key: &str) -> Result<u64> {
    dbs.meta
        .get(txn, key)
        .map_err(Error::Lmdb)?
        .map_or(Ok(0), decode_u64)
}

fn read_peer(txn: &RoTxn<'_>, dbs: &Dbs, peer: u64) -> Result<Option<(u64, u64)>> {
    let Some(raw) = dbs.peers.get(txn, &peer).map_err(Error::Lmdb)? else {
        return Ok(None);
    };
    if raw.len() != 16 {
        return Err(Error::Corrupt {
            what: format!("peer {peer:x}"),
            message: format!("{} bytes", raw.len()),
        });
    }
    Ok(Some((decode_u64(&raw[..8])?, decode_u64(&raw[8..])?)))
}

/// The 24-byte key of an object: entity UID, then the object's global id (origin peer, origin
/// local id), all big-endian so that an entity's objects are contiguous and ordered by id.
pub fn object_key(entity_uid: u64, id: GlobalId) -> [u8; 24] {
    let mut key = [0; 24];
    key[..8].copy_from_slice(&entity_uid.to_be_bytes());
    key[8..16].copy_from_slice(&id.0.to_be_bytes());
    key[16..].copy_from_slice(&id.1.to_be_bytes());
    key
}

/// Splits an object key into entity UID and global id.
pub fn parse_object_key(key: &[u8]) -> Option<(u64, GlobalId)> {
    let part = |range: std::ops::Range<usize>| {
        key.get(range)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    };
    if key.len() != 24 {
        return None;
    }
    Some((part(0..8)?, GlobalId(part(8..16)?, part(16..24)?)))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// What the writer calls once the commit holding a request is durable (or failed).
type Completion = Box<dyn FnOnce(Result<()>) + Send>;

/// A write request: runs inside a nested transaction; `Err(())` means it failed, has already
/// answered its caller, and its nested transaction must be aborted.
type Job = Box<dyn FnOnce(&mut RwTxn<'_>, &Dbs) -> std::result::Result<Completion, ()> + Send>;

struct Inner {
    env: Env<WithoutTls>,
    dbs: Dbs,
    path: PathBuf,
    max_size: u64,
    /// The writer's request queue. `None` after `close`; dropping the last sender stops the
    /// writer once it has drained the queue.
    sender: std::sync::Mutex<Option<mpsc::SyncSender<Job>>>,
    writer: std::sync::Mutex<Option<thread::JoinHandle<()>>>,
}

/// The writer thread: owns every write transaction. Takes one request, then whatever else is
/// already queued, runs them in one transaction and commits once.
fn writer_loop(env: &Env<WithoutTls>, dbs: Dbs, max_size: u64, receiver: &mpsc::Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_REQUESTS_PER_COMMIT {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut wtxn = match env.write_txn() {
            Ok(wtxn) => wtxn,
            Err(e) => {
                tracing::error!(target: "Store", "cannot begin write transaction: {e}");
                // The requests cannot run without a transaction; dropping them drops their reply
                // channels, which their callers see as `WriterStopped`.
                tracing::error!(target: "Store", "dropping {} write requests", batch.len());
                continue;
            }
        };
        let mut completions = Vec::with_capacity(batch.len());
        for job in batch {
            let mut nested = match env.nested_write_txn(&mut wtxn) {
                Ok(nested) => nested,
                Err(e) => {
                    tracing::error!(target: "Store", "cannot begin nested write transaction: {e}");
                    continue;
                }
            };
            if let Ok(completion) = job(&mut nested, &dbs) {
                match nested.commit() {
                    Ok(()) => completions.push(completion),
                    Err(e) => completion(Err(map_write_error(e, max_size))),
                }
            }
            // A failed job's nested transaction is aborted when `nested` drops here.
        }
        let committed = wtxn.commit().map_err(|e| map_write_error(e, max_size));
        match &committed {
            // Every request of the batch hears of it; the sync hub logs full storage once a
            // minute, so a full disk does not log once per commit.
            Err(e @ (Error::Full { .. } | Error::DiskFull { .. })) => {
                tracing::debug!(target: "Store", "commit failed: {e}");
            }
            Err(e) => tracing::error!(target: "Store", "commit failed: {e}"),
            Ok(()) => {}
        }
        for completion in completions {
            let result = match &committed {
                Ok(()) => Ok(()),
                Err(Error::Full { max_size }) => Err(Error::Full {
                    max_size: *max_size,
                }),
                Err(Error::DiskFull { message }) => Err(Error::DiskFull {
                    message: message.clone(),
                }),
                Err(e) => Err(Error::Corrupt {
                    what: "commit".into(),
                    message: e.to_string(),
                }),
            };
            completion(result);
        }
    }
}

fn map_write_error(e: heed::Error, max_size: u64) -> Error {
    full_error(Error::Lmdb(e), max_size)
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

fn decode_u64(bytes: &[u8]) -> Result<u64> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| Error::Corrupt {
        what: "meta".into(),
        message: format!("expected 8 bytes, found {}", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(array))
}

#[cfg(test)]
mod tests;
