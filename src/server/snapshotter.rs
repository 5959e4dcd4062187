//! The snapshot thread: writes a snapshot file from chunks of node records that the core
//! serializes between batches, so a snapshot never stops the server for long.
//!
//! Owns: the snapshot file being written, its checksums, fsync, and removing it if the
//! write fails. Must never: read the tree (it only sees bytes handed to it).

use crate::jute::records::Acl;
use crate::storage::snapshot::{self, SnapshotWriter};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// Chunks the core may run ahead of the disk.
const CHUNK_QUEUE: usize = 64;

pub enum SnapMsg {
    Nodes(Bytes),
    /// All nodes sent: seal with this (zxid, digest) and finish.
    Finish(Option<(i64, i64)>),
}

/// The core's handle on a snapshot being written.
pub struct Snapshotter {
    tx: SyncSender<SnapMsg>,
}

impl Snapshotter {
    /// Create `snapshot.<zxid>` in `dir` with the header, sessions and ACL table, and start
    /// the thread that appends what `send` hands it.
    pub fn start(
        dir: PathBuf,
        zxid: i64,
        sessions: Vec<(i64, i32)>,
        acls: Vec<(i64, Vec<Acl>)>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(CHUNK_QUEUE);
        let (path, file) = snapshot::create_file(&dir, zxid)?;
        let w = SnapshotWriter::new(file, &sessions, &acls)?;
        std::thread::Builder::new()
            .name("ferrokeeper-snapshot".into())
            .spawn(move || run(dir, path, zxid, w, rx))?;
        Ok(Snapshotter { tx })
    }

    /// Hand over a message; gives it back if the disk is behind (try again later).
    pub fn try_send(&self, msg: SnapMsg) -> Result<(), Option<SnapMsg>> {
        match self.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(m)) => Err(Some(m)),
            // The thread gave up (it logged why).
            Err(TrySendError::Disconnected(_)) => Err(None),
        }
    }
}

fn run(
    dir: PathBuf,
    path: PathBuf,
    zxid: i64,
    mut w: SnapshotWriter<std::io::BufWriter<std::fs::File>>,
    rx: Receiver<SnapMsg>,
) {
    let started = std::time::Instant::now();
    let res = (|| -> std::io::Result<bool> {
        while let Ok(msg) = rx.recv() {
            match msg {
                SnapMsg::Nodes(b) => w.raw_nodes(&b)?,
                SnapMsg::Finish(digest) => {
                    let file = w.finish(digest)?;
                    let f = file.into_inner().map_err(|e| e.into_error())?;
                    f.sync_all()?;
                    std::fs::File::open(&dir)?.sync_all()?;
                    return Ok(true);
                }
            }
        }
        Ok(false) // the core dropped us (shutdown): an incomplete snapshot is useless
    })();
    match res {
        Ok(true) => tracing::info!(
            "snapshot 0x{zxid:x} written to {} in {} ms",
            path.display(),
            started.elapsed().as_millis()
        ),
        Ok(false) => {
            let _ = std::fs::remove_file(&path);
        }
        Err(e) => {
            // Nothing is lost: the txn logs still hold every txn.
            tracing::error!("cannot write snapshot {}: {e}", path.display());
            let _ = std::fs::remove_file(&path);
        }
    }
}
