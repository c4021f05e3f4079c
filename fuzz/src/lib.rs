//! What the fuzz targets share: the fixture models and generators of protocol messages.
//!
//! The generators build messages from fuzzer bytes with [`arbitrary::Unstructured`], so a target
//! can fuzz a structured message rather than hoping random bytes decode. Codes are drawn mostly
//! from the known ones and sometimes from any `u32`, like a newer peer would send.

use std::sync::LazyLock;

use arbitrary::{Result, Unstructured};
use shared_types::protocol::{
    ApplyTx, ClientMessage, Credential, ErrorCode, GlobalId, JwtKind, Login, LoginCode, Op,
    RequestUpdatesMode, ServerMessage, TxEntry, TxErrorCode, Value,
};
use sync_model::Model;

/// A sync entity with a property of every type (and unsigned and clock variants), a second sync
/// entity as relation target, a local entity and a standalone relation.
pub static ALL_TYPES: LazyLock<Model> =
    LazyLock::new(|| load(include_bytes!("../models/all-types.json")));

/// The model of the examples and of docs/protocol.md (Task, Project).
pub static EXAMPLE: LazyLock<Model> =
    LazyLock::new(|| load(include_bytes!("../../examples/objectbox-model.json")));

/// Most collections stay this small, so that inputs explore shapes rather than sizes.
const MAX_ITEMS: usize = 6;

/// How deep generated values nest (lists and maps of values).
const MAX_DEPTH: u32 = 3;

fn load(bytes: &[u8]) -> Model {
    match Model::from_json(bytes) {
        Ok(loaded) => loaded.model,
        Err(e) => panic!("fuzz fixture model does not load: {e}"),
    }
}

/// A client message of any kind.
pub fn client_message(u: &mut Unstructured<'_>) -> Result<ClientMessage> {
    Ok(match u.int_in_range(0..=4)? {
        0 => ClientMessage::Login(login(u)?),
        1 => ClientMessage::ApplyTx(ApplyTx {
            tx_id: small_or_any(u)?,
            ops: items(u, op)?,
        }),
        2 => ClientMessage::RequestUpdates {
            subscribe: u.arbitrary()?,
        },
        3 => ClientMessage::CancelUpdates,
        _ => ClientMessage::Heartbeat {
            time_ms: u.arbitrary()?,
        },
    })
}

/// A `Login` with any credentials and mode.
pub fn login(u: &mut Unstructured<'_>) -> Result<Login> {
    Ok(Login {
        protocol_version: small_or_any(u)? as u32,
        peer_id: small_or_any(u)?,
        credentials: items(u, credential)?,
        schema_full_hash: u.arbitrary()?,
        schema_base_hash: u.arbitrary()?,
        last_seq: small_or_any(u)?,
        mode: mode(u)?,
        last_tx_id: small_or_any(u)?,
    })
}

/// A server message of any kind.
pub fn server_message(u: &mut Unstructured<'_>) -> Result<ServerMessage> {
    Ok(match u.int_in_range(0..=10)? {
        0 => ServerMessage::Hello {
            min_version: u.arbitrary()?,
            max_version: u.arbitrary()?,
            nonce: u.arbitrary()?,
            server_time_ms: u.arbitrary()?,
        },
        1 => ServerMessage::LoginResult {
            code: LoginCode::from(code(u, &[20, 40, 43, 50, 53, 55, 57, 61, 65])?),
            message: u.arbitrary()?,
            server_time_ms: u.arbitrary()?,
            schema_version: small_or_any(u)?,
            head_seq: small_or_any(u)?,
        },
        2 => ServerMessage::Ack {
            tx_id: small_or_any(u)?,
            seq: small_or_any(u)?,
            corrections: items(u, op)?,
        },
        3 => ServerMessage::TxRejected {
            tx_id: small_or_any(u)?,
            code: TxErrorCode::from(code(u, &[1, 2, 3, 4, 5, 6, 7, 71])?),
            message: u.arbitrary()?,
        },
        4 => ServerMessage::Push {
            txs: items(u, tx_entry)?,
        },
        5 => ServerMessage::FullSyncBegin {
            seq: small_or_any(u)?,
            acked_tx_id: small_or_any(u)?,
        },
        6 => ServerMessage::FullSyncChunk { ops: items(u, op)? },
        7 => ServerMessage::FullSyncEnd {
            seq: small_or_any(u)?,
        },
        8 => ServerMessage::SyncComplete {
            seq: small_or_any(u)?,
        },
        9 => ServerMessage::Heartbeat {
            time_ms: u.arbitrary()?,
        },
        _ => ServerMessage::Error {
            code: ErrorCode::from(code(u, &[1, 2, 3, 4, 5, 6, 7])?),
            message: u.arbitrary()?,
        },
    })
}

/// A log entry with any ops.
pub fn tx_entry(u: &mut Unstructured<'_>) -> Result<TxEntry> {
    Ok(TxEntry {
        seq: small_or_any(u)?,
        origin: small_or_any(u)?,
        time_ms: u.arbitrary()?,
        ops: items(u, op)?,
        tx_id: small_or_any(u)?,
    })
}

/// One operation; entity, property and relation ids are mostly small, so that they often name
/// elements of the fixture models.
pub fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.int_in_range(0..=3)? {
        0 => Op::Put {
            entity: small_or_any(u)? as u32,
            id: global_id(u)?,
            props: items(u, |u| Ok((small_or_any(u)? as u32, value(u, MAX_DEPTH)?)))?,
        },
        1 => Op::Remove {
            entity: small_or_any(u)? as u32,
            id: global_id(u)?,
        },
        2 => Op::RelAdd {
            relation: small_or_any(u)? as u32,
            source: global_id(u)?,
            target: global_id(u)?,
        },
        _ => Op::RelRemove {
            relation: small_or_any(u)? as u32,
            source: global_id(u)?,
            target: global_id(u)?,
        },
    })
}

/// Any value, nesting at most `depth` lists or maps.
pub fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let kinds = if depth == 0 { 5 } else { 7 };
    Ok(match u.int_in_range(0..=kinds)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::Int(u.arbitrary()?),
        3 => Value::Float(u.arbitrary()?),
        4 => Value::String(u.arbitrary()?),
        5 => Value::Bytes(u.arbitrary()?),
        6 => Value::List(items(u, |u| value(u, depth - 1))?),
        _ => Value::Map(items(u, |u| Ok((u.arbitrary()?, value(u, depth - 1)?)))?),
    })
}

/// A request-updates mode.
pub fn mode(u: &mut Unstructured<'_>) -> Result<RequestUpdatesMode> {
    Ok(match u.int_in_range(0..=2)? {
        0 => RequestUpdatesMode::Auto,
        1 => RequestUpdatesMode::AutoNoPushes,
        _ => RequestUpdatesMode::Manual,
    })
}

/// A global id, mostly with small parts.
pub fn global_id(u: &mut Unstructured<'_>) -> Result<GlobalId> {
    Ok(GlobalId(small_or_any(u)?, small_or_any(u)?))
}

/// Up to [`MAX_ITEMS`] items made by `item`.
pub fn items<T>(
    u: &mut Unstructured<'_>,
    mut item: impl FnMut(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let n = u.int_in_range(0..=MAX_ITEMS)?;
    (0..n).map(|_| item(u)).collect()
}

/// Mostly 0 to 15, sometimes any `u64` (ids, sequence numbers, versions).
pub fn small_or_any(u: &mut Unstructured<'_>) -> Result<u64> {
    if u.ratio(3, 4)? {
        Ok(u64::from(u.int_in_range(0u8..=15)?))
    } else {
        u.arbitrary()
    }
}

fn credential(u: &mut Unstructured<'_>) -> Result<Credential> {
    Ok(match u.int_in_range(0..=3)? {
        0 => Credential::None,
        1 => Credential::SharedSecret {
            hmac: u.arbitrary()?,
        },
        2 => Credential::Jwt {
            kind: match u.int_in_range(0..=3)? {
                0 => JwtKind::Id,
                1 => JwtKind::Access,
                2 => JwtKind::Refresh,
                _ => JwtKind::Custom,
            },
            token: u.arbitrary()?,
        },
        _ => Credential::UserPassword {
            user: u.arbitrary()?,
            password: u.arbitrary()?,
        },
    })
}

/// One of the `known` codes, or any `u32`.
fn code(u: &mut Unstructured<'_>, known: &[u32]) -> Result<u32> {
    if u.ratio(3, 4)? {
        u.choose(known).copied()
    } else {
        u.arbitrary()
    }
}
