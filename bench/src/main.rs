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

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

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
    /// Spawn this `sync-server` binary to measure idle RSS and RSS per connection.
    #[arg(long, value_name = "PATH")]
    server_binary: Option<PathBuf>,
    /// Data model the server runs (default: the repository's example model).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Override the fan-out subscriber count (quick: 100, full: 1000).
    #[arg(long)]
    fanout_clients: Option<usize>,
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
            }
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let mut sizes = Sizes::new(args.quick);
    if let Some(n) = args.fanout_clients {
        sizes.fanout_clients = n;
    }
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
    let mut report = Report::new(args.quick, args.server.clone());
    let progress = |what: &str| eprintln!("sync-bench: {what}");

    // 1. Ingest from one client, beside raw heed with the same grouping.
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
        let base = measure::heed_baseline(&bench, &format!("heed-{batch}"), base_count, base_group)
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

    // 2. Many clients, single-object transactions, beside one commit per put.
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

    // 3. Fan-out, beside a plain broadcast server with the same number of clients.
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

    // 4. Catch-up: full sync and delta replay.
    for &(objects, delta_txs) in &sizes.catchup {
        progress(&format!(
            "catch-up: full sync of {objects} objects, delta of {delta_txs} transactions"
        ));
        let server = bench.server(&format!("catchup-{objects}")).await?;
        let got = measure::catchup(&bench, &server.target, objects, delta_txs).await?;
        server.stop().await?;
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
                None,
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
                    None,
                )
                .with_note(format!("{:.3} s", got.delta_elapsed.as_secs_f64())),
            );
        }
    }

    // 5. Idle RSS, only with a separate server process.
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
