//! The AdminServer's snapshot and restore as the core does them: a snapshot asked for
//! while another is written waits for the next one; a restore holds requests until what
//! is in flight is applied, swaps the state in at that zxid, closes every connection,
//! and goes on numbering from there.

use super::*;
use crate::server::core::{Restored, SnapshotOutcome};
use tokio::sync::oneshot;

fn restored_from(f: &Fixture) -> (crate::tree::DataTree, Vec<(i64, i32)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("snap");
    let zxid = f.node.core.last_applied();
    let sessions = f.node.core.sessions.all();
    crate::server::startup::write_snapshot_file(&path, &f.node.shared.tree.read(), &sessions, zxid)
        .expect("written");
    let file = std::fs::File::open(&path).expect("open");
    crate::server::startup::load_snapshot_from(file, false, 1 << 20).expect("loads")
}

#[test]
fn restore_waits_for_in_flight_txns_then_swaps_and_closes_connections() {
    let mut f = fixture(|_| {});
    let (conn, sid) = f.session(20_000);
    f.create(conn, 1, "/r", create_mode::PERSISTENT);
    f.settle();
    let (tree, sessions) = restored_from(&f);
    assert_eq!(sessions.len(), 1);
    f.create(conn, 2, "/a", create_mode::PERSISTENT);
    f.settle();
    // One write in flight when the restore begins; one arrives after.
    f.create(conn, 3, "/b", create_mode::PERSISTENT);
    let (tx, mut begun) = oneshot::channel();
    f.node.step(Input::RestoreBegin(tx)).expect("begin");
    assert!(begun.try_recv().is_err(), "answered with a txn in flight");
    f.create(conn, 4, "/c", create_mode::PERSISTENT);
    let (tx2, mut second) = oneshot::channel();
    f.node.step(Input::RestoreBegin(tx2)).expect("second begin");
    assert!(
        matches!(second.try_recv(), Ok(Err(_))),
        "two restores at once"
    );
    let logged = f.settle();
    assert_eq!(logged.len(), 1, "only /b was in flight: {logged:?}");
    let z = logged[0].header.zxid;
    assert_eq!(begun.try_recv().expect("answered"), Ok(z));
    assert_eq!(f.node.core.last_applied(), z);

    let (tx, mut committed) = oneshot::channel();
    let restored = Restored {
        tree,
        sessions,
        reply: tx,
    };
    f.node
        .step(Input::RestoreCommit(Box::new(restored)))
        .expect("commit");
    assert_eq!(committed.try_recv().expect("answered"), Ok(z));
    {
        let t = f.node.shared.tree.read();
        assert!(t.exists("/r") && !t.exists("/a") && !t.exists("/b") && !t.exists("/c"));
        assert_eq!(t.last_processed_zxid(), z);
    }
    assert!(
        f.node.conns[&conn].closed_by_server(),
        "connection left open"
    );
    assert_eq!(f.node.core.sessions.all().first().map(|s| s.0), Some(sid));
    // The held write belonged to a closed connection: dropped, never logged.
    assert!(f.settle().is_empty());
    // Writes go on from the zxid the restore stopped at.
    let (conn2, _) = f.session(20_000);
    f.create(conn2, 1, "/d", create_mode::PERSISTENT);
    let logged = f.settle();
    assert!(logged.iter().all(|t| t.header.zxid > z), "{logged:?}");
    assert!(f.node.shared.tree.read().exists("/d"));
}

#[test]
fn an_aborted_restore_runs_what_it_held() {
    let mut f = fixture(|_| {});
    let (conn, _) = f.session(20_000);
    let (tx, mut begun) = oneshot::channel();
    f.node.step(Input::RestoreBegin(tx)).expect("begin");
    let z = begun.try_recv().expect("nothing in flight").expect("ok");
    f.create(conn, 1, "/held", create_mode::PERSISTENT);
    assert!(f.settle().is_empty(), "a held write was logged");
    f.node.step(Input::RestoreAbort).expect("abort");
    let logged = f.settle();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].header.zxid, z + 1);
    assert_eq!(replies(&f.frames(conn)), vec![(1, z + 1, 0)]);
}

#[test]
fn snapshot_now_is_answered_with_the_file() {
    let mut f = fixture(|_| {});
    let (conn, _) = f.session(20_000);
    f.create(conn, 1, "/s", create_mode::PERSISTENT);
    f.settle();
    let (tx, mut rx) = oneshot::channel::<SnapshotOutcome>();
    f.node.step(Input::SnapshotNow(tx)).expect("snapshot");
    let w = rx.try_recv().expect("answered").expect("written");
    assert_eq!(w.zxid, f.node.core.last_applied());
    assert_eq!(std::fs::metadata(&w.path).expect("file").len(), w.size);
    let meta = crate::storage::snapshot::read_snapshot(
        std::fs::File::open(&w.path).expect("open"),
        |_| Ok(()),
    )
    .expect("reads");
    // 3.9's trailer by default.
    assert_eq!(meta.last_zxid, Some(w.zxid));
}
