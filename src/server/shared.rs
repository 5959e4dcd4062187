//! What the core shares with connection tasks: the tree and watch table (so connections
//! serve plain reads themselves, see `local_read`), the per-connection link, and the
//! global count of requests in process that throttles reading from sockets.
//!
//! Owns: the lock discipline — the tree under a read/write lock (only the core writes, and
//! it queues a txn's watch notifications before releasing the write lock), the watch table
//! under a mutex always taken after the tree lock, never before — and the outstanding
//! request accounting (`Throttle`), as Java's `globalOutstandingLimit`, with the bytes of
//! large requests each connection has at the core (`server::large_requests`).
//! Must never: decide anything (it is state and counters, no logic beyond bookkeeping).

use super::large_requests::{LargeRequests, Limit};
use crate::admin::{ConnStats, ServingMode};
use crate::jute::records::Id;
use crate::tree::DataTree;
use crate::watch::WatchManager;
use parking_lot::{Mutex, RwLock};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use tokio::sync::Notify;

/// Identifies one client connection (also its watcher id).
pub type ConnId = u64;

/// What the core shares with every connection task.
pub struct Shared {
    pub tree: RwLock<DataTree>,
    pub watches: Mutex<WatchManager>,
    /// The zxid of the last applied txn (read replies carry it); written under the tree's
    /// write lock.
    pub last_applied: AtomicI64,
    /// Requests served by connection tasks (counted into the 4lw packet totals).
    pub served: AtomicU64,
    /// Failed TLS handshakes and refused client certificates (Java counts them into
    /// auth_failed_count too).
    pub tls_auth_failed: AtomicU64,
    /// Requests handed to the core and not answered yet, for all connections.
    pub throttle: Arc<Throttle>,
    /// `admin::ServingMode` as a number (see `serving_mode`): set by whoever runs the
    /// core (always read-write standalone; an ensemble member's role loop).
    serving: AtomicU8,
}

impl Shared {
    pub fn new(tree: DataTree, last_applied: i64, outstanding_limit: usize) -> Shared {
        Shared {
            tree: RwLock::new(tree),
            watches: Mutex::new(WatchManager::new()),
            last_applied: AtomicI64::new(last_applied),
            served: AtomicU64::new(0),
            tls_auth_failed: AtomicU64::new(0),
            throttle: Arc::new(Throttle::new(outstanding_limit)),
            serving: AtomicU8::new(ServingMode::ReadWrite as u8),
        }
    }

    /// With Java's large-request limit (before the server is shared).
    pub fn with_large_requests(mut self, limit: Limit) -> Shared {
        let throttle = Arc::get_mut(&mut self.throttle);
        debug_assert!(throttle.is_some(), "set before the throttle is shared");
        if let Some(t) = throttle {
            t.large = LargeRequests::new(limit);
        }
        self
    }

    pub fn serving_mode(&self) -> ServingMode {
        match self.serving.load(Ordering::Relaxed) {
            0 => ServingMode::NotServing,
            2 => ServingMode::ReadOnly,
            _ => ServingMode::ReadWrite,
        }
    }

    pub fn set_serving_mode(&self, mode: ServingMode) {
        self.serving.store(mode as u8, Ordering::Relaxed);
    }
}

/// Requests in process at the core, for all connections together. Connection tasks stop
/// reading from their sockets while more than `limit` are in process (Java's
/// `globalOutstandingLimit`: "throttling recv"), so a slow disk pushes back on clients
/// through TCP instead of growing the core's queues.
#[derive(Debug)]
pub struct Throttle {
    in_process: AtomicUsize,
    limit: usize,
    /// Some connection waits for the count to fall (so decrements know to wake it).
    waiting: AtomicBool,
    below: Notify,
    /// Bytes of large requests in process (`zookeeper.largeRequestThreshold`).
    pub large: LargeRequests,
}

impl Throttle {
    /// `limit` 0 = no limit.
    pub fn new(limit: usize) -> Throttle {
        Throttle {
            in_process: AtomicUsize::new(0),
            limit: if limit == 0 { usize::MAX } else { limit },
            waiting: AtomicBool::new(false),
            below: Notify::new(),
            large: LargeRequests::default(),
        }
    }

    pub fn in_process(&self) -> usize {
        self.in_process.load(Ordering::Acquire)
    }

    /// Whether connections must stop reading.
    pub fn over(&self) -> bool {
        self.in_process() > self.limit
    }

    fn add(&self, n: usize) {
        self.in_process.fetch_add(n, Ordering::AcqRel);
    }

    fn sub(&self, n: usize) {
        let before = self
            .in_process
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            })
            .unwrap_or(0);
        if self.waiting.load(Ordering::Acquire) && before.saturating_sub(n) <= self.limit {
            self.waiting.store(false, Ordering::Release);
            self.below.notify_waiters();
        }
    }

    /// Wait until no more than `limit` requests are in process.
    pub async fn wait_below(&self) {
        loop {
            let notified = self.below.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.waiting.store(true, Ordering::Release);
            if !self.over() {
                return;
            }
            notified.await;
        }
    }
}

/// One connection's side of the bargain with the core.
#[derive(Debug)]
pub struct ConnLink {
    /// Requests handed to the core and not answered yet.
    at_core: AtomicU32,
    /// The connection's authenticated ids, incl. ("ip", addr): the one copy, which the
    /// core extends on addAuth.
    auth: RwLock<Arc<Vec<Id>>>,
    session_id: AtomicI64,
    /// Requests this connection's task served itself.
    pub served: AtomicU64,
    throttle: Arc<Throttle>,
    /// What `cons` prints of the answers (written by whoever answers).
    stats: Mutex<ConnStats>,
    /// With the large-request limit on: the large bytes of each request at the core (0 for
    /// a small one), in the order sent; the core answers a connection's requests in order.
    large_at_core: Mutex<VecDeque<usize>>,
}

impl ConnLink {
    pub fn new(throttle: Arc<Throttle>) -> ConnLink {
        ConnLink {
            at_core: AtomicU32::new(0),
            auth: RwLock::default(),
            session_id: AtomicI64::new(0),
            served: AtomicU64::new(0),
            throttle,
            stats: Mutex::new(ConnStats::default()),
            large_at_core: Mutex::new(VecDeque::new()),
        }
    }

    /// The connection task hands `n` requests to the core.
    pub fn sent_to_core(&self, n: u32) {
        self.at_core.fetch_add(n, Ordering::AcqRel);
        self.throttle.add(n as usize);
    }

    /// With the large-request limit on: the request just `sent_to_core` holds `bytes`
    /// (what `LargeRequests::take` gave) until the core answers it.
    pub fn sent_large_to_core(&self, bytes: usize) {
        self.large_at_core.lock().push_back(bytes);
    }

    /// The core has queued the reply to (or dropped) one of this connection's requests.
    pub fn answered_by_core(&self) {
        if self
            .at_core
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            self.throttle.sub(1);
            if self.throttle.large.enabled()
                && let Some(bytes) = self.large_at_core.lock().pop_front()
            {
                self.throttle.large.release(bytes);
            }
        }
    }

    /// The connection is gone: whatever the core still holds of it no longer counts.
    pub fn release_all(&self) {
        let n = self.at_core.swap(0, Ordering::AcqRel);
        self.throttle.sub(n as usize);
        if self.throttle.large.enabled() {
            let held: usize = self.large_at_core.lock().drain(..).sum();
            self.throttle.large.release(held);
        }
    }

    /// Nothing of this connection is at the core.
    pub fn idle_at_core(&self) -> bool {
        self.at_core.load(Ordering::Acquire) == 0
    }

    /// One request answered (`ConnStats::responded`).
    pub fn responded(&self, cxid: i32, zxid: i64, op: &'static str, start_ms: i64, end_ms: i64) {
        self.stats
            .lock()
            .responded(cxid, zxid, op, start_ms, end_ms);
    }

    /// crst: back to a new connection's counters.
    pub fn reset_stats(&self) {
        *self.stats.lock() = ConnStats::default();
    }

    pub fn stats(&self) -> ConnStats {
        *self.stats.lock()
    }

    /// The session is established: its id and the ids requests are checked against.
    pub fn set_session(&self, session_id: i64, auth: Arc<Vec<Id>>) {
        self.session_id.store(session_id, Ordering::Release);
        *self.auth.write() = auth;
    }

    pub fn session_id(&self) -> i64 {
        self.session_id.load(Ordering::Acquire)
    }

    /// The connection's authenticated ids (shared, no copy).
    pub fn auth(&self) -> Arc<Vec<Id>> {
        self.auth.read().clone()
    }

    /// addAuth: add the ids the connection does not have yet, in order.
    pub fn add_auth(&self, ids: impl IntoIterator<Item = Id>) {
        let mut auth = self.auth.write();
        for id in ids {
            if !auth.contains(&id) {
                Arc::make_mut(&mut auth).push(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_counts_and_releases() {
        let t = Arc::new(Throttle::new(3));
        let a = ConnLink::new(t.clone());
        let b = ConnLink::new(t.clone());
        a.sent_to_core(2);
        b.sent_to_core(2);
        assert!(t.over());
        a.answered_by_core();
        assert!(!t.over());
        // Answers beyond what was sent do not count.
        a.answered_by_core();
        a.answered_by_core();
        assert_eq!(t.in_process(), 2);
        b.release_all();
        assert_eq!(t.in_process(), 0);
        b.answered_by_core();
        assert_eq!(t.in_process(), 0);
    }

    #[test]
    fn large_request_bytes_are_held_until_their_answer() {
        let mut t = Throttle::new(0);
        t.large = LargeRequests::new(Limit {
            threshold: Some(10),
            max_bytes: 100,
        });
        let t = Arc::new(t);
        let a = ConnLink::new(t.clone());
        let b = ConnLink::new(t.clone());
        // a: small, 40, 30 (in that order); b: 20
        for len in [5, 40, 30] {
            a.sent_to_core(1);
            a.sent_large_to_core(t.large.take(len).expect("fits"));
        }
        b.sent_to_core(1);
        b.sent_large_to_core(t.large.take(20).expect("fits"));
        assert_eq!(t.large.in_flight(), 90);
        assert!(!t.large.admits(11), "90 + 11 passes 100");
        // answers come in order: the small one frees nothing, then 40
        a.answered_by_core();
        assert_eq!(t.large.in_flight(), 90);
        a.answered_by_core();
        assert_eq!(t.large.in_flight(), 50);
        // b goes away with its request unanswered; a late answer frees nothing more
        b.release_all();
        b.answered_by_core();
        assert_eq!(t.large.in_flight(), 30);
        a.answered_by_core();
        a.answered_by_core();
        assert_eq!((t.large.in_flight(), t.in_process()), (0, 0));
    }

    #[tokio::test]
    async fn waiters_wake_when_the_count_falls() {
        let t = Arc::new(Throttle::new(1));
        let link = Arc::new(ConnLink::new(t.clone()));
        link.sent_to_core(3);
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.wait_below().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        link.answered_by_core();
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "2 in process is still over the limit of 1"
        );
        link.answered_by_core();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
