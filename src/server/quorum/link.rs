//! One quorum-port connection (leader ↔ learner) as two tasks: a reader that turns bytes
//! into QuorumPackets (and, on a learner, the SNAP stream that follows a SNAP packet into
//! a decoded tree, its bytes also handed to a `SnapTee` for the sync snapshot), and a
//! writer that sends packets, raw bytes and byte streams produced elsewhere (a SNAP body
//! as it is encoded) in order, flushing once per burst.
//!
//! Owns: the socket halves, framing, read/write buffering, and the bounds on both.
//! Must never: interpret a packet (the leader and learner state machines do), or block
//! the task that owns the protocol (the queues are bounded, an `Outbound::Stream` by the
//! one body it carries, and the owner is told when the link is gone).

use super::snap_stream::{SnapTee, TeedSnapshot};
use crate::server::peer_stream::{PeerRead, PeerStream, PeerWrite};
use crate::zab::packet::{self, PacketError, QuorumPacket};
use crate::zab::snap::{Progress, SnapDecoder, SnapState};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

/// Packets queued to a peer before its writer applies back-pressure.
pub const OUT_QUEUE: usize = 8192;
/// Packets read ahead of the protocol task.
pub const IN_QUEUE: usize = 4096;

/// Something that arrived on the link.
#[derive(Debug)]
pub enum Inbound {
    Packet(QuorumPacket),
    /// The SNAP stream after a SNAP packet, decoded (learners only), and the sync
    /// snapshot written from its bytes when `ReadMode::tee_dir` asked for one.
    Snapshot(Box<SnapState>, Option<TeedSnapshot>),
    /// Another part of a SNAP stream arrived (the leader is not silent).
    SnapshotProgress,
    /// The link is gone (EOF, error, malformed bytes); nothing more will arrive.
    Closed(String),
}

/// Something to send.
pub enum Outbound {
    Packet(QuorumPacket),
    /// Bytes written as they are.
    Raw(Bytes),
    /// Bytes produced elsewhere (a SNAP body encoded on its own thread), written as they
    /// come, all of them before the next item. A producer that stops before `End` (or a
    /// failed write) closes the link: the peer must not read a cut stream as complete.
    Stream(mpsc::UnboundedReceiver<StreamPart>),
    /// Not written: when it was queued (see `LearnerOut`).
    Marker(std::time::Instant),
}

/// `LearnerHandler.markerPacketInterval`: a timing marker goes into a learner's queue
/// before its first packet and every this many after.
const MARKER_INTERVAL: u64 = 1000;

/// The leader's handle on one learner's writer: queues what goes out and, as Java's
/// LearnerHandler, a timing marker now and then (`learner_handler_qp_time_ms` is how long
/// a marker waited in the queue).
pub struct LearnerOut {
    tx: mpsc::Sender<Outbound>,
    queued: u64,
}

impl LearnerOut {
    pub fn new(tx: mpsc::Sender<Outbound>) -> LearnerOut {
        LearnerOut { tx, queued: 0 }
    }

    /// Queue `o`; `false` when the link is gone or too far behind.
    pub fn send(&mut self, o: Outbound) -> bool {
        if self.queued.is_multiple_of(MARKER_INTERVAL) {
            // Best effort, as the marker is only for the metric.
            let _ = self
                .tx
                .try_send(Outbound::Marker(std::time::Instant::now()));
        }
        self.queued += 1;
        self.tx.try_send(o).is_ok()
    }
}

/// A part of an `Outbound::Stream`.
pub enum StreamPart {
    Chunk(Bytes),
    /// The stream is complete.
    End,
}

/// How the reader treats a SNAP packet.
#[derive(Clone)]
pub struct ReadMode {
    /// A learner's reader: decode the stream after SNAP (`ext`: extended types).
    pub snapshot_follows_snap: bool,
    pub ext_types: bool,
    /// Bound on a packet's data buffer and a snapshot field.
    pub max_field: usize,
    /// A learner's snapshot directory: the SNAP body is also written there as it is
    /// read (`snap_stream::SnapTee`), for the sync snapshot.
    pub tee_dir: Option<std::path::PathBuf>,
}

/// Both directions of a connection. Dropping `out` ends the writer (after what was
/// queued); the reader ends with the socket.
pub struct Link {
    pub out: mpsc::Sender<Outbound>,
    pub inbound: mpsc::Receiver<Inbound>,
    pub peer: std::net::SocketAddr,
}

impl Link {
    /// Split `stream` into its reader and writer tasks; `initial` = bytes already read
    /// from it (past a quorum SASL exchange), the start of the packet stream.
    pub fn spawn(stream: PeerStream, mode: ReadMode, initial: BytesMut) -> std::io::Result<Link> {
        Self::spawn_keyed(stream, mode, None, initial)
    }

    /// `spawn` for a leader's link to a learner: `qp_key` holds the learner's server id
    /// once known (-1 before), the key its queue sizes are recorded under
    /// (`learner_handler_qp_size`).
    pub fn spawn_keyed(
        stream: PeerStream,
        mode: ReadMode,
        qp_key: Option<Arc<AtomicI64>>,
        initial: BytesMut,
    ) -> std::io::Result<Link> {
        let peer = stream.peer_addr()?;
        let (rd, wr) = stream.into_split();
        let (in_tx, inbound) = mpsc::channel(IN_QUEUE);
        let (out, out_rx) = mpsc::channel(OUT_QUEUE);
        tokio::spawn(read_loop(rd, in_tx, mode, initial));
        tokio::spawn(write_loop(wr, out_rx, qp_key));
        Ok(Link { out, inbound, peer })
    }

    /// Queue a packet; `false` when the link is gone or the peer is OUT_QUEUE packets
    /// behind (the caller drops such a peer, as Java drops a learner that stops reading).
    pub fn send(&self, p: QuorumPacket) -> bool {
        self.out.try_send(Outbound::Packet(p)).is_ok()
    }
}

async fn read_loop(mut rd: PeerRead, tx: mpsc::Sender<Inbound>, mode: ReadMode, initial: BytesMut) {
    let mut buf = initial;
    buf.reserve(64 * 1024);
    let mut snap: Option<(SnapDecoder, i64)> = None;
    let mut tee: Option<SnapTee> = None;
    let reason = loop {
        // Everything complete in the buffer first.
        loop {
            if let Some((dec, zxid)) = snap.as_mut() {
                if buf.is_empty() {
                    break;
                }
                match dec.feed(&buf) {
                    Ok(Progress::NeedMore) => {
                        match tee.as_mut() {
                            // The tee keeps the bytes (the buffer is allocated anew).
                            Some(t) => {
                                if !t.write(buf.split().freeze()).await {
                                    tracing::warn!(
                                        "the SNAP tee failed; the sync snapshot is written whole"
                                    );
                                    tee = None;
                                }
                            }
                            None => buf.clear(),
                        }
                        // Best effort: a full queue means the owner is busy anyway.
                        let _ = tx.try_send(Inbound::SnapshotProgress);
                        break;
                    }
                    Ok(Progress::Done { consumed }) => {
                        let part = buf.split_to(consumed).freeze();
                        if let Some(t) = tee.as_mut()
                            && !t.write(part).await
                        {
                            tracing::warn!(
                                "the SNAP tee failed; the sync snapshot is written whole"
                            );
                            tee = None;
                        }
                        let zxid = *zxid;
                        let Some((dec, _)) = snap.take() else {
                            break;
                        };
                        match dec.finish(zxid) {
                            Ok(state) => {
                                let teed = match tee.take() {
                                    Some(t) => Some(t.finish(state.tree.digest()).await),
                                    None => None,
                                };
                                if tx
                                    .send(Inbound::Snapshot(Box::new(state), teed))
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            }
                            Err(e) => {
                                let _ = tx
                                    .send(Inbound::Closed(format!("bad snapshot stream: {e}")))
                                    .await;
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx
                            .send(Inbound::Closed(format!("bad snapshot stream: {e}")))
                            .await;
                        return;
                    }
                }
                continue;
            }
            match QuorumPacket::decode_from(&mut buf, mode.max_field) {
                Ok(Some(p)) => {
                    if mode.snapshot_follows_snap && p.kind == packet::kind::SNAP {
                        snap = Some((SnapDecoder::new(mode.ext_types, mode.max_field), p.zxid));
                        tee = mode.tee_dir.as_deref().and_then(|dir| {
                            SnapTee::start(dir, p.zxid)
                                .map_err(|e| {
                                    tracing::warn!(
                                        "cannot tee the SNAP body into {}: {e}; the sync \
                                         snapshot is written whole",
                                        dir.display()
                                    )
                                })
                                .ok()
                        });
                    }
                    if tx.send(Inbound::Packet(p)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(
                    e @ (PacketError::NegativeLength { .. }
                    | PacketError::TooLarge { .. }
                    | PacketError::Malformed(_)),
                ) => {
                    let _ = tx.send(Inbound::Closed(e.to_string())).await;
                    return;
                }
            }
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => break "the peer closed the connection".to_string(),
            Ok(_) => {}
            Err(e) => break format!("read failed: {e}"),
        }
    };
    let _ = tx.send(Inbound::Closed(reason)).await;
}

async fn write_loop(
    wr: PeerWrite,
    mut rx: mpsc::Receiver<Outbound>,
    qp_key: Option<Arc<AtomicI64>>,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    let mut scratch = BytesMut::with_capacity(64 * 1024);
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        let key = qp_key.as_ref().map_or(-1, |k| k.load(Ordering::Relaxed));
        let queued = rx.len();
        let taken = batch.len();
        for (i, o) in batch.drain(..).enumerate() {
            if key >= 0 {
                // What is still queued behind this packet, as Java's queuedPackets.size().
                let behind = taken - i - 1 + queued;
                crate::metrics::LEARNER_HANDLER_QP_SIZE.observe(key, behind as i64);
            }
            let res = match o {
                Outbound::Marker(at) => {
                    if key >= 0 {
                        let ms = at.elapsed().as_millis() as i64;
                        crate::metrics::LEARNER_HANDLER_QP_TIME.observe(key, ms);
                    }
                    Ok(())
                }
                Outbound::Packet(p) => {
                    scratch.clear();
                    p.encode(&mut scratch);
                    w.write_all(&scratch).await
                }
                Outbound::Raw(b) => w.write_all(&b).await,
                Outbound::Stream(mut parts) => loop {
                    match parts.recv().await {
                        Some(StreamPart::Chunk(b)) => {
                            if w.write_all(&b).await.is_err() {
                                return;
                            }
                        }
                        Some(StreamPart::End) => break Ok(()),
                        // The producer is gone mid-stream.
                        None => return,
                    }
                },
            };
            if res.is_err() {
                return;
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.flush().await;
    let _ = w.into_inner().shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A marker before the first packet and then before every 1000th, as Java's
    /// `packetCounter.getAndIncrement() % markerPacketInterval == 0`.
    #[test]
    fn learner_out_queues_a_marker_every_thousand_packets() {
        let (tx, mut rx) = mpsc::channel(4096);
        let mut out = LearnerOut::new(tx);
        for _ in 0..2001 {
            assert!(out.send(Outbound::Raw(Bytes::from_static(b"x"))));
        }
        let mut markers = Vec::new();
        let mut i = 0;
        while let Ok(o) = rx.try_recv() {
            if matches!(o, Outbound::Marker(_)) {
                markers.push(i);
            } else {
                i += 1;
            }
        }
        assert_eq!(i, 2001);
        assert_eq!(markers, vec![0, 1000, 2000]);
    }
}
