//! `io.jwt.decode`, `io.jwt.decode_verify` and the `io.jwt.verify_*` family,
//! with OPA's semantics (its `topdown/tokens.go`), on the [`crate::jose`]
//! primitives.
//!
//! What OPA does, and so what happens here:
//!
//! - `verify_*` answer `false` for a signature that does not verify, and
//!   fail (undefined, non-strict) for a token or key that cannot be read.
//!   The key argument is a PEM certificate or public key, or a JWK (set).
//! - `decode_verify` answers `[false, {}, {}]` when the signature, the
//!   `alg`, `iss`, `aud`, `exp` or `nbf` constraints fail, and fails on
//!   malformed tokens or constraints. A token with an `aud` claim needs an
//!   `aud` constraint. Times are compared in seconds, `time` being given in
//!   nanoseconds (default: now).
//! - Nested tokens (`cty: JWT`) are followed.

use std::time::{SystemTime, UNIX_EPOCH};

use regorus::Value;

use super::{BuiltinError, Outcome, field, string_arg};
use crate::jose::{Algorithm, CompactJws, Key, KeySet};

fn jose_err(err: crate::jose::JoseError) -> BuiltinError {
    BuiltinError::new(err.to_string())
}

/// Reads a decoded JSON part as a Rego object.
fn json_object(bytes: &[u8], part: &str) -> Result<Value, BuiltinError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| BuiltinError::new(format!("JWT {part} is not UTF-8")))?;
    let value = Value::from_json_str(text)
        .map_err(|err| BuiltinError::new(format!("invalid JSON: {err}")))?;
    if matches!(value, Value::Object(_)) {
        Ok(value)
    } else {
        Err(BuiltinError::new("decoded JSON type was not an Object"))
    }
}

/// The header as an object; JWE (an `enc` member) is refused.
fn header_object(jws: &CompactJws<'_>) -> Result<Value, BuiltinError> {
    let bytes = jws
        .header()
        .map_err(|_| BuiltinError::new("JWT header had invalid encoding"))?;
    let header = json_object(&bytes, "header")
        .map_err(|err| BuiltinError::new(format!("bad JWT header: {err}")))?;
    if field(&header, "enc").is_some() {
        return Err(BuiltinError::new(
            "JWT is a JWE object, which is not supported",
        ));
    }
    Ok(header)
}

/// The header fields OPA interprets.
#[derive(Debug, Default)]
struct TokenHeader {
    alg: String,
    kid: String,
    cty: String,
    crit: Vec<String>,
    unknown: Vec<String>,
}

impl TokenHeader {
    fn parse(header: &Value) -> Result<Self, BuiltinError> {
        let Value::Object(map) = header else {
            return Err(BuiltinError::new("header is not an object"));
        };
        let mut out = Self::default();
        for (key, value) in map.iter() {
            let Value::String(name) = key else { continue };
            let text = |name: &str| match value {
                Value::String(s) => Ok(s.to_string()),
                _ => Err(BuiltinError::new(format!("{name}: must be a string"))),
            };
            match name.as_ref() {
                "alg" => out.alg = text("alg")?,
                "kid" => out.kid = text("kid")?,
                "typ" => {
                    text("typ")?;
                }
                "cty" => out.cty = text("cty")?,
                "crit" => {
                    let Value::Array(items) = value else {
                        return Err(BuiltinError::new("crit: must be a list"));
                    };
                    // OPA stops at the first non-string and keeps what it read.
                    for item in items.iter() {
                        let Value::String(s) = item else { break };
                        out.crit.push(s.to_string());
                    }
                    if out.crit.is_empty() {
                        return Err(BuiltinError::new("crit: must be a nonempty list"));
                    }
                }
                other => out.unknown.push(other.to_owned()),
            }
        }
        Ok(out)
    }

    /// RFC 7515: `alg` is required, and every critical parameter must be
    /// understood.
    fn valid(&self) -> bool {
        !self.alg.is_empty() && !self.unknown.iter().any(|u| self.crit.contains(u))
    }
}

/// `io.jwt.decode(token)`: `[header, payload, signature as hex]`.
pub(super) fn decode(args: &[Value]) -> Outcome {
    decode_token(string_arg(args, 0)?)
}

fn decode_token(token: &str) -> Outcome {
    let jws = CompactJws::parse(token).map_err(jose_err)?;
    let header = header_object(&jws)?;
    let payload = jws
        .payload()
        .map_err(|_| BuiltinError::new("JWT payload had invalid encoding"))?;

    if let Some(Value::String(cty)) = field(&header, "cty")
        && cty.as_ref() == "JWT"
    {
        // A nested token may arrive quoted, as jwt.io writes it.
        let inner = String::from_utf8_lossy(&payload);
        return decode_token(inner.trim_matches(|c| c == '"' || c == '\''));
    }

    let payload = json_object(&payload, "payload")?;
    let signature = jws
        .signature()
        .map_err(|_| BuiltinError::new("JWT signature had invalid encoding"))?;
    Ok(Value::from(vec![
        header,
        payload,
        Value::from(hex::encode(signature)),
    ]))
}

pub(super) fn verify_rs256(args: &[Value]) -> Outcome {
    verify_with_key(args, Algorithm::RS256)
}
pub(super) fn verify_rs384(args: &[Value]) -> Outcome {
    verify_with_key(args, Algorithm::RS384)
}
pub(super) fn verify_rs512(args: &[Value]) -> Outcome {
    verify_with_key(args, Algorithm::RS512)
}
pub(super) fn verify_ps256(args: &[Value]) -> Outcome {
    verify_with_key(args, Algorithm::PS256)
}
pub(super) fn verify_ps384(args: &[Value]) -> Outcome {
    verify_with_key(args, Algorithm::PS384)
}
pub(super) fn verify_ps512(args: &[Value]) -> Outcome {
    verify_with_key(args, Algorithm::PS512)
}
pub(super) fn verify_es256(args: &[Value]) -> Outcome {
    verify_with_key(args, Algorithm::ES256)
}
pub(super) fn verify_es384(args: &[Value]) -> Outcome {
    verify_with_key(args, Algorithm::ES384)
}
pub(super) fn verify_es512(args: &[Value]) -> Outcome {
    verify_with_key(args, Algorithm::ES512)
}
pub(super) fn verify_hs256(args: &[Value]) -> Outcome {
    verify_with_secret(args, Algorithm::HS256)
}
pub(super) fn verify_hs384(args: &[Value]) -> Outcome {
    verify_with_secret(args, Algorithm::HS384)
}
pub(super) fn verify_hs512(args: &[Value]) -> Outcome {
    verify_with_secret(args, Algorithm::HS512)
}

/// `io.jwt.verify_{rs,ps,es}*(token, key)`. The builtin fixes the
/// algorithm; the header's `alg` only selects among JWKs that declare one.
fn verify_with_key(args: &[Value], alg: Algorithm) -> Outcome {
    let token = string_arg(args, 0)?;
    let jws = CompactJws::parse(token).map_err(jose_err)?;
    let keys = KeySet::parse(string_arg(args, 1)?).map_err(jose_err)?;
    let signature = jws.signature().map_err(jose_err)?;
    let header = TokenHeader::parse(&header_object(&jws)?)?;

    let input = jws.signing_input();
    let check = |key: &Key| {
        let signature = match key.ecdsa_scalar_size() {
            Some(size) => split_ecdsa(&signature, size),
            None => Some(signature.clone()),
        };
        signature.is_some_and(|sig| key.verify(alg, input, &sig).is_ok())
    };

    if !header.kid.is_empty()
        && let Some(key) = keys.by_kid(&header.kid)
    {
        return Ok(Value::Bool(check(&key.key)));
    }
    let verified = keys
        .keys()
        .iter()
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == header.alg))
        .any(|k| check(&k.key));
    Ok(Value::Bool(verified))
}

/// OPA splits an ES signature in two halves whatever its length; the halves
/// are re-padded to the curve's size so that the strict check sees r || s.
fn split_ecdsa(signature: &[u8], size: usize) -> Option<Vec<u8>> {
    let (r, s) = signature.split_at(signature.len() / 2);
    let mut out = Vec::with_capacity(size * 2);
    for half in [r, s] {
        let start = half.iter().position(|b| *b != 0).unwrap_or(half.len());
        let trimmed = &half[start..];
        if trimmed.len() > size {
            return None;
        }
        out.resize(out.len() + size - trimmed.len(), 0);
        out.extend_from_slice(trimmed);
    }
    Some(out)
}

/// `io.jwt.verify_hs*(token, secret)`: only the token's structure is read.
fn verify_with_secret(args: &[Value], alg: Algorithm) -> Outcome {
    let token = string_arg(args, 0)?;
    let secret = string_arg(args, 1)?;
    let jws = CompactJws::parse(token).map_err(jose_err)?;
    let signature = jws.signature().map_err(jose_err)?;
    let key = Key::Secret(secret.as_bytes().to_vec());
    Ok(Value::Bool(
        key.verify(alg, jws.signing_input(), &signature).is_ok(),
    ))
}

/// The constraints argument of `decode_verify`.
struct Constraints {
    keys: Option<KeySet>,
    secret: String,
    alg: String,
    iss: String,
    aud: String,
    /// Seconds since the epoch.
    now: f64,
}

impl Constraints {
    fn parse(value: &Value) -> Result<Self, BuiltinError> {
        let Value::Object(map) = value else {
            return Err(BuiltinError::new(format!(
                "operand 2 must be object but got {}",
                crate::decision::type_name(value)
            )));
        };
        let mut out = Self {
            keys: None,
            secret: String::new(),
            alg: String::new(),
            iss: String::new(),
            aud: String::new(),
            now: -1.0,
        };
        for (key, value) in map.iter() {
            let name = match key {
                Value::String(s) => s.to_string(),
                other => format!("{other:?}"),
            };
            let text = || match value {
                Value::String(s) => Ok(s.to_string()),
                _ => Err(BuiltinError::new(format!(
                    "{name} constraint: must be a string"
                ))),
            };
            match name.as_str() {
                "cert" => out.keys = Some(KeySet::parse(&text()?).map_err(jose_err)?),
                "secret" => out.secret = text()?,
                "alg" => out.alg = text()?,
                "iss" => out.iss = text()?,
                "aud" => out.aud = text()?,
                "time" => out.now = time_constraint(value)? / 1e9,
                other => {
                    return Err(BuiltinError::new(format!(
                        "unknown token validation constraint: {other}"
                    )));
                }
            }
        }
        if out.now < 0.0 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            out.now = nanos as f64 / 1e9;
        }
        match (out.keys.is_some(), !out.secret.is_empty()) {
            (true, true) => Err(BuiltinError::new("duplicate key constraints")),
            (false, false) => Err(BuiltinError::new("no key constraint")),
            _ => Ok(out),
        }
    }

    fn verify(&self, header: &TokenHeader, jws: &CompactJws<'_>, signature: &[u8]) -> bool {
        let Some(alg) = Algorithm::from_name(&header.alg) else {
            return false;
        };
        let keys = match &self.keys {
            Some(keys) => keys.clone(),
            None => KeySet::from_keys([Key::Secret(self.secret.as_bytes().to_vec())]),
        };
        let kid = (!header.kid.is_empty()).then_some(header.kid.as_str());
        keys.verify(kid, alg, jws.signing_input(), signature)
            .is_ok()
    }

    fn audience_matches(&self, aud: &Value) -> bool {
        match aud {
            Value::String(s) => s.as_ref() == self.aud,
            Value::Array(items) => items
                .iter()
                .any(|item| matches!(item, Value::String(s) if s.as_ref() == self.aud)),
            _ => false,
        }
    }
}

/// A number as the nearest float, as Go's `Float64` gives it (the exact
/// conversion refuses integers beyond 2^53, which nanosecond times exceed).
fn number_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64().or_else(|| n.format_decimal().parse().ok()),
        _ => None,
    }
}

fn time_constraint(value: &Value) -> Result<f64, BuiltinError> {
    if !matches!(value, Value::Number(_)) {
        return Err(BuiltinError::new("token time constraint: must be a number"));
    }
    let time = number_f64(value)
        .ok_or_else(|| BuiltinError::new("token time constraint: unvalid float64"))?;
    if time < 0.0 {
        return Err(BuiltinError::new(
            "token time constraint: must not be negative",
        ));
    }
    Ok(time)
}

fn number_claim(payload: &Value, claim: &str) -> Result<Option<f64>, BuiltinError> {
    match field(payload, claim) {
        None => Ok(None),
        Some(number @ Value::Number(_)) => Ok(number_f64(number)),
        Some(_) => Err(BuiltinError::new(format!("{claim} value must be a number"))),
    }
}

/// `io.jwt.decode_verify(token, constraints)`.
pub(super) fn decode_verify(args: &[Value]) -> Outcome {
    let constraints = Constraints::parse(args.get(1).unwrap_or(&Value::Undefined))?;
    let unverified = || {
        let empty = Value::new_object();
        Ok(Value::from(vec![Value::Bool(false), empty.clone(), empty]))
    };

    let mut token = string_arg(args, 0)?.to_owned();
    let (header, payload) = loop {
        let jws = CompactJws::parse(&token).map_err(jose_err)?;
        let header_value = header_object(&jws)?;
        let header = TokenHeader::parse(&header_value)?;
        if !header.valid() {
            return unverified();
        }
        if !constraints.alg.is_empty() && constraints.alg != header.alg {
            return unverified();
        }
        let signature = jws.signature().map_err(jose_err)?;
        if !constraints.verify(&header, &jws, &signature) {
            return unverified();
        }
        let payload = jws
            .payload()
            .map_err(|_| BuiltinError::new("JWT payload had invalid encoding"))?;
        if header.cty.eq_ignore_ascii_case("JWT") {
            token = String::from_utf8_lossy(&payload).into_owned();
            continue;
        }
        break (header_value, json_object(&payload, "payload")?);
    };

    if !constraints.iss.is_empty() {
        match field(&payload, "iss") {
            Some(Value::String(iss)) if iss.as_ref() == constraints.iss => {}
            _ => return unverified(),
        }
    }
    match field(&payload, "aud") {
        Some(aud) if !constraints.audience_matches(aud) => return unverified(),
        None if !constraints.aud.is_empty() => return unverified(),
        _ => {}
    }
    if let Some(exp) = number_claim(&payload, "exp")?
        && constraints.now >= exp
    {
        return unverified();
    }
    if let Some(nbf) = number_claim(&payload, "nbf")?
        && constraints.now < nbf
    {
        return unverified();
    }
    Ok(Value::from(vec![Value::Bool(true), header, payload]))
}
