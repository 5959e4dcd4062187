//! One seeded run of an ensemble (3 members, sometimes 5): clients on random members
//! (creates incl. ephemeral and sequential, setData with versions, deletes, reads after
//! sync, pings, session moves between members; in a third of the runs with
//! `localSessionsEnabled`, mostly upgrading), and at any step faults: a member crash
//! (its unsynced log torn) and restart through production recovery, partitions and
//! heals, connection breaks, slow links, delayed fsyncs. Then everything heals and the
//! run must make progress and settle.
//!
//! Invariants, checked after every step (and at the end):
//! - at most one member establishes leadership of an epoch;
//! - committed txns agree: two members never learn different txns committed at a zxid;
//! - an acknowledged write was committed, and after everything heals and settles every
//!   member's tree has it (the workload's markers, persistent nodes never deleted);
//! - replies come in request order per connection (per-session FIFO);
//! - members that applied the same zxid have equal trees (digest and node count);
//! - once healed, writes are acknowledged again (progress), and the members settle on
//!   one zxid with equal trees.
//!
//! `SIM_SEED=N cargo test --release --lib sim::ensemble_run::replay_seed -- --nocapture`
//! replays one run (`SIM_TRACE=1` prints every step); `SIM_SEEDS` / `SIM_FIRST_SEED` set
//! what `seeds` runs, `SIM_STEPS` how long each run is before the heal (default `STEPS`).
//!
//! Production bugs found here (all fixed; the workload drives each path every run):
//! 1. A learner broke per-session order after a sync (the sync waited behind a pending
//!    forwarded write while later writes went out at once); seeds 0 and 2818.
//! 2. A learner stopped between making a new epoch's sync txns durable and writing
//!    currentEpoch could never restart (`load_epochs` refused); seed 129.
//! 3. A client handshake waiting on the quorum when a role ended hung for good (nobody
//!    closed its connection); seed 5.
//! 4. A member's committed ring, reloaded from its log, held txns from below its newest
//!    snapshot: a divergent history the member had logged and then replaced by a SNAP;
//!    as leader it TRUNCated a learner into that history; seed 2389.
//! 5. A learner whose leader died between SNAP and NEWLEADER kept the SNAP's tree in
//!    memory, never written; it voted and synced with that zxid, and a later TRUNC to it
//!    reloaded an older tree from disk under the newer zxid (Java fully shuts its server
//!    down in SNAP sync for this); seed 5345 (outside CI's range: `REGRESSION_SEEDS`).
//!
//! Must never: use anything but the seed for randomness.

use super::client::{Frame, SimConn};
use super::member::{Ctx, Member, Obs};
use super::net::{Delivery, Net, Sid};
use super::rng::Rng;
use crate::config::{PeerAddr, PeerType, QuorumServer};
use crate::jute::records::*;
use crate::jute::{Data, Reader, Record};
use crate::proto::{create_mode, decode_request, op};
use crate::server::core::{InboundRequest, Now};
use crate::server::quorum::QuorumSettings;
use crate::server::settings::Settings;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Seeds CI runs (split over `seeds` and `seeds_second_half`).
const DEFAULT_SEEDS: u64 = 2400;
/// Seeds beyond CI's range that once found a bug: they run in CI too.
const REGRESSION_SEEDS: &[u64] = &[5345];
const STEPS: usize = 2500;
const CLIENTS: usize = 5;
const SESSION_TIMEOUT: i32 = 6000;
/// Steps the healed ensemble gets to make progress and then to settle.
const FINISH_STEPS: usize = 40_000;

#[derive(Debug, Clone)]
enum Op {
    /// A persistent create never deleted: once acknowledged, it must survive.
    Marker(String),
    /// A sync (a learner must keep it in order with the session's other requests).
    Sync,
    Other,
}

#[derive(Default)]
struct Client {
    session: i64,
    passwd: Vec<u8>,
    member: Sid,
    conn: Option<SimConn>,
    handshaking: bool,
    outstanding: VecDeque<(i32, Op)>,
    next_xid: i32,
    made: u64,
    last_sent: i64,
}

#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub members: usize,
    pub writes_acked: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub elections: u64,
    pub sim_ms: i64,
    /// Learner syncs by SNAP and by TRUNC.
    pub snaps: u64,
    pub truncs: u64,
    /// Trees reloaded from disk because a SNAP/TRUNC sync ended before its snapshot.
    pub reloads: u64,
    /// Learner syncs that took txns from the leader's txn log.
    pub txn_log_diffs: u64,
}

struct Down {
    restart_at: i64,
}

struct World {
    rng: Rng,
    net: Net,
    now: Now,
    quorum: BTreeMap<Sid, Arc<QuorumSettings>>,
    settings: BTreeMap<Sid, Arc<Settings>>,
    members: BTreeMap<Sid, Member>,
    down: BTreeMap<Sid, Down>,
    /// Members whose fsyncs stall until the given time.
    sync_stall: BTreeMap<Sid, i64>,
    clients: Vec<Client>,
    next_conn: u64,
    leaders: BTreeMap<i64, Sid>,
    committed: BTreeMap<i64, (u64, Sid)>,
    acked: BTreeSet<String>,
    faults: bool,
    quiet: bool,
    trace: bool,
    summary: Summary,
    /// The leaders' committed-ring capacity (`Member::leader_ring`).
    leader_ring: usize,
    _dir: tempfile::TempDir,
}

fn violation<T>(msg: String) -> Result<T, String> {
    Err(msg)
}

fn target(d: &Delivery) -> Sid {
    match d {
        Delivery::Message { to, .. }
        | Delivery::Accepted { to, .. }
        | Delivery::Broken { to, .. } => *to,
    }
}

impl World {
    fn new(seed: u64) -> Result<World, String> {
        let dir = tempfile::Builder::new()
            .prefix("ferrokeeper-ens")
            .tempdir_in(if std::path::Path::new("/dev/shm").is_dir() {
                "/dev/shm"
            } else {
                "/tmp"
            })
            .map_err(|e| e.to_string())?;
        let mut rng = Rng::new(seed);
        let n: i64 = if rng.chance(25) { 5 } else { 3 };
        let servers: Vec<QuorumServer> = (1..=n)
            .map(|id| QuorumServer {
                id,
                addrs: vec![PeerAddr {
                    host: "127.0.0.1".into(),
                    quorum_port: 2000 + id as u16,
                    election_port: 3000 + id as u16,
                }],
                peer_type: PeerType::Participant,
                client_addr: None,
                secure_client_addr: None,
            })
            .collect();
        let config_text = crate::zab::election::config_bytes_for(&servers, 0);
        let snap_count = 30 + rng.below(300);
        // Local sessions in a third of the runs (upgrading in most of those), drawn apart
        // from the run's own stream so the seeds keep the runs they had.
        let mut mode_rng = Rng::new(seed ^ 0x10CA_15E5);
        let local_sessions = mode_rng.chance(33);
        let local_sessions_upgrading = mode_rng.chance(70);
        let mut quorum = BTreeMap::new();
        let mut settings = BTreeMap::new();
        for id in 1..=n {
            let d = dir.path().join(format!("m{id}"));
            std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
            quorum.insert(
                id,
                Arc::new(QuorumSettings {
                    my_sid: id,
                    servers: servers.clone(),
                    observer: false,
                    tick_ms: 100,
                    init_limit: 10,
                    sync_limit: 5,
                    config_text: config_text.clone(),
                    config_version: 0,
                    listen_on_all_ips: false,
                    read_only_mode: false,
                    commit_log_count: crate::zab::committed::DEFAULT_COMMIT_LOG_COUNT,
                    transport: crate::server::peer_stream::PeerTransport::plain(),
                }),
            );
            settings.insert(
                id,
                Arc::new(Settings {
                    server_id: id,
                    tick_ms: 100,
                    min_session_timeout: 200,
                    max_session_timeout: 20_000,
                    data_dir: Some(d.clone()),
                    data_log_dir: Some(d),
                    prealloc_bytes: 4096,
                    force_sync: false,
                    snap_count,
                    global_outstanding_limit: 1000,
                    local_sessions,
                    local_sessions_upgrading,
                    ..Settings::default()
                }),
            );
        }
        let mut w = World {
            rng,
            net: Net::new(),
            now: Now {
                mono_ms: 0,
                wall_ms: 1_700_000_000_000 + (seed % 1000) as i64,
            },
            quorum,
            settings,
            members: BTreeMap::new(),
            down: BTreeMap::new(),
            sync_stall: BTreeMap::new(),
            clients: (0..CLIENTS).map(|_| Client::default()).collect(),
            next_conn: 1,
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            acked: BTreeSet::new(),
            faults: true,
            quiet: false,
            trace: std::env::var("SIM_TRACE").is_ok_and(|v| v == "1"),
            summary: Summary {
                members: n as usize,
                ..Summary::default()
            },
            // From the seed, not the rng (the runs of even seeds are what they were):
            // odd seeds lead with a ring smaller than snapCount, so learners fall below
            // it and are synced from the leader's txn log.
            leader_ring: if seed.is_multiple_of(2) {
                crate::zab::committed::DEFAULT_COMMIT_LOG_COUNT
            } else {
                10 + (seed / 2 % 90) as usize
            },
            _dir: dir,
        };
        for id in 1..=n {
            w.start_member(id)?;
        }
        Ok(w)
    }

    fn listening(&self) -> BTreeSet<Sid> {
        self.members
            .iter()
            .filter(|(_, m)| m.is_leading())
            .map(|(s, _)| *s)
            .collect()
    }

    /// Run `f` on member `sid` (if up) with a context; then collect what it reports.
    fn with_member(
        &mut self,
        sid: Sid,
        f: impl FnOnce(&mut Member, &mut Ctx) -> Result<(), String>,
    ) -> Result<(), String> {
        let listening = self.listening();
        let Some(m) = self.members.get_mut(&sid) else {
            return Ok(());
        };
        let mut cx = Ctx {
            net: &mut self.net,
            rng: &mut self.rng,
            now: self.now,
            listening: &listening,
            trace: self.trace,
        };
        f(m, &mut cx).map_err(|e| format!("member {sid}: {e}"))?;
        self.collect(sid)
    }

    fn start_member(&mut self, sid: Sid) -> Result<(), String> {
        let listening = self.listening();
        let mut cx = Ctx {
            net: &mut self.net,
            rng: &mut self.rng,
            now: self.now,
            listening: &listening,
            trace: self.trace,
        };
        let m = match Member::start(
            self.quorum[&sid].clone(),
            self.settings[&sid].clone(),
            &mut cx,
        ) {
            Ok(m) => m,
            Err(e) => return violation(format!("member {sid} start: {e}")),
        };
        let mut m = m;
        m.leader_ring = self.leader_ring;
        self.net.restart(sid);
        self.members.insert(sid, m);
        self.check_log(sid)
    }

    /// A member's log (what recovery reads back) agrees with every commit seen: a txn
    /// it holds at a committed zxid is the committed txn.
    fn check_log(&self, sid: Sid) -> Result<(), String> {
        let Some(d) = self.settings[&sid].data_dir.as_ref() else {
            return Ok(());
        };
        let dir = crate::storage::version_dir(d);
        let iter = crate::storage::logs::TxnLogIter::open(&dir, 1)
            .map_err(|e| format!("member {sid}: cannot read its log: {e}"))?;
        for e in iter {
            let Ok(e) = e else {
                break; // a torn tail: recovery stops there too
            };
            if let Some(&(h, other)) = self.committed.get(&e.zxid)
                && h != super::member::hash(&e.data)
            {
                return violation(format!(
                    "member {sid}'s log holds a txn at 0x{:x} other than the one member {other} saw committed",
                    e.zxid
                ));
            }
        }
        Ok(())
    }

    fn collect(&mut self, sid: Sid) -> Result<(), String> {
        let Some(m) = self.members.get_mut(&sid) else {
            return Ok(());
        };
        self.summary.snaps += std::mem::take(&mut m.snaps_installed);
        self.summary.truncs += std::mem::take(&mut m.truncs);
        self.summary.reloads += std::mem::take(&mut m.reloads);
        self.summary.txn_log_diffs += m.take_txn_log_syncs();
        for o in std::mem::take(&mut m.obs) {
            match o {
                Obs::Established { epoch } => {
                    self.summary.elections += 1;
                    if let Some(other) = self.leaders.insert(epoch, sid)
                        && other != sid
                    {
                        return violation(format!(
                            "two leaders established epoch {epoch}: {other} and {sid}"
                        ));
                    }
                }
                Obs::Committed { zxid, hash } => match self.committed.get(&zxid) {
                    Some(&(h, other)) if h != hash => {
                        return violation(format!(
                            "members {other} and {sid} committed different txns at 0x{zxid:x}"
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.committed.insert(zxid, (hash, sid));
                    }
                },
            }
        }
        Ok(())
    }

    fn step(&mut self) -> Result<(), String> {
        let dt = if self.faults {
            1 + self.rng.below(10)
        } else {
            1 + self.rng.below(30)
        };
        self.now.mono_ms += dt as i64;
        self.now.wall_ms += dt as i64;
        while let Some(d) = self.net.next_due(self.now.mono_ms) {
            let to = target(&d);
            if self.trace
                && let Delivery::Message { from, payload, .. } = &d
            {
                let what = match payload {
                    super::net::Payload::Vote(n) => format!(
                        "vote {} 0x{:x} {:?} round {}",
                        n.leader, n.zxid, n.state, n.election_epoch
                    ),
                    super::net::Payload::Packet(p) => format!("packet {} 0x{:x}", p.kind, p.zxid),
                    super::net::Payload::SnapBody(b) => format!("snapshot {} bytes", b.len()),
                };
                eprintln!("t={} {from} -> {to}: {what}", self.now.mono_ms);
            }
            self.with_member(to, |m, cx| m.deliver(d, cx))?;
        }
        let sids: Vec<Sid> = self.members.keys().copied().collect();
        for sid in sids {
            self.with_member(sid, |m, cx| m.timers(cx))?;
            if self.rng.chance(50) {
                self.with_member(sid, |m, _| m.disk_write())?;
            }
            let stalled = self
                .sync_stall
                .get(&sid)
                .is_some_and(|&t| t > self.now.mono_ms);
            if !stalled && self.rng.chance(40) {
                self.with_member(sid, |m, cx| m.disk_sync(cx))?;
            }
        }
        for i in 0..CLIENTS {
            self.client_frames(i)?;
        }
        if !self.quiet && self.rng.chance(30) {
            let i = self.rng.below(CLIENTS as u64) as usize;
            self.client_action(i)?;
        }
        if self.faults {
            self.fault()?;
        }
        let restart: Vec<Sid> = self
            .down
            .iter()
            .filter(|(_, d)| d.restart_at <= self.now.mono_ms)
            .map(|(s, _)| *s)
            .collect();
        for sid in restart {
            self.down.remove(&sid);
            if self.trace {
                eprintln!("t={} member {sid} restarts", self.now.mono_ms);
            }
            self.start_member(sid)?;
        }
        self.check_trees()
    }

    fn fault(&mut self) -> Result<(), String> {
        let n = self.quorum.len() as u64;
        let pick = |rng: &mut Rng| 1 + rng.below(n) as Sid;
        match self.rng.below(1000) {
            0..=1 => {
                let sid = pick(&mut self.rng);
                if let Some(m) = self.members.remove(&sid) {
                    if self.trace {
                        eprintln!(
                            "t={} member {sid} CRASHES ({})",
                            self.now.mono_ms,
                            m.role_name()
                        );
                    }
                    self.summary.crashes += 1;
                    self.net.crash(sid);
                    m.crash(&mut self.rng)?;
                    for c in &mut self.clients {
                        if c.member == sid && c.conn.is_some() {
                            c.conn = None;
                            c.handshaking = false;
                            c.outstanding.clear();
                        }
                    }
                    let at = self.now.mono_ms + 100 + self.rng.below(3000) as i64;
                    self.down.insert(sid, Down { restart_at: at });
                }
            }
            2..=3 => {
                let (a, b) = (pick(&mut self.rng), pick(&mut self.rng));
                if a != b {
                    if self.trace {
                        eprintln!("t={} partition {a} | {b}", self.now.mono_ms);
                    }
                    self.summary.partitions += 1;
                    self.net.partition(a, b);
                }
            }
            4..=8 => {
                let cut = self.net.cut_pairs();
                if !cut.is_empty() {
                    let (a, b) = *self.rng.pick(&cut);
                    if self.trace {
                        eprintln!("t={} heal {a} | {b}", self.now.mono_ms);
                    }
                    self.net.heal(a, b);
                }
            }
            9..=10 => {
                let c = 1 + self.rng.below(self.net.max_conn());
                if self.net.is_open(c) {
                    if self.trace {
                        eprintln!("t={} connection {c} breaks", self.now.mono_ms);
                    }
                    self.net.break_conn(c);
                }
            }
            11..=13 => {
                let (a, b) = (pick(&mut self.rng), pick(&mut self.rng));
                let until = self.now.mono_ms + self.rng.below(2000) as i64;
                let ms = self.rng.below(800) as i64;
                self.net.slow_link(a, b, until, ms);
            }
            14..=15 => {
                let sid = pick(&mut self.rng);
                let until = self.now.mono_ms + self.rng.below(1500) as i64;
                self.sync_stall.insert(sid, until);
            }
            16..=17 => self.net.max_delay_ms = 1 + self.rng.below(60) as i64,
            _ => {}
        }
        Ok(())
    }

    fn client_action(&mut self, i: usize) -> Result<(), String> {
        let c = &self.clients[i];
        if c.handshaking {
            return Ok(());
        }
        if c.conn.is_none() {
            let live: Vec<Sid> = self.members.keys().copied().collect();
            if live.is_empty() {
                return Ok(());
            }
            let sid = *self.rng.pick(&live);
            let c = &self.clients[i];
            let req = ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                time_out: SESSION_TIMEOUT,
                session_id: c.session,
                passwd: if c.session == 0 {
                    vec![0u8; 16].into()
                } else {
                    c.passwd.clone().into()
                },
                read_only: Some(false),
            };
            let id = self.next_conn;
            self.next_conn += 1;
            let mut got = None;
            self.with_member(sid, |m, cx| {
                got = m.connect(id, req, cx)?;
                Ok(())
            })?;
            if let Some(conn) = got {
                if self.trace {
                    eprintln!(
                        "t={} client {i} connects to {sid} (session 0x{:x})",
                        self.now.mono_ms, self.clients[i].session
                    );
                }
                let c = &mut self.clients[i];
                c.member = sid;
                c.conn = Some(conn);
                c.handshaking = true;
                c.last_sent = self.now.mono_ms;
            }
            return Ok(());
        }
        if self.rng.chance(4) {
            // The session moves: this connection goes, the next one is elsewhere.
            let (sid, id) = {
                let c = &self.clients[i];
                (c.member, c.conn.as_ref().map(|c| c.id).unwrap_or(0))
            };
            self.client_frames(i)?;
            if self.clients[i].conn.is_some() {
                self.with_member(sid, |m, cx| m.disconnect(id, cx))?;
                let c = &mut self.clients[i];
                c.conn = None;
                c.outstanding.clear();
            }
            return Ok(());
        }
        let n = self.clients[i].made;
        let k = self.rng.below(4);
        let open = crate::tree::acl::open_acl_unsafe();
        let create = |path: String, flags: i32| {
            (
                op::CREATE,
                CreateRequest {
                    path,
                    data: Data::new(bytes::Bytes::from_static(b"d")),
                    acl: open.clone(),
                    flags,
                }
                .to_bytes(),
            )
        };
        let (op_code, body, what) = match self.rng.below(100) {
            0..=29 => {
                self.clients[i].made += 1;
                let p = format!("/m-{i}-{n}");
                let (o, b) = create(p.clone(), create_mode::PERSISTENT);
                (o, b, Op::Marker(p))
            }
            30..=44 => {
                let p = if self.rng.chance(50) {
                    format!("/x{k}")
                } else {
                    format!("/x{k}/c")
                };
                let (o, b) = create(p, create_mode::PERSISTENT);
                (o, b, Op::Other)
            }
            45..=52 => {
                self.clients[i].made += 1;
                let (o, b) = create(format!("/e-{i}-{n}"), create_mode::EPHEMERAL);
                (o, b, Op::Other)
            }
            53..=57 => {
                let flags = if self.rng.chance(50) {
                    create_mode::PERSISTENT_SEQUENTIAL
                } else {
                    create_mode::EPHEMERAL_SEQUENTIAL
                };
                let (o, b) = create("/s-".into(), flags);
                (o, b, Op::Other)
            }
            58..=72 => {
                let version = self.rng.below(4) as i32 - 1;
                let b = SetDataRequest {
                    path: format!("/x{k}"),
                    data: Data::new(bytes::Bytes::from(format!("v{n}").into_bytes())),
                    version,
                }
                .to_bytes();
                (op::SET_DATA, b, Op::Other)
            }
            73..=81 => {
                let path = if self.rng.chance(50) {
                    format!("/x{k}")
                } else {
                    format!("/x{k}/c")
                };
                let b = DeleteRequest { path, version: -1 }.to_bytes();
                (op::DELETE, b, Op::Other)
            }
            82..=89 => {
                let b = PathRequest { path: "/".into() }.to_bytes();
                (op::SYNC, b, Op::Sync)
            }
            90..=96 => {
                let b = PathWatchRequest {
                    path: format!("/x{k}"),
                    watch: false,
                }
                .to_bytes();
                (op::GET_DATA, b, Op::Other)
            }
            _ => (op::PING, bytes::Bytes::new(), Op::Other),
        };
        self.send(i, op_code, body, what)
    }

    fn send(&mut self, i: usize, op_code: i32, body: bytes::Bytes, what: Op) -> Result<(), String> {
        let req = decode_request(op_code, &mut Reader::new(body.clone()))
            .map_err(|e| format!("cannot decode my own request: {e}"))?;
        let c = &mut self.clients[i];
        let xid = if op_code == op::PING {
            crate::proto::xid::PING
        } else {
            c.next_xid += 1;
            c.next_xid
        };
        c.last_sent = self.now.mono_ms;
        let sid = c.member;
        let Some(conn) = c.conn.as_mut() else {
            return Ok(());
        };
        if self.trace {
            eprintln!(
                "t={} client {i} -> {sid} xid {xid}: {req:?}",
                self.now.mono_ms
            );
        }
        c.outstanding.push_back((xid, what));
        if conn
            .reader
            .try_serve(xid, op_code, &req, &conn.outbox, self.now.mono_ms)
        {
            return Ok(());
        }
        let r = InboundRequest {
            xid,
            op_code,
            req,
            received_ms: self.now.mono_ms,
            body,
        };
        let Some(m) = self.members.get_mut(&sid) else {
            return Ok(());
        };
        let listening = BTreeSet::new();
        let mut cx = Ctx {
            net: &mut self.net,
            rng: &mut self.rng,
            now: self.now,
            listening: &listening,
            trace: self.trace,
        };
        m.request(conn, r, &mut cx)?;
        self.collect(sid)
    }

    /// What the client's connection brought: handshake answers, replies in request
    /// order, acknowledged markers; a closed connection forgets what was outstanding.
    fn client_frames(&mut self, i: usize) -> Result<(), String> {
        let now = self.now.mono_ms;
        let c = &mut self.clients[i];
        let Some(conn) = c.conn.as_mut() else {
            return Ok(());
        };
        let frames = conn.take_frames().map_err(|e| format!("client {i}: {e}"))?;
        let mut closed = conn.closed_by_server();
        if let Some(rx) = conn.established.as_mut() {
            // The connection task's wait for the handshake's verdict: a refusal, or a
            // core gone without answering (its role ended), ends the connection.
            match rx.try_recv() {
                Ok(true) => conn.established = None,
                Ok(false) => closed = true,
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                    // The core went away without a verdict: the connection task closes
                    // the outbox itself (`server::conn`, the fix for what was bug 3).
                    conn.outbox.close();
                    closed = true
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
            }
        }
        if c.handshaking && now - c.last_sent > i64::from(SESSION_TIMEOUT) {
            // The client gives up on a handshake nobody answers.
            closed = true;
        }
        for f in frames {
            match f {
                Frame::Connect(r) => {
                    c.handshaking = false;
                    if r.time_out <= 0 {
                        c.session = 0;
                    } else {
                        c.session = r.session_id;
                        c.passwd = r.passwd.to_vec();
                    }
                }
                Frame::Reply { xid, zxid, err, .. } => {
                    if self.trace {
                        eprintln!("t={now} client {i} <- xid {xid} zxid 0x{zxid:x} err {err}");
                    }
                    let Some((want, what)) = c.outstanding.pop_front() else {
                        return violation(format!("client {i}: reply xid {xid} to nothing"));
                    };
                    if want != xid {
                        return violation(format!(
                            "client {i}: reply xid {xid} while xid {want} was first (per-session FIFO)"
                        ));
                    }
                    if err == crate::proto::err::SESSION_EXPIRED {
                        c.session = 0;
                    }
                    if let (Op::Marker(p), 0) = (&what, err) {
                        if !self.committed.contains_key(&zxid) {
                            return violation(format!(
                                "client {i}: {p} acknowledged at 0x{zxid:x}, which no member saw committed"
                            ));
                        }
                        if self.trace {
                            eprintln!("t={now} client {i}: {p} acknowledged at 0x{zxid:x}");
                        }
                        self.summary.writes_acked += 1;
                        self.acked.insert(p.clone());
                    }
                }
                Frame::Event { .. } => {}
            }
        }
        if closed {
            c.conn = None;
            c.handshaking = false;
            c.outstanding.clear();
        } else if !c.handshaking
            && !self.quiet
            && now - c.last_sent > i64::from(SESSION_TIMEOUT) / 3
        {
            return self.send(i, op::PING, bytes::Bytes::new(), Op::Other);
        }
        Ok(())
    }

    /// Members that applied the same zxid have the same tree.
    fn check_trees(&self) -> Result<(), String> {
        let mut seen: BTreeMap<i64, (Sid, i64, usize)> = BTreeMap::new();
        for (sid, m) in &self.members {
            let z = m.applied();
            let (d, n, mismatches) = {
                let t = m.shared().tree.read();
                (t.digest(), t.node_count(), t.digest_check().mismatches())
            };
            // Every applied txn carried the leader's digest after it (DIFFs and commits
            // alike): a member whose tree disagreed once has diverged, even if it heals.
            if mismatches > 0 {
                return violation(format!(
                    "member {sid} found {mismatches} txn digest(s) that disagree with its tree \
                     (at 0x{z:x})"
                ));
            }
            match seen.get(&z) {
                Some(&(other, d2, n2)) if (d2, n2) != (d, n) => {
                    let diff = self
                        .members
                        .get(&other)
                        .map(|o| tree_difference(o, m))
                        .unwrap_or_default();
                    return violation(format!(
                        "members {other} and {sid} applied 0x{z:x} but their trees differ \
                         ({n2} nodes, digest {d2:x} vs {n} nodes, digest {d:x}){diff}"
                    ));
                }
                Some(_) => {}
                None => {
                    seen.insert(z, (*sid, d, n));
                }
            }
        }
        Ok(())
    }

    /// Everything heals and restarts; writes must be acknowledged again, then the
    /// members settle on one zxid with equal trees holding every acknowledged marker.
    fn finish(&mut self) -> Result<(), String> {
        self.faults = false;
        self.net.heal_all();
        self.net.max_delay_ms = 5;
        self.sync_stall.clear();
        let down: Vec<Sid> = self.down.keys().copied().collect();
        for sid in down {
            self.down.remove(&sid);
            self.start_member(sid)?;
        }
        let acked_before = self.summary.writes_acked;
        let mut step = 0;
        while self.summary.writes_acked == acked_before {
            step += 1;
            if step > FINISH_STEPS {
                return violation(format!(
                    "no write acknowledged after healing (roles: {})",
                    self.roles()
                ));
            }
            self.step()?;
            let i = self.rng.below(CLIENTS as u64) as usize;
            if self.clients[i].conn.is_some() && !self.clients[i].handshaking {
                let n = self.clients[i].made;
                self.clients[i].made += 1;
                let p = format!("/m-{i}-{n}");
                let body = CreateRequest {
                    path: p.clone(),
                    data: Data::new(bytes::Bytes::from_static(b"d")),
                    acl: crate::tree::acl::open_acl_unsafe(),
                    flags: create_mode::PERSISTENT,
                }
                .to_bytes();
                if self.rng.chance(5) {
                    self.send(i, op::CREATE, body, Op::Marker(p))?;
                }
            }
        }
        // Settle: clients stop sending; every member serves and applied the same zxid.
        self.quiet = true;
        for _ in 0..FINISH_STEPS {
            self.step()?;
            if self.settled() {
                return self.check_final();
            }
        }
        violation(format!(
            "the ensemble did not settle (roles: {})",
            self.roles()
        ))
    }

    fn settled(&mut self) -> bool {
        let mut zs = BTreeSet::new();
        for m in self.members.values_mut() {
            if m.serving_core().is_none() || m.has_unsynced() {
                return false;
            }
            zs.insert(m.applied());
        }
        zs.len() == 1 && self.members.len() == self.quorum.len()
    }

    fn check_final(&self) -> Result<(), String> {
        self.check_trees()?;
        for sid in self.members.keys() {
            self.check_log(*sid)?;
        }
        for (sid, m) in &self.members {
            let t = m.shared().tree.read();
            for p in &self.acked {
                if !t.exists(p) {
                    return violation(format!(
                        "acknowledged {p} is missing on member {sid} after settling"
                    ));
                }
            }
        }
        Ok(())
    }

    fn roles(&self) -> String {
        self.members
            .iter()
            .map(|(s, m)| format!("{s}: {} at 0x{:x}", m.role_name(), m.applied()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Run seed `seed` to the end; Err describes the first violated invariant.
pub fn run(seed: u64) -> Result<Summary, String> {
    let mut w = World::new(seed)?;
    let steps = std::env::var("SIM_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(STEPS);
    for step in 0..steps {
        w.step()
            .map_err(|e| format!("step {step} (t={}): {e}", w.now.mono_ms))?;
    }
    w.finish()
        .map_err(|e| format!("finish (t={}): {e}", w.now.mono_ms))?;
    w.summary.sim_ms = w.now.mono_ms;
    Ok(w.summary)
}

fn run_seeds(half: u64) {
    let add = |t: &mut Summary, s: Summary| {
        t.writes_acked += s.writes_acked;
        t.crashes += s.crashes;
        t.partitions += s.partitions;
        t.elections += s.elections;
        t.sim_ms += s.sim_ms;
        t.snaps += s.snaps;
        t.truncs += s.truncs;
        t.reloads += s.reloads;
        t.txn_log_diffs += s.txn_log_diffs;
    };
    let replay = "sim::ensemble_run::replay_seed";
    let Some(b) = super::seeds::run_half(half, DEFAULT_SEEDS, run, add, replay) else {
        return;
    };
    let (first, n, total) = (b.first, b.n, b.total);
    eprintln!(
        "ensemble sim: seeds {first}..{}: {:.1} s: {} marker writes acked, {} crashes, {} partitions, {} leaderships, {} SNAP syncs, {} TRUNC syncs ({} unfinished syncs reloaded from disk), {} DIFFs from the txn log, {:.0} s simulated",
        first + n,
        b.secs,
        total.writes_acked,
        total.crashes,
        total.partitions,
        total.elections,
        total.snaps,
        total.truncs,
        total.reloads,
        total.txn_log_diffs,
        total.sim_ms as f64 / 1000.0
    );
    assert!(total.writes_acked > 0 && total.elections > 0);
}

super::seeds::seed_tests!(run_seeds, run);

#[test]
fn regression_seeds() {
    for &seed in REGRESSION_SEEDS {
        if let Err(e) = run(seed) {
            panic!(
                "seed {seed} failed: {e}\n  replay: SIM_SEED={seed} cargo test --release --lib sim::ensemble_run::replay_seed -- --nocapture"
            );
        }
    }
}

/// The first few paths whose node differs between two members' trees (for a violation
/// message): "only in a", "only in b", or "differs" (mzxid, version, data length).
fn tree_difference(a: &Member, b: &Member) -> String {
    let describe = |m: &Member| -> BTreeMap<String, (i64, i32, usize)> {
        let t = m.shared().tree.read();
        t.preorder()
            .into_iter()
            .map(|(p, n)| {
                let st = t.client_stat(n);
                (p, (st.mzxid, st.version, n.data().len()))
            })
            .collect()
    };
    let (ta, tb) = (describe(a), describe(b));
    let mut out = Vec::new();
    for (p, x) in &ta {
        match tb.get(p) {
            None => out.push(format!("{p} only in the first (mzxid 0x{:x})", x.0)),
            Some(y) if y != x => out.push(format!("{p} differs: {x:?} vs {y:?}")),
            _ => {}
        }
    }
    for (p, y) in &tb {
        if !ta.contains_key(p) {
            out.push(format!("{p} only in the second (mzxid 0x{:x})", y.0));
        }
    }
    out.truncate(8);
    format!("; {}", out.join("; "))
}
