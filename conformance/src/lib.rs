//! Conformance: the service's engine path against OPA itself.
//!
//! - [`oracle`]: OPA's Go engine, loaded from `libopabridge.so`.
//! - [`case`]: the curated corpus' file format (`cases/*.toml`).
//! - [`run`]: one case on both sides, and the verdict.
//! - [`exact`]: reading OPA's JSON without losing digits; comparison rules.
//! - [`generate`]: random policies and inputs (proptest).
//! - [`envoy`]: whole bundles decided from Envoy `CheckRequest`s, against
//!   OPA-Envoy's input and response rules.
//! - [`responses`]: golden `CheckResponse`s for every decision form and
//!   failure, written from OPA-Envoy's response rules.
//! - [`report`]: counts, known divergences, `REPORT.md`.
//!
//! The `conformance` binary runs everything and writes `REPORT.md`; the
//! tests in `tests/` assert the targets.

pub mod case;
pub mod envoy;
pub mod exact;
pub mod generate;
pub mod oracle;
pub mod report;
pub mod responses;
pub mod run;

use std::path::{Path, PathBuf};

/// The crate's folder (cases, fixtures, the known-divergences list).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_owned()
}

/// Loads the oracle, or explains how to install it. A missing oracle is an
/// error, never a reason to skip.
pub fn load_oracle() -> anyhow::Result<oracle::Oracle> {
    let path = oracle::default_path();
    oracle::Oracle::load(&path).map_err(|err| {
        anyhow::anyhow!("{err}; run scripts/setup, or set PDP_OPA_LIB to libopabridge.so")
    })
}

/// How many generated cases to run: `PDP_CONFORMANCE_GENERATED`, else 64.
pub fn generated_count() -> usize {
    std::env::var("PDP_CONFORMANCE_GENERATED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// The seed of the generated cases: fixed, unless `PDP_CONFORMANCE_SEED`
/// is `random` (a fresh seed, printed) or 64 hex digits.
pub fn generated_seed() -> Option<[u8; 32]> {
    let value = std::env::var("PDP_CONFORMANCE_SEED").ok()?;
    let mut seed = [0u8; 32];
    if value == "random" {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, byte) in nanos.to_le_bytes().iter().enumerate() {
            seed[i] = *byte;
        }
    } else {
        for (i, chunk) in value.as_bytes().chunks(2).take(32).enumerate() {
            let text = std::str::from_utf8(chunk).ok()?;
            seed[i] = u8::from_str_radix(text, 16).ok()?;
        }
    }
    eprintln!("generated cases seed: {}", hex_string(&seed));
    Some(seed)
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the curated corpus.
pub fn curated(oracle: &oracle::Oracle) -> anyhow::Result<report::Suite> {
    let cases = case::load_corpus(&root().join("cases"))?;
    Ok(report::Suite {
        title: "Curated corpus".into(),
        results: cases.iter().map(|c| run::judge(oracle, c)).collect(),
    })
}

/// Runs `count` generated cases.
pub fn generated(oracle: &oracle::Oracle, count: usize, seed: Option<[u8; 32]>) -> report::Suite {
    report::Suite {
        title: "Generated policies".into(),
        results: generate::cases(count, seed)
            .iter()
            .map(|c| run::judge(oracle, c))
            .collect(),
    }
}

/// The known divergences.
pub fn known() -> anyhow::Result<report::KnownDivergences> {
    report::KnownDivergences::load(&root().join("known-divergences.toml"))
}
