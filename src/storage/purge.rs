//! Purging old snapshots and txn logs, as ZooKeeper's PurgeTxnLog (zkCleanup.sh and
//! autopurge): keep the newest `retain` snapshots and every log that may hold txns after
//! the oldest of them.
//!
//! Owns: deciding which files are no longer needed and deleting them. Must never delete a
//! log that a retained snapshot needs for replay, or anything when fewer than `retain`
//! snapshots exist.

use super::{list_by_zxid, version_dir};
use std::io;
use std::path::{Path, PathBuf};

/// What a purge removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged {
    pub snapshots: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
}

/// The files `purge` would delete (no I/O beyond listing).
pub fn plan(data_dir: &Path, data_log_dir: &Path, retain: usize) -> io::Result<Purged> {
    let retain = retain.max(1);
    let snap_dir = version_dir(data_dir);
    let log_dir = version_dir(data_log_dir);
    // Only complete snapshots count (ZooKeeper's findNValidSnapshots): one still being
    // written, or cut short by a crash, is neither retained-as-valid nor deleted.
    let snaps: Vec<(i64, PathBuf)> = list_by_zxid(&snap_dir, "snapshot")?
        .into_iter()
        .filter(|(_, p)| {
            super::snapshot::is_compressed(p) || super::snapshot::looks_complete(p).unwrap_or(false)
        })
        .collect();
    if snaps.len() <= retain {
        return Ok(Purged::default());
    }
    let keep_from = snaps.len() - retain;
    let oldest_kept = snaps[keep_from].0;
    let logs = list_by_zxid(&log_dir, "log")?;
    // The newest log starting at or before the oldest kept snapshot may hold the txns
    // right after it: keep it and everything newer.
    let first_needed = logs
        .iter()
        .rposition(|(z, _)| *z <= oldest_kept)
        .unwrap_or(0);
    Ok(Purged {
        snapshots: snaps[..keep_from].iter().map(|(_, p)| p.clone()).collect(),
        logs: logs[..first_needed]
            .iter()
            .map(|(_, p)| p.clone())
            .collect(),
    })
}

/// Delete what `plan` lists; returns it.
pub fn purge(data_dir: &Path, data_log_dir: &Path, retain: usize) -> io::Result<Purged> {
    let p = plan(data_dir, data_log_dir, retain)?;
    for f in p.snapshots.iter().chain(p.logs.iter()) {
        std::fs::remove_file(f)?;
        tracing::info!("purged {}", f.display());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that passes the complete-snapshot tail check (and serves as a log too).
    fn touch(dir: &Path, name: &str) {
        std::fs::write(dir.join(name), b"0123456789\x00\x00\x00\x01/").unwrap();
    }

    #[test]
    fn keeps_retained_snapshots_and_the_logs_they_need() {
        let d = tempfile::tempdir().unwrap();
        let v = version_dir(d.path());
        std::fs::create_dir_all(&v).unwrap();
        for n in [
            "snapshot.0",
            "snapshot.10",
            "snapshot.20",
            "snapshot.30",
            "log.1",
            "log.b",
            "log.15",
            "log.25",
        ] {
            touch(&v, n);
        }
        let p = purge(d.path(), d.path(), 3).unwrap();
        let names = |v: &[PathBuf]| {
            v.iter()
                .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&p.snapshots), vec!["snapshot.0"]);
        // oldest kept snapshot is 0x10; log.b (0xb) may hold 0x11.. so it stays.
        assert_eq!(names(&p.logs), vec!["log.1"]);
        assert!(v.join("log.b").exists());
        assert!(v.join("snapshot.10").exists());
    }

    #[test]
    fn incomplete_snapshots_neither_count_nor_go() {
        let d = tempfile::tempdir().unwrap();
        let v = version_dir(d.path());
        std::fs::create_dir_all(&v).unwrap();
        for n in ["snapshot.1", "snapshot.2", "snapshot.3", "snapshot.4"] {
            touch(&v, n);
        }
        std::fs::write(v.join("snapshot.5"), b"cut short by a crash").unwrap();
        let p = purge(d.path(), d.path(), 3).unwrap();
        assert_eq!(p.snapshots, vec![v.join("snapshot.1")]);
        assert!(v.join("snapshot.5").exists() && v.join("snapshot.2").exists());
    }

    #[test]
    fn nothing_is_deleted_with_few_snapshots() {
        let d = tempfile::tempdir().unwrap();
        let v = version_dir(d.path());
        std::fs::create_dir_all(&v).unwrap();
        touch(&v, "snapshot.5");
        touch(&v, "log.1");
        assert_eq!(purge(d.path(), d.path(), 3).unwrap(), Purged::default());
    }
}
