//! Durability through restarts of an in-process server on a real data directory: txn log
//! rolling, periodic fuzzy snapshots taken while writes continue, and recovery from the
//! newest snapshot plus the logs after it (checked through a real Rust client).

mod common;

use common::{OPEN, client};
use ferrokeeper::server::ServerHandle;
use std::path::Path;
use std::time::Duration;
use zookeeper_client as zk;

async fn start(dir: &Path, snap_count: u64) -> (ServerHandle, String) {
    common::start(|s| {
        s.data_dir = Some(dir.to_path_buf());
        s.data_log_dir = Some(dir.to_path_buf());
        s.prealloc_bytes = 1 << 20;
        s.snap_count = snap_count;
    })
    .await
}

fn count(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir.join("version-2"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .starts_with(prefix)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_restarts_across_snapshots_and_rolled_logs() {
    let d = tempfile::tempdir().unwrap();
    let (h, addr) = start(d.path(), 200).await;
    let c = client(&addr).await;
    c.create("/d", b"", OPEN).await.unwrap();
    // Pipelined writes so snapshots run while writes continue.
    let paths: Vec<String> = (0..1500).map(|i| format!("/d/n{i:05}")).collect();
    let datas: Vec<String> = (0..1500).map(|i| format!("v{i}")).collect();
    let mut futs = Vec::new();
    for (p, v) in paths.iter().zip(&datas) {
        futs.push(c.create(p, v.as_bytes(), OPEN));
    }
    for f in futs {
        f.await.unwrap();
    }
    for i in (0..1500).step_by(7) {
        c.set_data(&format!("/d/n{i:05}"), b"changed", None)
            .await
            .unwrap();
    }
    for i in (0..1500).step_by(11) {
        c.delete(&format!("/d/n{i:05}"), None).await.unwrap();
    }
    let (_, before) = c.get_children("/d").await.unwrap();
    drop(c);
    // Give the last snapshot thread a moment, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.shutdown().await;
    assert!(
        count(d.path(), "snapshot.") >= 3,
        "periodic snapshots were written"
    );
    assert!(
        count(d.path(), "log.") >= 3,
        "the log was rolled at each snapshot"
    );

    let (h, addr) = start(d.path(), 200).await;
    let c = client(&addr).await;
    let (children, after) = c.get_children("/d").await.unwrap();
    assert_eq!(after, before, "parent Stat identical after recovery");
    assert_eq!(children.len(), 1500 - 1500usize.div_ceil(11));
    for i in 0..1500 {
        let p = format!("/d/n{i:05}");
        let got = c.get_data(&p).await;
        if i % 11 == 0 {
            assert_eq!(got.unwrap_err(), zk::Error::NoNode, "{p}");
        } else if i % 7 == 0 {
            assert_eq!(got.unwrap().0, b"changed", "{p}");
        } else {
            assert_eq!(got.unwrap().0, format!("v{i}").as_bytes(), "{p}");
        }
    }
    drop(c);
    h.shutdown().await;
}
