"""Limits that come from JVM system properties: `-Djute.maxbuffer=N` for Java,
`-D jute.maxbuffer=N` for ferrokeeper (the same setting; Java reads it only as a JVM
property, so zoo.cfg cannot carry it).

- With jute.maxbuffer=4194304 a 3 MB create and a 3.5 MB setData succeed and read back
  whole on both servers; a 4.5 MB request (frame above jute.maxbuffer) closes the
  connection on both. With the default (0xfffff) the 3 MB create closes the connection on
  both. (ferrokeeper used to answer MARSHALLINGERROR: its field cap was fixed at 2 MiB.)
- A txn log Java wrote with jute.maxbuffer=4194304, holding a 3 MB txn, is recovered by
  ferrokeeper started with the same setting; with the default limits both Java and
  ferrokeeper refuse to start on it (Java: "Unreasonable length").

Servers are started by store_util on free 127.0.0.1 ports, each with its own dataDir, and
only ever signalled by the PID of the process started here.
"""

import os
import time
import shutil

import pytest

import store_util as su
import zkraw

FOUR_MIB = {"jute.maxbuffer": "4194304"}


class PropServer(su.Server):
    """store_util's standalone server with JVM-style system properties on the command line."""

    def __init__(self, kind, data_dir, props):
        super().__init__(kind, data_dir)
        self.props = dict(props)

    def command(self):
        cmd = super().command()
        if self.kind == "zk":
            return [cmd[0]] + [f"-D{k}={v}" for k, v in self.props.items()] + cmd[1:]
        return cmd + [x for k, v in self.props.items() for x in ("-D", f"{k}={v}")]


class Lab(su.Lab):
    """PropServers on fresh dataDirs."""

    def server(self, kind, data_dir, props):
        return self.add(PropServer(kind, data_dir, props))

    def start(self, kind, data_dir=None, props=()):
        return self.start_or_fail(self.server(kind, data_dir or self.data_dir(), dict(props)))


@pytest.fixture
def lab():
    """Starts PropServers on fresh dataDirs; kills and removes everything at the end."""
    lab = Lab(prefix="limits-data-")
    yield lab
    lab.close()


def closes_connection(c, send):
    """True if the server drops the connection instead of answering `send(c)`."""
    try:
        r = send(c)
    except (zkraw.ConnectionClosed, OSError):
        return True
    c.drop()
    return f"answered {r!r}"


def test_large_requests_follow_jute_maxbuffer(server, lab, root):
    """`server` picks the kind (zk / ferro); both get the same requests and must agree."""
    big = lab.start(server.kind, props=FOUR_MIB)
    c = big.raw()
    try:
        three = bytes(range(256)) * (3_000_000 // 256) + b"e" * (3_000_000 % 256)
        assert len(three) == 3_000_000
        r = c.create(root, three)
        assert r.err == 0, r
        r = c.get_data(root)
        assert r.err == 0, r
        data, stat = r.value
        assert data == three and stat.dataLength == 3_000_000
        r = c.set_data(root, b"s" * 3_500_000, 0)
        assert r.err == 0 and r.value.dataLength == 3_500_000, r
        assert len(c.get_data(root).value[0]) == 3_500_000
    finally:
        c.close()
    # A frame above jute.maxbuffer (4.5 MB of data) closes the connection.
    c = big.raw()
    assert closes_connection(c, lambda c: c.create(root + "-huge", b"h" * 4_500_000)) is True
    c = big.raw()
    try:
        assert c.exists(root + "-huge").err == zkraw.Err.NONODE
    finally:
        c.close()

    # Default jute.maxbuffer (0xfffff): the 3 MB create's frame is too long.
    c = server.raw()
    assert closes_connection(c, lambda c: c.create(root, b"d" * 3_000_000)) is True
    c = server.raw()
    try:
        assert c.exists(root).err == zkraw.Err.NONODE
    finally:
        c.close()


def test_java_txn_log_with_a_3mb_txn_needs_the_same_limit(lab):
    d = lab.data_dir()
    j = lab.start("zk", d, FOUR_MIB)
    payload = os.urandom(3_000_000)
    c = j.raw()
    try:
        assert c.create("/big", payload).err == 0
        assert c.create("/after", b"small").err == 0
    finally:
        c.close()
    j.kill()  # the 3 MB txn stays in Java's txn log only (no snapshot holds it)
    logs = su.files(d, "log")
    assert any(n > 3_000_000 for f in logs for (_, n, _, _) in su.log_entries(f)), logs
    plain = lab.data_dir()
    shutil.rmtree(plain)
    shutil.copytree(d, plain)

    # Default limits: Java refuses its own log; so does ferrokeeper, saying why.
    for kind in ("zk", "ferro"):
        copy = lab.data_dir()
        shutil.rmtree(copy)
        shutil.copytree(plain, copy)
        s = lab.server(kind, copy, {})
        with pytest.raises(su.StartFailed) as e:
            s.start(timeout=60)
        assert e.value.returncode not in (None, 0), (kind, e.value)
        if kind == "zk":
            assert "Unreasonable length" in e.value.log, e.value.log[-3000:]
        else:
            assert "jute.maxbuffer" in e.value.log, e.value.log[-3000:]

    # jute.maxbuffer=4194304: ferrokeeper recovers the txn, data intact.
    f = lab.start("ferro", d, FOUR_MIB)
    c = f.raw()
    try:
        r = c.get_data("/big")
        assert r.err == 0 and r.value[0] == payload, r.err
        assert c.get_data("/after").value[0] == b"small"
    finally:
        c.close()


def handshake_refused(srv):
    """True if a new connection is closed without a ConnectResponse; else the open client."""
    try:
        c = zkraw.ZkRaw(srv.host, srv.port)
        c.handshake(timeout_ms=10000)
    except (zkraw.ConnectionClosed, OSError):
        # (Java can close the socket so early that even the connect fails)
        return True
    return c


@pytest.mark.parametrize("limits", [{"maxCnxns": 3, "maxClientCnxns": 0}, {"maxCnxns": 0, "maxClientCnxns": 3}],
                         ids=["maxCnxns", "maxClientCnxns"])
def test_connection_limits(server_factory, limits):
    """maxCnxns (all connections) and maxClientCnxns (per address; all ours come from
    127.0.0.1): the connection over the limit is closed at once, with no ConnectResponse;
    once one closes, a new one gets in."""
    srv = server_factory(**limits)
    held = []
    try:
        for _ in range(3):
            c = handshake_refused(srv)
            assert c is not True, f"refused below the limit ({limits})"
            held.append(c)
        assert handshake_refused(srv) is True, f"over the limit ({limits})"
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:
            c = handshake_refused(srv)
            if c is not True:
                held.append(c)
                break
            assert time.monotonic() < deadline, "no room after a connection closed"
            time.sleep(0.2)
    finally:
        for c in held:
            c.close()


def test_connection_throttle(server_factory):
    """zookeeper.connection_throttle_* (BlueThrottle): a bucket of 3 tokens that refills one
    every 10 minutes lets three ConnectRequests in, then closes new ones (and re-attaches)
    unanswered, whether or not earlier sessions closed."""
    srv = server_factory(connection_throttle_tokens=3, connection_throttle_fill_time=600000,
                         connection_throttle_fill_count=1)
    held = []
    try:
        # The harness's readiness probe may have spent a token (when `srvr` answered
        # before the server served, it falls back to a real session): 2 or 3 get in.
        while len(held) < 4:
            c = handshake_refused(srv)
            if c is True:
                break
            held.append(c)
        assert len(held) in (2, 3), f"{len(held)} connections got in with 3 tokens"
        first = held.pop(0)
        sid, passwd = first.session_id, first.passwd
        first.drop()
        again = zkraw.ZkRaw(srv.host, srv.port)
        with pytest.raises((zkraw.ConnectionClosed, OSError)):
            again.handshake(timeout_ms=10000, session_id=sid, passwd=passwd)
        held.pop().close()
        assert handshake_refused(srv) is True, "a closed session gave its token back"
        assert "Mode: standalone" in srv.fourlw("srvr")
    finally:
        for c in held:
            c.close()


def mntr_value(srv, key):
    return int(zkraw.mntr(srv.host, srv.port)[key])


def test_large_request_limit(server_factory, root):
    """largeRequestThreshold / largeRequestMaxBytes (zoo.cfg keys, as Java turns them into
    zookeeper.* properties): frames over 1000 bytes are large and may take 5000 bytes
    together until answered. Answered ones give their bytes back (20 writes and 20 reads of
    3000 bytes one after another all pass); one of 6000 closes the connection unanswered
    and counts in large_requests_rejected; other connections go on."""
    srv = server_factory(largeRequestThreshold=1000, largeRequestMaxBytes=5000)
    rejected = mntr_value(srv, "zk_large_requests_rejected")
    c = srv.raw()
    try:
        assert c.create(root, b"small").err == 0
        for i in range(20):
            r = c.set_data(root, bytes([i]) * 3000)
            assert r.err == 0, (i, r)
        long_path = root + "/" + "p" * 2990  # a read whose frame is large
        for _ in range(20):
            assert c.get_data(long_path).err == zkraw.Err.NONODE
        assert closes_connection(c, lambda c: c.set_data(root, b"x" * 6000)) is True
    finally:
        c.drop()
    assert mntr_value(srv, "zk_large_requests_rejected") == rejected + 1
    c = srv.raw()
    try:
        data, stat = c.get_data(root).value
        assert (data, stat.version) == (bytes([19]) * 3000, 20)
        assert c.set_data(root, b"y" * 3000).err == 0, "the limit's bytes were given back"
    finally:
        c.close()
