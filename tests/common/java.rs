//! Real Apache ZooKeeper (Debian's 3.8 jars) as a child process, for mixed-ensemble tests.
//!
//! `JavaZk::start` writes `zoo.cfg` + `myid` into a fresh temp dir and runs
//! `QuorumPeerMain` with its output in `<dir>/zk.log`; dropping the handle kills that one
//! child by its PID and reaps it. Java missing is a test failure with a clear message,
//! never a skip.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian jar locations (package `zookeeper`).
pub const JARS: &[&str] = &[
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/zookeeper-jute.jar",
    "/usr/share/java/slf4j-simple.jar",
];

/// Panics with instructions if `java` or the jars are missing.
/// One Java ensemble at a time in a test binary: JVMs starting side by side on a 2-core
/// machine stretch elections past the tests' deadlines.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Hold this for the whole of a test that starts Java members.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

pub fn require_java() {
    for j in JARS {
        assert!(
            Path::new(j).is_file(),
            "Apache ZooKeeper jar {j} is missing: run `bash scripts/install-deps.sh` (Debian \
             packages zookeeper, libslf4j-java, a JRE) to run the mixed-ensemble tests"
        );
    }
    let ok = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`java` is not runnable: run `bash scripts/install-deps.sh` (it installs a JDK) to \
         run the mixed-ensemble tests"
    );
}

/// Free loopback ports, all distinct (held open until all are picked).
pub fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// One `server.N` line's worth of a member.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub sid: i64,
    pub quorum_port: u16,
    pub election_port: u16,
    pub client_port: u16,
    pub observer: bool,
}

impl Member {
    /// `server.N=127.0.0.1:q:e:participant|observer`
    pub fn server_line(&self) -> String {
        format!(
            "server.{}=127.0.0.1:{}:{}:{}",
            self.sid,
            self.quorum_port,
            self.election_port,
            if self.observer {
                "observer"
            } else {
                "participant"
            }
        )
    }
}

/// `n` members with sids 1..=n and fresh ports.
pub fn members(n: usize) -> Vec<Member> {
    let p = free_ports(3 * n);
    (0..n)
        .map(|i| Member {
            sid: i as i64 + 1,
            quorum_port: p[3 * i],
            election_port: p[3 * i + 1],
            client_port: p[3 * i + 2],
            observer: false,
        })
        .collect()
}

/// A running Java ZooKeeper member.
pub struct JavaZk {
    pub sid: i64,
    pub client_port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl JavaZk {
    /// Start member `me` of `all` (tickTime 500, initLimit 10, syncLimit 5, every 4lw
    /// allowed, no AdminServer). `extra` is appended to zoo.cfg.
    pub fn start(me: &Member, all: &[Member], extra: &str) -> JavaZk {
        require_java();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::write(data.join("myid"), me.sid.to_string()).expect("myid");
        let mut cfg = format!(
            "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
             4lw.commands.whitelist=*\n",
            data.display(),
            me.client_port
        );
        for m in all {
            cfg.push_str(&m.server_line());
            cfg.push('\n');
        }
        cfg.push_str(extra);
        let cfg_path = dir.path().join("zoo.cfg");
        std::fs::write(&cfg_path, cfg).expect("zoo.cfg");
        let child = spawn(dir.path());
        JavaZk {
            sid: me.sid,
            client_port: me.client_port,
            dir,
            child: Some(child),
        }
    }

    /// kill -9 and start again on the same data directory and zoo.cfg (the log is
    /// appended to).
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(spawn(self.dir.path()));
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("zk.log")
    }

    /// The last `n` lines of the member's log (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Send a four-letter word to the client port; the reply text.
    pub fn four_letter(&self, word: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(
            &format!("127.0.0.1:{}", self.client_port)
                .parse()
                .expect("addr"),
            Duration::from_secs(2),
        )?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.write_all(word.as_bytes())?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    /// Poll `srvr` until it reports `Mode: <mode>` (true) or `within` passes (false).
    pub fn wait_mode(&self, mode: &str, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Ok(t) = self.four_letter("srvr")
                && t.contains(&format!("Mode: {mode}"))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// Kill this child (SIGKILL to its PID) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for JavaZk {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run `QuorumPeerMain <dir>/zoo.cfg`, output appended to `<dir>/zk.log`.
fn spawn(dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("zk.log"))
        .expect("log file");
    let err = log.try_clone().expect("log file");
    let mut cmd = Command::new("java");
    // If this test process dies without dropping the handle, the JVM dies with it.
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.args([
        "-Xmx192m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-cp",
        &JARS.join(":"),
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
    ])
    .arg(dir.join("zoo.cfg"))
    .stdin(Stdio::null())
    .stdout(log)
    .stderr(err)
    .spawn()
    .expect("spawn java")
}
