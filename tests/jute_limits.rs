//! jute.maxbuffer (+ zookeeper.jute.maxbuffer.extrasize) reaches recovery: a txn log
//! holding a 3 MB txn — more than the default field cap of 2 × 0xfffff bytes — is refused
//! with Java's default limits and recovered with jute.maxbuffer=4194304, as Java's
//! FileTxnLog does (the entry is read as a jute buffer, `checkLength` applies). The
//! snapshot written after that recovery holds the node too, and is read back under the same
//! limits.

mod common;

use common::client;
use ferrokeeper::jute::records::{Acl, Id};
use ferrokeeper::jute::txn::{CreateTxn, TxnHeader};
use ferrokeeper::server::{self, settings::Settings};
use ferrokeeper::storage::{self, txlog::TxnLogWriter};
use ferrokeeper::txn::{Txn, TxnBody, codec};
use std::path::Path;
use std::time::Duration;

const BIG: usize = 3_000_000;

/// `log.1` with one txn: create /big holding `BIG` bytes.
fn write_big_log(dir: &Path) {
    let mut w = TxnLogWriter::open(&storage::version_dir(dir), 1 << 20, false).unwrap();
    let txn = Txn {
        header: TxnHeader {
            client_id: 0x1234,
            cxid: 1,
            zxid: 1,
            time: 1_700_000_000_000,
            txn_type: 1,
        },
        body: TxnBody::Create(CreateTxn {
            path: "/big".into(),
            data: vec![b'z'; BIG].into(),
            acl: vec![Acl {
                perms: 31,
                id: Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            }],
            ephemeral: false,
            parent_cversion: 1,
        }),
        digest: None,
    };
    let entry = codec::encode_entry(&txn);
    assert!(entry.len() > BIG && entry.len() < 4_194_304);
    w.append(&entry).unwrap();
    w.commit().unwrap();
}

fn settings(dir: &Path, tune: impl FnOnce(&mut Settings)) -> Settings {
    let mut s = Settings {
        client_addr: "127.0.0.1:0".parse().unwrap(),
        max_client_cnxns: 0,
        data_dir: Some(dir.to_path_buf()),
        data_log_dir: Some(dir.to_path_buf()),
        prealloc_bytes: 1 << 20,
        ..Settings::default()
    };
    tune(&mut s);
    s
}

fn four_mib(s: &mut Settings) {
    s.max_buffer = 4_194_304;
    s.jute_extra_size = 4_194_304;
}

async fn big_node_size(s: Settings) -> i32 {
    let h = server::start(s).await.expect("server starts");
    let c = client(&format!("127.0.0.1:{}", h.local_addr.port())).await;
    let stat = c.check_stat("/big").await.unwrap().expect("/big exists");
    drop(c);
    h.shutdown().await;
    stat.data_length
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3mb_txn_is_recovered_only_under_a_large_enough_jute_maxbuffer() {
    let d = tempfile::tempdir().unwrap();
    write_big_log(d.path());

    // Java's defaults (jute.maxbuffer 0xfffff, extrasize = maxbuffer): refused, saying why.
    let err = server::start(settings(d.path(), |_| {}))
        .await
        .err()
        .expect("the default limits refuse a 3 MB log entry");
    let msg = err.to_string();
    assert!(
        msg.contains("invalid length") && msg.contains("jute.maxbuffer") && msg.contains("log.1"),
        "{msg}"
    );

    // jute.maxbuffer=4194304: recovered.
    assert_eq!(
        big_node_size(settings(d.path(), four_mib)).await,
        BIG as i32
    );

    // Wait for the snapshot the core writes after recovering txns, then start again: the
    // node now comes from a snapshot read under the same limits.
    let snap_dir = storage::version_dir(d.path());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let has_snap = || {
        std::fs::read_dir(&snap_dir).unwrap().any(|e| {
            let e = e.unwrap();
            e.file_name().to_string_lossy() == "snapshot.1" && e.metadata().unwrap().len() > 0
        })
    };
    while !has_snap() {
        assert!(std::time::Instant::now() < deadline, "no snapshot.1");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        big_node_size(settings(d.path(), four_mib)).await,
        BIG as i32
    );
    // extrasize alone can make room too: 1048575 + 2097152 ≥ the entry's length.
    let extra_only = |s: &mut Settings| s.jute_extra_size = 2_097_152;
    assert_eq!(
        big_node_size(settings(d.path(), extra_only)).await,
        BIG as i32
    );

    // With the logs gone (purged), the snapshot is the only copy of /big: under the
    // default limits it cannot be read, and recovery must refuse rather than start from an
    // empty tree (Java: "Not able to find valid snapshots").
    for e in std::fs::read_dir(&snap_dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("log.") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let err = server::start(settings(d.path(), |_| {}))
        .await
        .err()
        .expect("an unreadable snapshot refuses to start");
    let msg = err.to_string();
    assert!(
        msg.contains("valid snapshot") && msg.contains("3000000") && msg.contains("jute.maxbuffer"),
        "{msg}"
    );
    assert_eq!(
        big_node_size(settings(d.path(), four_mib)).await,
        BIG as i32
    );
}
