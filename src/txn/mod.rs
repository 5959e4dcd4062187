//! Transactions: the deterministic unit of change of the replicated state machine.
//!
//! Owns: the `Txn` type (header + body) and, in `prep`, the turning of a validated client
//! request into a `Txn` (validation, ACL checks, versions, sequential names, multi), and in
//! `read`, executing read-only requests against the tree.
//! Must never: apply a txn to the tree (that is `tree`), do I/O, or read the clock (time and
//! zxid are handed in).

use crate::jute::records::Id;
use crate::jute::txn::*;

/// The body of a transaction, one variant per txn type that ZooKeeper logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    /// type -10
    CreateSession(CreateSessionTxn),
    /// type -11
    CloseSession(CloseSessionTxn),
    /// type 1 (create) — CreateTxn
    Create(CreateTxn),
    /// type 15 (create2) — same record as create, logged with type 15
    Create2(CreateTxn),
    /// type 19
    CreateContainer(CreateContainerTxn),
    /// type 21
    CreateTtl(CreateTtlTxn),
    /// type 2
    Delete(DeleteTxn),
    /// type 20 (server-generated: empty container or expired TTL node)
    DeleteContainer(DeleteTxn),
    /// type 5
    SetData(SetDataTxn),
    /// type 16 (reconfig): a SetDataTxn on /zookeeper/config
    Reconfig(SetDataTxn),
    /// type 7
    SetAcl(SetAclTxn),
    /// type 13 (only inside multi)
    Check(CheckVersionTxn),
    /// type 14: sub-txns in order. A failed multi holds the ops before the failure as
    /// their real sub-txns, the failing op as `Error{code}`, later ops as `Error{-2}`.
    Multi(Vec<TxnBody>),
    /// type -1: a failed request; consumes a zxid, changes nothing.
    Error(ErrorTxn),
}

/// A complete transaction as logged and replicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub header: TxnHeader,
    pub body: TxnBody,
    /// The TxnDigest trailer (tree digest after this txn), as prep precomputes it and a
    /// log entry carries it. `None` for error txns and when digests are disabled.
    pub digest: Option<TxnDigest>,
}

/// Who is asking: what prep and read need to know about the requesting session.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub session_id: i64,
    pub cxid: i32,
    /// Authenticated ids of the connection, incl. ("ip", addr) and any ("super", "").
    /// Shared with the connection: cloning a context per request costs no allocation.
    pub auth: std::sync::Arc<Vec<Id>>,
}

pub mod codec;
pub mod prep;
pub mod read;
pub mod reply;
