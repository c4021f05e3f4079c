//! Bytes as an `objectbox-model.json` file: parse and validate (`Model::from_json`).
//!
//! Loading must never panic, whatever the bytes. A model that loads must keep the promises its
//! users rely on: every entity has its ID property, the schema hashes print and parse back, and
//! the model is a legal evolution of itself with no differences. Evolution checks against the
//! fixture models run in both directions. An input with a NUL byte (which no JSON file holds)
//! is two models, the stored one and the next one, checked against each other.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_fuzz::{ALL_TYPES, EXAMPLE};
use sync_model::{Model, SchemaHash};

fuzz_target!(|data: &[u8]| {
    match data.iter().position(|b| *b == 0) {
        None => {
            if let Some(model) = load(data) {
                for fixture in [&*EXAMPLE, &*ALL_TYPES] {
                    let _ = fixture.check_evolution(&model);
                    let _ = model.check_evolution(fixture);
                    let _ = fixture.diff_summary(&model);
                    let _ = model.diff_summary(fixture);
                }
            }
        }
        Some(nul) => {
            let (Some(current), Some(next)) = (load(&data[..nul]), load(&data[nul + 1..])) else {
                return;
            };
            let _ = current.check_evolution(&next);
            let _ = current.diff_summary(&next);
        }
    }
});

/// Loads a model and checks what holds for every loaded model.
fn load(bytes: &[u8]) -> Option<Model> {
    let model = Model::from_json(bytes).ok()?.model;
    for entity in &model.entities {
        let id = entity.id_property();
        assert!(entity.property(id.id.id).is_some(), "{}", entity.name);
    }
    let _ = model.counts();
    for hash in [model.base_hash(), model.full_hash()] {
        let text = hash.to_string();
        assert_eq!(text.parse::<SchemaHash>().ok(), Some(hash), "{text}");
    }
    match model.check_evolution(&model) {
        Ok(_) => {}
        Err(e) => panic!("a model is not a legal evolution of itself: {e}"),
    }
    assert_eq!(model.diff_summary(&model), Vec::<String>::new());
    Some(model)
}
