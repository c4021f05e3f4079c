use serde_json::json;
use shared_types::protocol::{
    ApplyTx, Credential, GlobalId, JwtKind, MIN_PROTOCOL_VERSION, Op, TxEntry, Value, decode_client,
};
use shared_types::shared_secret::shared_secret_proof;
use tempfile::TempDir;

use super::*;
use crate::store::tests::{all_types_model, open, tasks_model};

const NONCE: [u8; 32] = [9; 32];

fn engine(mode: RequestUpdatesMode, credentials: Credentials) -> (TempDir, Engine) {
    let (dir, store) = open(tasks_model());
    (dir, Engine::new(store, EngineOptions { mode, credentials }))
}

fn hello() -> ServerMessage {
    ServerMessage::Hello {
        min_version: MIN_PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        nonce: NONCE.to_vec(),
        server_time_ms: 1_000_000,
    }
}

fn login_result(code: LoginCode) -> ServerMessage {
    ServerMessage::LoginResult {
        code,
        message: if code == LoginCode::Ok {
            String::new()
        } else {
            "no".into()
        },
        server_time_ms: 5_000_000,
        schema_version: 1,
        head_seq: 0,
    }
}

/// The client messages among `effects`, decoded.
fn sent(effects: &[Effect]) -> Vec<ClientMessage> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(frame) => Some(decode_client(frame).expect("valid frame")),
            _ => None,
        })
        .collect()
}

fn events(effects: &[Effect]) -> Vec<Event> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn close(effects: &[Effect]) -> Option<Retry> {
    effects.iter().find_map(|e| match e {
        Effect::Close { retry } => Some(*retry),
        _ => None,
    })
}

fn tx_ids(messages: &[ClientMessage]) -> Vec<u64> {
    messages
        .iter()
        .filter_map(|m| match m {
            ClientMessage::ApplyTx(ApplyTx { tx_id, .. }) => Some(*tx_id),
            _ => None,
        })
        .collect()
}

/// Connects and logs in at time 0; returns the effects of the `LoginResult`.
fn log_in(engine: &mut Engine) -> Vec<Effect> {
    engine.on_connected(0);
    engine.on_message(hello(), 0);
    engine.on_message(login_result(LoginCode::Ok), 10)
}

#[test]
fn hello_is_answered_with_a_login_describing_the_store() {
    let (_dir, mut engine) = engine(
        RequestUpdatesMode::AutoNoPushes,
        Credentials::SharedSecret(b"s3cret".to_vec()),
    );
    let store = engine.store().clone();
    store.put("Task", &json!({"text": "a"})).expect("put");
    store.apply_ack(0, 7, &[], true).expect("position");

    assert_eq!(events(&engine.on_connected(0)), vec![Event::Connected]);
    assert_eq!(engine.state(), State::AwaitingHello);
    let effects = engine.on_message(hello(), 0);
    let messages = sent(&effects);
    let [ClientMessage::Login(login)] = messages.as_slice() else {
        panic!("expected one Login: {effects:?}");
    };
    assert_eq!(engine.state(), State::LoggingIn);
    let peer = store.peer_id();
    assert_eq!(login.protocol_version, PROTOCOL_VERSION);
    assert_eq!(login.peer_id, peer);
    assert_eq!(
        login.credentials,
        vec![Credential::SharedSecret {
            hmac: shared_secret_proof(b"s3cret", &NONCE, peer)
        }]
    );
    assert_eq!(
        login.schema_full_hash,
        store.model().full_hash().to_string()
    );
    assert_eq!(
        login.schema_base_hash,
        store.model().base_hash().to_string()
    );
    assert_eq!(login.schema_full_hash.len(), 32);
    assert_eq!(login.last_seq, 7);
    assert_eq!(login.last_tx_id, 1);
    assert_eq!(login.mode, RequestUpdatesMode::AutoNoPushes);
}

#[test]
fn jwt_and_no_credentials() {
    let creds = |c: Credentials| c.to_wire(&NONCE, 1);
    assert_eq!(creds(Credentials::None), vec![Credential::None]);
    assert_eq!(
        creds(Credentials::Jwt {
            kind: JwtKind::Id,
            token: "t".into()
        }),
        vec![Credential::Jwt {
            kind: JwtKind::Id,
            token: "t".into()
        }]
    );
    assert_eq!(
        format!("{:?}", Credentials::SharedSecret(b"x".to_vec())),
        "SharedSecret(..)"
    );
}

#[test]
fn login_sends_the_whole_queue_pipelined_then_new_transactions() {
    let (_dir, mut engine) = engine(RequestUpdatesMode::Auto, Credentials::None);
    let store = engine.store().clone();
    for text in ["a", "b", "c"] {
        store.put("Task", &json!({ "text": text })).expect("put");
    }
    // Queue changes before login send nothing.
    engine.on_connected(0);
    assert!(sent(&engine.on_queue_changed(0)).is_empty());
    engine.on_message(hello(), 0);

    let effects = engine.on_message(login_result(LoginCode::Ok), 10);
    assert_eq!(engine.state(), State::LoggedIn);
    assert_eq!(
        events(&effects)[0],
        Event::LoggedIn {
            server_time_ms: 5_000_000,
            head_seq: 0
        }
    );
    assert_eq!(tx_ids(&sent(&effects)), vec![1, 2, 3]);
    // Server time: the reported time plus half the 10 ms round trip, then local time.
    assert_eq!(engine.server_time_ms(10), Some(5_000_005));
    assert_eq!(engine.server_time_ms(1010), Some(5_001_005));

    store.put("Task", &json!({"text": "d"})).expect("put");
    assert_eq!(tx_ids(&sent(&engine.on_queue_changed(20))), vec![4]);
    assert!(sent(&engine.on_queue_changed(20)).is_empty());
}

#[test]
fn unacked_transactions_are_sent_again_after_reconnecting() {
    let (_dir, mut engine) = engine(RequestUpdatesMode::Auto, Credentials::None);
    let store = engine.store().clone();
    store.put("Task", &json!({"text": "a"})).expect("put");
    store.put("Task", &json!({"text": "b"})).expect("put");
    assert_eq!(tx_ids(&sent(&log_in(&mut engine))), vec![1, 2]);
    let effects = engine.on_message(
        ServerMessage::Ack {
            tx_id: 1,
            seq: 1,
            corrections: vec![],
        },
        20,
    );
    assert_eq!(events(&effects), vec![Event::TxAcked { tx_id: 1, seq: 1 }]);
    assert_eq!(events(&engine.on_disconnected()), vec![Event::Disconnected]);
    assert!(engine.on_disconnected().is_empty());
    assert_eq!(tx_ids(&sent(&log_in(&mut engine))), vec![2]);
}

#[test]
fn credentials_rejected_stops_until_new_credentials() {
    let (_dir, mut engine) = engine(
        RequestUpdatesMode::Auto,
        Credentials::SharedSecret(b"bad".to_vec()),
    );
    engine.on_connected(0);
    engine.on_message(hello(), 0);
    let effects = engine.on_message(login_result(LoginCode::CredentialsRejected), 5);
    assert_eq!(
        events(&effects),
        vec![Event::LoginFailed {
            code: LoginCode::CredentialsRejected,
            message: "no".into()
        }]
    );
    assert_eq!(close(&effects), Some(Retry::WhenCredentialsChange));
    assert_eq!(
        engine.blocked(),
        Some((LoginCode::CredentialsRejected, Retry::WhenCredentialsChange))
    );
    engine.set_credentials(Credentials::SharedSecret(b"good".to_vec()));
    assert_eq!(engine.blocked(), None);
}

#[test]
fn login_failures_choose_how_to_retry() {
    let check = |code, retry| assert_eq!(retry_after_login(code), retry, "{code:?}");
    check(LoginCode::CredentialsRejected, Retry::WhenCredentialsChange);
    check(LoginCode::UnsupportedDataModel, Retry::Never);
    check(LoginCode::BadVersion, Retry::Never);
    check(LoginCode::ReqRejected, Retry::Never);
    check(LoginCode::ClientIdTaken, Retry::Backoff);
    check(LoginCode::AuthUnreachable, Retry::Backoff);
    check(LoginCode::Other(99), Retry::Backoff);

    // A permanent failure blocks even new credentials.
    let (_dir, mut engine) = engine(RequestUpdatesMode::Auto, Credentials::None);
    engine.on_connected(0);
    engine.on_message(hello(), 0);
    let effects = engine.on_message(login_result(LoginCode::UnsupportedDataModel), 5);
    assert_eq!(close(&effects), Some(Retry::Never));
    engine.set_credentials(Credentials::None);
    assert!(engine.blocked().is_some());
}

#[test]
fn a_server_without_our_protocol_version_fails_the_login() {
    let (_dir, mut engine) = engine(RequestUpdatesMode::Auto, Credentials::None);
    engine.on_connected(0);
    let effects = engine.on_message(
        ServerMessage::Hello {
            min_version: PROTOCOL_VERSION + 1,
            max_version: PROTOCOL_VERSION + 3,
            nonce: vec![],
            server_time_ms: 0,
        },
        0,
    );
    assert!(sent(&effects).is_empty());
    assert!(matches!(
        events(&effects).as_slice(),
        [Event::LoginFailed { code: LoginCode::BadVersion, message }] if message.contains("versions 2..=4")
    ));
    assert_eq!(close(&effects), Some(Retry::Never));
}

#[test]
fn messages_out_of_order_and_garbage_close_the_connection() {
    let (_dir, mut engine) = engine(RequestUpdatesMode::Auto, Credentials::None);
    engine.on_connected(0);
    let effects = engine.on_message(ServerMessage::Push { txs: vec![] }, 0);
    assert_eq!(close(&effects), Some(Retry::Backoff));
    let effects = engine.on_frame(b"\xc1 not msgpack", 0);
    assert_eq!(close(&effects), Some(Retry::Backoff));
    log_in(&mut engine);
    let effects = engine.on_message(hello(), 0);
    assert_eq!(close(&effects), Some(Retry::Backoff));
    let effects = engine.on_message(
        ServerMessage::Error {
            code: ErrorCode::ShuttingDown,
            message: "bye".into(),
        },
        0,
    );
    assert_eq!(
        events(&effects),
        vec![Event::ServerError {
            code: ErrorCode::ShuttingDown,
            message: "bye".into()
        }]
    );
    assert_eq!(close(&effects), Some(Retry::Backoff));
}

#[test]
fn a_replaced_session_does_not_reconnect() {
    let (_dir, mut engine) = engine(RequestUpdatesMode::Auto, Credentials::None);
    log_in(&mut engine);
    let effects = engine.on_message(
        ServerMessage::Error {
            code: ErrorCode::Replaced,
            message: "a newer login with this peer id took over this session".into(),
        },
        0,
    );
    assert!(matches!(
        events(&effects).as_slice(),
        [Event::ServerError {
            code: ErrorCode::Replaced,
            ..
        }]
    ));
    assert_eq!(close(&effects), Some(Retry::Never));
}

#[test]
fn pushes_apply_and_report_changes_and_duplicates_are_ignored() {
    let (_dir, mut engine) = engine(RequestUpdatesMode::Auto, Credentials::None);
    log_in(&mut engine);
    let put = |local, text: &str| Op::Put {
        entity: 1,
        id: GlobalId(42, local),
        props: vec![(2, Value::String(text.into()))],
    };
    let push = |seq, ops| ServerMessage::Push {
        txs: vec![TxEntry {
            seq,
            origin: 42,
            time_ms: 0,
            ops,
            tx_id: 0,
        }],
    };
    let effects = engine.on_message(push(1, vec![put(1, "a"), put(2, "b")]), 1);
    assert_eq!(
        events(&effects),
        vec![Event::Changes {
            entity: "Task".into(),
            puts: vec![1, 2],
            removes: vec![]
        }]
    );
    // The same seq again (e.g. resent after a reconnect) changes nothing.
    let effects = engine.on_message(push(1, vec![put(1, "changed")]), 2);
    assert!(events(&effects).is_empty());
    let store = engine.store().clone();
    assert_eq!(
        store.get("Task", 1).expect("get").expect("exists")["text"],
        json!("a")
    );

    let effects = engine.on_message(
        push(
            2,
            vec![Op::Remove {
                entity: 1,
                id: GlobalId(42, 2),
            }],
        ),
        3,
    );
    assert_eq!(
        events(&effects),
        vec![Event::Changes {
            entity: "Task".into(),
            puts: vec![],
            removes: vec![2]
        }]
    );
    let effects = engine.on_message(ServerMessage::SyncComplete { seq: 2 }, 4);
    assert_eq!(events(&effects), vec![Event::SyncCompleted(2)]);
    assert!(engine.is_caught_up());
    assert_eq!(store.sync_state().expect("state").last_seq, 2);
}

#[test]
fn acks_never_move_the_position() {
    // An Ack can overtake pushes of other peers' earlier transactions, so it must not move the
    // position, live or not; the transaction's own entry in the stream does.
    for mode in [RequestUpdatesMode::AutoNoPushes, RequestUpdatesMode::Auto] {
        let (_dir, mut engine) = engine(mode, Credentials::None);
        let store = engine.store().clone();
        for text in ["a", "b"] {
            store.put("Task", &json!({ "text": text })).expect("put");
        }
        log_in(&mut engine);
        engine.on_message(ServerMessage::SyncComplete { seq: 4 }, 1);
        let ack = |tx_id, seq| ServerMessage::Ack {
            tx_id,
            seq,
            corrections: vec![],
        };
        engine.on_message(ack(1, 5), 2);
        engine.on_message(ack(2, 7), 3);
        let state = store.sync_state().expect("state");
        assert_eq!((state.last_seq, state.queue_len), (4, 0), "{mode:?}");
        // Another peer's transaction 6 still arrives and applies.
        engine.on_message(
            ServerMessage::Push {
                txs: vec![TxEntry {
                    seq: 6,
                    origin: 99,
                    time_ms: 0,
                    ops: vec![],
                    tx_id: 0,
                }],
            },
            4,
        );
        assert_eq!(store.sync_state().expect("state").last_seq, 6, "{mode:?}");
    }
}

#[test]
fn rejected_transactions_are_dropped_and_reported() {
    let (_dir, mut engine) = engine(RequestUpdatesMode::Auto, Credentials::None);
    let store = engine.store().clone();
    store.put("Task", &json!({"text": "a"})).expect("put");
    log_in(&mut engine);
    let effects = engine.on_message(
        ServerMessage::TxRejected {
            tx_id: 1,
            code: TxErrorCode::NoPermission,
            message: "read-only".into(),
        },
        1,
    );
    assert_eq!(
        events(&effects),
        vec![Event::TxRejected {
            tx_id: 1,
            code: TxErrorCode::NoPermission,
            message: "read-only".into()
        }]
    );
    assert_eq!(store.outgoing_queue_len().expect("len"), 0);
    assert!(close(&effects).is_none());
}

#[test]
fn full_sync_keeps_queued_changes_on_top() {
    let (_dir, store) = open(tasks_model());
    let mut engine = Engine::new(
        store.clone(),
        EngineOptions {
            mode: RequestUpdatesMode::Auto,
            credentials: Credentials::None,
        },
    );
    let peer = store.peer_id();
    let mine = store.put("Task", &json!({"text": "unsent"})).expect("put");
    log_in(&mut engine);

    let begin = engine.on_message(
        ServerMessage::FullSyncBegin {
            seq: 3,
            acked_tx_id: 0,
        },
        1,
    );
    assert!(
        events(&begin).is_empty(),
        "the queued object stays: {begin:?}"
    );
    let chunk = engine.on_message(
        ServerMessage::FullSyncChunk {
            ops: vec![
                Op::Put {
                    entity: 1,
                    id: GlobalId(peer, mine),
                    props: vec![(2, Value::String("older server copy".into()))],
                },
                Op::Put {
                    entity: 1,
                    id: GlobalId(8, 1),
                    props: vec![(2, Value::String("other".into()))],
                },
            ],
        },
        2,
    );
    // Only the other peer's object: the queued one keeps its local version.
    assert_eq!(
        events(&chunk),
        vec![Event::Changes {
            entity: "Task".into(),
            puts: vec![mine + 1],
            removes: vec![]
        }]
    );
    assert_eq!(
        store.get("Task", mine).expect("get").expect("kept")["text"],
        json!("unsent")
    );
    let end = engine.on_message(ServerMessage::FullSyncEnd { seq: 3 }, 3);
    assert!(events(&end).contains(&Event::SyncCompleted(3)));
    // SyncComplete for the same seq is not reported twice.
    let complete = engine.on_message(ServerMessage::SyncComplete { seq: 3 }, 4);
    assert!(events(&complete).is_empty());

    assert_eq!(
        store.get("Task", mine).expect("get").expect("exists")["text"],
        json!("unsent")
    );
    assert_eq!(store.list("Task").expect("list").len(), 2);
    let state = store.sync_state().expect("state");
    assert_eq!((state.last_seq, state.queue_len), (3, 1));
}

#[test]
fn heartbeats_and_idle_timeout_follow_the_clock() {
    let (_dir, mut engine) = engine(RequestUpdatesMode::Auto, Credentials::None);
    assert_eq!(engine.next_deadline(), None);
    log_in(&mut engine);
    // The login result came at 10 ms; the Login was sent at 0 ms.
    assert_eq!(engine.next_deadline(), Some(HEARTBEAT_INTERVAL_MS));
    assert!(engine.on_tick(HEARTBEAT_INTERVAL_MS - 1).is_empty());
    let effects = engine.on_tick(HEARTBEAT_INTERVAL_MS);
    assert!(matches!(
        sent(&effects).as_slice(),
        [ClientMessage::Heartbeat { .. }]
    ));
    assert_eq!(engine.next_deadline(), Some(2 * HEARTBEAT_INTERVAL_MS));

    // Anything received resets the idle timer.
    engine.on_message(ServerMessage::Heartbeat { time_ms: 0 }, 20_000);
    assert!(close(&engine.on_tick(20_000 + IDLE_TIMEOUT_MS - 1)).is_none());
    let effects = engine.on_tick(20_000 + IDLE_TIMEOUT_MS);
    assert_eq!(close(&effects), Some(Retry::Backoff));
}

#[test]
fn manual_mode_requests_updates_explicitly() {
    let (_dir, mut engine) = engine(RequestUpdatesMode::Manual, Credentials::None);
    assert!(
        engine.request_updates(true, 0).is_empty(),
        "not sent before login"
    );
    log_in(&mut engine);
    let effects = engine.request_updates(false, 1);
    assert_eq!(
        sent(&effects),
        vec![ClientMessage::RequestUpdates { subscribe: false }]
    );
    let effects = engine.cancel_updates(2);
    assert_eq!(sent(&effects), vec![ClientMessage::CancelUpdates]);
}

#[test]
fn ops_of_unknown_entities_are_skipped() {
    let (_dir, store) = open(all_types_model());
    let mut engine = Engine::new(
        store,
        EngineOptions {
            mode: RequestUpdatesMode::Auto,
            credentials: Credentials::None,
        },
    );
    log_in(&mut engine);
    let effects = engine.on_message(
        ServerMessage::FullSyncChunk {
            ops: vec![Op::Put {
                entity: 99,
                id: GlobalId(1, 1),
                props: vec![],
            }],
        },
        1,
    );
    assert!(effects.is_empty());
}
