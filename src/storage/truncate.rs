//! Truncating the txn log to a zxid: Java's `FileTxnLog.truncate`, what a learner does on
//! TRUNC — keep every entry with zxid <= the target, drop everything after.
//!
//! The file holding the target (the newest starting at or before it) is cut right after
//! the last entry <= the target (its padding and any torn bytes go too; Java's cut file
//! has no padding either) and every later file is deleted. Later files go first, newest
//! first, then the cut: a crash in between leaves a longer prefix, never a hole. Every
//! change is fsynced, the directory included.
//! Unlike Java, a target the logs cannot answer for is refused instead of keeping one entry
//! too many: no log files, a target before the oldest file, or beyond the last entry.
//! Owns: shortening and deleting log files. Must never: touch snapshots (see
//! `snapshots_after`) or anything not named `log.<zxid>`.

use super::txlog::{LogError, LogFileReader, entry_zxid};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// What a truncation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated {
    /// Whether an entry with exactly the target zxid was logged (false: the target lies in
    /// a gap, e.g. an epoch start, and the newest kept entry is below it).
    pub found: bool,
    /// The newest entry kept (None: the cut file keeps no entry).
    pub last_kept: Option<i64>,
    /// The file that was cut, and its new length.
    pub cut: PathBuf,
    pub length: u64,
    /// Later files deleted, newest first.
    pub removed: Vec<PathBuf>,
}

/// Why a truncation was refused or failed (nothing was changed unless `Io` says so).
#[derive(Debug, thiserror::Error)]
pub enum TruncateError {
    #[error(
        "no txn log files found in {0} to truncate (snapshots from an old setup, deleted logs, or a changed dataLogDir?)"
    )]
    NoLogs(String),
    #[error(
        "cannot truncate the txn log to 0x{zxid:x}: the oldest log file starts at 0x{oldest:x}"
    )]
    BeforeLogs { zxid: i64, oldest: i64 },
    #[error("cannot truncate the txn log to 0x{zxid:x}: the log ends at {}", match .last { Some(z) => format!("0x{z:x}"), None => "no entry".into() })]
    BeyondLog { zxid: i64, last: Option<i64> },
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("truncating {path}: {source}")]
    Io { path: String, source: io::Error },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> TruncateError + '_ {
    move |source| TruncateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Keep exactly the entries with zxid <= `zxid` in the logs of `dir` (a `version-2`).
pub fn truncate_log(dir: &Path, zxid: i64) -> Result<Truncated, TruncateError> {
    let files = super::logs::log_files(dir)?;
    let Some((oldest, _)) = files.first() else {
        return Err(TruncateError::NoLogs(dir.display().to_string()));
    };
    let Some(h) = files.iter().rposition(|(z, _)| *z <= zxid) else {
        return Err(TruncateError::BeforeLogs {
            zxid,
            oldest: *oldest,
        });
    };
    let holder = &files[h].1;
    let mut r = LogFileReader::open(holder)?;
    let mut keep = r.offset();
    let (mut found, mut last_kept, mut passed) = (false, None, false);
    while let Some(e) = r.next_entry()? {
        let z = entry_zxid(&e).ok_or_else(|| LogError::ShortEntry {
            path: r.path().to_string(),
            offset: keep,
        })?;
        if z > zxid {
            passed = true;
            break;
        }
        found = z == zxid;
        last_kept = Some(z);
        keep = r.offset();
    }
    drop(r);
    if !passed && !found && h + 1 == files.len() {
        return Err(TruncateError::BeyondLog {
            zxid,
            last: last_kept,
        });
    }
    let mut removed = Vec::new();
    for (_, later) in files[h + 1..].iter().rev() {
        std::fs::remove_file(later).map_err(io_at(later))?;
        removed.push(later.clone());
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
    }
    let f = OpenOptions::new()
        .write(true)
        .open(holder)
        .map_err(io_at(holder))?;
    f.set_len(keep).map_err(io_at(holder))?;
    f.sync_all().map_err(io_at(holder))?;
    sync_dir(dir)?;
    Ok(Truncated {
        found,
        last_kept,
        cut: holder.clone(),
        length: keep,
        removed,
    })
}

fn sync_dir(dir: &Path) -> Result<(), TruncateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

/// Snapshot files in `snap_dir` named by a zxid above `zxid`. Java's TRUNC leaves them in
/// place, and a restart would then load state the truncation removed; a caller that wants
/// recovery to see exactly the truncated prefix removes these too.
pub fn snapshots_after(snap_dir: &Path, zxid: i64) -> io::Result<Vec<PathBuf>> {
    Ok(super::list_by_zxid(snap_dir, "snapshot")?
        .into_iter()
        .filter(|(z, _)| *z > zxid)
        .map(|(_, p)| p)
        .collect())
}

#[cfg(test)]
#[path = "truncate_tests.rs"]
mod tests;
