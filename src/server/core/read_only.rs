//! The core as Java's `ReadOnlyZooKeeperServer`: what a member serves while it cannot
//! reach a quorum and `readonlymode.enabled` is set.
//!
//! Only clients that asked for read-only mode (the ConnectRequest's `readOnly` flag) get
//! a session, and theirs are local to this member: never logged, never told to a leader,
//! gone when the member rejoins a quorum. A session of the ensemble (one this member's
//! tree knows) is refused without an answer, so its client tries another member instead
//! of taking it for expired. Reads are served from the tree as it was when the quorum
//! was lost; writes, `sync` and `check` are answered NOTREADONLY (-119), as Java's
//! `ReadOnlyRequestProcessor` does.
//!
//! Deliberate difference: Java 3.8/3.9 answer a read-only client's handshake with a bare
//! NOTREADONLY reply header (which clients cannot parse) unless `localSessionsEnabled` is
//! set, because its read-only server submits the createSession as a global one. Here the
//! read-only session is always local, as Java's is with `localSessionsEnabled=true`.
//! Must never: prep a txn, write the log, or touch a session of the ensemble.

use super::{ConnId, Core, InboundRequest, Role};
use crate::proto::{Request, Response, err};
use std::collections::HashSet;

/// The sessions a read-only core refuses (its own are local: `local_sessions.rs`).
#[derive(Default)]
pub(super) struct ReadOnlySessions {
    /// The ensemble's sessions as the tree had them when read-only mode began.
    global: HashSet<i64>,
}

impl Core {
    /// Become a read-only server over the current tree (instead of `set_role`).
    pub fn set_read_only(&mut self) {
        self.role = Role::ReadOnly;
        self.read_only.global = self.sessions.all().into_iter().map(|(id, _)| id).collect();
    }

    pub(super) fn is_read_only(&self) -> bool {
        matches!(self.role, Role::ReadOnly)
    }

    /// `ZooKeeperServer.processConnectRequest`'s refusal of a client that did not ask for
    /// read-only mode, and `ReadOnlyZooKeeperServer.validateSession`'s of a global one.
    pub(super) fn read_only_refuses(
        &self,
        read_only_asked: bool,
        session_id: i64,
    ) -> Option<String> {
        if !read_only_asked {
            Some("Refusing session request for not-read-only client".into())
        } else if self.read_only.global.contains(&session_id) {
            Some(format!(
                "Refusing global session reconnection in RO mode (session 0x{session_id:x})"
            ))
        } else {
            None
        }
    }

    /// A request a read-only server answers itself; false for the reads it serves.
    pub(super) fn read_only_request(&mut self, conn: ConnId, r: &InboundRequest) -> bool {
        match &r.req {
            req if req.is_write() || matches!(req, Request::Sync(_)) => {
                let last = self.last_applied;
                self.reply(conn, r.xid, last, err::NOT_READ_ONLY, &Response::Empty);
                true
            }
            _ => false,
        }
    }
}
