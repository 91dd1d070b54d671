//! The `.manifest` file of an OPA bundle.
//!
//! Only the fields this service acts on are modelled; unknown fields are
//! ignored, as OPA ignores them, so that manifests written for OPA load here
//! unchanged. Wasm modules are the one OPA feature refused outright, because
//! silently dropping them would change a bundle's decisions.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::BundleError;

/// Which Rego syntax a module is parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum RegoVersion {
    /// Rego v0: `if` and `contains` are optional, `import rego.v1` opts in.
    V0,
    /// Rego v1, OPA 1.x's default.
    #[default]
    V1,
}

impl RegoVersion {
    fn from_number(n: i64, field: &str) -> Result<Self, BundleError> {
        match n {
            0 => Ok(Self::V0),
            1 => Ok(Self::V1),
            other => Err(BundleError::Manifest {
                reason: format!("`{field}` must be 0 or 1, found `{other}`"),
            }),
        }
    }
}

/// A parsed `.manifest`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The bundle's revision, shown in status and decision metadata.
    pub revision: String,
    /// Path prefixes (`/`-separated) the bundle owns; `[""]` owns everything.
    pub roots: Vec<String>,
    /// Syntax of modules not matched by `file_rego_versions`.
    pub rego_version: RegoVersion,
    /// Syntax per file, by glob over the bundle-relative path.
    pub file_rego_versions: Vec<(globset::GlobMatcher, RegoVersion)>,
    /// Free-form metadata; `decision_path` is read from here.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl Default for Manifest {
    /// The manifest OPA assumes for a bundle without one: it owns every
    /// path, Rego v1, no revision.
    fn default() -> Self {
        Self {
            revision: String::new(),
            roots: vec![String::new()],
            rego_version: RegoVersion::V1,
            file_rego_versions: Vec::new(),
            metadata: serde_json::Map::new(),
        }
    }
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(default)]
    revision: Option<serde_json::Value>,
    #[serde(default)]
    roots: Option<Vec<String>>,
    #[serde(default)]
    rego_version: Option<i64>,
    #[serde(default)]
    file_rego_versions: BTreeMap<String, i64>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    wasm: Vec<serde_json::Value>,
}

impl Manifest {
    /// Parses the bytes of a `.manifest` file.
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        let raw: RawManifest =
            serde_json::from_slice(bytes).map_err(|err| BundleError::Manifest {
                reason: err.to_string(),
            })?;

        if !raw.wasm.is_empty() {
            return Err(BundleError::Manifest {
                reason: "wasm modules are not supported; ship Rego sources".to_owned(),
            });
        }
        let revision = match raw.revision {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s,
            Some(other) => {
                return Err(BundleError::Manifest {
                    reason: format!("`revision` must be a string, found `{other}`"),
                });
            }
        };

        let roots = raw.roots.unwrap_or_else(|| vec![String::new()]);
        let roots: Vec<String> = roots
            .iter()
            .map(|r| r.trim_matches('/').to_owned())
            .collect();
        check_roots_disjoint(&roots)?;

        let rego_version = match raw.rego_version {
            Some(n) => RegoVersion::from_number(n, "rego_version")?,
            None => RegoVersion::V1,
        };
        let mut file_rego_versions = Vec::new();
        for (pattern, n) in raw.file_rego_versions {
            let version = RegoVersion::from_number(n, "file_rego_versions")?;
            let glob = globset::GlobBuilder::new(pattern.trim_start_matches('/'))
                .literal_separator(true)
                .build()
                .map_err(|err| BundleError::Manifest {
                    reason: format!("`file_rego_versions` pattern `{pattern}`: {err}"),
                })?;
            file_rego_versions.push((glob.compile_matcher(), version));
        }

        Ok(Self {
            revision,
            roots,
            rego_version,
            file_rego_versions,
            metadata: raw.metadata.unwrap_or_default(),
        })
    }

    /// The Rego syntax of the module at `path` (bundle-relative).
    pub fn rego_version_of(&self, path: &str) -> RegoVersion {
        self.file_rego_versions
            .iter()
            .find(|(glob, _)| glob.is_match(path))
            .map_or(self.rego_version, |(_, version)| *version)
    }

    /// Whether the `/`-separated data or package `path` lies under a root.
    pub fn owns(&self, path: &[&str]) -> bool {
        self.roots
            .iter()
            .any(|root| is_prefix(&split_root(root), path))
    }

    /// Whether `path` is a strict ancestor of some root: data there may exist
    /// only as the parent objects of data under that root.
    pub fn is_ancestor_of_root(&self, path: &[&str]) -> bool {
        self.roots.iter().any(|root| {
            let root = split_root(root);
            root.len() > path.len() && is_prefix(path, &root)
        })
    }
}

fn split_root(root: &str) -> Vec<&str> {
    if root.is_empty() {
        Vec::new()
    } else {
        root.split('/').collect()
    }
}

fn is_prefix(prefix: &[&str], path: &[&str]) -> bool {
    prefix.len() <= path.len() && prefix.iter().zip(path).all(|(a, b)| a == b)
}

/// OPA refuses manifests whose roots overlap: one bundle cannot claim the
/// same path twice.
fn check_roots_disjoint(roots: &[String]) -> Result<(), BundleError> {
    for (i, a) in roots.iter().enumerate() {
        for b in roots.iter().skip(i + 1) {
            let (sa, sb) = (split_root(a), split_root(b));
            if is_prefix(&sa, &sb) || is_prefix(&sb, &sa) {
                return Err(BundleError::Manifest {
                    reason: format!("roots `{a}` and `{b}` overlap"),
                });
            }
        }
    }
    Ok(())
}
