//! Typed responses and their encoding into a reply frame body.

use crate::jute::Record;
use crate::jute::records::*;
use bytes::{BufMut, BytesMut};

/// One result inside a multi / multiRead response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    Create { path: String },
    Create2 { path: String, stat: Stat },
    Delete,
    SetData { stat: Stat },
    Check,
    GetChildren { children: Vec<String> },
    GetData { data: crate::jute::Data, stat: Stat },
    Error { err: i32 },
}

impl MultiResult {
    fn op_type(&self) -> i32 {
        use super::codes::op;
        match self {
            MultiResult::Create { .. } => op::CREATE,
            MultiResult::Create2 { .. } => op::CREATE2,
            MultiResult::Delete => op::DELETE,
            MultiResult::SetData { .. } => op::SET_DATA,
            MultiResult::Check => op::CHECK,
            MultiResult::GetChildren { .. } => op::GET_CHILDREN,
            MultiResult::GetData { .. } => op::GET_DATA,
            MultiResult::Error { .. } => op::ERROR,
        }
    }
}

/// The body of a successful reply (err == 0). Errors carry no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// No body (delete, ping, auth, setWatches, closeSession, check at top level...).
    Empty,
    Create(CreateResponse),
    Create2(Create2Response),
    Stat(StatResponse),
    GetData(GetDataResponse),
    GetChildren(GetChildrenResponse),
    GetChildren2(GetChildren2Response),
    GetAcl(GetAclResponse),
    AllChildrenNumber(GetAllChildrenNumberResponse),
    Ephemerals(GetEphemeralsResponse),
    WhoAmI(WhoAmIResponse),
    Sync(SyncResponse),
    Error(ErrorResponse),
    Sasl(SaslToken),
    /// SetSASLResponse with a null token (what a server without SASL answers).
    SaslNull,
    Multi(Vec<MultiResult>),
}

impl Response {
    pub fn write(&self, w: &mut BytesMut) {
        match self {
            Response::Empty => {}
            Response::Create(r) => r.write(w),
            Response::Create2(r) => r.write(w),
            Response::Stat(r) => r.write(w),
            Response::GetData(r) => r.write(w),
            Response::GetChildren(r) => r.write(w),
            Response::GetChildren2(r) => r.write(w),
            Response::GetAcl(r) => r.write(w),
            Response::AllChildrenNumber(r) => r.write(w),
            Response::Ephemerals(r) => r.write(w),
            Response::WhoAmI(r) => r.write(w),
            Response::Sync(r) => r.write(w),
            Response::Error(r) => r.write(w),
            Response::Sasl(r) => r.write(w),
            Response::SaslNull => w.put_i32(-1),
            Response::Multi(results) => {
                for res in results {
                    let err = match res {
                        MultiResult::Error { err } => *err,
                        _ => 0,
                    };
                    MultiHeader {
                        op_type: res.op_type(),
                        done: false,
                        err,
                    }
                    .write(w);
                    match res {
                        MultiResult::Create { path } => {
                            w.put_slice(&CreateResponse { path: path.clone() }.to_bytes())
                        }
                        MultiResult::Create2 { path, stat } => Create2Response {
                            path: path.clone(),
                            stat: *stat,
                        }
                        .write(w),
                        MultiResult::SetData { stat } => StatResponse { stat: *stat }.write(w),
                        MultiResult::GetChildren { children } => GetChildrenResponse {
                            children: children.clone(),
                        }
                        .write(w),
                        MultiResult::GetData { data, stat } => GetDataResponse {
                            data: data.clone(),
                            stat: *stat,
                        }
                        .write(w),
                        MultiResult::Error { err } => ErrorResponse { err: *err }.write(w),
                        MultiResult::Delete | MultiResult::Check => {}
                    }
                }
                put_multi_end(w);
            }
        }
    }
}

/// Append a complete reply frame (length prefix + ReplyHeader + body) to `out`.
/// The body is omitted when `err != 0`, as ZooKeeper does.
/// Returns the frame's length without its prefix (what Java's sendResponse returns).
pub fn encode_reply(out: &mut BytesMut, xid: i32, zxid: i64, err: i32, resp: &Response) -> usize {
    let start = out.len();
    encode_frame(out, |out| {
        ReplyHeader { xid, zxid, err }.write(out);
        if err == 0 {
            resp.write(out);
        }
    });
    out.len() - start - 4
}

/// Append one length-prefixed frame whose payload `f` writes.
pub fn encode_frame(out: &mut BytesMut, f: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_i32(0); // patched below
    f(out);
    let len = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}
