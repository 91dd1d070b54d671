//! Rego evaluation: compiling bundles, evaluating decisions, and composing
//! the system guardrails with each tenant's policy.
//!
//! - [`compile`] turns a checked bundle into a [`CompiledPolicy`], finding
//!   every error at activation ([`analysis`], [`recover`]).
//! - [`evaluator`] keeps one engine per worker thread.
//! - [`outcome`] reads a decision in OPA-Envoy's boolean or object form.
//! - [`decide`] applies deny-wins composition.
//! - [`builtins`] adds the OPA builtins regorus lacks (JWT, crypto, x509,
//!   CIDR).
//! - [`test_gate`] runs a bundle's Rego unit tests before it activates.

mod analysis;
pub mod builtins;
mod compile;
mod conflicts;
mod decide;
mod evaluator;
mod memo;
mod outcome;
mod plan;
mod recover;
mod rule_path;
mod source_error;
mod test_gate;

pub use analysis::InputUsage;
pub use compile::{CompileErrors, CompiledPolicy, EngineConfig, EngineKind, deep_copy};
pub use decide::{
    DECISION_PATH_METADATA_KEY, Failure, SystemPolicy, TenantPolicy, Verdict, decide, input_need,
};
pub use evaluator::{EvalError, EvalErrorKind, Evaluator, pin_thread_to_slot};
pub use outcome::{MalformedDecision, ObjectDecision, TenantDecision, read_decision, type_name};
pub use plan::{InputPlan, Need, PlanNode};
pub use rule_path::{RulePath, RulePathError};
pub use source_error::SourceError;
pub use test_gate::{TEST_TIMEOUT, run_tests};
