"""zkCli 3.9 (ZooKeeper 3.9.5's ZooKeeperMain) against zk (3.8.0), zk39 (3.9.5) and ferro.

The 3.9 commands a 3.8 zkCli lacks or that changed: `addWatch -m PERSISTENT_RECURSIVE`
(events for changes anywhere below, from this and from another client), `whoami` (before
and after `addauth`), `getAllChildrenNumber`, `getEphemerals` (with and without a path),
`ls -R`, `stat` (of a plain and of an ephemeral node), `sync`, and their error messages;
then 3.9's other options (`setAcl -R`, `get -b/-x`, `removewatches`, `deleteall -b`, ...).

Each kind's output is checked against known-good lines, and ferrokeeper's output is also
compared with each reference kind's for the same script (conftest.reference_kinds: the
Java kinds in COMPAT_SERVERS, else 3.9.5), after normalization (zxids -> Z1, Z2 ... in
order of first appearance, hex in a Stat and decimal in an event alike; session ids ->
S1...; times -> T; the unique root -> <r>); with 3.8.0 the events' zxids are left out (it
sends -1, 3.9 the txn's zxid).

The JVM runs ZooKeeperMain with commands on stdin (no jline on the class path: 3.9's
zkCli then reads plain lines and prints no prompt). Its class path is the 3.9.5 jars of
target/zk-3.9.5/lib (scripts/install-deps.sh) plus commons-cli, which ZooKeeper's pom has
as "provided" (its binary distribution ships commons-cli 1.5.0 in lib/): Debian's 1.5.0
jar (libcommons-cli-java, which the `zookeeper` package pulls in via libzookeeper-java). Watch events are
printed by the client's event thread, concurrently with the commands' output: they are
compared as their own list, and only those printed before the script's last `sync`
(whose callback runs on that event thread after every earlier event).
"""

import os
import re
import subprocess
import threading
import time

import pytest

import conftest
from harness import ZK39_LIB

CLASSPATH = os.path.join(ZK39_LIB, "*") + ":/usr/share/java/commons-cli.jar"
KINDS = conftest.selected_kinds()

EVENT = re.compile(r"^WatchedEvent state:(\S+) type:(\S+) path:(\S+) zxid: (-?\d+)$")
DROP = re.compile(r"^(WATCHER::|Welcome to ZooKeeper!|JLine support is disabled|Connecting to \S+)?$|SLF4J")


def cli_command(server):
    missing = [p for p in (os.path.join(ZK39_LIB, ".complete"), "/usr/share/java/commons-cli.jar")
               if not os.path.exists(p)]
    if missing:
        pytest.fail(f"zkCli 3.9 needs {missing} (bash scripts/install-deps.sh)", pytrace=False)
    return ["java", "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp", CLASSPATH, "org.apache.zookeeper.ZooKeeperMain", "-server", server.hostport]


def zkcli39(server, commands, timeout=90):
    """Run the commands (then quit) in one zkCli 3.9 session; its stdout+stderr lines."""
    script = "\n".join(commands) + "\nquit\n"
    p = subprocess.run(cli_command(server), input=script, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    return p.stdout.splitlines()


class Normalizer:
    def __init__(self, root):
        self.root = root
        self.zxids = {}
        self.sessions = {}

    def zxid(self, z):
        if z in (0, -1):
            return str(z)
        return self.zxids.setdefault(z, f"Z{len(self.zxids) + 1}")

    def session(self, s):
        if s == 0:
            return "0x0"
        return self.sessions.setdefault(s, f"S{len(self.sessions) + 1}")

    def line(self, line):
        line = line.replace(self.root, "<r>")
        k, sep, v = line.partition(" = ")
        if sep:
            if k in ("cZxid", "mZxid", "pZxid"):
                return f"{k} = {self.zxid(int(v, 16))}"
            if k in ("ctime", "mtime"):
                return f"{k} = T"
            if k == "ephemeralOwner":
                return f"{k} = {self.session(int(v, 16))}"
        if line.startswith("[<r>/") and line.endswith("]"):
            # getEphemerals lists in the server's (hash) order
            return "[" + ", ".join(sorted(line[1:-1].split(", "))) + "]"
        m = EVENT.match(line)
        if m:
            return f"event {m.group(1)} {m.group(2)} {m.group(3)} {self.zxid(int(m.group(4)))}"
        return line


def split_output(lines, root):
    """(command output lines, event lines), normalized; only what was printed up to the
    last "Sync is OK" (later events race with the JVM's exit)."""
    last = max((i for i, ln in enumerate(lines) if ln == "Sync is OK"), default=len(lines) - 1)
    norm = Normalizer(root)
    out, events = [], []
    for ln in lines[:last + 1]:
        if DROP.search(ln):
            continue
        n = norm.line(ln)
        (events if n.startswith("event ") else out).append(n)
    return out, events


@pytest.fixture(scope="module", params=KINDS, ids=KINDS)
def srv(request, server_pool):
    return server_pool.get(request.param)


_reference = {}


def compare_with_references(server_pool, name, run, got):
    """ferrokeeper's normalized (output, events) `got` against each reference kind's run of
    the same scenario (`run(server, root)`, once per worker): the Java kinds in
    COMPAT_SERVERS, 3.9.5 when it names none (conftest.reference_kinds). With 3.8.0 the
    events are compared without their zxids (3.8.0 sends -1)."""
    for kind in conftest.reference_kinds():
        key = (name, kind)
        if key not in _reference:
            ref_root = f"/cli39ref_{name}_{time.time_ns() % 10**9}"
            _reference[key] = run(server_pool.get(kind), ref_root)
        want = _reference[key]
        if kind == "zk":
            got_c, want_c = (got[0], without_zxid(got[1])), (want[0], without_zxid(want[1]))
        else:
            got_c, want_c = got, want
        for g, w in zip(got_c, want_c):
            assert g == w, "\n".join(_first_diff(g, w, kind))


def script_run(script_of):
    return lambda server, root: split_output(zkcli39(server, script_of(root)), root)


def commands_script(r):
    return [
        f"create {r} d", f"create {r}/a 1", f"create {r}/a/b 2", f"create -e {r}/a/e x", f"create {r}/c",
        f"create {r}/c/zz", f"create {r}/c/aa", f"create {r}/c/mm", f"create -e {r}/e2",
        f"ls -R {r}", f"ls -R {r}/nope",
        f"stat {r}", f"stat {r}/a/e", f"stat {r}/nope",
        f"getAllChildrenNumber {r}", f"getAllChildrenNumber {r}/c", f"getAllChildrenNumber {r}/nope",
        f"getEphemerals {r}", f"getEphemerals {r}/c", f"getEphemerals {r}/a",
        "whoami", "addauth digest u:p", "whoami",
        f"sync {r}", f"sync {r}/nope",
        f"addWatch -m PERSISTENT_RECURSIVE {r}",
        f"set {r}/a/b 3", f"create {r}/a/b/c", f"delete {r}/a/b/c", f"set {r} d2",
        f"addWatch -m PERSISTENT {r}/c", f"create {r}/c/new", f"set {r}/c x",
        f"addWatch -m BOGUS {r}",
        f"sync {r}",
    ]


EXPECTED_OUT = [
    "Created <r>", "Created <r>/a", "Created <r>/a/b", "Created <r>/a/e", "Created <r>/c", "Created <r>/c/zz",
    "Created <r>/c/aa", "Created <r>/c/mm", "Created <r>/e2",
    # ls -R: breadth first, each node's children sorted
    "<r>", "<r>/a", "<r>/c", "<r>/e2", "<r>/a/b", "<r>/a/e", "<r>/c/aa", "<r>/c/mm", "<r>/c/zz",
    "Node does not exist: <r>/nope",
    # stat <r>: pZxid is the zxid of its last child's creation (e2)
    "cZxid = Z1", "ctime = T", "mZxid = Z1", "mtime = T", "pZxid = Z2", "cversion = 3", "dataVersion = 0",
    "aclVersion = 0", "ephemeralOwner = 0x0", "dataLength = 1", "numChildren = 3",
    # stat <r>/a/e: ephemeral, owned by this session
    "cZxid = Z3", "ctime = T", "mZxid = Z3", "mtime = T", "pZxid = Z3", "cversion = 0", "dataVersion = 0",
    "aclVersion = 0", "ephemeralOwner = S1", "dataLength = 1", "numChildren = 0",
    "Node does not exist: <r>/nope",
    # getAllChildrenNumber: every descendant
    "8", "3", "Node does not exist: <r>/nope",
    # getEphemerals: this session's ephemerals whose path starts with the prefix (sorted here)
    "[<r>/a/e, <r>/e2]", "[]", "[<r>/a/e]",
    "Auth scheme: User", "ip: 127.0.0.1",
    "Auth scheme: User", "ip: 127.0.0.1", "digest: u",
    # sync of a missing path is OK too
    "Sync is OK", "Sync is OK",
    "Created <r>/a/b/c", "Created <r>/c/new",
    "addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is "
    "PERSISTENT_RECURSIVE",
    "Sync is OK",
]

EXPECTED_EVENTS = [
    "SyncConnected None null",
    # the recursive watch on <r>
    "SyncConnected NodeDataChanged <r>/a/b", "SyncConnected NodeCreated <r>/a/b/c",
    "SyncConnected NodeDeleted <r>/a/b/c", "SyncConnected NodeDataChanged <r>",
    "SyncConnected NodeCreated <r>/c/new",
    # the persistent one on <r>/c (same txn as the previous event)
    "SyncConnected NodeChildrenChanged <r>/c",
    # both watches, one watcher (zkCli's default): one event
    "SyncConnected NodeDataChanged <r>/c",
]


def without_zxid(events):
    return [" ".join(e.split()[1:4]) for e in events]


def test_zkcli39_commands(srv, server_pool, root):
    out, events = split_output(zkcli39(srv, commands_script(root)), root)
    text = "\n".join(out + ["--- events"] + events)
    assert out == EXPECTED_OUT, text
    assert without_zxid(events) == EXPECTED_EVENTS, text
    if srv.kind == "ferro":
        # the same script on the reference(s): with 3.9.5 the zxids of the events too, and
        # their equalities with the Stats' zxids
        compare_with_references(server_pool, "commands", script_run(commands_script), (out, events))
    elif srv.kind == "zk39":
        assert [e.split()[-1] for e in events] == ["-1", "Z4", "Z5", "Z6", "Z7", "Z8", "Z8", "Z9"], text


def more_script(r):
    return [
        f"create {r} d", f"create -s -e {r}/s- x", f"create {r}/p 1", f"create {r}/p/q 2", f"create {r}/p/q/z 3",
        f"get -s {r}/p", f"get -b {r}/p", f"get -x {r}/p",
        f"setAcl -R {r}/p world:anyone:rw", f"getAcl {r}/p/q/z", f"getAcl -s {r}/p/q",
        f"delete {r}/p/q/z", f"setAcl -v 0 {r}/p world:anyone:cdrwa", f"setAcl -v 1 {r}/p world:anyone:cdrwa",
        f"getAcl -s {r}/p",
        f"get -w {r}/p", f"set -s {r}/p 5", f"set {r}/p 6 -v 1", f"set {r}/p 6 -v 9",
        f"ls -s {r}", f"ls -w {r}", f"create {r}/new",
        f"stat -w {r}/p/q", f"set {r}/p/q qq",
        f"ls -w {r}", f"removewatches {r} -c", f"create {r}/new2", f"removewatches {r} -d",
        "config",
        f"deleteall {r}/p -b 2", f"ls -R {r}", f"delete {r}", f"deleteall {r}",
        f"ls {r}", f"sync {r}",
    ]


def test_zkcli39_more_commands(srv, server_pool, root):
    """3.9's other new options: setAcl -R, getAcl -s, get -b/-x, set -s, stat -w, ls -s/-w,
    removewatches (client-made ChildWatchRemoved; "No such watcher" for a watch that is not
    there), config on a standalone server (prints nothing), deleteall -b (batched multis)
    stopped by a node it may not delete."""
    out, events = split_output(zkcli39(srv, more_script(root)), root)
    text = "\n".join(out + ["--- events"] + events)
    for line in ("Created <r>/s-0000000000", "MQ==", "|00000000| 31                                              |1               |",
                 "version No is not valid : <r>/p", "KeeperErrorCode = No such watcher for <r>",
                 "Node not empty: <r>", "[new, new2, p, s-0000000000]"):
        assert line in out, text
    # setAcl -R reached the grandchild; the rw ACL lacks DELETE (on the parent) and ADMIN
    assert out.count("'world,'anyone") == 3 and out.count(": rw") == 3, text
    assert out.count("Insufficient permission : <r>/p/q/z") == 1, text
    assert out.count("Insufficient permission : <r>/p") == 2, text
    assert out.count("Failed to delete some node(s) in the subtree!") == 2, text
    assert "aclVersion = 1" in out, text
    assert without_zxid(events) == [
        "SyncConnected None null", "SyncConnected NodeDataChanged <r>/p", "SyncConnected NodeChildrenChanged <r>",
        "SyncConnected NodeDataChanged <r>/p/q", "SyncConnected ChildWatchRemoved <r>"], text
    if srv.kind == "ferro":
        compare_with_references(server_pool, "more", script_run(more_script), (out, events))


def whoami_script(r):
    return ["whoami", "addauth digest alice:x", "whoami", "addauth digest super:test", "whoami", f"sync {r}"]


def test_zkcli39_whoami_order(srv, server_pool, root):
    """whoami prints the server's list in the server's order: Java's is the iteration order
    of the connection's ConcurrentHashMap-backed Set<Id> (Id.hashCode over scheme and id, a
    digest id being 'user:base64(sha1)'), which ferrokeeper reproduces."""
    out, events = split_output(zkcli39(srv, whoami_script(root)), root)
    assert out == [
        "Auth scheme: User", "ip: 127.0.0.1",
        "Auth scheme: User", "digest: alice", "ip: 127.0.0.1",
        # the super digest (zoo.cfg) adds the id super:"" too
        "Auth scheme: User", "digest: alice", "super: ", "ip: 127.0.0.1", "digest: super",
        "Sync is OK"], "\n".join(out)
    if srv.kind == "ferro":
        compare_with_references(server_pool, "whoami", script_run(whoami_script), (out, events))


def _first_diff(got, want, ref_kind):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return [f"first difference at line {i}:", f"  ferro: {g!r}", f"  {ref_kind}: {w!r}",
                    "ferro:", *got, f"{ref_kind}:", *want]
    return [f"lengths differ: ferro {len(got)}, {ref_kind} {len(want)}", "ferro:", *got, f"{ref_kind}:", *want]


class Interactive:
    """A zkCli 3.9 process fed one command at a time; its output lines collected by a thread."""

    def __init__(self, server):
        self.proc = subprocess.Popen(cli_command(server), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def wait_count(self, line, n, timeout=30):
        return conftest.wait_until(lambda: self.lines.count(line) >= n, timeout)

    def close(self):
        try:
            self.send("quit")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)


def watch_other_client(server, r):
    """zkCli sets a recursive watch on r; another client (raw protocol) changes the tree
    below it; zkCli prints each event. Returns the normalized event lines."""
    c = server.raw()
    cli = Interactive(server)
    try:
        c.create(r, b"0")
        cli.send(f"addWatch -m PERSISTENT_RECURSIVE {r}")
        cli.send(f"sync {r}")  # the watch is set once this is answered
        assert cli.wait_count("Sync is OK", 1), "\n".join(cli.lines)
        for step in (lambda: c.create(f"{r}/x", b"1"), lambda: c.create(f"{r}/x/y", b"2"),
                     lambda: c.set_data(f"{r}/x/y", b"3"), lambda: c.delete(f"{r}/x/y"),
                     lambda: c.set_data(r, b"4")):
            assert step().err == 0
        cli.send(f"sync {r}")
        assert cli.wait_count("Sync is OK", 2), "\n".join(cli.lines)
        return split_output(list(cli.lines), r)[1]
    finally:
        cli.close()
        c.close()


def test_zkcli39_addwatch_from_other_client(srv, server_pool, root):
    events = watch_other_client(srv, root)
    got = without_zxid(events)
    assert got == ["SyncConnected None null", "SyncConnected NodeCreated <r>/x", "SyncConnected NodeCreated <r>/x/y",
                   "SyncConnected NodeDataChanged <r>/x/y", "SyncConnected NodeDeleted <r>/x/y",
                   "SyncConnected NodeDataChanged <r>"], "\n".join(events)
    if srv.kind == "ferro":
        compare_with_references(server_pool, "watch_other", lambda server, r: ([], watch_other_client(server, r)),
                                ([], events))
