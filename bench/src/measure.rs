//! The measurements: each drives raw clients against a server and returns figures, with the
//! matching baseline measured right before or after it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use shared_types::protocol::{
    Op, RequestUpdatesMode, ServerMessage, TxEntry, encode, encode_props,
};
use tokio::sync::{Barrier, mpsc};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::baseline;
use crate::client::{Client, TASK_UID, Target, apply_tasks, recv, task_put};

/// How many clients connect at once while a measurement sets up (keeps the listen backlog
/// from overflowing).
const CONNECT_CONCURRENCY: usize = 64;
/// A hang guard for fan-out receipts (not a timing assertion).
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Objects per transaction when filling a server for a catch-up.
const FILL_BATCH: u64 = 10_000;

/// Where the measurements run and how peers get unique ids.
pub struct Bench {
    /// `Some` to start a fresh in-process server per measurement; `None` with `--server`.
    pub model: Option<PathBuf>,
    pub server_url: Option<String>,
    pub full_hash: String,
    pub base_hash: String,
    pub scratch: PathBuf,
    /// Log level of in-process servers (they log to standard output).
    pub log_level: sync_server::logging::LogLevel,
    next_peer: AtomicU64,
}

/// A server for one measurement: an in-process one (stopped on drop of `stop`) or the target.
pub struct Running {
    pub target: Target,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await?;
        }
        Ok(())
    }
}

impl Bench {
    pub fn new(
        model: Option<PathBuf>,
        server_url: Option<String>,
        hashes: (String, String),
        scratch: PathBuf,
    ) -> Bench {
        // Peer ids unique across runs against a long-running server: the clock in the high bits.
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() << 24)
            .unwrap_or(1 << 40);
        Bench {
            model,
            server_url,
            full_hash: hashes.0,
            base_hash: hashes.1,
            scratch,
            log_level: sync_server::logging::LogLevel::Warn,
            next_peer: AtomicU64::new(base),
        }
    }

    pub fn peer(&self) -> u64 {
        self.next_peer.fetch_add(1, Ordering::Relaxed)
    }

    /// The first of `count` consecutive unused peer ids.
    pub fn peers(&self, count: u64) -> u64 {
        self.next_peer.fetch_add(count, Ordering::Relaxed)
    }

    /// A fresh in-process server on 127.0.0.1:0 (unsecured, log level warn, no admin), or the
    /// `--server` target.
    pub async fn server(&self, name: &str) -> Result<Running> {
        let target = |url: String| Target {
            url,
            full_hash: self.full_hash.clone(),
            base_hash: self.base_hash.clone(),
        };
        let Some(model) = &self.model else {
            let url = self.server_url.clone().context("a server URL")?;
            return Ok(Running {
                target: target(url),
                stop: None,
                task: None,
            });
        };
        use sync_server::config::Config;
        let mut config = Config::for_tests(Some(model.clone()), self.scratch.join(name));
        config.admin_bind = None;
        config.log_level = self.log_level;
        let listeners = sync_server::Listeners::bind(&config).await?;
        let addr = listeners.sync_addr().context("sync address")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            if let Err(e) = sync_server::run(config, listeners, async {
                let _ = stopped.await;
            })
            .await
            {
                eprintln!("server failed: {e}");
            }
        });
        Ok(Running {
            target: target(format!("ws://{addr}/")),
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// Ingest through one pipelined client.
pub struct Ingest {
    pub objects: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Sends `txs` transactions of `batch` task puts each from one client without waiting, and
/// times from the first send until the last ACK.
pub async fn ingest(target: &Target, peer: u64, batch: u64, txs: u64) -> Result<Ingest> {
    let mut client = Client::login(target, peer, 0, RequestUpdatesMode::AutoNoPushes).await?;
    client.catch_up().await?;
    let frames: Vec<Vec<u8>> = (0..txs)
        .map(|i| encode(&apply_tasks(i + 1, peer, i * batch + 1, batch)))
        .collect();
    let bytes = frames.iter().map(|f| f.len() as u64).sum();
    let (mut sink, mut stream) = client.split();
    let started = Instant::now();
    let sender = tokio::spawn(async move {
        for frame in frames {
            sink.send(Message::binary(frame)).await?;
        }
        anyhow::Ok(sink)
    });
    let mut acked = 0;
    while acked < txs {
        match recv(&mut stream).await? {
            ServerMessage::Ack { .. } => acked += 1,
            ServerMessage::TxRejected { code, message, .. } => {
                bail!("transaction rejected: {code:?} {message}")
            }
            ServerMessage::Error { code, message } => bail!("server error {code:?}: {message}"),
            _ => {}
        }
    }
    let elapsed = started.elapsed();
    drop(sender.await??);
    Ok(Ingest {
        objects: batch * txs,
        bytes,
        elapsed,
    })
}

/// The (key, value) pairs the server would store for the same task puts: the store's 24-byte
/// object key and the encoded properties.
pub fn raw_objects(peer: u64, count: u64) -> Vec<([u8; 24], Vec<u8>)> {
    (1..=count)
        .map(|local| {
            let Op::Put { props, .. } = task_put(peer, local) else {
                unreachable!("task_put makes a put")
            };
            let mut key = [0u8; 24];
            key[..8].copy_from_slice(&TASK_UID.to_be_bytes());
            key[8..16].copy_from_slice(&peer.to_be_bytes());
            key[16..].copy_from_slice(&local.to_be_bytes());
            (key, encode_props(&props))
        })
        .collect()
}

/// Raw heed puts of `count` objects, `per_commit` per write transaction, in a fresh env.
pub async fn heed_baseline(
    bench: &Bench,
    name: &str,
    count: u64,
    per_commit: u64,
) -> Result<Duration> {
    let objects = raw_objects(1, count);
    let dir = bench.scratch.join(name);
    let per_commit = usize::try_from(per_commit)?;
    let elapsed =
        tokio::task::spawn_blocking(move || baseline::heed_puts(&dir, &objects, per_commit))
            .await??;
    Ok(elapsed)
}

/// Raw heed: one read transaction walking `count` objects like the ones the bench sends.
pub async fn heed_scan_baseline(bench: &Bench, name: &str, count: u64) -> Result<Duration> {
    let objects = raw_objects(1, count);
    let dir = bench.scratch.join(name);
    tokio::task::spawn_blocking(move || baseline::heed_scan(&dir, &objects)).await?
}

/// `clients` concurrent clients, each sending one single-object transaction at a time and
/// waiting for its ACK, for `duration`. Returns ACKed transactions and the elapsed time.
pub async fn concurrent(
    bench: &Bench,
    target: &Target,
    clients: usize,
    duration: Duration,
) -> Result<(u64, Duration)> {
    let mut connected = Vec::with_capacity(clients);
    for chunk in (0..clients).collect::<Vec<_>>().chunks(CONNECT_CONCURRENCY) {
        let mut set = JoinSet::new();
        for _ in chunk {
            let target = target.clone();
            let peer = bench.peer();
            set.spawn(async move {
                let mut client =
                    Client::login(&target, peer, 0, RequestUpdatesMode::AutoNoPushes).await?;
                client.catch_up().await?;
                anyhow::Ok((peer, client))
            });
        }
        while let Some(joined) = set.join_next().await {
            connected.push(joined??);
        }
    }
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut set = JoinSet::new();
    for (peer, mut client) in connected {
        let barrier = barrier.clone();
        set.spawn(async move {
            barrier.wait().await;
            let deadline = Instant::now() + duration;
            let mut acked = 0u64;
            while Instant::now() < deadline {
                client
                    .send(&apply_tasks(acked + 1, peer, acked + 1, 1))
                    .await?;
                loop {
                    match client.recv().await? {
                        ServerMessage::Ack { .. } => break,
                        ServerMessage::TxRejected { code, message, .. } => {
                            bail!("transaction rejected: {code:?} {message}")
                        }
                        _ => {}
                    }
                }
                acked += 1;
            }
            anyhow::Ok(acked)
        });
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut total = 0;
    while let Some(joined) = set.join_next().await {
        total += joined??;
    }
    Ok((total, started.elapsed()))
}

/// Fan-out latencies (send → receipt at each subscriber) and delivered messages per second.
pub struct Fanout {
    pub latencies: Vec<Duration>,
    pub delivered: u64,
    pub busy: Duration,
}

/// One writer and `subscribers` live clients of the sync server; `rounds` single-object
/// transactions, one at a time, each timed until every subscriber has it.
pub async fn fanout_server(
    bench: &Bench,
    target: &Target,
    subscribers: usize,
    rounds: u64,
) -> Result<Fanout> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for chunk in (0..subscribers)
        .collect::<Vec<_>>()
        .chunks(CONNECT_CONCURRENCY)
    {
        let mut set = JoinSet::new();
        for _ in chunk {
            let target = target.clone();
            let peer = bench.peer();
            set.spawn(async move {
                let mut client = Client::login(&target, peer, 0, RequestUpdatesMode::Auto).await?;
                client.catch_up().await?;
                anyhow::Ok(client)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (_, stream) = joined??.split();
            tasks.spawn(subscriber(stream, tx.clone()));
        }
    }
    drop(tx);
    let writer_peer = bench.peer();
    let mut writer =
        Client::login(target, writer_peer, 0, RequestUpdatesMode::AutoNoPushes).await?;
    writer.catch_up().await?;
    let mut rx = rx;
    let mut writer = Writer::Sync(writer, writer_peer);
    let result = timed_rounds(subscribers, rounds, &mut rx, &mut writer).await;
    tasks.abort_all();
    result
}

/// The same with the plain broadcast server: the writer sends the frame the sync server would
/// push, and the broadcast server relays it to every other connection.
pub async fn fanout_baseline(subscribers: usize, rounds: u64) -> Result<Fanout> {
    let addr = baseline::start_broadcast_server().await?;
    let url = format!("ws://{addr}/");
    let (tx, rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for chunk in (0..subscribers)
        .collect::<Vec<_>>()
        .chunks(CONNECT_CONCURRENCY)
    {
        let mut set = JoinSet::new();
        for _ in chunk {
            let url = url.clone();
            set.spawn(async move { crate::client::connect(&url).await });
        }
        while let Some(joined) = set.join_next().await {
            let (ws, _) = joined??;
            let (_, stream) = ws.split();
            tasks.spawn(subscriber(stream, tx.clone()));
        }
    }
    drop(tx);
    let (writer, _) = crate::client::connect(&url).await?;
    // The server registers a connection before its handshake completes, so every subscriber
    // is registered by now.
    let mut rx = rx;
    let mut writer = Writer::Plain(writer);
    let result = timed_rounds(subscribers, rounds, &mut rx, &mut writer).await;
    tasks.abort_all();
    result
}

/// Catch-up figures for one server.
pub struct Catchup {
    pub full_objects: u64,
    pub full_elapsed: Duration,
    pub full_was_full_sync: bool,
    pub delta_txs: u64,
    pub delta_objects: u64,
    pub delta_elapsed: Duration,
    pub delta_was_full_sync: bool,
    pub fill_elapsed: Duration,
}

/// Fills the server with `objects` task objects (10,000 per transaction), times a new client's
/// catch-up from 0, then sends `delta_txs` single-object transactions and times a client that
/// logs in at the position before them.
pub async fn catchup(
    bench: &Bench,
    target: &Target,
    objects: u64,
    delta_txs: u64,
) -> Result<Catchup> {
    let writer = bench.peer();
    let fill_started = Instant::now();
    let mut txs = objects / FILL_BATCH;
    let mut batch = FILL_BATCH;
    if txs == 0 {
        txs = 1;
        batch = objects;
    }
    ingest(target, writer, batch, txs).await?;
    let fill_elapsed = fill_started.elapsed();

    let started = Instant::now();
    let mut client =
        Client::login(target, bench.peer(), 0, RequestUpdatesMode::AutoNoPushes).await?;
    let full = client.catch_up().await?;
    let full_elapsed = started.elapsed();
    drop(client);

    // New objects, one per transaction, from a second writer.
    let updater = bench.peer();
    let mut sender = Client::login(target, updater, 0, RequestUpdatesMode::AutoNoPushes).await?;
    sender.catch_up().await?;
    let (mut sink, mut stream) = sender.split();
    let frames: Vec<Vec<u8>> = (1..=delta_txs)
        .map(|i| encode(&apply_tasks(i, updater, i, 1)))
        .collect();
    let send = tokio::spawn(async move {
        for frame in frames {
            sink.send(Message::binary(frame)).await?;
        }
        anyhow::Ok(sink)
    });
    let mut acked = 0;
    while acked < delta_txs {
        if let ServerMessage::Ack { .. } = recv(&mut stream).await? {
            acked += 1;
        }
    }
    drop(send.await??);

    let started = Instant::now();
    let mut client = Client::login(
        target,
        bench.peer(),
        full.seq,
        RequestUpdatesMode::AutoNoPushes,
    )
    .await?;
    let delta = client.catch_up().await?;
    let delta_elapsed = started.elapsed();
    Ok(Catchup {
        full_objects: full.objects,
        full_elapsed,
        full_was_full_sync: full.full_sync,
        delta_txs: delta.txs,
        delta_objects: delta.objects,
        delta_elapsed,
        delta_was_full_sync: delta.full_sync,
        fill_elapsed,
    })
}

/// Reads frames and reports the time of every push carrying data.
async fn subscriber<S>(mut stream: S, seen: mpsc::UnboundedSender<Instant>) -> Result<()>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        if let ServerMessage::Push { txs } = recv(&mut stream).await?
            && txs.iter().any(|t| !t.ops.is_empty())
        {
            let _ = seen.send(Instant::now());
        }
    }
}

/// The sender of a fan-out round.
enum Writer {
    /// A logged-in sync client (and its peer id) sending single-object transactions.
    Sync(Client, u64),
    /// A plain WebSocket sending the frame the sync server would push.
    Plain(crate::client::Ws),
}

impl Writer {
    async fn send(&mut self, round: u64) -> Result<()> {
        match self {
            Writer::Sync(client, peer) => {
                client
                    .send(&apply_tasks(round + 1, *peer, round + 1, 1))
                    .await
            }
            Writer::Plain(ws) => {
                let frame = encode(&ServerMessage::Push {
                    txs: vec![TxEntry {
                        seq: round,
                        origin: 1,
                        time_ms: 0,
                        ops: vec![task_put(1, round)],
                        tx_id: 0,
                    }],
                });
                ws.send(Message::binary(frame)).await?;
                Ok(())
            }
        }
    }

    /// Reads the sync writer's ACK, so its stream does not back up.
    async fn finish_round(&mut self) -> Result<()> {
        if let Writer::Sync(client, _) = self {
            loop {
                if let ServerMessage::Ack { .. } = client.recv().await? {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Runs `rounds` rounds, one at a time, and waits each time for `subscribers` receipts.
async fn timed_rounds(
    subscribers: usize,
    rounds: u64,
    seen: &mut mpsc::UnboundedReceiver<Instant>,
    writer: &mut Writer,
) -> Result<Fanout> {
    let mut latencies = Vec::with_capacity(subscribers * rounds as usize);
    let mut busy = Duration::ZERO;
    // Round 0 warms up (connection buffers, first allocations) and is not counted.
    for round in 0..=rounds {
        let sent = Instant::now();
        writer.send(round).await?;
        let mut last = sent;
        let mut round_latencies = Vec::with_capacity(subscribers);
        for _ in 0..subscribers {
            let at = tokio::time::timeout(RECEIPT_TIMEOUT, seen.recv())
                .await
                .context("a fan-out receipt within the timeout")?
                .context("a subscriber stopped")?;
            round_latencies.push(at.saturating_duration_since(sent));
            last = last.max(at);
        }
        writer.finish_round().await?;
        if round > 0 {
            latencies.extend(round_latencies);
            busy += last - sent;
        }
    }
    Ok(Fanout {
        latencies,
        delivered: subscribers as u64 * rounds,
        busy,
    })
}
