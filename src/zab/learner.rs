//! The learner side of Java's Leader/Learner protocol (a follower or an observer), as a
//! sans-I/O state machine: `Learner.registerWithLeader` + `syncWithLeader` (3.9, with
//! ZOOKEEPER-3911/4394/4646/4643), `Follower.processPacket`, `Observer.processPacket`,
//! and the commit matching of `FollowerZooKeeperServer` / `ObserverZooKeeperServer`.
//!
//! Owns: what a learner says to its leader and when, from the moment the shell has a TCP
//! connection to the leader's quorum port until it gives up on it: discovery
//! (FOLLOWERINFO/OBSERVERINFO, LEADERINFO, ACKEPOCH), synchronisation (DIFF / TRUNC /
//! SNAP, proposals and commits during sync, NEWLEADER, UPTODATE), broadcast (PROPOSAL →
//! log → ACK once durable, COMMIT in order, INFORM, PING, SYNC, REVALIDATE) and the
//! leader-silence timeout. It keeps the proposals it has not seen committed (bounded)
//! and hands every effect to the shell as an ordered list of `LearnerAction`s.
//! Must never: touch sockets, files, threads or clocks (time comes in as `now_ms`), apply
//! a txn itself, or panic on what a peer sends (a bad packet is a `GiveUp`).
//!
//! The shell's contract:
//! * After every call, `take_actions()` and carry them out **in order**; a `Persist*`,
//!   `Truncate` or `TakeSnapshot` must be done before the actions after it (Java does
//!   them synchronously, before the packet that follows them is written).
//! * `Log` appends an entry to the txn log; report durability with `logged(zxid)`,
//!   meaning "every `Log` this learner emitted with a zxid ≤ `zxid` is durable".
//! * `Commit` applies the txn it carries to the tree, in the order given (it may run
//!   ahead of the log's fsync, as Java's CommitProcessor does; during a SNAP/TRUNC sync
//!   some commits are applied without a `Log`: the snapshot taken at NEWLEADER holds them).
//! * `ReadSnapshot`: the SNAP body follows the SNAP packet on the stream; the shell reads
//!   it (e.g. with `zab::snap::SnapDecoder`), replaces its tree and sessions, calls
//!   `snapshot_loaded(zxid)`, and only then decodes further packets. `Truncate`: truncate
//!   the log after `zxid` and reload the tree from disk (Java's `truncateLog`); failing
//!   that is fatal for the process, as in Java. `TakeSnapshot`: write (and fsync) a
//!   snapshot of the tree as applied so far, then `snapshot_taken(zxid)`.
//! * `PingReply{zxid}`: send `ping_reply_packet(zxid, touches)` with the sessions its
//!   clients touched since the last reply (possibly none).
//! * `GiveUp`: close the connection and go back to leader election; the learner is dead.

use super::packet::{
    ForwardedRequest, LearnerInfo, PROTOCOL_VERSION, QuorumPacket, decode_i32,
    decode_revalidate_reply, encode_i32, encode_revalidate_request, encode_touches, kind,
};
use super::zxid;
use crate::jute::records::Id;
use crate::txn::Txn;
use crate::txn::codec::decode_txn;
use bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};

/// `OpCode.sync`: a forwarded sync is answered by a SYNC packet.
const OP_SYNC: i32 = 9;

/// Default bound on proposals held (received and not yet committed, or logged and not
/// yet acknowledged), on packets held while NEWLEADER's ACK waits for the disk.
pub const DEFAULT_MAX_PENDING: usize = 1 << 18;
/// Default bound on revalidations awaiting the leader's answer.
pub const DEFAULT_MAX_REVALIDATIONS: usize = 1 << 16;

/// What the learner needs to know about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerConfig {
    pub my_sid: i64,
    pub is_observer: bool,
    pub tick_ms: i64,
    /// Ticks the leader may stay silent until NEWLEADER (Java's socket timeout
    /// `tickTime * initLimit` during discovery and sync).
    pub init_limit: i64,
    /// Ticks the leader may stay silent from NEWLEADER on (`tickTime * syncLimit`).
    pub sync_limit: i64,
    /// The version of our quorum config (LearnerInfo's configVersion).
    pub config_version: i64,
    pub max_pending: usize,
    pub max_revalidations: usize,
}

impl LearnerConfig {
    pub fn new(
        my_sid: i64,
        is_observer: bool,
        tick_ms: i64,
        init_limit: i64,
        sync_limit: i64,
        config_version: i64,
    ) -> LearnerConfig {
        LearnerConfig {
            my_sid,
            is_observer,
            tick_ms,
            init_limit,
            sync_limit,
            config_version,
            max_pending: DEFAULT_MAX_PENDING,
            max_revalidations: DEFAULT_MAX_REVALIDATIONS,
        }
    }
}

/// Why the learner stopped following this leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveUpReason {
    /// LEADERINFO's epoch is below the epoch we already accepted.
    LeaderEpochBehind {
        leader_epoch: i64,
        accepted_epoch: i64,
    },
    /// A packet that has no place in the current phase.
    Unexpected { phase: &'static str, kind: i32 },
    /// A payload that does not decode (txn, LEADERINFO, REVALIDATE...).
    Malformed(String),
    /// A proposal during sync skipped zxids within one epoch (`enforceContinuousProposal`),
    /// or a proposal's zxid did not increase.
    ProposalGap { zxid: i64, last: i64 },
    /// A COMMIT for something other than the oldest uncommitted proposal.
    CommitOutOfOrder { zxid: i64, expected: Option<i64> },
    /// Nothing from the leader for the allowed time.
    LeaderSilent { silent_ms: i64, limit_ms: i64 },
    /// More proposals held than `max_pending`.
    TooManyPending(usize),
    /// COMMITANDACTIVATE / INFORMANDACTIVATE: dynamic reconfig is not supported.
    ReconfigUnsupported(i32),
    /// The shell reported something the learner did not ask for.
    Shell(String),
}

impl std::fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use GiveUpReason::*;
        match self {
            LeaderEpochBehind {
                leader_epoch,
                accepted_epoch,
            } => write!(
                f,
                "Leaders epoch, {leader_epoch} is less than accepted epoch, {accepted_epoch}"
            ),
            Unexpected { phase, kind: k } => {
                write!(f, "unexpected {} ({k}) while {phase}", kind::name(*k))
            }
            Malformed(m) => write!(f, "malformed packet from the leader: {m}"),
            ProposalGap { zxid: z, last } => write!(
                f,
                "proposal 0x{} does not follow 0x{}",
                zxid::to_hex(*z),
                zxid::to_hex(*last)
            ),
            CommitOutOfOrder { zxid: z, expected } => match expected {
                Some(e) => write!(
                    f,
                    "Committing zxid 0x{} but next pending txn 0x{}",
                    zxid::to_hex(*z),
                    zxid::to_hex(*e)
                ),
                None => write!(
                    f,
                    "Committing zxid 0x{} without seeing txn",
                    zxid::to_hex(*z)
                ),
            },
            LeaderSilent {
                silent_ms,
                limit_ms,
            } => write!(
                f,
                "no packet from the leader for {silent_ms} ms (limit {limit_ms} ms)"
            ),
            TooManyPending(n) => write!(f, "more than {n} proposals pending"),
            ReconfigUnsupported(k) => {
                write!(f, "{} received: reconfig is not supported", kind::name(*k))
            }
            Shell(m) => write!(f, "shell protocol error: {m}"),
        }
    }
}

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnerAction {
    /// Write this packet to the leader.
    Send(QuorumPacket),
    /// Durably record acceptedEpoch (before anything after this action).
    PersistAcceptedEpoch(i64),
    /// Durably record currentEpoch (before anything after this action).
    PersistCurrentEpoch(i64),
    /// Read the SNAP body that follows on the stream, then `snapshot_loaded(zxid)`.
    ReadSnapshot { zxid: i64 },
    /// Truncate the txn log after `zxid` and reload the tree from disk.
    Truncate { zxid: i64 },
    /// Append this txn-log entry (the PROPOSAL/INFORM data as received).
    Log { zxid: i64, entry: Bytes },
    /// Apply this txn to the tree (in this order).
    Commit { zxid: i64, txn: Box<Txn> },
    /// Write a snapshot of the tree as applied so far (named `zxid`), then
    /// `snapshot_taken(zxid)`.
    TakeSnapshot { zxid: i64 },
    /// Synced: serve clients in this epoch (and update the election vote).
    StartServing { epoch: i64 },
    /// Answer the leader's PING: `ping_reply_packet(zxid, touches)`.
    PingReply { zxid: i64 },
    /// The leader answered the oldest pending forwarded sync.
    SyncDone,
    /// The leader's answer to `revalidate(session, ..)`.
    Revalidated { session: i64, valid: bool },
    /// Stop following: close the connection, back to election.
    GiveUp(GiveUpReason),
}

/// The packet answering a leader's PING: same zxid, the touched sessions (an empty
/// buffer, not null, when there are none, as Java sends it).
pub fn ping_reply_packet(zxid: i64, touches: &[(i64, i32)]) -> QuorumPacket {
    QuorumPacket::with_data(kind::PING, zxid, encode_touches(touches))
}

/// Why a call the shell originates was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LearnerError {
    #[error("not serving yet (the leader has not sent UPTODATE)")]
    NotServing,
    #[error("the learner gave up on this leader")]
    Stopped,
    #[error("too many revalidations pending ({0})")]
    TooManyRevalidations(usize),
}

/// How the leader is syncing us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    Diff,
    Snap,
    Trunc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Connected, `start()` not called yet.
    Connected,
    AwaitLeaderInfo,
    /// ACKEPOCH sent; the next packet must be DIFF, TRUNC or SNAP.
    AwaitSyncMode,
    /// SNAP received; the shell is reading its body.
    AwaitSnapshot {
        zxid: i64,
    },
    /// Collecting proposals/commits until NEWLEADER.
    Syncing,
    /// NEWLEADER received; its ACK waits for the log (and snapshot) to be durable.
    AwaitDurable,
    /// NEWLEADER acknowledged; waiting for UPTODATE.
    AwaitUpToDate,
    Serving,
    Stopped,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Connected => "connected",
            Phase::AwaitLeaderInfo => "waiting for LEADERINFO",
            Phase::AwaitSyncMode => "waiting for DIFF/TRUNC/SNAP",
            Phase::AwaitSnapshot { .. } => "reading the SNAP body",
            Phase::Syncing => "syncing",
            Phase::AwaitDurable => "making the sync durable",
            Phase::AwaitUpToDate => "waiting for UPTODATE",
            Phase::Serving => "serving",
            Phase::Stopped => "stopped",
        }
    }
}

/// A proposal received and not yet committed.
#[derive(Debug)]
struct Proposal {
    zxid: i64,
    txn: Txn,
    /// The entry bytes while not yet logged (None once a `Log` was emitted).
    entry: Option<Bytes>,
}

/// See the module comment.
#[derive(Debug)]
pub struct Learner {
    cfg: LearnerConfig,
    phase: Phase,
    accepted_epoch: i64,
    current_epoch: i64,
    last_logged_zxid: i64,
    new_epoch: i64,
    new_leader_zxid: i64,
    mode: SyncMode,
    last_heard: i64,
    /// `enforceContinuousProposal`'s lastQueued during sync (0: none yet).
    last_queued: i64,
    /// Highest zxid given to a `Log` action.
    last_log: i64,
    /// Highest zxid the shell reported durable.
    durable: i64,
    /// Highest zxid given to a `Commit` action (or loaded by SNAP/TRUNC).
    applied: i64,
    /// The zxid of the SNAP this sync loaded, if any (see `in_snapshot`).
    snap_zxid: Option<i64>,
    /// Java's packetsNotLogged (before NEWLEADER) and then the uncommitted proposals.
    pending: VecDeque<Proposal>,
    /// Java's packetsCommitted: COMMITs of a DIFF sync, applied at NEWLEADER.
    committed_in_sync: VecDeque<i64>,
    /// Logged proposals to ACK once durable and serving (followers only).
    to_ack: VecDeque<i64>,
    /// What NEWLEADER's ACK waits for: the log through `log_through`, a snapshot.
    wait_log: i64,
    wait_snapshot: Option<i64>,
    /// The tree holds what the disk does not: a SNAP body, or commits of a SNAP/TRUNC
    /// sync applied without a `Log`, until the snapshot taken at NEWLEADER is written.
    tree_ahead_of_disk: bool,
    /// Packets received while NEWLEADER's ACK waits (Java reads them after sending it).
    held: VecDeque<QuorumPacket>,
    pending_revalidations: BTreeSet<i64>,
    pending_syncs: usize,
    actions: Vec<LearnerAction>,
}

impl Learner {
    /// A learner for a connection the shell has just opened to the leader at `now_ms`,
    /// with the epochs and last logged zxid from disk.
    pub fn new(
        cfg: LearnerConfig,
        now_ms: i64,
        accepted_epoch: i64,
        current_epoch: i64,
        last_logged_zxid: i64,
    ) -> Learner {
        Learner {
            cfg,
            phase: Phase::Connected,
            accepted_epoch,
            current_epoch,
            last_logged_zxid,
            new_epoch: -1,
            new_leader_zxid: -1,
            mode: SyncMode::Diff,
            last_heard: now_ms,
            last_queued: 0,
            last_log: i64::MIN,
            durable: i64::MIN,
            applied: last_logged_zxid,
            snap_zxid: None,
            pending: VecDeque::new(),
            committed_in_sync: VecDeque::new(),
            to_ack: VecDeque::new(),
            wait_log: i64::MIN,
            wait_snapshot: None,
            tree_ahead_of_disk: false,
            held: VecDeque::new(),
            pending_revalidations: BTreeSet::new(),
            pending_syncs: 0,
            actions: Vec::new(),
        }
    }

    /// The actions produced so far, to carry out in order.
    pub fn take_actions(&mut self) -> Vec<LearnerAction> {
        std::mem::take(&mut self.actions)
    }

    pub fn is_serving(&self) -> bool {
        self.phase == Phase::Serving
    }
    pub fn is_stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }
    pub fn accepted_epoch(&self) -> i64 {
        self.accepted_epoch
    }
    pub fn current_epoch(&self) -> i64 {
        self.current_epoch
    }
    /// The sync the leader chose (meaningful once DIFF/TRUNC/SNAP arrived).
    pub fn sync_mode(&self) -> SyncMode {
        self.mode
    }
    /// Whether the tree holds state that is not on disk: a SNAP or TRUNC sync applies
    /// the SNAP body and the commits before NEWLEADER in memory only, and the snapshot
    /// taken at NEWLEADER is what makes them durable. A shell whose learner ends before
    /// that (gave up, link broken) must reload the tree from disk before it votes or
    /// syncs again: its last zxid would claim a history the disk cannot give back (a
    /// later TRUNC or restart reloads from disk), as Java's `Learner.shutdown` fully
    /// shuts the server down (clearing the database) while in SNAP sync. Found by the
    /// ensemble simulator, seed 5345.
    pub fn tree_ahead_of_disk(&self) -> bool {
        self.tree_ahead_of_disk
    }
    /// Where the learner is, for logs and diagnostics.
    pub fn phase_name(&self) -> &'static str {
        self.phase.name()
    }
    /// Proposals received and not yet committed.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Send FOLLOWERINFO / OBSERVERINFO.
    pub fn start(&mut self) {
        if self.phase != Phase::Connected {
            return;
        }
        let info = LearnerInfo {
            sid: self.cfg.my_sid,
            protocol_version: PROTOCOL_VERSION,
            config_version: self.cfg.config_version,
        };
        let k = if self.cfg.is_observer {
            kind::OBSERVERINFO
        } else {
            kind::FOLLOWERINFO
        };
        self.send(QuorumPacket::with_data(
            k,
            zxid::make(self.accepted_epoch, 0),
            info.encode(),
        ));
        self.phase = Phase::AwaitLeaderInfo;
    }

    /// The shell read bytes from the leader that are not a whole packet (e.g. a chunk
    /// of the SNAP body): the leader is alive.
    pub fn heard_from_leader(&mut self, now_ms: i64) {
        self.last_heard = self.last_heard.max(now_ms);
    }

    /// Time passes: give up on a leader silent for too long.
    pub fn tick(&mut self, now_ms: i64) {
        if self.phase == Phase::Stopped {
            return;
        }
        let ticks = match self.phase {
            Phase::Connected
            | Phase::AwaitLeaderInfo
            | Phase::AwaitSyncMode
            | Phase::AwaitSnapshot { .. }
            | Phase::Syncing => self.cfg.init_limit,
            _ => self.cfg.sync_limit,
        };
        let limit_ms = self.cfg.tick_ms.saturating_mul(ticks);
        let silent_ms = now_ms.saturating_sub(self.last_heard);
        if silent_ms >= limit_ms {
            self.give_up(GiveUpReason::LeaderSilent {
                silent_ms,
                limit_ms,
            });
        }
    }

    /// The txn log is durable through `zxid`.
    pub fn logged(&mut self, zxid: i64) {
        if self.phase == Phase::Stopped || zxid <= self.durable {
            return;
        }
        self.durable = zxid;
        self.progress();
    }

    /// The snapshot asked for by `TakeSnapshot{zxid}` is written.
    pub fn snapshot_taken(&mut self, zxid: i64) {
        if self.phase == Phase::Stopped {
            return;
        }
        if self.wait_snapshot == Some(zxid) {
            self.wait_snapshot = None;
            self.tree_ahead_of_disk = false;
            self.progress();
        }
    }

    /// The SNAP body was read and loaded; its zxid is SNAP's.
    pub fn snapshot_loaded(&mut self, zxid: i64) {
        match self.phase {
            Phase::AwaitSnapshot { zxid: z } if z == zxid => {
                self.applied = zxid;
                self.snap_zxid = Some(zxid);
                self.phase = Phase::Syncing;
            }
            Phase::Stopped => {}
            p => self.give_up(GiveUpReason::Shell(format!(
                "snapshot_loaded(0x{}) while {}",
                zxid::to_hex(zxid),
                p.name()
            ))),
        }
    }

    /// Forward a client's write (or sync) to the leader as REQUEST. `auth` is the
    /// connection's auth ids (None for createSession, as Java sends it).
    pub fn forward_request(
        &mut self,
        req: &ForwardedRequest,
        auth: Option<Vec<Id>>,
    ) -> Result<(), LearnerError> {
        self.check_serving()?;
        if req.op_code == OP_SYNC {
            self.pending_syncs = self.pending_syncs.saturating_add(1);
        }
        self.send(QuorumPacket {
            kind: kind::REQUEST,
            zxid: -1,
            data: Some(req.encode()),
            auth,
        });
        Ok(())
    }

    /// Ask the leader whether a session moving to us is still valid (REVALIDATE).
    pub fn revalidate(&mut self, session: i64, timeout: i32) -> Result<(), LearnerError> {
        self.check_serving()?;
        if !self.pending_revalidations.contains(&session)
            && self.pending_revalidations.len() >= self.cfg.max_revalidations
        {
            return Err(LearnerError::TooManyRevalidations(
                self.cfg.max_revalidations,
            ));
        }
        self.pending_revalidations.insert(session);
        self.send(QuorumPacket::with_data(
            kind::REVALIDATE,
            -1,
            encode_revalidate_request(session, timeout),
        ));
        Ok(())
    }

    /// A packet from the leader.
    pub fn on_packet(&mut self, now_ms: i64, p: QuorumPacket) {
        if self.phase == Phase::Stopped {
            return;
        }
        self.last_heard = self.last_heard.max(now_ms);
        match self.phase {
            Phase::Connected | Phase::AwaitLeaderInfo => self.on_leader_info(p),
            Phase::AwaitSyncMode => self.on_sync_mode(p),
            Phase::AwaitSnapshot { .. } => {
                self.give_up(GiveUpReason::Shell(format!(
                    "{} passed in before the SNAP body was loaded",
                    kind::name(p.kind)
                )));
            }
            Phase::Syncing => self.on_sync_packet(p),
            Phase::AwaitDurable => {
                if self.held.len() >= self.cfg.max_pending {
                    self.give_up(GiveUpReason::TooManyPending(self.cfg.max_pending));
                } else {
                    self.held.push_back(p);
                }
            }
            Phase::AwaitUpToDate | Phase::Serving => self.on_live_packet(p),
            Phase::Stopped => {}
        }
    }

    // ---- discovery ----

    fn on_leader_info(&mut self, p: QuorumPacket) {
        if self.phase == Phase::Connected || p.kind != kind::LEADERINFO {
            // Pre-3.4 leaders answer with NEWLEADER: not supported.
            return self.unexpected(p.kind);
        }
        if let Err(e) = decode_i32(&p.data_bytes()) {
            return self.give_up(GiveUpReason::Malformed(e.to_string()));
        }
        let new_epoch = zxid::epoch_of(p.zxid);
        let epoch_data = if new_epoch > self.accepted_epoch {
            self.accepted_epoch = new_epoch;
            self.actions
                .push(LearnerAction::PersistAcceptedEpoch(new_epoch));
            self.current_epoch as i32
        } else if new_epoch == self.accepted_epoch {
            // Already acked this epoch: -1 says "not an ack", only our zxid.
            -1
        } else {
            return self.give_up(GiveUpReason::LeaderEpochBehind {
                leader_epoch: new_epoch,
                accepted_epoch: self.accepted_epoch,
            });
        };
        self.new_epoch = new_epoch;
        self.new_leader_zxid = zxid::make(new_epoch, 0);
        self.send(QuorumPacket::with_data(
            kind::ACKEPOCH,
            self.last_logged_zxid,
            encode_i32(epoch_data),
        ));
        self.phase = Phase::AwaitSyncMode;
    }

    // ---- sync ----

    fn on_sync_mode(&mut self, p: QuorumPacket) {
        match p.kind {
            kind::DIFF => {
                self.mode = SyncMode::Diff;
                self.phase = Phase::Syncing;
            }
            kind::SNAP => {
                self.mode = SyncMode::Snap;
                // From here on the shell replaces its tree with the body.
                self.tree_ahead_of_disk = true;
                self.actions
                    .push(LearnerAction::ReadSnapshot { zxid: p.zxid });
                self.phase = Phase::AwaitSnapshot { zxid: p.zxid };
            }
            kind::TRUNC => {
                self.mode = SyncMode::Trunc;
                self.actions.push(LearnerAction::Truncate { zxid: p.zxid });
                self.applied = p.zxid;
                self.phase = Phase::Syncing;
            }
            // Java exits the process here (QUORUM_PACKET_ERROR); we give up.
            k => self.unexpected(k),
        }
    }

    /// Before NEWLEADER: a DIFF sync collects proposals and commits and writes them at
    /// NEWLEADER; SNAP and TRUNC apply committed proposals in memory (the snapshot at
    /// NEWLEADER holds them).
    fn on_sync_packet(&mut self, p: QuorumPacket) {
        if matches!(p.kind, kind::PROPOSAL | kind::COMMIT | kind::INFORM)
            && self.in_snapshot(p.zxid)
        {
            return;
        }
        match p.kind {
            kind::PROPOSAL => {
                let Some(prop) = self.decode_proposal(&p) else {
                    return;
                };
                if !self.enforce_continuous(prop.zxid) {
                    return;
                }
                self.push_pending(prop);
            }
            kind::COMMIT => {
                if self.mode == SyncMode::Diff {
                    if self.committed_in_sync.len() >= self.cfg.max_pending {
                        return self.give_up(GiveUpReason::TooManyPending(self.cfg.max_pending));
                    }
                    self.committed_in_sync.push_back(p.zxid);
                    return;
                }
                match self.pending.front() {
                    // Java: a NullPointerException, the connection drops.
                    None => self.give_up(GiveUpReason::CommitOutOfOrder {
                        zxid: p.zxid,
                        expected: None,
                    }),
                    // Java: "Committing 0x.., but next proposal is 0x.." and goes on.
                    Some(head) if head.zxid != p.zxid => {}
                    Some(_) => {
                        if let Some(prop) = self.pending.pop_front() {
                            self.commit(prop.zxid, prop.txn);
                        }
                    }
                }
            }
            kind::INFORM => {
                let Some(prop) = self.decode_proposal(&p) else {
                    return;
                };
                if !self.enforce_continuous(prop.zxid) {
                    return;
                }
                if self.mode == SyncMode::Diff {
                    if self.committed_in_sync.len() >= self.cfg.max_pending {
                        return self.give_up(GiveUpReason::TooManyPending(self.cfg.max_pending));
                    }
                    self.committed_in_sync.push_back(prop.zxid);
                    self.push_pending(prop);
                } else {
                    self.commit(prop.zxid, prop.txn);
                }
            }
            kind::NEWLEADER => self.on_new_leader(),
            // A pre-3.4 leader's end of sync: not supported.
            kind::UPTODATE => self.unexpected(p.kind),
            kind::COMMITANDACTIVATE | kind::INFORMANDACTIVATE => {
                self.give_up(GiveUpReason::ReconfigUnsupported(p.kind))
            }
            // Java's sync loop ignores everything else (PINGs included).
            _ => {}
        }
    }

    fn on_new_leader(&mut self) {
        if matches!(self.mode, SyncMode::Snap | SyncMode::Trunc) {
            self.actions
                .push(LearnerAction::TakeSnapshot { zxid: self.applied });
            self.wait_snapshot = Some(self.applied);
        }
        // DIFF: the proposals committed during sync are logged and applied now
        // (ZOOKEEPER-3911), without ACKs (3.9).
        while let Some(z) = self.committed_in_sync.pop_front() {
            match self.pending.front() {
                // Java warns and goes on.
                None => {}
                Some(head) if head.zxid != z => {}
                Some(_) => {
                    if let Some(mut prop) = self.pending.pop_front() {
                        if let Some(entry) = prop.entry.take() {
                            self.log(prop.zxid, entry);
                        }
                        self.commit(prop.zxid, prop.txn);
                    }
                }
            }
        }
        // The rest is not committed yet. A follower logs it now too, so that everything
        // received before NEWLEADER is durable before NEWLEADER's ACK (Java logs these
        // after UPTODATE), and ACKs it once serving, as Java does. An observer logs a
        // proposal only when its commit arrives, as Java's does.
        if !self.cfg.is_observer {
            let mut i = 0;
            while i < self.pending.len() {
                let (z, entry) = match self.pending.get_mut(i) {
                    Some(prop) => (prop.zxid, prop.entry.take()),
                    None => break,
                };
                if let Some(entry) = entry {
                    self.log(z, entry);
                    self.to_ack.push_back(z);
                }
                i += 1;
            }
        }
        self.wait_log = self.last_log;
        self.phase = Phase::AwaitDurable;
        self.progress();
    }

    /// Whether a sync proposal follows the last one (`enforceContinuousProposal`: a gap
    /// is allowed only into a newer epoch).
    fn enforce_continuous(&mut self, z: i64) -> bool {
        if self.last_queued != 0
            && z != self.last_queued + 1
            && zxid::epoch_of(z) <= zxid::epoch_of(self.last_queued)
        {
            self.give_up(GiveUpReason::ProposalGap {
                zxid: z,
                last: self.last_queued,
            });
            return false;
        }
        self.last_queued = z;
        true
    }

    // ---- after NEWLEADER ----

    fn on_live_packet(&mut self, p: QuorumPacket) {
        if matches!(p.kind, kind::PROPOSAL | kind::COMMIT | kind::INFORM)
            && self.in_snapshot(p.zxid)
        {
            return;
        }
        let serving = self.phase == Phase::Serving;
        match p.kind {
            kind::PROPOSAL => crate::metrics::LEARNER_PROPOSAL_RECEIVED_COUNT.inc(),
            kind::COMMIT => crate::metrics::LEARNER_COMMIT_RECEIVED_COUNT.inc(),
            _ => {}
        }
        let observer = self.cfg.is_observer;
        match p.kind {
            kind::PROPOSAL if observer && serving => {} // Java: "Ignoring proposal"
            kind::PROPOSAL => {
                let Some(mut prop) = self.decode_proposal(&p) else {
                    return;
                };
                if !serving && !self.enforce_continuous(prop.zxid) {
                    return;
                }
                if !observer {
                    if prop.zxid <= self.last_log {
                        return self.give_up(GiveUpReason::ProposalGap {
                            zxid: prop.zxid,
                            last: self.last_log,
                        });
                    }
                    if self.to_ack.len() >= self.cfg.max_pending {
                        return self.give_up(GiveUpReason::TooManyPending(self.cfg.max_pending));
                    }
                    if let Some(entry) = prop.entry.take() {
                        self.log(prop.zxid, entry);
                    }
                    self.to_ack.push_back(prop.zxid);
                }
                self.push_pending(prop);
                self.release_acks();
            }
            kind::COMMIT if observer && serving => {} // Java: "Ignoring commit"
            kind::COMMIT => self.commit_next(p.zxid),
            kind::INFORM if !observer => {} // Java: "Unknown packet type"
            kind::INFORM => {
                let Some(mut prop) = self.decode_proposal(&p) else {
                    return;
                };
                if !serving && !self.enforce_continuous(prop.zxid) {
                    return;
                }
                if prop.zxid <= self.last_log {
                    return self.give_up(GiveUpReason::ProposalGap {
                        zxid: prop.zxid,
                        last: self.last_log,
                    });
                }
                if let Some(entry) = prop.entry.take() {
                    self.log(prop.zxid, entry);
                }
                self.commit(prop.zxid, prop.txn);
            }
            kind::UPTODATE if !serving => self.on_up_to_date(),
            kind::PING if serving => self.actions.push(LearnerAction::PingReply { zxid: p.zxid }),
            // Java warns "Not expecting a sync." when none is pending.
            kind::SYNC if serving && self.pending_syncs > 0 => {
                self.pending_syncs -= 1;
                self.actions.push(LearnerAction::SyncDone);
            }
            kind::REVALIDATE if serving => match decode_revalidate_reply(&p.data_bytes()) {
                Ok((session, valid)) => {
                    // Java warns "Missing session" for one it did not ask about.
                    if self.pending_revalidations.remove(&session) {
                        self.actions
                            .push(LearnerAction::Revalidated { session, valid });
                    }
                }
                Err(e) => self.give_up(GiveUpReason::Malformed(e.to_string())),
            },
            kind::COMMITANDACTIVATE | kind::INFORMANDACTIVATE => {
                self.give_up(GiveUpReason::ReconfigUnsupported(p.kind))
            }
            // Java: ignored during sync; "UPTODATE after started", unknown types: logged.
            _ => {}
        }
    }

    fn on_up_to_date(&mut self) {
        self.send(QuorumPacket::new(kind::ACK, self.new_leader_zxid));
        self.actions.push(LearnerAction::StartServing {
            epoch: self.new_epoch,
        });
        if self.cfg.is_observer {
            // Java's observer drops the sync proposals no commit matched.
            self.pending.clear();
        }
        self.phase = Phase::Serving;
        self.release_acks();
    }

    /// COMMIT: the oldest uncommitted proposal, or give up (Java exits the process with
    /// UNMATCHED_TXN_COMMIT); with nothing pending Java only warns.
    fn commit_next(&mut self, z: i64) {
        let Some(head) = self.pending.front() else {
            return;
        };
        if head.zxid != z {
            let expected = Some(head.zxid);
            return self.give_up(GiveUpReason::CommitOutOfOrder { zxid: z, expected });
        }
        if let Some(mut prop) = self.pending.pop_front() {
            if let Some(entry) = prop.entry.take() {
                // An observer's sync proposal, logged when committed.
                self.log(prop.zxid, entry);
            }
            self.commit(prop.zxid, prop.txn);
        }
    }

    // ---- helpers ----

    /// A txn the loaded SNAP already holds. A Java leader's snapshot is fuzzy and its
    /// zxid is the tree's lastProcessedZxid when it began; the proposals and commits
    /// still in flight then are forwarded after it, some at or below that zxid. Java's
    /// learner applies them again (harmless over a fuzzy tree); here they are dropped
    /// (applying one would go back in zxid order; found by a mixed-ensemble test under
    /// load). Those above the SNAP's zxid are applied, as Java does.
    fn in_snapshot(&self, zxid: i64) -> bool {
        self.snap_zxid.is_some_and(|z| zxid <= z)
    }

    /// Whatever waited for the disk: NEWLEADER's ACK, then proposal ACKs.
    fn progress(&mut self) {
        if self.phase == Phase::AwaitDurable
            && self.wait_snapshot.is_none()
            && (self.wait_log == i64::MIN || self.durable >= self.wait_log)
        {
            // ZOOKEEPER-4643/4785: currentEpoch only after the txns are durable.
            self.current_epoch = self.new_epoch;
            self.actions
                .push(LearnerAction::PersistCurrentEpoch(self.new_epoch));
            self.send(QuorumPacket::new(kind::ACK, self.new_leader_zxid));
            self.phase = Phase::AwaitUpToDate;
            while let Some(p) = self.held.pop_front() {
                if self.phase == Phase::Stopped {
                    break;
                }
                self.on_packet(self.last_heard, p);
            }
        }
        self.release_acks();
    }

    fn release_acks(&mut self) {
        if self.phase != Phase::Serving {
            return;
        }
        while let Some(&z) = self.to_ack.front() {
            if z > self.durable {
                break;
            }
            self.to_ack.pop_front();
            self.send(QuorumPacket::new(kind::ACK, z));
        }
    }

    fn decode_proposal(&mut self, p: &QuorumPacket) -> Option<Proposal> {
        let entry = p.data_bytes();
        match decode_txn(entry.clone()) {
            Ok(txn) if txn.header.zxid == p.zxid => Some(Proposal {
                zxid: p.zxid,
                txn,
                entry: Some(entry),
            }),
            Ok(txn) => {
                self.give_up(GiveUpReason::Malformed(format!(
                    "{} zxid 0x{} carries a txn with zxid 0x{}",
                    kind::name(p.kind),
                    zxid::to_hex(p.zxid),
                    zxid::to_hex(txn.header.zxid)
                )));
                None
            }
            Err(e) => {
                self.give_up(GiveUpReason::Malformed(format!(
                    "{} zxid 0x{}: {e}",
                    kind::name(p.kind),
                    zxid::to_hex(p.zxid)
                )));
                None
            }
        }
    }

    fn push_pending(&mut self, prop: Proposal) {
        if self.pending.len() >= self.cfg.max_pending {
            return self.give_up(GiveUpReason::TooManyPending(self.cfg.max_pending));
        }
        self.pending.push_back(prop);
    }

    fn log(&mut self, z: i64, entry: Bytes) {
        self.last_log = self.last_log.max(z);
        self.actions.push(LearnerAction::Log { zxid: z, entry });
    }

    fn commit(&mut self, z: i64, txn: Txn) {
        if self.phase == Phase::Syncing && self.mode != SyncMode::Diff {
            // Applied without a `Log`: only the NEWLEADER snapshot will hold it.
            self.tree_ahead_of_disk = true;
        }
        self.applied = z;
        self.actions.push(LearnerAction::Commit {
            zxid: z,
            txn: Box::new(txn),
        });
    }

    fn send(&mut self, p: QuorumPacket) {
        self.actions.push(LearnerAction::Send(p));
    }

    fn check_serving(&self) -> Result<(), LearnerError> {
        match self.phase {
            Phase::Serving => Ok(()),
            Phase::Stopped => Err(LearnerError::Stopped),
            _ => Err(LearnerError::NotServing),
        }
    }

    fn unexpected(&mut self, k: i32) {
        let phase = self.phase.name();
        self.give_up(GiveUpReason::Unexpected { phase, kind: k });
    }

    fn give_up(&mut self, reason: GiveUpReason) {
        if self.phase == Phase::Stopped {
            return;
        }
        self.phase = Phase::Stopped;
        self.pending.clear();
        self.committed_in_sync.clear();
        self.to_ack.clear();
        self.held.clear();
        self.pending_revalidations.clear();
        self.actions.push(LearnerAction::GiveUp(reason));
    }
}

#[cfg(test)]
#[path = "learner_tests.rs"]
mod tests;
