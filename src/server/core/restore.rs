//! The AdminServer's `restore` in the core (the shell side is `server::admin_data`): a
//! gate that stops taking requests until nothing is in flight, then the swap.
//!
//! `RestoreBegin` closes the gate: client handshakes, requests and disconnects are held
//! (in arrival order) and timer ticks skipped, txns already handed out finish, and once
//! none is in flight and no snapshot is being written the asker gets the zxid Z
//! everything stopped at. The asker writes the restored tree as `snapshot.Z`;
//! `RestoreCommit` then swaps the tree and the session table in, closes every client
//! connection once what is queued for it is written (their sessions were the old
//! state's; a client whose session the snapshot holds reconnects to it and sets its
//! watches again, any other finds its session expired), and opens the gate;
//! `RestoreAbort` opens it unchanged. Either way the held inputs then run as if they had
//! just arrived. The zxid continues from Z.
//! Must never: swap while a txn is in flight or a snapshot is being written (either
//! would mix the old state into the new), or let a held input be lost.

use super::{Core, Input};
use crate::tree::DataTree;
use std::collections::VecDeque;
use tokio::sync::oneshot;

/// What a restore step answers: the zxid the server stopped at (begin) or continues
/// from (commit), or why not.
pub type RestoreOutcome = Result<i64, String>;

/// The restored state, loaded and written to disk as `snapshot.<zxid of begin>`.
pub struct Restored {
    pub tree: DataTree,
    pub sessions: Vec<(i64, i32)>,
    pub reply: oneshot::Sender<RestoreOutcome>,
}

/// A restore in progress: the gate is closed.
pub(super) struct RestoreGate {
    /// Answered with the zxid once nothing is in flight (taken when answered).
    begin: Option<oneshot::Sender<RestoreOutcome>>,
    /// Inputs that arrived while the gate was closed.
    held: VecDeque<Input>,
}

impl Core {
    /// While the gate is closed, take the inputs that must wait (None: taken); the rest
    /// come back to be handled now.
    pub(super) fn held_by_restore(&mut self, input: Input) -> Option<Input> {
        let Some(gate) = self.restore.as_mut() else {
            return Some(input);
        };
        match input {
            // A connection's inputs keep their order: its disconnect waits behind its
            // handshake and requests.
            Input::Connect { .. }
            | Input::Requests { .. }
            | Input::Disconnected { .. }
            | Input::SnapshotNow(_) => {
                gate.held.push_back(input);
                None
            }
            // Expiry and reaping make txns; the next tick after the gate does them.
            Input::Tick => None,
            Input::RestoreBegin(reply) => {
                let _ = reply.send(Err("a restore is already in progress".into()));
                None
            }
            other => Some(other),
        }
    }

    /// `Input::RestoreBegin`: close the gate (standalone servers only).
    pub(super) fn restore_begin(&mut self, reply: oneshot::Sender<RestoreOutcome>) {
        if !self.role().commits_on_log() {
            let _ = reply.send(Err(
                "restore is supported on a standalone server only".into()
            ));
            return;
        }
        self.restore = Some(RestoreGate {
            begin: Some(reply),
            held: VecDeque::new(),
        });
        self.restore_ready();
    }

    /// Answer the begin once nothing is in flight and no snapshot is being written
    /// (called again whenever either may have changed).
    pub(super) fn restore_ready(&mut self) {
        if !self.in_flight.is_empty() || self.snapshot_running {
            return;
        }
        let last = self.last_applied;
        if let Some(gate) = self.restore.as_mut()
            && let Some(reply) = gate.begin.take()
        {
            // Nothing in flight means everything prepped is applied: Z is the last zxid.
            assert_eq!(self.last_prepped, last, "restore gate with a txn in flight");
            if reply.send(Ok(last)).is_err() {
                // The asker is gone: nothing will commit.
                self.restore_open();
            }
        }
    }

    /// `Input::RestoreCommit`: the restored state (on disk as `snapshot.<Z>`) becomes
    /// the server's.
    pub(super) fn restore_commit(&mut self, restored: Box<Restored>) {
        let Restored {
            mut tree,
            sessions,
            reply,
        } = *restored;
        let ready = self.restore.as_ref().is_some_and(|g| g.begin.is_none());
        if !ready || !self.in_flight.is_empty() || self.snapshot_running {
            let _ = reply.send(Err("no restore is ready to commit".into()));
            return;
        }
        let zxid = self.last_applied;
        tree.set_last_processed_zxid(zxid);
        let (nodes, count) = (tree.node_count(), sessions.len());
        *self.shared.tree.write() = tree;
        let conns: Vec<_> = self.conns.keys().copied().collect();
        for conn in conns {
            if let Some(c) = self.conns.get(&conn) {
                c.outbox.close_after_flush();
            }
            self.disconnected(conn);
        }
        self.session_conn.clear();
        for (id, _) in self.sessions.all() {
            self.sessions.remove(id);
        }
        for (id, timeout) in sessions {
            self.sessions.add(id, timeout, self.now.mono_ms);
        }
        self.pending = Default::default();
        tracing::info!(
            "restore: the server continues from zxid 0x{zxid:x} with {nodes} znodes and {count} sessions"
        );
        let _ = reply.send(Ok(zxid));
        self.restore_open();
    }

    /// Open the gate and run what it held.
    pub(super) fn restore_open(&mut self) {
        let Some(gate) = self.restore.take() else {
            return;
        };
        let now = self.now;
        for input in gate.held {
            self.step(input, now);
        }
    }
}
