//! Tests of reads: check order, ACLs, watch registration, setWatches, multiRead.

use super::*;
use crate::jute::Data;
use crate::jute::txn::*;
use crate::proto::{add_watch_mode, watcher_type};
use crate::tree::{EventKind, TreeEvent};
use crate::txn::{Txn, TxnBody};

fn anyone_ctx(sid: i64) -> RequestCtx {
    RequestCtx {
        session_id: sid,
        cxid: 1,
        auth: vec![Id {
            scheme: "ip".into(),
            id: "10.0.0.1".into(),
        }]
        .into(),
        ephemeral_refusal: None,
    }
}

fn mk(t: &mut DataTree, sid: i64, zxid: i64, path: &str, acl: Vec<Acl>, eph: bool) {
    let (parent, _) = crate::tree::path::split(path).unwrap();
    let pcv = t.node(parent).unwrap().stat().cversion + 1;
    let body = TxnBody::Create(CreateTxn {
        path: path.into(),
        data: Data::from_static(b"v"),
        acl,
        ephemeral: eph,
        parent_cversion: pcv,
    });
    let h = TxnHeader {
        client_id: sid,
        cxid: 0,
        zxid,
        time: 5,
        txn_type: 1,
    };
    let o = t.apply(&Txn {
        header: h,
        body,
        digest: None,
    });
    assert!(matches!(o.result, crate::tree::TxnResult::Created { .. }));
}

/// The reply as a struct, for readable assertions.
#[derive(Debug)]
struct R {
    err: i32,
    response: Response,
    fired: Vec<(i32, String)>,
}

fn rw(
    t: &DataTree,
    w: &mut WatchManager,
    id: WatcherId,
    c: &RequestCtx,
    req: &Request,
    skip: bool,
) -> R {
    let (err, response, fired) = if skip {
        let rules = crate::tree::acl::AclRules {
            skip: true,
            providers: crate::tree::acl::Providers::ALL,
        };
        read_with(t, w, id, c, req, rules)
    } else {
        read(t, w, id, c, req)
    };
    R {
        err,
        response,
        fired,
    }
}

fn pw(path: &str, watch: bool) -> PathWatchRequest {
    PathWatchRequest {
        path: path.into(),
        watch,
    }
}

fn digest_acl(id: &str, p: i32) -> Acl {
    Acl {
        perms: p,
        id: Id {
            scheme: "digest".into(),
            id: id.into(),
        },
    }
}

fn setup() -> DataTree {
    let mut t = DataTree::new();
    mk(&mut t, 0, 1, "/a", acl::open_acl_unsafe(), false);
    mk(&mut t, 0, 2, "/a/b", acl::open_acl_unsafe(), false);
    mk(
        &mut t,
        0,
        3,
        "/secret",
        vec![digest_acl("bob:hash", perms::ALL)],
        false,
    );
    mk(&mut t, 0, 4, "/secret/c", acl::open_acl_unsafe(), false);
    mk(
        &mut t,
        0,
        5,
        "/ronly",
        vec![
            digest_acl("bob:hash", perms::ADMIN),
            Acl {
                perms: perms::READ,
                id: Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            },
        ],
        false,
    );
    mk(&mut t, 42, 6, "/a/e1", acl::open_acl_unsafe(), true);
    mk(&mut t, 42, 7, "/e2", acl::open_acl_unsafe(), true);
    t
}

#[test]
fn exists_sets_watch_even_when_missing() {
    let t = setup();
    let mut w = WatchManager::new();
    let c = anyone_ctx(1);
    let r = rw(
        &t,
        &mut w,
        9,
        &c,
        &Request::Exists(pw("/nope", true)),
        false,
    );
    assert_eq!(r.err, err::NO_NODE);
    let created = TreeEvent {
        path: "/nope".into(),
        kind: EventKind::NodeCreated,
        acl: Default::default(),
    };
    assert_eq!(w.trigger(&created), vec![(9, 1)]);
    let r = rw(&t, &mut w, 9, &c, &Request::Exists(pw("/a", false)), false);
    assert_eq!(
        r.response,
        Response::Stat(StatResponse {
            stat: t.stat("/a").unwrap()
        })
    );
    // NOAUTH on an existing node: no watch registered.
    let r = rw(
        &t,
        &mut w,
        9,
        &c,
        &Request::Exists(pw("/secret", true)),
        false,
    );
    assert_eq!(r.err, err::NO_AUTH);
    assert_eq!(w.watch_count(), 0);
    assert_eq!(
        rw(&t, &mut w, 9, &c, &Request::Exists(pw("/a\0", true)), false).err,
        err::BAD_ARGUMENTS
    );
}

#[test]
fn get_data_children_and_acl_checks() {
    let t = setup();
    let mut w = WatchManager::new();
    let c = anyone_ctx(1);
    let r = rw(&t, &mut w, 9, &c, &Request::GetData(pw("/a", true)), false);
    assert_eq!(
        r.response,
        Response::GetData(GetDataResponse {
            data: Data::from_static(b"v"),
            stat: t.stat("/a").unwrap()
        })
    );
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::GetData(pw("/nope", true)),
            false
        )
        .err,
        err::NO_NODE
    );
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::GetData(pw("/secret", true)),
            false
        )
        .err,
        err::NO_AUTH
    );
    // NONODE wins over NOAUTH for a missing child of a protected node.
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::GetData(pw("/secret/zz", false)),
            false
        )
        .err,
        err::NO_NODE
    );
    assert_eq!(w.watch_count(), 1);
    let r = rw(
        &t,
        &mut w,
        9,
        &c,
        &Request::GetChildren(pw("/a", true)),
        false,
    );
    assert_eq!(
        r.response,
        Response::GetChildren(GetChildrenResponse {
            children: vec!["b".into(), "e1".into()]
        })
    );
    let r = rw(
        &t,
        &mut w,
        9,
        &c,
        &Request::GetChildren2(pw("/", false)),
        false,
    );
    let Response::GetChildren2(g) = r.response else {
        panic!()
    };
    assert_eq!(g.stat, t.stat("/").unwrap());
    assert_eq!(g.children.len(), 5);
    assert_eq!(w.watch_count(), 2);
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::GetChildren(pw("/secret", true)),
            false
        )
        .err,
        err::NO_AUTH
    );
    // skipACL and super bypass.
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::GetData(pw("/secret", false)),
            true
        )
        .err,
        0
    );
    let sup = RequestCtx {
        auth: vec![Id {
            scheme: "super".into(),
            id: "".into(),
        }]
        .into(),
        ..c.clone()
    };
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &sup,
            &Request::GetData(pw("/secret", false)),
            false
        )
        .err,
        0
    );
    let bob = RequestCtx {
        auth: vec![Id {
            scheme: "digest".into(),
            id: "bob:hash".into(),
        }]
        .into(),
        ..c.clone()
    };
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &bob,
            &Request::GetData(pw("/secret", false)),
            false
        )
        .err,
        0
    );
    let n = |p: &str| Request::GetAllChildrenNumber(PathRequest { path: p.into() });
    assert_eq!(
        rw(&t, &mut w, 9, &c, &n("/"), false).response,
        Response::AllChildrenNumber(GetAllChildrenNumberResponse { total_number: 10 })
    );
    assert_eq!(
        rw(&t, &mut w, 9, &c, &n("/a"), false).response,
        Response::AllChildrenNumber(GetAllChildrenNumberResponse { total_number: 2 })
    );
    assert_eq!(
        rw(&t, &mut w, 9, &c, &n("/secret"), false).err,
        err::NO_AUTH
    );
    assert_eq!(rw(&t, &mut w, 9, &c, &n("/x"), false).err, err::NO_NODE);
}

#[test]
fn get_acl_masks_digests_without_admin() {
    let t = setup();
    let mut w = WatchManager::new();
    let c = anyone_ctx(1);
    let ga = |p: &str| Request::GetAcl(PathRequest { path: p.into() });
    let r = rw(&t, &mut w, 9, &c, &ga("/ronly"), false);
    let Response::GetAcl(g) = r.response else {
        panic!("{r:?}")
    };
    assert_eq!(g.acl[0], digest_acl("bob:x", perms::ADMIN));
    assert_eq!(g.stat, t.stat("/ronly").unwrap());
    let bob = RequestCtx {
        auth: vec![Id {
            scheme: "digest".into(),
            id: "bob:hash".into(),
        }]
        .into(),
        ..c.clone()
    };
    let Response::GetAcl(g) = rw(&t, &mut w, 9, &bob, &ga("/ronly"), false).response else {
        panic!()
    };
    assert_eq!(g.acl[0], digest_acl("bob:hash", perms::ADMIN));
    assert_eq!(
        rw(&t, &mut w, 9, &c, &ga("/secret"), false).err,
        err::NO_AUTH
    );
    assert_eq!(rw(&t, &mut w, 9, &c, &ga("/none"), false).err, err::NO_NODE);
    let Response::GetAcl(g) = rw(&t, &mut w, 9, &c, &ga("/"), false).response else {
        panic!()
    };
    assert_eq!(g.acl, acl::open_acl_unsafe());
}

#[test]
fn ephemerals_multiread_whoami_sync() {
    let t = setup();
    let mut w = WatchManager::new();
    let c = anyone_ctx(42);
    let ge = |p: &str| Request::GetEphemerals(PathRequest { path: p.into() });
    let e = |v: &[&str]| {
        Response::Ephemerals(GetEphemeralsResponse {
            ephemerals: v.iter().map(|s| s.to_string()).collect(),
        })
    };
    assert_eq!(
        rw(&t, &mut w, 9, &c, &ge("/"), false).response,
        e(&["/a/e1", "/e2"])
    );
    assert_eq!(
        rw(&t, &mut w, 9, &c, &ge(" "), false).response,
        e(&["/a/e1", "/e2"])
    );
    assert_eq!(
        rw(&t, &mut w, 9, &c, &ge("/a"), false).response,
        e(&["/a/e1"])
    );
    assert_eq!(
        rw(&t, &mut w, 9, &anyone_ctx(1), &ge("/"), false).response,
        e(&[])
    );
    let m = Request::MultiRead(vec![
        MultiOp::GetData(pw("/a", false)),
        MultiOp::GetChildren(pw("/nope", false)),
        MultiOp::GetData(pw("/secret", false)),
        MultiOp::GetChildren(pw("/a/b", false)),
    ]);
    let r = rw(&t, &mut w, 9, &c, &m, false);
    assert_eq!(r.err, 0);
    assert_eq!(
        r.response,
        Response::Multi(vec![
            MultiResult::GetData {
                data: Data::from_static(b"v"),
                stat: t.stat("/a").unwrap()
            },
            MultiResult::Error { err: err::NO_NODE },
            MultiResult::Error { err: err::NO_AUTH },
            MultiResult::GetChildren { children: vec![] },
        ])
    );
    let auth = RequestCtx {
        auth: vec![
            Id {
                scheme: "ip".into(),
                id: "1.2.3.4".into(),
            },
            Id {
                scheme: "digest".into(),
                id: "bob:h".into(),
            },
            Id {
                scheme: "super".into(),
                id: "".into(),
            },
        ]
        .into(),
        ..c.clone()
    };
    let r = rw(&t, &mut w, 9, &auth, &Request::WhoAmI, false);
    let Response::WhoAmI(who) = r.response else {
        panic!()
    };
    let users: Vec<_> = who
        .client_info
        .iter()
        .map(|i| (i.auth_scheme.as_str(), i.user.as_str()))
        .collect();
    assert_eq!(
        users,
        vec![("ip", "1.2.3.4"), ("digest", "bob"), ("super", "")]
    );
    let r = rw(
        &t,
        &mut w,
        9,
        &c,
        &Request::Sync(PathRequest { path: "/a".into() }),
        false,
    );
    assert_eq!(
        r.response,
        Response::Sync(SyncResponse { path: "/a".into() })
    );
    assert_eq!(
        rw(&t, &mut w, 9, &c, &Request::CloseSession, false).err,
        err::UNIMPLEMENTED
    );
}

#[test]
fn watch_requests() {
    let t = setup();
    let mut w = WatchManager::new();
    let c = anyone_ctx(1);
    let wt = |p: &str, ty: i32| WatchTypeRequest {
        path: p.into(),
        watch_type: ty,
    };
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::CheckWatches(wt("/a", watcher_type::ANY)),
            false
        )
        .err,
        err::NO_WATCHER
    );
    let r = rw(
        &t,
        &mut w,
        9,
        &c,
        &Request::AddWatch(AddWatchRequest {
            path: "/a".into(),
            mode: add_watch_mode::PERSISTENT_RECURSIVE,
        }),
        false,
    );
    assert_eq!(
        (r.err, r.response),
        (0, Response::Error(ErrorResponse { err: 0 }))
    );
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::AddWatch(AddWatchRequest {
                path: "/a".into(),
                mode: 5
            }),
            false
        )
        .err,
        err::MARSHALLING_ERROR
    );
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::CheckWatches(wt("/a", watcher_type::PERSISTENT_RECURSIVE)),
            false
        )
        .err,
        0
    );
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::CheckWatches(wt("/a", watcher_type::DATA)),
            false
        )
        .err,
        err::NO_WATCHER
    );
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::CheckWatches(wt("/a", 6)),
            false
        )
        .err,
        err::MARSHALLING_ERROR
    );
    assert_eq!(
        rw(
            &t,
            &mut w,
            8,
            &c,
            &Request::RemoveWatches(wt("/a", watcher_type::ANY)),
            false
        )
        .err,
        err::NO_WATCHER
    );
    assert_eq!(
        rw(
            &t,
            &mut w,
            9,
            &c,
            &Request::RemoveWatches(wt("/a", watcher_type::ANY)),
            false
        )
        .err,
        0
    );
    assert_eq!(w.watch_count(), 0);
}

#[test]
fn set_watches_fires_or_rearms() {
    let t = setup();
    let mut w = WatchManager::new();
    let c = anyone_ctx(1);
    // /a: mzxid 1, pzxid 6 (e1 created at 6). /a/b: mzxid 2, pzxid 2.
    let s = SetWatches2 {
        relative_zxid: 2,
        data_watches: vec!["/a".into(), "/a/b".into(), "/gone".into()],
        exist_watches: vec!["/a".into(), "/later".into()],
        child_watches: vec!["/a".into(), "/a/b".into(), "/gone".into()],
        persistent_watches: vec!["/p".into()],
        persistent_recursive_watches: vec!["/r".into()],
    };
    let r = rw(&t, &mut w, 9, &c, &Request::SetWatches(s), false);
    assert_eq!(r.err, 0);
    assert_eq!(
        r.fired,
        vec![
            (event::NODE_DELETED, "/gone".to_string()),
            (event::NODE_CREATED, "/a".to_string()),
            (event::NODE_CHILDREN_CHANGED, "/a".to_string()),
            (event::NODE_DELETED, "/gone".to_string()),
        ]
    );
    // Re-armed: data /a, /a/b; exist /later; child /a/b; persistent /p (2 tables); recursive /r.
    assert_eq!(w.watch_count(), 7);
    assert_eq!(w.contains("/a/b", 9, watcher_type::CHILDREN), Some(true));
    assert_eq!(w.contains("/later", 9, watcher_type::DATA), Some(true));
    assert_eq!(
        w.contains("/r", 9, watcher_type::PERSISTENT_RECURSIVE),
        Some(true)
    );
}

/// getData and multiRead getData answer null data as null (not empty).
#[test]
fn null_data_reads_back_null() {
    let mut t = DataTree::new();
    for (zxid, path, data) in [(1, "/n", Data::NULL), (2, "/e", Data::empty())] {
        let body = TxnBody::Create(CreateTxn {
            path: path.into(),
            data,
            acl: crate::tree::acl::open_acl_unsafe(),
            ephemeral: false,
            parent_cversion: zxid as i32,
        });
        let header = TxnHeader {
            client_id: 1,
            cxid: 0,
            zxid,
            time: 5,
            txn_type: 1,
        };
        t.apply(&Txn {
            header,
            body,
            digest: None,
        });
    }
    let mut w = WatchManager::new();
    let c = anyone_ctx(1);
    let get = |w: &mut WatchManager, p: &str| {
        rw(&t, w, 9, &c, &Request::GetData(pw(p, false)), false).response
    };
    assert_eq!(
        get(&mut w, "/n"),
        Response::GetData(GetDataResponse {
            data: Data::NULL,
            stat: t.stat("/n").unwrap()
        })
    );
    assert_eq!(
        get(&mut w, "/e"),
        Response::GetData(GetDataResponse {
            data: Data::empty(),
            stat: t.stat("/e").unwrap()
        })
    );
    let m = Request::MultiRead(vec![
        MultiOp::GetData(pw("/n", false)),
        MultiOp::GetData(pw("/e", false)),
    ]);
    assert_eq!(
        rw(&t, &mut w, 9, &c, &m, false).response,
        Response::Multi(vec![
            MultiResult::GetData {
                data: Data::NULL,
                stat: t.stat("/n").unwrap()
            },
            MultiResult::GetData {
                data: Data::empty(),
                stat: t.stat("/e").unwrap()
            },
        ])
    );
}
