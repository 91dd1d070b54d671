//! Signed bundle files end to end: a `.tar.gz` per tenant, watched, with
//! `.signatures.json` verified against keys from the config.
//!
//! The signed fixtures come from `pdp/src/bundle/signing/generate.py`, an
//! independent signer written with Python's `cryptography`.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test set-up fails loudly; a panic is the failure report"
)]

use std::{collections::BTreeMap, path::Path, time::Duration};

use pdp::config::{
    BundleSourceConfig, Config, DirectorySourceConfig, Secret, SigningConfig, SigningKeyConfig,
    SourceConfig,
};
use pdp_e2e::{http, service::RunningService};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(60);

fn testdata() -> Value {
    serde_json::from_str(include_str!("../pdp/src/bundle/signing/testdata.json")).unwrap()
}

/// Writes a gzipped tarball as `opa build` does (entry names start with
/// `/`), through a temporary file renamed over the target.
fn write_tarball(path: &Path, files: &BTreeMap<String, String>) {
    let tmp = path.with_extension("tmp");
    {
        let file = std::fs::File::create(&tmp).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (name, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // `set_path` refuses a leading `/`, so the name is written raw.
            let entry_name = format!("/{name}");
            header.as_old_mut().name[..entry_name.len()].copy_from_slice(entry_name.as_bytes());
            header.set_cksum();
            tar.append(&header, text.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    std::fs::rename(tmp, path).unwrap();
}

fn signed_files(token: &str) -> BTreeMap<String, String> {
    let data = testdata();
    let mut files: BTreeMap<String, String> = data["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let jwt = data["tokens"][token].as_str().unwrap();
    files.insert(
        ".signatures.json".to_owned(),
        format!("{{\"signatures\": [\"{jwt}\"]}}"),
    );
    files
}

fn system_dir() -> tempfile::TempDir {
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
    dir
}

fn config(system: &Path, bundle: &Path, signing: Option<SigningConfig>) -> Config {
    let data = testdata();
    let key = |name: &str, algorithm: &str| SigningKeyConfig {
        algorithm: algorithm.to_owned(),
        key: Secret::Inline(data["keys"][name].as_str().unwrap().to_owned()),
        scope: None,
    };
    let mut config = Config {
        sources: vec![
            SourceConfig::Directory(DirectorySourceConfig {
                name: "system".to_owned(),
                path: system.to_path_buf(),
                watch: false,
                poll_interval_secs: 0,
                test_gate: false,
                signing: None,
            }),
            SourceConfig::Bundle(BundleSourceConfig {
                name: "acme-bundle".to_owned(),
                path: bundle.to_path_buf(),
                tenant: pdp::tenant::TenantName::parse("acme").unwrap(),
                watch: true,
                poll_interval_secs: 0,
                test_gate: false,
                signing,
            }),
        ],
        keys: [
            ("rsa".to_owned(), key("rsa", "RS256")),
            ("ec".to_owned(), key("ec", "ES256")),
        ]
        .into(),
        ..Config::default()
    };
    config.engine.worker_threads = 1;
    config.reload.debounce_ms = 100;
    config
}

async fn acme(service: &RunningService) -> Value {
    let response = http::get(service.http, "/v1/status").await.unwrap();
    let body: Value = serde_json::from_str(&response.body).unwrap();
    body["result"]["tenants"]["acme"].clone()
}

async fn wait_until_failed(service: &RunningService, failures: u64) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        let state = acme(service).await;
        if state["failures"].as_u64() >= Some(failures) {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("acme did not record failure {failures} within {PATIENCE:?}");
}

#[tokio::test]
async fn a_signed_tarball_activates_and_a_tampered_or_unsigned_one_is_refused() {
    let system = system_dir();
    let bundles = tempfile::tempdir().unwrap();
    let bundle = bundles.path().join("acme.tar.gz");
    write_tarball(&bundle, &signed_files("es256_kid"));
    let service = RunningService::start(config(
        system.path(),
        &bundle,
        Some(SigningConfig::default()),
    ))
    .await
    .unwrap();
    assert_eq!(acme(&service).await["active_revision"], "signed-1");

    let mut tampered = signed_files("rs256_kid");
    tampered.insert(
        "envoy/authz/policy.rego".to_owned(),
        "package envoy.authz\n\nallow := input.anything\n".to_owned(),
    );
    write_tarball(&bundle, &tampered);
    let state = wait_until_failed(&service, 1).await;
    let message = state["last_failure"]["errors"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("digest mismatch"), "{message}");
    assert!(message.contains("envoy/authz/policy.rego"), "{message}");
    assert_eq!(state["active_revision"], "signed-1", "last good kept");

    let mut unsigned = signed_files("rs256_kid");
    unsigned.remove(".signatures.json");
    write_tarball(&bundle, &unsigned);
    let state = wait_until_failed(&service, 2).await;
    let message = state["last_failure"]["errors"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("missing `.signatures.json`"), "{message}");
    assert_eq!(state["active_revision"], "signed-1");

    let metrics = http::get(service.http, "/metrics").await.unwrap();
    assert!(
        metrics
            .body
            .contains("pdp_bundle_activation_failures_total{bundle=\"tenants/acme\"} 2"),
        "{}",
        metrics.body
    );
    service.stop().await;
}

#[test]
fn a_signed_bundle_is_refused_by_a_source_that_does_not_verify() {
    let system = system_dir();
    let bundles = tempfile::tempdir().unwrap();
    let bundle = bundles.path().join("acme.tar.gz");
    write_tarball(&bundle, &signed_files("rs256_kid"));
    let (_, report) = pdp::server::Service::load(config(system.path(), &bundle, None)).unwrap();
    let (name, errors) = &report.failed[0];
    assert_eq!(name, "tenants/acme");
    assert!(
        errors[0].message.contains("no verification key"),
        "{errors:?}"
    );
}
