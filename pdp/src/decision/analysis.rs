//! Static checks the engine leaves to evaluation time, run at activation so
//! that no request is the first to find them: calls to functions that do not
//! exist, rules that depend on themselves, Rego v1's `contains` keyword, and
//! literal arguments of the wrong type ([`types`]).
//! The same walk records which parts of `input` the policy reads.
//!
//! The walk works on the engine's syntax tree. Names are resolved the way
//! OPA does: a local variable (declared with `some`, `:=`, `every` or as a
//! function argument) shadows a rule of the same name; a bare name that is a
//! rule of the module's package refers to that rule; an import alias is
//! expanded; anything under `data.` is looked up in full.

use std::collections::{BTreeSet, HashSet};

use regorus::unstable::{Expr, Module, Ref, Rule};

use super::{SourceError, builtins::V0_ONLY};

mod index;
mod types;
mod walk;

use self::{
    index::Index,
    walk::{Walk, locals_of},
};

/// What a policy reads of `input`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputUsage {
    /// The whole document is read somewhere (a bare `input`, or a key that
    /// is only known at evaluation time).
    pub whole: bool,
    /// The constant key paths read under `input`.
    pub paths: BTreeSet<Vec<String>>,
}

/// The result of the static checks.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    /// Problems found, in file order.
    pub(crate) errors: Vec<SourceError>,
    /// What the policy reads of `input`.
    pub(crate) input: InputUsage,
    /// Every rule and what it depends on.
    pub(crate) graph: RuleGraph,
}

/// The rules of a bundle and the rules each one reads or calls.
#[derive(Debug, Default)]
pub(crate) struct RuleGraph {
    /// Each rule's full path under `data` (`["data", "pkg", "rule"]`).
    pub(crate) paths: Vec<Vec<String>>,
    /// The rules themselves, in the same order.
    pub(crate) rules: Vec<Ref<Rule>>,
    /// For each rule, the rules it depends on.
    pub(crate) edges: Vec<BTreeSet<usize>>,
    /// For each rule, the builtins and extensions it calls.
    pub(crate) builtins: Vec<BTreeSet<String>>,
}

impl RuleGraph {
    /// Every rule reachable from the rules at or under `path` (included):
    /// a path may name a package, whose document holds all its rules.
    pub(crate) fn closure(&self, path: &[String]) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<usize> = (0..self.paths.len())
            .filter(|&i| is_prefix(path, &self.paths[i]))
            .collect();
        while let Some(rule) = pending.pop() {
            if seen.insert(rule) {
                pending.extend(self.edges[rule].iter().copied());
            }
        }
        seen
    }

    /// The first builtin among `names` that the rules at `path`, or the
    /// rules they depend on, call.
    pub(crate) fn first_call_of(&self, path: &[String], names: &[&str]) -> Option<String> {
        self.closure(path).into_iter().find_map(|rule| {
            self.builtins[rule]
                .iter()
                .find(|called| names.contains(&called.as_str()))
                .cloned()
        })
    }
}

/// Runs every check over the parsed modules of one bundle. `extensions`
/// names the functions the service adds to the engine.
pub(crate) fn analyse(modules: &[Ref<Module>], extensions: &HashSet<String>) -> Analysis {
    let index = Index::new(modules);
    let mut analysis = Analysis::default();
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); index.rules.len()];
    let mut builtins: Vec<BTreeSet<String>> = vec![BTreeSet::new(); index.rules.len()];

    for (rule_idx, info) in index.rules.iter().enumerate() {
        let mut walk = Walk {
            index: &index,
            module: info.module,
            locals: locals_of(&info.rule),
            extensions,
            deps: &mut edges[rule_idx],
            builtins: &mut builtins[rule_idx],
            errors: &mut analysis.errors,
            input: &mut analysis.input,
            mocked: false,
        };
        walk.rule(&info.rule, &info.path);
    }

    if let Some(error) = find_recursion(&index, &edges) {
        analysis.errors.push(error);
    }
    analysis
        .errors
        .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    analysis.errors.dedup();
    analysis.graph = RuleGraph {
        paths: index.rules.iter().map(|r| r.path.clone()).collect(),
        rules: index.rules.iter().map(|r| r.rule.clone()).collect(),
        edges,
        builtins,
    };
    analysis
}

/// Where a rule is defined, for tools that look for rules by name (the test
/// gate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleSite {
    /// Full path under `data`, starting with `data`.
    pub(crate) path: Vec<String>,
    /// Whether the rule is a function (takes arguments).
    pub(crate) is_function: bool,
    /// Index of the module in the slice given.
    pub(crate) module: usize,
    /// 1-based line and column of the rule.
    pub(crate) line: u32,
    pub(crate) col: u32,
}

/// Every rule definition of `modules`, in file order.
pub(crate) fn rule_sites(modules: &[Ref<Module>]) -> Vec<RuleSite> {
    Index::new(modules)
        .rules
        .into_iter()
        .map(|info| {
            let span = info.rule.span();
            RuleSite {
                line: span.line,
                col: span.col,
                path: info.path,
                is_function: info.is_function,
                module: info.module,
            }
        })
        .collect()
}

fn is_prefix(prefix: &[String], path: &[String]) -> bool {
    prefix.len() <= path.len() && prefix.iter().zip(path).all(|(a, b)| a == b)
}

/// The constant segments of a reference (`a.b["c"]`), and whether it goes on
/// with a key only known at evaluation time.
fn segments(expr: &Expr) -> Option<(Vec<String>, bool)> {
    match expr {
        Expr::Var { value, .. } => Some((vec![value.as_string().ok()?.to_string()], false)),
        Expr::RefDot { refr, field, .. } => {
            let (mut segs, dynamic) = segments(refr)?;
            if !dynamic {
                segs.push(field.1.as_string().ok()?.to_string());
            }
            Some((segs, dynamic))
        }
        Expr::RefBrack { refr, index, .. } => {
            let (mut segs, dynamic) = segments(refr)?;
            match index.as_ref() {
                Expr::String { value, .. } | Expr::RawString { value, .. } if !dynamic => {
                    segs.push(value.as_string().ok()?.to_string());
                    Some((segs, false))
                }
                _ => Some((segs, true)),
            }
        }
        _ => None,
    }
}

/// Finds one cycle in the rule dependency graph, reported at the first rule
/// of the cycle with the chain that closes it.
fn find_recursion(index: &Index, edges: &[BTreeSet<usize>]) -> Option<SourceError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks = vec![Mark::New; edges.len()];

    for start in 0..edges.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative depth-first search; `stack` holds (rule, next edge).
        let mut stack: Vec<(usize, Vec<usize>)> =
            vec![(start, edges[start].iter().copied().collect())];
        marks[start] = Mark::Open;
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            let Some(next) = pending.pop() else {
                marks[node] = Mark::Done;
                stack.pop();
                continue;
            };
            match marks[next] {
                Mark::Done => {}
                Mark::New => {
                    marks[next] = Mark::Open;
                    stack.push((next, edges[next].iter().copied().collect()));
                }
                Mark::Open => {
                    let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                    let mut chain: Vec<String> = stack[from..]
                        .iter()
                        .map(|(n, _)| index.rules[*n].path.join("."))
                        .collect();
                    chain.push(index.rules[next].path.join("."));
                    let rule = &index.rules[next].rule;
                    let span = rule.span();
                    return Some(SourceError::at(
                        span.source.file(),
                        span.source.contents(),
                        span.line,
                        span.col,
                        format!(
                            "rule `{}` is recursive: {}",
                            index.rules[next].path.join("."),
                            chain.join(" -> ")
                        ),
                    ));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
