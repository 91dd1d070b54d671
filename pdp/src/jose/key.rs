//! Verification keys: RSA and ECDSA public keys and HMAC secrets, read from
//! PEM (a certificate or a SubjectPublicKeyInfo) or from JWK, and grouped in
//! key sets that carry each key's `kid` and `alg`.

use der::{Decode as _, Encode as _};
use rsa::{BoxedUint, Pkcs1v15Sign, PublicKey as RsaPublicKey, pss::Pss};
use serde_json::Value as Json;
use spki::{DecodePublicKey as _, ObjectIdentifier, SubjectPublicKeyInfoRef};

use super::{
    Algorithm, JoseError,
    algorithm::{Family, Hash},
    compact::decode_base64url,
    pem,
};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256_CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384_CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521_CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// One key that can verify signatures.
#[derive(Clone, PartialEq)]
pub enum Key {
    /// An RSA public key (RS* and PS*).
    Rsa(RsaPublicKey),
    /// A P-256 public key.
    P256(p256::ecdsa::VerifyingKey),
    /// A P-384 public key.
    P384(p384::ecdsa::VerifyingKey),
    /// A P-521 public key.
    P521(p521::ecdsa::VerifyingKey),
    /// An HMAC secret (HS*).
    Secret(Vec<u8>),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A secret never reaches a log through `Debug`.
        f.write_str(match self {
            Self::Rsa(_) => "Key::Rsa",
            Self::P256(_) => "Key::P256",
            Self::P384(_) => "Key::P384",
            Self::P521(_) => "Key::P521",
            Self::Secret(_) => "Key::Secret(<redacted>)",
        })
    }
}

impl Key {
    /// Reads one PEM block: a `CERTIFICATE` (its public key is used) or a
    /// `PUBLIC KEY`. Text after the block is refused, as OPA refuses it.
    pub fn from_pem(text: &str) -> Result<Self, JoseError> {
        let (block, rest) =
            pem::decode(text).ok_or_else(|| JoseError::Pem("no PEM block found".into()))?;
        if !rest.is_empty() {
            return Err(JoseError::Pem(
                "extra data after a PEM certificate block".into(),
            ));
        }
        match block.label.as_str() {
            "CERTIFICATE" => Self::from_certificate_der(&block.bytes),
            "PUBLIC KEY" => Self::from_spki_der(&block.bytes),
            other => Err(JoseError::Pem(format!(
                "a `{other}` block holds no public key to use"
            ))),
        }
    }

    /// The public key of a DER X.509 certificate.
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, JoseError> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|err| JoseError::Pem(format!("failed to parse a certificate: {err}")))?;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|err| JoseError::Pem(err.to_string()))?;
        Self::from_spki_der(&spki)
    }

    /// A DER SubjectPublicKeyInfo holding an RSA or NIST-curve EC key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, JoseError> {
        let info = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|err| JoseError::Pem(format!("failed to parse a public key: {err}")))?;
        let bad = |err: &dyn std::fmt::Display| JoseError::Pem(err.to_string());

        if info.algorithm.oid == RSA_ENCRYPTION {
            return RsaPublicKey::from_public_key_der(der)
                .map(Self::Rsa)
                .map_err(|e| bad(&e));
        }
        if info.algorithm.oid != EC_PUBLIC_KEY {
            return Err(JoseError::UnsupportedKey(format!(
                "key algorithm {}",
                info.algorithm.oid
            )));
        }
        match info.algorithm.parameters_oid().ok() {
            Some(P256_CURVE) => p256::ecdsa::VerifyingKey::from_public_key_der(der)
                .map(Self::P256)
                .map_err(|e| bad(&e)),
            Some(P384_CURVE) => p384::ecdsa::VerifyingKey::from_public_key_der(der)
                .map(Self::P384)
                .map_err(|e| bad(&e)),
            Some(P521_CURVE) => p521::ecdsa::VerifyingKey::from_public_key_der(der)
                .map(Self::P521)
                .map_err(|e| bad(&e)),
            other => Err(JoseError::UnsupportedKey(format!("curve {other:?}"))),
        }
    }

    /// Reads one JWK object (`kty` `RSA`, `EC` or `oct`).
    pub fn from_jwk(jwk: &Json) -> Result<Self, JoseError> {
        let field = |name: &str| -> Result<Vec<u8>, JoseError> {
            let text = jwk
                .get(name)
                .and_then(Json::as_str)
                .ok_or_else(|| JoseError::Jwk(format!("missing `{name}`")))?;
            decode_base64url(text)
                .ok_or_else(|| JoseError::Jwk(format!("`{name}` is not base64url")))
        };
        match jwk.get("kty").and_then(Json::as_str) {
            Some("RSA") => {
                let n = BoxedUint::from_be_slice_vartime(&field("n")?);
                let e = BoxedUint::from_be_slice_vartime(&field("e")?);
                RsaPublicKey::new(n, e)
                    .map(Self::Rsa)
                    .map_err(|err| JoseError::Jwk(format!("bad RSA key: {err}")))
            }
            Some("EC") => {
                let crv = jwk.get("crv").and_then(Json::as_str).unwrap_or_default();
                let size = match crv {
                    "P-256" => 32,
                    "P-384" => 48,
                    "P-521" => 66,
                    other => return Err(JoseError::UnsupportedKey(format!("curve `{other}`"))),
                };
                let mut point = vec![0x04];
                point.extend(left_pad(&field("x")?, size)?);
                point.extend(left_pad(&field("y")?, size)?);
                let bad = |_| JoseError::Jwk(format!("bad {crv} point"));
                match crv {
                    "P-256" => p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map(Self::P256)
                        .map_err(bad),
                    "P-384" => p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map(Self::P384)
                        .map_err(bad),
                    _ => p521::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map(Self::P521)
                        .map_err(bad),
                }
            }
            Some("oct") => Ok(Self::Secret(field("k")?)),
            Some(other) => Err(JoseError::UnsupportedKey(format!("key type `{other}`"))),
            None => Err(JoseError::Jwk("missing `kty`".into())),
        }
    }

    /// The size in bytes of one ECDSA signature half, for EC keys.
    pub fn ecdsa_scalar_size(&self) -> Option<usize> {
        match self {
            Self::P256(_) => Some(32),
            Self::P384(_) => Some(48),
            Self::P521(_) => Some(66),
            Self::Rsa(_) | Self::Secret(_) => None,
        }
    }

    /// Checks `signature` over `signing_input` with algorithm `alg`.
    pub fn verify(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JoseError> {
        let hash = alg.hash();
        let verified = match (alg.family(), self) {
            (Family::Hmac, Self::Secret(secret)) => {
                hmac_matches(hash, secret, signing_input, signature)
            }
            (Family::RsaPkcs1, Self::Rsa(key)) => {
                let scheme = match hash {
                    Hash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
                    Hash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
                    Hash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                key.verify(scheme, &hash.digest(signing_input), signature)
                    .is_ok()
            }
            (Family::RsaPss, Self::Rsa(key)) => {
                let digest = hash.digest(signing_input);
                // Salt length detected from the signature, as Go's VerifyPSS does.
                let result = match hash {
                    Hash::Sha256 => key.verify(auto_salt::<sha2::Sha256>(), &digest, signature),
                    Hash::Sha384 => key.verify(auto_salt::<sha2::Sha384>(), &digest, signature),
                    Hash::Sha512 => key.verify(auto_salt::<sha2::Sha512>(), &digest, signature),
                };
                result.is_ok()
            }
            (Family::Ecdsa, Self::P256(key)) => {
                ecdsa_matches!(p256, key, hash, signing_input, signature)
            }
            (Family::Ecdsa, Self::P384(key)) => {
                ecdsa_matches!(p384, key, hash, signing_input, signature)
            }
            (Family::Ecdsa, Self::P521(key)) => {
                ecdsa_matches!(p521, key, hash, signing_input, signature)
            }
            _ => return Err(JoseError::KeyMismatch(alg.name())),
        };
        if verified {
            Ok(())
        } else {
            Err(JoseError::BadSignature)
        }
    }
}

fn auto_salt<D: sha2::Digest>() -> Pss<D> {
    Pss {
        blinded: false,
        digest: D::new(),
        salt_len: None,
    }
}

fn left_pad(bytes: &[u8], size: usize) -> Result<Vec<u8>, JoseError> {
    if bytes.len() > size {
        return Err(JoseError::Jwk("coordinate longer than the curve".into()));
    }
    let mut out = vec![0; size - bytes.len()];
    out.extend_from_slice(bytes);
    Ok(out)
}

fn hmac_matches(hash: Hash, secret: &[u8], data: &[u8], signature: &[u8]) -> bool {
    fn check<M: hmac::Mac + hmac::KeyInit>(secret: &[u8], data: &[u8], signature: &[u8]) -> bool {
        match <M as hmac::KeyInit>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(data);
                mac.verify_slice(signature).is_ok()
            }
            Err(_) => false,
        }
    }
    match hash {
        Hash::Sha256 => check::<hmac::Hmac<sha2::Sha256>>(secret, data, signature),
        Hash::Sha384 => check::<hmac::Hmac<sha2::Sha384>>(secret, data, signature),
        Hash::Sha512 => check::<hmac::Hmac<sha2::Sha512>>(secret, data, signature),
    }
}

/// ECDSA over the algorithm's digest with whatever curve the key is on
/// (OPA does not tie the curve to the algorithm either).
macro_rules! ecdsa_matches {
    ($curve:ident, $key:expr, $hash:expr, $data:expr, $signature:expr) => {{
        use ecdsa::signature::hazmat::PrehashVerifier as _;
        match $curve::ecdsa::Signature::from_slice($signature) {
            Ok(signature) => $key
                .verify_prehash(&$hash.digest($data), &signature)
                .is_ok(),
            Err(_) => false,
        }
    }};
}
use ecdsa_matches;

/// A key of a set, with the identifiers a JWK gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct SetKey {
    /// The key.
    pub key: Key,
    /// The JWK `kid`, when set.
    pub kid: Option<String>,
    /// The JWK `alg`, when set.
    pub alg: Option<String>,
}

/// Keys trusted together: one PEM key, or the keys of a JWK set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeySet {
    keys: Vec<SetKey>,
}

impl KeySet {
    /// A set of keys without identifiers.
    pub fn from_keys(keys: impl IntoIterator<Item = Key>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|key| SetKey {
                    key,
                    kid: None,
                    alg: None,
                })
                .collect(),
        }
    }

    /// Reads keys as OPA does: a PEM block if there is one, otherwise one
    /// JWK or a JWK set (`{"keys": [...]}`). JWKs whose `alg` is not a
    /// known JWS algorithm, or whose type is not supported, are skipped.
    pub fn parse(text: &str) -> Result<Self, JoseError> {
        if pem::decode(text).is_some() {
            return Ok(Self::from_keys([Key::from_pem(text)?]));
        }
        let json: Json = serde_json::from_str(text)
            .map_err(|err| JoseError::Jwk(format!("failed to parse a JWK key (set): {err}")))?;
        let entries = match json.get("keys") {
            Some(Json::Array(keys)) => keys.clone(),
            Some(_) => return Err(JoseError::Jwk("`keys` must be an array".into())),
            None => vec![json],
        };

        let mut keys = Vec::with_capacity(entries.len());
        for jwk in &entries {
            if !jwk.is_object() {
                return Err(JoseError::Jwk("a key must be an object".into()));
            }
            let alg = jwk.get("alg").and_then(Json::as_str).map(str::to_owned);
            if alg
                .as_deref()
                .is_some_and(|a| Algorithm::from_name(a).is_none())
            {
                continue;
            }
            let key = match Key::from_jwk(jwk) {
                Ok(key) => key,
                Err(JoseError::UnsupportedKey(_)) => continue,
                Err(err) => return Err(err),
            };
            let kid = jwk.get("kid").and_then(Json::as_str).map(str::to_owned);
            keys.push(SetKey { key, kid, alg });
        }
        Ok(Self { keys })
    }

    /// The keys, in order.
    pub fn keys(&self) -> &[SetKey] {
        &self.keys
    }

    /// The key whose `kid` is `kid`.
    pub fn by_kid(&self, kid: &str) -> Option<&SetKey> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// Verifies with the key named by `kid` if the set has it, otherwise
    /// with any key whose `alg` is unset or equal to `alg`.
    pub fn verify(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JoseError> {
        if let Some(key) = kid.filter(|k| !k.is_empty()).and_then(|k| self.by_kid(k)) {
            return key
                .key
                .verify(alg, signing_input, signature)
                .map_err(|_| JoseError::BadSignature);
        }
        let candidates = self
            .keys
            .iter()
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg.name()));
        for key in candidates {
            if key.key.verify(alg, signing_input, signature).is_ok() {
                return Ok(());
            }
        }
        Err(JoseError::BadSignature)
    }
}
