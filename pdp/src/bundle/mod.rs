//! OPA bundles: a `.manifest`, Rego modules and `data.json` / `data.yaml`
//! files, read from a directory or a `.tar.gz`.
//!
//! This module turns raw files into a checked [`Bundle`]: modules with their
//! Rego syntax version, and one data document assembled from every data file
//! at the path of its folder, as OPA does. It checks what can be checked
//! without compiling Rego (paths, sizes, UTF-8, data conflicts, manifest
//! roots for data). Compiling the modules belongs to [`crate::decision`];
//! checking a bundle's signature to [`signing`].

mod canonical;
mod files;
mod manifest;
pub mod signing;

use std::{path::PathBuf, sync::Arc};

use regorus::Value;

pub use files::{BundleFile, BundleFiles, BundleLimits, FileCollector, is_tarball_name};
pub use manifest::{Manifest, RegoVersion};

/// One Rego module of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegoModule {
    /// Path inside the bundle, used in error locations.
    pub path: String,
    /// The module's source text.
    pub source: Arc<str>,
    /// The syntax it is parsed with.
    pub version: RegoVersion,
}

/// A bundle whose files have been read and checked, ready to compile.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The manifest, or the defaults when the bundle has none.
    pub manifest: Manifest,
    /// The Rego modules, sorted by path.
    pub modules: Vec<RegoModule>,
    /// Every data file merged into one document (an object).
    pub data: Value,
    /// The raw `.signatures.json`, when the bundle carries one.
    pub signatures: Option<Vec<u8>>,
}

/// Why a bundle could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file system refused a read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The path is neither a directory nor a tarball.
    #[error("`{}` is neither a bundle directory nor a `.tar.gz` file", path.display())]
    NotABundle {
        /// The path given.
        path: PathBuf,
    },
    /// The tarball could not be decompressed or unpacked.
    #[error("cannot unpack bundle archive: {reason}")]
    Archive {
        /// The decoder's error.
        reason: String,
    },
    /// Errors from inside a named archive.
    #[error("in `{}`: {source}", path.display())]
    InArchive {
        /// The archive.
        path: PathBuf,
        /// What went wrong inside it.
        source: Box<BundleError>,
    },
    /// A file name that could escape the bundle or cannot be represented.
    #[error("refused bundle entry `{path}`: {reason}")]
    BadPath {
        /// The entry's name as found.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// One file is over the size limit.
    #[error("file `{path}` is larger than the limit of {limit} bytes")]
    FileTooLarge {
        /// The file.
        path: String,
        /// The configured limit.
        limit: u64,
    },
    /// All files together are over the size limit.
    #[error("bundle is larger than the limit of {limit} bytes")]
    BundleTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// The bundle has more entries than allowed.
    #[error("bundle has more than {limit} files and folders")]
    TooManyFiles {
        /// The configured limit.
        limit: usize,
    },
    /// The `.manifest` is malformed.
    #[error("invalid `.manifest`: {reason}")]
    Manifest {
        /// What is wrong with it.
        reason: String,
    },
    /// A Rego file is not UTF-8.
    #[error("file `{path}` is not valid UTF-8")]
    NotUtf8 {
        /// The file.
        path: String,
    },
    /// A data file does not parse.
    #[error("data file `{path}` does not parse: {reason}")]
    Data {
        /// The file.
        path: String,
        /// The parser's message.
        reason: String,
    },
    /// Two data files write the same path.
    #[error("data file `{path}` conflicts with other data at `{at}`")]
    DataConflict {
        /// The file that could not be merged.
        path: String,
        /// The `/`-separated data path where it collides.
        at: String,
    },
    /// A bundle the source held before is gone from it.
    #[error("the bundle is missing from source `{source_name}`")]
    Missing {
        /// The source.
        source_name: String,
    },
    /// A Git tree entry that cannot be part of a bundle.
    #[error("refused Git entry `{path}`: {reason}")]
    GitEntry {
        /// The entry's path inside the bundle.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// The bundle's signature was refused.
    #[error("bundle signature: {0}")]
    Signature(#[from] signing::SignatureError),
    /// Data lies outside the manifest's roots.
    #[error("manifest roots {roots:?} do not permit data at path `/{at}`")]
    DataOutsideRoots {
        /// The manifest's roots.
        roots: Vec<String>,
        /// The offending data path.
        at: String,
    },
}

impl BundleError {
    fn archive(err: std::io::Error) -> Self {
        Self::Archive {
            reason: err.to_string(),
        }
    }

    fn in_archive(self, path: &std::path::Path) -> Self {
        Self::InArchive {
            path: path.to_path_buf(),
            source: Box::new(self),
        }
    }
}

impl Bundle {
    /// Reads and checks the bundle at `path` (directory or tarball).
    pub fn read(path: &std::path::Path, limits: &BundleLimits) -> Result<Self, BundleError> {
        Self::from_files(&BundleFiles::read(path, limits)?)
    }

    /// Checks a set of raw files and assembles the bundle.
    pub fn from_files(files: &BundleFiles) -> Result<Self, BundleError> {
        let manifest = match files.iter().find(|f| f.path == ".manifest") {
            Some(file) => Manifest::parse(&file.bytes)?,
            None => Manifest::default(),
        };

        let mut modules = Vec::new();
        let mut data = Value::new_object();
        let mut signatures = None;
        for file in files.iter() {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path);
            if name.ends_with(".rego") {
                let source =
                    std::str::from_utf8(&file.bytes).map_err(|_| BundleError::NotUtf8 {
                        path: file.path.clone(),
                    })?;
                modules.push(RegoModule {
                    path: file.path.clone(),
                    source: Arc::from(source),
                    version: manifest.rego_version_of(&file.path),
                });
            } else if name == "data.json" || name == "data.yaml" {
                let value = parse_data_file(file)?;
                let at = folder_segments(&file.path);
                check_data_roots(&manifest, &at, &value)?;
                merge_at(&mut data, &at, value, &file.path)?;
            } else if file.path == ".signatures.json" {
                signatures = Some(file.bytes.clone());
            }
        }

        Ok(Self {
            manifest,
            modules,
            data,
            signatures,
        })
    }

    /// The revision from the manifest (empty when it has none).
    pub fn revision(&self) -> &str {
        &self.manifest.revision
    }
}

fn parse_data_file(file: &BundleFile) -> Result<Value, BundleError> {
    let text = std::str::from_utf8(&file.bytes).map_err(|_| BundleError::NotUtf8 {
        path: file.path.clone(),
    })?;
    let data_err = |reason: String| BundleError::Data {
        path: file.path.clone(),
        reason,
    };
    let value = if file.path.ends_with(".json") {
        Value::from_json_str(text).map_err(|e| data_err(format!("{e:#}")))?
    } else {
        Value::from_yaml_str(text).map_err(|e| data_err(format!("{e:#}")))?
    };

    // A data file at the bundle root is merged into `data` itself, so it must
    // be an object; deeper files may hold any JSON value.
    if folder_segments(&file.path).is_empty() && !matches!(value, Value::Object(_)) {
        return Err(data_err(
            "a data file at the bundle root must hold an object".into(),
        ));
    }
    Ok(value)
}

/// The data path of a data file: the folders above it.
fn folder_segments(path: &str) -> Vec<String> {
    let mut segments: Vec<String> = path.split('/').map(str::to_owned).collect();
    segments.pop();
    segments
}

/// Walks `value` and refuses any part of it that lies outside the manifest's
/// roots. Objects that are ancestors of a root are entered, because their
/// keys may lead into it.
fn check_data_roots(manifest: &Manifest, at: &[String], value: &Value) -> Result<(), BundleError> {
    let path: Vec<&str> = at.iter().map(String::as_str).collect();
    if manifest.owns(&path) {
        return Ok(());
    }
    let outside = || BundleError::DataOutsideRoots {
        roots: manifest.roots.clone(),
        at: path.join("/"),
    };
    if !manifest.is_ancestor_of_root(&path) {
        return Err(outside());
    }
    let Value::Object(fields) = value else {
        return Err(outside());
    };
    for (key, child) in fields.iter() {
        let Value::String(key) = key else {
            return Err(outside());
        };
        let mut child_at = at.to_vec();
        child_at.push(key.to_string());
        check_data_roots(manifest, &child_at, child)?;
    }
    Ok(())
}

/// Places `value` at `at` inside `root`, merging objects key by key and
/// refusing to overwrite anything else.
fn merge_at(root: &mut Value, at: &[String], value: Value, file: &str) -> Result<(), BundleError> {
    let conflict = |depth: usize| BundleError::DataConflict {
        path: file.to_owned(),
        at: format!(
            "/{}",
            at.iter().take(depth).cloned().collect::<Vec<_>>().join("/")
        ),
    };

    let mut node = root;
    for (depth, segment) in at.iter().enumerate() {
        let Ok(object) = node.as_object_mut() else {
            return Err(conflict(depth));
        };
        let key = Value::from(segment.as_str());
        if object.get(&key).is_none() {
            object.insert(key.clone(), Value::new_object());
        }
        let Some(next) = object.get_mut(&key) else {
            return Err(conflict(depth + 1));
        };
        node = next;
    }
    merge_values(node, value, at.len()).map_err(conflict)
}

/// Deep-merges `value` into `target`. Objects merge key by key; any other
/// collision is a conflict, reported with the depth where it happened.
fn merge_values(target: &mut Value, value: Value, depth: usize) -> Result<(), usize> {
    let target_is_empty_object = matches!(target, Value::Object(o) if o.is_empty());
    if target_is_empty_object {
        *target = value;
        return Ok(());
    }
    let (Ok(target_obj), Value::Object(source)) = (target.as_object_mut(), &value) else {
        return Err(depth);
    };
    for (key, child) in source.iter() {
        match target_obj.get_mut(key) {
            Some(existing) => merge_values(existing, child.clone(), depth + 1)?,
            None => {
                target_obj.insert(key.clone(), child.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
