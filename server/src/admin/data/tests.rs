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
