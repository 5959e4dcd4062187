"""Storage interop: a dataDir must be interchangeable between Apache ZooKeeper 3.8 and
ferrokeeper, and ferrokeeper must survive crashes without losing acknowledged writes.

(a) Java writes a dataDir (mixed workload: persistent/sequential/ephemeral/container/TTL
    nodes, nested paths, binary/UTF-8/empty/null data, digest and auth ACLs, versioned
    setData/setACL, deletes, multis), is stopped cleanly or with kill -9; ferrokeeper
    starts on the same dataDir and must serve every znode with the same data, Stat (all
    fields) and ACL; a still-live session re-attaches with its id and password and keeps
    its ephemerals; then Java starts on it again ("and back") and must agree too.
(b) the reverse (ferrokeeper writes, Java reads), and `ferrokeeper txnlog-dump` /
    `snapshot-dump [-d]` print exactly what Java's TxnLogToolkit / SnapshotFormatter print
    for every file of a dataDir written by either server (dates in UTC: Java runs with
    TZ=UTC).
(c) crash rounds: writer sessions create/setData in a bounded loop while ferrokeeper is
    kill -9'ed at a random moment and restarted on the same dataDir; every acknowledged
    write must be there and nothing that was never sent; earlier rounds stay intact; at
    the end Java must serve the crashed dataDir identically. STORE_CRASH_ROUNDS (default
    10) sets the number of rounds (scripts/crash-soak.sh raises it). Plus a torn last log
    entry (starts, loses only that entry — Java agrees) and a flipped byte in the middle of
    a log (refuses to start with a clear message and a non-zero exit — Java too).
(d) digests: a txn logged with a tree digest that disagrees, and a snapshot sealed with
    one, start both servers (the data is served) and count one `digest_mismatches_count`
    each, as Java's DataTree.compareDigest / compareSnapshotDigests do.

Null-vs-empty data is compared in a separate test so the other tests report the rest.
Servers are started by store_util on free 127.0.0.1 ports and only ever signalled by PID.
"""

import os
import random
import struct
import zlib
import re
import shutil
import threading
import time

import pytest

import store_util as su
from harness import wait_until
import zkraw
from zkraw import Err, Flags

CRASH_ROUNDS = int(os.environ.get("STORE_CRASH_ROUNDS", "10"))


class Lab(su.Lab):
    """store_util Servers; zoo.cfg keys as keyword arguments with "_" for "."."""

    def server(self, kind, data_dir, **cfg):
        return self.add(su.Server(kind, data_dir, {k.replace("_", "."): str(v) for k, v in cfg.items()}))

    def start(self, kind, data_dir, **cfg):
        return self.start_or_fail(self.server(kind, data_dir, **cfg))


@pytest.fixture
def lab():
    """Servers and dataDirs of one test; everything is killed/removed at the end."""
    lab = Lab(prefix="store-data-")
    yield lab
    lab.close()


def stop(srv, mode):
    if mode == "clean":
        srv.stop()
    else:
        srv.kill()


def without_null(tree):
    """The tree with null data shown as empty (null-vs-empty has its own test)."""
    return {p: (b"" if d is None else d, s, a) for p, (d, s, a) in tree.items()}


def assert_same(before, after, what):
    diffs = su.diff_trees(without_null(before), without_null(after))
    assert not diffs, f"{what}:\n" + "\n".join(diffs[:40])


def digest_complaints(log):
    return [l for l in log.splitlines() if re.search(r"digest", l, re.I) and re.search(r"mismatch|WARN|ERROR", l)]


LIVE_EPHEMERALS = ["/ws/live/eph", "/ws/live/enull"]


def check_live_session(srv, live, tree):
    """Re-attach the live session to `srv`: its ephemerals are there and owned by it."""
    c = su.reattach(srv, live)
    for p in LIVE_EPHEMERALS:
        assert p in tree, p
        assert tree[p][1].ephemeralOwner == live.session_id, (p, tree[p][1])
    eseq = [p for p in tree if p.startswith("/ws/live/eseq-")]
    assert len(eseq) == 1 and tree[eseq[0]][1].ephemeralOwner == live.session_id
    return c


# --- (a) and (b): hand a dataDir over ---------------------------------------------------------

@pytest.mark.parametrize("stop_mode", ["clean", "kill9"])
@pytest.mark.parametrize("writer,reader", [("zk", "ferro"), ("ferro", "zk")], ids=["java-to-ferro", "ferro-to-java"])
def test_datadir_handover(lab, writer, reader, stop_mode):
    d = lab.data_dir()
    w = lab.start(writer, d)
    live = su.workload(w)["live"]
    before = su.read_tree(w)
    stop(w, stop_mode)
    live.drop()

    r = lab.start(reader, d)
    after = su.read_tree(r)
    assert_same(before, after, f"{reader} serving {writer}'s dataDir ({stop_mode} stop)")
    c = check_live_session(r, live, after)
    c.drop()
    # Either reader compares the tree with the writer's digests (txns and snapshot).
    assert not digest_complaints(r.log()), digest_complaints(r.log())

    # ... and back: the first server on the dataDir the second one has now written to
    # (its startup snapshot included).
    stop(r, stop_mode)
    back = lab.start(writer, d)
    again = su.read_tree(back)
    assert_same(before, again, f"{writer} serving the dataDir again after {reader}")
    c = check_live_session(back, live, again)
    assert not digest_complaints(back.log()), digest_complaints(back.log())
    # Closing the session removes its ephemerals (closeSession of a restored session).
    c.close()
    final = su.read_tree(back)
    assert not [p for p in final if p.startswith("/ws/live/e")], sorted(final)


def test_null_data_survives_handover(lab):
    """Nodes created or set with null data (buffer length -1) must stay null, not become
    empty, on both servers and across a handover in either direction."""
    nulls = ["/ws/null", "/ws/empty", "/ws/live/enull"]
    problems = []
    for writer, reader in (("zk", "ferro"), ("ferro", "zk")):
        d = lab.data_dir()
        w = lab.start(writer, d)
        live = su.workload(w)["live"]
        before = su.read_tree(w)
        problems += [f"{writer} serves {p} as {before[p][0]!r}" for p in nulls if before[p][0] is not None]
        w.kill()
        live.drop()
        r = lab.start(reader, d)
        after = su.read_tree(r)
        problems += [f"{reader} after {writer} serves {p} as {after[p][0]!r}"
                     for p in nulls if after[p][0] is not None]
        r.kill()
    assert not problems, problems


@pytest.mark.parametrize("writer", ["zk", "ferro"])
def test_dump_tools_match_java(lab, writer):
    d = lab.data_dir()
    w = lab.start(writer, d)
    live = su.workload(w)["live"]
    w.kill()
    live.drop()
    # A restart writes a snapshot with the whole tree and starts a new log.
    w2 = lab.start(writer, d)
    c = w2.raw()
    c.create("/after-restart", b"\x00\xff\n,}%", flags=Flags.PERSISTENT)
    c.close()
    w2.kill()
    logs, snaps = su.files(d, "log"), su.files(d, "snapshot")
    assert len(logs) >= 2 and len(snaps) >= 2, (logs, snaps)
    mismatches = []
    for f in logs:
        jrc, jout, jerr = su.java_txnlog_dump(f)
        frc, fout, ferr = su.ferro_tool("txnlog-dump", f)
        assert jrc == 0, jerr.decode(errors="replace")
        if (frc, fout) != (jrc, jout):
            mismatches.append(su.first_difference(os.path.basename(f), jout, fout, ferr))
    for f in snaps:
        for flag in ([], ["-d"]):
            jrc, jout, jerr = su.java_snapshot_dump(f, data=bool(flag))
            frc, fout, ferr = su.ferro_tool("snapshot-dump", *flag, f)
            assert jrc == 0, jerr.decode(errors="replace")
            if (frc, fout) != (jrc, jout):
                mismatches.append(su.first_difference(f"{os.path.basename(f)} {flag}", jout, fout, ferr))
    assert not mismatches, "\n".join(mismatches)


# --- (c) crashes ----------------------------------------------------------------------------

class Writer(threading.Thread):
    """One session doing creates and setData on its own subtree, one op at a time,
    recording what was sent and what was acknowledged."""

    def __init__(self, srv, base, max_ops=5000, max_seconds=20.0):
        super().__init__(daemon=True)
        self.srv, self.base = srv, base
        self.max_ops, self.max_seconds = max_ops, max_seconds
        self.sent, self.acked = [], []    # ops: ("create", name) / ("set", value)
        self.error = None

    def run(self):
        try:
            c = self.srv.raw()
        except Exception as e:  # the server may already be gone
            self.error = e
            return
        deadline = time.monotonic() + self.max_seconds
        try:
            for k in range(self.max_ops):
                if time.monotonic() > deadline:
                    break
                if k % 3 == 2:
                    op = ("set", f"v{k}".encode())
                    self.sent.append(op)
                    r = c.set_data(self.base, op[1])
                else:
                    op = ("create", f"n{k:05d}")
                    self.sent.append(op)
                    r = c.create(f"{self.base}/{op[1]}", f"{self.base}/{k}".encode())
                if r.err != 0:
                    raise AssertionError(f"{self.base}: {r}")
                self.acked.append(op)
        except Exception as e:  # the connection dies with the server
            self.error = e
        finally:
            c.drop()


def expected_state(w, c):
    """Check `w`'s subtree on the server behind `c` against what was sent and acked (at
    most one op was in flight); return the fingerprint (children, data, version)."""
    assert not isinstance(w.error, AssertionError), w.error
    ch = c.get_children(w.base)
    assert ch.err == 0, (w.base, ch)
    present = set(ch.value)
    g = c.get_data(w.base)
    assert g.err == 0, (w.base, g)
    data, stat = g.value
    applied = list(w.acked)
    if len(w.sent) > len(w.acked):
        assert len(w.sent) == len(w.acked) + 1
        t, v = w.sent[-1]
        acked_sets = sum(1 for op in w.acked if op[0] == "set")
        if (t == "create" and v in present) or (t == "set" and stat.version == acked_sets + 1):
            applied.append(w.sent[-1])
    creates = {v for t, v in applied if t == "create"}
    missing = creates - present
    assert not missing, f"{w.base}: acknowledged creates lost: {sorted(missing)[:10]}"
    extra = present - creates
    assert not extra, f"{w.base}: never-sent nodes appeared: {sorted(extra)[:10]}"
    sets = [v for t, v in applied if t == "set"]
    assert stat.version == len(sets), f"{w.base}: version {stat.version}, {len(sets)} sets applied"
    assert data == (sets[-1] if sets else b"base"), (w.base, data, stat.version)
    w.sent = w.acked = applied
    return (sorted(present), data, stat.version)


def test_crash_rounds(lab):
    seed = os.environ.get("STORE_CRASH_SEED", str(time.time_ns()))
    print(f"STORE_CRASH_SEED={seed} rounds={CRASH_ROUNDS}")  # shown on failure
    rng = random.Random(seed)
    d = lab.data_dir()
    cfg = {"snapCount": 64}  # frequent log rolls and snapshots: crashes hit them too
    fingerprints = {}
    srv = lab.start("ferro", d, **cfg)
    c = srv.raw()
    assert c.create("/crash", b"").err == 0
    c.close()
    for rnd in range(CRASH_ROUNDS):
        c = srv.raw()
        bases = [f"/crash/r{rnd}s{i}" for i in range(4)]
        for b in bases:
            assert c.create(b, b"base").err == 0
        c.close()
        writers = [Writer(srv, b) for b in bases]
        for w in writers:
            w.start()
        time.sleep(rng.uniform(0.02, 0.8))
        srv.kill()
        for w in writers:
            w.join(timeout=30)
            assert not w.is_alive()
        srv = lab.start("ferro", d, **cfg)
        c = srv.raw()
        try:
            for w in writers:
                fingerprints[w.base] = expected_state(w, c)
            # Everything verified in earlier rounds is unchanged.
            for base, (children, data, version) in fingerprints.items():
                ch, g = c.get_children(base), c.get_data(base)
                assert ch.err == 0 and g.err == 0, base
                assert (sorted(ch.value), g.value[0], g.value[1].version) == (children, data, version), base
        finally:
            c.close()
    # Java serves the crashed dataDir the same way.
    before = su.read_tree(srv)
    srv.stop()
    j = lab.start("zk", d)
    assert_same(before, su.read_tree(j), "Java on ferrokeeper's crashed dataDir")
    assert not digest_complaints(j.log()), digest_complaints(j.log())


def write_and_kill(lab, n=10):
    """ferrokeeper writes /t/n0../t/n{n-1} (one txn each) and is kill -9'ed."""
    d = lab.data_dir()
    s = lab.start("ferro", d)
    c = s.raw()
    assert c.create("/t", b"").err == 0
    for i in range(n):
        assert c.create(f"/t/n{i}", f"{i}".encode()).err == 0
    s.kill()
    c.drop()
    return d


def copy_dir(lab, d):
    d2 = lab.data_dir()
    shutil.rmtree(d2)
    shutil.copytree(d, d2)
    return d2


def test_torn_tail_loses_only_the_torn_entry(lab):
    d = write_and_kill(lab)
    log = su.files(d, "log")[-1]
    entries = su.log_entries(log)
    off, length, zxid, typ = entries[-1]
    assert typ == 1, entries[-3:]  # the create of /t/n9
    for kind in ("ferro", "zk"):
        d2 = copy_dir(lab, d)
        torn = os.path.join(d2, "version-2", os.path.basename(log))
        with open(torn, "r+b") as f:
            f.truncate(off + length // 2)
        s = lab.start(kind, d2)
        c = s.raw()
        try:
            ch = c.get_children("/t")
            assert ch.err == 0
            assert ch.value == sorted(f"n{i}" for i in range(9)), (kind, ch.value)
            # The server goes on from there (the lost zxid is handed out again).
            r = c.create("/t/n9", b"again")
            assert r.err == 0
            assert c.exists("/t/n9").value.czxid >= zxid, kind
        finally:
            c.close()
        s.kill()
        # ... and that survives another restart (a torn entry in an older log).
        s = lab.start(kind, d2)
        c = s.raw()
        g = c.get_data("/t/n9")
        assert g.err == 0 and g.value[0] == b"again", (kind, g)
        c.close()
        s.kill()


def middle_entry(lab):
    """A dataDir from write_and_kill, its last log, and the middle entry of that log
    (offset, length, zxid, type)."""
    d = write_and_kill(lab)
    log = su.files(d, "log")[-1]
    entries = su.log_entries(log)
    return d, log, entries[len(entries) // 2]


def test_bit_flip_refuses_to_start(lab):
    d, log, (off, length, zxid, typ) = middle_entry(lab)
    for kind in ("ferro", "zk"):
        d2 = copy_dir(lab, d)
        path = os.path.join(d2, "version-2", os.path.basename(log))
        with open(path, "r+b") as f:
            pos = off + 12 + (length - 13) // 2  # inside the txn bytes
            f.seek(pos)
            b = f.read(1)
            f.seek(pos)
            f.write(bytes([b[0] ^ 0x40]))
        s = lab.server(kind, d2)
        t0 = time.monotonic()
        with pytest.raises(su.StartFailed) as ei:
            s.start(timeout=30)
        e = ei.value
        assert e.returncode not in (None, 0), (kind, e)
        assert time.monotonic() - t0 < 30
        if kind == "ferro":
            assert re.search(r"CRC|checksum", e.log), e.log[-2000:]
            assert os.path.basename(log) in e.log, e.log[-2000:]


@pytest.mark.parametrize("method", ["gz", "snappy"])
@pytest.mark.parametrize("purged", [False, True], ids=["all-logs", "old-logs-purged"])
def test_java_compressed_snapshot(lab, purged, method):
    """Java with snapshot.compression.method=gz|snappy writes snapshot.<zxid>.gz/.snappy;
    ferrokeeper reads it (gzip, snappy-java stream) and serves the same tree -- also when
    the older logs and snapshots were purged, so the compressed snapshot is the only source."""
    d = lab.data_dir()
    cfg = {"snapshot_compression_method": method}
    j = lab.start("zk", d, **cfg)
    su.workload(j)["live"].drop()
    j.kill()
    j = lab.start("zk", d, **cfg)  # writes snapshot.<zxid>.<method> with the whole tree
    before = su.read_tree(j)
    j.kill()
    snaps = su.files(d, "snapshot")
    assert snaps[-1].endswith("." + method), snaps
    if purged:  # what autopurge leaves once the newest snapshot covers the old logs
        newest = int(os.path.basename(snaps[-1]).split(".")[1], 16)
        for f in su.files(d, "log"):
            if int(os.path.basename(f).split(".")[1], 16) <= newest:
                os.remove(f)
        for f in snaps[:-1]:
            os.remove(f)
    s = lab.server("ferro", d)
    s.start()
    assert_same(before, su.read_tree(s), f"ferrokeeper on Java's dataDir with a .{method} snapshot")


# --- (d) digests ---------------------------------------------------------------------------

def mntr_value(srv, key):
    text = zkraw.four_letter_word(su.HOST, srv.port, "mntr")
    m = re.search(rf"^zk_{key}\s+(\S+)$", text, re.M)
    assert m, (srv.kind, text)
    return float(m.group(1))


def serves_all_children(srv, n=10):
    c = srv.raw()
    try:
        ch = c.get_children("/t")
        assert ch.err == 0 and ch.value == sorted(f"n{i}" for i in range(n)), (srv.kind, ch)
    finally:
        c.close()


def test_a_logged_digest_that_disagrees_is_counted_as_java(lab):
    d, log, (off, length, zxid, typ) = middle_entry(lab)
    assert typ == 1, (off, zxid, typ)
    for kind in ("zk", "ferro"):
        d2 = copy_dir(lab, d)
        path = os.path.join(d2, "version-2", os.path.basename(log))
        with open(path, "r+b") as f:
            f.seek(off)
            entry = bytearray(f.read(length))
            txn = entry[12:-1]
            # The TxnDigest trailer {i32 version, i64 treeDigest} ends the txn bytes.
            (version,) = struct.unpack(">i", txn[-12:-8])
            assert version == 2, (kind, bytes(txn))
            txn[-8:] = bytes(b ^ 0x5A for b in txn[-8:])
            entry[0:8] = struct.pack(">q", zlib.adler32(bytes(txn)))
            entry[12:-1] = txn
            f.seek(off)
            f.write(entry)
        s = lab.start(kind, d2)
        serves_all_children(s)
        assert mntr_value(s, "digest_mismatches_count") == 1, (kind, s.log()[-3000:])
        if kind == "ferro":
            assert re.search(rf"first digest mismatch on txn 0x{zxid:x}", s.log()), s.log()[-3000:]
        s.kill()


def test_a_snapshot_digest_that_disagrees_is_counted_as_java(lab):
    d = write_and_kill(lab)
    # ferrokeeper's startup snapshot of the recovered tree: sealed with the digest at its
    # own zxid, so both servers compare it as soon as it is loaded.
    s = lab.start("ferro", d)

    def startup_snapshot():
        snaps = [p for p in su.files(d, "snapshot") if not p.endswith(".0")]
        return snaps[-1] if snaps and os.path.getsize(snaps[-1]) > 0 else None
    assert wait_until(startup_snapshot, 30), su.files(d, "snapshot")
    s.stop()
    snap = startup_snapshot()
    last = int(os.path.basename(snap).split(".")[1], 16)
    for kind in ("zk", "ferro"):
        d2 = copy_dir(lab, d)
        path = os.path.join(d2, "version-2", os.path.basename(snap))
        with open(path, "r+b") as f:
            b = bytearray(f.read())
            # The tail: {i64 zxid, i32 version, i64 digest} seal "/", then (3.9) the last
            # processed zxid + seal "/". Each seal is the Adler32 of every byte before it.
            def sealed_at(end):
                return b[end - 5:end] == b"\x00\x00\x00\x01/" and \
                    struct.unpack(">q", b[end - 13:end - 5])[0] == zlib.adler32(bytes(b[:end - 13]))
            assert sealed_at(len(b)), "the file's last seal"
            trailer = sealed_at(len(b) - 21)
            end = len(b) - 21 if trailer else len(b)
            assert sealed_at(end), "the digest section's seal"
            (dz, version) = struct.unpack(">qi", b[end - 33:end - 21])
            assert (dz, version) == (last, 2), (hex(dz), version)
            b[end - 21:end - 13] = bytes(x ^ 0x5A for x in b[end - 21:end - 13])
            for e in (end, len(b)) if trailer else (end,):
                b[e - 13:e - 5] = struct.pack(">q", zlib.adler32(bytes(b[:e - 13])))
            f.seek(0)
            f.write(b)
        s = lab.start(kind, d2)
        serves_all_children(s)
        assert mntr_value(s, "digest_mismatches_count") == 1, (kind, s.log()[-3000:])
        s.kill()
