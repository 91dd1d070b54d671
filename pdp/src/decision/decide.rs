//! Composing the system guardrails with a tenant's own decision.
//!
//! Deny wins: the system bundle's deny set is evaluated first, and any
//! message in it denies the request whatever the tenant's policy would say
//! (the tenant's policy is then not evaluated at all). Every failure on the
//! way (an evaluation error in either bundle, an undefined or malformed
//! decision) is a [`Failure`], which the caller answers as a denial.

use regorus::Value;

use super::{
    CompileErrors, CompiledPolicy, EngineConfig, EvalError, MalformedDecision, Need, RulePath,
    RulePathError, SourceError, TenantDecision, outcome::read_decision, outcome::type_name,
};
use crate::{bundle::Bundle, tenant::TenantName};

/// The manifest `metadata` key that overrides a tenant's decision path.
pub const DECISION_PATH_METADATA_KEY: &str = "decision_path";

/// The system bundle, compiled: guardrails applied to every tenant.
#[derive(Debug)]
pub struct SystemPolicy {
    /// The bundle's revision.
    pub revision: String,
    /// The rule whose messages deny.
    pub deny: RulePath,
    /// The compiled bundle.
    pub policy: CompiledPolicy,
}

impl SystemPolicy {
    /// Compiles the system bundle; it must define a rule at `deny`. Unlike
    /// a tenant's decision path, the deny path may not name a package or
    /// nothing: an undefined deny set denies nothing, so a mistyped path
    /// would silently turn the guardrails off.
    pub fn compile(
        bundle: &Bundle,
        deny: &RulePath,
        config: &EngineConfig,
    ) -> Result<Self, CompileErrors> {
        let policy = CompiledPolicy::compile(bundle, std::slice::from_ref(deny), config)?;
        if !policy.names_rule(deny) {
            return Err(CompileErrors(vec![SourceError::in_file(
                "bundle",
                format!("no rule defined at the system deny path `{deny}`"),
            )]));
        }
        Ok(Self {
            revision: bundle.revision().to_owned(),
            deny: deny.clone(),
            policy,
        })
    }

    /// The deny messages for `input`; empty means no guardrail objects.
    pub fn deny_messages(&self, input: Value) -> Result<Vec<String>, Failure> {
        let value = self
            .policy
            .evaluate(&self.deny, input)
            .map_err(Failure::SystemEval)?;
        deny_messages(&value).map_err(Failure::SystemMalformed)
    }
}

/// A tenant's bundle, compiled, with the rule that decides its requests.
#[derive(Debug)]
pub struct TenantPolicy {
    /// The tenant.
    pub name: TenantName,
    /// The bundle's revision.
    pub revision: String,
    /// The decision rule.
    pub decision: RulePath,
    /// The compiled bundle.
    pub policy: CompiledPolicy,
}

impl TenantPolicy {
    /// Compiles a tenant's bundle. The decision path comes from the
    /// manifest's `metadata.decision_path`, else `default_decision`.
    pub fn compile(
        name: TenantName,
        bundle: &Bundle,
        default_decision: &RulePath,
        config: &EngineConfig,
    ) -> Result<Self, CompileErrors> {
        let decision = decision_path(bundle, default_decision).map_err(|err| {
            CompileErrors(vec![SourceError::in_file(".manifest", err.to_string())])
        })?;
        let policy = CompiledPolicy::compile(bundle, std::slice::from_ref(&decision), config)?;
        if !policy.names_rule(&decision) {
            // OPA-Envoy answers such a path with the document there (a
            // package's rules as one object), or undefined, which denies.
            tracing::info!(
                tenant = %name,
                policy.path = %decision,
                "decision path names no rule; it is evaluated as a whole document"
            );
        }
        Ok(Self {
            name,
            revision: bundle.revision().to_owned(),
            decision,
            policy,
        })
    }

    /// Evaluates and checks the tenant's decision.
    pub fn decide(&self, input: Value) -> Result<TenantDecision, Failure> {
        let value = self
            .policy
            .evaluate(&self.decision, input)
            .map_err(Failure::Eval)?;
        if value == Value::Undefined {
            return Err(Failure::Undefined);
        }
        read_decision(&value).map_err(Failure::Malformed)
    }
}

fn decision_path(bundle: &Bundle, default: &RulePath) -> Result<RulePath, RulePathError> {
    match bundle.manifest.metadata.get(DECISION_PATH_METADATA_KEY) {
        Some(serde_json::Value::String(path)) => RulePath::parse(path),
        Some(other) => Err(RulePathError::BadSegment {
            path: other.to_string(),
            segment: "metadata.decision_path must be a string".to_owned(),
        }),
        None => Ok(default.clone()),
    }
}

/// The result of deciding one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The system guardrails denied, with these messages.
    SystemDenied(Vec<String>),
    /// The tenant's policy decided.
    Decided(TenantDecision),
    /// No decision could be made; the request is denied.
    Failed(Failure),
}

/// Why no decision was made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// The tenant's decision rule is undefined for this input.
    #[error("undefined decision")]
    Undefined,
    /// The tenant's policy failed to evaluate.
    #[error("tenant policy evaluation failed: {0}")]
    Eval(EvalError),
    /// The tenant's decision has the wrong shape.
    #[error("malformed decision: {0}")]
    Malformed(MalformedDecision),
    /// The system guardrails failed to evaluate.
    #[error("system policy evaluation failed: {0}")]
    SystemEval(EvalError),
    /// The system deny rule produced something other than messages.
    #[error("system deny rule produced {0}")]
    SystemMalformed(String),
}

impl Failure {
    /// A short code for metrics, logs and reason headers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Undefined => "undefined_decision",
            Self::Eval(err) | Self::SystemEval(err) => err.kind.code(),
            Self::Malformed(_) | Self::SystemMalformed(_) => "envoyauth_result_error",
        }
    }
}

/// Decides one request: system guardrails, then the tenant's policy.
/// `input` must hold at least what both policies' plans name (see
/// [`input_need`]); both evaluate the same document.
pub fn decide(system: &SystemPolicy, tenant: &TenantPolicy, input: Value) -> Verdict {
    match system.deny_messages(input.clone()) {
        Ok(messages) if !messages.is_empty() => return Verdict::SystemDenied(messages),
        Ok(_) => {}
        Err(failure) => return Verdict::Failed(failure),
    }
    match tenant.decide(input) {
        Ok(decision) => Verdict::Decided(decision),
        Err(failure) => Verdict::Failed(failure),
    }
}

/// The parts of the input a request to `tenant` needs: what the system
/// guardrails read and what the tenant's policy reads, built once.
pub fn input_need<'a>(system: &'a SystemPolicy, tenant: &'a TenantPolicy) -> Need<'a> {
    system
        .policy
        .input_plan()
        .root()
        .either(tenant.policy.input_plan().root())
}

/// Reads the deny rule's value: a set (or array) of messages, or a boolean.
/// Undefined means no message. Non-string messages are kept as their JSON.
fn deny_messages(value: &Value) -> Result<Vec<String>, String> {
    let items: Vec<&Value> = match value {
        Value::Undefined => return Ok(Vec::new()),
        Value::Bool(false) => return Ok(Vec::new()),
        Value::Bool(true) => return Ok(vec!["denied by system policy".to_owned()]),
        Value::Set(items) => items.iter().collect(),
        Value::Array(items) => items.iter().collect(),
        other => return Err(format!("a {}, not a set of messages", type_name(other))),
    };
    Ok(items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => s.to_string(),
            other => other
                .to_json_str()
                .map_or_else(|_| format!("{other:?}"), |s| compact(&s)),
        })
        .collect())
}

fn compact(pretty: &str) -> String {
    serde_json::from_str::<serde_json::Value>(pretty)
        .map_or_else(|_| pretty.to_owned(), |v| v.to_string())
}
