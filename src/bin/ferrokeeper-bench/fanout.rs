//! The watch fan-out workload: N sessions set a data watch on one node, one setData fires
//! them all; a round's latency is the time from sending the setData until the last of the
//! N notifications has been read.
//!
//! All N + 1 connections are driven by one event-loop thread (mio, edge-triggered), not by
//! N tokio tasks meeting at barriers: reading a notification then costs the generator
//! about one `recv`, so on a small machine the generator keeps up with the server and the
//! figure is the server's, not the generator's.

use super::*;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{Read, Write};

/// A connection driven by the event loop.
struct Conn {
    sock: MioStream,
    rbuf: BytesMut,
    next_xid: i32,
}

impl Conn {
    fn from_session(s: Session) -> io::Result<Conn> {
        let Session {
            rd,
            wr,
            rbuf,
            next_xid,
            ..
        } = s;
        let std = rd
            .reunite(wr)
            .map_err(|e| io::Error::other(e.to_string()))?
            .into_std()?;
        std.set_nonblocking(true)?;
        Ok(Conn {
            sock: MioStream::from_std(std),
            rbuf,
            next_xid,
        })
    }

    /// Send one small request; the socket buffer always has room for it in this
    /// workload, so a short write is retried only briefly.
    fn send(&mut self, op_code: i32, body: &[u8]) -> io::Result<i32> {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        let mut b = BytesMut::with_capacity(12 + body.len());
        put_frame(&mut b, x, op_code, body);
        let mut data = &b[..];
        let deadline = Instant::now() + Duration::from_secs(5);
        while !data.is_empty() {
            match self.sock.write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "socket full"));
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(x)
    }

    /// Read until the socket is drained (edge-triggered) and hand every complete frame's
    /// (xid, err) to `f`.
    fn drain(&mut self, mut f: impl FnMut(i32, i32)) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ));
                }
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        while let Some(r) = split_reply(&mut self.rbuf)? {
            f(r.xid, r.err);
        }
        Ok(())
    }
}

/// Samples at the start of the measured rounds.
struct Start {
    at: Instant,
    round: u64,
    server: Option<ProcSample>,
    busy: Option<u64>,
    self_cpu: f64,
}

impl Start {
    fn now(round: u64, server_pid: Option<u32>) -> Start {
        Start {
            at: Instant::now(),
            round,
            server: server_pid.and_then(proc_sample),
            busy: machine_busy_ticks(),
            self_cpu: self_cpu_s(),
        }
    }
}

/// What the event loop measured.
struct Outcome {
    fanout: Histogram<u64>,
    per_watch: Histogram<u64>,
    measured_rounds: u64,
    window: Window,
}

struct Loop {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
}

impl Loop {
    /// Poll, handing each readable connection's frames to `on_frame` (connection index,
    /// xid, err, time read), until it answers true. Errors after `timeout`.
    fn run_until(
        &mut self,
        timeout: Duration,
        mut on_frame: impl FnMut(usize, i32, i32, Instant) -> io::Result<bool>,
    ) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut done = false;
        while !done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "round timed out"));
            }
            self.poll.poll(&mut self.events, Some(left))?;
            for ev in self.events.iter() {
                let i = ev.token().0;
                let Some(c) = self.conns.get_mut(i) else {
                    continue;
                };
                let mut frames = Vec::new();
                c.drain(|x, e| frames.push((x, e)))?;
                let now = Instant::now();
                for (x, e) in frames {
                    done |= on_frame(i, x, e, now)?;
                }
            }
        }
        Ok(())
    }
}

pub(crate) async fn run_watch_fanout(a: Args) -> io::Result<Report> {
    let node = format!("{}/watch", a.root);
    let mut writer = Session::connect(a.addr, a.session_timeout).await?;
    ensure_path(&mut writer, &node).await?;
    let watchers = connect_many(a.addr, a.sessions, a.session_timeout).await?;
    let mut conns = Vec::with_capacity(watchers.len() + 1);
    for s in watchers {
        conns.push(Conn::from_session(s)?);
    }
    // The writer is the last connection.
    conns.push(Conn::from_session(writer)?);
    let n = a.sessions;
    let (warmup, duration, pid) = (a.warmup, a.duration, a.server_pid);
    let outcome =
        tokio::task::spawn_blocking(move || fanout_loop(conns, n, &node, warmup, duration, pid))
            .await
            .map_err(io::Error::other)??;
    let q = |h: &Histogram<u64>, p: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(p) as f64
        }
    };
    let extra = vec![
        ("rounds", outcome.measured_rounds as f64),
        ("watchers", n as f64),
        ("notify_p50_us", q(&outcome.per_watch, 0.5)),
        ("notify_p99_us", q(&outcome.per_watch, 0.99)),
    ];
    Ok(Report {
        secs: outcome.window.wall.as_secs_f64(),
        // One op = one round's notifications delivered; latency = until all arrived.
        ops: outcome.measured_rounds * n as u64,
        errors: 0,
        hist: outcome.fanout,
        window: Some(outcome.window),
        extra,
        args: a,
    })
}

fn fanout_loop(
    conns: Vec<Conn>,
    n: usize,
    node: &str,
    warmup: f64,
    duration: f64,
    server_pid: Option<u32>,
) -> io::Result<Outcome> {
    let poll = Poll::new()?;
    let mut lp = Loop {
        poll,
        events: Events::with_capacity(1024),
        conns,
    };
    for (i, c) in lp.conns.iter_mut().enumerate() {
        lp.poll
            .registry()
            .register(&mut c.sock, Token(i), Interest::READABLE)?;
    }
    let get_watch = path_watch_body(node, true);
    let set = set_body(node, b"fanout");
    let round_timeout = Duration::from_secs(30);
    let mut fanout = new_hist();
    let mut per_watch = new_hist();
    let warm_until = Instant::now() + Duration::from_secs_f64(warmup);
    let deadline = warm_until + Duration::from_secs_f64(duration);
    let mut measured: Option<Start> = None;
    let mut rounds = 0u64;
    let mut notified = vec![false; n];
    while Instant::now() < deadline && rounds < 100_000 {
        // Arm: every watcher sets its data watch.
        for c in lp.conns.iter_mut().take(n) {
            c.send(op::GET_DATA, &get_watch)?;
        }
        let mut armed = 0;
        lp.run_until(round_timeout, |i, x, e, _| {
            if i < n && x > 0 {
                if e != err::OK {
                    return Err(io::Error::other(format!("getData: error {e}")));
                }
                armed += 1;
            }
            Ok(armed == n)
        })?;
        let measuring = Instant::now() >= warm_until;
        if measuring && measured.is_none() {
            measured = Some(Start::now(rounds, server_pid));
        }
        // Fire: one setData; wait for every notification and the setData's reply.
        notified.iter_mut().for_each(|b| *b = false);
        let (mut left, mut set_done) = (n, false);
        let mut slowest = Duration::ZERO;
        let t0 = Instant::now();
        if let Some(w) = lp.conns.get_mut(n) {
            w.send(op::SET_DATA, &set)?;
        }
        lp.run_until(round_timeout, |i, x, e, at| {
            if i == n {
                if x > 0 {
                    if e != err::OK {
                        return Err(io::Error::other(format!("setData: error {e}")));
                    }
                    set_done = true;
                }
            } else if x == xid::NOTIFICATION && !notified[i] {
                notified[i] = true;
                left -= 1;
                let lat = at.duration_since(t0);
                slowest = slowest.max(lat);
                if measuring {
                    per_watch.saturating_record(lat.as_micros() as u64);
                }
            }
            Ok(left == 0 && set_done)
        })?;
        if measuring {
            fanout.saturating_record(slowest.as_micros() as u64);
        }
        rounds += 1;
    }
    let start = measured.unwrap_or_else(|| Start::now(rounds, server_pid));
    let window = Window {
        wall: start.at.elapsed(),
        machine_busy: start
            .busy
            .zip(machine_busy_ticks())
            .map(|(a, b)| b.saturating_sub(a)),
        server_before: start.server,
        server_after: server_pid.and_then(proc_sample),
        client_cpu_s: self_cpu_s() - start.self_cpu,
    };
    // Close every session so the server frees it now (answers are not awaited).
    for c in lp.conns.iter_mut() {
        let _ = c.send(op::CLOSE_SESSION, &[]);
    }
    std::thread::sleep(Duration::from_millis(200));
    Ok(Outcome {
        fanout,
        per_watch,
        measured_rounds: rounds - start.round,
        window,
    })
}
