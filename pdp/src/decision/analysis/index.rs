//! The bundle's index for the walk: each module's package and import
//! aliases, every rule with its full path under `data`, and the rules that
//! only name a part of `input`.

use std::collections::HashMap;

use regorus::unstable::{Module, Ref, Rule, RuleHead};

use super::{is_prefix, segments};

/// One rule of the bundle, with its full path under `data`.
pub(super) struct RuleInfo {
    pub(super) path: Vec<String>,
    pub(super) is_function: bool,
    pub(super) module: usize,
    pub(super) rule: Ref<Rule>,
}

/// Packages, imports and rules of all modules.
pub(super) struct Index {
    pub(super) packages: Vec<Vec<String>>,
    /// Whether each module is Rego v1.
    pub(super) rego_v1: Vec<bool>,
    pub(super) imports: Vec<HashMap<String, Vec<String>>>,
    pub(super) rules: Vec<RuleInfo>,
    /// Rules that only name a part of `input` (`http := input.attributes.request.http`),
    /// with that part's path: reading `http.method` reads only the method.
    pub(super) aliases: HashMap<Vec<String>, Vec<String>>,
}

impl Index {
    pub(super) fn new(modules: &[Ref<Module>]) -> Self {
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
    pub(super) fn through_alias(&self, target: &[String]) -> Option<Vec<String>> {
        (1..=target.len()).rev().find_map(|len| {
            let input = self.aliases.get(&target[..len])?;
            let mut path = input.clone();
            path.extend_from_slice(&target[len..]);
            Some(path)
        })
    }

    /// Rules a reference to `target` may read: those at, under or above it.
    pub(super) fn rules_touching<'a>(
        &'a self,
        target: &'a [String],
    ) -> impl Iterator<Item = usize> + 'a {
        self.rules.iter().enumerate().filter_map(move |(i, r)| {
            (is_prefix(&r.path, target) || is_prefix(target, &r.path)).then_some(i)
        })
    }

    pub(super) fn function_at(&self, path: &[String]) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.is_function && r.path.as_slice() == path)
    }

    pub(super) fn package_has_rule(&self, module: usize, name: &str) -> bool {
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
