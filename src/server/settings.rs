//! The resolved, typed settings the server runs with (derived from `config::Config`).
//!
//! Owns: the values the running server reads on every request, resolved once at startup.
//! Must never: parse files (that is `config`).

use crate::txn::prep::PrepConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The plain client port's address (the secure one's when only `secureClientPort` is
    /// set: then `serve_plain_port` is false).
    pub client_addr: SocketAddr,
    /// Whether `client_addr` is served as the plain (or port-unified) client port.
    pub serve_plain_port: bool,
    /// `secureClientPort` / `secureClientPortAddress`: TLS only.
    pub secure_client_addr: Option<SocketAddr>,
    /// `client.portUnification`: the plain port also takes TLS clients.
    pub port_unification: bool,
    /// `zookeeper.connection_throttle_*` (Java's BlueThrottle; off by default).
    pub conn_throttle: crate::session::conn_throttle::ConnThrottleConfig,
    /// TLS from the `ssl.*` keys, when a secure port or port unification needs it.
    pub tls: Option<std::sync::Arc<crate::tls::TlsServer>>,
    pub server_id: i64,
    pub tick_ms: i32,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    /// jute.maxbuffer: largest accepted frame.
    pub max_buffer: usize,
    /// zookeeper.jute.maxbuffer.extrasize: with `max_buffer`, the field-length cap when
    /// reading snapshots and txn logs (see [`Settings::jute_limits`]).
    pub jute_extra_size: usize,
    /// Most connections per client IP (0 = unlimited).
    pub max_client_cnxns: usize,
    /// `maxCnxns`: client connections in all (0 = unlimited).
    pub max_cnxns: usize,
    pub super_digest: Option<String>,
    /// SASL DIGEST-MD5 users when a JAAS `Server` section configures SASL (set by the
    /// binary from `config::jaas::server_sasl`); None = the `sasl` opcode answers a null
    /// token, as Java without a SASL login.
    pub sasl: Option<std::sync::Arc<crate::auth::sasl_digest::DigestUsers>>,
    /// `zookeeper.superUser` / `zookeeper.superUser.*`: SASL ids that also get ("super","").
    pub sasl_super_users: Vec<String>,
    /// AuthenticationHelper: `enforce.auth.enabled` + `enforce.auth.schemes`, or
    /// `sessionRequireClientSASLAuth=true` (= enforcing `sasl`). `Some(schemes)`: every
    /// request but auth/sasl from a connection with no id of these schemes is refused
    /// with SESSIONCLOSEDREQUIRESASLAUTH and the connection closed.
    pub enforce_auth_schemes: Option<std::sync::Arc<Vec<String>>>,
    /// `zookeeper.allowSaslFailedClients=true` (ignored when SASL is required): a failed
    /// SASL exchange answers OK with a null token and keeps the connection.
    pub allow_sasl_failed_clients: bool,
    pub container_check_interval_ms: u64,
    pub container_max_per_minute: usize,
    /// Enabled four-letter words by name (`config::fourlw::build_whitelist`).
    pub four_letter_whitelist: std::collections::BTreeSet<String>,
    pub prep: PrepConfig,
    /// Everything from zoo.cfg / -D flags, for `conf` and `envi`.
    pub conf_lines: Vec<(String, String)>,
    /// None = in-memory (tests only): nothing is written, nothing recovered.
    pub data_dir: Option<PathBuf>,
    pub data_log_dir: Option<PathBuf>,
    /// zookeeper.preAllocSize in bytes.
    pub prealloc_bytes: u64,
    /// zookeeper.forceSync (fsync before acknowledging).
    pub force_sync: bool,
    /// fsync.warningthresholdms
    pub fsync_warn_ms: u64,
    /// zookeeper.snapCount
    pub snap_count: u64,
    /// autopurge.snapRetainCount (min 3)
    pub purge_retain: usize,
    /// autopurge.purgeInterval in ms (0 = off)
    pub purge_interval_ms: u64,
    /// globalOutstandingLimit: requests in process before connections stop reading.
    pub global_outstanding_limit: usize,
    /// `zookeeper.largeRequestThreshold` / `largeRequestMaxBytes`.
    pub large_requests: super::large_requests::Limit,
    /// `serverCnxnFactory` names Java's NettyServerCnxnFactory: only then does Java count
    /// non-TLS connections (`non_mtls_*_conn_count`).
    pub netty_cnxn_factory: bool,
    /// Test-only fault injection (`-D ferrokeeper.faultInjection.panicOnCreate=PATH`): the
    /// core panics on a create of PATH, for the tests that a fatal fault ends the process.
    pub fault_panic_on_create: Option<String>,
    /// Test-only fault injection (`-D ferrokeeper.faultInjection.fsyncDelayMs=N`): every
    /// log flush takes N ms longer (a slow disk, for the fsync alert tests).
    pub fault_fsync_delay_ms: u64,
    /// `localSessionsEnabled`: an ensemble member's new sessions are its own, never
    /// logged (a standalone server ignores it, as Java's does).
    pub local_sessions: bool,
    /// `localSessionsUpgradingEnabled`: a local session that creates an ephemeral becomes
    /// global first, instead of getting EPHEMERALONLOCALSESSION.
    pub local_sessions_upgrading: bool,
    /// `zookeeper.serializeLastProcessedZxid.enabled` (default true): snapshot files end
    /// with 3.9's last-processed-zxid trailer, and the AdminServer's snapshot and restore
    /// are available.
    pub serialize_last_zxid: bool,
    /// The AdminServer (`admin.enableServer`, default on); None = off.
    pub admin_http: Option<super::admin_http::AdminHttp>,
    /// `/metrics` (`metricsProvider.className` = PrometheusMetricsProvider); None = off.
    pub metrics_http: Option<super::metrics_http::MetricsHttp>,
    /// zoo.cfg's text as read at start (the AdminServer's `initial_configuration`).
    pub initial_config: String,
}

impl Settings {
    pub fn four_letter_allowed(&self, word: &str) -> bool {
        self.four_letter_whitelist.contains(word)
    }

    /// Java's `BinaryInputArchive` limits for this configuration.
    pub fn jute_limits(&self) -> crate::jute::JuteLimits {
        crate::jute::JuteLimits::new(self.max_buffer, self.jute_extra_size)
    }

    /// What the `conf` and `dirs` words print.
    pub fn conf_view(&self) -> crate::admin::ConfView {
        crate::admin::ConfView {
            client_port: self.client_addr.port(),
            data_dir: self.data_dir.clone(),
            data_log_dir: self.data_log_dir.clone(),
            tick_ms: self.tick_ms,
            max_client_cnxns: self.max_client_cnxns,
            min_session_timeout: self.min_session_timeout,
            max_session_timeout: self.max_session_timeout,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            client_addr: SocketAddr::from(([127, 0, 0, 1], 2181)),
            serve_plain_port: true,
            secure_client_addr: None,
            port_unification: false,
            tls: None,
            conn_throttle: Default::default(),
            server_id: 1,
            tick_ms: 2000,
            min_session_timeout: 4000,
            max_session_timeout: 40000,
            max_buffer: 0xfffff,
            jute_extra_size: 0xfffff,
            max_client_cnxns: 60,
            max_cnxns: 0,
            super_digest: None,
            sasl: None,
            sasl_super_users: Vec::new(),
            enforce_auth_schemes: None,
            allow_sasl_failed_clients: false,
            container_check_interval_ms: 60000,
            container_max_per_minute: 10000,
            four_letter_whitelist: crate::config::fourlw::build_whitelist(None, false),
            prep: PrepConfig::default(),
            conf_lines: Vec::new(),
            data_dir: None,
            data_log_dir: None,
            prealloc_bytes: crate::storage::txlog::DEFAULT_PREALLOC,
            force_sync: true,
            fsync_warn_ms: 1000,
            snap_count: 100_000,
            purge_retain: 3,
            purge_interval_ms: 0,
            global_outstanding_limit: 1000,
            large_requests: Default::default(),
            netty_cnxn_factory: false,
            fault_panic_on_create: None,
            fault_fsync_delay_ms: 0,
            local_sessions: false,
            local_sessions_upgrading: false,
            serialize_last_zxid: true,
            admin_http: None,
            metrics_http: None,
            initial_config: String::new(),
        }
    }
}

impl Settings {
    /// Resolve what the running server needs from a parsed zoo.cfg.
    pub fn from_config(c: &crate::config::Config) -> Result<Self, String> {
        let secure_client_addr = match c.secure_client_port {
            Some(port) => Some(resolve(
                c.secure_client_port_address.as_deref().unwrap_or("0.0.0.0"),
                port,
                "secureClientPortAddress",
            )?),
            None => None,
        };
        let (client_addr, serve_plain_port) = match (c.client_listen(), secure_client_addr) {
            (Some((host, port)), _) => (
                resolve(host.unwrap_or("0.0.0.0"), port, "clientPortAddress")?,
                true,
            ),
            (None, Some(secure)) => (secure, false),
            (None, None) => {
                return Err("no clientPort or secureClientPort configured".into());
            }
        };
        let port_unification = serve_plain_port
            && c.system_property("client.portUnification")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let providers = auth_providers(c);
        let tls = match crate::tls::TlsOptions::from_config(c, port_unification, providers.x509)? {
            Some(o) => Some(std::sync::Arc::new(
                crate::tls::TlsServer::new(o).map_err(|e| format!("TLS: {e}"))?,
            )),
            None => None,
        };
        let data_log_dir = if c.data_log_dir.as_os_str().is_empty() {
            &c.data_dir
        } else {
            &c.data_log_dir
        };
        Ok(Settings {
            client_addr,
            serve_plain_port,
            secure_client_addr,
            port_unification,
            tls,
            conn_throttle: crate::session::conn_throttle::ConnThrottleConfig::from_properties(
                |k| c.system_property(k).map(str::to_string),
            ),
            server_id: c.server_id.unwrap_or(1),
            tick_ms: c.tick_time,
            min_session_timeout: c.effective_min_session_timeout(),
            max_session_timeout: c.effective_max_session_timeout(),
            max_buffer: c.jute_max_buffer.max(1024) as usize,
            jute_extra_size: c.jute_max_buffer_extra_size.max(1024) as usize,
            max_client_cnxns: c.max_client_cnxns.max(0) as usize,
            max_cnxns: c.max_cnxns.max(0) as usize,
            super_digest: c.super_digest.clone(),
            sasl: None,
            sasl_super_users: sasl_super_users(c),
            enforce_auth_schemes: enforce_auth_schemes(c, providers)?.map(std::sync::Arc::new),
            allow_sasl_failed_clients: c
                .system_property("zookeeper.allowSaslFailedClients")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            container_check_interval_ms: c.container_check_interval_ms.max(1) as u64,
            container_max_per_minute: c.container_max_per_minute.max(1) as usize,
            four_letter_whitelist: c.four_letter_word_whitelist.clone(),
            prep: PrepConfig {
                extended_types_enabled: c.extended_types_enabled,
                enforce_quota: c.enforce_quota,
                skip_acl: c.skip_acl,
                providers,
                reconfig_enabled: c.reconfig_enabled,
                digest_enabled: c.digest_enabled,
                close_session_txn_enabled: c.close_session_txn_enabled,
            },
            conf_lines: c
                .system_properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            data_dir: Some(c.data_dir.clone()),
            data_log_dir: Some(data_log_dir.clone()),
            prealloc_bytes: c.pre_alloc_size_bytes().max(4096) as u64,
            force_sync: c.force_sync,
            fsync_warn_ms: c.fsync_warning_threshold_ms.max(0) as u64,
            snap_count: c.snap_count.max(2) as u64,
            purge_retain: c.autopurge_snap_retain_count.max(3) as usize,
            purge_interval_ms: c.autopurge_purge_interval_ms.max(0) as u64,
            global_outstanding_limit: outstanding_limit(c),
            netty_cnxn_factory: c
                .system_property("zookeeper.serverCnxnFactory")
                .is_some_and(|v| v.trim().ends_with("NettyServerCnxnFactory")),
            large_requests: super::large_requests::Limit::from_properties(
                c.system_property("zookeeper.largeRequestThreshold"),
                c.system_property("zookeeper.largeRequestMaxBytes"),
            ),
            fault_panic_on_create: c
                .system_properties
                .get("ferrokeeper.faultInjection.panicOnCreate")
                .cloned(),
            fault_fsync_delay_ms: c
                .system_properties
                .get("ferrokeeper.faultInjection.fsyncDelayMs")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            local_sessions: c.local_sessions_enabled,
            local_sessions_upgrading: c.local_sessions_upgrading_enabled,
            serialize_last_zxid: c
                .system_property("zookeeper.serializeLastProcessedZxid.enabled")
                .is_none_or(|v| v.trim().eq_ignore_ascii_case("true")),
            admin_http: admin_http(c, providers)?,
            metrics_http: metrics_http(c)?,
            initial_config: String::new(),
        })
    }
}

/// Requests in process before connections stop reading: `globalOutstandingLimit`, or
/// Java's RequestThrottler limit `request_throttle_max_requests` when that is lower (both
/// hold requests back from the core; ferrokeeper does it by not reading, so requests of a
/// client that left meanwhile are still applied, as with `request_throttle_drop_stale=false`).
fn outstanding_limit(c: &crate::config::Config) -> usize {
    let global = c.global_outstanding_limit.max(1) as usize;
    let throttler = c
        .system_property("request_throttle_max_requests")
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|&n| n > 0)
        .map_or(usize::MAX, |n| n as usize);
    global.min(throttler)
}

/// `host:port` as a socket address (a literal IP, or the first address a name resolves to).
fn resolve(host: &str, port: u16, key: &str) -> Result<SocketAddr, String> {
    let host = host.trim_matches(|ch| ch == '[' || ch == ']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    use std::net::ToSocketAddrs;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {key} {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {key} {host}"))
}

/// ZooKeeperServer.isSaslSuperUser's properties: `zookeeper.superUser` and
/// `zookeeper.superUser.<anything>` (also spelled without `zookeeper.`, as every
/// ferrokeeper `-D` flag may be).
fn sasl_super_users(c: &crate::config::Config) -> Vec<String> {
    c.system_properties
        .iter()
        .filter(|(k, _)| {
            let k = k.strip_prefix("zookeeper.").unwrap_or(k);
            k.strip_prefix("superUser")
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The providers ProviderRegistry has: ip, digest (unless disabled), those named by
/// `zookeeper.authProvider.*` (by their class, as Java loads them), and x509 when a
/// secureClientPort is set (QuorumPeerConfig.configureSSLAuth registers it then).
pub fn auth_providers(c: &crate::config::Config) -> crate::tree::acl::Providers {
    let mut p = crate::tree::acl::Providers {
        digest: c
            .system_property("zookeeper.DigestAuthenticationProvider.enabled")
            .is_none_or(|v| v.trim().eq_ignore_ascii_case("true")),
        sasl: false,
        x509: false,
        // Java reads it under its full name only (System.getProperty).
        sasl_any_user: c
            .system_properties
            .get("zookeeper.letAnySaslUserDoX")
            .map(|v| &*Box::leak(v.clone().into_boxed_str())),
    };
    for (k, v) in &c.system_properties {
        let k = k.strip_prefix("zookeeper.").unwrap_or(k);
        if !k.starts_with("authProvider.") {
            continue;
        }
        match v.trim().rsplit('.').next().unwrap_or("") {
            "SASLAuthenticationProvider" => p.sasl = true,
            "X509AuthenticationProvider" => p.x509 = true,
            "DigestAuthenticationProvider" => p.digest = true,
            _ => {}
        }
    }
    let ssl_scheme = c
        .system_property("zookeeper.ssl.authProvider")
        .unwrap_or("x509");
    if c.secure_client_port.is_some() && ssl_scheme == "x509" {
        p.x509 = true;
    }
    p
}

/// AuthenticationHelper's configuration, validated as Java validates it at startup.
fn enforce_auth_schemes(
    c: &crate::config::Config,
    known: crate::tree::acl::Providers,
) -> Result<Option<Vec<String>>, String> {
    let is_true = |k: &str| {
        c.system_property(k)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    };
    let schemes: Vec<String> = if is_true("zookeeper.sessionRequireClientSASLAuth") {
        vec!["sasl".into()]
    } else if is_true("zookeeper.enforce.auth.enabled") {
        c.system_property("zookeeper.enforce.auth.schemes")
            .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
            .unwrap_or_default()
    } else {
        return Ok(None);
    };
    if schemes.is_empty() {
        return Err(
            "zookeeper.enforce.auth.enabled is true zookeeper.enforce.auth.schemes must be  \
             configured."
                .into(),
        );
    }
    if let Some(s) = schemes.iter().find(|s| !known.has(s)) {
        return Err(format!("Authentication scheme {s} is not available."));
    }
    Ok(Some(schemes))
}

/// `/metrics` from `metricsProvider.*` (PrometheusMetricsProvider's defaults: 0.0.0.0,
/// port 7000, exportJvmInfo true; `Boolean.parseBoolean` for the latter).
fn metrics_http(
    c: &crate::config::Config,
) -> Result<Option<super::metrics_http::MetricsHttp>, String> {
    if c.metrics_provider_class_name != crate::config::PROMETHEUS_METRICS_PROVIDER {
        return Ok(None);
    }
    let get = |k: &str| c.metrics_provider_config.get(k).map(|v| v.trim());
    let port_text = get("httpPort").unwrap_or("7000");
    let port: u16 = port_text
        .parse()
        .map_err(|_| format!("metricsProvider.httpPort {port_text} is not a port"))?;
    let addr = resolve(
        get("httpHost").unwrap_or("0.0.0.0"),
        port,
        "metricsProvider.httpHost",
    )?;
    Ok(Some(super::metrics_http::MetricsHttp {
        addr,
        export_process: get("exportJvmInfo").is_none_or(|v| v.eq_ignore_ascii_case("true")),
    }))
}

/// The AdminServer's listen address and security from `admin.*` (None when disabled).
fn admin_http(
    c: &crate::config::Config,
    providers: crate::tree::acl::Providers,
) -> Result<Option<super::admin_http::AdminHttp>, String> {
    let a = &c.admin;
    if !a.enable_server {
        return Ok(None);
    }
    let port = u16::try_from(a.server_port)
        .map_err(|_| format!("admin.serverPort {} is not a port", a.server_port))?;
    let addr = resolve(&a.server_address, port, "admin.serverAddress")?;
    let url = a.command_url.trim_end_matches('/');
    let flag = |key: &str| {
        c.system_property(key)
            .is_none_or(|v| v.trim().eq_ignore_ascii_case("true"))
    };
    let interval_key = "zookeeper.admin.rateLimiterIntervalInMS";
    let interval = match c.system_property(interval_key) {
        None => 300_000,
        Some(v) => v
            .trim()
            .parse::<i32>()
            .map_err(|_| format!("{interval_key} {v:?} is not a number"))?,
    };
    let x509 = if providers.x509 {
        crate::tls::X509Provider::from_config(c)
            .unwrap_or_else(|e| {
                tracing::warn!("x509 auth for AdminServer commands unavailable: {e}");
                None
            })
            .map(std::sync::Arc::new)
    } else {
        None
    };
    Ok(Some(super::admin_http::AdminHttp {
        x509,
        snapshot_enabled: flag("zookeeper.admin.snapshot.enabled"),
        restore_enabled: flag("zookeeper.admin.restore.enabled"),
        rate_limit_interval_ms: i64::from(interval),
        addr,
        command_url: if url.starts_with('/') {
            url.to_owned()
        } else {
            format!("/{url}")
        },
        idle_timeout: std::time::Duration::from_millis(a.idle_timeout_ms.max(1) as u64),
        security: super::admin_http::security(c)?,
    }))
}

#[cfg(test)]
mod sasl_tests {
    use super::*;
    use crate::config::Config;

    fn cfg(extra: &str) -> Config {
        Config::parse_str(&format!("dataDir=/d\nclientPort=2181\n{extra}")).expect("parses")
    }

    fn enforce(c: &Config) -> Result<Option<Vec<String>>, String> {
        enforce_auth_schemes(c, auth_providers(c))
    }

    #[test]
    fn enforcement_as_authentication_helper_reads_it() {
        assert_eq!(enforce(&cfg("")), Ok(None));
        let sasl = "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n";
        assert_eq!(
            enforce(&cfg(&format!("{sasl}sessionRequireClientSASLAuth=true"))),
            Ok(Some(vec!["sasl".to_string()]))
        );
        assert_eq!(
            enforce(&cfg(&format!(
                "{sasl}enforce.auth.enabled=true\nenforce.auth.schemes=sasl, digest"
            ))),
            Ok(Some(vec!["sasl".to_string(), "digest".to_string()]))
        );
        // No schemes, or a scheme without a provider: Java refuses to start.
        assert!(enforce(&cfg("enforce.auth.enabled=true")).is_err());
        let e = enforce(&cfg("sessionRequireClientSASLAuth=true")).unwrap_err();
        assert_eq!(e, "Authentication scheme sasl is not available.");
        let e = enforce(&cfg(
            "DigestAuthenticationProvider.enabled=false\nenforce.auth.enabled=true\n\
             enforce.auth.schemes=digest",
        ))
        .unwrap_err();
        assert!(e.contains("digest"), "{e}");
    }

    #[test]
    fn super_users_from_every_superuser_property() {
        let mut c = cfg("superUser=alice\nsuperUser.2=bob\nsuperUserX=eve");
        c.apply_system_property("zookeeper.superUser.ops", "carol");
        let mut got = sasl_super_users(&c);
        got.sort();
        assert_eq!(got, vec!["alice", "bob", "carol"]);
    }
}
