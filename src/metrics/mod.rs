//! The Prometheus metrics registry: what `/metrics` serves, in the names, types, label
//! sets and text format (0.0.4, as simpleclient 0.9.0 writes it) of Java's
//! `PrometheusMetricsProvider`, so dashboards and alert rules written for Java nodes work
//! unchanged.
//!
//! Owns: the catalog of every metric family Java 3.9.5 registers (`catalog::FAMILIES`:
//! `ServerMetrics`' counters, summaries and sets), the counters and summaries ferrokeeper
//! measures (`static`s here, updated with relaxed atomics by whoever observes the event:
//! the core, the persister thread, connection tasks, the election), and the rendering of
//! one scrape (`render`) from those plus the gauges the scraper gathers (the core's
//! `mntr` view, `/proc`).
//! Must never: lock, allocate or read a clock on an observation (an observation is a few
//! relaxed `fetch_add`s on fixed arrays), hold references into the core's state, or grow
//! with client input (no label values from paths or sessions: the label sets are fixed,
//! so a scrape's size is bounded by the catalog).
//!
//! Summaries: Java's are sliding-window quantile estimates over the last 10 minutes (5
//! age buckets of 2 minutes) of 0.5 (BASIC) or 0.5/0.9/0.99 (ADVANCED), with an
//! all-time `_count` and `_sum`. Ours keep the observations of each 2-minute age bucket
//! in a log-linear histogram (exact below 16, then 8 buckets per power of two: a
//! quantile is off by at most 1/16 of its value) and rotate the age buckets from a
//! ticker task (`rotate_all`), so an observation never reads the clock.

pub mod catalog;
pub mod dump;
pub mod keyed;
pub mod process;
pub mod render;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A monotonically increasing count (Java's `Counter`).
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// `srst` under Java's default metrics provider (`resetAllValues`).
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

impl Default for Counter {
    fn default() -> Self {
        Counter::new()
    }
}

/// Add for a single writer: relaxed load + store (see `Summary::observe`).
#[inline]
fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Values below this have a bucket each.
const EXACT: u64 = 16;
/// Buckets per power of two above `EXACT`.
const SUB: u32 = 8;
/// The largest power of two with its own buckets (larger values share the top bucket).
const MAX_EXP: u32 = 40;
const BUCKETS: usize = EXACT as usize + ((MAX_EXP - 4 + 1) * SUB) as usize;
/// Age buckets (simpleclient's default `ageBuckets`).
const AGES: usize = 5;
/// One age bucket's span (simpleclient's default `maxAgeSeconds` 600 / 5).
pub const AGE_SECONDS: u64 = 120;

fn bucket_of(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let e = (63 - v.leading_zeros()).min(MAX_EXP);
    if e == MAX_EXP && v >= (1u64 << (MAX_EXP + 1)) {
        return BUCKETS - 1;
    }
    let sub = ((v >> (e - 3)) & (SUB as u64 - 1)) as usize;
    EXACT as usize + ((e - 4) * SUB) as usize + sub
}

/// The value a bucket stands for: itself below `EXACT`, else the middle of its range.
fn bucket_value(b: usize) -> f64 {
    if b < EXACT as usize {
        return b as f64;
    }
    let i = b - EXACT as usize;
    let e = 4 + (i as u32) / SUB;
    let sub = (i as u32 % SUB) as u64;
    let width = 1u64 << (e - 3);
    let low = (1u64 << e) + sub * width;
    low as f64 + (width as f64 - 1.0) / 2.0
}

/// A summary of `long` observations (Java's `Summary.add(long)`), see the module doc.
pub struct Summary {
    count: AtomicU64,
    sum: AtomicU64,
    /// The least and greatest observation since the start or `reset` (mntr's `min_`/`max_`,
    /// Java's AvgMinMaxCounter); `u64::MAX` / 0 before the first.
    min: AtomicU64,
    max: AtomicU64,
    current: AtomicUsize,
    ages: [[AtomicU64; BUCKETS]; AGES],
}

impl Summary {
    pub const fn new() -> Summary {
        Summary {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            current: AtomicUsize::new(0),
            ages: [const { [const { AtomicU64::new(0) }; BUCKETS] }; AGES],
        }
    }

    /// One observation (negative values count as 0, as they cannot occur in Java's).
    ///
    /// Each summary has one writer at a time (the core, the persister thread, the
    /// snapshot thread, the election loop), so an observation is plain loads and stores,
    /// no locked read-modify-write: the core's request path pays a few `mov`s. Were two
    /// threads to observe at once, an observation could be lost, nothing worse.
    #[inline]
    pub fn observe(&self, v: i64) {
        let v = v.max(0) as u64;
        bump(&self.count, 1);
        bump(&self.sum, v);
        if v < self.min.load(Ordering::Relaxed) {
            self.min.store(v, Ordering::Relaxed);
        }
        if v > self.max.load(Ordering::Relaxed) {
            self.max.store(v, Ordering::Relaxed);
        }
        let age = self.current.load(Ordering::Relaxed) % AGES;
        bump(&self.ages[age][bucket_of(v)], 1);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn sum(&self) -> u64 {
        self.sum.load(Ordering::Relaxed)
    }

    /// The least observation since the start or `reset` (None before the first).
    pub fn min(&self) -> Option<u64> {
        Some(self.min.load(Ordering::Relaxed)).filter(|_| self.count() > 0)
    }

    /// The greatest observation since the start or `reset` (None before the first).
    pub fn max(&self) -> Option<u64> {
        Some(self.max.load(Ordering::Relaxed)).filter(|_| self.count() > 0)
    }

    /// Forget every observation (`srst` under Java's default metrics provider).
    pub fn reset(&self) {
        for age in &self.ages {
            for b in age {
                b.store(0, Ordering::Relaxed);
            }
        }
        self.count.store(0, Ordering::Relaxed);
        self.sum.store(0, Ordering::Relaxed);
        self.min.store(u64::MAX, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
    }

    /// Start a new age bucket, dropping the oldest one's observations.
    pub fn rotate(&self) {
        let next = (self.current.load(Ordering::Relaxed) + 1) % AGES;
        for b in &self.ages[next] {
            b.store(0, Ordering::Relaxed);
        }
        self.current.store(next, Ordering::Relaxed);
    }

    /// The `q` quantiles of the observations in the window (NaN when there are none, as
    /// simpleclient's).
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [f64; N] {
        self.quantiles_with_zeros(qs, 0)
    }

    /// The quantiles with `zeros` more observations of 0 in the window.
    pub fn quantiles_with_zeros<const N: usize>(&self, qs: [f64; N], zeros: u64) -> [f64; N] {
        let mut hist = [0u64; BUCKETS];
        hist[0] = zeros;
        for age in &self.ages {
            for (h, b) in hist.iter_mut().zip(age.iter()) {
                *h += b.load(Ordering::Relaxed);
            }
        }
        let total: u64 = hist.iter().sum();
        let mut out = [f64::NAN; N];
        if total == 0 {
            return out;
        }
        for (o, q) in out.iter_mut().zip(qs) {
            // The smallest value with at least q of the observations at or below it.
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (b, n) in hist.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    *o = bucket_value(b);
                    break;
                }
            }
        }
        out
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new()
    }
}

// ---- what ferrokeeper measures (Java's ServerMetrics names) ----

/// Time to fsync the transaction log (ms).
pub static FSYNC_TIME: Summary = Summary::new();
/// Transactions written per log flush (group commit size).
pub static SYNC_PROCESSOR_BATCH_SIZE: Summary = Summary::new();
/// Write request latency, received to answered (ms).
pub static UPDATE_LATENCY: Summary = Summary::new();
/// Read request latency (ms).
pub static READ_LATENCY: Summary = Summary::new();
/// LOOKING to a decided vote (ms).
pub static ELECTION_TIME: Summary = Summary::new();
/// Writing a snapshot (ms).
pub static SNAPSHOT_TIME: Summary = Summary::new();
/// Loading the database at start: snapshot + log replay (ms).
pub static DB_INIT_TIME: Summary = Summary::new();
/// Proposals a leader made.
pub static PROPOSAL_COUNT: Counter = Counter::new();
/// Commits applied by this member (leader: committed; learner: COMMITs received).
pub static COMMIT_COUNT: Counter = Counter::new();
/// Learners synced by SNAP / by DIFF (leader side).
pub static SNAP_COUNT: Counter = Counter::new();
pub static DIFF_COUNT: Counter = Counter::new();
/// Times this member went LOOKING.
pub static LOOKING_COUNT: Counter = Counter::new();
/// PROPOSALs / COMMITs a learner received.
pub static LEARNER_PROPOSAL_RECEIVED_COUNT: Counter = Counter::new();
pub static LEARNER_COMMIT_RECEIVED_COUNT: Counter = Counter::new();
/// Client connection requests (session handshakes) received.
pub static CONNECTION_REQUEST_COUNT: Counter = Counter::new();
/// Connections refused (maxClientCnxns / maxCnxns / the connection throttle).
pub static CONNECTION_REJECTED: Counter = Counter::new();
/// The connection throttle's deficit (tokens taken, not refilled) at each admitted
/// ConnectRequest (only while the throttle is on, as Java).
pub static CONNECTION_TOKEN_DEFICIT: Summary = Summary::new();
/// Snapshots that failed to be written (the AdminServer's `snapshot` too).
pub static SNAPSHOT_ERROR_COUNT: Counter = Counter::new();
/// Client connections that ended by the client closing its socket (a read at EOF), as
/// Java's NIOServerCnxn.handleFailedRead counts them: not after a closeSession.
pub static CONNECTION_DROP_COUNT: Counter = Counter::new();
/// Answers the core had for a connection that had gone away meanwhile.
pub static STALE_REPLIES: Counter = Counter::new();
/// Client connections accepted without TLS, from a loopback address or not, counted only
/// under `serverCnxnFactory=...NettyServerCnxnFactory` as Java's Netty factory counts
/// them (its NIO factory never does); exported as gauges, never reset (Java's ServerStats
/// fields, reset only over JMX).
pub static NON_MTLS_LOCAL_CONN_COUNT: Counter = Counter::new();
pub static NON_MTLS_REMOTE_CONN_COUNT: Counter = Counter::new();
/// Connections closed for a large request that would pass largeRequestMaxBytes
/// (`server::large_requests`).
pub static LARGE_REQUESTS_REJECTED: Counter = Counter::new();
/// Sessions (global or local) the session tracker expired.
pub static STALE_SESSIONS_EXPIRED: Counter = Counter::new();
/// Tree digests that disagreed with a txn's or a snapshot's (`server::digest_mismatch`).
pub static DIGEST_MISMATCHES_COUNT: Counter = Counter::new();
/// Wall-clock ms from the leader's txn time (its TxnHeader) to: a follower logging the
/// PROPOSAL (`proposal_latency`), the leader's quorum of ACKs (`quorum_ack_latency`), a
/// learner applying the COMMIT / INFORM (`commit_propagation_latency`); negative values
/// (clock skew between members) are dropped, as Java drops them. Not during a learner's
/// sync with its leader.
pub static PROPOSAL_LATENCY: Summary = Summary::new();
pub static QUORUM_ACK_LATENCY: Summary = Summary::new();
pub static COMMIT_PROPAGATION_LATENCY: Summary = Summary::new();
/// Recovery at startup: the snapshot's load time (ms), the txns replayed after it and
/// their replay time (ms; both only when there were txns to replay, as Java).
pub static STARTUP_SNAP_LOAD_TIME: Summary = Summary::new();
pub static STARTUP_TXNS_LOADED: Summary = Summary::new();
pub static STARTUP_TXNS_LOAD_TIME: Summary = Summary::new();
/// Watchers one table fired for one event, by event type (Java's WatchManager.triggerWatch;
/// a NodeDeleted fires the data table, then the child table).
pub static NODE_CREATED_WATCH_COUNT: Summary = Summary::new();
pub static NODE_DELETED_WATCH_COUNT: Summary = Summary::new();
pub static NODE_CHANGED_WATCH_COUNT: Summary = Summary::new();
pub static NODE_CHILDREN_WATCH_COUNT: Summary = Summary::new();
/// Bytes of the notifications sent to clients (each frame's length, as Java's
/// `sendResponse` returns it).
pub static WATCH_BYTES: Counter = Counter::new();
/// Plain HTTP connections on a port-unified AdminServer (UnifiedConnectionFactory).
pub static INSECURE_ADMIN_COUNT: Counter = Counter::new();
/// AdminServer `snapshot` / `restore` requests refused by their rate limiter.
pub static SNAPSHOT_RATE_LIMITED_COUNT: Counter = Counter::new();
pub static RESTORE_RATE_LIMITED_COUNT: Counter = Counter::new();
/// AdminServer `restore` requests that failed, and how long the others took (ms).
pub static RESTORE_ERROR_COUNT: Counter = Counter::new();
pub static RESTORE_TIME: Summary = Summary::new();
/// A follower's / observer's sync with its leader, ACKEPOCH sent to UPTODATE (ms).
pub static FOLLOWER_SYNC_TIME: Summary = Summary::new();
pub static OBSERVER_SYNC_TIME: Summary = Summary::new();
/// Bytes read from client connections (ServerCnxn.packetReceived; counted per read).
pub static BYTES_RECEIVED_COUNT: ShardedCounter = ShardedCounter::new();
/// Packets still queued to a learner each time the leader's writer takes one (keyed by
/// the learner's server id; LearnerHandler.sendPackets).
pub static LEARNER_HANDLER_QP_SIZE: keyed::SummarySet = keyed::SummarySet::new();
/// How long a timing marker waited in a learner's queue, ms (keyed by the learner's
/// server id; LearnerHandler's MarkerQuorumPacket, one per 1000 packets).
pub static LEARNER_HANDLER_QP_TIME: keyed::SummarySet = keyed::SummarySet::new();

/// Bytes of the answers to client requests (each frame's length without its prefix, as
/// Java's FinalRequestProcessor adds to RESPONSE_BYTES: pings and errors included,
/// notifications not).
pub static RESPONSE_BYTES: ShardedCounter = ShardedCounter::new();
/// Sizes of what is sent to clients (answers and notifications): ServerStats'
/// clientResponseStats (`last/min/max_client_response_size`, `srvr`'s
/// client_response_stats).
pub static CLIENT_RESPONSE: BufferStats = BufferStats::new();

/// A frame of `size` bytes (without its length prefix) answered a client's request.
#[inline]
pub fn client_answered(size: usize) {
    RESPONSE_BYTES.add(size as u64);
    CLIENT_RESPONSE.observe(size as i64);
}

/// Java's BufferStats: the last, smallest and largest size seen (-1 before any). Each in
/// its own cache line, written only when it changes, so the many threads that observe
/// mostly read.
pub struct BufferStats {
    last: Shard,
    min: Shard,
    max: Shard,
}

impl BufferStats {
    pub const fn new() -> BufferStats {
        BufferStats {
            last: Shard(AtomicU64::new(u64::MAX)),
            min: Shard(AtomicU64::new(u64::MAX)),
            max: Shard(AtomicU64::new(u64::MAX)),
        }
    }

    #[inline]
    pub fn observe(&self, size: i64) {
        let v = size.max(0) as u64;
        if self.last.0.load(Ordering::Relaxed) != v {
            self.last.0.store(v, Ordering::Relaxed);
        }
        // u64::MAX is "none yet": the smallest always takes the first size.
        if v < self.min.0.load(Ordering::Relaxed) {
            self.min.0.fetch_min(v, Ordering::Relaxed);
        }
        let max = self.max.0.load(Ordering::Relaxed);
        if max == u64::MAX || v > max {
            let _ = self
                .max
                .0
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                    (m == u64::MAX || v > m).then_some(v)
                });
        }
    }

    /// (last, min, max), -1 each before any size.
    pub fn get(&self) -> (i64, i64, i64) {
        let f = |s: &Shard| match s.0.load(Ordering::Relaxed) {
            u64::MAX => -1,
            v => v as i64,
        };
        (f(&self.last), f(&self.min), f(&self.max))
    }

    /// `srst` (BufferStats.reset).
    pub fn reset(&self) {
        for s in [&self.last, &self.min, &self.max] {
            s.0.store(u64::MAX, Ordering::Relaxed);
        }
    }
}

impl Default for BufferStats {
    fn default() -> Self {
        BufferStats::new()
    }
}

/// A count many threads add to: one cache line per shard, a thread adds to its own
/// shard (assigned round-robin on its first add), so adding never contends.
pub struct ShardedCounter {
    shards: [Shard; SHARDS],
}

const SHARDS: usize = 32;

#[repr(align(128))]
struct Shard(AtomicU64);

thread_local! {
    static MY_SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

impl ShardedCounter {
    pub const fn new() -> ShardedCounter {
        ShardedCounter {
            shards: [const { Shard(AtomicU64::new(0)) }; SHARDS],
        }
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    #[inline]
    pub fn add(&self, n: u64) {
        let i = MY_SHARD.with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                i = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
                s.set(i);
            }
            i
        });
        self.shards[i].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }

    /// Back to 0 (`srst` under the default provider; an add racing it may survive).
    pub fn reset(&self) {
        for s in &self.shards {
            s.0.store(0, Ordering::Relaxed);
        }
    }
}

impl Default for ShardedCounter {
    fn default() -> Self {
        ShardedCounter::new()
    }
}

/// Reads a connection task served itself (local_read.rs): each is a `readlatency`
/// observation of 0 ms (answered as it is read), counted per thread here instead of in
/// `READ_LATENCY` so the read path touches no shared cache line; `render` adds them in.
pub static LOCAL_READS: ShardedCounter = ShardedCounter::new();
/// `LOCAL_READS` when each of `READ_LATENCY`'s age buckets started (for its window).
static LOCAL_READS_AT_AGE: [AtomicU64; AGES] = [const { AtomicU64::new(0) }; AGES];

/// `readlatency`: (count, sum, quantiles) with the local reads in.
pub fn read_latency<const N: usize>(qs: [f64; N]) -> (u64, u64, [f64; N]) {
    let local = LOCAL_READS.get();
    let oldest = (READ_LATENCY.current.load(Ordering::Relaxed) + 1) % AGES;
    let in_window = local.saturating_sub(LOCAL_READS_AT_AGE[oldest].load(Ordering::Relaxed));
    (
        READ_LATENCY.count() + local,
        READ_LATENCY.sum(),
        READ_LATENCY.quantiles_with_zeros(qs, in_window),
    )
}

/// Measured counters by Java name (the rest of the catalog's counters stay 0).
pub fn measured_counter(name: &str) -> Option<&'static Counter> {
    Some(match name {
        "proposal_count" => &PROPOSAL_COUNT,
        "commit_count" => &COMMIT_COUNT,
        "snap_count" => &SNAP_COUNT,
        "diff_count" => &DIFF_COUNT,
        "looking_count" => &LOOKING_COUNT,
        "learner_proposal_received_count" => &LEARNER_PROPOSAL_RECEIVED_COUNT,
        "learner_commit_received_count" => &LEARNER_COMMIT_RECEIVED_COUNT,
        "connection_request_count" => &CONNECTION_REQUEST_COUNT,
        "connection_rejected" => &CONNECTION_REJECTED,
        "snapshot_error_count" => &SNAPSHOT_ERROR_COUNT,
        "digest_mismatches_count" => &DIGEST_MISMATCHES_COUNT,
        "connection_drop_count" => &CONNECTION_DROP_COUNT,
        "stale_sessions_expired" => &STALE_SESSIONS_EXPIRED,
        "stale_replies" => &STALE_REPLIES,
        "large_requests_rejected" => &LARGE_REQUESTS_REJECTED,
        "snapshot_rate_limited_count" => &SNAPSHOT_RATE_LIMITED_COUNT,
        "insecure_admin_count" => &INSECURE_ADMIN_COUNT,
        "watch_bytes" => &WATCH_BYTES,
        "restore_rate_limited_count" => &RESTORE_RATE_LIMITED_COUNT,
        "restore_error_count" => &RESTORE_ERROR_COUNT,
        _ => return None,
    })
}

/// Measured summaries by Java name (the rest of the catalog's summaries stay empty).
pub fn measured_summary(name: &str) -> Option<&'static Summary> {
    Some(match name {
        "fsynctime" => &FSYNC_TIME,
        "sync_processor_batch_size" => &SYNC_PROCESSOR_BATCH_SIZE,
        "updatelatency" => &UPDATE_LATENCY,
        "readlatency" => &READ_LATENCY,
        "election_time" => &ELECTION_TIME,
        "snapshottime" => &SNAPSHOT_TIME,
        "restore_time" => &RESTORE_TIME,
        "proposal_latency" => &PROPOSAL_LATENCY,
        "node_created_watch_count" => &NODE_CREATED_WATCH_COUNT,
        "node_deleted_watch_count" => &NODE_DELETED_WATCH_COUNT,
        "node_changed_watch_count" => &NODE_CHANGED_WATCH_COUNT,
        "node_children_watch_count" => &NODE_CHILDREN_WATCH_COUNT,
        "quorum_ack_latency" => &QUORUM_ACK_LATENCY,
        "commit_propagation_latency" => &COMMIT_PROPAGATION_LATENCY,
        "startup_snap_load_time" => &STARTUP_SNAP_LOAD_TIME,
        "startup_txns_loaded" => &STARTUP_TXNS_LOADED,
        "startup_txns_load_time" => &STARTUP_TXNS_LOAD_TIME,
        "dbinittime" => &DB_INIT_TIME,
        "connection_token_deficit" => &CONNECTION_TOKEN_DEFICIT,
        "follower_sync_time" => &FOLLOWER_SYNC_TIME,
        "observer_sync_time" => &OBSERVER_SYNC_TIME,
        _ => return None,
    })
}

/// Measured summary sets by Java name (the rest of the catalog's sets have no samples).
pub fn measured_summary_set(name: &str) -> Option<&'static keyed::SummarySet> {
    match name {
        "learner_handler_qp_size" => Some(&LEARNER_HANDLER_QP_SIZE),
        "learner_handler_qp_time_ms" => Some(&LEARNER_HANDLER_QP_TIME),
        _ => None,
    }
}

/// Start a new age bucket in every measured summary (every `AGE_SECONDS`, from the
/// `/metrics` server's ticker).
pub fn rotate_all() {
    LEARNER_HANDLER_QP_SIZE.rotate();
    LEARNER_HANDLER_QP_TIME.rotate();
    for f in catalog::FAMILIES {
        if let Some(s) = measured_summary(f.0) {
            s.rotate();
        }
    }
    let cur = READ_LATENCY.current.load(Ordering::Relaxed) % AGES;
    LOCAL_READS_AT_AGE[cur].store(LOCAL_READS.get(), Ordering::Relaxed);
}

#[cfg(test)]
mod tests;
