//! The active policy set and how it changes.
//!
//! A [`Snapshot`] holds the compiled system bundle and every tenant's
//! compiled bundle. It sits behind an [`ArcSwap`]: a request loads it once,
//! without a lock, and decides against that one snapshot even if a new one
//! is swapped in meanwhile. An activation compiles the changed bundles off
//! the request path, builds a new snapshot from the old one plus the
//! changes, and swaps it in. A bundle that fails to compile (or to pass its
//! test gate) leaves its last good version in place; the failure is kept in
//! the status board, and the failed files are remembered so that a source
//! polling the same broken revision does not compile it again and again.
//!
//! The revision a bundle reports is, in order of precedence: the Git commit
//! its files were read at, its manifest's `revision`, or a digest of its
//! files. A commit is always exact, whereas a manifest revision is written
//! by hand and easily left stale.

mod prepare;
mod snapshot;
mod status;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use arc_swap::{ArcSwap, Guard};

pub use snapshot::{ActiveSystem, ActiveTenant, Snapshot};
pub use status::{Attempt, BundleName, BundleStatus, StatusBoard, StatusReport};

use self::prepare::{Failed, compile_system, compile_tenant};

use crate::{
    bundle::{BundleError, BundleFiles},
    decision::{EngineConfig, RulePath, SourceError},
    tenant::TenantName,
};

/// What activations need to compile bundles.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The system bundle's deny rule.
    pub deny_path: RulePath,
    /// Tenants' decision rule, unless their manifest names another.
    pub default_decision: RulePath,
    /// Engine settings.
    pub engine: EngineConfig,
}

/// New bundle contents for some bundles.
#[derive(Debug, Default)]
pub struct Change {
    /// A new system bundle, or the error that kept it from being read.
    pub system: Option<Incoming>,
    /// Tenants to add, update or remove.
    pub tenants: BTreeMap<TenantName, TenantChange>,
}

/// What happens to one tenant.
#[derive(Debug)]
pub enum TenantChange {
    /// New files (or the error that kept them from being read).
    Update(Incoming),
    /// The tenant is gone from the source: its traffic becomes unknown.
    Remove,
}

/// A bundle's new files and where they came from.
#[derive(Debug)]
pub struct Incoming {
    /// The files, or why they could not be read (including a bad signature).
    pub files: Result<BundleFiles, BundleError>,
    /// Their source.
    pub origin: Origin,
}

impl From<Result<BundleFiles, BundleError>> for Incoming {
    fn from(files: Result<BundleFiles, BundleError>) -> Self {
        Self {
            files,
            origin: Origin::default(),
        }
    }
}

/// Where a bundle's files came from, and what to check before activating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The configured source's name.
    pub source: Option<Arc<str>>,
    /// The Git commit the files were read at; it becomes the revision.
    pub commit: Option<String>,
    /// Run the bundle's Rego unit tests before activating it.
    pub test_gate: bool,
}

/// What an activation did, per bundle.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ActivationReport {
    /// The snapshot generation after the activation.
    pub generation: u64,
    /// Bundles compiled and swapped in (`system`, `tenants/<name>`).
    pub activated: Vec<String>,
    /// Bundles whose files had not changed.
    pub unchanged: Vec<String>,
    /// Tenants removed.
    pub removed: Vec<String>,
    /// Bundles that failed, with the errors; they keep their last good version.
    pub failed: Vec<(String, Vec<SourceError>)>,
    /// Bundles whose files are those that already failed; not compiled again.
    pub known_bad: Vec<String>,
}

/// Why the registry could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// No system bundle in the source.
    #[error("no system bundle found: the guardrails every tenant gets are required")]
    NoSystemBundle,
    /// The system bundle did not read or compile.
    #[error("system bundle failed to load: {0}")]
    SystemBundle(String),
}

/// The active snapshot, the status board, and the activation lock.
#[derive(Debug)]
pub struct Registry {
    active: ArcSwap<Snapshot>,
    status: Mutex<StatusBoard>,
    /// Serialises activations, so that each builds on the one before.
    /// Holds the digest of each bundle's last failed files.
    activation: Mutex<HashMap<Option<TenantName>, String>>,
    config: RegistryConfig,
}

impl Registry {
    /// Builds the first snapshot. The system bundle must load; tenants that
    /// fail are left out and reported in the status board.
    pub fn start(
        config: RegistryConfig,
        initial: Change,
    ) -> Result<(Self, ActivationReport), StartupError> {
        let mut status = StatusBoard::default();
        let system_files = initial.system.ok_or(StartupError::NoSystemBundle)?;
        let system = compile_system(&config, system_files)
            .map_err(|failure| StartupError::SystemBundle(render(&failure.errors)))?;
        status.record_active(
            BundleName::System,
            &system.revision,
            system.source.as_deref(),
        );
        log_activated(
            BundleName::System,
            &system.revision,
            system.source.as_deref(),
        );

        let registry = Self {
            active: ArcSwap::from_pointee(Snapshot::new(0, Arc::new(system), Default::default())),
            status: Mutex::new(status),
            activation: Mutex::new(HashMap::new()),
            config,
        };
        let change = Change {
            system: None,
            tenants: initial.tenants,
        };
        let mut report = registry.activate(change);
        report.activated.insert(0, BundleName::System.to_string());
        Ok((registry, report))
    }

    /// The active snapshot. Load it once per request.
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.active.load()
    }

    /// The active snapshot as an owned reference.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.active.load_full()
    }

    /// Swaps in a snapshot with the same content under a new generation.
    /// Readers must not notice; benchmarks and tests use it to measure and
    /// check reads against concurrent swaps.
    pub fn republish(&self) -> u64 {
        let _serial = self
            .activation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.active.load_full();
        let generation = current.generation() + 1;
        self.active.store(Arc::new(Snapshot::new(
            generation,
            current.system().clone(),
            current.tenants().clone(),
        )));
        generation
    }

    /// The configuration activations use.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// A copy of the status board.
    pub fn status(&self) -> StatusReport {
        let board = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        board.report(self.load().generation())
    }

    /// Applies a change: compiles what changed, keeps the last good version
    /// of what failed, and swaps in the new snapshot (only if something
    /// changed).
    pub fn activate(&self, change: Change) -> ActivationReport {
        let mut known_bad = self
            .activation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.active.load_full();
        let mut report = ActivationReport::default();
        let mut system = current.system().clone();
        let mut tenants = current.tenants().clone();

        if let Some(incoming) = change.system {
            let name = BundleName::System;
            match self.triage(name, None, &system.digest, &incoming, &mut known_bad) {
                Triage::Skip(list) => list.pick(&mut report).push(name.to_string()),
                Triage::Compile => match compile_system(&self.config, incoming) {
                    Ok(active) => {
                        known_bad.remove(&None);
                        self.with_status(|s| {
                            s.record_active(name, &active.revision, active.source.as_deref())
                        });
                        log_activated(name, &active.revision, active.source.as_deref());
                        system = Arc::new(active);
                        report.activated.push(name.to_string());
                    }
                    Err(failure) => {
                        remember(&mut known_bad, None, &failure);
                        self.record_failure(name, failure, &mut report);
                    }
                },
            }
        }

        for (tenant, tenant_change) in change.tenants {
            let name = BundleName::Tenant(tenant.as_str());
            let key = Some(tenant.clone());
            let incoming = match tenant_change {
                TenantChange::Remove => {
                    known_bad.remove(&key);
                    if tenants.remove(&tenant).is_some() {
                        tracing::info!(tenant = %tenant, "tenant removed");
                        report.removed.push(name.to_string());
                    }
                    self.with_status(|s| s.remove_tenant(tenant.as_str()));
                    continue;
                }
                TenantChange::Update(incoming) => incoming,
            };
            let active_digest = tenants.get(&tenant).map_or("", |t| t.digest.as_str());
            match self.triage(name, key.clone(), active_digest, &incoming, &mut known_bad) {
                Triage::Skip(list) => list.pick(&mut report).push(name.to_string()),
                Triage::Compile => match compile_tenant(&self.config, &tenant, incoming) {
                    Ok(active) => {
                        known_bad.remove(&key);
                        self.with_status(|s| {
                            s.record_active(name, &active.revision, active.source.as_deref())
                        });
                        log_activated(name, &active.revision, active.source.as_deref());
                        tenants.insert(tenant.clone(), Arc::new(active));
                        report.activated.push(name.to_string());
                    }
                    Err(failure) => {
                        remember(&mut known_bad, key, &failure);
                        self.record_failure(name, failure, &mut report);
                    }
                },
            }
        }

        let changed = !report.activated.is_empty() || !report.removed.is_empty();
        report.generation = if changed {
            let generation = current.generation() + 1;
            self.active
                .store(Arc::new(Snapshot::new(generation, system, tenants)));
            generation
        } else {
            current.generation()
        };
        report
    }

    /// Decides whether `incoming` needs compiling: not when its files are
    /// the active ones (a stale failure is then cleared), nor when they are
    /// the files that failed last time.
    fn triage(
        &self,
        name: BundleName<'_>,
        key: Option<TenantName>,
        active_digest: &str,
        incoming: &Incoming,
        known_bad: &mut HashMap<Option<TenantName>, String>,
    ) -> Triage {
        let Ok(files) = &incoming.files else {
            return Triage::Compile;
        };
        let digest = files.digest();
        if digest == active_digest {
            known_bad.remove(&key);
            self.with_status(|s| s.clear_failure(name));
            return Triage::Skip(SkipList::Unchanged);
        }
        if known_bad.get(&key) == Some(&digest) {
            return Triage::Skip(SkipList::KnownBad);
        }
        Triage::Compile
    }

    fn with_status(&self, f: impl FnOnce(&mut StatusBoard)) {
        let mut board = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut board);
    }

    fn record_failure(&self, name: BundleName<'_>, failure: Failed, report: &mut ActivationReport) {
        tracing::warn!(
            bundle = %name,
            revision = %failure.revision,
            error = %render(&failure.errors),
            "bundle activation failed; keeping the last good version"
        );
        self.with_status(|s| s.record_failure(name, &failure.revision, failure.errors.clone()));
        report.failed.push((name.to_string(), failure.errors));
    }
}

/// What [`Registry::activate`] does with one incoming bundle.
enum Triage {
    Compile,
    Skip(SkipList),
}

/// Which report list a skipped bundle is named in.
enum SkipList {
    Unchanged,
    KnownBad,
}

impl SkipList {
    fn pick(self, report: &mut ActivationReport) -> &mut Vec<String> {
        match self {
            Self::Unchanged => &mut report.unchanged,
            Self::KnownBad => &mut report.known_bad,
        }
    }
}

fn remember(
    known_bad: &mut HashMap<Option<TenantName>, String>,
    key: Option<TenantName>,
    failure: &Failed,
) {
    match &failure.digest {
        Some(digest) => known_bad.insert(key, digest.clone()),
        None => known_bad.remove(&key),
    };
}

/// The activation log line: which bundle, which revision, from where.
fn log_activated(name: BundleName<'_>, revision: &str, source: Option<&str>) {
    tracing::info!(
        bundle = %name,
        revision,
        source = source.unwrap_or(""),
        "bundle activated"
    );
}

fn render(errors: &[SourceError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests;
