//! Bundle folders for tests: the repository's example bundles, plus extra
//! tenants written per test.

use std::path::{Path, PathBuf};

/// The repository's `bundles/` folder.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles")
}

/// A temporary copy of the example bundles that a test may change.
pub struct BundleDir {
    dir: tempfile::TempDir,
}

impl BundleDir {
    /// Copies the example bundles into a fresh temporary folder.
    pub fn from_examples() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        copy_tree(&examples_dir(), dir.path())?;
        Ok(Self { dir })
    }

    /// The folder holding `system/` and `tenants/`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `files` (path, text) as tenant `name`'s bundle, replacing it.
    pub fn write_tenant(&self, name: &str, files: &[(&str, &str)]) -> anyhow::Result<()> {
        let root = self.dir.path().join("tenants").join(name);
        if root.exists() {
            std::fs::remove_dir_all(&root)?;
        }
        for (path, text) in files {
            let file = root.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(file, text)?;
        }
        Ok(())
    }
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
