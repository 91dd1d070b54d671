//! Where bundles come from, and how changes there reach the registry.
//!
//! A source is a folder in the bundle layout ([`directory`]), one tenant's
//! bundle file ([`directory`] too), or a Git repository holding the layout
//! ([`git`]). Each read of a source gives a [`SourceRead`]: which bundles it
//! holds now, with new files for those that may have changed. The
//! [`reloader`] owns the sources: it decides when each is read (polling,
//! [`watch`]ed files, webhooks and manual requests, coalesced by
//! [`trigger`]), which source owns which tenant, and turns each read into
//! one activation of the registry.

pub mod directory;
pub mod git;
pub mod layout;
mod ownership;
pub mod reloader;
mod status;
pub mod trigger;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    bundle::{BundleError, BundleFiles},
    tenant::TenantName,
};

pub use reloader::{Reloader, StartError, SyncOutcome};
pub use status::SourceStatus;

/// What one read of a source found.
#[derive(Debug, Default)]
pub struct SourceRead {
    /// Whether the source holds a system bundle.
    pub system_present: bool,
    /// The system bundle's files, when they may have changed.
    pub system: Option<Result<BundleFiles, BundleError>>,
    /// Every tenant the source holds.
    pub present: BTreeSet<TenantName>,
    /// Files of the tenants that may have changed (a subset of `present`).
    pub updates: BTreeMap<TenantName, Result<BundleFiles, BundleError>>,
    /// The Git commit read, for Git sources.
    pub commit: Option<String>,
    /// Entries that name no bundle, with the reason.
    pub skipped: Vec<(String, String)>,
}
