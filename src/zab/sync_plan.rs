//! How a leader brings one learner up to date: Java's `LearnerHandler.syncFollower` (and
//! `queueCommittedProposals`) as a pure decision over the learner's last zxid, the
//! leader's `lastProcessedZxid` and its in-memory ring of committed proposals.
//!
//! Owns: the choice between an empty DIFF, a DIFF followed by PROPOSAL+COMMIT pairs, a
//! TRUNC, a TRUNC followed by pairs (same epoch only), and a SNAP; and the zxid the
//! learner will be at once the plan's packets are queued (where `startForwarding`
//! continues from).
//! Must never: build or send packets, touch the snapshot, or do I/O.
//!
//! Out of scope: Java's DIFF from the on-disk txn log (`peerLastZxid < minCommittedLog`
//! with `txnLogSyncEnabled`). Java only takes it when the txn-log files are smaller than
//! `snapshotSizeFactor` × the snapshot, and it measures the *file lengths*, which include
//! the 64 MiB preallocation, so at default settings it never does (a peer 603 txns behind
//! gets a SNAP in the S08 capture). Here that case is always a SNAP.

use super::committed::{CommittedLog, Proposal};
use super::zxid::{epoch_of, is_epoch_start};

/// What the leader queues for a learner before NEWLEADER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// DIFF(`zxid`), then PROPOSAL+COMMIT for each proposal (none: the empty DIFF).
    Diff { zxid: i64, proposals: Vec<Proposal> },
    /// TRUNC(`zxid`), nothing else: the learner has txns above the leader's newest.
    Trunc { zxid: i64 },
    /// TRUNC(`zxid`) then PROPOSAL+COMMIT pairs: the learner has a txn the leader lacks,
    /// and the leader's next proposal is in the same epoch (never seen in the captures).
    TruncDiff { zxid: i64, proposals: Vec<Proposal> },
    /// SNAP(`zxid` = the leader's lastProcessedZxid) and the snapshot body.
    Snap { zxid: i64 },
}

/// A plan and the zxid the learner has once it is applied (Java's `currentZxid`, the
/// argument to `startForwarding`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncChoice {
    pub plan: SyncPlan,
    pub synced_to: i64,
}

/// Java's `syncFollower` for a learner whose last logged zxid is `peer_last_zxid`
/// (its ACKEPOCH zxid). `last_processed_zxid` is the leader's tree; `log` its ring of
/// committed proposals; `force_snap` is `zookeeper.forceSnapshotSync`.
pub fn plan_sync(
    peer_last_zxid: i64,
    last_processed_zxid: i64,
    log: &CommittedLog,
    force_snap: bool,
) -> SyncChoice {
    let snap = SyncChoice {
        plan: SyncPlan::Snap {
            zxid: last_processed_zxid,
        },
        synced_to: last_processed_zxid,
    };
    // An empty ring reads as [lastProcessed, lastProcessed], as Java sets it.
    let (min, max) = match (log.min_zxid(), log.max_zxid()) {
        (Some(lo), Some(hi)) => (lo, hi),
        _ => (last_processed_zxid, last_processed_zxid),
    };
    let peer_new_epoch = is_epoch_start(peer_last_zxid);
    if force_snap {
        snap
    } else if last_processed_zxid == peer_last_zxid {
        SyncChoice {
            plan: SyncPlan::Diff {
                zxid: peer_last_zxid,
                proposals: Vec::new(),
            },
            synced_to: peer_last_zxid,
        }
    } else if peer_last_zxid > max && !peer_new_epoch {
        SyncChoice {
            plan: SyncPlan::Trunc { zxid: max },
            synced_to: max,
        }
    } else if min <= peer_last_zxid && peer_last_zxid <= max {
        queue_committed(peer_last_zxid, max, log).unwrap_or(snap)
    } else {
        // Below the ring (txn-log DIFF out of scope, see the module doc) or an
        // epoch-start zxid above it: Java's "unhandled scenario" → SNAP.
        snap
    }
}

/// `queueCommittedProposals` over the ring for a peer within [min, max]; `None` where
/// Java falls back to a SNAP (a TRUNC would cross an epoch).
fn queue_committed(peer: i64, max: i64, log: &CommittedLog) -> Option<SyncChoice> {
    let peer_new_epoch = is_epoch_start(peer);
    let mut op: Option<SyncPlan> = None;
    let mut proposals = Vec::new();
    let mut queued = peer;
    let mut prev = -1i64;
    for p in log.iter() {
        let z = p.zxid;
        if z < peer {
            prev = z;
            continue;
        }
        if op.is_none() {
            if z == peer {
                op = Some(SyncPlan::Diff {
                    zxid: max,
                    proposals: Vec::new(),
                });
                continue;
            }
            if peer_new_epoch {
                op = Some(SyncPlan::Diff {
                    zxid: max,
                    proposals: Vec::new(),
                });
            } else {
                // z > peer: the peer has a txn we never saw (an old leader's).
                if epoch_of(z) != epoch_of(peer) {
                    return None; // "Cannot send TRUNC to peer ... different epoch"
                }
                op = Some(SyncPlan::TruncDiff {
                    zxid: prev,
                    proposals: Vec::new(),
                });
            }
        }
        if z <= queued {
            continue;
        }
        proposals.push(p.clone());
        queued = z;
    }
    let plan = match op {
        Some(SyncPlan::Diff { zxid, .. }) => SyncPlan::Diff { zxid, proposals },
        Some(SyncPlan::TruncDiff { zxid, .. }) => SyncPlan::TruncDiff { zxid, proposals },
        // Nothing at or above the peer: only an epoch-start peer gets the empty DIFF.
        _ if peer_new_epoch => SyncPlan::Diff {
            zxid: max,
            proposals,
        },
        _ => return None,
    };
    Some(SyncChoice {
        plan,
        synced_to: queued,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::zxid::make;
    use bytes::Bytes;

    fn ring(zxids: &[i64]) -> CommittedLog {
        let mut l = CommittedLog::new(500);
        for &z in zxids {
            l.add(z, Bytes::from(z.to_be_bytes().to_vec())).unwrap();
        }
        l
    }

    fn range(epoch: i64, lo: i64, hi: i64) -> Vec<i64> {
        (lo..=hi).map(|c| make(epoch, c)).collect()
    }

    fn diff_zxids(s: &SyncChoice) -> (i64, Vec<i64>) {
        match &s.plan {
            SyncPlan::Diff { zxid, proposals } => {
                (*zxid, proposals.iter().map(|p| p.zxid).collect())
            }
            other => panic!("not a DIFF: {other:?}"),
        }
    }

    #[test]
    fn s01_fresh_empty_diff() {
        // Fresh ensemble: nothing anywhere, peer at 0 → DIFF 0x0.
        let s = plan_sync(0, 0, &CommittedLog::new(500), false);
        assert_eq!(diff_zxids(&s), (0, vec![]));
        assert_eq!(s.synced_to, 0);
    }

    #[test]
    fn s06_in_sync_empty_diff() {
        let l = ring(&range(1, 1, 0x1b));
        let s = plan_sync(make(1, 0x1b), make(1, 0x1b), &l, false);
        assert_eq!(diff_zxids(&s), (make(1, 0x1b), vec![]));
    }

    #[test]
    fn s07_diff_with_seven_pairs() {
        let l = ring(&range(1, 1, 0x22));
        let s = plan_sync(make(1, 0x1b), make(1, 0x22), &l, false);
        assert_eq!(diff_zxids(&s), (make(1, 0x22), range(1, 0x1c, 0x22)));
        assert_eq!(s.synced_to, make(1, 0x22));
        // The bytes travel with the zxids.
        if let SyncPlan::Diff { proposals, .. } = &s.plan {
            assert_eq!(&proposals[0].data[..], &make(1, 0x1c).to_be_bytes());
        }
    }

    #[test]
    fn s08_far_behind_snaps() {
        // 603 txns behind with a 500-entry ring (3.9 semantics: exactly 500 held).
        let l = ring(&range(1, 1, 0x27d));
        assert!(l.min_zxid().unwrap() > make(1, 0x22));
        let s = plan_sync(make(1, 0x22), make(1, 0x27d), &l, false);
        assert_eq!(
            s.plan,
            SyncPlan::Snap {
                zxid: make(1, 0x27d)
            }
        );
        assert_eq!(s.synced_to, make(1, 0x27d));
    }

    #[test]
    fn s09_trunc_old_leader() {
        // New leader (epoch 2, nothing committed yet): lastProcessed = 0x200000000,
        // ring ends at 0x10000027e, the old leader logged 0x10000027f.
        let l = ring(&range(1, 0x27e - 499, 0x27e));
        let s = plan_sync(make(1, 0x27f), make(2, 0), &l, false);
        assert_eq!(
            s.plan,
            SyncPlan::Trunc {
                zxid: make(1, 0x27e)
            }
        );
        assert_eq!(s.synced_to, make(1, 0x27e));
        // The other follower at 0x10000027e during the sync phase (lastProcessed is
        // still the loaded 0x10000027e): the empty DIFF.
        let s = plan_sync(make(1, 0x27e), make(1, 0x27e), &l, false);
        assert_eq!(diff_zxids(&s), (make(1, 0x27e), vec![]));
        // ... and after establishment (lastProcessed 0x200000000): DIFF(max), no pairs.
        let s = plan_sync(make(1, 0x27e), make(2, 0), &l, false);
        assert_eq!(diff_zxids(&s), (make(1, 0x27e), vec![]));
    }

    #[test]
    fn s09b_cross_epoch_snaps() {
        let mut z = range(2, 1, 3);
        z.extend(range(3, 1, 4));
        let l = ring(&z);
        let s = plan_sync(make(2, 4), make(3, 4), &l, false);
        assert_eq!(s.plan, SyncPlan::Snap { zxid: make(3, 4) });
        // The follower that has everything of epoch 2 gets the new epoch's pairs.
        let s = plan_sync(make(2, 3), make(3, 4), &l, false);
        assert_eq!(diff_zxids(&s), (make(3, 4), range(3, 1, 4)));
    }

    #[test]
    fn s11_observer_from_zero_snaps_at_epoch_start() {
        let l = ring(&range(3, 1, 4));
        let s = plan_sync(0, make(4, 0), &l, false);
        assert_eq!(s.plan, SyncPlan::Snap { zxid: make(4, 0) });
    }

    #[test]
    fn cross_epoch_and_epoch_start_peers() {
        let mut l = CommittedLog::new(500);
        for c in 1..=4 {
            l.add(make(1, c), Bytes::new()).unwrap();
        }
        l.add(make(2, 1), Bytes::new()).unwrap();
        l.add(make(2, 2), Bytes::new()).unwrap();
        // Peer at 1:5 (never committed), next held proposal 2:1: a TRUNC would cross an
        // epoch, so SNAP.
        assert_eq!(
            plan_sync(make(1, 5), make(2, 2), &l, false).plan,
            SyncPlan::Snap { zxid: make(2, 2) }
        );
        // Peer at the epoch start 2:0 (it synced in epoch 2 and logged nothing): never
        // TRUNC, DIFF with everything above it.
        let s = plan_sync(make(2, 0), make(2, 2), &l, false);
        assert_eq!(diff_zxids(&s), (make(2, 2), range(2, 1, 2)));
        assert_eq!(s.synced_to, make(2, 2));
    }

    #[test]
    fn trunc_then_pairs_within_one_epoch() {
        // The ring jumps from 1:7 to 2:5 (an epoch may start anywhere in the ring); a
        // peer at 2:3 has txns the leader lacks and the next held zxid is in its epoch:
        // Java's TRUNC(previous held zxid) followed by the pairs.
        let mut l = CommittedLog::new(500);
        l.add(make(1, 7), Bytes::new()).unwrap();
        l.add(make(2, 5), Bytes::new()).unwrap();
        l.add(make(2, 6), Bytes::new()).unwrap();
        let s = plan_sync(make(2, 3), make(2, 6), &l, false);
        match s.plan {
            SyncPlan::TruncDiff { zxid, proposals } => {
                assert_eq!(zxid, make(1, 7));
                let z: Vec<i64> = proposals.iter().map(|p| p.zxid).collect();
                assert_eq!(z, vec![make(2, 5), make(2, 6)]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.synced_to, make(2, 6));
    }

    #[test]
    fn edges() {
        let empty = CommittedLog::new(500);
        // Empty ring, peer behind: SNAP at lastProcessed.
        assert_eq!(
            plan_sync(make(1, 3), make(1, 9), &empty, false).plan,
            SyncPlan::Snap { zxid: make(1, 9) }
        );
        // Empty ring, peer ahead (not an epoch start): TRUNC to lastProcessed.
        assert_eq!(
            plan_sync(make(1, 12), make(1, 9), &empty, false).plan,
            SyncPlan::Trunc { zxid: make(1, 9) }
        );
        // Empty ring, peer at a later epoch start: SNAP (Java's unhandled case).
        assert_eq!(
            plan_sync(make(2, 0), make(1, 9), &empty, false).plan,
            SyncPlan::Snap { zxid: make(1, 9) }
        );
        let l = ring(&range(2, 10, 20));
        // Peer exactly at min: pairs for everything after it.
        let s = plan_sync(make(2, 10), make(2, 20), &l, false);
        assert_eq!(diff_zxids(&s), (make(2, 20), range(2, 11, 20)));
        // Peer exactly at max but the tree moved on (after establishment).
        let s = plan_sync(make(2, 20), make(3, 0), &l, false);
        assert_eq!(diff_zxids(&s), (make(2, 20), vec![]));
        assert_eq!(s.synced_to, make(2, 20));
        // Peer one below min: SNAP (txn-log DIFF out of scope).
        assert_eq!(
            plan_sync(make(2, 9), make(2, 20), &l, false).plan,
            SyncPlan::Snap { zxid: make(2, 20) }
        );
        // Peer ahead in an older epoch than our newest: within [min, max] only if the
        // ring spans it; here the ring is all epoch 2 and the peer is 1:0xffff → SNAP.
        assert_eq!(
            plan_sync(make(1, 0xffff), make(2, 20), &l, false).plan,
            SyncPlan::Snap { zxid: make(2, 20) }
        );
        // Peer ahead of everything in our epoch: TRUNC(max).
        assert_eq!(
            plan_sync(make(2, 25), make(2, 20), &l, false).plan,
            SyncPlan::Trunc { zxid: make(2, 20) }
        );
        // forceSnapshotSync wins even when in sync.
        assert_eq!(
            plan_sync(make(2, 20), make(2, 20), &l, true).plan,
            SyncPlan::Snap { zxid: make(2, 20) }
        );
    }
}
