use super::log::{chain_hash_of_encoded_ops, decode_record, encode_record, stored_hash};
use super::*;
use shared_types::protocol::{GlobalId, Op};

fn open(dir: &Path) -> Store {
    Store::open(dir, 64 * 1024 * 1024).unwrap()
}

#[test]
fn first_open_writes_dataset_identity_and_reopen_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let first = store.dataset().unwrap();
    assert_eq!(first.id.len(), 32);
    assert!(dir.path().join("data.mdb").exists());
    assert_eq!(store.current_schema_version().unwrap(), None);
    store.close();

    let store = open(dir.path());
    assert_eq!(store.dataset().unwrap(), first);
    store.close();
}

#[test]
fn writes_are_durable_across_reopen_and_a_failed_request_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .write_blocking(|w| w.put_object(7, GlobalId(0, 1), b"one"))
        .unwrap();
    let failed: Result<()> = store.write_blocking(|w| {
        w.put_object(7, GlobalId(0, 2), b"two")?;
        Err(Error::Corrupt {
            what: "test".into(),
            message: "request fails after writing".into(),
        })
    });
    assert!(failed.is_err());
    store.close();

    let store = open(dir.path());
    assert_eq!(
        store.object(7, GlobalId(0, 1)).unwrap().as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(store.object(7, GlobalId(0, 2)).unwrap(), None);
    assert_eq!(store.object_count(7).unwrap(), 1);
    store.close();
}

#[test]
fn removing_an_entity_removes_only_its_objects() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .write_blocking(|w| {
            for id in 1..=100 {
                w.put_object(1, GlobalId(0, id), b"a")?;
                w.put_object(2, GlobalId(0, id), b"b")?;
            }
            Ok(())
        })
        .unwrap();
    let removed = store
        .write_blocking(|w| w.remove_entity_objects(1))
        .unwrap();
    assert_eq!(removed, 100);
    assert_eq!(store.object_count(1).unwrap(), 0);
    assert_eq!(store.object_count(2).unwrap(), 100);
    store.close();
}

#[test]
fn a_full_database_gives_a_clear_error_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let max = 1024 * 1024;
    let store = Store::open(dir.path(), max).unwrap();
    store
        .write_blocking(|w| w.put_object(1, GlobalId(0, 1), b"kept"))
        .unwrap();
    let value = vec![7u8; 64 * 1024];
    let mut full = None;
    for id in 2..100 {
        let value = value.clone();
        if let Err(e) = store.write_blocking(move |w| w.put_object(1, GlobalId(0, id), &value)) {
            full = Some(e);
            break;
        }
    }
    let err = full.expect("a 1 MiB database must fill up");
    assert!(
        matches!(err, Error::Full { max_size } if max_size == max),
        "{err}"
    );
    assert!(err.to_string().contains("--db-max-size"), "{err}");
    // Reads still work, and so do small writes that fit in freed pages or none at all.
    assert_eq!(
        store.object(1, GlobalId(0, 1)).unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    store.close();

    let store = Store::open(dir.path(), 16 * max).unwrap();
    assert_eq!(
        store.object(1, GlobalId(0, 1)).unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    store.close();
}

#[test]
fn concurrent_writers_share_commits_and_all_get_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for id in 0..500u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .write(move |w| w.put_object(3, GlobalId(0, id), &id.to_be_bytes()))
                    .await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    });
    assert_eq!(store.object_count(3).unwrap(), 500);
    store.close();
}

#[test]
fn unwritable_directory_is_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file.join("db"), 1024 * 1024)
        .err()
        .expect("cannot create a directory under a file");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

/// A store with a log of `n` client transactions.
fn store_with_log(dir: &Path, n: u64) -> Store {
    let store = open(dir);
    store
        .write_blocking(move |w| {
            for tx in 1..=n {
                let ops = vec![Op::Remove {
                    entity: 1,
                    id: GlobalId(7, tx),
                }];
                w.append_log(7, tx, now_ms(), ops, Vec::new())?;
            }
            Ok(())
        })
        .unwrap();
    store
}

#[test]
fn the_log_chain_verifies_from_seq_1_and_after_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_log(dir.path(), 5);
    assert_eq!(store.verify_log_chain().unwrap(), 5);
    let removed = store.write_blocking(|w| w.prune_log(0, 0)).unwrap();
    assert_eq!(removed, 4);
    assert_eq!(store.verify_log_chain().unwrap(), 1);
    store.close();

    let empty = tempfile::tempdir().unwrap();
    let store = open(empty.path());
    assert_eq!(store.verify_log_chain().unwrap(), 0);
    store.close();
}

#[test]
fn verifying_the_log_finds_tampering() {
    fn check(tamper: fn(&mut Write<'_, '_>) -> Result<()>, expected: &str) {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_log(dir.path(), 5);
        store.write_blocking(tamper).unwrap();
        let err = store.verify_log_chain().unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        store.close();
    }
    fn rewrite(w: &mut Write<'_, '_>, seq: u64, change: fn(&mut LogRecord)) {
        let stored = w.dbs.tx_log.get(w.txn, &seq).unwrap().unwrap();
        let mut record = decode_record(seq, stored).unwrap();
        change(&mut record);
        let raw = rmp_serde::to_vec(&record).unwrap();
        w.dbs.tx_log.put(w.txn, &seq, &raw).unwrap();
    }
    // Changed content under the old hash.
    check(
        |w| {
            rewrite(w, 3, |r| r.client_tx_id = 9);
            Ok(())
        },
        "tx-log 3 is corrupt: hash does not chain",
    );
    // The first entry, which chains from zero bytes.
    check(
        |w| {
            rewrite(w, 1, |r| r.hash = vec![1; 16]);
            Ok(())
        },
        "tx-log 1 is corrupt: hash does not chain",
    );
    // A missing entry.
    check(
        |w| {
            w.dbs.tx_log.delete(w.txn, &3).unwrap();
            Ok(())
        },
        "tx-log 4 is corrupt: gap after seq 2",
    );
    // A lost newest entry.
    check(
        |w| {
            w.dbs.tx_log.delete(w.txn, &5).unwrap();
            Ok(())
        },
        "tx-log 4 is corrupt: the newest entry is not the head 5",
    );
}

#[test]
fn the_hash_read_from_an_encoded_record_is_the_decoded_one() {
    for ops in [
        vec![],
        vec![Op::Remove {
            entity: 1,
            id: GlobalId(7, 9),
        }],
    ] {
        let record = LogRecord {
            seq: 42,
            origin: 3,
            client_tx_id: 5,
            time_ms: 1_700_000_000_000,
            ops,
            rejected: vec![(1, GlobalId(1, 2))],
            hash: (0..16).collect(),
        };
        let raw = rmp_serde::to_vec(&record).unwrap();
        assert_eq!(stored_hash(&raw), Some(&record.hash[..]));
    }
    assert_eq!(stored_hash(&[0xc4, 16]), None);
    assert_eq!(stored_hash(&[0; 40]), None);
}

#[test]
fn a_record_encoded_around_its_encoded_ops_is_what_rmp_serde_writes() {
    let record = LogRecord {
        seq: 300,
        origin: u64::MAX,
        client_tx_id: 70_000,
        time_ms: 1_700_000_000_000,
        ops: vec![
            Op::Put {
                entity: 1,
                id: GlobalId(3, 1),
                props: vec![(2, shared_types::protocol::Value::String("x".into()))],
            },
            Op::Remove {
                entity: 1,
                id: GlobalId(7, 9),
            },
        ],
        rejected: vec![(1, GlobalId(1, 2)), (2, GlobalId(u64::MAX, 0))],
        hash: (0..16).collect(),
    };
    let ops_raw = rmp_serde::to_vec(&record.ops).unwrap();
    let raw = encode_record(&record, &ops_raw).unwrap();
    assert_eq!(raw, rmp_serde::to_vec(&record).unwrap());
    assert_eq!(
        chain_hash_of_encoded_ops(&[1; 16], &record, &ops_raw),
        chain_hash(&[1; 16], &record)
    );
}
