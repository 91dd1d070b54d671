//! Watching a folder or a file with `notify`, debounced.
//!
//! Saving a bundle is rarely one write: an editor writes a temporary file
//! and renames it, `cp -r` writes file after file, a deployment tool
//! replaces a whole folder. Events are therefore gathered until the source
//! has been quiet for the debounce period, and then one reload is asked
//! for. A steady stream of writes cannot postpone the reload for ever: after
//! ten debounce periods it happens anyway.
//!
//! A single file is watched through its folder, because tools replace a
//! file by renaming another one over it, which a watch on the old file
//! would not see.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// A live watch; dropping it stops watching.
#[derive(Debug)]
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
    settled: mpsc::UnboundedReceiver<()>,
}

/// Why a watch could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch `{}`: {source}", path.display())]
pub struct WatchError {
    /// What was to be watched.
    pub path: PathBuf,
    /// The watcher's error.
    pub source: notify::Error,
}

/// What to watch.
#[derive(Debug, Clone)]
pub enum Target {
    /// A folder and everything under it.
    Folder(PathBuf),
    /// One file, through its folder.
    File(PathBuf),
}

impl Watch {
    /// Starts watching `target`. Must be called inside a Tokio runtime.
    pub fn start(target: &Target, debounce: Duration) -> Result<Self, WatchError> {
        let (raw_tx, raw_rx) = mpsc::unbounded_channel::<()>();
        let (folder, mode, only) = match target {
            Target::Folder(path) => (path.clone(), RecursiveMode::Recursive, None),
            Target::File(path) => {
                let folder = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                (
                    folder,
                    RecursiveMode::NonRecursive,
                    path.file_name().map(OsString::from),
                )
            }
        };

        let handler = move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else {
                // An overflowed or failed watch: reload to be safe.
                let _ = raw_tx.send(());
                return;
            };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            let relevant = match &only {
                None => true,
                Some(name) => event
                    .paths
                    .iter()
                    .any(|p| p.file_name() == Some(name.as_os_str())),
            };
            if relevant {
                let _ = raw_tx.send(());
            }
        };
        let error = |source| WatchError {
            path: folder.clone(),
            source,
        };
        let mut watcher = notify::recommended_watcher(handler).map_err(error)?;
        watcher.watch(&folder, mode).map_err(error)?;

        let (settled_tx, settled) = mpsc::unbounded_channel();
        tokio::spawn(debounce_events(raw_rx, settled_tx, debounce));
        Ok(Self {
            _watcher: watcher,
            settled,
        })
    }

    /// Waits for the next settled burst of changes. `None` once the watch
    /// has stopped.
    pub async fn changed(&mut self) -> Option<()> {
        self.settled.recv().await
    }
}

/// Turns bursts of raw events into one event each: a burst ends after
/// `quiet` without events, or at the latest ten `quiet` periods after it
/// began.
async fn debounce_events(
    mut raw: mpsc::UnboundedReceiver<()>,
    settled: mpsc::UnboundedSender<()>,
    quiet: Duration,
) {
    while raw.recv().await.is_some() {
        let deadline = tokio::time::Instant::now() + quiet * 10;
        loop {
            let wait = quiet.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            match tokio::time::timeout(wait, raw.recv()).await {
                Ok(Some(())) if tokio::time::Instant::now() < deadline => {}
                Ok(Some(())) | Err(_) => break,
                Ok(None) => return,
            }
        }
        if settled.send(()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_events_settles_into_one() {
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        let (settled_tx, mut settled_rx) = mpsc::unbounded_channel();
        tokio::spawn(debounce_events(
            raw_rx,
            settled_tx,
            Duration::from_millis(100),
        ));

        for _ in 0..20 {
            raw_tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(settled_rx.try_recv(), Ok(()));
        assert!(settled_rx.try_recv().is_err(), "one burst, one event");
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_still_settles_after_ten_periods() {
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        let (settled_tx, mut settled_rx) = mpsc::unbounded_channel();
        tokio::spawn(debounce_events(
            raw_rx,
            settled_tx,
            Duration::from_millis(100),
        ));

        // An event every 50 ms for 1.5 s never leaves 100 ms of quiet.
        for _ in 0..30 {
            raw_tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(settled_rx.try_recv(), Ok(()));
    }

    #[tokio::test]
    async fn writing_into_a_watched_folder_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::Folder(dir.path().to_path_buf());
        let mut watch = Watch::start(&target, Duration::from_millis(50)).unwrap();
        std::fs::create_dir_all(dir.path().join("tenants/acme")).unwrap();
        std::fs::write(dir.path().join("tenants/acme/p.rego"), "package p\n").unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(30), watch.changed()).await;
        assert_eq!(seen.unwrap(), Some(()));
    }

    #[tokio::test]
    async fn a_watched_file_replaced_by_rename_is_seen_and_its_neighbours_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("acme.tar.gz");
        std::fs::write(&file, b"old").unwrap();
        let mut watch =
            Watch::start(&Target::File(file.clone()), Duration::from_millis(50)).unwrap();

        std::fs::write(dir.path().join("other.txt"), b"x").unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(500), watch.changed()).await;
        assert!(quiet.is_err(), "a neighbour's change is not the file's");

        std::fs::write(dir.path().join(".acme.tmp"), b"new").unwrap();
        std::fs::rename(dir.path().join(".acme.tmp"), &file).unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(30), watch.changed()).await;
        assert_eq!(seen.unwrap(), Some(()));
    }
}
