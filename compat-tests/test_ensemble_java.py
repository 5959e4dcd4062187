"""The ensemble harness on an all-Java ensemble (Apache ZooKeeper 3.8 QuorumPeerMain):
proves ensemble.py, netproxy.py, lin_history.py and tools/lincheck before ferrokeeper
members exist, and is the template for the mixed-ensemble tests.

  - the proxy cuts and heals a link (no ZooKeeper involved);
  - 3 voters + 1 observer start and elect; writes on the leader read back everywhere;
  - a fault-free recorded history is linearizable; the checker rejects that same history
    with a planted stale read, and with a planted lost write;
  - kill -9 of the leader under load: a new leader, the history stays linearizable, the
    killed member rejoins;
  - the leader cut off from both followers (proxy blackhole, and drop): they elect a new
    leader, the isolated one stops serving and takes no sessions; after the heal it
    rejoins and has the writes; the history recorded throughout is linearizable;
  - replace(): a follower swapped for the "ferro" kind on the same dataDir (here
    tools/zk-as-ferro.sh, i.e. Java again) rejoins with the data.

All tests run in one xdist group ("ensemble"): an ensemble is 3-4 JVMs, and two at once
on the 2-core machine would only make each other's timeouts flaky.

The same scenarios run on other compositions with ENSEMBLE_KINDS (default "zk,zk,zk";
";" between compositions, the observer is of the first member's kind), e.g.
    ENSEMBLE_KINDS="ferro,zk,zk;ferro,ferro,ferro" pytest compat-tests/test_ensemble_java.py
    FERROKEEPER_BIN=compat-tests/tools/zk-as-ferro.sh ENSEMBLE_KINDS=ferro,zk,ferro ...  # self-test
In a composition without "ferro", replace() swaps to tools/zk-as-ferro.sh (Java again);
with one, to the real FERROKEEPER_BIN.
"""

import contextlib
import os
import socket
import threading
import time
import uuid

import pytest

import conftest
import lin_history
import netproxy
from ensemble import KINDS, Ensemble, ensemble_factory  # noqa: F401  (a fixture)
from ensemble import kill9_leader_under_load

pytestmark = pytest.mark.xdist_group("ensemble")

HERE = os.path.dirname(os.path.abspath(__file__))
ZK_AS_FERRO = os.path.join(HERE, "tools", "zk-as-ferro.sh")


def _compositions():
    out = []
    for part in os.environ.get("ENSEMBLE_KINDS", "zk,zk,zk").split(";"):
        kinds = tuple(k.strip() for k in part.split(",") if k.strip())
        if len(kinds) != 3 or any(k not in KINDS for k in kinds):
            raise pytest.UsageError(f"ENSEMBLE_KINDS: {part!r} is not 3 of {KINDS} separated by commas")
        out.append(kinds)
    return out


COMPOSITIONS = _compositions()


@pytest.fixture(scope="module", params=COMPOSITIONS, ids=["-".join(c) for c in COMPOSITIONS])
def kinds(request):
    """The member kinds of the ensembles (ENSEMBLE_KINDS); skipped when COMPAT_SERVERS
    leaves out one of them."""
    missing = set(request.param) - set(conftest.selected_kinds())
    if missing:
        pytest.skip(f"COMPAT_SERVERS leaves out {sorted(missing)}")
    return list(request.param)


def other_kind(kind):
    """The kind that replaces a member of `kind`: ferrokeeper for either Java version."""
    return "zk" if kind == "ferro" else "ferro"


@contextlib.contextmanager
def kazoo(hosts, timeout=10.0):
    """A started kazoo client on hosts (a connect string), stopped afterwards."""
    from kazoo.client import KazooClient
    c = KazooClient(hosts=hosts, timeout=timeout,
                    connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0})
    c.start(timeout=20)
    try:
        yield c
    finally:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


def unique_root(name):
    return f"/{name}_{uuid.uuid4().hex[:8]}"


# --- the shared ensemble (tests that leave it as they found it) ----------------------------

@pytest.fixture(scope="module")
def shared(request, kinds):
    """3 voters + 1 observer."""
    ens = Ensemble(kinds, observers=[kinds[0]], ferro_bin=None if "ferro" in kinds else ZK_AS_FERRO)
    print(f"ensemble: {ens.dir} members {ens.members}")
    failed_before = request.session.testsfailed
    try:
        ens.start(timeout=90)
    except BaseException:
        ens.close(keep=True)  # its logs say why
        raise
    try:
        yield ens
    finally:
        ens.close(keep=request.session.testsfailed > failed_before or bool(os.environ.get("ENSEMBLE_KEEP")))


@pytest.fixture(scope="module")
def clean_history(shared, tmp_path_factory):
    """A history recorded on the shared ensemble without faults: (path, dict)."""
    rec = lin_history.Recorder(shared.connect_string(), unique_root("lin_clean"), keys=3, clients=4, seed=11)
    rec.setup()
    rec.start(max_ops=320, max_seconds=40)
    rec.wait_done(timeout=45)
    rec.stop()
    path = rec.write(tmp_path_factory.mktemp("lin") / "clean.json")
    return path, rec.history()


# --- the proxy on its own --------------------------------------------------------------------

class EchoServer:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c):
        with c:
            try:
                while True:
                    b = c.recv(4096)
                    if not b:
                        return
                    c.sendall(b)
            except OSError:
                pass

    def close(self):
        netproxy._close(self.sock)


def _echo_roundtrip(port, payload=b"ping", timeout=1.0):
    """payload echoed through 127.0.0.1:port within timeout? (a new connection)"""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return _roundtrip_on(s, payload, timeout)


def _roundtrip_on(s, payload, timeout):
    s.settimeout(timeout)
    try:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            b = s.recv(4096)
            if not b:
                return "closed"
            got += b
        return got == payload
    except socket.timeout:
        return "silent"
    except OSError:
        return "closed"


def test_proxy_cut_and_heal():
    echo = EchoServer()
    link = netproxy.Link("test", echo.port, connect_retry_s=1.0)
    try:
        assert _echo_roundtrip(link.port) is True
        kept = socket.create_connection(("127.0.0.1", link.port), timeout=5)
        assert _roundtrip_on(kept, b"before", 2) is True

        link.set_state(netproxy.BLACKHOLE)
        # silence, not a close, on the open connection and on a new one (a window in
        # which nothing may arrive: a sleep cannot fail a correct proxy)
        assert _roundtrip_on(kept, b"during", 0.5) == "silent"
        assert _echo_roundtrip(link.port, timeout=0.5) == "silent"
        assert link.dropped_bytes > 0

        link.set_state(netproxy.UP)
        # the connection that lost bytes is closed; new ones work again
        assert _roundtrip_on(kept, b"after", 2) == "closed"
        assert _echo_roundtrip(link.port) is True

        link.set_state(netproxy.DROP)
        assert _echo_roundtrip(link.port) == "closed"
        link.set_state(netproxy.UP)
        assert _echo_roundtrip(link.port) is True

        # a target that does not listen: the connection is closed after the retry window
        echo.close()
        t0 = time.monotonic()
        assert _echo_roundtrip(link.port, timeout=5) == "closed"
        assert time.monotonic() - t0 >= 0.9
        kept.close()
    finally:
        link.close()
        echo.close()


def test_proxy_rewrites_election_initial_message():
    """The dialer's own election address in its initial message becomes the reverse
    link's port, so that a dial-back (larger sid to smaller) goes through the proxy too."""
    import struct
    echo = EchoServer()
    proxy = netproxy.NetProxy()
    try:
        proxy.add(1, 2, "election", echo.port, connect_retry_s=1.0)
        proxy.add(2, 1, "election", echo.port, connect_retry_s=1.0)
        proxy.add(1, 2, "quorum", echo.port, connect_retry_s=1.0)
        addr = b"127.0.0.1:1234"
        msg = struct.pack(">qqi", -65536, 1, len(addr)) + addr + b"\x00\x00\x00\x04tail"
        with socket.create_connection(("127.0.0.1", proxy.port(1, 2, "election")), timeout=5) as s:
            s.sendall(msg)
            want_addr = f"127.0.0.1:{proxy.port(2, 1, 'election')}".encode()
            want = struct.pack(">qqi", -65536, 1, len(want_addr)) + want_addr + b"\x00\x00\x00\x04tail"
            got = b""
            s.settimeout(5)
            while len(got) < len(want):
                b = s.recv(4096)
                if not b:
                    break
                got += b
            assert got == want
        # other links forward bytes untouched
        with socket.create_connection(("127.0.0.1", proxy.port(1, 2, "quorum")), timeout=5) as s:
            assert _roundtrip_on(s, msg, 2) is True
    finally:
        proxy.close()
        echo.close()


# --- the shared ensemble -----------------------------------------------------------------

def test_starts_and_elects(shared):
    modes = shared.modes()
    voters = [modes[m.sid] for m in shared.voters]
    assert sorted(voters) == ["follower", "follower", "leader"], modes
    assert modes[4] == "observer", modes
    leader = shared.leader()
    assert "Mode: leader" in leader.srvr()
    # every member is its own process, with its own dataDir and myid
    assert len({m.proc.pid for m in shared.members}) == 4
    for m in shared.members:
        with open(os.path.join(m.data_dir, "myid")) as f:
            assert f.read().strip() == str(m.sid)


def test_writes_on_leader_read_back_on_followers(shared):
    root = unique_root("leader_writes")
    leader = shared.leader()
    with kazoo(leader.hostport) as lc:
        lc.create(root, b"r")
        for i in range(10):
            lc.create(f"{root}/n{i}", f"v{i}".encode())
        lc.set(f"{root}/n3", b"changed")
        _, want = lc.get(f"{root}/n3")
    for m in shared.members:
        if m is leader:
            continue
        with kazoo(m.hostport) as c:
            c.sync(root)
            assert sorted(c.get_children(root)) == [f"n{i}" for i in range(10)], m
            data, stat = c.get(f"{root}/n3")
            assert data == b"changed", m
            assert (stat.mzxid, stat.version) == (want.mzxid, want.version), m
            assert c.get(f"{root}/n7")[0] == b"v7", m


def test_recorded_history_is_linearizable(clean_history):
    path, history = clean_history
    kinds = {(o["op"], o["ok"]) for o in history["ops"]}
    # the load did all three kinds of op, and cas both won and lost
    assert {("read", True), ("write", True), ("cas", True), ("cas", False)} <= kinds, lin_history.summary(history)
    assert len(history["ops"]) >= 300
    out = lin_history.assert_linearizable(path)
    assert out.startswith("linearizable:")


def test_checker_catches_planted_stale_read(clean_history, tmp_path):
    _, history = clean_history
    doctored, what = lin_history.plant_stale_read(history)
    path = lin_history.write_history(doctored, tmp_path / "stale.json")
    code, out = lin_history.run_lincheck(path, viz=tmp_path / "stale.html")
    assert code == 1, f"{what}: {out}"
    assert "NOT linearizable" in out and (tmp_path / "stale.html").stat().st_size > 1000
    with pytest.raises(AssertionError, match="lincheck exit 1"):
        lin_history.assert_linearizable(path, viz=False)


def test_checker_catches_planted_lost_write(clean_history, tmp_path):
    _, history = clean_history
    doctored, what = lin_history.plant_lost_write(history)
    path = lin_history.write_history(doctored, tmp_path / "lost.json")
    code, out = lin_history.run_lincheck(path)
    assert code == 1, f"{what}: {out}"
    # and the checker's exit code for a broken file
    bad = tmp_path / "bad.json"
    bad.write_text('{"ops": [{"client": 0, "op": "read"}]}')
    assert lin_history.run_lincheck(bad)[0] == 2


def test_replace_follower_with_other_kind(shared):
    """replace() on the same dataDir/myid/ports; in an all-Java composition the "ferro"
    kind is tools/zk-as-ferro.sh (Java with ferrokeeper's command line), so that proves
    the harness, not ferrokeeper."""
    root = unique_root("replace")
    leader = shared.leader()
    follower = next(m for m in shared.voters if m is not leader)
    port = follower.client_port
    was = follower.kind
    with kazoo(shared.connect_string()) as c:
        c.create(root, b"before")
        shared.replace(follower, other_kind(was))
        assert follower.kind == other_kind(was) and follower.client_port == port
        if shared.ferro_bin == ZK_AS_FERRO and follower.kind == "ferro":
            assert follower.proc.args[0] == ZK_AS_FERRO
        assert shared.wait_serving(follower) in ("follower", "leader")
        c.set(root, b"while-ferro")
    with kazoo(follower.hostport) as fc:
        fc.sync(root)
        assert fc.get(root)[0] == b"while-ferro"
    shared.replace(follower, was)
    assert shared.wait_serving(follower) in ("follower", "leader")
    with kazoo(follower.hostport) as fc:
        fc.sync(root)
        assert fc.get(root)[0] == b"while-ferro"
    assert sorted(shared.modes()[m.sid] for m in shared.voters) == ["follower", "follower", "leader"]


# --- faults (each on its own ensemble) ----------------------------------------------------------

def test_kill9_leader_under_load(ensemble_factory, kinds, tmp_path):
    ens = ensemble_factory(kinds)
    old = ens.leader()
    rec = lin_history.start_load(ens.connect_string(), unique_root("lin_kill"), seed=23, max_ops=3000,
                                 max_seconds=60)
    try:
        assert rec.wait_ops(80, timeout=30), f"no load before the kill: {rec.count} ops"
        kill9_leader_under_load(ens, rec, old)
    finally:
        rec.stop()
    lin_history.assert_recorded_linearizable(rec, tmp_path / "kill9.json")


@pytest.mark.parametrize("mode", [netproxy.BLACKHOLE, netproxy.DROP])
def test_partitioned_leader_steps_down_and_rejoins(ensemble_factory, kinds, mode, tmp_path):
    """blackhole: the links go silent (the members find out by timeouts); drop: every
    connection between the sides is closed at once and new ones are refused. The
    recorder's clients (some on the old leader) run throughout: the history must be
    linearizable."""
    from kazoo.client import KazooClient
    from kazoo.handlers.threading import KazooTimeoutError
    ens = ensemble_factory(kinds)
    old = ens.leader()
    others = [m for m in ens.members if m is not old]
    root = unique_root("partition")
    with kazoo(ens.connect_string()) as c:
        c.create(root, b"before")
    rec = lin_history.start_load(ens.connect_string(), unique_root("lin_part"), seed=31, max_ops=4000,
                                 max_seconds=90)
    try:
        assert rec.wait_ops(60, timeout=30), f"no load before the partition: {rec.count} ops"

        t0 = time.monotonic()
        rec.event(f"partition {mode}: [{old.sid}] | {[m.sid for m in others]}")
        ens.partition([old], others, mode=mode)
        new = ens.leader(exclude=[old], timeout=30)
        assert new in others
        rec.event(f"new leader {new.sid}")
        # the isolated member gives up leading within syncLimit ticks and cannot win an
        # election alone: not serving
        ens.wait_modes({old: None}, timeout=30)
        # (srvr is None when the 4lw itself timed out on a loaded machine: ask again)
        assert conftest.wait_until(lambda: "not currently serving" in (old.srvr() or ""), 15), old.srvr()
        stepped_down = time.monotonic() - t0

        with kazoo(ens.connect_string(others)) as c:
            c.set(root, b"during")
            c.create(f"{root}/child", b"x")
        # nobody can write on the isolated member: it does not even take sessions
        lonely = KazooClient(hosts=old.hostport, timeout=4)
        with pytest.raises(KazooTimeoutError):
            lonely.start(timeout=3)
        lonely.stop()
        lonely.close()
        assert rec.wait_ops(40, timeout=30, since_ns=time.monotonic_ns()), "no progress on the majority side"

        rec.event("heal")
        ens.heal()
        assert ens.wait_serving(old, timeout=60) == "follower"
        assert ens.leader() is new
        with kazoo(old.hostport) as oc:
            oc.sync(root)
            assert oc.get(root)[0] == b"during"
            assert oc.get_children(root) == ["child"]
        assert rec.wait_ops(40, timeout=30, since_ns=time.monotonic_ns()), "no progress after the heal"
    finally:
        rec.stop()
    lin_history.assert_recorded_linearizable(
        rec, tmp_path / f"partition-{mode}.json",
        f"{mode}: isolated leader stepped down and a new one was elected in {stepped_down:.1f}s; ")
