//! The real `ferrokeeper` binary refuses a zoo.cfg that Apache ZooKeeper would run as a
//! quorum member (three `server.N` lines, `myid` 2): it must exit non-zero, say why, and
//! never listen on the client port (a standalone server there would split the ensemble).

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn three_server_config_with_myid_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("myid"), "2\n").unwrap();
    // A free loopback port for clientPort (released before the server could take it).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress=127.0.0.1\n\
             server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n\
             server.3=127.0.0.1:2890:3890\n",
            data.display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait up to 10 s for it to exit, checking all along that nothing accepts on the port.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut listened = false;
    let status = loop {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(100))
            .is_ok()
        {
            listened = true;
        }
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !listened,
        "a server listened on the client port; stderr:\n{stderr}"
    );
    let status = status.unwrap_or_else(|| panic!("still running after 10 s; stderr:\n{stderr}"));
    assert!(!status.success(), "exit status {status}; stderr:\n{stderr}");
    assert!(
        stderr.contains("refusing to start")
            && stderr.contains("3 voting members")
            && stderr.contains("server 2")
            && stderr.contains("quorum"),
        "stderr:\n{stderr}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "something listens on {port}"
    );
    // Nothing was written into the data directory either (no snapshot at startup).
    assert!(!data.join("version-2").exists());
}
