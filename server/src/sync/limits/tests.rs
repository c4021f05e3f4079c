use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

#[test]
fn slots_are_limited_in_total_and_per_address_and_freed_on_drop() {
    let admission = Admission::new(3, 2, Arc::default());
    let a1 = admission.admit(A).unwrap();
    let _a2 = admission.admit(A).unwrap();
    assert_eq!(admission.admit(A).err(), Some(Refusal::PerAddress(A, 2)));
    let _b1 = admission.admit(B).unwrap();
    assert_eq!(admission.admit(B).err(), Some(Refusal::Total(3)));
    assert_eq!(admission.open(), 3);
    drop(a1);
    assert_eq!(admission.open(), 2);
    let _a3 = admission.admit(A).unwrap();
    assert!(Refusal::Total(3).to_string().contains("maxConnections"));
    assert!(
        Refusal::PerAddress(A, 2)
            .to_string()
            .contains("maxConnectionsPerAddress")
    );
}

#[test]
fn zero_per_address_means_no_limit() {
    let admission = Admission::new(100, 0, Arc::default());
    let slots: Vec<Slot> = (0..100).map(|_| admission.admit(A).unwrap()).collect();
    assert_eq!(admission.admit(B).err(), Some(Refusal::Total(100)));
    drop(slots);
    assert_eq!(admission.open(), 0);
}

#[test]
fn refusals_answer_503_or_429_with_retry_after() {
    for (refusal, status) in [
        (Refusal::Total(1), StatusCode::SERVICE_UNAVAILABLE),
        (Refusal::PerAddress(A, 1), StatusCode::TOO_MANY_REQUESTS),
    ] {
        let response = refusal.into_response();
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}

/// (seconds since start, message bytes) → expected pause in milliseconds.
fn check_rate(messages: u32, bytes: u64, steps: &[(f64, usize, Option<u64>)]) {
    let start = Instant::now();
    let mut rate = InboundRate::new(messages, bytes, start);
    for (i, &(at, size, expected)) in steps.iter().enumerate() {
        let wait = rate.take(size, start + Duration::from_secs_f64(at));
        assert_eq!(
            wait.map(|w| w.as_millis() as u64),
            expected,
            "step {i} ({at} s, {size} bytes)"
        );
    }
}

#[test]
fn the_message_bucket_allows_a_second_of_burst_then_paces() {
    check_rate(
        2,
        0,
        &[
            (0.0, 1, None),
            (0.0, 1, None),
            // The third message in the same instant is half a second early.
            (0.0, 1, Some(500)),
            // After the pause the bucket is back at zero; one more needs another half second.
            (0.5, 1, Some(500)),
            // Long idle refills only up to one second's worth.
            (10.0, 1, None),
            (10.0, 1, None),
            (10.0, 1, Some(500)),
        ],
    );
}

#[test]
fn the_byte_bucket_lets_large_messages_through_as_debt() {
    check_rate(
        0,
        1000,
        &[
            (0.0, 500, None),
            // 3000 bytes when 500 are left: 2500 bytes of debt, 2.5 s at 1000 bytes/s.
            (0.0, 3000, Some(2500)),
            (2.5, 0, None),
        ],
    );
    check_rate(0, 0, &[(0.0, usize::MAX, None)]);
}

#[test]
fn the_longer_of_both_pauses_applies() {
    // 300 bytes at 100 bytes/s pause 2 s; then one byte more is 10 ms of byte debt while the
    // message bucket has refilled.
    check_rate(
        1,
        100,
        &[
            (0.0, 300, Some(2000)),
            (2.0, 1, Some(10)),
            (2.01, 1, Some(990)),
        ],
    );
}
