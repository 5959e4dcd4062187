//! The DataTree: every znode, the ACL table, ephemeral/container/TTL indexes, quota
//! accounting and the running tree digest; `apply` turns a committed `Txn` into changes.
//!
//! Owns: the replicated state and the exact Stat/cversion/pzxid/digest rules of
//! ZooKeeper's DataTree. Must never: do I/O, read the clock (time comes in the TxnHeader),
//! panic on any txn (log replay after a fuzzy snapshot re-applies txns), or fire watches
//! itself (it reports `TreeEvent`s; the `watch` layer maps them to watchers).

pub mod acl;
pub mod acl_cache;
mod apply;
pub mod digest;
pub mod node;
pub mod path;
pub mod quota;
#[cfg(test)]
pub(crate) mod tests;

use crate::jute::Data;
use crate::jute::records::{Acl, Stat, StatPersisted};
use acl_cache::{AclCache, OPEN_UNSAFE_ACL_ID};
use bytes::Bytes;
pub use node::{EphemeralType, Node};
use quota::{QuotaPaths, StatsTrack};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What changed, for watches (Watcher.Event.EventType values via `code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

impl EventKind {
    pub fn code(self) -> i32 {
        use crate::proto::event;
        match self {
            EventKind::NodeCreated => event::NODE_CREATED,
            EventKind::NodeDeleted => event::NODE_DELETED,
            EventKind::NodeDataChanged => event::NODE_DATA_CHANGED,
            EventKind::NodeChildrenChanged => event::NODE_CHILDREN_CHANGED,
        }
    }
}

/// A watch trigger produced while applying a txn. `acl` is the ACL of the node the event
/// is about (the parent's for NodeChildrenChanged): a recipient must have READ on it
/// (ZooKeeper 3.8.4+/3.9.2+, CVE-2024-23944) — the server checks that per watcher.
/// For NodeDeleted the watch layer also notifies child watchers of `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEvent {
    pub path: String,
    pub kind: EventKind,
    pub acl: Arc<Vec<Acl>>,
}

/// The outcome of one (sub-)txn, as DataTree.ProcessTxnResult.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnResult {
    /// `op` is the txn type (1 create, 15 create2, 19 container, 21 TTL): it decides the
    /// reply shape (create replies only the path).
    Created {
        op: i32,
        path: String,
        stat: Stat,
    },
    Deleted,
    DataSet {
        stat: Stat,
    },
    AclSet {
        stat: Stat,
    },
    Checked,
    Multi(Vec<TxnResult>),
    Error(i32),
    SessionCreated,
    SessionClosed,
}

/// Result of `DataTree::apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    pub result: TxnResult,
    pub events: Vec<TreeEvent>,
}

/// The znode tree.
#[derive(Debug, Clone)]
pub struct DataTree {
    /// Keyed by path; the root is "" ("/" is an alias resolved by `path::key`).
    /// ahash (randomly keyed, so clients cannot choose colliding paths) is several times
    /// faster than SipHash on path keys.
    nodes: HashMap<String, Box<Node>, ahash::RandomState>,
    acls: AclCache,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    quotas: QuotaPaths,
    digest: i64,
    data_size: i64,
    extended_types_enabled: bool,
    last_processed_zxid: i64,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree as ZooKeeper starts it: "/", "/zookeeper", "/zookeeper/quota",
    /// "/zookeeper/config" (ACL id 1 = READ world:anyone, aversion -1).
    pub fn new() -> DataTree {
        DataTree::with_extended_types(false)
    }

    /// Like `new`, with `zookeeper.extendedTypesEnabled` (decides TTL decoding).
    pub fn with_extended_types(extended_types_enabled: bool) -> DataTree {
        let mut t = DataTree {
            nodes: HashMap::default(),
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            quotas: QuotaPaths::default(),
            digest: 0,
            data_size: 0,
            extended_types_enabled,
            last_processed_zxid: 0,
        };
        let mk = || Node::new(Data::empty(), OPEN_UNSAFE_ACL_ID, StatPersisted::default());
        let mut root = mk();
        root.children.insert("zookeeper".into());
        let mut zk = mk();
        zk.children.insert("quota".into());
        zk.children.insert("config".into());
        t.insert_raw(String::new(), root);
        t.insert_raw("/zookeeper".into(), zk);
        t.insert_raw(quota::QUOTA_ROOT.into(), mk());
        let mut config = mk();
        config.acl = t.acls.intern(&acl::read_acl_unsafe());
        config.stat.aversion = -1;
        t.insert_raw("/zookeeper/config".into(), config);
        t.data_size = t.compute_data_size();
        t
    }

    fn insert_raw(&mut self, key: String, mut n: Node) {
        n.digest = digest::node_digest(&key, &n.data, &n.stat);
        self.digest = self.digest.wrapping_add(n.digest);
        self.nodes.insert(key, Box::new(n));
    }

    /// Recompute a node's digest after a change and fold the difference into the tree's.
    fn rehash(&mut self, key: &str) {
        if let Some(n) = self.nodes.get_mut(key) {
            let new = digest::node_digest(key, &n.data, &n.stat);
            self.digest = self.digest.wrapping_sub(n.digest).wrapping_add(new);
            n.digest = new;
        }
    }

    /// approximateDataSize as Java computes it from scratch (root under "" and "/").
    fn compute_data_size(&self) -> i64 {
        let mut s = 0i64;
        for (k, n) in &self.nodes {
            s += path::java_len(k) + n.data.len() as i64;
            if k.is_empty() {
                s += 1 + n.data.len() as i64;
            }
        }
        s
    }

    pub fn extended_types_enabled(&self) -> bool {
        self.extended_types_enabled
    }

    // ----- read accessors -------------------------------------------------------------

    /// The node at a client path ("/" = root).
    pub fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path::key(path)).map(|n| &**n)
    }

    pub fn exists(&self, path: &str) -> bool {
        self.node(path).is_some()
    }

    /// Client-visible Stat.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.node(path)
            .map(|n| n.client_stat(self.extended_types_enabled))
    }

    pub fn client_stat(&self, n: &Node) -> Stat {
        n.client_stat(self.extended_types_enabled)
    }

    pub fn get_data(&self, path: &str) -> Option<(Data, Stat)> {
        self.node(path)
            .map(|n| (n.data.clone(), n.client_stat(self.extended_types_enabled)))
    }

    /// Child names (sorted; ZooKeeper's order is unspecified).
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.node(path)
            .map(|n| n.children.iter().cloned().collect())
    }

    /// The node's ACL list (OPEN_ACL_UNSAFE for the null id -1).
    pub fn acl(&self, path: &str) -> Option<Arc<Vec<Acl>>> {
        self.node(path).map(|n| self.acls.get(n.acl))
    }

    /// The ACL list of an ACL id.
    pub fn acl_by_id(&self, id: i64) -> Arc<Vec<Acl>> {
        self.acls.get(id)
    }

    pub fn acl_cache(&self) -> &AclCache {
        &self.acls
    }

    /// getAllChildrenNumber: all descendants ("/" excludes itself, as Java's size()-2).
    pub fn all_children_number(&self, path: &str) -> Option<i32> {
        self.node(path)?;
        if path::key(path).is_empty() {
            return Some(self.nodes.len() as i32 - 1);
        }
        let mut count = 0i64;
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.nodes.get(&p) {
                for c in &n.children {
                    count += 1;
                    stack.push(format!("{p}/{c}"));
                }
            }
        }
        Some(count as i32)
    }

    /// The session's ephemeral paths, sorted.
    pub fn ephemerals_of(&self, session_id: i64) -> Vec<String> {
        self.ephemerals
            .get(&session_id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sessions owning at least one ephemeral (sorted).
    pub fn sessions_with_ephemerals(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self
            .ephemerals
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(k, _)| *k)
            .collect();
        v.sort_unstable();
        v
    }

    /// Every session with ephemerals and its paths, sorted (dump / admin).
    pub fn ephemerals_by_session(&self) -> Vec<(i64, Vec<String>)> {
        self.sessions_with_ephemerals()
            .into_iter()
            .map(|s| (s, self.ephemerals_of(s)))
            .collect()
    }

    /// Total ephemeral nodes (mntr zk_ephemerals_count).
    pub fn ephemerals_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    pub fn containers(&self) -> &BTreeSet<String> {
        &self.containers
    }

    pub fn ttls(&self) -> &BTreeSet<String> {
        &self.ttls
    }

    /// Java's node count: the root is in its map twice ("" and "/").
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// Java's cachedApproximateDataSize (paths in UTF-16 units + data bytes).
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size.max(0) as u64
    }

    /// The tree digest (wrapping sum of node digests).
    pub fn digest(&self) -> i64 {
        self.digest
    }

    /// Highest top-level zxid applied.
    pub fn last_processed_zxid(&self) -> i64 {
        self.last_processed_zxid
    }

    pub fn set_last_processed_zxid(&mut self, zxid: i64) {
        self.last_processed_zxid = zxid;
    }

    /// DataTree.getMaxPrefixWithQuota.
    pub fn max_prefix_with_quota(&self, path: &str) -> Option<String> {
        self.quotas.max_prefix(path)
    }

    /// Nodes to reap now, as ContainerManager.getCandidates: empty containers that had a
    /// child once (cversion > 0), and childless TTL nodes whose mtime is older than their
    /// TTL. Sorted.
    pub fn reapable(&self, now_ms: i64, extended_types_enabled: bool) -> Vec<String> {
        let mut out = BTreeSet::new();
        for p in &self.containers {
            if let Some(n) = self.nodes.get(p)
                && n.children.is_empty()
                && n.stat.cversion > 0
            {
                out.insert(p.clone());
            }
        }
        for p in &self.ttls {
            if let Some(n) = self.nodes.get(p) {
                let owner = n.stat.ephemeral_owner;
                if n.children.is_empty()
                    && node::ephemeral_type(owner, extended_types_enabled) == EphemeralType::Ttl
                {
                    let ttl = node::ttl_of(owner);
                    if ttl != 0 && now_ms.wrapping_sub(n.stat.mtime) > ttl {
                        out.insert(p.clone());
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// Every node in depth-first pre-order from the root (root path ""), children sorted:
    /// what a snapshot writes.
    pub fn preorder(&self) -> Vec<(String, &Node)> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![String::new()];
        while let Some(p) = stack.pop() {
            let Some(n) = self.nodes.get(&p) else {
                continue;
            };
            for c in n.children.iter().rev() {
                stack.push(format!("{p}/{c}"));
            }
            out.push((p, &**n));
        }
        out
    }

    /// Rebuild a tree from snapshot contents (DataTree.deserialize): ACL table entries and
    /// nodes in pre-order (parents first; root path ""). Errors on an orphan node.
    pub fn from_snapshot(
        extended_types_enabled: bool,
        acl_entries: Vec<(i64, Vec<Acl>)>,
        nodes: Vec<(String, Data, i64, StatPersisted)>,
    ) -> Result<DataTree, String> {
        let mut l = DataTree::snapshot_loader(extended_types_enabled, acl_entries);
        l.reserve(nodes.len());
        for (p, data, acl_id, stat) in nodes {
            l.add(p, data, acl_id, stat)?;
        }
        l.finish()
    }

    /// Start rebuilding a tree from a snapshot streamed node by node (see `SnapshotLoader`).
    pub fn snapshot_loader(
        extended_types_enabled: bool,
        acl_entries: Vec<(i64, Vec<Acl>)>,
    ) -> SnapshotLoader {
        let mut t = DataTree::with_extended_types(extended_types_enabled);
        t.nodes.clear();
        t.digest = 0;
        t.acls = AclCache::default();
        t.acls.load(acl_entries);
        SnapshotLoader { t }
    }

    /// DataTree.setupQuota: register every .../zookeeper_limits leaf and recount its stats.
    fn setup_quota(&mut self) {
        let suffix = format!("/{}", quota::LIMIT_NODE);
        let leaves: Vec<String> = self
            .nodes
            .iter()
            .filter(|(k, n)| {
                k.starts_with(quota::QUOTA_ROOT) && n.children.is_empty() && k.ends_with(&suffix)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in leaves {
            let real = &k[quota::QUOTA_ROOT.len()..k.len() - suffix.len()];
            if !real.is_empty() {
                self.update_quota_for_path(real);
                self.quotas.add(real);
            }
        }
    }

    fn index_owner(&mut self, p: &str, owner: i64) {
        match node::ephemeral_type(owner, self.extended_types_enabled) {
            EphemeralType::Container => {
                self.containers.insert(p.to_string());
            }
            EphemeralType::Ttl => {
                self.ttls.insert(p.to_string());
            }
            EphemeralType::Normal => {
                self.ephemerals
                    .entry(owner)
                    .or_default()
                    .insert(p.to_string());
            }
            EphemeralType::Void => {}
        }
    }

    fn unindex_owner(&mut self, p: &str, owner: i64) {
        match node::ephemeral_type(owner, self.extended_types_enabled) {
            EphemeralType::Container => {
                self.containers.remove(p);
            }
            EphemeralType::Ttl => {
                self.ttls.remove(p);
            }
            EphemeralType::Normal => {
                if let Some(s) = self.ephemerals.get_mut(&owner) {
                    s.remove(p);
                    if s.is_empty() {
                        self.ephemerals.remove(&owner);
                    }
                }
            }
            EphemeralType::Void => {}
        }
    }

    /// updateQuotaStat: add to the stats node of quota root `prefix`.
    fn update_quota_stat(&mut self, prefix: &str, bytes_diff: i64, count_diff: i64) {
        let sp = quota::stat_path(prefix);
        let Some(n) = self.nodes.get_mut(&sp) else {
            return;
        };
        let Some(mut st) = StatsTrack::parse(&n.data) else {
            return;
        };
        st.set_count(st.count().wrapping_add(count_diff));
        st.set_bytes(st.bytes().wrapping_add(bytes_diff));
        n.data = Data::new(st.to_text().into_bytes());
        self.rehash(&sp);
    }

    /// updateQuotaForPath: recount the subtree at `p` into its stats node.
    fn update_quota_for_path(&mut self, p: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack = vec![path::key(p).to_string()];
        while let Some(k) = stack.pop() {
            if let Some(n) = self.nodes.get(&k) {
                count += 1;
                bytes += n.data.len() as i64;
                for c in &n.children {
                    stack.push(format!("{k}/{c}"));
                }
            }
        }
        let sp = quota::stat_path(p);
        let Some(n) = self.nodes.get_mut(&sp) else {
            return;
        };
        let mut st = StatsTrack::default();
        st.set_count(count);
        st.set_bytes(bytes);
        n.data = Data::new(st.to_text().into_bytes());
        self.rehash(&sp);
    }

    /// Set the dynamic-config node's data (quorum start-up / reconfig activation).
    pub fn set_config_data(&mut self, data: Bytes, zxid: i64, time: i64) {
        let _ = self.set_data("/zookeeper/config", data.into(), -1, zxid, time);
    }
}

/// Builds a tree from snapshot nodes as they are read (no intermediate list).
pub struct SnapshotLoader {
    t: DataTree,
}

impl SnapshotLoader {
    pub fn reserve(&mut self, n: usize) {
        self.t.nodes.reserve(n);
    }

    /// Add the next node (pre-order: its parent must already be there).
    pub fn add(
        &mut self,
        p: String,
        data: Data,
        acl_id: i64,
        stat: StatPersisted,
    ) -> Result<(), String> {
        let t = &mut self.t;
        t.acls.add_usage(acl_id);
        if let Some((parent, child)) = path::split(&p) {
            let Some(pn) = t.nodes.get_mut(parent) else {
                return Err(format!("unable to find parent {parent} of path {p}"));
            };
            pn.children.insert(child.to_string());
            t.index_owner(&p, stat.ephemeral_owner);
        }
        t.insert_raw(p, Node::new(data, acl_id, stat));
        Ok(())
    }

    pub fn finish(self) -> Result<DataTree, String> {
        let mut t = self.t;
        if !t.nodes.contains_key("") {
            return Err("snapshot has no root".into());
        }
        t.data_size = t.compute_data_size();
        t.setup_quota();
        t.acls.purge_unused();
        Ok(t)
    }
}
