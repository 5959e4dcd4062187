"""Start an N-member ZooKeeper ensemble on 127.0.0.1 whose members are Apache ZooKeeper
3.8 (kind "zk", Debian's), Apache ZooKeeper 3.9.5 (kind "zk39", the Maven Central jars
scripts/install-deps.sh puts in target/zk-3.9.5/lib) or ferrokeeper (kind "ferro"), and
break it in controlled ways.

    ens = Ensemble(["zk", "zk", "ferro"], observers=["zk"], tick_ms=500)
    ens.start()                      # all members; waits until each serves
    ens.leader()                     # the one member that says "Mode: leader"
    ens.modes()                      # {1: "follower", 2: "leader", 3: "follower", 4: "observer"}
    ens.kill9(m); ens.start(m)       # crash and restart on the same dataDir/myid/ports
    ens.replace(m, "ferro")          # stop, start another kind on the same dataDir
    ens.isolate(m); ens.heal()       # partitions, through the proxies (netproxy.py)
    ens.connect_string()             # "127.0.0.1:p1,127.0.0.1:p2,..."
    ens.close()                      # kills what it started (by PID), removes its directory

kill9_leader_under_load(ens, rec, leader): kill -9 of the leader and its restart while a
lin_history recorder runs (events in its history, progress checked after each step).

Or the pytest fixture `ensemble_factory` (import it into a test module), which closes
every ensemble after the test and keeps its directory (configs, dataDirs, logs) when the
test failed (or ENSEMBLE_KEEP=1); the path is printed at setup, which pytest shows with
a failure.

Members are numbered 1..N (voters first, then observers); a member is a Member or its
id wherever a helper takes one. Each has its own directory m<id>/ with zoo.cfg,
data/myid and server.log (stdout and stderr of every start, appended, with a banner).

zoo.cfg is what Java's QuorumPeerConfig reads, the same file for every kind: tickTime
(default 500), initLimit 10, syncLimit 5, dataDir, clientPort + clientPortAddress
127.0.0.1, 4lw.commands.whitelist=*, admin.enableServer=false (admin=True: each member's
AdminServer on 127.0.0.1:member.admin_port; metrics=True: each member's Prometheus
/metrics on 127.0.0.1:member.metrics_port), maxClientCnxns=0,
server.N=127.0.0.1:quorumPort:electionPort[:observer] and peerType=observer on
observers. With proxy=True (the default) every member-to-member connection goes through
netproxy links in this process: in member A's zoo.cfg the line for member B names the
proxy ports of the links A->B, which forward to B's real ports (A's own line has its
real ports, which it binds). Reconfig stays disabled (static config), so members never
compare these per-member server lists.

Processes: started with start_new_session; only those are ever signalled, by PID (also
from an atexit hook if a test run dies without cleanup). Ports come from the suite's
machine-wide reservation (zkraw.free_port). Every wait has a deadline.

Java members (both Java kinds: the same zoo.cfg, flags and logging; only the jars differ)
run QuorumPeerMain with -Dzookeeper.fastleader.maxNotificationInterval (default 2000 ms
instead of 60 s): an isolated member backs off its election notifications exponentially
up to this cap, and it rejoins after a heal only when it next sends one. They log through
slf4j-simple (INFO, to stderr, ms since the JVM started) into server.log; from those
lines sync_mode_seen_by tells how a learner was synced (DIFF, SNAP or TRUNC).

member.extra_cfg = {"sslQuorum": "true"} changes one member's zoo.cfg from its next start
(ens.stop(m); m.extra_cfg[...] = ...; ens.start(m): a rolling change).

sys_props={"readonlymode.enabled": "true"} gives every member, of either kind, the same
JVM system properties: `-Dk=v` on Java's command line and on ferrokeeper's (which reads
Java's -D flags); java_flags go to Java members only.
"""

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import netproxy
import zkraw
from harness import (JAVA, JAVA_CLASSPATHS, JAVA_KINDS, end_process, ferro_binary, file_text,
                     java_missing, log_tail, wait_until)

HOST = "127.0.0.1"
KINDS = ("zk", "zk39", "ferro")
SERVING_MODES = ("leader", "follower", "observer", "standalone")
PROMETHEUS_PROVIDER = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"

# Every process started here, so an interpreter exit without cleanup still kills them.
_live_procs = set()


@atexit.register
def _kill_leftovers():
    for p in list(_live_procs):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
    _live_procs.clear()


class EnsembleError(AssertionError):
    """A member did not do what a helper waited for (message has the log tails)."""


def parse_srvr(text):
    """Mode from a srvr answer: leader/follower/observer/standalone, or None (not serving,
    e.g. "This ZooKeeper instance is not currently serving requests")."""
    for line in text.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


class Member:
    """One ensemble member: its id, kind, ports, directory and current process."""

    def __init__(self, ens, sid, kind, observer):
        if kind not in KINDS:
            raise ValueError(f"member kind {kind!r} not in {KINDS}")
        self.ens = ens
        self.sid = sid
        self.kind = kind
        self.observer = observer
        self.dir = os.path.join(ens.dir, f"m{sid}")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir)
        with open(os.path.join(self.data_dir, "myid"), "w") as f:
            f.write(f"{sid}\n")
        self.cfg_path = os.path.join(self.dir, "zoo.cfg")
        self.log_path = os.path.join(self.dir, "server.log")
        self.client_port = ens._port()
        self.quorum_port = ens._port()
        self.election_port = ens._port()
        # the AdminServer's port, when the ensemble has them (admin=True)
        self.admin_port = ens._port() if ens.admin else None
        # the Prometheus /metrics port, when the ensemble has them (metrics=True)
        self.metrics_port = ens._port() if ens.metrics else None
        self.proc = None
        self.starts = 0
        # zoo.cfg keys of this member only (over the ensemble's extra_cfg; None drops a
        # key), written at its next start
        self.extra_cfg = {}

    @property
    def hostport(self):
        return f"{HOST}:{self.client_port}"

    @property
    def java(self):
        """An Apache ZooKeeper member (either Java kind)."""
        return self.kind in JAVA_KINDS

    def __repr__(self):
        pid = self.proc.pid if self.proc else None
        return f"<member {self.sid} {self.kind}{' observer' if self.observer else ''} :{self.client_port} pid={pid}>"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def fourlw(self, word, timeout=3.0):
        return zkraw.four_letter_word(HOST, self.client_port, word, timeout)

    def srvr(self, timeout=3.0):
        """srvr's answer, or None if the member does not answer (down, not listening)."""
        try:
            return self.fourlw("srvr", timeout)
        except OSError:
            return None

    def mode(self):
        """'down' (no process), None (not serving), or the srvr Mode."""
        if not self.alive():
            return "down"
        text = self.srvr()
        return parse_srvr(text) if text else None

    def log_tail(self, n=30):
        return log_tail(self.log_path, n)

    def command(self):
        if self.java:
            missing = java_missing(self.kind)
            if missing:
                raise EnsembleError(missing)
            return [JAVA, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-Dorg.slf4j.simpleLogger.showDateTime=true",
                    f"-Dzookeeper.fastleader.maxNotificationInterval={self.ens.fle_max_notification_ms}",
                    *self.ens.java_flags,
                    *(f"-D{k}={v}" for k, v in self.ens.sys_props.items()),
                    "-cp", JAVA_CLASSPATHS[self.kind],
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain", self.cfg_path]
        binary = self.ens.ferro_bin or ferro_binary()
        if not os.path.exists(binary):
            raise EnsembleError(f"ferrokeeper binary not found at {binary} "
                                "(cargo build --release, or set FERROKEEPER_BIN)")
        return [binary, *(f"-D{k}={v}" for k, v in self.ens.sys_props.items()), self.cfg_path]

    def write_config(self):
        ens = self.ens
        cfg = {
            "tickTime": ens.tick_ms,
            "initLimit": ens.init_limit,
            "syncLimit": ens.sync_limit,
            "dataDir": self.data_dir,
            "clientPort": self.client_port,
            "clientPortAddress": HOST,
            "4lw.commands.whitelist": "*",
            "admin.enableServer": "false",
            "maxClientCnxns": 0,
        }
        if self.admin_port is not None:
            cfg.update({"admin.enableServer": "true", "admin.serverAddress": HOST,
                        "admin.serverPort": self.admin_port})
        if self.metrics_port is not None:
            cfg.update({"metricsProvider.className": PROMETHEUS_PROVIDER,
                        "metricsProvider.httpHost": HOST,
                        "metricsProvider.httpPort": self.metrics_port})
        if self.observer:
            cfg["peerType"] = "observer"
        cfg.update(ens.extra_cfg)
        cfg.update(self.extra_cfg)
        for m in ens.members:
            if m is self or ens.proxy is None:
                q, e = m.quorum_port, m.election_port
            else:
                q = ens.proxy.port(self.sid, m.sid, "quorum")
                e = ens.proxy.port(self.sid, m.sid, "election")
            cfg[f"server.{m.sid}"] = f"{HOST}:{q}:{e}" + (":observer" if m.observer else "")
        with open(self.cfg_path, "w") as f:
            for k, v in cfg.items():
                if v is not None:
                    f.write(f"{k}={v}\n")


class Ensemble:
    """See the module docstring."""

    def __init__(self, kinds=("zk", "zk", "zk"), observers=(), tick_ms=500, init_limit=10,
                 sync_limit=5, proxy=True, extra_cfg=None, java_flags=(), ferro_bin=None,
                 fle_max_notification_ms=2000, base_dir=None, sys_props=None, admin=False,
                 metrics=False):
        self.dir = tempfile.mkdtemp(prefix="ensemble-", dir=base_dir)
        self.admin = admin
        self.metrics = metrics
        self.tick_ms = tick_ms
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.extra_cfg = dict(extra_cfg or {})
        self.java_flags = list(java_flags)
        self.sys_props = dict(sys_props or {})
        self.ferro_bin = ferro_bin
        self.fle_max_notification_ms = fle_max_notification_ms
        self._ports = []
        self.members = []
        self.proxy = None
        self.closed = False
        try:
            for kind in kinds:
                self.members.append(Member(self, len(self.members) + 1, kind, observer=False))
            for kind in observers:
                self.members.append(Member(self, len(self.members) + 1, kind, observer=True))
            if proxy:
                self.proxy = netproxy.NetProxy()
                # How long a link retries a member that is not listening (see netproxy):
                # well inside the initLimit a learner allows itself to reach its leader.
                retry = min(5.0, max(1.0, 0.6 * tick_ms * init_limit / 1000))
                for a in self.members:
                    for b in self.members:
                        if a is not b:
                            self.proxy.add(a.sid, b.sid, "quorum", b.quorum_port, connect_retry_s=retry)
                            self.proxy.add(a.sid, b.sid, "election", b.election_port, connect_retry_s=retry)
            for m in self.members:
                m.write_config()
        except BaseException:
            self.close()
            raise

    # -- bookkeeping --
    def _port(self):
        p = zkraw.free_port(HOST)
        self._ports.append(p)
        return p

    def member(self, m):
        """A Member from a Member or an id."""
        if isinstance(m, Member):
            return m
        for x in self.members:
            if x.sid == m:
                return x
        raise KeyError(f"no member {m!r}")

    def _sid(self, m):
        return self.member(m).sid

    @property
    def voters(self):
        return [m for m in self.members if not m.observer]

    def __repr__(self):
        return f"<Ensemble {self.dir} {self.members}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(keep=exc[0] is not None)

    def describe(self):
        """Modes and log tails of every member, for failure messages."""
        out = [f"ensemble dir {self.dir}"]
        for m in self.members:
            out.append(f"--- {m!r} mode={m.mode()} log {m.log_path}:\n{m.log_tail(15)}")
        return "\n".join(out)

    # -- processes --
    def start(self, member=None, wait=True, timeout=60.0):
        """Start one member (or, without an argument, every member that is not running),
        on its dataDir/myid/ports; with wait, until it serves (all at once: started
        together, since a quorum is needed before any serves). Returns the member(s)."""
        targets = [self.member(member)] if member is not None else [m for m in self.members if not m.alive()]
        for m in targets:
            if m.alive():
                raise EnsembleError(f"{m!r} is already running")
            m.write_config()
            with open(m.log_path, "ab") as logf:
                m.starts += 1
                logf.write(f"\n===== start {m.starts}: {m.kind} at {time.strftime('%H:%M:%S')} =====\n".encode())
                logf.flush()
                env = dict(os.environ)
                env.setdefault("FERROKEEPER_LOG", "info")
                m.proc = subprocess.Popen(m.command(), stdout=logf, stderr=subprocess.STDOUT, cwd=m.dir,
                                          env=env, start_new_session=True)
            _live_procs.add(m.proc)
        if wait:
            for m in targets:
                self.wait_serving(m, timeout=timeout)
        return targets[0] if member is not None else targets

    def _end(self, m, sig, grace):
        if m.proc is None:
            return
        end_process(m.proc, sig, grace)
        _live_procs.discard(m.proc)
        m.proc = None

    def kill9(self, member):
        """SIGKILL (no shutdown of any kind) and wait for the process to be gone."""
        self._end(self.member(member), signal.SIGKILL, 10)

    def stop(self, member):
        """SIGTERM, SIGKILL after 10 s."""
        self._end(self.member(member), signal.SIGTERM, 10)

    def replace(self, member, kind, wait=True, timeout=60.0):
        """Stop a member and start `kind` (another implementation) on the same
        dataDir, myid and ports."""
        m = self.member(member)
        if kind not in KINDS:
            raise ValueError(f"member kind {kind!r} not in {KINDS}")
        self.stop(m)
        m.kind = kind
        return self.start(m, wait=wait, timeout=timeout)

    def close(self, keep=False):
        """Kill every member this ensemble started, close the proxies, release the ports;
        remove the directory unless keep."""
        if self.closed:
            return
        self.closed = True
        for m in self.members:
            self._end(m, signal.SIGKILL, 10)
        if self.proxy is not None:
            self.proxy.close()
        for p in self._ports:
            zkraw.release_port(p)
        self._ports = []
        if keep:
            sys.stderr.write(f"ensemble: kept {self.dir}\n")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- observing --
    def wait_serving(self, member, timeout=60.0, modes=SERVING_MODES):
        """Wait until srvr shows the member serving in one of `modes`; returns the mode.
        Fails at once if its process exits."""
        m = self.member(member)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not m.alive():
                code = m.proc.returncode if m.proc else None
                raise EnsembleError(f"{m!r} exited ({code}) while waiting for it to serve; "
                                    f"log tail:\n{m.log_tail()}")
            last = m.mode()
            if last in modes:
                return last
            time.sleep(0.2)
        raise EnsembleError(f"{m!r} not serving as {modes} after {timeout}s (last mode {last})\n"
                            + self.describe())

    def modes(self):
        """{id: mode} for every member: 'down', None (not serving) or srvr's Mode."""
        return {m.sid: m.mode() for m in self.members}

    def leader(self, timeout=30.0, exclude=()):
        """The member that serves as leader, once exactly one running member (not in
        exclude) says so; an isolated old leader that still believes it leads counts,
        so after a partition pass it in exclude, or wait for it to step down."""
        excluded = {self._sid(x) for x in exclude}

        def one():
            leaders = [m for m in self.members if m.sid not in excluded and m.alive() and m.mode() == "leader"]
            return leaders[0] if len(leaders) == 1 else None

        found = wait_until(one, timeout, interval=0.2)
        if not found:
            raise EnsembleError(f"no single leader after {timeout}s: {self.modes()}\n" + self.describe())
        return found

    def wait_modes(self, expected, timeout=30.0):
        """Wait until modes() matches expected ({id: mode}, a subset); returns modes()."""
        want = {self._sid(k): v for k, v in expected.items()}
        last = {}

        def ok():
            nonlocal last
            last = {sid: self.member(sid).mode() for sid in want}
            return last == want

        if not wait_until(ok, timeout, interval=0.2):
            raise EnsembleError(f"modes {last} != expected {want} after {timeout}s\n" + self.describe())
        return self.modes()

    def connect_string(self, members=None):
        """host:port list of the given members (default all, observers included)."""
        ms = self.members if members is None else [self.member(m) for m in members]
        return ",".join(m.hostport for m in ms)

    # -- partitions (proxy=True) --
    def _need_proxy(self):
        if self.proxy is None:
            raise EnsembleError("this ensemble was started with proxy=False")
        return self.proxy

    def cut(self, a, b, mode=netproxy.BLACKHOLE):
        """Cut the links between two members (both directions, quorum and election)."""
        self._need_proxy().cut(self._sid(a), self._sid(b), mode)

    def isolate(self, member, mode=netproxy.BLACKHOLE):
        """Cut every link to and from one member."""
        self._need_proxy().isolate(self._sid(member), mode)

    def partition(self, *groups, mode=netproxy.BLACKHOLE):
        """partition([1], [2, 3]): cut every link between members of different groups."""
        self._need_proxy().partition(*[[self._sid(m) for m in g] for g in groups], mode=mode)

    def heal(self):
        """Every link up again."""
        self._need_proxy().heal()


# --- server.log ----------------------------------------------------------------------------

# ferrokeeper's server::digest_mismatch and Java's DataTree.compareDigest/RateLogger lines.
DIGEST_MISMATCH = r"(?i)first digest mismatch|digests are not matching"
# A Java learner that took a SNAP compares at once, though a Java leader writes the body
# while it applies txns (the next txns' digests cannot match until the tree catches up):
# its mismatches are Java's own. ferrokeeper learners wait for the first match instead.
JAVA_SNAP_SYNC = r"Getting a snapshot from leader"
# ZOOKEEPER-4394 in a 3.8.0 learner: a COMMIT between NEWLEADER and UPTODATE (which a
# Java leader sends under load) is a NullPointerException in syncWithLeader; it syncs
# again and its txn log holds those proposals twice, which its next replay applies
# twice (a burst of mismatches, then matching again): Java's own. ferrokeeper leaders
# hold such packets until UPTODATE (test_ensemble_mixed checks they never cause it).
JAVA_38_SYNC_NPE = r'because "pif" is null'
JAVA_OWN_MISMATCHES = f"{JAVA_SNAP_SYNC}|{JAVA_38_SYNC_NPE}"


# Shown beside a member's digest mismatches, as their likely cause: a Java learner's
# failed sync, and the rest of Java's "First digest mismatch" line (the TxnHeader it
# prints ends in a newline, so the txn and both digests follow on the next line).
SYNC_TROUBLE = r"Exception when following|expected digest is|Committing .* but"


def log_text(m):
    """Member m's server.log (every start), or "" when there is none."""
    return file_text(m.log_path) or ""


def log_lines(m, pattern, since=0):
    """Lines of m's server.log (from byte offset `since` of its text) matching pattern."""
    rx = re.compile(pattern)
    return [ln for ln in log_text(m)[since:].splitlines() if rx.search(ln)]


def log_mark(m):
    return len(log_text(m))


def sync_mode_seen_by(learner, leader, since_learner, since_leader):
    """How the learner was synced, from the Java side's log (either Java kind; 3.8 and
    3.9.5 log the same lines): 'DIFF', 'SNAP', 'TRUNC' or None (both ferrokeeper, or
    nothing logged)."""
    if learner.java:
        lines = log_lines(learner, r"Getting a (diff|snapshot) from|Truncating log to get in sync", since_learner)
        if lines:
            ln = lines[-1]
            return "DIFF" if "diff" in ln else "SNAP" if "snapshot" in ln else "TRUNC"
    if leader.java:
        # LearnerHandler.syncFollower logs "Synchronizing with Learner sid: N
        # maxCommittedLog=.. minCommittedLog=.. lastProcessedZxid=.. peerLastZxid=..",
        # then "Sending DIFF ..." or "Sending snapshot ..." at INFO, but a TRUNC only
        # at DEBUG: a sync line followed by neither, with the peer above
        # maxCommittedLog, is a TRUNC.
        lines = log_lines(leader, rf"Synchronizing with Learner sid: {learner.sid} |Sending DIFF zxid=.* peer sid: "
                                  rf"{learner.sid}\b|Sending snapshot|Sending TRUNC", since_leader)
        last_sync = max((i for i, ln in enumerate(lines) if "Synchronizing with Learner" in ln), default=None)
        if last_sync is not None:
            after = lines[last_sync + 1:]
            if any("Sending DIFF" in ln for ln in after):
                return "DIFF"
            if any("Sending snapshot" in ln for ln in after):
                return "SNAP"
            m = re.search(r"maxCommittedLog=0x([0-9a-f]+).*peerLastZxid=0x([0-9a-f]+)", lines[last_sync])
            if m and int(m.group(2), 16) > int(m.group(1), 16):
                return "TRUNC"
    return None


# --- a fault under a lin_history load ----------------------------------------------------

def kill9_leader_under_load(ens, rec, old, new_sid=None, wait_observers=False):
    """kill -9 the leader `old` while rec (a lin_history.Recorder on ens) runs: a new
    leader is elected (member new_sid, if given) and rec's clients make progress; `old`
    is restarted and follows (with wait_observers, every observer serves again too) and
    they make progress again. Each step is an event in rec's history. Returns the new
    leader."""
    rec.event(f"kill -9 leader {old.sid} ({old.kind})")
    killed_at = time.monotonic_ns()
    ens.kill9(old)
    new = ens.leader(timeout=30)
    assert new is not old
    if new_sid is not None and new.sid != new_sid:
        # The survivor with the newest log wins (then the highest sid): under load a
        # proposal can reach one follower and not yet the other when the leader dies, so
        # member new_sid usually, not always, takes over. A voter must, though.
        voters = {m.sid for m in ens.members if not m.observer and m is not old}
        assert new.sid in voters, ens.modes()
        print(f"kill9_leader_under_load: {new!r} took over, not member {new_sid} (newer log)")
    rec.event(f"new leader {new.sid} ({new.kind})")
    assert rec.wait_ops(80, timeout=30, since_ns=killed_at), \
        f"no progress after killing {old!r}: {rec.count_since(killed_at)} definite ops"
    ens.start(old)
    assert ens.wait_serving(old) == "follower"
    if wait_observers:
        for m in ens.members:
            if m.observer:
                assert ens.wait_serving(m) == "observer"
    rec.event(f"{old.sid} restarted")
    assert rec.wait_ops(40, timeout=30, since_ns=time.monotonic_ns())
    return new


# --- pytest fixture ------------------------------------------------------------------------

def _make_fixture():
    import pytest

    @pytest.fixture
    def ensemble_factory(request):
        """ensemble_factory(kinds, **kw) -> a started Ensemble (see Ensemble.__init__ for
        kw; start=False to start it yourself). All are closed after the test; kept on
        disk when the test failed or ENSEMBLE_KEEP=1."""
        made = []
        failed_before = request.session.testsfailed

        def make(kinds=("zk", "zk", "zk"), start=True, start_timeout=90.0, **kw):
            ens = Ensemble(kinds, **kw)
            made.append(ens)
            print(f"ensemble: {ens.dir} members {ens.members}")
            if start:
                ens.start(timeout=start_timeout)
            return ens

        yield make
        # Every member, Java or ferrokeeper, compares its tree with the digest each txn
        # carries: a mismatch logged anywhere means some member diverged, whatever the
        # test itself checked.
        complaints = [f"{m!r}: {line}" for ens in made for m in ens.members
                      if not (m.java and log_lines(m, JAVA_OWN_MISMATCHES))
                      for line in log_lines(m, DIGEST_MISMATCH + "|" + SYNC_TROUBLE)
                      if log_lines(m, DIGEST_MISMATCH)]
        keep = bool(os.environ.get("ENSEMBLE_KEEP")) or bool(complaints) \
            or request.session.testsfailed > failed_before
        for ens in made:
            ens.close(keep=keep)
        if complaints:
            pytest.fail("digest mismatches logged (a member's tree diverged from the history "
                        "it applied):\n" + "\n".join(complaints[:30]), pytrace=False)

    return ensemble_factory


ensemble_factory = _make_fixture()
