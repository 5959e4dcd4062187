//! The SNAP body's two overlaps with the network: a leader encodes it on its own thread
//! while the link sends what is ready (instead of encoding all of it before the first
//! byte), and a learner writes its sync snapshot from the bytes as they arrive (instead
//! of writing the whole tree again at NEWLEADER).
//!
//! Owns: the encoder thread (it holds the tree's read lock from the moment
//! `start_encoder` returns until the body is encoded, and is never throttled by the
//! socket, so the lock is held no longer than encoding takes), and the tee thread with its
//! temporary file `tmp-snapshot.<zxid>.<n>` (never named `snapshot.*`, so recovery and
//! purge ignore it) that becomes `snapshot.<zxid>` only on `TeedSnapshot::commit`. The
//! file is uncompressed, as `startup::write_snapshot` writes every snapshot
//! (`snapshot.compression.method` is accepted, not applied); were that to change, the
//! tee would have to follow it or stand aside.
//! Must never: buffer more than one body (the encoder's chunks wait for the link, at most
//! the whole body, what encoding it up front held); let a dead link hold the tree lock
//! (a dropped receiver stops the encoder); put a snapshot file in place that was not
//! completely written, sealed and fsync'd; or decide whether the teed file may stand for
//! the tree (the follow loop does: only when nothing was applied after the SNAP).

use super::link::StreamPart;
use crate::server::shared::Shared;
use crate::storage::snapshot::{self, SnapshotWriter};
use crate::zab::snap::{DEFAULT_CHUNK, STREAM_END, SnapEncoder};
use bytes::Bytes;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Start encoding the SNAP body of the tree as it is now. When this returns, a thread
/// holds the tree's read lock, so the body is exactly the tree at this step when the
/// caller is its only writer (the leader loop). The chunks come out of the receiver
/// (for `Outbound::Stream`), then `End`; dropping the receiver stops the thread.
pub fn start_encoder(
    shared: Arc<Shared>,
    sessions: Vec<(i64, i32)>,
    zxid: i64,
    link: u64,
) -> io::Result<mpsc::UnboundedReceiver<StreamPart>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (locked_tx, locked_rx) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("snap-encode".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let tree = shared.tree.read();
            let _ = locked_tx.send(());
            let mut enc = SnapEncoder::new(&tree, &sessions);
            let mut bytes = 0usize;
            while let Some(chunk) = enc.next_chunk(&tree, DEFAULT_CHUNK) {
                bytes += chunk.len();
                if tx.send(StreamPart::Chunk(chunk)).is_err() {
                    tracing::info!(
                        "SNAP 0x{zxid:x} for learner link {link}: the link is gone; \
                         stopped encoding after {bytes} bytes"
                    );
                    return;
                }
            }
            drop(tree);
            let _ = tx.send(StreamPart::End);
            tracing::info!(
                "SNAP 0x{zxid:x} for learner link {link}: {bytes} bytes encoded in {} ms \
                 (streamed as encoded)",
                started.elapsed().as_millis()
            );
        })?;
    // Nothing else takes the write lock while the caller waits here (it is the writer).
    locked_rx
        .recv()
        .map_err(|_| io::Error::other("the SNAP encoder stopped before it read the tree"))?;
    Ok(rx)
}

/// Sync the teed file's data every this many bytes, so the fsync at the end is short.
const SYNC_EVERY: usize = 32 << 20;
/// Body parts queued for the tee thread (each at most one socket read, ~64 KB); a full
/// queue holds the SNAP read back until the disk catches up.
const TEE_QUEUE: usize = 512;

enum TeeMsg {
    Bytes(Bytes),
    Finish { digest: i64 },
}

/// Prefix of the tee's temporary files.
const TMP_PREFIX: &str = "tmp-snapshot.";

/// Writes `snapshot.<zxid>` from a SNAP body as it is read (learners).
pub struct SnapTee {
    tx: mpsc::Sender<TeeMsg>,
    teed: TeedSnapshot,
}

impl SnapTee {
    /// Start a tee of the SNAP(`zxid`) body into a temporary file in `dir`.
    pub fn start(dir: &Path, zxid: i64) -> io::Result<SnapTee> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(dir)?;
        remove_stale(dir);
        let tmp = dir.join(format!(
            "{TMP_PREFIX}{:x}.{}",
            zxid as u64,
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let (tx, rx) = mpsc::channel(TEE_QUEUE);
        let path = tmp.clone();
        let abandoned = Arc::new(AtomicBool::new(false));
        let thread_abandoned = abandoned.clone();
        let thread = std::thread::Builder::new()
            .name("snap-tee".into())
            .spawn(move || {
                let r = tee(rx, &path, zxid);
                // Checked after the file exists: either this sees the flag, or the
                // owner's removal (after setting it) sees the file.
                if r.is_err() || thread_abandoned.load(Ordering::SeqCst) {
                    let _ = std::fs::remove_file(&path);
                }
                r
            })?;
        Ok(SnapTee {
            tx,
            teed: TeedSnapshot {
                zxid,
                dir: dir.to_path_buf(),
                tmp,
                thread: Some(thread),
                abandoned,
            },
        })
    }

    /// The next bytes of the body (in order, the signature included); false when the tee
    /// failed (its error is `commit`'s).
    pub async fn write(&mut self, b: Bytes) -> bool {
        self.tx.send(TeeMsg::Bytes(b)).await.is_ok()
    }

    /// The body is complete and decoded to a tree with this digest: seal and fsync the
    /// file (on the tee thread) and hand it over.
    pub async fn finish(self, digest: i64) -> TeedSnapshot {
        let _ = self.tx.send(TeeMsg::Finish { digest }).await;
        self.teed
    }
}

/// Remove what an earlier tee left (a crash, a link that died mid-stream).
fn remove_stale(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TMP_PREFIX))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The tee thread: header, body without its last `STREAM_END.len()` bytes (held back
/// until they are known to be the end), terminator, seals, digest; fsync'd.
fn tee(mut rx: mpsc::Receiver<TeeMsg>, tmp: &Path, zxid: i64) -> io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    let mut w = SnapshotWriter::for_encoded_body(file)?;
    let keep = STREAM_END.len();
    let mut tail: Vec<u8> = Vec::with_capacity(2 * keep);
    let mut unsynced = 0usize;
    while let Some(m) = rx.blocking_recv() {
        match m {
            TeeMsg::Bytes(b) => {
                if b.len() >= keep {
                    let (body, end) = b.split_at(b.len() - keep);
                    w.raw(&tail)?;
                    w.raw(body)?;
                    tail.clear();
                    tail.extend_from_slice(end);
                } else {
                    tail.extend_from_slice(&b);
                    if tail.len() > keep {
                        let n = tail.len() - keep;
                        w.raw(&tail[..n])?;
                        tail.drain(..n);
                    }
                }
                unsynced += b.len();
                if unsynced >= SYNC_EVERY {
                    w.get_ref().sync_data()?;
                    unsynced = 0;
                }
            }
            TeeMsg::Finish { digest } => {
                if tail[..] != STREAM_END[..] {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the SNAP body does not end with its terminator and signature",
                    ));
                }
                let file = w.finish(Some((zxid, digest)))?;
                file.sync_all()?;
                return Ok(());
            }
        }
    }
    Err(io::Error::other("the SNAP body was cut short"))
}

/// A sync snapshot teed from a complete SNAP body (its tee thread may still be sealing
/// and syncing it).
#[derive(Debug)]
pub struct TeedSnapshot {
    zxid: i64,
    dir: PathBuf,
    tmp: PathBuf,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
    /// Set when this is dropped uncommitted: the tee thread removes its file when it ends.
    abandoned: Arc<AtomicBool>,
}

impl TeedSnapshot {
    /// The SNAP's zxid: the file holds the tree as it was loaded at that zxid.
    pub fn zxid(&self) -> i64 {
        self.zxid
    }

    /// Wait for the tee thread and put the file in place as `snapshot.<zxid>` (renamed,
    /// directory fsync'd). Blocks for what is left of the fsync.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        self.wait()?;
        let path = self.dir.join(snapshot::snapshot_file_name(self.zxid));
        std::fs::rename(&self.tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(path)
    }

    fn wait(&mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| io::Error::other("the snapshot tee thread panicked"))?,
            None => Err(io::Error::other("the teed snapshot was already used")),
        }
    }
}

impl Drop for TeedSnapshot {
    /// Not committed: the temporary file goes, here if the tee thread already made it,
    /// else by the thread when it ends (it may not have started yet).
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.abandoned.store(true, Ordering::SeqCst);
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
#[path = "snap_stream_tests.rs"]
mod tests;
