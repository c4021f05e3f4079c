use shared_types::protocol::{ApplyTx, GlobalId, Login, TxEntry};

use super::*;

fn login(mode: RequestUpdatesMode) -> ClientMessage {
    ClientMessage::Login(Login {
        protocol_version: 1,
        peer_id: 7,
        credentials: vec![],
        schema_full_hash: String::new(),
        schema_base_hash: String::new(),
        last_seq: 0,
        mode,
        last_tx_id: 0,
    })
}

fn committed(seq: u64, origin: u64, entity: u32) -> Committed {
    let entry = TxEntry {
        seq,
        origin,
        time_ms: 0,
        ops: vec![Op::Remove {
            entity,
            id: GlobalId(origin, seq),
        }],
        tx_id: 0,
    };
    Committed::new(
        seq,
        origin,
        seq,
        vec![(entity, GlobalId(origin, seq))],
        entry,
    )
}

fn logged_in(mode: RequestUpdatesMode, last_seq: u64) -> Session {
    let mut session = Session::new();
    assert!(matches!(
        session.on_message(login(mode)).as_slice(),
        [Effect::Login(_)]
    ));
    session.logged_in(7, last_seq, mode, Known::default());
    session
}

#[test]
fn messages_before_login_close_the_connection() {
    let tx = ClientMessage::ApplyTx(ApplyTx {
        tx_id: 1,
        ops: vec![],
    });
    for message in [
        tx,
        ClientMessage::RequestUpdates { subscribe: true },
        ClientMessage::CancelUpdates,
    ] {
        let mut session = Session::new();
        let effects = session.on_message(message);
        assert!(
            matches!(effects.as_slice(), [Effect::Close(ErrorCode::UnexpectedMessage, m)] if m.contains("before a successful Login"))
        );
        // Once closed, nothing else happens.
        assert!(
            session
                .on_message(login(RequestUpdatesMode::Auto))
                .is_empty()
        );
    }
    // Heartbeats before login are fine.
    assert!(
        Session::new()
            .on_message(ClientMessage::Heartbeat { time_ms: 1 })
            .is_empty()
    );
}

#[test]
fn a_second_login_is_a_protocol_error() {
    let mut session = logged_in(RequestUpdatesMode::Auto, 0);
    assert!(matches!(
        session
            .on_message(login(RequestUpdatesMode::Auto))
            .as_slice(),
        [Effect::Close(ErrorCode::UnexpectedMessage, _)]
    ));
}

#[test]
fn modes_decide_catch_up_and_pushes() {
    let mut session = Session::new();
    session.on_message(login(RequestUpdatesMode::Auto));
    assert_eq!(
        session.logged_in(7, 0, RequestUpdatesMode::Auto, Known::default()),
        vec![Effect::CatchUp]
    );
    assert!(session.wants_live());

    let mut session = Session::new();
    session.on_message(login(RequestUpdatesMode::AutoNoPushes));
    assert_eq!(
        session.logged_in(7, 0, RequestUpdatesMode::AutoNoPushes, Known::default()),
        vec![Effect::CatchUp]
    );
    assert!(!session.wants_live());

    let mut session = Session::new();
    session.on_message(login(RequestUpdatesMode::Manual));
    assert!(
        session
            .logged_in(7, 0, RequestUpdatesMode::Manual, Known::default())
            .is_empty()
    );
    assert!(!session.wants_live());
    assert_eq!(
        session.on_message(ClientMessage::RequestUpdates { subscribe: true }),
        vec![Effect::CatchUp]
    );
    assert!(session.wants_live());
    assert!(session.on_message(ClientMessage::CancelUpdates).is_empty());
    assert!(!session.wants_live());
}

#[test]
fn live_commits_go_out_in_order_and_gaps_trigger_catch_up() {
    let mut session = logged_in(RequestUpdatesMode::Auto, 5);
    // Already seen.
    assert!(session.on_committed(&committed(5, 9, 1)).is_empty());
    // Next in line: the shared frame.
    let next = committed(6, 9, 1);
    assert_eq!(
        session.on_committed(&next),
        vec![Effect::SendFrame(next.frame().clone())]
    );
    assert_eq!(session.position(), 6);
    // A gap: read from the log instead; the position does not move.
    assert_eq!(
        session.on_committed(&committed(8, 9, 1)),
        vec![Effect::CatchUp]
    );
    assert_eq!(session.position(), 6);
    session.advanced_to(8);
    assert!(session.on_committed(&committed(8, 9, 1)).is_empty());
}

#[test]
fn own_transactions_acknowledge_and_carry_their_conflict_losers() {
    let mut session = logged_in(RequestUpdatesMode::Auto, 0);
    let effects = session.on_committed(&committed(1, 7, 1));
    match effects.as_slice() {
        [Effect::SendOwn { entry, rejected }] => {
            assert_eq!(entry.seq, 1);
            assert!(entry.ops.is_empty(), "the client has its own data");
            assert_eq!(
                entry.tx_id, 1,
                "the entry acknowledges the client's transaction"
            );
            assert_eq!(rejected, &vec![(1, GlobalId(7, 1))]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn clients_on_older_schemas_get_only_known_types() {
    let mut session = Session::new();
    session.on_message(login(RequestUpdatesMode::Auto));
    let known = Known {
        entities: Some([1].into_iter().collect()),
        relations: Some(Default::default()),
        properties: None,
    };
    session.logged_in(7, 0, RequestUpdatesMode::Auto, known);
    let mut mixed = committed(1, 9, 1);
    mixed.entry.ops.push(Op::Remove {
        entity: 2,
        id: GlobalId(9, 1),
    });
    match session.on_committed(&mixed).as_slice() {
        [Effect::Send(ServerMessage::Push { txs })] => assert_eq!(
            txs[0].ops,
            vec![Op::Remove {
                entity: 1,
                id: GlobalId(9, 1)
            }]
        ),
        other => panic!("{other:?}"),
    }
    // Only known types: the shared frame.
    assert!(matches!(
        session.on_committed(&committed(2, 9, 1)).as_slice(),
        [Effect::SendFrame(_)]
    ));
}
