//! When to roll the txn log and take a snapshot.
//!
//! As ZooKeeper's SyncRequestProcessor: after snapCount/2 + rand(snapCount/2) txns the log
//! is rolled and a snapshot is ordered, named by the last applied zxid. The snapshot
//! itself is written by the shell's snapshot thread from the shared tree, in chunks under
//! the read lock while writes continue (fuzzy, like ZooKeeper's: replaying the log from
//! the snapshot's zxid makes the state exact). While it runs, the tree holds freed node
//! ids back from reuse, so the walk's ids stay meaningful.
//! The AdminServer's `snapshot` orders one too (`snapshot_now`) and is answered with the
//! file when it is on disk.
//! Must never: write files (it only orders the snapshot).

use super::Core;
use crate::jute::records::Acl;

/// A snapshot to write: `snapshot.<zxid>` with these sessions and this ACL table, then
/// the shared tree's nodes.
#[derive(Debug)]
pub struct SnapshotOrder {
    pub zxid: i64,
    pub sessions: Vec<(i64, i32)>,
    pub acls: Vec<(i64, Vec<Acl>)>,
    /// End with 3.9's last-processed-zxid trailer
    /// (`zookeeper.serializeLastProcessedZxid.enabled`).
    pub last_zxid_trailer: bool,
}

/// A snapshot written and synced: its zxid, file and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotWritten {
    pub zxid: i64,
    pub path: std::path::PathBuf,
    pub size: u64,
}

/// What became of a snapshot order (the error says why none was written).
pub type SnapshotOutcome = Result<SnapshotWritten, String>;

/// AdminServer `snapshot` requests waiting on a snapshot.
#[derive(Default)]
pub(super) struct Waiters {
    /// Answered by the snapshot being written.
    running: Vec<tokio::sync::oneshot::Sender<SnapshotOutcome>>,
    /// Asked while it was being written: answered by the next one, ordered when it ends
    /// (a snapshot started before the request would not hold what the asker saw).
    next: Vec<tokio::sync::oneshot::Sender<SnapshotOutcome>>,
}

pub(super) struct SnapshotSchedule {
    pub txns_since: u64,
    pub threshold: u64,
    /// Roll the log after the next persisted batch.
    pub roll_pending: bool,
    /// Order a snapshot at the next opportunity.
    pub due: bool,
    /// xorshift state for the jitter (seeded by the core: deterministic).
    rng: u64,
    /// Learner before UPTODATE: snapCount snapshots wait (see `Core::hold_snapshots`).
    pub held: bool,
}

impl SnapshotSchedule {
    pub fn new(snap_count: u64, seed: u64) -> Self {
        let mut s = SnapshotSchedule {
            txns_since: 0,
            threshold: 0,
            roll_pending: false,
            due: false,
            held: false,
            rng: seed | 1,
        };
        s.reset(snap_count);
        s
    }
    fn jitter(&mut self, bound: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        if bound == 0 { 0 } else { self.rng % bound }
    }
    fn reset(&mut self, snap_count: u64) {
        self.txns_since = 0;
        let half = (snap_count / 2).max(1);
        self.threshold = half + self.jitter(half);
    }
    pub fn arm(&mut self, snap_count: u64) {
        self.roll_pending = true;
        self.due = true;
        self.reset(snap_count);
    }
}

impl Core {
    /// A learner's core until its sync is over (UPTODATE): the txns a DIFF commits at
    /// NEWLEADER may be the old leader's, not yet acknowledged by a quorum; if that leader
    /// dies before its epoch is established, the next one may TRUNC them away, and a
    /// snapCount snapshot of a tree holding them would bring them back at the next load
    /// (found by the ensemble simulator, seed 210 of the lost-voter runs). Java appends
    /// those txns straight to its log, past SyncRequestProcessor's snapCount, likewise.
    pub fn hold_snapshots(&mut self) {
        self.snapshots.held = true;
    }

    /// Serving: snapshots as usual again (one starts now if snapCount was reached).
    pub fn release_snapshots(&mut self) {
        self.snapshots.held = false;
        if self.snapshots.due {
            self.start_snapshot();
        }
    }

    /// Order a snapshot (if none is running) of the tree as of the last applied zxid.
    pub(super) fn start_snapshot(&mut self) {
        self.snapshots.due = false;
        if self.settings.data_dir.is_none() {
            return;
        }
        if self.snapshot_running {
            tracing::warn!(
                "too busy to snapshot: the previous one is still being written; skipping"
            );
            return;
        }
        let mut tree = self.shared.tree.write();
        let acls = tree
            .acl_cache()
            .entries()
            .map(|(id, l)| (id, l.to_vec()))
            .collect();
        tree.hold_ids();
        drop(tree);
        self.snapshot_running = true;
        self.actions.snapshot = Some(SnapshotOrder {
            zxid: self.last_applied,
            sessions: self.sessions.all(),
            acls,
            last_zxid_trailer: self.settings.serialize_last_zxid,
        });
    }

    pub(super) fn snapshot_done(&mut self, outcome: SnapshotOutcome) {
        if self.snapshot_running {
            self.snapshot_running = false;
            self.shared.tree.write().release_ids();
        }
        for w in self.snapshot_waiters.running.drain(..) {
            let _ = w.send(outcome.clone());
        }
        if !self.snapshot_waiters.next.is_empty() {
            let next = std::mem::take(&mut self.snapshot_waiters.next);
            for w in next {
                self.snapshot_now(w);
            }
        }
    }

    /// The AdminServer's `snapshot` (Java's `ZooKeeperServer.takeSnapshot`): a snapshot
    /// of the tree as of now, answered when it is on disk. Refused without a data
    /// directory and while a learner syncs (see `hold_snapshots`).
    pub(super) fn snapshot_now(&mut self, reply: tokio::sync::oneshot::Sender<SnapshotOutcome>) {
        if self.settings.data_dir.is_none() {
            let _ = reply.send(Err("no data directory".into()));
        } else if self.snapshots.held {
            let _ = reply.send(Err("not synced with the leader yet".into()));
        } else if self.snapshot_running {
            self.snapshot_waiters.next.push(reply);
        } else {
            self.start_snapshot();
            self.snapshot_waiters.running.push(reply);
        }
    }
}
