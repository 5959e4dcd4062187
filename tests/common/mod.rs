//! Shared by the integration tests: an in-process server on a free loopback port and a
//! connected `zookeeper-client` session; [`java`] runs real Apache ZooKeeper members.

#![allow(dead_code)] // not every test binary uses every helper

pub mod java;

use ferrokeeper::server::{self, ServerHandle, settings::Settings};
use std::time::Duration;
use zookeeper_client as zk;

pub static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

/// Start a server on 127.0.0.1:0 (no per-IP connection limit), adjusted by `tune`;
/// returns its handle and "host:port".
pub async fn start(tune: impl FnOnce(&mut Settings)) -> (ServerHandle, String) {
    let mut s = Settings {
        client_addr: "127.0.0.1:0".parse().unwrap(),
        max_client_cnxns: 0,
        ..Settings::default()
    };
    tune(&mut s);
    let h = server::start(s).await.expect("server starts");
    let addr = format!("127.0.0.1:{}", h.local_addr.port());
    (h, addr)
}

/// A session with a 6 s timeout.
pub async fn client(addr: &str) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(6))
        .connect(addr)
        .await
        .expect("client connects")
}
