"""Helpers for the storage interop tests (test_store_interop.py).

Starts Apache ZooKeeper 3.8 (Debian jars) and ferrokeeper as standalone servers on a
*given* dataDir, so one dataDir can be handed from one implementation to the other; reads
a whole tree (data incl. null-vs-empty, every Stat field, ACLs) through the raw client;
runs the mixed workload; parses txn logs to find entry boundaries; runs Java's
TxnLogToolkit / SnapshotFormatter and tells where their output and ferrokeeper's differ;
Lab, the servers and dataDirs of one test (the store tests' `lab` fixtures).

Every server is started here on a free 127.0.0.1 port and is only ever signalled by the
PID of the process started here. Every wait is bounded.
"""

import logging
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time

import zkraw
from harness import end_process, ferro_binary, file_text
from zkraw import ACL, Flags, Op, Perm

HOST = "127.0.0.1"
JAVA = shutil.which("java") or "/usr/bin/java"
JARS = "/usr/share/java"
SERVER_CP = ":".join(f"{JARS}/{j}" for j in ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-simple.jar"))
TOOLS_CP = ":".join(f"{JARS}/{j}" for j in ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-nop.jar"))

SUPER_AUTH = b"super:test"
# base64(sha1("super:test"))
SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
SESSION_TIMEOUT_MS = 30000

logging.getLogger("kazoo").setLevel(logging.CRITICAL)


class StartFailed(Exception):
    def __init__(self, msg, returncode=None, log=""):
        super().__init__(msg)
        self.returncode = returncode
        self.log = log


class Server:
    """One standalone server process on `data_dir` (kind "zk" or "ferro")."""

    def __init__(self, kind, data_dir, extra_cfg=None):
        assert kind in ("zk", "ferro")
        self.kind = kind
        self.data_dir = data_dir
        self.dir = tempfile.mkdtemp(prefix=f"store-{kind}-")
        self.port = zkraw.free_port(HOST)
        self.cfg = {
            "tickTime": "2000",
            "initLimit": "5",
            "syncLimit": "2",
            "dataDir": data_dir,
            "clientPort": str(self.port),
            "clientPortAddress": HOST,
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "*",
            "extendedTypesEnabled": "true",
            "maxClientCnxns": "0",
            "DigestAuthenticationProvider.superDigest": SUPER_DIGEST,
        }
        self.cfg.update(extra_cfg or {})
        self.cfg_path = os.path.join(self.dir, "zoo.cfg")
        with open(self.cfg_path, "w") as f:
            for k, v in self.cfg.items():
                f.write(f"{k}={v}\n")
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = None

    @property
    def hostport(self):
        return f"{HOST}:{self.port}"

    def command(self):
        if self.kind == "zk":
            return [JAVA, "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                    "-cp", SERVER_CP, "org.apache.zookeeper.server.ZooKeeperServerMain", self.cfg_path]
        return [ferro_binary(), self.cfg_path]

    def start(self, timeout=60.0):
        env = dict(os.environ)
        env.setdefault("FERROKEEPER_LOG", "info")
        env["TZ"] = "UTC"
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(self.command(), stdout=logf, stderr=subprocess.STDOUT,
                                         cwd=self.dir, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise StartFailed(f"{self.kind} exited with {rc} during startup", rc, self.log())
            if self._can_read():
                return self
            time.sleep(0.1)
        self.kill()
        raise StartFailed(f"{self.kind} not serving on {self.hostport} after {timeout}s", None, self.log())

    def _can_read(self):
        """A kazoo session that can read "/" (closed again right away)."""
        from kazoo.client import KazooClient
        zk = KazooClient(hosts=self.hostport, timeout=5, connection_retry={"max_tries": 0},
                         command_retry={"max_tries": 0})
        try:
            zk.start(timeout=3)
            zk.get("/")
            return True
        except Exception:
            return False
        finally:
            try:
                zk.stop()
                zk.close()
            except Exception:
                pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Clean stop: SIGTERM, SIGKILL after 15 s."""
        if self.proc is None:
            return
        end_process(self.proc, signal.SIGTERM, 15)
        self.proc = None

    def kill(self):
        """kill -9 our own child."""
        if self.proc is None:
            return
        end_process(self.proc, signal.SIGKILL, 10)
        self.proc = None

    def log(self):
        return file_text(self.log_path) or ""

    def cleanup(self):
        self.kill()
        zkraw.release_port(self.port)
        shutil.rmtree(self.dir, ignore_errors=True)

    def raw(self, **kw):
        c = zkraw.connect(HOST, self.port, timeout_ms=SESSION_TIMEOUT_MS, **kw)
        return c

    def admin(self):
        """A raw session authenticated as super (reads everything)."""
        c = self.raw()
        r = c.auth("digest", SUPER_AUTH)
        assert r.err == 0, r
        return c


class Lab:
    """The servers and dataDirs of one test (the store tests' `lab` fixtures): close()
    kills every server added and removes every directory."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.servers, self.dirs = [], []

    def data_dir(self):
        """A fresh empty dataDir (removed by close())."""
        d = tempfile.mkdtemp(prefix=self.prefix)
        self.dirs.append(d)
        return d

    def add(self, server):
        """Track a Server (cleaned up by close()); returns it."""
        self.servers.append(server)
        return server

    def start_or_fail(self, server):
        """server.start(); a StartFailed fails the test with its message and log tail."""
        import pytest
        try:
            return server.start()
        except StartFailed as e:
            pytest.fail(f"{e}\n--- log tail ---\n{e.log[-4000:]}", pytrace=False)

    def close(self):
        """Clean up every server added (kill, release its port) and remove every dataDir."""
        for s in self.servers:
            s.cleanup()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


def run_java_server_until_ready(data_dir, extra_cfg=None):
    return Server("zk", data_dir, extra_cfg).start()


# --- reading a whole tree ------------------------------------------------------------

def read_tree(srv, skip=("/zookeeper/config",)):
    """{path: (data, Stat, ACL list)} for every node, via a super session.

    data keeps None (null) apart from b"" (empty). /zookeeper/config is skipped: its
    content is each server's own dynamic config.
    """
    c = srv.admin()
    out = {}
    try:
        stack = ["/"]
        while stack:
            p = stack.pop()
            r = c.get_data(p)
            if r.err == zkraw.Err.NONODE:
                continue  # raced with a delete (e.g. container reaping)
            assert r.err == 0, (p, r)
            data, stat = r.value if r.value is not None else (None, None)
            a = c.get_acl(p)
            assert a.err == 0, (p, a)
            acl = a.value[0]
            if p not in skip:
                out[p] = (data, stat, acl)
            ch = c.get_children(p)
            assert ch.err == 0, (p, ch)
            for name in ch.value or []:
                stack.append(("" if p == "/" else p) + "/" + name)
    finally:
        c.close()
    return out


def diff_trees(before, after):
    """Human-readable differences (empty list when equal)."""
    out = []
    for p in sorted(set(before) | set(after)):
        if p not in after:
            out.append(f"{p}: missing after restart")
        elif p not in before:
            out.append(f"{p}: appeared after restart")
        else:
            b, a = before[p], after[p]
            for name, x, y in (("data", b[0], a[0]), ("acl", b[2], a[2])):
                if x != y:
                    out.append(f"{p}: {name} {x!r} != {y!r}")
            if b[1] != a[1]:
                fields = [f"{f}: {getattr(b[1], f)!r} != {getattr(a[1], f)!r}"
                          for f in b[1]._fields if getattr(b[1], f) != getattr(a[1], f)]
                out.append(f"{p}: stat {', '.join(fields)}")
    return out


# --- the workload --------------------------------------------------------------------

def digest_id(user, password):
    import base64
    import hashlib
    d = base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()
    return f"{user}:{d}"


ALICE = ACL(Perm.ALL, "digest", digest_id("alice", "secret"))
BOB_READ = ACL(Perm.READ, "digest", digest_id("bob", "pw"))
WORLD_READ = ACL(Perm.READ, "world", "anyone")
OPEN = zkraw.OPEN_ACL_UNSAFE


def ok(r, *allowed):
    assert r.err in ((0,) + allowed), r
    return r


def workload(srv, live_session=True):
    """Mixed writes through kazoo and the raw client. Returns a dict with the still-live
    raw session (`live`: ZkRaw, its ephemerals under /ws/live) when `live_session`."""
    from kazoo.client import KazooClient
    from kazoo.security import make_digest_acl

    zk = KazooClient(hosts=srv.hostport, timeout=30)
    zk.start(timeout=15)
    try:
        zk.add_auth("digest", "alice:secret")
        zk.create("/ws", b"root of the workload")
        zk.create("/ws/a/b/c/d", b"deep", makepath=True)
        zk.create("/ws/bin", bytes(range(256)))
        zk.create("/ws/empty", b"")
        zk.create("/ws/utf8", "zoé ✓ 𝄞".encode())
        for i in range(5):
            zk.create("/ws/seq/p-", str(i).encode(), sequence=True, makepath=True)
        zk.delete("/ws/seq/p-0000000001")
        acl = [make_digest_acl("alice", "secret", all=True), make_digest_acl("bob", "pw", read=True)]
        zk.create("/ws/secret", b"alice only", acl=acl)
        zk.create("/ws/secret/child", b"c", acl=acl)
        for i in range(3):
            zk.set("/ws/a", f"v{i}".encode(), version=i)
        zk.set_acls("/ws/a/b", [make_digest_acl("alice", "secret", all=True)], version=0)
        zk.set_acls("/ws/a/b", [make_digest_acl("alice", "secret", all=True), make_digest_acl("bob", "pw", read=True)], version=1)
        zk.create("/ws/gone", b"x")
        zk.create("/ws/gone/kid", b"y")
        zk.delete("/ws/gone", recursive=True)
        for i in range(20):
            zk.create(f"/ws/many/n{i:03d}", b"m" * i, makepath=True)
        for i in range(0, 20, 3):
            zk.delete(f"/ws/many/n{i:03d}")
        t = zk.transaction()
        t.create("/ws/multi", b"from multi")
        t.create("/ws/multi/x", b"")
        t.set_data("/ws/a/b/c", b"multi-set")
        t.delete("/ws/a/b/c/d")
        t.check("/ws/bin", 0)
        res = t.commit()
        assert not any(isinstance(x, Exception) for x in res), res
        # A failed multi consumes a zxid (error txn) and changes nothing.
        t = zk.transaction()
        t.create("/ws/never", b"")
        t.check("/ws/bin", 42)
        res = t.commit()
        assert any(isinstance(x, Exception) for x in res), res
        # An ephemeral of a session closed cleanly: gone by closeSession.
        zk2 = KazooClient(hosts=srv.hostport, timeout=30)
        zk2.start(timeout=15)
        zk2.create("/ws/closed-eph", b"bye", ephemeral=True)
        zk2.stop()
        zk2.close()
    finally:
        zk.stop()
        zk.close()

    c = srv.raw()
    try:
        ok(c.auth("digest", b"alice:secret"))
        ok(c.create("/ws/null", None))                         # null data
        ok(c.create("/ws/nullseq-", None, flags=Flags.PERSISTENT_SEQUENTIAL))
        ok(c.create_container("/ws/cont", b"container"))
        ok(c.create("/ws/cont/kid", b"keeps it alive"))
        ok(c.create_container("/ws/cont-unused", b""))        # never had a child: not reaped
        ok(c.create_ttl("/ws/ttl", b"lives an hour", ttl=3600_000))
        ok(c.create_ttl("/ws/ttlseq-", b"", ttl=3600_000, flags=Flags.PERSISTENT_SEQUENTIAL_WITH_TTL))
        ok(c.create("/ws/worldread", b"ro", acl=[WORLD_READ, ALICE]))
        ok(c.create("/ws/creator", b"auth acl", acl=zkraw.CREATOR_ALL_ACL))
        ok(c.set_data("/ws/null", None, 0))
        ok(c.set_data("/ws/empty", None))                      # empty -> null
        ok(c.set_acl("/ws/worldread", [WORLD_READ, ALICE, BOB_READ], 0))
        ok(c.multi([(Op.CREATE, zkraw.enc_create("/ws/m2", None, OPEN, 0)),
                    (Op.CREATE2, zkraw.enc_create("/ws/m2/s-", b"seq", OPEN, Flags.PERSISTENT_SEQUENTIAL)),
                    (Op.SET_DATA, zkraw.enc_set_data("/ws/m2", b"now set", 0)),
                    (Op.DELETE, zkraw.enc_delete("/ws/many/n001", 0))]))
    finally:
        c.close()

    result = {}
    if live_session:
        live = srv.raw()
        ok(live.create("/ws/live", b"", flags=Flags.PERSISTENT))
        ok(live.create("/ws/live/eph", b"ephemeral data", flags=Flags.EPHEMERAL))
        ok(live.create("/ws/live/eseq-", b"eseq", flags=Flags.EPHEMERAL_SEQUENTIAL))
        ok(live.create("/ws/live/enull", None, flags=Flags.EPHEMERAL))
        result["live"] = live
    return result


def reattach(srv, old):
    """Reconnect `old` (a ZkRaw whose server went away) to `srv` with its session id and
    password. Returns the new ZkRaw; asserts the session was kept."""
    c = zkraw.ZkRaw(HOST, srv.port)
    resp = c.handshake(timeout_ms=SESSION_TIMEOUT_MS, session_id=old.session_id, passwd=old.passwd,
                       last_zxid=old.last_zxid)
    assert resp.timeOut > 0 and resp.sessionId == old.session_id, resp
    return c


# --- txn log files -------------------------------------------------------------------

def log_entries(path):
    """[(offset, length_of_whole_entry, zxid, txn_type)] of the complete entries."""
    with open(path, "rb") as f:
        b = f.read()
    out = []
    off = 16
    while off + 12 <= len(b):
        (n,) = struct.unpack(">i", b[off + 8:off + 12])
        if n <= 0 or off + 12 + n + 1 > len(b) or b[off + 12 + n] != 0x42:
            break
        txn = b[off + 12:off + 12 + n]
        zxid = struct.unpack(">q", txn[12:20])[0]
        typ = struct.unpack(">i", txn[28:32])[0]
        out.append((off, 12 + n + 1, zxid, typ))
        off += 12 + n + 1
    return out


def files(data_dir, prefix):
    v = os.path.join(data_dir, "version-2")
    if not os.path.isdir(v):
        return []
    out = []
    for name in os.listdir(v):
        parts = name.split(".")
        if parts[0] == prefix and len(parts) >= 2:
            try:
                out.append((int(parts[1], 16), os.path.join(v, name)))
            except ValueError:
                pass
    return [p for _, p in sorted(out)]


# --- Java's offline tools ------------------------------------------------------------

def java_tool(cls, *args, timeout=60):
    env = dict(os.environ, TZ="UTC")
    p = subprocess.run([JAVA, "-XX:TieredStopAtLevel=1", "-cp", TOOLS_CP, cls, *args],
                       capture_output=True, env=env, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def java_txnlog_dump(path):
    return java_tool("org.apache.zookeeper.server.persistence.TxnLogToolkit", path)


def java_snapshot_dump(path, data=False):
    return java_tool("org.apache.zookeeper.server.SnapshotFormatter", *(["-d"] if data else []), path)


def ferro_tool(*args, timeout=60):
    p = subprocess.run([ferro_binary(), *args], capture_output=True, timeout=timeout,
                       env=dict(os.environ, TZ="UTC"))
    return p.returncode, p.stdout, p.stderr


def first_difference(name, java, ferro, ferro_err):
    """Where the output of Java's tool and ferrokeeper's for the file `name` first differ
    (the first unequal line, else the line counts and ferrokeeper's stderr)."""
    jl, fl = java.split(b"\n"), ferro.split(b"\n")
    for i, (a, b) in enumerate(zip(jl, fl)):
        if a != b:
            return f"{name} line {i + 1}:\n  java:  {a[:300]!r}\n  ferro: {b[:300]!r}"
    return f"{name}: java {len(jl)} lines, ferro {len(fl)} lines; ferro stderr {ferro_err[:300]!r}"
