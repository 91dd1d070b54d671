//! Watched folders: an edit while serving activates, a removed tenant goes
//! away, and a burst of writes gives one activation.

use std::path::Path;

use pdp::config::{Config, DirectorySourceConfig, SourceConfig};
use pdp_e2e::service::RunningService;

use crate::{allowed, check, eventually, status, tenant_policy, wait_for_revision};

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
