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

use std::collections::{BTreeSet, HashMap, HashSet};

use regorus::unstable::{AssignOp, Expr, Literal, Module, Query, Ref, Rule, RuleHead};

use super::{SourceError, builtins::V0_ONLY};

mod types;

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

/// One rule of the bundle, with its full path under `data`.
struct RuleInfo {
    path: Vec<String>,
    is_function: bool,
    module: usize,
    rule: Ref<Rule>,
}

/// Packages, imports and rules of all modules.
struct Index {
    packages: Vec<Vec<String>>,
    /// Whether each module is Rego v1.
    rego_v1: Vec<bool>,
    imports: Vec<HashMap<String, Vec<String>>>,
    rules: Vec<RuleInfo>,
    /// Rules that only name a part of `input` (`http := input.attributes.request.http`),
    /// with that part's path: reading `http.method` reads only the method.
    aliases: HashMap<Vec<String>, Vec<String>>,
}

impl Index {
    fn new(modules: &[Ref<Module>]) -> Self {
        let mut packages = Vec::new();
        let mut imports = Vec::new();
        let mut rules = Vec::new();

        for (module_idx, module) in modules.iter().enumerate() {
            let mut package = vec!["data".to_owned()];
            package.extend(
                segments(&module.package.refr)
                    .map(|s| s.0)
                    .unwrap_or_default(),
            );

            let mut aliases = HashMap::new();
            for import in &module.imports {
                let Some((path, _)) = segments(&import.refr) else {
                    continue;
                };
                let alias = match &import.r#as {
                    Some(span) => span.text().to_owned(),
                    None => path.last().cloned().unwrap_or_default(),
                };
                if matches!(path.first().map(String::as_str), Some("data" | "input")) {
                    aliases.insert(alias, path);
                }
            }

            for rule in &module.policy {
                let (head, is_function) = match rule.as_ref() {
                    Rule::Spec { head, .. } => match head {
                        RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. } => (refr, false),
                        RuleHead::Func { refr, .. } => (refr, true),
                    },
                    Rule::Default { refr, args, .. } => (refr, !args.is_empty()),
                };
                let mut path = package.clone();
                path.extend(segments(head).map(|s| s.0).unwrap_or_default());
                rules.push(RuleInfo {
                    path,
                    is_function,
                    module: module_idx,
                    rule: rule.clone(),
                });
            }

            packages.push(package);
            imports.push(aliases);
        }
        let aliases = input_aliases(&rules);
        Self {
            packages,
            rego_v1: modules.iter().map(|m| m.rego_v1).collect(),
            imports,
            rules,
            aliases,
        }
    }

    /// The part of `input` a reference to `target` reads, when `target`
    /// goes through an alias rule.
    fn through_alias(&self, target: &[String]) -> Option<Vec<String>> {
        (1..=target.len()).rev().find_map(|len| {
            let input = self.aliases.get(&target[..len])?;
            let mut path = input.clone();
            path.extend_from_slice(&target[len..]);
            Some(path)
        })
    }

    /// Rules a reference to `target` may read: those at, under or above it.
    fn rules_touching<'a>(&'a self, target: &'a [String]) -> impl Iterator<Item = usize> + 'a {
        self.rules.iter().enumerate().filter_map(move |(i, r)| {
            (is_prefix(&r.path, target) || is_prefix(target, &r.path)).then_some(i)
        })
    }

    fn function_at(&self, path: &[String]) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.is_function && r.path.as_slice() == path)
    }

    fn package_has_rule(&self, module: usize, name: &str) -> bool {
        let package = &self.packages[module];
        self.rules.iter().any(|r| {
            r.path.len() > package.len()
                && is_prefix(package, &r.path)
                && r.path[package.len()] == name
        })
    }
}

/// Rules defined once, without a body, as a constant reference into
/// `input`.
fn input_aliases(rules: &[RuleInfo]) -> HashMap<Vec<String>, Vec<String>> {
    let mut definitions: HashMap<&[String], usize> = HashMap::new();
    for rule in rules {
        *definitions.entry(rule.path.as_slice()).or_default() += 1;
    }
    let mut aliases = HashMap::new();
    for rule in rules {
        let Rule::Spec {
            head:
                RuleHead::Compr {
                    refr,
                    assign: Some(assign),
                    ..
                },
            bodies,
            ..
        } = rule.rule.as_ref()
        else {
            continue;
        };
        if !bodies.is_empty() || definitions.get(rule.path.as_slice()) != Some(&1) {
            continue;
        }
        let head_is_constant = segments(refr).is_some_and(|(_, dynamic)| !dynamic);
        match segments(&assign.value) {
            Some((segs, false))
                if head_is_constant && segs.first().map(String::as_str) == Some("input") =>
            {
                aliases.insert(rule.path.clone(), segs[1..].to_vec());
            }
            _ => {}
        }
    }
    aliases
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

/// Variables a rule declares, which shadow rules of the same name.
fn locals_of(rule: &Rule) -> HashSet<String> {
    let mut locals = HashSet::new();
    let mut queries = Vec::new();
    match rule {
        Rule::Spec { head, bodies, .. } => {
            if let RuleHead::Func { args, .. } = head {
                args.iter().for_each(|a| vars_in(a, &mut locals));
            }
            queries.extend(bodies.iter().map(|b| b.query.clone()));
        }
        Rule::Default { args, .. } => args.iter().for_each(|a| vars_in(a, &mut locals)),
    }
    while let Some(query) = queries.pop() {
        for stmt in &query.stmts {
            match &stmt.literal {
                Literal::SomeVars { vars, .. } => {
                    locals.extend(vars.iter().map(|v| v.text().to_owned()));
                }
                Literal::SomeIn { key, value, .. } => {
                    key.iter().for_each(|k| vars_in(k, &mut locals));
                    vars_in(value, &mut locals);
                }
                Literal::Every {
                    key, value, query, ..
                } => {
                    locals.extend(key.iter().map(|k| k.text().to_owned()));
                    locals.insert(value.text().to_owned());
                    queries.push(query.clone());
                }
                Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => {
                    declared_in(expr, &mut locals, &mut queries);
                }
            }
        }
    }
    locals
}

/// Collects `:=` targets and comprehension queries inside an expression.
fn declared_in(expr: &Expr, locals: &mut HashSet<String>, queries: &mut Vec<Ref<Query>>) {
    match expr {
        Expr::AssignExpr {
            op: AssignOp::ColEq,
            lhs,
            rhs,
            ..
        } => {
            vars_in(lhs, locals);
            declared_in(rhs, locals, queries);
        }
        Expr::ArrayCompr { query, .. }
        | Expr::SetCompr { query, .. }
        | Expr::ObjectCompr { query, .. } => queries.push(query.clone()),
        _ => children(expr, |child| declared_in(child, locals, queries)),
    }
}

/// Every variable name inside a pattern expression.
fn vars_in(expr: &Expr, out: &mut HashSet<String>) {
    if let Expr::Var { value, .. } = expr {
        if let Ok(name) = value.as_string() {
            out.insert(name.to_string());
        }
        return;
    }
    children(expr, |child| vars_in(child, out));
}

/// Calls `f` on each direct sub-expression (not comprehension queries).
fn children(expr: &Expr, mut f: impl FnMut(&Expr)) {
    match expr {
        Expr::Array { items, .. } | Expr::Set { items, .. } => items.iter().for_each(|i| f(i)),
        Expr::Object { fields, .. } => fields.iter().for_each(|(_, k, v)| {
            f(k);
            f(v);
        }),
        Expr::Call { params, .. } => params.iter().for_each(|p| f(p)),
        Expr::UnaryExpr { expr, .. } => f(expr),
        Expr::RefDot { refr, .. } => f(refr),
        Expr::RefBrack { refr, index, .. } => {
            f(refr);
            f(index);
        }
        Expr::BinExpr { lhs, rhs, .. }
        | Expr::BoolExpr { lhs, rhs, .. }
        | Expr::ArithExpr { lhs, rhs, .. }
        | Expr::AssignExpr { lhs, rhs, .. } => {
            f(lhs);
            f(rhs);
        }
        Expr::Membership {
            key,
            value,
            collection,
            ..
        } => {
            key.iter().for_each(|k| f(k));
            f(value);
            f(collection);
        }
        _ => {}
    }
}

/// The walk over one rule: records dependencies, unknown calls and input use.
struct Walk<'a> {
    index: &'a Index,
    module: usize,
    locals: HashSet<String>,
    extensions: &'a HashSet<String>,
    deps: &'a mut BTreeSet<usize>,
    builtins: &'a mut BTreeSet<String>,
    errors: &'a mut Vec<SourceError>,
    input: &'a mut InputUsage,
    /// Inside a statement with `with`, where a function may be replaced and
    /// its argument types are the replacement's business.
    mocked: bool,
}

impl Walk<'_> {
    fn rule(&mut self, rule: &Rule, path: &[String]) {
        // An alias's reads are counted where it is used, key by key.
        if self.index.aliases.contains_key(path) {
            return;
        }
        match rule {
            Rule::Spec { head, bodies, .. } => {
                match head {
                    RuleHead::Compr { refr, assign, .. } => {
                        self.head_ref(refr);
                        assign.iter().for_each(|a| self.expr(&a.value));
                    }
                    RuleHead::Set { refr, key, .. } => {
                        self.head_ref(refr);
                        key.iter().for_each(|k| self.expr(k));
                    }
                    RuleHead::Func { assign, .. } => {
                        assign.iter().for_each(|a| self.expr(&a.value));
                    }
                }
                for body in bodies {
                    body.assign.iter().for_each(|a| self.expr(&a.value));
                    self.query(&body.query);
                }
            }
            Rule::Default { value, .. } => self.expr(value),
        }
    }

    /// Keys computed in a rule head (`p[x] := ...`) are expressions too.
    fn head_ref(&mut self, refr: &Expr) {
        if let Expr::RefBrack { refr, index, .. } = refr {
            self.head_ref(refr);
            self.expr(index);
        } else if let Expr::RefDot { refr, .. } = refr {
            self.head_ref(refr);
        }
    }

    fn query(&mut self, query: &Query) {
        for stmt in &query.stmts {
            match &stmt.literal {
                Literal::SomeVars { .. } => {}
                Literal::SomeIn {
                    key,
                    value,
                    collection,
                    ..
                } => {
                    key.iter().for_each(|k| self.expr(k));
                    self.expr(value);
                    self.expr(collection);
                }
                Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => {
                    let outer = self.mocked;
                    self.mocked |= !stmt.with_mods.is_empty();
                    self.expr(expr);
                    self.mocked = outer;
                }
                Literal::Every { domain, query, .. } => {
                    self.expr(domain);
                    self.query(query);
                }
            }
            // A `with` target is replaced, not read; its value is read.
            stmt.with_mods.iter().for_each(|m| self.expr(&m.r#as));
        }
    }

    fn expr(&mut self, expr: &Expr) {
        match expr {
            Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. } => {
                self.reference(expr);
            }
            Expr::Call {
                fcn, params, span, ..
            } => {
                if let Some(builtin) = self.call(fcn, span)
                    && !self.mocked
                    && let Some(refused) = types::check_call(&builtin, params)
                {
                    self.type_error(refused);
                }
                params.iter().for_each(|p| self.expr(p));
            }
            Expr::ArithExpr { .. } | Expr::BinExpr { .. } => {
                if !self.mocked
                    && let Some(refused) = types::check_operator(expr)
                {
                    self.type_error(refused);
                }
                children(expr, |child| self.expr(child));
            }
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                self.expr(term);
                self.query(query);
            }
            Expr::ObjectCompr {
                key, value, query, ..
            } => {
                self.expr(key);
                self.expr(value);
                self.query(query);
            }
            _ => children(expr, |child| self.expr(child)),
        }
    }

    /// Records a reference, then walks the parts of it that are expressions
    /// of their own (dynamic keys, a non-variable root).
    fn reference(&mut self, expr: &Expr) {
        if let Some((segs, _)) = segments(expr) {
            self.resolve_reference(&segs);
        }
        let mut node = expr;
        loop {
            match node {
                Expr::RefDot { refr, .. } => node = refr,
                Expr::RefBrack { refr, index, .. } => {
                    if !matches!(index.as_ref(), Expr::String { .. } | Expr::RawString { .. }) {
                        self.expr(index);
                    }
                    node = refr;
                }
                Expr::Var { .. } => break,
                other => {
                    self.expr(other);
                    break;
                }
            }
        }
    }

    fn resolve_reference(&mut self, segs: &[String]) {
        let Some(root) = segs.first() else {
            return;
        };
        let target: Vec<String> = if root == "data" {
            segs.to_vec()
        } else if root == "input" {
            self.record_input(&segs[1..]);
            return;
        } else if self.locals.contains(root) {
            return;
        } else if let Some(import) = self.index.imports[self.module].get(root) {
            let mut path = import.clone();
            path.extend_from_slice(&segs[1..]);
            if path.first().map(String::as_str) == Some("input") {
                self.record_input(&path[1..]);
                return;
            }
            path
        } else if self.index.package_has_rule(self.module, root) {
            let mut path = self.index.packages[self.module].clone();
            path.extend_from_slice(segs);
            path
        } else {
            return;
        };
        if let Some(input) = self.index.through_alias(&target) {
            self.record_input(&input);
        }
        let deps: Vec<usize> = self.index.rules_touching(&target).collect();
        self.deps.extend(deps);
    }

    /// A reference that stops at `input` itself, or continues with a key
    /// only known at evaluation time, needs the whole document.
    fn record_input(&mut self, path: &[String]) {
        if path.is_empty() {
            self.input.whole = true;
        } else {
            self.input.paths.insert(path.to_vec());
        }
    }

    /// Reported at the operand, where the mistake is.
    fn type_error(&mut self, refused: types::Refused<'_>) {
        let span = refused.operand.span();
        self.errors.push(SourceError::at(
            span.source.file(),
            span.source.contents(),
            span.line,
            span.col,
            refused.reason,
        ));
    }

    /// Records a call; returns the builtin's name when it calls one.
    fn call(&mut self, fcn: &Expr, span: &regorus::unstable::Span) -> Option<String> {
        let Some((segs, false)) = segments(fcn) else {
            return None;
        };
        let name = segs.join(".");

        let mut candidates = Vec::new();
        if segs.first().map(String::as_str) == Some("data") {
            candidates.push(segs.clone());
        } else {
            if let Some(import) = self.index.imports[self.module].get(&segs[0]) {
                let mut path = import.clone();
                path.extend_from_slice(&segs[1..]);
                candidates.push(path);
            }
            let mut local = self.index.packages[self.module].clone();
            local.extend_from_slice(&segs);
            candidates.push(local);
        }
        if let Some(target) = candidates.iter().find_map(|c| self.index.function_at(c)) {
            self.deps.insert(target);
            return None;
        }

        // OPA keeps its deprecated builtins from Rego v1 modules.
        let deprecated = self.index.rego_v1[self.module] && V0_ONLY.contains(&name.as_str());
        let known = name == "print"
            || regorus::unstable::BUILTINS.contains_key(name.as_str())
            || (self.extensions.contains(&name) && !deprecated);
        if known {
            self.builtins.insert(name.clone());
            Some(name)
        } else {
            self.errors.push(SourceError::at(
                span.source.file(),
                span.source.contents(),
                span.line,
                span.col,
                format!("unknown function `{name}`"),
            ));
            None
        }
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
