//! Conversions between JSON and stored objects, on both sides.
//!
//! The first byte picks an entity of the fixture models (every property type, unsigned and clock
//! variants, relations, a local entity) and a direction; the rest is the input:
//! - JSON text to an object as the client's `put` does (`sync_client::json::object_from_json`).
//!   An object that converts must survive the trip back: to JSON (`object_to_json`), to text in
//!   model order (`to_ordered_string`, which must be valid JSON for the same object) and to
//!   stored values again, equal to the first ones.
//! - Stored bytes (a MessagePack value list, as LMDB holds an object) to JSON, as the admin data
//!   browser (`sync_server::admin::data::render`) and the client's `get` show them.
//! - An object id as the admin API takes it in a URL (`parse_object_id`): what parses must
//!   print (`render_id`) to text that parses to the same id.
//!
//! None of them may panic, whatever the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use shared_types::protocol::{GlobalId, decode_props};
use sync_client::json::{object_from_json, object_to_json, to_ordered_string};
use sync_fuzz::{ALL_TYPES, EXAMPLE};
use sync_model::Entity;
use sync_server::admin::data::{parse_object_id, render, render_id};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let entities: Vec<&Entity> = ALL_TYPES.entities.iter().chain(&EXAMPLE.entities).collect();
    let entity = entities[usize::from(selector >> 2) % entities.len()];
    match selector & 3 {
        0 | 1 => from_json(entity, input),
        2 => from_stored(entity, input),
        _ => object_id(input),
    }
});

/// JSON text to stored values and back.
fn from_json(entity: &Entity, input: &[u8]) {
    let Ok(json) = serde_json::from_slice::<Json>(input) else {
        return;
    };
    let Ok((id, props)) = object_from_json(entity, &json) else {
        return;
    };
    let properties: Vec<u32> = entity
        .properties
        .iter()
        .filter(|p| !p.is_id())
        .map(|p| p.id.id)
        .collect();
    let ids: Vec<u32> = props.iter().map(|(p, _)| *p).collect();
    assert_eq!(ids, properties, "one value per property, in model order");
    assert_ne!(id, Some(0), "id 0 means a new object");

    let object = object_to_json(entity, id.unwrap_or(0), &props);
    let text = to_ordered_string(entity, &object);
    match serde_json::from_str::<Json>(&text) {
        Ok(Json::Object(parsed)) => assert_eq!(parsed, object, "{text}"),
        other => panic!("to_ordered_string wrote {text:?}, which parses as {other:?}"),
    }
    match object_from_json(entity, &Json::Object(object.clone())) {
        Ok((id_again, props_again)) => {
            assert_eq!(id_again, id, "{object:?}");
            assert_eq!(props_again, props, "{object:?}");
        }
        Err(e) => panic!("{object:?}, written from {json}, does not convert back: {e}"),
    }
}

/// Stored bytes to JSON, as the admin API and the client show them.
fn from_stored(entity: &Entity, input: &[u8]) {
    let id = GlobalId(0x0102_0304_0506_0708, 1);
    let rendered = render(entity, id, input);
    // The admin API serializes it; that must not fail either.
    assert!(serde_json::to_string(&rendered).is_ok());
    if let Ok(props) = decode_props(input) {
        let object = object_to_json(entity, 1, &props);
        let text = to_ordered_string(entity, &object);
        match serde_json::from_str::<Json>(&text) {
            Ok(Json::Object(parsed)) => assert_eq!(parsed, object, "{text}"),
            // Stored values may nest up to MessagePack's limit of 1024, JSON text that serde_json
            // reads back only to 128: valid text, refused with an error (not a panic) by `put`.
            Err(e) if e.to_string().starts_with("recursion limit exceeded") => {}
            other => panic!("to_ordered_string wrote {text:?}, which parses as {other:?}"),
        }
    }
}

/// An object id in a URL.
fn object_id(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let Some(id) = parse_object_id(text) else {
        return;
    };
    let printed = match render_id(id) {
        Json::String(s) => s,
        other => other.to_string(),
    };
    assert_eq!(
        parse_object_id(&printed),
        Some(id),
        "{text:?} printed as {printed:?}"
    );
}
