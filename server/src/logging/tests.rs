use std::time::Duration;

use super::*;

fn check(
    thread: u32,
    secs: u64,
    nanos: u32,
    level: tracing::Level,
    tag: Option<&str>,
    expected: &str,
) {
    let line = format_line(thread, Duration::new(secs, nanos), level, tag, "hello");
    assert_eq!(line, format!("{expected}\n"));
}

#[test]
fn line_format_matches_the_docs() {
    // 14:09:07.5792 UTC on some day.
    let t = 19_000 * 86_400 + 14 * 3600 + 9 * 60 + 7;
    check(
        1,
        t,
        579_200_000,
        tracing::Level::INFO,
        Some("SySvAp"),
        "001-14:09:07.5792 [INFO ] [SySvAp] hello",
    );
    check(
        14,
        t,
        579_250_000,
        tracing::Level::DEBUG,
        Some("SvrUws"),
        "014-14:09:07.5792 [DEBUG] [SvrUws] hello",
    );
    check(
        2,
        t,
        0,
        tracing::Level::WARN,
        Some("Sync"),
        "002-14:09:07.0000 [WARN ] [Sync  ] hello",
    );
    check(
        123,
        t,
        999_999_999,
        tracing::Level::ERROR,
        None,
        "123-14:09:07.9999 [ERROR] hello",
    );
}

#[test]
fn level_names_round_trip() {
    for level in LogLevel::ALL {
        assert_eq!(level.as_str().parse::<LogLevel>(), Ok(level));
    }
    assert_eq!("DEBUG".parse::<LogLevel>(), Ok(LogLevel::Debug));
    let err = "loud".parse::<LogLevel>().unwrap_err();
    assert!(err.to_string().contains("\"loud\""), "{err}");
}

#[test]
fn threshold_filters_by_level_and_source() {
    let logger = Logger {
        level: LevelHandle(Arc::new(AtomicU8::new(LogLevel::Info as u8))),
        out: Output::Stdout,
    };
    let ours_debug = tracing::Metadata::new(
        "e",
        "SvSync",
        tracing::Level::DEBUG,
        None,
        None,
        None,
        tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
        tracing::metadata::Kind::EVENT,
    );
    let dep_info = tracing::Metadata::new(
        "e",
        "hyper::proto",
        tracing::Level::INFO,
        None,
        None,
        None,
        tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
        tracing::metadata::Kind::EVENT,
    );
    assert!(!logger.threshold_allows(&ours_debug));
    assert!(!logger.threshold_allows(&dep_info));
    logger.level.set(LogLevel::Debug);
    assert!(logger.threshold_allows(&ours_debug));
    assert!(logger.threshold_allows(&dep_info));
    logger.level.set(LogLevel::None);
    assert!(!logger.threshold_allows(&ours_debug));
}

struct TestCallsite;
static CALLSITE: TestCallsite = TestCallsite;
static CALLSITE_METADATA: tracing::Metadata<'static> = tracing::Metadata::new(
    "e",
    "SvSync",
    tracing::Level::DEBUG,
    None,
    None,
    None,
    tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
    tracing::metadata::Kind::EVENT,
);
impl tracing::callsite::Callsite for TestCallsite {
    fn set_interest(&self, _: tracing::subscriber::Interest) {}
    fn metadata(&self) -> &tracing::Metadata<'_> {
        &CALLSITE_METADATA
    }
}
