//! TLS between ensemble members (`sslQuorum`, `portUnification`), configured by the
//! `ssl.quorum.*` keys Java's QuorumX509Util reads: one rustls configuration for the
//! side that accepts (election and quorum listeners) and one for the side that dials
//! (election connections, a learner reaching its leader), both presenting this member's
//! key and verifying the peer's chain against `ssl.quorum.trustStore`.
//!
//! Hostnames: Java 3.9 runs in FIPS mode by default (`zookeeper.fips-mode`), where the
//! JDK's own trust manager checks the chain and no name at all. With
//! `zookeeper.fips-mode=false` Java's ZKTrustManager also checks the peer's certificate
//! against its address (`ssl.quorum.hostnameVerification`, default on; the accepting
//! side too unless `ssl.quorum.clientHostnameVerification=false`): the IP address first,
//! then the configured host name. Java's reverse-DNS fallback is not done.
//!
//! Owns: those configurations, their reload when `sslQuorumReloadCertFiles` is on and a
//! store file changes, and the peer-name check after a handshake.
//! Must never: do socket I/O (`server::peer_stream` drives handshakes), or let a failed
//! reload replace a working configuration.

use super::{TlsOptions, crypto_for, identity, stamps, trust_anchors};
use crate::config::Config;
use parking_lot::{Mutex, RwLock};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

/// What the member's quorum ports speak and what it dials with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuorumTlsMode {
    /// `sslQuorum`: dial members over TLS; listeners take only TLS (unless unified).
    pub ssl_quorum: bool,
    /// `portUnification`: listeners take TLS and plain connections alike.
    pub port_unification: bool,
}

/// The `ssl.quorum.*` settings, read.
#[derive(Debug, Clone, PartialEq)]
pub struct QuorumTlsOptions {
    pub tls: TlsOptions,
    /// The dialing side checks the accepting member's certificate against its address.
    pub verify_server_name: bool,
    /// The accepting side checks the dialing member's certificate against its address.
    pub verify_client_name: bool,
    /// `sslQuorumReloadCertFiles`.
    pub reload: bool,
}

impl QuorumTlsOptions {
    /// Read the keys; `Ok(None)` when neither `sslQuorum` nor `portUnification` is on, or
    /// when only `portUnification` is and no key store is set (plain connections are then
    /// all the member can take: warned).
    pub fn from_config(c: &Config) -> Result<Option<QuorumTlsOptions>, String> {
        if !c.ssl_quorum && !c.port_unification {
            return Ok(None);
        }
        let tls = TlsOptions::read(c, "ssl.quorum.")?;
        if !c.ssl_quorum && tls.key_store.is_none() {
            tracing::warn!(
                "portUnification=true without ssl.quorum.keyStore.location: members \
                 connecting over TLS will be refused"
            );
            return Ok(None);
        }
        let flag = |k: &str, default: bool| match c.system_property(k) {
            Some(v) => v.trim().eq_ignore_ascii_case("true"),
            None => default,
        };
        let fips = flag("fips-mode", true);
        let server_names = !fips && flag("ssl.quorum.hostnameVerification", true);
        Ok(Some(QuorumTlsOptions {
            tls,
            verify_server_name: server_names,
            verify_client_name: server_names && flag("ssl.quorum.clientHostnameVerification", true),
            reload: c.ssl_quorum_reload_cert_files,
        }))
    }
}

/// The member's TLS configurations, current as of the last (re)load.
#[derive(Debug)]
pub struct QuorumTls {
    pub options: QuorumTlsOptions,
    configs: RwLock<(Arc<ServerConfig>, Arc<ClientConfig>)>,
    stamps: Mutex<Vec<Option<SystemTime>>>,
}

impl QuorumTls {
    /// Load the stores: any error stops the member's start.
    pub fn new(options: QuorumTlsOptions) -> Result<QuorumTls, String> {
        let stamps = stamps(&options.tls.watched_files());
        let configs = build_both(&options.tls)?;
        Ok(QuorumTls {
            options,
            configs: RwLock::new(configs),
            stamps: Mutex::new(stamps),
        })
    }

    /// The configuration for the next accepted handshake.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.configs.read().0.clone()
    }

    /// The configuration for the next dialed handshake.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.configs.read().1.clone()
    }

    /// Rebuild if a store file changed; a failed rebuild keeps the old configurations.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.options.tls.watched_files());
        {
            let mut old = self.stamps.lock();
            if *old == now {
                return false;
            }
            *old = now;
        }
        match build_both(&self.options.tls) {
            Ok(c) => {
                *self.configs.write() = c;
                tracing::info!("ssl.quorum key/trust stores changed: new certificates in use");
                true
            }
            Err(e) => {
                tracing::error!(
                    "ssl.quorum key/trust stores changed but cannot be loaded: {e}; keeping \
                     the previous ones"
                );
                false
            }
        }
    }

    /// After a handshake: the peer's certificate against its address, when this side
    /// checks names (`dialed`: we dialed `host`; else it dialed us). `Ok` when no check
    /// is due or the certificate names the IP address or `host`.
    pub fn check_peer_name(
        &self,
        dialed: bool,
        chain: Option<&[CertificateDer<'_>]>,
        ip: IpAddr,
        host: Option<&str>,
    ) -> Result<(), String> {
        let due = if dialed {
            self.options.verify_server_name
        } else {
            self.options.verify_client_name
        };
        if !due {
            return Ok(());
        }
        let Some(leaf) = chain.and_then(|c| c.first()) else {
            // No certificate (clientAuth=none/want): nothing to check, as Java.
            return Ok(());
        };
        names_peer(leaf, ip, host)
    }
}

/// Whether `leaf` is valid for `ip`, or else for `host` (ZKTrustManager's order).
pub fn names_peer(leaf: &CertificateDer<'_>, ip: IpAddr, host: Option<&str>) -> Result<(), String> {
    let cert = ParsedCertificate::try_from(leaf).map_err(|e| format!("peer certificate: {e}"))?;
    let by_ip = ServerName::IpAddress(ip.into());
    if rustls::client::verify_server_name(&cert, &by_ip).is_ok() {
        return Ok(());
    }
    if let Some(h) = host
        && let Ok(name) = ServerName::try_from(h)
        && rustls::client::verify_server_name(&cert, &name).is_ok()
    {
        return Ok(());
    }
    Err(format!(
        "the peer's certificate names neither {ip}{}",
        host.map(|h| format!(" nor {h}")).unwrap_or_default()
    ))
}

fn build_both(o: &TlsOptions) -> Result<(Arc<ServerConfig>, Arc<ClientConfig>), String> {
    let server = super::build(o)?;
    let client = build_client(o)?;
    Ok((Arc::new(server), Arc::new(client)))
}

/// The dialing side: our key as the client certificate, the peer's chain checked against
/// the trust store (names separately, see `check_peer_name`).
fn build_client(o: &TlsOptions) -> Result<ClientConfig, String> {
    let id = identity(o)?;
    let (provider, versions) = crypto_for(o)?;
    let verifier = Arc::new(ChainOnly {
        roots: Arc::new(trust_anchors(o)?),
        provider: provider.clone(),
    });
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS protocols: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(id.chain, id.key)
        .map_err(|e| format!("member key and certificate: {e}"))?;
    // Members are dialed by address; Java's sockets send no server name either.
    cfg.enable_sni = false;
    Ok(cfg)
}

/// Verifies the accepting member's chain against the trust anchors, not its name (the
/// JDK's PKIX trust manager, as Java 3.9 uses in FIPS mode).
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(cfg: &str, props: &[(&str, &str)]) -> Result<Option<QuorumTlsOptions>, String> {
        let text = format!("dataDir=/d\nclientPort=2181\n{cfg}");
        let c = Config::parse_str_with_props(&text, props.iter().copied())
            .map_err(|e| e.to_string())?;
        QuorumTlsOptions::from_config(&c)
    }

    const STORES: &str = "ssl.quorum.keyStore.location=/k.jks\nssl.quorum.keyStore.password=p\n\
                          ssl.quorum.trustStore.location=/t.jks\n";

    #[test]
    fn nothing_without_ssl_quorum_or_port_unification() {
        assert_eq!(options(STORES, &[]), Ok(None));
        // portUnification alone and no key: plain members only.
        assert_eq!(options("portUnification=true\n", &[]), Ok(None));
        let o = options(&format!("portUnification=true\n{STORES}"), &[])
            .unwrap()
            .unwrap();
        assert_eq!(o.tls.prefix, "ssl.quorum.");
        assert!(o.tls.key_store.is_some());
    }

    #[test]
    fn names_are_checked_only_outside_fips_mode() {
        let o = options(&format!("sslQuorum=true\n{STORES}"), &[])
            .unwrap()
            .unwrap();
        assert!(!o.verify_server_name && !o.verify_client_name && !o.reload);
        let o = options(
            &format!("sslQuorum=true\nsslQuorumReloadCertFiles=true\n{STORES}"),
            &[("zookeeper.fips-mode", "false")],
        )
        .unwrap()
        .unwrap();
        assert!(o.verify_server_name && o.verify_client_name && o.reload);
        let o = options(
            &format!("sslQuorum=true\n{STORES}ssl.quorum.clientHostnameVerification=false\n"),
            &[("zookeeper.fips-mode", "false")],
        )
        .unwrap()
        .unwrap();
        assert!(o.verify_server_name && !o.verify_client_name);
        let o = options(
            &format!("sslQuorum=true\n{STORES}ssl.quorum.hostnameVerification=false\n"),
            &[("zookeeper.fips-mode", "false")],
        )
        .unwrap()
        .unwrap();
        assert!(!o.verify_server_name && !o.verify_client_name);
    }

    #[test]
    fn revocation_checking_asked_for_stops_the_start() {
        for key in ["crl", "ocsp"] {
            let cfg = format!("sslQuorum=true\n{STORES}ssl.quorum.{key}=TRUE\n");
            let e = options(&cfg, &[]).unwrap_err();
            assert!(
                e.contains(&format!("ssl.quorum.{key}=true asks for")),
                "{e}"
            );
            // Off, or on for the client port only while no TLS client port is used: fine.
            let off = format!("sslQuorum=true\n{STORES}ssl.quorum.{key}=false\nssl.{key}=true\n");
            assert!(options(&off, &[]).unwrap().is_some());
        }
    }

    #[test]
    fn missing_or_bad_stores_stop_the_start() {
        let o = options("sslQuorum=true\n", &[]).unwrap().unwrap();
        let e = QuorumTls::new(o).unwrap_err();
        assert!(e.contains("ssl.quorum.keyStore.location is not set"), "{e}");
        let o = options(&format!("sslQuorum=true\n{STORES}"), &[])
            .unwrap()
            .unwrap();
        assert!(QuorumTls::new(o).is_err());
        let e = options("sslQuorum=true\nssl.quorum.clientAuth=sometimes\n", &[]).unwrap_err();
        assert!(e.contains("ssl.quorum.clientAuth"), "{e}");
    }

    #[test]
    fn a_garbage_peer_certificate_names_nobody() {
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(names_peer(&junk, "127.0.0.1".parse().unwrap(), Some("localhost")).is_err());
    }
}
