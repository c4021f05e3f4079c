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

/// An entity with one property of each type that renders specially.
fn sample_entity() -> Entity {
    let model = r#"{
        "entities": [{
            "id": "1:100", "name": "Sample", "flags": 2, "lastPropertyId": "7:107",
            "properties": [
                {"id": "1:101", "name": "id", "type": 6, "flags": 1},
                {"id": "2:102", "name": "blob", "type": 23},
                {"id": "3:103", "name": "flex", "type": 13},
                {"id": "4:104", "name": "nanos", "type": 12},
                {"id": "5:105", "name": "big", "type": 6, "flags": 8192},
                {"id": "6:106", "name": "vector", "type": 28},
                {"id": "7:107", "name": "dates", "type": 31}
            ],
            "relations": []
        }],
        "lastEntityId": "1:100", "lastIndexId": "0:0", "lastRelationId": "0:0",
        "modelVersion": 5, "modelVersionParserMinimum": 5
    }"#;
    let loaded = crate::model::Model::from_json(model.as_bytes()).expect("valid model");
    loaded.model.entities[0].clone()
}

#[test]
fn values_render_by_property_type() {
    let entity = sample_entity();
    let props = vec![
        (2, Value::Bytes(b"foo".to_vec())),
        (
            3,
            Value::Map(vec![
                (
                    "a".into(),
                    Value::List(vec![Value::Int(1), Value::Bool(true)]),
                ),
                ("b".into(), Value::Float(0.5)),
            ]),
        ),
        (4, Value::Int(1_700_000_000_123_456_789)),
        (5, Value::Int(-1)),
        (6, Value::List(vec![Value::Float(1.5), Value::Float(-2.0)])),
        (7, Value::List(vec![Value::Int(0)])),
        (42, Value::String("from a newer model".into())),
    ];
    let bytes = shared_types::protocol::encode_props(&props);
    assert_eq!(
        render(&entity, GlobalId(0, 9), &bytes),
        json!({
            "id": 9,
            "blob": "Zm9v",
            "flex": {"a": [1, true], "b": 0.5},
            "nanos": {"iso": "2023-11-14T22:13:20.123Z", "ns": 1_700_000_000_123_456_789_i64},
            "big": u64::MAX,
            "vector": [1.5, -2.0],
            "dates": [{"iso": "1970-01-01T00:00:00.000Z", "ms": 0}],
            "#42": "from a newer model",
        })
    );
    let broken = render(&entity, GlobalId(1, 1), b"\xc1");
    assert_eq!(broken["id"], "1:1");
    assert!(
        broken["_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("undecodable object")),
        "{broken}"
    );
}
