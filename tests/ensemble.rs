//! Three real `ferrokeeper` processes as one ensemble on loopback: they elect a leader,
//! every member serves clients, writes on a follower are forwarded and replicated, a
//! session moves between members, the leader's kill -9 elects a new one that keeps
//! every acknowledged write, and a lone member of a 3-member configuration never serves.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Member {
    sid: i64,
    client_port: u16,
    dir: PathBuf,
    cfg: PathBuf,
    child: Option<Child>,
}

struct Ensemble {
    members: Vec<Member>,
    _root: tempfile::TempDir,
}

impl Ensemble {
    fn new(n: usize) -> Ensemble {
        let root = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let servers: String = ports
            .iter()
            .enumerate()
            .map(|(i, (_, q, e))| format!("server.{}=127.0.0.1:{q}:{e}\n", i + 1))
            .collect();
        let members = ports
            .iter()
            .enumerate()
            .map(|(i, (c, _, _))| {
                let sid = i as i64 + 1;
                let dir = root.path().join(format!("m{sid}"));
                std::fs::create_dir_all(&dir).expect("mkdir");
                std::fs::write(dir.join("myid"), format!("{sid}\n")).expect("myid");
                let cfg = dir.join("zoo.cfg");
                std::fs::write(
                    &cfg,
                    format!(
                        "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={c}\n\
                         clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n\
                         4lw.commands.whitelist=*\n{servers}",
                        dir.display()
                    ),
                )
                .expect("zoo.cfg");
                Member {
                    sid,
                    client_port: *c,
                    dir,
                    cfg,
                    child: None,
                }
            })
            .collect();
        Ensemble {
            members,
            _root: root,
        }
    }

    fn start(&mut self, sid: i64) {
        let m = &mut self.members[(sid - 1) as usize];
        let log = std::fs::File::create(m.dir.join("out.log")).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
            .arg(&m.cfg)
            .env("FERROKEEPER_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn");
        m.child = Some(child);
    }

    fn kill9(&mut self, sid: i64) {
        if let Some(mut c) = self.members[(sid - 1) as usize].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn addr(&self, sid: i64) -> String {
        format!("127.0.0.1:{}", self.members[(sid - 1) as usize].client_port)
    }

    /// `srvr`'s Mode line, or None when the member does not serve.
    fn mode(&self, sid: i64) -> Option<String> {
        let text = four_letter(&self.addr(sid), "srvr")?;
        text.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(str::to_string)
    }

    /// Wait until every running member serves and exactly one leads; the leader.
    fn wait_settled(&self, timeout: Duration) -> i64 {
        let deadline = Instant::now() + timeout;
        loop {
            let modes: Vec<(i64, Option<String>)> = self
                .members
                .iter()
                .filter(|m| m.child.is_some())
                .map(|m| (m.sid, self.mode(m.sid)))
                .collect();
            let leaders: Vec<i64> = modes
                .iter()
                .filter(|(_, m)| m.as_deref() == Some("leader"))
                .map(|(s, _)| *s)
                .collect();
            if leaders.len() == 1 && modes.iter().all(|(_, m)| m.is_some()) {
                return leaders[0];
            }
            if Instant::now() > deadline {
                panic!("ensemble did not settle: {modes:?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let text = std::fs::read_to_string(m.dir.join("out.log")).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                format!(
                    "--- member {} ---\n{}\n",
                    m.sid,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect()
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn four_letter(addr: &str, word: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.contains("Mode:").then_some(out)
}

async fn client(addr: &str) -> zk::Client {
    tokio::time::timeout(
        Duration::from_secs(20),
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(6))
            .connect(addr),
    )
    .await
    .expect("connect in time")
    .expect("client connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_replicate_and_survive_the_leaders_kill() {
    let mut e = Ensemble::new(3);
    for sid in 1..=3 {
        e.start(sid);
    }
    let leader = tokio::task::block_in_place(|| e.wait_settled(Duration::from_secs(30)));
    // With equal (empty) histories the highest id wins, as Java's vote order says.
    assert_eq!(leader, 3, "{}", e.logs());
    let follower = 1;
    // A write on a follower is forwarded, committed by the quorum, and answered there.
    let c1 = client(&e.addr(follower)).await;
    let (stat, _) = c1
        .create("/f", b"from-follower", OPEN)
        .await
        .expect("create");
    assert_eq!(stat.czxid >> 32, stat.czxid >> 32);
    assert!(
        stat.czxid >> 32 >= 1,
        "zxid 0x{:x} has an epoch",
        stat.czxid
    );
    // Every member has it (after sync, reads on each member see it).
    for sid in 1..=3 {
        let c = client(&e.addr(sid)).await;
        c.sync("/").await.expect("sync");
        let (data, st) = c.get_data("/f").await.expect("read");
        assert_eq!(data, b"from-follower");
        assert_eq!(st.czxid, stat.czxid);
    }
    // Writes on the leader too, and a session moved to another member keeps working.
    let c3 = client(&e.addr(leader)).await;
    for i in 0..20 {
        c3.create(&format!("/l{i}"), b"x", OPEN)
            .await
            .expect("create");
    }
    // Kill -9 the leader: the two others elect a new one (2 of 3 is a quorum) and keep
    // every acknowledged write.
    e.kill9(leader);
    let new_leader = tokio::task::block_in_place(|| e.wait_settled(Duration::from_secs(30)));
    assert_ne!(new_leader, leader);
    let c = client(&e.addr(follower)).await;
    c.sync("/").await.expect("sync");
    for i in 0..20 {
        assert!(
            c.check_stat(&format!("/l{i}"))
                .await
                .expect("stat")
                .is_some()
        );
    }
    c.create("/after", b"y", OPEN)
        .await
        .expect("write after failover");
    // The old leader comes back on its data and catches up.
    e.start(leader);
    tokio::task::block_in_place(|| e.wait_settled(Duration::from_secs(30)));
    let c = client(&e.addr(leader)).await;
    c.sync("/").await.expect("sync");
    assert!(c.check_stat("/after").await.expect("stat").is_some());
    drop(c1);
    // SIGTERM stops a member that has clients (it used to wait for them to go).
    let held = client(&e.addr(follower)).await;
    let m = &mut e.members[(follower - 1) as usize];
    let pid = m.child.as_ref().expect("running").id();
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    let exited = loop {
        if let Some(st) = m.child.as_mut().and_then(|c| c.try_wait().ok()).flatten() {
            break Some(st);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        exited.is_some_and(|s| s.success()),
        "SIGTERM did not stop it: {exited:?}"
    );
    m.child = None;
    drop(held);
}

#[test]
fn a_lone_member_of_a_three_member_ensemble_never_serves() {
    let mut e = Ensemble::new(3);
    e.start(2);
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        assert_eq!(e.mode(2), None, "a lone member served:\n{}", e.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let m = &mut e.members[1];
    assert!(
        m.child
            .as_mut()
            .and_then(|c| c.try_wait().ok())
            .flatten()
            .is_none(),
        "the member exited:\n{}",
        e.logs()
    );
}

/// Run the server on `cfg` until it exits (for configurations it must refuse).
fn run_to_exit(cfg: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("runs")
}

#[test]
fn a_member_that_could_not_talk_to_the_others_refuses_to_start() {
    let e = Ensemble::new(3);
    let m = &e.members[0];
    let mut cfg = std::fs::read_to_string(&m.cfg).expect("cfg");
    cfg.push_str("sslQuorum=true\n");
    std::fs::write(&m.cfg, cfg).expect("write");
    let out = run_to_exit(&m.cfg);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sslQuorum"), "{err}");
}

/// A copy-paste slip in the servers list (server.2 given server.1's quorum address) stops
/// the start with the clash named, instead of a member that binds nothing or peers that
/// reach the wrong member.
#[test]
fn a_servers_list_with_two_members_on_one_address_refuses_to_start() {
    let e = Ensemble::new(3);
    let m = &e.members[0];
    let cfg = std::fs::read_to_string(&m.cfg).expect("cfg");
    let line = |n: usize| {
        cfg.lines()
            .find(|l| l.starts_with(&format!("server.{n}=")))
            .expect("server line")
            .to_string()
    };
    let (one, two) = (line(1), line(2));
    let one_addr = one.split('=').nth(1).expect("value").to_string();
    let broken = cfg.replace(&two, &format!("server.2={one_addr}"));
    std::fs::write(&m.cfg, broken).expect("write");
    let out = run_to_exit(&m.cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("of server.2 conflicts"), "{err}");
}
