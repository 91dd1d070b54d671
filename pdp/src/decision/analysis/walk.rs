//! The walk over one rule's syntax tree: which rules it depends on, which
//! builtins it calls (and whether they exist and take such arguments), and
//! which parts of `input` it reads, with names resolved as OPA resolves
//! them.

use std::collections::{BTreeSet, HashSet};

use regorus::unstable::{AssignOp, Expr, Literal, Query, Ref, Rule, RuleHead};

use super::{InputUsage, SourceError, V0_ONLY, index::Index, segments, types};

/// Variables a rule declares, which shadow rules of the same name.
pub(super) fn locals_of(rule: &Rule) -> HashSet<String> {
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
pub(super) struct Walk<'a> {
    pub(super) index: &'a Index,
    pub(super) module: usize,
    pub(super) locals: HashSet<String>,
    pub(super) extensions: &'a HashSet<String>,
    pub(super) deps: &'a mut BTreeSet<usize>,
    pub(super) builtins: &'a mut BTreeSet<String>,
    pub(super) errors: &'a mut Vec<SourceError>,
    pub(super) input: &'a mut InputUsage,
    /// Inside a statement with `with`, where a function may be replaced and
    /// its argument types are the replacement's business.
    pub(super) mocked: bool,
}

impl Walk<'_> {
    pub(super) fn rule(&mut self, rule: &Rule, path: &[String]) {
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
