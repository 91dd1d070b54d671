//! Canonical JSON as OPA hashes it: key order, spacing, numbers, string
//! escapes, repeated keys, YAML input and Go's float formatting.

use super::*;

#[test]
fn objects_are_sorted_and_compact() {
    let text = r#"{"x": {"y": true}, "a": {"b": {"z": true}}}"#;
    assert_eq!(
        canonical_json(text).unwrap(),
        r#"{"a":{"b":{"z":true}},"x":{"y":true}}"#
    );
    assert_eq!(canonical_json(" [1, 2,3] ").unwrap(), "[1,2,3]");
}

#[test]
fn numbers_keep_their_text() {
    assert_eq!(
        canonical_json(r#"[1.0, -0, 1E5, 2.50e-3, 12345678901234567890]"#).unwrap(),
        "[1.0,-0,1E5,2.50e-3,12345678901234567890]"
    );
}

#[test]
fn strings_are_escaped_as_go_escapes_them() {
    let text = r#"["<a&b>", "tab\tnl\n", "\u0001", "\u2028", "é", "\/", "\ud83d\ude00"]"#;
    assert_eq!(
        canonical_json(text).unwrap(),
        "[\"<a&b>\",\"tab\\tnl\\n\",\"\\u0001\",\"\\u2028\",\"é\",\"/\",\"😀\"]"
    );
}

#[test]
fn repeated_keys_keep_the_last_value() {
    assert_eq!(canonical_json(r#"{"a": 1, "a": 2}"#).unwrap(), r#"{"a":2}"#);
}

#[test]
fn malformed_json_is_an_error() {
    for text in [
        "",
        "{",
        "[1,]",
        "{\"a\" 1}",
        "01",
        "1.",
        "tru",
        "[1] x",
        "\"\\x\"",
    ] {
        assert!(canonical_json(text).is_err(), "{text}");
    }
}

#[test]
fn yaml_is_written_as_json() {
    assert_eq!(canonical_yaml("foo: 1\n").unwrap(), r#"{"foo":1}"#);
    assert_eq!(
        canonical_yaml("b: [x, 2.5]\na: {c: null, d: true}\n").unwrap(),
        r#"{"a":{"c":null,"d":true},"b":["x",2.5]}"#
    );
}

#[test]
fn floats_follow_go() {
    assert_eq!(go_float(2.5), "2.5");
    assert_eq!(go_float(1e21), "1e+21");
    assert_eq!(go_float(1.5e-7), "1.5e-7");
    assert_eq!(go_float(100.0), "100");
}
