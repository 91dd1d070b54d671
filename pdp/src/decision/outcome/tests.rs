use regorus::Value;

use super::*;

fn decision(json: &str) -> Result<TenantDecision, MalformedDecision> {
    read_decision(&Value::from_json_str(json).unwrap())
}

fn object(json: &str) -> ObjectDecision {
    match decision(json).unwrap() {
        TenantDecision::Object(o) => o,
        other => panic!("expected an object decision, got {other:?}"),
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn booleans_are_decisions() {
    assert_eq!(decision("true").unwrap(), TenantDecision::Bool(true));
    assert_eq!(decision("false").unwrap(), TenantDecision::Bool(false));
}

#[test]
fn other_types_are_malformed() {
    assert_eq!(
        decision("\"yes\""),
        Err(MalformedDecision::NotBoolOrObject("string"))
    );
    assert_eq!(
        decision("[true]"),
        Err(MalformedDecision::NotBoolOrObject("array"))
    );
}

#[test]
fn object_without_allowed_is_malformed() {
    assert_eq!(
        decision(r#"{"headers": {}}"#),
        Err(MalformedDecision::MissingAllowed)
    );
    assert!(matches!(
        decision(r#"{"allowed": "true"}"#),
        Err(MalformedDecision::Field {
            field: "allowed",
            ..
        })
    ));
}

#[test]
fn allowed_object_reads_every_request_side_field() {
    let d = object(
        r#"{"allowed": true,
            "headers": {"x-user": "alice", "x-roles": ["a", "b"]},
            "request_headers_to_remove": ["authorization"],
            "response_headers_to_add": [{"x-a": "1"}, {"x-b": "2"}],
            "query_parameters_to_set": {"tenant": "t", "v": ["1", "2"]},
            "query_parameters_to_remove": ["debug"],
            "dynamic_metadata": {"reason": "ok"},
            "body": 5, "http_status": "ignored on allow"}"#,
    );
    assert!(d.allowed);
    assert_eq!(
        d.headers,
        pairs(&[("x-roles", "a"), ("x-roles", "b"), ("x-user", "alice")])
    );
    assert_eq!(d.request_headers_to_remove, ["authorization"]);
    assert_eq!(
        d.response_headers_to_add,
        pairs(&[("x-a", "1"), ("x-b", "2")])
    );
    assert_eq!(
        d.query_parameters_to_set,
        pairs(&[("tenant", "t"), ("v", "1"), ("v", "2")])
    );
    assert_eq!(d.query_parameters_to_remove, ["debug"]);
    assert!(d.dynamic_metadata.is_some());
    assert_eq!(d.body, None);
}

#[test]
fn denied_object_reads_body_and_status_and_ignores_request_side_fields() {
    let d = object(
        r#"{"allowed": false, "http_status": 401, "body": "token required",
            "headers": {"www-authenticate": "Bearer"},
            "request_headers_to_remove": 7}"#,
    );
    assert!(!d.allowed);
    assert_eq!(d.http_status, 401);
    assert_eq!(d.body.as_deref(), Some("token required"));
    assert_eq!(d.headers, pairs(&[("www-authenticate", "Bearer")]));
}

#[test]
fn denied_status_defaults_to_403() {
    assert_eq!(object(r#"{"allowed": false}"#).http_status, 403);
}

#[test]
fn invalid_statuses_are_malformed() {
    for status in ["418", "999", "0", "401.5", "\"401\"", "-1"] {
        let json = format!(r#"{{"allowed": false, "http_status": {status}}}"#);
        assert!(
            matches!(
                decision(&json),
                Err(MalformedDecision::Field {
                    field: "http_status",
                    ..
                })
            ),
            "{status}"
        );
    }
}

#[test]
fn wrongly_typed_fields_are_malformed() {
    let cases = [
        (r#"{"allowed": true, "headers": "x"}"#, "headers"),
        (r#"{"allowed": false, "headers": {"a": 1}}"#, "headers"),
        (r#"{"allowed": true, "headers": [{"a": [1]}]}"#, "headers"),
        (
            r#"{"allowed": true, "dynamic_metadata": []}"#,
            "dynamic_metadata",
        ),
        (
            r#"{"allowed": true, "request_headers_to_remove": "a"}"#,
            "request_headers_to_remove",
        ),
        (
            r#"{"allowed": true, "request_headers_to_remove": [1]}"#,
            "request_headers_to_remove",
        ),
        (
            r#"{"allowed": true, "response_headers_to_add": 1}"#,
            "response_headers_to_add",
        ),
        (
            r#"{"allowed": true, "query_parameters_to_set": ["a"]}"#,
            "query_parameters_to_set",
        ),
        (
            r#"{"allowed": true, "query_parameters_to_set": {"a": 1}}"#,
            "query_parameters_to_set",
        ),
        (
            r#"{"allowed": true, "query_parameters_to_remove": {}}"#,
            "query_parameters_to_remove",
        ),
        (r#"{"allowed": false, "body": {"a": 1}}"#, "body"),
    ];
    for (json, expected) in cases {
        match decision(json) {
            Err(MalformedDecision::Field { field, .. }) => assert_eq!(field, expected, "{json}"),
            other => panic!("{json}: expected a field error, got {other:?}"),
        }
    }
}

#[test]
fn sets_are_accepted_where_arrays_are() {
    let mut object = regorus::value::Object::new();
    object.insert(Value::from("allowed"), Value::from(true));
    let set: std::collections::BTreeSet<Value> = [Value::from("b"), Value::from("a")].into();
    object.insert(Value::from("request_headers_to_remove"), Value::from(set));
    let d = read_decision(&object.into_value()).unwrap();
    let TenantDecision::Object(d) = d else {
        panic!()
    };
    assert_eq!(d.request_headers_to_remove, ["a", "b"]);
}
