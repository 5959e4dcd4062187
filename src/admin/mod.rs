//! Four-letter words (and later the AdminServer and metrics): text views of the server.
//!
//! Owns: recognizing a four-letter word on a fresh connection and rendering the replies
//! in ZooKeeper's formats (tools parse them).
//! Must never: change server state; it renders a `ServerView` snapshot the core hands it.

use crate::server::core::Stats;
use crate::server::settings::Settings;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

/// The version string we report (the 3.8 line we are wire-compatible with).
pub const VERSION: &str = concat!(
    "3.8.0-ferrokeeper-",
    env!("CARGO_PKG_VERSION"),
    ", built on 2026-11-25 00:00 UTC"
);

/// Counts of watch registrations (wchs/wchc/wchp).
pub type WatchCounts = crate::watch::WatchSummary;

#[derive(Debug, Clone)]
pub struct ConnView {
    pub id: u64,
    pub peer: SocketAddr,
    pub session_id: i64,
    pub timeout_ms: i32,
    pub received: u64,
    pub sent: u64,
    pub connected_at: i64,
    pub last_zxid: i64,
    pub last_op: &'static str,
}

/// A read-only snapshot of what the admin words report.
#[derive(Debug, Clone)]
pub struct ServerView {
    pub settings: Arc<Settings>,
    pub stats: Stats,
    pub last_zxid: i64,
    pub node_count: usize,
    pub approximate_data_size: u64,
    /// session id → its ephemeral paths
    pub ephemerals: Vec<(i64, Vec<String>)>,
    pub sessions: Vec<(i64, i32)>,
    pub session_buckets: Vec<(i64, Vec<i64>)>,
    pub watch_summary: WatchCounts,
    /// Data + child watches (mntr's zk_watch_count).
    pub watch_count: usize,
    pub conns: Vec<ConnView>,
    pub uptime_ms: u64,
    /// fsyncs slower than fsync.warningthresholdms.
    pub fsync_threshold_exceed_count: u64,
    pub digest: i64,
}

fn avg_latency(s: &Stats) -> f64 {
    if s.latency_count == 0 {
        0.0
    } else {
        s.latency_total_ms as f64 / s.latency_count as f64
    }
}

fn client_line(out: &mut String, c: &ConnView) {
    let _ = writeln!(
        out,
        " /{}[1](queued=0,recved={},sent={})",
        c.peer, c.received, c.sent
    );
}

fn server_stats(out: &mut String, v: &ServerView) {
    let s = &v.stats;
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{:.4}/{}",
        s.latency_min_ms,
        avg_latency(s),
        s.latency_max_ms
    );
    let _ = writeln!(out, "Received: {}", s.packets_received);
    let _ = writeln!(out, "Sent: {}", s.packets_sent);
    let _ = writeln!(out, "Connections: {}", v.conns.len());
    let _ = writeln!(out, "Outstanding: 0");
    let _ = writeln!(out, "Zxid: 0x{:x}", v.last_zxid);
    let _ = writeln!(out, "Mode: standalone");
    let _ = writeln!(out, "Node count: {}", v.node_count);
}

/// Render the reply to a four-letter word.
pub fn four_letter(word: &str, v: &ServerView) -> String {
    let mut out = String::new();
    match word {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str("rw"),
        "srvr" => {
            let _ = writeln!(out, "Zookeeper version: {VERSION}");
            server_stats(&mut out, v);
        }
        "stat" => {
            let _ = writeln!(out, "Zookeeper version: {VERSION}");
            out.push_str("Clients:\n");
            for c in &v.conns {
                client_line(&mut out, c);
            }
            out.push('\n');
            server_stats(&mut out, v);
        }
        "cons" => {
            for c in &v.conns {
                let _ = writeln!(
                    out,
                    " /{}[1](queued=0,recved={},sent={},sid=0x{:x},lop={},est={},to={},lzxid=0x{:x})",
                    c.peer,
                    c.received,
                    c.sent,
                    c.session_id,
                    c.last_op,
                    c.connected_at,
                    c.timeout_ms,
                    c.last_zxid
                );
            }
            out.push('\n');
        }
        "srst" | "crst" => out.push_str(if word == "srst" {
            "Server stats reset.\n"
        } else {
            "Connection stats reset.\n"
        }),
        "conf" => {
            let s = &v.settings;
            let _ = writeln!(out, "clientPort={}", s.client_addr.port());
            let _ = writeln!(out, "secureClientPort=-1");
            let show = |d: &Option<std::path::PathBuf>| {
                d.as_ref()
                    .map(|p| p.join("version-2").display().to_string())
                    .unwrap_or_else(|| "(in-memory)".into())
            };
            let _ = writeln!(out, "dataDir={}", show(&s.data_dir));
            let _ = writeln!(out, "dataDirSize={}", dir_size(s.data_dir.as_deref()));
            let _ = writeln!(out, "dataLogDir={}", show(&s.data_log_dir));
            let _ = writeln!(out, "dataLogSize={}", dir_size(s.data_log_dir.as_deref()));
            let _ = writeln!(out, "tickTime={}", s.tick_ms);
            let _ = writeln!(out, "maxClientCnxns={}", s.max_client_cnxns);
            let _ = writeln!(out, "minSessionTimeout={}", s.min_session_timeout);
            let _ = writeln!(out, "maxSessionTimeout={}", s.max_session_timeout);
            let _ = writeln!(out, "clientPortListenBacklog=-1");
            let _ = writeln!(out, "serverId=0");
        }
        "envi" => {
            out.push_str("Environment:\n");
            let _ = writeln!(out, "zookeeper.version={VERSION}");
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            let _ = writeln!(out, "host.name={}", host.trim());
            let _ = writeln!(out, "java.version=n/a (ferrokeeper, Rust)");
            let _ = writeln!(out, "os.name={}", std::env::consts::OS);
            let _ = writeln!(out, "os.arch={}", std::env::consts::ARCH);
            let _ = writeln!(
                out,
                "user.dir={}",
                std::env::current_dir()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            let _ = writeln!(out, "ferrokeeper.pid={}", std::process::id());
        }
        "wchs" => {
            let w = &v.watch_summary;
            let _ = writeln!(
                out,
                "{} connections watching {} paths",
                w.connections, w.paths
            );
            let _ = writeln!(out, "Total watches:{}", w.total);
        }
        "wchc" => {
            for (conn, paths) in &v.watch_summary.by_conn {
                let sid = v
                    .conns
                    .iter()
                    .find(|c| c.id == *conn)
                    .map(|c| c.session_id)
                    .unwrap_or(0);
                let _ = writeln!(out, "0x{sid:x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
        }
        "wchp" => {
            let mut by_path: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
            for (conn, paths) in &v.watch_summary.by_conn {
                let sid = v
                    .conns
                    .iter()
                    .find(|c| c.id == *conn)
                    .map(|c| c.session_id)
                    .unwrap_or(0);
                for p in paths {
                    by_path.entry(p.as_str()).or_default().push(sid);
                }
            }
            for (p, sids) in by_path {
                let _ = writeln!(out, "{p}");
                for s in sids {
                    let _ = writeln!(out, "\t0x{s:x}");
                }
            }
        }
        "dump" => {
            out.push_str("SessionTracker dump:\n");
            let _ = writeln!(
                out,
                "Session Sets ({})/({}):",
                v.session_buckets.len(),
                v.sessions.len()
            );
            for (b, ids) in &v.session_buckets {
                let _ = writeln!(out, "{} expire at {}:", ids.len(), b);
                for id in ids {
                    let _ = writeln!(out, "\t0x{id:x}");
                }
            }
            out.push_str("ephemeral nodes dump:\n");
            let _ = writeln!(out, "Sessions with Ephemerals ({}):", v.ephemerals.len());
            for (sid, paths) in &v.ephemerals {
                let _ = writeln!(out, "0x{sid:x}:");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push_str("Connections dump:\n");
            let _ = writeln!(out, "Connections Sets (0)/(0):");
        }
        "mntr" => {
            let s = &v.stats;
            let eph: usize = v.ephemerals.iter().map(|(_, p)| p.len()).sum();
            let mut kv = |k: &str, val: String| {
                let _ = writeln!(out, "zk_{k}\t{val}");
            };
            kv("version", VERSION.to_owned());
            kv("server_state", "standalone".into());
            kv("avg_latency", format!("{:.4}", avg_latency(s)));
            kv("max_latency", s.latency_max_ms.to_string());
            kv("min_latency", s.latency_min_ms.to_string());
            kv("packets_received", s.packets_received.to_string());
            kv("packets_sent", s.packets_sent.to_string());
            kv("num_alive_connections", v.conns.len().to_string());
            kv("outstanding_requests", "0".into());
            kv("uptime", v.uptime_ms.to_string());
            kv("znode_count", v.node_count.to_string());
            kv("watch_count", v.watch_count.to_string());
            kv("ephemerals_count", eph.to_string());
            kv("approximate_data_size", v.approximate_data_size.to_string());
            kv("global_sessions", v.sessions.len().to_string());
            kv("local_sessions", "0".into());
            let (open, max) = fd_counts();
            kv("open_file_descriptor_count", open.to_string());
            kv("max_file_descriptor_count", max.to_string());
            kv("connection_drop_probability", "0.0".into());
            kv("auth_failed_count", s.auth_failed.to_string());
            kv(
                "fsync_threshold_exceed_count",
                v.fsync_threshold_exceed_count.to_string(),
            );
            kv("last_proposal_size", "-1".into());
            kv("outstanding_tls_handshake", "0".into());
        }
        "hash" => {
            let _ = writeln!(out, "Digest in log and actual tree:");
            let _ = writeln!(out, "0x{:x}: {}", v.last_zxid, v.digest);
        }
        "gtmk" => out.push_str("0\n"),
        "stmk" => out.push_str("0\n"),
        "dirs" => {
            let s = &v.settings;
            let _ = writeln!(out, "datadir_size: {}", dir_size(s.data_dir.as_deref()));
            let _ = writeln!(out, "logdir_size: {}", dir_size(s.data_log_dir.as_deref()));
        }
        _ => {}
    }
    out
}

fn fd_counts() -> (u64, u64) {
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        0
    };
    (open, max)
}

/// Total length of the files in `<dir>/version-2` (ZooKeeper's getDataDirSize/getLogDirSize;
/// preallocated logs count at their full length, as in Java).
fn dir_size(dir: Option<&std::path::Path>) -> u64 {
    let Some(dir) = dir else { return 0 };
    std::fs::read_dir(crate::storage::version_dir(dir))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
