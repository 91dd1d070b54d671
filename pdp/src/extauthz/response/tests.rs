use envoy_types::pb::{
    envoy::service::auth::v3::{CheckResponse, check_response::HttpResponse},
    google::protobuf::value::Kind,
};
use regorus::Value;

use super::*;
use crate::decision::{EvalError, EvalErrorKind, MalformedDecision, read_decision};

fn info() -> DecisionInfo<'static> {
    DecisionInfo {
        decision_id: "d-1",
        tenant: Some("acme"),
        revision: Some("r7"),
        system_revision: Some("s3"),
    }
}

fn decision(json: &str) -> TenantDecision {
    read_decision(&Value::from_json_str(json).unwrap()).unwrap()
}

fn metadata_string(response: &CheckResponse, key: &str) -> Option<String> {
    let value = response.dynamic_metadata.as_ref()?.fields.get(key)?;
    match &value.kind {
        Some(Kind::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

fn header_pairs(options: &[HeaderValueOption]) -> Vec<(String, String)> {
    options
        .iter()
        .filter_map(|o| o.header.as_ref())
        .map(|h| (h.key.clone(), h.value.clone()))
        .collect()
}

#[test]
fn boolean_allow_is_ok_without_http_response() {
    let r = decided(&TenantDecision::Bool(true), &info()).into_response();
    assert_eq!(r.status.as_ref().unwrap().code, 0);
    assert!(r.http_response.is_none());
    assert_eq!(metadata_string(&r, "decision_id").as_deref(), Some("d-1"));
}

#[test]
fn boolean_deny_is_permission_denied_without_http_response() {
    let r = decided(&TenantDecision::Bool(false), &info()).into_response();
    assert_eq!(r.status.as_ref().unwrap().code, 7);
    assert!(r.http_response.is_none());
}

#[test]
#[allow(
    deprecated,
    reason = "checks that the deprecated `append` stays unset, as OPA-Envoy leaves it"
)]
fn allowed_object_fills_every_ok_response_field() {
    let d = decision(
        r#"{"allowed": true,
            "headers": {"x-user": "alice"},
            "request_headers_to_remove": ["authorization"],
            "response_headers_to_add": {"x-served": "pdp"},
            "query_parameters_to_set": {"t": ["1", "2"]},
            "query_parameters_to_remove": ["debug"],
            "dynamic_metadata": {"reason": "ok", "decision_id": "overwritten", "n": 3}}"#,
    );
    let r = decided(&d, &info()).into_response();
    assert_eq!(r.status.as_ref().unwrap().code, 0);
    let Some(HttpResponse::OkResponse(ok)) = &r.http_response else {
        panic!("expected an ok response: {r:?}");
    };
    assert_eq!(
        header_pairs(&ok.headers),
        [("x-user".to_owned(), "alice".to_owned())]
    );
    assert!(
        ok.headers
            .iter()
            .all(|h| h.append.is_none() && h.append_action == 0)
    );
    assert_eq!(ok.headers_to_remove, ["authorization"]);
    assert_eq!(
        header_pairs(&ok.response_headers_to_add),
        [("x-served".to_owned(), "pdp".to_owned())]
    );
    let params: Vec<(&str, &str)> = ok
        .query_parameters_to_set
        .iter()
        .map(|q| (q.key.as_str(), q.value.as_str()))
        .collect();
    assert_eq!(params, [("t", "1"), ("t", "2")]);
    assert_eq!(ok.query_parameters_to_remove, ["debug"]);

    assert_eq!(metadata_string(&r, "reason").as_deref(), Some("ok"));
    assert_eq!(metadata_string(&r, "decision_id").as_deref(), Some("d-1"));
    let fields = &r.dynamic_metadata.as_ref().unwrap().fields;
    assert!(matches!(fields["n"].kind, Some(Kind::NumberValue(n)) if n == 3.0));
    let Some(Kind::StructValue(pdp)) = &fields["pdp"].kind else {
        panic!("pdp metadata missing");
    };
    assert!(matches!(&pdp.fields["revision"].kind, Some(Kind::StringValue(s)) if s == "r7"));
    assert!(matches!(&pdp.fields["tenant"].kind, Some(Kind::StringValue(s)) if s == "acme"));
}

#[test]
fn denied_object_fills_status_headers_and_body() {
    let d = decision(
        r#"{"allowed": false, "http_status": 401, "body": "token required",
            "headers": {"www-authenticate": "Bearer"}, "dynamic_metadata": {"why": "no token"}}"#,
    );
    let r = decided(&d, &info()).into_response();
    assert_eq!(r.status.as_ref().unwrap().code, 7);
    let Some(HttpResponse::DeniedResponse(denied)) = &r.http_response else {
        panic!("expected a denied response");
    };
    assert_eq!(denied.status.as_ref().unwrap().code, 401);
    assert_eq!(denied.body, "token required");
    assert_eq!(
        header_pairs(&denied.headers),
        [("www-authenticate".to_owned(), "Bearer".to_owned())]
    );
    assert_eq!(metadata_string(&r, "why").as_deref(), Some("no token"));
}

#[test]
fn denied_object_without_status_is_403_with_empty_body() {
    let r = decided(&decision(r#"{"allowed": false}"#), &info()).into_response();
    let Some(HttpResponse::DeniedResponse(denied)) = &r.http_response else {
        panic!("expected a denied response");
    };
    assert_eq!(denied.status.as_ref().unwrap().code, 403);
    assert_eq!(denied.body, "");
}

#[test]
fn service_denials_carry_reasons_as_json_with_utf8_intact() {
    let reasons =
        vec!["不同租户之间不能直接通信 (cross-tenant traffic is not allowed): b -> a".to_owned()];
    let r = service_denied("system_policy_denied", &reasons, &info()).into_response();
    assert_eq!(r.status.as_ref().unwrap().code, 7);
    let Some(HttpResponse::DeniedResponse(denied)) = &r.http_response else {
        panic!("expected a denied response");
    };
    assert_eq!(denied.status.as_ref().unwrap().code, 403);
    let body: serde_json::Value = serde_json::from_str(&denied.body).unwrap();
    assert_eq!(body["code"], "system_policy_denied");
    assert_eq!(body["reasons"][0], reasons[0]);
    assert_eq!(body["decision_id"], "d-1");
    assert!(denied.body.contains("不同租户之间不能直接通信"));
    assert!(
        header_pairs(&denied.headers)
            .contains(&(REASON_HEADER.to_owned(), "system_policy_denied".to_owned()))
    );
}

#[test]
fn parse_errors_are_400_in_opa_envoy_form() {
    let r = parse_error("invalid URL escape `%zz`", &info()).into_response();
    let status = r.status.as_ref().unwrap();
    assert_eq!(status.code, 7);
    assert_eq!(
        status.message,
        "request_parse_error: invalid URL escape `%zz`"
    );
    let Some(HttpResponse::DeniedResponse(denied)) = &r.http_response else {
        panic!("expected a denied response");
    };
    assert_eq!(denied.status.as_ref().unwrap().code, 400);
    assert_eq!(denied.body, "request_parse_error: invalid URL escape `%zz`");
}

#[test]
fn failures_denied_by_configuration_name_the_code_only() {
    let failures = [
        (Failure::Undefined, "undefined_decision"),
        (
            Failure::Eval(EvalError {
                kind: EvalErrorKind::Conflict,
                message: "policy.rego:3:1: rule conflicts".into(),
            }),
            "eval_conflict_error",
        ),
        (
            Failure::Malformed(MalformedDecision::MissingAllowed),
            "envoyauth_result_error",
        ),
    ];
    for (failure, code) in failures {
        let r = failure_denied(&failure, &info()).into_response();
        let Some(HttpResponse::DeniedResponse(denied)) = &r.http_response else {
            panic!("expected a denied response");
        };
        assert_eq!(denied.status.as_ref().unwrap().code, 403);
        assert!(
            header_pairs(&denied.headers).contains(&(REASON_HEADER.to_owned(), code.to_owned()))
        );
        assert!(
            !denied.body.contains("policy.rego"),
            "policy details stay in the log"
        );
    }
}

#[test]
fn values_convert_to_protobuf_structs() {
    let v = Value::from_json_str(r#"{"a": [1, "x", null, true], "b": {"c": 2.5}}"#).unwrap();
    let proto = to_proto(&v);
    let Some(Kind::StructValue(s)) = proto.kind else {
        panic!("expected a struct");
    };
    let Some(Kind::ListValue(list)) = &s.fields["a"].kind else {
        panic!("expected a list");
    };
    assert_eq!(list.values.len(), 4);
    assert!(matches!(list.values[2].kind, Some(Kind::NullValue(_))));
}
