//! The workloads: closed/open-loop request loops, watch fan-out, idle sessions,
//! populate (load) and probe (startup time).

use super::*;

/// xorshift64*: fast and good enough to pick keys.
pub(crate) struct Rng(u64);
impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next() >> 11) % n as u64) as usize
    }
}

/// Pre-encoded request bodies shared by every session.
pub(crate) struct Bodies {
    pub(crate) get: Vec<Bytes>,
    pub(crate) set: Vec<Bytes>,
    pub(crate) create: Bytes,
    pub(crate) exists: Bytes,
    pub(crate) children: Bytes,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Create,
    Other,
}

/// What every session of a load run shares.
pub(crate) struct Plan {
    pub(crate) wl: Workload,
    pub(crate) bodies: Bodies,
    pub(crate) start: Instant,
    pub(crate) measure: Instant,
    pub(crate) end: Instant,
    pub(crate) depth: usize,
    /// Open loop: time between a session's requests.
    pub(crate) interval: Option<Duration>,
}

pub(crate) struct LoadResult {
    pub(crate) hist: Histogram<u64>,
    pub(crate) ops: u64,
    pub(crate) errors: u64,
}

/// Wakes open-loop sessions at their send times. tokio's timer has millisecond
/// granularity, so sessions sleeping on it would send up to 1 ms late, and that lateness
/// counts as latency (it is measured from the scheduled time) for both servers alike.
/// This thread sleeps with the OS's precision (tens of microseconds) and wakes each
/// session when its next request is due.
pub(crate) struct Pacer {
    wakers: Vec<Arc<tokio::sync::Notify>>,
}

impl Pacer {
    fn start(start: Instant, end: Instant, interval: Duration, phases: &[Duration]) -> Pacer {
        let wakers: Vec<_> = phases
            .iter()
            .map(|_| Arc::new(tokio::sync::Notify::new()))
            .collect();
        let mut next: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, usize)>> = phases
            .iter()
            .enumerate()
            .map(|(i, p)| std::cmp::Reverse((start + *p, i)))
            .collect();
        let w = wakers.clone();
        std::thread::spawn(move || {
            while let Some(std::cmp::Reverse((due, i))) = next.pop() {
                if due >= end {
                    break;
                }
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                w[i].notify_one();
                next.push(std::cmp::Reverse((due + interval, i)));
            }
        });
        Pacer { wakers }
    }
}

pub(crate) async fn load_session(
    mut s: Session,
    plan: Arc<Plan>,
    phase: Duration,
    pacer: Option<Arc<tokio::sync::Notify>>,
    seed: u64,
) -> io::Result<LoadResult> {
    let (wl, bodies, depth, interval) = (plan.wl, &plan.bodies, plan.depth, plan.interval);
    let t = &plan;
    let mut rng = Rng::new(seed);
    let mut hist = new_hist();
    let (mut ops, mut errors) = (0u64, 0u64);
    let mut inflight: VecDeque<(i32, Instant, Kind)> = VecDeque::with_capacity(depth);
    let mut deletes: VecDeque<Bytes> = VecDeque::new();
    let mut next_sched = t.start + phase;
    let mut flip = false;
    let end_sleep = tokio::time::sleep_until(t.end.into());
    tokio::pin!(end_sleep);
    let tick = tokio::time::sleep_until(next_sched.into());
    tokio::pin!(tick);
    let nkeys = bodies.get.len();
    loop {
        let now = Instant::now();
        if now >= t.end {
            break;
        }
        while inflight.len() < depth {
            let sched = match interval {
                None => now,
                Some(iv) => {
                    if next_sched > now {
                        break;
                    }
                    let at = next_sched;
                    next_sched += iv;
                    at
                }
            };
            let (x, kind) = match wl {
                Workload::Get => (
                    s.queue(op::GET_DATA, &bodies.get[rng.below(nkeys)]),
                    Kind::Other,
                ),
                Workload::Set => (
                    s.queue(op::SET_DATA, &bodies.set[rng.below(nkeys)]),
                    Kind::Other,
                ),
                Workload::Mixed => {
                    let k = rng.below(nkeys);
                    if rng.below(10) == 0 {
                        (s.queue(op::SET_DATA, &bodies.set[k]), Kind::Other)
                    } else {
                        (s.queue(op::GET_DATA, &bodies.get[k]), Kind::Other)
                    }
                }
                Workload::CreateDelete => match deletes.pop_front() {
                    Some(b) => (s.queue(op::DELETE, &b), Kind::Other),
                    None => (s.queue(op::CREATE, &bodies.create), Kind::Create),
                },
                Workload::Children => {
                    flip = !flip;
                    let body = if flip {
                        (op::EXISTS, &bodies.exists)
                    } else {
                        (op::GET_CHILDREN, &bodies.children)
                    };
                    (s.queue(body.0, body.1), Kind::Other)
                }
                _ => unreachable!("not a load workload"),
            };
            inflight.push_back((x, sched, kind));
        }
        s.flush().await?;
        let open_wait = interval.is_some() && inflight.len() < depth;
        // Without a pacer (never in practice) fall back to tokio's coarse timer.
        if open_wait && pacer.is_none() {
            tick.as_mut().reset(next_sched.into());
        }
        let paced = async {
            match &pacer {
                Some(p) => p.notified().await,
                None => (&mut tick).await,
            }
        };
        tokio::select! {
            r = s.rd.read_buf(&mut s.rbuf) => {
                if r? == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
                }
            }
            _ = &mut end_sleep => break,
            _ = paced, if open_wait => {}
        }
        let now = Instant::now();
        while let Some(r) = s.next_reply()? {
            if r.xid < 0 {
                continue; // notification or ping
            }
            let Some((x, sched, kind)) = inflight.pop_front() else {
                return Err(io::Error::other(format!("unexpected reply xid {}", r.xid)));
            };
            if x != r.xid {
                return Err(io::Error::other(format!(
                    "reply out of order: expected xid {x}, got {}",
                    r.xid
                )));
            }
            if sched >= t.measure && now <= t.end {
                ops += 1;
                hist.saturating_record(now.duration_since(sched).as_micros() as u64);
                if r.err != err::OK {
                    errors += 1;
                }
            }
            if kind == Kind::Create && r.err == err::OK {
                let created = CreateResponse::read(&mut Reader::new(r.body))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                deletes.push_back(delete_body(&created.path));
            }
        }
    }
    // Drain what is outstanding (unmeasured), then remove what we created.
    let drain_until = Instant::now() + DRAIN_TIMEOUT;
    while !inflight.is_empty() && Instant::now() < drain_until {
        let r = tokio::time::timeout_at(drain_until.into(), s.fill()).await;
        if !matches!(r, Ok(Ok(()))) {
            break;
        }
        while let Some(r) = s.next_reply()? {
            if r.xid < 0 {
                continue;
            }
            if let Some((_, _, kind)) = inflight.pop_front()
                && kind == Kind::Create
                && r.err == err::OK
                && let Ok(c) = CreateResponse::read(&mut Reader::new(r.body))
            {
                deletes.push_back(delete_body(&c.path));
            }
        }
    }
    for d in deletes.drain(..) {
        let _ = tokio::time::timeout_at(drain_until.into(), s.call(op::DELETE, &d)).await;
    }
    s.close().await;
    Ok(LoadResult { hist, ops, errors })
}

pub(crate) async fn run_load(a: Args) -> io::Result<Report> {
    let mut admin = Session::connect(a.addr, a.session_timeout).await?;
    let value = vec![b'v'; a.value_size];
    let mut bodies = Bodies {
        get: Vec::new(),
        set: Vec::new(),
        create: Bytes::new(),
        exists: Bytes::new(),
        children: Bytes::new(),
    };
    match a.workload {
        Workload::Get | Workload::Set | Workload::Mixed => {
            setup_keys(&a, &mut admin).await?;
            for i in 0..a.keys {
                let p = key_path(&a.root, a.value_size, i);
                bodies.get.push(path_watch_body(&p, false));
                bodies.set.push(set_body(&p, &value));
            }
        }
        Workload::CreateDelete => {
            let dir = format!("{}/cd", a.root);
            ensure_path(&mut admin, &dir).await?;
            bodies.create = create_body(
                &format!("{dir}/n-"),
                &value,
                create_mode::PERSISTENT_SEQUENTIAL,
            );
        }
        Workload::Children => {
            let parent = setup_children(&a, &mut admin).await?;
            bodies.exists = path_watch_body(&parent, false);
            bodies.children = path_watch_body(&parent, false);
        }
        _ => unreachable!(),
    }
    admin.close().await;
    let sessions = connect_many(a.addr, a.sessions, a.session_timeout).await?;
    let start = Instant::now() + Duration::from_millis(20);
    let measure = start + Duration::from_secs_f64(a.warmup);
    let end = measure + Duration::from_secs_f64(a.duration);
    let interval = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.sessions as f64 / a.rate));
    let phases: Vec<Duration> = (0..a.sessions)
        .map(|i| {
            interval
                .map(|iv| iv.mul_f64(i as f64 / a.sessions as f64))
                .unwrap_or_default()
        })
        .collect();
    let pacer = interval.map(|iv| Pacer::start(start, end, iv, &phases));
    let plan = Arc::new(Plan {
        wl: a.workload,
        bodies,
        start,
        measure,
        end,
        depth: a.depth,
        interval,
    });
    let sampler = tokio::spawn(sample_window(a.server_pid, measure, end));
    let mut set = tokio::task::JoinSet::new();
    for (i, s) in sessions.into_iter().enumerate() {
        set.spawn(load_session(
            s,
            plan.clone(),
            phases[i],
            pacer.as_ref().and_then(|p| p.wakers.get(i).cloned()),
            a.seed ^ (i as u64 + 1),
        ));
    }
    let mut hist = new_hist();
    let (mut ops, mut errors) = (0, 0);
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        match r.map_err(io::Error::other)? {
            Ok(res) => {
                hist.add(&res.hist).expect("same histogram bounds");
                ops += res.ops;
                errors += res.errors;
            }
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("ferrokeeper-bench: a session failed: {e}");
                }
            }
        }
    }
    let window = sampler.await.map_err(io::Error::other)?;
    Ok(Report {
        secs: window.wall.as_secs_f64(),
        args: a,
        ops,
        errors,
        hist,
        window: Some(window),
        extra: vec![("failed_sessions", failed as f64)],
    })
}

// ---------------------------------------------------------------------------------------
// idle / load / probe.

pub(crate) async fn run_idle(a: Args) -> io::Result<Report> {
    let before = a.server_pid.and_then(proc_sample);
    let sessions = connect_many(a.addr, a.sessions, a.session_timeout).await?;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.warmup + a.duration);
    let ping_every = Duration::from_millis(a.ping_ms.max(10));
    let mut set = tokio::task::JoinSet::new();
    for (i, mut s) in sessions.into_iter().enumerate() {
        let offset = ping_every.mul_f64(i as f64 / a.sessions as f64);
        set.spawn(async move {
            let mut hist = new_hist();
            let mut at = start + offset;
            loop {
                at += ping_every;
                if at >= end {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
                let sent = Instant::now();
                // Clients ping with xid -2 and the server answers with it.
                put_frame(&mut s.wbuf, xid::PING, op::PING, &[]);
                s.flush().await?;
                'wait: loop {
                    while let Some(r) = s.next_reply()? {
                        if r.xid == xid::PING {
                            break 'wait;
                        }
                    }
                    s.fill().await?;
                }
                hist.saturating_record(sent.elapsed().as_micros() as u64);
            }
            Ok::<_, io::Error>((hist, s))
        });
    }
    let sampler = tokio::spawn(sample_window(
        a.server_pid,
        start + Duration::from_secs_f64(a.warmup),
        end,
    ));
    let mut hist = new_hist();
    let mut back = Vec::new();
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        match r.map_err(io::Error::other)? {
            Ok((h, s)) => {
                hist.add(&h).expect("same histogram bounds");
                back.push(s);
            }
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("ferrokeeper-bench: an idle session failed: {e}");
                }
            }
        }
    }
    let window = sampler.await.map_err(io::Error::other)?;
    let rss_before = before.map(|b| b.rss_kb as f64).unwrap_or(f64::NAN);
    let rss_after = window
        .server_after
        .map(|s| s.rss_kb as f64)
        .unwrap_or(f64::NAN);
    let per_session = (rss_after - rss_before) * 1024.0 / a.sessions as f64;
    // Close in waves so the server is not handed 10k closeSessions at once.
    let mut it = back.into_iter();
    loop {
        let wave: Vec<Session> = it.by_ref().take(256).collect();
        if wave.is_empty() {
            break;
        }
        let mut js = tokio::task::JoinSet::new();
        for s in wave {
            js.spawn(s.close());
        }
        while js.join_next().await.is_some() {}
    }
    Ok(Report {
        secs: window.wall.as_secs_f64(),
        ops: hist.len(),
        errors: 0,
        hist,
        window: Some(window),
        extra: vec![
            ("rss_before_kb", rss_before),
            ("rss_per_session_bytes", per_session),
            ("failed_sessions", failed as f64),
        ],
        args: a,
    })
}

pub(crate) async fn run_populate(a: Args) -> io::Result<Report> {
    let before = a.server_pid.and_then(proc_sample);
    let dir = format!("/load-{}", a.value_size);
    let mut admin = Session::connect(a.addr, a.session_timeout).await?;
    ensure_path(&mut admin, &dir).await?;
    admin.close().await;
    let value = vec![b'l'; a.value_size];
    let bodies: Vec<Bytes> = (0..a.keys)
        .map(|i| create_body(&format!("{dir}/n{i:08}"), &value, create_mode::PERSISTENT))
        .collect();
    let sessions = connect_many(a.addr, a.sessions.min(64), a.session_timeout).await?;
    let cpu0 = self_cpu_s();
    let busy0 = machine_busy_ticks();
    let started = Instant::now();
    let (created, back) = pipelined_creates(sessions, Arc::new(bodies), a.depth).await?;
    let wall = started.elapsed();
    let busy1 = machine_busy_ticks();
    let cpu1 = self_cpu_s();
    let server_end = a.server_pid.and_then(proc_sample);
    for s in back {
        s.close().await;
    }
    // Let the server settle (snapshots, GC) a moment before reading its RSS.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = a.server_pid.and_then(proc_sample);
    // CPU over the create window; RSS after the settle pause.
    let window = Window {
        wall,
        machine_busy: busy0.zip(busy1).map(|(a, b)| b.saturating_sub(a)),
        server_before: before,
        server_after: server_end.zip(after).map(|(e, a)| ProcSample {
            cpu_ticks: e.cpu_ticks,
            rss_kb: a.rss_kb,
        }),
        client_cpu_s: cpu1 - cpu0,
    };
    let rss_before = before.map(|b| b.rss_kb as f64).unwrap_or(f64::NAN);
    let rss_after = after.map(|b| b.rss_kb as f64).unwrap_or(f64::NAN);
    Ok(Report {
        secs: wall.as_secs_f64(),
        ops: created,
        errors: 0,
        hist: new_hist(),
        window: Some(window),
        extra: vec![
            ("created", created as f64),
            ("rss_before_kb", rss_before),
            (
                "rss_per_znode_bytes",
                (rss_after - rss_before) * 1024.0 / a.keys as f64,
            ),
        ],
        args: a,
    })
}

pub(crate) async fn run_probe(a: Args) -> io::Result<Report> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(a.ready_timeout);
    let mut attempts = 0u64;
    let body = path_watch_body("/", false);
    loop {
        attempts += 1;
        let try_once = async {
            let mut s = Session::connect(a.addr, a.session_timeout).await?;
            let r = s.call(op::EXISTS, &body).await?;
            if r.err != err::OK {
                return Err(io::Error::other(format!("exists: error {}", r.err)));
            }
            Ok::<_, io::Error>(s)
        };
        // A connection that lands in the listen backlog before the server serves may never
        // be answered (seen with Java): give each attempt 2 s, then try a new one.
        let attempt_end = deadline.min(Instant::now() + Duration::from_secs(2));
        match tokio::time::timeout_at(attempt_end.into(), try_once).await {
            Ok(Ok(s)) => {
                let took = started.elapsed();
                s.close().await;
                let mut hist = new_hist();
                hist.saturating_record(took.as_micros() as u64);
                let ready_ms = took.as_secs_f64() * 1e3;
                return Ok(Report {
                    secs: took.as_secs_f64(),
                    ops: 1,
                    errors: 0,
                    hist,
                    window: None,
                    extra: vec![("ready_ms", ready_ms), ("attempts", attempts as f64)],
                    args: a,
                });
            }
            _ if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("server not ready after {:.1} s", a.ready_timeout),
                ));
            }
        }
    }
}
