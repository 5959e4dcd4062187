//! Proto tests: every opcode's request body decoded from hand-encoded bytes, multi /
//! multiRead framing, unknown opcodes, a no-panic property over random (opcode, body),
//! and reply frames from `encode_reply` (length prefix, bodiless errors, multi layout).
//!
//! Must never: depend on anything above `proto`.

use super::codes::{err, op};
use super::request::{MultiOp, Request, decode_request};
use super::response::{MultiResult, Response, encode_reply};
use crate::jute::records::*;
use crate::jute::{Data, Reader};
use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

/// Hand encoder for expected bytes (jute layout: big-endian, i32 length prefixes).
#[derive(Default)]
struct W(BytesMut);
impl W {
    fn i32(mut self, v: i32) -> Self {
        self.0.put_i32(v);
        self
    }
    fn i64(mut self, v: i64) -> Self {
        self.0.put_i64(v);
        self
    }
    fn bool(mut self, v: bool) -> Self {
        self.0.put_u8(v as u8);
        self
    }
    fn str(mut self, s: &str) -> Self {
        self.0.put_i32(s.len() as i32);
        self.0.put_slice(s.as_bytes());
        self
    }
    fn buf(self, b: &[u8]) -> Self {
        self.str(std::str::from_utf8(b).unwrap())
    }
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.put_slice(b);
        self
    }
    fn acl_world(self) -> Self {
        self.i32(1).i32(31).str("world").str("anyone")
    }
    fn multi_header(self, t: i32, done: bool, e: i32) -> Self {
        self.i32(t).bool(done).i32(e)
    }
    fn end(self) -> Self {
        self.multi_header(-1, true, -1)
    }
    fn bytes(self) -> Vec<u8> {
        self.0.to_vec()
    }
}
fn w() -> W {
    W::default()
}

fn decode(opcode: i32, body: Vec<u8>) -> Request {
    decode_request(opcode, &mut Reader::from_slice(&body))
        .unwrap_or_else(|e| panic!("op {opcode}: {e}"))
}

fn decode_err(opcode: i32, body: Vec<u8>) -> bool {
    decode_request(opcode, &mut Reader::from_slice(&body)).is_err()
}

fn world() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

fn create_req(path: &str, data: &[u8], flags: i32, ttl: i64) -> CreateTtlRequest {
    CreateTtlRequest {
        path: path.into(),
        data: Data::new(Bytes::copy_from_slice(data)),
        acl: world(),
        flags,
        ttl,
    }
}

fn pw(path: &str, watch: bool) -> PathWatchRequest {
    PathWatchRequest {
        path: path.into(),
        watch,
    }
}

fn p(path: &str) -> PathRequest {
    PathRequest { path: path.into() }
}

// ---------------------------------------------------------------------------------------
// Requests

#[test]
fn create_family() {
    let body = || w().str("/a").buf(b"v").acl_world().i32(1).bytes();
    for opcode in [op::CREATE, op::CREATE2, op::CREATE_CONTAINER] {
        assert_eq!(
            decode(opcode, body()),
            Request::Create {
                op_code: opcode,
                req: create_req("/a", b"v", 1, -1)
            }
        );
    }
    let ttl = w()
        .str("/t")
        .buf(b"")
        .acl_world()
        .i32(5)
        .i64(60_000)
        .bytes();
    assert_eq!(
        decode(op::CREATE_TTL, ttl),
        Request::Create {
            op_code: op::CREATE_TTL,
            req: create_req("/t", b"", 5, 60_000)
        }
    );
}

#[test]
fn simple_requests() {
    assert_eq!(
        decode(op::DELETE, w().str("/d").i32(-1).bytes()),
        Request::Delete(DeleteRequest {
            path: "/d".into(),
            version: -1
        })
    );
    assert_eq!(
        decode(op::EXISTS, w().str("/e").bool(true).bytes()),
        Request::Exists(pw("/e", true))
    );
    assert_eq!(
        decode(op::GET_DATA, w().str("/g").bool(false).bytes()),
        Request::GetData(pw("/g", false))
    );
    assert_eq!(
        decode(op::SET_DATA, w().str("/s").buf(b"xy").i32(3).bytes()),
        Request::SetData(SetDataRequest {
            path: "/s".into(),
            data: Data::from_static(b"xy"),
            version: 3
        })
    );
    assert_eq!(
        decode(op::GET_ACL, w().str("/acl").bytes()),
        Request::GetAcl(p("/acl"))
    );
    assert_eq!(
        decode(op::SET_ACL, w().str("/acl").acl_world().i32(2).bytes()),
        Request::SetAcl(SetAclRequest {
            path: "/acl".into(),
            acl: world(),
            version: 2
        })
    );
    assert_eq!(
        decode(op::GET_CHILDREN, w().str("/c").bool(true).bytes()),
        Request::GetChildren(pw("/c", true))
    );
    assert_eq!(
        decode(op::SYNC, w().str("/").bytes()),
        Request::Sync(p("/"))
    );
    assert_eq!(decode(op::PING, vec![]), Request::Ping);
    assert_eq!(
        decode(op::GET_CHILDREN2, w().str("/c2").bool(false).bytes()),
        Request::GetChildren2(pw("/c2", false))
    );
    assert_eq!(
        decode(op::CHECK, w().str("/k").i32(7).bytes()),
        Request::Check(CheckVersionRequest {
            path: "/k".into(),
            version: 7
        })
    );
    assert_eq!(
        decode(
            op::RECONFIG,
            w().str("server.4=h:1:2").str("").str("").i64(-1).bytes()
        ),
        Request::Reconfig(ReconfigRequest {
            joining_servers: "server.4=h:1:2".into(),
            leaving_servers: String::new(),
            new_members: String::new(),
            cur_config_id: -1,
        })
    );
    assert_eq!(
        decode(op::CHECK_WATCHES, w().str("/w").i32(1).bytes()),
        Request::CheckWatches(WatchTypeRequest {
            path: "/w".into(),
            watch_type: 1
        })
    );
    assert_eq!(
        decode(op::REMOVE_WATCHES, w().str("/w").i32(3).bytes()),
        Request::RemoveWatches(WatchTypeRequest {
            path: "/w".into(),
            watch_type: 3
        })
    );
    assert_eq!(
        decode(op::AUTH, w().i32(0).str("digest").buf(b"u:p").bytes()),
        Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: Bytes::from_static(b"u:p")
        })
    );
    assert_eq!(
        decode(op::SASL, w().buf(b"tok").bytes()),
        Request::Sasl(SaslToken {
            token: Bytes::from_static(b"tok")
        })
    );
    assert_eq!(
        decode(op::GET_EPHEMERALS, w().str("/e").bytes()),
        Request::GetEphemerals(p("/e"))
    );
    assert_eq!(
        decode(op::GET_ALL_CHILDREN_NUMBER, w().str("/n").bytes()),
        Request::GetAllChildrenNumber(p("/n"))
    );
    assert_eq!(
        decode(op::ADD_WATCH, w().str("/aw").i32(1).bytes()),
        Request::AddWatch(AddWatchRequest {
            path: "/aw".into(),
            mode: 1
        })
    );
    assert_eq!(decode(op::WHO_AM_I, vec![]), Request::WhoAmI);
    assert_eq!(decode(op::CLOSE_SESSION, vec![]), Request::CloseSession);
}

#[test]
fn set_watches_both_versions() {
    let v1 = w()
        .i64(0x55)
        .i32(1)
        .str("/d")
        .i32(0)
        .i32(2)
        .str("/c1")
        .str("/c2")
        .bytes();
    let want = SetWatches2 {
        relative_zxid: 0x55,
        data_watches: vec!["/d".into()],
        exist_watches: vec![],
        child_watches: vec!["/c1".into(), "/c2".into()],
        persistent_watches: vec![],
        persistent_recursive_watches: vec![],
    };
    assert_eq!(
        decode(op::SET_WATCHES, v1),
        Request::SetWatches(want.clone())
    );
    let v2 = w()
        .i64(0x55)
        .i32(1)
        .str("/d")
        .i32(0)
        .i32(2)
        .str("/c1")
        .str("/c2")
        .i32(1)
        .str("/p")
        .i32(1)
        .str("/r")
        .bytes();
    let want2 = SetWatches2 {
        persistent_watches: vec!["/p".into()],
        persistent_recursive_watches: vec!["/r".into()],
        ..want
    };
    assert_eq!(decode(op::SET_WATCHES2, v2), Request::SetWatches(want2));
}

#[test]
fn truncated_bodies_are_errors() {
    assert!(decode_err(op::DELETE, w().str("/d").bytes()));
    assert!(decode_err(op::GET_DATA, w().str("/g").bytes()));
    assert!(decode_err(op::CREATE, w().str("/a").buf(b"v").bytes()));
    assert!(decode_err(
        op::CREATE_TTL,
        w().str("/t").buf(b"").acl_world().i32(5).bytes()
    ));
    assert!(decode_err(op::AUTH, vec![0, 0]));
}

#[test]
fn unknown_opcodes() {
    for opcode in [
        op::NOTIFICATION,
        10,
        op::DELETE_CONTAINER,
        23,
        50,
        99,
        108,
        999,
        -10,
        -12,
        i32::MIN,
    ] {
        assert_eq!(
            decode(opcode, vec![1, 2, 3]),
            Request::Unknown(opcode),
            "op {opcode}"
        );
    }
}

#[test]
fn multi_framing() {
    let body = w()
        .multi_header(op::CREATE, false, -1)
        .str("/m")
        .buf(b"d")
        .acl_world()
        .i32(0)
        .multi_header(op::CREATE_TTL, false, -1)
        .str("/ttl")
        .buf(b"")
        .acl_world()
        .i32(5)
        .i64(1000)
        .multi_header(op::DELETE, false, -1)
        .str("/old")
        .i32(4)
        .multi_header(op::SET_DATA, false, -1)
        .str("/s")
        .buf(b"z")
        .i32(-1)
        .multi_header(op::CHECK, false, -1)
        .str("/k")
        .i32(2)
        .multi_header(op::CREATE2, false, -1)
        .str("/c2")
        .buf(b"")
        .acl_world()
        .i32(2)
        .end()
        .bytes();
    let Request::Multi(ops) = decode(op::MULTI, body) else {
        panic!("not a multi")
    };
    assert_eq!(
        ops,
        vec![
            MultiOp::Create {
                op_code: op::CREATE,
                req: create_req("/m", b"d", 0, -1)
            },
            MultiOp::Create {
                op_code: op::CREATE_TTL,
                req: create_req("/ttl", b"", 5, 1000)
            },
            MultiOp::Delete(DeleteRequest {
                path: "/old".into(),
                version: 4
            }),
            MultiOp::SetData(SetDataRequest {
                path: "/s".into(),
                data: Data::from_static(b"z"),
                version: -1
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/k".into(),
                version: 2
            }),
            MultiOp::Create {
                // 3.9 keeps the header's create2 (3.8 rebuilt it as Op.create).
                op_code: op::CREATE2,
                req: create_req("/c2", b"", 2, -1)
            },
        ]
    );
    let codes: Vec<i32> = ops.iter().map(MultiOp::op_code).collect();
    assert_eq!(codes, [1, 21, 2, 5, 13, 15]);
    assert!(ops.iter().all(|o| !o.is_read()));
    assert_eq!(ops[2].path(), "/old");
    assert!(Request::Multi(ops).is_write());
    // empty multi: just the terminator
    assert_eq!(decode(op::MULTI, w().end().bytes()), Request::Multi(vec![]));
}

#[test]
fn multi_read_framing_includes_watch_byte() {
    // Java's Op.getChildren/getData serialize GetChildrenRequest/GetDataRequest{path, false}.
    let body = w()
        .multi_header(op::GET_CHILDREN, false, -1)
        .str("/a")
        .bool(false)
        .multi_header(op::GET_DATA, false, -1)
        .str("/b")
        .bool(false)
        .multi_header(op::GET_DATA, false, -1)
        .str("/c")
        .bool(true)
        .end()
        .bytes();
    let Request::MultiRead(ops) = decode(op::MULTI_READ, body) else {
        panic!("not multiRead")
    };
    assert_eq!(
        ops,
        vec![
            MultiOp::GetChildren(pw("/a", false)),
            MultiOp::GetData(pw("/b", false)),
            MultiOp::GetData(pw("/c", false)),
        ]
    );
    assert!(ops.iter().all(MultiOp::is_read));
    assert!(!Request::MultiRead(ops).is_write());
}

#[test]
fn multi_errors() {
    // terminator missing
    let no_end = w()
        .multi_header(op::DELETE, false, -1)
        .str("/x")
        .i32(0)
        .bytes();
    assert!(decode_err(op::MULTI, no_end));
    // read op in a write multi, write op in a multiRead
    let read_in_write = w()
        .multi_header(op::GET_DATA, false, -1)
        .str("/x")
        .bool(false)
        .end()
        .bytes();
    assert!(decode_err(op::MULTI, read_in_write));
    let write_in_read = w()
        .multi_header(op::DELETE, false, -1)
        .str("/x")
        .i32(0)
        .end()
        .bytes();
    assert!(decode_err(op::MULTI_READ, write_in_read));
    // unknown sub-op
    assert!(decode_err(
        op::MULTI,
        w().multi_header(op::SYNC, false, -1).str("/").end().bytes()
    ));
    // done=true ends the list whatever the type
    assert_eq!(
        decode(op::MULTI, w().multi_header(0, true, 0).bytes()),
        Request::Multi(vec![])
    );
    // a create mode CreateMode.fromFlag does not know (3.9: "invalid flag"); a createTTL
    // sub-op's flags are left to prep
    let create = |t: i32, flags: i32| {
        let b = w()
            .multi_header(t, false, -1)
            .str("/f")
            .buf(b"")
            .acl_world()
            .i32(flags);
        if t == op::CREATE_TTL { b.i64(1000) } else { b }
            .end()
            .bytes()
    };
    for t in [op::CREATE, op::CREATE2, op::CREATE_CONTAINER] {
        for bad in [-1, 7, 9] {
            assert!(decode_err(op::MULTI, create(t, bad)), "op {t} flags {bad}");
        }
        for good in 0..=6 {
            assert!(
                !decode_err(op::MULTI, create(t, good)),
                "op {t} flags {good}"
            );
        }
    }
    assert!(!decode_err(op::MULTI, create(op::CREATE_TTL, 9)));
}

#[test]
fn write_classification() {
    assert!(Request::CloseSession.is_write());
    assert!(Request::Delete(DeleteRequest::default()).is_write());
    assert!(!Request::Ping.is_write());
    assert!(!Request::GetData(pw("/", false)).is_write());
    assert!(!Request::Unknown(999).is_write());
}

const ALL_OPS: [i32; 30] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 100, 101, 102,
    103, 104, 105, 106, 107,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_requests_never_panic(
        opcode in prop_oneof![proptest::sample::select(&ALL_OPS[..]), Just(-11), any::<i32>()],
        body in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let _ = decode_request(opcode, &mut Reader::from_slice(&body));
    }

    #[test]
    fn random_multi_bodies_never_panic(
        read_only in any::<bool>(),
        parts in proptest::collection::vec(
            (proptest::sample::select(&[1, 2, 4, 5, 8, 13, 15, 19, 21, -1, 99][..]), any::<bool>(),
             proptest::collection::vec(any::<u8>(), 0..12)),
            0..6),
    ) {
        let mut b = w();
        for (t, done, tail) in &parts {
            b = b.multi_header(*t, *done, -1).raw(tail);
        }
        let opcode = if read_only { op::MULTI_READ } else { op::MULTI };
        let _ = decode_request(opcode, &mut Reader::from_slice(&b.bytes()));
    }
}

// ---------------------------------------------------------------------------------------
// Replies

fn reply(xid: i32, zxid: i64, e: i32, resp: &Response) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_reply(&mut out, xid, zxid, e, resp);
    out.to_vec()
}

fn framed(payload: Vec<u8>) -> Vec<u8> {
    w().i32(payload.len() as i32).raw(&payload).bytes()
}

fn stat(n: i64) -> Stat {
    Stat {
        czxid: n,
        mzxid: n,
        pzxid: n,
        version: 1,
        ..Default::default()
    }
}

#[test]
fn reply_frames() {
    // ping: header only
    assert_eq!(
        reply(-2, 0x10, 0, &Response::Empty),
        framed(w().i32(-2).i64(0x10).i32(0).bytes())
    );
    assert_eq!(reply(-2, 0x10, 0, &Response::Empty).len(), 4 + 16);
    // create
    let r = Response::Create(CreateResponse { path: "/a".into() });
    assert_eq!(
        reply(5, 7, 0, &r),
        framed(w().i32(5).i64(7).i32(0).str("/a").bytes())
    );
    // getData
    let r = Response::GetData(GetDataResponse {
        data: Data::from_static(b"v"),
        stat: stat(3),
    });
    let want = w()
        .i32(6)
        .i64(8)
        .i32(0)
        .buf(b"v")
        .raw(&crate::jute::Record::to_bytes(&stat(3)));
    assert_eq!(reply(6, 8, 0, &r), framed(want.bytes()));
    // appending to a buffer that already holds a frame
    let mut out = BytesMut::new();
    assert_eq!(encode_reply(&mut out, 1, 1, 0, &Response::Empty), 16);
    // the returned size is the new frame's, without its length prefix
    assert_eq!(encode_reply(&mut out, 2, 1, 0, &Response::Empty), 16);
    assert_eq!(out.len(), 40);
    assert_eq!(&out[20..24], &16i32.to_be_bytes());
}

#[test]
fn error_replies_carry_no_body() {
    let r = Response::Stat(StatResponse { stat: stat(1) });
    let got = reply(9, 0x20, err::NO_NODE, &r);
    assert_eq!(got, framed(w().i32(9).i64(0x20).i32(-101).bytes()));
    let got = reply(3, -1, err::UNIMPLEMENTED, &Response::Empty);
    assert_eq!(got, framed(w().i32(3).i64(-1).i32(-6).bytes()));
}

#[test]
fn multi_response_layout() {
    let results = vec![
        MultiResult::Create { path: "/a".into() },
        MultiResult::Create2 {
            path: "/b".into(),
            stat: stat(2),
        },
        MultiResult::Delete,
        MultiResult::SetData { stat: stat(3) },
        MultiResult::Check,
    ];
    let s = |n| crate::jute::Record::to_bytes(&stat(n)).to_vec();
    let want = w()
        .i32(4)
        .i64(100)
        .i32(0)
        .multi_header(op::CREATE, false, 0)
        .str("/a")
        .multi_header(op::CREATE2, false, 0)
        .str("/b")
        .raw(&s(2))
        .multi_header(op::DELETE, false, 0)
        .multi_header(op::SET_DATA, false, 0)
        .raw(&s(3))
        .multi_header(op::CHECK, false, 0)
        .end()
        .bytes();
    assert_eq!(reply(4, 100, 0, &Response::Multi(results)), framed(want));

    // failed multi: ReplyHeader.err 0, every result an error result with an ErrorResponse
    let failed = vec![
        MultiResult::Error { err: 0 },
        MultiResult::Error {
            err: err::NODE_EXISTS,
        },
        MultiResult::Error {
            err: err::RUNTIME_INCONSISTENCY,
        },
    ];
    let want = w()
        .i32(4)
        .i64(101)
        .i32(0)
        .multi_header(-1, false, 0)
        .i32(0)
        .multi_header(-1, false, -110)
        .i32(-110)
        .multi_header(-1, false, -2)
        .i32(-2)
        .end()
        .bytes();
    assert_eq!(reply(4, 101, 0, &Response::Multi(failed)), framed(want));

    // multiRead results
    let read = vec![
        MultiResult::GetChildren {
            children: vec!["x".into(), "y".into()],
        },
        MultiResult::GetData {
            data: Data::from_static(b"d"),
            stat: stat(4),
        },
        MultiResult::Error { err: err::NO_NODE },
    ];
    let want = w()
        .i32(5)
        .i64(102)
        .i32(0)
        .multi_header(op::GET_CHILDREN, false, 0)
        .i32(2)
        .str("x")
        .str("y")
        .multi_header(op::GET_DATA, false, 0)
        .buf(b"d")
        .raw(&s(4))
        .multi_header(-1, false, -101)
        .i32(-101)
        .end()
        .bytes();
    assert_eq!(reply(5, 102, 0, &Response::Multi(read)), framed(want));
    // empty multi: just the terminator
    let want = w().i32(6).i64(1).i32(0).end().bytes();
    assert_eq!(reply(6, 1, 0, &Response::Multi(vec![])), framed(want));
}

/// Null data (buffer length -1) in create/setData requests, top-level and in multi, is
/// decoded as null, not empty; getData and multiRead getData answer it as length -1.
#[test]
fn null_data_requests_and_replies() {
    let null_create = |path: &str| {
        let mut r = create_req(path, b"", 0, -1);
        r.data = Data::NULL;
        r
    };
    let body = w().str("/n").i32(-1).acl_world().i32(0).bytes();
    for opcode in [op::CREATE, op::CREATE2, op::CREATE_CONTAINER] {
        let Request::Create { req, .. } = decode(opcode, body.clone()) else {
            panic!()
        };
        assert_eq!(req, null_create("/n"));
        assert!(req.data.is_null());
    }
    let ttl = w().str("/t").i32(-1).acl_world().i32(5).i64(9).bytes();
    let Request::Create { req, .. } = decode(op::CREATE_TTL, ttl) else {
        panic!()
    };
    assert!(req.data.is_null());
    // empty stays empty
    let Request::Create { req, .. } =
        decode(op::CREATE, w().str("/e").i32(0).acl_world().i32(0).bytes())
    else {
        panic!()
    };
    assert!(!req.data.is_null() && req.data.is_empty());
    let set_null = SetDataRequest {
        path: "/s".into(),
        data: Data::NULL,
        version: -1,
    };
    assert_eq!(
        decode(op::SET_DATA, w().str("/s").i32(-1).i32(-1).bytes()),
        Request::SetData(set_null.clone())
    );
    let multi = w()
        .multi_header(op::CREATE, false, -1)
        .str("/m")
        .i32(-1)
        .acl_world()
        .i32(0)
        .multi_header(op::SET_DATA, false, -1)
        .str("/s")
        .i32(-1)
        .i32(-1)
        .end()
        .bytes();
    assert_eq!(
        decode(op::MULTI, multi),
        Request::Multi(vec![
            MultiOp::Create {
                op_code: op::CREATE,
                req: null_create("/m"),
            },
            MultiOp::SetData(set_null),
        ])
    );

    // Replies: getData and multiRead getData with null data.
    let r = Response::GetData(GetDataResponse {
        data: Data::NULL,
        stat: stat(3),
    });
    let want = w()
        .i32(6)
        .i64(8)
        .i32(0)
        .i32(-1)
        .raw(&crate::jute::Record::to_bytes(&stat(3)));
    assert_eq!(reply(6, 8, 0, &r), framed(want.bytes()));
    let read = vec![MultiResult::GetData {
        data: Data::NULL,
        stat: stat(4),
    }];
    let want = w()
        .i32(5)
        .i64(102)
        .i32(0)
        .multi_header(op::GET_DATA, false, 0)
        .i32(-1)
        .raw(&crate::jute::Record::to_bytes(&stat(4)))
        .end()
        .bytes();
    assert_eq!(reply(5, 102, 0, &Response::Multi(read)), framed(want));
}
