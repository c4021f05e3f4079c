//! Prints the sync protocol v1 frames that docs/protocol.md uses as worked examples: each frame
//! as a hex dump and as a walk over its MessagePack tokens, so that every byte in the document
//! comes from the real encoder ([`shared_types::protocol::encode`]) and not from hand work.
//!
//! Run with `cargo run -p shared-types --example protocol_dump`.
//!
//! The schema hashes below are those of `examples/objectbox-model.json` (computed with
//! `sync_model::Model::full_hash` / `base_hash`; this example may only use shared-types' own
//! dependencies, so they are written out here). Times are fixed so the output is reproducible.

use std::fmt::Write as _;
use std::io::Write as _;

use shared_types::protocol::{
    ApplyTx, ClientMessage, Credential, ErrorCode, GlobalId, Login, LoginCode, Op,
    PROTOCOL_VERSION, RequestUpdatesMode, ServerMessage, TxEntry, TxErrorCode, Value,
    decode_client, decode_server, encode,
};
use shared_types::shared_secret::shared_secret_proof;

/// Full and base schema hash of `examples/objectbox-model.json`.
const FULL_HASH: &str = "b09c7ccd1ea9804339218cb39a247bcc";
const BASE_HASH: &str = "afe830e0daba35d9b44accea5b9efcbb";

/// Entity and property IDs of `examples/objectbox-model.json`.
const TASK: u32 = 1;
const TASK_TEXT: u32 = 2;
const TASK_PROJECT: u32 = 5;
const TASK_CLOCK: u32 = 6;
const PROJECT: u32 = 2;
const PROJECT_NAME: u32 = 2;
const PROJECT_COLOR: u32 = 3;

/// The client of the examples (the peer id of the fixed shared-secret test vector).
const PEER_A: u64 = 0x0102_0304_0506_0708;
/// Another client; above `i64::MAX` on purpose (see the relation value in its push).
const PEER_B: u64 = 0xA1B2_C3D4_E5F6_0718;
/// 2025-01-01T00:00:00Z in ms.
const T0: u64 = 1_735_689_600_000;

fn main() {
    let mut out = String::new();
    let nonce: Vec<u8> = (0u8..32).collect();

    section(&mut out, "1. Heartbeat (client to server)");
    client(&mut out, &ClientMessage::Heartbeat { time_ms: T0 });

    section(&mut out, "2. Hello (server to client)");
    server(
        &mut out,
        &ServerMessage::Hello {
            min_version: 1,
            max_version: 1,
            nonce: nonce.clone(),
            server_time_ms: T0,
        },
    );

    section(
        &mut out,
        "3. Shared-secret proof: secret \"s3cret\", nonce 00..1f, peer id 0102030405060708",
    );
    let mut message = nonce.clone();
    message.extend_from_slice(&PEER_A.to_be_bytes());
    let _ = writeln!(
        out,
        "HMAC input (nonce || peer id BE), {} bytes:",
        message.len()
    );
    hex_dump(&mut out, &message);
    let proof = shared_secret_proof(b"s3cret", &nonce, PEER_A);
    let _ = writeln!(out, "HMAC-SHA256(key = \"s3cret\"), {} bytes:", proof.len());
    hex_dump(&mut out, &proof);

    section(&mut out, "4. Login (client to server)");
    client(
        &mut out,
        &ClientMessage::Login(Login {
            protocol_version: PROTOCOL_VERSION,
            peer_id: PEER_A,
            credentials: vec![Credential::SharedSecret { hmac: proof }],
            schema_full_hash: FULL_HASH.into(),
            schema_base_hash: BASE_HASH.into(),
            last_seq: 0,
            mode: RequestUpdatesMode::Auto,
            last_tx_id: 0,
        }),
    );

    section(&mut out, "5. LoginResult OK (server to client)");
    server(
        &mut out,
        &ServerMessage::LoginResult {
            code: LoginCode::Ok,
            message: String::new(),
            server_time_ms: T0 + 3,
            schema_version: 1,
            head_seq: 2,
        },
    );

    section(
        &mut out,
        "6. Full sync (server to client): FullSyncBegin, FullSyncChunk, FullSyncEnd, SyncComplete",
    );
    server(
        &mut out,
        &ServerMessage::FullSyncBegin {
            seq: 2,
            acked_tx_id: 0,
        },
    );
    server(
        &mut out,
        &ServerMessage::FullSyncChunk {
            ops: vec![
                Op::Put {
                    entity: PROJECT,
                    id: GlobalId(0x0A, 1),
                    props: vec![
                        (PROJECT_NAME, Value::String("Home".into())),
                        (PROJECT_COLOR, Value::Int(255)),
                    ],
                },
                Op::Put {
                    entity: TASK,
                    id: GlobalId(0x0A, 2),
                    props: vec![
                        (TASK_TEXT, Value::String("Paint".into())),
                        (
                            TASK_PROJECT,
                            Value::List(vec![Value::Int(0x0A), Value::Int(1)]),
                        ),
                        (TASK_CLOCK, Value::Int(7)),
                    ],
                },
            ],
        },
    );
    server(&mut out, &ServerMessage::FullSyncEnd { seq: 2 });
    server(&mut out, &ServerMessage::SyncComplete { seq: 2 });

    section(&mut out, "7. ApplyTx with one Put (client to server)");
    client(
        &mut out,
        &ClientMessage::ApplyTx(ApplyTx {
            tx_id: 1,
            ops: vec![Op::Put {
                entity: TASK,
                id: GlobalId(PEER_A, 1),
                props: vec![
                    (TASK_TEXT, Value::String("Buy milk".into())),
                    (TASK_CLOCK, Value::Int(1)),
                ],
            }],
        }),
    );

    section(
        &mut out,
        "8. The Ack, then the client's own transaction as a Push entry without ops that carries \
         its tx_id (server to client)",
    );
    server(
        &mut out,
        &ServerMessage::Ack {
            tx_id: 1,
            seq: 3,
            corrections: vec![],
        },
    );
    server(
        &mut out,
        &ServerMessage::Push {
            txs: vec![TxEntry {
                seq: 3,
                origin: PEER_A,
                time_ms: T0 + 20,
                ops: vec![],
                // Entries sent to the transaction's sender carry its tx_id.
                tx_id: 1,
            }],
        },
    );

    section(
        &mut out,
        "9. A live Push of another peer's transaction (server to client)",
    );
    server(
        &mut out,
        &ServerMessage::Push {
            txs: vec![TxEntry {
                seq: 4,
                origin: PEER_B,
                time_ms: T0 + 40,
                ops: vec![
                    Op::Put {
                        entity: TASK,
                        id: GlobalId(PEER_B, 1),
                        props: vec![
                            (TASK_TEXT, Value::String("Walk".into())),
                            // A to-one relation to an object created by PEER_B: the peer id does
                            // not fit an i64, so the value carries its two's complement.
                            (
                                TASK_PROJECT,
                                Value::List(vec![Value::Int(PEER_B as i64), Value::Int(1)]),
                            ),
                            (TASK_CLOCK, Value::Int(1)),
                        ],
                    },
                    Op::Remove {
                        entity: TASK,
                        id: GlobalId(0x0A, 2),
                    },
                ],
                tx_id: 0,
            }],
        },
    );

    section(&mut out, "10. Heartbeat (server to client)");
    server(
        &mut out,
        &ServerMessage::Heartbeat {
            time_ms: T0 + 15_000,
        },
    );

    section(
        &mut out,
        "11. Catch-up after a reconnect (server to client): the client's own transaction (tx_id 2, \
         whose Ack was lost) acknowledged in the stream, then another peer's later change to the \
         same object",
    );
    server(
        &mut out,
        &ServerMessage::Push {
            txs: vec![
                TxEntry {
                    seq: 5,
                    origin: PEER_A,
                    time_ms: T0 + 60_000,
                    ops: vec![],
                    tx_id: 2,
                },
                TxEntry {
                    seq: 6,
                    origin: PEER_B,
                    time_ms: T0 + 61_000,
                    ops: vec![Op::Put {
                        entity: TASK,
                        id: GlobalId(PEER_A, 1),
                        props: vec![
                            (TASK_TEXT, Value::String("Buy oat milk".into())),
                            (TASK_CLOCK, Value::Int(3)),
                        ],
                    }],
                    tx_id: 0,
                },
            ],
        },
    );

    section(
        &mut out,
        "12. Catch-up after a reconnect (server to client): the client's own transaction (tx_id 3) \
         whose Put lost a conflict, carrying the server's state of the object as its ops",
    );
    server(
        &mut out,
        &ServerMessage::Push {
            txs: vec![TxEntry {
                seq: 8,
                origin: PEER_A,
                time_ms: T0 + 120_000,
                // The server's current state of the object whose Put lost (12.5).
                ops: vec![Op::Put {
                    entity: TASK,
                    id: GlobalId(PEER_A, 1),
                    props: vec![
                        (TASK_TEXT, Value::String("Buy rice milk".into())),
                        (TASK_CLOCK, Value::Int(5)),
                    ],
                }],
                tx_id: 3,
            }],
        },
    );

    section(
        &mut out,
        "13. The same reconnect as a full sync (server to client): FullSyncBegin acknowledging the \
         client's transactions up to tx_id 3",
    );
    server(
        &mut out,
        &ServerMessage::FullSyncBegin {
            seq: 20,
            acked_tx_id: 3,
        },
    );

    section(&mut out, "14. Other messages");
    client(&mut out, &ClientMessage::RequestUpdates { subscribe: true });
    client(&mut out, &ClientMessage::CancelUpdates);
    client(
        &mut out,
        &ClientMessage::ApplyTx(ApplyTx {
            tx_id: 2,
            ops: vec![
                Op::RelAdd {
                    relation: 1,
                    source: GlobalId(PEER_A, 1),
                    target: GlobalId(PEER_A, 2),
                },
                Op::RelRemove {
                    relation: 1,
                    source: GlobalId(PEER_A, 1),
                    target: GlobalId(PEER_A, 3),
                },
            ],
        }),
    );
    client(
        &mut out,
        &ClientMessage::Login(Login {
            protocol_version: PROTOCOL_VERSION,
            peer_id: PEER_A,
            credentials: vec![
                Credential::None,
                Credential::Jwt {
                    kind: shared_types::protocol::JwtKind::Access,
                    token: "h.p.s".into(),
                },
                Credential::UserPassword {
                    user: "u".into(),
                    password: "p".into(),
                },
            ],
            schema_full_hash: FULL_HASH.into(),
            schema_base_hash: BASE_HASH.into(),
            last_seq: 4,
            mode: RequestUpdatesMode::AutoNoPushes,
            last_tx_id: 1,
        }),
    );
    server(
        &mut out,
        &ServerMessage::LoginResult {
            code: LoginCode::ClientIdTaken,
            message: "taken".into(),
            server_time_ms: T0,
            schema_version: 0,
            head_seq: 4,
        },
    );
    server(
        &mut out,
        &ServerMessage::Ack {
            tx_id: 3,
            seq: 5,
            corrections: vec![Op::Put {
                entity: TASK,
                id: GlobalId(0x0A, 2),
                props: vec![
                    (TASK_TEXT, Value::String("Paint".into())),
                    (TASK_CLOCK, Value::Int(9)),
                ],
            }],
        },
    );
    server(
        &mut out,
        &ServerMessage::TxRejected {
            tx_id: 4,
            code: TxErrorCode::WrongType,
            message: "m".into(),
        },
    );
    server(
        &mut out,
        &ServerMessage::Error {
            code: ErrorCode::IdleTimeout,
            message: "idle".into(),
        },
    );

    section(
        &mut out,
        "15. Values: one Put per Value kind (as the props of ApplyTx)",
    );
    let values = [
        ("Null", Value::Null),
        ("Bool", Value::Bool(true)),
        ("Int small", Value::Int(5)),
        ("Int negative", Value::Int(-5)),
        ("Int large", Value::Int(1_735_689_600_000)),
        ("Float", Value::Float(1.5)),
        ("String", Value::String("hi".into())),
        ("Bytes", Value::Bytes(vec![0xde, 0xad])),
        ("List", Value::List(vec![Value::Int(1), Value::Int(2)])),
        ("Map", Value::Map(vec![("k".into(), Value::Bool(false))])),
    ];
    for (label, value) in values {
        let _ = writeln!(out, "-- {label}: props = [[2, {value:?}]]");
        let frame = shared_types::protocol::encode_props(&[(2, value)]);
        hex_dump(&mut out, &frame);
        walk(&mut out, &frame);
    }

    section(
        &mut out,
        "16. The same ops without field names (rmp_serde::to_vec), as the log hash chain uses",
    );
    let ops = vec![Op::Put {
        entity: TASK,
        id: GlobalId(PEER_A, 1),
        props: vec![
            (TASK_TEXT, Value::String("Buy milk".into())),
            (TASK_CLOCK, Value::Int(1)),
        ],
    }];
    let compact = rmp_serde::to_vec(&ops).unwrap_or_default();
    hex_dump(&mut out, &compact);
    walk(&mut out, &compact);

    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}

fn section(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n==== {title}\n");
}

fn client(out: &mut String, message: &ClientMessage) {
    let frame = encode(message);
    assert_eq!(
        decode_client(&frame).ok().as_ref(),
        Some(message),
        "round trip"
    );
    frame_out(out, &format!("{message:?}"), &frame);
}

fn server(out: &mut String, message: &ServerMessage) {
    let frame = encode(message);
    assert_eq!(
        decode_server(&frame).ok().as_ref(),
        Some(message),
        "round trip"
    );
    frame_out(out, &format!("{message:?}"), &frame);
}

fn frame_out(out: &mut String, what: &str, frame: &[u8]) {
    let _ = writeln!(out, "-- {what}\n{} bytes:", frame.len());
    hex_dump(out, frame);
    walk(out, frame);
    let _ = writeln!(out);
}

/// Offset, 16 bytes in hex, as `xxd` does (without the text column).
fn hex_dump(out: &mut String, bytes: &[u8]) {
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "{:04x}: {}", line * 16, hex.join(" "));
    }
}

/// Prints every MessagePack token with its bytes and meaning, indented by nesting.
fn walk(out: &mut String, bytes: &[u8]) {
    let mut pos = 0;
    // Remaining items of each open container.
    let mut open: Vec<usize> = Vec::new();
    while pos < bytes.len() {
        let (len, text, items) = token(&bytes[pos..]);
        let shown: Vec<String> = bytes[pos..pos + len]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let shown = if shown.len() > 12 {
            format!("{} … ({len} bytes)", shown[..12].join(" "))
        } else {
            shown.join(" ")
        };
        let _ = writeln!(out, "  {:<48} {}{}", shown, "  ".repeat(open.len()), text);
        pos += len;
        // This token fills one slot of its parent; containers whose slots are all filled end.
        if let Some(top) = open.last_mut() {
            *top -= 1;
        }
        while open.last() == Some(&0) {
            open.pop();
        }
        if items > 0 {
            open.push(items);
        }
    }
}

/// One token at the start of `b`: its length in bytes (header and payload for scalars, header
/// only for containers), a description, and for containers the number of items that follow
/// (a map of n entries has 2n items).
fn token(b: &[u8]) -> (usize, String, usize) {
    let be = |n: usize| {
        b[1..=n]
            .iter()
            .fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
    };
    let text = |len: usize, skip: usize| String::from_utf8_lossy(&b[skip..skip + len]).into_owned();
    match b[0] {
        x @ 0x00..=0x7f => (1, format!("positive fixint {x}"), 0),
        x @ 0x80..=0x8f => {
            let n = usize::from(x & 0x0f);
            (
                1,
                format!("fixmap, {}", count(n, "entry", "entries")),
                2 * n,
            )
        }
        x @ 0x90..=0x9f => {
            let n = usize::from(x & 0x0f);
            (1, format!("fixarray, {}", count(n, "item", "items")), n)
        }
        x @ 0xa0..=0xbf => {
            let n = usize::from(x & 0x1f);
            (1 + n, format!("fixstr({n}) {:?}", text(n, 1)), 0)
        }
        0xc0 => (1, "nil".into(), 0),
        0xc2 => (1, "false".into(), 0),
        0xc3 => (1, "true".into(), 0),
        0xc4 => {
            let n = be(1) as usize;
            (2 + n, format!("bin 8, {n} bytes"), 0)
        }
        0xc5 => {
            let n = be(2) as usize;
            (3 + n, format!("bin 16, {n} bytes"), 0)
        }
        0xca => (5, format!("float 32 {}", f32::from_bits(be(4) as u32)), 0),
        0xcb => (9, format!("float 64 {}", f64::from_bits(be(8))), 0),
        0xcc => (2, format!("uint 8 {}", be(1)), 0),
        0xcd => (3, format!("uint 16 {}", be(2)), 0),
        0xce => (5, format!("uint 32 {}", be(4)), 0),
        0xcf => (9, format!("uint 64 {} (0x{:016x})", be(8), be(8)), 0),
        0xd0 => (2, format!("int 8 {}", be(1) as u8 as i8), 0),
        0xd1 => (3, format!("int 16 {}", be(2) as u16 as i16), 0),
        0xd2 => (5, format!("int 32 {}", be(4) as u32 as i32), 0),
        0xd3 => (
            9,
            format!("int 64 {} (as u64: 0x{:016x})", be(8) as i64, be(8)),
            0,
        ),
        0xd9 => {
            let n = be(1) as usize;
            (2 + n, format!("str 8 ({n}) {:?}", text(n, 2)), 0)
        }
        0xda => {
            let n = be(2) as usize;
            (3 + n, format!("str 16 ({n}) {:?}", text(n, 3)), 0)
        }
        0xdc => {
            let n = be(2) as usize;
            (3, format!("array 16, {}", count(n, "item", "items")), n)
        }
        0xde => {
            let n = be(2) as usize;
            (
                3,
                format!("map 16, {}", count(n, "entry", "entries")),
                2 * n,
            )
        }
        x @ 0xe0..=0xff => (1, format!("negative fixint {}", x as i8), 0),
        x => (1, format!("(token 0x{x:02x} not used by this protocol)"), 0),
    }
}

/// `1 entry`, `2 entries`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
