//! The measurements with processes of their own: the server spawned from `--server-binary`,
//! the clients in `swarm` processes. Connections held, fan-out, server CPU per operation and
//! start-up on a filled database.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::SinkExt;
use shared_types::protocol::{
    ApplyTx, ClientMessage, RequestUpdatesMode, ServerMessage, TxEntry, encode,
};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Client, Target, Ws, now_ns, stamped_put};
use crate::measure::{Bench, Fanout, ingest};
use crate::spawned::{MachineCpu, Process, Server};

/// The local addresses the swarms' connections come from, in turn: 127.0.0.2 to 127.0.0.9.
/// Each has its own ephemeral ports (32768–60999 here, about 28k), so 8 hold over 200k.
pub const SOURCE_ADDRS: [&str; 8] = [
    "127.0.0.2",
    "127.0.0.3",
    "127.0.0.4",
    "127.0.0.5",
    "127.0.0.6",
    "127.0.0.7",
    "127.0.0.8",
    "127.0.0.9",
];
/// Idle connections per swarm process (fewer if the open-files limit is lower).
pub const IDLE_PER_SWARM: usize = 25_000;
/// Descriptors a swarm keeps for itself below its open-files limit.
const SPARE_FDS: u64 = 256;
/// Subscribers per swarm process.
pub const SUBSCRIBERS_PER_SWARM: usize = 5_000;
/// Objects per transaction when filling a server.
const FILL_BATCH: u64 = 10_000;
/// How long a server settles before an RSS reading.
const SETTLE: Duration = Duration::from_millis(300);
/// Longer settling after many connections (the last logins' buffers and tasks).
const SETTLE_CONNECTED: Duration = Duration::from_secs(1);
/// A hang guard for one fan-out round (not a timing assertion).
const ROUND_TIMEOUT: Duration = Duration::from_secs(120);
/// A hang guard for a swarm's `ready`: a base plus a generous time per client.
const READY_BASE: Duration = Duration::from_secs(120);
const READY_PER_CLIENT: Duration = Duration::from_millis(10);
/// A hang guard for a swarm's answer to `status`.
const STATUS_TIMEOUT: Duration = Duration::from_secs(60);

/// What the spawned measurements need: the server binary and model, this binary (for the
/// swarms), a scratch directory and the schema hashes for login.
pub struct Spawner<'a> {
    pub binary: PathBuf,
    pub model: PathBuf,
    pub exe: PathBuf,
    pub scratch: PathBuf,
    pub bench: &'a Bench,
    /// The open-files limit this process and its children have.
    pub nofile: u64,
}

/// Idle connections one server holds.
pub struct Connections {
    pub requested: usize,
    pub connected: usize,
    pub failed: usize,
    /// Clients a swarm did not try after one of its clients failed.
    pub not_tried: usize,
    pub nofile: u64,
    /// Still open when the bench asked, after the second RSS reading.
    pub alive: usize,
    pub first_error: Option<String>,
    pub swarms: usize,
    pub idle_kib: u64,
    pub connected_kib: u64,
    pub connect_elapsed: Duration,
    /// Server CPU time while the clients connected and logged in.
    pub connect_cpu: Duration,
    /// VmRSS of all swarm processes together, holding the connections.
    pub swarms_kib: u64,
}

/// Fan-out from one writer in the bench to subscribers in swarm processes, with server CPU.
pub struct FanoutProcesses {
    pub subscribers: usize,
    pub swarms: usize,
    pub sync: Fanout,
    /// Server CPU during the counted rounds.
    pub sync_cpu: Duration,
    pub sync_machine_busy: f64,
    pub base: Fanout,
    pub base_cpu: Duration,
    pub base_machine_busy: f64,
}

/// Server CPU for ingest.
pub struct CpuIngest {
    pub objects: u64,
    pub cpu: Duration,
    pub elapsed: Duration,
    pub machine_busy: f64,
}

/// Restarts on a filled database beside restarts on an empty one.
pub struct Startup {
    pub objects: u64,
    pub db_bytes: u64,
    pub fill_elapsed: Duration,
    /// SIGTERM → exit of the server that filled the database.
    pub stop_elapsed: Duration,
    pub filled: Vec<Start>,
    pub empty: Vec<Start>,
}

/// One timed start.
pub struct Start {
    pub elapsed: Duration,
    pub reported_ms: Option<f64>,
    pub rss_kib: u64,
}

impl Spawner<'_> {
    /// Spawns the server on a fresh database directory `name` in the scratch directory.
    async fn server(&self, name: &str) -> Result<Server> {
        let dir = self.scratch.join(name);
        std::fs::create_dir_all(&dir)?;
        Server::spawn(&self.binary, &self.model, &dir.join("db")).await
    }

    fn target(&self, server: &Server) -> Target {
        Target {
            url: server.url(),
            full_hash: self.bench.full_hash.clone(),
            base_hash: self.bench.base_hash.clone(),
        }
    }

    /// Spawns swarms of at most `per_swarm` clients each, `total` in all, and waits until every
    /// one is ready.
    async fn swarms(
        &self,
        port: u16,
        total: usize,
        per_swarm: usize,
        mode: &str,
        raw: bool,
    ) -> Result<(Vec<Process>, Ready)> {
        let count = total.div_ceil(per_swarm).max(1);
        let mut swarms = Vec::with_capacity(count);
        for i in 0..count {
            let clients = total / count + usize::from(i < total % count);
            let mut command = Command::new(&self.exe);
            command
                .arg("swarm")
                .args(["--server-addr", &format!("127.0.0.1:{port}")])
                .args(["--clients", &clients.to_string()])
                .args([
                    "--first-peer",
                    &self.bench.peers(clients as u64).to_string(),
                ])
                .args(["--source-addrs", &SOURCE_ADDRS.join(",")])
                .args(["--mode", mode])
                .args(["--full-hash", &self.bench.full_hash])
                .args(["--base-hash", &self.bench.base_hash])
                .stderr(Stdio::inherit());
            if raw {
                command.arg("--raw");
            }
            swarms.push(Process::spawn(command, None)?);
        }
        let started = Instant::now();
        let within = READY_BASE + READY_PER_CLIENT * total as u32;
        let mut ready = Ready::default();
        for swarm in &mut swarms {
            loop {
                let (_, line) = swarm.expect("", within).await?;
                if let Some(error) = line.strip_prefix("error ") {
                    ready.first_error.get_or_insert_with(|| error.to_owned());
                } else if let Some(counts) = line.strip_prefix("ready ") {
                    let counts: Vec<usize> = counts
                        .split(' ')
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .with_context(|| format!("ready line {counts:?}"))?;
                    let [connected, failed, not_tried] = counts[..] else {
                        bail!("ready line {counts:?}");
                    };
                    ready.connected += connected;
                    ready.failed += failed;
                    ready.not_tried += not_tried;
                    break;
                }
            }
        }
        ready.elapsed = started.elapsed();
        Ok((swarms, ready))
    }
}

/// The outcome of connecting swarms.
#[derive(Default)]
struct Ready {
    connected: usize,
    failed: usize,
    not_tried: usize,
    first_error: Option<String>,
    elapsed: Duration,
}

/// Spawns the server, reads its idle RSS, connects `clients` idle logged-in clients from
/// swarms of up to 25,000, reads the RSS again and asks the swarms how many are still open.
pub async fn connections(spawner: &Spawner<'_>, clients: usize) -> Result<Connections> {
    let server = spawner.server("connections").await?;
    tokio::time::sleep(SETTLE).await;
    let idle_kib = server.process.rss_kib()?;
    let cpu_before = server.process.cpu()?;
    let per_swarm = IDLE_PER_SWARM.min(spawner.nofile.saturating_sub(SPARE_FDS).max(1) as usize);
    let (mut swarms, ready) = spawner
        .swarms(server.port, clients, per_swarm, "idle", false)
        .await?;
    let connect_cpu = server.process.cpu()? - cpu_before;
    tokio::time::sleep(SETTLE_CONNECTED).await;
    let connected_kib = server.process.rss_kib()?;
    let mut swarms_kib = 0;
    for swarm in &swarms {
        swarms_kib += swarm.rss_kib()?;
    }
    let mut alive = 0;
    for swarm in &mut swarms {
        swarm.say("status")?;
        alive += swarm
            .expect("alive ", STATUS_TIMEOUT)
            .await?
            .1
            .parse::<usize>()?;
    }
    let swarms_count = swarms.len();
    // The server goes first, so the swarms' ports are not left in TIME_WAIT for the next
    // measurement.
    drop(server);
    for swarm in swarms {
        swarm.close().await?;
    }
    Ok(Connections {
        requested: clients,
        connected: ready.connected,
        failed: ready.failed,
        not_tried: ready.not_tried,
        nofile: spawner.nofile,
        alive,
        first_error: ready.first_error,
        swarms: swarms_count,
        idle_kib,
        connected_kib,
        connect_elapsed: ready.elapsed,
        connect_cpu,
        swarms_kib,
    })
}

/// Fan-out to `subscribers` in swarm processes of up to 5,000: from the sync server (one
/// writer client in the bench sending stamped single-object transactions), then from the
/// broadcast baseline in a process of its own (the writer sends the `Push` frame). Each time
/// one warm-up round and `rounds` counted ones, with the serving process's CPU time over the
/// counted rounds.
pub async fn fanout(
    spawner: &Spawner<'_>,
    subscribers: usize,
    rounds: u64,
) -> Result<FanoutProcesses> {
    let server = spawner.server("fanout-processes").await?;
    let (mut swarms, ready) = spawner
        .swarms(
            server.port,
            subscribers,
            SUBSCRIBERS_PER_SWARM,
            "subscribe",
            false,
        )
        .await?;
    check_ready(&ready, subscribers)?;
    let peer = spawner.bench.peer();
    let mut writer = Client::login(
        &spawner.target(&server),
        peer,
        0,
        RequestUpdatesMode::AutoNoPushes,
    )
    .await?;
    writer.catch_up().await?;
    let mut writer = Writer::Sync(writer, peer);
    let (sync, sync_cpu, sync_machine_busy) =
        timed_rounds(&mut swarms, &server.process, &mut writer, rounds).await?;
    drop(writer);
    drop(server);
    for swarm in swarms {
        swarm.close().await?;
    }

    let mut command = Command::new(&spawner.exe);
    command.arg("broadcast").stderr(Stdio::inherit());
    let mut broadcast = Process::spawn(command, None)?;
    let port: u16 = broadcast.expect("port ", READY_BASE).await?.1.parse()?;
    let (mut swarms, ready) = spawner
        .swarms(port, subscribers, SUBSCRIBERS_PER_SWARM, "subscribe", true)
        .await?;
    check_ready(&ready, subscribers)?;
    let (ws, _) = crate::client::connect(&format!("ws://127.0.0.1:{port}/")).await?;
    let mut writer = Writer::Plain(ws);
    let (base, base_cpu, base_machine_busy) =
        timed_rounds(&mut swarms, &broadcast, &mut writer, rounds).await?;
    drop(writer);
    drop(broadcast);
    for swarm in swarms {
        swarm.close().await?;
    }
    Ok(FanoutProcesses {
        subscribers,
        swarms: subscribers.div_ceil(SUBSCRIBERS_PER_SWARM).max(1),
        sync,
        sync_cpu,
        sync_machine_busy,
        base,
        base_cpu,
        base_machine_busy,
    })
}

/// Server CPU time while one client ingests `objects` in 10,000-object transactions
/// (pipelined, as `measure::ingest`).
pub async fn cpu_ingest(spawner: &Spawner<'_>, objects: u64) -> Result<CpuIngest> {
    let server = spawner.server("cpu-ingest").await?;
    let target = spawner.target(&server);
    let (batch, txs) = batches(objects);
    let cpu_before = server.process.cpu()?;
    let machine_before = MachineCpu::now()?;
    let got = ingest(&target, spawner.bench.peer(), batch, txs).await?;
    let cpu = server.process.cpu()? - cpu_before;
    let machine_busy = MachineCpu::now()?.busy_percent_since(&machine_before);
    Ok(CpuIngest {
        objects: got.objects,
        cpu,
        elapsed: got.elapsed,
        machine_busy,
    })
}

/// Fills a fresh database with `objects` in 10,000-object transactions and stops the server
/// with SIGTERM; then `restarts` times: spawn, time until the "started" line, VmRSS 300 ms
/// later, SIGTERM and wait. The same restarts on an empty database (started once first so it
/// holds the schema).
pub async fn startup(spawner: &Spawner<'_>, objects: u64, restarts: usize) -> Result<Startup> {
    let server = spawner.server("startup-filled").await?;
    let target = spawner.target(&server);
    let (batch, txs) = batches(objects);
    let fill_started = Instant::now();
    let filled = ingest(&target, spawner.bench.peer(), batch, txs).await?;
    let fill_elapsed = fill_started.elapsed();
    let stop_elapsed = server.process.terminate().await?;
    let filled_dir = spawner.scratch.join("startup-filled").join("db");
    let filled_starts = restart(spawner, &filled_dir, restarts).await?;

    let server = spawner.server("startup-empty").await?;
    server.process.terminate().await?;
    let empty_dir = spawner.scratch.join("startup-empty").join("db");
    let empty = restart(spawner, &empty_dir, restarts).await?;
    Ok(Startup {
        objects: filled.objects,
        db_bytes: disk_usage(&filled_dir)?,
        fill_elapsed,
        stop_elapsed,
        filled: filled_starts,
        empty,
    })
}

/// The sender of a fan-out round.
enum Writer {
    /// A logged-in sync client (and its peer id) sending a stamped single-object transaction.
    Sync(Client, u64),
    /// A plain WebSocket to the broadcast server sending the `Push` frame the sync server would.
    Plain(Ws),
}

impl Writer {
    /// Sends round `round`'s object, stamped with the wall clock right before encoding.
    async fn send(&mut self, round: u64) -> Result<()> {
        let sent = now_ns();
        match self {
            Writer::Sync(client, peer) => {
                client
                    .send(&ClientMessage::ApplyTx(ApplyTx {
                        tx_id: round,
                        ops: vec![stamped_put(*peer, round, sent)],
                    }))
                    .await
            }
            Writer::Plain(ws) => {
                let frame = encode(&ServerMessage::Push {
                    txs: vec![TxEntry {
                        seq: round,
                        origin: 1,
                        time_ms: sent / 1_000_000,
                        ops: vec![stamped_put(1, round, sent)],
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
                match client.recv().await? {
                    ServerMessage::Ack { .. } => break,
                    ServerMessage::TxRejected { code, message, .. } => {
                        bail!("transaction rejected: {code:?} {message}")
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Runs 1 warm-up and `rounds` counted rounds (local ids 1, 2, …), each ending when every
/// swarm has printed its `got` line for it. Returns the latencies, the CPU time `serving` used
/// over the counted rounds and the machine's busy share meanwhile.
async fn timed_rounds(
    swarms: &mut [Process],
    serving: &Process,
    writer: &mut Writer,
    rounds: u64,
) -> Result<(Fanout, Duration, f64)> {
    let mut latencies = Vec::new();
    let mut busy = Duration::ZERO;
    let mut delivered = 0;
    let mut cpu_before = serving.cpu()?;
    let mut machine_before = MachineCpu::now()?;
    for round in 1..=rounds + 1 {
        if round == 2 {
            cpu_before = serving.cpu()?;
            machine_before = MachineCpu::now()?;
        }
        writer.send(round).await?;
        let mut slowest = Duration::ZERO;
        let mut got = Vec::new();
        for swarm in swarms.iter_mut() {
            let (_, line) = swarm.expect("got ", ROUND_TIMEOUT).await?;
            let mut fields = line.split(' ');
            let of: u64 = fields.next().context("round")?.parse()?;
            if of != round {
                bail!("a swarm reported round {of} during round {round}");
            }
            for field in fields {
                let latency = Duration::from_nanos(field.parse()?);
                slowest = slowest.max(latency);
                got.push(latency);
            }
        }
        writer.finish_round().await?;
        if round > 1 {
            delivered += got.len() as u64;
            latencies.extend(got);
            busy += slowest;
        }
    }
    let cpu = serving.cpu()? - cpu_before;
    let machine_busy = MachineCpu::now()?.busy_percent_since(&machine_before);
    Ok((
        Fanout {
            latencies,
            delivered,
            busy,
        },
        cpu,
        machine_busy,
    ))
}

/// Spawns the server on `dir` `times` times; each start is timed, its RSS read after 300 ms,
/// then it gets SIGTERM and is waited for.
async fn restart(spawner: &Spawner<'_>, dir: &Path, times: usize) -> Result<Vec<Start>> {
    let mut starts = Vec::with_capacity(times);
    for _ in 0..times {
        let server = Server::spawn(&spawner.binary, &spawner.model, dir).await?;
        tokio::time::sleep(SETTLE).await;
        let rss_kib = server.process.rss_kib()?;
        starts.push(Start {
            elapsed: server.start,
            reported_ms: server.reported_ms,
            rss_kib,
        });
        server.process.terminate().await?;
    }
    Ok(starts)
}

fn check_ready(ready: &Ready, expected: usize) -> Result<()> {
    if ready.connected != expected {
        bail!(
            "{} of {expected} subscribers connected; first error: {}",
            ready.connected,
            ready.first_error.as_deref().unwrap_or("none")
        );
    }
    Ok(())
}

/// (objects per transaction, transactions) for filling with `objects` objects.
fn batches(objects: u64) -> (u64, u64) {
    if objects < FILL_BATCH {
        (objects.max(1), 1)
    } else {
        (FILL_BATCH, objects / FILL_BATCH)
    }
}

/// Bytes the files in `dir` occupy on disk (LMDB's data file may be sparse).
fn disk_usage(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        bytes += entry?.metadata()?.blocks() * 512;
    }
    Ok(bytes)
}
