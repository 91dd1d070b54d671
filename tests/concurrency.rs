//! Decisions never see a torn revision: several threads decide in a tight
//! loop while hundreds of activations replace a tenant's policy and data.
//!
//! The tenant's policy and its data each carry the revision, and the
//! decision allows only when the two agree, so a decision made from the
//! policy of one revision and the data of another would be a denial. Each
//! decision also reports the policy's revision in a header, which must
//! match the revision in the dynamic metadata: the snapshot the service
//! read the revision from is the one that decided.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test set-up fails loudly; a panic is the failure report"
)]

use std::{
    collections::BTreeSet,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use envoy_types::pb::{
    envoy::service::auth::v3::{CheckResponse, check_response::HttpResponse},
    google::protobuf::value::Kind,
};
use pdp::{
    bundle::{BundleFile, BundleFiles},
    config::Config,
    registry::{Change, TenantChange},
    server::Service,
    tenant::TenantName,
};
use pdp_e2e::{bundles::BundleDir, requests::Check};

const ACTIVATIONS: u64 = 300;
const THREADS: usize = 3;

fn bundle(revision: u64) -> Vec<(String, String)> {
    let manifest = format!(
        r#"{{"revision": "r{revision}", "metadata": {{"decision_path": "envoy/authz/decision"}}}}"#
    );
    let policy = format!(
        "package envoy.authz\n\n\
         policy_revision := \"r{revision}\"\n\n\
         default allowed := false\n\n\
         allowed if data.mix.revision == policy_revision\n\n\
         decision := {{\"allowed\": allowed, \"headers\": {{\"x-policy-revision\": policy_revision}}}}\n"
    );
    let data = format!(r#"{{"revision": "r{revision}"}}"#);
    vec![
        (".manifest".to_owned(), manifest),
        ("envoy/authz/policy.rego".to_owned(), policy),
        ("mix/data.json".to_owned(), data),
    ]
}

fn files(revision: u64) -> BundleFiles {
    BundleFiles::from_files(
        bundle(revision)
            .into_iter()
            .map(|(path, text)| BundleFile {
                path,
                bytes: text.into_bytes(),
            })
            .collect(),
    )
}

/// The policy revision a decision reports, if it was allowed and its
/// metadata agrees; otherwise why not.
fn consistent_revision(response: &CheckResponse) -> Result<String, String> {
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        return Err(format!("not allowed: {:?}", response.http_response));
    };
    let header = ok
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .find(|h| h.key == "x-policy-revision")
        .map(|h| h.value.clone())
        .ok_or("no x-policy-revision header")?;
    let metadata = response
        .dynamic_metadata
        .as_ref()
        .and_then(|m| m.fields.get("pdp"))
        .and_then(|v| v.kind.as_ref());
    let Some(Kind::StructValue(pdp)) = metadata else {
        return Err("no pdp metadata".to_owned());
    };
    let Some(Kind::StringValue(revision)) =
        pdp.fields.get("revision").and_then(|v| v.kind.as_ref())
    else {
        return Err("no revision in the metadata".to_owned());
    };
    if *revision != header {
        return Err(format!("metadata says {revision}, policy says {header}"));
    }
    Ok(header)
}

#[test]
fn decisions_during_hundreds_of_activations_never_fail_or_mix_revisions() {
    let bundles = BundleDir::from_examples().unwrap();
    let initial: Vec<(String, String)> = bundle(0);
    let initial: Vec<(&str, &str)> = initial
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    bundles.write_tenant("mix", &initial).unwrap();
    let mut config = Config::default();
    config.bundles.root = bundles.path().to_path_buf();
    config.engine.worker_threads = THREADS;
    let (service, report) = Service::load(config).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    let request = Check::http("GET", "/items", "shop.example")
        .extension("tenant", "mix")
        .build();
    let done = AtomicBool::new(false);
    let decisions = AtomicU64::new(0);
    let mix = TenantName::parse("mix").unwrap();

    let (failures, seen) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|slot| {
                let (service, request, done, decisions) = (&service, &request, &done, &decisions);
                scope.spawn(move || {
                    pdp::decision::pin_thread_to_slot(slot);
                    let mut failures = Vec::new();
                    let mut seen = BTreeSet::new();
                    while !done.load(Ordering::Relaxed) {
                        let outcome = service
                            .check()
                            .decide(request)
                            .map_err(|status| format!("rpc failed: {status}"))
                            .and_then(|response| consistent_revision(&response));
                        match outcome {
                            Ok(revision) => {
                                seen.insert(revision);
                            }
                            Err(reason) => failures.push(reason),
                        }
                        decisions.fetch_add(1, Ordering::Relaxed);
                    }
                    (failures, seen)
                })
            })
            .collect();

        for revision in 1..=ACTIVATIONS {
            let change = Change {
                system: None,
                tenants: [(
                    mix.clone(),
                    TenantChange::Update(Ok(files(revision)).into()),
                )]
                .into(),
            };
            let report = service.registry().activate(change);
            assert_eq!(report.activated, ["tenants/mix"], "{report:?}");
        }
        done.store(true, Ordering::Relaxed);

        let mut failures = Vec::new();
        let mut seen = BTreeSet::new();
        for worker in workers {
            let (f, s) = worker.join().unwrap();
            failures.extend(f);
            seen.extend(s);
        }
        (failures, seen)
    });

    assert_eq!(
        service.registry().load().tenant("mix").unwrap().revision,
        format!("r{ACTIVATIONS}")
    );
    let total = decisions.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {total} decisions failed, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(
        seen.len() > 1,
        "the decisions overlapped the activations ({total} decisions saw {seen:?})"
    );
}
