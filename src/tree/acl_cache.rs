//! Interned ACL lists with reference counts (ZooKeeper's ReferenceCountedACLCache).
//!
//! Owns: the id ↔ ACL-list table that snapshots serialize; ids are allocated from 1 and
//! -1 means "null ACL" = OPEN_ACL_UNSAFE. Must never: reuse an id while it is referenced,
//! or panic on an unknown id.

use super::acl::open_acl_unsafe;
use crate::jute::records::Acl;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

/// The id meaning OPEN_ACL_UNSAFE without an entry in the table.
pub const OPEN_UNSAFE_ACL_ID: i64 = -1;

#[derive(Debug, Clone)]
struct Entry {
    acl: Arc<Vec<Acl>>,
    refs: i64,
}

/// ACL table.
#[derive(Debug, Clone, Default)]
pub struct AclCache {
    by_id: BTreeMap<i64, Entry>,
    by_list: HashMap<Vec<Acl>, i64>,
    last_id: i64,
}

fn open_unsafe() -> Arc<Vec<Acl>> {
    static OPEN: OnceLock<Arc<Vec<Acl>>> = OnceLock::new();
    OPEN.get_or_init(|| Arc::new(open_acl_unsafe())).clone()
}

impl AclCache {
    /// convertAcls: intern `acls` (adding one usage) and return its id.
    pub fn intern(&mut self, acls: &[Acl]) -> i64 {
        let id = match self.by_list.get(acls) {
            Some(id) => *id,
            None => {
                self.last_id += 1;
                let id = self.last_id;
                self.by_id.insert(
                    id,
                    Entry {
                        acl: Arc::new(acls.to_vec()),
                        refs: 0,
                    },
                );
                self.by_list.insert(acls.to_vec(), id);
                id
            }
        };
        self.add_usage(id);
        id
    }

    /// convertLong: the list for an id (-1 → OPEN_ACL_UNSAFE; unknown → empty).
    pub fn get(&self, id: i64) -> Arc<Vec<Acl>> {
        if id == OPEN_UNSAFE_ACL_ID {
            return open_unsafe();
        }
        match self.by_id.get(&id) {
            Some(e) => e.acl.clone(),
            None => Arc::new(Vec::new()),
        }
    }

    pub fn add_usage(&mut self, id: i64) {
        if let Some(e) = self.by_id.get_mut(&id) {
            e.refs += 1;
        }
    }

    pub fn remove_usage(&mut self, id: i64) {
        let Some(e) = self.by_id.get_mut(&id) else {
            return;
        };
        e.refs -= 1;
        if e.refs <= 0
            && let Some(e) = self.by_id.remove(&id)
        {
            self.by_list.remove(e.acl.as_slice());
        }
    }

    /// Number of interned lists (aclCacheSize).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// (id, list) pairs for a snapshot, ascending by id.
    pub fn entries(&self) -> impl Iterator<Item = (i64, &[Acl])> {
        self.by_id.iter().map(|(id, e)| (*id, e.acl.as_slice()))
    }

    /// Reference count of an id (0 if unknown). For tests and invariant checks.
    pub fn refs(&self, id: i64) -> i64 {
        self.by_id.get(&id).map_or(0, |e| e.refs)
    }

    /// Snapshot load: install entries with zero usage (nodes then call `add_usage`,
    /// then `purge_unused`). Later ids are allocated above the largest loaded one.
    pub fn load(&mut self, entries: Vec<(i64, Vec<Acl>)>) {
        self.by_id.clear();
        self.by_list.clear();
        for (id, acl) in entries {
            self.last_id = self.last_id.max(id);
            self.by_list.insert(acl.clone(), id);
            self.by_id.insert(
                id,
                Entry {
                    acl: Arc::new(acl),
                    refs: 0,
                },
            );
        }
    }

    /// Drop entries no node references.
    pub fn purge_unused(&mut self) {
        let dead: Vec<i64> = self
            .by_id
            .iter()
            .filter(|(_, e)| e.refs <= 0)
            .map(|(i, _)| *i)
            .collect();
        for id in dead {
            if let Some(e) = self.by_id.remove(&id) {
                self.by_list.remove(e.acl.as_slice());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::acl::read_acl_unsafe;

    #[test]
    fn interning_and_refcounts() {
        let mut c = AclCache::default();
        let r = c.intern(&read_acl_unsafe());
        assert_eq!(r, 1);
        let o = c.intern(&open_acl_unsafe());
        assert_eq!(o, 2);
        assert_eq!(c.intern(&read_acl_unsafe()), 1);
        assert_eq!(c.refs(1), 2);
        c.remove_usage(1);
        assert_eq!(c.len(), 2);
        c.remove_usage(1);
        assert_eq!(c.len(), 1);
        // Ids are never reused: the next new list gets 3.
        assert_eq!(c.intern(&read_acl_unsafe()), 3);
        assert_eq!(*c.get(-1), open_acl_unsafe());
        assert!(c.get(99).is_empty());
        c.remove_usage(-1);
        c.remove_usage(99);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn load_and_purge() {
        let mut c = AclCache::default();
        c.load(vec![(1, read_acl_unsafe()), (5, open_acl_unsafe())]);
        c.add_usage(5);
        c.purge_unused();
        assert_eq!(c.entries().map(|(i, _)| i).collect::<Vec<_>>(), vec![5]);
        assert_eq!(c.intern(&read_acl_unsafe()), 6);
    }
}
