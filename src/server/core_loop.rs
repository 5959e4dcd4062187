//! The tokio shell around the core: feeds it inputs with the current time and carries out
//! its actions.
//!
//! Owns: the clocks the core sees (one reading per batch of inputs), the tick timer, the
//! hand-off of log batches to the log thread (never waiting: batches the thread has no
//! room for wait here, in order, until it has), starting snapshot threads, and writing
//! the outboxes the core listed. On shutdown it lets what was handed to the disk finish
//! so those writes are answered.
//! Must never: decide anything the core decides (it only moves inputs and actions).

use crate::server::clock;
use crate::server::core::{Actions, Core, Input, Now};
use crate::server::persister::{EXIT_LOG_FAILED, PersistBatch, Persister};
use crate::server::settings::Settings;
use crate::server::shared::Shared;
use crate::server::snapshotter;
use crate::storage;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the core's timers (expiry, reaping) are ticked.
const TICK: Duration = Duration::from_millis(50);
/// Inputs taken from the queue per iteration (one log batch at most per iteration).
const INPUTS_PER_ITERATION: usize = 256;

pub fn now() -> Now {
    Now {
        mono_ms: clock::mono_ms(),
        wall_ms: clock::wall_ms(),
    }
}

/// Carries out a core's actions: log batches to the log thread (in order, never
/// waiting), snapshot threads, outbox flushes. The ensemble's role loops use it too.
pub struct CoreShell {
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    persister: Persister,
    /// Batches the log thread had no room for yet, in order.
    waiting: VecDeque<PersistBatch>,
    snapshot_done: mpsc::UnboundedSender<crate::server::core::SnapshotOutcome>,
}

impl CoreShell {
    pub fn new(
        settings: Arc<Settings>,
        shared: Arc<Shared>,
        persister: Persister,
        snapshot_done: mpsc::UnboundedSender<crate::server::core::SnapshotOutcome>,
    ) -> CoreShell {
        CoreShell {
            settings,
            shared,
            persister,
            waiting: VecDeque::new(),
            snapshot_done,
        }
    }

    /// Do what the core asked. `on_persist` sees each log batch before it goes to the
    /// log (a leader proposes its entries). Returns the packets a learner's core has for
    /// its leader.
    pub fn carry_out(
        &mut self,
        actions: Actions,
        mut on_persist: impl FnMut(&PersistBatch),
    ) -> Vec<crate::zab::packet::QuorumPacket> {
        let Actions {
            mut flush,
            persist,
            snapshot,
            to_leader,
            syncs,
        } = actions;
        debug_assert!(
            syncs.is_empty(),
            "a leader's syncs are taken out before carry_out"
        );
        for b in &persist {
            on_persist(b);
        }
        self.waiting.extend(persist);
        self.hand_to_log();
        if let Some(order) = snapshot {
            match self.settings.data_dir.as_ref() {
                Some(dir) => snapshotter::spawn(
                    storage::version_dir(dir),
                    order,
                    self.shared.clone(),
                    self.snapshot_done.clone(),
                ),
                None => {
                    let _ = self.snapshot_done.send(Err("no data directory".into()));
                }
            }
        }
        flush.flush();
        to_leader
    }

    /// Batches still waiting for room in the log thread's queue.
    pub fn backlog(&self) -> usize {
        self.waiting.len()
    }

    pub fn hand_to_log(&mut self) {
        while let Some(b) = self.waiting.pop_front() {
            match self.persister.try_submit(b) {
                Ok(()) => {}
                Err(Some(b)) => {
                    // The disk is behind: the next durable notification retries.
                    self.waiting.push_front(b);
                    return;
                }
                Err(None) => {
                    tracing::error!("the transaction log thread is gone; stopping");
                    std::process::exit(EXIT_LOG_FAILED);
                }
            }
        }
    }

    /// The log thread's handle (to stop it), once nothing waits for it here.
    pub fn into_persister(self) -> Persister {
        debug_assert!(self.waiting.is_empty());
        self.persister
    }
}

/// Run the core until the input channel closes or `shutdown` fires.
pub async fn run(
    mut core: Core,
    settings: Arc<Settings>,
    persister: Persister,
    mut rx: mpsc::Receiver<Input>,
    mut durable: mpsc::Receiver<i64>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (snapshot_done, mut snapshot_done_rx) = mpsc::unbounded_channel();
    let mut shell = CoreShell::new(settings, core.shared(), persister, snapshot_done);
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(INPUTS_PER_ITERATION);
    carry_out(&mut shell, &mut core);
    loop {
        tokio::select! {
            biased;
            Some(z) = durable.recv() => core.step(Input::Logged(z), now()),
            Some(done) = snapshot_done_rx.recv() => core.step(Input::SnapshotDone(done), now()),
            n = rx.recv_many(&mut batch, INPUTS_PER_ITERATION) => {
                if n == 0 { break; }
                // One clock reading for the batch: expiry has tickTime granularity anyway.
                let t = now();
                for input in batch.drain(..) {
                    core.step(input, t);
                }
            }
            _ = ticker.tick() => core.step(Input::Tick, now()),
            _ = shutdown.changed() => break,
        }
        carry_out(&mut shell, &mut core);
    }
    // Let what was handed to the disk finish, so writes durable on disk are answered;
    // nothing new is accepted.
    while core.in_flight() > 0 {
        match tokio::time::timeout(Duration::from_secs(5), durable.recv()).await {
            Ok(Some(z)) => core.step(Input::Logged(z), now()),
            _ => break,
        }
        carry_out(&mut shell, &mut core);
    }
    core.close_all();
    carry_out(&mut shell, &mut core);
}

fn carry_out(shell: &mut CoreShell, core: &mut Core) {
    let to_leader = shell.carry_out(core.take_actions(), |_| {});
    debug_assert!(to_leader.is_empty(), "a standalone core has no leader");
}
