//! Protocol v1 against the real server in-process, over real WebSockets on loopback, with a raw
//! client written here from the protocol types (no SDK), so these tests pin the wire behaviour.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use shared_types::protocol::*;
use sync_server::config::Config;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::example_model;

/// Entity and property ids of the example model.
const TASK: u32 = 1;
const TASK_TEXT: u32 = 2;
const TASK_CLOCK: u32 = 6;
const PROJECT: u32 = 2;
const PROJECT_NAME: u32 = 2;

/// A hang guard for reads (not a timing assertion).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Server {
    pub addr: SocketAddr,
    inner: crate::support::InProcess,
}

impl Server {
    pub async fn start(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Server {
        let mut config = Config::for_tests(Some(example_model()), dir.join("db"));
        config.admin_bind = None;
        // Keep test output readable; the binary-level tests check the log lines.
        config.log_level = sync_server::logging::LogLevel::Warn;
        tweak(&mut config);
        let inner = crate::support::InProcess::start(config).await;
        let addr = inner.sync;
        Server { addr, inner }
    }

    pub async fn stop(self) {
        self.inner.stop().await;
    }
}

pub struct Raw {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub nonce: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .expect("connect");
        Raw::from_ws(ws).await
    }

    /// Takes an open WebSocket (e.g. over TLS) and reads the server's Hello.
    pub async fn from_ws(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Raw {
        let mut raw = Raw { ws, nonce: vec![] };
        match raw.recv().await {
            ServerMessage::Hello {
                nonce,
                min_version,
                max_version,
                ..
            } => {
                assert_eq!((min_version, max_version), (1, 1));
                assert_eq!(nonce.len(), 32);
                raw.nonce = nonce;
            }
            other => panic!("expected Hello, got {other:?}"),
        }
        raw
    }

    pub async fn send(&mut self, message: &ClientMessage) {
        self.ws
            .send(Message::binary(encode(message)))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.expect("send raw");
    }

    /// The next protocol message (skipping heartbeats).
    pub async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = tokio::time::timeout(READ_TIMEOUT, self.ws.next())
                .await
                .expect("a message in time");
            match frame {
                Some(Ok(Message::Binary(data))) => {
                    match decode_server(&data).expect("valid server message") {
                        ServerMessage::Heartbeat { .. } => continue,
                        message => return message,
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a binary message, got {other:?}"),
            }
        }
    }

    /// Whether the server closed the connection (after any remaining messages).
    pub async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(READ_TIMEOUT, self.ws.next())
                .await
                .expect("close in time")
            {
                None | Some(Ok(Message::Close(_))) | Some(Err(_)) => return true,
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn login(
        &mut self,
        peer_id: u64,
        last_seq: u64,
        mode: RequestUpdatesMode,
    ) -> ServerMessage {
        let model = example_hashes();
        self.send(&ClientMessage::Login(Login {
            protocol_version: PROTOCOL_VERSION,
            peer_id,
            credentials: vec![Credential::None],
            schema_full_hash: model.0,
            schema_base_hash: model.1,
            last_seq,
            mode,
            last_tx_id: 0,
        }))
        .await;
        self.recv().await
    }

    /// Logs in and expects OK.
    pub async fn login_ok(
        addr: SocketAddr,
        peer_id: u64,
        last_seq: u64,
        mode: RequestUpdatesMode,
    ) -> Raw {
        let mut raw = Raw::connect(addr).await;
        match raw.login(peer_id, last_seq, mode).await {
            ServerMessage::LoginResult {
                code: LoginCode::Ok,
                ..
            } => raw,
            other => panic!("login failed: {other:?}"),
        }
    }

    /// Reads until `SyncComplete`, returning everything before it.
    pub async fn until_complete(&mut self) -> (Vec<ServerMessage>, u64) {
        let mut seen = Vec::new();
        loop {
            match self.recv().await {
                ServerMessage::SyncComplete { seq } => return (seen, seq),
                other => seen.push(other),
            }
        }
    }
}

pub fn example_hashes() -> (String, String) {
    let bytes = std::fs::read(example_model()).expect("model");
    let model = sync_server::model::Model::from_json(&bytes)
        .expect("valid")
        .model;
    (model.full_hash().to_string(), model.base_hash().to_string())
}

pub fn put_task(peer: u64, local: u64, text: &str, clock: i64) -> Op {
    Op::Put {
        entity: TASK,
        id: GlobalId(peer, local),
        props: vec![
            (TASK_TEXT, Value::String(text.into())),
            (TASK_CLOCK, Value::Int(clock)),
        ],
    }
}

pub fn apply(tx_id: u64, ops: Vec<Op>) -> ClientMessage {
    ClientMessage::ApplyTx(ApplyTx { tx_id, ops })
}

/// All puts in a list of messages, by id → text.
pub fn texts(messages: &[ServerMessage]) -> Vec<(GlobalId, String)> {
    let mut out = Vec::new();
    let mut visit = |op: &Op| {
        if let Op::Put { id, props, .. } = op
            && let Some((_, Value::String(text))) = props.iter().find(|(p, _)| *p == TASK_TEXT)
        {
            out.push((*id, text.clone()));
        }
    };
    for message in messages {
        match message {
            ServerMessage::Push { txs } => txs.iter().flat_map(|t| &t.ops).for_each(&mut visit),
            ServerMessage::FullSyncChunk { ops } => ops.iter().for_each(&mut visit),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn transactions_are_acked_pushed_to_others_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let mut a = Raw::login_ok(server.addr, 0xA, 0, RequestUpdatesMode::Auto).await;
    assert_eq!(a.until_complete().await.1, 0);
    let mut b = Raw::login_ok(server.addr, 0xB, 0, RequestUpdatesMode::Auto).await;
    assert_eq!(b.until_complete().await.1, 0);

    a.send(&apply(1, vec![put_task(0xA, 1, "first", 1)])).await;
    a.send(&apply(2, vec![put_task(0xA, 2, "second", 1)])).await;
    // A gets its ACKs (and position updates for its own transactions, without data).
    let mut acks = Vec::new();
    while acks.len() < 2 {
        match a.recv().await {
            ServerMessage::Ack {
                tx_id,
                seq,
                corrections,
            } => {
                assert!(corrections.is_empty());
                acks.push((tx_id, seq));
            }
            ServerMessage::Push { txs } => {
                assert!(txs.iter().all(|t| t.origin == 0xA && t.ops.is_empty()));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(acks, vec![(1, 1), (2, 2)]);
    // B gets both, in order.
    let mut pushed = Vec::new();
    while pushed.len() < 2 {
        match b.recv().await {
            ServerMessage::Push { txs } => pushed.extend(txs),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        pushed.iter().map(|t| (t.seq, t.origin)).collect::<Vec<_>>(),
        vec![(1, 0xA), (2, 0xA)]
    );

    // A resends tx 2 after a "lost ACK": acknowledged again, not applied twice.
    drop(a);
    let mut a = Raw::login_ok(server.addr, 0xA, 2, RequestUpdatesMode::Auto).await;
    a.until_complete().await;
    a.send(&apply(2, vec![put_task(0xA, 2, "second (resent)", 1)]))
        .await;
    assert!(matches!(
        a.recv().await,
        ServerMessage::Ack {
            tx_id: 2,
            seq: 2,
            ..
        }
    ));
    // A new client sees exactly the two objects with their first texts.
    let mut c = Raw::login_ok(server.addr, 0xC, 0, RequestUpdatesMode::AutoNoPushes).await;
    let (messages, seq) = c.until_complete().await;
    assert_eq!(seq, 2);
    let mut got = texts(&messages);
    got.sort();
    assert_eq!(
        got,
        vec![
            (GlobalId(0xA, 1), "first".into()),
            (GlobalId(0xA, 2), "second".into())
        ]
    );
    assert!(matches!(
        messages.first(),
        Some(ServerMessage::FullSyncBegin { seq: 2, .. })
    ));
    server.stop().await;
}

#[tokio::test]
async fn login_refusals_have_their_codes_and_others_are_unaffected() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let mut first = Raw::login_ok(server.addr, 0x1, 0, RequestUpdatesMode::Auto).await;
    first.until_complete().await;

    // The same peer id again.
    let mut taken = Raw::connect(server.addr).await;
    assert!(matches!(
        taken.login(0x1, 0, RequestUpdatesMode::Auto).await,
        ServerMessage::LoginResult {
            code: LoginCode::ClientIdTaken,
            ..
        }
    ));
    assert!(taken.closed().await);

    // A protocol version from the future.
    let mut future = Raw::connect(server.addr).await;
    future
        .send(&ClientMessage::Login(Login {
            protocol_version: 99,
            peer_id: 0x2,
            credentials: vec![Credential::None],
            schema_full_hash: String::new(),
            schema_base_hash: String::new(),
            last_seq: 0,
            mode: RequestUpdatesMode::Auto,
            last_tx_id: 0,
        }))
        .await;
    match future.recv().await {
        ServerMessage::LoginResult {
            code: LoginCode::BadVersion,
            message,
            ..
        } => assert!(message.contains("99"), "{message}"),
        other => panic!("{other:?}"),
    }

    // Peer id 0 is reserved.
    let mut zero = Raw::connect(server.addr).await;
    assert!(matches!(
        zero.login(0, 0, RequestUpdatesMode::Auto).await,
        ServerMessage::LoginResult {
            code: LoginCode::ReqRejected,
            ..
        }
    ));

    // The first client still works.
    first
        .send(&apply(1, vec![put_task(0x1, 1, "still here", 1)]))
        .await;
    loop {
        if let ServerMessage::Ack { tx_id: 1, .. } = first.recv().await {
            break;
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn strict_schema_validation_refuses_unknown_models() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |c| c.client_schema_validation.strict = true).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send(&ClientMessage::Login(Login {
        protocol_version: PROTOCOL_VERSION,
        peer_id: 5,
        credentials: vec![Credential::None],
        schema_full_hash: "ab".repeat(16),
        schema_base_hash: "cd".repeat(16),
        last_seq: 0,
        mode: RequestUpdatesMode::Auto,
        last_tx_id: 0,
    }))
    .await;
    assert!(matches!(
        raw.recv().await,
        ServerMessage::LoginResult {
            code: LoginCode::UnsupportedDataModel,
            ..
        }
    ));
    // The right hashes are accepted.
    let mut ok = Raw::login_ok(server.addr, 6, 0, RequestUpdatesMode::Auto).await;
    ok.until_complete().await;
    server.stop().await;
}

#[tokio::test]
async fn bad_frames_get_a_clear_error_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |c| c.max_message_size = 64 * 1024).await;
    let mut good = Raw::login_ok(server.addr, 0x60, 0, RequestUpdatesMode::Auto).await;
    good.until_complete().await;

    let cases: Vec<(Message, ErrorCode)> = vec![
        (
            Message::binary(vec![0xc1, 0xff, 0x00]),
            ErrorCode::Malformed,
        ),
        (Message::text("{\"Login\":{}}"), ErrorCode::Malformed),
        (
            Message::binary(encode(&apply(1, vec![put_task(1, 1, "x", 1)]))),
            ErrorCode::UnexpectedMessage,
        ),
    ];
    for (frame, expected) in cases {
        let mut bad = Raw::connect(server.addr).await;
        bad.send_raw(frame).await;
        match bad.recv().await {
            ServerMessage::Error { code, message } => assert_eq!(code, expected, "{message}"),
            other => panic!("{other:?}"),
        }
        assert!(bad.closed().await);
    }
    // Oversized: the limit is 64 KiB here.
    let mut big = Raw::connect(server.addr).await;
    big.send_raw(Message::binary(vec![0u8; 200 * 1024])).await;
    assert!(big.closed().await);

    // Invalid transactions are rejected with a code; the connection stays.
    good.send(&apply(
        1,
        vec![Op::Remove {
            entity: 99,
            id: GlobalId(1, 1),
        }],
    ))
    .await;
    assert!(matches!(
        good.recv().await,
        ServerMessage::TxRejected {
            tx_id: 1,
            code: TxErrorCode::UnknownEntity,
            ..
        }
    ));
    good.send(&apply(
        2,
        vec![Op::Put {
            entity: TASK,
            id: GlobalId(0x60, 1),
            props: vec![(TASK_TEXT, Value::Int(5))],
        }],
    ))
    .await;
    match good.recv().await {
        ServerMessage::TxRejected {
            tx_id: 2,
            code: TxErrorCode::WrongType,
            message,
        } => assert!(message.contains("Task.text"), "{message}"),
        other => panic!("{other:?}"),
    }
    good.send(&apply(
        3,
        vec![Op::Put {
            entity: PROJECT,
            id: GlobalId(0x60, 1),
            props: vec![(PROJECT_NAME, Value::String("ok".into()))],
        }],
    ))
    .await;
    loop {
        match good.recv().await {
            ServerMessage::Ack { tx_id: 3, .. } => break,
            ServerMessage::Push { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn delta_sync_after_a_restart_and_full_sync_after_pruning() {
    let dir = tempfile::tempdir().unwrap();
    // A tiny history bound: 1 KiB max, 512 B target.
    let tiny = |c: &mut Config| {
        c.history_size_max_kb = Some(1);
        c.history_size_target_kb = Some(0);
    };
    let server = Server::start(dir.path(), |_| {}).await;
    let mut a = Raw::login_ok(server.addr, 0xA, 0, RequestUpdatesMode::Auto).await;
    a.until_complete().await;
    for tx in 1..=5 {
        a.send(&apply(tx, vec![put_task(0xA, tx, &format!("t{tx}"), 1)]))
            .await;
    }
    let mut acked = 0;
    while acked < 5 {
        if let ServerMessage::Ack { .. } = a.recv().await {
            acked += 1;
        }
    }
    server.stop().await;

    // After a restart, a client at seq 2 gets 3..=5 from the log (delta, no full sync).
    let server = Server::start(dir.path(), |_| {}).await;
    let mut b = Raw::login_ok(server.addr, 0xB, 2, RequestUpdatesMode::Auto).await;
    let (messages, seq) = b.until_complete().await;
    assert_eq!(seq, 5);
    assert!(
        messages
            .iter()
            .all(|m| matches!(m, ServerMessage::Push { .. })),
        "{messages:?}"
    );
    assert_eq!(
        texts(&messages)
            .into_iter()
            .map(|(_, t)| t)
            .collect::<Vec<_>>(),
        vec!["t3", "t4", "t5"]
    );
    server.stop().await;

    // With a tiny history, the next commit prunes old entries; a client at seq 2 then needs a
    // full sync, which brings every object.
    let server = Server::start(dir.path(), tiny).await;
    let mut a = Raw::login_ok(server.addr, 0xA, 5, RequestUpdatesMode::Auto).await;
    a.until_complete().await;
    // Large enough on its own to push the log over 1 KiB.
    a.send(&apply(
        6,
        vec![put_task(0xA, 6, &format!("t6{}", " ".repeat(3000)), 1)],
    ))
    .await;
    while !matches!(a.recv().await, ServerMessage::Ack { .. }) {}
    let mut c = Raw::login_ok(server.addr, 0xC, 2, RequestUpdatesMode::Auto).await;
    let (messages, seq) = c.until_complete().await;
    assert_eq!(seq, 6);
    assert!(
        matches!(
            messages.first(),
            Some(ServerMessage::FullSyncBegin { seq: 6, .. })
        ),
        "{messages:?}"
    );
    assert_eq!(texts(&messages).len(), 6);
    server.stop().await;
}

#[tokio::test]
async fn sync_clock_conflicts_keep_the_newer_write_and_correct_the_loser() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let mut a = Raw::login_ok(server.addr, 0xA, 0, RequestUpdatesMode::Auto).await;
    a.until_complete().await;
    let mut b = Raw::login_ok(server.addr, 0xB, 0, RequestUpdatesMode::Auto).await;
    b.until_complete().await;
    let id = GlobalId(0xA, 1);
    a.send(&apply(
        1,
        vec![Op::Put {
            entity: TASK,
            id,
            props: vec![
                (TASK_TEXT, Value::String("newer".into())),
                (TASK_CLOCK, Value::Int(10)),
            ],
        }],
    ))
    .await;
    while !matches!(a.recv().await, ServerMessage::Ack { .. }) {}
    // B edits the same object with an older clock: its put loses and B gets the winner back.
    b.send(&apply(
        1,
        vec![Op::Put {
            entity: TASK,
            id,
            props: vec![
                (TASK_TEXT, Value::String("older".into())),
                (TASK_CLOCK, Value::Int(5)),
            ],
        }],
    ))
    .await;
    loop {
        match b.recv().await {
            ServerMessage::Ack {
                tx_id: 1,
                corrections,
                ..
            } => {
                assert_eq!(
                    texts(&[ServerMessage::FullSyncChunk { ops: corrections }]),
                    vec![(id, "newer".into())]
                );
                break;
            }
            ServerMessage::Push { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    // A newer clock from B wins.
    b.send(&apply(
        2,
        vec![Op::Put {
            entity: TASK,
            id,
            props: vec![
                (TASK_TEXT, Value::String("newest".into())),
                (TASK_CLOCK, Value::Int(11)),
            ],
        }],
    ))
    .await;
    loop {
        match b.recv().await {
            ServerMessage::Ack {
                tx_id: 2,
                corrections,
                ..
            } => {
                assert!(corrections.is_empty());
                break;
            }
            ServerMessage::Push { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let mut c = Raw::login_ok(server.addr, 0xC, 0, RequestUpdatesMode::AutoNoPushes).await;
    let (messages, _) = c.until_complete().await;
    assert_eq!(texts(&messages), vec![(id, "newest".into())]);
    server.stop().await;
}

#[tokio::test]
async fn manual_clients_get_nothing_until_they_ask() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let mut writer = Raw::login_ok(server.addr, 0xA, 0, RequestUpdatesMode::Auto).await;
    writer.until_complete().await;
    writer
        .send(&apply(1, vec![put_task(0xA, 1, "one", 1)]))
        .await;
    while !matches!(writer.recv().await, ServerMessage::Ack { .. }) {}

    let mut manual = Raw::login_ok(server.addr, 0xD, 0, RequestUpdatesMode::Manual).await;
    // It can still send and get ACKs.
    manual
        .send(&apply(1, vec![put_task(0xD, 1, "from manual", 1)]))
        .await;
    assert!(matches!(
        manual.recv().await,
        ServerMessage::Ack { tx_id: 1, .. }
    ));
    manual
        .send(&ClientMessage::RequestUpdates { subscribe: false })
        .await;
    let (messages, seq) = manual.until_complete().await;
    assert_eq!(seq, 2);
    assert_eq!(texts(&messages).len(), 2);
    server.stop().await;
}

/// A server that admits clients proving the shared secret `s3cret`.
async fn shared_secret_server(dir: &std::path::Path) -> Server {
    Server::start(dir, |c| {
        c.unsecured_no_authentication = false;
        c.auth.shared_secret = Some(sync_server::config::SharedSecret {
            value: "s3cret".into(),
            required: false,
        });
    })
    .await
}

/// A `Login` of `peer_id` on the example model's schema, mode AUTO, from position 0.
fn example_login(peer_id: u64, credentials: Vec<Credential>) -> ClientMessage {
    let (full, base) = example_hashes();
    ClientMessage::Login(Login {
        protocol_version: PROTOCOL_VERSION,
        peer_id,
        credentials,
        schema_full_hash: full,
        schema_base_hash: base,
        last_seq: 0,
        mode: RequestUpdatesMode::Auto,
        last_tx_id: 0,
    })
}

#[tokio::test]
async fn a_login_that_proves_the_same_identity_takes_over_a_connected_peer_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = shared_secret_server(dir.path()).await;
    let login = |raw: &Raw, peer_id: u64| {
        let hmac = shared_types::shared_secret::shared_secret_proof(b"s3cret", &raw.nonce, peer_id);
        example_login(peer_id, vec![Credential::SharedSecret { hmac }])
    };
    let logged_in = |m: &ServerMessage| {
        matches!(
            m,
            ServerMessage::LoginResult {
                code: LoginCode::Ok,
                ..
            }
        )
    };
    // The first connection of peer 7 logs in and writes; it is never closed by the client (a
    // connection that broke without a close looks the same to the server).
    let mut old = Raw::connect(server.addr).await;
    old.send(&login(&old, 7)).await;
    assert!(logged_in(&old.recv().await));
    old.until_complete().await;
    old.send(&apply(1, vec![put_task(7, 1, "before the takeover", 1)]))
        .await;
    assert!(matches!(
        old.recv().await,
        ServerMessage::Ack { tx_id: 1, .. }
    ));

    // A new login with the same peer id and a valid proof takes over at once.
    let mut new = Raw::connect(server.addr).await;
    new.send(&login(&new, 7)).await;
    assert!(logged_in(&new.recv().await));
    // (After the push of its own transaction, which was still on its way.)
    let mut told = old.recv().await;
    if let ServerMessage::Push { .. } = told {
        told = old.recv().await;
    }
    match told {
        ServerMessage::Error { code, message } => {
            assert_eq!(code, ErrorCode::Replaced);
            assert!(message.contains("took over"), "{message}");
        }
        other => panic!("the old connection must be told: {other:?}"),
    }
    assert!(old.closed().await);
    // The new connection is the peer's now: it catches up and its transactions continue the
    // old one's (a resent tx 1 is a duplicate).
    let (messages, _) = new.until_complete().await;
    assert_eq!(texts(&messages).len(), 1);
    new.send(&apply(1, vec![put_task(7, 1, "resent", 1)])).await;
    assert!(matches!(
        new.recv().await,
        ServerMessage::Ack { tx_id: 1, .. }
    ));
    new.send(&apply(2, vec![put_task(7, 2, "after the takeover", 1)]))
        .await;
    assert!(matches!(
        new.recv().await,
        ServerMessage::Ack { tx_id: 2, .. }
    ));

    // Without credentials nothing is proven: in unsecured mode a connected peer id stays taken
    // (login_refusals_have_their_codes_and_others_are_unaffected).
    server.stop().await;
}

#[tokio::test]
async fn shared_secret_logins_prove_the_secret_without_sending_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = shared_secret_server(dir.path()).await;
    let login = example_login;
    // The right secret, proven over this connection's nonce.
    let mut ok = Raw::connect(server.addr).await;
    let proof = shared_types::shared_secret::shared_secret_proof(b"s3cret", &ok.nonce, 7);
    ok.send(&login(
        7,
        vec![Credential::SharedSecret {
            hmac: proof.clone(),
        }],
    ))
    .await;
    assert!(matches!(
        ok.recv().await,
        ServerMessage::LoginResult {
            code: LoginCode::Ok,
            ..
        }
    ));

    // A replayed proof (another connection has another nonce), a wrong secret, and no credentials.
    let mut replay = Raw::connect(server.addr).await;
    replay
        .send(&login(7, vec![Credential::SharedSecret { hmac: proof }]))
        .await;
    assert!(matches!(
        replay.recv().await,
        ServerMessage::LoginResult {
            code: LoginCode::CredentialsRejected,
            ..
        }
    ));
    let mut wrong = Raw::connect(server.addr).await;
    let bad = shared_types::shared_secret::shared_secret_proof(b"guess", &wrong.nonce, 8);
    wrong
        .send(&login(8, vec![Credential::SharedSecret { hmac: bad }]))
        .await;
    assert!(matches!(
        wrong.recv().await,
        ServerMessage::LoginResult {
            code: LoginCode::CredentialsRejected,
            ..
        }
    ));
    let mut none = Raw::connect(server.addr).await;
    none.send(&login(9, vec![Credential::None])).await;
    assert!(matches!(
        none.recv().await,
        ServerMessage::LoginResult {
            code: LoginCode::CredentialsRejected,
            ..
        }
    ));
    server.stop().await;
}

#[tokio::test]
async fn clients_on_an_older_schema_version_keep_newer_properties_intact() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = crate::support::fixture("evolution/v2-add-property-and-entity.json");
    // Version 1 (the example model), then version 2 adds Task.priority (property id 7).
    Server::start(dir.path(), |_| {}).await.stop().await;
    let server = Server::start(dir.path(), |c| c.model_file = Some(v2.clone())).await;
    let v2_model = sync_server::model::Model::from_json(&std::fs::read(&v2).unwrap())
        .unwrap()
        .model;
    let login_v2 = |peer_id| {
        ClientMessage::Login(Login {
            protocol_version: PROTOCOL_VERSION,
            peer_id,
            credentials: vec![Credential::None],
            schema_full_hash: v2_model.full_hash().to_string(),
            schema_base_hash: v2_model.base_hash().to_string(),
            last_seq: 0,
            mode: RequestUpdatesMode::Auto,
            last_tx_id: 0,
        })
    };
    const PRIORITY: u32 = 7;
    let id = GlobalId(0xB, 1);
    let mut new_client = Raw::connect(server.addr).await;
    new_client.send(&login_v2(0xB)).await;
    assert!(matches!(
        new_client.recv().await,
        ServerMessage::LoginResult {
            code: LoginCode::Ok,
            schema_version: 2,
            ..
        }
    ));
    new_client.until_complete().await;
    new_client
        .send(&apply(
            1,
            vec![Op::Put {
                entity: TASK,
                id,
                props: vec![
                    (TASK_TEXT, Value::String("new".into())),
                    (TASK_CLOCK, Value::Int(1)),
                    (PRIORITY, Value::Int(5)),
                ],
            }],
        ))
        .await;
    while !matches!(new_client.recv().await, ServerMessage::Ack { .. }) {}

    // The old client (version 1 hashes) edits the text; it does not know `priority`.
    let mut old_client = Raw::connect(server.addr).await;
    match old_client.login(0xA, 0, RequestUpdatesMode::Auto).await {
        ServerMessage::LoginResult {
            code: LoginCode::Ok,
            schema_version,
            ..
        } => assert_eq!(schema_version, 1),
        other => panic!("{other:?}"),
    }
    old_client.until_complete().await;
    old_client
        .send(&apply(1, vec![put_task(0xB, 1, "edited by old client", 2)]))
        .await;
    while !matches!(old_client.recv().await, ServerMessage::Ack { .. }) {}

    let mut check = Raw::connect(server.addr).await;
    check.send(&login_v2(0xC)).await;
    check.recv().await;
    let (messages, _) = check.until_complete().await;
    let props = messages
        .iter()
        .find_map(|m| match m {
            ServerMessage::FullSyncChunk { ops } => ops.iter().find_map(|op| match op {
                Op::Put { id: got, props, .. } if *got == id => Some(props.clone()),
                _ => None,
            }),
            _ => None,
        })
        .expect("the task");
    assert!(
        props.contains(&(TASK_TEXT, Value::String("edited by old client".into()))),
        "{props:?}"
    );
    assert!(props.contains(&(PRIORITY, Value::Int(5))), "{props:?}");
    server.stop().await;
}

/// Puts one object and returns the corrections of the Ack.
async fn put_and_ack(raw: &mut Raw, tx_id: u64, op: Op) -> Vec<Op> {
    raw.send(&apply(tx_id, vec![op])).await;
    loop {
        match raw.recv().await {
            ServerMessage::Ack {
                tx_id: got,
                corrections,
                ..
            } if got == tx_id => return corrections,
            ServerMessage::Push { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn precedence_then_clock_then_first_arrival_decide_and_plain_entities_take_the_last_write() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = crate::support::fixture("conflicts-model.json");
    let server = Server::start(dir.path(), |c| c.model_file = Some(model_path.clone())).await;
    let model = sync_server::model::Model::from_json(&std::fs::read(&model_path).unwrap())
        .unwrap()
        .model;
    let login = |peer_id| {
        ClientMessage::Login(Login {
            protocol_version: PROTOCOL_VERSION,
            peer_id,
            credentials: vec![Credential::None],
            schema_full_hash: model.full_hash().to_string(),
            schema_base_hash: model.base_hash().to_string(),
            last_seq: 0,
            mode: RequestUpdatesMode::Auto,
            last_tx_id: 0,
        })
    };
    let mut a = Raw::connect(server.addr).await;
    a.send(&login(0xA)).await;
    a.recv().await;
    a.until_complete().await;
    const DOC: u32 = 1;
    const NOTE: u32 = 2;
    let doc = |body: &str, precedence: i64, clock: i64| Op::Put {
        entity: DOC,
        id: GlobalId(0xA, 1),
        props: vec![
            (2, Value::String(body.into())),
            (3, Value::Int(precedence)),
            (4, Value::Int(clock)),
        ],
    };
    let body_of = |ops: &[Op]| match ops.first() {
        Some(Op::Put { props, .. }) => props.iter().find(|(p, _)| *p == 2).map(|(_, v)| v.clone()),
        _ => None,
    };
    // (body, precedence, clock, expected winner body)
    let cases = [
        ("first", 1, 10, None),               // nothing stored: wins
        ("older clock", 1, 5, Some("first")), // same precedence, older clock: loses
        ("same clock", 1, 10, Some("first")), // full tie: the first write received stays
        ("newer clock", 1, 11, None),         // newer clock: wins
        ("higher precedence", 2, 1, None),    // higher precedence beats any clock
        ("lower precedence", 1, 99, Some("higher precedence")),
    ];
    for (tx, (body, precedence, clock, loser_sees)) in cases.into_iter().enumerate() {
        let corrections = put_and_ack(&mut a, tx as u64 + 1, doc(body, precedence, clock)).await;
        match loser_sees {
            None => assert!(corrections.is_empty(), "{body}: {corrections:?}"),
            Some(winner) => assert_eq!(
                body_of(&corrections),
                Some(Value::String(winner.into())),
                "{body}"
            ),
        }
    }
    // Without clock or precedence, the last write received wins.
    let note = |body: &str| Op::Put {
        entity: NOTE,
        id: GlobalId(0xA, 2),
        props: vec![(2, Value::String(body.into()))],
    };
    assert!(put_and_ack(&mut a, 10, note("one")).await.is_empty());
    let mut b = Raw::connect(server.addr).await;
    b.send(&login(0xB)).await;
    b.recv().await;
    b.until_complete().await;
    assert!(put_and_ack(&mut b, 1, note("two")).await.is_empty());
    let mut c = Raw::connect(server.addr).await;
    c.send(&login(0xC)).await;
    c.recv().await;
    let (messages, _) = c.until_complete().await;
    let bodies: Vec<Value> = messages
        .iter()
        .flat_map(|m| match m {
            ServerMessage::FullSyncChunk { ops } => ops.clone(),
            _ => vec![],
        })
        .filter_map(|op| body_of(&[op]))
        .collect();
    assert!(
        bodies.contains(&Value::String("higher precedence".into())),
        "{bodies:?}"
    );
    assert!(bodies.contains(&Value::String("two".into())), "{bodies:?}");
    server.stop().await;
}

#[tokio::test]
async fn stopping_closes_every_connection_and_the_database_before_run_returns() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    // 30 MB of objects, more than the socket buffers of a client that does not read hold.
    let mut writer = Raw::login_ok(server.addr, 1, 0, RequestUpdatesMode::AutoNoPushes).await;
    writer.until_complete().await;
    let text = "x".repeat(100_000);
    for tx in 1..=30u64 {
        let ops = (0..10)
            .map(|i| put_task(1, tx * 10 + i, &text, 1))
            .collect();
        writer.send(&apply(tx, ops)).await;
    }
    let mut acked = 0;
    while acked < 30 {
        if let ServerMessage::Ack { .. } = writer.recv().await {
            acked += 1;
        }
    }
    // Idle live clients, and one that starts a full sync and then reads nothing more: its
    // connection is stuck sending when the server stops.
    let mut idle = Vec::new();
    for peer in 2..=50u64 {
        let mut raw = Raw::login_ok(server.addr, peer, 30, RequestUpdatesMode::Auto).await;
        raw.until_complete().await;
        idle.push(raw);
    }
    let mut stuck = Raw::login_ok(server.addr, 99, 0, RequestUpdatesMode::Auto).await;
    assert!(matches!(
        stuck.recv().await,
        ServerMessage::FullSyncBegin { .. }
    ));
    // The hang guard is not a timing assertion: stopping must not wait for the stuck client.
    tokio::time::timeout(Duration::from_secs(60), server.stop())
        .await
        .expect("the server stops although a client does not read");
    // `run` has returned: the environment is closed, so it opens again at once in this process
    // (LMDB refuses a second open of an environment that is still open).
    let store = sync_server::store::Store::open(&dir.path().join("db"), 1 << 30)
        .expect("the database is closed when run returns");
    assert_eq!(store.verify_log_chain().expect("the log verifies"), 30);
    store.close();
    for mut raw in idle {
        assert!(raw.closed().await);
    }
    drop(stuck);
}
