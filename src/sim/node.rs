//! One simulated server: the real core with its shared tree, a real txn log and real
//! snapshots in a directory, and simulated connections.
//!
//! The disk is real files whose durability the simulator decides: the log thread's work
//! is split into `write` (entries reach the file: the page cache) and `sync` (they are
//! durable; the core hears `Logged`). `crash` truncates every log file to a random length
//! between what was synced and what was written, tearing an entry if the cut falls inside
//! one, and `restart` recovers with the production recovery code.
//! Owns: carrying out the core's actions the way the tokio shell does, without threads.
//! Must never: let the core see a durable zxid that was not synced.

use super::client::SimConn;
use super::rng::Rng;
use crate::jute::records::ConnectRequest;
use crate::proto::Request;
use crate::server::core::{Core, InboundRequest, Input, Now};
use crate::server::local_read::LocalReader;
use crate::server::outbox::Outbox;
use crate::server::persister::PersistBatch;
use crate::server::settings::Settings;
use crate::server::shared::{ConnId, ConnLink, Shared};
use crate::server::{snapshotter, startup};
use crate::storage::{self, txlog::TxnLogWriter};
use crate::txn::{Txn, codec};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Length of a txn log file header: a crash keeps at least this much of a file.
const LOG_HEADER: u64 = 16;

/// Power loss on log files: each keeps what was synced (at least its header) plus a
/// random part of what was written after it, possibly ending inside an entry.
pub fn tear_unsynced(
    written_len: &BTreeMap<PathBuf, u64>,
    synced_len: &BTreeMap<PathBuf, u64>,
    rng: &mut Rng,
) -> Result<(), String> {
    for (path, &written) in written_len {
        let synced = synced_len.get(path).copied().unwrap_or(0).max(LOG_HEADER);
        if written <= synced {
            continue;
        }
        let keep = synced + rng.below(written - synced + 1);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.set_len(keep)
            .map_err(|e| format!("truncate {}: {e}", path.display()))?;
    }
    Ok(())
}

pub struct SimNode {
    pub settings: Arc<Settings>,
    pub core: Core,
    pub shared: Arc<Shared>,
    pub now: Now,
    log: TxnLogWriter,
    /// Batches the core handed to the log thread, not yet written.
    queued: VecDeque<PersistBatch>,
    /// The last zxid written to a file (synced or not) and the last synced.
    pub written_zxid: i64,
    pub synced_zxid: i64,
    /// Per log file: bytes written, and bytes known durable.
    written_len: BTreeMap<PathBuf, u64>,
    synced_len: BTreeMap<PathBuf, u64>,
    pub conns: BTreeMap<ConnId, SimConn>,
    /// Packets a learner's core sent to its leader (empty on a standalone node).
    pub to_leader: Vec<crate::zab::packet::QuorumPacket>,
    next_conn: ConnId,
    /// Snapshots written (count).
    pub snapshots: u64,
}

impl SimNode {
    /// Start (or restart) a server on `settings.data_dir`, recovering what is there.
    pub fn start(settings: Arc<Settings>, now: Now, first_conn: ConnId) -> Result<SimNode, String> {
        let (tree, meta) =
            startup::recover(&settings).map_err(|e| format!("recovery failed: {e}"))?;
        let log = startup::open_log(&settings)
            .map_err(|e| format!("cannot open the log: {e}"))?
            .ok_or("the simulator needs a data directory")?;
        let last = meta.last_zxid;
        let shared = Arc::new(Shared::new(tree, last, settings.global_outstanding_limit));
        let core = Core::new(
            settings.clone(),
            shared.clone(),
            meta,
            now,
            Arc::new(AtomicU64::new(0)),
        );
        let mut node = SimNode {
            settings,
            core,
            shared,
            now,
            log,
            queued: VecDeque::new(),
            written_zxid: last,
            synced_zxid: last,
            written_len: BTreeMap::new(),
            synced_len: BTreeMap::new(),
            conns: BTreeMap::new(),
            to_leader: Vec::new(),
            next_conn: first_conn,
            snapshots: 0,
        };
        node.pump()?;
        Ok(node)
    }

    /// Feed one input at the current time, then carry out the actions.
    pub fn step(&mut self, input: Input) -> Result<(), String> {
        self.core.step(input, self.now);
        self.pump()
    }

    /// Carry out the core's actions as the shell does (snapshots synchronously).
    fn pump(&mut self) -> Result<(), String> {
        loop {
            let actions = self.core.take_actions();
            self.queued.extend(actions.persist);
            self.to_leader.extend(actions.to_leader);
            let mut flush = actions.flush;
            flush.flush();
            let Some(order) = actions.snapshot else {
                return Ok(());
            };
            let dir = self
                .settings
                .data_dir
                .as_ref()
                .map(|d| storage::version_dir(d))
                .ok_or("no data directory")?;
            let done = snapshotter::write(&dir, &order, &self.shared);
            self.snapshots += 1;
            self.core.step(Input::SnapshotDone(done), self.now);
        }
    }

    /// Batches waiting for the log thread.
    pub fn queued_batches(&self) -> usize {
        self.queued.len()
    }

    /// The log thread writes what is queued (not yet durable). Returns the txns written,
    /// in order.
    pub fn write(&mut self) -> Result<Vec<Txn>, String> {
        let mut txns = Vec::new();
        while let Some(b) = self.queued.pop_front() {
            for e in &b.entries {
                self.log.append(e).map_err(|e| format!("append: {e}"))?;
                txns.push(codec::decode_txn(e.clone()).map_err(|e| format!("decode: {e}"))?);
            }
            if b.roll_after {
                // Rolling commits the old file (fsync'd with forceSync): it is durable
                // before the next file gets a byte.
                self.note_written();
                if let Some(p) = self.log.current_path() {
                    self.synced_len
                        .insert(p.to_path_buf(), self.log.current_size());
                }
                self.log.roll().map_err(|e| format!("roll: {e}"))?;
            }
            self.log.commit().map_err(|e| format!("write: {e}"))?;
            self.note_written();
            self.written_zxid = b.last_zxid;
        }
        Ok(txns)
    }

    fn note_written(&mut self) {
        if let Some(p) = self.log.current_path() {
            self.written_len
                .insert(p.to_path_buf(), self.log.current_size());
        }
    }

    /// What was written becomes durable; the core hears it.
    pub fn sync(&mut self) -> Result<(), String> {
        if self.synced_zxid == self.written_zxid {
            return Ok(());
        }
        self.synced_len = self.written_len.clone();
        self.synced_zxid = self.written_zxid;
        self.step(Input::Logged(self.written_zxid))
    }

    /// Power loss: every log file keeps what was synced plus a random part of what was
    /// written after it (possibly ending inside an entry). Connections are gone.
    pub fn crash(self, rng: &mut Rng) -> Result<(), String> {
        tear_unsynced(&self.written_len, &self.synced_len, rng)
    }

    /// Open a connection with this handshake.
    pub fn connect(&mut self, req: ConnectRequest) -> Result<ConnId, String> {
        let id = self.next_conn;
        self.next_conn += 1;
        static SIM_QUEUED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let outbox = Arc::new(Outbox::counted_in(None, &SIM_QUEUED));
        let link = Arc::new(ConnLink::new(self.shared.throttle.clone()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let reader = LocalReader {
            shared: self.shared.clone(),
            link: link.clone(),
            conn: id,
            acl_rules: self.settings.prep.acl_rules(),
            enforce_auth_schemes: None,
            touch_every: Duration::from_secs(3600),
            last_touch: std::time::Instant::now(),
            pending: Default::default(),
        };
        self.conns.insert(
            id,
            SimConn::new(id, outbox.clone(), link.clone(), reader, rx),
        );
        let peer: SocketAddr = ([127, 0, 0, 1], 40000 + (id % 20000) as u16).into();
        self.step(Input::Connect {
            conn: id,
            peer,
            req,
            outbox,
            link,
            reply: tx,
        })?;
        Ok(id)
    }

    /// A client sends a request: plain reads may be served by the connection itself, as
    /// the connection task does; the rest go to the core.
    pub fn send(
        &mut self,
        conn: ConnId,
        xid: i32,
        op_code: i32,
        req: Request,
    ) -> Result<(), String> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(format!("no connection {conn}"));
        };
        if c.reader
            .try_serve(xid, op_code, &req, &c.outbox, self.now.mono_ms)
        {
            return Ok(());
        }
        c.link.sent_to_core(1);
        let r = InboundRequest {
            xid,
            op_code,
            req,
            received_ms: self.now.mono_ms,
            body: bytes::Bytes::new(),
        };
        self.step(Input::Requests {
            conn,
            reqs: vec![r],
        })
    }

    /// The client side of `conn` goes away.
    pub fn disconnect(&mut self, conn: ConnId) -> Result<(), String> {
        if let Some(c) = self.conns.remove(&conn) {
            self.step(Input::Disconnected { conn })?;
            c.link.release_all();
        }
        Ok(())
    }

    /// Time passes.
    pub fn advance(&mut self, ms: i64) -> Result<(), String> {
        self.now.mono_ms += ms;
        self.now.wall_ms += ms;
        self.step(Input::Tick)
    }
}
