//! The AdminServer commands that move the whole database: `snapshot` (GET: a fresh
//! snapshot streamed out) and `restore` (POST: the server's state replaced by a snapshot
//! in the request body), as Java 3.9's `Commands.SnapshotCommand` / `RestoreCommand`,
//! with the authentication and authorization Java puts in front of both (`AuthRequest`:
//! an `Authorization: <scheme> [<auth>]` header whose ids must hold every permission on
//! `/`), their feature flags and their rate limiters.
//!
//! A restore is made durable before it is visible: the core stops taking requests and
//! lets what is in flight finish (`Input::RestoreBegin`, answered with the zxid Z it
//! stopped at), the restored tree is written as `snapshot.Z` (through a temporary file,
//! renamed and synced), and only then does the core swap it in (`Input::RestoreCommit`),
//! so a crash at any point recovers either the old state or the restored one, and every
//! write after the swap is logged after `snapshot.Z`. The zxid never goes back (Java's
//! does, to the snapshot's). Standalone servers only: on an ensemble member a local
//! restore would silently diverge from the other members' replicas (Java allows it).
//!
//! Owns: the admin auth check, the rate limiters, streaming the request body into the
//! snapshot loader (bounded: a few chunks in flight), the restore's temporary file.
//! Must never: swap the state itself (the core does), answer a restore before its
//! snapshot is synced, or hold more than `BODY_CHUNKS` chunks of a body in memory.

use super::core::{Input, RestoreOutcome, Restored};
use super::http::{Head, Reply, RequestBody};
use super::settings::Settings;
use super::shared::Shared;
use crate::admin::json::{Json, command_response};
use crate::jute::records::Id;
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};

/// Java's `RateLimiter` with a rate of one: the first request of each window of
/// `interval_ms` is allowed (a window starts at the first request after the last one
/// ended; the first starts when the server does).
#[derive(Debug)]
pub struct RateLimiter {
    interval_ms: i64,
    window_start_ms: i64,
    used: bool,
}

impl RateLimiter {
    pub fn new(interval_ms: i64, now_ms: i64) -> Self {
        RateLimiter {
            interval_ms,
            window_start_ms: now_ms,
            used: false,
        }
    }

    pub fn allow(&mut self, now_ms: i64) -> bool {
        if now_ms > self.window_start_ms + self.interval_ms {
            self.used = false;
            self.window_start_ms = now_ms;
        }
        !std::mem::replace(&mut self.used, true)
    }
}

/// The two commands' limiters (Java's are per command instance: one each per server).
pub struct Limits {
    snapshot: RateLimiter,
    restore: RateLimiter,
}

impl Limits {
    /// `interval`: `zookeeper.admin.rateLimiterIntervalInMS`. 3.9.5 builds the
    /// snapshot's limiter with MICROSECONDS, so it allows one snapshot per interval/1000
    /// ms; the restore's is in ms as documented.
    pub fn new(interval: i64, now_ms: i64) -> Self {
        Limits {
            snapshot: RateLimiter::new(interval / 1000, now_ms),
            restore: RateLimiter::new(interval, now_ms),
        }
    }
}

/// `Commands.handleAuthentication` + `handleAuthorization` for a command that needs ALL
/// on `/`: `None` when allowed, else the answer (401 without a header or without ids,
/// 403 without a permission).
pub fn check_auth(command: &str, h: &Head, settings: &Settings, shared: &Shared) -> Option<Reply> {
    let refuse = |status, msg| {
        Some(Reply::json(
            status,
            command_response(command, Some(msg), vec![]),
        ))
    };
    let Some(info) = h.authorization.as_deref() else {
        return refuse(401, "Auth info is missing for the command");
    };
    let Some(ids) = auth_ids(info, h, settings) else {
        return refuse(401, "Not authenticated");
    };
    let acl = shared.tree.read().acl("/");
    let rules = settings.prep.acl_rules();
    // Each bit of ALL on its own, as Java's handleAuthorization checks them.
    use crate::proto::perms::{ADMIN, CREATE, DELETE, READ, WRITE};
    let allowed = acl.is_some_and(|acl| {
        [READ, WRITE, CREATE, DELETE, ADMIN]
            .into_iter()
            .all(|bit| rules.allows(&acl, bit, &ids))
    });
    if allowed {
        None
    } else {
        refuse(403, "Not authorized")
    }
}

/// The ids an `Authorization` value gives (`scheme` or `scheme auth`, split on single
/// spaces as Java's `String.split(" ")`); None when the scheme has no provider that
/// authenticates HTTP requests, or gives no id.
fn auth_ids(info: &str, h: &Head, settings: &Settings) -> Option<Vec<Id>> {
    let parts = crate::tree::acl::java_split(info, ' ');
    let (scheme, auth) = match parts[..] {
        [s] => (s, None),
        [s, a] => (s, Some(a)),
        _ => return None,
    };
    let providers = settings.prep.providers;
    match scheme {
        "digest" if providers.digest => {
            // Java: `new String(authData)` of a missing auth throws: not authenticated.
            let super_digest = settings.super_digest.as_deref();
            Some(crate::tree::acl::digest_auth_ids(auth?, super_digest))
        }
        // IPAuthenticationProvider.getClientIPAddress: X-Forwarded-For first.
        "ip" => {
            let ip = h
                .forwarded_for
                .clone()
                .or_else(|| h.peer.map(|p| p.ip().to_string()))?;
            Some(vec![Id {
                scheme: "ip".into(),
                id: ip,
            }])
        }
        // The chain the admin port's handshake took (admin.needClientAuth), checked
        // against the client trust store as Java's X509AuthenticationProvider does.
        "x509" if providers.x509 => {
            let x509 = settings.admin_http.as_ref()?.x509.as_ref()?;
            Some(x509.ids(&h.peer_certs)).filter(|ids| !ids.is_empty())
        }
        // sasl has no HTTP authentication.
        _ => None,
    }
}

/// `GET snapshot[?streaming=false]`, past the auth check.
pub async fn snapshot(
    h: &Head,
    settings: &Settings,
    limits: &parking_lot::Mutex<Limits>,
    core: &mpsc::Sender<Input>,
    now_ms: i64,
) -> Reply {
    let bare = |status| Reply::json(status, command_response("snapshot", None, vec![]));
    let a = settings.admin_http.as_ref();
    if !a.is_some_and(|a| a.snapshot_enabled) {
        tracing::warn!("Snapshot command is disabled");
        return bare(503);
    }
    if !settings.serialize_last_zxid {
        tracing::warn!(
            "Snapshot command requires serializeLastProcessedZxidEnable flag is set to true"
        );
        return bare(500);
    }
    if !limits.lock().snapshot.allow(now_ms) {
        crate::metrics::SNAPSHOT_RATE_LIMITED_COUNT.inc();
        tracing::warn!("Snapshot request was rate limited");
        return bare(429);
    }
    let streaming = h
        .params
        .iter()
        .find(|(k, _)| k == "streaming")
        .is_none_or(|(_, v)| v.eq_ignore_ascii_case("true"));
    let (tx, rx) = oneshot::channel();
    let written = match core.send(Input::SnapshotNow(tx)).await {
        Ok(()) => rx
            .await
            .unwrap_or_else(|_| Err("the server stopped".into())),
        Err(_) => Err("the server stopped".into()),
    };
    let w = match written {
        Ok(w) => w,
        Err(e) => {
            crate::metrics::SNAPSHOT_ERROR_COUNT.inc();
            tracing::warn!("snapshot via the snapshot admin command failed: {e}");
            return bare(500);
        }
    };
    let mut reply = if w.size == 0 {
        crate::metrics::SNAPSHOT_ERROR_COUNT.inc();
        bare(500)
    } else if streaming {
        Reply::file(200, "application/octet-stream", w.path, w.size)
    } else {
        bare(200)
    };
    reply
        .headers
        .push(("last_zxid", format!("0x{:x}", w.zxid as u64)));
    reply.headers.push(("snapshot_size", w.size.to_string()));
    reply
}

/// Chunks of a restore body in flight between the HTTP task and the loader.
const BODY_CHUNKS: usize = 8;
const CHUNK: usize = 256 * 1024;

/// `POST restore` with a snapshot as the body, past the auth check.
pub async fn restore(
    body: &mut RequestBody<'_>,
    settings: &Settings,
    limits: &parking_lot::Mutex<Limits>,
    core: &mpsc::Sender<Input>,
    standalone: bool,
    now_ms: i64,
) -> Reply {
    let answer = |status, error: Option<&str>, data| {
        Reply::json(status, command_response("restore", error, data))
    };
    if !settings
        .admin_http
        .as_ref()
        .is_some_and(|a| a.restore_enabled)
    {
        tracing::warn!("Restore command is disabled");
        return answer(503, None, vec![]);
    }
    if !settings.serialize_last_zxid {
        tracing::warn!(
            "Restore command requires serializeLastProcessedZxidEnable flag is set to true"
        );
        return answer(500, None, vec![]);
    }
    // Java checks for a missing body (400), but Jetty always hands it one: an empty
    // body fails as a truncated snapshot (500), here too.
    if !limits.lock().restore.allow(now_ms) {
        crate::metrics::RESTORE_RATE_LIMITED_COUNT.inc();
        tracing::warn!("Restore request was rate limited");
        return answer(429, None, vec![]);
    }
    if !standalone {
        return answer(
            500,
            Some(
                "restore is supported on a standalone server only: on an ensemble member it would diverge from the others",
            ),
            vec![],
        );
    }
    let Some(data_dir) = settings.data_dir.as_ref() else {
        return answer(500, Some("no data directory"), vec![]);
    };
    let started = std::time::Instant::now();
    match restore_from(body, settings, crate::storage::version_dir(data_dir), core).await {
        Ok(zxid) => {
            crate::metrics::RESTORE_TIME.observe(started.elapsed().as_millis() as i64);
            answer(200, None, vec![("last_zxid".into(), Json::int(zxid))])
        }
        Err(e) => {
            crate::metrics::RESTORE_ERROR_COUNT.inc();
            tracing::warn!("restore via the restore admin command failed: {e}");
            answer(500, None, vec![])
        }
    }
}

/// Load the body into a new tree, then have the core stop, write it as its snapshot and
/// swap it in. Returns the zxid the restored state continues from.
async fn restore_from(
    body: &mut RequestBody<'_>,
    settings: &Settings,
    snap_dir: PathBuf,
    core: &mpsc::Sender<Input>,
) -> Result<i64, String> {
    let ext = settings.prep.extended_types_enabled;
    let max_field = settings.jute_limits().field();
    let (chunks, reader) = ChannelReader::new(BODY_CHUNKS);
    let loader = tokio::task::spawn_blocking(move || {
        crate::server::startup::load_snapshot_from(reader, ext, max_field)
    });
    let mut buf = vec![0u8; CHUNK];
    let mut fed = Ok(());
    loop {
        match body.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                // The loader stops reading on a bad snapshot: its error says why.
                if chunks.send(buf[..n].to_vec()).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                fed = Err(format!("reading the request body: {e}"));
                break;
            }
        }
    }
    drop(chunks);
    let loaded = loader
        .await
        .map_err(|e| format!("the snapshot loader failed: {e}"))?;
    fed?;
    let (tree, sessions) = loaded.map_err(|e| format!("not a valid snapshot: {e}"))?;
    tracing::info!(
        "restore: loaded {} znodes and {} sessions from the request",
        tree.node_count(),
        sessions.len()
    );
    let (tx, rx) = oneshot::channel();
    core.send(Input::RestoreBegin(tx))
        .await
        .map_err(|_| "the server stopped".to_string())?;
    let zxid = rx.await.map_err(|_| "the server stopped".to_string())??;
    // From here the core waits for our commit or abort.
    let written = tokio::task::spawn_blocking(move || {
        write_restored(&snap_dir, &tree, &sessions, zxid).map(|()| (tree, sessions))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    let (tree, sessions) = match written {
        Ok(x) => x,
        Err(e) => {
            let _ = core.send(Input::RestoreAbort).await;
            return Err(format!("writing the restored snapshot: {e}"));
        }
    };
    let (tx, rx) = oneshot::channel();
    let restored = Restored {
        tree,
        sessions,
        reply: tx,
    };
    core.send(Input::RestoreCommit(Box::new(restored)))
        .await
        .map_err(|_| "the server stopped".to_string())?;
    let outcome: RestoreOutcome = rx.await.map_err(|_| "the server stopped".to_string())?;
    outcome
}

/// `snapshot.<zxid>` of the restored tree, written under a temporary name, synced, then
/// renamed over any snapshot of that name and the directory synced.
fn write_restored(
    dir: &std::path::Path,
    tree: &crate::tree::DataTree,
    sessions: &[(i64, i32)],
    zxid: i64,
) -> std::io::Result<()> {
    let tmp = dir.join(format!("restore.{}.tmp", std::process::id()));
    let r = crate::server::startup::write_snapshot_file(&tmp, tree, sessions, zxid);
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let dest = dir.join(crate::storage::snapshot::snapshot_file_name(zxid));
    if let Err(e) = std::fs::rename(&tmp, &dest) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        // The restore is abandoned: the newest snapshot must not be one the server is
        // not running from (the logs after it would be replayed onto the wrong tree).
        let _ = std::fs::remove_file(&dest);
        return Err(e);
    }
    tracing::info!("restore: wrote {}", dest.display());
    Ok(())
}

/// A blocking `Read` over chunks sent through a bounded channel (the request body, fed
/// by the HTTP task, read by the snapshot loader on the blocking pool).
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ChannelReader {
    fn new(bound: usize) -> (mpsc::Sender<Vec<u8>>, ChannelReader) {
        let (tx, rx) = mpsc::channel(bound);
        (
            tx,
            ChannelReader {
                rx,
                chunk: Vec::new(),
                at: 0,
            },
        )
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(c) => {
                    self.chunk = c;
                    self.at = 0;
                }
                // The sender is gone: the body ended (or was cut short; the loader then
                // reports a truncated snapshot).
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_allows_one_per_window_as_java() {
        let mut r = RateLimiter::new(300, 1000);
        assert!(r.allow(1000));
        assert!(!r.allow(1100));
        // Java resets only once now > start + interval.
        assert!(!r.allow(1300));
        assert!(r.allow(1301));
        assert!(!r.allow(1500));
        assert!(r.allow(5000));
        // The snapshot's limiter is the interval in µs.
        let mut l = Limits::new(300_000, 0);
        assert!(l.snapshot.allow(0) && !l.snapshot.allow(300) && l.snapshot.allow(301));
        assert!(l.restore.allow(0) && !l.restore.allow(300_000) && l.restore.allow(300_001));
    }

    #[test]
    fn channel_reader_reads_chunks_then_ends() {
        use std::io::Read;
        let (tx, mut r) = ChannelReader::new(2);
        let feeder = std::thread::spawn(move || {
            for c in [b"ab".to_vec(), Vec::new(), b"cde".to_vec()] {
                tx.blocking_send(c).unwrap();
            }
        });
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        feeder.join().unwrap();
        assert_eq!(all, b"abcde");
    }

    fn head(auth: Option<&str>) -> Head {
        let mut h = super::super::http::parse_head(b"GET /commands/snapshot HTTP/1.1").unwrap();
        h.authorization = auth.map(str::to_owned);
        h.peer = Some("127.0.0.1:5000".parse().unwrap());
        h
    }

    #[test]
    fn authorization_values_give_ids_as_java_providers() {
        let s = Settings::default();
        let ids = |v: &str, h: &Head| auth_ids(v, h, &s);
        let h = head(None);
        let d = ids("digest root:pw", &h).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].id, crate::tree::acl::digest_id("root:pw"));
        // A trailing space is dropped by split; two in a row make three parts.
        assert!(ids("digest root:pw ", &h).is_some());
        assert!(ids("digest  root:pw", &h).is_none());
        assert!(ids("digest", &h).is_none());
        assert!(ids("sasl bob", &h).is_none());
        assert!(ids("x509", &h).is_none());
        assert!(ids("nope x", &h).is_none());
        assert_eq!(ids("ip", &h).unwrap()[0].id, "127.0.0.1");
        let mut fwd = head(None);
        fwd.forwarded_for = Some("10.1.2.3".into());
        assert_eq!(ids("ip", &fwd).unwrap()[0].id, "10.1.2.3");
        // The super digest adds the super id first.
        let s2 = Settings {
            super_digest: Some(crate::tree::acl::digest_id("super:sec")),
            ..Settings::default()
        };
        let v = auth_ids("digest super:sec", &h, &s2).unwrap();
        assert_eq!(v[0].scheme, "super");
        // Without the digest provider a digest header authenticates nobody.
        let mut s3 = Settings::default();
        s3.prep.providers.digest = false;
        assert!(auth_ids("digest root:pw", &h, &s3).is_none());
    }
}
