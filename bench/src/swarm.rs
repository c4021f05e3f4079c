//! The hidden `swarm` mode: one process holding many client connections for the bench, so that
//! the clients do not share the bench's (or the server's) process.
//!
//! The bench talks to a swarm in lines of text over the swarm's stdin and stdout:
//!
//! - The bench spawns `sync-bench swarm --server-addr A --clients N --mode idle|subscribe ...`.
//! - The swarm connects every client (at most `--concurrency` connecting at once, so the
//!   server's listen backlog does not overflow), each from the next `--source-addrs` address in
//!   turn. Without `--raw` each logs in (peer ids from `--first-peer`, `Auto`) and catches up to
//!   `SyncComplete`; with `--raw` it only completes the WebSocket handshake.
//! - After the first client that fails the swarm starts no more (a limit was reached): it
//!   prints `error TEXT` for that one, then `ready CONNECTED FAILED NOT_TRIED`.
//! - `idle`: every client reads frames and (unless raw) sends a `Heartbeat` every 15 s. On the
//!   line `status` the swarm prints `alive N`, the clients still connected.
//! - `subscribe`: every client decodes each `Push` (or, raw, any frame that decodes as one) and,
//!   for a stamped put (text `sent NS`, see `client::stamped_put`), takes its own wall clock.
//!   When every connected client has one for the put's local id R, the swarm prints
//!   `got R L1 L2 ...`, the receipt − send latencies in ns.
//! - When stdin closes the swarm exits.
// Standard output is the protocol with the bench.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use shared_types::protocol::{
    ClientMessage, RequestUpdatesMode, ServerMessage, decode_server, encode,
};
use tokio::net::TcpSocket;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::client::{Client, Target, Ws, now_ns, stamp};

/// Read buffer of each client's WebSocket: small, so that 100,000 connections fit in memory
/// (tungstenite allocates it eagerly; its default is 128 KiB).
const READ_BUFFER_SIZE: usize = 4 * 1024;
/// A hang guard for one client's connect, login and catch-up (not a timing assertion). A
/// server out of file descriptors leaves connections unaccepted in its backlog: they fail
/// after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How often an idle client sends a `Heartbeat` (the server closes silent connections).
const HEARTBEAT: Duration = Duration::from_millis(shared_types::protocol::HEARTBEAT_INTERVAL_MS);

/// The swarm's command line.
#[derive(clap::Args)]
pub struct Args {
    /// The server (or broadcast baseline) to connect to.
    #[arg(long)]
    server_addr: SocketAddr,
    /// Connections to open.
    #[arg(long)]
    clients: usize,
    /// Peer id of the first client; the others follow.
    #[arg(long, default_value_t = 1)]
    first_peer: u64,
    /// Local addresses the connections are bound to, in turn (each has its own ~28k ports).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1")]
    source_addrs: Vec<Ipv4Addr>,
    #[arg(long, value_enum)]
    mode: Mode,
    /// WebSocket only: no login (for the broadcast baseline).
    #[arg(long)]
    raw: bool,
    /// The model's schema hashes, for login.
    #[arg(long, default_value = "")]
    full_hash: String,
    #[arg(long, default_value = "")]
    base_hash: String,
    /// Clients connecting at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Idle,
    Subscribe,
}

/// Runs a swarm on a current-thread runtime (one core's worth of clients per process).
pub fn main(args: Args) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let args = Arc::new(args);
    if args.source_addrs.is_empty() {
        bail!("no source address");
    }
    // Each client reports once when it is connected (or failed), then, subscribing, once per
    // stamped push. `alive` counts the connected clients whose connection is still open.
    // `None` for a client not tried because an earlier one failed.
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<(), Option<String>>>();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (got_tx, mut got_rx) = mpsc::unbounded_channel::<(u64, u64)>();
    let alive = Arc::new(AtomicUsize::new(0));
    let connecting = Arc::new(Semaphore::new(args.concurrency.max(1)));
    for i in 0..args.clients {
        let args = args.clone();
        let (ready_tx, got_tx, alive) = (ready_tx.clone(), got_tx.clone(), alive.clone());
        let (connecting, stop) = (connecting.clone(), stop.clone());
        tokio::spawn(async move {
            let permit = connecting.acquire_owned().await;
            if stop.load(Ordering::Relaxed) {
                let _ = ready_tx.send(Err(None));
                return;
            }
            let source = args.source_addrs[i % args.source_addrs.len()];
            let peer = args.first_peer + i as u64;
            let ws = tokio::time::timeout(CONNECT_TIMEOUT, open(&args, source, peer))
                .await
                .map_err(|_| anyhow::anyhow!("no connection within {CONNECT_TIMEOUT:?}"))
                .and_then(|r| r);
            drop(permit);
            match ws {
                Ok(ws) => {
                    alive.fetch_add(1, Ordering::Relaxed);
                    let _ = ready_tx.send(Ok(()));
                    drop(ready_tx);
                    let _ = serve(ws, &args, got_tx).await;
                    alive.fetch_sub(1, Ordering::Relaxed);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    let _ = ready_tx.send(Err(Some(format!("{source} peer {peer:#x}: {e:#}"))));
                }
            }
        });
    }
    drop((ready_tx, got_tx));

    let (mut connected, mut failed, mut not_tried) = (0usize, 0usize, 0usize);
    while connected + failed + not_tried < args.clients {
        match ready_rx
            .recv()
            .await
            .context("a client task ended without reporting")?
        {
            Ok(()) => connected += 1,
            Err(Some(e)) => {
                if failed == 0 {
                    say(&format!("error {}", e.replace('\n', " ")))?;
                }
                failed += 1;
            }
            Err(None) => not_tried += 1,
        }
    }
    say(&format!("ready {connected} {failed} {not_tried}"))?;

    let mut commands = stdin_lines();
    let mut rounds: HashMap<u64, Vec<u64>> = HashMap::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command.as_deref() {
                Some("status") => say(&format!("alive {}", alive.load(Ordering::Relaxed)))?,
                Some(_) => {}
                // Exit at once: the kernel closes the connections faster than we would.
                None => std::process::exit(0),
            },
            Some((round, latency)) = got_rx.recv() => {
                let latencies = rounds.entry(round).or_default();
                latencies.push(latency);
                if latencies.len() == connected {
                    let latencies = rounds.remove(&round).unwrap_or_default();
                    let mut line = format!("got {round}");
                    for latency in latencies {
                        line.push(' ');
                        line.push_str(&latency.to_string());
                    }
                    say(&line)?;
                }
            }
        }
    }
}

/// Connects from `source`, with small buffers and `TCP_NODELAY`, and logs in unless raw.
async fn open(args: &Args, source: Ipv4Addr, peer: u64) -> Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::new(source.into(), 0))
        .with_context(|| format!("binding to {source}"))?;
    let stream = socket.connect(args.server_addr).await?;
    stream.set_nodelay(true)?;
    // Frames are sent as they come (no write buffering); the read buffer stays small.
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_SIZE)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{}/", args.server_addr),
        MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await?;
    if args.raw {
        return Ok(ws);
    }
    let target = Target {
        url: String::new(),
        full_hash: args.full_hash.clone(),
        base_hash: args.base_hash.clone(),
    };
    let mut client = Client::login_over(ws, &target, peer, 0, RequestUpdatesMode::Auto).await?;
    client.catch_up().await?;
    Ok(client.ws)
}

/// Serves one connected client until its connection ends.
async fn serve(mut ws: Ws, args: &Args, got: mpsc::UnboundedSender<(u64, u64)>) -> Result<()> {
    let start = tokio::time::Instant::now() + HEARTBEAT;
    let mut beat = tokio::time::interval_at(start, HEARTBEAT);
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Binary(data))) => {
                    if args.mode == Mode::Subscribe
                        && let Ok(ServerMessage::Push { txs }) = decode_server(&data)
                        && let Some((round, sent)) = txs.iter().find_map(|t| stamp(&t.ops))
                    {
                        let _ = got.send((round, now_ns().saturating_sub(sent)));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            _ = beat.tick(), if !args.raw => {
                let beat = ClientMessage::Heartbeat { time_ms: now_ns() / 1_000_000 };
                ws.send(Message::binary(encode(&beat))).await?;
            }
        }
    }
}

fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Lines from standard input, read by a thread; the channel closes with stdin.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if tx.send(line.trim().to_owned()).is_err() {
                return;
            }
        }
    });
    rx
}
