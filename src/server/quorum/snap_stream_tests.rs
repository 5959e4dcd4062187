use super::*;
use crate::tree::DataTree;
use crate::zab::snap;
use std::time::Duration;

const MAX: usize = crate::jute::JuteLimits::DEFAULT.field();

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

fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Feed `body` to a tee in pieces of `piece` bytes; the decoded tree's digest ends it.
async fn tee_body(dir: &Path, zxid: i64, body: &[u8], piece: usize) -> TeedSnapshot {
    let mut tee = SnapTee::start(dir, zxid).unwrap();
    for p in body.chunks(piece) {
        assert!(tee.write(Bytes::copy_from_slice(p)).await);
    }
    let (state, used) = snap::decode(body, false, MAX, zxid).unwrap();
    assert_eq!(used, body.len());
    tee.finish(state.tree.digest()).await
}

#[tokio::test]
async fn a_teed_snapshot_is_the_one_write_snapshot_writes_and_loads() {
    for (seed, piece) in [
        (1u64, 1usize),
        (2, 7),
        (3, 19),
        (4, 20),
        (5, 4096),
        (6, 1 << 20),
    ] {
        let (t, sessions) = snap::tests::random_tree(seed);
        let zxid = t.last_processed_zxid();
        let body = snap::encode(&t, &sessions);
        let teed_dir = tempfile::tempdir().unwrap();
        let whole_dir = tempfile::tempdir().unwrap();
        let teed = tee_body(teed_dir.path(), zxid, &body, piece).await;
        assert_eq!(teed.zxid(), zxid);
        let path = teed.commit().unwrap();
        let name = snapshot::snapshot_file_name(zxid);
        assert_eq!(snapshot_files(teed_dir.path()), vec![name.clone()]);
        crate::server::startup::write_snapshot(whole_dir.path(), &t, &sessions, zxid).unwrap();
        let teed_bytes = std::fs::read(&path).unwrap();
        let whole_bytes = std::fs::read(whole_dir.path().join(&name)).unwrap();
        assert!(teed_bytes == whole_bytes, "seed {seed}, pieces of {piece}");
        assert!(snapshot::looks_complete(&path).unwrap());
        let (loaded, loaded_sessions) =
            crate::server::startup::load_snapshot_from(&teed_bytes[..], false, MAX).unwrap();
        assert_eq!(loaded_sessions, sessions);
        assert_eq!(loaded.digest(), t.digest());
        assert_eq!(
            loaded
                .preorder()
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>(),
            t.preorder().into_iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
    }
}

/// A Java leader's body (captured from 3.9.5): the teed file loads to the tree decoded
/// from it.
#[tokio::test]
async fn a_teed_java_body_loads_to_the_decoded_tree() {
    let hex = include_str!("../../../testdata/quorum-captures/snap-body-3.9.5.hex").trim();
    let body: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let zxid = 0x1_0000_027d;
    let dir = tempfile::tempdir().unwrap();
    let path = tee_body(dir.path(), zxid, &body, 333)
        .await
        .commit()
        .unwrap();
    let (state, _) = snap::decode(&body, false, MAX, zxid).unwrap();
    let f = snapshot::open(&path).unwrap();
    let (loaded, sessions) = crate::server::startup::load_snapshot_from(f, false, MAX).unwrap();
    assert_eq!(sessions, state.sessions);
    assert_eq!(loaded.digest(), state.tree.digest());
    let dump = |t: &DataTree| {
        t.preorder()
            .into_iter()
            .map(|(p, n)| (p, n.data_opt().map(|d| d.to_vec()), n.acl, n.stat()))
            .collect::<Vec<_>>()
    };
    assert!(dump(&loaded) == dump(&state.tree));
}

#[tokio::test]
async fn a_cut_or_wrong_body_leaves_no_snapshot() {
    let (t, sessions) = snap::tests::random_tree(11);
    let zxid = t.last_processed_zxid();
    let body = snap::encode(&t, &sessions);
    let dir = tempfile::tempdir().unwrap();
    // Cut short: the link died mid-stream.
    let mut tee = SnapTee::start(dir.path(), zxid).unwrap();
    assert!(tee.write(body.slice(..body.len() / 2)).await);
    drop(tee);
    // Not ending with the signature.
    let mut tee = SnapTee::start(dir.path(), zxid).unwrap();
    assert!(tee.write(body.slice(..body.len() - 1)).await);
    assert!(tee.write(Bytes::from_static(b"X")).await);
    assert!(tee.finish(t.digest()).await.commit().is_err());
    // Complete but not used (txns were applied after the SNAP).
    drop(tee_body(dir.path(), zxid, &body, 1000).await);
    // The tee threads end on their own (however late they started); their temporary
    // files are gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !snapshot_files(dir.path()).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(snapshot_files(dir.path()), Vec::<String>::new());
}

/// A tee's leftovers (a crash mid-stream) go when the next one starts; real snapshots
/// stay.
#[tokio::test]
async fn stale_temporary_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tmp-snapshot.5.0"), b"cut by a crash").unwrap();
    std::fs::write(dir.path().join("snapshot.5"), b"kept").unwrap();
    let (t, sessions) = snap::tests::random_tree(12);
    let zxid = t.last_processed_zxid();
    let body = snap::encode(&t, &sessions);
    tee_body(dir.path(), zxid, &body, 5000)
        .await
        .commit()
        .unwrap();
    assert_eq!(
        snapshot_files(dir.path()),
        vec!["snapshot.5".to_string(), snapshot::snapshot_file_name(zxid)]
    );
}
