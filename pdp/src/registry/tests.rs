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
        system: Some(Ok(files(&[("s.rego", SYSTEM)])).into()),
        tenants: tenants
            .into_iter()
            .map(|(name, f)| (tenant(name), TenantChange::Update(Ok(f).into())))
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
        system: Some(Ok(files(&[("s.rego", "package multi_tenant.policy\nx := \n")])).into()),
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
        tenants: [(tenant("acme"), TenantChange::Update(Ok(broken).into()))].into(),
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
        system: Some(Ok(files(&[("s.rego", SYSTEM)])).into()),
        tenants: [
            (
                tenant("acme"),
                TenantChange::Update(Ok(tenant_bundle("a1", true)).into()),
            ),
            (
                tenant("globex"),
                TenantChange::Update(Ok(tenant_bundle("g2", false)).into()),
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

fn update(files: BundleFiles, origin: Origin) -> TenantChange {
    TenantChange::Update(Incoming {
        files: Ok(files),
        origin,
    })
}

fn one(name: &str, change: TenantChange) -> Change {
    Change {
        system: None,
        tenants: [(tenant(name), change)].into(),
    }
}

#[test]
fn a_git_commit_is_the_revision_even_when_the_manifest_has_one() {
    let (registry, _) = start(vec![("acme", tenant_bundle("a1", true))]);
    let origin = Origin {
        source: Some(Arc::from("policies")),
        commit: Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
        test_gate: false,
    };
    registry.activate(one("acme", update(tenant_bundle("a2", true), origin)));

    let snapshot = registry.load();
    let acme = snapshot.tenant("acme").unwrap();
    assert_eq!(acme.revision, "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(acme.source.as_deref(), Some("policies"));
    let status = registry.status();
    assert_eq!(status.tenants["acme"].source.as_deref(), Some("policies"));
}

#[test]
fn files_that_already_failed_are_not_compiled_again() {
    let (registry, _) = start(vec![("acme", tenant_bundle("a1", true))]);
    let broken = || files(&[("p.rego", "package envoy.authz\nallow := \n")]);

    let first = registry.activate(one("acme", update(broken(), Origin::default())));
    assert_eq!(first.failed.len(), 1);
    let again = registry.activate(one("acme", update(broken(), Origin::default())));
    assert!(again.failed.is_empty());
    assert_eq!(again.known_bad, ["tenants/acme"]);
    assert_eq!(registry.status().tenants["acme"].failures, 1);
}

#[test]
fn going_back_to_the_active_files_clears_the_failure() {
    let (registry, _) = start(vec![("acme", tenant_bundle("a1", true))]);
    let broken = files(&[("p.rego", "package envoy.authz\nallow := \n")]);
    registry.activate(one("acme", update(broken, Origin::default())));
    assert!(registry.status().tenants["acme"].last_failure.is_some());

    let report = registry.activate(one(
        "acme",
        update(tenant_bundle("a1", true), Origin::default()),
    ));
    assert_eq!(report.unchanged, ["tenants/acme"]);
    assert!(registry.status().tenants["acme"].last_failure.is_none());
}

#[test]
fn a_failing_test_blocks_the_revision_when_the_gate_is_on() {
    let (registry, _) = start(vec![("acme", tenant_bundle("a1", true))]);
    let with_failing_test = || {
        files(&[
            ("p.rego", "package envoy.authz\nallow := false\n"),
            (
                "p_test.rego",
                "package envoy.authz_test\nimport data.envoy.authz\ntest_allows if authz.allow\n",
            ),
        ])
    };

    let gated = Origin {
        test_gate: true,
        ..Origin::default()
    };
    let report = registry.activate(one("acme", update(with_failing_test(), gated)));
    assert_eq!(report.failed.len(), 1);
    let errors = &report.failed[0].1;
    assert!(errors[0].message.contains("test_allows"), "{errors:?}");
    assert_eq!(
        (errors[0].file.as_str(), errors[0].line),
        ("p_test.rego", 3)
    );
    assert_eq!(decides(&registry, "acme"), Some(true), "last good kept");

    // Without the gate the same files activate.
    let report = registry.activate(one("acme", update(with_failing_test(), Origin::default())));
    assert_eq!(report.known_bad, ["tenants/acme"], "remembered as bad");
}

#[test]
fn reloading_one_tenant_among_a_thousand_compiles_only_that_one() {
    let names: Vec<String> = (0..1000).map(|i| format!("t{i}")).collect();
    let (registry, report) = start(
        names
            .iter()
            .map(|n| (n.as_str(), tenant_bundle("r1", true)))
            .collect(),
    );
    assert_eq!(report.activated.len(), 1001);
    let before = registry.snapshot();

    let change = Change {
        system: None,
        tenants: names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let revision = if i == 500 { "r2" } else { "r1" };
                (
                    tenant(n),
                    update(tenant_bundle(revision, true), Origin::default()),
                )
            })
            .collect(),
    };
    let report = registry.activate(change);
    assert_eq!(report.activated, ["tenants/t500"]);
    assert_eq!(report.unchanged.len(), 999);

    let after = registry.snapshot();
    let shared = names
        .iter()
        .filter(|n| Arc::ptr_eq(&before.tenants()[&tenant(n)], &after.tenants()[&tenant(n)]))
        .count();
    assert_eq!(
        shared, 999,
        "the other tenants are the same compiled policies"
    );
}
