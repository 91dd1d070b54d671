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
use x509_cert::{
    Certificate,
    ext::pkix::{
        AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
        CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, SubjectAltName, SubjectKeyIdentifier,
        name::{DistributionPointName, GeneralName},
    },
};

use super::{BuiltinError, Outcome, string_arg};
use crate::jose::pem;

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

/// Go's `x509.SignatureAlgorithm` numbers.
fn signature_algorithm(alg: &spki::AlgorithmIdentifierOwned) -> u64 {
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
fn public_key_algorithm(spki: &spki::SubjectPublicKeyInfoOwned) -> u64 {
    match spki.algorithm.oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => 1,
        "1.2.840.10040.4.1" => 2,
        "1.2.840.10045.2.1" => 3,
        "1.3.101.112" => 4,
        _ => 0,
    }
}

fn public_key(spki: &spki::SubjectPublicKeyInfoOwned) -> Outcome {
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

/// What the extensions say, in the shape of Go's fields.
#[derive(Default)]
struct Extensions {
    raw: Vec<Value>,
    unhandled: Vec<Value>,
    key_usage: u64,
    ext_key_usage: Vec<Value>,
    unknown_ext_key_usage: Vec<Value>,
    basic_constraints_valid: bool,
    is_ca: bool,
    max_path_len: i64,
    max_path_len_zero: bool,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    ocsp: Vec<String>,
    issuers: Vec<String>,
    dns: Vec<String>,
    emails: Vec<String>,
    ips: Vec<String>,
    uris: Vec<String>,
    crl: Vec<String>,
    policy_ids: Vec<Value>,
    policies: Vec<String>,
}

/// Extensions Go's parser understands; other critical ones are listed as
/// unhandled.
const HANDLED: &[&str] = &[
    "2.5.29.14",
    "2.5.29.15",
    "2.5.29.17",
    "2.5.29.19",
    "2.5.29.30",
    "2.5.29.31",
    "2.5.29.32",
    "2.5.29.35",
    "2.5.29.36",
    "2.5.29.37",
    "2.5.29.54",
    "1.3.6.1.5.5.7.1.1",
];

impl Extensions {
    fn read(extensions: &[x509_cert::ext::Extension]) -> Result<Self, BuiltinError> {
        let mut out = Self::default();
        for ext in extensions {
            out.raw.push(obj(vec![
                ("Id", oid_arcs(&ext.extn_id)),
                ("Critical", Value::Bool(ext.critical)),
                ("Value", b64(ext.extn_value.as_bytes())),
            ]));
            let id = ext.extn_id.to_string();
            if ext.critical && !HANDLED.contains(&id.as_str()) {
                out.unhandled.push(oid_arcs(&ext.extn_id));
            }
            out.apply(&id, ext.extn_value.as_bytes()).map_err(der_err)?;
        }
        Ok(out)
    }

    fn apply(&mut self, id: &str, value: &[u8]) -> der::Result<()> {
        match id {
            "2.5.29.15" => {
                let usage = KeyUsage::from_der(value)?;
                self.key_usage = u64::from(usage.0.bits());
                // x509-cert numbers bits as DER does; Go does too.
            }
            "2.5.29.19" => {
                let bc = BasicConstraints::from_der(value)?;
                self.basic_constraints_valid = true;
                self.is_ca = bc.ca;
                match bc.path_len_constraint {
                    Some(len) => {
                        self.max_path_len = i64::from(len);
                        self.max_path_len_zero = len == 0;
                    }
                    None => self.max_path_len = -1,
                }
            }
            "2.5.29.14" => {
                let ski = SubjectKeyIdentifier::from_der(value)?;
                self.subject_key_id = Some(ski.0.as_bytes().to_vec());
            }
            "2.5.29.35" => {
                let aki = AuthorityKeyIdentifier::from_der(value)?;
                self.authority_key_id = aki.key_identifier.map(|k| k.as_bytes().to_vec());
            }
            "2.5.29.37" => {
                for oid in ExtendedKeyUsage::from_der(value)?.0 {
                    match ext_key_usage(&oid.to_string()) {
                        Some(n) => self.ext_key_usage.push(Value::from(n)),
                        None => self.unknown_ext_key_usage.push(oid_arcs(&oid)),
                    }
                }
            }
            "2.5.29.17" => {
                for general in SubjectAltName::from_der(value)?.0 {
                    match general {
                        GeneralName::DnsName(s) => self.dns.push(s.to_string()),
                        GeneralName::Rfc822Name(s) => self.emails.push(s.to_string()),
                        GeneralName::UniformResourceIdentifier(s) => self.uris.push(s.to_string()),
                        GeneralName::IpAddress(ip) => self.ips.push(ip_text(ip.as_bytes())),
                        _ => {}
                    }
                }
            }
            "1.3.6.1.5.5.7.1.1" => {
                for access in AuthorityInfoAccessSyntax::from_der(value)?.0 {
                    let GeneralName::UniformResourceIdentifier(uri) = access.access_location else {
                        continue;
                    };
                    match access.access_method.to_string().as_str() {
                        "1.3.6.1.5.5.7.48.1" => self.ocsp.push(uri.to_string()),
                        "1.3.6.1.5.5.7.48.2" => self.issuers.push(uri.to_string()),
                        _ => {}
                    }
                }
            }
            "2.5.29.31" => {
                for point in CrlDistributionPoints::from_der(value)?.0 {
                    if let Some(DistributionPointName::FullName(names)) = point.distribution_point {
                        for general in names {
                            if let GeneralName::UniformResourceIdentifier(uri) = general {
                                self.crl.push(uri.to_string());
                            }
                        }
                    }
                }
            }
            "2.5.29.32" => {
                for policy in CertificatePolicies::from_der(value)?.0 {
                    self.policy_ids.push(oid_arcs(&policy.policy_identifier));
                    self.policies.push(policy.policy_identifier.to_string());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Go's `x509.ExtKeyUsage` numbers.
fn ext_key_usage(oid: &str) -> Option<u64> {
    Some(match oid {
        "2.5.29.37.0" => 0,
        "1.3.6.1.5.5.7.3.1" => 1,
        "1.3.6.1.5.5.7.3.2" => 2,
        "1.3.6.1.5.5.7.3.3" => 3,
        "1.3.6.1.5.5.7.3.4" => 4,
        "1.3.6.1.5.5.7.3.5" => 5,
        "1.3.6.1.5.5.7.3.6" => 6,
        "1.3.6.1.5.5.7.3.7" => 7,
        "1.3.6.1.5.5.7.3.8" => 8,
        "1.3.6.1.5.5.7.3.9" => 9,
        "1.3.6.1.4.1.311.10.3.3" => 10,
        "2.16.840.1.113730.4.1" => 11,
        "1.3.6.1.4.1.311.2.1.22" => 12,
        "1.3.6.1.4.1.311.61.1.1" => 13,
        _ => return None,
    })
}

/// Go's `net.IP.String()`: IPv4 (also IPv4-mapped IPv6) in dotted form.
fn ip_text(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return std::net::Ipv4Addr::from(v4).to_string();
    }
    if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        let v6 = std::net::Ipv6Addr::from(v6);
        return match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        };
    }
    format!("?{}", hex::encode(bytes))
}

/// Go's `url.URL` for an absolute URI from a certificate, field by field.
fn go_url(uri: &str) -> Value {
    let (before_fragment, fragment) = uri.split_once('#').unwrap_or((uri, ""));
    let (before_query, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let (scheme, rest) = match before_query.split_once(':') {
        Some((s, r))
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (s.to_ascii_lowercase(), r)
        }
        _ => (String::new(), before_query),
    };
    let mut opaque = String::new();
    let mut host = String::new();
    let mut user = Value::Null;
    let mut path = String::new();
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        path = after[end..].to_owned();
        host = match authority.rsplit_once('@') {
            Some((_, h)) => {
                // Go's Userinfo has no exported fields.
                user = Value::new_object();
                h.to_owned()
            }
            None => authority.to_owned(),
        };
    } else if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest.to_owned();
    } else {
        path = rest.to_owned();
    }
    let decoded_path = percent_encoding::percent_decode_str(&path)
        .decode_utf8_lossy()
        .into_owned();
    let raw_path = if decoded_path == path {
        String::new()
    } else {
        path
    };
    obj(vec![
        ("Scheme", Value::from(scheme)),
        ("Opaque", Value::from(opaque)),
        ("User", user),
        ("Host", Value::from(host)),
        ("Path", Value::from(decoded_path)),
        ("RawPath", Value::from(raw_path)),
        ("OmitHost", Value::Bool(false)),
        ("ForceQuery", Value::Bool(query == Some(""))),
        ("RawQuery", Value::from(query.unwrap_or_default())),
        ("Fragment", Value::from(fragment)),
        ("RawFragment", Value::from("")),
    ])
}
