//! dump.rs on files written by our own writers; the expected text was produced by Java's
//! TxnLogToolkit / SnapshotFormatter (ZooKeeper 3.8.0, TZ=UTC) on identical bytes.

use super::*;
use crate::jute::Data;
use crate::jute::records::Id;
use crate::jute::txn::*;
use crate::storage::snapshot::SnapshotWriter;
use crate::storage::txlog::TxnLogWriter;
use crate::txn::Txn;

fn world() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

fn txn(zxid: i64, cxid: i32, body: TxnBody) -> Txn {
    Txn {
        header: TxnHeader {
            client_id: 0x10000208b310001,
            cxid,
            zxid,
            time: 1_795_651_858_929,
            txn_type: codec::body_type(&body),
        },
        body,
        digest: Some(TxnDigest {
            version: 2,
            tree_digest: 12345,
        }),
    }
}

#[test]
fn dates_are_javas() {
    assert_eq!(java_date_string(0), "Thu Jan 01 00:00:00 UTC 1970");
    assert_eq!(
        java_date_string(1_795_651_859_135),
        "Thu Nov 26 00:10:59 UTC 2026"
    );
    assert_eq!(
        java_date_string(951_825_600_000),
        "Tue Feb 29 12:00:00 UTC 2000"
    );
    assert_eq!(java_date_string(-1), "Wed Dec 31 23:59:59 UTC 1969");
    assert_eq!(
        java_short_long_date(1_795_651_858_929),
        "11/26/26, 12:10:58 AM UTC"
    );
    assert_eq!(
        java_short_long_date(951_825_600_000),
        "2/29/00, 12:00:00 PM UTC"
    );
    assert_eq!(
        java_short_long_date(951_867_599_000),
        "2/29/00, 11:39:59 PM UTC"
    );
}

#[test]
fn hash_order_matches_java_collections() {
    // Printed by Java 17: HashSet<>(8) with n000..n019 added in order.
    let names: Vec<String> = (0..20).map(|i| format!("n{i:03}")).collect();
    let h: Vec<i32> = names.iter().map(|n| java_string_hash(n)).collect();
    let got: Vec<&str> = java_hash_order(&h, 8)
        .into_iter()
        .map(|i| names[i].as_str())
        .collect();
    assert_eq!(
        got.join(" "),
        "n000 n011 n001 n012 n010 n004 n015 n005 n016 n002 n013 n003 n014 n008 n019 n009 n006 n017 n007 n018"
    );
    let names = [
        "zookeeper",
        "ws",
        "a",
        "b",
        "quota",
        "config",
        "p-0000000001",
        "p-0000000000",
        "Aa",
        "BB",
        "éé𝄞",
    ];
    let h: Vec<i32> = names.iter().map(|n| java_string_hash(n)).collect();
    let got: Vec<&str> = java_hash_order(&h, 8)
        .into_iter()
        .map(|i| names[i])
        .collect();
    assert_eq!(
        got.join(" "),
        "Aa BB a p-0000000000 b p-0000000001 éé𝄞 zookeeper quota ws config"
    );
    // HashMap<Long, Integer>.
    let ids: [i64; 7] = [
        0x10000208b310004,
        0x10000208b310000,
        0x20000208b310001,
        -5,
        i64::MAX,
        0x100000000,
        1,
    ];
    let h: Vec<i32> = ids.iter().map(|v| java_long_hash(*v)).collect();
    let got: Vec<String> = java_hash_order(&h, 16)
        .into_iter()
        .map(|i| format!("{:x}", ids[i]))
        .collect();
    assert_eq!(
        got.join(" "),
        "20000208b310001 7fffffffffffffff 10000208b310000 100000000 1 fffffffffffffffb 10000208b310004"
    );
}

#[test]
fn txnlog_dump_renders_every_txn_type_as_java() {
    let d = tempfile::tempdir().unwrap();
    let mut w = TxnLogWriter::open(d.path(), 1 << 16, false).unwrap();
    let bodies = vec![
        TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 }),
        TxnBody::Create(CreateTxn {
            path: "/a".into(),
            data: Bytes::from_static(b"x,y").into(),
            acl: world(),
            ephemeral: false,
            parent_cversion: 1,
        }),
        TxnBody::Create2(CreateTxn {
            path: "/a/e".into(),
            data: Bytes::new().into(),
            acl: vec![],
            ephemeral: true,
            parent_cversion: 1,
        }),
        TxnBody::CreateContainer(CreateContainerTxn {
            path: "/c".into(),
            data: Bytes::new().into(),
            acl: world(),
            parent_cversion: 2,
        }),
        TxnBody::CreateTtl(CreateTtlTxn {
            path: "/t".into(),
            data: Bytes::from_static(b"t").into(),
            acl: world(),
            parent_cversion: 3,
            ttl: 5000,
        }),
        TxnBody::SetData(SetDataTxn {
            path: "/a".into(),
            data: Bytes::from_static(b"v").into(),
            version: 1,
        }),
        TxnBody::SetAcl(SetAclTxn {
            path: "/a,b%}".into(),
            acl: [world(), world()].concat(),
            version: 1,
        }),
        TxnBody::Delete(DeleteTxn {
            path: "/a/e".into(),
        }),
        TxnBody::DeleteContainer(DeleteTxn { path: "/c".into() }),
        TxnBody::Error(ErrorTxn { err: -101 }),
        TxnBody::Multi(vec![
            TxnBody::Check(CheckVersionTxn {
                path: "/a".into(),
                version: 1,
            }),
            TxnBody::Delete(DeleteTxn { path: "/t".into() }),
        ]),
        TxnBody::CloseSession(CloseSessionTxn {
            paths2_delete: vec!["/x".into(), "/y".into()],
        }),
    ];
    for (i, b) in bodies.into_iter().enumerate() {
        w.append(&codec::encode_txn(&txn(i as i64 + 1, i as i32, b)))
            .unwrap();
    }
    w.commit().unwrap();
    let text = txnlog_dump(&d.path().join("log.1")).unwrap();
    let p = "11/26/26, 12:10:58 AM UTC session 0x10000208b310001";
    let expected = format!(
        "ZooKeeper Transactional Log File with dbid 0 txnlog format version 2
{p} cxid 0x0 zxid 0x1 createSession 30000
{p} cxid 0x1 zxid 0x2 create /a,x,y,[31,s{{'world,'anyone}}
],false,1
{p} cxid 0x2 zxid 0x3 create2 /a/e,,[],true,1
{p} cxid 0x3 zxid 0x4 createContainer /c,,[31,s{{'world,'anyone}}
],2
{p} cxid 0x4 zxid 0x5 createTtl /t,t,[31,s{{'world,'anyone}}
],3,5000
{p} cxid 0x5 zxid 0x6 setData /a,v,1
{p} cxid 0x6 zxid 0x7 setACL '/a%2Cb%25%7D,v{{s{{31,s{{'world,'anyone}}}},s{{31,s{{'world,'anyone}}}}}},1
{p} cxid 0x7 zxid 0x8 delete '/a/e
{p} cxid 0x8 zxid 0x9 deleteContainer '/c
{p} cxid 0x9 zxid 0xa error -101
{p} cxid 0xa zxid 0xb multi check:\0\0\0\x02/a\0\0\0\x01;delete:\0\0\0\x02/t
{p} cxid 0xb zxid 0xc closeSession v{{'/x,'/y}}
EOF reached after 12 txns.
"
    );
    assert_eq!(text, expected);
}

#[test]
fn txnlog_dump_flags_crc_errors_and_partial_entries() {
    let d = tempfile::tempdir().unwrap();
    let mut w = TxnLogWriter::open(d.path(), 1 << 16, false).unwrap();
    for z in 1..=2 {
        w.append(&codec::encode_txn(&txn(
            z,
            -1,
            TxnBody::Delete(DeleteTxn { path: "/q".into() }),
        )))
        .unwrap();
    }
    w.commit().unwrap();
    let path = d.path().join("log.1");
    let mut bytes = std::fs::read(&path).unwrap();
    // The checksum of the first entry.
    bytes[16 + 7] ^= 1;
    let entry = 12 + 32 + 6 + 12 + 1;
    let f = d.path().join("flipped");
    std::fs::write(&f, &bytes[..16 + 2 * entry]).unwrap();
    let text = txnlog_dump(&f).unwrap();
    let line = "11/26/26, 12:10:58 AM UTC session 0x10000208b310001 cxid 0xffffffffffffffff zxid 0x1 delete '/q\n";
    assert!(text.starts_with(&format!(
        "ZooKeeper Transactional Log File with dbid 0 txnlog format version 2\nCRC ERROR - {line}{line}"
    )));
    assert!(text.ends_with("EOF reached after 2 txns.\n"));
    // A complete entry without its end-of-record byte.
    let mut torn = bytes[..16 + 2 * entry].to_vec();
    torn[16 + 2 * entry - 1] = 0;
    std::fs::write(&f, &torn).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        txnlog_dump_to(&f, &mut out),
        Err("Last transaction was partial.".into())
    );
    assert!(
        String::from_utf8(out)
            .unwrap()
            .ends_with(&format!("{line}{}", line.replace("zxid 0x1", "zxid 0x2")))
    );
    // Zeros after a length (a torn write into preallocated space): Java fails decoding.
    let mut torn = bytes[..16 + entry + 12].to_vec();
    torn.extend(std::iter::repeat_n(0u8, entry - 12));
    std::fs::write(&f, &torn).unwrap();
    assert!(txnlog_dump(&f).is_err());
    // Cut inside an entry: a plain end.
    std::fs::write(&f, &bytes[..16 + entry + 20]).unwrap();
    assert!(
        txnlog_dump(&f)
            .unwrap()
            .ends_with("EOF reached after 1 txns.\n")
    );
    std::fs::write(&f, b"not a log file at all").unwrap();
    assert_eq!(
        txnlog_dump(&f),
        Err("Invalid magic number for flipped".into())
    );
}

fn stat(czxid: i64, mzxid: i64, pzxid: i64, owner: i64) -> StatPersisted {
    StatPersisted {
        czxid,
        mzxid,
        ctime: 1_795_651_858_929,
        mtime: 1_795_651_859_135,
        version: 1,
        cversion: 2,
        aversion: 0,
        ephemeral_owner: owner,
        pzxid,
    }
}

#[test]
fn snapshot_dump_prints_javas_tree_walk() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("snapshot.1f");
    let f = std::fs::File::create(&path).unwrap();
    let sid = 0x10000208b310004;
    let mut w = SnapshotWriter::new(f, &[(sid, 30000), (0x2, 4000)], &[(1, world())]).unwrap();
    let zero = StatPersisted {
        czxid: 0,
        mzxid: 0,
        ctime: 0,
        mtime: 0,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        pzxid: 0,
    };
    w.node("", &Data::from_static(b""), -1, &zero).unwrap();
    w.node("/zookeeper", &Data::from_static(b""), -1, &zero)
        .unwrap();
    w.node("/b", &Data::from_static(b"hi"), 1, &stat(3, 0x20, 4, 0))
        .unwrap();
    w.node("/b/e", &Data::from_static(b""), 1, &stat(4, 4, 4, sid))
        .unwrap();
    w.node(
        "/a",
        &Data::from_static(b"\x00\xff"),
        1,
        &stat(5, 5, 5, i64::MIN),
    )
    .unwrap();
    w.finish(Some((0x1f, 77))).unwrap();
    let node = |p: &str, cz: &str, mz: &str, pz: &str, owner: &str, tail: &str| {
        format!(
            "----\n{p}\n  cZxid = {cz}\n  ctime = Thu Nov 26 00:10:58 UTC 2026\n  mZxid = {mz}\n  mtime = Thu Nov 26 00:10:59 UTC 2026\n  pZxid = {pz}\n  cversion = 2\n  dataVersion = 1\n  aclVersion = 0\n  ephemeralOwner = {owner}\n{tail}\n"
        )
    };
    let root = |p: &str, tail: &str| {
        format!(
            "----\n{p}\n  cZxid = 0x00000000000000\n  ctime = Thu Jan 01 00:00:00 UTC 1970\n  mZxid = 0x00000000000000\n  mtime = Thu Jan 01 00:00:00 UTC 1970\n  pZxid = 0x00000000000000\n  cversion = 0\n  dataVersion = 0\n  aclVersion = 0\n  ephemeralOwner = 0x00000000000000\n{tail}\n"
        )
    };
    let z = "0x0000000000000";
    for with_data in [false, true] {
        let t = |len: usize, b64: &str| {
            if with_data {
                format!("  data = {b64}")
            } else {
                format!("  dataLength = {len}")
            }
        };
        let expected = [
            "ZNode Details (count=6):\n".to_string(),
            root("/", &t(0, "")),
            // HashSet order of {zookeeper, b, a}: a, b, zookeeper.
            node(
                "/a",
                &format!("{z}5"),
                &format!("{z}5"),
                &format!("{z}5"),
                "0x8000000000000000",
                &t(2, "AP8="),
            ),
            node(
                "/b",
                &format!("{z}3"),
                "0x00000000000020",
                &format!("{z}4"),
                "0x00000000000000",
                &t(2, "aGk="),
            ),
            node(
                "/b/e",
                &format!("{z}4"),
                &format!("{z}4"),
                &format!("{z}4"),
                "0x10000208b310004",
                &t(0, ""),
            ),
            root("/zookeeper", &t(0, "")),
            "----\nSession Details (sid, timeout, ephemeralCount):\n".to_string(),
            "0x00000000000002, 4000, 0\n0x10000208b310004, 30000, 1\n".to_string(),
            "----\nLast zxid: 0x20\n".to_string(),
        ]
        .concat();
        assert_eq!(snapshot_dump(&path, with_data).unwrap(), expected);
    }
    // A missing parent is an error, as Java's "Invalid Datatree".
    let bad = d.path().join("snapshot.2");
    let mut w = SnapshotWriter::new(std::fs::File::create(&bad).unwrap(), &[], &[]).unwrap();
    w.node("", &Data::from_static(b""), -1, &zero).unwrap();
    w.node("/x/y", &Data::from_static(b""), -1, &zero).unwrap();
    w.finish(None).unwrap();
    let e = snapshot_dump(&bad, false).unwrap_err();
    assert!(e.contains("unable to find parent /x of path /x/y"), "{e}");
}

/// `.gz` and `.snappy` snapshots (the forms Java writes with
/// zookeeper.snapshot.compression.method) print exactly as the same snapshot uncompressed,
/// with and without -d; a damaged compressed file is an error, not a panic.
#[test]
fn snapshot_dump_reads_gz_and_snappy_like_plain() {
    use std::io::Write as _;
    let d = tempfile::tempdir().unwrap();
    let plain = d.path().join("snapshot.2a");
    let mut w = SnapshotWriter::new(
        std::fs::File::create(&plain).unwrap(),
        &[(0x77, 30000)],
        &[(1, world())],
    )
    .unwrap();
    w.node("", &Data::empty(), -1, &stat(0, 0, 0x2a, 0))
        .unwrap();
    w.node("/zookeeper", &Data::empty(), -1, &stat(0, 0, 0, 0))
        .unwrap();
    for i in 0..300 {
        let data = format!("value {i} ").repeat(i % 40);
        w.node(
            &format!("/n{i}"),
            &Data::new(data.into_bytes()),
            1,
            &stat(
                i as i64 + 1,
                i as i64 + 1,
                i as i64 + 1,
                0x77 * (i as i64 % 2),
            ),
        )
        .unwrap();
    }
    w.finish(Some((0x2a, 1234))).unwrap();
    let raw = std::fs::read(&plain).unwrap();

    let gz = d.path().join("snapshot.2a.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&raw).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();

    // snappy-java's SnappyOutputStream: magic, version 1, compatible version 1, then
    // blocks of i32 length + raw snappy (32 KiB of input each).
    let mut sn = vec![0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
    sn.extend_from_slice(&1i32.to_be_bytes());
    sn.extend_from_slice(&1i32.to_be_bytes());
    for part in raw.chunks(32 * 1024) {
        let c = snap::raw::Encoder::new().compress_vec(part).unwrap();
        sn.extend_from_slice(&(c.len() as i32).to_be_bytes());
        sn.extend_from_slice(&c);
    }
    let snp = d.path().join("snapshot.2a.snappy");
    std::fs::write(&snp, &sn).unwrap();

    for with_data in [false, true] {
        let want = snapshot_dump(&plain, with_data).unwrap();
        assert!(want.contains("/n299") && want.ends_with("Last zxid: 0x12c\n"));
        for p in [&gz, &snp] {
            assert_eq!(
                snapshot_dump(p, with_data).unwrap(),
                want,
                "{} -d={with_data}",
                p.display()
            );
        }
    }

    // Truncated / garbage compressed files: errors naming the file.
    let cut = d.path().join("snapshot.2b.gz");
    let gz_bytes = std::fs::read(&gz).unwrap();
    std::fs::write(&cut, &gz_bytes[..gz_bytes.len() / 2]).unwrap();
    let e = snapshot_dump(&cut, false).unwrap_err();
    assert!(e.contains("snapshot.2b.gz"), "{e}");
    let bad = d.path().join("snapshot.2c.snappy");
    std::fs::write(&bad, b"not snappy at all, no").unwrap();
    let e = snapshot_dump(&bad, false).unwrap_err();
    assert!(e.contains("snapshot.2c.snappy"), "{e}");
    let mut torn = sn.clone();
    torn.truncate(sn.len() - 10);
    let bad = d.path().join("snapshot.2d.snappy");
    std::fs::write(&bad, &torn).unwrap();
    assert!(snapshot_dump(&bad, false).is_err());
}
