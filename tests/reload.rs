//! Hot reload end to end: real Git repositories and folders on disk, the
//! service on loopback, decisions over gRPC, status and metrics over HTTP.
//!
//! Waits poll a condition with a generous bound; nothing here measures
//! time.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test set-up fails loudly; a panic is the failure report"
)]

use std::{future::Future, path::Path, time::Duration};

use envoy_types::pb::envoy::service::auth::v3::{
    CheckResponse, authorization_client::AuthorizationClient,
};
use hmac::{KeyInit, Mac};
use pdp::config::{
    Config, DirectorySourceConfig, GitSourceConfig, Secret, SourceConfig, WebhookConfig,
};
use pdp_e2e::{git::GitRepo, http, requests::Check, service::RunningService};
use serde_json::Value;
use sha2::{Digest, Sha256};

const ADMIN_TOKEN: &str = "admin-token-for-tests";

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
fn tenant_policy(method: &str) -> String {
    format!(
        "package envoy.authz\n\ndefault allow := false\n\nallow if input.attributes.request.http.method == \"{method}\"\n"
    )
}

fn write_tenant(repo: &GitRepo, tenant: &str, method: &str) {
    repo.write(
        &format!("policies/tenants/{tenant}/envoy/authz/policy.rego"),
        &tenant_policy(method),
    )
    .unwrap();
}

/// A repository with the system bundle, `acme` allowing GET and `globex`
/// allowing POST, under `policies/`.
fn policy_repo() -> (GitRepo, String) {
    let repo = GitRepo::init().unwrap();
    system_files(&repo);
    write_tenant(&repo, "acme", "GET");
    write_tenant(&repo, "globex", "POST");
    repo.write("README.md", "policies for the tests\n").unwrap();
    let first = repo.commit("first policies").unwrap();
    (repo, first)
}

fn git_source(url: &str) -> GitSourceConfig {
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

fn config_with(source: SourceConfig, cache: &Path) -> Config {
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

async fn status(service: &RunningService) -> Value {
    let response = http::get(service.http, "/v1/status").await.unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    body["result"].clone()
}

fn revision(status: &Value, tenant: &str) -> Option<String> {
    status["tenants"][tenant]["active_revision"]
        .as_str()
        .map(str::to_owned)
}

/// Polls `condition` until it holds, or fails after [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut condition: F)
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

async fn wait_for_revision(service: &RunningService, tenant: &str, expected: &str) {
    eventually(&format!("{tenant} at {expected}"), || async {
        revision(&status(service).await, tenant).as_deref() == Some(expected)
    })
    .await;
}

async fn check(service: &RunningService, tenant: &str, method: &str) -> CheckResponse {
    let mut client = AuthorizationClient::connect(format!("http://{}", service.grpc))
        .await
        .unwrap();
    let request = Check::http(method, "/items", "shop.example")
        .extension("tenant", tenant)
        .build();
    client.check(request).await.unwrap().into_inner()
}

fn allowed(response: &CheckResponse) -> bool {
    response.status.as_ref().map_or(-1, |s| s.code) == 0
}

fn metadata_revision(response: &CheckResponse) -> String {
    let fields = &response.dynamic_metadata.as_ref().unwrap().fields;
    let pdp = fields["pdp"].kind.as_ref().unwrap();
    let envoy_types::pb::google::protobuf::value::Kind::StructValue(pdp) = pdp else {
        panic!("pdp metadata is not a struct: {pdp:?}");
    };
    match pdp.fields["revision"].kind.as_ref().unwrap() {
        envoy_types::pb::google::protobuf::value::Kind::StringValue(s) => s.clone(),
        other => panic!("revision is not a string: {other:?}"),
    }
}

async fn reload_and_wait(service: &RunningService) {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let response = http::request(
        service.http,
        "POST",
        "/v1/reload?wait=true",
        &[("authorization", &auth)],
        "",
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
}

#[tokio::test]
async fn a_commit_to_one_tenant_activates_within_the_poll_interval_and_leaves_the_others() {
    let (repo, first) = policy_repo();
    let cache = tempfile::tempdir().unwrap();
    let source = SourceConfig::Git(git_source(&repo.path().display().to_string()));
    let service = RunningService::start(config_with(source, cache.path()))
        .await
        .unwrap();

    let before = status(&service).await;
    assert_eq!(revision(&before, "acme").as_deref(), Some(first.as_str()));
    assert_eq!(revision(&before, "globex").as_deref(), Some(first.as_str()));
    assert_eq!(before["system"]["active_revision"], first.as_str());
    assert_eq!(before["sources"][0]["commit"], first.as_str());
    assert!(allowed(&check(&service, "globex", "POST").await));

    write_tenant(&repo, "globex", "DELETE");
    let second = repo.commit("globex: allow DELETE instead of POST").unwrap();
    wait_for_revision(&service, "globex", &second).await;

    let after = status(&service).await;
    assert_eq!(revision(&after, "acme").as_deref(), Some(first.as_str()));
    assert_eq!(after["tenants"]["acme"]["activations"], 1, "acme untouched");
    assert_eq!(after["tenants"]["globex"]["activations"], 2);
    assert_eq!(after["tenants"]["globex"]["source"], "policies");

    let response = check(&service, "globex", "DELETE").await;
    assert!(allowed(&response));
    assert_eq!(metadata_revision(&response), second);
    assert!(!allowed(&check(&service, "globex", "POST").await));
    assert_eq!(
        metadata_revision(&check(&service, "acme", "GET").await),
        first
    );
    service.stop().await;
}

#[tokio::test]
async fn a_broken_commit_keeps_the_last_good_revision_until_it_is_fixed() {
    let (repo, first) = policy_repo();
    let cache = tempfile::tempdir().unwrap();
    let source = SourceConfig::Git(git_source(&repo.path().display().to_string()));
    let service = RunningService::start(config_with(source, cache.path()))
        .await
        .unwrap();

    repo.write(
        "policies/tenants/acme/envoy/authz/policy.rego",
        "package envoy.authz\n\ndefault allow := false\n\nallow if { input.x == }\n\nextra := 1\n",
    )
    .unwrap();
    let broken = repo.commit("acme: a typo").unwrap();
    eventually("the broken commit is tried", || async {
        status(&service).await["tenants"]["acme"]["last_failure"]["revision"] == broken.as_str()
    })
    .await;

    let state = status(&service).await;
    let acme = &state["tenants"]["acme"];
    assert_eq!(
        acme["active_revision"],
        first.as_str(),
        "old revision serves"
    );
    let error = &acme["last_failure"]["errors"][0];
    assert_eq!(error["file"], "envoy/authz/policy.rego");
    assert_eq!(error["line"], 5);
    assert!(acme["last_failure"]["at"].is_string());
    let response = check(&service, "acme", "GET").await;
    assert!(allowed(&response), "the last good policy still decides");
    assert_eq!(metadata_revision(&response), first);

    let metrics = http::get(service.http, "/metrics").await.unwrap();
    assert!(
        metrics
            .body
            .contains("pdp_bundle_activation_failures_total{bundle=\"tenants/acme\"} 1"),
        "{}",
        metrics.body
    );

    write_tenant(&repo, "acme", "PUT");
    let fixed = repo.commit("acme: fixed").unwrap();
    wait_for_revision(&service, "acme", &fixed).await;
    let state = status(&service).await;
    assert!(state["tenants"]["acme"]["last_failure"].is_null());
    assert!(allowed(&check(&service, "acme", "PUT").await));
    service.stop().await;
}

#[tokio::test]
async fn a_tenant_deleted_from_the_repository_is_removed_and_then_unknown() {
    let (repo, _) = policy_repo();
    let cache = tempfile::tempdir().unwrap();
    let source = SourceConfig::Git(git_source(&repo.path().display().to_string()));
    let service = RunningService::start(config_with(source, cache.path()))
        .await
        .unwrap();
    assert!(allowed(&check(&service, "globex", "POST").await));

    repo.remove("policies/tenants/globex").unwrap();
    repo.commit("globex leaves").unwrap();
    eventually("globex is removed", || async {
        status(&service).await["tenants"].get("globex").is_none()
    })
    .await;

    let response = check(&service, "globex", "POST").await;
    assert!(!allowed(&response));
    let denied = format!("{:?}", response.http_response);
    assert!(denied.contains("unknown_tenant"), "{denied}");
    assert!(allowed(&check(&service, "acme", "GET").await));
    service.stop().await;
}

#[tokio::test]
async fn a_tag_pin_follows_the_tag_and_ignores_the_branch() {
    let (repo, first) = policy_repo();
    repo.tag("v1", &first).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut source = git_source(&repo.path().display().to_string());
    source.tag = Some("v1".to_owned());
    source.poll_interval_secs = 0;
    let service = RunningService::start(config_with(SourceConfig::Git(source), cache.path()))
        .await
        .unwrap();

    write_tenant(&repo, "acme", "PATCH");
    let second = repo.commit("acme: PATCH").unwrap();
    reload_and_wait(&service).await;
    let state = status(&service).await;
    assert_eq!(revision(&state, "acme").as_deref(), Some(first.as_str()));
    assert_eq!(state["sources"][0]["pin"], "tag `v1`");

    repo.tag("v1", &second).unwrap();
    reload_and_wait(&service).await;
    assert_eq!(
        revision(&status(&service).await, "acme").as_deref(),
        Some(second.as_str())
    );
    service.stop().await;
}

#[tokio::test]
async fn a_commit_pin_stays_on_its_commit() {
    let (repo, first) = policy_repo();
    write_tenant(&repo, "acme", "PATCH");
    let second = repo.commit("acme: PATCH").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut source = git_source(&format!("file://{}", repo.path().display()));
    source.commit = Some(first.clone());
    let service = RunningService::start(config_with(SourceConfig::Git(source), cache.path()))
        .await
        .unwrap();

    assert_eq!(
        revision(&status(&service).await, "acme").as_deref(),
        Some(first.as_str())
    );
    write_tenant(&repo, "acme", "HEAD");
    repo.commit("acme: HEAD").unwrap();
    reload_and_wait(&service).await;
    let state = status(&service).await;
    assert_eq!(revision(&state, "acme").as_deref(), Some(first.as_str()));
    assert_ne!(first, second);
    assert!(allowed(&check(&service, "acme", "GET").await));
    service.stop().await;
}

#[tokio::test]
async fn a_force_pushed_branch_converges_to_the_new_head() {
    let (repo, first) = policy_repo();
    let cache = tempfile::tempdir().unwrap();
    let source = SourceConfig::Git(git_source(&repo.path().display().to_string()));
    let service = RunningService::start(config_with(source, cache.path()))
        .await
        .unwrap();

    write_tenant(&repo, "acme", "PATCH");
    let second = repo.commit("acme: PATCH").unwrap();
    wait_for_revision(&service, "acme", &second).await;

    // History is rewritten: `second` is no longer on the branch.
    repo.reset_hard(&first).unwrap();
    write_tenant(&repo, "acme", "OPTIONS");
    let rewritten = repo.commit("acme: OPTIONS, rewritten").unwrap();
    wait_for_revision(&service, "acme", &rewritten).await;
    assert_eq!(
        status(&service).await["sources"][0]["commit"],
        rewritten.as_str()
    );
    assert!(allowed(&check(&service, "acme", "OPTIONS").await));
    assert!(!allowed(&check(&service, "acme", "PATCH").await));
    service.stop().await;
}

fn github_signature(secret: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn webhooks_with_a_valid_signature_trigger_a_fetch_and_others_are_refused() {
    let (repo, first) = policy_repo();
    let cache = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("github"), "gh-secret\n").unwrap();
    let mut source = git_source(&repo.path().display().to_string());
    source.poll_interval_secs = 0;
    source.webhook = Some(WebhookConfig {
        github_secret: Some(Secret::File {
            file: secrets.path().join("github"),
        }),
        gitlab_token: Some(Secret::Inline("gl-token".to_owned())),
    });
    let service = RunningService::start(config_with(SourceConfig::Git(source), cache.path()))
        .await
        .unwrap();
    let syncs_before = status(&service).await["sources"][0]["syncs"]
        .as_u64()
        .unwrap();

    write_tenant(&repo, "acme", "PATCH");
    let second = repo.commit("acme: PATCH").unwrap();
    let body = r#"{"ref": "refs/heads/main", "after": "whatever"}"#;
    let hook = "/v1/webhooks/policies";

    let forged = github_signature("not-the-secret", body);
    let refused = [
        vec![
            ("x-github-event", "push"),
            ("x-hub-signature-256", forged.as_str()),
        ],
        vec![("x-github-event", "push")],
        vec![("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "wrong")],
    ];
    for headers in refused {
        let response = http::request(service.http, "POST", hook, &headers, body)
            .await
            .unwrap();
        assert_eq!(response.status, 401, "{headers:?}: {}", response.body);
    }
    let other_branch = r#"{"ref": "refs/heads/feature"}"#;
    let signature = github_signature("gh-secret", other_branch);
    let ignored = http::request(
        service.http,
        "POST",
        hook,
        &[
            ("x-github-event", "push"),
            ("x-hub-signature-256", &signature),
        ],
        other_branch,
    )
    .await
    .unwrap();
    assert_eq!(ignored.status, 202);
    assert!(
        ignored.body.contains("\"triggered\":false"),
        "{}",
        ignored.body
    );
    let unknown = http::request(service.http, "POST", "/v1/webhooks/nope", &[], body)
        .await
        .unwrap();
    assert_eq!(unknown.status, 404);
    assert_eq!(
        revision(&status(&service).await, "acme").as_deref(),
        Some(first.as_str())
    );

    let signature = github_signature("gh-secret", body);
    let accepted = http::request(
        service.http,
        "POST",
        hook,
        &[
            ("x-github-event", "push"),
            ("x-hub-signature-256", &signature),
        ],
        body,
    )
    .await
    .unwrap();
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    wait_for_revision(&service, "acme", &second).await;
    let syncs_after = status(&service).await["sources"][0]["syncs"]
        .as_u64()
        .unwrap();
    assert_eq!(
        syncs_after,
        syncs_before + 1,
        "only the valid delivery fetched"
    );

    write_tenant(&repo, "acme", "HEAD");
    let third = repo.commit("acme: HEAD").unwrap();
    let accepted = http::request(
        service.http,
        "POST",
        hook,
        &[
            ("x-gitlab-event", "Push Hook"),
            ("x-gitlab-token", "gl-token"),
        ],
        body,
    )
    .await
    .unwrap();
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    wait_for_revision(&service, "acme", &third).await;
    service.stop().await;
}

#[tokio::test]
async fn manual_reload_needs_the_admin_token() {
    let (repo, _) = policy_repo();
    let cache = tempfile::tempdir().unwrap();
    let mut source = git_source(&repo.path().display().to_string());
    source.poll_interval_secs = 0;
    let service = RunningService::start(config_with(SourceConfig::Git(source), cache.path()))
        .await
        .unwrap();

    for auth in ["", "Bearer wrong-token", "Basic YWRtaW46YWRtaW4="] {
        let headers: Vec<(&str, &str)> = if auth.is_empty() {
            Vec::new()
        } else {
            vec![("authorization", auth)]
        };
        let response = http::request(service.http, "POST", "/v1/reload", &headers, "")
            .await
            .unwrap();
        assert_eq!(response.status, 401, "{auth}");
    }
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let missing = http::request(
        service.http,
        "POST",
        "/v1/reload/nope",
        &[("authorization", &auth)],
        "",
    )
    .await
    .unwrap();
    assert_eq!(missing.status, 404);

    write_tenant(&repo, "acme", "PATCH");
    let second = repo.commit("acme: PATCH").unwrap();
    let response = http::request(
        service.http,
        "POST",
        "/v1/reload/policies?wait=true",
        &[("authorization", &auth)],
        "",
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(response.body.contains(&second), "{}", response.body);
    assert_eq!(
        revision(&status(&service).await, "acme").as_deref(),
        Some(second.as_str())
    );
    service.stop().await;
}

#[tokio::test]
async fn the_test_gate_blocks_a_commit_whose_tests_fail() {
    let (repo, first) = policy_repo();
    repo.write(
        "policies/tenants/acme/envoy/authz/policy_test.rego",
        "package envoy.authz_test\n\nimport data.envoy.authz\n\n\
         test_get_is_allowed if authz.allow with input as {\"attributes\": {\"request\": {\"http\": {\"method\": \"GET\"}}}}\n",
    )
    .unwrap();
    let tested = repo.commit("acme: a test").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut source = git_source(&repo.path().display().to_string());
    source.test_gate = true;
    let service = RunningService::start(config_with(SourceConfig::Git(source), cache.path()))
        .await
        .unwrap();
    assert_ne!(first, tested);
    assert_eq!(
        revision(&status(&service).await, "acme").as_deref(),
        Some(tested.as_str())
    );

    write_tenant(&repo, "acme", "PUT");
    let failing = repo
        .commit("acme: PUT only, which breaks the test")
        .unwrap();
    eventually("the failing commit is tried", || async {
        status(&service).await["tenants"]["acme"]["last_failure"]["revision"] == failing.as_str()
    })
    .await;
    let state = status(&service).await;
    let failure = &state["tenants"]["acme"]["last_failure"]["errors"][0];
    assert_eq!(failure["file"], "envoy/authz/policy_test.rego");
    let message = failure["message"].as_str().unwrap();
    assert!(message.contains("test_get_is_allowed"), "{message}");
    assert_eq!(revision(&state, "acme").as_deref(), Some(tested.as_str()));
    assert!(allowed(&check(&service, "acme", "GET").await));
    service.stop().await;
}

fn layout_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let examples = pdp_e2e::bundles::examples_dir().join("system");
    for file in [
        ".manifest",
        "multi_tenant/policy.rego",
        "multi_tenant/data.json",
    ] {
        let target = dir.path().join("system").join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(examples.join(file), target).unwrap();
    }
    write_dir_tenant(dir.path(), "acme", "GET", "a1");
    dir
}

fn write_dir_tenant(root: &Path, tenant: &str, method: &str, revision: &str) {
    let bundle = root.join("tenants").join(tenant);
    std::fs::create_dir_all(bundle.join("envoy/authz")).unwrap();
    std::fs::write(
        bundle.join(".manifest"),
        format!(r#"{{"revision": "{revision}"}}"#),
    )
    .unwrap();
    std::fs::write(
        bundle.join("envoy/authz/policy.rego"),
        tenant_policy(method),
    )
    .unwrap();
}

fn dir_config(root: &Path, debounce_ms: u64) -> Config {
    let mut config = Config {
        sources: vec![SourceConfig::Directory(DirectorySourceConfig {
            name: "local".to_owned(),
            path: root.to_path_buf(),
            watch: true,
            poll_interval_secs: 0,
            test_gate: false,
            signing: None,
        })],
        ..Config::default()
    };
    config.engine.worker_threads = 1;
    config.reload.debounce_ms = debounce_ms;
    config
}

/// Waits until the folder's watch is live: the first sync after it starts.
async fn watch_ready(service: &RunningService) {
    eventually("the watch is up", || async {
        status(service).await["sources"][0]["syncs"].as_u64() >= Some(2)
    })
    .await;
}

#[tokio::test]
async fn a_watched_folder_edited_while_serving_activates_the_edit() {
    let dir = layout_dir();
    let service = RunningService::start(dir_config(dir.path(), 100))
        .await
        .unwrap();
    watch_ready(&service).await;
    assert!(allowed(&check(&service, "acme", "GET").await));

    write_dir_tenant(dir.path(), "acme", "POST", "a2");
    wait_for_revision(&service, "acme", "a2").await;
    assert!(allowed(&check(&service, "acme", "POST").await));
    assert!(!allowed(&check(&service, "acme", "GET").await));

    write_dir_tenant(dir.path(), "globex", "GET", "g1");
    wait_for_revision(&service, "globex", "g1").await;
    std::fs::remove_dir_all(dir.path().join("tenants/globex")).unwrap();
    eventually("globex is removed", || async {
        status(&service).await["tenants"].get("globex").is_none()
    })
    .await;
    service.stop().await;
}

#[tokio::test]
async fn a_burst_of_writes_gives_one_activation() {
    let dir = layout_dir();
    // A long quiet period, so that the burst surely falls inside one.
    let service = RunningService::start(dir_config(dir.path(), 1000))
        .await
        .unwrap();
    watch_ready(&service).await;

    let bundle = dir.path().join("tenants/acme");
    for i in 0..20 {
        std::fs::write(
            bundle.join(format!("envoy/authz/extra_{i}.rego")),
            format!("package envoy.authz\n\nextra_{i} := {i}\n"),
        )
        .unwrap();
    }
    std::fs::write(bundle.join(".manifest"), r#"{"revision": "a-burst"}"#).unwrap();
    wait_for_revision(&service, "acme", "a-burst").await;
    let state = status(&service).await;
    assert_eq!(
        state["tenants"]["acme"]["activations"], 2,
        "start-up, then one"
    );
    service.stop().await;
}

#[tokio::test]
async fn a_remote_repository_is_fetched_into_the_cache_and_force_pushes_converge() {
    // The remote: a bare repository served over HTTP by `git http-backend`.
    let (work, first) = policy_repo();
    let served = tempfile::tempdir().unwrap();
    let bare = served.path().join("policies.git");
    work.git(&["clone", "--quiet", "--bare", ".", bare.to_str().unwrap()])
        .unwrap();
    let push = |work: &GitRepo| {
        work.git(&["push", "--quiet", "--force", bare.to_str().unwrap(), "main"])
            .unwrap();
    };
    let server = pdp_e2e::git_http::GitHttpServer::start(served.path().to_path_buf())
        .await
        .unwrap();

    let cache = tempfile::tempdir().unwrap();
    let mut source = git_source(&format!("http://{}/policies.git", server.addr));
    source.poll_interval_secs = 0;
    let service = RunningService::start(config_with(SourceConfig::Git(source), cache.path()))
        .await
        .unwrap();
    assert_eq!(
        revision(&status(&service).await, "acme").as_deref(),
        Some(first.as_str())
    );
    // The fetched repository is the only thing written, under the cache.
    let cached: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(cached, ["policies.git"]);

    write_tenant(&work, "acme", "PATCH");
    let second = work.commit("acme: PATCH").unwrap();
    push(&work);
    reload_and_wait(&service).await;
    assert_eq!(
        revision(&status(&service).await, "acme").as_deref(),
        Some(second.as_str())
    );

    // A force push replaces `second` with a commit that does not descend
    // from it; the forced refspec follows it.
    work.reset_hard(&first).unwrap();
    write_tenant(&work, "acme", "OPTIONS");
    let rewritten = work.commit("acme: OPTIONS, rewritten").unwrap();
    push(&work);
    reload_and_wait(&service).await;
    let state = status(&service).await;
    assert_eq!(
        revision(&state, "acme").as_deref(),
        Some(rewritten.as_str())
    );
    assert!(state["sources"][0]["last_error"].is_null(), "{state}");
    assert!(
        state["sources"][0]["location"]
            .as_str()
            .unwrap()
            .starts_with("http://")
    );
    assert!(allowed(&check(&service, "acme", "OPTIONS").await));
    service.stop().await;
}
