//! The AdminServer: HTTP on `admin.serverAddress:admin.serverPort` (Java's
//! `JettyAdminServer`), serving `GET <admin.commandURL>/<command>` as JSON, the command
//! links at `<admin.commandURL>` itself. HTTPS instead with `admin.forceHttps`, HTTP and
//! HTTPS on the one port with `admin.portUnification`, a client certificate required with
//! `admin.needClientAuth`; the key and trust stores are the quorum's (`ssl.quorum.*`).
//!
//! Owns: the admin listener, the admin port's TLS settings (`security`, read once at
//! start), one bounded task per HTTP connection (one request, then `Connection: close`),
//! reading and answering the request, and gathering what a command prints (core queries
//! through the core's queue, host facts on the blocking pool). Must never: hold a
//! connection longer than `admin.idleTimeout`, buffer more than `MAX_HEAD` bytes of a
//! request, answer a command on an HTTPS-only port before the TLS handshake, or build
//! JSON itself (`admin::commands` does).

use super::admin_data::{self, Limits};
use super::core::Input;
use super::http::{Head, Reply, RequestBody, Security};
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
#[derive(Debug, Clone)]
pub struct AdminHttp {
    pub addr: SocketAddr,
    pub command_url: String,
    pub idle_timeout: Duration,
    /// HTTP, HTTPS, or both (`security`).
    pub security: Security,
    /// `zookeeper.admin.snapshot.enabled` / `zookeeper.admin.restore.enabled` (true).
    pub snapshot_enabled: bool,
    pub restore_enabled: bool,
    /// The x509 auth provider for the snapshot and restore commands (the `x509` scheme
    /// registered and a client trust store configured).
    pub x509: Option<Arc<crate::tls::X509Provider>>,
    /// `zookeeper.admin.rateLimiterIntervalInMS` (300000): restore is allowed once per
    /// this many ms, snapshot once per this many µs (3.9.5's SnapshotCommand builds its
    /// limiter with MICROSECONDS: 300 ms by default, not the 5 minutes documented).
    pub rate_limit_interval_ms: i64,
}

/// Jetty's `SecureRequestCustomizer` as JettyAdminServer sets it (STS max age one day,
/// subdomains included): every answer over HTTPS carries this header.
const STS: (&str, &str) = (
    "Strict-Transport-Security",
    "max-age=86400; includeSubDomains",
);

/// The admin port's security, as JettyAdminServer builds its connector:
/// `admin.forceHttps` = HTTPS only (it wins when `admin.portUnification` is set too),
/// `admin.portUnification` = HTTP and HTTPS by the first byte, neither = HTTP. The
/// key store and the trust store both come from `ssl.quorum.*` and both must load (Java
/// loads the trust store even without `admin.needClientAuth`). Any error here stops the
/// server's start (Java instead logs "Unable to start JettyAdminServer" and runs without
/// an AdminServer).
pub fn security(c: &crate::config::Config) -> Result<Security, String> {
    use crate::tls::{ClientAuth, TlsOptions, TlsServer, keystore};
    let Some(options) = TlsOptions::for_admin(c)? else {
        return Ok(Security::Plain);
    };
    let force = c
        .system_property("admin.forceHttps")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let keys = if force {
        "admin.forceHttps"
    } else {
        "admin.portUnification"
    };
    let fail = |e: String| format!("AdminServer HTTPS ({keys}): {e}");
    if options.key_store.is_none() {
        return Err(fail("ssl.quorum.keyStore.location is not set".into()));
    }
    let Some(trust_store) = &options.trust_store else {
        return Err(fail("ssl.quorum.trustStore.location is not set".into()));
    };
    if options.client_auth == ClientAuth::None {
        // Not needed to verify anyone, but Java refuses a store it cannot load.
        keystore::load_trust_store(trust_store).map_err(fail)?;
    }
    let config = TlsServer::new(options).map_err(fail)?.config();
    Ok(if force {
        Security::Https(config)
    } else {
        Security::Unified(config)
    })
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
    let security = a.security.clone();
    let started = std::time::Instant::now();
    let limits = parking_lot::Mutex::new(Limits::new(a.rate_limit_interval_ms, 0));
    let handler = Arc::new(Admin {
        a,
        settings,
        shared,
        core,
        quorum,
        limits,
        started,
    });
    super::http::spawn(listener, "AdminServer", idle, security, handler, shutdown);
}

struct Admin {
    a: AdminHttp,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    core: mpsc::Sender<Input>,
    quorum: Option<QuorumFacts>,
    /// The snapshot and restore commands' rate limiters (their clock: ms since `started`).
    limits: parking_lot::Mutex<Limits>,
    started: std::time::Instant,
}

impl super::http::Handler for Admin {
    fn handle<'a>(
        &'a self,
        h: &'a Head,
        body: &'a mut RequestBody<'_>,
    ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>> {
        Box::pin(async move {
            let mut reply = self.route(h, body).await;
            if h.secure {
                reply.headers.push((STS.0, STS.1.to_owned()));
            }
            reply
        })
    }
}

impl Admin {
    async fn route(&self, h: &Head, body: &mut RequestBody<'_>) -> Reply {
        let (a, settings, shared) = (&self.a, &*self.settings, &*self.shared);
        let quorum = self.quorum.as_ref();
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
            return Reply::new(
                200,
                "text/html;charset=utf-8",
                commands::links_page(&a.command_url),
            );
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
        if matches!(primary, "snapshot" | "restore") {
            return self.database_command(primary, h, body).await;
        }
        let mut answers = Vec::with_capacity(command.queries.len());
        for q in command.queries {
            match super::conn::ask_core(&self.core, *q).await {
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

    /// `snapshot` and `restore` (`admin_data`): Java's AuthRequest, then the command.
    async fn database_command(
        &self,
        primary: &'static str,
        h: &Head,
        body: &mut RequestBody<'_>,
    ) -> Reply {
        if let Some(refused) = admin_data::check_auth(primary, h, &self.settings, &self.shared) {
            return refused;
        }
        let now_ms = self.started.elapsed().as_millis() as i64;
        match (primary, h.method.as_str()) {
            ("snapshot", "GET" | "HEAD") => {
                admin_data::snapshot(h, &self.settings, &self.limits, &self.core, now_ms).await
            }
            ("restore", "POST") => {
                let standalone = self.quorum.is_none();
                let (s, l, c) = (&self.settings, &self.limits, &self.core);
                admin_data::restore(body, s, l, c, standalone, now_ms).await
            }
            _ => Reply::text(405, "method not allowed\n"),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn cfg(extra: &str) -> Config {
        Config::parse_str(&format!("dataDir=/d\nclientPort=2181\n{extra}")).expect("parses")
    }

    #[test]
    fn https_keys_choose_the_port_security() {
        assert!(matches!(security(&cfg("")), Ok(Security::Plain)));
        assert!(matches!(
            security(&cfg("admin.forceHttps=false\nadmin.needClientAuth=true")),
            Ok(Security::Plain)
        ));
        // Both stores are required; forceHttps wins over portUnification.
        let e = security(&cfg("admin.forceHttps=true\nadmin.portUnification=true\n\
             ssl.quorum.trustStore.location=/nowhere/t.jks"))
        .unwrap_err();
        assert_eq!(
            e,
            "AdminServer HTTPS (admin.forceHttps): ssl.quorum.keyStore.location is not set"
        );
        let e = security(&cfg(
            "admin.portUnification=TRUE\nssl.quorum.keyStore.location=/nowhere/k.jks",
        ))
        .unwrap_err();
        assert_eq!(
            e,
            "AdminServer HTTPS (admin.portUnification): ssl.quorum.trustStore.location is not set"
        );
        // The client port's ssl.* stores are not the AdminServer's.
        let e = security(&cfg(
            "admin.forceHttps=true\nssl.keyStore.location=/k.jks\nssl.trustStore.location=/t.jks",
        ))
        .unwrap_err();
        assert!(e.contains("ssl.quorum.keyStore.location"), "{e}");
        // ssl.quorum.clientAuth is not the AdminServer's: a bad one does not stop it.
        let e = security(&cfg("admin.forceHttps=true\nssl.quorum.clientAuth=bogus")).unwrap_err();
        assert!(e.contains("ssl.quorum.keyStore.location"), "{e}");
        // Without needClientAuth the trust store is still loaded.
        let e = security(&cfg(
            "admin.forceHttps=true\nssl.quorum.keyStore.location=/nowhere/k.jks\n\
             ssl.quorum.trustStore.location=/nowhere/t.jks",
        ))
        .unwrap_err();
        assert!(e.contains("/nowhere/t.jks"), "{e}");
    }
}
