//! Client-protocol and data records of zookeeper.jute (field order = wire order).
//!
//! Owns: the record structs and their encodings. Must never: hold behaviour beyond
//! encode/decode (semantics live in `proto`, `txn`, `tree`).

use super::{Data, Field, JuteError, Reader, Record, Result};
use crate::record;
use bytes::{BufMut, Bytes, BytesMut};

record! {
    /// An identity: (scheme, id), e.g. ("world", "anyone").
    #[derive(Hash, PartialOrd, Ord)]
    pub struct Id { scheme: String, id: String }
}
record! {
    #[derive(Hash, PartialOrd, Ord)]
    pub struct Acl { perms: i32, id: Id }
}
record! {
    /// The client-visible status of a znode (68 bytes).
    #[derive(Copy)]
    pub struct Stat {
        czxid: i64, mzxid: i64, ctime: i64, mtime: i64,
        version: i32, cversion: i32, aversion: i32,
        ephemeral_owner: i64, data_length: i32, num_children: i32, pzxid: i64,
    }
}
record! {
    /// Stat as persisted in snapshots (no dataLength/numChildren; cversion counts creates).
    #[derive(Copy)]
    pub struct StatPersisted {
        czxid: i64, mzxid: i64, ctime: i64, mtime: i64,
        version: i32, cversion: i32, aversion: i32,
        ephemeral_owner: i64, pzxid: i64,
    }
}
record! { pub struct ClientInfo { auth_scheme: String, user: String } }

/// ConnectRequest; `read_only` is `None` when an old client omitted the trailing byte.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    pub read_only: Option<bool>,
}
impl Record for ConnectRequest {
    fn write(&self, w: &mut BytesMut) {
        self.protocol_version.put(w);
        self.last_zxid_seen.put(w);
        self.time_out.put(w);
        self.session_id.put(w);
        self.passwd.put(w);
        if let Some(ro) = self.read_only {
            ro.put(w);
        }
    }
    fn read(r: &mut Reader) -> Result<Self> {
        Ok(ConnectRequest {
            protocol_version: r.read_i32()?,
            last_zxid_seen: r.read_i64()?,
            time_out: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: if r.is_empty() {
                None
            } else {
                Some(r.read_bool()?)
            },
        })
    }
}

/// ConnectResponse; the readOnly byte is written only if the client sent one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    pub read_only: Option<bool>,
}
impl Record for ConnectResponse {
    fn write(&self, w: &mut BytesMut) {
        self.protocol_version.put(w);
        self.time_out.put(w);
        self.session_id.put(w);
        self.passwd.put(w);
        if let Some(ro) = self.read_only {
            ro.put(w);
        }
    }
    fn read(r: &mut Reader) -> Result<Self> {
        Ok(ConnectResponse {
            protocol_version: r.read_i32()?,
            time_out: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: if r.is_empty() {
                None
            } else {
                Some(r.read_bool()?)
            },
        })
    }
}

record! { pub struct RequestHeader { xid: i32, op_type: i32 } }
record! { #[derive(Copy)] pub struct ReplyHeader { xid: i32, zxid: i64, err: i32 } }
record! { pub struct MultiHeader { op_type: i32, done: bool, err: i32 } }
record! { pub struct AuthPacket { auth_type: i32, scheme: String, auth: Bytes } }
record! {
    pub struct SetWatches {
        relative_zxid: i64,
        data_watches: Vec<String>, exist_watches: Vec<String>, child_watches: Vec<String>,
    }
}
record! {
    pub struct SetWatches2 {
        relative_zxid: i64,
        data_watches: Vec<String>, exist_watches: Vec<String>, child_watches: Vec<String>,
        persistent_watches: Vec<String>, persistent_recursive_watches: Vec<String>,
    }
}
record! { pub struct CreateRequest { path: String, data: Data, acl: Vec<Acl>, flags: i32 } }
record! { pub struct CreateTtlRequest { path: String, data: Data, acl: Vec<Acl>, flags: i32, ttl: i64 } }
record! { pub struct DeleteRequest { path: String, version: i32 } }
record! { pub struct SetDataRequest { path: String, data: Data, version: i32 } }
record! { pub struct CheckVersionRequest { path: String, version: i32 } }
record! { pub struct SetAclRequest { path: String, acl: Vec<Acl>, version: i32 } }
record! { /// GetData / GetChildren / GetChildren2 / Exists all share this layout.
pub struct PathWatchRequest { path: String, watch: bool } }
record! { /// GetACL / Sync / GetAllChildrenNumber / GetEphemerals all share this layout.
pub struct PathRequest { path: String } }
record! {
    pub struct ReconfigRequest {
        joining_servers: String, leaving_servers: String, new_members: String, cur_config_id: i64,
    }
}
record! { pub struct AddWatchRequest { path: String, mode: i32 } }
record! { /// CheckWatches / RemoveWatches.
pub struct WatchTypeRequest { path: String, watch_type: i32 } }
record! { pub struct SaslToken { token: Bytes } }

record! { pub struct CreateResponse { path: String } }
record! { pub struct Create2Response { path: String, stat: Stat } }
record! { /// SetData / SetACL / Exists responses.
pub struct StatResponse { stat: Stat } }
record! { pub struct GetDataResponse { data: Data, stat: Stat } }
record! { pub struct GetChildrenResponse { children: Vec<String> } }
record! { pub struct GetChildren2Response { children: Vec<String>, stat: Stat } }
record! { pub struct GetAclResponse { acl: Vec<Acl>, stat: Stat } }
record! { pub struct GetAllChildrenNumberResponse { total_number: i32 } }
record! { pub struct GetEphemeralsResponse { ephemerals: Vec<String> } }
record! { pub struct WhoAmIResponse { client_info: Vec<ClientInfo> } }
record! { pub struct SyncResponse { path: String } }
record! { pub struct ErrorResponse { err: i32 } }
record! { pub struct WatcherEvent { event_type: i32, state: i32, path: String } }

record! { /// The file header of txn logs and snapshots.
pub struct FileHeader { magic: i32, version: i32, dbid: i64 } }

/// Helper: encode the "done" terminator of a multi request/response.
pub fn put_multi_end(w: &mut BytesMut) {
    w.put_i32(-1);
    w.put_u8(1);
    w.put_i32(-1);
}

/// Read a record that must consume the whole input (used where trailing garbage is an error).
pub fn read_exact<T: Record>(b: Bytes) -> Result<T> {
    let mut r = Reader::new(b);
    let v = T::read(&mut r)?;
    if !r.is_empty() {
        return Err(JuteError::BadLength {
            what: "trailing bytes",
            len: r.remaining() as i64,
        });
    }
    Ok(v)
}
