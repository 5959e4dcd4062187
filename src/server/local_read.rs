//! Reads served on the connection's own task instead of the core (DESIGN.md: "reads never
//! take the writer's path"): getData, exists and getChildren(2) of a session that has
//! nothing waiting at the core.
//!
//! Owns: the state the core shares with connection tasks for that — the tree under a
//! read/write lock (the core takes the write side only to apply a txn, and queues that
//! txn's watch notifications before releasing it), the watch table under a mutex that is
//! always taken after the tree lock, never before — and the per-connection link that
//! says whether the session has requests at the core.
//! Must never: serve a read while an earlier request of the same session is still at the
//! core (per-session order), or write to the tree.

use crate::jute::records::Id;
use crate::proto::{Request, encode_reply};
use crate::server::core::{ConnId, CoreMsg};
use crate::server::outbox::{FlushList, Outbox};
use crate::tree::DataTree;
use crate::txn::{RequestCtx, read};
use crate::watch::WatchManager;
use parking_lot::{Mutex, RwLock};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What the core shares with every connection task.
pub struct Shared {
    pub tree: RwLock<DataTree>,
    pub watches: Mutex<WatchManager>,
    /// The zxid of the last applied txn (read replies carry it); written under the tree's
    /// write lock.
    pub last_applied: AtomicI64,
    /// Requests served by connection tasks (counted into the 4lw packet totals).
    pub served: AtomicU64,
}

impl Shared {
    pub fn new(tree: DataTree, last_applied: i64) -> Shared {
        Shared {
            tree: RwLock::new(tree),
            watches: Mutex::new(WatchManager::new()),
            last_applied: AtomicI64::new(last_applied),
            served: AtomicU64::new(0),
        }
    }
}

/// One connection's side of the bargain with the core.
#[derive(Debug, Default)]
pub struct ConnLink {
    /// Requests handed to the core and not answered yet.
    at_core: AtomicU32,
    /// The connection's authenticated ids, incl. ("ip", addr): the one copy, which the
    /// core extends on addAuth.
    auth: RwLock<Arc<Vec<Id>>>,
    session_id: AtomicI64,
    /// Requests this connection's task served itself.
    pub served: AtomicU64,
}

impl ConnLink {
    /// The connection task hands a request to the core.
    pub fn sent_to_core(&self) {
        self.at_core.fetch_add(1, Ordering::AcqRel);
    }

    /// The core has queued the reply to one of this connection's requests.
    pub fn answered_by_core(&self) {
        let _ = self
            .at_core
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    fn idle_at_core(&self) -> bool {
        self.at_core.load(Ordering::Acquire) == 0
    }

    /// The session is established: its id and the ids requests are checked against.
    pub fn set_session(&self, session_id: i64, auth: Arc<Vec<Id>>) {
        self.session_id.store(session_id, Ordering::Release);
        *self.auth.write() = auth;
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
    pub skip_acl: bool,
    /// How often served reads must refresh the session at the core (half a tick).
    pub touch_every: Duration,
    pub last_touch: Instant,
    /// Replies queued since the last `flush` (written once per batch of frames read).
    pub pending: FlushList,
}

impl LocalReader {
    /// Serve `req` here if it is a read and nothing of this session is at the core;
    /// false if the core must take it. The reply is queued; `flush` writes it.
    pub fn try_serve(
        &mut self,
        xid: i32,
        req: &Request,
        outbox: &Arc<Outbox>,
        core: &mpsc::Sender<CoreMsg>,
    ) -> bool {
        let Some(wants_watch) = local_read_watch(req) else {
            return false;
        };
        if !self.link.idle_at_core() {
            return false;
        }
        let ctx = RequestCtx {
            session_id: self.link.session_id.load(Ordering::Acquire),
            cxid: xid,
            auth: self.link.auth(),
        };
        {
            let tree = self.shared.tree.read();
            let zxid = self.shared.last_applied.load(Ordering::Acquire);
            // The shared watch table is locked only by reads that set a watch.
            let (err, resp, _fired) = if wants_watch {
                let mut watches = self.shared.watches.lock();
                read::read_with(&tree, &mut watches, self.conn, &ctx, req, self.skip_acl)
            } else {
                let mut none = WatchManager::new();
                read::read_with(&tree, &mut none, self.conn, &ctx, req, self.skip_acl)
            };
            // Queued while the tree is still read-locked: a change this read did not see
            // cannot have queued its notification yet, so the reply goes first.
            outbox.push_with(&mut self.pending, |b| {
                encode_reply(b, xid, zxid, err, &resp)
            });
        }
        self.link.served.fetch_add(1, Ordering::Relaxed);
        self.shared.served.fetch_add(1, Ordering::Relaxed);
        if self.last_touch.elapsed() >= self.touch_every {
            // Best effort: if the core's queue is full, the next read tries again.
            if core.try_send(CoreMsg::Touch { conn: self.conn }).is_ok() {
                self.last_touch = Instant::now();
            }
        }
        true
    }

    /// Write the replies queued by `try_serve` (one write for everything served from one
    /// read of the socket).
    pub fn flush(&mut self) {
        self.pending.flush();
    }
}
