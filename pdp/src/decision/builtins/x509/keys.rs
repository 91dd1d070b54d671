//! The certificate's algorithms and public key as Go's `x509` package
//! reports them: `SignatureAlgorithm` and `PublicKeyAlgorithm` numbers, and
//! the key itself (RSA modulus and exponent, ECDSA curve and point,
//! Ed25519 bytes).

use der::{Decode as _, Encode as _};
use regorus::Value;

use super::{BuiltinError, Outcome, b64, big_uint, obj};

/// Go's `x509.SignatureAlgorithm` numbers.
pub(super) fn signature_algorithm(alg: &spki::AlgorithmIdentifierOwned) -> u64 {
    match alg.oid.to_string().as_str() {
        "1.2.840.113549.1.1.4" => 2,
        "1.2.840.113549.1.1.5" => 3,
        "1.2.840.113549.1.1.11" => 4,
        "1.2.840.113549.1.1.12" => 5,
        "1.2.840.113549.1.1.13" => 6,
        "1.2.840.10040.4.3" => 7,
        "2.16.840.1.101.3.4.3.2" => 8,
        "1.2.840.10045.4.1" => 9,
        "1.2.840.10045.4.3.2" => 10,
        "1.2.840.10045.4.3.3" => 11,
        "1.2.840.10045.4.3.4" => 12,
        "1.2.840.113549.1.1.10" => pss_variant(alg),
        "1.3.101.112" => 16,
        _ => 0,
    }
}

/// RSASSA-PSS is told apart by the hash in its parameters.
fn pss_variant(alg: &spki::AlgorithmIdentifierOwned) -> u64 {
    let params = alg
        .parameters
        .as_ref()
        .and_then(|p| p.to_der().ok())
        .unwrap_or_default();
    let has = |oid: &str| {
        der::asn1::ObjectIdentifier::new(oid)
            .ok()
            .and_then(|o| o.to_der().ok())
            .is_some_and(|enc| params.windows(enc.len()).any(|w| w == enc.as_slice()))
    };
    if has("2.16.840.1.101.3.4.2.3") {
        15
    } else if has("2.16.840.1.101.3.4.2.2") {
        14
    } else {
        13
    }
}

/// Go's `x509.PublicKeyAlgorithm` numbers.
pub(super) fn public_key_algorithm(spki: &spki::SubjectPublicKeyInfoOwned) -> u64 {
    match spki.algorithm.oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => 1,
        "1.2.840.10040.4.1" => 2,
        "1.2.840.10045.2.1" => 3,
        "1.3.101.112" => 4,
        _ => 0,
    }
}

pub(super) fn public_key(spki: &spki::SubjectPublicKeyInfoOwned) -> Outcome {
    let key = spki.subject_public_key.raw_bytes();
    match public_key_algorithm(spki) {
        1 => {
            let rsa = rsa::pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(key)
                .map_err(|err| BuiltinError::new(format!("x509: invalid RSA public key: {err}")))?;
            Ok(obj(vec![
                ("N", big_uint(rsa.modulus.as_bytes())?),
                ("E", big_uint(rsa.public_exponent.as_bytes())?),
            ]))
        }
        3 => {
            // An uncompressed point: 0x04 || X || Y.
            let coords = key
                .strip_prefix(&[0x04])
                .filter(|c| c.len() % 2 == 0)
                .ok_or_else(|| BuiltinError::new("x509: unsupported elliptic curve point"))?;
            let (x, y) = coords.split_at(coords.len() / 2);
            // Go's curve types have no exported fields.
            Ok(obj(vec![
                ("Curve", Value::new_object()),
                ("X", big_uint(x)?),
                ("Y", big_uint(y)?),
            ]))
        }
        4 => Ok(b64(key)),
        _ => Ok(Value::Null),
    }
}
