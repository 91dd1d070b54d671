use proptest::prelude::*;
use regorus::Value;

use super::*;
use crate::bundle::{Bundle, BundleFile, BundleFiles};
use crate::decision::EvalErrorKind;

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

fn example(path: &str) -> Bundle {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bundles")
        .join(path);
    Bundle::read(&root, &crate::bundle::BundleLimits::default()).unwrap()
}

fn config(vm: bool) -> EngineConfig {
    EngineConfig {
        worker_threads: 0,
        vm,
        ..EngineConfig::default()
    }
}

fn rule(path: &str) -> RulePath {
    RulePath::parse(path).unwrap()
}

fn json(text: &str) -> Value {
    Value::from_json_str(text).unwrap()
}

#[test]
fn policies_without_conflict_risk_run_on_the_vm() {
    let b = example("tenants/acme");
    let policy = CompiledPolicy::compile(&b, &[rule("envoy/authz/allow")], &config(true)).unwrap();
    assert_eq!(policy.engine_kind(), &EngineKind::Vm);
    let off = CompiledPolicy::compile(&b, &[rule("envoy/authz/allow")], &config(false)).unwrap();
    assert!(matches!(off.engine_kind(), EngineKind::Interpreter(_)));
}

/// The VM would turn this conflict into "no deny message", which would let
/// the request through. The policy must go to the interpreter, which reports
/// the conflict, and the conflict must surface as an error.
#[test]
fn a_conflict_is_never_turned_into_undefined() {
    let b = bundle(&[(
        "s.rego",
        "package multi_tenant.policy\n\
         level := \"high\" if input.a\n\
         level := \"low\" if input.b\n\
         deny contains \"blocked\" if level == \"high\"\n",
    )]);
    let deny = rule("multi_tenant/policy/deny");
    let policy = CompiledPolicy::compile(&b, std::slice::from_ref(&deny), &config(true)).unwrap();
    let EngineKind::Interpreter(reason) = policy.engine_kind() else {
        panic!("a policy that may conflict must not run on the VM");
    };
    assert!(reason.contains("level"), "{reason}");

    let err = policy
        .evaluate(&deny, json(r#"{"a": true, "b": true}"#))
        .unwrap_err();
    assert_eq!(err.kind, EvalErrorKind::Conflict);
    let fine = policy.evaluate(&deny, json(r#"{"a": true}"#)).unwrap();
    let expected: std::collections::BTreeSet<Value> = [Value::from("blocked")].into();
    assert_eq!(fine, Value::from(expected));
}

#[test]
fn the_vm_budget_is_raised_above_the_engines_default() {
    // 20,000 iterations exceed the engine's default of 25,000 instructions.
    let b = bundle(&[(
        "p.rego",
        "package p\nallow if count([x | some x in numbers.range(1, 20000); x > 0]) == 20000\n",
    )]);
    let policy = CompiledPolicy::compile(&b, &[rule("p/allow")], &config(true)).unwrap();
    assert_eq!(policy.engine_kind(), &EngineKind::Vm);
    assert_eq!(
        policy
            .evaluate(&rule("p/allow"), Value::new_object())
            .unwrap(),
        Value::Bool(true)
    );
}

#[test]
fn policies_reading_the_clock_are_not_memoised() {
    let clock = bundle(&[("p.rego", "package p\nallow if time.now_ns() > 0\n")]);
    let policy = CompiledPolicy::compile(&clock, &[rule("p/allow")], &config(true)).unwrap();
    assert_eq!(
        policy.memo_disabled_because(),
        Some("it calls `time.now_ns`")
    );
    let pure = bundle(&[("p.rego", "package p\nallow if input.x > 0\n")]);
    let policy = CompiledPolicy::compile(&pure, &[rule("p/allow")], &config(true)).unwrap();
    assert_eq!(policy.memo_disabled_because(), None);
}

#[test]
fn plans_follow_what_the_policy_reads() {
    let policy = CompiledPolicy::compile(
        &example("system"),
        &[rule("multi_tenant/policy/deny")],
        &config(true),
    )
    .unwrap();
    let root = policy.input_plan().root();
    let source = root
        .child("attributes")
        .and_then(|a| a.child("source"))
        .unwrap();
    assert!(source.child("labels").unwrap().wants("tenant"));
    assert!(!source.wants("principal"));
    assert!(!root.wants("parsed_body"));
}

fn acme_input(method: &str, path: &[&str], principal: &str, api_key: &str) -> Value {
    let input = serde_json::json!({
        "attributes": {
            "source": {"principal": principal},
            "request": {"http": {"method": method, "headers": {"x-api-key": api_key}}},
        },
        "parsed_path": path,
    });
    Value::from_json_str(&input.to_string()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The VM and the interpreter answer every request alike on the example
    /// policies, with and without the memo.
    #[test]
    fn vm_and_interpreter_agree_on_the_examples(
        method in prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]),
        path in prop::collection::vec(prop::sample::select(vec!["api", "orders", "catalog", "healthz", "7", "", "admin"]), 0..4),
        principal in prop::sample::select(vec![
            "", "spiffe://cluster.local/ns/acme/sa/storefront", "spiffe://cluster.local/ns/acme/sa/checkout",
            "spiffe://cluster.local/ns/acme/sa/ops-console", "spiffe://cluster.local/ns/x/sa/y",
        ]),
        api_key in prop::sample::select(vec!["", "acme-demo-reader", "nope"]),
        source_tenant in prop::sample::select(vec!["acme", "globex", "istio-ingress"]),
    ) {
        let path: Vec<&str> = path;
        let acme = example("tenants/acme");
        let allow = rule("envoy/authz/allow");
        let vm = CompiledPolicy::compile(&acme, std::slice::from_ref(&allow), &config(true)).unwrap();
        let interp = CompiledPolicy::compile(&acme, std::slice::from_ref(&allow), &config(false)).unwrap();
        let input = acme_input(method, &path, principal, api_key);
        prop_assert_eq!(vm.evaluate(&allow, input.clone()), interp.evaluate(&allow, input.clone()));
        // The memo answers the second time; the answer must not change.
        prop_assert_eq!(vm.evaluate(&allow, input.clone()), interp.evaluate(&allow, input));

        let globex = example("tenants/globex");
        let decision = rule("envoy/authz/decision");
        let vm = CompiledPolicy::compile(&globex, std::slice::from_ref(&decision), &config(true)).unwrap();
        let interp = CompiledPolicy::compile(&globex, std::slice::from_ref(&decision), &config(false)).unwrap();
        let input = acme_input(method, &path, principal, api_key);
        prop_assert_eq!(vm.evaluate(&decision, input.clone()), interp.evaluate(&decision, input));

        let system = example("system");
        let deny = rule("multi_tenant/policy/deny");
        let vm = CompiledPolicy::compile(&system, std::slice::from_ref(&deny), &config(true)).unwrap();
        let interp = CompiledPolicy::compile(&system, std::slice::from_ref(&deny), &config(false)).unwrap();
        let labels = serde_json::json!({"attributes": {
            "source": {"labels": {"tenant": source_tenant}},
            "destination": {"labels": {"tenant": "acme"}},
        }});
        let input = Value::from_json_str(&labels.to_string()).unwrap();
        prop_assert_eq!(vm.evaluate(&deny, input.clone()), interp.evaluate(&deny, input));
    }
}

/// One compiled policy answering a long sequence of inputs, many repeated:
/// every answer from the memo must equal a fresh evaluation.
#[test]
fn remembered_answers_equal_fresh_evaluations() {
    let system = example("system");
    let deny = rule("multi_tenant/policy/deny");
    let remembering =
        CompiledPolicy::compile(&system, std::slice::from_ref(&deny), &config(true)).unwrap();
    assert_eq!(remembering.memo_disabled_because(), None);
    let fresh =
        CompiledPolicy::compile(&system, std::slice::from_ref(&deny), &config(false)).unwrap();
    let tenants = ["acme", "globex", "istio-ingress", "initech"];
    for i in 0..600_usize {
        let (source, destination) = (tenants[i % 4], tenants[(i / 4) % 3]);
        let labels = serde_json::json!({"attributes": {
            "source": {"labels": {"tenant": source}},
            "destination": {"labels": {"tenant": destination}},
        }});
        let value = Value::from_json_str(&labels.to_string()).unwrap();
        assert_eq!(
            remembering.evaluate(&deny, value.clone()),
            fresh.evaluate(&deny, value),
            "{source} -> {destination}"
        );
    }
}

/// The VM has no extensions; a replaced builtin must still answer with the
/// replacement there, not with the engine's original.
#[test]
fn replaced_builtins_answer_alike_on_the_vm_and_the_interpreter() {
    let b = bundle(&[(
        "p.rego",
        "package p\n\
         answers := [\n\
           upper(input.s), lower(\"ΟΔΟΣ\"), semver.is_valid(input.v),\n\
           semver.compare(input.v, \"1.2.4\"), regex.split(\"x*\", \"axbxc\"),\n\
           time.format([0, \"UTC\", \"RFC822\"]),\n\
         ]\n",
    )]);
    let input = json(r#"{"s": "straße", "v": "v1.2.3"}"#);
    let expected = json(r#"["STRAßE", "οδοσ", true, -1, ["a", "b", "c"], "01 Jan 70 00:00 UTC"]"#);
    let vm = CompiledPolicy::compile(&b, &[rule("p/answers")], &config(true)).unwrap();
    assert_eq!(vm.engine_kind(), &EngineKind::Vm);
    assert_eq!(
        vm.evaluate(&rule("p/answers"), input.clone()).unwrap(),
        expected
    );
    let interp = CompiledPolicy::compile(&b, &[rule("p/answers")], &config(false)).unwrap();
    assert_eq!(
        interp.evaluate(&rule("p/answers"), input).unwrap(),
        expected
    );
}

#[test]
fn a_decision_path_naming_a_package_answers_its_whole_document() {
    let b = bundle(&[
        (
            "p.rego",
            "package envoy.authz\nallowed := input.ok\nheaders := {\"x\": \"1\"}\n",
        ),
        (
            "data.json",
            r#"{"envoy": {"authz": {"note": "from data"}}}"#,
        ),
    ]);
    let package = rule("envoy/authz");
    let policy =
        CompiledPolicy::compile(&b, std::slice::from_ref(&package), &config(true)).unwrap();
    assert!(!policy.names_rule(&package));
    assert!(matches!(policy.engine_kind(), EngineKind::Interpreter(_)));
    assert_eq!(
        policy.evaluate(&package, json(r#"{"ok": true}"#)).unwrap(),
        json(r#"{"allowed": true, "headers": {"x": "1"}, "note": "from data"}"#)
    );

    let nothing = rule("envoy/nothing/here");
    let policy =
        CompiledPolicy::compile(&b, std::slice::from_ref(&nothing), &config(true)).unwrap();
    assert_eq!(
        policy.evaluate(&nothing, json("{}")).unwrap(),
        Value::Undefined
    );
}

#[test]
fn a_system_deny_path_must_name_a_rule() {
    let b = bundle(&[(
        "s.rego",
        "package multi_tenant.policy\ndeny contains \"x\" if input.bad\n",
    )]);
    let config = config(true);
    assert!(
        crate::decision::SystemPolicy::compile(&b, &rule("multi_tenant/policy/deny"), &config)
            .is_ok()
    );
    let err = crate::decision::SystemPolicy::compile(&b, &rule("multi_tenant/policy"), &config)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no rule defined at the system deny path"),
        "{err}"
    );
}

#[test]
fn a_literal_argument_of_the_wrong_type_is_refused_with_its_location() {
    let b = bundle(&[(
        "p.rego",
        "package p\n\nallow if {\n  count(5) > 1\n  x := \"a\" + 1\n}\n",
    )]);
    let errors = CompiledPolicy::compile(&b, &[rule("p/allow")], &config(true)).unwrap_err();
    let found: Vec<(u32, &str)> = errors
        .0
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                4,
                "invalid argument(s) for `count`: operand 1 must be string or array or set or object, not number"
            ),
            (
                5,
                "invalid argument(s) for `plus`: operand 1 must be number, not string"
            ),
        ]
    );
    // The caret points at the operand that is wrong.
    assert_eq!(errors.0[0].source_line, "  count(5) > 1");
    assert_eq!((errors.0[0].col, errors.0[1].col), (9, 9));
}
