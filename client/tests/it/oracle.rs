//! The crash tests' oracle, shared by the client's and the server's suites (the server includes
//! this file by path): every object of a client's store and of the server's LMDB in one
//! comparable wire form, its hash, and the first difference between two of them.

use std::collections::{BTreeMap, BTreeSet};

use shared_types::protocol::{GlobalId, Value, decode_props};
use sync_client::ClientStore;
use sync_server::model::Model;
use sync_server::store::Store;

/// The objects of sync-enabled entities: (entity id, global id) → non-null values by property
/// id, relations as the target's global id `[peer, local]`.
pub type Content = BTreeMap<(u32, GlobalId), Vec<(u32, Value)>>;

/// A client's objects in wire form.
pub fn client_content(store: &ClientStore) -> Content {
    let model = store.model().clone();
    let mut out = Content::new();
    for entity in model.sync_entities() {
        for object in store.list(&entity.name).expect("list") {
            let id = object["id"].as_u64().expect("id");
            let values = store.get_values(entity, id).expect("get").expect("object");
            let mut props = Vec::new();
            for (pid, value) in values {
                let target = entity
                    .property(pid)
                    .and_then(|p| p.relation_target.as_deref())
                    .and_then(|name| model.entity_by_name(name));
                let value = match (target, value) {
                    (Some(target), Value::Int(local)) if local != 0 => gid_value(
                        store
                            .global_id(target, u64::try_from(local).expect("id"))
                            .expect("global id"),
                    ),
                    (Some(_), Value::Int(_)) => Value::Null,
                    (_, value) => value,
                };
                props.push((pid, value));
            }
            out.insert(
                (
                    entity.id.id,
                    store.global_id(entity, id).expect("global id"),
                ),
                canonical(props),
            );
        }
    }
    out
}

/// The server's objects in wire form, read from its LMDB.
pub fn server_content(store: &Store, model: &Model) -> Content {
    let (items, more) = store
        .read(|r| r.objects_chunk(None, None, usize::MAX))
        .expect("objects");
    assert!(more.is_none());
    items
        .into_iter()
        .map(|(uid, id, bytes)| {
            let entity = model.entity_by_uid(uid).expect("known entity");
            let props = decode_props(&bytes).expect("stored props decode");
            ((entity.id.id, id), canonical(props))
        })
        .collect()
}

/// Values sorted by property id, nulls dropped (absent and null mean the same).
pub fn canonical(mut props: Vec<(u32, Value)>) -> Vec<(u32, Value)> {
    props.retain(|(_, v)| *v != Value::Null);
    props.sort_by_key(|(pid, _)| *pid);
    props
}

/// A global id as a relation value: `[peer, local]`.
pub fn gid_value(gid: GlobalId) -> Value {
    Value::List(vec![
        Value::Int(gid.peer() as i64),
        Value::Int(gid.local() as i64),
    ])
}

/// SHA-256 over the content, as hex.
pub fn content_hash(content: &Content) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for ((entity, id), props) in content {
        hasher.update(entity.to_be_bytes());
        hasher.update(id.peer().to_be_bytes());
        hasher.update(id.local().to_be_bytes());
        hasher.update(shared_types::protocol::encode_props(props));
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first object in which two contents differ, for the failure message.
pub fn first_difference(got: &Content, expected: &Content) -> String {
    let keys: BTreeSet<_> = got.keys().chain(expected.keys()).collect();
    keys.into_iter()
        .find(|k| got.get(k) != expected.get(k))
        .map_or_else(String::new, |k| {
            format!("{k:?}: {:?} vs {:?}", got.get(k), expected.get(k))
        })
}
