//! What each bundle is running and what went wrong with the last attempt
//! to change it, for `/v1/status`, health checks and metrics.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::decision::SourceError;

/// One bundle's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BundleStatus {
    /// The revision serving requests, if any ever activated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_revision: Option<String>,
    /// When it was activated (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_successful_activation: Option<String>,
    /// The last failed attempt, if it is more recent than the last success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Attempt>,
    /// The configured source the active revision came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Activations that succeeded.
    pub activations: u64,
    /// Activations that failed.
    pub failures: u64,
}

/// A failed attempt to activate a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The revision that was tried (empty when the files could not be read).
    pub revision: String,
    /// When (RFC 3339).
    pub at: String,
    /// Every error, with `file:line:col` where known.
    pub errors: Vec<SourceError>,
}

/// Which bundle a status entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleName<'a> {
    /// The system bundle.
    System,
    /// A tenant's bundle.
    Tenant(&'a str),
}

impl std::fmt::Display for BundleName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::System => f.write_str("system"),
            Self::Tenant(name) => write!(f, "tenants/{name}"),
        }
    }
}

/// All bundles' states.
#[derive(Debug, Default, Clone)]
pub struct StatusBoard {
    system: BundleStatus,
    tenants: BTreeMap<String, BundleStatus>,
}

/// The status board as reported.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The active snapshot's generation.
    pub generation: u64,
    /// The system bundle.
    pub system: BundleStatus,
    /// Each tenant.
    pub tenants: BTreeMap<String, BundleStatus>,
}

impl StatusReport {
    /// Whether every known bundle has activated at least once.
    pub fn all_activated(&self) -> bool {
        self.system.active_revision.is_some()
            && self.tenants.values().all(|t| t.active_revision.is_some())
    }
}

impl StatusBoard {
    fn entry(&mut self, name: BundleName<'_>) -> &mut BundleStatus {
        match name {
            BundleName::System => &mut self.system,
            BundleName::Tenant(tenant) => self.tenants.entry(tenant.to_owned()).or_default(),
        }
    }

    pub(crate) fn record_active(
        &mut self,
        name: BundleName<'_>,
        revision: &str,
        source: Option<&str>,
    ) {
        let entry = self.entry(name);
        entry.active_revision = Some(revision.to_owned());
        entry.source = source.map(str::to_owned);
        entry.last_successful_activation = Some(now());
        entry.last_failure = None;
        entry.activations += 1;
    }

    pub(crate) fn record_failure(
        &mut self,
        name: BundleName<'_>,
        revision: &str,
        errors: Vec<SourceError>,
    ) {
        let entry = self.entry(name);
        entry.last_failure = Some(Attempt {
            revision: revision.to_owned(),
            at: now(),
            errors,
        });
        entry.failures += 1;
    }

    /// The source is back at the active files: the failure is history.
    pub(crate) fn clear_failure(&mut self, name: BundleName<'_>) {
        self.entry(name).last_failure = None;
    }

    pub(crate) fn remove_tenant(&mut self, tenant: &str) {
        self.tenants.remove(tenant);
    }

    pub(crate) fn report(&self, generation: u64) -> StatusReport {
        StatusReport {
            generation,
            system: self.system.clone(),
            tenants: self.tenants.clone(),
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
