"""Differential tests of sessions: handshake variants, re-attach, expiry, close.

Covers: session password = java.util.Random(sessionId ^ 0xB3415C00).nextBytes(16)
(so sessions can move between Java and Rust servers), session id layout (top byte =
server id 1 in standalone, consecutive ids), re-attach with the right / wrong password,
lastZxidSeen ahead of the server (connection dropped, no response), closeSession reply
then close, re-attach after close/expiry (timeOut 0 response), expiry deleting
ephemerals and firing the watches of other sessions, pings keeping a session alive,
and a pipelined handshake (connect + auth + request in one write, as the Java client does).
"""

import struct
import time

from zkraw import Err, Ev, Flags, Op, Writer, ZkRaw, enc_auth, enc_path_watch

SHORT_TIMEOUT_MS = 4000  # = minSessionTimeout (2 x tickTime 2000)


def java_random_bytes(seed, n):
    """java.util.Random(seed).nextBytes(n)."""
    mask = (1 << 48) - 1
    s = (seed ^ 0x5DEECE66D) & mask
    out = bytearray()
    while len(out) < n:
        s = (s * 0x5DEECE66D + 0xB) & mask
        r = s >> 16
        if r >= 1 << 31:
            r -= 1 << 32
        for _ in range(min(4, n - len(out))):
            out.append(r & 0xFF)
            r >>= 8
    return bytes(out)


def expected_passwd(session_id):
    return java_random_bytes((session_id ^ 0xB3415C00) & ((1 << 64) - 1), 16)


def scenario_session_identity(env):
    t = env.t
    a = env.connect()
    b = env.connect()
    t.expect("password is Java Random(sessionId ^ superSecret)", a.passwd == expected_passwd(a.session_id), True)
    t.expect("password b", b.passwd == expected_passwd(b.session_id), True)
    t.expect("server id in top byte", a.session_id >> 56, 1)
    t.expect("consecutive session ids", b.session_id - a.session_id, 1)
    t.expect("low 16 bits not huge", (a.session_id & 0xFFFF) < 0xFFFF, True)


def test_session_identity(diff):
    diff(scenario_session_identity)


def scenario_reattach(env):
    t, p = env.t, env.p
    a = env.connect(timeout_ms=20000)
    a.create(p(), flags=Flags.EPHEMERAL)
    a.drop()
    b = env.server.raw(timeout_ms=30000, session_id=a.session_id, passwd=a.passwd, last_zxid=a.last_zxid)
    env.clients.append(b)
    r = b.connect_response
    t.expect("re-attach response", (r.protocolVersion, r.timeOut, r.sessionId == a.session_id, r.passwd == a.passwd,
                                    r.readOnly, len(r.raw)), (0, 30000, True, True, False, 37))
    t.expect("ephemeral kept", b.exists(p()).value.ephemeralOwner == a.session_id, True)
    # wrong password: timeOut 0, sessionId 0, zero password, then closed
    bad = ZkRaw(env.server.host, env.server.port)
    r = bad.handshake(session_id=a.session_id, passwd=b"\x01" * 16)
    t.expect("bad password response", (r.timeOut, r.sessionId, r.passwd, r.readOnly, len(r.raw)),
             (0, 0, bytes(16), False, 37))
    t.expect("bad password closes", bad.wait_closed(5), True)
    bad = ZkRaw(env.server.host, env.server.port)
    r = bad.handshake(session_id=a.session_id, passwd=b"\x01" * 16, send_read_only=False)
    t.expect("bad password, no readOnly byte", (r.timeOut, r.sessionId, r.readOnly, len(r.raw)), (0, 0, None, 36))
    bad.drop()
    # Observed on 3.8.0: any re-attach attempt for a session -- even with a wrong
    # password -- first closes the connection currently owning that session.
    t.expect("owner's connection closed by the failed attempt", b.wait_closed(5), True)
    b2 = env.server.raw(session_id=a.session_id, passwd=a.passwd)
    env.clients.append(b2)
    t.expect("session itself survives", b2.exists(p()).err, 0)
    b3 = env.server.raw(session_id=a.session_id, passwd=a.passwd)
    env.clients.append(b3)
    t.expect("takeover closes previous connection", b2.wait_closed(5), True)
    t.expect("new owner works", b3.exists(p()).err, 0)
    # unknown session id
    unk = ZkRaw(env.server.host, env.server.port)
    r = unk.handshake(session_id=0x0100000000001234, passwd=expected_passwd(0x0100000000001234))
    t.expect("unknown session", (r.timeOut, r.sessionId), (0, 0))
    t.expect("unknown session closes", unk.wait_closed(5), True)


def test_reattach(diff):
    diff(scenario_reattach)


def scenario_zxid_ahead(env):
    """A client that has seen a newer zxid than the server must go elsewhere: the
    server drops the connection without a ConnectResponse."""
    t = env.t
    a = env.connect()
    a.exists("/")
    c = ZkRaw(env.server.host, env.server.port)
    c.send_frame(Writer().int(0).long(a.last_zxid + 1_000_000).int(30000).long(0).buffer(bytes(16))
                 .bool(False).bytes())
    got = None
    try:
        got = c.recv_frame(timeout=5)
    except Exception as e:  # noqa: BLE001 - closed or reset is what we expect
        got = type(e).__name__
    t.expect("no response, connection closed", got, "ConnectionClosed")
    c.drop()


def test_zxid_ahead(diff):
    diff(scenario_zxid_ahead)


def scenario_close_session(env):
    t, p = env.t, env.p
    a = env.connect()
    w = env.connect()
    a.create(p())
    a.create(p("e"), flags=Flags.EPHEMERAL)
    w.exists(p("e"), watch=True)
    w.get_children(p(), watch=True)
    r = a.call(Op.CLOSE_SESSION)
    t.expect("closeSession reply", (r.xid, r.err, r.body), (3, 0, b""))
    t.expect("closed after closeSession", a.wait_closed(5), True)
    a.closed = True
    t.expect("watch events of the close", sorted(w.take_events(2, settle=0.3)))
    t.expect("ephemeral gone", w.exists(p("e")), err=Err.NONODE)
    again = ZkRaw(env.server.host, env.server.port)
    r = again.handshake(session_id=a.session_id, passwd=a.passwd)
    t.expect("re-attach closed session", (r.timeOut, r.sessionId), (0, 0))
    again.drop()


def test_close_session(diff):
    diff(scenario_close_session)


def scenario_expiry(env):
    """A session whose client vanished expires after its timeout: its ephemerals go,
    other sessions' watches fire, re-attach reports expiry."""
    t, p = env.t, env.p
    w = env.connect()
    w.create(p())
    a = env.connect(timeout_ms=SHORT_TIMEOUT_MS)
    t.expect("negotiated", a.negotiated_timeout, SHORT_TIMEOUT_MS)
    a.create(p("e1"), flags=Flags.EPHEMERAL)
    a.create(p("e2-"), flags=Flags.EPHEMERAL_SEQUENTIAL)
    a.create(p("persistent"))
    w.exists(p("e1"), watch=True)
    w.get_children(p(), watch=True)
    keeper = env.connect(timeout_ms=SHORT_TIMEOUT_MS)
    keeper.create(p("kept"), flags=Flags.EPHEMERAL)
    a.drop()
    start = time.monotonic()
    # keep the other short session alive with pings while a expires
    events = []
    while time.monotonic() - start < 15 and len(events) < 2:
        keeper.ping()
        w.ping()
        events = w.wait_events(2, timeout=0.5)
    elapsed = time.monotonic() - start
    t.expect("expired within 15 s", elapsed < 15, True)
    t.expect("not before the timeout", elapsed > SHORT_TIMEOUT_MS / 1000 * 0.7, True)
    t.expect("expiry events", sorted(w.take_events(2, settle=0.3)))
    t.expect("children after expiry", w.get_children(p()), value=["kept", "persistent"])
    r = ZkRaw(env.server.host, env.server.port)
    resp = r.handshake(session_id=a.session_id, passwd=a.passwd)
    t.expect("re-attach expired", (resp.timeOut, resp.sessionId, resp.passwd), (0, 0, bytes(16)))
    r.drop()
    t.expect("pinged session survived", keeper.exists(p("kept")).err, 0)


def test_expiry(diff):
    diff(scenario_expiry)


def scenario_pipelined_handshake(env):
    """ConnectRequest, auth, a request and a ping written in one go before any reply."""
    t = env.t
    c = ZkRaw(env.server.host, env.server.port)
    connect = Writer().int(0).long(0).int(30000).long(0).buffer(bytes(16)).bool(False).bytes()
    frames = [connect,
              struct.pack(">ii", -4, Op.AUTH) + enc_auth("digest", b"u:p"),
              struct.pack(">ii", 1, Op.EXISTS) + enc_path_watch("/zookeeper"),
              struct.pack(">ii", -2, Op.PING),
              struct.pack(">ii", 2, Op.WHO_AM_I)]
    c.send_raw(b"".join(struct.pack(">i", len(f)) + f for f in frames))
    first = c.recv_frame()
    t.expect("connect response first", len(first), 37)
    seen = []
    for _ in range(4):
        rep = c._read_one()
        seen.append((rep.xid, rep.err))
    t.expect("replies in order", seen, [(-4, 0), (1, 0), (-2, 0), (2, 0)])
    c.close()


def test_pipelined_handshake(diff):
    diff(scenario_pipelined_handshake)
