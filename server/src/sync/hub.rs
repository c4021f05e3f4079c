//! The hub: what all sync connections share. It applies client transactions through the store's
//! single writer, publishes every committed transaction once, in commit order, to all
//! connections, and keeps the registry of logged-in peers.
//!
//! Concurrency: `apply` queues the transaction for the writer immediately (so one client's
//! transactions keep their order) and gets its result from a callback that the writer thread runs
//! after the durable commit, in commit order. That callback publishes into a bounded `broadcast`
//! channel, which never blocks: a connection that falls behind gets `Lagged` and catches up from
//! the log. The frame of each transaction is encoded once and shared by all recipients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use shared_types::protocol::{ApplyTx, GlobalId, TxEntry, TxErrorCode, encode};
use tokio::sync::{broadcast, oneshot};

use super::apply;
use super::stats::Counters;
use crate::model::Model;
use crate::store::{self, LogRecord, Store};

/// How many committed transactions the broadcast channel holds for slow connections before they
/// lag and must read from the log instead.
pub const BROADCAST_CAPACITY: usize = 4096;

/// A full database or disk is logged at ERROR at most this often.
pub const FULL_WARN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// A committed transaction as published to all connections.
#[derive(Debug)]
pub struct Committed {
    pub seq: u64,
    pub origin: u64,
    pub client_tx_id: u64,
    /// The sender's puts that lost a conflict; its own entry carries their current state.
    pub rejected: Vec<(u32, GlobalId)>,
    pub entry: TxEntry,
    /// The encoded `Push { txs: [entry] }`, shared by all recipients that know every entity in
    /// it. Encoded by the first recipient that needs it, on its own task: the writer thread, which
    /// every commit waits for, never encodes pushes, and nothing is encoded when nobody listens.
    frame: OnceLock<Bytes>,
}

impl Committed {
    pub fn new(
        seq: u64,
        origin: u64,
        client_tx_id: u64,
        rejected: Vec<(u32, GlobalId)>,
        entry: TxEntry,
    ) -> Committed {
        Committed {
            seq,
            origin,
            client_tx_id,
            rejected,
            entry,
            frame: OnceLock::new(),
        }
    }

    /// The encoded push of this entry, the same bytes as `encode(&ServerMessage::Push { txs:
    /// vec![entry] })`, encoded once.
    pub fn frame(&self) -> &Bytes {
        self.frame
            .get_or_init(|| Bytes::from(encode(&PushRef::Push { txs: [&self.entry] })))
    }
}

/// `ServerMessage::Push` with a borrowed entry: serializes to the same bytes without a copy of
/// the operations (checked by a test).
#[derive(serde::Serialize)]
enum PushRef<'a> {
    Push { txs: [&'a TxEntry; 1] },
}

/// What became of a client transaction.
#[derive(Debug)]
pub enum Outcome {
    /// Durable as `seq`; `rejected` lists puts that lost a conflict.
    Applied {
        seq: u64,
        rejected: Vec<(u32, GlobalId)>,
    },
    /// Already applied earlier (as `seq`); skipped.
    Duplicate { seq: u64 },
    /// Not applied.
    Rejected { code: TxErrorCode, message: String },
}

/// Limits and settings the hub needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub history_max_bytes: u64,
    pub history_target_bytes: u64,
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
    sender: broadcast::Sender<Arc<Committed>>,
    /// Peer id → connection number of logged-in peers; one connection per peer.
    peers: Mutex<HashMap<u64, u64>>,
    /// When a full database or disk was last logged at ERROR.
    full_warned: Mutex<Option<std::time::Instant>>,
}

impl Hub {
    pub fn new(
        store: Store,
        model: Arc<Model>,
        counters: Arc<Counters>,
        settings: Settings,
    ) -> Arc<Hub> {
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        Arc::new(Hub {
            store,
            model,
            counters,
            settings,
            sender,
            peers: Mutex::new(HashMap::new()),
            full_warned: Mutex::new(None),
        })
    }

    /// Live committed transactions from now on. Subscribe before reading the backlog.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.sender.subscribe()
    }

    /// Registers a logged-in peer; `false` if another live connection holds this peer id.
    pub fn register_peer(&self, peer: u64, connection: u64) -> bool {
        let Ok(mut peers) = self.peers.lock() else {
            return false;
        };
        if peers.contains_key(&peer) {
            return false;
        }
        peers.insert(peer, connection);
        true
    }

    /// Releases a peer id when its connection ends.
    pub fn unregister_peer(&self, peer: u64, connection: u64) {
        if let Ok(mut peers) = self.peers.lock()
            && peers.get(&peer) == Some(&connection)
        {
            peers.remove(&peer);
        }
    }

    /// Number of logged-in peers.
    pub fn peer_count(&self) -> usize {
        self.peers.lock().map_or(0, |p| p.len())
    }

    /// Validates and queues a client transaction; the answer arrives once it is durable.
    pub fn apply(
        self: &Arc<Self>,
        origin: u64,
        tx: ApplyTx,
        bytes: usize,
        known_properties: Option<Arc<std::collections::HashSet<(u32, u32)>>>,
    ) -> oneshot::Receiver<Outcome> {
        let (reply, answer) = oneshot::channel();
        if tx.ops.len() > self.settings.max_tx_objects {
            Counters::inc(&self.counters.client_txs_rejected);
            Counters::inc(&self.counters.txs_too_large);
            let _ = reply.send(Outcome::Rejected {
                code: TxErrorCode::TooLarge,
                message: format!(
                    "the transaction has {} operations; this server accepts at most {} per \
                     transaction (--max-tx-objects / maxTxObjects): split it",
                    tx.ops.len(),
                    self.settings.max_tx_objects
                ),
            });
            return answer;
        }
        if let Err(invalid) = apply::validate(&self.model, &tx.ops) {
            Counters::inc(&self.counters.client_txs_rejected);
            let _ = reply.send(Outcome::Rejected {
                code: invalid.code,
                message: invalid.message,
            });
            return answer;
        }
        let model = self.model.clone();
        let settings = self.settings.clone();
        let hub = self.clone();
        let tx_id = tx.tx_id;
        let op_count = tx.ops.len() as u64;
        let submitted = self.store.submit_with(
            move |wtxn, dbs| {
                if let Some((last_tx, seq)) = store::log::peer_state(wtxn, dbs, origin)?
                    && tx_id <= last_tx
                {
                    return Ok(Err(seq));
                }
                let applied = apply::apply(wtxn, dbs, &model, tx.ops, known_properties.as_deref())?;
                let record = store::log::append(wtxn, dbs, origin, tx_id, applied.ops, applied.rejected)?;
                store::log::prune(wtxn, dbs, settings.history_max_bytes, settings.history_target_bytes)?;
                Ok(Ok(record))
            },
            // Runs on the writer thread after the commit, in commit order.
            move |result: store::Result<Result<LogRecord, u64>>| {
                let outcome = match result {
                    Ok(Ok(record)) => {
                        let counters = &hub.counters;
                        Counters::inc(&counters.client_txs_applied);
                        Counters::add(&counters.client_tx_ops_applied, op_count);
                        Counters::add(&counters.client_tx_bytes_applied, bytes as u64);
                        Counters::add(&counters.put_conflicts, record.rejected.len() as u64);
                        // Answer before publishing: a connection that sees the published commit
                        // then always finds its own answer ready, and sends the Ack first.
                        let _ = reply.send(Outcome::Applied { seq: record.seq, rejected: record.rejected.clone() });
                        hub.publish(record);
                        return;
                    }
                    Ok(Err(seq)) => {
                        Counters::inc(&hub.counters.skipped_tx_dups);
                        Outcome::Duplicate { seq }
                    }
                    Err(e @ (store::Error::Full { .. } | store::Error::DiskFull { .. })) => {
                        Counters::inc(&hub.counters.client_txs_rejected);
                        hub.warn_full(&e);
                        let message = match e {
                            store::Error::Full { max_size } => format!(
                                "the server's database is full (its maximum size is {max_size} \
                                 bytes, --db-max-size); nothing was stored"
                            ),
                            _ => "the server's disk is full; nothing was stored".to_owned(),
                        };
                        Outcome::Rejected { code: TxErrorCode::StorageFull, message }
                    }
                    Err(e) => {
                        Counters::inc(&hub.counters.errors_handler);
                        tracing::error!(target: "SvApTx", "applying transaction {tx_id} of {origin:016X} failed: {e}");
                        crate::events::record_from_writer(
                            &hub.store,
                            crate::events::Event::new(
                                shared_types::admin::events::EventType::Error,
                                "sync",
                                format!("Applying transaction {tx_id} failed: {e}"),
                            )
                            .peer(origin),
                        );
                        Outcome::Rejected { code: TxErrorCode::Other(50), message: "internal server error".into() }
                    }
                };
                let _ = reply.send(outcome);
            },
        );
        if submitted.is_err() {
            // The writer stopped (shutdown); the caller sees a closed channel.
        }
        answer
    }

    /// Logs that writes fail for lack of space: at ERROR once a minute, so a full disk is seen
    /// without flooding the log.
    fn warn_full(&self, e: &store::Error) {
        let now = std::time::Instant::now();
        let mut last = self
            .full_warned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|t| now.duration_since(t) < FULL_WARN_INTERVAL) {
            tracing::debug!(target: "SvApTx", "transaction rejected: {e}");
            return;
        }
        *last = Some(now);
        tracing::error!(target: "SvApTx", "Rejecting client transactions: {e} (logged at most once a minute)");
    }

    /// Publishes a committed log record to every connection.
    fn publish(&self, record: LogRecord) {
        tracing::debug!(target: "TxLogA", "Applied {} commands; TX #{} committed", record.ops.len(), record.seq);
        let entry = TxEntry {
            seq: record.seq,
            origin: record.origin,
            time_ms: record.time_ms,
            ops: record.ops,
            tx_id: 0,
        };
        let committed = Arc::new(Committed::new(
            record.seq,
            record.origin,
            record.client_tx_id,
            record.rejected,
            entry,
        ));
        tracing::debug!(target: "SvDPsh", "Have {} operations for {} clients.", committed.entry.ops.len(), self.sender.receiver_count());
        // No receivers is fine: nobody is subscribed.
        let _ = self.sender.send(committed);
    }
}

#[cfg(test)]
mod tests {
    use shared_types::protocol::{GlobalId, Op, ServerMessage, TxEntry, Value, decode_server};

    use super::*;

    #[test]
    fn the_shared_frame_is_the_encoded_push_of_the_entry() {
        let entry = TxEntry {
            seq: 7,
            origin: 3,
            time_ms: 1_700_000_000_000,
            ops: vec![
                Op::Put {
                    entity: 1,
                    id: GlobalId(3, 1),
                    props: vec![(2, Value::String("text".into())), (6, Value::Int(9))],
                },
                Op::Remove {
                    entity: 1,
                    id: GlobalId(3, 2),
                },
            ],
            tx_id: 0,
        };
        let committed = Committed::new(7, 3, 11, vec![], entry.clone());
        let push = ServerMessage::Push { txs: vec![entry] };
        assert_eq!(committed.frame()[..], encode(&push)[..]);
        assert_eq!(decode_server(committed.frame()).unwrap(), push);
    }
}
