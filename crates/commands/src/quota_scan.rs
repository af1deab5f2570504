//! Quota scans: walking a home directory (regular files counted and summed; symbolic links are
//! never followed, so a scan stays inside the home directory) and this process's table of
//! running scans — at most one per user, at most [`MAX_CONCURRENT_SCANS`] at once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use keyward_core::user::username_key;
use keyward_proto::QuotaScan;

use crate::context::Shared;
use crate::output::CommandError;

/// Scans running at once in one process; a further one is refused as overload (503).
pub const MAX_CONCURRENT_SCANS: usize = 4;

/// What a scan found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub size: i64,
    pub files: i64,
}

/// Walks `root` (which may itself be a link to the directory) and sums the sizes of the regular
/// files below it. Links inside are neither followed nor counted; an unreadable directory fails
/// the scan rather than recording a partial count.
pub fn scan_dir(root: &Path) -> std::io::Result<Usage> {
    let meta = std::fs::metadata(root)?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    let mut usage = Usage::default();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            // `file_type` and `metadata` of a directory entry do not follow links.
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let len = entry.metadata()?.len();
                usage.size = usage
                    .size
                    .saturating_add(i64::try_from(len).unwrap_or(i64::MAX));
                usage.files = usage.files.saturating_add(1);
            }
        }
    }
    Ok(usage)
}

/// The running scans of this process, by username key.
#[derive(Default)]
pub struct QuotaScans {
    running: Mutex<BTreeMap<String, QuotaScan>>,
}

impl QuotaScans {
    /// The running scans, by username.
    pub fn list(&self) -> Vec<QuotaScan> {
        self.running
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether a scan of `username` is running.
    pub fn is_running(&self, username: &str) -> bool {
        self.running
            .lock()
            .map(|m| m.contains_key(&username_key(username)))
            .unwrap_or(false)
    }

    /// Registers a scan of `username`: a conflict when one runs already, overload beyond the cap.
    fn try_start(&self, username: &str, start_ms: i64) -> Result<(), CommandError> {
        let mut running = self
            .running
            .lock()
            .map_err(|_| CommandError::Internal("quota scan table poisoned".into()))?;
        let key = username_key(username);
        if running.contains_key(&key) {
            return Err(CommandError::Conflict(format!(
                "a quota scan of user \"{username}\" is already running"
            )));
        }
        if running.len() >= MAX_CONCURRENT_SCANS {
            return Err(CommandError::Overloaded(format!(
                "{MAX_CONCURRENT_SCANS} quota scans are running; try again later"
            )));
        }
        running.insert(
            key,
            QuotaScan {
                username: username.to_string(),
                start_time: start_ms,
            },
        );
        Ok(())
    }
}

/// A registered scan; dropping it (also on a panic or an aborted task) ends the registration.
pub struct ScanSlot {
    shared: Arc<Shared>,
    key: String,
}

impl ScanSlot {
    /// Registers a scan of `username` in `shared`'s table (see [`QuotaScans::try_start`]).
    pub fn acquire(shared: &Arc<Shared>, username: &str) -> Result<ScanSlot, CommandError> {
        let start_ms = shared.clock.now_ms();
        shared.quota_scans.try_start(username, start_ms)?;
        Ok(ScanSlot {
            shared: shared.clone(),
            key: username_key(username),
        })
    }
}

impl Drop for ScanSlot {
    fn drop(&mut self) {
        if let Ok(mut running) = self.shared.quota_scans.running.lock() {
            running.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn counts_regular_files_and_skips_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), vec![0u8; 5000]).unwrap();
        std::fs::write(dir.path().join("a"), b"12345").unwrap();
        std::fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
        std::fs::write(dir.path().join("sub/b"), b"123").unwrap();
        std::fs::write(dir.path().join("sub/deeper/c"), b"").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
            std::os::unix::fs::symlink(outside.path().join("big"), dir.path().join("f")).unwrap();
        }
        assert_eq!(scan_dir(dir.path()).unwrap(), Usage { size: 8, files: 3 });
        assert!(scan_dir(&dir.path().join("a")).is_err());
        assert!(scan_dir(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn one_scan_per_user_and_a_cap() {
        let scans = QuotaScans::default();
        scans.try_start("Alice", 1).unwrap();
        assert!(matches!(
            scans.try_start("alice", 2),
            Err(CommandError::Conflict(_))
        ));
        for u in ["b", "c", "d"] {
            scans.try_start(u, 3).unwrap();
        }
        assert!(matches!(
            scans.try_start("e", 4),
            Err(CommandError::Overloaded(_))
        ));
        assert!(scans.is_running("ALICE"));
        assert_eq!(scans.list().len(), MAX_CONCURRENT_SCANS);
    }
}
