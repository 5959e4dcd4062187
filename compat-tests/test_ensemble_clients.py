"""Real clients (kazoo, Curator, zkCli.sh) against 3- and 5-member ensembles, members
killed and cut off while they work:

  - 5 ferrokeeper members: every member serves; writes through each member (the
    followers forward them), read back on every member after sync(); kill -9 of the
    leader and of a follower (3 of 5 left): a survivor is elected and writes go on; a
    third kill (2 of 5): the survivors stop serving (srvr, new kazoo sessions time out,
    a connected client is suspended and gets no answer); two restarted: serving again;
    all five back: trees identical (data and Stat);
  - 5 mixed members (Java 3.8, Java 3.9.5 and ferrokeeper; a ferrokeeper leader):
    partition [leader + a Java follower] | [the other three] (blackhole) under the
    lin_history recorder: the minority stops serving within a few syncLimit periods and
    refuses sessions, the majority elects and serves writes; heal: the old side syncs
    back; linearizable history, trees identical. Then the new leader and a ferrokeeper
    follower are cut off the same way (both Java members on the majority side);
  - a 3.9.5 leader SNAP-syncing a ferrokeeper old leader across epochs under pipelined
    write load, up to 4 times: the old leader comes back as a follower (it used to panic on
    commits at or below the SNAP's zxid, which Java forwards after a fuzzy snapshot:
    SNAP_RACE_REASON; the partition test above could run into it too);
  - Curator (java/CuratorEnsemble.java) on the full connect string and on one follower,
    with an InterProcessMutex held, a LeaderLatch, a CuratorCache and two writer threads
    when the leader is killed -9: Curator reconnects (same sessions, never LOST), the
    recipes behave across the failover, and every acknowledged write is on every member;
  - zkCli.sh against each member of 3: create on one, sync + get -s / ls / stat on the
    others (the same Stat everywhere), set on another, delete through a follower;
  - a kazoo session on member 1 with an ephemeral, a DataWatch and a ChildrenWatch: member
    1 killed -9, then the member it moved to: each time the same session id comes back on
    another member, the ephemeral is still there, the watches (kazoo sets them again after
    a reconnect) report what changed meanwhile and fire on the new member; closed at the
    end, its ephemeral is gone everywhere. kazoo 2.8 does not send SetWatches, so a raw
    session (zkraw) with one-shot watches set on member 1 re-attaches elsewhere and sends
    SetWatches with its last zxid, as the Java client does: all three fire at once.

Helpers come from test_ensemble_mixed.py (kazoo, start_led_by, assert_trees_identical),
test_client_cli.py (zkcli) and test_client_curator.py (compiling and running a Curator
program, its CHECK lines).
"""

import os
import re
import subprocess
import threading
import time

import pytest

import conftest
import lin_history
import netproxy
import zkraw
from ensemble import ensemble_factory  # noqa: F401  (a fixture)
from ensemble import log_lines, log_mark
from test_client_cli import stat_block, zkcli
import test_client_curator as curator
from test_ensemble_java39 import start_led_by_39
from test_ensemble_mixed import (assert_trees_identical, kazoo, kazoo_client, lin_history_wait, start_led_by,
                                 stop_client, unique_root)

HERE = os.path.dirname(os.path.abspath(__file__))

pytestmark = [pytest.mark.xdist_group("ensemble-clients"),
              pytest.mark.skipif("ferro" not in conftest.selected_kinds(),
                                 reason="ferrokeeper ensembles (COMPAT_SERVERS without ferro)")]

TICK_MS = 500
SYNC_LIMIT = 5


def connected_port(c):
    """The client port of the member a kazoo client is connected to (None if not)."""
    try:
        return c._connection._socket.getpeername()[1]
    except Exception:
        return None


def assert_no_session(m, timeout=3):
    """A new kazoo session on member m alone cannot be established."""
    from kazoo.client import KazooClient
    from kazoo.handlers.threading import KazooTimeoutError
    c = KazooClient(hosts=m.hostport, timeout=4)
    try:
        with pytest.raises(KazooTimeoutError):
            c.start(timeout=timeout)
    finally:
        stop_client(c)


def write_and_read_everywhere(ens, members, root, tag):
    """A create + set through each member, then every member (after sync) has them all
    with the same Stat; returns {path: data}."""
    stats = {}
    for m in members:
        with kazoo(m.hostport) as c:
            p = f"{root}/{tag}-{m.sid}"
            c.create(p, f"created on {m.sid}".encode())
            c.set(p, f"set on {m.sid}".encode())
            data, st = c.get(p)
            assert data == f"set on {m.sid}".encode(), (m, data)
            stats[p] = (data, st)
    for m in members:
        with kazoo(m.hostport) as c:
            c.sync(root)
            names = set(c.get_children(root))
            assert {p.rsplit("/", 1)[1] for p in stats} <= names, (m, sorted(names))
            for p, (want_data, want) in stats.items():
                data, st = c.get(p)
                assert data == want_data, (m, p, data)
                assert (st.czxid, st.mzxid, st.version, st.ctime, st.mtime) == \
                       (want.czxid, want.mzxid, want.version, want.ctime, want.mtime), (m, p, st, want)
    return {p: d for p, (d, _) in stats.items()}


# --- 5 ferrokeeper members: writes everywhere, failover, quorum lost and regained ----------

def test_five_ferro_members_failover_and_quorum_loss(ensemble_factory):
    from kazoo.exceptions import ConnectionLoss
    from kazoo.handlers.threading import KazooTimeoutError
    ens = ensemble_factory(["ferro"] * 5, tick_ms=TICK_MS, sync_limit=SYNC_LIMIT)
    leader = ens.leader()
    modes = ens.modes()
    assert sorted(modes.values()) == ["follower"] * 4 + ["leader"], modes
    root = unique_root("five")
    with kazoo(ens.connect_string()) as c:
        c.create(root, b"r")
    write_and_read_everywhere(ens, ens.members, root, "round1")

    # kill -9 the leader and one follower: 3 of 5 are a quorum
    follower = next(m for m in ens.members if m is not leader)
    t0 = time.monotonic()
    ens.kill9(leader)
    ens.kill9(follower)
    new = ens.leader(timeout=30)
    elected = time.monotonic() - t0
    survivors = [m for m in ens.members if m.alive()]
    assert len(survivors) == 3 and new in survivors, ens.modes()
    ens.wait_modes({m: ("leader" if m is new else "follower") for m in survivors}, timeout=30)
    write_and_read_everywhere(ens, survivors, root, "round2")

    # a third kill (a follower): 2 of 5 cannot form a quorum, the leader steps down
    states = []
    on, third = [m for m in survivors if m is not new]
    watcher = kazoo_client(on.hostport, listener=states.append)  # stays up, loses its quorum
    rest = [new, on]
    t1 = time.monotonic()
    ens.kill9(third)
    ens.wait_modes({m: None for m in rest}, timeout=30)
    stopped = time.monotonic() - t1
    for m in rest:
        assert "not currently serving" in (m.srvr() or ""), (m, m.srvr())
        assert_no_session(m)
    assert lin_history_wait(lambda: "SUSPENDED" in [str(s) for s in states], 15), states
    r = watcher.exists_async(root)
    with pytest.raises((ConnectionLoss, KazooTimeoutError)):
        r.get(timeout=4)
    # still nothing a few seconds later (a window in which nothing may happen)
    time.sleep(1)
    assert ens.modes() == {**{m.sid: None for m in rest}, **{m.sid: "down" for m in (leader, follower, third)}}

    # two back: 4 of 5, serving again; the connected client's session survived
    t2 = time.monotonic()
    ens.start(leader, wait=False)
    ens.start(third, wait=False)
    for m in rest + [leader, third]:
        ens.wait_serving(m, timeout=60)
    back = time.monotonic() - t2
    ens.leader(timeout=30)
    assert lin_history_wait(lambda: watcher.connected, 30), states
    assert "LOST" not in states, f"the session did not survive the outage: {states}"
    assert watcher.exists(root) is not None
    watcher.create(f"{root}/after-quorum", b"q")
    stop_client(watcher)
    write_and_read_everywhere(ens, [m for m in ens.members if m.alive()], root, "round3")

    # all five back: one tree
    ens.start(follower)
    assert sorted(ens.modes().values()) == ["follower"] * 4 + ["leader"], ens.modes()
    got = assert_trees_identical(ens)
    tree = next(iter(got.values()))
    for rnd, n in (("round1", 5), ("round2", 3), ("round3", 4)):
        assert sum(1 for p in tree if p.startswith(f"{root}/{rnd}-")) == n, (rnd, sorted(tree))
    assert f"{root}/after-quorum" in tree
    print(f"leader {leader.sid} + follower {follower.sid} killed: {new.sid} elected in {elapsed(elected)}; "
          f"third kill ({third.sid}): not serving after {elapsed(stopped)}; two restarted: serving after "
          f"{elapsed(back)}")


def elapsed(s):
    return f"{s:.1f}s"


# --- 5 mixed members: the leader on the minority side of a partition -------------------------

MIXED = ["zk", "ferro", "zk39", "ferro", "ferro"]


def partition_round(ens, rec, root, minority, tag):
    """Cut minority (holding the leader) off from the rest (blackhole): the minority stops
    serving within a few syncLimit periods and refuses sessions, the rest elect one of
    theirs and take writes (through each of them, read back on each); heal: the minority
    follows the new leader and has the writes. Returns (new leader, seconds to stop
    serving, seconds to a new leader)."""
    majority = [m for m in ens.members if m not in minority]
    sync_period = TICK_MS * SYNC_LIMIT / 1000
    rec.event(f"partition {[m.sid for m in minority]} | {[m.sid for m in majority]}")
    t0 = time.monotonic()
    ens.partition(minority, majority, mode=netproxy.BLACKHOLE)
    ens.wait_modes({m: None for m in minority}, timeout=30)
    stopped = time.monotonic() - t0
    # syncLimit x tickTime to notice, plus the polling: a few syncLimit periods at most
    assert stopped <= 4 * sync_period, f"{minority} still served {stopped:.1f}s after the cut"
    new = ens.leader(exclude=minority, timeout=30)
    elected = time.monotonic() - t0
    assert new in majority, ens.modes()
    rec.event(f"new leader {new.sid} ({new.kind})")
    ens.wait_modes({m: ("leader" if m is new else "follower") for m in majority}, timeout=30)
    for m in minority:
        assert "not currently serving" in (m.srvr() or ""), (m, m.srvr())
        assert_no_session(m)
    write_and_read_everywhere(ens, majority, root, tag)
    assert rec.wait_ops(40, timeout=30, since_ns=time.monotonic_ns()), "no progress on the majority side"
    # the minority stays out (a window in which nothing may happen)
    assert all(m.mode() is None for m in minority), ens.modes()

    rec.event("heal")
    ens.heal()
    for m in minority:
        try:
            mode = ens.wait_serving(m, timeout=60)
        except AssertionError:
            panic = log_lines(m, PANIC)
            if panic and new.java:
                raise SnapRacePanic(f"{m!r} synced by {new!r}: {panic[-1]}")
            raise
        assert mode == "follower", ens.modes()
    assert ens.leader() is new
    for m in minority:
        with kazoo(m.hostport) as c:
            c.sync(root)
            assert sum(1 for ch in c.get_children(root) if ch.startswith(f"{tag}-")) == len(majority), m
    assert rec.wait_ops(40, timeout=30, since_ns=time.monotonic_ns()), "no progress after the heal"
    return new, stopped, elected


@pytest.mark.skipif(not conftest.kinds_selected("zk", "zk39", "ferro"),
                    reason="mixed ensembles need every kind (COMPAT_SERVERS)")
def test_mixed_five_leader_in_minority_partition(ensemble_factory, tmp_path):
    """Members 1 zk (3.8), 2 ferro, 3 zk39 (3.9.5), 4 ferro, 5 ferro (leads), under the
    recorder. Round 1: [5, 1] | [2, 3, 4]: the ferrokeeper leader and its Java 3.8
    follower stop serving, 2, 3, 4 elect one of them. Round 2: that new leader and a
    ferrokeeper follower cut off from the three others (both Java members among them)."""
    ens = ensemble_factory(MIXED, tick_ms=TICK_MS, sync_limit=SYNC_LIMIT, start=False)
    old = start_led_by_39(ens, 5)
    root = unique_root("mixed5")
    with kazoo(ens.connect_string()) as c:
        c.create(root, b"before")
    write_and_read_everywhere(ens, ens.members, root, "before")
    rec = lin_history.start_load(ens.connect_string(), unique_root("lin_mixed5"), seed=71, max_ops=12000,
                                 max_seconds=100, think_s=0.05)
    report = []
    try:
        assert rec.wait_ops(60, timeout=30), f"no load before the partition: {rec.count} ops"
        leader = old
        for rnd in (1, 2):
            if rnd == 1:
                minority = [leader, ens.member(1)]
            else:
                minority = [leader, max((m for m in ens.members if m.kind == "ferro" and m is not leader),
                                        key=lambda m: m.sid)]
            try:
                new, stopped, elected = partition_round(ens, rec, root, minority, f"round{rnd}")
            except SnapRacePanic as e:
                raise AssertionError(f"{e} -- {SNAP_RACE_REASON}") from e
            report.append(f"{[f'{m.sid} {m.kind}' for m in minority]} cut off: not serving after {stopped:.1f}s, "
                          f"{new.sid} ({new.kind}) leads after {elected:.1f}s")
            leader = new
    finally:
        rec.stop()
    lin_history.assert_recorded_linearizable(rec, tmp_path / "mixed5-partition.json", "; ".join(report) + "; ")
    write_and_read_everywhere(ens, ens.members, root, "after")
    assert_trees_identical(ens)


# --- a Java leader's SNAP sync of a ferrokeeper old leader under write load ------------------

PANIC = r"applied after"

SNAP_RACE_REASON = (
    "fixed ferrokeeper bug (zab::learner::in_snapshot): a Java (3.9.5) leader that syncs a ferrokeeper learner by SNAP across epochs "
    "(LearnerHandler: 'Cannot send TRUNC ... different epoch', 'Detected gap ...') starts forwarding at the "
    "learner's old-epoch zxid, so the PROPOSAL+COMMIT pairs it queues (toBeApplied/outstanding) may have "
    "zxids <= the SNAP's zxid (read later: 'send zxid of db as ...' above maxCommittedLog). Java's "
    "Learner.syncWithLeader re-applies them to the tree (idempotent, as for its fuzzy snapshots); "
    "ferrokeeper's follower aborts: 'panicked at src/server/core/apply.rs:61: txn 0x.. applied after 0x..'")


class SnapRacePanic(AssertionError):
    """A ferrokeeper learner died of SNAP_RACE_REASON's panic."""


class PipelinedLoad:
    """Clients (one per host string) each keeping ~200 setData in flight on a few keys,
    until stop(): a leader with commits always in flight."""

    def __init__(self, hosts_list, root):
        self.root = root
        self._stop = threading.Event()
        self.count = 0
        self.threads = [threading.Thread(target=self._run, args=(h,), daemon=True) for h in hosts_list]
        with kazoo(hosts_list[0]) as c:
            for i in range(8):
                c.ensure_path(f"{root}/k{i}")
        for t in self.threads:
            t.start()

    def _run(self, hosts):
        from kazoo.client import KazooClient
        c = KazooClient(hosts=hosts, timeout=10,
                        connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5})
        try:
            c.start(timeout=20)
            while not self._stop.is_set():
                rs = [c.set_async(f"{self.root}/k{i % 8}", b"x%d" % i) for i in range(400)]
                for r in rs:
                    try:
                        r.get(timeout=10)
                    except Exception:
                        pass
                self.count += len(rs)
        except Exception:
            pass
        finally:
            stop_client(c)

    def stop(self):
        self._stop.set()
        for t in self.threads:
            t.join(timeout=30)


def java_snap_sync(java, sid, since):
    """(maxCommittedLog when the sync began, zxid of the SNAP sent) of the last SNAP sync
    of learner `sid` in Java leader `java`'s log from offset `since`, or None (no SNAP).
    For the record only: the race shows with the SNAP's zxid equal to maxCommittedLog as
    well as above it, and does not always when above."""
    thread = max_committed = result = None
    for ln in log_lines(java, r"Synchronizing with Learner sid: |Sending snapshot last zxid of peer", since):
        m = re.search(r"\[(LearnerHandler-[^\]]+)\].*Synchronizing with Learner sid: (\d+) "
                      r"maxCommittedLog=0x([0-9a-f]+)", ln)
        if m:
            if int(m.group(2)) == sid:
                thread, max_committed = m.group(1), int(m.group(3), 16)
            continue
        m = re.search(r"\[(LearnerHandler-[^\]]+)\].*send zxid of db as 0x([0-9a-f]+)", ln)
        if m and m.group(1) == thread:
            result = (max_committed, int(m.group(2), 16))
    return result


@pytest.mark.skipif(not conftest.kinds_selected("zk39", "ferro"),
                    reason="mixed ensembles need both kinds (COMPAT_SERVERS)")
def test_java_leader_snap_syncs_ferro_old_leader_under_load(ensemble_factory):
    """Members 1 ferro, 2 ferro, 3 zk39; under pipelined write load the ferrokeeper leader
    is cut off (blackhole: it logs proposals nobody else has) until the other two elect 3
    (3.9.5), then healed: 3.9.5 cannot TRUNC it across epochs and sends a SNAP. The old
    leader must come back as a follower.

    Whether txns at or below the SNAP's zxid are forwarded after it is a race on the Java
    side (proposals still in its toBeApplied/outstanding lists when it starts forwarding;
    nothing in its log tells): here it happened in roughly every second or third such
    sync. So it goes round (when 1 wins the election instead of 3, or after each sync by
    3, that leader is cut off in turn), up to 4 syncs by 3 or 50 s. Before the fix (the
    learner drops txns its SNAP already holds) the follower panicked in most runs."""
    ens = ensemble_factory(["ferro", "ferro", "zk39"], tick_ms=TICK_MS, sync_limit=SYNC_LIMIT, start=False)
    leader = start_led_by(ens, 2)
    java = ens.member(3)
    load = PipelinedLoad([ens.connect_string()] * 4, unique_root("snaprace"))
    syncs, others = [], []
    deadline = time.monotonic() + 50
    try:
        while len(syncs) < 4 and time.monotonic() < deadline:
            ens.partition([leader], [m for m in ens.members if m is not leader], mode=netproxy.BLACKHOLE)
            new = ens.leader(exclude=[leader], timeout=30)
            ens.wait_modes({leader: None}, timeout=30)
            mark = log_mark(java)
            ens.heal()
            # the old leader is a follower again (on the panic it exits)
            try:
                mode = ens.wait_serving(leader, timeout=30)
            except AssertionError:
                panic = log_lines(leader, PANIC)
                if panic:
                    snap = java_snap_sync(java, leader.sid, mark) if new is java else None
                    how = (f"SNAP 0x{snap[1]:x}, maxCommittedLog 0x{snap[0]:x} when the sync began"
                           if snap else "no SNAP logged")
                    raise SnapRacePanic(f"sync {len(syncs) + 1}: {leader!r} synced by {new!r} ({how}): {panic[-1]}")
                raise
            assert mode == "follower", ens.modes()
            if new is java:
                snap = java_snap_sync(java, leader.sid, mark)
                # A DIFF is right when the cut-off leader had logged nothing the others
                # lack (the load's proposals had not reached it yet): go round again.
                if snap is not None:
                    syncs.append(f"SNAP 0x{snap[1]:x} (maxCommittedLog 0x{snap[0]:x})")
                else:
                    assert log_lines(java, f"Sending (DIFF|TRUNC).*sid: {leader.sid}", mark), \
                        f"3.9.5 neither SNAP- nor DIFF-synced {leader!r}: {log_lines(java, 'Learner', mark)[-5:]}"
                    others.append("DIFF/TRUNC")
                # hand the lead back to a ferrokeeper member: cut the Java leader off
                ens.partition([java], [m for m in ens.members if m is not java], mode=netproxy.BLACKHOLE)
                leader = ens.leader(exclude=[java], timeout=30)
                ens.wait_modes({java: None}, timeout=30)
                ens.heal()
                assert ens.wait_serving(java, timeout=60) == "follower", ens.modes()
            else:
                leader = new
    finally:
        load.stop()
    print(f"{len(syncs)} SNAP syncs of a ferrokeeper old leader by 3.9.5 ({load.count} writes): {syncs}")
    assert syncs, f"3.9.5 never SNAP-synced within 50 s (other syncs: {others}): {ens.modes()}"
    # every member ends with the same tree (the dropped in-flight txns were in the SNAP)
    assert_trees_identical(ens)
    assert_trees_identical(ens)


# --- Curator across a leader kill -------------------------------------------------------------

CURATOR_SOURCE = os.path.join(HERE, "java", "CuratorEnsemble.java")


class Lines:
    """Lines of a process's stream, read by a thread, waited for with deadlines."""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.t.start()

    def _read(self, stream):
        for line in stream:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, text, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: text in self.lines or not self.t.is_alive(), timeout) \
                and text in self.lines


CURATOR_EXPECTED = {
    "connected": "true",
    "mutex.b_blocked_before": "true",
    "latch.a_leader_before": "true",
    "cache.initialized": "true",
    "cache.create_seen": "true",
    "writers.acked_before": "true",
    "cache.after_kill_seen": "true",
    "mutex.b_blocked_after": "true",
    "mutex.a_holds": "true",
    "mutex.b_acquired": "true",
    "latch.one_leader": "true",
    "latch.leader_agrees": "true",
    "latch.participants": "2",
    "writers.acked_after": "true",
    "writers.stopped": "true",
    "a.reconnected": "true",
    "b.reconnected": "true",
    "f.reconnected": "true",
    "sessions.same": "true",
}


def test_curator_recipes_across_leader_kill(ensemble_factory):
    classes = curator.compiled_classes(CURATOR_SOURCE, "curator-ensemble")
    ens = ensemble_factory(["ferro"] * 3, tick_ms=TICK_MS, sync_limit=SYNC_LIMIT)
    leader = ens.leader()
    follower = next(m for m in ens.members if m is not leader)
    root = unique_root("curator_ens")
    p = subprocess.Popen(curator.java_command(classes, "CuratorEnsemble", ens.connect_string(), follower.hostport,
                                              root),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    err = Lines(p.stderr)
    out = Lines(p.stdout)
    try:
        ready = out.wait_for("READY", 60)
        assert ready, "Curator program not READY:\n" + "\n".join(out.lines[-30:] + err.lines[-30:])
        t0 = time.monotonic()
        ens.kill9(leader)
        new = ens.leader(timeout=30)
        elected = time.monotonic() - t0
        assert new is not leader
        p.stdin.write("KILLED\n")
        p.stdin.flush()
        done = out.wait_for("DONE", 120)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    text = "\n".join(out.lines) + "\n--- stderr:\n" + "\n".join(err.lines[-40:])
    assert done and p.returncode == 0, f"rc={p.returncode}\n{text[-6000:]}"
    got = curator.checks(out.lines)
    acked = {}  # path -> (last acknowledged value, whether a set was acknowledged)
    for line in out.lines:
        if line.startswith("ACK "):
            _, op, path, value = line.split(" ", 3)
            acked[path] = (value, op == "set")
    assert got == CURATOR_EXPECTED, text[-6000:]
    info = [ln for ln in out.lines if ln.startswith("INFO ")]

    # every acknowledged write on every member (the old leader back too)
    ens.start(leader)
    for m in ens.members:
        with kazoo(m.hostport) as c:
            c.sync(root)
            names = set(c.get_children(f"{root}/w"))
            for path, (value, was_set) in acked.items():
                assert path.rsplit("/", 1)[1] in names, f"acknowledged {path} missing on {m!r}"
                data = c.get(path)[0].decode()
                if was_set:
                    assert data == value, (m, path, data, value)
                else:  # the create was acked, the set's outcome unknown
                    i = int(path.rsplit("-", 1)[1])
                    assert data in (value, f"s{i}"), (m, path, data, value)
            assert c.get(root)[0] == b"root-set-on-follower", m
    assert_trees_identical(ens)
    print(f"leader {leader.sid} killed, {new.sid} elected in {elapsed(elected)}; {len(acked)} acknowledged "
          f"nodes on every member; " + "; ".join(info))


# --- zkCli.sh against each member ---------------------------------------------------------------

def test_zkcli_against_each_member(ensemble_factory):
    ens = ensemble_factory(["ferro"] * 3, tick_ms=TICK_MS, sync_limit=SYNC_LIMIT)
    leader = ens.leader()
    m1, m2, m3 = ens.members
    followers = [m for m in ens.members if m is not leader]
    r = unique_root("zkcli_ens")

    out1 = zkcli(m1, [f"create {r} hello", f"create {r}/child c", f"stat {r}"])
    text1 = "\n".join(out1)
    assert f"Created {r}" in out1 and f"Created {r}/child" in out1, text1
    st1 = stat_block(out1, next(i for i, ln in enumerate(out1) if ln.startswith("cZxid")))

    stats = {m1.sid: st1}
    for m in (m2, m3):
        out = zkcli(m, [f"sync {r}", f"get -s {r}", f"ls {r}"])
        text = "\n".join(out)
        assert "Sync is OK" in out, (m, text)
        assert "hello" in out, (m, text)
        assert "[child]" in out, (m, text)
        stats[m.sid] = stat_block(out, next(i for i, ln in enumerate(out) if ln.startswith("cZxid")))
    # the same Stat on every member, and a sane one
    assert stats[m1.sid] == stats[m2.sid] == stats[m3.sid], stats
    st = stats[m1.sid]
    assert set(st) == {"cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion", "aclVersion",
                       "ephemeralOwner", "dataLength", "numChildren"}, st
    assert st["cZxid"] == st["mZxid"] and int(st["pZxid"], 16) > int(st["cZxid"], 16), st
    assert (st["dataVersion"], st["cversion"], st["aclVersion"]) == ("0", "1", "0"), st
    assert (st["ephemeralOwner"], st["dataLength"], st["numChildren"]) == ("0x0", "5", "1"), st
    assert st["ctime"] == st["mtime"] and str(time.gmtime().tm_year) in st["ctime"], st

    # set on member 2, seen on member 3 with the new version
    out = zkcli(m2, [f"set {r} world"])
    out = zkcli(m3, [f"sync {r}", f"get -s {r}"])
    text = "\n".join(out)
    assert "world" in out, text
    st3 = stat_block(out, next(i for i, ln in enumerate(out) if ln.startswith("cZxid")))
    assert st3["dataVersion"] == "1" and st3["cZxid"] == st["cZxid"] and int(st3["mZxid"], 16) > int(st["mZxid"], 16)

    # delete through a follower
    via = followers[-1]
    out = zkcli(via, [f"delete {r}", f"delete {r}/child", f"delete {r}", f"ls {r}"])
    text = "\n".join(out)
    assert f"Node not empty: {r}" in out, text
    assert f"Node does not exist: {r}" in out, text
    for m in ens.members:
        with kazoo(m.hostport) as c:
            c.sync("/")
            assert c.exists(r) is None, m
    print(f"leader {leader.sid}; deleted via follower {via.sid}; stat {st}")


# --- a session moving between members --------------------------------------------------------

def retrying(fn, *args, timeout=30, **kw):
    """fn(*args) until it does not fail with a connection error (bounded); a create that
    turns out to exist (an earlier attempt took effect) counts as done."""
    from kazoo.exceptions import ConnectionLoss, NodeExistsError, OperationTimeoutError, SessionMovedError
    from kazoo.handlers.threading import KazooTimeoutError
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn(*args, **kw)
        except NodeExistsError:
            if fn.__name__ != "create":
                raise
            return None
        except (ConnectionLoss, OperationTimeoutError, SessionMovedError, KazooTimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def reattach(m, sid, pw, last_zxid, timeout=20):
    """A raw connection to member m resuming session sid (a member that has not applied
    last_zxid yet refuses it, as Java does: try again, bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        r = zkraw.ZkRaw("127.0.0.1", m.client_port)
        try:
            cr = r.handshake(timeout_ms=20000, session_id=sid, passwd=pw, last_zxid=last_zxid)
            return r, cr
        except (zkraw.ConnectionClosed, OSError):
            r.drop()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_session_moves_when_its_member_dies(ensemble_factory):
    """A kazoo session on member 1 (ephemeral, DataWatch and ChildrenWatch, which kazoo
    sets again after a reconnect) and a raw session on member 1 with one-shot watches (the
    Java client's way: SetWatches with the last zxid seen when it reconnects). Member 1 is
    killed -9 and the watched nodes change meanwhile; then the member the kazoo session
    moved to is killed too."""
    from kazoo.protocol.states import KazooState
    from kazoo.recipe.watchers import ChildrenWatch, DataWatch
    ens = ensemble_factory(["ferro"] * 3, tick_ms=TICK_MS, sync_limit=SYNC_LIMIT)
    ens.leader()
    m1 = ens.member(1)
    root = unique_root("moves")
    states = []
    datas = []
    children = []
    # member 1 first, hosts in order: the session starts on member 1
    c = kazoo_client(ens.connect_string(), randomize=False, listener=states.append)
    other = kazoo_client(ens.connect_string([2, 3]))
    raw = None
    moves = []
    vias = []
    try:
        assert connected_port(c) == m1.client_port, (connected_port(c), ens.members)
        sid = c.client_id[0]
        c.create(root, b"r")
        c.create(f"{root}/data", b"0")
        c.create(f"{root}/eph", b"e", ephemeral=True)
        DataWatch(c, f"{root}/data", lambda data, stat: datas.append(data))
        ChildrenWatch(c, root, lambda ch: children.append(sorted(ch)))
        assert lin_history_wait(lambda: datas == [b"0"] and children == [["data", "eph"]], 10), (datas, children)

        raw = zkraw.ZkRaw("127.0.0.1", m1.client_port)
        rcr = raw.handshake(timeout_ms=20000)
        assert raw.get_data(f"{root}/data", watch=True).err == 0
        assert raw.exists(f"{root}/later", watch=True).err == zkraw.Err.NONODE
        assert raw.get_children(root, watch=True).err == 0
        raw_zxid = raw.last_zxid

        on = m1
        for n in (1, 2):
            before = len(states)
            t0 = time.monotonic()
            killed = on
            ens.kill9(killed)
            if n == 1:
                raw.drop()
                # changed while the sessions are (most likely) between members
                retrying(other.set, f"{root}/data", b"1")
                retrying(other.create, f"{root}/later", b"l")
            else:
                retrying(other.set, f"{root}/data", b"3")

            def moved():
                port = connected_port(c)
                return (c.state == KazooState.CONNECTED and port not in (None, killed.client_port)
                        and KazooState.SUSPENDED in states[before:])

            assert lin_history_wait(moved, 30, interval=0.05), (states, connected_port(c), ens.modes())
            moves.append(time.monotonic() - t0)
            assert c.client_id[0] == sid, f"session changed: 0x{sid:x} -> 0x{c.client_id[0]:x}"
            assert KazooState.LOST not in states, states
            on = next(m for m in ens.members if m.client_port == connected_port(c))
            # the ephemeral is still there, owned by the session, seen from another client
            retrying(other.sync, root)
            st = retrying(other.exists, f"{root}/eph")
            assert st is not None and st.ephemeralOwner == sid, (on, st)
            if n == 1:
                # the watches kazoo set again on the new member: what changed meanwhile,
                # then a change made now (a notification from the new member)
                assert lin_history_wait(lambda: datas[-1:] == [b"1"], 20), datas
                assert lin_history_wait(lambda: children[-1:] == [["data", "eph", "later"]], 20), children
                retrying(other.set, f"{root}/data", b"2")
                retrying(other.create, f"{root}/kid", b"k")
                assert lin_history_wait(lambda: datas[-1:] == [b"2"], 20), datas
                assert lin_history_wait(lambda: children[-1:] == [["data", "eph", "kid", "later"]], 20), children
                # the session writes through its new member
                c.create(f"{root}/via-{on.sid}", b"v")
                vias.append(f"via-{on.sid}")

                # the raw session re-attached on another member re-registers its one-shot
                # watches with the zxid it had seen: all three fire at once
                target = next(m for m in ens.members if m.alive() and m is not killed)
                raw, cr = reattach(target, rcr.sessionId, rcr.passwd, raw_zxid)
                assert cr.sessionId == rcr.sessionId and cr.timeOut > 0, cr
                assert raw.set_watches(raw_zxid, data=[f"{root}/data"], exist=[f"{root}/later"],
                                       child=[root]).err == 0
                evs = raw.take_events(3, timeout=10, settle=0.3)
                got = sorted((e.type, e.path) for e in evs)
                assert got == sorted([(zkraw.Ev.NODE_DATA_CHANGED, f"{root}/data"),
                                      (zkraw.Ev.NODE_CREATED, f"{root}/later"),
                                      (zkraw.Ev.NODE_CHILDREN_CHANGED, root)]), (target, evs)
                assert raw.call(zkraw.Op.CLOSE_SESSION, timeout=10).err == 0
                raw.drop()
                raw = None
                ens.start(killed)  # back, for the second move
            else:
                assert lin_history_wait(lambda: datas[-1:] == [b"3"], 20), datas
                c.create(f"{root}/via-{on.sid}", b"v")
                vias.append(f"via-{on.sid}")

        # closed where it ended: its ephemeral goes everywhere
        c.stop()
        ens.start(killed)
        for m in ens.members:
            with kazoo(m.hostport) as k:
                k.sync(root)
                assert k.exists(f"{root}/eph") is None, m
                assert sorted(k.get_children(root)) == sorted(["data", "kid", "later"] + vias), m
    finally:
        stop_client(c)
        stop_client(other)
        if raw is not None:
            raw.drop()
    assert_trees_identical(ens)
    print(f"session 0x{sid:x} moved twice, reconnected after " + ", ".join(f"{s * 1000:.0f} ms" for s in moves))
