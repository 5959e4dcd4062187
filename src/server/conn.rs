//! One client connection: framing, the four-letter-word sniff, the handshake, and the
//! reader/writer halves.
//!
//! Owns: bytes on one socket. Frames are 4-byte big-endian length prefixed and bounded by
//! jute.maxbuffer; a bad frame closes this connection only (with a logged reason).
//! After the ConnectRequest no further frame is read until the core has answered it
//! (Java clients pipeline auth/setWatches/requests behind the ConnectRequest).
//! Must never: touch the tree or session table (everything goes to the core in order).

use crate::admin::{self, Answer, Query};
use crate::config::fourlw::{self, FourLetterWord};
use crate::jute::records::{ConnectRequest, RequestHeader};
use crate::jute::{Reader, Record};
use crate::proto::{Request, decode_request, op};
use crate::server::clock;
use crate::server::core::{InboundRequest, Input};
use crate::server::local_read::LocalReader;
use crate::server::outbox::Outbox;
use crate::server::settings::Settings;
use crate::server::shared::{ConnId, ConnLink, Shared};
use crate::server::transport::{self, Opened, PortMode, ReadSide, WriteSide};
use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// How long a fresh connection may take to send its ConnectRequest (Java drops such
/// connections after about 10 s too).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most frames handed to the core in one message.
const MAX_BATCH: usize = 128;
/// How often a throttled connection looks whether its own requests are all answered.
const THROTTLE_RECHECK: Duration = Duration::from_millis(20);
/// How long a connection task serves reads before it lets other tasks run.
const LOCAL_READ_SLICE: Duration = Duration::from_micros(300);

#[allow(clippy::too_many_arguments)]
pub async fn serve(
    id: ConnId,
    stream: TcpStream,
    peer: SocketAddr,
    mode: PortMode,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    core: mpsc::Sender<Input>,
) {
    let _ = stream.set_nodelay(true);
    let Some(Opened {
        mut rd,
        mut wr,
        direct,
        tls_ids,
    }) = transport::open(stream, peer, &mode, &shared).await
    else {
        return;
    };
    let mut buf = BytesMut::with_capacity(4096);

    // First 4 bytes: a four-letter word or the length of the ConnectRequest.
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, rd.read_at_least(&mut buf, 4)).await;
    if !matches!(first, Ok(Ok(true))) {
        if matches!(first, Ok(Ok(false))) {
            crate::metrics::CONNECTION_DROP_COUNT.inc();
        }
        return;
    }
    let head = [buf[0], buf[1], buf[2], buf[3]];
    if let Some(word) = fourlw::parse_4lw(head) {
        let text = if !settings.four_letter_allowed(word.name()) {
            Some(fourlw::not_whitelisted_message(word))
        } else if word == FourLetterWord::TelnetClose {
            // Enabled telnet close: Java falls through to its length check and drops us.
            return;
        } else {
            if word == FourLetterWord::Stmk {
                // stmk carries an 8-byte trace mask after the word.
                let _ =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, rd.read_at_least(&mut buf, 12)).await;
                if let Some(mask) = buf.get(4..12).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                    admin::set_trace_mask(i64::from_be_bytes(mask));
                }
            }
            let conf = settings.conf_view();
            let mode = shared.serving_mode();
            admin::reply(word, peer, &conf, mode, |query| ask_core(&core, query)).await
        };
        if let Some(text) = text {
            let _ = wr.write_all(text.as_bytes()).await;
            wr.shutdown().await;
        }
        return;
    }

    // The ConnectRequest.
    let frame = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        read_frame(&mut rd, &mut buf, settings.max_buffer),
    )
    .await
    {
        Ok(Ok(Some(f))) => f,
        Ok(Ok(None)) => {
            crate::metrics::CONNECTION_DROP_COUNT.inc();
            return;
        }
        Ok(Err(e)) => {
            tracing::warn!("closing connection from {peer}: {e}");
            return;
        }
        Err(_) => return,
    };
    if !shared.throttle.large.admits(frame.len()) {
        tracing::warn!("closing connection from {peer}: Rejecting large request");
        return;
    }
    let req = match ConnectRequest::from_bytes(frame) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("closing connection from {peer}: malformed ConnectRequest: {e}");
            return;
        }
    };
    let outbox = Arc::new(Outbox::new(direct));
    let link = Arc::new(ConnLink::new(shared.throttle.clone()));
    if !tls_ids.is_empty() {
        link.add_auth(tls_ids);
    }
    let (tx, rx) = oneshot::channel();
    if core
        .send(Input::Connect {
            conn: id,
            peer,
            req,
            outbox: outbox.clone(),
            link: link.clone(),
            reply: tx,
        })
        .await
        .is_err()
    {
        return;
    }
    let established = match rx.await {
        Ok(verdict) => verdict,
        Err(_) => {
            // The core went away without a verdict (an ensemble role ended while this
            // handshake waited on the quorum): nobody else will close this connection.
            outbox.close();
            false
        }
    };
    let writer = tokio::spawn(write_loop(wr, outbox.clone()));
    if established {
        let mut reader = LocalReader {
            shared,
            link,
            conn: id,
            acl_rules: settings.prep.acl_rules(),
            enforce_auth_schemes: settings.enforce_auth_schemes.clone(),
            touch_every: Duration::from_millis((settings.tick_ms / 2).max(1) as u64),
            last_touch: Instant::now(),
            pending: Default::default(),
        };
        read_loop(
            &mut rd,
            &mut buf,
            peer,
            &settings,
            &core,
            &outbox,
            &mut reader,
        )
        .await;
        // Whatever of this connection the core still holds is answered to nobody (stale
        // replies, or a role that ended with it): it no longer counts as outstanding.
        reader.link.release_all();
        let _ = core.send(Input::Disconnected { conn: id }).await;
        outbox.close_after_flush();
    }
    let _ = writer.await;
}

/// Read frames until the connection ends: plain reads `reader` may serve itself, the
/// rest go to the core in batches.
async fn read_loop(
    rd: &mut ReadSide,
    buf: &mut BytesMut,
    peer: SocketAddr,
    settings: &Settings,
    core: &mpsc::Sender<Input>,
    outbox: &Arc<Outbox>,
    reader: &mut LocalReader,
) {
    let id = reader.conn;
    let throttle = reader.shared.throttle.clone();
    loop {
        // Decode every complete frame already buffered, then read more.
        let mut reqs = Vec::new();
        // One clock read per read syscall, shared by the frames it brought.
        let received_ms = clock::mono_ms();
        let mut slice_start = Instant::now();
        loop {
            match next_frame(buf, settings.max_buffer) {
                Ok(Some(frame)) => {
                    let len = frame.len();
                    let mut r = Reader::new(frame);
                    let h = match RequestHeader::read(&mut r) {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::warn!(
                                "closing connection from {peer}: malformed request header: {e}"
                            );
                            send_batch(id, core, &mut reqs).await;
                            return;
                        }
                    };
                    // The large-request limit: a large request's bytes count until it is
                    // answered (`take` refuses it when they would pass the max); auth and
                    // sasl, answered on the spot, only have their length checked.
                    let large = if h.op_type == op::AUTH || h.op_type == op::SASL {
                        throttle.large.admits(len).then_some(0)
                    } else {
                        throttle.large.take(len)
                    };
                    let Some(large) = large else {
                        tracing::warn!("closing connection from {peer}: Rejecting large request");
                        send_batch(id, core, &mut reqs).await;
                        return;
                    };
                    let body = r.rest();
                    let req = match decode_request(h.op_type, &mut r) {
                        Ok(req) => req,
                        Err(e) => {
                            tracing::debug!(
                                "undecodable body for opcode {} from {peer}: {e}",
                                h.op_type
                            );
                            Request::Undecodable(h.op_type)
                        }
                    };
                    if reader.try_serve(h.xid, h.op_type, &req, outbox, clock::mono_ms()) {
                        throttle.large.release(large);
                        // Best effort: if the core's queue is full, a later read retries.
                        if reader.touch_due() && core.try_send(Input::Touch { conn: id }).is_ok() {
                            reader.touched();
                        }
                        // Big reads (a 10k-child getChildren) must not keep this worker
                        // from other connections for a whole pipelined batch.
                        if slice_start.elapsed() >= LOCAL_READ_SLICE {
                            reader.flush();
                            tokio::task::yield_now().await;
                            slice_start = Instant::now();
                        }
                        continue;
                    }
                    reader.link.sent_to_core(1);
                    if throttle.large.enabled() {
                        reader.link.sent_large_to_core(large);
                    }
                    reqs.push(InboundRequest {
                        xid: h.xid,
                        op_code: h.op_type,
                        req,
                        received_ms,
                        body,
                    });
                    if reqs.len() >= MAX_BATCH && !send_batch(id, core, &mut reqs).await {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("closing connection from {peer}: {e}");
                    send_batch(id, core, &mut reqs).await;
                    return;
                }
            }
        }
        reader.flush();
        if !send_batch(id, core, &mut reqs).await {
            return;
        }
        if outbox.is_closed() || outbox.closing_after_flush() {
            return;
        }
        // Too many requests in process (globalOutstandingLimit): a connection with
        // requests of its own at the core stops reading until the core catches up, so
        // its client feels it through TCP (as Java's shouldThrottle).
        while throttle.over() && !reader.link.idle_at_core() {
            tokio::select! {
                _ = throttle.wait_below() => {}
                _ = tokio::time::sleep(THROTTLE_RECHECK) => {}
                _ = outbox.wait_closed() => return,
            }
        }
        tokio::select! {
            r = rd.read_some(buf) => match r {
                // The client closed its socket (Java's handleFailedRead), unless the
                // server was closing the connection itself (a closeSession answered).
                Ok(0) => {
                    if !outbox.is_closed() && !outbox.closing_after_flush() {
                        crate::metrics::CONNECTION_DROP_COUNT.inc();
                    }
                    return;
                }
                Err(_) => return,
                Ok(_) => {}
            },
            _ = outbox.wait_closed() => return,
        }
    }
}

/// One admin question to the core (a four-letter word, an AdminServer command, a
/// scrape); None if the core is gone.
pub(crate) async fn ask_core(core: &mpsc::Sender<Input>, query: Query) -> Option<Answer> {
    let (tx, rx) = oneshot::channel();
    core.send(Input::FourLetter { query, reply: tx })
        .await
        .ok()?;
    rx.await.ok()
}

async fn send_batch(
    id: ConnId,
    core: &mpsc::Sender<Input>,
    reqs: &mut Vec<InboundRequest>,
) -> bool {
    if reqs.is_empty() {
        return true;
    }
    let batch = std::mem::take(reqs);
    core.send(Input::Requests {
        conn: id,
        reqs: batch,
    })
    .await
    .is_ok()
}

/// Writes what the core could not write directly (a full socket buffer, or more
/// connections to serve in one iteration than the core writes itself; everything on TLS).
async fn write_loop(mut wr: WriteSide, outbox: Arc<Outbox>) {
    loop {
        while let Some(data) = outbox.take_for_writer() {
            if wr.write_all(&data).await.is_err() {
                outbox.close();
                return;
            }
        }
        if outbox.is_closed() || outbox.closing_after_flush() {
            wr.shutdown().await;
            return;
        }
        outbox.wait().await;
    }
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {0} is negative or exceeds jute.maxbuffer {1}")]
    BadLength(i64, usize),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Split one complete frame off the front of `buf`, if there is one.
pub fn next_frame(buf: &mut BytesMut, max: usize) -> Result<Option<bytes::Bytes>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 0 || len as usize > max {
        return Err(FrameError::BadLength(len as i64, max));
    }
    let len = len as usize;
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

async fn read_frame(
    rd: &mut ReadSide,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<bytes::Bytes>, FrameError> {
    loop {
        if let Some(f) = next_frame(buf, max)? {
            return Ok(Some(f));
        }
        if rd.read_some(buf).await? == 0 {
            return Ok(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::outbox::FlushList;

    /// Over globalOutstandingLimit a connection with requests of its own in process stops
    /// reading its socket until the core has answered enough of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_over_the_outstanding_limit_stops_reading() {
        use crate::jute::records::ConnectRequest;
        use tokio::io::AsyncWriteExt;
        let settings = Arc::new(Settings::default());
        let shared = Arc::new(Shared::new(crate::tree::DataTree::new(), 0, 2));
        let throttle = shared.throttle.clone();
        let (core_tx, mut core_rx) = mpsc::channel::<Input>(64);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, peer) = listener.accept().await.unwrap();
            serve(1, s, peer, PortMode::Plain, settings, shared, core_tx).await;
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut hs = bytes::BytesMut::new();
        crate::proto::encode_frame(&mut hs, |b| {
            ConnectRequest {
                time_out: 10_000,
                passwd: vec![0u8; 16].into(),
                ..ConnectRequest::default()
            }
            .write(b)
        });
        client.write_all(&hs).await.unwrap();
        // The fake core: establish the session, keep the link.
        let link = match core_rx.recv().await {
            Some(Input::Connect { link, reply, .. }) => {
                let _ = reply.send(true);
                link
            }
            _ => panic!("expected the handshake"),
        };
        // Five pings (the core answers none of them yet).
        let ping = |xid: i32| {
            let mut b = bytes::BytesMut::new();
            crate::proto::encode_frame(&mut b, |b| {
                RequestHeader {
                    xid,
                    op_type: crate::proto::op::PING,
                }
                .write(b)
            });
            b
        };
        let mut first = bytes::BytesMut::new();
        for x in 1..=5 {
            first.extend_from_slice(&ping(x));
        }
        client.write_all(&first).await.unwrap();
        let mut got = 0;
        while got < 5 {
            match tokio::time::timeout(Duration::from_secs(5), core_rx.recv()).await {
                Ok(Some(Input::Requests { reqs, .. })) => got += reqs.len(),
                _ => panic!("the first five requests did not reach the core"),
            }
        }
        // 5 in process > limit 2: the next request must not be read.
        client.write_all(&ping(6)).await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), core_rx.recv())
                .await
                .is_err(),
            "a request was read while over the limit"
        );
        // The core answers four: 1 in process, under the limit: reading resumes.
        for _ in 0..4 {
            link.answered_by_core();
        }
        match tokio::time::timeout(Duration::from_secs(5), core_rx.recv()).await {
            Ok(Some(Input::Requests { reqs, .. })) => assert_eq!(reqs[0].xid, 6),
            _ => panic!("reading did not resume under the limit"),
        }
        assert_eq!(throttle.in_process(), 2);
        // The client goes away with two requests unanswered: they are released with the
        // connection (the core answers them to nobody), not held in the count forever.
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the connection task ends with its client")
            .expect("the connection task");
        assert_eq!(
            throttle.in_process(),
            0,
            "a closed connection's requests still count"
        );
        // A late answer from the core for the gone connection changes nothing.
        link.answered_by_core();
        assert_eq!(throttle.in_process(), 0);
    }

    /// Words that print no core state are answered on the connection's task: here the
    /// core never reads its queue (as when it is busy), and they still answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_words_answer_while_the_core_does_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let settings = Arc::new(Settings {
            four_letter_whitelist: fourlw::build_whitelist(Some("*"), false),
            data_dir: Some(dir.path().to_path_buf()),
            data_log_dir: Some(dir.path().to_path_buf()),
            ..Settings::default()
        });
        let shared = Arc::new(Shared::new(crate::tree::DataTree::new(), 0, 1000));
        // One slot: the first word that asked the core would sit in it unanswered.
        let (core_tx, _core_rx) = mpsc::channel::<Input>(1);
        for (word, expect) in [
            ("ruok", "imok"),
            ("isro", "rw"),
            ("dirs", "datadir_size: 0\nlogdir_size: 0\n"),
            ("conf", "clientPort=2181\n"),
            ("envi", "Environment:\n"),
            ("ruok", "imok"),
        ] {
            let mut client = TcpStream::connect(addr).await.unwrap();
            let (sock, peer) = listener.accept().await.unwrap();
            let task = tokio::spawn(serve(
                1,
                sock,
                peer,
                PortMode::Plain,
                settings.clone(),
                shared.clone(),
                core_tx.clone(),
            ));
            tokio::io::AsyncWriteExt::write_all(&mut client, word.as_bytes())
                .await
                .unwrap();
            let mut out = Vec::new();
            let read = tokio::io::AsyncReadExt::read_to_end(&mut client, &mut out);
            if tokio::time::timeout(Duration::from_secs(5), read)
                .await
                .is_err()
            {
                task.abort();
                panic!("{word} waited for the core");
            }
            let text = String::from_utf8_lossy(&out);
            assert!(text.starts_with(expect), "{word}: {text:?}");
            let _ = task.await;
        }
    }

    /// The core's direct writes and the writer task's backlog writes never reorder bytes:
    /// a reader that stalls (so the socket fills and the writer task takes over) and then
    /// drains must see every frame once, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_and_backlog_writes_keep_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            // Stall first so the server's socket buffer fills up, then drain slowly in
            // small pieces, so space frees up again and again while frames keep coming.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut all = Vec::new();
            let mut piece = [0u8; 4096];
            loop {
                let n = tokio::io::AsyncReadExt::read(&mut c, &mut piece)
                    .await
                    .unwrap();
                if n == 0 {
                    break all;
                }
                all.extend_from_slice(&piece[..n]);
                if all.len() % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let (server, _) = listener.accept().await.unwrap();
        let sock = Arc::new(server);
        let outbox = Arc::new(Outbox::new(Some(sock.clone())));
        let writer = tokio::spawn(write_loop(WriteSide::Plain(sock.clone()), outbox.clone()));
        let mut list = FlushList::default();
        const FRAMES: u32 = 100_000;
        for i in 0..FRAMES {
            assert!(outbox.push_with(&mut list, |b| {
                b.extend_from_slice(&i.to_be_bytes());
                b.extend_from_slice(&[i as u8; 252]);
            }));
            // Flush every few frames, as the core does once per loop iteration.
            if i % 7 == 0 {
                list.flush();
                tokio::task::yield_now().await;
            }
            if i % 500 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        list.flush();
        outbox.close_after_flush();
        writer.await.unwrap();
        drop(sock);
        drop(outbox);
        let all = client.await.unwrap();
        assert_eq!(all.len(), FRAMES as usize * 256);
        for (i, frame) in all.chunks(256).enumerate() {
            let n = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            assert_eq!(n, i as u32, "frame {i} out of order");
            assert!(frame[4..].iter().all(|&b| b == i as u8));
        }
    }
}
