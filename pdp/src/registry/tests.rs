use regorus::Value;

use super::*;
use crate::bundle::BundleFile;

const SYSTEM: &str = "package multi_tenant.policy\ndeny contains \"no\" if input.block\n";

fn files(pairs: &[(&str, &str)]) -> BundleFiles {
    BundleFiles::from_files(
        pairs
            .iter()
            .map(|(path, text)| BundleFile {
                path: (*path).to_owned(),
                bytes: text.as_bytes().to_vec(),
            })
            .collect(),
    )
}

fn tenant_bundle(revision: &str, allow: bool) -> BundleFiles {
    files(&[
        (".manifest", &format!(r#"{{"revision": "{revision}"}}"#)),
        (
            "p.rego",
            &format!("package envoy.authz\nallow := {allow}\n"),
        ),
    ])
}

fn tenant(name: &str) -> TenantName {
    TenantName::parse(name).unwrap()
}

fn config() -> RegistryConfig {
    RegistryConfig {
        deny_path: RulePath::parse("multi_tenant/policy/deny").unwrap(),
        default_decision: RulePath::parse("envoy/authz/allow").unwrap(),
        engine: EngineConfig {
            worker_threads: 1,
            ..EngineConfig::default()
        },
    }
}

fn start(tenants: Vec<(&str, BundleFiles)>) -> (Registry, ActivationReport) {
    let change = Change {
        system: Some(Ok(files(&[("s.rego", SYSTEM)]))),
        tenants: tenants
            .into_iter()
            .map(|(name, f)| (tenant(name), TenantChange::Update(Ok(f))))
            .collect(),
    };
    Registry::start(config(), change).unwrap()
}

fn decides(registry: &Registry, name: &str) -> Option<bool> {
    let snapshot = registry.load();
    let active = snapshot.tenant(name)?;
    let decision = active.policy.decide(Value::new_object()).ok()?;
    Some(decision.allowed())
}

#[test]
fn start_compiles_system_and_tenants() {
    let (registry, report) = start(vec![("acme", tenant_bundle("a1", true))]);
    assert_eq!(report.activated, ["system", "tenants/acme"]);
    assert_eq!(decides(&registry, "acme"), Some(true));
    let status = registry.status();
    assert_eq!(
        status.tenants["acme"].active_revision.as_deref(),
        Some("a1")
    );
    assert!(status.all_activated());
}

#[test]
fn start_without_a_system_bundle_is_refused() {
    let result = Registry::start(config(), Change::default());
    assert!(matches!(result, Err(StartupError::NoSystemBundle)));
}

#[test]
fn start_with_a_broken_system_bundle_is_refused() {
    let change = Change {
        system: Some(Ok(files(&[(
            "s.rego",
            "package multi_tenant.policy\nx := \n",
        )]))),
        tenants: BTreeMap::new(),
    };
    let err = Registry::start(config(), change).unwrap_err();
    assert!(err.to_string().contains("s.rego:"), "{err}");
}

#[test]
fn a_broken_revision_keeps_the_last_good_one() {
    let (registry, _) = start(vec![("acme", tenant_bundle("a1", true))]);
    let generation = registry.load().generation();

    let broken = files(&[
        (".manifest", r#"{"revision": "a2"}"#),
        ("p.rego", "package envoy.authz\nallow if { input.x == }\n"),
    ]);
    let report = registry.activate(Change {
        system: None,
        tenants: [(tenant("acme"), TenantChange::Update(Ok(broken)))].into(),
    });

    assert_eq!(report.failed.len(), 1);
    assert_eq!(registry.load().generation(), generation, "nothing swapped");
    assert_eq!(decides(&registry, "acme"), Some(true));
    let status = registry.status();
    let acme = &status.tenants["acme"];
    assert_eq!(acme.active_revision.as_deref(), Some("a1"));
    let failure = acme.last_failure.as_ref().unwrap();
    assert_eq!(failure.revision, "a2");
    assert_eq!(failure.errors[0].file, "p.rego");
    assert_eq!(failure.errors[0].line, 2);
}

#[test]
fn a_tenant_that_never_loaded_is_not_served_and_not_healthy() {
    let broken = files(&[("p.rego", "package envoy.authz\nallow := \n")]);
    let (registry, report) = start(vec![
        ("acme", broken),
        ("globex", tenant_bundle("g1", false)),
    ]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(decides(&registry, "acme"), None);
    assert_eq!(decides(&registry, "globex"), Some(false));
    assert!(!registry.status().all_activated());
}

#[test]
fn only_changed_tenants_are_compiled_and_swapped() {
    let (registry, _) = start(vec![
        ("acme", tenant_bundle("a1", true)),
        ("globex", tenant_bundle("g1", true)),
    ]);
    let before = registry.snapshot();

    let report = registry.activate(Change {
        system: Some(Ok(files(&[("s.rego", SYSTEM)]))),
        tenants: [
            (
                tenant("acme"),
                TenantChange::Update(Ok(tenant_bundle("a1", true))),
            ),
            (
                tenant("globex"),
                TenantChange::Update(Ok(tenant_bundle("g2", false))),
            ),
        ]
        .into(),
    });
    assert_eq!(report.activated, ["tenants/globex"]);
    assert_eq!(report.unchanged, ["system", "tenants/acme"]);

    let after = registry.snapshot();
    assert_eq!(after.generation(), before.generation() + 1);
    // The unchanged tenant is the very same compiled policy.
    assert!(Arc::ptr_eq(
        &before.tenants()[&tenant("acme")],
        &after.tenants()[&tenant("acme")]
    ));
    assert_eq!(decides(&registry, "globex"), Some(false));
    // A request that loaded the old snapshot still decides with it.
    let old = before
        .tenant("globex")
        .unwrap()
        .policy
        .decide(Value::new_object())
        .unwrap();
    assert!(old.allowed());
}

#[test]
fn removed_tenants_disappear_from_snapshot_and_status() {
    let (registry, _) = start(vec![("acme", tenant_bundle("a1", true))]);
    let report = registry.activate(Change {
        system: None,
        tenants: [(tenant("acme"), TenantChange::Remove)].into(),
    });
    assert_eq!(report.removed, ["tenants/acme"]);
    assert_eq!(decides(&registry, "acme"), None);
    assert!(!registry.status().tenants.contains_key("acme"));
}

#[test]
fn a_tenant_named_system_does_not_collide_with_the_system_bundle() {
    let (registry, _) = start(vec![("system", tenant_bundle("t1", true))]);
    let status = registry.status();
    assert_eq!(
        status.tenants["system"].active_revision.as_deref(),
        Some("t1")
    );
    assert!(status.system.active_revision.is_some());
}

#[test]
fn bundles_without_a_manifest_revision_report_a_digest() {
    let plain = files(&[("p.rego", "package envoy.authz\nallow := true\n")]);
    let (registry, _) = start(vec![("acme", plain)]);
    let revision = registry.status().tenants["acme"]
        .active_revision
        .clone()
        .unwrap();
    assert!(revision.starts_with("sha256:"), "{revision}");
    assert_eq!(revision.len(), "sha256:".len() + 12);
}
