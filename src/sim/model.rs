//! The reference model: what Apache ZooKeeper answers, written plainly and separately
//! from `txn::prep` and `tree`, for the simulator to check the core against.
//!
//! Nodes live in a map by path with the Stat fields the core must agree on; every change
//! is recorded per path (so a read answered at zxid `r` is checked against the state at
//! `r`) and in a change history (so a watch set by a read at `r` fires for the first
//! matching change after `r`). Failed writes change nothing; a failed multi answers 0 for
//! the ops before the failure, the error for the failing op, -2 after it.
//! Must never: use the server's own tree, prep or apply code.

use crate::proto::err;
use std::collections::{BTreeMap, BTreeSet};

pub const EV_CREATED: i32 = 1;
pub const EV_DELETED: i32 = 2;
pub const EV_DATA: i32 = 3;
pub const EV_CHILDREN: i32 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MNode {
    pub data: Vec<u8>,
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub version: i32,
    /// Creates under this node ever (the persisted cversion; sequential names use it).
    pub creates: i32,
    pub ephemeral_owner: i64,
    pub children: BTreeSet<String>,
}

/// One op inside a multi.
#[derive(Debug, Clone)]
pub enum MultiOp {
    Check {
        path: String,
        version: i32,
    },
    Create {
        path: String,
        data: Vec<u8>,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Delete {
        path: String,
        version: i32,
    },
}

/// A write as the model sees it.
#[derive(Debug, Clone)]
pub enum Write {
    Create {
        path: String,
        data: Vec<u8>,
        ephemeral: bool,
        sequential: bool,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Multi(Vec<MultiOp>),
    CloseSession,
}

/// What a write answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Err(i32),
    Created(String),
    Stat(MNode),
    Deleted,
    Closed,
    /// Per op: (err, created path or stat where the op has one).
    Multi(Vec<(i32, Option<String>, Option<MNode>)>),
}

/// A change that watches react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub zxid: i64,
    pub path: String,
    pub event_type: i32,
}

#[derive(Debug, Clone, Default)]
pub struct Model {
    pub nodes: BTreeMap<String, MNode>,
    pub sessions: BTreeSet<i64>,
    pub zxid: i64,
    /// Per path: (zxid, state from then on).
    history: BTreeMap<String, Vec<(i64, Option<MNode>)>>,
    pub changes: Vec<Change>,
}

impl MNode {
    /// The client-visible cversion: every create and every delete of a child (Java's
    /// `copyStat`: persisted count of creates * 2 - children still present).
    pub fn cversion(&self) -> i32 {
        self.creates * 2 - self.children.len() as i32
    }
}

pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

impl Model {
    /// A model holding these nodes (the server's state at `zxid`).
    pub fn from_nodes(nodes: BTreeMap<String, MNode>, sessions: BTreeSet<i64>, zxid: i64) -> Model {
        let mut history = BTreeMap::new();
        for (p, n) in &nodes {
            history.insert(p.clone(), vec![(zxid, Some(n.clone()))]);
        }
        Model {
            nodes,
            sessions,
            zxid,
            history,
            changes: Vec::new(),
        }
    }

    /// The node at `path` as it was once `zxid` was applied.
    pub fn node_at(&self, path: &str, zxid: i64) -> Option<&MNode> {
        let h = self.history.get(path)?;
        h.iter()
            .rev()
            .find(|(z, _)| *z <= zxid)
            .and_then(|(_, n)| n.as_ref())
    }

    fn record(&mut self, path: &str) {
        let state = self.nodes.get(path).cloned();
        let z = self.zxid;
        let h = self.history.entry(path.to_string()).or_default();
        if let Some(last) = h.last_mut()
            && last.0 == z
        {
            last.1 = state;
            return;
        }
        h.push((z, state));
    }

    fn change(&mut self, path: &str, event_type: i32) {
        self.changes.push(Change {
            zxid: self.zxid,
            path: path.to_string(),
            event_type,
        });
    }

    /// A txn the model cannot attribute to a write it knows (session create/expiry).
    pub fn create_session(&mut self, zxid: i64, session: i64) {
        self.zxid = zxid;
        self.sessions.insert(session);
    }

    /// The write `w` of `session` got zxid `zxid`: apply it, return the answer.
    pub fn apply(&mut self, zxid: i64, session: i64, w: &Write) -> Answer {
        assert!(
            zxid > self.zxid,
            "model: zxid 0x{zxid:x} after 0x{:x}",
            self.zxid
        );
        self.zxid = zxid;
        match w {
            Write::Create {
                path,
                data,
                ephemeral,
                sequential,
            } => match self.check_create(path, *ephemeral, *sequential, session) {
                Ok(p) => {
                    self.do_create(&p, data, if *ephemeral { session } else { 0 });
                    Answer::Created(p)
                }
                Err(e) => Answer::Err(e),
            },
            Write::Delete { path, version } => match self.check_delete(path, *version) {
                Ok(()) => {
                    self.do_delete(path);
                    Answer::Deleted
                }
                Err(e) => Answer::Err(e),
            },
            Write::SetData {
                path,
                data,
                version,
            } => match self.check_set(path, *version) {
                Ok(()) => Answer::Stat(self.do_set(path, data)),
                Err(e) => Answer::Err(e),
            },
            Write::Multi(ops) => self.multi(ops, session),
            Write::CloseSession => {
                self.close_session(session);
                Answer::Closed
            }
        }
    }

    /// closeSession (by the client or expiry): the session's ephemerals go.
    pub fn close_session_at(&mut self, zxid: i64, session: i64) {
        assert!(zxid > self.zxid);
        self.zxid = zxid;
        self.close_session(session);
    }

    fn close_session(&mut self, session: i64) {
        self.sessions.remove(&session);
        let doomed: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.ephemeral_owner == session)
            .map(|(p, _)| p.clone())
            .collect();
        for p in doomed {
            self.do_delete(&p);
        }
    }

    fn check_create(
        &self,
        path: &str,
        ephemeral: bool,
        sequential: bool,
        _session: i64,
    ) -> Result<String, i32> {
        let parent = self.nodes.get(parent_of(path)).ok_or(err::NO_NODE)?;
        let p = if sequential {
            format!("{path}{:010}", parent.creates)
        } else {
            path.to_string()
        };
        if self.nodes.contains_key(&p) {
            return Err(err::NODE_EXISTS);
        }
        if parent.ephemeral_owner != 0 {
            return Err(err::NO_CHILDREN_FOR_EPHEMERALS);
        }
        let _ = ephemeral;
        Ok(p)
    }

    fn do_create(&mut self, path: &str, data: &[u8], owner: i64) {
        let z = self.zxid;
        self.nodes.insert(
            path.to_string(),
            MNode {
                data: data.to_vec(),
                czxid: z,
                mzxid: z,
                pzxid: z,
                version: 0,
                creates: 0,
                ephemeral_owner: owner,
                children: BTreeSet::new(),
            },
        );
        let parent = parent_of(path).to_string();
        if let Some(pn) = self.nodes.get_mut(&parent) {
            pn.creates += 1;
            pn.pzxid = z;
            pn.children.insert(name_of(path).to_string());
        }
        self.record(path);
        self.record(&parent);
        self.change(path, EV_CREATED);
        self.change(&parent, EV_CHILDREN);
    }

    fn check_delete(&self, path: &str, version: i32) -> Result<(), i32> {
        let n = self.nodes.get(path).ok_or(err::NO_NODE)?;
        if version != -1 && version != n.version {
            return Err(err::BAD_VERSION);
        }
        if !n.children.is_empty() {
            return Err(err::NOT_EMPTY);
        }
        Ok(())
    }

    fn do_delete(&mut self, path: &str) {
        let z = self.zxid;
        self.nodes.remove(path);
        let parent = parent_of(path).to_string();
        if let Some(pn) = self.nodes.get_mut(&parent) {
            pn.pzxid = z;
            pn.children.remove(name_of(path));
        }
        self.record(path);
        self.record(&parent);
        self.change(path, EV_DELETED);
        self.change(&parent, EV_CHILDREN);
    }

    fn check_set(&self, path: &str, version: i32) -> Result<(), i32> {
        let n = self.nodes.get(path).ok_or(err::NO_NODE)?;
        if version != -1 && version != n.version {
            return Err(err::BAD_VERSION);
        }
        Ok(())
    }

    fn do_set(&mut self, path: &str, data: &[u8]) -> MNode {
        let z = self.zxid;
        let n = self.nodes.get_mut(path).expect("checked");
        n.data = data.to_vec();
        n.version += 1;
        n.mzxid = z;
        let out = n.clone();
        self.record(path);
        self.change(path, EV_DATA);
        out
    }

    fn multi(&mut self, ops: &[MultiOp], session: i64) -> Answer {
        // Check every op against the state the ops before it leave, on a scratch copy.
        let saved = (self.nodes.clone(), self.history.clone(), self.changes.len());
        let mut results = Vec::new();
        let mut failed: Option<(usize, i32)> = None;
        for (i, op) in ops.iter().enumerate() {
            let r = match op {
                MultiOp::Check { path, version } => {
                    self.check_set(path, *version).map(|()| (None, None))
                }
                MultiOp::Create { path, data } => {
                    self.check_create(path, false, false, session).map(|p| {
                        self.do_create(&p, data, 0);
                        (Some(p), None)
                    })
                }
                MultiOp::SetData {
                    path,
                    data,
                    version,
                } => self
                    .check_set(path, *version)
                    .map(|()| (None, Some(self.do_set(path, data)))),
                MultiOp::Delete { path, version } => self.check_delete(path, *version).map(|()| {
                    self.do_delete(path);
                    (None, None)
                }),
            };
            match r {
                Ok((p, s)) => results.push((0, p, s)),
                Err(e) => {
                    failed = Some((i, e));
                    break;
                }
            }
        }
        let Some((at, e)) = failed else {
            return Answer::Multi(results);
        };
        // All or nothing.
        self.nodes = saved.0;
        self.history = saved.1;
        self.changes.truncate(saved.2);
        Answer::Multi(
            (0..ops.len())
                .map(|i| {
                    let code = match i.cmp(&at) {
                        std::cmp::Ordering::Less => 0,
                        std::cmp::Ordering::Equal => e,
                        std::cmp::Ordering::Greater => err::RUNTIME_INCONSISTENCY,
                    };
                    (code, None, None)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Model {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "/".to_string(),
            MNode {
                data: vec![],
                czxid: 0,
                mzxid: 0,
                pzxid: 0,
                version: 0,
                creates: 0,
                ephemeral_owner: 0,
                children: BTreeSet::new(),
            },
        );
        Model::from_nodes(nodes, BTreeSet::new(), 0)
    }

    #[test]
    fn sequential_names_follow_the_parent_cversion_and_failed_multis_change_nothing() {
        let mut m = root();
        let c = |p: &str, seq| Write::Create {
            path: p.into(),
            data: vec![1],
            ephemeral: false,
            sequential: seq,
        };
        assert_eq!(m.apply(1, 7, &c("/a", false)), Answer::Created("/a".into()));
        assert_eq!(
            m.apply(2, 7, &c("/a/s", true)),
            Answer::Created("/a/s0000000000".into())
        );
        assert_eq!(
            m.apply(3, 7, &c("/a", false)),
            Answer::Err(err::NODE_EXISTS)
        );
        let multi = Write::Multi(vec![
            MultiOp::Create {
                path: "/b".into(),
                data: vec![],
            },
            MultiOp::Check {
                path: "/a".into(),
                version: 5,
            },
            MultiOp::Delete {
                path: "/a".into(),
                version: -1,
            },
        ]);
        assert_eq!(
            m.apply(4, 7, &multi),
            Answer::Multi(vec![
                (0, None, None),
                (err::BAD_VERSION, None, None),
                (err::RUNTIME_INCONSISTENCY, None, None)
            ])
        );
        assert!(!m.nodes.contains_key("/b"));
        assert_eq!(m.node_at("/a", 1).map(|n| n.cversion()), Some(0));
        assert_eq!(m.node_at("/a", 4).map(|n| n.cversion()), Some(1));
        assert!(m.node_at("/a", 0).is_none());
    }
}
