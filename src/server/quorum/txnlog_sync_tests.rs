//! `DiskTxnLog` over real log files written by our own writer.

use super::*;
use crate::storage::test_logs::{create_entry, write_logs};
use crate::zab::committed::CommittedLog;
use crate::zab::sync_plan::{SyncPlan, plan_sync_with};
use crate::zab::zxid::make;

const PREALLOC: u64 = 64 * 1024;

fn z(c: i64) -> i64 {
    make(1, c)
}

fn zs(lo: i64, hi: i64) -> Vec<i64> {
    (lo..=hi).map(z).collect()
}

/// A snapshot file of `len` bytes that passes the validity check.
fn snapshot(dir: &Path, zxid: i64, len: usize) {
    let mut b = vec![0u8; len.max(10) - 5];
    b.extend_from_slice(&[0, 0, 0, 1, b'/']);
    std::fs::write(dir.join(snapshot::snapshot_file_name(zxid)), b).unwrap();
}

fn source(dir: &Path, factor: f64) -> DiskTxnLog {
    DiskTxnLog::new(dir, dir, factor, txlog::MAX_ENTRY)
}

fn zxids(v: &[Proposal]) -> Vec<i64> {
    v.iter().map(|p| p.zxid).collect()
}

#[test]
fn one_file_reaches_back_to_the_peer() {
    let d = tempfile::tempdir().unwrap();
    write_logs(d.path(), &[&zs(1, 700)], PREALLOC);
    snapshot(d.path(), 0, 200); // a tiny snapshot: the limit is 66 bytes
    let got = source(d.path(), 0.33).read(z(3), z(201)).unwrap();
    // The last txn below the peer, then the peer's and everything up to `upto`.
    assert_eq!(zxids(&got), zs(2, 201));
    // The bytes are the logged entry, exactly what a PROPOSAL carries.
    assert_eq!(got[5].data, create_entry(z(7)));
}

#[test]
fn the_size_check_counts_the_files_after_the_first_txns_file() {
    let d = tempfile::tempdir().unwrap();
    write_logs(d.path(), &[&zs(1, 100), &zs(101, 200)], PREALLOC);
    let second = std::fs::metadata(d.path().join(txlog::log_file_name(z(101))))
        .unwrap()
        .len();
    // A snapshot whose third is just below the second file's preallocated length.
    snapshot(d.path(), 0, (second as f64 / 0.33) as usize - 10);
    let s = source(d.path(), 0.33);
    // A peer in the first file: the second counts and is over the limit.
    assert!(matches!(
        s.read(z(50), z(150)),
        Err(Refused::OverSizeLimit { size, .. }) if size == second
    ));
    // A peer exactly at the second file's first txn: Java still opens the first file
    // (the newest one starting *below* the peer), so the second file counts too.
    assert!(matches!(
        s.read(z(101), z(150)),
        Err(Refused::OverSizeLimit { .. })
    ));
    // One above its start: only the second file is read, nothing after it counts.
    assert_eq!(zxids(&s.read(z(102), z(150)).unwrap()), zs(101, 150));
    // A larger snapshot lets the first case through; so does none at all (limit 0 is
    // no limit, as Java's sizeLimit 0) and a factor of 0.
    snapshot(d.path(), 0, (second as f64 / 0.33) as usize + 10);
    assert_eq!(zxids(&s.read(z(50), z(150)).unwrap()), zs(49, 150));
    let bare = tempfile::tempdir().unwrap();
    write_logs(bare.path(), &[&zs(1, 100), &zs(101, 200)], PREALLOC);
    assert_eq!(
        zxids(&source(bare.path(), 0.33).read(z(50), z(150)).unwrap()),
        zs(49, 150)
    );
    assert_eq!(
        zxids(&source(d.path(), 0.0).read(z(50), z(60)).unwrap()),
        zs(49, 60)
    );
    // A negative factor turns it off.
    assert!(matches!(
        source(d.path(), -1.0).read(z(50), z(60)),
        Err(Refused::Disabled)
    ));
    assert!(matches!(
        source(d.path(), f64::NAN).read(z(50), z(60)),
        Err(Refused::Disabled)
    ));
}

#[test]
fn only_txns_above_the_newest_snapshot_are_offered() {
    let d = tempfile::tempdir().unwrap();
    write_logs(d.path(), &[&zs(1, 300)], PREALLOC);
    snapshot(d.path(), 0, 200);
    snapshot(d.path(), z(80), 200);
    let s = source(d.path(), 0.33);
    // Below the snapshot: what is offered starts above it, so it does not reach back.
    assert_eq!(s.read(z(20), z(200)).unwrap()[0].zxid, z(81));
    assert_eq!(zxids(&s.read(z(90), z(200)).unwrap()), zs(89, 200));
}

#[test]
fn damaged_or_missing_logs_refuse_or_come_back_empty_never_panic() {
    let d = tempfile::tempdir().unwrap();
    write_logs(d.path(), &[&zs(1, 50)], PREALLOC);
    let path = d.path().join(txlog::log_file_name(z(1)));
    let mut bytes = std::fs::read(&path).unwrap();
    // Flip a bit inside the tenth entry's txn.
    let entry = 12 + create_entry(z(1)).len() + 1;
    bytes[txlog::HEADER_LEN as usize + 9 * entry + 20] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let s = source(d.path(), 0.33);
    assert!(matches!(s.read(z(3), z(40)), Err(Refused::Unreadable(_))));
    // A learner past the damaged entry: reading still starts at the file's first txn,
    // as Java's iterator does, so it is refused too.
    assert!(matches!(s.read(z(20), z(40)), Err(Refused::Unreadable(_))));
    // Not a log at all.
    std::fs::write(&path, b"definitely not a txn log file").unwrap();
    assert!(matches!(s.read(z(3), z(40)), Err(Refused::Unreadable(_))));
    // Nothing there: no txns (the plan then sends a SNAP).
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("nope");
    assert!(source(&missing, 0.33).read(z(3), z(40)).unwrap().is_empty());
    // Through the source trait: a refusal is None.
    let mut src = source(d.path(), 0.33);
    assert_eq!(src.proposals(z(3), z(40)), None);
}

#[test]
fn too_many_txns_refuse() {
    let d = tempfile::tempdir().unwrap();
    write_logs(d.path(), &[&zs(1, 100)], PREALLOC);
    let s = source(d.path(), 0.33).with_max_txns(10);
    assert!(matches!(
        s.read(z(3), z(100)),
        Err(Refused::TooMany { max: 10 })
    ));
    assert_eq!(zxids(&s.read(z(91), z(100)).unwrap()), zs(90, 100));
}

#[test]
fn snapshot_size_factor_is_read_as_java_does() {
    let f = |v: &str| snapshot_size_factor(&[("zookeeper.snapshotSizeFactor".into(), v.into())]);
    assert_eq!(snapshot_size_factor(&[]), 0.33);
    assert_eq!(f("0.5"), 0.5);
    assert_eq!(f(" 0.25 "), 0.25);
    assert_eq!(f("0.5d"), 0.5);
    assert_eq!(f("0"), 0.0);
    assert_eq!(f("-1"), -1.0);
    assert_eq!(f("1.5"), 0.33);
    assert_eq!(f("junk"), 0.33);
    assert_eq!(
        snapshot_size_factor(&[("snapshotSizeFactor".into(), "0.1".into())]),
        0.1
    );
}

/// The plan over the disk source: a learner far behind a small ring gets one DIFF, the
/// older txns read from the log files, the newer ones from the ring.
#[test]
fn plan_from_disk_and_ring() {
    let d = tempfile::tempdir().unwrap();
    write_logs(d.path(), &[&zs(1, 300), &zs(301, 700)], PREALLOC);
    snapshot(d.path(), 0, 200);
    let mut ring = CommittedLog::new(200);
    for c in 501..=700 {
        ring.add(z(c), create_entry(z(c))).unwrap();
    }
    // A learner in the first file: the second counts and is over the default limit.
    let mut src = source(d.path(), 0.33);
    let s = plan_sync_with(z(100), z(700), &ring, false, &mut src);
    assert_eq!(s.plan, SyncPlan::Snap { zxid: z(700) });
    // A learner in the newest file: no later file, so the log is used.
    let s = plan_sync_with(z(400), z(700), &ring, false, &mut src);
    match &s.plan {
        SyncPlan::Diff { zxid, proposals } => {
            assert_eq!(*zxid, z(700));
            assert_eq!(zxids(proposals), zs(401, 700));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((s.synced_to, s.from_txn_log), (z(700), 101));
    // Without a size limit the first learner too, across both files.
    let s = plan_sync_with(z(100), z(700), &ring, false, &mut source(d.path(), 0.0));
    match &s.plan {
        SyncPlan::Diff { zxid, proposals } => {
            assert_eq!(*zxid, z(700));
            assert_eq!(zxids(proposals), zs(101, 700));
            for p in proposals {
                assert_eq!(p.data, create_entry(p.zxid));
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((s.synced_to, s.from_txn_log), (z(700), 401));
}

/// A torn entry in the middle of the log (a file that ends early, the next one going
/// on) leaves a hole the plan will not skip over.
#[test]
fn a_torn_file_in_the_middle_is_a_snap() {
    let d = tempfile::tempdir().unwrap();
    write_logs(d.path(), &[&zs(1, 100), &zs(101, 700)], PREALLOC);
    let first = d.path().join(txlog::log_file_name(z(1)));
    let entry = 12 + create_entry(z(1)).len() + 1;
    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(
        &first,
        &bytes[..txlog::HEADER_LEN as usize + 90 * entry + 7],
    )
    .unwrap();
    let got = source(d.path(), 0.0).read(z(3), z(201)).unwrap();
    assert!(zxids(&got).windows(2).any(|w| w[1] != w[0] + 1));
    let mut ring = CommittedLog::new(500);
    for c in 201..=700 {
        ring.add(z(c), create_entry(z(c))).unwrap();
    }
    let s = plan_sync_with(z(3), z(700), &ring, false, &mut source(d.path(), 0.0));
    assert_eq!(s.plan, SyncPlan::Snap { zxid: z(700) });
}

/// Why only txns above the newest snapshot: a member that logged 1:1..1:3, then
/// installed a leader's SNAP at 2:0 (holding 1:4..1:10, which it never logged) and
/// logged epoch 2 on from there. Its log reads 1:1..1:3, 2:1.. — each txn following the
/// one before — yet a DIFF from it would skip 1:4..1:10.
#[test]
fn a_log_from_before_an_installed_snap_is_not_used() {
    let d = tempfile::tempdir().unwrap();
    let mut e2: Vec<i64> = (1..=50).map(|c| make(2, c)).collect();
    write_logs(d.path(), &[&zs(1, 3)], PREALLOC);
    snapshot(d.path(), make(2, 0), 200);
    let mut w = crate::storage::txlog::TxnLogWriter::open(d.path(), PREALLOC, false).unwrap();
    for &x in &e2 {
        w.append(&create_entry(x)).unwrap();
    }
    w.commit().unwrap();
    let mut ring = CommittedLog::new(30);
    for &x in &e2 {
        ring.add(x, create_entry(x)).unwrap();
    }
    let s = plan_sync_with(z(2), make(2, 50), &ring, false, &mut source(d.path(), 0.0));
    assert_eq!(s.plan, SyncPlan::Snap { zxid: make(2, 50) });
    // A learner that has 2:5 is served from the log above the snapshot.
    let s = plan_sync_with(
        make(2, 5),
        make(2, 50),
        &ring,
        false,
        &mut source(d.path(), 0.0),
    );
    e2.drain(..5);
    match &s.plan {
        SyncPlan::Diff { proposals, .. } => assert_eq!(zxids(proposals), e2),
        other => panic!("{other:?}"),
    }
}
