//! Generated cases: small random policies and inputs, compared with OPA.
//!
//! A [`proptest`](mod@proptest) strategy builds a package with a defaulted
//! `allow` rule of two bodies, a partial set rule, a partial object rule and
//! a summary that reads them all, from a pool of conditions over
//! comparisons, string and aggregate builtins, `some ... in`, `every` and
//! comprehensions; and a random input of numbers, strings, arrays and
//! objects. Each generated case is judged like a curated one; generated
//! cases are never in the list of known divergences, so any divergence
//! fails.

use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};

use crate::case::Case;

/// A condition over the input, reading `input.a` (integer), `input.b`
/// (string), `input.items` (integers), `input.obj` (string to integer) and
/// `input.flag` (boolean).
fn condition() -> impl Strategy<Value = String> {
    let n = -6i64..6;
    let word = prop::sample::select(vec!["", "a", "ab", "B", "abc", "x-y", "Zed"]);
    prop_oneof![
        (
            prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]),
            n.clone()
        )
            .prop_map(|(op, n)| format!("input.a {op} {n}")),
        word.clone().prop_map(|w| format!("input.b == \"{w}\"")),
        word.clone()
            .prop_map(|w| format!("startswith(input.b, \"{w}\")")),
        word.clone()
            .prop_map(|w| format!("contains(lower(input.b), \"{w}\")")),
        n.clone().prop_map(|n| format!("count(input.items) > {n}")),
        n.clone().prop_map(|n| format!("sum(input.items) >= {n}")),
        n.clone()
            .prop_map(|n| format!("some x in input.items; x == {n}")),
        n.clone()
            .prop_map(|n| format!("every x in input.items {{ x > {n} }}")),
        n.clone()
            .prop_map(|n| format!("count([x | some x in input.items; x < {n}]) > 0")),
        n.clone()
            .prop_map(|n| format!("some k, v in input.obj; v > {n}; k != \"\"")),
        Just("input.flag".to_owned()),
        Just("not input.flag".to_owned()),
        n.clone().prop_map(|n| format!("max(input.items) == {n}")),
        word.prop_map(|w| format!("upper(input.b) == upper(\"{w}\")")),
        n.prop_map(|n| format!("abs(input.a) * 2 > {n}")),
    ]
}

fn policy() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(condition(), 1..3),
        condition(),
        condition(),
        -4i64..4,
        -4i64..4,
    )
        .prop_map(|(allow, other, set_cond, bound, factor)| {
            let allow = allow.join("\n    ");
            let set_cond = set_cond.replace("some x in input.items; ", "");
            format!(
                "package gen\n\n\
                 default allow := false\n\n\
                 allow if {{\n    {allow}\n}}\n\n\
                 allow if {{\n    {other}\n}}\n\n\
                 matches contains x if {{\n    some x in input.items\n    x >= {bound}\n    {set_cond}\n}}\n\n\
                 scores[k] := v * {factor} if {{\n    some k, v in input.obj\n    v != {bound}\n}}\n\n\
                 summary := {{\"allow\": allow, \"matches\": matches, \"scores\": scores, \
                 \"n\": count({{x | some x in input.items; x > {bound}}})}}\n"
            )
        })
}

fn input() -> impl Strategy<Value = String> {
    (
        -8i64..8,
        prop::sample::select(vec!["", "a", "ab", "abc", "B", "Zed", "x-y", "ünï"]),
        prop::collection::vec(-6i64..6, 0..5),
        prop::collection::btree_map("[a-c]{1,2}", -6i64..6, 0..4),
        any::<bool>(),
    )
        .prop_map(|(a, b, items, obj, flag)| {
            serde_json::json!({"a": a, "b": b, "items": items, "obj": obj, "flag": flag})
                .to_string()
        })
}

/// `count` generated cases. With `seed`, the same cases every time.
pub fn cases(count: usize, seed: Option<[u8; 32]>) -> Vec<Case> {
    let rng = match seed {
        Some(seed) => TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
        None => TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    };
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = (policy(), input());
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            break;
        };
        let (module, input) = tree.current();
        out.push(Case {
            name: format!("generated/{i:04}"),
            query: "data.gen.summary".into(),
            modules: vec![module],
            input: Some(input),
            data: None,
            v0: false,
            v1_modules: None,
            non_strict: None,
        });
    }
    out
}
