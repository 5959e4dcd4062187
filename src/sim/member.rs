//! One simulated ensemble member: its disk (real log, snapshot and epoch files whose
//! durability the simulator decides), the election (`zab::election`) with its
//! connection manager, and the role in force (`zab::leader` / `zab::learner` around a
//! core), driven step for step as `server::quorum::{peer, lead, follow}` and
//! `server::election` drive them: LOOKING → decision → lead or follow → give up → the
//! tree fast-forwarded from the log (`PeerState::end_role`) → LOOKING.
//!
//! What the shell does with each action is mirrored: epoch files written through
//! `PeerState`, SNAP = `zab::snap::encode` of the tree at that step, TRUNC = the log cut
//! (`storage::truncate`) and the tree reloaded with production recovery, the learner's
//! NEWLEADER snapshot, the new leader's committed ring (`PeerState::committed_log`), the
//! protocol-to-core mapping (`server::quorum::glue`). Where the shell's code is async or
//! private, its synchronous equivalent is here (named in the report for extraction).
//!
//! The disk is the single-node simulator's (`node`): the log thread's work is split into
//! `write` (page cache) and `sync` (durable; the role hears `Logged`), and `crash` tears
//! every log file somewhere between what was synced and what was written. A role's end
//! waits for its log as `stop_persister` does; a crash does not.
//!
//! Owns: one member's state across roles and crashes, and what it reports for the
//! invariants (`Obs`).
//! Must never: decide a protocol question (the pure machines do), or see another
//! member except through `net`.

use super::client::SimConn;
use super::net::{ConnId, Delivery, Net, Payload, Port, Sid};
use super::rng::Rng;
use crate::jute::records::ConnectRequest;
use crate::server::core::{Core, InboundRequest, Input, Now, Role as CoreRole};
use crate::server::local_read::LocalReader;
use crate::server::outbox::Outbox;
use crate::server::persister::PersistBatch;
use crate::server::quorum::{PeerState, QuorumSettings, glue};
use crate::server::settings::Settings;
use crate::server::shared::{ConnLink, Shared};
use crate::server::{snapshotter, startup};
use crate::storage::{self, txlog::TxnLogWriter};
use crate::zab::election::{Action, FastLeaderElection, Notification, PeerState as Vote, Timing};
use crate::zab::leader::{Leader, LeaderAction, LeaderConfig, LearnerId};
use crate::zab::learner::{Learner, LearnerAction, LearnerConfig, ping_reply_packet};
use crate::zab::packet::{self, QuorumPacket};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The role loops' tick (`lead::TICK`, `follow::TICK`).
const TICK_MS: i64 = 50;

/// What a member reports for the invariant checks.
#[derive(Debug, Clone)]
pub enum Obs {
    /// A quorum acknowledged NEWLEADER: this member leads `epoch`.
    Established { epoch: i64 },
    /// This member learnt that the txn `zxid` (entry bytes hashed) is committed.
    Committed { zxid: i64, hash: u64 },
}

/// What the simulator hands every call: the network, the seeded randomness, the time,
/// and which members have a leader's quorum port open.
pub struct Ctx<'a> {
    pub net: &'a mut Net,
    pub rng: &'a mut Rng,
    pub now: Now,
    pub listening: &'a BTreeSet<Sid>,
    pub trace: bool,
}

pub fn hash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The log thread and the files' durability.
struct Disk {
    log: Option<TxnLogWriter>,
    queued: VecDeque<PersistBatch>,
    written_zxid: i64,
    synced_zxid: i64,
    written_len: BTreeMap<PathBuf, u64>,
    synced_len: BTreeMap<PathBuf, u64>,
}

impl Disk {
    fn write(&mut self) -> Result<(), String> {
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        while let Some(b) = self.queued.pop_front() {
            for e in &b.entries {
                log.append(e).map_err(|e| format!("append: {e}"))?;
            }
            if b.roll_after {
                if let Some(p) = log.current_path() {
                    self.written_len.insert(p.to_path_buf(), log.current_size());
                    self.synced_len.insert(p.to_path_buf(), log.current_size());
                }
                log.roll().map_err(|e| format!("roll: {e}"))?;
            }
            log.commit().map_err(|e| format!("write: {e}"))?;
            if let Some(p) = log.current_path() {
                self.written_len.insert(p.to_path_buf(), log.current_size());
            }
            self.written_zxid = b.last_zxid;
        }
        Ok(())
    }

    /// Durable through the returned zxid, if that is new.
    fn sync(&mut self) -> Option<i64> {
        if self.synced_zxid == self.written_zxid {
            return None;
        }
        self.synced_len = self.written_len.clone();
        self.synced_zxid = self.written_zxid;
        Some(self.synced_zxid)
    }

    /// `stop_persister`: what was handed over becomes durable, the log is closed.
    fn stop(&mut self) -> Result<(), String> {
        self.write()?;
        self.sync();
        self.log = None;
        Ok(())
    }

    fn open(&mut self, settings: &Settings) -> Result<(), String> {
        self.log = startup::open_log(settings).map_err(|e| format!("cannot open the log: {e}"))?;
        Ok(())
    }

    /// The files changed under us (truncation): what is there now is durable.
    fn rescan(&mut self) {
        let paths: Vec<PathBuf> = self.written_len.keys().cloned().collect();
        for p in paths {
            match std::fs::metadata(&p) {
                Ok(m) => {
                    self.written_len.insert(p.clone(), m.len());
                    self.synced_len.insert(p, m.len());
                }
                Err(_) => {
                    self.written_len.remove(&p);
                    self.synced_len.remove(&p);
                }
            }
        }
    }
}

/// The election connection manager's state for one peer (`cnx::Peer`): a one-slot send
/// queue, the last message sent (re-sent first on every new connection), the connection,
/// and whether the peer is lost (its connection had been up `LOST_AFTER_UP_MS` and broke).
#[derive(Default)]
struct ElectionPeer {
    queue: Option<Notification>,
    last_sent: Option<Notification>,
    conn: Option<ConnId>,
    up_since: Option<i64>,
    lost: bool,
}

/// `cnx::STABLE_FOR`: how long a connection must have been up for its breaking to make
/// the peer lost (`FastLeaderElection::set_lost`).
const LOST_AFTER_UP_MS: i64 = 1_000;

struct Leading {
    leader: Leader,
    core: Option<Core>,
    learners: BTreeSet<ConnId>,
    next_tick: i64,
    /// Proposed entries' hashes not yet known committed.
    proposed: BTreeMap<i64, u64>,
    /// `leader.txn_log_syncs()` already counted into `Member::txn_log_syncs`.
    txn_log_syncs_seen: u64,
}

enum Following {
    Connecting {
        leader: Sid,
        attempts: u32,
        next_at: i64,
        deadline: i64,
    },
    Connected(Box<Learning>),
}

struct Learning {
    leader: Sid,
    conn: ConnId,
    learner: Learner,
    core: Option<Core>,
    serving: bool,
    pending: Vec<LearnerAction>,
    next_tick: i64,
    /// The zxid of the SNAP packet whose body comes next.
    snap_zxid: Option<i64>,
    /// Logged entries' hashes (the txns a COMMIT names).
    logged: BTreeMap<i64, u64>,
}

enum RoleState {
    Looking,
    Leading(Box<Leading>),
    Following(Following),
}

pub struct Member {
    pub sid: Sid,
    pub settings: Arc<Settings>,
    pub st: PeerState,
    pub fle: FastLeaderElection,
    role: RoleState,
    disk: Disk,
    peers: BTreeMap<Sid, ElectionPeer>,
    _clients: tokio::sync::mpsc::Sender<Input>,
    pub obs: Vec<Obs>,
    /// Why roles ended, for traces.
    pub ended: Vec<String>,
    /// Syncs by SNAP (snapshot installed) and by TRUNC, since the caller last took them.
    pub snaps_installed: u64,
    pub truncs: u64,
    /// Trees reloaded from disk after a SNAP/TRUNC sync ended before its snapshot.
    pub reloads: u64,
    /// Learner syncs this member led that took txns from its txn log, not yet taken.
    txn_log_syncs: u64,
    /// The committed ring's capacity while leading: `zookeeper.commitLogCount` (500),
    /// or less (the run's choice) so that runs of a few hundred txns between snapshots
    /// leave learners below the ring and the txn-log sync is exercised.
    pub leader_ring: usize,
}

impl Member {
    /// Start (or restart) a member on `settings.data_dir`, recovering what is there, as
    /// `peer::start` does, and go LOOKING.
    pub fn start(
        quorum: Arc<QuorumSettings>,
        settings: Arc<Settings>,
        cx: &mut Ctx,
    ) -> Result<Member, String> {
        let (tree, rec) = startup::recover(&settings).map_err(|e| format!("recovery: {e}"))?;
        let dir = storage::version_dir(settings.data_dir.as_ref().ok_or("no data dir")?);
        let epochs =
            storage::epoch::load_epochs(&dir, rec.last_zxid).map_err(|e| format!("epochs: {e}"))?;
        let shared = Arc::new(Shared::new(
            tree,
            rec.last_zxid,
            settings.global_outstanding_limit,
        ));
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let mut st = PeerState {
            quorum: quorum.clone(),
            settings: settings.clone(),
            shared,
            sessions: rec.sessions,
            last_zxid: rec.last_zxid,
            accepted_epoch: epochs.accepted,
            current_epoch: epochs.current,
            clients: rx,
            committed: crate::zab::committed::CommittedLog::new(1),
        };
        st.reload_committed();
        st.set_config_node(cx.now.wall_ms);
        let fle = FastLeaderElection::new(
            quorum.my_sid,
            !quorum.observer,
            quorum.voters(),
            quorum.config_text.clone(),
            Timing::default(),
        );
        let mut m = Member {
            sid: quorum.my_sid,
            settings,
            st,
            fle,
            role: RoleState::Looking,
            disk: Disk {
                log: None,
                queued: VecDeque::new(),
                written_zxid: rec.last_zxid,
                synced_zxid: rec.last_zxid,
                written_len: BTreeMap::new(),
                synced_len: BTreeMap::new(),
            },
            peers: BTreeMap::new(),
            _clients: tx,
            obs: Vec::new(),
            ended: Vec::new(),
            snaps_installed: 0,
            truncs: 0,
            reloads: 0,
            txn_log_syncs: 0,
            leader_ring: crate::zab::committed::DEFAULT_COMMIT_LOG_COUNT,
        };
        m.look(cx);
        Ok(m)
    }

    fn look(&mut self, cx: &mut Ctx) {
        self.role = RoleState::Looking;
        self.fle.start_round(
            cx.now.mono_ms,
            self.st.last_logged_zxid(),
            self.st.current_epoch,
        );
        self.election_actions(cx);
    }

    /// Learner syncs from the txn log since the last call.
    pub fn take_txn_log_syncs(&mut self) -> u64 {
        if let RoleState::Leading(l) = &mut self.role {
            let n = l.leader.txn_log_syncs();
            self.txn_log_syncs += n - l.txn_log_syncs_seen;
            l.txn_log_syncs_seen = n;
        }
        std::mem::take(&mut self.txn_log_syncs)
    }

    /// A short name of the role, for traces.
    pub fn role_name(&self) -> String {
        match &self.role {
            RoleState::Looking => "looking".into(),
            RoleState::Leading(l) => format!(
                "leading{}",
                if l.core.is_some() {
                    " (established)"
                } else {
                    ""
                }
            ),
            RoleState::Following(Following::Connecting { leader, .. }) => {
                format!("connecting to {leader}")
            }
            RoleState::Following(Following::Connected(l)) => format!(
                "following {}{}",
                l.leader,
                if l.serving { " (serving)" } else { "" }
            ),
        }
    }

    /// Whether a leader's quorum port is open here.
    pub fn is_leading(&self) -> bool {
        matches!(self.role, RoleState::Leading(_))
    }

    /// The core serving clients, if this member serves now.
    pub fn serving_core(&mut self) -> Option<&mut Core> {
        match &mut self.role {
            RoleState::Leading(l) => l.core.as_mut(),
            RoleState::Following(Following::Connected(l)) if l.serving => l.core.as_mut(),
            _ => None,
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.st.shared
    }

    /// The zxid the tree has applied.
    pub fn applied(&self) -> i64 {
        self.st
            .shared
            .last_applied
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn has_unsynced(&self) -> bool {
        !self.disk.queued.is_empty() || self.disk.written_zxid != self.disk.synced_zxid
    }

    // ---- the network ----

    pub fn deliver(&mut self, d: Delivery, cx: &mut Ctx) -> Result<(), String> {
        match d {
            Delivery::Accepted {
                conn,
                port: Port::Election,
                peer,
                ..
            } => {
                if !cx.net.is_open(conn) {
                    return Ok(());
                }
                let keep_mine = self.sid > peer;
                let p = self.peers.entry(peer).or_default();
                match p.conn {
                    Some(mine) if keep_mine && cx.net.is_open(mine) => cx.net.close(conn),
                    old => {
                        if let Some(old) = old {
                            cx.net.close(old);
                        }
                        p.conn = Some(conn);
                        self.election_connected(peer, cx);
                    }
                }
            }
            Delivery::Accepted {
                conn,
                port: Port::Quorum,
                ..
            } => {
                if !cx.net.is_open(conn) {
                    return Ok(());
                }
                match &mut self.role {
                    RoleState::Leading(l) => {
                        l.learners.insert(conn);
                        if l.leader
                            .learner_connected(cx.now.mono_ms, LearnerId(conn))
                            .is_err()
                        {
                            l.learners.remove(&conn);
                            cx.net.close(conn);
                        }
                    }
                    _ => cx.net.close(conn),
                }
            }
            Delivery::Broken {
                conn, port, peer, ..
            } => match port {
                Port::Election => {
                    let now = cx.now.mono_ms;
                    if let Some(p) = self.peers.get_mut(&peer)
                        && p.conn == Some(conn)
                    {
                        p.conn = None;
                        p.lost = p
                            .up_since
                            .take()
                            .is_some_and(|t| now - t >= LOST_AFTER_UP_MS);
                        if p.lost {
                            // As the driver on `Manager::lost_changed`.
                            let lost = self.lost_peers();
                            self.fle.recheck_lost(now, lost);
                            self.election_actions(cx);
                        }
                    }
                }
                Port::Quorum => match &mut self.role {
                    RoleState::Leading(l) if l.learners.contains(&conn) => {
                        l.learners.remove(&conn);
                        l.leader.learner_gone(LearnerId(conn));
                    }
                    RoleState::Following(Following::Connected(l)) if l.conn == conn => {
                        return self.end_role("leader link: connection broken".into(), cx);
                    }
                    _ => {}
                },
            },
            Delivery::Message {
                conn,
                port,
                from,
                payload,
                ..
            } => match (port, payload) {
                (Port::Election, Payload::Vote(n)) => {
                    let lost = self.lost_peers();
                    self.fle.set_lost(lost);
                    self.fle.on_notification(cx.now.mono_ms, from, n);
                    self.election_actions(cx);
                    return Ok(());
                }
                (Port::Quorum, Payload::Packet(p)) => match &mut self.role {
                    RoleState::Leading(l) if l.learners.contains(&conn) => {
                        l.leader.on_packet(cx.now.mono_ms, LearnerId(conn), p)
                    }
                    RoleState::Following(Following::Connected(l)) if l.conn == conn => {
                        if p.kind == packet::kind::SNAP {
                            l.snap_zxid = Some(p.zxid);
                        }
                        l.learner.on_packet(cx.now.mono_ms, p);
                    }
                    _ => return Ok(()),
                },
                (Port::Quorum, Payload::SnapBody(b)) => {
                    let RoleState::Following(Following::Connected(l)) = &mut self.role else {
                        return Ok(());
                    };
                    if l.conn != conn {
                        return Ok(());
                    }
                    let Some(z) = l.snap_zxid.take() else {
                        return self.end_role("a snapshot body without SNAP".into(), cx);
                    };
                    let ext = self.settings.prep.extended_types_enabled;
                    let max = self.settings.jute_limits().field();
                    match crate::zab::snap::decode(&b, ext, max, z) {
                        Ok((s, used)) if used == b.len() => {
                            let zxid = s.tree.last_processed_zxid();
                            self.snaps_installed += 1;
                            self.st
                                .install_tree(s.tree, s.sessions, zxid, cx.now.wall_ms);
                            let RoleState::Following(Following::Connected(l)) = &mut self.role
                            else {
                                return Ok(());
                            };
                            l.core = Some(learner_core(&self.st, cx.now));
                            l.learner.snapshot_loaded(zxid);
                        }
                        Ok(_) => {
                            return self.end_role("bytes after the snapshot stream".into(), cx);
                        }
                        Err(e) => return self.end_role(format!("bad snapshot stream: {e}"), cx),
                    }
                }
                _ => return Err("a message on the wrong port".into()),
            },
        }
        self.process(cx)
    }

    /// `cnx::Manager::lost_peers`.
    fn lost_peers(&self) -> std::collections::BTreeSet<i64> {
        self.peers
            .iter()
            .filter(|(_, p)| p.lost && p.conn.is_none())
            .map(|(sid, _)| *sid)
            .collect()
    }

    /// `cnx::Manager::to_send`.
    fn queue_vote(&mut self, to: Sid, n: Notification, cx: &mut Ctx) {
        let p = self.peers.entry(to).or_default();
        p.queue = Some(n);
        if p.conn.is_none_or(|c| !cx.net.is_open(c)) {
            p.conn = cx.net.connect(self.sid, to, Port::Election, true);
            if p.conn.is_none() {
                return;
            }
        }
        self.election_connected(to, cx);
    }

    /// A connection to `peer` is up: the send worker re-sends the last message if the
    /// queue is empty, then sends what is queued.
    fn election_connected(&mut self, peer: Sid, cx: &mut Ctx) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(conn) = p.conn else {
            return;
        };
        p.up_since.get_or_insert(cx.now.mono_ms);
        p.lost = false;
        let fresh = p.queue.take();
        let n = match fresh {
            Some(n) => n,
            None => match p.last_sent.clone() {
                Some(n) => n,
                None => return,
            },
        };
        p.last_sent = Some(n.clone());
        if !cx.net.send(
            conn,
            self.sid,
            Payload::Vote(n.clone()),
            cx.now.mono_ms,
            cx.rng,
        ) {
            p.conn = None;
            p.queue = Some(n);
        }
    }

    fn election_actions(&mut self, cx: &mut Ctx) {
        for a in self.fle.take_actions() {
            match a {
                Action::Send { to, n } => self.queue_vote(to, n, cx),
                Action::Decided(d) => {
                    if cx.trace {
                        eprintln!(
                            "  member {} decided {:?} (leader {}, zxid 0x{:x})",
                            self.sid, d.state, d.vote.id, d.vote.zxid
                        );
                    }
                    match d.state {
                        Vote::Leading => self.start_leading(cx),
                        Vote::Following | Vote::Observing => {
                            self.role = RoleState::Following(Following::Connecting {
                                leader: d.vote.id,
                                attempts: 0,
                                next_at: cx.now.mono_ms,
                                deadline: cx.now.mono_ms
                                    + self.st.quorum.tick_ms * self.st.quorum.init_limit,
                            });
                        }
                        Vote::Looking => self.look(cx),
                    }
                }
            }
        }
    }

    fn start_leading(&mut self, cx: &mut Ctx) {
        let q = self.st.quorum.clone();
        if let Err(e) = self.disk.open(&self.settings) {
            self.ended.push(e);
            return self.look(cx);
        }
        let mut cfg = LeaderConfig::new(
            q.my_sid,
            q.voters().into_iter().collect(),
            q.tick_ms,
            q.init_limit,
            q.sync_limit,
            q.config_text.clone(),
        );
        cfg.config_version = q.config_version;
        if cx.trace {
            eprintln!(
                "  member {} leads from ring {:x?}..{:x?} ({} proposals), last zxid 0x{:x}",
                self.sid,
                self.st.committed.min_zxid(),
                self.st.committed.max_zxid(),
                self.st.committed.len(),
                self.st.last_logged_zxid()
            );
        }
        let mut ring = std::mem::replace(
            &mut self.st.committed,
            crate::zab::committed::CommittedLog::new(1),
        );
        if ring.capacity() > self.leader_ring {
            let mut small = crate::zab::committed::CommittedLog::new(self.leader_ring);
            for p in ring.iter() {
                if small.add(p.zxid, p.data.clone()).is_err() {
                    small.clear();
                }
            }
            ring = small;
        }
        let mut leader = Leader::new(
            cfg,
            cx.now.mono_ms,
            self.st.accepted_epoch,
            self.st.current_epoch,
            self.st.last_logged_zxid(),
            ring,
        );
        // As `lead`: learners below the ring are synced from this member's log files.
        if let Some(src) = crate::server::quorum::txnlog_sync::DiskTxnLog::for_member(&self.st) {
            leader.set_txn_log(Box::new(src));
        }
        self.role = RoleState::Leading(Box::new(Leading {
            leader,
            core: None,
            learners: BTreeSet::new(),
            next_tick: cx.now.mono_ms + TICK_MS,
            proposed: BTreeMap::new(),
            txn_log_syncs_seen: 0,
        }));
    }

    /// Timers: the election's, the role's tick, the learner's connection attempts.
    pub fn timers(&mut self, cx: &mut Ctx) -> Result<(), String> {
        let now = cx.now.mono_ms;
        if self.fle.next_deadline().is_some_and(|d| d <= now) {
            self.fle.on_timer(now);
            self.election_actions(cx);
        }
        match &mut self.role {
            RoleState::Looking => return Ok(()),
            RoleState::Leading(l) => {
                if l.next_tick <= now {
                    l.next_tick = now + TICK_MS;
                    l.leader.tick(now);
                    if let Some(c) = l.core.as_mut() {
                        c.step(Input::Tick, cx.now);
                    }
                }
            }
            RoleState::Following(Following::Connecting {
                leader,
                attempts,
                next_at,
                deadline,
            }) => {
                if *next_at > now {
                    return Ok(());
                }
                let leader = *leader;
                let accepting = cx.listening.contains(&leader);
                match cx.net.connect(self.sid, leader, Port::Quorum, accepting) {
                    Some(conn) => return self.start_following(leader, conn, cx),
                    None => {
                        *attempts += 1;
                        *next_at = now + 100;
                        if *attempts >= 5 || *next_at > *deadline {
                            return self
                                .end_role(format!("could not connect to leader {leader}"), cx);
                        }
                        return Ok(());
                    }
                }
            }
            RoleState::Following(Following::Connected(l)) => {
                if l.next_tick <= now {
                    l.next_tick = now + TICK_MS;
                    l.learner.tick(now);
                    if let Some(c) = l.core.as_mut() {
                        c.step(Input::Tick, cx.now);
                    }
                }
            }
        }
        self.process(cx)
    }

    fn start_following(&mut self, leader: Sid, conn: ConnId, cx: &mut Ctx) -> Result<(), String> {
        if let Err(e) = self.disk.open(&self.settings) {
            cx.net.close(conn);
            return self.end_role(e, cx);
        }
        let q = self.st.quorum.clone();
        let cfg = LearnerConfig::new(
            q.my_sid,
            q.observer,
            q.tick_ms,
            q.init_limit,
            q.sync_limit,
            q.config_version,
        );
        let mut learner = Learner::new(
            cfg,
            cx.now.mono_ms,
            self.st.accepted_epoch,
            self.st.current_epoch,
            self.st.last_logged_zxid(),
        );
        learner.start();
        self.role = RoleState::Following(Following::Connected(Box::new(Learning {
            leader,
            conn,
            learner,
            core: Some(learner_core(&self.st, cx.now)),
            serving: false,
            pending: Vec::new(),
            next_tick: cx.now.mono_ms + TICK_MS,
            snap_zxid: None,
            logged: BTreeMap::new(),
        })));
        self.process(cx)
    }

    // ---- the disk ----

    /// The log thread writes what it was handed (not yet durable).
    pub fn disk_write(&mut self) -> Result<(), String> {
        self.disk.write()
    }

    /// What was written becomes durable; the role hears it.
    pub fn disk_sync(&mut self, cx: &mut Ctx) -> Result<(), String> {
        let Some(z) = self.disk.sync() else {
            return Ok(());
        };
        match &mut self.role {
            RoleState::Leading(l) => {
                if let Some(c) = l.core.as_mut() {
                    c.step(Input::Logged(z), cx.now);
                }
                l.leader.logged(z);
            }
            RoleState::Following(Following::Connected(l)) => {
                if let Some(c) = l.core.as_mut() {
                    c.step(Input::Logged(z), cx.now);
                }
                l.learner.logged(z);
            }
            _ => return Ok(()),
        }
        self.process(cx)
    }

    /// Power loss: every log file keeps what was synced plus a random part of what was
    /// written after it. Epoch files and snapshots are written whole and synced.
    pub fn crash(self, rng: &mut Rng) -> Result<(), String> {
        super::node::tear_unsynced(&self.disk.written_len, &self.disk.synced_len, rng)
    }

    // ---- clients ----

    /// A client connects here (None when this member does not serve: the shell turns
    /// the handshake away).
    pub fn connect(
        &mut self,
        id: crate::server::shared::ConnId,
        req: ConnectRequest,
        cx: &mut Ctx,
    ) -> Result<Option<SimConn>, String> {
        let shared = self.st.shared.clone();
        let acl_rules = self.settings.prep.acl_rules();
        let Some(core) = self.serving_core() else {
            return Ok(None);
        };
        static QUEUED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let outbox = Arc::new(Outbox::counted_in(None, &QUEUED));
        let link = Arc::new(ConnLink::new(shared.throttle.clone()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let reader = LocalReader {
            shared,
            link: link.clone(),
            conn: id,
            acl_rules,
            enforce_auth_schemes: None,
            touch_every: Duration::from_secs(3600),
            last_touch: std::time::Instant::now(),
            pending: Default::default(),
        };
        let conn = SimConn::new(id, outbox.clone(), link.clone(), reader, rx);
        let peer = ([127, 0, 0, 1], 40000 + (id % 20000) as u16).into();
        core.step(
            Input::Connect {
                conn: id,
                peer,
                req,
                outbox,
                link,
                reply: tx,
            },
            cx.now,
        );
        self.process(cx)?;
        Ok(Some(conn))
    }

    /// A client request on `conn` (reads the connection serves itself never get here).
    pub fn request(
        &mut self,
        conn: &SimConn,
        r: InboundRequest,
        cx: &mut Ctx,
    ) -> Result<(), String> {
        let Some(core) = self.serving_core() else {
            return Ok(());
        };
        conn.link.sent_to_core(1);
        core.step(
            Input::Requests {
                conn: conn.id,
                reqs: vec![r],
            },
            cx.now,
        );
        self.process(cx)
    }

    pub fn disconnect(
        &mut self,
        conn: crate::server::shared::ConnId,
        cx: &mut Ctx,
    ) -> Result<(), String> {
        let Some(core) = self.serving_core() else {
            return Ok(());
        };
        core.step(Input::Disconnected { conn }, cx.now);
        self.process(cx)
    }

    // ---- carrying out actions ----

    /// The core's actions as `CoreShell::carry_out` does them (snapshots synchronously):
    /// the log batches (seen by `on_persist` first), the learner core's packets for the
    /// leader, and the leader core's syncs.
    fn carry_out(
        settings: &Settings,
        shared: &Shared,
        core: &mut Core,
        disk: &mut Disk,
        now: Now,
        mut on_persist: impl FnMut(&PersistBatch, &mut VecDeque<(u64, i64)>),
    ) -> (Vec<QuorumPacket>, VecDeque<(u64, i64)>) {
        let mut to_leader = Vec::new();
        let mut syncs = VecDeque::new();
        loop {
            let a = core.take_actions();
            syncs.extend(a.syncs);
            for b in &a.persist {
                on_persist(b, &mut syncs);
            }
            disk.queued.extend(a.persist);
            to_leader.extend(a.to_leader);
            let mut flush = a.flush;
            flush.flush();
            let Some(order) = a.snapshot else {
                return (to_leader, syncs);
            };
            let done = match settings.data_dir.as_ref() {
                Some(d) => snapshotter::write(&storage::version_dir(d), &order, shared),
                None => Err("no data directory".into()),
            };
            core.step(Input::SnapshotDone(done), now);
        }
    }

    /// After an event: the role's actions in order, as the role loops do after each
    /// `select!` round.
    fn process(&mut self, cx: &mut Ctx) -> Result<(), String> {
        let r = match &self.role {
            RoleState::Leading(_) => self.process_leading(cx),
            RoleState::Following(Following::Connected(_)) => self.process_following(cx),
            _ => Ok(None),
        }?;
        match r {
            Some(reason) => self.end_role(reason, cx),
            None => Ok(()),
        }
    }

    /// `lead.rs`'s inner loop; Some(reason) when the leader gives up.
    fn process_leading(&mut self, cx: &mut Ctx) -> Result<Option<String>, String> {
        let RoleState::Leading(l) = &mut self.role else {
            return Ok(None);
        };
        loop {
            if let Some(c) = l.core.as_mut() {
                let mut refused = None;
                let leader = &mut l.leader;
                let proposed = &mut l.proposed;
                let (to_leader, mut syncs) = Self::carry_out(
                    &self.settings,
                    &self.st.shared,
                    c,
                    &mut self.disk,
                    cx.now,
                    |b, syncs| {
                        for (z, e) in b.zxids.iter().zip(&b.entries) {
                            proposed.insert(*z, hash(e));
                        }
                        if refused.is_none()
                            && let Err((z, err)) = glue::propose_batch(leader, b, syncs)
                        {
                            refused = Some(format!("cannot propose 0x{z:x}: {err}"));
                        }
                    },
                );
                if !to_leader.is_empty() {
                    return Err("a leader's core has packets for a leader".into());
                }
                if let Some(r) = refused {
                    return Ok(Some(r));
                }
                glue::hand_syncs_before(&mut l.leader, &mut syncs, i64::MAX);
            }
            let actions = l.leader.take_actions();
            if actions.is_empty() {
                return Ok(None);
            }
            for a in actions {
                let a = match glue::leader_action_input(a) {
                    Ok(input) => {
                        if let Input::Committed(z) = &input {
                            let z = *z;
                            let rest = l.proposed.split_off(&(z + 1));
                            for (zxid, hash) in std::mem::replace(&mut l.proposed, rest) {
                                self.obs.push(Obs::Committed { zxid, hash });
                            }
                        }
                        if let Some(c) = l.core.as_mut() {
                            c.step(input, cx.now);
                        }
                        continue;
                    }
                    Err(a) => a,
                };
                match a {
                    LeaderAction::PersistAcceptedEpoch(e) => {
                        if let Err(err) = self.st.write_accepted_epoch(e) {
                            return Ok(Some(format!("cannot write acceptedEpoch: {err}")));
                        }
                    }
                    LeaderAction::PersistCurrentEpoch(e) => {
                        if let Err(err) = self.st.write_current_epoch(e) {
                            return Ok(Some(format!("cannot write currentEpoch: {err}")));
                        }
                        self.fle.set_current_epoch(e);
                    }
                    LeaderAction::Send(lid, p) => {
                        if !cx
                            .net
                            .send(lid.0, self.sid, Payload::Packet(p), cx.now.mono_ms, cx.rng)
                        {
                            l.learners.remove(&lid.0);
                            l.leader.learner_gone(lid);
                        }
                    }
                    LeaderAction::SendSnapshot { lid, zxid } => {
                        // SNAP(zxid), then the tree as it is at this step.
                        let sessions = l
                            .core
                            .as_ref()
                            .map(|c| c.sessions())
                            .unwrap_or_else(|| self.st.sessions.clone());
                        let body = {
                            let tree = self.st.shared.tree.read();
                            crate::zab::snap::encode(&tree, &sessions)
                        };
                        let snap = QuorumPacket::new(packet::kind::SNAP, zxid);
                        let ok = cx.net.send(
                            lid.0,
                            self.sid,
                            Payload::Packet(snap),
                            cx.now.mono_ms,
                            cx.rng,
                        ) && cx.net.send(
                            lid.0,
                            self.sid,
                            Payload::SnapBody(body),
                            cx.now.mono_ms,
                            cx.rng,
                        );
                        if !ok {
                            l.learners.remove(&lid.0);
                            l.leader.learner_gone(lid);
                        }
                    }
                    LeaderAction::Close(lid, _why) => {
                        l.learners.remove(&lid.0);
                        cx.net.close(lid.0);
                    }
                    LeaderAction::Established { epoch } => {
                        if cx.trace {
                            eprintln!("  member {} leads epoch {epoch}", self.sid);
                        }
                        self.obs.push(Obs::Established { epoch });
                        let mut c = self.st.new_core(Default::default(), cx.now);
                        self.fle.set_current_epoch(epoch);
                        c.set_role(CoreRole::Leader {
                            epoch: epoch as u32,
                        });
                        l.core = Some(c);
                    }
                    LeaderAction::Revalidate {
                        lid, session_id, ..
                    } => {
                        let valid = l.core.as_mut().is_some_and(|c| c.revalidate(session_id));
                        l.leader.revalidated(lid, session_id, valid);
                    }
                    LeaderAction::GiveUp(r) => return Ok(Some(r)),
                    LeaderAction::Commit(_)
                    | LeaderAction::Request { .. }
                    | LeaderAction::Touch(_) => {}
                }
            }
        }
    }

    /// `follow.rs`'s round after an event; Some(reason) when following ends.
    fn process_following(&mut self, cx: &mut Ctx) -> Result<Option<String>, String> {
        let RoleState::Following(Following::Connected(l)) = &mut self.role else {
            return Ok(None);
        };
        let mut actions = std::mem::take(&mut l.pending);
        actions.extend(l.learner.take_actions());
        for a in actions {
            if let LearnerAction::Log { zxid, entry } = &a {
                l.logged.insert(*zxid, hash(entry));
            }
            if let LearnerAction::Commit { zxid, txn } = &a {
                self.st
                    .committed_txn(*zxid, crate::txn::codec::encode_entry(txn));
            }
            if let LearnerAction::Commit { zxid, .. } = &a
                && let Some(h) = l.logged.remove(zxid)
            {
                self.obs.push(Obs::Committed {
                    zxid: *zxid,
                    hash: h,
                });
            }
            let a = match glue::learner_action_input(a) {
                Ok(input) => {
                    if let Some(c) = l.core.as_mut() {
                        c.step(input, cx.now);
                    }
                    continue;
                }
                Err(a) => a,
            };
            match a {
                LearnerAction::Send(p) => {
                    if !cx
                        .net
                        .send(l.conn, self.sid, Payload::Packet(p), cx.now.mono_ms, cx.rng)
                    {
                        return Ok(Some("the leader link is full or gone".into()));
                    }
                }
                LearnerAction::PersistAcceptedEpoch(e) => {
                    if let Err(err) = self.st.write_accepted_epoch(e) {
                        return Ok(Some(format!("cannot write acceptedEpoch: {err}")));
                    }
                }
                LearnerAction::PersistCurrentEpoch(e) => {
                    if let Err(err) = self.st.write_current_epoch(e) {
                        return Ok(Some(format!("cannot write currentEpoch: {err}")));
                    }
                    self.fle.set_current_epoch(e);
                }
                LearnerAction::ReadSnapshot { .. } => {}
                LearnerAction::Truncate { zxid } => {
                    // follow::truncate: stop the log thread, cut the log, reload from
                    // disk, a new log thread and core.
                    self.truncs += 1;
                    self.disk.stop()?;
                    l.core = None;
                    if let Some(dir) = self.st.log_dir()
                        && let Err(e) = storage::truncate::truncate_log(&dir, zxid)
                    {
                        return Ok(Some(format!("cannot truncate the log to 0x{zxid:x}: {e}")));
                    }
                    self.disk.rescan();
                    let (tree, rec) = startup::recover(&self.settings)
                        .map_err(|e| format!("cannot reload after TRUNC 0x{zxid:x}: {e}"))?;
                    // follow::truncate gives up here; in a correct run it never happens.
                    if !crate::server::quorum::trunc_reached(zxid, rec.last_zxid) {
                        return Err(format!(
                            "member {}: TRUNC to 0x{zxid:x} left the tree at 0x{:x}",
                            self.sid, rec.last_zxid
                        ));
                    }
                    self.st
                        .install_tree(tree, rec.sessions, rec.last_zxid, cx.now.wall_ms);
                    self.st.reload_committed();
                    self.disk.written_zxid = rec.last_zxid;
                    self.disk.synced_zxid = rec.last_zxid;
                    self.disk.open(&self.settings)?;
                    l.core = Some(learner_core(&self.st, cx.now));
                }
                LearnerAction::TakeSnapshot { zxid } => {
                    if let Some(dir) = self.st.snap_dir() {
                        let sessions = l
                            .core
                            .as_ref()
                            .map(|c| c.sessions())
                            .unwrap_or_else(|| self.st.sessions.clone());
                        let tree = self.st.shared.tree.read();
                        if let Err(e) = startup::write_snapshot(&dir, &tree, &sessions, zxid) {
                            return Ok(Some(format!("cannot write the sync snapshot: {e}")));
                        }
                    }
                    l.learner.snapshot_taken(zxid);
                }
                LearnerAction::StartServing { .. } => {
                    l.serving = true;
                    if let Some(c) = l.core.as_mut() {
                        c.release_snapshots();
                    }
                }
                LearnerAction::PingReply { zxid } => {
                    let touches = l
                        .core
                        .as_mut()
                        .map(|c| c.take_touches())
                        .unwrap_or_default();
                    if !cx.net.send(
                        l.conn,
                        self.sid,
                        Payload::Packet(ping_reply_packet(zxid, &touches)),
                        cx.now.mono_ms,
                        cx.rng,
                    ) {
                        return Ok(Some("the leader link is full or gone".into()));
                    }
                }
                LearnerAction::GiveUp(r) => return Ok(Some(r.to_string())),
                LearnerAction::Log { .. }
                | LearnerAction::Commit { .. }
                | LearnerAction::SyncDone
                | LearnerAction::Revalidated { .. } => {}
            }
        }
        if let Some(c) = l.core.as_mut() {
            let (to_leader, syncs) = Self::carry_out(
                &self.settings,
                &self.st.shared,
                c,
                &mut self.disk,
                cx.now,
                |_, _| {},
            );
            if !syncs.is_empty() {
                return Err("a learner's core handed out leader syncs".into());
            }
            for p in to_leader {
                // A refusal is only logged by the shell.
                let _ = glue::core_packet_to_learner(&mut l.learner, p);
            }
            for a in l.learner.take_actions() {
                match a {
                    LearnerAction::Send(p) => {
                        if !cx.net.send(
                            l.conn,
                            self.sid,
                            Payload::Packet(p),
                            cx.now.mono_ms,
                            cx.rng,
                        ) {
                            return Ok(Some("the leader link is full or gone".into()));
                        }
                    }
                    other => l.pending.push(other),
                }
            }
        }
        Ok(None)
    }

    /// A role ended: close its links, let its log finish (`stop_persister`), hand the
    /// core's state back and fast-forward the tree (`PeerState::end_role`), go LOOKING.
    fn end_role(&mut self, reason: String, cx: &mut Ctx) -> Result<(), String> {
        if cx.trace {
            eprintln!("  member {} role ended: {reason}", self.sid);
        }
        self.ended.push(reason);
        let mut reload = false;
        let core = match std::mem::replace(&mut self.role, RoleState::Looking) {
            RoleState::Leading(l) => {
                for c in &l.learners {
                    cx.net.close(*c);
                }
                // The ring goes on with the member, as lead.rs does.
                self.st.committed = l.leader.committed_log().clone();
                self.txn_log_syncs += l.leader.txn_log_syncs() - l.txn_log_syncs_seen;
                l.core
            }
            RoleState::Following(Following::Connected(l)) => {
                cx.net.close(l.conn);
                reload = l.learner.tree_ahead_of_disk();
                l.core
            }
            _ => None,
        };
        self.disk.stop()?;
        self.st.end_role(core)?;
        if reload {
            // follow.rs does the same after a sync that ended before its snapshot.
            self.reloads += 1;
            self.st.reload_from_disk(cx.now.wall_ms)?;
        }
        self.look(cx);
        Ok(())
    }
}

fn learner_core(st: &PeerState, now: Now) -> Core {
    let mut c = st.new_core(Default::default(), now);
    c.set_role(CoreRole::Learner { observer: false });
    c.hold_snapshots();
    c
}
