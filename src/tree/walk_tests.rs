//! The shared walk: order, chunking, fuzziness, and a pin that the core's snapshot bytes
//! are what its former inline walk produced.

use super::*;
use crate::jute::Data;
use crate::jute::txn::{CreateTxn, DeleteTxn, SetDataTxn, TxnHeader};
use crate::storage::snapshot::{SnapshotWriter, encode_node};
use crate::txn::{Txn, TxnBody};
use bytes::{Bytes, BytesMut};

fn apply(t: &mut DataTree, zxid: &mut i64, body: TxnBody) {
    *zxid += 1;
    let txn = Txn {
        header: TxnHeader {
            client_id: 0x100_0000_0000_0001,
            cxid: 1,
            zxid: *zxid,
            time: 1_700_000_000_000 + *zxid,
            txn_type: crate::txn::codec::body_type(&body),
        },
        body,
        digest: None,
    };
    t.apply(&txn);
}

fn create(p: &str, data: &[u8]) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path: p.into(),
        data: Data::new(Bytes::copy_from_slice(data)),
        acl: crate::tree::acl::open_acl_unsafe(),
        ephemeral: false,
        parent_cversion: 0,
    })
}

fn delete(p: &str) -> TxnBody {
    TxnBody::Delete(DeleteTxn { path: p.into() })
}

fn set(p: &str, data: &[u8]) -> TxnBody {
    TxnBody::SetData(SetDataTxn {
        path: p.into(),
        data: Data::new(Bytes::copy_from_slice(data)),
        version: -1,
    })
}

/// A fixed tree of ~3,300 nodes, with deletions (swap-removed child lists) and reused ids.
fn fixed_tree() -> (DataTree, i64) {
    let mut t = DataTree::new();
    let mut z = 0x1_0000_0000;
    for d in 0..10 {
        apply(
            &mut t,
            &mut z,
            create(&format!("/d{d}"), format!("dir {d}").as_bytes()),
        );
        for c in 0..300 {
            let p = format!("/d{d}/c{c}");
            apply(&mut t, &mut z, create(&p, &vec![b'x'; (c * 7 + d) % 50]));
            if c % 100 == 0 {
                apply(&mut t, &mut z, create(&format!("{p}/leaf"), b""));
            }
        }
    }
    for d in [1, 4, 7] {
        for c in (0..300).step_by(13) {
            let p = format!("/d{d}/c{c}");
            if c % 100 == 0 {
                apply(&mut t, &mut z, delete(&format!("{p}/leaf")));
            }
            apply(&mut t, &mut z, delete(&p));
        }
    }
    for c in 0..20 {
        apply(
            &mut t,
            &mut z,
            create(&format!("/d4/again{c}"), b"reused id"),
        );
    }
    (t, z)
}

/// The core's walk as it was inline in `server/core/snapshots.rs::snapshot_step` before it
/// moved here, kept verbatim as the oracle.
struct OldFrame {
    path: String,
    children: Vec<NodeId>,
    next: usize,
}

fn old_step(stack: &mut Vec<OldFrame>, t: &DataTree, per_step: usize, buf: &mut BytesMut) {
    let mut n = 0;
    while n < per_step {
        let Some(top) = stack.last_mut() else {
            break;
        };
        let Some(&id) = top.children.get(top.next) else {
            stack.pop();
            continue;
        };
        top.next += 1;
        let Some(node) = t.node_by_id(id) else {
            continue;
        };
        let path = if id == store::ROOT {
            String::new()
        } else {
            format!("{}/{}", top.path, node.name())
        };
        encode_node(buf, &path, node.data_opt(), node.acl, &node.stat());
        if node.child_count() > 0 {
            let children = node.child_ids().to_vec();
            stack.push(OldFrame {
                path,
                children,
                next: 0,
            });
        }
        n += 1;
    }
}

/// Changes made between chunks, as client writes land between the core's snapshot steps.
fn mutate(t: &mut DataTree, z: &mut i64, round: usize) {
    match round {
        1 => {
            apply(t, z, delete("/d0/c299"));
            apply(t, z, delete("/d9/c5"));
            apply(t, z, create("/d9/late", b"added after the walk began"));
            apply(t, z, set("/d8/c3", b"changed"));
        }
        2 => {
            apply(t, z, create("/d0/after", b"behind the walk"));
            apply(t, z, delete("/d9/c100/leaf"));
        }
        _ => {}
    }
}

/// A snapshot file the way the core writes one: header, chunks of `per_step` nodes with
/// writes in between, then the seal with the digest at the last chunk.
fn core_snapshot(shared: bool, per_step: usize) -> Vec<u8> {
    let (mut t, mut z) = fixed_tree();
    let acls: Vec<_> = t
        .acl_cache()
        .entries()
        .map(|(i, l)| (i, l.to_vec()))
        .collect();
    let mut w = SnapshotWriter::new(Vec::new(), &[(0x100_0000_0000_0001, 30000)], &acls).unwrap();
    t.hold_ids();
    let mut old = vec![OldFrame {
        path: String::new(),
        children: vec![store::ROOT],
        next: 0,
    }];
    let mut walk = PreorderWalk::new();
    let mut round = 0;
    loop {
        let mut buf = BytesMut::new();
        let done = if shared {
            walk.step(&t, per_step, |p, n| {
                encode_node(&mut buf, p, n.data_opt(), n.acl, &n.stat());
                1
            });
            walk.is_done()
        } else {
            old_step(&mut old, &t, per_step, &mut buf);
            old.is_empty()
        };
        w.raw_nodes(&buf).unwrap();
        if done {
            break;
        }
        round += 1;
        mutate(&mut t, &mut z, round);
    }
    t.release_ids();
    w.finish(Some((0x1_0000_0005, t.digest()))).unwrap()
}

#[test]
fn core_snapshot_bytes_are_unchanged_by_the_shared_walk() {
    for per_step in [2000, 1, 7, 100_000] {
        let old = core_snapshot(false, per_step);
        let new = core_snapshot(true, per_step);
        assert_eq!(old.len(), new.len(), "per_step {per_step}");
        assert!(old == new, "per_step {per_step}: bytes differ");
    }
    // Pinned: the core's snapshot of the fixed tree at NODES_PER_STEP (2000), as the
    // inline walk wrote it before the shared walker replaced it.
    let bytes = core_snapshot(true, 2000);
    assert_eq!(
        (bytes.len(), adler2::adler32_slice(&bytes)),
        PINNED_CORE_SNAPSHOT
    );
}

const PINNED_CORE_SNAPSHOT: (usize, u32) = (322_248, 1_033_622_547);

#[test]
fn order_is_pre_order_in_child_list_order() {
    let (t, _) = fixed_tree();
    let mut paths = Vec::new();
    PreorderWalk::new().finish(&t, |p, _| paths.push(p.to_string()));
    let expect: Vec<String> = t.preorder().into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, expect);
    // node_count counts the root twice, as Java (under "" and "/").
    assert_eq!(paths.len(), t.node_count() - 1);
    assert_eq!(&paths[..2], &["", "/zookeeper"]);
    // Every node comes after its parent.
    let mut seen = std::collections::HashSet::new();
    for p in &paths {
        if let Some((parent, _)) = crate::tree::path::split(p) {
            assert!(seen.contains(parent), "{p} before its parent");
        }
        seen.insert(p.as_str());
    }
}

#[test]
fn chunks_respect_the_budget_and_always_advance() {
    let (t, _) = fixed_tree();
    let mut walk = PreorderWalk::new();
    let mut chunks = 0;
    while !walk.is_done() {
        let mut bytes = 0usize;
        let n = walk.step(&t, 4096, |p, node| {
            let cost = p.len() + node.data_len() + 80;
            bytes += cost;
            cost
        });
        // Over the budget by at most one node's cost.
        assert!(bytes < 4096 + 200, "{bytes}");
        assert!(n > 0 || walk.is_done());
        chunks += 1;
    }
    assert_eq!(walk.visited(), t.node_count() as u64 - 1);
    assert!(chunks > 20);
    // A zero budget still advances by one node (a zero cost is not spending).
    let mut walk = PreorderWalk::new();
    assert_eq!(walk.step(&t, 0, |_, _| 1), 1);
    assert_eq!(walk.step(&t, 0, |_, _| 5), 1);
    assert_eq!(walk.visited(), 2);
}

#[test]
fn fuzzy_walk_skips_deleted_nodes_and_new_children_of_visited_nodes() {
    let (mut t, mut z) = fixed_tree();
    t.hold_ids();
    let mut walk = PreorderWalk::new();
    let mut paths = Vec::new();
    // Up to and including /d0's first child: /d0's children are now fixed for the walk.
    walk.step(&t, 6, |p, _| {
        paths.push(p.to_string());
        1
    });
    assert_eq!(paths.last().map(String::as_str), Some("/d0/c0"));
    apply(&mut t, &mut z, create("/d0/new", b""));
    apply(&mut t, &mut z, delete("/d0/c1"));
    apply(&mut t, &mut z, create("/d9/new", b""));
    walk.finish(&t, |p, _| paths.push(p.to_string()));
    t.release_ids();
    assert!(!paths.iter().any(|p| p == "/d0/new" || p == "/d0/c1"));
    assert!(paths.iter().any(|p| p == "/d9/new"));
    assert_eq!(paths.len(), t.node_count() - 2);
}
