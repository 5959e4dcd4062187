//! The byte stream under one client connection: plain TCP, or TLS over it (the secure
//! client port, or the plain port with `client.portUnification` when the first byte is a
//! TLS handshake record).
//!
//! Owns: opening a connection's stream (the TLS handshake with its timeout, the x509 ids
//! its client certificate earns) and the read/write halves `conn` uses.
//! Must never: parse ZooKeeper frames (that is `conn`), or block: every wait is async
//! and bounded by the caller's timeouts.

use crate::jute::records::Id;
use crate::server::shared::Shared;
use crate::tls::{HANDSHAKE_TIMEOUT, TlsServer};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// What a client listener speaks.
#[derive(Debug, Clone)]
pub enum PortMode {
    Plain,
    /// Every connection is TLS (`secureClientPort`).
    Tls(Arc<TlsServer>),
    /// TLS or plain, by the first byte (`client.portUnification`).
    Unified(Arc<TlsServer>),
}

/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

pub enum ReadSide {
    Plain(Arc<TcpStream>),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

pub enum WriteSide {
    Plain(Arc<TcpStream>),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

/// An opened connection: its halves, the socket the core may write to directly (plain
/// only: TLS bytes must go through the encrypting writer), and the ids TLS gave it.
pub struct Opened {
    pub rd: ReadSide,
    pub wr: WriteSide,
    pub direct: Option<Arc<TcpStream>>,
    pub tls_ids: Vec<Id>,
}

/// Open `stream` as `mode` says; None (logged) when the connection must be dropped.
pub async fn open(
    stream: TcpStream,
    peer: SocketAddr,
    mode: &PortMode,
    shared: &Shared,
) -> Option<Opened> {
    let tls = match mode {
        PortMode::Plain => None,
        PortMode::Tls(t) => Some(t),
        PortMode::Unified(t) => {
            let mut first = [0u8; 1];
            let peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await;
            match peeked {
                Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => Some(t),
                Ok(Ok(1)) => None,
                _ => return None,
            }
        }
    };
    let Some(tls) = tls else {
        let sock = Arc::new(stream);
        return Some(Opened {
            rd: ReadSide::Plain(sock.clone()),
            wr: WriteSide::Plain(sock.clone()),
            direct: Some(sock),
            tls_ids: Vec::new(),
        });
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shared.tls_auth_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("unsuccessful TLS handshake with {peer}: {e}");
            return None;
        }
        Err(_) => {
            shared.tls_auth_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("TLS handshake with {peer} timed out");
            return None;
        }
    };
    let ids = match tls.client_ids(stream.get_ref().1.peer_certificates()) {
        Ok(ids) => ids,
        Err(e) => {
            shared.tls_auth_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!("authentication failed for TLS client {peer}: {e}");
            return None;
        }
    };
    for id in &ids {
        tracing::info!("authenticated id '{}' for scheme '{}'", id.id, id.scheme);
    }
    let (rd, wr) = tokio::io::split(stream);
    Some(Opened {
        rd: ReadSide::Tls(rd),
        wr: WriteSide::Tls(wr),
        direct: None,
        tls_ids: ids,
    })
}

impl ReadSide {
    /// One read into `buf`; Ok(0) on EOF.
    pub async fn read_some(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        let n = self.read_some_uncounted(buf).await?;
        crate::metrics::BYTES_RECEIVED_COUNT.add(n as u64);
        Ok(n)
    }

    async fn read_some_uncounted(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match self {
            ReadSide::Plain(rd) => loop {
                rd.readable().await?;
                match rd.try_read_buf(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            },
            ReadSide::Tls(rd) => rd.read_buf(buf).await,
        }
    }

    /// Read until `buf` holds at least `n` bytes; false on EOF.
    pub async fn read_at_least(&mut self, buf: &mut BytesMut, n: usize) -> std::io::Result<bool> {
        while buf.len() < n {
            if self.read_some(buf).await? == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl WriteSide {
    pub async fn write_all(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        match self {
            WriteSide::Plain(sock) => {
                while !data.is_empty() {
                    sock.writable().await?;
                    match sock.try_write(data) {
                        Ok(n) => data = &data[n..],
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            WriteSide::Tls(w) => {
                w.write_all(data).await?;
                w.flush().await
            }
        }
    }

    /// Send FIN (TLS: close_notify first) after what was written; the socket itself
    /// closes when the last handle goes.
    pub async fn shutdown(&mut self) {
        match self {
            WriteSide::Plain(sock) => {
                let _ = socket2::SockRef::from(&**sock).shutdown(std::net::Shutdown::Write);
            }
            WriteSide::Tls(w) => {
                let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, w.shutdown()).await;
            }
        }
    }
}
