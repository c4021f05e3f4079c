use std::time::{Duration, Instant};

use super::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn backs_off_after_max_failures_doubling_up_to_the_cap() {
    let throttle = Throttle::default();
    let start = Instant::now();
    for _ in 1..MAX_FAILURES {
        throttle.failed_at("k", start);
        assert_eq!(throttle.check_at("k", start), Ok(()));
    }
    let mut now = start;
    let mut waits = Vec::new();
    for _ in 0..10 {
        throttle.failed_at("k", now);
        let wait = throttle.check_at("k", now).expect_err("blocked");
        waits.push(wait.as_secs());
        now += wait;
        assert_eq!(throttle.check_at("k", now), Ok(()), "free after the wait");
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    assert_eq!(throttle.check_at("other", now), Ok(()));
}

#[test]
fn success_and_an_expired_window_forget_failures() {
    let throttle = Throttle::default();
    let start = Instant::now();
    for _ in 0..MAX_FAILURES {
        throttle.failed_at("k", start);
    }
    assert!(throttle.check_at("k", start).is_err());
    throttle.succeeded("k");
    assert_eq!(throttle.check_at("k", start), Ok(()));

    for _ in 1..MAX_FAILURES {
        throttle.failed_at("k", start);
    }
    // Failures of an older window don't count towards the next one.
    let later = start + FAILURE_WINDOW + secs(1);
    throttle.failed_at("k", later);
    assert_eq!(throttle.check_at("k", later), Ok(()));
}

#[test]
fn the_map_stays_bounded() {
    let throttle = Throttle::default();
    let now = Instant::now();
    for i in 0..MAX_TRACKED + 50 {
        throttle.failed_at(
            &format!("address {i}"),
            now + Duration::from_millis(i as u64),
        );
    }
    assert!(throttle.len() <= MAX_TRACKED, "{}", throttle.len());
    // The newest key is still tracked.
    let newest = format!("address {}", MAX_TRACKED + 49);
    for _ in 1..MAX_FAILURES {
        throttle.failed_at(&newest, now + secs(20));
    }
    assert!(throttle.check_at(&newest, now + secs(20)).is_err());
}

#[test]
fn a_refund_takes_back_one_reserved_failure() {
    let throttle = Throttle::default();
    let now = Instant::now();
    for _ in 0..MAX_FAILURES {
        throttle.failed_at("k", now);
    }
    assert!(throttle.check_at("k", now).is_err());
    // The last attempt turned out right.
    throttle.refund("k");
    assert_eq!(throttle.check_at("k", now), Ok(()));
    throttle.failed_at("k", now);
    assert!(throttle.check_at("k", now).is_err());
    throttle.refund("unknown");
}
