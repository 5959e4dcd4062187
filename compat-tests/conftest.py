"""Shared fixtures: start/stop servers, connect clients, run differential scenarios.

Servers (kinds)
  zk        Apache ZooKeeper 3.8.0 (Debian package) standalone, one per test session.
  zk39      Apache ZooKeeper 3.9.5 (Maven Central jars, scripts/install-deps.sh) standalone.
  ferro     ferrokeeper (FERROKEEPER_BIN, else target/release/ferrokeeper, else
            target/debug/ferrokeeper), one per test session, same zoo.cfg keys.
  server    parametrized over the kinds in COMPAT_SERVERS (default "zk,zk39,ferro"; ids
            are the kinds): every scenario runs on each. zk39 only parametrizes the
            differential files (test_diff_*.py, ZK39_MODULE_PREFIX); the other files (real
            clients, 4lw, robustness, limits) run on zk and ferro.
  server_factory(**cfg)  extra servers of the same kind with other zoo.cfg keys (cached
            per config).

Every server listens on a free 127.0.0.1 port with a fresh temp dataDir and is stopped by
its PID at teardown (only processes started here are ever signalled).

Differential scenarios
  A scenario is a function `scenario(env)` that talks to a server through
  `env.connect()` (raw protocol, zkraw.py) and records normalized results into
  `env.t` (a Transcript). The `diff` fixture runs it on the parametrized server; on
  ferrokeeper it also runs it on each reference kind (reference_kinds(): the Java kinds in
  COMPAT_SERVERS, zk39 when there is none; each transcript cached) and asserts the
  transcripts are equal. Steps where 3.9.5 (and ferrokeeper with it) differ from 3.8.0
  (`t.since39`) are compared with 3.9.5 and left out of the comparison with 3.8.0.
  Known-good values (checked with `env.t.expect`) make the scenario meaningful on real
  ZooKeeper alone.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

import zkraw
from harness import JAVA, JAVA_CLASSPATHS, JAVA_KINDS, end_process, ferro_binary, java_missing, log_tail
from harness import wait_until  # noqa: F401  (for the tests: conftest.wait_until)

HOST = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))

TICK_MS = 2000
CONTAINER_CHECK_MS = 1000
SUPER_PASSWORD = "super:test"
# base64(sha1("super:test")) -- DigestAuthenticationProvider.generateDigest("super:test")
SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="

DEFAULT_CFG = {
    "tickTime": str(TICK_MS),
    "initLimit": "5",
    "syncLimit": "2",
    "admin.enableServer": "false",
    "4lw.commands.whitelist": "*",
    "maxClientCnxns": "0",
    "extendedTypesEnabled": "true",
    "znode.container.checkIntervalMs": str(CONTAINER_CHECK_MS),
    "DigestAuthenticationProvider.superDigest": SUPER_DIGEST,
    "enforceQuota": "true",
}

ALL_KINDS = ["zk", "zk39", "ferro"]
DEFAULT_SERVERS = "zk,zk39,ferro"
# The files whose tests also run on zk39: the differential scenarios, where 3.9.5 is the
# reference ferrokeeper follows. The rest (real clients, 4lw, robustness, limits, quota
# arithmetic) check ferrokeeper and 3.8.0 only: a third kind there would cost CI time
# without comparing anything ferrokeeper is not compared on already.
ZK39_MODULE_PREFIX = "test_diff_"


def selected_kinds():
    raw = os.environ.get("COMPAT_SERVERS", DEFAULT_SERVERS)
    kinds = [k.strip() for k in raw.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ALL_KINDS]
    if bad:
        raise pytest.UsageError(f"COMPAT_SERVERS: unknown server kind(s) {bad}; use {', '.join(ALL_KINDS)}")
    return kinds


def kinds_selected(*kinds):
    """True if COMPAT_SERVERS selects every one of `kinds` (the ensemble files skip what
    needs a kind it leaves out)."""
    return set(kinds) <= set(selected_kinds())


def reference_kinds():
    """The Java kinds ferrokeeper's transcripts are compared with: those in COMPAT_SERVERS,
    or 3.9.5 (the release ferrokeeper follows) when it names none."""
    return [k for k in selected_kinds() if k in JAVA_KINDS] or ["zk39"]


def kinds_for_module(module_name):
    """The kinds a test file's `server` parametrization runs on (see ZK39_MODULE_PREFIX)."""
    kinds = selected_kinds()
    if not module_name.startswith(ZK39_MODULE_PREFIX):
        kinds = [k for k in kinds if k != "zk39"]
    return kinds


# --- server processes -------------------------------------------------------------------

class ServerHandle:
    """A running server process plus helpers to reach it."""

    def __init__(self, kind, cfg_overrides=None):
        self.kind = kind
        self.host = HOST
        self.port = None
        self.dir = tempfile.mkdtemp(prefix=f"compat-{kind}-")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir)
        self.cfg = dict(DEFAULT_CFG)
        for k, v in (cfg_overrides or {}).items():
            if v is None:
                self.cfg.pop(k, None)
            else:
                self.cfg[k] = str(v)
        self.cfg["dataDir"] = self.data_dir
        self.cfg["clientPortAddress"] = HOST
        self.cfg_path = os.path.join(self.dir, "zoo.cfg")
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = None
        self._new_port()

    def _new_port(self):
        """Reserve a (new) listening port and write zoo.cfg with it."""
        if self.port is not None:
            zkraw.release_port(self.port)
        self.port = zkraw.free_port(HOST)
        self.cfg["clientPort"] = str(self.port)
        with open(self.cfg_path, "w") as f:
            for k, v in self.cfg.items():
                f.write(f"{k}={v}\n")

    @property
    def hostport(self):
        return f"{self.host}:{self.port}"

    def command(self):
        if self.kind in JAVA_KINDS:
            missing = java_missing(self.kind)
            if missing:
                pytest.fail(missing, pytrace=False)
            # Both Java kinds: the same standalone main class, flags and zoo.cfg.
            return [
                JAVA, "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                f"-Dznode.container.checkIntervalMs={self.cfg.get('znode.container.checkIntervalMs', 60000)}",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-cp", JAVA_CLASSPATHS[self.kind],
                "org.apache.zookeeper.server.ZooKeeperServerMain", self.cfg_path,
            ]
        binary = ferro_binary()
        if not os.path.exists(binary):
            pytest.fail(
                f"ferrokeeper binary not found at {binary} "
                "(build it with `cargo build --release` or set FERROKEEPER_BIN)",
                pytrace=False,
            )
        return [binary, self.cfg_path]

    BIND_ATTEMPTS = 4

    def start(self, ready_timeout=60.0):
        """Start and wait until it serves. The port is reserved (zkraw.free_port), but a
        program outside the suite may still grab it before the server binds: if the
        server dies saying so, it is started again on another port."""
        for attempt in range(1, self.BIND_ATTEMPTS + 1):
            log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
            cmd = self.command()
            logf = open(self.log_path, "ab")
            env = dict(os.environ)
            env.setdefault("FERROKEEPER_LOG", "info")
            env.update(getattr(self, "extra_env", None) or {})  # e.g. test_sasl's SERVER_JVMFLAGS
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=self.dir,
                                         env=env, start_new_session=True)
            logf.close()
            if self.wait_ready(ready_timeout, retry_bind=attempt < self.BIND_ATTEMPTS, log_start=log_start):
                return self
            self.proc = None
            self._new_port()
        raise AssertionError("unreachable")

    def log_tail(self, n=40):
        return log_tail(self.log_path, n)

    def is_ready(self):
        try:
            if "Mode:" in zkraw.four_letter_word(self.host, self.port, "srvr", timeout=2):
                return True
        except OSError:
            pass
        # A server without (whitelisted) 4lw support: a real session and a read.
        try:
            c = zkraw.ZkRaw(self.host, self.port, timeout=2)
            try:
                c.handshake(timeout_ms=10000)
                ok = c.exists("/").err == 0
                c.close()
                return ok
            finally:
                c.drop()
        except (OSError, zkraw.ConnectionClosed, ValueError, Exception):
            return False

    def _log_since(self, offset):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_ready(self, timeout, retry_bind=False, log_start=0):
        """True once serving; False if the server exited because its port was taken
        (and retry_bind); pytest.fail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if retry_bind and zkraw.bind_failed(self._log_since(log_start)):
                    return False
                pytest.fail(f"{self.kind} server exited with {self.proc.returncode} during startup "
                            f"(cmd {self.proc.args}); log tail:\n{self.log_tail()}", pytrace=False)
            if self.is_ready():
                return True
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"{self.kind} server not serving on {self.hostport} after {timeout}s; "
                    f"log tail:\n{self.log_tail()}", pytrace=False)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Stop by PID (our own child only): SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None:
            return
        end_process(self.proc, signal.SIGTERM, 10)
        self.proc = None

    def cleanup(self):
        self.stop()
        if self.port is not None:
            zkraw.release_port(self.port)
        if os.environ.get("COMPAT_KEEP"):
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- client helpers --
    def raw(self, timeout_ms=30000, **kw):
        """A connected raw client with a new session (caller closes it)."""
        return zkraw.connect(self.host, self.port, timeout_ms=timeout_ms, **kw)

    def fourlw(self, word, timeout=10.0):
        return zkraw.four_letter_word(self.host, self.port, word, timeout)

    def __repr__(self):
        return f"<{self.kind} server {self.hostport} pid={self.proc.pid if self.proc else None}>"


class ServerPool:
    """Session-wide cache of started servers keyed by (kind, config overrides)."""

    def __init__(self):
        self.servers = {}
        self.failures = {}

    def get(self, kind, **cfg):
        key = (kind, tuple(sorted((k, str(v)) for k, v in cfg.items())))
        if key in self.failures:
            pytest.fail(self.failures[key], pytrace=False)
        srv = self.servers.get(key)
        if srv is not None and srv.alive():
            return srv
        srv = ServerHandle(kind, cfg)
        try:
            srv.start()
        except pytest.fail.Exception as e:
            self.failures[key] = str(e)
            srv.cleanup()
            raise
        self.servers[key] = srv
        return srv

    def stop_all(self):
        for srv in self.servers.values():
            srv.cleanup()
        self.servers.clear()


@pytest.fixture(scope="session")
def server_pool():
    pool = ServerPool()
    yield pool
    pool.stop_all()


@pytest.fixture(scope="session")
def real_zk(server_pool):
    """ZooKeeper 3.8.0 (kind zk), whatever COMPAT_SERVERS says."""
    return server_pool.get("zk")


@pytest.fixture(scope="session")
def real_zk39(server_pool):
    """ZooKeeper 3.9.5 (kind zk39), whatever COMPAT_SERVERS says."""
    return server_pool.get("zk39")


@pytest.fixture(scope="session")
def ferro(server_pool):
    return server_pool.get("ferro")


# --- parallel runs (pytest-xdist) ---------------------------------------------------------
#
# scripts/test.sh runs the suite with `-n N --dist loadgroup`. Every test belongs to a
# group, which runs whole, in order, on one worker (group_of below):
#   - its file's name (without .py): tests of one file share that worker's servers (the
#     session fixtures below: each worker starts its own), as in a serial run;
#   - for a file in SPLIT_BY_FUNCTION (its tests start their own servers and share nothing),
#     "file::function": the variants of one test function stay together;
#   - or what the test sets itself with @pytest.mark.xdist_group("name") (xdist then shows
#     "@name" after its test id).
# The scheduler is xdist's loadgroup with this grouping (pytest_xdist_make_scheduler), so
# test ids stay as they are and can be copied to re-run one test.
SPLIT_BY_FUNCTION = {"test_store_interop"}

GROUP_SECONDS = {
    "test_diff_watches": 55,  # the test_diff_* groups run on zk, zk39 and ferro
    "ensemble-readonly": 25,  # test_ensemble_readonly.py: zk, ferro, mixed
    "ensemble-local": 30,  # test_ensemble_local_sessions.py: 12 small ensembles
    "ensemble": 320,  # @pytest.mark.xdist_group("ensemble"): every ensemble test file (ensemble.py): java 55 + mixed 195 + java39 70
    "ensemble-clients": 80,
    "ensemble-tls": 45,  # test_ensemble_tls.py: 5 small zk39+ferro ensembles with sslQuorum (43 s measured)  # test_ensemble_clients.py: its own group, in parallel with "ensemble"
    "ensemble-sasl": 75,  # test_ensemble_quorum_sasl.py: 7 small zk39+ferro ensembles with quorum SASL (74 s measured)
    "kafka": 200,  # test_client_kafka.py: Kafka 3.9 brokers on zk and ferro, standalone and ensembles
    "test_store_interop::test_crash_rounds": 44,
    "test_store_interop::test_datadir_handover": 38,
    "test_store_interop::test_java_compressed_snapshot": 36,
    "test_robustness": 28,
    "test_alert_rules": 80,  # ferrokeeper standalone servers and a 3-member ensemble provoked for each alert, promtool (76 s measured, load ~5)
    "test_prometheus": 15,  # zk39 (with zookeeper-prometheus-metrics) and ferro standalone, then a 3-member ensemble of each (13 s measured)
    "test_diff_special_nodes": 40,
    "test_diff_tls": 52,  # zk39 and ferro only (3.8.0 has no Netty): ~9 TLS servers each, zkCli 3.9 JVMs
    "test_store_interop::test_dump_tools_match_java": 18,
    "test_store_interop::test_torn_tail_loses_only_the_torn_entry": 17,
    "test_client_cli": 17,
    "test_client_curator": 15,
    "test_client_curator59": 75,  # zk, zk39, ferro: one Curator 5.9 JVM each (zk ~40 s, the others ~15 s), load 8-12
    "test_client_cli39": 45,  # zk, zk39, ferro: ~10 zkCli 3.9 JVMs, ferro's runs also on the references
    "test_client_go": 40,  # zk, zk39, ferro; the reconnect runs start (and restart) servers of their own and wait for a session expiry
    "test_client_node": 40,  # likewise
    "test_store_interop::test_null_data_survives_handover": 14,
    "test_diff_sessions": 16,
    "test_store_interop::test_bit_flip_refuses_to_start": 7,
    "test_client_kazoo": 6,
    "test_4lw": 3,
    "test_diff_multi": 4,
    "test_diff_basic": 2,
    "test_diff_acl": 2,
    "test_sasl": 30,  # zk, zk39, ferro (two ways): SASL servers, kazoo, zkCli 3.8 and 3.9 JVMs; 29 s measured, load 3-5
}
DEFAULT_GROUP_SECONDS = 20


def group_of(nodeid):
    """The group of a test id (see above)."""
    at = nodeid.rfind("@")
    if at > nodeid.rfind("]"):
        return nodeid[at + 1:]  # an explicit xdist_group mark (loadgroup added it)
    parts = nodeid.split("::")
    group = os.path.splitext(os.path.basename(parts[0]))[0]
    if group in SPLIT_BY_FUNCTION and len(parts) > 1:
        group += "::" + parts[1].split("[")[0]
    return group


def group_of_item(item):
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return mark.args[0] if mark.args else mark.kwargs.get("name", "default")
    return group_of(item.nodeid)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: fine without it
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadgroup":
        return None  # an explicit other --dist: xdist's own
    from xdist.scheduler import LoadGroupScheduling

    class CompatGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid):
            return group_of(nodeid)

    return CompatGroupScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Longest groups first (after pytest's own reordering by fixture scope). The sort is
    stable: tests keep their order within a group."""
    items.sort(key=lambda item: -GROUP_SECONDS.get(group_of_item(item), DEFAULT_GROUP_SECONDS))


def pytest_generate_tests(metafunc):
    if "server" in metafunc.fixturenames:
        kinds = kinds_for_module(metafunc.module.__name__.rpartition(".")[2])
        metafunc.parametrize("server", kinds, ids=kinds, indirect=True, scope="session")


@pytest.fixture(scope="session")
def server(request, server_pool):
    return server_pool.get(request.param)


@pytest.fixture
def server_factory(server_pool, server):
    """Start (or reuse) a server of the same kind as `server` with other zoo.cfg keys.
    Pass key=None to remove a default key."""
    def make(**cfg):
        return server_pool.get(server.kind, **cfg)
    return make


# --- per-test helpers ---------------------------------------------------------------------

def _sanitize(name):
    return re.sub(r"[^A-Za-z0-9_]", "_", name)[:60]


@pytest.fixture
def root(request):
    """A unique znode path prefix for this test (not created)."""
    return f"/t_{_sanitize(request.node.name)}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def raw(server):
    """Factory of connected raw clients on `server`; all are closed at teardown."""
    opened = []

    def make(**kw):
        c = server.raw(**kw)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def kazoo_client(server):
    """Factory of started kazoo clients on `server`; all are stopped at teardown."""
    from kazoo.client import KazooClient
    opened = []

    def make(**kw):
        kw.setdefault("timeout", 15)
        c = KazooClient(hosts=server.hostport, **kw)
        c.start(timeout=20)
        opened.append(c)
        return c

    yield make
    for c in opened:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


# --- differential transcripts ---------------------------------------------------------------

class Transcript:
    """Normalized, comparable record of what a scenario observed.

    zxids are replaced by labels Z1, Z2... in order of first appearance (so equality
    between fields survives), session ids by S1, S2..., times by "T", and the test's
    unique root prefix by "<root>". Reply headers keep err and drop zxid.
    """

    def __init__(self, root, kind=None):
        self.root = root
        self.kind = kind
        self.entries = []
        self.failures = []
        self.zxids = {}
        self.sessions = {}
        # Index in entries of each by_kind step -> (why, kinds it is not compared with).
        self.not_compared = {}

    def zxid(self, z):
        if z in (0, -1):
            return z
        return self.zxids.setdefault(z, f"Z{len(self.zxids) + 1}")

    def session(self, sid):
        if sid == 0:
            return 0
        return self.sessions.setdefault(sid, f"S{len(self.sessions) + 1}")

    def norm(self, v):
        if isinstance(v, zkraw.Reply):
            return {"err": v.err, "value": self.norm(v.value)}
        if isinstance(v, zkraw.Stat):
            return {
                "czxid": self.zxid(v.czxid), "mzxid": self.zxid(v.mzxid),
                "ctime": "T" if v.ctime else 0, "mtime": "T" if v.mtime else 0,
                "version": v.version, "cversion": v.cversion, "aversion": v.aversion,
                "ephemeralOwner": self.session(v.ephemeralOwner),
                "dataLength": v.dataLength, "numChildren": v.numChildren,
                "pzxid": self.zxid(v.pzxid),
            }
        if isinstance(v, zkraw.WatchEvent):
            return ("event", v.type, v.state, self.norm(v.path))
        if isinstance(v, zkraw.ACL):
            return (v.perms, v.scheme, v.id)
        if isinstance(v, str):
            return v.replace(self.root, "<root>") if self.root else v
        if isinstance(v, (list, tuple)):
            return type(v)(self.norm(x) for x in v)
        if isinstance(v, dict):
            return {k: self.norm(x) for k, x in v.items()}
        return v

    def rec(self, label, v):
        n = self.norm(v)
        self.entries.append((label, n))
        return n

    _UNSET = object()

    def expect(self, label, v, value=_UNSET, err=None):
        """Record v and check it against known-good values: `err` is the reply's error
        code, `value` the normalized parsed body (or the normalized v itself when v is
        not a Reply). Mismatches are collected, not raised, so the differential
        comparison still runs first."""
        n = self.rec(label, v)
        if err is not None:
            got = v.err if isinstance(v, zkraw.Reply) else None
            if got != err:
                self.failures.append(f"{label}: expected err {err}, got {got} ({n!r})")
        if value is not Transcript._UNSET:
            got = n["value"] if isinstance(v, zkraw.Reply) else n
            if got != value:
                self.failures.append(f"{label}: expected {value!r}, got {got!r}")
        return n


def _by_kind(self, label, v, why, want, not_compared_with):
    """Record a step whose known-good value depends on the server kind (`want`: kind ->
    value; a kind not in it is ferrokeeper) and leave it out of the comparison with the
    kinds in `not_compared_with`. For a reply, an int expectation is its error code,
    anything else its normalized parsed body."""
    n = self.norm(v)
    expected = want.get(self.kind, want["ferro"])
    got = (v.err if isinstance(expected, int) else n["value"]) if isinstance(v, zkraw.Reply) else n
    self.not_compared[len(self.entries)] = (why, frozenset(not_compared_with))
    self.entries.append((label, n))
    if got != expected:
        self.failures.append(f"{label} ({why}): expected {expected!r} on {self.kind}, got {got!r}")
    return n


def _since39(self, label, v, value, zk38, why):
    """A step where 3.9.5 -- and ferrokeeper, which follows it -- differ from Debian's
    3.8.0 (a bug or security fix of a later release, or a 3.9 feature): compared with 3.9.5
    as any step, left out of the comparison with 3.8.0; `value` is the known-good value on
    3.9.5 and ferrokeeper, `zk38` on 3.8.0."""
    return self.by_kind(label, v, why, {"zk": zk38, "zk39": value, "ferro": value}, ["zk"])


def _as38(self, label, v, value, zk39, why):
    """A step where ferrokeeper answers as 3.8.0 and 3.9.5 differs (a difference from 3.9.5
    still open, `why` says why): compared with 3.8.0, left out of the comparison with
    3.9.5; `value` is the known-good value on 3.8.0 and ferrokeeper, `zk39` on 3.9.5."""
    return self.by_kind(label, v, why, {"zk": value, "zk39": zk39, "ferro": value}, ["zk39"])


def _compared_with(self, ref_kind):
    """The entries to compare with a `ref_kind` transcript: the steps left out of that
    comparison are placeholders."""
    out = []
    for i, (label, n) in enumerate(self.entries):
        why, kinds = self.not_compared.get(i, (None, ()))
        out.append((label, f"<{ref_kind} differs: {why}>") if ref_kind in kinds else (label, n))
    return out


Transcript.by_kind = _by_kind
Transcript.since39 = _since39
Transcript.as38 = _as38
Transcript.compared_with = _compared_with


class Env:
    """What a scenario gets: a server, a unique root and a transcript."""

    def __init__(self, server, root):
        self.server = server
        self.root = root
        self.t = Transcript(root, server.kind)
        self.clients = []

    def connect(self, **kw):
        c = self.server.raw(**kw)
        self.t.session(c.session_id)
        self.clients.append(c)
        return c

    def p(self, rel=""):
        """Absolute path under the scenario root."""
        return self.root + ("/" + rel if rel else "")

    def close_all(self):
        for c in self.clients:
            c.close()


def run_scenario(scenario, server, name):
    env = Env(server, f"/d_{_sanitize(name)}_{uuid.uuid4().hex[:8]}")
    try:
        scenario(env)
    finally:
        env.close_all()
    return env.t


_reference_cache = {}


def _first_difference(kind, got, ref_kind, want):
    """A readable account of where two transcripts part ways."""
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return (f"transcript of {kind} differs from {ref_kind} at step {i}:\n"
                    f"  {kind}: {g!r}\n  {ref_kind}: {w!r}")
    return (f"transcript of {kind} differs from {ref_kind} in length: "
            f"{len(got)} steps vs {len(want)}; extra: {(got[len(want):] or want[len(got):])[:3]!r}")


def compare_with_references(t, scenario, server_pool, name, key=None, **cfg):
    """Unless `t` (a transcript of `scenario`) is from a Java kind: run `scenario` on each
    reference kind's server (server_pool.get(kind, **cfg); transcripts cached under `key`)
    and fail at the first step where they part ways."""
    if t.kind in JAVA_KINDS:
        return
    for ref_kind in reference_kinds():
        cache_key = (key, ref_kind)
        ref = _reference_cache.get(cache_key) if key is not None else None
        if ref is None:
            ref = run_scenario(scenario, server_pool.get(ref_kind, **cfg), name)
            if key is not None:
                _reference_cache[cache_key] = ref
        got, want = t.compared_with(ref_kind), ref.compared_with(ref_kind)
        if got != want:
            pytest.fail(_first_difference(t.kind, got, ref_kind, want), pytrace=False)


@pytest.fixture
def diff(server, server_pool):
    """diff(scenario): run on `server`; on ferrokeeper also compare with the transcript of
    each reference kind (reference_kinds(); a Java kind's own run is cached for that). Then
    check the scenario's known-good values."""

    def run(scenario):
        key = f"{scenario.__module__}.{scenario.__qualname__}"
        t = run_scenario(scenario, server, scenario.__name__)
        if server.kind in JAVA_KINDS:
            _reference_cache.setdefault((key, server.kind), t)
        compare_with_references(t, scenario, server_pool, scenario.__name__, key=key)
        assert not t.failures, "known-good values not met:\n" + "\n".join(t.failures)
        return t

    return run
