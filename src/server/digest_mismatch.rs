//! Reporting a tree digest that disagrees with the history's (Java's
//! `DataTree.reportDigestMismatch` and its log lines): `digest_mismatches_count` and an
//! error for the first, then a line at the 10th, 100th, ... so a diverged replica that
//! keeps applying does not flood the log.
//!
//! Owns: that metric and those lines. Must never: stop the server or undo the txn (Java
//! only reports; the operator compares `hash` output across members and resyncs).

use crate::tree::digest_check::{DigestMismatch, MismatchSource};

/// Report what a digest comparison found (`None`s are skipped).
pub fn report(found: impl IntoIterator<Item = Option<DigestMismatch>>) {
    for m in found.into_iter().flatten() {
        let metric = &crate::metrics::DIGEST_MISMATCHES_COUNT;
        metric.inc();
        let total = metric.get();
        let whose = match m.source {
            MismatchSource::Snapshot => "the snapshot's digest",
            MismatchSource::Txn => "the txn's digest",
        };
        if m.first {
            tracing::error!(
                "first digest mismatch on txn 0x{:x}: {whose} is {}, this tree's is {} \
                 (this member's data differs from the history it replays; compare `hash` \
                 across the ensemble)",
                m.zxid,
                m.expected,
                m.actual
            );
        } else if is_power_of_ten(total) {
            tracing::error!(
                "digests are not matching: {total} mismatches so far, the latest on txn 0x{:x}",
                m.zxid
            );
        }
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

#[cfg(test)]
mod tests {
    #[test]
    fn powers_of_ten() {
        let hits: Vec<u64> = (1..=1000).filter(|&n| super::is_power_of_ten(n)).collect();
        assert_eq!(hits, vec![1, 10, 100, 1000]);
    }
}
