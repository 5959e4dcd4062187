//! zoo.cfg key dispatch and validation, mirroring `QuorumPeerConfig.parseProperties`,
//! `setupQuorumPeerConfig` and `parseDynamicConfig`.
//!
//! Owns: turning `properties::Property` entries into [`Config`] fields with Java's value
//! rules (strict `Integer.parseInt`, `true`/`false` booleans) and its cross-key checks.
//! Must never: fail on an unknown key (it becomes system property `zookeeper.K` plus a
//! warning), or touch the file system (that is `Config::load`).

use super::properties::{Property, parse_properties};
use super::quorum::{PeerType, QuorumServer, is_wildcard_host, parse_port};
use super::sysprops::is_known;
use super::{Config, ConfigError, DEFAULT_METRICS_PROVIDER, PROMETHEUS_METRICS_PROVIDER};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One key's value with where it came from, for error messages.
struct Val<'a> {
    key: &'a str,
    value: &'a str,
    line: usize,
}

impl Val<'_> {
    fn err(&self, msg: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            line: Some(self.line),
            key: self.key.to_string(),
            value: self.value.to_string(),
            msg: msg.into(),
        }
    }
    /// `Integer.parseInt`.
    fn int(&self) -> Result<i32, ConfigError> {
        self.value
            .parse::<i32>()
            .map_err(|_| self.err("not an integer"))
    }
    /// QuorumPeerConfig.parseBoolean: `true`/`false` ignoring case, anything else fails.
    fn boolean(&self) -> Result<bool, ConfigError> {
        if self.value.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if self.value.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(self.err("choose 'true' or 'false'"))
        }
    }
    /// A port; 0 means "not set" (3.8/3.9 semantics).
    fn port(&self) -> Result<Option<u16>, ConfigError> {
        let p = parse_port(self.value).map_err(|e| self.err(e))?;
        Ok((p != 0).then_some(p))
    }
    /// `VerifyingFileFactory.create` with `warnForRelativePath`.
    fn path(&self, cfg: &mut Config) -> PathBuf {
        let p = PathBuf::from(self.value);
        if !p.is_absolute() && !self.value.starts_with('.') {
            cfg.warn(format!(
                "line {}: {} {} is relative. Prepend ./ to indicate that you're sure!",
                self.line, self.key, self.value
            ));
        }
        p
    }
    /// `autopurge.purgeInterval`: a bare integer is hours (3.8/3.9); a suffixed value
    /// (`ms`, `s`, `m`, `h`, `d`, 3.10's `Time.parseTimeInterval`) is taken as written.
    fn interval_ms(&self) -> Result<i64, ConfigError> {
        let v = self.value;
        let bad = || self.err("expected hours, or a number with suffix ms/s/m/h/d");
        let last = v.chars().last().ok_or_else(bad)?;
        if last.is_ascii_digit() {
            return Ok(self.int()? as i64 * 3_600_000);
        }
        let (num, unit) = if v.ends_with("ms") || v.ends_with("MS") {
            (&v[..v.len() - 2], 1)
        } else {
            let unit = match last.to_ascii_uppercase() {
                'S' => 1000,
                'M' => 60_000,
                'H' => 3_600_000,
                'D' => 86_400_000,
                _ => return Err(bad()),
            };
            (&v[..v.len() - last.len_utf8()], unit)
        };
        let n: i32 = num.parse().map_err(|_| bad())?;
        // Java multiplies in int; we keep the intended value instead of overflowing.
        Ok(n as i64 * unit)
    }
}

/// String.trim(): strip every char <= ' ' at both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Keep the last occurrence of each key (Properties is a Hashtable), warn on the others.
fn dedupe(props: Vec<Property>, cfg: &mut Config) -> Vec<Property> {
    let mut out: Vec<Property> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for p in props {
        match index.get(&p.key) {
            Some(&i) => {
                cfg.warn(format!(
                    "line {}: duplicate key {} overrides line {}",
                    p.line, p.key, out[i].line
                ));
                out[i] = p;
            }
            None => {
                index.insert(p.key.clone(), out.len());
                out.push(p);
            }
        }
    }
    out
}

fn is_membership_key(key: &str) -> bool {
    key.starts_with("server.") || key.starts_with("group") || key.starts_with("weight")
}

pub(super) fn parse(text: &str, flags: Vec<(String, String)>) -> Result<Config, ConfigError> {
    let props = parse_properties(text).map_err(|e| ConfigError::Syntax {
        line: e.line,
        msg: e.msg,
    })?;
    let mut cfg = Config::with_data_dir(PathBuf::new());
    for (k, v) in &flags {
        cfg.set_system_property_raw(java_trim(k), java_trim(v));
    }
    let props = dedupe(props, &mut cfg);
    let has_dynamic_file = props
        .iter()
        .any(|p| java_trim(&p.key) == "dynamicConfigFile");

    let mut data_dir: Option<PathBuf> = None;
    let mut data_log_dir: Option<PathBuf> = None;
    let mut membership: Vec<(String, String, usize)> = Vec::new();

    for p in &props {
        let key = java_trim(&p.key);
        let value = java_trim(&p.value);
        let v = Val {
            key,
            value,
            line: p.line,
        };
        if !p.has_separator {
            cfg.warn(format!("line {}: {key:?} has no '=' and no value", p.line));
        }
        match key {
            "dataDir" => data_dir = Some(v.path(&mut cfg)),
            "dataLogDir" => data_log_dir = Some(v.path(&mut cfg)),
            "clientPort" => cfg.client_port = v.port()?,
            "localSessionsEnabled" => cfg.local_sessions_enabled = v.boolean()?,
            "localSessionsUpgradingEnabled" => {
                cfg.local_sessions_upgrading_enabled = v.boolean()?
            }
            "clientPortAddress" => {
                // InetAddress.getByName accepts "[::1]"; keep the bare host.
                let host = value.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
                cfg.client_port_address = Some(host.unwrap_or(value).to_string());
            }
            "secureClientPort" => cfg.secure_client_port = v.port()?,
            "secureClientPortAddress" => cfg.secure_client_port_address = Some(value.to_string()),
            "observerMasterPort" => {
                cfg.observer_master_port = v.port()?;
                cfg.warn(format!(
                    "line {}: observerMasterPort: ObserverMaster is not supported; this \
                     member does not serve observers on that port (they sync from the leader)",
                    p.line
                ));
            }
            "clientPortListenBacklog" => cfg.client_port_listen_backlog = v.int()?,
            "tickTime" => {
                cfg.tick_time = v.int()?;
                if cfg.tick_time <= 0 {
                    return Err(v.err("tickTime must be a positive number of milliseconds"));
                }
            }
            "maxClientCnxns" => cfg.max_client_cnxns = v.int()?,
            "minSessionTimeout" => cfg.min_session_timeout = v.int()?,
            "maxSessionTimeout" => cfg.max_session_timeout = v.int()?,
            "initLimit" => cfg.init_limit = v.int()?,
            "syncLimit" => cfg.sync_limit = v.int()?,
            "connectToLearnerMasterLimit" => cfg.connect_to_learner_master_limit = v.int()?,
            "electionAlg" => {
                cfg.election_alg = v.int()?;
                if cfg.election_alg != 3 {
                    return Err(v.err("Invalid electionAlg value. Only 3 is supported."));
                }
            }
            "quorumListenOnAllIPs" => cfg.quorum_listen_on_all_ips = v.boolean()?,
            "peerType" => {
                cfg.peer_type = PeerType::parse(value)
                    .ok_or_else(|| v.err("expected participant or observer"))?;
            }
            "syncEnabled" => cfg.sync_enabled = v.boolean()?,
            "dynamicConfigFile" => cfg.dynamic_config_file = Some(PathBuf::from(value)),
            "autopurge.snapRetainCount" => cfg.autopurge_snap_retain_count = v.int()?,
            "autopurge.purgeInterval" => cfg.autopurge_purge_interval_ms = v.interval_ms()?,
            "standaloneEnabled" => cfg.standalone_enabled = v.boolean()?,
            "reconfigEnabled" => {
                cfg.reconfig_enabled = v.boolean()?;
                if cfg.reconfig_enabled {
                    cfg.warn(format!(
                        "line {}: reconfigEnabled=true: dynamic reconfiguration is not \
                         supported; reconfig requests are answered UNIMPLEMENTED and a \
                         follower given a reconfig by a Java leader leaves it and elects again",
                        p.line
                    ));
                }
            }
            "sslQuorum" => cfg.ssl_quorum = v.boolean()?,
            "portUnification" => cfg.port_unification = v.boolean()?,
            "sslQuorumReloadCertFiles" => cfg.ssl_quorum_reload_cert_files = v.boolean()?,
            k if is_membership_key(k) && has_dynamic_file => {
                return Err(v.err(format!(
                    "parameter: {k} must be in a separate dynamic config file"
                )));
            }
            k if is_membership_key(k) => {
                membership.push((k.to_string(), value.to_string(), p.line))
            }
            "quorum.auth.enableSasl" => cfg.quorum_sasl.enable_sasl = v.boolean()?,
            "quorum.auth.serverRequireSasl" => cfg.quorum_sasl.server_require_sasl = v.boolean()?,
            "quorum.auth.learnerRequireSasl" => {
                cfg.quorum_sasl.learner_require_sasl = v.boolean()?
            }
            "quorum.auth.learner.saslLoginContext" => {
                cfg.quorum_sasl.learner_login_context = Some(value.to_string())
            }
            "quorum.auth.server.saslLoginContext" => {
                cfg.quorum_sasl.server_login_context = Some(value.to_string())
            }
            "quorum.auth.kerberos.servicePrincipal" => {
                cfg.quorum_sasl.kerberos_service_principal = Some(value.to_string())
            }
            "quorum.cnxn.threads.size" => cfg.quorum_cnxn_threads_size = v.int()?,
            "jvm.pause.info-threshold.ms"
            | "jvm.pause.warn-threshold.ms"
            | "jvm.pause.sleep.time.ms"
            | "jvm.pause.monitor" => {
                cfg.warn(format!("line {}: {key} has no effect (no JVM)", p.line));
            }
            "metricsProvider.className" => {
                cfg.metrics_provider_class_name = value.to_string();
                if value != DEFAULT_METRICS_PROVIDER && value != PROMETHEUS_METRICS_PROVIDER {
                    cfg.warn(format!(
                        "line {}: metrics provider {value} is not supported; use {}",
                        p.line, PROMETHEUS_METRICS_PROVIDER
                    ));
                }
            }
            k if k.starts_with("metricsProvider.") => {
                cfg.metrics_provider_config
                    .insert(k["metricsProvider.".len()..].to_string(), value.to_string());
            }
            "multiAddress.enabled" => cfg.multi_address_enabled = v.boolean()?,
            "multiAddress.reachabilityCheckTimeoutMs" => {
                cfg.multi_address_reachability_check_timeout_ms = v.int()?
            }
            "multiAddress.reachabilityCheckEnabled" => {
                cfg.multi_address_reachability_check_enabled = v.boolean()?
            }
            "oraclePath" => {
                cfg.oracle_path = Some(value.to_string());
                cfg.warn(format!(
                    "line {}: oraclePath (QuorumOracleMaj) is not supported",
                    p.line
                ));
            }
            _ => {
                if key == "version" {
                    // QuorumMaj also reads the membership version from the static file.
                    let ver = i64::from_str_radix(value, 16)
                        .map_err(|_| v.err("not a hexadecimal version"))?;
                    cfg.config_version = Some(ver);
                }
                if key.starts_with("zookeeper.") {
                    cfg.warn(format!(
                        "line {}: {key} becomes system property zookeeper.{key}, which \
                         ZooKeeper never reads; write it without the zookeeper. prefix",
                        p.line
                    ));
                } else if !is_known(key) {
                    cfg.warn(format!(
                        "line {}: unknown key {key} (kept as system property zookeeper.{key})",
                        p.line
                    ));
                }
                cfg.system_properties
                    .insert(format!("zookeeper.{key}"), value.to_string());
            }
        }
    }

    let sasl = &cfg.quorum_sasl;
    if !sasl.enable_sasl && sasl.server_require_sasl {
        return Err(ConfigError::Invalid(
            "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.serverRequireSasl"
                .into(),
        ));
    }
    if !sasl.enable_sasl && sasl.learner_require_sasl {
        return Err(ConfigError::Invalid(
            "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.learnerRequireSasl"
                .into(),
        ));
    }
    if !sasl.learner_require_sasl && sasl.server_require_sasl {
        return Err(ConfigError::Invalid(
            "quorum.auth.learnerRequireSasl is disabled, so cannot enable quorum.auth.serverRequireSasl"
                .into(),
        ));
    }
    if cfg.autopurge_snap_retain_count < 3 {
        let n = cfg.autopurge_snap_retain_count;
        cfg.warn(format!(
            "Invalid autopurge.snapRetainCount: {n}. Defaulting to 3"
        ));
        cfg.autopurge_snap_retain_count = 3;
    }
    let Some(data_dir) = data_dir else {
        return Err(ConfigError::Invalid("dataDir is not set".into()));
    };
    cfg.data_log_dir = data_log_dir.unwrap_or_else(|| data_dir.clone());
    cfg.data_dir = data_dir;
    if cfg.client_port.is_none() && cfg.client_port_address.is_some() {
        return Err(ConfigError::Invalid(
            "clientPortAddress is set but clientPort is not set".into(),
        ));
    }
    if cfg.secure_client_port.is_none() && cfg.secure_client_port_address.is_some() {
        return Err(ConfigError::Invalid(
            "secureClientPortAddress is set but secureClientPort is not set".into(),
        ));
    }
    if cfg.effective_min_session_timeout() > cfg.effective_max_session_timeout() {
        return Err(ConfigError::Invalid(format!(
            "minSessionTimeout must not be larger than maxSessionTimeout ({} > {})",
            cfg.effective_min_session_timeout(),
            cfg.effective_max_session_timeout()
        )));
    }
    cfg.refresh_system_settings();
    if !has_dynamic_file {
        for (key, value, line) in membership {
            cfg.add_membership_entry(&key, &value, Some(line))?;
        }
        cfg.check_membership()?;
    }
    if cfg.client_port.is_none() && !cfg.is_distributed() {
        cfg.warn("clientPort is not set: this server will not accept client connections");
    }
    Ok(cfg)
}

impl Config {
    /// Apply one `server.N` / `group.*` / `weight.*` entry.
    fn add_membership_entry(
        &mut self,
        key: &str,
        value: &str,
        line: Option<usize>,
    ) -> Result<(), ConfigError> {
        let err = |msg: String| ConfigError::InvalidValue {
            line,
            key: key.to_string(),
            value: value.to_string(),
            msg,
        };
        if let Some(id) = key.strip_prefix("server.") {
            let id: i64 = id
                .parse()
                .map_err(|_| err(format!("server id {id:?} is not a number")))?;
            let multi = self.multi_address_enabled
                || self
                    .system_property("zookeeper.multiAddress.enabled")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let qs = QuorumServer::parse(id, value, multi).map_err(err)?;
            if qs.secure_client_addr.is_some() {
                self.warn(format!("{key}: secure client address is not supported"));
            }
            self.servers.insert(id, qs);
        } else {
            // A member counting votes by plain majority beside members that weigh them
            // (QuorumHierarchical) could take a set for a quorum the others do not, and
            // the ensemble could elect two leaders: refused, not warned.
            return Err(err(
                "hierarchical quorums (group.N / weight.N) are not supported by ferrokeeper: \
                 this member would count votes by plain majority while the others weigh \
                 them; remove the keys from every member or keep Java on this node"
                    .into(),
            ));
        }
        Ok(())
    }

    /// `parseDynamicConfig`'s membership checks.
    fn check_membership(&mut self) -> Result<(), ConfigError> {
        let voters = self.voting_members().count();
        let observers = self.observers().count();
        if voters == 0 {
            if !self.standalone_enabled {
                return Err(ConfigError::Invalid(
                    "standaloneEnabled = false then number of participants should be >0".into(),
                ));
            }
            if observers > 0 {
                return Err(ConfigError::Invalid(
                    "Observers w/o participants is an invalid configuration".into(),
                ));
            }
        } else if voters == 1 && self.standalone_enabled {
            self.warn("Invalid configuration, only one server specified (ignoring)");
            if observers > 0 {
                return Err(ConfigError::Invalid(
                    "Observers w/o quorum is an invalid configuration".into(),
                ));
            }
        } else if voters <= 2 {
            self.warn("No server failure will be tolerated. You need at least 3 servers.");
        } else if voters.is_multiple_of(2) {
            self.warn("Non-optimal configuration, consider an odd number of servers.");
        }
        self.check_address_clashes()
    }

    /// Two members declaring the same quorum, election or client address (a copy-paste
    /// slip in the servers list): Java's `QuorumServer.checkAddressDuplicate`, which Java
    /// runs only on reconfig — a static file with such a clash starts there and fails
    /// later, when one of the two cannot bind or the other's peers reach the wrong
    /// member. Wildcard hosts are left out, as Java does.
    fn check_address_clashes(&self) -> Result<(), ConfigError> {
        let addrs = |qs: &QuorumServer| -> Vec<(String, u16)> {
            let mut v: Vec<(String, u16)> = Vec::new();
            for a in &qs.addrs {
                v.push((a.host.clone(), a.quorum_port));
                v.push((a.host.clone(), a.election_port));
            }
            if let Some(c) = &qs.client_addr {
                v.push((c.host.clone(), c.port));
            }
            v.retain(|(h, _)| !is_wildcard_host(h));
            v
        };
        let servers: Vec<(i64, Vec<(String, u16)>)> =
            self.servers.values().map(|qs| (qs.id, addrs(qs))).collect();
        for (i, (id, mine)) in servers.iter().enumerate() {
            for (other_id, theirs) in &servers[i + 1..] {
                if let Some((h, p)) = mine.iter().find(|a| theirs.contains(a)) {
                    return Err(ConfigError::Invalid(format!(
                        "{h}:{p} of server.{other_id} conflicts {h}:{p} of server.{id}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Load the membership from a dynamic config file's text (`server.N`, `group`,
    /// `weight` keys only). `file_name` supplies the version: `zoo.cfg.dynamic.100000000`
    /// → `0x100000000`.
    pub fn apply_dynamic_config(&mut self, text: &str, file_name: &str) -> Result<(), ConfigError> {
        let props = parse_properties(text).map_err(|e| ConfigError::Syntax {
            line: e.line,
            msg: e.msg,
        })?;
        self.servers.clear();
        for p in dedupe(props, self) {
            let key = java_trim(&p.key);
            let value = java_trim(&p.value);
            if key == "version" {
                return Err(ConfigError::Invalid(format!(
                    "{file_name}: dynamic file shouldn't have version inside"
                )));
            }
            if !is_membership_key(key) {
                return Err(ConfigError::Invalid(format!(
                    "{file_name} line {}: Unrecognised parameter: {key}",
                    p.line
                )));
            }
            self.add_membership_entry(key, value, Some(p.line))?;
        }
        self.config_version = file_name
            .rsplit_once('.')
            .and_then(|(_, hex)| i64::from_str_radix(hex, 16).ok());
        self.check_membership()
    }

    /// Apply the server id read from `myid` (`None` = no file) and run the checks Java
    /// runs once it is known: this server's `server.N` client address overrides
    /// clientPort/clientPortAddress (conflicting values are an error), `peerType` follows
    /// the servers list (with a warning if it differed), and a quorum configuration needs
    /// initLimit, syncLimit and a myid.
    pub fn apply_myid(&mut self, id: Option<i64>) -> Result<(), ConfigError> {
        self.server_id = id;
        let own_client = id
            .and_then(|id| self.servers.get(&id))
            .and_then(|qs| qs.client_addr.clone());
        if let Some(ca) = own_client {
            if let Some(port) = self.client_port {
                let host = self.client_port_address.as_deref();
                let any = matches!(host, None | Some("0.0.0.0") | Some("::") | Some("[::]"));
                if port != ca.port || (!any && host != Some(&ca.host)) {
                    return Err(ConfigError::Invalid(format!(
                        "client address for this server (id = {}) in static config file is \
                         {}:{port} is different from client address found in dynamic file: {ca}",
                        id.unwrap_or_default(),
                        host.unwrap_or("0.0.0.0"),
                    )));
                }
            }
            self.client_port = Some(ca.port);
            self.client_port_address = Some(ca.host);
        }
        let by_list = match id.and_then(|id| self.servers.get(&id)) {
            Some(qs) if qs.peer_type == PeerType::Observer => PeerType::Observer,
            _ => PeerType::Participant,
        };
        if by_list != self.peer_type {
            self.warn(format!(
                "Peer type from servers list ({}) doesn't match peerType ({}). Defaulting to \
                 servers list.",
                by_list.as_str(),
                self.peer_type.as_str()
            ));
            self.peer_type = by_list;
        }
        // This member's client port on one of its own quorum or election addresses: the
        // second listener never binds (Java starts and then fails at that bind).
        if let (Some(port), Some(qs)) = (self.client_port, id.and_then(|id| self.servers.get(&id)))
        {
            let host = self.client_port_address.as_deref().unwrap_or("0.0.0.0");
            for a in &qs.addrs {
                let same_host =
                    is_wildcard_host(host) || is_wildcard_host(&a.host) || host == a.host;
                for (what, p) in [("quorum", a.quorum_port), ("election", a.election_port)] {
                    if p == port && same_host {
                        return Err(ConfigError::Invalid(format!(
                            "clientPort {port} is also the {what} port of server.{} ({}:{p}): \
                             the two listeners cannot both bind",
                            qs.id, a.host
                        )));
                    }
                }
            }
        }
        if self.is_distributed() {
            if self.init_limit == 0 {
                return Err(ConfigError::Invalid("initLimit is not set".into()));
            }
            if self.sync_limit == 0 {
                return Err(ConfigError::Invalid("syncLimit is not set".into()));
            }
            if self.server_id.is_none() {
                return Err(ConfigError::Invalid("myid file is missing".into()));
            }
        }
        Ok(())
    }
}
