//! The small HTTP/1.1 server the AdminServer (`admin_http`) and the Prometheus `/metrics`
//! endpoint (`metrics_http`) share: one bounded task per connection, one request each
//! (then `Connection: close`), the request head read up to `MAX_HEAD` bytes and parsed,
//! the answer from the endpoint's `Handler`.
//!
//! Owns: the listener's accept loop, the per-connection limits (`MAX_CONNECTIONS` open at
//! once, an idle timeout per request, `MAX_HEAD`), request-head parsing and writing the
//! reply. Must never: buffer a request body or more than `MAX_HEAD` bytes of a head, or
//! know what an endpoint serves.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// A request head (request line + headers) larger than this is refused (Jetty's default
/// request header size).
const MAX_HEAD: usize = 8192;
/// HTTP connections open at once per listener (each holds at most `MAX_HEAD` + 1 KiB
/// until it is answered or its idle timeout passes); more wait in the kernel's accept
/// queue.
const MAX_CONNECTIONS: usize = 1024;

/// What an endpoint answers a parsed request with.
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(&'a self, head: &'a Head) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;
}

/// Serve `listener` with `handler` until shutdown; `name` labels the log lines.
pub fn spawn<H: Handler>(
    listener: TcpListener,
    name: &'static str,
    idle_timeout: Duration,
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
            tokio::spawn(async move {
                let served = tokio::time::timeout(idle_timeout, serve(stream, &*handler)).await;
                if served.is_err() {
                    tracing::debug!("{name}: {peer} idle for {idle_timeout:?}");
                }
                drop(permit);
            });
        }
    });
}

async fn serve<H: Handler>(mut stream: TcpStream, handler: &H) {
    let (reply, head_only) = match read_head(&mut stream).await {
        Err(HeadError::TooLarge) => (Reply::text(431, "request header too large\n"), false),
        Err(HeadError::Malformed) => (Reply::text(400, "bad request\n"), false),
        Ok(bytes) => match parse_head(&bytes) {
            Err(_) => (Reply::text(400, "bad request\n"), false),
            Ok(h) => {
                let head_only = h.method == "HEAD";
                (handler.handle(&h).await, head_only)
            }
        },
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len()
    );
    if !head_only {
        out.push_str(&reply.body);
    }
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub path: String,
    pub params: Vec<(String, String)>,
    pub authorization: Option<String>,
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
    for h in lines {
        if h.is_empty() {
            continue;
        }
        let (name, value) = h.split_once(':').ok_or(HeadError::Malformed)?;
        if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.trim().to_owned());
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    Ok(Head {
        method: method.to_owned(),
        path: percent_decode(path),
        params,
        authorization,
    })
}

/// `%XX` escapes (and `+` in query values is left as is, as in a path).
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

/// Read the request head: up to the blank line, at most `MAX_HEAD` bytes.
pub async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return Ok(buf);
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
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, v: crate::admin::json::Json) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: v.pretty(),
        }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain;charset=utf-8",
            body: body.to_owned(),
        }
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
    }
}
