//! The write pipeline: prepped txns wait here until the persister says they are durable,
//! then are applied in zxid order and answered.

use super::{Conn, ConnId, Core, InboundRequest, Queued, now_ms};
use crate::jute::Record;
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
        closing: bool,
        received: std::time::Instant,
    },
    /// A new session: finish the handshake once createSession is applied.
    Connect {
        conn: ConnId,
        pending: Box<PendingConnect>,
    },
    /// Server-generated (session expiry, container reaping).
    Internal,
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

    /// Queue a prepped txn for durability.
    pub(super) fn submit(&mut self, txn: Txn, origin: Origin) {
        self.to_persist.push(crate::txn::codec::encode_entry(&txn));
        self.in_flight.push_back(InFlight { txn, origin });
        self.snapshots.txns_since += 1;
        if self.snapshots.txns_since >= self.snapshots.threshold {
            // As SyncRequestProcessor: roll the log after this txn, then snapshot.
            self.snapshots.arm(self.settings.snap_count);
        }
    }

    /// End of a loop iteration: hand this iteration's entries to the disk in one batch.
    pub(super) fn flush_to_persister(&mut self) {
        if self.to_persist.is_empty() {
            return;
        }
        let entries = std::mem::take(&mut self.to_persist);
        let last_zxid = self.last_prepped;
        let roll_after = std::mem::take(&mut self.snapshots.roll_pending);
        if !self.persister.submit(PersistBatch {
            entries,
            last_zxid,
            roll_after,
        }) {
            tracing::error!("the transaction log thread is gone; stopping");
            std::process::exit(14);
        }
    }

    /// Everything up to `zxid` is durable: apply and answer, in order.
    pub(super) fn on_durable(&mut self, zxid: i64) {
        while self
            .in_flight
            .front()
            .is_some_and(|f| f.txn.header.zxid <= zxid)
        {
            let Some(f) = self.in_flight.pop_front() else {
                break;
            };
            let outcome = self.apply(&f.txn);
            match f.origin {
                Origin::Client {
                    conn,
                    xid,
                    op_code,
                    closing,
                    received,
                } => {
                    let (e, resp) = prep::write_reply(op_code, &outcome.result);
                    let z = f.txn.header.zxid;
                    self.reply(conn, xid, z, e, &resp);
                    self.stats
                        .record_latency(received.elapsed().as_millis() as u64);
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.last_zxid = z;
                    }
                    if closing {
                        let sid = f.txn.header.client_id;
                        self.sessions.remove(sid);
                        self.session_conn.remove(&sid);
                        if let Some(c) = self.conns.get(&conn) {
                            c.outbox.close_after_flush();
                        }
                        tracing::debug!("closed session 0x{sid:x}");
                    }
                    self.write_done(conn, z);
                }
                Origin::Connect { conn, pending } => {
                    let PendingConnect {
                        conn: c,
                        response,
                        reply,
                        outbox,
                    } = *pending;
                    self.sessions
                        .add(response.session_id, response.time_out, now_ms());
                    outbox.push_with(&mut self.flush_list, |b| {
                        super::encode_frame(b, |b| response.write(b))
                    });
                    self.session_conn.insert(response.session_id, conn);
                    self.conns.insert(conn, c);
                    self.stats.packets_sent += 1;
                    let _ = reply.send(true);
                }
                Origin::Internal => {
                    if let crate::txn::TxnBody::CloseSession(_) = f.txn.body {
                        let sid = f.txn.header.client_id;
                        self.sessions.remove(sid);
                        if let Some(conn) = self.session_conn.remove(&sid)
                            && let Some(c) = self.conns.get(&conn)
                        {
                            c.outbox.close();
                        }
                    }
                }
            }
        }
        if self.snapshots.due {
            self.start_snapshot();
        }
    }

    /// A connection's write `zxid` was answered: run the requests queued behind it, up to
    /// its next pending write.
    fn write_done(&mut self, conn: ConnId, zxid: i64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some(Queued::Write(z)) = c.queue.front()
            && *z == zxid
        {
            c.queue.pop_front();
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

    /// Prep a server-generated closeSession (expiry).
    pub(super) fn close_session_txn(&mut self, session_id: i64) {
        let zxid = self.next_zxid();
        let txn = prep::prep_close_session(
            &self.shared.tree.read(),
            &mut self.pending,
            session_id,
            zxid,
            now_ms(),
            &self.settings.prep,
        );
        self.submit(txn, Origin::Internal);
    }

    pub(super) fn expire_sessions(&mut self) {
        for id in self.sessions.take_expired(now_ms()) {
            tracing::info!("expiring session 0x{id:x}, timeout exceeded");
            self.close_session_txn(id);
        }
    }

    pub(super) fn reap_containers(&mut self) {
        let now = now_ms();
        let paths = self
            .shared
            .tree
            .read()
            .reapable(now, self.settings.prep.extended_types_enabled);
        for path in paths
            .into_iter()
            .take(self.settings.container_max_per_minute.max(1))
        {
            let zxid = self.next_zxid();
            let txn = prep::prep_delete_container(
                &self.shared.tree.read(),
                &mut self.pending,
                &path,
                zxid,
                now,
            );
            self.submit(txn, Origin::Internal);
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
