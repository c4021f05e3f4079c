use super::*;

#[test]
fn iso_dates() {
    let check = |ms: i64, expected: &str| assert_eq!(iso_from_ms(ms), expected, "{ms}");
    check(0, "1970-01-01T00:00:00.000Z");
    check(1_700_000_000_123, "2023-11-14T22:13:20.123Z");
    check(951_782_400_000, "2000-02-29T00:00:00.000Z");
    check(-1, "1969-12-31T23:59:59.999Z");
}

#[test]
fn base64_padding() {
    let check = |input: &[u8], expected: &str| assert_eq!(base64(input), expected);
    check(b"", "");
    check(b"f", "Zg==");
    check(b"fo", "Zm8=");
    check(b"foo", "Zm9v");
    check(b"foobar", "Zm9vYmFy");
    check(&[0xff, 0xfe], "//4=");
}

#[test]
fn object_ids() {
    assert_eq!(parse_object_id("7"), Some(GlobalId(0, 7)));
    assert_eq!(parse_object_id("A1:7"), Some(GlobalId(0xA1, 7)));
    assert_eq!(parse_object_id("x"), None);
    assert_eq!(parse_object_id("1:"), None);
    assert_eq!(render_id(GlobalId(0, 7)), json!(7));
    assert_eq!(render_id(GlobalId(0xA1, 7)), json!("A1:7"));
}

#[test]
fn openapi_fragments_cover_every_route() {
    use crate::admin::{
        events::EventsApi, history::HistoryApi, schema::SchemaApi, trial::TrialApi,
    };
    let mut doc = DataApi::openapi();
    for other in [
        SchemaApi::openapi(),
        HistoryApi::openapi(),
        EventsApi::openapi(),
        TrialApi::openapi(),
    ] {
        doc.merge(other);
    }
    let paths: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "/api/data/entities",
            "/api/data/entities/{name}/objects",
            "/api/data/entities/{name}/objects/{id}",
            "/api/data/export",
            "/api/data/export/{name}",
            "/api/events",
            "/api/events/export",
            "/api/history",
            "/api/history/{seq}",
            "/api/schema",
            "/api/schema/clients",
            "/api/schema/current",
            "/api/schema/versions",
            "/api/schema/versions/{id}/accept-clients",
            "/api/schema/versions/{id}/model",
            "/api/trial",
            "/api/trial/accept",
        ]
    );
    let schemas = &doc.components.as_ref().expect("components").schemas;
    for name in [
        "ObjectPage",
        "SchemaVersion",
        "HistoryPage",
        "EventPage",
        "TrialStatus",
        "ErrorBody",
    ] {
        assert!(
            schemas.contains_key(name),
            "{name} missing: {:?}",
            schemas.keys()
        );
    }
    // The JSON document renders.
    assert!(
        doc.to_json()
            .expect("json")
            .contains("\"/api/trial/accept\"")
    );
}
