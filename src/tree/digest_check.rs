//! Checking the running tree digest against the digests the history carries: the
//! `TxnDigest` a txn was logged or proposed with (what the leader's tree digest was after
//! it) and the digest a snapshot was sealed with (Java's `DataTree.compareDigest` and
//! `compareSnapshotDigests`). A mismatch means this tree has diverged from the one that
//! wrote the history: a replica bug or a corrupt file, found as soon as it happens.
//!
//! Owns: when a comparison is due — not while the tree loaded from a fuzzy snapshot is
//! still short of the zxid its digest was taken at, not across digest versions — and the
//! verdict. Must never: act on a verdict (count it, log it, stop): the callers do, and
//! applying a txn never fails because of one (Java only reports).

use super::digest::DIGEST_VERSION;
use crate::jute::txn::TxnDigest;

/// The digest a loaded snapshot was sealed with, not yet compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SnapshotDigest {
    zxid: i64,
    version: i32,
    digest: i64,
}

/// A comparison that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestMismatch {
    pub zxid: i64,
    /// The digest the history holds for `zxid`.
    pub expected: i64,
    /// This tree's digest after `zxid`.
    pub actual: i64,
    /// Whose digest disagreed.
    pub source: MismatchSource,
    /// The first mismatch this tree found (Java logs that one in full).
    pub first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MismatchSource {
    Snapshot,
    Txn,
}

/// The comparison state a tree carries from its snapshot load onwards.
#[derive(Debug, Clone, Default)]
pub struct DigestCheck {
    /// Set while the tree is "fuzzy": loaded from a snapshot whose digest was taken at a
    /// zxid the replay has not reached yet (Java's `digestFromLoadedSnapshot`). Txn
    /// digests are not compared meanwhile (the tree may hold later txns' changes).
    from_snapshot: Option<SnapshotDigest>,
    /// Set on a tree installed from a leader's SNAP body: txns not yet matched since.
    /// A SNAP body carries no digest, and a Java leader writes it while it applies txns,
    /// so the tree may already hold changes of txns that reach us after it; their
    /// digests cannot match until the tree has caught up. Mismatches are not reported
    /// until the first match (then every one is), or until [`SETTLE_LIMIT`] txns passed
    /// without one (then that one is: the tree really differs).
    settling: Option<u32>,
    mismatches: u64,
}

/// The most txns a SNAP-installed tree may take to first match a txn's digest (the
/// writes a leader applied while it wrote the body).
pub const SETTLE_LIMIT: u32 = 100_000;

impl DigestCheck {
    /// A snapshot named `snapshot_zxid` was loaded with the digest trailer
    /// (`zxid`, `version`, `digest`) (Java's `deserializeZxidDigest`): an empty trailer
    /// (zxid 0) or one older than the snapshot's own zxid is not compared.
    pub fn loaded_snapshot_digest(
        &mut self,
        zxid: i64,
        version: i32,
        digest: i64,
        snapshot_zxid: i64,
    ) {
        self.from_snapshot = (zxid > 0 && zxid >= snapshot_zxid).then_some(SnapshotDigest {
            zxid,
            version,
            digest,
        });
    }

    /// The tree was installed from a leader's SNAP body (see `settling`).
    pub fn installed_from_snap(&mut self) {
        self.from_snapshot = None;
        self.settling = Some(0);
    }

    /// Whether the tree still waits to reach its snapshot digest's zxid.
    pub fn fuzzy(&self) -> bool {
        self.from_snapshot.is_some()
    }

    /// The zxid the tree must reach before txn digests are compared, while fuzzy.
    pub fn awaited_zxid(&self) -> Option<i64> {
        self.from_snapshot.map(|s| s.zxid)
    }

    /// The tree now stands at `zxid` with digest `tree_digest` (right after loading a
    /// snapshot, or after applying a txn): compare it with the snapshot digest if this is
    /// its zxid (Java's `compareSnapshotDigests`).
    pub fn at_zxid(&mut self, zxid: i64, tree_digest: i64) -> Option<DigestMismatch> {
        let s = self.from_snapshot?;
        if zxid != s.zxid {
            return None;
        }
        self.from_snapshot = None;
        if s.version != DIGEST_VERSION || s.digest == tree_digest {
            return None;
        }
        Some(self.mismatch(zxid, s.digest, tree_digest, MismatchSource::Snapshot))
    }

    /// Txn `zxid` was applied, leaving the tree with `tree_digest`; `logged` is the
    /// digest it came with (None: none, or digests are off here). Java's
    /// `processTxn(header, txn, digest)`: the snapshot comparison, then the txn's.
    pub fn after_txn(
        &mut self,
        zxid: i64,
        logged: Option<&TxnDigest>,
        tree_digest: i64,
    ) -> [Option<DigestMismatch>; 2] {
        let snapshot = self.at_zxid(zxid, tree_digest);
        let txn = match logged {
            Some(d) if !self.fuzzy() && d.version == DIGEST_VERSION => {
                let differs = d.tree_digest != tree_digest;
                match self.settling {
                    Some(_) if !differs => {
                        self.settling = None;
                        None
                    }
                    Some(n) if n + 1 < SETTLE_LIMIT => {
                        self.settling = Some(n + 1);
                        None
                    }
                    _ if differs => {
                        self.settling = None;
                        Some(self.mismatch(zxid, d.tree_digest, tree_digest, MismatchSource::Txn))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        [snapshot, txn]
    }

    /// How many comparisons failed on this tree.
    pub fn mismatches(&self) -> u64 {
        self.mismatches
    }

    fn mismatch(
        &mut self,
        zxid: i64,
        expected: i64,
        actual: i64,
        source: MismatchSource,
    ) -> DigestMismatch {
        self.mismatches += 1;
        DigestMismatch {
            zxid,
            expected,
            actual,
            source,
            first: self.mismatches == 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(tree_digest: i64) -> TxnDigest {
        TxnDigest {
            version: DIGEST_VERSION,
            tree_digest,
        }
    }

    #[test]
    fn txn_digests_are_compared_when_not_fuzzy() {
        let mut c = DigestCheck::default();
        assert_eq!(c.after_txn(1, Some(&d(5)), 5), [None, None]);
        assert_eq!(c.after_txn(2, None, 9), [None, None]);
        let [s, t] = c.after_txn(3, Some(&d(7)), 8);
        assert_eq!(s, None);
        let t = t.unwrap();
        assert_eq!(
            (t.zxid, t.expected, t.actual, t.source, t.first),
            (3, 7, 8, MismatchSource::Txn, true)
        );
        assert!(!c.after_txn(4, Some(&d(1)), 2)[1].unwrap().first);
        assert_eq!(c.mismatches(), 2);
    }

    #[test]
    fn another_digest_version_is_not_compared() {
        let mut c = DigestCheck::default();
        let other = TxnDigest {
            version: DIGEST_VERSION + 1,
            tree_digest: 1,
        };
        assert_eq!(c.after_txn(1, Some(&other), 2), [None, None]);
        c.loaded_snapshot_digest(5, DIGEST_VERSION - 1, 1, 5);
        assert_eq!(c.at_zxid(5, 2), None);
        assert!(
            !c.fuzzy(),
            "a foreign version ends the fuzzy state unchecked"
        );
    }

    #[test]
    fn a_fuzzy_snapshot_is_compared_at_its_digest_zxid_only() {
        let mut c = DigestCheck::default();
        // Snapshot 0x10 sealed with the digest at 0x12: txns 0x11 and 0x12 replay.
        c.loaded_snapshot_digest(0x12, DIGEST_VERSION, 42, 0x10);
        assert_eq!(c.at_zxid(0x10, 40), None);
        assert!(c.fuzzy());
        // Txn digests wait meanwhile (the tree may hold later changes).
        assert_eq!(c.after_txn(0x11, Some(&d(1)), 41), [None, None]);
        let [s, t] = c.after_txn(0x12, Some(&d(42)), 43);
        assert_eq!(
            s.map(|m| (m.source, m.expected, m.actual)),
            Some((MismatchSource::Snapshot, 42, 43))
        );
        // Not fuzzy any more: the txn's own digest is compared too (as Java, twice).
        assert_eq!(
            t.map(|m| (m.source, m.first)),
            Some((MismatchSource::Txn, false))
        );
        assert!(!c.fuzzy());
    }

    #[test]
    fn a_matching_snapshot_digest_ends_the_fuzzy_state() {
        let mut c = DigestCheck::default();
        c.loaded_snapshot_digest(0x10, DIGEST_VERSION, 42, 0x10);
        assert_eq!(c.at_zxid(0x10, 42), None);
        assert!(!c.fuzzy());
        assert_eq!(c.mismatches(), 0);
    }

    #[test]
    fn a_snap_installed_tree_settles_at_its_first_match() {
        let mut c = DigestCheck::default();
        c.installed_from_snap();
        // The body held the next txns' changes already: no match yet, nothing reported.
        assert_eq!(c.after_txn(1, Some(&d(5)), 9), [None, None]);
        assert_eq!(c.after_txn(2, Some(&d(6)), 9), [None, None]);
        // Caught up: from here on every mismatch counts.
        assert_eq!(c.after_txn(3, Some(&d(9)), 9), [None, None]);
        let [_, t] = c.after_txn(4, Some(&d(1)), 2);
        assert_eq!(t.map(|m| (m.zxid, m.first)), Some((4, true)));
    }

    #[test]
    fn a_snap_installed_tree_that_never_matches_is_reported() {
        let mut c = DigestCheck::default();
        c.installed_from_snap();
        for z in 1..SETTLE_LIMIT as i64 {
            assert_eq!(c.after_txn(z, Some(&d(1)), 2), [None, None], "txn {z}");
        }
        let [_, t] = c.after_txn(SETTLE_LIMIT as i64, Some(&d(1)), 2);
        assert_eq!(t.map(|m| m.first), Some(true));
        assert!(c.after_txn(SETTLE_LIMIT as i64 + 1, Some(&d(1)), 2)[1].is_some());
    }

    #[test]
    fn empty_or_older_snapshot_digests_are_not_awaited() {
        let mut c = DigestCheck::default();
        c.loaded_snapshot_digest(0, DIGEST_VERSION, 42, 0);
        assert!(!c.fuzzy());
        // A new leader's snapshot at <epoch>00000000 holds the last epoch's digest.
        c.loaded_snapshot_digest(0x1_0000_0005, DIGEST_VERSION, 42, 0x2_0000_0000);
        assert!(!c.fuzzy());
        c.loaded_snapshot_digest(0x2_0000_0001, DIGEST_VERSION, 42, 0x2_0000_0000);
        assert_eq!(c.awaited_zxid(), Some(0x2_0000_0001));
    }
}
