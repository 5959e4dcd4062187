//! The byte stream between two ensemble members, on the election port or the quorum
//! port: plain TCP, or TLS over it (`sslQuorum`; `portUnification` lets a listener take
//! both, telling them apart by the first byte, as Java's UnifiedServerSocket).
//!
//! Owns: securing a freshly dialed or accepted TCP connection as the member's settings
//! say (the handshake with its timeout, the peer-name check `tls::quorum` asks for), and
//! the read/write halves the election and quorum links use.
//! It also carries the member's quorum SASL (`server::quorum_sasl`), which the election
//! and quorum-port code run on the secured stream.
//! Must never: parse what flows over the stream (election frames are `election::cnx`'s,
//! quorum packets `quorum::link`'s), or wait on a peer without a bound.

use crate::tls::quorum::{QuorumTls, QuorumTlsMode};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::TlsStream;

/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// `ssl.quorum.handshakeDetectionTimeoutMillis`' default: how long a unified listener
/// waits for a connection's first byte.
const DETECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// How this member secures its member-to-member connections.
#[derive(Debug, Clone)]
pub struct PeerTransport {
    mode: QuorumTlsMode,
    tls: Option<Arc<QuorumTls>>,
    /// `quorum.auth.enableSasl`'s exchange, when on.
    sasl: Option<Arc<crate::server::quorum_sasl::QuorumSasl>>,
}

impl PeerTransport {
    /// Plain TCP both ways (no `sslQuorum`, no `portUnification`).
    pub fn plain() -> PeerTransport {
        PeerTransport {
            mode: QuorumTlsMode {
                ssl_quorum: false,
                port_unification: false,
            },
            tls: None,
            sasl: None,
        }
    }

    /// `tls` is None when the member has no `ssl.quorum` key (then `mode` can only be a
    /// unified listener taking plain members, see `QuorumTlsOptions::from_config`).
    pub fn new(mode: QuorumTlsMode, tls: Option<Arc<QuorumTls>>) -> PeerTransport {
        PeerTransport {
            mode,
            tls,
            sasl: None,
        }
    }

    /// The same, with quorum SASL.
    pub fn with_sasl(mut self, sasl: Arc<crate::server::quorum_sasl::QuorumSasl>) -> Self {
        self.sasl = Some(sasl);
        self
    }

    /// Quorum SASL, when `quorum.auth.enableSasl` is on.
    pub fn sasl(&self) -> Option<&Arc<crate::server::quorum_sasl::QuorumSasl>> {
        self.sasl.as_ref()
    }

    /// The TLS configurations, for reloading.
    pub fn tls(&self) -> Option<&Arc<QuorumTls>> {
        self.tls.as_ref()
    }

    /// Secure a connection this member dialed to `host` (as configured) within
    /// `timeout`.
    pub async fn dialed(
        &self,
        stream: TcpStream,
        host: &str,
        timeout: Duration,
    ) -> io::Result<PeerStream> {
        let _ = stream.set_nodelay(true);
        let tls = match (&self.tls, self.mode.ssl_quorum) {
            (Some(t), true) => t,
            _ => return Ok(PeerStream::Plain(stream)),
        };
        let peer = stream.peer_addr()?;
        let name = rustls::pki_types::ServerName::IpAddress(peer.ip().into());
        let connector = tokio_rustls::TlsConnector::from(tls.client_config());
        let s = match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(handshake_error(peer, e.to_string())),
            Err(_) => return Err(handshake_error(peer, "timed out".into())),
        };
        let conn = s.get_ref().1;
        tls.check_peer_name(true, conn.peer_certificates(), peer.ip(), Some(host))
            .map_err(|e| handshake_error(peer, e))?;
        log_complete(
            peer,
            conn.protocol_version(),
            conn.negotiated_cipher_suite(),
        );
        Ok(PeerStream::Tls(Box::new(TlsStream::Client(s))))
    }

    /// Secure a connection this member accepted, within `timeout`.
    pub async fn accepted(&self, stream: TcpStream, timeout: Duration) -> io::Result<PeerStream> {
        let _ = stream.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(PeerStream::Plain(stream));
        };
        let peer = stream.peer_addr()?;
        if self.mode.port_unification {
            let mut first = [0u8; 1];
            let wait = DETECTION_TIMEOUT.min(timeout);
            match tokio::time::timeout(wait, stream.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => {}
                Ok(Ok(1)) => return Ok(PeerStream::Plain(stream)),
                Ok(Ok(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{peer} closed before sending anything"),
                    ));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{peer} sent nothing within {} ms", wait.as_millis()),
                    ));
                }
            }
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
        let s = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(handshake_error(peer, e.to_string())),
            Err(_) => return Err(handshake_error(peer, "timed out".into())),
        };
        let conn = s.get_ref().1;
        tls.check_peer_name(false, conn.peer_certificates(), peer.ip(), None)
            .map_err(|e| handshake_error(peer, e))?;
        log_complete(
            peer,
            conn.protocol_version(),
            conn.negotiated_cipher_suite(),
        );
        Ok(PeerStream::Tls(Box::new(TlsStream::Server(s))))
    }
}

fn handshake_error(peer: SocketAddr, why: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("TLS handshake with member {peer} failed: {why}"),
    )
}

fn log_complete(
    peer: SocketAddr,
    version: Option<rustls::ProtocolVersion>,
    suite: Option<rustls::SupportedCipherSuite>,
) {
    // Java's names: "TLSv1.3 - TLS_AES_256_GCM_SHA384".
    let version = match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        v => format!("{v:?}"),
    };
    let suite = suite
        .and_then(|s| crate::tls::suite_name(&s))
        .unwrap_or_default();
    tracing::info!("SSL handshake complete with {peer} - {version} - {suite}");
}

/// A member-to-member connection, secured.
pub enum PeerStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl PeerStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            PeerStream::Plain(s) => s,
            PeerStream::Tls(t) => t.get_ref().0,
        }
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// The read and write halves (a plain socket splits without a lock).
    pub fn into_split(self) -> (PeerRead, PeerWrite) {
        match self {
            PeerStream::Plain(s) => {
                let (r, w) = s.into_split();
                (PeerRead::Plain(r), PeerWrite::Plain(w))
            }
            PeerStream::Tls(t) => {
                let (r, w) = tokio::io::split(*t);
                (PeerRead::Tls(r), PeerWrite::Tls(w))
            }
        }
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            PeerStream::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            PeerStream::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PeerStream::Tls(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
        }
    }
}

pub enum PeerRead {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

pub enum PeerWrite {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

impl AsyncRead for PeerRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerRead::Plain(r) => Pin::new(r).poll_read(cx, buf),
            PeerRead::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerWrite::Plain(w) => Pin::new(w).poll_write(cx, buf),
            PeerWrite::Tls(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerWrite::Plain(w) => Pin::new(w).poll_flush(cx),
            PeerWrite::Tls(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerWrite::Plain(w) => Pin::new(w).poll_shutdown(cx),
            PeerWrite::Tls(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}
