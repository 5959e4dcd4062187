//! LOOKING: waiting for the election's decision (Java's `QuorumPeer.run`, case LOOKING).
//!
//! Owns: what clients get meanwhile. Without `readonlymode.enabled` they are turned away
//! (no server runs). With it, after a grace period of max(2 s, tickTime) — as Java's
//! `roZkMgr` thread waits before deciding it is partitioned — a core in the read-only
//! role (`core::read_only`) serves read-only clients until the election decides; then
//! its connections are closed, as Java shuts its ReadOnlyZooKeeperServer down.
//! Must never: change the tree, the log or the ensemble's sessions.

use super::{PeerState, turn_away};
use crate::admin::ServingMode;
use crate::server::core::{Core, Input};
use crate::server::core_loop::now;
use crate::server::election::Election;
use crate::zab::election::Decision;
use std::time::Duration;

/// How often the read-only core's timers run (session expiry).
const TICK: Duration = Duration::from_millis(50);

/// Java's lower bound for the grace period before serving read-only.
const READ_ONLY_GRACE_MIN: Duration = Duration::from_millis(2000);

/// Look for a leader; `None` when the election stopped or the member shuts down.
pub async fn look(
    st: &mut PeerState,
    election: &Election,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<Decision> {
    st.shared.set_serving_mode(ServingMode::NotServing);
    let grace = READ_ONLY_GRACE_MIN.max(Duration::from_millis(st.quorum.tick_ms.max(0) as u64));
    let read_only_at = tokio::time::Instant::now() + grace;
    let mut read_only: Option<Core> = None;
    let mut tried_read_only = !st.quorum.read_only_mode;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(256);
    let look = election.look_for_leader(st.last_logged_zxid(), st.current_epoch);
    tokio::pin!(look);
    let decided = loop {
        tokio::select! {
            d = &mut look => break d,
            _ = tokio::time::sleep_until(read_only_at), if !tried_read_only => {
                tried_read_only = true;
                let mut c = st.new_core(Default::default(), now());
                c.set_read_only();
                read_only = Some(c);
                st.shared.set_serving_mode(ServingMode::ReadOnly);
                tracing::info!("Read-only server started");
            }
            n = st.clients.recv_many(&mut batch, 256) => {
                if n == 0 {
                    break None;
                }
                let t = now();
                for input in batch.drain(..) {
                    match read_only.as_mut() {
                        Some(c) => c.step(input, t),
                        None => turn_away(input),
                    }
                }
            }
            _ = ticker.tick(), if read_only.is_some() => {
                if let Some(c) = read_only.as_mut() {
                    c.step(Input::Tick, now());
                }
            }
            _ = shutdown.changed() => break None,
        }
        if let Some(c) = read_only.as_mut() {
            let mut actions = c.take_actions();
            debug_assert!(
                actions.persist.is_empty()
                    && actions.snapshot.is_none()
                    && actions.to_leader.is_empty(),
                "a read-only core wrote"
            );
            actions.flush.flush();
        }
    };
    if let Some(mut c) = read_only.take() {
        c.close_all();
        c.take_actions().flush.flush();
        *st.shared.watches.lock() = crate::watch::WatchManager::new();
        st.shared.set_serving_mode(ServingMode::NotServing);
        tracing::info!("Read-only server stopped");
    }
    decided
}
