//! Tenant names.
//!
//! A tenant name follows the rules of a DNS label (RFC 1123), the same rules
//! Kubernetes applies to namespace names, so that a namespace can be a tenant
//! without translation. Names are checked once, where they enter the service
//! (a bundle folder, a config map, a resolved request attribute); the rest of
//! the code holds a [`TenantName`] and never re-validates.

use std::{borrow::Borrow, fmt, sync::Arc};

/// The longest DNS label, and so the longest tenant name.
pub const MAX_TENANT_NAME_LEN: usize = 63;

/// A validated tenant name: 1 to 63 characters of `a-z`, `0-9` and `-`,
/// starting and ending with a letter or digit.
///
/// Cloning is cheap (a reference count), because names travel with every
/// snapshot, status entry and log line.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantName(Arc<str>);

/// Why a string is not a tenant name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTenantName {
    /// The name is empty.
    #[error("tenant name is empty")]
    Empty,
    /// The name is longer than a DNS label.
    #[error("tenant name `{name}` is longer than {MAX_TENANT_NAME_LEN} characters")]
    TooLong {
        /// The rejected name.
        name: String,
    },
    /// The name holds a character outside `a-z`, `0-9` and `-`.
    #[error("tenant name `{name}` may hold only `a-z`, `0-9` and `-`")]
    BadCharacter {
        /// The rejected name.
        name: String,
    },
    /// The name starts or ends with `-`.
    #[error("tenant name `{name}` must start and end with a letter or digit")]
    BadEdge {
        /// The rejected name.
        name: String,
    },
}

impl TenantName {
    /// Checks `name` against the DNS label rules.
    pub fn parse(name: &str) -> Result<Self, InvalidTenantName> {
        check(name)?;
        Ok(Self(Arc::from(name)))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks `name` without allocating, for names read from requests.
pub(crate) fn check(name: &str) -> Result<(), InvalidTenantName> {
    if name.is_empty() {
        return Err(InvalidTenantName::Empty);
    }
    if name.len() > MAX_TENANT_NAME_LEN {
        return Err(InvalidTenantName::TooLong {
            name: truncate_for_message(name),
        });
    }

    let valid = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    if !name.bytes().all(valid) {
        return Err(InvalidTenantName::BadCharacter {
            name: truncate_for_message(name),
        });
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(InvalidTenantName::BadEdge {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Keeps error messages bounded when the rejected input came from a request.
fn truncate_for_message(name: &str) -> String {
    name.chars().take(MAX_TENANT_NAME_LEN + 1).collect()
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantName({})", &self.0)
    }
}

impl Borrow<str> for TenantName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TenantName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TenantName {
    type Err = InvalidTenantName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for TenantName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for TenantName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kubernetes_namespace_names() {
        for name in ["a", "tenant-a", "team42", "0abc", &"x".repeat(63)] {
            assert_eq!(TenantName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn rejects_names_that_are_not_dns_labels() {
        assert_eq!(TenantName::parse(""), Err(InvalidTenantName::Empty));
        assert!(matches!(
            TenantName::parse(&"x".repeat(64)),
            Err(InvalidTenantName::TooLong { .. })
        ));
        for bad in ["Tenant", "a_b", "a.b", "a/b", "ä", "a b", "../x"] {
            assert!(
                matches!(
                    TenantName::parse(bad),
                    Err(InvalidTenantName::BadCharacter { .. })
                ),
                "{bad}"
            );
        }
        for bad in ["-a", "a-", "-"] {
            assert!(matches!(
                TenantName::parse(bad),
                Err(InvalidTenantName::BadEdge { .. })
            ));
        }
    }

    #[test]
    fn error_messages_name_the_input() {
        let err = TenantName::parse("Bad_Name").unwrap_err();
        assert_eq!(
            err.to_string(),
            "tenant name `Bad_Name` may hold only `a-z`, `0-9` and `-`"
        );
    }
}
