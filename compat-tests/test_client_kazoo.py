"""Real-client tests with kazoo (Debian python3-kazoo 2.8) and its recipes.

Covers: CRUD + Stat through kazoo, ACLs with digest auth, transactions (kazoo's multi,
incl. the RolledBackError/failing-op shape), ephemeral + sequential nodes, session
loss removing ephemerals, DataWatch / ChildrenWatch, and the recipes Lock, Election,
Counter, Barrier, DoubleBarrier, Queue, LockingQueue, Party. Each runs on both servers.
"""

import threading
import time

import pytest
from kazoo.exceptions import (BadVersionError, NoAuthError, NodeExistsError, NoNodeError,
                              NotEmptyError, RolledBackError)
from kazoo.security import make_digest_acl

from conftest import wait_until


def test_crud(kazoo_client, root):
    zk = kazoo_client()
    zk.create(root, b"top", makepath=True)
    zk.create(root + "/a/b/c", b"deep", makepath=True)
    data, stat = zk.get(root + "/a/b/c")
    assert data == b"deep" and stat.version == 0 and stat.dataLength == 4
    stat = zk.set(root + "/a/b/c", b"new", version=0)
    assert stat.version == 1
    with pytest.raises(BadVersionError):
        zk.set(root + "/a/b/c", b"x", version=0)
    with pytest.raises(NodeExistsError):
        zk.create(root + "/a")
    with pytest.raises(NotEmptyError):
        zk.delete(root + "/a")
    with pytest.raises(NoNodeError):
        zk.get(root + "/missing")
    assert sorted(zk.get_children(root)) == ["a"]
    children, stat = zk.get_children(root + "/a", include_data=True)
    assert children == ["b"] and stat.numChildren == 1
    zk.delete(root + "/a", recursive=True)
    assert zk.exists(root + "/a") is None
    seq = [zk.create(root + "/s-", sequence=True) for _ in range(3)]
    assert seq == [f"{root}/s-{i:010d}" for i in range(1, 4)]  # /a was child #0
    assert zk.server_version()[:2] == (3, 8) or zk.server_version()[0] == 3


def test_acl_and_auth(kazoo_client, root):
    owner = kazoo_client(auth_data=[("digest", "alice:pw")])
    other = kazoo_client()
    acl = make_digest_acl("alice", "pw", all=True)
    owner.create(root, b"secret", acl=[acl])
    assert owner.get(root)[0] == b"secret"
    with pytest.raises(NoAuthError):
        other.get(root)
    acls, _ = owner.get_acls(root)
    assert acls[0].id.scheme == "digest" and acls[0].id.id == acl.id.id
    other.add_auth("digest", "alice:pw")
    assert other.get(root)[0] == b"secret"


def test_transactions(kazoo_client, root):
    zk = kazoo_client()
    zk.create(root)
    t = zk.transaction()
    t.create(root + "/a", b"1")
    t.create(root + "/b", b"2")
    t.set_data(root + "/a", b"3")
    t.check(root + "/a", 1)
    t.delete(root + "/b")
    assert t.commit() == [root + "/a", root + "/b", zk.exists(root + "/a"), True, True]
    t = zk.transaction()
    t.create(root + "/c")
    t.create(root + "/a")
    t.delete(root + "/a")
    results = t.commit()
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], NodeExistsError)
    assert type(results[2]).__name__ == "RuntimeInconsistency"
    assert zk.get_children(root) == ["a"]


def test_ephemerals_go_with_the_session(kazoo_client, root):
    a = kazoo_client()
    b = kazoo_client()
    a.create(root)
    a.create(root + "/e", ephemeral=True)
    seen = []
    done = threading.Event()

    @b.ChildrenWatch(root)
    def watch(children):
        seen.append(sorted(children))
        if not children:
            done.set()

    a.stop()
    a.close()
    assert done.wait(15), seen
    assert seen[0] == ["e"] and seen[-1] == []


def test_data_watch(kazoo_client, root):
    zk = kazoo_client()
    other = kazoo_client()
    zk.create(root, b"0")
    seen = []
    got3 = threading.Event()

    @zk.DataWatch(root)
    def watch(data, stat):
        seen.append(data)
        if data == b"3" or data is None:
            got3.set()

    for i in (1, 2, 3):
        other.set(root, str(i).encode())
        time.sleep(0.2)
    assert got3.wait(10), seen
    assert seen[0] == b"0" and seen[-1] == b"3"
    assert seen == sorted(seen)


def test_lock(kazoo_client, root):
    a, b = kazoo_client(), kazoo_client()
    lock_a = a.Lock(root + "/lock", "a")
    lock_b = b.Lock(root + "/lock", "b")
    order = []

    def take_b():
        got = lock_b.acquire(timeout=30)
        order.append(("b", got))
        if got:
            lock_b.release()

    assert lock_a.acquire(timeout=10)
    t = threading.Thread(target=take_b)
    t.start()
    # b is queued behind a (its lock node exists) -- and must still be waiting.
    assert wait_until(lambda: lock_b.contenders() == ["a", "b"], timeout=20), lock_b.contenders()
    assert order == [] and t.is_alive()
    order.append("a")
    lock_a.release()
    t.join(30)
    assert order == ["a", ("b", True)]


def test_election(kazoo_client, root):
    a, b = kazoo_client(), kazoo_client()
    elected = []
    a_leads, a_may_resign = threading.Event(), threading.Event()
    ea = a.Election(root + "/election", "a")
    eb = b.Election(root + "/election", "b")

    def lead_a():
        elected.append("a")
        a_leads.set()
        a_may_resign.wait(30)  # lead until b is a contender (bounded)

    ta = threading.Thread(target=lambda: ea.run(lead_a))
    ta.start()
    assert a_leads.wait(20), elected
    tb = threading.Thread(target=lambda: eb.run(lambda: elected.append("b")))
    tb.start()
    # b has entered the election while a leads, and is not leader as well.
    assert wait_until(lambda: eb.contenders() == ["a", "b"], timeout=20), eb.contenders()
    assert elected == ["a"]
    a_may_resign.set()
    ta.join(30)
    tb.join(30)
    assert not ta.is_alive() and not tb.is_alive()
    assert elected == ["a", "b"]


def test_counter(kazoo_client, root):
    clients = [kazoo_client() for _ in range(3)]
    counters = [c.Counter(root + "/counter") for c in clients]

    def bump(counter):
        for _ in range(10):
            counter += 1

    threads = [threading.Thread(target=bump, args=(c,)) for c in counters]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert clients[0].Counter(root + "/counter").value == 30


def test_barriers(server, kazoo_client, root):
    a, b = kazoo_client(), kazoo_client()
    barrier = a.Barrier(root + "/barrier")
    barrier.create()
    passed = []
    th = threading.Thread(target=lambda: passed.append(b.Barrier(root + "/barrier").wait(30)))
    th.start()
    # b waits with an exists watch on the barrier node: wait until the server has it, so
    # the removal below is what lets b through (not a barrier that was never up).
    assert wait_until(lambda: f"{root}/barrier" in server.fourlw("wchp").splitlines(), timeout=20), \
        server.fourlw("wchp")
    time.sleep(0.2)
    assert passed == [] and th.is_alive()
    barrier.remove()
    th.join(30)
    assert passed == [True]

    results = []

    def member(client, ident):
        db = client.DoubleBarrier(root + "/double", 2, identifier=str(ident))
        db.enter()
        results.append(("in", int(ident)))
        db.leave()
        results.append(("out", int(ident)))

    threads = [threading.Thread(target=member, args=(c, str(i)), daemon=True) for i, c in enumerate((a, b))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(20)
    assert sorted(results) == [("in", 0), ("in", 1), ("out", 0), ("out", 1)]


def test_queues(kazoo_client, root):
    a, b = kazoo_client(), kazoo_client()
    q = a.Queue(root + "/queue")
    for i in range(5):
        q.put(str(i).encode(), priority=100 - i if i == 4 else 100)
    got = [b.Queue(root + "/queue").get() for _ in range(5)]
    assert got == [b"4", b"0", b"1", b"2", b"3"]
    assert b.Queue(root + "/queue").get() is None

    lq = a.LockingQueue(root + "/lq")
    lq.put(b"job1")
    lq.put_all([b"job2", b"job3"])
    consumer = b.LockingQueue(root + "/lq")
    assert consumer.get(5) == b"job1"
    assert consumer.holds_lock()
    assert consumer.consume()
    assert len(lq) == 2


def test_party_and_children_watch(kazoo_client, root):
    a, b = kazoo_client(), kazoo_client()
    pa = a.Party(root + "/party", "a")
    pb = b.Party(root + "/party", "b")
    pa.join()
    pb.join()
    assert sorted(pa) == ["a", "b"]
    pb.leave()
    assert list(pa) == ["a"]
