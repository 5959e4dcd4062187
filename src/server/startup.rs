//! Startup: recover the tree and sessions from the data directory, write the startup
//! snapshot (as ZooKeeper does), and open the txn log.
//!
//! Owns: the order of recovery — newest valid snapshot (falling back to older ones; none
//! loadable refuses to start), then the logs after it; a torn last entry ends a log, a
//! checksum failure refuses to start.
//! Must never: serve clients before recovery has finished.

use crate::jute::records::Acl;
use crate::server::core::Recovered;
use crate::server::settings::Settings;
use crate::storage::snapshot::{self, SnapshotWriter};
use crate::storage::txlog::{LogEnd, LogFileReader, TxnLogWriter};
use crate::storage::{self, list_by_zxid};
use crate::tree::DataTree;
use crate::txn::{Txn, TxnBody, codec};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::Instant;

/// ZooKeeper tries at most this many snapshots, newest first.
const MAX_SNAPSHOTS_TRIED: usize = 100;

fn other(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// Rebuild the state from disk (empty when in-memory or the directory is new).
pub fn recover(settings: &Settings) -> io::Result<(DataTree, Recovered)> {
    let started = std::time::Instant::now();
    let r = recover_inner(settings);
    if r.is_ok() {
        crate::metrics::DB_INIT_TIME.observe(started.elapsed().as_millis() as i64);
    }
    r
}

fn recover_inner(settings: &Settings) -> io::Result<(DataTree, Recovered)> {
    let ext = settings.prep.extended_types_enabled;
    let Some(data_dir) = settings.data_dir.as_ref() else {
        return Ok((
            DataTree::with_extended_types(ext),
            Recovered {
                sessions: Vec::new(),
                last_zxid: 0,
                snapshot_needed: false,
            },
        ));
    };
    let log_root = settings.data_log_dir.as_ref().unwrap_or(data_dir);
    let snap_dir = storage::version_dir(data_dir);
    let log_dir = storage::version_dir(log_root);
    std::fs::create_dir_all(&snap_dir)?;
    std::fs::create_dir_all(&log_dir)?;
    let started = Instant::now();

    // Snapshots and log entries are held to Java's field cap (jute.maxbuffer + extrasize),
    // as FileSnap and FileTxnLog read them through default BinaryInputArchives.
    let max_field = settings.jute_limits().field();
    let digests = settings.prep.digest_enabled;
    let (tree, sessions, snap_zxid) = load_newest_snapshot(&snap_dir, ext, max_field, digests)?;
    crate::metrics::STARTUP_SNAP_LOAD_TIME.observe(started.elapsed().as_millis() as i64);
    let replay_started = Instant::now();
    let mut replay = Replay::new(tree, sessions, snap_zxid);
    replay.check_digests = digests;

    let logs = list_by_zxid(&log_dir, "log")?;
    // The newest log starting at or before snap_zxid + 1 may hold txns after the snapshot.
    let first = logs
        .iter()
        .rposition(|(z, _)| *z <= snap_zxid + 1)
        .unwrap_or(0);
    for (_, path) in logs.iter().skip(first) {
        let mut r =
            LogFileReader::open_with_limit(path, max_field).map_err(|e| other(e.to_string()))?;
        while let Some(entry) = r
            .next_entry()
            .map_err(|e| other(format!("{e}; refusing to start")))?
        {
            replay
                .entry(entry)
                .map_err(|e| other(format!("{}: {e}; refusing to start", path.display())))?;
        }
        if let Some(LogEnd::Torn(off)) = r.end() {
            tracing::warn!(
                "{}: partial entry at offset {off} (torn write from a crash); ignoring the rest of this file",
                path.display()
            );
        }
    }
    let replayed = replay.replayed;
    if replayed > 0 {
        crate::metrics::STARTUP_TXNS_LOADED.observe(replayed as i64);
        let ms = replay_started.elapsed().as_millis() as i64;
        crate::metrics::STARTUP_TXNS_LOAD_TIME.observe(ms);
    }
    let (tree, sessions, last_zxid) = replay.finish();
    if let Some(z) = tree.digest_check().awaited_zxid() {
        tracing::warn!(
            "highest txn zxid 0x{last_zxid:x} is not covering the snapshot digest zxid 0x{z:x}, \
             which might lead to inconsistent state"
        );
    }
    tracing::info!(
        "recovered {} znodes, {} sessions up to zxid 0x{last_zxid:x} (snapshot 0x{snap_zxid:x} + {replayed} txns) in {} ms",
        tree.node_count(),
        sessions.len(),
        started.elapsed().as_millis()
    );
    // ZooKeeper writes a snapshot on every start before serving. We serve first and let
    // the core write it in the background (a fuzzy snapshot, like the periodic ones):
    // until it is complete, the previous snapshot and the logs still hold everything.
    // A brand-new directory gets its snapshot.0 right away, as Java writes one.
    let snapshot_needed = if snap_zxid == 0 && last_zxid == 0 {
        write_snapshot(&snap_dir, &tree, &sessions, 0)?;
        false
    } else {
        last_zxid != snap_zxid
    };
    Ok((
        tree,
        Recovered {
            sessions,
            last_zxid,
            snapshot_needed,
        },
    ))
}

/// Replays logged txns onto a tree loaded from a snapshot, as recovery does: txns at or
/// below the tree's zxid are skipped (a fuzzy snapshot may already hold them), a hole in
/// an epoch's numbering is refused, sessions follow createSession/closeSession.
pub struct Replay {
    tree: DataTree,
    sessions: BTreeMap<i64, i32>,
    pub last_zxid: i64,
    pub replayed: u64,
    /// zookeeper.digest.enabled: compare the tree's digest with each txn's.
    pub check_digests: bool,
}

impl Replay {
    pub fn new(tree: DataTree, sessions: Vec<(i64, i32)>, zxid: i64) -> Replay {
        Replay {
            tree,
            sessions: sessions.into_iter().collect(),
            last_zxid: zxid,
            replayed: 0,
            check_digests: false,
        }
    }

    /// Apply one log entry (as `LogFileReader::next_entry` returns it).
    pub fn entry(&mut self, entry: bytes::Bytes) -> Result<(), String> {
        let txn = codec::decode_txn(entry).map_err(|e| format!("undecodable txn: {e}"))?;
        let z = txn.header.zxid;
        if z <= self.last_zxid {
            return Ok(());
        }
        // Txns within an epoch are numbered without holes: a jump means a log file is
        // missing (purged, or the snapshot that covered it could not be read).
        if z > self.last_zxid + 1 && z >> 32 == self.last_zxid >> 32 {
            return Err(format!(
                "txn 0x{z:x} follows 0x{:x}: the txns in between are missing (a log file was removed, or the snapshot covering them is unreadable)",
                self.last_zxid
            ));
        }
        replay_sessions(&txn, &mut self.sessions);
        self.tree.apply(&txn);
        if self.check_digests {
            crate::server::digest_mismatch::report(self.tree.check_digest(z, txn.digest.as_ref()));
        }
        self.last_zxid = z;
        self.replayed += 1;
        if self.replayed.is_multiple_of(100_000) {
            tracing::info!("recovery: replayed {} txns, at zxid 0x{z:x}", self.replayed);
        }
        Ok(())
    }

    /// The tree (its last processed zxid set), the live sessions, the last zxid.
    pub fn finish(mut self) -> (DataTree, Vec<(i64, i32)>, i64) {
        self.tree.set_last_processed_zxid(self.last_zxid);
        (
            self.tree,
            self.sessions.into_iter().collect(),
            self.last_zxid,
        )
    }
}

fn replay_sessions(txn: &Txn, sessions: &mut BTreeMap<i64, i32>) {
    match &txn.body {
        TxnBody::CreateSession(c) => {
            sessions.insert(txn.header.client_id, c.time_out);
        }
        TxnBody::CloseSession(_) => {
            sessions.remove(&txn.header.client_id);
        }
        _ => {}
    }
}

/// (tree, sessions, snapshot zxid).
type Loaded = (DataTree, Vec<(i64, i32)>, i64);

/// The newest snapshot that loads. Like Java's `FileSnap.deserialize`: snapshots that do
/// not even look complete are skipped; if some looked complete but none of them loads,
/// recovery fails ("Not able to find valid snapshots") rather than starting from an empty
/// tree; only a directory without any complete-looking snapshot starts empty.
fn load_newest_snapshot(
    dir: &Path,
    ext: bool,
    max_field: usize,
    check_digest: bool,
) -> io::Result<Loaded> {
    let mut snaps = list_by_zxid(dir, "snapshot")?;
    snaps.reverse();
    let mut failed: Vec<String> = Vec::new();
    for (zxid, path) in snaps.into_iter().take(MAX_SNAPSHOTS_TRIED) {
        // Java checks the tail of uncompressed files only; compressed ones are validated
        // by their seals while reading.
        match snapshot::looks_complete(&path) {
            _ if snapshot::is_compressed(&path) => {}
            Ok(true) => {}
            _ => {
                tracing::warn!(
                    "{}: incomplete snapshot; trying an older one",
                    path.display()
                );
                continue;
            }
        }
        match load_snapshot(&path, ext, max_field) {
            Ok((mut tree, meta)) => {
                tracing::info!(
                    "loaded snapshot {} ({} znodes)",
                    path.display(),
                    tree.node_count()
                );
                // Java's deserializeZxidDigest + compareSnapshotDigests: compared now
                // when the digest was taken at the snapshot's zxid, else during replay.
                if check_digest && let Some((dz, digest)) = meta.digest {
                    let v = meta.digest_version;
                    let found = tree.loaded_snapshot_digest(dz, v, digest, zxid);
                    crate::server::digest_mismatch::report([found]);
                }
                return Ok((tree, meta.sessions, zxid));
            }
            Err(e) => {
                tracing::warn!("{}: {e}; trying an older snapshot", path.display());
                failed.push(format!("{}: {e}", path.display()));
            }
        }
    }
    if let Some(newest) = failed.first() {
        return Err(other(format!(
            "not able to find a valid snapshot: {} complete-looking snapshot(s) failed to load \
             (newest: {newest}); refusing to start",
            failed.len()
        )));
    }
    Ok((DataTree::with_extended_types(ext), Vec::new(), 0))
}

fn load_snapshot(
    path: &Path,
    ext: bool,
    max_field: usize,
) -> Result<(DataTree, snapshot::SnapMeta), String> {
    let f = snapshot::open(path).map_err(|e| e.to_string())?;
    read_snapshot(f, ext, max_field)
}

/// Load a snapshot file's contents (already decompressed) into a tree + sessions.
pub fn load_snapshot_from(
    f: impl std::io::Read,
    ext: bool,
    max_field: usize,
) -> Result<(DataTree, Vec<(i64, i32)>), String> {
    read_snapshot(f, ext, max_field).map(|(tree, meta)| (tree, meta.sessions))
}

/// The tree and the rest (sessions, digest trailer) of a snapshot's contents.
fn read_snapshot(
    f: impl std::io::Read,
    ext: bool,
    max_field: usize,
) -> Result<(DataTree, snapshot::SnapMeta), String> {
    // The ACL table precedes the nodes, so the loader exists before the first node and
    // nodes go straight into the tree (no intermediate list).
    let mut loader: Option<crate::tree::SnapshotLoader> = None;
    let mut meta = snapshot::SnapMeta::default();
    let mut nodes_done = false;
    let loader_slot = std::cell::RefCell::new(&mut loader);
    snapshot::read_snapshot_streaming(
        f,
        max_field,
        |acls| **loader_slot.borrow_mut() = Some(DataTree::snapshot_loader(ext, acls.to_vec())),
        |n| match loader_slot.borrow_mut().as_mut() {
            Some(l) => l
                .add(n.path, n.data, n.acl, n.stat)
                .map_err(snapshot::SnapError::Malformed),
            None => Err(snapshot::SnapError::Malformed(
                "node before the ACL table".into(),
            )),
        },
        &mut meta,
        &mut nodes_done,
    )
    .map_err(|e| e.to_string())?;
    let tree = loader
        .ok_or_else(|| "snapshot has no ACL table".to_string())?
        .finish()?;
    Ok((tree, meta))
}

/// Write `snapshot.<zxid>` of the whole tree and fsync it.
pub fn write_snapshot(
    dir: &Path,
    tree: &DataTree,
    sessions: &[(i64, i32)],
    zxid: i64,
) -> io::Result<()> {
    let started = std::time::Instant::now();
    let (path, file) = snapshot::create_file(dir, zxid)?;
    write_tree(file, tree, sessions, zxid, None)?;
    std::fs::File::open(dir)?.sync_all()?;
    tracing::info!(
        "wrote snapshot {} in {} ms",
        path.display(),
        started.elapsed().as_millis()
    );
    Ok(())
}

/// Write the whole tree as a snapshot at `zxid` into the file `path` (created or
/// truncated) and fsync the file (not its directory), ending with 3.9's
/// last-processed-zxid trailer. The restore command writes its snapshot so, under a
/// temporary name.
pub fn write_snapshot_file(
    path: &Path,
    tree: &DataTree,
    sessions: &[(i64, i32)],
    zxid: i64,
) -> io::Result<()> {
    let f = std::fs::File::create(path)?;
    let file = io::BufWriter::with_capacity(1 << 20, f);
    write_tree(file, tree, sessions, zxid, Some(zxid))
}

fn write_tree(
    file: io::BufWriter<std::fs::File>,
    tree: &DataTree,
    sessions: &[(i64, i32)],
    zxid: i64,
    last_zxid: Option<i64>,
) -> io::Result<()> {
    let acls: Vec<(i64, Vec<Acl>)> = tree
        .acl_cache()
        .entries()
        .map(|(id, l)| (id, l.to_vec()))
        .collect();
    let mut w = SnapshotWriter::new(file, sessions, &acls)?;
    for (p, n) in tree.preorder() {
        w.node_bytes(&p, n.data_opt(), n.acl, &n.stat())?;
    }
    let file = w.finish_with_last_zxid(Some((zxid, tree.digest())), last_zxid)?;
    let f = file.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}

/// The txn log writer for the data log directory (None when in-memory).
pub fn open_log(settings: &Settings) -> io::Result<Option<TxnLogWriter>> {
    let Some(dir) = settings
        .data_log_dir
        .as_ref()
        .or(settings.data_dir.as_ref())
    else {
        return Ok(None);
    };
    let w = TxnLogWriter::open(
        &storage::version_dir(dir),
        settings.prealloc_bytes,
        settings.force_sync,
    )?;
    Ok(Some(w))
}
