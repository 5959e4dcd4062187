//! The snapshot thread: carries out a core's `SnapshotOrder` by walking the shared tree in
//! chunks (each under the tree's read lock, so the core keeps applying between chunks)
//! and writing `snapshot.<zxid>` in ZooKeeper's format.
//!
//! Like ZooKeeper's, the snapshot is fuzzy: nodes may reflect txns after the snapshot's
//! zxid; replaying the log from that zxid on recovery makes the state exact (apply is
//! idempotent for that). The digest sealed at the end is the tree's at the last chunk,
//! with the zxid applied then. The core holds freed node ids back from reuse while the
//! walk runs, so an id names the same node or none.
//! Owns: the snapshot file being written, its checksums, fsync, and removing it if the
//! write fails. Must never: change the tree (it only takes read locks).

use crate::server::core::{SnapshotOrder, SnapshotOutcome, SnapshotWritten};
use crate::server::shared::Shared;
use crate::storage::snapshot::{self, SnapshotWriter};
use crate::tree::walk::PreorderWalk;
use bytes::BytesMut;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc::UnboundedSender;

/// Nodes serialized per read-locked chunk.
const NODES_PER_CHUNK: usize = 2000;

/// Start writing the ordered snapshot into `dir` on a thread; `done` gets its outcome
/// when it has finished or failed (the core must be told either way).
pub fn spawn(
    dir: PathBuf,
    order: SnapshotOrder,
    shared: Arc<Shared>,
    done: UnboundedSender<SnapshotOutcome>,
) {
    let told = done.clone();
    let started = std::thread::Builder::new()
        .name("ferrokeeper-snapshot".into())
        .spawn(move || {
            let _ = told.send(write(&dir, &order, &shared));
        });
    if let Err(e) = started {
        tracing::error!("cannot start the snapshot thread: {e}");
        let _ = done.send(Err(format!("cannot start the snapshot thread: {e}")));
    }
}

/// Write the ordered snapshot now, on this thread (the simulator calls it directly).
pub fn write(dir: &std::path::Path, order: &SnapshotOrder, shared: &Shared) -> SnapshotOutcome {
    let zxid = order.zxid;
    let started = std::time::Instant::now();
    let (path, file) = match snapshot::create_file(dir, zxid) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("cannot start snapshot 0x{zxid:x} in {}: {e}", dir.display());
            crate::metrics::SNAPSHOT_ERROR_COUNT.inc();
            return Err(format!("cannot create {}: {e}", dir.display()));
        }
    };
    let res = (|| -> std::io::Result<(u64, u64)> {
        let mut w = SnapshotWriter::new(file, &order.sessions, &order.acls)?;
        let mut walk = PreorderWalk::new();
        let mut buf = BytesMut::with_capacity(256 * 1024);
        loop {
            buf.clear();
            let seal = {
                let t = shared.tree.read();
                walk.step(&t, NODES_PER_CHUNK, |path, node| {
                    snapshot::encode_node(&mut buf, path, node.data_opt(), node.acl, &node.stat());
                    1
                });
                walk.is_done()
                    .then(|| (shared.last_applied.load(Ordering::Acquire), t.digest()))
            };
            w.raw_nodes(&buf)?;
            if let Some(seal) = seal {
                let last_zxid = order.last_zxid_trailer.then_some(seal.0);
                let file = w.finish_with_last_zxid(Some(seal), last_zxid)?;
                let f = file.into_inner().map_err(|e| e.into_error())?;
                f.sync_all()?;
                let size = f.metadata()?.len();
                std::fs::File::open(dir)?.sync_all()?;
                return Ok((walk.visited(), size));
            }
        }
    })();
    match res {
        Ok((nodes, size)) => {
            crate::metrics::SNAPSHOT_TIME.observe(started.elapsed().as_millis() as i64);
            tracing::info!(
                "snapshot 0x{zxid:x}: {nodes} znodes written to {} in {} ms",
                path.display(),
                started.elapsed().as_millis()
            );
            Ok(SnapshotWritten { zxid, path, size })
        }
        Err(e) => {
            crate::metrics::SNAPSHOT_ERROR_COUNT.inc();
            // Nothing is lost: the txn logs still hold every txn.
            tracing::error!("cannot write snapshot {}: {e}", path.display());
            let _ = std::fs::remove_file(&path);
            Err(format!("cannot write {}: {e}", path.display()))
        }
    }
}
