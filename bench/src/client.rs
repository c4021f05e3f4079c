//! A raw protocol client (no SDK): WebSocket frames encoded and decoded with `shared_types`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use shared_types::protocol::{
    ApplyTx, ClientMessage, Credential, GlobalId, Login, LoginCode, Op, PROTOCOL_VERSION,
    RequestUpdatesMode, ServerMessage, Value, decode_server, encode,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Entity id of `Task` in the example model, and its UID (the object key prefix in the store).
pub const TASK: u32 = 1;
pub const TASK_UID: u64 = 6645479796472661392;
/// Property ids of `Task.text` and `Task.syncClock`.
const TASK_TEXT: u32 = 2;
const TASK_CLOCK: u32 = 6;

/// The prefix of a stamped task's text.
const STAMP: &str = "sent ";

/// A hang guard for every read (not a timing assertion).
const READ_TIMEOUT: Duration = Duration::from_secs(120);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a client needs to log in to the server under test.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub full_hash: String,
    pub base_hash: String,
}

/// A connected, logged-in client.
pub struct Client {
    pub ws: Ws,
    /// The newest `seq` of the server's log at login.
    pub head_seq: u64,
}

impl Client {
    /// Connects, reads `Hello`, logs in without credentials and expects OK.
    pub async fn login(
        target: &Target,
        peer_id: u64,
        last_seq: u64,
        mode: RequestUpdatesMode,
    ) -> Result<Client> {
        let (ws, _) = connect(&target.url)
            .await
            .with_context(|| format!("connecting to {}", target.url))?;
        Client::login_over(ws, target, peer_id, last_seq, mode).await
    }

    /// Logs in over an open WebSocket: reads `Hello`, logs in without credentials and expects
    /// OK.
    pub async fn login_over(
        ws: Ws,
        target: &Target,
        peer_id: u64,
        last_seq: u64,
        mode: RequestUpdatesMode,
    ) -> Result<Client> {
        let mut client = Client { ws, head_seq: 0 };
        match client.recv().await? {
            ServerMessage::Hello { .. } => {}
            other => bail!("expected Hello, got {other:?}"),
        }
        client
            .send(&ClientMessage::Login(Login {
                protocol_version: PROTOCOL_VERSION,
                peer_id,
                credentials: vec![Credential::None],
                schema_full_hash: target.full_hash.clone(),
                schema_base_hash: target.base_hash.clone(),
                last_seq,
                mode,
                last_tx_id: 0,
            }))
            .await?;
        match client.recv().await? {
            ServerMessage::LoginResult {
                code: LoginCode::Ok,
                head_seq,
                ..
            } => {
                client.head_seq = head_seq;
                Ok(client)
            }
            other => bail!("login of peer {peer_id:#x} failed: {other:?}"),
        }
    }

    pub async fn send(&mut self, message: &ClientMessage) -> Result<()> {
        self.ws.send(Message::binary(encode(message))).await?;
        Ok(())
    }

    /// The next protocol message, skipping heartbeats.
    pub async fn recv(&mut self) -> Result<ServerMessage> {
        recv(&mut self.ws).await
    }

    /// Reads until `SyncComplete`; returns the number of objects received (puts in full-sync
    /// chunks and pushes), whether the server chose a full sync, and the position reached.
    pub async fn catch_up(&mut self) -> Result<CatchUp> {
        let mut caught = CatchUp::default();
        loop {
            match self.recv().await? {
                ServerMessage::SyncComplete { seq } => {
                    caught.seq = seq;
                    return Ok(caught);
                }
                ServerMessage::FullSyncBegin { .. } => caught.full_sync = true,
                ServerMessage::FullSyncChunk { ops } => caught.objects += count_puts(&ops),
                ServerMessage::Push { txs } => {
                    caught.txs += txs.len() as u64;
                    caught.objects += txs.iter().map(|t| count_puts(&t.ops)).sum::<u64>();
                }
                ServerMessage::Error { code, message } => bail!("server error {code:?}: {message}"),
                _ => {}
            }
        }
    }

    pub fn split(self) -> (SplitSink<Ws, Message>, SplitStream<Ws>) {
        self.ws.split()
    }
}

/// A WebSocket connection with Nagle's algorithm off, as the servers' own sockets have it, so
/// small frames are not held back waiting for a delayed ACK (about 40 ms on Linux).
pub async fn connect(
    url: &str,
) -> Result<(
    Ws,
    tokio_tungstenite::tungstenite::handshake::client::Response,
)> {
    Ok(tokio_tungstenite::connect_async_with_config(url, None, true).await?)
}

/// The outcome of a catch-up.
#[derive(Debug, Default, Clone, Copy)]
pub struct CatchUp {
    pub objects: u64,
    pub txs: u64,
    pub full_sync: bool,
    pub seq: u64,
}

/// The next protocol message from any stream of frames, skipping heartbeats and pings.
pub async fn recv<S>(stream: &mut S) -> Result<ServerMessage>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(READ_TIMEOUT, stream.next())
            .await
            .context("no message within the read timeout")?;
        match frame {
            Some(Ok(Message::Binary(data))) => match decode_server(&data)? {
                ServerMessage::Heartbeat { .. } => continue,
                message => return Ok(message),
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => bail!("expected a binary message, got {other:?}"),
        }
    }
}

/// A small `Task` put: a short text and a sync clock (about 40 bytes encoded).
pub fn task_put(peer: u64, local: u64) -> Op {
    Op::Put {
        entity: TASK,
        id: GlobalId(peer, local),
        props: vec![
            (TASK_TEXT, Value::String(format!("task {local}"))),
            (TASK_CLOCK, Value::Int(1)),
        ],
    }
}

/// A `Task` put whose text carries the writer's wall clock at sending, `sent NS` (nanoseconds
/// since the Unix epoch), so a subscriber in another process can time its receipt.
pub fn stamped_put(peer: u64, local: u64, sent_ns: u64) -> Op {
    Op::Put {
        entity: TASK,
        id: GlobalId(peer, local),
        props: vec![
            (TASK_TEXT, Value::String(format!("{STAMP}{sent_ns}"))),
            (TASK_CLOCK, Value::Int(1)),
        ],
    }
}

/// The (local id, send time in ns) of the first stamped put in `ops`.
pub fn stamp(ops: &[Op]) -> Option<(u64, u64)> {
    ops.iter().find_map(|op| match op {
        Op::Put { id, props, .. } => props.iter().find_map(|(prop, value)| match value {
            Value::String(text) if *prop == TASK_TEXT => {
                Some((id.1, text.strip_prefix(STAMP)?.parse().ok()?))
            }
            _ => None,
        }),
        _ => None,
    })
}

/// The wall clock in nanoseconds since the Unix epoch (shared by every process on the machine).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// An `ApplyTx` of `count` task puts with local ids from `first_local`.
pub fn apply_tasks(tx_id: u64, peer: u64, first_local: u64, count: u64) -> ClientMessage {
    ClientMessage::ApplyTx(ApplyTx {
        tx_id,
        ops: (first_local..first_local + count)
            .map(|local| task_put(peer, local))
            .collect(),
    })
}

fn count_puts(ops: &[Op]) -> u64 {
    ops.iter().filter(|op| matches!(op, Op::Put { .. })).count() as u64
}
