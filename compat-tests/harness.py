"""Helpers shared by the suite's server harnesses (conftest.py's standalone servers,
store_util.py's servers on a given dataDir, ensemble.py's members): which ferrokeeper
binary to run, the Java ZooKeeper kinds' class paths, ending a process started here (only
ever by its PID), reading a server's log, polling for a condition with a deadline."""

import os
import shutil
import signal
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

JAVA = shutil.which("java") or "/usr/bin/java"
# Kind "zk": Debian's ZooKeeper 3.8.0 (the `zookeeper` package).
ZK_CLASSPATH = ":".join(
    "/usr/share/java/" + j for j in ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-simple.jar")
)
# Kind "zk39": ZooKeeper 3.9.5 and its runtime dependencies + slf4j-simple 2.0, fetched from
# Maven Central by scripts/install-deps.sh (which writes .complete when they are all there).
ZK39_LIB = os.path.join(REPO, "target", "zk-3.9.5", "lib")
JAVA_CLASSPATHS = {"zk": ZK_CLASSPATH, "zk39": os.path.join(ZK39_LIB, "*")}
JAVA_KINDS = tuple(JAVA_CLASSPATHS)


def java_missing(kind):
    """Why a Java kind cannot be started here (None if it can)."""
    if kind == "zk39" and not os.path.exists(os.path.join(ZK39_LIB, ".complete")):
        return f"ZooKeeper 3.9.5 jars not found in {ZK39_LIB} (bash scripts/install-deps.sh)"
    return None


def ferro_binary():
    """FERROKEEPER_BIN, else target/release/ferrokeeper, else target/debug/ferrokeeper (the
    release path when neither exists)."""
    env = os.environ.get("FERROKEEPER_BIN")
    if env:
        return env
    for flavour in ("release", "debug"):
        p = os.path.join(REPO, "target", flavour, "ferrokeeper")
        if os.path.exists(p):
            return p
    return os.path.join(REPO, "target", "release", "ferrokeeper")


def end_process(proc, sig=signal.SIGTERM, grace=10):
    """Signal proc (a Popen started here) with sig unless it has exited, wait up to grace
    seconds, then SIGKILL it; returns once it is gone (reaped)."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass


def file_text(path):
    """The text of a (log) file, undecodable bytes replaced; None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def log_tail(path, n):
    """The last n lines of a log file, or "(no log)"."""
    text = file_text(path)
    return "(no log)" if text is None else "\n".join(text.splitlines()[-n:])


def wait_until(pred, timeout=10.0, interval=0.1):
    """Poll pred() until truthy (returns its value) or timeout (returns the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)
