//! The core: the single writer that owns the data tree, watches and session table, as a
//! deterministic state machine.
//!
//! `Core::step(input, now)` takes one input — a client's handshake or requests, "logged
//! through zxid N" from the log thread, "committed through zxid N", a timer tick, a
//! finished snapshot, a four-letter word — with the monotonic and wall time it happens
//! at, and `take_actions` hands back what the shell must do: write the outboxes it
//! listed, append txn batches to the log, start a snapshot. No socket,
//! file, thread or clock is touched in here, so the same inputs give the same outputs,
//! and the simulator (`crate::sim`) drives this very code.
//!
//! Writes become txns (prep, against the pending-changes overlay) with the next zxid and
//! are handed out to be logged. Two watermarks: *logged* (durable on this node) and
//! *committed* (decided); standalone commits what it has logged. Committed txns are
//! applied in zxid order by one function (`apply`: tree, watches, and the session table,
//! derived from the txn itself), then answered by origin (`pipeline`). So a client sees
//! an event before any reply that reflects the change, nothing is acknowledged before it
//! is logged, and a session's reads wait behind its own writes (never behind other
//! sessions' writes).
//! Owns: zxid assignment, session lifecycle, auth ids per connection, container/TTL
//! reaping, the snapshot schedule, server statistics.
//! Must never: do I/O, read a clock, block, or wait on a client (it only appends to
//! outboxes, which the shell writes).

mod apply;
mod auth_order;
mod connect;
mod ensemble;
mod local_sessions;
mod pipeline;
mod read_only;
mod requests;
mod restore;
mod sasl;
pub(crate) use sasl::nonce_bytes;
mod snapshots;
#[cfg(test)]
mod tests;
mod timers;
mod view;

pub use ensemble::Role;
pub use restore::{RestoreOutcome, Restored};
pub use snapshots::{SnapshotOrder, SnapshotOutcome, SnapshotWritten};
pub use view::{is_write_op, op_name};

use crate::admin::Stats;
use crate::jute::Record;
use crate::jute::records::*;
use crate::proto::{self, Request, Response, encode_frame, encode_reply, xid};

use crate::server::outbox::{FlushList, Outbox};
use crate::server::persister::PersistBatch;
use crate::server::settings::Settings;
pub use crate::server::shared::ConnId;
use crate::server::shared::{ConnLink, Shared};
use crate::session::{self, SessionTracker};
use crate::txn::prep::PendingChanges;
use bytes::BufMut;
use pipeline::InFlight;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::oneshot;

/// Capacity of the core's inbound queue (messages, each a batch of frames).
pub const CORE_QUEUE: usize = 4096;

/// The time an input happens at: monotonic milliseconds (timeouts, expiry, latency) and
/// wall-clock milliseconds (only for ctime/mtime, TTLs and session id seeds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Now {
    pub mono_ms: i64,
    pub wall_ms: i64,
}

/// Everything that can happen to the core.
pub enum Input {
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
    /// The log is durable through this zxid.
    Logged(i64),
    /// The ensemble decided everything through this zxid (a standalone node commits what
    /// it logs and never gets this).
    Committed(i64),
    /// Time passed: session expiry, container/TTL reaping.
    Tick,
    /// The snapshot ordered last (`Actions::snapshot`) is finished or abandoned.
    SnapshotDone(SnapshotOutcome),
    /// The AdminServer's `snapshot`: write a snapshot now (after the one being written,
    /// if any) and answer where it went.
    SnapshotNow(oneshot::Sender<SnapshotOutcome>),
    /// The AdminServer's `restore` (standalone only, see `restore`): stop taking
    /// requests; answered with the zxid everything stopped at once nothing is in flight.
    RestoreBegin(oneshot::Sender<RestoreOutcome>),
    /// The restored state, already on disk as the snapshot of that zxid: swap it in.
    RestoreCommit(Box<Restored>),
    /// The restore failed after its begin: go on unchanged.
    RestoreAbort,
    /// Leader: a learner forwarded a client's request (REQUEST), with the auth ids of the
    /// client's connection there. `learner` is the shell's handle for that learner
    /// (a sync is handed back with it, in request order).
    Forwarded {
        learner: u64,
        req: crate::zab::packet::ForwardedRequest,
        auth: Vec<Id>,
    },
    /// Leader: sessions a learner's clients kept alive (its PING reply).
    TouchSessions(Vec<(i64, i32)>),
    /// Learner: log this entry (a txn the leader proposed or informed, its exact bytes).
    Log { zxid: i64, entry: bytes::Bytes },
    /// Learner: the leader committed this txn: apply it (in zxid order) and answer this
    /// member's client that asked for it, if any.
    Apply(Box<crate::txn::Txn>),
    /// Learner: the leader answered the oldest sync this member forwarded (SYNC).
    SyncDone,
    /// Learner: the leader's verdict on a session a client re-attached here with.
    Revalidated { session_id: i64, valid: bool },
}

/// One decoded request frame.
pub struct InboundRequest {
    pub xid: i32,
    pub op_code: i32,
    pub req: Request,
    /// Monotonic ms when its bytes were read (for latency statistics).
    pub received_ms: i64,
    /// The request record's bytes as the client sent them (a learner forwards them to
    /// the leader verbatim).
    pub body: bytes::Bytes,
}

/// What the shell must do after a step. Replies, notifications and closes are already in
/// the outboxes (a close is a flag the connection tasks act on); `flush` lists the
/// outboxes that have bytes to write.
#[derive(Default)]
pub struct Actions {
    pub flush: FlushList,
    /// Txn batches to append to the log in this order, each fsync'd before the shell
    /// answers `Input::Logged` with its last zxid.
    pub persist: Vec<PersistBatch>,
    /// Write a snapshot of the shared tree; answer `Input::SnapshotDone` when it is done.
    pub snapshot: Option<SnapshotOrder>,
    /// Learner: packets for the leader (forwarded REQUESTs, REVALIDATEs), in order.
    pub to_leader: Vec<crate::zab::packet::QuorumPacket>,
    /// Leader: learners' syncs that reached the proposal stage, in order: (learner,
    /// the last zxid handed out before it). The shell hands each to the leader after
    /// proposing that zxid and before proposing the next (the leader answers SYNC once
    /// everything proposed before it commits).
    pub syncs: Vec<(u64, i64)>,
}

/// What a connection is waiting on, in request order.
enum Queued {
    /// A write of this connection that is not yet committed/applied.
    Write(i64),
    /// Learner: a request forwarded to the leader, answered when its txn (matched by
    /// session and cxid) is applied here, or, for a sync, when the leader says SYNC.
    Forwarded {
        xid: i32,
        op_code: i32,
        received_ms: i64,
        /// Answer with this error whatever the leader's txn says (a local session's
        /// ephemeral create: Java's learner answers its own exception).
        answer_err: Option<i32>,
        /// A multi's create2 sub-ops (`prep::create2_subops`), answered with a Stat.
        create2_at: Option<Box<[u32]>>,
    },
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
    /// Wall ms.
    connected_at: i64,
    /// Monotonic ms of the handshake.
    started_ms: i64,
    /// Pending writes and the requests queued behind them.
    queue: VecDeque<Queued>,
    /// The connection's SASL exchange, from its first `sasl` request (`sasl.rs`).
    sasl: Option<Box<crate::auth::sasl_digest::DigestServer>>,
}

pub struct Core {
    settings: Arc<Settings>,
    /// The tree and watches, shared with connection tasks that serve reads.
    shared: Arc<Shared>,
    sessions: SessionTracker,
    pending: PendingChanges,
    /// Highest zxid assigned (prepped).
    last_prepped: i64,
    /// Highest zxid durable in this node's log.
    logged: i64,
    /// Highest zxid decided (standalone: = logged).
    committed: i64,
    /// Highest zxid applied to the tree.
    last_applied: i64,
    conns: HashMap<ConnId, Conn>,
    session_conn: HashMap<i64, ConnId>,
    stats: Stats,
    /// `hash`: (zxid, tree digest) at every applied zxid divisible by
    /// `DIGEST_LOG_INTERVAL`, the newest `DIGEST_LOG_LIMIT` (Java's DataTree digestLog).
    digest_log: VecDeque<(i64, i64)>,
    /// Monotonic ms at start (uptime).
    started_ms: i64,
    /// The time of the input being handled.
    now: Now,
    /// Prepped txns not yet applied, in zxid order.
    in_flight: VecDeque<InFlight>,
    /// Serialized entries of this step batch, sealed into one `PersistBatch` by
    /// `take_actions`.
    to_persist: Vec<bytes::Bytes>,
    /// When to roll the txn log and snapshot next.
    snapshots: snapshots::SnapshotSchedule,
    /// A snapshot order is out and not done yet.
    snapshot_running: bool,
    /// AdminServer `snapshot` requests: those the running snapshot answers, and those
    /// waiting for the next one (asked while another was being written).
    snapshot_waiters: snapshots::Waiters,
    timers: timers::Timers,
    actions: Actions,
    /// fsyncs slower than fsync.warningthresholdms (counted by the log thread).
    slow_fsyncs: Arc<AtomicU64>,
    /// Zxids of `to_persist`'s entries.
    to_persist_zxids: Vec<i64>,
    /// Standalone, or this member's part in the ensemble.
    role: Role,
    /// Learner: what waits on the leader (handshakes, syncs) and the sessions touched
    /// since the last PING reply.
    remote: ensemble::RemoteState,
    /// What mntr reports about the ensemble, kept current by the role's shell.
    quorum_status: Option<crate::admin::QuorumStatus>,
    /// `zookeeper.connection_throttle_*`: the token bucket for ConnectRequests.
    conn_throttle: crate::session::conn_throttle::ConnThrottle,
    /// splitmix64 state for the throttle's random early drop.
    throttle_rng: u64,
    /// Read-only mode: the ensemble's sessions, which it refuses.
    read_only: read_only::ReadOnlySessions,
    /// Sessions only this member knows (`localSessionsEnabled`, read-only mode).
    local: local_sessions::LocalSessions,
    /// A restore in progress (`restore`): requests wait.
    restore: Option<restore::RestoreGate>,
}

impl Core {
    /// A core over `shared` (whose tree is the recovered one) starting at `now`.
    pub fn new(
        settings: Arc<Settings>,
        shared: Arc<Shared>,
        recovered: Recovered,
        now: Now,
        slow_fsyncs: Arc<AtomicU64>,
    ) -> Self {
        let first_id = session::initial_session_id(now.wall_ms, settings.server_id);
        let mut sessions = SessionTracker::new(settings.tick_ms, first_id);
        for (id, timeout) in recovered.sessions {
            sessions.add(id, timeout, now.mono_ms);
        }
        // Seeds the snapCount jitter: deterministic given the inputs.
        let seed = (now.wall_ms as u64) ^ ((settings.server_id as u64) << 48) ^ 0x5EED;
        let mut core = Core {
            sessions,
            pending: PendingChanges::default(),
            last_prepped: recovered.last_zxid,
            logged: recovered.last_zxid,
            committed: recovered.last_zxid,
            last_applied: recovered.last_zxid,
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            stats: Stats::default(),
            conn_throttle: crate::session::conn_throttle::ConnThrottle::new(
                settings.conn_throttle,
                now.mono_ms,
            ),
            throttle_rng: now.wall_ms as u64 ^ 0x9E37_79B9_7F4A_7C15,
            digest_log: VecDeque::new(),
            started_ms: now.mono_ms,
            now,
            in_flight: VecDeque::new(),
            to_persist: Vec::new(),
            snapshots: snapshots::SnapshotSchedule::new(settings.snap_count, seed),
            snapshot_running: false,
            snapshot_waiters: Default::default(),
            timers: timers::Timers::new(&settings, now),
            actions: Actions::default(),
            slow_fsyncs,
            to_persist_zxids: Vec::new(),
            role: Role::Standalone,
            remote: ensemble::RemoteState::default(),
            quorum_status: None,
            read_only: Default::default(),
            local: local_sessions::LocalSessions::new(settings.tick_ms),
            restore: None,
            shared,
            settings,
        };
        if recovered.snapshot_needed {
            core.start_snapshot();
        }
        core
    }

    /// The state connection tasks serve reads from.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Handle one input at `now` (monotonic time never goes back: an earlier `now` is
    /// taken as the latest seen).
    pub fn step(&mut self, input: Input, now: Now) {
        self.now = Now {
            mono_ms: now.mono_ms.max(self.now.mono_ms),
            wall_ms: now.wall_ms,
        };
        let Some(input) = self.held_by_restore(input) else {
            return;
        };
        match input {
            Input::Connect {
                conn,
                peer,
                req,
                outbox,
                link,
                reply,
            } => self.connect(conn, peer, req, outbox, link, reply),
            Input::Touch { conn } => {
                if let Some(c) = self.conns.get(&conn) {
                    let (id, timeout) = (c.session_id, c.timeout_ms);
                    self.touch_session(id, timeout);
                }
            }
            Input::Requests { conn, reqs } => {
                for r in reqs {
                    self.request(conn, r);
                }
            }
            Input::Disconnected { conn } => self.disconnected(conn),
            Input::FourLetter { query, reply } => {
                self.reset_for(query);
                let _ = reply.send(self.answer(query));
            }
            Input::Logged(zxid) => self.on_logged(zxid),
            Input::Committed(zxid) => self.commit_through(zxid),
            Input::Tick => self.tick(),
            Input::SnapshotDone(done) => self.snapshot_done(done),
            Input::SnapshotNow(reply) => self.snapshot_now(reply),
            Input::Forwarded { learner, req, auth } => self.forwarded(learner, req, auth),
            Input::TouchSessions(touches) => {
                for (id, _timeout) in touches {
                    self.sessions.touch(id, self.now.mono_ms);
                }
            }
            Input::Log { zxid, entry } => self.log_entry(zxid, entry),
            Input::Apply(txn) => self.apply_remote(*txn),
            Input::SyncDone => self.sync_done(),
            Input::Revalidated { session_id, valid } => self.revalidated(session_id, valid),
            Input::RestoreBegin(reply) => self.restore_begin(reply),
            Input::RestoreCommit(restored) => self.restore_commit(restored),
            Input::RestoreAbort => self.restore_open(),
        }
        if self.restore.is_some() {
            self.restore_ready();
        }
    }

    /// What the shell must do now; this iteration's log entries become one batch (group
    /// commit).
    pub fn take_actions(&mut self) -> Actions {
        self.seal_persist_batch();
        std::mem::take(&mut self.actions)
    }

    /// Txns handed out to be logged or committed that are not applied yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The highest zxid applied to the tree.
    pub fn last_applied(&self) -> i64 {
        self.last_applied
    }

    /// Stop: every connection closes after what is queued for it has been written.
    pub fn close_all(&mut self) {
        for c in self.conns.values() {
            c.outbox.close_after_flush();
        }
    }

    /// A notification no txn fired (setWatches' missed events): zxid -1, as Java's
    /// `WatchedEvent.NO_ZXID`.
    fn notify(&mut self, watcher: ConnId, event_type: i32, path: &str) {
        let frame = notification_frame(event_type, path, NO_ZXID);
        self.notify_encoded(watcher, &frame);
    }

    /// Queue an already-encoded notification (one encoding shared by every watcher).
    fn notify_encoded(&mut self, watcher: ConnId, frame: &[u8]) {
        if let Some(c) = self.conns.get_mut(&watcher)
            && c.outbox
                .push_with(&mut self.actions.flush, |b| b.extend_from_slice(frame))
        {
            c.sent += 1;
            self.stats.packets_sent += 1;
            // Java's WATCH_BYTES: the notification's length (without its length prefix).
            let size = frame.len().saturating_sub(4);
            crate::metrics::WATCH_BYTES.add(size as u64);
            crate::metrics::CLIENT_RESPONSE.observe(size as i64);
        }
    }

    /// Answer one of `conn`'s requests.
    fn reply(&mut self, conn: ConnId, xid: i32, zxid: i64, err: i32, resp: &Response) {
        if let Some(c) = self.conns.get_mut(&conn) {
            let mut size = 0;
            if c.outbox.push_with(&mut self.actions.flush, |b| {
                size = encode_reply(b, xid, zxid, err, resp);
            }) {
                c.sent += 1;
                self.stats.packets_sent += 1;
                crate::metrics::client_answered(size);
            }
            // After the reply is queued: the connection's next read may now be served
            // by its own task, behind this reply.
            c.link.answered_by_core();
        } else {
            // The connection went away while its request was in process (Java's
            // FinalRequestProcessor: a stale request's reply).
            crate::metrics::STALE_REPLIES.inc();
        }
    }

    /// A request of `conn` received at `received_ms` was answered with `zxid`: count it
    /// in the server's latency figures and the connection's `cons` line.
    fn answered(&mut self, conn: ConnId, xid: i32, zxid: i64, op: &'static str, received_ms: i64) {
        let now = self.now.mono_ms;
        let ms = now.saturating_sub(received_ms).max(0);
        self.stats.record_latency(ms as u64);
        // Java's ServerStats.updateLatency: quorum (write) requests vs the rest.
        if is_write_op(op) {
            crate::metrics::UPDATE_LATENCY.observe(ms);
        } else {
            crate::metrics::READ_LATENCY.observe(ms);
        }
        if let Some(c) = self.conns.get(&conn) {
            c.link.responded(xid, zxid, op, received_ms, now);
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

/// State recovered from disk that the core starts from (the tree itself goes into
/// `Shared`).
pub struct Recovered {
    pub sessions: Vec<(i64, i32)>,
    pub last_zxid: i64,
    /// Take a snapshot as soon as serving starts (the logs hold txns after the newest one).
    pub snapshot_needed: bool,
}

/// The zxid of a notification that no txn fired (Java's `WatchedEvent.NO_ZXID`).
const NO_ZXID: i64 = -1;

/// A complete notification frame: ReplyHeader{-1, zxid, 0} + WatcherEvent{type,
/// SyncConnected, path}. `zxid` is the txn that fired the event, as 3.9 servers send it
/// (ZOOKEEPER-4655: `WatchManager.triggerWatch` builds the WatchedEvent with the txn's
/// zxid and `NIOServerCnxn.process` puts it in the ReplyHeader), or `NO_ZXID` for the
/// events setWatches fires on reconnect (`DataTree.setWatches` builds them without one).
/// 3.8 servers send -1 for every event.
fn notification_frame(event_type: i32, path: &str, zxid: i64) -> bytes::Bytes {
    let mut b = bytes::BytesMut::with_capacity(32 + path.len());
    encode_frame(&mut b, |b| {
        ReplyHeader {
            xid: xid::NOTIFICATION,
            zxid,
            err: 0,
        }
        .write(b);
        b.put_i32(event_type);
        b.put_i32(proto::event::STATE_SYNC_CONNECTED);
        crate::jute::JuteWrite::put_ustring(b, path);
    });
    b.freeze()
}
