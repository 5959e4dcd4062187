//! The core's answers to four-letter-word queries (`admin::Query`), and opcode names.
//!
//! Owns: building each `admin::Answer` from the core's state. Must never: build more than
//! the query's word prints (srvr touches neither the watch tables nor the ephemeral lists),
//! render text, or do I/O (admin renders, and reads the file system on the asking
//! connection's task).

use super::Core;
use crate::admin::{
    Answer, ConnView, DumpView, MonitorView, Query, ServerSummary, Stats, WatchTotals,
};
use crate::proto::op;
use std::sync::atomic::Ordering;

impl Core {
    /// Answer a four-letter word's query with an owned copy of just what it prints.
    pub(super) fn answer(&self, q: Query) -> Answer {
        match q {
            Query::Server => Answer::Server(self.summary()),
            Query::ServerAndConns => Answer::ServerAndConns(self.summary(), self.conn_views()),
            Query::Conns => Answer::Conns(self.conn_views()),
            Query::WatchTotals => {
                let t = self.shared.watches.lock().summary();
                Answer::WatchTotals(WatchTotals {
                    connections: t.connections,
                    paths: t.paths,
                    total: t.total,
                })
            }
            Query::WatchesBySession => {
                let by_conn = self.shared.watches.lock().by_connection();
                Answer::WatchesBySession(
                    by_conn
                        .into_iter()
                        .map(|(conn, paths)| (self.session_of(conn), paths))
                        .collect(),
                )
            }
            Query::SessionsByPath => {
                let by_path = self.shared.watches.lock().by_path();
                Answer::SessionsByPath(
                    by_path
                        .into_iter()
                        .map(|(p, conns)| {
                            (p, conns.into_iter().map(|c| self.session_of(c)).collect())
                        })
                        .collect(),
                )
            }
            Query::Dump => Answer::Dump(DumpView {
                session_count: self.sessions.len(),
                session_buckets: self.sessions.buckets(),
                ephemerals: self.shared.tree.read().ephemerals_by_session(),
            }),
            Query::Monitor => {
                let summary = self.summary();
                let (ephemerals_count, approximate_data_size) = {
                    let tree = self.shared.tree.read();
                    (tree.ephemerals_count(), tree.approximate_data_size())
                };
                Answer::Monitor(MonitorView {
                    summary,
                    uptime_ms: self.now.mono_ms.saturating_sub(self.started_ms).max(0) as u64,
                    watch_count: self.shared.watches.lock().watch_count(),
                    ephemerals_count,
                    approximate_data_size,
                    global_sessions: self.sessions.len(),
                    local_sessions: self.local.len(),
                    fsync_threshold_exceed_count: self.slow_fsyncs.load(Ordering::Relaxed),
                    quorum: self.quorum_status.clone(),
                })
            }
            Query::Digest => Answer::Digest(self.digest_log.iter().copied().collect()),
            Query::ResetServerStats | Query::ResetConnStats => Answer::Done,
        }
    }

    /// srst / crst: zero the counters (before `answer` acknowledges).
    pub(super) fn reset_for(&mut self, q: Query) {
        match q {
            Query::ResetServerStats => {
                self.stats = Stats::default();
                self.shared.served.store(0, Ordering::Relaxed);
                self.shared.tls_auth_failed.store(0, Ordering::Relaxed);
                self.slow_fsyncs.store(0, Ordering::Relaxed);
                crate::metrics::CLIENT_RESPONSE.reset();
                // ServerStats.reset → ServerMetrics.resetAll: the default provider zeroes
                // every metric; the Prometheus provider's cannot be reset (its scrapes
                // stay monotonic).
                if self.settings.metrics_http.is_none() {
                    crate::metrics::dump::reset_all();
                }
            }
            Query::ResetConnStats => {
                for c in self.conns.values_mut() {
                    c.received = 0;
                    c.sent = 0;
                    c.link.served.store(0, Ordering::Relaxed);
                    c.link.reset_stats();
                }
            }
            _ => {}
        }
    }

    /// Counters with the reads connection tasks served themselves added in.
    fn stats_now(&self) -> Stats {
        let served_here = self.shared.served.load(Ordering::Relaxed);
        let mut stats = self.stats.clone();
        stats.packets_received += served_here;
        stats.packets_sent += served_here;
        stats.auth_failed += self.shared.tls_auth_failed.load(Ordering::Relaxed);
        stats.conn_drop_ppb = (self.conn_throttle.drop_chance() * 1e9) as u64;
        stats
    }

    fn summary(&self) -> ServerSummary {
        ServerSummary {
            stats: self.stats_now(),
            last_zxid: self.last_applied,
            node_count: self.shared.tree.read().node_count(),
            connections: self.conns.len(),
            mode: self.role.mode(),
            outstanding_requests: self.shared.throttle.in_process(),
        }
    }

    /// Connections with a session, in accept order.
    fn conn_views(&self) -> Vec<ConnView> {
        let mut conns: Vec<(super::ConnId, ConnView)> = self
            .conns
            .iter()
            .map(|(id, c)| {
                let served = c.link.served.load(Ordering::Relaxed);
                let view = ConnView {
                    peer: c.peer,
                    interest_ops: 1,
                    session_id: c.session_id,
                    timeout_ms: c.timeout_ms,
                    received: c.received + served,
                    sent: c.sent + served,
                    // Its writes in flight, forwarded requests and requests held
                    // behind them (reads answered at receipt are never outstanding).
                    queued: c.queue.len() as u64,
                    connected_at: c.connected_at,
                    stats: c.link.stats(),
                };
                (*id, view)
            })
            .collect();
        conns.sort_by_key(|(id, _)| *id);
        conns.into_iter().map(|(_, v)| v).collect()
    }

    /// The session a watcher (connection) belongs to; 0 if it is gone.
    fn session_of(&self, conn: super::ConnId) -> i64 {
        self.conns.get(&conn).map(|c| c.session_id).unwrap_or(0)
    }
}

/// A write (Java's `Request.isQuorum`) by its `op_name` ("NA": a write that failed).
pub fn is_write_op(name: &str) -> bool {
    matches!(
        name,
        "CREA"
            | "CRE2"
            | "CRTE"
            | "CRTT"
            | "DELE"
            | "SETD"
            | "SETA"
            | "MULT"
            | "RECO"
            | "CLOS"
            | "NA"
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::core::{Now, Recovered};
    use crate::server::settings::Settings;
    use crate::server::shared::Shared;
    use crate::tree::DataTree;
    use std::sync::Arc;
    use std::time::Duration;

    fn core() -> Core {
        let recovered = Recovered {
            sessions: vec![(0x42, 30000)],
            last_zxid: 7,
            snapshot_needed: false,
        };
        let shared = Arc::new(Shared::new(DataTree::new(), 7, 1000));
        Core::new(
            Arc::new(Settings::default()),
            shared,
            recovered,
            Now::default(),
            Default::default(),
        )
    }

    /// The words that print no watches never touch the watch tables: the core answers
    /// them while another thread holds the table's lock.
    #[test]
    fn server_words_leave_the_watch_table_alone() {
        let core = core();
        let shared = core.shared();
        shared.watches.lock().add_data_watch("/", 1);
        let held = shared.watches.lock();
        let queries = [
            Query::Server,
            Query::ServerAndConns,
            Query::Conns,
            Query::Dump,
            Query::Digest,
        ];
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            for q in queries {
                let _ = tx.send(core.answer(q));
            }
        });
        let mut answers = Vec::new();
        for q in queries {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(a) => answers.push(a),
                Err(_) => {
                    drop(held);
                    let _ = worker.join();
                    panic!("{q:?} waited for the watch table");
                }
            }
        }
        drop(held);
        let _ = worker.join();
        let Answer::Server(s) = &answers[0] else {
            panic!("srvr got {:?}", answers[0])
        };
        assert_eq!((s.last_zxid, s.node_count, s.connections), (7, 5, 0));
        assert!(matches!(&answers[2], Answer::Conns(c) if c.is_empty()));
        let Answer::Dump(d) = &answers[3] else {
            panic!("dump got {:?}", answers[3])
        };
        assert_eq!(d.session_count, 1);
        assert!(d.ephemerals.is_empty());
    }

    /// Watch words get counts or their own listing, with watchers mapped to sessions.
    #[test]
    fn watch_words_answer_their_own_listing() {
        let core = core();
        core.shared().watches.lock().add_data_watch("/a", 9);
        core.shared().watches.lock().add_child_watch("/b", 9);
        assert_eq!(
            core.answer(Query::WatchTotals),
            Answer::WatchTotals(WatchTotals {
                connections: 1,
                paths: 1,
                total: 1
            })
        );
        // Connection 9 has no session at the core (any more): session 0, as before.
        assert_eq!(
            core.answer(Query::WatchesBySession),
            Answer::WatchesBySession(vec![(0, vec!["/a".to_string()])])
        );
        assert_eq!(
            core.answer(Query::SessionsByPath),
            Answer::SessionsByPath(vec![("/a".to_string(), vec![0])])
        );
        let Answer::Monitor(m) = core.answer(Query::Monitor) else {
            panic!("mntr got another answer")
        };
        assert_eq!((m.watch_count, m.global_sessions), (2, 1));
    }
}
