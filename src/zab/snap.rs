//! The SNAP stream: what a leader writes right after a SNAP packet and a learner reads
//! before NEWLEADER (`LearnerHandler`: `ZKDatabase.serializeSnapshot` + `writeString
//! ("BenWasHere")`; `Learner.syncWithLeader`: `deserializeSnapshot` + signature check).
//!
//! Layout (jute, no length prefix): i32 session count, {i64 id, i32 timeout}*; i32 ACL
//! table size, {i64 id, vector<ACL>}*; nodes in pre-order {ustring path ("" = root),
//! buffer data, i64 acl id, StatPersisted}*; ustring "/"; ustring "BenWasHere". That is a
//! snapshot file's body without its FileHeader, seals, digest (3.8 and 3.9 alike) or the
//! 3.9 lastProcessedZxid trailer.
//! Owns: encoding that stream in bounded chunks from a tree (with the shared pre-order
//! walk) and decoding it incrementally, byte slices in, into a `DataTree` and sessions.
//! Must never: do I/O, buffer more than one bounded item of input, or panic on what a
//! peer sends.

use crate::jute::records::{Acl, Id, StatPersisted};
use crate::jute::{Data, Field, JuteWrite};
use crate::storage::snapshot::encode_node;
use crate::tree::walk::PreorderWalk;
use crate::tree::{DataTree, SnapshotLoader};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::BTreeMap;

/// The string that ends the stream.
pub const SIGNATURE: &str = "BenWasHere";
/// The last bytes of every complete stream: the node list's terminator (ustring "/")
/// and the signature. What precedes them is a snapshot file's body after its FileHeader,
/// so a learner can write its snapshot from the stream (`SnapshotWriter::
/// for_encoded_body`, whose `finish` writes the terminator again, then the seals).
pub const STREAM_END: [u8; 19] = *b"\0\0\0\x01/\0\0\0\x0aBenWasHere";
/// A reasonable chunk size for `SnapEncoder::next_chunk`.
pub const DEFAULT_CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EncPhase {
    SessionCount,
    Sessions(usize),
    AclCount,
    Acls(usize),
    Nodes,
    Done,
}

/// Produces the stream in chunks. The session list and ACL table are taken when it is
/// created (as Java copies them); nodes are walked chunk by chunk, so a tree that changes
/// in between gives a fuzzy stream, as Java's (the caller holds ids, see `tree::walk`).
pub struct SnapEncoder {
    sessions: Vec<(i64, i32)>,
    acls: Vec<(i64, Vec<Acl>)>,
    walk: PreorderWalk,
    phase: EncPhase,
}

impl SnapEncoder {
    pub fn new(tree: &DataTree, sessions: &[(i64, i32)]) -> SnapEncoder {
        SnapEncoder {
            sessions: sessions.to_vec(),
            acls: tree
                .acl_cache()
                .entries()
                .map(|(id, l)| (id, l.to_vec()))
                .collect(),
            walk: PreorderWalk::new(),
            phase: EncPhase::SessionCount,
        }
    }

    pub fn is_done(&self) -> bool {
        self.phase == EncPhase::Done
    }

    /// The next chunk: about `max_bytes` (over by at most one record), None once the
    /// signature was produced.
    pub fn next_chunk(&mut self, tree: &DataTree, max_bytes: usize) -> Option<Bytes> {
        if self.is_done() {
            return None;
        }
        let max = max_bytes.max(1);
        let mut b = BytesMut::with_capacity(max.min(DEFAULT_CHUNK) + 1024);
        while b.len() < max && !self.is_done() {
            match self.phase {
                EncPhase::SessionCount => {
                    b.put_i32(self.sessions.len() as i32);
                    self.phase = EncPhase::Sessions(0);
                }
                EncPhase::Sessions(mut i) => {
                    while let Some((id, to)) = self.sessions.get(i).filter(|_| b.len() < max) {
                        b.put_i64(*id);
                        b.put_i32(*to);
                        i += 1;
                    }
                    self.phase = if i == self.sessions.len() {
                        EncPhase::AclCount
                    } else {
                        EncPhase::Sessions(i)
                    };
                }
                EncPhase::AclCount => {
                    b.put_i32(self.acls.len() as i32);
                    self.phase = EncPhase::Acls(0);
                }
                EncPhase::Acls(mut i) => {
                    while let Some((id, list)) = self.acls.get(i).filter(|_| b.len() < max) {
                        b.put_i64(*id);
                        list.put(&mut b);
                        i += 1;
                    }
                    self.phase = if i == self.acls.len() {
                        EncPhase::Nodes
                    } else {
                        EncPhase::Acls(i)
                    };
                }
                EncPhase::Nodes => {
                    let budget = max - b.len();
                    self.walk.step(tree, budget, |path, node| {
                        let before = b.len();
                        encode_node(&mut b, path, node.data_opt(), node.acl, &node.stat());
                        b.len() - before
                    });
                    if self.walk.is_done() {
                        b.put_ustring("/");
                        b.put_ustring(SIGNATURE);
                        self.phase = EncPhase::Done;
                    }
                }
                EncPhase::Done => {}
            }
        }
        Some(b.freeze())
    }
}

/// The whole stream for `tree` and `sessions` at once.
pub fn encode(tree: &DataTree, sessions: &[(i64, i32)]) -> Bytes {
    let mut e = SnapEncoder::new(tree, sessions);
    let mut out = BytesMut::new();
    while let Some(c) = e.next_chunk(tree, DEFAULT_CHUNK) {
        out.extend_from_slice(&c);
    }
    out.freeze()
}

/// Why a SNAP stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapStreamError {
    #[error("malformed SNAP stream: {0}")]
    Malformed(String),
    #[error("SNAP stream item larger than {0} bytes")]
    TooLarge(usize),
    #[error("Missing signature. Got {0}")]
    Signature(String),
    #[error("SNAP stream ended before its signature")]
    Truncated,
    #[error("SNAP stream already complete or failed")]
    Finished,
}

/// What a `feed` got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Everything given was taken; the stream goes on.
    NeedMore,
    /// The signature was read; the first `consumed` bytes of the last input belonged to
    /// the stream, the rest (e.g. NEWLEADER) did not and is the caller's.
    Done { consumed: usize },
}

/// A decoded SNAP stream.
#[derive(Debug)]
pub struct SnapState {
    pub tree: DataTree,
    /// Session id → timeout, ascending by id (a repeated id keeps its last timeout).
    pub sessions: Vec<(i64, i32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecPhase {
    SessionCount,
    Sessions(i32),
    AclCount,
    Acls(i32),
    Nodes,
    Signature,
    Done,
    Failed,
}

/// Reads the stream from byte slices as they arrive.
pub struct SnapDecoder {
    phase: DecPhase,
    /// Input not yet decoded: at most one partial item.
    pending: BytesMut,
    max_field: usize,
    sessions: BTreeMap<i64, i32>,
    acls: Vec<(i64, Vec<Acl>)>,
    ext: bool,
    loader: Option<SnapshotLoader>,
}

/// A bounded read failed: not enough bytes yet, or bytes that can never be valid.
enum Short {
    Incomplete,
    Bad(SnapStreamError),
}

fn bad(msg: String) -> Short {
    Short::Bad(SnapStreamError::Malformed(msg))
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let end = self.pos.checked_add(n).ok_or(Short::Incomplete)?;
        let s = self.b.get(self.pos..end).ok_or(Short::Incomplete)?;
        self.pos = end;
        Ok(s)
    }
    fn i32(&mut self) -> Result<i32, Short> {
        let s = self.take(4)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i64(&mut self) -> Result<i64, Short> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(a))
    }
    /// A jute length: None for -1 (null); negative or above `max` is never valid.
    fn len(&mut self, what: &str, max: usize) -> Result<Option<usize>, Short> {
        let n = self.i32()?;
        match n {
            -1 => Ok(None),
            n if n < 0 || n as usize > max => Err(bad(format!("{what} length {n}"))),
            n => Ok(Some(n as usize)),
        }
    }
    fn string(&mut self, what: &str, max: usize) -> Result<Option<String>, Short> {
        match self.len(what, max)? {
            None => Ok(None),
            Some(n) => match std::str::from_utf8(self.take(n)?) {
                Ok(s) => Ok(Some(s.to_owned())),
                Err(_) => Err(bad(format!("{what} is not UTF-8"))),
            },
        }
    }
    fn stat(&mut self) -> Result<StatPersisted, Short> {
        let s = self.take(60)?;
        let mut r = crate::jute::Reader::from_slice(s);
        StatPersisted::get(&mut r).map_err(|e| bad(e.to_string()))
    }
}

impl SnapDecoder {
    /// A decoder building a tree with `zookeeper.extendedTypesEnabled` = `ext`. No string
    /// or buffer may be longer than `max_field` (jute.maxbuffer and its slack, as
    /// Java's BinaryInputArchive checks), which also bounds what is buffered.
    pub fn new(ext: bool, max_field: usize) -> SnapDecoder {
        SnapDecoder {
            phase: DecPhase::SessionCount,
            pending: BytesMut::new(),
            max_field,
            sessions: BTreeMap::new(),
            acls: Vec::new(),
            ext,
            loader: None,
        }
    }

    /// The most input one partial item may hold: a node's path and data and the rest.
    fn max_item(&self) -> usize {
        self.max_field.saturating_mul(2).saturating_add(4096)
    }

    /// Take the next bytes of the stream.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, SnapStreamError> {
        if matches!(self.phase, DecPhase::Done | DecPhase::Failed) {
            return Err(SnapStreamError::Finished);
        }
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(input);
        let mut pos = 0;
        let out = loop {
            let mut c = Cur {
                b: &buf[pos..],
                pos: 0,
            };
            match self.item(&mut c) {
                Ok(()) => {
                    pos += c.pos;
                    if self.phase == DecPhase::Done {
                        let leftover = buf.len() - pos;
                        break Ok(Progress::Done {
                            consumed: input.len().saturating_sub(leftover),
                        });
                    }
                }
                Err(Short::Incomplete) => {
                    if buf.len() - pos > self.max_item() {
                        break Err(SnapStreamError::TooLarge(self.max_item()));
                    }
                    buf.advance(pos);
                    self.pending = buf;
                    return Ok(Progress::NeedMore);
                }
                Err(Short::Bad(e)) => break Err(e),
            }
        };
        if out.is_err() {
            self.phase = DecPhase::Failed;
            self.loader = None;
        }
        out
    }

    /// Decode one item at the cursor; state changes only when it is complete.
    fn item(&mut self, c: &mut Cur) -> Result<(), Short> {
        let max = self.max_field;
        match self.phase {
            DecPhase::SessionCount => {
                let n = c.i32()?;
                if n < 0 {
                    return Err(bad(format!("negative session count {n}")));
                }
                self.phase = DecPhase::Sessions(n);
            }
            DecPhase::Sessions(0) => self.phase = DecPhase::AclCount,
            DecPhase::Sessions(left) => {
                let (id, to) = (c.i64()?, c.i32()?);
                self.sessions.insert(id, to);
                self.phase = DecPhase::Sessions(left - 1);
            }
            DecPhase::AclCount => {
                let n = c.i32()?;
                if n < 0 {
                    return Err(bad(format!("negative ACL table size {n}")));
                }
                self.phase = DecPhase::Acls(n);
            }
            DecPhase::Acls(0) => {
                let acls = std::mem::take(&mut self.acls);
                self.loader = Some(DataTree::snapshot_loader(self.ext, acls));
                self.phase = DecPhase::Nodes;
            }
            DecPhase::Acls(left) => {
                let id = c.i64()?;
                // An ACL is at least perms + two string lengths.
                let n = c
                    .len("ACL list", self.max_item() / 12)?
                    .ok_or_else(|| bad(format!("missing ACL list of id {id}")))?;
                let mut list = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    let perms = c.i32()?;
                    let scheme = c.string("ACL scheme", max)?.unwrap_or_default();
                    let idv = c.string("ACL id", max)?.unwrap_or_default();
                    list.push(Acl {
                        perms,
                        id: Id { scheme, id: idv },
                    });
                }
                self.acls.push((id, list));
                self.phase = DecPhase::Acls(left - 1);
            }
            DecPhase::Nodes => {
                let path = c
                    .string("path", max)?
                    .ok_or_else(|| bad("null node path".into()))?;
                if path == "/" {
                    self.phase = DecPhase::Signature;
                    return Ok(());
                }
                let data = match c.len("node data", max)? {
                    None => Data::NULL,
                    Some(n) => Data::new(Bytes::copy_from_slice(c.take(n)?)),
                };
                let acl = c.i64()?;
                let stat = c.stat()?;
                let loader = self
                    .loader
                    .as_mut()
                    .ok_or_else(|| bad("node before the ACL table".into()))?;
                loader.add(path, data, acl, stat).map_err(bad)?;
            }
            DecPhase::Signature => {
                let s = c.string("signature", max)?;
                if s.as_deref() != Some(SIGNATURE) {
                    return Err(Short::Bad(SnapStreamError::Signature(
                        s.unwrap_or_else(|| "null".into()),
                    )));
                }
                self.phase = DecPhase::Done;
            }
            DecPhase::Done | DecPhase::Failed => {}
        }
        Ok(())
    }

    /// Whether the signature has been read.
    pub fn is_done(&self) -> bool {
        self.phase == DecPhase::Done
    }

    /// The tree and sessions, once `feed` said Done. The tree's lastProcessedZxid is set
    /// to `snap_zxid`, the SNAP packet's zxid, as the learner does.
    pub fn finish(self, snap_zxid: i64) -> Result<SnapState, SnapStreamError> {
        match self.phase {
            DecPhase::Done => {}
            DecPhase::Failed => return Err(SnapStreamError::Finished),
            _ => return Err(SnapStreamError::Truncated),
        }
        let loader = self
            .loader
            .ok_or_else(|| SnapStreamError::Malformed("no ACL table".into()))?;
        let mut tree = loader.finish().map_err(SnapStreamError::Malformed)?;
        tree.set_last_processed_zxid(snap_zxid);
        Ok(SnapState {
            tree,
            sessions: self.sessions.into_iter().collect(),
        })
    }
}

/// Decode a complete stream held in `bytes`: the state and how many bytes it took.
pub fn decode(
    bytes: &[u8],
    ext: bool,
    max_field: usize,
    snap_zxid: i64,
) -> Result<(SnapState, usize), SnapStreamError> {
    let mut d = SnapDecoder::new(ext, max_field);
    match d.feed(bytes)? {
        Progress::Done { consumed } => Ok((d.finish(snap_zxid)?, consumed)),
        Progress::NeedMore => Err(SnapStreamError::Truncated),
    }
}

#[cfg(test)]
#[path = "snap_tests.rs"]
pub(crate) mod tests;
