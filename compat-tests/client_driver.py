"""Running a compiled/installed client program (test_client_go.py, test_client_node.py).

A program prints "CHECK name value" lines and ends with "DONE" (or "FAIL why"). For the
reconnect scenario it also prints "WAIT <action>" and blocks reading stdin: the test does
the action (drop/heal a proxy link, restart the server) and answers "done <action>".

`reconnect_rig(kind)` gives what the reconnect scenario needs: a server of that kind of
its own (restarting a shared one would disturb the other tests of the worker) and a TCP
proxy link in front of it.
"""

import os
import queue
import subprocess
import tempfile
import threading
import time

import netproxy
from conftest import ServerHandle


def checks(lines):
    """{name: value} of the program's "CHECK name value" lines."""
    got = {}
    for line in lines:
        if line.startswith("CHECK "):
            _, name, value = (line.split(" ", 2) + [""])[:3]
            got[name] = value
    return got


def run_program(cmd, actions=None, timeout=240, cwd=None, env=None):
    """Run cmd; on each "WAIT x" line call actions[x]() and answer "done x". Returns
    (returncode, stdout lines, stderr text). Kills the program (its own PID) at the
    deadline."""
    actions = actions or {}
    errf = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf,
                            text=True, cwd=cwd, env=env)
    lines_q = queue.Queue()

    def reader():
        for line in proc.stdout:
            lines_q.put(line.rstrip("\n"))
        lines_q.put(None)

    threading.Thread(target=reader, daemon=True).start()
    lines = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                lines.append(f"(test: killed after {timeout}s)")
                break
            try:
                line = lines_q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                break
            lines.append(line)
            if line.startswith("WAIT "):
                what = line[5:]
                actions[what]()
                lines.append(f"(test: did {what})")
                proc.stdin.write(f"done {what}\n")
                proc.stdin.flush()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        errf.seek(0)
        stderr = errf.read()
        errf.close()
    return proc.returncode, lines, stderr


class ReconnectRig:
    """A server of `kind` started here (same dataDir and port across restart()) and two
    proxy links to it: `link` for the client under test (drop() closes its connections
    and refuses new ones until heal()), `link2` for the program's second client.

    restart() cuts both links while the server is down and until it serves again: a Java
    server accepts connections before it has finished starting, and a session's reconnect
    that lands in that window sometimes never gets its ConnectResponse (seen on 3.8.0 and
    3.9.5 alike, ~1 run in 4 through the clients, go-zookeeper then waits for its
    20 s x 10 handshake deadline; a raw re-attach sent 0.5-1 s after the JVM was launched
    had no answer within 20 s, while later connections are closed until the server runs and
    then answered; ferrokeeper answers at once). The scenario is about the session
    surviving a restart, not that window.
    """

    def __init__(self, kind):
        self.server = ServerHandle(kind)
        self.link = self.link2 = None
        self.server.start()
        self.link = netproxy.Link(f"client-{kind}", self.server.port, connect_retry_s=1.0)
        self.link2 = netproxy.Link(f"client2-{kind}", self.server.port, connect_retry_s=1.0)

    @property
    def proxy_addr(self):
        return f"127.0.0.1:{self.link.port}"

    @property
    def proxy2_addr(self):
        return f"127.0.0.1:{self.link2.port}"

    def actions(self):
        return {"drop": self.drop, "heal": self.heal, "restart": self.restart}

    def drop(self):
        self.link.set_state(netproxy.DROP)

    def heal(self):
        self.link.set_state(netproxy.UP)

    def restart(self):
        """Both links dropped; stop (SIGTERM) and start again on the same dataDir (the
        port stays unless something else grabbed it meanwhile: the links follow); both
        links up once it serves."""
        for link in (self.link, self.link2):
            link.set_state(netproxy.DROP)
        self.server.stop()
        self.server.start()
        for link in (self.link, self.link2):
            link.target_port = self.server.port
            link.set_state(netproxy.UP)

    def describe(self):
        """For a failure message: the server's state and its log's tail."""
        proc = self.server.proc
        state = "running" if self.server.alive() else f"exited rc={proc.returncode if proc else None}"
        return (f"--- {self.server.kind} server {self.server.hostport} ({state}, dir {self.server.dir} "
                f"{'present' if os.path.isdir(self.server.dir) else 'GONE'}), log tail ---\n"
                + self.server.log_tail(30))

    def close(self):
        for link in (self.link, self.link2):
            if link is not None:
                link.close()
        self.server.cleanup()


def program_failure(rc, lines, stderr):
    return f"rc={rc}\n" + "\n".join(lines) + "\n--- stderr (tail) ---\n" + stderr[-4000:]
