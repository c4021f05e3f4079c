//! Limits over real sockets: connections in total and per address, message size, operations per
//! transaction, inbound rate, a full database and a full disk. Each limit answers with an error
//! naming its option, and the server keeps serving everyone else.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use shared_types::protocol::*;
use sync_server::config::Config;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::admin_users::{Auth, request};
use crate::protocol::{Raw, Server, apply, put_task};
use crate::support::{InProcess, example_model};

/// A hang guard for waits on the server (not a timing assertion).
const WAIT: Duration = Duration::from_secs(30);

/// A WebSocket to the sync port from a chosen loopback address (Linux routes all of 127/8 to
/// loopback), or the HTTP status and body that refused it.
async fn connect_from(
    from: [u8; 4],
    addr: SocketAddr,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, (u16, String)> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::from(from), 0))
        .expect("bind source address");
    let stream = socket.connect(addr).await.expect("connect");
    match tokio_tungstenite::client_async(format!("ws://{addr}/"), MaybeTlsStream::Plain(stream))
        .await
    {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            let retry = response.headers().get("retry-after").is_some();
            assert!(retry, "a refusal says when to retry: {response:?}");
            Err((response.status().as_u16(), body))
        }
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

/// Logs in over a WebSocket from `from`.
pub(crate) async fn login_from(from: [u8; 4], addr: SocketAddr, peer: u64) -> Raw {
    let ws = connect_from(from, addr).await.expect("admitted");
    let mut raw = Raw::from_ws(ws).await;
    match raw.login(peer, 0, RequestUpdatesMode::Auto).await {
        ServerMessage::LoginResult {
            code: LoginCode::Ok,
            ..
        } => {}
        other => panic!("login failed: {other:?}"),
    }
    raw.until_complete().await;
    raw
}

/// Sends one transaction and waits for its Ack, skipping pushes.
async fn put_acked(raw: &mut Raw, tx_id: u64, op: Op) {
    raw.send(&apply(tx_id, vec![op])).await;
    loop {
        match raw.recv().await {
            ServerMessage::Ack { tx_id: got, .. } if got == tx_id => return,
            ServerMessage::Push { .. } => {}
            other => panic!("expected Ack {tx_id}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn connections_over_the_limits_are_refused_with_503_or_429_and_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |c| {
        c.limits.max_connections = 4;
        c.limits.max_connections_per_address = 2;
    })
    .await;
    let addr = server.addr;
    let mut a1 = login_from([127, 0, 0, 1], addr, 0xA1).await;
    let _a2 = login_from([127, 0, 0, 1], addr, 0xA2).await;
    // A third connection from the same address.
    let (status, body) = connect_from([127, 0, 0, 1], addr)
        .await
        .expect_err("refused");
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("maxConnectionsPerAddress"), "{body}");
    assert!(body.contains("127.0.0.1"), "{body}");
    // Other addresses are still admitted, up to the total.
    let mut b1 = login_from([127, 0, 0, 2], addr, 0xB1).await;
    let _b2 = login_from([127, 0, 0, 2], addr, 0xB2).await;
    let (status, body) = connect_from([127, 0, 0, 3], addr)
        .await
        .expect_err("refused");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("maxConnections"), "{body}");
    // The plain-HTTP probe is not a connection slot.
    assert_eq!(plain_get(addr).await, 200);

    // The admitted clients are unaffected.
    put_acked(&mut a1, 1, put_task(0xA1, 1, "still served", 1)).await;
    match b1.recv().await {
        ServerMessage::Push { txs } => assert_eq!(txs[0].origin, 0xA1),
        other => panic!("{other:?}"),
    }
    // A closed connection frees its slot (the server notices the close asynchronously).
    drop(a1);
    let mut c = tokio::time::timeout(WAIT, async {
        loop {
            match connect_from([127, 0, 0, 3], addr).await {
                Ok(ws) => return Raw::from_ws(ws).await,
                Err((503, _)) => tokio::task::yield_now().await,
                Err(other) => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("the slot of a closed connection is freed");
    assert!(matches!(
        c.login(0xC, 0, RequestUpdatesMode::Auto).await,
        ServerMessage::LoginResult {
            code: LoginCode::Ok,
            ..
        }
    ));
    server.stop().await;
}

/// `GET /` on the sync port; returns the status.
async fn plain_get(addr: SocketAddr) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
    let mut text = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut text)
        .await
        .expect("read");
    let text = String::from_utf8_lossy(&text);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn oversized_and_lying_messages_get_an_error_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |c| c.max_message_size = 64 * 1024).await;
    let mut good = Raw::login_ok(server.addr, 0x61, 0, RequestUpdatesMode::Auto).await;
    good.until_complete().await;

    // A whole message over the limit.
    let mut big = Raw::connect(server.addr).await;
    big.send_raw(Message::binary(vec![0u8; 200 * 1024])).await;
    expect_error(&mut big, ErrorCode::TooLarge, "maxMessageSizeMb").await;

    // A frame header that declares 2^40 bytes and sends none of them: refused from the header,
    // without allocating.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", server.addr))
        .await
        .expect("connect");
    let _hello = ws.next().await;
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]); // Mask.
    if let MaybeTlsStream::Plain(tcp) = ws.get_mut() {
        tcp.write_all(&header).await.expect("write header");
    }
    match ws.next().await {
        Some(Ok(Message::Binary(data))) => match decode_server(&data).expect("a message") {
            ServerMessage::Error {
                code: ErrorCode::TooLarge,
                message,
            } => assert!(message.contains("maxMessageSizeMb"), "{message}"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }

    // A MessagePack array header that declares four billion operations in a 40-byte frame.
    let mut frame = b"\x81\xa7ApplyTx\x82\xa5tx_id\x01\xa3ops\xdd".to_vec();
    frame.extend_from_slice(&u32::MAX.to_be_bytes());
    let mut bogus = Raw::connect(server.addr).await;
    bogus.send(&login(0x62)).await;
    bogus.recv().await;
    bogus.until_complete().await;
    bogus.send_raw(Message::binary(frame)).await;
    expect_error(&mut bogus, ErrorCode::Malformed, "malformed").await;

    put_acked(&mut good, 1, put_task(0x61, 1, "after the attacks", 1)).await;
    server.stop().await;
}

#[tokio::test]
async fn transactions_over_max_tx_objects_are_rejected_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |c| c.limits.max_tx_objects = 3).await;
    let mut raw = Raw::login_ok(server.addr, 0x70, 0, RequestUpdatesMode::Auto).await;
    raw.until_complete().await;
    let ops = |n: u64| (1..=n).map(|i| put_task(0x70, i, "x", 1)).collect();
    raw.send(&apply(1, ops(4))).await;
    match raw.recv().await {
        ServerMessage::TxRejected {
            tx_id: 1,
            code: TxErrorCode::TooLarge,
            message,
        } => {
            assert!(message.contains("maxTxObjects"), "{message}");
            assert!(message.contains("4 operations"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // At the limit is fine, on the same connection.
    raw.send(&apply(2, ops(3))).await;
    loop {
        match raw.recv().await {
            ServerMessage::Ack { tx_id: 2, .. } => break,
            ServerMessage::Push { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_connection_over_its_inbound_rate_is_slowed_down_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(Some(example_model()), dir.path().join("db"));
    config.log_level = sync_server::logging::LogLevel::Warn;
    config.admin_unsecured_no_authentication = true;
    config.limits.max_inbound_messages_per_second = 20;
    let server = InProcess::start(config).await;
    let admin = server.admin.expect("admin");
    let mut raw = Raw::login_ok(server.sync, 0x80, 0, RequestUpdatesMode::AutoNoPushes).await;
    raw.until_complete().await;
    // Three seconds' worth at 20 messages/s, sent at once.
    const TXS: u64 = 60;
    for tx_id in 1..=TXS {
        raw.send(&apply(tx_id, vec![put_task(0x80, tx_id, "paced", 1)]))
            .await;
    }
    let mut acked = 0;
    while acked < TXS {
        match raw.recv().await {
            ServerMessage::Ack { tx_id, .. } => {
                acked += 1;
                assert_eq!(tx_id, acked);
            }
            other => panic!("{other:?}"),
        }
    }
    let metrics = request(admin, "GET", "/metrics", Auth::None, None).await;
    let text = metrics.json.as_str().unwrap_or_default().to_owned();
    let pauses = text
        .lines()
        .find(|l| l.starts_with("sync_limit_hits{limit=\"inbound_rate\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("the inbound_rate metric");
    assert!(pauses > 0, "{text}");
    server.stop().await;
}

#[tokio::test]
async fn a_full_database_rejects_writes_serves_reads_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let start = |max: u64| {
        let mut config = Config::for_tests(Some(example_model()), db.clone());
        config.log_level = sync_server::logging::LogLevel::Error;
        config.admin_unsecured_no_authentication = true;
        config.db_max_size = max;
        InProcess::start(config)
    };
    const MIB: u64 = 1024 * 1024;
    let server = start(2 * MIB).await;
    let mut writer = Raw::login_ok(server.sync, 0x90, 0, RequestUpdatesMode::AutoNoPushes).await;
    writer.until_complete().await;
    let text = "x".repeat(16 * 1024);
    let mut acked = Vec::new();
    let message = 'fill: {
        for i in 1..=1000 {
            writer
                .send(&apply(i, vec![put_task(0x90, i, &text, 1)]))
                .await;
            match writer.recv().await {
                ServerMessage::Ack { .. } => acked.push(i),
                ServerMessage::TxRejected {
                    code: TxErrorCode::StorageFull,
                    message,
                    ..
                } => break 'fill message,
                other => panic!("{other:?}"),
            }
        }
        panic!("a 2 MiB database must fill up");
    };
    assert!(message.contains("--db-max-size"), "{message}");
    assert!(!acked.is_empty());
    // The connection stays; the next write is refused the same way.
    writer
        .send(&apply(5000, vec![put_task(0x90, 5000, &text, 1)]))
        .await;
    assert!(matches!(
        writer.recv().await,
        ServerMessage::TxRejected {
            code: TxErrorCode::StorageFull,
            ..
        }
    ));

    // Reads go on: a new client logs in and gets everything acknowledged; admin GETs answer.
    let mut reader = Raw::login_ok(server.sync, 0x91, 0, RequestUpdatesMode::Auto).await;
    let (messages, _) = reader.until_complete().await;
    assert_eq!(crate::protocol::texts(&messages).len(), acked.len());
    let admin = server.admin.expect("admin");
    for path in [
        "/api/health",
        "/api/status",
        "/api/data/entities",
        "/api/history?limit=5",
    ] {
        let reply = request(admin, "GET", path, Auth::None, None).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
    }
    drop((writer, reader));
    server.stop().await;

    // Nothing stored was damaged: the log verifies and every acknowledged object is there.
    check_stored(&db, 16 * MIB, 0x90, &acked);
    // With more room, writing works again.
    let server = start(16 * MIB).await;
    let mut writer = Raw::login_ok(server.sync, 0x90, 0, RequestUpdatesMode::AutoNoPushes).await;
    writer.until_complete().await;
    put_acked(&mut writer, 6000, put_task(0x90, 6000, "more room", 1)).await;
    server.stop().await;
}

#[tokio::test]
async fn a_full_disk_rejects_writes_serves_reads_and_recovers_when_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small-fs");
    std::fs::create_dir(&mount).unwrap();
    let Some(_mounted) = Tmpfs::mount(&mount, "4m") else {
        // Mounting needs root (CI runs as root); without it this test cannot fill a disk.
        eprintln!("skipped: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)");
        return;
    };
    let db = mount.join("db");
    let mut config = Config::for_tests(Some(example_model()), db.clone());
    config.log_level = sync_server::logging::LogLevel::Error;
    config.admin_unsecured_no_authentication = true;
    let server = InProcess::start(config).await;
    // Leave the database about 1.5 MiB to grow into; the rest is a file we free later.
    let filler = mount.join("filler");
    std::fs::write(&filler, vec![0u8; 2 * 1024 * 1024 + 512 * 1024]).unwrap();

    let mut writer = Raw::login_ok(server.sync, 0xD0, 0, RequestUpdatesMode::AutoNoPushes).await;
    writer.until_complete().await;
    let text = "y".repeat(16 * 1024);
    let mut acked = Vec::new();
    let mut next = 1;
    let message = loop {
        assert!(next < 2000, "a 4 MiB file system must fill up");
        writer
            .send(&apply(next, vec![put_task(0xD0, next, &text, 1)]))
            .await;
        match writer.recv().await {
            ServerMessage::Ack { .. } => acked.push(next),
            ServerMessage::TxRejected {
                code: TxErrorCode::StorageFull,
                message,
                ..
            } => break message,
            other => panic!("{other:?}"),
        }
        next += 1;
    };
    assert!(message.contains("disk is full"), "{message}");
    let mut reader = Raw::login_ok(server.sync, 0xD1, 0, RequestUpdatesMode::Auto).await;
    let (messages, _) = reader.until_complete().await;
    assert_eq!(crate::protocol::texts(&messages).len(), acked.len());
    let admin = server.admin.expect("admin");
    let reply = request(admin, "GET", "/api/data/entities", Auth::None, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // Space comes back: the next write goes through, on the same connection.
    std::fs::remove_file(&filler).unwrap();
    next += 1;
    put_acked(&mut writer, next, put_task(0xD0, next, &text, 1)).await;
    acked.push(next);
    drop((writer, reader));
    server.stop().await;
    check_stored(&db, 1024 * 1024 * 1024, 0xD0, &acked);
}

/// Opens the database directly: the log's hash chain verifies and every acknowledged object of
/// `peer` (local ids `acked`) is stored.
fn check_stored(db: &Path, max_size: u64, peer: u64, acked: &[u64]) {
    let store = sync_server::store::Store::open(db, max_size).expect("opens without repair");
    store.verify_log_chain().expect("the log verifies");
    let model = sync_server::model::Model::from_json(&std::fs::read(example_model()).unwrap())
        .unwrap()
        .model;
    let task = model.entity_by_name("Task").expect("Task").id.uid;
    for &id in acked {
        assert!(
            store.object(task, GlobalId(peer, id)).unwrap().is_some(),
            "object {id} lost"
        );
    }
    store.close();
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Expects `Error { code }` whose message contains `needle`, then the close.
async fn expect_error(raw: &mut Raw, code: ErrorCode, needle: &str) {
    match raw.recv().await {
        ServerMessage::Error { code: got, message } => {
            assert_eq!(got, code, "{message}");
            assert!(message.contains(needle), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(raw.closed().await);
}

fn login(peer_id: u64) -> ClientMessage {
    let (full, base) = crate::protocol::example_hashes();
    ClientMessage::Login(Login {
        protocol_version: PROTOCOL_VERSION,
        peer_id,
        credentials: vec![Credential::None],
        schema_full_hash: full,
        schema_base_hash: base,
        last_seq: 0,
        mode: RequestUpdatesMode::Auto,
        last_tx_id: 0,
    })
}
