use std::collections::HashSet;

use regorus::Engine;

use super::*;

fn analyse_sources(sources: &[(&str, &str)]) -> Analysis {
    let mut engine = Engine::new();
    for (path, text) in sources {
        engine
            .add_policy((*path).to_owned(), (*text).to_owned())
            .unwrap();
    }
    let modules = engine.get_modules().clone();
    analyse(&modules, &HashSet::new())
}

fn messages(analysis: &Analysis) -> Vec<String> {
    analysis
        .errors
        .iter()
        .map(|e| format!("{}:{}: {}", e.file, e.line, e.message))
        .collect()
}

#[test]
fn clean_policy_has_no_errors() {
    let a = analyse_sources(&[
        (
            "p.rego",
            "package p\nimport data.lib\ndefault allow := false\nallow if { lib.ok(input.x); count(input.y) > 1 }\n",
        ),
        ("lib.rego", "package lib\nok(x) if x == 1\n"),
    ]);
    assert_eq!(messages(&a), Vec::<String>::new());
}

#[test]
fn unknown_functions_are_reported_where_called() {
    let a = analyse_sources(&[(
        "p.rego",
        "package p\nallow if io.jwt.decode(input.t)\nother if { not_there(1) }\nthird if data.q.f(1)\n",
    )]);
    assert_eq!(
        messages(&a),
        [
            "p.rego:2: unknown function `io.jwt.decode`",
            "p.rego:3: unknown function `not_there`",
            "p.rego:4: unknown function `data.q.f`",
        ]
    );
}

#[test]
fn extensions_count_as_known_functions() {
    let mut engine = Engine::new();
    engine
        .add_policy(
            "p.rego".into(),
            "package p\nallow if io.jwt.decode(input.t)\n".into(),
        )
        .unwrap();
    let modules = engine.get_modules().clone();
    let extensions: HashSet<String> = ["io.jwt.decode".to_owned()].into();
    assert!(analyse(&modules, &extensions).errors.is_empty());
}

#[test]
fn recursion_between_rules_is_reported_with_its_chain() {
    let a = analyse_sources(&[(
        "r.rego",
        "package p\nallow if { other }\nother if { allow }\n",
    )]);
    assert_eq!(
        messages(&a),
        [
            "r.rego:2: rule `data.p.allow` is recursive: data.p.allow -> data.p.other -> data.p.allow"
        ]
    );
}

#[test]
fn recursion_through_functions_and_data_refs_is_reported() {
    let a = analyse_sources(&[(
        "r.rego",
        "package p\nf(x) := y if { y := g(x) }\ng(x) := data.p.f(x)\n",
    )]);
    assert_eq!(a.errors.len(), 1, "{:?}", messages(&a));
    assert!(a.errors[0].message.contains("is recursive"));
}

#[test]
fn local_variables_shadow_rule_names() {
    let a = analyse_sources(&[(
        "s.rego",
        "package p\nallow if { some other in input.xs; other == 1 }\nother if { allow2 }\nallow2 if { other := 3; other > 1 }\n",
    )]);
    assert!(a.errors.is_empty(), "{:?}", messages(&a));
}

#[test]
fn sibling_ref_head_rules_do_not_count_as_recursion() {
    let a = analyse_sources(&[("h.rego", "package p\na.b := 1\na.c := a.b + 1\n")]);
    assert!(a.errors.is_empty(), "{:?}", messages(&a));
}

#[test]
fn input_paths_read_are_recorded() {
    let a = analyse_sources(&[(
        "i.rego",
        "package p\nimport input.attributes.request.http as http\nallow if { http.method == \"GET\"; input.parsed_path[0] == \"x\" }\n",
    )]);
    assert!(!a.input.whole);
    let paths: Vec<String> = a.input.paths.iter().map(|p| p.join(".")).collect();
    assert_eq!(paths, ["attributes.request.http.method", "parsed_path"]);
}

#[test]
fn bare_or_dynamic_input_needs_the_whole_document() {
    let a = analyse_sources(&[("i.rego", "package p\nallow if { some k; input[k] == 1 }\n")]);
    assert!(a.input.whole);
    let b = analyse_sources(&[("i.rego", "package p\nallow if count(input) > 0\n")]);
    assert!(b.input.whole);
}

#[test]
fn reads_through_an_input_alias_are_recorded_key_by_key() {
    let a = analyse_sources(&[(
        "i.rego",
        "package p\nhttp := input.attributes.request.http\nallow if { http.method == \"GET\"; http.headers[\"x-k\"] == \"v\" }\n",
    )]);
    assert!(!a.input.whole);
    let paths: Vec<String> = a.input.paths.iter().map(|p| p.join(".")).collect();
    assert_eq!(
        paths,
        [
            "attributes.request.http.headers.x-k",
            "attributes.request.http.method"
        ]
    );
}

#[test]
fn an_alias_used_whole_reads_its_whole_subtree() {
    let a = analyse_sources(&[(
        "i.rego",
        "package p\nhttp := input.attributes.request.http\nallow if count(http) > 2\n",
    )]);
    let paths: Vec<String> = a.input.paths.iter().map(|p| p.join(".")).collect();
    assert_eq!(paths, ["attributes.request.http"]);
}
