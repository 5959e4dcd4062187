//! A benchmark session: one pipelined ZooKeeper connection, request bodies, and the
//! setup of keys and children before a run.

use super::*;

/// A connected session: the socket halves and the bytes read but not yet framed.
pub(crate) struct Session {
    pub(crate) rd: OwnedReadHalf,
    pub(crate) wr: OwnedWriteHalf,
    pub(crate) rbuf: BytesMut,
    pub(crate) wbuf: BytesMut,
    pub(crate) next_xid: i32,
}

pub(crate) fn put_frame(b: &mut BytesMut, xid: i32, op_code: i32, body: &[u8]) {
    b.put_i32((8 + body.len()) as i32);
    b.put_i32(xid);
    b.put_i32(op_code);
    b.put_slice(body);
}

pub(crate) fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

pub(crate) fn create_body(path: &str, data: &[u8], flags: i32) -> Bytes {
    CreateRequest {
        path: path.to_owned(),
        data: Bytes::copy_from_slice(data).into(),
        acl: open_acl(),
        flags,
    }
    .to_bytes()
}

pub(crate) fn path_watch_body(path: &str, watch: bool) -> Bytes {
    PathWatchRequest {
        path: path.to_owned(),
        watch,
    }
    .to_bytes()
}

pub(crate) fn set_body(path: &str, data: &[u8]) -> Bytes {
    SetDataRequest {
        path: path.to_owned(),
        data: Bytes::copy_from_slice(data).into(),
        version: -1,
    }
    .to_bytes()
}

pub(crate) fn delete_body(path: &str) -> Bytes {
    DeleteRequest {
        path: path.to_owned(),
        version: -1,
    }
    .to_bytes()
}

/// Split one complete frame off the front of `rbuf`, if there is one.
pub(crate) fn split_frame(rbuf: &mut BytesMut) -> io::Result<Option<Bytes>> {
    if rbuf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([rbuf[0], rbuf[1], rbuf[2], rbuf[3]]);
    if len < 0 || len as usize > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad frame length {len}"),
        ));
    }
    let len = len as usize;
    if rbuf.len() < 4 + len {
        rbuf.reserve(4 + len - rbuf.len());
        return Ok(None);
    }
    rbuf.advance(4);
    Ok(Some(rbuf.split_to(len).freeze()))
}

/// Split one complete reply (header decoded) off the front of `rbuf`, if there is one.
pub(crate) fn split_reply(rbuf: &mut BytesMut) -> io::Result<Option<Reply>> {
    let Some(frame) = split_frame(rbuf)? else {
        return Ok(None);
    };
    let mut r = Reader::new(frame);
    let h = ReplyHeader::read(&mut r)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(Some(Reply {
        xid: h.xid,
        err: h.err,
        body: r.rest(),
    }))
}

/// A decoded reply frame: header plus the undecoded body.
pub(crate) struct Reply {
    pub(crate) xid: i32,
    pub(crate) err: i32,
    pub(crate) body: Bytes,
}

impl Session {
    pub(crate) async fn connect(addr: SocketAddr, timeout_ms: i32) -> io::Result<Session> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::connect_inner(addr, timeout_ms))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))?
    }

    pub(crate) async fn connect_inner(addr: SocketAddr, timeout_ms: i32) -> io::Result<Session> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (rd, mut wr) = stream.into_split();
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id: 0,
            passwd: Bytes::from_static(&[0u8; 16]),
            read_only: Some(false),
        };
        let mut b = BytesMut::new();
        let body = req.to_bytes();
        b.put_i32(body.len() as i32);
        b.put_slice(&body);
        wr.write_all(&b).await?;
        let mut s = Session {
            rd,
            wr,
            rbuf: BytesMut::with_capacity(64 * 1024),
            wbuf: BytesMut::with_capacity(16 * 1024),
            next_xid: 1,
        };
        let frame = loop {
            if let Some(f) = s.next_frame()? {
                break f;
            }
            s.fill().await?;
        };
        let resp = ConnectResponse::from_bytes(frame)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if resp.session_id == 0 || resp.time_out <= 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "session refused by the server",
            ));
        }
        Ok(s)
    }

    /// Read more bytes; EOF is an error.
    pub(crate) async fn fill(&mut self) -> io::Result<()> {
        if self.rd.read_buf(&mut self.rbuf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        Ok(())
    }

    pub(crate) fn next_frame(&mut self) -> io::Result<Option<Bytes>> {
        split_frame(&mut self.rbuf)
    }

    pub(crate) fn next_reply(&mut self) -> io::Result<Option<Reply>> {
        split_reply(&mut self.rbuf)
    }

    /// Queue a request in the write buffer; returns its xid.
    pub(crate) fn queue(&mut self, op_code: i32, body: &[u8]) -> i32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        put_frame(&mut self.wbuf, x, op_code, body);
        x
    }

    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.wr.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Send one request and wait for its reply (skipping notifications and pings).
    pub(crate) async fn call(&mut self, op_code: i32, body: &[u8]) -> io::Result<Reply> {
        let x = self.queue(op_code, body);
        self.flush().await?;
        loop {
            while let Some(r) = self.next_reply()? {
                if r.xid == x {
                    return Ok(r);
                }
            }
            self.fill().await?;
        }
    }

    /// closeSession, waiting briefly for the answer (so the server frees the session now
    /// rather than at its timeout).
    pub(crate) async fn close(mut self) {
        let _ =
            tokio::time::timeout(Duration::from_secs(5), self.call(op::CLOSE_SESSION, &[])).await;
    }
}

pub(crate) async fn connect_many(
    addr: SocketAddr,
    n: usize,
    timeout_ms: i32,
) -> io::Result<Vec<Session>> {
    // Java's default listen backlog is 50: connect in waves well under it.
    const WAVE: usize = 32;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = WAVE.min(n - out.len());
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..k {
            set.spawn(Session::connect(addr, timeout_ms));
        }
        while let Some(r) = set.join_next().await {
            out.push(r.map_err(io::Error::other)??);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Setup: the nodes a workload reads or writes.

pub(crate) fn key_path(root: &str, value_size: usize, i: usize) -> String {
    format!("{root}/v{value_size}/k{i}")
}

/// Create `path` and its ancestors (NODEEXISTS is fine).
pub(crate) async fn ensure_path(s: &mut Session, path: &str) -> io::Result<()> {
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at.push('/');
        at.push_str(part);
        let r = s
            .call(op::CREATE, &create_body(&at, &[], create_mode::PERSISTENT))
            .await?;
        if r.err != err::OK && r.err != err::NODE_EXISTS {
            return Err(io::Error::other(format!("create {at}: error {}", r.err)));
        }
    }
    Ok(())
}

/// Create every body in `bodies` (create requests) pipelined over `sessions`, `depth`
/// outstanding each. NODEEXISTS counts as done. Returns the number created.
pub(crate) async fn pipelined_creates(
    sessions: Vec<Session>,
    bodies: Arc<Vec<Bytes>>,
    depth: usize,
) -> io::Result<(u64, Vec<Session>)> {
    let n = sessions.len();
    let mut set = tokio::task::JoinSet::new();
    for (i, mut s) in sessions.into_iter().enumerate() {
        let bodies = bodies.clone();
        set.spawn(async move {
            let mine: Vec<usize> = (i..bodies.len()).step_by(n).collect();
            let mut next = 0;
            let mut outstanding = 0usize;
            let mut created = 0u64;
            while next < mine.len() || outstanding > 0 {
                while outstanding < depth && next < mine.len() {
                    s.queue(op::CREATE, &bodies[mine[next]]);
                    next += 1;
                    outstanding += 1;
                }
                s.flush().await?;
                s.fill().await?;
                while let Some(r) = s.next_reply()? {
                    if r.xid < 0 {
                        continue;
                    }
                    outstanding -= 1;
                    match r.err {
                        err::OK => created += 1,
                        err::NODE_EXISTS => {}
                        e => return Err(io::Error::other(format!("create failed: error {e}"))),
                    }
                }
            }
            Ok::<_, io::Error>((created, s))
        });
    }
    let mut created = 0;
    let mut back = Vec::new();
    while let Some(r) = set.join_next().await {
        let (c, s) = r.map_err(io::Error::other)??;
        created += c;
        back.push(s);
    }
    Ok((created, back))
}

pub(crate) async fn setup_keys(a: &Args, s: &mut Session) -> io::Result<()> {
    let dir = format!("{}/v{}", a.root, a.value_size);
    ensure_path(s, &dir).await?;
    let value = vec![b'x'; a.value_size];
    let bodies: Vec<Bytes> = (0..a.keys)
        .map(|i| {
            create_body(
                &key_path(&a.root, a.value_size, i),
                &value,
                create_mode::PERSISTENT,
            )
        })
        .collect();
    let helpers = connect_many(a.addr, 4, a.session_timeout).await?;
    let (_, helpers) = pipelined_creates(helpers, Arc::new(bodies), 256).await?;
    for h in helpers {
        h.close().await;
    }
    Ok(())
}

pub(crate) async fn setup_children(a: &Args, s: &mut Session) -> io::Result<String> {
    let parent = format!("{}/children{}", a.root, a.children);
    ensure_path(s, &parent).await?;
    let bodies: Vec<Bytes> = (0..a.children)
        .map(|i| create_body(&format!("{parent}/c{i:07}"), &[], create_mode::PERSISTENT))
        .collect();
    let helpers = connect_many(a.addr, 4, a.session_timeout).await?;
    let (_, helpers) = pipelined_creates(helpers, Arc::new(bodies), 256).await?;
    for h in helpers {
        h.close().await;
    }
    Ok(parent)
}

// ---------------------------------------------------------------------------------------
// Measurement.
