//! The bundle folder layout: `system/` for the guardrails every tenant gets,
//! and `tenants/<tenant>/` for each tenant's own bundle.
//!
//! Either may also be a gzipped tarball: `system.tar.gz`,
//! `tenants/<tenant>.tar.gz`. Tenant names are the folder (or file) names and
//! must be valid tenant names; anything else under `tenants/` is an error,
//! reported per entry, so one misnamed folder does not hide the others.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use crate::{
    bundle::{BundleError, BundleFiles, BundleLimits, is_tarball_name},
    tenant::TenantName,
};

/// Where each bundle of a layout lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutEntries {
    /// The system bundle, if the layout has one.
    pub system: Option<PathBuf>,
    /// Each tenant's bundle.
    pub tenants: BTreeMap<TenantName, PathBuf>,
    /// Entries under `tenants/` that name no valid tenant.
    pub invalid: Vec<(PathBuf, String)>,
}

/// The files of every bundle in a layout.
#[derive(Debug, Default)]
pub struct LayoutFiles {
    /// The system bundle's files, or why they could not be read.
    pub system: Option<Result<BundleFiles, BundleError>>,
    /// Each tenant's files, or why they could not be read.
    pub tenants: BTreeMap<TenantName, Result<BundleFiles, BundleError>>,
}

/// Why a layout could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The root folder cannot be read.
    #[error("cannot read bundle folder `{}`: {source}", path.display())]
    Io {
        /// The folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Both `system/` and `system.tar.gz`, or a tenant as folder and tarball.
    #[error("`{}` and `{}` both define the same bundle", first.display(), second.display())]
    Duplicate {
        /// One definition.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
}

/// Lists the bundles under `root`.
pub fn list(root: &Path) -> Result<LayoutEntries, LayoutError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LayoutError::Io { path, source }
    };
    fs::metadata(root).map_err(io(root))?;

    let system = one_of(&root.join("system"), &root.join("system.tar.gz"))?;

    let mut tenants = BTreeMap::new();
    let mut invalid = Vec::new();
    let tenants_dir = root.join("tenants");
    if tenants_dir.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(&tenants_dir)
            .map_err(io(&tenants_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
                invalid.push((path.clone(), "name is not valid UTF-8".to_owned()));
                continue;
            };
            if file_name.starts_with('.') {
                continue;
            }
            let name = if path.is_dir() {
                file_name
            } else if is_tarball_name(&path) {
                file_name
                    .strip_suffix(".tar.gz")
                    .or_else(|| file_name.strip_suffix(".tgz"))
                    .unwrap_or(file_name)
            } else {
                invalid.push((path.clone(), "not a bundle folder or `.tar.gz`".to_owned()));
                continue;
            };
            match TenantName::parse(name) {
                Ok(tenant) => {
                    if let Some(previous) = tenants.insert(tenant, path.clone()) {
                        return Err(LayoutError::Duplicate {
                            first: previous,
                            second: path,
                        });
                    }
                }
                Err(err) => invalid.push((path.clone(), err.to_string())),
            }
        }
    }

    Ok(LayoutEntries {
        system,
        tenants,
        invalid,
    })
}

fn one_of(dir: &Path, tarball: &Path) -> Result<Option<PathBuf>, LayoutError> {
    match (dir.exists(), tarball.exists()) {
        (true, true) => Err(LayoutError::Duplicate {
            first: dir.to_path_buf(),
            second: tarball.to_path_buf(),
        }),
        (true, false) => Ok(Some(dir.to_path_buf())),
        (false, true) => Ok(Some(tarball.to_path_buf())),
        (false, false) => Ok(None),
    }
}

/// Reads every bundle of a layout. A bundle that cannot be read is reported
/// in place; the others are still read.
pub fn read(entries: &LayoutEntries, limits: &BundleLimits) -> LayoutFiles {
    LayoutFiles {
        system: entries
            .system
            .as_ref()
            .map(|path| BundleFiles::read(path, limits)),
        tenants: entries
            .tenants
            .iter()
            .map(|(name, path)| (name.clone(), BundleFiles::read(path, limits)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_system_and_tenants_in_both_forms() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("system")).unwrap();
        fs::create_dir_all(root.path().join("tenants/acme")).unwrap();
        fs::write(root.path().join("tenants/globex.tar.gz"), b"").unwrap();
        fs::create_dir_all(root.path().join("tenants/Bad_Name")).unwrap();
        fs::write(root.path().join("tenants/notes.txt"), b"").unwrap();

        let entries = list(root.path()).unwrap();
        assert_eq!(entries.system, Some(root.path().join("system")));
        let names: Vec<&str> = entries.tenants.keys().map(TenantName::as_str).collect();
        assert_eq!(names, ["acme", "globex"]);
        assert_eq!(entries.invalid.len(), 2);
    }

    #[test]
    fn a_bundle_defined_twice_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("tenants/acme")).unwrap();
        fs::write(root.path().join("tenants/acme.tar.gz"), b"").unwrap();
        assert!(matches!(
            list(root.path()),
            Err(LayoutError::Duplicate { .. })
        ));
    }

    #[test]
    fn a_missing_root_is_an_error() {
        assert!(matches!(
            list(Path::new("/nonexistent/bundles")),
            Err(LayoutError::Io { .. })
        ));
    }
}
