use super::*;
use crate::tree::DataTree;
use crate::zab::snap;
use std::time::Duration;

fn shared_with(tree: DataTree) -> Arc<Shared> {
    Arc::new(Shared::new(tree, 0, 0))
}

/// Everything the encoder sends, and whether it ended with `End`.
fn drain(mut rx: mpsc::UnboundedReceiver<StreamPart>) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    while let Some(p) = rx.blocking_recv() {
        match p {
            StreamPart::Chunk(b) => out.extend_from_slice(&b),
            StreamPart::End => return (out, true),
        }
    }
    (out, false)
}

#[test]
fn streamed_chunks_are_exactly_the_whole_encoding() {
    for seed in [3u64, 17, 0x9E37_79B9] {
        let (t, sessions) = snap::tests::random_tree(seed);
        let whole = snap::encode(&t, &sessions);
        let shared = shared_with(t);
        let rx = start_encoder(shared.clone(), sessions, 0x42, 1).unwrap();
        let (bytes, ended) = drain(rx);
        assert!(ended, "seed {seed}");
        assert!(bytes == whole[..], "seed {seed}");
        // The thread let go of the tree.
        assert!(shared.tree.try_write_for(Duration::from_secs(5)).is_some());
    }
}

/// The tree is read-locked when `start_encoder` returns: a writer waits for the body.
#[test]
fn the_body_is_the_tree_when_the_encoder_started() {
    let (t, sessions) = snap::tests::random_tree(5);
    let whole = snap::encode(&t, &sessions);
    let shared = shared_with(t);
    let rx = start_encoder(shared.clone(), sessions, 0x42, 1).unwrap();
    let writer = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            *shared.tree.write() = DataTree::new();
        })
    };
    let (bytes, ended) = drain(rx);
    writer.join().unwrap();
    assert!(ended && bytes == whole[..]);
    assert_eq!(
        shared.tree.read().node_count(),
        DataTree::new().node_count()
    );
}

#[test]
fn a_dropped_receiver_stops_the_encoder_and_frees_the_tree() {
    let (t, sessions) = snap::tests::random_tree(9);
    let shared = shared_with(t);
    let rx = start_encoder(shared.clone(), sessions, 0x42, 1).unwrap();
    drop(rx);
    assert!(shared.tree.try_write_for(Duration::from_secs(10)).is_some());
}
