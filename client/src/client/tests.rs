//! The client against a scripted server on 127.0.0.1: real sockets, real WebSocket handshake.

use serde_json::json;
use shared_types::protocol::{
    self as wire, GlobalId, MIN_PROTOCOL_VERSION, Op, PROTOCOL_VERSION, ServerMessage, TxEntry,
    Value,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;

use super::*;
use crate::store::tests::{open, tasks_model};

/// How long any single step may take before the test fails.
const STEP: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<TcpStream>;

async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    (listener, url)
}

async fn accept(listener: &TcpListener) -> Ws {
    let (tcp, _) = tokio::time::timeout(STEP, listener.accept())
        .await
        .expect("the client connects in time")
        .expect("accept");
    tokio_tungstenite::accept_async(tcp)
        .await
        .expect("handshake")
}

async fn send(ws: &mut Ws, message: ServerMessage) {
    ws.send(Message::Binary(wire::encode(&message).into()))
        .await
        .expect("send");
}

async fn recv(ws: &mut Ws) -> wire::ClientMessage {
    loop {
        let frame = tokio::time::timeout(STEP, ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("frame");
        if let Message::Binary(bytes) = frame {
            return wire::decode_client(&bytes).expect("valid message");
        }
    }
}

/// Skips heartbeats (none are due in these short tests, but be safe).
async fn recv_non_heartbeat(ws: &mut Ws) -> wire::ClientMessage {
    loop {
        match recv(ws).await {
            wire::ClientMessage::Heartbeat { .. } => {}
            other => return other,
        }
    }
}

/// Runs the server side of a login: Hello, Login in, LoginResult with `code` out.
async fn log_in(ws: &mut Ws, code: LoginCode) -> wire::Login {
    send(
        ws,
        ServerMessage::Hello {
            min_version: MIN_PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            nonce: vec![1; 32],
            server_time_ms: 1_000,
        },
    )
    .await;
    let wire::ClientMessage::Login(login) = recv_non_heartbeat(ws).await else {
        panic!("expected Login");
    };
    send(
        ws,
        ServerMessage::LoginResult {
            code,
            message: String::new(),
            server_time_ms: 1_700_000_000_000,
            schema_version: 1,
            head_seq: 0,
        },
    )
    .await;
    login
}

async fn next_event(events: &mut broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(STEP, events.recv())
        .await
        .expect("an event in time")
        .expect("event")
}

/// Waits for the first event `pick` accepts, returning the events before it too.
async fn wait_for(
    events: &mut broadcast::Receiver<Event>,
    pick: impl Fn(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let event = next_event(events).await;
        let done = pick(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

fn options(url: String) -> ClientOptions {
    let mut options = ClientOptions::new(url);
    options.initial_backoff = Duration::from_millis(20);
    options.max_backoff = Duration::from_millis(100);
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_sends_the_queue_and_resends_it_after_a_reconnect() {
    let (listener, url) = listen().await;
    let (_dir, store) = open(tasks_model());
    store.put("Task", &json!({"text": "offline"})).expect("put");
    let client = SyncClient::new(store.clone(), options(url)).expect("client");
    let mut events = client.subscribe();
    client.start();

    let mut ws = accept(&listener).await;
    let login = log_in(&mut ws, LoginCode::Ok).await;
    assert_eq!(login.peer_id, store.peer_id());
    assert_eq!(login.last_tx_id, 1);
    let wire::ClientMessage::ApplyTx(tx) = recv_non_heartbeat(&mut ws).await else {
        panic!("expected the queued tx");
    };
    assert_eq!(tx.tx_id, 1);

    send(
        &mut ws,
        ServerMessage::Push {
            txs: vec![TxEntry {
                seq: 1,
                origin: 5,
                time_ms: 0,
                ops: vec![Op::Put {
                    entity: 1,
                    id: GlobalId(5, 1),
                    props: vec![(2, Value::String("from 5".into()))],
                }],
                tx_id: 0,
            }],
        },
    )
    .await;
    send(
        &mut ws,
        ServerMessage::Ack {
            tx_id: 1,
            seq: 2,
            corrections: vec![],
        },
    )
    .await;
    send(&mut ws, ServerMessage::SyncComplete { seq: 2 }).await;

    let seen = wait_for(&mut events, |e| matches!(e, Event::SyncCompleted(2))).await;
    assert_eq!(seen[0], Event::Connected);
    assert!(matches!(seen[1], Event::LoggedIn { .. }));
    assert!(seen.contains(&Event::Changes {
        entity: "Task".into(),
        puts: vec![2],
        removes: vec![]
    }));
    assert!(seen.contains(&Event::TxAcked { tx_id: 1, seq: 2 }));
    assert_eq!(client.outgoing_queue_len().expect("len"), 0);
    assert_eq!(client.status().state, State::LoggedIn);
    let server_time = client.server_time_ms().expect("known after login");
    assert!(server_time >= 1_700_000_000_000, "{server_time}");

    // A transaction queued while connected is sent at once.
    store.put("Task", &json!({"text": "live"})).expect("put");
    let wire::ClientMessage::ApplyTx(tx) = recv_non_heartbeat(&mut ws).await else {
        panic!("expected the new tx");
    };
    assert_eq!(tx.tx_id, 2);

    // The server goes away before acknowledging it: the client reconnects and sends it again.
    drop(ws);
    wait_for(&mut events, |e| *e == Event::Disconnected).await;
    let mut ws = accept(&listener).await;
    let login = log_in(&mut ws, LoginCode::Ok).await;
    assert_eq!(login.last_seq, 2);
    let wire::ClientMessage::ApplyTx(tx) = recv_non_heartbeat(&mut ws).await else {
        panic!("expected the unacked tx again");
    };
    assert_eq!(tx.tx_id, 2);

    client.stop().await;
    assert!(client.status().stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_wait_for_new_ones() {
    let (listener, url) = listen().await;
    let (_dir, store) = open(tasks_model());
    let mut options = options(url);
    options.credentials = Credentials::SharedSecret(b"wrong".to_vec());
    let client = SyncClient::new(store, options).expect("client");
    let mut events = client.subscribe();
    client.start();

    let mut ws = accept(&listener).await;
    log_in(&mut ws, LoginCode::CredentialsRejected).await;
    wait_for(&mut events, |e| matches!(e, Event::LoginFailed { .. })).await;
    wait_for(&mut events, |e| *e == Event::Disconnected).await;
    assert_eq!(
        client.status().blocked,
        Some((LoginCode::CredentialsRejected, Retry::WhenCredentialsChange))
    );
    // No new attempt, although the backoff is 20 ms.
    let quiet = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(
        quiet.is_err(),
        "the client must not retry with the same credentials"
    );

    client.set_credentials(Credentials::SharedSecret(b"right".to_vec()));
    let mut ws = accept(&listener).await;
    log_in(&mut ws, LoginCode::Ok).await;
    wait_for(&mut events, |e| matches!(e, Event::LoggedIn { .. })).await;
    assert_eq!(client.status().blocked, None);
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_retried_with_growing_delays() {
    // Bind and drop to get a port nobody listens on.
    let (listener, url) = listen().await;
    drop(listener);
    let (_dir, store) = open(tasks_model());
    let client = SyncClient::new(store, options(url)).expect("client");
    let mut events = client.subscribe();
    client.start();
    let mut delays = Vec::new();
    while delays.len() < 4 {
        if let Event::ConnectFailed { retry_in_ms, .. } = next_event(&mut events).await {
            delays.push(retry_in_ms);
        }
    }
    assert_eq!(delays, vec![20, 40, 80, 100]);
    client.stop().await;
}

#[test]
fn urls_are_checked_up_front() {
    let (_dir, store) = open(tasks_model());
    for bad in ["http://host", "ws://", "ws:///path", "host:80"] {
        let error = SyncClient::new(store.clone(), ClientOptions::new(bad))
            .err()
            .unwrap_or_else(|| panic!("{bad} must be refused"));
        assert!(error.to_string().contains(bad), "{error}");
    }
    assert!(
        SyncClient::new(
            store.clone(),
            ClientOptions::new("ws://127.0.0.1:9999/sync")
        )
        .is_ok()
    );
}
