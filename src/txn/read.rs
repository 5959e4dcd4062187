//! Read-only requests against the tree (FinalRequestProcessor's read branches): exists,
//! getData, getChildren(2), getACL, getAllChildrenNumber, getEphemerals, multiRead, sync,
//! whoAmI, and the watch requests (checkWatches, removeWatches, addWatch, setWatches).
//!
//! Owns: ZooKeeper's order of checks (NONODE before NOAUTH except for exists), READ/ADMIN
//! requirements, digest-id masking in getACL, and watch registration semantics.
//! Must never: change the tree, or block.

use super::RequestCtx;
use crate::jute::records::*;
use crate::proto::{MultiOp, MultiResult, Request, Response, err, event, perms};
use crate::tree::{DataTree, acl};
use crate::watch::{WatchManager, WatcherId};

/// The reply to a read: (err, body, fired). `fired` are notifications (event type, path)
/// that setWatches produced immediately; send them to this connection before the reply.
pub type ReadReply = (i32, Response, Vec<(i32, String)>);

struct Reader<'a> {
    tree: &'a DataTree,
    ctx: &'a RequestCtx,
    rules: acl::AclRules,
}

impl Reader<'_> {
    fn check(&self, acl: &[Acl], perm: i32) -> Result<(), i32> {
        if self.rules.allows(acl, perm, &self.ctx.auth) {
            Ok(())
        } else {
            Err(err::NO_AUTH)
        }
    }

    /// NONODE, then `perm` on the node's ACL.
    fn node_checked(&self, path: &str, perm: i32) -> Result<&crate::tree::Node, i32> {
        let n = self.tree.node(path).ok_or(err::NO_NODE)?;
        self.check(&self.tree.acl_by_id(n.acl), perm)?;
        Ok(n)
    }

    fn get_data(
        &self,
        r: &PathWatchRequest,
        w: &mut WatchManager,
        id: WatcherId,
    ) -> Result<GetDataResponse, i32> {
        let n = self.node_checked(&r.path, perms::READ)?;
        if r.watch {
            w.add_data_watch(&r.path, id);
        }
        Ok(GetDataResponse {
            data: n.data_value(),
            stat: self.tree.client_stat(n),
        })
    }

    fn get_children(
        &self,
        r: &PathWatchRequest,
        w: &mut WatchManager,
        id: WatcherId,
    ) -> Result<(Vec<String>, Stat), i32> {
        let n = self.node_checked(&r.path, perms::READ)?;
        if r.watch {
            w.add_child_watch(&r.path, id);
        }
        Ok((self.tree.child_names(n), self.tree.client_stat(n)))
    }
}

/// DataTree.setWatches: re-register a reconnecting client's watches relative to the last
/// zxid it saw; returns the events that fire at once.
pub fn set_watches(
    tree: &DataTree,
    watches: &mut WatchManager,
    id: WatcherId,
    s: &SetWatches2,
) -> Vec<(i32, String)> {
    let rel = s.relative_zxid;
    let mut fired = Vec::new();
    for p in &s.data_watches {
        match tree.node(p) {
            None => fired.push((event::NODE_DELETED, p.clone())),
            Some(n) if n.mzxid() > rel => fired.push((event::NODE_DATA_CHANGED, p.clone())),
            Some(_) => watches.add_data_watch(p, id),
        }
    }
    for p in &s.exist_watches {
        if tree.exists(p) {
            fired.push((event::NODE_CREATED, p.clone()));
        } else {
            watches.add_data_watch(p, id);
        }
    }
    for p in &s.child_watches {
        match tree.node(p) {
            None => fired.push((event::NODE_DELETED, p.clone())),
            Some(n) if n.pzxid() > rel => fired.push((event::NODE_CHILDREN_CHANGED, p.clone())),
            Some(_) => watches.add_child_watch(p, id),
        }
    }
    for p in &s.persistent_watches {
        watches.add_persistent(p, id, crate::proto::add_watch_mode::PERSISTENT);
    }
    for p in &s.persistent_recursive_watches {
        watches.add_persistent(p, id, crate::proto::add_watch_mode::PERSISTENT_RECURSIVE);
    }
    fired
}

/// Serve a read-only request for connection `watcher` (ACLs checked, every provider
/// registered).
pub fn read(
    tree: &DataTree,
    watches: &mut WatchManager,
    watcher: WatcherId,
    ctx: &RequestCtx,
    req: &Request,
) -> ReadReply {
    let rules = acl::AclRules {
        skip: false,
        providers: acl::Providers::ALL,
    };
    read_with(tree, watches, watcher, ctx, req, rules)
}

/// `read` with the server's ACL rules (skipACL, providers).
pub fn read_with(
    tree: &DataTree,
    watches: &mut WatchManager,
    watcher: WatcherId,
    ctx: &RequestCtx,
    req: &Request,
    rules: acl::AclRules,
) -> ReadReply {
    let rd = Reader { tree, ctx, rules };
    let res: Result<Response, i32> = match req {
        Request::Exists(r) => (|| {
            if r.path.contains('\0') {
                return Err(err::BAD_ARGUMENTS);
            }
            // ACL first (only if the node exists), then the watch is set even if missing.
            if let Some(n) = tree.node(&r.path) {
                rd.check(&tree.acl_by_id(n.acl), perms::READ)?;
            }
            if r.watch {
                watches.add_data_watch(&r.path, watcher);
            }
            let stat = tree.stat(&r.path).ok_or(err::NO_NODE)?;
            Ok(Response::Stat(StatResponse { stat }))
        })(),
        Request::GetData(r) => rd.get_data(r, watches, watcher).map(Response::GetData),
        Request::GetChildren(r) => rd
            .get_children(r, watches, watcher)
            .map(|(children, _)| Response::GetChildren(GetChildrenResponse { children })),
        Request::GetChildren2(r) => rd
            .get_children(r, watches, watcher)
            .map(|(children, stat)| {
                Response::GetChildren2(GetChildren2Response { children, stat })
            }),
        Request::GetAcl(r) => (|| {
            let n = rd.node_checked(&r.path, perms::READ | perms::ADMIN)?;
            let list = tree.acl_by_id(n.acl);
            let stat = tree.client_stat(n);
            let acl = if rd.check(&list, perms::ADMIN).is_ok() {
                list.to_vec()
            } else {
                acl::mask_digest_ids(&list)
            };
            Ok(Response::GetAcl(GetAclResponse { acl, stat }))
        })(),
        Request::GetAllChildrenNumber(r) => rd.node_checked(&r.path, perms::READ).map(|_| {
            let total_number = tree.all_children_number(&r.path).unwrap_or(0);
            Response::AllChildrenNumber(GetAllChildrenNumberResponse { total_number })
        }),
        Request::GetEphemerals(r) => {
            let prefix = r.path.trim();
            let all = tree.ephemerals_of(ctx.session_id);
            let ephemerals = if prefix.is_empty() || prefix == "/" {
                all
            } else {
                all.into_iter().filter(|p| p.starts_with(&r.path)).collect()
            };
            Ok(Response::Ephemerals(GetEphemeralsResponse { ephemerals }))
        }
        Request::MultiRead(ops) => {
            let results = ops
                .iter()
                .map(|o| {
                    let r = match o {
                        MultiOp::GetChildren(r) => rd
                            .get_children(r, watches, watcher)
                            .map(|(children, _)| MultiResult::GetChildren { children }),
                        MultiOp::GetData(r) => {
                            rd.get_data(r, watches, watcher)
                                .map(|g| MultiResult::GetData {
                                    data: g.data,
                                    stat: g.stat,
                                })
                        }
                        _ => Err(err::MARSHALLING_ERROR),
                    };
                    r.unwrap_or_else(|e| MultiResult::Error { err: e })
                })
                .collect();
            Ok(Response::Multi(results))
        }
        Request::CheckWatches(r) => match watches.contains(&r.path, watcher, r.watch_type) {
            None => Err(err::MARSHALLING_ERROR),
            Some(false) => Err(err::NO_WATCHER),
            Some(true) => Ok(Response::Empty),
        },
        Request::RemoveWatches(r) => match watches.remove(&r.path, watcher, r.watch_type) {
            None => Err(err::MARSHALLING_ERROR),
            Some(false) => Err(err::NO_WATCHER),
            Some(true) => Ok(Response::Empty),
        },
        Request::AddWatch(r) => {
            if watches.add_persistent(&r.path, watcher, r.mode) {
                Ok(Response::Error(ErrorResponse { err: 0 }))
            } else {
                Err(err::MARSHALLING_ERROR)
            }
        }
        Request::SetWatches(s) => {
            let fired = set_watches(tree, watches, watcher, s);
            return (err::OK, Response::Empty, fired);
        }
        Request::Sync(r) => Ok(Response::Sync(SyncResponse {
            path: r.path.clone(),
        })),
        Request::Ping => Ok(Response::Empty),
        Request::WhoAmI => Ok(Response::WhoAmI(WhoAmIResponse {
            client_info: ctx
                .auth
                .iter()
                .map(|id| ClientInfo {
                    auth_scheme: id.scheme.clone(),
                    user: acl::user_name(id, rd.rules.providers),
                })
                .collect(),
        })),
        _ => Err(err::UNIMPLEMENTED),
    };
    match res {
        Ok(r) => (err::OK, r, Vec::new()),
        Err(e) => (e, Response::Empty, Vec::new()),
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
