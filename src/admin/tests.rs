//! Four-letter word texts and which words reach the core.

use super::*;

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn summary(connections: usize) -> ServerSummary {
    ServerSummary {
        mode: "standalone",
        stats: Stats::default(),
        last_zxid: 0x2a,
        node_count: 5,
        connections,
        outstanding_requests: 3,
    }
}

fn session_conn() -> ConnView {
    ConnView {
        peer: peer(5000),
        interest_ops: 1,
        session_id: 0x1000009557a0000,
        timeout_ms: 30000,
        received: 3,
        sent: 3,
        // Two writes of its session still in flight.
        queued: 2,
        connected_at: 1796094113653,
        stats: {
            let mut s = ConnStats::default();
            s.responded(0, 1, "SESS", 100, 103);
            s.responded(5, 1, "GETD", 200, 201);
            s.responded(-2, 1, "PING", 300, 300); // a ping's xid keeps lcxid
            s
        },
    }
}

fn asking() -> ConnView {
    ConnView::asking(peer(4242))
}

#[test]
fn cons_on_an_idle_server_lists_the_asking_connection() {
    let text = render(&Answer::Conns(Vec::new()), &asking(), (0, 0));
    // ZooKeeper 3.8: a connection without a session, its key cancelled, the word counted.
    assert_eq!(text, " /127.0.0.1:4242[0](queued=0,recved=1,sent=0)\n\n");
}

#[test]
fn cons_lists_sessions_then_the_asking_connection() {
    let text = render(&Answer::Conns(vec![session_conn()]), &asking(), (0, 0));
    assert_eq!(
        text,
        " /127.0.0.1:5000[1](queued=2,recved=3,sent=3,sid=0x1000009557a0000,lop=PING,\
         est=1796094113653,to=30000,lcxid=0x5,lzxid=0x1,lresp=300,llat=0,minlat=0,avglat=1,\
         maxlat=3)\n \
         /127.0.0.1:4242[0](queued=0,recved=1,sent=0)\n\n"
    );
}

#[test]
fn stat_lists_the_asking_connection_and_counts_it() {
    let text = render(
        &Answer::ServerAndConns(summary(0), Vec::new()),
        &asking(),
        (0, 0),
    );
    let expected_head = format!(
        "Zookeeper version: {VERSION}\nClients:\n \
         /127.0.0.1:4242[0](queued=0,recved=1,sent=0)\n\n"
    );
    assert!(text.starts_with(&expected_head), "{text}");
    assert!(text.contains("\nConnections: 1\n"), "{text}");

    let text = render(
        &Answer::ServerAndConns(summary(1), vec![session_conn()]),
        &asking(),
        (0, 0),
    );
    let clients: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "Clients:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        clients,
        vec![
            " /127.0.0.1:5000[1](queued=2,recved=3,sent=3)",
            " /127.0.0.1:4242[0](queued=0,recved=1,sent=0)",
        ]
    );
    assert!(text.contains("\nConnections: 2\n"), "{text}");
}

#[test]
fn srvr_and_mntr_count_the_asking_connection() {
    let text = render(&Answer::Server(summary(0)), &asking(), (0, 0));
    assert!(text.contains("\nConnections: 1\n"), "{text}");
    // The requests in process, as mntr's zk_outstanding_requests.
    assert!(text.contains("\nOutstanding: 3\n"), "{text}");
    let m = MonitorView {
        summary: summary(2),
        uptime_ms: 1,
        watch_count: 7,
        ephemerals_count: 3,
        approximate_data_size: 44,
        global_sessions: 2,
        local_sessions: 0,
        fsync_threshold_exceed_count: 0,
        quorum: None,
    };
    let text = render(&Answer::Monitor(m.clone()), &asking(), (12, 1024));
    assert!(
        !text.contains("zk_peer_state"),
        "standalone has no quorum keys: {text}"
    );
    assert!(text.contains("zk_server_state\tstandalone"), "{text}");
    for line in [
        "zk_num_alive_connections\t3",
        "zk_watch_count\t7",
        "zk_outstanding_requests\t3",
        "zk_ephemerals_count\t3",
        "zk_open_file_descriptor_count\t12",
        "zk_max_file_descriptor_count\t1024",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    // A leader adds Java's quorum and leader keys.
    let mut lead = m;
    lead.summary.mode = "leader";
    lead.quorum = Some(QuorumStatus {
        peer_state: "leading - broadcast".into(),
        quorum_size: 3,
        leader_id: 3,
        leader: Some(LeaderStatus {
            learners: 2,
            synced_followers: 2,
            synced_observers: 0,
            pending_syncs: 1,
            leader_uptime_ms: 99,
            proposal_sizes: (10, 5, 20),
        }),
    });
    let text = render(&Answer::Monitor(lead), &asking(), (12, 1024));
    for line in [
        "zk_server_state\tleader",
        "zk_peer_state\tleading - broadcast",
        "zk_quorum_size\t3",
        "zk_learners\t2",
        "zk_synced_followers\t2",
        "zk_pending_syncs\t1",
        "zk_last_proposal_size\t10",
        "zk_min_proposal_size\t5",
        "zk_max_proposal_size\t20",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    assert!(text.contains("Mode: leader") || !text.contains("Mode:"));
}

#[test]
fn each_core_word_asks_only_its_own_query() {
    use FourLetterWord as W;
    let expected = [
        (W::Srvr, Some(Query::Server)),
        (W::Stat, Some(Query::ServerAndConns)),
        (W::Cons, Some(Query::Conns)),
        (W::Wchs, Some(Query::WatchTotals)),
        (W::Wchc, Some(Query::WatchesBySession)),
        (W::Wchp, Some(Query::SessionsByPath)),
        (W::Dump, Some(Query::Dump)),
        (W::Mntr, Some(Query::Monitor)),
        (W::Hash, Some(Query::Digest)),
        (W::Srst, Some(Query::ResetServerStats)),
        (W::Crst, Some(Query::ResetConnStats)),
    ];
    for w in FourLetterWord::ALL {
        let want = expected.iter().find(|(x, _)| *x == w).and_then(|(_, q)| *q);
        assert_eq!(query_for(w), want, "{}", w.name());
    }
}

fn conf_in(dir: &std::path::Path) -> ConfView {
    ConfView {
        client_port: 2181,
        data_dir: Some(dir.to_path_buf()),
        data_log_dir: Some(dir.to_path_buf()),
        tick_ms: 2000,
        max_client_cnxns: 0,
        min_session_timeout: 4000,
        max_session_timeout: 40000,
    }
}

/// Words that print no core state are answered without asking the core.
#[tokio::test]
async fn local_words_never_ask_the_core() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("version-2")).unwrap();
    std::fs::write(dir.path().join("version-2/log.1"), [0u8; 100]).unwrap();
    let conf = conf_in(dir.path());
    for w in FourLetterWord::ALL {
        if query_for(w).is_some() || w == FourLetterWord::TelnetClose {
            continue;
        }
        let text = reply(w, peer(1), &conf, ServingMode::ReadWrite, |q| async move {
            panic!("{} asked the core {q:?}", w.name())
        })
        .await;
        let text = text.unwrap_or_else(|| panic!("{} has a reply", w.name()));
        match w {
            FourLetterWord::Ruok => assert_eq!(text, "imok"),
            FourLetterWord::Dirs => assert_eq!(text, "datadir_size: 100\nlogdir_size: 100\n"),
            FourLetterWord::Conf => {
                assert!(text.contains("\ndataDirSize=100\n"), "{text}");
                assert!(text.contains("\ndataLogSize=100\n"), "{text}");
            }
            _ => assert!(!text.is_empty(), "{}", w.name()),
        }
    }
}

/// A word that needs the core gets exactly its query's answer rendered; with no core
/// behind the port (an ensemble member between roles), Java's "not serving" line.
#[tokio::test]
async fn core_words_render_the_answer() {
    let conf = conf_in(std::path::Path::new("/nonexistent"));
    let text = reply(
        FourLetterWord::Cons,
        peer(4242),
        &conf,
        ServingMode::ReadWrite,
        |q| async move {
            assert_eq!(q, Query::Conns);
            Some(Answer::Conns(Vec::new()))
        },
    )
    .await;
    assert_eq!(
        text.as_deref(),
        Some(" /127.0.0.1:4242[0](queued=0,recved=1,sent=0)\n\n")
    );
    let gone = reply(
        FourLetterWord::Srvr,
        peer(1),
        &conf,
        ServingMode::ReadWrite,
        |_| async { None },
    )
    .await;
    assert_eq!(gone.as_deref(), Some(crate::admin::NOT_SERVING));
}

/// `isro` as Java's IsroCommand: "null" while no server runs, "ro" in read-only mode.
#[tokio::test]
async fn isro_tells_the_serving_mode() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf_in(dir.path());
    for (mode, want) in [
        (ServingMode::NotServing, "null"),
        (ServingMode::ReadWrite, "rw"),
        (ServingMode::ReadOnly, "ro"),
    ] {
        let text = reply(FourLetterWord::Isro, peer(1), &conf, mode, |_| async {
            None
        })
        .await;
        assert_eq!(text.as_deref(), Some(want));
    }
}
