//! Prep: validating a write request against the tree (plus not-yet-applied changes) and
//! turning it into the exact Txn ZooKeeper's PrepRequestProcessor would log.
//!
//! Owns: the order of checks and error codes of every write opcode, sequential names,
//! multi failure shapes, closeSession's ephemeral list, the precomputed TxnDigest, and the
//! outstanding-change overlay (`PendingChanges`, Java's outstandingChanges).
//! Must never: mutate the tree, do I/O or read the clock (zxid and time are handed in),
//! or panic on any request.

pub use super::reply::{answer_create2_subops, create2_subops, write_reply};
use super::{RequestCtx, Txn, TxnBody, codec::body_type};
use crate::jute::Data;
use crate::jute::records::{
    Acl, CheckVersionRequest, CreateTtlRequest, SetAclRequest, SetDataRequest, StatPersisted,
};
use crate::jute::txn::*;
use crate::proto::{MultiOp, Request, err, op, perms};
use crate::tree::node::{self, EphemeralType, new_stat};
use crate::tree::quota::{self, StatsTrack};
use crate::tree::{DataTree, acl, digest, path};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// Server settings prep depends on (Java system properties).
#[derive(Debug, Clone)]
pub struct PrepConfig {
    /// zookeeper.extendedTypesEnabled (TTL nodes).
    pub extended_types_enabled: bool,
    /// zookeeper.enforceQuota (hard quotas → QUOTAEXCEEDED).
    pub enforce_quota: bool,
    /// zookeeper.skipACL=yes.
    pub skip_acl: bool,
    /// The auth providers registered (`authProvider.*`, digest's switch).
    pub providers: acl::Providers,
    /// reconfigEnabled.
    pub reconfig_enabled: bool,
    /// zookeeper.digest.enabled (default true): attach TxnDigest to txns.
    pub digest_enabled: bool,
    /// zookeeper.closeSessionTxn.enabled (default true): list ephemerals in CloseSessionTxn.
    pub close_session_txn_enabled: bool,
}

impl PrepConfig {
    /// skipACL and the providers, for reads and watch delivery.
    pub fn acl_rules(&self) -> acl::AclRules {
        acl::AclRules {
            skip: self.skip_acl,
            providers: self.providers,
        }
    }
}

impl Default for PrepConfig {
    fn default() -> Self {
        PrepConfig {
            extended_types_enabled: false,
            enforce_quota: false,
            skip_acl: false,
            providers: acl::Providers::DEFAULT,
            reconfig_enabled: false,
            digest_enabled: true,
            close_session_txn_enabled: true,
        }
    }
}

/// A node as prep sees it (ChangeRecord without the path).
#[derive(Debug, Clone)]
struct PNode {
    stat: StatPersisted,
    child_count: i32,
    acl: Arc<Vec<Acl>>,
    data: Data,
    digest: i64,
}

#[derive(Debug, Clone)]
struct Change {
    zxid: i64,
    seq: u64,
    path: String,
    /// ephemeralOwner of the node after the change; `None` = deleted.
    owner: Option<i64>,
    tree_digest: i64,
}

type Slot = (u64, Option<PNode>);

/// Prepped-but-not-yet-applied changes (outstandingChanges / outstandingChangesForPath).
/// Call `applied(zxid)` after the tree has applied txn `zxid`.
#[derive(Debug, Default)]
pub struct PendingChanges {
    queue: VecDeque<Change>,
    by_path: HashMap<String, Slot>,
    seq: u64,
    /// While prepping a multi: the by_path slots it overwrote (for rollback).
    saved: Option<Vec<(String, Option<Slot>)>>,
}

impl PendingChanges {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drop the records of every txn with zxid ≤ `zxid` (the tree now reflects them).
    pub fn applied(&mut self, zxid: i64) {
        while let Some(c) = self.queue.front() {
            if c.zxid > zxid {
                break;
            }
            let Some(c) = self.queue.pop_front() else {
                break;
            };
            if self.by_path.get(&c.path).is_some_and(|s| s.0 == c.seq) {
                self.by_path.remove(&c.path);
            }
        }
    }

    /// Forget everything (e.g. the server dropped prepped txns).
    pub fn clear(&mut self) {
        *self = PendingChanges::default();
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Number of outstanding change records.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    fn current_digest(&self, tree: &DataTree) -> i64 {
        self.queue.back().map_or(tree.digest(), |c| c.tree_digest)
    }

    fn push(&mut self, zxid: i64, path: String, node: Option<PNode>, tree_digest: i64) {
        self.seq += 1;
        let owner = node.as_ref().map(|n| n.stat.ephemeral_owner);
        let old = self.by_path.insert(path.clone(), (self.seq, node));
        if let Some(saved) = &mut self.saved
            && !saved.iter().any(|(p, _)| *p == path)
        {
            saved.push((path.clone(), old));
        }
        self.queue.push_back(Change {
            zxid,
            seq: self.seq,
            path,
            owner,
            tree_digest,
        });
    }

    fn begin_multi(&mut self) -> usize {
        self.saved = Some(Vec::new());
        self.queue.len()
    }

    fn rollback(&mut self, checkpoint: usize) {
        self.queue.truncate(checkpoint);
        for (p, slot) in self.saved.take().unwrap_or_default().into_iter().rev() {
            match slot {
                Some(s) => self.by_path.insert(p, s),
                None => self.by_path.remove(&p),
            };
        }
    }

    fn end_multi(&mut self) {
        self.saved = None;
    }
}

struct Prep<'a> {
    tree: &'a DataTree,
    pending: &'a mut PendingChanges,
    ctx: &'a RequestCtx,
    cfg: &'a PrepConfig,
    zxid: i64,
    time: i64,
}

type R<T> = Result<T, i32>;

fn is_special(p: &str) -> bool {
    matches!(
        p,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

/// checkAndIncVersion: BADVERSION unless `expected` is -1 or current; next wraps -1 → 0.
fn check_and_inc(current: i32, expected: i32) -> R<i32> {
    if expected != -1 && expected != current {
        return Err(err::BAD_VERSION);
    }
    let next = current.wrapping_add(1);
    Ok(if next == -1 { 0 } else { next })
}

/// getParentPathAndValidate (delete / deleteContainer / closeSession).
fn parent_and_validate(p: &str) -> R<&str> {
    match p.rfind('/') {
        Some(i) if !p.contains('\0') && !is_special(p) => Ok(&p[..i]),
        _ => Err(err::BAD_ARGUMENTS),
    }
}

fn validate_path(p: &str) -> R<()> {
    if path::validate(p) {
        Ok(())
    } else {
        Err(err::BAD_ARGUMENTS)
    }
}

impl Prep<'_> {
    /// getRecordForPath: the pending view of a node, else the tree's; NONODE if neither.
    fn record(&self, p: &str) -> R<PNode> {
        let key = path::key(p);
        if let Some((_, slot)) = self.pending.by_path.get(key) {
            return slot.clone().ok_or(err::NO_NODE);
        }
        let n = self.tree.node(key).ok_or(err::NO_NODE)?;
        Ok(PNode {
            stat: n.stat(),
            child_count: n.child_count() as i32,
            acl: self.tree.acl_by_id(n.acl),
            data: n.data_value(),
            digest: if self.cfg.digest_enabled {
                n.digest_at(key)
            } else {
                0
            },
        })
    }

    /// addChangeRecord with the precalculated digest (ADD / UPDATE / REMOVE).
    fn put(&mut self, p: &str, node: Option<PNode>) {
        let key = path::key(p).to_string();
        let mut tree_digest = 0;
        let node = match node {
            Some(mut n) if self.cfg.digest_enabled => {
                n.digest = digest::node_digest(&key, &n.data, &n.stat);
                Some(n)
            }
            other => other,
        };
        if self.cfg.digest_enabled {
            let prev = self.record(&key).map_or(0, |n| n.digest);
            let new = node.as_ref().map_or(0, |n| n.digest);
            tree_digest = self
                .pending
                .current_digest(self.tree)
                .wrapping_sub(prev)
                .wrapping_add(new);
        }
        self.pending.push(self.zxid, key, node, tree_digest);
    }

    fn check_acl(&self, acl: &[Acl], perm: i32) -> R<()> {
        if self.cfg.acl_rules().allows(acl, perm, &self.ctx.auth) {
            Ok(())
        } else {
            Err(err::NO_AUTH)
        }
    }

    /// ZooKeeperServer.checkQuota (reads the tree, as Java does). `count_diff` 1 = create.
    fn check_quota(&self, p: &str, bytes_diff: i64, count_diff: i64) -> R<()> {
        if !self.cfg.enforce_quota {
            return Ok(());
        }
        let Some(prefix) = self.tree.max_prefix_with_quota(p) else {
            return Ok(());
        };
        let Some(limit) = self.tree.node(&quota::limit_path(&prefix)) else {
            return Ok(());
        };
        let limits = StatsTrack::parse(limit.data()).ok_or(err::MARSHALLING_ERROR)?;
        let check_count =
            count_diff != 0 && (limits.count() > -1 || limits.count_hard_limit() > -1);
        let check_bytes = bytes_diff != 0 && (limits.bytes() > -1 || limits.byte_hard_limit() > -1);
        if !check_count && !check_bytes {
            return Ok(());
        }
        let Some(stats) = self.tree.node(&quota::stat_path(&prefix)) else {
            return Ok(());
        };
        let cur = StatsTrack::parse(stats.data()).ok_or(err::MARSHALLING_ERROR)?;
        // Client-written counts can be anything: the sums wrap as Java's longs do.
        if check_count
            && quota::exceeds_hard_limit(cur.count(), count_diff, limits.count_hard_limit())
        {
            return Err(err::QUOTA_EXCEEDED);
        }
        if check_bytes
            && quota::exceeds_hard_limit(cur.bytes(), bytes_diff, limits.byte_hard_limit())
        {
            return Err(err::QUOTA_EXCEEDED);
        }
        Ok(())
    }

    /// pRequest2TxnCreate.
    fn create(&mut self, op_code: i32, r: &CreateTtlRequest) -> R<TxnBody> {
        let mode = r.flags;
        if !(0..=6).contains(&mode) {
            return Err(err::BAD_ARGUMENTS);
        }
        let is_ttl = mode == 5 || mode == 6;
        let is_seq = matches!(mode, 2 | 3 | 6);
        let is_eph = mode == 1 || mode == 3;
        if is_ttl && !self.cfg.extended_types_enabled {
            return Err(err::UNIMPLEMENTED);
        }
        let ttl_owner = if is_ttl {
            Some(node::ttl_owner(r.ttl).ok_or(err::BAD_ARGUMENTS)?)
        } else if r.ttl >= 0 {
            return Err(err::BAD_ARGUMENTS);
        } else {
            None
        };
        // validateCreateRequest: after the TTL checks, before the path's.
        if is_eph && let Some(e) = self.ctx.ephemeral_refusal {
            return Err(e);
        }
        let last = r.path.rfind('/').ok_or(err::BAD_ARGUMENTS)?;
        if r.path.contains('\0') {
            return Err(err::BAD_ARGUMENTS);
        }
        let parent_path = &r.path[..last];
        let acl = acl::fixup_acl(&self.ctx.auth, &r.acl, self.cfg.providers)?;
        let parent = self.record(parent_path)?;
        self.check_acl(&parent.acl, perms::CREATE)?;
        let parent_cv = parent.stat.cversion;
        let p = if is_seq {
            format!("{}{:010}", r.path, parent_cv)
        } else {
            r.path.clone()
        };
        validate_path(&p)?;
        if self.record(&p).is_ok() {
            return Err(err::NODE_EXISTS);
        }
        let ext = self.cfg.extended_types_enabled;
        if node::ephemeral_type(parent.stat.ephemeral_owner, ext) == EphemeralType::Normal {
            return Err(err::NO_CHILDREN_FOR_EPHEMERALS);
        }
        let new_cv = parent_cv.wrapping_add(1);
        self.check_quota(&p, r.data.len() as i64, 1)?;
        let body = match op_code {
            op::CREATE_CONTAINER => TxnBody::CreateContainer(CreateContainerTxn {
                path: p.clone(),
                data: r.data.clone(),
                acl: acl.clone(),
                parent_cversion: new_cv,
            }),
            op::CREATE_TTL => TxnBody::CreateTtl(CreateTtlTxn {
                path: p.clone(),
                data: r.data.clone(),
                acl: acl.clone(),
                parent_cversion: new_cv,
                ttl: r.ttl,
            }),
            _ => {
                let c = CreateTxn {
                    path: p.clone(),
                    data: r.data.clone(),
                    acl: acl.clone(),
                    ephemeral: is_eph,
                    parent_cversion: new_cv,
                };
                if op_code == op::CREATE2 {
                    TxnBody::Create2(c)
                } else {
                    TxnBody::Create(c)
                }
            }
        };
        // The owner the tree will give the node, which follows the txn type (Java derives
        // its change record from the mode instead, so e.g. create(1) with the CONTAINER flag
        // makes a persistent node but a container-shaped digest; we keep digests exact).
        let owner = match op_code {
            op::CREATE_CONTAINER => node::CONTAINER_OWNER,
            op::CREATE_TTL => ttl_owner.ok_or(err::BAD_ARGUMENTS)?,
            _ if is_eph => self.ctx.session_id,
            _ => 0,
        };
        let mut parent = parent;
        parent.child_count += 1;
        parent.stat.cversion = new_cv;
        parent.stat.pzxid = self.zxid;
        self.put(parent_path, Some(parent));
        let n = PNode {
            stat: new_stat(self.zxid, self.time, owner),
            child_count: 0,
            acl: Arc::new(acl),
            data: r.data.clone(),
            digest: 0,
        };
        self.put(&p, Some(n));
        Ok(body)
    }

    fn remove_with_parent(&mut self, p: &str, parent_path: &str, mut parent: PNode) {
        parent.child_count -= 1;
        parent.stat.pzxid = self.zxid;
        self.put(parent_path, Some(parent));
        self.put(p, None);
    }

    fn delete(&mut self, p: &str, version: i32) -> R<TxnBody> {
        let parent_path = parent_and_validate(p)?;
        let parent = self.record(parent_path)?;
        self.check_acl(&parent.acl, perms::DELETE)?;
        let n = self.record(p)?;
        check_and_inc(n.stat.version, version)?;
        if n.child_count > 0 {
            return Err(err::NOT_EMPTY);
        }
        self.remove_with_parent(p, parent_path, parent);
        Ok(TxnBody::Delete(DeleteTxn {
            path: p.to_string(),
        }))
    }

    fn delete_container(&mut self, p: &str) -> R<TxnBody> {
        let parent_path = parent_and_validate(p)?;
        let n = self.record(p)?;
        if n.child_count > 0 {
            return Err(err::NOT_EMPTY);
        }
        if node::ephemeral_type(n.stat.ephemeral_owner, self.cfg.extended_types_enabled)
            == EphemeralType::Normal
        {
            return Err(err::BAD_VERSION);
        }
        let parent = self.record(parent_path)?;
        self.remove_with_parent(p, parent_path, parent);
        Ok(TxnBody::DeleteContainer(DeleteTxn {
            path: p.to_string(),
        }))
    }

    fn set_data(&mut self, r: &SetDataRequest) -> R<TxnBody> {
        validate_path(&r.path)?;
        let mut n = self.record(&r.path)?;
        self.check_acl(&n.acl, perms::WRITE)?;
        self.check_quota(&r.path, r.data.len() as i64 - n.data.len() as i64, 0)?;
        let v = check_and_inc(n.stat.version, r.version)?;
        n.stat.version = v;
        n.stat.mtime = self.time;
        n.stat.mzxid = self.zxid;
        n.data = r.data.clone();
        self.put(&r.path, Some(n));
        Ok(TxnBody::SetData(SetDataTxn {
            path: r.path.clone(),
            data: r.data.clone(),
            version: v,
        }))
    }

    fn set_acl(&mut self, r: &SetAclRequest) -> R<TxnBody> {
        validate_path(&r.path)?;
        let acl = acl::fixup_acl(&self.ctx.auth, &r.acl, self.cfg.providers)?;
        let mut n = self.record(&r.path)?;
        self.check_acl(&n.acl, perms::ADMIN)?;
        let v = check_and_inc(n.stat.aversion, r.version)?;
        // As Java, the change record keeps the old ACL until the txn is applied.
        n.stat.aversion = v;
        self.put(&r.path, Some(n));
        Ok(TxnBody::SetAcl(SetAclTxn {
            path: r.path.clone(),
            acl,
            version: v,
        }))
    }

    fn check(&mut self, r: &CheckVersionRequest) -> R<TxnBody> {
        validate_path(&r.path)?;
        let n = self.record(&r.path)?;
        self.check_acl(&n.acl, perms::READ)?;
        // CheckVersionTxn carries the *incremented* version, as Java logs it.
        let v = check_and_inc(n.stat.version, r.version)?;
        Ok(TxnBody::Check(CheckVersionTxn {
            path: r.path.clone(),
            version: v,
        }))
    }

    fn close_session(&mut self, sid: i64) -> R<TxnBody> {
        let mut es: BTreeSet<String> = self.tree.ephemerals_of(sid).into_iter().collect();
        for c in &self.pending.queue {
            match c.owner {
                None => {
                    es.remove(&c.path);
                }
                Some(o) if o == sid => {
                    es.insert(c.path.clone());
                }
                _ => {}
            }
        }
        for p in &es {
            // The parent loses a child, as a delete's prep records it. (Java records only
            // the parent's pzxid, and only with digests on, so a delete of the parent
            // prepped before this txn is applied answers NotEmpty although the close
            // ordered before it emptied the parent: not linearizable. We count the child
            // out; docs/compatibility.md.)
            let parent_path = parent_and_validate(p)?;
            let parent = self.record(parent_path)?;
            if self.cfg.digest_enabled {
                self.record(p)?;
            }
            self.remove_with_parent(p, parent_path, parent);
        }
        let paths2_delete = if self.cfg.close_session_txn_enabled {
            es.into_iter().collect()
        } else {
            Vec::new()
        };
        Ok(TxnBody::CloseSession(CloseSessionTxn { paths2_delete }))
    }

    fn multi_op(&mut self, o: &MultiOp) -> R<TxnBody> {
        match o {
            // 3.9 logs a create2 sub-op as a create2 sub-txn, which a 3.8 member cannot
            // apply (DataTree.processTxn: "Invalid type of op"); a create sub-txn is the
            // same change, and the reply still answers create2 with its Stat
            // (`reply::answer_create2_subops`).
            MultiOp::Create { op_code, req } if *op_code == op::CREATE2 => {
                self.create(op::CREATE, req)
            }
            MultiOp::Create { op_code, req } => self.create(*op_code, req),
            MultiOp::Delete(r) => self.delete(&r.path, r.version),
            MultiOp::SetData(r) => self.set_data(r),
            MultiOp::Check(r) => self.check(r),
            MultiOp::GetChildren(_) | MultiOp::GetData(_) => Err(err::UNIMPLEMENTED),
        }
    }

    fn multi(&mut self, ops: &[MultiOp]) -> TxnBody {
        let checkpoint = self.pending.begin_multi();
        let mut failed = false;
        let mut subs = Vec::with_capacity(ops.len());
        for o in ops {
            if failed {
                subs.push(TxnBody::Error(ErrorTxn {
                    err: err::RUNTIME_INCONSISTENCY,
                }));
                continue;
            }
            match self.multi_op(o) {
                Ok(b) => subs.push(b),
                Err(code) => {
                    failed = true;
                    subs.push(TxnBody::Error(ErrorTxn { err: code }));
                    self.pending.rollback(checkpoint);
                }
            }
        }
        self.pending.end_multi();
        TxnBody::Multi(subs)
    }

    fn finish(self, client_id: i64, cxid: i32, res: R<TxnBody>) -> Txn {
        let (body, digest) = match res {
            Ok(b) => {
                let d = self.cfg.digest_enabled.then(|| TxnDigest {
                    version: digest::DIGEST_VERSION,
                    tree_digest: self.pending.current_digest(self.tree),
                });
                (b, d)
            }
            Err(code) => (TxnBody::Error(ErrorTxn { err: code }), None),
        };
        let header = TxnHeader {
            client_id,
            cxid,
            zxid: self.zxid,
            time: self.time,
            txn_type: body_type(&body),
        };
        Txn {
            header,
            body,
            digest,
        }
    }
}

/// Validate a client write and produce its txn (errors become an error txn that still
/// consumes `zxid`). Later preps see this one's effects through `pending`.
pub fn prep(
    tree: &DataTree,
    pending: &mut PendingChanges,
    ctx: &RequestCtx,
    req: &Request,
    zxid: i64,
    time_ms: i64,
    cfg: &PrepConfig,
) -> Txn {
    let mut p = Prep {
        tree,
        pending,
        ctx,
        cfg,
        zxid,
        time: time_ms,
    };
    let res = match req {
        Request::Create { op_code, req } => p.create(*op_code, req),
        Request::Delete(r) => p.delete(&r.path, r.version),
        Request::SetData(r) => p.set_data(r),
        Request::SetAcl(r) => p.set_acl(r),
        Request::Check(r) => p.check(r),
        Request::Multi(ops) => Ok(p.multi(ops)),
        // Standalone: RECONFIGDISABLED, or UNIMPLEMENTED when enabled (not a leader).
        Request::Reconfig(_) => Err(if cfg.reconfig_enabled {
            err::UNIMPLEMENTED
        } else {
            err::RECONFIG_DISABLED
        }),
        Request::CloseSession => p.close_session(ctx.session_id),
        _ => Err(err::UNIMPLEMENTED),
    };
    p.finish(ctx.session_id, ctx.cxid, res)
}

/// An error txn for a request refused before it is looked at (its session is not live
/// where Java's `checkSession` runs first): it consumes `zxid` like any other.
pub fn prep_refused(session_id: i64, cxid: i32, zxid: i64, time_ms: i64, err: i32) -> Txn {
    let body = TxnBody::Error(ErrorTxn { err });
    Txn {
        header: TxnHeader {
            client_id: session_id,
            cxid,
            zxid,
            time: time_ms,
            txn_type: body_type(&body),
        },
        body,
        digest: None,
    }
}

/// The closeSession txn for an expired session (cxid 0).
pub fn prep_close_session(
    tree: &DataTree,
    pending: &mut PendingChanges,
    session_id: i64,
    zxid: i64,
    time_ms: i64,
    cfg: &PrepConfig,
) -> Txn {
    let ctx = RequestCtx {
        session_id,
        cxid: 0,
        auth: Default::default(),
        ephemeral_refusal: None,
    };
    prep(
        tree,
        pending,
        &ctx,
        &Request::CloseSession,
        zxid,
        time_ms,
        cfg,
    )
}

/// The createSession txn for a new session.
#[allow(clippy::too_many_arguments)]
pub fn prep_create_session(
    tree: &DataTree,
    pending: &mut PendingChanges,
    session_id: i64,
    cxid: i32,
    timeout_ms: i32,
    zxid: i64,
    time_ms: i64,
    cfg: &PrepConfig,
) -> Txn {
    let ctx = RequestCtx {
        session_id,
        cxid,
        auth: Default::default(),
        ephemeral_refusal: None,
    };
    let p = Prep {
        tree,
        pending,
        ctx: &ctx,
        cfg,
        zxid,
        time: time_ms,
    };
    p.finish(
        session_id,
        cxid,
        Ok(TxnBody::CreateSession(CreateSessionTxn {
            time_out: timeout_ms,
        })),
    )
}

/// Server-generated deleteContainer (type 20, clientId 0, cxid 0) for reaping an empty
/// container or expired TTL node, with default settings (digest on) and the tree's
/// extended-types flag.
pub fn prep_delete_container(
    tree: &DataTree,
    pending: &mut PendingChanges,
    path: &str,
    zxid: i64,
    time_ms: i64,
) -> Txn {
    let cfg = PrepConfig {
        extended_types_enabled: tree.extended_types_enabled(),
        ..PrepConfig::default()
    };
    prep_delete_container_with(tree, pending, path, zxid, time_ms, &cfg)
}

/// `prep_delete_container` with explicit settings.
pub fn prep_delete_container_with(
    tree: &DataTree,
    pending: &mut PendingChanges,
    path: &str,
    zxid: i64,
    time_ms: i64,
    cfg: &PrepConfig,
) -> Txn {
    let ctx = RequestCtx::default();
    let mut p = Prep {
        tree,
        pending,
        ctx: &ctx,
        cfg,
        zxid,
        time: time_ms,
    };
    let res = p.delete_container(path);
    p.finish(0, 0, res)
}

#[cfg(test)]
#[path = "prep_tests.rs"]
mod tests;
