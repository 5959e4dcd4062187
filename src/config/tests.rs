//! Tests of zoo.cfg parsing: the Debian sample, every key, errors with line numbers,
//! whitelist rules, timeout defaults, server.N forms, system properties, files.

use super::*;
use std::path::PathBuf;

/// /etc/zookeeper/conf/zoo.cfg as shipped by Debian's zookeeper package (3.8).
const DEBIAN_ZOO_CFG: &str = "\
# The number of milliseconds of each tick
tickTime=2000
# The number of ticks that the initial 
# synchronization phase can take
initLimit=10
# The number of ticks that can pass between 
# sending a request and getting an acknowledgement
syncLimit=5
# the directory where the snapshot is stored.
# do not use /tmp for storage, /tmp here is just 
# example sakes.
dataDir=/tmp/zookeeper
# the port at which the clients will connect
clientPort=2181
# the maximum number of client connections.
# increase this if you need to handle more clients
#maxClientCnxns=60
#
# Be sure to read the maintenance section of the 
# administrator guide before turning on autopurge.
#
# https://zookeeper.apache.org/doc/current/zookeeperAdmin.html#sc_maintenance
#
# The number of snapshots to retain in dataDir
#autopurge.snapRetainCount=3
# Purge task interval in hours
# Set to \"0\" to disable auto purge feature
#autopurge.purgeInterval=1

## Metrics Providers
#
# https://prometheus.io Metrics Exporter
#metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
#metricsProvider.httpHost=0.0.0.0
#metricsProvider.httpPort=7000
#metricsProvider.exportJvmInfo=true
";

fn parse(text: &str) -> Config {
    Config::parse_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> ConfigError {
    Config::parse_str(text).expect_err("expected an error")
}

fn err_line(text: &str) -> Option<usize> {
    match err(text) {
        ConfigError::InvalidValue { line, .. } => line,
        ConfigError::Syntax { line, .. } => Some(line),
        _ => None,
    }
}

#[test]
fn debian_sample() {
    let c = parse(DEBIAN_ZOO_CFG);
    assert_eq!(c.tick_time, 2000);
    assert_eq!(c.init_limit, 10);
    assert_eq!(c.sync_limit, 5);
    assert_eq!(c.data_dir, PathBuf::from("/tmp/zookeeper"));
    assert_eq!(c.data_log_dir, PathBuf::from("/tmp/zookeeper"));
    assert_eq!(c.client_port, Some(2181));
    assert_eq!(c.client_listen(), Some((None, 2181)));
    assert_eq!(c.max_client_cnxns, 60);
    assert_eq!(c.autopurge_snap_retain_count, 3);
    assert!(!c.autopurge_enabled());
    assert_eq!(c.metrics_provider_class_name, DEFAULT_METRICS_PROVIDER);
    assert_eq!(c.effective_min_session_timeout(), 4000);
    assert_eq!(c.effective_max_session_timeout(), 40000);
    assert!(!c.is_distributed());
    assert!(c.is_4lw_allowed("srvr"));
    assert!(!c.is_4lw_allowed("ruok"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.system_properties.is_empty());
}

#[test]
fn java_defaults() {
    let c = parse("dataDir=/d");
    assert_eq!(c.tick_time, 3000);
    assert_eq!(c.client_port, None);
    assert_eq!(c.min_session_timeout, -1);
    assert_eq!(c.effective_min_session_timeout(), 6000);
    assert_eq!(c.effective_max_session_timeout(), 60000);
    assert_eq!(c.election_alg, 3);
    assert!(c.standalone_enabled && !c.reconfig_enabled && c.sync_enabled);
    assert!(!c.local_sessions_enabled && !c.local_sessions_upgrading_enabled);
    assert_eq!(c.jute_max_buffer, 0xfffff);
    assert_eq!(c.jute_max_buffer_extra_size, 0xfffff);
    assert!(!c.extended_types_enabled);
    assert_eq!(c.container_check_interval_ms, 60000);
    assert_eq!(c.container_max_per_minute, 10000);
    assert_eq!(c.container_max_never_used_interval_ms, 0);
    assert_eq!(c.super_digest, None);
    assert!(!c.skip_acl && !c.enforce_quota);
    assert_eq!(c.snap_count, 100_000);
    assert_eq!(c.pre_alloc_size_kb, 65536);
    assert_eq!(c.pre_alloc_size_bytes(), 64 * 1024 * 1024);
    assert!(c.force_sync);
    assert_eq!(c.fsync_warning_threshold_ms, 1000);
    assert!(c.digest_enabled && c.close_session_txn_enabled);
    assert_eq!(c.global_outstanding_limit, 1000);
    assert_eq!(c.max_cnxns, 0);
    assert!(c.admin.enable_server);
    assert_eq!(c.admin.server_address, "0.0.0.0");
    assert_eq!(c.admin.server_port, 8080);
    assert_eq!(c.admin.command_url, "/commands");
    assert_eq!(c.admin.idle_timeout_ms, 30000);
    assert_eq!(c.quorum_cnxn_threads_size, 20);
    assert_eq!(c.peer_type, PeerType::Participant);
    // clientPort not set is legal (Java logs it) but worth a warning
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("clientPort is not set"))
    );
}

#[test]
fn every_typed_key() {
    let c = parse(
        "dataDir=/data\n\
         dataLogDir=/log\n\
         clientPort=2281\n\
         clientPortAddress=10.0.0.1\n\
         clientPortListenBacklog=50\n\
         tickTime=1000\n\
         initLimit=7\n\
         syncLimit=3\n\
         connectToLearnerMasterLimit=9\n\
         maxClientCnxns=0\n\
         minSessionTimeout=500\n\
         maxSessionTimeout=90000\n\
         localSessionsEnabled=TRUE\n\
         localSessionsUpgradingEnabled=true\n\
         electionAlg=3\n\
         quorumListenOnAllIPs=true\n\
         peerType=Observer\n\
         syncEnabled=false\n\
         autopurge.snapRetainCount=5\n\
         autopurge.purgeInterval=24\n\
         standaloneEnabled=true\n\
         reconfigEnabled=true\n\
         observerMasterPort=2191\n\
         multiAddress.enabled=true\n\
         multiAddress.reachabilityCheckEnabled=false\n\
         multiAddress.reachabilityCheckTimeoutMs=250\n\
         quorum.cnxn.threads.size=4\n\
         sslQuorumReloadCertFiles=true\n\
         metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
         metricsProvider.httpPort=7000\n\
         metricsProvider.httpHost=0.0.0.0\n\
         4lw.commands.whitelist=stat, ruok ,mntr\n\
         jute.maxbuffer=4194304\n\
         extendedTypesEnabled=true\n\
         znode.container.checkIntervalMs=1000\n\
         znode.container.maxPerMinute=50\n\
         znode.container.maxNeverUsedIntervalMs=30000\n\
         DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n\
         skipACL=yes\n\
         enforceQuota=true\n\
         snapCount=5000\n\
         snapSizeLimitInKb=1024\n\
         preAllocSize=1024\n\
         forceSync=no\n\
         fsync.warningthresholdms=50\n\
         digest.enabled=false\n\
         closeSessionTxn.enabled=false\n\
         globalOutstandingLimit=10\n\
         maxCnxns=100\n",
    );
    assert_eq!(c.data_dir, PathBuf::from("/data"));
    assert_eq!(c.data_log_dir, PathBuf::from("/log"));
    assert_eq!(c.client_listen(), Some((Some("10.0.0.1"), 2281)));
    assert_eq!(c.client_port_listen_backlog, 50);
    assert_eq!(c.tick_time, 1000);
    assert_eq!((c.init_limit, c.sync_limit), (7, 3));
    assert_eq!(c.effective_connect_to_learner_master_limit(), 9);
    assert_eq!(c.max_client_cnxns, 0);
    assert_eq!(c.effective_min_session_timeout(), 500);
    assert_eq!(c.effective_max_session_timeout(), 90000);
    assert_eq!(c.negotiate_session_timeout(100), 500);
    assert_eq!(c.negotiate_session_timeout(1_000_000), 90000);
    assert_eq!(c.negotiate_session_timeout(30000), 30000);
    assert!(c.local_sessions_enabled && c.local_sessions_upgrading_enabled);
    assert!(c.quorum_listen_on_all_ips);
    assert_eq!(c.peer_type, PeerType::Observer);
    assert!(!c.sync_enabled);
    assert_eq!(c.autopurge_snap_retain_count, 5);
    assert_eq!(c.autopurge_purge_interval_ms, 24 * 3_600_000);
    assert!(c.autopurge_enabled());
    assert!(c.reconfig_enabled);
    assert_eq!(c.observer_master_port, Some(2191));
    assert!(c.multi_address_enabled && !c.multi_address_reachability_check_enabled);
    assert_eq!(c.multi_address_reachability_check_timeout_ms, 250);
    assert_eq!(c.quorum_cnxn_threads_size, 4);
    assert!(c.ssl_quorum_reload_cert_files);
    assert_eq!(c.metrics_provider_class_name, PROMETHEUS_METRICS_PROVIDER);
    assert_eq!(
        c.metrics_provider_config
            .get("httpPort")
            .map(String::as_str),
        Some("7000")
    );
    assert_eq!(
        c.metrics_provider_config
            .get("httpHost")
            .map(String::as_str),
        Some("0.0.0.0")
    );
    for w in ["stat", "ruok", "mntr", "srvr"] {
        assert!(c.is_4lw_allowed(w), "{w}");
    }
    assert!(!c.is_4lw_allowed("conf"));
    assert_eq!(c.jute_max_buffer, 4_194_304);
    assert_eq!(c.jute_max_buffer_extra_size, 4_194_304);
    assert!(c.extended_types_enabled);
    assert_eq!(c.container_check_interval_ms, 1000);
    assert_eq!(c.container_max_per_minute, 50);
    assert_eq!(c.container_max_never_used_interval_ms, 30000);
    assert_eq!(
        c.super_digest.as_deref(),
        Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
    );
    assert!(c.skip_acl && c.enforce_quota);
    assert_eq!(c.snap_count, 5000);
    assert_eq!(c.snap_size_limit_kb, 1024);
    assert_eq!(c.pre_alloc_size_bytes(), 1024 * 1024);
    assert!(!c.force_sync);
    assert_eq!(c.fsync_warning_threshold_ms, 50);
    assert!(!c.digest_enabled && !c.close_session_txn_enabled);
    assert_eq!(c.global_outstanding_limit, 10);
    assert_eq!(c.max_cnxns, 100);
    // all of those are known: no warnings but for reconfig and ObserverMaster (not built)
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("reconfigEnabled=true"),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings[1].contains("observerMasterPort"),
        "{:?}",
        c.warnings
    );
    // unknown keys land in the system properties with the zookeeper. prefix
    assert_eq!(c.system_property("zookeeper.snapCount"), Some("5000"));
    assert_eq!(c.system_property("snapCount"), Some("5000"));
    assert_eq!(c.system_property("jute.maxbuffer"), Some("4194304"));
}

#[test]
fn unsupported_features_warn_not_fail() {
    let c = parse(
        "dataDir=/d\nclientPort=2181\nsecureClientPort=2182\nssl.keyStore.location=/k\n\
         ssl.keyStore.password=p\nadmin.serverPort=9090\nadmin.enableServer=true\n\
         sslQuorum=true\nportUnification=true\nquorum.auth.enableSasl=true\n\
         jvm.pause.monitor=true\noraclePath=/o\nmetricsProvider.className=com.example.M\n\
         frobnicate=3\nzookeeper.snapCount=7\n",
    );
    let has = |s: &str| c.warnings.iter().any(|w| w.contains(s));
    // TLS exists: secureClientPort and ssl.* are no warning.
    assert!(!has("secureClientPort"));
    assert!(!has("ssl.keyStore"));
    // The AdminServer exists: its keys are no warning.
    assert!(!has("admin."));
    // TLS between members exists too.
    assert!(!has("sslQuorum"));
    assert!(!has("portUnification"));
    // Quorum SASL exists (its JAAS sections are read when the quorum starts).
    assert!(!has("quorum SASL") && !has("quorum.auth"));
    assert!(has("jvm.pause.monitor"));
    assert!(has("oraclePath"));
    assert!(has("com.example.M"));
    assert!(has("line 14: unknown key frobnicate"));
    assert!(has("zookeeper.zookeeper.snapCount"));
    assert_eq!(c.secure_client_port, Some(2182));
    assert_eq!(c.admin.server_port, 9090);
    assert_eq!(c.system_property("ssl.keyStore.location"), Some("/k"));
    assert_eq!(c.system_property("zookeeper.frobnicate"), Some("3"));
    // Java would set zookeeper.zookeeper.snapCount, which nothing reads
    assert_eq!(c.snap_count, 100_000);
}

#[test]
fn errors_carry_line_numbers() {
    assert_eq!(err_line("dataDir=/d\n\n# c\ntickTime=abc\n"), Some(4));
    assert_eq!(err_line("dataDir=/d\ntickTime=0"), Some(2));
    assert_eq!(err_line("dataDir=/d\ntickTime=-5"), Some(2));
    assert_eq!(err_line("dataDir=/d\ninitLimit=ten"), Some(2));
    assert_eq!(err_line("dataDir=/d\nclientPort=70000"), Some(2));
    assert_eq!(err_line("dataDir=/d\nclientPort=-1"), Some(2));
    assert_eq!(err_line("clientPort=21 81\ndataDir=/d"), Some(1));
    assert_eq!(err_line("dataDir=/d\nstandaloneEnabled=yes"), Some(2));
    assert_eq!(err_line("dataDir=/d\nelectionAlg=1"), Some(2));
    assert_eq!(err_line("dataDir=/d\npeerType=leader"), Some(2));
    assert_eq!(err_line("dataDir=/d\nautopurge.purgeInterval=1w"), Some(2));
    assert_eq!(err_line("dataDir=/d\nautopurge.purgeInterval="), Some(2));
    assert_eq!(err_line("dataDir=/d\nmaxClientCnxns=99999999999"), Some(2));
    assert_eq!(err_line("dataDir=/d\nserver.x=h:1:2"), Some(2));
    assert_eq!(err_line("dataDir=/d\nserver.1=h:1"), Some(2));
    assert_eq!(err_line("dataDir=/d\nversion=xyz"), Some(2));
    assert_eq!(err_line("dataDir=/d\nkey=\\uZZZZ"), Some(2));
    let e = err("dataDir=/d\n\ntickTime=abc").to_string();
    assert!(
        e.starts_with("line 3: invalid value \"abc\" for tickTime"),
        "{e}"
    );
}

#[test]
fn cross_key_errors() {
    assert!(
        err("tickTime=2000")
            .to_string()
            .contains("dataDir is not set")
    );
    assert!(
        err("dataDir=/d\nclientPortAddress=1.2.3.4")
            .to_string()
            .contains("clientPort is not set")
    );
    assert!(
        err("dataDir=/d\nsecureClientPortAddress=1.2.3.4")
            .to_string()
            .contains("secureClientPort is not set")
    );
    assert!(
        err("dataDir=/d\nminSessionTimeout=10000\nmaxSessionTimeout=5000")
            .to_string()
            .contains("minSessionTimeout must not be larger")
    );
    // -1 max with a min above 20 ticks
    assert!(Config::parse_str("dataDir=/d\ntickTime=100\nminSessionTimeout=3000").is_err());
    assert!(Config::parse_str("dataDir=/d\nquorum.auth.serverRequireSasl=true").is_err());
    assert!(Config::parse_str("dataDir=/d\nquorum.auth.learnerRequireSasl=true").is_err());
    assert!(
        Config::parse_str(
            "dataDir=/d\nquorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true"
        )
        .is_err()
    );
    assert!(Config::parse_str("dataDir=/d\nstandaloneEnabled=false").is_err());
    assert!(Config::parse_str("dataDir=/d\nserver.1=h:1:2:observer").is_err());
    assert!(
        Config::parse_str("dataDir=/d\nserver.1=a:1:2\nserver.2=b:1:2:observer").is_err(),
        "observers without quorum"
    );
    assert!(
        Config::parse_str("dataDir=/d\ndynamicConfigFile=/x\nserver.1=a:1:2")
            .unwrap_err()
            .to_string()
            .contains("separate dynamic config file")
    );
}

#[test]
fn timeouts_and_purge() {
    let c = parse("dataDir=/d\ntickTime=2000\nminSessionTimeout=-1\nmaxSessionTimeout=-1");
    assert_eq!(
        (
            c.effective_min_session_timeout(),
            c.effective_max_session_timeout()
        ),
        (4000, 40000)
    );
    let c = parse("dataDir=/d\ntickTime=2000\nmaxSessionTimeout=10000");
    assert_eq!(
        (
            c.effective_min_session_timeout(),
            c.effective_max_session_timeout()
        ),
        (4000, 10000)
    );
    let c = parse("dataDir=/d\nautopurge.snapRetainCount=1");
    assert_eq!(c.autopurge_snap_retain_count, 3);
    assert!(c.warnings.iter().any(|w| w.contains("snapRetainCount")));
    for (v, ms) in [
        ("0", 0),
        ("1", 3_600_000),
        ("90s", 90_000),
        ("30m", 1_800_000),
        ("500ms", 500),
        ("2d", 172_800_000),
        ("1H", 3_600_000),
    ] {
        let c = parse(&format!("dataDir=/d\nautopurge.purgeInterval={v}"));
        assert_eq!(c.autopurge_purge_interval_ms, ms, "{v}");
    }
    let c = parse("dataDir=/d\nconnectToLearnerMasterLimit=0\ninitLimit=12");
    assert_eq!(c.effective_connect_to_learner_master_limit(), 12);
}

#[test]
fn whitelist_via_config() {
    let c = parse("dataDir=/d\n4lw.commands.whitelist=*");
    for w in FourLetterWord::ALL {
        assert!(c.is_4lw_allowed(w.name()), "{}", w.name());
    }
    let c = parse("dataDir=/d\n4lw.commands.whitelist=");
    assert_eq!(
        c.four_letter_word_whitelist.iter().collect::<Vec<_>>(),
        vec!["srvr"]
    );
    // isro joins when read-only mode is enabled (a JVM property, so a -D flag)
    let mut c = parse("dataDir=/d\n4lw.commands.whitelist=ruok");
    assert!(!c.is_4lw_allowed("isro"));
    c.apply_system_property("readonlymode.enabled", "true");
    assert!(c.read_only_mode_enabled);
    assert!(c.is_4lw_allowed("isro") && c.is_4lw_allowed("ruok") && c.is_4lw_allowed("srvr"));
    // a -D flag for the whitelist, either spelling
    let mut c = parse("dataDir=/d");
    c.apply_system_property("zookeeper.4lw.commands.whitelist", "mntr");
    assert!(c.is_4lw_allowed("mntr"));
    let mut c = parse("dataDir=/d");
    c.apply_system_property("4lw.commands.whitelist", "conf");
    assert!(c.is_4lw_allowed("conf"));
}

#[test]
fn system_properties_either_spelling() {
    // -D flags first, zoo.cfg overrides the same name (Java order)
    let c = Config::parse_str_with_props(
        "dataDir=/d\nsnapCount=300",
        [
            ("zookeeper.snapCount", "200"),
            ("jute.maxbuffer", "2000000"),
        ],
    )
    .unwrap();
    assert_eq!(c.snap_count, 300);
    assert_eq!(c.jute_max_buffer, 2_000_000);
    // jute.maxbuffer and znode.container.* are real JVM properties: both spellings work,
    // the unprefixed one wins
    let mut c = parse("dataDir=/d\njute.maxbuffer=5000\nznode.container.checkIntervalMs=10");
    assert_eq!(c.jute_max_buffer, 5000);
    assert_eq!(c.container_check_interval_ms, 10);
    c.apply_system_property("jute.maxbuffer", "6000");
    assert_eq!(c.jute_max_buffer, 6000);
    c.apply_system_property("znode.container.maxPerMinute", "7");
    assert_eq!(c.container_max_per_minute, 7);
    // -DsnapCount and -Dzookeeper.snapCount both work
    c.apply_system_property("snapCount", "42");
    assert_eq!(c.snap_count, 42);
    assert_eq!(c.system_property("zookeeper.snapCount"), Some("42"));
    // fsync threshold: zookeeper.-prefixed first, then the bare name
    c.apply_system_property("fsync.warningthresholdms", "5");
    assert_eq!(c.fsync_warning_threshold_ms, 5);
    c.apply_system_property("zookeeper.fsync.warningthresholdms", "6");
    assert_eq!(c.fsync_warning_threshold_ms, 6);
}

#[test]
fn lenient_system_property_values() {
    let mut c = parse("dataDir=/d\nsnapCount=lots\njute.maxbuffer=-3\nsnapCount=1");
    // duplicate: last one wins, with a warning
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("duplicate key snapCount"))
    );
    assert_eq!(c.snap_count, 2);
    assert_eq!(c.jute_max_buffer, 0xfffff);
    c.apply_system_property("zookeeper.preAllocSize", "x");
    assert_eq!(c.pre_alloc_size_kb, 65536);
    assert!(c.warnings.iter().any(|w| w.contains("preAllocSize")));
    let n = c.warnings.len();
    c.apply_system_property("zookeeper.digest.enabled", "TRUE");
    assert!(c.digest_enabled);
    assert_eq!(c.warnings.len(), n, "warnings are not repeated");
    c.apply_system_property("zookeeper.skipACL", "true");
    assert!(!c.skip_acl, "skipACL needs exactly 'yes'");
    c.apply_system_property("zookeeper.tickTime", "5");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("read from zoo.cfg only"))
    );
    assert_eq!(c.tick_time, 3000);
}

#[test]
fn properties_syntax_in_config() {
    let c = parse(
        "dataDir /var/lib/zk\n  clientPort : 2181  \ntickTime\t=\t2000\n\
         4lw.commands.whitelist=stat,\\\n    ruok\n",
    );
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/zk"));
    assert_eq!(c.client_port, Some(2181));
    assert_eq!(c.tick_time, 2000);
    assert!(c.is_4lw_allowed("ruok") && c.is_4lw_allowed("stat"));
    let c = parse("dataDir=/d\nclientPort=2181\nclientPortAddress=[::1]");
    assert_eq!(c.client_listen(), Some((Some("::1"), 2181)));
    let c = parse("dataDir=/d\nlonely\n");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("line 2") && w.contains("no '='"))
    );
    let c = parse("dataDir=relative/dir");
    assert!(c.warnings.iter().any(|w| w.contains("is relative")));
    let c = parse("dataDir=./relative/dir");
    assert!(!c.warnings.iter().any(|w| w.contains("is relative")));
}

#[test]
fn server_lines() {
    let c = parse(
        "dataDir=/d\ninitLimit=5\nsyncLimit=2\nmultiAddress.enabled=true\n\
         server.1=zk1:2888:3888\n\
         server.2=zk2:2888:3888:participant;2181\n\
         server.3=[2001:db8::1]:2888:3888;[::1]:2182\n\
         server.4=10.0.0.4:2888:3888:observer;10.0.0.4:2183\n\
         server.5=a:1:2|b:3:4:participant\n\
         server.6=  zk6:2888:3888:OBSERVER  \n",
    );
    assert!(c.is_distributed());
    assert_eq!(c.voting_members().count(), 4);
    assert_eq!(c.observers().count(), 2);
    let s1 = &c.servers[&1];
    assert_eq!(
        s1.addrs,
        vec![PeerAddr {
            host: "zk1".into(),
            quorum_port: 2888,
            election_port: 3888
        }]
    );
    assert_eq!(s1.peer_type, PeerType::Participant);
    assert_eq!(s1.client_addr, None);
    assert_eq!(
        c.servers[&2].client_addr,
        Some(HostPort::new("0.0.0.0", 2181))
    );
    let s3 = &c.servers[&3];
    assert_eq!(s3.addrs[0].host, "2001:db8::1");
    assert_eq!(s3.addrs[0].quorum().to_string(), "[2001:db8::1]:2888");
    assert_eq!(s3.client_addr, Some(HostPort::new("::1", 2182)));
    let s4 = &c.servers[&4];
    assert_eq!(s4.peer_type, PeerType::Observer);
    assert_eq!(s4.client_addr, Some(HostPort::new("10.0.0.4", 2183)));
    let s5 = &c.servers[&5];
    assert_eq!(s5.addrs.len(), 2);
    assert_eq!(s5.addrs[1].election(), HostPort::new("b", 4));
    assert_eq!(c.servers[&6].peer_type, PeerType::Observer);
    assert_eq!(
        s3.to_config_string(),
        "[2001:db8::1]:2888:3888:participant;[::1]:2182"
    );
    assert_eq!(
        c.servers[&2].to_config_string(),
        "zk2:2888:3888:participant;0.0.0.0:2181"
    );
    assert_eq!(s5.to_config_string(), "a:1:2|b:3:4:participant");
    assert!(c.quorum_config_string().ends_with("\nversion=0"));
    assert!(
        c.quorum_config_string()
            .starts_with("server.1=zk1:2888:3888:participant\n")
    );
}

#[test]
fn bad_server_lines() {
    let bad = |v: &str| QuorumServer::parse(1, v, false).unwrap_err();
    assert!(bad("h:1").contains("does not have the form"));
    assert!(bad("h:1:2:3:4").contains("does not have the form"));
    assert!(bad("h:x:2").contains("not a number"));
    assert!(bad("h:2:2").contains("must be different"));
    assert!(bad("h:1:2:leader").contains("peertype"));
    assert!(bad("a:1:2|b:1:2").contains("Multiple address"));
    assert!(bad("[::1:1:2").contains("no matching"));
    assert!(bad("[::1]:").contains("port after colon"));
    assert!(bad("h:1:2;a:b:3").contains("client"));
    assert!(bad("h:1:2;99999").contains("out of range"));
    assert!(
        QuorumServer::parse(1, "a:1:2:observer|b:3:4:participant", true)
            .unwrap_err()
            .contains("roles")
    );
    // empty client part is allowed
    assert_eq!(
        QuorumServer::parse(1, "h:1:2;", false).unwrap().client_addr,
        None
    );
    // multi-address enabled by the system property too
    let c = Config::parse_str_with_props(
        "dataDir=/d\nserver.1=a:1:2|b:3:4\nserver.2=c:1:2\ninitLimit=1\nsyncLimit=1",
        [("zookeeper.multiAddress.enabled", "true")],
    )
    .unwrap();
    assert_eq!(c.servers[&1].addrs.len(), 2);
}

#[test]
fn myid_rules() {
    let text = "dataDir=/d\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n\
                server.1=a:2888:3888;2191\nserver.2=b:2888:3888\nserver.3=c:2888:3888:observer\n";
    let mut c = parse(text);
    assert!(
        c.clone()
            .apply_myid(None)
            .unwrap_err()
            .to_string()
            .contains("myid file is missing")
    );
    // static clientPort 2181 (wildcard) conflicts with server.1's ;2191
    assert!(
        c.clone()
            .apply_myid(Some(1))
            .unwrap_err()
            .to_string()
            .contains("different")
    );
    // server.2 has no client address: the static one stays
    c.apply_myid(Some(2)).unwrap();
    assert_eq!(c.client_listen(), Some((None, 2181)));
    let mut c = parse(&text.replace("clientPort=2181", "clientPort=2191"));
    c.apply_myid(Some(1)).unwrap();
    assert_eq!(c.client_listen(), Some((Some("0.0.0.0"), 2191)));
    // observer by list wins over peerType
    let mut c = parse(text);
    c.apply_myid(Some(3)).unwrap();
    assert_eq!(c.peer_type, PeerType::Observer);
    assert!(c.warnings.iter().any(|w| w.contains("Peer type")));
    // conflicting client address
    let mut c = parse(&text.replace(
        "clientPort=2181",
        "clientPort=2181\nclientPortAddress=1.2.3.4",
    ));
    assert!(c.apply_myid(Some(1)).is_err());
    // quorum needs initLimit
    let mut c = parse(&text.replace("initLimit=5", ""));
    assert!(
        c.apply_myid(Some(2))
            .unwrap_err()
            .to_string()
            .contains("initLimit")
    );
    // standalone: one voter is ignored with a warning, no myid needed
    let mut c = parse("dataDir=/d\nclientPort=2181\nserver.1=a:1:2");
    assert!(!c.is_distributed());
    assert!(c.warnings.iter().any(|w| w.contains("only one server")));
    c.apply_myid(None).unwrap();
}

#[test]
fn default_embedded_is_a_dev_server() {
    let c = Config::default_embedded();
    assert_eq!(c.client_listen(), Some((Some("127.0.0.1"), 2181)));
    assert_eq!(c.data_dir, PathBuf::from("./ferrokeeper-data"));
    assert_eq!(c.data_log_dir, c.data_dir);
    assert_eq!(c.tick_time, 2000);
    assert_eq!(c.effective_min_session_timeout(), 4000);
    assert_eq!(c.effective_max_session_timeout(), 40000);
    assert!(c.is_4lw_allowed("ruok") && c.is_4lw_allowed("mntr") && c.is_4lw_allowed("stat"));
    assert!(!c.admin.enable_server);
    assert!(!c.is_distributed());
    assert!(c.warnings.is_empty());
}

#[test]
fn load_files_myid_and_dynamic_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("myid"), "2\n").unwrap();
    let dynf = dir.path().join("zoo.cfg.dynamic.100000000");
    std::fs::write(
        &dynf,
        "server.1=a:2888:3888\nserver.2=b:2888:3888;2182\nserver.3=c:2888:3888\n",
    )
    .unwrap();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\ndynamicConfigFile={}\n",
            data.display(),
            dynf.display()
        ),
    )
    .unwrap();
    let c = Config::load(&cfg).unwrap();
    assert_eq!(c.server_id, Some(2));
    assert_eq!(c.servers.len(), 3);
    assert_eq!(c.config_version, Some(0x1_0000_0000));
    assert_eq!(c.client_port, Some(2182));
    assert!(c.is_distributed());
    assert!(c.quorum_config_string().ends_with("version=100000000"));

    // bad myid
    std::fs::write(data.join("myid"), "two\n").unwrap();
    assert!(
        Config::load(&cfg)
            .unwrap_err()
            .to_string()
            .contains("not a number")
    );
    // dynamic file with a non-membership key
    std::fs::write(data.join("myid"), "2").unwrap();
    std::fs::write(&dynf, "server.1=a:2888:3888\ntickTime=5\n").unwrap();
    assert!(
        Config::load(&cfg)
            .unwrap_err()
            .to_string()
            .contains("Unrecognised parameter")
    );
    // missing file
    assert!(matches!(
        Config::load(&dir.path().join("nope.cfg")),
        Err(ConfigError::Io { .. })
    ));
    // standalone without myid
    let solo = dir.path().join("solo.cfg");
    std::fs::write(
        &solo,
        format!("dataDir={}/other\nclientPort=2181\n", dir.path().display()),
    )
    .unwrap();
    let c = Config::load(&solo).unwrap();
    assert_eq!(c.server_id, None);
    // Latin-1 file
    std::fs::write(&solo, b"dataDir=/tmp/caf\xe9\nclientPort=2181\n").unwrap();
    assert_eq!(
        Config::load(&solo).unwrap().data_dir,
        PathBuf::from("/tmp/café")
    );
}

#[test]
fn read_myid_forms() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(read_myid(dir.path()).unwrap(), None);
    std::fs::write(dir.path().join("myid"), "17").unwrap();
    assert_eq!(read_myid(dir.path()).unwrap(), Some(17));
    std::fs::write(dir.path().join("myid"), "3\r\nignored").unwrap();
    assert_eq!(read_myid(dir.path()).unwrap(), Some(3));
    std::fs::write(dir.path().join("myid"), " 3").unwrap();
    assert!(read_myid(dir.path()).is_err());
}

#[test]
fn election_transport_properties() {
    let c = Config::parse_str("dataDir=/d").unwrap();
    assert_eq!(c.cnx_timeout_ms, 5000);
    assert_eq!(c.election_port_bind_retry, 3);
    assert_eq!(c.fle_min_notification_interval_ms, 200);
    assert_eq!(c.fle_max_notification_interval_ms, 60000);
    let c = Config::parse_str_with_props(
        "dataDir=/d\ncnxTimeout=1500\nfastleader.maxNotificationInterval=3000",
        [("zookeeper.electionPortBindRetry", "0")],
    )
    .unwrap();
    assert_eq!(c.cnx_timeout_ms, 1500);
    assert_eq!(c.election_port_bind_retry, 0);
    assert_eq!(c.fle_max_notification_interval_ms, 3000);
    assert!(!c.warnings.iter().any(|w| w.contains("cnxTimeout")));
    let c = Config::parse_str_with_props("dataDir=/d", [("zookeeper.electionPortBindRetry", "-2")])
        .unwrap();
    assert_eq!(c.election_port_bind_retry, 3);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("electionPortBindRetry"))
    );
}

#[test]
fn hierarchical_quorums_stop_the_start() {
    let base = "dataDir=/d\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n\
                server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n";
    for extra in ["group.1=1:2:3\n", "weight.1=2\n"] {
        let e = err(&format!("{base}{extra}")).to_string();
        assert!(e.contains("hierarchical quorums"), "{e}");
        assert!(e.contains("plain majority"), "{e}");
    }
    // A dynamic file holding them is refused as well.
    let mut c = parse(base);
    let e = c
        .apply_dynamic_config("server.1=a:1:2\nweight.1=3\n", "zoo.cfg.dynamic.100000000")
        .unwrap_err();
    assert!(e.to_string().contains("hierarchical quorums"), "{e}");
}

#[test]
fn reconfig_enabled_is_warned_about() {
    let c = parse("dataDir=/d\nclientPort=2181\nreconfigEnabled=true\n");
    assert!(c.reconfig_enabled);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("dynamic reconfiguration is not supported"))
    );
    let c = parse("dataDir=/d\nclientPort=2181\nreconfigEnabled=false\n");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

/// A servers list where two members share an address, or this member's client port is
/// one of its own quorum ports: refused at start (Java starts and fails at a bind).
#[test]
fn address_clashes_refused() {
    let base = "dataDir=/d\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n";
    let err = |servers: &str| {
        Config::parse_str(&format!("{base}{servers}"))
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    };
    let e = err("server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2888:3889\n");
    assert!(
        e.contains("127.0.0.1:2888 of server.2 conflicts 127.0.0.1:2888 of server.1"),
        "{e}"
    );
    // an election port reused as another's quorum port, and client addresses
    assert!(err("server.1=h:2888:3888\nserver.2=h:3888:3889\n").contains("conflicts"));
    assert!(err("server.1=h:1:2;h:2181\nserver.2=g:1:2;h:2181\n").contains("conflicts"));
    // wildcards and distinct hosts or ports are fine
    assert_eq!(
        err("server.1=0.0.0.0:2888:3888\nserver.2=0.0.0.0:2888:3888\n"),
        ""
    );
    assert_eq!(err("server.1=a:2888:3888\nserver.2=b:2888:3888\n"), "");
    assert_eq!(err("server.1=a:2888:3888\nserver.2=a:2889:3889\n"), "");

    // clientPort on this member's own quorum or election port
    let text = format!("{base}server.1=127.0.0.1:2181:3888\nserver.2=127.0.0.1:2889:3889\n");
    let mut c = parse(&text);
    let e = c.clone().apply_myid(Some(1)).unwrap_err().to_string();
    assert!(
        e.contains("clientPort 2181 is also the quorum port of server.1"),
        "{e}"
    );
    c.apply_myid(Some(2)).unwrap();
    let mut c = parse(&text.replace(
        "clientPort=2181",
        "clientPort=2181\nclientPortAddress=127.0.0.2",
    ));
    c.apply_myid(Some(1)).unwrap();
    let mut c = parse(&format!(
        "{base}server.1=127.0.0.1:2888:2181\nserver.2=127.0.0.1:2889:3889\n"
    ));
    let e = c.apply_myid(Some(1)).unwrap_err().to_string();
    assert!(e.contains("election port of server.1"), "{e}");
}
