//! The small HTTP/1.1 server the AdminServer (`admin_http`) and the Prometheus `/metrics`
//! endpoint (`metrics_http`) share: one bounded task per connection, one request each
//! (then `Connection: close`), the request head read up to `MAX_HEAD` bytes and parsed,
//! the answer from the endpoint's `Handler`. A listener is plain HTTP, HTTPS only, or
//! both by the first byte (`Security`); the HTTP handling is the same over either stream.
//!
//! Owns: the listener's accept loop, the per-connection limits (`MAX_CONNECTIONS` open at
//! once, an idle timeout covering the TLS handshake and the request head, then the same
//! timeout for each read of a request body and each write of a reply,
//! `tls::HANDSHAKE_TIMEOUT` for the handshake itself, `MAX_HEAD`), the TLS handshake and
//! HTTP/HTTPS detection, request-head parsing, handing a request body (`Content-Length`
//! only) to the handler as a stream, and writing the reply (a string, or a file streamed
//! in chunks). Must never: buffer a request body or more than `MAX_HEAD` bytes of a
//! head, know what an endpoint serves, or build a TLS configuration (it is handed one).

use crate::tls::HANDSHAKE_TIMEOUT;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// A request head (request line + headers) larger than this is refused (Jetty's default
/// request header size).
const MAX_HEAD: usize = 8192;
/// HTTP connections open at once per listener (each holds at most `MAX_HEAD` + 1 KiB
/// until it is answered or its idle timeout passes); more wait in the kernel's accept
/// queue.
const MAX_CONNECTIONS: usize = 1024;

/// The first byte of a TLS record carrying a handshake (how a unified port tells HTTPS
/// from HTTP, as ZooKeeper's UnifiedConnectionFactory and Netty's port unification do).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a listener's connections speak.
#[derive(Debug, Clone)]
pub enum Security {
    /// Plain HTTP.
    Plain,
    /// HTTPS only: every connection starts with a TLS handshake.
    Https(Arc<rustls::ServerConfig>),
    /// HTTPS when the first byte is a TLS handshake record, plain HTTP otherwise.
    Unified(Arc<rustls::ServerConfig>),
}

/// What an endpoint answers a parsed request with; `body` streams the request's body
/// (empty unless it has a `Content-Length`).
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        head: &'a Head,
        body: &'a mut RequestBody<'_>,
    ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;
}

/// A request's body as it arrives: what came with the head, then the stream, up to
/// `Content-Length` bytes, each read within the idle timeout.
pub struct RequestBody<'s> {
    stream: &'s mut dyn HttpStream,
    early: Vec<u8>,
    /// Bytes of the body not handed out yet.
    remaining: u64,
    idle: Duration,
    /// The client sent `Expect: 100-continue` and waits for "100 Continue" before the
    /// body: sent at the first read (an answer without reading it needs no body).
    continue_owed: bool,
}

impl RequestBody<'_> {
    /// The next bytes of the body into `buf`; 0 at its end. A peer that closes early or
    /// sends nothing for the idle timeout is an error.
    pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        if std::mem::take(&mut self.continue_owed) {
            write_within(self.stream, b"HTTP/1.1 100 Continue\r\n\r\n", self.idle).await?;
        }
        let n = if !self.early.is_empty() {
            let n = want.min(self.early.len());
            buf[..n].copy_from_slice(&self.early[..n]);
            self.early.drain(..n);
            n
        } else {
            match tokio::time::timeout(self.idle, self.stream.read(&mut buf[..want])).await {
                Ok(Ok(0)) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(r) => r?,
                Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
            }
        };
        self.remaining -= n as u64;
        Ok(n)
    }

    /// Read and drop what is left of the body, at most `limit` bytes (so that closing the
    /// connection after an early answer does not reset it under the client's feet). A
    /// client still waiting for "100 Continue" sends none: nothing to drop.
    async fn discard(&mut self, limit: u64) {
        if self.continue_owed {
            self.remaining = 0;
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = limit;
        while left > 0 {
            match self.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n as u64),
            }
        }
    }
}

/// Serve `listener` with `handler` until shutdown; `name` labels the log lines.
pub fn spawn<H: Handler>(
    listener: TcpListener,
    name: &'static str,
    idle_timeout: Duration,
    security: Security,
    handler: Arc<H>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let permit = tokio::select! {
                _ = shutdown.changed() => return,
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let accepted = tokio::select! {
                _ = shutdown.changed() => return,
                a = listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("{name} accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let handler = handler.clone();
            let security = security.clone();
            tokio::spawn(async move {
                open_and_serve(stream, peer, name, &security, &*handler, idle_timeout).await;
                drop(permit);
            });
        }
    });
}

/// Open the connection as `security` says (detect, handshake), then serve its request.
async fn open_and_serve<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    name: &'static str,
    security: &Security,
    handler: &H,
    idle: Duration,
) {
    let opened = tokio::time::timeout(idle, open(stream, peer, name, security)).await;
    let Ok(Some((mut stream, head))) = opened else {
        tracing::debug!("{name}: no request from {peer} within {idle:?}");
        return;
    };
    serve(&mut *stream, head, peer, handler, idle).await;
}

/// A connection's stream, plain or TLS.
trait HttpStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> HttpStream for S {}

/// Detect, handshake and read the request head (under the caller's idle timeout).
async fn open(
    stream: TcpStream,
    peer: SocketAddr,
    name: &'static str,
    security: &Security,
) -> Option<(Box<dyn HttpStream>, HeadRead)> {
    let tls = match security {
        Security::Plain => None,
        Security::Https(config) => Some(config),
        Security::Unified(config) => {
            let mut first = [0u8; 1];
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => Some(config),
                Ok(Ok(1)) => {
                    // Only the AdminServer's port is unified (UnifiedConnectionFactory
                    // counts these).
                    crate::metrics::INSECURE_ADMIN_COUNT.inc();
                    None
                }
                // EOF, an error, or nothing sent in time.
                _ => return None,
            }
        }
    };
    let (mut stream, secure, peer_certs): (Box<dyn HttpStream>, _, _) = match tls {
        None => (Box::new(stream), false, Vec::new()),
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    let peer_certs = tls_stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
                        .unwrap_or_default();
                    (Box::new(tls_stream), true, peer_certs)
                }
                // Jetty logs these at debug level: a port scanner or a plain HTTP client
                // on an HTTPS port must not fill the log.
                Ok(Err(e)) => {
                    tracing::debug!("{name}: unsuccessful TLS handshake with {peer}: {e}");
                    return None;
                }
                Err(_) => {
                    tracing::debug!("{name}: TLS handshake with {peer} timed out");
                    return None;
                }
            }
        }
    };
    let head = read_head(&mut stream).await;
    let read = HeadRead {
        head,
        secure,
        peer_certs,
    };
    Some((stream, read))
}

/// A request head as read: its bytes and what followed them, or why there is none.
struct HeadRead {
    head: Result<(Vec<u8>, Vec<u8>), HeadError>,
    /// It came over TLS.
    secure: bool,
    /// The client's certificate chain (verified in the handshake), leaf first.
    peer_certs: Vec<rustls_pki_types::CertificateDer<'static>>,
}

/// A body larger than this is not read to the end after an answer that did not need it.
const DISCARD_LIMIT: u64 = 16 << 20;

/// Answer the request whose head was read, close.
async fn serve<H: Handler>(
    stream: &mut dyn HttpStream,
    read: HeadRead,
    peer: SocketAddr,
    handler: &H,
    idle: Duration,
) {
    let parsed = read
        .head
        .and_then(|(bytes, early)| Ok((parse_head(&bytes)?, early)));
    // `unread`: body bytes neither the handler nor the drain took.
    let (reply, head_only, unread) = match parsed {
        Err(HeadError::TooLarge) => (Reply::text(431, "request header too large\n"), false, 0),
        Err(HeadError::Malformed) => (Reply::text(400, "bad request\n"), false, 0),
        Ok((mut h, early)) => {
            h.secure = read.secure;
            h.peer = Some(peer);
            h.peer_certs = read.peer_certs;
            let head_only = h.method == "HEAD";
            if h.chunked {
                (Reply::text(411, "length required\n"), head_only, 0)
            } else {
                let mut body = RequestBody {
                    stream: &mut *stream,
                    // Bytes already sent with the head mean the client did not wait.
                    continue_owed: h.expect_continue && early.is_empty(),
                    early,
                    remaining: h.content_length.unwrap_or(0),
                    idle,
                };
                let reply = handler.handle(&h, &mut body).await;
                body.discard(DISCARD_LIMIT).await;
                (reply, head_only, body.remaining)
            }
        }
    };
    if write_reply(stream, &reply, head_only, idle).await.is_ok() {
        let _ = tokio::time::timeout(idle, stream.flush()).await;
    }
    if unread > 0 {
        // The body was too large to drain: the close may reset; nothing more to do.
        tracing::debug!("HTTP {peer}: closing with an unread request body");
    }
    // TLS: close_notify, then FIN.
    let _ = tokio::time::timeout(idle, stream.shutdown()).await;
}

/// Write `bytes` within the idle timeout.
async fn write_within(
    stream: &mut dyn HttpStream,
    bytes: &[u8],
    idle: Duration,
) -> std::io::Result<()> {
    match tokio::time::timeout(idle, stream.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Write the reply: its head, then its body (a file in chunks, each within the idle
/// timeout, so a large file is not held to one timeout for the whole transfer).
async fn write_reply(
    stream: &mut dyn HttpStream,
    reply: &Reply,
    head_only: bool,
    idle: Duration,
) -> std::io::Result<()> {
    write_within(stream, &reply.to_bytes(head_only), idle).await?;
    let Body::File { path, len } = &reply.body else {
        return Ok(());
    };
    if head_only {
        return Ok(());
    }
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = *len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want]).await?;
        if n == 0 {
            // The file shrank: the client sees a body shorter than Content-Length.
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        write_within(stream, &buf[..n], idle).await?;
        left -= n as u64;
    }
    Ok(())
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub path: String,
    pub params: Vec<(String, String)>,
    pub authorization: Option<String>,
    /// The first `X-Forwarded-For` address (Java's ip provider prefers it to the peer's).
    pub forwarded_for: Option<String>,
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked` (not supported: answered 411).
    pub chunked: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// It came over TLS (set by the server, not parsed).
    pub secure: bool,
    /// The client's address (set by the server, not parsed).
    pub peer: Option<SocketAddr>,
    /// The client certificate chain a TLS handshake verified, leaf first (set by the
    /// server; empty over HTTP or when none was asked for).
    pub peer_certs: Vec<rustls_pki_types::CertificateDer<'static>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    TooLarge,
    Malformed,
}

/// Parse a request head (everything before the blank line).
pub fn parse_head(head: &[u8]) -> Result<Head, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::Malformed)?;
    let mut lines = text.split("\r\n");
    let line = lines.next().ok_or(HeadError::Malformed)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(HeadError::Malformed);
    }
    let mut authorization = None;
    let mut forwarded_for = None;
    let mut content_length = None;
    let mut chunked = false;
    let mut expect_continue = false;
    for h in lines {
        if h.is_empty() {
            continue;
        }
        let (name, value) = h.split_once(':').ok_or(HeadError::Malformed)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = value
                .split(',')
                .next()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty());
        } else if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value.parse().map_err(|_| HeadError::Malformed)?;
            if content_length.is_some_and(|m| m != n) {
                return Err(HeadError::Malformed);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (form_decode(k), form_decode(v))
        })
        .collect();
    Ok(Head {
        method: method.to_owned(),
        path: percent_decode(path),
        params,
        authorization,
        forwarded_for,
        content_length,
        chunked,
        expect_continue,
        secure: false,
        peer: None,
        peer_certs: Vec::new(),
    })
}

/// A query parameter's name or value as a servlet's `getParameterMap` gives it:
/// `application/x-www-form-urlencoded`, so `+` is a space, then `%XX` escapes.
fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// `%XX` escapes (a path's `+` is a plus).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Read the request head: up to the blank line, at most `MAX_HEAD` bytes. Returns the
/// head and the bytes read after it (the start of a body).
pub async fn read_head<R: AsyncRead + Unpin>(
    stream: &mut R,
) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let early = buf.split_off(end + 4);
            buf.truncate(end);
            return Ok((buf, early));
        }
        if buf.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(HeadError::Malformed),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    /// Headers besides Content-Type, Content-Length and Connection.
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

/// A reply's body.
pub enum Body {
    Text(String),
    /// The first `len` bytes of a file, streamed.
    File {
        path: std::path::PathBuf,
        len: u64,
    },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Text(t) => t.len() as u64,
            Body::File { len, .. } => *len,
        }
    }
}

impl Reply {
    pub fn new(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            content_type,
            headers: Vec::new(),
            body: Body::Text(body),
        }
    }

    /// A file's first `len` bytes as the body.
    pub fn file(
        status: u16,
        content_type: &'static str,
        path: std::path::PathBuf,
        len: u64,
    ) -> Reply {
        Reply {
            status,
            content_type,
            headers: Vec::new(),
            body: Body::File { path, len },
        }
    }

    pub fn json(status: u16, v: crate::admin::json::Json) -> Reply {
        Reply::new(status, "application/json", v.pretty())
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply::new(status, "text/plain;charset=utf-8", body.to_owned())
    }

    /// The response as sent, but for a file body (`head_only`: the answer to a HEAD
    /// request, without body).
    fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("Connection: close\r\n\r\n");
        if let (false, Body::Text(t)) = (head_only, &self.body) {
            out.push_str(t);
        }
        out.into_bytes()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        429 => "Too Many Requests",
        500 => "Server Error",
        503 => "Service Unavailable",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads() {
        let h = parse_head(
            b"GET /commands/set_trace_mask?traceMask=%3312&x HTTP/1.1\r\nHost: a\r\nauthorization: digest root:pw",
        )
        .unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.path, "/commands/set_trace_mask");
        assert_eq!(
            h.params,
            vec![
                ("traceMask".to_owned(), "312".to_owned()),
                ("x".to_owned(), String::new())
            ]
        );
        assert_eq!(h.authorization.as_deref(), Some("digest root:pw"));
        for bad in [
            &b"GET /x"[..],
            b"GET x HTTP/1.1",
            b"GET /x SPDY/3",
            b"GET /x HTTP/1.1 extra",
            b"GET /x HTTP/1.1\r\nno colon here",
            b"\xff\xfe /x HTTP/1.1",
        ] {
            assert_eq!(parse_head(bad), Err(HeadError::Malformed), "{bad:?}");
        }
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        let h = parse_head(b"GET /c/a+b?k+1=v+w%2B HTTP/1.1").unwrap();
        assert_eq!(h.path, "/c/a+b");
        assert_eq!(h.params, vec![("k 1".to_owned(), "v w+".to_owned())]);
    }

    #[test]
    fn replies_carry_extra_headers_and_head_drops_the_body() {
        let mut r = Reply::text(200, "ok\n");
        r.headers.push(("X-A", "b".into()));
        let full = String::from_utf8(r.to_bytes(false)).unwrap();
        assert_eq!(
            full,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=utf-8\r\nContent-Length: 3\r\n\
             X-A: b\r\nConnection: close\r\n\r\nok\n"
        );
        let head = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(head.ends_with("Content-Length: 3\r\nX-A: b\r\nConnection: close\r\n\r\n"));
    }

    /// A body is read up to its Content-Length, the bytes sent with the head first; "100
    /// Continue" goes out only when the handler reads a body the client holds back.
    #[tokio::test]
    async fn request_bodies_are_read_to_their_length_and_continue_is_sent_on_demand() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut server: Box<dyn HttpStream> = Box::new(server);
        let mut body = RequestBody {
            stream: &mut *server,
            early: b"ab".to_vec(),
            remaining: 5,
            idle: Duration::from_secs(5),
            continue_owed: false,
        };
        client.write_all(b"cdeXYZ").await.unwrap();
        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        loop {
            let n = body.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"abcde");
        drop(body);

        let mut body = RequestBody {
            stream: &mut *server,
            early: Vec::new(),
            remaining: 3,
            idle: Duration::from_secs(5),
            continue_owed: true,
        };
        // Nothing is sent before the first read.
        let mut peek = [0u8; 64];
        let quiet = tokio::time::timeout(Duration::from_millis(50), client.read(&mut peek)).await;
        assert!(quiet.is_err(), "sent before the handler read");
        let reader = async {
            let mut b = [0u8; 3];
            let n = body.read(&mut b).await.unwrap();
            (n, b)
        };
        let writer = async {
            let mut seen = Vec::new();
            while !seen.ends_with(b"\r\n\r\n") {
                let n = client.read(&mut peek).await.unwrap();
                seen.extend_from_slice(&peek[..n]);
            }
            client.write_all(b"XYZ").await.unwrap();
            seen
        };
        let ((n, b), seen) = tokio::join!(reader, writer);
        assert_eq!(seen, b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!((n, &b), (3, b"XYZ"));
        drop(body);
        // Answered without reading: nothing owed, nothing drained.
        let mut body = RequestBody {
            stream: &mut *server,
            early: Vec::new(),
            remaining: 1 << 30,
            idle: Duration::from_secs(5),
            continue_owed: true,
        };
        tokio::time::timeout(Duration::from_secs(1), body.discard(DISCARD_LIMIT))
            .await
            .expect("discard waited for a body the client holds back");
    }

    #[tokio::test]
    async fn heads_are_read_from_any_stream_within_max_head() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            client
                .write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\nbody")
                .await
                .unwrap();
        });
        let (head, early) = read_head(&mut server).await.unwrap();
        assert_eq!(head, b"GET /x HTTP/1.1\r\nHost: a");
        assert!(b"body".starts_with(&early), "{early:?}");
        writer.await.unwrap();
        let (mut client, mut server) = tokio::io::duplex(MAX_HEAD * 2);
        client.write_all(&[b'a'; MAX_HEAD + 10]).await.unwrap();
        assert_eq!(read_head(&mut server).await, Err(HeadError::TooLarge));
    }
}
