"""Read-only mode (`readonlymode.enabled`): a member cut off from its quorum serves the
clients that asked for read-only mode, as Java's ReadOnlyZooKeeperServer does.

The same scenario runs on a 3-member Java 3.8 ensemble and a 3-member ferrokeeper one,
and once on a ferrokeeper member of a Java ensemble: two members are killed, and after
the grace period (max(2 s, tickTime)) the survivor says `Mode: read-only` and `isro` ->
"ro"; a kazoo client with read_only=True gets a session (CONNECTED_RO) and reads the
committed data; writes and sync fail with NOTREADONLY (-119); a client without the
read-only flag, and a session of the ensemble, are refused (connection closed, no
answer); when the other members return, the survivor rejoins as a follower and the
kazoo client finds its way back to a read-write member by itself.

Java 3.8/3.9 serve read-only clients only with localSessionsEnabled=true (without it its
read-only server answers the handshake with a bare error header, which no client can
parse: checked by hand, docs/compatibility.md); the Java ensembles here set it, ferrokeeper
serves them either way (its read-only sessions are always local).
"""

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NotReadOnlyCallError

import conftest
import zkraw
from ensemble import ensemble_factory  # noqa: F401 (the fixture)
from ensemble import parse_srvr, wait_until
from test_ensemble_mixed import unique_root

pytestmark = [pytest.mark.xdist_group("ensemble-readonly"),
              pytest.mark.skipif(not conftest.kinds_selected("zk", "ferro"),
                                 reason="compares Java and ferrokeeper (COMPAT_SERVERS)")]

RO = {"readonlymode.enabled": "true"}


def srvr_mode(m):
    return parse_srvr(m.srvr() or "")


CASES = [
    (("zk", "zk", "zk"), 1, "Java ensemble"),
    (("ferro", "ferro", "ferro"), 1, "ferrokeeper ensemble"),
    (("zk", "ferro", "zk"), 2, "ferrokeeper member of a Java ensemble"),
]


@pytest.mark.parametrize("kinds,survivor_sid,what", CASES, ids=["zk", "ferro", "mixed"])
def test_partitioned_member_serves_read_only_clients(ensemble_factory, kinds, survivor_sid, what):
    # localSessionsEnabled only where Java needs it (see the module doc); a ferrokeeper
    # member in the mixed case runs without it.
    extra = ({"localSessionsEnabled": "true", "localSessionsUpgradingEnabled": "true"}
             if all(k == "zk" for k in kinds) else {})
    # The session `g` below asks for 30 s (the default maxSessionTimeout, 20 ticks, would
    # cut it to 10 s): the leader elected when the others return tracks it afresh, and its
    # ephemeral must outlive the rest of the test (a JVM member's start, kazoo's way back
    # to a read-write member), which can take more than 10 s on a loaded machine.
    extra["maxSessionTimeout"] = "60000"
    ens = ensemble_factory(list(kinds), tick_ms=500, sys_props=RO, extra_cfg=extra)
    survivor = ens.members[survivor_sid - 1]
    root = unique_root("ro")
    with_kazoo = KazooClient(hosts=ens.connect_string(), timeout=10)
    with_kazoo.start(timeout=30)
    try:
        with_kazoo.create(root, b"before")
        with_kazoo.create(f"{root}/child", b"c")
    finally:
        with_kazoo.stop()
        with_kazoo.close()
    # A session of the ensemble, made while it had a quorum (global for certain, also
    # where local sessions are on: it owns an ephemeral, which upgrades it).
    g = zkraw.ZkRaw("127.0.0.1", survivor.client_port)
    g.handshake(timeout_ms=30000)
    eph = g.call(zkraw.Op.CREATE, zkraw.enc_create(f"{root}/eph", b"e", flags=1))
    assert eph.err == 0, eph
    global_session, global_passwd = g.session_id, g.passwd
    g.drop()

    for m in ens.members:
        if m is not survivor:
            ens.kill9(m)
    assert wait_until(lambda: srvr_mode(survivor) == "read-only", 15, interval=0.05), \
        f"{what}: never read-only: {survivor.srvr()!r}"
    assert survivor.fourlw("isro").strip() == "ro"

    # A client that did not ask for read-only mode: closed without an answer.
    plain = zkraw.ZkRaw("127.0.0.1", survivor.client_port)
    with pytest.raises(zkraw.ConnectionClosed):
        plain.handshake(timeout_ms=10000, read_only=False)
    plain.drop()
    # The ensemble's session: refused too (it must not hear "expired").
    back = zkraw.ZkRaw("127.0.0.1", survivor.client_port)
    with pytest.raises(zkraw.ConnectionClosed):
        back.handshake(timeout_ms=30000, session_id=global_session, passwd=global_passwd,
                       read_only=True)
    back.drop()

    # A read-only client: a session, reads, NOTREADONLY for writes and sync.
    raw = zkraw.ZkRaw("127.0.0.1", survivor.client_port)
    resp = raw.handshake(timeout_ms=10000, read_only=True)
    assert resp.readOnly is True and resp.sessionId != 0 and resp.timeOut == 10000, resp
    assert resp.sessionId >> 56 == survivor.sid, hex(resp.sessionId)
    got = raw.call(zkraw.Op.GET_DATA, zkraw.enc_path_watch(root))
    assert got.err == 0 and b"before" in got.body
    for op, body in [
        (zkraw.Op.CREATE, zkraw.enc_create(f"{root}/no", b"x")),
        (zkraw.Op.SET_DATA, zkraw.enc_set_data(root, b"y", -1)),
        (zkraw.Op.DELETE, zkraw.enc_delete(f"{root}/child", -1)),
        (zkraw.Op.SYNC, zkraw.enc_path(root)),
    ]:
        r = raw.call(op, body)
        assert r.err == -119, f"{what}: op {op} answered {r.err}, expected NOTREADONLY"
    assert raw.call(zkraw.Op.EXISTS, zkraw.enc_path_watch(f"{root}/child")).err == 0
    # closeSession of the local session: answered, then closed.
    assert raw.call(zkraw.Op.CLOSE_SESSION).err == 0
    raw.drop()

    # kazoo in read-only mode: CONNECTED_RO, reads, NotReadOnlyCallError.
    states = []
    ro_client = KazooClient(hosts=survivor.hostport + "," + ",".join(
        m.hostport for m in ens.members if m is not survivor), read_only=True, timeout=10)
    ro_client.add_listener(lambda s: states.append(s))
    ro_client.start(timeout=30)
    try:
        assert ro_client.client_state == "CONNECTED_RO", ro_client.client_state
        assert ro_client.get(root)[0] == b"before"
        assert sorted(ro_client.get_children(root)) == ["child", "eph"]
        with pytest.raises(NotReadOnlyCallError):
            ro_client.create(f"{root}/no", b"x")

        # The others return: the survivor leaves read-only mode and follows.
        for m in ens.members:
            if m is not survivor:
                ens.start(m)
        assert ens.wait_serving(survivor) in ("follower", "leader")
        assert survivor.fourlw("isro").strip() == "rw"
        # kazoo finds a read-write member by itself ("isro" probes) and reconnects.
        assert wait_until(lambda: ro_client.client_state == "CONNECTED", 60, interval=0.05), \
            f"{what}: kazoo stayed {ro_client.client_state}"
        ro_client.create(f"{root}/after", b"a")
        assert sorted(ro_client.get_children(root)) == ["after", "child", "eph"]
    finally:
        ro_client.stop()
        ro_client.close()
    assert KazooState.CONNECTED in states, states
