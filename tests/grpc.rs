//! Decisions over real gRPC on loopback, with check requests shaped like
//! those Envoy 1.40 sends: plaintext, mTLS with SPIFFE principals, raw
//! headers, JSON, form and partial bodies; the answers for each outcome.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test set-up fails loudly; a panic is the failure report"
)]

use envoy_types::pb::envoy::service::auth::v3::{CheckResponse, check_response::HttpResponse};
use pdp::extauthz::OnError;
use pdp_e2e::{
    fixture::{
        ACME_API, ACME_STOREFRONT, Fixture, GLOBEX_API, GLOBEX_INVENTORY, INGRESS, code, echo,
    },
    requests::Check,
};

fn denied(response: &CheckResponse) -> (i32, String, Vec<(String, String)>) {
    match &response.http_response {
        Some(HttpResponse::DeniedResponse(d)) => (
            d.status.as_ref().map_or(0, |s| s.code),
            d.body.clone(),
            d.headers
                .iter()
                .filter_map(|h| h.header.as_ref())
                .map(|h| (h.key.clone(), h.value.clone()))
                .collect(),
        ),
        other => panic!("expected a denied response, got {other:?}"),
    }
}

fn ok_headers(response: &CheckResponse) -> Vec<(String, String)> {
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect(),
        other => panic!("expected an ok response, got {other:?}"),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn same_tenant_mtls_read_is_allowed_by_rbac() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let request = Check::http("GET", "/api/orders/17", "api.acme.svc.cluster.local")
        .mtls(ACME_STOREFRONT, ACME_API)
        .build();
    let response = f.check(request).await.unwrap();
    assert_eq!(code(&response), 0);
    assert!(
        response.http_response.is_none(),
        "boolean allow carries no HTTP response"
    );
}

#[tokio::test]
async fn rbac_denies_writes_to_a_reader_with_a_plain_403() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let request = Check::http("POST", "/api/orders", "api.acme.svc.cluster.local")
        .mtls(ACME_STOREFRONT, ACME_API)
        .body("application/json", r#"{"item": "x"}"#)
        .build();
    let response = f.check(request).await.unwrap();
    assert_eq!(code(&response), 7);
    assert!(
        response.http_response.is_none(),
        "Envoy applies its default 403"
    );
}

#[tokio::test]
async fn cross_tenant_mtls_request_is_denied_by_the_system_policy() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let request = Check::http("GET", "/api/orders", "api.acme.svc.cluster.local")
        .mtls(GLOBEX_INVENTORY, ACME_API)
        .build();
    let response = f.check(request).await.unwrap();
    assert_eq!(code(&response), 7);
    let (status, body, headers) = denied(&response);
    assert_eq!(status, 403);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "system_policy_denied");
    let reason = body["reasons"][0].as_str().unwrap();
    assert!(reason.contains("不同租户之间不能直接通信"), "{reason}");
    assert!(reason.contains("globex -> acme"), "{reason}");
    assert_eq!(
        header(&headers, "x-pdp-reason"),
        Some("system_policy_denied")
    );
}

#[tokio::test]
async fn shared_ingress_callers_reach_a_tenant_whose_policy_then_decides() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let public = Check::http("GET", "/healthz", "api.acme.example")
        .mtls(INGRESS, ACME_API)
        .build();
    assert_eq!(code(&f.check(public).await.unwrap()), 0);
    let private = Check::http("GET", "/api/orders", "api.acme.example")
        .mtls(INGRESS, ACME_API)
        .build();
    let response = f.check(private).await.unwrap();
    assert_eq!(code(&response), 7);
    assert!(
        response.http_response.is_none(),
        "denied by acme's policy, not the system's"
    );
}

#[tokio::test]
async fn object_decision_injects_and_removes_headers() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let request = Check::http("GET", "/items", "shop.globex.example")
        .extension("tenant", "globex")
        .header("x-debug", "1")
        .build();
    let response = f.check(request).await.unwrap();
    assert_eq!(code(&response), 0);
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("expected an ok response");
    };
    let headers = ok_headers(&response);
    assert_eq!(header(&headers, "x-globex-tenant"), Some("globex"));
    assert_eq!(header(&headers, "x-globex-caller"), Some("anonymous"));
    assert_eq!(ok.headers_to_remove, ["x-debug"]);
    assert_eq!(ok.response_headers_to_add.len(), 1);
    let metadata = &response.dynamic_metadata.as_ref().unwrap().fields;
    assert!(metadata.contains_key("decision_id"));
    assert!(metadata.contains_key("caller"));
    assert!(metadata.contains_key("pdp"));
}

#[tokio::test]
async fn object_decision_denies_anonymous_writes_with_its_own_status_and_body() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let anonymous = Check::http("PUT", "/items/3", "shop.globex.example")
        .extension("tenant", "globex")
        .build();
    let (status, body, headers) = denied(&f.check(anonymous).await.unwrap());
    assert_eq!(status, 401);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert!(body.contains("write not permitted"), "{body}");

    let same_tenant_reader = Check::http("PUT", "/items/3", "shop.globex.example")
        .mtls(GLOBEX_API, GLOBEX_API)
        .extension("tenant", "globex")
        .build();
    let (status, _, _) = denied(&f.check(same_tenant_reader).await.unwrap());
    assert_eq!(status, 403);

    let writer = Check::http("PUT", "/items/3", "shop.globex.example")
        .mtls(GLOBEX_INVENTORY, GLOBEX_API)
        .build();
    assert_eq!(code(&f.check(writer).await.unwrap()), 0);
}

#[tokio::test]
async fn unknown_and_unresolved_tenants_are_denied_with_a_reason() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let unknown = Check::http("GET", "/", "x.example")
        .extension("tenant", "initech")
        .build();
    let (status, body, _) = denied(&f.check(unknown).await.unwrap());
    assert_eq!(status, 403);
    assert!(
        body.contains("unknown_tenant") && body.contains("initech"),
        "{body}"
    );

    let unresolved = Check::http("GET", "/", "nowhere.example").build();
    let (status, body, _) = denied(&f.check(unresolved).await.unwrap());
    assert_eq!(status, 403);
    assert!(body.contains("tenant_unresolved"), "{body}");

    let invalid = Check::http("GET", "/", "x.example")
        .extension("tenant", "../acme")
        .build();
    let (status, body, _) = denied(&f.check(invalid).await.unwrap());
    assert_eq!(status, 403);
    assert!(body.contains("tenant_unresolved"), "{body}");
}

#[tokio::test]
async fn input_reaches_the_policy_as_opa_envoy_builds_it() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let request = echo("GET", "//admin/x%2Fy?a=1&a=2&b=").build();
    let headers = ok_headers(&f.check(request).await.unwrap());
    assert_eq!(
        header(&headers, "x-parsed-path"),
        Some(r#"["admin","x","y"]"#)
    );
    assert_eq!(
        header(&headers, "x-parsed-query"),
        Some(r#"{"a":["1","2"],"b":[""]}"#)
    );
    assert_eq!(header(&headers, "x-parsed-body"), Some("null"));
    assert_eq!(header(&headers, "x-truncated"), Some("false"));
    assert_eq!(header(&headers, "x-time-seconds"), Some("1764781200"));
    assert_eq!(
        header(&headers, "x-version"),
        Some(r#"{"encoding":"protojson","ext_authz":"v3"}"#)
    );
    assert_eq!(header(&headers, "x-destination-tenant"), Some("echo"));
    assert_eq!(header(&headers, "x-source-tenant"), Some("none"));
}

#[tokio::test]
async fn json_form_and_multipart_bodies_are_parsed() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let json = echo("POST", "/o").body("application/json", r#"{"名前": "テスト", "n": [1, 2]}"#);
    let headers = ok_headers(&f.check(json.build()).await.unwrap());
    assert_eq!(
        header(&headers, "x-parsed-body"),
        Some(r#"{"n":[1,2],"名前":"テスト"}"#)
    );

    let form = echo("POST", "/o").body("application/x-www-form-urlencoded", "a=1&a=2&b=x+y");
    let headers = ok_headers(&f.check(form.build()).await.unwrap());
    assert_eq!(
        header(&headers, "x-parsed-body"),
        Some(r#"{"a":["1","2"],"b":["x y"]}"#)
    );

    let multipart =
        "--BOUNDARY\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--BOUNDARY--\r\n";
    let request = echo("POST", "/o").body("multipart/form-data; boundary=BOUNDARY", multipart);
    let headers = ok_headers(&f.check(request.build()).await.unwrap());
    assert_eq!(header(&headers, "x-parsed-body"), Some(r#"{"f":["v"]}"#));
}

#[tokio::test]
async fn partial_bodies_are_marked_truncated() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let big = format!(r#"{{"data": "{}"}}"#, "x".repeat(10_000));
    let request = echo("POST", "/o").partial_body("application/json", &big, 8192);
    let headers = ok_headers(&f.check(request.build()).await.unwrap());
    assert_eq!(header(&headers, "x-parsed-body"), Some("null"));
    assert_eq!(header(&headers, "x-truncated"), Some("true"));
}

#[tokio::test]
async fn raw_headers_give_the_same_decision_input_as_the_header_map() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let request = echo("POST", "/o?x=1").body("application/json", r#"{"a": 1}"#);
    let from_map = ok_headers(&f.check(request.clone().build()).await.unwrap());
    let from_raw = ok_headers(&f.check(request.raw_headers().build()).await.unwrap());
    assert_eq!(from_map, from_raw);
    assert_eq!(
        header(&from_raw, "x-content-type"),
        Some("application/json")
    );
}

#[tokio::test]
async fn unparseable_requests_are_answered_400() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    let bad_json = echo("POST", "/o").body("application/json", "{not json");
    let response = f.check(bad_json.build()).await.unwrap();
    assert_eq!(code(&response), 7);
    let (status, body, _) = denied(&response);
    assert_eq!(status, 400);
    assert!(body.starts_with("request_parse_error: "), "{body}");

    let bad_escape = echo("GET", "/a%zz");
    let (status, _, _) = denied(&f.check(bad_escape.build()).await.unwrap());
    assert_eq!(status, 400);
}

#[tokio::test]
async fn failures_are_grpc_errors_by_default() {
    let mut f = Fixture::start(OnError::GrpcError).await.unwrap();
    for (tenant, expected) in [
        ("undefined", "undefined decision"),
        ("conflict", "conflict"),
        ("malformed", "allowed"),
    ] {
        let request = Check::http("GET", "/", "x.example")
            .extension("tenant", tenant)
            .build();
        let status = f.check(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unknown, "{tenant}");
        assert!(
            status.message().contains(expected),
            "{tenant}: {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn failures_can_be_answered_with_an_explicit_403() {
    let mut f = Fixture::start(OnError::Deny).await.unwrap();
    let request = Check::http("GET", "/", "x.example")
        .extension("tenant", "undefined")
        .build();
    let (status, body, headers) = denied(&f.check(request).await.unwrap());
    assert_eq!(status, 403);
    assert_eq!(header(&headers, "x-pdp-reason"), Some("undefined_decision"));
    assert!(body.contains("undefined_decision"));
}
