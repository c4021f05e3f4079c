//! Structured client and server messages (built from the fuzzer's bytes) through the encoder and
//! back: every message the encoder writes must decode, to a message that encodes the same.
//!
//! Bytes are compared rather than messages, since a float NaN is not equal to itself and a code
//! like `LoginCode::Other(20)` comes back as `LoginCode::Ok` with the same number.

#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use shared_types::protocol::{decode_client, decode_server, encode};
use sync_fuzz::{client_message, server_message};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if let Ok(message) = client_message(&mut u) {
        let frame = encode(&message);
        match decode_client(&frame) {
            Ok(decoded) => assert_eq!(encode(&decoded), frame, "{message:?}"),
            Err(e) => panic!("{message:?} encodes to a frame that does not decode: {e}"),
        }
    }
    if let Ok(message) = server_message(&mut u) {
        let frame = encode(&message);
        match decode_server(&frame) {
            Ok(decoded) => assert_eq!(encode(&decoded), frame, "{message:?}"),
            Err(e) => panic!("{message:?} encodes to a frame that does not decode: {e}"),
        }
    }
});
