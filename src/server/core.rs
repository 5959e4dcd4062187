//! The core: the single writer that owns the data tree, watches and session table.
//!
//! Every request of every connection arrives here in order over one bounded channel;
//! writes are turned into transactions (prep), given the next zxid, applied to the tree
//! in zxid order, their watch events queued, then their replies — so a client always sees
//! the event before any reply that reflects the change, and each session's requests are
//! answered in the order sent.
//! Owns: zxid assignment, session lifecycle (create, re-attach, expiry, close), auth ids
//! per connection, container/TTL reaping, server statistics.
//! Must never: do blocking I/O or wait on a client (it only appends to outboxes).

use crate::admin::{self, ConnView, ServerView};
use crate::jute::Record;
use crate::jute::records::*;
use crate::jute::txn::*;
use crate::proto::{self, Request, Response, encode_reply, err, op, xid};
use crate::server::outbox::Outbox;
use crate::server::settings::Settings;
use crate::session::{self, SessionTracker};
use crate::tree::{self, DataTree};
use crate::txn::prep::{self, PendingChanges};
use crate::txn::{RequestCtx, Txn, TxnBody, read};
use crate::watch::WatchManager;
use bytes::BufMut;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Identifies one client connection (also its watcher id).
pub type ConnId = u64;

/// Capacity of the core's inbound queue (messages, each a batch of frames).
pub const CORE_QUEUE: usize = 4096;

/// Messages from connection tasks to the core.
pub enum CoreMsg {
    /// A ConnectRequest. The core writes the ConnectResponse into `outbox` itself and
    /// answers `true` when the session is established.
    Connect {
        conn: ConnId,
        peer: SocketAddr,
        req: ConnectRequest,
        outbox: Arc<Outbox>,
        reply: oneshot::Sender<bool>,
    },
    /// Decoded requests of one connection, in order.
    Requests {
        conn: ConnId,
        reqs: Vec<InboundRequest>,
    },
    /// The connection is gone (socket closed or error).
    Disconnected { conn: ConnId },
    /// A four-letter word: the text to send back.
    FourLetter {
        word: String,
        reply: oneshot::Sender<String>,
    },
}

/// One decoded request frame.
pub struct InboundRequest {
    pub xid: i32,
    pub op_code: i32,
    pub req: Request,
    pub received: Instant,
}

struct Conn {
    outbox: Arc<Outbox>,
    session_id: i64,
    timeout_ms: i32,
    auth: Vec<Id>,
    peer: SocketAddr,
    received: u64,
    sent: u64,
    connected_at: i64,
    last_zxid: i64,
    last_op: &'static str,
}

/// Request latency and packet counters (for srvr/stat/mntr).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub latency_min_ms: u64,
    pub latency_max_ms: u64,
    pub latency_total_ms: u64,
    pub latency_count: u64,
    pub auth_failed: u64,
}

impl Stats {
    fn record_latency(&mut self, ms: u64) {
        if self.latency_count == 0 || ms < self.latency_min_ms {
            self.latency_min_ms = ms;
        }
        self.latency_max_ms = self.latency_max_ms.max(ms);
        self.latency_total_ms += ms;
        self.latency_count += 1;
    }
}

pub struct Core {
    settings: Arc<Settings>,
    tree: DataTree,
    watches: WatchManager,
    sessions: SessionTracker,
    pending: PendingChanges,
    last_zxid: i64,
    conns: HashMap<ConnId, Conn>,
    session_conn: HashMap<i64, ConnId>,
    stats: Stats,
    started: Instant,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Core {
    pub fn new(settings: Arc<Settings>) -> Self {
        let first_id = session::initial_session_id(now_ms(), settings.server_id);
        Core {
            tree: DataTree::new(),
            watches: WatchManager::new(),
            sessions: SessionTracker::new(settings.tick_ms, first_id),
            pending: PendingChanges::default(),
            last_zxid: 0,
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            stats: Stats::default(),
            started: Instant::now(),
            settings,
        }
    }

    /// Run until the channel closes (all senders dropped) or `shutdown` fires.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<CoreMsg>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut expiry = tokio::time::interval(Duration::from_millis(50));
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reap_every = Duration::from_millis(self.settings.container_check_interval_ms.max(10));
        let mut reaper = tokio::time::interval(reap_every);
        reaper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(256);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, 256) => {
                    if n == 0 { break; }
                    for msg in batch.drain(..) {
                        self.handle(msg);
                    }
                }
                _ = expiry.tick() => self.expire_sessions(),
                _ = reaper.tick() => self.reap_containers(),
                _ = shutdown.changed() => break,
            }
        }
        for c in self.conns.values() {
            c.outbox.close();
        }
    }

    fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect {
                conn,
                peer,
                req,
                outbox,
                reply,
            } => {
                let ok = self.connect(conn, peer, req, outbox);
                let _ = reply.send(ok);
            }
            CoreMsg::Requests { conn, reqs } => {
                for r in reqs {
                    self.request(conn, r);
                }
            }
            CoreMsg::Disconnected { conn } => self.disconnected(conn),
            CoreMsg::FourLetter { word, reply } => {
                let text = admin::four_letter(&word, &self.view());
                let _ = reply.send(text);
            }
        }
    }

    fn next_zxid(&mut self) -> i64 {
        self.last_zxid += 1;
        self.last_zxid
    }

    /// Apply a prepared txn, fire its watches, and return the outcome.
    fn apply(&mut self, txn: &Txn) -> tree::ApplyOutcome {
        let outcome = self.tree.apply(txn);
        self.pending.applied(txn.header.zxid);
        for ev in &outcome.events {
            for (watcher, event_type) in self.watches.trigger(ev) {
                self.notify(watcher, event_type, &ev.path);
            }
        }
        outcome
    }

    fn notify(&mut self, watcher: ConnId, event_type: i32, path: &str) {
        if let Some(c) = self.conns.get_mut(&watcher) {
            let ok = c.outbox.push_with(|b| {
                encode_frame(b, |b| {
                    // 3.8 servers put zxid -1 in notifications.
                    ReplyHeader {
                        xid: xid::NOTIFICATION,
                        zxid: -1,
                        err: 0,
                    }
                    .write(b);
                    WatcherEvent {
                        event_type,
                        state: proto::event::STATE_SYNC_CONNECTED,
                        path: path.to_owned(),
                    }
                    .write(b);
                })
            });
            if ok {
                c.sent += 1;
                self.stats.packets_sent += 1;
            }
        }
    }

    fn reply(&mut self, conn: ConnId, xid: i32, zxid: i64, err: i32, resp: &Response) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.outbox
                .push_with(|b| encode_reply(b, xid, zxid, err, resp))
            {
                c.sent += 1;
                self.stats.packets_sent += 1;
            }
        }
    }

    fn connect(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        req: ConnectRequest,
        outbox: Arc<Outbox>,
    ) -> bool {
        self.stats.packets_received += 1;
        if req.last_zxid_seen > self.last_zxid {
            tracing::info!(
                "refusing session request for client {peer}: it has seen zxid 0x{:x}, our last zxid is 0x{:x}; client must try another server",
                req.last_zxid_seen,
                self.last_zxid
            );
            outbox.close();
            return false;
        }
        let s = &self.settings;
        let timeout =
            session::negotiate_timeout(req.time_out, s.min_session_timeout, s.max_session_timeout);
        let ro = req.read_only.map(|_| false);
        let now = now_ms();
        let session_id;
        if req.session_id == 0 {
            session_id = self.sessions.next_session_id();
            let zxid = self.next_zxid();
            let txn = Txn {
                header: TxnHeader {
                    client_id: session_id,
                    cxid: 0,
                    zxid,
                    time: now,
                    txn_type: op::CREATE_SESSION,
                },
                body: TxnBody::CreateSession(CreateSessionTxn { time_out: timeout }),
            };
            self.apply(&txn);
            self.sessions.add(session_id, timeout, now);
            tracing::debug!(
                "established session 0x{session_id:x} with timeout {timeout} for {peer}"
            );
        } else {
            session_id = req.session_id;
            let valid = self.sessions.is_live(session_id)
                && req.passwd.as_ref() == session::session_password(session_id).as_slice();
            if !valid {
                tracing::info!(
                    "invalid session 0x{session_id:x} for client {peer}, probably expired"
                );
                outbox.push_with(|b| {
                    encode_frame(b, |b| {
                        ConnectResponse {
                            protocol_version: 0,
                            time_out: 0,
                            session_id: 0,
                            passwd: vec![0u8; 16].into(),
                            read_only: ro,
                        }
                        .write(b)
                    })
                });
                outbox.close_after_flush();
                return false;
            }
            self.sessions.touch(session_id, now);
            // A session lives on one connection: drop the old one.
            if let Some(old) = self.session_conn.get(&session_id).copied() {
                if old != conn {
                    if let Some(c) = self.conns.get(&old) {
                        tracing::info!(
                            "session 0x{session_id:x} moved to a new connection; closing the old one"
                        );
                        c.outbox.close();
                    }
                }
            }
            tracing::debug!("re-attached session 0x{session_id:x} for {peer}");
        }
        let passwd = session::session_password(session_id);
        outbox.push_with(|b| {
            encode_frame(b, |b| {
                ConnectResponse {
                    protocol_version: 0,
                    time_out: timeout,
                    session_id,
                    passwd: passwd.to_vec().into(),
                    read_only: ro,
                }
                .write(b)
            })
        });
        self.session_conn.insert(session_id, conn);
        self.conns.insert(
            conn,
            Conn {
                outbox,
                session_id,
                timeout_ms: timeout,
                auth: vec![Id {
                    scheme: "ip".into(),
                    id: peer.ip().to_string(),
                }],
                peer,
                received: 1,
                sent: 1,
                connected_at: now,
                last_zxid: self.last_zxid,
                last_op: "NA",
            },
        );
        self.stats.packets_sent += 1;
        true
    }

    fn disconnected(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            self.watches.remove_watcher(conn);
            if self.session_conn.get(&c.session_id) == Some(&conn) {
                self.session_conn.remove(&c.session_id);
            }
        }
    }

    fn ctx(&self, conn: ConnId, cxid: i32) -> Option<RequestCtx> {
        self.conns.get(&conn).map(|c| RequestCtx {
            session_id: c.session_id,
            cxid,
            auth: c.auth.clone(),
        })
    }

    fn request(&mut self, conn: ConnId, r: InboundRequest) {
        self.stats.packets_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.received += 1;
        c.last_op = op_name(r.op_code);
        let session_id = c.session_id;
        if !self.sessions.touch(session_id, now_ms()) && !matches!(r.req, Request::CloseSession) {
            // The session expired or is closing under this connection.
            c.outbox.close();
            return;
        }
        let InboundRequest {
            xid,
            op_code,
            req,
            received,
        } = r;
        match req {
            Request::Ping => self.reply(conn, xid, self.last_zxid, 0, &Response::Empty),
            Request::Auth(p) => self.auth(conn, xid, p),
            Request::Unknown(code) => {
                tracing::warn!(
                    "unknown request type {code} from session 0x{session_id:x}; closing the connection"
                );
                self.reply(conn, xid, -1, err::UNIMPLEMENTED, &Response::Empty);
                if let Some(c) = self.conns.get(&conn) {
                    c.outbox.close_after_flush();
                }
            }
            Request::Sasl(_) => {
                // SASL is not enabled on this server: answer as ZooKeeper does without a
                // SASL server (an empty token).
                self.reply(
                    conn,
                    xid,
                    self.last_zxid,
                    0,
                    &Response::Sasl(SaslToken::default()),
                );
            }
            Request::WhoAmI => {
                let infos = self.conns.get(&conn).map(|c| {
                    c.auth
                        .iter()
                        .map(|id| ClientInfo {
                            auth_scheme: id.scheme.clone(),
                            user: id.id.clone(),
                        })
                        .collect()
                });
                let resp = Response::WhoAmI(WhoAmIResponse {
                    client_info: infos.unwrap_or_default(),
                });
                self.reply(conn, xid, self.last_zxid, 0, &resp);
            }
            Request::Sync(p) => {
                let resp = Response::Sync(SyncResponse { path: p.path });
                self.reply(conn, xid, self.last_zxid, 0, &resp);
            }
            req if req.is_write() => self.write(conn, xid, op_code, req),
            req => {
                let Some(ctx) = self.ctx(conn, xid) else {
                    return;
                };
                let (e, resp, fired) = read::read(&self.tree, &mut self.watches, conn, &ctx, &req);
                for (event_type, path) in fired {
                    self.notify(conn, event_type, &path);
                }
                self.reply(conn, xid, self.last_zxid, e, &resp);
            }
        }
        self.stats
            .record_latency(received.elapsed().as_millis() as u64);
    }

    fn write(&mut self, conn: ConnId, xid: i32, op_code: i32, req: Request) {
        let Some(ctx) = self.ctx(conn, xid) else {
            return;
        };
        let closing = matches!(req, Request::CloseSession);
        if closing {
            self.sessions.set_closing(ctx.session_id);
        }
        let zxid = self.next_zxid();
        let txn = prep::prep(
            &self.tree,
            &mut self.pending,
            &ctx,
            &req,
            zxid,
            now_ms(),
            &self.settings.prep,
        );
        let outcome = self.apply(&txn);
        let (e, resp) = prep::write_reply(op_code, &outcome.result);
        self.reply(conn, xid, zxid, e, &resp);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_zxid = zxid;
        }
        if closing {
            self.sessions.remove(ctx.session_id);
            self.session_conn.remove(&ctx.session_id);
            if let Some(c) = self.conns.get(&conn) {
                c.outbox.close_after_flush();
            }
            tracing::debug!("closed session 0x{:x}", ctx.session_id);
        }
    }

    fn auth(&mut self, conn: ConnId, xid: i32, p: AuthPacket) {
        let super_digest = self.settings.super_digest.clone();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ok = match p.scheme.as_str() {
            "digest" => {
                let user_pass = String::from_utf8_lossy(&p.auth).into_owned();
                let id = tree::acl::digest_id(&user_pass);
                let is_super = super_digest.as_deref() == Some(id.as_str());
                let new = Id {
                    scheme: "digest".into(),
                    id,
                };
                if !c.auth.contains(&new) {
                    c.auth.push(new);
                }
                if is_super {
                    let s = Id {
                        scheme: "super".into(),
                        id: String::new(),
                    };
                    if !c.auth.contains(&s) {
                        c.auth.push(s);
                    }
                }
                true
            }
            "ip" => true, // IPAuthenticationProvider: the ip id is already present
            _ => false,
        };
        if ok {
            self.reply(conn, xid, 0, 0, &Response::Empty);
        } else {
            tracing::warn!(
                "authentication with unknown scheme {:?} failed; closing the connection",
                p.scheme
            );
            self.stats.auth_failed += 1;
            self.reply(conn, xid, 0, err::AUTH_FAILED, &Response::Empty);
            if let Some(c) = self.conns.get(&conn) {
                c.outbox.close_after_flush();
            }
        }
    }

    fn close_session_txn(&mut self, session_id: i64) {
        let ctx = RequestCtx {
            session_id,
            cxid: 0,
            auth: Vec::new(),
        };
        let zxid = self.next_zxid();
        let txn = prep::prep(
            &self.tree,
            &mut self.pending,
            &ctx,
            &Request::CloseSession,
            zxid,
            now_ms(),
            &self.settings.prep,
        );
        self.apply(&txn);
        self.sessions.remove(session_id);
        if let Some(conn) = self.session_conn.remove(&session_id) {
            if let Some(c) = self.conns.get(&conn) {
                c.outbox.close();
            }
        }
    }

    fn expire_sessions(&mut self) {
        for id in self.sessions.take_expired(now_ms()) {
            tracing::info!("expiring session 0x{id:x}, timeout exceeded");
            self.close_session_txn(id);
        }
    }

    fn reap_containers(&mut self) {
        let now = now_ms();
        let paths = self
            .tree
            .reapable(now, self.settings.prep.extended_types_enabled);
        for path in paths
            .into_iter()
            .take(self.settings.container_max_per_minute.max(1))
        {
            let zxid = self.next_zxid();
            let txn = prep::prep_delete_container(&self.tree, &mut self.pending, &path, zxid, now);
            self.apply(&txn);
        }
    }

    /// A read-only picture of the server for the admin layer.
    fn view(&self) -> ServerView {
        let mut conns: Vec<ConnView> = self
            .conns
            .iter()
            .map(|(id, c)| ConnView {
                id: *id,
                peer: c.peer,
                session_id: c.session_id,
                timeout_ms: c.timeout_ms,
                received: c.received,
                sent: c.sent,
                connected_at: c.connected_at,
                last_zxid: c.last_zxid,
                last_op: c.last_op,
            })
            .collect();
        conns.sort_by_key(|c| c.id);
        ServerView {
            settings: self.settings.clone(),
            stats: self.stats.clone(),
            last_zxid: self.last_zxid,
            node_count: self.tree.node_count(),
            approximate_data_size: self.tree.approximate_data_size(),
            ephemerals: self.tree.ephemerals_by_session(),
            sessions: self.sessions.all(),
            session_buckets: self.sessions.buckets(),
            watch_summary: self.watches.summary(),
            conns,
            uptime_ms: self.started.elapsed().as_millis() as u64,
            digest: self.tree.digest(),
        }
    }
}

/// Encode one length-prefixed frame whose payload `f` writes.
pub fn encode_frame(b: &mut bytes::BytesMut, f: impl FnOnce(&mut bytes::BytesMut)) {
    let start = b.len();
    b.put_i32(0);
    f(b);
    let len = (b.len() - start - 4) as i32;
    b[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Opcode names as ZooKeeper's `Request.op2String` prints them (for cons/dump).
pub fn op_name(code: i32) -> &'static str {
    match code {
        op::CREATE => "CREA",
        op::CREATE2 => "CRE2",
        op::CREATE_CONTAINER => "CRTE",
        op::CREATE_TTL => "CRTT",
        op::DELETE => "DELE",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_DATA => "SETD",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::GET_CHILDREN => "GETC",
        op::GET_CHILDREN2 => "GET2",
        op::SYNC => "SYNC",
        op::PING => "PING",
        op::CHECK => "CHEC",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::RECONFIG => "RECO",
        op::CLOSE_SESSION => "CLOS",
        op::SET_WATCHES | op::SET_WATCHES2 => "SETW",
        op::AUTH => "AUTH",
        op::SASL => "SASL",
        op::ADD_WATCH => "ADDW",
        op::WHO_AM_I => "WHOA",
        op::GET_EPHEMERALS => "GETE",
        op::GET_ALL_CHILDREN_NUMBER => "GETN",
        op::CHECK_WATCHES => "CHKW",
        op::REMOVE_WATCHES => "REMW",
        _ => "UNKN",
    }
}
