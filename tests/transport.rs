//! The gRPC and HTTP transport around decisions: answers over the wire
//! equal in-process answers, the message size limit, unimplemented
//! methods, gRPC health and reflection, the HTTP listener, and many
//! clients at once.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test set-up fails loudly; a panic is the failure report"
)]

use envoy_types::pb::envoy::service::auth::v3::{
    CheckResponse, authorization_client::AuthorizationClient, check_response::HttpResponse,
};
use pdp::{config::Config, extauthz::OnError};
use pdp_e2e::{
    bundles::BundleDir,
    fixture::{ACME_API, ACME_STOREFRONT, Fixture, GLOBEX_API, GLOBEX_INVENTORY, code, echo},
    http,
    requests::Check,
    service::RunningService,
};

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
    let mut f = Fixture::start(OnError::Deny).await.unwrap();
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
    let f = Fixture::start(OnError::GrpcError).await.unwrap();
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
async fn grpc_health_reports_the_authorization_service_serving() {
    let f = Fixture::start(OnError::GrpcError).await.unwrap();
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
    let f = Fixture::start(OnError::GrpcError).await.unwrap();
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
    let f = Fixture::start(OnError::GrpcError).await.unwrap();
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
    let f = Fixture::start(OnError::GrpcError).await.unwrap();
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
