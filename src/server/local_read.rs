//! Reads served on the connection's own task instead of the core (DESIGN.md: "reads never
//! take the writer's path"): getData, exists and getChildren(2) of a session that has
//! nothing waiting at the core.
//!
//! Owns: deciding which request a connection may serve itself and serving it from the
//! shared tree (`shared`), and telling the connection when its session needs a touch at
//! the core.
//! Must never: serve a read while an earlier request of the same session is still at the
//! core (per-session order), write to the tree, or talk to the core itself.

use crate::proto::{Request, encode_reply};
use crate::server::outbox::{FlushList, Outbox};
use crate::server::shared::{ConnId, ConnLink, Shared};
use crate::txn::{RequestCtx, read};
use crate::watch::WatchManager;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// For a read a connection task may serve: whether it sets a watch. `None` for every
/// other request.
fn local_read_watch(req: &Request) -> Option<bool> {
    match req {
        Request::GetData(r)
        | Request::Exists(r)
        | Request::GetChildren(r)
        | Request::GetChildren2(r) => Some(r.watch),
        _ => None,
    }
}

/// Serves reads for one connection and keeps its session alive while it does.
pub struct LocalReader {
    pub shared: Arc<Shared>,
    pub link: Arc<ConnLink>,
    pub conn: ConnId,
    pub acl_rules: crate::tree::acl::AclRules,
    /// `Settings::enforce_auth_schemes`.
    pub enforce_auth_schemes: Option<Arc<Vec<String>>>,
    /// How often served reads must refresh the session at the core (half a tick).
    pub touch_every: Duration,
    pub last_touch: Instant,
    /// Replies queued since the last `flush` (written once per batch of frames read).
    pub pending: FlushList,
}

impl LocalReader {
    /// Serve `req` here if it is a read and nothing of this session is at the core;
    /// false if the core must take it. The reply is queued; `flush` writes it.
    /// `now_ms`: the monotonic time it is answered at (for the connection's `cons` line).
    pub fn try_serve(
        &mut self,
        xid: i32,
        op_code: i32,
        req: &Request,
        outbox: &Arc<Outbox>,
        now_ms: i64,
    ) -> bool {
        let Some(wants_watch) = local_read_watch(req) else {
            return false;
        };
        if !self.link.idle_at_core() {
            return false;
        }
        // Enforced authentication (enforce.auth.*): the core refuses an unauthenticated
        // connection's request, so only an authenticated one is served here.
        if let Some(schemes) = &self.enforce_auth_schemes
            && !self
                .link
                .auth()
                .iter()
                .any(|id| schemes.contains(&id.scheme))
        {
            return false;
        }
        let ctx = RequestCtx {
            session_id: self.link.session_id(),
            cxid: xid,
            auth: self.link.auth(),
            ephemeral_refusal: None,
        };
        {
            let tree = self.shared.tree.read();
            let zxid = self.shared.last_applied.load(Ordering::Acquire);
            // The shared watch table is locked only by reads that set a watch.
            let (err, resp, _fired) = if wants_watch {
                let mut watches = self.shared.watches.lock();
                read::read_with(&tree, &mut watches, self.conn, &ctx, req, self.acl_rules)
            } else {
                let mut none = WatchManager::new();
                read::read_with(&tree, &mut none, self.conn, &ctx, req, self.acl_rules)
            };
            // Queued while the tree is still read-locked: a change this read did not see
            // cannot have queued its notification yet, so the reply goes first.
            let mut size = 0;
            if outbox.push_with(&mut self.pending, |b| {
                size = encode_reply(b, xid, zxid, err, &resp);
            }) {
                crate::metrics::client_answered(size);
            }
            let op = crate::server::core::op_name(op_code);
            self.link.responded(xid, zxid, op, now_ms, now_ms);
            crate::metrics::LOCAL_READS.inc();
        }
        self.link.served.fetch_add(1, Ordering::Relaxed);
        self.shared.served.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Served reads must refresh the session at the core now (every `touch_every`); the
    /// caller sends the touch and calls `touched` if it got through.
    pub fn touch_due(&self) -> bool {
        self.last_touch.elapsed() >= self.touch_every
    }

    pub fn touched(&mut self) {
        self.last_touch = Instant::now();
    }

    /// Write the replies queued by `try_serve` (one write for everything served from one
    /// read of the socket).
    pub fn flush(&mut self) {
        self.pending.flush();
    }
}
