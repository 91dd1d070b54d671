//! The active policy set and how it changes.
//!
//! A [`Snapshot`] holds the compiled system bundle and every tenant's
//! compiled bundle. It sits behind an [`ArcSwap`]: a request loads it once,
//! without a lock, and decides against that one snapshot even if a new one
//! is swapped in meanwhile. An activation compiles the changed bundles off
//! the request path, builds a new snapshot from the old one plus the
//! changes, and swaps it in. A bundle that fails to compile leaves its last
//! good version in place; the failure is kept in the status board.

mod snapshot;
mod status;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use arc_swap::{ArcSwap, Guard};

pub use snapshot::{ActiveSystem, ActiveTenant, Snapshot};
pub use status::{Attempt, BundleName, BundleStatus, StatusBoard, StatusReport};

use crate::{
    bundle::{Bundle, BundleError, BundleFiles},
    decision::{CompileErrors, EngineConfig, RulePath, SourceError, SystemPolicy, TenantPolicy},
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
    pub system: Option<Result<BundleFiles, BundleError>>,
    /// Tenants to add, update or remove.
    pub tenants: BTreeMap<TenantName, TenantChange>,
}

/// What happens to one tenant.
#[derive(Debug)]
pub enum TenantChange {
    /// New files (or the error that kept them from being read).
    Update(Result<BundleFiles, BundleError>),
    /// The tenant is gone from the source: its traffic becomes unknown.
    Remove,
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
    activation: Mutex<()>,
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
        status.record_active(BundleName::System, &system.revision);

        let registry = Self {
            active: ArcSwap::from_pointee(Snapshot::new(0, Arc::new(system), Default::default())),
            status: Mutex::new(status),
            activation: Mutex::new(()),
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
        let _serial = self
            .activation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.active.load_full();
        let mut report = ActivationReport::default();
        let mut system = current.system().clone();
        let mut tenants = current.tenants().clone();

        if let Some(files) = change.system {
            let name = BundleName::System;
            match files {
                Ok(files) if files.digest() == system.digest => {
                    report.unchanged.push(name.to_string());
                }
                files => match compile_system(&self.config, files) {
                    Ok(active) => {
                        self.with_status(|s| s.record_active(name, &active.revision));
                        tracing::info!(bundle = %name, revision = %active.revision, "bundle activated");
                        system = Arc::new(active);
                        report.activated.push(name.to_string());
                    }
                    Err(failure) => self.record_failure(name, failure, &mut report),
                },
            }
        }

        for (tenant, tenant_change) in change.tenants {
            let name = BundleName::Tenant(tenant.as_str());
            match tenant_change {
                TenantChange::Remove => {
                    if tenants.remove(&tenant).is_some() {
                        tracing::info!(tenant = %tenant, "tenant removed");
                        report.removed.push(name.to_string());
                    }
                    self.with_status(|s| s.remove_tenant(tenant.as_str()));
                }
                TenantChange::Update(Ok(files))
                    if tenants
                        .get(&tenant)
                        .is_some_and(|t| t.digest == files.digest()) =>
                {
                    report.unchanged.push(name.to_string());
                }
                TenantChange::Update(files) => match compile_tenant(&self.config, &tenant, files) {
                    Ok(active) => {
                        self.with_status(|s| s.record_active(name, &active.revision));
                        tracing::info!(tenant = %tenant, revision = %active.revision, "bundle activated");
                        tenants.insert(tenant.clone(), Arc::new(active));
                        report.activated.push(name.to_string());
                    }
                    Err(failure) => self.record_failure(name, failure, &mut report),
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

/// A failed compile, with the revision that was tried.
struct Failed {
    revision: String,
    errors: Vec<SourceError>,
}

fn render(errors: &[SourceError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The revision to show: the manifest's, else a digest of the files.
fn revision_of(bundle: &Bundle, digest: &str) -> String {
    if bundle.revision().is_empty() {
        format!("sha256:{}", digest.get(..12).unwrap_or(digest))
    } else {
        bundle.revision().to_owned()
    }
}

fn read_bundle(files: Result<BundleFiles, BundleError>) -> Result<(Bundle, String), Failed> {
    let as_failure = |err: BundleError| Failed {
        revision: String::new(),
        errors: vec![SourceError::in_file("bundle", err.to_string())],
    };
    let files = files.map_err(as_failure)?;
    let digest = files.digest();
    let bundle = Bundle::from_files(&files).map_err(as_failure)?;
    Ok((bundle, digest))
}

fn compile_system(
    config: &RegistryConfig,
    files: Result<BundleFiles, BundleError>,
) -> Result<ActiveSystem, Failed> {
    let (bundle, digest) = read_bundle(files)?;
    let revision = revision_of(&bundle, &digest);
    let policy = SystemPolicy::compile(&bundle, &config.deny_path, &config.engine).map_err(
        |CompileErrors(errors)| Failed {
            revision: revision.clone(),
            errors,
        },
    )?;
    Ok(ActiveSystem::new(policy, revision, digest))
}

fn compile_tenant(
    config: &RegistryConfig,
    tenant: &TenantName,
    files: Result<BundleFiles, BundleError>,
) -> Result<ActiveTenant, Failed> {
    let (bundle, digest) = read_bundle(files)?;
    let revision = revision_of(&bundle, &digest);
    let policy = TenantPolicy::compile(
        tenant.clone(),
        &bundle,
        &config.default_decision,
        &config.engine,
    )
    .map_err(|CompileErrors(errors)| Failed {
        revision: revision.clone(),
        errors,
    })?;
    Ok(ActiveTenant::new(policy, revision, digest))
}

#[cfg(test)]
mod tests;
