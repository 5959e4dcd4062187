//! When to roll the txn log and write a snapshot, and feeding the snapshot thread.
//!
//! As ZooKeeper's SyncRequestProcessor: after snapCount/2 + rand(snapCount/2) txns the log
//! is rolled and a snapshot is started, named by the last applied zxid. Like ZooKeeper's,
//! the snapshot is fuzzy: the core serializes the tree in pre-order in small chunks
//! between batches while writes continue, so nodes may reflect txns after the snapshot's
//! zxid; replaying the log from that zxid on recovery makes the state exact (apply is
//! idempotent for that). The digest sealed at the end is the tree's at the last chunk.

use super::Core;
use crate::server::snapshotter::{SnapMsg, Snapshotter};
use crate::storage;
use crate::tree::walk::PreorderWalk;
use bytes::BytesMut;
use std::time::Instant;

/// Nodes serialized per step (a step runs between batches of client requests).
const NODES_PER_STEP: usize = 2000;

pub(super) struct SnapshotSchedule {
    pub txns_since: u64,
    pub threshold: u64,
    /// Roll the log after the next persisted batch.
    pub roll_pending: bool,
    /// Start a snapshot at the next opportunity.
    pub due: bool,
}

/// A snapshot being serialized.
pub(super) struct SnapshotJob {
    zxid: i64,
    /// The shared pre-order walk. The tree holds ids back from reuse while it runs, so
    /// an id names the same node or none.
    walk: PreorderWalk,
    out: Snapshotter,
    /// Chunks the snapshot thread had no room for yet, in order.
    pending: std::collections::VecDeque<SnapMsg>,
    started: Instant,
    nodes: u64,
    finished: bool,
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
    /// Start a snapshot (if none is running) of the tree as of the last applied zxid.
    pub(super) fn start_snapshot(&mut self) {
        self.snapshots.due = false;
        if self.snapshot_job.is_some() {
            tracing::warn!(
                "too busy to snapshot: the previous one is still being written; skipping"
            );
            return;
        }
        let Some(dir) = self.settings.data_dir.as_ref() else {
            return;
        };
        let dir = storage::version_dir(dir);
        let zxid = self.last_applied;
        let acls = self
            .shared
            .tree
            .read()
            .acl_cache()
            .entries()
            .map(|(id, l)| (id, l.to_vec()))
            .collect();
        match Snapshotter::start(dir.clone(), zxid, self.sessions.all(), acls) {
            Ok(out) => {
                self.shared.tree.write().hold_ids();
                self.snapshot_job = Some(SnapshotJob {
                    zxid,
                    walk: PreorderWalk::new(),
                    out,
                    pending: Default::default(),
                    started: Instant::now(),
                    nodes: 0,
                    finished: false,
                })
            }
            Err(e) => tracing::error!("cannot start snapshot 0x{zxid:x} in {}: {e}", dir.display()),
        }
    }

    /// Serialize the next chunk of the running snapshot.
    pub(super) fn snapshot_step(&mut self) {
        let Some(job) = self.snapshot_job.as_mut() else {
            return;
        };
        // Hand over what is waiting; if the disk is behind, try again next step.
        while let Some(msg) = job.pending.pop_front() {
            match job.out.try_send(msg) {
                Ok(()) => {}
                Err(Some(m)) => {
                    job.pending.push_front(m);
                    return;
                }
                Err(None) => {
                    if !job.finished {
                        self.shared.tree.write().release_ids();
                    }
                    self.snapshot_job = None;
                    return;
                }
            }
        }
        if job.finished {
            let took = job.started.elapsed().as_millis();
            tracing::info!(
                "snapshot 0x{:x}: {} znodes serialized in {took} ms",
                job.zxid,
                job.nodes
            );
            self.snapshot_job = None;
            return;
        }
        let mut buf = BytesMut::with_capacity(256 * 1024);
        // Read-locked for the chunk only: connection tasks read meanwhile, and only this
        // core ever writes. A node deleted since the snapshot started is simply absent
        // (replay deletes it).
        let t = self.shared.tree.read();
        let n = job.walk.step(&t, NODES_PER_STEP, |path, node| {
            storage::snapshot::encode_node(&mut buf, path, node.data_opt(), node.acl, &node.stat());
            1
        });
        job.nodes += n as u64;
        if !buf.is_empty() {
            job.pending.push_back(SnapMsg::Nodes(buf.freeze()));
        }
        let digest = t.digest();
        drop(t);
        if job.walk.is_done() {
            job.finished = true;
            self.shared.tree.write().release_ids();
            job.pending
                .push_back(SnapMsg::Finish(Some((self.last_applied, digest))));
        }
    }

    pub(super) fn snapshot_running(&self) -> bool {
        self.snapshot_job.is_some()
    }
}
