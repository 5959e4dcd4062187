//! Leader election on the election port: the tokio shell around `zab::election`.
//!
//! Owns: the connection manager ([`cnx`], Java's `QuorumCnxManager`) and a driver task
//! that always runs while the [`Election`] lives. The driver owns the pure
//! [`FastLeaderElection`], feeds it decoded notifications, its timers (a monotonic clock
//! turned into `now_ms`) and the owner's commands, and carries out its actions: sends go
//! to the per-peer one-slot queues, decisions go back to the `look_for_leader` caller.
//! Between rounds the driver keeps answering LOOKING peers with our current vote, as
//! Java's `WorkerReceiver` does while the peer follows or leads.
//! Must never: decide anything about votes itself (that is `zab::election`), or block
//! the caller on a peer (every network wait is bounded or cancellable).

pub mod cnx;

use crate::config::{Config, PeerType, QuorumServer};
use crate::zab::election::{
    Action, Decision, FastLeaderElection, Notification, PeerState, Timing, Vote,
};
use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Everything the election port needs to know.
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    pub my_sid: i64,
    /// All members, me included (observers too: they are dialed and answered).
    pub servers: Vec<QuorumServer>,
    /// `quorumListenOnAllIPs`: listen on the wildcard address at my election port.
    pub listen_all_ips: bool,
    /// `zookeeper.cnxTimeout` (5000): connect timeout, also the bound on reading an
    /// incoming initial message; 0 is no bound, as a Java socket timeout of 0.
    pub cnx_timeout_ms: u64,
    /// `zookeeper.electionPortBindRetry` (3): bind attempts 1 s apart; 0 = forever.
    pub bind_retry: u32,
    /// `QuorumVerifier.toString()` bytes carried by every notification
    /// (`zab::election::config_bytes`).
    pub config_bytes: Bytes,
    /// `multiAddress.enabled`: send the V2 initial message with all my addresses.
    pub multi_address: bool,
    /// finalizeWait and the notification interval bounds.
    pub timing: Timing,
    /// Plain or TLS connections (`sslQuorum`, `portUnification`); plain here, the
    /// member's own set by its start (`QuorumSettings::transport`).
    pub transport: crate::server::peer_stream::PeerTransport,
}

impl ElectionConfig {
    /// From a parsed zoo.cfg with `myid` applied (None without a server id).
    pub fn from_config(cfg: &Config) -> Option<ElectionConfig> {
        Some(ElectionConfig {
            my_sid: cfg.server_id?,
            servers: cfg.servers.values().cloned().collect(),
            listen_all_ips: cfg.quorum_listen_on_all_ips,
            cnx_timeout_ms: u64::try_from(cfg.cnx_timeout_ms).unwrap_or(5000),
            bind_retry: u32::try_from(cfg.election_port_bind_retry).unwrap_or(3),
            config_bytes: crate::zab::election::config_bytes(cfg),
            multi_address: cfg.multi_address_enabled,
            timing: Timing::from_config(cfg),
            transport: crate::server::peer_stream::PeerTransport::plain(),
        })
    }
}

/// The connection timeout for `zookeeper.cnxTimeout`: 0 means none (a day stands in).
fn cnx_timeout(ms: u64) -> Duration {
    if ms == 0 {
        Duration::from_secs(24 * 3600)
    } else {
        Duration::from_millis(ms)
    }
}

enum Command {
    Look {
        last_logged_zxid: i64,
        current_epoch: i64,
        reply: oneshot::Sender<Decision>,
    },
}

/// What the election looks like from outside (for 4lw/admin and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionStatus {
    /// LOOKING while a round runs (and before the first), else the last decision's state.
    pub state: PeerState,
    /// The vote answered to LOOKING peers (Java's `currentVote`).
    pub current_vote: Option<Vote>,
    pub logical_clock: i64,
}

/// Capacity of the notification feed ([`Election::notifications`]).
const FEED_CAPACITY: usize = 256;

/// A running election endpoint. Dropping it without [`Election::shutdown`] also stops
/// every task (they watch the same cancellation token), just without waiting.
pub struct Election {
    cmd: mpsc::Sender<Command>,
    epoch: watch::Sender<Option<i64>>,
    feed: broadcast::Sender<(i64, Notification)>,
    status: watch::Receiver<ElectionStatus>,
    cancel: CancellationToken,
    local_addrs: Vec<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    manager: Arc<cnx::Manager>,
}

impl Drop for Election {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Election {
    /// Bind my election address(es) (retrying per `bind_retry`, 1 s apart), start the
    /// listener and the driver. The driver answers LOOKING peers at once; no round runs
    /// until [`Election::look_for_leader`].
    pub async fn start(cfg: ElectionConfig) -> std::io::Result<Election> {
        let me = cfg
            .servers
            .iter()
            .find(|s| s.id == cfg.my_sid)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("server.{} is not in the server list", cfg.my_sid),
                )
            })?
            .clone();
        let view: HashMap<i64, cnx::Addrs> = cfg
            .servers
            .iter()
            .map(|s| {
                (
                    s.id,
                    s.addrs
                        .iter()
                        .map(|a| (a.host.clone(), a.election_port))
                        .collect(),
                )
            })
            .collect();
        let mut binds: Vec<(String, u16)> = Vec::new();
        for a in &me.addrs {
            let host = if cfg.listen_all_ips {
                if a.host.contains(':') {
                    "::"
                } else {
                    "0.0.0.0"
                }
                .to_string()
            } else {
                a.host.clone()
            };
            if !binds.contains(&(host.clone(), a.election_port)) {
                binds.push((host, a.election_port));
            }
        }
        let listeners = bind_with_retry(&binds, cfg.bind_retry).await?;
        let local_addrs = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<std::io::Result<Vec<_>>>()?;
        for a in &local_addrs {
            tracing::info!(
                "{} is accepting connections now, my election bind port: {a}",
                cfg.my_sid
            );
        }

        let cancel = CancellationToken::new();
        let manager = cnx::Manager::new(
            cfg.my_sid,
            view,
            cfg.multi_address,
            cnx_timeout(cfg.cnx_timeout_ms),
            cfg.transport.clone(),
            cancel.clone(),
        );
        let mut tasks = Vec::new();
        for l in listeners {
            tasks.push(tokio::spawn(manager.clone().listen(l)));
        }
        let voters: Vec<i64> = cfg
            .servers
            .iter()
            .filter(|s| s.peer_type == PeerType::Participant)
            .map(|s| s.id)
            .collect();
        let fle = FastLeaderElection::new(
            cfg.my_sid,
            me.peer_type == PeerType::Participant,
            voters,
            cfg.config_bytes.clone(),
            cfg.timing,
        );
        let (cmd_tx, cmd_rx) = mpsc::channel(4);
        let (epoch_tx, epoch_rx) = watch::channel(None);
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let (status_tx, status) = watch::channel(status_of(&fle));
        tasks.push(tokio::spawn(drive(
            fle,
            manager.clone(),
            cmd_rx,
            epoch_rx,
            feed.clone(),
            status_tx,
            cancel.clone(),
        )));
        Ok(Election {
            cmd: cmd_tx,
            epoch: epoch_tx,
            feed,
            status,
            cancel,
            local_addrs,
            tasks,
            manager,
        })
    }

    /// Java's `lookForLeader`: run one round to a decision. Call it whenever this member
    /// goes LOOKING (at start, and each time it stops following/leading); until it is
    /// called again the driver answers LOOKING peers with the returned vote.
    ///
    /// Returns `None` only if the election stopped (Java returns null then). A second call
    /// while one is waiting starts a new round and the first call gets `None`.
    pub async fn look_for_leader(
        &self,
        last_logged_zxid: i64,
        current_epoch: i64,
    ) -> Option<Decision> {
        let (reply, rx) = oneshot::channel();
        self.cmd
            .send(Command::Look {
                last_logged_zxid,
                current_epoch,
                reply,
            })
            .await
            .ok()?;
        rx.await.ok()
    }

    /// After sync (`QuorumPeer.updateElectionVote`): the epoch reported as peerEpoch to
    /// LOOKING peers from now on.
    pub fn set_current_epoch(&self, epoch: i64) {
        self.epoch.send_replace(Some(epoch));
    }

    /// The current state, vote and round.
    pub fn status(&self) -> ElectionStatus {
        *self.status.borrow()
    }

    /// The bound election address(es).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Whether an election connection to `sid` is up.
    pub fn connected(&self, sid: i64) -> bool {
        self.manager.connected(sid)
    }

    /// Every notification received from now on, decoded, with its sender (for tests and
    /// diagnostics; a slow reader loses the oldest, never blocks the election).
    pub fn notifications(&self) -> broadcast::Receiver<(i64, Notification)> {
        self.feed.subscribe()
    }

    /// Stop listening, close every connection, stop the driver (bounded wait).
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for t in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

async fn bind_with_retry(
    binds: &[(String, u16)],
    retry: u32,
) -> std::io::Result<Vec<tokio::net::TcpListener>> {
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let mut out = Vec::new();
        let mut err = None;
        for (h, p) in binds {
            match cnx::bind(h, *p).await {
                Ok(l) => out.push(l),
                Err(e) => {
                    tracing::error!(
                        "Exception while listening to address {}: {e}",
                        cnx::format_addr(h, *p)
                    );
                    err = Some(e);
                    break;
                }
            }
        }
        match err {
            None => return Ok(out),
            Some(e) if retry != 0 && attempt >= retry => {
                tracing::error!(
                    "Leaving listener after {attempt} errors. Use zookeeper.electionPortBindRetry \
                     property to increase retry count."
                );
                return Err(e);
            }
            Some(_) => {
                drop(out);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The driver: owns the state machine for the life of the election.
async fn drive(
    mut fle: FastLeaderElection,
    manager: Arc<cnx::Manager>,
    mut cmd: mpsc::Receiver<Command>,
    mut epoch: watch::Receiver<Option<i64>>,
    feed: broadcast::Sender<(i64, Notification)>,
    status: watch::Sender<ElectionStatus>,
    cancel: CancellationToken,
) {
    let base = Instant::now();
    let now = || i64::try_from(base.elapsed().as_millis()).unwrap_or(i64::MAX);
    let mut waiter: Option<oneshot::Sender<Decision>> = None;
    loop {
        let deadline = fle.next_deadline();
        let wake_at = deadline.map(|d| base + Duration::from_millis(u64::try_from(d).unwrap_or(0)));
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            changed = epoch.changed() => {
                if changed.is_err() {
                    break;
                }
                if let Some(e) = *epoch.borrow_and_update() {
                    fle.set_current_epoch(e);
                }
            }
            c = cmd.recv() => match c {
                None => break,
                Some(Command::Look { last_logged_zxid, current_epoch, reply }) => {
                    waiter = Some(reply);
                    fle.start_round(now(), last_logged_zxid, current_epoch);
                }
            },
            (sid, bytes) = manager.recv.pop() => match Notification::decode(&bytes) {
                Ok(n) => {
                    let _ = feed.send((sid, n.clone()));
                    fle.set_lost(manager.lost_peers());
                    fle.on_notification(now(), sid, n);
                }
                Err(e) => tracing::warn!(
                    "Skipping the processing of a partial / malformed response message sent by \
                     sid={sid} (message length: {}): {e}",
                    bytes.len()
                ),
            },
            _ = sleep_until_opt(wake_at), if wake_at.is_some() => fle.on_timer(now()),
            // A voter we were waiting on in finalizeWait may just have been lost.
            _ = manager.lost_changed.notified() => fle.recheck_lost(now(), manager.lost_peers()),
        }
        // Status first, so a caller woken by a decision already sees it there.
        let now_status = status_of(&fle);
        status.send_if_modified(|s| {
            let changed = *s != now_status;
            *s = now_status;
            changed
        });
        for a in fle.take_actions() {
            match a {
                Action::Send { to, n } => manager.to_send(to, Bytes::from(n.encode())),
                Action::Decided(d) => {
                    let v = d.vote;
                    tracing::info!(
                        "Election decided: {} (leader {}, zxid 0x{:x}, round 0x{:x}, peerEpoch 0x{:x})",
                        match d.state {
                            PeerState::Leading => "LEADING",
                            PeerState::Following => "FOLLOWING",
                            PeerState::Observing => "OBSERVING",
                            PeerState::Looking => "LOOKING",
                        },
                        v.id,
                        v.zxid,
                        v.election_epoch,
                        v.peer_epoch
                    );
                    if let Some(w) = waiter.take() {
                        let _ = w.send(d);
                    }
                }
            }
        }
    }
    tracing::info!("election driver for {} is down", fle.my_sid());
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn status_of(fle: &FastLeaderElection) -> ElectionStatus {
    ElectionStatus {
        state: fle.state(),
        current_vote: fle.current_vote(),
        logical_clock: fle.logical_clock(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_cnx_timeout_is_no_timeout_not_one_millisecond() {
        assert_eq!(cnx_timeout(1500), Duration::from_millis(1500));
        assert!(cnx_timeout(0) >= Duration::from_secs(3600));
    }
}
