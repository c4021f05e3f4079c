//! The real server in-process, and client peers with their own temporary stores.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sync_client::{ClientOptions, ClientStore, Event, SyncClient};
use sync_model::Model;
use sync_server::config::Config;
use sync_server::{Listeners, run};
use tempfile::TempDir;
use tokio::sync::{broadcast, oneshot};

/// A hang guard for waits (not a timing assertion).
pub const WAIT: Duration = Duration::from_secs(30);

pub fn example_model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/objectbox-model.json")
}

pub fn example_model() -> Model {
    let bytes = std::fs::read(example_model_path()).expect("example model");
    Model::from_json(&bytes).expect("valid model").model
}

pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Starts the server on `dir/db` with the example model; `tweak` adjusts the config.
    pub async fn start(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Server {
        let mut config = Config::for_tests(Some(example_model_path()), dir.join("db"));
        config.admin_bind = None;
        config.log_level = sync_server::logging::LogLevel::Warn;
        tweak(&mut config);
        let listeners = Listeners::bind(&config).await.expect("bind");
        let addr = listeners.sync_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            run(config, listeners, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        Server {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

/// One client: a store in its own directory and a sync client with an event receiver.
pub struct Peer {
    _dir: TempDir,
    pub store: ClientStore,
    pub client: SyncClient,
    pub events: broadcast::Receiver<Event>,
}

impl Peer {
    /// A peer for `url` with short backoff delays; `tweak` adjusts the options. Not started.
    pub fn new(url: &str, tweak: impl FnOnce(&mut ClientOptions)) -> Peer {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ClientStore::open(dir.path(), example_model()).expect("store");
        let mut options = ClientOptions::new(url);
        options.initial_backoff = Duration::from_millis(50);
        options.max_backoff = Duration::from_millis(200);
        tweak(&mut options);
        let client = SyncClient::new(store.clone(), options).expect("client");
        let events = client.subscribe();
        Peer {
            _dir: dir,
            store,
            client,
            events,
        }
    }

    /// Waits for the first event `pick` accepts; returns it.
    pub async fn wait_for(&mut self, pick: impl Fn(&Event) -> bool) -> Event {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.events.recv().await {
                    Ok(event) if pick(&event) => return event,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
                }
            }
        })
        .await
        .expect("the event in time")
    }

    /// Waits until the server acknowledged every queued transaction.
    pub async fn wait_until_acked(&mut self) {
        while self.store.outgoing_queue_len().expect("len") > 0 {
            self.wait_for(|e| matches!(e, Event::TxAcked { .. })).await;
        }
    }

    /// Waits until the object satisfies `check`, re-reading it after each change event.
    pub async fn wait_until(
        &mut self,
        entity: &str,
        check: impl Fn(&[serde_json::Map<String, serde_json::Value>]) -> bool,
    ) {
        loop {
            if check(&self.store.list(entity).expect("list")) {
                return;
            }
            self.wait_for(|e| matches!(e, Event::Changes { .. })).await;
        }
    }
}
