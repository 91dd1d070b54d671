//! JOSE primitives: compact JWS tokens, their keys, and signature checks.
//!
//! This module owns the parts of RFC 7515 (JWS), 7517 (JWK) and 7518 (JWA)
//! that the service needs to trust a signed document: splitting a compact
//! token, reading keys from PEM (certificates and SubjectPublicKeyInfo) or
//! from JWK and JWK sets, and checking RS, PS, ES and HS signatures. Claims
//! (`exp`, `aud`, ...) are left to the callers, whose rules differ: the Rego
//! builtins in [`crate::decision`] follow OPA, a bundle signature follows the
//! bundle format.
//!
//! The small API, in the order it is used:
//!
//! ```no_run
//! use pdp::jose::{Algorithm, KeySet, verify_compact};
//! # fn demo(jwks: &str, token: &str) -> Result<(), pdp::jose::JoseError> {
//! let keys = KeySet::parse(jwks)?; // PEM, one JWK, or a JWK set
//! let verified = verify_compact(token, &keys, &[Algorithm::RS256, Algorithm::ES256])?;
//! let claims: serde_json::Value = verified.claims()?;
//! # let _ = claims; Ok(()) }
//! ```
//!
//! Key selection follows OPA: a token whose `kid` names a key of the set is
//! checked with that key only; otherwise every key whose `alg` is unset or
//! equal to the token's is tried.

mod algorithm;
mod compact;
mod key;
pub mod pem;

pub use algorithm::Algorithm;
pub use compact::{CompactJws, decode_base64url};
pub use key::{Key, KeySet, SetKey};

/// Why a token or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// The token is not three base64url parts separated by dots.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// A part of the token is not valid base64url.
    #[error("token {part} is not valid base64url")]
    Base64 {
        /// `header`, `payload` or `signature`.
        part: &'static str,
    },
    /// A part of the token is not the JSON it must be.
    #[error("token {part} is not a JSON object: {reason}")]
    Json {
        /// `header` or `payload`.
        part: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// The header names no algorithm, or one this module does not know.
    #[error("unsupported algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// The header's algorithm is not among those the caller allows.
    #[error("algorithm `{0}` is not allowed here")]
    AlgorithmNotAllowed(String),
    /// A PEM text that holds no usable key.
    #[error("invalid PEM key: {0}")]
    Pem(String),
    /// A JWK or JWK set that cannot be read.
    #[error("invalid JWK: {0}")]
    Jwk(String),
    /// A key of a type or curve this module does not support.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// The key cannot check this algorithm (an RSA key for ES256, ...).
    #[error("key cannot verify `{0}` signatures")]
    KeyMismatch(&'static str),
    /// No key verified the signature.
    #[error("signature not verified")]
    BadSignature,
}

/// A token whose signature a trusted key verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The algorithm that verified it.
    pub algorithm: Algorithm,
    /// The decoded JOSE header.
    pub header: serde_json::Map<String, serde_json::Value>,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
}

impl Verified {
    /// The payload read as JSON (the claims of a JWT).
    pub fn claims(&self) -> Result<serde_json::Value, JoseError> {
        serde_json::from_slice(&self.payload).map_err(|err| JoseError::Json {
            part: "payload",
            reason: err.to_string(),
        })
    }
}

/// Checks a compact JWS against `keys`, accepting only `allowed` algorithms.
pub fn verify_compact(
    token: &str,
    keys: &KeySet,
    allowed: &[Algorithm],
) -> Result<Verified, JoseError> {
    let jws = CompactJws::parse(token)?;
    let header = jws.header_json()?;
    let name = header
        .get("alg")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let algorithm =
        Algorithm::from_name(name).ok_or_else(|| JoseError::UnsupportedAlgorithm(name.into()))?;
    if !allowed.contains(&algorithm) {
        return Err(JoseError::AlgorithmNotAllowed(name.to_owned()));
    }

    let kid = header.get("kid").and_then(serde_json::Value::as_str);
    let signature = jws.signature()?;
    keys.verify(kid, algorithm, jws.signing_input(), &signature)?;

    Ok(Verified {
        algorithm,
        header,
        payload: jws.payload()?,
    })
}

#[cfg(test)]
mod tests;
