//! Whole bundles decided from Envoy `CheckRequest`s, and the input goldens.
//!
//! **Decisions.** Each folder under `envoy/` holds a tenant bundle
//! (`bundle/`) and `requests.toml`. Each request goes through the whole
//! service in process ([`pdp::server::Service`], with the repository's
//! system bundle), and the answer is compared with what OPA-Envoy would
//! answer: OPA evaluates the system deny rule and the tenant's decision rule
//! on the same input, and [`expected`] maps OPA's decision onto a
//! `CheckResponse` by OPA-Envoy's rules (written here from its
//! `envoyauth/response.go`, independently of `pdp::extauthz::response`).
//!
//! **Inputs.** `envoy/inputs/<name>.json` is the `input` OPA-Envoy builds
//! for the request [`golden_request`] makes under that name, written from
//! OPA-Envoy's `envoyauth/request.go`. Our input must equal it, except for
//! the two documented additions: resolved tenants in peer labels (not
//! exercised: no tenants are passed) and `header_map` folded into
//! `headers` (OPA-Envoy keeps `headerMap`; the golden for raw headers says
//! so, and the comparison applies the fold to the golden).
//!
//! The requests live in `requests`, the answers (ours observed, OPA-Envoy's
//! derived) in `answers`, and the input goldens in `goldens`; this file runs
//! the suite.

mod answers;
mod goldens;
mod requests;

use std::path::{Path, PathBuf};

use pdp::{
    bundle::{Bundle, BundleFile, BundleFiles},
    config::Config,
    decision::Need,
    extauthz::{InputOptions, RequestView, TenantLabels, build_input},
    server::Service,
};

use self::{answers::observe, requests::RequestsFile};
pub use self::{
    answers::{Observed, expected},
    goldens::{GOLDENS, golden_pair, golden_request},
    requests::{RequestSpec, check_request},
};
use crate::{
    exact,
    oracle::Oracle,
    report::Suite,
    run::{CaseResult, Verdict},
};

/// Reads every file of a bundle folder.
fn bundle_files(dir: &Path) -> anyhow::Result<Vec<BundleFile>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
                out.push(BundleFile {
                    path: rel,
                    bytes: std::fs::read(&path)?,
                });
            }
        }
    }
    Ok(out)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for file in bundle_files(from)? {
        let target = to.join(&file.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(target, file.bytes)?;
    }
    Ok(())
}

/// An OPA engine holding one bundle's modules and data.
fn oracle_engine<'a>(
    oracle: &'a Oracle,
    bundle: &Bundle,
) -> anyhow::Result<crate::oracle::Engine<'a>> {
    let mut engine = oracle.engine()?;
    for module in &bundle.modules {
        if let Err(failure) = engine.add_policy(&module.path, &module.source)? {
            anyhow::bail!("OPA refused `{}`: {}", module.path, failure.message);
        }
    }
    if let Err(failure) = engine.add_data(&exact::value_to_json(&bundle.data))? {
        anyhow::bail!("OPA refused the data: {}", failure.message);
    }
    Ok(engine)
}

fn decision_path(bundle: &Bundle) -> String {
    match bundle.manifest.metadata.get("decision_path") {
        Some(serde_json::Value::String(path)) => path.replace('/', "."),
        _ => "envoy.authz.allow".into(),
    }
}

/// Runs every bundle under `envoy/` through the service and through OPA.
pub fn suite(oracle: &Oracle) -> anyhow::Result<Suite> {
    let root = crate::root();
    let system_dir = root.join("../bundles/system");
    let system = Bundle::from_files(&BundleFiles::from_files(bundle_files(&system_dir)?))?;
    let mut results = Vec::new();

    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("envoy"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("requests.toml").exists())
        .collect();
    dirs.sort();
    for dir in dirs {
        let tenant = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let requests: RequestsFile =
            toml::from_str(&std::fs::read_to_string(dir.join("requests.toml"))?)?;
        let bundle =
            Bundle::from_files(&BundleFiles::from_files(bundle_files(&dir.join("bundle"))?))?;

        // The service, on a folder with the system bundle and this tenant.
        let work = tempfile::tempdir()?;
        copy_tree(&system_dir, &work.path().join("system"))?;
        copy_tree(
            &dir.join("bundle"),
            &work.path().join("tenants").join(&tenant),
        )?;
        let mut config = Config::default();
        config.bundles.root = work.path().to_owned();
        config.engine.worker_threads = 1;
        let (service, report) = Service::load(config)?;
        anyhow::ensure!(
            report.failed.is_empty(),
            "bundles failed: {:?}",
            report.failed
        );

        let mut system_engine = oracle_engine(oracle, &system)?;
        let mut tenant_engine = oracle_engine(oracle, &bundle)?;
        let path = decision_path(&bundle);

        for spec in &requests.requests {
            let request = check_request(spec, Some(&tenant));
            let ours = observe(service.check().decide(&request));

            // OPA sees the input the service builds (checked against
            // OPA-Envoy's own by the input goldens).
            let view = RequestView::new(&request);
            let source = spec
                .source_principal
                .as_deref()
                .and_then(|p| p.split("/ns/").nth(1))
                .and_then(|rest| rest.split('/').next());
            let labels = TenantLabels {
                destination: Some(&tenant),
                source,
            };
            let theirs =
                match build_input(&request, &view, labels, InputOptions::default(), Need::All) {
                    Err(err) => expected_parse_error(&err.to_string()),
                    Ok(input) => {
                        let input = exact::value_to_json(&input);
                        let deny = system_engine
                            .eval_document("multi_tenant.policy.deny", Some(&input))?;
                        let denied = matches!(&deny, Ok(Some(raw)) if raw != "[]");
                        if denied {
                            expected_system_denial()
                        } else {
                            let decision = tenant_engine.eval_document(&path, Some(&input))?;
                            let json = match decision {
                                Ok(Some(raw)) => {
                                    Some(exact::parse(&raw).map_err(anyhow::Error::msg)?)
                                }
                                Err(failure)
                                    if crate::run::classify_opa(&failure)
                                        == crate::run::ErrorKind::Builtin =>
                                {
                                    // OPA-Envoy is non-strict; the strict oracle
                                    // cannot say what it would answer here.
                                    anyhow::bail!(
                                        "{tenant}/{}: OPA reports a builtin error; \
                                     such paths belong in the curated corpus",
                                        spec.name
                                    );
                                }
                                _ => None,
                            };
                            expected(json.as_ref())
                        }
                    }
                };
            let verdict = if ours == theirs {
                Verdict::Pass
            } else {
                Verdict::Diverge
            };
            results.push(CaseResult {
                name: format!("{tenant}/{}", spec.name),
                category: tenant.clone(),
                verdict,
                ours: format!("{ours:?}"),
                theirs: format!("{theirs:?}"),
                ours_allows: matches!(ours, Observed::Response { code: 0, .. }),
                theirs_allows: matches!(theirs, Observed::Response { code: 0, .. }),
                note: None,
            });
        }
    }
    Ok(Suite {
        title: "OPA-Envoy corpus (whole bundles, CheckRequests)".into(),
        results,
    })
}

/// OPA-Envoy's answer to a request it cannot parse.
fn expected_parse_error(error: &str) -> Observed {
    Observed::Response {
        code: 7,
        http_status: Some(400),
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("x-pdp-reason".into(), "request_parse_error".into()),
        ],
        body: format!("request_parse_error: {error}"),
        remove: Vec::new(),
        response_headers: Vec::new(),
        query: (Vec::new(), Vec::new()),
        metadata_keys: Vec::new(),
    }
}

/// The service's own answer when the system deny set is not empty: a 403
/// (OPA-Envoy has no system bundle; its answer would be the deny itself).
fn expected_system_denial() -> Observed {
    Observed::Response {
        code: 7,
        http_status: Some(403),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-pdp-reason".into(), "system_policy_denied".into()),
        ],
        body: String::new(),
        remove: Vec::new(),
        response_headers: Vec::new(),
        query: (Vec::new(), Vec::new()),
        metadata_keys: Vec::new(),
    }
}
