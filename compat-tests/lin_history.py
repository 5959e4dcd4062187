"""Record a history of concurrent register operations against a ZooKeeper ensemble and
check it for linearizability with tools/lincheck (porcupine).

    rec = Recorder(ens.connect_string(), root="/lin_x", keys=3, clients=4, seed=1)
    rec.setup()                        # creates root and keys with value "init"
    rec.start(max_ops=400, max_seconds=30)   # client threads run in the background
    ... crash something ...
    rec.wait_ops(100)                  # bounded waits for progress
    rec.stop()                         # joins the threads (bounded), then final reads
    assert_linearizable(rec.write(tmpdir / "history.json"))

or, for the paced load the ensemble tests break things under,
    rec = start_load(ens.connect_string(), "/lin_x", seed=1, max_ops=3000, max_seconds=60)
    ... rec.wait_ops(80) ... crash something ... rec.stop()
    assert_recorded_linearizable(rec, tmpdir / "history.json", "what happened: ")

Each client is its own kazoo session (python3-kazoo, /usr/bin/python3) on the whole
connect string, one operation at a time, chosen at random (seeded) among
  read   sync(key) then get(key), timed from before the sync;
  write  set(key, unique value) without a version;
  cas    a read as above -> (value, version), then set(key, unique value, version):
         recorded as that read plus cas(expected=value, new=...). Values are unique
         (c<client>-<n>), so a value names exactly one version of the znode and the
         checker's value-compare equals ZooKeeper's version-compare. BadVersion is a
         definite "compare failed" (ok false).
(A get without sync is not recorded anywhere: ZooKeeper promises it only sequential
consistency, so it may be stale by design.)
Any other exception (ConnectionLoss, OperationTimeout, SessionExpired, a timeout of
op_timeout on the result, ...) makes the outcome unknown (ok null): the checker lets such
an op take effect at any time after its call, or never. A client that is disconnected
waits (bounded) for kazoo to reconnect before its next op, so outages do not pile up
unknown ops. Every loop is bounded by a count and a deadline.

The JSON format is documented in tools/lincheck/README.md. `meta` carries the seed,
connect string and `events` (label + monotonic_ns, e.g. when a leader was killed) for
people reading a failing history.

plant_stale_read / plant_lost_write doctor a recorded history so that it must fail the
check: the tests use them to prove the checker (and this file's JSON) can fail.
"""

import copy
import json
import os
import random
import shutil
import subprocess
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INITIAL = "init"


def lincheck_binary():
    """target/lincheck (built by scripts/install-deps.sh), or LINCHECK_BIN; built here with
    `go build` if missing and Go is on the machine."""
    env = os.environ.get("LINCHECK_BIN")
    if env:
        return env
    path = os.path.join(REPO, "target", "lincheck")
    if not os.path.exists(path):
        go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
        if go is None:
            raise AssertionError(f"{path} missing and no Go to build it: run scripts/install-deps.sh")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([go, "build", "-o", path, "."], cwd=os.path.join(REPO, "tools", "lincheck"),
                       check=True, timeout=300)
    return path


def run_lincheck(history_path, viz=None, timeout_s=60):
    """Run the checker; returns (exit code, output). 0 linearizable, 1 not, 2 bad input,
    3 checker timed out."""
    cmd = [lincheck_binary(), f"-timeout={timeout_s}s"]
    if viz:
        cmd += ["-viz", str(viz)]
    cmd.append(str(history_path))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout_s + 60)
    return p.returncode, p.stdout.decode("utf-8", "replace").strip()


def assert_linearizable(history_path, viz=True):
    """Fail (with the checker's verdict and where the history and its visualization are)
    unless the history is linearizable."""
    history_path = str(history_path)
    viz_path = os.path.splitext(history_path)[0] + ".html" if viz else None
    code, out = run_lincheck(history_path, viz=viz_path)
    if code != 0:
        where = f"history {history_path}" + (f", visualization {viz_path}" if viz_path else "")
        raise AssertionError(f"lincheck exit {code}: {out}\n({where})")
    return out


class Recorder:
    """N kazoo clients doing random read/write/cas on a few keys; see the module docstring."""

    def __init__(self, hosts, root, keys=3, clients=4, seed=None, op_timeout=5.0,
                 session_timeout=10.0, weights=(("read", 4), ("write", 3), ("cas", 3)),
                 reconnect_wait=15.0, think_s=0.0):
        self.hosts = hosts
        self.root = root.rstrip("/")
        self.keys = [f"{self.root}/k{i}" for i in range(keys)]
        self.nclients = clients
        self.seed = random.randrange(1 << 30) if seed is None else seed
        self.op_timeout = op_timeout
        self.session_timeout = session_timeout
        self.reconnect_wait = reconnect_wait
        self.think_s = think_s
        self.kinds = [k for k, w in weights for _ in range(w)]
        self.ops = []
        self.events = []
        self.errors = []  # unexpected exceptions in client threads (bugs in the recorder)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._clients = []

    # -- clients --
    def _client(self, hosts=None):
        from kazoo.client import KazooClient
        c = KazooClient(hosts=hosts or self.hosts, timeout=self.session_timeout,
                        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0},
                        randomize_hosts=True)
        c.start(timeout=30)
        return c

    def setup(self):
        """Create root and the keys with value "init" (existing ones are overwritten
        with a fresh node: a test's root should be unique)."""
        c = self._client()
        try:
            c.ensure_path(self.root)
            for k in self.keys:
                if c.exists(k):
                    c.delete(k)
                c.create(k, INITIAL.encode())
        finally:
            c.stop()
            c.close()

    def event(self, label):
        """Note something that happened (a kill, a partition) in the history's meta."""
        with self.lock:
            self.events.append({"label": label, "ns": time.monotonic_ns()})

    def _record(self, **op):
        with self.lock:
            self.ops.append(op)

    @property
    def count(self):
        with self.lock:
            return len(self.ops)

    def count_since(self, ns, definite=True):
        """Ops called after monotonic ns (with a definite outcome, by default)."""
        with self.lock:
            return sum(1 for o in self.ops if o["call_ns"] > ns and (not definite or o["ok"] is not None))

    # -- the load --
    def start(self, max_ops=300, max_seconds=60.0):
        """Start the client threads; each stops after max_ops/clients ops, max_seconds, or
        stop()."""
        per_client = max(1, max_ops // self.nclients)
        deadline = time.monotonic() + max_seconds
        for i in range(self.nclients):
            c = self._client()
            self._clients.append(c)
            rng = random.Random(self.seed * 1000 + i)
            t = threading.Thread(target=self._run, args=(i, c, rng, per_client, deadline),
                                 name=f"lin-client-{i}", daemon=True)
            self._threads.append(t)
        for t in self._threads:
            t.start()
        return self

    def _wait_connected(self, c, deadline):
        from kazoo.protocol.states import KazooState
        end = min(deadline, time.monotonic() + self.reconnect_wait)
        while c.state != KazooState.CONNECTED and time.monotonic() < end and not self._stop.is_set():
            time.sleep(0.05)

    def _run(self, i, c, rng, per_client, deadline):
        n = 0
        try:
            while n < per_client and time.monotonic() < deadline and not self._stop.is_set():
                self._wait_connected(c, deadline)
                kind = rng.choice(self.kinds)
                key = rng.choice(self.keys)
                if kind == "read":
                    self._read(i, c, key, do_sync=True)
                elif kind == "write":
                    self._write(i, c, key, f"c{i}-{n}")
                else:
                    seen = self._read(i, c, key, do_sync=True)
                    if seen is not None:
                        value, version = seen
                        self._cas(i, c, key, value, version, f"c{i}-{n}")
                n += 1
                if self.think_s:
                    time.sleep(rng.uniform(0, self.think_s))
        except Exception as e:  # a bug here, not a server outcome: report it
            with self.lock:
                self.errors.append(f"client {i}: {e!r}")

    def _result(self, async_result):
        return async_result.get(timeout=self.op_timeout)

    def _read(self, i, c, key, do_sync):
        """sync (optionally) + get; records the read; returns (value, version) or None."""
        from kazoo.exceptions import NoNodeError
        call = time.monotonic_ns()
        try:
            if do_sync:
                self._result(c.sync_async(key))
            data, stat = self._result(c.get_async(key))
        except NoNodeError:
            self._record(client=i, op="read", key=key, value=None, ok=True,
                         call_ns=call, return_ns=time.monotonic_ns())
            return None
        except Exception as e:
            self._record(client=i, op="read", key=key, value=None, ok=None, err=type(e).__name__,
                         call_ns=call, return_ns=time.monotonic_ns())
            return None
        value = None if data is None else data.decode("utf-8", "replace")
        self._record(client=i, op="read", key=key, value=value, ok=True,
                     call_ns=call, return_ns=time.monotonic_ns())
        return value, stat.version

    def _write(self, i, c, key, value):
        call = time.monotonic_ns()
        try:
            self._result(c.set_async(key, value.encode()))
            ok, err = True, None
        except Exception as e:
            ok, err = None, type(e).__name__
        op = dict(client=i, op="write", key=key, value=value, ok=ok, call_ns=call, return_ns=time.monotonic_ns())
        if err:
            op["err"] = err
        self._record(**op)

    def _cas(self, i, c, key, expected, version, new):
        from kazoo.exceptions import BadVersionError
        call = time.monotonic_ns()
        try:
            self._result(c.set_async(key, new.encode(), version=version))
            ok, err = True, None
        except BadVersionError:
            ok, err = False, "BadVersion"
        except Exception as e:
            ok, err = None, type(e).__name__
        op = dict(client=i, op="cas", key=key, expected=expected, new=new, ok=ok,
                  call_ns=call, return_ns=time.monotonic_ns())
        if err:
            op["err"] = err
        self._record(**op)

    def wait_ops(self, n, timeout=30.0, since_ns=None):
        """Wait until n ops (with definite outcome, called after since_ns if given) are
        recorded; returns whether they were."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.count_since(since_ns) if since_ns is not None else self.count
            if got >= n:
                return True
            if not any(t.is_alive() for t in self._threads):
                return False
            time.sleep(0.05)
        return False

    def wait_done(self, timeout):
        """Wait (bounded) for the clients to finish their op budget or deadline; returns
        whether they did."""
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(timeout=max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def stop(self, join_timeout=None, final_reads=True):
        """Stop the clients (bounded join), then read every key once more from a fresh
        session after a sync (client id = number of clients), so the history ends with
        the settled values."""
        self._stop.set()
        join_timeout = join_timeout if join_timeout is not None else 3 * self.op_timeout + 5
        end = time.monotonic() + join_timeout
        for t in self._threads:
            t.join(timeout=max(0.1, end - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        for c in self._clients:
            try:
                c.stop()
                c.close()
            except Exception:
                pass
        self._clients = []
        if stuck:
            raise AssertionError(f"recorder threads did not stop within {join_timeout}s: {stuck}")
        if final_reads:
            c = self._client()
            try:
                for key in self.keys:
                    self._read(self.nclients, c, key, do_sync=True)
            finally:
                c.stop()
                c.close()
        if self.errors:
            raise AssertionError("recorder errors: " + "; ".join(self.errors))

    # -- output --
    def history(self):
        with self.lock:
            ops = sorted(copy.deepcopy(self.ops), key=lambda o: o["call_ns"])
            events = list(self.events)
        return {
            "initial": {k: INITIAL for k in self.keys},
            "ops": ops,
            "meta": {"seed": self.seed, "hosts": self.hosts, "clients": self.nclients, "events": events},
        }

    def write(self, path):
        """Write the JSON history; returns the path."""
        write_history(self.history(), path)
        return str(path)


def write_history(history, path):
    with open(path, "w") as f:
        json.dump(history, f, indent=0)
    return str(path)


def summary(history):
    ops = history["ops"]
    by = {}
    for o in ops:
        k = (o["op"], "unknown" if o.get("ok") is None else ("ok" if o["ok"] else "fail"))
        by[k] = by.get(k, 0) + 1
    return ", ".join(f"{op} {res}: {n}" for (op, res), n in sorted(by.items()))


def start_load(hosts, root, seed, max_ops, max_seconds, clients=4, think_s=0.02):
    """A Recorder on hosts (3 keys under root), set up and started: the load the ensemble
    tests run their faults under. Paced (think_s between a client's ops) so that the op
    budget outlasts the test's phases; stop() ends it."""
    rec = Recorder(hosts, root, keys=3, clients=clients, seed=seed, think_s=think_s)
    rec.setup()
    rec.start(max_ops=max_ops, max_seconds=max_seconds)
    return rec


def assert_recorded_linearizable(rec, path, note=""):
    """Write rec's history (stopped) to path, print note + its summary, and fail unless it
    is linearizable (assert_linearizable)."""
    path = rec.write(path)
    print(note + summary(rec.history()))
    return assert_linearizable(path)


# --- doctored histories (to prove the checker can fail) -----------------------------------

def _definite_writes(history, key):
    """(value, call, return) of writes/cas on key that definitely took effect, by return."""
    out = []
    for o in history["ops"]:
        if o["key"] != key or o.get("ok") is not True:
            continue
        if o["op"] == "write":
            out.append((o["value"], o["call_ns"], o["return_ns"]))
        elif o["op"] == "cas":
            out.append((o["new"], o["call_ns"], o["return_ns"]))
    return sorted(out, key=lambda w: w[2])


def _end_ns(history):
    return max(max(o["call_ns"], o.get("return_ns") or 0) for o in history["ops"])


def plant_stale_read(history):
    """A copy of history with one more read at the very end that returns a value
    overwritten long ago: on some key, write W1 (value a) returned before write W2
    started, both definitely applied; the planted read starts after everything and
    returns a. Values are unique, so nothing can make a current again: not linearizable.
    Returns (doctored history, description)."""
    h = copy.deepcopy(history)
    end = _end_ns(h)
    for key in sorted(h["initial"]):
        ws = _definite_writes(h, key)
        for w1 in ws:
            later = [w2 for w2 in ws if w2[1] > w1[2]]
            if later:
                h["ops"].append({"client": 999, "op": "read", "key": key, "value": w1[0], "ok": True,
                                 "call_ns": end + 1000, "return_ns": end + 2000, "err": "planted stale read"})
                return h, f"read of {key} returns {w1[0]!r}, overwritten by {later[0][0]!r}"
    raise AssertionError("history has no key with two definite writes one after the other: " + summary(history))


def plant_lost_write(history):
    """A copy of history with an acknowledged write at the very end that the reads after
    it do not see: on a key whose final read returned a value v written by a definite
    write (or the initial value), append write(key, "planted-lost") ok, then two reads
    that still return v. Not linearizable. Returns (doctored history, description)."""
    h = copy.deepcopy(history)
    end = _end_ns(h)
    for key in sorted(h["initial"]):
        reads = [o for o in h["ops"] if o["key"] == key and o["op"] == "read" and o.get("ok") is True]
        if not reads:
            continue
        v = max(reads, key=lambda o: o["return_ns"])["value"]
        definite = {w[0] for w in _definite_writes(h, key)} | {h["initial"].get(key)}
        if v not in definite:
            continue  # v may come from an unknown-outcome write, which could land later
        h["ops"].append({"client": 998, "op": "write", "key": key, "value": "planted-lost", "ok": True,
                         "call_ns": end + 1000, "return_ns": end + 2000, "err": "planted lost write"})
        for j in range(2):
            h["ops"].append({"client": 999, "op": "read", "key": key, "value": v, "ok": True,
                             "call_ns": end + 3000 + 2000 * j, "return_ns": end + 4000 + 2000 * j})
        return h, f"acknowledged write of {key} := 'planted-lost' never seen; reads still return {v!r}"
    raise AssertionError("history has no key whose final read returned a definitely written value: "
                         + summary(history))
