//! Behind a real Envoy 1.40: requests go client -> Envoy -> (ext_authz to
//! the service) -> upstream, over loopback sockets on ports chosen at run
//! time.
//!
//! Envoy routes by host: each tenant's domain sets the tenant as a context
//! extension. Requests are plaintext, so the calling tenant comes from the
//! `x-source-tenant` header, the mode for a gateway that sets it from an
//! authenticated identity (and strips it from clients).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test set-up fails loudly; a panic is the failure report"
)]

use pdp::{config::Config, tenant::Attribute};
use pdp_e2e::{
    bundles::BundleDir,
    envoy::{EchoUpstream, Envoy},
    service::RunningService,
};

struct Stack {
    _bundles: BundleDir,
    service: Option<RunningService>,
    _upstream: EchoUpstream,
    envoy: Envoy,
}

async fn stack() -> Stack {
    let bundles = BundleDir::from_examples().unwrap();
    let mut config = Config::default();
    config.bundles.root = bundles.path().to_path_buf();
    config.tenancy.source = vec![Attribute::Principal, Attribute::Header];
    config.engine.worker_threads = 1;
    let service = RunningService::start(config).await.unwrap();
    let upstream = EchoUpstream::start().await.unwrap();
    let envoy = Envoy::start(service.grpc, upstream.addr).await.unwrap();
    Stack {
        _bundles: bundles,
        service: Some(service),
        _upstream: upstream,
        envoy,
    }
}

#[tokio::test]
async fn same_tenant_request_reaches_the_upstream_with_injected_headers() {
    let s = stack().await;
    let response = s
        .envoy
        .send(
            "GET",
            "globex.example",
            "/items?page=2",
            &[("x-debug", "1")],
            "",
        )
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    let echoed: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(echoed["headers"]["x-globex-tenant"], "globex");
    assert_eq!(echoed["headers"]["x-globex-caller"], "anonymous");
    assert!(
        echoed["headers"].get("x-debug").is_none(),
        "removed by the decision"
    );
    assert_eq!(
        response.headers.get("x-globex-policy").map(String::as_str),
        Some("globex-2026.12.1")
    );
    assert_eq!(
        s.envoy.counter("http.ingress.ext_authz.ok").await.unwrap(),
        1
    );
}

#[tokio::test]
async fn same_tenant_caller_passes_the_tenants_rbac() {
    let s = stack().await;
    let reader = [
        ("x-api-key", "acme-demo-reader"),
        ("x-source-tenant", "acme"),
    ];
    let allowed = s
        .envoy
        .send("GET", "acme.example", "/api/orders/1", &reader, "")
        .await
        .unwrap();
    assert_eq!(allowed.status, 200);

    let write = s
        .envoy
        .send(
            "POST",
            "acme.example",
            "/api/orders",
            &reader,
            r#"{"item": 1}"#,
        )
        .await
        .unwrap();
    assert_eq!(write.status, 403, "readers may not write");
}

#[tokio::test]
async fn cross_tenant_request_is_denied_with_the_reason() {
    let s = stack().await;
    let response = s
        .envoy
        .send(
            "GET",
            "acme.example",
            "/healthz",
            &[("x-source-tenant", "globex")],
            "",
        )
        .await
        .unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(
        response.headers.get("x-pdp-reason").map(String::as_str),
        Some("system_policy_denied")
    );
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    let reason = body["reasons"][0].as_str().unwrap();
    assert!(reason.contains("不同租户之间不能直接通信"), "{reason}");
    assert!(reason.contains("globex -> acme"), "{reason}");
    assert_eq!(
        s.envoy
            .counter("http.ingress.ext_authz.denied")
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn unknown_tenant_is_denied() {
    let s = stack().await;
    let response = s
        .envoy
        .send("GET", "initech.example", "/", &[], "")
        .await
        .unwrap();
    assert_eq!(response.status, 403);
    assert!(
        response.body.contains("unknown tenant `initech`"),
        "{}",
        response.body
    );
}

#[tokio::test]
async fn envoy_fails_closed_when_the_service_is_down() {
    let mut s = stack().await;
    let before = s
        .envoy
        .send("GET", "globex.example", "/", &[], "")
        .await
        .unwrap();
    assert_eq!(before.status, 200);

    if let Some(service) = s.service.take() {
        service.stop().await;
    }
    let after = s
        .envoy
        .send("GET", "globex.example", "/", &[], "")
        .await
        .unwrap();
    assert_eq!(after.status, 403);
    assert!(
        s.envoy
            .counter("http.ingress.ext_authz.error")
            .await
            .unwrap()
            >= 1
    );
}
