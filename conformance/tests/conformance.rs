//! The conformance targets, checked against OPA on every run. A missing
//! oracle fails these tests; nothing is skipped.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a test that cannot load its corpus or oracle fails loudly"
)]

use pdp_conformance::{envoy, exact, report::Suite, run::Verdict};

fn assert_no_problems(suite: &Suite) {
    let known = pdp_conformance::known().expect("known-divergences.toml reads");
    let problems = suite.problems(&known);
    assert!(
        problems.is_empty(),
        "{}:\n{}",
        suite.title,
        problems.join("\n")
    );
}

#[test]
fn curated_corpus_agrees_with_opa_except_known_divergences() {
    let oracle = pdp_conformance::load_oracle().expect("the OPA oracle is installed");
    let suite = pdp_conformance::curated(&oracle).expect("the corpus loads");
    let (per, total) = suite.counts();
    assert!(total.total() >= 300, "only {} curated cases", total.total());
    assert_no_problems(&suite);
    // The target: at most one case in a hundred may diverge, each listed
    // with its reason in known-divergences.toml (see REPORT.md).
    const AGREEMENT_FLOOR: f64 = 99.0;
    assert!(
        total.agreement() >= AGREEMENT_FLOOR,
        "agreement {:.2}% is below {AGREEMENT_FLOOR}%",
        total.agreement()
    );
    for (category, counts) in &per {
        if category.starts_with("builtins-") {
            assert_eq!(counts.pass, counts.total(), "{category} must agree fully");
        }
    }
}

#[test]
fn opa_envoy_corpus_agrees_fully() {
    let oracle = pdp_conformance::load_oracle().expect("the OPA oracle is installed");
    let suite = envoy::suite(&oracle).expect("the Envoy corpus runs");
    assert!(suite.results.len() >= 20, "too few Envoy cases");
    let failures: Vec<String> = suite
        .results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .map(|r| format!("{}:\n  ours {}\n  OPA  {}", r.name, r.ours, r.theirs))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn generated_policies_agree_with_opa() {
    let oracle = pdp_conformance::load_oracle().expect("the OPA oracle is installed");
    let suite = pdp_conformance::generated(
        &oracle,
        pdp_conformance::generated_count(),
        pdp_conformance::generated_seed(),
    );
    let failures: Vec<String> = suite
        .results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .map(|r| {
            format!(
                "{}: ours {} / OPA {} ({:?})",
                r.name, r.ours, r.theirs, r.verdict
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn our_input_matches_the_opa_envoy_goldens() {
    for name in envoy::GOLDENS {
        let (ours, golden) = envoy::golden_pair(name).expect("golden reads");
        assert!(
            exact::matches(&ours, &golden),
            "{name}:\n  ours   {}\n  golden {}",
            exact::value_to_json(&ours),
            golden.to_json()
        );
    }
}

#[test]
fn responses_match_the_opa_envoy_goldens() {
    let outcomes = pdp_conformance::responses::run().expect("the goldens run");
    assert!(
        outcomes.len() >= 20,
        "only {} response goldens",
        outcomes.len()
    );
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.agree)
        .map(|o| format!("{}:\n  golden {}\n  ours   {}", o.name, o.golden, o.ours))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_missing_oracle_is_an_error_not_a_skip() {
    let missing = std::path::Path::new("/nonexistent/libopabridge.so");
    assert!(pdp_conformance::oracle::Oracle::load(missing).is_err());
}

#[test]
fn case_files_refuse_unknown_keys() {
    let text = "[[case]]\nname = \"x/y\"\nquery = \"data.t.p\"\nmodules = []\nexpect = 1\n";
    assert!(toml::from_str::<pdp_conformance::case::CaseFile>(text).is_err());
}
