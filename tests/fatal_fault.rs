//! A fault in the core ends the process: non-zero exit, a clear log line, and nothing
//! left listening (an unwinding panic used to leave a listener that accepted clients and
//! answered none). The fault is injected with the test-only
//! `-D ferrokeeper.faultInjection.panicOnCreate=PATH`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// ConnectRequest frame: protocol 0, lastZxid 0, timeout 10000, session 0, 16-byte
/// zero password.
fn connect_frame() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&10_000i32.to_be_bytes());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&16i32.to_be_bytes());
    b.extend_from_slice(&[0u8; 16]);
    let mut f = (b.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&b);
    f
}

/// create(path, "", OPEN_ACL_UNSAFE, persistent) with xid 1.
fn create_frame(path: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&1i32.to_be_bytes()); // xid
    b.extend_from_slice(&1i32.to_be_bytes()); // create
    b.extend_from_slice(&(path.len() as i32).to_be_bytes());
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // data: empty
    b.extend_from_slice(&1i32.to_be_bytes()); // one ACL
    b.extend_from_slice(&31i32.to_be_bytes());
    for s in ["world", "anyone"] {
        b.extend_from_slice(&(s.len() as i32).to_be_bytes());
        b.extend_from_slice(s.as_bytes());
    }
    b.extend_from_slice(&0i32.to_be_bytes()); // flags
    let mut f = (b.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&b);
    f
}

#[test]
fn a_core_panic_ends_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .arg(&cfg)
        .args(["-D", "ferrokeeper.faultInjection.panicOnCreate=/boom"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sock = loop {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            break s;
        }
        assert!(Instant::now() < deadline, "server never listened");
        std::thread::sleep(Duration::from_millis(50));
    };
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.write_all(&connect_frame()).unwrap();
    let mut head = [0u8; 4];
    sock.read_exact(&mut head).unwrap();
    let mut resp = vec![0u8; i32::from_be_bytes(head) as usize];
    sock.read_exact(&mut resp).unwrap();
    // A create elsewhere works; the create of /boom faults the core.
    sock.write_all(&create_frame("/fine")).unwrap();
    sock.read_exact(&mut head).unwrap();
    let mut reply = vec![0u8; i32::from_be_bytes(head) as usize];
    sock.read_exact(&mut reply).unwrap();
    sock.write_all(&create_frame("/boom")).unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let status = status.expect("the process kept running after the core panicked");
    assert!(!status.success(), "exit status {status:?}");
    assert!(
        stderr.contains("fault injection: create of /boom"),
        "no clear log line: {stderr}"
    );
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
        "something still listens on the client port"
    );
}
