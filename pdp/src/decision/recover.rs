//! Parsing with recovery, so that a file with several syntax problems gets
//! one message for each, not just the first.
//!
//! The engine's parser stops at the first error. For the errors that come
//! from writing Rego v0 in a v1 module, or from an invalid package name, the
//! fix is mechanical: this module applies it to a scratch copy of the text
//! and parses again, collecting each error on the way. Patches never add or
//! remove lines, so every later error keeps its line number. An error with
//! no known fix ends the recovery.
//!
//! One error the engine does not report at all: in Rego v1, a v0-style
//! partial set `deny[msg] { ... }` also lacks `contains` (once `if` is
//! added, `deny[msg] if { ... }` is a valid object rule, so the engine has
//! nothing to say). It is found here, next to the missing `if`, as OPA
//! reports it.

use regorus::{
    Engine,
    unstable::{Module, Ref},
};

use super::SourceError;
use crate::bundle::{RegoModule, RegoVersion};

/// Stops recovery on pathological input.
const MAX_ERRORS_PER_FILE: usize = 20;

/// The outcome of parsing one module.
pub(crate) struct Parsed {
    /// Every syntax error found.
    pub errors: Vec<SourceError>,
    /// The module as parsed, possibly from patched text; `None` when an
    /// error could not be recovered from.
    pub module: Option<Ref<Module>>,
}

/// Parses `module`, recovering from known errors.
pub(crate) fn parse_module(module: &RegoModule) -> Parsed {
    let mut text = module.source.to_string();
    let mut errors: Vec<SourceError> = Vec::new();

    loop {
        let mut engine = Engine::new();
        engine.set_rego_v0(module.version == RegoVersion::V0);
        let err = match engine.add_policy(module.path.clone(), text.clone()) {
            Ok(_) => {
                let parsed = engine.get_modules().first().cloned();
                return Parsed {
                    errors,
                    module: parsed,
                };
            }
            Err(err) => err,
        };

        // Report against the original text, which the user wrote.
        let mut error = SourceError::from_engine(&err, &module.path);
        error.source_line = original_line(&module.source, error.line, &error.source_line);
        explain_package_name(&mut error);
        let repeated = errors.last().is_some_and(|last| *last == error);
        let patched = (!repeated).then(|| patch(&text, &error)).flatten();
        if !repeated {
            let missing_contains = missing_contains(&text, &error);
            errors.push(error);
            errors.extend(missing_contains);
        }
        match patched {
            Some(next) if errors.len() < MAX_ERRORS_PER_FILE => text = next,
            _ => {
                return Parsed {
                    errors,
                    module: None,
                };
            }
        }
    }
}

fn original_line(source: &str, line: u32, fallback: &str) -> String {
    if line == 0 {
        return fallback.to_owned();
    }
    source
        .lines()
        .nth(line as usize - 1)
        .map_or_else(|| fallback.to_owned(), str::to_owned)
}

/// A package name with a `-` fails with a generic parser message; say what
/// is wrong and how to write it instead.
fn explain_package_name(error: &mut SourceError) {
    let line = error.source_line.trim_start();
    let Some(name) = line.strip_prefix("package ") else {
        return;
    };
    let name = name.split_whitespace().next().unwrap_or("");
    if name.contains('-') {
        error.message = format!(
            "invalid package name `{name}`: `-` is not allowed in a name, use `{}`",
            name.replace('-', "_")
        );
    }
}

/// The mechanical fix for an error, or `None` when there is none.
fn patch(text: &str, error: &SourceError) -> Option<String> {
    if error.line == 0 {
        return None;
    }
    let line_idx = error.line as usize - 1;
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let line = lines.get_mut(line_idx)?;

    if error
        .message
        .contains("`if` keyword is required before rule body")
    {
        // Insert `if ` where the body starts.
        let at = char_offset(line, error.col)?;
        line.insert_str(at, "if ");
    } else if line.trim_start().starts_with("package ") {
        // An invalid package name: keep parsing the rest under a stand-in.
        *line = "package __pdp_recovery".to_owned();
    } else {
        return None;
    }
    Some(lines.join("\n"))
}

/// A rule head written `name[key]` with no value, in front of a body that
/// lacks `if`, is a v0 partial set: v1 wants `name contains key if`.
fn missing_contains(text: &str, error: &SourceError) -> Option<SourceError> {
    if !error
        .message
        .contains("`if` keyword is required before rule body")
    {
        return None;
    }
    let line = text.split('\n').nth(error.line.checked_sub(1)? as usize)?;
    let head = line.get(..char_offset(line, error.col)?)?.trim();
    let indent = line.len() - line.trim_start().len();
    let is_partial_set = head.ends_with(']')
        && head.contains('[')
        && !head.contains('=')
        && !head.contains('(')
        && !head
            .split_whitespace()
            .any(|w| w == "contains" || w == "default");
    is_partial_set.then(|| SourceError {
        col: line[..indent].chars().count() as u32 + 1,
        message: "`contains` keyword is required for partial set rules".to_owned(),
        ..error.clone()
    })
}

/// The byte offset of 1-based column `col` in `line`, counted in characters.
fn char_offset(line: &str, col: u32) -> Option<usize> {
    let col = col.checked_sub(1)? as usize;
    if col == line.chars().count() {
        return Some(line.len());
    }
    line.char_indices().nth(col).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn module(source: &str, version: RegoVersion) -> RegoModule {
        RegoModule {
            path: "policy.rego".into(),
            source: Arc::from(source),
            version,
        }
    }

    #[test]
    fn clean_module_parses_without_errors() {
        let parsed = parse_module(&module("package a\nallow if true\n", RegoVersion::V1));
        assert!(parsed.errors.is_empty());
        assert!(parsed.module.is_some());
    }

    #[test]
    fn package_and_missing_if_are_both_reported() {
        let source = "package multi-tenant.policy\n\nimport rego.v1\n\ndeny[msg] {\n  msg := \"x\"\n}\n\nallow { true }\n";
        let parsed = parse_module(&module(source, RegoVersion::V1));
        let found: Vec<(u32, u32, &str)> = parsed
            .errors
            .iter()
            .map(|e| (e.line, e.col, e.message.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    1,
                    14,
                    "invalid package name `multi-tenant.policy`: `-` is not allowed in a name, \
                     use `multi_tenant.policy`"
                ),
                (5, 11, "`if` keyword is required before rule body"),
                (5, 1, "`contains` keyword is required for partial set rules"),
                (9, 7, "`if` keyword is required before rule body"),
            ]
        );
        assert_eq!(parsed.errors[0].source_line, "package multi-tenant.policy");
        assert_eq!(parsed.errors[1].source_line, "deny[msg] {");
        assert!(parsed.module.is_some());
    }

    #[test]
    fn v1_object_rules_with_if_are_not_partial_sets() {
        let source = "package a
roles[name] if { some name in input.roles }
f(x) if { x }
";
        let parsed = parse_module(&module(source, RegoVersion::V1));
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn unknown_errors_end_recovery() {
        let parsed = parse_module(&module("package a\nx := = 1\ny := = 2\n", RegoVersion::V1));
        assert_eq!(parsed.errors.len(), 1);
        assert!(parsed.module.is_none());
    }

    #[test]
    fn v0_modules_need_no_if() {
        let parsed = parse_module(&module("package a\nallow { true }\n", RegoVersion::V0));
        assert!(parsed.errors.is_empty());
    }
}
