//! The durability thread: appends txn entries to the log and fsyncs them in groups.
//!
//! The shell hands it the core's batches of serialized txns (never waiting: when this
//! thread is PERSIST_QUEUE batches behind, the shell holds the rest); it drains every batch already queued,
//! appends them all, issues one fsync (group commit), then tells the core the last zxid
//! now durable. Replies are released only after that. Without a data directory
//! (in-memory mode, used by tests) batches are acknowledged without writing.
//! Owns: the txn log writer and its file handles. Must never: touch the tree or clients.
//! On an I/O error it never acknowledges: it logs and stops the process, as ZooKeeper
//! does on a failed log write (see docs/operations.md).

use crate::storage::txlog::TxnLogWriter;
use bytes::Bytes;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Exit status when the txn log cannot be written (as Java, the process stops before
/// acknowledging anything that is not durable).
pub const EXIT_LOG_FAILED: i32 = 14;

/// Batches the core may have handed over and not yet seen acknowledged.
pub const PERSIST_QUEUE: usize = 1024;

pub struct PersistBatch {
    pub entries: Vec<Bytes>,
    /// The zxid of each entry (a leader proposes them; a learner acknowledges them).
    pub zxids: Vec<i64>,
    pub last_zxid: i64,
    /// Start a new log file after these entries (a snapshot is being taken).
    pub roll_after: bool,
}

/// Handle the core uses to submit batches.
pub struct Persister {
    tx: std_mpsc::SyncSender<PersistBatch>,
    /// fsyncs slower than fsync.warningthresholdms (mntr's zk_fsync_threshold_exceed_count).
    pub slow_fsyncs: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Persister {
    /// Start the thread. `log` is None for in-memory mode. Durable zxids arrive on the
    /// returned receiver, in order.
    pub fn start(
        log: Option<TxnLogWriter>,
        fsync_warn: Duration,
        fault_delay: Duration,
    ) -> std::io::Result<(Persister, mpsc::Receiver<i64>)> {
        let (tx, rx) = std_mpsc::sync_channel::<PersistBatch>(PERSIST_QUEUE);
        let (done_tx, done_rx) = mpsc::channel::<i64>(PERSIST_QUEUE);
        let slow_fsyncs = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let slow = slow_fsyncs.clone();
        std::thread::Builder::new()
            .name("ferrokeeper-txnlog".into())
            .spawn(move || run(log, rx, done_tx, fsync_warn, fault_delay, slow))?;
        Ok((Persister { tx, slow_fsyncs }, done_rx))
    }

    /// Hand over a batch without waiting: `Err(Some(batch))` gives it back when the disk
    /// is PERSIST_QUEUE batches behind, `Err(None)` means the log thread is gone.
    pub fn try_submit(&self, batch: PersistBatch) -> Result<(), Option<PersistBatch>> {
        match self.tx.try_send(batch) {
            Ok(()) => Ok(()),
            Err(std_mpsc::TrySendError::Full(b)) => Err(Some(b)),
            Err(std_mpsc::TrySendError::Disconnected(_)) => Err(None),
        }
    }
}

fn run(
    mut log: Option<TxnLogWriter>,
    rx: std_mpsc::Receiver<PersistBatch>,
    done: mpsc::Sender<i64>,
    fsync_warn: Duration,
    fault_delay: Duration,
    slow_fsyncs: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    while let Ok(first) = rx.recv() {
        let mut last = first.last_zxid;
        let mut batches = vec![first];
        while let Ok(b) = rx.try_recv() {
            last = b.last_zxid;
            batches.push(b);
            if batches.len() >= 256 {
                break;
            }
        }
        if let Some(w) = log.as_mut() {
            let started = Instant::now();
            let res = (|| -> std::io::Result<()> {
                for b in &batches {
                    for e in &b.entries {
                        w.append(e)?;
                    }
                    if b.roll_after {
                        w.roll()?;
                    }
                }
                w.commit()?;
                if !fault_delay.is_zero() {
                    // Test-only: a slow disk (ferrokeeper.faultInjection.fsyncDelayMs).
                    std::thread::sleep(fault_delay);
                }
                Ok(())
            })();
            if let Err(e) = res {
                tracing::error!(
                    "cannot write the transaction log ({e}); nothing after zxid 0x{:x} was acknowledged. Stopping, as ZooKeeper does on a log write failure",
                    batches.first().map(|b| b.last_zxid).unwrap_or(0)
                );
                std::process::exit(EXIT_LOG_FAILED);
            }
            let took = started.elapsed();
            crate::metrics::FSYNC_TIME.observe(took.as_millis() as i64);
            crate::metrics::SYNC_PROCESSOR_BATCH_SIZE
                .observe(batches.iter().map(|b| b.entries.len()).sum::<usize>() as i64);
            if took > fsync_warn {
                slow_fsyncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    "fsync-ing the write ahead log took {}ms which will adversely effect operation latency",
                    took.as_millis()
                );
            }
        }
        if done.blocking_send(last).is_err() {
            return;
        }
    }
    if let Some(w) = log.as_mut() {
        let _ = w.commit();
    }
}
