//! The Prometheus endpoint: `GET /metrics` on `metricsProvider.httpHost:httpPort` when
//! `metricsProvider.className` is Java's `PrometheusMetricsProvider` (served by the shared
//! HTTP server, `http`), answering as its servlet does (HEAD and POST too, `name[]`
//! filters, TRACE forbidden, other paths 404).
//!
//! Owns: the listener, gathering one scrape (the core's `mntr` view through the core's
//! queue, /proc on the blocking pool) and the summaries' age-bucket ticker. Must never:
//! keep state of its own between scrapes or render metrics itself (`metrics::render`).

use super::core::Input;
use super::http::{Head, Reply};
use crate::admin::{Answer, Query};
use crate::metrics;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The content type simpleclient's `TextFormat.CONTENT_TYPE_004` names.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// A scrape (or a client holding its connection) gets this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a scrape waits for the core's view before serving without the server gauges.
const CORE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how `/metrics` is served (from `metricsProvider.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsHttp {
    pub addr: SocketAddr,
    /// `exportJvmInfo`: serve the `process_*` metrics.
    pub export_process: bool,
}

/// Why `/metrics` did not start (Java: "Cannot boot MetricsProvider"; the server, standalone
/// or an ensemble member, exits).
#[derive(Debug, thiserror::Error)]
#[error("Cannot boot MetricsProvider: cannot start /metrics server on {addr}: {source}")]
pub struct MetricsStartError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Bind the metrics port, if the Prometheus provider is configured.
pub async fn bind(m: Option<&MetricsHttp>) -> Result<Option<TcpListener>, MetricsStartError> {
    let Some(m) = m else {
        return Ok(None);
    };
    match TcpListener::bind(m.addr).await {
        Ok(l) => {
            tracing::info!(
                "Starting /metrics HTTP endpoint at host: {}, port: {}, exportJvmInfo: {}",
                m.addr.ip(),
                m.addr.port(),
                m.export_process
            );
            Ok(Some(l))
        }
        Err(source) => Err(MetricsStartError {
            addr: m.addr,
            source,
        }),
    }
}

/// Serve `/metrics` until shutdown, and rotate the summaries' windows.
pub fn spawn(
    listener: TcpListener,
    m: MetricsHttp,
    shared: Arc<super::shared::Shared>,
    core: mpsc::Sender<Input>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let ticker_shutdown = shutdown.clone();
    super::http::spawn(
        listener,
        "/metrics",
        IDLE_TIMEOUT,
        super::http::Security::Plain,
        Arc::new(Endpoint { m, shared, core }),
        ticker_shutdown,
    );
    tokio::spawn(async move {
        let period = Duration::from_secs(metrics::AGE_SECONDS);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => metrics::rotate_all(),
            }
        }
    });
}

struct Endpoint {
    m: MetricsHttp,
    shared: Arc<super::shared::Shared>,
    core: mpsc::Sender<Input>,
}

impl super::http::Handler for Endpoint {
    fn handle<'a>(
        &'a self,
        h: &'a Head,
        _body: &'a mut super::http::RequestBody<'_>,
    ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>> {
        Box::pin(self.route(h))
    }
}

impl Endpoint {
    async fn route(&self, h: &Head) -> Reply {
        if h.path != "/metrics" {
            return Reply::text(404, "not found\n");
        }
        match h.method.as_str() {
            "GET" | "HEAD" | "POST" => {}
            // Jetty's answer to OPTIONS: the allowed methods, no body.
            "OPTIONS" => return Reply::text(200, ""),
            // PrometheusMetricsProvider's security constraint on TRACE.
            "TRACE" => return Reply::text(403, "forbidden\n"),
            _ => return Reply::text(405, "method not allowed\n"),
        }
        let names: Vec<String> = h
            .params
            .iter()
            .filter(|(k, _)| k == "name[]")
            .map(|(_, v)| v.clone())
            .collect();
        let view = self.monitor().await;
        let export = self.m.export_process;
        let (fds, process) = tokio::task::spawn_blocking(move || {
            let p = metrics::process::read();
            ((p.open_fds, p.max_fds), export.then_some(p))
        })
        .await
        .unwrap_or_default();
        let body = metrics::render::render(&metrics::render::Scrape {
            server: view.as_ref(),
            fds,
            process: process.as_ref(),
            names: &names,
        });
        Reply::new(200, CONTENT_TYPE, body)
    }

    /// The core's mntr view; None while no server runs (an ensemble member between
    /// roles), as Java unregisters the server's gauges then.
    async fn monitor(&self) -> Option<crate::admin::MonitorView> {
        if self.shared.serving_mode() == crate::admin::ServingMode::NotServing {
            return None;
        }
        let ask = super::conn::ask_core(&self.core, Query::Monitor);
        match tokio::time::timeout(CORE_TIMEOUT, ask).await {
            Ok(Some(Answer::Monitor(m))) => Some(m),
            _ => None,
        }
    }
}
