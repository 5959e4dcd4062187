//! The leader's side of Java's Leader/Learner protocol as a sans-I/O state machine
//! (`Leader.lead`, `LearnerHandler.run`): discovery (FOLLOWERINFO/OBSERVERINFO →
//! LEADERINFO → ACKEPOCH), per-learner sync (DIFF/TRUNC/SNAP, then NEWLEADER and
//! UPTODATE), broadcast (PROPOSAL, ACK, COMMIT, INFORM), SYNC, and liveness (PING,
//! syncLimit, the "not sufficient followers synced" give-up).
//!
//! Owns: the epoch choice, which learners count toward which quorum, the outstanding
//! (proposed, uncommitted) proposals and their ACK sets, the commit order, the ring of
//! committed proposals learners are synced from, the pending learner syncs, and per
//! learner the protocol stage and its timers. Learners are connections the shell names
//! with a [`LearnerId`]; time comes in as `now_ms`.
//! Must never: open sockets, read the clock, sleep, touch disk or the tree, or decode
//! txns. Everything it wants done comes out of [`Leader::take_actions`], which the shell
//! must carry out **in order** (e.g. `PersistAcceptedEpoch` before the LEADERINFO that
//! follows it; a `Commit(z)` applied to the tree before a later `SendSnapshot`).
//!
//! Contract with the shell and core:
//! * The core runs the leader in the same single-threaded task as the tree and applies
//!   each `Commit(z)` before handling the next action, so when it handles
//!   `SendSnapshot { zxid }` its tree is exactly at the leader's `lastProcessedZxid`
//!   (Java's `toBeApplied` list is therefore always empty here).
//! * After the leader emits `Close(lid, _)` it has forgotten `lid`; `learner_gone` for it
//!   is a no-op. After `GiveUp` every call is a no-op (the learners were closed first).
//! * `proposed` zxids come in order, each the next counter of the epoch; `logged(z)`
//!   says the leader's own log is durable through `z` (its ACK for everything ≤ z).
//!
//! Where this differs from Java, on purpose:
//! * (Not a deviation, but a contract:) a learner's `sync` REQUEST is handed to the core
//!   like any other, and the core calls [`Leader::process_sync`] when it reaches the
//!   point where Java's ProposalRequestProcessor calls `processSync`, i.e. after every
//!   earlier request of that learner has been proposed. Answering on receipt instead
//!   could put SYNC ahead of the PROPOSAL/COMMIT of the same session's earlier write,
//!   which wedges that session in a Java learner's CommitProcessor.
//! * A committed proposal enters the ring when the leader decides the commit (Java: when
//!   FinalRequestProcessor applies it); with the contract above they coincide, so the
//!   `toBeApplied` forwarding in `startForwarding` has nothing to forward.
//! * Commits proceed from the oldest outstanding proposal while each has a quorum (Java
//!   only re-checks the next one after a reconfig; it relies on in-order ACKs).
//! * Packets a learner sends between its NEWLEADER ACK and UPTODATE are held (bounded)
//!   and handled after UPTODATE, where Java leaves them unread in the socket.
//! * Live PROPOSALs, COMMITs and INFORMs for a learner that has been sent NEWLEADER but
//!   not yet UPTODATE are held (bounded) and sent right after its UPTODATE; Java's
//!   LearnerHandler queues them in between. A 3.8.0 learner clears its uncommitted
//!   proposals on NEWLEADER, so a COMMIT reaching it before UPTODATE is a
//!   NullPointerException in `syncWithLeader` (ZOOKEEPER-4394, fixed in 3.9): it drops
//!   the leader, syncs again, and its txn log holds the proposals twice, which its next
//!   replay applies twice (a burst of digest mismatches). Sent after UPTODATE they go
//!   through its broadcast path, as every later packet does.
//! * Java's socket read timeouts are kept per learner as "silent for initLimit ticks
//!   while its handshake packet is due, syncLimit ticks once it follows"; the lead
//!   loop's tick-counted `synced()` check is kept as Java has it (one round per `tick`
//!   call, so a late call never counts several ticks).
//! * `proposed` takes no time; the syncLimit check of a learner's oldest unacked
//!   proposal uses the `now` of the latest call.
//! * Not built: pre-3.4 learners (protocol < 0x10000, closed), reconfig
//!   (COMMITANDACTIVATE / INFORMANDACTIVATE, designated leader), the quorum oracle,
//!   `maxTimeToWaitForEpoch`, learner sync throttles, and ObserverMaster. On `GiveUp`
//!   the learners are closed first.
//! * A learner below the ring is synced from the txn log only through the
//!   [`TxnLogSource`] the shell sets ([`Leader::set_txn_log`]); the leader calls it
//!   while it plans that learner's sync (the shell's reading is what Java does in the
//!   LearnerHandler under the log lock). Without one such a learner gets a SNAP.
//!
//! Bounds: learners (`max_learners`), outstanding proposals (`max_outstanding`, the core
//! must throttle on `LeaderError::Full`), pending syncs (`max_pending_syncs`), packets
//! a learner sends before its UPTODATE (`max_deferred`), live packets held for a learner
//! before its UPTODATE (`max_held`), the committed ring (its own
//! capacity). The action list is drained by the shell after every call.

use super::committed::CommittedLog;
use super::packet::{self, ForwardedRequest, LearnerInfo, PROTOCOL_VERSION, QuorumPacket, kind};
use super::sync_plan::{SyncPlan, TxnLogSource, plan_sync_with};
use super::zxid::{counter_of, epoch_of, make};
use crate::jute::records::Id;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The opcode of a client `sync` (ZooDefs.OpCode.sync).
pub const OP_SYNC: i32 = 9;

/// A learner connection, named by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LearnerId(pub u64);

/// What the leader needs from the configuration.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    pub my_sid: i64,
    /// The voting members (participants), me included. Observers are never here.
    pub voters: BTreeSet<i64>,
    pub tick_time_ms: i64,
    pub init_limit: i64,
    pub sync_limit: i64,
    /// NEWLEADER data: the quorum config text (`QuorumVerifier.toString()`).
    pub config_text: Bytes,
    /// The config version; a learner announcing a newer one is refused.
    pub config_version: i64,
    /// `zookeeper.forceSnapshotSync`.
    pub force_snapshot_sync: bool,
    pub max_learners: usize,
    pub max_outstanding: usize,
    pub max_pending_syncs: usize,
    pub max_deferred: usize,
    /// Live packets held for one learner between its NEWLEADER and UPTODATE.
    pub max_held: usize,
}

impl LeaderConfig {
    pub fn new(
        my_sid: i64,
        voters: BTreeSet<i64>,
        tick_time_ms: i64,
        init_limit: i64,
        sync_limit: i64,
        config_text: Bytes,
    ) -> Self {
        LeaderConfig {
            my_sid,
            voters,
            tick_time_ms,
            init_limit,
            sync_limit,
            config_text,
            config_version: 0,
            force_snapshot_sync: false,
            max_learners: 1024,
            max_outstanding: 100_000,
            max_pending_syncs: 10_000,
            max_deferred: 1024,
            max_held: 16_384,
        }
    }
    fn init_ms(&self) -> i64 {
        self.init_limit.saturating_mul(self.tick_time_ms)
    }
    fn sync_ms(&self) -> i64 {
        self.sync_limit.saturating_mul(self.tick_time_ms)
    }
}

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderAction {
    /// Write `acceptedEpoch` durably (before the LEADERINFOs that follow).
    PersistAcceptedEpoch(i64),
    /// Write `currentEpoch` durably (before the NEWLEADERs that follow).
    PersistCurrentEpoch(i64),
    Send(LearnerId, QuorumPacket),
    /// Write SNAP(`zxid`) and then the snapshot body of the tree as it is now.
    SendSnapshot {
        lid: LearnerId,
        zxid: i64,
    },
    /// Close the connection; the leader has already forgotten it.
    Close(LearnerId, String),
    /// A quorum acked NEWLEADER: start serving (Java's `startZkServer`).
    Established {
        epoch: i64,
    },
    /// Apply this committed txn (zxid order, each exactly once).
    Commit(i64),
    /// A learner forwarded a client request. For a `sync` (op 9) the core answers by
    /// calling `Leader::process_sync` once its earlier requests are proposed.
    Request {
        lid: LearnerId,
        sid: i64,
        req: ForwardedRequest,
        auth: Vec<Id>,
    },
    /// Sessions a learner's clients touched (from its PING).
    Touch(Vec<(i64, i32)>),
    /// Check this session; answer with `Leader::revalidated`.
    Revalidate {
        lid: LearnerId,
        session_id: i64,
        timeout: i32,
    },
    /// Stop leading (go back to election).
    GiveUp(String),
}

/// Why the core's call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaderError {
    #[error("not established as leader yet")]
    NotLeading,
    #[error("leader has given up")]
    Stopped,
    #[error("proposal 0x{zxid:x} is not the next zxid 0x{expected:x}")]
    OutOfOrder { zxid: i64, expected: i64 },
    #[error("too many outstanding proposals")]
    Full,
    #[error("zxid lower 32 bits have rolled over")]
    Rollover,
    #[error("learner id already in use")]
    DuplicateLearner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerKind {
    Participant,
    Observer,
}

/// Where a learner is in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LearnerStage {
    /// Connected; its FOLLOWERINFO/OBSERVERINFO is due.
    AwaitInfo,
    /// Waiting for the epoch quorum before LEADERINFO.
    AwaitEpoch,
    /// LEADERINFO sent; its ACKEPOCH is due.
    AwaitAckEpoch,
    /// Waiting for the ACKEPOCH quorum before its sync.
    AwaitElection,
    /// Sync stream and NEWLEADER sent; its ACK is due.
    AwaitNewLeaderAck,
    /// Acked NEWLEADER; UPTODATE waits for the quorum.
    AwaitStartup,
    /// UPTODATE sent: following/observing.
    Serving,
}

/// How a learner was synced (for the 4lw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    Diff,
    Trunc,
    Snap,
}

/// A read-only view of one learner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerView {
    pub lid: LearnerId,
    pub sid: Option<i64>,
    pub kind: LearnerKind,
    pub stage: LearnerStage,
    pub sync_mode: Option<SyncMode>,
    /// Java's `LearnerHandler.synced()`.
    pub synced: bool,
}

/// Java's `LearnerHandler.SyncLimitCheck`: the age of the oldest unacked proposal,
/// tracked in two slots exactly as Java does.
#[derive(Debug, Clone, Default)]
struct SyncLimitCheck {
    started: bool,
    current: Option<(i64, i64)>,
    next: Option<(i64, i64)>,
}

impl SyncLimitCheck {
    fn update_proposal(&mut self, zxid: i64, now: i64) {
        if !self.started {
            return;
        }
        if self.current.is_none() {
            self.current = Some((zxid, now));
        } else {
            self.next = Some((zxid, now));
        }
    }
    fn update_ack(&mut self, zxid: i64) {
        if self.current.map(|c| c.0) == Some(zxid) {
            self.current = self.next.take();
        } else if self.next.map(|n| n.0) == Some(zxid) {
            self.next = None;
        }
    }
    fn check(&self, now: i64, sync_ms: i64) -> bool {
        match self.current {
            None => true,
            Some((_, t)) => now.saturating_sub(t) < sync_ms,
        }
    }
}

#[derive(Debug)]
struct Learner {
    sid: Option<i64>,
    kind: LearnerKind,
    stage: LearnerStage,
    peer_last_zxid: i64,
    /// Past `startForwarding`: gets live PROPOSAL/COMMIT (participant) or INFORM.
    forwarding: bool,
    sync_mode: Option<SyncMode>,
    /// When the leader started waiting for this learner's next packet (the socket's
    /// read timeout in Java), and how long it waits.
    read_since: Option<i64>,
    read_limit_ms: i64,
    /// Java's `tickOfNextAckDeadline`.
    tick_deadline: i64,
    sync_check: SyncLimitCheck,
    /// Packets that arrived between NEWLEADER's ACK and UPTODATE (Java leaves them in
    /// the socket until the leader starts).
    deferred: VecDeque<QuorumPacket>,
    /// Live PROPOSAL/COMMIT/INFORM packets for it between NEWLEADER and UPTODATE, sent
    /// after its UPTODATE (see the module doc).
    held: VecDeque<QuorumPacket>,
}

impl Learner {
    fn is_participant(&self) -> bool {
        self.kind == LearnerKind::Participant
    }
    fn sending_started(&self) -> bool {
        self.stage >= LearnerStage::AwaitNewLeaderAck
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a quorum of FOLLOWERINFOs (`getEpochToPropose`).
    Discovery {
        deadline: i64,
    },
    /// Waiting for a quorum of ACKEPOCHs (`waitForEpochAck`).
    AckEpoch {
        deadline: i64,
    },
    /// Waiting for a quorum of NEWLEADER ACKs (`waitForNewLeaderAck`).
    Sync {
        deadline: i64,
    },
    /// Established and serving.
    Broadcast,
    Stopped,
}

#[derive(Debug)]
struct Outstanding {
    zxid: i64,
    data: Bytes,
    acks: BTreeSet<i64>,
}

/// The shell's txn-log source, if any (a trait object has no `Debug`).
struct TxnLog(Option<Box<dyn TxnLogSource + Send>>);

impl std::fmt::Debug for TxnLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "TxnLog(set)"
        } else {
            "TxnLog(none)"
        })
    }
}

/// One line per sync decision, as Java's LearnerHandler logs "Synchronizing with
/// Learner sid" and what it sends.
fn log_sync(
    sid: i64,
    peer: i64,
    last_processed: i64,
    ring: &CommittedLog,
    s: &super::sync_plan::SyncChoice,
) {
    let what = match &s.plan {
        SyncPlan::Snap { zxid } => format!("SNAP 0x{zxid:x}"),
        SyncPlan::Diff { zxid, proposals } => format!("DIFF 0x{zxid:x} + {} txns", proposals.len()),
        SyncPlan::Trunc { zxid } => format!("TRUNC 0x{zxid:x}"),
        SyncPlan::TruncDiff { zxid, proposals } => {
            format!("TRUNC 0x{zxid:x} + {} txns", proposals.len())
        }
    };
    let from = if s.from_txn_log > 0 {
        format!(
            " (txn log and committed log; {} from the txn log)",
            s.from_txn_log
        )
    } else {
        String::new()
    };
    tracing::info!(
        "Synchronizing with learner sid: {sid} peerLastZxid=0x{peer:x} lastProcessedZxid=0x{last_processed:x} \
         committed log 0x{:x}..0x{:x}: {what}{from}",
        ring.min_zxid().unwrap_or(0),
        ring.max_zxid().unwrap_or(0),
    );
}

/// The leader of one epoch.
#[derive(Debug)]
pub struct Leader {
    cfg: LeaderConfig,
    now: i64,
    phase: Phase,
    /// `leaderStateSummary`: my current epoch and last zxid when leading began.
    my_current_epoch: i64,
    my_last_zxid: i64,
    /// The epoch being proposed (Java's `epoch`, -1 until a learner or I bump it).
    epoch: i64,
    connecting: BTreeSet<i64>,
    electing: BTreeSet<i64>,
    newleader_acks: BTreeSet<i64>,
    learners: BTreeMap<LearnerId, Learner>,
    outstanding: VecDeque<Outstanding>,
    last_proposed: i64,
    last_committed: i64,
    last_processed: i64,
    log: CommittedLog,
    txn_log: TxnLog,
    /// Learners synced with txns from the txn log (a DIFF the ring alone could not give).
    txn_log_syncs: u64,
    pending_syncs: BTreeMap<i64, Vec<LearnerId>>,
    pending_sync_count: usize,
    tick: i64,
    tick_skip: bool,
    next_round: i64,
    actions: Vec<LeaderAction>,
}

impl Leader {
    /// Start leading: `my_accepted_epoch` / `my_current_epoch` are the epoch files,
    /// `my_last_zxid` the loaded tree's lastProcessedZxid, `log` the committed ring
    /// loaded with it. The leader counts itself toward the epoch quorum at once.
    pub fn new(
        cfg: LeaderConfig,
        now: i64,
        my_accepted_epoch: i64,
        my_current_epoch: i64,
        my_last_zxid: i64,
        log: CommittedLog,
    ) -> Leader {
        let deadline = now.saturating_add(cfg.init_ms());
        let me = cfg.my_sid;
        let mut l = Leader {
            cfg,
            now,
            phase: Phase::Discovery { deadline },
            my_current_epoch,
            my_last_zxid,
            epoch: -1,
            connecting: BTreeSet::new(),
            electing: BTreeSet::new(),
            newleader_acks: BTreeSet::new(),
            learners: BTreeMap::new(),
            outstanding: VecDeque::new(),
            last_proposed: my_last_zxid,
            last_committed: my_last_zxid,
            last_processed: my_last_zxid,
            log,
            txn_log: TxnLog(None),
            txn_log_syncs: 0,
            pending_syncs: BTreeMap::new(),
            pending_sync_count: 0,
            tick: 0,
            tick_skip: true,
            next_round: i64::MAX,
            actions: Vec::new(),
        };
        l.epoch_to_propose(me, my_accepted_epoch);
        l
    }

    /// Where learners below the committed ring are synced from (Java's txn-log DIFF);
    /// without it they get a SNAP.
    pub fn set_txn_log(&mut self, source: Box<dyn TxnLogSource + Send>) {
        self.txn_log = TxnLog(Some(source));
    }

    /// Everything to do since the last call, in order.
    pub fn take_actions(&mut self) -> Vec<LeaderAction> {
        std::mem::take(&mut self.actions)
    }

    // ---- inputs ------------------------------------------------------------------

    /// A learner dialed the quorum port.
    pub fn learner_connected(&mut self, now: i64, lid: LearnerId) -> Result<(), LeaderError> {
        self.now = now;
        if self.phase == Phase::Stopped {
            return Err(LeaderError::Stopped);
        }
        if self.learners.contains_key(&lid) {
            return Err(LeaderError::DuplicateLearner);
        }
        if self.learners.len() >= self.cfg.max_learners {
            self.actions
                .push(LeaderAction::Close(lid, "too many learners".into()));
            return Ok(());
        }
        let l = Learner {
            sid: None,
            kind: LearnerKind::Participant,
            stage: LearnerStage::AwaitInfo,
            peer_last_zxid: -1,
            forwarding: false,
            sync_mode: None,
            read_since: Some(now),
            read_limit_ms: self.cfg.init_ms(),
            tick_deadline: self.tick + self.cfg.init_limit + self.cfg.sync_limit,
            sync_check: SyncLimitCheck::default(),
            deferred: VecDeque::new(),
            held: VecDeque::new(),
        };
        self.learners.insert(lid, l);
        Ok(())
    }

    /// The learner's connection is gone (EOF, error, or closed by the shell).
    pub fn learner_gone(&mut self, lid: LearnerId) {
        if self.learners.remove(&lid).is_some() {
            self.forget_pending_syncs(lid);
        }
    }

    /// A packet from a learner.
    pub fn on_packet(&mut self, now: i64, lid: LearnerId, qp: QuorumPacket) {
        self.now = now;
        if self.phase == Phase::Stopped {
            return;
        }
        let Some(l) = self.learners.get_mut(&lid) else {
            return;
        };
        if l.read_since.is_some() {
            l.read_since = Some(now);
        }
        match l.stage {
            LearnerStage::AwaitInfo => self.on_info(lid, qp),
            LearnerStage::AwaitAckEpoch => self.on_ack_epoch(lid, qp),
            LearnerStage::AwaitNewLeaderAck => self.on_newleader_ack(lid, qp),
            LearnerStage::AwaitStartup => {
                if l.deferred.len() < self.cfg.max_deferred {
                    l.deferred.push_back(qp);
                } else {
                    self.close(lid, "too many packets before UPTODATE".into());
                }
            }
            LearnerStage::Serving => self.serve(lid, qp),
            LearnerStage::AwaitEpoch | LearnerStage::AwaitElection => {
                // Java's handler is blocked on the leader here; the next packet it reads
                // must be ACKEPOCH / the NEWLEADER ACK, so this one is a protocol error.
                let msg = format!(
                    "unexpected {} while waiting for the leader",
                    kind::name(qp.kind)
                );
                self.close(lid, msg);
            }
        }
    }

    /// The core proposes the next txn (`entry` = the PROPOSAL data): PROPOSAL to every
    /// participant past `startForwarding`. `zxid` must be the next counter of the epoch;
    /// a counter of 0xffffffff gives up (Java's rollover re-election).
    pub fn proposed(&mut self, zxid: i64, entry: Bytes) -> Result<(), LeaderError> {
        match self.phase {
            Phase::Stopped => return Err(LeaderError::Stopped),
            Phase::Broadcast => {}
            _ => return Err(LeaderError::NotLeading),
        }
        if counter_of(zxid) == 0xffff_ffff {
            self.stop(
                "zxid lower 32 bits have rolled over, forcing re-election, and therefore new epoch start"
                    .into(),
            );
            return Err(LeaderError::Rollover);
        }
        let expected = self.last_proposed.wrapping_add(1);
        if zxid != expected {
            return Err(LeaderError::OutOfOrder { zxid, expected });
        }
        if self.outstanding.len() >= self.cfg.max_outstanding {
            return Err(LeaderError::Full);
        }
        self.last_proposed = zxid;
        let now = self.now;
        let pkt = QuorumPacket::with_data(kind::PROPOSAL, zxid, entry.clone());
        let mut over = Vec::new();
        for (&lid, l) in self.learners.iter_mut() {
            if l.forwarding && l.is_participant() {
                l.sync_check.update_proposal(zxid, now);
                forward(
                    &mut self.actions,
                    lid,
                    l,
                    pkt.clone(),
                    self.cfg.max_held,
                    &mut over,
                );
            }
        }
        self.close_over_held(over);
        self.outstanding.push_back(Outstanding {
            zxid,
            data: entry,
            acks: BTreeSet::new(),
        });
        Ok(())
    }

    /// My own log is durable through `zxid`: my ACK for every outstanding proposal ≤ it.
    pub fn logged(&mut self, zxid: i64) {
        if self.phase != Phase::Broadcast {
            return;
        }
        let me = self.cfg.my_sid;
        for p in self.outstanding.iter_mut() {
            if p.zxid > zxid {
                break;
            }
            p.acks.insert(me);
        }
        self.try_commit();
    }

    /// The core's verdict on a REVALIDATE.
    pub fn revalidated(&mut self, lid: LearnerId, session_id: i64, valid: bool) {
        if self.phase == Phase::Stopped || !self.learners.contains_key(&lid) {
            return;
        }
        let data = packet::encode_revalidate_reply(session_id, valid);
        self.send(lid, QuorumPacket::with_data(kind::REVALIDATE, -1, data));
    }

    /// Time passes: phase timeouts, learner read timeouts, PINGs and the synced-quorum
    /// check every tick.
    pub fn tick(&mut self, now: i64) {
        self.now = now;
        match self.phase {
            Phase::Stopped => return,
            Phase::Discovery { deadline } if now >= deadline => {
                return self.stop("Timeout while waiting for epoch from quorum".into());
            }
            Phase::AckEpoch { deadline } if now >= deadline => {
                return self.stop("Timeout while waiting for epoch to be acked by quorum".into());
            }
            Phase::Sync { deadline } if now >= deadline => {
                let msg = format!(
                    "Waiting for a quorum of followers, only synced with sids: [ {} ]",
                    sids(&self.newleader_acks)
                );
                return self.stop(msg);
            }
            _ => {}
        }
        let timed_out: Vec<LearnerId> = self
            .learners
            .iter()
            .filter(|(_, l)| matches!(l.read_since, Some(t) if now.saturating_sub(t) >= l.read_limit_ms))
            .map(|(&lid, _)| lid)
            .collect();
        for lid in timed_out {
            self.close(lid, "read timed out".into());
        }
        if self.phase != Phase::Broadcast || now < self.next_round {
            return;
        }
        // One round per call, the next half a tick after it, as Java's loop waits
        // tickTime/2 from each iteration: a late call never counts several ticks.
        self.next_round = now.saturating_add((self.cfg.tick_time_ms / 2).max(1));
        if !self.tick_skip {
            self.tick += 1;
            let synced = self.synced_voters();
            if !self.has_quorum(&synced) {
                let msg = format!(
                    "Not sufficient followers synced, only synced with sids: [ {} ]",
                    sids(&synced)
                );
                return self.stop(msg);
            }
        }
        self.tick_skip = !self.tick_skip;
        self.ping_all();
    }

    /// When `tick` next has something to do (None once stopped).
    pub fn next_deadline(&self) -> Option<i64> {
        let phase = match self.phase {
            Phase::Stopped => return None,
            Phase::Discovery { deadline }
            | Phase::AckEpoch { deadline }
            | Phase::Sync { deadline } => deadline,
            Phase::Broadcast => self.next_round,
        };
        let reads = self
            .learners
            .values()
            .filter_map(|l| l.read_since.map(|t| t.saturating_add(l.read_limit_ms)));
        reads.chain(std::iter::once(phase)).min()
    }

    // ---- read-only accessors (4lw / mntr / tests) ----------------------------------

    /// The epoch once decided.
    pub fn epoch(&self) -> Option<i64> {
        match self.phase {
            Phase::Discovery { .. } => None,
            _ => Some(self.epoch),
        }
    }
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Broadcast
    }
    pub fn is_stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }
    pub fn last_proposed(&self) -> i64 {
        self.last_proposed
    }
    pub fn last_committed(&self) -> i64 {
        self.last_committed
    }
    /// The zxid the tree is at (Java's `getDataTreeLastProcessedZxid`).
    pub fn last_processed_zxid(&self) -> i64 {
        self.last_processed
    }
    pub fn committed_log(&self) -> &CommittedLog {
        &self.log
    }
    /// How many learner syncs took txns from the txn log.
    pub fn txn_log_syncs(&self) -> u64 {
        self.txn_log_syncs
    }
    pub fn outstanding_proposals(&self) -> usize {
        self.outstanding.len()
    }
    /// Java's `pendingSyncs.size()` (zxids with syncs waiting on them).
    pub fn pending_syncs(&self) -> usize {
        self.pending_syncs.len()
    }
    pub fn learners(&self) -> Vec<LearnerView> {
        self.learners
            .iter()
            .map(|(&lid, l)| LearnerView {
                lid,
                sid: l.sid,
                kind: l.kind,
                stage: l.stage,
                sync_mode: l.sync_mode,
                synced: self.tick <= l.tick_deadline,
            })
            .collect()
    }
    /// Forwarding participants, voting or not (mntr `synced_followers`, Java's
    /// `getForwardingFollowers().size()`).
    pub fn synced_followers(&self) -> usize {
        self.forwarding(|l, _| l.is_participant())
    }
    /// Forwarding participants that are not voters (`synced_non_voting_followers`).
    pub fn synced_non_voting_followers(&self) -> usize {
        self.forwarding(|l, v| l.is_participant() && !v)
    }
    /// Forwarding observers (`synced_observers`).
    pub fn synced_observers(&self) -> usize {
        self.forwarding(|l, _| !l.is_participant())
    }

    fn forwarding(&self, f: impl Fn(&Learner, bool) -> bool) -> usize {
        self.learners
            .values()
            .filter(|l| l.forwarding)
            .filter(|l| f(l, l.sid.is_some_and(|s| self.cfg.voters.contains(&s))))
            .count()
    }

    // ---- discovery -----------------------------------------------------------------

    fn is_voter(&self, sid: i64) -> bool {
        self.cfg.voters.contains(&sid)
    }

    fn has_quorum(&self, set: &BTreeSet<i64>) -> bool {
        let n = set.iter().filter(|s| self.is_voter(**s)).count();
        n * 2 > self.cfg.voters.len()
    }

    /// `getEpochToPropose`.
    fn epoch_to_propose(&mut self, sid: i64, last_accepted_epoch: i64) {
        if !matches!(self.phase, Phase::Discovery { .. }) {
            return;
        }
        if last_accepted_epoch >= self.epoch {
            self.epoch = last_accepted_epoch.saturating_add(1);
        }
        if self.is_voter(sid) {
            self.connecting.insert(sid);
        }
        if self.connecting.contains(&self.cfg.my_sid) && self.has_quorum(&self.connecting) {
            self.decide_epoch();
        }
    }

    fn decide_epoch(&mut self) {
        let epoch = self.epoch;
        self.actions.push(LeaderAction::PersistAcceptedEpoch(epoch));
        self.last_proposed = make(epoch, 0);
        self.phase = Phase::AckEpoch {
            deadline: self.now.saturating_add(self.cfg.init_ms()),
        };
        let waiting: Vec<LearnerId> = self.stage_members(LearnerStage::AwaitEpoch);
        for lid in waiting {
            self.send_leader_info(lid);
        }
        // The leader's own waitForEpochAck.
        let (me, cur, last) = (self.cfg.my_sid, self.my_current_epoch, self.my_last_zxid);
        self.epoch_ack(None, me, cur, last);
    }

    fn send_leader_info(&mut self, lid: LearnerId) {
        let now = self.now;
        let init = self.cfg.init_ms();
        if let Some(l) = self.learners.get_mut(&lid) {
            l.stage = LearnerStage::AwaitAckEpoch;
            l.read_since = Some(now);
            l.read_limit_ms = init;
        }
        let pkt = QuorumPacket::with_data(
            kind::LEADERINFO,
            make(self.epoch, 0),
            packet::encode_i32(PROTOCOL_VERSION),
        );
        self.send(lid, pkt);
    }

    /// `waitForEpochAck` for `sid` (`lid` None: the leader itself). A learner ahead of
    /// me is closed, as Java's handler dies on the IOException (the leader carries on
    /// and gives up only if no quorum forms within initLimit).
    fn epoch_ack(&mut self, lid: Option<LearnerId>, sid: i64, cur_epoch: i64, last_zxid: i64) {
        if !matches!(self.phase, Phase::AckEpoch { .. }) {
            return;
        }
        if cur_epoch != -1 {
            let ahead = cur_epoch > self.my_current_epoch
                || (cur_epoch == self.my_current_epoch && last_zxid > self.my_last_zxid);
            if ahead {
                if let Some(lid) = lid {
                    let msg = format!(
                        "Follower is ahead of the leader, leader summary: {} (current epoch), {} (last zxid)",
                        self.my_current_epoch, self.my_last_zxid
                    );
                    self.close(lid, msg);
                }
                return;
            }
            if last_zxid != -1 && self.is_voter(sid) {
                self.electing.insert(sid);
            }
        }
        if self.electing.contains(&self.cfg.my_sid) && self.has_quorum(&self.electing) {
            self.finish_election();
        }
    }

    fn finish_election(&mut self) {
        let epoch = self.epoch;
        self.phase = Phase::Sync {
            deadline: self.now.saturating_add(self.cfg.init_ms()),
        };
        self.actions.push(LeaderAction::PersistCurrentEpoch(epoch));
        for lid in self.stage_members(LearnerStage::AwaitElection) {
            self.start_sync(lid);
        }
        // The leader's own waitForNewLeaderAck.
        self.newleader_acks.insert(self.cfg.my_sid);
        self.check_newleader_quorum();
    }

    fn stage_members(&self, stage: LearnerStage) -> Vec<LearnerId> {
        self.learners
            .iter()
            .filter(|(_, l)| l.stage == stage)
            .map(|(&lid, _)| lid)
            .collect()
    }

    fn on_info(&mut self, lid: LearnerId, qp: QuorumPacket) {
        let observer = match qp.kind {
            kind::FOLLOWERINFO => false,
            kind::OBSERVERINFO => true,
            k => {
                let msg = format!(
                    "First packet {} is not FOLLOWERINFO or OBSERVERINFO!",
                    kind::name(k)
                );
                return self.close(lid, msg);
            }
        };
        // Null data is a pre-3.4 learner (Java numbers it with a negative sid and skips
        // LEADERINFO/ACKEPOCH): not supported, like protocol versions below 0x10000.
        let (sid, version) = match &qp.data {
            None => (-1, 0),
            Some(d) => match LearnerInfo::decode(d) {
                Ok(info) => {
                    if d.len() >= 20 && info.config_version > self.cfg.config_version {
                        return self.close(
                            lid,
                            "Follower is ahead of the leader (has a later activated configuration)"
                                .into(),
                        );
                    }
                    (info.sid, info.protocol_version)
                }
                Err(e) => return self.close(lid, e.to_string()),
            },
        };
        if version < PROTOCOL_VERSION {
            return self.close(
                lid,
                format!("learner protocol version 0x{version:x} not supported"),
            );
        }
        if let Some(l) = self.learners.get_mut(&lid) {
            l.sid = Some(sid);
            l.kind = if observer {
                LearnerKind::Observer
            } else {
                LearnerKind::Participant
            };
            l.stage = LearnerStage::AwaitEpoch;
            l.read_since = None;
        }
        if matches!(self.phase, Phase::Discovery { .. }) {
            self.epoch_to_propose(sid, epoch_of(qp.zxid));
        } else {
            self.send_leader_info(lid);
        }
    }

    fn on_ack_epoch(&mut self, lid: LearnerId, qp: QuorumPacket) {
        if qp.kind != kind::ACKEPOCH {
            return self.close(lid, format!("{} is not ACKEPOCH", kind::name(qp.kind)));
        }
        let cur_epoch = match packet::decode_i32(&qp.data_bytes()) {
            Ok(e) => i64::from(e),
            Err(e) => return self.close(lid, e.to_string()),
        };
        let Some(l) = self.learners.get_mut(&lid) else {
            return;
        };
        l.peer_last_zxid = qp.zxid;
        l.stage = LearnerStage::AwaitElection;
        l.read_since = None;
        let sid = l.sid.unwrap_or(-1);
        self.epoch_ack(Some(lid), sid, cur_epoch, qp.zxid);
        let ready = matches!(self.phase, Phase::Sync { .. } | Phase::Broadcast);
        if ready && self.learners.get(&lid).map(|l| l.stage) == Some(LearnerStage::AwaitElection) {
            self.start_sync(lid);
        }
    }

    // ---- sync ----------------------------------------------------------------------

    fn start_sync(&mut self, lid: LearnerId) {
        let Some(l) = self.learners.get(&lid) else {
            return;
        };
        let participant = l.is_participant();
        let (sid, peer_last_zxid) = (l.sid.unwrap_or(-1), l.peer_last_zxid);
        let mut none = super::sync_plan::NoTxnLog;
        let source: &mut dyn TxnLogSource = match self.txn_log.0.as_mut() {
            Some(s) => s.as_mut(),
            None => &mut none,
        };
        let s = plan_sync_with(
            peer_last_zxid,
            self.last_processed,
            &self.log,
            self.cfg.force_snapshot_sync,
            source,
        );
        log_sync(sid, peer_last_zxid, self.last_processed, &self.log, &s);
        if s.from_txn_log > 0 {
            self.txn_log_syncs += 1;
        }
        let (mode, op, proposals) = match s.plan {
            SyncPlan::Snap { zxid } => {
                self.actions.push(LeaderAction::SendSnapshot { lid, zxid });
                (SyncMode::Snap, None, Vec::new())
            }
            SyncPlan::Diff { zxid, proposals } => {
                (SyncMode::Diff, Some((kind::DIFF, zxid)), proposals)
            }
            SyncPlan::Trunc { zxid } => (SyncMode::Trunc, Some((kind::TRUNC, zxid)), Vec::new()),
            SyncPlan::TruncDiff { zxid, proposals } => {
                (SyncMode::Trunc, Some((kind::TRUNC, zxid)), proposals)
            }
        };
        match mode {
            SyncMode::Snap => crate::metrics::SNAP_COUNT.inc(),
            SyncMode::Diff => crate::metrics::DIFF_COUNT.inc(),
            _ => {}
        }
        if let Some((k, z)) = op {
            self.send(lid, QuorumPacket::new(k, z));
        }
        for p in proposals {
            self.send(lid, QuorumPacket::with_data(kind::PROPOSAL, p.zxid, p.data));
            self.send(lid, QuorumPacket::new(kind::COMMIT, p.zxid));
        }
        // startForwarding: the outstanding proposals above what the sync covered.
        if participant && self.last_proposed > s.synced_to {
            let fwd: Vec<QuorumPacket> = self
                .outstanding
                .iter()
                .filter(|p| p.zxid > s.synced_to)
                .map(|p| QuorumPacket::with_data(kind::PROPOSAL, p.zxid, p.data.clone()))
                .collect();
            for pkt in fwd {
                self.send(lid, pkt);
            }
        }
        let newleader = QuorumPacket::with_data(
            kind::NEWLEADER,
            make(self.epoch, 0),
            self.cfg.config_text.clone(),
        );
        self.send(lid, newleader);
        let now = self.now;
        let init = self.cfg.init_ms();
        if let Some(l) = self.learners.get_mut(&lid) {
            l.forwarding = true;
            l.sync_mode = Some(mode);
            l.stage = LearnerStage::AwaitNewLeaderAck;
            l.read_since = Some(now);
            l.read_limit_ms = init;
        }
    }

    fn on_newleader_ack(&mut self, lid: LearnerId, qp: QuorumPacket) {
        if qp.kind != kind::ACK {
            let msg = format!(
                "Next packet was supposed to be an ACK, but received packet: {}",
                kind::name(qp.kind)
            );
            return self.close(lid, msg);
        }
        let sync_ms = self.cfg.sync_ms();
        let Some(l) = self.learners.get_mut(&lid) else {
            return;
        };
        l.sync_check.started = true;
        l.stage = LearnerStage::AwaitStartup;
        l.read_since = None;
        l.read_limit_ms = sync_ms;
        let sid = l.sid.unwrap_or(-1);
        // A NEWLEADER ACK of another epoch is not counted (Java logs and carries on).
        if matches!(self.phase, Phase::Sync { .. })
            && qp.zxid == make(self.epoch, 0)
            && self.is_voter(sid)
        {
            self.newleader_acks.insert(sid);
            self.check_newleader_quorum();
        }
        // Established already (or just now, which sent it UPTODATE): UPTODATE once.
        let waiting = self.learners.get(&lid).map(|l| l.stage) == Some(LearnerStage::AwaitStartup);
        if self.phase == Phase::Broadcast && waiting {
            self.send_uptodate(lid);
        }
    }

    fn check_newleader_quorum(&mut self) {
        if matches!(self.phase, Phase::Sync { .. })
            && self.newleader_acks.contains(&self.cfg.my_sid)
            && self.has_quorum(&self.newleader_acks)
        {
            self.establish();
        }
    }

    /// `startZkServer`: serve, and UPTODATE to everyone who acked NEWLEADER.
    fn establish(&mut self) {
        let start = make(self.epoch, 0);
        self.phase = Phase::Broadcast;
        self.last_committed = start;
        self.last_processed = start;
        self.tick = 0;
        self.tick_skip = true;
        self.next_round = self.now.saturating_add((self.cfg.tick_time_ms / 2).max(1));
        self.actions
            .push(LeaderAction::Established { epoch: self.epoch });
        for lid in self.stage_members(LearnerStage::AwaitStartup) {
            self.send_uptodate(lid);
        }
    }

    fn send_uptodate(&mut self, lid: LearnerId) {
        let now = self.now;
        let Some(l) = self.learners.get_mut(&lid) else {
            return;
        };
        l.stage = LearnerStage::Serving;
        l.read_since = Some(now);
        let deferred = std::mem::take(&mut l.deferred);
        let held = std::mem::take(&mut l.held);
        self.send(lid, QuorumPacket::new(kind::UPTODATE, -1));
        for qp in held {
            self.send(lid, qp);
        }
        for qp in deferred {
            if !self.learners.contains_key(&lid) {
                break;
            }
            self.serve(lid, qp);
        }
    }

    // ---- broadcast -----------------------------------------------------------------

    fn serve(&mut self, lid: LearnerId, qp: QuorumPacket) {
        let tick_deadline = self.tick + self.cfg.sync_limit;
        let Some(l) = self.learners.get_mut(&lid) else {
            return;
        };
        l.tick_deadline = tick_deadline;
        let sid = l.sid.unwrap_or(-1);
        match qp.kind {
            kind::ACK => {
                l.sync_check.update_ack(qp.zxid);
                self.process_ack(sid, qp.zxid);
            }
            kind::PING => match packet::decode_touches(&qp.data_bytes()) {
                Ok(t) if t.is_empty() => {}
                Ok(t) => self.actions.push(LeaderAction::Touch(t)),
                Err(e) => self.close(lid, e.to_string()),
            },
            kind::REVALIDATE => match packet::decode_revalidate_request(&qp.data_bytes()) {
                Ok((session_id, timeout)) => self.actions.push(LeaderAction::Revalidate {
                    lid,
                    session_id,
                    timeout,
                }),
                Err(e) => self.close(lid, e.to_string()),
            },
            kind::REQUEST => match ForwardedRequest::decode(&qp.data_bytes()) {
                Ok(req) => self.actions.push(LeaderAction::Request {
                    lid,
                    sid,
                    req,
                    auth: qp.auth.unwrap_or_default(),
                }),
                Err(e) => self.close(lid, e.to_string()),
            },
            // Java logs "unexpected quorum packet" and carries on.
            _ => {}
        }
    }

    /// `processAck`.
    fn process_ack(&mut self, sid: i64, zxid: i64) {
        if !self.is_voter(sid) || counter_of(zxid) == 0 {
            return; // observers' ACKs and the UPTODATE ACK count for nothing
        }
        if self.outstanding.is_empty() || zxid <= self.last_committed {
            return; // already committed (3.8 learners ACK their DIFF proposals)
        }
        let Some(p) = self.outstanding.iter_mut().find(|p| p.zxid == zxid) else {
            return; // "Trying to commit future proposal"
        };
        p.acks.insert(sid);
        self.try_commit();
    }

    /// Commit from the oldest outstanding proposal on, while each has a quorum: a later
    /// zxid never commits before an earlier one.
    fn try_commit(&mut self) {
        while let Some(front) = self.outstanding.front() {
            if !self.has_quorum(&front.acks) {
                return;
            }
            let Some(p) = self.outstanding.pop_front() else {
                return;
            };
            self.commit(p);
            if self.phase == Phase::Stopped {
                return;
            }
        }
    }

    fn commit(&mut self, p: Outstanding) {
        let zxid = p.zxid;
        self.last_committed = zxid;
        crate::metrics::COMMIT_COUNT.inc();
        let commit = QuorumPacket::new(kind::COMMIT, zxid);
        let inform = QuorumPacket::with_data(kind::INFORM, zxid, p.data.clone());
        let max_held = self.cfg.max_held;
        let mut over = Vec::new();
        for (&lid, l) in self.learners.iter_mut() {
            if l.forwarding && l.is_participant() {
                forward(
                    &mut self.actions,
                    lid,
                    l,
                    commit.clone(),
                    max_held,
                    &mut over,
                );
            }
        }
        for (&lid, l) in self.learners.iter_mut() {
            if l.forwarding && !l.is_participant() {
                forward(
                    &mut self.actions,
                    lid,
                    l,
                    inform.clone(),
                    max_held,
                    &mut over,
                );
            }
        }
        self.close_over_held(over);
        self.actions.push(LeaderAction::Commit(zxid));
        if let Err(e) = self.log.add(zxid, p.data) {
            return self.stop(e.to_string());
        }
        self.last_processed = zxid;
        if let Some(lids) = self.pending_syncs.remove(&zxid) {
            self.pending_sync_count -= lids.len();
            for lid in lids {
                if self.learners.contains_key(&lid) {
                    self.send(lid, QuorumPacket::new(kind::SYNC, 0));
                }
            }
        }
    }

    /// Java's `processSync` for a learner's `sync` REQUEST (op [`OP_SYNC`]), called by the
    /// core in its request order: SYNC (zxid 0) now if nothing is outstanding, else once
    /// the last proposal outstanding now commits. A gone learner is ignored.
    pub fn process_sync(&mut self, lid: LearnerId) {
        if self.phase == Phase::Stopped || !self.learners.contains_key(&lid) {
            return;
        }
        if self.outstanding.is_empty() {
            return self.send(lid, QuorumPacket::new(kind::SYNC, 0));
        }
        if self.pending_sync_count >= self.cfg.max_pending_syncs {
            return self.close(lid, "too many pending syncs".into());
        }
        self.pending_syncs
            .entry(self.last_proposed)
            .or_default()
            .push(lid);
        self.pending_sync_count += 1;
    }

    fn forget_pending_syncs(&mut self, lid: LearnerId) {
        let mut removed = 0;
        self.pending_syncs.retain(|_, v| {
            let before = v.len();
            v.retain(|&x| x != lid);
            removed += before - v.len();
            !v.is_empty()
        });
        self.pending_sync_count -= removed;
    }

    // ---- liveness ------------------------------------------------------------------

    /// Me and every voter whose handler is `synced()`.
    fn synced_voters(&self) -> BTreeSet<i64> {
        let mut set = BTreeSet::from([self.cfg.my_sid]);
        for l in self.learners.values() {
            match l.sid {
                Some(sid) if self.is_voter(sid) && self.tick <= l.tick_deadline => {
                    set.insert(sid);
                }
                _ => {}
            }
        }
        set
    }

    /// `LearnerHandler.ping` for every learner whose sync stream has started.
    fn ping_all(&mut self) {
        let now = self.now;
        let sync_ms = self.cfg.sync_ms();
        let mut late = Vec::new();
        for (&lid, l) in &self.learners {
            if !l.sending_started() {
                continue;
            }
            if l.sync_check.check(now, sync_ms) {
                let ping = QuorumPacket::new(kind::PING, self.last_proposed);
                self.actions.push(LeaderAction::Send(lid, ping));
            } else {
                late.push(lid);
            }
        }
        for lid in late {
            self.close(
                lid,
                "Closing connection to peer due to transaction timeout.".into(),
            );
        }
    }

    // ---- helpers -------------------------------------------------------------------

    fn send(&mut self, lid: LearnerId, qp: QuorumPacket) {
        self.actions.push(LeaderAction::Send(lid, qp));
    }

    /// Drop the learners [`forward`] found with `max_held` packets already held.
    fn close_over_held(&mut self, over: Vec<LearnerId>) {
        let max_held = self.cfg.max_held;
        for lid in over {
            self.close(
                lid,
                format!("more than {max_held} packets queued for it before UPTODATE"),
            );
        }
    }

    fn close(&mut self, lid: LearnerId, reason: String) {
        if self.learners.remove(&lid).is_some() {
            self.forget_pending_syncs(lid);
            self.actions.push(LeaderAction::Close(lid, reason));
        }
    }

    fn stop(&mut self, reason: String) {
        let lids: Vec<LearnerId> = self.learners.keys().copied().collect();
        for lid in lids {
            self.close(lid, "leader shutting down".into());
        }
        self.phase = Phase::Stopped;
        self.outstanding.clear();
        self.actions.push(LeaderAction::GiveUp(reason));
    }
}

fn sids(set: &BTreeSet<i64>) -> String {
    set.iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A live PROPOSAL/COMMIT/INFORM for forwarding learner `l`: sent, or held until its
/// UPTODATE while it is between NEWLEADER and UPTODATE (see the module doc); a learner
/// already holding `max_held` goes into `over` (closed by the caller, once the learner
/// table is no longer borrowed). A free function so the broadcast loops borrow the
/// learners and the action list side by side, with no list of ids per packet.
fn forward(
    actions: &mut Vec<LeaderAction>,
    lid: LearnerId,
    l: &mut Learner,
    qp: QuorumPacket,
    max_held: usize,
    over: &mut Vec<LearnerId>,
) {
    if l.stage == LearnerStage::Serving {
        actions.push(LeaderAction::Send(lid, qp));
    } else if l.held.len() >= max_held {
        if !over.contains(&lid) {
            over.push(lid);
        }
    } else {
        l.held.push_back(qp);
    }
}

#[cfg(test)]
#[path = "leader_tests.rs"]
mod tests;
