//! Applying committed txns to the DataTree (DataTree.processTxn and its helpers).
//!
//! Owns: createNode/deleteNode/setData/setACL/killSession semantics incl. replay
//! tolerance. Must never: panic or validate (prep already did; replay must not fail).

use super::node::{self, Node, NodeId, new_stat};
use super::{ApplyOutcome, DataTree, EventKind, TreeEvent, TxnResult, path, quota};
use crate::jute::Data;
use crate::jute::records::{Acl, Stat};
use crate::jute::txn::CreateTxn;
use crate::jute::txn::{Txn, TxnBody};
use crate::proto::{err, op};

type Events = Vec<TreeEvent>;

fn new_node(op: i32, c: &CreateTxn, owner: Option<i64>) -> NewNode<'_> {
    NewNode {
        op,
        path: &c.path,
        data: &c.data,
        acl: &c.acl,
        parent_cversion: c.parent_cversion,
        owner,
    }
}

/// What a create txn (create, create2, TTL, container) asks for.
struct NewNode<'a> {
    /// The txn type, which decides the reply shape.
    op: i32,
    path: &'a str,
    data: &'a Data,
    acl: &'a [Acl],
    parent_cversion: i32,
    /// The ephemeralOwner to store; `None` for an invalid TTL.
    owner: Option<i64>,
}

impl DataTree {
    /// Apply a committed txn; returns the client-visible result and the watch triggers.
    pub fn apply(&mut self, txn: &Txn) -> ApplyOutcome {
        let h = &txn.header;
        let mut events = Vec::new();
        let result = self.apply_body(h.client_id, h.zxid, h.time, &txn.body, &mut events);
        if h.zxid > self.last_processed_zxid {
            self.last_processed_zxid = h.zxid;
        }
        ApplyOutcome { result, events }
    }

    fn apply_body(
        &mut self,
        sid: i64,
        zxid: i64,
        time: i64,
        body: &TxnBody,
        ev: &mut Events,
    ) -> TxnResult {
        match body {
            TxnBody::Create(c) | TxnBody::Create2(c) => {
                let op = if matches!(body, TxnBody::Create(_)) {
                    op::CREATE
                } else {
                    op::CREATE2
                };
                let owner = Some(if c.ephemeral { sid } else { 0 });
                self.apply_create(new_node(op, c, owner), zxid, time, ev)
            }
            TxnBody::CreateTtl(c) => {
                let n = NewNode {
                    op: op::CREATE_TTL,
                    path: &c.path,
                    data: &c.data,
                    acl: &c.acl,
                    parent_cversion: c.parent_cversion,
                    owner: node::ttl_owner(c.ttl),
                };
                self.apply_create(n, zxid, time, ev)
            }
            TxnBody::CreateContainer(c) => {
                let n = NewNode {
                    op: op::CREATE_CONTAINER,
                    path: &c.path,
                    data: &c.data,
                    acl: &c.acl,
                    parent_cversion: c.parent_cversion,
                    owner: Some(node::CONTAINER_OWNER),
                };
                self.apply_create(n, zxid, time, ev)
            }
            TxnBody::Delete(d) | TxnBody::DeleteContainer(d) => {
                match self.delete_node(&d.path, zxid, ev) {
                    Ok(()) => TxnResult::Deleted,
                    Err(e) => TxnResult::Error(e),
                }
            }
            TxnBody::SetData(s) | TxnBody::Reconfig(s) => {
                match self.set_data_ev(&s.path, s.data.clone(), s.version, zxid, time, ev) {
                    Ok(stat) => TxnResult::DataSet { stat },
                    Err(e) => TxnResult::Error(e),
                }
            }
            TxnBody::SetAcl(s) => match self.set_acl(&s.path, &s.acl, s.version) {
                Ok(stat) => TxnResult::AclSet { stat },
                Err(e) => TxnResult::Error(e),
            },
            TxnBody::CreateSession(_) => TxnResult::SessionCreated,
            TxnBody::CloseSession(c) => {
                self.kill_session(sid, zxid, &c.paths2_delete, ev);
                TxnResult::SessionClosed
            }
            TxnBody::Error(e) => TxnResult::Error(e.err),
            TxnBody::Check(_) => TxnResult::Checked,
            TxnBody::Multi(subs) => TxnResult::Multi(self.apply_multi(sid, zxid, time, subs, ev)),
        }
    }

    fn apply_multi(
        &mut self,
        sid: i64,
        zxid: i64,
        time: i64,
        subs: &[TxnBody],
        ev: &mut Events,
    ) -> Vec<TxnResult> {
        let failed = subs.iter().any(|s| matches!(s, TxnBody::Error(_)));
        let mut post_failed = false;
        let mut out = Vec::with_capacity(subs.len());
        for sub in subs {
            let r = match sub {
                TxnBody::Error(e) => {
                    post_failed = true;
                    TxnResult::Error(e.err)
                }
                _ if failed => TxnResult::Error(if post_failed {
                    err::RUNTIME_INCONSISTENCY
                } else {
                    err::OK
                }),
                TxnBody::Create(_)
                | TxnBody::Create2(_)
                | TxnBody::CreateTtl(_)
                | TxnBody::CreateContainer(_)
                | TxnBody::Delete(_)
                | TxnBody::DeleteContainer(_)
                | TxnBody::SetData(_)
                | TxnBody::Check(_) => self.apply_body(sid, zxid, time, sub, ev),
                // Not a valid multi sub-txn (Java aborts with an IOException).
                _ => TxnResult::Error(err::MARSHALLING_ERROR),
            };
            out.push(r);
        }
        out
    }

    /// One create txn: the node, then the reply.
    fn apply_create(&mut self, c: NewNode, zxid: i64, time: i64, ev: &mut Events) -> TxnResult {
        let r = match c.owner {
            Some(owner) => self.create_node(&c, owner, zxid, time, ev),
            None => Err(err::BAD_ARGUMENTS),
        };
        // Replay fix-up (ZOOKEEPER-1269), for plain create only as in Java: bring the
        // parent's cversion/pzxid forward.
        if c.op == op::CREATE
            && r == Err(err::NODE_EXISTS)
            && let Some((parent, _)) = path::split(c.path)
            && let Err(e) = self.set_cversion_pzxid(parent, c.parent_cversion, zxid)
        {
            return TxnResult::Error(e);
        }
        match r {
            Ok(stat) => TxnResult::Created {
                op: c.op,
                path: c.path.to_string(),
                stat,
            },
            Err(e) => TxnResult::Error(e),
        }
    }

    fn create_node(
        &mut self,
        c: &NewNode,
        owner: i64,
        zxid: i64,
        time: i64,
        ev: &mut Events,
    ) -> Result<Stat, i32> {
        let (p, data, acl, parent_cversion) = (c.path, c.data, c.acl, c.parent_cversion);
        let (parent_key, child) = path::split(p).ok_or(err::NO_NODE)?;
        let pid = self.nodes.lookup(parent_key).ok_or(err::NO_NODE)?;
        let parent_acl_id = self.nodes.get(pid).ok_or(err::NO_NODE)?.acl;
        let parent_acl = self.acls.get(parent_acl_id);
        let acl_id = self.acls.intern(acl);
        let key = path::key(p);
        // ("/" splits into the root's key and "": it names the root itself.)
        let existing = if key.is_empty() {
            Some(super::store::ROOT)
        } else {
            self.nodes.child(pid, child)
        };
        if let Some(existing) = existing.and_then(|i| self.nodes.get_mut(i)) {
            // As Java: the existing node takes the new ACL id (the old usage is not released).
            existing.acl = acl_id;
            return Err(err::NODE_EXISTS);
        }
        self.raise_cversion(parent_key, pid, parent_cversion, zxid);
        let n = Node::new(child, data, acl_id, new_stat(zxid, time, owner));
        let stat = n.client_stat(self.extended_types_enabled);
        if self.insert_under(pid, key, n).is_err() {
            return Err(err::NO_NODE);
        }
        self.index_owner(key, owner);
        if let Some(trimmed) = parent_key.strip_prefix(quota::QUOTA_ROOT)
            && !trimmed.is_empty()
        {
            if child == quota::LIMIT_NODE {
                self.quotas.add(trimmed);
            }
            if child == quota::STAT_NODE {
                self.update_quota_for_path(trimmed);
            }
        }
        if let Some(prefix) = self.quotas.max_prefix(p) {
            self.update_quota_stat(&prefix, data.len() as i64, 1);
        }
        ev.push(TreeEvent {
            path: p.to_string(),
            kind: EventKind::NodeCreated,
            acl: self.acls.get(acl_id),
        });
        ev.push(TreeEvent {
            path: path::watch_path(parent_key).to_string(),
            kind: EventKind::NodeChildrenChanged,
            acl: parent_acl,
        });
        Ok(stat)
    }

    fn delete_node(&mut self, p: &str, zxid: i64, ev: &mut Events) -> Result<(), i32> {
        let (parent_key, child) = path::split(p).ok_or(err::NO_NODE)?;
        let key = path::key(p);
        if key.is_empty() {
            // The root can never go (Java would drop its "/" alias; prep rejects this).
            return Err(err::BAD_ARGUMENTS);
        }
        let pid = self.nodes.lookup(parent_key).ok_or(err::NO_NODE)?;
        let parent_acl_id = self.nodes.get(pid).ok_or(err::NO_NODE)?.acl;
        // As Java: the parent's pzxid moves before the node is looked up.
        self.update(parent_key, pid, |parent| {
            let mut st = parent.stat();
            if zxid > st.pzxid {
                st.pzxid = zxid;
                parent.set_stat(&st);
            }
        });
        let id = self.nodes.child(pid, child).ok_or(err::NO_NODE)?;
        // Unlinking the node changes the parent's child count, which is not in the digest.
        let n = self.remove_subtree(key, id).ok_or(err::NO_NODE)?;
        if let Some(trimmed) = parent_key.strip_prefix(quota::QUOTA_ROOT)
            && child == quota::LIMIT_NODE
            && !trimmed.is_empty()
        {
            self.quotas.delete(trimmed);
        }
        if let Some(prefix) = self.quotas.max_prefix(p) {
            self.update_quota_stat(&prefix, -(n.data_len as i64), -1);
        }
        ev.push(TreeEvent {
            path: p.to_string(),
            kind: EventKind::NodeDeleted,
            acl: n.acl,
        });
        ev.push(TreeEvent {
            path: path::watch_path(parent_key).to_string(),
            kind: EventKind::NodeChildrenChanged,
            acl: self.acls.get(parent_acl_id),
        });
        Ok(())
    }

    /// Remove node `id` at `key` (and, unlike Java which would orphan them, any
    /// descendants a malformed txn left behind) from every index.
    fn remove_subtree(&mut self, key: &str, id: NodeId) -> Option<RemovedNode> {
        let acl = self.acls.get(self.nodes.get(id)?.acl);
        // Pre-order puts parents first: unlink in reverse, children first; the node itself
        // comes last.
        let mut data_len = 0;
        for (k, nid) in self.subtree_ids(key, id).into_iter().rev() {
            if let Some(n) = self.nodes.remove(nid) {
                data_len = n.data_len();
                self.forget(&k, &n);
            }
        }
        Some(RemovedNode { data_len, acl })
    }

    fn forget(&mut self, key: &str, n: &Node) {
        self.digest = self.digest.wrapping_sub(n.digest_at(key));
        self.acls.remove_usage(n.acl);
        self.data_size -= path::java_len(key) + n.data_len() as i64;
        self.unindex_owner(key, n.ephemeral_owner());
    }

    /// DataTree.setData (version is the new version, as logged).
    pub(crate) fn set_data(
        &mut self,
        p: &str,
        data: Data,
        version: i32,
        zxid: i64,
        time: i64,
    ) -> Result<Stat, i32> {
        let mut ev = Vec::new();
        self.set_data_ev(p, data, version, zxid, time, &mut ev)
    }

    fn set_data_ev(
        &mut self,
        p: &str,
        data: Data,
        version: i32,
        zxid: i64,
        time: i64,
        ev: &mut Events,
    ) -> Result<Stat, i32> {
        let key = path::key(p);
        let id = self.nodes.lookup(key).ok_or(err::NO_NODE)?;
        let n = self.nodes.get(id).ok_or(err::NO_NODE)?;
        let old_len = n.data_len() as i64;
        let new_len = data.len() as i64;
        let acl_id = n.acl;
        self.update(key, id, |n| {
            n.set_data(&data);
            let mut st = n.stat();
            st.mtime = time;
            st.mzxid = zxid;
            st.version = version;
            n.set_stat(&st);
        });
        let stat = self.stat_of(id);
        if let Some(prefix) = self.quotas.max_prefix(p) {
            self.update_quota_stat(&prefix, new_len - old_len, 0);
        }
        self.data_size += new_len - old_len;
        ev.push(TreeEvent {
            path: p.to_string(),
            kind: EventKind::NodeDataChanged,
            acl: self.acls.get(acl_id),
        });
        Ok(stat)
    }

    fn stat_of(&self, id: NodeId) -> Stat {
        self.nodes
            .get(id)
            .map(|n| n.client_stat(self.extended_types_enabled))
            .unwrap_or_default()
    }

    /// DataTree.setACL (version is the new aversion). Releases the old list first, so
    /// re-setting a list whose only user is this node gives it a fresh id, as in Java.
    fn set_acl(&mut self, p: &str, acl: &[Acl], version: i32) -> Result<Stat, i32> {
        let key = path::key(p);
        let id = self.nodes.lookup(key).ok_or(err::NO_NODE)?;
        let old = self.nodes.get(id).ok_or(err::NO_NODE)?.acl;
        self.acls.remove_usage(old);
        let acl_id = self.acls.intern(acl);
        self.update(key, id, |n| {
            let mut st = n.stat();
            st.aversion = version;
            n.set_stat(&st);
            n.acl = acl_id;
        });
        Ok(self.stat_of(id))
    }

    /// DataTree.setCversionPzxid.
    fn set_cversion_pzxid(&mut self, p: &str, new_cversion: i32, zxid: i64) -> Result<(), i32> {
        let p = p.strip_suffix('/').unwrap_or(p);
        let key = path::key(p);
        let id = self.nodes.lookup(key).ok_or(err::NO_NODE)?;
        self.raise_cversion(key, id, new_cversion, zxid);
        Ok(())
    }

    /// Set node `id`'s cversion to `new_cversion` (-1: one more than now) and its pzxid to
    /// `zxid`, but only if that raises the cversion (replay must not move it back).
    fn raise_cversion(&mut self, key: &str, id: NodeId, new_cversion: i32, zxid: i64) {
        self.update(key, id, |n| {
            let mut st = n.stat();
            let cv = if new_cversion == -1 {
                st.cversion.wrapping_add(1)
            } else {
                new_cversion
            };
            if cv > st.cversion {
                st.cversion = cv;
                st.pzxid = zxid;
                n.set_stat(&st);
            }
        });
    }

    /// DataTree.killSession: delete the txn's paths, then any ephemerals still indexed.
    fn kill_session(&mut self, session: i64, zxid: i64, in_txn: &[String], ev: &mut Events) {
        let mut local = self.ephemerals.remove(&session).unwrap_or_default();
        for p in in_txn {
            let _ = self.delete_node(p, zxid, ev);
            local.remove(p);
        }
        for p in local {
            let _ = self.delete_node(&p, zxid, ev);
        }
    }
}

struct RemovedNode {
    data_len: usize,
    acl: std::sync::Arc<Vec<Acl>>,
}
