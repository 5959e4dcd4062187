//! The one pre-order walk over the tree that serializers share: the core's fuzzy snapshot
//! and the SNAP stream a leader sends a learner.
//!
//! Order: Java's `DataTree.serializeNode` — a node, then each of its children's subtrees,
//! children in the order the node lists them; the root's path is "" and a child's is
//! `<parent path>/<name>`. The walk runs in chunks bounded by a caller-given budget, and
//! the tree may change between chunks (fuzzy, as Java's): each frame holds the child ids a
//! node had when it was visited; a child deleted since is skipped, a child added since is
//! not visited. The caller must keep ids from being reused while a walk spans changes
//! (`DataTree::hold_ids` before the first chunk, `release_ids` after the last), so an id
//! names the same node or none.
//! Owns: the walk order and its bounded stack. Must never: encode nodes (the caller's
//! visitor does), change the tree, or do I/O.

use super::node::{Node, NodeId};
use super::{DataTree, store};

/// A node whose children are being visited.
struct Frame {
    /// The node's path ("" for the root).
    path: String,
    children: Vec<NodeId>,
    next: usize,
}

/// A resumable pre-order walk from the root.
pub struct PreorderWalk {
    /// One frame per node on the current root-to-leaf path (plus the start frame).
    stack: Vec<Frame>,
    visited: u64,
}

impl Default for PreorderWalk {
    fn default() -> Self {
        PreorderWalk::new()
    }
}

impl PreorderWalk {
    /// A walk that starts at the root.
    pub fn new() -> PreorderWalk {
        PreorderWalk {
            stack: vec![Frame {
                path: String::new(),
                children: vec![store::ROOT],
                next: 0,
            }],
            visited: 0,
        }
    }

    /// Whether every node has been visited.
    pub fn is_done(&self) -> bool {
        self.stack.is_empty()
    }

    /// Nodes visited so far.
    pub fn visited(&self) -> u64 {
        self.visited
    }

    /// Visit the next nodes in pre-order until `budget` is spent: `visit(path, node)`
    /// returns what the node cost (1 to count nodes, its encoded size to bound bytes; 0
    /// spends nothing). Returns how many nodes were visited. A budget of 0 counts as 1,
    /// so a walk always advances; a chunk overshoots the budget by at most one node.
    pub fn step(
        &mut self,
        tree: &DataTree,
        budget: usize,
        mut visit: impl FnMut(&str, &Node) -> usize,
    ) -> usize {
        let mut spent = 0usize;
        let mut n = 0usize;
        while spent < budget.max(1) {
            let Some(top) = self.stack.last_mut() else {
                break;
            };
            let Some(&id) = top.children.get(top.next) else {
                self.stack.pop();
                continue;
            };
            top.next += 1;
            // Deleted since its parent was visited: absent from this walk.
            let Some(node) = tree.node_by_id(id) else {
                continue;
            };
            let path = if id == store::ROOT {
                String::new()
            } else {
                format!("{}/{}", top.path, node.name())
            };
            spent = spent.saturating_add(visit(&path, node));
            n += 1;
            if node.child_count() > 0 {
                self.stack.push(Frame {
                    path,
                    children: node.child_ids().to_vec(),
                    next: 0,
                });
            }
        }
        self.visited += n as u64;
        n
    }

    /// Walk all that is left in one go.
    pub fn finish(&mut self, tree: &DataTree, mut visit: impl FnMut(&str, &Node)) {
        while !self.is_done() {
            self.step(tree, usize::MAX, |p, n| {
                visit(p, n);
                1
            });
        }
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
