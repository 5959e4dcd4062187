//! TLS for client connections, configured by the `ssl.*` keys Java's ClientX509Util reads
//! (zoo.cfg keys become `zookeeper.ssl.*` system properties; `-D` flags work too), and the
//! x509 auth scheme of Java's X509AuthenticationProvider.
//!
//! Owns: turning those settings into a rustls server configuration (protocols, cipher
//! suites by their Java names, client-certificate policy need/want/none), reloading it
//! when `zookeeper.client.certReload` is on and the store files change, and the auth ids a
//! verified client certificate earns (`x509:<subject>`, plus `super:` for
//! `zookeeper.X509AuthenticationProvider.superUser`).
//! Must never: do socket I/O (the connection code drives handshakes), or let a failed
//! reload replace a working configuration.

pub mod jks;
pub mod keystore;
pub mod quorum;
pub mod x500;

use crate::config::Config;
use crate::jute::records::Id;
use keystore::StoreSpec;
use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::CertificateDer;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Netty's default TLS handshake timeout (Java's server uses it for its secure port).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often store files are checked for changes when reloading is on.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);
/// Where Debian keeps the system CA bundle (Java's default trust store stands in for it
/// when `ssl.trustStore.location` is unset).
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `ssl.clientAuth`: whether a client certificate is asked for (default NEED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Want,
    Need,
}

/// Everything the `ssl.*` keys say, before any file is read.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    pub key_store: Option<StoreSpec>,
    pub trust_store: Option<StoreSpec>,
    pub client_auth: ClientAuth,
    /// `ssl.protocol` (default TLSv1.3, as Java 11+).
    pub protocol: String,
    /// `ssl.enabledProtocols` (default: TLSv1.3 and TLSv1.2 for TLSv1.3, else the protocol).
    pub enabled_protocols: Option<Vec<String>>,
    /// `ssl.ciphersuites` by their Java (IANA) names (default: Java's list).
    pub cipher_suites: Option<Vec<String>>,
    /// `zookeeper.client.certReload`.
    pub cert_reload: bool,
    /// The x509 scheme has a provider (an `authProvider.N` line, or a secureClientPort:
    /// `server::settings::auth_providers`, the one place that decides it).
    pub x509_registered: bool,
    /// `ssl.authProvider` (the scheme whose provider verifies client certificates).
    pub auth_provider: String,
    /// `zookeeper.X509AuthenticationProvider.superUser`.
    pub x509_super_user: Option<String>,
    /// The key prefix these came from (`ssl.` or `ssl.quorum.`), for messages.
    pub prefix: &'static str,
}

/// Java's default cipher suites (X509Util.DEFAULT_CIPHERS_JAVA9: GCM, CBC, TLSv1.3), of
/// which rustls has the GCM and TLSv1.3 ones.
const JAVA_DEFAULT_CIPHERS: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
];

impl TlsOptions {
    /// Read the `ssl.*` keys; `Ok(None)` when no TLS port is asked for.
    /// `x509_registered`: the provider registry has the x509 scheme
    /// (`server::settings::auth_providers`).
    pub fn from_config(
        c: &Config,
        port_unification: bool,
        x509_registered: bool,
    ) -> Result<Option<TlsOptions>, String> {
        if c.secure_client_port.is_none() && !port_unification {
            return Ok(None);
        }
        Self::read(c, "ssl.").map(|o| {
            Some(TlsOptions {
                x509_registered,
                ..o
            })
        })
    }

    /// The AdminServer's HTTPS (`admin.forceHttps` / `admin.portUnification`): Java's
    /// JettyAdminServer takes the quorum's stores (`ssl.quorum.keyStore.*` and
    /// `ssl.quorum.trustStore.*`: location, password, passwordPath, type) and asks for a
    /// client certificate only with `admin.needClientAuth`. Nothing else of
    /// `ssl.quorum.*` reaches its Jetty SslContextFactory, so protocols and cipher suites
    /// are the defaults, there is no reload and no x509 auth id.
    pub fn for_admin(c: &Config) -> Result<Option<TlsOptions>, String> {
        let on = |k: &str| {
            c.system_property(k)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        };
        if !on("admin.forceHttps") && !on("admin.portUnification") {
            return Ok(None);
        }
        // The stores only: no other ssl.quorum.* key is read (a bad clientAuth there is
        // no concern of the AdminServer's, as in Java).
        Ok(Some(TlsOptions {
            key_store: store_spec(c, "ssl.quorum.", "keyStore")?,
            trust_store: store_spec(c, "ssl.quorum.", "trustStore")?,
            client_auth: if on("admin.needClientAuth") {
                ClientAuth::Need
            } else {
                ClientAuth::None
            },
            protocol: "TLSv1.3".into(),
            enabled_protocols: None,
            cipher_suites: None,
            cert_reload: false,
            x509_registered: false,
            auth_provider: "x509".into(),
            x509_super_user: None,
            prefix: "ssl.quorum.",
        }))
    }

    /// The keys under `prefix` (`ssl.` for clients, `ssl.quorum.` for members).
    pub(crate) fn read(c: &Config, prefix: &'static str) -> Result<TlsOptions, String> {
        let prop = |k: &str| {
            c.system_property(&format!("{prefix}{k}"))
                .map(str::to_string)
        };
        let store = |name: &str| store_spec(c, prefix, name);
        // Java turns on the JDK's revocation checking (CRL distribution points, OCSP);
        // ferrokeeper has none, and running without it would accept revoked certificates
        // the operator meant to keep out.
        for (key, what) in [("crl", "CRL"), ("ocsp", "OCSP")] {
            if prop(key).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
                return Err(format!(
                    "{prefix}{key}=true asks for {what} certificate revocation checking, \
                     which ferrokeeper does not do; remove the key to run without it (a \
                     revoked certificate would then be accepted)"
                ));
            }
        }
        let client_auth = match prop("clientAuth").map(|s| s.to_ascii_uppercase()) {
            None => ClientAuth::Need,
            Some(s) if s.is_empty() || s == "NEED" => ClientAuth::Need,
            Some(s) if s == "WANT" => ClientAuth::Want,
            Some(s) if s == "NONE" => ClientAuth::None,
            Some(s) => {
                return Err(format!(
                    "{prefix}clientAuth must be NEED, WANT or NONE, not {s}"
                ));
            }
        };
        let list = |k: &str| {
            prop(k).map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
        };
        Ok(TlsOptions {
            key_store: store("keyStore")?,
            trust_store: store("trustStore")?,
            client_auth,
            protocol: prop("protocol").unwrap_or_else(|| "TLSv1.3".into()),
            enabled_protocols: list("enabledProtocols"),
            cipher_suites: list("ciphersuites"),
            cert_reload: c
                .system_property("client.certReload")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            // The client port's caller sets it (`from_config`).
            x509_registered: false,
            auth_provider: prop("authProvider").unwrap_or_else(|| "x509".into()),
            x509_super_user: x509_super_user(c),
            prefix,
        })
    }

    /// The files whose change triggers a reload.
    pub(crate) fn watched_files(&self) -> Vec<PathBuf> {
        [&self.key_store, &self.trust_store]
            .into_iter()
            .flatten()
            .map(|s| s.location.clone())
            .collect()
    }
}

/// A key or trust store's keys (`<prefix><name>.location/password/passwordPath/type`);
/// None without a location.
fn store_spec(c: &Config, prefix: &str, name: &str) -> Result<Option<StoreSpec>, String> {
    let prop = |k: &str| {
        c.system_property(&format!("{prefix}{name}.{k}"))
            .map(str::to_string)
    };
    let Some(loc) = prop("location").filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let mut password = prop("password").unwrap_or_default();
    if let Some(path) = prop("passwordPath").filter(|p| !p.is_empty()) {
        password = read_secret(&path)?;
    }
    Ok(Some(StoreSpec {
        location: PathBuf::from(loc),
        password,
        declared_type: prop("type"),
    }))
}

/// SecretUtils.readSecret: the file's text without one trailing line break.
fn read_secret(path: &str) -> Result<String, String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("password file {path}: {e}"))?;
    let s = s.strip_suffix('\n').unwrap_or(&s);
    Ok(s.strip_suffix('\r').unwrap_or(s).to_string())
}

/// The TLS side of the server: the current rustls configuration and the x509 policy.
#[derive(Debug)]
pub struct TlsServer {
    pub options: TlsOptions,
    config: RwLock<Arc<ServerConfig>>,
    /// The modification times the current configuration was built from.
    stamps: parking_lot::Mutex<Vec<Option<SystemTime>>>,
}

impl TlsServer {
    /// Load the stores and build the configuration: any error stops the server's start.
    pub fn new(options: TlsOptions) -> Result<TlsServer, String> {
        if options.auth_provider != "x509" {
            return Err(format!(
                "ssl.authProvider={}: only the x509 provider is supported",
                options.auth_provider
            ));
        }
        let stamps = stamps(&options.watched_files());
        let config = build(&options)?;
        Ok(TlsServer {
            options,
            config: RwLock::new(Arc::new(config)),
            stamps: parking_lot::Mutex::new(stamps),
        })
    }

    /// The configuration for the next handshake.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.read().clone()
    }

    /// Rebuild if a store file changed (certReload); a failed rebuild keeps the old
    /// configuration. Returns whether a new one is in use.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.options.watched_files());
        {
            let mut old = self.stamps.lock();
            if *old == now {
                return false;
            }
            *old = now;
        }
        match build(&self.options) {
            Ok(c) => {
                *self.config.write() = Arc::new(c);
                tracing::info!("TLS key/trust stores changed: new certificates in use");
                true
            }
            Err(e) => {
                tracing::error!(
                    "TLS key/trust stores changed but cannot be loaded: {e}; keeping the previous ones"
                );
                false
            }
        }
    }

    /// The ids a handshake's client certificate chain earns, as Java's
    /// CertificateVerifier + X509AuthenticationProvider: `Ok(vec![])` when no
    /// certificate was asked for or (WANT) none came; `Err` = close the connection.
    pub fn client_ids(&self, chain: Option<&[CertificateDer<'_>]>) -> Result<Vec<Id>, String> {
        if self.options.client_auth == ClientAuth::None {
            return Ok(Vec::new());
        }
        let Some(leaf) = chain.and_then(|c| c.first()) else {
            return match self.options.client_auth {
                ClientAuth::Need => Err("no client certificate".into()),
                _ => Ok(Vec::new()),
            };
        };
        if !self.options.x509_registered {
            return Err(format!(
                "X509 Auth provider not found: {}",
                self.options.auth_provider
            ));
        }
        // The chain was verified against the trust store during the handshake.
        let subject = x500::subject_of_cert(leaf)?;
        Ok(x509_ids(subject, self.options.x509_super_user.as_deref()))
    }
}

pub(crate) fn stamps(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

/// Java's X509AuthenticationProvider where no handshake of the client port verified the
/// chain: the AdminServer's command auth (its handshake used the quorum's stores). As
/// Java, the chain is checked against the client trust store (`ssl.trustStore.*`; none
/// configured: no ids), then earns `x509:<subject>`, and `super:` first for
/// `zookeeper.X509AuthenticationProvider.superUser`.
#[derive(Debug)]
pub struct X509Provider {
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    super_user: Option<String>,
}

impl X509Provider {
    /// None without a client trust store (Java's provider then has no trust manager
    /// and authenticates nobody).
    pub fn from_config(c: &Config) -> Result<Option<X509Provider>, String> {
        let Some(store) = store_spec(c, "ssl.", "trustStore")? else {
            return Ok(None);
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(trust_anchors_of(Some(&store))?);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| format!("x509 certificate verifier: {e}"))?;
        Ok(Some(X509Provider {
            verifier,
            super_user: x509_super_user(c),
        }))
    }

    /// The ids `chain` (leaf first) earns: none unless it chains to the trust store.
    pub fn ids(&self, chain: &[CertificateDer<'_>]) -> Vec<Id> {
        let Some((leaf, rest)) = chain.split_first() else {
            return Vec::new();
        };
        let now = rustls_pki_types::UnixTime::now();
        if let Err(e) = self.verifier.verify_client_cert(leaf, rest, now) {
            tracing::warn!("x509: client certificate not trusted: {e}");
            return Vec::new();
        }
        let Ok(subject) = x500::subject_of_cert(leaf) else {
            return Vec::new();
        };
        x509_ids(subject, self.super_user.as_deref())
    }
}

/// `zookeeper.X509AuthenticationProvider.superUser`: the subject that also gets `super`.
fn x509_super_user(c: &Config) -> Option<String> {
    c.system_properties
        .get("zookeeper.X509AuthenticationProvider.superUser")
        .cloned()
}

/// X509AuthenticationProvider's ids for a trusted certificate's subject: `super:` first
/// when it is `zookeeper.X509AuthenticationProvider.superUser`, then `x509:<subject>`.
fn x509_ids(subject: String, super_user: Option<&str>) -> Vec<Id> {
    let mut ids = Vec::with_capacity(2);
    if super_user == Some(subject.as_str()) {
        ids.push(Id {
            scheme: "super".into(),
            id: subject.clone(),
        });
    }
    ids.push(Id {
        scheme: "x509".into(),
        id: subject,
    });
    ids
}

/// The rustls configuration the options describe.
fn build(o: &TlsOptions) -> Result<ServerConfig, String> {
    let identity = identity(o)?;
    let (provider, versions) = crypto_for(o)?;
    let verifier = match o.client_auth {
        ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
        auth => {
            let b = WebPkiClientVerifier::builder_with_provider(
                Arc::new(trust_anchors(o)?),
                provider.clone(),
            );
            let b = if auth == ClientAuth::Want {
                b.allow_unauthenticated()
            } else {
                b
            };
            b.build()
                .map_err(|e| format!("client certificate verifier: {e}"))?
        }
    };
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS protocols: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain, identity.key)
        .map_err(|e| format!("server key and certificate: {e}"))?;
    // Java's clients never resume with tickets; one less secret to rotate.
    cfg.send_tls13_tickets = 0;
    Ok(cfg)
}

/// This side's key and certificate chain (`*.keyStore.*`).
fn identity(o: &TlsOptions) -> Result<keystore::KeyMaterial, String> {
    let Some(ks) = &o.key_store else {
        return Err(format!(
            "{}keyStore.location is not set: TLS needs this server's key",
            o.prefix
        ));
    };
    keystore::load_key_store(ks)
}

/// The crypto provider (cipher suites as `*.ciphersuites` says) and TLS versions.
fn crypto_for(
    o: &TlsOptions,
) -> Result<
    (
        Arc<CryptoProvider>,
        Vec<&'static rustls::SupportedProtocolVersion>,
    ),
    String,
> {
    let base = rustls::crypto::ring::default_provider();
    let suites = cipher_suites(&base.cipher_suites, o.cipher_suites.as_deref())?;
    let versions = protocol_versions(o)?;
    // A suite of a version that is not enabled would leave rustls nothing to offer.
    let usable: Vec<SupportedCipherSuite> = suites
        .into_iter()
        .filter(|s| versions.iter().any(|v| v.version == s.version().version))
        .collect();
    if usable.is_empty() {
        return Err(format!(
            "no cipher suite of {0}ciphersuites fits {0}enabledProtocols",
            o.prefix
        ));
    }
    let provider = Arc::new(CryptoProvider {
        cipher_suites: usable,
        ..base
    });
    Ok((provider, versions))
}

/// The certificates a peer's chain must end in (`*.trustStore.*`, else the system's).
fn trust_anchors(o: &TlsOptions) -> Result<RootCertStore, String> {
    trust_anchors_of(o.trust_store.as_ref())
}

fn trust_anchors_of(trust_store: Option<&StoreSpec>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let anchors = match trust_store {
        Some(ts) => keystore::load_trust_store(ts)?,
        None => system_roots()?,
    };
    for c in anchors {
        roots
            .add(c)
            .map_err(|e| format!("trust store certificate refused: {e}"))?;
    }
    Ok(roots)
}

/// The trust anchors when no trust store is set (Java: the JVM's cacerts).
fn system_roots() -> Result<Vec<CertificateDer<'static>>, String> {
    let path = std::env::var("SSL_CERT_FILE").unwrap_or_else(|_| SYSTEM_CA_BUNDLE.into());
    keystore::load_trust_store(&StoreSpec {
        location: PathBuf::from(&path),
        password: String::new(),
        declared_type: Some("PEM".into()),
    })
    .map_err(|e| format!("ssl.trustStore.location is not set and the system CA bundle failed: {e}"))
}

/// `ssl.protocol` + `ssl.enabledProtocols` → the TLS versions rustls offers.
fn protocol_versions(
    o: &TlsOptions,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let names = match &o.enabled_protocols {
        Some(list) => list.clone(),
        None if o.protocol == "TLSv1.3" || o.protocol == "TLS" => {
            vec!["TLSv1.3".into(), "TLSv1.2".into()]
        }
        None => vec![o.protocol.clone()],
    };
    let mut out = Vec::new();
    for n in &names {
        match n.as_str() {
            "TLSv1.3" => out.push(&rustls::version::TLS13),
            "TLSv1.2" => out.push(&rustls::version::TLS12),
            "TLSv1.1" | "TLSv1" | "SSLv3" => {
                tracing::warn!("TLS protocol {n} is obsolete and not offered")
            }
            _ => return Err(format!("unknown TLS protocol {n:?}")),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "none of the TLS protocols {names:?} is supported (TLSv1.2, TLSv1.3)"
        ));
    }
    Ok(out)
}

/// Java (IANA) cipher-suite names → rustls suites, in the listed order. Unknown or
/// unsupported names are skipped with a warning, as Java filters unsupported ones.
fn cipher_suites(
    all: &[SupportedCipherSuite],
    names: Option<&[String]>,
) -> Result<Vec<SupportedCipherSuite>, String> {
    let names: Vec<&str> = match names {
        Some(n) => n.iter().map(String::as_str).collect(),
        None => JAVA_DEFAULT_CIPHERS.to_vec(),
    };
    let mut out = Vec::new();
    for n in &names {
        match all.iter().find(|s| suite_name(s).as_deref() == Some(*n)) {
            Some(s) if !out.contains(s) => out.push(*s),
            Some(_) => {}
            None => tracing::warn!("cipher suite {n} is not supported; skipped"),
        }
    }
    if out.is_empty() {
        return Err(format!("none of the cipher suites {names:?} is supported"));
    }
    Ok(out)
}

/// A rustls suite under its IANA name (rustls spells TLS 1.3 ones TLS13_...).
pub(crate) fn suite_name(s: &SupportedCipherSuite) -> Option<String> {
    let n = s.suite().as_str()?;
    Some(n.replacen("TLS13_", "TLS_", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider_suites() -> Vec<SupportedCipherSuite> {
        rustls::crypto::ring::default_provider().cipher_suites
    }

    #[test]
    fn java_names_map_to_rustls_suites_in_order() {
        let all = provider_suites();
        let got = cipher_suites(
            &all,
            Some(&[
                "TLS_AES_128_GCM_SHA256".into(),
                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA".into(),
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into(),
            ]),
        )
        .unwrap();
        let names: Vec<_> = got.iter().map(|s| suite_name(s).unwrap()).collect();
        assert_eq!(
            names,
            [
                "TLS_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ]
        );
        assert!(cipher_suites(&all, Some(&["TLS_RSA_WITH_NULL_MD5".into()])).is_err());
        // Java's default list keeps what rustls has: 4 TLS 1.2 GCM + 3 TLS 1.3.
        assert_eq!(cipher_suites(&all, None).unwrap().len(), 7);
    }

    fn opts(protocol: &str, enabled: Option<&[&str]>) -> TlsOptions {
        TlsOptions {
            key_store: None,
            trust_store: None,
            client_auth: ClientAuth::Need,
            protocol: protocol.into(),
            enabled_protocols: enabled.map(|l| l.iter().map(|s| s.to_string()).collect()),
            cipher_suites: None,
            cert_reload: false,
            x509_registered: true,
            auth_provider: "x509".into(),
            x509_super_user: None,
            prefix: "ssl.",
        }
    }

    #[test]
    fn protocols_follow_java_defaults() {
        let v = |o: &TlsOptions| {
            protocol_versions(o)
                .unwrap()
                .iter()
                .map(|v| format!("{:?}", v.version))
                .collect::<Vec<_>>()
        };
        assert_eq!(v(&opts("TLSv1.3", None)), ["TLSv1_3", "TLSv1_2"]);
        assert_eq!(v(&opts("TLSv1.2", None)), ["TLSv1_2"]);
        assert_eq!(v(&opts("TLSv1.3", Some(&["TLSv1.2"]))), ["TLSv1_2"]);
        assert!(protocol_versions(&opts("TLSv1.3", Some(&["TLSv1.1"]))).is_err());
        assert!(protocol_versions(&opts("TLSv9", None)).is_err());
    }

    #[test]
    fn client_ids_follow_the_client_auth_policy() {
        let server = |auth: ClientAuth, registered: bool| TlsServer {
            options: TlsOptions {
                client_auth: auth,
                x509_registered: registered,
                ..opts("TLSv1.3", None)
            },
            config: RwLock::new(Arc::new(
                ServerConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new())),
            )),
            stamps: Default::default(),
        };
        assert_eq!(server(ClientAuth::None, false).client_ids(None), Ok(vec![]));
        assert_eq!(server(ClientAuth::Want, true).client_ids(None), Ok(vec![]));
        assert!(server(ClientAuth::Need, true).client_ids(None).is_err());
        let junk = [CertificateDer::from(vec![0x30, 0x00])];
        assert!(
            server(ClientAuth::Want, false)
                .client_ids(Some(&junk))
                .is_err()
        );
        assert!(
            server(ClientAuth::Want, true)
                .client_ids(Some(&junk))
                .is_err()
        );
    }
}
