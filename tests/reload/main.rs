//! Hot reload end to end: real Git repositories and folders on disk, the
//! service on loopback, decisions over gRPC, status and metrics over HTTP.
//! Git sources are in `git`, what reads a source besides polling and what
//! guards activation in `triggers`, watched folders in `folders`; this file
//! holds the helpers they share.
//!
//! Waits poll a condition with a generous bound; nothing here measures
//! time.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test set-up fails loudly; a panic is the failure report"
)]

mod folders;
mod git;
mod triggers;

use std::{future::Future, path::Path, time::Duration};

use envoy_types::pb::envoy::service::auth::v3::{
    CheckResponse, authorization_client::AuthorizationClient,
};
use pdp::config::{Config, GitSourceConfig, SourceConfig};
use pdp_e2e::{git::GitRepo, http, requests::Check, service::RunningService};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub(crate) const ADMIN_TOKEN: &str = "admin-token-for-tests";

/// How long any condition may take to come true.
const PATIENCE: Duration = Duration::from_secs(60);

fn system_files(repo: &GitRepo) {
    let examples = pdp_e2e::bundles::examples_dir().join("system");
    for file in [
        ".manifest",
        "multi_tenant/policy.rego",
        "multi_tenant/data.json",
    ] {
        let text = std::fs::read_to_string(examples.join(file)).unwrap();
        repo.write(&format!("policies/system/{file}"), &text)
            .unwrap();
    }
}

/// A tenant that allows exactly the method named in `method`.
pub(crate) fn tenant_policy(method: &str) -> String {
    format!(
        "package envoy.authz\n\ndefault allow := false\n\nallow if input.attributes.request.http.method == \"{method}\"\n"
    )
}

pub(crate) fn write_tenant(repo: &GitRepo, tenant: &str, method: &str) {
    repo.write(
        &format!("policies/tenants/{tenant}/envoy/authz/policy.rego"),
        &tenant_policy(method),
    )
    .unwrap();
}

/// A repository with the system bundle, `acme` allowing GET and `globex`
/// allowing POST, under `policies/`.
pub(crate) fn policy_repo() -> (GitRepo, String) {
    let repo = GitRepo::init().unwrap();
    system_files(&repo);
    write_tenant(&repo, "acme", "GET");
    write_tenant(&repo, "globex", "POST");
    repo.write("README.md", "policies for the tests\n").unwrap();
    let first = repo.commit("first policies").unwrap();
    (repo, first)
}

pub(crate) fn git_source(url: &str) -> GitSourceConfig {
    GitSourceConfig {
        name: "policies".to_owned(),
        url: url.to_owned(),
        branch: None,
        tag: None,
        commit: None,
        subdir: Some("policies".to_owned()),
        webhook: None,
        poll_interval_secs: 1,
        test_gate: false,
        signing: None,
    }
}

pub(crate) fn config_with(source: SourceConfig, cache: &Path) -> Config {
    let mut config = Config {
        sources: vec![source],
        ..Config::default()
    };
    config.engine.worker_threads = 1;
    config.reload.cache_dir = cache.to_path_buf();
    config.reload.debounce_ms = 100;
    config.reload.admin_token_sha256 = Some(hex::encode(Sha256::digest(ADMIN_TOKEN)));
    config
}

pub(crate) async fn status(service: &RunningService) -> Value {
    let response = http::get(service.http, "/v1/status").await.unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    body["result"].clone()
}

pub(crate) fn revision(status: &Value, tenant: &str) -> Option<String> {
    status["tenants"][tenant]["active_revision"]
        .as_str()
        .map(str::to_owned)
}

/// Polls `condition` until it holds, or fails after [`PATIENCE`].
pub(crate) async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not true within {PATIENCE:?}");
}

pub(crate) async fn wait_for_revision(service: &RunningService, tenant: &str, expected: &str) {
    eventually(&format!("{tenant} at {expected}"), || async {
        revision(&status(service).await, tenant).as_deref() == Some(expected)
    })
    .await;
}

pub(crate) async fn check(service: &RunningService, tenant: &str, method: &str) -> CheckResponse {
    let mut client = AuthorizationClient::connect(format!("http://{}", service.grpc))
        .await
        .unwrap();
    let request = Check::http(method, "/items", "shop.example")
        .extension("tenant", tenant)
        .build();
    client.check(request).await.unwrap().into_inner()
}

pub(crate) fn allowed(response: &CheckResponse) -> bool {
    response.status.as_ref().map_or(-1, |s| s.code) == 0
}
