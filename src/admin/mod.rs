//! Four-letter words (and later the AdminServer and metrics): text views of the server.
//!
//! Owns: the text of every four-letter word reply in ZooKeeper's formats (tools parse
//! them), which `Query` each word asks the core (`query_for`), and the host facts some
//! words print (directory sizes, open descriptors, host name), which it reads on the
//! asking connection's task (`spawn_blocking`).
//! Must never: change server state, import the core (the core answers a `Query` with an
//! owned `Answer`; the arrow points from `server` to `admin` only), or do I/O on the core:
//! a word asks the core only for what it prints, and `ruok`/`isro`/`conf`/`dirs`/`envi`/
//! `gtmk`/`stmk`/`srst`/`crst` do not ask it at all.

mod host;
pub mod query;

pub use query::{
    Answer, ConfView, ConnStats, ConnView, DumpView, LeaderStatus, MonitorView, Query,
    QuorumStatus, ServerSummary, Stats, WatchTotals,
};

use crate::config::fourlw::FourLetterWord;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;

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
        W::Ruok
        | W::Isro
        | W::Conf
        | W::Dirs
        | W::Envi
        | W::Gtmk
        | W::Stmk
        | W::Srst
        | W::Crst
        | W::TelnetClose => return None,
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
        let fds = match answer {
            Answer::Monitor(_) => blocking(host::fd_counts).await?,
            _ => (0, 0),
        };
        return Some(render(&answer, &ConnView::asking(asking), fds));
    }
    Some(match word {
        W::Ruok => "imok".into(),
        W::Isro => mode.isro().into(),
        W::Gtmk | W::Stmk => "0\n".into(),
        W::Srst => "Server stats reset.\n".into(),
        W::Crst => "Connection stats reset.\n".into(),
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
    let _ = write!(out, "](queued=0,recved={},sent={}", c.received, c.sent);
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
    let _ = writeln!(out, "Outstanding: 0");
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
        Answer::Digest { zxid, digest } => {
            let _ = writeln!(out, "Digest in log and actual tree:");
            let _ = writeln!(out, "0x{zxid:x}: {digest}");
        }
    }
    out
}

fn render_mntr(out: &mut String, m: &MonitorView, (open_fds, max_fds): (u64, u64)) {
    let s = &m.summary.stats;
    let mut kv = |k: &str, val: String| {
        let _ = writeln!(out, "zk_{k}\t{val}");
    };
    kv("version", VERSION.to_owned());
    kv("server_state", m.summary.mode.into());
    kv("avg_latency", format!("{:.4}", s.avg_latency()));
    kv("max_latency", s.latency_max_ms.to_string());
    kv("min_latency", s.latency_min_ms.to_string());
    kv("packets_received", s.packets_received.to_string());
    kv("packets_sent", s.packets_sent.to_string());
    kv(
        "num_alive_connections",
        (m.summary.connections + 1).to_string(),
    );
    kv("outstanding_requests", "0".into());
    kv("uptime", m.uptime_ms.to_string());
    kv("znode_count", m.summary.node_count.to_string());
    kv("watch_count", m.watch_count.to_string());
    kv("ephemerals_count", m.ephemerals_count.to_string());
    kv("approximate_data_size", m.approximate_data_size.to_string());
    kv("global_sessions", m.global_sessions.to_string());
    kv("local_sessions", m.local_sessions.to_string());
    kv("open_file_descriptor_count", open_fds.to_string());
    kv("max_file_descriptor_count", max_fds.to_string());
    kv("connection_drop_probability", "0.0".into());
    kv("auth_failed_count", s.auth_failed.to_string());
    kv(
        "fsync_threshold_exceed_count",
        m.fsync_threshold_exceed_count.to_string(),
    );
    let (last, min, max) = m
        .quorum
        .as_ref()
        .and_then(|q| q.leader.as_ref())
        .map_or((-1, -1, -1), |l| l.proposal_sizes);
    kv("last_proposal_size", last.to_string());
    kv("outstanding_tls_handshake", "0".into());
    if let Some(q) = &m.quorum {
        kv("peer_state", q.peer_state.clone());
        kv("quorum_size", q.quorum_size.to_string());
        if let Some(l) = &q.leader {
            kv("learners", l.learners.to_string());
            kv("synced_followers", l.synced_followers.to_string());
            kv("synced_non_voting_followers", "0".into());
            kv("synced_observers", l.synced_observers.to_string());
            kv("pending_syncs", l.pending_syncs.to_string());
            kv("leader_uptime", l.leader_uptime_ms.to_string());
            kv("max_proposal_size", max.to_string());
            kv("min_proposal_size", min.to_string());
        }
    }
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
    let _ = writeln!(out, "zookeeper.version={VERSION}");
    let _ = writeln!(out, "host.name={}", e.host_name);
    let _ = writeln!(out, "java.version=n/a (ferrokeeper, Rust)");
    let _ = writeln!(out, "os.name={}", std::env::consts::OS);
    let _ = writeln!(out, "os.arch={}", std::env::consts::ARCH);
    let _ = writeln!(out, "user.dir={}", e.user_dir);
    let _ = writeln!(out, "ferrokeeper.pid={}", std::process::id());
    out
}

#[cfg(test)]
mod tests;
