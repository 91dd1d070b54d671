//! The `[[sources]]` tables and the `[reload]` table: where bundles come
//! from, and what may trigger a reload.
//!
//! Each source is one of three kinds, told apart by its `kind` key: a
//! `directory` in the `system/` + `tenants/<tenant>/` layout, a `bundle`
//! file (one tenant's `.tar.gz`), or a `git` repository holding the layout.
//! Parsing checks each table's own keys; [`check_sources`] checks what
//! spans tables (unique names, signing keys that exist).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

use serde::{Deserialize, Serialize};

use super::Secret;
use crate::tenant::TenantName;

/// One `[[sources]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    /// A folder in the bundle layout, watched for changes.
    Directory(DirectorySourceConfig),
    /// One tenant's bundle file (`.tar.gz`), watched for changes.
    Bundle(BundleSourceConfig),
    /// A Git repository holding the bundle layout, polled.
    Git(GitSourceConfig),
}

impl SourceConfig {
    /// The source's name, used in status, metrics, logs and URLs.
    pub fn name(&self) -> &str {
        match self {
            Self::Directory(s) => &s.name,
            Self::Bundle(s) => &s.name,
            Self::Git(s) => &s.name,
        }
    }

    /// The options every kind shares.
    pub fn common(&self) -> CommonSourceConfig {
        let (poll_interval_secs, test_gate, signing) = match self {
            Self::Directory(s) => (s.poll_interval_secs, s.test_gate, &s.signing),
            Self::Bundle(s) => (s.poll_interval_secs, s.test_gate, &s.signing),
            Self::Git(s) => (s.poll_interval_secs, s.test_gate, &s.signing),
        };
        CommonSourceConfig {
            poll_interval_secs,
            test_gate,
            signing: signing.clone(),
        }
    }
}

/// Options every kind of source has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommonSourceConfig {
    /// Seconds between polls; 0 turns polling off.
    pub poll_interval_secs: u64,
    /// Run the bundles' Rego unit tests (`*_test.rego`, rules `test_*`)
    /// before activating them; a failing test keeps the last good version.
    pub test_gate: bool,
    /// Verify `.signatures.json` in every bundle of this source.
    pub signing: Option<SigningConfig>,
}

/// `kind = "directory"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySourceConfig {
    /// The source's name.
    pub name: String,
    /// The folder holding `system/` and `tenants/`.
    pub path: PathBuf,
    /// Watch the folder and reload on changes (debounced).
    #[serde(default = "yes")]
    pub watch: bool,
    /// Seconds between polls; 0 turns polling off.
    #[serde(default)]
    pub poll_interval_secs: u64,
    /// Run the bundles' Rego unit tests before activating them.
    #[serde(default)]
    pub test_gate: bool,
    /// Verify `.signatures.json` in every bundle of this source.
    #[serde(default)]
    pub signing: Option<SigningConfig>,
}

/// `kind = "bundle"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSourceConfig {
    /// The source's name.
    pub name: String,
    /// The `.tar.gz` file.
    pub path: PathBuf,
    /// The tenant the bundle belongs to.
    pub tenant: TenantName,
    /// Watch the file and reload when it is replaced (debounced).
    #[serde(default = "yes")]
    pub watch: bool,
    /// Seconds between polls; 0 turns polling off.
    #[serde(default)]
    pub poll_interval_secs: u64,
    /// Run the bundles' Rego unit tests before activating them.
    #[serde(default)]
    pub test_gate: bool,
    /// Verify `.signatures.json` in every bundle of this source.
    #[serde(default)]
    pub signing: Option<SigningConfig>,
}

/// `kind = "git"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GitSourceConfig {
    /// The source's name.
    pub name: String,
    /// A URL (`https://`, `ssh://`, `git://`, `file://`) or a local path.
    pub url: String,
    /// Follow this branch (the default: `main`).
    #[serde(default)]
    pub branch: Option<String>,
    /// Pin to this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Pin to this commit (full hexadecimal id).
    #[serde(default)]
    pub commit: Option<String>,
    /// Folder inside the repository that holds the layout.
    #[serde(default)]
    pub subdir: Option<String>,
    /// Webhook secrets; without them the webhook endpoint refuses calls.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// Seconds between polls; 0 turns polling off.
    #[serde(default = "thirty")]
    pub poll_interval_secs: u64,
    /// Run the bundles' Rego unit tests before activating them.
    #[serde(default)]
    pub test_gate: bool,
    /// Verify `.signatures.json` in every bundle of this source.
    #[serde(default)]
    pub signing: Option<SigningConfig>,
}

/// What a Git source follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitPin {
    /// The newest commit of a branch; force pushes are followed.
    Branch(String),
    /// The commit a tag points to (re-read if the tag moves).
    Tag(String),
    /// One commit, forever.
    Commit(String),
}

impl GitSourceConfig {
    /// The branch, tag or commit followed; `main` when none is given.
    pub fn pin(&self) -> Result<GitPin, String> {
        match (&self.branch, &self.tag, &self.commit) {
            (None, None, None) => Ok(GitPin::Branch("main".to_owned())),
            (Some(b), None, None) => Ok(GitPin::Branch(b.clone())),
            (None, Some(t), None) => Ok(GitPin::Tag(t.clone())),
            (None, None, Some(c)) => {
                let valid = c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit());
                if valid {
                    Ok(GitPin::Commit(c.to_ascii_lowercase()))
                } else {
                    Err(format!("`commit` must be a full 40-digit id, found `{c}`"))
                }
            }
            _ => Err("set at most one of `branch`, `tag` and `commit`".to_owned()),
        }
    }
}

/// `[sources.webhook]`: who may trigger a fetch over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The secret GitHub signs deliveries with (`X-Hub-Signature-256`).
    #[serde(default)]
    pub github_secret: Option<Secret>,
    /// The token GitLab sends in `X-Gitlab-Token`.
    #[serde(default)]
    pub gitlab_token: Option<Secret>,
}

/// `[sources.signing]`: bundle signature verification, as OPA does it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningConfig {
    /// The key to verify with (a name under `[keys]`); else the JWT's `kid`.
    pub keyid: Option<String>,
    /// The `scope` the signature must carry; else the key's own scope.
    pub scope: Option<String>,
    /// Files left out of verification (globs over bundle paths).
    pub exclude_files: Vec<String>,
}

/// One `[keys.<name>]` table: a key that verifies bundle signatures.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyConfig {
    /// `RS256`, `ES256` or `HS256` (OPA's default: `RS256`).
    #[serde(default = "rs256")]
    pub algorithm: String,
    /// A PEM public key (RS256, ES256) or the shared secret (HS256).
    pub key: Secret,
    /// The scope signatures made with this key must carry.
    #[serde(default)]
    pub scope: Option<String>,
}

fn rs256() -> String {
    "RS256".to_owned()
}

/// The `[reload]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReloadConfig {
    /// A burst of file changes closer together than this gives one reload.
    pub debounce_ms: u64,
    /// Where Git sources keep their fetched repositories; nothing else is
    /// written. Relative paths are relative to the config file.
    pub cache_dir: PathBuf,
    /// SHA-256 (hex) of the bearer token that may call `POST /v1/reload`.
    /// Without it the endpoint is off.
    pub admin_token_sha256: Option<String>,
    /// Longest a Git fetch may take, in seconds.
    pub fetch_timeout_secs: u64,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            debounce_ms: 200,
            cache_dir: PathBuf::from(".pdp/cache"),
            admin_token_sha256: None,
            fetch_timeout_secs: 60,
        }
    }
}

fn yes() -> bool {
    true
}

fn thirty() -> u64 {
    30
}

/// Checks what spans tables: names valid and unique, signing keys known,
/// one pin per Git source, an admin token hash that is a hash.
pub(super) fn check_sources(
    sources: &[SourceConfig],
    keys: &BTreeMap<String, SigningKeyConfig>,
    reload: &ReloadConfig,
) -> Result<(), String> {
    for (name, key) in keys {
        if !matches!(key.algorithm.as_str(), "RS256" | "ES256" | "HS256") {
            return Err(format!(
                "key `{name}`: algorithm `{}` is not one of RS256, ES256, HS256",
                key.algorithm
            ));
        }
    }
    let mut names = BTreeSet::new();
    for source in sources {
        let name = source.name();
        crate::tenant::TenantName::parse(name)
            .map_err(|err| format!("source name: {err}").replace("tenant name", "name"))?;
        if !names.insert(name) {
            return Err(format!("two sources are named `{name}`"));
        }
        if let Some(signing) = &source.common().signing
            && let Some(keyid) = &signing.keyid
            && !keys.contains_key(keyid)
        {
            return Err(format!("source `{name}`: no key `{keyid}` under [keys]"));
        }
        if let SourceConfig::Git(git) = source {
            git.pin().map_err(|err| format!("source `{name}`: {err}"))?;
            if let Some(subdir) = &git.subdir
                && subdir.split('/').any(|part| part == "..")
            {
                return Err(format!("source `{name}`: `subdir` may not hold `..`"));
            }
        }
    }
    if let Some(hash) = &reload.admin_token_sha256
        && (hash.len() != 64 || hex::decode(hash).is_err())
    {
        return Err("`reload.admin_token_sha256` must be 64 hexadecimal digits".to_owned());
    }
    Ok(())
}
