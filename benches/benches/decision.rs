//! Criterion benchmarks of the decision path, in-process: whole decisions
//! per scenario, input construction alone, tenant resolution alone, and a
//! snapshot load while another thread swaps snapshots.

#![allow(
    clippy::expect_used,
    reason = "a benchmark without its fixtures cannot run"
)]

use std::{
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use criterion::{Criterion, criterion_group, criterion_main};
use pdp::{
    config::Config,
    decision::{Need, input_need},
    extauthz::{InputOptions, PreparedInput, RequestView, TenantLabels, build_input},
    tenant::{Resolver, TenantAttributes},
};
use pdp_benches::workload::{Scenario, load};

fn decisions(c: &mut Criterion) {
    let loaded = load(1).expect("benchmark bundles load");
    let check = loaded.service.check();
    let mut group = c.benchmark_group("decision");
    for scenario in Scenario::ALL {
        let request = scenario.request();
        group.bench_function(scenario.name(), |b| {
            b.iter(|| black_box(check.decide(black_box(&request))))
        });
    }
    group.finish();
}

fn input_construction(c: &mut Criterion) {
    let loaded = load(1).expect("benchmark bundles load");
    let snapshot = loaded.service.registry().snapshot();
    let request = Scenario::SameTenantRbac.request();
    let labels = TenantLabels {
        destination: Some("acme"),
        source: Some("acme"),
    };
    let acme = snapshot.tenant("acme").expect("acme is an example tenant");
    let need = input_need(&snapshot.system().policy, &acme.policy);
    let mut group = c.benchmark_group("input_construction");
    // What a request to acme builds: one input holding what the system
    // guardrails and acme's policy read.
    group.bench_function("planned", |b| {
        b.iter(|| {
            let view = RequestView::new(black_box(&request));
            let prepared =
                PreparedInput::prepare(&request, &view, labels, InputOptions::default(), false)
                    .expect("the request parses");
            black_box(prepared.build(need))
        })
    });
    group.bench_function("full", |b| {
        b.iter(|| {
            let view = RequestView::new(black_box(&request));
            black_box(build_input(
                &request,
                &view,
                labels,
                InputOptions::default(),
                Need::All,
            ))
        })
    });
    group.finish();
}

fn tenant_resolution(c: &mut Criterion) {
    let request = Scenario::SameTenantRbac.request();
    let resolver = Resolver::new(&Config::default().tenancy).expect("default tenancy is valid");
    c.bench_function("tenant_resolution", |b| {
        b.iter(|| {
            let view = RequestView::new(black_box(&request));
            let resolution = resolver.resolve(&view);
            black_box(resolution.destination.map(|f| f.name.len()))
        })
    });
    let view = RequestView::new(&request);
    c.bench_function("tenant_resolution_attributes_only", |b| {
        b.iter(|| black_box(black_box(&view).destination_principal()))
    });
}

fn snapshot_load_under_swaps(c: &mut Criterion) {
    let loaded = load(1).expect("benchmark bundles load");
    let registry = loaded.service.registry().clone();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let registry = registry.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                registry.republish();
            }
        })
    };
    c.bench_function("snapshot_load_while_swapping", |b| {
        b.iter(|| black_box(registry.load().generation()))
    });
    stop.store(true, Ordering::Relaxed);
    let _ = swapper.join();
}

criterion_group!(
    benches,
    decisions,
    input_construction,
    tenant_resolution,
    snapshot_load_under_swaps
);
criterion_main!(benches);
