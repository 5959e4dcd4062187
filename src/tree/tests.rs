//! Unit tests of the DataTree (apply, stats, digest, quotas, replay tolerance).

use super::*;
use crate::jute::records::Id;
use crate::jute::txn::*;
use crate::jute::txn::{Txn, TxnBody};
use crate::proto::{err, perms};

fn open() -> Vec<Acl> {
    acl::open_acl_unsafe()
}

fn txn(sid: i64, zxid: i64, time: i64, body: TxnBody) -> Txn {
    let t = crate::txn::codec::body_type(&body);
    Txn {
        header: TxnHeader {
            client_id: sid,
            cxid: 1,
            zxid,
            time,
            txn_type: t,
        },
        body,
        digest: None,
    }
}

fn create(path: &str, data: &[u8], eph: bool, pcv: i32) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path: path.into(),
        data: Data::new(Bytes::copy_from_slice(data)),
        acl: open(),
        ephemeral: eph,
        parent_cversion: pcv,
    })
}

fn delete(path: &str) -> TxnBody {
    TxnBody::Delete(DeleteTxn { path: path.into() })
}

fn set_data(path: &str, data: &[u8], version: i32) -> TxnBody {
    TxnBody::SetData(SetDataTxn {
        path: path.into(),
        data: Data::new(Bytes::copy_from_slice(data)),
        version,
    })
}

/// Recompute every derived index from scratch and compare.
pub(crate) fn check_invariants(t: &DataTree) {
    let mut sum = 0i64;
    let mut size = 0i64;
    let mut count = 0;
    for (id, n) in t.nodes.iter() {
        count += 1;
        let k = t.nodes.path_of(id).expect("every node reaches the root");
        assert_eq!(t.nodes.lookup(&k), Some(id), "index of {k:?}");
        sum = sum.wrapping_add(n.digest_at(&k));
        size += path::java_len(&k) + n.data_len() as i64;
        if k.is_empty() {
            size += 1 + n.data_len() as i64;
        }
        for (pos, &c) in n.child_ids().iter().enumerate() {
            let cn = t.nodes.get(c).expect("child exists");
            assert_eq!(
                (cn.parent, cn.pos as usize),
                (id, pos),
                "link of child {c} of {k:?}"
            );
        }
        let st = n.stat();
        let eph = node::ephemeral_type(st.ephemeral_owner, t.extended_types_enabled);
        match eph {
            EphemeralType::Normal => {
                assert!(
                    t.ephemerals
                        .get(&st.ephemeral_owner)
                        .is_some_and(|s| s.contains(&k))
                )
            }
            EphemeralType::Container => assert!(t.containers.contains(&k)),
            EphemeralType::Ttl => assert!(t.ttls.contains(&k)),
            EphemeralType::Void => {}
        }
        assert!(
            n.acl == -1 || t.acls.refs(n.acl) > 0,
            "acl {} of {k}",
            n.acl
        );
    }
    assert_eq!(count, t.nodes.len(), "node count");
    assert_eq!(sum, t.digest, "tree digest");
    for (sid, set) in &t.ephemerals {
        for p in set {
            assert_eq!(t.node(p).map(|n| n.ephemeral_owner()), Some(*sid), "{p}");
        }
    }
    for p in t.containers.iter().chain(t.ttls.iter()) {
        assert!(t.exists(p));
    }
    assert_eq!(t.data_size, size, "data size");
}

#[test]
fn fresh_tree_matches_java() {
    let t = DataTree::new();
    assert_eq!(t.node_count(), 5);
    assert_eq!(t.all_children_number("/"), Some(3));
    assert_eq!(t.all_children_number("/zookeeper"), Some(2));
    let root = t.stat("/").unwrap();
    assert_eq!(
        (root.cversion, root.num_children, root.czxid, root.pzxid),
        (-1, 1, 0, 0)
    );
    let zk = t.stat("/zookeeper").unwrap();
    assert_eq!((zk.cversion, zk.num_children), (-2, 2));
    let cfg = t.stat("/zookeeper/config").unwrap();
    assert_eq!(cfg.aversion, -1);
    assert_eq!(t.node("/zookeeper/config").unwrap().acl, 1);
    assert_eq!(*t.acl("/zookeeper/config").unwrap(), acl::read_acl_unsafe());
    assert_eq!(t.node("/").unwrap().acl, -1);
    assert_eq!(t.node("/zookeeper/quota").unwrap().acl, -1);
    assert_eq!(t.acl_cache().entries().count(), 1);
    // crc32(60 zero bytes) + crc32("/zookeeper" + 60 zero bytes), from Python's zlib.
    assert_eq!(t.digest(), 68323592 + 1303661912);
    assert_eq!(t.approximate_data_size(), 1 + 10 + 16 + 17);
    assert!(t.ephemerals_by_session().is_empty());
    check_invariants(&t);
}

#[test]
fn create_stats_and_events() {
    let mut t = DataTree::new();
    let o = t.apply(&txn(7, 5, 1000, create("/a", b"hello", false, 1)));
    let TxnResult::Created { op, path, stat } = o.result else {
        panic!("{:?}", o.result)
    };
    assert_eq!((op, path.as_str()), (1, "/a"));
    assert_eq!(
        (stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime),
        (5, 5, 5, 1000, 1000)
    );
    assert_eq!(
        (
            stat.version,
            stat.cversion,
            stat.aversion,
            stat.ephemeral_owner
        ),
        (0, 0, 0, 0)
    );
    assert_eq!((stat.data_length, stat.num_children), (5, 0));
    let kinds: Vec<_> = o.events.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            ("/a", EventKind::NodeCreated),
            ("/", EventKind::NodeChildrenChanged)
        ]
    );
    let root = t.node("/").unwrap();
    assert_eq!((root.stat().cversion, root.stat().pzxid), (1, 5));
    // Node digest of /a from Python's zlib.crc32.
    assert_eq!(t.node("/a").unwrap().digest_at("/a"), 4272001761);
    // A client-created open ACL gets a real id (2), not -1.
    assert_eq!(t.node("/a").unwrap().acl, 2);
    assert_eq!(t.approximate_data_size(), 44 + 2 + 5);
    check_invariants(&t);
}

#[test]
fn ephemeral_and_close_session() {
    let mut t = DataTree::new();
    t.apply(&txn(0, 1, 1, create("/p", b"", false, 1)));
    t.apply(&txn(42, 2, 2, create("/p/e1", b"x", true, 1)));
    t.apply(&txn(42, 3, 3, create("/p/e2", b"", true, 2)));
    t.apply(&txn(43, 4, 4, create("/p/o", b"", true, 3)));
    assert_eq!(t.stat("/p/e1").unwrap().ephemeral_owner, 42);
    assert_eq!(
        t.ephemerals_of(42),
        vec!["/p/e1".to_string(), "/p/e2".to_string()]
    );
    assert_eq!(t.sessions_with_ephemerals(), vec![42, 43]);
    assert_eq!(t.ephemerals_by_session()[1], (43, vec!["/p/o".to_string()]));
    assert_eq!(t.ephemerals_count(), 3);
    let o = t.apply(&txn(
        42,
        5,
        5,
        TxnBody::CloseSession(CloseSessionTxn {
            paths2_delete: vec!["/p/e2".into()],
        }),
    ));
    assert_eq!(o.result, TxnResult::SessionClosed);
    // Both go: e2 from the txn, e1 from the local index.
    assert!(!t.exists("/p/e1") && !t.exists("/p/e2"));
    assert_eq!(t.ephemerals_of(42), Vec::<String>::new());
    assert_eq!(
        o.events
            .iter()
            .filter(|e| e.kind == EventKind::NodeDeleted)
            .count(),
        2
    );
    let p = t.stat("/p").unwrap();
    assert_eq!((p.pzxid, p.num_children, p.cversion), (5, 1, 5));
    check_invariants(&t);
}

#[test]
fn replay_is_tolerant() {
    let mut t = DataTree::new();
    t.apply(&txn(0, 1, 1, create("/a", b"", false, 1)));
    let d = t.digest();
    // Re-applying the create: NODEEXISTS, parent cversion fix-up is a no-op (1 is not > 1).
    let o = t.apply(&txn(0, 1, 1, create("/a", b"", false, 1)));
    assert_eq!(o.result, TxnResult::Error(err::NODE_EXISTS));
    assert!(o.events.is_empty());
    assert_eq!(t.digest(), d);
    // A later replayed create of an existing node raises the parent's cversion/pzxid.
    let o = t.apply(&txn(0, 9, 9, create("/a", b"", false, 4)));
    assert_eq!(o.result, TxnResult::Error(err::NODE_EXISTS));
    let root = t.node("/").unwrap();
    assert_eq!((root.stat().cversion, root.stat().pzxid), (4, 9));
    // create2 gets no fix-up.
    let c2 = TxnBody::Create2(CreateTxn {
        path: "/a".into(),
        acl: open(),
        parent_cversion: 7,
        ..Default::default()
    });
    assert_eq!(
        t.apply(&txn(0, 10, 10, c2)).result,
        TxnResult::Error(err::NODE_EXISTS)
    );
    assert_eq!(t.node("/").unwrap().stat().cversion, 4);
    // Deleting a missing node under an existing parent still bumps the parent's pzxid.
    assert_eq!(
        t.apply(&txn(0, 11, 11, delete("/nope"))).result,
        TxnResult::Error(err::NO_NODE)
    );
    assert_eq!(t.node("/").unwrap().stat().pzxid, 11);
    assert_eq!(
        t.apply(&txn(0, 12, 12, delete("/x/y"))).result,
        TxnResult::Error(err::NO_NODE)
    );
    assert_eq!(
        t.apply(&txn(0, 13, 13, set_data("/x", b"", 1))).result,
        TxnResult::Error(err::NO_NODE)
    );
    // Garbage paths never panic.
    for p in ["", "/", "noslash", "//", "/a/"] {
        t.apply(&txn(0, 14, 14, create(p, b"", false, -1)));
        t.apply(&txn(0, 14, 14, delete(p)));
        t.apply(&txn(0, 14, 14, set_data(p, b"", 1)));
    }
    assert!(t.exists("/"));
    check_invariants(&t);
}

#[test]
fn set_data_and_set_acl() {
    let mut t = DataTree::new();
    t.apply(&txn(0, 1, 100, create("/a", b"1", false, 1)));
    let o = t.apply(&txn(0, 2, 200, set_data("/a", b"22", 1)));
    let TxnResult::DataSet { stat } = o.result else {
        panic!()
    };
    assert_eq!(
        (stat.version, stat.mzxid, stat.mtime, stat.czxid, stat.ctime),
        (1, 2, 200, 1, 100)
    );
    assert_eq!(o.events[0].kind, EventKind::NodeDataChanged);
    let ro = acl::read_acl_unsafe();
    let o = t.apply(&txn(
        0,
        3,
        300,
        TxnBody::SetAcl(SetAclTxn {
            path: "/a".into(),
            acl: ro.clone(),
            version: 1,
        }),
    ));
    let TxnResult::AclSet { stat } = o.result else {
        panic!()
    };
    assert_eq!((stat.aversion, stat.mzxid), (1, 2));
    assert!(o.events.is_empty());
    // READ_ACL_UNSAFE is id 1 (config node); open id 2 was released with /a's last use.
    assert_eq!(t.node("/a").unwrap().acl, 1);
    assert_eq!(t.acl_cache().len(), 1);
    assert_eq!(t.acl_cache().refs(1), 2);
    check_invariants(&t);
}

#[test]
fn containers_and_ttls_are_reapable() {
    let mut t = DataTree::with_extended_types(true);
    let cc = TxnBody::CreateContainer(CreateContainerTxn {
        path: "/c".into(),
        data: Data::empty(),
        acl: open(),
        parent_cversion: 1,
    });
    let o = t.apply(&txn(9, 1, 1000, cc));
    let TxnResult::Created { op, stat, .. } = o.result else {
        panic!()
    };
    assert_eq!((op, stat.ephemeral_owner), (19, 0));
    assert_eq!(t.node("/c").unwrap().stat().ephemeral_owner, i64::MIN);
    assert!(
        t.reapable(10_000, true).is_empty(),
        "never-used container stays"
    );
    t.apply(&txn(9, 2, 1000, create("/c/x", b"", false, 1)));
    assert!(t.reapable(10_000, true).is_empty());
    t.apply(&txn(9, 3, 1000, delete("/c/x")));
    assert_eq!(t.reapable(10_000, true), vec!["/c".to_string()]);
    let ttl = TxnBody::CreateTtl(CreateTtlTxn {
        path: "/t".into(),
        data: Data::empty(),
        acl: open(),
        parent_cversion: 2,
        ttl: 100,
    });
    t.apply(&txn(9, 4, 5000, ttl));
    assert_eq!(t.stat("/t").unwrap().ephemeral_owner, 0);
    assert_eq!(
        t.node("/t").unwrap().stat().ephemeral_owner as u64,
        0xff00_0000_0000_0064
    );
    assert_eq!(t.reapable(5100, true), vec!["/c".to_string()]);
    assert_eq!(
        t.reapable(5101, true),
        vec!["/c".to_string(), "/t".to_string()]
    );
    assert_eq!(t.reapable(5101, false), vec!["/c".to_string()]);
    assert!(t.ephemerals_of(9).is_empty());
    check_invariants(&t);
}

#[test]
fn failed_multi_changes_nothing() {
    let mut t = DataTree::new();
    let d = t.digest();
    let m = TxnBody::Multi(vec![
        create("/a", b"", false, 1),
        TxnBody::Error(ErrorTxn { err: err::NO_NODE }),
        TxnBody::Error(ErrorTxn {
            err: err::RUNTIME_INCONSISTENCY,
        }),
    ]);
    let o = t.apply(&txn(0, 1, 1, m));
    assert_eq!(
        o.result,
        TxnResult::Multi(vec![
            TxnResult::Error(0),
            TxnResult::Error(err::NO_NODE),
            TxnResult::Error(err::RUNTIME_INCONSISTENCY)
        ])
    );
    assert!(!t.exists("/a"));
    assert_eq!(t.digest(), d);
    let ok = TxnBody::Multi(vec![
        create("/a", b"", false, 1),
        TxnBody::Check(CheckVersionTxn {
            path: "/a".into(),
            version: 1,
        }),
        set_data("/a", b"x", 1),
        delete("/a"),
    ]);
    let o = t.apply(&txn(0, 2, 2, ok));
    let TxnResult::Multi(rs) = o.result else {
        panic!()
    };
    assert!(matches!(rs[0], TxnResult::Created { op: 1, .. }));
    assert_eq!(rs[1], TxnResult::Checked);
    assert!(matches!(rs[2], TxnResult::DataSet { .. }));
    assert_eq!(rs[3], TxnResult::Deleted);
    assert_eq!(o.events.len(), 5);
    check_invariants(&t);
}

/// Client-written stats text with extreme or garbage counts: applying creates, setData and
/// deletes below the quota root never panics; counts wrap as Java longs (what Java's
/// updateQuotaStat writes back); unparseable stats are left alone.
#[test]
fn quota_stats_with_extreme_counts_wrap_like_java() {
    let mut t = DataTree::new();
    t.apply(&txn(0, 1, 1, create("/app", b"", false, 1)));
    t.apply(&txn(0, 2, 1, create("/zookeeper/quota/app", b"", false, 1)));
    let limits = "/zookeeper/quota/app/zookeeper_limits";
    let stats = "/zookeeper/quota/app/zookeeper_stats";
    t.apply(&txn(
        0,
        3,
        1,
        create(limits, b"count=-1,bytes=-1", false, 1),
    ));
    t.apply(&txn(0, 4, 1, create(stats, b"", false, 2)));
    let text = |t: &DataTree| String::from_utf8(t.get_data(stats).unwrap().0.to_vec()).unwrap();
    assert_eq!(text(&t), "count=1,bytes=0");
    let mut z = 5;
    let mut apply = |t: &mut DataTree, body: TxnBody| {
        z += 1;
        t.apply(&txn(0, z, 1, body));
    };
    apply(
        &mut t,
        set_data(
            stats,
            b"count=9223372036854775807,bytes=9223372036854775807",
            -1,
        ),
    );
    apply(&mut t, create("/app/a", b"xyz", false, 1));
    assert_eq!(
        text(&t),
        "count=-9223372036854775808,bytes=-9223372036854775806"
    );
    apply(&mut t, delete("/app/a"));
    assert_eq!(
        text(&t),
        "count=9223372036854775807,bytes=9223372036854775807"
    );
    apply(
        &mut t,
        set_data(
            stats,
            b"count=-9223372036854775808,bytes=-9223372036854775808",
            -1,
        ),
    );
    apply(&mut t, create("/app/b", b"12", false, 2));
    apply(&mut t, delete("/app/b"));
    assert_eq!(
        text(&t),
        "count=-9223372036854775808,bytes=-9223372036854775808"
    );
    apply(&mut t, delete("/app/b")); // already gone: no change
    apply(&mut t, create("/app/c", b"", false, 3));
    apply(&mut t, delete("/app/c"));
    apply(&mut t, delete("/app/c"));
    // a setData that shrinks data by more than the stored bytes
    apply(&mut t, create("/app/d", &[7; 100], false, 4));
    apply(
        &mut t,
        set_data(stats, b"count=0,bytes=-9223372036854775800", -1),
    );
    apply(&mut t, set_data("/app/d", b"", -1));
    assert_eq!(text(&t), "count=0,bytes=9223372036854775716");
    // garbage or out-of-range text: nothing to update, nothing panics
    for junk in [
        &b"count=abc,bytes=1"[..],
        b"count=9223372036854775808,bytes=0",
        b"\xff\xfe",
        b",,,",
        b"count",
    ] {
        apply(&mut t, set_data(stats, junk, -1));
        apply(&mut t, create("/app/e", b"e", false, 5));
        apply(&mut t, set_data("/app/e", b"ee", -1));
        apply(&mut t, delete("/app/e"));
        assert_eq!(t.get_data(stats).unwrap().0.as_ref(), junk);
    }
    // (No check_invariants: like Java's updateQuotaStat, rewriting the stats text does not
    // move the approximate data size, so it no longer matches a recount here.)
}

#[test]
fn quota_stats_follow_changes() {
    let mut t = DataTree::new();
    t.apply(&txn(0, 1, 1, create("/app", b"abc", false, 1)));
    t.apply(&txn(0, 2, 1, create("/app/x", b"12345", false, 1)));
    t.apply(&txn(0, 3, 1, create("/zookeeper/quota/app", b"", false, 1)));
    t.apply(&txn(
        0,
        4,
        1,
        create(
            "/zookeeper/quota/app/zookeeper_limits",
            b"count=10,bytes=-1",
            false,
            1,
        ),
    ));
    t.apply(&txn(
        0,
        5,
        1,
        create(
            "/zookeeper/quota/app/zookeeper_stats",
            b"count=0,bytes=0",
            false,
            2,
        ),
    ));
    assert_eq!(t.max_prefix_with_quota("/app/x"), Some("/app".into()));
    let stats = |t: &DataTree| {
        t.get_data("/zookeeper/quota/app/zookeeper_stats")
            .unwrap()
            .0
    };
    assert_eq!(&stats(&t)[..], b"count=2,bytes=8");
    t.apply(&txn(0, 6, 1, create("/app/y", b"zz", false, 2)));
    assert_eq!(&stats(&t)[..], b"count=3,bytes=10");
    t.apply(&txn(0, 7, 1, set_data("/app/y", b"z", 1)));
    assert_eq!(&stats(&t)[..], b"count=3,bytes=9");
    t.apply(&txn(0, 8, 1, delete("/app/x")));
    assert_eq!(&stats(&t)[..], b"count=2,bytes=4");
    t.apply(&txn(
        0,
        9,
        1,
        delete("/zookeeper/quota/app/zookeeper_limits"),
    ));
    assert_eq!(t.max_prefix_with_quota("/app/y"), None);
    t.apply(&txn(0, 10, 1, create("/app/z", b"", false, 3)));
    assert_eq!(&stats(&t)[..], b"count=2,bytes=4");
    check_invariants(&t);
}

#[test]
fn snapshot_round_trip_preserves_everything() {
    let mut t = DataTree::with_extended_types(true);
    t.apply(&txn(0, 1, 1, create("/app", b"abc", false, 1)));
    t.apply(&txn(5, 2, 1, create("/app/e", b"", true, 1)));
    t.apply(&txn(0, 3, 1, create("/zookeeper/quota/app", b"", false, 1)));
    t.apply(&txn(
        0,
        4,
        1,
        create(
            "/zookeeper/quota/app/zookeeper_limits",
            b"count=10,bytes=-1",
            false,
            1,
        ),
    ));
    t.apply(&txn(
        0,
        5,
        1,
        create(
            "/zookeeper/quota/app/zookeeper_stats",
            b"count=0,bytes=0",
            false,
            2,
        ),
    ));
    let acls: Vec<(i64, Vec<Acl>)> = t
        .acl_cache()
        .entries()
        .map(|(i, a)| (i, a.to_vec()))
        .collect();
    let nodes: Vec<_> = t
        .preorder()
        .into_iter()
        .map(|(p, n)| (p, n.data_value(), n.acl, n.stat()))
        .collect();
    assert_eq!(nodes[0].0, "");
    let u = DataTree::from_snapshot(true, acls, nodes).unwrap();
    assert_eq!(u.digest(), t.digest());
    assert_eq!(u.node_count(), t.node_count());
    assert_eq!(u.ephemerals_of(5), vec!["/app/e".to_string()]);
    assert_eq!(u.max_prefix_with_quota("/app/e"), Some("/app".into()));
    assert_eq!(u.approximate_data_size(), t.approximate_data_size());
    check_invariants(&u);
    let orphan = vec![
        (String::new(), Data::empty(), -1, StatPersisted::default()),
        ("/a/b".into(), Data::empty(), -1, StatPersisted::default()),
    ];
    assert!(DataTree::from_snapshot(false, vec![], orphan).is_err());
}

#[test]
fn acl_of_events_and_check() {
    let mut t = DataTree::new();
    let digest_acl = vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "digest".into(),
            id: "u:h".into(),
        },
    }];
    let c = TxnBody::Create(CreateTxn {
        path: "/s".into(),
        data: Data::empty(),
        acl: digest_acl.clone(),
        ephemeral: false,
        parent_cversion: 1,
    });
    let o = t.apply(&txn(0, 1, 1, c));
    assert_eq!(*o.events[0].acl, digest_acl);
    assert_eq!(*o.events[1].acl, acl::open_acl_unsafe());
    let o = t.apply(&txn(0, 2, 1, delete("/s")));
    assert_eq!(*o.events[0].acl, digest_acl);
    check_invariants(&t);
}

/// Null data (Java's `create(path, null, ...)`) is kept as null by create/setData, read back
/// as null, survives a snapshot rebuild, and counts as 0 bytes everywhere else (dataLength,
/// digest, approximate data size, quota stats), exactly like empty data.
#[test]
fn null_data_is_kept_and_counts_as_zero_bytes() {
    let mk = |data: Data| {
        TxnBody::Create(CreateTxn {
            path: "/app/n".into(),
            data,
            acl: open(),
            ephemeral: false,
            parent_cversion: 2,
        })
    };
    let setup = |t: &mut DataTree| {
        t.apply(&txn(0, 1, 1, create("/app", b"abc", false, 1)));
        t.apply(&txn(0, 2, 1, create("/zookeeper/quota/app", b"", false, 1)));
        let limits = create(
            "/zookeeper/quota/app/zookeeper_limits",
            b"count=9",
            false,
            1,
        );
        t.apply(&txn(0, 3, 1, limits));
        let stats = create(
            "/zookeeper/quota/app/zookeeper_stats",
            b"count=0,bytes=0",
            false,
            2,
        );
        t.apply(&txn(0, 4, 1, stats));
    };
    let (mut t, mut e) = (DataTree::new(), DataTree::new());
    setup(&mut t);
    setup(&mut e);
    t.apply(&txn(0, 5, 1, mk(Data::NULL)));
    e.apply(&txn(0, 5, 1, mk(Data::empty())));

    let (data, stat) = t.get_data("/app/n").unwrap();
    assert!(data.is_null(), "{data:?}");
    assert_eq!(stat.data_length, 0);
    let (edata, estat) = e.get_data("/app/n").unwrap();
    assert!(!edata.is_null() && edata.is_empty());
    assert_eq!(stat, estat);
    // DigestCalculator skips null data: same digest as empty.
    assert_eq!(
        t.node("/app/n").unwrap().digest_at("/app/n"),
        e.node("/app/n").unwrap().digest_at("/app/n")
    );
    assert_eq!(t.digest(), e.digest());
    assert_eq!(t.approximate_data_size(), e.approximate_data_size());
    let stats = |t: &DataTree| {
        t.get_data("/zookeeper/quota/app/zookeeper_stats")
            .unwrap()
            .0
    };
    assert_eq!(&stats(&t)[..], b"count=2,bytes=3");
    check_invariants(&t);

    // setData: null -> bytes -> null; empty -> null.
    let set = |p: &str, data: Data, v: i32| {
        TxnBody::SetData(SetDataTxn {
            path: p.into(),
            data,
            version: v,
        })
    };
    t.apply(&txn(0, 6, 2, set("/app/n", Data::from_static(b"xy"), 1)));
    assert_eq!(&t.get_data("/app/n").unwrap().0[..], b"xy");
    assert_eq!(&stats(&t)[..], b"count=2,bytes=5");
    t.apply(&txn(0, 7, 3, set("/app/n", Data::NULL, 2)));
    let (data, stat) = t.get_data("/app/n").unwrap();
    assert!(data.is_null());
    assert_eq!((stat.data_length, stat.version), (0, 2));
    assert_eq!(&stats(&t)[..], b"count=2,bytes=3");
    t.apply(&txn(0, 8, 3, set("/app", Data::NULL, 1)));
    assert!(t.get_data("/app").unwrap().0.is_null());
    assert_eq!(&stats(&t)[..], b"count=2,bytes=0");
    check_invariants(&t);

    // Rebuilt from snapshot contents: still null, same digest and size.
    let acls: Vec<(i64, Vec<Acl>)> = t
        .acl_cache()
        .entries()
        .map(|(i, a)| (i, a.to_vec()))
        .collect();
    let nodes: Vec<_> = t
        .preorder()
        .into_iter()
        .map(|(p, n)| (p, n.data_value(), n.acl, n.stat()))
        .collect();
    let u = DataTree::from_snapshot(false, acls, nodes).unwrap();
    assert!(u.get_data("/app/n").unwrap().0.is_null());
    assert!(u.get_data("/app").unwrap().0.is_null());
    assert!(!u.get_data("/zookeeper").unwrap().0.is_null());
    assert_eq!(u.digest(), t.digest());
    assert_eq!(u.approximate_data_size(), t.approximate_data_size());
    check_invariants(&u);
}
