//! The leader's txn-log files as the `zab::sync_plan::TxnLogSource` a learner below the
//! committed ring is synced from: Java's `ZKDatabase.getProposalsFromTxnLog` with
//! `calculateTxnLogSizeLimit` and the `FileTxnIterator` it uses.
//!
//! Owns: `zookeeper.snapshotSizeFactor` (default 0.33, above 1 the default, below 0 off);
//! choosing the files as `FileTxnIterator.init` does (the newest one starting *below* the
//! learner's zxid and every later one); Java's size check (the lengths of the files after
//! the one holding the first txn, preallocation included, against factor × the newest
//! valid snapshot's length; a limit of 0 means no limit); and reading the entries up to
//! the ring's oldest zxid through `storage::txlog::LogFileReader`.
//! Must never: write or delete a file, panic on what it reads (a missing, unreadable or
//! corrupt log refuses and the learner gets a SNAP), or decide the sync (`zab::sync_plan`
//! checks what it gets and plans).
//!
//! Beyond Java, on purpose (each refusal is a SNAP, never a different DIFF):
//! * Only txns above the newest snapshot are offered — what recovery itself trusts. A
//!   member that once installed a leader's SNAP still holds the log it had before, which
//!   may be a divergent history with a gap where the snapshot came in (the ring is
//!   reloaded with the same rule; ensemble simulator seed 2389).
//! * At most [`MAX_TXNS`] txns: the sync is queued on the learner's link at once, and the
//!   link drops a learner more than `link::OUT_QUEUE` packets behind.

use crate::server::quorum::PeerState;
use crate::storage::{self, logs, snapshot, txlog};
use crate::zab::committed::Proposal;
use crate::zab::sync_plan::TxnLogSource;
use std::path::{Path, PathBuf};

/// Java's `ZKDatabase.DEFAULT_SNAPSHOT_SIZE_FACTOR`.
pub const DEFAULT_SNAPSHOT_SIZE_FACTOR: f64 = 0.33;

/// The most txns taken from the log for one learner: each is a PROPOSAL and a COMMIT,
/// and half the link's queue stays for the ring's pairs (1000 packets at the default
/// commitLogCount) and the proposals forwarded after them.
pub const MAX_TXNS: usize = super::link::OUT_QUEUE / 4;

/// Why the log is not used for a learner.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("txn-log sync is off (zookeeper.snapshotSizeFactor < 0)")]
    Disabled,
    #[error(
        "txn log size {size} (the files after the one holding the first txn) exceeds the \
         limit {limit} (snapshotSizeFactor x the newest snapshot)"
    )]
    OverSizeLimit { size: u64, limit: i64 },
    #[error("more than {max} txns to send from the txn log")]
    TooMany { max: usize },
    #[error("cannot read the txn log: {0}")]
    Unreadable(String),
}

/// `zookeeper.snapshotSizeFactor` (either spelling) as ZKDatabase reads it: a bad number
/// or one above 1 is the default; a negative one turns txn-log sync off.
pub fn snapshot_size_factor(conf_lines: &[(String, String)]) -> f64 {
    let get = |k: &str| conf_lines.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    let Some(v) = get("zookeeper.snapshotSizeFactor").or_else(|| get("snapshotSizeFactor")) else {
        return DEFAULT_SNAPSHOT_SIZE_FACTOR;
    };
    // Double.parseDouble: surrounding blanks and a trailing d/f type suffix are allowed.
    let t = v.trim();
    let t = t
        .strip_suffix(['d', 'D', 'f', 'F'])
        .filter(|r| !r.is_empty() && !r.ends_with(['d', 'D', 'f', 'F']))
        .unwrap_or(t);
    match t.parse::<f64>() {
        Ok(f) if f > 1.0 => {
            tracing::warn!(
                "The configured zookeeper.snapshotSizeFactor is invalid, going to use the default {DEFAULT_SNAPSHOT_SIZE_FACTOR}"
            );
            DEFAULT_SNAPSHOT_SIZE_FACTOR
        }
        Ok(f) => f,
        Err(_) => {
            tracing::error!(
                "Error parsing zookeeper.snapshotSizeFactor {v:?}, using default value {DEFAULT_SNAPSHOT_SIZE_FACTOR}"
            );
            DEFAULT_SNAPSHOT_SIZE_FACTOR
        }
    }
}

/// A leader's txn log and snapshots on disk.
#[derive(Debug, Clone)]
pub struct DiskTxnLog {
    /// `<dataLogDir>/version-2`.
    log_dir: PathBuf,
    /// `<dataDir>/version-2`.
    snap_dir: PathBuf,
    factor: f64,
    /// Largest entry accepted (jute.maxbuffer + extrasize, as recovery).
    max_entry: usize,
    max_txns: usize,
}

impl DiskTxnLog {
    pub fn new(log_dir: &Path, snap_dir: &Path, factor: f64, max_entry: usize) -> Self {
        DiskTxnLog {
            log_dir: log_dir.to_path_buf(),
            snap_dir: snap_dir.to_path_buf(),
            factor,
            max_entry,
            max_txns: MAX_TXNS,
        }
    }

    /// The member's log and snapshot directories and settings; `None` without a data
    /// directory (nothing on disk to sync from).
    pub fn for_member(st: &PeerState) -> Option<Self> {
        let factor = snapshot_size_factor(&st.settings.conf_lines);
        Some(Self::new(
            &st.log_dir()?,
            &st.snap_dir()?,
            factor,
            st.settings.jute_limits().field(),
        ))
    }

    /// Cap the txns taken (tests).
    pub fn with_max_txns(mut self, n: usize) -> Self {
        self.max_txns = n;
        self
    }

    /// The logged txns for a learner at `peer` through `upto`, oldest first: the last
    /// one below `peer` (if the files hold one) and every one from `peer` on. Only txns
    /// above the newest snapshot are returned.
    pub fn read(&self, peer: i64, upto: i64) -> Result<Vec<Proposal>, Refused> {
        // isTxnLogSyncEnabled: snapshotSizeFactor >= 0 (NaN is not).
        if self.factor.is_nan() || self.factor < 0.0 {
            return Err(Refused::Disabled);
        }
        let unreadable = |e: &dyn std::fmt::Display| Refused::Unreadable(e.to_string());
        let snaps =
            storage::list_by_zxid(&self.snap_dir, "snapshot").map_err(|e| unreadable(&e))?;
        let floor = snaps.last().map(|(z, _)| *z).unwrap_or(0);
        // calculateTxnLogSizeLimit: the newest valid snapshot's length × the factor.
        let snap_len = snaps
            .iter()
            .rev()
            .find(|(_, p)| snapshot::looks_complete(p).unwrap_or(false))
            .and_then(|(_, p)| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .unwrap_or(0);
        let limit = (snap_len as f64 * self.factor) as i64;
        let mut files = logs::log_files(&self.log_dir).map_err(|e| unreadable(&e))?;
        // FileTxnIterator.init: every file starting at or above `peer`, and the newest one
        // starting below it (a file named for `peer` holds it first, yet the one before
        // is read too); all of them when none starts below.
        let first = files.iter().rposition(|(z, _)| *z < peer).unwrap_or(0);
        let files = files.split_off(first);
        let mut out: Vec<Proposal> = Vec::new();
        let mut below: Option<Proposal> = None;
        let mut seen_first = false;
        let mut taken = 0usize;
        'files: for (i, (_, path)) in files.iter().enumerate() {
            let mut r = txlog::LogFileReader::open_with_limit(path, self.max_entry)
                .map_err(|e| unreadable(&e))?;
            while let Some(data) = r.next_entry().map_err(|e| unreadable(&e))? {
                let Some(zxid) = txlog::entry_zxid(&data) else {
                    return Err(Refused::Unreadable(format!(
                        "{}: an entry too short for a TxnHeader",
                        path.display()
                    )));
                };
                if !seen_first {
                    seen_first = true;
                    // getStorageSize: what is left once the first txn's file is open.
                    let size: u64 = files[i + 1..]
                        .iter()
                        .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
                        .sum();
                    if limit > 0 && size > limit as u64 {
                        return Err(Refused::OverSizeLimit { size, limit });
                    }
                }
                if zxid > upto {
                    break 'files;
                }
                if zxid <= floor {
                    continue;
                }
                let p = Proposal { zxid, data };
                if zxid < peer {
                    below = Some(p);
                    continue;
                }
                taken += 1;
                if taken > self.max_txns {
                    return Err(Refused::TooMany { max: self.max_txns });
                }
                if let Some(b) = below.take() {
                    out.push(b);
                }
                out.push(p);
            }
        }
        if out.is_empty()
            && let Some(b) = below
        {
            out.push(b);
        }
        Ok(out)
    }
}

impl TxnLogSource for DiskTxnLog {
    fn proposals(&mut self, peer_last_zxid: i64, upto: i64) -> Option<Vec<Proposal>> {
        match self.read(peer_last_zxid, upto) {
            Ok(v) => Some(v),
            Err(e @ Refused::Unreadable(_)) => {
                tracing::warn!(
                    "not syncing the learner at 0x{peer_last_zxid:x} from the txn log: {e}"
                );
                None
            }
            Err(e) => {
                tracing::info!(
                    "not syncing the learner at 0x{peer_last_zxid:x} from the txn log: {e}"
                );
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "txnlog_sync_tests.rs"]
mod tests;
