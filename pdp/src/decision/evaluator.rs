//! One engine instance, and the per-thread slots that keep evaluation free of
//! shared state.
//!
//! An engine is either the bytecode VM, for policies it evaluates with the
//! same answers as OPA (see [`super::conflicts`]), or the interpreter.
//!
//! Sharing one compiled policy between cores makes every evaluation update
//! the same reference counts, which measured two to three times slower on
//! two threads. So each compiled policy holds one independent engine per
//! worker thread (parsed from source, with its own copy of the data) plus
//! one spare for other threads. A worker thread is pinned to its slot when
//! the runtime starts it; the slot's lock is then never contended, and exists
//! only so that an unpinned thread can borrow a slot safely.

use std::{
    cell::Cell,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Mutex, MutexGuard, TryLockError},
};

use regorus::{Engine, Value, rvm::RegoVM};

use super::{InputPlan, RulePath, SourceError, memo::Memo};

thread_local! {
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Pins the current thread to evaluator slot `slot`. Threads that are never
/// pinned use the spare slot.
pub fn pin_thread_to_slot(slot: usize) {
    SLOT.with(|s| s.set(slot));
}

/// Why an evaluation produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// The class of error, for metrics and decision logs.
    pub kind: EvalErrorKind,
    /// What went wrong, with the rule's location when known.
    pub message: String,
}

/// Classes of evaluation errors, named like OPA's topdown error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalErrorKind {
    /// Two definitions of a complete rule or function produced different values.
    Conflict,
    /// The evaluation ran past its time or instruction limit.
    Timeout,
    /// Any other runtime error (type error, failed builtin in strict mode).
    Eval,
    /// The engine panicked; the panic was contained.
    Internal,
}

impl EvalErrorKind {
    /// The code reported in metrics and logs.
    pub fn code(self) -> &'static str {
        match self {
            Self::Conflict => "eval_conflict_error",
            Self::Timeout => "eval_cancel_error",
            Self::Eval => "eval_error",
            Self::Internal => "eval_internal_error",
        }
    }
}

/// One prepared engine, with its memo when the policy is deterministic.
#[derive(Debug)]
pub struct Evaluator {
    engine: EngineImpl,
    memo: Option<Memo>,
}

#[derive(Debug)]
enum EngineImpl {
    /// The interpreter, and the entry points it evaluates as whole
    /// documents (a package, a part of the data) rather than rules.
    Interpreter(Box<Engine>, Vec<RulePath>),
    Vm(Box<RegoVM>),
}

impl Evaluator {
    /// Wraps an interpreter that has been loaded and prepared; `documents`
    /// are the entry points that name no rule.
    pub(crate) fn interpreter(engine: Engine, documents: Vec<RulePath>) -> Self {
        Self {
            engine: EngineImpl::Interpreter(Box::new(engine), documents),
            memo: None,
        }
    }

    /// Wraps a VM with its program and data loaded.
    pub(crate) fn vm(vm: RegoVM) -> Self {
        Self {
            engine: EngineImpl::Vm(Box::new(vm)),
            memo: None,
        }
    }

    /// Remembers results by input, for a deterministic policy with
    /// `entries` entry points.
    pub(crate) fn with_memo(mut self, entries: usize) -> Self {
        self.memo = Some(Memo::new(entries));
        self
    }

    /// Evaluates entry point `entry` (`rule`) against `input`, or answers
    /// from the memo, keyed by the values at the leaves of `plan` (the
    /// policy's own: `input` may hold more, which the policy never reads).
    /// `Value::Undefined` means the rule is undefined.
    pub(crate) fn eval_entry(
        &mut self,
        entry: usize,
        rule: &RulePath,
        input: Value,
        plan: &InputPlan,
    ) -> Result<Value, EvalError> {
        let Some(memo) = &mut self.memo else {
            return self.eval(rule, input);
        };
        if !memo.active() {
            return self.eval(rule, input);
        }
        let key = plan.leaf_values(&input);
        if let Some(known) = memo.get(entry, &key) {
            return Ok(known.clone());
        }
        let result = self.eval(rule, input)?;
        if let Some(memo) = &mut self.memo {
            memo.insert(entry, key, result.clone());
        }
        Ok(result)
    }

    /// Evaluates `rule` against `input`. `Value::Undefined` means the rule
    /// is undefined for this input.
    pub fn eval(&mut self, rule: &RulePath, input: Value) -> Result<Value, EvalError> {
        let outcome = match &mut self.engine {
            EngineImpl::Interpreter(engine, documents) => {
                engine.set_input(input);
                let whole_document = documents.contains(rule);
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    if whole_document {
                        eval_document(engine, rule)
                    } else {
                        engine.eval_rule(rule.reference().to_string())
                    }
                }));
                // Release the request's input, and drain `print` output so it
                // cannot pile up; prints are a debugging aid, kept at debug.
                engine.set_input(Value::Undefined);
                if let Ok(prints) = engine.take_prints() {
                    for line in prints {
                        tracing::debug!(policy.path = %rule, print = %line, "policy print");
                    }
                }
                outcome
            }
            EngineImpl::Vm(vm) => {
                vm.set_input(input);
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    vm.execute_entry_point_by_name(rule.reference())
                        .map_err(anyhow::Error::new)
                }));
                vm.set_input(Value::Undefined);
                outcome
            }
        };

        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(classify(&err)),
            Err(_) => Err(EvalError {
                kind: EvalErrorKind::Internal,
                message: "policy engine panicked; evaluation abandoned".to_owned(),
            }),
        }
    }

    /// Which engine this is.
    pub fn is_vm(&self) -> bool {
        matches!(self.engine, EngineImpl::Vm(_))
    }
}

/// The value of the document at `path` (a package's rules and data as one
/// object), as OPA answers a decision path that names no rule; `Undefined`
/// when nothing is there.
fn eval_document(engine: &mut Engine, path: &RulePath) -> anyhow::Result<Value> {
    let results = engine.eval_query(path.reference().to_string(), false)?;
    let value = results
        .result
        .into_iter()
        .next()
        .and_then(|result| result.expressions.into_iter().next())
        .map_or(Value::Undefined, |expression| expression.value);
    Ok(value)
}

fn classify(err: &anyhow::Error) -> EvalError {
    let text = format!("{err:#}");
    let kind = if text.contains("rule conflicts with rule")
        || text.contains("should not produce multiple outputs")
        || text.contains("multiple outputs")
        || text.contains("generated multiple times")
    {
        EvalErrorKind::Conflict
    } else if text.contains("exceeded time limit") || text.contains("maximum instruction limit") {
        EvalErrorKind::Timeout
    } else {
        EvalErrorKind::Eval
    };
    let location = SourceError::from_engine_text(&text, "");
    let message = if location.line == 0 {
        location.message
    } else {
        format!(
            "{}:{}:{}: {}",
            location.file, location.line, location.col, location.message
        )
    };
    EvalError { kind, message }
}

/// The engines of one compiled policy, one per worker thread plus a spare.
#[derive(Debug)]
pub(crate) struct Slots {
    slots: Box<[Slot]>,
}

/// One slot on cache lines of its own: each thread writes its slot's lock
/// word on every evaluation, and two slots sharing a line would bounce it
/// between cores.
#[derive(Debug)]
#[repr(align(128))]
struct Slot(Mutex<Evaluator>);

impl Slots {
    pub(crate) fn new(evaluators: Vec<Evaluator>) -> Self {
        Self {
            slots: evaluators
                .into_iter()
                .map(|e| Slot(Mutex::new(e)))
                .collect(),
        }
    }

    /// Runs `f` with the current thread's evaluator.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Evaluator) -> R) -> R {
        let last = self.slots.len().saturating_sub(1);
        let preferred = SLOT.with(Cell::get).min(last);
        let mut guard = self.acquire(preferred);
        f(&mut guard)
    }

    /// The preferred slot is normally free. When it is not (an unpinned
    /// thread is borrowing it), any free slot will do; only when all are busy
    /// does the thread wait.
    fn acquire(&self, preferred: usize) -> MutexGuard<'_, Evaluator> {
        let order =
            std::iter::once(preferred).chain((0..self.slots.len()).filter(|i| *i != preferred));
        for idx in order {
            match self.slots[idx].0.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        // A poisoned lock only means a panic happened elsewhere while the
        // engine was held; the engine resets its state on every evaluation.
        self.slots[preferred]
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_comprehension_with_a_repeated_key_is_a_conflict() {
        // OPA reports `eval_conflict_error: object keys must be unique`.
        let err = anyhow::anyhow!("a.rego:2:8: value for key `\"k\"` generated multiple times");
        assert_eq!(classify(&err).kind, EvalErrorKind::Conflict);
    }

    #[test]
    fn other_runtime_errors_stay_evaluation_errors() {
        let err = anyhow::anyhow!("a.rego:1:1: `add` expects numeric argument");
        assert_eq!(classify(&err).kind, EvalErrorKind::Eval);
    }
}
