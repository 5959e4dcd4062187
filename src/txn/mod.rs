//! Transactions: the deterministic unit of change of the replicated state machine.
//!
//! Owns (the `Txn` type itself lives in `jute::txn`, re-exported here, so `tree` can apply
//! txns without depending on this module): in `prep`, the turning of a validated client
//! request into a `Txn` (validation, ACL checks, versions, sequential names, multi), and in
//! `read`, executing read-only requests against the tree.
//! Must never: apply a txn to the tree (that is `tree`), do I/O, or read the clock (time and
//! zxid are handed in).

use crate::jute::records::Id;
pub use crate::jute::txn::{Txn, TxnBody};

/// Who is asking: what prep and read need to know about the requesting session.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub session_id: i64,
    pub cxid: i32,
    /// Authenticated ids of the connection, incl. ("ip", addr) and any ("super", "").
    /// Shared with the connection: cloning a context per request costs no allocation.
    pub auth: std::sync::Arc<Vec<Id>>,
    /// The error an ephemeral create of this request gets instead of the node, when the
    /// session may not own ephemerals (a local session: `EPHEMERALONLOCALSESSION`; a
    /// session the leader does not know as global: `SESSIONEXPIRED`). `None`: it may.
    pub ephemeral_refusal: Option<i32>,
}

pub mod codec;
pub mod prep;
pub mod read;
pub mod reply;
