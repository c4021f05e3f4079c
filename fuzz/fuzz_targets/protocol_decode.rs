//! Arbitrary bytes as a frame from a client, a frame from the server and a stored value list.
//!
//! Decoding must never panic. Whatever decodes must encode again, and that encoding must decode
//! to a message that encodes to the same bytes (the encoding is canonical after one round).

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared_types::protocol::{decode_client, decode_props, decode_server, encode, encode_props};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode_client(data) {
        let frame = encode(&message);
        let again = decode_client(&frame).expect("a re-encoded client message decodes");
        assert_eq!(
            encode(&again),
            frame,
            "client message encoding is not stable"
        );
    }
    if let Ok(message) = decode_server(data) {
        let frame = encode(&message);
        let again = decode_server(&frame).expect("a re-encoded server message decodes");
        assert_eq!(
            encode(&again),
            frame,
            "server message encoding is not stable"
        );
    }
    if let Ok(props) = decode_props(data) {
        let bytes = encode_props(&props);
        let again = decode_props(&bytes).expect("re-encoded props decode");
        assert_eq!(encode_props(&again), bytes, "props encoding is not stable");
    }
});
