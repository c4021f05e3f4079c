//! Schema versions through the library: first start, restarts with evolved models, data kept.

use shared_types::protocol::GlobalId;
use sync_server::schema;
use sync_server::store::Store;

use crate::support::fixture;

const MAX: u64 = 64 * 1024 * 1024;

fn init(dir: &std::path::Path, model: &str) -> Result<(Store, schema::Schema), schema::Error> {
    let store = Store::open(dir, MAX).unwrap();
    match schema::init(&store, Some(&fixture(model))) {
        Ok(schema) => Ok((store, schema)),
        Err(e) => {
            store.close();
            Err(e)
        }
    }
}

#[test]
fn versions_evolve_keep_data_and_refuse_illegal_updates() {
    let dir = tempfile::tempdir().unwrap();
    let (store, v1) = init(dir.path(), "evolution/v1.json").unwrap();
    assert_eq!(v1.record.id, 1);
    assert_eq!(v1.record.author, schema::AUTHOR_SERVER_INIT);
    assert!(v1.record.accept_clients);
    assert_eq!((v1.record.entity_count, v1.record.property_count), (2, 9));
    let task = v1.model.entity_by_name("Task").unwrap().id.uid;
    let project = v1.model.entity_by_name("Project").unwrap().id.uid;
    store
        .write_blocking(move |w| {
            w.put_object(task, GlobalId(0, 1), b"task one")?;
            w.put_object(project, GlobalId(0, 1), b"project one")
        })
        .unwrap();
    store.close();

    // The same model, reformatted with other key order and whitespace, adds nothing.
    let (store, same) = init(dir.path(), "evolution/v1-reformatted.json").unwrap();
    assert_eq!(same.record.id, 1);
    assert_eq!(store.schema_versions().unwrap().len(), 1);
    store.close();

    let (store, v2) = init(dir.path(), "evolution/v2-add-property-and-entity.json").unwrap();
    assert_eq!(v2.record.id, 2);
    assert_eq!(v2.record.author, schema::AUTHOR_MODEL_FILE);
    assert_ne!(v2.record.full_hash, v1.record.full_hash);
    assert_eq!(store.current_schema_version().unwrap(), Some(2));
    assert_eq!(
        store.object(task, GlobalId(0, 1)).unwrap().as_deref(),
        Some(&b"task one"[..])
    );
    assert_eq!(
        store.object(project, GlobalId(0, 1)).unwrap().as_deref(),
        Some(&b"project one"[..])
    );
    // The stored version keeps the model file's exact bytes.
    let original =
        std::fs::read_to_string(fixture("evolution/v2-add-property-and-entity.json")).unwrap();
    assert_eq!(
        store.schema_version(2).unwrap().unwrap().model_json,
        original
    );
    store.close();

    for illegal in [
        "evolution/illegal-type-change.json",
        "evolution/illegal-sync-off.json",
        "evolution/illegal-id-change.json",
        "evolution/illegal-shared-global-ids.json",
    ] {
        let err = init(dir.path(), illegal)
            .err()
            .unwrap_or_else(|| panic!("{illegal} must be refused"));
        assert!(
            matches!(err, schema::Error::IllegalEvolution { current: 2, .. }),
            "{illegal}: {err}"
        );
    }

    // Retiring Project removes its objects and keeps Task's.
    let (store, v3) = init(dir.path(), "evolution/v3-remove-project.json").unwrap();
    assert_eq!(v3.record.id, 3);
    assert_eq!(
        store.object(task, GlobalId(0, 1)).unwrap().as_deref(),
        Some(&b"task one"[..])
    );
    assert_eq!(store.object_count(project).unwrap(), 0);
    let versions = store.schema_versions().unwrap();
    assert_eq!(
        versions.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    store.close();

    // Without a model file, the stored current version is used.
    let store = Store::open(dir.path(), MAX).unwrap();
    assert_eq!(schema::init(&store, None).unwrap().record.id, 3);
    store.close();
}

#[test]
fn an_empty_database_without_a_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), MAX).unwrap();
    let err = schema::init(&store, None).unwrap_err();
    assert!(err.to_string().contains("--model"), "{err}");
    store.close();
}
