//! The seam every state change goes through before it is acknowledged: the sequencer.
//!
//! A [`Log`] takes a [`Change`], puts it in order after every change submitted before it,
//! applies it to the local store in a durable commit with the deterministic
//! [`apply::apply_change`], answers the submitter with its [`Outcome`], and publishes the
//! committed entry to every subscriber, in order. [`LocalLog`] does this in one process through
//! the store's writer thread. A replicated log (cluster mode) puts an ordered stream in front of
//! the same `apply_change`; sessions, connections and the hub do not change.
//!
//! Concurrency: [`LocalLog::submit`] queues the change for the writer at once (so one client's
//! changes keep their order) and gets its result from a callback that the writer thread runs
//! after the durable commit, in commit order. That callback answers first and then publishes
//! into a bounded `broadcast` channel, which never blocks: a connection that falls behind gets
//! `Lagged` and catches up from the stored log.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use shared_types::protocol::{GlobalId, Op, TxEntry, TxErrorCode, encode};
use tokio::sync::{broadcast, oneshot};

use super::apply::{self, Applied};
use super::stats::{Counter, Counters};
use crate::events::{self, Event};
use crate::model::Model;
use crate::store::{self, LogRecord, Store};

/// How many committed transactions the broadcast channel holds for slow connections before they
/// lag and must read from the log instead.
pub const BROADCAST_CAPACITY: usize = 4096;

/// A full database or disk is logged at ERROR at most this often.
pub const FULL_WARN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Orders state changes, applies them durably and publishes what was committed.
pub trait Log: Send + Sync {
    /// Puts `change` in order after everything submitted before it; the answer arrives once it
    /// is durable (or refused). A closed channel means the log stopped (server shutdown).
    fn submit(&self, change: Change) -> oneshot::Receiver<Outcome>;

    /// Committed entries from now on, in order. Subscribe before reading the stored backlog.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>>;
}

/// A state change to order and apply. Everything `apply_change` needs travels in it, so every
/// node that applies it writes the same bytes.
#[derive(Debug)]
pub enum Change {
    /// A client transaction that passed the node-local checks (size, `maxTxObjects`, schema).
    ClientTx(ClientTx),
}

/// A client transaction as the log orders it.
#[derive(Debug)]
pub struct ClientTx {
    pub origin: u64,
    pub tx_id: u64,
    /// The commit time recorded in the log entry, chosen when the change was submitted.
    pub time_ms: u64,
    pub ops: Vec<Op>,
    /// The (entity id, property id) pairs the client's schema version knows; `None` for all.
    /// Values of other properties are kept when it replaces an object.
    pub known_properties: Option<Arc<HashSet<(u32, u32)>>>,
    /// Size of the client's message, for the statistics.
    pub bytes: usize,
}

/// What became of a submitted change.
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

/// How much history the local log keeps (`historySizeMaxKb`, `historySizeTargetKb`).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_bytes: u64,
    pub target_bytes: u64,
}

/// The log of one process: the store's writer thread is the sequencer.
pub struct LocalLog {
    shared: Arc<Shared>,
}

/// What [`LocalLog`] and its post-commit callbacks share.
struct Shared {
    store: Store,
    model: Arc<Model>,
    counters: Arc<Counters>,
    retention: Retention,
    sender: broadcast::Sender<Arc<Committed>>,
    /// When a full database or disk was last logged at ERROR.
    full_warned: Mutex<Option<std::time::Instant>>,
}

impl LocalLog {
    pub fn new(
        store: Store,
        model: Arc<Model>,
        counters: Arc<Counters>,
        retention: Retention,
    ) -> LocalLog {
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        LocalLog {
            shared: Arc::new(Shared {
                store,
                model,
                counters,
                retention,
                sender,
                full_warned: Mutex::new(None),
            }),
        }
    }
}

impl Shared {
    /// Answers a change's submitter after its commit, and publishes what it committed.
    fn finish(
        &self,
        result: store::Result<Applied>,
        tx: Submitted,
        reply: oneshot::Sender<Outcome>,
    ) {
        let Submitted {
            origin,
            tx_id,
            op_count,
            bytes,
        } = tx;
        let counters = &self.counters;
        let outcome = match result {
            Ok(Applied::Logged(record)) => {
                counters.inc(Counter::ClientTxsApplied);
                counters.add(Counter::ClientTxOpsApplied, op_count);
                counters.add(Counter::ClientTxBytesApplied, bytes as u64);
                counters.add(Counter::PutConflicts, record.rejected.len() as u64);
                // Answer before publishing: a connection that sees the published commit then
                // always finds its own answer ready, and sends the Ack first.
                let _ = reply.send(Outcome::Applied {
                    seq: record.seq,
                    rejected: record.rejected.clone(),
                });
                self.publish(record);
                return;
            }
            Ok(Applied::Duplicate { seq }) => {
                counters.inc(Counter::SkippedTxDups);
                Outcome::Duplicate { seq }
            }
            Err(e) if e.is_full() => {
                counters.inc(Counter::ClientTxsRejected);
                self.warn_full(&e);
                let message = match e {
                    store::Error::Full { max_size } => format!(
                        "the server's database is full (its maximum size is {max_size} bytes, \
                         --db-max-size); nothing was stored"
                    ),
                    _ => "the server's disk is full; nothing was stored".to_owned(),
                };
                Outcome::Rejected {
                    code: TxErrorCode::StorageFull,
                    message,
                }
            }
            Err(e) => {
                counters.inc(Counter::ErrorsHandler);
                tracing::error!(target: "SvApTx", "applying transaction {tx_id} of {origin:016X} failed: {e}");
                events::record_from_writer(
                    &self.store,
                    Event::new(
                        shared_types::admin::events::EventType::Error,
                        "sync",
                        format!("Applying transaction {tx_id} failed: {e}"),
                    )
                    .peer(origin),
                );
                Outcome::Rejected {
                    code: TxErrorCode::Other(50),
                    message: "internal server error".into(),
                }
            }
        };
        let _ = reply.send(outcome);
    }

    /// Logs that writes fail for lack of space: at ERROR once a minute, so a full disk is seen
    /// without flooding the log.
    fn warn_full(&self, e: &store::Error) {
        let now = std::time::Instant::now();
        let mut last = crate::lock(&self.full_warned);
        if last.is_some_and(|t| now.duration_since(t) < FULL_WARN_INTERVAL) {
            tracing::debug!(target: "SvApTx", "transaction rejected: {e}");
            return;
        }
        *last = Some(now);
        tracing::error!(target: "SvApTx", "Rejecting client transactions: {e} (logged at most once a minute)");
    }

    /// Publishes a committed log record to every subscriber.
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

impl Log for LocalLog {
    fn submit(&self, change: Change) -> oneshot::Receiver<Outcome> {
        let (reply, answer) = oneshot::channel();
        let Change::ClientTx(tx) = &change;
        let submitted = Submitted {
            origin: tx.origin,
            tx_id: tx.tx_id,
            op_count: tx.ops.len() as u64,
            bytes: tx.bytes,
        };
        let model = self.shared.model.clone();
        let retention = self.shared.retention;
        let shared = self.shared.clone();
        // A failed submit means the writer stopped (shutdown): `reply` drops with the closure,
        // and the caller sees a closed channel.
        let _ = self.shared.store.submit_with(
            move |w| {
                let applied = apply::apply_change(w, &model, change)?;
                if let Applied::Logged(_) = applied {
                    w.prune_log(retention.max_bytes, retention.target_bytes)?;
                }
                Ok(applied)
            },
            // Runs on the writer thread after the commit, in commit order.
            move |result| shared.finish(result, submitted, reply),
        );
        answer
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.shared.sender.subscribe()
    }
}

// Helpers below.

/// What the post-commit callback needs to know of a submitted client transaction.
struct Submitted {
    origin: u64,
    tx_id: u64,
    op_count: u64,
    bytes: usize,
}

/// `ServerMessage::Push` with a borrowed entry: serializes to the same bytes without a copy of
/// the operations (checked by a test).
#[derive(serde::Serialize)]
enum PushRef<'a> {
    Push { txs: [&'a TxEntry; 1] },
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
