//! OPA builtins that regorus lacks, added to every engine as extensions.
//!
//! ext_authz policies verify tokens (`io.jwt.*`), hash and sign values
//! (`crypto.*`), read peer certificates (`crypto.x509.parse_certificates`)
//! and match addresses (`net.cidr_*`); regorus 0.14 ships none of these.
//! Each family lives in its own file and follows OPA's semantics, which the
//! conformance suite checks against OPA itself.
//!
//! Errors follow OPA's non-strict mode, the mode OPA-Envoy runs in: a
//! builtin that fails (a malformed token, an argument of the wrong type)
//! makes its expression undefined rather than failing the evaluation.
//! regorus turns an extension's `Err` into an evaluation error whatever the
//! engine's strictness, so the adapter here answers `Undefined` instead.

mod crypto;
mod jwt;
mod net;
mod x509;

use std::collections::HashSet;

use regorus::{Engine, Value};

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
];

/// Adds every builtin to `engine`, with OPA's non-strict error semantics.
pub(crate) fn register(engine: &mut Engine) -> anyhow::Result<()> {
    for builtin in BUILTINS {
        let run = builtin.run;
        engine.add_extension(
            builtin.name.to_owned(),
            builtin.arity,
            Box::new(move |args: Vec<Value>| Ok(run(&args).unwrap_or(Value::Undefined))),
        )?;
    }
    Ok(())
}

/// The names of the builtins [`register`] adds, for the static checks.
pub(crate) fn names() -> HashSet<String> {
    BUILTINS.iter().map(|b| b.name.to_owned()).collect()
}

/// Runs builtin `name` directly, errors included (for tests and tools).
pub fn call(name: &str, args: &[Value]) -> Option<Result<Value, String>> {
    BUILTINS
        .iter()
        .find(|b| b.name == name)
        .map(|b| (b.run)(args).map_err(|err| err.0))
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
