//! Measures start-up time and idle memory of the real `sync-server` binary on every public model.
//!
//! Usage: `cargo build --release -p sync-server && cargo run --release -p sync-server --example startup_bench`
//! (optionally with the binary path and the number of runs per model as arguments).
//!
//! For each model and run: a fresh database directory, spawn the binary with `--model`, and time
//! from `spawn` until the "started" log line is read (this includes process exec, config parsing,
//! model load and validation, LMDB creation, the first schema version and binding both ports).
//! A second start on the same directory (the model is already stored) is timed separately. After
//! the start, idle RSS is read from /proc/PID/status. Baseline: the same spawn-to-first-line time
//! for `/bin/true`-like `sync-server --version` (process start and exit cost only).
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/release/sync-server".into()),
    );
    let binary = binary
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}; build it first", binary.display()));
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let models_dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/models/public");
    let mut models: Vec<PathBuf> = std::fs::read_dir(&models_dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    models.sort();

    let version_times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let status = Command::new(&binary)
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .expect("run");
            assert!(status.success());
            t.elapsed()
        })
        .collect();
    println!(
        "baseline `sync-server --version` (exec + exit): median {:.2} ms",
        median_ms(&version_times)
    );
    println!();
    println!("| model | entities | first start ms (median) | restart ms (median) | idle RSS KiB |");
    println!("|---|---|---|---|---|");

    let mut all_first = Vec::new();
    let mut all_restart = Vec::new();
    let mut all_rss = Vec::new();
    for model in &models {
        let mut first = Vec::new();
        let mut restart = Vec::new();
        let mut rss = 0;
        let mut refused = false;
        for _ in 0..runs {
            let dir = tempfile::tempdir().expect("tempdir");
            match start(&binary, model, dir.path()) {
                Some((elapsed, _)) => first.push(elapsed),
                None => {
                    refused = true;
                    break;
                }
            }
            if let Some((elapsed, kib)) = start(&binary, model, dir.path()) {
                restart.push(elapsed);
                rss = kib;
            }
        }
        let name = model.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let entities = std::fs::read_to_string(model)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["entities"].as_array().map(Vec::len))
            .unwrap_or(0);
        if refused {
            println!("| {name} | {entities} | refused (invalid legacy model) | | |");
            continue;
        }
        println!(
            "| {name} | {entities} | {:.2} | {:.2} | {rss} |",
            median_ms(&first),
            median_ms(&restart)
        );
        all_first.extend(first);
        all_restart.extend(restart);
        all_rss.push(rss);
    }
    all_rss.sort_unstable();
    println!();
    println!(
        "all models: first start median {:.2} ms, max {:.2} ms; restart median {:.2} ms, max {:.2} ms; idle RSS median {} KiB, max {} KiB",
        median_ms(&all_first),
        all_first
            .iter()
            .max()
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        median_ms(&all_restart),
        all_restart
            .iter()
            .max()
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        all_rss.get(all_rss.len() / 2).copied().unwrap_or(0),
        all_rss.last().copied().unwrap_or(0),
    );
}

/// Starts the server, waits for its "started" line, reads its idle RSS, stops it.
fn start(binary: &PathBuf, model: &PathBuf, dir: &std::path::Path) -> Option<(Duration, u64)> {
    let t = Instant::now();
    let mut child = Command::new(binary)
        .current_dir(dir)
        .args([
            "--unsecured-no-authentication",
            "--bind",
            "ws://127.0.0.1:0",
            "--admin-bind",
            "127.0.0.1:0",
            "--model",
        ])
        .arg(model)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {} in {}: {e}", binary.display(), dir.display()));
    let stdout = child.stdout.take().expect("stdout");
    let mut started = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.contains("server started in") {
            started = Some(t.elapsed());
            break;
        }
    }
    let Some(elapsed) = started else {
        let _ = child.wait();
        return None;
    };
    std::thread::sleep(Duration::from_millis(200));
    let rss = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    Some((elapsed, rss))
}

fn median_ms(times: &[Duration]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted
        .get(sorted.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
