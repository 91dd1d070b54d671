//! Bundle signatures, verified as OPA verifies them.
//!
//! A signed bundle carries `.signatures.json`: `{"signatures": ["<JWT>"]}`
//! with exactly one compact JWS. Its payload lists every file of the bundle
//! as `{name, hash, algorithm}`, plus an optional `scope`. A bundle passes
//! when all of these hold:
//!
//! - the JWT verifies under the key chosen by, in order, the source's
//!   `signing.keyid`, the JWT header's `kid`, the payload's deprecated
//!   `keyid`; with that key's configured algorithm (RS256, ES256, HS256);
//! - the payload's `scope` equals the source's `signing.scope`, or else the
//!   key's `scope` (both unset: the payload must have none);
//! - every file of the bundle, other than `.signatures.json` and the files
//!   matching `signing.exclude_files`, is listed, and its hash matches;
//!   `data.json`, `data.yaml`, `.manifest` and `.signatures.json` are hashed
//!   in their canonical form (see [`super::canonical`]), others as bytes;
//! - no listed file is missing from the bundle.
//!
//! With verification on, an unsigned bundle is refused. With it off, a
//! bundle that carries `.signatures.json` is refused too, as OPA refuses it:
//! a signature nobody checks would give false confidence. Hidden entries of
//! a folder (such as `.git`) are not part of the bundle and so not listed.

use std::collections::BTreeMap;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512, Sha512_224, Sha512_256};

use super::{BundleFile, BundleFiles, canonical};
use crate::{
    config::{SigningConfig, SigningKeyConfig},
    jose::{Algorithm, Key, KeySet, verify_compact},
};

/// The signatures file's name.
pub const SIGNATURES_FILE: &str = ".signatures.json";

/// Why a bundle's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Verification is on and the bundle has no signature.
    #[error("bundle missing `.signatures.json` file")]
    Unsigned,
    /// Verification is off and the bundle carries a signature.
    #[error("bundle is signed but this source has no verification key configured")]
    NotExpected,
    /// `.signatures.json` is not what it must be.
    #[error("invalid `.signatures.json`: {0}")]
    Malformed(String),
    /// No key id in the config, the JWT header or the payload.
    #[error("verification key id is empty: set `signing.keyid` or sign with a `kid`")]
    NoKeyId,
    /// The key id names no configured key.
    #[error("verification key `{0}` is not configured")]
    UnknownKey(String),
    /// The JWT does not verify under the key.
    #[error("signature does not verify with key `{key}`: {reason}")]
    BadSignature {
        /// The key id.
        key: String,
        /// Why.
        reason: String,
    },
    /// The payload's scope is not the expected one.
    #[error("scope mismatch: the signature has `{found}`, `{expected}` is required")]
    Scope {
        /// Expected scope.
        expected: String,
        /// The payload's.
        found: String,
    },
    /// A file is not listed in the signature.
    #[error("file `{0}` not included in bundle signature")]
    NotListed(String),
    /// A listed file has a different hash.
    #[error("`{0}`: digest mismatch")]
    Digest(String),
    /// A listed file's hash algorithm is unknown or missing.
    #[error("`{path}`: unsupported hashing algorithm `{algorithm}`")]
    HashAlgorithm {
        /// The file.
        path: String,
        /// The algorithm named.
        algorithm: String,
    },
    /// A structured file does not parse, so it cannot be hashed.
    #[error("`{path}` cannot be hashed: {reason}")]
    Unparsable {
        /// The file.
        path: String,
        /// The parser's message.
        reason: String,
    },
    /// Files listed but absent.
    #[error("file(s) {0:?} specified in bundle signatures but not found in the target bundle")]
    Missing(Vec<String>),
}

/// A configured key, ready to verify.
#[derive(Debug, Clone)]
struct VerifyKey {
    algorithm: Algorithm,
    keys: KeySet,
    scope: String,
}

/// How one source verifies its bundles.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: BTreeMap<String, VerifyKey>,
    keyid: Option<String>,
    scope: Option<String>,
    exclude: Vec<globset::GlobMatcher>,
}

/// Why a verifier could not be built from the config.
#[derive(Debug, thiserror::Error)]
#[error("signing key `{name}`: {reason}")]
pub struct KeyError {
    /// The key's name under `[keys]`.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

impl Verifier {
    /// Reads the configured keys (PEM public keys, certificates or JWKs for
    /// RS256 and ES256; the secret for HS256).
    pub fn new(
        signing: &SigningConfig,
        keys: &BTreeMap<String, SigningKeyConfig>,
    ) -> Result<Self, KeyError> {
        let mut ready = BTreeMap::new();
        for (name, config) in keys {
            let error = |reason: String| KeyError {
                name: name.clone(),
                reason,
            };
            let algorithm = Algorithm::from_name(&config.algorithm)
                .filter(|a| matches!(a, Algorithm::RS256 | Algorithm::ES256 | Algorithm::HS256))
                .ok_or_else(|| error(format!("unsupported algorithm `{}`", config.algorithm)))?;
            let material = config.key.read().map_err(|e| error(e.to_string()))?;
            let keys = if algorithm == Algorithm::HS256 {
                KeySet::from_keys([Key::Secret(material)])
            } else {
                let text = String::from_utf8(material)
                    .map_err(|_| error("the key is not UTF-8 text".to_owned()))?;
                KeySet::parse(&text).map_err(|e| error(e.to_string()))?
            };
            let scope = config.scope.clone().unwrap_or_default();
            ready.insert(
                name.clone(),
                VerifyKey {
                    algorithm,
                    keys,
                    scope,
                },
            );
        }

        let mut exclude = Vec::new();
        for pattern in &signing.exclude_files {
            let glob = globset::GlobBuilder::new(pattern.trim_start_matches('/'))
                .literal_separator(true)
                .build()
                .map_err(|err| KeyError {
                    name: "exclude_files".to_owned(),
                    reason: format!("pattern `{pattern}`: {err}"),
                })?;
            exclude.push(glob.compile_matcher());
        }
        Ok(Self {
            keys: ready,
            keyid: signing.keyid.clone(),
            scope: signing.scope.clone(),
            exclude,
        })
    }

    /// Verifies `files` (which must hold every file of the bundle).
    pub fn verify(&self, files: &BundleFiles) -> Result<(), SignatureError> {
        let signatures = files
            .iter()
            .find(|f| f.path == SIGNATURES_FILE)
            .ok_or(SignatureError::Unsigned)?;
        let mut listed = self.verified_file_list(&signatures.bytes)?;

        for file in files.iter().filter(|f| f.path != SIGNATURES_FILE) {
            if self.exclude.iter().any(|g| g.is_match(&file.path)) {
                listed.remove(&file.path);
                continue;
            }
            let entry = listed
                .remove(&file.path)
                .ok_or_else(|| SignatureError::NotListed(file.path.clone()))?;
            check_hash(file, &entry)?;
        }
        if !listed.is_empty() {
            return Err(SignatureError::Missing(listed.into_keys().collect()));
        }
        Ok(())
    }

    /// Checks the JWT and its scope; returns the files it lists.
    fn verified_file_list(
        &self,
        signatures: &[u8],
    ) -> Result<BTreeMap<String, ListedFile>, SignatureError> {
        let malformed = |reason: String| SignatureError::Malformed(reason);
        let parsed: SignaturesFile =
            serde_json::from_slice(signatures).map_err(|e| malformed(e.to_string()))?;
        let token = match parsed.signatures.as_slice() {
            [] => return Err(malformed("missing JWT (expected exactly one)".to_owned())),
            [one] => one,
            _ => return Err(malformed("multiple JWTs not supported".to_owned())),
        };

        // Read the claims before verifying, to find the key, as OPA does.
        let jws = crate::jose::CompactJws::parse(token).map_err(|e| malformed(e.to_string()))?;
        let header = jws.header_json().map_err(|e| malformed(e.to_string()))?;
        let payload: Payload = jws
            .payload()
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| malformed("the JWT payload is not a file list".to_owned()))?;
        let keyid = self
            .keyid
            .clone()
            .or_else(|| {
                header
                    .get("kid")
                    .and_then(|k| k.as_str())
                    .map(str::to_owned)
            })
            .or_else(|| payload.keyid.clone())
            .filter(|k| !k.is_empty())
            .ok_or(SignatureError::NoKeyId)?;
        let key = self
            .keys
            .get(&keyid)
            .ok_or_else(|| SignatureError::UnknownKey(keyid.clone()))?;

        verify_compact(token, &key.keys, &[key.algorithm]).map_err(|err| {
            SignatureError::BadSignature {
                key: keyid.clone(),
                reason: err.to_string(),
            }
        })?;

        let expected = self.scope.clone().unwrap_or_else(|| key.scope.clone());
        let found = payload.scope.clone().unwrap_or_default();
        if found != expected {
            return Err(SignatureError::Scope { expected, found });
        }
        Ok(payload
            .files
            .into_iter()
            .map(|f| (f.name.trim_start_matches('/').to_owned(), f))
            .collect())
    }
}

/// Without verification, a signed bundle is refused.
pub fn refuse_signed(files: &BundleFiles) -> Result<(), SignatureError> {
    if files.iter().any(|f| f.path == SIGNATURES_FILE) {
        return Err(SignatureError::NotExpected);
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct SignaturesFile {
    #[serde(default)]
    signatures: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Payload {
    #[serde(default)]
    files: Vec<ListedFile>,
    #[serde(default)]
    keyid: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct ListedFile {
    name: String,
    #[serde(default)]
    hash: String,
    #[serde(default)]
    algorithm: String,
}

fn check_hash(file: &BundleFile, listed: &ListedFile) -> Result<(), SignatureError> {
    let name = file.path.rsplit('/').next().unwrap_or(&file.path);
    let unparsable = |reason: String| SignatureError::Unparsable {
        path: file.path.clone(),
        reason,
    };
    let canonical;
    let content: &[u8] = if matches!(name, "data.json" | ".manifest" | ".signatures.json") {
        let text = std::str::from_utf8(&file.bytes).map_err(|_| unparsable("not UTF-8".into()))?;
        canonical = canonical::canonical_json(text).map_err(unparsable)?;
        canonical.as_bytes()
    } else if name == "data.yaml" {
        let text = std::str::from_utf8(&file.bytes).map_err(|_| unparsable("not UTF-8".into()))?;
        canonical = canonical::canonical_yaml(text).map_err(unparsable)?;
        canonical.as_bytes()
    } else {
        &file.bytes
    };

    let digest = hash(&listed.algorithm, content).ok_or_else(|| SignatureError::HashAlgorithm {
        path: file.path.clone(),
        algorithm: listed.algorithm.clone(),
    })?;
    let expected = hex::decode(&listed.hash).unwrap_or_default();
    if digest != expected {
        return Err(SignatureError::Digest(file.path.clone()));
    }
    Ok(())
}

/// The digest of `content` under one of OPA's hashing algorithms.
fn hash(algorithm: &str, content: &[u8]) -> Option<Vec<u8>> {
    Some(match algorithm {
        "MD5" => Md5::digest(content).to_vec(),
        "SHA-1" => Sha1::digest(content).to_vec(),
        "SHA-224" => Sha224::digest(content).to_vec(),
        "SHA-256" => Sha256::digest(content).to_vec(),
        "SHA-384" => Sha384::digest(content).to_vec(),
        "SHA-512" => Sha512::digest(content).to_vec(),
        "SHA-512-224" => Sha512_224::digest(content).to_vec(),
        "SHA-512-256" => Sha512_256::digest(content).to_vec(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
