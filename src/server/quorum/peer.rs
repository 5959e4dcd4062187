//! Starting a quorum member and its role loop (Java's `QuorumPeer.run`): LOOKING →
//! LEADING / FOLLOWING / OBSERVING → LOOKING ..., with the election always running
//! beside it to answer peers.

use super::{PeerState, QuorumSettings, follow, lead, looking};
use crate::server::core::{CORE_QUEUE, Input};
use crate::server::election::{Election, ElectionConfig};
use crate::server::settings::Settings;
use crate::server::shared::Shared;
use crate::server::{ServerHandle, accept_loop, startup};
use crate::storage;
use crate::zab::election::wire::PeerState as Vote;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Recover, bind the client port, start the election, and run the member.
pub async fn start(
    settings: Settings,
    cfg: &crate::config::Config,
) -> std::io::Result<ServerHandle> {
    let quorum = QuorumSettings::from_config(cfg).map_err(std::io::Error::other)?;
    let mut election_cfg = ElectionConfig::from_config(cfg)
        .ok_or_else(|| std::io::Error::other("a quorum member needs <dataDir>/myid"))?;
    election_cfg.transport = quorum.transport.clone();
    if let Some(tls) = quorum.transport.tls().filter(|t| t.options.reload) {
        tokio::spawn(reload_quorum_certs(tls.clone()));
    }
    let settings = Arc::new(settings);
    let quorum = Arc::new(quorum);
    let (tree, recovered) = startup::recover(&settings)?;
    let last_zxid = recovered.last_zxid;
    let epochs = match settings.data_dir.as_ref() {
        Some(d) => storage::epoch::load_epochs(&storage::version_dir(d), last_zxid)?,
        None => storage::epoch::Epochs {
            accepted: 0,
            current: 0,
        },
    };
    // Java's QuorumPeerMain starts its metrics provider first, and exits when it cannot.
    let metrics = crate::server::metrics_http::bind(settings.metrics_http.as_ref())
        .await
        .map_err(std::io::Error::other)?;
    let election = Election::start(election_cfg).await?;
    let mut listeners = crate::server::bind_client_ports(&settings).await?;
    let local_addr = listeners[0].0.local_addr()?;
    let (core_tx, core_rx) = mpsc::channel::<Input>(CORE_QUEUE);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let shared = Arc::new(
        Shared::new(tree, last_zxid, settings.global_outstanding_limit)
            .with_large_requests(settings.large_requests),
    );
    let mut st = PeerState {
        quorum,
        settings: settings.clone(),
        shared: shared.clone(),
        sessions: recovered.sessions,
        last_zxid,
        accepted_epoch: epochs.accepted,
        current_epoch: epochs.current,
        clients: core_rx,
        committed: crate::zab::committed::CommittedLog::new(1),
    };
    st.reload_committed();
    st.set_config_node(crate::server::clock::wall_ms());
    // An ensemble member goes on without its AdminServer (Java: "Problem starting
    // AdminServer").
    match crate::server::admin_http::bind(&settings).await {
        Ok(Some(l)) => crate::server::admin_http::spawn(
            l,
            settings.clone(),
            shared.clone(),
            core_tx.clone(),
            Some(admin_quorum_facts(&st.quorum, settings.client_addr)),
            shutdown_rx.clone(),
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!("Problem starting AdminServer: {e}"),
    }
    if let (Some(l), Some(m)) = (metrics, settings.metrics_http.clone()) {
        crate::server::metrics_http::spawn(
            l,
            m,
            shared.clone(),
            core_tx.clone(),
            shutdown_rx.clone(),
        );
    }
    let peer_task = tokio::spawn(run(st, election, shutdown_rx.clone()));
    let (listener, mode) = listeners.remove(0);
    crate::server::spawn_extra_accept_loops(listeners, &settings, &shared, &core_tx, &shutdown_rx);
    let task = tokio::spawn(accept_loop(
        listener,
        mode,
        settings,
        shared,
        core_tx,
        shutdown_rx,
        Some(peer_task),
    ));
    Ok(ServerHandle {
        local_addr,
        shutdown: shutdown_tx,
        task,
    })
}

/// `sslQuorumReloadCertFiles`: pick up changed ssl.quorum key/trust store files (new
/// connections use them; live ones keep theirs, as Java).
async fn reload_quorum_certs(tls: Arc<crate::tls::quorum::QuorumTls>) {
    let mut every = tokio::time::interval(crate::tls::RELOAD_POLL);
    loop {
        every.tick().await;
        tls.reload_if_changed();
    }
}

async fn run(
    mut st: PeerState,
    election: Election,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        tracing::info!(
            "LOOKING (last zxid 0x{:x}, epoch {})",
            st.last_logged_zxid(),
            st.current_epoch
        );
        crate::metrics::LOOKING_COUNT.inc();
        let looking_since = std::time::Instant::now();
        let decided = looking::look(&mut st, &election, &mut shutdown).await;
        let Some(d) = decided else {
            break;
        };
        crate::metrics::ELECTION_TIME.observe(looking_since.elapsed().as_millis() as i64);
        let reason = match d.state {
            Vote::Leading => {
                lead::lead(
                    &mut st,
                    &|e| election.set_current_epoch(e),
                    shutdown.clone(),
                )
                .await
            }
            Vote::Following | Vote::Observing => {
                let Some(addr) = st
                    .quorum
                    .server(d.vote.id)
                    .and_then(|s| s.addrs.first())
                    .map(|a| a.quorum().to_string())
                else {
                    tracing::warn!("elected leader {} is not in the configuration", d.vote.id);
                    continue;
                };
                let leader = follow::LeaderAddr {
                    sid: d.vote.id,
                    addr,
                };
                let observer = st.quorum.observer;
                follow::follow(
                    &mut st,
                    &leader,
                    observer,
                    &|e| election.set_current_epoch(e),
                    shutdown.clone(),
                )
                .await
            }
            Vote::Looking => continue,
        };
        tracing::info!("role ended: {reason}");
    }
    election.shutdown().await;
}

/// What the AdminServer's `leader`, `voting_view` and `zabstate` print about the
/// ensemble's configuration.
fn admin_quorum_facts(
    q: &super::QuorumSettings,
    client: std::net::SocketAddr,
) -> crate::admin::commands::QuorumFacts {
    crate::admin::commands::QuorumFacts {
        my_id: q.my_sid,
        my_client: client.to_string(),
        servers: q
            .servers
            .iter()
            .map(|s| {
                let first = s.addrs.first();
                let hp = |h: &str, p: u16| {
                    if h.contains(':') {
                        format!("[{h}]:{p}")
                    } else {
                        format!("{h}:{p}")
                    }
                };
                (
                    s.id,
                    first.map_or(String::new(), |a| hp(&a.host, a.quorum_port)),
                    first.map_or(String::new(), |a| hp(&a.host, a.election_port)),
                    s.client_addr
                        .as_ref()
                        .map_or(String::new(), |c| hp(&c.host, c.port)),
                    s.peer_type == crate::config::PeerType::Participant,
                )
            })
            .collect(),
    }
}
