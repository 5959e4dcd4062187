//! Typed client requests and their decoding from (RequestHeader, body).

use super::codes::op;
use crate::jute::records::*;
use crate::jute::{JuteError, Reader, Record, Result};

/// One operation inside a multi (write) or multiRead request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// `op_code` is create (1), create2 (15), createContainer (19) or createTTL (21).
    Create {
        op_code: i32,
        req: CreateTtlRequest,
    },
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(PathWatchRequest),
    GetData(PathWatchRequest),
}

impl MultiOp {
    pub fn op_code(&self) -> i32 {
        match self {
            MultiOp::Create { op_code, .. } => *op_code,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
            MultiOp::GetChildren(_) => op::GET_CHILDREN,
            MultiOp::GetData(_) => op::GET_DATA,
        }
    }
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren(_) | MultiOp::GetData(_))
    }
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { req, .. } => &req.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetChildren(r) | MultiOp::GetData(r) => &r.path,
        }
    }
}

/// A decoded client request (after the handshake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// create (1), create2 (15), createContainer (19), createTTL (21). For the non-TTL
    /// opcodes `req.ttl` is -1.
    Create {
        op_code: i32,
        req: CreateTtlRequest,
    },
    Delete(DeleteRequest),
    Exists(PathWatchRequest),
    GetData(PathWatchRequest),
    SetData(SetDataRequest),
    GetAcl(PathRequest),
    SetAcl(SetAclRequest),
    GetChildren(PathWatchRequest),
    GetChildren2(PathWatchRequest),
    Sync(PathRequest),
    Ping,
    Check(CheckVersionRequest),
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    Reconfig(ReconfigRequest),
    CheckWatches(WatchTypeRequest),
    RemoveWatches(WatchTypeRequest),
    Auth(AuthPacket),
    /// setWatches (101) is normalized into the SetWatches2 shape.
    SetWatches(SetWatches2),
    Sasl(SaslToken),
    GetEphemerals(PathRequest),
    GetAllChildrenNumber(PathRequest),
    AddWatch(AddWatchRequest),
    WhoAmI,
    CloseSession,
    /// An opcode we do not serve (incl. deleteContainer, which is server-internal).
    Unknown(i32),
    /// A known opcode whose body could not be decoded: ZooKeeper answers such a request
    /// with MARSHALLINGERROR and keeps the connection (it deserializes in its processors).
    Undecodable(i32),
}

impl Request {
    /// True for requests that change the tree (go through the txn pipeline).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::Delete(_)
                | Request::SetData(_)
                | Request::SetAcl(_)
                | Request::Check(_)
                | Request::Multi(_)
                | Request::Reconfig(_)
                | Request::CloseSession
        )
    }
}

fn read_create(r: &mut Reader, op_code: i32) -> Result<Request> {
    let req = read_create_body(r, op_code)?;
    Ok(Request::Create { op_code, req })
}

fn read_create_body(r: &mut Reader, op_code: i32) -> Result<CreateTtlRequest> {
    if op_code == op::CREATE_TTL {
        CreateTtlRequest::read(r)
    } else {
        let c = CreateRequest::read(r)?;
        Ok(CreateTtlRequest {
            path: c.path,
            data: c.data,
            acl: c.acl,
            flags: c.flags,
            ttl: -1,
        })
    }
}

/// Upper bound on ops in one multi; each op needs at least a 9-byte header so a frame
/// bounded by jute.maxbuffer holds far fewer than this.
const MAX_MULTI_OPS: usize = 1 << 20;

fn read_multi(r: &mut Reader, read_only: bool) -> Result<Vec<MultiOp>> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            break;
        }
        if ops.len() >= MAX_MULTI_OPS {
            return Err(JuteError::BadLength {
                what: "multi",
                len: ops.len() as i64,
            });
        }
        let mo = match h.op_type {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL if !read_only => {
                let req = read_create_body(r, h.op_type)?;
                // 3.9's MultiOperationRecord.deserialize refuses a create mode it does not
                // know ("invalid flag"): the whole multi is undecodable (MARSHALLINGERROR).
                // A createTTL sub-op's flags fall back to persistent there (Op.create with
                // a ttl) and are left to prep. 3.8.0 left every flag to prep (BADARGUMENTS
                // in the multi's results).
                if h.op_type != op::CREATE_TTL && !known_create_mode(req.flags) {
                    return Err(JuteError::BadValue {
                        what: "create mode in multi",
                        value: req.flags as i64,
                    });
                }
                MultiOp::Create {
                    op_code: multi_create_opcode(h.op_type, req.flags),
                    req,
                }
            }
            op::DELETE if !read_only => MultiOp::Delete(DeleteRequest::read(r)?),
            op::SET_DATA if !read_only => MultiOp::SetData(SetDataRequest::read(r)?),
            op::CHECK if !read_only => MultiOp::Check(CheckVersionRequest::read(r)?),
            // Sub-ops are GetChildrenRequest / GetDataRequest {path, watch}; Java ignores
            // the watch flag inside multiRead (Op.getChildren/getData never set one).
            op::GET_CHILDREN if read_only => MultiOp::GetChildren(PathWatchRequest {
                path: PathWatchRequest::read(r)?.path,
                watch: false,
            }),
            op::GET_DATA if read_only => MultiOp::GetData(PathWatchRequest {
                path: PathWatchRequest::read(r)?.path,
                watch: false,
            }),
            other => {
                return Err(JuteError::BadValue {
                    what: "multi op type",
                    value: other as i64,
                });
            }
        };
        ops.push(mo);
    }
    Ok(ops)
}

/// CreateMode.fromFlag knows the flag.
fn known_create_mode(flags: i32) -> bool {
    use super::codes::create_mode as m;
    (m::PERSISTENT..=m::PERSISTENT_SEQUENTIAL_WITH_TTL).contains(&flags)
}

/// A create sub-op's opcode as 3.9's MultiOperationRecord / `Op.create` derive it: a TTL
/// mode makes createTTL and the container mode createContainer, whatever the header says;
/// otherwise a createTTL header falls back to create and the other headers stay (create,
/// create2, createContainer). 3.8 rebuilt every non-TTL create as `Op.create(.., flags)`,
/// so a create2 or createContainer header with other modes became a create there.
fn multi_create_opcode(header: i32, flags: i32) -> i32 {
    use super::codes::create_mode as m;
    match flags {
        m::PERSISTENT_WITH_TTL | m::PERSISTENT_SEQUENTIAL_WITH_TTL => op::CREATE_TTL,
        m::CONTAINER => op::CREATE_CONTAINER,
        _ if header == op::CREATE_TTL => op::CREATE,
        _ => header,
    }
}

/// Decode a request body for the given opcode.
pub fn decode_request(op_code: i32, body: &mut Reader) -> Result<Request> {
    let r = body;
    Ok(match op_code {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
            read_create(r, op_code)?
        }
        op::DELETE => Request::Delete(DeleteRequest::read(r)?),
        op::EXISTS => Request::Exists(PathWatchRequest::read(r)?),
        op::GET_DATA => Request::GetData(PathWatchRequest::read(r)?),
        op::SET_DATA => Request::SetData(SetDataRequest::read(r)?),
        op::GET_ACL => Request::GetAcl(PathRequest::read(r)?),
        op::SET_ACL => Request::SetAcl(SetAclRequest::read(r)?),
        op::GET_CHILDREN => Request::GetChildren(PathWatchRequest::read(r)?),
        op::GET_CHILDREN2 => Request::GetChildren2(PathWatchRequest::read(r)?),
        op::SYNC => Request::Sync(PathRequest::read(r)?),
        op::PING => Request::Ping,
        op::CHECK => Request::Check(CheckVersionRequest::read(r)?),
        op::MULTI => Request::Multi(read_multi(r, false)?),
        op::MULTI_READ => Request::MultiRead(read_multi(r, true)?),
        op::RECONFIG => Request::Reconfig(ReconfigRequest::read(r)?),
        op::CHECK_WATCHES => Request::CheckWatches(WatchTypeRequest::read(r)?),
        op::REMOVE_WATCHES => Request::RemoveWatches(WatchTypeRequest::read(r)?),
        op::AUTH => Request::Auth(AuthPacket::read(r)?),
        op::SET_WATCHES => {
            let s = SetWatches::read(r)?;
            Request::SetWatches(SetWatches2 {
                relative_zxid: s.relative_zxid,
                data_watches: s.data_watches,
                exist_watches: s.exist_watches,
                child_watches: s.child_watches,
                persistent_watches: Vec::new(),
                persistent_recursive_watches: Vec::new(),
            })
        }
        op::SET_WATCHES2 => Request::SetWatches(SetWatches2::read(r)?),
        op::SASL => Request::Sasl(SaslToken::read(r)?),
        op::GET_EPHEMERALS => Request::GetEphemerals(PathRequest::read(r)?),
        op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber(PathRequest::read(r)?),
        op::ADD_WATCH => Request::AddWatch(AddWatchRequest::read(r)?),
        op::WHO_AM_I => Request::WhoAmI,
        op::CLOSE_SESSION => Request::CloseSession,
        other => Request::Unknown(other),
    })
}
