//! Service settings: defaults, a TOML file, environment variables and flags,
//! in increasing order of precedence.
//!
//! Every table rejects unknown keys, so a misspelt setting is an error at
//! start-up rather than a silently ignored line.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

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
    /// Where bundles are read from.
    pub bundles: BundlesConfig,
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
    /// Folder holding `system/` and `tenants/<tenant>/`.
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
        if config.bundles.root.is_relative()
            && let Some(dir) = path.parent()
        {
            config.bundles.root = dir.join(&config.bundles.root);
        }
        Ok(config)
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|err| err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let config = Config::default();
        assert_eq!(config.decision.default_path.as_slash(), "envoy/authz/allow");
        assert_eq!(
            config.decision.system_deny_path.as_slash(),
            "multi_tenant/policy/deny"
        );
        for path in [
            &config.decision.default_path,
            &config.decision.system_deny_path,
        ] {
            assert_eq!(&RulePath::parse(path.as_slash()).unwrap(), path);
        }
        assert_eq!(config.server.grpc_addr.port(), 9191);
        assert_eq!(config.server.http_addr.port(), 8181);
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn every_table_can_be_set() {
        let config = Config::from_toml(
            r#"
            [server]
            grpc_addr = "0.0.0.0:9000"
            [bundles]
            root = "/srv/bundles"
            [bundles.limits]
            max_files = 10
            [decision]
            default_path = "authz/decision"
            on_error = "deny"
            [tenancy]
            destination = ["principal", "host"]
            hosts = { "*.acme.example" = "acme" }
            [engine]
            eval_timeout_ms = 20
            [log]
            format = "json"
            "#,
        )
        .unwrap();
        assert_eq!(config.server.grpc_addr.port(), 9000);
        assert_eq!(config.bundles.limits.max_files, 10);
        assert_eq!(config.decision.on_error, OnError::Deny);
        assert_eq!(config.tenancy.hosts.len(), 1);
        assert_eq!(config.engine.eval_timeout_ms, 20);
        assert_eq!(config.log.format, LogFormat::Json);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let err = Config::from_toml("[server]\ngrpc_adr = \"x\"\n").unwrap_err();
        assert!(err.contains("grpc_adr"), "{err}");
        let err = Config::from_toml("[decision]\ndefault_path = \"a/0\"\n").unwrap_err();
        assert!(err.contains("numeric segment"), "{err}");
        let err = Config::from_toml("[tenancy]\nnamespaces = { a = \"Bad\" }\n").unwrap_err();
        assert!(err.contains("tenant name"), "{err}");
    }
}
