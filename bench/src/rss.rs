//! Idle memory of a spawned `sync-server` process, before and after idle clients connect.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use shared_types::protocol::RequestUpdatesMode;
use tokio::task::JoinSet;

use crate::client::{Client, Target};
use crate::spawned::vm_rss_kib;

/// How long the server settles before each RSS reading.
const SETTLE: Duration = Duration::from_millis(300);
/// How many clients connect at once.
const CONNECT_CONCURRENCY: usize = 64;

/// RSS in KiB of the idle server, and after `clients` logged-in idle clients connected.
pub struct Rss {
    pub idle_kib: u64,
    pub connected_kib: u64,
    pub clients: usize,
}

/// Spawns `binary` on a fresh database in `dir` with `model`, waits for its sync port, reads
/// VmRSS, connects `clients` logged-in clients that then stay idle, reads VmRSS again.
pub async fn measure(
    binary: &Path,
    model: &Path,
    dir: &Path,
    hashes: (String, String),
    clients: usize,
    first_peer: u64,
) -> Result<Rss> {
    std::fs::create_dir_all(dir)?;
    let mut child = Command::new(binary)
        .current_dir(dir)
        .args([
            "--unsecured-no-authentication",
            "--bind",
            "ws://127.0.0.1:0",
        ])
        .args(["--admin-off", "--model"])
        .arg(model)
        .args(["--db-directory"])
        .arg(dir.join("db"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("spawning {}", binary.display()))?;
    let result = measure_child(&mut child, hashes, clients, first_peer).await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn measure_child(
    child: &mut Child,
    hashes: (String, String),
    clients: usize,
    first_peer: u64,
) -> Result<Rss> {
    let pid = child.id();
    let stdout = child.stdout.take().context("server stdout")?;
    let port = tokio::task::spawn_blocking(move || -> Result<u16> {
        let mut lines = BufReader::new(stdout).lines();
        let mut port = None;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(rest) = line.split("Started on port ").nth(1) {
                port = Some(rest.trim().parse::<u16>()?);
            }
            if line.contains("server started in") {
                break;
            }
        }
        // Keep draining so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        port.context("the server printed no \"Started on port\" line")
    })
    .await??;
    tokio::time::sleep(SETTLE).await;
    let idle_kib = vm_rss_kib(pid)?;

    let target = Target {
        url: format!("ws://127.0.0.1:{port}/"),
        full_hash: hashes.0,
        base_hash: hashes.1,
    };
    let mut held = Vec::with_capacity(clients);
    let peers: Vec<u64> = (0..clients as u64).map(|i| first_peer + i).collect();
    for chunk in peers.chunks(CONNECT_CONCURRENCY) {
        let mut set = JoinSet::new();
        for &peer in chunk {
            let target = target.clone();
            set.spawn(async move {
                let mut client = Client::login(&target, peer, 0, RequestUpdatesMode::Auto).await?;
                client.catch_up().await?;
                anyhow::Ok(client)
            });
        }
        while let Some(joined) = set.join_next().await {
            held.push(joined??);
        }
    }
    tokio::time::sleep(SETTLE).await;
    let connected_kib = vm_rss_kib(pid)?;
    drop(held);
    Ok(Rss {
        idle_kib,
        connected_kib,
        clients,
    })
}
