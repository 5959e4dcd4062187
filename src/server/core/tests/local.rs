//! Local sessions (`localSessionsEnabled`, `localSessionsUpgradingEnabled`) on a leader's
//! and a learner's core, as Java 3.8/3.9 members behave (checked against a Java ensemble:
//! no txn for a local session's life, EPHEMERALONLOCALSESSION after an error txn, an
//! upgrade as createSession + create).

use super::*;
use crate::proto::err;
use crate::server::core::Role;
use crate::zab::packet::{ForwardedRequest, kind};

fn member(role: Role, upgrading: bool) -> Fixture {
    let sid = if matches!(role, Role::Leader { .. }) {
        1
    } else {
        2
    };
    let mut f = fixture(|s| {
        s.server_id = sid;
        s.local_sessions = true;
        s.local_sessions_upgrading = upgrading;
    });
    f.node.core.set_role(role);
    f
}

/// A new session, answered at once (nothing logged, nothing sent to a leader).
fn local_session(f: &mut Fixture) -> (u64, i64) {
    let conn = f.connect(2000, 0);
    assert!(f.settle().is_empty(), "a local session logged a txn");
    assert!(
        f.node.to_leader.is_empty(),
        "a local session went to the leader"
    );
    let frames = f.frames(conn);
    let Some(Frame::Connect(r)) = frames.first() else {
        panic!("no ConnectResponse: {frames:?}");
    };
    assert_eq!(
        r.session_id >> 56,
        f.node.settings.server_id,
        "the id carries this member's id"
    );
    (conn, r.session_id)
}

fn forwarded(f: &mut Fixture) -> Vec<ForwardedRequest> {
    std::mem::take(&mut f.node.to_leader)
        .into_iter()
        .map(|p| {
            assert_eq!(p.kind, kind::REQUEST);
            ForwardedRequest::decode(&p.data_bytes()).expect("decodes")
        })
        .collect()
}

/// The leader's txn for a forwarded request, proposed and committed on the learner.
fn leader_txn(f: &mut Fixture, session: i64, cxid: i32, txn_type: i32, body: TxnBody) {
    let zxid = f.node.core.last_applied() + 1;
    let txn = Txn {
        header: crate::jute::txn::TxnHeader {
            client_id: session,
            cxid,
            zxid,
            time: 1,
            txn_type,
        },
        body,
        digest: None,
    };
    let entry = crate::txn::codec::encode_entry(&txn);
    f.node.step(Input::Log { zxid, entry }).expect("log");
    f.node.step(Input::Apply(Box::new(txn))).expect("apply");
}

fn create_txn(path: &str, ephemeral: bool) -> TxnBody {
    TxnBody::Create(crate::jute::txn::CreateTxn {
        path: path.into(),
        data: Data::new(b"x".to_vec()),
        acl: crate::tree::acl::open_acl_unsafe(),
        ephemeral,
        parent_cversion: 1,
    })
}

fn close(f: &mut Fixture, conn: u64, xid: i32) {
    f.node
        .send(conn, xid, op::CLOSE_SESSION, Request::CloseSession)
        .expect("send");
}

#[test]
fn a_learners_local_session_lives_and_ends_without_the_leader() {
    let mut f = member(Role::Learner { observer: false }, false);
    let (conn, session) = local_session(&mut f);
    // Its reads keep it alive without telling the leader.
    f.node.send(conn, 1, op::PING, Request::Ping).expect("ping");
    assert!(
        f.node.core.take_touches().is_empty(),
        "a local session was reported"
    );
    assert!(
        f.node.core.sessions().is_empty(),
        "a local session is in the global table"
    );
    // A write is forwarded with its id and answered from the leader's txn.
    f.create(conn, 2, "/p", create_mode::PERSISTENT);
    let fwd = forwarded(&mut f);
    assert_eq!(
        (fwd.len(), fwd[0].session_id, fwd[0].op_code),
        (1, session, op::CREATE)
    );
    leader_txn(&mut f, session, 2, op::CREATE, create_txn("/p", false));
    let z = f.node.core.last_applied();
    assert_eq!(replies(&f.frames(conn)), vec![(1, z - 1, 0), (2, z, 0)]);
    // closeSession: answered here, nothing forwarded, the connection closes.
    close(&mut f, conn, 3);
    assert!(
        f.node.to_leader.is_empty(),
        "a local close went to the leader"
    );
    assert_eq!(replies(&f.frames(conn)), vec![(3, z, 0)]);
    assert!(f.node.conns[&conn].closed_by_server());
}

#[test]
fn without_upgrading_an_ephemeral_gets_ephemeral_on_local_session_after_the_leaders_txn() {
    let mut f = member(Role::Learner { observer: false }, false);
    let (conn, session) = local_session(&mut f);
    f.create(conn, 1, "/e", create_mode::EPHEMERAL);
    // Forwarded as is (Java's learner does, and the leader's error txn takes a zxid).
    let fwd = forwarded(&mut f);
    assert_eq!(fwd.len(), 1);
    assert_eq!(fwd[0].op_code, op::CREATE);
    assert!(replies(&f.frames(conn)).is_empty());
    leader_txn(
        &mut f,
        session,
        1,
        op::ERROR,
        TxnBody::Error(crate::jute::txn::ErrorTxn {
            err: err::SESSION_EXPIRED,
        }),
    );
    let z = f.node.core.last_applied();
    assert_eq!(
        replies(&f.frames(conn)),
        vec![(1, z, err::EPHEMERAL_ON_LOCAL_SESSION)]
    );
}

#[test]
fn with_upgrading_a_learner_asks_for_the_session_ahead_of_its_ephemeral() {
    let mut f = member(Role::Learner { observer: false }, true);
    let (conn, session) = local_session(&mut f);
    f.create(conn, 1, "/e", create_mode::EPHEMERAL);
    let fwd = forwarded(&mut f);
    let got: Vec<_> = fwd
        .iter()
        .map(|r| (r.session_id, r.cxid, r.op_code))
        .collect();
    assert_eq!(
        got,
        vec![(session, 0, op::CREATE_SESSION), (session, 1, op::CREATE)]
    );
    assert_eq!(&fwd[0].body[..], &2000i32.to_be_bytes());
    // While the upgrade is on its way the session is kept alive through the leader.
    f.node
        .send(
            conn,
            2,
            op::EXISTS,
            Request::Exists(PathWatchRequest {
                path: "/".into(),
                watch: false,
            }),
        )
        .expect("send");
    assert_eq!(f.node.core.take_touches(), vec![(session, 2000)]);
    leader_txn(
        &mut f,
        session,
        0,
        op::CREATE_SESSION,
        TxnBody::CreateSession(crate::jute::txn::CreateSessionTxn { time_out: 2000 }),
    );
    assert!(
        replies(&f.frames(conn)).is_empty(),
        "the upgrade answered the create"
    );
    leader_txn(&mut f, session, 1, op::CREATE, create_txn("/e", true));
    let z = f.node.core.last_applied();
    assert_eq!(replies(&f.frames(conn)), vec![(1, z, 0), (2, z, 0)]);
    assert_eq!(f.node.core.sessions(), vec![(session, 2000)], "global now");
    // Its close is the ensemble's now.
    close(&mut f, conn, 3);
    let fwd = forwarded(&mut f);
    assert_eq!(fwd[0].op_code, op::CLOSE_SESSION);
}

#[test]
fn a_leaders_local_ephemeral_is_an_error_txn_or_an_upgrade() {
    for upgrading in [false, true] {
        let mut f = member(Role::Leader { epoch: 1 }, upgrading);
        let (conn, session) = local_session(&mut f);
        f.create(conn, 1, "/e", create_mode::EPHEMERAL);
        let written = f.settle();
        let shape: Vec<_> = written
            .iter()
            .map(|t| (t.header.client_id, t.header.cxid, t.header.txn_type))
            .collect();
        if upgrading {
            assert_eq!(
                shape,
                vec![(session, 0, op::CREATE_SESSION), (session, 1, op::CREATE)]
            );
        } else {
            assert_eq!(shape, vec![(session, 1, op::ERROR)]);
            assert!(
                matches!(&written[0].body, TxnBody::Error(e) if e.err == err::EPHEMERAL_ON_LOCAL_SESSION)
            );
        }
        let last = written.last().expect("txn").header.zxid;
        f.node.step(Input::Committed(last)).expect("commit");
        let want = if upgrading {
            0
        } else {
            err::EPHEMERAL_ON_LOCAL_SESSION
        };
        assert_eq!(replies(&f.frames(conn)), vec![(1, last, want)]);
        let tree = f.node.shared.tree.read();
        assert_eq!(tree.exists("/e"), upgrading);
    }
}

#[test]
fn a_leader_takes_writes_of_other_members_local_sessions_but_not_their_ephemerals() {
    let mut f = member(Role::Leader { epoch: 1 }, false);
    let create = |path: &str, flags: i32| {
        let r = CreateRequest {
            path: path.into(),
            data: Data::new(b"x".to_vec()),
            acl: crate::tree::acl::open_acl_unsafe(),
            flags,
        };
        let mut b = bytes::BytesMut::new();
        crate::jute::Record::write(&r, &mut b);
        b.freeze()
    };
    let others = (2i64 << 56) | 9;
    let mine_unknown = (1i64 << 56) | 9;
    for (session, cxid, path, flags) in [
        (others, 1, "/p", create_mode::PERSISTENT),
        (others, 2, "/e", create_mode::EPHEMERAL),
        (mine_unknown, 3, "/q", create_mode::PERSISTENT),
    ] {
        f.node
            .step(Input::Forwarded {
                learner: 1,
                req: ForwardedRequest {
                    session_id: session,
                    cxid,
                    op_code: op::CREATE,
                    body: create(path, flags),
                },
                auth: vec![],
            })
            .expect("forwarded");
    }
    let written = f.settle();
    let shape: Vec<_> = written
        .iter()
        .map(|t| (t.header.cxid, t.header.txn_type))
        .collect();
    // Java's `checkSession` lets another member's unknown session through (it may be
    // local there), `checkGlobalSession` refuses it an ephemeral, and an unknown session
    // of this member's own is expired: an error txn each.
    assert_eq!(shape, vec![(1, op::CREATE), (2, op::ERROR), (3, op::ERROR)]);
    for t in &written[1..] {
        assert!(matches!(&t.body, TxnBody::Error(e) if e.err == err::SESSION_EXPIRED));
    }
}

#[test]
fn local_sessions_expire_here_without_a_txn_and_do_not_move() {
    let mut f = member(Role::Leader { epoch: 1 }, false);
    let (conn, session) = local_session(&mut f);
    // Re-attach on the same member works.
    let again = f.connect(2000, session);
    let frames = f.frames(again);
    assert!(matches!(frames.first(), Some(Frame::Connect(r)) if r.session_id == session));
    assert!(
        f.node.conns[&conn].closed_by_server(),
        "the old connection stays open"
    );
    let start = f.node.now;
    f.at(start.mono_ms + 2500, start.wall_ms + 2500);
    assert!(f.settle().is_empty(), "a local expiry logged a txn");
    assert!(
        f.node.conns[&again].closed_by_server(),
        "expired but still connected"
    );
    // Gone: a re-attach is refused as expired.
    let late = f.connect(2000, session);
    let frames = f.frames(late);
    assert!(matches!(frames.first(), Some(Frame::Connect(r)) if r.session_id == 0));
}
