//! Leading: Java's `Leader.lead` as a tokio loop around the pure `zab::leader::Leader`,
//! the learners' quorum-port connections, and a core in the leader role once a quorum
//! has synced.
//!
//! Owns: the quorum-port listener for the leadership, one link per learner, carrying
//! out the leader's actions in order (epoch files, packets, SNAP streams of the tree as
//! it is at that step, the txn-log files a learner below the committed ring is synced
//! from (`txnlog_sync`), commits into the core, learners' requests, touches and
//! revalidations), proposing what the core logs, and serving clients from the moment
//! the leadership is established.
//! Must never: decide protocol questions (the leader does), or serve a client before a
//! quorum acknowledged NEWLEADER.

use super::link::{Inbound, LearnerOut, Link, ReadMode};
use super::{PeerState, glue, start_persister, stop_persister, turn_away};
use crate::server::core::{Core, Input, Role};
use crate::server::core_loop::{CoreShell, now};
use crate::server::peer_stream::{PeerStream, PeerTransport};
use crate::zab::leader::{Leader, LeaderAction, LeaderConfig, LearnerId};
use crate::zab::packet::{self, QuorumPacket};
use bytes::BytesMut;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

const TICK: Duration = Duration::from_millis(50);
/// Learner packets queued for the leader loop.
const INBOUND: usize = 8192;
/// Learner connections in their TLS handshake at once (more are closed, logged).
const HANDSHAKES: usize = 16;

/// Lead until the leader gives up (or the member shuts down); the reason.
pub async fn lead(
    st: &mut PeerState,
    announce_epoch: &(dyn Fn(i64) + Sync),
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> String {
    let q = st.quorum.clone();
    let Some(me) = q.server(q.my_sid) else {
        return "no server line for this member".into();
    };
    let Some(addr) = me.addrs.first() else {
        return "no quorum address for this member".into();
    };
    let bind = if q.listen_on_all_ips {
        format!("0.0.0.0:{}", addr.quorum_port)
    } else {
        addr.quorum().to_string()
    };
    let listener = match bind_retry(&bind).await {
        Ok(l) => l,
        Err(e) => return format!("cannot listen on the quorum port {bind}: {e}"),
    };
    tracing::info!("leading; learners connect to {bind}");
    let (learner_tx, mut learners) =
        mpsc::channel::<(PeerStream, SocketAddr, BytesMut)>(HANDSHAKES);
    let handshake_timeout =
        Duration::from_millis((q.tick_ms.max(1) as u64).saturating_mul(q.init_limit.max(1) as u64));
    tokio::spawn(accept_learners(
        listener,
        q.transport.clone(),
        handshake_timeout,
        learner_tx,
    ));
    let (persister, mut durable) = match start_persister(&st.settings) {
        Ok(p) => p,
        Err(e) => return format!("cannot open the transaction log: {e}"),
    };
    let (snap_tx, mut snap_rx) = mpsc::unbounded_channel();
    let mut shell = CoreShell::new(st.settings.clone(), st.shared.clone(), persister, snap_tx);
    let t = now();
    let mut cfg = LeaderConfig::new(
        q.my_sid,
        q.voters().into_iter().collect(),
        q.tick_ms,
        q.init_limit,
        q.sync_limit,
        q.config_text.clone(),
    );
    cfg.config_version = q.config_version;
    let mut leader = Leader::new(
        cfg,
        t.mono_ms,
        st.accepted_epoch,
        st.current_epoch,
        st.last_logged_zxid(),
        std::mem::replace(
            &mut st.committed,
            crate::zab::committed::CommittedLog::new(1),
        ),
    );
    // Learners below the committed ring are synced from the txn log (Java's txn-log DIFF).
    if let Some(src) = super::txnlog_sync::DiskTxnLog::for_member(st) {
        leader.set_txn_log(Box::new(src));
    }
    let mut links: HashMap<LearnerId, LearnerOut> = HashMap::new();
    // Each learner link's metric key (its server id, once FOLLOWERINFO named it).
    let mut qp_keys: HashMap<LearnerId, Arc<AtomicI64>> = HashMap::new();
    let (in_tx, mut in_rx) = mpsc::channel::<(LearnerId, Inbound)>(INBOUND);
    let mut next_lid: u64 = 1;
    let mut core: Option<Core> = None;
    let mut established_ms = t.mono_ms;
    let mut proposal_sizes = ProposalSizes::default();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(256);
    let mode = ReadMode {
        snapshot_follows_snap: false,
        ext_types: st.settings.prep.extended_types_enabled,
        max_field: st.settings.jute_limits().field(),
        tee_dir: None,
    };
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
                leader.logged(z);
                shell.hand_to_log();
            }
            Some(done) = snap_rx.recv() => {
                t = now();
                if let Some(c) = core.as_mut() { c.step(Input::SnapshotDone(done), t); }
            }
            Some((lid, msg)) = in_rx.recv() => {
                t = now();
                match msg {
                    Inbound::Packet(p) => {
                        let info = matches!(p.kind, packet::kind::FOLLOWERINFO | packet::kind::OBSERVERINFO);
                        leader.on_packet(t.mono_ms, lid, p);
                        // The learner's server id keys its queue-size metric from now on.
                        if info && let Some(k) = qp_keys.get(&lid)
                            && let Some(sid) = leader.learners().iter().find(|l| l.lid == lid).and_then(|l| l.sid)
                        {
                            k.store(sid, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    Inbound::Closed(r) => {
                        tracing::info!("learner link {} closed: {r}", lid.0);
                        links.remove(&lid);
                        leader.learner_gone(lid);
                    }
                    Inbound::SnapshotProgress => {}
                    Inbound::Snapshot(..) => {
                        links.remove(&lid);
                        leader.learner_gone(lid);
                    }
                }
            }
            // None only if the acceptor ended: the branch is then disabled, not spun on.
            Some((stream, peer, initial)) = learners.recv() => {
                t = now();
                let qp_key = Arc::new(AtomicI64::new(-1));
                match Link::spawn_keyed(stream, mode.clone(), Some(qp_key.clone()), initial) {
                    Ok(link) => {
                        let lid = LearnerId(next_lid);
                        next_lid += 1;
                        qp_keys.insert(lid, qp_key);
                        tracing::info!("learner connection {} from {peer}", lid.0);
                        let Link { out, mut inbound, .. } = link;
                        links.insert(lid, LearnerOut::new(out));
                        let tx = in_tx.clone();
                        tokio::spawn(async move {
                            while let Some(m) = inbound.recv().await {
                                let closed = matches!(m, Inbound::Closed(_));
                                if tx.send((lid, m)).await.is_err() || closed {
                                    return;
                                }
                            }
                            let _ = tx.send((lid, Inbound::Closed("reader ended".into()))).await;
                        });
                        if let Err(e) = leader.learner_connected(t.mono_ms, lid) {
                            tracing::warn!("refusing learner connection {}: {e}", lid.0);
                            links.remove(&lid);
                        }
                    }
                    Err(e) => tracing::warn!("learner connection from {peer}: {e}"),
                }
            }
            n = st.clients.recv_many(&mut batch, 256) => {
                t = now();
                if n == 0 { break 'run "shutting down".to_string(); }
                for input in batch.drain(..) {
                    match core.as_mut() {
                        Some(c) => c.step(input, t),
                        None => turn_away(input),
                    }
                }
            }
            _ = shutdown.changed() => break 'run "shutting down".to_string(),
            _ = ticker.tick() => {
                t = now();
                leader.tick(t.mono_ms);
                qp_keys.retain(|lid, _| links.contains_key(lid));
                if let Some(c) = core.as_mut() {
                    c.set_quorum_status(status(&leader, q.my_sid, q.voters().len(), t.mono_ms - established_ms, &proposal_sizes));
                    c.step(Input::Tick, t);
                }
            }
        }
        // The core's proposals go to the leader before its actions are read.
        loop {
            if let Some(c) = core.as_mut() {
                let mut refused = None;
                let mut actions = c.take_actions();
                let mut syncs: std::collections::VecDeque<(u64, i64)> =
                    std::mem::take(&mut actions.syncs).into();
                let to_leader = shell.carry_out(actions, |b| {
                    for e in &b.entries {
                        proposal_sizes.record(e.len() as i64);
                    }
                    if refused.is_none()
                        && let Err((z, err)) = glue::propose_batch(&mut leader, b, &mut syncs)
                    {
                        refused = Some(format!("cannot propose 0x{z:x}: {err}"));
                    }
                });
                debug_assert!(to_leader.is_empty());
                if let Some(r) = refused {
                    break 'run r;
                }
                glue::hand_syncs_before(&mut leader, &mut syncs, i64::MAX);
            }
            let actions = leader.take_actions();
            if actions.is_empty() {
                break;
            }
            for a in actions {
                let a = match glue::leader_action_input(a) {
                    Ok(input) => {
                        if let Some(c) = core.as_mut() {
                            c.step(input, t);
                        }
                        continue;
                    }
                    Err(a) => a,
                };
                match a {
                    LeaderAction::PersistAcceptedEpoch(e) => {
                        if let Err(err) = st.write_accepted_epoch(e) {
                            break 'run format!("cannot write acceptedEpoch: {err}");
                        }
                    }
                    LeaderAction::PersistCurrentEpoch(e) => {
                        if let Err(err) = st.write_current_epoch(e) {
                            break 'run format!("cannot write currentEpoch: {err}");
                        }
                        announce_epoch(e);
                    }
                    LeaderAction::Send(lid, p) => send(&mut links, &mut leader, lid, p),
                    LeaderAction::SendSnapshot { lid, zxid } => {
                        send_snapshot(st, core.as_ref(), &mut links, &mut leader, lid, zxid)
                    }
                    LeaderAction::Close(lid, why) => {
                        tracing::info!("dropping learner link {}: {why}", lid.0);
                        links.remove(&lid);
                    }
                    LeaderAction::Established { epoch } => {
                        tracing::info!("a quorum synced; leading epoch {epoch}, serving");
                        st.shared
                            .set_serving_mode(crate::admin::ServingMode::ReadWrite);
                        established_ms = t.mono_ms;
                        let mut c = st.new_core(Default::default(), t);
                        announce_epoch(epoch);
                        c.set_role(Role::Leader {
                            epoch: epoch as u32,
                        });
                        core = Some(c);
                    }
                    LeaderAction::Revalidate {
                        lid, session_id, ..
                    } => {
                        let valid = core.as_mut().is_some_and(|c| c.revalidate(session_id));
                        leader.revalidated(lid, session_id, valid);
                    }
                    LeaderAction::GiveUp(r) => break 'run r,
                    // The core's (handled above).
                    LeaderAction::Commit(_)
                    | LeaderAction::Request { .. }
                    | LeaderAction::Touch(_) => {}
                }
            }
        }
    };
    tracing::warn!("stopped leading: {reason}");
    // The ring goes on with this member (what it committed as leader included).
    st.committed = leader.committed_log().clone();
    drop(links);
    stop_persister(shell.into_persister(), &mut durable).await;
    if let Err(e) = st.end_role(core.take()) {
        tracing::error!("{e}");
    }
    reason
}

fn send(
    links: &mut HashMap<LearnerId, LearnerOut>,
    leader: &mut Leader,
    lid: LearnerId,
    p: QuorumPacket,
) {
    let Some(out) = links.get_mut(&lid) else {
        return;
    };
    if !out.send(super::link::Outbound::Packet(p)) {
        tracing::warn!(
            "learner link {} is too far behind or gone; dropping it",
            lid.0
        );
        links.remove(&lid);
        leader.learner_gone(lid);
    }
}

/// SNAP(zxid) and the tree as it is now (this loop is the only writer), streamed: a
/// thread holds the tree's read lock from here until it has encoded the body, the link
/// sends the chunks as they come, and whatever is queued for the learner after this
/// follows the body on the wire (`Outbound::Stream` is written whole before the next
/// item). Java streams it from the live tree instead, fuzzy.
fn send_snapshot(
    st: &PeerState,
    core: Option<&Core>,
    links: &mut HashMap<LearnerId, LearnerOut>,
    leader: &mut Leader,
    lid: LearnerId,
    zxid: i64,
) {
    send(
        links,
        leader,
        lid,
        QuorumPacket::new(packet::kind::SNAP, zxid),
    );
    let Some(out) = links.get_mut(&lid) else {
        return;
    };
    let sessions = core
        .map(|c| c.sessions())
        .unwrap_or_else(|| st.sessions.clone());
    let queued = match super::snap_stream::start_encoder(st.shared.clone(), sessions, zxid, lid.0) {
        Ok(parts) => out.send(super::link::Outbound::Stream(parts)),
        Err(e) => {
            tracing::warn!(
                "cannot encode SNAP 0x{zxid:x} for learner link {}: {e}",
                lid.0
            );
            false
        }
    };
    if !queued {
        tracing::warn!(
            "learner link {} is too far behind or gone; dropping it",
            lid.0
        );
        links.remove(&lid);
        leader.learner_gone(lid);
    }
}

/// Accept learners' connections and secure them (`PeerTransport::accepted`), the TLS
/// handshakes off the leader's loop; secured ones go to the loop. Ends, closing the
/// listener, when the loop is gone.
async fn accept_learners(
    listener: TcpListener,
    transport: PeerTransport,
    timeout: Duration,
    tx: mpsc::Sender<(PeerStream, SocketAddr, BytesMut)>,
) {
    let permits = Arc::new(Semaphore::new(HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accepting a learner connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!("too many learner handshakes in progress, closing {peer}");
            continue;
        };
        let (tx, transport) = (tx.clone(), transport.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let mut s = match transport.accepted(stream, timeout).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("learner connection from {peer} refused: {e}");
                    return;
                }
            };
            // LearnerHandler.run: quorum SASL before the learner's first packet.
            let mut initial = BytesMut::new();
            if let Some(sasl) = transport.sasl() {
                let (mut rd, mut wr) = tokio::io::split(&mut s);
                let authed = sasl
                    .as_server(&mut rd, &mut wr, &mut initial, &peer.to_string(), timeout)
                    .await;
                if authed.is_err() {
                    tracing::error!(
                        "Unexpected exception causing shutdown of learner connection from {peer}: quorum SASL"
                    );
                    return;
                }
            }
            let _ = tx.send((s, peer, initial)).await;
        });
    }
}

async fn bind_retry(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for _ in 0..10 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("bind failed")))
}

/// Last/min/max proposal sizes (mntr's `zk_*_proposal_size`).
struct ProposalSizes {
    last: i64,
    min: i64,
    max: i64,
}

impl Default for ProposalSizes {
    fn default() -> Self {
        ProposalSizes {
            last: -1,
            min: -1,
            max: -1,
        }
    }
}

impl ProposalSizes {
    fn record(&mut self, n: i64) {
        self.last = n;
        self.min = if self.min < 0 { n } else { self.min.min(n) };
        self.max = self.max.max(n);
    }
}

fn status(
    leader: &Leader,
    my_sid: i64,
    quorum_size: usize,
    uptime_ms: i64,
    sizes: &ProposalSizes,
) -> crate::admin::QuorumStatus {
    crate::admin::QuorumStatus {
        peer_state: "leading - broadcast".into(),
        quorum_size,
        leader_id: my_sid,
        leader: Some(crate::admin::LeaderStatus {
            learners: leader.learners().len(),
            synced_followers: leader.synced_followers(),
            synced_observers: leader.synced_observers(),
            pending_syncs: leader.pending_syncs(),
            leader_uptime_ms: uptime_ms.max(0) as u64,
            proposal_sizes: (sizes.last, sizes.min, sizes.max),
        }),
    }
}
