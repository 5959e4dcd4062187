"""A small raw-protocol ZooKeeper client for exact, differential tests.

Only sockets + struct: every request is built by hand with the jute encoding
(zk-reference.md §0/§4), so a test can send any opcode, any xid, malformed bodies,
or frames in any order, and look at the exact reply header, the raw body bytes and
a parsed body. Watch notifications (xid -1) that arrive while waiting for a reply
are kept, in arrival order, in `ZkRaw.events`.

Single-threaded and synchronous: a reply is only read when a test asks for it, so
nothing happens behind the test's back (no automatic pings: keep waits well below
the session timeout or call `ping()`).
"""

import fcntl
import os
import random
import socket
import struct
import time
from collections import namedtuple

# --- constants -------------------------------------------------------------------

class Op:
    NOTIFICATION = 0
    CREATE = 1
    DELETE = 2
    EXISTS = 3
    GET_DATA = 4
    SET_DATA = 5
    GET_ACL = 6
    SET_ACL = 7
    GET_CHILDREN = 8
    SYNC = 9
    PING = 11
    GET_CHILDREN2 = 12
    CHECK = 13
    MULTI = 14
    CREATE2 = 15
    RECONFIG = 16
    CHECK_WATCHES = 17
    REMOVE_WATCHES = 18
    CREATE_CONTAINER = 19
    DELETE_CONTAINER = 20
    CREATE_TTL = 21
    MULTI_READ = 22
    AUTH = 100
    SET_WATCHES = 101
    SASL = 102
    GET_EPHEMERALS = 103
    GET_ALL_CHILDREN_NUMBER = 104
    SET_WATCHES2 = 105
    ADD_WATCH = 106
    WHO_AM_I = 107
    CREATE_SESSION = -10
    CLOSE_SESSION = -11
    ERROR = -1


class Err:
    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    NEWCONFIGNOQUORUM = -13
    RECONFIGINPROGRESS = -14
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    SESSIONCLOSEDREQUIRESASLAUTH = -124
    QUOTAEXCEEDED = -125
    THROTTLEDOP = -127


class Ev:
    NONE = -1
    NODE_CREATED = 1
    NODE_DELETED = 2
    NODE_DATA_CHANGED = 3
    NODE_CHILDREN_CHANGED = 4


class Flags:
    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6


class Perm:
    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


class WatcherType:
    CHILDREN = 1
    DATA = 2
    ANY = 3


class AddWatchMode:
    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

Stat = namedtuple(
    "Stat",
    "czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength numChildren pzxid",
)
ACL = namedtuple("ACL", "perms scheme id")
OPEN_ACL_UNSAFE = [ACL(Perm.ALL, "world", "anyone")]
READ_ACL_UNSAFE = [ACL(Perm.READ, "world", "anyone")]
CREATOR_ALL_ACL = [ACL(Perm.ALL, "auth", "")]

ConnectResponse = namedtuple("ConnectResponse", "protocolVersion timeOut sessionId passwd readOnly raw")
WatchEvent = namedtuple("WatchEvent", "type state path zxid")


class Reply:
    """One reply: header fields, raw body bytes and the parsed body (None when absent)."""

    __slots__ = ("xid", "zxid", "err", "body", "value", "op")

    def __init__(self, xid, zxid, err, body, value, op):
        self.xid, self.zxid, self.err, self.body, self.value, self.op = xid, zxid, err, body, value, op

    def __repr__(self):
        return f"Reply(op={self.op}, xid={self.xid}, zxid={self.zxid:#x}, err={self.err}, value={self.value!r})"


class ConnectionClosed(Exception):
    """The server closed the TCP connection."""


# --- jute encoding ---------------------------------------------------------------

class Writer:
    def __init__(self):
        self.parts = []

    def int(self, v):
        self.parts.append(struct.pack(">i", v))
        return self

    def long(self, v):
        self.parts.append(struct.pack(">q", v))
        return self

    def bool(self, v):
        self.parts.append(b"\x01" if v else b"\x00")
        return self

    def buffer(self, b):
        if b is None:
            return self.int(-1)
        self.int(len(b))
        self.parts.append(bytes(b))
        return self

    def ustring(self, s):
        if s is None:
            return self.int(-1)
        return self.buffer(s.encode("utf-8") if isinstance(s, str) else s)

    def strings(self, xs):
        if xs is None:
            return self.int(-1)
        self.int(len(xs))
        for x in xs:
            self.ustring(x)
        return self

    def acls(self, acl):
        if acl is None:
            return self.int(-1)
        self.int(len(acl))
        for a in acl:
            self.int(a.perms).ustring(a.scheme).ustring(a.id)
        return self

    def raw(self, b):
        self.parts.append(bytes(b))
        return self

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError(f"short body: need {n} at {self.pos}, have {len(self.data)}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def long(self):
        return struct.unpack(">q", self.take(8))[0]

    def bool(self):
        return self.take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        return self.take(n)

    def ustring(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def strings(self):
        n = self.int()
        if n < 0:
            return None
        return [self.ustring() for _ in range(n)]

    def stat(self):
        return Stat(*struct.unpack(">qqqqiiiqiiq", self.take(68)))

    def acls(self):
        n = self.int()
        if n < 0:
            return None
        out = []
        for _ in range(n):
            perms = self.int()
            out.append(ACL(perms, self.ustring(), self.ustring()))
        return out

    def at_end(self):
        return self.pos == len(self.data)


# request bodies ---------------------------------------------------------------------

def enc_path_watch(path, watch=False):
    return Writer().ustring(path).bool(watch).bytes()


def enc_path(path):
    return Writer().ustring(path).bytes()


def enc_create(path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0):
    return Writer().ustring(path).buffer(data).acls(acl).int(flags).bytes()


def enc_create_ttl(path, data=b"", acl=OPEN_ACL_UNSAFE, flags=Flags.PERSISTENT_WITH_TTL, ttl=1000):
    return Writer().ustring(path).buffer(data).acls(acl).int(flags).long(ttl).bytes()


def enc_delete(path, version=-1):
    return Writer().ustring(path).int(version).bytes()


def enc_set_data(path, data, version=-1):
    return Writer().ustring(path).buffer(data).int(version).bytes()


def enc_set_acl(path, acl, version=-1):
    return Writer().ustring(path).acls(acl).int(version).bytes()


def enc_check(path, version):
    return Writer().ustring(path).int(version).bytes()


def enc_auth(scheme, auth, type_=0):
    return Writer().int(type_).ustring(scheme).buffer(auth).bytes()


def enc_set_watches(relative_zxid, data=(), exist=(), child=()):
    return Writer().long(relative_zxid).strings(list(data)).strings(list(exist)).strings(list(child)).bytes()


def enc_set_watches2(relative_zxid, data=(), exist=(), child=(), persistent=(), recursive=()):
    w = Writer().long(relative_zxid)
    for xs in (data, exist, child, persistent, recursive):
        w.strings(list(xs))
    return w.bytes()


def enc_add_watch(path, mode):
    return Writer().ustring(path).int(mode).bytes()


def enc_watch_type(path, type_):
    return Writer().ustring(path).int(type_).bytes()


def enc_reconfig(joining=None, leaving=None, new_members=None, cur_config_id=-1):
    return Writer().ustring(joining).ustring(leaving).ustring(new_members).long(cur_config_id).bytes()


def enc_multi(ops):
    """ops: list of (opcode, body_bytes) where body is the sub-request record."""
    w = Writer()
    for op, body in ops:
        w.int(op).bool(False).int(-1).raw(body)
    w.int(-1).bool(True).int(-1)
    return w.bytes()


# response bodies --------------------------------------------------------------------

def _parse_multi(r):
    results = []
    while True:
        typ = r.int()
        done = r.bool()
        err = r.int()
        if done:
            break
        if typ == Op.ERROR:
            results.append(("error", r.int()))
        elif typ == Op.CREATE:
            results.append(("create", r.ustring()))
        elif typ in (Op.CREATE2, Op.CREATE_TTL, Op.CREATE_CONTAINER):
            results.append(("create2", r.ustring(), r.stat()))
        elif typ in (Op.DELETE, Op.CHECK):
            results.append(({Op.DELETE: "delete", Op.CHECK: "check"}[typ],))
        elif typ == Op.SET_DATA:
            results.append(("setData", r.stat()))
        elif typ == Op.GET_CHILDREN:
            results.append(("getChildren", sorted(r.strings())))
        elif typ == Op.GET_DATA:
            results.append(("getData", r.buffer(), r.stat()))
        else:
            results.append(("unknown", typ, err))
            break
    return results


def parse_body(op, body):
    """Parse a successful reply body for `op`; returns None for ops without a body."""
    if not body:
        return None
    r = Reader(body)
    if op == Op.CREATE:
        v = r.ustring()
    elif op in (Op.CREATE2, Op.CREATE_CONTAINER, Op.CREATE_TTL):
        v = (r.ustring(), r.stat())
    elif op in (Op.EXISTS, Op.SET_DATA, Op.SET_ACL):
        v = r.stat()
    elif op in (Op.GET_DATA, Op.RECONFIG):
        v = (r.buffer(), r.stat())
    elif op == Op.GET_ACL:
        v = (r.acls(), r.stat())
    elif op == Op.GET_CHILDREN:
        v = sorted(r.strings())  # server order is hash order: unspecified
    elif op == Op.GET_CHILDREN2:
        v = (sorted(r.strings()), r.stat())
    elif op == Op.SYNC:
        v = r.ustring()
    elif op in (Op.MULTI, Op.MULTI_READ):
        v = _parse_multi(r)
    elif op == Op.GET_ALL_CHILDREN_NUMBER:
        v = r.int()
    elif op == Op.GET_EPHEMERALS:
        v = sorted(r.strings())
    elif op == Op.WHO_AM_I:
        n = r.int()
        v = [(r.ustring(), r.ustring()) for _ in range(max(n, 0))]
    elif op == Op.ADD_WATCH:
        v = r.int()  # ErrorResponse{err}
    elif op == Op.SASL:
        v = r.buffer()
    else:
        return ("raw", body)
    return v


# --- the client -----------------------------------------------------------------------

class ZkRaw:
    """One TCP connection speaking the client protocol."""

    def __init__(self, host, port, timeout=10.0):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.xid = 0
        self.events = []          # WatchEvent, arrival order
        self.pending = {}         # xid -> Reply received while waiting for another xid
        self.session_id = 0
        self.passwd = bytes(16)
        self.negotiated_timeout = 0
        self.last_zxid = 0
        self.closed = False
        self.connect_response = None

    # -- framing --
    def send_frame(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for the server")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            raise ConnectionClosed("server closed the connection")
        self.buf += chunk

    def recv_frame(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < 4:
            self._fill(deadline)
        (n,) = struct.unpack(">i", self.buf[:4])
        while len(self.buf) < 4 + n:
            self._fill(deadline)
        frame = self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        return frame

    # -- handshake --
    def handshake(self, timeout_ms=30000, session_id=0, passwd=None, last_zxid=0,
                  read_only=False, send_read_only=True, protocol_version=0):
        w = Writer().int(protocol_version).long(last_zxid).int(timeout_ms).long(session_id)
        w.buffer(bytes(16) if passwd is None else passwd)
        if send_read_only:
            w.bool(read_only)
        self.send_frame(w.bytes())
        raw = self.recv_frame()
        r = Reader(raw)
        pv, to, sid, pw = r.int(), r.int(), r.long(), r.buffer()
        ro = r.bool() if not r.at_end() else None
        self.connect_response = ConnectResponse(pv, to, sid, pw, ro, raw)
        self.session_id, self.passwd, self.negotiated_timeout = sid, pw, to
        self.last_zxid = max(self.last_zxid, last_zxid)
        return self.connect_response

    # -- requests --
    def next_xid(self):
        self.xid += 1
        return self.xid

    def send(self, op, body=b"", xid=None):
        if xid is None:
            xid = self.next_xid()
        self.send_frame(struct.pack(">ii", xid, op) + body)
        return xid

    def _read_one(self, timeout=None):
        """Read one frame; notifications go to self.events. Returns the Reply or None."""
        frame = self.recv_frame(timeout)
        xid, zxid, err = struct.unpack(">iqi", frame[:16])
        body = frame[16:]
        if xid == XID_NOTIFICATION:
            r = Reader(body)
            self.events.append(WatchEvent(r.int(), r.int(), r.ustring(), zxid))
            return None
        if zxid > 0:
            self.last_zxid = max(self.last_zxid, zxid)
        return Reply(xid, zxid, err, body, None, None)

    def recv_reply(self, xid, op, timeout=None):
        if xid in self.pending:
            rep = self.pending.pop(xid)
        else:
            deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
            while True:
                rep = self._read_one(max(deadline - time.monotonic(), 0.001))
                if rep is None:
                    continue
                if rep.xid == xid:
                    break
                self.pending[rep.xid] = rep
        rep.op = op
        if rep.err == 0:
            rep.value = parse_body(op, rep.body)
        return rep

    def call(self, op, body=b"", xid=None, timeout=None):
        xid = self.send(op, body, xid)
        return self.recv_reply(xid, op, timeout)

    # -- events and closing --
    def wait_events(self, count, timeout=5.0):
        """Wait until at least `count` notifications are queued; return them all (not cleared)."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                rep = self._read_one(remaining)
            except socket.timeout:
                break
            if rep is not None:
                self.pending[rep.xid] = rep
        return list(self.events)

    def take_events(self, count=0, timeout=5.0, settle=0.0):
        """Wait for `count` events, then keep collecting until no new event arrived for
        `settle` seconds; return them all and clear the queue."""
        self.wait_events(count, timeout)
        while settle:
            n = len(self.events)
            self.wait_events(n + 1, settle)
            if len(self.events) == n:
                break
        evs, self.events = self.events, []
        return evs

    def wait_closed(self, timeout=5.0):
        """True if the server closes the connection within `timeout` (frames are discarded)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
                self.buf = b""
        except ConnectionClosed:
            return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        """Polite close: closeSession then drop the socket."""
        if not self.closed:
            try:
                self.call(Op.CLOSE_SESSION, timeout=5)
            except (OSError, ConnectionClosed, ValueError):
                pass
        self.drop()

    def drop(self):
        """Drop the TCP connection without closing the session."""
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    # -- convenience wrappers (each returns a Reply) --
    def ping(self):
        return self.call(Op.PING, xid=XID_PING)

    def auth(self, scheme, auth):
        return self.call(Op.AUTH, enc_auth(scheme, auth), xid=XID_AUTH)

    def create(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0, op=Op.CREATE):
        return self.call(op, enc_create(path, data, acl, flags))

    def create2(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0):
        return self.create(path, data, acl, flags, op=Op.CREATE2)

    def create_container(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=Flags.CONTAINER):
        return self.create(path, data, acl, flags, op=Op.CREATE_CONTAINER)

    def create_ttl(self, path, data=b"", ttl=1000, flags=Flags.PERSISTENT_WITH_TTL, acl=OPEN_ACL_UNSAFE):
        return self.call(Op.CREATE_TTL, enc_create_ttl(path, data, acl, flags, ttl))

    def delete(self, path, version=-1):
        return self.call(Op.DELETE, enc_delete(path, version))

    def exists(self, path, watch=False):
        return self.call(Op.EXISTS, enc_path_watch(path, watch))

    def get_data(self, path, watch=False):
        return self.call(Op.GET_DATA, enc_path_watch(path, watch))

    def set_data(self, path, data, version=-1):
        return self.call(Op.SET_DATA, enc_set_data(path, data, version))

    def get_acl(self, path):
        return self.call(Op.GET_ACL, enc_path(path))

    def set_acl(self, path, acl, version=-1):
        return self.call(Op.SET_ACL, enc_set_acl(path, acl, version))

    def get_children(self, path, watch=False):
        return self.call(Op.GET_CHILDREN, enc_path_watch(path, watch))

    def get_children2(self, path, watch=False):
        return self.call(Op.GET_CHILDREN2, enc_path_watch(path, watch))

    def sync(self, path):
        return self.call(Op.SYNC, enc_path(path))

    def multi(self, ops):
        return self.call(Op.MULTI, enc_multi(ops))

    def multi_read(self, ops):
        return self.call(Op.MULTI_READ, enc_multi(ops))

    def add_watch(self, path, mode):
        return self.call(Op.ADD_WATCH, enc_add_watch(path, mode))

    def check_watches(self, path, type_):
        return self.call(Op.CHECK_WATCHES, enc_watch_type(path, type_))

    def remove_watches(self, path, type_):
        return self.call(Op.REMOVE_WATCHES, enc_watch_type(path, type_))

    def set_watches(self, relative_zxid, data=(), exist=(), child=()):
        return self.call(Op.SET_WATCHES, enc_set_watches(relative_zxid, data, exist, child), xid=XID_SET_WATCHES)

    def set_watches2(self, relative_zxid, data=(), exist=(), child=(), persistent=(), recursive=()):
        return self.call(Op.SET_WATCHES2,
                         enc_set_watches2(relative_zxid, data, exist, child, persistent, recursive),
                         xid=XID_SET_WATCHES)

    def get_ephemerals(self, prefix):
        return self.call(Op.GET_EPHEMERALS, enc_path(prefix))

    def get_all_children_number(self, path):
        return self.call(Op.GET_ALL_CHILDREN_NUMBER, enc_path(path))

    def who_am_i(self):
        return self.call(Op.WHO_AM_I)

    def reconfig(self, joining=None, leaving=None, new_members=None, cur_config_id=-1):
        return self.call(Op.RECONFIG, enc_reconfig(joining, leaving, new_members, cur_config_id))

    def sasl(self, token):
        return self.call(Op.SASL, Writer().buffer(token).bytes())


def connect(host, port, timeout_ms=30000, **kw):
    """Open a connection and establish a new session."""
    c = ZkRaw(host, port)
    c.handshake(timeout_ms=timeout_ms, **kw)
    return c


def four_letter_word(host, port, word, timeout=10.0, with_local_port=False):
    """Send a 4lw and return the whole text reply (server closes after answering); with
    with_local_port, (reply, the local port of the socket that asked)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        local_port = s.getsockname()[1]
        s.sendall(word.encode() if isinstance(word, str) else word)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            chunks.append(b)
        text = b"".join(chunks).decode("utf-8", "replace")
        return (text, local_port) if with_local_port else text


def mntr(host, port, timeout=10.0):
    """mntr's answer as {key: value text}."""
    text = four_letter_word(host, port, "mntr", timeout)
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


# --- listening ports for the servers under test ------------------------------------------
#
# The old way (bind port 0, read the port, close, hand it to the server) races: between
# the close and the server's bind another pytest-xdist worker -- or a client socket, as
# the kernel hands out the same ephemeral range for outgoing connections -- can take the
# port. So server ports come from a range below Linux's ephemeral range, and each one is
# reserved machine-wide with a POSIX byte-range lock (one byte per port) on a shared lock
# file until it is released or the process exits. Every compat run on the machine (all
# workers, several suites at once) goes through this lock, so none hands out a port
# another still holds; a probe bind skips ports some other program is using.
# COMPAT_PORT_RANGE=LO-HI overrides the range.

_PORT_LOCK_PATH = "/tmp/ferrokeeper-compat-ports.lock"
_port_lock_fd = None
_held_ports = set()


def _port_range():
    raw = os.environ.get("COMPAT_PORT_RANGE", "20000-32000")
    lo, hi = (int(x) for x in raw.split("-"))
    if not 1024 <= lo < hi <= 65535:
        raise ValueError(f"COMPAT_PORT_RANGE={raw!r}: want LO-HI within 1024-65535")
    return lo, hi


def _port_lock_file():
    global _port_lock_fd
    if _port_lock_fd is None:
        # Never closed: closing any descriptor of the file drops all of this process's locks.
        _port_lock_fd = os.open(_PORT_LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o666)
    return _port_lock_fd


def free_port(host="127.0.0.1"):
    """Reserve a port for a server to listen on (release it with release_port)."""
    lo, hi = _port_range()
    fd = _port_lock_file()
    n = hi - lo
    # Workers start at different points of the range (fewer lock collisions to step over).
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    digits = "".join(ch for ch in worker if ch.isdigit())
    start = (int(digits) * 997 if digits else 0) + random.randrange(n)
    for i in range(n):
        port = lo + (start + i) % n
        if port in _held_ports:
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
        except OSError:
            continue  # another process holds it
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, port)
                continue  # in use by something outside the compat suite
        _held_ports.add(port)
        return port
    raise RuntimeError(f"no free port in {lo}-{hi}")


def release_port(port):
    """Give a port from free_port back (its server is stopped)."""
    if port in _held_ports:
        _held_ports.discard(port)
        fcntl.lockf(_port_lock_file(), fcntl.LOCK_UN, 1, port)


def bind_failed(log_text):
    """True if a server's startup log says its listening port was taken."""
    return "address already in use" in log_text.lower()
