use serde_json::json;
use shared_types::protocol::{GlobalId, Op, TxEntry, Value};
use sync_model::Model;
use tempfile::TempDir;

use super::*;

pub(crate) fn tasks_model() -> Model {
    Model::from_json(include_bytes!("../../../examples/objectbox-model.json"))
        .expect("example model loads")
        .model
}

pub(crate) fn all_types_model() -> Model {
    Model::from_json(include_bytes!("../../tests/fixtures/all-types-model.json"))
        .expect("fixture model loads")
        .model
}

pub(crate) fn open(model: Model) -> (TempDir, ClientStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ClientStore::open_with_max_size(dir.path(), model, 64 << 20).expect("opens");
    (dir, store)
}

fn reopen(dir: &TempDir, store: ClientStore, model: Model) -> ClientStore {
    drop(store);
    ClientStore::open_with_max_size(dir.path(), model, 64 << 20).expect("reopens")
}

/// Task is entity 1 (projectId is property 5, text 2), Project entity 2 (name 2).
const TASK: u32 = 1;
const PROJECT: u32 = 2;

fn task_put(gid: GlobalId, text: &str, project: Option<GlobalId>) -> Op {
    Op::Put {
        entity: TASK,
        id: gid,
        props: vec![
            (2, Value::String(text.into())),
            (5, project.map_or(Value::Null, gid_value)),
        ],
    }
}

fn project_put(gid: GlobalId, name: &str) -> Op {
    Op::Put {
        entity: PROJECT,
        id: gid,
        props: vec![(2, Value::String(name.into()))],
    }
}

fn tx(seq: u64, origin: u64, ops: Vec<Op>) -> TxEntry {
    TxEntry {
        seq,
        origin,
        time_ms: 1,
        ops,
        tx_id: 0,
    }
}

fn text(store: &ClientStore, id: u64) -> Option<String> {
    store
        .get("Task", id)
        .expect("get")
        .map(|o| o["text"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn a_new_store_has_a_peer_id_that_survives_reopening() {
    let (dir, store) = open(tasks_model());
    let peer = store.peer_id();
    assert_ne!(peer, 0);
    let state = store.sync_state().expect("state");
    assert_eq!(
        (state.last_seq, state.last_tx_id, state.queue_len),
        (0, 0, 0)
    );
    let store = reopen(&dir, store, tasks_model());
    assert_eq!(store.peer_id(), peer);
}

#[test]
fn put_writes_the_object_and_queues_it_in_one_transaction() {
    let (_dir, store) = open(tasks_model());
    let peer = store.peer_id();
    let project = store
        .put("Project", &json!({"name": "Home", "color": 3}))
        .expect("put");
    let task = store
        .put(
            "Task",
            &json!({"text": "dishes", "projectId": project, "dateCreated": 1000}),
        )
        .expect("put");
    assert_eq!((project, task), (1, 1));
    assert_eq!(store.outgoing_queue_len().expect("len"), 2);

    let txs = store.queued_txs().expect("queue");
    assert_eq!(txs[0].tx_id, 1);
    assert_eq!(txs[1].tx_id, 2);
    assert_eq!(
        txs[1].ops,
        vec![Op::Put {
            entity: TASK,
            id: GlobalId(peer, 1),
            props: vec![
                (2, Value::String("dishes".into())),
                (3, Value::Int(1000)),
                (4, Value::Null),
                (5, Value::List(vec![Value::Int(peer as i64), Value::Int(1)])),
                (6, Value::Int(clock_of(props_of(&txs[1].ops[0]), 6) as i64)),
            ],
        }]
    );
    let object = store.get("task", task).expect("get").expect("exists");
    assert_eq!(object["projectId"], json!(1));
    assert_eq!(object["text"], json!("dishes"));

    // An update keeps the id and queues another put.
    let same = store
        .put("Task", &json!({"id": task, "text": "dishes!"}))
        .expect("put");
    assert_eq!(same, task);
    assert_eq!(store.sync_state().expect("state").last_tx_id, 3);
    assert_eq!(store.list("Task").expect("list").len(), 1);
}

#[test]
fn remove_queues_only_when_the_object_existed() {
    let (_dir, store) = open(tasks_model());
    let id = store.put("Task", &json!({"text": "a"})).expect("put");
    assert!(store.remove("Task", id).expect("remove"));
    assert!(!store.remove("Task", id).expect("remove"));
    assert!(store.get("Task", id).expect("get").is_none());
    let txs = store.queued_txs().expect("queue");
    assert_eq!(txs.len(), 2);
    assert_eq!(
        txs[1].ops,
        vec![Op::Remove {
            entity: TASK,
            id: GlobalId(store.peer_id(), id)
        }]
    );
}

#[test]
fn local_entities_are_not_queued() {
    let (_dir, store) = open(all_types_model());
    let id = store
        .put("LocalSetting", &json!({"value": "dark"}))
        .expect("put");
    assert!(store.remove("LocalSetting", id).expect("remove"));
    assert_eq!(store.outgoing_queue_len().expect("len"), 0);
}

#[test]
fn ids_are_never_reused_and_explicit_ids_reserve() {
    let (_dir, store) = open(tasks_model());
    let a = store.put("Task", &json!({"text": "a"})).expect("put");
    store.remove("Task", a).expect("remove");
    let b = store.put("Task", &json!({"text": "b"})).expect("put");
    assert_eq!((a, b), (1, 2));
    assert_eq!(
        store
            .put("Task", &json!({"id": 10, "text": "c"}))
            .expect("put"),
        10
    );
    assert_eq!(store.put("Task", &json!({"text": "d"})).expect("put"), 11);
}

#[test]
fn errors_name_the_entity() {
    let (_dir, store) = open(tasks_model());
    let err = store
        .put("Nope", &json!({}))
        .expect_err("fails")
        .to_string();
    assert_eq!(err, "the model has no entity \"Nope\"");
    let err = store
        .put("Task", &json!({"text": 5}))
        .expect_err("fails")
        .to_string();
    assert!(err.contains("Task.text (String)"), "{err}");
    assert_eq!(store.outgoing_queue_len().expect("len"), 0);
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let (_dir, store) = open(tasks_model());
    let model = tasks_model();
    let task = model.entity(TASK).expect("Task");
    let result: Result<()> = store.write(|w| {
        w.put_local(task, 1, &[(2, Value::String("half".into()))])?;
        w.enqueue(vec![task_put(GlobalId(1, 1), "half", None)])?;
        Err(Error::IdZero {
            entity: "Task".into(),
        })
    });
    assert!(result.is_err());
    assert!(store.get("Task", 1).expect("get").is_none());
    assert_eq!(store.sync_state().expect("state").last_tx_id, 0);
    assert_eq!(store.outgoing_queue_len().expect("len"), 0);
}

#[test]
fn a_transaction_dropped_without_commit_is_gone_after_reopening() {
    let (dir, store) = open(tasks_model());
    store.put("Task", &json!({"text": "kept"})).expect("put");
    {
        // A crash between writing and committing: the transaction is simply never committed.
        let model = tasks_model();
        let task = model.entity(TASK).expect("Task");
        let mut txn = store.inner.env.write_txn().expect("txn");
        let mut w = Writer {
            txn: &mut txn,
            dbs: &store.inner.dbs,
            model: &store.inner.model,
            peer_id: store.peer_id(),
        };
        let id = w.allocate_id(task).expect("id");
        w.put_local(task, id, &[(2, Value::String("lost".into()))])
            .expect("put");
        w.enqueue(vec![]).expect("enqueue");
        drop(txn);
    }
    let store = reopen(&dir, store, tasks_model());
    assert_eq!(store.list("Task").expect("list").len(), 1);
    assert_eq!(text(&store, 1).as_deref(), Some("kept"));
    let state = store.sync_state().expect("state");
    assert_eq!((state.last_tx_id, state.queue_len), (1, 1));
    // The id the lost transaction took is handed out again: nobody ever saw it.
    assert_eq!(store.put("Task", &json!({"text": "next"})).expect("put"), 2);
}

#[test]
fn foreign_objects_get_local_ids_and_relations_are_mapped() {
    let (_dir, store) = open(tasks_model());
    let own = store.put("Task", &json!({"text": "mine"})).expect("put");
    let other = GlobalId(77, 1);
    // The task arrives before the project it points to: the project's local id is reserved.
    let applied = store
        .apply_push(&[tx(
            1,
            77,
            vec![task_put(GlobalId(77, 5), "theirs", Some(other))],
        )])
        .expect("push");
    assert_eq!(applied.changes.len(), 1);
    assert_eq!(applied.changes[0].entity, "Task");
    let task_local = applied.changes[0].puts[0];
    assert_ne!(task_local, own);
    let object = store.get("Task", task_local).expect("get").expect("exists");
    assert_eq!(object["text"], json!("theirs"));
    let project_local = object["projectId"].as_u64().expect("relation");
    assert!(store.get("Project", project_local).expect("get").is_none());

    store
        .apply_push(&[tx(2, 77, vec![project_put(other, "Work")])])
        .expect("push");
    let project = store
        .get("Project", project_local)
        .expect("get")
        .expect("arrived");
    assert_eq!(project["name"], json!("Work"));

    // Both directions of the mapping, and our own objects keep their own global id.
    let model = tasks_model();
    let task_entity = model.entity(TASK).expect("Task");
    assert_eq!(
        store.global_id(task_entity, task_local).expect("gid"),
        GlobalId(77, 5)
    );
    assert_eq!(
        store.global_id(task_entity, own).expect("gid"),
        GlobalId(store.peer_id(), own)
    );

    // Putting it locally sends the relation as the project's global id.
    store
        .put(
            "Task",
            &json!({"id": task_local, "text": "edited", "projectId": project_local}),
        )
        .expect("put");
    let txs = store.queued_txs().expect("queue");
    let Op::Put { id, props, .. } = &txs[1].ops[0] else {
        panic!("expected a put: {:?}", txs[1]);
    };
    assert_eq!(*id, GlobalId(77, 5));
    assert!(props.contains(&(5, Value::List(vec![Value::Int(77), Value::Int(1)]))));

    // A remove by global id finds the local object.
    let removed = store
        .apply_push(&[tx(
            3,
            78,
            vec![Op::Remove {
                entity: PROJECT,
                id: other,
            }],
        )])
        .expect("push");
    assert_eq!(removed.changes[0].removes, vec![project_local]);
}

#[test]
fn own_objects_coming_back_keep_their_ids() {
    let (_dir, store) = open(tasks_model());
    let peer = store.peer_id();
    let applied = store
        .apply_full_sync_chunk(&[task_put(GlobalId(peer, 4), "mine", None)])
        .expect("chunk");
    assert_eq!(applied.changes[0].puts, vec![4]);
    // The local id is reserved, so new objects do not collide with it.
    assert_eq!(store.put("Task", &json!({"text": "new"})).expect("put"), 5);
}

#[test]
fn shared_global_ids_are_the_same_everywhere() {
    let (_dir, store) = open(all_types_model());
    let tag = store.entity("Tag").expect("Tag").clone();
    let id = store.put("Tag", &json!({"name": "red"})).expect("put");
    let txs = store.queued_txs().expect("queue");
    assert!(matches!(&txs[0].ops[0], Op::Put { id: gid, .. } if *gid == GlobalId(0, id)));

    let applied = store
        .apply_push(&[tx(
            1,
            9,
            vec![Op::Put {
                entity: tag.id.id,
                id: GlobalId(0, 42),
                props: vec![(2, Value::String("blue".into()))],
            }],
        )])
        .expect("push");
    assert_eq!(applied.changes[0].puts, vec![42]);
    assert_eq!(
        store.get("Tag", 42).expect("get").expect("exists")["name"],
        json!("blue")
    );
    assert_eq!(
        store.put("Tag", &json!({"name": "green"})).expect("put"),
        43
    );
}

#[test]
fn every_property_type_survives_a_put_and_get() {
    let (_dir, store) = open(all_types_model());
    let note = store.put("Note", &json!({"title": "n"})).expect("put");
    let object = json!({
        "vBool": true, "vByte": -5, "vShort": 300, "vChar": 66, "vInt": -70000,
        "vLong": 1_i64 << 40, "vFloat": 0.5, "vDouble": 1e100, "vString": "s",
        "vDate": 1_700_000_000_000_u64, "vRelation": note, "vDateNano": 5,
        "vFlex": {"k": [1, "two"]}, "vBoolVector": [false], "vByteVector": "AQI=",
        "vShortVector": [1], "vCharVector": [2], "vIntVector": [3], "vLongVector": [4],
        "vFloatVector": [0.25], "vDoubleVector": [0.125], "vStringVector": ["x"],
        "vDateVector": [6], "vDateNanoVector": [7], "vUnsignedLong": u64::MAX
    });
    let id = store.put("Everything", &object).expect("put");
    let back = store.get("Everything", id).expect("get").expect("exists");
    let mut expected = object.as_object().expect("object").clone();
    expected.insert("id".into(), json!(id));
    assert_eq!(back, expected);
    assert_eq!(store.list("Everything").expect("list"), vec![expected]);
}

#[test]
fn standalone_links_are_stored_and_queued() {
    let (_dir, store) = open(all_types_model());
    let note = store.put("Note", &json!({"title": "n"})).expect("put");
    let every = store.put("Everything", &json!({})).expect("put");
    store
        .link("Everything", "notes", every, note)
        .expect("link");
    assert_eq!(
        store.linked("Everything", "notes", every).expect("linked"),
        vec![note]
    );
    store
        .unlink("Everything", "notes", every, note)
        .expect("unlink");
    assert!(
        store
            .linked("Everything", "notes", every)
            .expect("linked")
            .is_empty()
    );
    let txs = store.queued_txs().expect("queue");
    assert!(matches!(txs[2].ops[0], Op::RelAdd { relation: 1, .. }));
    assert!(matches!(txs[3].ops[0], Op::RelRemove { relation: 1, .. }));
    let err = store.link("Everything", "nope", 1, 1).expect_err("fails");
    assert!(err.to_string().contains("no standalone relation \"nope\""));

    // Incoming links are mapped to local ids.
    let peer = store.peer_id();
    store
        .apply_push(&[tx(
            1,
            5,
            vec![Op::RelAdd {
                relation: 1,
                source: GlobalId(peer, every),
                target: GlobalId(5, 1),
            }],
        )])
        .expect("push");
    assert_eq!(
        store
            .linked("Everything", "notes", every)
            .expect("linked")
            .len(),
        1
    );
}

#[test]
fn push_skips_duplicates_own_transactions_and_objects_with_queued_changes() {
    let (_dir, store) = open(tasks_model());
    let peer = store.peer_id();
    let mine = store.put("Task", &json!({"text": "local"})).expect("put");

    let applied = store
        .apply_push(&[
            tx(1, 7, vec![task_put(GlobalId(7, 1), "a", None)]),
            // Our own transaction: the data already has it.
            tx(2, peer, vec![task_put(GlobalId(peer, 99), "echo", None)]),
            // Another peer's put of an object we changed and have not yet sent.
            tx(3, 7, vec![task_put(GlobalId(peer, mine), "theirs", None)]),
        ])
        .expect("push");
    assert_eq!(applied.skipped_ops, 1);
    assert_eq!(text(&store, mine).as_deref(), Some("local"));
    assert!(store.get("Task", 99).expect("get").is_none());
    assert_eq!(store.sync_state().expect("state").last_seq, 3);

    let again = store
        .apply_push(&[tx(2, 7, vec![task_put(GlobalId(7, 2), "old", None)])])
        .expect("push");
    assert_eq!(again.duplicate_txs, 1);
    assert!(again.changes.is_empty());
    assert_eq!(store.list("Task").expect("list").len(), 2);
}

#[test]
fn ack_drops_the_queue_up_to_the_tx_and_applies_corrections() {
    let (_dir, store) = open(tasks_model());
    let peer = store.peer_id();
    let a = store.put("Task", &json!({"text": "a"})).expect("put");
    let b = store.put("Task", &json!({"text": "b"})).expect("put");
    store
        .put("Task", &json!({"id": b, "text": "b2"}))
        .expect("put");

    // Tx 1 (a) lost a conflict: the server's version replaces it. Tx 3 (b2) is still queued, and
    // a correction of b is overridden by it locally.
    let corrections = vec![
        task_put(GlobalId(peer, a), "server a", None),
        task_put(GlobalId(peer, b), "server b", None),
    ];
    let applied = store.apply_ack(2, 10, &corrections, false).expect("ack");
    assert_eq!(applied.changes[0].puts, vec![a, b]);
    assert_eq!(text(&store, a).as_deref(), Some("server a"));
    assert_eq!(text(&store, b).as_deref(), Some("b2"));
    let state = store.sync_state().expect("state");
    assert_eq!(
        (state.queue_len, state.last_acked_tx_id, state.last_seq),
        (1, 2, 0)
    );

    store.apply_ack(3, 11, &[], true).expect("ack");
    let state = store.sync_state().expect("state");
    assert_eq!(
        (state.queue_len, state.last_acked_tx_id, state.last_seq),
        (0, 3, 11)
    );
    // A repeated ack changes nothing and never moves the position back.
    store.apply_ack(3, 5, &[], true).expect("ack");
    assert_eq!(store.sync_state().expect("state").last_seq, 11);
}

#[test]
fn full_sync_replaces_synced_data_and_reapplies_the_queue() {
    let (_dir, store) = open(all_types_model());
    let note = store.entity("Note").expect("Note").clone();
    let note_put = |gid: GlobalId, title: &str| Op::Put {
        entity: note.id.id,
        id: gid,
        props: vec![(2, Value::String(title.into()))],
    };
    // Synced earlier: three notes from another peer (the server no longer has the third); then
    // local changes: one edit, one new note and a local-only setting.
    store
        .apply_push(&[tx(
            1,
            5,
            vec![
                note_put(GlobalId(5, 1), "old 1"),
                note_put(GlobalId(5, 2), "old 2"),
                note_put(GlobalId(5, 3), "old 3"),
            ],
        )])
        .expect("push");
    store.apply_ack(0, 1, &[], true).expect("position");
    let edited = 2;
    store
        .put("Note", &json!({"id": edited, "title": "edited"}))
        .expect("put");
    let new = store.put("Note", &json!({"title": "new"})).expect("put");
    let setting = store
        .put("LocalSetting", &json!({"value": "kept"}))
        .expect("put");

    let begun = store.begin_full_sync(40, 0).expect("begin");
    // The local data stays visible until the chunks replace it.
    assert_eq!(begun.changes, []);
    assert_eq!(store.list("Note").expect("list").len(), 4);
    let state = store.sync_state().expect("state");
    assert!(state.full_sync_in_progress);
    assert_eq!(state.last_seq, 0);

    store
        .apply_full_sync_chunk(&[
            note_put(GlobalId(5, 1), "server 1"),
            note_put(GlobalId(5, 2), "server 2"),
            note_put(GlobalId(6, 1), "from 6"),
        ])
        .expect("chunk");
    // Objects with queued changes keep their local version throughout.
    assert_eq!(
        store.get("Note", edited).expect("get").expect("kept")["title"],
        json!("edited")
    );
    let ended = store.end_full_sync(40).expect("end");
    // What the snapshot did not deliver is gone on the server.
    assert_eq!(ended.changes[0].removes, vec![3]);
    let title = |id| {
        store
            .get("Note", id)
            .expect("get")
            .map(|o| o["title"].clone())
    };
    assert_eq!(title(1), Some(json!("server 1")));
    assert_eq!(title(3), None);
    assert_eq!(title(edited), Some(json!("edited")));
    assert_eq!(title(new), Some(json!("new")));
    assert_eq!(store.list("Note").expect("list").len(), 4);
    assert!(store.get("LocalSetting", setting).expect("get").is_some());
    let state = store.sync_state().expect("state");
    assert!(!state.full_sync_in_progress);
    assert_eq!((state.last_seq, state.queue_len), (40, 2));
}

#[test]
fn a_rejected_transaction_leaves_the_queue() {
    let (_dir, store) = open(tasks_model());
    store.put("Task", &json!({"text": "a"})).expect("put");
    store.put("Task", &json!({"text": "b"})).expect("put");
    assert!(store.drop_rejected(1).expect("drop"));
    assert!(!store.drop_rejected(1).expect("drop"));
    let frames = store.queued_frames(0).expect("frames");
    assert_eq!(
        frames.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![2]
    );
    assert!(store.queued_frames(2).expect("frames").is_empty());
}

#[test]
fn the_queue_watch_sees_each_commit() {
    let (_dir, store) = open(tasks_model());
    let mut queued = store.subscribe_queue();
    assert_eq!(*queued.borrow_and_update(), 0);
    store.put("Task", &json!({"text": "a"})).expect("put");
    assert!(queued.has_changed().expect("open"));
    assert_eq!(*queued.borrow_and_update(), 1);
}

fn props_of(op: &Op) -> &[(u32, Value)] {
    match op {
        Op::Put { props, .. } => props,
        other => panic!("not a put: {other:?}"),
    }
}

#[test]
fn every_put_advances_the_sync_clock_past_anything_seen() {
    let (_dir, store) = open(tasks_model());
    let clock = |store: &ClientStore, id| {
        store.get("Task", id).expect("get").expect("exists")["syncClock"]
            .as_u64()
            .expect("set")
    };
    let id = store
        .put("Task", &json!({"text": "a", "syncClock": 5}))
        .expect("put");
    let first = clock(&store, id);
    let now = wall_clock_value();
    assert!(
        first <= now && first > now - (10_000 << SYNC_CLOCK_LOGICAL_BITS),
        "{first}"
    );
    store
        .put("Task", &json!({"id": id, "text": "b"}))
        .expect("put");
    assert!(clock(&store, id) > first);

    // A clock from a peer whose wall clock runs an hour ahead: local puts go beyond it.
    let ahead = wall_clock_value() + (3_600_000 << SYNC_CLOCK_LOGICAL_BITS);
    let applied = store
        .apply_push(&[tx(
            1,
            7,
            vec![Op::Put {
                entity: TASK,
                id: GlobalId(7, 1),
                props: vec![
                    (2, Value::String("x".into())),
                    (6, Value::Int(ahead as i64)),
                ],
            }],
        )])
        .expect("push");
    let theirs = applied.changes[0].puts[0];
    assert_eq!(clock(&store, theirs), ahead);
    store
        .put("Task", &json!({"id": id, "text": "c"}))
        .expect("put");
    assert_eq!(clock(&store, id), ahead + 1);
    store
        .put("Task", &json!({"id": theirs, "text": "mine now"}))
        .expect("put");
    assert_eq!(clock(&store, theirs), ahead + 2);
    // Entities without a clock property are left alone.
    let project = store.put("Project", &json!({"name": "p"})).expect("put");
    assert_eq!(
        store
            .get("Project", project)
            .expect("get")
            .expect("exists")
            .len(),
        3
    );
}

#[test]
fn an_interrupted_full_sync_keeps_the_data_and_the_next_one_sweeps() {
    let (dir, store) = open(all_types_model());
    let model = all_types_model();
    let peer = store.peer_id();
    let note = store.entity("Note").expect("Note").clone();
    let every = store.entity("Everything").expect("Everything").clone();
    let note_put = |gid: GlobalId, title: &str| Op::Put {
        entity: note.id.id,
        id: gid,
        props: vec![(2, Value::String(title.into()))],
    };
    // Our own acknowledged notes and a link between objects the server has.
    let a = store.put("Note", &json!({"title": "a"})).expect("put");
    let b = store.put("Note", &json!({"title": "b"})).expect("put");
    let e = store.put("Everything", &json!({})).expect("put");
    store.link("Everything", "notes", e, a).expect("link");
    store.apply_ack(4, 4, &[], true).expect("ack");
    assert_eq!(store.outgoing_queue_len().expect("len"), 0);

    // A full sync that delivers only note a before the process dies.
    store.begin_full_sync(9, 4).expect("begin");
    store
        .apply_full_sync_chunk(&[note_put(GlobalId(peer, a), "a on server")])
        .expect("chunk");
    let store = reopen(&dir, store, model);
    let state = store.sync_state().expect("state");
    assert!(state.full_sync_in_progress);
    assert_eq!(
        state.last_seq, 0,
        "the next connection does a full sync again"
    );
    // Everything acknowledged is still there, and the app can still change it.
    assert_eq!(store.list("Note").expect("list").len(), 2);
    assert_eq!(store.linked("Everything", "notes", e).expect("links"), [a]);

    // The next full sync: b was removed on the server meanwhile, the link is still there.
    store.begin_full_sync(10, 4).expect("begin");
    store
        .apply_full_sync_chunk(&[
            note_put(GlobalId(peer, a), "a on server"),
            Op::Put {
                entity: every.id.id,
                id: GlobalId(peer, e),
                props: vec![],
            },
            Op::RelAdd {
                relation: 1,
                source: GlobalId(peer, e),
                target: GlobalId(peer, a),
            },
        ])
        .expect("chunk");
    let ended = store.end_full_sync(10).expect("end");
    assert_eq!(
        ended
            .changes
            .iter()
            .map(|c| (c.entity.as_str(), c.removes.clone()))
            .collect::<Vec<_>>(),
        [("Note", vec![b])]
    );
    assert_eq!(store.list("Note").expect("list").len(), 1);
    assert_eq!(store.linked("Everything", "notes", e).expect("links"), [a]);

    // A link the snapshot does not deliver is removed at the end.
    store.begin_full_sync(11, 4).expect("begin");
    store
        .apply_full_sync_chunk(&[note_put(GlobalId(peer, a), "a on server")])
        .expect("chunk");
    store.end_full_sync(11).expect("end");
    assert_eq!(
        store.linked("Everything", "notes", e).expect("links"),
        Vec::<u64>::new()
    );
    let state = store.sync_state().expect("state");
    assert!(!state.full_sync_in_progress);
    assert_eq!(state.last_seq, 11);
}
