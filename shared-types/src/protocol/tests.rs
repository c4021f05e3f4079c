use super::*;

fn round_trip_client(m: ClientMessage) {
    let frame = encode(&m);
    assert_eq!(decode_client(&frame).unwrap(), m);
}

fn round_trip_server(m: ServerMessage) {
    let frame = encode(&m);
    assert_eq!(decode_server(&frame).unwrap(), m);
}

#[test]
fn every_message_round_trips() {
    let ops = vec![
        Op::Put {
            entity: 1,
            id: GlobalId(7, 1),
            props: vec![
                (2, Value::String("text".into())),
                (3, Value::Int(-5)),
                (4, Value::Float(1.5)),
                (5, Value::Bytes(vec![0, 1, 2])),
                (6, Value::List(vec![Value::Int(7), Value::Int(9)])),
                (7, Value::Null),
                (8, Value::Bool(true)),
                (9, Value::Map(vec![("k".into(), Value::Int(1))])),
            ],
        },
        Op::Remove {
            entity: 1,
            id: GlobalId(7, 2),
        },
        Op::RelAdd {
            relation: 1,
            source: GlobalId(7, 1),
            target: GlobalId(8, 1),
        },
        Op::RelRemove {
            relation: 1,
            source: GlobalId(7, 1),
            target: GlobalId(8, 1),
        },
    ];
    round_trip_client(ClientMessage::Login(Login {
        protocol_version: 1,
        peer_id: u64::MAX,
        credentials: vec![
            Credential::None,
            Credential::SharedSecret { hmac: vec![1; 32] },
            Credential::Jwt {
                kind: JwtKind::Access,
                token: "a.b.c".into(),
            },
            Credential::UserPassword {
                user: "u".into(),
                password: "p".into(),
            },
        ],
        schema_full_hash: "00".repeat(16),
        schema_base_hash: "11".repeat(16),
        last_seq: 42,
        mode: RequestUpdatesMode::AutoNoPushes,
        last_tx_id: 3,
    }));
    round_trip_client(ClientMessage::ApplyTx(ApplyTx {
        tx_id: 1,
        ops: ops.clone(),
    }));
    round_trip_client(ClientMessage::RequestUpdates { subscribe: true });
    round_trip_client(ClientMessage::CancelUpdates);
    round_trip_client(ClientMessage::Heartbeat { time_ms: 5 });
    round_trip_server(ServerMessage::Hello {
        min_version: 1,
        max_version: 1,
        nonce: vec![9; 32],
        server_time_ms: 1,
    });
    round_trip_server(ServerMessage::LoginResult {
        code: LoginCode::ClientIdTaken,
        message: "taken".into(),
        server_time_ms: 2,
        schema_version: 1,
        head_seq: 10,
    });
    round_trip_server(ServerMessage::Ack {
        tx_id: 1,
        seq: 2,
        corrections: ops.clone(),
    });
    round_trip_server(ServerMessage::TxRejected {
        tx_id: 1,
        code: TxErrorCode::WrongType,
        message: "m".into(),
    });
    round_trip_server(ServerMessage::Push {
        txs: vec![TxEntry {
            seq: 1,
            origin: 2,
            time_ms: 3,
            ops: ops.clone(),
            tx_id: 0,
        }],
    });
    round_trip_server(ServerMessage::FullSyncBegin {
        seq: 4,
        acked_tx_id: 3,
    });
    round_trip_server(ServerMessage::FullSyncChunk { ops });
    round_trip_server(ServerMessage::FullSyncEnd { seq: 4 });
    round_trip_server(ServerMessage::SyncComplete { seq: 4 });
    round_trip_server(ServerMessage::Heartbeat { time_ms: 4 });
    round_trip_server(ServerMessage::Error {
        code: ErrorCode::Other(99),
        message: "x".into(),
    });
}

#[test]
fn codes_keep_their_numbers() {
    assert_eq!(u32::from(LoginCode::Ok), 20);
    assert_eq!(u32::from(LoginCode::CredentialsRejected), 43);
    assert_eq!(u32::from(LoginCode::BadVersion), 55);
    assert_eq!(u32::from(LoginCode::UnsupportedDataModel), 57);
    assert_eq!(u32::from(LoginCode::ClientIdTaken), 61);
    assert_eq!(u32::from(TxErrorCode::NoPermission), 1);
    assert_eq!(u32::from(TxErrorCode::TooLarge), 8);
    assert_eq!(TxErrorCode::from(8), TxErrorCode::TooLarge);
    assert_eq!(LoginCode::from(1234), LoginCode::Other(1234));
}

#[test]
fn garbage_is_a_decode_error_not_a_panic() {
    for frame in [
        &b""[..],
        b"\xc1",
        b"\x81\xa5Login\xc0",
        b"\x81\xa4Nope\x80",
        &[0xff; 64],
    ] {
        assert!(decode_client(frame).is_err(), "{frame:?}");
    }
}

#[test]
fn the_frame_is_a_one_entry_map_named_after_the_message() {
    let frame = encode(&ClientMessage::Heartbeat { time_ms: 1 });
    // fixmap(1), fixstr(9) "Heartbeat", fixmap(1), fixstr(7) "time_ms", 1
    assert_eq!(frame, b"\x81\xa9Heartbeat\x81\xa7time_ms\x01");
}

#[test]
fn a_decode_error_names_the_field_and_what_was_expected() {
    let frame = rmp_serde::to_vec_named(&serde_json::json!({
        "ApplyTx": {"tx_id": 1, "ops": [{"Put": {"entity": 1, "id": "x", "props": []}}]}
    }))
    .unwrap();
    let err = decode_client(&frame).unwrap_err();
    assert_eq!(err.path, "ApplyTx.ops[0].Put.id", "{err}");
    assert!(err.message.contains("expected"), "{err}");
    assert!(
        err.to_string()
            .starts_with("malformed message: ApplyTx.ops[0].Put.id: invalid type: string \"x\""),
        "{err}"
    );
    // A value the decoder quotes is cut short.
    let long = "y".repeat(10_000);
    let frame =
        rmp_serde::to_vec_named(&serde_json::json!({"Heartbeat": {"time_ms": long}})).unwrap();
    let err = decode_client(&frame).unwrap_err();
    assert_eq!(err.path, "Heartbeat.time_ms", "{err}");
    assert!(err.message.len() <= MAX_DECODE_MESSAGE_LEN + 3, "{err}");
}
