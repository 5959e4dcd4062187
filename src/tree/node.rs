//! A znode: data, persisted stat, interned ACL id, children; and ephemeral-owner typing.
//!
//! Owns: the in-memory node layout, the client-visible Stat derivation (DataNode.copyStat)
//! and EphemeralType decoding. Must never: know about other nodes or the tree's indexes.

use crate::jute::Data;
use crate::jute::records::{Stat, StatPersisted};
use std::collections::BTreeSet;

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

/// One znode.
#[derive(Debug, Clone)]
pub struct Node {
    pub data: Data,
    /// Id in the tree's ACL cache (-1 = OPEN_ACL_UNSAFE).
    pub acl: i64,
    pub stat: StatPersisted,
    pub children: BTreeSet<String>,
    /// This node's contribution to the tree digest (cached).
    pub(crate) digest: i64,
}

impl Node {
    pub fn new(data: Data, acl: i64, stat: StatPersisted) -> Node {
        Node {
            data,
            acl,
            stat,
            children: BTreeSet::new(),
            digest: 0,
        }
    }

    /// This node's digest contribution (0 for nodes under /zookeeper/).
    pub fn digest(&self) -> i64 {
        self.digest
    }

    /// The client-visible Stat (DataNode.copyStat): cversion = 2*persisted - numChildren,
    /// ephemeralOwner hidden for container/TTL nodes.
    pub fn client_stat(&self, extended_types_enabled: bool) -> Stat {
        let n = self.children.len() as i32;
        let s = &self.stat;
        let owner = match ephemeral_type(s.ephemeral_owner, extended_types_enabled) {
            EphemeralType::Normal => s.ephemeral_owner,
            _ => 0,
        };
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(n),
            aversion: s.aversion,
            ephemeral_owner: owner,
            data_length: self.data.len() as i32,
            num_children: n,
            pzxid: s.pzxid,
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
        let mut n = Node::new(
            Data::from_static(b"abc"),
            -1,
            new_stat(7, 9, CONTAINER_OWNER),
        );
        n.stat.cversion = 4;
        n.children.insert("x".into());
        n.children.insert("y".into());
        let s = n.client_stat(false);
        assert_eq!(s.ephemeral_owner, 0);
        assert_eq!(s.cversion, 6);
        assert_eq!(s.num_children, 2);
        assert_eq!(s.data_length, 3);
        assert_eq!(
            (s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime),
            (7, 7, 7, 9, 9)
        );
        let e = Node::new(Data::empty(), -1, new_stat(1, 1, 42));
        assert_eq!(e.client_stat(false).ephemeral_owner, 42);
        // Fresh root: persisted cversion 0 with one child shows -1.
        let mut r = Node::new(Data::empty(), -1, StatPersisted::default());
        r.children.insert("zookeeper".into());
        assert_eq!(r.client_stat(false).cversion, -1);
    }
}
