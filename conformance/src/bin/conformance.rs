//! Runs every corpus against OPA, prints the report and writes
//! `conformance/REPORT.md`. Exits non-zero on any problem the tests would
//! fail on. `PDP_CONFORMANCE_GENERATED=<n>` runs more generated cases.

use std::process::ExitCode;

fn main() -> anyhow::Result<ExitCode> {
    let oracle = pdp_conformance::load_oracle()?;
    let known = pdp_conformance::known()?;
    let suites = vec![
        pdp_conformance::curated(&oracle)?,
        pdp_conformance::envoy::suite(&oracle)?,
        pdp_conformance::responses::suite()?,
        pdp_conformance::generated(
            &oracle,
            pdp_conformance::generated_count(),
            pdp_conformance::generated_seed(),
        ),
    ];

    let report = pdp_conformance::report::render(&suites, &known);
    std::fs::write(pdp_conformance::root().join("REPORT.md"), &report)?;
    let problems: Vec<String> = suites.iter().flat_map(|s| s.problems(&known)).collect();

    #[allow(clippy::print_stdout, reason = "the report is this binary's output")]
    {
        println!("{report}");
        for problem in &problems {
            println!("PROBLEM {problem}");
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
