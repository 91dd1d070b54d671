//! The JSON check against serde_json's verdicts: chosen documents, deep
//! nesting, arbitrary text and JSON with one edit.

use super::is_json;

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

#[test]
fn nesting_has_no_depth_limit() {
    for depth in [1, 127, 128, 129, 300, 5_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(is_json(&arrays), "{depth}");
        let objects = format!("{}1{}", r#"{"k":"#.repeat(depth), "}".repeat(depth));
        assert!(is_json(&objects), "{depth}");
        let mixed = format!("{}1{}", r#"[{"k":"#.repeat(depth), "}]".repeat(depth));
        assert!(is_json(&mixed), "{depth}");
        let crossed = format!("{}1{}", r#"[{"k":"#.repeat(depth), "]}".repeat(depth));
        assert!(!is_json(&crossed), "{depth}");
    }
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
