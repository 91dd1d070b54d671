//! Service settings: defaults, a TOML file, environment variables and flags,
//! in increasing order of precedence.
//!
//! Every table rejects unknown keys, so a misspelt setting is an error at
//! start-up rather than a silently ignored line. Where bundles come from
//! (`[[sources]]`, `[reload]`, `[keys]`) is in [`sources`].

mod sources;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

pub use sources::{
    BundleSourceConfig, CommonSourceConfig, DirectorySourceConfig, GitPin, GitSourceConfig,
    ReloadConfig, SigningConfig, SigningKeyConfig, SourceConfig, WebhookConfig,
};

use crate::{
    bundle::BundleLimits,
    decision::{EngineConfig, RulePath},
    extauthz::OnError,
    tenant::TenancyConfig,
};

/// All settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Config {
    /// Listeners.
    pub server: ServerConfig,
    /// The bundle folder and the limits every bundle is read with.
    pub bundles: BundlesConfig,
    /// Where bundles come from. Empty: `bundles.root` alone, watched.
    pub sources: Vec<SourceConfig>,
    /// Reload triggers and the Git cache.
    pub reload: ReloadConfig,
    /// Keys that verify bundle signatures, by name.
    pub keys: std::collections::BTreeMap<String, SigningKeyConfig>,
    /// Decision paths and error handling.
    pub decision: DecisionConfig,
    /// Tenant resolution.
    pub tenancy: TenancyConfig,
    /// Evaluation limits and threads.
    pub engine: EngineConfig,
    /// Logging.
    pub log: LogConfig,
}

/// The `[server]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the ext_authz gRPC listener.
    pub grpc_addr: SocketAddr,
    /// Address of the HTTP listener (health, status).
    pub http_addr: SocketAddr,
    /// Largest accepted gRPC message, in bytes (a check request with its body).
    pub grpc_max_message_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 9191)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8181)),
            grpc_max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The `[bundles]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BundlesConfig {
    /// Folder holding `system/` and `tenants/<tenant>/`. Read (and watched)
    /// only when no `[[sources]]` are configured.
    pub root: PathBuf,
    /// Size and count limits for each bundle.
    pub limits: BundleLimits,
}

impl Default for BundlesConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("bundles"),
            limits: BundleLimits::default(),
        }
    }
}

/// The `[decision]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionConfig {
    /// Tenants' decision rule, unless their manifest's `metadata.decision_path`
    /// names another.
    pub default_path: RulePath,
    /// The system bundle's deny rule. It stays outside `data.system`, which
    /// OPA reserves for its own use.
    pub system_deny_path: RulePath,
    /// How an undefined or malformed decision, or an evaluation error, is
    /// answered.
    pub on_error: OnError,
    /// Leave `parsed_body` and `truncated_body` out of the input.
    pub skip_body_parse: bool,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        Self {
            default_path: RulePath::known("envoy/authz/allow", "data.envoy.authz.allow"),
            system_deny_path: RulePath::known(
                "multi_tenant/policy/deny",
                "data.multi_tenant.policy.deny",
            ),
            on_error: OnError::GrpcError,
            skip_body_parse: false,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The `[log]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `pdp=debug,info`.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// A secret in the config: written inline, or read from a file
/// (`{ file = "/run/secrets/x" }`), as Kubernetes mounts secrets. Its value
/// never appears in `Debug` output or serialised config.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Secret {
    /// The secret itself.
    Inline(String),
    /// A file holding the secret; one trailing newline is dropped.
    File {
        /// The file.
        file: PathBuf,
    },
}

impl Secret {
    /// The secret's bytes.
    pub fn read(&self) -> Result<Vec<u8>, ConfigError> {
        match self {
            Self::Inline(text) => Ok(text.as_bytes().to_vec()),
            Self::File { file } => {
                let mut bytes = std::fs::read(file).map_err(|source| ConfigError::Read {
                    path: file.clone(),
                    source,
                })?;
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                }
                Ok(bytes)
            }
        }
    }

    fn resolve_relative(&mut self, dir: &Path) {
        if let Self::File { file } = self
            && file.is_relative()
        {
            *file = dir.join(&*file);
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Secret(<redacted>)"),
            Self::File { file } => write!(f, "Secret(file {})", file.display()),
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Inline(_) => serializer.serialize_str("<redacted>"),
            Self::File { file } => file.serialize(serializer),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid config file `{}`: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the location.
        message: String,
    },
}

impl Config {
    /// Reads a TOML file. A relative `bundles.root` is taken relative to the
    /// file's folder.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        if let Some(dir) = path.parent() {
            config.resolve_relative(dir);
        }
        Ok(config)
    }

    /// Parses TOML text and checks what spans tables.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|err| err.to_string())?;
        sources::check_sources(&config.sources, &config.keys, &config.reload)?;
        Ok(config)
    }

    /// Makes every relative path in the config relative to `dir`.
    fn resolve_relative(&mut self, dir: &Path) {
        let fix = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        };
        fix(&mut self.bundles.root);
        fix(&mut self.reload.cache_dir);
        for source in &mut self.sources {
            match source {
                SourceConfig::Directory(s) => fix(&mut s.path),
                SourceConfig::Bundle(s) => fix(&mut s.path),
                SourceConfig::Git(s) => {
                    let is_path = !s.url.contains("://") && !is_scp_like(&s.url);
                    if is_path && Path::new(&s.url).is_relative() {
                        s.url = dir.join(&s.url).display().to_string();
                    }
                    if let Some(webhook) = &mut s.webhook {
                        for secret in [&mut webhook.github_secret, &mut webhook.gitlab_token]
                            .into_iter()
                            .flatten()
                        {
                            secret.resolve_relative(dir);
                        }
                    }
                }
            }
        }
        for key in self.keys.values_mut() {
            key.key.resolve_relative(dir);
        }
    }

    /// The sources to read: `[[sources]]`, or else `bundles.root` as one
    /// watched directory named `bundles`.
    pub fn effective_sources(&self) -> Vec<SourceConfig> {
        if !self.sources.is_empty() {
            return self.sources.clone();
        }
        vec![SourceConfig::Directory(DirectorySourceConfig {
            name: "bundles".to_owned(),
            path: self.bundles.root.clone(),
            watch: true,
            poll_interval_secs: 0,
            test_gate: false,
            signing: None,
        })]
    }
}

/// `user@host:path`, Git's short form of an SSH URL.
pub fn is_scp_like(url: &str) -> bool {
    match (url.find(':'), url.find('/')) {
        (Some(colon), slash) => {
            colon > 1 && slash.is_none_or(|s| colon < s) && url[..colon].contains('@')
        }
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests;
