"""TCP proxies between ensemble members, so a test can cut and heal links.

This machine has no netem/iptables, so member-to-member traffic goes through proxies in
the test process instead: member A's zoo.cfg names, for every other member B, the
listening ports of two proxy links A->B (quorum port, election port) that forward to B's
real ports (ensemble.py writes those configs). A test then cuts the links between chosen
members and heals them.

A link is in one of three states:
  up         bytes are forwarded both ways;
  blackhole  like a pulled cable: connections stay open (no FIN, no RST) but every byte
             is discarded, in both directions; new connections are accepted and then
             hear nothing. The peers find out only through their own timeouts
             (syncLimit, read timeouts), as on a real partition. On heal, every connection
             that lost bytes is closed (its stream has a hole; TCP would never deliver
             such a stream), so the peers reconnect;
  drop       like a rebooted switch that sends resets: existing connections are closed
             and new ones are closed as soon as they are accepted.

A proxy listens even while its target does not (member not started yet, or killed): an
accepted connection retries the target for connect_retry_s before it is closed, as the
member's own connect would have been refused and retried. (Without that, a Java learner
that reaches its new leader's proxy a moment before the leader listens takes the
accepted-then-closed connection for a broken leader and restarts the election, which
cost 5-15 s per election.)

Election links rewrite the dialer's initial message (QuorumCnxManager's `i64 protocol
version, i64 sid, i32 len, "host:port"`): the address a member names there is its own
election port, and a peer with the larger sid closes that connection and dials back to
exactly that address (Java's handleConnection → connectOne(sid, electionAddr), and
ferrokeeper's likewise). Unrewritten, that dial-back would bypass the proxy, and a cut
would leave an election connection up between the "separated" members. The proxy puts
the port of the reverse link there instead (as tools/ensemble's capture proxy does:
"EVENT rewrite" in the quorum captures).

Everything listens on 127.0.0.1, ports come from zkraw.free_port (the suite's machine-wide
reservation) and are released by close(). Threads are daemons; close() ends them.
"""

import socket
import struct
import threading
import time

import zkraw

HOST = "127.0.0.1"
UP, BLACKHOLE, DROP = "up", "blackhole", "drop"
STATES = (UP, BLACKHOLE, DROP)
BUF = 65536


def _close(sock):
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Conn:
    """One accepted connection and its upstream connection (None while blackholed)."""

    def __init__(self, link, down, up):
        self.link = link
        self.down = down  # accepted from the member that connected
        self.up = up  # to the target member (None while connecting, or blackholed)
        self.tainted = False  # has lost bytes (or was cut before it had an upstream)
        self.closed = False

    def close(self):
        self.closed = True
        _close(self.down)
        _close(self.up)

    def pump(self, src, dst):
        """Copy src -> dst until either side closes; discard while the link is not up."""
        try:
            while not self.closed:
                data = src.recv(BUF)
                if not data:
                    break
                with self.link.lock:
                    forward = self.link.state == UP and not self.tainted and dst is not None
                    if not forward:
                        self.tainted = True
                        self.link.dropped_bytes += len(data)
                if forward:
                    dst.sendall(data)
                    self.link.forwarded_bytes += len(data)
        except OSError:
            pass
        finally:
            self.link._forget(self)


class Link:
    """A proxy listening on 127.0.0.1:port, forwarding each connection to target_port."""

    def __init__(self, name, target_port, host=HOST, connect_retry_s=3.0):
        self.name = name
        self.connect_retry_s = connect_retry_s
        self.host = host
        self.target_port = target_port
        self.state = UP
        self.lock = threading.Lock()
        self.conns = set()
        self.accepted = 0
        self.forwarded_bytes = 0
        self.dropped_bytes = 0
        self._closed = False
        # For election links: a callable giving the "host:port" to put in the dialer's
        # initial message (the reverse link), or None to forward it untouched.
        self.rewrite_initial = None
        self.rewrites = 0
        self.port = zkraw.free_port(host)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((host, self.port))
            self.listener.listen(64)
        except OSError:
            self.listener.close()
            zkraw.release_port(self.port)
            raise
        self._thread = threading.Thread(target=self._accept_loop, name=f"proxy-{name}", daemon=True)
        self._thread.start()

    def __repr__(self):
        return f"<Link {self.name} :{self.port}->:{self.target_port} {self.state} conns={len(self.conns)}>"

    def _accept_loop(self):
        while not self._closed:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return  # listener closed
            self.accepted += 1
            threading.Thread(target=self._serve, args=(down,), daemon=True,
                             name=f"proxy-{self.name}-conn").start()

    def _serve(self, down):
        """Connect one accepted connection upstream and pump it (runs on its own thread)."""
        conn = _Conn(self, down, None)
        with self.lock:
            refuse = self._closed or self.state == DROP
            if not refuse:
                conn.tainted = self.state != UP
                self.conns.add(conn)
        if refuse:
            _close(down)
            return
        # The proxy listens even while its target does not (not started yet, killed):
        # where a direct connect would be refused and retried by the member, retry
        # upstream for a while before giving up, so the member does not take an accepted
        # and at once closed connection for a broken peer (Java's learner gives up on the
        # leader then, instead of retrying the connect).
        up = None
        deadline = time.monotonic() + self.connect_retry_s
        while not conn.closed and not conn.tainted:
            try:
                up = socket.create_connection((self.host, self.target_port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        with self.lock:
            attached = up is not None and not conn.closed and not conn.tainted
            if attached:
                conn.up = up
        if up is not None and not attached:
            _close(up)  # cut (or closed) while connecting: no upstream after all
        if conn.closed:
            return
        if not attached and not conn.tainted:
            self._forget(conn)  # the target never listened: end it as a refused connect would
            return
        if attached:
            up.settimeout(None)
            for s in (down, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=conn.pump, args=(up, down), daemon=True,
                             name=f"proxy-{self.name}-up").start()
            if self.rewrite_initial is not None and not self._rewrite_initial(conn, down, up):
                self._forget(conn)
                return
        conn.pump(down, conn.up)

    def _rewrite_initial(self, conn, down, up):
        """Read the dialer's initial message, put the reverse link's address in it and
        forward it (with whatever followed it); False if the connection ended first."""
        buf = b""
        want = 20
        try:
            while len(buf) < want:
                data = down.recv(BUF)
                if not data:
                    return False
                buf += data
                if len(buf) >= 8 and want == 20:
                    (version,) = struct.unpack(">q", buf[:8])
                    if version >= 0:
                        want = 8  # pre-3.5: the sid only
                        break
                if want == 20 and len(buf) >= 20:
                    (n,) = struct.unpack(">i", buf[16:20])
                    if not 0 < n <= 8192:
                        want = 0
                        break
                    want = 20 + n
            out = buf
            if want > 20:
                addr = self.rewrite_initial()
                if addr:
                    a = addr.encode()
                    out = buf[:16] + struct.pack(">i", len(a)) + a + buf[want:]
                    self.rewrites += 1
            with self.lock:
                forward = self.state == UP and not conn.tainted
                if not forward:
                    conn.tainted = True
                    self.dropped_bytes += len(buf)
            if forward:
                up.sendall(out)
                self.forwarded_bytes += len(buf)
            return True
        except OSError:
            return False

    def _forget(self, conn):
        with self.lock:
            self.conns.discard(conn)
        conn.close()  # one direction ended: end the other too

    def set_state(self, state):
        if state not in STATES:
            raise ValueError(f"link state {state!r} not in {STATES}")
        with self.lock:
            old, self.state = self.state, state
            if state == DROP:
                victims = list(self.conns)
            elif state == UP and old != UP:
                victims = [c for c in self.conns if c.tainted]
            else:
                victims = []
                if state == BLACKHOLE:
                    for c in self.conns:
                        c.tainted = True
            for c in victims:
                self.conns.discard(c)
        for c in victims:
            c.close()

    def close(self):
        with self.lock:
            self._closed = True
            victims = list(self.conns)
            self.conns.clear()
        _close(self.listener)
        for c in victims:
            c.close()
        self._thread.join(timeout=5)
        zkraw.release_port(self.port)


class NetProxy:
    """The links of one ensemble, keyed by (from_id, to_id, kind), kind a free label
    ("quorum", "election"). A cut between two members is both directions, all kinds."""

    def __init__(self):
        self.links = {}

    def add(self, src, dst, kind, target_port, connect_retry_s=3.0):
        key = (src, dst, kind)
        if key in self.links:
            raise ValueError(f"link {key} exists")
        link = Link(f"{src}->{dst}/{kind}", target_port, connect_retry_s=connect_retry_s)
        if kind == "election":
            def reverse(src=src, dst=dst):
                back = self.links.get((dst, src, "election"))
                return f"{HOST}:{back.port}" if back is not None else None
            link.rewrite_initial = reverse
        self.links[key] = link
        return link

    def port(self, src, dst, kind):
        return self.links[(src, dst, kind)].port

    def _between(self, a, b):
        return [l for (s, d, _), l in self.links.items() if (s, d) in ((a, b), (b, a))]

    def cut(self, a, b, mode=BLACKHOLE):
        """Cut every link between members a and b (both directions)."""
        for link in self._between(a, b):
            link.set_state(mode)

    def heal_link(self, a, b):
        for link in self._between(a, b):
            link.set_state(UP)

    def partition(self, *groups, mode=BLACKHOLE):
        """Cut every link between members of different groups; links inside a group are
        left as they are. Members in no group keep their links."""
        where = {}
        for i, g in enumerate(groups):
            for m in g:
                if m in where:
                    raise ValueError(f"member {m} is in two groups")
                where[m] = i
        for (s, d, _), link in self.links.items():
            if s in where and d in where and where[s] != where[d]:
                link.set_state(mode)

    def isolate(self, member, mode=BLACKHOLE):
        """Cut every link to and from one member."""
        for (s, d, _), link in self.links.items():
            if member in (s, d):
                link.set_state(mode)

    def heal(self):
        """Every link up again."""
        for link in self.links.values():
            link.set_state(UP)

    def states(self):
        return {k: l.state for k, l in self.links.items()}

    def close(self):
        for link in self.links.values():
            link.close()
        self.links.clear()
