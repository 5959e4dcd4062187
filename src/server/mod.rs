//! The tokio shell: the client listener, connection tasks, the core task, shutdown.
//!
//! Owns: sockets, tasks, timers and their wiring. Must never: contain protocol or tree
//! logic that a lower layer could own.

pub mod admin_data;
pub mod admin_http;
pub mod clock;
pub mod conn;
pub mod core;
pub mod core_loop;
pub mod digest_mismatch;
pub mod election;
pub mod http;
pub mod large_requests;
pub mod local_read;
pub mod metrics_http;
pub mod outbox;
pub mod peer_stream;
pub mod persister;
pub mod quorum;
pub mod quorum_sasl;
pub mod settings;
pub mod shared;
pub mod snapshotter;
pub mod startup;
pub mod transport;

use crate::server::core::{CORE_QUEUE, Core, Input};
use crate::server::shared::Shared;
use parking_lot::Mutex;
use persister::Persister;
use settings::Settings;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Exit status when the core fails (a panic where panics unwind).
pub const EXIT_CORE_FAILED: i32 = 70;

/// A running server (for tests and `main`).
pub struct ServerHandle {
    pub local_addr: std::net::SocketAddr,
    pub(crate) shutdown: tokio::sync::watch::Sender<bool>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// Stop accepting, close every connection, stop the core.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Bind the client port and start serving.
pub async fn start(settings: Settings) -> std::io::Result<ServerHandle> {
    let settings = Arc::new(settings);
    // Java starts its metrics provider first, and exits when it cannot.
    let metrics = metrics_http::bind(settings.metrics_http.as_ref())
        .await
        .map_err(std::io::Error::other)?;
    let mut listeners = bind_client_ports(&settings).await?;
    let local_addr = listeners[0].0.local_addr()?;
    // Java's standalone server exits when its AdminServer cannot start.
    let admin = admin_http::bind(&settings)
        .await
        .map_err(std::io::Error::other)?;
    let (core_tx, core_rx) = mpsc::channel::<Input>(CORE_QUEUE);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let (tree, recovered) = startup::recover(&settings)?;
    let log = startup::open_log(&settings)?;
    let (persister, durable_rx) = Persister::start(
        log,
        Duration::from_millis(settings.fsync_warn_ms),
        Duration::from_millis(settings.fault_fsync_delay_ms),
    )?;
    let shared = Arc::new(
        Shared::new(tree, recovered.last_zxid, settings.global_outstanding_limit)
            .with_large_requests(settings.large_requests),
    );
    let core = Core::new(
        settings.clone(),
        shared.clone(),
        recovered,
        core_loop::now(),
        persister.slow_fsyncs.clone(),
    );
    let core_task = tokio::spawn(core_loop::run(
        core,
        settings.clone(),
        persister,
        core_rx,
        durable_rx,
        shutdown_rx.clone(),
    ));
    if settings.purge_interval_ms > 0 {
        tokio::spawn(autopurge(settings.clone(), shutdown_rx.clone()));
    }
    if let (Some(l), Some(m)) = (metrics, settings.metrics_http.clone()) {
        metrics_http::spawn(l, m, shared.clone(), core_tx.clone(), shutdown_rx.clone());
    }
    if let Some(l) = admin {
        admin_http::spawn(
            l,
            settings.clone(),
            shared.clone(),
            core_tx.clone(),
            None,
            shutdown_rx.clone(),
        );
    }
    let (listener, mode) = listeners.remove(0);
    spawn_extra_accept_loops(listeners, &settings, &shared, &core_tx, &shutdown_rx);
    let task = tokio::spawn(accept_loop(
        listener,
        mode,
        settings,
        shared,
        core_tx,
        shutdown_rx,
        Some(core_task),
    ));
    Ok(ServerHandle {
        local_addr,
        shutdown: shutdown_tx,
        task,
    })
}

/// Bind the client ports: the plain `clientPort` first (TLS-or-plain with
/// `client.portUnification`), then `secureClientPort`. At least one is returned.
pub(crate) async fn bind_client_ports(
    settings: &Settings,
) -> std::io::Result<Vec<(TcpListener, transport::PortMode)>> {
    let mut out = Vec::new();
    if settings.serve_plain_port {
        let mode = match (&settings.tls, settings.port_unification) {
            (Some(t), true) => transport::PortMode::Unified(t.clone()),
            _ => transport::PortMode::Plain,
        };
        out.push((TcpListener::bind(settings.client_addr).await?, mode));
    }
    if let (Some(addr), Some(t)) = (settings.secure_client_addr, &settings.tls) {
        out.push((
            TcpListener::bind(addr).await?,
            transport::PortMode::Tls(t.clone()),
        ));
        if t.options.cert_reload {
            tokio::spawn(reload_certs(t.clone()));
        }
    }
    if out.is_empty() {
        return Err(std::io::Error::other("no client port to serve"));
    }
    Ok(out)
}

/// `zookeeper.client.certReload`: pick up changed key/trust store files.
async fn reload_certs(tls: Arc<crate::tls::TlsServer>) {
    let mut every = tokio::time::interval(crate::tls::RELOAD_POLL);
    loop {
        every.tick().await;
        tls.reload_if_changed();
    }
}

/// Accept loops for the client ports after the first (which the caller runs itself, with
/// the core's task to watch).
pub(crate) fn spawn_extra_accept_loops(
    listeners: Vec<(TcpListener, transport::PortMode)>,
    settings: &Arc<Settings>,
    shared: &Arc<Shared>,
    core_tx: &mpsc::Sender<Input>,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) {
    for (listener, mode) in listeners {
        tokio::spawn(accept_loop(
            listener,
            mode,
            settings.clone(),
            shared.clone(),
            core_tx.clone(),
            shutdown.clone(),
            None,
        ));
    }
}

/// The core's task, or never (an accept loop that does not watch the core).
async fn core_ended(
    t: &mut Option<tokio::task::JoinHandle<()>>,
) -> Result<(), tokio::task::JoinError> {
    match t {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}

/// Accept clients on one port until shutdown. Each port keeps its own connection counts
/// (Java runs a connection factory per port). The loop given the core's task ends the
/// process if the core fails.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    mode: transport::PortMode,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    core_tx: mpsc::Sender<Input>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut core_task: Option<tokio::task::JoinHandle<()>>,
) {
    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::new(Mutex::new(HashMap::new()));
    let mut next_id: u64 = 1;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            a = listener.accept() => a,
            r = core_ended(&mut core_task), if !*shutdown.borrow() => {
                // The core never ends while the server runs: if it panicked, serving on
                // without it would accept clients and answer none, so stop the process
                // for a supervisor to restart it. (Release builds abort at the panic
                // itself; this is the unwinding builds' path.) Cancelled = the runtime
                // is going away.
                if let Err(e) = r
                    && e.is_panic()
                {
                    tracing::error!("fatal: the core panicked; stopping the server");
                    std::process::exit(EXIT_CORE_FAILED);
                }
                return;
            }
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let ip = peer.ip();
        {
            let mut m = per_ip.lock();
            // Java's doAccept: the total first (`maxCnxns`), then the per-address limit.
            let total: usize = m.values().sum();
            if settings.max_cnxns > 0 && total >= settings.max_cnxns {
                crate::metrics::CONNECTION_REJECTED.inc();
                tracing::error!(
                    "Too many connections {total} - max is {}",
                    settings.max_cnxns
                );
                continue;
            }
            let n = m.entry(ip).or_insert(0);
            if settings.max_client_cnxns > 0 && *n >= settings.max_client_cnxns {
                crate::metrics::CONNECTION_REJECTED.inc();
                tracing::warn!(
                    "too many connections from {ip} - max is {}",
                    settings.max_client_cnxns
                );
                continue; // dropping the stream closes it
            }
            *n += 1;
        }
        // Java's Netty factory counts a connection without TLS once it passed the limits
        // (a port-unification connection too: it is not TLS yet when counted).
        if settings.netty_cnxn_factory && !matches!(mode, transport::PortMode::Tls(_)) {
            if ip.to_canonical().is_loopback() {
                crate::metrics::NON_MTLS_LOCAL_CONN_COUNT.inc();
            } else {
                crate::metrics::NON_MTLS_REMOTE_CONN_COUNT.inc();
            }
        }
        let id = next_id;
        next_id += 1;
        let settings = settings.clone();
        let core_tx = core_tx.clone();
        let per_ip = per_ip.clone();
        let shared = shared.clone();
        let mode = mode.clone();
        tokio::spawn(async move {
            conn::serve(id, stream, peer, mode, settings, shared, core_tx).await;
            let mut m = per_ip.lock();
            if let Some(n) = m.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&ip);
                }
            }
        });
    }
    drop(core_tx);
    if let Some(t) = core_task
        && let Err(e) = t.await
        && e.is_panic()
    {
        tracing::error!("fatal: the core failed while stopping: {e}");
        std::process::exit(EXIT_CORE_FAILED);
    }
}

/// autopurge.purgeInterval: every interval, keep the newest autopurge.snapRetainCount
/// snapshots and the logs they need (DatadirCleanupManager).
async fn autopurge(settings: Arc<Settings>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let (Some(data), Some(logs)) = (settings.data_dir.clone(), settings.data_log_dir.clone())
    else {
        return;
    };
    let mut every = tokio::time::interval(Duration::from_millis(settings.purge_interval_ms));
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.changed() => return,
        }
        let (d, l, n) = (data.clone(), logs.clone(), settings.purge_retain);
        match tokio::task::spawn_blocking(move || crate::storage::purge::purge(&d, &l, n)).await {
            Ok(Ok(p)) => tracing::info!(
                "autopurge removed {} snapshots and {} logs",
                p.snapshots.len(),
                p.logs.len()
            ),
            Ok(Err(e)) => tracing::warn!("autopurge failed: {e}"),
            Err(e) => tracing::warn!("autopurge task failed: {e}"),
        }
    }
}
