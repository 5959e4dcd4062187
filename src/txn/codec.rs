//! Txn encoding: `TxnBody` ↔ (txn type, record bytes) and `Txn` ↔ the bytes of a log entry
//! or PROPOSAL (TxnHeader + record + optional TxnDigest trailer).
//!
//! Owns: SerializeUtils.deserializeTxn's type→record mapping (incl. the CreateTxnV0 and
//! empty-closeSession fallbacks) and MultiTxn's sub-txn mapping. Must never: panic on
//! garbage (every decode returns an error instead).

use super::{Txn, TxnBody};
use crate::jute::txn::*;
use crate::jute::{JuteError, Reader, Record};
use crate::proto::op;
use bytes::{Bytes, BytesMut};

/// Why txn bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Jute(#[from] JuteError),
    #[error("unsupported txn type {0}")]
    UnknownType(i32),
    #[error("unsupported multi sub-txn type {0}")]
    BadSubType(i32),
}

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

fn write_body(body: &TxnBody, w: &mut BytesMut) {
    match body {
        TxnBody::CreateSession(t) => t.write(w),
        TxnBody::CloseSession(t) => t.write(w),
        TxnBody::Create(t) | TxnBody::Create2(t) => t.write(w),
        TxnBody::CreateContainer(t) => t.write(w),
        TxnBody::CreateTtl(t) => t.write(w),
        TxnBody::Delete(t) | TxnBody::DeleteContainer(t) => t.write(w),
        TxnBody::SetData(t) | TxnBody::Reconfig(t) => t.write(w),
        TxnBody::SetAcl(t) => t.write(w),
        TxnBody::Check(t) => t.write(w),
        TxnBody::Error(t) => t.write(w),
        TxnBody::Multi(subs) => {
            let txns = subs
                .iter()
                .map(|s| SubTxn {
                    txn_type: body_type(s),
                    data: encode_body(s).1,
                })
                .collect();
            MultiTxn { txns }.write(w)
        }
    }
}

/// (txn type, serialized record) of a body.
pub fn encode_body(body: &TxnBody) -> (i32, Bytes) {
    let mut w = BytesMut::new();
    write_body(body, &mut w);
    (body_type(body), w.freeze())
}

/// Read the record of a top-level txn of `txn_type` from `r`.
fn read_body(txn_type: i32, r: &mut Reader) -> Result<TxnBody, CodecError> {
    Ok(match txn_type {
        op::CREATE_SESSION => TxnBody::CreateSession(CreateSessionTxn::read(r)?),
        op::CLOSE_SESSION => {
            // Old logs have no CloseSessionTxn: treat a missing/short record as empty.
            let mut probe = r.clone();
            match CloseSessionTxn::read(&mut probe) {
                Ok(t) => {
                    *r = probe;
                    TxnBody::CloseSession(t)
                }
                Err(_) => TxnBody::CloseSession(CloseSessionTxn::default()),
            }
        }
        op::CREATE => {
            let mut probe = r.clone();
            match CreateTxn::read(&mut probe) {
                Ok(t) => {
                    *r = probe;
                    TxnBody::Create(t)
                }
                // CreateTxnV0: no parentCVersion.
                Err(JuteError::Eof(_)) => TxnBody::Create(CreateTxn {
                    path: r.read_ustring()?,
                    data: crate::jute::Field::get(r)?,
                    acl: crate::jute::Field::get(r)?,
                    ephemeral: r.read_bool()?,
                    parent_cversion: -1,
                }),
                Err(e) => return Err(e.into()),
            }
        }
        op::MULTI => {
            let m = MultiTxn::read(r)?;
            let mut subs = Vec::with_capacity(m.txns.len());
            for s in m.txns {
                subs.push(decode_sub(s.txn_type, s.data)?);
            }
            TxnBody::Multi(subs)
        }
        t => read_common(t, r)?.ok_or(CodecError::UnknownType(t))?,
    })
}

/// Types shared by top-level txns and multi sub-txns.
fn read_common(txn_type: i32, r: &mut Reader) -> Result<Option<TxnBody>, CodecError> {
    Ok(Some(match txn_type {
        op::CREATE2 => TxnBody::Create2(CreateTxn::read(r)?),
        op::CREATE_TTL => TxnBody::CreateTtl(CreateTtlTxn::read(r)?),
        op::CREATE_CONTAINER => TxnBody::CreateContainer(CreateContainerTxn::read(r)?),
        op::DELETE => TxnBody::Delete(DeleteTxn::read(r)?),
        op::DELETE_CONTAINER => TxnBody::DeleteContainer(DeleteTxn::read(r)?),
        op::SET_DATA => TxnBody::SetData(SetDataTxn::read(r)?),
        op::RECONFIG => TxnBody::Reconfig(SetDataTxn::read(r)?),
        op::SET_ACL => TxnBody::SetAcl(SetAclTxn::read(r)?),
        op::CHECK => TxnBody::Check(CheckVersionTxn::read(r)?),
        op::ERROR => TxnBody::Error(ErrorTxn::read(r)?),
        _ => return Ok(None),
    }))
}

/// A multi sub-txn (DataTree's multi mapping: creates, deletes, setData, check, error).
fn decode_sub(txn_type: i32, data: Bytes) -> Result<TxnBody, CodecError> {
    let r = &mut Reader::new(data);
    match txn_type {
        op::CREATE => Ok(TxnBody::Create(CreateTxn::read(r)?)),
        op::RECONFIG | op::SET_ACL => Err(CodecError::BadSubType(txn_type)),
        t => read_common(t, r)?.ok_or(CodecError::BadSubType(t)),
    }
}

/// Decode a body from its type and record bytes (trailing bytes ignored).
pub fn decode_body(txn_type: i32, data: Bytes) -> Result<TxnBody, CodecError> {
    read_body(txn_type, &mut Reader::new(data))
}

/// Full entry bytes: TxnHeader + record + TxnDigest (omitted for error txns and when
/// `txn.digest` is `None`).
pub fn encode_txn(txn: &Txn) -> Bytes {
    let mut w = BytesMut::new();
    let header = TxnHeader {
        txn_type: body_type(&txn.body),
        ..txn.header.clone()
    };
    header.write(&mut w);
    write_body(&txn.body, &mut w);
    if let Some(d) = &txn.digest
        && !matches!(txn.body, TxnBody::Error(_))
    {
        d.write(&mut w);
    }
    w.freeze()
}

/// Alias of `encode_txn` (the name the server uses for a log entry).
pub fn encode_entry(txn: &Txn) -> Bytes {
    encode_txn(txn)
}

/// Decode entry bytes; a missing or short trailer means "no digest".
pub fn decode_txn(bytes: Bytes) -> Result<Txn, CodecError> {
    let r = &mut Reader::new(bytes);
    let header = TxnHeader::read(r)?;
    let body = read_body(header.txn_type, r)?;
    let digest = if r.remaining() >= 12 {
        Some(TxnDigest::read(r)?)
    } else {
        None
    };
    Ok(Txn {
        header,
        body,
        digest,
    })
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
