//! The watermarks and the one function that applies a committed txn.
//!
//! `on_logged` moves the *logged* watermark (durable here); `commit_through` moves the
//! *committed* one and applies every in-flight txn up to it, in zxid order. `apply`
//! changes the tree, fires watches, and changes the session table from the txn itself
//! (createSession adds, closeSession removes and detaches the session's connection), so a
//! txn that came from a client, the expiry timer or (later) a leader has the same effect.
//! Answering whoever asked is `pipeline`'s job, after apply.
//! Must never: answer a client, or apply out of zxid order.

use super::{ConnId, Core, notification_frame};
use crate::proto;
use crate::tree;
use crate::txn::{Txn, TxnBody};

/// What applying a txn did besides changing the tree.
pub(super) struct Applied {
    pub outcome: tree::ApplyOutcome,
    /// The connection of a session this txn closed.
    pub closed_conn: Option<ConnId>,
}

/// Java's DataTree.DIGEST_LOG_INTERVAL and DIGEST_LOG_LIMIT (the `hash` word's log).
const DIGEST_LOG_INTERVAL: i64 = 128;
const DIGEST_LOG_LIMIT: usize = 1024;

impl Core {
    /// Everything up to `zxid` is durable in this node's log.
    pub(super) fn on_logged(&mut self, zxid: i64) {
        assert!(
            zxid <= self.last_prepped,
            "log reports zxid 0x{zxid:x} durable, but only 0x{:x} was handed out",
            self.last_prepped
        );
        self.logged = self.logged.max(zxid);
        // Standalone: what is logged is decided (in an ensemble the quorum decides).
        if self.role.commits_on_log() {
            self.commit_through(zxid);
        }
    }

    /// Everything up to `zxid` is decided: apply and answer it, in order.
    pub(super) fn commit_through(&mut self, zxid: i64) {
        self.committed = self.committed.max(zxid);
        while self
            .in_flight
            .front()
            .is_some_and(|f| f.txn.header.zxid <= self.committed)
        {
            let Some(f) = self.in_flight.pop_front() else {
                break;
            };
            if matches!(self.role, super::Role::Leader { .. }) {
                let m = &crate::metrics::QUORUM_ACK_LATENCY;
                super::ensemble::observe_since(m, f.txn.header.time, self.now.wall_ms);
            }
            let applied = self.apply(&f.txn);
            self.answer_origin(f, applied);
        }
        if self.snapshots.due {
            self.start_snapshot();
        }
    }

    /// Apply a committed txn to the tree, the watch table and the session table.
    pub(super) fn apply(&mut self, txn: &Txn) -> Applied {
        let zxid = txn.header.zxid;
        // Applying out of order or twice would corrupt the tree for good.
        assert!(
            zxid > self.last_applied,
            "txn 0x{zxid:x} applied after 0x{:x}",
            self.last_applied
        );
        let shared = self.shared.clone();
        // Write-locked until the txn's notifications are queued: a connection task's read
        // either ran before (its reply is queued already) or sees the change after its
        // notification.
        let mut tree = shared.tree.write();
        let outcome = tree.apply(txn);
        // Java's processTxn(header, txn, digest): the tree's digest against the one the
        // txn was prepped (here or at the leader) or logged with; reported below.
        let digest_found = if self.settings.prep.digest_enabled {
            tree.check_digest(zxid, txn.digest.as_ref())
        } else {
            [None, None]
        };
        // The history of digests (`hash`) starts once a fuzzy snapshot's tree caught up.
        if self.settings.prep.digest_enabled
            && zxid % DIGEST_LOG_INTERVAL == 0
            && !tree.digest_check().fuzzy()
        {
            if self.digest_log.len() >= DIGEST_LOG_LIMIT {
                self.digest_log.pop_front();
            }
            self.digest_log.push_back((zxid, tree.digest()));
        }
        self.last_applied = zxid;
        shared
            .last_applied
            .store(zxid, std::sync::atomic::Ordering::Release);
        self.pending.applied(zxid);
        {
            let mut watches = shared.watches.lock();
            for ev in &outcome.events {
                // Encoded once per (event, type): a fan-out to many watchers only copies
                // bytes. The frame carries the txn's zxid (as 3.9 servers; also a multi's
                // events and the deletes of a closeSession's ephemerals: one zxid).
                let mut encoded: Option<(i32, bytes::Bytes)> = None;
                for (watcher, event_type) in watches.trigger(ev) {
                    // A watcher must still have READ on the node when the event fires
                    // (ZooKeeper's fix for CVE-2024-23944).
                    let rules = self.settings.prep.acl_rules();
                    let allowed = rules.skip
                        || self.conns.get(&watcher).is_some_and(|c| {
                            rules.allows(&ev.acl, proto::perms::READ, &c.link.auth())
                        });
                    if allowed {
                        let frame = match &encoded {
                            Some((t, f)) if *t == event_type => f.clone(),
                            _ => {
                                let f = notification_frame(event_type, &ev.path, zxid);
                                encoded = Some((event_type, f.clone()));
                                f
                            }
                        };
                        self.notify_encoded(watcher, &frame);
                    }
                }
            }
        }
        drop(tree);
        crate::server::digest_mismatch::report(digest_found);
        let sid = txn.header.client_id;
        let closed_conn = match &txn.body {
            TxnBody::CreateSession(c) => {
                self.sessions.add(sid, c.time_out, self.now.mono_ms);
                self.forget_local_session(sid);
                None
            }
            TxnBody::CloseSession(_) => {
                self.sessions.remove(sid);
                self.forget_local_session(sid);
                tracing::debug!("closed session 0x{sid:x}");
                self.session_conn.remove(&sid)
            }
            _ => None,
        };
        Applied {
            outcome,
            closed_conn,
        }
    }
}
