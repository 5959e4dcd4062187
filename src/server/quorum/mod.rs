//! The quorum peer: a member of an ensemble, as Java's `QuorumPeer.run` — elect, then
//! lead or follow until that fails, then elect again — around the one data tree the
//! member keeps for its whole life.
//!
//! Owns: the role loop, the state carried from one role to the next (tree, sessions,
//! epochs, the last zxid), bringing the tree up to the log when a role ends (Java's
//! `fastForwardDataBase`), and turning clients away while no role serves them.
//! Must never: hold protocol logic (election is `zab::election` driven by
//! `server::election`; leading and following are `zab::leader` / `zab::learner` driven
//! by `lead` / `follow`), or serve a client while this member is not in a quorum.

pub mod follow;
pub mod glue;
pub mod lead;
pub mod link;
pub mod looking;
pub mod peer;
pub mod snap_stream;
pub mod txnlog_sync;

use crate::server::core::{Core, Input, Now, Recovered};
use crate::server::persister::Persister;
use crate::server::settings::Settings;
use crate::server::shared::Shared;
use crate::server::startup;
use crate::storage;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The ensemble part of the configuration, as one member sees it.
#[derive(Debug, Clone)]
pub struct QuorumSettings {
    pub my_sid: i64,
    /// Every `server.N` (voters and observers), this member included.
    pub servers: Vec<crate::config::QuorumServer>,
    pub observer: bool,
    pub tick_ms: i64,
    pub init_limit: i64,
    pub sync_limit: i64,
    /// `QuorumVerifier.toString()`: what notifications and NEWLEADER carry.
    pub config_text: bytes::Bytes,
    pub config_version: i64,
    pub listen_on_all_ips: bool,
    /// `readonlymode.enabled`: serve read-only clients while cut off from a quorum.
    pub read_only_mode: bool,
    /// `zookeeper.commitLogCount`: the committed ring's capacity (see `ring_capacity`).
    pub commit_log_count: usize,
    /// Plain or TLS member-to-member connections (`sslQuorum`, `portUnification`).
    pub transport: crate::server::peer_stream::PeerTransport,
}

/// `sslQuorum` / `portUnification` and the `ssl.quorum.*` stores they use.
fn peer_transport(
    c: &crate::config::Config,
) -> Result<crate::server::peer_stream::PeerTransport, String> {
    use crate::tls::quorum::{QuorumTls, QuorumTlsMode, QuorumTlsOptions};
    let mode = QuorumTlsMode {
        ssl_quorum: c.ssl_quorum,
        port_unification: c.port_unification,
    };
    let tls = match QuorumTlsOptions::from_config(c)? {
        Some(o) => Some(Arc::new(
            QuorumTls::new(o).map_err(|e| format!("sslQuorum: {e}"))?,
        )),
        None => None,
    };
    let transport = crate::server::peer_stream::PeerTransport::new(mode, tls);
    // QuorumPeer.initialize: both logins whenever quorum SASL is enabled.
    Ok(match crate::config::jaas_quorum::quorum_sasl_login(c)? {
        Some(login) => {
            for w in &login.warnings {
                tracing::warn!("{w}");
            }
            tracing::info!("{login}");
            transport.with_sasl(Arc::new(crate::server::quorum_sasl::QuorumSasl::new(login)))
        }
        None => transport,
    })
}

/// Most proposals the committed ring may hold: a sync queues them all (a PROPOSAL and a
/// COMMIT each, after up to `txnlog_sync`'s 2048 from the log) on the learner's link at
/// once, and a link more than `OUT_QUEUE` packets behind is dropped, so a larger ring
/// (Java allows any) would drop every learner synced from its far end.
pub const MAX_COMMIT_LOG_COUNT: usize = link::OUT_QUEUE / 8;

/// `zookeeper.commitLogCount` as ZKDatabase reads it, capped at `MAX_COMMIT_LOG_COUNT`.
fn ring_capacity(setting: Option<&str>) -> usize {
    let n = crate::zab::committed::commit_log_count(setting);
    if n > MAX_COMMIT_LOG_COUNT {
        tracing::warn!(
            "zookeeper.commitLogCount={n}: using {MAX_COMMIT_LOG_COUNT}, the most one sync \
             can queue for a learner (a learner further behind is synced from the txn log)"
        );
    }
    n.min(MAX_COMMIT_LOG_COUNT)
}

impl QuorumSettings {
    pub fn from_config(c: &crate::config::Config) -> Result<QuorumSettings, String> {
        let my_sid = c
            .server_id
            .ok_or("a quorum member needs <dataDir>/myid".to_string())?;
        let me = c
            .servers
            .get(&my_sid)
            .ok_or(format!("myid {my_sid} has no server.{my_sid} line"))?;
        Ok(QuorumSettings {
            my_sid,
            servers: c.servers.values().cloned().collect(),
            observer: me.peer_type == crate::config::PeerType::Observer,
            tick_ms: c.tick_time as i64,
            init_limit: c.init_limit as i64,
            sync_limit: c.sync_limit as i64,
            config_text: bytes::Bytes::from(c.quorum_config_string()),
            config_version: c.config_version.unwrap_or(0),
            listen_on_all_ips: c.quorum_listen_on_all_ips,
            read_only_mode: c.read_only_mode_enabled,
            commit_log_count: ring_capacity(c.system_property("zookeeper.commitLogCount")),
            transport: peer_transport(c)?,
        })
    }

    pub fn server(&self, sid: i64) -> Option<&crate::config::QuorumServer> {
        self.servers.iter().find(|s| s.id == sid)
    }

    /// Voting members' ids.
    pub fn voters(&self) -> Vec<i64> {
        self.servers
            .iter()
            .filter(|s| s.peer_type == crate::config::PeerType::Participant)
            .map(|s| s.id)
            .collect()
    }
}

/// Whether a tree reloaded from disk after TRUNC(`target`) ended at `loaded`, the state the
/// leader goes on from: the target itself, or below it when the target is an epoch start
/// (no txn carries one). Anything else means this member's disk does not hold the history
/// it claimed in ACKEPOCH, and applying the leader's txns on top would diverge.
pub fn trunc_reached(target: i64, loaded: i64) -> bool {
    loaded == target || (crate::zab::zxid::is_epoch_start(target) && loaded < target)
}

/// What a member carries from one role to the next.
pub struct PeerState {
    pub quorum: Arc<QuorumSettings>,
    pub settings: Arc<Settings>,
    pub shared: Arc<Shared>,
    /// Live sessions (id, timeout) as of `last_zxid`.
    pub sessions: Vec<(i64, i32)>,
    /// The tree's last applied zxid.
    pub last_zxid: i64,
    pub accepted_epoch: i64,
    pub current_epoch: i64,
    /// Client connections' inputs; while no role serves, handshakes are turned away.
    pub clients: mpsc::Receiver<Input>,
    /// The newest committed proposals (`zookeeper.commitLogCount`), kept across roles
    /// as Java's `ZKDatabase.committedLog`: filled from the log at start, by every txn
    /// this member applies as leader or follower and by fast-forwarding; emptied by a
    /// SNAP, refilled after TRUNC. A new leader syncs learners from it.
    pub committed: crate::zab::committed::CommittedLog,
}

impl PeerState {
    /// `<dataDir>/version-2`, where the epoch files and snapshots live.
    pub fn snap_dir(&self) -> Option<PathBuf> {
        self.settings
            .data_dir
            .as_ref()
            .map(|d| storage::version_dir(d))
    }

    /// `<dataLogDir>/version-2`.
    pub fn log_dir(&self) -> Option<PathBuf> {
        self.settings
            .data_log_dir
            .as_ref()
            .or(self.settings.data_dir.as_ref())
            .map(|d| storage::version_dir(d))
    }

    pub fn write_accepted_epoch(&mut self, e: i64) -> std::io::Result<()> {
        if let Some(dir) = self.snap_dir() {
            storage::epoch::write_epoch(&dir, storage::epoch::ACCEPTED_EPOCH, e)?;
        }
        self.accepted_epoch = e;
        Ok(())
    }

    pub fn write_current_epoch(&mut self, e: i64) -> std::io::Result<()> {
        if let Some(dir) = self.snap_dir() {
            storage::epoch::write_epoch(&dir, storage::epoch::CURRENT_EPOCH, e)?;
        }
        self.current_epoch = e;
        Ok(())
    }

    /// A core over the member's tree for one role.
    pub fn new_core(&self, slow_fsyncs: Arc<std::sync::atomic::AtomicU64>, now: Now) -> Core {
        Core::new(
            self.settings.clone(),
            self.shared.clone(),
            Recovered {
                sessions: self.sessions.clone(),
                last_zxid: self.last_zxid,
                snapshot_needed: false,
            },
            now,
            slow_fsyncs,
        )
    }

    /// A role ended: its core hands back the sessions and last zxid, its connections
    /// are closed, and the tree catches up with what the log holds beyond what was
    /// applied (txns logged but never committed are part of this member's history: the
    /// next election counts them, and a new leader either commits them or truncates
    /// them), as Java's `ZooKeeperServer.shutdown` fast-forwards the database.
    pub fn end_role(&mut self, core: Option<Core>) -> Result<(), String> {
        if let Some(mut core) = core {
            core.close_all();
            core.take_actions().flush.flush();
            self.sessions = core.sessions();
            self.last_zxid = core.last_applied();
        }
        *self.shared.watches.lock() = crate::watch::WatchManager::new();
        self.fast_forward()
    }

    /// Apply logged txns beyond `last_zxid` to the tree.
    pub fn fast_forward(&mut self) -> Result<(), String> {
        let Some(dir) = self.log_dir() else {
            return Ok(());
        };
        let iter =
            storage::logs::TxnLogIter::open(&dir, self.last_zxid + 1).map_err(|e| e.to_string())?;
        let mut tree = std::mem::take(&mut *self.shared.tree.write());
        let mut replay = startup::Replay::new(
            std::mem::take(&mut tree),
            std::mem::take(&mut self.sessions),
            self.last_zxid,
        );
        replay.check_digests = self.settings.prep.digest_enabled;
        let mut err = None;
        for e in iter {
            match e {
                Ok(entry) => {
                    let (z, data) = (entry.zxid, entry.data);
                    if let Err(e) = replay.entry(data.clone()) {
                        err = Some(e);
                        break;
                    }
                    if z > self.last_zxid && self.committed.add(z, data).is_err() {
                        self.committed.clear();
                    }
                }
                Err(e) => {
                    err = Some(e.to_string());
                    break;
                }
            }
        }
        let replayed = replay.replayed;
        let (tree, sessions, last) = replay.finish();
        *self.shared.tree.write() = tree;
        self.shared
            .last_applied
            .store(last, std::sync::atomic::Ordering::Release);
        self.sessions = sessions;
        if replayed > 0 {
            tracing::info!(
                "brought the tree from 0x{:x} to 0x{last:x} ({replayed} logged txns)",
                self.last_zxid
            );
        }
        self.last_zxid = last;
        match err {
            Some(e) => Err(format!("cannot fast-forward the tree from the log: {e}")),
            None => Ok(()),
        }
    }

    /// Throw the tree away and load it again from the snapshot and log on disk: a learner
    /// ended with its tree ahead of the disk (`Learner::tree_ahead_of_disk`), and what
    /// this member votes with and syncs from must be what it can give back after a
    /// restart.
    pub fn reload_from_disk(&mut self, wall_ms: i64) -> Result<(), String> {
        let (tree, rec) = crate::server::startup::recover(&self.settings)
            .map_err(|e| format!("cannot reload the tree from disk: {e}"))?;
        tracing::info!(
            "the sync ended before its snapshot was written: the tree goes back to what \
             the disk holds, 0x{:x} (it was at 0x{:x})",
            rec.last_zxid,
            self.last_zxid
        );
        self.install_tree(tree, rec.sessions, rec.last_zxid, wall_ms);
        self.reload_committed();
        Ok(())
    }

    /// Replace the tree (a SNAP from the leader, or a reload after TRUNC).
    pub fn install_tree(
        &mut self,
        mut tree: crate::tree::DataTree,
        sessions: Vec<(i64, i32)>,
        zxid: i64,
        wall_ms: i64,
    ) {
        tree.set_last_processed_zxid(zxid);
        *self.shared.tree.write() = tree;
        // As Java's learner after a snapshot (ZOOKEEPER-2819): the config node holds this
        // member's own view, not the leader's.
        self.set_config_node(wall_ms);
        *self.shared.watches.lock() = crate::watch::WatchManager::new();
        self.shared
            .last_applied
            .store(zxid, std::sync::atomic::Ordering::Release);
        self.sessions = sessions;
        self.last_zxid = zxid;
        // What the ring held is not this tree's history any more.
        self.committed.clear();
    }

    /// Refill the committed ring from the log: the newest `commitLogCount` txns after
    /// the newest snapshot and up to `last_zxid`, read from the last two log files (each
    /// holds up to snapCount txns, so that is plenty; a learner further behind is
    /// synced from the txn log, `txnlog_sync`, or by SNAP). Only txns after the snapshot, as Java's ZKDatabase adds only the txns it
    /// replays: entries below it may be a divergent history this member logged and then
    /// replaced by a SNAP (found by the ensemble simulator, seed 2389).
    pub fn reload_committed(&mut self) {
        let cap = self.quorum.commit_log_count;
        self.committed = crate::zab::committed::CommittedLog::new(cap);
        let Some(dir) = self.log_dir() else {
            return;
        };
        let files = storage::logs::log_files(&dir).unwrap_or_default();
        let from = match files.len() {
            0 => return,
            1 => files[0].0,
            n => files[n - 2].0,
        };
        let snap_zxid = self
            .snap_dir()
            .and_then(|d| storage::list_by_zxid(&d, "snapshot").ok())
            .and_then(|v| v.last().map(|(z, _)| *z))
            .unwrap_or(0);
        let Ok(iter) = storage::logs::TxnLogIter::open(&dir, from.max(snap_zxid + 1)) else {
            return;
        };
        for e in iter {
            match e {
                Ok(e) if e.zxid <= snap_zxid => {}
                Ok(e) if e.zxid <= self.last_zxid => {
                    if self.committed.add(e.zxid, e.data).is_err() {
                        // A hole (a file purged in between): keep what follows it.
                        self.committed.clear();
                    }
                }
                _ => break,
            }
        }
    }

    /// A txn this member applied (its entry bytes are the PROPOSAL data).
    pub fn committed_txn(&mut self, zxid: i64, entry: bytes::Bytes) {
        if self.committed.add(zxid, entry).is_err() {
            self.committed.clear();
        }
    }

    /// `/zookeeper/config` = this member's QuorumVerifier text, as Java's
    /// `initConfigInZKDatabase` writes it (version -1, mzxid = the config version).
    pub fn set_config_node(&mut self, wall_ms: i64) {
        self.shared.tree.write().set_config_data(
            self.quorum.config_text.clone(),
            self.quorum.config_version,
            wall_ms,
        );
    }

    /// The last zxid in this member's history: the tree (fast-forwarded through the log).
    pub fn last_logged_zxid(&self) -> i64 {
        self.last_zxid
    }
}

/// Answer a client input that arrived while no role serves clients: handshakes are
/// refused (Java accepts the socket and drops it until it serves), four-letter words
/// that need the core get nothing (the connection reports "not currently serving").
pub fn turn_away(input: Input) {
    match input {
        Input::Connect { outbox, reply, .. } => {
            outbox.close();
            let _ = reply.send(false);
        }
        Input::FourLetter { reply, .. } => drop(reply),
        _ => {}
    }
}

/// Stop a role's log thread once what it was given is durable; the last zxid it made
/// durable, if any.
pub async fn stop_persister(p: Persister, durable: &mut mpsc::Receiver<i64>) -> Option<i64> {
    drop(p);
    let mut last = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), durable.recv()).await {
            Ok(Some(z)) => last = Some(z),
            Ok(None) => return last,
            Err(_) => {
                tracing::error!("the transaction log thread did not finish within 30 s");
                return last;
            }
        }
    }
}

/// Start a role's log thread.
pub fn start_persister(settings: &Settings) -> std::io::Result<(Persister, mpsc::Receiver<i64>)> {
    let log = startup::open_log(settings)?;
    Persister::start(
        log,
        Duration::from_millis(settings.fsync_warn_ms),
        Duration::from_millis(settings.fault_fsync_delay_ms),
    )
}

#[cfg(test)]
mod ring_tests {
    use super::*;

    #[test]
    fn commit_log_count_is_read_as_java_reads_it_and_capped() {
        assert_eq!(ring_capacity(None), 500);
        assert_eq!(ring_capacity(Some("100")), 500);
        assert_eq!(ring_capacity(Some("1000")), 1000);
        assert_eq!(MAX_COMMIT_LOG_COUNT, 1024);
        assert_eq!(ring_capacity(Some("100000")), MAX_COMMIT_LOG_COUNT);
        assert_eq!(ring_capacity(Some("x")), 500);
    }
}
