//! A certificate's extensions, read into the fields Go's
//! `x509.Certificate` gives them: key usages, basic constraints, key
//! identifiers, subject alternative names (with URIs as Go's `url.URL`),
//! authority information access, CRL distribution points and policies.

use der::Decode as _;
use regorus::Value;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, SubjectAltName, SubjectKeyIdentifier,
    name::{DistributionPointName, GeneralName},
};

use super::{BuiltinError, b64, der_err, obj, oid_arcs};

/// What the extensions say, in the shape of Go's fields.
#[derive(Default)]
pub(super) struct Extensions {
    pub(super) raw: Vec<Value>,
    pub(super) unhandled: Vec<Value>,
    pub(super) key_usage: u64,
    pub(super) ext_key_usage: Vec<Value>,
    pub(super) unknown_ext_key_usage: Vec<Value>,
    pub(super) basic_constraints_valid: bool,
    pub(super) is_ca: bool,
    pub(super) max_path_len: i64,
    pub(super) max_path_len_zero: bool,
    pub(super) subject_key_id: Option<Vec<u8>>,
    pub(super) authority_key_id: Option<Vec<u8>>,
    pub(super) ocsp: Vec<String>,
    pub(super) issuers: Vec<String>,
    pub(super) dns: Vec<String>,
    pub(super) emails: Vec<String>,
    pub(super) ips: Vec<String>,
    pub(super) uris: Vec<String>,
    pub(super) crl: Vec<String>,
    pub(super) policy_ids: Vec<Value>,
    pub(super) policies: Vec<String>,
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
    pub(super) fn read(extensions: &[x509_cert::ext::Extension]) -> Result<Self, BuiltinError> {
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
pub(super) fn go_url(uri: &str) -> Value {
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
