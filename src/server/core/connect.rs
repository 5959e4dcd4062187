//! The session handshake: new sessions (a createSession txn), re-attach with password
//! check, refusal of clients that have seen a newer zxid.

use super::pipeline::{Origin, PendingConnect};
use super::{Conn, ConnId, Core};
use crate::jute::Record;
use crate::jute::records::*;
use crate::server::outbox::Outbox;
use crate::server::shared::ConnLink;
use crate::session;
use crate::txn::prep;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

impl Core {
    /// The connection throttle's verdict on a ConnectRequest (always yes when it is off).
    fn admit_connection(&mut self, req: &ConnectRequest) -> bool {
        use crate::session::conn_throttle::ConnectKind;
        if !self.conn_throttle.enabled() {
            return true;
        }
        let kind = match (req.session_id, self.new_sessions_local()) {
            (0, true) => ConnectKind::NewLocal,
            (0, false) => ConnectKind::NewGlobal,
            _ => ConnectKind::Renew,
        };
        // splitmix64, then 53 bits as a number in [0, 1).
        self.throttle_rng = self.throttle_rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.throttle_rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let uniform = (z >> 11) as f64 / (1u64 << 53) as f64;
        let need = self.conn_throttle.need(kind);
        self.conn_throttle
            .check_limit(need, self.now.mono_ms, uniform)
    }

    pub(super) fn connect(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        req: ConnectRequest,
        outbox: Arc<Outbox>,
        link: Arc<ConnLink>,
        reply: oneshot::Sender<bool>,
    ) {
        self.stats.packets_received += 1;
        if !self.admit_connection(&req) {
            // ZooKeeperServer.processConnectRequest's ClientCnxnLimitException: closed
            // without an answer.
            crate::metrics::CONNECTION_REJECTED.inc();
            tracing::warn!("closing connection to {peer}: connection throttle (no tokens)");
            outbox.close();
            let _ = reply.send(false);
            return;
        }
        if self.conn_throttle.enabled() {
            crate::metrics::CONNECTION_TOKEN_DEFICIT.observe(self.conn_throttle.deficit());
        }
        crate::metrics::CONNECTION_REQUEST_COUNT.inc();
        if req.last_zxid_seen > self.last_applied {
            tracing::info!(
                "refusing session request for client {peer} as it has seen zxid 0x{:x} our last zxid is 0x{:x} client must try another server",
                req.last_zxid_seen,
                self.last_applied
            );
            outbox.close();
            let _ = reply.send(false);
            return;
        }
        let s = &self.settings;
        let timeout =
            session::negotiate_timeout(req.time_out, s.min_session_timeout, s.max_session_timeout);
        let read_only = self.is_read_only();
        if read_only
            && let Some(why) = self.read_only_refuses(req.read_only == Some(true), req.session_id)
        {
            tracing::info!("{why} {peer}");
            outbox.close();
            let _ = reply.send(false);
            return;
        }
        // The ConnectResponse's flag, when the client sent one.
        let ro = req.read_only.map(|_| read_only);
        let now = self.now;
        let new_conn = |session_id: i64, outbox: Arc<Outbox>| {
            // ("ip", addr) first, then what a TLS client certificate earned (the link
            // holds those from before the handshake reached the core).
            let mut ids = vec![Id {
                scheme: "ip".into(),
                id: peer.ip().to_string(),
            }];
            ids.extend(link.auth().iter().cloned());
            let auth: Arc<Vec<Id>> = ids.into();
            link.set_session(session_id, auth);
            Conn {
                outbox,
                link: link.clone(),
                session_id,
                timeout_ms: timeout,
                peer,
                received: 1,
                sent: 1,
                connected_at: now.wall_ms,
                started_ms: now.mono_ms,
                queue: VecDeque::new(),
                sasl: None,
            }
        };
        if req.session_id == 0 && self.new_sessions_local() {
            let session_id = self.create_local_session(timeout);
            let kind = if read_only { "read-only" } else { "local" };
            tracing::info!("new {kind} session 0x{session_id:x} with timeout {timeout} for {peer}");
            let pending = PendingConnect {
                conn: new_conn(session_id, outbox.clone()),
                response: connect_response(session_id, timeout, ro),
                reply,
                outbox,
            };
            self.finish_connect(conn, pending);
            let last = self.last_applied;
            self.session_created(conn, last);
            return;
        }
        if req.session_id == 0 && !self.role().preps() {
            let session_id = self.sessions.next_session_id();
            let response = connect_response(session_id, timeout, ro);
            let pending = Box::new(PendingConnect {
                conn: new_conn(session_id, outbox.clone()),
                response,
                reply,
                outbox,
            });
            self.forward_create_session(conn, session_id, timeout, pending);
            return;
        }
        if req.session_id == 0 {
            let session_id = self.sessions.next_session_id();
            let txn = self.prep_session_create(session_id, 0, timeout);
            let response = connect_response(session_id, timeout, ro);
            tracing::debug!("new session 0x{session_id:x} with timeout {timeout} for {peer}");
            let pending = Box::new(PendingConnect {
                conn: new_conn(session_id, outbox.clone()),
                response,
                reply,
                outbox,
            });
            self.submit(txn, Origin::Connect { conn, pending });
            return;
        }
        let session_id = req.session_id;
        // Like ZooKeeper, any re-attach attempt first closes the connection that owns the
        // session now (CLIENT_RECONNECT) -- even one that then fails the password check.
        if let Some(old) = self.session_conn.get(&session_id).copied()
            && old != conn
        {
            if let Some(c) = self.conns.get(&old) {
                tracing::info!(
                    "session 0x{session_id:x} re-attach from {peer}; closing its old connection"
                );
                c.outbox.close();
            }
            self.disconnected(old);
        }
        let password_ok = req.passwd.as_ref() == session::session_password(session_id).as_slice();
        // A session of this member's own table is checked here, as Java's learner does.
        let local = password_ok && self.is_local_session(session_id);
        if password_ok && !local && !self.role().preps() && !read_only {
            // The leader owns sessions: ask it (REVALIDATE).
            let response = connect_response(session_id, timeout, ro);
            let pending = Box::new(PendingConnect {
                conn: new_conn(session_id, outbox.clone()),
                response,
                reply,
                outbox,
            });
            self.forward_revalidate(conn, session_id, timeout, pending);
            return;
        }
        let valid = local || (self.sessions.is_live(session_id) && password_ok && !read_only);
        if !valid {
            tracing::info!("invalid session 0x{session_id:x} for client {peer}, probably expired");
            outbox.push_with(&mut self.actions.flush, |b| {
                super::encode_frame(b, |b| connect_response(0, 0, ro).write(b))
            });
            outbox.close_after_flush();
            let _ = reply.send(false);
            return;
        }
        if local {
            self.touch_local_session(session_id);
        } else {
            self.sessions.touch(session_id, now.mono_ms);
        }
        tracing::debug!("re-attached session 0x{session_id:x} for {peer}");
        let pending = PendingConnect {
            conn: new_conn(session_id, outbox.clone()),
            response: connect_response(session_id, timeout, ro),
            reply,
            outbox,
        };
        self.finish_connect(conn, pending);
    }

    /// A new session's handshake was answered (Java's FinalRequestProcessor counts it as
    /// a response to cxid 0, op SESS, with `zxid`: its txn's, or the last for a local one).
    pub(super) fn session_created(&mut self, conn: ConnId, zxid: i64) {
        if let Some(c) = self.conns.get(&conn) {
            c.link
                .responded(0, zxid, "SESS", c.started_ms, self.now.mono_ms);
        }
    }

    /// The createSession txn of `session_id`, with the next zxid.
    pub(super) fn prep_session_create(
        &mut self,
        session_id: i64,
        cxid: i32,
        timeout: i32,
    ) -> crate::txn::Txn {
        let zxid = self.next_zxid();
        prep::prep_create_session(
            &self.shared.tree.read(),
            &mut self.pending,
            session_id,
            cxid,
            timeout,
            zxid,
            self.now.wall_ms,
            &self.settings.prep,
        )
    }

    /// Put a handshake's connection in place and send its ConnectResponse.
    pub(super) fn finish_connect(&mut self, conn: ConnId, pending: PendingConnect) {
        let PendingConnect {
            conn: c,
            response,
            reply,
            outbox,
        } = pending;
        outbox.push_with(&mut self.actions.flush, |b| {
            super::encode_frame(b, |b| response.write(b))
        });
        self.session_conn.insert(response.session_id, conn);
        self.conns.insert(conn, c);
        self.stats.packets_sent += 1;
        let _ = reply.send(true);
    }
}

/// The ConnectResponse for `session_id` (0 = refused: timeOut 0, sessionId 0, a zero
/// password, which clients read as "session expired").
fn connect_response(session_id: i64, time_out: i32, read_only: Option<bool>) -> ConnectResponse {
    let passwd = if session_id == 0 {
        [0u8; 16]
    } else {
        session::session_password(session_id)
    };
    ConnectResponse {
        protocol_version: 0,
        time_out,
        session_id,
        passwd: passwd.to_vec().into(),
        read_only,
    }
}
