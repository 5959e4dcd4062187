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
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

mod fanout;
mod measure;
mod session;
mod workloads;

use fanout::*;
use measure::*;
use session::*;
use workloads::*;

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
