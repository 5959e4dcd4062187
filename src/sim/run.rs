//! One seeded simulation run: clients doing random creates, sets, deletes, multis, reads
//! with watches, ephemerals, closes, silences that let sessions expire, reconnects; the
//! log written and synced at random moments; crashes that tear the unsynced log; and the
//! invariants checked as frames arrive and whenever the server is quiet:
//!
//! - every write's answer is the model's, and every read's answer is the model's state at
//!   the read's zxid;
//! - replies come in request order per connection (FIFO);
//! - a watch event arrives exactly once, before any reply that reflects its change, and
//!   carries the zxid of the txn that fired it;
//! - nothing is acknowledged before it is synced, and every acknowledged zxid survives a
//!   crash and restart;
//! - the tree equals the model node for node (Stat, data, children), and its digest
//!   equals one recomputed from its nodes.
//!
//! Must never: use anything but the seed for randomness.

use super::client::Frame;
use super::model::{Answer, MNode, Model, MultiOp, Write};
use super::node::SimNode;
use super::rng::Rng;
use crate::jute::records::*;
use crate::jute::{Data, Reader, Record};
use crate::proto::{self, Request, create_mode, err, op};
use crate::server::core::{Input, Now};
use crate::server::settings::Settings;
use crate::txn::TxnBody;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Seeds CI runs (`seeds` + `seeds_second_half`); `SIM_SEEDS` overrides.
const DEFAULT_SEEDS: u64 = 6000;
const STEPS: usize = 400;
const CLIENTS: usize = 5;
const SESSION_TIMEOUT: i32 = 1000;

const NAMES: [&str; 3] = ["a", "b", "c"];

/// What a run did (for the summary line).
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub writes_acked: u64,
    pub reads_checked: u64,
    pub events: u64,
    pub crashes: u64,
    pub expiries: u64,
    pub snapshots: u64,
}

#[derive(Debug, Clone)]
enum Read {
    GetData(String),
    Exists(String),
    Children(String),
}

#[derive(Debug, Clone)]
enum Sent {
    Write(Write),
    Read { read: Read, watch: bool },
    Ping,
}

/// A watch this client's connection holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Reg {
    Data(String),
    Child(String),
}

#[derive(Default)]
struct Client {
    session: i64,
    passwd: Vec<u8>,
    conn: Option<u64>,
    /// The ConnectResponse has not arrived yet.
    handshaking: bool,
    next_xid: i32,
    outstanding: VecDeque<(i32, Sent)>,
    regs: BTreeSet<Reg>,
    /// Events the connection must receive, in zxid order.
    expected: VecDeque<Expected>,
    /// Stop sending (so the session expires) until this monotonic ms.
    silent_until: i64,
    last_sent: i64,
}

/// A watch event due: (zxid, type, path) and the registrations it consumed.
#[derive(Debug, Clone)]
struct Expected(i64, i32, String, Vec<Reg>);

/// Inputs to the model in zxid order, to rebuild it after a crash.
#[derive(Clone)]
enum ModelInput {
    Session(i64),
    Write(i64, Write),
    Close(i64),
}

struct World {
    rng: Rng,
    node: Option<SimNode>,
    settings: Arc<Settings>,
    clients: Vec<Client>,
    model: Model,
    initial: Model,
    inputs: Vec<(i64, ModelInput)>,
    /// (session, xid) of every write sent, for attributing logged txns.
    writes: BTreeMap<(i64, i32), Write>,
    /// The model's answer by zxid.
    answers: BTreeMap<i64, Answer>,
    max_acked: i64,
    now: Now,
    summary: Summary,
    next_conn: u64,
    /// Print every step (SIM_TRACE=1 with replay_seed).
    trace: bool,
    /// Keeps the data directory alive for the run.
    _dir: tempfile::TempDir,
}

fn violation<T>(msg: String) -> Result<T, String> {
    Err(msg)
}

fn model_of(node: &SimNode) -> Model {
    let tree = node.shared.tree.read();
    let mut nodes = BTreeMap::new();
    for (key, n) in tree.preorder() {
        let path = if key.is_empty() { "/".to_string() } else { key };
        let st = tree.client_stat(n);
        let children = tree.child_names(n).into_iter().collect();
        nodes.insert(
            path,
            MNode {
                data: n.data_opt().map(|d| d.to_vec()).unwrap_or_default(),
                czxid: st.czxid,
                mzxid: st.mzxid,
                pzxid: st.pzxid,
                version: st.version,
                creates: n.stat().cversion,
                ephemeral_owner: st.ephemeral_owner,
                children,
            },
        );
    }
    Model::from_nodes(nodes, BTreeSet::new(), node.core.last_applied())
}

fn same_stat(n: &MNode, s: &Stat) -> bool {
    n.czxid == s.czxid
        && n.mzxid == s.mzxid
        && n.pzxid == s.pzxid
        && n.version == s.version
        && n.cversion() == s.cversion
        && n.ephemeral_owner == s.ephemeral_owner
        && n.data.len() as i32 == s.data_length
        && n.children.len() as i32 == s.num_children
}

impl World {
    fn new(seed: u64) -> Result<World, String> {
        let dir = tempfile::Builder::new()
            .prefix("ferrokeeper-sim")
            .tempdir_in(if std::path::Path::new("/dev/shm").is_dir() {
                "/dev/shm"
            } else {
                "/tmp"
            })
            .map_err(|e| e.to_string())?;
        let mut rng = Rng::new(seed);
        let settings = Arc::new(Settings {
            tick_ms: 100,
            min_session_timeout: 200,
            max_session_timeout: 20_000,
            data_dir: Some(dir.path().to_path_buf()),
            data_log_dir: Some(dir.path().to_path_buf()),
            prealloc_bytes: 4096,
            force_sync: false,
            // Small, so snapshots and log rolls happen within a run.
            snap_count: 20 + rng.below(200),
            global_outstanding_limit: 1000,
            ..Settings::default()
        });
        let now = Now {
            mono_ms: 0,
            wall_ms: 1_700_000_000_000 + (seed % 1000) as i64,
        };
        let node = SimNode::start(settings.clone(), now, 1)?;
        let model = model_of(&node);
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(Client {
                next_xid: 1,
                ..Client::default()
            });
        }
        Ok(World {
            rng,
            node: Some(node),
            settings,
            clients,
            initial: model.clone(),
            model,
            inputs: Vec::new(),
            writes: BTreeMap::new(),
            answers: BTreeMap::new(),
            max_acked: 0,
            now,
            summary: Summary::default(),
            next_conn: 1_000_000,
            trace: std::env::var("SIM_TRACE").is_ok_and(|v| v == "1"),
            _dir: dir,
        })
    }

    fn node(&mut self) -> &mut SimNode {
        self.node
            .as_mut()
            .expect("the node runs between crash and restart")
    }

    fn path(&mut self) -> String {
        let depth = 1 + self.rng.below(2);
        let mut p = String::new();
        for _ in 0..depth {
            p.push('/');
            p.push_str(NAMES[self.rng.below(NAMES.len() as u64) as usize]);
        }
        p
    }

    fn step(&mut self) -> Result<(), String> {
        match self.rng.below(100) {
            0..=44 => self.client_action(),
            45..=57 => self.disk_write(),
            58..=69 => self.node().sync(),
            70..=81 => self.deliver(),
            82..=91 => self.advance(),
            92..=95 => self.drop_connection(),
            96..=97 => {
                let i = self.rng.below(CLIENTS as u64) as usize;
                let until = self.now.mono_ms + 3 * SESSION_TIMEOUT as i64;
                self.clients[i].silent_until = until;
                Ok(())
            }
            _ => {
                if self.rng.chance(40) {
                    self.crash_and_restart()
                } else {
                    Ok(())
                }
            }
        }
    }

    fn client_action(&mut self) -> Result<(), String> {
        let i = self.rng.below(CLIENTS as u64) as usize;
        if self.clients[i].silent_until > self.now.mono_ms || self.clients[i].handshaking {
            return Ok(());
        }
        let Some(conn) = self.clients[i].conn else {
            return self.connect(i);
        };
        let c = &self.clients[i];
        let session = c.session;
        let sent = match self.rng.below(100) {
            0..=17 => {
                let path = self.path();
                let kind = self.rng.below(4);
                Sent::Write(Write::Create {
                    path,
                    data: vec![self.rng.below(256) as u8; self.rng.below(4) as usize],
                    ephemeral: kind & 1 == 1,
                    sequential: kind & 2 == 2,
                })
            }
            18..=29 => {
                let path = self.path();
                let version = self.version();
                Sent::Write(Write::Delete { path, version })
            }
            30..=44 => {
                let path = self.path();
                let version = self.version();
                Sent::Write(Write::SetData {
                    path,
                    data: vec![self.rng.below(256) as u8; self.rng.below(6) as usize],
                    version,
                })
            }
            45..=52 => {
                let n = 1 + self.rng.below(3);
                let mut ops = Vec::new();
                for _ in 0..n {
                    let path = self.path();
                    let version = self.version();
                    ops.push(match self.rng.below(4) {
                        0 => MultiOp::Check { path, version },
                        1 => MultiOp::Create {
                            path,
                            data: vec![7],
                        },
                        2 => MultiOp::SetData {
                            path,
                            data: vec![8],
                            version,
                        },
                        _ => MultiOp::Delete { path, version },
                    });
                }
                Sent::Write(Write::Multi(ops))
            }
            53..=54 => Sent::Write(Write::CloseSession),
            55..=60 => Sent::Ping,
            _ => {
                let path = self.path();
                let watch = self.rng.chance(50);
                let read = match self.rng.below(3) {
                    0 => Read::GetData(path),
                    1 => Read::Exists(path),
                    _ => Read::Children(path),
                };
                Sent::Read { read, watch }
            }
        };
        self.send(i, conn, session, sent)
    }

    fn version(&mut self) -> i32 {
        if self.rng.chance(60) {
            -1
        } else {
            self.rng.below(3) as i32
        }
    }

    fn send(&mut self, i: usize, conn: u64, session: i64, sent: Sent) -> Result<(), String> {
        let c = &mut self.clients[i];
        let xid = if matches!(sent, Sent::Ping) {
            proto::xid::PING
        } else {
            c.next_xid += 1;
            c.next_xid
        };
        let (op_code, req) = request_of(&sent);
        if let Sent::Write(w) = &sent {
            self.writes.insert((session, xid), w.clone());
        }
        if self.trace {
            eprintln!(
                "t={} client {i} conn {conn} sends xid {xid}: {sent:?}",
                self.now.mono_ms
            );
        }
        c.outstanding.push_back((xid, sent));
        c.last_sent = self.now.mono_ms;
        self.node().send(conn, xid, op_code, req)
    }

    fn connect(&mut self, i: usize) -> Result<(), String> {
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
        let conn = self.node().connect(req)?;
        let c = &mut self.clients[i];
        c.conn = Some(conn);
        c.handshaking = true;
        c.last_sent = self.now.mono_ms;
        Ok(())
    }

    /// The client's side of its connection goes away (or the server closed it).
    fn forget_connection(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.conn = None;
        c.handshaking = false;
        c.outstanding.clear();
        c.regs.clear();
        c.expected.clear();
    }

    fn drop_connection(&mut self) -> Result<(), String> {
        let i = self.rng.below(CLIENTS as u64) as usize;
        if let Some(conn) = self.clients[i].conn {
            // What was already queued for it is still checked.
            self.deliver_to(i)?;
            if let Some(conn2) = self.clients[i].conn {
                debug_assert_eq!(conn, conn2);
                self.node().disconnect(conn2)?;
            }
            self.forget_connection(i);
        }
        Ok(())
    }

    fn disk_write(&mut self) -> Result<(), String> {
        let txns = self.node().write()?;
        for txn in txns {
            if self.trace {
                eprintln!("  logged 0x{:x}: {:?}", txn.header.zxid, txn.body);
            }
            let z = txn.header.zxid;
            let sid = txn.header.client_id;
            let input = match (&txn.body, self.writes.get(&(sid, txn.header.cxid))) {
                (TxnBody::CreateSession(_), _) => ModelInput::Session(sid),
                (TxnBody::CloseSession(_), None) => {
                    self.summary.expiries += 1;
                    ModelInput::Close(sid)
                }
                (_, Some(w)) => ModelInput::Write(sid, w.clone()),
                (body, None) => {
                    return violation(format!(
                        "txn 0x{z:x} of session 0x{sid:x} cxid {} matches no request: {body:?}",
                        txn.header.cxid
                    ));
                }
            };
            self.feed_model(z, input)?;
        }
        Ok(())
    }

    fn feed_model(&mut self, z: i64, input: ModelInput) -> Result<(), String> {
        if z != self.model.zxid + 1 && z >> 32 == self.model.zxid >> 32 {
            return violation(format!("zxid 0x{z:x} logged after 0x{:x}", self.model.zxid));
        }
        let from = self.model.changes.len();
        match &input {
            ModelInput::Session(s) => self.model.create_session(z, *s),
            ModelInput::Write(s, w) => {
                let a = self.model.apply(z, *s, w);
                self.answers.insert(z, a);
            }
            ModelInput::Close(s) => self.model.close_session_at(z, *s),
        }
        self.inputs.push((z, input));
        let changes = self.model.changes[from..].to_vec();
        for ch in changes {
            for c in &mut self.clients {
                fire(c, ch.zxid, &ch.path, ch.event_type);
            }
        }
        Ok(())
    }

    fn advance(&mut self) -> Result<(), String> {
        let ms = 1 + self.rng.below(300) as i64;
        self.now.mono_ms += ms;
        // The wall clock may step (forward or back) without effect on expiry.
        self.now.wall_ms += if self.rng.chance(5) { 3_600_000 } else { ms };
        // Clients that are not silent keep their sessions alive.
        for i in 0..CLIENTS {
            let c = &self.clients[i];
            if let (Some(conn), false) = (c.conn, c.handshaking)
                && c.silent_until <= self.now.mono_ms
                && self.now.mono_ms - c.last_sent > (SESSION_TIMEOUT / 4) as i64
            {
                let session = c.session;
                self.send(i, conn, session, Sent::Ping)?;
            }
        }
        let now = self.now;
        let node = self.node();
        node.now = now;
        node.step(Input::Tick)
    }

    fn deliver(&mut self) -> Result<(), String> {
        for i in 0..CLIENTS {
            self.deliver_to(i)?;
        }
        Ok(())
    }

    /// Read and check everything queued for client `i`.
    fn deliver_to(&mut self, i: usize) -> Result<(), String> {
        let Some(conn) = self.clients[i].conn else {
            return Ok(());
        };
        let synced = self.node().synced_zxid;
        let Some(sc) = self.node().conns.get_mut(&conn) else {
            self.forget_connection(i);
            return Ok(());
        };
        let frames = sc.take_frames()?;
        let closed = sc.closed_by_server();
        for f in frames {
            if self.trace {
                eprintln!("  client {i} conn {conn} gets {f:?}");
            }
            self.check_frame(i, f, synced)?;
        }
        if closed {
            self.node().disconnect(conn)?;
            self.forget_connection(i);
        }
        Ok(())
    }

    fn check_frame(&mut self, i: usize, f: Frame, synced: i64) -> Result<(), String> {
        match f {
            Frame::Connect(resp) => {
                let c = &mut self.clients[i];
                c.handshaking = false;
                if resp.session_id == 0 {
                    // Expired: start over with a new session.
                    c.session = 0;
                    c.conn = None;
                    if let Some(conn) = self.clients[i].conn.take() {
                        self.node().disconnect(conn)?;
                    }
                    self.forget_connection(i);
                } else {
                    if c.session != 0 && c.session != resp.session_id {
                        return violation(format!(
                            "re-attach of 0x{:x} answered with 0x{:x}",
                            c.session, resp.session_id
                        ));
                    }
                    c.session = resp.session_id;
                    c.passwd = resp.passwd.to_vec();
                }
                Ok(())
            }
            Frame::Event {
                event_type,
                path,
                zxid,
            } => {
                self.summary.events += 1;
                let c = &mut self.clients[i];
                let Some(z) = c.expected.front().map(|e| e.0) else {
                    return violation(format!(
                        "session 0x{:x}: unexpected event {event_type} {path}",
                        c.session
                    ));
                };
                // The notification carries the zxid of the txn that fired it (as 3.9).
                if zxid != z {
                    return violation(format!(
                        "session 0x{:x}: event {event_type} {path} with zxid 0x{zxid:x}, \
                         expected the txn's 0x{z:x}",
                        c.session
                    ));
                }
                // Within one txn the order of events is unspecified.
                let pos = c
                    .expected
                    .iter()
                    .take_while(|e| e.0 == z)
                    .position(|e| e.1 == event_type && e.2 == path);
                match pos {
                    Some(p) => {
                        c.expected.remove(p);
                        Ok(())
                    }
                    None => violation(format!(
                        "session 0x{:x}: event {event_type} {path}, expected {:?}",
                        c.session,
                        c.expected.front()
                    )),
                }
            }
            Frame::Reply {
                xid,
                zxid,
                err,
                body,
            } => {
                let c = &mut self.clients[i];
                let Some((want, sent)) = c.outstanding.pop_front() else {
                    return violation(format!("session 0x{:x}: reply {xid} to nothing", c.session));
                };
                if want != xid {
                    return violation(format!(
                        "session 0x{:x}: reply to xid {xid} while {want} was first (FIFO)",
                        c.session
                    ));
                }
                if let Some(e) = c.expected.front()
                    && e.0 <= zxid
                    && !matches!(sent, Sent::Ping)
                {
                    return violation(format!(
                        "session 0x{:x}: reply at zxid 0x{zxid:x} before the event of 0x{:x} ({} {})",
                        c.session, e.0, e.1, e.2
                    ));
                }
                match sent {
                    Sent::Ping => Ok(()),
                    Sent::Write(w) => self.check_write(i, &w, zxid, err, body, synced),
                    Sent::Read { read, watch } => self.check_read(i, read, watch, zxid, err, body),
                }
            }
        }
    }

    fn check_write(
        &mut self,
        i: usize,
        w: &Write,
        zxid: i64,
        err: i32,
        body: bytes::Bytes,
        synced: i64,
    ) -> Result<(), String> {
        if zxid > synced {
            return violation(format!(
                "write acknowledged at 0x{zxid:x}, only 0x{synced:x} synced"
            ));
        }
        self.max_acked = self.max_acked.max(zxid);
        self.summary.writes_acked += 1;
        let Some(want) = self.answers.get(&zxid).cloned() else {
            return violation(format!(
                "reply at 0x{zxid:x} to a write the log does not hold"
            ));
        };
        let got = decode_answer(w, err, body)?;
        if !answers_match(&want, &got) {
            return violation(format!(
                "session 0x{:x}: {w:?} at 0x{zxid:x} answered {got:?}, model says {want:?}",
                self.clients[i].session
            ));
        }
        Ok(())
    }

    fn check_read(
        &mut self,
        i: usize,
        read: Read,
        watch: bool,
        zxid: i64,
        err: i32,
        body: bytes::Bytes,
    ) -> Result<(), String> {
        self.summary.reads_checked += 1;
        let path = match &read {
            Read::GetData(p) | Read::Exists(p) | Read::Children(p) => p.clone(),
        };
        let want = self.model.node_at(&path, zxid).cloned();
        let mut r = Reader::new(body);
        let bad = |what: String| format!("read {read:?} at 0x{zxid:x}: {what}");
        match (&read, &want) {
            (_, None) if err != err::NO_NODE => {
                return violation(bad(format!("err {err}, want NoNode")));
            }
            (_, None) => {}
            (_, Some(_)) if err != 0 => return violation(bad(format!("err {err}, want ok"))),
            (Read::GetData(_), Some(n)) => {
                let d = GetDataResponse::read(&mut r).map_err(|e| e.to_string())?;
                let data = d.data.as_bytes().map(|b| b.to_vec()).unwrap_or_default();
                if data != n.data || !same_stat(n, &d.stat) {
                    return violation(bad(format!("got {d:?}, want {n:?}")));
                }
            }
            (Read::Exists(_), Some(n)) => {
                let s = Stat::read(&mut r).map_err(|e| e.to_string())?;
                if !same_stat(n, &s) {
                    return violation(bad(format!("got {s:?}, want {n:?}")));
                }
            }
            (Read::Children(_), Some(n)) => {
                let g = GetChildrenResponse::read(&mut r).map_err(|e| e.to_string())?;
                let got: BTreeSet<String> = g.children.into_iter().collect();
                if got != n.children {
                    return violation(bad(format!("got {got:?}, want {:?}", n.children)));
                }
            }
        }
        if watch {
            // Java: exists sets a data watch whether or not the node exists; getData and
            // getChildren only on a node that exists.
            let reg = match read {
                Read::Exists(p) => Some(Reg::Data(p)),
                Read::GetData(p) if want.is_some() => Some(Reg::Data(p)),
                Read::Children(p) if want.is_some() => Some(Reg::Child(p)),
                _ => None,
            };
            if let Some(reg) = reg {
                self.register(i, reg, zxid);
            }
        }
        Ok(())
    }

    /// A watch set by a read answered at `zxid`: the first matching change after it (in
    /// what the model knows already) fires it, else it waits.
    fn register(&mut self, i: usize, reg: Reg, zxid: i64) {
        if self.trace {
            eprintln!("  client {i} registers {reg:?} at 0x{zxid:x}");
        }
        let c = &mut self.clients[i];
        // The server holds watches as a set: registering again before the pending event
        // of the same watch fires changes nothing.
        if c.expected.iter().any(|e| e.0 > zxid && e.3.contains(&reg)) {
            return;
        }
        c.regs.insert(reg);
        let later: Vec<_> = self
            .model
            .changes
            .iter()
            .filter(|ch| ch.zxid > zxid)
            .cloned()
            .collect();
        for ch in later {
            fire(c, ch.zxid, &ch.path, ch.event_type);
        }
    }

    fn crash_and_restart(&mut self) -> Result<(), String> {
        self.summary.crashes += 1;
        if self.trace {
            eprintln!("CRASH at t={}", self.now.mono_ms);
        }
        let node = self.node.take().ok_or("no node")?;
        self.summary.snapshots += node.snapshots;
        node.crash(&mut self.rng)?;
        for i in 0..CLIENTS {
            self.forget_connection(i);
        }
        self.next_conn += 1_000_000;
        let node = SimNode::start(self.settings.clone(), self.now, self.next_conn)?;
        let recovered = node.core.last_applied();
        if recovered < self.max_acked {
            return violation(format!(
                "acknowledged zxid 0x{:x} lost: recovered only to 0x{recovered:x}",
                self.max_acked
            ));
        }
        // The model as of what survived.
        self.inputs.retain(|(z, _)| *z <= recovered);
        self.answers.retain(|z, _| *z <= recovered);
        let mut m = self.initial.clone();
        for (z, input) in &self.inputs {
            match input {
                ModelInput::Session(s) => m.create_session(*z, *s),
                ModelInput::Write(s, w) => {
                    m.apply(*z, *s, w);
                }
                ModelInput::Close(s) => m.close_session_at(*z, *s),
            }
        }
        if m.zxid != recovered {
            return violation(format!(
                "recovered to 0x{recovered:x}, but the log the model saw ends at 0x{:x}",
                m.zxid
            ));
        }
        self.model = m;
        self.node = Some(node);
        self.check_tree()
    }

    /// The server is quiet: the tree must equal the model.
    fn check_quiet(&mut self) -> Result<(), String> {
        if self.node().core.in_flight() == 0 && self.node().queued_batches() == 0 {
            self.check_tree()?;
        }
        Ok(())
    }

    fn check_tree(&mut self) -> Result<(), String> {
        let node = self.node.as_ref().ok_or("no node")?;
        let applied = node.core.last_applied();
        if applied != self.model.zxid {
            return Ok(());
        }
        let tree = node.shared.tree.read();
        let mut seen = 0usize;
        let mut digest = 0i64;
        for (key, n) in tree.preorder() {
            digest = digest.wrapping_add(n.digest_at(&key));
            let path = if key.is_empty() { "/".to_string() } else { key };
            seen += 1;
            let Some(m) = self.model.nodes.get(&path) else {
                return violation(format!("tree has {path}, model does not"));
            };
            let st = tree.client_stat(n);
            let data = n.data_opt().map(|d| d.to_vec()).unwrap_or_default();
            let children: BTreeSet<String> = tree.child_names(n).into_iter().collect();
            if !same_stat(m, &st) || data != m.data || children != m.children {
                return violation(format!("{path}: tree {st:?} {children:?}, model {m:?}"));
            }
        }
        if seen != self.model.nodes.len() {
            return violation(format!(
                "tree has {seen} nodes, model {}",
                self.model.nodes.len()
            ));
        }
        if digest != tree.digest() {
            return violation(format!(
                "tree digest {} but its nodes sum to {digest}",
                tree.digest()
            ));
        }
        Ok(())
    }

    /// Let everything finish and check the end state.
    fn finish(&mut self) -> Result<(), String> {
        for _ in 0..4 {
            self.disk_write()?;
            self.node().sync()?;
            self.deliver()?;
        }
        self.check_tree()?;
        self.summary.snapshots += self.node().snapshots;
        Ok(())
    }
}

/// A change `event_type` at `path` (zxid `z`) fires client `c`'s matching watch, once.
fn fire(c: &mut Client, z: i64, path: &str, event_type: i32) {
    use super::model::{EV_CHILDREN, EV_CREATED, EV_DATA, EV_DELETED};
    let data = Reg::Data(path.to_string());
    let child = Reg::Child(path.to_string());
    let mut consumed = Vec::new();
    for reg in [data, child] {
        let applies = matches!(
            (&reg, event_type),
            (Reg::Data(_), EV_CREATED | EV_DATA | EV_DELETED)
                | (Reg::Child(_), EV_CHILDREN | EV_DELETED)
        );
        if applies && c.regs.remove(&reg) {
            consumed.push(reg);
        }
    }
    if consumed.is_empty() {
        return;
    }
    // One event per watcher and change, however many of its watches the change fires.
    if let Some(e) = c
        .expected
        .iter_mut()
        .find(|e| e.0 == z && e.1 == event_type && e.2 == path)
    {
        e.3.extend(consumed);
        return;
    }
    {
        // A watch registered late may fire for a change older than ones already due.
        let at = c.expected.iter().take_while(|e| e.0 <= z).count();
        c.expected
            .insert(at, Expected(z, event_type, path.to_string(), consumed));
    }
}

fn request_of(sent: &Sent) -> (i32, Request) {
    let open = crate::tree::acl::open_acl_unsafe();
    let pw = |path: &String, watch: bool| PathWatchRequest {
        path: path.clone(),
        watch,
    };
    match sent {
        Sent::Ping => (op::PING, Request::Ping),
        Sent::Read { read, watch } => match read {
            Read::GetData(p) => (op::GET_DATA, Request::GetData(pw(p, *watch))),
            Read::Exists(p) => (op::EXISTS, Request::Exists(pw(p, *watch))),
            Read::Children(p) => (op::GET_CHILDREN, Request::GetChildren(pw(p, *watch))),
        },
        Sent::Write(w) => match w {
            Write::Create {
                path,
                data,
                ephemeral,
                sequential,
            } => {
                let flags = match (ephemeral, sequential) {
                    (false, false) => create_mode::PERSISTENT,
                    (true, false) => create_mode::EPHEMERAL,
                    (false, true) => create_mode::PERSISTENT_SEQUENTIAL,
                    (true, true) => create_mode::EPHEMERAL_SEQUENTIAL,
                };
                (
                    op::CREATE,
                    Request::Create {
                        op_code: op::CREATE,
                        req: CreateTtlRequest {
                            path: path.clone(),
                            data: Data::new(data.clone()),
                            acl: open,
                            flags,
                            ttl: -1,
                        },
                    },
                )
            }
            Write::Delete { path, version } => (
                op::DELETE,
                Request::Delete(DeleteRequest {
                    path: path.clone(),
                    version: *version,
                }),
            ),
            Write::SetData {
                path,
                data,
                version,
            } => (
                op::SET_DATA,
                Request::SetData(SetDataRequest {
                    path: path.clone(),
                    data: Data::new(data.clone()),
                    version: *version,
                }),
            ),
            Write::Multi(ops) => (
                op::MULTI,
                Request::Multi(
                    ops.iter()
                        .map(|o| match o {
                            MultiOp::Check { path, version } => {
                                proto::MultiOp::Check(CheckVersionRequest {
                                    path: path.clone(),
                                    version: *version,
                                })
                            }
                            MultiOp::Create { path, data } => proto::MultiOp::Create {
                                op_code: op::CREATE,
                                req: CreateTtlRequest {
                                    path: path.clone(),
                                    data: Data::new(data.clone()),
                                    acl: open.clone(),
                                    flags: create_mode::PERSISTENT,
                                    ttl: -1,
                                },
                            },
                            MultiOp::SetData {
                                path,
                                data,
                                version,
                            } => proto::MultiOp::SetData(SetDataRequest {
                                path: path.clone(),
                                data: Data::new(data.clone()),
                                version: *version,
                            }),
                            MultiOp::Delete { path, version } => {
                                proto::MultiOp::Delete(DeleteRequest {
                                    path: path.clone(),
                                    version: *version,
                                })
                            }
                        })
                        .collect(),
                ),
            ),
            Write::CloseSession => (op::CLOSE_SESSION, Request::CloseSession),
        },
    }
}

/// What the server answered to `w`, in the model's terms.
fn decode_answer(w: &Write, err: i32, body: bytes::Bytes) -> Result<Answer, String> {
    let mut r = Reader::new(body);
    let e = |x: crate::jute::JuteError| x.to_string();
    if let Write::Multi(_) = w {
        if err != 0 {
            return Ok(Answer::Err(err));
        }
        let mut out = Vec::new();
        loop {
            let h = MultiHeader::read(&mut r).map_err(e)?;
            if h.done {
                break;
            }
            out.push(match h.op_type {
                op::CREATE => (0, Some(r.read_ustring().map_err(e)?), None),
                op::SET_DATA => {
                    let s = Stat::read(&mut r).map_err(e)?;
                    (0, None, Some(s))
                }
                op::DELETE | op::CHECK => (0, None, None),
                op::ERROR => (r.read_i32().map_err(e)?, None, None),
                t => return Err(format!("multi result of type {t}")),
            });
        }
        return Ok(Answer::Multi(
            out.into_iter()
                .map(|(c, p, s)| (c, p, s.map(stat_node)))
                .collect(),
        ));
    }
    if err != 0 {
        return Ok(Answer::Err(err));
    }
    Ok(match w {
        Write::Create { .. } => Answer::Created(r.read_ustring().map_err(e)?),
        Write::Delete { .. } => Answer::Deleted,
        Write::SetData { .. } => Answer::Stat(stat_node(Stat::read(&mut r).map_err(e)?)),
        Write::CloseSession => Answer::Closed,
        Write::Multi(_) => unreachable!("handled above"),
    })
}

/// A Stat as a model node (data and children unknown: compared by length/count only).
fn stat_node(s: Stat) -> MNode {
    let children = s.num_children.max(0);
    MNode {
        data: vec![0; s.data_length.max(0) as usize],
        czxid: s.czxid,
        mzxid: s.mzxid,
        pzxid: s.pzxid,
        version: s.version,
        // cversion() = creates * 2 - children gives back s.cversion when they agree.
        creates: (s.cversion + children).div_euclid(2),
        ephemeral_owner: s.ephemeral_owner,
        children: (0..children).map(|i| i.to_string()).collect(),
    }
}

fn stat_eq(a: &MNode, b: &MNode) -> bool {
    a.czxid == b.czxid
        && a.mzxid == b.mzxid
        && a.pzxid == b.pzxid
        && a.version == b.version
        && a.cversion() == b.cversion()
        && a.ephemeral_owner == b.ephemeral_owner
        && a.data.len() == b.data.len()
        && a.children.len() == b.children.len()
}

fn answers_match(want: &Answer, got: &Answer) -> bool {
    match (want, got) {
        (Answer::Stat(a), Answer::Stat(b)) => stat_eq(a, b),
        (Answer::Multi(a), Answer::Multi(b)) => {
            a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| {
                    x.0 == y.0
                        && x.1 == y.1
                        && match (&x.2, &y.2) {
                            (Some(s), Some(t)) => stat_eq(s, t),
                            (None, None) => true,
                            _ => false,
                        }
                })
        }
        _ => want == got,
    }
}

/// Run seed `seed` to the end; Err describes the first violated invariant.
pub fn run(seed: u64) -> Result<Summary, String> {
    let mut w = World::new(seed)?;
    for step in 0..STEPS {
        w.step().map_err(|e| format!("step {step}: {e}"))?;
        w.check_quiet().map_err(|e| format!("step {step}: {e}"))?;
    }
    w.finish().map_err(|e| format!("finish: {e}"))?;
    Ok(w.summary)
}

/// Runs `count` seeds from `first` (SIM_SEEDS / SIM_FIRST_SEED override: then only the
/// first half-test runs them).
fn run_seeds(half: u64) {
    let add = |t: &mut Summary, s: Summary| {
        t.writes_acked += s.writes_acked;
        t.reads_checked += s.reads_checked;
        t.events += s.events;
        t.crashes += s.crashes;
        t.expiries += s.expiries;
        t.snapshots += s.snapshots;
    };
    let Some(b) = super::seeds::run_half(half, DEFAULT_SEEDS, run, add, "sim::run::replay_seed")
    else {
        return;
    };
    let (first, n, total) = (b.first, b.n, b.total);
    eprintln!(
        "sim: seeds {first}..{}: {:.1} s: {} writes acked, {} reads checked, {} watch events, {} crashes, {} expiries, {} snapshots",
        first + n,
        b.secs,
        total.writes_acked,
        total.reads_checked,
        total.events,
        total.crashes,
        total.expiries,
        total.snapshots
    );
    assert!(total.writes_acked > 0 && total.crashes > 0 && total.events > 0);
}

super::seeds::seed_tests!(run_seeds, run);
