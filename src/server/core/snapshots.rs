//! When to roll the txn log and write a snapshot, and writing it.
//!
//! As ZooKeeper's SyncRequestProcessor: after snapCount/2 + rand(snapCount/2) txns the log
//! is rolled and a snapshot of the tree is written, named by the last applied zxid.
//! The snapshot is taken on the core between batches (exact, not fuzzy), on a
//! `block_in_place` section so the runtime's other worker keeps serving connections.

use super::Core;
use crate::server::startup;
use crate::storage;

pub(super) struct SnapshotSchedule {
    pub txns_since: u64,
    pub threshold: u64,
    /// Roll the log after the next persisted batch.
    pub roll_pending: bool,
    /// Write a snapshot once the txns before the roll are applied.
    pub due: bool,
}

/// A cheap random number for the snapCount jitter (no crypto needed).
fn jitter(bound: u64) -> u64 {
    if bound == 0 {
        return 0;
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
        .unwrap_or(0);
    (t.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) % bound
}

impl SnapshotSchedule {
    pub fn new(snap_count: u64) -> Self {
        let mut s = SnapshotSchedule {
            txns_since: 0,
            threshold: 0,
            roll_pending: false,
            due: false,
        };
        s.reset(snap_count);
        s
    }
    fn reset(&mut self, snap_count: u64) {
        self.txns_since = 0;
        let half = (snap_count / 2).max(1);
        self.threshold = half + jitter(half);
    }
    pub fn arm(&mut self, snap_count: u64) {
        self.roll_pending = true;
        self.due = true;
        self.reset(snap_count);
    }
}

impl Core {
    pub(super) fn take_snapshot(&mut self) {
        self.snapshots.due = false;
        let Some(dir) = self.settings.data_dir.as_ref() else {
            return;
        };
        let dir = storage::version_dir(dir);
        let sessions = self.sessions.all();
        let zxid = self.last_applied;
        let started = std::time::Instant::now();
        let write = || startup::write_snapshot(&dir, &self.tree, &sessions, zxid);
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let res = if multi_thread {
            tokio::task::block_in_place(write)
        } else {
            write()
        };
        match res {
            Ok(()) => tracing::info!(
                "snapshot 0x{zxid:x} of {} znodes written in {} ms",
                self.tree.node_count(),
                started.elapsed().as_millis()
            ),
            // A failed snapshot loses nothing (the logs hold every txn); say so loudly.
            Err(e) => tracing::error!("cannot write snapshot 0x{zxid:x} in {}: {e}", dir.display()),
        }
    }
}
