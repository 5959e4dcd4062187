//! The txn log as a whole: every `log.<zxid>` file of a directory read in zxid order from
//! a given zxid, as Java's `FileTxnLog.read(zxid)` / `FileTxnIterator` (what a leader uses
//! to sync a learner from disk and what `getLastLoggedZxid` scans), and cheap questions
//! about what the logs hold.
//!
//! Owns: choosing the files (the newest one starting at or before the zxid, and every
//! later one), crossing file boundaries, skipping entries below the zxid, ending a file at
//! its zero padding or at a torn (partial) entry and going on with the next file, as Java
//! does. Must never: write or delete anything, or interpret a txn beyond its zxid.

use super::txlog::{LogEnd, LogError, LogFileReader, entry_zxid};
use bytes::Bytes;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// One txn-log entry: its zxid and the txn bytes (TxnHeader + record + TxnDigest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub zxid: i64,
    pub data: Bytes,
}

fn io_err(dir: &Path, source: std::io::Error) -> LogError {
    LogError::Io {
        path: dir.display().to_string(),
        source,
    }
}

/// The log files of `dir` (start zxid, path), oldest first.
pub fn log_files(dir: &Path) -> Result<Vec<(i64, PathBuf)>, LogError> {
    super::list_by_zxid(dir, "log").map_err(|e| io_err(dir, e))
}

/// The files that can hold txns with zxid >= `zxid` (Java's `FileTxnIterator.init`): the
/// newest one starting at or before `zxid` (all of them when none does) and every later
/// one, oldest first.
pub fn files_from(dir: &Path, zxid: i64) -> Result<Vec<(i64, PathBuf)>, LogError> {
    let mut files = log_files(dir)?;
    let first = files.iter().rposition(|(z, _)| *z <= zxid).unwrap_or(0);
    Ok(files.split_off(first))
}

/// Iterates the entries with zxid >= a given zxid across all log files.
pub struct TxnLogIter {
    files: VecDeque<(i64, PathBuf)>,
    current: Option<LogFileReader>,
    from: i64,
    storage_size: u64,
    torn: Option<(String, u64)>,
    done: bool,
}

impl TxnLogIter {
    /// Start at `zxid` in the logs of `dir` (a `version-2` directory). Nothing is read
    /// until the first `next`.
    pub fn open(dir: &Path, zxid: i64) -> Result<Self, LogError> {
        let files = files_from(dir, zxid)?;
        let mut storage_size = 0u64;
        for (_, p) in &files {
            storage_size += std::fs::metadata(p).map_err(|e| io_err(p, e))?.len();
        }
        Ok(TxnLogIter {
            files: files.into(),
            current: None,
            from: zxid,
            storage_size,
            torn: None,
            done: false,
        })
    }

    /// Java's `getStorageSize`: the total length of the files this iterator reads, their
    /// preallocated zero padding included (what `calculateTxnLogSizeLimit` compares).
    pub fn storage_size(&self) -> u64 {
        self.storage_size
    }

    /// The last file that ended in a partial entry, and that entry's offset.
    pub fn torn(&self) -> Option<(&str, u64)> {
        self.torn.as_ref().map(|(p, o)| (p.as_str(), *o))
    }

    fn next_entry(&mut self) -> Result<Option<LogEntry>, LogError> {
        loop {
            let reader = match self.current.as_mut() {
                Some(r) => r,
                None => {
                    let Some((_, path)) = self.files.pop_front() else {
                        return Ok(None);
                    };
                    self.current.insert(LogFileReader::open(&path)?)
                }
            };
            let start = reader.offset();
            match reader.next_entry()? {
                Some(data) => {
                    let zxid = entry_zxid(&data).ok_or_else(|| LogError::ShortEntry {
                        path: reader.path().to_string(),
                        offset: start,
                    })?;
                    if zxid >= self.from {
                        return Ok(Some(LogEntry { zxid, data }));
                    }
                }
                None => {
                    if let Some(LogEnd::Torn(off)) = reader.end() {
                        self.torn = Some((reader.path().to_string(), off));
                    }
                    self.current = None;
                }
            }
        }
    }
}

impl Iterator for TxnLogIter {
    type Item = Result<LogEntry, LogError>;

    /// The next entry; after an error (bad magic, checksum, bad length) it ends.
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The zxid of the oldest entry the logs still hold (None when they hold none): a
/// learner behind it cannot be synced from the logs. Reads one entry per file at most,
/// skipping files left empty by a crash.
pub fn oldest_logged_zxid(dir: &Path) -> Result<Option<i64>, LogError> {
    for (_, path) in log_files(dir)? {
        let mut r = LogFileReader::open(&path)?;
        if let Some(data) = r.next_entry()? {
            let zxid = entry_zxid(&data).ok_or_else(|| LogError::ShortEntry {
                path: path.display().to_string(),
                offset: super::txlog::HEADER_LEN,
            })?;
            return Ok(Some(zxid));
        }
    }
    Ok(None)
}

/// The zxid of the newest entry (Java's `getLastLoggedZxid`, which scans the newest
/// file); older files are tried when the newest holds no entry.
pub fn last_logged_zxid(dir: &Path) -> Result<Option<i64>, LogError> {
    let files = log_files(dir)?;
    for (start, _) in files.iter().rev() {
        let mut last = None;
        for e in TxnLogIter::open(dir, *start)? {
            last = Some(e?.zxid);
        }
        if last.is_some() {
            return Ok(last);
        }
    }
    Ok(None)
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
