//! Four-letter word texts and which words reach the core.

use super::*;

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
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
        let text = reply(w, peer(1), &conf, |q| async move {
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

/// A word that needs the core gets exactly its query's answer rendered; no core, no reply.
#[tokio::test]
async fn core_words_render_the_answer() {
    let conf = conf_in(std::path::Path::new("/nonexistent"));
    let text = reply(FourLetterWord::Wchs, peer(4242), &conf, |q| async move {
        assert_eq!(q, Query::WatchTotals);
        Some(Answer::WatchTotals(WatchTotals {
            connections: 1,
            paths: 2,
            total: 3,
        }))
    })
    .await;
    assert_eq!(
        text.as_deref(),
        Some("1 connections watching 2 paths\nTotal watches:3\n")
    );
    let gone = reply(FourLetterWord::Srvr, peer(1), &conf, |_| async { None }).await;
    assert_eq!(gone, None);
}
