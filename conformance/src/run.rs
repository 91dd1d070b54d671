//! One case on both sides: our service's engine path and OPA.
//!
//! Our side builds a bundle from the case (modules, `data.json`, a manifest
//! with `rego_version` 0 for v0 cases), compiles it with
//! [`pdp::decision::CompiledPolicy::compile`] exactly as tenant bundles are
//! compiled, and evaluates the rule with the engine settings the service
//! uses (non-strict builtin errors, the added builtins).
//!
//! OPA's side loads the modules (the v1 form for v0 cases: the oracle parses
//! v1 only), the data and the input into a fresh engine.
//!
//! Treatment of OPA's strict builtin errors: OPA-Envoy runs non-strict, where
//! a failing builtin makes its expression undefined. When the oracle reports
//! `eval_builtin_error`, the expected answer is the case's `non_strict`
//! field, the result with that expression undefined, written by the case's
//! author; the oracle's error confirms that the builtin does fail. A case
//! without it is counted as an error, never as agreement.

use pdp::{
    bundle::{Bundle, BundleFile, BundleFiles},
    decision::{CompiledPolicy, EngineConfig, EvalErrorKind, RulePath},
};
use regorus::Value;

use crate::{
    case::Case,
    exact::{self, Json},
    oracle::{OpaFailure, Oracle, OracleError},
};

/// Kinds of error, compared by kind only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The policy does not parse.
    Parse,
    /// Compilation refused it (unsafe variables, recursion, unknown names).
    Compile,
    /// A type error (OPA finds most at compile time).
    Type,
    /// A complete rule or function with two values.
    Conflict,
    /// A builtin failed (OPA's strict mode only).
    Builtin,
    /// Any other evaluation error.
    Eval,
}

/// What one side answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<V> {
    /// A value.
    Value(V),
    /// Undefined.
    Undefined,
    /// An error of this kind, with the message.
    Error(ErrorKind, String),
}

impl<V> Answer<V> {
    /// The kind of answer, for reports.
    pub fn describe(&self, value: impl Fn(&V) -> String) -> String {
        match self {
            Self::Value(v) => value(v),
            Self::Undefined => "undefined".into(),
            Self::Error(kind, message) => {
                let first = message.lines().next().unwrap_or_default();
                format!("{kind:?} error: {first}")
            }
        }
    }
}

/// The verdict on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Both sides agree.
    Pass,
    /// They differ.
    Diverge,
    /// The case could not be judged (oracle failure, missing `non_strict`).
    Error(String),
}

/// The full result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Its category.
    pub category: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Our answer, as text.
    pub ours: String,
    /// OPA's answer (or the non-strict expectation), as text.
    pub theirs: String,
    /// Whether our answer allows (`true`, or `allowed: true`).
    pub ours_allows: bool,
    /// Whether OPA's answer allows.
    pub theirs_allows: bool,
    /// How OPA's side was obtained, when not a plain evaluation.
    pub note: Option<String>,
}

/// Our service's answer for a case.
pub fn ours(case: &Case) -> Answer<Value> {
    let mut files = Vec::new();
    for (i, module) in case.modules.iter().enumerate() {
        files.push(BundleFile {
            path: format!("case/module{i}.rego"),
            bytes: module.as_bytes().to_vec(),
        });
    }
    if let Some(data) = &case.data {
        files.push(BundleFile {
            path: "data.json".into(),
            bytes: data.as_bytes().to_vec(),
        });
    }
    if case.v0 {
        files.push(BundleFile {
            path: ".manifest".into(),
            bytes: br#"{"rego_version": 0}"#.to_vec(),
        });
    }

    let bundle = match Bundle::from_files(&BundleFiles::from_files(files)) {
        Ok(bundle) => bundle,
        Err(err) => return Answer::Error(ErrorKind::Compile, err.to_string()),
    };
    let rule = match rule_path(&case.query) {
        Ok(rule) => rule,
        Err(message) => return Answer::Error(ErrorKind::Compile, message),
    };
    let config = EngineConfig {
        eval_timeout_ms: 5_000,
        worker_threads: 0,
        ..EngineConfig::default()
    };
    let policy = match CompiledPolicy::compile(&bundle, std::slice::from_ref(&rule), &config) {
        Ok(policy) => policy,
        Err(errors) => {
            let text = errors
                .0
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            return Answer::Error(classify_compile(&text), text);
        }
    };

    let input = match &case.input {
        Some(text) => match Value::from_json_str(text) {
            Ok(value) => value,
            Err(err) => return Answer::Error(ErrorKind::Eval, format!("bad input: {err}")),
        },
        None => Value::Undefined,
    };
    match policy.evaluate(&rule, input) {
        Ok(Value::Undefined) => Answer::Undefined,
        Ok(value) => Answer::Value(value),
        Err(err) => {
            let kind = match err.kind {
                EvalErrorKind::Conflict => ErrorKind::Conflict,
                _ if is_type_message(&err.message) => ErrorKind::Type,
                _ => ErrorKind::Eval,
            };
            Answer::Error(kind, err.message)
        }
    }
}

/// `data.a.b` as the service's rule path `a/b`.
pub fn rule_path(query: &str) -> Result<RulePath, String> {
    let path = query
        .strip_prefix("data.")
        .ok_or_else(|| format!("query `{query}` must start with `data.`"))?;
    RulePath::parse(&path.replace('.', "/")).map_err(|e| e.to_string())
}

fn classify_compile(text: &str) -> ErrorKind {
    let parse_markers = [
        "expect",
        "unexpected",
        "keyword is required",
        "invalid package",
        "unterminated",
        "invalid token",
        "parse",
    ];
    // OPA reports calls to undefined functions as type errors.
    if text.contains("unknown function") {
        ErrorKind::Type
    } else if text.contains("recursive") || text.contains("unsafe") {
        ErrorKind::Compile
    } else if parse_markers.iter().any(|m| text.contains(m)) {
        ErrorKind::Parse
    } else if is_type_message(text) {
        ErrorKind::Type
    } else {
        ErrorKind::Compile
    }
}

fn is_type_message(text: &str) -> bool {
    [
        "expects",
        "type",
        "must be",
        "numeric argument",
        "not a number",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// OPA's answer for a case.
pub fn theirs(oracle: &Oracle, case: &Case) -> Result<Answer<Json>, OracleError> {
    let mut engine = oracle.engine()?;
    let modules = match (&case.v0, &case.v1_modules) {
        (true, Some(v1)) => v1,
        _ => &case.modules,
    };
    for (i, module) in modules.iter().enumerate() {
        if let Err(failure) = engine.add_policy(&format!("module{i}.rego"), module)? {
            return Ok(Answer::Error(ErrorKind::Parse, failure.message));
        }
    }
    if let Some(data) = &case.data
        && let Err(failure) = engine.add_data(data)?
    {
        return Ok(Answer::Error(ErrorKind::Eval, failure.message));
    }
    let path = case.query.strip_prefix("data.").unwrap_or(&case.query);
    match engine.eval_document(path, case.input.as_deref())? {
        Ok(None) => Ok(Answer::Undefined),
        Ok(Some(raw)) => Ok(Answer::Value(
            exact::parse(&raw).map_err(OracleError::Envelope)?,
        )),
        Err(failure) => Ok(Answer::Error(classify_opa(&failure), failure.message)),
    }
}

/// OPA's error codes, found in its messages. Builtin errors include the
/// operand type errors builtins raise while evaluating.
pub fn classify_opa(failure: &OpaFailure) -> ErrorKind {
    let m = &failure.message;
    if failure.code == "parse_error" || m.contains("rego_parse_error") {
        ErrorKind::Parse
    } else if m.contains("eval_type_error") && m.contains("operand") {
        // A builtin refusing an operand at run time: in non-strict mode
        // OPA records it as a builtin error and the expression is undefined.
        ErrorKind::Builtin
    } else if m.contains("rego_type_error") || m.contains("eval_type_error") {
        ErrorKind::Type
    } else if m.contains("eval_conflict_error") {
        ErrorKind::Conflict
    } else if m.contains("eval_builtin_error") {
        ErrorKind::Builtin
    } else if m.contains("rego_") {
        ErrorKind::Compile
    } else {
        ErrorKind::Eval
    }
}

/// Whether a decision value allows: `true`, or an object with `allowed: true`.
pub fn value_allows(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Object(fields) => fields.get(&Value::from("allowed")) == Some(&Value::Bool(true)),
        _ => false,
    }
}

fn json_allows(json: &Json) -> bool {
    match json {
        Json::Bool(b) => *b,
        other => other.get("allowed") == Some(&Json::Bool(true)),
    }
}

/// Runs one case on both sides and judges it.
pub fn judge(oracle: &Oracle, case: &Case) -> CaseResult {
    let ours = ours(case);
    let ours_text = ours.describe(exact::value_to_json);
    let ours_allows = matches!(&ours, Answer::Value(v) if value_allows(v));
    let mut result = CaseResult {
        name: case.name.clone(),
        category: case.category().to_owned(),
        verdict: Verdict::Pass,
        ours: ours_text,
        theirs: String::new(),
        ours_allows,
        theirs_allows: false,
        note: None,
    };

    let mut expected = match theirs(oracle, case) {
        Ok(answer) => answer,
        Err(err) => {
            result.verdict = Verdict::Error(format!("oracle failed: {err}"));
            return result;
        }
    };
    if let Answer::Error(ErrorKind::Builtin, message) = &expected {
        match &case.non_strict {
            Some(text) if text.trim() == "undefined" => expected = Answer::Undefined,
            Some(text) => match exact::parse(text) {
                Ok(json) => expected = Answer::Value(json),
                Err(err) => {
                    result.verdict = Verdict::Error(format!("bad `non_strict`: {err}"));
                    return result;
                }
            },
            None => {
                result.theirs = format!("Builtin error: {message}");
                result.verdict = Verdict::Error(
                    "OPA reports a builtin error and the case states no `non_strict` answer".into(),
                );
                return result;
            }
        }
        result.note = Some("OPA reported a builtin error; compared with `non_strict`".into());
    }

    result.theirs = expected.describe(Json::to_json);
    result.theirs_allows = matches!(&expected, Answer::Value(j) if json_allows(j));
    let agree = match (&ours, &expected) {
        (Answer::Value(a), Answer::Value(b)) => exact::matches(a, b),
        (Answer::Undefined, Answer::Undefined) => true,
        (Answer::Error(a, _), Answer::Error(b, _)) => a == b,
        _ => false,
    };
    if !agree {
        result.verdict = Verdict::Diverge;
    }
    result
}
