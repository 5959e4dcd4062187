//! Per-connection outbound buffer: the core appends encoded frames, the connection's
//! writer task drains them to the socket in as few syscalls as possible.
//!
//! Owns: the bound on how much a slow client may leave unread (a client over the bound is
//! disconnected rather than letting memory grow). Must never: block the core.

use bytes::BytesMut;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Most bytes a connection may have queued and unsent before it is dropped.
pub const MAX_PENDING_OUT: usize = 64 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct Outbox {
    buf: Mutex<BytesMut>,
    notify: Notify,
    closed: AtomicBool,
    /// Close after what is buffered now has been written.
    close_after_flush: AtomicBool,
    /// Fired on either kind of close, so the reader stops reading.
    closed_token: CancellationToken,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append with a closure that encodes into the buffer. Returns false if the connection
    /// is closed or over its bound (it is then marked closed).
    pub fn push_with(&self, f: impl FnOnce(&mut BytesMut)) -> bool {
        if self.closed.load(Ordering::Acquire) || self.close_after_flush.load(Ordering::Acquire) {
            return false;
        }
        let over = {
            let mut b = self.buf.lock();
            f(&mut b);
            b.len() > MAX_PENDING_OUT
        };
        if over {
            tracing::warn!(
                "client not reading its replies ({} bytes queued), closing",
                MAX_PENDING_OUT
            );
            self.close();
            return false;
        }
        self.notify.notify_one();
        true
    }

    /// Take everything buffered (the writer calls this).
    pub fn take(&self) -> BytesMut {
        let mut b = self.buf.lock();
        let cap = b.capacity().min(64 * 1024);
        std::mem::replace(&mut *b, BytesMut::with_capacity(cap))
    }

    pub async fn wait(&self) {
        self.notify.notified().await
    }

    /// Drop the connection now.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.closed_token.cancel();
        self.notify.notify_one();
    }

    /// Flush what is queued, then close (after a closeSession reply, an auth failure...).
    pub fn close_after_flush(&self) {
        self.close_after_flush.store(true, Ordering::Release);
        self.closed_token.cancel();
        self.notify.notify_one();
    }

    /// Resolves once the connection is closing (either kind).
    pub async fn wait_closed(&self) {
        self.closed_token.cancelled().await
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
    pub fn closing_after_flush(&self) -> bool {
        self.close_after_flush.load(Ordering::Acquire)
    }
}
