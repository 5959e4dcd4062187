//! Codec round trips, known byte layouts, legacy fallbacks, and garbage resistance.

use super::*;
use crate::jute::Data;
use crate::jute::records::{Acl, Id};
use bytes::BufMut;
use proptest::prelude::*;

fn acl() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

fn hdr(t: i32) -> TxnHeader {
    TxnHeader {
        client_id: 0x0100_0051_e9e3_0000,
        cxid: 3,
        zxid: 0x1_0000_0005,
        time: 1_700_000_000_000,
        txn_type: t,
    }
}

fn bodies() -> Vec<TxnBody> {
    let c = CreateTxn {
        path: "/a".into(),
        data: Data::from_static(b"x"),
        acl: acl(),
        ephemeral: true,
        parent_cversion: 4,
    };
    vec![
        TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 }),
        TxnBody::CloseSession(CloseSessionTxn {
            paths2_delete: vec!["/e".into()],
        }),
        TxnBody::Create(c.clone()),
        TxnBody::Create2(c.clone()),
        TxnBody::CreateContainer(CreateContainerTxn {
            path: "/c".into(),
            data: Data::empty(),
            acl: acl(),
            parent_cversion: 1,
        }),
        TxnBody::CreateTtl(CreateTtlTxn {
            path: "/t".into(),
            data: Data::empty(),
            acl: acl(),
            parent_cversion: 1,
            ttl: 100,
        }),
        TxnBody::Delete(DeleteTxn { path: "/a".into() }),
        TxnBody::DeleteContainer(DeleteTxn { path: "/c".into() }),
        TxnBody::SetData(SetDataTxn {
            path: "/a".into(),
            data: Data::from_static(b"yy"),
            version: 2,
        }),
        TxnBody::Reconfig(SetDataTxn {
            path: "/zookeeper/config".into(),
            data: Data::empty(),
            version: -1,
        }),
        TxnBody::SetAcl(SetAclTxn {
            path: "/a".into(),
            acl: acl(),
            version: 1,
        }),
        TxnBody::Check(CheckVersionTxn {
            path: "/a".into(),
            version: 3,
        }),
        TxnBody::Error(ErrorTxn { err: -110 }),
        TxnBody::Multi(vec![
            TxnBody::Create(c),
            TxnBody::Check(CheckVersionTxn {
                path: "/a".into(),
                version: 1,
            }),
            TxnBody::Error(ErrorTxn { err: -101 }),
            TxnBody::Error(ErrorTxn { err: -2 }),
        ]),
        TxnBody::Multi(vec![]),
    ]
}

#[test]
fn round_trips_with_and_without_digest() {
    for b in bodies() {
        for digest in [
            None,
            Some(TxnDigest {
                version: 2,
                tree_digest: -5,
            }),
        ] {
            let t = Txn {
                header: hdr(body_type(&b)),
                body: b.clone(),
                digest: digest.clone(),
            };
            let bytes = encode_txn(&t);
            let back = decode_txn(bytes).unwrap();
            let want = if matches!(b, TxnBody::Error(_)) {
                None
            } else {
                digest
            };
            assert_eq!(back, Txn { digest: want, ..t }, "{b:?}");
            let (ty, rec) = encode_body(&b);
            assert_eq!(decode_body(ty, rec).unwrap(), b);
        }
    }
}

#[test]
fn known_layouts() {
    // ErrorTxn{-110} entry: 32-byte header + 4-byte err, no trailer.
    let t = Txn {
        header: hdr(-1),
        body: TxnBody::Error(ErrorTxn { err: -110 }),
        digest: Some(TxnDigest {
            version: 2,
            tree_digest: 1,
        }),
    };
    let b = encode_txn(&t);
    assert_eq!(b.len(), 36);
    assert_eq!(&b[28..32], &(-1i32).to_be_bytes());
    assert_eq!(&b[32..36], &(-110i32).to_be_bytes());
    // DeleteTxn{"/a"} + TxnDigest{2, 7}: header, then i32 len "/a", then version and digest.
    let t = Txn {
        header: hdr(2),
        body: TxnBody::Delete(DeleteTxn { path: "/a".into() }),
        digest: Some(TxnDigest {
            version: 2,
            tree_digest: 7,
        }),
    };
    let b = encode_txn(&t);
    let mut want = BytesMut::new();
    hdr(2).write(&mut want);
    want.put_i32(2);
    want.put_slice(b"/a");
    want.put_i32(2);
    want.put_i64(7);
    assert_eq!(&b[..], &want[..]);
    // A multi sub-txn is {type, buffer}.
    let (_, m) = encode_body(&TxnBody::Multi(vec![TxnBody::Delete(DeleteTxn {
        path: "/a".into(),
    })]));
    assert_eq!(
        &m[..],
        &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 6, 0, 0, 0, 2, b'/', b'a']
    );
}

/// Null znode data (buffer length -1, as Java logs `create(path, null, ...)`) survives the
/// codec, top-level and inside multi, and stays distinct from empty data.
#[test]
fn null_data_round_trips() {
    let with = |data: Data| {
        let c = CreateTxn {
            path: "/n".into(),
            data: data.clone(),
            acl: acl(),
            ephemeral: false,
            parent_cversion: 1,
        };
        let s = SetDataTxn {
            path: "/n".into(),
            data: data.clone(),
            version: 1,
        };
        let subs = vec![
            TxnBody::Create(c.clone()),
            TxnBody::Create2(c.clone()),
            TxnBody::CreateContainer(CreateContainerTxn {
                path: "/c".into(),
                data: data.clone(),
                acl: acl(),
                parent_cversion: 1,
            }),
            TxnBody::CreateTtl(CreateTtlTxn {
                path: "/t".into(),
                data: data.clone(),
                acl: acl(),
                parent_cversion: 1,
                ttl: 100,
            }),
            TxnBody::SetData(s.clone()),
        ];
        let mut all = subs.clone();
        all.push(TxnBody::Reconfig(s));
        all.push(TxnBody::Multi(subs));
        all
    };
    for (null, empty) in with(Data::NULL).into_iter().zip(with(Data::empty())) {
        for b in [&null, &empty] {
            let t = Txn {
                header: hdr(body_type(b)),
                body: b.clone(),
                digest: Some(TxnDigest {
                    version: 2,
                    tree_digest: 3,
                }),
            };
            assert_eq!(decode_txn(encode_txn(&t)).unwrap(), t, "{b:?}");
        }
        assert_ne!(encode_body(&null).1, encode_body(&empty).1, "{null:?}");
    }
    // Layout: CreateTxn{"/n", null, ...} has length -1 right after the path.
    let (_, rec) = encode_body(&with(Data::NULL)[0]);
    assert_eq!(
        &rec[..10],
        &[0, 0, 0, 2, b'/', b'n', 0xff, 0xff, 0xff, 0xff]
    );
    // CreateTxnV0 with null data keeps it null.
    let mut w = BytesMut::new();
    hdr(1).write(&mut w);
    w.put_i32(2);
    w.put_slice(b"/a");
    w.put_i32(-1);
    w.put_i32(0);
    w.put_u8(0);
    let t = decode_txn(w.freeze()).unwrap();
    assert!(
        matches!(t.body, TxnBody::Create(ref c) if c.data.is_null() && c.parent_cversion == -1)
    );
}

#[test]
fn legacy_fallbacks() {
    // CreateTxnV0 (no parentCVersion) decodes with parentCVersion -1.
    let mut w = BytesMut::new();
    hdr(1).write(&mut w);
    w.put_i32(2);
    w.put_slice(b"/a");
    w.put_i32(0);
    w.put_i32(0);
    w.put_u8(0);
    let t = decode_txn(w.freeze()).unwrap();
    assert!(matches!(t.body, TxnBody::Create(ref c) if c.path == "/a" && c.parent_cversion == -1));
    // closeSession without a record.
    let mut w = BytesMut::new();
    hdr(-11).write(&mut w);
    let t = decode_txn(w.freeze()).unwrap();
    assert_eq!(t.body, TxnBody::CloseSession(CloseSessionTxn::default()));
    assert_eq!(t.digest, None);
    // A short trailer is "no digest".
    let mut w = BytesMut::new();
    hdr(2).write(&mut w);
    DeleteTxn { path: "/a".into() }.write(&mut w);
    w.put_i32(2);
    assert_eq!(decode_txn(w.freeze()).unwrap().digest, None);
}

#[test]
fn rejects_unknown_types() {
    let mut w = BytesMut::new();
    hdr(999).write(&mut w);
    assert_eq!(decode_txn(w.freeze()), Err(CodecError::UnknownType(999)));
    let m = MultiTxn {
        txns: vec![SubTxn {
            txn_type: 7,
            data: SetAclTxn::default().to_bytes(),
        }],
    };
    assert_eq!(
        decode_body(14, m.to_bytes()),
        Err(CodecError::BadSubType(7))
    );
    let m = MultiTxn {
        txns: vec![SubTxn {
            txn_type: 14,
            data: Bytes::new(),
        }],
    };
    assert_eq!(
        decode_body(14, m.to_bytes()),
        Err(CodecError::BadSubType(14))
    );
    assert!(decode_txn(Bytes::from_static(b"short")).is_err());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_txn(Bytes::from(bytes.clone()));
        for t in [-11, -10, -1, 1, 2, 5, 7, 13, 14, 15, 16, 19, 20, 21] {
            let _ = decode_body(t, Bytes::from(bytes.clone()));
        }
    }

    #[test]
    fn valid_prefix_with_random_tail_never_panics(ty in prop::sample::select(vec![-11, -10, -1, 1, 2, 5, 7, 13, 14, 15, 16, 19, 20, 21]), tail in prop::collection::vec(any::<u8>(), 0..120)) {
        let mut w = BytesMut::new();
        hdr(ty).write(&mut w);
        w.put_slice(&tail);
        let _ = decode_txn(w.freeze());
    }
}
