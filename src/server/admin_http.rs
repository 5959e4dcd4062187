//! The AdminServer: HTTP on `admin.serverAddress:admin.serverPort` (Java's
//! `JettyAdminServer`), serving `GET <admin.commandURL>/<command>` as JSON, the command
//! links at `<admin.commandURL>` itself.
//!
//! Owns: the admin listener, one bounded task per HTTP connection (one request, then
//! `Connection: close`), reading and answering the request, and gathering what a
//! command prints (core queries through the core's queue, host facts on the blocking
//! pool). Must never: hold a request longer than `admin.idleTimeout`, buffer more than
//! `MAX_HEAD` bytes of a request, or build JSON itself (`admin::commands` does).

use super::core::Input;
use super::http::{Head, Reply};
use super::settings::Settings;
use super::shared::Shared;
use crate::admin::ServingMode;
use crate::admin::commands::{self, Command, Inputs, QuorumFacts};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Where and how the AdminServer listens (from `admin.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminHttp {
    pub addr: SocketAddr,
    pub command_url: String,
    pub idle_timeout: Duration,
}

/// Why the AdminServer did not start (Java: "Unable to start AdminServer"; a standalone
/// server exits with code 4, an ensemble member goes on without it).
#[derive(Debug, thiserror::Error)]
#[error("Unable to start AdminServer on {addr}: {source}")]
pub struct AdminStartError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Bind the admin port, if the AdminServer is enabled.
pub async fn bind(settings: &Settings) -> Result<Option<TcpListener>, AdminStartError> {
    let Some(a) = &settings.admin_http else {
        return Ok(None);
    };
    match TcpListener::bind(a.addr).await {
        Ok(l) => {
            tracing::info!(
                "Started AdminServer on address {}, port {} and command URL {}",
                a.addr.ip(),
                a.addr.port(),
                a.command_url
            );
            Ok(Some(l))
        }
        Err(source) => Err(AdminStartError {
            addr: a.addr,
            source,
        }),
    }
}

/// Serve the admin port until shutdown.
pub fn spawn(
    listener: TcpListener,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    core: mpsc::Sender<Input>,
    quorum: Option<QuorumFacts>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let Some(a) = settings.admin_http.clone() else {
        return;
    };
    let idle = a.idle_timeout;
    let handler = Arc::new(Admin {
        a,
        settings,
        shared,
        core,
        quorum,
    });
    super::http::spawn(listener, "AdminServer", idle, handler, shutdown);
}

struct Admin {
    a: AdminHttp,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    core: mpsc::Sender<Input>,
    quorum: Option<QuorumFacts>,
}

impl super::http::Handler for Admin {
    fn handle<'a>(&'a self, h: &'a Head) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>> {
        Box::pin(route(
            h,
            &self.a,
            &self.settings,
            &self.shared,
            &self.core,
            self.quorum.as_ref(),
        ))
    }
}

async fn route(
    h: &Head,
    a: &AdminHttp,
    settings: &Settings,
    shared: &Shared,
    core: &mpsc::Sender<Input>,
    quorum: Option<&QuorumFacts>,
) -> Reply {
    let Some(rest) = h.path.strip_prefix(a.command_url.as_str()) else {
        return Reply::text(404, "not found\n");
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Reply::text(404, "not found\n");
    }
    if !matches!(h.method.as_str(), "GET" | "HEAD" | "POST") {
        return Reply::text(405, "method not allowed\n");
    }
    let name = rest.strip_prefix('/').unwrap_or(rest);
    if name.is_empty() {
        return Reply {
            status: 200,
            content_type: "text/html;charset=utf-8",
            body: commands::links_page(&a.command_url),
        };
    }
    let Some(command) = commands::lookup(name) else {
        return Reply::json(200, commands::unknown(name));
    };
    let primary = command.primary();
    // Java's POST commands (restore) take a body; every other command is a GET.
    if h.method == "POST" && primary != "restore" {
        return Reply::text(405, "method not allowed\n");
    }
    let serving = shared.serving_mode() != ServingMode::NotServing;
    if command.server_required && !serving {
        return Reply::json(200, commands::not_serving(primary));
    }
    if matches!(primary, "snapshot" | "restore") && h.authorization.is_none() {
        return Reply::json(
            401,
            crate::admin::json::command_response(
                primary,
                Some("Auth info is missing for the command"),
                vec![],
            ),
        );
    }
    let mut answers = Vec::with_capacity(command.queries.len());
    for q in command.queries {
        match super::conn::ask_core(core, *q).await {
            Some(ans) => answers.push(ans),
            None if command.server_required => {
                return Reply::json(200, commands::not_serving(primary));
            }
            None => {}
        }
    }
    let facts = host_facts(command, settings).await;
    let conf = settings.conf_view();
    let props: Vec<(String, String)> = {
        let mut p = settings.conf_lines.clone();
        p.sort();
        p
    };
    let inputs = Inputs {
        conf: &conf,
        mode: shared.serving_mode(),
        // Java's standalone configuration says 0.
        server_id: quorum.map_or(0, |q| q.my_id),
        initial_config: &settings.initial_config,
        answers: &answers,
        dir_sizes: facts.dir_sizes,
        fds: facts.fds,
        environment: &facts.environment,
        last_snapshot: facts.last_snapshot,
        system_properties: &props,
        quorum,
        params: &h.params,
    };
    Reply::json(200, commands::answer(command, &inputs))
}

#[derive(Default)]
struct HostFacts {
    dir_sizes: (u64, u64),
    fds: (u64, u64),
    environment: Vec<(String, String)>,
    last_snapshot: Option<(i64, i64)>,
}

/// The file-system and /proc reads a command needs, on the blocking pool.
async fn host_facts(command: &Command, settings: &Settings) -> HostFacts {
    let needs = command.needs;
    let conf = settings.conf_view();
    let snap_dir = settings
        .data_dir
        .as_ref()
        .map(|d| crate::storage::version_dir(d));
    tokio::task::spawn_blocking(move || {
        let mut f = HostFacts::default();
        if needs.dir_sizes {
            let s = crate::admin::dir_sizes(&conf);
            f.dir_sizes = (s.data, s.log);
        }
        if needs.fds {
            f.fds = crate::admin::fd_counts();
        }
        if needs.environment {
            f.environment = crate::admin::environment_entries();
        }
        if needs.last_snapshot {
            f.last_snapshot = snap_dir.and_then(|d| {
                let (zxid, path) = crate::storage::list_by_zxid(&d, "snapshot")
                    .ok()?
                    .into_iter()
                    .last()?;
                let secs = std::fs::metadata(path)
                    .ok()?
                    .modified()
                    .ok()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs() as i64;
                Some((zxid, secs))
            });
        }
        f
    })
    .await
    .unwrap_or_default()
}
