//! Transaction records (txn log, snapshots, quorum proposals) of zookeeper.jute.
//!
//! Owns: TxnHeader and every txn body record. Must never: apply them (that is `tree`).

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
