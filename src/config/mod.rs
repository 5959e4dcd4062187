//! Server configuration: zoo.cfg, `-D` system properties, `myid`, dynamic config files.
//!
//! Owns: reading zoo.cfg exactly as Apache ZooKeeper's `QuorumPeerConfig.parseProperties`
//! (+ `ServerConfig`) does, into a typed [`Config`]; the "system properties" map that Java
//! fills from unknown zoo.cfg keys (`K` becomes `zookeeper.K`) and `-D` flags; the
//! four-letter-word whitelist ([`fourlw`]).
//! Must never: open sockets, start anything, or fail on an unknown/unsupported key (those
//! become entries in [`Config::warnings`] for the server to log). Invalid values of keys
//! Java parses strictly (`tickTime=abc`) are errors carrying the line number.
//!
//! Layout: `properties` (java.util.Properties syntax, nom), `parse` (key dispatch and
//! validation), `sysprops` (settings Java reads from system properties), `quorum`
//! (`server.N`, `myid`), `fourlw` (4lw words and whitelist).

pub mod fourlw;
pub mod jaas;
pub mod jaas_quorum;
mod parse;
pub mod properties;
pub mod quorum;
mod sysprops;

#[cfg(test)]
mod tests;

pub use fourlw::{FourLetterWord, parse_4lw};
pub use quorum::{HostPort, PeerAddr, PeerType, QuorumServer, read_myid};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a configuration could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A line `java.util.Properties` itself rejects (malformed `\uXXXX`).
    Syntax { line: usize, msg: String },
    /// A value Java would reject for this key. `line` is `None` for `-D` flags.
    InvalidValue {
        line: Option<usize>,
        key: String,
        value: String,
        msg: String,
    },
    /// A rule spanning several keys (e.g. `minSessionTimeout > maxSessionTimeout`).
    Invalid(String),
    /// A file could not be read.
    Io { path: PathBuf, msg: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Syntax { line, msg } => write!(f, "line {line}: {msg}"),
            ConfigError::InvalidValue {
                line,
                key,
                value,
                msg,
            } => {
                match line {
                    Some(l) => write!(f, "line {l}: ")?,
                    None => write!(f, "system property: ")?,
                }
                write!(f, "invalid value {value:?} for {key}: {msg}")
            }
            ConfigError::Invalid(msg) => f.write_str(msg),
            ConfigError::Io { path, msg } => write!(f, "{}: {msg}", path.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Quorum SASL settings (`quorum.auth.*`; `jaas_quorum` reads their JAAS sections).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumSasl {
    pub enable_sasl: bool,
    pub server_require_sasl: bool,
    pub learner_require_sasl: bool,
    pub learner_login_context: Option<String>,
    pub server_login_context: Option<String>,
    pub kerberos_service_principal: Option<String>,
}

/// AdminServer settings (`admin.*` = system properties `zookeeper.admin.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// `admin.enableServer` (Java default true).
    pub enable_server: bool,
    /// `admin.serverAddress` (0.0.0.0).
    pub server_address: String,
    /// `admin.serverPort` (8080).
    pub server_port: i32,
    /// `admin.commandURL` (/commands).
    pub command_url: String,
    /// `admin.idleTimeout` ms (30000).
    pub idle_timeout_ms: i32,
}

/// The class name Java uses when `metricsProvider.className` is not set.
pub const DEFAULT_METRICS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider";
/// The Prometheus provider class name (serve `/metrics` on `metricsProvider.httpPort`).
pub const PROMETHEUS_METRICS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// A complete server configuration. Field docs name the zoo.cfg key and Java default.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    // ---- client port ----
    /// `clientPort` (no default; 0 = unset, as in 3.8/3.9). A `server.N=...;port` line for
    /// this server overrides it once `myid` is known.
    pub client_port: Option<u16>,
    /// `clientPortAddress` host (None = all interfaces); error if set without clientPort.
    pub client_port_address: Option<String>,
    /// `secureClientPort` (TLS only; configured by the `ssl.*` keys, see `crate::tls`).
    pub secure_client_port: Option<u16>,
    /// `secureClientPortAddress`.
    pub secure_client_port_address: Option<String>,
    /// `clientPortListenBacklog` (-1 = OS default).
    pub client_port_listen_backlog: i32,
    /// `maxClientCnxns` per client IP (60; 0 = unlimited).
    pub max_client_cnxns: i32,

    // ---- storage ----
    /// `dataDir` (required).
    pub data_dir: PathBuf,
    /// `dataLogDir` (defaults to dataDir).
    pub data_log_dir: PathBuf,

    // ---- time ----
    /// `tickTime` ms (3000 in Java's code; the sample zoo.cfg says 2000).
    pub tick_time: i32,
    /// `initLimit` ticks (required in quorum mode).
    pub init_limit: i32,
    /// `syncLimit` ticks (required in quorum mode).
    pub sync_limit: i32,
    /// `connectToLearnerMasterLimit` ticks (0 = use initLimit).
    pub connect_to_learner_master_limit: i32,
    /// `minSessionTimeout` ms as written (-1 = 2×tickTime); see
    /// [`Config::effective_min_session_timeout`].
    pub min_session_timeout: i32,
    /// `maxSessionTimeout` ms as written (-1 = 20×tickTime).
    pub max_session_timeout: i32,

    // ---- sessions ----
    /// `localSessionsEnabled` (false).
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled` (false).
    pub local_sessions_upgrading_enabled: bool,

    // ---- purge ----
    /// `autopurge.snapRetainCount` (3; values below 3 become 3 with a warning).
    pub autopurge_snap_retain_count: i32,
    /// `autopurge.purgeInterval` in ms (0 = off). Written as hours (`24`), or with a
    /// 3.10-style suffix (`30m`, `1d`, `500ms`).
    pub autopurge_purge_interval_ms: i64,

    // ---- quorum ----
    /// From `<dataDir>/myid`, set by [`Config::load`] / [`Config::apply_myid`].
    pub server_id: Option<i64>,
    /// `server.N` lines by id.
    pub servers: BTreeMap<i64, QuorumServer>,
    /// `version` of the membership (hex), from the dynamic file name or a `version=` key.
    pub config_version: Option<i64>,
    /// `peerType` (participant); reset to the role in the servers list by `apply_myid`.
    pub peer_type: PeerType,
    /// `electionAlg` (3, the only value accepted).
    pub election_alg: i32,
    /// `quorumListenOnAllIPs` (false).
    pub quorum_listen_on_all_ips: bool,
    /// `standaloneEnabled` (true).
    pub standalone_enabled: bool,
    /// `reconfigEnabled` (false).
    pub reconfig_enabled: bool,
    /// `syncEnabled` (true): observers persist txns.
    pub sync_enabled: bool,
    /// `dynamicConfigFile` (server lines then live there; read by [`Config::load`]).
    pub dynamic_config_file: Option<PathBuf>,
    /// `observerMasterPort` (off).
    pub observer_master_port: Option<u16>,
    /// `multiAddress.enabled` (false); `|`-joined addresses need it.
    pub multi_address_enabled: bool,
    /// `multiAddress.reachabilityCheckEnabled` (true).
    pub multi_address_reachability_check_enabled: bool,
    /// `multiAddress.reachabilityCheckTimeoutMs` (1000).
    pub multi_address_reachability_check_timeout_ms: i32,
    /// `quorum.cnxn.threads.size` (20).
    pub quorum_cnxn_threads_size: i32,
    /// `zookeeper.cnxTimeout`: election-port connect timeout in ms (5000).
    pub cnx_timeout_ms: i32,
    /// `zookeeper.electionPortBindRetry`: election-port bind attempts, 0 = forever (3;
    /// negative values fall back to 3).
    pub election_port_bind_retry: i32,
    /// `zookeeper.fastleader.minNotificationInterval` ms (200).
    pub fle_min_notification_interval_ms: i32,
    /// `zookeeper.fastleader.maxNotificationInterval` ms (60000).
    pub fle_max_notification_interval_ms: i32,
    /// `sslQuorum` (false): TLS between members (`tls::quorum`).
    pub ssl_quorum: bool,
    /// `portUnification` (false): quorum listeners take TLS and plain members.
    pub port_unification: bool,
    /// `sslQuorumReloadCertFiles` (false).
    pub ssl_quorum_reload_cert_files: bool,
    /// `quorum.auth.*`.
    pub quorum_sasl: QuorumSasl,
    /// `oraclePath` (QuorumOracleMaj for 2-node ensembles; unsupported, warned).
    pub oracle_path: Option<String>,

    // ---- metrics ----
    /// `metricsProvider.className`.
    pub metrics_provider_class_name: String,
    /// Other `metricsProvider.*` keys with the prefix removed (`httpPort`, `httpHost`...).
    pub metrics_provider_config: BTreeMap<String, String>,

    // ---- settings Java reads from system properties (recomputed from the map) ----
    /// Enabled 4lw names (`4lw.commands.whitelist`; default `srvr`); use
    /// [`Config::is_4lw_allowed`].
    pub four_letter_word_whitelist: BTreeSet<String>,
    /// `readonlymode.enabled` (JVM property; false).
    pub read_only_mode_enabled: bool,
    /// `jute.maxbuffer` bytes (0xfffff).
    pub jute_max_buffer: i32,
    /// `zookeeper.jute.maxbuffer.extrasize` (= jute.maxbuffer, at least 1024).
    pub jute_max_buffer_extra_size: i32,
    /// `extendedTypesEnabled` (false): TTL nodes.
    pub extended_types_enabled: bool,
    /// `znode.container.checkIntervalMs` (60000).
    pub container_check_interval_ms: i32,
    /// `znode.container.maxPerMinute` (10000).
    pub container_max_per_minute: i32,
    /// `znode.container.maxNeverUsedIntervalMs` (0 = never delete never-used containers
    /// early).
    pub container_max_never_used_interval_ms: i64,
    /// `DigestAuthenticationProvider.superDigest` (`super:<base64 sha1>`).
    pub super_digest: Option<String>,
    /// `skipACL` (true only for the exact value `yes`).
    pub skip_acl: bool,
    /// `enforceQuota` (false).
    pub enforce_quota: bool,
    /// `snapCount` (100000; below 2 becomes 2).
    pub snap_count: i32,
    /// `snapSizeLimitInKb` (4194304; ≤0 disables the size trigger).
    pub snap_size_limit_kb: i64,
    /// `preAllocSize` in KiB (65536) — use [`Config::pre_alloc_size_bytes`].
    pub pre_alloc_size_kb: i64,
    /// `forceSync` (anything but `no` = fsync).
    pub force_sync: bool,
    /// `fsync.warningthresholdms` (1000).
    pub fsync_warning_threshold_ms: i64,
    /// `digest.enabled` (true).
    pub digest_enabled: bool,
    /// `closeSessionTxn.enabled` (true).
    pub close_session_txn_enabled: bool,
    /// `globalOutstandingLimit` (1000).
    pub global_outstanding_limit: i32,
    /// `maxCnxns` total client connections (0 = unlimited).
    pub max_cnxns: i32,
    /// `admin.*`.
    pub admin: AdminConfig,

    // ---- raw ----
    /// Every "system property": `zookeeper.K` for each unknown zoo.cfg key `K`, plus `-D`
    /// flags as given. Look up with [`Config::system_property`].
    pub system_properties: BTreeMap<String, String>,
    /// Non-fatal findings for the server to log (unknown keys, unsupported features...).
    pub warnings: Vec<String>,
}

impl Config {
    /// Java's defaults with the given data directory (nothing else set).
    fn with_data_dir(data_dir: PathBuf) -> Config {
        let mut c = Config {
            client_port: None,
            client_port_address: None,
            secure_client_port: None,
            secure_client_port_address: None,
            client_port_listen_backlog: -1,
            max_client_cnxns: 60,
            data_log_dir: data_dir.clone(),
            data_dir,
            tick_time: 3000,
            init_limit: 0,
            sync_limit: 0,
            connect_to_learner_master_limit: 0,
            min_session_timeout: -1,
            max_session_timeout: -1,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_ms: 0,
            server_id: None,
            servers: BTreeMap::new(),
            config_version: None,
            peer_type: PeerType::Participant,
            election_alg: 3,
            quorum_listen_on_all_ips: false,
            standalone_enabled: true,
            reconfig_enabled: false,
            sync_enabled: true,
            dynamic_config_file: None,
            observer_master_port: None,
            multi_address_enabled: false,
            multi_address_reachability_check_enabled: true,
            multi_address_reachability_check_timeout_ms: 1000,
            quorum_cnxn_threads_size: 20,
            cnx_timeout_ms: 0,
            election_port_bind_retry: 0,
            fle_min_notification_interval_ms: 0,
            fle_max_notification_interval_ms: 0,
            ssl_quorum: false,
            port_unification: false,
            ssl_quorum_reload_cert_files: false,
            quorum_sasl: QuorumSasl::default(),
            oracle_path: None,
            metrics_provider_class_name: DEFAULT_METRICS_PROVIDER.to_string(),
            metrics_provider_config: BTreeMap::new(),
            four_letter_word_whitelist: BTreeSet::new(),
            read_only_mode_enabled: false,
            jute_max_buffer: 0,
            jute_max_buffer_extra_size: 0,
            extended_types_enabled: false,
            container_check_interval_ms: 0,
            container_max_per_minute: 0,
            container_max_never_used_interval_ms: 0,
            super_digest: None,
            skip_acl: false,
            enforce_quota: false,
            snap_count: 0,
            snap_size_limit_kb: 0,
            pre_alloc_size_kb: 0,
            force_sync: true,
            fsync_warning_threshold_ms: 0,
            digest_enabled: true,
            close_session_txn_enabled: true,
            global_outstanding_limit: 0,
            max_cnxns: 0,
            admin: AdminConfig {
                enable_server: true,
                server_address: String::new(),
                server_port: 0,
                command_url: String::new(),
                idle_timeout_ms: 0,
            },
            system_properties: BTreeMap::new(),
            warnings: Vec::new(),
        };
        c.refresh_system_settings();
        c
    }

    /// What `ferrokeeper` runs with when started without a config file: a standalone dev
    /// server on `127.0.0.1:2181`, data in `./ferrokeeper-data`, tickTime 2000 (the value in
    /// the sample zoo.cfg, so session timeouts are 4 s–40 s), maxClientCnxns 60.
    ///
    /// Four-letter words: **all enabled** (`4lw.commands.whitelist=*`). An operator poking
    /// a local dev server expects `echo ruok | nc localhost 2181` and `mntr`/`stat` to
    /// work (Kafka/Curator docs and docker healthchecks use them), and this default only
    /// listens on loopback, so the reason Java narrowed the default (exposure to the
    /// network) does not apply. Any zoo.cfg gets Java's default (`srvr` only).
    ///
    /// AdminServer: off (`admin.enableServer=false`), so nothing listens on 8080.
    pub fn default_embedded() -> Config {
        let mut c = Config::with_data_dir(PathBuf::from("./ferrokeeper-data"));
        c.client_port = Some(2181);
        c.client_port_address = Some("127.0.0.1".to_string());
        c.tick_time = 2000;
        c.init_limit = 10;
        c.sync_limit = 5;
        c.system_properties
            .insert("zookeeper.4lw.commands.whitelist".into(), "*".into());
        c.system_properties
            .insert("zookeeper.admin.enableServer".into(), "false".into());
        c.refresh_system_settings();
        c
    }

    /// Parse zoo.cfg text (no file system access: `myid` and `dynamicConfigFile` are not
    /// read; call [`Config::apply_myid`] for quorum checks, or use [`Config::load`]).
    pub fn parse_str(text: &str) -> Result<Config, ConfigError> {
        Config::parse_str_with_props(text, std::iter::empty::<(String, String)>())
    }

    /// Parse zoo.cfg text after the given `-D` system properties, in Java's order: JVM
    /// flags exist first and zoo.cfg's `System.setProperty("zookeeper.K")` overwrites the
    /// same name. (To make a flag win instead, call [`Config::apply_system_property`]
    /// after parsing.)
    pub fn parse_str_with_props<K: Into<String>, V: Into<String>>(
        text: &str,
        props: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Config, ConfigError> {
        parse::parse(
            text,
            props
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Read and parse a zoo.cfg file, then its `dynamicConfigFile` (if any) and
    /// `<dataDir>/myid`, and run the quorum checks (`QuorumPeerConfig.parse`).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_props(path, std::iter::empty::<(String, String)>())
    }

    /// [`Config::load`] with `-D` system properties applied first (see
    /// [`Config::parse_str_with_props`]).
    pub fn load_with_props<K: Into<String>, V: Into<String>>(
        path: &Path,
        props: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Config, ConfigError> {
        let text = read_text(path)?;
        let mut c = Config::parse_str_with_props(&text, props)?;
        if let Some(dyn_path) = c.dynamic_config_file.clone() {
            let dyn_text = read_text(&dyn_path)?;
            c.apply_dynamic_config(&dyn_text, &dyn_path.to_string_lossy())?;
        }
        let id = read_myid(&c.data_dir).map_err(|msg| ConfigError::Io {
            path: c.data_dir.join("myid"),
            msg,
        })?;
        c.apply_myid(id)?;
        Ok(c)
    }

    /// Effective `minSessionTimeout` in ms (-1 → 2 × tickTime).
    pub fn effective_min_session_timeout(&self) -> i32 {
        if self.min_session_timeout == -1 {
            self.tick_time.saturating_mul(2)
        } else {
            self.min_session_timeout
        }
    }

    /// Effective `maxSessionTimeout` in ms (-1 → 20 × tickTime).
    pub fn effective_max_session_timeout(&self) -> i32 {
        if self.max_session_timeout == -1 {
            self.tick_time.saturating_mul(20)
        } else {
            self.max_session_timeout
        }
    }

    /// The session timeout a client asking for `requested` ms gets (clamped into
    /// [min, max], as `ZooKeeperServer.processConnectRequest` does).
    pub fn negotiate_session_timeout(&self, requested: i32) -> i32 {
        requested
            .max(self.effective_min_session_timeout())
            .min(self.effective_max_session_timeout())
    }

    /// Effective `connectToLearnerMasterLimit` (0 → initLimit).
    pub fn effective_connect_to_learner_master_limit(&self) -> i32 {
        if self.connect_to_learner_master_limit == 0 {
            self.init_limit
        } else {
            self.connect_to_learner_master_limit
        }
    }

    /// Whether the four-letter word `word` (e.g. `"ruok"`, `"telnet close"`) may run.
    pub fn is_4lw_allowed(&self, word: &str) -> bool {
        self.four_letter_word_whitelist.contains(word)
    }

    /// `preAllocSize` in bytes.
    pub fn pre_alloc_size_bytes(&self) -> i64 {
        self.pre_alloc_size_kb.saturating_mul(1024)
    }

    /// Whether autopurge runs (purge interval > 0).
    pub fn autopurge_enabled(&self) -> bool {
        self.autopurge_purge_interval_ms > 0
    }

    /// Voting members (`server.N` lines of type participant).
    pub fn voting_members(&self) -> impl Iterator<Item = &QuorumServer> {
        self.servers
            .values()
            .filter(|s| s.peer_type == PeerType::Participant)
    }

    /// Observers (`server.N` lines of type observer).
    pub fn observers(&self) -> impl Iterator<Item = &QuorumServer> {
        self.servers
            .values()
            .filter(|s| s.peer_type == PeerType::Observer)
    }

    /// Quorum mode (`QuorumPeerConfig.isDistributed`): some voting member is configured
    /// and either standalone mode is disabled or there is more than one voter.
    pub fn is_distributed(&self) -> bool {
        let voters = self.voting_members().count();
        voters > 0 && (!self.standalone_enabled || voters > 1)
    }

    /// Where to listen for clients: `(host, port)`; host `None` = all interfaces
    /// (Java binds the wildcard address). `None` if no client port is configured.
    pub fn client_listen(&self) -> Option<(Option<&str>, u16)> {
        self.client_port
            .map(|p| (self.client_port_address.as_deref(), p))
    }

    /// The membership in dynamic-config form (`server.N=...` lines and `version=<hex>`),
    /// what `/zookeeper/config` and FLE notifications carry.
    pub fn quorum_config_string(&self) -> String {
        let mut lines: Vec<String> = self
            .servers
            .values()
            .map(|s| format!("server.{}={}", s.id, s.to_config_string()))
            .collect();
        lines.push(format!("version={:x}", self.config_version.unwrap_or(0)));
        lines.join("\n")
    }
}

impl Config {
    /// Record a warning once (recomputing settings must not repeat it).
    pub(crate) fn warn(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read(path)
        .map(|b| properties::decode_bytes(&b))
        .map_err(|e| ConfigError::Io {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })
}
