//! The client's local database: objects, id maps, the sync position and the outgoing queue.
//!
//! Every local change to a sync-enabled entity writes the object and appends the `ApplyTx` that
//! carries it to the outgoing queue in the same LMDB write transaction, so the queue never
//! disagrees with the data. Everything received from the server (pushes, full-sync chunks, acks)
//! is applied in one write transaction per message together with the new sync position, so a
//! crash at any point leaves a consistent store that resumes from the last applied `seq`.
//!
//! Ids: objects have local ids (per entity, from 1, never reused). On the wire an object is
//! named by its [`GlobalId`]: objects created here are `GlobalId(peer_id, local_id)`, objects
//! created elsewhere get a fresh local id and a stored mapping, and entities flagged
//! SHARED_GLOBAL_IDS use `GlobalId(0, id)` on every peer. To-one relation values are local ids
//! here and target global ids on the wire.
//!
//! Architecture invariant: only this module names heed. It knows nothing of sockets or the
//! protocol state machine; `engine` decides when to call the `apply_*` functions.
//!
//! Concurrency: unlike the server, a client has few writers (the application and the one sync
//! connection), so each call opens its own short LMDB write transaction and LMDB's writer lock
//! serializes them. Calls block briefly; async callers run them on a blocking thread.

#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use heed::byteorder::BigEndian;
use heed::types::{Bytes, Str, U32, U64, Unit};
use heed::{Database, Env, EnvOpenOptions, RoTxn, RwTxn, WithoutTls};
use serde_json::{Map, Value as Json};
use shared_types::protocol::{
    self as wire, ApplyTx, ClientMessage, GlobalId, Op, TxEntry, Value, decode_props, encode_props,
};
use sync_model::{Entity, Model, PropertyType};
use tokio::sync::watch;

use crate::json;

/// The on-disk layout version written to `meta`.
pub const STORE_FORMAT_VERSION: u64 = 1;

/// The default maximum database size (the LMDB map size): 1 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 1 << 30;

/// Sync clock values (the SYNC_CLOCK property, a hybrid logical clock) hold milliseconds since
/// the Unix epoch shifted left by this many bits, plus a counter in the low bits. Every local
/// put of a sync-enabled entity sets it, above any value issued or received before, so the
/// server's "higher clock wins" orders the writes of each peer even if its clock goes back.
pub const SYNC_CLOCK_LOGICAL_BITS: u32 = 16;

/// Names of the LMDB databases inside the environment.
pub mod db_name {
    /// Small u64 values by name, see [`super::meta_key`].
    pub const META: &str = "meta";
    /// Objects by (entity id u32 BE, local id u64 BE) → `encode_props` of the non-ID properties,
    /// with to-one relations as local ids.
    pub const OBJECTS: &str = "objects";
    /// The next local id to hand out, by entity id (u32 BE) → u64 BE.
    pub const NEXT_IDS: &str = "next-ids";
    /// (entity id u32 BE, peer u64 BE, peer's local id u64 BE) → local id u64 BE, for objects
    /// created by other peers.
    pub const GLOBAL_TO_LOCAL: &str = "global-to-local";
    /// (entity id u32 BE, local id u64 BE) → (peer u64 BE, peer's local id u64 BE); the reverse
    /// of `GLOBAL_TO_LOCAL`. Local ids without an entry are this peer's own objects.
    pub const LOCAL_TO_GLOBAL: &str = "local-to-global";
    /// Standalone relation links: (relation id u32 BE, source local id u64 BE, target local id
    /// u64 BE) → nothing.
    pub const LINKS: &str = "links";
    /// The outgoing queue: tx id (u64 BE) → the encoded `ClientMessage::ApplyTx` frame, exactly
    /// as it is sent.
    pub const QUEUE: &str = "queue";
    /// Acknowledged transactions whose own entry the stream has not reached yet: tx id (u64 BE)
    /// → the seq they were committed at (u64 BE) followed by the encoded `ApplyTx` frame.
    /// Entries of other peers below that seq must not overwrite their objects.
    pub const SETTLING: &str = "settling";
    /// What the running full sync has delivered: `b'o'` ‖ entity id u32 BE ‖ local id u64 BE for
    /// objects, `b'l'` ‖ the `LINKS` key for links → nothing. Synced data not in here when the
    /// full sync ends is no longer on the server.
    pub const FULL_SYNC_SEEN: &str = "full-sync-seen";
}

/// Keys of the `meta` database; every value is a u64 big-endian.
pub mod meta_key {
    /// [`super::STORE_FORMAT_VERSION`].
    pub const FORMAT: &str = "format";
    /// This client's random non-zero peer id, created once.
    pub const PEER_ID: &str = "peer-id";
    /// The last server `seq` applied.
    pub const LAST_SEQ: &str = "last-seq";
    /// The tx id the next local transaction gets (starts at 1).
    pub const NEXT_TX_ID: &str = "next-tx-id";
    /// The highest tx id the server acknowledged.
    pub const LAST_ACKED_TX_ID: &str = "last-acked-tx-id";
    /// Present while a full sync is being applied: the `seq` of its `FullSyncBegin`.
    pub const FULL_SYNC_SEQ: &str = "full-sync-seq";
    /// The highest sync clock value issued or received, see [`super::SYNC_CLOCK_LOGICAL_BITS`].
    pub const SYNC_CLOCK: &str = "sync-clock";
}

/// Errors of the local store.
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
        "database layout version {found} in {path} is newer than this client supports ({supported})"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("the model has no entity {0:?}")]
    UnknownEntity(String),
    #[error("entity {entity} has no standalone relation {relation:?}")]
    UnknownRelation { entity: String, relation: String },
    #[error("object id 0 is not valid for {entity}; ids start at 1")]
    IdZero { entity: String },
    #[error(transparent)]
    Json(Box<json::Error>),
    #[error("the database is full: it reached its maximum size of {max_size} bytes")]
    Full { max_size: u64 },
    #[error("stored value under {what} is corrupt: {message}")]
    Corrupt { what: String, message: String },
    #[error("LMDB error: {0}")]
    Lmdb(heed::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<json::Error> for Error {
    fn from(e: json::Error) -> Self {
        Error::Json(Box::new(e))
    }
}

/// The sync bookkeeping of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncState {
    pub peer_id: u64,
    /// The last server `seq` applied (0: never synced, or a full sync is needed).
    pub last_seq: u64,
    /// The highest tx id ever queued (0 if none).
    pub last_tx_id: u64,
    /// The highest tx id the server acknowledged.
    pub last_acked_tx_id: u64,
    /// Transactions waiting for an acknowledgement.
    pub queue_len: u64,
    /// Whether a full sync was begun and not yet ended.
    pub full_sync_in_progress: bool,
}

/// Local ids of the objects of one entity that an applied message put or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub entity_id: u32,
    pub entity: String,
    pub puts: Vec<u64>,
    pub removes: Vec<u64>,
}

/// What applying one server message did to the local data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Per entity, in entity id order; only entities with changes.
    pub changes: Vec<Change>,
    /// Ops skipped: unknown or local-only entities, or objects with newer queued local changes.
    pub skipped_ops: usize,
    /// Transactions ignored because their `seq` was already applied.
    pub duplicate_txs: usize,
}

/// A handle to an open client store. Cheap to clone; the environment closes when the last
/// handle is dropped.
#[derive(Clone)]
pub struct ClientStore {
    inner: Arc<Inner>,
}

impl ClientStore {
    /// Opens (creating if needed) the store in `dir` for `model`, with [`DEFAULT_MAX_SIZE`].
    pub fn open(dir: &Path, model: Model) -> Result<ClientStore> {
        Self::open_with_max_size(dir, model, DEFAULT_MAX_SIZE)
    }

    /// Opens (creating if needed) the store in `dir` with a map of `max_size` bytes. A new store
    /// gets a random non-zero peer id.
    pub fn open_with_max_size(dir: &Path, model: Model, max_size: u64) -> Result<ClientStore> {
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options
            .map_size(usize::try_from(max_size).unwrap_or(usize::MAX))
            .max_dbs(12);
        // SAFETY: heed's `open` is unsafe because LMDB must not be opened twice in one process
        // with the same path (heed checks this and returns `EnvAlreadyOpened`), and because the
        // memory-mapped file must not be modified by other code while open. Only this module
        // opens the environment, and the directory is the client's own.
        let env = unsafe { options.open(dir) }.map_err(|e| open_error(dir, e))?;

        let wtxn = env.write_txn().map_err(|e| open_error(dir, e))?;
        let dbs = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> heed::Result<_> {
                Ok(heed::CommitOrAbort::<_, ()>::Commit((
                    opener.create_database::<Str, U64<BigEndian>>(wtxn, Some(db_name::META))?,
                    opener.create_database::<Bytes, Bytes>(wtxn, Some(db_name::OBJECTS))?,
                    opener.create_database::<U32<BigEndian>, U64<BigEndian>>(
                        wtxn,
                        Some(db_name::NEXT_IDS),
                    )?,
                    opener.create_database::<Bytes, U64<BigEndian>>(
                        wtxn,
                        Some(db_name::GLOBAL_TO_LOCAL),
                    )?,
                    opener.create_database::<Bytes, Bytes>(wtxn, Some(db_name::LOCAL_TO_GLOBAL))?,
                    opener.create_database::<Bytes, Unit>(wtxn, Some(db_name::LINKS))?,
                    opener.create_database::<U64<BigEndian>, Bytes>(wtxn, Some(db_name::QUEUE))?,
                    opener
                        .create_database::<U64<BigEndian>, Bytes>(wtxn, Some(db_name::SETTLING))?,
                    opener.create_database::<Bytes, Unit>(wtxn, Some(db_name::FULL_SYNC_SEEN))?,
                )))
            })
            .map_err(|e| open_error(dir, e))?
            .unwrap_commit();
        // SAFETY: a `Database` is only an environment identifier and a DBI number (no pointer);
        // its lifetime ties it to the `Env` it came from. The `Env` lives in the same `Inner` as
        // the handles and no handle is ever given out past the `Inner`, so extending the
        // lifetime to 'static never lets a handle outlive its environment.
        let dbs = unsafe {
            Dbs {
                meta: extend(dbs.0),
                objects: extend(dbs.1),
                next_ids: extend(dbs.2),
                global_to_local: extend(dbs.3),
                local_to_global: extend(dbs.4),
                links: extend(dbs.5),
                queue: extend(dbs.6),
                settling: extend(dbs.7),
                full_sync_seen: extend(dbs.8),
            }
        };

        let peer_id = init_meta(&env, &dbs, dir, max_size)?;
        let last_tx_id = {
            let rtxn = env.read_txn().map_err(Error::Lmdb)?;
            get_meta(&rtxn, &dbs, meta_key::NEXT_TX_ID)?.unwrap_or(1) - 1
        };
        let (queued, _) = watch::channel(last_tx_id);
        Ok(ClientStore {
            inner: Arc::new(Inner {
                env,
                dbs,
                model,
                peer_id,
                path: dir.to_owned(),
                max_size,
                queued,
            }),
        })
    }

    /// The model this store was opened with.
    pub fn model(&self) -> &Model {
        &self.inner.model
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// This client's peer id: random, non-zero, created with the store.
    pub fn peer_id(&self) -> u64 {
        self.inner.peer_id
    }

    /// Writes an object given as JSON (see [`crate::json`]) and returns its local id: a new
    /// object when the ID property is absent, `null` or 0. For a sync-enabled entity, the put is
    /// queued for the server in the same transaction.
    pub fn put(&self, entity: &str, object: &Json) -> Result<u64> {
        let entity = self.entity(entity)?;
        let (id, props) = json::object_from_json(entity, object)?;
        self.put_values(entity, id, props)
    }

    /// Removes an object; returns whether it existed. Removing a sync-enabled object queues the
    /// remove in the same transaction.
    pub fn remove(&self, entity: &str, id: u64) -> Result<bool> {
        let entity = self.entity(entity)?;
        let (existed, queued) = self.write(|w| {
            if !w.remove_local(entity, id)? {
                return Ok((false, None));
            }
            let queued = if entity.is_sync_enabled() {
                let gid = w.global_of(entity, id)?;
                Some(w.enqueue(vec![Op::Remove {
                    entity: entity.id.id,
                    id: gid,
                }])?)
            } else {
                None
            };
            Ok((true, queued))
        })?;
        self.notify_queued(queued);
        Ok(existed)
    }

    /// Adds a standalone relation link from `source` (an object of `entity`) to `target`.
    pub fn link(&self, entity: &str, relation: &str, source: u64, target: u64) -> Result<()> {
        self.change_link(entity, relation, source, target, true)
    }

    /// Removes a standalone relation link.
    pub fn unlink(&self, entity: &str, relation: &str, source: u64, target: u64) -> Result<()> {
        self.change_link(entity, relation, source, target, false)
    }

    /// Local ids of the targets `source` links to through a standalone relation.
    pub fn linked(&self, entity: &str, relation: &str, source: u64) -> Result<Vec<u64>> {
        let entity = self.entity(entity)?;
        let relation = relation_by_name(entity, relation)?;
        self.read(|rtxn, dbs| {
            let prefix = link_prefix(relation.id.id, source);
            let mut targets = Vec::new();
            for item in dbs.links.prefix_iter(rtxn, &prefix).map_err(Error::Lmdb)? {
                let (key, ()) = item.map_err(Error::Lmdb)?;
                targets.push(be_u64(&key[12..20]));
            }
            Ok(targets)
        })
    }

    /// The object as JSON with every property of the entity, or `None` if absent.
    pub fn get(&self, entity: &str, id: u64) -> Result<Option<Map<String, Json>>> {
        let entity = self.entity(entity)?;
        let props = self.get_values(entity, id)?;
        Ok(props.map(|props| json::object_to_json(entity, id, &props)))
    }

    /// All objects of an entity as JSON, in id order.
    pub fn list(&self, entity: &str) -> Result<Vec<Map<String, Json>>> {
        let entity = self.entity(entity)?;
        self.read(|rtxn, dbs| {
            let mut out = Vec::new();
            let prefix = entity.id.id.to_be_bytes();
            for item in dbs
                .objects
                .prefix_iter(rtxn, &prefix)
                .map_err(Error::Lmdb)?
            {
                let (key, bytes) = item.map_err(Error::Lmdb)?;
                let id = be_u64(&key[4..12]);
                let props = decode_object(entity, id, bytes)?;
                out.push(json::object_to_json(entity, id, &props));
            }
            Ok(out)
        })
    }

    /// The stored values of an object (relations as local ids), or `None` if absent.
    pub fn get_values(&self, entity: &Entity, id: u64) -> Result<Option<Vec<(u32, Value)>>> {
        self.read(|rtxn, dbs| {
            dbs.objects
                .get(rtxn, &object_key(entity.id.id, id))
                .map_err(Error::Lmdb)?
                .map(|bytes| decode_object(entity, id, bytes))
                .transpose()
        })
    }

    /// The entity with this name (ignoring case).
    pub fn entity(&self, name: &str) -> Result<&Entity> {
        self.inner
            .model
            .entity_by_name(name)
            .ok_or_else(|| Error::UnknownEntity(name.to_owned()))
    }

    /// The object's global id as other peers know it.
    pub fn global_id(&self, entity: &Entity, id: u64) -> Result<GlobalId> {
        self.read(|rtxn, dbs| global_of(rtxn, dbs, self.inner.peer_id, entity, id))
    }

    /// Peer id, sync position, tx ids and queue length, read in one transaction.
    pub fn sync_state(&self) -> Result<SyncState> {
        self.read(|rtxn, dbs| {
            Ok(SyncState {
                peer_id: self.inner.peer_id,
                last_seq: get_meta(rtxn, dbs, meta_key::LAST_SEQ)?.unwrap_or(0),
                last_tx_id: get_meta(rtxn, dbs, meta_key::NEXT_TX_ID)?.unwrap_or(1) - 1,
                last_acked_tx_id: get_meta(rtxn, dbs, meta_key::LAST_ACKED_TX_ID)?.unwrap_or(0),
                queue_len: dbs.queue.len(rtxn).map_err(Error::Lmdb)?,
                full_sync_in_progress: get_meta(rtxn, dbs, meta_key::FULL_SYNC_SEQ)?.is_some(),
            })
        })
    }

    /// How many local transactions wait for the server's acknowledgement (0: all sent and acked).
    pub fn outgoing_queue_len(&self) -> Result<u64> {
        self.read(|rtxn, dbs| dbs.queue.len(rtxn).map_err(Error::Lmdb))
    }

    /// The queued transactions with a tx id above `after`, in order, as ready-to-send frames.
    pub fn queued_frames(&self, after: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        self.read(|rtxn, dbs| {
            let mut out = Vec::new();
            let range = (std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded);
            for item in dbs.queue.range(rtxn, &range).map_err(Error::Lmdb)? {
                let (tx_id, frame) = item.map_err(Error::Lmdb)?;
                out.push((tx_id, frame.to_vec()));
            }
            Ok(out)
        })
    }

    /// The queued transactions, decoded, in order.
    pub fn queued_txs(&self) -> Result<Vec<ApplyTx>> {
        self.read(|rtxn, dbs| queued_txs(rtxn, dbs))
    }

    /// A receiver of the highest queued tx id, updated after each commit that queues one.
    pub fn subscribe_queue(&self) -> watch::Receiver<u64> {
        self.inner.queued.subscribe()
    }

    /// Applies pushed server transactions in order, skipping those at or below the last applied
    /// `seq` (duplicates) and the ops of this peer's own transactions (the data already has
    /// them). Puts and removes of objects that queued local transactions still change are
    /// skipped too: the local change reaches the server after them and so wins there as well.
    /// The position moves to the last transaction's `seq`, in the same write transaction.
    pub(crate) fn apply_push(&self, txs: &[TxEntry]) -> Result<Applied> {
        self.write(|w| {
            let mut applied = ChangeSet::default();
            let mut last_seq = w.meta(meta_key::LAST_SEQ)?.unwrap_or(0);
            for tx in txs {
                if tx.seq <= last_seq {
                    applied.duplicate_txs += 1;
                    continue;
                }
                if tx.origin != w.peer_id {
                    let pending = w.pending_objects_at(tx.seq)?;
                    for op in &tx.ops {
                        w.apply_op(op, &mut applied, Some(&pending))?;
                    }
                } else if tx.tx_id > 0 {
                    // Our own transaction, committed at this point of the stream: it is
                    // acknowledged here, so later entries about its objects apply normally.
                    w.dbs
                        .queue
                        .delete_range(w.txn, &(..=tx.tx_id))
                        .map_err(Error::Lmdb)?;
                    w.dbs
                        .settling
                        .delete_range(w.txn, &(..=tx.tx_id))
                        .map_err(Error::Lmdb)?;
                    let acked = w.meta(meta_key::LAST_ACKED_TX_ID)?.unwrap_or(0);
                    w.set_meta(meta_key::LAST_ACKED_TX_ID, acked.max(tx.tx_id))?;
                    let pending = w.pending_objects_at(tx.seq)?;
                    // Its operations, if any, are the server's state of objects whose puts
                    // lost a conflict.
                    for op in &tx.ops {
                        w.apply_op(op, &mut applied, Some(&pending))?;
                    }
                }
                last_seq = tx.seq;
            }
            w.set_meta(meta_key::LAST_SEQ, last_seq)?;
            w.settle_up_to(last_seq)?;
            Ok(applied.finish(w.model))
        })
    }

    /// Starts a full sync: drops the queued and settling transactions the snapshot contains,
    /// resets the position to 0 (so a crash before [`Self::end_full_sync`] leads to a new full
    /// sync) and marks the full sync as running. The local data stays visible meanwhile: chunks
    /// overwrite it, and the end removes what no chunk delivered.
    pub(crate) fn begin_full_sync(&self, seq: u64, acked_tx_id: u64) -> Result<Applied> {
        self.write(|w| {
            // Our transactions the server already applied are in the snapshot: they are not
            // pending any more (their Acks may have been lost with a connection).
            if acked_tx_id > 0 {
                w.dbs
                    .queue
                    .delete_range(w.txn, &(..=acked_tx_id))
                    .map_err(Error::Lmdb)?;
                w.dbs
                    .settling
                    .delete_range(w.txn, &(..=acked_tx_id))
                    .map_err(Error::Lmdb)?;
                let acked = w.meta(meta_key::LAST_ACKED_TX_ID)?.unwrap_or(0);
                w.set_meta(meta_key::LAST_ACKED_TX_ID, acked.max(acked_tx_id))?;
            }
            // Marks of an earlier, interrupted full sync describe another snapshot.
            w.dbs.full_sync_seen.clear(w.txn).map_err(Error::Lmdb)?;
            w.set_meta(meta_key::LAST_SEQ, 0)?;
            w.set_meta(meta_key::FULL_SYNC_SEQ, seq)?;
            Ok(Applied::default())
        })
    }

    /// Applies one full-sync chunk: puts of current server objects and links, each marked as
    /// delivered. Puts of objects that queued transactions change are skipped: the local version
    /// stays.
    pub(crate) fn apply_full_sync_chunk(&self, ops: &[Op]) -> Result<Applied> {
        self.write(|w| {
            let mut applied = ChangeSet::default();
            let pending = w.pending_objects()?;
            for op in ops {
                w.apply_op(op, &mut applied, Some(&pending))?;
                w.mark_delivered(op)?;
            }
            Ok(applied.finish(w.model))
        })
    }

    /// Ends a full sync: removes the synced objects and links that no chunk delivered (the
    /// server no longer has them), except objects that queued transactions, or acknowledged ones
    /// the stream has not reached, change; re-applies the queued local transactions on top of
    /// the server's data (this restores their relation links) and sets the position to `seq`.
    pub(crate) fn end_full_sync(&self, seq: u64) -> Result<Applied> {
        self.write(|w| {
            let mut applied = ChangeSet::default();
            w.remove_undelivered(seq, &mut applied)?;
            w.reapply_queue(&mut applied, None)?;
            w.set_meta(meta_key::LAST_SEQ, seq)?;
            w.settle_up_to(seq)?;
            w.delete_meta(meta_key::FULL_SYNC_SEQ)?;
            w.dbs.full_sync_seen.clear(w.txn).map_err(Error::Lmdb)?;
            Ok(applied.finish(w.model))
        })
    }

    /// Handles an acknowledgement: drops queued transactions up to `tx_id`, applies the
    /// server's `corrections` (re-applying still-queued local changes to the corrected objects
    /// on top) and, if `advance_seq`, moves the position to `seq` (never backwards).
    pub(crate) fn apply_ack(
        &self,
        tx_id: u64,
        seq: u64,
        corrections: &[Op],
        advance_seq: bool,
    ) -> Result<Applied> {
        self.write(|w| {
            let mut applied = ChangeSet::default();
            // The Ack can overtake entries of other peers committed before `seq`: keep the
            // transactions' objects protected from those until the stream reaches `seq`.
            let position = w.meta(meta_key::LAST_SEQ)?.unwrap_or(0);
            let acked_frames: Vec<(u64, Vec<u8>)> = w
                .dbs
                .queue
                .range(w.txn, &(..=tx_id))
                .map_err(Error::Lmdb)?
                .map(|item| {
                    item.map(|(id, frame)| (id, frame.to_vec()))
                        .map_err(Error::Lmdb)
                })
                .collect::<Result<_>>()?;
            w.dbs
                .queue
                .delete_range(w.txn, &(..=tx_id))
                .map_err(Error::Lmdb)?;
            if seq > position {
                for (id, frame) in acked_frames {
                    let mut value = seq.to_be_bytes().to_vec();
                    value.extend_from_slice(&frame);
                    w.dbs
                        .settling
                        .put(w.txn, &id, &value)
                        .map_err(Error::Lmdb)?;
                }
            }
            let acked = w.meta(meta_key::LAST_ACKED_TX_ID)?.unwrap_or(0);
            w.set_meta(meta_key::LAST_ACKED_TX_ID, acked.max(tx_id))?;
            if !corrections.is_empty() {
                let mut corrected = HashSet::new();
                for op in corrections {
                    if let Some(target) = op_object(op) {
                        corrected.insert(target);
                    }
                    w.apply_op(op, &mut applied, None)?;
                }
                w.reapply_queue(&mut applied, Some(&corrected))?;
            }
            if advance_seq {
                let last = w.meta(meta_key::LAST_SEQ)?.unwrap_or(0);
                w.set_meta(meta_key::LAST_SEQ, last.max(seq))?;
            }
            Ok(applied.finish(w.model))
        })
    }

    /// Drops a rejected transaction from the queue; returns whether it was queued. Its local
    /// changes stay (the server does not have them).
    pub(crate) fn drop_rejected(&self, tx_id: u64) -> Result<bool> {
        self.write(|w| w.dbs.queue.delete(w.txn, &tx_id).map_err(Error::Lmdb))
    }

    /// Moves the position to `seq` unless it is already there or beyond.
    pub(crate) fn advance_seq(&self, seq: u64) -> Result<()> {
        self.write(|w| {
            let last = w.meta(meta_key::LAST_SEQ)?.unwrap_or(0);
            if seq > last {
                w.set_meta(meta_key::LAST_SEQ, seq)?;
                w.settle_up_to(seq)?;
            }
            Ok(())
        })
    }

    // Helpers below.

    fn put_values(
        &self,
        entity: &Entity,
        id: Option<u64>,
        mut props: Vec<(u32, Value)>,
    ) -> Result<u64> {
        let (id, queued) = self.write(|w| {
            let id = match id {
                Some(id) => {
                    w.reserve_id(entity, id)?;
                    id
                }
                None => w.allocate_id(entity)?,
            };
            if entity.is_sync_enabled()
                && let Some(clock) = entity.sync_clock_property()
            {
                let value = w.tick_clock(entity, clock.id.id, id)?;
                set_prop(&mut props, clock.id.id, Value::Int(value as i64));
            }
            w.put_local(entity, id, &props)?;
            let queued = if entity.is_sync_enabled() {
                let op = Op::Put {
                    entity: entity.id.id,
                    id: w.global_of(entity, id)?,
                    props: w.props_to_wire(entity, &props)?,
                };
                Some(w.enqueue(vec![op])?)
            } else {
                None
            };
            Ok((id, queued))
        })?;
        self.notify_queued(queued);
        Ok(id)
    }

    fn change_link(
        &self,
        entity: &str,
        relation: &str,
        source: u64,
        target: u64,
        add: bool,
    ) -> Result<()> {
        let entity = self.entity(entity)?;
        let relation = relation_by_name(entity, relation)?;
        let target_entity = self
            .inner
            .model
            .entity(relation.target_id.id)
            .ok_or_else(|| {
                Error::UnknownEntity(format!(
                    "#{} (target of {})",
                    relation.target_id.id, relation.name
                ))
            })?;
        let queued = self.write(|w| {
            let key = link_key(relation.id.id, source, target);
            let changed = if add {
                let existed = w.dbs.links.get(w.txn, &key).map_err(Error::Lmdb)?.is_some();
                w.dbs.links.put(w.txn, &key, &()).map_err(Error::Lmdb)?;
                !existed
            } else {
                w.dbs.links.delete(w.txn, &key).map_err(Error::Lmdb)?
            };
            if !changed || !entity.is_sync_enabled() {
                return Ok(None);
            }
            let source = w.global_of(entity, source)?;
            let target = w.global_of(target_entity, target)?;
            let relation = relation.id.id;
            let op = if add {
                Op::RelAdd {
                    relation,
                    source,
                    target,
                }
            } else {
                Op::RelRemove {
                    relation,
                    source,
                    target,
                }
            };
            w.enqueue(vec![op]).map(Some)
        })?;
        self.notify_queued(queued);
        Ok(())
    }

    fn notify_queued(&self, tx_id: Option<u64>) {
        if let Some(tx_id) = tx_id {
            // Sent only after the commit returned, so a receiver always finds the tx queued.
            self.inner.queued.send_replace(tx_id);
        }
    }

    fn read<R>(&self, f: impl FnOnce(&RoTxn<'_, WithoutTls>, &Dbs) -> Result<R>) -> Result<R> {
        let rtxn = self.inner.env.read_txn().map_err(Error::Lmdb)?;
        f(&rtxn, &self.inner.dbs)
    }

    /// Runs `f` in a write transaction and commits only if it succeeds; on error the
    /// transaction is dropped, which aborts it and leaves the store unchanged.
    fn write<R>(&self, f: impl FnOnce(&mut Writer<'_, '_>) -> Result<R>) -> Result<R> {
        let max_size = self.inner.max_size;
        let full = |e: heed::Error| match e {
            heed::Error::Mdb(heed::MdbError::MapFull) => Error::Full { max_size },
            e => Error::Lmdb(e),
        };
        let mut txn = self.inner.env.write_txn().map_err(full)?;
        let mut writer = Writer {
            txn: &mut txn,
            dbs: &self.inner.dbs,
            model: &self.inner.model,
            peer_id: self.inner.peer_id,
        };
        let result = f(&mut writer).map_err(|e| match e {
            Error::Lmdb(e) => full(e),
            e => e,
        })?;
        txn.commit().map_err(full)?;
        Ok(result)
    }
}

/// The typed databases. `'static` because they live exactly as long as the `Env` in the same
/// [`Inner`]; see the SAFETY note in [`ClientStore::open_with_max_size`].
#[derive(Clone, Copy)]
struct Dbs {
    meta: Database<'static, Str, U64<BigEndian>>,
    objects: Database<'static, Bytes, Bytes>,
    next_ids: Database<'static, U32<BigEndian>, U64<BigEndian>>,
    global_to_local: Database<'static, Bytes, U64<BigEndian>>,
    local_to_global: Database<'static, Bytes, Bytes>,
    links: Database<'static, Bytes, Unit>,
    queue: Database<'static, U64<BigEndian>, Bytes>,
    settling: Database<'static, U64<BigEndian>, Bytes>,
    full_sync_seen: Database<'static, Bytes, Unit>,
}

struct Inner {
    env: Env<WithoutTls>,
    dbs: Dbs,
    model: Model,
    peer_id: u64,
    path: PathBuf,
    max_size: u64,
    /// The highest queued tx id. The store holds the sender; `SyncClient`s hold receivers.
    queued: watch::Sender<u64>,
}

/// One write transaction with what its helpers need.
struct Writer<'t, 'e> {
    txn: &'t mut RwTxn<'e>,
    dbs: &'t Dbs,
    model: &'t Model,
    peer_id: u64,
}

impl Writer<'_, '_> {
    fn meta(&self, key: &str) -> Result<Option<u64>> {
        get_meta(self.txn, self.dbs, key)
    }

    fn set_meta(&mut self, key: &str, value: u64) -> Result<()> {
        self.dbs
            .meta
            .put(self.txn, key, &value)
            .map_err(Error::Lmdb)
    }

    fn delete_meta(&mut self, key: &str) -> Result<()> {
        self.dbs
            .meta
            .delete(self.txn, key)
            .map(drop)
            .map_err(Error::Lmdb)
    }

    /// Hands out the next local id of `entity`.
    fn allocate_id(&mut self, entity: &Entity) -> Result<u64> {
        let next = self.next_id(entity)?;
        self.dbs
            .next_ids
            .put(self.txn, &entity.id.id, &(next + 1))
            .map_err(Error::Lmdb)?;
        Ok(next)
    }

    /// Makes sure `id` is never handed out later by [`Self::allocate_id`].
    fn reserve_id(&mut self, entity: &Entity, id: u64) -> Result<()> {
        if id == 0 {
            return Err(Error::IdZero {
                entity: entity.name.clone(),
            });
        }
        if id >= self.next_id(entity)? {
            self.dbs
                .next_ids
                .put(self.txn, &entity.id.id, &id.saturating_add(1))
                .map_err(Error::Lmdb)?;
        }
        Ok(())
    }

    fn next_id(&self, entity: &Entity) -> Result<u64> {
        Ok(self
            .dbs
            .next_ids
            .get(self.txn, &entity.id.id)
            .map_err(Error::Lmdb)?
            .unwrap_or(1))
    }

    fn put_local(&mut self, entity: &Entity, id: u64, props: &[(u32, Value)]) -> Result<()> {
        self.dbs
            .objects
            .put(
                self.txn,
                &object_key(entity.id.id, id),
                &encode_props(props),
            )
            .map_err(Error::Lmdb)
    }

    /// Removes the object and the standalone links it is the source of; returns whether it
    /// existed.
    fn remove_local(&mut self, entity: &Entity, id: u64) -> Result<bool> {
        let existed = self
            .dbs
            .objects
            .delete(self.txn, &object_key(entity.id.id, id))
            .map_err(Error::Lmdb)?;
        for relation in &entity.relations {
            let prefix = link_prefix(relation.id.id, id);
            let keys = self.keys_with_prefix_links(&prefix)?;
            for key in keys {
                self.dbs.links.delete(self.txn, &key).map_err(Error::Lmdb)?;
            }
        }
        Ok(existed)
    }

    fn keys_with_prefix_links(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut keys = Vec::new();
        for item in self
            .dbs
            .links
            .prefix_iter(self.txn, prefix)
            .map_err(Error::Lmdb)?
        {
            keys.push(item.map_err(Error::Lmdb)?.0.to_vec());
        }
        Ok(keys)
    }

    fn global_of(&self, entity: &Entity, id: u64) -> Result<GlobalId> {
        global_of(self.txn, self.dbs, self.peer_id, entity, id)
    }

    /// The local id of a global id, with a new local id and mapping if it is new and
    /// `allocate` is set; `None` if it is unknown and `allocate` is not set.
    fn local_of(&mut self, entity: &Entity, gid: GlobalId, allocate: bool) -> Result<Option<u64>> {
        if entity.has_shared_global_ids() && gid.peer() == 0 || gid.peer() == self.peer_id {
            if allocate {
                self.reserve_id(entity, gid.local())?;
            }
            return Ok(Some(gid.local()));
        }
        let key = global_key(entity.id.id, gid);
        if let Some(local) = self
            .dbs
            .global_to_local
            .get(self.txn, &key)
            .map_err(Error::Lmdb)?
        {
            return Ok(Some(local));
        }
        if !allocate {
            return Ok(None);
        }
        let local = self.allocate_id(entity)?;
        self.dbs
            .global_to_local
            .put(self.txn, &key, &local)
            .map_err(Error::Lmdb)?;
        let mut value = [0u8; 16];
        value[..8].copy_from_slice(&gid.peer().to_be_bytes());
        value[8..].copy_from_slice(&gid.local().to_be_bytes());
        self.dbs
            .local_to_global
            .put(self.txn, &object_key(entity.id.id, local), &value)
            .map_err(Error::Lmdb)?;
        Ok(Some(local))
    }

    /// Local values to wire values: to-one relations become the target's global id.
    fn props_to_wire(&self, entity: &Entity, props: &[(u32, Value)]) -> Result<Vec<(u32, Value)>> {
        let mut out = Vec::with_capacity(props.len());
        for (pid, value) in props {
            let target = entity
                .property(*pid)
                .filter(|p| p.ty == Some(PropertyType::Relation))
                .and_then(|p| p.relation_target.as_deref())
                .and_then(|name| self.model.entity_by_name(name));
            let value = match (target, value) {
                (Some(target), Value::Int(local)) if *local != 0 => {
                    let gid = self.global_of(target, *local as u64)?;
                    gid_value(gid)
                }
                (Some(_), Value::Int(_)) => Value::Null,
                (_, other) => other.clone(),
            };
            out.push((*pid, value));
        }
        Ok(out)
    }

    /// Wire values to local values: relation targets become local ids (allocated if new, so a
    /// target that arrives later gets the same id); unknown properties are dropped.
    fn props_from_wire(
        &mut self,
        entity: &Entity,
        props: &[(u32, Value)],
    ) -> Result<Vec<(u32, Value)>> {
        let mut out = Vec::with_capacity(props.len());
        for (pid, value) in props {
            let Some(property) = entity.property(*pid).filter(|p| !p.is_id()) else {
                continue;
            };
            let target = (property.ty == Some(PropertyType::Relation))
                .then_some(property.relation_target.as_deref())
                .flatten()
                .and_then(|name| self.model.entity_by_name(name));
            let value = match target {
                Some(target) => match value_gid(value) {
                    Some(gid) => match self.local_of(target, gid, true)? {
                        Some(local) => Value::Int(local as i64),
                        None => Value::Null,
                    },
                    None => Value::Null,
                },
                None => value.clone(),
            };
            out.push((*pid, value));
        }
        Ok(out)
    }

    /// The next sync clock value for a local put of object `id`: above every clock this store
    /// has issued or seen (including the object's current one) and at least the wall clock.
    fn tick_clock(&mut self, entity: &Entity, clock: u32, id: u64) -> Result<u64> {
        let current = self
            .dbs
            .objects
            .get(self.txn, &object_key(entity.id.id, id))
            .map_err(Error::Lmdb)?
            .map(|bytes| decode_object(entity, id, bytes))
            .transpose()?
            .map_or(0, |props| clock_of(&props, clock));
        let last = self.meta(meta_key::SYNC_CLOCK)?.unwrap_or(0);
        let next = wall_clock_value()
            .max(last.saturating_add(1))
            .max(current.saturating_add(1));
        self.set_meta(meta_key::SYNC_CLOCK, next)?;
        Ok(next)
    }

    /// Remembers a clock value received from the server, so local puts go beyond it.
    fn observe_clock(&mut self, value: u64) -> Result<()> {
        if value > self.meta(meta_key::SYNC_CLOCK)?.unwrap_or(0) {
            self.set_meta(meta_key::SYNC_CLOCK, value)?;
        }
        Ok(())
    }

    /// Appends a transaction to the outgoing queue and returns its tx id.
    fn enqueue(&mut self, ops: Vec<Op>) -> Result<u64> {
        let tx_id = self.meta(meta_key::NEXT_TX_ID)?.unwrap_or(1);
        self.set_meta(meta_key::NEXT_TX_ID, tx_id + 1)?;
        let frame = wire::encode(&ClientMessage::ApplyTx(ApplyTx { tx_id, ops }));
        self.dbs
            .queue
            .put(self.txn, &tx_id, &frame)
            .map_err(Error::Lmdb)?;
        Ok(tx_id)
    }

    /// (entity id, global id) of every object a queued Put or Remove changes.
    /// Objects an incoming entry committed at `seq` must not touch: those of queued
    /// transactions, and of acknowledged ones committed after `seq`.
    fn pending_objects_at(&self, seq: u64) -> Result<HashSet<(u32, GlobalId)>> {
        let mut out = self.pending_objects()?;
        for item in self.dbs.settling.iter(self.txn).map_err(Error::Lmdb)? {
            let (tx_id, value) = item.map_err(Error::Lmdb)?;
            let (at, frame) = value.split_at(8.min(value.len()));
            if be_u64(at) <= seq {
                continue;
            }
            match wire::decode_client(frame) {
                Ok(ClientMessage::ApplyTx(tx)) => out.extend(tx.ops.iter().filter_map(op_object)),
                _ => {
                    return Err(Error::Corrupt {
                        what: format!("settling tx {tx_id}"),
                        message: "not an ApplyTx frame".into(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Forgets acknowledged transactions the stream has reached (committed at or below `seq`).
    fn settle_up_to(&mut self, seq: u64) -> Result<()> {
        let mut done = Vec::new();
        for item in self.dbs.settling.iter(self.txn).map_err(Error::Lmdb)? {
            let (tx_id, value) = item.map_err(Error::Lmdb)?;
            if value.len() < 8 || be_u64(&value[..8]) <= seq {
                done.push(tx_id);
            }
        }
        for tx_id in done {
            self.dbs
                .settling
                .delete(self.txn, &tx_id)
                .map_err(Error::Lmdb)?;
        }
        Ok(())
    }

    fn pending_objects(&self) -> Result<HashSet<(u32, GlobalId)>> {
        let mut out = HashSet::new();
        for tx in queued_txs(self.txn, self.dbs)? {
            out.extend(tx.ops.iter().filter_map(op_object));
        }
        Ok(out)
    }

    /// Marks what a full-sync op delivered (after [`Self::apply_op`] allocated its local ids).
    fn mark_delivered(&mut self, op: &Op) -> Result<()> {
        let model = self.model;
        let key = match op {
            Op::Put { entity, id, .. } => {
                let Some(entity) = model.entity(*entity).filter(|e| e.is_sync_enabled()) else {
                    return Ok(());
                };
                let Some(local) = self.local_of(entity, *id, false)? else {
                    return Ok(());
                };
                seen_object_key(entity.id.id, local).to_vec()
            }
            Op::RelAdd {
                relation,
                source,
                target,
            } => {
                let Some((entity, relation, target_entity)) = link_relation(model, *relation)
                else {
                    return Ok(());
                };
                let source = self.local_of(entity, *source, false)?.unwrap_or(0);
                let target = self.local_of(target_entity, *target, false)?.unwrap_or(0);
                seen_link_key(&link_key(relation.id.id, source, target)).to_vec()
            }
            Op::Remove { .. } | Op::RelRemove { .. } => return Ok(()),
        };
        self.dbs
            .full_sync_seen
            .put(self.txn, &key, &())
            .map_err(Error::Lmdb)
    }

    /// Removes the synced objects and links the full sync ending at `seq` did not deliver,
    /// except objects that queued transactions or acknowledged ones committed after `seq`
    /// change (their local versions stay, as for chunks).
    fn remove_undelivered(&mut self, seq: u64, applied: &mut ChangeSet) -> Result<()> {
        let pending = self.pending_objects_at(seq)?;
        let model = self.model;
        for entity in model.sync_entities() {
            let prefix = entity.id.id.to_be_bytes();
            let mut ids = Vec::new();
            for item in self
                .dbs
                .objects
                .prefix_iter(self.txn, &prefix)
                .map_err(Error::Lmdb)?
            {
                let (key, _) = item.map_err(Error::Lmdb)?;
                ids.push(be_u64(&key[4..12]));
            }
            for id in ids {
                let delivered = self
                    .dbs
                    .full_sync_seen
                    .get(self.txn, &seen_object_key(entity.id.id, id))
                    .map_err(Error::Lmdb)?
                    .is_some();
                if delivered || pending.contains(&(entity.id.id, self.global_of(entity, id)?)) {
                    continue;
                }
                if self.remove_local(entity, id)? {
                    applied.removed(entity.id.id, id);
                }
            }
            for relation in &entity.relations {
                let links = self.keys_with_prefix_links(&relation.id.id.to_be_bytes())?;
                for key in links {
                    let delivered = self
                        .dbs
                        .full_sync_seen
                        .get(self.txn, &seen_link_key(&key))
                        .map_err(Error::Lmdb)?
                        .is_some();
                    if !delivered {
                        self.dbs.links.delete(self.txn, &key).map_err(Error::Lmdb)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies the queued transactions' ops again (all of them, or only those changing an
    /// object in `only`), as after a full sync or a correction.
    fn reapply_queue(
        &mut self,
        applied: &mut ChangeSet,
        only: Option<&HashSet<(u32, GlobalId)>>,
    ) -> Result<()> {
        for tx in queued_txs(self.txn, self.dbs)? {
            for op in &tx.ops {
                let selected = match (only, op_object(op)) {
                    (None, _) => true,
                    (Some(only), Some(object)) => only.contains(&object),
                    (Some(_), None) => false,
                };
                if selected {
                    self.apply_op(op, applied, None)?;
                }
            }
        }
        Ok(())
    }

    /// Applies one op received from the server. Ops of entities that are unknown or not
    /// sync-enabled here, and puts/removes of objects in `skip`, are counted and skipped.
    fn apply_op(
        &mut self,
        op: &Op,
        applied: &mut ChangeSet,
        skip: Option<&HashSet<(u32, GlobalId)>>,
    ) -> Result<()> {
        if let (Some(skip), Some(object)) = (skip, op_object(op))
            && skip.contains(&object)
        {
            applied.skipped_ops += 1;
            return Ok(());
        }
        let model = self.model;
        match op {
            Op::Put { entity, id, props } => {
                let Some(entity) = model.entity(*entity).filter(|e| e.is_sync_enabled()) else {
                    applied.skipped_ops += 1;
                    return Ok(());
                };
                let Some(local) = self.local_of(entity, *id, true)? else {
                    return Ok(());
                };
                let props = self.props_from_wire(entity, props)?;
                if let Some(clock) = entity.sync_clock_property() {
                    self.observe_clock(clock_of(&props, clock.id.id))?;
                }
                self.put_local(entity, local, &props)?;
                applied.put(entity.id.id, local);
            }
            Op::Remove { entity, id } => {
                let Some(entity) = model.entity(*entity).filter(|e| e.is_sync_enabled()) else {
                    applied.skipped_ops += 1;
                    return Ok(());
                };
                if let Some(local) = self.local_of(entity, *id, false)?
                    && self.remove_local(entity, local)?
                {
                    applied.removed(entity.id.id, local);
                }
            }
            Op::RelAdd {
                relation,
                source,
                target,
            }
            | Op::RelRemove {
                relation,
                source,
                target,
            } => {
                let Some((entity, relation, target_entity)) = link_relation(model, *relation)
                else {
                    applied.skipped_ops += 1;
                    return Ok(());
                };
                let source = self.local_of(entity, *source, true)?.unwrap_or(0);
                let target = self.local_of(target_entity, *target, true)?.unwrap_or(0);
                let key = link_key(relation.id.id, source, target);
                if matches!(op, Op::RelAdd { .. }) {
                    self.dbs
                        .links
                        .put(self.txn, &key, &())
                        .map_err(Error::Lmdb)?;
                } else {
                    self.dbs.links.delete(self.txn, &key).map_err(Error::Lmdb)?;
                }
            }
        }
        Ok(())
    }
}

/// Collects per-entity puts and removes; the last change of an object wins.
#[derive(Default)]
struct ChangeSet {
    by_entity: BTreeMap<u32, (Vec<u64>, Vec<u64>)>,
    skipped_ops: usize,
    duplicate_txs: usize,
}

impl ChangeSet {
    fn put(&mut self, entity: u32, id: u64) {
        let (puts, removes) = self.by_entity.entry(entity).or_default();
        removes.retain(|r| *r != id);
        if !puts.contains(&id) {
            puts.push(id);
        }
    }

    fn removed(&mut self, entity: u32, id: u64) {
        let (puts, removes) = self.by_entity.entry(entity).or_default();
        puts.retain(|p| *p != id);
        if !removes.contains(&id) {
            removes.push(id);
        }
    }

    fn finish(self, model: &Model) -> Applied {
        let changes = self
            .by_entity
            .into_iter()
            .filter(|(_, (puts, removes))| !puts.is_empty() || !removes.is_empty())
            .map(|(entity_id, (puts, removes))| Change {
                entity_id,
                entity: model
                    .entity(entity_id)
                    .map_or_else(|| entity_id.to_string(), |e| e.name.clone()),
                puts,
                removes,
            })
            .collect();
        Applied {
            changes,
            skipped_ops: self.skipped_ops,
            duplicate_txs: self.duplicate_txs,
        }
    }
}

/// Extends a database handle's lifetime to `'static`.
///
/// # Safety
/// The caller must keep the `Env` the handle came from alive for as long as the handle is used.
unsafe fn extend<KC, DC>(db: Database<'_, KC, DC>) -> Database<'static, KC, DC> {
    let ptr: *const Database<'_, KC, DC> = &db;
    // SAFETY: only the lifetime parameter differs, so the layout is the same; the handle is
    // `Copy`; the caller upholds the lifetime requirement.
    unsafe { std::ptr::read(ptr.cast::<Database<'static, KC, DC>>()) }
}

/// Writes the format version, peer id and first tx id of a new store, checks the format of an
/// existing one, and returns the peer id.
fn init_meta(env: &Env<WithoutTls>, dbs: &Dbs, dir: &Path, max_size: u64) -> Result<u64> {
    let mut txn = env.write_txn().map_err(Error::Lmdb)?;
    if let Some(found) = get_meta(&txn, dbs, meta_key::FORMAT)?
        && found > STORE_FORMAT_VERSION
    {
        return Err(Error::UnsupportedFormat {
            path: dir.to_owned(),
            found,
            supported: STORE_FORMAT_VERSION,
        });
    }
    let peer_id = match get_meta(&txn, dbs, meta_key::PEER_ID)? {
        Some(id) if id != 0 => id,
        _ => {
            let id = random_peer_id().map_err(|message| Error::Open {
                path: dir.to_owned(),
                message,
            })?;
            let put = |txn: &mut RwTxn<'_>, key: &str, v: u64| {
                dbs.meta.put(txn, key, &v).map_err(Error::Lmdb)
            };
            put(&mut txn, meta_key::FORMAT, STORE_FORMAT_VERSION)?;
            put(&mut txn, meta_key::PEER_ID, id)?;
            put(&mut txn, meta_key::NEXT_TX_ID, 1)?;
            put(&mut txn, meta_key::LAST_SEQ, 0)?;
            put(&mut txn, meta_key::LAST_ACKED_TX_ID, 0)?;
            id
        }
    };
    txn.commit().map_err(|e| match e {
        heed::Error::Mdb(heed::MdbError::MapFull) => Error::Full { max_size },
        e => Error::Lmdb(e),
    })?;
    Ok(peer_id)
}

fn random_peer_id() -> std::result::Result<u64, String> {
    loop {
        let id = getrandom::u64().map_err(|e| format!("no random source for the peer id: {e}"))?;
        if id != 0 {
            return Ok(id);
        }
    }
}

fn get_meta(txn: &RoTxn<'_>, dbs: &Dbs, key: &str) -> Result<Option<u64>> {
    dbs.meta.get(txn, key).map_err(Error::Lmdb)
}

fn global_of(
    txn: &RoTxn<'_>,
    dbs: &Dbs,
    peer_id: u64,
    entity: &Entity,
    id: u64,
) -> Result<GlobalId> {
    if entity.has_shared_global_ids() {
        return Ok(GlobalId(0, id));
    }
    match dbs
        .local_to_global
        .get(txn, &object_key(entity.id.id, id))
        .map_err(Error::Lmdb)?
    {
        Some(bytes) if bytes.len() == 16 => Ok(GlobalId(be_u64(&bytes[..8]), be_u64(&bytes[8..]))),
        Some(bytes) => Err(Error::Corrupt {
            what: format!("{} {id} in {}", entity.name, db_name::LOCAL_TO_GLOBAL),
            message: format!("expected 16 bytes, found {}", bytes.len()),
        }),
        None => Ok(GlobalId(peer_id, id)),
    }
}

fn queued_txs(txn: &RoTxn<'_>, dbs: &Dbs) -> Result<Vec<ApplyTx>> {
    let mut out = Vec::new();
    for item in dbs.queue.iter(txn).map_err(Error::Lmdb)? {
        let (tx_id, frame) = item.map_err(Error::Lmdb)?;
        match wire::decode_client(frame) {
            Ok(ClientMessage::ApplyTx(tx)) => out.push(tx),
            Ok(other) => {
                return Err(Error::Corrupt {
                    what: format!("queued tx {tx_id}"),
                    message: format!("not an ApplyTx: {other:?}"),
                });
            }
            Err(e) => {
                return Err(Error::Corrupt {
                    what: format!("queued tx {tx_id}"),
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

fn decode_object(entity: &Entity, id: u64, bytes: &[u8]) -> Result<Vec<(u32, Value)>> {
    decode_props(bytes).map_err(|e| Error::Corrupt {
        what: format!("{} {id}", entity.name),
        message: e.to_string(),
    })
}

fn relation_by_name<'m>(entity: &'m Entity, name: &str) -> Result<&'m sync_model::Relation> {
    entity
        .relations
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::UnknownRelation {
            entity: entity.name.clone(),
            relation: name.to_owned(),
        })
}

/// The (entity id, global id) a Put or Remove changes.
fn op_object(op: &Op) -> Option<(u32, GlobalId)> {
    match op {
        Op::Put { entity, id, .. } | Op::Remove { entity, id } => Some((*entity, *id)),
        Op::RelAdd { .. } | Op::RelRemove { .. } => None,
    }
}

/// The current wall clock as a sync clock value with a zero counter.
fn wall_clock_value() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    ms.saturating_mul(1 << SYNC_CLOCK_LOGICAL_BITS)
}

/// The sync clock value among `props` (0 if absent or null).
fn clock_of(props: &[(u32, Value)], clock: u32) -> u64 {
    props
        .iter()
        .find(|(pid, _)| *pid == clock)
        .map_or(0, |(_, v)| match v {
            Value::Int(i) => *i as u64,
            _ => 0,
        })
}

/// Replaces (or adds) the value of property `pid`.
fn set_prop(props: &mut Vec<(u32, Value)>, pid: u32, value: Value) {
    match props.iter_mut().find(|(p, _)| *p == pid) {
        Some(slot) => slot.1 = value,
        None => props.push((pid, value)),
    }
}

/// A global id as a relation value: `[peer, local]`.
fn gid_value(gid: GlobalId) -> Value {
    Value::List(vec![
        Value::Int(gid.peer() as i64),
        Value::Int(gid.local() as i64),
    ])
}

/// A relation value as a global id; `None` for null or anything malformed.
fn value_gid(value: &Value) -> Option<GlobalId> {
    match value {
        Value::List(items) => match items.as_slice() {
            [Value::Int(peer), Value::Int(local)] if *local != 0 => {
                Some(GlobalId(*peer as u64, *local as u64))
            }
            _ => None,
        },
        _ => None,
    }
}

fn object_key(entity: u32, id: u64) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&entity.to_be_bytes());
    key[4..].copy_from_slice(&id.to_be_bytes());
    key
}

fn global_key(entity: u32, gid: GlobalId) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..4].copy_from_slice(&entity.to_be_bytes());
    key[4..12].copy_from_slice(&gid.peer().to_be_bytes());
    key[12..].copy_from_slice(&gid.local().to_be_bytes());
    key
}

fn link_prefix(relation: u32, source: u64) -> [u8; 12] {
    object_key(relation, source)
}

fn link_key(relation: u32, source: u64, target: u64) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..12].copy_from_slice(&link_prefix(relation, source));
    key[12..].copy_from_slice(&target.to_be_bytes());
    key
}

/// The full-sync mark of an object, see [`db_name::FULL_SYNC_SEEN`].
fn seen_object_key(entity: u32, id: u64) -> [u8; 13] {
    let mut key = [0u8; 13];
    key[0] = b'o';
    key[1..].copy_from_slice(&object_key(entity, id));
    key
}

/// The full-sync mark of a link (given by its `LINKS` key).
fn seen_link_key(link: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + link.len());
    key.push(b'l');
    key.extend_from_slice(link);
    key
}

/// The sync-enabled entity that owns standalone relation `relation`, the relation and its
/// target entity.
fn link_relation(
    model: &Model,
    relation: u32,
) -> Option<(&Entity, &sync_model::Relation, &Entity)> {
    model
        .entities
        .iter()
        .filter(|e| e.is_sync_enabled())
        .find_map(|e| {
            e.relation(relation)
                .and_then(|r| model.entity(r.target_id.id).map(|t| (e, r, t)))
        })
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    u64::from_be_bytes(buf)
}

fn open_error(dir: &Path, e: heed::Error) -> Error {
    Error::Open {
        path: dir.to_owned(),
        message: e.to_string(),
    }
}
