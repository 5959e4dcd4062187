//! `ferrokeeper-bench`: a ZooKeeper load generator speaking the client wire protocol through
//! ferrokeeper's own `jute`/`proto` types. Works against any ZooKeeper-compatible server.
//!
//! Many sessions, each one TCP connection pipelining up to `--depth` requests; replies are
//! matched in order (ZooKeeper answers a session in order). Requests are pre-encoded per key,
//! replies are decoded only as far as the header (plus the path of a create), so a session
//! costs the generator little CPU. Closed loop by default; `--rate R` switches to open loop:
//! request i of a session is scheduled at `start + i / (R / sessions)` and its latency is
//! measured from that scheduled time, so a stalled server shows up in the tail instead of
//! silently slowing the generator (coordinated omission).
//!
//! Output: a human summary on stderr and one JSON object per run on stdout.
//! With `--server-pid` it also samples the server's CPU time (utime+stime from
//! /proc/<pid>/stat) over the measured window and its RSS.
//!
//! Every loop is bounded: `--duration` is capped at 600 s, connection and drain phases
//! have timeouts, and only loopback addresses are accepted.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use ferrokeeper::jute::records::*;
use ferrokeeper::jute::{Reader, Record};
use ferrokeeper::proto::{create_mode, err, op, perms, xid};
use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const MAX_DURATION_S: f64 = 600.0;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_FRAME: usize = 64 * 1024 * 1024;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// getData of `--value-size` byte nodes (random key of `--keys`).
    Get,
    /// setData of `--value-size` bytes (random key, version -1).
    Set,
    /// create PERSISTENT_SEQUENTIAL, then delete the created node (each counts as an op).
    CreateDelete,
    /// 90% getData / 10% setData.
    Mixed,
    /// exists + getChildren (alternating) of one node with `--children` children.
    Children,
    /// `--sessions` sessions watch one node, one setData; time until all are notified.
    WatchFanout,
    /// `--sessions` idle sessions that only ping; reports server RSS.
    Idle,
    /// Create `--keys` nodes of `--value-size` bytes (under /load-<size>), report create
    /// throughput and server RSS afterwards.
    Load,
    /// Retry connect + exists("/") until it succeeds; report the time taken (startup time).
    Probe,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Set => "set",
            Workload::CreateDelete => "create-delete",
            Workload::Mixed => "mixed",
            Workload::Children => "children",
            Workload::WatchFanout => "watch-fanout",
            Workload::Idle => "idle",
            Workload::Load => "load",
            Workload::Probe => "probe",
        }
    }
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "ferrokeeper-bench",
    about = "ZooKeeper wire-protocol load generator",
    args_override_self = true
)]
struct Args {
    /// Server address (loopback only).
    #[arg(long, default_value = "127.0.0.1:2181")]
    addr: SocketAddr,
    #[arg(long, value_enum, default_value = "get")]
    workload: Workload,
    /// Concurrent sessions (connections).
    #[arg(long, default_value_t = 16)]
    sessions: usize,
    /// Outstanding requests per session.
    #[arg(long, default_value_t = 32)]
    depth: usize,
    /// Measured seconds (after the warmup); at most 600.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Bytes per value (get/set/mixed/load).
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Number of keys (get/set/mixed) or nodes to create (load).
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// Children of the node read by the `children` workload.
    #[arg(long, default_value_t = 10_000)]
    children: usize,
    /// Open loop: total requests per second over all sessions (0 = closed loop).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Ping interval of idle sessions, ms.
    #[arg(long, default_value_t = 1000)]
    ping_ms: u64,
    /// Session timeout asked for, ms.
    #[arg(long, default_value_t = 30_000)]
    session_timeout: i32,
    /// Generator threads (default 1, so it leaves the other core(s) to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// PID of the server, to sample its CPU time and RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Label put in the JSON line (e.g. "zookeeper" or "ferrokeeper").
    #[arg(long, default_value = "")]
    label: String,
    /// Case name put in the JSON line (default: the workload name).
    #[arg(long, default_value = "")]
    tag: String,
    /// Root node for benchmark data.
    #[arg(long, default_value = "/bench")]
    root: String,
    /// Probe: give up after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    ready_timeout: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = check_args(&args) {
        eprintln!("ferrokeeper-bench: {e}");
        std::process::exit(2);
    }
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(report) => {
            eprintln!("{}", report.human());
            println!("{}", report.json());
        }
        Err(e) => {
            eprintln!("ferrokeeper-bench: {e}");
            std::process::exit(1);
        }
    }
}

fn check_args(a: &Args) -> Result<(), String> {
    if !a.addr.ip().is_loopback() {
        return Err(format!("{} is not a loopback address", a.addr));
    }
    if !(a.duration > 0.0 && a.duration <= MAX_DURATION_S) {
        return Err(format!("--duration must be in (0, {MAX_DURATION_S}]"));
    }
    if !(0.0..=60.0).contains(&a.warmup) {
        return Err("--warmup must be in [0, 60]".into());
    }
    if a.sessions == 0 || a.sessions > 20_000 {
        return Err("--sessions must be in 1..=20000".into());
    }
    if a.depth == 0 || a.depth > 4096 {
        return Err("--depth must be in 1..=4096".into());
    }
    if a.keys == 0 || a.keys > 10_000_000 {
        return Err("--keys must be in 1..=10000000".into());
    }
    if a.value_size > 1 << 20 {
        return Err("--value-size must be at most 1 MiB".into());
    }
    if a.children > 1_000_000 {
        return Err("--children must be at most 1000000".into());
    }
    if a.rate < 0.0 || a.rate > 10_000_000.0 {
        return Err("--rate must be in [0, 1e7]".into());
    }
    if !a.root.starts_with('/') || a.root.len() < 2 || a.root.ends_with('/') {
        return Err("--root must be an absolute path other than /".into());
    }
    if !(0.0..=3600.0).contains(&a.ready_timeout) {
        return Err("--ready-timeout must be in [0, 3600]".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Wire: one client session.

/// A connected session: the socket halves and the bytes read but not yet framed.
struct Session {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    rbuf: BytesMut,
    wbuf: BytesMut,
    next_xid: i32,
}

fn put_frame(b: &mut BytesMut, xid: i32, op_code: i32, body: &[u8]) {
    b.put_i32((8 + body.len()) as i32);
    b.put_i32(xid);
    b.put_i32(op_code);
    b.put_slice(body);
}

fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

fn create_body(path: &str, data: &[u8], flags: i32) -> Bytes {
    CreateRequest {
        path: path.to_owned(),
        data: Bytes::copy_from_slice(data).into(),
        acl: open_acl(),
        flags,
    }
    .to_bytes()
}

fn path_watch_body(path: &str, watch: bool) -> Bytes {
    PathWatchRequest {
        path: path.to_owned(),
        watch,
    }
    .to_bytes()
}

fn set_body(path: &str, data: &[u8]) -> Bytes {
    SetDataRequest {
        path: path.to_owned(),
        data: Bytes::copy_from_slice(data).into(),
        version: -1,
    }
    .to_bytes()
}

fn delete_body(path: &str) -> Bytes {
    DeleteRequest {
        path: path.to_owned(),
        version: -1,
    }
    .to_bytes()
}

/// A decoded reply frame: header plus the undecoded body.
struct Reply {
    xid: i32,
    err: i32,
    body: Bytes,
}

impl Session {
    async fn connect(addr: SocketAddr, timeout_ms: i32) -> io::Result<Session> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::connect_inner(addr, timeout_ms))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))?
    }

    async fn connect_inner(addr: SocketAddr, timeout_ms: i32) -> io::Result<Session> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (rd, mut wr) = stream.into_split();
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id: 0,
            passwd: Bytes::from_static(&[0u8; 16]),
            read_only: Some(false),
        };
        let mut b = BytesMut::new();
        let body = req.to_bytes();
        b.put_i32(body.len() as i32);
        b.put_slice(&body);
        wr.write_all(&b).await?;
        let mut s = Session {
            rd,
            wr,
            rbuf: BytesMut::with_capacity(64 * 1024),
            wbuf: BytesMut::with_capacity(16 * 1024),
            next_xid: 1,
        };
        let frame = loop {
            if let Some(f) = s.next_frame()? {
                break f;
            }
            s.fill().await?;
        };
        let resp = ConnectResponse::from_bytes(frame)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if resp.session_id == 0 || resp.time_out <= 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "session refused by the server",
            ));
        }
        Ok(s)
    }

    /// Read more bytes; EOF is an error.
    async fn fill(&mut self) -> io::Result<()> {
        if self.rd.read_buf(&mut self.rbuf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        Ok(())
    }

    fn next_frame(&mut self) -> io::Result<Option<Bytes>> {
        if self.rbuf.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([self.rbuf[0], self.rbuf[1], self.rbuf[2], self.rbuf[3]]);
        if len < 0 || len as usize > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad frame length {len}"),
            ));
        }
        let len = len as usize;
        if self.rbuf.len() < 4 + len {
            self.rbuf.reserve(4 + len - self.rbuf.len());
            return Ok(None);
        }
        self.rbuf.advance(4);
        Ok(Some(self.rbuf.split_to(len).freeze()))
    }

    fn next_reply(&mut self) -> io::Result<Option<Reply>> {
        let Some(frame) = self.next_frame()? else {
            return Ok(None);
        };
        let mut r = Reader::new(frame);
        let h = ReplyHeader::read(&mut r)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(Some(Reply {
            xid: h.xid,
            err: h.err,
            body: r.rest(),
        }))
    }

    /// Queue a request in the write buffer; returns its xid.
    fn queue(&mut self, op_code: i32, body: &[u8]) -> i32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        put_frame(&mut self.wbuf, x, op_code, body);
        x
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.wr.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Send one request and wait for its reply (skipping notifications and pings).
    async fn call(&mut self, op_code: i32, body: &[u8]) -> io::Result<Reply> {
        let x = self.queue(op_code, body);
        self.flush().await?;
        loop {
            while let Some(r) = self.next_reply()? {
                if r.xid == x {
                    return Ok(r);
                }
            }
            self.fill().await?;
        }
    }

    /// closeSession, waiting briefly for the answer (so the server frees the session now
    /// rather than at its timeout).
    async fn close(mut self) {
        let _ =
            tokio::time::timeout(Duration::from_secs(5), self.call(op::CLOSE_SESSION, &[])).await;
    }
}

async fn connect_many(addr: SocketAddr, n: usize, timeout_ms: i32) -> io::Result<Vec<Session>> {
    // Java's default listen backlog is 50: connect in waves well under it.
    const WAVE: usize = 32;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = WAVE.min(n - out.len());
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..k {
            set.spawn(Session::connect(addr, timeout_ms));
        }
        while let Some(r) = set.join_next().await {
            out.push(r.map_err(io::Error::other)??);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Setup: the nodes a workload reads or writes.

fn key_path(root: &str, value_size: usize, i: usize) -> String {
    format!("{root}/v{value_size}/k{i}")
}

/// Create `path` and its ancestors (NODEEXISTS is fine).
async fn ensure_path(s: &mut Session, path: &str) -> io::Result<()> {
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at.push('/');
        at.push_str(part);
        let r = s
            .call(op::CREATE, &create_body(&at, &[], create_mode::PERSISTENT))
            .await?;
        if r.err != err::OK && r.err != err::NODE_EXISTS {
            return Err(io::Error::other(format!("create {at}: error {}", r.err)));
        }
    }
    Ok(())
}

/// Create every body in `bodies` (create requests) pipelined over `sessions`, `depth`
/// outstanding each. NODEEXISTS counts as done. Returns the number created.
async fn pipelined_creates(
    sessions: Vec<Session>,
    bodies: Arc<Vec<Bytes>>,
    depth: usize,
) -> io::Result<(u64, Vec<Session>)> {
    let n = sessions.len();
    let mut set = tokio::task::JoinSet::new();
    for (i, mut s) in sessions.into_iter().enumerate() {
        let bodies = bodies.clone();
        set.spawn(async move {
            let mine: Vec<usize> = (i..bodies.len()).step_by(n).collect();
            let mut next = 0;
            let mut outstanding = 0usize;
            let mut created = 0u64;
            while next < mine.len() || outstanding > 0 {
                while outstanding < depth && next < mine.len() {
                    s.queue(op::CREATE, &bodies[mine[next]]);
                    next += 1;
                    outstanding += 1;
                }
                s.flush().await?;
                s.fill().await?;
                while let Some(r) = s.next_reply()? {
                    if r.xid < 0 {
                        continue;
                    }
                    outstanding -= 1;
                    match r.err {
                        err::OK => created += 1,
                        err::NODE_EXISTS => {}
                        e => return Err(io::Error::other(format!("create failed: error {e}"))),
                    }
                }
            }
            Ok::<_, io::Error>((created, s))
        });
    }
    let mut created = 0;
    let mut back = Vec::new();
    while let Some(r) = set.join_next().await {
        let (c, s) = r.map_err(io::Error::other)??;
        created += c;
        back.push(s);
    }
    Ok((created, back))
}

async fn setup_keys(a: &Args, s: &mut Session) -> io::Result<()> {
    let dir = format!("{}/v{}", a.root, a.value_size);
    ensure_path(s, &dir).await?;
    let value = vec![b'x'; a.value_size];
    let bodies: Vec<Bytes> = (0..a.keys)
        .map(|i| {
            create_body(
                &key_path(&a.root, a.value_size, i),
                &value,
                create_mode::PERSISTENT,
            )
        })
        .collect();
    let helpers = connect_many(a.addr, 4, a.session_timeout).await?;
    let (_, helpers) = pipelined_creates(helpers, Arc::new(bodies), 256).await?;
    for h in helpers {
        h.close().await;
    }
    Ok(())
}

async fn setup_children(a: &Args, s: &mut Session) -> io::Result<String> {
    let parent = format!("{}/children{}", a.root, a.children);
    ensure_path(s, &parent).await?;
    let bodies: Vec<Bytes> = (0..a.children)
        .map(|i| create_body(&format!("{parent}/c{i:07}"), &[], create_mode::PERSISTENT))
        .collect();
    let helpers = connect_many(a.addr, 4, a.session_timeout).await?;
    let (_, helpers) = pipelined_creates(helpers, Arc::new(bodies), 256).await?;
    for h in helpers {
        h.close().await;
    }
    Ok(parent)
}

// ---------------------------------------------------------------------------------------
// Measurement.

fn new_hist() -> Histogram<u64> {
    // Microseconds, 1 µs .. 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// Server process counters from /proc.
#[derive(Clone, Copy, Debug, Default)]
struct ProcSample {
    cpu_ticks: u64,
    rss_kb: u64,
}

fn proc_sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(ProcSample {
        cpu_ticks: utime + stime,
        rss_kb,
    })
}

/// Busy (non-idle, non-iowait) CPU ticks of the whole machine, from /proc/stat.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = v.iter().take(8).sum();
    Some(total - v.get(3)? - v.get(4)?)
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// CPU seconds this process has used (user + system).
fn self_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Samples taken at the start and the end of the measured window.
struct Window {
    wall: Duration,
    /// Busy ticks of the whole machine over the window.
    machine_busy: Option<u64>,
    server_before: Option<ProcSample>,
    server_after: Option<ProcSample>,
    client_cpu_s: f64,
}

/// Sleep until `from`, sample, sleep until `to`, sample.
async fn sample_window(pid: Option<u32>, from: Instant, to: Instant) -> Window {
    tokio::time::sleep_until(from.into()).await;
    let before = pid.and_then(proc_sample);
    let busy0 = machine_busy_ticks();
    let cpu0 = self_cpu_s();
    let t0 = Instant::now();
    tokio::time::sleep_until(to.into()).await;
    let after = pid.and_then(proc_sample);
    Window {
        wall: t0.elapsed(),
        machine_busy: busy0
            .zip(machine_busy_ticks())
            .map(|(a, b)| b.saturating_sub(a)),
        server_before: before,
        server_after: after,
        client_cpu_s: self_cpu_s() - cpu0,
    }
}

/// The outcome of one run, printed as text and as a JSON line.
struct Report {
    args: Args,
    ops: u64,
    errors: u64,
    secs: f64,
    hist: Histogram<u64>,
    window: Option<Window>,
    /// Extra numeric fields (name, value) for the JSON line.
    extra: Vec<(&'static str, f64)>,
}

impl Report {
    fn ops_per_s(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }
    fn server_cpu_us_per_op(&self) -> Option<f64> {
        let w = self.window.as_ref()?;
        let (b, a) = (w.server_before?, w.server_after?);
        if self.ops == 0 {
            return None;
        }
        let secs = a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / clk_tck();
        Some(secs * 1e6 / self.ops as f64)
    }
    fn server_cpu_pct(&self) -> Option<f64> {
        let w = self.window.as_ref()?;
        let (b, a) = (w.server_before?, w.server_after?);
        let secs = a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / clk_tck();
        Some(100.0 * secs / w.wall.as_secs_f64().max(1e-9))
    }
    fn server_rss_kb(&self) -> Option<u64> {
        self.window.as_ref()?.server_after.map(|s| s.rss_kb)
    }
    fn client_cpu_pct(&self) -> Option<f64> {
        let w = self.window.as_ref()?;
        Some(100.0 * w.client_cpu_s / w.wall.as_secs_f64().max(1e-9))
    }
    /// CPU used by everything but the server and this generator, in % of one core
    /// (other processes on a shared machine: a sign the numbers are noisy).
    fn other_cpu_pct(&self) -> Option<f64> {
        let w = self.window.as_ref()?;
        let busy = w.machine_busy? as f64 / clk_tck() / w.wall.as_secs_f64().max(1e-9) * 100.0;
        Some((busy - self.server_cpu_pct().unwrap_or(0.0) - self.client_cpu_pct()?).max(0.0))
    }
    fn pct(&self, q: f64) -> u64 {
        if self.hist.is_empty() {
            0
        } else {
            self.hist.value_at_quantile(q)
        }
    }

    fn human(&self) -> String {
        let mut s = format!(
            "{} {}: {} ops in {:.2} s = {:.0} ops/s, errors {}; latency us p50 {} p99 {} p999 {} max {}",
            if self.args.label.is_empty() {
                "server"
            } else {
                &self.args.label
            },
            self.args.workload.name(),
            self.ops,
            self.secs,
            self.ops_per_s(),
            self.errors,
            self.pct(0.5),
            self.pct(0.99),
            self.pct(0.999),
            self.hist.max(),
        );
        if let Some(c) = self.server_cpu_us_per_op() {
            s += &format!("; server cpu {c:.1} us/op");
        }
        if let Some(p) = self.server_cpu_pct() {
            s += &format!(" ({p:.0}% of a core)");
        }
        if let Some(r) = self.server_rss_kb() {
            s += &format!("; server rss {} MiB", r / 1024);
        }
        if let Some(c) = self.client_cpu_pct() {
            s += &format!("; generator cpu {c:.0}%");
        }
        if let Some(c) = self.other_cpu_pct() {
            s += &format!("; other processes cpu {c:.0}%");
        }
        for (k, v) in &self.extra {
            s += &format!("; {k} {v:.1}");
        }
        s
    }

    fn json(&self) -> String {
        fn num(v: Option<f64>) -> String {
            match v {
                Some(v) if v.is_finite() => format!("{v:.3}"),
                _ => "null".into(),
            }
        }
        let a = &self.args;
        let mut s = format!(
            "{{\"tool\":\"ferrokeeper-bench\",\"label\":\"{}\",\"tag\":\"{}\",\"workload\":\"{}\",\"addr\":\"{}\",\"sessions\":{},\"depth\":{},\"rate\":{},\"duration_s\":{:.3},\"value_size\":{},\"keys\":{},\"ops\":{},\"errors\":{},\"ops_per_s\":{:.1},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"mean_us\":{:.1},\"server_cpu_us_per_op\":{},\"server_cpu_pct\":{},\"server_rss_kb\":{},\"client_cpu_pct\":{},\"other_cpu_pct\":{}",
            a.label.replace(['"', '\\'], ""),
            if a.tag.is_empty() {
                a.workload.name().to_string()
            } else {
                a.tag.replace(['"', '\\'], "")
            },
            a.workload.name(),
            a.addr,
            a.sessions,
            a.depth,
            a.rate,
            self.secs,
            a.value_size,
            a.keys,
            self.ops,
            self.errors,
            self.ops_per_s(),
            self.pct(0.5),
            self.pct(0.9),
            self.pct(0.99),
            self.pct(0.999),
            self.hist.max(),
            if self.hist.is_empty() {
                0.0
            } else {
                self.hist.mean()
            },
            num(self.server_cpu_us_per_op()),
            num(self.server_cpu_pct()),
            self.server_rss_kb()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "null".into()),
            num(self.client_cpu_pct()),
            num(self.other_cpu_pct()),
        );
        for (k, v) in &self.extra {
            s += &format!(",\"{k}\":{}", num(Some(*v)));
        }
        s.push('}');
        s
    }
}

// ---------------------------------------------------------------------------------------
// Load loop (get / set / create-delete / mixed / children).

/// xorshift64*: fast and good enough to pick keys.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.next() >> 11) % n as u64) as usize
    }
}

/// Pre-encoded request bodies shared by every session.
struct Bodies {
    get: Vec<Bytes>,
    set: Vec<Bytes>,
    create: Bytes,
    exists: Bytes,
    children: Bytes,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Other,
}

/// What every session of a load run shares.
struct Plan {
    wl: Workload,
    bodies: Bodies,
    start: Instant,
    measure: Instant,
    end: Instant,
    depth: usize,
    /// Open loop: time between a session's requests.
    interval: Option<Duration>,
}

struct LoadResult {
    hist: Histogram<u64>,
    ops: u64,
    errors: u64,
}

async fn load_session(
    mut s: Session,
    plan: Arc<Plan>,
    phase: Duration,
    seed: u64,
) -> io::Result<LoadResult> {
    let (wl, bodies, depth, interval) = (plan.wl, &plan.bodies, plan.depth, plan.interval);
    let t = &plan;
    let mut rng = Rng::new(seed);
    let mut hist = new_hist();
    let (mut ops, mut errors) = (0u64, 0u64);
    let mut inflight: VecDeque<(i32, Instant, Kind)> = VecDeque::with_capacity(depth);
    let mut deletes: VecDeque<Bytes> = VecDeque::new();
    let mut next_sched = t.start + phase;
    let mut flip = false;
    let end_sleep = tokio::time::sleep_until(t.end.into());
    tokio::pin!(end_sleep);
    let tick = tokio::time::sleep_until(next_sched.into());
    tokio::pin!(tick);
    let nkeys = bodies.get.len();
    loop {
        let now = Instant::now();
        if now >= t.end {
            break;
        }
        while inflight.len() < depth {
            let sched = match interval {
                None => now,
                Some(iv) => {
                    if next_sched > now {
                        break;
                    }
                    let at = next_sched;
                    next_sched += iv;
                    at
                }
            };
            let (x, kind) = match wl {
                Workload::Get => (
                    s.queue(op::GET_DATA, &bodies.get[rng.below(nkeys)]),
                    Kind::Other,
                ),
                Workload::Set => (
                    s.queue(op::SET_DATA, &bodies.set[rng.below(nkeys)]),
                    Kind::Other,
                ),
                Workload::Mixed => {
                    let k = rng.below(nkeys);
                    if rng.below(10) == 0 {
                        (s.queue(op::SET_DATA, &bodies.set[k]), Kind::Other)
                    } else {
                        (s.queue(op::GET_DATA, &bodies.get[k]), Kind::Other)
                    }
                }
                Workload::CreateDelete => match deletes.pop_front() {
                    Some(b) => (s.queue(op::DELETE, &b), Kind::Other),
                    None => (s.queue(op::CREATE, &bodies.create), Kind::Create),
                },
                Workload::Children => {
                    flip = !flip;
                    let body = if flip {
                        (op::EXISTS, &bodies.exists)
                    } else {
                        (op::GET_CHILDREN, &bodies.children)
                    };
                    (s.queue(body.0, body.1), Kind::Other)
                }
                _ => unreachable!("not a load workload"),
            };
            inflight.push_back((x, sched, kind));
        }
        s.flush().await?;
        let open_wait = interval.is_some() && inflight.len() < depth;
        if open_wait {
            tick.as_mut().reset(next_sched.into());
        }
        tokio::select! {
            r = s.rd.read_buf(&mut s.rbuf) => {
                if r? == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
                }
            }
            _ = &mut end_sleep => break,
            _ = &mut tick, if open_wait => {}
        }
        let now = Instant::now();
        while let Some(r) = s.next_reply()? {
            if r.xid < 0 {
                continue; // notification or ping
            }
            let Some((x, sched, kind)) = inflight.pop_front() else {
                return Err(io::Error::other(format!("unexpected reply xid {}", r.xid)));
            };
            if x != r.xid {
                return Err(io::Error::other(format!(
                    "reply out of order: expected xid {x}, got {}",
                    r.xid
                )));
            }
            if sched >= t.measure && now <= t.end {
                ops += 1;
                hist.saturating_record(now.duration_since(sched).as_micros() as u64);
                if r.err != err::OK {
                    errors += 1;
                }
            }
            if kind == Kind::Create && r.err == err::OK {
                let created = CreateResponse::read(&mut Reader::new(r.body))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                deletes.push_back(delete_body(&created.path));
            }
        }
    }
    // Drain what is outstanding (unmeasured), then remove what we created.
    let drain_until = Instant::now() + DRAIN_TIMEOUT;
    while !inflight.is_empty() && Instant::now() < drain_until {
        let r = tokio::time::timeout_at(drain_until.into(), s.fill()).await;
        if !matches!(r, Ok(Ok(()))) {
            break;
        }
        while let Some(r) = s.next_reply()? {
            if r.xid < 0 {
                continue;
            }
            if let Some((_, _, kind)) = inflight.pop_front()
                && kind == Kind::Create
                && r.err == err::OK
                && let Ok(c) = CreateResponse::read(&mut Reader::new(r.body))
            {
                deletes.push_back(delete_body(&c.path));
            }
        }
    }
    for d in deletes.drain(..) {
        let _ = tokio::time::timeout_at(drain_until.into(), s.call(op::DELETE, &d)).await;
    }
    s.close().await;
    Ok(LoadResult { hist, ops, errors })
}

async fn run_load(a: Args) -> io::Result<Report> {
    let mut admin = Session::connect(a.addr, a.session_timeout).await?;
    let value = vec![b'v'; a.value_size];
    let mut bodies = Bodies {
        get: Vec::new(),
        set: Vec::new(),
        create: Bytes::new(),
        exists: Bytes::new(),
        children: Bytes::new(),
    };
    match a.workload {
        Workload::Get | Workload::Set | Workload::Mixed => {
            setup_keys(&a, &mut admin).await?;
            for i in 0..a.keys {
                let p = key_path(&a.root, a.value_size, i);
                bodies.get.push(path_watch_body(&p, false));
                bodies.set.push(set_body(&p, &value));
            }
        }
        Workload::CreateDelete => {
            let dir = format!("{}/cd", a.root);
            ensure_path(&mut admin, &dir).await?;
            bodies.create = create_body(
                &format!("{dir}/n-"),
                &value,
                create_mode::PERSISTENT_SEQUENTIAL,
            );
        }
        Workload::Children => {
            let parent = setup_children(&a, &mut admin).await?;
            bodies.exists = path_watch_body(&parent, false);
            bodies.children = path_watch_body(&parent, false);
        }
        _ => unreachable!(),
    }
    admin.close().await;
    let sessions = connect_many(a.addr, a.sessions, a.session_timeout).await?;
    let start = Instant::now() + Duration::from_millis(20);
    let measure = start + Duration::from_secs_f64(a.warmup);
    let end = measure + Duration::from_secs_f64(a.duration);
    let interval = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.sessions as f64 / a.rate));
    let plan = Arc::new(Plan {
        wl: a.workload,
        bodies,
        start,
        measure,
        end,
        depth: a.depth,
        interval,
    });
    let sampler = tokio::spawn(sample_window(a.server_pid, measure, end));
    let mut set = tokio::task::JoinSet::new();
    for (i, s) in sessions.into_iter().enumerate() {
        let phase = interval
            .map(|iv| iv.mul_f64(i as f64 / a.sessions as f64))
            .unwrap_or_default();
        set.spawn(load_session(
            s,
            plan.clone(),
            phase,
            a.seed ^ (i as u64 + 1),
        ));
    }
    let mut hist = new_hist();
    let (mut ops, mut errors) = (0, 0);
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        match r.map_err(io::Error::other)? {
            Ok(res) => {
                hist.add(&res.hist).expect("same histogram bounds");
                ops += res.ops;
                errors += res.errors;
            }
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("ferrokeeper-bench: a session failed: {e}");
                }
            }
        }
    }
    let window = sampler.await.map_err(io::Error::other)?;
    Ok(Report {
        secs: window.wall.as_secs_f64(),
        args: a,
        ops,
        errors,
        hist,
        window: Some(window),
        extra: vec![("failed_sessions", failed as f64)],
    })
}

// ---------------------------------------------------------------------------------------
// watch-fanout.

async fn run_watch_fanout(a: Args) -> io::Result<Report> {
    let node = format!("{}/watch", a.root);
    let mut writer = Session::connect(a.addr, a.session_timeout).await?;
    ensure_path(&mut writer, &node).await?;
    let n = a.sessions;
    let watchers = connect_many(a.addr, n, a.session_timeout).await?;
    let armed = Arc::new(tokio::sync::Barrier::new(n + 1));
    let notified = Arc::new(tokio::sync::Barrier::new(n + 1));
    let base = Instant::now();
    // Nanoseconds since `base` at which the round's setData was sent.
    let t0 = Arc::new(AtomicU64::new(0));
    let slowest = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let get_watch = path_watch_body(&node, true);
    let mut set = tokio::task::JoinSet::new();
    for mut s in watchers {
        let (armed, notified, t0, slowest, stop) = (
            armed.clone(),
            notified.clone(),
            t0.clone(),
            slowest.clone(),
            stop.clone(),
        );
        let get_watch = get_watch.clone();
        set.spawn(async move {
            let mut hist = new_hist();
            loop {
                let r = s.call(op::GET_DATA, &get_watch).await?;
                if r.err != err::OK {
                    return Err(io::Error::other(format!("getData: error {}", r.err)));
                }
                armed.wait().await;
                if stop.load(Ordering::Acquire) {
                    break;
                }
                // Wait for the notification.
                'wait: loop {
                    while let Some(r) = s.next_reply()? {
                        if r.xid == xid::NOTIFICATION {
                            break 'wait;
                        }
                    }
                    s.fill().await?;
                }
                let at = base.elapsed().as_nanos() as u64;
                let lat_ns = at.saturating_sub(t0.load(Ordering::Acquire));
                hist.saturating_record(lat_ns / 1000);
                slowest.fetch_max(lat_ns, Ordering::AcqRel);
                notified.wait().await;
            }
            s.close().await;
            Ok::<_, io::Error>(hist)
        });
    }
    let set_body = set_body(&node, b"fanout");
    let mut fanout = new_hist();
    let mut rounds = 0u64;
    let warm_until = Instant::now() + Duration::from_secs_f64(a.warmup);
    let measure_start = Instant::now();
    let deadline = warm_until + Duration::from_secs_f64(a.duration);
    let round_timeout = Duration::from_secs(30);
    let sample_before = a.server_pid.and_then(proc_sample);
    let cpu0 = self_cpu_s();
    let mut busy0 = machine_busy_ticks();
    let mut measured_from = None;
    let mut sample_from = sample_before;
    loop {
        // Decide before the barrier, so every watcher sees the flag once it passes it.
        let stopping = Instant::now() >= deadline || rounds >= 100_000;
        if stopping {
            stop.store(true, Ordering::Release);
        }
        if tokio::time::timeout(round_timeout, armed.wait())
            .await
            .is_err()
        {
            return Err(io::Error::other("watchers did not re-arm in time"));
        }
        if stopping {
            break;
        }
        let measuring = Instant::now() >= warm_until;
        if measuring && measured_from.is_none() {
            measured_from = Some((Instant::now(), rounds));
            sample_from = a.server_pid.and_then(proc_sample);
            busy0 = machine_busy_ticks();
        }
        slowest.store(0, Ordering::Release);
        t0.store(base.elapsed().as_nanos() as u64, Ordering::Release);
        let r = writer.call(op::SET_DATA, &set_body).await?;
        if r.err != err::OK {
            return Err(io::Error::other(format!("setData: error {}", r.err)));
        }
        if tokio::time::timeout(round_timeout, notified.wait())
            .await
            .is_err()
        {
            return Err(io::Error::other("not every watcher was notified in time"));
        }
        if measuring {
            fanout.saturating_record(slowest.load(Ordering::Acquire) / 1000);
        }
        rounds += 1;
    }
    let end = Instant::now();
    let sample_after = a.server_pid.and_then(proc_sample);
    let mut per_watch = new_hist();
    while let Some(r) = set.join_next().await {
        let h = r.map_err(io::Error::other)??;
        per_watch.add(&h).expect("same histogram bounds");
    }
    writer.close().await;
    let (from, first_round) = measured_from.unwrap_or((measure_start, 0));
    let measured_rounds = rounds - first_round;
    let wall = end.duration_since(from);
    let window = Window {
        wall,
        machine_busy: busy0
            .zip(machine_busy_ticks())
            .map(|(a, b)| b.saturating_sub(a)),
        server_before: sample_from,
        server_after: sample_after,
        client_cpu_s: self_cpu_s() - cpu0,
    };
    let q = |h: &Histogram<u64>, p: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(p) as f64
        }
    };
    let extra = vec![
        ("rounds", measured_rounds as f64),
        ("watchers", n as f64),
        ("notify_p50_us", q(&per_watch, 0.5)),
        ("notify_p99_us", q(&per_watch, 0.99)),
    ];
    Ok(Report {
        secs: wall.as_secs_f64(),
        // One op = one round's notifications delivered; latency = until all arrived.
        ops: measured_rounds * n as u64,
        errors: 0,
        hist: fanout,
        window: Some(window),
        extra,
        args: a,
    })
}

// ---------------------------------------------------------------------------------------
// idle / load / probe.

async fn run_idle(a: Args) -> io::Result<Report> {
    let before = a.server_pid.and_then(proc_sample);
    let sessions = connect_many(a.addr, a.sessions, a.session_timeout).await?;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.warmup + a.duration);
    let ping_every = Duration::from_millis(a.ping_ms.max(10));
    let mut set = tokio::task::JoinSet::new();
    for (i, mut s) in sessions.into_iter().enumerate() {
        let offset = ping_every.mul_f64(i as f64 / a.sessions as f64);
        set.spawn(async move {
            let mut hist = new_hist();
            let mut at = start + offset;
            loop {
                at += ping_every;
                if at >= end {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
                let sent = Instant::now();
                // Clients ping with xid -2 and the server answers with it.
                put_frame(&mut s.wbuf, xid::PING, op::PING, &[]);
                s.flush().await?;
                'wait: loop {
                    while let Some(r) = s.next_reply()? {
                        if r.xid == xid::PING {
                            break 'wait;
                        }
                    }
                    s.fill().await?;
                }
                hist.saturating_record(sent.elapsed().as_micros() as u64);
            }
            Ok::<_, io::Error>((hist, s))
        });
    }
    let sampler = tokio::spawn(sample_window(
        a.server_pid,
        start + Duration::from_secs_f64(a.warmup),
        end,
    ));
    let mut hist = new_hist();
    let mut back = Vec::new();
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        match r.map_err(io::Error::other)? {
            Ok((h, s)) => {
                hist.add(&h).expect("same histogram bounds");
                back.push(s);
            }
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("ferrokeeper-bench: an idle session failed: {e}");
                }
            }
        }
    }
    let window = sampler.await.map_err(io::Error::other)?;
    let rss_before = before.map(|b| b.rss_kb as f64).unwrap_or(f64::NAN);
    let rss_after = window
        .server_after
        .map(|s| s.rss_kb as f64)
        .unwrap_or(f64::NAN);
    let per_session = (rss_after - rss_before) * 1024.0 / a.sessions as f64;
    // Close in waves so the server is not handed 10k closeSessions at once.
    let mut it = back.into_iter();
    loop {
        let wave: Vec<Session> = it.by_ref().take(256).collect();
        if wave.is_empty() {
            break;
        }
        let mut js = tokio::task::JoinSet::new();
        for s in wave {
            js.spawn(s.close());
        }
        while js.join_next().await.is_some() {}
    }
    Ok(Report {
        secs: window.wall.as_secs_f64(),
        ops: hist.len(),
        errors: 0,
        hist,
        window: Some(window),
        extra: vec![
            ("rss_before_kb", rss_before),
            ("rss_per_session_bytes", per_session),
            ("failed_sessions", failed as f64),
        ],
        args: a,
    })
}

async fn run_populate(a: Args) -> io::Result<Report> {
    let before = a.server_pid.and_then(proc_sample);
    let dir = format!("/load-{}", a.value_size);
    let mut admin = Session::connect(a.addr, a.session_timeout).await?;
    ensure_path(&mut admin, &dir).await?;
    admin.close().await;
    let value = vec![b'l'; a.value_size];
    let bodies: Vec<Bytes> = (0..a.keys)
        .map(|i| create_body(&format!("{dir}/n{i:08}"), &value, create_mode::PERSISTENT))
        .collect();
    let sessions = connect_many(a.addr, a.sessions.min(64), a.session_timeout).await?;
    let cpu0 = self_cpu_s();
    let busy0 = machine_busy_ticks();
    let started = Instant::now();
    let (created, back) = pipelined_creates(sessions, Arc::new(bodies), a.depth).await?;
    let wall = started.elapsed();
    let busy1 = machine_busy_ticks();
    let cpu1 = self_cpu_s();
    let server_end = a.server_pid.and_then(proc_sample);
    for s in back {
        s.close().await;
    }
    // Let the server settle (snapshots, GC) a moment before reading its RSS.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = a.server_pid.and_then(proc_sample);
    // CPU over the create window; RSS after the settle pause.
    let window = Window {
        wall,
        machine_busy: busy0.zip(busy1).map(|(a, b)| b.saturating_sub(a)),
        server_before: before,
        server_after: server_end.zip(after).map(|(e, a)| ProcSample {
            cpu_ticks: e.cpu_ticks,
            rss_kb: a.rss_kb,
        }),
        client_cpu_s: cpu1 - cpu0,
    };
    let rss_before = before.map(|b| b.rss_kb as f64).unwrap_or(f64::NAN);
    let rss_after = after.map(|b| b.rss_kb as f64).unwrap_or(f64::NAN);
    Ok(Report {
        secs: wall.as_secs_f64(),
        ops: created,
        errors: 0,
        hist: new_hist(),
        window: Some(window),
        extra: vec![
            ("created", created as f64),
            ("rss_before_kb", rss_before),
            (
                "rss_per_znode_bytes",
                (rss_after - rss_before) * 1024.0 / a.keys as f64,
            ),
        ],
        args: a,
    })
}

async fn run_probe(a: Args) -> io::Result<Report> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(a.ready_timeout);
    let mut attempts = 0u64;
    let body = path_watch_body("/", false);
    loop {
        attempts += 1;
        let try_once = async {
            let mut s = Session::connect(a.addr, a.session_timeout).await?;
            let r = s.call(op::EXISTS, &body).await?;
            if r.err != err::OK {
                return Err(io::Error::other(format!("exists: error {}", r.err)));
            }
            Ok::<_, io::Error>(s)
        };
        // A connection that lands in the listen backlog before the server serves may never
        // be answered (seen with Java): give each attempt 2 s, then try a new one.
        let attempt_end = deadline.min(Instant::now() + Duration::from_secs(2));
        match tokio::time::timeout_at(attempt_end.into(), try_once).await {
            Ok(Ok(s)) => {
                let took = started.elapsed();
                s.close().await;
                let mut hist = new_hist();
                hist.saturating_record(took.as_micros() as u64);
                let ready_ms = took.as_secs_f64() * 1e3;
                return Ok(Report {
                    secs: took.as_secs_f64(),
                    ops: 1,
                    errors: 0,
                    hist,
                    window: None,
                    extra: vec![("ready_ms", ready_ms), ("attempts", attempts as f64)],
                    args: a,
                });
            }
            _ if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("server not ready after {:.1} s", a.ready_timeout),
                ));
            }
        }
    }
}

async fn run(a: Args) -> io::Result<Report> {
    match a.workload {
        Workload::Get
        | Workload::Set
        | Workload::Mixed
        | Workload::CreateDelete
        | Workload::Children => run_load(a).await,
        Workload::WatchFanout => run_watch_fanout(a).await,
        Workload::Idle => run_idle(a).await,
        Workload::Load => run_populate(a).await,
        Workload::Probe => run_probe(a).await,
    }
}
