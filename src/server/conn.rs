//! One client connection: framing, the four-letter-word sniff, the handshake, and the
//! reader/writer halves.
//!
//! Owns: bytes on one socket. Frames are 4-byte big-endian length prefixed and bounded by
//! jute.maxbuffer; a bad frame closes this connection only (with a logged reason).
//! After the ConnectRequest no further frame is read until the core has answered it
//! (Java clients pipeline auth/setWatches/requests behind the ConnectRequest).
//! Must never: touch the tree or session table (everything goes to the core in order).

use crate::config::fourlw::{self, FourLetterWord};
use crate::jute::records::{ConnectRequest, RequestHeader};
use crate::jute::{Reader, Record};
use crate::proto::{Request, decode_request};
use crate::server::core::{ConnId, CoreMsg, InboundRequest};
use crate::server::outbox::Outbox;
use crate::server::settings::Settings;
use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// How long a fresh connection may take to send its ConnectRequest (Java drops such
/// connections after about 10 s too).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most frames handed to the core in one message.
const MAX_BATCH: usize = 128;

pub async fn serve(
    id: ConnId,
    stream: TcpStream,
    peer: SocketAddr,
    settings: Arc<Settings>,
    core: mpsc::Sender<CoreMsg>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = BytesMut::with_capacity(4096);

    // First 4 bytes: a four-letter word or the length of the ConnectRequest.
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_at_least(&mut rd, &mut buf, 4)).await;
    if !matches!(first, Ok(Ok(true))) {
        return;
    }
    let head = [buf[0], buf[1], buf[2], buf[3]];
    if let Some(word) = fourlw::parse_4lw(head) {
        let text = if !settings.four_letter_allowed(word.name()) {
            fourlw::not_whitelisted_message(word)
        } else if word == FourLetterWord::TelnetClose {
            // Enabled telnet close: Java falls through to its length check and drops us.
            return;
        } else {
            if word == FourLetterWord::Stmk {
                // stmk carries an 8-byte trace mask after the word.
                let _ =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, read_at_least(&mut rd, &mut buf, 12))
                        .await;
            }
            let (tx, rx) = oneshot::channel();
            if core
                .send(CoreMsg::FourLetter {
                    word: word.name().to_owned(),
                    reply: tx,
                })
                .await
                .is_err()
            {
                return;
            }
            rx.await.unwrap_or_default()
        };
        let _ = wr.write_all(text.as_bytes()).await;
        let _ = wr.shutdown().await;
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
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::warn!("closing connection from {peer}: {e}");
            return;
        }
        Err(_) => return,
    };
    let req = match ConnectRequest::from_bytes(frame) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("closing connection from {peer}: malformed ConnectRequest: {e}");
            return;
        }
    };
    let outbox = Arc::new(Outbox::new());
    let (tx, rx) = oneshot::channel();
    if core
        .send(CoreMsg::Connect {
            conn: id,
            peer,
            req,
            outbox: outbox.clone(),
            reply: tx,
        })
        .await
        .is_err()
    {
        return;
    }
    let established = rx.await.unwrap_or(false);
    let writer = tokio::spawn(write_loop(wr, outbox.clone()));
    if established {
        read_loop(id, &mut rd, &mut buf, peer, &settings, &core, &outbox).await;
        let _ = core.send(CoreMsg::Disconnected { conn: id }).await;
        outbox.close_after_flush();
    }
    let _ = writer.await;
}

async fn read_loop(
    id: ConnId,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    peer: SocketAddr,
    settings: &Settings,
    core: &mpsc::Sender<CoreMsg>,
    outbox: &Outbox,
) {
    loop {
        // Decode every complete frame already buffered, then read more.
        let mut reqs = Vec::new();
        // One clock read per read syscall, shared by the frames it brought.
        let received = Instant::now();
        loop {
            match next_frame(buf, settings.max_buffer) {
                Ok(Some(frame)) => {
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
                    reqs.push(InboundRequest {
                        xid: h.xid,
                        op_code: h.op_type,
                        req,
                        received,
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
        if !send_batch(id, core, &mut reqs).await {
            return;
        }
        if outbox.is_closed() || outbox.closing_after_flush() {
            return;
        }
        tokio::select! {
            r = rd.read_buf(buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = outbox.wait_closed() => return,
        }
    }
}

async fn send_batch(
    id: ConnId,
    core: &mpsc::Sender<CoreMsg>,
    reqs: &mut Vec<InboundRequest>,
) -> bool {
    if reqs.is_empty() {
        return true;
    }
    let batch = std::mem::take(reqs);
    core.send(CoreMsg::Requests {
        conn: id,
        reqs: batch,
    })
    .await
    .is_ok()
}

async fn write_loop(mut wr: tokio::net::tcp::OwnedWriteHalf, outbox: Arc<Outbox>) {
    loop {
        let data = outbox.take();
        if !data.is_empty() {
            if wr.write_all(&data).await.is_err() {
                outbox.close();
                return;
            }
            continue;
        }
        if outbox.is_closed() || outbox.closing_after_flush() {
            let _ = wr.shutdown().await;
            return;
        }
        outbox.wait().await;
    }
}

/// Read until `buf` holds at least `n` bytes; false on EOF.
async fn read_at_least(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    n: usize,
) -> std::io::Result<bool> {
    while buf.len() < n {
        if rd.read_buf(buf).await? == 0 {
            return Ok(false);
        }
    }
    Ok(true)
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
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<bytes::Bytes>, FrameError> {
    loop {
        if let Some(f) = next_frame(buf, max)? {
            return Ok(Some(f));
        }
        if rd.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}
