//! A simulated client connection: what a connection task would hand the core, and the
//! frames the core queued for the client, decoded.
//!
//! Owns: one connection's outbox, link and local reader, and turning the outbox's bytes
//! back into frames (the ConnectResponse first, then replies and watch events).
//! Must never: decide what a reply should be (that is `model`).

use crate::jute::records::{ConnectResponse, ReplyHeader};
use crate::jute::{Reader, Record};
use crate::proto::xid;
use crate::server::local_read::LocalReader;
use crate::server::outbox::Outbox;
use crate::server::shared::{ConnId, ConnLink};
use bytes::{Buf, Bytes, BytesMut};
use std::sync::Arc;
use tokio::sync::oneshot;

/// One decoded frame the server sent.
#[derive(Debug, Clone)]
pub enum Frame {
    Connect(ConnectResponse),
    Reply {
        xid: i32,
        zxid: i64,
        err: i32,
        body: Bytes,
    },
    Event {
        event_type: i32,
        path: String,
        /// The reply header's zxid: the txn that fired the event (-1 for setWatches').
        zxid: i64,
    },
}

pub struct SimConn {
    pub id: ConnId,
    pub outbox: Arc<Outbox>,
    pub link: Arc<ConnLink>,
    pub reader: LocalReader,
    /// The core's answer to the handshake, until read.
    pub established: Option<oneshot::Receiver<bool>>,
    /// The ConnectResponse has been read (later frames have reply headers).
    handshake_read: bool,
    buf: BytesMut,
}

impl SimConn {
    pub fn new(
        id: ConnId,
        outbox: Arc<Outbox>,
        link: Arc<ConnLink>,
        reader: LocalReader,
        established: oneshot::Receiver<bool>,
    ) -> SimConn {
        SimConn {
            id,
            outbox,
            link,
            reader,
            established: Some(established),
            handshake_read: false,
            buf: BytesMut::new(),
        }
    }

    /// The connection was closed by the server (now or after what is queued).
    pub fn closed_by_server(&self) -> bool {
        self.outbox.is_closed() || self.outbox.closing_after_flush()
    }

    /// Everything the server queued for this client since the last call, decoded.
    /// Malformed bytes are an invariant violation (Err).
    pub fn take_frames(&mut self) -> Result<Vec<Frame>, String> {
        self.reader.flush();
        while let Some(b) = self.outbox.take_for_writer() {
            self.buf.extend_from_slice(&b);
        }
        let mut out = Vec::new();
        while self.buf.len() >= 4 {
            let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
            if len < 0 {
                return Err(format!("conn {}: negative frame length {len}", self.id));
            }
            if self.buf.len() < 4 + len as usize {
                return Err(format!(
                    "conn {}: a partial frame was queued ({} of {len} bytes)",
                    self.id,
                    self.buf.len() - 4
                ));
            }
            self.buf.advance(4);
            let frame = self.buf.split_to(len as usize).freeze();
            out.push(self.decode(frame)?);
        }
        Ok(out)
    }

    fn decode(&mut self, frame: Bytes) -> Result<Frame, String> {
        let mut r = Reader::new(frame);
        if !self.handshake_read {
            self.handshake_read = true;
            let c = ConnectResponse::read(&mut r).map_err(|e| e.to_string())?;
            return Ok(Frame::Connect(c));
        }
        let h = ReplyHeader::read(&mut r).map_err(|e| e.to_string())?;
        if h.xid == xid::NOTIFICATION {
            let event_type = r.read_i32().map_err(|e| e.to_string())?;
            let _state = r.read_i32().map_err(|e| e.to_string())?;
            let path = r.read_ustring().map_err(|e| e.to_string())?;
            return Ok(Frame::Event {
                event_type,
                path,
                zxid: h.zxid,
            });
        }
        Ok(Frame::Reply {
            xid: h.xid,
            zxid: h.zxid,
            err: h.err,
            body: r.rest(),
        })
    }
}
