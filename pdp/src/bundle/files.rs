//! The raw files of one bundle, read from a directory or a `.tar.gz`, and the
//! limits that keep a hostile source from exhausting memory or escaping its
//! folder.
//!
//! Reading never writes to disk: a tarball is unpacked into memory, so a
//! crafted entry name can at worst be refused, never written somewhere else.
//! What the files mean (manifest, modules, data) is decided in [`super::Bundle`].

use std::{
    fs,
    io::Read,
    path::{Component, Path, PathBuf},
};

use flate2::read::GzDecoder;

use super::BundleError;

/// Bounds applied while reading a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BundleLimits {
    /// Largest single file, in bytes (after decompression).
    pub max_file_bytes: u64,
    /// Largest bundle, all files together, in bytes (after decompression).
    pub max_bundle_bytes: u64,
    /// Most entries (files and folders) a bundle may hold.
    pub max_files: usize,
    /// Read every file, not only those the service uses. Set (never in the
    /// config file) for sources that verify signatures, whose file list must
    /// match the bundle exactly.
    #[serde(skip)]
    pub keep_all_files: bool,
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 16 * 1024 * 1024,
            max_bundle_bytes: 64 * 1024 * 1024,
            max_files: 10_000,
            keep_all_files: false,
        }
    }
}

/// One file of a bundle, named by its `/`-separated path inside the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Path relative to the bundle root, without a leading `/`.
    pub path: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// Every file of a bundle that the service reads, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleFiles {
    files: Vec<BundleFile>,
}

impl BundleFiles {
    /// Builds a file set from in-memory files (tests, REST writes).
    pub fn from_files(mut files: Vec<BundleFile>) -> Self {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Self { files }
    }

    /// The files, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = &BundleFile> {
        self.files.iter()
    }

    /// The number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the bundle holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Reads a bundle from `path`: a directory, or a file ending in `.tar.gz`
    /// or `.tgz`.
    pub fn read(path: &Path, limits: &BundleLimits) -> Result<Self, BundleError> {
        let meta = fs::metadata(path).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.is_dir() {
            return Self::read_dir(path, limits);
        }
        if is_tarball_name(path) {
            return Self::read_tarball(path, limits);
        }
        Err(BundleError::NotABundle {
            path: path.to_path_buf(),
        })
    }

    /// Reads every relevant file under `root`.
    ///
    /// Hidden entries (a `.git` folder, editor files) are skipped, except the
    /// bundle's own `.manifest` and `.signatures.json`. A symbolic link is
    /// followed only when its target stays inside `root`.
    pub fn read_dir(root: &Path, limits: &BundleLimits) -> Result<Self, BundleError> {
        let canonical_root = fs::canonicalize(root).map_err(|source| BundleError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let mut budget = Budget::new(limits);
        let mut files = Vec::new();
        let mut pending = vec![PathBuf::new()];

        while let Some(rel_dir) = pending.pop() {
            let dir = canonical_root.join(&rel_dir);
            let entries = fs::read_dir(&dir).map_err(|source| BundleError::Io {
                path: dir.clone(),
                source,
            })?;
            for entry in entries {
                let entry = entry.map_err(|source| BundleError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    return Err(BundleError::BadPath {
                        path: rel_dir.join(&name).display().to_string(),
                        reason: "file name is not valid UTF-8",
                    });
                };
                if name.starts_with('.') && !is_dot_file_of_bundle(name) {
                    continue;
                }
                budget.count_entry()?;

                let rel = rel_dir.join(name);
                let full = canonical_root.join(&rel);
                let target = resolve_inside(&canonical_root, &full, &rel)?;
                let meta = fs::metadata(&target).map_err(|source| BundleError::Io {
                    path: full.clone(),
                    source,
                })?;
                if meta.is_dir() {
                    pending.push(rel);
                    continue;
                }
                if !meta.is_file() || !(limits.keep_all_files || is_relevant(name)) {
                    continue;
                }
                let rel_str = slash_path(&rel);
                budget.check_size(&rel_str, meta.len())?;
                let bytes = read_bounded(fs::File::open(&target), &full, &rel_str, limits)?;
                budget.add_bytes(bytes.len() as u64)?;
                files.push(BundleFile {
                    path: rel_str,
                    bytes,
                });
            }
        }

        Ok(Self::from_files(files))
    }

    /// Reads a gzipped tarball in OPA's bundle format.
    ///
    /// Entry names may start with `/` (OPA's own `opa build` writes them that
    /// way); they are taken as relative to the bundle root. Entries that climb
    /// out with `..`, links of any kind and device files are refused.
    pub fn read_tarball(path: &Path, limits: &BundleLimits) -> Result<Self, BundleError> {
        let file = fs::File::open(path).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::read_tarball_from(file, limits).map_err(|err| err.in_archive(path))
    }

    /// Reads a gzipped tarball from any reader.
    pub fn read_tarball_from(
        reader: impl Read,
        limits: &BundleLimits,
    ) -> Result<Self, BundleError> {
        let mut archive = tar::Archive::new(GzDecoder::new(reader));
        let mut budget = Budget::new(limits);
        let mut files = Vec::new();
        let entries = archive.entries().map_err(BundleError::archive)?;

        for entry in entries {
            let mut entry = entry.map_err(BundleError::archive)?;
            let raw_path = entry.path_bytes().into_owned();
            let raw_path = String::from_utf8(raw_path).map_err(|err| BundleError::BadPath {
                path: String::from_utf8_lossy(err.as_bytes()).into_owned(),
                reason: "entry name is not valid UTF-8",
            })?;
            let rel = normalize_archive_path(&raw_path)?;
            budget.count_entry()?;

            let kind = entry.header().entry_type();
            if kind.is_dir() {
                continue;
            }
            if kind.is_symlink() || kind.is_hard_link() {
                return Err(BundleError::BadPath {
                    path: raw_path,
                    reason: "links are not allowed in bundle archives",
                });
            }
            if !kind.is_file() {
                // PAX and GNU extension headers carry metadata for the next
                // entry; the tar reader applies them itself.
                if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
                    continue;
                }
                return Err(BundleError::BadPath {
                    path: raw_path,
                    reason: "only regular files and folders are allowed in bundle archives",
                });
            }

            let name = rel.rsplit('/').next().unwrap_or(&rel);
            let declared = entry.header().size().map_err(BundleError::archive)?;
            budget.check_size(&rel, declared)?;
            if !(limits.keep_all_files || is_relevant(name)) {
                continue;
            }
            let mut bytes = Vec::new();
            (&mut entry)
                .take(limits.max_file_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(BundleError::archive)?;
            budget.check_size(&rel, bytes.len() as u64)?;
            budget.add_bytes(bytes.len() as u64)?;
            if files.iter().any(|f: &BundleFile| f.path == rel) {
                return Err(BundleError::BadPath {
                    path: rel,
                    reason: "the archive holds this path twice",
                });
            }
            files.push(BundleFile { path: rel, bytes });
        }

        Ok(Self::from_files(files))
    }
}

/// Builds a [`BundleFiles`] from entries offered one at a time, such as the
/// entries of a Git tree, under the same rules and limits as a directory:
/// hidden entries other than the bundle's own dot files are skipped, only
/// files the service reads are kept, and every limit applies.
pub struct FileCollector<'a> {
    budget: Budget<'a>,
    files: Vec<BundleFile>,
}

impl<'a> FileCollector<'a> {
    /// An empty collector bound by `limits`.
    pub fn new(limits: &'a BundleLimits) -> Self {
        Self {
            budget: Budget::new(limits),
            files: Vec::new(),
        }
    }

    /// Counts an entry (file or folder) named `name`, and tells whether it
    /// is looked at any further (hidden entries are not).
    pub fn admit(&mut self, name: &str) -> Result<bool, BundleError> {
        if name.starts_with('.') && !is_dot_file_of_bundle(name) {
            return Ok(false);
        }
        self.budget.count_entry()?;
        Ok(true)
    }

    /// Whether a file named `name` is read (Rego, data, manifest,
    /// signatures, or anything when the limits say to keep all files);
    /// other files are skipped unread.
    pub fn wants(&self, name: &str) -> bool {
        self.budget.limits.keep_all_files || is_relevant(name)
    }

    /// Checks a file's size before reading it.
    pub fn check_size(&self, path: &str, len: u64) -> Result<(), BundleError> {
        self.budget.check_size(path, len)
    }

    /// Adds a file read in full.
    pub fn add(&mut self, path: String, bytes: Vec<u8>) -> Result<(), BundleError> {
        self.budget.check_size(&path, bytes.len() as u64)?;
        self.budget.add_bytes(bytes.len() as u64)?;
        self.files.push(BundleFile { path, bytes });
        Ok(())
    }

    /// The files collected.
    pub fn finish(self) -> BundleFiles {
        BundleFiles::from_files(self.files)
    }
}

/// Whether `path` names a bundle tarball.
pub fn is_tarball_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// Files whose content the service needs. Everything else in a bundle (a
/// README, tests data for other tools) is skipped without being read.
fn is_relevant(name: &str) -> bool {
    name.ends_with(".rego")
        || name == "data.json"
        || name == "data.yaml"
        || is_dot_file_of_bundle(name)
}

fn is_dot_file_of_bundle(name: &str) -> bool {
    name == ".manifest" || name == ".signatures.json"
}

/// Follows `full` (which may be a symlink) and checks that it stays inside
/// `root`.
fn resolve_inside(root: &Path, full: &Path, rel: &Path) -> Result<PathBuf, BundleError> {
    let target = fs::canonicalize(full).map_err(|source| BundleError::Io {
        path: full.to_path_buf(),
        source,
    })?;
    if !target.starts_with(root) {
        return Err(BundleError::BadPath {
            path: slash_path(rel),
            reason: "symbolic link points outside the bundle",
        });
    }
    Ok(target)
}

fn read_bounded(
    file: std::io::Result<fs::File>,
    full: &Path,
    rel: &str,
    limits: &BundleLimits,
) -> Result<Vec<u8>, BundleError> {
    let io_err = |source| BundleError::Io {
        path: full.to_path_buf(),
        source,
    };
    let file = file.map_err(io_err)?;
    let mut bytes = Vec::new();
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(BundleError::FileTooLarge {
            path: rel.to_owned(),
            limit: limits.max_file_bytes,
        });
    }
    Ok(bytes)
}

/// Turns a tar entry name into a clean bundle-relative path, refusing any
/// name that could climb out of the bundle.
fn normalize_archive_path(raw: &str) -> Result<String, BundleError> {
    let bad = |reason| BundleError::BadPath {
        path: raw.to_owned(),
        reason,
    };
    if raw.contains('\\') || raw.contains('\0') {
        return Err(bad("entry name holds a backslash or NUL"));
    }

    let mut parts = Vec::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => parts.push(
                part.to_str()
                    .ok_or_else(|| bad("entry name is not valid UTF-8"))?,
            ),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(bad("entry name climbs out with `..`")),
            Component::Prefix(_) => return Err(bad("entry name has a drive prefix")),
        }
    }
    if parts.is_empty() {
        return Err(bad("entry name is empty"));
    }
    Ok(parts.join("/"))
}

fn slash_path(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Running totals checked against [`BundleLimits`] while reading.
struct Budget<'a> {
    limits: &'a BundleLimits,
    entries: usize,
    bytes: u64,
}

impl<'a> Budget<'a> {
    fn new(limits: &'a BundleLimits) -> Self {
        Self {
            limits,
            entries: 0,
            bytes: 0,
        }
    }

    fn count_entry(&mut self) -> Result<(), BundleError> {
        self.entries += 1;
        if self.entries > self.limits.max_files {
            return Err(BundleError::TooManyFiles {
                limit: self.limits.max_files,
            });
        }
        Ok(())
    }

    fn check_size(&self, path: &str, len: u64) -> Result<(), BundleError> {
        if len > self.limits.max_file_bytes {
            return Err(BundleError::FileTooLarge {
                path: path.to_owned(),
                limit: self.limits.max_file_bytes,
            });
        }
        Ok(())
    }

    fn add_bytes(&mut self, len: u64) -> Result<(), BundleError> {
        self.bytes = self.bytes.saturating_add(len);
        if self.bytes > self.limits.max_bundle_bytes {
            return Err(BundleError::BundleTooLarge {
                limit: self.limits.max_bundle_bytes,
            });
        }
        Ok(())
    }
}

impl BundleFiles {
    /// A SHA-256 over every file's path and bytes: equal digests mean equal
    /// bundles, so an unchanged bundle need not be compiled again.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        for file in &self.files {
            hasher.update((file.path.len() as u64).to_be_bytes());
            hasher.update(file.path.as_bytes());
            hasher.update((file.bytes.len() as u64).to_be_bytes());
            hasher.update(&file.bytes);
        }
        hex::encode(hasher.finalize())
    }
}
