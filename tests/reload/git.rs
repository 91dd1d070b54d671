//! Git sources: a commit activating, a broken commit keeping the last good
//! revision, a deleted tenant, tag and commit pins, force pushes, and a
//! remote repository fetched over HTTP.

use envoy_types::pb::envoy::service::auth::v3::CheckResponse;
use pdp::config::SourceConfig;
use pdp_e2e::{git::GitRepo, http, service::RunningService};

use crate::{
    ADMIN_TOKEN, allowed, check, config_with, eventually, git_source, policy_repo, revision,
    status, wait_for_revision, write_tenant,
};

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
