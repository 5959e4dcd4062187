//! Txn encoding: `TxnBody` ↔ (txn type, record bytes) and `Txn` ↔ log-entry bytes.
//!
//! Owns: SerializeUtils.deserializeTxn's type→record mapping. Must never: panic on
//! garbage (every decode returns an error instead).

use super::TxnBody;
use crate::proto::op;

/// The txn type a body is logged with.
pub fn body_type(body: &TxnBody) -> i32 {
    match body {
        TxnBody::CreateSession(_) => op::CREATE_SESSION,
        TxnBody::CloseSession(_) => op::CLOSE_SESSION,
        TxnBody::Create(_) => op::CREATE,
        TxnBody::Create2(_) => op::CREATE2,
        TxnBody::CreateContainer(_) => op::CREATE_CONTAINER,
        TxnBody::CreateTtl(_) => op::CREATE_TTL,
        TxnBody::Delete(_) => op::DELETE,
        TxnBody::DeleteContainer(_) => op::DELETE_CONTAINER,
        TxnBody::SetData(_) => op::SET_DATA,
        TxnBody::Reconfig(_) => op::RECONFIG,
        TxnBody::SetAcl(_) => op::SET_ACL,
        TxnBody::Check(_) => op::CHECK,
        TxnBody::Multi(_) => op::MULTI,
        TxnBody::Error(_) => op::ERROR,
    }
}
