//! The election-port connection manager (Java's `QuorumCnxManager`).
//!
//! Owns: the listener(s) on my election address, dialing peers (connect timeout
//! `cnxTimeout`), the initial message, the rule that only a connection dialed by the
//! larger sid survives (a smaller dialer sends its initial message and closes; an acceptor
//! that sees a smaller sid closes, drops its current connection to that sid and dials
//! back, to the address the initial message named), one live connection per peer (a
//! newer one replaces the old), each peer's one-slot send queue where the newest message
//! wins (`CircularBlockingQueue(1)`), re-sending the last message sent to a peer when a
//! new connection to it starts with nothing queued, the i32 length frames (1..=512 KiB; a
//! bad frame closes that connection only), and the bounded receive queue (100, oldest
//! dropped, as Java's).
//! Must never: interpret notifications (bytes in, bytes out: that is the driver and
//! `zab::election`), block on a peer without a bound or a way to cancel it, or let one
//! peer's garbage affect another's connection.

use crate::config::quorum::is_wildcard_host;
use crate::server::peer_stream::{PeerRead, PeerTransport, PeerWrite};
use crate::zab::election::wire::{self, InitialMessage, OBSERVER_ID};
use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// `QuorumCnxManager.RECV_CAPACITY`.
pub const RECV_CAPACITY: usize = 100;
/// Concurrent incoming handshakes (`quorum.cnxn.threads.size` default).
const HANDSHAKE_LIMIT: usize = 20;
/// Peers outside the configured view we keep state for at once (Java accepts any sid:
/// a member with a newer config may know more servers than we do).
const MAX_UNKNOWN_PEERS: usize = 16;

/// A member's election address(es) as configured: `(host, port)`.
pub type Addrs = Vec<(String, u16)>;

/// The bounded receive queue: (sender sid, payload); full → the oldest is dropped.
pub struct RecvQueue {
    q: Mutex<VecDeque<(i64, Bytes)>>,
    ready: Notify,
}

impl RecvQueue {
    fn new() -> RecvQueue {
        RecvQueue {
            q: Mutex::new(VecDeque::with_capacity(RECV_CAPACITY)),
            ready: Notify::new(),
        }
    }
    fn push(&self, sid: i64, b: Bytes) {
        {
            let mut q = self.q.lock();
            if q.len() >= RECV_CAPACITY {
                q.pop_front();
                tracing::debug!("election receive queue full, dropping the oldest message");
            }
            q.push_back((sid, b));
        }
        self.ready.notify_one();
    }
    /// Wait for the next message (cancel-safe).
    pub async fn pop(&self) -> (i64, Bytes) {
        loop {
            if let Some(m) = self.q.lock().pop_front() {
                return m;
            }
            self.ready.notified().await;
        }
    }
}

struct Conn {
    id: u64,
    cancel: CancellationToken,
}

#[derive(Default)]
struct Peer {
    /// The one-slot send queue.
    queue: Option<Bytes>,
    last_sent: Option<Bytes>,
    wake: Arc<Notify>,
    conn: Option<Conn>,
    /// The dial in progress (its id; 0 = none).
    dialing: u64,
    /// When the current run of connections to this peer began (None while down).
    up_since: Option<std::time::Instant>,
    /// The last connection ended after the peer had been reachable for a while
    /// (`STABLE_FOR`): it is lost, not a start-up transient (see `lost_peers`).
    lost: bool,
}

/// How long a peer must have been connected before its connection breaking counts as
/// losing it (start-up replaces connections within milliseconds).
const STABLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Shared by the listener, dialers, connection tasks and the driver.
pub struct Manager {
    my_sid: i64,
    /// Every configured member's election addresses (observers included).
    view: HashMap<i64, Addrs>,
    /// What we put in our initial message.
    my_addrs: Vec<String>,
    multi_address: bool,
    cnx_timeout: Duration,
    /// Plain or TLS (`sslQuorum`, `portUnification`).
    transport: PeerTransport,
    peers: Mutex<HashMap<i64, Peer>>,
    pub recv: RecvQueue,
    next_conn: AtomicU64,
    observer_counter: AtomicI64,
    handshakes: Arc<Semaphore>,
    pub cancel: CancellationToken,
    /// Woken when a peer becomes lost (see `lost_peers`), so a running finalizeWait can
    /// stop waiting for it.
    pub lost_changed: Notify,
}

impl Manager {
    pub fn new(
        my_sid: i64,
        view: HashMap<i64, Addrs>,
        multi_address: bool,
        cnx_timeout: Duration,
        transport: PeerTransport,
        cancel: CancellationToken,
    ) -> Arc<Manager> {
        let my_addrs = view
            .get(&my_sid)
            .map(|a| a.iter().map(|(h, p)| format_addr(h, *p)).collect())
            .unwrap_or_default();
        Arc::new(Manager {
            my_sid,
            view,
            my_addrs,
            multi_address,
            cnx_timeout,
            transport,
            peers: Mutex::new(HashMap::new()),
            recv: RecvQueue::new(),
            next_conn: AtomicU64::new(1),
            observer_counter: AtomicI64::new(-1),
            handshakes: Arc::new(Semaphore::new(HANDSHAKE_LIMIT)),
            cancel,
            lost_changed: Notify::new(),
        })
    }

    /// `toSend`: queue `payload` for `sid` (replacing what is still unsent) and make sure
    /// a connection is on its way.
    pub fn to_send(self: &Arc<Self>, sid: i64, payload: Bytes) {
        let wake = {
            let mut peers = self.peers.lock();
            if !self.view.contains_key(&sid) && !peers.contains_key(&sid) {
                tracing::debug!("not sending to {sid}: unknown and not connected");
                return;
            }
            let p = peers.entry(sid).or_default();
            p.queue = Some(payload);
            p.wake.clone()
        };
        wake.notify_one();
        self.connect_one(sid, None);
    }

    /// Whether a connection to `sid` is up.
    pub fn connected(&self, sid: i64) -> bool {
        self.peers
            .lock()
            .get(&sid)
            .is_some_and(|p| p.conn.is_some())
    }

    /// Peers whose connection had been up for `STABLE_FOR` and broke, with no new one
    /// since (see `FastLeaderElection::set_lost`).
    pub fn lost_peers(&self) -> std::collections::BTreeSet<i64> {
        self.peers
            .lock()
            .iter()
            .filter(|(_, p)| p.lost && p.conn.is_none())
            .map(|(sid, _)| *sid)
            .collect()
    }

    /// `connectOne`: dial `sid` unless connected or already dialing. `addrs` overrides the
    /// configured address (the one a peer named in its initial message).
    fn connect_one(self: &Arc<Self>, sid: i64, addrs: Option<Addrs>) {
        if self.cancel.is_cancelled() {
            return;
        }
        let dial = self.next_conn.fetch_add(1, Ordering::Relaxed);
        {
            let mut peers = self.peers.lock();
            let p = peers.entry(sid).or_default();
            if p.conn.is_some() || p.dialing != 0 {
                return;
            }
            if addrs.is_none() && !self.view.contains_key(&sid) {
                tracing::warn!("Invalid server id: {sid} ");
                return;
            }
            p.dialing = dial;
            if !self.view.contains_key(&sid) && self.unknown_peers(&peers) > MAX_UNKNOWN_PEERS {
                tracing::warn!("too many unknown election peers, not dialing {sid}");
                peers.remove(&sid);
                return;
            }
        }
        let Some(addrs) = addrs.or_else(|| self.view.get(&sid).cloned()) else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = me.cancel.cancelled() => {}
                _ = me.clone().initiate(sid, addrs, dial) => {}
            }
            let mut peers = me.peers.lock();
            if let Some(p) = peers.get_mut(&sid)
                && p.dialing == dial
            {
                p.dialing = 0;
            }
            me.forget_if_unknown(&mut peers, sid);
        });
    }

    /// `initiateConnection` + `startConnection`.
    async fn initiate(self: Arc<Self>, sid: i64, addrs: Addrs, dial: u64) {
        tracing::debug!("Opening channel to server {sid}");
        let mut stream = None;
        for (host, port) in &addrs {
            match tokio::time::timeout(self.cnx_timeout, TcpStream::connect((host.as_str(), *port)))
                .await
            {
                Ok(Ok(s)) => match self.transport.dialed(s, host, self.cnx_timeout).await {
                    Ok(s) => {
                        stream = Some(s);
                        break;
                    }
                    Err(e) => tracing::warn!(
                        "Cannot open secure channel to {sid} at election address {}: {e}",
                        format_addr(host, *port)
                    ),
                },
                Ok(Err(e)) => tracing::warn!(
                    "Cannot open channel to {sid} at election address {}: {e}",
                    format_addr(host, *port)
                ),
                Err(_) => tracing::warn!(
                    "Cannot open channel to {sid} at election address {}: connect timed out",
                    format_addr(host, *port)
                ),
            }
        }
        let Some(stream) = stream else {
            return;
        };
        let (mut rd, mut wr) = stream.into_split();
        let hello = InitialMessage::encode(self.my_sid, &self.my_addrs, self.multi_address);
        let wrote = tokio::time::timeout(self.cnx_timeout, async {
            wr.write_all(&hello).await?;
            wr.flush().await
        })
        .await;
        if !matches!(wrote, Ok(Ok(()))) {
            tracing::warn!("Ignoring exception reading or writing challenge to {sid}");
            return;
        }
        // Quorum SASL (learnerRequireSasl), before the id challenge as in Java.
        let mut leftover = BytesMut::new();
        if let Some(sasl) = self.transport.sasl()
            && let Err(e) = sasl
                .as_learner(
                    &mut rd,
                    &mut wr,
                    &mut leftover,
                    &format!("election port of {sid}"),
                    self.cnx_timeout,
                )
                .await
        {
            tracing::warn!("Exception while connecting, id: {sid}: {e}");
            return;
        }
        if sid > self.my_sid {
            tracing::info!(
                "Have smaller server identifier, so dropping the connection: (myId:{} --> sid:{})",
                self.my_sid,
                sid
            );
            return; // dropping the halves closes it; the peer dials back
        }
        self.start_connection(rd, wr, sid, leftover, Some(dial));
    }

    /// Install `rd` + `wr` as the connection to `sid`, replacing any older one, and start
    /// its sender and receiver. `leftover` = bytes read past the initial message;
    /// `dial` = the dial that made it, which ends here (under the same lock that installs
    /// the connection: a peer dialing us right after must find no dial in progress, or
    /// its dial-back would be skipped).
    fn start_connection(
        self: &Arc<Self>,
        rd: PeerRead,
        wr: PeerWrite,
        sid: i64,
        leftover: BytesMut,
        dial: Option<u64>,
    ) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let cancel = self.cancel.child_token();
        let wake = {
            let mut peers = self.peers.lock();
            if !self.view.contains_key(&sid)
                && !peers.contains_key(&sid)
                && self.unknown_peers(&peers) >= MAX_UNKNOWN_PEERS
            {
                tracing::warn!(
                    "too many unknown election peers, closing the connection from {sid}"
                );
                return;
            }
            let p = peers.entry(sid).or_default();
            if dial.is_some_and(|d| d == p.dialing) {
                p.dialing = 0;
            }
            if let Some(old) = p.conn.take() {
                tracing::debug!("replacing the connection to {sid}");
                old.cancel.cancel();
            }
            p.conn = Some(Conn {
                id,
                cancel: cancel.clone(),
            });
            p.up_since.get_or_insert_with(std::time::Instant::now);
            p.lost = false;
            p.wake.clone()
        };
        tracing::info!("election connection to server {sid} up");
        let me = self.clone();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = c.cancelled() => {}
                r = me.send_worker(sid, wr, wake) => {
                    if let Err(e) = r {
                        tracing::warn!("Exception when using channel: for id {sid} my id = {}: {e}", me.my_sid);
                    }
                }
            }
            me.finish(sid, id);
        });
        let me = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                r = me.recv_worker(sid, rd, leftover) => {
                    if let Err(e) = r {
                        tracing::warn!("Connection broken for id {sid}, my id = {}: {e}", me.my_sid);
                    }
                }
            }
            me.finish(sid, id);
        });
    }

    /// Close connection `id` to `sid` if it is still the current one.
    fn finish(&self, sid: i64, id: u64) {
        let mut peers = self.peers.lock();
        if let Some(p) = peers.get_mut(&sid)
            && p.conn.as_ref().is_some_and(|c| c.id == id)
            && let Some(c) = p.conn.take()
        {
            c.cancel.cancel();
            p.lost = p.up_since.take().is_some_and(|t| t.elapsed() >= STABLE_FOR);
            if p.lost {
                self.lost_changed.notify_one();
            }
        }
        self.forget_if_unknown(&mut peers, sid);
    }

    fn unknown_peers(&self, peers: &HashMap<i64, Peer>) -> usize {
        peers.keys().filter(|s| !self.view.contains_key(s)).count()
    }

    /// Drop the state of a peer outside the view once it is neither connected nor dialed.
    fn forget_if_unknown(&self, peers: &mut HashMap<i64, Peer>, sid: i64) {
        if !self.view.contains_key(&sid)
            && peers
                .get(&sid)
                .is_some_and(|p| p.conn.is_none() && p.dialing == 0)
        {
            peers.remove(&sid);
        }
    }

    /// Drop whatever connection to `sid` is up (`SendWorker.finish`).
    fn finish_any(&self, sid: i64) {
        let mut peers = self.peers.lock();
        if let Some(c) = peers.get_mut(&sid).and_then(|p| p.conn.take()) {
            c.cancel.cancel();
        }
        self.forget_if_unknown(&mut peers, sid);
    }

    /// `SendWorker.run`.
    async fn send_worker(
        &self,
        sid: i64,
        mut wr: PeerWrite,
        wake: Arc<Notify>,
    ) -> std::io::Result<()> {
        let last = {
            let peers = self.peers.lock();
            peers
                .get(&sid)
                .filter(|p| p.queue.is_none())
                .and_then(|p| p.last_sent.clone())
        };
        if let Some(b) = last {
            tracing::debug!("Attempting to send lastMessage to sid={sid}");
            write_frame(&mut wr, &b).await?;
        }
        loop {
            let next = {
                let mut peers = self.peers.lock();
                match peers.get_mut(&sid) {
                    Some(p) => {
                        let b = p.queue.take();
                        if let Some(b) = &b {
                            p.last_sent = Some(b.clone());
                        }
                        b
                    }
                    None => None,
                }
            };
            match next {
                Some(b) => write_frame(&mut wr, &b).await?,
                None => wake.notified().await,
            }
        }
    }

    /// `RecvWorker.run`.
    async fn recv_worker(
        &self,
        sid: i64,
        mut rd: PeerRead,
        mut buf: BytesMut,
    ) -> std::io::Result<()> {
        loop {
            match wire::decode_frame(&buf) {
                Ok(Some((_, used))) => {
                    let mut frame = buf.split_to(used);
                    frame.advance(4);
                    self.recv.push(sid, frame.freeze());
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("Received packet with invalid packet: {e}"),
                    ));
                }
            }
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(64 * 1024);
            }
            if rd.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed by peer",
                ));
            }
        }
    }

    /// Serve the election port(s) until cancelled.
    pub async fn listen(self: Arc<Self>, listener: TcpListener) {
        loop {
            let accepted = tokio::select! {
                _ = self.cancel.cancelled() => return,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((stream, from)) => {
                    tracing::info!("Received connection request from {from}");
                    let Ok(permit) = self.handshakes.clone().try_acquire_owned() else {
                        tracing::warn!("too many election handshakes in progress, closing {from}");
                        continue;
                    };
                    let me = self.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = me.cancel.cancelled() => {}
                            _ = me.clone().handle_connection(stream, from) => {}
                        }
                        drop(permit);
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::error!("Exception while listening on the election port: {e}");
                    tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// `handleConnection`.
    async fn handle_connection(self: Arc<Self>, stream: TcpStream, from: SocketAddr) {
        let (mut rd, mut wr) = match self.transport.accepted(stream, self.cnx_timeout).await {
            Ok(s) => s.into_split(),
            Err(e) => {
                tracing::warn!("election connection from {from} refused: {e}");
                return;
            }
        };
        let mut buf = BytesMut::with_capacity(64);
        let read = tokio::time::timeout(self.cnx_timeout, async {
            loop {
                match InitialMessage::decode(&buf) {
                    Ok(Some(x)) => return Ok(x),
                    Ok(None) => {}
                    Err(e) => return Err(e.to_string()),
                }
                match rd.read_buf(&mut buf).await {
                    Ok(0) => return Err("closed before the initial message".to_string()),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .await;
        let (init, used) = match read {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::error!("Initial message parsing error from {from}: {e}");
                return;
            }
            Err(_) => {
                tracing::warn!("No initial message from {from} within the connect timeout");
                return;
            }
        };
        let mut leftover = buf.split_off(used);
        let mut sid = init.sid;
        if sid == OBSERVER_ID {
            sid = self.observer_counter.fetch_sub(1, Ordering::Relaxed);
            tracing::info!("Setting arbitrary identifier to observer: {sid}");
        }
        tracing::debug!("Initial message parsed by {}: {init:?}", self.my_sid);
        // Quorum SASL: a refused or failed learner is closed, and not dialed back.
        if let Some(sasl) = self.transport.sasl()
            && sasl
                .as_server(
                    &mut rd,
                    &mut wr,
                    &mut leftover,
                    &from.to_string(),
                    self.cnx_timeout,
                )
                .await
                .is_err()
        {
            tracing::error!(
                "Exception handling connection, addr: {from}, closing server connection"
            );
            return;
        }
        if sid < self.my_sid {
            // Only the larger sid's dial survives: drop this one (and any connection we
            // had to it) and dial back.
            self.finish_any(sid);
            drop((rd, wr));
            tracing::debug!("Create new connection to server: {sid}");
            let addrs: Addrs = init
                .addrs
                .iter()
                .filter_map(|a| wire::parse_host_port(a).ok())
                .filter(|(h, _)| !is_wildcard_host(h))
                .collect();
            self.connect_one(sid, (!addrs.is_empty()).then_some(addrs));
        } else if sid == self.my_sid {
            tracing::warn!(
                "We got a connection request from a server with our own ID. This should be \
                 either a configuration error, or a bug."
            );
        } else {
            self.start_connection(rd, wr, sid, leftover, None);
        }
    }
}

async fn write_frame(wr: &mut PeerWrite, payload: &[u8]) -> std::io::Result<()> {
    let mut b = Vec::with_capacity(4 + payload.len());
    b.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    b.extend_from_slice(payload);
    wr.write_all(&b).await?;
    wr.flush().await
}

/// `host:port`, IPv6 literals bracketed (`NetUtils.formatInetAddr`).
pub fn format_addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Bind one election listener (`ServerSocket` with SO_REUSEADDR), resolving `host`.
pub async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let sock = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        sock.set_reuseaddr(true)?;
        match sock.bind(addr).and_then(|()| sock.listen(50)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("no address for {}", format_addr(host, port)),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn receive_queue_keeps_the_newest_hundred() {
        let q = RecvQueue::new();
        for i in 0..150u8 {
            q.push(i64::from(i), Bytes::from(vec![i]));
        }
        for i in 50..150u8 {
            let (sid, b) = q.pop().await;
            assert_eq!((sid, &b[..]), (i64::from(i), &[i][..]));
        }
        assert!(q.q.lock().is_empty());
    }

    #[test]
    fn addresses_print_like_java() {
        assert_eq!(format_addr("127.0.0.1", 3888), "127.0.0.1:3888");
        assert_eq!(format_addr("::1", 3888), "[::1]:3888");
        assert!(is_wildcard_host("0.0.0.0") && is_wildcard_host("::") && is_wildcard_host("[::]"));
        assert!(!is_wildcard_host("127.0.0.1") && !is_wildcard_host("zk1"));
    }
}
