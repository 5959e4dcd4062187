//! Writes the txn-log and snapshot seeds with ferrokeeper's own writers:
//! `cargo run --release --example seeds` (after scripts/make-seeds.py, whose txn seeds — Java's
//! PROPOSAL bytes — become the log's entries, and whose SNAP body becomes a snapshot).

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferrokeeper::jute::records::{Acl, Id, StatPersisted};
use ferrokeeper::storage::snapshot::SnapshotWriter;
use ferrokeeper::storage::txlog::TxnLogWriter;

fn corpus(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&d).expect("corpus dir");
    d
}

fn put(target: &str, name: &str, data: &[u8]) {
    std::fs::write(corpus(target).join(format!("seed-{name}")), data).expect("write seed");
}

/// The txn seeds, sorted by name (3.8.0 then 3.9.5; zxids ascend within each).
fn txns(version: &str) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(corpus("txn"))
        .expect("txn corpus")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("seed-{version}")))
        })
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect()
}

fn txlog(name: &str, entries: &[Vec<u8>]) {
    let dir = tempdir();
    let mut w = TxnLogWriter::open(&dir, 4096, false).expect("open log");
    for e in entries {
        w.append(e).expect("append");
    }
    w.roll().expect("commit");
    let file = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("log."))
        .expect("a log file")
        .path();
    let mut b = std::fs::read(&file).expect("read log");
    // Drop the preallocated zeros but a few (a clean end).
    while b.len() > 16 && b[b.len() - 1] == 0 {
        b.pop();
    }
    b.extend_from_slice(&[0; 12]);
    // Even first byte: taken as is (the target fixes checksums after an odd one).
    let mut even = vec![0u8];
    even.extend_from_slice(&b);
    put("txlog", name, &even);
    let mut odd = vec![1u8];
    odd.extend_from_slice(&b);
    put("txlog", &format!("{name}-crcfix"), &odd);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrokeeper-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tempdir");
    d
}

/// The three forms `snapshot::open` reads: first byte 0 plain, 1 gzip, 2 snappy-java.
fn snapshot_forms(name: &str, plain: &[u8]) {
    let mut p = vec![0u8];
    p.extend_from_slice(plain);
    put("snapshot", name, &p);

    let mut gz = flate2::write::GzEncoder::new(vec![1u8], flate2::Compression::fast());
    gz.write_all(plain).expect("gz");
    put("snapshot", &format!("{name}.gz"), &gz.finish().expect("gz"));

    let mut s = vec![2u8, 0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
    s.extend_from_slice(&1i32.to_be_bytes());
    s.extend_from_slice(&1i32.to_be_bytes());
    for block in plain.chunks(700) {
        let c = snap::raw::Encoder::new()
            .compress_vec(block)
            .expect("snappy");
        s.extend_from_slice(&(c.len() as i32).to_be_bytes());
        s.extend_from_slice(&c);
    }
    put("snapshot", &format!("{name}.snappy"), &s);
}

fn main() {
    for v in ["3.8.0", "3.9.5"] {
        let t = txns(v);
        if !t.is_empty() {
            txlog(&format!("java-{v}-proposals"), &t);
        }
    }

    // A snapshot written node by node, with sessions, ACLs, data, a null and a digest.
    let acls = vec![
        (
            1,
            vec![Acl {
                perms: 31,
                id: Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            }],
        ),
        (
            2,
            vec![Acl {
                perms: 1,
                id: Id {
                    scheme: "digest".into(),
                    id: "alice:hash".into(),
                },
            }],
        ),
    ];
    let mut w =
        SnapshotWriter::new(Vec::new(), &[(0x100000001, 30000), (7, 4000)], &acls).expect("writer");
    let stat = |czxid: i64, eph: i64| StatPersisted {
        czxid,
        mzxid: czxid,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_000,
        version: 1,
        cversion: 2,
        aversion: 0,
        ephemeral_owner: eph,
        pzxid: czxid,
    };
    w.node_bytes("", Some(b""), -1, &stat(0, 0)).expect("node");
    w.node_bytes("/a", Some(b"hello"), 1, &stat(1, 0))
        .expect("node");
    w.node_bytes("/a/e", None, 2, &stat(2, 7)).expect("node");
    w.node_bytes("/zookeeper", Some(b""), -1, &stat(0, 0))
        .expect("node");
    let plain = w.finish(Some((2, 0x1234_5678))).expect("finish");
    snapshot_forms("written", &plain);

    // Java's SNAP body (3.9.5 capture) as a snapshot file: its sessions, ACLs and nodes.
    let hex = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/quorum-captures/snap-body-3.9.5.hex"),
    )
    .expect("snap body hex");
    let body: Vec<u8> = (0..hex.trim().len() / 2)
        .map(|i| u8::from_str_radix(&hex.trim()[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    // Without the terminator ("/") and signature ("BenWasHere"): `finish` writes the first.
    let cut = body.len() - (4 + 1) - (4 + 10);
    let mut w = SnapshotWriter::for_encoded_body(Vec::new()).expect("writer");
    w.raw(&body[..cut]).expect("raw");
    let plain = w.finish(None).expect("finish");
    snapshot_forms("java-3.9.5-snap", &plain);
    let _ = Bytes::new();
    println!("txlog and snapshot seeds written");
}
