//! What makes a source read besides polling, and what guards activation:
//! signed webhooks, the manual reload behind the admin token, and the test
//! gate.

use hmac::{KeyInit, Mac};
use pdp::config::{Secret, SourceConfig, WebhookConfig};
use pdp_e2e::{http, service::RunningService};
use sha2::Sha256;

use crate::{
    ADMIN_TOKEN, allowed, check, config_with, eventually, git_source, policy_repo, revision,
    status, wait_for_revision, write_tenant,
};

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
