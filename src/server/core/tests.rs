//! The core driven directly (through the simulator's node: real core, real log, no
//! threads or clocks): watermarks, the monotonic expiry clock, the outstanding-request
//! count, container reaping rate, digests off.

use crate::jute::Data;
use crate::jute::records::*;
use crate::proto::{Request, create_mode, op};
use crate::server::core::{Input, Now};
use crate::server::settings::Settings;
use crate::sim::client::Frame;
use crate::sim::node::SimNode;
use crate::txn::{Txn, TxnBody};
use std::sync::Arc;

mod local;
mod restore;
mod sasl;

struct Fixture {
    node: SimNode,
    _dir: tempfile::TempDir,
}

fn fixture(tweak: impl FnOnce(&mut Settings)) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Settings {
        tick_ms: 100,
        min_session_timeout: 200,
        data_dir: Some(dir.path().to_path_buf()),
        data_log_dir: Some(dir.path().to_path_buf()),
        prealloc_bytes: 4096,
        force_sync: false,
        ..Settings::default()
    };
    tweak(&mut s);
    let now = Now {
        mono_ms: 1_000,
        wall_ms: 1_700_000_000_000,
    };
    let node = SimNode::start(Arc::new(s), now, 1).expect("starts");
    Fixture { node, _dir: dir }
}

impl Fixture {
    /// Log and sync everything; the txns written.
    fn settle(&mut self) -> Vec<Txn> {
        let t = self.node.write().expect("write");
        self.node.sync().expect("sync");
        t
    }

    /// A handshake on a new connection: a new session (`session_id` 0) or a re-attach
    /// with the session's password; not settled.
    fn connect(&mut self, timeout: i32, session_id: i64) -> u64 {
        let passwd = if session_id == 0 {
            vec![0u8; 16]
        } else {
            crate::session::session_password(session_id).to_vec()
        };
        self.node
            .connect(ConnectRequest {
                time_out: timeout,
                session_id,
                passwd: passwd.into(),
                ..ConnectRequest::default()
            })
            .expect("connect")
    }

    /// A new session on a new connection, established.
    fn session(&mut self, timeout: i32) -> (u64, i64) {
        let conn = self.connect(timeout, 0);
        self.settle();
        let frames = self.frames(conn);
        let Some(Frame::Connect(r)) = frames.first() else {
            panic!("no ConnectResponse: {frames:?}");
        };
        (conn, r.session_id)
    }

    fn frames(&mut self, conn: u64) -> Vec<Frame> {
        self.node
            .conns
            .get_mut(&conn)
            .expect("connection")
            .take_frames()
            .expect("frames decode")
    }

    fn create(&mut self, conn: u64, xid: i32, path: &str, mode: i32) {
        let (op_code, flags) = match mode {
            create_mode::CONTAINER => (op::CREATE_CONTAINER, mode),
            m => (op::CREATE, m),
        };
        let req = Request::Create {
            op_code,
            req: CreateTtlRequest {
                path: path.into(),
                data: Data::new(b"x".to_vec()),
                acl: crate::tree::acl::open_acl_unsafe(),
                flags,
                ttl: -1,
            },
        };
        self.node.send(conn, xid, op_code, req).expect("send");
    }

    fn at(&mut self, mono_ms: i64, wall_ms: i64) {
        self.node.now = Now { mono_ms, wall_ms };
        self.node.step(Input::Tick).expect("tick");
    }
}

fn replies(frames: &[Frame]) -> Vec<(i32, i64, i32)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Reply { xid, zxid, err, .. } => Some((*xid, *zxid, *err)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_write_is_answered_only_once_it_is_logged() {
    let mut f = fixture(|_| {});
    let (conn, _) = f.session(2000);
    f.create(conn, 1, "/a", create_mode::PERSISTENT);
    assert!(
        replies(&f.frames(conn)).is_empty(),
        "answered before logging"
    );
    // Written to the file but not synced: still nothing.
    let written = f.node.write().expect("write");
    assert_eq!(written.len(), 1);
    assert!(replies(&f.frames(conn)).is_empty(), "answered before fsync");
    f.node.sync().expect("sync");
    let z = written[0].header.zxid;
    assert_eq!(replies(&f.frames(conn)), vec![(1, z, 0)]);
    assert_eq!(f.node.core.last_applied(), z);
}

#[test]
fn a_committed_zxid_is_applied_before_this_node_logs_it() {
    // A follower applies a COMMIT that arrives before its own fsync.
    let mut f = fixture(|_| {});
    let (conn, _) = f.session(2000);
    f.create(conn, 1, "/a", create_mode::PERSISTENT);
    let z = f.node.core.last_applied() + 1;
    f.node.step(Input::Committed(z)).expect("commit");
    assert_eq!(replies(&f.frames(conn)), vec![(1, z, 0)]);
    assert!(f.node.shared.tree.read().exists("/a"));
}

#[test]
fn expiry_follows_the_monotonic_clock_not_the_wall_clock() {
    let mut f = fixture(|_| {});
    let (_conn, sid) = f.session(1000);
    let (mono, wall) = (f.node.now.mono_ms, f.node.now.wall_ms);
    // The wall clock jumps an hour ahead (NTP step, VM resume): nobody expires.
    f.at(mono + 100, wall + 3_600_000);
    let logged = f.settle();
    assert!(
        !logged
            .iter()
            .any(|t| matches!(t.body, TxnBody::CloseSession(_))),
        "a wall-clock step expired a session"
    );
    // ... and back: still nothing.
    f.at(mono + 200, wall - 3_600_000);
    assert!(f.settle().is_empty());
    // Monotonic time past the timeout (+ a tick) expires it.
    f.at(mono + 1_400, wall);
    let logged = f.settle();
    assert!(
        logged
            .iter()
            .any(|t| matches!(t.body, TxnBody::CloseSession(_)) && t.header.client_id == sid),
        "the session did not expire on the monotonic clock: {logged:?}"
    );
}

#[test]
fn requests_in_process_are_counted_until_answered() {
    let mut f = fixture(|s| s.global_outstanding_limit = 10);
    let (conn, _) = f.session(20_000);
    let throttle = f.node.shared.throttle.clone();
    for i in 0..25 {
        f.create(conn, i + 1, &format!("/n{i}"), create_mode::PERSISTENT);
    }
    assert_eq!(throttle.in_process(), 25);
    assert!(throttle.over(), "25 in process is over a limit of 10");
    f.settle();
    assert_eq!(replies(&f.frames(conn)).len(), 25);
    assert_eq!(throttle.in_process(), 0);
    assert!(!throttle.over());
    // A connection that goes away with requests in process releases them.
    for i in 0..15 {
        f.create(conn, 100 + i, &format!("/m{i}"), create_mode::PERSISTENT);
    }
    assert!(throttle.over());
    f.node.disconnect(conn).expect("disconnect");
    assert_eq!(throttle.in_process(), 0);
}

#[test]
fn answers_for_a_closed_connection_count_as_stale_replies() {
    let mut f = fixture(|_| {});
    let (conn, _) = f.session(10_000);
    f.create(conn, 1, "/stale", create_mode::PERSISTENT);
    let before = crate::metrics::STALE_REPLIES.get();
    f.node.disconnect(conn).expect("disconnect");
    f.settle();
    assert!(
        f.node.shared.tree.read().exists("/stale"),
        "the write stands"
    );
    assert!(crate::metrics::STALE_REPLIES.get() > before);
}

#[test]
fn containers_are_reaped_no_faster_than_max_per_minute() {
    let mut f = fixture(|s| {
        s.container_check_interval_ms = 100;
        s.container_max_per_minute = 60; // one a second
    });
    let (conn, _) = f.session(60_000);
    let mut xid = 0;
    for i in 0..5 {
        xid += 1;
        f.create(conn, xid, &format!("/c{i}"), create_mode::CONTAINER);
        xid += 1;
        f.create(conn, xid, &format!("/c{i}/x"), create_mode::PERSISTENT);
        xid += 1;
        let del = Request::Delete(DeleteRequest {
            path: format!("/c{i}/x"),
            version: -1,
        });
        f.node.send(conn, xid, op::DELETE, del).expect("send");
    }
    f.settle();
    let reaped = |txns: &[Txn]| {
        txns.iter()
            .filter(|t| matches!(t.body, TxnBody::DeleteContainer(_)))
            .count()
    };
    let (mono, wall) = (f.node.now.mono_ms, f.node.now.wall_ms);
    // The first check finds all five; only one may go now.
    f.at(mono + 150, wall + 150);
    assert_eq!(reaped(&f.settle()), 1);
    f.at(mono + 400, wall + 400);
    assert_eq!(
        reaped(&f.settle()),
        0,
        "a second deletion within the same second"
    );
    // Two and a half seconds later: two more (one per second), not all the rest.
    f.at(mono + 2_600, wall + 2_600);
    let n = reaped(&f.settle());
    assert!((1..=2).contains(&n), "{n} reaped in ~2 s at 60/minute");
}

#[test]
fn reaping_follows_digest_enabled() {
    let mut f = fixture(|s| {
        s.container_check_interval_ms = 100;
        s.prep.digest_enabled = false;
    });
    let (conn, _) = f.session(60_000);
    f.create(conn, 1, "/c", create_mode::CONTAINER);
    f.create(conn, 2, "/c/x", create_mode::PERSISTENT);
    let del = Request::Delete(DeleteRequest {
        path: "/c/x".into(),
        version: -1,
    });
    f.node.send(conn, 3, op::DELETE, del).expect("send");
    let logged = f.settle();
    assert!(logged.iter().all(|t| t.digest.is_none()));
    let (mono, wall) = (f.node.now.mono_ms, f.node.now.wall_ms);
    f.at(mono + 150, wall + 150);
    let logged = f.settle();
    let reap: Vec<_> = logged
        .iter()
        .filter(|t| matches!(t.body, TxnBody::DeleteContainer(_)))
        .collect();
    assert_eq!(reap.len(), 1);
    assert!(
        reap[0].digest.is_none(),
        "digest.enabled=false, but the reaper logged one"
    );
}

mod roles {
    use super::*;
    use crate::server::core::Role;
    use crate::zab::packet::{self, ForwardedRequest, kind};

    fn learner() -> Fixture {
        let mut f = fixture(|s| s.server_id = 2);
        f.node.core.set_role(Role::Learner { observer: false });
        f
    }

    /// A learner's handshake: the createSession REQUEST it forwards, then the leader's
    /// txn for it (as the leader would prep it) comes back as a proposal and commit.
    fn learner_session(f: &mut Fixture) -> (u64, i64) {
        let conn = f.connect(2000, 0);
        assert!(f.frames(conn).is_empty(), "answered before the leader");
        let p = f.node.to_leader.pop().expect("createSession forwarded");
        assert_eq!(p.kind, kind::REQUEST);
        assert!(p.auth.is_none(), "createSession carries no authinfo");
        let req = ForwardedRequest::decode(&p.data_bytes()).expect("decodes");
        assert_eq!(req.op_code, op::CREATE_SESSION);
        assert_eq!(
            req.session_id >> 56,
            2,
            "the session id carries our server id"
        );
        assert_eq!(&req.body[..], &2000i32.to_be_bytes());
        let z = f.node.core.last_applied() + 1;
        let txn = Txn {
            header: crate::jute::txn::TxnHeader {
                client_id: req.session_id,
                cxid: 0,
                zxid: z,
                time: 1,
                txn_type: op::CREATE_SESSION,
            },
            body: TxnBody::CreateSession(crate::jute::txn::CreateSessionTxn { time_out: 2000 }),
            digest: None,
        };
        propose_commit(f, txn);
        let frames = f.frames(conn);
        let Some(Frame::Connect(r)) = frames.first() else {
            panic!("no ConnectResponse: {frames:?}");
        };
        assert_eq!(r.session_id, req.session_id);
        (conn, r.session_id)
    }

    fn propose_commit(f: &mut Fixture, txn: Txn) {
        let zxid = txn.header.zxid;
        let entry = crate::txn::codec::encode_entry(&txn);
        f.node.step(Input::Log { zxid, entry }).expect("log");
        f.node.step(Input::Apply(Box::new(txn))).expect("apply");
    }

    #[test]
    fn a_leader_commits_only_what_the_quorum_decided() {
        let mut f = fixture(|_| {});
        f.node.core.set_role(Role::Leader { epoch: 3 });
        let (conn, _) = {
            let conn = f.connect(2000, 0);
            let written = f.settle();
            assert_eq!(
                written[0].header.zxid,
                (3i64 << 32) | 1,
                "first zxid of epoch 3"
            );
            assert!(
                f.frames(conn).is_empty(),
                "session answered before a quorum"
            );
            f.node
                .step(Input::Committed((3i64 << 32) | 1))
                .expect("commit");
            assert!(matches!(f.frames(conn).first(), Some(Frame::Connect(_))));
            (conn, 0)
        };
        f.create(conn, 1, "/a", create_mode::PERSISTENT);
        f.settle();
        assert!(
            replies(&f.frames(conn)).is_empty(),
            "answered on its own fsync"
        );
        f.node
            .step(Input::Committed((3i64 << 32) | 2))
            .expect("commit");
        assert_eq!(replies(&f.frames(conn)), vec![(1, (3i64 << 32) | 2, 0)]);
    }

    #[test]
    fn a_leader_preps_a_learners_request_with_the_clients_auth() {
        let mut f = fixture(|_| {});
        f.node.core.set_role(Role::Leader { epoch: 1 });
        let session = (2i64 << 56) | 7;
        let mut body = bytes::BytesMut::new();
        bytes::BufMut::put_i32(&mut body, 4000);
        f.node
            .step(Input::Forwarded {
                learner: 1,
                req: ForwardedRequest {
                    session_id: session,
                    cxid: 0,
                    op_code: op::CREATE_SESSION,
                    body: body.freeze(),
                },
                auth: vec![],
            })
            .expect("forwarded");
        f.node
            .step(Input::Committed((1i64 << 32) | 1))
            .expect("commit");
        // A create with an ACL only alice may read: the auth ids come from the learner.
        let create = CreateRequest {
            path: "/secret".into(),
            data: Data::new(b"x".to_vec()),
            acl: vec![Acl {
                perms: crate::proto::perms::ALL,
                id: Id {
                    scheme: "auth".into(),
                    id: String::new(),
                },
            }],
            flags: 0,
        };
        let mut b = bytes::BytesMut::new();
        crate::jute::Record::write(&create, &mut b);
        let alice = Id {
            scheme: "digest".into(),
            id: "alice:xyz".into(),
        };
        f.node
            .step(Input::Forwarded {
                learner: 1,
                req: ForwardedRequest {
                    session_id: session,
                    cxid: 1,
                    op_code: op::CREATE,
                    body: b.freeze(),
                },
                auth: vec![alice.clone()],
            })
            .expect("forwarded");
        let written = f.settle();
        let t = written.last().expect("create txn");
        assert_eq!(t.header.client_id, session);
        assert_eq!(t.header.cxid, 1);
        f.node
            .step(Input::Committed(t.header.zxid))
            .expect("commit");
        let tree = f.node.shared.tree.read();
        let acl = tree.acl("/secret").expect("created");
        assert_eq!(acl[0].id, alice);
    }

    #[test]
    fn a_learner_forwards_writes_and_answers_when_the_leaders_txn_is_applied() {
        let mut f = learner();
        let (conn, session) = learner_session(&mut f);
        f.create(conn, 5, "/a", create_mode::PERSISTENT);
        f.settle();
        assert!(replies(&f.frames(conn)).is_empty());
        let p = f.node.to_leader.pop().expect("create forwarded");
        let req = ForwardedRequest::decode(&p.data_bytes()).expect("decodes");
        assert_eq!(
            (req.session_id, req.cxid, req.op_code),
            (session, 5, op::CREATE)
        );
        let auth = p.auth.expect("auth ids");
        assert_eq!(auth[0].scheme, "ip");
        // A read behind the write waits for it.
        f.node
            .send(
                conn,
                6,
                op::EXISTS,
                Request::Exists(PathWatchRequest {
                    path: "/a".into(),
                    watch: false,
                }),
            )
            .expect("send");
        assert!(
            replies(&f.frames(conn)).is_empty(),
            "read overtook the write"
        );
        let z = f.node.core.last_applied() + 1;
        let txn = Txn {
            header: crate::jute::txn::TxnHeader {
                client_id: session,
                cxid: 5,
                zxid: z,
                time: 1,
                txn_type: op::CREATE,
            },
            body: TxnBody::Create(crate::jute::txn::CreateTxn {
                path: "/a".into(),
                data: Data::new(b"x".to_vec()),
                acl: crate::tree::acl::open_acl_unsafe(),
                ephemeral: false,
                parent_cversion: 1,
            }),
            digest: None,
        };
        propose_commit(&mut f, txn);
        assert_eq!(replies(&f.frames(conn)), vec![(5, z, 0), (6, z, 0)]);
        // The touched session is reported once on the next PING reply.
        let touched = f.node.core.take_touches();
        assert_eq!(touched, vec![(session, 2000)]);
        assert!(f.node.core.take_touches().is_empty());
    }

    fn create_txn(session: i64, zxid: i64, path: &str, digest: Option<i64>) -> Txn {
        Txn {
            header: crate::jute::txn::TxnHeader {
                client_id: session,
                cxid: 1,
                zxid,
                time: 1,
                txn_type: op::CREATE,
            },
            body: TxnBody::Create(crate::jute::txn::CreateTxn {
                path: path.into(),
                data: Data::new(b"x".to_vec()),
                acl: crate::tree::acl::open_acl_unsafe(),
                ephemeral: false,
                parent_cversion: 1,
            }),
            digest: digest.map(|tree_digest| crate::jute::txn::TxnDigest {
                version: crate::tree::digest::DIGEST_VERSION,
                tree_digest,
            }),
        }
    }

    #[test]
    fn a_learner_reports_a_txn_whose_digest_disagrees_and_still_applies_it() {
        let mut f = learner();
        let (_, session) = learner_session(&mut f);
        // The digest the leader's tree had after the txn: ours after applying it to a copy.
        let z = f.node.core.last_applied() + 1;
        let mut copy = f.node.shared.tree.read().clone();
        copy.apply(&create_txn(session, z, "/a", None));
        propose_commit(&mut f, create_txn(session, z, "/a", Some(copy.digest())));
        assert_eq!(f.node.shared.tree.read().digest_check().mismatches(), 0);
        // A leader whose tree differs (or a corrupt proposal): applied, reported.
        propose_commit(&mut f, create_txn(session, z + 1, "/b", Some(12345)));
        let tree = f.node.shared.tree.read();
        assert!(tree.exists("/b"));
        assert_eq!(tree.digest_check().mismatches(), 1);
    }

    #[test]
    fn a_leaders_own_txn_digests_match_its_tree() {
        // Prep's predicted digest (sent to followers in every PROPOSAL) is what applying
        // the txn leaves: checked by the core on every apply, counted here.
        let mut f = fixture(|_| {});
        let conn = f.connect(2000, 0);
        f.settle();
        f.create(conn, 1, "/a", create_mode::PERSISTENT);
        f.create(conn, 2, "/a/e", create_mode::EPHEMERAL);
        f.create(conn, 3, "/a/s", create_mode::PERSISTENT_SEQUENTIAL);
        f.settle();
        let tree = f.node.shared.tree.read();
        assert!(tree.exists("/a/e"));
        assert_eq!(tree.digest_check().mismatches(), 0);
    }

    #[test]
    fn a_learner_forwards_sync_and_answers_on_sync_from_the_leader() {
        let mut f = learner();
        let (conn, _) = learner_session(&mut f);
        f.node
            .send(
                conn,
                9,
                op::SYNC,
                Request::Sync(PathRequest { path: "/".into() }),
            )
            .expect("send");
        let p = f.node.to_leader.pop().expect("sync forwarded");
        assert_eq!(
            ForwardedRequest::decode(&p.data_bytes())
                .expect("decodes")
                .op_code,
            op::SYNC
        );
        assert!(replies(&f.frames(conn)).is_empty());
        f.node.step(Input::SyncDone).expect("sync done");
        assert_eq!(replies(&f.frames(conn)).len(), 1);
    }

    #[test]
    fn a_learner_asks_the_leader_before_a_session_re_attaches() {
        let mut f = learner();
        let (_conn, session) = learner_session(&mut f);
        let conn2 = f.connect(2000, session);
        assert!(f.frames(conn2).is_empty());
        let p = f.node.to_leader.pop().expect("revalidate");
        assert_eq!(p.kind, kind::REVALIDATE);
        assert_eq!(
            packet::decode_revalidate_request(&p.data_bytes()),
            Ok((session, 2000))
        );
        f.node
            .step(Input::Revalidated {
                session_id: session,
                valid: true,
            })
            .expect("revalidated");
        let frames = f.frames(conn2);
        assert!(
            matches!(frames.first(), Some(Frame::Connect(r)) if r.session_id == session),
            "{frames:?}"
        );
    }

    #[test]
    fn a_learner_never_expires_sessions() {
        let mut f = learner();
        let (_conn, _session) = learner_session(&mut f);
        f.at(1_000_000, 1_800_000_000_000);
        f.settle();
        assert!(f.node.to_leader.is_empty());
        assert_eq!(
            f.node.core.in_flight(),
            0,
            "a learner prepped a closeSession"
        );
    }

    #[test]
    fn a_learner_forwards_syncs_and_writes_in_request_order() {
        // Found by the ensemble simulator: a sync queued behind a pending write while a
        // later write went out at once, so the leader saw write-before-sync.
        let mut f = learner();
        let (conn, _) = learner_session(&mut f);
        f.create(conn, 1, "/a", create_mode::PERSISTENT);
        f.node
            .send(
                conn,
                2,
                op::SYNC,
                Request::Sync(PathRequest { path: "/".into() }),
            )
            .expect("send");
        f.create(conn, 3, "/b", create_mode::PERSISTENT);
        let order: Vec<(i32, i32)> = f
            .node
            .to_leader
            .drain(..)
            .map(|p| {
                let r = ForwardedRequest::decode(&p.data_bytes()).expect("decodes");
                (r.cxid, r.op_code)
            })
            .collect();
        assert_eq!(order, vec![(1, op::CREATE), (2, op::SYNC), (3, op::CREATE)]);
    }

    #[test]
    fn a_leader_places_each_sync_after_what_was_proposed_before_it() {
        let mut f = fixture(|_| {});
        f.node.core.set_role(Role::Leader { epoch: 1 });
        let session = (2i64 << 56) | 7;
        let mut body = bytes::BytesMut::new();
        bytes::BufMut::put_i32(&mut body, 4000);
        let fwd = |cxid: i32, op_code: i32, body: bytes::Bytes| Input::Forwarded {
            learner: 9,
            req: ForwardedRequest {
                session_id: session,
                cxid,
                op_code,
                body,
            },
            auth: vec![],
        };
        f.node
            .step(fwd(0, op::CREATE_SESSION, body.freeze()))
            .expect("session");
        f.node
            .step(Input::Committed((1i64 << 32) | 1))
            .expect("commit");
        f.node.core.take_actions();
        let mut sync = bytes::BytesMut::new();
        crate::jute::Record::write(&PathRequest { path: "/".into() }, &mut sync);
        let sync = sync.freeze();
        // A sync with nothing proposed since the session: placed after it.
        f.node.core.step(fwd(1, op::SYNC, sync.clone()), f.node.now);
        let mut create = bytes::BytesMut::new();
        crate::jute::Record::write(
            &CreateRequest {
                path: "/a".into(),
                data: Data::new(b"x".to_vec()),
                acl: crate::tree::acl::open_acl_unsafe(),
                flags: 0,
            },
            &mut create,
        );
        f.node
            .core
            .step(fwd(2, op::CREATE, create.freeze()), f.node.now);
        f.node.core.step(fwd(3, op::SYNC, sync), f.node.now);
        let actions = f.node.core.take_actions();
        let session_zxid = (1i64 << 32) | 1;
        assert_eq!(
            actions.syncs,
            vec![(9, session_zxid), (9, session_zxid + 1)],
            "the first sync before the create, the second after it"
        );
        assert_eq!(
            actions
                .persist
                .iter()
                .flat_map(|b| b.zxids.clone())
                .collect::<Vec<_>>(),
            vec![session_zxid + 1]
        );
    }
}
