//! Checking a client transaction against the schema, and applying it with conflict resolution.
//!
//! Validation runs on the connection's task before anything is queued for the writer; applying
//! runs inside the writer's transaction and is a pure function of the stored state and the
//! change: it reads no clock, no random number and no node-local setting, so every node that
//! applies the same changes in the same order writes the same bytes (cluster mode relies on it). Conflicts: by default the last write the server receives
//! wins for the whole object. For an entity with a SYNC_PRECEDENCE and/or SYNC_CLOCK property, an
//! incoming put replaces the stored object only if its precedence is higher, or equal with a higher
//! clock; on a full tie the first write received stays (as ObjectBox documents).

use shared_types::protocol::{GlobalId, Op, TxErrorCode, Value, decode_props, encode_props};

use super::log::{Change, ClientTx};
use crate::model::{Entity, Model, PropertyType, Relation};
use crate::store::{self, LogRecord, Write};

/// A transaction that cannot be applied: the code for the client and a message naming the culprit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: TxErrorCode,
    pub message: String,
}

/// What a change did.
#[derive(Debug)]
pub enum Applied {
    /// Stored as this log record.
    Logged(LogRecord),
    /// The client's transaction was applied before, as `seq`: nothing changed.
    Duplicate { seq: u64 },
}

/// The result of applying a transaction's operations.
#[derive(Debug, Default)]
pub struct AppliedOps {
    /// Operations as applied, to be logged and pushed.
    pub ops: Vec<Op>,
    /// Puts that lost a conflict: (entity id, object id).
    pub rejected: Vec<(u32, GlobalId)>,
}

/// Checks every operation against the model: sync-enabled entity, known properties and relations,
/// values that fit the property types.
pub fn validate(model: &Model, ops: &[Op]) -> Result<(), Invalid> {
    if ops.is_empty() {
        return Err(invalid(
            TxErrorCode::Invalid,
            "the transaction has no operations".into(),
        ));
    }
    for (index, op) in ops.iter().enumerate() {
        match op {
            Op::Put { entity, props, .. } => {
                let entity = sync_entity(model, *entity, index)?;
                for (property_id, value) in props {
                    let Some(property) = entity.property(*property_id) else {
                        return Err(invalid(
                            TxErrorCode::UnknownProperty,
                            format!(
                                "ops[{index}]: entity {} has no property with id {property_id}",
                                entity.name
                            ),
                        ));
                    };
                    if property.is_id() {
                        return Err(invalid(
                            TxErrorCode::UnknownProperty,
                            format!(
                                "ops[{index}]: {}.{} is the ID property; the id goes in the op's id",
                                entity.name, property.name
                            ),
                        ));
                    }
                    let Some(ty) = property.ty else {
                        return Err(invalid(
                            TxErrorCode::WrongType,
                            format!(
                                "ops[{index}]: {}.{} has no type in the model; regenerate the model",
                                entity.name, property.name
                            ),
                        ));
                    };
                    if !fits(ty, value) {
                        return Err(invalid(
                            TxErrorCode::WrongType,
                            format!(
                                "ops[{index}]: {}.{} is {} but got {}",
                                entity.name,
                                property.name,
                                ty.name(),
                                describe(value)
                            ),
                        ));
                    }
                }
            }
            Op::Remove { entity, .. } => {
                sync_entity(model, *entity, index)?;
            }
            Op::RelAdd { relation, .. } | Op::RelRemove { relation, .. } => {
                relation_of(model, *relation).ok_or_else(|| {
                    invalid(TxErrorCode::UnknownRelation, format!("ops[{index}]: no standalone relation with id {relation} in a sync entity"))
                })?;
            }
        }
    }
    Ok(())
}

/// Applies one ordered change inside the writer's transaction: the duplicate rule, then the
/// operations with conflict resolution, then the log entry.
pub fn apply_change(
    w: &mut Write<'_, '_>,
    model: &Model,
    change: Change,
) -> store::Result<Applied> {
    match change {
        Change::ClientTx(tx) => apply_client_tx(w, model, tx),
    }
}

fn apply_client_tx(w: &mut Write<'_, '_>, model: &Model, tx: ClientTx) -> store::Result<Applied> {
    if let Some((last_tx, seq)) = w.read().peer_state(tx.origin)?
        && tx.tx_id <= last_tx
    {
        return Ok(Applied::Duplicate { seq });
    }
    let applied = apply(w, model, tx.ops, tx.known_properties.as_deref())?;
    let record = w.append_log(
        tx.origin,
        tx.tx_id,
        tx.time_ms,
        applied.ops,
        applied.rejected,
    )?;
    Ok(Applied::Logged(record))
}

/// Applies validated operations inside the writer's transaction.
pub fn apply(
    w: &mut Write<'_, '_>,
    model: &Model,
    ops: Vec<Op>,
    known_properties: Option<&std::collections::HashSet<(u32, u32)>>,
) -> store::Result<AppliedOps> {
    let mut applied = AppliedOps::default();
    // Per entity, the properties this client does not know (computed once per transaction, not
    // per put).
    let mut unknown_by_entity: Vec<(u32, Vec<u32>)> = Vec::new();
    for op in ops {
        match &op {
            Op::Put { entity, id, props } => {
                let Some(e) = model.entity(*entity) else {
                    continue;
                };
                let unknown: &[u32] = match known_properties {
                    Some(known) => {
                        let at = match unknown_by_entity.iter().position(|(id, _)| *id == *entity) {
                            Some(at) => at,
                            None => {
                                let unknown = e
                                    .properties
                                    .iter()
                                    .filter(|p| !p.is_id() && !known.contains(&(e.id.id, p.id.id)))
                                    .map(|p| p.id.id)
                                    .collect();
                                unknown_by_entity.push((*entity, unknown));
                                unknown_by_entity.len() - 1
                            }
                        };
                        &unknown_by_entity[at].1
                    }
                    None => &[],
                };
                let has_rules =
                    e.sync_precedence_property().is_some() || e.sync_clock_property().is_some();
                if unknown.is_empty() && has_rules {
                    // A new object (the common case) needs no comparison: insert it directly;
                    // an existing one is compared first.
                    let bytes = encode_props(props);
                    if !w.insert_object(e.id.uid, *id, &bytes)? {
                        if !wins(w, e, *id, props)? {
                            applied.rejected.push((*entity, *id));
                            continue;
                        }
                        w.put_object(e.id.uid, *id, &bytes)?;
                    }
                } else if unknown.is_empty() {
                    w.put_object(e.id.uid, *id, &encode_props(props))?;
                } else {
                    if !wins(w, e, *id, props)? {
                        applied.rejected.push((*entity, *id));
                        continue;
                    }
                    // A client on an older schema replaces only what it knows: keep the values
                    // of properties added in later versions.
                    let stored = w
                        .read()
                        .object(e.id.uid, *id)?
                        .and_then(|b| decode_props(&b).ok())
                        .unwrap_or_default();
                    let mut merged = props.clone();
                    merged.extend(stored.into_iter().filter(|(p, _)| unknown.contains(p)));
                    w.put_object(e.id.uid, *id, &encode_props(&merged))?;
                }
            }
            Op::Remove { entity, id } => {
                let Some(e) = model.entity(*entity) else {
                    continue;
                };
                w.remove_object(e.id.uid, *id)?;
                for relation in &e.relations {
                    w.remove_links_from(relation.id.uid, *id)?;
                }
            }
            Op::RelAdd {
                relation,
                source,
                target,
            } => {
                let Some((_, r)) = relation_of(model, *relation) else {
                    continue;
                };
                w.add_link(r.id.uid, *source, *target)?;
            }
            Op::RelRemove {
                relation,
                source,
                target,
            } => {
                let Some((_, r)) = relation_of(model, *relation) else {
                    continue;
                };
                w.remove_link(r.id.uid, *source, *target)?;
            }
        }
        applied.ops.push(op);
    }
    Ok(applied)
}

/// The sync entity that owns a standalone relation id.
pub fn relation_of(model: &Model, relation: u32) -> Option<(&Entity, &Relation)> {
    model
        .entities
        .iter()
        .filter(|e| e.is_sync_enabled())
        .find_map(|e| e.relation(relation).map(|r| (e, r)))
}

/// Whether a value may be stored in a property of type `ty` (`Null` always may).
pub fn fits(ty: PropertyType, value: &Value) -> bool {
    use PropertyType as T;
    if matches!(value, Value::Null) {
        return true;
    }
    let int_in = |min: i64, max: i64| matches!(value, Value::Int(i) if (min..=max).contains(i));
    match ty {
        T::Bool => matches!(value, Value::Bool(_)),
        // Unsigned variants share the bit width, so accept the union of both ranges.
        T::Byte => int_in(i64::from(i8::MIN), i64::from(u8::MAX)),
        T::Short | T::Char => int_in(i64::from(i16::MIN), i64::from(u16::MAX)),
        T::Int => int_in(i64::from(i32::MIN), i64::from(u32::MAX)),
        T::Long | T::Date | T::DateNano => matches!(value, Value::Int(_)),
        T::Float | T::Double => matches!(value, Value::Float(_) | Value::Int(_)),
        T::String => matches!(value, Value::String(_)),
        T::Relation => {
            matches!(value, Value::List(l) if l.len() == 2 && l.iter().all(|v| matches!(v, Value::Int(_))))
        }
        T::Flex => true,
        T::ByteVector => matches!(value, Value::Bytes(_)),
        T::BoolVector => match value {
            Value::Bytes(_) => true,
            Value::List(items) => items.iter().all(|v| matches!(v, Value::Bool(_))),
            _ => false,
        },
        T::StringVector => {
            matches!(value, Value::List(items) if items.iter().all(|v| matches!(v, Value::String(_))))
        }
        T::FloatVector | T::DoubleVector => {
            matches!(value, Value::List(items) if items.iter().all(|v| matches!(v, Value::Float(_) | Value::Int(_))))
        }
        _ if ty.is_vector() => {
            matches!(value, Value::List(items) if items.iter().all(|v| matches!(v, Value::Int(_))))
        }
        _ => false,
    }
}

/// Decides whether an incoming put replaces the stored object (precedence, then clock; a full
/// tie keeps the stored one). Entities without such properties: the incoming put always wins.
fn wins(
    w: &Write<'_, '_>,
    entity: &Entity,
    id: GlobalId,
    props: &[(u32, Value)],
) -> store::Result<bool> {
    let precedence = entity.sync_precedence_property().map(|p| p.id.id);
    let clock = entity.sync_clock_property().map(|p| p.id.id);
    if precedence.is_none() && clock.is_none() {
        return Ok(true);
    }
    let Some(stored) = w.read().object(entity.id.uid, id)? else {
        return Ok(true);
    };
    let stored = decode_props(&stored).unwrap_or_default();
    let get = |props: &[(u32, Value)], pid: Option<u32>| -> u64 {
        pid.and_then(|pid| props.iter().find(|(p, _)| *p == pid))
            .map_or(0, |(_, v)| match v {
                // Both are unsigned 64-bit in ObjectBox; compare as such.
                Value::Int(i) => *i as u64,
                _ => 0,
            })
    };
    let incoming = (get(props, precedence), get(props, clock));
    let existing = (get(&stored, precedence), get(&stored, clock));
    Ok(incoming > existing)
}

fn sync_entity(model: &Model, entity: u32, index: usize) -> Result<&Entity, Invalid> {
    match model.entity(entity) {
        Some(e) if e.is_sync_enabled() => Ok(e),
        Some(e) => Err(invalid(
            TxErrorCode::UnknownEntity,
            format!(
                "ops[{index}]: entity {} (id {entity}) is not sync-enabled",
                e.name
            ),
        )),
        None => Err(invalid(
            TxErrorCode::UnknownEntity,
            format!("ops[{index}]: no entity with id {entity} in the server's schema"),
        )),
    }
}

fn invalid(code: TxErrorCode, message: String) -> Invalid {
    Invalid { code, message }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Int(i) => format!("integer {i}"),
        Value::Float(f) => format!("float {f}"),
        Value::String(s) => format!("string of {} bytes", s.len()),
        Value::Bytes(b) => format!("{} bytes", b.len()),
        Value::List(l) => format!("list of {} values", l.len()),
        Value::Map(m) => format!("map of {} entries", m.len()),
    }
}
