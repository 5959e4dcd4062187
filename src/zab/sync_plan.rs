//! How a leader brings one learner up to date: Java's `LearnerHandler.syncFollower` (and
//! `queueCommittedProposals`) as a pure decision over the learner's last zxid, the
//! leader's `lastProcessedZxid`, its in-memory ring of committed proposals and, for a
//! learner below the ring, the txns its txn log holds (Java's "Use txnlog and
//! committedLog for peer sid").
//!
//! Owns: the choice between an empty DIFF, a DIFF followed by PROPOSAL+COMMIT pairs, a
//! TRUNC, a TRUNC followed by pairs (same epoch only), and a SNAP; the checks Java makes
//! on the txns it gets from the txn log (they reach back to the learner, they join the
//! ring without a gap, a TRUNC never crosses an epoch); and the zxid the learner will be
//! at once the plan's packets are queued (where `startForwarding` continues from).
//! Must never: build or send packets, touch the snapshot, or do I/O — the txn log comes
//! through a [`TxnLogSource`], which the shell implements over its log files
//! (`server::quorum::txnlog_sync`) and tests implement in memory.
//!
//! The txn-log path (`peerLastZxid < minCommittedLog`): Java asks
//! `ZKDatabase.getProposalsFromTxnLog(peerLastZxid, sizeLimit)` for an iterator starting
//! at the first txn of the newest log file that starts below the peer's zxid; it refuses
//! (SNAP) when that first txn is above the peer's zxid (the log does not reach back) or
//! when the files after that one are longer than `snapshotSizeFactor` × the newest
//! snapshot. The iterator is queued up to and including `minCommittedLog` (a learner
//! missing a txn we hold gets TRUNC to the txn before it, within its epoch only), the
//! ring after it; if the log ends before `minCommittedLog` it is a SNAP after all. The
//! file-length check and the reading are the source's; the rest is here. Two additions,
//! both falling back to SNAP, never changing what a DIFF holds: the txns taken from the
//! log must follow each other (the next counter of the epoch, or counter 1 of a later
//! epoch), so a torn or missing piece of log is never skipped over; and the source only
//! offers txns above the newest snapshot (see `txnlog_sync`).

use super::committed::{CommittedLog, Proposal};
use super::zxid::{counter_of, epoch_of, is_epoch_start};

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
    /// How many of the plan's proposals came from the txn log (the first ones); 0 when
    /// the ring alone served it.
    pub from_txn_log: usize,
}

/// The leader's txn log as `plan_sync_with` sees it (Java's `getProposalsFromTxnLog`).
pub trait TxnLogSource {
    /// The logged txns for a learner last at `peer_last_zxid`, oldest first, through
    /// `upto` at most (later ones are ignored): from where Java's iterator starts (the
    /// first txn of the newest log file starting below `peer_last_zxid`; a source may
    /// leave out all but the last of the txns below `peer_last_zxid`). `None` when the
    /// log may not or cannot be used: txn-log sync disabled, the files over the size
    /// limit, too many txns, unreadable. Called only for a learner below the ring.
    fn proposals(&mut self, peer_last_zxid: i64, upto: i64) -> Option<Vec<Proposal>>;
}

/// No txn log: a learner below the ring gets a SNAP.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTxnLog;

impl TxnLogSource for NoTxnLog {
    fn proposals(&mut self, _peer_last_zxid: i64, _upto: i64) -> Option<Vec<Proposal>> {
        None
    }
}

/// Java's `syncFollower` for a learner whose last logged zxid is `peer_last_zxid`
/// (its ACKEPOCH zxid), from the ring alone (a learner below it gets a SNAP).
pub fn plan_sync(
    peer_last_zxid: i64,
    last_processed_zxid: i64,
    log: &CommittedLog,
    force_snap: bool,
) -> SyncChoice {
    plan_sync_with(
        peer_last_zxid,
        last_processed_zxid,
        log,
        force_snap,
        &mut NoTxnLog,
    )
}

/// Java's `syncFollower`: `last_processed_zxid` is the leader's tree; `log` its ring of
/// committed proposals; `force_snap` is `zookeeper.forceSnapshotSync`; `txn_log` is asked
/// only for a learner below the ring.
pub fn plan_sync_with(
    peer_last_zxid: i64,
    last_processed_zxid: i64,
    log: &CommittedLog,
    force_snap: bool,
    txn_log: &mut dyn TxnLogSource,
) -> SyncChoice {
    let snap = SyncChoice {
        plan: SyncPlan::Snap {
            zxid: last_processed_zxid,
        },
        synced_to: last_processed_zxid,
        from_txn_log: 0,
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
            from_txn_log: 0,
        }
    } else if peer_last_zxid > max && !peer_new_epoch {
        SyncChoice {
            plan: SyncPlan::Trunc { zxid: max },
            synced_to: max,
            from_txn_log: 0,
        }
    } else if min <= peer_last_zxid && peer_last_zxid <= max {
        queue_committed(peer_last_zxid, max, log).unwrap_or(snap)
    } else if peer_last_zxid < min {
        queue_txn_log(peer_last_zxid, min, max, log, txn_log).unwrap_or(snap)
    } else {
        // An epoch-start zxid above the ring: Java's "unhandled scenario" → SNAP.
        snap
    }
}

/// `queueCommittedProposals` over the ring for a peer within [min, max]; `None` where
/// Java falls back to a SNAP (a TRUNC would cross an epoch).
fn queue_committed(peer: i64, max: i64, log: &CommittedLog) -> Option<SyncChoice> {
    let mut q = Queue::default();
    let queued = q.pass(log.iter(), peer, None)?;
    q.finish(max, queued, 0)
}

/// The txn-log branch for a peer below the ring (`min` its oldest zxid, or
/// lastProcessed when it is empty): the log's txns up to and including `min`, then the
/// ring's after it. `None` where Java sends a SNAP instead.
fn queue_txn_log(
    peer: i64,
    min: i64,
    max: i64,
    log: &CommittedLog,
    txn_log: &mut dyn TxnLogSource,
) -> Option<SyncChoice> {
    let logged = txn_log.proposals(peer, min)?;
    // getProposalsFromTxnLog: the iterator must start at or below the peer's zxid.
    if logged.first()?.zxid > peer {
        return None;
    }
    // From the last txn below the peer (its TRUNC point) through the ring's oldest.
    let from = logged.partition_point(|p| p.zxid < peer).saturating_sub(1);
    let to = logged.partition_point(|p| p.zxid <= min).max(from);
    if !follow_each_other(&logged[from..to]) {
        return None;
    }
    let mut q = Queue::default();
    let queued = q.pass(logged.iter(), peer, Some(min))?;
    if queued < min {
        // "Detected gap between end of txnlog and start of committedLog".
        return None;
    }
    let from_txn_log = q.proposals.len();
    let synced_to = q.pass(log.iter(), queued, None)?;
    q.finish(max, synced_to, from_txn_log)
}

/// Whether each zxid follows the one before it in a history: the next counter of the
/// same epoch, or the first txn (counter 1) of a later epoch.
fn follow_each_other(ps: &[Proposal]) -> bool {
    ps.windows(2).all(|w| {
        let (a, b) = (w[0].zxid, w[1].zxid);
        if epoch_of(b) == epoch_of(a) {
            counter_of(b) == counter_of(a) + 1
        } else {
            epoch_of(b) > epoch_of(a) && counter_of(b) == 1
        }
    })
}

/// The op packet `queueCommittedProposals` picks for the first proposal it reaches.
#[derive(Debug, Clone, Copy)]
enum Op {
    Diff,
    /// TRUNC to the last proposal below the peer's zxid.
    Trunc(i64),
}

/// Java's `needOpPacket` (op still `None`) and queued packets, across the passes of one
/// sync (the txn log's, then the ring's).
#[derive(Default)]
struct Queue {
    op: Option<Op>,
    proposals: Vec<Proposal>,
}

impl Queue {
    /// One `queueCommittedProposals(itr, peer, max_zxid, ..)`: the zxid last queued, or
    /// `None` where Java returns before queuing anything ("Cannot send TRUNC to peer ...
    /// peer zxid is from different epoch"), which ends in a SNAP.
    fn pass<'a>(
        &mut self,
        items: impl IntoIterator<Item = &'a Proposal>,
        peer: i64,
        max_zxid: Option<i64>,
    ) -> Option<i64> {
        let peer_new_epoch = is_epoch_start(peer);
        let mut queued = peer;
        let mut prev = -1i64;
        for p in items {
            let z = p.zxid;
            if max_zxid.is_some_and(|m| z > m) {
                break;
            }
            if z < peer {
                prev = z;
                continue;
            }
            if self.op.is_none() {
                if z == peer {
                    self.op = Some(Op::Diff);
                    continue;
                }
                if peer_new_epoch {
                    self.op = Some(Op::Diff);
                } else {
                    // z > peer: the peer has a txn we never saw (an old leader's).
                    if epoch_of(z) != epoch_of(peer) {
                        return None;
                    }
                    self.op = Some(Op::Trunc(prev));
                }
            }
            if z <= queued {
                continue;
            }
            self.proposals.push(p.clone());
            queued = z;
        }
        // Nothing at or above an epoch-start peer: the empty DIFF.
        if self.op.is_none() && peer_new_epoch {
            self.op = Some(Op::Diff);
        }
        Some(queued)
    }

    /// The plan; `None` when no op packet was chosen (Java: "Unhandled scenario ... fall
    /// back to use snapshot").
    fn finish(self, max: i64, synced_to: i64, from_txn_log: usize) -> Option<SyncChoice> {
        let proposals = self.proposals;
        let plan = match self.op? {
            Op::Diff => SyncPlan::Diff {
                zxid: max,
                proposals,
            },
            Op::Trunc(zxid) => SyncPlan::TruncDiff { zxid, proposals },
        };
        Some(SyncChoice {
            plan,
            synced_to,
            from_txn_log,
        })
    }
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
        // 603 txns behind with a 500-entry ring (3.9 semantics: exactly 500 held), and
        // no txn log (the capture's Java leader refused its own there).
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
        // Peer one below min and no txn log: SNAP.
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

    /// A txn log in memory, as a source that returns everything from the start of the
    /// log (as Java's iterator from the first file) through `upto`.
    struct MemLog {
        zxids: Vec<i64>,
        calls: Vec<(i64, i64)>,
        refuse: bool,
    }

    impl MemLog {
        fn new(zxids: Vec<i64>) -> Self {
            MemLog {
                zxids,
                calls: Vec::new(),
                refuse: false,
            }
        }
    }

    impl TxnLogSource for MemLog {
        fn proposals(&mut self, peer: i64, upto: i64) -> Option<Vec<Proposal>> {
            self.calls.push((peer, upto));
            if self.refuse {
                return None;
            }
            Some(
                self.zxids
                    .iter()
                    .filter(|&&z| z <= upto)
                    .map(|&z| Proposal {
                        zxid: z,
                        // Marked, so a test can tell the log's copy from the ring's.
                        data: Bytes::from(vec![0xee]),
                    })
                    .collect(),
            )
        }
    }

    fn with_log(peer: i64, lp: i64, ring: &CommittedLog, src: &mut MemLog) -> SyncChoice {
        plan_sync_with(peer, lp, ring, false, src)
    }

    fn tail_ring(zxids: &[i64], n: usize) -> CommittedLog {
        ring(&zxids[zxids.len() - n..])
    }

    #[test]
    fn txn_log_reaching_back_gives_a_diff_through_the_ring() {
        // 700 txns logged, the ring holds the newest 500 (1:0xc9..1:0x2bc).
        let all = range(1, 1, 700);
        let l = tail_ring(&all, 500);
        let min = l.min_zxid().unwrap();
        let mut src = MemLog::new(all.clone());
        let s = with_log(make(1, 3), make(1, 700), &l, &mut src);
        assert_eq!(diff_zxids(&s), (make(1, 700), range(1, 4, 700)));
        assert_eq!(s.synced_to, make(1, 700));
        // Up to and including the ring's oldest from the log, the rest from the ring.
        assert_eq!(s.from_txn_log, (min - make(1, 3)) as usize);
        assert_eq!(src.calls, vec![(make(1, 3), min)]);
        if let SyncPlan::Diff { proposals, .. } = &s.plan {
            assert_eq!(&proposals[s.from_txn_log - 1].data[..], &[0xee]);
            assert_eq!(proposals[s.from_txn_log - 1].zxid, min);
            assert_eq!(proposals[s.from_txn_log].data, l.get(min + 1).unwrap().data);
        }
        // One below the ring: the ring's oldest is the one txn from the log.
        let s = with_log(min - 1, make(1, 700), &l, &mut src);
        assert_eq!(s.from_txn_log, 1);
        assert_eq!(diff_zxids(&s).1, range(1, 201, 700));
    }

    #[test]
    fn txn_log_not_reaching_back_or_refused_snaps() {
        let all = range(1, 1, 700);
        let l = tail_ring(&all, 500);
        let snap = SyncPlan::Snap { zxid: make(1, 700) };
        // The log starts at 1:10 (older files purged): it does not reach 1:3.
        let mut src = MemLog::new(range(1, 10, 700));
        assert_eq!(with_log(make(1, 3), make(1, 700), &l, &mut src).plan, snap);
        // ... but a peer exactly at its first txn (a file start) is in it.
        let s = with_log(make(1, 10), make(1, 700), &l, &mut src);
        assert_eq!(diff_zxids(&s), (make(1, 700), range(1, 11, 700)));
        // The source refuses (disabled, files over the size limit, unreadable).
        let mut src = MemLog::new(all.clone());
        src.refuse = true;
        let s = with_log(make(1, 3), make(1, 700), &l, &mut src);
        assert_eq!(
            (s.plan, s.synced_to, s.from_txn_log),
            (snap.clone(), make(1, 700), 0)
        );
        // Nothing logged at all.
        let mut src = MemLog::new(vec![]);
        assert_eq!(with_log(make(1, 3), make(1, 700), &l, &mut src).plan, snap);
        // No source: the ring alone.
        assert_eq!(plan_sync(make(1, 3), make(1, 700), &l, false).plan, snap);
    }

    #[test]
    fn txn_log_ending_before_the_ring_or_with_a_hole_snaps() {
        let all = range(1, 1, 700);
        let l = tail_ring(&all, 500);
        let min = l.min_zxid().unwrap();
        let snap = SyncPlan::Snap { zxid: make(1, 700) };
        // The log's newest txn is the peer's: nothing to join the ring with.
        let mut src = MemLog::new(range(1, 1, 50));
        assert_eq!(with_log(make(1, 50), make(1, 700), &l, &mut src).plan, snap);
        // It ends one short of the ring ("gap between end of txnlog and committedLog").
        let mut src = MemLog::new(all.iter().copied().filter(|&z| z < min).collect());
        assert_eq!(with_log(make(1, 3), make(1, 700), &l, &mut src).plan, snap);
        // A hole in the log (a torn file in the middle): never skipped over.
        let holed: Vec<i64> = all.iter().copied().filter(|&z| z != make(1, 100)).collect();
        let mut src = MemLog::new(holed.clone());
        assert_eq!(with_log(make(1, 3), make(1, 700), &l, &mut src).plan, snap);
        // ... unless it is below what the learner has.
        let s = with_log(make(1, 150), make(1, 700), &l, &mut src);
        assert_eq!(diff_zxids(&s), (make(1, 700), range(1, 151, 700)));
        // A hole above the ring's oldest is not looked at (the ring serves that part).
        let mut src = MemLog::new(all.iter().copied().filter(|&z| z != min + 5).collect());
        let s = with_log(make(1, 3), make(1, 700), &l, &mut src);
        assert_eq!(diff_zxids(&s), (make(1, 700), range(1, 4, 700)));
    }

    #[test]
    fn txn_log_overlapping_the_ring_queues_each_txn_once() {
        // A source that hands out more than asked (through the newest txn): the log's
        // copies above the ring's oldest are ignored, the ring's are sent.
        struct All(Vec<i64>);
        impl TxnLogSource for All {
            fn proposals(&mut self, _: i64, _: i64) -> Option<Vec<Proposal>> {
                Some(
                    self.0
                        .iter()
                        .map(|&z| Proposal {
                            zxid: z,
                            data: Bytes::from(vec![0xee]),
                        })
                        .collect(),
                )
            }
        }
        let all = range(1, 1, 600);
        let l = tail_ring(&all, 500);
        let s = plan_sync_with(make(1, 50), make(1, 600), &l, false, &mut All(all.clone()));
        let (zxid, got) = diff_zxids(&s);
        assert_eq!((zxid, got), (make(1, 600), range(1, 51, 600)));
        assert_eq!(s.from_txn_log, 51); // 1:51..=1:101 (the ring starts at 1:101)
        if let SyncPlan::Diff { proposals, .. } = &s.plan {
            assert!(proposals[51..].iter().all(|p| p.data[..] != [0xee]));
        }
    }

    #[test]
    fn txn_log_across_epochs() {
        // Logged: 1:1..1:5, then epoch 2 from 2:1; the ring holds the newest 500.
        let mut all = range(1, 1, 5);
        all.extend(range(2, 1, 600));
        let l = tail_ring(&all, 500);
        let snap = SyncPlan::Snap { zxid: make(2, 600) };
        // A peer in epoch 1 gets the rest of epoch 1 and epoch 2.
        let s = with_log(make(1, 3), make(2, 600), &l, &mut MemLog::new(all.clone()));
        let mut want = range(1, 4, 5);
        want.extend(range(2, 1, 600));
        assert_eq!(diff_zxids(&s), (make(2, 600), want));
        // A peer at the end of epoch 1: all of epoch 2.
        let s = with_log(make(1, 5), make(2, 600), &l, &mut MemLog::new(all.clone()));
        assert_eq!(diff_zxids(&s), (make(2, 600), range(2, 1, 600)));
        // A peer at the epoch start 2:0 (synced in epoch 2, logged nothing): DIFF,
        // never TRUNC, although 2:0 is no txn of the log.
        let s = with_log(make(2, 0), make(2, 600), &l, &mut MemLog::new(all.clone()));
        assert_eq!(diff_zxids(&s), (make(2, 600), range(2, 1, 600)));
        // A peer with 1:6, which never made it (an old leader's): the next txn we hold
        // is 2:1, another epoch, so no TRUNC: SNAP.
        let s = with_log(make(1, 6), make(2, 600), &l, &mut MemLog::new(all.clone()));
        assert_eq!(s.plan, snap);
        // Epoch 2 must start at its counter 1: a log jumping from 1:5 to 2:7 has lost
        // 2:1..2:6 (a SNAP that member once installed), so it is not used.
        let mut jumped = range(1, 1, 5);
        jumped.extend(range(2, 7, 600));
        let l2 = tail_ring(&jumped, 500);
        let s = with_log(make(1, 3), make(2, 600), &l2, &mut MemLog::new(jumped));
        assert_eq!(s.plan, snap);
    }

    #[test]
    fn txn_log_trunc_within_an_epoch_needs_a_hole_so_it_snaps() {
        // Java would TRUNC(2:3) and send 2:6.. for a peer at 2:4 when the log goes
        // 2:3 → 2:6; a leader's log never skips counters, so that is a damaged log here.
        let mut z = range(2, 1, 3);
        z.extend(range(2, 6, 600));
        let l = tail_ring(&z, 500);
        let s = with_log(make(2, 4), make(2, 600), &l, &mut MemLog::new(z));
        assert_eq!(s.plan, SyncPlan::Snap { zxid: make(2, 600) });
    }

    #[test]
    fn txn_log_with_an_empty_ring() {
        // The ring reads as [lastProcessed, lastProcessed]: the log serves everything.
        let empty = CommittedLog::new(500);
        let mut src = MemLog::new(range(1, 1, 50));
        let s = with_log(make(1, 10), make(1, 50), &empty, &mut src);
        assert_eq!(diff_zxids(&s), (make(1, 50), range(1, 11, 50)));
        assert_eq!((s.synced_to, s.from_txn_log), (make(1, 50), 40));
        assert_eq!(src.calls, vec![(make(1, 10), make(1, 50))]);
    }

    #[test]
    fn txn_log_asked_only_for_a_learner_below_the_ring() {
        let all = range(1, 1, 700);
        let l = tail_ring(&all, 500);
        let mut src = MemLog::new(all);
        let lp = make(1, 700);
        with_log(lp, lp, &l, &mut src); // in sync
        with_log(make(1, 650), lp, &l, &mut src); // in the ring
        with_log(make(1, 800), lp, &l, &mut src); // ahead: TRUNC
        with_log(make(3, 0), lp, &l, &mut src); // an epoch start above: SNAP
        plan_sync_with(make(1, 3), lp, &l, true, &mut src); // forceSnapshotSync
        assert!(src.calls.is_empty());
    }
}
