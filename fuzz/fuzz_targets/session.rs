//! Random event sequences fed to one sync session (`sync::session::Session`, which is sans-IO).
//!
//! The input is a list of records `[tag: u8][len: u16 LE][payload: len bytes]` (a short last
//! record takes what is left). By `tag % 8`: 0 a client frame (decoded as the connection does;
//! frames that do not decode are dropped, as the connection closes on them), 1 a structured
//! client message, 2 the login accepted, 3 the login refused (both only while a login is being
//! checked, as the connection does), 4 a commit from the hub, 5 `advanced_to`, 6 `reset_to`, 7 a
//! log entry filtered for this client. Seeds are real frames from protocol_dump in this format.
//!
//! Besides never panicking, the session must keep its rules, checked against a shadow of its
//! state: nothing but `Login` and `Heartbeat` is accepted before a successful login (anything
//! else closes with `UnexpectedMessage`), no transaction is applied and nothing is sent to the
//! client before that, one `Login` is checked per connection, a closed session does nothing, the
//! position only moves forward (except for a full sync's reset) and one step at a time for live
//! commits, and a client sees its own transactions without data and others' only with operations
//! on types it knows. Transactions the session passes on are also validated against the fixture
//! models (`sync::apply::validate`), which must not panic either.

#![no_main]

use std::collections::HashSet;
use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use shared_types::protocol::{
    ClientMessage, ErrorCode, LoginCode, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, ServerMessage,
    TxEntry, decode_client, encode,
};
use sync_fuzz::{ALL_TYPES, EXAMPLE, client_message, global_id, items, mode, small_or_any};
use sync_server::sync::apply;
use sync_server::sync::log::Committed;
use sync_server::sync::session::{Effect, Known, Session};

fuzz_target!(|data: &[u8]| {
    let mut harness = Harness::new();
    let mut rest = data;
    while let Some((&tag, tail)) = rest.split_first() {
        let len = match tail {
            [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
            _ => tail.len(),
        };
        let tail = tail.get(2..).unwrap_or_default();
        let (payload, next) = tail.split_at(len.min(tail.len()));
        rest = next;
        // A payload too short for its event is just a shorter sequence.
        let _ = harness.step(tag % 8, payload);
    }
});

/// What the session should be doing, tracked independently of its own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingLogin,
    /// A `Login` is being checked, for this peer id and start position.
    CheckingLogin {
        peer: u64,
        last_seq: u64,
    },
    LoggedIn,
    Closed,
}

struct Harness {
    session: Session,
    phase: Phase,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            session: Session::new(),
            phase: Phase::AwaitingLogin,
        }
    }

    fn step(&mut self, tag: u8, payload: &[u8]) -> Result<()> {
        let mut u = Unstructured::new(payload);
        match tag {
            0 => {
                if let Ok(message) = decode_client(payload) {
                    self.message(message);
                }
            }
            1 => {
                let message = client_message(&mut u)?;
                self.message(message);
            }
            2 | 3 => {
                let Phase::CheckingLogin { peer, last_seq } = self.phase else {
                    return Ok(());
                };
                if tag == 3 {
                    self.session.login_failed();
                    self.phase = Phase::Closed;
                } else {
                    let mode = mode(&mut u)?;
                    let known = known(&mut u)?;
                    let effects = self.session.logged_in(peer, last_seq, mode, known);
                    self.phase = Phase::LoggedIn;
                    assert!(
                        effects.iter().all(|e| matches!(e, Effect::CatchUp)),
                        "a login may only start a catch-up: {effects:?}"
                    );
                    assert_eq!(self.session.position(), last_seq);
                    assert_eq!(self.session.peer(), peer);
                }
            }
            4 => self.committed(&mut u)?,
            5 | 6 if self.phase == Phase::LoggedIn => {
                let seq = small_or_any(&mut u)?;
                let before = self.session.position();
                if tag == 5 {
                    self.session.advanced_to(seq);
                    assert_eq!(self.session.position(), before.max(seq));
                } else {
                    self.session.reset_to(seq);
                    assert_eq!(self.session.position(), seq);
                }
            }
            7 => self.filter(&mut u)?,
            _ => {}
        }
        self.check_state();
        Ok(())
    }

    /// A message from the client.
    fn message(&mut self, message: ClientMessage) {
        let before = self.phase;
        let position = self.session.position();
        let effects = self.session.on_message(message.clone());
        assert_eq!(
            self.session.position(),
            position,
            "a client message moved the position"
        );
        if before == Phase::Closed {
            assert!(effects.is_empty(), "closed session acted: {effects:?}");
            return;
        }
        if let Some(i) = effects.iter().position(|e| matches!(e, Effect::Close(..))) {
            assert_eq!(i + 1, effects.len(), "effects after Close: {effects:?}");
            self.phase = Phase::Closed;
        }
        match (before, &message) {
            (Phase::AwaitingLogin, ClientMessage::Login(login)) => {
                let supported = (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION)
                    .contains(&login.protocol_version);
                if !supported || login.peer_id == 0 {
                    let code = if supported {
                        LoginCode::ReqRejected
                    } else {
                        LoginCode::BadVersion
                    };
                    assert!(
                        matches!(effects.as_slice(), [Effect::RefuseLogin(c, _)] if *c == code),
                        "a Login with version {} and peer id {} must be refused with {code:?}: \
                         {effects:?}",
                        login.protocol_version,
                        login.peer_id
                    );
                    self.phase = Phase::Closed;
                } else {
                    assert!(
                        matches!(effects.as_slice(), [Effect::Login(l)] if **l == *login),
                        "the first Login must be checked: {effects:?}"
                    );
                    self.phase = Phase::CheckingLogin {
                        peer: login.peer_id,
                        last_seq: login.last_seq,
                    };
                }
            }
            (_, ClientMessage::Heartbeat { .. }) => {
                assert!(effects.is_empty(), "heartbeat answered: {effects:?}");
            }
            (Phase::AwaitingLogin | Phase::CheckingLogin { .. }, _) => {
                assert!(
                    matches!(
                        effects.as_slice(),
                        [Effect::Close(ErrorCode::UnexpectedMessage, _)]
                    ),
                    "{message:?} before a successful login must close: {effects:?}"
                );
            }
            (Phase::LoggedIn, ClientMessage::Login(_)) => {
                assert!(
                    matches!(
                        effects.as_slice(),
                        [Effect::Close(ErrorCode::UnexpectedMessage, _)]
                    ),
                    "a second Login must close: {effects:?}"
                );
            }
            (Phase::LoggedIn, ClientMessage::ApplyTx(tx)) => {
                // Compared encoded, since a NaN value is not equal to itself.
                assert!(
                    matches!(effects.as_slice(), [Effect::Apply(t)] if encode(t) == encode(tx)),
                    "ApplyTx after login must be applied as sent: {effects:?}"
                );
                // The connection validates before queueing for the writer.
                let _ = apply::validate(&ALL_TYPES, &tx.ops);
                let _ = apply::validate(&EXAMPLE, &tx.ops);
            }
            (Phase::LoggedIn, _) => {
                assert!(
                    effects.iter().all(|e| matches!(e, Effect::CatchUp)),
                    "{message:?} may only start a catch-up: {effects:?}"
                );
            }
            (Phase::Closed, _) => unreachable!("handled above"),
        }
        for effect in &effects {
            let allowed = match effect {
                Effect::Login(_) | Effect::RefuseLogin(..) | Effect::Close(..) => true,
                _ => before == Phase::LoggedIn,
            };
            assert!(allowed, "{effect:?} in phase {before:?}");
        }
    }

    /// A transaction committed on the server, as the hub publishes it.
    fn committed(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let position = self.session.position();
        let peer = self.session.peer();
        // Mostly the next seq or a little beyond (a gap), sometimes any.
        let seq = if u.ratio(3, 4)? {
            position.saturating_add(u.int_in_range(0..=3)?)
        } else {
            u.arbitrary()?
        };
        let origin = if u.arbitrary()? {
            peer
        } else {
            small_or_any(u)?
        };
        let client_tx_id = small_or_any(u)?;
        let rejected = items(u, |u| Ok((small_or_any(u)? as u32, global_id(u)?)))?;
        let entry = TxEntry {
            seq,
            origin,
            time_ms: u.arbitrary()?,
            ops: items(u, sync_fuzz::op)?,
            tx_id: 0,
        };
        let committed = Committed::new(seq, origin, client_tx_id, rejected.clone(), entry);
        let live = self.session.wants_live();
        let effects = self.session.on_committed(&committed);
        let now = self.session.position();
        if !live || seq <= position {
            assert!(
                effects.is_empty(),
                "commit not for this client: {effects:?}"
            );
            assert_eq!(now, position);
            return Ok(());
        }
        if seq > position + 1 {
            assert!(
                matches!(effects.as_slice(), [Effect::CatchUp]),
                "a gap must catch up: {effects:?}"
            );
            assert_eq!(now, position);
            return Ok(());
        }
        assert_eq!(now, seq, "a live commit moves the position to its seq");
        let [effect] = effects.as_slice() else {
            panic!("one live commit, one message: {effects:?}");
        };
        self.check_entry_effect(effect, &committed.entry, client_tx_id, &rejected);
        Ok(())
    }

    /// A log entry as catch-up filters it, and as it is sent alone.
    fn filter(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let peer = self.session.peer();
        let mut entry = sync_fuzz::tx_entry(u)?;
        if u.arbitrary()? {
            entry.origin = peer;
        }
        let rejected = items(u, |u| Ok((small_or_any(u)? as u32, global_id(u)?)))?;
        let effect = self
            .session
            .entry_effect(&entry, entry.tx_id, &rejected, None);
        self.check_entry_effect(&effect, &entry, entry.tx_id, &rejected);

        let filtered = self.session.filter_entry(entry.clone());
        assert_eq!(
            (filtered.seq, filtered.origin, filtered.time_ms),
            (entry.seq, entry.origin, entry.time_ms)
        );
        if own(peer, &entry) {
            assert!(filtered.ops.is_empty(), "own entry with data: {filtered:?}");
            assert_eq!(filtered.tx_id, entry.tx_id, "own entry lost its tx_id");
        } else {
            assert_eq!(
                filtered.tx_id, 0,
                "another peer's tx_id leaked: {filtered:?}"
            );
            self.check_known(&filtered);
        }
        Ok(())
    }

    /// How one entry reaches this client: its own without data, others' with known types only.
    fn check_entry_effect(
        &self,
        effect: &Effect,
        entry: &TxEntry,
        client_tx_id: u64,
        rejected: &[(u32, shared_types::protocol::GlobalId)],
    ) {
        let peer = self.session.peer();
        match effect {
            Effect::SendOwn {
                entry: own_entry,
                rejected: own_rejected,
            } => {
                assert!(own(peer, entry), "SendOwn of another peer's entry");
                assert!(own_entry.ops.is_empty(), "own entry with data");
                assert_eq!(own_entry.tx_id, client_tx_id);
                assert_eq!(own_entry.seq, entry.seq);
                assert_eq!(own_rejected.as_slice(), rejected);
            }
            Effect::SendFrame(frame) => {
                assert!(!own(peer, entry), "shared frame for the sender");
                let push = ServerMessage::Push {
                    txs: vec![entry.clone()],
                };
                assert_eq!(frame[..], encode(&push)[..], "the shared frame is the entry's push");
                assert!(entry.ops.iter().all(|op| self.session.known().knows(op)));
            }
            Effect::Send(ServerMessage::Push { txs }) => {
                assert!(!own(peer, entry), "plain push for the sender");
                let [sent] = txs.as_slice() else {
                    panic!("one entry per push: {txs:?}");
                };
                assert_eq!(sent.seq, entry.seq);
                self.check_known(sent);
            }
            other => panic!("unexpected effect for a log entry: {other:?}"),
        }
    }

    fn check_known(&self, entry: &TxEntry) {
        let known = self.session.known();
        assert!(
            entry.ops.iter().all(|op| known.knows(op)),
            "ops of unknown types sent: {entry:?} with {known:?}"
        );
    }

    /// The session's own view agrees with the shadow.
    fn check_state(&self) {
        assert_eq!(
            self.session.is_logged_in(),
            self.phase == Phase::LoggedIn,
            "logged in, per the session, in phase {:?}",
            self.phase
        );
        if self.session.wants_live() {
            assert_eq!(self.phase, Phase::LoggedIn);
        }
    }
}

/// Whether an entry is the client's own transaction.
fn own(peer: u64, entry: &TxEntry) -> bool {
    entry.origin == peer && peer != 0
}

/// Which entities, relations and properties a client's schema version knows.
fn known(u: &mut Unstructured<'_>) -> Result<Known> {
    let ids = |u: &mut Unstructured<'_>| -> Result<Option<HashSet<u32>>> {
        if u.arbitrary()? {
            return Ok(None);
        }
        Ok(Some(
            items(u, |u| Ok(small_or_any(u)? as u32))?
                .into_iter()
                .collect(),
        ))
    };
    let entities = ids(u)?;
    let relations = ids(u)?;
    let properties = if u.arbitrary()? {
        None
    } else {
        let pairs = items(u, |u| {
            Ok((small_or_any(u)? as u32, small_or_any(u)? as u32))
        })?;
        Some(Arc::new(pairs.into_iter().collect()))
    };
    Ok(Known {
        entities,
        relations,
        properties,
    })
}
