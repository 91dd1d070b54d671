//! A Git repository holding the bundle layout, read with `gix`.
//!
//! A local repository (a path or a `file://` URL) is read where it is: no
//! clone, no process, nothing written. A remote one (`https://`, `ssh://`,
//! `git://`, `user@host:path`) is fetched into a bare repository under the
//! configured cache folder, `<cache_dir>/<source>.git`, which is the only
//! place the service writes to. Refspecs are forced (`+`), so a force-pushed
//! branch or a moved tag converges to what the remote has now.
//!
//! Each read resolves the pinned branch, tag or commit. When the commit is
//! the one read last time, nothing more is done. Otherwise each bundle's
//! tree (or tarball blob) id is compared with the last read: Git ids are
//! content hashes, so only the bundles whose id changed are read again.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::atomic::AtomicBool,
};

use gix::ObjectId;

use super::SourceRead;
use crate::{
    bundle::BundleLimits,
    config::{GitPin, GitSourceConfig, is_scp_like},
    tenant::TenantName,
};

mod tree;

use tree::{list_layout, read_bundle};

/// Why a Git source could not be read. The bundles stay as they were.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository cannot be opened.
    #[error("cannot open repository `{location}`: {reason}")]
    Open {
        /// Path or URL.
        location: String,
        /// What gix said.
        reason: String,
    },
    /// Fetching from the remote failed.
    #[error("cannot fetch from `{url}`: {reason}")]
    Fetch {
        /// The remote.
        url: String,
        /// What gix said.
        reason: String,
    },
    /// The cache folder cannot be created.
    #[error("cannot create cache folder `{}`: {source}", path.display())]
    Cache {
        /// The folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The branch, tag or commit does not exist.
    #[error("cannot resolve {what}: {reason}")]
    Resolve {
        /// `branch `main``, and so on.
        what: String,
        /// What gix said.
        reason: String,
    },
    /// The configured subdirectory is not a folder at this commit.
    #[error("folder `{subdir}` not found at commit {commit}")]
    NoSubdir {
        /// The subdirectory.
        subdir: String,
        /// The commit.
        commit: String,
    },
    /// An object of the commit could not be read.
    #[error("cannot read objects of commit {commit}: {reason}")]
    Objects {
        /// The commit.
        commit: String,
        /// What gix said.
        reason: String,
    },
}

/// Where the repository is.
#[derive(Debug, Clone)]
enum Location {
    /// Read in place.
    Local(PathBuf),
    /// Fetched into `cache`.
    Remote { url: String, cache: PathBuf },
}

/// A Git source and what it read last.
#[derive(Debug)]
pub struct GitSource {
    location: Location,
    pin: GitPin,
    subdir: Option<String>,
    /// The commit read last, once every bundle of it was read.
    last_commit: Option<ObjectId>,
    /// The tree or blob id of each bundle as last read.
    last_ids: BTreeMap<Option<TenantName>, ObjectId>,
}

impl GitSource {
    /// A source for `config`, fetching remote repositories into
    /// `cache_dir/<name>.git`.
    pub fn new(config: &GitSourceConfig, cache_dir: &Path) -> Result<Self, String> {
        let pin = config.pin()?;
        let location = if let Some(path) = config.url.strip_prefix("file://") {
            Location::Local(PathBuf::from(path))
        } else if config.url.contains("://") || is_scp_like(&config.url) {
            Location::Remote {
                url: config.url.clone(),
                cache: cache_dir.join(format!("{}.git", config.name)),
            }
        } else {
            Location::Local(PathBuf::from(&config.url))
        };
        let subdir = config
            .subdir
            .as_deref()
            .map(|s| s.trim_matches('/').to_owned())
            .filter(|s| !s.is_empty());
        Ok(Self {
            location,
            pin,
            subdir,
            last_commit: None,
            last_ids: BTreeMap::new(),
        })
    }

    /// What the source follows, for status: `branch main`, `tag v1`, ...
    pub fn describe_pin(&self) -> String {
        match &self.pin {
            GitPin::Branch(b) => format!("branch `{b}`"),
            GitPin::Tag(t) => format!("tag `{t}`"),
            GitPin::Commit(c) => format!("commit `{c}`"),
        }
    }

    /// Forgets what was read, so that the next read reads every bundle.
    pub fn forget(&mut self) {
        self.last_commit = None;
        self.last_ids.clear();
    }

    /// Fetches (when remote), resolves the pin and reads the bundles that
    /// changed. `None`: the commit is the one read last time.
    pub fn read(
        &mut self,
        limits: &BundleLimits,
        cancel: &AtomicBool,
    ) -> Result<Option<SourceRead>, GitError> {
        let repo = self.open_or_fetch(cancel)?;
        let commit = self.resolve(&repo)?;
        if self.last_commit == Some(commit) {
            return Ok(None);
        }
        let hex = commit.to_string();
        let objects = |err: gix::Error| GitError::Objects {
            commit: hex.clone(),
            reason: err.to_string(),
        };

        let mut tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(objects)?;
        if let Some(subdir) = &self.subdir {
            let entry = tree.lookup_entry_by_path(subdir).map_err(objects)?;
            let Some(entry) = entry.filter(|e| e.mode().is_tree()) else {
                return Err(GitError::NoSubdir {
                    subdir: subdir.clone(),
                    commit: hex,
                });
            };
            tree = repo.find_tree(entry.object_id()).map_err(objects)?;
        }

        let layout = list_layout(&tree).map_err(objects)?;
        let mut read = SourceRead {
            commit: Some(hex.clone()),
            ..SourceRead::default()
        };
        let mut ids = BTreeMap::new();
        if let Some(id) = layout.system {
            read.system_present = true;
            if self.last_ids.get(&None) != Some(&id.id) {
                read.system = Some(read_bundle(&repo, id, limits));
            }
            ids.insert(None, id.id);
        }
        for (tenant, id) in layout.tenants {
            read.present.insert(tenant.clone());
            let key = Some(tenant.clone());
            if self.last_ids.get(&key) != Some(&id.id) {
                read.updates.insert(tenant, read_bundle(&repo, id, limits));
            }
            ids.insert(key, id.id);
        }
        read.skipped = layout.skipped;

        self.last_ids = ids;
        self.last_commit = Some(commit);
        Ok(Some(read))
    }

    fn open_or_fetch(&self, cancel: &AtomicBool) -> Result<gix::Repository, GitError> {
        match &self.location {
            Location::Local(path) => {
                gix::open_opts(path, gix::open::Options::isolated()).map_err(|err| GitError::Open {
                    location: path.display().to_string(),
                    reason: err.to_string(),
                })
            }
            Location::Remote { url, cache } => fetch(url, cache, &self.refspecs(), cancel),
        }
    }

    /// What to fetch. Every refspec is forced, so a rewritten branch or a
    /// moved tag replaces what the cache had.
    fn refspecs(&self) -> Vec<String> {
        match &self.pin {
            GitPin::Branch(b) => vec![format!("+refs/heads/{b}:refs/heads/{b}")],
            GitPin::Tag(t) => vec![format!("+refs/tags/{t}:refs/tags/{t}")],
            GitPin::Commit(_) => vec![
                "+refs/heads/*:refs/heads/*".to_owned(),
                "+refs/tags/*:refs/tags/*".to_owned(),
            ],
        }
    }

    fn resolve(&self, repo: &gix::Repository) -> Result<ObjectId, GitError> {
        let failed = |reason: String| GitError::Resolve {
            what: self.describe_pin(),
            reason,
        };
        let reference = match &self.pin {
            GitPin::Branch(b) => format!("refs/heads/{b}"),
            GitPin::Tag(t) => format!("refs/tags/{t}"),
            GitPin::Commit(c) => {
                let id = ObjectId::from_hex(c.as_bytes()).map_err(|e| failed(e.to_string()))?;
                let commit = repo.find_commit(id).map_err(|e| failed(e.to_string()))?;
                return Ok(commit.id);
            }
        };
        let mut found = repo
            .find_reference(reference.as_str())
            .map_err(|e| failed(e.to_string()))?;
        let commit = found.peel_to_commit().map_err(|e| failed(e.to_string()))?;
        Ok(commit.id)
    }
}

/// Fetches `refspecs` from `url` into the bare repository `cache`.
fn fetch(
    url: &str,
    cache: &Path,
    refspecs: &[String],
    cancel: &AtomicBool,
) -> Result<gix::Repository, GitError> {
    let failed = |err: gix::Error| GitError::Fetch {
        url: url.to_owned(),
        reason: err.to_string(),
    };
    let repo = if cache.exists() {
        gix::open_opts(cache, gix::open::Options::isolated()).map_err(|err| GitError::Open {
            location: cache.display().to_string(),
            reason: err.to_string(),
        })?
    } else {
        if let Some(parent) = cache.parent() {
            std::fs::create_dir_all(parent).map_err(|source| GitError::Cache {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        gix::init_bare(cache).map_err(|err| GitError::Open {
            location: cache.display().to_string(),
            reason: err.to_string(),
        })?
    };

    let remote = repo
        .remote_at(url)
        .and_then(|r| {
            r.with_refspecs(
                refspecs.iter().map(String::as_str),
                gix::remote::Direction::Fetch,
            )
        })
        .map_err(failed)?;
    remote
        .connect(gix::remote::Direction::Fetch)
        .and_then(|c| c.prepare_fetch(gix::progress::Discard, Default::default()))
        .and_then(|p| p.receive(gix::progress::Discard, cancel))
        .map_err(failed)?;
    Ok(repo)
}

#[cfg(test)]
mod tests;
