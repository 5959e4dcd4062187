//! Settings Java reads from JVM system properties rather than from zoo.cfg directly.
//!
//! Owns: name lookup in [`Config::system_properties`] (either spelling: `zookeeper.X` or
//! `X`), `-D` flag application, and recomputing the typed fields that depend on system
//! properties (whitelist, jute.maxbuffer, snapCount, admin.*...) with Java's lenient
//! parsing: a bad number falls back to the default with a warning, never an error.
//! Must never: fail (Java's `Integer.getInteger` & co. never throw).

use super::fourlw::build_whitelist;
use super::{AdminConfig, Config};

/// Keys QuorumPeerConfig handles itself: as `-D` flags they have no effect in Java.
pub(super) const ZOO_CFG_ONLY_KEYS: &[&str] = &[
    "dataDir",
    "dataLogDir",
    "clientPort",
    "clientPortAddress",
    "secureClientPort",
    "secureClientPortAddress",
    "tickTime",
    "initLimit",
    "syncLimit",
    "maxClientCnxns",
    "minSessionTimeout",
    "maxSessionTimeout",
    "electionAlg",
    "peerType",
    "standaloneEnabled",
    "reconfigEnabled",
    "dynamicConfigFile",
    "autopurge.snapRetainCount",
    "autopurge.purgeInterval",
];

/// System-property names (without `zookeeper.`) that ferrokeeper reads or that Apache
/// ZooKeeper documents; an unknown zoo.cfg key outside this list gets a typo warning.
pub(super) const KNOWN_PROPERTIES: &[&str] = &[
    "4lw.commands.whitelist",
    "jute.maxbuffer",
    "jute.maxbuffer.extrasize",
    "extendedTypesEnabled",
    "emulate353TTLNodes",
    "znode.container.checkIntervalMs",
    "znode.container.maxPerMinute",
    "znode.container.maxNeverUsedIntervalMs",
    "DigestAuthenticationProvider.superDigest",
    "DigestAuthenticationProvider.enabled",
    "skipACL",
    "enforceQuota",
    "snapCount",
    "snapSizeLimitInKb",
    "preAllocSize",
    "forceSync",
    "fsync.warningthresholdms",
    "digest.enabled",
    "closeSessionTxn.enabled",
    "globalOutstandingLimit",
    "largeRequestThreshold",
    "largeRequestMaxBytes",
    "maxCnxns",
    "readonlymode.enabled",
    "leaderServes",
    "commitLogCount",
    "snapshotSizeFactor",
    "txnLogSizeLimitInKb",
    "forceSnapshotSync",
    "cnxTimeout",
    "electionPortBindRetry",
    "fastleader.minNotificationInterval",
    "fastleader.maxNotificationInterval",
    "tcpKeepAlive",
    "clientTcpKeepAlive",
    "flushDelay",
    "maxWriteQueuePollTime",
    "maxBatchSize",
    "requestThrottleLimit",
    "requestThrottleStallTime",
    "requestThrottleDropStale",
    "requestStaleLatencyCheck",
    "requestStaleConnectionCheck",
    "learner.asyncSending",
    "learner.closeSocketAsync",
    "leader.closeSocketAsync",
    "leader.maxTimeToWaitForEpoch",
    "observer.reconnectDelayMs",
    "observer.election.DelayMs",
    "enforce.auth.enabled",
    "enforce.auth.schemes",
    "serverCnxnFactory",
    "sessionRequireClientSASLAuth",
    "snapshot.trust.empty",
    "snapshot.compression.method",
    "audit.enable",
    "watchManagerName",
    "connection_throttle_tokens",
    "connection_throttle_fill_time",
    "connection_throttle_fill_count",
    "connection_throttle_freeze_time",
    "connection_throttle_drop_increase",
    "connection_throttle_drop_decrease",
    "connection_throttle_decrease_ratio",
    "connection_throttle_weight_enabled",
    "connection_throttle_global_session_weight",
    "connection_throttle_local_session_weight",
    "connection_throttle_renew_session_weight",
    "request_throttle_max_requests",
    "request_throttle_stall_time",
    "request_throttle_drop_stale",
    "request_throttler.shutdownTimeout",
    "version",
];

/// Prefixes of known property families.
pub(super) const KNOWN_PREFIXES: &[&str] = &[
    "admin.",
    "ssl.",
    "authProvider.",
    "netty.",
    "kerberos.",
    "X509",
    "superUser",
    "sasl",
];

/// Whether `name` (without `zookeeper.`) is a recognised system property.
pub(super) fn is_known(name: &str) -> bool {
    KNOWN_PROPERTIES.contains(&name) || KNOWN_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The other spelling of a property name (`zookeeper.X` ↔ `X`).
fn alternate(name: &str) -> String {
    match name.strip_prefix("zookeeper.") {
        Some(short) => short.to_string(),
        None => format!("zookeeper.{name}"),
    }
}

impl Config {
    /// Look up a system property by either spelling: the exact name first, then with
    /// `zookeeper.` added or removed. Use the name Java reads (`jute.maxbuffer`,
    /// `zookeeper.snapCount`) so that, as in Java, the real property wins over the other
    /// spelling.
    pub fn system_property(&self, name: &str) -> Option<&str> {
        self.system_properties
            .get(name)
            .or_else(|| self.system_properties.get(&alternate(name)))
            .map(String::as_str)
    }

    /// Set a system property as a `-Dk=v` flag would, then recompute the typed settings
    /// that depend on it. Problems (bad numbers, zoo.cfg-only keys given as `-D`) are
    /// appended to [`Config::warnings`].
    pub fn apply_system_property(&mut self, key: &str, value: &str) {
        self.set_system_property_raw(key.trim(), value.trim());
        self.refresh_system_settings();
    }

    pub(super) fn set_system_property_raw(&mut self, key: &str, value: &str) {
        let short = key.strip_prefix("zookeeper.").unwrap_or(key);
        if ZOO_CFG_ONLY_KEYS.contains(&short) {
            self.warn(format!(
                "system property {key} has no effect: {short} is read from zoo.cfg only"
            ));
        }
        self.system_properties
            .insert(key.to_string(), value.to_string());
    }

    fn prop_i64(&mut self, name: &str, default: i64) -> i64 {
        match self.system_property(name) {
            None => default,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) => n,
                Err(_) => {
                    let v = v.to_string();
                    self.warn(format!(
                        "{name}={v:?} is not a number, using default {default}"
                    ));
                    default
                }
            },
        }
    }

    fn prop_i32(&mut self, name: &str, default: i32) -> i32 {
        let n = self.prop_i64(name, default as i64);
        match i32::try_from(n) {
            Ok(n) => n,
            Err(_) => {
                self.warn(format!(
                    "{name}={n} is out of range, using default {default}"
                ));
                default
            }
        }
    }

    /// `Boolean.parseBoolean`: true iff the value is `true` ignoring case.
    fn prop_bool(&self, name: &str, default: bool) -> bool {
        self.system_property(name)
            .map_or(default, |v| v.trim().eq_ignore_ascii_case("true"))
    }

    fn prop_str(&self, name: &str, default: &str) -> String {
        self.system_property(name).unwrap_or(default).to_string()
    }

    /// Recompute every system-property-backed field from [`Config::system_properties`].
    pub(super) fn refresh_system_settings(&mut self) {
        self.read_only_mode_enabled = self.prop_bool("readonlymode.enabled", false);
        self.four_letter_word_whitelist = build_whitelist(
            self.system_property("zookeeper.4lw.commands.whitelist"),
            self.read_only_mode_enabled,
        );

        let max = self.prop_i32("jute.maxbuffer", 0xfffff);
        self.jute_max_buffer = if max > 0 {
            max
        } else {
            self.warn(format!(
                "jute.maxbuffer={max} must be positive, using 1048575"
            ));
            0xfffff
        };
        self.jute_max_buffer_extra_size = self
            .prop_i32("zookeeper.jute.maxbuffer.extrasize", self.jute_max_buffer)
            .max(1024);

        self.extended_types_enabled = self.prop_bool("zookeeper.extendedTypesEnabled", false);
        self.container_check_interval_ms = self.prop_i32("znode.container.checkIntervalMs", 60000);
        self.container_max_per_minute = self.prop_i32("znode.container.maxPerMinute", 10000);
        self.container_max_never_used_interval_ms =
            self.prop_i64("znode.container.maxNeverUsedIntervalMs", 0);
        self.super_digest = self
            .system_property("zookeeper.DigestAuthenticationProvider.superDigest")
            .map(str::to_string);
        self.skip_acl = self.system_property("zookeeper.skipACL") == Some("yes");
        self.enforce_quota = self.prop_bool("zookeeper.enforceQuota", false);

        let snap = self.prop_i32("zookeeper.snapCount", 100_000);
        self.snap_count = if snap < 2 {
            self.warn("SnapCount should be 2 or more. Now, snapCount is reset to 2");
            2
        } else {
            snap
        };
        self.snap_size_limit_kb = self.prop_i64("zookeeper.snapSizeLimitInKb", 4_194_304);
        self.pre_alloc_size_kb = self.prop_i64("zookeeper.preAllocSize", 65536);
        self.force_sync = self.system_property("zookeeper.forceSync") != Some("no");
        self.fsync_warning_threshold_ms = self.prop_i64("zookeeper.fsync.warningthresholdms", 1000);
        self.digest_enabled = self.prop_bool("zookeeper.digest.enabled", true);
        self.close_session_txn_enabled = self.prop_bool("zookeeper.closeSessionTxn.enabled", true);
        self.global_outstanding_limit = self.prop_i32("zookeeper.globalOutstandingLimit", 1000);
        let cnxns = self.prop_i32("zookeeper.maxCnxns", 0);
        self.max_cnxns = if cnxns < 0 {
            self.warn("maxCnxns should be greater than or equal to 0, using 0");
            0
        } else {
            cnxns
        };

        self.cnx_timeout_ms = self.prop_i32("zookeeper.cnxTimeout", 5000);
        let retry = self.prop_i32("zookeeper.electionPortBindRetry", 3);
        self.election_port_bind_retry = if retry < 0 {
            self.warn(format!(
                "zookeeper.electionPortBindRetry contains invalid value: {retry}(must be >= 0). \
                 Use default value of 3 instead."
            ));
            3
        } else {
            retry
        };
        self.fle_min_notification_interval_ms =
            self.prop_i32("zookeeper.fastleader.minNotificationInterval", 200);
        self.fle_max_notification_interval_ms =
            self.prop_i32("zookeeper.fastleader.maxNotificationInterval", 60000);

        self.admin = AdminConfig {
            enable_server: self.prop_bool("zookeeper.admin.enableServer", true),
            server_address: self.prop_str("zookeeper.admin.serverAddress", "0.0.0.0"),
            server_port: self.prop_i32("zookeeper.admin.serverPort", 8080),
            command_url: self.prop_str("zookeeper.admin.commandURL", "/commands"),
            idle_timeout_ms: self.prop_i32("zookeeper.admin.idleTimeout", 30000),
        };
    }
}
