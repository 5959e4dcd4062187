//! Following (or observing) a leader: Java's `Follower.followLeader` / `Observer.
//! observeLeader` as a tokio loop around the pure `zab::learner::Learner` and a core in
//! the learner role.
//!
//! Owns: connecting to the leader's quorum port (a few tries, as `Learner.connectToLeader`),
//! carrying out the learner's actions in order (epoch files, log, commits, snapshot
//! install and TRUNC, the sync snapshot at NEWLEADER — the file teed from the SNAP body
//! when nothing was applied since, see `snapshot_now` — PING replies), feeding the core
//! the leader's txns, and serving clients from the moment the learner is up to date.
//! Must never: decide protocol questions (the learner does), or serve a client before
//! UPTODATE.

use super::link::{Inbound, Link, ReadMode};
use super::{PeerState, glue, start_persister, stop_persister, turn_away};
use crate::server::core::{Core, Input, Role};
use crate::server::core_loop::{CoreShell, now};
use crate::server::peer_stream::PeerStream;
use crate::zab::learner::{Learner, LearnerAction, LearnerConfig, ping_reply_packet};
use bytes::BytesMut;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How the learner reaches its leader.
pub struct LeaderAddr {
    pub sid: i64,
    pub addr: String,
}

const TICK: Duration = Duration::from_millis(50);

/// Connect within initLimit ticks, as Java's `connectToLeader`. Java makes 5 attempts
/// 100 ms apart (`leaderConnectDelayDuringRetryMs`); the new leader usually binds its
/// quorum port a moment after its followers decided, so that first 100 ms wait was most
/// of a failover. Here the waits start at 5 ms and double (5, 10, 20, ... capped at
/// 500 ms) until the budget is spent: the same patience, found sooner.
async fn connect(leader: &LeaderAddr, st: &PeerState) -> Result<(PeerStream, BytesMut), String> {
    let budget = Duration::from_millis(
        (st.quorum.tick_ms.max(1) as u64).saturating_mul(st.quorum.init_limit.max(1) as u64),
    );
    let started = tokio::time::Instant::now();
    let mut last = String::new();
    let mut wait = Duration::from_millis(5);
    for attempt in 0u32.. {
        if attempt > 0 {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
        }
        let left = budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, TcpStream::connect(&leader.addr)).await {
            // The handshake (sslQuorum) is part of the attempt, as in Java's loop.
            Ok(Ok(s)) => match st
                .quorum
                .transport
                .dialed(s, host_of(&leader.addr), left)
                .await
            {
                Ok(s) => return authenticate(s, leader, st, left).await,
                Err(e) => last = e.to_string(),
            },
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timed out".into(),
        }
        if attempt >= 3 {
            tracing::warn!(
                "cannot reach leader {} at {} (attempt {}): {last}",
                leader.sid,
                leader.addr,
                attempt + 1
            );
        }
    }
    Err(format!(
        "could not connect to leader {} at {} within initLimit: {last}",
        leader.sid, leader.addr
    ))
}

/// Learner.connectToLeader's quorum SASL (learnerRequireSasl) on the connected stream;
/// the stream and what the leader sent past the exchange. A failure ends the attempt to
/// follow, as Java's SaslException does.
async fn authenticate(
    mut s: PeerStream,
    leader: &LeaderAddr,
    st: &PeerState,
    timeout: Duration,
) -> Result<(PeerStream, BytesMut), String> {
    let mut initial = BytesMut::new();
    if let Some(sasl) = st.quorum.transport.sasl() {
        let (mut rd, mut wr) = tokio::io::split(&mut s);
        let peer = format!("leader {} at {}", leader.sid, leader.addr);
        sasl.as_learner(&mut rd, &mut wr, &mut initial, &peer, timeout)
            .await
            .map_err(|e| format!("quorum SASL authentication to {peer} failed: {e}"))?;
    }
    Ok((s, initial))
}

/// The host part of `host:port` (`[v6]:port` too).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Follow `leader` until the link fails or the learner gives up; the reason.
pub async fn follow(
    st: &mut PeerState,
    leader: &LeaderAddr,
    observer: bool,
    announce_epoch: &(dyn Fn(i64) + Sync),
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> String {
    let (stream, initial) = match connect(leader, st).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    let mode = ReadMode {
        snapshot_follows_snap: true,
        ext_types: st.settings.prep.extended_types_enabled,
        max_field: st.settings.jute_limits().field(),
        tee_dir: st.snap_dir(),
    };
    let mut link = match Link::spawn(stream, mode, initial) {
        Ok(l) => l,
        Err(e) => return format!("leader link: {e}"),
    };
    tracing::info!(
        "{} leader {} at {}",
        if observer { "observing" } else { "following" },
        leader.sid,
        link.peer
    );
    let (persister, mut durable) = match start_persister(&st.settings) {
        Ok(p) => p,
        Err(e) => return format!("cannot open the transaction log: {e}"),
    };
    let (snap_tx, mut snap_rx) = mpsc::unbounded_channel();
    let mut shell = Some(CoreShell::new(
        st.settings.clone(),
        st.shared.clone(),
        persister,
        snap_tx.clone(),
    ));
    let t = now();
    let mut core = Some(learner_core(st, &shell, observer, t));
    let q = st.quorum.clone();
    let cfg = LearnerConfig::new(
        q.my_sid,
        observer,
        q.tick_ms,
        q.init_limit,
        q.sync_limit,
        q.config_version,
    );
    let mut learner = Learner::new(
        cfg,
        t.mono_ms,
        st.accepted_epoch,
        st.current_epoch,
        st.last_logged_zxid(),
    );
    learner.start();
    let mut serving = false;
    let mut sync_started: Option<std::time::Instant> = None;
    // The sync snapshot written from the SNAP body as it arrived (see `snapshot_now`).
    let mut teed: Option<super::snap_stream::TeedSnapshot> = None;
    let mut pending_actions: Vec<LearnerAction> = Vec::new();
    let mut logged_uncommitted: std::collections::VecDeque<(i64, bytes::Bytes)> =
        std::collections::VecDeque::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(256);
    let reason = 'run: loop {
        // The clock is read once the awaited event is here: a reading from before the
        // wait would date this round's txns and latencies up to a tick early (a PROPOSAL
        // then looked older than its txn and went uncounted in proposal_latency).
        let t;
        tokio::select! {
            biased;
            Some(z) = durable.recv() => {
                t = now();
                if let Some(c) = core.as_mut() { c.step(Input::Logged(z), t); }
                learner.logged(z);
            }
            Some(done) = snap_rx.recv() => {
                t = now();
                if let Some(c) = core.as_mut() { c.step(Input::SnapshotDone(done), t); }
            }
            msg = link.inbound.recv() => {
                t = now();
                match msg {
                    Some(Inbound::Packet(p)) => learner.on_packet(t.mono_ms, p),
                    Some(Inbound::Snapshot(s, teed_now)) => {
                        let zxid = s.tree.last_processed_zxid();
                        tracing::info!(
                            "SNAP 0x{zxid:x} from leader {} read: {} znodes, {} sessions",
                            leader.sid,
                            s.tree.node_count(),
                            s.sessions.len()
                        );
                        let mut tree = s.tree;
                        tree.installed_from_snap();
                        st.install_tree(tree, s.sessions, zxid, t.wall_ms);
                        // A new core over the new tree (nothing was served yet).
                        core = Some(learner_core(st, &shell, observer, t));
                        learner.snapshot_loaded(zxid);
                        teed = teed_now;
                    }
                    Some(Inbound::SnapshotProgress) => learner.heard_from_leader(t.mono_ms),
                    Some(Inbound::Closed(r)) => break 'run format!("leader link: {r}"),
                    None => break 'run "the leader link is gone".to_string(),
                }
            }
            n = st.clients.recv_many(&mut batch, 256) => {
                t = now();
                if n == 0 { break 'run "shutting down".to_string(); }
                for input in batch.drain(..) {
                    match core.as_mut() {
                        Some(c) if serving => c.step(input, t),
                        _ => turn_away(input),
                    }
                }
            }
            _ = shutdown.changed() => break 'run "shutting down".to_string(),
            _ = ticker.tick() => {
                t = now();
                learner.tick(t.mono_ms);
                if let Some(c) = core.as_mut() { c.step(Input::Tick, t); }
            }
        }
        // The learner's actions, in order (those left over from the last round first).
        let mut actions = std::mem::take(&mut pending_actions);
        actions.extend(learner.take_actions());
        for a in actions {
            match &a {
                LearnerAction::Log { zxid, entry } => {
                    // Kept until committed, for the committed ring (bounded by what the
                    // learner holds uncommitted).
                    logged_uncommitted.push_back((*zxid, entry.clone()));
                }
                LearnerAction::Commit { zxid, txn } => {
                    while logged_uncommitted.front().is_some_and(|(z, _)| z < zxid) {
                        logged_uncommitted.pop_front();
                    }
                    let entry = match logged_uncommitted.front() {
                        Some((z, e)) if z == zxid => e.clone(),
                        // Committed before it was logged (an observer, a SNAP sync).
                        _ => crate::txn::codec::encode_entry(txn),
                    };
                    st.committed_txn(*zxid, entry);
                }
                _ => {}
            }
            let a = match glue::learner_action_input(a) {
                Ok(input) => {
                    if let Some(c) = core.as_mut() {
                        c.step(input, t);
                    }
                    continue;
                }
                Err(a) => a,
            };
            match a {
                LearnerAction::Send(p) => {
                    // Java's sync time starts once registerWithLeader sent ACKEPOCH.
                    if p.kind == crate::zab::packet::kind::ACKEPOCH {
                        sync_started = Some(std::time::Instant::now());
                    }
                    if !link.send(p) {
                        break 'run "the leader link is full or gone".to_string();
                    }
                }
                LearnerAction::PersistAcceptedEpoch(e) => {
                    if let Err(err) = st.write_accepted_epoch(e) {
                        break 'run format!("cannot write acceptedEpoch: {err}");
                    }
                }
                LearnerAction::PersistCurrentEpoch(e) => {
                    if let Err(err) = st.write_current_epoch(e) {
                        break 'run format!("cannot write currentEpoch: {err}");
                    }
                    announce_epoch(e);
                }
                LearnerAction::ReadSnapshot { .. } => {}
                LearnerAction::Truncate { zxid } => {
                    if let Err(e) = truncate(
                        st,
                        &mut shell,
                        &mut core,
                        &mut durable,
                        &snap_tx,
                        zxid,
                        observer,
                    )
                    .await
                    {
                        break 'run e;
                    }
                }
                LearnerAction::TakeSnapshot { zxid } => {
                    if let Err(e) = snapshot_now(st, core.as_ref(), zxid, teed.take()) {
                        break 'run format!("cannot write the sync snapshot: {e}");
                    }
                    learner.snapshot_taken(zxid);
                }
                LearnerAction::StartServing { epoch } => {
                    if let Some(c) = core.as_mut() {
                        c.release_snapshots();
                        c.set_quorum_status(crate::admin::QuorumStatus {
                            peer_state: if observer {
                                "observing - broadcast"
                            } else {
                                "following - broadcast"
                            }
                            .into(),
                            quorum_size: q.voters().len(),
                            leader_id: leader.sid,
                            leader: None,
                        });
                    }
                    tracing::info!(
                        "up to date with leader {} in epoch {epoch}; serving",
                        leader.sid
                    );
                    serving = true;
                    st.shared
                        .set_serving_mode(crate::admin::ServingMode::ReadWrite);
                    if let Some(t0) = sync_started.take() {
                        let ms = t0.elapsed().as_millis() as i64;
                        if observer {
                            crate::metrics::OBSERVER_SYNC_TIME.observe(ms);
                        } else {
                            crate::metrics::FOLLOWER_SYNC_TIME.observe(ms);
                        }
                    }
                }
                LearnerAction::PingReply { zxid } => {
                    let touches = core.as_mut().map(|c| c.take_touches()).unwrap_or_default();
                    if !link.send(ping_reply_packet(zxid, &touches)) {
                        break 'run "the leader link is full or gone".to_string();
                    }
                }
                LearnerAction::GiveUp(r) => break 'run r.to_string(),
                // The core's (handled above).
                LearnerAction::Log { .. }
                | LearnerAction::Commit { .. }
                | LearnerAction::SyncDone
                | LearnerAction::Revalidated { .. } => {}
            }
        }
        if let (Some(c), Some(sh)) = (core.as_mut(), shell.as_mut()) {
            // The core's requests for the leader go through the learner (it counts
            // pending syncs and revalidations).
            for p in sh.carry_out(c.take_actions(), |_| {}) {
                if let Err(e) = glue::core_packet_to_learner(&mut learner, p) {
                    tracing::warn!("cannot forward to the leader: {e}");
                }
            }
            for a in learner.take_actions() {
                match a {
                    LearnerAction::Send(p) => {
                        if !link.send(p) {
                            break 'run "the leader link is full or gone".to_string();
                        }
                    }
                    other => pending_actions.push(other),
                }
            }
        }
    };
    tracing::warn!("stopped following leader {}: {reason}", leader.sid);
    if let Some(sh) = shell.take() {
        stop_persister(sh.into_persister(), &mut durable).await;
    }
    if let Err(e) = st.end_role(core.take()) {
        tracing::error!("{e}");
    }
    if learner.tree_ahead_of_disk()
        && let Err(e) = st.reload_from_disk(now().wall_ms)
    {
        // The tree claims a history the disk does not hold: voting or syncing with it
        // could lose committed txns. Java's QuorumPeer dies the same way.
        tracing::error!("fatal: {e}");
        std::process::exit(crate::server::EXIT_CORE_FAILED);
    }
    reason
}

fn learner_core(
    st: &PeerState,
    shell: &Option<CoreShell>,
    observer: bool,
    t: crate::server::core::Now,
) -> Core {
    let _ = shell;
    let mut c = st.new_core(Default::default(), t);
    c.set_role(Role::Learner { observer });
    c.hold_snapshots();
    c
}

/// Write `snapshot.<zxid>` of the tree now (the learner waits for it before ACKing
/// NEWLEADER, as Java takes it synchronously). When nothing was applied since the SNAP
/// (`zxid` is its zxid), the file teed from the SNAP body is that snapshot: it loads to
/// the tree decoded from the same bytes, which is the tree now but for `/zookeeper/
/// config` (this member's own view, set again on every start, outside the digest), and
/// it holds the digest of that tree. That is as true of a Java leader's fuzzy body as of
/// ours: txns at or below its zxid are not applied again (`Learner::in_snapshot`) and
/// those above it are logged, as after a snapshot written here. Otherwise (txns
/// applied since, or the tee failed) the tree is written whole.
fn snapshot_now(
    st: &PeerState,
    core: Option<&Core>,
    zxid: i64,
    teed: Option<super::snap_stream::TeedSnapshot>,
) -> std::io::Result<()> {
    let Some(dir) = st.snap_dir() else {
        return Ok(());
    };
    // A teed file for another zxid is dropped here (its temporary file goes).
    if let Some(t) = teed.filter(|t| t.zxid() == zxid) {
        let started = std::time::Instant::now();
        match t.commit() {
            Ok(path) => {
                tracing::info!(
                    "sync snapshot {} written from the SNAP body ({} ms left at NEWLEADER)",
                    path.display(),
                    started.elapsed().as_millis()
                );
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(
                    "the snapshot teed from the SNAP body failed ({e}); writing it whole"
                )
            }
        }
    }
    let sessions = core
        .map(|c| c.sessions())
        .unwrap_or_else(|| st.sessions.clone());
    let tree = st.shared.tree.read();
    crate::server::startup::write_snapshot(&dir, &tree, &sessions, zxid)
}

/// TRUNC: stop the log thread, cut the log after `zxid`, reload the tree from disk, and
/// go on with a new core and log thread.
async fn truncate(
    st: &mut PeerState,
    shell: &mut Option<CoreShell>,
    core: &mut Option<Core>,
    durable: &mut mpsc::Receiver<i64>,
    snap_tx: &mpsc::UnboundedSender<crate::server::core::SnapshotOutcome>,
    zxid: i64,
    observer: bool,
) -> Result<(), String> {
    if let Some(sh) = shell.take() {
        stop_persister(sh.into_persister(), durable).await;
    }
    core.take();
    if let Some(dir) = st.log_dir() {
        crate::storage::truncate::truncate_log(&dir, zxid)
            .map_err(|e| format!("cannot truncate the log to 0x{zxid:x}: {e}"))?;
    }
    let (tree, rec) = crate::server::startup::recover(&st.settings)
        .map_err(|e| format!("cannot reload after truncating to 0x{zxid:x}: {e}"))?;
    if !super::trunc_reached(zxid, rec.last_zxid) {
        // The log and the tree are what the disk holds: the next sync starts from there.
        st.install_tree(tree, rec.sessions, rec.last_zxid, now().wall_ms);
        st.reload_committed();
        return Err(format!(
            "TRUNC to 0x{zxid:x} left the tree at 0x{:x}: this member's disk does not hold \
             the history it reported; syncing again from there",
            rec.last_zxid
        ));
    }
    st.install_tree(tree, rec.sessions, rec.last_zxid, now().wall_ms);
    st.reload_committed();
    let (persister, d) =
        start_persister(&st.settings).map_err(|e| format!("cannot reopen the log: {e}"))?;
    *durable = d;
    *shell = Some(CoreShell::new(
        st.settings.clone(),
        st.shared.clone(),
        persister,
        snap_tx.clone(),
    ));
    *core = Some(learner_core(st, shell, observer, now()));
    Ok(())
}
