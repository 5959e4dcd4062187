//! What a four-letter word asks the core, and the shapes of the core's answers.
//!
//! Owns: the `Query`/`Answer` pair (one query per word that needs the core, each answer
//! holding only what that word prints), the server counters (`Stats`) and the per-connection
//! rows. Must never: hold references into the tree or the watch tables (answers are owned
//! copies, rendered after they left the core), or carry data its word does not print.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Request latency and packet counters (for srvr/stat/mntr). The core owns the values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub latency_min_ms: u64,
    pub latency_max_ms: u64,
    pub latency_total_ms: u64,
    pub latency_count: u64,
    pub auth_failed: u64,
    /// The connection throttle's random drop chance in parts per billion (Java's
    /// connection_drop_probability; 0 while BLUE is off).
    pub conn_drop_ppb: u64,
}

impl Stats {
    /// Count one answered request that took `ms` milliseconds.
    pub fn record_latency(&mut self, ms: u64) {
        if self.latency_count == 0 || ms < self.latency_min_ms {
            self.latency_min_ms = ms;
        }
        self.latency_max_ms = self.latency_max_ms.max(ms);
        self.latency_total_ms += ms;
        self.latency_count += 1;
    }

    /// ServerStats.getAvgLatency.
    pub fn avg_latency(&self) -> f64 {
        if self.latency_count == 0 {
            0.0
        } else {
            self.latency_total_ms as f64 / self.latency_count as f64
        }
    }
}

/// A connection's response statistics, as Java's `ServerCnxn` keeps them for `cons`
/// (`updateStatsForResponse`, `resetStats`): whoever answers a request records it (the
/// core, or the connection task for the reads it serves itself). Times are monotonic ms,
/// as Java's `Time.currentElapsedTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnStats {
    /// The last non-negative cxid answered; -1 before any (then `cons` leaves it out).
    pub last_cxid: i64,
    pub last_zxid: i64,
    pub last_op: &'static str,
    pub last_response_ms: i64,
    pub last_latency_ms: i64,
    min_latency_ms: i64,
    pub max_latency_ms: i64,
    count: u64,
    total_latency_ms: i64,
}

impl Default for ConnStats {
    fn default() -> Self {
        ConnStats {
            last_cxid: -1,
            last_zxid: -1,
            last_op: "NA",
            last_response_ms: 0,
            last_latency_ms: 0,
            min_latency_ms: i64::MAX,
            max_latency_ms: 0,
            count: 0,
            total_latency_ms: 0,
        }
    }
}

impl ConnStats {
    /// One answer: to request `cxid` (special xids < 0 keep the last real one), with the
    /// reply's zxid, Java's 4-letter op name, received at `start_ms`, answered at `end_ms`.
    pub fn responded(
        &mut self,
        cxid: i32,
        zxid: i64,
        op: &'static str,
        start_ms: i64,
        end_ms: i64,
    ) {
        if cxid >= 0 {
            self.last_cxid = cxid as i64;
        }
        self.last_zxid = zxid;
        self.last_op = op;
        self.last_response_ms = end_ms;
        let elapsed = end_ms.saturating_sub(start_ms);
        self.last_latency_ms = elapsed;
        self.min_latency_ms = self.min_latency_ms.min(elapsed);
        self.max_latency_ms = self.max_latency_ms.max(elapsed);
        self.count += 1;
        self.total_latency_ms = self.total_latency_ms.saturating_add(elapsed);
    }

    pub fn min_latency_ms(&self) -> i64 {
        if self.min_latency_ms == i64::MAX {
            0
        } else {
            self.min_latency_ms
        }
    }

    /// Integer division, as Java's.
    pub fn avg_latency_ms(&self) -> i64 {
        if self.count == 0 {
            0
        } else {
            self.total_latency_ms / self.count as i64
        }
    }
}

/// One connection as `cons`/`stat` print it (`ServerCnxn.dumpConnectionInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnView {
    pub peer: SocketAddr,
    /// Java's selection-key interest ops: 1 (read) for a connection being served, 0 for
    /// the connection running the four-letter word (its key is cancelled).
    pub interest_ops: u32,
    /// 0 = no session (the sid/lop/... fields are left out, as in Java).
    pub session_id: i64,
    pub timeout_ms: i32,
    pub received: u64,
    pub sent: u64,
    /// Requests received and not answered yet (Java's getOutstandingRequests: `cons`'s
    /// `queued=`).
    pub queued: u64,
    pub connected_at: i64,
    pub stats: ConnStats,
}

impl ConnView {
    /// The connection that sent the word: Java counts the word as one received packet
    /// (`packetReceived(4)` before the command runs) and nothing sent yet.
    pub fn asking(peer: SocketAddr) -> ConnView {
        ConnView {
            peer,
            interest_ops: 0,
            session_id: 0,
            timeout_ms: 0,
            received: 1,
            sent: 0,
            queued: 0,
            connected_at: 0,
            stats: ConnStats::default(),
        }
    }
}

/// What srvr prints (and stat and mntr start from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSummary {
    pub stats: Stats,
    pub last_zxid: i64,
    pub node_count: usize,
    /// Connections with a session; the asking connection is added when rendering.
    pub connections: usize,
    /// `standalone`, `leader`, `follower` or `observer`.
    pub mode: &'static str,
    /// Requests handed to the core and not answered yet (Java's outstanding requests).
    pub outstanding_requests: usize,
}

/// The data-watch table's totals (wchs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchTotals {
    pub connections: usize,
    pub paths: usize,
    pub total: usize,
}

/// What dump prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpView {
    pub session_count: usize,
    /// Expiry time → session ids.
    pub session_buckets: Vec<(i64, Vec<i64>)>,
    /// Session id → its ephemeral paths.
    pub ephemerals: Vec<(i64, Vec<String>)>,
}

/// What mntr prints from the core (counts only; fd counts come from the connection task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorView {
    pub summary: ServerSummary,
    pub uptime_ms: u64,
    /// Data + child watches (zk_watch_count).
    pub watch_count: usize,
    pub ephemerals_count: usize,
    pub approximate_data_size: u64,
    pub global_sessions: usize,
    /// Sessions only this member knows (`localSessionsEnabled`, read-only mode).
    pub local_sessions: usize,
    /// fsyncs slower than fsync.warningthresholdms.
    pub fsync_threshold_exceed_count: u64,
    /// The ensemble keys (none standalone).
    pub quorum: Option<QuorumStatus>,
}

/// What mntr prints about the ensemble (`QuorumPeer`/`Leader` metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumStatus {
    /// `leading - broadcast`, `following - broadcast`, `observing - broadcast`.
    pub peer_state: String,
    /// Voting members in the configuration.
    pub quorum_size: usize,
    /// The leader's server id (this member's own when it leads).
    pub leader_id: i64,
    pub leader: Option<LeaderStatus>,
}

/// The leader's own mntr keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderStatus {
    pub learners: usize,
    pub synced_followers: usize,
    pub synced_observers: usize,
    pub pending_syncs: usize,
    pub leader_uptime_ms: u64,
    /// (last, min, max) proposal sizes in bytes, -1 before the first.
    pub proposal_sizes: (i64, i64, i64),
}

/// A question for the core: one per word that needs the core's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// srvr
    Server,
    /// stat: the summary and every connection.
    ServerAndConns,
    /// cons
    Conns,
    /// wchs
    WatchTotals,
    /// wchc: data-watch paths per session.
    WatchesBySession,
    /// wchp: sessions per data-watch path.
    SessionsByPath,
    /// dump
    Dump,
    /// mntr
    Monitor,
    /// hash: the digest log.
    Digest,
    /// srst: zero the server's counters (`ServerStats.reset`).
    ResetServerStats,
    /// crst: zero every connection's counters (`ServerCnxn.resetStats`).
    ResetConnStats,
}

/// The core's answer to a `Query` (the variant of the same name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Server(ServerSummary),
    ServerAndConns(ServerSummary, Vec<ConnView>),
    Conns(Vec<ConnView>),
    WatchTotals(WatchTotals),
    WatchesBySession(Vec<(i64, Vec<String>)>),
    SessionsByPath(Vec<(String, Vec<i64>)>),
    Dump(DumpView),
    Monitor(MonitorView),
    /// The digest log: (zxid, tree digest) at every zxid divisible by 128, the newest
    /// 1024 (DataTree.DIGEST_LOG_INTERVAL / DIGEST_LOG_LIMIT).
    Digest(Vec<(i64, i64)>),
    /// A reset was done.
    Done,
}

/// The configuration `conf` and `dirs` print (built by the server from its settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfView {
    pub client_port: u16,
    /// None = in-memory (tests only).
    pub data_dir: Option<PathBuf>,
    pub data_log_dir: Option<PathBuf>,
    pub tick_ms: i32,
    pub max_client_cnxns: usize,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
}
