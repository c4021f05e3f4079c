//! The client side of the sync protocol as a state machine: server messages in, effects out.
//!
//! - [`Engine::on_connected`], then every received frame to [`Engine::on_frame`]; the engine
//!   answers `Hello` with `Login`, and after a successful `LoginResult` sends the whole outgoing
//!   queue pipelined (no waiting for acks) and every transaction queued later
//!   ([`Engine::on_queue_changed`]).
//! - Received pushes, full-sync messages, acks and rejections are applied to the store, each in
//!   one local write transaction, and reported as [`Event`]s.
//! - [`Engine::on_tick`] at [`Engine::next_deadline`] sends heartbeats and declares a silent
//!   connection dead.
//! - [`Effect::Close`] tells the I/O loop to drop the connection and whether to reconnect.
//!
//! Architecture invariant: no tokio, sockets or timers here. Time comes in as monotonic
//! milliseconds from the caller, so tests drive it directly (the wall clock is read only for the
//! informational `Heartbeat.time_ms`); the only I/O is the local store.

#[cfg(test)]
mod tests;

use shared_types::protocol::{
    self as wire, ClientMessage, ErrorCode, HEARTBEAT_INTERVAL_MS, IDLE_TIMEOUT_MS, Login,
    LoginCode, PROTOCOL_VERSION, RequestUpdatesMode, ServerMessage, TxErrorCode,
};

use crate::credentials::Credentials;
use crate::store::{Applied, ClientStore};

/// What a client reports to its listeners.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A connection to the server is open (not logged in yet).
    Connected,
    /// The server accepted the login.
    LoggedIn { server_time_ms: u64, head_seq: u64 },
    /// The server refused the login; the client stops or retries as [`retry_after_login`] says.
    LoginFailed { code: LoginCode, message: String },
    /// The connection closed (after [`Event::Connected`]).
    Disconnected,
    /// A connection attempt failed; the client retries after `retry_in_ms` unless stopped.
    ConnectFailed { error: String, retry_in_ms: u64 },
    /// The client caught up with the server as of `seq` (after a delta or full sync).
    SyncCompleted(u64),
    /// Objects of one entity that incoming data put or removed, by local id.
    Changes {
        entity: String,
        puts: Vec<u64>,
        removes: Vec<u64>,
    },
    /// The server made local transaction `tx_id` durable as `seq`; it left the queue.
    TxAcked { tx_id: u64, seq: u64 },
    /// The server refused local transaction `tx_id`; it left the queue, its local changes stay.
    TxRejected {
        tx_id: u64,
        code: TxErrorCode,
        message: String,
    },
    /// The server reported a protocol error before closing the connection.
    ServerError { code: ErrorCode, message: String },
    /// The local store failed while applying server data; the connection is closed and retried.
    StoreError(String),
}

/// Where the engine is in the connection's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No connection.
    Disconnected,
    /// Connected, waiting for the server's `Hello`.
    AwaitingHello,
    /// `Login` sent, waiting for `LoginResult`.
    LoggingIn,
    /// Logged in: sending the queue and receiving updates.
    LoggedIn,
}

/// Something the I/O loop must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send this frame as one binary WebSocket message.
    Send(Vec<u8>),
    /// Report this to listeners.
    Emit(Event),
    /// Close the connection, then reconnect as `retry` says.
    Close { retry: Retry },
}

/// Whether and when to connect again after a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reconnect after the backoff delay.
    Backoff,
    /// Only after [`Engine::set_credentials`] gives new credentials.
    WhenCredentialsChange,
    /// Never: the failure is permanent for this client (e.g. an unsupported model).
    Never,
}

/// How the client behaves after a login failure with `code`.
pub fn retry_after_login(code: LoginCode) -> Retry {
    match code {
        LoginCode::CredentialsRejected => Retry::WhenCredentialsChange,
        LoginCode::ReqRejected
        | LoginCode::BadVersion
        | LoginCode::UnsupportedDataModel
        | LoginCode::TrialExpired => Retry::Never,
        // Ok cannot fail; ClientIdTaken clears when the server drops the old connection;
        // AuthUnreachable, Unknown and newer codes may be transient.
        _ => Retry::Backoff,
    }
}

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub mode: RequestUpdatesMode,
    pub credentials: Credentials,
}

/// The protocol state machine of one client, across connections.
pub struct Engine {
    store: ClientStore,
    options: EngineOptions,
    state: State,
    /// Set by a login failure that must not be retried as is; cleared by new credentials.
    blocked: Option<(LoginCode, Retry)>,
    /// The highest tx id sent on this connection.
    sent_up_to: u64,
    /// Whether the server sends live pushes after catching up (mode AUTO or a subscribing
    /// `RequestUpdates`).
    subscribed: bool,
    /// Whether `SyncComplete` (or a full sync's end) arrived since the last (re)quest.
    caught_up: bool,
    /// The `seq` of the last reported [`Event::SyncCompleted`] on this connection.
    completed_seq: Option<u64>,
    last_received_ms: u64,
    last_sent_ms: u64,
    login_sent_ms: u64,
    /// The server time from `LoginResult` (plus half the login round trip) and the local time
    /// it was taken at.
    server_time: Option<(u64, u64)>,
}

impl Engine {
    pub fn new(store: ClientStore, options: EngineOptions) -> Engine {
        Engine {
            store,
            options,
            state: State::Disconnected,
            blocked: None,
            sent_up_to: 0,
            subscribed: false,
            caught_up: false,
            completed_seq: None,
            last_received_ms: 0,
            last_sent_ms: 0,
            login_sent_ms: 0,
            server_time: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn store(&self) -> &ClientStore {
        &self.store
    }

    /// `Some` if a login failure stops the client from connecting: the code and what would
    /// lift it.
    pub fn blocked(&self) -> Option<(LoginCode, Retry)> {
        self.blocked
    }

    /// Whether the client is logged in and has caught up since its last request for updates.
    pub fn is_caught_up(&self) -> bool {
        self.state == State::LoggedIn && self.caught_up
    }

    /// The estimated current server time in ms since the Unix epoch, from the last login.
    pub fn server_time_ms(&self, now_ms: u64) -> Option<u64> {
        self.server_time
            .map(|(server, at)| server.saturating_add(now_ms.saturating_sub(at)))
    }

    /// Replaces the credentials; lifts a stop caused by rejected credentials.
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.options.credentials = credentials;
        if matches!(self.blocked, Some((_, Retry::WhenCredentialsChange))) {
            self.blocked = None;
        }
    }

    /// A connection is open; the server speaks first.
    pub fn on_connected(&mut self, now_ms: u64) -> Vec<Effect> {
        self.state = State::AwaitingHello;
        self.sent_up_to = 0;
        self.caught_up = false;
        self.completed_seq = None;
        self.subscribed = false;
        self.last_received_ms = now_ms;
        self.last_sent_ms = now_ms;
        vec![Effect::Emit(Event::Connected)]
    }

    /// The connection closed (by either side or by an error).
    pub fn on_disconnected(&mut self) -> Vec<Effect> {
        let was_connected = self.state != State::Disconnected;
        self.state = State::Disconnected;
        self.caught_up = false;
        if was_connected {
            vec![Effect::Emit(Event::Disconnected)]
        } else {
            Vec::new()
        }
    }

    /// One binary frame from the server.
    pub fn on_frame(&mut self, frame: &[u8], now_ms: u64) -> Vec<Effect> {
        match wire::decode_server(frame) {
            Ok(message) => self.on_message(message, now_ms),
            Err(e) => {
                tracing::warn!("closing the connection: {e}");
                vec![Effect::Close {
                    retry: Retry::Backoff,
                }]
            }
        }
    }

    /// One decoded message from the server.
    pub fn on_message(&mut self, message: ServerMessage, now_ms: u64) -> Vec<Effect> {
        self.last_received_ms = now_ms;
        let mut out = Vec::new();
        let result = match (self.state, message) {
            (_, ServerMessage::Heartbeat { .. }) => Ok(()),
            (_, ServerMessage::Error { code, message }) => {
                out.push(Effect::Emit(Event::ServerError { code, message }));
                // Replaced: another client with this peer id logged in; reconnecting would only
                // take the peer id back from it, over and over.
                let retry = if code == ErrorCode::Replaced {
                    Retry::Never
                } else {
                    Retry::Backoff
                };
                out.push(Effect::Close { retry });
                Ok(())
            }
            (
                State::AwaitingHello,
                ServerMessage::Hello {
                    min_version,
                    max_version,
                    nonce,
                    ..
                },
            ) => {
                self.on_hello(min_version, max_version, &nonce, now_ms, &mut out);
                Ok(())
            }
            (
                State::LoggingIn,
                ServerMessage::LoginResult {
                    code,
                    message,
                    server_time_ms,
                    head_seq,
                    ..
                },
            ) => self.on_login_result(code, message, server_time_ms, head_seq, now_ms, &mut out),
            (State::LoggedIn, message) => self.on_logged_in_message(message, &mut out),
            (state, message) => {
                tracing::warn!(
                    "closing the connection: unexpected {} while {state:?}",
                    message_name(&message)
                );
                out.push(Effect::Close {
                    retry: Retry::Backoff,
                });
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::error!("local store failed while applying server data: {e}");
            out.push(Effect::Emit(Event::StoreError(e.to_string())));
            out.push(Effect::Close {
                retry: Retry::Backoff,
            });
        }
        out
    }

    /// The store queued new transactions: send them if logged in.
    pub fn on_queue_changed(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        if self.state == State::LoggedIn
            && let Err(e) = self.send_queue(now_ms, &mut out)
        {
            out.push(Effect::Emit(Event::StoreError(e.to_string())));
        }
        out
    }

    /// Time passed: sends a heartbeat when one is due and closes a connection that has been
    /// silent for [`IDLE_TIMEOUT_MS`].
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Effect> {
        if self.state == State::Disconnected {
            return Vec::new();
        }
        if now_ms.saturating_sub(self.last_received_ms) >= IDLE_TIMEOUT_MS {
            tracing::warn!("closing the connection: nothing received for {IDLE_TIMEOUT_MS} ms");
            return vec![Effect::Close {
                retry: Retry::Backoff,
            }];
        }
        let mut out = Vec::new();
        if now_ms.saturating_sub(self.last_sent_ms) >= HEARTBEAT_INTERVAL_MS {
            self.send(
                &ClientMessage::Heartbeat {
                    time_ms: wall_clock_ms(),
                },
                now_ms,
                &mut out,
            );
        }
        out
    }

    /// When [`Self::on_tick`] should next be called, in the caller's monotonic ms.
    pub fn next_deadline(&self) -> Option<u64> {
        (self.state != State::Disconnected).then(|| {
            (self.last_sent_ms + HEARTBEAT_INTERVAL_MS).min(self.last_received_ms + IDLE_TIMEOUT_MS)
        })
    }

    /// Asks the server for the updates since the last applied `seq` (for MANUAL clients), and
    /// with `subscribe` for live pushes afterwards. Only sent when logged in.
    pub fn request_updates(&mut self, subscribe: bool, now_ms: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        if self.state == State::LoggedIn {
            self.subscribed = subscribe;
            self.caught_up = false;
            self.send(
                &ClientMessage::RequestUpdates { subscribe },
                now_ms,
                &mut out,
            );
        }
        out
    }

    /// Stops live pushes. Only sent when logged in.
    pub fn cancel_updates(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        if self.state == State::LoggedIn {
            self.subscribed = false;
            self.send(&ClientMessage::CancelUpdates, now_ms, &mut out);
        }
        out
    }

    // Helpers below.

    fn on_hello(
        &mut self,
        min_version: u32,
        max_version: u32,
        nonce: &[u8],
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        if !(min_version..=max_version).contains(&PROTOCOL_VERSION) {
            let message = format!(
                "the server speaks protocol versions {min_version}..={max_version}, \
                 this client speaks {PROTOCOL_VERSION}"
            );
            self.fail_login(LoginCode::BadVersion, message, out);
            return;
        }
        let state = match self.store.sync_state() {
            Ok(state) => state,
            Err(e) => {
                out.push(Effect::Emit(Event::StoreError(e.to_string())));
                out.push(Effect::Close {
                    retry: Retry::Backoff,
                });
                return;
            }
        };
        let model = self.store.model();
        let login = Login {
            protocol_version: PROTOCOL_VERSION,
            peer_id: state.peer_id,
            credentials: self.options.credentials.to_wire(nonce, state.peer_id),
            schema_full_hash: model.full_hash().to_string(),
            schema_base_hash: model.base_hash().to_string(),
            last_seq: state.last_seq,
            mode: self.options.mode,
            last_tx_id: state.last_tx_id,
        };
        self.state = State::LoggingIn;
        self.login_sent_ms = now_ms;
        self.send(&ClientMessage::Login(login), now_ms, out);
    }

    fn on_login_result(
        &mut self,
        code: LoginCode,
        message: String,
        server_time_ms: u64,
        head_seq: u64,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) -> crate::store::Result<()> {
        if code != LoginCode::Ok {
            self.fail_login(code, message, out);
            return Ok(());
        }
        let half_rtt = now_ms.saturating_sub(self.login_sent_ms) / 2;
        self.server_time = Some((server_time_ms.saturating_add(half_rtt), now_ms));
        self.state = State::LoggedIn;
        self.blocked = None;
        self.subscribed = self.options.mode == RequestUpdatesMode::Auto;
        out.push(Effect::Emit(Event::LoggedIn {
            server_time_ms,
            head_seq,
        }));
        self.send_queue(now_ms, out)
    }

    fn fail_login(&mut self, code: LoginCode, message: String, out: &mut Vec<Effect>) {
        let retry = retry_after_login(code);
        if retry != Retry::Backoff {
            self.blocked = Some((code, retry));
        }
        out.push(Effect::Emit(Event::LoginFailed { code, message }));
        out.push(Effect::Close { retry });
    }

    fn on_logged_in_message(
        &mut self,
        message: ServerMessage,
        out: &mut Vec<Effect>,
    ) -> crate::store::Result<()> {
        match message {
            ServerMessage::Push { txs } => {
                let applied = self.store.apply_push(&txs)?;
                emit_changes(applied, out);
            }
            ServerMessage::FullSyncBegin { seq, acked_tx_id } => {
                let applied = self.store.begin_full_sync(seq, acked_tx_id)?;
                emit_changes(applied, out);
            }
            ServerMessage::FullSyncChunk { ops } => {
                let applied = self.store.apply_full_sync_chunk(&ops)?;
                emit_changes(applied, out);
            }
            ServerMessage::FullSyncEnd { seq } => {
                let applied = self.store.end_full_sync(seq)?;
                emit_changes(applied, out);
                self.completed(seq, out);
            }
            ServerMessage::SyncComplete { seq } => {
                self.store.advance_seq(seq)?;
                self.completed(seq, out);
            }
            ServerMessage::Ack {
                tx_id,
                seq,
                corrections,
            } => {
                // An Ack is not part of the seq-ordered stream: pushes of other peers' earlier
                // transactions may still be on their way. Only the stream moves the position
                // (the entry of this transaction itself arrives there, carrying its tx_id).
                let applied = self.store.apply_ack(tx_id, seq, &corrections, false)?;
                emit_changes(applied, out);
                out.push(Effect::Emit(Event::TxAcked { tx_id, seq }));
            }
            ServerMessage::TxRejected {
                tx_id,
                code,
                message,
            } => {
                self.store.drop_rejected(tx_id)?;
                tracing::warn!("the server rejected transaction {tx_id} ({code:?}): {message}");
                out.push(Effect::Emit(Event::TxRejected {
                    tx_id,
                    code,
                    message,
                }));
            }
            other => {
                tracing::warn!(
                    "closing the connection: unexpected {} after login",
                    message_name(&other)
                );
                out.push(Effect::Close {
                    retry: Retry::Backoff,
                });
            }
        }
        Ok(())
    }

    /// Marks the client caught up as of `seq`; reports it once per `seq` (a full sync's end is
    /// followed by `SyncComplete` with the same `seq`).
    fn completed(&mut self, seq: u64, out: &mut Vec<Effect>) {
        if !self.caught_up || self.completed_seq != Some(seq) {
            out.push(Effect::Emit(Event::SyncCompleted(seq)));
        }
        self.caught_up = true;
        self.completed_seq = Some(seq);
    }

    /// Sends every queued transaction not yet sent on this connection.
    fn send_queue(&mut self, now_ms: u64, out: &mut Vec<Effect>) -> crate::store::Result<()> {
        for (tx_id, frame) in self.store.queued_frames(self.sent_up_to)? {
            self.sent_up_to = tx_id;
            self.last_sent_ms = now_ms;
            out.push(Effect::Send(frame));
        }
        Ok(())
    }

    fn send(&mut self, message: &ClientMessage, now_ms: u64, out: &mut Vec<Effect>) {
        self.last_sent_ms = now_ms;
        out.push(Effect::Send(wire::encode(message)));
    }
}

/// The local wall clock for `Heartbeat.time_ms`, which the protocol defines as the sender's
/// clock. Informational only; the engine's timing uses the caller's monotonic `now_ms`.
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn emit_changes(applied: Applied, out: &mut Vec<Effect>) {
    for change in applied.changes {
        out.push(Effect::Emit(Event::Changes {
            entity: change.entity,
            puts: change.puts,
            removes: change.removes,
        }));
    }
}

fn message_name(message: &ServerMessage) -> &'static str {
    match message {
        ServerMessage::Hello { .. } => "Hello",
        ServerMessage::LoginResult { .. } => "LoginResult",
        ServerMessage::Ack { .. } => "Ack",
        ServerMessage::TxRejected { .. } => "TxRejected",
        ServerMessage::Push { .. } => "Push",
        ServerMessage::FullSyncBegin { .. } => "FullSyncBegin",
        ServerMessage::FullSyncChunk { .. } => "FullSyncChunk",
        ServerMessage::FullSyncEnd { .. } => "FullSyncEnd",
        ServerMessage::SyncComplete { .. } => "SyncComplete",
        ServerMessage::Heartbeat { .. } => "Heartbeat",
        ServerMessage::Error { .. } => "Error",
    }
}
