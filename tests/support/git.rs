//! Real Git repositories on disk for the reload tests, made with the `git`
//! command line (test set-up only: the service itself reads them with gix).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A repository with a work tree in a temporary folder.
pub struct GitRepo {
    dir: tempfile::TempDir,
}

impl GitRepo {
    /// An empty repository whose first branch is `main`.
    pub fn init() -> anyhow::Result<Self> {
        let repo = Self {
            dir: tempfile::tempdir()?,
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"])?;
        Ok(repo)
    }

    /// The work tree (and repository) folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` at `path` in the work tree, creating folders.
    pub fn write(&self, path: &str, text: &str) -> anyhow::Result<()> {
        let file = self.dir.path().join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, text)?;
        Ok(())
    }

    /// Writes raw bytes at `path`.
    pub fn write_bytes(&self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let file = self.dir.path().join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, bytes)?;
        Ok(())
    }

    /// Removes a file or folder from the work tree.
    pub fn remove(&self, path: &str) -> anyhow::Result<()> {
        let target: PathBuf = self.dir.path().join(path);
        if target.is_dir() {
            std::fs::remove_dir_all(target)?;
        } else {
            std::fs::remove_file(target)?;
        }
        Ok(())
    }

    /// Commits everything in the work tree; returns the commit id.
    pub fn commit(&self, message: &str) -> anyhow::Result<String> {
        self.git(&["add", "--all"])?;
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message])?;
        self.head()
    }

    /// The commit `main` points to.
    pub fn head(&self) -> anyhow::Result<String> {
        Ok(self.git(&["rev-parse", "HEAD"])?.trim().to_owned())
    }

    /// Points tag `name` at `commit` (moving it if it exists).
    pub fn tag(&self, name: &str, commit: &str) -> anyhow::Result<()> {
        self.git(&["tag", "--force", name, commit])?;
        Ok(())
    }

    /// Rewrites the branch to `commit`, as a force push does.
    pub fn reset_hard(&self, commit: &str) -> anyhow::Result<()> {
        self.git(&["reset", "--quiet", "--hard", commit])?;
        Ok(())
    }

    /// Runs `git` in the repository with no user or system configuration.
    pub fn git(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("git")
            .args([
                "-c",
                "user.name=pdp tests",
                "-c",
                "user.email=tests@pdp.invalid",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "tag.gpgsign=false",
            ])
            .args(args)
            .current_dir(self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8(output.stdout)?)
    }
}
