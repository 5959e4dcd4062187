//! The committed-proposal ring: the last `zookeeper.commitLogCount` committed proposals,
//! from which a leader syncs a learner that is only a little behind (DIFF), as Java's
//! `ZKDatabase.committedLog` / `addCommittedProposal` / `min|maxCommittedLog`.
//!
//! Behaviour is 3.9's: append, then evict the oldest once over capacity, so the ring holds
//! exactly `commitLogCount`; a zxid at or below the newest is ignored and a hole within an
//! epoch refused. (3.8 evicts before appending, so it holds one more — 501 at default —
//! and checks no order; a leader's DIFF-vs-SNAP boundary differs by that one proposal.)
//! Owns: a bounded, zxid-ordered ring of (zxid, txn entry bytes) — the bytes a PROPOSAL
//! (or INFORM) packet carries: TxnHeader + record + optional TxnDigest, identical to the
//! txn-log entry. Must never: decode the txns, grow past its capacity, or do I/O.

use bytes::Bytes;
use std::collections::VecDeque;

/// Java's `ZKDatabase.DEFAULT_COMMIT_LOG_COUNT`.
pub const DEFAULT_COMMIT_LOG_COUNT: usize = 500;

/// The ring's capacity for a `zookeeper.commitLogCount` setting, as ZKDatabase reads
/// it (`Integer.parseInt`): unset or not an int → 500; values below 500 are raised to 500.
pub fn commit_log_count(setting: Option<&str>) -> usize {
    match setting.map(|s| s.trim().parse::<i32>()) {
        Some(Ok(n)) if n as i64 >= DEFAULT_COMMIT_LOG_COUNT as i64 => {
            usize::try_from(n).unwrap_or(DEFAULT_COMMIT_LOG_COUNT)
        }
        _ => DEFAULT_COMMIT_LOG_COUNT,
    }
}

/// One committed proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub zxid: i64,
    /// The serialized txn entry, exactly as a PROPOSAL packet's data.
    pub data: Bytes,
}

/// A proposal that does not follow the last one (Java throws IllegalStateException:
/// "Committed proposal cached out of order").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("committed proposal cached out of order: 0x{zxid:x} is not the next proposal of 0x{max:x}")]
pub struct OutOfOrder {
    pub zxid: i64,
    pub max: i64,
}

/// The last `capacity` committed proposals, oldest first.
#[derive(Debug, Clone)]
pub struct CommittedLog {
    ring: VecDeque<Proposal>,
    capacity: usize,
}

impl CommittedLog {
    /// An empty ring holding at most `capacity` (at least 1) proposals.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        CommittedLog {
            ring: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn len(&self) -> usize {
        self.ring.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Append a committed proposal. As Java: a zxid at or below the newest one is ignored
    /// (`Ok(false)`, e.g. after the tree was rewound and re-synced); otherwise it must be
    /// the next counter of the newest one's epoch or start a later epoch. The oldest
    /// proposal is evicted once the ring is over capacity.
    pub fn add(&mut self, zxid: i64, data: Bytes) -> Result<bool, OutOfOrder> {
        if let Some(max) = self.max_zxid() {
            if zxid <= max {
                return Ok(false);
            }
            if zxid != max.wrapping_add(1)
                && super::zxid::epoch_of(zxid) <= super::zxid::epoch_of(max)
            {
                return Err(OutOfOrder { zxid, max });
            }
        }
        self.ring.push_back(Proposal { zxid, data });
        while self.ring.len() > self.capacity {
            self.ring.pop_front();
        }
        Ok(true)
    }

    /// Java's `minCommittedLog`: the oldest zxid held (None when empty; Java says 0).
    pub fn min_zxid(&self) -> Option<i64> {
        self.ring.front().map(|p| p.zxid)
    }

    /// Java's `maxCommittedLog`: the newest zxid held (None when empty; Java says 0).
    pub fn max_zxid(&self) -> Option<i64> {
        self.ring.back().map(|p| p.zxid)
    }

    /// Whether `zxid` lies within [min, max] (the DIFF range of `syncFollower`).
    pub fn covers(&self, zxid: i64) -> bool {
        matches!((self.min_zxid(), self.max_zxid()), (Some(lo), Some(hi)) if lo <= zxid && zxid <= hi)
    }

    /// The proposal with exactly this zxid.
    pub fn get(&self, zxid: i64) -> Option<&Proposal> {
        let i = self.ring.partition_point(|p| p.zxid < zxid);
        self.ring.get(i).filter(|p| p.zxid == zxid)
    }

    /// Every proposal with a zxid above `zxid`, oldest first.
    pub fn after(&self, zxid: i64) -> impl Iterator<Item = &Proposal> {
        let i = self.ring.partition_point(|p| p.zxid <= zxid);
        self.ring.range(i..)
    }

    /// All proposals, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Proposal> {
        self.ring.iter()
    }

    /// Forget everything (ZKDatabase.clear, e.g. before a SNAP or TRUNC reload).
    pub fn clear(&mut self) {
        self.ring.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::zxid::make;

    fn data(z: i64) -> Bytes {
        Bytes::from(z.to_be_bytes().to_vec())
    }

    fn zxids(l: &CommittedLog) -> Vec<i64> {
        l.iter().map(|p| p.zxid).collect()
    }

    #[test]
    fn setting_is_raised_to_the_default_like_java() {
        assert_eq!(commit_log_count(None), 500);
        assert_eq!(commit_log_count(Some("100")), 500);
        assert_eq!(commit_log_count(Some("-3")), 500);
        assert_eq!(commit_log_count(Some("junk")), 500);
        assert_eq!(commit_log_count(Some("501")), 501);
        assert_eq!(commit_log_count(Some(" 2000 ")), 2000);
        // Not an int for Integer.parseInt.
        assert_eq!(commit_log_count(Some("3000000000")), 500);
    }

    #[test]
    fn bounded_and_evicts_the_oldest() {
        let mut l = CommittedLog::new(3);
        assert!(l.is_empty());
        assert_eq!((l.min_zxid(), l.max_zxid()), (None, None));
        for c in 1..=5 {
            assert_eq!(l.add(make(1, c), data(c)), Ok(true));
            assert!(l.len() <= 3);
        }
        assert_eq!(zxids(&l), vec![make(1, 3), make(1, 4), make(1, 5)]);
        assert_eq!(l.min_zxid(), Some(make(1, 3)));
        assert_eq!(l.max_zxid(), Some(make(1, 5)));
        assert!(l.covers(make(1, 3)) && l.covers(make(1, 5)));
        assert!(!l.covers(make(1, 2)) && !l.covers(make(1, 6)));
        // The bytes stay with their zxid through eviction.
        assert_eq!(l.get(make(1, 4)).map(|p| p.data.clone()), Some(data(4)));
        assert_eq!(l.get(make(1, 2)), None);
    }

    #[test]
    fn default_capacity_holds_exactly_500() {
        let mut l = CommittedLog::new(DEFAULT_COMMIT_LOG_COUNT);
        for c in 1..=603 {
            l.add(make(1, c), data(c)).unwrap();
        }
        // S08 in the captures: 603 txns behind is outside the ring.
        assert_eq!(l.len(), 500);
        assert_eq!(l.min_zxid(), Some(make(1, 104)));
        assert_eq!(l.max_zxid(), Some(make(1, 603)));
    }

    #[test]
    fn ordering_rules_follow_add_committed_proposal() {
        let mut l = CommittedLog::new(10);
        l.add(make(1, 5), data(5)).unwrap();
        // At or below the newest: ignored, not an error.
        assert_eq!(l.add(make(1, 5), data(0)), Ok(false));
        assert_eq!(l.add(make(1, 2), data(0)), Ok(false));
        assert_eq!(l.get(make(1, 5)).map(|p| p.data.clone()), Some(data(5)));
        // A hole within the epoch is refused.
        assert_eq!(
            l.add(make(1, 7), data(7)),
            Err(OutOfOrder {
                zxid: make(1, 7),
                max: make(1, 5)
            })
        );
        // A new epoch may start anywhere (its counter 0 is never a txn).
        assert_eq!(l.add(make(3, 1), data(31)), Ok(true));
        assert_eq!(l.add(make(3, 2), data(32)), Ok(true));
        assert_eq!(zxids(&l), vec![make(1, 5), make(3, 1), make(3, 2)]);
        l.clear();
        assert!(l.is_empty());
        // After clear anything may come first again.
        assert_eq!(l.add(make(1, 1), data(1)), Ok(true));
    }

    #[test]
    fn proposals_after_a_zxid() {
        let mut l = CommittedLog::new(500);
        for c in 1..=4 {
            l.add(make(1, c), data(c)).unwrap();
        }
        for c in 1..=3 {
            l.add(make(2, c), data(c)).unwrap();
        }
        let after = |z| l.after(z).map(|p| p.zxid).collect::<Vec<_>>();
        assert_eq!(
            after(make(1, 3)),
            vec![make(1, 4), make(2, 1), make(2, 2), make(2, 3)]
        );
        // A zxid the ring never held (an epoch start): everything above it.
        assert_eq!(after(make(2, 0)), vec![make(2, 1), make(2, 2), make(2, 3)]);
        assert_eq!(after(make(2, 3)), Vec::<i64>::new());
        assert_eq!(after(0).len(), 7);
        assert_eq!(after(-1).len(), 7);
    }
}
