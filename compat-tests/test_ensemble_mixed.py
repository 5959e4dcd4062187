"""Mixed ensembles: ferrokeeper members working with Apache ZooKeeper 3.8 (QuorumPeerMain)
members in one ensemble, on the wire protocols Java speaks (FastLeaderElection,
Leader/Learner ZAB).

At a fresh start (every zxid 0) the highest sid wins the election, provided it is in
the election before the others decide: start_led_by(ens, 3) starts member 3 first.
So the composition decides who leads: ["zk", "zk", "ferro"] has a ferrokeeper leader
with Java followers, ["ferro", "ferro", "zk"] a Java leader with ferrokeeper followers.

  - replication, each direction (2+1 and 1+2 mixes, each with an observer of the other
    kind than the leader): writes through every member read back on every member after
    sync(); a session moves between members of different kinds (same id, ephemeral
    kept, closed on the last); DIFF (kill -9 a follower, a few writes, restart) and SNAP
    (kill -9, 600 writes > commitLogCount 500 with snapCount=100, restart) of a learner
    of the other kind; the trees compared member by member (data and Stat) at the end;
  - TRUNC, each direction (capture S09's recipe): the leader is cut off (blackhole), a create
    is logged on it only, the others elect a leader of the other kind, the old leader is
    killed, healed, restarted: the new leader truncates it (or SNAPs it, when it has
    committed in its new epoch first, S09b);
  - which sync after a leader change (DIFF), and 600 txns behind at the default snapCount
    (Java: DIFF from its txn log);
  - requests and sessions through learners of the other kind (ACLs, multi, errors,
    sequential, containers/TTL, watches; pings keep sessions, expiry, wrong password);
  - kill -9 of the leader of each kind, and learners of the other kind cut off and
    healed, under the lin_history recorder: linearizable;
  - rolling replacement under load: Java -> ferrokeeper one member at a time, and back;
  - SIGTERM stops a member that has clients.

Java learners say in their log how they were synced ("Getting a diff from the leader",
"Getting a snapshot from leader", "Truncating log to get in sync with the leader"), Java
leaders how they synced a learner ("Sending DIFF", "Sending snapshot"; TRUNC only at
DEBUG: inferred from "Synchronizing with Learner"); the tests check those.
"""

import signal
import subprocess
import threading
import time
import uuid

import pytest

import conftest
import lin_history
import netproxy
import zkraw
import ensemble as ens_mod
from ensemble import ensemble_factory  # noqa: F401  (a fixture)
from ensemble import kill9_leader_under_load, log_lines, log_mark, sync_mode_seen_by, wait_until

pytestmark = [pytest.mark.xdist_group("ensemble"),
              pytest.mark.skipif(not conftest.kinds_selected("zk", "ferro"),
                                 reason="mixed ensembles need both kinds (COMPAT_SERVERS)")]


def unique_root(name):
    return f"/{name}_{uuid.uuid4().hex[:8]}"


def kazoo_client(hosts, timeout=10.0, randomize=True, listener=None):
    from kazoo.client import KazooClient
    c = KazooClient(hosts=hosts, timeout=timeout, randomize_hosts=randomize,
                    connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0})
    if listener is not None:
        c.add_listener(listener)
    c.start(timeout=20)
    return c


def stop_client(c):
    try:
        c.stop()
        c.close()
    except Exception:
        pass


class kazoo:
    def __init__(self, hosts, timeout=10.0):
        self.hosts, self.timeout = hosts, timeout

    def __enter__(self):
        self.c = kazoo_client(self.hosts, self.timeout)
        return self.c

    def __exit__(self, *exc):
        stop_client(self.c)


# --- trees ---------------------------------------------------------------------------

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")

# Each member's /zookeeper/config holds its own QuorumVerifier text, which names the
# proxy ports of its links to the others: different per member (a harness artefact).
PER_MEMBER = {"/zookeeper/config"}


def walk_tree(c, path="/", limit=20000):
    """{path: (data, stat tuple)} for every node under path (bounded)."""
    out = {}
    todo = [path]
    while todo:
        p = todo.pop()
        data, stat = c.get(p)
        st = tuple(getattr(stat, f) for f in STAT_FIELDS)
        out[p] = (None if p in PER_MEMBER else data, None if p in PER_MEMBER else st)
        for ch in c.get_children(p):
            todo.append(("" if p == "/" else p) + "/" + ch)
        if len(out) > limit:
            raise AssertionError(f"more than {limit} nodes under {path}")
    return out


def trees(ens, members=None):
    """{sid: tree} of every running member (after a sync on each)."""
    out = {}
    for m in members or ens.members:
        if not m.alive():
            continue
        with kazoo(m.hostport) as c:
            c.add_auth("digest", "alice:secret")  # the ACL'd nodes of the tests are alice's
            c.sync("/")
            out[m.sid] = walk_tree(c)
    return out


def assert_trees_identical(ens, members=None):
    """Every member's tree equal to every other's, data and Stat (ctime/mtime included:
    every member applies the same txns with the leader's timestamps)."""
    got = {}
    # A member may still be applying the last commits when its sync returns on another
    # member; retry a few times before calling a difference a divergence.
    for _ in range(5):
        got = trees(ens, members)
        if len({repr(sorted(t.items())) for t in got.values()}) == 1:
            return got
        time.sleep(0.5)
    sids = sorted(got)
    ref = got[sids[0]]
    report = []
    for sid in sids[1:]:
        t = got[sid]
        only_ref = sorted(set(ref) - set(t))
        only_t = sorted(set(t) - set(ref))
        diff = [p for p in sorted(set(ref) & set(t)) if ref[p] != t[p]]
        kinds = f"{ens.member(sids[0]).kind}#{sids[0]} vs {ens.member(sid).kind}#{sid}"
        if only_ref or only_t or diff:
            report.append(f"{kinds}: only in first {only_ref[:10]}, only in second {only_t[:10]}")
            for p in diff[:10]:
                report.append(f"  {p}: {ref[p]!r}\n  {' ' * len(p)}  {t[p]!r}")
    raise AssertionError("trees differ:\n" + "\n".join(report))


# --- helpers -------------------------------------------------------------------------

def start_led_by(ens, sid, timeout=90.0):
    """Start the ensemble so that member `sid` leads: it starts first and is LOOKING
    before the others start (all at zxid 0, epoch 0, the best vote is the one already
    in the election; starting everyone at once lets the quicker ferrokeeper members
    elect among themselves before a JVM is up)."""
    first = ens.member(sid)
    ens.start(first, wait=False)
    ok = lin_history_wait(lambda: log_lines(first, r"New election\. My id"), 60, interval=0.1)
    assert ok, f"{first!r} never started an election:\n{first.log_tail()}"
    for m in ens.members:
        if m is not first:
            ens.start(m, wait=False)
    for m in ens.members:
        ens.wait_serving(m, timeout=timeout)
    return expect_modes(ens, sid)


def expect_modes(ens, leader_sid):
    lead = ens.leader()
    assert lead.sid == leader_sid, ens.modes()
    modes = ens.modes()
    for m in ens.members:
        want = "observer" if m.observer else ("leader" if m.sid == leader_sid else "follower")
        assert modes[m.sid] == want, (m, modes)
    return lead


def write_many(hosts, root, n, prefix="n", batch=100):
    """n creates under root (async in batches): returns the paths."""
    paths = []
    with kazoo(hosts) as c:
        c.ensure_path(root)
        for start in range(0, n, batch):
            rs = []
            for i in range(start, min(n, start + batch)):
                p = f"{root}/{prefix}{i:05d}"
                rs.append(c.create_async(p, f"v{i}".encode()))
                paths.append(p)
            for r in rs:
                r.get(timeout=30)
    return paths


def session_moves(ens, order, root):
    """A session created on order[0] with an ephemeral, re-attached on each member of
    order in turn (raw protocol: the same session id and password, the last zxid seen):
    the same session id comes back, the ephemeral is still there and owned by it, and
    a write through each member works."""
    first = order[0]
    c = zkraw.ZkRaw("127.0.0.1", first.client_port)
    cr = c.handshake(timeout_ms=10000)
    sid, pw = cr.sessionId, cr.passwd
    assert sid != 0
    r = c.create(f"{root}/eph", b"e", flags=zkraw.Flags.EPHEMERAL)
    assert r.err == 0, r
    last = c.last_zxid
    c.drop()
    seen = [(first.sid, first.kind)]
    for i, m in enumerate(order[1:], 1):
        c, cr = handshake_when_caught_up(m, last, session_id=sid, passwd=pw)
        assert cr.sessionId == sid and cr.timeOut > 0, \
            f"session 0x{sid:x} not resumed on {m!r} (moved from {seen}): {cr}"
        e = c.exists(f"{root}/eph")
        assert e.err == 0, f"ephemeral gone on {m!r}: {e}"
        assert e.value.ephemeralOwner == sid, (m, e.value)
        w = c.create(f"{root}/via{i}-{m.kind}{m.sid}", b"x")
        assert w.err == 0, (m, w)
        last = max(last, c.last_zxid)
        if i == len(order) - 1:
            # closed where it ended up: its ephemeral goes everywhere
            assert c.call(zkraw.Op.CLOSE_SESSION, timeout=10).err == 0
        c.drop()
        seen.append((m.sid, m.kind))
    for m in ens.members:
        c, _ = handshake_when_caught_up(m, last)
        c.call(zkraw.Op.SYNC, zkraw.enc_path(root))
        assert c.exists(f"{root}/eph").err == zkraw.Err.NONODE, f"{m!r} still has the closed session's ephemeral"
        c.close()
    return sid, pw


def handshake_when_caught_up(m, last, **kw):
    """A raw session on member m for a client that has seen zxid `last`: a member that
    has not applied it yet refuses the session ("client must try another server"), as
    Java does; a client tries again. Returns (client, ConnectResponse)."""
    for attempt in range(50):
        c = zkraw.ZkRaw("127.0.0.1", m.client_port)
        try:
            return c, c.handshake(timeout_ms=10000, last_zxid=last, **kw)
        except zkraw.ConnectionClosed:
            c.drop()
            if attempt == 49:
                raise
            time.sleep(0.1)


def writes_everywhere(ens, leader, root):
    """root created through the leader, then a create + set through every member, read
    back on every member after sync() (children of root, data, czxid/mzxid/version)."""
    with kazoo(leader.hostport) as c:
        c.create(root, b"r")
    stats = {}
    for m in ens.members:
        with kazoo(m.hostport) as c:
            p = f"{root}/from-{m.kind}{m.sid}"
            c.create(p, f"created on {m.sid}".encode())
            c.set(p, f"set on {m.sid}".encode())
            stats[p] = (f"set on {m.sid}".encode(), c.get(p)[1])
    for m in ens.members:
        with kazoo(m.hostport) as c:
            c.sync(root)
            assert sorted(c.get_children(root)) == sorted(p.rsplit("/", 1)[1] for p in stats), m
            for p, (want_data, want) in stats.items():
                data, st = c.get(p)
                assert data == want_data, (m, p, data)
                assert (st.czxid, st.mzxid, st.version) == (want.czxid, want.mzxid, want.version), (m, p)


def resync(ens, leader, learner, write):
    """kill -9 `learner`, write() while it is down, restart it: it follows again. Returns
    how `leader` synced it (sync_mode_seen_by, from log marks taken before the kill)."""
    mark_l, mark_f = log_mark(leader), log_mark(learner)
    ens.kill9(learner)
    write()
    ens.start(learner)
    assert ens.wait_serving(learner) == "follower"
    return sync_mode_seen_by(learner, leader, mark_f, mark_l)


def assert_children_after_sync(m, root, path, n):
    """After a sync(root) on member m, path has n children."""
    with kazoo(m.hostport) as c:
        c.sync(root)
        assert len(c.get_children(path)) == n


def diff_then_snap(ens, leader, learner, root, read_huge=False):
    """resync `learner` twice: 7 creates behind (root/diff: a DIFF), then 600 creates
    (root/snap) and a ~1 MB node (root/huge) behind (with snapCount=100: a SNAP); after
    each it has them, then it takes a write (root/after-snap). With read_huge the ~1 MB
    node is read back on it too. Returns (DIFF sync mode seen, SNAP sync mode seen)."""
    diff_mode = resync(ens, leader, learner, lambda: write_many(leader.hostport, f"{root}/diff", 7))
    assert_children_after_sync(learner, root, f"{root}/diff", 7)

    def snap_writes():
        write_many(leader.hostport, f"{root}/snap", 600)
        with kazoo(leader.hostport) as c:
            # near jute.maxbuffer (1 MiB - 1): in a PROPOSAL to the others, then in the SNAP
            c.create(f"{root}/huge", b"h" * 1_000_000)

    snap_mode = resync(ens, leader, learner, snap_writes)
    with kazoo(learner.hostport) as c:
        c.sync(root)
        assert len(c.get_children(f"{root}/snap")) == 600
        if read_huge:
            assert len(c.get(f"{root}/huge")[0]) == 1_000_000
        c.create(f"{root}/after-snap", b"a")  # and it takes writes again
    return diff_mode, snap_mode


# --- replication in each direction -----------------------------------------------------

# (voters, observer kind, what it shows)
REPLICATION = [
    (("ferro", "zk", "zk"), "ferro", "Java leader, 1 ferro follower + ferro observer"),
    (("ferro", "ferro", "zk"), "ferro", "Java leader, 2 ferro followers + ferro observer"),
    (("zk", "zk", "ferro"), "zk", "ferro leader, 2 Java followers + Java observer"),
    (("zk", "ferro", "ferro"), "zk", "ferro leader, Java + ferro followers, Java observer"),
]


@pytest.mark.parametrize("voters,observer,what", REPLICATION,
                         ids=["-".join(v) + "+obs-" + o for v, o, _ in REPLICATION])
def test_replication_sync_and_trees(ensemble_factory, voters, observer, what):
    # snapCount=100 (as the captures): the log rolls over every 50-100 txns. With one
    # log file, a Java leader syncs a learner 600 txns behind from its txn log (DIFF),
    # see test_far_behind_learner_of_java_leader_gets_txnlog_diff.
    ens = ensemble_factory(list(voters), observers=[observer], tick_ms=500, start=False,
                           extra_cfg={"snapCount": 100})
    leader = start_led_by(ens, 3)
    assert leader.kind == voters[2]
    root = unique_root("mixed")

    # writes through every member, read back on every member after sync()
    writes_everywhere(ens, leader, root)

    # a session moving across members of both kinds (leader, followers, observer)
    order = [ens.members[0], leader, ens.members[1], ens.members[3], ens.members[0]]
    session_moves(ens, order, root)

    # DIFF, then SNAP, of a follower of the other kind than the leader
    other = next(m for m in ens.voters if m is not leader and m.kind != leader.kind)
    diff_mode, snap_mode = diff_then_snap(ens, leader, other, root)

    assert_trees_identical(ens)
    print(f"{what}: DIFF sync seen as {diff_mode}, SNAP sync seen as {snap_mode}")
    assert diff_mode in ("DIFF", None), diff_mode
    assert snap_mode in ("SNAP", None), snap_mode


# --- TRUNC in each direction (capture S09) -----------------------------------------------

def last_logged_zxid(m):
    """The highest zxid in m's txn log files (store_util's parser), or 0."""
    import store_util
    best = 0
    for path in store_util.files(m.data_dir, "log"):
        for _, _, z, _ in store_util.log_entries(path):
            best = max(best, z)
    return best


def srvr_zxid(m):
    text = m.srvr() or ""
    for line in text.splitlines():
        if line.startswith("Zxid:"):
            return int(line.split(":", 1)[1].strip(), 16)
    return None


def diverge_leader(ens, old, root, name, new_sid):
    """Cut the leader `old` off (blackhole), have it log a create of root/name no one else
    sees, wait for the others to elect `new_sid`, kill -9 `old`. Returns (new leader, lost
    zxid).

    Blackhole, not drop: with its followers' connections reset, a Java leader gives up
    leadership at its next half-tick check (<= 250 ms at tickTime 500) and a create still
    in its pipeline is never logged (seen in CI on a loaded machine); a blackholed leader
    keeps leading for syncLimit ticks (2.5 s), ample time to log it."""
    raw = zkraw.ZkRaw("127.0.0.1", old.client_port)
    raw.handshake(timeout_ms=60000)
    assert raw.call(zkraw.Op.EXISTS, zkraw.enc_path_watch(root)).err == 0
    before = last_logged_zxid(old)
    ens.isolate(old, mode=netproxy.BLACKHOLE)
    raw.send(zkraw.Op.CREATE, zkraw.enc_create(f"{root}/{name}", b"never-committed"))
    logged = lin_history_wait(lambda: last_logged_zxid(old) > before, 10)
    assert logged, f"the isolated leader {old!r} did not log the create (last logged 0x{last_logged_zxid(old):x})"
    lost_zxid = last_logged_zxid(old)
    new = ens.leader(exclude=[old], timeout=30)
    assert new.sid == new_sid, ens.modes()
    ens.kill9(old)
    raw.drop()
    assert last_logged_zxid(old) == lost_zxid
    return new, lost_zxid


def rejoin(ens, old, new, root, lost, children, after=None):
    """Heal, restart `old`: it follows `new`, the never-committed node root/lost is gone
    everywhere (also after `old` restarts once more from its own disk: the lost txn must
    not come back), the children of root are `children` on every member, a write through
    `old` (root/after, default after-<lost>) works. Returns the sync mode seen."""
    ens.heal()
    mark_old, mark_new = log_mark(old), log_mark(new)
    ens.start(old)
    assert ens.wait_serving(old) == "follower"
    mode = sync_mode_seen_by(old, new, mark_old, mark_new)
    for m in ens.members:
        with kazoo(m.hostport) as c:
            c.sync(root)
            assert c.exists(f"{root}/{lost}") is None, f"{m!r} has the never-committed node"
            assert sorted(c.get_children(root)) == sorted(children), m
    with kazoo(old.hostport) as c:
        c.create(f"{root}/{after or 'after-' + lost}", b"a")
    assert_trees_identical(ens)
    ens.kill9(old)
    ens.start(old)
    assert ens.wait_serving(old) == "follower"
    with kazoo(old.hostport) as c:
        c.sync(root)
        assert c.exists(f"{root}/{lost}") is None, f"the never-committed node is back after {old!r} restarted"
    assert_trees_identical(ens)
    return mode


TRUNC = [
    (("zk", "ferro", "zk"), "Java old leader 3 truncated by ferro new leader 2"),
    (("ferro", "zk", "ferro"), "ferro old leader 3 truncated by Java new leader 2"),
]


@pytest.mark.parametrize("cross_epoch", [False, True], ids=["same-epoch", "cross-epoch"])
@pytest.mark.parametrize("voters,what", TRUNC, ids=["-".join(v) for v, _ in TRUNC])
def test_trunc_of_old_leader(ensemble_factory, voters, what, cross_epoch):
    """same-epoch: the new leader commits nothing before the old one rejoins: TRUNC
    (capture S09). cross-epoch: it commits a txn of its new epoch first: a TRUNC would
    cross an epoch, so SNAP (S09b, "Cannot send TRUNC to peer ... different epoch").
    Either way the never-committed txn is gone, also after the old leader restarts once
    more from its own disk (TRUNC cut the log; after SNAP the divergent entry is below
    the snapshot and never replayed)."""
    # a long session timeout: no session may expire (a closeSession in the new epoch
    # would turn the TRUNC into a SNAP, see S09b)
    ens = ensemble_factory(list(voters), tick_ms=500, extra_cfg={"maxSessionTimeout": 60000}, start=False)
    old = start_led_by(ens, 3)
    root = unique_root("trunc")
    with kazoo(ens.connect_string()) as c:
        c.create(root, b"r")
        for i in range(3):
            c.create(f"{root}/c{i}", b"committed")
    new, lost_zxid = diverge_leader(ens, old, root, "lost", new_sid=2)
    assert new.kind == voters[1], ens.modes()
    if cross_epoch:
        with kazoo(new.hostport) as c:
            c.create(f"{root}/new-epoch", b"n")
    mode = rejoin(ens, old, new, root, "lost", ["c0", "c1", "c2"] + (["new-epoch"] if cross_epoch else []),
                  after="after")
    want = "SNAP" if cross_epoch else "TRUNC"
    print(f"{what} ({'cross' if cross_epoch else 'same'} epoch): lost zxid 0x{lost_zxid:x}, sync seen as {mode}")
    assert mode == want, f"{what}: expected a {want} sync, the Java side logged {mode}"


def lin_history_wait(pred, timeout, interval=0.05):
    return wait_until(pred, timeout, interval)


# --- kill -9 of the leader of each kind under load ------------------------------------------

KILL = [
    (("zk", "ferro", "zk"), "Java leader 3 killed, ferro 2 takes over"),
    (("ferro", "zk", "ferro"), "ferro leader 3 killed, Java 2 takes over"),
]


@pytest.mark.parametrize("voters,what", KILL, ids=["-".join(v) for v, _ in KILL])
def test_kill9_leader_under_load(ensemble_factory, voters, what, tmp_path):
    # an observer of the killed leader's kind: it follows a leader of each kind in turn
    ens = ensemble_factory(list(voters), observers=[voters[2]], tick_ms=500, start=False)
    old = start_led_by(ens, 3)
    rec = lin_history.start_load(ens.connect_string(), unique_root("lin_kill"), seed=41, max_ops=3000,
                                 max_seconds=60)
    try:
        assert rec.wait_ops(80, timeout=30), f"no load before the kill: {rec.count} ops"
        kill9_leader_under_load(ens, rec, old, new_sid=2)
    finally:
        rec.stop()
    lin_history.assert_recorded_linearizable(rec, tmp_path / "kill9.json", f"{what}: ")
    assert_trees_identical(ens)


# --- rolling replacement under load -------------------------------------------------------

class Creator:
    """One kazoo session creating {root}/w<n> one after the other; remembers which
    creates were acknowledged, and every session state it went through."""

    def __init__(self, hosts, root, max_n=5000, max_seconds=240):
        self.root = root
        self.acked = []
        self.unknown = []
        self.states = []
        self.c = kazoo_client(hosts, timeout=10.0)
        self._listener = lambda s: self.states.append((time.monotonic(), str(s)))
        self.c.add_listener(self._listener)
        self.c.ensure_path(root)
        self.stop_ev = threading.Event()
        self.max_n, self.deadline = max_n, time.monotonic() + max_seconds
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        n = 0
        while n < self.max_n and time.monotonic() < self.deadline and not self.stop_ev.is_set():
            p = f"{self.root}/w{n:06d}"
            try:
                self.c.create_async(p, b"w").get(timeout=5)
                self.acked.append(p)
            except Exception as e:
                self.unknown.append((p, type(e).__name__))
                time.sleep(0.1)
            n += 1
            time.sleep(0.01)

    def stop(self):
        """Stop creating; returns the session id. self.states then holds the states up to
        here (kazoo's own stop() ends in LOST, which is not a lost session)."""
        self.stop_ev.set()
        self.t.join(timeout=15)
        self.c.remove_listener(self._listener)
        sid = self.c.client_id
        stop_client(self.c)
        return sid


def test_rolling_replacement_under_load(ensemble_factory, tmp_path):
    ens = ensemble_factory(["zk", "zk", "zk"], tick_ms=500, start=False)
    start_led_by(ens, 3)
    rec = lin_history.start_load(ens.connect_string(), unique_root("lin_roll"), seed=53, max_ops=20000,
                                 max_seconds=200, clients=3, think_s=0.03)
    creator = Creator(ens.connect_string(), unique_root("roll"), max_seconds=200)
    steps = []
    try:
        assert rec.wait_ops(40, timeout=30), f"no load: {rec.count} ops"
        for kind in ("ferro", "zk"):
            for m in ens.members:
                t0 = time.monotonic()
                rec.event(f"replace {m.sid} ({m.kind}) -> {kind}")
                ens.replace(m, kind)
                ens.leader(timeout=30)
                since = time.monotonic_ns()
                assert rec.wait_ops(20, timeout=30, since_ns=since), \
                    f"no progress after replacing {m.sid} with {kind}: {ens.modes()}"
                steps.append(f"{m.sid}->{kind} {time.monotonic() - t0:.1f}s modes {ens.modes()}")
            if kind == "ferro":
                # all ferrokeeper now
                assert [m.kind for m in ens.members] == ["ferro"] * 3
                rec.event("all ferro")
    finally:
        creator_session = creator.stop()
        rec.stop()
    print("\n".join(steps))
    lin_history.assert_recorded_linearizable(rec, tmp_path / "rolling.json")
    # clients see at most a reconnect: no recorder session expired either
    expired = [o for o in rec.history()["ops"] if "Expired" in (o.get("err") or "")]
    assert not expired, f"{len(expired)} recorder ops saw an expired session, e.g. {expired[:3]}"
    lost = [s for s in creator.states if "LOST" in s[1]]
    assert not lost, f"the creator's session was lost: {creator.states}"
    assert creator.acked, "no create acknowledged"
    got = assert_trees_identical(ens)
    tree = next(iter(got.values()))
    missing = [p for p in creator.acked if p not in tree]
    assert not missing, f"{len(missing)} acknowledged creates lost, e.g. {missing[:5]}"
    print(f"creator: {len(creator.acked)} acked, {len(creator.unknown)} unknown, states "
          f"{[s for _, s in creator.states]}, session 0x{creator_session[0]:x}")


def test_java_38_learner_rejoins_a_ferro_leader_under_load(ensemble_factory, tmp_path):
    """A 3.8.0 learner that restarts under write load is synced with a DIFF while
    proposals are in flight and commit. Java's leader sends those COMMITs between
    NEWLEADER and UPTODATE, and a 3.8.0 learner then dies in syncWithLeader with a
    NullPointerException (ZOOKEEPER-4394), syncs again and logs the proposals twice;
    a ferrokeeper leader holds them until UPTODATE, so the learner joins first time."""
    ens = ensemble_factory(["zk", "ferro", "ferro"], tick_ms=500, start=False)
    start_led_by(ens, 3)
    java = ens.member(1)
    rec = lin_history.start_load(ens.connect_string([ens.member(2), ens.member(3)]),
                                 unique_root("lin_rejoin"), seed=59, max_ops=20000,
                                 max_seconds=120, clients=3, think_s=0.01)
    joins = []
    try:
        assert rec.wait_ops(40, timeout=30), f"no load: {rec.count} ops"
        for round_ in range(5):
            ens.stop(java)
            since = time.monotonic_ns()
            assert rec.wait_ops(800, timeout=60, since_ns=since), "no load while 1 is down"
            mark = log_mark(java)
            ens.start(java)
            assert ens.wait_serving(java) == "follower"
            assert ens.leader(timeout=30) is ens.member(3), ens.modes()
            npe = log_lines(java, ens_mod.JAVA_38_SYNC_NPE, mark)
            syncs = log_lines(java, r"Getting a (diff|snapshot) from|Truncating log", mark)
            joins.append(len(syncs))
            assert not npe, f"round {round_}: the 3.8.0 learner's sync failed: {npe}\n" \
                            f"{log_lines(java, r'Exception when following|Got zxid', mark)}"
            assert len(syncs) == 1, f"round {round_}: synced {len(syncs)} times: {syncs}"
    finally:
        rec.stop()
    lin_history.assert_recorded_linearizable(rec, tmp_path / "rejoin.json")
    assert_trees_identical(ens)
    print(f"syncs per rejoin: {joins}, ops {rec.count}")


# --- which sync a learner gets after a leader change, and far behind ------------------------

CHANGE = [
    (("zk", "ferro", "zk"), "ferro 2 leads after Java leader 3 is killed; Java 1 and 3 rejoin"),
    (("ferro", "zk", "ferro"), "Java 2 leads after ferro leader 3 is killed; ferro 1 and 3 rejoin"),
]


@pytest.mark.parametrize("voters,what", CHANGE, ids=["-".join(v) for v, _ in CHANGE])
def test_diff_after_leader_change(ensemble_factory, voters, what):
    """Member 1 is killed and misses 5 txns; leader 3 is killed; 1 restarts and 1+2 elect
    2 (the higher zxid). 2 committed those txns as a follower, so (as every Java member
    keeps its last commitLogCount committed proposals in memory, whatever its role) it
    syncs 1 with a DIFF of 5 txns, and 3 (restarted, at 2's last zxid of the old epoch)
    with an empty DIFF. No SNAP is needed for either."""
    ens = ensemble_factory(list(voters), tick_ms=500, start=False)
    start_led_by(ens, 3)
    one, two, three = ens.members
    root = unique_root("change")
    with kazoo(ens.connect_string()) as c:
        c.create(root, b"r")
    ens.kill9(one)
    write_many(ens.connect_string([two, three]), f"{root}/missed", 5)
    ens.kill9(three)
    mark_1, mark_2 = log_mark(one), log_mark(two)
    ens.start(one)
    assert ens.leader(timeout=30) is two, ens.modes()
    assert ens.wait_serving(one) == "follower"
    mode_1 = sync_mode_seen_by(one, two, mark_1, mark_2)
    mark_3, mark_2 = log_mark(three), log_mark(two)
    ens.start(three)
    assert ens.wait_serving(three) == "follower"
    mode_3 = sync_mode_seen_by(three, two, mark_3, mark_2)
    assert_children_after_sync(one, root, f"{root}/missed", 5)
    assert_trees_identical(ens)
    print(f"{what}: member 1 (5 behind) synced by {mode_1}, member 3 (in step) by {mode_3}")
    assert (mode_1, mode_3) == ("DIFF", "DIFF"), \
        f"{what}: member 1 got {mode_1}, member 3 got {mode_3} (a Java leader: DIFF, DIFF)"


FAR = [
    (("ferro", "ferro", "zk"), "Java leader 3, ferro follower 1 600 txns behind"),
    (("zk", "zk", "ferro"), "ferro leader 3, Java follower 1 600 txns behind"),
]


@pytest.mark.parametrize("voters,what", FAR, ids=["-".join(v) for v, _ in FAR])
def test_far_behind_learner_gets_txnlog_diff(ensemble_factory, voters, what):
    """At the default snapCount the leader has one txn-log file. A follower 600 txns
    behind (below the 500 committed proposals in memory) is synced from the txn log:
    ZKDatabase.getProposalsFromTxnLog measures FileTxnIterator.getStorageSize(), the
    files *after* the one it is reading (none here), against 0.33 x the snapshot size,
    so the log qualifies ("Use txnlog and committedLog for peer sid: 1", then "Sending
    DIFF"). A ferrokeeper leader does the same (server/quorum/txnlog_sync.rs): DIFF from
    both."""
    ens = ensemble_factory(list(voters), tick_ms=500, start=False)
    leader = start_led_by(ens, 3)
    one = ens.members[0]
    root = unique_root("far")
    with kazoo(ens.connect_string()) as c:
        c.create(root, b"r")
    mode = resync(ens, leader, one, lambda: write_many(leader.hostport, f"{root}/w", 600))
    assert_children_after_sync(one, root, f"{root}/w", 600)
    assert_trees_identical(ens)
    print(f"{what}: synced by {mode}")
    assert mode == "DIFF", f"{what}: synced by {mode}, expected DIFF"


# --- requests forwarded by a learner of the other kind ----------------------------------------

OPS = [
    (("ferro", "ferro", "zk"), "ferro", "Java leader; requests via ferro followers and a ferro observer"),
    (("zk", "zk", "ferro"), "zk", "ferro leader; requests via Java followers and a Java observer"),
]

EXT_CFG = {"extendedTypesEnabled": "true", "znode.container.checkIntervalMs": 1000}
EXT_JAVA = ["-Dznode.container.checkIntervalMs=1000"]


@pytest.mark.parametrize("voters,observer,what", OPS, ids=["-".join(v) + "+obs-" + o for v, o, _ in OPS])
def test_requests_through_learners_of_other_kind(ensemble_factory, voters, observer, what):
    """What a learner forwards (REQUEST with the connection's auth ids) and what the
    leader decides for it: digest ACLs, multi (and a failing one), sequential names,
    failed ops (ErrorTxn), containers and TTL nodes reaped by the leader, a 500 KB
    value, closeSession with ephemerals. The trees must be identical afterwards."""
    from kazoo.exceptions import BadVersionError, NoAuthError, NodeExistsError, NoNodeError
    from kazoo.security import make_digest_acl
    ens = ensemble_factory(list(voters), observers=[observer], tick_ms=500, start=False,
                           extra_cfg=EXT_CFG, java_flags=EXT_JAVA)
    leader = start_led_by(ens, 3)
    learners = [m for m in ens.members if m.kind != leader.kind]
    assert len(learners) == 3
    root = unique_root("ops")
    with kazoo(leader.hostport) as c:
        c.create(root, b"r")
        c.create(f"{root}/seq", b"")

    # watches on every member fire for writes forwarded by a learner of the other kind
    watchers, fired = [], {}
    for x in ens.members:
        wc = kazoo_client(x.hostport)
        watchers.append(wc)
        wc.get(f"{root}/seq", watch=lambda ev, sid=x.sid: fired.setdefault(("data", sid), ev))
        wc.get_children(f"{root}/seq", watch=lambda ev, sid=x.sid: fired.setdefault(("child", sid), ev))
    with kazoo(learners[0].hostport) as c:
        c.set(f"{root}/seq", b"watched")
    with kazoo(learners[1].hostport) as c:
        c.create(f"{root}/seq/w", b"")
        c.delete(f"{root}/seq/w")
    want = {(k, x.sid) for k in ("data", "child") for x in ens.members}
    assert lin_history_wait(lambda: set(fired) >= want, 10), f"watches not fired: {sorted(want - set(fired))}"
    for wc in watchers:
        stop_client(wc)

    for i, m in enumerate(learners):
        with kazoo(m.hostport) as c:
            # digest ACL: the leader checks it with the auth ids the learner forwarded
            c.add_auth("digest", "alice:secret")
            acl = [make_digest_acl("alice", "secret", all=True)]
            p = f"{root}/acl-{m.sid}"
            c.create(p, b"secret", acl=acl)
            c.set(p, b"secret2")
            c.set_acls(p, acl + [make_digest_acl("bob", "pw", read=True)])
            # multi, then a failing multi (rolled back, still a txn)
            t = c.transaction()
            t.create(f"{root}/m-{m.sid}", b"a")
            t.set_data(f"{root}/acl-{m.sid}", b"in-multi")
            t.check(f"{root}", 0)
            assert all(not isinstance(r, Exception) for r in t.commit()), m
            t = c.transaction()
            t.create(f"{root}/m-{m.sid}-never", b"a")
            t.check(f"{root}/m-{m.sid}", 99)
            res = t.commit()
            assert any(isinstance(r, BadVersionError) for r in res), (m, res)
            # failing single ops
            with pytest.raises(NodeExistsError):
                c.create(f"{root}/m-{m.sid}", b"dup")
            with pytest.raises(NoNodeError):
                c.set(f"{root}/nope-{m.sid}", b"x")
            with pytest.raises(BadVersionError):
                c.delete(f"{root}/m-{m.sid}", version=7)
            # sequential names, interleaved with the leader's
            c.create(f"{root}/seq/s-", b"", sequence=True)
            with kazoo(leader.hostport) as lc:
                lc.create(f"{root}/seq/s-", b"", sequence=True)
            c.create(f"{root}/seq/s-", b"", ephemeral=True, sequence=True)
            # a big value
            c.create(f"{root}/big-{m.sid}", b"x" * 500_000)
            # an ephemeral that closeSession must remove
            c.create(f"{root}/eph-{m.sid}", b"e", ephemeral=True)
        # closed: its ephemerals are gone everywhere
        for x in ens.members:
            with kazoo(x.hostport) as xc:
                xc.sync(root)
                assert xc.exists(f"{root}/eph-{m.sid}") is None, (x, m)
                with pytest.raises(NoAuthError):
                    xc.get(f"{root}/acl-{m.sid}")
        with kazoo(leader.hostport) as lc:
            lc.add_auth("digest", "bob:pw")
            assert lc.get(f"{root}/acl-{m.sid}")[0] == b"in-multi"

    # containers and TTL nodes created through learners, reaped by the leader
    raws = []
    for m in learners:
        r = zkraw.ZkRaw("127.0.0.1", m.client_port)
        r.handshake(timeout_ms=10000)
        raws.append(r)
        assert r.create_container(f"{root}/cont-{m.sid}").err == 0
        assert r.create(f"{root}/cont-{m.sid}/child", b"").err == 0
        assert r.delete(f"{root}/cont-{m.sid}/child").err == 0
        assert r.create_ttl(f"{root}/ttl-{m.sid}", b"t", ttl=500).err == 0
    # a create2 sub-op of a multi, on every member: ferrokeeper answers it with a Stat, as
    # 3.9 does, and logs a create sub-txn, which Java 3.8 members apply (a create2 one
    # they cannot); 3.8 answers a plain create
    for m in ens.members:
        r = zkraw.ZkRaw("127.0.0.1", m.client_port)
        r.handshake(timeout_ms=10000)
        raws.append(r)
        res = r.multi([(zkraw.Op.CREATE2, zkraw.enc_create(f"{root}/c2-{m.sid}", b"c2"))])
        assert res.err == 0, (m, res)
        assert [x[0] for x in res.value] == ["create2" if m.kind == "ferro" else "create"], (m, res)
    for r in raws:
        r.close()

    def reaped():
        with kazoo(leader.hostport) as c:
            c.sync(root)
            kids = c.get_children(root)
        return not any(k.startswith(("cont-", "ttl-")) for k in kids)

    assert lin_history_wait(reaped, 30, interval=1.0), "containers / TTL nodes not reaped within 30 s"
    got = assert_trees_identical(ens)
    tree = next(iter(got.values()))
    seqs = sorted(p for p in tree if p.startswith(f"{root}/seq/"))
    assert len(seqs) == 6, seqs  # 3 persistent via learners + 3 via the leader (ephemerals closed)
    print(f"{what}: {len(tree)} nodes identical on {len(got)} members")


# --- session liveness and expiry across kinds ---------------------------------------------------

@pytest.mark.parametrize("voters,observer,what", OPS, ids=["-".join(v) + "+obs-" + o for v, o, _ in OPS])
def test_sessions_on_learners_of_other_kind(ensemble_factory, voters, observer, what):
    """Sessions held on learners of the other kind than the leader: the learner reports
    its clients' pings to the leader (PING replies), so an idle-but-pinging session with
    a 4 s timeout lives well past 4 s; once its client vanishes (no closeSession) the
    leader expires it and its ephemeral goes everywhere. A session re-attached with a
    wrong password is refused."""
    ens = ensemble_factory(list(voters), observers=[observer], tick_ms=500, start=False)
    leader = start_led_by(ens, 3)
    learners = [m for m in ens.members if m.kind != leader.kind]
    root = unique_root("sess")
    with kazoo(leader.hostport) as c:
        c.create(root, b"r")
    raws = {}
    for m in learners:
        r = zkraw.ZkRaw("127.0.0.1", m.client_port)
        # 4 s (not less: a stall of this test's own pinging on a loaded machine must not
        # expire it)
        cr = r.handshake(timeout_ms=4000)
        assert cr.timeOut == 4000, cr
        # a session id starts with the sid of the member that created it
        assert cr.sessionId >> 56 == m.sid, (m, hex(cr.sessionId))
        assert r.create(f"{root}/eph-{m.sid}", b"e", flags=zkraw.Flags.EPHEMERAL).err == 0
        raws[m.sid] = r
    # 9 s of pings every 0.5 s: more than twice the timeout
    end = time.monotonic() + 9
    while time.monotonic() < end:
        for r in raws.values():
            assert r.ping().err == 0
        time.sleep(0.5)
    with kazoo(leader.hostport) as c:
        c.sync(root)
        alive = sorted(c.get_children(root))
    assert alive == sorted(f"eph-{m.sid}" for m in learners), \
        f"sessions expired although their clients pinged their learner: {alive}"
    # wrong password: refused (the connection is closed or the session reported expired)
    m0 = learners[0]
    bad = zkraw.ZkRaw("127.0.0.1", learners[1].client_port)
    try:
        cr = bad.handshake(timeout_ms=4000, session_id=raws[m0.sid].session_id, passwd=b"\x01" * 16)
        refused = cr.timeOut == 0 or cr.sessionId == 0
    except zkraw.ConnectionClosed:
        refused = True
    bad.drop()
    assert refused, cr
    # the clients vanish: the leader expires them within timeout + a few ticks
    t0 = time.monotonic()
    for r in raws.values():
        r.drop()

    def gone():
        with kazoo(leader.hostport) as c:
            c.sync(root)
            return c.get_children(root) == []

    assert lin_history_wait(gone, 20, interval=0.5), "ephemerals of vanished sessions not removed"
    took = time.monotonic() - t0
    assert_trees_identical(ens)
    print(f"{what}: sessions expired {took:.1f}s after their clients vanished")


# --- a follower and an observer cut off from a leader of the other kind -------------------------

CUT = [
    (("ferro", "zk", "zk"), "ferro", "Java leader; ferro follower 1 and ferro observer 4 cut off"),
    (("zk", "ferro", "ferro"), "zk", "ferro leader; Java follower 1 and Java observer 4 cut off"),
]


@pytest.mark.parametrize("mode", [netproxy.BLACKHOLE, netproxy.DROP])
@pytest.mark.parametrize("voters,observer,what", CUT, ids=["-".join(v) + "+obs-" + o for v, o, _ in CUT])
def test_learners_cut_off_and_healed(ensemble_factory, voters, observer, what, mode, tmp_path):
    """The learners of the other kind lose the leader (syncLimit, or at once with drop):
    they stop serving, the majority goes on, after the heal they sync back; the
    recorder's history (clients on every member) is linearizable and the trees equal."""
    ens = ensemble_factory(list(voters), observers=[observer], tick_ms=500, start=False)
    leader = start_led_by(ens, 3)
    cut = [ens.members[0], ens.members[3]]
    rest = [m for m in ens.members if m not in cut]
    rec = lin_history.start_load(ens.connect_string(), unique_root("lin_cut"), seed=61, max_ops=4000,
                                 max_seconds=80)
    try:
        assert rec.wait_ops(60, timeout=30), f"no load: {rec.count} ops"
        rec.event(f"cut {[m.sid for m in cut]} from {[m.sid for m in rest]} ({mode})")
        ens.partition(cut, rest, mode=mode)
        ens.wait_modes({m: None for m in cut}, timeout=30)
        assert ens.modes()[leader.sid] == "leader"
        with kazoo(ens.connect_string(rest)) as c:
            c.create(f"{rec.root}/during", b"d")
        assert rec.wait_ops(40, timeout=30, since_ns=time.monotonic_ns()), "no progress on the majority side"
        rec.event("heal")
        ens.heal()
        for m in cut:
            assert ens.wait_serving(m, timeout=60) == ("observer" if m.observer else "follower")
        assert ens.leader() is leader
        for m in cut:
            with kazoo(m.hostport) as c:
                c.sync(rec.root)
                assert c.exists(f"{rec.root}/during") is not None, m
        assert rec.wait_ops(40, timeout=30, since_ns=time.monotonic_ns()), "no progress after the heal"
    finally:
        rec.stop()
    lin_history.assert_recorded_linearizable(rec, tmp_path / "cut.json", f"{what} ({mode}): ")
    assert_trees_identical(ens)


# --- SIGTERM with clients connected ------------------------------------------------------------

def test_sigterm_stops_member_with_clients(ensemble_factory):
    """A member with client sessions exits promptly on SIGTERM in any role (Java's
    QuorumPeerMain has no shutdown hook: the JVM is gone at once). ensemble.stop() sends
    SIGTERM and SIGKILLs after 10 s; the stop must not need that."""
    ens = ensemble_factory(["ferro", "zk", "ferro"], tick_ms=500, start=False)
    start_led_by(ens, 3)
    took = {}
    for m in (ens.members[1], ens.members[0], ens.members[2]):  # Java follower, ferro follower, ferro leader
        role = m.mode()
        clients = [kazoo_client(m.hostport) for _ in range(2)]
        try:
            clients[0].create(unique_root(f"term{m.sid}"), b"x")
            t0 = time.monotonic()
            m.proc.send_signal(signal.SIGTERM)
            try:
                m.proc.wait(timeout=10)
                took[(m.sid, m.kind, role)] = round(time.monotonic() - t0, 2)
            except subprocess.TimeoutExpired:
                took[(m.sid, m.kind, role)] = None  # still running
            ens.kill9(m)  # (reaps it, or ends it)
        finally:
            for c in clients:
                stop_client(c)
        if role != "leader":
            ens.start(m)
            ens.leader(timeout=30)
    print(f"SIGTERM to exit, s (None = still running after 10 s): {took}")
    slow = {k: v for k, v in took.items() if v is None or v > 5}
    assert not slow, f"members that did not exit within 5 s of SIGTERM with clients connected: {slow}; all: {took}"


# --- /zookeeper/config ---------------------------------------------------------------------------

def expected_config_text(m):
    """QuorumVerifier.toString() of member m's zoo.cfg: its server.N lines as
    host:quorumPort:electionPort:participant|observer, joined by newlines, then
    "version=0" (static config, no reconfig)."""
    lines = []
    with open(m.cfg_path) as f:
        for ln in f:
            k, _, v = ln.strip().partition("=")
            if k.startswith("server."):
                addr = v.split(":observer")[0]
                lines.append((int(k[7:]), f"{k}={addr}:{'observer' if v.endswith(':observer') else 'participant'}"))
    return "\n".join(t for _, t in sorted(lines)) + "\nversion=0"


def test_zookeeper_config_node_on_every_member(ensemble_factory):
    """A Java quorum member puts its QuorumVerifier text in /zookeeper/config at start
    (ZKDatabase.initConfigInZKDatabase: data = the text its notifications and NEWLEADER
    carry, Stat version -1, mzxid 0, mtime = when it loaded it), reconfig enabled or
    not; clients read it (getConfig, zkCli `config`, Curator's EnsembleTracker). Each
    member's text names the proxy ports of its own links here, so each is checked
    against its own zoo.cfg."""
    # Java leader 3; ferro observer 4 is then synced by SNAP, whose body carries the
    # leader's /zookeeper/config (Java learners reset it to their own text after
    # deserializing a snapshot; "the leader's text" below)
    ens = ensemble_factory(["ferro", "ferro", "zk"], observers=["ferro"], tick_ms=500, start=False,
                           extra_cfg={"snapCount": 100})
    leader = start_led_by(ens, 3)
    obs = ens.members[3]
    ens.kill9(obs)
    write_many(leader.hostport, "/cfg_snap", 600)
    ens.start(obs)
    got = {}
    for m in ens.members:
        with kazoo(m.hostport) as c:
            c.sync("/")
            data, st = c.get("/zookeeper/config")
            got[m.sid] = (m.kind, m.mode(), data.decode(), st.version, st.mzxid)
    bad = {}
    for m in ens.members:
        kind, mode, text, version, mzxid = got[m.sid]
        if (text, version, mzxid) != (expected_config_text(m), -1, 0):
            what = "the leader's text" if text == expected_config_text(leader) else repr(text)
            bad[(m.sid, kind, mode)] = (what, version, mzxid)
    assert got[3][2] == expected_config_text(leader), got[3]  # the Java member: the reference
    assert not bad, "/zookeeper/config is not the member's own QuorumVerifier text (version -1, mzxid 0): " + \
        "; ".join(f"{k}: data={v[0]} version={v[1]} mzxid={v[2]}" for k, v in bad.items())
