//! Hostile input that is not a protocol frame: huge and deeply nested admin bodies, slow or
//! silent handshakes (slowloris), and many connections from one address with the server's memory
//! measured. Each time the server answers or closes that connection and keeps serving others.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use shared_types::protocol::*;
use sync_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::protocol::{Raw, apply, put_task};
use crate::support::{InProcess, example_model};

/// A hang guard for reads (not a timing assertion).
const WAIT: Duration = Duration::from_secs(30);

/// The server in-process with an open admin API (no login needed) and a short handshake
/// timeout.
async fn start(dir: &std::path::Path, handshake_timeout: Duration) -> InProcess {
    let mut config = Config::for_tests(Some(example_model()), dir.join("db"));
    config.log_level = sync_server::logging::LogLevel::Error;
    config.admin_unsecured_no_authentication = true;
    config.limits.handshake_timeout = handshake_timeout;
    InProcess::start(config).await
}

/// Sends `head` (up to the blank line, without Content-Length) and `body` as one request;
/// returns the status and the JSON body.
async fn send(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    // The server may answer and close before the whole body is written.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A request with a Content-Length body.
async fn post(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    send(addr, &head, body).await
}

#[track_caller]
fn expect(reply: &(u16, Value), status: u16, code: &str, needle: &str) {
    let (got, json) = reply;
    assert_eq!(
        (*got, json["error"]["code"].as_str().unwrap_or("")),
        (status, code),
        "{json}"
    );
    let message = json["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains(needle), "{message}");
}

#[tokio::test]
async fn huge_admin_bodies_get_413_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Duration::from_secs(30)).await;
    let admin = server.admin.expect("admin");
    let big = vec![b' '; 2 * 1024 * 1024];
    // Declared with Content-Length, on a public route and on a protected one.
    let reply = post(admin, "POST", "/api/login", &big).await;
    expect(&reply, 413, "payload_too_large", "bytes");
    let reply = post(admin, "PUT", "/api/log-level", &big).await;
    expect(&reply, 413, "payload_too_large", "bytes");
    // Schema uploads have their own, larger limit.
    let reply = post(
        admin,
        "POST",
        "/api/schema/versions",
        &vec![b' '; 17 * 1024 * 1024],
    )
    .await;
    expect(&reply, 413, "payload_too_large", "16777216 bytes");
    // Chunked, without a declared length: refused once the limit is read.
    let head = format!(
        "POST /api/login HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut chunked = Vec::new();
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend_from_slice(&[b' '; 64 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let reply = send(admin, &head, &chunked).await;
    expect(&reply, 413, "payload_too_large", "bytes");

    let (status, _) = post(admin, "GET", "/api/health", b"").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn deeply_nested_admin_json_is_refused_without_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Duration::from_secs(30)).await;
    let admin = server.admin.expect("admin");
    let arrays = |depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = |depth| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    // Under the general body limit (64 KiB), so the parsers see them. Typed bodies stop at the
    // first level that has the wrong type.
    for body in [arrays(30_000), objects(10_000)] {
        assert!(body.len() < 64 * 1024);
        for (method, path) in [("POST", "/api/login"), ("PUT", "/api/log-level")] {
            let (status, json) = post(admin, method, path, body.as_bytes()).await;
            assert!(matches!(status, 400 | 422), "{path}: {status} {json}");
            assert_eq!(json["error"]["code"], "invalid_request", "{json}");
        }
    }
    // Untyped parsing (the model upload, 16 MiB limit) stops at serde_json's recursion limit.
    for body in [arrays(1_000_000), objects(1_000_000)] {
        let reply = post(admin, "POST", "/api/schema/versions", body.as_bytes()).await;
        expect(&reply, 400, "invalid_model", "recursion limit");
    }
    // Nested inside an otherwise valid model.
    let model = std::fs::read_to_string(example_model()).unwrap();
    let nested_model = model.replacen("{", &format!("{{\"_nested\": {},", arrays(1_000_000)), 1);
    let reply = post(
        admin,
        "POST",
        "/api/schema/versions",
        nested_model.as_bytes(),
    )
    .await;
    expect(&reply, 400, "invalid_model", "recursion limit");

    let (status, _) = post(admin, "GET", "/api/health", b"").await;
    assert_eq!(status, 200);
    server.stop().await;
}

/// Reads until the server closes the connection; returns what it sent.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut got))
        .await
        .expect("the server closes the connection")
        .ok();
    got
}

#[tokio::test]
async fn slow_and_silent_handshakes_are_timed_out_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    // A short timeout as the mechanism under test; nothing here measures time.
    let server = start(dir.path(), Duration::from_millis(500)).await;
    let admin = server.admin.expect("admin");
    let mut good = Raw::login_ok(server.sync, 0xE0, 0, RequestUpdatesMode::Auto).await;
    good.until_complete().await;

    let mut hostile = Vec::new();
    for addr in [server.sync, admin] {
        // Connects and sends nothing.
        hostile.push(TcpStream::connect(addr).await.expect("connect"));
        // Sends part of the request headers and then nothing.
        let mut partial = TcpStream::connect(addr).await.expect("connect");
        partial
            .write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ").as_bytes())
            .await
            .expect("write");
        hostile.push(partial);
    }
    // Sends the headers of an admin request and only part of its body.
    let mut slow_body = TcpStream::connect(admin).await.expect("connect");
    slow_body
        .write_all(
            format!(
                "POST /api/login HTTP/1.1\r\nHost: {admin}\r\nContent-Type: application/json\r\n\
                 Content-Length: 100\r\n\r\n{{\"user\": "
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    // Upgrades to a WebSocket and never logs in.
    let mut no_login = Raw::connect(server.sync).await;

    for stream in &mut hostile {
        until_closed(stream).await;
    }
    let answer = String::from_utf8(until_closed(&mut slow_body).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    match no_login.recv().await {
        ServerMessage::Error {
            code: ErrorCode::IdleTimeout,
            message,
        } => assert!(message.contains("no Login"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(no_login.closed().await);

    // The logged-in client was never subject to it.
    good.send(&apply(1, vec![put_task(0xE0, 1, "still here", 1)]))
        .await;
    loop {
        match good.recv().await {
            ServerMessage::Ack { tx_id: 1, .. } => break,
            ServerMessage::Push { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let (status, _) = post(admin, "GET", "/api/health", b"").await;
    assert_eq!(status, 200);
    server.stop().await;
}

/// The resident set of a process in KiB, from `/proc/PID/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::test]
async fn many_connections_from_one_address_are_capped_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let model = example_model();
    let server = crate::support::Running::start(
        dir.path(),
        &[
            "--unsecured-no-authentication",
            "--model",
            model.to_str().unwrap(),
            "--max-connections-per-address",
            "50",
        ],
    );
    let pid = server.child.id();
    let sync = server.sync_addr;
    let before = rss_kib(pid);

    // 300 WebSocket connections from one address: 50 admitted, the rest refused with 429.
    let mut admitted = Vec::new();
    let mut refused = 0;
    for _ in 0..300 {
        match tokio_tungstenite::connect_async(format!("ws://{sync}/")).await {
            Ok((ws, _)) => admitted.push(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 429);
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((admitted.len(), refused), (50, 250));
    // And 200 that open TCP and send half a request line.
    let mut idle = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(sync).await.expect("connect");
        stream.write_all(b"GET / HT").await.expect("write");
        idle.push(stream);
    }
    // Another address is served meanwhile.
    let mut other = crate::limits::login_from([127, 0, 0, 2], sync, 0xF0).await;
    other
        .send(&apply(1, vec![put_task(0xF0, 1, "served", 1)]))
        .await;
    while !matches!(other.recv().await, ServerMessage::Ack { .. }) {}

    let during = rss_kib(pid);
    // Generous: 50 WebSockets and 200 half-open requests take a few MB; 64 MiB would mean
    // per-connection memory is not bounded.
    assert!(
        during < before + 64 * 1024,
        "RSS grew from {before} KiB to {during} KiB"
    );
    drop((admitted, idle, other));
    let (code, _) = server.terminate();
    assert_eq!(code, 0);
}
