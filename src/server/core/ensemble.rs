//! The core's part in an ensemble: what changes when this member is the leader or a
//! learner (follower / observer) instead of a standalone server.
//!
//! Leader: txns are committed by the quorum (`Input::Committed`), not by the local log;
//! learners' forwarded requests are prepped like local ones (with the client's auth ids
//! as the learner sent them) and answered by the learner; learners' PINGs keep their
//! sessions alive; this member alone expires sessions and reaps containers.
//! Learner: writes and syncs are forwarded to the leader and answered when the leader's
//! txn for them (same session and cxid) is applied here, or when SYNC arrives; txns come
//! from the leader (`Input::Log`, then `Input::Apply` once committed) with their
//! exact log bytes; new global sessions are
//! created by the leader's createSession txn and re-attaches revalidated by the leader;
//! sessions touched here are reported on the next PING reply.
//! Must never: do I/O or talk to peers itself (packets for the leader are actions), or
//! expire a session or reap a container on a learner.

use super::pipeline::{Origin, PendingConnect};
use super::{ConnId, Core, InboundRequest, Queued};
use crate::jute::Record;
use crate::jute::records::*;
use crate::proto::{self, Request, Response};
use crate::txn::{RequestCtx, Txn, TxnBody, prep};
use crate::zab::packet::{self, ForwardedRequest, QuorumPacket};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{HashMap, VecDeque};

/// This member's part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No ensemble: what is logged is committed.
    Standalone,
    /// Proposes txns of `epoch`; commits when the quorum says so.
    Leader { epoch: u32 },
    /// Votes on the leader's txns (`observer`: only learns them).
    Learner { observer: bool },
    /// Cut off from the quorum with `readonlymode.enabled`: serves reads to read-only
    /// clients, refuses writes (`read_only.rs`).
    ReadOnly,
}

impl Role {
    /// This member decides commits by its own log alone.
    pub fn commits_on_log(self) -> bool {
        matches!(self, Role::Standalone)
    }
    /// This member preps txns (and so expires sessions and reaps containers).
    pub fn preps(self) -> bool {
        matches!(self, Role::Standalone | Role::Leader { .. })
    }
    /// `srvr`'s `Mode:`.
    pub fn mode(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Leader { .. } => "leader",
            Role::Learner { observer: false } => "follower",
            Role::Learner { observer: true } => "observer",
            Role::ReadOnly => "read-only",
        }
    }
}

/// What a learner's core waits on the leader for.
#[derive(Default)]
pub(super) struct RemoteState {
    /// Handshakes waiting for their createSession txn or REVALIDATE answer, by session.
    connects: HashMap<i64, (ConnId, Box<PendingConnect>)>,
    /// Forwarded syncs in the order they were sent: (connection, xid, path).
    syncs: VecDeque<(ConnId, i32, String)>,
    /// Sessions touched since the last PING reply, with their timeouts.
    touched: HashMap<i64, i32>,
}

/// Most handshakes a learner keeps waiting on the leader at once (each is a client
/// connection the leader has not answered for yet).
const MAX_PENDING_CONNECTS: usize = 100_000;

impl Core {
    /// Become `role`. Called once, before the first input. A leader's first zxid is
    /// `(epoch << 32) | 1`.
    pub fn set_role(&mut self, role: Role) {
        if let Role::Leader { epoch } = role {
            let start = crate::zab::zxid::make(epoch as i64, 0);
            assert!(
                start >= self.last_prepped,
                "leading epoch {epoch} below the last zxid 0x{:x}",
                self.last_prepped
            );
            self.last_prepped = start;
        }
        self.role = role;
    }

    /// The ensemble state mntr reports (the role's shell keeps it current).
    pub fn set_quorum_status(&mut self, s: crate::admin::QuorumStatus) {
        self.quorum_status = Some(s);
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Live sessions (id, timeout): what a role hands to the next.
    pub fn sessions(&self) -> Vec<(i64, i32)> {
        self.sessions.all()
    }

    /// Learner: the sessions touched since the last call, for the PING reply.
    pub fn take_touches(&mut self) -> Vec<(i64, i32)> {
        self.remote.touched.drain().collect()
    }

    /// Leader: a learner asks whether `session_id` is alive (REVALIDATE); touching it if
    /// so, as Java's `touchSession`.
    pub fn revalidate(&mut self, session_id: i64) -> bool {
        self.sessions.touch(session_id, self.now.mono_ms)
    }

    /// Keep a session alive (and on a learner, remember it for the next PING reply).
    pub(super) fn touch_session(&mut self, session_id: i64, timeout: i32) -> bool {
        match self.touch_local_session(session_id) {
            Some(true) => return true,
            // Being upgraded: global already, as far as the leader is told.
            Some(false) => {
                if self.forwards_writes() {
                    self.remote.touched.insert(session_id, timeout);
                }
                return true;
            }
            None => {}
        }
        if matches!(self.role, Role::Learner { .. }) {
            self.remote.touched.insert(session_id, timeout);
        }
        self.sessions.touch(session_id, self.now.mono_ms)
    }

    /// A learner: writes go to the leader.
    pub(super) fn forwards_writes(&self) -> bool {
        matches!(self.role, Role::Learner { .. })
    }

    /// Learner: send a client's write or sync to the leader and queue its answer.
    /// Returns `false` (nothing done) when this member is not a learner.
    /// `refusal`: the error a local session's ephemeral create gets (answered here when
    /// the leader's txn for it is applied, except for a multi, whose results are the
    /// leader's, as in Java).
    pub(super) fn forward(
        &mut self,
        conn: ConnId,
        r: &InboundRequest,
        refusal: Option<i32>,
    ) -> bool {
        if !self.forwards_writes() {
            return false;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return true;
        };
        let auth = c.link.auth();
        c.queue.push_back(Queued::Forwarded {
            xid: r.xid,
            op_code: r.op_code,
            received_ms: r.received_ms,
            answer_err: refusal.filter(|_| r.op_code != proto::op::MULTI),
            create2_at: crate::txn::prep::create2_subops(&r.req),
        });
        let req = ForwardedRequest {
            session_id: c.session_id,
            cxid: r.xid,
            op_code: r.op_code,
            body: r.body.clone(),
        };
        if let Request::Sync(p) = &r.req {
            self.remote.syncs.push_back((conn, r.xid, p.path.clone()));
        }
        self.actions.to_leader.push(QuorumPacket {
            kind: packet::kind::REQUEST,
            zxid: -1,
            data: Some(req.encode()),
            auth: Some(auth.to_vec()),
        });
        true
    }

    /// Learner: a new session. Its id is made here (with this member's id in the top
    /// byte); the leader's createSession txn finishes the handshake.
    pub(super) fn forward_create_session(
        &mut self,
        conn: ConnId,
        session_id: i64,
        timeout: i32,
        pending: Box<PendingConnect>,
    ) {
        if self.remote.connects.len() >= MAX_PENDING_CONNECTS {
            tracing::warn!("too many handshakes waiting on the leader; dropping a client");
            pending.outbox.close();
            let _ = pending.reply.send(false);
            return;
        }
        self.remote.connects.insert(session_id, (conn, pending));
        self.forward_session_create(session_id, timeout);
    }

    /// Learner: ask the leader to create `session_id` globally (a createSession REQUEST
    /// with cxid 0, as Java's learner sends for a new session or an upgrade).
    pub(super) fn forward_session_create(&mut self, session_id: i64, timeout: i32) {
        let mut body = BytesMut::with_capacity(4);
        body.put_i32(timeout);
        let req = ForwardedRequest {
            session_id,
            cxid: 0,
            op_code: proto::op::CREATE_SESSION,
            body: body.freeze(),
        };
        self.actions.to_leader.push(QuorumPacket::with_data(
            packet::kind::REQUEST,
            -1,
            req.encode(),
        ));
    }

    /// Learner: a client re-attaches here; the leader says whether the session lives.
    pub(super) fn forward_revalidate(
        &mut self,
        conn: ConnId,
        session_id: i64,
        timeout: i32,
        pending: Box<PendingConnect>,
    ) {
        if let Some((_, old)) = self.remote.connects.remove(&session_id) {
            old.outbox.close();
            let _ = old.reply.send(false);
        }
        self.remote.connects.insert(session_id, (conn, pending));
        self.actions.to_leader.push(QuorumPacket::with_data(
            packet::kind::REVALIDATE,
            -1,
            packet::encode_revalidate_request(session_id, timeout),
        ));
    }

    /// Learner: the leader's verdict on a re-attach.
    pub(super) fn revalidated(&mut self, session_id: i64, valid: bool) {
        let Some((conn, pending)) = self.remote.connects.remove(&session_id) else {
            return;
        };
        if valid {
            let timeout = pending.conn.timeout_ms;
            self.finish_connect(conn, *pending);
            self.touch_session(session_id, timeout);
        } else {
            tracing::info!("invalid session 0x{session_id:x}, probably expired");
            let PendingConnect {
                response,
                reply,
                outbox,
                ..
            } = *pending;
            let refused = ConnectResponse {
                protocol_version: 0,
                time_out: 0,
                session_id: 0,
                passwd: vec![0u8; 16].into(),
                read_only: response.read_only,
            };
            outbox.push_with(&mut self.actions.flush, |b| {
                super::encode_frame(b, |b| refused.write(b))
            });
            outbox.close_after_flush();
            let _ = reply.send(false);
        }
    }

    /// Learner: log an entry the leader sent (its txn is applied when committed).
    pub(super) fn log_entry(&mut self, zxid: i64, entry: Bytes) {
        assert!(
            zxid > self.last_prepped,
            "leader's entry 0x{zxid:x} logged after 0x{:x}",
            self.last_prepped
        );
        self.last_prepped = zxid;
        // A follower's PROPOSAL once synced (Java's Follower.processPacket): the entry
        // starts with its TxnHeader, whose time (wall ms at the leader) is at byte 20.
        if self.role == (Role::Learner { observer: false })
            && !self.snapshots.held
            && let Some(t) = entry.get(20..28).and_then(|b| <[u8; 8]>::try_from(b).ok())
        {
            observe_since(
                &crate::metrics::PROPOSAL_LATENCY,
                i64::from_be_bytes(t),
                self.now.wall_ms,
            );
        }
        self.persist_entry(zxid, entry);
    }

    /// Learner: the leader committed `txn`: apply it now and answer who asked here.
    pub(super) fn apply_remote(&mut self, txn: Txn) {
        if !self.snapshots.held {
            let m = &crate::metrics::COMMIT_PROPAGATION_LATENCY;
            observe_since(m, txn.header.time, self.now.wall_ms);
        }
        let applied = self.apply(&txn);
        self.committed = self.committed.max(txn.header.zxid);
        self.answer_origin(
            super::pipeline::InFlight {
                txn,
                origin: Origin::Remote,
            },
            applied,
        );
        if self.snapshots.due && !self.snapshots.held {
            self.start_snapshot();
        }
    }

    /// Learner: the leader answered our oldest forwarded sync.
    pub(super) fn sync_done(&mut self) {
        let Some((conn, xid, path)) = self.remote.syncs.pop_front() else {
            tracing::warn!("SYNC from the leader with no sync pending");
            return;
        };
        let resp = Response::Sync(SyncResponse { path });
        let last = self.last_applied;
        self.reply(conn, xid, last, 0, &resp);
        let received_ms = match self.conns.get(&conn).and_then(|c| c.queue.front()) {
            Some(Queued::Forwarded { received_ms, .. }) => *received_ms,
            _ => self.now.mono_ms,
        };
        self.answered(conn, xid, last, "SYNC", received_ms);
        self.forwarded_done(conn, xid);
    }

    /// Learner: after applying a txn from the leader, answer the client (or handshake)
    /// of this member that asked for it. Returns whether it closed its own session.
    pub(super) fn answer_remote(&mut self, txn: &Txn, applied: &super::apply::Applied) -> bool {
        let session = txn.header.client_id;
        if matches!(txn.body, TxnBody::CreateSession(_)) {
            // A handshake's, or an upgrade's (which no client request waits on).
            if let Some((conn, pending)) = self.remote.connects.remove(&session) {
                let timeout = pending.conn.timeout_ms;
                self.finish_connect(conn, *pending);
                self.touch_session(session, timeout);
            }
            return false;
        }
        let Some(&conn) = self.session_conn.get(&session) else {
            // A session closed by this txn is already out of session_conn: its
            // connection is `applied.closed_conn`.
            return match applied.closed_conn {
                Some(conn) => self.answer_forwarded(conn, txn, applied),
                None => false,
            };
        };
        self.answer_forwarded(conn, txn, applied)
    }

    fn answer_forwarded(
        &mut self,
        conn: ConnId,
        txn: &Txn,
        applied: &super::apply::Applied,
    ) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let Some(Queued::Forwarded {
            xid,
            op_code,
            received_ms,
            answer_err,
            create2_at,
        }) = c.queue.front()
        else {
            return false;
        };
        let (xid, op_code, received_ms, answer_err) = (*xid, *op_code, *received_ms, *answer_err);
        if xid != txn.header.cxid {
            return false;
        }
        let z = txn.header.zxid;
        let (e, resp) = match answer_err {
            Some(e) => (e, Response::Empty),
            None => {
                let (e, mut resp) = prep::write_reply(op_code, &applied.outcome.result);
                if let Some(at) = create2_at.as_deref() {
                    prep::answer_create2_subops(&mut resp, &applied.outcome.result, at);
                }
                (e, resp)
            }
        };
        self.reply(conn, xid, z, e, &resp);
        let op = match answer_err {
            Some(_) => "NA",
            None => super::pipeline::write_op_name(txn, op_code),
        };
        self.answered(conn, xid, z, op, received_ms);
        self.forwarded_done(conn, xid);
        applied.closed_conn == Some(conn)
    }

    /// A forwarded request of `conn` was answered: run what queued behind it.
    fn forwarded_done(&mut self, conn: ConnId, xid: i32) {
        if let Some(c) = self.conns.get(&conn) {
            debug_assert!(
                matches!(c.queue.front(), Some(Queued::Forwarded { xid: x, .. }) if *x == xid),
                "forwarded answer out of order"
            );
        }
        self.write_done(conn, 0);
    }

    /// Leader: a learner's client request, prepped as if it were local.
    pub(super) fn forwarded(&mut self, learner: u64, req: ForwardedRequest, auth: Vec<Id>) {
        if !matches!(self.role, Role::Leader { .. }) {
            tracing::warn!("a forwarded request reached a member that is not leading");
            return;
        }
        if req.op_code == proto::op::SYNC {
            // No txn: the leader answers once what was proposed before it commits.
            self.actions.syncs.push((learner, self.last_prepped));
            return;
        }
        let zxid_now = self.last_prepped;
        let session_id = req.session_id;
        let txn = match req.op_code {
            proto::op::CREATE_SESSION => {
                let Some(timeout) = req
                    .body
                    .get(..4)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                else {
                    tracing::warn!("forwarded createSession without a timeout");
                    return;
                };
                let s = &self.settings;
                let timeout = crate::session::negotiate_timeout(
                    timeout,
                    s.min_session_timeout,
                    s.max_session_timeout,
                );
                // Global from now, as Java's `trackSession` at prep: an upgraded
                // session's ephemeral create follows right behind.
                self.global_session_coming(session_id);
                self.prep_session_create(session_id, req.cxid, timeout)
            }
            op => {
                let mut r = crate::jute::Reader::new(req.body.clone());
                let decoded = match proto::decode_request(op, &mut r) {
                    Ok(d) => d,
                    Err(_) => Request::Undecodable(op),
                };
                if !decoded.is_write() {
                    tracing::warn!("learner forwarded a non-write request (opcode {op}); ignored");
                    return;
                }
                let closing = matches!(decoded, Request::CloseSession);
                let checked = self.check_forwarded_session(session_id, closing);
                let zxid = self.next_zxid();
                let ephemeral_refusal = match checked {
                    Ok(refusal) => refusal,
                    Err(e) => {
                        let t = prep::prep_refused(session_id, req.cxid, zxid, self.now.wall_ms, e);
                        self.submit(t, Origin::Internal);
                        return;
                    }
                };
                if closing {
                    self.sessions.set_closing(session_id);
                }
                let ctx = RequestCtx {
                    session_id,
                    cxid: req.cxid,
                    auth: auth.into(),
                    ephemeral_refusal,
                };
                prep::prep(
                    &self.shared.tree.read(),
                    &mut self.pending,
                    &ctx,
                    &decoded,
                    zxid,
                    self.now.wall_ms,
                    &self.settings.prep,
                )
            }
        };
        debug_assert!(txn.header.zxid > zxid_now);
        self.submit(txn, Origin::Internal);
    }

    /// Leader: Java's `checkSession` for a learner's request. `Err`: the request is
    /// refused whole (an error txn); `Ok`: what its ephemeral creates get
    /// (`checkGlobalSession`: none for a session not known as global).
    fn check_forwarded_session(
        &mut self,
        session_id: i64,
        closing: bool,
    ) -> Result<Option<i32>, i32> {
        let global = self.sessions.touch(session_id, self.now.mono_ms)
            || self.is_becoming_global(session_id);
        if global {
            return Ok(None);
        }
        // With local sessions, one this member does not know may be another member's.
        let foreign = super::local_sessions::server_id_of(session_id) != self.settings.server_id;
        if closing || (self.settings.local_sessions && foreign) {
            return Ok(Some(proto::err::SESSION_EXPIRED));
        }
        tracing::info!(
            "forwarded request of session 0x{session_id:x}, which is not live here{}",
            if foreign {
                " (is localSessionsEnabled set on its member but not here?)"
            } else {
                ""
            }
        );
        Err(proto::err::SESSION_EXPIRED)
    }
}

/// Java's `Request.logLatency`: wall ms since a leader's txn time, dropped when negative
/// (the members' clocks disagree).
pub(super) fn observe_since(metric: &crate::metrics::Summary, txn_time_ms: i64, now_wall_ms: i64) {
    let latency = now_wall_ms.saturating_sub(txn_time_ms);
    if latency >= 0 {
        metric.observe(latency);
    }
}
