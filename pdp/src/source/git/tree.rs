//! Reading the bundle layout out of a Git tree: which bundles a commit
//! holds (by tree or blob id), and the files of one bundle, under the same
//! rules and limits as a folder. Symbolic links are followed only inside
//! their bundle; submodules are refused.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use gix::{ObjectId, bstr::ByteSlice, objs::tree::EntryKind};

use crate::{
    bundle::{BundleError, BundleFiles, BundleLimits, FileCollector, is_tarball_name},
    tenant::TenantName,
};

/// A bundle in the tree: a folder, or a tarball blob.
#[derive(Debug, Clone, Copy)]
pub(super) struct BundleId {
    pub(super) id: ObjectId,
    is_tarball: bool,
}

/// The bundles of the layout at one commit.
#[derive(Debug, Default)]
pub(super) struct Layout {
    pub(super) system: Option<BundleId>,
    pub(super) tenants: BTreeMap<TenantName, BundleId>,
    pub(super) skipped: Vec<(String, String)>,
}

/// Finds `system/` (or `system.tar.gz`) and `tenants/*` in `root`.
pub(super) fn list_layout(root: &gix::Tree<'_>) -> Result<Layout, gix::Error> {
    let mut layout = Layout::default();
    let mut tenants_tree = None;
    for entry in root.iter() {
        let entry = entry?;
        let name = entry.filename().to_str_lossy();
        match (name.as_ref(), entry.mode().kind()) {
            ("system", EntryKind::Tree) => {
                layout.system = Some(BundleId {
                    id: entry.object_id(),
                    is_tarball: false,
                });
            }
            ("system.tar.gz", EntryKind::Blob | EntryKind::BlobExecutable) => {
                layout.system = Some(BundleId {
                    id: entry.object_id(),
                    is_tarball: true,
                });
            }
            ("tenants", EntryKind::Tree) => tenants_tree = Some(entry.object_id()),
            _ => {}
        }
    }
    let Some(tenants_id) = tenants_tree else {
        return Ok(layout);
    };

    let tenants = root.repo().find_tree(tenants_id)?;
    let mut seen = BTreeSet::new();
    for entry in tenants.iter() {
        let entry = entry?;
        let Ok(file_name) = entry.filename().to_str() else {
            let lossy = entry.filename().to_str_lossy().into_owned();
            layout
                .skipped
                .push((lossy, "name is not valid UTF-8".to_owned()));
            continue;
        };
        if file_name.starts_with('.') {
            continue;
        }
        let (name, is_tarball) = match entry.mode().kind() {
            EntryKind::Tree => (file_name, false),
            EntryKind::Blob | EntryKind::BlobExecutable
                if is_tarball_name(Path::new(file_name)) =>
            {
                let stem = file_name
                    .strip_suffix(".tar.gz")
                    .or_else(|| file_name.strip_suffix(".tgz"))
                    .unwrap_or(file_name);
                (stem, true)
            }
            _ => {
                let reason = "not a bundle folder or `.tar.gz`".to_owned();
                layout
                    .skipped
                    .push((format!("tenants/{file_name}"), reason));
                continue;
            }
        };
        match TenantName::parse(name) {
            Ok(tenant) if seen.insert(tenant.clone()) => {
                let id = BundleId {
                    id: entry.object_id(),
                    is_tarball,
                };
                layout.tenants.insert(tenant, id);
            }
            Ok(tenant) => {
                // Folder and tarball for one tenant: neither is trusted.
                layout.tenants.remove(&tenant);
                let reason = "defined both as a folder and as a tarball".to_owned();
                layout.skipped.push((format!("tenants/{name}"), reason));
            }
            Err(err) => layout
                .skipped
                .push((format!("tenants/{file_name}"), err.to_string())),
        }
    }
    Ok(layout)
}

/// Reads one bundle: every file of a folder tree, or a tarball blob.
pub(super) fn read_bundle(
    repo: &gix::Repository,
    bundle: BundleId,
    limits: &BundleLimits,
) -> Result<BundleFiles, BundleError> {
    let git = |err: gix::Error| BundleError::Archive {
        reason: format!("cannot read Git object: {err}"),
    };
    if bundle.is_tarball {
        let size = repo.find_header(bundle.id).map_err(git)?.size();
        if size > limits.max_bundle_bytes {
            return Err(BundleError::BundleTooLarge {
                limit: limits.max_bundle_bytes,
            });
        }
        let blob = repo.find_blob(bundle.id).map_err(git)?;
        return BundleFiles::read_tarball_from(blob.data.as_slice(), limits);
    }

    let root = repo.find_tree(bundle.id).map_err(git)?;
    let mut collector = FileCollector::new(limits);
    let mut pending = vec![(bundle.id, String::new())];
    while let Some((tree_id, prefix)) = pending.pop() {
        let tree = repo.find_tree(tree_id).map_err(git)?;
        for entry in tree.iter() {
            let entry = entry.map_err(git)?;
            let Ok(name) = entry.filename().to_str() else {
                return Err(BundleError::BadPath {
                    path: format!("{prefix}{}", entry.filename().to_str_lossy()),
                    reason: "file name is not valid UTF-8",
                });
            };
            if !collector.admit(name)? {
                continue;
            }
            let path = format!("{prefix}{name}");
            let id = entry.object_id();
            match entry.mode().kind() {
                EntryKind::Tree => pending.push((id, format!("{path}/"))),
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    if collector.wants(name) {
                        add_blob(repo, &mut collector, path, id)?;
                    }
                }
                EntryKind::Link => {
                    if collector.wants(name) {
                        let target = link_target(repo, &root, &path, id)?;
                        add_blob(repo, &mut collector, path, target)?;
                    }
                }
                EntryKind::Commit => {
                    return Err(BundleError::GitEntry {
                        path,
                        reason: "submodules cannot be part of a bundle".to_owned(),
                    });
                }
            }
        }
    }
    Ok(collector.finish())
}

fn add_blob(
    repo: &gix::Repository,
    collector: &mut FileCollector<'_>,
    path: String,
    id: ObjectId,
) -> Result<(), BundleError> {
    let git = |err: gix::Error| BundleError::Archive {
        reason: format!("cannot read Git object: {err}"),
    };
    let size = repo.find_header(id).map_err(git)?.size();
    collector.check_size(&path, size)?;
    let blob = repo.find_blob(id).map_err(git)?;
    collector.add(path, blob.data.clone())
}

/// Follows a symbolic link stored in the tree. Its target must stay inside
/// the bundle and name a file of it (a link to a link is refused).
fn link_target(
    repo: &gix::Repository,
    bundle_root: &gix::Tree<'_>,
    link_path: &str,
    link_id: ObjectId,
) -> Result<ObjectId, BundleError> {
    let outside = || BundleError::BadPath {
        path: link_path.to_owned(),
        reason: "symbolic link points outside the bundle",
    };
    let blob = repo
        .find_blob(link_id)
        .map_err(|err| BundleError::Archive {
            reason: format!("cannot read Git object: {err}"),
        })?;
    let target = blob.data.to_str().map_err(|_| outside())?;
    if target.starts_with('/') {
        return Err(outside());
    }

    let mut parts: Vec<&str> = link_path.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or_else(outside)?;
            }
            other => parts.push(other),
        }
    }
    let resolved = parts.join("/");
    let entry =
        bundle_root
            .lookup_entry_by_path(&resolved)
            .map_err(|err| BundleError::Archive {
                reason: format!("cannot read Git object: {err}"),
            })?;
    match entry {
        Some(entry) if entry.mode().is_blob() => Ok(entry.object_id()),
        _ => Err(BundleError::GitEntry {
            path: link_path.to_owned(),
            reason: format!("symbolic link target `{resolved}` is not a file of the bundle"),
        }),
    }
}
