//! Compiling a bundle into a policy ready to evaluate.
//!
//! Everything that can fail is found here, at activation, never on a
//! request: syntax errors (several per file), package names outside the
//! manifest roots, unknown functions, recursion, unsafe variables and
//! literal arguments of the wrong type. Any error rejects the whole bundle.
//!
//! A decision path may name a rule or, as in OPA, any other document: a
//! package (whose rules and data make up one object), a part of the data,
//! or nothing at all, which is undefined on every request.
//! Once a bundle compiles, one independent engine per worker thread is built
//! from it (see [`super::evaluator`]).

use std::{fmt, num::NonZeroU32, sync::Arc, time::Duration};

use regorus::{
    Engine, Value,
    languages::rego::compiler::Compiler,
    rvm::{
        RegoVM,
        program::{DeserializationResult, Program},
    },
    utils::limits::ExecutionTimerConfig,
};

use super::{
    EvalError, InputPlan, RulePath, SourceError,
    analysis::{self, InputUsage},
    builtins,
    conflicts::conflict_risk,
    evaluator::{Evaluator, Slots},
    memo::NONDETERMINISTIC_BUILTINS,
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
    /// Evaluate with the bytecode VM where it gives the interpreter's
    /// answers (see `decision::conflicts`); `false` always interprets.
    pub vm: bool,
    /// The VM's instruction budget per evaluation. The engine's own default
    /// (25,000) fails legitimate policies over large data; the time limit
    /// is the main guard, this one a backstop.
    pub max_instructions: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            eval_timeout_ms: 100,
            worker_threads: std::thread::available_parallelism().map_or(2, usize::from),
            vm: true,
            max_instructions: 10_000_000,
        }
    }
}

/// Which engine a compiled policy runs on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "engine", content = "reason", rename_all = "snake_case")]
pub enum EngineKind {
    /// The bytecode VM.
    Vm,
    /// The interpreter, and why the VM was not used.
    Interpreter(String),
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
    /// The entry points that name a document other than a rule.
    documents: Vec<RulePath>,
    input: InputUsage,
    plan: InputPlan,
    /// Why results are not remembered, or `None` when they are.
    no_memo: Option<String>,
    config: EngineConfig,
    kind: EngineKind,
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

        let mut analysis = analysis::analyse(&parsed, &builtins::names());
        errors.append(&mut analysis.errors);
        if !errors.is_empty() {
            return Err(CompileErrors(errors));
        }

        let modules: Arc<[RegoModule]> = bundle.modules.clone().into();
        let mut template = build_engine(&modules, &bundle.data, config, entrypoints)?;
        let documents = documents(&mut template, entrypoints);
        let slots = config.worker_threads + 1;

        let no_memo = entrypoints.iter().find_map(|entry| {
            analysis
                .graph
                .first_call_of(&entry.segments(), NONDETERMINISTIC_BUILTINS)
                .map(|builtin| format!("it calls `{builtin}`"))
        });
        let vm_program = vm_program(&analysis, &mut template, entrypoints, &documents, config);
        let (kind, mut evaluators) = match vm_program {
            Ok(program) => {
                let vms = (0..slots)
                    .map(|_| build_vm(&program, &bundle.data, config))
                    .collect::<Result<Vec<_>, _>>()?;
                (EngineKind::Vm, vms)
            }
            Err(reason) => {
                let mut engines = vec![Evaluator::interpreter(template, documents.clone())];
                for _ in 1..slots {
                    let engine = build_engine(&modules, &bundle.data, config, entrypoints)?;
                    engines.push(Evaluator::interpreter(engine, documents.clone()));
                }
                (EngineKind::Interpreter(reason), engines)
            }
        };

        if no_memo.is_none() {
            evaluators = evaluators
                .into_iter()
                .map(|e| e.with_memo(entrypoints.len()))
                .collect();
        }

        let plan = InputPlan::from_usages([&analysis.input]);
        Ok(Self {
            modules,
            data: bundle.data.clone(),
            entrypoints: entrypoints.to_vec(),
            documents,
            input: analysis.input,
            plan,
            no_memo,
            config: config.clone(),
            kind,
            slots: Slots::new(evaluators),
        })
    }

    /// Evaluates `rule` against `input`, on the current thread's engine. A
    /// rule that is one of the entry points of a deterministic policy is
    /// answered from the thread's memo when the same input was seen.
    pub fn evaluate(&self, rule: &RulePath, input: Value) -> Result<Value, EvalError> {
        match self.entrypoints.iter().position(|e| e == rule) {
            Some(entry) => self
                .slots
                .with(|evaluator| evaluator.eval_entry(entry, rule, input, &self.plan)),
            None => self.slots.with(|evaluator| evaluator.eval(rule, input)),
        }
    }

    /// What the policy reads of `input`.
    pub fn input_usage(&self) -> &InputUsage {
        &self.input
    }

    /// The parts of `input` to build for this policy.
    pub fn input_plan(&self) -> &InputPlan {
        &self.plan
    }

    /// Why results are not remembered per input (`None`: they are).
    pub fn memo_disabled_because(&self) -> Option<&str> {
        self.no_memo.as_deref()
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

    /// Whether entry point `path` names a rule (rather than a package, a
    /// part of the data, or nothing).
    pub fn names_rule(&self, path: &RulePath) -> bool {
        self.entrypoints.contains(path) && !self.documents.contains(path)
    }

    /// The engine settings it was compiled with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Which engine evaluates it.
    pub fn engine_kind(&self) -> &EngineKind {
        &self.kind
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

/// The VM program for the entry points, serialised so that each thread can
/// load its own copy; or why the interpreter must evaluate instead.
fn vm_program(
    analysis: &analysis::Analysis,
    template: &mut Engine,
    entrypoints: &[RulePath],
    documents: &[RulePath],
    config: &EngineConfig,
) -> Result<Vec<u8>, String> {
    if !config.vm {
        return Err("the VM is turned off in the configuration".to_owned());
    }
    if let Some(document) = documents.first() {
        return Err(format!(
            "decision path `{document}` names a document, not a rule, which the VM cannot evaluate"
        ));
    }
    for entry in entrypoints {
        if let Some(reason) = conflict_risk(&analysis.graph, &entry.segments()) {
            return Err(format!("{reason}, which the VM would not report"));
        }
    }
    let first = entrypoints
        .first()
        .ok_or_else(|| "no entry point".to_owned())?;
    let compiled = template
        .compile_with_entrypoint(first.reference())
        .map_err(|err| format!("{err:#}"))?;
    let names: Vec<&str> = entrypoints.iter().map(|e| &**e.reference()).collect();
    let program = Compiler::compile_from_policy(&compiled, &names)
        .map_err(|err| format!("the VM cannot compile this policy: {err}"))?;
    program.serialize_binary()
}

/// A VM with its own copy of the program and the data.
fn build_vm(
    program: &[u8],
    data: &Value,
    config: &EngineConfig,
) -> Result<Evaluator, CompileErrors> {
    let vm_error = |message: String| CompileErrors(vec![SourceError::in_file("bundle", message)]);
    let mut program = match Program::deserialize_binary(program).map_err(vm_error)? {
        DeserializationResult::Complete(program) => program,
        DeserializationResult::Partial(_) => {
            return Err(vm_error(
                "the VM program did not load completely".to_owned(),
            ));
        }
    };
    builtins::replace_in_program(&mut program);
    let mut vm = RegoVM::new();
    vm.load_program(Arc::new(program));
    vm.set_data(deep_copy(data))
        .map_err(|err| vm_error(format!("{err:#}")))?;
    vm.set_strict_builtin_errors(false);
    vm.set_max_instructions(config.max_instructions);
    vm.set_execution_timer_config(Some(timer(config)));
    Ok(Evaluator::vm(vm))
}

fn timer(config: &EngineConfig) -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit: Duration::from_millis(config.eval_timeout_ms.max(1)),
        // Reading the clock on every step costs more than most policies;
        // the limit is coarse anyway.
        check_interval: NonZeroU32::new(64).unwrap_or(NonZeroU32::MIN),
    }
}

/// Builds one engine from source and prepares it, so that the first
/// evaluation does no analysis.
pub(super) fn build_engine(
    modules: &[RegoModule],
    data: &Value,
    config: &EngineConfig,
    entrypoints: &[RulePath],
) -> Result<Engine, CompileErrors> {
    let mut engine = Engine::new();
    engine.set_strict_builtin_errors(false);
    builtins::register(&mut engine).map_err(|err| {
        CompileErrors(vec![SourceError::in_file(
            "bundle",
            format!("cannot add builtins: {err:#}"),
        )])
    })?;
    engine.set_gather_prints(true);
    engine.set_execution_timer_config(timer(config));

    for module in modules {
        engine.set_rego_v0(module.version == RegoVersion::V0);
        engine
            .add_policy(module.path.clone(), module.source.to_string())
            .map_err(|err| CompileErrors(vec![SourceError::from_engine(&err, &module.path)]))?;
    }
    engine
        .add_data(deep_copy(data))
        .map_err(|err| CompileErrors(vec![SourceError::in_file("data", format!("{err:#}"))]))?;

    // Compiling an entry point prepares the engine first, so an entry point
    // that names a document rather than a rule still prepares it.
    let mut errors = Vec::new();
    for entry in entrypoints {
        if let Err(err) = engine.compile_with_entrypoint(entry.reference()) {
            let text = format!("{err:#}");
            if !names_no_rule(&text) {
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
    Ok(engine)
}

/// The engine's answer when asked to compile a path that is not a rule.
fn names_no_rule(error: &str) -> bool {
    error.contains("not a valid rule path")
}

/// The entry points of a prepared engine that name no rule; they are
/// evaluated as queries for the whole document at their path.
fn documents(engine: &mut Engine, entrypoints: &[RulePath]) -> Vec<RulePath> {
    entrypoints
        .iter()
        .filter(
            |entry| match engine.compile_with_entrypoint(entry.reference()) {
                Ok(_) => false,
                Err(err) => names_no_rule(&format!("{err:#}")),
            },
        )
        .cloned()
        .collect()
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

#[cfg(test)]
mod tests;
