use std::collections::HashSet;

use regorus::Engine;

use super::*;
use crate::decision::analysis::analyse;

fn risk(source: &str, entry: &str) -> Option<String> {
    let mut engine = Engine::new();
    engine.add_policy("p.rego".into(), source.into()).unwrap();
    let modules = engine.get_modules().clone();
    let analysis = analyse(&modules, &HashSet::new());
    assert!(analysis.errors.is_empty(), "{:?}", analysis.errors);
    let entry: Vec<String> = entry.split('.').map(str::to_owned).collect();
    conflict_risk(&analysis.graph, &entry)
}

#[test]
fn allow_rules_with_the_same_constant_cannot_conflict() {
    let source = "package p\ndefault allow := false\nallow if input.a\nallow if { some x in input.xs; x == 1 }\n";
    assert_eq!(risk(source, "data.p.allow"), None);
}

#[test]
fn definitions_with_different_values_may_conflict() {
    let source = "package p\nallow := true if input.a\nallow := false if input.b\n";
    assert!(
        risk(source, "data.p.allow")
            .unwrap()
            .contains("may disagree")
    );
}

#[test]
fn a_value_computed_while_iterating_may_conflict() {
    let source = "package p\nrole := r if { some r in input.roles }\nallow if role == \"admin\"\n";
    let reason = risk(source, "data.p.allow").unwrap();
    assert!(reason.contains("data.p.role"), "{reason}");

    let wildcard = "package p\nfirst := input.xs[_]\nallow if first\n";
    assert!(risk(wildcard, "data.p.allow").is_some());
}

#[test]
fn partial_objects_with_computed_values_may_conflict() {
    let source =
        "package p\nroles[name] := level if { some name, level in input.m }\nallow if roles.x\n";
    assert!(
        risk(source, "data.p.allow")
            .unwrap()
            .contains("partial object")
    );
    let constant =
        "package p\nseen[name] := true if { some name in input.names }\nallow if seen.x\n";
    assert_eq!(risk(constant, "data.p.allow"), None);
}

#[test]
fn else_chains_and_single_lookups_are_single_valued() {
    let source = "package p\nsubject := input.p if input.p != \"\" else := \"anon\"\n\
                  status := 401 if subject == \"anon\" else := 403\nallow if status == 401\n";
    assert_eq!(risk(source, "data.p.allow"), None);
}

#[test]
fn only_rules_the_entry_reaches_count() {
    let source =
        "package p\nallow if input.a\nunused := true if input.a\nunused := false if input.b\n";
    assert_eq!(risk(source, "data.p.allow"), None);
    assert!(risk(source, "data.p.unused").is_some());
}

#[test]
fn functions_with_disagreeing_definitions_may_conflict() {
    let source = "package p\nf(x) := 1 if x > 0\nf(x) := 2 if x > 1\nallow if f(input.n) == 1\n";
    assert!(risk(source, "data.p.allow").is_some());
    let agreeing = "package p\nf(x) if x > 0\nf(x) if x < -5\nallow if f(input.n)\n";
    assert_eq!(risk(agreeing, "data.p.allow"), None);
}

#[test]
fn iterating_object_comprehensions_may_conflict() {
    let source = "package p\nm := {\"k\": x | some x in input.xs}\nallow if m.k\n";
    assert!(
        risk(source, "data.p.allow")
            .unwrap()
            .contains("object comprehension")
    );
    let single = "package p\nm := {\"k\": input.x}\nallow if m.k\n";
    assert_eq!(risk(single, "data.p.allow"), None);
}

#[test]
fn default_functions_go_to_the_interpreter() {
    let source = "package p\ndefault f(_) := false\nf(x) if x == 1\nallow if f(input.n)\n";
    assert!(
        risk(source, "data.p.allow")
            .unwrap()
            .contains("default function")
    );
}
