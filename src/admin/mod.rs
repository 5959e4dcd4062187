//! Four-letter words (and later the AdminServer and metrics): text views of the server.
//!
//! Owns: the text of every four-letter word reply in ZooKeeper's formats (tools parse
//! them), which `Query` each word asks the core (`query_for`), and the host facts some
//! words print (directory sizes, open descriptors, host name), which it reads on the
//! asking connection's task (`spawn_blocking`).
//! Must never: change server state, import the core (the core answers a `Query` with an
//! owned `Answer`; the arrow points from `server` to `admin` only), or do I/O on the core:
//! a word asks the core only for what it prints, and `ruok`/`isro`/`conf`/`dirs`/`envi`/
//! `gtmk`/`stmk` do not ask it at all (`srst`/`crst` ask it to reset its counters).

pub mod commands;
pub mod host;
pub mod json;
pub mod query;

pub use query::{
    Answer, ConfView, ConnStats, ConnView, DumpView, LeaderStatus, MonitorView, Query,
    QuorumStatus, ServerSummary, Stats, WatchTotals,
};

use crate::config::fourlw::FourLetterWord;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};

/// Whether a server serves the client port now, and how: what `isro` prints (Java's
/// `IsroCommand`: "null" while no server runs, as between an ensemble member's roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServingMode {
    NotServing,
    ReadWrite,
    ReadOnly,
}

impl ServingMode {
    pub fn isro(self) -> &'static str {
        match self {
            ServingMode::NotServing => "null",
            ServingMode::ReadWrite => "rw",
            ServingMode::ReadOnly => "ro",
        }
    }
}

/// The version string we report (the 3.8 line we are wire-compatible with).
pub const VERSION: &str = concat!(
    "3.8.0-ferrokeeper-",
    env!("CARGO_PKG_VERSION"),
    ", built on 2026-11-25 00:00 UTC"
);

/// `ZooTrace`'s text trace level: Java's default mask (client requests, server packets,
/// sessions, warnings). ferrokeeper keeps what `stmk` / `set_trace_mask` set and reports
/// it, as Java does, but does not trace by it (its logging is `FERROKEEPER_LOG`). The one piece
/// of process state this module keeps.
static TRACE_MASK: AtomicI64 = AtomicI64::new(306);

pub fn trace_mask() -> i64 {
    TRACE_MASK.load(Ordering::Relaxed)
}

pub fn set_trace_mask(mask: i64) {
    TRACE_MASK.store(mask, Ordering::Relaxed);
}

/// The question `word` asks the core; `None` for words answered without it.
pub fn query_for(word: FourLetterWord) -> Option<Query> {
    use FourLetterWord as W;
    Some(match word {
        W::Srvr => Query::Server,
        W::Stat => Query::ServerAndConns,
        W::Cons => Query::Conns,
        W::Wchs => Query::WatchTotals,
        W::Wchc => Query::WatchesBySession,
        W::Wchp => Query::SessionsByPath,
        W::Dump => Query::Dump,
        W::Mntr => Query::Monitor,
        W::Hash => Query::Digest,
        W::Srst => Query::ResetServerStats,
        W::Crst => Query::ResetConnStats,
        W::Ruok | W::Isro | W::Conf | W::Dirs | W::Envi | W::Gtmk | W::Stmk | W::TelnetClose => {
            return None;
        }
    })
}

/// The reply to an enabled `word` sent by the connection from `asking`. `ask_core` is
/// called at most once, with `query_for(word)`; it yields `None` when the core is gone,
/// and so does this (the caller then closes without a reply). File-system and /proc reads
/// run in `spawn_blocking` on the caller's runtime.
/// What Java prints for a word that needs the server while none serves
/// (`NettyServerCnxn`/`NIOServerCnxn` `ZK_NOT_SERVING`).
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

pub async fn reply<F, Fut>(
    word: FourLetterWord,
    asking: SocketAddr,
    conf: &ConfView,
    mode: ServingMode,
    ask_core: F,
) -> Option<String>
where
    F: FnOnce(Query) -> Fut,
    Fut: Future<Output = Option<Answer>>,
{
    use FourLetterWord as W;
    if let Some(q) = query_for(word) {
        let Some(answer) = ask_core(q).await else {
            // No server behind the port right now (an ensemble member between roles).
            return Some(NOT_SERVING.into());
        };
        match word {
            W::Srst => return Some("Server stats reset.\n".into()),
            W::Crst => return Some("Connection stats reset.\n".into()),
            _ => {}
        }
        let fds = match answer {
            Answer::Monitor(_) => blocking(host::fd_counts).await?,
            _ => (0, 0),
        };
        return Some(render(&answer, &ConnView::asking(asking), fds));
    }
    Some(match word {
        W::Ruok => "imok".into(),
        W::Isro => mode.isro().into(),
        // Java prints the mask with no newline.
        W::Gtmk | W::Stmk => trace_mask().to_string(),
        W::Conf => {
            let conf = conf.clone();
            blocking(move || render_conf(&conf, host::DirSizes::read(&conf))).await?
        }
        W::Dirs => {
            let conf = conf.clone();
            blocking(move || render_dirs(host::DirSizes::read(&conf))).await?
        }
        W::Envi => blocking(|| render_envi(&host::Environment::read())).await?,
        _ => return None,
    })
}

/// Run `f` on tokio's blocking pool (never on a task that must stay responsive).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// `ServerCnxn.dumpConnectionInfo`: brief for stat, full for cons (the session fields only
/// for a connection with a session).
fn conn_line(out: &mut String, c: &ConnView, brief: bool) {
    let _ = write!(out, " /{}[", c.peer);
    if c.interest_ops == 0 {
        out.push('0');
    } else {
        let _ = write!(out, "{:x}", c.interest_ops);
    }
    let _ = write!(
        out,
        "](queued={},recved={},sent={}",
        c.queued, c.received, c.sent
    );
    if !brief && c.session_id != 0 {
        let s = &c.stats;
        let _ = write!(
            out,
            ",sid=0x{:x},lop={},est={},to={}",
            c.session_id, s.last_op, c.connected_at, c.timeout_ms
        );
        if s.last_cxid >= 0 {
            let _ = write!(out, ",lcxid=0x{:x}", s.last_cxid);
        }
        let _ = write!(
            out,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            s.last_zxid,
            s.last_response_ms,
            s.last_latency_ms,
            s.min_latency_ms(),
            s.avg_latency_ms(),
            s.max_latency_ms
        );
    }
    out.push_str(")\n");
}

/// Every connection, the asking one included (Java iterates a hash set, so no order is
/// promised; we list the served connections in accept order, then the asking one).
fn conn_lines(out: &mut String, conns: &[ConnView], asking: &ConnView, brief: bool) {
    for c in conns.iter().chain(std::iter::once(asking)) {
        conn_line(out, c, brief);
    }
}

/// `ServerStats.toString` + the node count (srvr, stat). Connections count the asking one.
fn server_stats(out: &mut String, s: &ServerSummary) {
    let st = &s.stats;
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{:.4}/{}",
        st.latency_min_ms,
        st.avg_latency(),
        st.latency_max_ms
    );
    let _ = writeln!(out, "Received: {}", st.packets_received);
    let _ = writeln!(out, "Sent: {}", st.packets_sent);
    let _ = writeln!(out, "Connections: {}", s.connections + 1);
    let _ = writeln!(out, "Outstanding: {}", s.outstanding_requests);
    let _ = writeln!(out, "Zxid: 0x{:x}", s.last_zxid);
    let _ = writeln!(out, "Mode: {}", s.mode);
    let _ = writeln!(out, "Node count: {}", s.node_count);
}

/// The text of a word answered from the core's `answer`. `asking` is the connection that
/// sent the word; `fds` (open, max descriptors) is printed by mntr only.
pub fn render(answer: &Answer, asking: &ConnView, fds: (u64, u64)) -> String {
    let mut out = String::new();
    match answer {
        Answer::Server(s) => {
            let _ = writeln!(out, "Zookeeper version: {VERSION}");
            server_stats(&mut out, s);
        }
        Answer::ServerAndConns(s, conns) => {
            let _ = writeln!(out, "Zookeeper version: {VERSION}");
            out.push_str("Clients:\n");
            conn_lines(&mut out, conns, asking, true);
            out.push('\n');
            server_stats(&mut out, s);
        }
        Answer::Conns(conns) => {
            conn_lines(&mut out, conns, asking, false);
            out.push('\n');
        }
        Answer::WatchTotals(w) => {
            let _ = writeln!(
                out,
                "{} connections watching {} paths",
                w.connections, w.paths
            );
            let _ = writeln!(out, "Total watches:{}", w.total);
        }
        Answer::WatchesBySession(by_session) => {
            for (sid, paths) in by_session {
                let _ = writeln!(out, "0x{sid:x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
        }
        Answer::SessionsByPath(by_path) => {
            for (p, sids) in by_path {
                let _ = writeln!(out, "{p}");
                for s in sids {
                    let _ = writeln!(out, "\t0x{s:x}");
                }
            }
        }
        Answer::Dump(d) => {
            out.push_str("SessionTracker dump:\n");
            let _ = writeln!(
                out,
                "Session Sets ({})/({}):",
                d.session_buckets.len(),
                d.session_count
            );
            for (b, ids) in &d.session_buckets {
                let _ = writeln!(out, "{} expire at {}:", ids.len(), b);
                for id in ids {
                    let _ = writeln!(out, "\t0x{id:x}");
                }
            }
            out.push_str("ephemeral nodes dump:\n");
            let _ = writeln!(out, "Sessions with Ephemerals ({}):", d.ephemerals.len());
            for (sid, paths) in &d.ephemerals {
                let _ = writeln!(out, "0x{sid:x}:");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push_str("Connections dump:\n");
            let _ = writeln!(out, "Connections Sets (0)/(0):");
        }
        Answer::Monitor(m) => render_mntr(&mut out, m, fds),
        // 3.9's DigestCommand: one "<hex zxid>: <digest>" line per logged digest.
        Answer::Digest(log) => {
            for (zxid, digest) in log {
                let _ = writeln!(out, "{zxid:x}: {digest}");
            }
        }
        Answer::Done => {}
    }
    out
}

fn render_mntr(out: &mut String, m: &MonitorView, fds: (u64, u64)) {
    // The connection asking counts as alive (Java's 4lw runs on a client connection).
    let base = mntr_values(m, fds, 1);
    let metrics = metric_values(&base);
    let base = base.into_iter().map(|(k, v)| (k.to_string(), v));
    for (k, v) in base.chain(metrics) {
        let v = match v {
            json::Json::Num(s) | json::Json::Str(s) => s,
            other => other.pretty(),
        };
        let _ = writeln!(out, "zk_{k}\t{v}");
    }
}

/// What the metrics provider adds to mntr / `monitor` after the server's own values
/// (`metrics::dump`, Java's default provider), but for keys those already have.
pub fn metric_values(base: &[(&'static str, json::Json)]) -> Vec<(String, json::Json)> {
    crate::metrics::dump::values()
        .into_iter()
        .filter(|(k, _)| !base.iter().any(|(b, _)| b == k))
        .map(|(k, v)| {
            let v = match v {
                crate::metrics::dump::Value::Int(i) => json::Json::int(i),
                crate::metrics::dump::Value::Double(d) => json::Json::float(d),
            };
            (k, v)
        })
        .collect()
}

/// mntr's server keys (without `zk_`) and values: the 4lw prints them as
/// `zk_<key>\t<value>` lines (`asking_connections` 1: the word's own connection counts),
/// the AdminServer's `monitor` as a JSON object (`asking_connections` 0); both follow
/// them with `metric_values`, the keys Java's metrics provider adds.
pub fn mntr_values(
    m: &MonitorView,
    (open_fds, max_fds): (u64, u64),
    asking_connections: u64,
) -> Vec<(&'static str, json::Json)> {
    use json::Json;
    let s = &m.summary.stats;
    let client_response = crate::metrics::CLIENT_RESPONSE.get();
    let mut v: Vec<(&'static str, Json)> = vec![
        ("version", Json::str(VERSION)),
        ("server_state", Json::str(m.summary.mode)),
        ("avg_latency", Json::Num(format!("{:.4}", s.avg_latency()))),
        ("max_latency", Json::uint(s.latency_max_ms)),
        ("min_latency", Json::uint(s.latency_min_ms)),
        ("packets_received", Json::uint(s.packets_received)),
        ("packets_sent", Json::uint(s.packets_sent)),
        (
            "num_alive_connections",
            Json::uint(m.summary.connections as u64 + asking_connections),
        ),
        (
            "outstanding_requests",
            Json::uint(m.summary.outstanding_requests as u64),
        ),
        ("uptime", Json::uint(m.uptime_ms)),
        ("znode_count", Json::uint(m.summary.node_count as u64)),
        ("watch_count", Json::uint(m.watch_count as u64)),
        ("ephemerals_count", Json::uint(m.ephemerals_count as u64)),
        ("approximate_data_size", Json::uint(m.approximate_data_size)),
        ("global_sessions", Json::uint(m.global_sessions as u64)),
        ("local_sessions", Json::uint(m.local_sessions as u64)),
        ("open_file_descriptor_count", Json::uint(open_fds)),
        ("max_file_descriptor_count", Json::uint(max_fds)),
        (
            "connection_drop_probability",
            Json::float(s.conn_drop_ppb as f64 / 1e9),
        ),
        ("auth_failed_count", Json::uint(s.auth_failed)),
        // The provider's gauges (3.8 and 3.9 list them in mntr; /metrics serves them too).
        ("last_client_response_size", Json::int(client_response.0)),
        ("max_client_response_size", Json::int(client_response.2)),
        ("min_client_response_size", Json::int(client_response.1)),
        (
            "non_mtls_remote_conn_count",
            Json::uint(crate::metrics::NON_MTLS_REMOTE_CONN_COUNT.get()),
        ),
        (
            "non_mtls_local_conn_count",
            Json::uint(crate::metrics::NON_MTLS_LOCAL_CONN_COUNT.get()),
        ),
    ];
    // Neither 3.8 nor 3.9 print the fsync threshold count here (JMX and the AdminServer's
    // server_stats have it); the proposal sizes are a leader's gauges (below).
    v.push(("outstanding_tls_handshake", Json::int(0)));
    if let Some(q) = &m.quorum {
        v.push(("peer_state", Json::str(q.peer_state.clone())));
        v.push(("quorum_size", Json::uint(q.quorum_size as u64)));
        if let Some(l) = &q.leader {
            v.push(("learners", Json::uint(l.learners as u64)));
            v.push(("synced_followers", Json::uint(l.synced_followers as u64)));
            v.push(("synced_non_voting_followers", Json::int(0)));
            v.push(("synced_observers", Json::uint(l.synced_observers as u64)));
            v.push(("pending_syncs", Json::uint(l.pending_syncs as u64)));
            v.push(("leader_uptime", Json::uint(l.leader_uptime_ms)));
            let (last, min, max) = l.proposal_sizes;
            v.push(("last_proposal_size", Json::int(last)));
            v.push(("max_proposal_size", Json::int(max)));
            v.push(("min_proposal_size", Json::int(min)));
        }
    }
    v
}

fn data_dir_line(d: &Option<std::path::PathBuf>) -> String {
    d.as_ref()
        .map(|p| crate::storage::version_dir(p).display().to_string())
        .unwrap_or_else(|| "(in-memory)".into())
}

/// `ZooKeeperServer.dumpConf`.
fn render_conf(c: &ConfView, sizes: host::DirSizes) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "clientPort={}", c.client_port);
    let _ = writeln!(out, "secureClientPort=-1");
    let _ = writeln!(out, "dataDir={}", data_dir_line(&c.data_dir));
    let _ = writeln!(out, "dataDirSize={}", sizes.data);
    let _ = writeln!(out, "dataLogDir={}", data_dir_line(&c.data_log_dir));
    let _ = writeln!(out, "dataLogSize={}", sizes.log);
    let _ = writeln!(out, "tickTime={}", c.tick_ms);
    let _ = writeln!(out, "maxClientCnxns={}", c.max_client_cnxns);
    let _ = writeln!(out, "minSessionTimeout={}", c.min_session_timeout);
    let _ = writeln!(out, "maxSessionTimeout={}", c.max_session_timeout);
    let _ = writeln!(out, "clientPortListenBacklog=-1");
    let _ = writeln!(out, "serverId=0");
    out
}

fn render_dirs(sizes: host::DirSizes) -> String {
    format!("datadir_size: {}\nlogdir_size: {}\n", sizes.data, sizes.log)
}

fn render_envi(e: &host::Environment) -> String {
    let mut out = String::new();
    out.push_str("Environment:\n");
    for (k, v) in envi_entries(e) {
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

/// What `envi` and the AdminServer's `environment` list (Java's `Environment.list()`,
/// with what applies to this process).
fn envi_entries(e: &host::Environment) -> Vec<(String, String)> {
    vec![
        ("zookeeper.version".into(), VERSION.into()),
        ("host.name".into(), e.host_name.clone()),
        ("java.version".into(), "n/a (ferrokeeper, Rust)".into()),
        ("os.name".into(), std::env::consts::OS.into()),
        ("os.arch".into(), std::env::consts::ARCH.into()),
        ("user.dir".into(), e.user_dir.clone()),
        ("ferrokeeper.pid".into(), std::process::id().to_string()),
    ]
}

/// `environment`'s entries (blocking: reads the host name and working directory).
pub fn environment_entries() -> Vec<(String, String)> {
    envi_entries(&host::Environment::read())
}

/// (data, log) directory sizes as `dirs` prints them (blocking).
pub fn dir_sizes(conf: &ConfView) -> host::DirSizes {
    host::DirSizes::read(conf)
}

/// (open, max) file descriptors (blocking).
pub fn fd_counts() -> (u64, u64) {
    host::fd_counts()
}

#[cfg(test)]
mod tests;
