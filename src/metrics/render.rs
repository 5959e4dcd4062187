//! One scrape in the text exposition format 0.0.4 exactly as simpleclient 0.9.0's
//! `TextFormat.write004` writes it: `# HELP name name` (ZooKeeper's help is the name) and
//! `# TYPE` lines, then the samples, labels with a trailing comma (`{quantile="0.5",}`),
//! values as Java's `Double.toString` (`0.0`, `1.2345E7`, `NaN`).

use super::catalog::{FAMILIES, Kind};
use super::process::ProcessStats;
use super::{measured_counter, measured_summary};
use crate::admin::MonitorView;
use std::fmt::Write as _;

/// What a scrape shows besides the registry's own counters and summaries.
pub struct Scrape<'a> {
    /// The serving server's state (Java registers its gauges while a ZooKeeperServer
    /// runs: none while an ensemble member is LOOKING).
    pub server: Option<&'a MonitorView>,
    /// (open, max) file descriptors.
    pub fds: (u64, u64),
    /// `exportJvmInfo`: the process metrics (None = off).
    pub process: Option<&'a ProcessStats>,
    /// `name[]` query parameters: only these families (empty = all).
    pub names: &'a [String],
}

/// Java's `Double.toString` (as simpleclient's `doubleToGoString` uses it, with Go's
/// spellings of the infinities).
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = v.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        // Rust's `{:e}` is the shortest round-trip mantissa: "1.2345e7", "1e-4".
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.to_owned()
        } else {
            format!("{m}.0")
        };
        format!("{m}E{e}")
    }
}

struct Out<'a> {
    buf: String,
    names: &'a [String],
}

impl Out<'_> {
    fn wanted(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|n| n == name)
    }

    fn head(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.buf, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.buf.push_str(name);
        if !labels.is_empty() {
            self.buf.push('{');
            for (k, val) in labels {
                let _ = write!(self.buf, "{k}=\"{val}\",");
            }
            self.buf.push('}');
        }
        let _ = writeln!(self.buf, " {}", java_double(v));
    }

    fn gauge(&mut self, name: &str, v: f64) {
        if self.wanted(name) {
            self.head(name, name, "gauge");
            self.sample(name, &[], v);
        }
    }

    fn process(&mut self, name: &str, help: &str, kind: &str, v: Option<f64>) {
        if let Some(v) = v
            && self.wanted(name)
        {
            self.head(name, help, kind);
            self.sample(name, &[], v);
        }
    }
}

/// A catalog counter's value (0 for those ferrokeeper does not measure).
pub fn counter_value(name: &str) -> u64 {
    match name {
        "bytes_received_count" => super::BYTES_RECEIVED_COUNT.get(),
        "response_bytes" => super::RESPONSE_BYTES.get(),
        _ => measured_counter(name).map_or(0, |c| c.get()),
    }
}

/// The `/metrics` body.
pub fn render(s: &Scrape<'_>) -> String {
    let mut o = Out {
        buf: String::with_capacity(32 * 1024),
        names: s.names,
    };
    for &(name, kind) in FAMILIES {
        if !o.wanted(name) {
            continue;
        }
        match kind {
            Kind::Counter => {
                o.head(name, name, "counter");
                o.sample(name, &[], counter_value(name) as f64);
            }
            Kind::Summary(detail) => {
                o.head(name, name, "summary");
                let qs = [0.5, 0.9, 0.99];
                let (count, sum, qs) = match measured_summary(name) {
                    Some(_) if name == "readlatency" => super::read_latency(qs),
                    Some(m) => (m.count(), m.sum(), m.quantiles(qs)),
                    None => (0, 0, [f64::NAN; 3]),
                };
                for (q, v) in detail.quantiles().iter().zip(qs) {
                    o.sample(name, &[("quantile", &java_double(*q))], v);
                }
                o.sample(&format!("{name}_count"), &[], count as f64);
                o.sample(&format!("{name}_sum"), &[], sum as f64);
            }
            // Labelled by `key`; unmeasured sets have no key, so no samples.
            Kind::CounterSet => o.head(name, name, "counter"),
            Kind::GaugeSet => o.head(name, name, "gauge"),
            Kind::SummarySet(detail) => {
                o.head(name, name, "summary");
                let Some(set) = super::measured_summary_set(name) else {
                    continue;
                };
                for (key, m) in set.entries() {
                    let key = key.to_string();
                    let qs = m.quantiles([0.5, 0.9, 0.99]);
                    for (q, v) in detail.quantiles().iter().zip(qs) {
                        o.sample(name, &[("key", &key), ("quantile", &java_double(*q))], v);
                    }
                    o.sample(&format!("{name}_count"), &[("key", &key)], m.count() as f64);
                    o.sample(&format!("{name}_sum"), &[("key", &key)], m.sum() as f64);
                }
            }
        }
    }
    if let Some(m) = s.server {
        server_gauges(&mut o, m, s.fds);
    }
    if let Some(p) = s.process {
        let counter = "counter";
        let gauge = "gauge";
        o.process(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            counter,
            p.cpu_seconds,
        );
        o.process(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            gauge,
            p.start_time_seconds,
        );
        o.process(
            "process_open_fds",
            "Number of open file descriptors.",
            gauge,
            Some(p.open_fds as f64),
        );
        o.process(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            gauge,
            Some(p.max_fds as f64),
        );
        o.process(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            gauge,
            p.virtual_memory_bytes,
        );
        o.process(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            gauge,
            p.resident_memory_bytes,
        );
    }
    o.buf
}

/// `ZooKeeperServer.registerMetrics` and the quorum roles' gauges.
fn server_gauges(o: &mut Out<'_>, m: &MonitorView, (open_fds, max_fds): (u64, u64)) {
    let st = &m.summary.stats;
    let f = |v: u64| v as f64;
    o.gauge(
        "avg_latency",
        (st.avg_latency() * 10000.0).round() / 10000.0,
    );
    o.gauge("max_latency", f(st.latency_max_ms));
    o.gauge("min_latency", f(st.latency_min_ms));
    o.gauge("packets_received", f(st.packets_received));
    o.gauge("packets_sent", f(st.packets_sent));
    o.gauge("num_alive_connections", m.summary.connections as f64);
    o.gauge(
        "outstanding_requests",
        m.summary.outstanding_requests as f64,
    );
    o.gauge("uptime", f(m.uptime_ms));
    o.gauge("znode_count", m.summary.node_count as f64);
    o.gauge("watch_count", m.watch_count as f64);
    o.gauge("ephemerals_count", m.ephemerals_count as f64);
    o.gauge("approximate_data_size", f(m.approximate_data_size));
    o.gauge("global_sessions", m.global_sessions as f64);
    o.gauge("local_sessions", m.local_sessions as f64);
    o.gauge("open_file_descriptor_count", f(open_fds));
    o.gauge("max_file_descriptor_count", f(max_fds));
    o.gauge("connection_drop_probability", st.conn_drop_ppb as f64 / 1e9);
    let (last, min, max) = super::CLIENT_RESPONSE.get();
    o.gauge("last_client_response_size", last as f64);
    o.gauge("max_client_response_size", max as f64);
    o.gauge("min_client_response_size", min as f64);
    o.gauge("outstanding_tls_handshake", 0.0);
    o.gauge("auth_failed_count", f(st.auth_failed));
    o.gauge(
        "non_mtls_remote_conn_count",
        super::NON_MTLS_REMOTE_CONN_COUNT.get() as f64,
    );
    o.gauge(
        "non_mtls_local_conn_count",
        super::NON_MTLS_LOCAL_CONN_COUNT.get() as f64,
    );
    if let Some(q) = &m.quorum {
        o.gauge("quorum_size", q.quorum_size as f64);
        match &q.leader {
            Some(l) => {
                o.gauge("learners", l.learners as f64);
                o.gauge("synced_followers", l.synced_followers as f64);
                o.gauge("synced_non_voting_followers", 0.0);
                o.gauge("synced_observers", l.synced_observers as f64);
                o.gauge("pending_syncs", l.pending_syncs as f64);
                o.gauge("leader_uptime", f(l.leader_uptime_ms));
                o.gauge("last_proposal_size", l.proposal_sizes.0 as f64);
                o.gauge("min_proposal_size", l.proposal_sizes.1 as f64);
                o.gauge("max_proposal_size", l.proposal_sizes.2 as f64);
            }
            // A learner: the observers following it (observer masters; none here).
            None => o.gauge("synced_observers", 0.0),
        }
    }
}
