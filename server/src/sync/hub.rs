//! The hub: what all sync connections share. It does the node-local checks of client
//! transactions and hands them to the [`Log`], hands out subscriptions to committed entries, and
//! keeps the registry of logged-in peers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use shared_types::protocol::{ApplyTx, TxErrorCode};
use tokio::sync::{broadcast, oneshot};

use super::apply;
use super::log::{Change, ClientTx, Committed, Log, Outcome};
use super::stats::{Counter, Counters};
use crate::model::Model;
use crate::store::Store;

/// Limits and settings the hub needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Operations per client transaction (`maxTxObjects`).
    pub max_tx_objects: usize,
}

/// Shared sync state. One per server.
pub struct Hub {
    pub store: Store,
    /// The current schema's model; transactions are validated and applied against it.
    pub model: Arc<Model>,
    pub counters: Arc<Counters>,
    pub settings: Settings,
    log: Arc<dyn Log>,
    /// Peer id → (connection number, the position it was last sent) of logged-in peers; one
    /// connection per peer. A std mutex, held only for map operations.
    peers: Mutex<HashMap<u64, Peer>>,
}

/// A logged-in peer.
#[derive(Debug)]
struct Peer {
    connection: u64,
    /// What a newer login must have proven to take this peer id over (see
    /// `credentials::Identity::takeover_key`); `None`: it cannot be taken over.
    identity: Option<String>,
    /// The last seq sent to it, updated by its connection (for `obx_client_txs_behind`).
    position: Arc<std::sync::atomic::AtomicU64>,
    /// Tells the connection that a newer login took its peer id over.
    replaced: oneshot::Sender<()>,
}

/// A connection's hold on its peer id in the hub.
#[derive(Debug)]
pub struct Registration {
    /// Where the connection publishes the position it has sent.
    pub position: Arc<std::sync::atomic::AtomicU64>,
    /// Fires when a newer login with the same peer id and identity took over.
    pub replaced: oneshot::Receiver<()>,
}

impl Hub {
    pub fn new(
        store: Store,
        model: Arc<Model>,
        counters: Arc<Counters>,
        settings: Settings,
        log: Arc<dyn Log>,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            store,
            model,
            counters,
            settings,
            log,
            peers: Mutex::new(HashMap::new()),
        })
    }

    /// Live committed transactions from now on. Subscribe before reading the backlog.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.log.subscribe()
    }

    /// Registers a logged-in peer. If another connection holds the peer id, a login with the
    /// same proven identity takes it over (the older connection is told through its
    /// [`Registration::replaced`] and closes); otherwise `None` (`CLIENT_ID_TAKEN`).
    pub fn register_peer(
        &self,
        peer: u64,
        connection: u64,
        identity: Option<String>,
    ) -> Option<Registration> {
        let mut peers = crate::lock(&self.peers);
        if let Some(old) = peers.get(&peer) {
            if identity.is_none() || old.identity != identity {
                return None;
            }
            if let Some(old) = peers.remove(&peer) {
                tracing::debug!(target: "SvLgIn", "({:04X}) A new login takes over peer id {peer:016X} from connection #{}", peer >> 48, old.connection);
                let _ = old.replaced.send(());
            }
        }
        let position = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (replaced, notice) = oneshot::channel();
        peers.insert(
            peer,
            Peer {
                connection,
                identity,
                position: position.clone(),
                replaced,
            },
        );
        Some(Registration {
            position,
            replaced: notice,
        })
    }

    /// Releases a peer id when its connection ends.
    pub fn unregister_peer(&self, peer: u64, connection: u64) {
        let mut peers = crate::lock(&self.peers);
        if peers.get(&peer).is_some_and(|p| p.connection == connection) {
            peers.remove(&peer);
        }
    }

    /// Number of logged-in peers.
    pub fn peer_count(&self) -> usize {
        crate::lock(&self.peers).len()
    }

    /// How far the most-behind logged-in peer is from `head` (0 with no peer).
    pub fn most_behind(&self, head: u64) -> u64 {
        let peers = crate::lock(&self.peers);
        peers
            .values()
            .map(|p| head.saturating_sub(p.position.load(std::sync::atomic::Ordering::Relaxed)))
            .max()
            .unwrap_or(0)
    }

    /// Checks a client transaction here (size, schema) and hands it to the log; the answer
    /// arrives once it is durable.
    pub fn apply(
        &self,
        origin: u64,
        tx: ApplyTx,
        bytes: usize,
        known_properties: Option<Arc<std::collections::HashSet<(u32, u32)>>>,
    ) -> oneshot::Receiver<Outcome> {
        if tx.ops.len() > self.settings.max_tx_objects {
            self.counters.inc(Counter::ClientTxsRejected);
            self.counters.inc(Counter::TxsTooLarge);
            return answered(Outcome::Rejected {
                code: TxErrorCode::TooLarge,
                message: format!(
                    "the transaction has {} operations; this server accepts at most {} per \
                     transaction (--max-tx-objects / maxTxObjects): split it",
                    tx.ops.len(),
                    self.settings.max_tx_objects
                ),
            });
        }
        if let Err(invalid) = apply::validate(&self.model, &tx.ops) {
            self.counters.inc(Counter::ClientTxsRejected);
            return answered(Outcome::Rejected {
                code: invalid.code,
                message: invalid.message,
            });
        }
        self.log.submit(Change::ClientTx(ClientTx {
            origin,
            tx_id: tx.tx_id,
            time_ms: crate::store::now_ms(),
            ops: tx.ops,
            known_properties,
            bytes,
        }))
    }
}

/// An answer that is ready at once.
pub fn answered(outcome: Outcome) -> oneshot::Receiver<Outcome> {
    let (reply, answer) = oneshot::channel();
    let _ = reply.send(outcome);
    answer
}
