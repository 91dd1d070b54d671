//! The test gate: a bundle's own Rego unit tests, run before it activates.
//!
//! The tests are the rules named `test_*` in the bundle's `*_test.rego`
//! files, as `opa test` finds them (`todo_test_*` rules are skipped, as OPA
//! skips them). A test passes when its value is defined and not `false`.
//! Each test is evaluated on an engine of its own, built from the same
//! modules and data, so that no test can leave state behind for the next.
//! A failing test blocks the revision; its error names the test and points
//! at its definition.

use std::{
    collections::BTreeSet,
    panic::{AssertUnwindSafe, catch_unwind},
    time::Duration,
};

use regorus::Value;

use super::{EngineConfig, RulePath, SourceError, analysis, compile::build_engine, recover};
use crate::bundle::Bundle;

/// How long one test may run. Tests often build large inputs with `with`,
/// so they get far more time than a request's evaluation.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs every test of `bundle`; returns one error per failing test.
pub fn run_tests(bundle: &Bundle) -> Result<(), Vec<SourceError>> {
    let tests = find_tests(bundle)?;
    if tests.is_empty() {
        return Ok(());
    }

    let config = EngineConfig {
        eval_timeout_ms: u64::try_from(TEST_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
        worker_threads: 0,
        ..EngineConfig::default()
    };
    let mut errors = Vec::new();
    for test in &tests {
        if let Err(reason) = run_one(bundle, &config, test) {
            let module = &bundle.modules[test.module];
            let name = test.path.join(".");
            errors.push(SourceError::at(
                &module.path,
                &module.source,
                test.line,
                test.col,
                format!("test `{name}` failed: {reason}"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A test rule: where it is and its full path (`data.pkg.test_x`).
#[derive(Debug)]
struct Test {
    path: Vec<String>,
    module: usize,
    line: u32,
    col: u32,
}

/// The test rules of the bundle's `*_test.rego` files, once per path.
fn find_tests(bundle: &Bundle) -> Result<Vec<Test>, Vec<SourceError>> {
    let mut parsed = Vec::new();
    let mut owners = Vec::new();
    for (index, module) in bundle.modules.iter().enumerate() {
        if !module.path.ends_with("_test.rego") {
            continue;
        }
        let outcome = recover::parse_module(module);
        if !outcome.errors.is_empty() {
            return Err(outcome.errors);
        }
        if let Some(ast) = outcome.module {
            parsed.push(ast);
            owners.push(index);
        }
    }

    let mut seen = BTreeSet::new();
    let mut tests = Vec::new();
    for site in analysis::rule_sites(&parsed) {
        let is_test = site
            .path
            .last()
            .is_some_and(|name| name.starts_with("test_"));
        if site.is_function || !is_test || !seen.insert(site.path.clone()) {
            continue;
        }
        tests.push(Test {
            path: site.path,
            module: owners[site.module],
            line: site.line,
            col: site.col,
        });
    }
    Ok(tests)
}

/// Evaluates one test on a fresh engine.
fn run_one(bundle: &Bundle, config: &EngineConfig, test: &Test) -> Result<(), String> {
    let slash = test.path.get(1..).unwrap_or_default().join("/");
    let rule = RulePath::parse(&slash).map_err(|err| err.to_string())?;
    let mut engine = build_engine(&bundle.modules, &bundle.data, config, &[])
        .map_err(|errors| errors.to_string())?;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        engine.eval_rule(rule.reference().to_string())
    }));
    match outcome {
        Ok(Ok(Value::Undefined)) => {
            Err("the test is undefined (a condition did not hold)".to_owned())
        }
        Ok(Ok(Value::Bool(false))) => Err("the test is false".to_owned()),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => {
            let error = SourceError::from_engine(&err, "");
            Err(format!("evaluation error: {}", error.message))
        }
        Err(_) => Err("the engine panicked while evaluating the test".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{BundleFile, BundleFiles};

    fn bundle(files: &[(&str, &str)]) -> Bundle {
        let files = files
            .iter()
            .map(|(path, text)| BundleFile {
                path: (*path).to_owned(),
                bytes: text.as_bytes().to_vec(),
            })
            .collect();
        Bundle::from_files(&BundleFiles::from_files(files)).unwrap()
    }

    const POLICY: &str = "package envoy.authz\n\
        allow if input.role == data.roles.admin\n";
    const DATA: &str = r#"{"admin": "root"}"#;

    #[test]
    fn passing_tests_let_the_bundle_through() {
        let tests = "package envoy.authz_test\n\
            import data.envoy.authz\n\
            test_admin_allowed if authz.allow with input as {\"role\": \"root\"}\n\
            test_guest_denied if not authz.allow with input as {\"role\": \"guest\"}\n\
            todo_test_later if false\n";
        let bundle = bundle(&[
            ("policy.rego", POLICY),
            ("roles/data.json", DATA),
            ("policy_test.rego", tests),
        ]);
        assert_eq!(run_tests(&bundle), Ok(()));
    }

    #[test]
    fn a_failing_test_is_named_with_its_location() {
        let tests = "package envoy.authz_test\n\
            import data.envoy.authz\n\
            test_admin_allowed if authz.allow with input as {\"role\": \"root\"}\n\
            test_guest_allowed if authz.allow with input as {\"role\": \"guest\"}\n";
        let bundle = bundle(&[
            ("policy.rego", POLICY),
            ("roles/data.json", DATA),
            ("authz/policy_test.rego", tests),
        ]);
        let errors = run_tests(&bundle).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].file, "authz/policy_test.rego");
        assert_eq!(errors[0].line, 4);
        assert!(
            errors[0]
                .message
                .contains("`data.envoy.authz_test.test_guest_allowed`"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn a_test_that_errors_fails() {
        let tests = "package t\n\
            v := 1 if input.x\n\
            v := 2 if input.x\n\
            test_conflict if v == 1 with input.x as true\n";
        let bundle = bundle(&[("policy.rego", POLICY), ("x_test.rego", tests)]);
        let errors = run_tests(&bundle).unwrap_err();
        assert!(errors[0].message.contains("test_conflict"), "{errors:?}");
        assert!(errors[0].message.contains("evaluation error"), "{errors:?}");
    }

    #[test]
    fn test_rules_outside_test_files_are_not_tests() {
        let bundle = bundle(&[(
            "policy.rego",
            "package envoy.authz\nallow := true\ntest_not_run if false\n",
        )]);
        assert_eq!(run_tests(&bundle), Ok(()));
    }

    #[test]
    fn a_data_change_can_fail_a_test() {
        let tests = "package envoy.authz_test\n\
            import data.envoy.authz\n\
            test_admin_allowed if authz.allow with input as {\"role\": \"root\"}\n";
        let good = bundle(&[
            ("policy.rego", POLICY),
            ("roles/data.json", DATA),
            ("policy_test.rego", tests),
        ]);
        assert_eq!(run_tests(&good), Ok(()));
        let bad = bundle(&[
            ("policy.rego", POLICY),
            ("roles/data.json", r#"{"admin": "someone-else"}"#),
            ("policy_test.rego", tests),
        ]);
        assert!(run_tests(&bad).is_err());
    }
}
