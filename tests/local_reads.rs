//! Reads served on connection tasks (server::local_read), over a raw socket so requests
//! can be pipelined exactly as written: a session's read never overtakes its own earlier
//! write, and a session that only reads stays alive.

mod common;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use ferrokeeper::jute::records::*;
use ferrokeeper::jute::{Reader, Record};
use ferrokeeper::proto::{create_mode, err, op, perms};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Raw {
    sock: TcpStream,
    buf: BytesMut,
    xid: i32,
}

struct Reply {
    xid: i32,
    err: i32,
    body: Bytes,
}

impl Raw {
    async fn connect(addr: &str, timeout_ms: i32) -> Raw {
        let mut sock = TcpStream::connect(addr).await.unwrap();
        let body = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id: 0,
            passwd: Bytes::from_static(&[0u8; 16]),
            read_only: Some(false),
        }
        .to_bytes();
        let mut b = BytesMut::new();
        b.put_i32(body.len() as i32);
        b.put_slice(&body);
        sock.write_all(&b).await.unwrap();
        let mut r = Raw {
            sock,
            buf: BytesMut::new(),
            xid: 1,
        };
        let resp = ConnectResponse::from_bytes(r.frame().await).unwrap();
        assert_ne!(resp.session_id, 0, "session established");
        r
    }

    async fn frame(&mut self) -> Bytes {
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    return self.buf.split_to(len).freeze();
                }
            }
            let n =
                tokio::time::timeout(Duration::from_secs(10), self.sock.read_buf(&mut self.buf))
                    .await
                    .expect("reply in time")
                    .unwrap();
            assert!(n > 0, "server closed the connection");
        }
    }

    async fn reply(&mut self) -> Reply {
        loop {
            let mut r = Reader::new(self.frame().await);
            let h = ReplyHeader::read(&mut r).unwrap();
            if h.xid == -1 {
                continue; // a notification
            }
            return Reply {
                xid: h.xid,
                err: h.err,
                body: r.rest(),
            };
        }
    }

    /// Append a request to `out`; returns its xid.
    fn queue(&mut self, out: &mut BytesMut, op_code: i32, body: &[u8]) -> i32 {
        let x = self.xid;
        self.xid += 1;
        out.put_i32(8 + body.len() as i32);
        out.put_i32(x);
        out.put_i32(op_code);
        out.put_slice(body);
        x
    }

    async fn call(&mut self, op_code: i32, body: &[u8]) -> Reply {
        let mut out = BytesMut::new();
        let x = self.queue(&mut out, op_code, body);
        self.sock.write_all(&out).await.unwrap();
        let r = self.reply().await;
        assert_eq!(r.xid, x);
        r
    }
}

fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

fn get(path: &str) -> Bytes {
    PathWatchRequest {
        path: path.into(),
        watch: false,
    }
    .to_bytes()
}

fn set(path: &str, data: Vec<u8>) -> Bytes {
    SetDataRequest {
        path: path.into(),
        data: data.into(),
        version: -1,
    }
    .to_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_never_overtake_their_sessions_writes() {
    let (h, addr) = common::start(|_| {}).await;
    let mut c = Raw::connect(&addr, 10_000).await;
    let create = CreateRequest {
        path: "/k".into(),
        data: Bytes::from_static(b"0").into(),
        acl: open_acl(),
        flags: create_mode::PERSISTENT,
    }
    .to_bytes();
    assert_eq!(c.call(op::CREATE, &create).await.err, err::OK);
    // Pipeline write, read, write, read, ... in one go: each read must see the write just
    // before it, though reads of an idle session are served off the core.
    const ROUNDS: usize = 300;
    let mut out = BytesMut::new();
    let mut reads = Vec::new();
    for i in 1..=ROUNDS {
        c.queue(
            &mut out,
            op::SET_DATA,
            &set("/k", i.to_string().into_bytes()),
        );
        reads.push((c.queue(&mut out, op::GET_DATA, &get("/k")), i));
        // And some reads of an unchanged node in between, which may be answered early
        // only if nothing of this session is pending.
        c.queue(&mut out, op::EXISTS, &get("/"));
    }
    c.sock.write_all(&out).await.unwrap();
    let mut seen = 0;
    let mut next_xid = 2;
    while seen < ROUNDS {
        let r = c.reply().await;
        assert_eq!(r.xid, next_xid, "replies in request order");
        next_xid += 1;
        assert_eq!(r.err, err::OK);
        if let Some(&(_, i)) = reads.iter().find(|(x, _)| *x == r.xid) {
            let d = GetDataResponse::from_bytes(r.body).unwrap();
            assert_eq!(
                &d.data[..],
                i.to_string().as_bytes(),
                "read {i} saw its write"
            );
            seen += 1;
        }
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_only_reads_stays_alive() {
    let (h, addr) = common::start(|s| {
        s.tick_ms = 100;
        s.min_session_timeout = 200;
        s.max_session_timeout = 2_000;
    })
    .await;
    let mut c = Raw::connect(&addr, 400).await;
    // 1.5 s of reads, no pings: four session timeouts.
    for _ in 0..30 {
        assert_eq!(c.call(op::EXISTS, &get("/")).await.err, err::OK);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Still the same live session: a write goes through.
    let r = c.call(op::SET_DATA, &set("/", b"x".to_vec())).await;
    assert_eq!(r.err, err::OK);
    h.shutdown().await;
}
