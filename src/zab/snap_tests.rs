use super::*;
use crate::jute::txn::{CreateTxn, DeleteTxn, SetAclTxn, SetDataTxn, TxnHeader};
use crate::storage::snapshot::SnapshotWriter;
use crate::txn::{Txn, TxnBody};

const MAX: usize = crate::jute::JuteLimits::DEFAULT.field();

fn vector(version: &str) -> Vec<u8> {
    let hex = match version {
        "3.8.0" => include_str!("../../testdata/quorum-captures/snap-body-3.8.0.hex"),
        _ => include_str!("../../testdata/quorum-captures/snap-body-3.9.5.hex"),
    };
    let hex = hex.trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn paths(t: &DataTree) -> Vec<String> {
    t.preorder().into_iter().map(|(p, _)| p).collect()
}

/// SNAP packet zxid of S08 (vectors.json).
const S08_SNAP_ZXID: i64 = 0x1_0000_027d;

#[test]
fn decodes_the_captured_snap_body_and_reencodes_it_byte_for_byte() {
    // TxnDigest of txn 0x10000027d in each version's logs (disk/final/member*.txt): the
    // tree the SNAP carried is the tree at that zxid.
    for (version, digest) in [("3.8.0", 0x3_2c2d_d548_i64), ("3.9.5", 0x3_10c5_ca26)] {
        let bytes = vector(version);
        assert_eq!(bytes.len(), 968);
        let (s, consumed) = decode(&bytes, false, MAX, S08_SNAP_ZXID).unwrap();
        assert_eq!(consumed, bytes.len(), "{version}");
        assert!(s.sessions.is_empty());
        assert_eq!(
            paths(&s.tree),
            [
                "",
                "/cap",
                "/cap/bulk",
                "/cap/s-0000000002",
                "/cap/c2",
                "/zookeeper",
                "/zookeeper/config",
                "/zookeeper/quota"
            ]
        );
        let acls: Vec<(i64, Vec<Acl>)> = s
            .tree
            .acl_cache()
            .entries()
            .map(|(i, l)| (i, l.to_vec()))
            .collect();
        let world = |perms| Acl {
            perms,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        };
        assert_eq!(acls, vec![(1, vec![world(1)]), (2, vec![world(31)])]);
        assert_eq!(s.tree.get_data("/cap/bulk").unwrap().0.as_ref(), b"599");
        assert_eq!(s.tree.get_data("/cap").unwrap().0.as_ref(), b"y");
        assert!(
            std::str::from_utf8(&s.tree.get_data("/zookeeper/config").unwrap().0)
                .unwrap()
                .ends_with("version=0")
        );
        assert_eq!(s.tree.digest(), digest, "{version}");
        assert_eq!(s.tree.last_processed_zxid(), S08_SNAP_ZXID);
        // Our stream for this tree is the captured one.
        assert!(encode(&s.tree, &s.sessions) == bytes, "{version}");
        // The learner's snapshot.10000027d written after this sync (header, this body,
        // seals, ZxidDigest {0,2,0}) is 1016 bytes in the 3.8.0 capture (3.9 adds 21).
        let mut w = SnapshotWriter::new(Vec::new(), &s.sessions, &acls).unwrap();
        for (p, n) in s.tree.preorder() {
            w.node_bytes(&p, n.data_opt(), n.acl, &n.stat()).unwrap();
        }
        let file = w.finish(Some((0, 0))).unwrap();
        assert_eq!(file.len(), 1016);
        // The stream is the file's body: after the 16-byte header, up to the first seal.
        let body = &bytes[..bytes.len() - 14];
        assert_eq!(&file[16..16 + body.len()], body);
    }
}

#[test]
fn any_split_of_the_input_gives_the_same_result_and_leaves_what_follows() {
    let bytes = vector("3.8.0");
    // NEWLEADER follows in the same flush: it must be left to the caller.
    let newleader = [0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    let mut stream = bytes.clone();
    stream.extend_from_slice(&newleader);
    for split in 0..bytes.len() {
        let mut d = SnapDecoder::new(false, MAX);
        assert_eq!(
            d.feed(&stream[..split]).unwrap(),
            Progress::NeedMore,
            "{split}"
        );
        let rest = &stream[split..];
        let Progress::Done { consumed } = d.feed(rest).unwrap() else {
            panic!("not done at split {split}");
        };
        assert_eq!(&rest[consumed..], &newleader, "{split}");
        let s = d.finish(1).unwrap();
        assert_eq!(encode(&s.tree, &s.sessions), bytes);
    }
    // Encoded in chunks of (at least) one byte: the same stream.
    let s = decode(&bytes, false, MAX, 1).unwrap().0;
    let sessions = [(0x300_00a3_67e6_0002, 30000), (0x100_00a3_67d1_0001, 4000)];
    let mut e = SnapEncoder::new(&s.tree, &sessions);
    let mut tiny = Vec::new();
    while let Some(c) = e.next_chunk(&s.tree, 1) {
        tiny.extend_from_slice(&c);
    }
    assert!(tiny == encode(&s.tree, &sessions));
    assert_eq!(tiny.len(), bytes.len() + 2 * 12);
    // One byte at a time.
    let mut d = SnapDecoder::new(false, MAX);
    for (i, b) in bytes.iter().enumerate() {
        let p = d.feed(std::slice::from_ref(b)).unwrap();
        assert_eq!(p == Progress::NeedMore, i + 1 < bytes.len());
    }
    assert!(d.is_done());
    assert!(matches!(d.feed(b"x"), Err(SnapStreamError::Finished)));
}

#[test]
fn truncated_streams_are_errors_never_panics() {
    let bytes = vector("3.9.5");
    for cut in 0..bytes.len() {
        assert_eq!(
            decode(&bytes[..cut], false, MAX, 0).err(),
            Some(SnapStreamError::Truncated),
            "cut {cut}"
        );
        let mut d = SnapDecoder::new(false, MAX);
        d.feed(&bytes[..cut]).unwrap();
        assert!(matches!(d.finish(0), Err(SnapStreamError::Truncated)));
    }
}

#[test]
fn corrupt_streams_are_errors_never_panics() {
    let bytes = vector("3.8.0");
    // Every single-byte corruption: decoded or refused, never a panic; most are refused.
    let mut refused = 0;
    for i in 0..bytes.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= x;
            if decode(&b, false, MAX, 0).is_err() {
                refused += 1;
            }
        }
    }
    assert!(refused > bytes.len() / 2, "{refused}");
    let set = |at: usize, v: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    let err = |b: &[u8]| decode(b, false, MAX, 0).unwrap_err().to_string();
    assert!(err(&set(0, &[0xff, 0xff, 0xff, 0xfe])).contains("negative session count"));
    assert!(err(&set(4, &[0x80, 0, 0, 0])).contains("negative ACL table size"));
    // The first ACL list's length (after the table size and the id) set to null.
    assert!(err(&set(16, &[0xff, 0xff, 0xff, 0xff])).contains("missing ACL list"));
    // The signature.
    let n = bytes.len();
    assert_eq!(
        decode(&set(n - 10, b"BenWasThere"[..10].as_ref()), false, MAX, 0).err(),
        Some(SnapStreamError::Signature("BenWasTher".into()))
    );
    // The root's path replaced by a child's: an orphan.
    let root_at = 4 + 4 + 8 + 4 + 4 + 4 + 5 + 4 + 6 + 8 + 4 + 4 + 4 + 5 + 4 + 6;
    assert_eq!(
        &bytes[root_at..root_at + 4],
        &[0, 0, 0, 0],
        "root path is \"\""
    );
    let mut b = bytes[..root_at].to_vec();
    b.extend_from_slice(&[0, 0, 0, 2, b'/', b'x']);
    b.extend_from_slice(&bytes[root_at + 4..]);
    assert!(err(&b).contains("not the root"), "{}", err(&b));
    // A huge length is refused at once, not waited for.
    let mut d = SnapDecoder::new(false, MAX);
    let mut b = bytes[..root_at].to_vec();
    b.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
    assert!(matches!(d.feed(&b), Err(SnapStreamError::Malformed(_))));
    assert!(matches!(d.feed(b"more"), Err(SnapStreamError::Finished)));
    // A partial item larger than the bound: refused instead of buffered without end.
    let mut d = SnapDecoder::new(false, 100);
    let mut b = bytes[..root_at].to_vec();
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 90]);
    assert_eq!(d.feed(&b).unwrap(), Progress::NeedMore);
    assert_eq!(d.feed(&[0; 40]).unwrap(), Progress::NeedMore);
    let mut d = SnapDecoder::new(false, 10);
    assert!(matches!(d.feed(&bytes), Err(SnapStreamError::Malformed(_))));
    // ACL list too long to ever fit the bound.
    let mut d = SnapDecoder::new(false, 100);
    let mut b = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    b.extend_from_slice(&[0x00, 0x10, 0, 0]);
    assert!(matches!(d.feed(&b), Err(SnapStreamError::Malformed(_))));
    // A null node path, and invalid UTF-8 in one.
    let mut b = bytes[..root_at].to_vec();
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert!(err(&b).contains("null node path"));
    let mut b = bytes[..root_at].to_vec();
    b.extend_from_slice(&[0, 0, 0, 1, 0xc3]);
    assert!(err(&b).contains("UTF-8"));
}

/// A small seeded generator (no clock, no OS randomness: a failure reproduces).
struct Rng(u64);
impl Rng {
    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn apply(t: &mut DataTree, zxid: &mut i64, session: i64, body: TxnBody) {
    *zxid += 1;
    t.apply(&Txn {
        header: TxnHeader {
            client_id: session,
            cxid: 1,
            zxid: *zxid,
            time: 1_700_000_000_000 + *zxid,
            txn_type: crate::txn::codec::body_type(&body),
        },
        body,
        digest: None,
    });
}

pub(crate) fn random_tree(seed: u64) -> (DataTree, Vec<(i64, i32)>) {
    let mut r = Rng(seed);
    let mut t = DataTree::new();
    let mut z = 0x5_0000_0000;
    let mut live = vec!["".to_string()];
    let acl_sets = [
        crate::tree::acl::open_acl_unsafe(),
        crate::tree::acl::read_acl_unsafe(),
        vec![Acl {
            perms: 3,
            id: Id {
                scheme: "digest".into(),
                id: "alice:abc=".into(),
            },
        }],
    ];
    let sessions: Vec<(i64, i32)> = (0..r.below(20))
        .map(|i| (0x100_0000_0000_0000 + i as i64 * 7919, 4000 + i as i32))
        .collect();
    for i in 0..600 {
        let op = r.below(10);
        let parent = live[r.below(live.len())].clone();
        if op < 7 {
            let p = format!("{parent}/n{i}");
            let len = [0, 1, 5, 300][r.below(4)];
            let data: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
            let owner = if r.below(5) == 0 && !sessions.is_empty() {
                sessions[r.below(sessions.len())].0
            } else {
                0
            };
            apply(
                &mut t,
                &mut z,
                owner.max(1),
                TxnBody::Create(CreateTxn {
                    path: p.clone(),
                    data: Data::new(data),
                    acl: acl_sets[r.below(acl_sets.len())].clone(),
                    ephemeral: owner != 0,
                    parent_cversion: 0,
                }),
            );
            if t.exists(&p) {
                live.push(p);
            }
        } else if op == 7 && parent.len() > 1 {
            apply(
                &mut t,
                &mut z,
                1,
                TxnBody::Delete(DeleteTxn {
                    path: parent.clone(),
                }),
            );
            if !t.exists(&parent) {
                live.retain(|l| *l != parent);
            }
        } else if op < 9 && !parent.is_empty() {
            apply(
                &mut t,
                &mut z,
                1,
                TxnBody::SetData(SetDataTxn {
                    path: parent,
                    data: Data::new(vec![r.next() as u8; r.below(40)]),
                    version: -1,
                }),
            );
        } else if !parent.is_empty() {
            apply(
                &mut t,
                &mut z,
                1,
                TxnBody::SetAcl(SetAclTxn {
                    path: parent,
                    acl: acl_sets[r.below(acl_sets.len())].clone(),
                    version: -1,
                }),
            );
        }
    }
    t.set_last_processed_zxid(z);
    (t, sessions)
}

#[test]
fn random_trees_round_trip_in_any_chunking() {
    let (mut ephemerals, mut acl_ids) = (0, 0);
    for seed in 1..=12u64 {
        let (t, sessions) = random_tree(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        assert!(t.node_count() > 50, "{}", t.node_count());
        let whole = encode(&t, &sessions);
        // Chunked encoding gives the same bytes; chunks stay near their bound.
        let max = 64 + (seed as usize * 97) % 700;
        let mut e = SnapEncoder::new(&t, &sessions);
        let mut chunked = Vec::new();
        let largest = t
            .preorder()
            .iter()
            .map(|(p, n)| 4 + p.len() + 4 + n.data_len() + 8 + 60)
            .max()
            .unwrap_or(0);
        while let Some(c) = e.next_chunk(&t, max) {
            // Over the bound by at most one record (the trailer is 19 bytes).
            assert!(c.len() < max + largest.max(19), "{} > {max}", c.len());
            chunked.extend_from_slice(&c);
        }
        assert!(e.is_done());
        assert!(chunked == whole[..], "seed {seed}");
        // Decoded in pieces of the same size.
        let mut d = SnapDecoder::new(false, MAX);
        let mut last = Progress::NeedMore;
        for piece in whole.chunks(max) {
            last = d.feed(piece).unwrap();
        }
        assert!(matches!(last, Progress::Done { .. }));
        let s = d.finish(t.last_processed_zxid()).unwrap();
        let mut want_sessions = sessions.clone();
        want_sessions.sort();
        assert_eq!(s.sessions, want_sessions);
        assert_eq!(s.tree.digest(), t.digest(), "seed {seed}");
        assert_eq!(paths(&s.tree), paths(&t));
        assert_eq!(s.tree.node_count(), t.node_count());
        assert_eq!(s.tree.ephemerals_by_session(), t.ephemerals_by_session());
        for (p, n) in t.preorder() {
            let m = s.tree.node(if p.is_empty() { "/" } else { &p }).unwrap();
            assert_eq!((m.data_opt(), m.stat()), (n.data_opt(), n.stat()), "{p}");
            assert_eq!(
                s.tree.acl(if p.is_empty() { "/" } else { &p }),
                t.acl(if p.is_empty() { "/" } else { &p })
            );
        }
        assert!(encode(&s.tree, &s.sessions) == encode(&t, &want_sessions));
        ephemerals += t.ephemerals_count();
        acl_ids = acl_ids.max(t.acl_cache().entries().count());
    }
    // The generator did exercise ephemeral owners and several ACL table entries.
    assert!(ephemerals > 0 && acl_ids >= 3, "{ephemerals} {acl_ids}");
}

#[test]
fn every_stream_ends_with_stream_end() {
    for seed in 1..=4u64 {
        let (t, sessions) = random_tree(seed);
        let whole = encode(&t, &sessions);
        assert!(whole.ends_with(&STREAM_END), "seed {seed}");
    }
    assert!(encode(&DataTree::new(), &[]).ends_with(&STREAM_END));
}
