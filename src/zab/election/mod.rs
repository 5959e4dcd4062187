//! Fast leader election (`FastLeaderElection`, electionAlg=3) as a sans-I/O state machine.
//!
//! Owns: Java's `lookForLeader` round (logicalclock, the proposed vote, the `recvset` and
//! `outofelection` vote maps, `totalOrderPredicate`, the majority check over the voting
//! members, `checkLeader`, finalizeWait, the doubling notification timeout with
//! re-broadcast), the `WorkerReceiver` answers (a lagging LOOKING peer gets our proposal;
//! while we are not LOOKING a LOOKING peer gets our current vote; a non-voter always gets
//! our current vote), the observer variant (initial vote `Long.MIN_VALUE` x3, never
//! leads), and the config text every notification carries ([`config_bytes`]).
//! Must never: open sockets, read files or clocks, spawn, sleep. Time comes in as
//! `now_ms` arguments; what to send and what was decided come out of
//! [`FastLeaderElection::take_actions`]; [`FastLeaderElection::next_deadline`] says when
//! [`FastLeaderElection::on_timer`] wants to run next. The tokio shell that carries this
//! out is `server::election`.
//!
//! Messages to myself (Java's `toSend(mySid)` shortcut into its own receive queue) are
//! handled inside: they never appear as actions.
//!
//! Not modelled: reconfig (a notification with a newer config version does not restart
//! the election; its config is only logged), hierarchical quorums (weights are
//! `QuorumMaj`'s: 1 for everyone), the 2-node oracle (`QuorumOracleMaj`).
//! `QuorumCnxManager.haveDelivered()` is not visible here: on a timeout we always
//! re-broadcast, and the shell's one-slot send queues make that the same as Java's
//! "re-send, or reconnect if nothing was delivered".

pub mod wire;

#[cfg(test)]
mod tests;

pub use wire::{InitialForm, InitialMessage, Notification, PeerState, WireError};

use crate::config::{Config, PeerType, QuorumServer};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// `FastLeaderElection.finalizeWait`.
pub const FINALIZE_WAIT_MS: i64 = 200;
/// `zookeeper.fastleader.minNotificationInterval` default (= finalizeWait).
pub const MIN_NOTIFICATION_INTERVAL_MS: i64 = 200;
/// `zookeeper.fastleader.maxNotificationInterval` default.
pub const MAX_NOTIFICATION_INTERVAL_MS: i64 = 60_000;
/// Notifications kept while LOOKING but no round runs yet (Java's receive queue bound).
pub const PENDING_CAPACITY: usize = 100;

/// How old a LOOKING vote heard while following or leading may be and still be replayed
/// into the next round (see `heard_while_settled`).
pub const HEARD_WINDOW_MS: i64 = 1_000;

/// The config text notifications (and NEWLEADER) carry: `QuorumVerifier.toString()`,
/// i.e. `server.N=<QuorumServer.toString()>` lines joined by `\n`, then `version=<hex>`,
/// no trailing newline.
pub fn config_bytes(cfg: &Config) -> Bytes {
    Bytes::from(cfg.quorum_config_string())
}

/// The same text from a member list (sorted by sid) and a config version.
pub fn config_bytes_for<'a>(
    servers: impl IntoIterator<Item = &'a QuorumServer>,
    version: i64,
) -> Bytes {
    let mut servers: Vec<&QuorumServer> = servers.into_iter().collect();
    servers.sort_by_key(|s| s.id);
    let mut lines: Vec<String> = servers
        .iter()
        .map(|s| format!("server.{}={}", s.id, s.to_config_string()))
        .collect();
    lines.push(format!("version={version:x}"));
    Bytes::from(lines.join("\n"))
}

/// A vote: who should lead, with that candidate's zxid and epoch, and the round it is
/// from. (Java's `Vote` without the state and format version, which only matter inside
/// the vote maps.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    pub id: i64,
    pub zxid: i64,
    pub election_epoch: i64,
    pub peer_epoch: i64,
}

/// What a round ended with: our new state and the vote we follow (`endVote`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub state: PeerState,
    pub vote: Vote,
}

/// What the caller must carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue `n` for peer `to` (replacing anything still unsent to it).
    Send { to: i64, n: Notification },
    /// The round started by `start_round` is over.
    Decided(Decision),
}

/// Timing knobs (Java's constants and their system properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub min_notification_interval_ms: i64,
    pub max_notification_interval_ms: i64,
    pub finalize_wait_ms: i64,
}

impl Timing {
    /// The `zookeeper.fastleader.*` properties of a parsed zoo.cfg.
    pub fn from_config(cfg: &Config) -> Timing {
        Timing {
            min_notification_interval_ms: i64::from(cfg.fle_min_notification_interval_ms.max(1)),
            max_notification_interval_ms: i64::from(cfg.fle_max_notification_interval_ms.max(1)),
            finalize_wait_ms: FINALIZE_WAIT_MS,
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            min_notification_interval_ms: MIN_NOTIFICATION_INTERVAL_MS,
            max_notification_interval_ms: MAX_NOTIFICATION_INTERVAL_MS,
            finalize_wait_ms: FINALIZE_WAIT_MS,
        }
    }
}

/// `QuorumMaj`: a strict majority of the voting members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumMaj {
    voters: BTreeSet<i64>,
}

impl QuorumMaj {
    pub fn new(voters: impl IntoIterator<Item = i64>) -> QuorumMaj {
        QuorumMaj {
            voters: voters.into_iter().collect(),
        }
    }
    pub fn is_voter(&self, sid: i64) -> bool {
        self.voters.contains(&sid)
    }
    pub fn voters(&self) -> impl Iterator<Item = i64> + '_ {
        self.voters.iter().copied()
    }
    /// `QuorumMaj.getWeight`: 1 for every id.
    pub fn weight(&self, _sid: i64) -> i64 {
        1
    }
    /// `containsQuorum` over the voters among `acks`.
    pub fn contains_quorum<'a>(&self, acks: impl IntoIterator<Item = &'a i64>) -> bool {
        let n = acks.into_iter().filter(|s| self.voters.contains(s)).count();
        n > self.voters.len() / 2
    }
}

/// A vote as kept in `recvset` / `outofelection`: with the sender's state and message
/// format version, which `Vote.equals` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Recorded {
    vote: Vote,
    state: PeerState,
    version: i32,
}

impl Recorded {
    /// Java's `Vote.equals`: with a LOOKING side all four numbers count; between two
    /// out-of-election votes only the leader and its epoch (ZOOKEEPER-1805), and only
    /// the leader when one side predates ZOOKEEPER-1732 (version 0).
    fn same_as(&self, o: &Recorded) -> bool {
        let (a, b) = (&self.vote, &o.vote);
        if self.state == PeerState::Looking || o.state == PeerState::Looking {
            a.id == b.id
                && a.zxid == b.zxid
                && a.election_epoch == b.election_epoch
                && a.peer_epoch == b.peer_epoch
        } else if (self.version > 0) ^ (o.version > 0) {
            a.id == b.id
        } else {
            a.id == b.id && a.peer_epoch == b.peer_epoch
        }
    }
}

/// One `lookForLeader` call in progress.
#[derive(Debug)]
struct Round {
    last_logged_zxid: i64,
    current_epoch: i64,
    recvset: BTreeMap<i64, Recorded>,
    outofelection: BTreeMap<i64, Recorded>,
    /// The current receive timeout (`notTimeout`).
    not_timeout: i64,
    /// When the pending poll gives up (notification timeout, or end of finalizeWait).
    deadline: i64,
    /// A quorum agrees with our proposal; waiting finalizeWait for a better vote.
    finalizing: bool,
}

/// Fast leader election for one member. See the module doc.
#[derive(Debug)]
pub struct FastLeaderElection {
    my_sid: i64,
    participant: bool,
    quorum: QuorumMaj,
    config: Bytes,
    timing: Timing,
    state: PeerState,
    logicalclock: i64,
    proposed: (i64, i64, i64),
    /// `QuorumPeer.currentVote`: what we answer with while not looking.
    current_vote: Option<Vote>,
    round: Option<Round>,
    /// Notifications that came while LOOKING before a round started.
    pending: VecDeque<(i64, Notification)>,
    /// My own notifications, delivered to myself.
    self_queue: VecDeque<Notification>,
    actions: Vec<Action>,
    /// Voters whose election connection was up and is lost (see `set_lost`).
    lost: std::collections::BTreeSet<i64>,
    /// The newest LOOKING notification from each voter that came while I was following
    /// or leading, with when it came. Java answers it and forgets it; when its sender
    /// had noticed the leader's death a moment before I did, my own round then starts
    /// without its vote, and neither of us sends again until a notification timeout
    /// (200–600 ms of every failover). Replaying what came within `HEARD_WINDOW_MS`
    /// when my round starts is the same as the message arriving a little later, which
    /// the protocol must tolerate anyway (a deliberate difference; docs/compatibility.md).
    heard_while_settled: BTreeMap<i64, (i64, Notification)>,
}

impl FastLeaderElection {
    /// `voters` = the voting members' sids (may include `my_sid`); `participant` = my
    /// learner type is participant (false for an observer); `config` = the text every
    /// notification carries ([`config_bytes`]). Starts LOOKING with no round running.
    pub fn new(
        my_sid: i64,
        participant: bool,
        voters: impl IntoIterator<Item = i64>,
        config: Bytes,
        timing: Timing,
    ) -> FastLeaderElection {
        FastLeaderElection {
            my_sid,
            participant,
            quorum: QuorumMaj::new(voters),
            config,
            timing,
            state: PeerState::Looking,
            logicalclock: 0,
            proposed: (-1, -1, 0),
            current_vote: None,
            round: None,
            pending: VecDeque::new(),
            self_queue: VecDeque::new(),
            actions: Vec::new(),
            lost: Default::default(),
            heard_while_settled: BTreeMap::new(),
        }
    }

    /// The voters this member was connected to and lost (their process or host died, or
    /// the network between us broke). When every other voter has voted for my proposal
    /// in this round, the finalizeWait for a better vote is skipped: nobody left to hear
    /// from could send one. (A deliberate difference from Java, which always waits
    /// finalizeWait: it takes 200 ms off every failover. Safety does not rest on it — the
    /// new leader still needs a quorum's epochs and refuses a follower ahead of it.)
    pub fn set_lost(&mut self, lost: std::collections::BTreeSet<i64>) {
        self.lost = lost;
    }

    /// Every voter not lost has a vote in `votes` equal to `mine`.
    fn everyone_reachable_agrees(&self, votes: &BTreeMap<i64, Recorded>, mine: &Recorded) -> bool {
        !self.lost.is_empty()
            && self
                .quorum
                .voters()
                .all(|v| self.lost.contains(&v) || votes.get(&v).is_some_and(|x| mine.same_as(x)))
    }

    /// Built from a parsed zoo.cfg (`server_id` must be set).
    pub fn from_config(cfg: &Config, timing: Timing) -> Option<FastLeaderElection> {
        let me = cfg.server_id?;
        let participant = cfg
            .servers
            .get(&me)
            .map_or(cfg.peer_type == PeerType::Participant, |s| {
                s.peer_type == PeerType::Participant
            });
        Some(FastLeaderElection::new(
            me,
            participant,
            cfg.voting_members().map(|s| s.id),
            config_bytes(cfg),
            timing,
        ))
    }

    pub fn my_sid(&self) -> i64 {
        self.my_sid
    }
    pub fn state(&self) -> PeerState {
        self.state
    }
    pub fn logical_clock(&self) -> i64 {
        self.logicalclock
    }
    /// Our proposal in the current (or last) round: (leader, zxid, peer epoch).
    pub fn proposal(&self) -> (i64, i64, i64) {
        self.proposed
    }
    /// Java's `currentVote` (None before the first round).
    pub fn current_vote(&self) -> Option<Vote> {
        self.current_vote
    }
    pub fn is_looking_round(&self) -> bool {
        self.round.is_some()
    }

    /// The lost voters changed (a connection that had been up broke; `set_lost`). If
    /// finalizeWait is running and now everyone not lost has voted for my proposal,
    /// stop waiting: the voter we were waiting on will not answer.
    pub fn recheck_lost(&mut self, now_ms: i64, lost: std::collections::BTreeSet<i64>) {
        self.lost = lost;
        let (leader, zxid, epoch) = self.proposed;
        let mine = Recorded {
            vote: Vote {
                id: leader,
                zxid,
                election_epoch: self.logicalclock,
                peer_epoch: epoch,
            },
            state: PeerState::Looking,
            version: 0,
        };
        let done = self
            .round
            .as_ref()
            .is_some_and(|r| r.finalizing && self.everyone_reachable_agrees(&r.recvset, &mine));
        if done && let Some(r) = self.round.as_mut() {
            r.deadline = r.deadline.min(now_ms);
        }
    }

    /// Start a round (`lookForLeader`): logicalclock + 1, propose myself (or the
    /// observer's `Long.MIN_VALUE` triple) and tell every voter.
    pub fn start_round(&mut self, now_ms: i64, last_logged_zxid: i64, current_epoch: i64) {
        self.state = PeerState::Looking;
        let round = Round {
            last_logged_zxid,
            current_epoch,
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            not_timeout: self.timing.min_notification_interval_ms,
            deadline: now_ms + self.timing.min_notification_interval_ms,
            finalizing: false,
        };
        // QuorumPeer.startLeaderElection: the vote we answer non-voters with while
        // LOOKING before any round has decided.
        if self.current_vote.is_none() {
            self.current_vote = Some(Vote {
                id: self.my_sid,
                zxid: last_logged_zxid,
                election_epoch: -1,
                peer_epoch: current_epoch,
            });
        }
        self.round = Some(round);
        self.logicalclock += 1;
        self.proposed = self.init_vote();
        tracing::info!(
            "New election. My id = {}, proposed zxid=0x{:x}",
            self.my_sid,
            self.proposed.1
        );
        self.send_notifications();
        let pending: Vec<_> = self.pending.drain(..).collect();
        for (from, n) in pending {
            if self.round.is_none() {
                break;
            }
            self.main_loop(now_ms, from, n);
        }
        let heard = std::mem::take(&mut self.heard_while_settled);
        for (from, (at_ms, n)) in heard {
            if self.round.is_none() {
                break;
            }
            if now_ms - at_ms <= HEARD_WINDOW_MS && n.election_epoch >= self.logicalclock {
                tracing::debug!(
                    "replaying the LOOKING vote {from} sent {} ms ago",
                    now_ms - at_ms
                );
                self.main_loop(now_ms, from, n);
            }
        }
        self.drain_self(now_ms);
    }

    /// A notification from peer `from` (already decoded).
    pub fn on_notification(&mut self, now_ms: i64, from: i64, n: Notification) {
        self.receive(now_ms, from, n);
        self.drain_self(now_ms);
    }

    /// Run timers: the end of finalizeWait, or a notification timeout.
    pub fn on_timer(&mut self, now_ms: i64) {
        let Some(r) = self.round.as_mut() else {
            return;
        };
        if now_ms < r.deadline {
            return;
        }
        if r.finalizing {
            let (leader, zxid, epoch) = self.proposed;
            let end = Vote {
                id: leader,
                zxid,
                election_epoch: self.logicalclock,
                peer_epoch: epoch,
            };
            self.decide(leader, end);
        } else {
            r.not_timeout = (r.not_timeout.saturating_mul(2))
                .min(self.timing.max_notification_interval_ms)
                .max(1);
            r.deadline = now_ms + r.not_timeout;
            let t = r.not_timeout;
            self.send_notifications();
            tracing::info!("Notification time out: {t} ms");
        }
        self.drain_self(now_ms);
    }

    /// Set a state other than LOOKING with the vote to answer LOOKING peers with, ending
    /// any round in progress without a decision (e.g. a role chosen outside election).
    pub fn set_not_looking(&mut self, state: PeerState, vote: Vote) {
        self.state = state;
        self.current_vote = Some(vote);
        self.round = None;
        self.pending.clear();
        self.self_queue.clear();
    }

    /// After sync (`QuorumPeer.updateElectionVote`, ZOOKEEPER-1732): the epoch our
    /// answers report as peerEpoch.
    pub fn set_current_epoch(&mut self, epoch: i64) {
        if let Some(v) = self.current_vote.as_mut() {
            v.peer_epoch = epoch;
        }
    }

    /// Everything to carry out since the last call.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// When `on_timer` wants to run (None = no round in progress).
    pub fn next_deadline(&self) -> Option<i64> {
        self.round.as_ref().map(|r| r.deadline)
    }

    // ---- internals ----

    fn init_vote(&self) -> (i64, i64, i64) {
        let Some(r) = self.round.as_ref() else {
            return (i64::MIN, i64::MIN, i64::MIN);
        };
        (self.init_id(), self.init_zxid(r), self.init_epoch(r))
    }
    /// `getInitId`: my sid if I am a voting member.
    fn init_id(&self) -> i64 {
        if self.quorum.is_voter(self.my_sid) {
            self.my_sid
        } else {
            i64::MIN
        }
    }
    /// `getInitLastLoggedZxid`.
    fn init_zxid(&self, r: &Round) -> i64 {
        if self.participant {
            r.last_logged_zxid
        } else {
            i64::MIN
        }
    }
    /// `getPeerEpoch`.
    fn init_epoch(&self, r: &Round) -> i64 {
        if self.participant {
            r.current_epoch
        } else {
            i64::MIN
        }
    }

    fn learning_state(&self) -> PeerState {
        if self.participant {
            PeerState::Following
        } else {
            PeerState::Observing
        }
    }

    fn notification(
        &self,
        state: PeerState,
        v: (i64, i64, i64),
        election_epoch: i64,
    ) -> Notification {
        Notification::new(state, v.0, v.1, election_epoch, v.2, self.config.clone())
    }

    fn send(&mut self, to: i64, n: Notification) {
        if to == self.my_sid {
            self.self_queue.push_back(n);
        } else {
            self.actions.push(Action::Send { to, n });
        }
    }

    /// `sendNotifications`: my proposal, LOOKING, to every voter (me included).
    fn send_notifications(&mut self) {
        let n = self.notification(PeerState::Looking, self.proposed, self.logicalclock);
        let voters: Vec<i64> = self.quorum.voters().collect();
        for sid in voters {
            tracing::debug!(
                "Sending Notification: {} (n.leader), 0x{:x} (n.zxid), 0x{:x} (n.peerEpoch), \
                 0x{:x} (n.round), {} (recipient), {} (myid)",
                n.leader,
                n.zxid,
                n.peer_epoch,
                n.election_epoch,
                sid,
                self.my_sid
            );
            self.send(sid, n.clone());
        }
    }

    fn drain_self(&mut self, now_ms: i64) {
        // Bounded: each pass can only queue more self messages through a vote change,
        // which is monotone, or an answer to a LOOKING notification, which is not
        // itself answered.
        let mut guard = 0;
        while let Some(n) = self.self_queue.pop_front() {
            guard += 1;
            if guard > 64 {
                self.self_queue.clear();
                break;
            }
            self.receive(now_ms, self.my_sid, n);
        }
    }

    fn current_vote_or_init(&self) -> Vote {
        self.current_vote.unwrap_or(Vote {
            id: self.my_sid,
            zxid: -1,
            election_epoch: -1,
            peer_epoch: -1,
        })
    }

    /// `WorkerReceiver.run` after decoding.
    fn receive(&mut self, now_ms: i64, from: i64, n: Notification) {
        if !self.quorum.is_voter(from) {
            // A non-voter (observer): answer with our current vote, nothing else.
            let cv = self.current_vote_or_init();
            let reply = self.notification(
                self.state,
                (cv.id, cv.zxid, cv.peer_epoch),
                self.logicalclock,
            );
            self.send(from, reply);
            return;
        }
        tracing::info!(
            "Notification: my state:{}; n.sid:{}, n.state:{}, n.leader:{}, n.round:0x{:x}, \
             n.peerEpoch:0x{:x}, n.zxid:0x{:x}, message format version:0x{:x}, n.config version:0x{}",
            self.state,
            from,
            n.state,
            n.leader,
            n.election_epoch,
            n.peer_epoch,
            n.zxid,
            n.version,
            n.config_version_hex()
        );
        if self.state == PeerState::Looking {
            let lagging = n.state == PeerState::Looking && n.election_epoch < self.logicalclock;
            if lagging {
                let reply = self.notification(PeerState::Looking, self.proposed, self.logicalclock);
                self.send(from, reply);
            }
            if self.round.is_some() {
                self.main_loop(now_ms, from, n);
            } else {
                if self.pending.len() >= PENDING_CAPACITY {
                    self.pending.pop_front();
                }
                self.pending.push_back((from, n));
            }
        } else if n.state == PeerState::Looking {
            self.heard_while_settled.insert(from, (now_ms, n.clone()));
            let cv = self.current_vote_or_init();
            tracing::debug!(
                "Sending new notification. My id ={} recipient={} zxid=0x{:x} leader={}",
                self.my_sid,
                from,
                cv.zxid,
                cv.id
            );
            let reply = self.notification(
                self.state,
                (cv.id, cv.zxid, cv.peer_epoch),
                cv.election_epoch,
            );
            self.send(from, reply);
        }
    }

    /// `totalOrderPredicate(new, cur)`.
    fn total_order(&self, new: (i64, i64, i64), cur: (i64, i64, i64)) -> bool {
        let (new_id, new_zxid, new_epoch) = new;
        let (cur_id, cur_zxid, cur_epoch) = cur;
        if self.quorum.weight(new_id) == 0 {
            return false;
        }
        new_epoch > cur_epoch
            || (new_epoch == cur_epoch
                && (new_zxid > cur_zxid || (new_zxid == cur_zxid && new_id > cur_id)))
    }

    /// `getVoteTracker(votes, vote).hasAllQuorums()`.
    fn has_quorum(&self, votes: &BTreeMap<i64, Recorded>, vote: &Recorded) -> bool {
        self.quorum.contains_quorum(
            votes
                .iter()
                .filter(|(_, v)| vote.same_as(v))
                .map(|(sid, _)| sid),
        )
    }

    /// `checkLeader`: someone else must say it is LEADING; if it is me, the round must be
    /// the current one.
    fn check_leader(
        &self,
        votes: &BTreeMap<i64, Recorded>,
        leader: i64,
        election_epoch: i64,
    ) -> bool {
        if leader != self.my_sid {
            votes
                .get(&leader)
                .is_some_and(|v| v.state == PeerState::Leading)
        } else {
            self.logicalclock == election_epoch
        }
    }

    /// One notification through `lookForLeader`'s loop body.
    fn main_loop(&mut self, now_ms: i64, from: i64, n: Notification) {
        let cand = (n.leader, n.zxid, n.peer_epoch);
        let better = self.total_order(cand, self.proposed);
        let wait = self.timing.finalize_wait_ms;
        let Some(r) = self.round.as_mut() else {
            return;
        };
        if r.finalizing {
            // The finalizeWait poll: a better vote reopens the round, anything else is
            // dropped and the wait starts again -- unless it completes the votes of
            // every voter not lost (`set_lost`): then decide now.
            if better {
                r.finalizing = false;
            } else {
                r.deadline = now_ms + wait;
                let agrees = n.state == PeerState::Looking
                    && n.election_epoch == self.logicalclock
                    && (n.leader, n.zxid, n.peer_epoch) == self.proposed
                    && self.quorum.is_voter(from);
                if agrees && !self.lost.is_empty() {
                    let rec = Recorded {
                        vote: Vote {
                            id: n.leader,
                            zxid: n.zxid,
                            election_epoch: n.election_epoch,
                            peer_epoch: n.peer_epoch,
                        },
                        state: PeerState::Looking,
                        version: 0,
                    };
                    r.recvset.insert(from, rec);
                    let mine = rec;
                    let done = self
                        .round
                        .as_ref()
                        .is_some_and(|r| self.everyone_reachable_agrees(&r.recvset, &mine));
                    if done && let Some(r) = self.round.as_mut() {
                        r.deadline = now_ms;
                    }
                }
                return;
            }
        }
        r.deadline = now_ms + r.not_timeout;
        if !(self.quorum.is_voter(from) && self.quorum.is_voter(n.leader)) {
            if !self.quorum.is_voter(n.leader) {
                tracing::warn!(
                    "Ignoring notification for non-cluster member sid {} from sid {}",
                    n.leader,
                    from
                );
            }
            return;
        }
        match n.state {
            PeerState::Looking => self.looking_vote(now_ms, from, &n),
            PeerState::Observing => tracing::debug!("Notification from observer: {from}"),
            PeerState::Following | PeerState::Leading => self.out_of_election_vote(from, &n),
        }
    }

    fn looking_vote(&mut self, now_ms: i64, from: i64, n: &Notification) {
        let Some(r) = self.round.as_ref() else {
            return;
        };
        if self.init_zxid(r) == -1 {
            tracing::debug!("Ignoring notification as our zxid is -1");
            return;
        }
        if n.zxid == -1 {
            tracing::debug!("Ignoring notification from member with -1 zxid {from}");
            return;
        }
        let cand = (n.leader, n.zxid, n.peer_epoch);
        let init = (self.init_id(), self.init_zxid(r), self.init_epoch(r));
        if n.election_epoch > self.logicalclock {
            self.logicalclock = n.election_epoch;
            if let Some(r) = self.round.as_mut() {
                r.recvset.clear();
            }
            self.proposed = if self.total_order(cand, init) {
                cand
            } else {
                init
            };
            self.send_notifications();
        } else if n.election_epoch < self.logicalclock {
            tracing::debug!(
                "Notification election epoch is smaller than logicalclock. n.electionEpoch = \
                 0x{:x}, logicalclock=0x{:x}",
                n.election_epoch,
                self.logicalclock
            );
            return;
        } else if self.total_order(cand, self.proposed) {
            self.proposed = cand;
            self.send_notifications();
        }
        let rec = Recorded {
            vote: Vote {
                id: n.leader,
                zxid: n.zxid,
                election_epoch: n.election_epoch,
                peer_epoch: n.peer_epoch,
            },
            state: PeerState::Looking,
            version: 0,
        };
        let mine = Recorded {
            vote: Vote {
                id: self.proposed.0,
                zxid: self.proposed.1,
                election_epoch: self.logicalclock,
                peer_epoch: self.proposed.2,
            },
            state: PeerState::Looking,
            version: 0,
        };
        let Some(r) = self.round.as_mut() else {
            return;
        };
        r.recvset.insert(from, rec);
        let Some(r) = self.round.as_ref() else {
            return;
        };
        if self.has_quorum(&r.recvset, &mine) {
            let wait = if self.everyone_reachable_agrees(&r.recvset, &mine) {
                0
            } else {
                self.timing.finalize_wait_ms
            };
            if let Some(r) = self.round.as_mut() {
                r.finalizing = true;
                r.deadline = now_ms + wait;
            }
        }
    }

    /// `receivedFollowingNotification` (LEADING adds only the 2-node oracle, not
    /// modelled).
    fn out_of_election_vote(&mut self, from: i64, n: &Notification) {
        let vote = Vote {
            id: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
        };
        let theirs = Recorded {
            vote,
            state: n.state,
            version: n.version,
        };
        if n.election_epoch == self.logicalclock {
            let Some(r) = self.round.as_mut() else {
                return;
            };
            r.recvset.insert(
                from,
                Recorded {
                    vote,
                    state: n.state,
                    version: 0,
                },
            );
            let Some(r) = self.round.as_ref() else {
                return;
            };
            if self.has_quorum(&r.recvset, &theirs)
                && self.check_leader(&r.recvset, n.leader, n.election_epoch)
            {
                self.decide(n.leader, vote);
                return;
            }
        }
        let Some(r) = self.round.as_mut() else {
            return;
        };
        r.outofelection.insert(from, theirs);
        let Some(r) = self.round.as_ref() else {
            return;
        };
        if self.has_quorum(&r.outofelection, &theirs)
            && self.check_leader(&r.outofelection, n.leader, n.election_epoch)
        {
            self.logicalclock = n.election_epoch;
            self.decide(n.leader, vote);
        }
    }

    /// `setPeerState` + `leaveInstance`: the round is over.
    fn decide(&mut self, leader: i64, end: Vote) {
        let state = if leader == self.my_sid {
            PeerState::Leading
        } else {
            self.learning_state()
        };
        tracing::debug!(
            "About to leave FLE instance: leader={}, zxid=0x{:x}, my id={}, my state={}",
            end.id,
            end.zxid,
            self.my_sid,
            state
        );
        self.state = state;
        self.current_vote = Some(end);
        self.round = None;
        self.pending.clear();
        self.self_queue.clear();
        self.actions
            .push(Action::Decided(Decision { state, vote: end }));
    }
}
