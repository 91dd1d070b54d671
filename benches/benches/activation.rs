//! Activation cost: what a reload costs once a bundle's files are read.
//!
//! - `activation/one_small_tenant`: compile one small tenant and swap it in
//!   (budget: 10 ms).
//! - `activation/cold_start/{1,100,1000}_tenants`: compiling and activating
//!   the first snapshot of the system bundle and 1, 100 and 1,000 small
//!   tenants (budget for 1,000: 3 s).
//! - `activation/reload_one_of_1000`: a change listing all 1,000 tenants of
//!   which one differs: hashing 1,000 file sets and compiling one. That the
//!   other 999 are not compiled is asserted in the registry's tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark set-up fails loudly"
)]

use std::{collections::BTreeMap, hint::black_box, time::Duration};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pdp::{
    bundle::{BundleFile, BundleFiles},
    decision::{EngineConfig, RulePath},
    registry::{Change, Registry, RegistryConfig, TenantChange},
    tenant::TenantName,
};

const SYSTEM: &str = "package multi_tenant.policy\n\n\
    deny contains \"cross-tenant traffic\" if {\n\
    \tinput.attributes.source.labels.tenant != input.attributes.destination.labels.tenant\n\
    }\n";

/// A small tenant: role grants by path prefix, with data.
fn tenant_files(revision: usize) -> BundleFiles {
    let manifest = format!(r#"{{"revision": "r{revision}", "roots": ["envoy/authz", "rbac"]}}"#);
    let policy = "package envoy.authz\n\n\
        import data.rbac\n\n\
        default allow := false\n\n\
        allow if {\n\
        \tsome role in rbac.bindings[input.attributes.source.principal]\n\
        \tsome grant in rbac.roles[role]\n\
        \tinput.attributes.request.http.method in grant.methods\n\
        \tstartswith(input.attributes.request.http.path, grant.prefix)\n\
        }\n";
    let data = format!(
        r#"{{"bindings": {{"spiffe://cluster.local/ns/a/sa/api": ["reader"]}},
            "roles": {{"reader": [{{"methods": ["GET"], "prefix": "/v{revision}/"}}]}}}}"#
    );
    files(&[
        (".manifest", &manifest),
        ("envoy/authz/policy.rego", policy),
        ("rbac/data.json", &data),
    ])
}

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

fn config() -> RegistryConfig {
    RegistryConfig {
        deny_path: RulePath::parse("multi_tenant/policy/deny").expect("deny path"),
        default_decision: RulePath::parse("envoy/authz/allow").expect("decision path"),
        // Two request threads, as on the two-core machines this runs on.
        engine: EngineConfig {
            worker_threads: 2,
            ..EngineConfig::default()
        },
    }
}

fn names(count: usize) -> Vec<TenantName> {
    (0..count)
        .map(|i| TenantName::parse(&format!("tenant-{i}")).expect("tenant name"))
        .collect()
}

fn initial(tenants: &[TenantName]) -> Change {
    Change {
        system: Some(Ok(files(&[("policy.rego", SYSTEM)])).into()),
        tenants: tenants
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    TenantChange::Update(Ok(tenant_files(0)).into()),
                )
            })
            .collect(),
    }
}

fn one_small_tenant(c: &mut Criterion) {
    let tenants = names(1);
    let (registry, _) = Registry::start(config(), initial(&tenants)).expect("start");
    let mut revision = 0;
    c.bench_function("activation/one_small_tenant", |b| {
        b.iter_batched(
            || {
                // A new revision every time, so that every activation compiles.
                revision += 1;
                Change {
                    system: None,
                    tenants: [(
                        tenants[0].clone(),
                        TenantChange::Update(Ok(tenant_files(revision)).into()),
                    )]
                    .into(),
                }
            },
            |change| {
                let report = registry.activate(change);
                assert_eq!(report.activated.len(), 1);
                black_box(report)
            },
            BatchSize::SmallInput,
        );
    });
}

fn cold_start(c: &mut Criterion) {
    let mut group = c.benchmark_group("activation/cold_start");
    group.sample_size(10);
    for count in [1, 100, 1000] {
        let tenants = names(count);
        // Large sets take seconds per sample; give them the time they need.
        group.measurement_time(Duration::from_secs(if count >= 1000 { 20 } else { 5 }));
        group.bench_function(format!("{count}_tenants"), |b| {
            b.iter_batched(
                || initial(&tenants),
                |change| {
                    let (registry, report) = Registry::start(config(), change).expect("start");
                    assert_eq!(report.activated.len(), count + 1);
                    black_box(registry)
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn reload_one_of_1000(c: &mut Criterion) {
    let tenants = names(1000);
    let (registry, _) = Registry::start(config(), initial(&tenants)).expect("start");
    let mut revision = 0;
    let mut group = c.benchmark_group("activation");
    group.sample_size(20);
    group.bench_function("reload_one_of_1000", |b| {
        b.iter_batched(
            || {
                revision += 1;
                let mut changes: BTreeMap<TenantName, TenantChange> = tenants
                    .iter()
                    .map(|n| (n.clone(), TenantChange::Update(Ok(tenant_files(0)).into())))
                    .collect();
                changes.insert(
                    tenants[500].clone(),
                    TenantChange::Update(Ok(tenant_files(revision)).into()),
                );
                Change {
                    system: None,
                    tenants: changes,
                }
            },
            |change| {
                let report = registry.activate(change);
                assert_eq!(report.activated.len(), 1);
                assert_eq!(report.unchanged.len(), 999);
                black_box(report)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, one_small_tenant, cold_start, reload_one_of_1000);
criterion_main!(benches);
