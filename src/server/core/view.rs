//! The read-only picture of the server handed to the admin layer, and opcode names.

use super::Core;
use crate::admin::{ConnView, ServerView};
use crate::proto::op;
use std::sync::atomic::Ordering;

impl Core {
    /// A read-only picture of the server for the admin layer.
    pub(super) fn view(&self) -> ServerView {
        let tree = self.shared.tree.read();
        let watches = self.shared.watches.lock();
        let served_here = self.shared.served.load(Ordering::Relaxed);
        let mut stats = self.stats.clone();
        stats.packets_received += served_here;
        stats.packets_sent += served_here;
        let mut conns: Vec<ConnView> = self
            .conns
            .iter()
            .map(|(id, c)| ConnView {
                id: *id,
                peer: c.peer,
                session_id: c.session_id,
                timeout_ms: c.timeout_ms,
                received: c.received + c.link.served.load(Ordering::Relaxed),
                sent: c.sent + c.link.served.load(Ordering::Relaxed),
                connected_at: c.connected_at,
                last_zxid: c.last_zxid,
                last_op: c.last_op,
            })
            .collect();
        conns.sort_by_key(|c| c.id);
        ServerView {
            settings: self.settings.clone(),
            stats,
            last_zxid: self.last_applied,
            node_count: tree.node_count(),
            approximate_data_size: tree.approximate_data_size(),
            ephemerals: tree.ephemerals_by_session(),
            sessions: self.sessions.all(),
            session_buckets: self.sessions.buckets(),
            watch_summary: watches.summary(),
            watch_count: watches.watch_count(),
            conns,
            fsync_threshold_exceed_count: self
                .slow_fsyncs
                .load(std::sync::atomic::Ordering::Relaxed),
            uptime_ms: self.now.mono_ms.saturating_sub(self.started_ms).max(0) as u64,
            digest: tree.digest(),
        }
    }
}

/// Opcode names as ZooKeeper's `Request.op2String` prints them (for cons/dump).
pub fn op_name(code: i32) -> &'static str {
    match code {
        op::CREATE => "CREA",
        op::CREATE2 => "CRE2",
        op::CREATE_CONTAINER => "CRTE",
        op::CREATE_TTL => "CRTT",
        op::DELETE => "DELE",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_DATA => "SETD",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::GET_CHILDREN => "GETC",
        op::GET_CHILDREN2 => "GET2",
        op::SYNC => "SYNC",
        op::PING => "PING",
        op::CHECK => "CHEC",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::RECONFIG => "RECO",
        op::CLOSE_SESSION => "CLOS",
        op::SET_WATCHES | op::SET_WATCHES2 => "SETW",
        op::AUTH => "AUTH",
        op::SASL => "SASL",
        op::ADD_WATCH => "ADDW",
        op::WHO_AM_I => "WHOA",
        op::GET_EPHEMERALS => "GETE",
        op::GET_ALL_CHILDREN_NUMBER => "GETN",
        op::CHECK_WATCHES => "CHKW",
        op::REMOVE_WATCHES => "REMW",
        _ => "UNKN",
    }
}
