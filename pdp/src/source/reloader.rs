//! The reloader: every configured source, read on its triggers, turned into
//! activations of the registry.
//!
//! Each source has one task that waits for its triggers (poll timer, file
//! watch, webhook, manual request, SIGHUP) and syncs: read the source on a
//! blocking thread, work out the change, activate it. Sources are read
//! independently; activations are serialised by the registry, so each
//! builds on the one before.
//!
//! Which source owns which tenant is decided in [`super::ownership`]; what
//! each source reports, in [`super::status`].

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;

use super::{
    SourceRead,
    directory::{BundleFileSource, DirectorySource},
    git::GitSource,
    ownership::{Owners, to_change},
    status::{SourceStatus, record_read, without_credentials},
    trigger::Trigger,
    watch::{Target, Watch},
};
use crate::{
    bundle::{
        BundleError, BundleFiles, BundleLimits,
        signing::{Verifier, refuse_signed},
    },
    config::{Config, GitPin, SourceConfig, WebhookConfig},
    metrics::Metrics,
    registry::{
        ActivationReport, Change, Incoming, Origin, Registry, RegistryConfig, StartupError,
    },
};

/// Why the sources could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A source's settings are unusable.
    #[error("source `{name}`: {reason}")]
    Config {
        /// The source.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The first snapshot could not be built.
    #[error(transparent)]
    Registry(#[from] StartupError),
}

/// What one sync did.
#[derive(Debug)]
pub struct SyncOutcome {
    /// The source.
    pub source: String,
    /// The activation, `None` when the source had not changed, or the
    /// error that kept the source from being read.
    pub result: Result<Option<ActivationReport>, String>,
}

/// One source's reading state: what kind it is and what it read last.
#[derive(Debug)]
enum Reader {
    Directory(DirectorySource),
    Bundle(BundleFileSource),
    Git(GitSource),
}

/// One configured source.
#[derive(Debug)]
struct Handle {
    name: Arc<str>,
    config: SourceConfig,
    /// The limits its bundles are read with (all files when verifying).
    limits: BundleLimits,
    /// Verifies signatures; `None` refuses signed bundles.
    verifier: Option<Verifier>,
    reader: Mutex<Reader>,
    trigger: Trigger,
    status: Mutex<SourceStatus>,
}

/// Every source, and the registry they feed.
#[derive(Debug)]
pub struct Reloader {
    sources: Vec<Handle>,
    owners: Mutex<Owners>,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    debounce: Duration,
    fetch_timeout: Duration,
}

impl Reloader {
    /// Opens every source, reads them all once, and builds the first
    /// snapshot from what they hold. The system bundle must be among it.
    pub fn start(
        config: &Config,
        registry_config: RegistryConfig,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, ActivationReport), StartError> {
        let mut sources = Vec::new();
        for source in config.effective_sources() {
            sources.push(open(&source, config)?);
        }

        // The first read of every source, merged into one change.
        let mut owners = Owners::default();
        let mut change = Change::default();
        for (index, handle) in sources.iter().enumerate() {
            let cancel = AtomicBool::new(false);
            let read = read_source(handle, &cancel);
            record_read(&handle.name, &handle.status, &read, &metrics);
            match read {
                Ok(Some(read)) => {
                    let part = claim(index, handle, read, &mut owners);
                    if change.system.is_none() {
                        change.system = part.system;
                    }
                    change.tenants.extend(part.tenants);
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(source = %handle.name, error = %err, "cannot read source at start-up");
                }
            }
        }

        let (registry, report) = Registry::start(registry_config, change)?;
        metrics.record_activation(&report, registry.load().tenants().len());
        let reloader = Self {
            sources,
            owners: Mutex::new(owners),
            registry: Arc::new(registry),
            metrics,
            debounce: Duration::from_millis(config.reload.debounce_ms.max(1)),
            fetch_timeout: Duration::from_secs(config.reload.fetch_timeout_secs.max(1)),
        };
        Ok((reloader, report))
    }

    /// The registry the sources feed.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The metrics activations are counted in.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Every source's status, in configuration order.
    pub fn status(&self) -> Vec<SourceStatus> {
        self.sources
            .iter()
            .map(|h| lock(&h.status).clone())
            .collect()
    }

    /// The webhook secrets and pin of a Git source, if it takes webhooks.
    pub fn webhook(&self, source: &str) -> Option<(&WebhookConfig, GitPin)> {
        let handle = self.sources.iter().find(|h| &*h.name == source)?;
        let SourceConfig::Git(git) = &handle.config else {
            return None;
        };
        let pin = git.pin().ok()?;
        git.webhook.as_ref().map(|w| (w, pin))
    }

    /// Asks `source` (or every source) to sync; returns the tickets to wait
    /// on, or `None` when no source has that name.
    pub fn trigger(&self, source: Option<&str>) -> Option<Vec<(usize, u64)>> {
        let tickets: Vec<(usize, u64)> = self
            .sources
            .iter()
            .enumerate()
            .filter(|(_, h)| source.is_none_or(|name| &*h.name == name))
            .map(|(index, h)| (index, h.trigger.fire()))
            .collect();
        (source.is_none() || !tickets.is_empty()).then_some(tickets)
    }

    /// Waits until every ticket has been served by a sync.
    pub async fn served(&self, tickets: &[(usize, u64)]) {
        for (index, ticket) in tickets {
            if let Some(handle) = self.sources.get(*index) {
                handle.trigger.served(*ticket).await;
            }
        }
    }

    /// Reads source `index` and activates what changed. Blocks.
    pub fn sync(&self, index: usize, cancel: &AtomicBool) -> Option<SyncOutcome> {
        let handle = self.sources.get(index)?;
        let read = read_source(handle, cancel);
        record_read(&handle.name, &handle.status, &read, &self.metrics);
        let result = match read {
            Ok(None) => Ok(None),
            Ok(Some(read)) => {
                let change = {
                    let mut owners = lock(&self.owners);
                    claim(index, handle, read, &mut owners)
                };
                let report = self.registry.activate(change);
                self.metrics
                    .record_activation(&report, self.registry.load().tenants().len());
                log_sync(&handle.name, &report);
                Ok(Some(report))
            }
            Err(err) => {
                tracing::warn!(source = %handle.name, error = %err, "cannot read source; nothing changed");
                Err(err)
            }
        };
        Some(SyncOutcome {
            source: handle.name.to_string(),
            result,
        })
    }

    /// Starts one task per source: its watch (if any), its poll timer, and
    /// its triggers. They stop when `stop` turns true.
    pub fn spawn(self: &Arc<Self>, stop: watch::Receiver<bool>) {
        for index in 0..self.sources.len() {
            tokio::spawn(self.clone().run_source(index, stop.clone()));
        }
    }

    async fn run_source(self: Arc<Self>, index: usize, stop: watch::Receiver<bool>) {
        let Some(handle) = self.sources.get(index) else {
            return;
        };
        let (poll, target) = schedule(&handle.config);

        if let Some(target) = target {
            match Watch::start(&target, self.debounce) {
                Ok(mut watch) => {
                    let this = self.clone();
                    let mut stop = stop.clone();
                    tokio::spawn(async move {
                        loop {
                            tokio::select! {
                                _ = stop.wait_for(|s| *s) => return,
                                changed = watch.changed() => {
                                    if changed.is_none() {
                                        return;
                                    }
                                    if let Some(h) = this.sources.get(index) {
                                        h.trigger.fire();
                                    }
                                }
                            }
                        }
                    });
                    // Changes made between the first read and the watch.
                    handle.trigger.fire();
                }
                Err(err) => {
                    tracing::warn!(source = %handle.name, error = %err, "cannot watch source; it reloads only on other triggers");
                }
            }
        }

        let mut stopped = stop.clone();
        let stop_signal = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let this = self.clone();
        handle
            .trigger
            .drive(poll, stop_signal, move || {
                let this = this.clone();
                async move { this.sync_in_background(index).await }
            })
            .await;
    }

    /// Runs [`Self::sync`] on a blocking thread, cancelling a fetch that
    /// takes longer than the configured timeout.
    async fn sync_in_background(self: Arc<Self>, index: usize) {
        let cancel = Arc::new(AtomicBool::new(false));
        let this = self.clone();
        let flag = cancel.clone();
        let mut task = tokio::task::spawn_blocking(move || this.sync(index, &flag));
        let joined = match tokio::time::timeout(self.fetch_timeout, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                cancel.store(true, Ordering::SeqCst);
                tracing::warn!(
                    source = self.sources.get(index).map_or("", |h| &*h.name),
                    timeout_secs = self.fetch_timeout.as_secs(),
                    "source read timed out; cancelling it"
                );
                task.await
            }
        };
        if let Err(err) = joined {
            tracing::error!(error = %err, "source sync task failed");
        }
    }
}

/// Builds the reader of one configured source.
fn open(source: &SourceConfig, config: &Config) -> Result<Handle, StartError> {
    let name: Arc<str> = Arc::from(source.name());
    let invalid = |reason: String| StartError::Config {
        name: name.to_string(),
        reason,
    };
    let (reader, status) = match source {
        SourceConfig::Directory(dir) => (
            Reader::Directory(DirectorySource::new(&dir.path)),
            SourceStatus {
                kind: "directory",
                location: dir.path.display().to_string(),
                ..SourceStatus::default()
            },
        ),
        SourceConfig::Bundle(bundle) => (
            Reader::Bundle(BundleFileSource::new(&bundle.path, bundle.tenant.clone())),
            SourceStatus {
                kind: "bundle",
                location: bundle.path.display().to_string(),
                ..SourceStatus::default()
            },
        ),
        SourceConfig::Git(git) => {
            let reader = GitSource::new(git, &config.reload.cache_dir).map_err(invalid)?;
            let pin = reader.describe_pin();
            (
                Reader::Git(reader),
                SourceStatus {
                    kind: "git",
                    location: without_credentials(&git.url),
                    pin: Some(pin),
                    ..SourceStatus::default()
                },
            )
        }
    };
    let verifier = match &source.common().signing {
        Some(signing) => {
            Some(Verifier::new(signing, &config.keys).map_err(|err| invalid(err.to_string()))?)
        }
        None => None,
    };
    let limits = BundleLimits {
        keep_all_files: verifier.is_some(),
        ..config.bundles.limits
    };
    Ok(Handle {
        status: Mutex::new(SourceStatus {
            name: name.to_string(),
            ..status
        }),
        name,
        config: source.clone(),
        limits,
        verifier,
        reader: Mutex::new(reader),
        trigger: Trigger::default(),
    })
}

/// When a source is read besides explicit triggers: its poll interval and
/// what to watch.
fn schedule(config: &SourceConfig) -> (Option<Duration>, Option<Target>) {
    let poll = Some(config.common().poll_interval_secs)
        .filter(|secs| *secs > 0)
        .map(Duration::from_secs);
    let target = match config {
        SourceConfig::Directory(dir) if dir.watch => Some(Target::Folder(dir.path.clone())),
        SourceConfig::Bundle(bundle) if bundle.watch => Some(Target::File(bundle.path.clone())),
        _ => None,
    };
    (poll, target)
}

/// Reads one source. `Ok(None)`: a Git source whose commit has not moved.
fn read_source(handle: &Handle, cancel: &AtomicBool) -> Result<Option<SourceRead>, String> {
    let limits = &handle.limits;
    let mut reader = lock(&handle.reader);
    match &mut *reader {
        Reader::Directory(dir) => dir.read(limits).map(Some).map_err(|e| e.to_string()),
        Reader::Bundle(file) => file.read(limits).map(Some).map_err(|e| e.to_string()),
        Reader::Git(git) => git.read(limits, cancel).map_err(|e| e.to_string()),
    }
}

/// Claims what source `index` read (see [`to_change`]), checking each
/// bundle's signature on the way and marking where it came from.
fn claim(index: usize, handle: &Handle, read: SourceRead, owners: &mut Owners) -> Change {
    let origin = Origin {
        source: Some(handle.name.clone()),
        commit: read.commit.clone(),
        test_gate: handle.config.common().test_gate,
    };
    let incoming = |files: Result<BundleFiles, BundleError>| Incoming {
        files: files.and_then(|files| {
            match &handle.verifier {
                Some(verifier) => verifier.verify(&files),
                None => refuse_signed(&files),
            }?;
            Ok(files)
        }),
        origin: origin.clone(),
    };
    to_change(index, &handle.name, read, owners, incoming)
}

/// One line per sync that changed something.
fn log_sync(source: &str, report: &ActivationReport) {
    if report.activated.is_empty() && report.removed.is_empty() && report.failed.is_empty() {
        return;
    }
    tracing::info!(
        source,
        generation = report.generation,
        activated = ?report.activated,
        removed = ?report.removed,
        failed = ?report.failed.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        unchanged = report.unchanged.len(),
        "source synced"
    );
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
