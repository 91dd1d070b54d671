//! The service over real gRPC on loopback, with check requests shaped like
//! those Envoy 1.40 sends: plaintext, mTLS with SPIFFE principals, raw
//! headers, JSON, form and partial bodies.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test set-up fails loudly; a panic is the failure report"
)]

use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, authorization_client::AuthorizationClient,
    check_response::HttpResponse,
};
use pdp::{config::Config, extauthz::OnError};
use pdp_e2e::{bundles::BundleDir, http, requests::Check, service::RunningService};

const ACME_API: &str = "spiffe://cluster.local/ns/acme/sa/api";
const ACME_STOREFRONT: &str = "spiffe://cluster.local/ns/acme/sa/storefront";
const GLOBEX_INVENTORY: &str = "spiffe://cluster.local/ns/globex/sa/inventory";
const GLOBEX_API: &str = "spiffe://cluster.local/ns/globex/sa/api";
const INGRESS: &str = "spiffe://cluster.local/ns/istio-ingress/sa/istio-ingressgateway";

/// A tenant whose decision reports what it saw of the input, so tests can
/// check input construction over the wire.
const ECHO_POLICY: &str = r#"package envoy.authz

http := input.attributes.request.http

decision := {
	"allowed": true,
	"headers": {
		"x-parsed-body": json.marshal(input.parsed_body),
		"x-truncated": json.marshal(input.truncated_body),
		"x-parsed-path": json.marshal(input.parsed_path),
		"x-parsed-query": json.marshal(input.parsed_query),
		"x-source-tenant": object.get(input.attributes.source, ["labels", "tenant"], "none"),
		"x-destination-tenant": input.attributes.destination.labels.tenant,
		"x-content-type": object.get(http.headers, "content-type", "none"),
		"x-time-seconds": json.marshal(input.attributes.request.time.seconds),
		"x-version": json.marshal(input.version),
	},
}
"#;

struct Fixture {
    _bundles: BundleDir,
    service: RunningService,
    client: AuthorizationClient<tonic::transport::Channel>,
}

async fn fixture(on_error: OnError) -> Fixture {
    let bundles = BundleDir::from_examples().unwrap();
    bundles
        .write_tenant(
            "echo",
            &[
                (
                    ".manifest",
                    r#"{"metadata": {"decision_path": "envoy/authz/decision"}}"#,
                ),
                ("policy.rego", ECHO_POLICY),
            ],
        )
        .unwrap();
    bundles
        .write_tenant(
            "undefined",
            &[("policy.rego", "package envoy.authz\nallow if input.never\n")],
        )
        .unwrap();
    bundles
        .write_tenant(
            "conflict",
            &[(
                "policy.rego",
                "package envoy.authz\nallow := true\nallow := false\n",
            )],
        )
        .unwrap();
    bundles
        .write_tenant(
            "malformed",
            &[(
                "policy.rego",
                "package envoy.authz\nallow := {\"ok\": true}\n",
            )],
        )
        .unwrap();

    let mut config = Config::default();
    config.bundles.root = bundles.path().to_path_buf();
    config.decision.on_error = on_error;
    config.engine.worker_threads = 2;
    let service = RunningService::start(config).await.unwrap();
    let client = AuthorizationClient::connect(format!("http://{}", service.grpc))
        .await
        .unwrap();
    Fixture {
        _bundles: bundles,
        service,
        client,
    }
}

impl Fixture {
    async fn check(&mut self, request: CheckRequest) -> Result<CheckResponse, tonic::Status> {
        self.client
            .check(request)
            .await
            .map(tonic::Response::into_inner)
    }
}

fn code(response: &CheckResponse) -> i32 {
    response.status.as_ref().map_or(-1, |s| s.code)
}

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

fn echo(method: &str, path: &str) -> Check {
    Check::http(method, path, "echo.example").extension("tenant", "echo")
}

#[tokio::test]
async fn same_tenant_mtls_read_is_allowed_by_rbac() {
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::GrpcError).await;
    let big = format!(r#"{{"data": "{}"}}"#, "x".repeat(10_000));
    let request = echo("POST", "/o").partial_body("application/json", &big, 8192);
    let headers = ok_headers(&f.check(request.build()).await.unwrap());
    assert_eq!(header(&headers, "x-parsed-body"), Some("null"));
    assert_eq!(header(&headers, "x-truncated"), Some("true"));
}

#[tokio::test]
async fn raw_headers_give_the_same_decision_input_as_the_header_map() {
    let mut f = fixture(OnError::GrpcError).await;
    let request = echo("POST", "/o?x=1").body("application/json", r#"{"a": 1}"#);
    let from_map = ok_headers(&f.check(request.clone().build()).await.unwrap());
    let from_raw = ok_headers(&f.check(request.raw_headers().build()).await.unwrap());
    assert_eq!(from_map, from_raw);
    assert_eq!(
        header(&from_raw, "x-content-type"),
        Some("application/json")
    );
}

/// The response with its per-decision ID removed from the metadata and
/// from a denial's body, to compare two answers.
fn without_decision_id(mut response: CheckResponse) -> CheckResponse {
    use envoy_types::pb::google::protobuf::value::Kind;
    let id = response
        .dynamic_metadata
        .as_mut()
        .and_then(|metadata| metadata.fields.remove("decision_id"))
        .and_then(|value| value.kind);
    let Some(Kind::StringValue(id)) = id else {
        panic!("no decision_id in {response:?}");
    };
    if let Some(HttpResponse::DeniedResponse(denied)) = response.http_response.as_mut() {
        denied.body = denied.body.replace(&id, "");
    }
    response
}

#[tokio::test]
async fn answers_over_grpc_are_the_in_process_answers() {
    // The server decodes requests its own way (headers lifted out of the
    // protobuf map); the in-process path takes prost's decoding.
    let mut f = fixture(OnError::Deny).await;
    let requests = [
        echo("POST", "/o?x=1")
            .header("x-a", "1")
            .header("cookie", "s=1")
            .body("application/json", r#"{"a": [1, 2]}"#),
        echo("GET", "/o").raw_headers().header("x-b", "2"),
        Check::http("GET", "/api/orders/7", "api.acme.svc").mtls(ACME_STOREFRONT, ACME_API),
        Check::http("GET", "/api/orders/7", "api.acme.svc").mtls(GLOBEX_INVENTORY, ACME_API),
        Check::http("POST", "/items/1/reserve", "api.globex.svc")
            .mtls(GLOBEX_INVENTORY, GLOBEX_API)
            .header("authorization", "Bearer x"),
        Check::http("GET", "/", "x.example").extension("tenant", "conflict"),
        echo("POST", "/o").body("application/json", "{not json"),
    ];
    for request in requests {
        let request = request.build();
        let over_grpc = f.check(request.clone()).await.unwrap();
        let in_process = f.service.service.check().decide(&request).unwrap();
        assert_eq!(
            without_decision_id(over_grpc),
            without_decision_id(in_process),
            "{request:?}"
        );
    }
}

#[tokio::test]
async fn requests_over_the_size_limit_are_refused() {
    let bundles = BundleDir::from_examples().unwrap();
    let mut config = Config::default();
    config.bundles.root = bundles.path().to_path_buf();
    config.server.grpc_max_message_bytes = 2_048;
    let service = RunningService::start(config).await.unwrap();
    let mut client = AuthorizationClient::connect(format!("http://{}", service.grpc))
        .await
        .unwrap();

    let small = echo("POST", "/o").body("application/json", "{}").build();
    assert!(client.check(small).await.is_ok());
    let large = echo("POST", "/o")
        .body(
            "application/json",
            &format!("{{\"a\": \"{}\"}}", "x".repeat(4_096)),
        )
        .build();
    let status = client.check(large).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
}

#[tokio::test]
async fn other_methods_of_the_authorization_service_are_unimplemented() {
    use tonic::codegen::{Service, http};
    let f = fixture(OnError::GrpcError).await;
    let mut service = pdp::extauthz::AuthorizationService::new(
        f.service.service.check().clone(),
        4 * 1024 * 1024,
    );
    let request = http::Request::builder()
        .method("POST")
        .uri("/envoy.service.auth.v3.Authorization/Report")
        .header("content-type", "application/grpc")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = service.call(request).await.unwrap();
    let status = response.headers().get("grpc-status").unwrap();
    assert_eq!(status, "12", "{response:?}");
}

#[tokio::test]
async fn unparseable_requests_are_answered_400() {
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::GrpcError).await;
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
    let mut f = fixture(OnError::Deny).await;
    let request = Check::http("GET", "/", "x.example")
        .extension("tenant", "undefined")
        .build();
    let (status, body, headers) = denied(&f.check(request).await.unwrap());
    assert_eq!(status, 403);
    assert_eq!(header(&headers, "x-pdp-reason"), Some("undefined_decision"));
    assert!(body.contains("undefined_decision"));
}

#[tokio::test]
async fn grpc_health_reports_the_authorization_service_serving() {
    let f = fixture(OnError::GrpcError).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", f.service.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let reply = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "envoy.service.auth.v3.Authorization".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[tokio::test]
async fn reflection_lists_the_authorization_service() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let f = fixture(OnError::GrpcError).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", f.service.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("expected a service list, got {reply:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"envoy.service.auth.v3.Authorization"),
        "{names:?}"
    );
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
}

#[tokio::test]
async fn http_listener_reports_health_and_status() {
    let f = fixture(OnError::GrpcError).await;
    let health = http::get(f.service.http, "/health").await.unwrap();
    assert_eq!((health.status, health.body.as_str()), (200, "{}"));
    let bundles = http::get(f.service.http, "/health?bundles").await.unwrap();
    assert_eq!(bundles.status, 200);

    let status = http::get(f.service.http, "/v1/status").await.unwrap();
    let status: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(
        status["result"]["system"]["active_revision"],
        "system-2026.12.1"
    );
    assert_eq!(
        status["result"]["tenants"]["acme"]["active_revision"],
        "acme-2026.12.1"
    );
}

#[tokio::test]
async fn concurrent_checks_from_many_clients_all_decide() {
    let f = fixture(OnError::GrpcError).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut client = f.client.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..50 {
                let (source, expect) = if (i + j) % 2 == 0 {
                    (ACME_STOREFRONT, 0)
                } else {
                    (GLOBEX_INVENTORY, 7)
                };
                let request = Check::http("GET", "/api/catalog", "api.acme.svc")
                    .mtls(source, ACME_API)
                    .build();
                let response = client.check(request).await.unwrap().into_inner();
                assert_eq!(code(&response), expect);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}
