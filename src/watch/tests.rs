//! Watch trigger rules.

use super::*;
use crate::proto::{add_watch_mode, event};
use std::sync::Arc;

fn ev(path: &str, kind: EventKind) -> TreeEvent {
    TreeEvent {
        path: path.into(),
        kind,
        acl: Arc::new(Vec::new()),
    }
}

#[test]
fn standard_watches_are_one_shot() {
    let mut m = WatchManager::new();
    m.add_data_watch("/a", 1);
    m.add_data_watch("/a", 2);
    m.add_child_watch("/a", 1);
    assert_eq!(m.watch_count(), 3);
    assert_eq!(
        m.trigger(&ev("/a", EventKind::NodeDataChanged)),
        vec![(1, 3), (2, 3)]
    );
    assert!(m.trigger(&ev("/a", EventKind::NodeDataChanged)).is_empty());
    assert_eq!(
        m.trigger(&ev("/a", EventKind::NodeChildrenChanged)),
        vec![(1, 4)]
    );
    assert_eq!(m.watch_count(), 0);
    m.add_data_watch("/b", 1);
    assert_eq!(
        m.trigger(&ev("/b", EventKind::NodeCreated)),
        vec![(1, event::NODE_CREATED)]
    );
    assert!(m.trigger(&ev("/c", EventKind::NodeCreated)).is_empty());
}

#[test]
fn delete_notifies_data_and_child_watchers_once() {
    let mut m = WatchManager::new();
    m.add_data_watch("/a", 1);
    m.add_child_watch("/a", 1);
    m.add_child_watch("/a", 2);
    m.add_child_watch("/", 3);
    assert_eq!(
        m.trigger(&ev("/a", EventKind::NodeDeleted)),
        vec![(1, 2), (2, 2)]
    );
    // Both of watcher 1's registrations were consumed.
    assert_eq!(m.watch_count(), 1);
    assert_eq!(
        m.trigger(&ev("/", EventKind::NodeChildrenChanged)),
        vec![(3, 4)]
    );
}

#[test]
fn persistent_and_recursive() {
    let mut m = WatchManager::new();
    assert!(m.add_persistent("/p", 1, add_watch_mode::PERSISTENT));
    assert!(m.add_persistent("/r", 2, add_watch_mode::PERSISTENT_RECURSIVE));
    assert!(m.add_persistent("/", 3, add_watch_mode::PERSISTENT_RECURSIVE));
    assert!(!m.add_persistent("/p", 1, 7));
    for _ in 0..2 {
        assert_eq!(
            m.trigger(&ev("/p", EventKind::NodeDataChanged)),
            vec![(1, 3), (3, 3)]
        );
        assert_eq!(
            m.trigger(&ev("/p", EventKind::NodeChildrenChanged)),
            vec![(1, 4)]
        );
    }
    // Descendants: recursive watchers get created/deleted/changed, never childrenChanged.
    assert_eq!(
        m.trigger(&ev("/r/x/y", EventKind::NodeCreated)),
        vec![(2, 1), (3, 1)]
    );
    assert_eq!(
        m.trigger(&ev("/r/x/y", EventKind::NodeDeleted)),
        vec![(2, 2), (3, 2)]
    );
    assert!(
        m.trigger(&ev("/r/x", EventKind::NodeChildrenChanged))
            .is_empty()
    );
    assert!(
        m.trigger(&ev("/p/c", EventKind::NodeCreated))
            .iter()
            .all(|(w, _)| *w == 3)
    );
    // A recursive watch on the node itself fires too.
    assert_eq!(
        m.trigger(&ev("/r", EventKind::NodeDataChanged)),
        vec![(2, 3), (3, 3)]
    );
    // A standard + recursive watcher on the same path gets one event and keeps recursion.
    m.add_data_watch("/r", 2);
    assert_eq!(
        m.trigger(&ev("/r", EventKind::NodeDataChanged)),
        vec![(2, 3), (3, 3)]
    );
    assert_eq!(m.contains("/r", 2, watcher_type::DATA), Some(false));
    assert_eq!(
        m.contains("/r", 2, watcher_type::PERSISTENT_RECURSIVE),
        Some(true)
    );
    // The ancestor walk stops when no recursive watches remain.
    m.remove_watcher(2);
    m.remove_watcher(3);
    assert_eq!(m.data.recursive, 0);
    assert!(m.trigger(&ev("/r/x", EventKind::NodeCreated)).is_empty());
}

#[test]
fn check_and_remove_by_type() {
    let mut m = WatchManager::new();
    m.add_data_watch("/a", 1);
    m.add_child_watch("/a", 1);
    m.add_persistent("/a", 1, add_watch_mode::PERSISTENT);
    assert_eq!(m.contains("/a", 1, watcher_type::CHILDREN), Some(true));
    assert_eq!(m.contains("/a", 2, watcher_type::ANY), Some(false));
    assert_eq!(m.contains("/a", 1, 9), None);
    assert_eq!(m.remove("/a", 1, watcher_type::DATA), Some(true));
    assert_eq!(m.remove("/a", 1, watcher_type::DATA), Some(false));
    assert_eq!(m.contains("/a", 1, watcher_type::PERSISTENT), Some(true));
    assert_eq!(m.remove("/a", 1, watcher_type::PERSISTENT), Some(true));
    assert_eq!(
        m.remove("/a", 1, watcher_type::PERSISTENT_RECURSIVE),
        Some(false)
    );
    assert_eq!(m.contains("/a", 1, watcher_type::ANY), Some(true));
    assert_eq!(m.remove("/a", 1, watcher_type::ANY), Some(true));
    assert_eq!(m.contains("/a", 1, watcher_type::ANY), Some(false));
    assert_eq!(m.watch_count(), 0);
    assert_eq!(m.remove("/a", 1, 0), None);
}

#[test]
fn listings_and_disconnect() {
    let mut m = WatchManager::new();
    m.add_data_watch("/a", 1);
    m.add_data_watch("/b", 1);
    m.add_data_watch("/a", 2);
    m.add_child_watch("/c", 3);
    let s = m.summary();
    assert_eq!((s.connections, s.paths, s.total), (2, 2, 3));
    assert_eq!(m.watch_count(), 4);
    assert_eq!(
        m.by_connection(),
        vec![(1, vec!["/a".into(), "/b".into()]), (2, vec!["/a".into()])]
    );
    assert_eq!(
        m.by_path(),
        vec![("/a".into(), vec![1, 2]), ("/b".into(), vec![1])]
    );
    m.remove_watcher(1);
    m.remove_watcher(3);
    assert_eq!(m.watch_count(), 1);
    assert_eq!(m.trigger(&ev("/a", EventKind::NodeDeleted)), vec![(2, 2)]);
}

/// One registration change for `counts_are_kept_not_walked`.
#[derive(Debug, Clone)]
enum Op {
    Data(u8, u64),
    Child(u8, u64),
    Persistent(u8, u64, i32),
    Fire(u8, u8),
    Remove(u8, u64, i32),
    Disconnect(u64),
}

fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let path = 0u8..6;
    let w = 1u64..4;
    prop_oneof![
        (path.clone(), w.clone()).prop_map(|(p, w)| Op::Data(p, w)),
        (path.clone(), w.clone()).prop_map(|(p, w)| Op::Child(p, w)),
        (path.clone(), w.clone(), 0i32..2).prop_map(|(p, w, m)| Op::Persistent(p, w, m)),
        (path.clone(), 0u8..4).prop_map(|(p, k)| Op::Fire(p, k)),
        (path, w.clone(), 0i32..5).prop_map(|(p, w, t)| Op::Remove(p, w, t)),
        w.prop_map(Op::Disconnect),
    ]
}

/// Nested paths so recursive watches see descendants.
fn op_path(p: u8) -> &'static str {
    ["/", "/a", "/a/b", "/a/b/c", "/x", "/x/y"][p as usize % 6]
}

proptest::proptest! {
    /// mntr's watch count and wchs's total are kept as registrations change, and always
    /// equal what walking the tables gives.
    #[test]
    fn counts_are_kept_not_walked(ops in proptest::collection::vec(op_strategy(), 0..60)) {
        let mut m = WatchManager::new();
        for op in ops {
            match op {
                Op::Data(p, w) => m.add_data_watch(op_path(p), w),
                Op::Child(p, w) => m.add_child_watch(op_path(p), w),
                Op::Persistent(p, w, mode) => {
                    m.add_persistent(op_path(p), w, mode);
                }
                Op::Fire(p, k) => {
                    let kind = [
                        EventKind::NodeCreated,
                        EventKind::NodeDataChanged,
                        EventKind::NodeChildrenChanged,
                        EventKind::NodeDeleted,
                    ][k as usize % 4];
                    m.trigger(&ev(op_path(p), kind));
                }
                Op::Remove(p, w, t) => {
                    m.remove(op_path(p), w, t);
                }
                Op::Disconnect(w) => m.remove_watcher(w),
            }
            proptest::prop_assert_eq!(m.watch_count(), m.walked_watch_count());
            proptest::prop_assert_eq!(m.summary().total, m.data.walked_size());
        }
    }
}
