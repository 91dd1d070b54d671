//! Compiling a bundle into a policy ready to evaluate.
//!
//! Everything that can fail is found here, at activation, never on a
//! request: syntax errors (several per file), package names outside the
//! manifest roots, unknown functions, recursion, unsafe variables, and a
//! decision path that names no rule. Any error rejects the whole bundle.
//! Once a bundle compiles, one independent engine per worker thread is built
//! from it (see [`super::evaluator`]).

use std::{fmt, num::NonZeroU32, sync::Arc, time::Duration};

use regorus::{Engine, Value, utils::limits::ExecutionTimerConfig};

use super::{
    EvalError, RulePath, SourceError,
    analysis::{self, InputUsage},
    builtins,
    evaluator::{Evaluator, Slots},
    recover,
};
use crate::bundle::{Bundle, RegoModule, RegoVersion};

/// Engine settings shared by every compiled policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Wall-clock limit of one evaluation, in milliseconds.
    pub eval_timeout_ms: u64,
    /// Engines per policy for worker threads (the service adds one spare).
    /// Set to the number of request-serving threads.
    pub worker_threads: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            eval_timeout_ms: 100,
            worker_threads: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// Every problem that kept a bundle from compiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileErrors(pub Vec<SourceError>);

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "{count} error{} in bundle",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.0 {
            write!(f, "\n{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileErrors {}

/// A compiled bundle: its rules, its data, and an engine per worker thread.
#[derive(Debug)]
pub struct CompiledPolicy {
    modules: Arc<[RegoModule]>,
    data: Value,
    entrypoints: Vec<RulePath>,
    input: InputUsage,
    config: EngineConfig,
    slots: Slots,
}

impl CompiledPolicy {
    /// Compiles `bundle`, requiring a rule at each of `entrypoints`.
    pub fn compile(
        bundle: &Bundle,
        entrypoints: &[RulePath],
        config: &EngineConfig,
    ) -> Result<Self, CompileErrors> {
        let mut errors = Vec::new();
        let mut parsed = Vec::new();
        for module in &bundle.modules {
            let outcome = recover::parse_module(module);
            errors.extend(outcome.errors);
            if let Some(ast) = outcome.module {
                check_package_root(bundle, module, &ast, &mut errors);
                parsed.push(ast);
            }
        }

        let analysis = analysis::analyse(&parsed, &builtins::names());
        errors.extend(analysis.errors);
        if !errors.is_empty() {
            return Err(CompileErrors(errors));
        }

        let modules: Arc<[RegoModule]> = bundle.modules.clone().into();
        let first = build_engine(&modules, &bundle.data, config, entrypoints)?;
        let mut evaluators = vec![first];
        for _ in 0..config.worker_threads {
            evaluators.push(build_engine(&modules, &bundle.data, config, entrypoints)?);
        }

        Ok(Self {
            modules,
            data: bundle.data.clone(),
            entrypoints: entrypoints.to_vec(),
            input: analysis.input,
            config: config.clone(),
            slots: Slots::new(evaluators),
        })
    }

    /// Evaluates `rule` (one of the entry points) against `input`, on the
    /// current thread's engine.
    pub fn evaluate(&self, rule: &RulePath, input: Value) -> Result<Value, EvalError> {
        self.slots.with(|evaluator| evaluator.eval(rule, input))
    }

    /// What the policy reads of `input`.
    pub fn input_usage(&self) -> &InputUsage {
        &self.input
    }

    /// The Rego modules the policy was compiled from.
    pub fn modules(&self) -> &[RegoModule] {
        &self.modules
    }

    /// The policy's data document.
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// The rules the policy was compiled to answer.
    pub fn entrypoints(&self) -> &[RulePath] {
        &self.entrypoints
    }

    /// The engine settings it was compiled with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// How many engines it holds.
    pub fn engine_count(&self) -> usize {
        self.slots.len()
    }
}

/// A module's package must lie under one of the manifest's roots.
fn check_package_root(
    bundle: &Bundle,
    module: &RegoModule,
    ast: &regorus::unstable::Ref<regorus::unstable::Module>,
    errors: &mut Vec<SourceError>,
) {
    let span = &ast.package.span;
    let text = span.text().trim_start_matches("package").trim();
    let Some(path) = package_path(&ast.package.refr) else {
        return;
    };
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    if path.first().map(String::as_str) == Some("__pdp_recovery") || bundle.manifest.owns(&segments)
    {
        return;
    }
    errors.push(SourceError::at(
        &module.path,
        &module.source,
        span.line,
        span.col,
        format!(
            "package `{text}` is outside the manifest roots {:?}",
            bundle.manifest.roots
        ),
    ));
}

fn package_path(expr: &regorus::unstable::Expr) -> Option<Vec<String>> {
    use regorus::unstable::Expr;
    match expr {
        Expr::Var { value, .. } => Some(vec![value.as_string().ok()?.to_string()]),
        Expr::RefDot { refr, field, .. } => {
            let mut path = package_path(refr)?;
            path.push(field.1.as_string().ok()?.to_string());
            Some(path)
        }
        Expr::RefBrack { refr, index, .. } => {
            let mut path = package_path(refr)?;
            match index.as_ref() {
                Expr::String { value, .. } | Expr::RawString { value, .. } => {
                    path.push(value.as_string().ok()?.to_string());
                    Some(path)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Builds one engine from source and prepares it, so that the first
/// evaluation does no analysis.
fn build_engine(
    modules: &[RegoModule],
    data: &Value,
    config: &EngineConfig,
    entrypoints: &[RulePath],
) -> Result<Evaluator, CompileErrors> {
    let mut engine = Engine::new();
    engine.set_strict_builtin_errors(false);
    builtins::register(&mut engine).map_err(|err| {
        CompileErrors(vec![SourceError::in_file(
            "bundle",
            format!("cannot add builtins: {err:#}"),
        )])
    })?;
    engine.set_gather_prints(true);
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: Duration::from_millis(config.eval_timeout_ms.max(1)),
        check_interval: NonZeroU32::MIN,
    });

    for module in modules {
        engine.set_rego_v0(module.version == RegoVersion::V0);
        engine
            .add_policy(module.path.clone(), module.source.to_string())
            .map_err(|err| CompileErrors(vec![SourceError::from_engine(&err, &module.path)]))?;
    }
    engine
        .add_data(deep_copy(data))
        .map_err(|err| CompileErrors(vec![SourceError::in_file("data", format!("{err:#}"))]))?;

    let mut errors = Vec::new();
    for entry in entrypoints {
        if let Err(err) = engine.compile_with_entrypoint(entry.reference()) {
            let text = format!("{err:#}");
            if text.contains("not a valid rule path") {
                errors.push(SourceError::in_file(
                    "bundle",
                    format!("no rule defined at decision path `{entry}`"),
                ));
            } else {
                let fallback = modules.first().map_or("bundle", |m| m.path.as_str());
                errors.push(SourceError::from_engine(&err, fallback));
            }
        }
    }
    if !errors.is_empty() {
        return Err(CompileErrors(errors));
    }
    // Printing is for debugging; drop what the preparation gathered.
    let _ = engine.take_prints();
    Ok(Evaluator::new(engine))
}

/// Copies a value without sharing any reference-counted part, so that each
/// engine's data is its own.
pub fn deep_copy(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(Arc::from(&**s)),
        Value::Array(items) => Value::from(items.iter().map(deep_copy).collect::<Vec<_>>()),
        Value::Set(items) => {
            let set: std::collections::BTreeSet<Value> = items.iter().map(deep_copy).collect();
            Value::from(set)
        }
        Value::Object(fields) => {
            let mut object = regorus::value::Object::new();
            for (k, v) in fields.iter() {
                object.insert(deep_copy(k), deep_copy(v));
            }
            object.into_value()
        }
        other => other.clone(),
    }
}
