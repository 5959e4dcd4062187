//! The write pipeline: prepped txns wait here until they are committed, then are applied
//! (`apply`) and answered by origin, in zxid order.
//!
//! Owns: zxid assignment, the in-flight queue, sealing log batches, and routing a
//! committed txn's answer to whoever asked (a client connection, a pending handshake, or
//! nobody for server-generated txns), plus per-connection request order.
//! Must never: apply a txn (that is `apply`) or answer before the txn is committed.

use super::apply::Applied;
use super::{Conn, ConnId, Core, InboundRequest, Queued};
use crate::jute::records::ConnectResponse;
use crate::server::outbox::Outbox;
use crate::server::persister::PersistBatch;
use crate::txn::Txn;
use crate::txn::prep;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Who is waiting for a txn.
pub(super) enum Origin {
    /// A client write: reply to `xid` on `conn` once applied.
    Client {
        conn: ConnId,
        xid: i32,
        op_code: i32,
        received_ms: i64,
        /// A multi's create2 sub-ops (`prep::create2_subops`), answered with a Stat.
        create2_at: Option<Box<[u32]>>,
    },
    /// A new session: finish the handshake once createSession is applied.
    Connect {
        conn: ConnId,
        pending: Box<PendingConnect>,
    },
    /// Server-generated (session expiry, container reaping), or on a leader a learner's
    /// client (the learner answers it).
    Internal,
    /// Learner: a txn from the leader; answered here if one of this member's clients
    /// (or handshakes) waits for it.
    Remote,
}

pub(super) struct PendingConnect {
    pub conn: Conn,
    pub response: ConnectResponse,
    pub reply: oneshot::Sender<bool>,
    pub outbox: Arc<Outbox>,
}

pub(super) struct InFlight {
    pub txn: Txn,
    pub origin: Origin,
}

impl Core {
    /// Assign the next zxid.
    pub(super) fn next_zxid(&mut self) -> i64 {
        self.last_prepped += 1;
        self.last_prepped
    }

    /// Queue a prepped txn to be logged and committed.
    pub(super) fn submit(&mut self, txn: Txn, origin: Origin) {
        debug_assert_eq!(txn.header.zxid, self.last_prepped);
        let entry = crate::txn::codec::encode_entry(&txn);
        self.submit_entry(txn, entry, origin);
    }

    /// Queue a txn whose log entry is already encoded.
    fn submit_entry(&mut self, txn: Txn, entry: bytes::Bytes, origin: Origin) {
        self.persist_entry(txn.header.zxid, entry);
        self.in_flight.push_back(InFlight { txn, origin });
    }

    /// Hand an entry to the log (a learner logs the leader's bytes this way alone).
    pub(super) fn persist_entry(&mut self, zxid: i64, entry: bytes::Bytes) {
        self.to_persist.push(entry);
        self.to_persist_zxids.push(zxid);
        self.snapshots.txns_since += 1;
        if self.snapshots.txns_since >= self.snapshots.threshold {
            // As SyncRequestProcessor: roll the log after this txn, then snapshot.
            self.snapshots.arm(self.settings.snap_count);
        }
    }

    /// End of a batch of inputs: this batch's entries go to the log as one batch.
    pub(super) fn seal_persist_batch(&mut self) {
        if self.to_persist.is_empty() {
            return;
        }
        let entries = std::mem::take(&mut self.to_persist);
        let zxids = std::mem::take(&mut self.to_persist_zxids);
        let roll_after = std::mem::take(&mut self.snapshots.roll_pending);
        self.actions.persist.push(PersistBatch {
            entries,
            zxids,
            last_zxid: self.last_prepped,
            roll_after,
        });
    }

    /// Answer a txn that was just applied, by who asked for it.
    pub(super) fn answer_origin(&mut self, f: super::pipeline::InFlight, applied: Applied) {
        let z = f.txn.header.zxid;
        let mut closed_by_own_request = false;
        match f.origin {
            Origin::Client {
                conn,
                xid,
                op_code,
                received_ms,
                create2_at,
            } => {
                let (e, mut resp) = prep::write_reply(op_code, &applied.outcome.result);
                if let Some(at) = create2_at.as_deref() {
                    prep::answer_create2_subops(&mut resp, &applied.outcome.result, at);
                }
                self.reply(conn, xid, z, e, &resp);
                self.answered(conn, xid, z, write_op_name(&f.txn, op_code), received_ms);
                closed_by_own_request = applied.closed_conn == Some(conn);
                self.write_done(conn, z);
            }
            Origin::Connect { conn, pending } => {
                self.finish_connect(conn, *pending);
                self.session_created(conn, z);
            }
            Origin::Internal => {}
            Origin::Remote => {
                closed_by_own_request = self.answer_remote(&f.txn, &applied);
            }
        }
        if let Some(conn) = applied.closed_conn
            && let Some(c) = self.conns.get(&conn)
        {
            if closed_by_own_request {
                // closeSession: the reply goes out, then the connection closes.
                c.outbox.close_after_flush();
            } else {
                // Expired (or closed from elsewhere): drop the connection now.
                c.outbox.close();
            }
        }
    }

    /// A connection's write `zxid` was answered: run the requests queued behind it, up to
    /// its next pending write.
    pub(super) fn write_done(&mut self, conn: ConnId, zxid: i64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match c.queue.pop_front() {
            Some(Queued::Write(z)) => {
                // A reply's zxid is the zxid of the write it answers, in request order.
                assert_eq!(z, zxid, "write replies out of order on connection {conn}");
            }
            Some(Queued::Forwarded { .. }) => {
                // Matched by the caller (session, cxid) before it answered.
            }
            other => {
                debug_assert!(other.is_none(), "a reply to a write nobody queued");
                if let Some(o) = other {
                    c.queue.push_front(o);
                }
            }
        }
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.queue.front() {
                Some(Queued::Request(_)) => {
                    let Some(Queued::Request(r)) = c.queue.pop_front() else {
                        return;
                    };
                    self.execute(conn, r);
                }
                _ => return,
            }
        }
    }

    /// A request that may have to wait behind this connection's pending writes.
    pub(super) fn enqueue_or_execute(&mut self, conn: ConnId, r: InboundRequest) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.queue.is_empty() {
            self.execute(conn, r);
        } else {
            c.queue.push_back(Queued::Request(r));
        }
    }
}

/// The op `cons` names for a write's answer: Java's FinalRequestProcessor leaves "NA" for
/// an error txn (it throws before naming the op).
pub(super) fn write_op_name(txn: &crate::txn::Txn, op_code: i32) -> &'static str {
    if matches!(txn.body, crate::txn::TxnBody::Error(_)) {
        "NA"
    } else {
        super::op_name(op_code)
    }
}
