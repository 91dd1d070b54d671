//! JSON bodies against serde_json's verdicts and values (chosen documents,
//! arbitrary text, JSON with one edit, generated documents), and against
//! Go's where the two part: depth, unpaired surrogates, large numbers.

use regorus::Value;

use super::{Invalid, MAX_BUILD_DEPTH, MAX_DEPTH, check, parse};

/// Whether the check passes `text`.
fn is_json(text: &str) -> bool {
    check(text).is_ok()
}

/// What serde_json builds, the reference where it builds anything.
fn serde_value(text: &str) -> Option<Value> {
    serde_json::from_str::<Value>(text).ok()
}

/// serde_json's verdict, the reference.
fn serde_accepts(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

#[test]
fn documents_serde_json_accepts_are_json() {
    for text in [
        "null",
        " true ",
        "false\n",
        "0",
        "-0.5e+10",
        "1E400",
        "123456789012345678901234567890",
        r#""a\"b\\c\/d\b\f\n\r\t\u00e9\uD800""#,
        "[]",
        "{}",
        r#"{"a": [1, {"b": null}], "c": "d"}"#,
        "\t[ 1 , 2 ]\r\n",
    ] {
        assert!(is_json(text), "{text}");
        assert!(serde_accepts(text), "{text}");
    }
}

#[test]
fn documents_serde_json_refuses_are_not_json() {
    for text in [
        "",
        " ",
        "nul",
        "True",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "\"abc",
        "\"a\u{1}b\"",
        r#""\x""#,
        r#""\u12g4""#,
        "[1,]",
        "[1 2]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{1: 2}",
        "{\"a\"}",
        "[}",
        "{]",
        "[[]",
        "1 2",
        "{} x",
    ] {
        assert!(!is_json(text), "{text:?}");
        assert!(!serde_accepts(text), "{text:?}");
    }
}

/// `depth` nested containers of each kind and mixed, as texts.
fn nested(depth: usize) -> [String; 3] {
    let (pairs, odd) = (depth / 2, depth % 2);
    [
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        format!("{}1{}", r#"{"k":"#.repeat(depth), "}".repeat(depth)),
        format!(
            "{}{}1{}{}",
            "[".repeat(odd),
            r#"[{"k":"#.repeat(pairs),
            "}]".repeat(pairs),
            "]".repeat(odd)
        ),
    ]
}

#[test]
fn the_check_stops_at_go_s_depth() {
    for depth in [1, 127, 128, 129, 300, MAX_DEPTH] {
        for text in nested(depth) {
            assert!(is_json(&text), "{depth}");
        }
        let half = depth.div_ceil(2);
        let crossed = format!("{}1{}", r#"[{"k":"#.repeat(half), "]}".repeat(half));
        assert_eq!(check(&crossed), Err(Invalid::Syntax), "{depth}");
    }
    for text in nested(MAX_DEPTH + 1) {
        assert_eq!(check(&text), Err(Invalid::TooDeep(MAX_DEPTH)));
    }
}

#[test]
fn building_stops_at_serde_json_s_depth() {
    for depth in [1, 2, MAX_BUILD_DEPTH - 1, MAX_BUILD_DEPTH] {
        for text in nested(depth) {
            assert_eq!(parse(&text), Ok(serde_value(&text).unwrap()), "{depth}");
        }
    }
    for text in nested(MAX_BUILD_DEPTH + 1) {
        assert_eq!(parse(&text), Err(Invalid::TooDeep(MAX_BUILD_DEPTH)));
        assert!(serde_value(&text).is_none());
    }
}

#[test]
fn unpaired_surrogates_read_as_go_reads_them() {
    for (text, expected) in [
        (r#""\ud800""#, "\u{fffd}"),
        (r#""\udc00""#, "\u{fffd}"),
        (r#""\ud800\u0041""#, "\u{fffd}A"),
        (r#""\ud800\ud800\udc00""#, "\u{fffd}\u{10000}"),
        (r#""\udc00\ud800""#, "\u{fffd}\u{fffd}"),
        (r#""a\ud83d\ude00b""#, "a\u{1f600}b"),
        (r#""\ud83dx""#, "\u{fffd}x"),
    ] {
        assert_eq!(parse(text), Ok(Value::from(expected)), "{text}");
        assert!(is_json(text), "{text}");
    }
}

#[test]
fn numbers_beyond_64_bits_stay_exact() {
    for text in [
        "123456789012345678901234567890",
        "-98765432109876543210",
        "1e400",
    ] {
        let exact = Value::from_numeric_string(text).unwrap();
        assert_eq!(parse(text), Ok(exact), "{text}");
    }
    assert_eq!(parse("-0"), Ok(Value::from(0_i64)));
    assert_eq!(parse("18446744073709551615"), Ok(Value::from(u64::MAX)));
    assert_eq!(parse("-9223372036854775808"), Ok(Value::from(i64::MIN)));
    assert_eq!(parse("2.5e-3"), Ok(Value::from(0.0025_f64)));
}

#[test]
fn repeated_keys_keep_the_last_value() {
    assert_eq!(
        parse(r#"{"a": 1, "a": 2}"#),
        Ok(serde_value(r#"{"a": 2}"#).unwrap())
    );
}

proptest::proptest! {
    #[test]
    fn any_text_gets_serde_json_verdict(text in r#"[\[\]{}:,"\\ \t\nul0-9.eE+\-abftrsx\u{1}]{0,24}"#) {
        proptest::prop_assert_eq!(is_json(&text), serde_accepts(&text), "{:?}", text);
    }

    #[test]
    fn json_with_one_edit_gets_serde_json_verdict(
        value in json_value(),
        at in 0_usize..200,
        edit in 0_u8..3,
        byte in proptest::sample::select(br#"[]{}:,"\ 0-.eE+ux1"#.to_vec()),
    ) {
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        let at = text.char_indices().map(|(i, _)| i).nth(at % text.len().max(1)).unwrap_or(0);
        match edit {
            0 => text.insert(at, char::from(byte)),
            1 if !text.is_empty() => { text.remove(at); }
            _ => {}
        }
        proptest::prop_assert_eq!(is_json(&text), serde_accepts(&text), "{:?}", text);
    }
}

/// JSON values up to a few levels deep.
fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1e9_f64..1e9).prop_map(serde_json::Value::from),
        "[a-z\"\\\\\u{e9}\n]{0,6}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-z]{0,3}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
