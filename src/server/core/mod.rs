//! The core: the single writer that owns the data tree, watches and session table.
//!
//! Every request of every connection arrives here in order over one bounded channel.
//! Writes are turned into transactions (prep, against the pending-changes overlay), given
//! the next zxid and handed to the persister; once the fsync covering them completes they
//! are applied to the tree in zxid order, their watch events queued, then their replies.
//! So a client sees an event before any reply that reflects the change, nothing is
//! acknowledged before it is durable, and a session's reads wait behind its own writes
//! (never behind other sessions' writes).
//! Owns: zxid assignment, session lifecycle (create, re-attach, expiry, close), auth ids
//! per connection, container/TTL reaping, server statistics.
//! Must never: do blocking I/O or wait on a client (it only appends to outboxes).

mod connect;
mod pipeline;
mod requests;
mod snapshots;
mod view;

pub use view::op_name;

use crate::admin::Stats;
use crate::jute::Record;
use crate::jute::records::*;
use crate::proto::{self, Request, Response, encode_frame, encode_reply, xid};

use crate::server::local_read::{ConnLink, Shared};
use crate::server::outbox::{FlushList, Outbox};
use crate::server::persister::Persister;
use crate::server::settings::Settings;
use crate::session::{self, SessionTracker};
use crate::tree::{self, DataTree};
use crate::txn::Txn;
use crate::txn::prep::PendingChanges;
use bytes::BufMut;
use pipeline::InFlight;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Identifies one client connection (also its watcher id).
pub type ConnId = u64;

/// Capacity of the core's inbound queue (messages, each a batch of frames).
pub const CORE_QUEUE: usize = 4096;

/// Messages from connection tasks to the core.
pub enum CoreMsg {
    /// A ConnectRequest. The core writes the ConnectResponse into `outbox` itself and
    /// answers `true` when the session is established.
    Connect {
        conn: ConnId,
        peer: SocketAddr,
        req: ConnectRequest,
        outbox: Arc<Outbox>,
        link: Arc<ConnLink>,
        reply: oneshot::Sender<bool>,
    },
    /// The connection served reads itself: keep its session alive.
    Touch { conn: ConnId },
    /// Decoded requests of one connection, in order.
    Requests {
        conn: ConnId,
        reqs: Vec<InboundRequest>,
    },
    /// The connection is gone (socket closed or error).
    Disconnected { conn: ConnId },
    /// A four-letter word's question (`admin::query_for`): answer with just what it prints.
    FourLetter {
        query: crate::admin::Query,
        reply: oneshot::Sender<crate::admin::Answer>,
    },
}

/// One decoded request frame.
pub struct InboundRequest {
    pub xid: i32,
    pub op_code: i32,
    pub req: Request,
    pub received: Instant,
}

/// What a connection is waiting on, in request order.
enum Queued {
    /// A write of this connection that is not yet durable/applied.
    Write(i64),
    /// A request that must wait behind the writes queued before it.
    Request(InboundRequest),
}

struct Conn {
    outbox: Arc<Outbox>,
    /// What the connection task needs to serve reads itself (see `local_read`).
    link: Arc<ConnLink>,
    session_id: i64,
    timeout_ms: i32,
    peer: SocketAddr,
    received: u64,
    sent: u64,
    connected_at: i64,
    last_zxid: i64,
    last_op: &'static str,
    /// Pending writes and the requests queued behind them.
    queue: VecDeque<Queued>,
}

pub struct Core {
    settings: Arc<Settings>,
    /// The tree and watches, shared with connection tasks that serve reads.
    shared: Arc<Shared>,
    sessions: SessionTracker,
    pending: PendingChanges,
    /// Highest zxid assigned (prepped).
    last_prepped: i64,
    /// Highest zxid applied to the tree.
    last_applied: i64,
    conns: HashMap<ConnId, Conn>,
    session_conn: HashMap<i64, ConnId>,
    stats: Stats,
    started: Instant,
    persister: Persister,
    /// Prepped txns not yet durable, in zxid order.
    in_flight: VecDeque<InFlight>,
    /// Serialized entries of this loop iteration, handed to the persister at its end.
    to_persist: Vec<bytes::Bytes>,
    /// When to roll the log and snapshot next.
    snapshots: snapshots::SnapshotSchedule,
    /// The fuzzy snapshot being serialized, if any.
    snapshot_job: Option<snapshots::SnapshotJob>,
    /// Outboxes appended to in this loop iteration, written at its end.
    flush_list: FlushList,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// State recovered from disk that the core starts from.
pub struct Recovered {
    pub tree: DataTree,
    pub sessions: Vec<(i64, i32)>,
    pub last_zxid: i64,
    /// Take a snapshot as soon as serving starts (the logs hold txns after the newest one).
    pub snapshot_needed: bool,
}

impl Core {
    pub fn new(settings: Arc<Settings>, recovered: Recovered, persister: Persister) -> Self {
        let first_id = session::initial_session_id(now_ms(), settings.server_id);
        let settings_snap_count = settings.snap_count;
        let mut sessions = SessionTracker::new(settings.tick_ms, first_id);
        let now = now_ms();
        let snapshot_needed = recovered.snapshot_needed;
        for (id, timeout) in recovered.sessions {
            sessions.add(id, timeout, now);
        }
        let mut core = Core {
            shared: Arc::new(Shared::new(recovered.tree, recovered.last_zxid)),
            sessions,
            pending: PendingChanges::default(),
            last_prepped: recovered.last_zxid,
            last_applied: recovered.last_zxid,
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            stats: Stats::default(),
            started: Instant::now(),
            settings,
            persister,
            in_flight: VecDeque::new(),
            to_persist: Vec::new(),
            snapshots: snapshots::SnapshotSchedule::new(settings_snap_count),
            snapshot_job: None,
            flush_list: FlushList::default(),
        };
        core.snapshots.due = snapshot_needed;
        core
    }

    /// The state connection tasks serve reads from.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Run until the channel closes (all senders dropped) or `shutdown` fires.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<CoreMsg>,
        mut durable: mpsc::Receiver<i64>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut expiry = tokio::time::interval(Duration::from_millis(50));
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reap_every = Duration::from_millis(self.settings.container_check_interval_ms.max(10));
        let mut reaper = tokio::time::interval(reap_every);
        reaper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(256);
        if self.snapshots.due {
            self.start_snapshot();
        }
        loop {
            tokio::select! {
                biased;
                Some(z) = durable.recv() => self.on_durable(z),
                n = rx.recv_many(&mut batch, 256) => {
                    if n == 0 { break; }
                    for msg in batch.drain(..) {
                        self.handle(msg);
                    }
                }
                // Keeps a running snapshot moving when no client is talking.
                _ = std::future::ready(()), if self.snapshot_running() => {}
                _ = expiry.tick() => self.expire_sessions(),
                _ = reaper.tick() => self.reap_containers(),
                _ = shutdown.changed() => break,
            }
            self.flush_to_persister();
            self.flush_list.flush();
            if self.snapshot_running() {
                self.snapshot_step();
            }
        }
        // Let what was handed to the disk finish, so acknowledged-to-disk writes are
        // answered; nothing new is accepted.
        while !self.in_flight.is_empty() {
            match tokio::time::timeout(Duration::from_secs(5), durable.recv()).await {
                Ok(Some(z)) => self.on_durable(z),
                _ => break,
            }
        }
        self.flush_list.flush();
        for c in self.conns.values() {
            c.outbox.close_after_flush();
        }
    }

    fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect {
                conn,
                peer,
                req,
                outbox,
                link,
                reply,
            } => {
                self.connect(conn, peer, req, outbox, link, reply);
            }
            CoreMsg::Touch { conn } => {
                if let Some(c) = self.conns.get(&conn) {
                    self.sessions.touch(c.session_id, now_ms());
                }
            }
            CoreMsg::Requests { conn, reqs } => {
                // One clock read per batch: expiry has tickTime granularity anyway.
                let now = now_ms();
                for r in reqs {
                    self.request(conn, r, now);
                }
            }
            CoreMsg::Disconnected { conn } => self.disconnected(conn),
            CoreMsg::FourLetter { query, reply } => {
                let _ = reply.send(self.answer(query));
            }
        }
    }

    /// Apply a durable txn, fire its watches, and return the outcome.
    fn apply(&mut self, txn: &Txn) -> tree::ApplyOutcome {
        let shared = self.shared.clone();
        // Write-locked until the txn's notifications are queued: a connection task's read
        // either ran before (its reply is queued already) or sees the change after its
        // notification.
        let mut tree = shared.tree.write();
        let outcome = tree.apply(txn);
        self.last_applied = txn.header.zxid;
        shared
            .last_applied
            .store(self.last_applied, std::sync::atomic::Ordering::Release);
        self.pending.applied(txn.header.zxid);
        let mut watches = shared.watches.lock();
        for ev in &outcome.events {
            // Encoded once per (event, type): a fan-out to many watchers only copies bytes.
            let mut encoded: Option<(i32, bytes::Bytes)> = None;
            for (watcher, event_type) in watches.trigger(ev) {
                // A watcher must still have READ on the node when the event fires
                // (ZooKeeper's fix for CVE-2024-23944).
                let allowed = self.settings.prep.skip_acl
                    || self.conns.get(&watcher).is_some_and(|c| {
                        tree::acl::check_acl(&ev.acl, proto::perms::READ, &c.link.auth())
                    });
                if allowed {
                    let frame = match &encoded {
                        Some((t, f)) if *t == event_type => f.clone(),
                        _ => {
                            let f = notification_frame(event_type, &ev.path);
                            encoded = Some((event_type, f.clone()));
                            f
                        }
                    };
                    self.notify_encoded(watcher, &frame);
                }
            }
        }
        outcome
    }

    fn notify(&mut self, watcher: ConnId, event_type: i32, path: &str) {
        let frame = notification_frame(event_type, path);
        self.notify_encoded(watcher, &frame);
    }

    /// Queue an already-encoded notification (one encoding shared by every watcher).
    fn notify_encoded(&mut self, watcher: ConnId, frame: &[u8]) {
        if let Some(c) = self.conns.get_mut(&watcher)
            && c.outbox
                .push_with(&mut self.flush_list, |b| b.extend_from_slice(frame))
        {
            c.sent += 1;
            self.stats.packets_sent += 1;
        }
    }

    fn reply(&mut self, conn: ConnId, xid: i32, zxid: i64, err: i32, resp: &Response) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.outbox.push_with(&mut self.flush_list, |b| {
                encode_reply(b, xid, zxid, err, resp)
            }) {
                c.sent += 1;
                self.stats.packets_sent += 1;
            }
            // After the reply is queued: the connection's next read may now be served
            // by its own task, behind this reply.
            c.link.answered_by_core();
        }
    }

    fn disconnected(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            self.shared.watches.lock().remove_watcher(conn);
            if self.session_conn.get(&c.session_id) == Some(&conn) {
                self.session_conn.remove(&c.session_id);
            }
        }
    }
}

/// A complete notification frame: ReplyHeader{-1, zxid -1 (as 3.8 servers), 0} +
/// WatcherEvent{type, SyncConnected, path}.
fn notification_frame(event_type: i32, path: &str) -> bytes::Bytes {
    let mut b = bytes::BytesMut::with_capacity(32 + path.len());
    encode_frame(&mut b, |b| {
        ReplyHeader {
            xid: xid::NOTIFICATION,
            zxid: -1,
            err: 0,
        }
        .write(b);
        b.put_i32(event_type);
        b.put_i32(proto::event::STATE_SYNC_CONNECTED);
        crate::jute::JuteWrite::put_ustring(b, path);
    });
    b.freeze()
}
