//! One client's protocol state, free of I/O: messages and committed transactions in, effects out.
//!
//! The connection task feeds it decoded frames and live commits and carries out the effects
//! (sending, authenticating, applying, catching up). Keeping the rules here lets them be tested
//! without sockets.

use bytes::Bytes;
use std::collections::HashSet;
use std::sync::Arc;

use shared_types::protocol::{
    ApplyTx, ClientMessage, ErrorCode, GlobalId, Login, LoginCode, MIN_PROTOCOL_VERSION, Op,
    PROTOCOL_VERSION, RequestUpdatesMode, ServerMessage, TxEntry,
};

use super::log::Committed;

/// What the connection must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(ServerMessage),
    /// A frame encoded once for every recipient.
    SendFrame(Bytes),
    /// This client's own transaction in the stream: `entry` has its `tx_id` and no data; the
    /// connection adds the current state of `rejected` objects (puts that lost a conflict) as
    /// its operations, so the client converges even if it never sees the Ack's corrections.
    SendOwn {
        entry: TxEntry,
        rejected: Vec<(u32, GlobalId)>,
    },
    /// Check the login's credentials, schema and peer registration, and answer it (the protocol
    /// version and the peer id passed the session's checks).
    Login(Box<Login>),
    /// Answer the login with this refusal and close.
    RefuseLogin(LoginCode, String),
    Apply(ApplyTx),
    /// Bring the client from its position up to the server's head (delta or full sync), then
    /// send `SyncComplete`.
    CatchUp,
    Close(ErrorCode, String),
}

/// Which entities and relations a client's schema version knows; `None` means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub entities: Option<HashSet<u32>>,
    pub relations: Option<HashSet<u32>>,
    /// (entity id, property id) pairs; values of other properties are kept when this client
    /// replaces an object, since it cannot know them.
    pub properties: Option<Arc<HashSet<(u32, u32)>>>,
}

impl Known {
    /// Whether the client knows the entity with this id.
    pub fn knows_entity(&self, entity: u32) -> bool {
        self.entities.as_ref().is_none_or(|e| e.contains(&entity))
    }

    /// Whether the client knows the entity or relation an operation is about.
    pub fn knows(&self, op: &Op) -> bool {
        match op {
            Op::Put { entity, .. } | Op::Remove { entity, .. } => self.knows_entity(*entity),
            Op::RelAdd { relation, .. } | Op::RelRemove { relation, .. } => {
                self.relations.as_ref().is_none_or(|r| r.contains(relation))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingLogin,
    LoggingIn,
    LoggedIn,
    Closed,
}

/// The protocol state of one connection.
#[derive(Debug)]
pub struct Session {
    state: State,
    peer: u64,
    /// The last server seq the client has been sent (its position).
    position: u64,
    /// Whether live pushes are wanted.
    subscribed: bool,
    known: Known,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    pub fn new() -> Session {
        Session {
            state: State::AwaitingLogin,
            peer: 0,
            position: 0,
            subscribed: false,
            known: Known::default(),
        }
    }

    pub fn peer(&self) -> u64 {
        self.peer
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn known(&self) -> &Known {
        &self.known
    }

    pub fn is_logged_in(&self) -> bool {
        self.state == State::LoggedIn
    }

    /// Whether the connection should take live commits from the hub.
    pub fn wants_live(&self) -> bool {
        self.state == State::LoggedIn && self.subscribed
    }

    /// A message from the client.
    pub fn on_message(&mut self, message: ClientMessage) -> Vec<Effect> {
        match (self.state, message) {
            (State::Closed, _) => vec![],
            (State::AwaitingLogin, ClientMessage::Login(login)) => match refusal(&login) {
                Some((code, message)) => {
                    self.state = State::Closed;
                    vec![Effect::RefuseLogin(code, message)]
                }
                None => {
                    self.state = State::LoggingIn;
                    vec![Effect::Login(Box::new(login))]
                }
            },
            (State::AwaitingLogin | State::LoggingIn, ClientMessage::Heartbeat { .. }) => vec![],
            (State::AwaitingLogin | State::LoggingIn, other) => self.close(
                ErrorCode::UnexpectedMessage,
                format!("{} before a successful Login", name(&other)),
            ),
            (State::LoggedIn, ClientMessage::Login(_)) => self.close(
                ErrorCode::UnexpectedMessage,
                "Login on a connection that is already logged in".into(),
            ),
            (State::LoggedIn, ClientMessage::ApplyTx(tx)) => vec![Effect::Apply(tx)],
            (State::LoggedIn, ClientMessage::RequestUpdates { subscribe }) => {
                self.subscribed = subscribe;
                vec![Effect::CatchUp]
            }
            (State::LoggedIn, ClientMessage::CancelUpdates) => {
                self.subscribed = false;
                vec![]
            }
            (State::LoggedIn, ClientMessage::Heartbeat { .. }) => vec![],
        }
    }

    /// The login was accepted: the client starts at `last_seq` and sees only `known` types.
    pub fn logged_in(
        &mut self,
        peer: u64,
        last_seq: u64,
        mode: RequestUpdatesMode,
        known: Known,
    ) -> Vec<Effect> {
        self.state = State::LoggedIn;
        self.peer = peer;
        self.position = last_seq;
        self.known = known;
        match mode {
            RequestUpdatesMode::Auto => {
                self.subscribed = true;
                vec![Effect::CatchUp]
            }
            RequestUpdatesMode::AutoNoPushes => vec![Effect::CatchUp],
            RequestUpdatesMode::Manual => vec![],
        }
    }

    /// The login was refused; the connection closes after sending the result.
    pub fn login_failed(&mut self) {
        self.state = State::Closed;
    }

    /// How to bring this client from its position to `head`, given the oldest retained log
    /// entry: a delta from the log while its next entry is retained, else a full sync (also for
    /// a client that never synced, and one ahead of the server, whose database was replaced).
    pub fn catch_up_plan(&self, head: u64, oldest: Option<u64>) -> CatchUp {
        let position = self.position;
        let full = (position == 0 && head > 0)
            || position > head
            || match oldest {
                Some(oldest) => position + 1 < oldest,
                None => position < head,
            };
        if full {
            CatchUp::Full
        } else {
            CatchUp::Delta { from: position + 1 }
        }
    }

    /// Catch-up or full sync sent everything up to `seq`.
    pub fn advanced_to(&mut self, seq: u64) {
        self.position = self.position.max(seq);
    }

    /// A full sync restarts the client's data at `seq` (which may be below its old position if
    /// the server's database was replaced).
    pub fn reset_to(&mut self, seq: u64) {
        self.position = seq;
    }

    /// A transaction committed on the server.
    pub fn on_committed(&mut self, committed: &Committed) -> Vec<Effect> {
        if !self.wants_live() || committed.seq <= self.position {
            return vec![];
        }
        if committed.seq > self.position + 1 {
            // A gap (we lagged): read the missing part from the log.
            return vec![Effect::CatchUp];
        }
        self.position = committed.seq;
        vec![self.entry_effect(
            &committed.entry,
            committed.client_tx_id,
            &committed.rejected,
            Some(committed.frame()),
        )]
    }

    /// How to send one log entry to this client: shared frame when possible; the client's own
    /// transactions come without data but with its `tx_id` (they acknowledge it in stream order),
    /// and unknown types are left out.
    pub fn entry_effect(
        &self,
        entry: &TxEntry,
        client_tx_id: u64,
        rejected: &[(u32, GlobalId)],
        shared: Option<&Bytes>,
    ) -> Effect {
        if entry.origin == self.peer && self.peer != 0 {
            return Effect::SendOwn {
                entry: TxEntry {
                    seq: entry.seq,
                    origin: entry.origin,
                    time_ms: entry.time_ms,
                    ops: vec![],
                    tx_id: client_tx_id,
                },
                rejected: rejected.to_vec(),
            };
        }
        if entry.ops.iter().all(|op| self.known.knows(op)) {
            if let Some(frame) = shared {
                return Effect::SendFrame(frame.clone());
            }
            return Effect::Send(ServerMessage::Push {
                txs: vec![entry.clone()],
            });
        }
        let ops = entry
            .ops
            .iter()
            .filter(|op| self.known.knows(op))
            .cloned()
            .collect();
        Effect::Send(ServerMessage::Push {
            txs: vec![TxEntry {
                seq: entry.seq,
                origin: entry.origin,
                time_ms: entry.time_ms,
                ops,
                tx_id: entry.tx_id,
            }],
        })
    }

    /// Filters an entry for this client (for batched catch-up); `entry.tx_id` holds the sender's
    /// tx id and is kept only for the sender.
    pub fn filter_entry(&self, entry: TxEntry) -> TxEntry {
        if entry.origin == self.peer && self.peer != 0 {
            return TxEntry {
                ops: vec![],
                ..entry
            };
        }
        let entry = TxEntry { tx_id: 0, ..entry };
        if entry.ops.iter().all(|op| self.known.knows(op)) {
            return entry;
        }
        let ops = entry
            .ops
            .into_iter()
            .filter(|op| self.known.knows(op))
            .collect();
        TxEntry { ops, ..entry }
    }

    fn close(&mut self, code: ErrorCode, message: String) -> Vec<Effect> {
        self.state = State::Closed;
        vec![Effect::Close(code, message)]
    }
}

/// How a catch-up brings a client to the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// Send the retained log entries from `from` on.
    Delta { from: u64 },
    /// Send a snapshot of all objects (`FullSyncBegin` … `FullSyncEnd`).
    Full,
}

/// Why a login must be refused before its credentials are checked: an unsupported protocol
/// version, or the reserved peer id 0.
fn refusal(login: &Login) -> Option<(LoginCode, String)> {
    if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&login.protocol_version) {
        return Some((
            LoginCode::BadVersion,
            format!(
                "protocol version {} is not supported; this server speaks                  {MIN_PROTOCOL_VERSION}..={PROTOCOL_VERSION}",
                login.protocol_version
            ),
        ));
    }
    if login.peer_id == 0 {
        return Some((
            LoginCode::ReqRejected,
            "peer id 0 is reserved; use a random non-zero id".into(),
        ));
    }
    None
}

/// The message's name, for logs and errors.
pub fn name(message: &ClientMessage) -> &'static str {
    match message {
        ClientMessage::Login(_) => "LOGIN",
        ClientMessage::ApplyTx(_) => "APPLY_TX",
        ClientMessage::RequestUpdates { .. } => "REQUEST_UPDATES",
        ClientMessage::CancelUpdates => "CANCEL_UPDATES",
        ClientMessage::Heartbeat { .. } => "HEARTBEAT",
    }
}

#[cfg(test)]
mod tests;
