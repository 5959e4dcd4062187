//! Tests of prep (+ apply): ZooKeeper's numbers, error codes and their order, multi
//! shapes, the pending overlay, precomputed digests, and a random-sequence property.

use super::*;
use crate::jute::records::{
    CheckVersionRequest, CreateTtlRequest, DeleteRequest, Id, ReconfigRequest, SetAclRequest,
    SetDataRequest,
};
use crate::proto::{create_mode, perms};
use crate::tree::{TxnResult, acl::digest_id};

struct Sim {
    tree: DataTree,
    pending: PendingChanges,
    zxid: i64,
    cfg: PrepConfig,
}

fn ctx(sid: i64) -> RequestCtx {
    RequestCtx {
        session_id: sid,
        cxid: 7,
        auth: vec![Id {
            scheme: "ip".into(),
            id: "127.0.0.1".into(),
        }]
        .into(),
        ephemeral_refusal: None,
    }
}

fn open() -> Vec<Acl> {
    acl::open_acl_unsafe()
}

fn create_req(op_code: i32, path: &str, flags: i32, ttl: i64) -> Request {
    Request::Create {
        op_code,
        req: CreateTtlRequest {
            path: path.into(),
            data: Data::from_static(b"d"),
            acl: open(),
            flags,
            ttl,
        },
    }
}

fn cr(path: &str, flags: i32) -> Request {
    create_req(op::CREATE, path, flags, -1)
}

fn del(path: &str, version: i32) -> Request {
    Request::Delete(DeleteRequest {
        path: path.into(),
        version,
    })
}

fn setd(path: &str, data: &[u8], version: i32) -> Request {
    Request::SetData(SetDataRequest {
        path: path.into(),
        data: Data::new(bytes::Bytes::copy_from_slice(data)),
        version,
    })
}

impl Sim {
    fn new() -> Sim {
        Sim::with(PrepConfig::default())
    }
    fn with(cfg: PrepConfig) -> Sim {
        Sim {
            tree: DataTree::with_extended_types(cfg.extended_types_enabled),
            pending: PendingChanges::new(),
            zxid: 0,
            cfg,
        }
    }
    fn prep_as(&mut self, c: &RequestCtx, req: &Request) -> Txn {
        self.zxid += 1;
        prep(
            &self.tree,
            &mut self.pending,
            c,
            req,
            self.zxid,
            1000 + self.zxid,
            &self.cfg,
        )
    }
    fn apply(&mut self, t: &Txn) -> TxnResult {
        let out = self.tree.apply(t);
        self.pending.applied(t.header.zxid);
        if let Some(d) = &t.digest {
            assert_eq!(
                d.tree_digest,
                self.tree.digest(),
                "precomputed digest of {:?}",
                t.body
            );
        }
        out.result
    }
    fn run_as(&mut self, c: &RequestCtx, req: &Request) -> TxnResult {
        let t = self.prep_as(c, req);
        self.apply(&t)
    }
    fn run(&mut self, req: &Request) -> TxnResult {
        self.run_as(&ctx(1), req)
    }
    fn err(&mut self, req: &Request) -> i32 {
        match self.run(req) {
            TxnResult::Error(e) => e,
            other => panic!("expected error, got {other:?}"),
        }
    }
    fn cversion(&self, p: &str) -> i32 {
        self.tree.stat(p).unwrap().cversion
    }
}

#[test]
fn parent_cversion_and_sequential_suffixes_match_reference() {
    let mut s = Sim::new();
    s.run(&cr("/q", 0));
    s.run(&cr("/q/a", 0));
    assert_eq!(s.cversion("/q"), 1);
    s.run(&cr("/q/b", 0));
    assert_eq!(s.cversion("/q"), 2);
    s.run(&del("/q/a", -1));
    assert_eq!(s.cversion("/q"), 3);
    assert_eq!(s.tree.stat("/q").unwrap().pzxid, s.zxid);
    let r = s.run(&cr("/q/s-", create_mode::PERSISTENT_SEQUENTIAL));
    assert!(
        matches!(&r, TxnResult::Created { path, .. } if path == "/q/s-0000000002"),
        "{r:?}"
    );
    assert_eq!(s.cversion("/q"), 4);
    let r = s.run(&cr("/q/s-", create_mode::PERSISTENT_SEQUENTIAL));
    assert!(matches!(&r, TxnResult::Created { path, .. } if path == "/q/s-0000000003"));
    assert_eq!(s.cversion("/q"), 5);
    s.run(&del("/q/b", -1));
    assert_eq!(s.cversion("/q"), 6);
    let t = s.prep_as(&ctx(1), &cr("/q/s-", create_mode::PERSISTENT_SEQUENTIAL));
    let TxnBody::Create(c) = &t.body else {
        panic!()
    };
    assert_eq!((c.path.as_str(), c.parent_cversion), ("/q/s-0000000004", 5));
    s.apply(&t);
    assert_eq!(s.cversion("/q"), 7);
    assert_eq!(s.tree.node("/q").unwrap().stat().cversion, 5);
    assert_eq!(s.tree.stat("/q").unwrap().pzxid, t.header.zxid);
}

#[test]
fn txn_headers_and_bodies() {
    let mut s = Sim::new();
    let t = s.prep_as(&ctx(0x55), &cr("/e", create_mode::EPHEMERAL));
    assert_eq!(
        (
            t.header.client_id,
            t.header.cxid,
            t.header.zxid,
            t.header.time,
            t.header.txn_type
        ),
        (0x55, 7, 1, 1001, 1)
    );
    let TxnBody::Create(c) = &t.body else {
        panic!()
    };
    assert!(c.ephemeral);
    assert_eq!(c.parent_cversion, 1);
    assert_eq!(c.acl, open());
    s.apply(&t);
    assert_eq!(s.tree.stat("/e").unwrap().ephemeral_owner, 0x55);
    let t = s.prep_as(&ctx(1), &create_req(op::CREATE2, "/c2", 0, -1));
    assert_eq!(t.header.txn_type, 15);
    let t2 = s.prep_as(&ctx(1), &setd("/e", b"zz", 0));
    let TxnBody::SetData(sd) = &t2.body else {
        panic!()
    };
    assert_eq!(sd.version, 1);
    s.apply(&t);
    s.apply(&t2);
    let t = s.prep_as(
        &ctx(1),
        &Request::Check(CheckVersionRequest {
            path: "/e".into(),
            version: 1,
        }),
    );
    assert_eq!(
        t.body,
        TxnBody::Check(CheckVersionTxn {
            path: "/e".into(),
            version: 2
        })
    );
    s.apply(&t);
    // Error txns: type -1, no digest, zxid consumed.
    let t = s.prep_as(&ctx(1), &cr("/e", 0));
    assert_eq!((t.header.txn_type, t.digest.is_none()), (-1, true));
    assert_eq!(
        t.body,
        TxnBody::Error(ErrorTxn {
            err: err::NODE_EXISTS
        })
    );
    assert_eq!(s.apply(&t), TxnResult::Error(err::NODE_EXISTS));
}

#[test]
fn create_errors_in_zookeeper_order() {
    let mut s = Sim::with(PrepConfig {
        enforce_quota: true,
        ..Default::default()
    });
    assert_eq!(s.err(&cr("/a", 7)), err::BAD_ARGUMENTS);
    assert_eq!(s.err(&cr("/a", -1)), err::BAD_ARGUMENTS);
    assert_eq!(
        s.err(&create_req(op::CREATE_TTL, "/a", 5, 100)),
        err::UNIMPLEMENTED
    );
    assert_eq!(
        s.err(&create_req(op::CREATE_TTL, "/a", 0, 0)),
        err::BAD_ARGUMENTS
    );
    assert_eq!(s.err(&cr("noslash", 0)), err::BAD_ARGUMENTS);
    assert_eq!(s.err(&cr("/a\0", 0)), err::BAD_ARGUMENTS);
    // INVALIDACL is checked before the parent exists.
    let bad_acl = Request::Create {
        op_code: op::CREATE,
        req: CreateTtlRequest {
            path: "/x/y".into(),
            acl: vec![],
            flags: 0,
            ttl: -1,
            ..Default::default()
        },
    };
    assert_eq!(s.err(&bad_acl), err::INVALID_ACL);
    assert_eq!(s.err(&cr("/x/y", 0)), err::NO_NODE);
    assert_eq!(
        s.err(&cr("/a/", 0)),
        err::NO_NODE,
        "parent lookup precedes path validation"
    );
    assert_eq!(s.err(&cr("/", 0)), err::NODE_EXISTS);
    s.run(&cr("/a", 0));
    assert_eq!(s.err(&cr("/a", 0)), err::NODE_EXISTS);
    assert_eq!(s.err(&cr("/a/", 0)), err::BAD_ARGUMENTS);
    assert_eq!(s.err(&cr("/a/.", 0)), err::BAD_ARGUMENTS);
    // Sequential with a trailing slash is fine (the suffix completes the path).
    assert!(
        matches!(s.run(&cr("/a/", 2)), TxnResult::Created { path, .. } if path == "/a/0000000000")
    );
    s.run(&cr("/eph", create_mode::EPHEMERAL));
    assert_eq!(s.err(&cr("/eph/c", 0)), err::NO_CHILDREN_FOR_EPHEMERALS);
    // NOAUTH: parent only readable.
    let ro = Request::Create {
        op_code: op::CREATE,
        req: CreateTtlRequest {
            path: "/ro".into(),
            acl: acl::read_acl_unsafe(),
            flags: 0,
            ttl: -1,
            ..Default::default()
        },
    };
    s.run(&ro);
    assert_eq!(s.err(&cr("/ro/c", 0)), err::NO_AUTH);
    // NOAUTH comes before NODEEXISTS and NOCHILDRENFOREPHEMERALS.
    assert_eq!(s.err(&cr("/zookeeper/config/x", 0)), err::NO_AUTH);
    // Hard count quota.
    s.run(&cr("/zookeeper/quota/a", 0));
    let lim = Request::Create {
        op_code: op::CREATE,
        req: CreateTtlRequest {
            path: "/zookeeper/quota/a/zookeeper_limits".into(),
            data: Data::from_static(b"count=-1,bytes=-1=;countHardLimit=3;byteHardLimit=5"),
            acl: open(),
            flags: 0,
            ttl: -1,
        },
    };
    s.run(&lim);
    let st = Request::Create {
        op_code: op::CREATE,
        req: CreateTtlRequest {
            path: "/zookeeper/quota/a/zookeeper_stats".into(),
            data: Data::empty(),
            acl: open(),
            flags: 0,
            ttl: -1,
        },
    };
    s.run(&st);
    // /a and /a/0000000000 exist: count 2 with 2 bytes.
    s.run(&cr("/a/b", 0));
    assert_eq!(s.err(&cr("/a/c", 0)), err::QUOTA_EXCEEDED);
    assert_eq!(s.err(&setd("/a/b", b"12345", -1)), err::QUOTA_EXCEEDED);
    assert!(matches!(
        s.run(&setd("/a/b", b"123", -1)),
        TxnResult::DataSet { .. }
    ));
    s.cfg.enforce_quota = false;
    assert!(matches!(s.run(&cr("/a/c", 0)), TxnResult::Created { .. }));
}

/// checkQuota on client-written stats with extreme counts: the sums wrap as Java longs
/// (no overflow panic), so a count of i64::MAX plus one create passes a countHardLimit of
/// 5, as on ZooKeeper; negative counts pass; unparseable stats are MARSHALLINGERROR (Java's
/// NumberFormatException in prep).
#[test]
fn quota_check_with_extreme_counts_wraps_like_java() {
    let mut s = Sim::with(PrepConfig {
        enforce_quota: true,
        ..Default::default()
    });
    let mk = |path: &str, data: &'static [u8]| Request::Create {
        op_code: op::CREATE,
        req: CreateTtlRequest {
            path: path.into(),
            data: Data::from_static(data),
            acl: open(),
            flags: 0,
            ttl: -1,
        },
    };
    s.run(&cr("/q", 0));
    s.run(&cr("/zookeeper/quota/q", 0));
    s.run(&mk(
        "/zookeeper/quota/q/zookeeper_limits",
        b"count=-1,bytes=-1=;countHardLimit=5;byteHardLimit=1000",
    ));
    s.run(&mk("/zookeeper/quota/q/zookeeper_stats", b""));
    let stats = "/zookeeper/quota/q/zookeeper_stats";
    let set_stats = |s: &mut Sim, text: &'static [u8]| {
        assert!(matches!(
            s.run(&setd(stats, text, -1)),
            TxnResult::DataSet { .. }
        ));
    };
    // count and bytes at i64::MAX: + 1 node / + 3 bytes wrap negative, under the limits
    set_stats(
        &mut s,
        b"count=9223372036854775807,bytes=9223372036854775807",
    );
    assert!(matches!(
        s.run(&mk("/q/a", b"xyz")),
        TxnResult::Created { .. }
    ));
    assert!(matches!(
        s.run(&setd("/q/a", b"abcdef", -1)),
        TxnResult::DataSet { .. }
    ));
    // count at i64::MAX - 5 + 1 does not wrap: over the limit
    set_stats(&mut s, b"count=9223372036854775802,bytes=0");
    assert_eq!(s.err(&cr("/q/b", 0)), err::QUOTA_EXCEEDED);
    // i64::MIN and other negatives: far under the limits, also after - 1 on delete
    set_stats(
        &mut s,
        b"count=-9223372036854775808,bytes=-9223372036854775808",
    );
    assert!(matches!(
        s.run(&mk("/q/c", b"1")),
        TxnResult::Created { .. }
    ));
    assert!(matches!(
        s.run(&setd("/q/c", b"", -1)),
        TxnResult::DataSet { .. }
    ));
    assert!(matches!(s.run(&del("/q/c", -1)), TxnResult::Deleted));
    // a byte limit of i64::MAX with bytes just below: + 6 wraps, passes
    s.run(&setd(
        "/zookeeper/quota/q/zookeeper_limits",
        b"count=-1,bytes=-1=;byteHardLimit=9223372036854775807",
        -1,
    ));
    set_stats(&mut s, b"count=0,bytes=9223372036854775806");
    assert!(matches!(
        s.run(&setd("/q/a", b"0123456789ab", -1)),
        TxnResult::DataSet { .. }
    ));
    // unparseable stats text: MARSHALLINGERROR, as Java
    s.run(&setd(
        "/zookeeper/quota/q/zookeeper_limits",
        b"count=-1,bytes=-1=;countHardLimit=5",
        -1,
    ));
    set_stats(&mut s, b"count=99999999999999999999,bytes=0");
    assert_eq!(s.err(&cr("/q/d", 0)), err::MARSHALLING_ERROR);
    set_stats(&mut s, b"count=lots");
    assert_eq!(s.err(&cr("/q/d", 0)), err::MARSHALLING_ERROR);
}

#[test]
fn ttl_and_container_creates() {
    let mut s = Sim::with(PrepConfig {
        extended_types_enabled: true,
        ..Default::default()
    });
    assert_eq!(
        s.err(&cr("/t", 5)),
        err::BAD_ARGUMENTS,
        "create(1) has ttl -1"
    );
    assert_eq!(
        s.err(&create_req(op::CREATE_TTL, "/t", 5, 0)),
        err::BAD_ARGUMENTS
    );
    assert_eq!(
        s.err(&create_req(op::CREATE_TTL, "/t", 5, 1 << 40)),
        err::BAD_ARGUMENTS
    );
    assert_eq!(
        s.err(&create_req(op::CREATE_TTL, "/t", 0, 10)),
        err::BAD_ARGUMENTS
    );
    // Java would log a CreateTTLTxn with ttl -1 that its own apply cannot handle; we refuse.
    assert_eq!(
        s.err(&create_req(op::CREATE_TTL, "/t", 0, -1)),
        err::BAD_ARGUMENTS
    );
    let t = s.prep_as(&ctx(1), &create_req(op::CREATE_TTL, "/t", 6, 100));
    assert_eq!(t.header.txn_type, 21);
    let TxnBody::CreateTtl(c) = &t.body else {
        panic!()
    };
    assert_eq!(
        (c.path.as_str(), c.ttl, c.parent_cversion),
        ("/t0000000000", 100, 1)
    );
    s.apply(&t);
    let t = s.prep_as(&ctx(1), &create_req(op::CREATE_CONTAINER, "/c", 4, -1));
    assert_eq!(t.header.txn_type, 19);
    let r = s.apply(&t);
    assert!(matches!(r, TxnResult::Created { op: 19, stat, .. } if stat.ephemeral_owner == 0));
    assert_eq!(s.tree.containers().len(), 1);
}

#[test]
fn delete_set_acl_check_errors() {
    let mut s = Sim::new();
    for p in [
        "/",
        "/zookeeper",
        "/zookeeper/quota",
        "/zookeeper/config",
        "",
        "x",
    ] {
        assert_eq!(s.err(&del(p, -1)), err::BAD_ARGUMENTS, "{p}");
    }
    assert_eq!(s.err(&del("/a/b", -1)), err::NO_NODE);
    assert_eq!(s.err(&del("/a", -1)), err::NO_NODE);
    s.run(&cr("/a", 0));
    s.run(&cr("/a/b", 0));
    assert_eq!(s.err(&del("/a", -1)), err::NOT_EMPTY);
    assert_eq!(s.err(&del("/a/b", 3)), err::BAD_VERSION);
    // Delete does not validate the path: "/a/" looks up "/a/" and misses.
    assert_eq!(s.err(&del("/a/", -1)), err::NO_NODE);
    assert_eq!(s.run(&del("/a/b", 0)), TxnResult::Deleted);
    // setData
    assert_eq!(s.err(&setd("/a/", b"", -1)), err::BAD_ARGUMENTS);
    assert_eq!(s.err(&setd("/nope", b"", -1)), err::NO_NODE);
    assert_eq!(s.err(&setd("/zookeeper/config", b"", -1)), err::NO_AUTH);
    assert_eq!(s.err(&setd("/a", b"", 5)), err::BAD_VERSION);
    assert!(matches!(
        s.run(&setd("/zookeeper", b"x", -1)),
        TxnResult::DataSet { .. }
    ));
    // setACL
    let sa = |p: &str, acl: Vec<Acl>, v: i32| {
        Request::SetAcl(SetAclRequest {
            path: p.into(),
            acl,
            version: v,
        })
    };
    assert_eq!(s.err(&sa("/a", vec![], -1)), err::INVALID_ACL);
    assert_eq!(s.err(&sa("/nope", open(), -1)), err::NO_NODE);
    assert_eq!(s.err(&sa("/a", open(), 1)), err::BAD_VERSION);
    assert_eq!(s.err(&sa("/zookeeper/config", open(), -1)), err::NO_AUTH);
    let digest = Id {
        scheme: "digest".into(),
        id: digest_id("bob:pw"),
    };
    let mut bob = ctx(2);
    std::sync::Arc::make_mut(&mut bob.auth).push(digest.clone());
    let creator = vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "auth".into(),
            id: "".into(),
        },
    }];
    let TxnResult::AclSet { stat } = s.run_as(&bob, &sa("/a", creator.clone(), 0)) else {
        panic!()
    };
    assert_eq!(stat.aversion, 1);
    assert_eq!(
        *s.tree.acl("/a").unwrap(),
        vec![Acl {
            perms: perms::ALL,
            id: digest.clone()
        }]
    );
    assert_eq!(s.err(&setd("/a", b"", -1)), err::NO_AUTH);
    assert_eq!(s.err(&cr("/a/x", 0)), err::NO_AUTH);
    assert!(matches!(
        s.run_as(&bob, &setd("/a", b"", -1)),
        TxnResult::DataSet { .. }
    ));
    // Without any authenticated id, `auth` is invalid.
    assert_eq!(s.err(&sa("/a", creator, -1)), err::INVALID_ACL);
    // skipACL lets everyone through.
    s.cfg.skip_acl = true;
    assert!(matches!(
        s.run(&setd("/a", b"", -1)),
        TxnResult::DataSet { .. }
    ));
    s.cfg.skip_acl = false;
    // check
    let ck = |p: &str, v: i32| {
        Request::Check(CheckVersionRequest {
            path: p.into(),
            version: v,
        })
    };
    assert_eq!(s.err(&ck("/nope", -1)), err::NO_NODE);
    assert_eq!(s.err(&ck("/a", -1)), err::NO_AUTH);
    assert_eq!(s.err(&ck("/zookeeper", 0)), err::BAD_VERSION);
    assert_eq!(s.run(&ck("/zookeeper", 1)), TxnResult::Checked);
    // reconfig
    let rc = Request::Reconfig(ReconfigRequest::default());
    assert_eq!(s.err(&rc), err::RECONFIG_DISABLED);
    s.cfg.reconfig_enabled = true;
    assert_eq!(s.err(&rc), err::UNIMPLEMENTED);
    // Not a write.
    assert_eq!(s.err(&Request::Ping), err::UNIMPLEMENTED);
}

#[test]
fn multi_failure_shape_and_rollback() {
    let mut s = Sim::new();
    let d0 = s.tree.digest();
    let ops = vec![
        MultiOp::Create {
            op_code: op::CREATE,
            req: CreateTtlRequest {
                path: "/m".into(),
                acl: open(),
                ttl: -1,
                ..Default::default()
            },
        },
        MultiOp::Create {
            op_code: op::CREATE,
            req: CreateTtlRequest {
                path: "/m".into(),
                acl: open(),
                ttl: -1,
                ..Default::default()
            },
        },
        MultiOp::Delete(DeleteRequest {
            path: "/m".into(),
            version: -1,
        }),
    ];
    let t = s.prep_as(&ctx(1), &Request::Multi(ops));
    assert_eq!(t.header.txn_type, op::MULTI);
    let TxnBody::Multi(subs) = &t.body else {
        panic!()
    };
    assert!(matches!(&subs[0], TxnBody::Create(c) if c.path == "/m" && c.parent_cversion == 1));
    assert_eq!(
        subs[1],
        TxnBody::Error(ErrorTxn {
            err: err::NODE_EXISTS
        })
    );
    assert_eq!(
        subs[2],
        TxnBody::Error(ErrorTxn {
            err: err::RUNTIME_INCONSISTENCY
        })
    );
    assert_eq!(t.digest.as_ref().unwrap().tree_digest, d0);
    assert!(s.pending.is_empty(), "rolled back");
    // A prep before applying must not see the failed multi's create.
    let t2 = s.prep_as(&ctx(1), &cr("/m", 0));
    assert!(matches!(t2.body, TxnBody::Create(_)));
    assert_eq!(
        s.apply(&t),
        TxnResult::Multi(vec![
            TxnResult::Error(0),
            TxnResult::Error(-110),
            TxnResult::Error(-2)
        ])
    );
    assert!(!s.tree.exists("/m"));
    s.apply(&t2);
    assert!(s.tree.exists("/m"));
}

#[test]
fn multi_sees_its_own_earlier_ops() {
    let mut s = Sim::new();
    let c = |p: &str, flags: i32| MultiOp::Create {
        op_code: op::CREATE2,
        req: CreateTtlRequest {
            path: p.into(),
            acl: open(),
            flags,
            ttl: -1,
            ..Default::default()
        },
    };
    let ops = vec![
        c("/m", 0),
        c("/m/s-", 2),
        c("/m/s-", 2),
        MultiOp::SetData(SetDataRequest {
            path: "/m".into(),
            data: Data::from_static(b"x"),
            version: 0,
        }),
        MultiOp::Check(CheckVersionRequest {
            path: "/m".into(),
            version: 1,
        }),
        MultiOp::Delete(DeleteRequest {
            path: "/m/s-0000000000".into(),
            version: 0,
        }),
    ];
    let r = s.run(&Request::Multi(ops));
    let TxnResult::Multi(rs) = r else { panic!() };
    assert!(matches!(&rs[2], TxnResult::Created { path, .. } if path == "/m/s-0000000001"));
    assert_eq!(rs[5], TxnResult::Deleted);
    let st = s.tree.stat("/m").unwrap();
    assert_eq!((st.version, st.num_children, st.cversion), (1, 1, 3));
}

#[test]
fn pending_overlay_across_unapplied_txns() {
    let mut s = Sim::new();
    let t1 = s.prep_as(&ctx(9), &cr("/a", 0));
    let t2 = s.prep_as(&ctx(9), &cr("/a/e", create_mode::EPHEMERAL_SEQUENTIAL));
    let t3 = s.prep_as(&ctx(9), &cr("/a/e", create_mode::EPHEMERAL_SEQUENTIAL));
    let t4 = s.prep_as(&ctx(9), &del("/a", -1));
    assert_eq!(
        t4.body,
        TxnBody::Error(ErrorTxn {
            err: err::NOT_EMPTY
        })
    );
    let TxnBody::Create(c3) = &t3.body else {
        panic!()
    };
    assert_eq!(c3.path, "/a/e0000000001");
    let t5 = s.prep_as(&ctx(9), &Request::CloseSession);
    assert_eq!(
        t5.body,
        TxnBody::CloseSession(CloseSessionTxn {
            paths2_delete: vec!["/a/e0000000000".into(), "/a/e0000000001".into()]
        })
    );
    assert_eq!(t5.header.txn_type, op::CLOSE_SESSION);
    for t in [&t1, &t2, &t3, &t4, &t5] {
        s.apply(t);
    }
    assert!(s.pending.is_empty());
    assert_eq!(s.tree.children("/a"), Some(vec![]));
    assert_eq!(s.tree.stat("/a").unwrap().cversion, 4);
}

#[test]
fn delete_container_rules() {
    let mut s = Sim::with(PrepConfig {
        extended_types_enabled: true,
        ..Default::default()
    });
    s.run(&create_req(op::CREATE_CONTAINER, "/c", 4, -1));
    s.run(&cr("/c/x", 0));
    s.run(&cr("/p", 0));
    s.run(&cr("/e", 1));
    let dc = |s: &mut Sim, p: &str| {
        s.zxid += 1;
        prep_delete_container_with(&s.tree, &mut s.pending, p, s.zxid, 5, &s.cfg)
    };
    let t = dc(&mut s, "/c");
    assert_eq!(
        t.body,
        TxnBody::Error(ErrorTxn {
            err: err::NOT_EMPTY
        })
    );
    assert_eq!((t.header.client_id, t.header.cxid), (0, 0));
    s.apply(&t);
    assert_eq!(
        dc(&mut s, "/e").body,
        TxnBody::Error(ErrorTxn {
            err: err::BAD_VERSION
        })
    );
    assert_eq!(
        dc(&mut s, "/zookeeper").body,
        TxnBody::Error(ErrorTxn {
            err: err::BAD_ARGUMENTS
        })
    );
    assert_eq!(
        dc(&mut s, "/nope").body,
        TxnBody::Error(ErrorTxn { err: err::NO_NODE })
    );
    s.pending.clear();
    s.run(&del("/c/x", -1));
    let t = dc(&mut s, "/c");
    assert_eq!(
        (t.header.txn_type, t.header.client_id, t.header.cxid),
        (20, 0, 0)
    );
    assert_eq!(s.apply(&t), TxnResult::Deleted);
    // A plain persistent node passes the type check, as in Java.
    let t = dc(&mut s, "/p");
    assert_eq!(s.apply(&t), TxnResult::Deleted);
}

#[test]
fn create_session_and_expiry_close() {
    let mut s = Sim::new();
    let t = {
        s.zxid += 1;
        prep_create_session(&s.tree, &mut s.pending, 77, 0, 30000, s.zxid, 9, &s.cfg)
    };
    assert_eq!((t.header.txn_type, t.header.client_id), (-10, 77));
    assert_eq!(t.digest.as_ref().unwrap().tree_digest, s.tree.digest());
    assert_eq!(s.apply(&t), TxnResult::SessionCreated);
    s.run_as(&ctx(77), &cr("/e", 1));
    s.zxid += 1;
    let t = prep_close_session(&s.tree, &mut s.pending, 77, s.zxid, 9, &s.cfg);
    assert_eq!(t.header.cxid, 0);
    assert_eq!(s.apply(&t), TxnResult::SessionClosed);
    assert!(!s.tree.exists("/e"));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn arb_path() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "/a",
            "/b",
            "/a/x",
            "/a/y",
            "/b/x",
            "/a/x/z",
            "/zookeeper/quota/a",
            "/a/",
        ])
        .prop_map(String::from)
    }

    fn arb_req() -> impl Strategy<Value = (i64, Request)> {
        let sid = 1i64..4;
        let create = (arb_path(), 0i32..8, any::<bool>()).prop_map(|(p, f, two)| {
            create_req(if two { op::CREATE2 } else { op::CREATE }, &p, f, -1)
        });
        let container = arb_path().prop_map(|p| create_req(op::CREATE_CONTAINER, &p, 4, -1));
        let ttl = (arb_path(), 1i64..50).prop_map(|(p, t)| create_req(op::CREATE_TTL, &p, 5, t));
        let delete = (arb_path(), -1i32..2).prop_map(|(p, v)| del(&p, v));
        let set = (
            arb_path(),
            -1i32..2,
            prop::collection::vec(any::<u8>(), 0..4),
        )
            .prop_map(|(p, v, d)| setd(&p, &d, v));
        let single = prop_oneof![create, container, ttl, delete, set];
        let multi_op = prop_oneof![
            (arb_path(), 0i32..4).prop_map(|(p, f)| MultiOp::Create {
                op_code: op::CREATE,
                req: CreateTtlRequest {
                    path: p,
                    acl: open(),
                    flags: f,
                    ttl: -1,
                    ..Default::default()
                }
            }),
            (arb_path(), -1i32..2).prop_map(|(p, v)| MultiOp::Delete(DeleteRequest {
                path: p,
                version: v
            })),
            (arb_path(), -1i32..2).prop_map(|(p, v)| MultiOp::Check(CheckVersionRequest {
                path: p,
                version: v
            })),
        ];
        let multi = prop::collection::vec(multi_op, 0..4).prop_map(Request::Multi);
        let close = Just(Request::CloseSession);
        (sid, prop_oneof![4 => single, 2 => multi, 1 => close])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn random_prep_apply_keeps_invariants(
            reqs in prop::collection::vec(arb_req(), 1..40),
            batch in 1usize..4,
        ) {
            let mut s = Sim::with(PrepConfig { extended_types_enabled: true, ..Default::default() });
            let mut queued: Vec<Txn> = Vec::new();
            for (sid, r) in &reqs {
                let t = s.prep_as(&ctx(*sid), r);
                queued.push(t);
                if queued.len() >= batch {
                    for t in queued.drain(..) {
                        s.apply(&t);
                    }
                    crate::tree::tests::check_invariants(&s.tree);
                }
            }
            for t in queued.drain(..) {
                s.apply(&t);
            }
            crate::tree::tests::check_invariants(&s.tree);
            prop_assert!(s.pending.is_empty());
            // Reaping everything reapable also keeps invariants and digests exact.
            for p in s.tree.reapable(i64::MAX / 2, true) {
                s.zxid += 1;
                let t = prep_delete_container(&s.tree, &mut s.pending, &p, s.zxid, 0);
                s.apply(&t);
            }
            crate::tree::tests::check_invariants(&s.tree);
        }
    }
}

/// Null data from the client reaches the txn and the tree as null (create, setData, and
/// inside multi, including a setData on a node only pending in the same multi).
#[test]
fn null_data_flows_through_prep() {
    let mut s = Sim::new();
    let null_create = |path: &str, flags: i32| CreateTtlRequest {
        path: path.into(),
        data: Data::NULL,
        acl: open(),
        flags,
        ttl: -1,
    };
    let t = s.prep_as(
        &ctx(1),
        &Request::Create {
            op_code: op::CREATE,
            req: null_create("/n", 0),
        },
    );
    assert!(matches!(&t.body, TxnBody::Create(c) if c.data.is_null()));
    s.apply(&t);
    let (data, st) = s.tree.get_data("/n").unwrap();
    assert!(data.is_null());
    assert_eq!(st.data_length, 0);
    for (op_code, path, flags) in [
        (op::CREATE2, "/n2", 0),
        (op::CREATE_CONTAINER, "/c", create_mode::CONTAINER),
    ] {
        let req = Request::Create {
            op_code,
            req: null_create(path, flags),
        };
        assert!(matches!(s.run(&req), TxnResult::Created { .. }), "{path}");
        assert!(s.tree.get_data(path).unwrap().0.is_null(), "{path}");
    }

    // setData: bytes, then null again.
    s.run(&setd("/n", b"x", 0));
    assert_eq!(&s.tree.get_data("/n").unwrap().0[..], b"x");
    let t = s.prep_as(
        &ctx(1),
        &Request::SetData(SetDataRequest {
            path: "/n".into(),
            data: Data::NULL,
            version: 1,
        }),
    );
    assert!(matches!(&t.body, TxnBody::SetData(d) if d.data.is_null() && d.version == 2));
    s.apply(&t);
    assert!(s.tree.get_data("/n").unwrap().0.is_null());

    // multi: create null, then setData null on a node with data, then create empty.
    let ops = vec![
        MultiOp::Create {
            op_code: op::CREATE,
            req: null_create("/m", 0),
        },
        MultiOp::SetData(SetDataRequest {
            path: "/m".into(),
            data: Data::from_static(b"yz"),
            version: 0,
        }),
        MultiOp::SetData(SetDataRequest {
            path: "/m".into(),
            data: Data::NULL,
            version: 1,
        }),
        MultiOp::Create {
            op_code: op::CREATE,
            req: CreateTtlRequest {
                data: Data::empty(),
                ..null_create("/m/e", 0)
            },
        },
    ];
    let t = s.prep_as(&ctx(1), &Request::Multi(ops));
    let TxnBody::Multi(subs) = &t.body else {
        panic!("{:?}", t.body)
    };
    let nulls: Vec<bool> = subs
        .iter()
        .map(|b| match b {
            TxnBody::Create(c) => c.data.is_null(),
            TxnBody::SetData(d) => d.data.is_null(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(nulls, [true, false, true, false]);
    s.apply(&t);
    assert!(s.tree.get_data("/m").unwrap().0.is_null());
    assert!(!s.tree.get_data("/m/e").unwrap().0.is_null());
}

/// A create2 sub-op is logged as a create sub-txn (a 3.8 member cannot apply a create2
/// one) and answered as 3.9 answers it: a create2 result with the node's Stat.
#[test]
fn multi_create2_subop_logs_create_and_answers_create2() {
    let mut s = Sim::new();
    let create = |op_code: i32, path: &str| MultiOp::Create {
        op_code,
        req: CreateTtlRequest {
            path: path.into(),
            data: Data::from_static(b"abc"),
            acl: open(),
            ttl: -1,
            ..Default::default()
        },
    };
    let req = Request::Multi(vec![
        create(op::CREATE, "/a"),
        create(op::CREATE2, "/b"),
        create(op::CREATE2, "/c"),
    ]);
    let t = s.prep_as(&ctx(1), &req);
    let TxnBody::Multi(subs) = &t.body else {
        panic!("{t:?}")
    };
    assert!(
        subs.iter().all(|b| matches!(b, TxnBody::Create(_))),
        "{subs:?}"
    );
    let at = crate::txn::prep::create2_subops(&req).unwrap();
    assert_eq!(&at[..], &[1, 2]);
    let outcome = s.apply(&t);
    let (e, mut resp) = crate::txn::prep::write_reply(op::MULTI, &outcome);
    assert_eq!(e, 0);
    crate::txn::prep::answer_create2_subops(&mut resp, &outcome, &at);
    let crate::proto::Response::Multi(rs) = resp else {
        panic!()
    };
    assert_eq!(
        rs[0],
        crate::proto::MultiResult::Create { path: "/a".into() }
    );
    let crate::proto::MultiResult::Create2 { path, stat } = &rs[2] else {
        panic!("{rs:?}")
    };
    assert_eq!(
        (path.as_str(), stat.data_length, stat.czxid),
        ("/c", 3, t.header.zxid)
    );
    assert!(matches!(rs[1], crate::proto::MultiResult::Create2 { .. }));
    assert_eq!(
        crate::txn::prep::create2_subops(&Request::Multi(vec![])),
        None
    );
}
