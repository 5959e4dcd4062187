//! What the passing of time does: session expiry and container/TTL reaping.
//!
//! Both run on the monotonic clock handed in with `Input::Tick` (a wall-clock step
//! expires nothing); TTLs compare node mtimes with the wall clock, as Java does.
//! Reaping follows Java's ContainerManager: candidates are collected every
//! `znode.container.checkIntervalMs`, and deleted no faster than
//! `znode.container.maxPerMinute` (one per 60000/maxPerMinute ms).
//! Must never: read a clock itself.

use super::pipeline::Origin;
use super::{Core, Now};
use crate::server::settings::Settings;
use crate::txn::prep;
use std::collections::VecDeque;

pub(super) struct Timers {
    /// Monotonic ms of the next container check.
    next_check_ms: i64,
    check_interval_ms: i64,
    /// Candidates of the last check not deleted yet.
    reap_queue: VecDeque<String>,
    /// Monotonic ms before which no further container may be deleted.
    next_delete_ms: i64,
    /// 60000 / maxPerMinute.
    delete_interval_ms: i64,
}

impl Timers {
    pub fn new(settings: &Settings, now: Now) -> Timers {
        let check = settings.container_check_interval_ms.max(1) as i64;
        Timers {
            next_check_ms: now.mono_ms + check,
            check_interval_ms: check,
            reap_queue: VecDeque::new(),
            next_delete_ms: now.mono_ms,
            delete_interval_ms: (60_000 / settings.container_max_per_minute.max(1) as i64).max(0),
        }
    }
}

impl Core {
    pub(super) fn tick(&mut self) {
        self.expire_local_sessions();
        if self.is_read_only() {
            return;
        }
        // A learner's sessions are expired by the leader, its containers reaped there.
        if !self.role.preps() {
            return;
        }
        self.expire_sessions();
        self.reap_containers();
    }

    fn expire_sessions(&mut self) {
        for id in self.sessions.take_expired(self.now.mono_ms) {
            tracing::info!("expiring session 0x{id:x}, timeout exceeded");
            crate::metrics::STALE_SESSIONS_EXPIRED.inc();
            self.close_session_txn(id);
        }
    }

    /// Prep a server-generated closeSession (expiry).
    fn close_session_txn(&mut self, session_id: i64) {
        let zxid = self.next_zxid();
        let txn = prep::prep_close_session(
            &self.shared.tree.read(),
            &mut self.pending,
            session_id,
            zxid,
            self.now.wall_ms,
            &self.settings.prep,
        );
        self.submit(txn, Origin::Internal);
    }

    fn reap_containers(&mut self) {
        let now = self.now.mono_ms;
        if now >= self.timers.next_check_ms {
            self.timers.next_check_ms = now + self.timers.check_interval_ms;
            self.timers.reap_queue = self
                .shared
                .tree
                .read()
                .reapable(self.now.wall_ms, self.settings.prep.extended_types_enabled)
                .into();
        }
        while self.timers.next_delete_ms <= now {
            let Some(path) = self.timers.reap_queue.pop_front() else {
                break;
            };
            // Idle time earns no burst beyond one deletion.
            self.timers.next_delete_ms =
                self.timers.next_delete_ms.max(now) + self.timers.delete_interval_ms;
            let zxid = self.next_zxid();
            let txn = prep::prep_delete_container_with(
                &self.shared.tree.read(),
                &mut self.pending,
                &path,
                zxid,
                self.now.wall_ms,
                &self.settings.prep,
            );
            self.submit(txn, Origin::Internal);
        }
    }
}
