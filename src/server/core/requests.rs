//! Dispatch of one client request: writes into the pipeline, reads executed in order,
//! and the session-level requests (ping, auth, sasl, whoAmI, sync, unknown opcodes).

use super::local_sessions::LocalWrite;
use super::pipeline::Origin;
use super::{ConnId, Core, InboundRequest, Queued};
use crate::jute::records::*;
use crate::proto::{Request, Response, err};
use crate::tree;
use crate::txn::{RequestCtx, prep, read};

impl Core {
    pub(super) fn ctx(&self, conn: ConnId, cxid: i32) -> Option<RequestCtx> {
        self.conns.get(&conn).map(|c| RequestCtx {
            session_id: c.session_id,
            cxid,
            auth: c.link.auth(),
            ephemeral_refusal: None,
        })
    }

    pub(super) fn request(&mut self, conn: ConnId, r: InboundRequest) {
        self.stats.packets_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.received += 1;
        let (session_id, timeout) = (c.session_id, c.timeout_ms);
        if !self.touch_session(session_id, timeout) {
            // The session expired or is closing under this connection.
            if let Some(c) = self.conns.get(&conn) {
                c.outbox.close();
            }
            return;
        }
        if !matches!(r.req, Request::Auth(_) | Request::Sasl(_)) && !self.enforce_auth(conn, r.xid)
        {
            return;
        }
        if matches!(r.req, Request::CloseSession) && self.is_local_session(session_id) {
            self.close_local_session(conn, r.xid);
            return;
        }
        if self.is_read_only() && self.read_only_request(conn, &r) {
            return;
        }
        match r.req {
            // Handled on receipt, like ZooKeeper's processPacket (not in the pipeline).
            Request::Auth(p) => self.auth(conn, r.xid, p),
            Request::Sasl(t) => self.sasl(conn, r.xid, t.token),
            ref req if req.is_write() => self.write(conn, r),
            // A learner forwards a sync at receipt, like a write, so the leader sees this
            // session's writes and syncs in request order (and orders the sync after
            // every proposal before it).
            Request::Sync(_) if !self.role().preps() => self.write(conn, r),
            _ => self.enqueue_or_execute(conn, r),
        }
    }

    fn write(&mut self, conn: ConnId, r: InboundRequest) {
        let Some(session_id) = self.conns.get(&conn).map(|c| c.session_id) else {
            return;
        };
        let refusal = match self.local_write(session_id, &r) {
            LocalWrite::AsIs => None,
            LocalWrite::Refused(e) => Some(e),
            LocalWrite::Upgrade(timeout) => {
                self.upgrade_session(session_id, timeout);
                None
            }
        };
        if self.forward(conn, &r, refusal) {
            return;
        }
        let Some(mut ctx) = self.ctx(conn, r.xid) else {
            return;
        };
        // Java's leader: an ephemeral of a session it does not know as global fails.
        ctx.ephemeral_refusal = refusal.or_else(|| {
            self.is_local_session(session_id)
                .then_some(err::SESSION_EXPIRED)
        });
        if matches!(r.req, Request::CloseSession) {
            self.sessions.set_closing(ctx.session_id);
        }
        if let Some(path) = self.settings.fault_panic_on_create.as_deref()
            && let Request::Create { req: c, .. } = &r.req
            && c.path == path
        {
            // Fault injection for the tests of fatal faults (see docs/operations.md).
            panic!("fault injection: create of {path}");
        }
        let zxid = self.next_zxid();
        let txn = prep::prep(
            &self.shared.tree.read(),
            &mut self.pending,
            &ctx,
            &r.req,
            zxid,
            self.now.wall_ms,
            &self.settings.prep,
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.queue.push_back(Queued::Write(zxid));
        }
        let origin = Origin::Client {
            conn,
            xid: r.xid,
            op_code: r.op_code,
            received_ms: r.received_ms,
            create2_at: prep::create2_subops(&r.req),
        };
        self.submit(txn, origin);
    }

    /// Run a non-write request now (its connection has no write pending before it).
    pub(super) fn execute(&mut self, conn: ConnId, r: InboundRequest) {
        let InboundRequest {
            xid,
            op_code,
            req,
            received_ms,
            body: _,
        } = r;
        let last = self.last_applied;
        match req {
            Request::Ping => self.reply(conn, xid, last, 0, &Response::Empty),
            Request::Unknown(code) => {
                let sid = self.conns.get(&conn).map(|c| c.session_id).unwrap_or(0);
                tracing::warn!(
                    "unknown request type {code} from session 0x{sid:x}; closing the connection"
                );
                self.reply(conn, xid, -1, err::UNIMPLEMENTED, &Response::Empty);
                if let Some(c) = self.conns.get(&conn) {
                    c.outbox.close_after_flush();
                }
            }
            Request::Undecodable(_) => {
                self.reply(conn, xid, last, err::MARSHALLING_ERROR, &Response::Empty);
            }
            Request::WhoAmI => {
                // In the order Java's hash set of auth ids iterates them.
                let infos = self.conns.get(&conn).map(|c| {
                    let auth = c.link.auth();
                    super::auth_order::java_set_order(&auth)
                        .into_iter()
                        .map(|id| ClientInfo {
                            auth_scheme: id.scheme.clone(),
                            user: tree::acl::user_name(id, self.settings.prep.providers),
                        })
                        .collect()
                });
                let resp = Response::WhoAmI(WhoAmIResponse {
                    client_info: infos.unwrap_or_default(),
                });
                self.reply(conn, xid, last, 0, &resp);
            }
            Request::Sync(p) => {
                let resp = Response::Sync(SyncResponse { path: p.path });
                self.reply(conn, xid, last, 0, &resp);
            }
            req => {
                let Some(ctx) = self.ctx(conn, xid) else {
                    return;
                };
                let (e, resp, fired) = {
                    let tree = self.shared.tree.read();
                    let mut watches = self.shared.watches.lock();
                    let rules = self.settings.prep.acl_rules();
                    read::read_with(&tree, &mut watches, conn, &ctx, &req, rules)
                };
                for (event_type, path) in fired {
                    self.notify(conn, event_type, &path);
                }
                self.reply(conn, xid, last, e, &resp);
            }
        }
        self.answered(conn, xid, last, super::op_name(op_code), received_ms);
    }

    /// AuthenticationHelper.enforceAuthentication: false (after refusing the request and
    /// closing the connection) when authentication is enforced and the connection has no
    /// id of an enforced scheme.
    fn enforce_auth(&mut self, conn: ConnId, xid: i32) -> bool {
        let Some(schemes) = self.settings.enforce_auth_schemes.clone() else {
            return true;
        };
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        let auth = c.link.auth();
        if auth.iter().any(|id| schemes.contains(&id.scheme)) {
            return true;
        }
        let have: Vec<&str> = auth.iter().map(|id| id.scheme.as_str()).collect();
        tracing::error!(
            "Client authentication scheme(s) {have:?} does not match with any of the expected \
             authentication scheme {schemes:?}, closing session."
        );
        self.reply(
            conn,
            xid,
            0,
            err::SESSION_CLOSED_REQUIRE_SASL_AUTH,
            &Response::Empty,
        );
        if let Some(c) = self.conns.get(&conn) {
            c.outbox.close_after_flush();
        }
        false
    }

    fn auth(&mut self, conn: ConnId, xid: i32, p: AuthPacket) {
        let super_digest = self.settings.super_digest.clone();
        let providers = self.settings.prep.providers;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ok = match p.scheme.as_str() {
            // No provider (zookeeper.DigestAuthenticationProvider.enabled=false): AUTHFAILED.
            "digest" if providers.digest => {
                let user_pass = String::from_utf8_lossy(&p.auth);
                let ids = tree::acl::digest_auth_ids(&user_pass, super_digest.as_deref());
                c.link.add_auth(ids);
                true
            }
            // IPAuthenticationProvider adds the client address, which every connection has.
            "ip" => true,
            _ => false,
        };
        if ok {
            self.reply(conn, xid, 0, 0, &Response::Empty);
        } else {
            tracing::warn!(
                "authentication with unknown scheme {:?} failed; closing the connection",
                p.scheme
            );
            self.stats.auth_failed += 1;
            self.reply(conn, xid, 0, err::AUTH_FAILED, &Response::Empty);
            if let Some(c) = self.conns.get(&conn) {
                c.outbox.close_after_flush();
            }
        }
    }
}
