//! Node storage: every znode in a chunked arena addressed by `NodeId`, a hash index from
//! (parent id, name) to id for path lookup, and each node's child list.
//!
//! Owns: the memory layout of the tree (no full paths stored, no per-node map entry beyond
//! a 4-byte index slot, no growth copies of the arena), linking and unlinking nodes, and
//! id reuse (held back while a fuzzy snapshot walks ids). Must never: know ZooKeeper
//! semantics — Stat rules, ACLs, digests and quotas belong to `DataTree`.

use super::node::{Node, NodeId};
use hashbrown::HashTable;

/// The root's id; it is created with the store and never removed.
pub const ROOT: NodeId = 0;
/// The parent id of the root.
const NO_PARENT: NodeId = NodeId::MAX;
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

#[derive(Debug, Clone)]
pub struct NodeStore {
    /// Fixed-size chunks: the arena grows a chunk at a time and never moves a node.
    chunks: Vec<Box<[Option<Node>]>>,
    /// Ids free for reuse.
    free: Vec<NodeId>,
    /// While ids are held (a snapshot is walking them), freed ids wait here.
    held: Option<Vec<NodeId>>,
    /// Slots ever handed out (the arena's high-water mark).
    next: NodeId,
    len: usize,
    /// (parent, name) -> id, hashed with a random key so clients cannot pick collisions.
    index: HashTable<NodeId>,
    hasher: ahash::RandomState,
}

fn slot(chunks: &[Box<[Option<Node>]>], id: NodeId) -> Option<&Node> {
    chunks
        .get((id >> CHUNK_BITS) as usize)?
        .get(id as usize & (CHUNK - 1))?
        .as_ref()
}

impl NodeStore {
    /// A store holding just `root` (its name must be "").
    pub fn new(mut root: Node) -> NodeStore {
        root.parent = NO_PARENT;
        root.pos = 0;
        let mut s = NodeStore {
            chunks: Vec::new(),
            free: Vec::new(),
            held: None,
            next: 0,
            len: 0,
            index: HashTable::new(),
            hasher: ahash::RandomState::new(),
        };
        let id = s.alloc(root);
        debug_assert_eq!(id, ROOT);
        s
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Make room for `n` more nodes (snapshot load).
    pub fn reserve(&mut self, n: usize) {
        let chunks = &self.chunks;
        let hasher = &self.hasher;
        self.index.reserve(n, |&id| hash_of(hasher, chunks, id));
    }

    pub fn get(&self, id: NodeId) -> Option<&Node> {
        slot(&self.chunks, id)
    }

    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.chunks
            .get_mut((id >> CHUNK_BITS) as usize)?
            .get_mut(id as usize & (CHUNK - 1))?
            .as_mut()
    }

    /// The child of `parent` called `name`.
    pub fn child(&self, parent: NodeId, name: &str) -> Option<NodeId> {
        let h = self.hasher.hash_one((parent, name.as_bytes()));
        self.index
            .find(h, |&id| {
                slot(&self.chunks, id)
                    .is_some_and(|n| n.parent == parent && n.name_bytes() == name.as_bytes())
            })
            .copied()
    }

    /// The node at a tree key ("" is the root; otherwise "/a/b").
    pub fn lookup(&self, key: &str) -> Option<NodeId> {
        if key.is_empty() {
            return Some(ROOT);
        }
        let rest = key.strip_prefix('/')?;
        let mut id = ROOT;
        for name in rest.split('/') {
            id = self.child(id, name)?;
        }
        Some(id)
    }

    /// Link `node` under `parent` (its name must be new there; the caller checked).
    pub fn insert(&mut self, parent: NodeId, mut node: Node) -> Option<NodeId> {
        let pos = self.get(parent)?.child_count() as u32;
        node.parent = parent;
        node.pos = pos;
        let h = self.hasher.hash_one((parent, node.name_bytes()));
        let id = self.alloc(node);
        let chunks = &self.chunks;
        let hasher = &self.hasher;
        self.index
            .insert_unique(h, id, |&i| hash_of(hasher, chunks, i));
        if let Some(p) = self.get_mut(parent) {
            p.extra.get_or_insert_default().children.push(id);
        }
        Some(id)
    }

    /// Unlink and return a childless node (never the root).
    pub fn remove(&mut self, id: NodeId) -> Option<Node> {
        let n = self.get(id)?;
        if id == ROOT || n.child_count() != 0 {
            return None;
        }
        let (parent, pos) = (n.parent, n.pos as usize);
        let h = self.hasher.hash_one((parent, n.name_bytes()));
        if let Ok(e) = self.index.find_entry(h, |&i| i == id) {
            e.remove();
        }
        // Swap-remove from the parent's list and tell the moved child its new place.
        let moved = self.get_mut(parent).and_then(|p| {
            let x = p.extra.as_mut()?;
            if pos >= x.children.len() || x.children[pos] != id {
                return None;
            }
            x.children.swap_remove(pos);
            let moved = x.children.get(pos).copied();
            // Give back what a once-large directory no longer needs.
            if x.children.capacity() > 64 && x.children.len() < x.children.capacity() / 4 {
                x.children.shrink_to(x.children.len() * 2);
            }
            if x.children.is_empty() {
                p.drop_empty_extra();
            }
            moved
        });
        if let Some(m) = moved.and_then(|m| self.get_mut(m)) {
            m.pos = pos as u32;
        }
        let node = self
            .chunks
            .get_mut((id >> CHUNK_BITS) as usize)?
            .get_mut(id as usize & (CHUNK - 1))?
            .take()?;
        self.len -= 1;
        match self.held.as_mut() {
            Some(h) => h.push(id),
            None => self.free.push(id),
        }
        Some(node)
    }

    /// Stop reusing freed ids until `release_ids`: an id then names the same node for as
    /// long as it exists, so a walker holding ids (the fuzzy snapshot) never confuses a new
    /// node for an old one.
    pub fn hold_ids(&mut self) {
        self.held.get_or_insert_default();
    }

    pub fn release_ids(&mut self) {
        if let Some(h) = self.held.take() {
            self.free.extend(h);
        }
    }

    /// The full key of a node ("" for the root), built from the parent chain.
    pub fn path_of(&self, id: NodeId) -> Option<String> {
        let mut names = Vec::new();
        let mut cur = id;
        while cur != ROOT {
            let n = self.get(cur)?;
            names.push(n.name());
            cur = n.parent;
        }
        let mut p = String::with_capacity(names.iter().map(|s| s.len() + 1).sum());
        for name in names.iter().rev() {
            p.push('/');
            p.push_str(name);
        }
        Some(p)
    }

    /// Every node with its id, in arena order (not a tree order).
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().enumerate().filter_map(move |(i, s)| {
                s.as_ref()
                    .map(|n| (((c as u32) << CHUNK_BITS) | i as u32, n))
            })
        })
    }

    fn alloc(&mut self, node: Node) -> NodeId {
        self.len += 1;
        if let Some(id) = self.free.pop()
            && let Some(s) = self
                .chunks
                .get_mut((id >> CHUNK_BITS) as usize)
                .and_then(|c| c.get_mut(id as usize & (CHUNK - 1)))
        {
            *s = Some(node);
            return id;
        }
        let id = self.next;
        self.next += 1;
        let c = (id >> CHUNK_BITS) as usize;
        if c == self.chunks.len() {
            self.chunks
                .push(std::iter::repeat_with(|| None).take(CHUNK).collect());
        }
        self.chunks[c][id as usize & (CHUNK - 1)] = Some(node);
        id
    }
}

fn hash_of(hasher: &ahash::RandomState, chunks: &[Box<[Option<Node>]>], id: NodeId) -> u64 {
    match slot(chunks, id) {
        Some(n) => hasher.hash_one((n.parent, n.name_bytes())),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::Data;
    use crate::jute::records::StatPersisted;

    fn node(name: &str) -> Node {
        Node::new(name, &Data::from_static(b"d"), -1, StatPersisted::default())
    }

    #[test]
    fn insert_lookup_remove() {
        let mut s = NodeStore::new(node(""));
        let a = s.insert(ROOT, node("a")).unwrap();
        let b = s.insert(a, node("b")).unwrap();
        let c = s.insert(a, node("c")).unwrap();
        let d = s.insert(a, node("d")).unwrap();
        assert_eq!(s.lookup(""), Some(ROOT));
        assert_eq!(s.lookup("/a/c"), Some(c));
        assert_eq!(s.lookup("/a/x"), None);
        assert_eq!(s.lookup("a"), None);
        assert_eq!(s.path_of(d).as_deref(), Some("/a/d"));
        assert_eq!(s.get(a).unwrap().child_ids(), &[b, c, d]);
        // Not removable: the root, and a node with children.
        assert!(s.remove(ROOT).is_none());
        assert!(s.remove(a).is_none());
        assert_eq!(s.remove(b).unwrap().name(), "b");
        // d moved into b's place and knows it.
        assert_eq!(s.get(a).unwrap().child_ids(), &[d, c]);
        assert_eq!(s.get(d).unwrap().pos, 0);
        assert_eq!(s.lookup("/a/b"), None);
        assert_eq!(s.lookup("/a/d"), Some(d));
        assert_eq!(s.len(), 4);
        // Freed ids are reused...
        let e = s.insert(a, node("e")).unwrap();
        assert_eq!(e, b);
        // ...except while held.
        s.hold_ids();
        s.remove(e).unwrap();
        let f = s.insert(a, node("f")).unwrap();
        assert_ne!(f, e);
        s.release_ids();
        let g = s.insert(a, node("g")).unwrap();
        assert_eq!(g, e);
        let all: Vec<_> = s.iter().map(|(_, n)| n.name().to_string()).collect();
        assert_eq!(all.len(), s.len());
    }

    #[test]
    fn many_nodes_across_chunks() {
        let mut s = NodeStore::new(node(""));
        let p = s.insert(ROOT, node("p")).unwrap();
        let ids: Vec<_> = (0..5000)
            .map(|i| s.insert(p, node(&format!("n{i}"))).unwrap())
            .collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(s.lookup(&format!("/p/n{i}")), Some(*id));
        }
        for id in ids.iter().step_by(2) {
            s.remove(*id).unwrap();
        }
        assert_eq!(s.get(p).unwrap().child_count(), 2500);
        for (pos, &c) in s.get(p).unwrap().child_ids().iter().enumerate() {
            assert_eq!(s.get(c).unwrap().pos as usize, pos);
        }
        assert_eq!(s.lookup("/p/n1"), Some(ids[1]));
        assert_eq!(s.lookup("/p/n2"), None);
    }
}
