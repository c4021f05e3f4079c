//! Database names and the key layout (docs/storage.md has the table).

use shared_types::protocol::GlobalId;

/// Names of the LMDB databases inside the environment.
pub mod db_name {
    /// Small keyed values: layout version, dataset id, creation time, current schema version.
    pub const META: &str = "meta";
    /// Schema versions by id (u64 big-endian), each a JSON `SchemaVersionRecord`.
    pub const SCHEMA_VERSIONS: &str = "schema-versions";
    /// Objects by (entity UID, object id), both u64 big-endian.
    pub const OBJECTS: &str = "objects";
    /// The append-only transaction log by sequence number (u64 big-endian), each a MessagePack
    /// `LogRecord`.
    pub const TX_LOG: &str = "tx-log";
    /// Per client peer id (u64 BE): the last applied client tx id and its seq (2 × u64 BE).
    pub const PEERS: &str = "peers";
    /// Standalone relation links: relation UID ‖ source global id ‖ target global id → empty.
    pub const LINKS: &str = "links";
    /// Admin users by name (UTF-8) → JSON record (`crate::users` owns the format).
    pub const USERS: &str = "admin-users";
    /// Log events by key (u64 BE time in ns ‖ u32 BE counter) → JSON record (`crate::events`).
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
    if key.len() != 24 {
        return None;
    }
    Some((part(key, 0)?, GlobalId(part(key, 8)?, part(key, 16)?)))
}

/// The 40-byte key of a standalone relation link.
pub fn link_key(relation_uid: u64, source: GlobalId, target: GlobalId) -> [u8; 40] {
    let mut key = [0; 40];
    key[..24].copy_from_slice(&link_prefix(relation_uid, source));
    key[24..32].copy_from_slice(&target.0.to_be_bytes());
    key[32..].copy_from_slice(&target.1.to_be_bytes());
    key
}

/// The first 24 bytes of the keys of every link of `relation_uid` from `source`.
pub fn link_prefix(relation_uid: u64, source: GlobalId) -> [u8; 24] {
    let mut prefix = [0; 24];
    prefix[..8].copy_from_slice(&relation_uid.to_be_bytes());
    prefix[8..16].copy_from_slice(&source.0.to_be_bytes());
    prefix[16..].copy_from_slice(&source.1.to_be_bytes());
    prefix
}

/// Splits a link key into relation UID, source and target.
pub fn parse_link_key(key: &[u8]) -> Option<(u64, GlobalId, GlobalId)> {
    if key.len() != 40 {
        return None;
    }
    Some((
        part(key, 0)?,
        GlobalId(part(key, 8)?, part(key, 16)?),
        GlobalId(part(key, 24)?, part(key, 32)?),
    ))
}

/// The big-endian u64 at `at`.
fn part(key: &[u8], at: usize) -> Option<u64> {
    key.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
}
