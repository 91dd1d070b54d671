//! Decision paths: OPA's `/`-separated form (`envoy/authz/allow`) checked
//! once and turned into the engine's rule reference (`data.envoy.authz.allow`).

use std::{fmt, sync::Arc};

/// A decision path under `data`: a rule, or (as OPA-Envoy allows) any
/// other document, such as a package.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RulePath {
    /// As configured, e.g. `envoy/authz/allow`.
    slash: Arc<str>,
    /// As the engine takes it, e.g. `data.envoy.authz.allow`.
    reference: Arc<str>,
}

/// Why a decision path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulePathError {
    /// Nothing but slashes.
    #[error("decision path `{0}` is empty")]
    Empty(String),
    /// A numeric segment: OPA would index into an array with it; such paths
    /// are not supported.
    #[error("decision path `{path}` has the numeric segment `{segment}`, which is not supported")]
    Numeric {
        /// The path.
        path: String,
        /// The segment.
        segment: String,
    },
    /// A segment with a quote or control character.
    #[error("decision path `{path}` has the unusable segment `{segment}`")]
    BadSegment {
        /// The path.
        path: String,
        /// The segment.
        segment: String,
    },
}

const KEYWORDS: &[&str] = &[
    "as", "contains", "data", "default", "else", "every", "false", "if", "import", "in", "not",
    "null", "package", "some", "true", "with",
];

impl RulePath {
    /// Parses a `/`-separated path; a leading `data/` is accepted and
    /// dropped. Empty segments are skipped, as OPA-Envoy skips them.
    pub fn parse(path: &str) -> Result<Self, RulePathError> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let segments = match segments.split_first() {
            Some((&"data", rest)) if !rest.is_empty() => rest.to_vec(),
            _ => segments,
        };
        if segments.is_empty() {
            return Err(RulePathError::Empty(path.to_owned()));
        }

        let mut reference = String::from("data");
        for segment in &segments {
            if segment.parse::<i64>().is_ok() {
                return Err(RulePathError::Numeric {
                    path: path.to_owned(),
                    segment: (*segment).to_owned(),
                });
            }
            if segment.contains(['"', '\\']) || segment.chars().any(char::is_control) {
                return Err(RulePathError::BadSegment {
                    path: path.to_owned(),
                    segment: (*segment).to_owned(),
                });
            }
            if is_identifier(segment) && !KEYWORDS.contains(segment) {
                reference.push('.');
                reference.push_str(segment);
            } else {
                reference.push_str("[\"");
                reference.push_str(segment);
                reference.push_str("\"]");
            }
        }

        Ok(Self {
            slash: Arc::from(segments.join("/")),
            reference: Arc::from(reference),
        })
    }

    /// A path from literals known to be valid (built-in defaults; a test
    /// checks each against [`RulePath::parse`]).
    pub(crate) fn known(slash: &str, reference: &str) -> Self {
        Self {
            slash: Arc::from(slash),
            reference: Arc::from(reference),
        }
    }

    /// The `/`-separated form, without `data/`.
    pub fn as_slash(&self) -> &str {
        &self.slash
    }

    /// The path's segments after `data`, with `data` first.
    pub fn segments(&self) -> Vec<String> {
        std::iter::once("data")
            .chain(self.slash.split('/'))
            .map(str::to_owned)
            .collect()
    }

    /// The engine's rule reference, `data.…`.
    pub fn reference(&self) -> &Arc<str> {
        &self.reference
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Debug for RulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RulePath({})", self.slash)
    }
}

impl fmt::Display for RulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.slash)
    }
}

impl<'de> serde::Deserialize<'de> for RulePath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for RulePath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.slash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_paths_become_data_references() {
        let path = RulePath::parse("envoy/authz/allow").unwrap();
        assert_eq!(&**path.reference(), "data.envoy.authz.allow");
        assert_eq!(path.as_slash(), "envoy/authz/allow");
        assert_eq!(RulePath::parse("/data/envoy//authz/allow/").unwrap(), path);
    }

    #[test]
    fn unusual_segments_are_quoted() {
        let path = RulePath::parse("multi-tenant/policy/default").unwrap();
        assert_eq!(
            &**path.reference(),
            r#"data["multi-tenant"].policy["default"]"#
        );
    }

    #[test]
    fn numeric_and_empty_paths_are_refused() {
        assert!(matches!(
            RulePath::parse("a/0/b"),
            Err(RulePathError::Numeric { .. })
        ));
        assert!(matches!(
            RulePath::parse("//"),
            Err(RulePathError::Empty(_))
        ));
        assert!(RulePath::parse("data").is_ok());
        assert!(matches!(
            RulePath::parse("a/\"b"),
            Err(RulePathError::BadSegment { .. })
        ));
    }
}
