//! The AdminServer's commands (Java's `server.admin.Commands`): their names and
//! aliases, which need a running server, what each asks the core, and the JSON each
//! answers (`CommandResponse.toMap()` through Jackson, with Java's snake_case keys).
//!
//! Owns: the command table and the JSON of every answer, from owned inputs (core answers,
//! host facts, configuration) that the HTTP side gathers. Must never: do I/O, ask the
//! core itself, or know about HTTP (status codes other than Java's 200 are the HTTP
//! side's).

use super::json::{Json, command_response, obj};
use super::{Answer, ConfView, ConnView, MonitorView, Query, ServingMode, VERSION};

/// One command: its primary name (the URL Java lists) and aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    pub names: &'static [&'static str],
    /// Java's `serverRequired`: answered only while a server serves clients.
    pub server_required: bool,
    /// What it asks the core (at most two queries).
    pub queries: &'static [Query],
    /// Host facts it prints.
    pub needs: Needs,
}

/// Host facts a command prints (read off the core, on the blocking pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    pub dir_sizes: bool,
    pub fds: bool,
    pub environment: bool,
    pub last_snapshot: bool,
}

impl Command {
    pub fn primary(&self) -> &'static str {
        self.names[0]
    }
}

const NONE: Needs = Needs {
    dir_sizes: false,
    fds: false,
    environment: false,
    last_snapshot: false,
};
const DIRS: Needs = Needs {
    dir_sizes: true,
    ..NONE
};

/// Every command of 3.9.5's `Commands.registerCommands`.
pub const COMMANDS: &[Command] = &[
    cmd(&["configuration", "conf", "config"], true, &[], NONE),
    cmd(
        &["connection_stat_reset", "crst"],
        true,
        &[Query::ResetConnStats],
        NONE,
    ),
    cmd(&["connections", "cons"], true, &[Query::Conns], NONE),
    cmd(&["dirs"], true, &[], DIRS),
    cmd(&["dump"], true, &[Query::Dump], NONE),
    cmd(
        &["environment", "env", "envi"],
        false,
        &[],
        Needs {
            environment: true,
            ..NONE
        },
    ),
    cmd(&["get_trace_mask", "gtmk"], false, &[], NONE),
    cmd(&["hash"], true, &[Query::Digest], NONE),
    cmd(&["initial_configuration", "icfg"], true, &[], NONE),
    cmd(&["is_read_only", "isro"], true, &[], NONE),
    cmd(
        &["last_snapshot", "lsnp"],
        true,
        &[],
        Needs {
            last_snapshot: true,
            ..NONE
        },
    ),
    cmd(&["leader", "lead"], true, &[Query::Monitor], NONE),
    cmd(
        &["monitor", "mntr"],
        false,
        &[Query::Monitor],
        Needs { fds: true, ..NONE },
    ),
    cmd(&["observer_connection_stat_reset", "orst"], true, &[], NONE),
    cmd(&["observers", "obsr"], true, &[Query::Monitor], NONE),
    cmd(&["restore", "rest"], true, &[], NONE),
    cmd(&["ruok"], true, &[], NONE),
    cmd(&["server_stats", "srvr"], true, &[Query::Monitor], DIRS),
    cmd(&["set_trace_mask", "stmk"], false, &[], NONE),
    cmd(&["snapshot", "snap"], true, &[], NONE),
    cmd(
        &["stat_reset", "srst"],
        true,
        &[Query::ResetServerStats],
        NONE,
    ),
    cmd(
        &["stats", "stat"],
        true,
        &[Query::Monitor, Query::Conns],
        DIRS,
    ),
    cmd(&["system_properties", "sysp"], false, &[], NONE),
    cmd(&["voting_view"], true, &[], NONE),
    cmd(&["watches", "wchc"], true, &[Query::WatchesBySession], NONE),
    cmd(
        &["watches_by_path", "wchp"],
        true,
        &[Query::SessionsByPath],
        NONE,
    ),
    cmd(
        &["watch_summary", "wchs"],
        true,
        &[Query::WatchTotals],
        NONE,
    ),
    cmd(&["zabstate"], false, &[Query::Monitor], NONE),
];

const fn cmd(
    names: &'static [&'static str],
    server_required: bool,
    queries: &'static [Query],
    needs: Needs,
) -> Command {
    Command {
        names,
        server_required,
        queries,
        needs,
    }
}

/// The command a URL names (primary name or alias).
pub fn lookup(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// The page Java serves at the command URL itself: a link per primary name, sorted.
pub fn links_page(command_url: &str) -> String {
    let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.primary()).collect();
    names.sort_unstable();
    let mut out = String::new();
    for n in names {
        out.push_str(&format!("<a href=\"{command_url}/{n}\">{n}</a>\n<br/>\n"));
    }
    out
}

/// Java's answer for a name no command has (HTTP 200, as Java keeps it).
pub fn unknown(name: &str) -> Json {
    command_response(name, Some(&format!("Unknown command: {name}")), vec![])
}

/// Java's answer for a command that needs a server while none serves.
pub fn not_serving(name: &str) -> Json {
    command_response(
        name,
        Some("This ZooKeeper instance is not currently serving requests"),
        vec![],
    )
}

/// What this member is in the ensemble (`leader`, `voting_view`, `zabstate`).
#[derive(Debug, Clone, Default)]
pub struct QuorumFacts {
    pub my_id: i64,
    /// This member's client address as bound ("ip:port").
    pub my_client: String,
    /// Voting and observing members: (sid, quorum "host:port", election "host:port",
    /// client "host:port" or "", participant?).
    pub servers: Vec<(i64, String, String, String, bool)>,
}

/// Everything a command's answer is built from.
pub struct Inputs<'a> {
    /// The name the URL used (Java's `command` key is the primary name).
    pub conf: &'a ConfView,
    pub mode: ServingMode,
    pub server_id: i64,
    /// zoo.cfg as read at start ("" for the embedded default).
    pub initial_config: &'a str,
    /// The core's answers, one per query of the command, in order.
    pub answers: &'a [Answer],
    pub dir_sizes: (u64, u64),
    pub fds: (u64, u64),
    /// (key, value) as `envi` lists them.
    pub environment: &'a [(String, String)],
    /// (zxid, seconds since the epoch) of the newest snapshot.
    pub last_snapshot: Option<(i64, i64)>,
    pub system_properties: &'a [(String, String)],
    pub quorum: Option<&'a QuorumFacts>,
    /// The URL's query parameters.
    pub params: &'a [(String, String)],
}

fn monitor<'a>(i: &'a Inputs) -> Option<&'a MonitorView> {
    i.answers.iter().find_map(|a| match a {
        Answer::Monitor(m) => Some(m),
        _ => None,
    })
}

fn conns<'a>(i: &'a Inputs) -> &'a [ConnView] {
    i.answers
        .iter()
        .find_map(|a| match a {
            Answer::Conns(c) => Some(c.as_slice()),
            _ => None,
        })
        .unwrap_or(&[])
}

/// `ServerCnxn.getConnectionInfo(brief)`.
fn connection(c: &ConnView, brief: bool) -> Json {
    let mut e = vec![
        ("remote_socket_address", Json::str(c.peer.to_string())),
        ("interest_ops", Json::int(c.interest_ops)),
        ("outstanding_requests", Json::uint(c.queued)),
        ("packets_received", Json::uint(c.received)),
        ("packets_sent", Json::uint(c.sent)),
    ];
    if !brief {
        let s = &c.stats;
        e.extend([
            ("session_id", Json::int(c.session_id)),
            ("last_operation", Json::str(s.last_op)),
            ("established", Json::int(c.connected_at)),
            ("session_timeout", Json::int(c.timeout_ms)),
            ("last_cxid", Json::int(s.last_cxid)),
            ("last_zxid", Json::int(s.last_zxid)),
            ("last_response_time", Json::int(s.last_response_ms)),
            ("last_latency", Json::int(s.last_latency_ms)),
            ("min_latency", Json::int(s.min_latency_ms())),
            ("avg_latency", Json::int(s.avg_latency_ms())),
            ("max_latency", Json::int(s.max_latency_ms)),
        ]);
    }
    obj(e)
}

/// Response-size statistics (`BufferStats`): ferrokeeper does not keep them; -1 is
/// Java's value before the first response.
/// ServerStats.clientResponseStats (BufferStats).
fn buffer_stats() -> Json {
    let (last, min, max) = crate::metrics::CLIENT_RESPONSE.get();
    obj([
        ("last_buffer_size", Json::int(last)),
        ("min_buffer_size", Json::int(min)),
        ("max_buffer_size", Json::int(max)),
    ])
}

/// `srvr` / `stat`: `SrvrCommand`.
fn server_stats(i: &Inputs, m: &MonitorView) -> Vec<(String, Json)> {
    let s = &m.summary.stats;
    let stats = obj([
        ("packets_sent", Json::uint(s.packets_sent)),
        ("packets_received", Json::uint(s.packets_received)),
        (
            "fsync_threshold_exceed_count",
            Json::uint(m.fsync_threshold_exceed_count),
        ),
        ("client_response_stats", buffer_stats()),
        ("provider_null", Json::Bool(false)),
        ("data_dir_size", Json::uint(i.dir_sizes.0)),
        ("log_dir_size", Json::uint(i.dir_sizes.1)),
        ("last_processed_zxid", Json::int(m.summary.last_zxid)),
        (
            "outstanding_requests",
            Json::uint(m.summary.outstanding_requests as u64),
        ),
        ("server_state", Json::str(m.summary.mode)),
        ("avg_latency", Json::float(s.avg_latency())),
        ("max_latency", Json::uint(s.latency_max_ms)),
        ("min_latency", Json::uint(s.latency_min_ms)),
        (
            "num_alive_client_connections",
            Json::uint(m.summary.connections as u64),
        ),
        ("uptime", Json::uint(m.uptime_ms)),
        ("auth_failed_count", Json::uint(s.auth_failed)),
        (
            "non_mtlsremote_conn_count",
            Json::uint(crate::metrics::NON_MTLS_REMOTE_CONN_COUNT.get()),
        ),
        (
            "non_mtlslocal_conn_count",
            Json::uint(crate::metrics::NON_MTLS_LOCAL_CONN_COUNT.get()),
        ),
    ]);
    let mut v = vec![
        ("version".into(), Json::str(VERSION)),
        (
            "read_only".into(),
            Json::Bool(i.mode == ServingMode::ReadOnly),
        ),
        ("server_stats".into(), stats),
        ("client_response".into(), buffer_stats()),
    ];
    if let Some(l) = m.quorum.as_ref().and_then(|q| q.leader.as_ref()) {
        let (last, min, max) = l.proposal_sizes;
        v.push((
            "proposal_stats".into(),
            obj([
                ("last_buffer_size", Json::int(last)),
                ("min_buffer_size", Json::int(min)),
                ("max_buffer_size", Json::int(max)),
            ]),
        ));
    }
    v.push(("node_count".into(), Json::uint(m.summary.node_count as u64)));
    v
}

/// Java's `MultipleAddresses` as Jackson writes the bean (one address, "host:port").
fn multiple_addresses(host_port: &str) -> Json {
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "0"));
    let port: i64 = port.parse().unwrap_or(0);
    let one = || Json::Arr(vec![Json::str(host_port)]);
    obj([
        ("empty", Json::Bool(host_port.is_empty())),
        ("all_addresses", one()),
        (
            "wildcard_addresses",
            Json::Arr(vec![Json::str(format!("0.0.0.0:{port}"))]),
        ),
        ("all_ports", Json::Arr(vec![Json::int(port)])),
        (
            "all_host_strings",
            Json::Arr(vec![Json::str(host.trim_matches(|c| c == '[' || c == ']'))]),
        ),
        ("reachable_address", Json::str(host_port)),
        ("all_reachable_addresses", one()),
        ("all_reachable_addresses_or_all", one()),
        ("reachable_or_one", Json::str(host_port)),
        ("one", Json::str(host_port)),
    ])
}

fn is_leader(m: Option<&MonitorView>) -> bool {
    m.and_then(|m| m.quorum.as_ref())
        .is_some_and(|q| q.leader.is_some())
}

/// The JSON `command` answers with these inputs (`name` is the primary name).
pub fn answer(command: &Command, i: &Inputs) -> Json {
    let name = command.primary();
    let mut error: Option<String> = None;
    let data: Vec<(String, Json)> = match name {
        "ruok" | "connection_stat_reset" | "stat_reset" | "observer_connection_stat_reset" => {
            vec![]
        }
        "configuration" => {
            let dir = |d: &Option<std::path::PathBuf>| {
                Json::str(
                    d.as_ref()
                        .map(|p| crate::storage::version_dir(p).display().to_string())
                        .unwrap_or_default(),
                )
            };
            vec![
                ("client_port".into(), Json::int(i.conf.client_port)),
                ("data_dir".into(), dir(&i.conf.data_dir)),
                ("data_log_dir".into(), dir(&i.conf.data_log_dir)),
                ("tick_time".into(), Json::int(i.conf.tick_ms)),
                (
                    "max_client_cnxns".into(),
                    Json::uint(i.conf.max_client_cnxns as u64),
                ),
                (
                    "min_session_timeout".into(),
                    Json::int(i.conf.min_session_timeout),
                ),
                (
                    "max_session_timeout".into(),
                    Json::int(i.conf.max_session_timeout),
                ),
                ("server_id".into(), Json::int(i.server_id)),
                ("client_port_listen_backlog".into(), Json::int(-1)),
            ]
        }
        "connections" => vec![
            (
                "connections".into(),
                Json::Arr(conns(i).iter().map(|c| connection(c, false)).collect()),
            ),
            ("secure_connections".into(), Json::Arr(vec![])),
        ],
        "dirs" => vec![
            ("datadir_size".into(), Json::uint(i.dir_sizes.0)),
            ("logdir_size".into(), Json::uint(i.dir_sizes.1)),
        ],
        "dump" => {
            let d = i.answers.iter().find_map(|a| match a {
                Answer::Dump(d) => Some(d),
                _ => None,
            });
            let (buckets, ephemerals) = match d {
                Some(d) => (
                    d.session_buckets
                        .iter()
                        .map(|(t, ids)| {
                            (
                                t.to_string(),
                                Json::Arr(ids.iter().map(|s| Json::int(*s)).collect()),
                            )
                        })
                        .collect(),
                    d.ephemerals
                        .iter()
                        .map(|(s, ps)| {
                            (s.to_string(), Json::Arr(ps.iter().map(Json::str).collect()))
                        })
                        .collect(),
                ),
                None => (vec![], vec![]),
            };
            vec![
                ("expiry_time_to_session_ids".into(), Json::Obj(buckets)),
                (
                    "session_id_to_ephemeral_paths".into(),
                    Json::Obj(ephemerals),
                ),
            ]
        }
        "environment" => i
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), Json::str(v.clone())))
            .collect(),
        "get_trace_mask" => vec![("tracemask".into(), Json::int(super::trace_mask()))],
        "set_trace_mask" => match i.params.iter().find(|(k, _)| k == "traceMask") {
            None => vec![(
                "error".into(),
                Json::str("setTraceMask requires long traceMask argument"),
            )],
            Some((_, v)) => match v.parse::<i64>() {
                Ok(mask) => {
                    super::set_trace_mask(mask);
                    vec![("tracemask".into(), Json::int(mask))]
                }
                Err(_) => vec![(
                    "error".into(),
                    Json::str(format!(
                        "setTraceMask requires long traceMask argument, got {v}"
                    )),
                )],
            },
        },
        "hash" => {
            let digests = i
                .answers
                .iter()
                .filter_map(|a| match a {
                    Answer::Digest(log) => Some(log),
                    _ => None,
                })
                .flatten()
                .map(|(zxid, digest)| {
                    obj([
                        ("zxid", Json::int(*zxid)),
                        (
                            "digest_version",
                            Json::int(crate::tree::digest::DIGEST_VERSION),
                        ),
                        ("digest", Json::int(*digest)),
                    ])
                })
                .collect();
            vec![("digests".into(), Json::Arr(digests))]
        }
        "initial_configuration" => {
            vec![("initial_configuration".into(), Json::str(i.initial_config))]
        }
        "is_read_only" => vec![(
            "read_only".into(),
            Json::Bool(i.mode == ServingMode::ReadOnly),
        )],
        "last_snapshot" => {
            let (zxid, ts) = i.last_snapshot.unwrap_or((-1, -1));
            vec![
                ("zxid".into(), Json::str(format!("{:x}", zxid))),
                ("timestamp".into(), Json::int(ts)),
            ]
        }
        "leader" => match (i.quorum, monitor(i)) {
            (Some(q), m) => {
                let status = m.and_then(|m| m.quorum.as_ref());
                let leader_id = status.map_or(-1, |s| s.leader_id);
                let leader_ip = q
                    .servers
                    .iter()
                    .find(|s| s.0 == leader_id)
                    .map(|s| {
                        s.1.rsplit_once(':')
                            .map_or(s.1.clone(), |(h, _)| h.to_owned())
                    })
                    .unwrap_or_default();
                vec![
                    ("is_leader".into(), Json::Bool(is_leader(m))),
                    ("leader_id".into(), Json::int(leader_id)),
                    ("leader_ip".into(), Json::str(leader_ip)),
                ]
            }
            (None, _) => vec![("error".into(), Json::str("server is not initialized"))],
        },
        "monitor" => match monitor(i) {
            Some(m) => {
                let base = super::mntr_values(m, i.fds, 0);
                let metrics = super::metric_values(&base);
                base.into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .chain(metrics)
                    .collect()
            }
            None => vec![],
        },
        "observers" => vec![
            (
                "synced_observers".into(),
                Json::uint(
                    monitor(i)
                        .and_then(|m| m.quorum.as_ref())
                        .and_then(|q| q.leader.as_ref())
                        .map_or(0, |l| l.synced_observers as u64),
                ),
            ),
            ("observers".into(), Json::Arr(vec![])),
        ],
        "server_stats" => match monitor(i) {
            Some(m) => server_stats(i, m),
            None => vec![],
        },
        "stats" => {
            let mut v = match monitor(i) {
                Some(m) => server_stats(i, m),
                None => vec![],
            };
            v.push((
                "connections".into(),
                Json::Arr(conns(i).iter().map(|c| connection(c, true)).collect()),
            ));
            v.push(("secure_connections".into(), Json::Arr(vec![])));
            v
        }
        "system_properties" => i
            .system_properties
            .iter()
            .map(|(k, v)| (k.clone(), Json::str(v.clone())))
            .collect(),
        "voting_view" => {
            // Java's voting view: the participants only; a member's own entry has its
            // client address even when its server line does not.
            let view = i.quorum.map_or(vec![], |q| {
                q.servers
                    .iter()
                    .filter(|s| s.4)
                    .map(|(sid, quorum, election, client, participant)| {
                        let client = if client.is_empty() && *sid == q.my_id {
                            &q.my_client
                        } else {
                            client
                        };
                        (
                            sid.to_string(),
                            obj([
                                ("server_addresses", Json::Arr(vec![Json::str(quorum)])),
                                ("election_addresses", Json::Arr(vec![Json::str(election)])),
                                ("client_address", Json::str(client)),
                                (
                                    "learner_type",
                                    Json::str(if *participant {
                                        "participant"
                                    } else {
                                        "observer"
                                    }),
                                ),
                            ]),
                        )
                    })
                    .collect()
            });
            vec![("current_config".into(), Json::Obj(view))]
        }
        "watches" => {
            let by_session = i
                .answers
                .iter()
                .find_map(|a| match a {
                    Answer::WatchesBySession(v) => Some(v.as_slice()),
                    _ => None,
                })
                .unwrap_or(&[]);
            let m = by_session
                .iter()
                .map(|(s, paths)| {
                    (
                        s.to_string(),
                        Json::Arr(paths.iter().map(Json::str).collect()),
                    )
                })
                .collect();
            vec![("session_id_to_watched_paths".into(), Json::Obj(m))]
        }
        "watches_by_path" => {
            let by_path = i
                .answers
                .iter()
                .find_map(|a| match a {
                    Answer::SessionsByPath(v) => Some(v.as_slice()),
                    _ => None,
                })
                .unwrap_or(&[]);
            let m = by_path
                .iter()
                .map(|(p, ids)| {
                    (
                        p.clone(),
                        Json::Arr(ids.iter().map(|s| Json::int(*s)).collect()),
                    )
                })
                .collect();
            vec![("path_to_session_ids".into(), Json::Obj(m))]
        }
        "watch_summary" => match i.answers.iter().find_map(|a| match a {
            Answer::WatchTotals(t) => Some(t),
            _ => None,
        }) {
            Some(t) => vec![
                ("num_connections".into(), Json::uint(t.connections as u64)),
                ("num_paths".into(), Json::uint(t.paths as u64)),
                ("num_total_watches".into(), Json::uint(t.total as u64)),
            ],
            None => vec![],
        },
        "zabstate" => match (i.quorum, monitor(i)) {
            (Some(q), Some(m)) => {
                let me = q.servers.iter().find(|s| s.0 == q.my_id);
                let z = m.summary.last_zxid;
                let state = m.quorum.as_ref().map_or("election", |s| {
                    s.peer_state.split(" - ").nth(1).unwrap_or("election")
                });
                vec![
                    ("myid".into(), Json::int(q.my_id)),
                    ("is_leader".into(), Json::Bool(is_leader(Some(m)))),
                    (
                        "quorum_address".into(),
                        multiple_addresses(me.map_or("", |s| s.1.as_str())),
                    ),
                    (
                        "election_address".into(),
                        multiple_addresses(me.map_or("", |s| s.2.as_str())),
                    ),
                    ("client_address".into(), Json::str(q.my_client.clone())),
                    ("voting".into(), Json::Bool(me.is_some_and(|s| s.4))),
                    ("last_zxid".into(), Json::str(format!("0x{z:x}"))),
                    ("zab_epoch".into(), Json::int(z >> 32)),
                    ("zab_counter".into(), Json::int(z & 0xffff_ffff)),
                    ("zabstate".into(), Json::str(state)),
                ]
            }
            _ => vec![
                ("voting".into(), Json::Bool(false)),
                ("zabstate".into(), Json::str("")),
            ],
        },
        // POST-only or streamed in Java (snapshot, restore): not built here.
        _ => {
            error = Some(format!(
                "The command {name} is not supported by ferrokeeper's AdminServer"
            ));
            vec![]
        }
    };
    command_response(name, error.as_deref(), data)
}
