//! Sync protocol v1: every message between a sync client and the server.
//!
//! Transport and framing: one WebSocket connection per client, one binary WebSocket message per
//! protocol message (text frames are a protocol error). Each message is MessagePack: a map with
//! exactly one entry whose key is the message name (e.g. `"Login"`) and whose value is a map of
//! the named fields below. [`encode`] and [`decode_client`]/[`decode_server`] implement this.
//!
//! Message flow:
//! - Server → `Hello` (protocol versions, a fresh nonce, server time) as soon as the socket opens.
//! - Client → `Login` (version, peer id, credentials, schema hashes, last applied `seq`, mode).
//! - Server → `LoginResult` (code, server time, schema version, head `seq`). Not OK: server closes.
//! - Catch-up (modes AUTO and AUTO_NO_PUSHES, or after `RequestUpdates`): the server sends either
//!   the missing transactions as `Push` (delta sync), or, for a client with `last_seq` 0 or older
//!   than the retained history, `FullSyncBegin`, `FullSyncChunk`…, `FullSyncEnd` (full sync);
//!   then `SyncComplete { seq }`.
//! - Live (AUTO, or `RequestUpdates { subscribe: true }`): each transaction committed for another
//!   client arrives as `Push`, in commit order, without waiting for acknowledgements.
//! - Client → `ApplyTx { tx_id, ops }` for each local transaction, in `tx_id` order, pipelined.
//!   Server → `Ack { tx_id, seq }` once it is durable (or `TxRejected` if it is invalid). An
//!   `ApplyTx` whose `tx_id` is not above the last one applied for this peer is a duplicate: it is
//!   acknowledged again and not applied twice.
//! - Both sides send `Heartbeat` periodically; a silent connection is closed.
//!
//! Every message the server sends to one client carries or implies a server `seq`, and the
//! server sends them in increasing `seq` order; a client's position is the last `seq` it applied.

use serde::{Deserialize, Serialize};

pub use crate::value::Value;

/// The protocol version this crate describes.
pub const PROTOCOL_VERSION: u32 = 1;

/// The oldest protocol version a peer of this crate accepts.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Default maximum size of one message in bytes (32 MiB, as ObjectBox).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 32 * 1024 * 1024;

/// Default interval at which each side sends `Heartbeat`, in milliseconds.
pub const HEARTBEAT_INTERVAL_MS: u64 = 15_000;

/// A connection that sent nothing for this long (three heartbeats) is closed, in milliseconds.
pub const IDLE_TIMEOUT_MS: u64 = 45_000;

/// Identifies an object across all peers without coordination: the peer that created it and the
/// id it has in that peer's local store. Encoded as a two-element array `[peer, local]`.
/// Entities flagged `SHARED_GLOBAL_IDS` use `peer = 0` and their id as `local` on every peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GlobalId(pub u64, pub u64);

impl GlobalId {
    pub fn peer(self) -> u64 {
        self.0
    }
    pub fn local(self) -> u64 {
        self.1
    }
}

/// One change inside a transaction. Entities, properties and relations are named by their ID
/// (the number before the colon in the model's `"ID:UID"`), which never changes for a UID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Creates or replaces a whole object. `props` lists `[property id, value]` pairs; the ID
    /// property is not included (the object's id is `id`). Missing properties are null.
    /// To-one relation properties carry the target's [`GlobalId`] as `[peer, local]`.
    Put {
        entity: u32,
        id: GlobalId,
        props: Vec<(u32, Value)>,
    },
    /// Removes an object (and its standalone relations). Removing an absent object is a no-op.
    Remove { entity: u32, id: GlobalId },
    /// Adds a standalone to-many relation link from `source` (of the relation's entity) to `target`.
    RelAdd {
        relation: u32,
        source: GlobalId,
        target: GlobalId,
    },
    /// Removes a standalone to-many relation link.
    RelRemove {
        relation: u32,
        source: GlobalId,
        target: GlobalId,
    },
}

/// One committed transaction, as the server's log holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxEntry {
    /// The server's sequence number for it: 1, 2, 3, … without gaps.
    pub seq: u64,
    /// The peer that sent it (0 for changes made on the server).
    pub origin: u64,
    /// When the server committed it, in ms since the Unix epoch.
    pub time_ms: u64,
    pub ops: Vec<Op>,
    /// In entries sent to the client that sent this transaction: that client's `tx_id`, so the
    /// entry acknowledges it in stream order. Its `ops` are then only the server's current state
    /// of objects whose puts in it lost a conflict (the client has the rest). 0 in all other
    /// entries.
    #[serde(default)]
    pub tx_id: u64,
}

/// What a client asks for after login (ObjectBox's request-updates modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestUpdatesMode {
    /// Nothing until the client sends `RequestUpdates`.
    Manual,
    /// Catch up, then receive live pushes (the default).
    Auto,
    /// Catch up once, no live pushes.
    AutoNoPushes,
}

/// Kinds of JWT a client may present (ObjectBox's four kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtKind {
    Id,
    Access,
    Refresh,
    Custom,
}

/// A credential presented at login. A client may present several; any valid one admits it unless
/// the server requires particular kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Credential {
    /// No credentials; accepted only by a server in `--unsecured-no-authentication` mode.
    None,
    /// Proof of the shared secret without sending it: HMAC-SHA256 with the secret as key over the
    /// `Hello` nonce followed by the peer id as 8 bytes big-endian.
    SharedSecret {
        #[serde(with = "serde_bytes")]
        hmac: Vec<u8>,
    },
    /// A JSON Web Token (compact serialization).
    Jwt { kind: JwtKind, token: String },
    /// An admin user's name and password (server option `--auth-obx-admin`). Send it only over wss.
    UserPassword { user: String, password: String },
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    Login(Login),
    ApplyTx(ApplyTx),
    /// Starts a catch-up now (for MANUAL clients, or to resubscribe); `subscribe` also turns on
    /// live pushes afterwards.
    RequestUpdates {
        subscribe: bool,
    },
    /// Stops live pushes.
    CancelUpdates,
    Heartbeat {
        time_ms: u64,
    },
}

/// The first message a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    /// The protocol version the client speaks.
    pub protocol_version: u32,
    /// A random non-zero id the client chose once and keeps (its "peer id"). At most one
    /// connection per peer id is logged in at a time.
    pub peer_id: u64,
    pub credentials: Vec<Credential>,
    /// The client model's schema hashes, 32 hex characters each (see the server's docs).
    pub schema_full_hash: String,
    pub schema_base_hash: String,
    /// The last server `seq` the client applied; 0 if it never synced.
    pub last_seq: u64,
    pub mode: RequestUpdatesMode,
    /// The highest `tx_id` the client has ever sent (0 if none); informational.
    pub last_tx_id: u64,
}

/// A client transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyTx {
    /// Increases by one for each transaction of this peer, starting at 1; survives restarts.
    pub tx_id: u64,
    pub ops: Vec<Op>,
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    Hello {
        /// Protocol versions the server accepts, inclusive.
        min_version: u32,
        max_version: u32,
        /// 32 random bytes for this connection, used by shared-secret login.
        #[serde(with = "serde_bytes")]
        nonce: Vec<u8>,
        server_time_ms: u64,
    },
    LoginResult {
        code: LoginCode,
        /// Human-readable detail (empty on success).
        message: String,
        server_time_ms: u64,
        /// The server schema version the client was matched to.
        schema_version: u64,
        /// The newest `seq` in the server's log.
        head_seq: u64,
    },
    /// The client transaction `tx_id` is durable as server transaction `seq`.
    /// `corrections` replace objects whose puts lost a conflict, so the client converges.
    Ack {
        tx_id: u64,
        seq: u64,
        corrections: Vec<Op>,
    },
    /// The client transaction was not applied; the client must drop it from its queue.
    TxRejected {
        tx_id: u64,
        code: TxErrorCode,
        message: String,
    },
    /// Committed transactions, in `seq` order.
    Push {
        txs: Vec<TxEntry>,
    },
    /// A full sync starts; the client replaces its synced data with what follows.
    FullSyncBegin {
        seq: u64,
        /// The highest `tx_id` of this client that the server has applied (0 if none). Those
        /// transactions are in the snapshot: the client drops them from its queue before
        /// deciding which objects have pending changes.
        #[serde(default)]
        acked_tx_id: u64,
    },
    /// Part of a full sync: puts of current objects (and relation links).
    FullSyncChunk {
        ops: Vec<Op>,
    },
    /// The full sync is complete; the client's position is now `seq`.
    FullSyncEnd {
        seq: u64,
    },
    /// The client is up to date with the server as of `seq`.
    SyncComplete {
        seq: u64,
    },
    Heartbeat {
        time_ms: u64,
    },
    /// A protocol error; the server closes the connection after sending it.
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Login results. Numbers follow ObjectBox's `OBXSyncCode` where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
#[non_exhaustive]
pub enum LoginCode {
    Ok,
    ReqRejected,
    CredentialsRejected,
    Unknown,
    AuthUnreachable,
    BadVersion,
    UnsupportedDataModel,
    ClientIdTaken,
    TrialExpired,
    /// A code from a newer peer.
    Other(u32),
}

impl From<u32> for LoginCode {
    fn from(v: u32) -> Self {
        match v {
            20 => LoginCode::Ok,
            40 => LoginCode::ReqRejected,
            43 => LoginCode::CredentialsRejected,
            50 => LoginCode::Unknown,
            53 => LoginCode::AuthUnreachable,
            55 => LoginCode::BadVersion,
            57 => LoginCode::UnsupportedDataModel,
            61 => LoginCode::ClientIdTaken,
            65 => LoginCode::TrialExpired,
            other => LoginCode::Other(other),
        }
    }
}

impl From<LoginCode> for u32 {
    fn from(c: LoginCode) -> u32 {
        match c {
            LoginCode::Ok => 20,
            LoginCode::ReqRejected => 40,
            LoginCode::CredentialsRejected => 43,
            LoginCode::Unknown => 50,
            LoginCode::AuthUnreachable => 53,
            LoginCode::BadVersion => 55,
            LoginCode::UnsupportedDataModel => 57,
            LoginCode::ClientIdTaken => 61,
            LoginCode::TrialExpired => 65,
            LoginCode::Other(v) => v,
        }
    }
}

/// Why a transaction was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
#[non_exhaustive]
pub enum TxErrorCode {
    /// The client may not write (ObjectBox `REJECT_TX_NO_PERMISSION` = 1).
    NoPermission,
    /// An entity id that is not a sync-enabled entity of the server's schema.
    UnknownEntity,
    /// A property id the entity does not have.
    UnknownProperty,
    /// A value that does not fit the property's type.
    WrongType,
    /// A relation id the model does not have, or a link of the wrong entity.
    UnknownRelation,
    /// The transaction breaks a unique constraint (ObjectBox `TX_VIOLATED_UNIQUE` = 71).
    ViolatedUnique,
    /// The database is full.
    StorageFull,
    /// The transaction is empty or its `tx_id` is not the next one.
    Invalid,
    /// The transaction has more operations than the server's `maxTxObjects`.
    TooLarge,
    Other(u32),
}

impl From<u32> for TxErrorCode {
    fn from(v: u32) -> Self {
        match v {
            1 => TxErrorCode::NoPermission,
            2 => TxErrorCode::UnknownEntity,
            3 => TxErrorCode::UnknownProperty,
            4 => TxErrorCode::WrongType,
            5 => TxErrorCode::UnknownRelation,
            6 => TxErrorCode::StorageFull,
            7 => TxErrorCode::Invalid,
            8 => TxErrorCode::TooLarge,
            71 => TxErrorCode::ViolatedUnique,
            other => TxErrorCode::Other(other),
        }
    }
}

impl From<TxErrorCode> for u32 {
    fn from(c: TxErrorCode) -> u32 {
        match c {
            TxErrorCode::NoPermission => 1,
            TxErrorCode::UnknownEntity => 2,
            TxErrorCode::UnknownProperty => 3,
            TxErrorCode::WrongType => 4,
            TxErrorCode::UnknownRelation => 5,
            TxErrorCode::StorageFull => 6,
            TxErrorCode::Invalid => 7,
            TxErrorCode::TooLarge => 8,
            TxErrorCode::ViolatedUnique => 71,
            TxErrorCode::Other(v) => v,
        }
    }
}

/// Protocol errors, sent in `Error` just before the server closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not a valid message (bad MessagePack, unknown message, text frame).
    Malformed,
    /// A message that is not allowed in this state (e.g. `ApplyTx` before `Login`).
    UnexpectedMessage,
    /// The message is larger than the server's limit.
    TooLarge,
    /// Nothing received for too long.
    IdleTimeout,
    /// The client could not keep up and must reconnect.
    TooSlow,
    /// The server is shutting down.
    ShuttingDown,
    /// An internal server error ended the connection. Not sent by this server (a failed
    /// transaction gets `TxRejected` instead); reserved for clients of other servers.
    Internal,
    /// A newer login with the same peer id and the same identity took over this session (the
    /// usual case: this connection was already dead). A client that still runs here shares its
    /// peer id with another one; it should stop rather than reconnect.
    Replaced,
    Other(u32),
}

impl From<u32> for ErrorCode {
    fn from(v: u32) -> Self {
        match v {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::UnexpectedMessage,
            3 => ErrorCode::TooLarge,
            4 => ErrorCode::IdleTimeout,
            5 => ErrorCode::TooSlow,
            6 => ErrorCode::ShuttingDown,
            7 => ErrorCode::Internal,
            8 => ErrorCode::Replaced,
            other => ErrorCode::Other(other),
        }
    }
}

impl From<ErrorCode> for u32 {
    fn from(c: ErrorCode) -> u32 {
        match c {
            ErrorCode::Malformed => 1,
            ErrorCode::UnexpectedMessage => 2,
            ErrorCode::TooLarge => 3,
            ErrorCode::IdleTimeout => 4,
            ErrorCode::TooSlow => 5,
            ErrorCode::ShuttingDown => 6,
            ErrorCode::Internal => 7,
            ErrorCode::Replaced => 8,
            ErrorCode::Other(v) => v,
        }
    }
}

/// Why a frame could not be decoded: the path of the field that is wrong (e.g.
/// `ApplyTx.ops[2].Put.id`; empty for the frame as a whole) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed message: {}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

/// How much of the decoder's own message a [`DecodeError`] keeps: it may quote a value from the
/// frame, which the path already locates.
pub const MAX_DECODE_MESSAGE_LEN: usize = 200;

/// Encodes a message (client or server) as one frame.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Serializing our own plain data types into a Vec cannot fail.
    rmp_serde::to_vec_named(message).unwrap_or_default()
}

/// Decodes a frame sent by a client.
pub fn decode_client(frame: &[u8]) -> Result<ClientMessage, DecodeError> {
    decode(frame)
}

/// Decodes a frame sent by the server.
pub fn decode_server(frame: &[u8]) -> Result<ServerMessage, DecodeError> {
    decode(frame)
}

/// Decodes one value, naming the path of the field that does not fit. The path is tracked only
/// when decoding failed: a second pass over the (rare) bad frame keeps the common case fast.
fn decode<'de, T: Deserialize<'de>>(frame: &'de [u8]) -> Result<T, DecodeError> {
    if let Ok(value) = rmp_serde::from_slice(frame) {
        return Ok(value);
    }
    let mut deserializer = rmp_serde::Deserializer::from_read_ref(frame);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let mut message = e.into_inner().to_string();
        if message.len() > MAX_DECODE_MESSAGE_LEN {
            let mut end = MAX_DECODE_MESSAGE_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        DecodeError {
            path: if path == "." { String::new() } else { path },
            message,
        }
    })
}

/// Encodes a value list (an object's `props`) the way the server stores it.
pub fn encode_props(props: &[(u32, Value)]) -> Vec<u8> {
    rmp_serde::to_vec(props).unwrap_or_default()
}

/// Decodes what [`encode_props`] wrote.
pub fn decode_props(bytes: &[u8]) -> Result<Vec<(u32, Value)>, DecodeError> {
    decode(bytes)
}

#[cfg(test)]
mod tests;
