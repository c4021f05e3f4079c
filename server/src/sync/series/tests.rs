use super::*;

const CONNECTS: usize = 0;
const CONNECTED: usize = 1;

/// A reading with `connects` total, `connected` clients and everything else zero.
fn reading(connects: u64, connected: u64) -> Reading {
    let mut r = [0; SERIES_COUNT];
    r[CONNECTS] = connects;
    r[CONNECTED] = connected;
    r
}

/// 2026-01-01T00:00:00Z in ms: aligned to every level.
const T0: i64 = 1_767_225_600_000;

fn secs(s: i64) -> i64 {
    T0 + s * 1000
}

/// (start offset in s, connects, min, max) per bucket of a snapshot.
fn summary(snapshot: &Snapshot) -> Vec<(i64, u128, u64, u64)> {
    snapshot
        .buckets
        .iter()
        .map(|b| {
            (
                b.start_s - T0 / 1000,
                b.aggs[CONNECTS].sum,
                b.aggs[CONNECTED].min,
                b.aggs[CONNECTED].max,
            )
        })
        .collect()
}

#[test]
fn the_table_matches_the_reading_layout() {
    assert_eq!(SERIES[CONNECTS].name, "connects");
    assert_eq!(SERIES[CONNECTED].kind, Kind::Gauge);
    assert_eq!(SERIES[TX_LOG_HEAD].name, "txLogHead");
    let mut names: Vec<_> = SERIES.iter().map(|d| d.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), SERIES_COUNT, "series names are unique");
    // A fresh counter set reads as all zero.
    assert_eq!(read(&Counters::default(), 0, 0), [0; SERIES_COUNT]);
}

#[test]
fn counters_become_deltas_and_gauges_keep_min_avg_max() {
    let series = Series::new();
    series.record(secs(0), &reading(2, 1));
    series.record(secs(1), &reading(5, 3));
    series.record(secs(2), &reading(5, 2));
    let s = series.snapshot(Level::Second, secs(2), None);
    assert_eq!(summary(&s), vec![(0, 2, 1, 1), (1, 3, 3, 3), (2, 0, 2, 2)]);
    assert!(s.last_partial);

    let m = series.snapshot(Level::Minute, secs(2), None);
    assert_eq!(summary(&m), vec![(0, 5, 1, 3)]);
    assert_eq!(m.buckets[0].samples, 3);
    assert!((m.buckets[0].aggs[CONNECTED].avg(3) - 2.0).abs() < 1e-9);
}

#[test]
fn levels_roll_over_at_utc_boundaries_and_keep_their_capacity() {
    let series = Series::new();
    // One connect per second for 61 s, then one more in the next hour.
    for s in 0..=60 {
        series.record(secs(s), &reading(s as u64 + 1, 0));
    }
    let second = series.snapshot(Level::Second, secs(60), None);
    assert_eq!(second.buckets.len(), 60);
    assert_eq!(second.buckets[0].start_s, T0 / 1000 + 1);
    let minute = series.snapshot(Level::Minute, secs(60), None);
    assert_eq!(
        summary(&minute),
        vec![(0, 60, 0, 0), (60, 1, 0, 0)],
        "seconds 0..59 in the first minute"
    );
    assert!(minute.last_partial);

    series.record(secs(3600), &reading(100, 0));
    let hour = series.snapshot(Level::Hour, secs(3600), None);
    assert_eq!(summary(&hour), vec![(0, 61, 0, 0), (3600, 39, 0, 0)]);
    let day = series.snapshot(Level::Day, secs(3600), None);
    assert_eq!(summary(&day), vec![(0, 100, 0, 0)]);

    // Two minutes later, the second ring has nothing within its 60 s.
    assert!(
        series
            .snapshot(Level::Second, secs(3720), None)
            .buckets
            .is_empty()
    );
    // The first minute is out of the minute ring's hour after 60 more minutes.
    let later = series.snapshot(Level::Minute, secs(3600 + 59 * 60), None);
    assert_eq!(summary(&later), vec![(3600, 39, 0, 0)]);
}

#[test]
fn a_live_reading_is_included_without_being_recorded() {
    let series = Series::new();
    series.record(secs(0), &reading(1, 1));
    let live = reading(4, 2);
    let s = series.snapshot(Level::Second, secs(1) + 500, Some(&live));
    assert_eq!(summary(&s), vec![(0, 1, 1, 1), (1, 3, 2, 2)]);
    // Not recorded: the next real sample still counts from the last recorded one.
    series.record(secs(2), &reading(4, 2));
    let s = series.snapshot(Level::Minute, secs(2), None);
    assert_eq!(summary(&s), vec![(0, 4, 1, 2)]);
}

#[test]
fn rings_never_exceed_their_capacity() {
    let series = Series::new();
    for day in 0..40 {
        series.record(secs(day * 86_400), &reading(day as u64, 0));
    }
    for level in Level::ALL {
        let state = series.state.lock().unwrap();
        assert!(
            state.levels[level as usize].len() <= level.capacity(),
            "{level:?}"
        );
    }
    let days = series.snapshot(Level::Day, secs(39 * 86_400), None);
    assert_eq!(days.buckets.len(), 30);
}
