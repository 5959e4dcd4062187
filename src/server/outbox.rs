//! Per-connection outbound buffer: the core appends encoded frames and, at the end of each
//! of its loop iterations, writes what it appended straight to the socket (one
//! non-blocking write per connection per iteration); whatever the socket does not take
//! is left to the connection's writer task, which waits for the socket to drain.
//!
//! Owns: the order of bytes on the socket (a direct write happens only while the writer
//! task holds nothing unwritten), and the bounds on how much slow clients may leave
//! unread: per connection (`MAX_PENDING_OUT`) and for all connections together
//! (`MAX_QUEUED_TOTAL`; once it is exceeded, connections with more than `FAIR_SHARE`
//! queued are dropped as they grow, so clients that keep up are not affected).
//! Must never: block the core (it only ever tries a non-blocking write).

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Most bytes a connection may have queued and unsent before it is dropped.
pub const MAX_PENDING_OUT: usize = 64 * 1024 * 1024;
/// Most bytes all connections together may have queued before the big queues are dropped.
pub const MAX_QUEUED_TOTAL: usize = 1024 * 1024 * 1024;
/// A queue this small is never dropped for the global budget.
pub const FAIR_SHARE: usize = 1024 * 1024;
/// Most connections the core writes to itself per iteration; the rest are written by
/// spawned tasks in batches of `SPILL_BATCH` (one task wake per batch, not one per
/// connection), so a fan-out to thousands of watchers runs on every worker and does not
/// stall the core.
pub const DIRECT_WRITES_PER_FLUSH: usize = 128;
pub const SPILL_BATCH: usize = 256;

/// Bytes queued in the outboxes of the server's connections (`Outbox::new`); the
/// simulator's and unit tests' outboxes count in counters of their own.
static QUEUED_TOTAL: AtomicUsize = AtomicUsize::new(0);

/// Bytes queued, unsent, in all of the server's outboxes.
pub fn queued_total() -> usize {
    QUEUED_TOTAL.load(Ordering::Relaxed)
}

/// Whether a connection with `own` bytes queued must be dropped, given `total` queued in all.
fn over_budget(own: usize, total: usize) -> bool {
    own > MAX_PENDING_OUT || (total > MAX_QUEUED_TOTAL && own > FAIR_SHARE)
}

#[derive(Debug, Default)]
struct State {
    buf: BytesMut,
    /// The writer task has taken bytes it has not finished writing: until it is done,
    /// nobody else may write to the socket.
    writer_busy: bool,
}

#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    /// The socket, for the core's direct writes (None in unit tests).
    sock: Option<Arc<TcpStream>>,
    /// Wakes the writer task: bytes the core could not write, or a close.
    notify: Notify,
    /// On the core's flush list already.
    listed: AtomicBool,
    closed: AtomicBool,
    /// Close after what is buffered now has been written.
    close_after_flush: AtomicBool,
    /// Fired on either kind of close, so the reader stops reading.
    closed_token: CancellationToken,
    /// The counter of bytes queued that this outbox adds to.
    total: &'static AtomicUsize,
}

/// The outboxes appended to since the last flush (the core keeps one).
#[derive(Debug, Default)]
pub struct FlushList(Vec<Arc<Outbox>>);

impl FlushList {
    /// Write what each listed outbox holds: here for the first `DIRECT_WRITES_PER_FLUSH`,
    /// from spawned tasks in batches of `SPILL_BATCH` for the rest (here too when there
    /// is no runtime, as in unit tests).
    pub fn flush(&mut self) {
        let runtime = tokio::runtime::Handle::try_current().ok();
        let spill = match &runtime {
            Some(_) if self.0.len() > DIRECT_WRITES_PER_FLUSH => {
                self.0.split_off(DIRECT_WRITES_PER_FLUSH)
            }
            _ => Vec::new(),
        };
        if let Some(rt) = runtime {
            let mut spill = spill.into_iter().peekable();
            while spill.peek().is_some() {
                let batch: Vec<_> = spill.by_ref().take(SPILL_BATCH).collect();
                rt.spawn(async move {
                    for o in batch {
                        o.write_listed();
                    }
                });
            }
        }
        for o in self.0.drain(..) {
            o.write_listed();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Outbox {
    /// An outbox for a connection's socket (`None`: bytes only queue, for tests).
    pub fn new(sock: Option<Arc<TcpStream>>) -> Self {
        Self::counted_in(sock, &QUEUED_TOTAL)
    }

    /// An outbox whose queued bytes count in `total` (tests and the simulator keep their
    /// own, so concurrent runs do not see each other's output).
    pub fn counted_in(sock: Option<Arc<TcpStream>>, total: &'static AtomicUsize) -> Self {
        Outbox {
            total,
            state: Mutex::default(),
            sock,
            notify: Notify::new(),
            listed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            close_after_flush: AtomicBool::new(false),
            closed_token: CancellationToken::new(),
        }
    }

    /// Append with a closure that encodes into the buffer, and put the outbox on `list`
    /// to be written at the next flush. Returns false if the connection is closed or over
    /// its bound (it is then marked closed).
    pub fn push_with(
        self: &Arc<Self>,
        list: &mut FlushList,
        f: impl FnOnce(&mut BytesMut),
    ) -> bool {
        if self.closed.load(Ordering::Acquire) || self.close_after_flush.load(Ordering::Acquire) {
            return false;
        }
        let (over, own) = {
            let mut st = self.state.lock();
            let before = st.buf.len();
            f(&mut st.buf);
            let grown = st.buf.len().saturating_sub(before);
            let total = self.total.fetch_add(grown, Ordering::Relaxed) + grown;
            (over_budget(st.buf.len(), total), st.buf.len())
        };
        if over {
            tracing::warn!(
                "client not reading its replies ({own} bytes queued for it, {} in all), closing",
                self.total.load(Ordering::Relaxed)
            );
            self.close();
            return false;
        }
        if !self.listed.swap(true, Ordering::AcqRel) {
            list.0.push(self.clone());
        }
        true
    }

    /// Take the outbox off its flush list and write what it holds.
    fn write_listed(&self) {
        self.listed.store(false, Ordering::Release);
        self.write_now();
    }

    /// Try one non-blocking write of what is buffered (unless the writer task is in the
    /// middle of a write); wake the writer task for whatever is left.
    fn write_now(&self) {
        let left = {
            let mut st = self.state.lock();
            if st.writer_busy || st.buf.is_empty() {
                return;
            }
            if let Some(sock) = &self.sock
                && let Ok(n) = sock.try_write(&st.buf)
            {
                st.buf.advance(n);
                self.total.fetch_sub(n, Ordering::Relaxed);
            }
            !st.buf.is_empty()
        };
        if left {
            self.notify.notify_one();
        }
    }

    /// The writer task: take everything buffered and mark the socket as being written;
    /// `None` (and the mark cleared) when there is nothing.
    pub fn take_for_writer(&self) -> Option<BytesMut> {
        let mut st = self.state.lock();
        if st.buf.is_empty() {
            st.writer_busy = false;
            return None;
        }
        st.writer_busy = true;
        let cap = st.buf.capacity().min(64 * 1024);
        let taken = std::mem::replace(&mut st.buf, BytesMut::with_capacity(cap));
        self.total.fetch_sub(taken.len(), Ordering::Relaxed);
        Some(taken)
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

impl Drop for Outbox {
    fn drop(&mut self) {
        self.total
            .fetch_sub(self.state.get_mut().buf.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_rules() {
        assert!(!over_budget(10, 10));
        assert!(over_budget(MAX_PENDING_OUT + 1, 0));
        // Over the global budget only sizeable queues are dropped.
        assert!(!over_budget(FAIR_SHARE, MAX_QUEUED_TOTAL + 1));
        assert!(over_budget(FAIR_SHARE + 1, MAX_QUEUED_TOTAL + 1));
    }

    #[test]
    fn total_follows_pushes_takes_and_drops() {
        static TOTAL: AtomicUsize = AtomicUsize::new(0);
        let queued_total = || TOTAL.load(Ordering::Relaxed);
        let before = queued_total();
        let o = Arc::new(Outbox::counted_in(None, &TOTAL));
        let mut list = FlushList::default();
        assert!(o.push_with(&mut list, |b| b.extend_from_slice(&[0u8; 1000])));
        assert!(o.push_with(&mut list, |b| b.extend_from_slice(&[0u8; 24])));
        // Listed once however often it was appended to.
        assert_eq!(list.0.len(), 1);
        assert_eq!(queued_total(), before + 1024);
        // No socket: a flush leaves the bytes to the writer.
        list.flush();
        assert!(list.is_empty());
        let t = o.take_for_writer().unwrap();
        assert_eq!(t.len(), 1024);
        assert!(o.take_for_writer().is_none());
        assert!(o.push_with(&mut list, |b| b.extend_from_slice(&[0u8; 500])));
        assert_eq!(list.0.len(), 1);
        assert_eq!(queued_total(), before + 500);
        list.flush();
        drop(o);
        // The counter is this test's own, so the total is exact.
        assert_eq!(queued_total(), before);
    }
}
