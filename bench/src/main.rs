//! `sync-bench`: drives raw protocol clients against a real sync server over loopback and prints
//! each figure beside a baseline measured in the same run (raw heed puts for storage, a plain
//! tokio-tungstenite broadcast server for the network).
// The report is this program's output.
#![allow(clippy::print_stdout)]

mod baseline;
mod client;
mod measure;
mod report;
mod rss;
mod scale;
mod spawned;
mod swarm;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::measure::Bench;
use crate::report::{Report, Row};

/// Benchmark of sync-server: ingest, concurrent transactions, fan-out, catch-up and idle memory.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Small sizes, finishes in about a minute; no timing assertions.
    #[arg(long)]
    quick: bool,
    /// Print JSON instead of a table (in-process servers then log only errors, so that
    /// standard output stays JSON).
    #[arg(long)]
    json: bool,
    /// Target a running server (unsecured, with the same model) instead of starting one
    /// in-process per measurement.
    #[arg(long, value_name = "ws://HOST:PORT")]
    server: Option<String>,
    /// Spawn this `sync-server` binary for the measurements that need a server process of its
    /// own: idle RSS, connections, fan-out to swarm processes, CPU per operation, start-up.
    #[arg(long, value_name = "PATH")]
    server_binary: Option<PathBuf>,
    /// Data model the server runs (default: the repository's example model).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Override the fan-out subscriber count, in-process and in swarm processes (quick: 100
    /// and 1,000; full: 1,000 and 10,000).
    #[arg(long)]
    fanout_clients: Option<usize>,
    /// Override the number of idle connections (quick: 1,000; full: 100,000).
    #[arg(long)]
    connections: Option<usize>,
    /// Run only these parts, comma-separated: ingest, concurrent, inproc-fanout, catchup, rss
    /// (in-process clients), connections, fanout, cpu, startup (spawned server and swarm
    /// processes; the fan-out's CPU rows come with fanout).
    #[arg(long, value_delimiter = ',', value_name = "PARTS")]
    only: Option<Vec<Part>>,
    #[command(subcommand)]
    mode: Option<Mode>,
}

/// The parts of a run, for `--only`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    Ingest,
    Concurrent,
    InprocFanout,
    Catchup,
    Rss,
    Connections,
    Fanout,
    Cpu,
    Startup,
}

/// The processes the bench spawns of itself (hidden from `--help`).
#[derive(Subcommand)]
enum Mode {
    /// Many clients in one process (see `swarm`).
    #[command(hide = true)]
    Swarm(swarm::Args),
    /// The broadcast baseline server in a process of its own.
    #[command(hide = true)]
    Broadcast,
}

/// The sizes of one run.
struct Sizes {
    /// (objects per transaction, transactions) for single-client ingest.
    ingest: Vec<(u64, u64)>,
    concurrent_clients: usize,
    concurrent_duration: Duration,
    /// Puts for the one-commit-per-put baseline (each costs an fsync).
    commit_per_put: u64,
    fanout_clients: usize,
    fanout_rounds: u64,
    /// (objects for full sync, transactions for delta sync).
    catchup: Vec<(u64, u64)>,
    idle_clients: usize,
    /// Idle logged-in connections held by the spawned server.
    connections: usize,
    /// Fan-out subscribers in swarm processes.
    fanout_process_clients: usize,
    /// Objects ingested for the server's CPU per applied object.
    cpu_objects: u64,
    /// Objects in the database for the start-up measurement, and the timed restarts.
    startup_objects: u64,
    restarts: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                ingest: vec![(1, 2_000), (100, 200), (10_000, 5)],
                concurrent_clients: 100,
                concurrent_duration: Duration::from_secs(3),
                commit_per_put: 300,
                fanout_clients: 100,
                fanout_rounds: 20,
                catchup: vec![(10_000, 10_000)],
                idle_clients: 200,
                connections: 1_000,
                fanout_process_clients: 1_000,
                cpu_objects: 50_000,
                startup_objects: 50_000,
                restarts: 3,
            }
        } else {
            Sizes {
                ingest: vec![(1, 20_000), (100, 2_000), (10_000, 50)],
                concurrent_clients: 100,
                concurrent_duration: Duration::from_secs(10),
                commit_per_put: 2_000,
                fanout_clients: 1_000,
                fanout_rounds: 20,
                catchup: vec![(100_000, 100_000), (1_000_000, 0)],
                idle_clients: 5_000,
                connections: 100_000,
                fanout_process_clients: 10_000,
                cpu_objects: 1_000_000,
                startup_objects: 1_000_000,
                restarts: 3,
            }
        }
    }
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    match args.mode.take() {
        Some(Mode::Swarm(swarm)) => return swarm::main(swarm),
        Some(Mode::Broadcast) => return baseline::broadcast_process(),
        None => {}
    }
    // Before any server or swarm is spawned: they inherit it.
    let (nofile, wanted) = spawned::raise_nofile();
    eprintln!("sync-bench: open-files limit {nofile} (wanted {wanted})");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args, nofile))
}

async fn run(args: Args, nofile: u64) -> Result<()> {
    let mut sizes = Sizes::new(args.quick);
    if let Some(n) = args.fanout_clients {
        sizes.fanout_clients = n;
        sizes.fanout_process_clients = n;
    }
    if let Some(n) = args.connections {
        sizes.connections = n;
    }
    let runs = |part: Part| args.only.as_ref().is_none_or(|only| only.contains(&part));
    let model = match &args.model {
        Some(model) => model.clone(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/objectbox-model.json"),
    };
    let hashes = schema_hashes(&model)?;
    let scratch = tempfile::Builder::new().prefix("sync-bench").tempdir()?;
    let mut bench = Bench::new(
        args.server.is_none().then(|| model.clone()),
        args.server.clone(),
        hashes.clone(),
        scratch.path().to_owned(),
    );
    if args.json {
        bench.log_level = sync_server::logging::LogLevel::Error;
    }
    let mut report = Report::new(
        args.quick,
        args.server.clone(),
        args.server_binary.as_ref().map(|b| b.display().to_string()),
    );
    let progress = |what: &str| eprintln!("sync-bench: {what}");

    // 1. Ingest from one client, beside raw heed with the same grouping.
    if runs(Part::Ingest) {
        for &(batch, txs) in &sizes.ingest {
            progress(&format!("ingest {txs} × {batch}-object transactions"));
            let server = bench.server(&format!("ingest-{batch}")).await?;
            let got = measure::ingest(&server.target, bench.peer(), batch, txs).await?;
            server.stop().await?;
            let objects = got.objects as f64;
            let secs = got.elapsed.as_secs_f64();
            // The one-commit-per-put baseline is capped (each put costs an fsync).
            let (base_count, base_group) = if batch == 1 {
                (sizes.commit_per_put.min(got.objects), 1)
            } else {
                (got.objects, batch)
            };
            let base =
                measure::heed_baseline(&bench, &format!("heed-{batch}"), base_count, base_group)
                    .await?;
            let base_rate = base_count as f64 / base.as_secs_f64();
            report.push(Row::new(
                "ingest",
                format!("1 client, {batch} objects/tx ({txs} txs), objects/s"),
                objects / secs,
                "objects/s",
                Some((format!("heed, {base_group} puts/commit"), base_rate)),
            ));
            report.push(Row::new(
                "ingest",
                format!("1 client, {batch} objects/tx, frame MB/s"),
                got.bytes as f64 / secs / 1e6,
                "MB/s",
                None,
            ));
        }
        let largest = sizes.ingest.iter().map(|(b, t)| b * t).max().unwrap_or(1);
        progress(&format!("heed baseline: {largest} puts in one transaction"));
        let one_txn = measure::heed_baseline(&bench, "heed-one", largest, largest).await?;
        let one_txn_rate = largest as f64 / one_txn.as_secs_f64();
        report.push(Row::new(
            "ingest",
            format!("heed, {largest} puts in one transaction (storage limit)"),
            one_txn_rate,
            "objects/s",
            None,
        ));
    }

    // 2. Many clients, single-object transactions, beside one commit per put.
    if runs(Part::Concurrent) {
        progress(&format!(
            "{} clients × single-object transactions for {:?}",
            sizes.concurrent_clients, sizes.concurrent_duration
        ));
        let server = bench.server("concurrent").await?;
        let (acked, elapsed) = measure::concurrent(
            &bench,
            &server.target,
            sizes.concurrent_clients,
            sizes.concurrent_duration,
        )
        .await?;
        server.stop().await?;
        let base = measure::heed_baseline(&bench, "heed-fsync", sizes.commit_per_put, 1).await?;
        report.push(Row::new(
            "concurrent",
            format!(
                "{} clients, 1 object/tx, ACKed tx/s",
                sizes.concurrent_clients
            ),
            acked as f64 / elapsed.as_secs_f64(),
            "tx/s",
            Some((
                "heed, 1 commit per put (fsync limit)".into(),
                sizes.commit_per_put as f64 / base.as_secs_f64(),
            )),
        ));
    }

    // 3. Fan-out, beside a plain broadcast server with the same number of clients.
    if runs(Part::InprocFanout) {
        let n = sizes.fanout_clients;
        progress(&format!(
            "fan-out to {n} clients, {} rounds",
            sizes.fanout_rounds
        ));
        let server = bench.server("fanout").await?;
        let got = measure::fanout_server(&bench, &server.target, n, sizes.fanout_rounds).await?;
        server.stop().await?;
        let base = measure::fanout_baseline(n, sizes.fanout_rounds).await?;
        report.fanout(n, &got, &base);
    }

    // 4. Catch-up: full sync and delta replay.
    if runs(Part::Catchup) {
        for &(objects, delta_txs) in &sizes.catchup {
            progress(&format!(
                "catch-up: full sync of {objects} objects, delta of {delta_txs} transactions"
            ));
            let server = bench.server(&format!("catchup-{objects}")).await?;
            let got = measure::catchup(&bench, &server.target, objects, delta_txs).await?;
            server.stop().await?;
            // The storage read limit: one heed read transaction walking as many objects.
            let scan = |count: u64| {
                let bench = &bench;
                async move {
                    let elapsed =
                        measure::heed_scan_baseline(bench, &format!("scan-{count}"), count).await?;
                    anyhow::Ok((
                        "heed, one read txn walking as many objects".to_owned(),
                        count as f64 / elapsed.as_secs_f64(),
                    ))
                }
            };
            let kind = |full: bool| if full { "full sync" } else { "log replay" };
            report.push(
                Row::new(
                    "catch-up",
                    format!(
                        "new client, {} objects ({}), objects/s",
                        got.full_objects,
                        kind(got.full_was_full_sync)
                    ),
                    got.full_objects as f64 / got.full_elapsed.as_secs_f64(),
                    "objects/s",
                    Some(scan(got.full_objects).await?),
                )
                .with_note(format!(
                    "{:.3} s; filling took {:.3} s",
                    got.full_elapsed.as_secs_f64(),
                    got.fill_elapsed.as_secs_f64()
                )),
            );
            if delta_txs > 0 {
                report.push(
                    Row::new(
                        "catch-up",
                        format!(
                            "reconnect, {} txs / {} objects ({}), objects/s",
                            got.delta_txs,
                            got.delta_objects,
                            kind(got.delta_was_full_sync)
                        ),
                        got.delta_objects as f64 / got.delta_elapsed.as_secs_f64(),
                        "objects/s",
                        Some(scan(got.delta_objects).await?),
                    )
                    .with_note(format!("{:.3} s", got.delta_elapsed.as_secs_f64())),
                );
            }
        }
    }

    // 5. Idle RSS, only with a separate server process.
    if runs(Part::Rss) {
        match &args.server_binary {
            Some(binary) => {
                progress(&format!("idle RSS with {} clients", sizes.idle_clients));
                let binary = binary
                    .canonicalize()
                    .with_context(|| format!("{}", binary.display()))?;
                let model = model.canonicalize()?;
                let got = rss::measure(
                    &binary,
                    &model,
                    &scratch.path().join("rss"),
                    hashes,
                    sizes.idle_clients,
                    bench.peer() + (1 << 20),
                )
                .await?;
                report.rss(&got);
            }
            None => report.skip("rss", "idle RSS: skipped (needs --server-binary PATH)"),
        }
    }

    // 6.–9. With the server and the clients in processes of their own.
    let spawned_parts = [Part::Connections, Part::Fanout, Part::Cpu, Part::Startup];
    match &args.server_binary {
        Some(binary) if spawned_parts.into_iter().any(runs) => {
            let spawner = scale::Spawner {
                binary: binary
                    .canonicalize()
                    .with_context(|| format!("{}", binary.display()))?,
                model: model.canonicalize()?,
                exe: std::env::current_exe()?,
                scratch: scratch.path().join("spawned"),
                bench: &bench,
                nofile,
            };
            if runs(Part::Connections) {
                progress(&format!(
                    "{} idle connections from swarm processes",
                    sizes.connections
                ));
                let started = Instant::now();
                report.connections(&scale::connections(&spawner, sizes.connections).await?);
                progress(&format!(
                    "connections took {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
            if runs(Part::Fanout) {
                let n = sizes.fanout_process_clients;
                progress(&format!("fan-out to {n} subscribers in swarm processes"));
                let started = Instant::now();
                let got = scale::fanout(&spawner, n, sizes.fanout_rounds).await?;
                report.fanout_processes(&got);
                progress(&format!(
                    "fan-out took {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
            if runs(Part::Cpu) {
                progress(&format!(
                    "server CPU for {} ingested objects",
                    sizes.cpu_objects
                ));
                let started = Instant::now();
                report.cpu_ingest(&scale::cpu_ingest(&spawner, sizes.cpu_objects).await?);
                progress(&format!(
                    "cpu took {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
            if runs(Part::Startup) {
                progress(&format!("start-up on {} objects", sizes.startup_objects));
                let started = Instant::now();
                let got = scale::startup(&spawner, sizes.startup_objects, sizes.restarts).await?;
                report.startup(&got);
                progress(&format!(
                    "start-up took {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
        }
        Some(_) => {}
        None if spawned_parts.into_iter().any(runs) => report.skip(
            "spawned",
            "connections, fan-out to swarm processes, CPU per operation, start-up: skipped \
             (need --server-binary PATH)",
        ),
        None => {}
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// The model's schema hashes, which a client presents at login.
fn schema_hashes(model: &std::path::Path) -> Result<(String, String)> {
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let model = sync_server::model::Model::from_json(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", model.display()))?
        .model;
    Ok((model.full_hash().to_string(), model.base_hash().to_string()))
}
