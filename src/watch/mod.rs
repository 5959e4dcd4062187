//! Watch registrations and which watchers a tree change notifies (ZooKeeper's two
//! WatchManagers: data/exist watches and child watches, with standard, persistent and
//! persistent-recursive modes).
//!
//! Owns: the per-connection registrations and Java's trigger rules (one-shot removal, at
//! most one notification per watcher per event, recursive watchers see descendants'
//! created/deleted/dataChanged but never childrenChanged, a delete also fires NodeDeleted
//! for child watchers of the path). Must never: send bytes, check ACLs (the server checks
//! READ on `TreeEvent::acl` per recipient), walk more than the path's depth per trigger,
//! or walk a table to count it (the counts mntr/wchs print are kept as registrations change).

use crate::proto::watcher_type;
use crate::tree::{EventKind, TreeEvent};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A watcher: the server's connection id.
pub type WatcherId = u64;

const STANDARD: u8 = 1;
const PERSISTENT: u8 = 2;
const RECURSIVE: u8 = 4;

/// One WatchManager table (path → watcher → mode bits).
#[derive(Debug, Default, Clone)]
struct Table {
    by_path: HashMap<String, BTreeMap<WatcherId, u8>>,
    by_watcher: HashMap<WatcherId, BTreeSet<String>>,
    recursive: usize,
    /// (path, watcher) pairs registered: `size()` without walking the table (mntr).
    pairs: usize,
}

impl Table {
    fn add(&mut self, path: &str, w: WatcherId, mode: u8) -> bool {
        let bits = self
            .by_path
            .entry(path.to_string())
            .or_default()
            .entry(w)
            .or_insert(0);
        if *bits & mode != 0 {
            return false;
        }
        if *bits == 0 {
            self.pairs += 1;
        }
        *bits |= mode;
        if mode == RECURSIVE {
            self.recursive += 1;
        }
        self.by_watcher
            .entry(w)
            .or_default()
            .insert(path.to_string());
        true
    }

    fn bits(&self, path: &str, w: WatcherId) -> u8 {
        self.by_path
            .get(path)
            .and_then(|m| m.get(&w))
            .copied()
            .unwrap_or(0)
    }

    fn set_bits(&mut self, path: &str, w: WatcherId, new: u8) {
        let old = self.bits(path, w);
        if old & RECURSIVE != 0 && new & RECURSIVE == 0 {
            self.recursive -= 1;
        }
        if new == 0 {
            if let Some(m) = self.by_path.get_mut(path) {
                if m.remove(&w).is_some() {
                    self.pairs -= 1;
                }
                if m.is_empty() {
                    self.by_path.remove(path);
                }
            }
            if let Some(s) = self.by_watcher.get_mut(&w) {
                s.remove(path);
                if s.is_empty() {
                    self.by_watcher.remove(&w);
                }
            }
        } else if let Some(b) = self.by_path.get_mut(path).and_then(|m| m.get_mut(&w)) {
            *b = new;
        }
    }

    /// Remove `mode` bits (all if `None`); true if anything changed.
    fn remove(&mut self, path: &str, w: WatcherId, mode: Option<u8>) -> bool {
        let old = self.bits(path, w);
        let new = match mode {
            Some(m) => old & !m,
            None => 0,
        };
        if old == new {
            return false;
        }
        self.set_bits(path, w, new);
        true
    }

    fn remove_watcher(&mut self, w: WatcherId) {
        let Some(paths) = self.by_watcher.remove(&w) else {
            return;
        };
        for p in paths {
            if let Some(m) = self.by_path.get_mut(&p) {
                if let Some(b) = m.remove(&w) {
                    self.pairs -= 1;
                    if b & RECURSIVE != 0 {
                        self.recursive -= 1;
                    }
                }
                if m.is_empty() {
                    self.by_path.remove(&p);
                }
            }
        }
    }

    /// WatchManager.triggerWatch: watchers at `path` (standard bits consumed) and, if any
    /// recursive watch exists, recursive watchers on its ancestors.
    fn trigger(&mut self, path: &str, out: &mut BTreeSet<WatcherId>) {
        if let Some(m) = self.by_path.get(path) {
            let ws: Vec<(WatcherId, u8)> = m.iter().map(|(w, b)| (*w, *b)).collect();
            for (w, b) in ws {
                out.insert(w);
                if b & STANDARD != 0 {
                    self.set_bits(path, w, b & !STANDARD);
                }
            }
        }
        if self.recursive == 0 {
            return;
        }
        let mut p = path;
        while p != "/" && !p.is_empty() {
            p = match p.rfind('/') {
                Some(0) => "/",
                Some(i) => &p[..i],
                None => break,
            };
            if let Some(m) = self.by_path.get(p) {
                out.extend(
                    m.iter()
                        .filter(|(_, b)| **b & RECURSIVE != 0)
                        .map(|(w, _)| *w),
                );
            }
        }
    }

    /// (path, watcher) pairs, O(1).
    fn size(&self) -> usize {
        self.pairs
    }

    /// The same count by walking the table (tests check `pairs` against it).
    #[cfg(test)]
    fn walked_size(&self) -> usize {
        self.by_path.values().map(|m| m.len()).sum()
    }
}

/// All watch registrations of the server.
#[derive(Debug, Default, Clone)]
pub struct WatchManager {
    data: Table,
    child: Table,
}

/// Totals of the data-watch table (what `wchs` prints; `wchc` is `by_connection`).
/// Note: mntr's zk_watch_count is `WatchManager::watch_count` (both tables), not `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSummary {
    pub connections: usize,
    pub paths: usize,
    pub total: usize,
}

impl WatchManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// exists/getData with watch=true (also for a missing node via exists).
    pub fn add_data_watch(&mut self, path: &str, w: WatcherId) {
        self.data.add(path, w, STANDARD);
    }

    /// getChildren/getChildren2 with watch=true.
    pub fn add_child_watch(&mut self, path: &str, w: WatcherId) {
        self.child.add(path, w, STANDARD);
    }

    /// addWatch: PERSISTENT (0) registers in both tables, PERSISTENT_RECURSIVE (1) only in
    /// the data table. Returns false for an unknown mode.
    pub fn add_persistent(&mut self, path: &str, w: WatcherId, mode: i32) -> bool {
        use crate::proto::add_watch_mode;
        match mode {
            add_watch_mode::PERSISTENT => {
                self.data.add(path, w, PERSISTENT);
                self.child.add(path, w, PERSISTENT);
                true
            }
            add_watch_mode::PERSISTENT_RECURSIVE => {
                self.data.add(path, w, RECURSIVE);
                true
            }
            _ => false,
        }
    }

    /// Watchers to notify for one tree event, with the event type, sorted by watcher.
    /// Each table that fires counts its watchers in `node_*_watch_count`, as each of
    /// Java's two WatchManagers does in `triggerWatch`.
    pub fn trigger(&mut self, ev: &TreeEvent) -> Vec<(WatcherId, i32)> {
        use crate::metrics as m;
        // The table that fires first, and the summary its watchers are counted in.
        let (table, metric) = match ev.kind {
            EventKind::NodeCreated => (&mut self.data, &m::NODE_CREATED_WATCH_COUNT),
            EventKind::NodeDataChanged => (&mut self.data, &m::NODE_CHANGED_WATCH_COUNT),
            EventKind::NodeChildrenChanged => (&mut self.child, &m::NODE_CHILDREN_WATCH_COUNT),
            EventKind::NodeDeleted => (&mut self.data, &m::NODE_DELETED_WATCH_COUNT),
        };
        let count = |n: usize| {
            if n > 0 {
                metric.observe(n as i64);
            }
        };
        let mut ws = BTreeSet::new();
        table.trigger(&ev.path, &mut ws);
        count(ws.len());
        if ev.kind == EventKind::NodeDeleted {
            // Child watchers of the deleted node also get NodeDeleted (once).
            let mut child = BTreeSet::new();
            self.child.trigger(&ev.path, &mut child);
            count(child.len());
            ws.append(&mut child);
        }
        let code = ev.kind.code();
        ws.into_iter().map(|w| (w, code)).collect()
    }

    /// Drop every registration of a connection (disconnect).
    pub fn remove_watcher(&mut self, w: WatcherId) {
        self.data.remove_watcher(w);
        self.child.remove_watcher(w);
    }

    /// checkWatches: does `w` hold a watch of `wtype` (WatcherType) on `path`?
    /// `None` for an invalid type.
    pub fn contains(&self, path: &str, w: WatcherId, wtype: i32) -> Option<bool> {
        let has = |t: &Table, m: u8| t.bits(path, w) & m != 0;
        Some(match wtype {
            watcher_type::CHILDREN => has(&self.child, STANDARD),
            watcher_type::DATA => has(&self.data, STANDARD),
            watcher_type::PERSISTENT => has(&self.data, PERSISTENT),
            watcher_type::PERSISTENT_RECURSIVE => has(&self.data, RECURSIVE),
            watcher_type::ANY => self.child.bits(path, w) != 0 || self.data.bits(path, w) != 0,
            _ => return None,
        })
    }

    /// removeWatches: remove `w`'s watches of `wtype` on `path`; Some(false) if none
    /// matched (NOWATCHER), `None` for an invalid type.
    pub fn remove(&mut self, path: &str, w: WatcherId, wtype: i32) -> Option<bool> {
        Some(match wtype {
            watcher_type::CHILDREN => self.child.remove(path, w, Some(STANDARD)),
            watcher_type::DATA => self.data.remove(path, w, Some(STANDARD)),
            watcher_type::PERSISTENT => {
                let a = self.child.remove(path, w, Some(PERSISTENT));
                let b = self.data.remove(path, w, Some(PERSISTENT));
                a || b
            }
            watcher_type::PERSISTENT_RECURSIVE => self.data.remove(path, w, Some(RECURSIVE)),
            watcher_type::ANY => {
                let a = self.child.remove(path, w, None);
                let b = self.data.remove(path, w, None);
                a || b
            }
            _ => return None,
        })
    }

    /// mntr zk_watch_count: (watcher, path) pairs in both tables, O(1).
    pub fn watch_count(&self) -> usize {
        self.data.size() + self.child.size()
    }

    /// `watch_count` by walking both tables (tests only).
    #[cfg(test)]
    fn walked_watch_count(&self) -> usize {
        self.data.walked_size() + self.child.walked_size()
    }

    /// `wchs`: connections/paths/total of the data table (Java reports only that table).
    /// Counts only: no path is copied.
    pub fn summary(&self) -> WatchSummary {
        WatchSummary {
            connections: self.data.by_watcher.len(),
            paths: self.data.by_path.len(),
            total: self.data.size(),
        }
    }

    /// `wchc`: data-table paths per connection, sorted.
    pub fn by_connection(&self) -> Vec<(WatcherId, Vec<String>)> {
        let mut v: Vec<_> = self
            .data
            .by_watcher
            .iter()
            .map(|(w, s)| (*w, s.iter().cloned().collect()))
            .collect();
        v.sort();
        v
    }

    /// `wchp`: data-table connections per path, sorted.
    pub fn by_path(&self) -> Vec<(String, Vec<WatcherId>)> {
        let mut v: Vec<_> = self
            .data
            .by_path
            .iter()
            .map(|(p, m)| (p.clone(), m.keys().copied().collect()))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests;
