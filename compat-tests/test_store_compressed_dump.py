"""`ferrokeeper snapshot-dump [-d]` on the compressed snapshots Java writes with
zookeeper.snapshot.compression.method=gz|snappy (`snapshot.<zxid>.gz` / `.snappy`) prints
exactly what Java's SnapshotFormatter prints for them (it used to refuse them).

Servers are started by store_util on free 127.0.0.1 ports and only ever signalled by PID.
"""

import os
import shutil
import tempfile

import pytest

import store_util as su
import zkraw


@pytest.mark.parametrize("method", ["gz", "snappy"])
def test_snapshot_dump_of_javas_compressed_snapshots(method):
    d = tempfile.mkdtemp(prefix="dump-compressed-")
    servers = []
    try:
        cfg = {"snapshot.compression.method": method}
        j = su.Server("zk", d, cfg)
        servers.append(j)
        j.start()
        su.workload(j)["live"].drop()
        c = j.raw()
        c.create("/big", os.urandom(200_000))  # several snappy blocks
        c.close()
        j.kill()
        j = su.Server("zk", d, cfg)
        servers.append(j)
        j.start()  # writes snapshot.<zxid>.<method> holding the whole tree
        j.kill()
        snaps = [f for f in su.files(d, "snapshot") if f.endswith("." + method)]
        assert snaps, su.files(d, "snapshot")
        mismatches = []
        for f in snaps:
            for flag in ([], ["-d"]):
                jrc, jout, jerr = su.java_snapshot_dump(f, data=bool(flag))
                assert jrc == 0, jerr.decode(errors="replace")
                if f == snaps[-1]:
                    assert b"/ws/a/b/c" in jout and b"/big" in jout, jout[:500]
                frc, fout, ferr = su.ferro_tool("snapshot-dump", *flag, f)
                if (frc, fout) != (jrc, jout):
                    mismatches.append(su.first_difference(f"{os.path.basename(f)} {flag}", jout, fout, ferr))
        assert not mismatches, "\n".join(mismatches)
    finally:
        for s in servers:
            s.cleanup()
        shutil.rmtree(d, ignore_errors=True)
