use serde_json::json;
use sync_model::Model;

use super::*;

fn model() -> Model {
    Model::from_json(include_bytes!("../../tests/fixtures/all-types-model.json"))
        .expect("fixture model loads")
        .model
}

/// Converts `input` as the value of property `name` of `Everything`, expects `expected`, and
/// expects the value to convert back to `back` (the canonical JSON form).
fn check(name: &str, input: Json, expected: Value, back: Json) {
    let model = model();
    let entity = model.entity_by_name("Everything").expect("entity");
    let property = entity.property_by_name(name).expect("property");
    let value = value_from_json(entity, property, &input)
        .unwrap_or_else(|e| panic!("{name}: {input} failed: {e}"));
    assert_eq!(value, expected, "{name}: {input}");
    assert_eq!(value_to_json(property, &value), back, "{name} back");
}

/// Converts `input` as the value of property `name` and expects an error whose message
/// contains every one of `parts`.
fn check_err(name: &str, input: Json, parts: &[&str]) {
    let model = model();
    let entity = model.entity_by_name("Everything").expect("entity");
    let property = entity.property_by_name(name).expect("property");
    let error = value_from_json(entity, property, &input)
        .expect_err(&format!("{name}: {input} must fail"))
        .to_string();
    for part in parts {
        assert!(error.contains(part), "{error:?} lacks {part:?}");
    }
}

#[test]
fn scalars_round_trip() {
    check("vBool", json!(true), Value::Bool(true), json!(true));
    check("vByte", json!(-128), Value::Int(-128), json!(-128));
    check("vByte", json!(255), Value::Int(255), json!(255));
    check("vShort", json!(-32768), Value::Int(-32768), json!(-32768));
    check("vChar", json!(65), Value::Int(65), json!(65));
    check("vChar", json!("é"), Value::Int(0xe9), json!(0xe9));
    check(
        "vInt",
        json!(4_294_967_295u64),
        Value::Int(4_294_967_295),
        json!(4_294_967_295u64),
    );
    check(
        "vLong",
        json!(i64::MIN),
        Value::Int(i64::MIN),
        json!(i64::MIN),
    );
    check("vFloat", json!(1.5), Value::Float(1.5), json!(1.5));
    check("vFloat", json!(2), Value::Float(2.0), json!(2.0));
    check("vDouble", json!(-0.25), Value::Float(-0.25), json!(-0.25));
    check(
        "vString",
        json!("héllo"),
        Value::String("héllo".into()),
        json!("héllo"),
    );
    check(
        "vDate",
        json!(1_700_000_000_000u64),
        Value::Int(1_700_000_000_000),
        json!(1_700_000_000_000u64),
    );
    check(
        "vDateNano",
        json!(1_700_000_000_000_000_000u64),
        Value::Int(1_700_000_000_000_000_000),
        json!(1_700_000_000_000_000_000u64),
    );
    check("vRelation", json!(7), Value::Int(7), json!(7));
    check("vRelation", json!(0), Value::Null, Json::Null);
}

#[test]
fn doubles_survive_their_text() {
    // What `get` prints, `put` reads back to the same bits. The first value came back one ULP off
    // before serde_json's float_roundtrip (found by fuzz/json_object).
    let model = model();
    let entity = model.entity_by_name("Everything").expect("entity");
    let property = entity.property_by_name("vDouble").expect("property");
    for x in [0.000_047_678_040_573_373_444, 0.1, 1e-300, 5e-324, f64::MAX] {
        let object = object_to_json(entity, 1, &[(property.id.id, Value::Float(x))]);
        let text = to_ordered_string(entity, &object);
        let parsed: Json = serde_json::from_str(&text).expect("valid JSON");
        let (_, props) = object_from_json(entity, &parsed).expect("converts");
        let value = props.iter().find(|(p, _)| *p == property.id.id);
        assert_eq!(value, Some(&(property.id.id, Value::Float(x))), "{text}");
    }
}

#[test]
fn unsigned_long_uses_the_full_u64_range() {
    check(
        "vUnsignedLong",
        json!(u64::MAX),
        Value::Int(-1),
        json!(u64::MAX),
    );
    // Without the UNSIGNED flag the same bits read back as a signed value.
    check("vLong", json!(u64::MAX), Value::Int(-1), json!(-1));
}

#[test]
fn null_is_no_value_for_every_type() {
    let model = model();
    let entity = model.entity_by_name("Everything").expect("entity");
    for property in entity.properties.iter().filter(|p| !p.is_id()) {
        assert_eq!(
            value_from_json(entity, property, &Json::Null),
            Ok(Value::Null),
            "{}",
            property.name
        );
        assert_eq!(value_to_json(property, &Value::Null), Json::Null);
    }
}

#[test]
fn vectors_round_trip() {
    check(
        "vBoolVector",
        json!([true, false]),
        Value::List(vec![Value::Bool(true), Value::Bool(false)]),
        json!([true, false]),
    );
    check(
        "vByteVector",
        json!("AAH/"),
        Value::Bytes(vec![0, 1, 255]),
        json!("AAH/"),
    );
    check(
        "vByteVector",
        json!([0, 1, 255]),
        Value::Bytes(vec![0, 1, 255]),
        json!("AAH/"),
    );
    let ints = |v: &[i64]| Value::List(v.iter().map(|i| Value::Int(*i)).collect());
    check(
        "vShortVector",
        json!([-1, 65535]),
        ints(&[-1, 65535]),
        json!([-1, 65535]),
    );
    check(
        "vCharVector",
        json!([97, "b"]),
        ints(&[97, 98]),
        json!([97, 98]),
    );
    check("vIntVector", json!([1, -2]), ints(&[1, -2]), json!([1, -2]));
    check(
        "vLongVector",
        json!([i64::MAX]),
        ints(&[i64::MAX]),
        json!([i64::MAX]),
    );
    check(
        "vDateVector",
        json!([0, 1000]),
        ints(&[0, 1000]),
        json!([0, 1000]),
    );
    check("vDateNanoVector", json!([5]), ints(&[5]), json!([5]));
    let floats = |v: &[f64]| Value::List(v.iter().map(|f| Value::Float(*f)).collect());
    check(
        "vFloatVector",
        json!([0.5, 1]),
        floats(&[0.5, 1.0]),
        json!([0.5, 1.0]),
    );
    check("vDoubleVector", json!([]), floats(&[]), json!([]));
    check(
        "vStringVector",
        json!(["a", ""]),
        Value::List(vec![
            Value::String("a".into()),
            Value::String(String::new()),
        ]),
        json!(["a", ""]),
    );
}

#[test]
fn flex_takes_any_json() {
    let input = json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}});
    let expected = Value::Map(vec![
        (
            "a".into(),
            Value::List(vec![
                Value::Int(1),
                Value::Float(2.5),
                Value::String("x".into()),
                Value::Null,
                Value::Bool(true),
            ]),
        ),
        ("b".into(), Value::Map(vec![("c".into(), Value::Int(-3))])),
    ]);
    check("vFlex", input.clone(), expected, input);
    check(
        "vFlex",
        json!("plain"),
        Value::String("plain".into()),
        json!("plain"),
    );
}

#[test]
fn wrong_types_name_the_property_and_value() {
    check_err(
        "vBool",
        json!(1),
        &["Everything.vBool (Bool)", "true or false", "found 1"],
    );
    check_err(
        "vInt",
        json!("12"),
        &["Everything.vInt (Int)", "an integer", "\"12\""],
    );
    check_err("vInt", json!(1.5), &["vInt", "an integer", "1.5"]);
    check_err(
        "vByte",
        json!(256),
        &["Everything.vByte (Byte)", "256", "out of range -128..=255"],
    );
    check_err("vShort", json!(-32769), &["vShort", "out of range"]);
    check_err("vChar", json!("ab"), &["vChar", "one-character string"]);
    check_err("vChar", json!(-1), &["vChar", "out of range 0..=65535"]);
    check_err("vFloat", json!(1e300), &["vFloat", "32-bit float range"]);
    check_err("vString", json!(5), &["vString (String)", "a string"]);
    check_err("vRelation", json!(-1), &["vRelation", "out of range"]);
    check_err(
        "vByteVector",
        json!("not base64!"),
        &["vByteVector", "invalid base64"],
    );
    check_err(
        "vByteVector",
        json!([256]),
        &["vByteVector", "out of range"],
    );
    check_err("vIntVector", json!(3), &["vIntVector", "an array"]);
    check_err(
        "vIntVector",
        json!([1, "x"]),
        &["vIntVector", "an integer", "\"x\""],
    );
    check_err("vStringVector", json!([1]), &["vStringVector", "a string"]);
    check_err(
        "vDate",
        json!("2024-01-01"),
        &["vDate (Date)", "an integer"],
    );
}

#[test]
fn objects_convert_by_property_name() {
    let model = model();
    let entity = model.entity_by_name("Everything").expect("entity");
    let (id, props) =
        object_from_json(entity, &json!({"ID": 0, "vstring": "x", "vInt": 3})).expect("converts");
    assert_eq!(id, None);
    assert_eq!(props.len(), entity.properties.len() - 1);
    let string_id = entity.property_by_name("vString").expect("p").id.id;
    assert!(props.contains(&(string_id, Value::String("x".into()))));
    assert!(props.iter().filter(|(_, v)| *v != Value::Null).count() == 2);

    let back = object_to_json(entity, 12, &props);
    assert_eq!(back.keys().next().map(String::as_str), Some("id"));
    assert_eq!(back["id"], json!(12));
    assert_eq!(back["vString"], json!("x"));
    assert_eq!(back["vInt"], json!(3));
    assert_eq!(back["vBool"], Json::Null);
    assert_eq!(back.len(), entity.properties.len());

    let (id, _) = object_from_json(entity, &json!({"id": 9})).expect("converts");
    assert_eq!(id, Some(9));
}

#[test]
fn object_errors() {
    let model = model();
    let entity = model.entity_by_name("Everything").expect("entity");
    let err = |json: Json| {
        object_from_json(entity, &json)
            .expect_err("fails")
            .to_string()
    };
    assert_eq!(
        err(json!([1])),
        "Everything: expected a JSON object, found [1]"
    );
    assert_eq!(
        err(json!({"nope": 1})),
        "Everything has no property \"nope\""
    );
    assert!(err(json!({"id": -4})).contains("non-negative integer id"));
    assert!(err(json!({"id": "4"})).contains("Everything.id"));
}

#[test]
fn long_values_are_shortened_in_errors() {
    let model = model();
    let entity = model.entity_by_name("Everything").expect("entity");
    let property = entity.property_by_name("vInt").expect("p");
    let long = Json::String("x".repeat(500));
    let error = value_from_json(entity, property, &long)
        .expect_err("fails")
        .to_string();
    assert!(error.len() < 200, "{error}");
    assert!(error.ends_with('…'));
}

#[test]
fn ordered_text_follows_the_model() {
    let model = model();
    let entity = model.entity_by_name("Note").expect("entity");
    let object = object_to_json(entity, 3, &[(2, Value::String("t".into()))]);
    assert_eq!(
        to_ordered_string(entity, &object),
        r#"{"id":3,"title":"t"}"#
    );
    let parsed: Json = serde_json::from_str(&to_ordered_string(entity, &object)).expect("valid");
    assert_eq!(parsed, Json::Object(object));
}
