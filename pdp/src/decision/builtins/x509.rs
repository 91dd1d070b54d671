//! `crypto.x509.parse_certificates`: PEM or base64 DER certificates, as the
//! objects OPA returns, which are Go's `x509.Certificate` marshalled to JSON
//! (field names, enum numbers, `null` for absent lists, base64 for bytes)
//! plus `URIStrings`.
//!
//! Covered: names, validity, serial, keys (RSA, ECDSA, Ed25519), every raw
//! field, extensions, key usages, basic constraints, key identifiers,
//! subject alternative names, AIA, CRL distribution points and policy
//! identifiers. Name constraints and policy constraints are not decoded:
//! their fields stay at Go's zero values (`null`, `0`, `false`), and their
//! extensions still appear, raw, under `Extensions`.

use base64::Engine as _;
use der::{Decode as _, Encode as _, Tagged as _};
use regorus::Value;
use x509_cert::Certificate;

mod extensions;
mod keys;

use super::{BuiltinError, Outcome, string_arg};
use crate::jose::pem;

use self::{
    extensions::{Extensions, go_url},
    keys::{public_key, public_key_algorithm, signature_algorithm},
};

/// `crypto.x509.parse_certificates(certs)`.
pub(super) fn parse_certificates(args: &[Value]) -> Outcome {
    let input = string_arg(args, 0)?;
    let ders = certificate_ders(input)?;
    let mut out = Vec::with_capacity(ders.len());
    for der in ders {
        out.push(certificate(&der)?);
    }
    Ok(Value::from(out))
}

/// PEM text, or base64 of DER (or of PEM), as OPA accepts them.
fn certificate_ders(input: &str) -> Result<Vec<Vec<u8>>, BuiltinError> {
    let pem_bytes = if input.starts_with("-----BEGIN") {
        input.as_bytes().to_vec()
    } else {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(input)
            .map_err(|err| BuiltinError::new(format!("illegal base64 data: {err}")))?;
        if !decoded.starts_with(b"-----BEGIN") {
            return split_der(&decoded);
        }
        decoded
    };

    let text = String::from_utf8_lossy(&pem_bytes).into_owned();
    let mut rest = text.as_str();
    let mut concatenated = Vec::new();
    while let Some((block, after)) = pem::decode(rest) {
        if block.label != "CERTIFICATE" {
            return Err(BuiltinError::new(format!(
                "PEM block type is '{}', expected CERTIFICATE",
                block.label
            )));
        }
        concatenated.extend(block.bytes);
        rest = after;
    }
    split_der(&concatenated)
}

/// Splits concatenated DER certificates (Go's `x509.ParseCertificates`).
fn split_der(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, BuiltinError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = tlv_len(bytes).ok_or_else(|| BuiltinError::new("x509: malformed certificate"))?;
        let (one, rest) = bytes.split_at(len);
        out.push(one.to_vec());
        bytes = rest;
    }
    Ok(out)
}

/// The total length (header and content) of the DER element at the start.
fn tlv_len(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    let (header, content) = if first & 0x80 == 0 {
        (2, usize::from(first))
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in bytes.get(2..2 + count)? {
            len = (len << 8) | usize::from(*b);
        }
        (2 + count, len)
    };
    let total = header.checked_add(content)?;
    (total <= bytes.len()).then_some(total)
}

/// The content of the DER element at the start (for `RawTBSCertificate`).
fn first_inner(bytes: &[u8]) -> Option<&[u8]> {
    let first = *bytes.get(1)?;
    let header = if first & 0x80 == 0 {
        2
    } else {
        2 + usize::from(first & 0x7f)
    };
    let inner = bytes.get(header..)?;
    inner.get(..tlv_len(inner)?)
}

fn b64(bytes: &[u8]) -> Value {
    Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn obj(fields: Vec<(&str, Value)>) -> Value {
    let mut map = regorus::value::Object::new();
    for (key, value) in fields {
        map.insert(Value::from(key), value);
    }
    map.into_value()
}

fn strings_or_null(items: Vec<String>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::from(items.into_iter().map(Value::from).collect::<Vec<_>>())
    }
}

fn values_or_null(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::from(items)
    }
}

fn oid_arcs(oid: &der::asn1::ObjectIdentifier) -> Value {
    Value::from(
        oid.arcs()
            .map(|arc| Value::from(u64::from(arc)))
            .collect::<Vec<_>>(),
    )
}

fn der_err(err: der::Error) -> BuiltinError {
    BuiltinError::new(format!("x509: {err}"))
}

/// Unsigned big-endian bytes as a decimal number value.
fn big_uint(bytes: &[u8]) -> Result<Value, BuiltinError> {
    let mut limbs: Vec<u32> = Vec::new(); // base 1e9, least significant first
    for byte in bytes {
        let mut carry = u64::from(*byte);
        for limb in &mut limbs {
            let v = u64::from(*limb) * 256 + carry;
            *limb = (v % 1_000_000_000) as u32;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push((carry % 1_000_000_000) as u32);
            carry /= 1_000_000_000;
        }
    }
    let mut text = limbs.last().map_or_else(|| "0".to_owned(), u32::to_string);
    for limb in limbs.iter().rev().skip(1) {
        text.push_str(&format!("{limb:09}"));
    }
    Value::from_numeric_string(&text).map_err(|err| BuiltinError::new(err.to_string()))
}

/// A two's complement big-endian integer (serial numbers) as a number.
fn big_int(bytes: &[u8]) -> Result<Value, BuiltinError> {
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        // Negative serials are rare and refused by Go since 1.23.
        return Err(BuiltinError::new("x509: negative serial number"));
    }
    big_uint(bytes)
}

fn time_text(time: &x509_cert::time::Time) -> Value {
    let secs = time.to_unix_duration().as_secs();
    let text = i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    Value::from(text)
}

fn certificate(der: &[u8]) -> Outcome {
    let cert = Certificate::from_der(der).map_err(der_err)?;
    let tbs = cert.tbs_certificate();
    let spki = tbs.subject_public_key_info();
    let mut ext = Extensions::read(tbs.extensions().map_or(&[][..], |e| e.as_slice()))?;

    let fields = vec![
        ("Raw", b64(der)),
        (
            "RawTBSCertificate",
            b64(first_inner(der).unwrap_or_default()),
        ),
        (
            "RawSubjectPublicKeyInfo",
            b64(&spki.to_der().map_err(der_err)?),
        ),
        ("RawSubject", b64(&tbs.subject().to_der().map_err(der_err)?)),
        ("RawIssuer", b64(&tbs.issuer().to_der().map_err(der_err)?)),
        ("Signature", b64(cert.signature().raw_bytes())),
        (
            "SignatureAlgorithm",
            Value::from(signature_algorithm(cert.signature_algorithm())),
        ),
        (
            "PublicKeyAlgorithm",
            Value::from(public_key_algorithm(spki)),
        ),
        ("PublicKey", public_key(spki)?),
        ("Version", Value::from(tbs.version() as u64 + 1)),
        ("SerialNumber", big_int(tbs.serial_number().as_bytes())?),
        ("Issuer", name(tbs.issuer())),
        ("Subject", name(tbs.subject())),
        ("NotBefore", time_text(&tbs.validity().not_before)),
        ("NotAfter", time_text(&tbs.validity().not_after)),
        ("KeyUsage", Value::from(ext.key_usage)),
        ("Extensions", values_or_null(std::mem::take(&mut ext.raw))),
        ("ExtraExtensions", Value::Null),
        (
            "UnhandledCriticalExtensions",
            values_or_null(std::mem::take(&mut ext.unhandled)),
        ),
        (
            "ExtKeyUsage",
            values_or_null(std::mem::take(&mut ext.ext_key_usage)),
        ),
        (
            "UnknownExtKeyUsage",
            values_or_null(std::mem::take(&mut ext.unknown_ext_key_usage)),
        ),
        (
            "BasicConstraintsValid",
            Value::Bool(ext.basic_constraints_valid),
        ),
        ("IsCA", Value::Bool(ext.is_ca)),
        ("MaxPathLen", Value::from(ext.max_path_len)),
        ("MaxPathLenZero", Value::Bool(ext.max_path_len_zero)),
        (
            "SubjectKeyId",
            ext.subject_key_id.take().map_or(Value::Null, |k| b64(&k)),
        ),
        (
            "AuthorityKeyId",
            ext.authority_key_id.take().map_or(Value::Null, |k| b64(&k)),
        ),
        ("OCSPServer", strings_or_null(std::mem::take(&mut ext.ocsp))),
        (
            "IssuingCertificateURL",
            strings_or_null(std::mem::take(&mut ext.issuers)),
        ),
        ("DNSNames", strings_or_null(std::mem::take(&mut ext.dns))),
        (
            "EmailAddresses",
            strings_or_null(std::mem::take(&mut ext.emails)),
        ),
        ("IPAddresses", strings_or_null(std::mem::take(&mut ext.ips))),
        (
            "URIs",
            values_or_null(ext.uris.iter().map(|u| go_url(u)).collect()),
        ),
        ("URIStrings", strings_or_null(std::mem::take(&mut ext.uris))),
        ("PermittedDNSDomainsCritical", Value::Bool(false)),
        ("PermittedDNSDomains", Value::Null),
        ("ExcludedDNSDomains", Value::Null),
        ("PermittedIPRanges", Value::Null),
        ("ExcludedIPRanges", Value::Null),
        ("PermittedEmailAddresses", Value::Null),
        ("ExcludedEmailAddresses", Value::Null),
        ("PermittedURIDomains", Value::Null),
        ("ExcludedURIDomains", Value::Null),
        (
            "CRLDistributionPoints",
            strings_or_null(std::mem::take(&mut ext.crl)),
        ),
        (
            "PolicyIdentifiers",
            values_or_null(std::mem::take(&mut ext.policy_ids)),
        ),
        (
            "Policies",
            strings_or_null(std::mem::take(&mut ext.policies)),
        ),
        ("InhibitAnyPolicy", Value::from(0u64)),
        ("InhibitAnyPolicyZero", Value::Bool(false)),
        ("InhibitPolicyMapping", Value::from(0u64)),
        ("InhibitPolicyMappingZero", Value::Bool(false)),
        ("RequireExplicitPolicy", Value::from(0u64)),
        ("RequireExplicitPolicyZero", Value::Bool(false)),
        ("PolicyMappings", Value::Null),
    ];
    Ok(obj(fields))
}

/// Go's `pkix.Name`.
fn name(name: &x509_cert::name::Name) -> Value {
    let mut fields: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let mut common_name = String::new();
    let mut serial = String::new();
    let mut names = Vec::new();
    for attr in name.iter() {
        let text = attribute_text(&attr.value);
        names.push(obj(vec![
            ("Type", oid_arcs(&attr.oid)),
            ("Value", Value::from(text.clone())),
        ]));
        let key = match attr.oid.to_string().as_str() {
            "2.5.4.6" => "Country",
            "2.5.4.10" => "Organization",
            "2.5.4.11" => "OrganizationalUnit",
            "2.5.4.7" => "Locality",
            "2.5.4.8" => "Province",
            "2.5.4.9" => "StreetAddress",
            "2.5.4.17" => "PostalCode",
            "2.5.4.3" => {
                common_name = text;
                continue;
            }
            "2.5.4.5" => {
                serial = text;
                continue;
            }
            _ => continue,
        };
        fields.entry(key).or_default().push(text);
    }

    let mut out = vec![
        ("CommonName", Value::from(common_name)),
        ("SerialNumber", Value::from(serial)),
        ("Names", values_or_null(names)),
        ("ExtraNames", Value::Null),
    ];
    for key in [
        "Country",
        "Organization",
        "OrganizationalUnit",
        "Locality",
        "Province",
        "StreetAddress",
        "PostalCode",
    ] {
        out.push((key, strings_or_null(fields.remove(key).unwrap_or_default())));
    }
    obj(out)
}

/// A directory string attribute as text.
fn attribute_text(value: &der::Any) -> String {
    let bytes = value.value();
    match value.tag() {
        der::Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}
