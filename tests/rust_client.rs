//! End-to-end tests with a real Rust ZooKeeper client (`zookeeper-client` crate) against an
//! in-process ferrokeeper on a loopback port: CRUD, Stat fields, sequential names,
//! ephemerals, watches (one-shot, persistent, recursive), ACLs and auth, multi, session
//! close and expiry, containers and TTL nodes.

mod common;

use common::{OPEN, client, start};
use std::time::Duration;
use zookeeper_client as zk;

#[tokio::test]
async fn create_get_set_delete_with_stats() {
    let (h, addr) = start(|_| {}).await;
    let c = client(&addr).await;
    let (stat, _) = c.create("/a", b"hello", OPEN).await.unwrap();
    assert_eq!(stat.version, 0);
    assert_eq!(stat.data_length, 5);
    assert_eq!(stat.czxid, stat.mzxid);
    assert_eq!(stat.czxid, stat.pzxid);
    let (data, st) = c.get_data("/a").await.unwrap();
    assert_eq!(data, b"hello");
    assert_eq!(st, stat);
    let st2 = c.set_data("/a", b"world!", Some(0)).await.unwrap();
    assert_eq!(st2.version, 1);
    assert!(st2.mzxid > st2.czxid);
    assert_eq!(
        c.set_data("/a", b"x", Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    c.create("/a/b", b"", OPEN).await.unwrap();
    assert_eq!(c.delete("/a", None).await.unwrap_err(), zk::Error::NotEmpty);
    let (children, pst) = c.get_children("/a").await.unwrap();
    assert_eq!(children, vec!["b".to_string()]);
    assert_eq!(pst.num_children, 1);
    assert_eq!(pst.cversion, 1);
    c.delete("/a/b", None).await.unwrap();
    c.delete("/a", Some(1)).await.unwrap();
    assert_eq!(c.get_data("/a").await.unwrap_err(), zk::Error::NoNode);
    assert_eq!(
        c.create("/x/y", b"", OPEN).await.unwrap_err(),
        zk::Error::NoNode
    );
    drop(c);
    h.shutdown().await;
}

#[tokio::test]
async fn sequential_names_follow_parent_cversion() {
    let (h, addr) = start(|_| {}).await;
    let c = client(&addr).await;
    c.create("/q", b"", OPEN).await.unwrap();
    c.create("/q/a", b"", OPEN).await.unwrap();
    c.create("/q/b", b"", OPEN).await.unwrap();
    c.delete("/q/a", None).await.unwrap();
    let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let (_, n) = c.create("/q/s-", b"", &seq).await.unwrap();
    assert_eq!(
        n.into_i64(),
        2,
        "suffix counts creates only (reference-setup.md)"
    );
    let (_, n) = c.create("/q/s-", b"", &seq).await.unwrap();
    assert_eq!(n.into_i64(), 3);
    let (_, st) = c.get_children("/q").await.unwrap();
    assert_eq!(st.cversion, 5);
    assert!(
        c.list_children("/q")
            .await
            .unwrap()
            .contains(&"s-0000000003".to_string())
    );
    drop(c);
    h.shutdown().await;
}

#[tokio::test]
async fn ephemerals_go_with_their_session_and_fire_watches() {
    let (h, addr) = start(|_| {}).await;
    let owner = client(&addr).await;
    let watcher = client(&addr).await;
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let (st, _) = owner.create("/e", b"", &eph).await.unwrap();
    assert_eq!(st.ephemeral_owner, owner.session_id().0);
    assert_eq!(
        owner.create("/e/child", b"", OPEN).await.unwrap_err(),
        zk::Error::NoChildrenForEphemerals
    );
    assert_eq!(
        owner.list_ephemerals("/").await.unwrap(),
        vec!["/e".to_string()]
    );
    let (_, _, w) = watcher.get_and_watch_data("/e").await.unwrap();
    drop(owner); // closes the session
    let ev = tokio::time::timeout(Duration::from_secs(10), w.changed())
        .await
        .expect("event");
    assert_eq!(ev.event_type, zk::EventType::NodeDeleted);
    assert_eq!(watcher.check_stat("/e").await.unwrap(), None);
    drop(watcher);
    h.shutdown().await;
}

#[tokio::test]
async fn oneshot_and_persistent_watches() {
    let (h, addr) = start(|_| {}).await;
    let c = client(&addr).await;
    let (_, w) = c.check_and_watch_stat("/w").await.unwrap();
    let mut rec = c
        .watch("/w", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    c.create("/w", b"", OPEN).await.unwrap();
    let ev = w.changed().await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeCreated, "/w")
    );
    let ev = rec.changed().await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeCreated, "/w")
    );
    let (_, _, cw) = c.get_and_watch_children("/w").await.unwrap();
    c.create("/w/x", b"", OPEN).await.unwrap();
    assert_eq!(
        cw.changed().await.event_type,
        zk::EventType::NodeChildrenChanged
    );
    let ev = rec.changed().await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeCreated, "/w/x")
    );
    c.set_data("/w/x", b"1", None).await.unwrap();
    let ev = rec.changed().await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeDataChanged, "/w/x")
    );
    drop(c);
    h.shutdown().await;
}

#[tokio::test]
async fn digest_acl_and_auth() {
    let (h, addr) = start(|_| {}).await;
    let c = client(&addr).await;
    c.auth("digest", b"alice:secret").await.unwrap();
    let creator = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    c.create("/secure", b"s", &creator).await.unwrap();
    let (acl, _) = c.get_acl("/secure").await.unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].scheme(), "digest");
    assert!(acl[0].id().starts_with("alice:"));
    let other = client(&addr).await;
    assert_eq!(
        other.get_data("/secure").await.unwrap_err(),
        zk::Error::NoAuth
    );
    other.auth("digest", b"alice:secret").await.unwrap();
    assert_eq!(other.get_data("/secure").await.unwrap().0, b"s");
    let users = other.list_auth_users().await.unwrap();
    assert!(users.iter().any(|u| u.scheme() == "ip"));
    assert!(
        users
            .iter()
            .any(|u| u.scheme() == "digest" && u.user() == "alice")
    );
    drop(c);
    drop(other);
    h.shutdown().await;
}

#[tokio::test]
async fn multi_commits_atomically_or_not_at_all() {
    let (h, addr) = start(|_| {}).await;
    let c = client(&addr).await;
    let mut w = c.new_multi_writer();
    w.add_create("/m1", b"", OPEN).unwrap();
    w.add_create("/m1/c", b"", OPEN).unwrap();
    w.add_set_data("/m1", b"x", None).unwrap();
    let results = w.commit().await.unwrap();
    assert_eq!(results.len(), 3);
    let mut w = c.new_multi_writer();
    w.add_create("/m2", b"", OPEN).unwrap();
    w.add_delete("/does-not-exist", None).unwrap();
    let e = w.commit().await.unwrap_err();
    assert!(
        matches!(
            e,
            zk::MultiWriteError::OperationFailed {
                index: 1,
                source: zk::Error::NoNode
            }
        ),
        "{e:?}"
    );
    assert_eq!(c.check_stat("/m2").await.unwrap(), None);
    drop(c);
    h.shutdown().await;
}

#[tokio::test]
async fn containers_are_reaped_when_emptied() {
    let (h, addr) = start(|s| s.container_check_interval_ms = 200).await;
    let c = client(&addr).await;
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    c.create("/box", b"", &container).await.unwrap();
    c.create("/box/item", b"", OPEN).await.unwrap();
    c.delete("/box/item", None).await.unwrap();
    let mut gone = false;
    for _ in 0..50 {
        if c.check_stat("/box").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "empty container should be reaped");
    drop(c);
    h.shutdown().await;
}
