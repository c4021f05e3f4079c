//! One WebSocket connection: runs a [`Session`] and does its I/O.
//!
//! The task owns the socket alone. It waits on the client's frames, live commits from the hub
//! (only while the session wants them), the answers to this client's transactions (in the order
//! they were sent), the heartbeat tick and server shutdown. Catch-up and full sync run inline, so
//! everything this client is sent goes out in `seq` order.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use shared_types::protocol::{
    ClientMessage, Credential, ErrorCode, GlobalId, Login, LoginCode, Op, ServerMessage, TxEntry,
    decode_client, decode_props, encode,
};
use tokio::sync::{broadcast, oneshot};

use super::SyncService;
use super::frames::{self, ChunkOp};
use super::hub::{Committed, Outcome};
use super::limits::{InboundRate, Slot};
use super::session::{Effect, Session, name};
use super::stats::Counters;
use crate::store::{SnapshotCursor, SnapshotItem};

/// How many log entries one catch-up `Push` carries at most.
pub const CATCH_UP_BATCH: usize = 1000;

/// How long a connection tries to tell its client that the server is stopping.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);

/// How often the connection checks heartbeats and idleness.
const TICK: Duration = Duration::from_millis(shared_types::protocol::HEARTBEAT_INTERVAL_MS / 3);

/// Why the connection ended.
type Closed = Result<(), String>;

/// Serves one WebSocket until it closes; `_slot` holds its place within the connection limits
/// until then.
pub async fn run(
    service: Arc<SyncService>,
    socket: WebSocket,
    addr: SocketAddr,
    id: u64,
    _slot: Slot,
) {
    tracing::debug!(target: "SvrWs", "(#{id}) Connection from {addr}");
    Counters::inc(&service.hub.counters.connects);
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
        registered: false,
        can_write: true,
        rate,
        paused_until: None,
        told_paused: false,
        login_deadline,
    };
    let result = connection.serve().await;
    if let Err(reason) = &result {
        tracing::debug!(target: "SvrWs", "(#{id}) Closed: {reason}");
    }
    if connection.registered {
        service.hub.unregister_peer(connection.session.peer(), id);
        service
            .hub
            .counters
            .connected_clients
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

struct Connection {
    service: Arc<SyncService>,
    socket: WebSocket,
    id: u64,
    session: Session,
    nonce: Vec<u8>,
    /// This client's transactions waiting for their outcome, in the order they were sent.
    pending: VecDeque<(u64, oneshot::Receiver<Outcome>)>,
    last_received: Instant,
    last_sent: Instant,
    /// Live commits; subscribed at login, before any catch-up reads the log.
    live: Option<broadcast::Receiver<Arc<Committed>>>,
    registered: bool,
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

impl Connection {
    async fn serve(&mut self) -> Closed {
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
                frame = self.socket.recv(), if self.paused_until.is_none() => {
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
                        Err(broadcast::error::RecvError::Closed) => return Err("server stopped".into()),
                    };
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

    fn on_frame(
        &mut self,
        frame: Option<Result<Message, axum::Error>>,
    ) -> Result<Vec<Effect>, String> {
        let service = self.service.clone();
        let counters = &service.hub.counters;
        let message = match frame {
            None => return Err("client went away".into()),
            Some(Err(e)) => {
                // Oversized frames and broken WebSocket framing end up here.
                Counters::inc(&counters.errors_protocol);
                let text = e.to_string();
                if text.contains("too long") || text.contains("too big") || text.contains("size") {
                    let max = self.service.settings.max_message_size;
                    return Ok(vec![Effect::Close(
                        ErrorCode::TooLarge,
                        format!(
                            "message too large ({text}); this server accepts messages of up to \
                             {max} bytes (--max-message-size-mb / maxMessageSizeMb)"
                        ),
                    )]);
                }
                return Ok(vec![Effect::Close(
                    ErrorCode::Malformed,
                    format!("cannot read message: {text}"),
                )]);
            }
            Some(Ok(message)) => message,
        };
        self.last_received = Instant::now();
        self.pace(frame_len(&message));
        let data = match message {
            Message::Binary(data) => data,
            Message::Close(_) => return Err("client closed the connection".into()),
            Message::Ping(_) | Message::Pong(_) => return Ok(vec![]),
            Message::Text(_) => {
                Counters::inc(&counters.errors_protocol);
                return Ok(vec![Effect::Close(
                    ErrorCode::Malformed,
                    "text frames are not part of the protocol; send binary MessagePack frames"
                        .into(),
                )]);
            }
        };
        Counters::inc(&counters.messages_received);
        Counters::add(&counters.bytes_received, data.len() as u64);
        let message = match decode_client(&data) {
            Ok(message) => message,
            Err(e) => {
                Counters::inc(&counters.errors_protocol);
                return Ok(vec![Effect::Close(ErrorCode::Malformed, e.to_string())]);
            }
        };
        tracing::debug!(target: "SvSync", "(#{}) Got msg of type {} and length {}", self.id, name(&message), data.len());
        if let ClientMessage::Heartbeat { .. } = message {
            Counters::inc(&counters.heartbeats_received);
        }
        let bytes = data.len();
        let mut effects = self.session.on_message(message);
        // Remember the size for the applied-bytes counter.
        for effect in &mut effects {
            if let Effect::Apply(tx) = effect {
                let tx = std::mem::replace(
                    tx,
                    shared_types::protocol::ApplyTx {
                        tx_id: 0,
                        ops: vec![],
                    },
                );
                let tx_id = tx.tx_id;
                let answer = if self.can_write {
                    self.service.hub.apply(
                        self.session.peer(),
                        tx,
                        bytes,
                        self.session.known().properties.clone(),
                    )
                } else {
                    Counters::inc(&counters.client_txs_rejected);
                    let (reply, answer) = oneshot::channel();
                    let _ = reply.send(Outcome::Rejected {
                        code: shared_types::protocol::TxErrorCode::NoPermission,
                        message: "this login may not send changes (no sync write permission)"
                            .into(),
                    });
                    answer
                };
                self.pending.push_back((tx_id, answer));
            }
        }
        effects.retain(|e| !matches!(e, Effect::Apply(_)));
        if effects.iter().any(|e| matches!(e, Effect::Close(..))) {
            Counters::inc(&counters.errors_protocol);
        }
        Ok(effects)
    }

    async fn run_effects(&mut self, effects: Vec<Effect>) -> Closed {
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
                    Counters::inc(&self.service.hub.counters.txs_sent_new);
                    self.send_frame(frame).await?;
                }
                // Login and catch-up run once or rarely, and their futures are large: boxed, so
                // every idle connection's task does not carry their space (memory per
                // connection, docs/benchmarks.md).
                Effect::Login(login) => {
                    let effects = Box::pin(self.login(*login)).await?;
                    Box::pin(self.run_effects(effects)).await?;
                }
                Effect::Apply(_) => {}
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
                    return Err(message);
                }
            }
        }
        Ok(())
    }

    async fn login(&mut self, login: Login) -> Result<Vec<Effect>, String> {
        let service = self.service.clone();
        let counters = &service.hub.counters;
        let refuse = |code: LoginCode, message: String| (code, message);
        let result: Result<(super::VersionInfo, bool), (LoginCode, String)> = async {
            if login.protocol_version < shared_types::protocol::MIN_PROTOCOL_VERSION
                || login.protocol_version > shared_types::protocol::PROTOCOL_VERSION
            {
                return Err(refuse(
                    LoginCode::BadVersion,
                    format!(
                        "protocol version {} is not supported; this server speaks {}..={}",
                        login.protocol_version,
                        shared_types::protocol::MIN_PROTOCOL_VERSION,
                        shared_types::protocol::PROTOCOL_VERSION
                    ),
                ));
            }
            if login.peer_id == 0 {
                return Err(refuse(LoginCode::ReqRejected, "peer id 0 is reserved; use a random non-zero id".into()));
            }
            // Only when a trial is configured (`--trial-days`): before acceptance ReqRejected,
            // after expiry TrialExpired.
            if let Some(refusal) = crate::admin::trial::login_refusal(&service.hub.store) {
                return Err(refusal);
            }
            let identity = if service.settings.unsecured && login.credentials.iter().all(|c| matches!(c, Credential::None)) {
                None
            } else {
                Some(
                    service
                        .auth
                        .authenticate(&login.credentials, &self.nonce, login.peer_id)
                        .await
                        .map_err(|failure| (failure.login_code(), failure.to_string()))?,
                )
            };
            let version = service.match_schema(&login.schema_full_hash, &login.schema_base_hash).ok_or_else(|| {
                refuse(
                    LoginCode::UnsupportedDataModel,
                    format!(
                        "the client's schema (full hash {}, base hash {}) is not a schema version this server accepts",
                        login.schema_full_hash, login.schema_base_hash
                    ),
                )
            })?;
            if !service.hub.register_peer(login.peer_id, self.id) {
                return Err(refuse(
                    LoginCode::ClientIdTaken,
                    format!("peer id {:016X} is already logged in on another connection", login.peer_id),
                ));
            }
            Ok((version, identity.is_none_or(|i| i.can_write)))
        }
        .await;
        let (head, _) = service.hub.store.log_bounds().unwrap_or((0, None));
        match result {
            Ok((version, can_write)) => {
                self.registered = true;
                self.can_write = can_write;
                counters
                    .connected_clients
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Counters::inc(&counters.login_successes);
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
            Err((code, message)) => {
                match code {
                    LoginCode::CredentialsRejected => {
                        Counters::inc(&counters.login_failures_credentials);
                    }
                    LoginCode::AuthUnreachable => {
                        Counters::inc(&counters.login_failures_auth_unavailable);
                    }
                    _ => Counters::inc(&counters.login_failures_other),
                }
                tracing::debug!(target: "SvLgIn", "(#{}) Login refused ({code:?}): {message}", self.id);
                self.session.login_failed();
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
                Err(format!("login refused: {message}"))
            }
        }
    }

    async fn on_outcome(
        &mut self,
        tx_id: u64,
        outcome: Result<Outcome, oneshot::error::RecvError>,
    ) -> Closed {
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
            Err(_) => return Err("the server stopped while applying a transaction".into()),
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
    async fn catch_up(&mut self) -> Closed {
        let store = self.service.hub.store.clone();
        let (head, oldest) = store.log_bounds().map_err(|e| e.to_string())?;
        let position = self.session.position();
        let full = (position == 0 && head > 0)
            || position > head
            || match oldest {
                Some(oldest) => position + 1 < oldest,
                None => position < head,
            };
        if full {
            self.full_sync(head).await?;
        } else {
            let mut from = position + 1;
            while from <= head {
                let records = store
                    .read_log(
                        from,
                        CATCH_UP_BATCH,
                        self.service.settings.full_sync_split_bytes,
                    )
                    .map_err(|e| e.to_string())?;
                if records.first().map(|r| r.seq) != Some(from) {
                    // Pruned between the bounds check and this read: fall back to a full sync.
                    self.full_sync(head).await?;
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
                Counters::add(
                    &self.service.hub.counters.txs_sent_historic,
                    txs.len() as u64,
                );
                let sent_to = txs.last().map_or(last, |t| t.seq);
                self.send(&ServerMessage::Push { txs }).await?;
                self.session.advanced_to(sent_to);
                from = last + 1;
            }
        }
        self.send(&ServerMessage::SyncComplete {
            seq: self.session.position(),
        })
        .await
    }

    async fn full_sync(&mut self, _head_before: u64) -> Closed {
        let store = self.service.hub.store.clone();
        let model = self.service.hub.model.clone();
        // The head and this client's last applied transaction, read together: the snapshot
        // (read after this) contains at least everything up to `head`, including those
        // transactions, which the client can therefore drop from its queue.
        let (head, acked_tx_id) = store
            .head_and_peer(self.session.peer())
            .map_err(|e| e.to_string())?;
        tracing::debug!(target: "SvSync", "(#{}) Full sync up to seq {head}", self.id);
        self.send(&ServerMessage::FullSyncBegin {
            seq: head,
            acked_tx_id,
        })
        .await?;
        let mut cursor: Option<SnapshotCursor> = None;
        loop {
            let (items, next) = store
                .snapshot_chunk(cursor.take(), self.service.settings.full_sync_split_bytes)
                .map_err(|e| e.to_string())?;
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
                Counters::inc(&self.service.hub.counters.full_syncs);
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
        Counters::inc(&self.service.hub.counters.inbound_pauses);
    }

    async fn on_tick(&mut self) -> Closed {
        let idle = Duration::from_millis(shared_types::protocol::IDLE_TIMEOUT_MS);
        if self.paused_until.is_none() && self.last_received.elapsed() > idle {
            Counters::inc(&self.service.hub.counters.heartbeat_failures);
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

    async fn send(&mut self, message: &ServerMessage) -> Closed {
        self.send_frame(Bytes::from(encode(message))).await
    }

    async fn send_frame(&mut self, frame: Bytes) -> Closed {
        let counters = &self.service.hub.counters;
        Counters::inc(&counters.messages_sent);
        Counters::add(&counters.bytes_sent, frame.len() as u64);
        self.last_sent = Instant::now();
        // A send waits for the client to read (TCP flow control); when the server stops, it
        // stops waiting, so a slow or stuck client cannot hold up the shutdown (e.g. in the
        // middle of a full sync).
        let mut shutdown = self.service.shutdown.clone();
        tokio::select! {
            sent = self.socket.send(Message::Binary(frame)) => sent.map_err(|e| {
                Counters::inc(&counters.message_send_failures);
                format!("send failed: {e}")
            }),
            _ = shutdown.wait_for(|stopped| *stopped) => Err("the server is shutting down".into()),
        }
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
