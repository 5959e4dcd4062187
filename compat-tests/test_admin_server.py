"""The AdminServer (HTTP, `admin.*`) against Apache ZooKeeper 3.9.5's (Jetty) on the same
requests: every command's JSON keys and value types (nested objects and connection rows
too), the values both must agree on, the command list, unknown commands, the resets
(srst/crst) really zeroing counters, the trace mask (HTTP and the gtmk/stmk words), and
bad HTTP input leaving the server up. A standalone ferrokeeper whose admin port is taken
exits with Java's code 4.

HTTPS (`admin.forceHttps`, `admin.portUnification`, `admin.needClientAuth`, the stores
from `ssl.quorum.*`, JKS made by keytool) against 3.9.5 with the same zoo.cfg: the same
answers and Strict-Transport-Security header over HTTPS; HTTP and HTTPS on a unified port;
a plain HTTP request to an HTTPS-only port gets a TLS alert, not an answer (both keys set:
HTTPS only, as Java); with needClientAuth no certificate or one of another CA is refused
and one of the trusted CA is served (on a unified port plain HTTP is still served); both
servers serving on. Unusable stores: ferrokeeper refuses to start, 3.9.5 runs without its
AdminServer.

Each side is a standalone server with `admin.enableServer=true` on a free loopback port;
the same client activity (kazoo: a node, an ephemeral, a data watch) is made on both
before the commands are read.
"""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

import tls_pki
import zkraw
from ensemble import ensemble_factory  # noqa: F401  (a fixture)
from harness import ferro_binary, java_missing, wait_until

pytestmark = pytest.mark.xdist_group("admin")

# Commands whose every value depends on the moment or the process (compared by shape only).
SHAPE_ONLY = {"environment", "system_properties", "initial_configuration", "hash", "last_snapshot"}
# Keys whose values are the process's own (sizes, times, ids, versions).
VOLATILE = {
    "version", "uptime", "data_dir_size", "log_dir_size", "datadir_size", "logdir_size", "remote_socket_address",
    "session_id", "established", "last_response_time", "last_latency", "min_latency", "avg_latency",
    "max_latency", "data_dir", "data_log_dir", "client_port", "last_processed_zxid", "packets_received",
    "packets_sent", "last_buffer_size", "min_buffer_size", "max_buffer_size", "open_file_descriptor_count",
    "max_file_descriptor_count", "approximate_data_size", "node_count", "znode_count", "last_cxid", "last_zxid",
    "expiry_time_to_session_ids", "session_id_to_ephemeral_paths", "session_id_to_watched_paths",
    "path_to_session_ids", "max_client_cnxns", "interest_ops", "server_id", "last_operation",
}


def admin_server(server_pool, kind, **extra):
    """A standalone server of `kind` with its AdminServer on a free loopback port
    (`srv.admin_port`); a missing Java reference fails, it is not skipped."""
    if kind != "ferro" and java_missing(kind):
        pytest.fail(java_missing(kind), pytrace=False)
    port = zkraw.free_port("127.0.0.1")
    srv = server_pool.get(kind, **{"admin.enableServer": "true", "admin.serverAddress": "127.0.0.1",
                                   "admin.serverPort": port, **extra})
    srv.admin_port = port
    return srv


def get(srv, path, method="GET"):
    """(status, content type, body text) of an admin request."""
    req = urllib.request.Request(f"http://127.0.0.1:{srv.admin_port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def command(srv, name):
    status, ctype, body = get(srv, f"/commands/{name}")
    assert status == 200 and ctype.startswith("application/json"), (srv.kind, name, status, ctype, body)
    return json.loads(body)


def shape(v):
    """A JSON value's shape: keys and types, recursively (lists by their first item)."""
    if isinstance(v, dict):
        if v and all(k.lstrip("-").isdigit() or k.startswith("/") for k in v):
            # a map keyed by session ids, times or paths: the shape of one entry (a non-empty
            # one: Java's session expiry queue keeps a bucket its sessions moved out of
            # until that bucket's time comes, so `dump` can list an empty one)
            entries = list(v.values())
            return {"*": shape(next((x for x in entries if x not in ([], {})), entries[0]))}
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    if isinstance(v, bool) or v is None:
        return type(v).__name__
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def values(v):
    """The values both servers must agree on: volatile keys dropped."""
    if isinstance(v, dict):
        return {k: values(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [values(x) for x in v]
    return v


@pytest.fixture(scope="module")
def pair(server_pool):
    """The two admin servers, each with the same client activity; the clients stay open."""
    servers = [admin_server(server_pool, "zk39"), admin_server(server_pool, "ferro")]
    clients = []
    from kazoo.client import KazooClient
    for srv in servers:
        c = KazooClient(srv.hostport, timeout=10)
        c.start(timeout=20)
        root = f"/admin-{srv.kind}"
        if not c.exists(root):
            c.create(root, b"r")
        c.ensure_path(f"{root}/n")
        c.create(f"{root}/e", b"", ephemeral=True)
        c.get(f"{root}/n", watch=lambda e: None)
        clients.append(c)
    yield servers
    for c in clients:
        c.stop()
        c.close()


def test_commands_answer_as_zookeeper_3_9_5(pair):
    zk39, ferro = pair
    names = ["ruok", "server_stats", "stats", "connections", "configuration", "is_read_only", "dirs", "dump",
             "watch_summary", "watches", "watches_by_path", "monitor", "leader", "voting_view", "zabstate",
             "observers", "get_trace_mask", "last_snapshot", "hash", "initial_configuration", "environment",
             "srvr", "cons", "wchs", "isro", "lead", "mntr", "no_such_command"]
    for name in names:
        j, f = command(zk39, name), command(ferro, name)
        if name in ("monitor", "mntr"):
            # Java's metrics provider adds ~150 keys ferrokeeper does not keep; every key
            # ferrokeeper writes is one Java writes, with the same type.
            js, fs = shape(j), shape(f)
            extra = sorted(set(fs) - set(js))
            assert not extra, f"{name}: keys Java does not have: {extra}"
            for k in fs:
                assert fs[k] == js[k], (name, k, fs[k], js[k])
            for k in ("server_state", "znode_count", "watch_count", "ephemerals_count", "global_sessions",
                      "num_alive_connections", "outstanding_requests"):
                assert k in f, (name, k)
            continue
        if name in ("environment",):
            assert f.pop("command") == "environment" and f.pop("error") is None, f
            assert set(shape(f).values()) == {"str"} and {"zookeeper.version", "host.name", "user.dir"} <= set(f), f
            continue
        if name not in SHAPE_ONLY:
            # outstanding_requests (the server's, a connection's) counts a request in flight:
            # the clients' kazoo sessions ping every ~3 s, and an answer may catch one. Ask
            # both again (bounded) until they agree.
            deadline = time.monotonic() + 10
            while values(f) != values(j) and time.monotonic() < deadline:
                time.sleep(0.2)
                j, f = command(zk39, name), command(ferro, name)
        assert shape(f) == shape(j), f"{name}: shape differs\nzk39:  {shape(j)}\nferro: {shape(f)}"
        if name not in SHAPE_ONLY:
            assert values(f) == values(j), f"{name}: values differ\nzk39:  {values(j)}\nferro: {values(f)}"
    # What the volatile keys must still say.
    for srv in pair:
        d = command(srv, "dump")
        root = f"/admin-{srv.kind}"
        assert list(d["session_id_to_ephemeral_paths"].values()) == [[f"{root}/e"]], (srv.kind, d)
        w = command(srv, "watches")
        assert list(w["session_id_to_watched_paths"].values()) == [[f"{root}/n"]], (srv.kind, w)
        c = command(srv, "connections")["connections"]
        assert len(c) == 1 and c[0]["session_timeout"] == 10000, (srv.kind, c)
        conf = command(srv, "configuration")
        assert conf["client_port"] == srv.port and conf["data_dir"].endswith("/data/version-2"), (srv.kind, conf)
        s = command(srv, "server_stats")
        assert s["server_stats"]["num_alive_client_connections"] == 1, (srv.kind, s)
        assert command(srv, "initial_configuration")["initial_configuration"] == open(srv.cfg_path).read()
        assert int(command(srv, "last_snapshot")["zxid"], 16) >= 0


def test_exact_text_and_command_list(pair):
    zk39, ferro = pair
    for path in ("/commands/ruok", "/commands/nope", "/commands/is_read_only", "/commands/watch_summary"):
        assert get(ferro, path) == get(zk39, path), path
    j, f = get(zk39, "/commands"), get(ferro, "/commands")
    assert f[0] == j[0] == 200
    assert f[2] == j[2], "the command links"
    assert get(ferro, "/commands/")[2] == f[2]
    assert get(ferro, "/elsewhere")[0] == get(zk39, "/elsewhere")[0] == 404


def test_resets_zero_the_counters(pair):
    for srv in pair:
        c = zkraw.ZkRaw("127.0.0.1", srv.port)
        c.handshake(timeout_ms=10000)
        for _ in range(3):
            c.exists("/")
        assert command(srv, "server_stats")["server_stats"]["packets_received"] > 0
        # The pair's kazoo session pings every ~3 s: a ping between a reset and the read
        # that follows counts again. Reset and read once more (bounded) when one did.
        for _ in range(5):
            assert command(srv, "stat_reset") == {"command": "stat_reset", "error": None}
            received = command(srv, "server_stats")["server_stats"]["packets_received"]
            if received == 0:
                break
        assert received == 0, srv.kind
        for _ in range(5):
            assert command(srv, "connection_stat_reset") == {"command": "connection_stat_reset", "error": None}
            rows = command(srv, "connections")["connections"]
            if rows and all(r["packets_received"] == 0 and r["last_cxid"] == -1 for r in rows):
                break
        assert rows and all(r["packets_received"] == 0 and r["last_cxid"] == -1 for r in rows), (srv.kind, rows)
        c.close()


def four_letter(srv, word, extra=b""):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(word + extra)
        out = b""
        while True:
            b = s.recv(4096)
            if not b:
                return out
            out += b


# Keys ferrokeeper leaves out (docs/compatibility.md): Java's JvmPauseMonitor (no JVM, no
# pauses to time), and the per-namespace summaries (a key per top-level znode: ferrokeeper
# keeps no metric keyed by client data).
NOT_KEPT = re.compile(r"^zk_(avg|min|max|cnt|sum|p50|p95|p99|p999)_"
                      r"(jvm_pause_time_ms|.+_(read|write)_per_namespace)$")


def mntr_map(srv):
    text = four_letter(srv, b"mntr").decode()
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


def number_kind(v):
    if re.fullmatch(r"-?\d+", v):
        return "int"
    if re.fullmatch(r"-?\d+\.\d+(E-?\d+)?", v):
        return "double"
    return "text"


def test_mntr_lists_javas_metrics_and_srst_resets_them(server_pool):
    """3.9.5's mntr: the server's values, then every metric its default metrics provider
    registered (a counter as its name, a summary as avg_/min_/max_/cnt_/sum_ and the
    percentiles): the same keys and number kinds from ferrokeeper, the latencies measured by
    both, and srst zeroes them (ServerStats.reset -> resetAllValues)."""
    from kazoo.client import KazooClient
    servers = [admin_server(server_pool, kind, globalOutstandingLimit="1001") for kind in ("zk39", "ferro")]
    maps = {}
    for srv in servers:
        c = KazooClient(srv.hostport, timeout=10)
        c.start(timeout=20)
        try:
            c.ensure_path("/mntr-keys/a")
            c.set("/mntr-keys/a", b"x")
            c.get("/mntr-keys/a")
        finally:
            c.stop()
            c.close()
        maps[srv.kind] = mntr_map(srv)
    j, f = maps["zk39"], maps["ferro"]
    java = {k for k in j if not NOT_KEPT.match(k)}
    assert set(f) == java, (sorted(java - set(f)), sorted(set(f) - java))
    for k in f:
        assert number_kind(f[k]) == number_kind(j[k]), (k, f[k], j[k])
    for kind, m in maps.items():
        assert int(m["zk_cnt_updatelatency"]) >= 2, (kind, m["zk_cnt_updatelatency"])
        assert int(m["zk_max_updatelatency"]) >= int(m["zk_min_updatelatency"]) >= 0, kind
        assert int(m["zk_cnt_readlatency"]) >= 1, (kind, m["zk_cnt_readlatency"])
    for srv in servers:
        four_letter(srv, b"srst")
        m = mntr_map(srv)
        assert (m["zk_cnt_updatelatency"], m["zk_avg_updatelatency"], m["zk_max_updatelatency"]) == \
            ("0", "0.0", "0"), (srv.kind, {k: v for k, v in m.items() if "updatelatency" in k})


def test_dropped_connections_and_expired_sessions_count_as_java(server_pool):
    """connection_drop_count: a client that closes its socket (Java's handleFailedRead),
    not one that closed its session first nor a 4lw; stale_sessions_expired: each session
    the tracker expires. The same deltas from 3.9.5 and ferrokeeper."""
    deltas = {}
    for kind in ("zk39", "ferro"):
        srv = admin_server(server_pool, kind, globalOutstandingLimit="1002")
        before = mntr_map(srv)

        def grew(key, by):
            return int(mntr_map(srv)[key]) - int(before[key]) >= by
        clean = zkraw.connect("127.0.0.1", srv.port, timeout_ms=4000)
        # closeSession first: not a drop. The server closes the socket after its answer;
        # closing ours before it has (a plain close()) races Java's own close and is
        # sometimes counted as a drop there.
        assert clean.call(zkraw.Op.CLOSE_SESSION).err == 0
        assert clean.wait_closed(10), kind
        clean.drop()
        dropped = zkraw.connect("127.0.0.1", srv.port, timeout_ms=4000)
        dropped.drop()  # the socket just closes; the session lives on until it expires
        socket.create_connection(("127.0.0.1", srv.port), timeout=5).close()  # no bytes at all
        assert wait_until(lambda: grew("zk_stale_sessions_expired", 1), 30), (kind, mntr_map(srv))
        time.sleep(1)
        after = mntr_map(srv)
        deltas[kind] = {k: int(after[k]) - int(before[k])
                        for k in ("zk_connection_drop_count", "zk_stale_sessions_expired")}
    assert deltas["ferro"] == deltas["zk39"], deltas
    assert deltas["ferro"] == {"zk_connection_drop_count": 2, "zk_stale_sessions_expired": 1}, deltas


def test_trace_mask(pair):
    for srv in pair:
        assert command(srv, "get_trace_mask")["tracemask"] == 306, srv.kind
        assert four_letter(srv, b"gtmk") == b"306", srv.kind
        r = command(srv, "set_trace_mask?traceMask=82")
        assert r == {"tracemask": 82, "command": "set_trace_mask", "error": None}, (srv.kind, r)
        assert four_letter(srv, b"gtmk") == b"82"
        assert four_letter(srv, b"stmk", struct.pack(">q", 306)) == b"306"
        assert command(srv, "gtmk")["tracemask"] == 306
        bad = command(srv, "set_trace_mask?traceMask=x")
        assert bad["error"] == "setTraceMask requires long traceMask argument, got x", (srv.kind, bad)
        assert command(srv, "set_trace_mask")["error"] == "setTraceMask requires long traceMask argument"


def raw_http(srv, data):
    with socket.create_connection(("127.0.0.1", srv.admin_port), timeout=10) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                out += b
        except OSError:
            pass
        return out


def test_bad_http_input_leaves_the_server_up(pair):
    _, ferro = pair
    assert raw_http(ferro, b"\x00\xff garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw_http(ferro, b"GET /commands/ruok HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n").startswith(
        b"HTTP/1.1 431")
    assert raw_http(ferro, b"GET /commands/ruok").startswith(b"HTTP/1.1 400")  # no blank line, then EOF
    assert raw_http(ferro, b"DELETE /commands/ruok HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405")
    assert get(ferro, "/commands/snapshot")[0] == 401
    # idle connections do not keep others out
    idle = [socket.create_connection(("127.0.0.1", ferro.admin_port), timeout=10) for _ in range(100)]
    try:
        assert command(ferro, "ruok") == {"command": "ruok", "error": None}
    finally:
        for s in idle:
            s.close()
    assert command(ferro, "ruok") == {"command": "ruok", "error": None}
    assert zkraw.ZkRaw("127.0.0.1", ferro.port).handshake(timeout_ms=10000) is not None


def test_admin_port_in_use_stops_a_standalone_server():
    """As Java's ZooKeeperServerMain: "Unable to start AdminServer, exiting abnormally", exit 4."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        d = tempfile.mkdtemp(prefix="compat-admin-")
        cfg = os.path.join(d, "zoo.cfg")
        port = zkraw.free_port("127.0.0.1")
        with open(cfg, "w") as f:
            f.write(f"tickTime=2000\ndataDir={d}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
                    f"admin.serverAddress=127.0.0.1\nadmin.serverPort={taken.getsockname()[1]}\n")
        p = subprocess.run([ferro_binary(), cfg], capture_output=True, text=True, timeout=60)
        assert p.returncode == 4, (p.returncode, p.stderr[-2000:])
        assert "Unable to start AdminServer" in p.stderr, p.stderr[-2000:]
        zkraw.release_port(port)


def test_ensemble_commands_answer_as_zookeeper_3_9_5(ensemble_factory):
    """`leader`, `voting_view`, `zabstate`, `configuration`, `observers`, `is_read_only` on
    every member of a mixed ensemble (3.9.5 leader, a 3.9.5 and a ferrokeeper follower, a
    ferrokeeper observer): the same shapes, and the values the members must agree on."""
    if java_missing("zk39"):
        pytest.skip(java_missing("zk39"))
    from test_ensemble_mixed import start_led_by
    # no proxies: every member's zoo.cfg names the same ports, so their voting views agree
    ens = ensemble_factory(["ferro", "zk39", "zk39"], observers=["ferro"], tick_ms=500, start=False, admin=True,
                           proxy=False)
    leader = start_led_by(ens, 3)
    assert leader.kind == "zk39"

    by_name = {}
    for m in ens.members:
        for name in ("leader", "voting_view", "zabstate", "observers", "is_read_only", "configuration"):
            by_name.setdefault(name, []).append((m, command(m, name)))
    # ferrokeeper's follower and observer against 3.9.5's follower (member 2)
    for name, answers in by_name.items():
        java = next(a for m, a in answers if m.sid == 2)
        for m, a in answers:
            if m.kind == "ferro":
                assert shape(a) == shape(java), f"{name} on {m!r}: {shape(a)} vs 3.9.5's {shape(java)}"
    for m, a in by_name["leader"]:
        assert (a["is_leader"], a["leader_id"], a["leader_ip"]) == (m is leader, 3, "127.0.0.1"), (m, a)
    # the participants only; a member's own entry carries its client address
    views = []
    for m, a in by_name["voting_view"]:
        v = a["current_config"]
        assert sorted(v) == ["1", "2", "3"], (m, v)
        if not m.observer:
            assert v[str(m.sid)]["client_address"] == f"127.0.0.1:{m.client_port}", (m, v)
            v[str(m.sid)]["client_address"] = ""
        views.append(v)
    assert all(v == views[0] for v in views), "\n".join(json.dumps(v, sort_keys=True) for v in views)
    for m, a in by_name["zabstate"]:
        assert (a["myid"], a["is_leader"], a["voting"], a["zabstate"]) == (m.sid, m is leader, not m.observer,
                                                                           "broadcast"), (m, a)
    for m, a in by_name["configuration"]:
        assert a["server_id"] == m.sid, (m, a)
    # A snapshot from every member (/ is open to all: any digest id holds ALL on it); a
    # restore on a ferrokeeper member is refused (3.9.5 would restore that member alone,
    # diverging from the others' replicas) and the member serves on unchanged.
    for m in ens.members:
        status, headers, body = authorized(m, "snapshot")
        assert status == 200 and body[:4] == b"ZKSN", (m, status, body[:100])
        assert int(headers["snapshot_size"]) == len(body)
        if m.kind == "ferro":
            status, _, answer = authorized(m, "restore", body=body)
            assert status == 500 and "standalone" in json.loads(answer)["error"], (m, status, answer)
            assert command(m, "ruok") == {"command": "ruok", "error": None}


def authorized(srv, name, body=None):
    """(status, headers, body bytes) of a command sent with a digest Authorization
    header (POST when there is a body)."""
    from test_admin_snapshot import call
    return call(srv, name, auth="digest anyone:pw", method="POST" if body is not None else "GET", body=body)


# --- HTTPS ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="compat-admin-tls-")
    yield tls_pki.make_pki(d)
    shutil.rmtree(d, ignore_errors=True)


def https_pair(server_pool, pki, **keys):
    """3.9.5 and ferrokeeper with the same admin.* keys and the quorum's JKS stores."""
    cfg = {"ssl.quorum.keyStore.location": pki.keystore_jks, "ssl.quorum.keyStore.password": pki.password,
           "ssl.quorum.trustStore.location": pki.truststore_jks, "ssl.quorum.trustStore.password": pki.password,
           **keys}
    return [admin_server(server_pool, kind, **cfg) for kind in ("zk39", "ferro")]


def tls_context(pki, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=pki.ca_pem)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def https_get(srv, path, ctx):
    """(status, content type, Strict-Transport-Security, body) over HTTPS (plain HTTP when
    ctx is None)."""
    if ctx is None:
        conn = http.client.HTTPConnection("127.0.0.1", srv.admin_port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", srv.admin_port, context=ctx, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.getheader("Strict-Transport-Security"), r.read().decode()
    finally:
        conn.close()


def https_refused(srv, ctx):
    try:
        answer = https_get(srv, "/commands/ruok", ctx)
    except (OSError, http.client.HTTPException):  # ssl.SSLError is an OSError
        return True
    raise AssertionError(f"{srv.kind} answered {answer}")


def plain_get_full(srv, path):
    """(status, content type, Strict-Transport-Security, body) over plain HTTP."""
    return https_get(srv, path, None)


def still_serving(srv, ctx):
    assert json.loads(https_get(srv, "/commands/ruok", ctx)[3]) == {"command": "ruok", "error": None}, srv.kind
    assert zkraw.ZkRaw("127.0.0.1", srv.port).handshake(timeout_ms=10000) is not None, srv.kind


PLAIN_REQUEST = b"GET /commands/ruok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_force_https(server_pool, pki):
    """admin.forceHttps: the same answers over HTTPS, with Jetty's STS header; a plain HTTP
    request gets a fatal TLS alert record and the connection closes (3.9.5 sends
    internal_error, ferrokeeper decode_error), never an HTTP answer."""
    zk39, ferro = https_pair(server_pool, pki, **{"admin.forceHttps": "true"})
    ctx = tls_context(pki)
    for path in ("/commands/ruok", "/commands/is_read_only", "/commands/nope", "/commands/get_trace_mask"):
        j, f = https_get(zk39, path, ctx), https_get(ferro, path, ctx)
        assert f == j, (path, j, f)
    assert j[2] == "max-age=86400; includeSubDomains"
    j, f = https_get(zk39, "/commands/configuration", ctx), https_get(ferro, "/commands/configuration", ctx)
    assert j[:3] == f[:3] and shape(json.loads(f[3])) == shape(json.loads(j[3]))
    for srv in (zk39, ferro):
        for data in (PLAIN_REQUEST, b"\x00\xff garbage\r\n\r\n"):
            out = raw_http(srv, data)
            assert b"HTTP/" not in out and b"ruok" not in out, (srv.kind, out)
            # an alert record (type 21), TLS 1.2 record version, 2 bytes: fatal
            assert out[:5] == b"\x15\x03\x03\x00\x02" and out[5] == 2, (srv.kind, out)
        # no client certificate is asked for
        assert https_get(srv, "/commands/ruok", tls_context(pki, pki.rogue_cert, pki.rogue_key))[0] == 200
        still_serving(srv, ctx)
    # connections that never start their handshake do not keep others out
    idle = [socket.create_connection(("127.0.0.1", ferro.admin_port), timeout=10) for _ in range(100)]
    try:
        still_serving(ferro, ctx)
    finally:
        for s in idle:
            s.close()


def test_port_unification(server_pool, pki):
    """admin.portUnification: HTTP and HTTPS on the one port, the STS header on HTTPS only."""
    zk39, ferro = https_pair(server_pool, pki, **{"admin.portUnification": "true"})
    ctx = tls_context(pki)
    for path in ("/commands/ruok", "/commands/is_read_only", "/commands/nope"):
        js, fs = https_get(zk39, path, ctx), https_get(ferro, path, ctx)
        assert fs == js and js[2] == "max-age=86400; includeSubDomains", (path, js, fs)
        jp, fp = plain_get_full(zk39, path), plain_get_full(ferro, path)
        assert fp == jp and jp[2] is None and jp[3] == js[3], (path, jp, fp)
    for srv in (zk39, ferro):
        assert raw_http(srv, b"\x00\xff garbage\r\n\r\n").startswith(b"HTTP/1.1 400"), srv.kind
        still_serving(srv, ctx)


def test_need_client_auth(server_pool, pki):
    """admin.needClientAuth (with forceHttps and portUnification both set: HTTPS only, as
    Java's forceHttps wins): no certificate, or one of another CA, is refused in the
    handshake; one from the trusted CA (ssl.quorum.trustStore) is served."""
    zk39, ferro = https_pair(server_pool, pki, **{"admin.forceHttps": "true", "admin.portUnification": "true",
                                                  "admin.needClientAuth": "true"})
    trusted = tls_context(pki, pki.client_cert, pki.client_key)
    for srv in (zk39, ferro):
        assert https_refused(srv, tls_context(pki))
        assert https_refused(srv, tls_context(pki, pki.rogue_cert, pki.rogue_key))
        assert https_refused(srv, tls_context(pki, pki.expired_cert, pki.expired_key))
        out = raw_http(srv, PLAIN_REQUEST)
        assert b"HTTP/" not in out and out[:1] == b"\x15", (srv.kind, out)
        still_serving(srv, trusted)
    assert https_get(ferro, "/commands/ruok", trusted) == https_get(zk39, "/commands/ruok", trusted)


def test_need_client_auth_on_a_unified_port_guards_https_only(server_pool, pki):
    """portUnification + needClientAuth: HTTPS needs a trusted certificate, plain HTTP is
    served without one (Java's UnifiedConnectionFactory hands plain connections on)."""
    zk39, ferro = https_pair(server_pool, pki, **{"admin.portUnification": "true", "admin.needClientAuth": "true"})
    trusted = tls_context(pki, pki.client_cert, pki.client_key)
    for srv in (zk39, ferro):
        assert https_refused(srv, tls_context(pki))
        assert plain_get_full(srv, "/commands/ruok")[0] == 200, srv.kind
        still_serving(srv, trusted)


def admin_listening(srv):
    try:
        socket.create_connection(("127.0.0.1", srv.admin_port), timeout=5).close()
        return True
    except OSError:
        return False


def test_unusable_stores(server_pool, pki, tmp_path):
    """3.9.5 logs "Unable to start JettyAdminServer" and serves on without an AdminServer;
    ferrokeeper refuses to start, naming the key or the file."""
    for broken in ({"ssl.quorum.keyStore.password": "wrong-password"},
                   # the trust store is loaded even without needClientAuth
                   {"ssl.quorum.trustStore.location": None}):
        zk39 = admin_server(server_pool, "zk39", **{
            "admin.forceHttps": "true", "ssl.quorum.keyStore.location": pki.keystore_jks,
            "ssl.quorum.keyStore.password": pki.password, "ssl.quorum.trustStore.location": pki.truststore_jks,
            "ssl.quorum.trustStore.password": pki.password, **broken})
        assert zkraw.ZkRaw("127.0.0.1", zk39.port).handshake(timeout_ms=10000) is not None
        assert not admin_listening(zk39), broken
        assert "Unable to start JettyAdminServer" in open(zk39.log_path, errors="replace").read(), broken

    port, admin = zkraw.free_port("127.0.0.1"), zkraw.free_port("127.0.0.1")
    good = {"ssl.quorum.keyStore.location": pki.keystore_jks, "ssl.quorum.keyStore.password": pki.password,
            "ssl.quorum.trustStore.location": pki.truststore_jks, "ssl.quorum.trustStore.password": pki.password}
    try:
        for keys, expect in (
            ({"admin.forceHttps": "true", "ssl.quorum.keyStore.password": "wrong-password"}, "password"),
            ({"admin.portUnification": "true", "ssl.quorum.trustStore.location": None},
             "ssl.quorum.trustStore.location is not set"),
            ({"admin.forceHttps": "true", "ssl.quorum.trustStore.location": str(tmp_path / "missing.jks")},
             "missing.jks"),
            ({"admin.forceHttps": "true", "admin.needClientAuth": "true",
              "ssl.quorum.trustStore.password": "wrong-password"}, "password"),
        ):
            cfg = {**good, **keys}
            lines = [f"{k}={v}" for k, v in cfg.items() if v is not None]
            (tmp_path / "zoo.cfg").write_text(
                f"dataDir={tmp_path}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
                f"admin.serverAddress=127.0.0.1\nadmin.serverPort={admin}\n" + "\n".join(lines) + "\n")
            p = subprocess.run([ferro_binary(), str(tmp_path / "zoo.cfg")], capture_output=True, text=True,
                               timeout=30)
            out = p.stdout + p.stderr
            assert p.returncode != 0 and "AdminServer HTTPS" in out and expect in out, (keys, p.returncode, out)
    finally:
        zkraw.release_port(port)
        zkraw.release_port(admin)
