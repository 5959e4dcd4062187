//! The SNAP body, encoded on its own thread while the leader's link sends what is ready
//! (instead of encoding all of it before the first byte).
//!
//! Owns: the encoder thread: it holds the tree's read lock from the moment
//! `start_encoder` returns until the body is encoded, and is never throttled by the
//! socket, so the lock is held no longer than encoding takes.
//! Must never: buffer more than one body (the chunks wait for the link, at most the whole
//! body, what encoding it up front held), or let a dead link hold the tree lock (a
//! dropped receiver stops the encoder).

use super::link::StreamPart;
use crate::server::shared::Shared;
use crate::zab::snap::{DEFAULT_CHUNK, SnapEncoder};
use std::io;
use std::sync::Arc;
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

#[cfg(test)]
#[path = "snap_stream_tests.rs"]
mod tests;
