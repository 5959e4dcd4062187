//! A znode: data, persisted stat, interned ACL id, links to parent and children; and
//! ephemeral-owner typing.
//!
//! Owns: the in-memory node layout, the client-visible Stat derivation (DataNode.copyStat)
//! and EphemeralType decoding. Must never: look up other nodes (the store links them).

use crate::jute::Data;
use crate::jute::records::{Stat, StatPersisted};

/// ephemeralOwner of a container node.
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// Top byte marking an extended ephemeralOwner (TTL).
const EXTENDED_MASK: u64 = 0xff00_0000_0000_0000;
const RESERVED_BITS_MASK: u64 = 0x00ff_ff00_0000_0000;
/// Largest TTL in ms (EphemeralType.TTL.maxValue()).
pub const MAX_TTL: i64 = !(EXTENDED_MASK | RESERVED_BITS_MASK) as i64;

/// EphemeralType: what a node's ephemeralOwner means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EphemeralType {
    /// Persistent (owner 0).
    Void,
    /// A session-owned ephemeral.
    Normal,
    Container,
    Ttl,
}

/// EphemeralType.get: TTL only when extended types are enabled (else such an owner is a
/// "normal" ephemeral, as in Java). An unknown extended feature is treated as Normal.
pub fn ephemeral_type(owner: i64, extended_types_enabled: bool) -> EphemeralType {
    if extended_types_enabled && (owner as u64 & EXTENDED_MASK) == EXTENDED_MASK {
        let feature = (owner as u64 & RESERVED_BITS_MASK) >> 40;
        if feature == 0 {
            return EphemeralType::Ttl;
        }
        return EphemeralType::Normal;
    }
    if owner == CONTAINER_OWNER {
        EphemeralType::Container
    } else if owner == 0 {
        EphemeralType::Void
    } else {
        EphemeralType::Normal
    }
}

/// The ephemeralOwner encoding a TTL; `None` if the ttl is out of 1..=MAX_TTL.
pub fn ttl_owner(ttl: i64) -> Option<i64> {
    if ttl <= 0 || ttl > MAX_TTL {
        return None;
    }
    Some((EXTENDED_MASK as i64) | ttl)
}

/// The TTL stored in an extended owner.
pub fn ttl_of(owner: i64) -> i64 {
    owner & MAX_TTL
}

/// A fresh StatPersisted for a node created at (zxid, time).
pub fn new_stat(zxid: i64, time: i64, ephemeral_owner: i64) -> StatPersisted {
    StatPersisted {
        czxid: zxid,
        mzxid: zxid,
        ctime: time,
        mtime: time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner,
        pzxid: zxid,
    }
}

/// Index of a node in the tree's node store (see `store`).
pub type NodeId = u32;

/// What only some nodes need, behind one pointer: the child ids of a node with children
/// (see `Node::child_ids` for the order), and the name of a node whose data is stored
/// alone (see `name_aside`).
#[derive(Debug, Clone, Default)]
pub(super) struct NodeExtra {
    pub(super) children: Vec<NodeId>,
    name: Option<Box<[u8]>>,
}

/// Bytes the allocator really reserves for `n` requested (mimalloc's size classes: exact
/// words up to 64 bytes, then four classes per power of two). An estimate is enough: it
/// only decides where a node keeps its name.
fn alloc_class(n: usize) -> usize {
    if n <= 64 {
        return n.div_ceil(8) * 8;
    }
    let step = (n - 1).next_power_of_two() / 8;
    n.div_ceil(step) * step
}

/// Whether a node's name should live apart from its data: when the name would push the
/// joint allocation into a size class so much bigger that a separate one (plus the extra
/// record holding it) is cheaper. A 1 KiB value with a short name is the typical case;
/// for small values the joint allocation always wins.
fn name_aside(name_len: usize, data_len: usize) -> bool {
    const SPLIT_COST: usize = 96;
    alloc_class(name_len + data_len) >= alloc_class(data_len) + SPLIT_COST + name_len
}

/// Marks `Node::name_len` when the data is null rather than empty.
const NULL_DATA: u32 = 1 << 31;

/// One znode, laid out for memory: the persisted Stat as flat fields, the interned ACL id,
/// the links the store maintains (parent, position in the parent's child list, children),
/// and the node's own name and data in one allocation (the name goes to `NodeExtra` only
/// where that is cheaper, see `name_aside`). 104 bytes plus the name+data bytes. The full
/// path is never stored: it is the parent's path plus `name()`.
#[derive(Debug, Clone)]
pub struct Node {
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    ctime: i64,
    mtime: i64,
    ephemeral_owner: i64,
    /// Id in the tree's ACL cache (-1 = OPEN_ACL_UNSAFE).
    pub acl: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    pub(super) parent: NodeId,
    /// Index of this node in its parent's child list.
    pub(super) pos: u32,
    /// Length of the name at the front of `blob` (0 when it is in `extra`); the
    /// `NULL_DATA` bit flags null data.
    name_len: u32,
    /// The name's bytes (unless aside) followed by the data's.
    blob: Box<[u8]>,
    /// Boxed so that a leaf with a small value (most nodes) pays one pointer.
    pub(super) extra: Option<Box<NodeExtra>>,
}

impl Node {
    /// A detached node named `name` (the store sets parent and position when it links it).
    pub fn new(name: &str, data: &Data, acl: i64, stat: StatPersisted) -> Node {
        let mut n = Node {
            czxid: 0,
            mzxid: 0,
            pzxid: 0,
            ctime: 0,
            mtime: 0,
            ephemeral_owner: 0,
            acl,
            version: 0,
            cversion: 0,
            aversion: 0,
            parent: NodeId::MAX,
            pos: 0,
            name_len: 0,
            blob: Box::default(),
            extra: None,
        };
        n.set_stat(&stat);
        n.set_name_and_data(name.as_bytes(), data);
        n
    }

    fn set_name_and_data(&mut self, name: &[u8], data: &Data) {
        let aside = name_aside(name.len(), data.len());
        let joint = if aside { &[][..] } else { name };
        let mut blob = Vec::with_capacity(joint.len() + data.len());
        blob.extend_from_slice(joint);
        blob.extend_from_slice(data);
        self.blob = blob.into_boxed_slice();
        // Names are path components, far below 2^31 bytes (jute.maxbuffer bounds them).
        self.name_len =
            (joint.len() as u32 & !NULL_DATA) | if data.is_null() { NULL_DATA } else { 0 };
        if aside {
            self.extra.get_or_insert_default().name = Some(name.into());
        } else if let Some(x) = self.extra.as_mut() {
            x.name = None;
            if x.children.is_empty() {
                self.extra = None;
            }
        }
    }

    pub(super) fn name_bytes(&self) -> &[u8] {
        if let Some(name) = self.extra.as_ref().and_then(|x| x.name.as_deref()) {
            return name;
        }
        let n = (self.name_len & !NULL_DATA) as usize;
        self.blob.get(..n).unwrap_or_default()
    }

    /// The last path component ("" for the root).
    pub fn name(&self) -> &str {
        std::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    /// The data bytes (null reads as empty).
    pub fn data(&self) -> &[u8] {
        let n = (self.name_len & !NULL_DATA) as usize;
        self.blob.get(n..).unwrap_or_default()
    }

    /// The data, `None` for null.
    pub fn data_opt(&self) -> Option<&[u8]> {
        if self.data_is_null() {
            None
        } else {
            Some(self.data())
        }
    }

    pub fn data_is_null(&self) -> bool {
        self.name_len & NULL_DATA != 0
    }

    /// The data as a value of its own (null preserved), e.g. for a reply.
    pub fn data_value(&self) -> Data {
        if self.data_is_null() {
            Data::NULL
        } else {
            Data::new(bytes::Bytes::copy_from_slice(self.data()))
        }
    }

    pub fn data_len(&self) -> usize {
        self.data().len()
    }

    pub fn set_data(&mut self, data: &Data) {
        let name = self.name_bytes().to_vec();
        self.set_name_and_data(&name, data);
    }

    pub fn stat(&self) -> StatPersisted {
        StatPersisted {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.ephemeral_owner,
            pzxid: self.pzxid,
        }
    }

    pub fn set_stat(&mut self, s: &StatPersisted) {
        self.czxid = s.czxid;
        self.mzxid = s.mzxid;
        self.ctime = s.ctime;
        self.mtime = s.mtime;
        self.version = s.version;
        self.cversion = s.cversion;
        self.aversion = s.aversion;
        self.ephemeral_owner = s.ephemeral_owner;
        self.pzxid = s.pzxid;
    }

    pub fn ephemeral_owner(&self) -> i64 {
        self.ephemeral_owner
    }

    pub fn mzxid(&self) -> i64 {
        self.mzxid
    }

    pub fn pzxid(&self) -> i64 {
        self.pzxid
    }

    /// Forget `extra` once it holds nothing (no children, name in the blob).
    pub(super) fn drop_empty_extra(&mut self) {
        if self
            .extra
            .as_ref()
            .is_some_and(|x| x.children.is_empty() && x.name.is_none())
        {
            self.extra = None;
        }
    }

    pub fn child_count(&self) -> usize {
        self.extra.as_ref().map_or(0, |x| x.children.len())
    }

    /// The store ids of the children, in the store's order (insertion order, except that
    /// a removal moves the last child into the freed place).
    pub fn child_ids(&self) -> &[NodeId] {
        self.extra.as_deref().map_or(&[], |x| x.children.as_slice())
    }

    /// This node's digest contribution at `key` (its full path; 0 under /zookeeper/).
    pub fn digest_at(&self, key: &str) -> i64 {
        super::digest::node_digest(key, self.data(), &self.stat())
    }

    /// The client-visible Stat (DataNode.copyStat): cversion = 2*persisted - numChildren,
    /// ephemeralOwner hidden for container/TTL nodes.
    pub fn client_stat(&self, extended_types_enabled: bool) -> Stat {
        let n = self.child_count() as i32;
        let owner = match ephemeral_type(self.ephemeral_owner, extended_types_enabled) {
            EphemeralType::Normal => self.ephemeral_owner,
            _ => 0,
        };
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(n),
            aversion: self.aversion,
            ephemeral_owner: owner,
            data_length: self.data_len() as i32,
            num_children: n,
            pzxid: self.pzxid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_types() {
        assert_eq!(ephemeral_type(0, true), EphemeralType::Void);
        assert_eq!(
            ephemeral_type(0x0100_0051_e9e3_0000, true),
            EphemeralType::Normal
        );
        assert_eq!(ephemeral_type(i64::MIN, false), EphemeralType::Container);
        let t = ttl_owner(100_000).unwrap();
        assert_eq!(t as u64, 0xff00_0000_0001_86a0);
        assert_eq!(ephemeral_type(t, true), EphemeralType::Ttl);
        assert_eq!(ephemeral_type(t, false), EphemeralType::Normal);
        assert_eq!(ttl_of(t), 100_000);
        assert_eq!(ttl_owner(0), None);
        assert_eq!(ttl_owner(-1), None);
        assert_eq!(ttl_owner(MAX_TTL), Some(EXTENDED_MASK as i64 | MAX_TTL));
        assert_eq!(ttl_owner(MAX_TTL + 1), None);
        assert_eq!(MAX_TTL, (1 << 40) - 1);
    }

    #[test]
    fn client_stat_hides_owner_and_derives_cversion() {
        let mut st = new_stat(7, 9, CONTAINER_OWNER);
        st.cversion = 4;
        let mut n = Node::new("c", &Data::from_static(b"abc"), -1, st);
        n.extra.get_or_insert_default().children = vec![5, 6];
        let s = n.client_stat(false);
        assert_eq!(s.ephemeral_owner, 0);
        assert_eq!(s.cversion, 6);
        assert_eq!(s.num_children, 2);
        assert_eq!(s.data_length, 3);
        assert_eq!(
            (s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime),
            (7, 7, 7, 9, 9)
        );
        let e = Node::new("e", &Data::empty(), -1, new_stat(1, 1, 42));
        assert_eq!(e.client_stat(false).ephemeral_owner, 42);
        // Fresh root: persisted cversion 0 with one child shows -1.
        let mut r = Node::new("", &Data::empty(), -1, StatPersisted::default());
        r.extra.get_or_insert_default().children = vec![1];
        assert_eq!(r.client_stat(false).cversion, -1);
    }

    #[test]
    fn name_and_data_share_one_allocation() {
        let mut n = Node::new("name", &Data::from_static(b"value"), 3, new_stat(1, 2, 0));
        assert_eq!(
            (n.name(), n.data(), n.data_is_null()),
            ("name", &b"value"[..], false)
        );
        n.set_data(&Data::NULL);
        assert_eq!(
            (n.name(), n.data(), n.data_is_null()),
            ("name", &b""[..], true)
        );
        assert!(n.data_value().is_null());
        n.set_data(&Data::empty());
        assert!(!n.data_is_null() && !n.data_value().is_null());
        assert_eq!(n.stat(), new_stat(1, 2, 0));
        // A 1 KiB value keeps its name apart (1033 bytes would take a 1280-byte class).
        let mut big = Node::new(
            "n00000001",
            &Data::new(vec![7u8; 1024]),
            -1,
            new_stat(1, 2, 0),
        );
        assert_eq!((big.name(), big.data_len()), ("n00000001", 1024));
        assert!(big.extra.as_ref().is_some_and(|x| x.name.is_some()));
        big.set_data(&Data::from_static(b"small"));
        assert_eq!((big.name(), big.data()), ("n00000001", &b"small"[..]));
        assert!(big.extra.is_none());
        assert!(!name_aside(9, 100));
        assert!(name_aside(9, 1024));
        assert_eq!(
            (alloc_class(109), alloc_class(1033), alloc_class(1024)),
            (112, 1280, 1024)
        );
        // The layout this type exists for (see the struct's doc comment).
        assert_eq!(std::mem::size_of::<Node>(), 104);
        assert_eq!(std::mem::size_of::<Option<Node>>(), 104);
    }
}
