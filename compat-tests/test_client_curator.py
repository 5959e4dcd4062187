"""Real-client test with Apache Curator 5.4 (Debian jars), the Java ecosystem's main client.

java/CuratorCompat.java is compiled with javac into compat-tests/.deps/ (cached by
source hash, gitignored; compiled_classes, which test_ensemble_clients.py uses for
java/CuratorEnsemble.java too) and run against each server. It exercises InterProcessMutex,
LeaderLatch, CuratorCache (persistent recursive watches), DistributedAtomicLong from two
clients, PersistentNode (ephemeral), transactions (CuratorOp multi, success and
failure results), createContainers and TTL nodes, printing "CHECK name value" lines.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "java", "CuratorCompat.java")
JARS = ["curator-framework", "curator-recipes", "curator-client", "zookeeper", "zookeeper-jute", "guava",
        "slf4j-api", "slf4j-nop"]
CLASSPATH = ":".join(f"/usr/share/java/{j}.jar" for j in JARS)

EXPECTED = {
    "connected": "true",
    "mutex.b_blocked": "true",
    "mutex.b_acquired": "true",
    "latch.a_leader": "true",
    "latch.b_leader": "false",
    "latch.participants": "2",
    "latch.b_after_close": "true",
    "cache.initialized": "true",
    "cache.deleted_seen": "true",
    "cache.events": "[create /cache, create /cache/x, create /cache/x/y, change /cache/x, delete /cache/x/y]",
    "cache.x": "3",
    "cache.size": "2",
    "counter.failures": "0",
    "counter.value": "20",
    "pnode.created": "true",
    "pnode.ephemeral": "true",
    "pnode.gone": "true",
    "tx.ok": "[CREATE:0, CREATE:0, SET_DATA:0, CHECK:0]",
    "tx.seq_name": "/tx-0000000006",  # root already has mutex, latch, cache, counter, pn, tx1 created
    "tx.fail": "BADVERSION",
    "tx.fail_results": "[0, -103]",
    "tx.tx2_absent": "true",
    "container.exists": "true",
    "ttl.exists": "true",
}


def compiled_classes(source=SOURCE, name="curator"):
    """The class directory of `source` (a java/*.java program against CLASSPATH), compiled
    with javac into .deps/<name>-<hash of the source>/ unless already there."""
    main_class = os.path.splitext(os.path.basename(source))[0] + ".class"
    with open(source, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    out = os.path.join(HERE, ".deps", f"{name}-{digest}")
    if not os.path.exists(os.path.join(out, main_class)):
        # A private temp dir, renamed into place: runs in parallel (other workers or
        # other suites on this checkout) may compile at the same time.
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f"{name}-{digest}.", dir=os.path.dirname(out))
        try:
            subprocess.run(["javac", "-nowarn", "-d", tmp, "-cp", CLASSPATH, source], check=True,
                           capture_output=True, timeout=180)
            try:
                os.rename(tmp, out)
            except OSError:
                if not os.path.exists(os.path.join(out, main_class)):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def java_command(classes, main, *args):
    """The command line that runs class `main` of a compiled_classes directory with CLASSPATH."""
    return ["java", "-XX:TieredStopAtLevel=1", "-cp", f"{classes}:{CLASSPATH}", main, *args]


def checks(lines):
    """{name: value} of the program's "CHECK name value" lines."""
    got = {}
    for line in lines:
        if line.startswith("CHECK "):
            _, name, value = line.split(" ", 2)
            got[name] = value
    return got


def test_curator_recipes(server, root):
    classes = compiled_classes()
    p = subprocess.run(java_command(classes, "CuratorCompat", server.hostport, root),
                       capture_output=True, text=True, timeout=180)
    lines = p.stdout.splitlines()
    got = checks(lines)
    assert p.returncode == 0 and "DONE" in lines, f"rc={p.returncode}\n{p.stdout}\n{p.stderr[-3000:]}"
    assert got == EXPECTED
