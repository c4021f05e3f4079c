//! One WebSocket connection: runs a [`Session`] and does its I/O.
//!
//! The task owns the socket alone. It waits on the client's frames, live commits from the hub
//! (only while the session wants them), the answers to this client's transactions (in the order
//! they were sent), the heartbeat tick and server shutdown. Catch-up and full sync run inline, so
//! everything this client is sent goes out in `seq` order. The protocol decisions are the
//! session's; this module carries them out. It is generic over the socket (any `Stream` and
//! `Sink` of WebSocket messages), so it runs on channels as well as on a real WebSocket.
//!
//! Size: the select loop, login, catch-up and full sync are one task over one socket; split, they would pass the socket and the session between modules.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::Message;
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use shared_types::protocol::{
    ClientMessage, Credential, ErrorCode, GlobalId, Login, LoginCode, Op, ServerMessage, TxEntry,
    decode_client, decode_props, encode,
};
use tokio::sync::{broadcast, oneshot};

use super::SyncService;
use super::error::{Error, Result};
use super::frames::{self, ChunkOp};
use super::hub::{Registration, answered};
use super::limits::{InboundRate, Slot};
use super::log::{Committed, Outcome};
use super::session::{CatchUp, Effect, Session, name};
use super::stats::Counter;
use crate::credentials::Identity;
use crate::store::{SnapshotCursor, SnapshotItem};

/// How many log entries one catch-up `Push` carries at most.
pub const CATCH_UP_BATCH: usize = 1000;

/// How long a connection tries to tell its client that the server is stopping.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);

/// How often the connection checks heartbeats and idleness.
const TICK: Duration = Duration::from_millis(shared_types::protocol::HEARTBEAT_INTERVAL_MS / 3);

/// Serves one WebSocket until it closes; `_slot` holds its place within the connection limits
/// until then.
pub async fn run<S>(service: Arc<SyncService>, socket: S, addr: SocketAddr, id: u64, _slot: Slot)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    tracing::debug!(target: "SvrWs", "(#{id}) Connection from {addr}");
    service.hub.counters.inc(Counter::Connects);
    let settings = &service.settings;
    let now = Instant::now();
    let rate = InboundRate::new(
        settings.max_inbound_messages_per_second,
        settings.max_inbound_bytes_per_second,
        now,
    );
    let login_deadline = tokio::time::Instant::from_std(now + settings.handshake_timeout);
    let mut connection = Connection {
        service: service.clone(),
        socket,
        id,
        session: Session::new(),
        nonce: new_nonce(),
        pending: VecDeque::new(),
        last_received: Instant::now(),
        last_sent: Instant::now(),
        live: None,
        registered: None,
        replaced: None,
        frame_bytes: 0,
        can_write: true,
        rate,
        paused_until: None,
        told_paused: false,
        login_deadline,
    };
    let result = connection.serve().await;
    match &result {
        Err(Error::Store(e)) => tracing::warn!(target: "SvrWs", "(#{id}) Closed: {e}"),
        Err(reason) => tracing::debug!(target: "SvrWs", "(#{id}) Closed: {reason}"),
        Ok(()) => {}
    }
    if let Err(Error::ClientGone) = result {
        service.hub.counters.inc(Counter::DisconnectAborts);
    }
    if connection.registered.is_some() {
        service.hub.unregister_peer(connection.session.peer(), id);
    }
}

struct Connection<S> {
    service: Arc<SyncService>,
    socket: S,
    id: u64,
    session: Session,
    nonce: Vec<u8>,
    /// This client's transactions waiting for their outcome, in the order they were sent.
    pending: VecDeque<(u64, oneshot::Receiver<Outcome>)>,
    last_received: Instant,
    last_sent: Instant,
    /// Live commits; subscribed at login, before any catch-up reads the log.
    live: Option<broadcast::Receiver<Arc<Committed>>>,
    /// Set while this connection holds its peer id in the hub: where it publishes the position
    /// it has sent (for `obx_client_txs_behind`).
    registered: Option<Arc<AtomicU64>>,
    /// Fires when a newer login with this peer id and identity took over (see
    /// `Hub::register_peer`).
    replaced: Option<oneshot::Receiver<()>>,
    /// The size of the frame being handled, for the applied-bytes counter.
    frame_bytes: usize,
    /// False for identities without write permission (admin users without sync write): their
    /// transactions are rejected with `NoPermission`, but they still receive data.
    can_write: bool,
    /// Paces the client's messages; when it is over its rate, reading pauses until
    /// `paused_until` (backpressure through TCP flow control; nothing is dropped).
    rate: InboundRate,
    paused_until: Option<tokio::time::Instant>,
    /// Whether the first pause was logged (once per connection).
    told_paused: bool,
    /// A client must log in by then (`handshake_timeout`), or the connection is closed.
    login_deadline: tokio::time::Instant,
}

impl<S> Connection<S>
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    async fn serve(&mut self) -> Result {
        let hello = ServerMessage::Hello {
            min_version: shared_types::protocol::MIN_PROTOCOL_VERSION,
            max_version: shared_types::protocol::PROTOCOL_VERSION,
            nonce: self.nonce.clone(),
            server_time_ms: crate::store::now_ms(),
        };
        self.send(&hello).await?;
        let mut shutdown = self.service.shutdown.clone();
        let stop = async move {
            let _ = shutdown.wait_for(|stopped| *stopped).await;
        };
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(TICK);
        loop {
            let wants_live = self.session.wants_live();
            // Biased: answers to this client's transactions go out before live pushes, so an
            // Ack always precedes pushes of later commits.
            tokio::select! {
                biased;
                outcome = front(&mut self.pending), if !self.pending.is_empty() => {
                    let tx_id = self.pending.pop_front().map_or(0, |(tx_id, _)| tx_id);
                    self.on_outcome(tx_id, outcome).await?;
                }
                frame = self.socket.next(), if self.paused_until.is_none() => {
                    let effects = self.on_frame(frame)?;
                    self.run_effects(effects).await?;
                }
                () = resume(self.paused_until), if self.paused_until.is_some() => {
                    self.paused_until = None;
                    // The pause was ours: it does not count as the client being silent.
                    self.last_received = Instant::now();
                }
                () = tokio::time::sleep_until(self.login_deadline), if !self.session.is_logged_in() => {
                    let timeout = self.service.settings.handshake_timeout;
                    let effects = vec![Effect::Close(
                        ErrorCode::IdleTimeout,
                        format!("no Login within {} s of connecting", timeout.as_secs_f64()),
                    )];
                    self.run_effects(effects).await?;
                }
                committed = recv_live(&mut self.live), if wants_live => {
                    let effects = match committed {
                        Ok(committed) => self.session.on_committed(&committed),
                        Err(broadcast::error::RecvError::Lagged(_)) => vec![Effect::CatchUp],
                        Err(broadcast::error::RecvError::Closed) => return Err(Error::ShuttingDown),
                    };
                    self.run_effects(effects).await?;
                }
                () = replaced(&mut self.replaced), if self.replaced.is_some() => {
                    self.replaced = None;
                    // The hub already gave the peer id to the newer connection.
                    self.registered = None;
                    let effects = vec![Effect::Close(
                        ErrorCode::Replaced,
                        "a newer login with this peer id took over this session".into(),
                    )];
                    self.run_effects(effects).await?;
                }
                _ = tick.tick() => self.on_tick().await?,
                () = &mut stop => {
                    // `send` refuses once the server stops; a client that does not read gets a
                    // moment, not a say in how long stopping takes.
                    let farewell = ServerMessage::Error { code: ErrorCode::ShuttingDown, message: "the server is shutting down".into() };
                    let _ = tokio::time::timeout(FAREWELL_TIMEOUT, async {
                        self.socket.send(Message::Binary(Bytes::from(encode(&farewell)))).await?;
                        self.socket.send(Message::Close(None)).await
                    })
                    .await;
                    return Ok(());
                }
            }
        }
    }

    fn on_frame(&mut self, frame: Option<Result<Message, axum::Error>>) -> Result<Vec<Effect>> {
        let service = self.service.clone();
        let counters = &service.hub.counters;
        let message = match frame {
            None => return Err(Error::ClientGone),
            Some(Err(e)) => {
                // Oversized frames and broken WebSocket framing end up here.
                counters.inc(Counter::ErrorsProtocol);
                return Ok(vec![read_error(e, self.service.settings.max_message_size)]);
            }
            Some(Ok(message)) => message,
        };
        self.last_received = Instant::now();
        self.pace(frame_len(&message));
        let data = match message {
            Message::Binary(data) => data,
            Message::Close(_) => return Err(Error::ClientClosed),
            Message::Ping(_) | Message::Pong(_) => return Ok(vec![]),
            Message::Text(_) => {
                counters.inc(Counter::ErrorsProtocol);
                return Ok(vec![Effect::Close(
                    ErrorCode::Malformed,
                    "text frames are not part of the protocol; send binary MessagePack frames"
                        .into(),
                )]);
            }
        };
        counters.inc(Counter::MessagesReceived);
        counters.add(Counter::BytesReceived, data.len() as u64);
        let message = match decode_client(&data) {
            Ok(message) => message,
            Err(e) => {
                counters.inc(Counter::ErrorsProtocol);
                return Ok(vec![Effect::Close(ErrorCode::Malformed, e.to_string())]);
            }
        };
        tracing::debug!(target: "SvSync", "(#{}) Got msg of type {} and length {}", self.id, name(&message), data.len());
        if let ClientMessage::Heartbeat { .. } = message {
            counters.inc(Counter::HeartbeatsReceived);
        }
        self.frame_bytes = data.len();
        let effects = self.session.on_message(message);
        if effects.iter().any(|e| matches!(e, Effect::Close(..))) {
            counters.inc(Counter::ErrorsProtocol);
        }
        Ok(effects)
    }

    async fn run_effects(&mut self, effects: Vec<Effect>) -> Result {
        for effect in effects {
            match effect {
                Effect::Send(message) => self.send(&message).await?,
                Effect::SendOwn {
                    mut entry,
                    rejected,
                } => {
                    entry.ops = self.corrections(&rejected);
                    self.send(&ServerMessage::Push { txs: vec![entry] }).await?;
                }
                Effect::SendFrame(frame) => {
                    self.service.hub.counters.inc(Counter::TxsSentNew);
                    self.send_frame(frame).await?;
                }
                // Login and catch-up run once or rarely, and their futures are large: boxed, so
                // every idle connection's task does not carry their space (memory per
                // connection, docs/benchmarks.md).
                Effect::Login(login) => {
                    let effects = Box::pin(self.login(*login)).await?;
                    Box::pin(self.run_effects(effects)).await?;
                }
                Effect::RefuseLogin(code, message) => {
                    self.refuse_login(code, message).await?;
                }
                Effect::Apply(tx) => self.submit(tx),
                Effect::CatchUp => Box::pin(self.catch_up()).await?,
                Effect::Close(code, message) => {
                    tracing::debug!(target: "SvSync", "(#{}) Closing: {message}", self.id);
                    let _ = self
                        .send(&ServerMessage::Error {
                            code,
                            message: message.clone(),
                        })
                        .await;
                    let _ = self.socket.send(Message::Close(None)).await;
                    return Err(Error::Closed { code, message });
                }
            }
        }
        self.publish_position();
        Ok(())
    }

    /// Hands a client transaction to the hub (or rejects it for a read-only login); its answer
    /// joins the queue of answers, which go out in the order the transactions came.
    fn submit(&mut self, tx: shared_types::protocol::ApplyTx) {
        let tx_id = tx.tx_id;
        let answer = if self.can_write {
            self.service.hub.apply(
                self.session.peer(),
                tx,
                self.frame_bytes,
                self.session.known().properties.clone(),
            )
        } else {
            self.service.hub.counters.inc(Counter::ClientTxsRejected);
            answered(Outcome::Rejected {
                code: shared_types::protocol::TxErrorCode::NoPermission,
                message: "this login may not send changes (no sync write permission)".into(),
            })
        };
        self.pending.push_back((tx_id, answer));
    }

    /// Tells the hub how far this client has been sent (for `obx_client_txs_behind`).
    fn publish_position(&self) {
        if let Some(cell) = &self.registered {
            cell.store(self.session.position(), Ordering::Relaxed);
        }
    }

    async fn login(&mut self, login: Login) -> Result<Vec<Effect>> {
        let service = self.service.clone();
        match self.admit(&login).await {
            Ok((version, can_write, registration)) => {
                self.registered = Some(registration.position);
                self.replaced = Some(registration.replaced);
                self.can_write = can_write;
                service.hub.counters.inc(Counter::LoginSuccesses);
                if super::is_schema_hash(&login.schema_full_hash)
                    && super::is_schema_hash(&login.schema_base_hash)
                {
                    crate::schema::record_client_login(
                        &service.hub.store,
                        &login.schema_full_hash,
                        &login.schema_base_hash,
                    );
                }
                tracing::debug!(target: "SvLgIn", "({:04X}) Authenticator welcomes a new client on schema version {}", login.peer_id >> 48, version.id);
                let (head, _) = service.hub.store.log_bounds()?;
                self.send(&ServerMessage::LoginResult {
                    code: LoginCode::Ok,
                    message: String::new(),
                    server_time_ms: crate::store::now_ms(),
                    schema_version: version.id,
                    head_seq: head,
                })
                .await?;
                self.live = Some(service.hub.subscribe());
                Ok(self
                    .session
                    .logged_in(login.peer_id, login.last_seq, login.mode, version.known))
            }
            Err(refusal) => {
                let counter = match &refusal {
                    Refusal::Credentials(f) if f.is_missing_permission() => {
                        Counter::LoginFailuresNoPermission
                    }
                    Refusal::Credentials(f) if f.login_code() == LoginCode::AuthUnreachable => {
                        Counter::LoginFailuresAuthUnavailable
                    }
                    Refusal::Credentials(_) => Counter::LoginFailuresCredentials,
                    Refusal::Other(..) => Counter::LoginFailuresOther,
                };
                service.hub.counters.inc(counter);
                let (code, message) = match refusal {
                    Refusal::Credentials(f) => (f.login_code(), f.to_string()),
                    Refusal::Other(code, message) => (code, message),
                };
                self.session.login_failed();
                self.send_refusal(code, message).await?;
                Ok(vec![])
            }
        }
    }

    /// Checks what the session leaves to the connection: the trial, the credentials, the
    /// schema, and that no other connection holds the peer id (or that this login may take it
    /// over). Returns the client's schema version, whether it may write, and its registration.
    async fn admit(
        &mut self,
        login: &Login,
    ) -> Result<(super::VersionInfo, bool, Registration), Refusal> {
        let service = &self.service;
        // Only when a trial is configured (`--trial-days`): before acceptance ReqRejected,
        // after expiry TrialExpired.
        if let Some((code, message)) = crate::trial::login_refusal(&service.hub.store) {
            return Err(Refusal::Other(code, message));
        }
        let unsecured_none = service.settings.unsecured
            && login
                .credentials
                .iter()
                .all(|c| matches!(c, Credential::None));
        let identity = if unsecured_none {
            None
        } else {
            Some(
                service
                    .auth
                    .authenticate(&login.credentials, &self.nonce, login.peer_id)
                    .await
                    .map_err(Refusal::Credentials)?,
            )
        };
        let version = service
            .match_schema(&login.schema_full_hash, &login.schema_base_hash)
            .ok_or_else(|| {
                Refusal::Other(
                    LoginCode::UnsupportedDataModel,
                    format!(
                        "the client's schema (full hash {}, base hash {}) is not a schema \
                         version this server accepts",
                        login.schema_full_hash, login.schema_base_hash
                    ),
                )
            })?;
        let takeover = identity.as_ref().and_then(Identity::takeover_key);
        let registration = service
            .hub
            .register_peer(login.peer_id, self.id, takeover)
            .ok_or_else(|| {
                Refusal::Other(
                    LoginCode::ClientIdTaken,
                    format!(
                        "peer id {:016X} is already logged in on another connection",
                        login.peer_id
                    ),
                )
            })?;
        Ok((version, identity.is_none_or(|i| i.can_write), registration))
    }

    /// Refuses the login before any check the connection does (the session's own checks).
    async fn refuse_login(&mut self, code: LoginCode, message: String) -> Result {
        self.service.hub.counters.inc(Counter::LoginFailuresOther);
        self.send_refusal(code, message).await
    }

    /// Sends a refused `LoginResult` and closes.
    async fn send_refusal(&mut self, code: LoginCode, message: String) -> Result {
        tracing::debug!(target: "SvLgIn", "(#{}) Login refused ({code:?}): {message}", self.id);
        self.send(&ServerMessage::LoginResult {
            code,
            message: message.clone(),
            server_time_ms: crate::store::now_ms(),
            schema_version: 0,
            // A refused client learns nothing about the data.
            head_seq: 0,
        })
        .await?;
        let _ = self.socket.send(Message::Close(None)).await;
        Err(Error::LoginRefused(message))
    }

    async fn on_outcome(
        &mut self,
        tx_id: u64,
        outcome: Result<Outcome, oneshot::error::RecvError>,
    ) -> Result {
        let message = match outcome {
            Ok(Outcome::Applied { seq, rejected }) => {
                let corrections = self.corrections(&rejected);
                tracing::debug!(target: "SvApTx", "({:04X}) Sending ACK_TX #{tx_id} (seq {seq})", self.session.peer() >> 48);
                ServerMessage::Ack {
                    tx_id,
                    seq,
                    corrections,
                }
            }
            Ok(Outcome::Duplicate { seq }) => ServerMessage::Ack {
                tx_id,
                seq,
                corrections: vec![],
            },
            Ok(Outcome::Rejected { code, message }) => {
                tracing::debug!(target: "SvApTx", "({:04X}) Rejecting TX #{tx_id}: {message}", self.session.peer() >> 48);
                ServerMessage::TxRejected {
                    tx_id,
                    code,
                    message,
                }
            }
            Err(_) => return Err(Error::LogStopped),
        };
        self.send(&message).await
    }

    /// The server's current state of objects whose puts lost a conflict.
    fn corrections(&self, rejected: &[(u32, GlobalId)]) -> Vec<Op> {
        let model = &self.service.hub.model;
        rejected
            .iter()
            .filter_map(|&(entity, id)| {
                let uid = model.entity(entity)?.id.uid;
                match self.service.hub.store.object(uid, id) {
                    Ok(Some(bytes)) => Some(Op::Put {
                        entity,
                        id,
                        props: decode_props(&bytes).unwrap_or_default(),
                    }),
                    Ok(None) => Some(Op::Remove { entity, id }),
                    Err(_) => None,
                }
            })
            .collect()
    }

    /// Brings the client up to the head: delta sync from the log if its position is still
    /// retained, otherwise a full sync; then `SyncComplete`.
    async fn catch_up(&mut self) -> Result {
        let store = self.service.hub.store.clone();
        let (head, oldest) = store.log_bounds()?;
        match self.session.catch_up_plan(head, oldest) {
            CatchUp::Full => self.full_sync().await?,
            CatchUp::Delta { mut from } => {
                while from <= head {
                    let max_bytes = self.service.settings.full_sync_split_bytes;
                    let records = store.read(|r| r.read_log(from, CATCH_UP_BATCH, max_bytes))?;
                    if records.first().map(|r| r.seq) != Some(from) {
                        // Pruned between the bounds check and this read: fall back to a full sync.
                        self.full_sync().await?;
                        break;
                    }
                    let Some(last) = records.last().map(|r| r.seq) else {
                        break;
                    };
                    let txs: Vec<TxEntry> = records
                        .into_iter()
                        .filter(|r| r.seq <= head)
                        .map(|r| {
                            let own = r.origin == self.session.peer();
                            let corrections = if own {
                                self.corrections(&r.rejected)
                            } else {
                                Vec::new()
                            };
                            let mut entry = self.session.filter_entry(TxEntry {
                                seq: r.seq,
                                origin: r.origin,
                                time_ms: r.time_ms,
                                ops: r.ops,
                                tx_id: r.client_tx_id,
                            });
                            if own {
                                entry.ops = corrections;
                            }
                            entry
                        })
                        .collect();
                    self.service
                        .hub
                        .counters
                        .add(Counter::TxsSentHistoric, txs.len() as u64);
                    let sent_to = txs.last().map_or(last, |t| t.seq);
                    self.send(&ServerMessage::Push { txs }).await?;
                    self.session.advanced_to(sent_to);
                    from = last + 1;
                }
            }
        }
        self.send(&ServerMessage::SyncComplete {
            seq: self.session.position(),
        })
        .await
    }

    async fn full_sync(&mut self) -> Result {
        let store = self.service.hub.store.clone();
        let model = self.service.hub.model.clone();
        // The head and this client's last applied transaction, read together: the snapshot
        // (read after this) contains at least everything up to `head`, including those
        // transactions, which the client can therefore drop from its queue.
        let (head, acked_tx_id) = store.head_and_peer(self.session.peer())?;
        tracing::debug!(target: "SvSync", "(#{}) Full sync up to seq {head}", self.id);
        self.send(&ServerMessage::FullSyncBegin {
            seq: head,
            acked_tx_id,
        })
        .await?;
        let mut cursor: Option<SnapshotCursor> = None;
        loop {
            let (items, next) = store.read(|r| {
                r.snapshot_chunk(cursor.take(), self.service.settings.full_sync_split_bytes)
            })?;
            // Stored properties go out as they are stored (no decoding into values and
            // encoding again): the frame is written around them.
            let ops: Vec<ChunkOp> = items
                .into_iter()
                .filter_map(|item| match item {
                    SnapshotItem::Object {
                        entity_uid,
                        id,
                        props,
                    } => {
                        let entity = model
                            .entity_by_uid(entity_uid)
                            .filter(|e| e.is_sync_enabled())?;
                        Some(ChunkOp::Put {
                            entity: entity.id.id,
                            id,
                            props,
                        })
                    }
                    SnapshotItem::Link {
                        relation_uid,
                        source,
                        target,
                    } => {
                        let relation = model
                            .entities
                            .iter()
                            .filter(|e| e.is_sync_enabled())
                            .flat_map(|e| e.relations.iter())
                            .find(|r| r.id.uid == relation_uid)?;
                        Some(ChunkOp::Other(Op::RelAdd {
                            relation: relation.id.id,
                            source,
                            target,
                        }))
                    }
                })
                .filter(|op| {
                    let known = self.session.known();
                    match op {
                        ChunkOp::Put { entity, .. } => known.knows_entity(*entity),
                        ChunkOp::Other(op) => known.knows(op),
                    }
                })
                .collect();
            if !ops.is_empty() {
                self.service.hub.counters.inc(Counter::FullSyncs);
                let frame = Bytes::from(frames::full_sync_chunk(&ops));
                drop(ops);
                self.send_frame(frame).await?;
            }
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        self.send(&ServerMessage::FullSyncEnd { seq: head }).await?;
        self.session.reset_to(head);
        Ok(())
    }

    /// Accounts a received frame against the inbound rate and pauses reading if it is exceeded.
    fn pace(&mut self, bytes: usize) {
        let now = Instant::now();
        let Some(wait) = self.rate.take(bytes, now) else {
            return;
        };
        self.paused_until = Some(tokio::time::Instant::from_std(now + wait));
        if !self.told_paused {
            self.told_paused = true;
            let settings = &self.service.settings;
            tracing::debug!(
                target: "SvSync",
                "(#{}) Inbound rate limit reached (--max-inbound-messages-per-second {}, \
                 --max-inbound-kb-per-second {}); reading more slowly",
                self.id,
                settings.max_inbound_messages_per_second,
                settings.max_inbound_bytes_per_second / 1024
            );
        }
        self.service.hub.counters.inc(Counter::InboundPauses);
    }

    async fn on_tick(&mut self) -> Result {
        let idle = Duration::from_millis(shared_types::protocol::IDLE_TIMEOUT_MS);
        if self.paused_until.is_none() && self.last_received.elapsed() > idle {
            self.service.hub.counters.inc(Counter::HeartbeatFailures);
            let effects = vec![Effect::Close(
                ErrorCode::IdleTimeout,
                format!("nothing received for {} s", idle.as_secs()),
            )];
            return self.run_effects(effects).await;
        }
        if self.last_sent.elapsed()
            >= Duration::from_millis(shared_types::protocol::HEARTBEAT_INTERVAL_MS)
        {
            self.send(&ServerMessage::Heartbeat {
                time_ms: crate::store::now_ms(),
            })
            .await?;
        }
        Ok(())
    }

    async fn send(&mut self, message: &ServerMessage) -> Result {
        self.send_frame(Bytes::from(encode(message))).await
    }

    async fn send_frame(&mut self, frame: Bytes) -> Result {
        let counters = &self.service.hub.counters;
        counters.inc(Counter::MessagesSent);
        counters.add(Counter::BytesSent, frame.len() as u64);
        self.last_sent = Instant::now();
        // A send waits for the client to read (TCP flow control); when the server stops, it
        // stops waiting, so a slow or stuck client cannot hold up the shutdown (e.g. in the
        // middle of a full sync).
        let mut shutdown = self.service.shutdown.clone();
        tokio::select! {
            sent = self.socket.send(Message::Binary(frame)) => sent.map_err(|e| {
                counters.inc(Counter::MessageSendFailures);
                Error::Send(e.to_string())
            }),
            _ = shutdown.wait_for(|stopped| *stopped) => Err(Error::ShuttingDown),
        }
    }
}

/// Why the connection refuses a login after the session's checks passed.
enum Refusal {
    /// The credentials: counted by kind (credentials, authenticator unreachable, permission).
    Credentials(crate::credentials::Failure),
    /// Anything else (trial, schema, peer id taken).
    Other(LoginCode, String),
}

/// What to do about a frame the socket could not read: an oversized message (tungstenite's
/// capacity error) closes with `TooLarge` naming the limit, anything else with `Malformed`.
fn read_error(e: axum::Error, max: usize) -> Effect {
    let inner = e.into_inner();
    match inner.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
        Some(tokio_tungstenite::tungstenite::Error::Capacity(capacity)) => Effect::Close(
            ErrorCode::TooLarge,
            format!(
                "message too large ({capacity}); this server accepts messages of up to {max} \
                 bytes (--max-message-size-mb / maxMessageSizeMb)"
            ),
        ),
        _ => Effect::Close(
            ErrorCode::Malformed,
            format!("cannot read message: {inner}"),
        ),
    }
}

/// The payload size of a received frame, for the inbound rate.
fn frame_len(message: &Message) -> usize {
    match message {
        Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data.len(),
        Message::Text(text) => text.len(),
        Message::Close(_) => 0,
    }
}

/// Resolves once the hub says a newer login took the peer id over.
async fn replaced(notice: &mut Option<oneshot::Receiver<()>>) {
    match notice {
        // A dropped sender (the registration ended otherwise) is not a takeover.
        Some(notice) => {
            if notice.await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

async fn resume(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn recv_live(
    live: &mut Option<broadcast::Receiver<Arc<Committed>>>,
) -> Result<Arc<Committed>, broadcast::error::RecvError> {
    match live {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn front(
    pending: &mut VecDeque<(u64, oneshot::Receiver<Outcome>)>,
) -> Result<Outcome, oneshot::error::RecvError> {
    match pending.front_mut() {
        Some((_, answer)) => answer.await,
        None => std::future::pending().await,
    }
}

fn new_nonce() -> Vec<u8> {
    let mut nonce = vec![0; 32];
    // The OS random source does not fail on Linux; an all-zero nonce would only weaken replay
    // protection of shared-secret logins, so log if it ever happens.
    if getrandom::fill(&mut nonce).is_err() {
        tracing::error!(target: "SvSync", "cannot read the OS random source for a login nonce");
    }
    nonce
}
