//! The `sync-client` command line: local reads and writes, one-shot sync, and watching changes.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{Value as Json, json};
use shared_types::protocol::{JwtKind, RequestUpdatesMode};
use sync_client::engine::{Retry, retry_after_login};
use sync_client::json::to_ordered_string;
use sync_client::{ClientOptions, ClientStore, Credentials, Event, SyncClient};
use sync_model::Model;
use tokio::sync::broadcast::error::RecvError;

/// Exit code for a failure reported by the server or the network (usage errors exit with 2).
const EXIT_FAILURE: u8 = 1;

#[derive(Parser)]
#[command(
    name = "sync-client",
    version,
    about = "Local-first data store client for the sync server"
)]
struct Cli {
    /// The sync server, ws://host:port or wss://host:port (needed by `sync` and `watch`).
    #[arg(long, env = "SYNC_CLIENT_SERVER")]
    server: Option<String>,
    /// PEM file with CA certificates to trust for wss:// besides the public roots (e.g. the
    /// certificate of a self-signed server).
    #[arg(long, value_name = "FILE", env = "SYNC_CLIENT_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// The objectbox-model.json the local store follows.
    #[arg(long)]
    model: PathBuf,
    /// The local store's directory (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// Log in with this shared secret (it is never sent; the login carries a proof of it).
    #[arg(
        long,
        env = "SYNC_CLIENT_SHARED_SECRET",
        conflicts_with = "jwt",
        hide_env_values = true
    )]
    shared_secret: Option<String>,
    /// Log in with this JSON Web Token (an ID token).
    #[arg(long, env = "SYNC_CLIENT_JWT", hide_env_values = true)]
    jwt: Option<String>,
    /// Which updates the server sends after login.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    mode: Mode,
    /// `sync`: give up after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// `sync`: give up after this many failed connection attempts in a row.
    #[arg(long, default_value_t = 5)]
    max_attempts: u32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Catch up, then receive live pushes.
    Auto,
    /// Catch up once, no live pushes.
    AutoNoPushes,
    /// Nothing until requested (`sync` and `watch` request one catch-up).
    Manual,
}

#[derive(Subcommand)]
enum Command {
    /// Write an object given as JSON; prints its local id (a new object when `id` is absent or 0).
    Put { entity: String, json: String },
    /// Write objects given as JSON lines on stdin, each in its own local transaction; prints
    /// each local id as soon as its transaction is committed.
    Import { entity: String },
    /// Remove an object by local id.
    Remove { entity: String, id: u64 },
    /// Print one object as JSON.
    Get { entity: String, id: u64 },
    /// Print all objects of an entity, one JSON object per line.
    List { entity: String },
    /// Print the peer id, sync position and outgoing queue length as JSON.
    Status,
    /// Connect, send the queue, catch up; exit once up to date and every local change is acked.
    Sync,
    /// Stay connected and print every incoming change as a JSON line.
    Watch,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sync-client: error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let bytes = std::fs::read(&cli.model)
        .with_context(|| format!("cannot read model file {}", cli.model.display()))?;
    let model = Model::from_json(&bytes)
        .map_err(|e| anyhow!("invalid model file {}: {e}", cli.model.display()))?
        .model;
    let store = ClientStore::open(&cli.dir, model)
        .with_context(|| format!("cannot open the local store in {}", cli.dir.display()))?;
    match &cli.command {
        Command::Put { entity, json } => {
            let object: Json =
                serde_json::from_str(json).with_context(|| format!("invalid JSON: {json}"))?;
            let id = store.put(entity, &object)?;
            output(&id.to_string())
        }
        Command::Import { entity } => {
            for (index, line) in std::io::stdin().lock().lines().enumerate() {
                let line = line.context("cannot read stdin")?;
                if line.trim().is_empty() {
                    continue;
                }
                let object: Json = serde_json::from_str(&line)
                    .with_context(|| format!("line {}: invalid JSON: {line}", index + 1))?;
                let id = store
                    .put(entity, &object)
                    .with_context(|| format!("line {}", index + 1))?;
                output(&id.to_string())?;
            }
            Ok(())
        }
        Command::Remove { entity, id } => {
            if !store.remove(entity, *id)? {
                bail!("{entity} {id} does not exist");
            }
            Ok(())
        }
        Command::Get { entity, id } => match store.get(entity, *id)? {
            Some(object) => output(&to_ordered_string(store.entity(entity)?, &object)),
            None => bail!("{entity} {id} does not exist"),
        },
        Command::List { entity } => {
            let model_entity = store.entity(entity)?;
            for object in store.list(entity)? {
                output(&to_ordered_string(model_entity, &object))?;
            }
            Ok(())
        }
        Command::Status => {
            let state = store.sync_state()?;
            output(
                &json!({
                    "peerId": state.peer_id,
                    "lastSeq": state.last_seq,
                    "lastTxId": state.last_tx_id,
                    "lastAckedTxId": state.last_acked_tx_id,
                    "outgoingQueueLen": state.queue_len,
                    "fullSyncInProgress": state.full_sync_in_progress,
                })
                .to_string(),
            )
        }
        Command::Sync | Command::Watch => {
            let options = client_options(&cli)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let watch = matches!(cli.command, Command::Watch);
            runtime.block_on(async move {
                let client = SyncClient::new(store, options)?;
                let result = if watch {
                    watch_changes(&client, cli.mode).await
                } else {
                    sync_once(&client, &cli).await
                };
                client.stop().await;
                result
            })
        }
    }
}

fn client_options(cli: &Cli) -> anyhow::Result<ClientOptions> {
    let url = cli
        .server
        .clone()
        .ok_or_else(|| anyhow!("--server ws://host:port is required for this command"))?;
    let mut options = ClientOptions::new(url);
    options.ca_certificate.clone_from(&cli.ca_cert);
    options.credentials = match (&cli.shared_secret, &cli.jwt) {
        (Some(secret), _) => Credentials::SharedSecret(secret.clone().into_bytes()),
        (None, Some(token)) => Credentials::Jwt {
            kind: JwtKind::Id,
            token: token.clone(),
        },
        (None, None) => Credentials::None,
    };
    options.mode = match cli.mode {
        Mode::Auto => RequestUpdatesMode::Auto,
        Mode::AutoNoPushes => RequestUpdatesMode::AutoNoPushes,
        Mode::Manual => RequestUpdatesMode::Manual,
    };
    Ok(options)
}

/// Runs the client until it is caught up and the queue is empty, or fails.
async fn sync_once(client: &SyncClient, cli: &Cli) -> anyhow::Result<()> {
    let mut events = client.subscribe();
    client.start();
    let url = cli.server.as_deref().unwrap_or_default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(cli.timeout);
    let mut completed = false;
    let mut failed_attempts = 0;
    let mut last_problem = String::from("no connection yet");
    let mut rejected = Vec::new();
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = tokio::time::sleep_until(deadline) => {
                let queue = client.outgoing_queue_len()?;
                bail!(
                    "timed out after {} s ({}; caught up: {completed}; {queue} transaction(s) not acknowledged)",
                    cli.timeout, last_problem
                );
            }
        };
        match event {
            Ok(Event::LoggedIn { .. }) => {
                failed_attempts = 0;
                last_problem = String::from("logged in");
                if matches!(cli.mode, Mode::Manual) {
                    client.request_updates(false);
                }
            }
            Ok(Event::ConnectFailed { error, .. }) => {
                failed_attempts += 1;
                last_problem = format!("cannot connect to {url}: {error}");
                if failed_attempts >= cli.max_attempts {
                    bail!("{last_problem} (after {failed_attempts} attempts)");
                }
            }
            Ok(Event::LoginFailed { code, message }) => {
                last_problem = format!("login failed: {code:?} ({}) {message}", u32::from(code));
                if retry_after_login(code) != Retry::Backoff {
                    bail!("{last_problem}");
                }
            }
            Ok(Event::ServerError { code, message }) => {
                last_problem = format!("server error {code:?}: {message}");
            }
            Ok(Event::StoreError(message)) => bail!("local store error: {message}"),
            Ok(Event::TxRejected {
                tx_id,
                code,
                message,
            }) => rejected.push(format!("transaction {tx_id} rejected: {code:?} {message}")),
            Ok(Event::SyncCompleted(_)) => completed = true,
            Ok(Event::Disconnected) => completed = false,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => bail!("the sync client stopped: {last_problem}"),
        }
        if completed && client.outgoing_queue_len()? == 0 {
            break;
        }
    }
    if !rejected.is_empty() {
        bail!("{}", rejected.join("; "));
    }
    Ok(())
}

/// Prints incoming changes until interrupted or a permanent failure.
async fn watch_changes(client: &SyncClient, mode: Mode) -> anyhow::Result<()> {
    let mut events = client.subscribe();
    client.start();
    let store = client.store();
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match event {
            Ok(Event::Changes {
                entity,
                puts,
                removes,
            }) => {
                let name = Json::String(entity.clone());
                for id in puts {
                    // Read after the commit: the object may have changed again (or be gone).
                    let object = match store.get(&entity, id)? {
                        Some(object) => to_ordered_string(store.entity(&entity)?, &object),
                        None => String::from("null"),
                    };
                    output(&format!(
                        r#"{{"entity":{name},"op":"put","id":{id},"object":{object}}}"#
                    ))?;
                }
                for id in removes {
                    output(&format!(r#"{{"entity":{name},"op":"remove","id":{id}}}"#))?;
                }
            }
            Ok(Event::LoggedIn { head_seq, .. }) => {
                eprintln!("sync-client: logged in (server head seq {head_seq})");
                if matches!(mode, Mode::Manual) {
                    client.request_updates(true);
                }
            }
            Ok(Event::LoginFailed { code, message }) => {
                let problem = format!("login failed: {code:?} ({}) {message}", u32::from(code));
                if retry_after_login(code) != Retry::Backoff {
                    bail!("{problem}");
                }
                eprintln!("sync-client: {problem}; retrying");
            }
            Ok(Event::ConnectFailed { error, retry_in_ms }) => {
                eprintln!("sync-client: cannot connect: {error}; retrying in {retry_in_ms} ms");
            }
            Ok(Event::Disconnected) => eprintln!("sync-client: disconnected"),
            Ok(Event::SyncCompleted(seq)) => eprintln!("sync-client: up to date at seq {seq}"),
            Ok(Event::TxRejected {
                tx_id,
                code,
                message,
            }) => eprintln!("sync-client: transaction {tx_id} rejected: {code:?} {message}"),
            Ok(Event::ServerError { code, message }) => {
                eprintln!("sync-client: server error {code:?}: {message}");
            }
            Ok(Event::StoreError(message)) => bail!("local store error: {message}"),
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => eprintln!("sync-client: missed {n} events"),
            Err(RecvError::Closed) => bail!("the sync client stopped"),
        }
    }
}

/// Writes one line of command output to stdout; the only place the CLI prints results.
fn output(line: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")
}
