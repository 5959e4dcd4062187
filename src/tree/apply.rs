//! Applying committed txns to the DataTree (DataTree.processTxn and its helpers).
//!
//! Owns: createNode/deleteNode/setData/setACL/killSession semantics incl. replay
//! tolerance. Must never: panic or validate (prep already did; replay must not fail).

use super::node::{self, Node, new_stat};
use super::{ApplyOutcome, DataTree, EventKind, TreeEvent, TxnResult, path, quota};
use crate::jute::Data;
use crate::jute::records::{Acl, Stat};
use crate::proto::{err, op};
use crate::txn::{Txn, TxnBody};

type Events = Vec<TreeEvent>;

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
        let created = |op: i32, path: &str, r: Result<Stat, i32>| match r {
            Ok(stat) => TxnResult::Created {
                op,
                path: path.to_string(),
                stat,
            },
            Err(e) => TxnResult::Error(e),
        };
        match body {
            TxnBody::Create(c) => {
                let owner = if c.ephemeral { sid } else { 0 };
                let r = self.create_node(
                    &c.path,
                    &c.data,
                    &c.acl,
                    owner,
                    c.parent_cversion,
                    zxid,
                    time,
                    ev,
                );
                // Replay fix-up (ZOOKEEPER-1269): bring the parent's cversion/pzxid forward.
                if r == Err(err::NODE_EXISTS)
                    && let Some((parent, _)) = path::split(&c.path)
                    && let Err(e) = self.set_cversion_pzxid(parent, c.parent_cversion, zxid)
                {
                    return TxnResult::Error(e);
                }
                created(op::CREATE, &c.path, r)
            }
            TxnBody::Create2(c) => {
                let owner = if c.ephemeral { sid } else { 0 };
                let r = self.create_node(
                    &c.path,
                    &c.data,
                    &c.acl,
                    owner,
                    c.parent_cversion,
                    zxid,
                    time,
                    ev,
                );
                created(op::CREATE2, &c.path, r)
            }
            TxnBody::CreateTtl(c) => {
                let r = match node::ttl_owner(c.ttl) {
                    Some(owner) => self.create_node(
                        &c.path,
                        &c.data,
                        &c.acl,
                        owner,
                        c.parent_cversion,
                        zxid,
                        time,
                        ev,
                    ),
                    None => Err(err::BAD_ARGUMENTS),
                };
                created(op::CREATE_TTL, &c.path, r)
            }
            TxnBody::CreateContainer(c) => {
                let r = self.create_node(
                    &c.path,
                    &c.data,
                    &c.acl,
                    node::CONTAINER_OWNER,
                    c.parent_cversion,
                    zxid,
                    time,
                    ev,
                );
                created(op::CREATE_CONTAINER, &c.path, r)
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

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        p: &str,
        data: &Data,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        ev: &mut Events,
    ) -> Result<Stat, i32> {
        let (parent_key, child) = path::split(p).ok_or(err::NO_NODE)?;
        let parent_acl_id = self.nodes.get(parent_key).ok_or(err::NO_NODE)?.acl;
        let parent_acl = self.acls.get(parent_acl_id);
        let acl_id = self.acls.intern(acl);
        let key = path::key(p);
        if let Some(existing) = self.nodes.get_mut(key) {
            // As Java: the existing node takes the new ACL id (the old usage is not released).
            existing.acl = acl_id;
            return Err(err::NODE_EXISTS);
        }
        if let Some(parent) = self.nodes.get_mut(parent_key) {
            let new_cv = if parent_cversion == -1 {
                parent.stat.cversion.wrapping_add(1)
            } else {
                parent_cversion
            };
            if new_cv > parent.stat.cversion {
                parent.stat.cversion = new_cv;
                parent.stat.pzxid = zxid;
            }
            parent.children.insert(child.to_string());
        }
        self.rehash(parent_key);
        let n = Node::new(data.clone(), acl_id, new_stat(zxid, time, owner));
        let stat = n.client_stat(self.extended_types_enabled);
        self.data_size += path::java_len(key) + data.len() as i64;
        self.insert_raw(key.to_string(), n);
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
        let parent = self.nodes.get_mut(parent_key).ok_or(err::NO_NODE)?;
        // As Java: the parent is touched before the node is looked up.
        parent.children.remove(child);
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        let parent_acl_id = parent.acl;
        self.rehash(parent_key);
        let n = self.remove_subtree(key).ok_or(err::NO_NODE)?;
        if let Some(trimmed) = parent_key.strip_prefix(quota::QUOTA_ROOT)
            && child == quota::LIMIT_NODE
            && !trimmed.is_empty()
        {
            self.quotas.delete(trimmed);
        }
        if let Some(prefix) = self.quotas.max_prefix(p) {
            self.update_quota_stat(&prefix, -(n.data.len() as i64), -1);
        }
        ev.push(TreeEvent {
            path: p.to_string(),
            kind: EventKind::NodeDeleted,
            acl: self.acls_of_removed(&n),
        });
        ev.push(TreeEvent {
            path: path::watch_path(parent_key).to_string(),
            kind: EventKind::NodeChildrenChanged,
            acl: self.acls.get(parent_acl_id),
        });
        Ok(())
    }

    /// The removed node's ACL was captured before its usage was released.
    fn acls_of_removed(&self, n: &RemovedNode) -> std::sync::Arc<Vec<Acl>> {
        n.acl.clone()
    }

    /// Remove a node (and, unlike Java which would orphan them, any descendants a
    /// malformed txn left behind) from every index.
    fn remove_subtree(&mut self, key: &str) -> Option<RemovedNode> {
        let n = self.nodes.remove(key)?;
        let acl = self.acls.get(n.acl);
        self.forget(key, &n);
        let mut stack: Vec<String> = n.children.iter().map(|c| format!("{key}/{c}")).collect();
        while let Some(k) = stack.pop() {
            if let Some(c) = self.nodes.remove(&k) {
                stack.extend(c.children.iter().map(|g| format!("{k}/{g}")));
                self.forget(&k, &c);
            }
        }
        Some(RemovedNode { data: n.data, acl })
    }

    fn forget(&mut self, key: &str, n: &Node) {
        self.digest = self.digest.wrapping_sub(n.digest);
        self.acls.remove_usage(n.acl);
        self.data_size -= path::java_len(key) + n.data.len() as i64;
        self.unindex_owner(key, n.stat.ephemeral_owner);
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
        let ext = self.extended_types_enabled;
        let n = self.nodes.get_mut(key).ok_or(err::NO_NODE)?;
        let old_len = n.data.len() as i64;
        let new_len = data.len() as i64;
        n.data = data;
        n.stat.mtime = time;
        n.stat.mzxid = zxid;
        n.stat.version = version;
        let acl_id = n.acl;
        self.rehash(key);
        let stat = self
            .nodes
            .get(key)
            .map(|n| n.client_stat(ext))
            .unwrap_or_default();
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

    /// DataTree.setACL (version is the new aversion). Releases the old list first, so
    /// re-setting a list whose only user is this node gives it a fresh id, as in Java.
    fn set_acl(&mut self, p: &str, acl: &[Acl], version: i32) -> Result<Stat, i32> {
        let key = path::key(p);
        let old = self.nodes.get(key).ok_or(err::NO_NODE)?.acl;
        self.acls.remove_usage(old);
        let id = self.acls.intern(acl);
        let ext = self.extended_types_enabled;
        let n = self.nodes.get_mut(key).ok_or(err::NO_NODE)?;
        n.stat.aversion = version;
        n.acl = id;
        self.rehash(key);
        Ok(self
            .nodes
            .get(key)
            .map(|n| n.client_stat(ext))
            .unwrap_or_default())
    }

    /// DataTree.setCversionPzxid.
    fn set_cversion_pzxid(&mut self, p: &str, new_cversion: i32, zxid: i64) -> Result<(), i32> {
        let p = p.strip_suffix('/').unwrap_or(p);
        let key = path::key(p);
        let n = self.nodes.get_mut(key).ok_or(err::NO_NODE)?;
        let cv = if new_cversion == -1 {
            n.stat.cversion.wrapping_add(1)
        } else {
            new_cversion
        };
        if cv > n.stat.cversion {
            n.stat.cversion = cv;
            n.stat.pzxid = zxid;
            self.rehash(key);
        }
        Ok(())
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
    data: Data,
    acl: std::sync::Arc<Vec<Acl>>,
}
