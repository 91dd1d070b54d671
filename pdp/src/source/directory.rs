//! Sources on the local file system: a folder in the bundle layout, and a
//! single tenant's bundle file.
//!
//! Both are read in full on every sync; the registry skips bundles whose
//! files did not change, so a read costs file I/O and hashing, never a
//! compile. A missing folder or file is a source error that changes
//! nothing: a tenant leaves a folder source when its own folder goes, and a
//! bundle-file source's tenant leaves only with the configuration.

use std::path::{Path, PathBuf};

use super::{SourceRead, layout};
use crate::{
    bundle::{BundleError, BundleFiles, BundleLimits},
    tenant::TenantName,
};

/// A folder holding `system/` and `tenants/<tenant>/`.
#[derive(Debug)]
pub struct DirectorySource {
    path: PathBuf,
}

impl DirectorySource {
    /// A source reading `path`.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every bundle of the folder.
    pub fn read(&self, limits: &BundleLimits) -> Result<SourceRead, layout::LayoutError> {
        let entries = layout::list(&self.path)?;
        let files = layout::read(&entries, limits);
        Ok(SourceRead {
            system_present: files.system.is_some(),
            system: files.system,
            present: files.tenants.keys().cloned().collect(),
            updates: files.tenants,
            commit: None,
            skipped: entries
                .invalid
                .into_iter()
                .map(|(path, reason)| (path.display().to_string(), reason))
                .collect(),
        })
    }
}

/// One tenant's bundle, as a `.tar.gz` file (or a folder).
#[derive(Debug)]
pub struct BundleFileSource {
    path: PathBuf,
    tenant: TenantName,
}

impl BundleFileSource {
    /// A source reading `path` as `tenant`'s bundle.
    pub fn new(path: &Path, tenant: TenantName) -> Self {
        Self {
            path: path.to_path_buf(),
            tenant,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the bundle.
    pub fn read(&self, limits: &BundleLimits) -> Result<SourceRead, BundleError> {
        if let Err(source) = std::fs::metadata(&self.path) {
            return Err(BundleError::Io {
                path: self.path.clone(),
                source,
            });
        }
        let files = BundleFiles::read(&self.path, limits);
        Ok(SourceRead {
            present: [self.tenant.clone()].into(),
            updates: [(self.tenant.clone(), files)].into(),
            ..SourceRead::default()
        })
    }
}
