//! Transaction records (txn log, snapshots, quorum proposals) of zookeeper.jute.
//!
//! Owns: TxnHeader, every txn body record, and `Txn`/`TxnBody` (a whole logged txn). Must never: apply them (that is `tree`).

use crate::jute::Data;
use crate::jute::records::{Acl, StatPersisted};
use crate::record;
use bytes::Bytes;

record! {
    pub struct TxnHeader { client_id: i64, cxid: i32, zxid: i64, time: i64, txn_type: i32 }
}
record! {
    pub struct CreateTxn { path: String, data: Data, acl: Vec<Acl>, ephemeral: bool, parent_cversion: i32 }
}
record! {
    pub struct CreateTtlTxn { path: String, data: Data, acl: Vec<Acl>, parent_cversion: i32, ttl: i64 }
}
record! {
    pub struct CreateContainerTxn { path: String, data: Data, acl: Vec<Acl>, parent_cversion: i32 }
}
record! { pub struct DeleteTxn { path: String } }
record! { pub struct SetDataTxn { path: String, data: Data, version: i32 } }
record! { pub struct CheckVersionTxn { path: String, version: i32 } }
record! { pub struct SetAclTxn { path: String, acl: Vec<Acl>, version: i32 } }
record! { pub struct CreateSessionTxn { time_out: i32 } }
record! { pub struct CloseSessionTxn { paths2_delete: Vec<String> } }
record! { pub struct ErrorTxn { err: i32 } }
record! { /// One sub-transaction of a MultiTxn: its type and serialized body.
pub struct SubTxn { txn_type: i32, data: Bytes } }
record! { pub struct MultiTxn { txns: Vec<SubTxn> } }
record! { pub struct TxnDigest { version: i32, tree_digest: i64 } }

/// Silence unused-import lint until snapshots use it.
pub type PersistedStat = StatPersisted;

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
