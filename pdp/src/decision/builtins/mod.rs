//! OPA builtins that regorus lacks or answers differently, added to every
//! engine.
//!
//! ext_authz policies verify tokens (`io.jwt.*`), hash and sign values
//! (`crypto.*`), read peer certificates (`crypto.x509.parse_certificates`)
//! and match addresses (`net.cidr_*`); regorus 0.14 ships none of these.
//! A few builtins it does ship answer differently from OPA's Go
//! implementation (`upper` on `ß`, `semver.is_valid` on `v1.2.3`,
//! `regex.split` at the edges, `time.format` zone names); those are
//! replaced. Each family lives in its own file and follows OPA's semantics,
//! which the conformance suite checks against OPA itself.
//!
//! Added builtins reach the interpreter as extensions, which it looks up
//! before its own builtins, so an extension also replaces a builtin of the
//! same name. The bytecode VM has no extensions: it cannot compile a policy
//! that calls an added builtin (such a policy is interpreted), and for a
//! replaced one [`replace_in_program`] points the program's builtin table
//! at the replacement, so that neither engine answers with the original.
//!
//! Errors follow OPA's non-strict mode, the mode OPA-Envoy runs in: a
//! builtin that fails (a malformed token, an argument of the wrong type)
//! makes its expression undefined rather than failing the evaluation.
//! regorus turns an extension's `Err` into an evaluation error whatever the
//! engine's strictness, so the adapter here answers `Undefined` instead.

mod collections;
mod crypto;
mod jwt;
mod net;
mod regex;
mod semver;
mod strings;
mod time;
mod x509;

use std::collections::HashSet;

use regorus::{
    Engine, Source, Value,
    rvm::program::Program,
    unstable::{Expr, Ref, Span},
};

/// Why a builtin produced no value; in non-strict mode the call is undefined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BuiltinError(pub(crate) String);

impl BuiltinError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

type Outcome = Result<Value, BuiltinError>;

/// One builtin: its Rego name, its arity and its implementation.
struct Builtin {
    name: &'static str,
    arity: u8,
    run: fn(&[Value]) -> Outcome,
}

const fn builtin(name: &'static str, arity: u8, run: fn(&[Value]) -> Outcome) -> Builtin {
    Builtin { name, arity, run }
}

const BUILTINS: &[Builtin] = &[
    builtin("io.jwt.decode", 1, jwt::decode),
    builtin("io.jwt.decode_verify", 2, jwt::decode_verify),
    builtin("io.jwt.verify_rs256", 2, jwt::verify_rs256),
    builtin("io.jwt.verify_rs384", 2, jwt::verify_rs384),
    builtin("io.jwt.verify_rs512", 2, jwt::verify_rs512),
    builtin("io.jwt.verify_ps256", 2, jwt::verify_ps256),
    builtin("io.jwt.verify_ps384", 2, jwt::verify_ps384),
    builtin("io.jwt.verify_ps512", 2, jwt::verify_ps512),
    builtin("io.jwt.verify_es256", 2, jwt::verify_es256),
    builtin("io.jwt.verify_es384", 2, jwt::verify_es384),
    builtin("io.jwt.verify_es512", 2, jwt::verify_es512),
    builtin("io.jwt.verify_hs256", 2, jwt::verify_hs256),
    builtin("io.jwt.verify_hs384", 2, jwt::verify_hs384),
    builtin("io.jwt.verify_hs512", 2, jwt::verify_hs512),
    builtin("crypto.md5", 1, crypto::md5),
    builtin("crypto.sha1", 1, crypto::sha1),
    builtin("crypto.sha256", 1, crypto::sha256),
    builtin("crypto.hmac.md5", 2, crypto::hmac_md5),
    builtin("crypto.hmac.sha1", 2, crypto::hmac_sha1),
    builtin("crypto.hmac.sha256", 2, crypto::hmac_sha256),
    builtin("crypto.hmac.sha512", 2, crypto::hmac_sha512),
    builtin("crypto.hmac.equal", 2, crypto::hmac_equal),
    builtin(
        "crypto.x509.parse_certificates",
        1,
        x509::parse_certificates,
    ),
    builtin("net.cidr_contains_matches", 2, net::cidr_contains_matches),
    builtin("net.cidr_merge", 1, net::cidr_merge),
    builtin("net.cidr_intersects", 2, net::cidr_intersects),
    builtin("array.flatten", 1, collections::flatten),
    builtin("any", 1, collections::any),
    builtin("all", 1, collections::all),
];

/// Added builtins OPA offers to Rego v0 modules only (deprecated in v1).
pub(crate) const V0_ONLY: &[&str] = &["any", "all"];

/// A builtin the engine has, replaced because its answers differ from
/// OPA's: the implementation, and the same behind the engine's own builtin
/// signature, for the VM's table.
struct Replacement {
    builtin: Builtin,
    vm: EngineBuiltin,
}

/// The engine's builtin signature (`regorus::unstable::BuiltinFcn`).
type EngineBuiltin = fn(&Span, &[Ref<Expr>], &[Value], bool) -> anyhow::Result<Value>;

/// Declares each replacement with an adapter to the engine's signature: a
/// plain `fn` per builtin, since the VM's table holds function pointers.
macro_rules! replacements {
    ($($name:literal, $arity:literal => $run:path as $adapter:ident;)*) => {
        $(
            fn $adapter(
                _: &Span,
                _: &[Ref<Expr>],
                args: &[Value],
                _: bool,
            ) -> anyhow::Result<Value> {
                Ok($run(args).unwrap_or(Value::Undefined))
            }
        )*
        const REPLACEMENTS: &[Replacement] = &[
            $(Replacement { builtin: builtin($name, $arity, $run), vm: $adapter },)*
        ];
    };
}

replacements! {
    "upper", 1 => strings::upper as vm_upper;
    "lower", 1 => strings::lower as vm_lower;
    "semver.is_valid", 1 => semver::is_valid as vm_semver_is_valid;
    "semver.compare", 2 => semver::semver_compare as vm_semver_compare;
    "regex.split", 2 => regex::split as vm_regex_split;
    "time.format", 1 => time::format as vm_time_format;
}

/// Adds every builtin to `engine`, with OPA's non-strict error semantics.
pub(crate) fn register(engine: &mut Engine) -> anyhow::Result<()> {
    let replaced = REPLACEMENTS.iter().map(|r| &r.builtin);
    for builtin in BUILTINS.iter().chain(replaced) {
        let run = builtin.run;
        engine.add_extension(
            builtin.name.to_owned(),
            builtin.arity,
            Box::new(move |args: Vec<Value>| Ok(run(&args).unwrap_or(Value::Undefined))),
        )?;
    }
    Ok(())
}

/// Points a VM program's builtin table at the replacements, so that the
/// VM answers as the interpreter does. Call after loading the program.
pub(crate) fn replace_in_program(program: &mut Program) {
    let table = program.builtin_info_table.iter();
    for (slot, info) in program.resolved_builtins.iter_mut().zip(table) {
        if let Some(replacement) = REPLACEMENTS.iter().find(|r| r.builtin.name == info.name) {
            slot.0 = replacement.vm;
        }
    }
}

/// The names of the builtins [`register`] adds, for the static checks.
pub(crate) fn names() -> HashSet<String> {
    BUILTINS.iter().map(|b| b.name.to_owned()).collect()
}

/// Runs builtin `name` directly, errors included (for tests and tools).
pub fn call(name: &str, args: &[Value]) -> Option<Result<Value, String>> {
    let replaced = REPLACEMENTS.iter().map(|r| &r.builtin);
    BUILTINS
        .iter()
        .chain(replaced)
        .find(|b| b.name == name)
        .map(|b| (b.run)(args).map_err(|err| err.0))
}

/// Runs the engine's own builtin `name`, for replacements that only change
/// part of its answer.
fn engine_builtin(name: &str, args: &[Value]) -> Outcome {
    let engine_error = |err: anyhow::Error| BuiltinError::new(format!("{err:#}"));
    let (run, _) = regorus::unstable::BUILTINS
        .get(name)
        .ok_or_else(|| BuiltinError::new(format!("the engine has no builtin `{name}`")))?;
    let source =
        Source::from_contents("<builtin>".to_owned(), String::new()).map_err(engine_error)?;
    let span = Span {
        source,
        line: 1,
        col: 1,
        start: 0,
        end: 0,
    };
    let params: Vec<Ref<Expr>> = args
        .iter()
        .map(|_| {
            Ref::new(Expr::Null {
                span: span.clone(),
                value: Value::Null,
                eidx: 0,
            })
        })
        .collect();
    run(&span, &params, args, false).map_err(engine_error)
}

/// Argument `index` as a string, or OPA's operand type error.
fn string_arg(args: &[Value], index: usize) -> Result<&str, BuiltinError> {
    match args.get(index) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(BuiltinError::new(format!(
            "operand {} must be string but got {}",
            index + 1,
            crate::decision::type_name(other)
        ))),
        None => Err(BuiltinError::new(format!("missing operand {}", index + 1))),
    }
}

/// Looks up a string key of an object value.
fn field<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    match object {
        Value::Object(map) => map.get(&Value::from(key)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
