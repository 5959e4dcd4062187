//! The resolved, typed settings the server runs with (derived from `config::Config`).
//!
//! Owns: the values the running server reads on every request, resolved once at startup.
//! Must never: parse files (that is `config`).

use crate::txn::prep::PrepConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Settings {
    pub client_addr: SocketAddr,
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
            server_id: 1,
            tick_ms: 2000,
            min_session_timeout: 4000,
            max_session_timeout: 40000,
            max_buffer: 0xfffff,
            jute_extra_size: 0xfffff,
            max_client_cnxns: 60,
            max_cnxns: 0,
            super_digest: None,
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
            fault_panic_on_create: None,
            fault_fsync_delay_ms: 0,
            local_sessions: false,
            local_sessions_upgrading: false,
            admin_http: None,
            metrics_http: None,
            initial_config: String::new(),
        }
    }
}

impl Settings {
    /// Resolve what the running server needs from a parsed zoo.cfg.
    pub fn from_config(c: &crate::config::Config) -> Result<Self, String> {
        let Some((host, port)) = c.client_listen() else {
            return Err(
                "no clientPort configured (secureClientPort alone is not supported yet)".into(),
            );
        };
        let host = host.unwrap_or("0.0.0.0");
        let ip: std::net::IpAddr = match host.trim_matches(|ch| ch == '[' || ch == ']').parse() {
            Ok(ip) => ip,
            Err(_) => {
                use std::net::ToSocketAddrs;
                (host, port)
                    .to_socket_addrs()
                    .map_err(|e| format!("cannot resolve clientPortAddress {host}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("cannot resolve clientPortAddress {host}"))?
                    .ip()
            }
        };
        let data_log_dir = if c.data_log_dir.as_os_str().is_empty() {
            &c.data_dir
        } else {
            &c.data_log_dir
        };
        Ok(Settings {
            client_addr: SocketAddr::new(ip, port),
            server_id: c.server_id.unwrap_or(1),
            tick_ms: c.tick_time,
            min_session_timeout: c.effective_min_session_timeout(),
            max_session_timeout: c.effective_max_session_timeout(),
            max_buffer: c.jute_max_buffer.max(1024) as usize,
            jute_extra_size: c.jute_max_buffer_extra_size.max(1024) as usize,
            max_client_cnxns: c.max_client_cnxns.max(0) as usize,
            max_cnxns: c.max_cnxns.max(0) as usize,
            super_digest: c.super_digest.clone(),
            container_check_interval_ms: c.container_check_interval_ms.max(1) as u64,
            container_max_per_minute: c.container_max_per_minute.max(1) as usize,
            four_letter_whitelist: c.four_letter_word_whitelist.clone(),
            prep: PrepConfig {
                extended_types_enabled: c.extended_types_enabled,
                enforce_quota: c.enforce_quota,
                skip_acl: c.skip_acl,
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
            global_outstanding_limit: c.global_outstanding_limit.max(1) as usize,
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
            admin_http: admin_http(&c.admin)?,
            metrics_http: metrics_http(c)?,
            initial_config: String::new(),
        })
    }
}

/// Resolve `host` (an address or a name) with `port`.
fn resolve(host: &str, port: u16, key: &str) -> Result<std::net::IpAddr, String> {
    let host = host.trim_matches(|ch| ch == '[' || ch == ']');
    match host.parse() {
        Ok(ip) => Ok(ip),
        Err(_) => {
            use std::net::ToSocketAddrs;
            Ok((host, port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve {key} {host}: {e}"))?
                .next()
                .ok_or_else(|| format!("cannot resolve {key} {host}"))?
                .ip())
        }
    }
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
    let ip = resolve(
        get("httpHost").unwrap_or("0.0.0.0"),
        port,
        "metricsProvider.httpHost",
    )?;
    Ok(Some(super::metrics_http::MetricsHttp {
        addr: SocketAddr::new(ip, port),
        export_process: get("exportJvmInfo").is_none_or(|v| v.eq_ignore_ascii_case("true")),
    }))
}

/// The AdminServer's listen address from `admin.*` (None when disabled).
fn admin_http(
    a: &crate::config::AdminConfig,
) -> Result<Option<super::admin_http::AdminHttp>, String> {
    if !a.enable_server {
        return Ok(None);
    }
    let port = u16::try_from(a.server_port)
        .map_err(|_| format!("admin.serverPort {} is not a port", a.server_port))?;
    let host = a.server_address.trim_matches(|ch| ch == '[' || ch == ']');
    let ip: std::net::IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) => {
            use std::net::ToSocketAddrs;
            (host, port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve admin.serverAddress {host}: {e}"))?
                .next()
                .ok_or_else(|| format!("cannot resolve admin.serverAddress {host}"))?
                .ip()
        }
    };
    let url = a.command_url.trim_end_matches('/');
    Ok(Some(super::admin_http::AdminHttp {
        addr: SocketAddr::new(ip, port),
        command_url: if url.starts_with('/') {
            url.to_owned()
        } else {
            format!("/{url}")
        },
        idle_timeout: std::time::Duration::from_millis(a.idle_timeout_ms.max(1) as u64),
    }))
}
