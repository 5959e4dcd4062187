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
pub mod digest_check;
pub mod node;
pub mod path;
pub mod quota;
pub mod store;
#[cfg(test)]
pub(crate) mod tests;
pub mod walk;

use crate::jute::Data;
use crate::jute::records::{Acl, Stat, StatPersisted};
use acl_cache::{AclCache, OPEN_UNSAFE_ACL_ID};
use bytes::Bytes;
pub use node::{EphemeralType, Node, NodeId};
use quota::{QuotaPaths, StatsTrack};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use store::NodeStore;

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
    /// Every node; the root (key "") is `store::ROOT`, "/" is an alias resolved by
    /// `path::key`.
    nodes: NodeStore,
    acls: AclCache,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    quotas: QuotaPaths,
    digest: i64,
    data_size: i64,
    extended_types_enabled: bool,
    last_processed_zxid: i64,
    /// Comparing `digest` with the history's digests (see `digest_check`).
    digest_check: digest_check::DigestCheck,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

fn empty_node(name: &str) -> Node {
    Node::new(
        name,
        &Data::empty(),
        OPEN_UNSAFE_ACL_ID,
        StatPersisted::default(),
    )
}

impl DataTree {
    /// A fresh tree as ZooKeeper starts it: "/", "/zookeeper", "/zookeeper/quota",
    /// "/zookeeper/config" (ACL id 1 = READ world:anyone, aversion -1).
    pub fn new() -> DataTree {
        DataTree::with_extended_types(false)
    }

    /// Like `new`, with `zookeeper.extendedTypesEnabled` (decides TTL decoding).
    pub fn with_extended_types(extended_types_enabled: bool) -> DataTree {
        let mut t = DataTree::bare(extended_types_enabled, empty_node(""));
        let _ = t.insert_at("/zookeeper", empty_node("zookeeper"));
        let _ = t.insert_at(quota::QUOTA_ROOT, empty_node("quota"));
        let mut config = empty_node("config");
        config.acl = t.acls.intern(&acl::read_acl_unsafe());
        let mut st = config.stat();
        st.aversion = -1;
        config.set_stat(&st);
        let _ = t.insert_at("/zookeeper/config", config);
        t
    }

    /// A tree holding only `root`.
    fn bare(extended_types_enabled: bool, root: Node) -> DataTree {
        let mut t = DataTree {
            nodes: NodeStore::new(root),
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            quotas: QuotaPaths::default(),
            digest: 0,
            data_size: 0,
            extended_types_enabled,
            last_processed_zxid: 0,
            digest_check: Default::default(),
        };
        if let Some(r) = t.nodes.get(store::ROOT) {
            t.digest = r.digest_at("");
            // Java keeps the root under "" and "/": its size counts both.
            t.data_size = 1 + 2 * r.data_len() as i64;
        }
        t
    }

    /// Link a new node at `key` (its parent must exist), counting it into the digest and
    /// the data size.
    fn insert_at(&mut self, key: &str, n: Node) -> Result<NodeId, String> {
        let (parent, _) = path::split(key).ok_or_else(|| format!("invalid path {key}"))?;
        let pid = self
            .nodes
            .lookup(parent)
            .ok_or_else(|| format!("unable to find parent {parent} of path {key}"))?;
        self.insert_under(pid, key, n)
    }

    fn insert_under(&mut self, pid: NodeId, key: &str, n: Node) -> Result<NodeId, String> {
        let digest = n.digest_at(key);
        let size = path::java_len(key) + n.data_len() as i64;
        let id = self
            .nodes
            .insert(pid, n)
            .ok_or_else(|| format!("unable to find parent of path {key}"))?;
        self.digest = self.digest.wrapping_add(digest);
        self.data_size += size;
        Ok(id)
    }

    /// Change node `id` (at `key`) in place, folding its digest change into the tree's.
    fn update(&mut self, key: &str, id: NodeId, f: impl FnOnce(&mut Node)) {
        if let Some(n) = self.nodes.get_mut(id) {
            let old = n.digest_at(key);
            f(n);
            let new = n.digest_at(key);
            self.digest = self.digest.wrapping_sub(old).wrapping_add(new);
        }
    }

    pub fn extended_types_enabled(&self) -> bool {
        self.extended_types_enabled
    }

    // ----- read accessors -------------------------------------------------------------

    /// The node at a client path ("/" = root).
    pub fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(self.nodes.lookup(path::key(path))?)
    }

    /// The node with store id `id` (ids stay valid while the node exists).
    pub fn node_by_id(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// The store id of the node at a client path.
    pub fn node_id(&self, path: &str) -> Option<NodeId> {
        self.nodes.lookup(path::key(path))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.node_id(path).is_some()
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
            .map(|n| (n.data_value(), n.client_stat(self.extended_types_enabled)))
    }

    /// Child names of a node, in the store's order (ZooKeeper's order is unspecified too).
    pub fn child_names(&self, n: &Node) -> Vec<String> {
        n.child_ids()
            .iter()
            .filter_map(|&c| self.nodes.get(c))
            .map(|c| c.name().to_string())
            .collect()
    }

    /// Child names at a path (see `child_names`).
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.node(path).map(|n| self.child_names(n))
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
        let id = self.node_id(path)?;
        if id == store::ROOT {
            return Some(self.nodes.len() as i32 - 1);
        }
        let mut count = 0i64;
        let mut stack = vec![id];
        while let Some(i) = stack.pop() {
            if let Some(n) = self.nodes.get(i) {
                count += n.child_count() as i64;
                stack.extend_from_slice(n.child_ids());
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

    /// The digest comparisons' state (set by the snapshot load, read by `hash`).
    pub fn digest_check(&self) -> &digest_check::DigestCheck {
        &self.digest_check
    }

    /// This tree was loaded from a snapshot named `snapshot_zxid` that was sealed with
    /// `digest` (version `version`) taken at `zxid`: compare it now if the tree is at that
    /// zxid, else once the replay reaches it.
    pub fn loaded_snapshot_digest(
        &mut self,
        zxid: i64,
        version: i32,
        digest: i64,
        snapshot_zxid: i64,
    ) -> Option<digest_check::DigestMismatch> {
        self.digest_check
            .loaded_snapshot_digest(zxid, version, digest, snapshot_zxid);
        self.digest_check.at_zxid(snapshot_zxid, self.digest)
    }

    /// This tree came from a leader's SNAP body (see `DigestCheck::installed_from_snap`).
    pub fn installed_from_snap(&mut self) {
        self.digest_check.installed_from_snap();
    }

    /// After applying txn `zxid`, which came with `logged` (None when it had none or
    /// digests are off): compare the tree's digest with it (and with a snapshot digest
    /// taken at `zxid`). Only reports: the txn stays applied.
    pub fn check_digest(
        &mut self,
        zxid: i64,
        logged: Option<&crate::jute::txn::TxnDigest>,
    ) -> [Option<digest_check::DigestMismatch>; 2] {
        self.digest_check.after_txn(zxid, logged, self.digest)
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
            if let Some(n) = self.node(p)
                && n.child_count() == 0
                && n.stat().cversion > 0
            {
                out.insert(p.clone());
            }
        }
        for p in &self.ttls {
            if let Some(n) = self.node(p) {
                let st = n.stat();
                let owner = st.ephemeral_owner;
                if n.child_count() == 0
                    && node::ephemeral_type(owner, extended_types_enabled) == EphemeralType::Ttl
                {
                    let ttl = node::ttl_of(owner);
                    if ttl != 0 && now_ms.wrapping_sub(st.mtime) > ttl {
                        out.insert(p.clone());
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// Node `id` at `key` and everything under it, in depth-first pre-order (parents
    /// before children), each with its key.
    fn subtree_ids(&self, key: &str, id: NodeId) -> Vec<(String, NodeId)> {
        let mut out = Vec::new();
        let mut stack = vec![(key.to_string(), id)];
        while let Some((p, id)) = stack.pop() {
            let Some(n) = self.nodes.get(id) else {
                continue;
            };
            for &c in n.child_ids().iter().rev() {
                if let Some(cn) = self.nodes.get(c) {
                    stack.push((format!("{p}/{}", cn.name()), c));
                }
            }
            out.push((p, id));
        }
        out
    }

    /// Every node under `key` (itself included) in depth-first pre-order with its key.
    fn subtree(&self, key: &str) -> Vec<(String, &Node)> {
        let Some(id) = self.nodes.lookup(key) else {
            return Vec::new();
        };
        self.subtree_ids(key, id)
            .into_iter()
            .filter_map(|(p, id)| Some((p, self.nodes.get(id)?)))
            .collect()
    }

    /// Every node in depth-first pre-order from the root (root path ""): what a snapshot
    /// writes (parents before children).
    pub fn preorder(&self) -> Vec<(String, &Node)> {
        self.subtree("")
    }

    /// Keep every node's id from being reused until `release_ids` (see `NodeStore`).
    pub fn hold_ids(&mut self) {
        self.nodes.hold_ids();
    }

    pub fn release_ids(&mut self) {
        self.nodes.release_ids();
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
        let mut acls = AclCache::default();
        acls.load(acl_entries);
        SnapshotLoader {
            t: None,
            acls: Some(acls),
            extended_types_enabled,
            last_parent: (String::new(), store::ROOT),
            reserve: 0,
        }
    }

    /// DataTree.setupQuota: register every .../zookeeper_limits leaf and recount its stats.
    fn setup_quota(&mut self) {
        let suffix = format!("/{}", quota::LIMIT_NODE);
        let leaves: Vec<String> = self
            .subtree(quota::QUOTA_ROOT)
            .into_iter()
            .filter(|(k, n)| n.child_count() == 0 && k.ends_with(&suffix))
            .map(|(k, _)| k)
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

    /// The quota stats node of quota root `prefix`: its key and id.
    fn quota_stats_node(&self, prefix: &str) -> Option<(String, NodeId)> {
        let sp = quota::stat_path(prefix);
        let id = self.nodes.lookup(&sp)?;
        Some((sp, id))
    }

    /// Replace the data of the quota stats node `(key, id)` with `st`.
    fn write_quota_stats(&mut self, (key, id): (String, NodeId), st: &StatsTrack) {
        let data = Data::new(st.to_text().into_bytes());
        self.update(&key, id, |n| n.set_data(&data));
    }

    /// updateQuotaStat: add to the stats node of quota root `prefix`.
    fn update_quota_stat(&mut self, prefix: &str, bytes_diff: i64, count_diff: i64) {
        let Some(stats) = self.quota_stats_node(prefix) else {
            return;
        };
        let Some(mut st) = self
            .nodes
            .get(stats.1)
            .and_then(|n| StatsTrack::parse(n.data()))
        else {
            return;
        };
        st.set_count(quota::java_add(st.count(), count_diff));
        st.set_bytes(quota::java_add(st.bytes(), bytes_diff));
        self.write_quota_stats(stats, &st);
    }

    /// updateQuotaForPath: recount the subtree at `p` into its stats node.
    fn update_quota_for_path(&mut self, p: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        if let Some(id) = self.nodes.lookup(path::key(p)) {
            let mut stack = vec![id];
            while let Some(i) = stack.pop() {
                if let Some(n) = self.nodes.get(i) {
                    count += 1;
                    bytes += n.data_len() as i64;
                    stack.extend_from_slice(n.child_ids());
                }
            }
        }
        let Some(stats) = self.quota_stats_node(p) else {
            return;
        };
        let mut st = StatsTrack::default();
        st.set_count(count);
        st.set_bytes(bytes);
        self.write_quota_stats(stats, &st);
    }

    /// Set the dynamic-config node's data (quorum start-up / reconfig activation).
    pub fn set_config_data(&mut self, data: Bytes, zxid: i64, time: i64) {
        let _ = self.set_data("/zookeeper/config", data.into(), -1, zxid, time);
    }
}

/// Builds a tree from snapshot nodes as they are read (no intermediate list).
pub struct SnapshotLoader {
    /// Created by the first node, which must be the root.
    t: Option<DataTree>,
    acls: Option<AclCache>,
    extended_types_enabled: bool,
    /// The parent of the previous node: pre-order puts siblings together, so this saves
    /// most parent lookups.
    last_parent: (String, NodeId),
    reserve: usize,
}

impl SnapshotLoader {
    pub fn reserve(&mut self, n: usize) {
        match self.t.as_mut() {
            Some(t) => t.nodes.reserve(n),
            None => self.reserve = n,
        }
    }

    /// Add the next node (pre-order: its parent must already be there).
    pub fn add(
        &mut self,
        p: String,
        data: Data,
        acl_id: i64,
        stat: StatPersisted,
    ) -> Result<(), String> {
        let Some(t) = self.t.as_mut() else {
            if !p.is_empty() {
                return Err(format!("snapshot starts with {p}, not the root"));
            }
            let mut t = DataTree::bare(
                self.extended_types_enabled,
                Node::new("", &data, acl_id, stat),
            );
            t.acls = self.acls.take().unwrap_or_default();
            t.acls.add_usage(acl_id);
            t.nodes.reserve(self.reserve);
            self.t = Some(t);
            return Ok(());
        };
        t.acls.add_usage(acl_id);
        let Some((parent, child)) = path::split(&p) else {
            return Err(format!("invalid path {p} in snapshot"));
        };
        let pid = if parent == self.last_parent.0 {
            self.last_parent.1
        } else {
            let pid = t
                .nodes
                .lookup(parent)
                .ok_or_else(|| format!("unable to find parent {parent} of path {p}"))?;
            self.last_parent = (parent.to_string(), pid);
            pid
        };
        if let Some(dup) = t.nodes.child(pid, child) {
            // Java's deserialize lets a later copy replace an earlier one.
            let old_len = t.nodes.get(dup).map_or(0, |n| n.data_len() as i64);
            t.data_size += data.len() as i64 - old_len;
            t.update(&p, dup, |n| {
                n.set_data(&data);
                n.set_stat(&stat);
                n.acl = acl_id;
            });
            return Ok(());
        }
        t.insert_under(pid, &p, Node::new(child, &data, acl_id, stat))?;
        t.index_owner(&p, stat.ephemeral_owner);
        Ok(())
    }

    pub fn finish(self) -> Result<DataTree, String> {
        let Some(mut t) = self.t else {
            return Err("snapshot has no root".into());
        };
        t.setup_quota();
        t.acls.purge_unused();
        Ok(t)
    }
}
