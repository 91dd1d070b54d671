use std::collections::HashMap;

use regorus::Value;

use super::*;

struct Headers(HashMap<&'static str, &'static str>);

impl HeaderLookup for Headers {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).copied()
    }
}

fn headers(pairs: &[(&'static str, &'static str)]) -> Headers {
    Headers(pairs.iter().copied().collect())
}

fn parse_body_built(h: &Headers, body: &str, raw: &[u8]) -> Result<ParsedBody, BodyError> {
    let built = parse_body(h, body, raw, BodyMode::Build);
    // Checking alone accepts and refuses what building does (short of
    // nesting deeper than building goes, tested on its own).
    let checked = parse_body(h, body, raw, BodyMode::Check);
    assert_eq!(
        built.is_ok(),
        checked.is_ok(),
        "check and build disagree on {body:?}"
    );
    if let (Ok(b), Ok(c)) = (&built, &checked) {
        assert_eq!(b.truncated, c.truncated);
    }
    built
}

fn json(text: &str) -> Value {
    Value::from_json_str(text).unwrap()
}

#[test]
fn json_body_is_parsed() {
    let h = headers(&[("content-type", "application/json; charset=utf-8")]);
    let parsed = parse_body_built(&h, r#"{"name": "测试", "n": 1}"#, &[]).unwrap();
    assert_eq!(parsed.value, json(r#"{"name": "测试", "n": 1}"#));
    assert!(!parsed.truncated);
}

#[test]
fn raw_body_is_used_when_body_is_empty() {
    let h = headers(&[("content-type", "application/json")]);
    let parsed = parse_body_built(&h, "", br#"[1,2]"#).unwrap();
    assert_eq!(parsed.value, json("[1,2]"));
}

#[test]
fn empty_json_body_is_null_and_not_truncated() {
    let h = headers(&[("content-type", "application/json")]);
    assert_eq!(parse_body_built(&h, "", &[]).unwrap(), ParsedBody::none());
}

#[test]
fn malformed_json_body_is_an_error() {
    let h = headers(&[("content-type", "application/json")]);
    assert!(matches!(
        parse_body_built(&h, "{not json", &[]),
        Err(BodyError::Json(_))
    ));
}

#[test]
fn json_bodies_read_as_go_reads_them() {
    let h = headers(&[("content-type", "application/json")]);
    let parsed = parse_body_built(&h, r#"{"s": "a\ud800b", "n": 1e400}"#, &[]).unwrap();
    let mut expected = regorus::value::Object::new();
    expected.insert(Value::from("s"), Value::from("a\u{fffd}b"));
    expected.insert(
        Value::from("n"),
        Value::from_numeric_string("1e400").unwrap(),
    );
    assert_eq!(parsed.value, expected.into_value());
}

#[test]
fn deeply_nested_json_is_checked_to_go_s_depth_and_built_to_serde_json_s() {
    let h = headers(&[("content-type", "application/json")]);
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(parse_body(&h, &deep, &[], BodyMode::Check).is_ok());
    let err = parse_body(&h, &deep, &[], BodyMode::Build).unwrap_err();
    assert_eq!(
        err.to_string(),
        "body is not valid JSON: nested deeper than 127 levels"
    );
    let too_deep = format!("{}{}", "[".repeat(10_001), "]".repeat(10_001));
    let err = parse_body(&h, &too_deep, &[], BodyMode::Check).unwrap_err();
    assert_eq!(
        err.to_string(),
        "body is not valid JSON: nested deeper than 10000 levels"
    );
}

#[test]
fn partial_body_header_marks_truncation_without_parsing() {
    let h = headers(&[
        ("content-type", "application/json"),
        (PARTIAL_BODY_HEADER, "true"),
    ]);
    assert_eq!(
        parse_body_built(&h, "{broken", &[]).unwrap(),
        ParsedBody::truncated()
    );

    let fits = headers(&[
        ("content-type", "application/json"),
        (PARTIAL_BODY_HEADER, "false"),
    ]);
    assert_eq!(
        parse_body_built(&fits, "{}", &[]).unwrap().value,
        json("{}")
    );
}

#[test]
fn content_length_larger_than_body_marks_truncation() {
    let h = headers(&[
        ("content-type", "application/json"),
        ("content-length", "100"),
    ]);
    assert_eq!(
        parse_body_built(&h, "{\"a\":", &[]).unwrap(),
        ParsedBody::truncated()
    );

    let exact = headers(&[
        ("content-type", "application/json"),
        ("content-length", "2"),
    ]);
    assert_eq!(
        parse_body_built(&exact, "{}", &[]).unwrap().value,
        json("{}")
    );

    let unknown = headers(&[
        ("content-type", "application/json"),
        ("content-length", "-1"),
    ]);
    assert_eq!(
        parse_body_built(&unknown, "{}", &[]).unwrap().value,
        json("{}")
    );
}

#[test]
fn unreadable_content_length_is_an_error() {
    let h = headers(&[
        ("content-type", "application/json"),
        ("content-length", "ten"),
    ]);
    assert_eq!(
        parse_body_built(&h, "{}", &[]),
        Err(BodyError::ContentLength("ten".into()))
    );
}

#[test]
fn form_body_gives_arrays_of_strings() {
    let h = headers(&[("content-type", "application/x-www-form-urlencoded")]);
    let parsed = parse_body_built(&h, "user=al+ice&role=a&role=b", &[]).unwrap();
    assert_eq!(
        parsed.value,
        json(r#"{"user": ["al ice"], "role": ["a", "b"]}"#)
    );
}

#[test]
fn form_body_with_bad_escape_is_an_error() {
    let h = headers(&[("content-type", "application/x-www-form-urlencoded")]);
    assert!(matches!(
        parse_body_built(&h, "a=%zz", &[]),
        Err(BodyError::Form(_))
    ));
}

#[test]
fn multipart_body_collects_fields_and_parses_json_parts() {
    let h = headers(&[("content-type", "multipart/form-data; boundary=XyZ")]);
    let body = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"k\": [1]}\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nsecond\r\nline\r\n\
                --XyZ\r\nContent-Disposition: attachment; name=\"ignored\"\r\n\r\nx\r\n\
                --XyZ--\r\n";
    let parsed = parse_body_built(&h, body, &[]).unwrap();
    assert_eq!(
        parsed.value,
        json(r#"{"title": ["hello", "second\r\nline"], "meta": [{"k": [1]}]}"#)
    );
}

#[test]
fn multipart_without_boundary_parameter_is_null() {
    let h = headers(&[("content-type", "multipart/form-data")]);
    assert_eq!(
        parse_body_built(&h, "--x\r\n", &[]).unwrap(),
        ParsedBody::none()
    );
}

#[test]
fn unterminated_multipart_is_an_error() {
    let h = headers(&[("content-type", "multipart/form-data; boundary=b")]);
    let body = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue";
    assert!(matches!(
        parse_body_built(&h, body, &[]),
        Err(BodyError::Multipart(_))
    ));
}

#[test]
fn multipart_json_part_that_is_not_json_is_an_error() {
    let h = headers(&[("content-type", "multipart/form-data; boundary=b")]);
    let body = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: application/json\r\n\r\n{x\r\n--b--";
    assert!(matches!(
        parse_body_built(&h, body, &[]),
        Err(BodyError::MultipartJson { .. })
    ));
}

#[test]
fn other_content_types_and_missing_content_type_give_null() {
    let text = headers(&[("content-type", "text/plain")]);
    assert_eq!(
        parse_body_built(&text, "hello", &[]).unwrap(),
        ParsedBody::none()
    );
    let none = headers(&[]);
    assert_eq!(
        parse_body_built(&none, "{}", &[]).unwrap(),
        ParsedBody::none()
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(body in ".{0,200}", ct in proptest::sample::select(vec![
        "application/json", "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=b", "text/plain",
    ])) {
        let h = Headers([("content-type", ct)].into_iter().collect());
        let _ = parse_body_built(&h, &body, &[]);
    }
}
