//! Which policies the bytecode VM may evaluate without changing answers.
//!
//! The VM (regorus' RVM) is several times faster than the interpreter, but
//! it treats a runtime error inside a rule body as a failed body. With
//! non-strict builtins, as OPA-Envoy evaluates, a failing builtin already
//! makes its expression undefined in OPA too, so that agrees. What differs
//! are the errors OPA still reports: **conflicts**. Where OPA fails with
//! `eval_conflict_error` (two values for one complete rule or function, two
//! values for one key of a partial object), the VM yields "undefined", and a
//! deny rule that conflicts would then deny nothing. Limits (time,
//! instructions, memory) stay errors in the VM.
//!
//! So a decision rule goes to the VM only when no rule it depends on can
//! produce a conflict; otherwise the interpreter, which reports conflicts as
//! errors, evaluates it. The test is conservative: a rule counts as able to
//! conflict unless every way it can produce a value yields the same
//! constant, or a single definition computes one value without iterating;
//! an object comprehension that iterates may give one key two values.
//!
//! Two more constructs go to the interpreter because the VM of the pinned
//! engine answers them differently from OPA (found by the conformance
//! suite): default functions (`default f(_) := v`), which it leaves
//! undefined.

use std::collections::BTreeMap;

use regorus::unstable::{Expr, Literal, Query, Ref, Rule, RuleAssign, RuleHead};

use super::analysis::RuleGraph;

/// Why the rules at `entry` may conflict, or `None` when they cannot.
pub(crate) fn conflict_risk(graph: &RuleGraph, entry: &[String]) -> Option<String> {
    let risky = risky_rules(graph);
    graph
        .closure(entry)
        .into_iter()
        .find_map(|rule| risky.get(&rule).cloned())
}

/// For each rule that may conflict, the reason.
fn risky_rules(graph: &RuleGraph) -> BTreeMap<usize, String> {
    // Definitions of one complete rule or function, grouped by path.
    let mut groups: BTreeMap<&[String], Vec<usize>> = BTreeMap::new();
    let mut risky = BTreeMap::new();

    for (idx, rule) in graph.rules.iter().enumerate() {
        let path = graph.paths[idx].join(".");
        let (head, bodies) = match rule.as_ref() {
            Rule::Spec { head, bodies, .. } => (head, bodies),
            Rule::Default { args, .. } if !args.is_empty() => {
                risky.insert(
                    idx,
                    format!("`{path}` has a default function, which the VM leaves undefined"),
                );
                continue;
            }
            Rule::Default { .. } => continue,
        };
        if rule_has_iterating_object_comprehension(head, bodies) {
            risky.insert(
                idx,
                format!("an object comprehension in `{path}` may give one key two values"),
            );
            continue;
        }
        match head {
            RuleHead::Set { .. } => {}
            RuleHead::Compr { refr, assign, .. } if has_dynamic_key(refr) => {
                let value_is_constant = assign.as_ref().is_none_or(|a| is_constant(&a.value));
                if !value_is_constant {
                    risky.insert(
                        idx,
                        format!("partial object `{path}` may give one key two values"),
                    );
                }
            }
            RuleHead::Compr { .. } | RuleHead::Func { .. } => {
                groups
                    .entry(graph.paths[idx].as_slice())
                    .or_default()
                    .push(idx);
                if !single_valued(head, bodies.iter().map(|b| (&b.assign, &b.query))) {
                    risky.insert(idx, format!("rule `{path}` may produce several values"));
                }
            }
        }
    }

    for (path, definitions) in groups {
        if definitions.len() < 2 {
            continue;
        }
        let constants: Vec<Option<String>> = definitions
            .iter()
            .flat_map(|&idx| definition_values(&graph.rules[idx]))
            .collect();
        let same_constant = constants.windows(2).all(|w| w[0].is_some() && w[0] == w[1])
            && constants.first().is_some_and(Option::is_some);
        if !same_constant {
            for idx in definitions {
                risky.insert(
                    idx,
                    format!(
                        "rule `{}` has definitions that may disagree",
                        path.join(".")
                    ),
                );
            }
        }
    }
    risky
}

/// The value each body of a definition yields, as text when it is a
/// constant (`None` when it is computed).
fn definition_values(rule: &Ref<Rule>) -> Vec<Option<String>> {
    let Rule::Spec { head, bodies, .. } = rule.as_ref() else {
        return Vec::new();
    };
    let head_value = match head {
        RuleHead::Compr { assign, .. } | RuleHead::Func { assign, .. } => {
            assign.as_ref().map(|a| a.value.clone())
        }
        RuleHead::Set { .. } => None,
    };
    let mut values = Vec::new();
    if bodies.is_empty() {
        values.push(constant_text(head_value.as_ref()));
    }
    for body in bodies {
        let value = body
            .assign
            .as_ref()
            .map(|a| a.value.clone())
            .or(head_value.clone());
        values.push(constant_text(value.as_ref()));
    }
    values
}

/// `true` is the implicit value of a rule without one.
fn constant_text(value: Option<&Ref<Expr>>) -> Option<String> {
    match value {
        None => Some("true".to_owned()),
        Some(expr) if is_constant(expr) => Some(expr.span().text().to_owned()),
        Some(_) => None,
    }
}

/// One definition yields at most one value when its value is constant, or
/// when neither its value nor its body iterates (each body then binds its
/// variables at most once).
fn single_valued<'a>(
    head: &RuleHead,
    bodies: impl Iterator<Item = (&'a Option<RuleAssign>, &'a Ref<Query>)>,
) -> bool {
    let head_value = match head {
        RuleHead::Compr { assign, .. } | RuleHead::Func { assign, .. } => {
            assign.as_ref().map(|a| &a.value)
        }
        RuleHead::Set { .. } => None,
    };
    let value_is_single =
        |value: Option<&Ref<Expr>>| value.is_none_or(|v| is_constant(v) || !expr_iterates(v));
    if !value_is_single(head_value) {
        return false;
    }
    for (assign, query) in bodies {
        let value = assign.as_ref().map(|a| &a.value).or(head_value);
        let constant = value.is_none_or(|v| is_constant(v));
        if !value_is_single(value) || (!constant && iterates(query)) {
            return false;
        }
    }
    true
}

fn rule_has_iterating_object_comprehension(
    head: &RuleHead,
    bodies: &[regorus::unstable::RuleBody],
) -> bool {
    let head_value = match head {
        RuleHead::Compr { assign, .. } | RuleHead::Func { assign, .. } => {
            assign.as_ref().map(|a| &a.value)
        }
        RuleHead::Set { key, .. } => key.as_ref(),
    };
    head_value.is_some_and(|v| object_comprehension_iterates(v))
        || bodies.iter().any(|body| {
            body.assign
                .as_ref()
                .is_some_and(|a| object_comprehension_iterates(&a.value))
                || query_has_iterating_object_comprehension(&body.query)
        })
}

fn query_has_iterating_object_comprehension(query: &Query) -> bool {
    query.stmts.iter().any(|stmt| {
        let in_literal = match &stmt.literal {
            Literal::SomeVars { .. } => false,
            Literal::SomeIn {
                key,
                value,
                collection,
                ..
            } => {
                key.as_ref()
                    .is_some_and(|k| object_comprehension_iterates(k))
                    || object_comprehension_iterates(value)
                    || object_comprehension_iterates(collection)
            }
            Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => {
                object_comprehension_iterates(expr)
            }
            Literal::Every { domain, query, .. } => {
                object_comprehension_iterates(domain)
                    || query_has_iterating_object_comprehension(query)
            }
        };
        in_literal
            || stmt
                .with_mods
                .iter()
                .any(|m| object_comprehension_iterates(&m.r#as))
    })
}

/// Whether `expr` holds an object comprehension whose query iterates.
fn object_comprehension_iterates(expr: &Expr) -> bool {
    match expr {
        Expr::ObjectCompr {
            key, value, query, ..
        } => {
            iterates(query)
                || object_comprehension_iterates(key)
                || object_comprehension_iterates(value)
                || query_has_iterating_object_comprehension(query)
        }
        Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
            object_comprehension_iterates(term) || query_has_iterating_object_comprehension(query)
        }
        Expr::Call { params, .. } => params.iter().any(|p| object_comprehension_iterates(p)),
        Expr::Array { items, .. } | Expr::Set { items, .. } => {
            items.iter().any(|i| object_comprehension_iterates(i))
        }
        Expr::Object { fields, .. } => fields
            .iter()
            .any(|(_, k, v)| object_comprehension_iterates(k) || object_comprehension_iterates(v)),
        Expr::UnaryExpr { expr, .. } => object_comprehension_iterates(expr),
        Expr::RefDot { refr, .. } => object_comprehension_iterates(refr),
        Expr::RefBrack { refr, index, .. } => {
            object_comprehension_iterates(refr) || object_comprehension_iterates(index)
        }
        Expr::BinExpr { lhs, rhs, .. }
        | Expr::BoolExpr { lhs, rhs, .. }
        | Expr::ArithExpr { lhs, rhs, .. }
        | Expr::AssignExpr { lhs, rhs, .. } => {
            object_comprehension_iterates(lhs) || object_comprehension_iterates(rhs)
        }
        Expr::Membership {
            key,
            value,
            collection,
            ..
        } => {
            key.as_ref()
                .is_some_and(|k| object_comprehension_iterates(k))
                || object_comprehension_iterates(value)
                || object_comprehension_iterates(collection)
        }
        _ => false,
    }
}

fn has_dynamic_key(refr: &Expr) -> bool {
    match refr {
        Expr::RefBrack { refr, index, .. } => {
            !matches!(index.as_ref(), Expr::String { .. } | Expr::RawString { .. })
                || has_dynamic_key(refr)
        }
        Expr::RefDot { refr, .. } => has_dynamic_key(refr),
        _ => false,
    }
}

fn is_constant(expr: &Expr) -> bool {
    match expr {
        Expr::String { .. }
        | Expr::RawString { .. }
        | Expr::Number { .. }
        | Expr::Bool { .. }
        | Expr::Null { .. } => true,
        Expr::Array { items, .. } | Expr::Set { items, .. } => items.iter().all(|i| is_constant(i)),
        Expr::Object { fields, .. } => fields
            .iter()
            .all(|(_, k, v)| is_constant(k) && is_constant(v)),
        _ => false,
    }
}

/// Whether a query can bind its variables more than once: `some`, or a
/// reference indexed by a variable (`xs[i]`, `xs[_]`). Comprehensions are
/// not entered: their iteration builds one collection.
fn iterates(query: &Query) -> bool {
    query.stmts.iter().any(|stmt| match &stmt.literal {
        Literal::SomeVars { .. } | Literal::SomeIn { .. } => true,
        Literal::Every { .. } => false,
        Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => expr_iterates(expr),
    })
}

fn expr_iterates(expr: &Expr) -> bool {
    match expr {
        Expr::RefBrack { refr, index, .. } => {
            matches!(index.as_ref(), Expr::Var { .. })
                || expr_iterates(refr)
                || expr_iterates(index)
        }
        Expr::RefDot { refr, .. } => expr_iterates(refr),
        Expr::ArrayCompr { .. } | Expr::SetCompr { .. } | Expr::ObjectCompr { .. } => false,
        Expr::Call { params, .. } => params.iter().any(|p| expr_iterates(p)),
        Expr::Array { items, .. } | Expr::Set { items, .. } => {
            items.iter().any(|i| expr_iterates(i))
        }
        Expr::Object { fields, .. } => fields
            .iter()
            .any(|(_, k, v)| expr_iterates(k) || expr_iterates(v)),
        Expr::UnaryExpr { expr, .. } => expr_iterates(expr),
        Expr::BinExpr { lhs, rhs, .. }
        | Expr::BoolExpr { lhs, rhs, .. }
        | Expr::ArithExpr { lhs, rhs, .. }
        | Expr::AssignExpr { lhs, rhs, .. } => expr_iterates(lhs) || expr_iterates(rhs),
        Expr::Membership { collection, .. } => expr_iterates(collection),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
