//! The AdminServer: HTTP on `admin.serverAddress:admin.serverPort` (Java's
//! `JettyAdminServer`), serving `GET <admin.commandURL>/<command>` as JSON, the command
//! links at `<admin.commandURL>` itself.
//!
//! Owns: the admin listener, one bounded task per HTTP connection (one request, then
//! `Connection: close`), reading and answering the request, and gathering what a
//! command prints (core queries through the core's queue, host facts on the blocking
//! pool). Must never: hold a request longer than `admin.idleTimeout`, buffer more than
//! `MAX_HEAD` bytes of a request, or build JSON itself (`admin::commands` does).

use super::core::Input;
use super::settings::Settings;
use super::shared::Shared;
use crate::admin::commands::{self, Command, Inputs, QuorumFacts};
use crate::admin::{Answer, Query, ServingMode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// A request head (request line + headers) larger than this is refused (Jetty's default
/// request header size).
const MAX_HEAD: usize = 8192;
/// HTTP connections open at once (each holds at most `MAX_HEAD` + 1 KiB until it is
/// answered or `admin.idleTimeout` passes); more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 1024;

/// Where and how the AdminServer listens (from `admin.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminHttp {
    pub addr: SocketAddr,
    pub command_url: String,
    pub idle_timeout: Duration,
}

/// Why the AdminServer did not start (Java: "Unable to start AdminServer"; a standalone
/// server exits with code 4, an ensemble member goes on without it).
#[derive(Debug, thiserror::Error)]
#[error("Unable to start AdminServer on {addr}: {source}")]
pub struct AdminStartError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Bind the admin port, if the AdminServer is enabled.
pub async fn bind(settings: &Settings) -> Result<Option<TcpListener>, AdminStartError> {
    let Some(a) = &settings.admin_http else {
        return Ok(None);
    };
    match TcpListener::bind(a.addr).await {
        Ok(l) => {
            tracing::info!(
                "Started AdminServer on address {}, port {} and command URL {}",
                a.addr.ip(),
                a.addr.port(),
                a.command_url
            );
            Ok(Some(l))
        }
        Err(source) => Err(AdminStartError {
            addr: a.addr,
            source,
        }),
    }
}

/// Serve the admin port until shutdown.
pub fn spawn(
    listener: TcpListener,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    core: mpsc::Sender<Input>,
    quorum: Option<QuorumFacts>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let quorum = Arc::new(quorum);
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
                    tracing::warn!("AdminServer accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (settings, shared, core, quorum) = (
                settings.clone(),
                shared.clone(),
                core.clone(),
                quorum.clone(),
            );
            tokio::spawn(async move {
                let Some(a) = settings.admin_http.clone() else {
                    return;
                };
                let served = tokio::time::timeout(
                    a.idle_timeout,
                    serve(stream, &a, &settings, &shared, &core, (*quorum).as_ref()),
                )
                .await;
                if served.is_err() {
                    tracing::debug!("AdminServer: {peer} idle for {:?}", a.idle_timeout);
                }
                drop(permit);
            });
        }
    });
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    method: String,
    path: String,
    params: Vec<(String, String)>,
    authorization: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    TooLarge,
    Malformed,
}

/// Parse a request head (everything before the blank line).
fn parse_head(head: &[u8]) -> Result<Head, HeadError> {
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
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
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

struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Reply {
    fn json(status: u16, v: crate::admin::json::Json) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: v.pretty(),
        }
    }

    fn text(status: u16, body: &str) -> Reply {
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
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

async fn serve(
    mut stream: TcpStream,
    a: &AdminHttp,
    settings: &Settings,
    shared: &Shared,
    core: &mpsc::Sender<Input>,
    quorum: Option<&QuorumFacts>,
) {
    let (reply, head_only) = match read_head(&mut stream).await {
        Err(HeadError::TooLarge) => (Reply::text(431, "request header too large\n"), false),
        Err(HeadError::Malformed) => (Reply::text(400, "bad request\n"), false),
        Ok(bytes) => match parse_head(&bytes) {
            Err(_) => (Reply::text(400, "bad request\n"), false),
            Ok(h) => {
                let head_only = h.method == "HEAD";
                (
                    route(&h, a, settings, shared, core, quorum).await,
                    head_only,
                )
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

async fn route(
    h: &Head,
    a: &AdminHttp,
    settings: &Settings,
    shared: &Shared,
    core: &mpsc::Sender<Input>,
    quorum: Option<&QuorumFacts>,
) -> Reply {
    let Some(rest) = h.path.strip_prefix(a.command_url.as_str()) else {
        return Reply::text(404, "not found\n");
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Reply::text(404, "not found\n");
    }
    if !matches!(h.method.as_str(), "GET" | "HEAD" | "POST") {
        return Reply::text(405, "method not allowed\n");
    }
    let name = rest.strip_prefix('/').unwrap_or(rest);
    if name.is_empty() {
        return Reply {
            status: 200,
            content_type: "text/html;charset=utf-8",
            body: commands::links_page(&a.command_url),
        };
    }
    let Some(command) = commands::lookup(name) else {
        return Reply::json(200, commands::unknown(name));
    };
    let primary = command.primary();
    // Java's POST commands (restore) take a body; every other command is a GET.
    if h.method == "POST" && primary != "restore" {
        return Reply::text(405, "method not allowed\n");
    }
    let serving = shared.serving_mode() != ServingMode::NotServing;
    if command.server_required && !serving {
        return Reply::json(200, commands::not_serving(primary));
    }
    if matches!(primary, "snapshot" | "restore") && h.authorization.is_none() {
        return Reply::json(
            401,
            crate::admin::json::command_response(
                primary,
                Some("Auth info is missing for the command"),
                vec![],
            ),
        );
    }
    let mut answers = Vec::with_capacity(command.queries.len());
    for q in command.queries {
        match ask_core(core, *q).await {
            Some(ans) => answers.push(ans),
            None if command.server_required => {
                return Reply::json(200, commands::not_serving(primary));
            }
            None => {}
        }
    }
    let facts = host_facts(command, settings).await;
    let conf = settings.conf_view();
    let props: Vec<(String, String)> = {
        let mut p = settings.conf_lines.clone();
        p.sort();
        p
    };
    let inputs = Inputs {
        conf: &conf,
        mode: shared.serving_mode(),
        // Java's standalone configuration says 0.
        server_id: quorum.map_or(0, |q| q.my_id),
        initial_config: &settings.initial_config,
        answers: &answers,
        dir_sizes: facts.dir_sizes,
        fds: facts.fds,
        environment: &facts.environment,
        last_snapshot: facts.last_snapshot,
        system_properties: &props,
        quorum,
        params: &h.params,
    };
    Reply::json(200, commands::answer(command, &inputs))
}

async fn ask_core(core: &mpsc::Sender<Input>, query: Query) -> Option<Answer> {
    let (tx, rx) = oneshot::channel();
    core.send(Input::FourLetter { query, reply: tx })
        .await
        .ok()?;
    rx.await.ok()
}

#[derive(Default)]
struct HostFacts {
    dir_sizes: (u64, u64),
    fds: (u64, u64),
    environment: Vec<(String, String)>,
    last_snapshot: Option<(i64, i64)>,
}

/// The file-system and /proc reads a command needs, on the blocking pool.
async fn host_facts(command: &Command, settings: &Settings) -> HostFacts {
    let needs = command.needs;
    let conf = settings.conf_view();
    let snap_dir = settings
        .data_dir
        .as_ref()
        .map(|d| crate::storage::version_dir(d));
    tokio::task::spawn_blocking(move || {
        let mut f = HostFacts::default();
        if needs.dir_sizes {
            let s = crate::admin::dir_sizes(&conf);
            f.dir_sizes = (s.data, s.log);
        }
        if needs.fds {
            f.fds = crate::admin::fd_counts();
        }
        if needs.environment {
            f.environment = crate::admin::environment_entries();
        }
        if needs.last_snapshot {
            f.last_snapshot = snap_dir.and_then(|d| {
                let (zxid, path) = crate::storage::list_by_zxid(&d, "snapshot")
                    .ok()?
                    .into_iter()
                    .last()?;
                let secs = std::fs::metadata(path)
                    .ok()?
                    .modified()
                    .ok()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs() as i64;
                Some((zxid, secs))
            });
        }
        f
    })
    .await
    .unwrap_or_default()
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
