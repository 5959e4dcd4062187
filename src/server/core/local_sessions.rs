//! Local sessions, as Java's `UpgradeableSessionTracker` keeps them with
//! `localSessionsEnabled` (and as a read-only member keeps all of its sessions): sessions
//! only this member knows. Creating, closing or expiring one logs nothing and tells no
//! leader (its id still carries this member's id, as Java's); a client that takes one to
//! another member finds it expired there, since only global sessions revalidate.
//!
//! A local session that creates an ephemeral node (create, create2, or a multi with an
//! ephemeral create) must become global first: with `localSessionsUpgradingEnabled` a
//! createSession request (cxid 0) goes ahead of the create, as Java's
//! `checkUpgradeSession` queues it; without it the create still consumes a zxid as an
//! error txn and the client gets EPHEMERALONLOCALSESSION (-120), as from Java.
//! Owns: the local session table, the sessions being upgraded on a learner, and the
//! decision whether a write of a local session needs an upgrade.
//! Must never: put a local session in the replicated session table, a snapshot or a PING
//! reply, or log a txn for one other than its upgrade's createSession.

use super::pipeline::Origin;
use super::{ConnId, Core, InboundRequest, Role};
use crate::proto::{MultiOp, Request, Response, create_mode, err, op};
use crate::session::SessionTracker;
use std::collections::HashSet;

/// The sessions this member alone knows.
pub(super) struct LocalSessions {
    table: SessionTracker,
    /// Sessions whose createSession is on its way but not applied here yet: upgraded here, or on the leader forwarded by a learner. They count as
    /// global meanwhile (Java's `upgradingSessions`, and the leader's `trackSession` at
    /// prep), without entering the replicated table before their txn does.
    becoming_global: HashSet<i64>,
}

impl LocalSessions {
    pub fn new(tick_ms: i32) -> Self {
        LocalSessions {
            // Ids come from the core's own tracker (one generator for both kinds).
            table: SessionTracker::new(tick_ms, 0),
            becoming_global: HashSet::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }
}

/// What a local session's write needs before it can be prepped or forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LocalWrite {
    /// Nothing: not a local session, or no ephemeral is created.
    AsIs,
    /// Its ephemeral creates fail with this error (upgrading is off).
    Refused(i32),
    /// The session was just taken out of the local table: create it globally (with this
    /// timeout) ahead of the write.
    Upgrade(i32),
}

/// The member id a session id carries in its top byte (`SessionTrackerImpl`).
pub(super) fn server_id_of(session_id: i64) -> i64 {
    session_id >> 56
}

impl Core {
    /// New sessions on this member are local: read-only mode, or `localSessionsEnabled`
    /// in an ensemble role.
    pub(super) fn new_sessions_local(&self) -> bool {
        match self.role {
            Role::ReadOnly => true,
            Role::Leader { .. } | Role::Learner { .. } => self.settings.local_sessions,
            Role::Standalone => false,
        }
    }

    /// A new local session (no txn).
    pub(super) fn create_local_session(&mut self, timeout_ms: i32) -> i64 {
        let mut id = self.sessions.next_session_id();
        while self.local.table.get(id).is_some() {
            id = self.sessions.next_session_id();
        }
        self.local.table.add(id, timeout_ms, self.now.mono_ms);
        id
    }

    pub(super) fn is_local_session(&self, session_id: i64) -> bool {
        self.local.table.is_live(session_id)
    }

    /// Keep a local session alive: `None` when it is not local here; `Some(true)` for a
    /// local one, or one being upgraded (whose touches, now global, the caller reports).
    pub(super) fn touch_local_session(&mut self, session_id: i64) -> Option<bool> {
        if self.local.table.touch(session_id, self.now.mono_ms) {
            return Some(true);
        }
        self.local
            .becoming_global
            .contains(&session_id)
            .then_some(false)
    }

    /// A closeSession of a local session: answered here, no txn.
    pub(super) fn close_local_session(&mut self, conn: ConnId, xid: i32) {
        if let Some(c) = self.conns.get(&conn) {
            let id = c.session_id;
            self.local.table.remove(id);
            tracing::info!("closed local session 0x{id:x}");
        }
        let last = self.last_applied;
        self.reply(conn, xid, last, 0, &Response::Empty);
        if let Some(c) = self.conns.get(&conn) {
            c.outbox.close_after_flush();
        }
    }

    /// A createSession of `session_id` is on its way: global from now on, here.
    pub(super) fn global_session_coming(&mut self, session_id: i64) {
        self.local.becoming_global.insert(session_id);
    }

    /// A session whose createSession is on its way but not applied here yet.
    pub(super) fn is_becoming_global(&self, session_id: i64) -> bool {
        self.local.becoming_global.contains(&session_id)
    }

    /// A createSession or closeSession txn of `session_id` was applied: whatever it is
    /// now, it is not local (`commitSession` / `removeSession`).
    pub(super) fn forget_local_session(&mut self, session_id: i64) {
        self.local.becoming_global.remove(&session_id);
        self.local.table.remove(session_id);
    }

    /// Expire the local sessions whose time is up: their connections close, nothing is
    /// logged (the ensemble's sessions are the leader's to expire).
    pub(super) fn expire_local_sessions(&mut self) {
        for id in self.local.table.take_expired(self.now.mono_ms) {
            self.local.table.remove(id);
            tracing::info!("expiring local session 0x{id:x}, timeout exceeded");
            crate::metrics::STALE_SESSIONS_EXPIRED.inc();
            if let Some(conn) = self.session_conn.get(&id).copied() {
                if let Some(c) = self.conns.get(&conn) {
                    c.outbox.close();
                }
                self.disconnected(conn);
            }
        }
    }

    /// `checkUpgradeSession`: what a local session's write needs. An upgrade takes the
    /// session out of the local table here.
    pub(super) fn local_write(&mut self, session_id: i64, r: &InboundRequest) -> LocalWrite {
        if self.is_read_only() || !self.is_local_session(session_id) {
            return LocalWrite::AsIs;
        }
        let creates_ephemeral = match &r.req {
            Request::Create { op_code, req } => is_ephemeral_create(*op_code, req.flags),
            Request::Multi(ops) => ops.iter().any(|op| match op {
                MultiOp::Create { op_code, req } => is_ephemeral_create(*op_code, req.flags),
                _ => false,
            }),
            _ => false,
        };
        if !creates_ephemeral {
            return LocalWrite::AsIs;
        }
        if !self.settings.local_sessions_upgrading {
            tracing::warn!(
                "session 0x{session_id:x} is local and localSessionsUpgradingEnabled is off: \
                 its ephemeral create fails with EPHEMERALONLOCALSESSION"
            );
            return LocalWrite::Refused(err::EPHEMERAL_ON_LOCAL_SESSION);
        }
        let Some(info) = self.local.table.get(session_id) else {
            return LocalWrite::AsIs;
        };
        let timeout = info.timeout_ms;
        self.local.table.remove(session_id);
        tracing::info!("upgrading session 0x{session_id:x}");
        LocalWrite::Upgrade(timeout)
    }
}

impl Core {
    /// Create an upgraded session globally ahead of the write that needed it: a learner
    /// asks the leader; the leader tracks it at once and preps its createSession.
    pub(super) fn upgrade_session(&mut self, session_id: i64, timeout: i32) {
        self.global_session_coming(session_id);
        if self.forwards_writes() {
            self.forward_session_create(session_id, timeout);
            return;
        }
        let txn = self.prep_session_create(session_id, 0, timeout);
        self.submit(txn, Origin::Internal);
    }
}

/// What `checkUpgradeSession` looks for: a create or create2 (not createContainer or
/// createTTL) whose mode is EPHEMERAL or EPHEMERAL_SEQUENTIAL.
fn is_ephemeral_create(op_code: i32, flags: i32) -> bool {
    (op_code == op::CREATE || op_code == op::CREATE2)
        && (flags == create_mode::EPHEMERAL || flags == create_mode::EPHEMERAL_SEQUENTIAL)
}
