"""Prometheus /metrics: ferrokeeper against Java 3.9.5's PrometheusMetricsProvider.

Both kinds run with the same zoo.cfg (metricsProvider.className = PrometheusMetricsProvider,
httpHost 127.0.0.1, a reserved httpPort), get the same deterministic workload, and are
scraped. Checked:
  - every family Java exports (jvm_* left out: ferrokeeper has no JVM; EXCEPTIONS below
    with their reasons) is in ours with the same TYPE and, where both have samples, the
    same label names; HELP is the name, as Java's;
  - the values a deterministic workload fixes (znode_count, ephemerals_count, watch_count,
    global_sessions, num_alive_connections, outstanding_requests, quorum_size, learners,
    synced_followers...) are equal;
  - the text parses with prometheus_client's parser, and in simpleclient 0.9.0's exact
    spelling (`{quantile="0.5",}`, `0.0`, the content type);
  - bad HTTP requests get Java's status codes and the endpoint keeps serving;
  - a taken metrics port stops the server from starting, as Java's;
  - the same on a 3-member ensemble of each kind (leader and follower gauges).

The Java side needs target/zk-3.9.5/lib with zookeeper-prometheus-metrics
(scripts/install-deps.sh).
"""

import glob
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient
from prometheus_client.parser import text_string_to_metric_families

import zkraw
from conftest import HOST, ServerHandle
from ensemble import PROMETHEUS_PROVIDER, ensemble_factory  # noqa: F401 (fixture)
from harness import ZK39_LIB, wait_until

# Families Java exports that ours lists without the same samples, and why.
EXCEPTIONS = {
    # SummarySets keyed by the path's top-level namespace (DataTree.updateReadStat/
    # updateWriteStat): one label value per namespace a client touches. ferrokeeper lists
    # the families (HELP/TYPE) but keeps no per-namespace summaries (unbounded label
    # values from client input, and a map lookup on every read and write).
    "read_per_namespace": "per-namespace summary set not kept",
    "write_per_namespace": "per-namespace summary set not kept",
}


def qp_size_keys(text, family="learner_handler_qp_size"):
    """The learner sids a leader's learner_handler_qp_size (or _qp_time_ms) is keyed by."""
    _, _, vals = families(text).get(family, (None, set(), {}))
    return sorted({dict(labels)["key"] for (_, labels) in vals if dict(labels).get("key")})


def java_has_prometheus():
    return bool(glob.glob(os.path.join(ZK39_LIB, "zookeeper-prometheus-metrics-*.jar")))


def metrics_cfg(port, **extra):
    cfg = {"metricsProvider.className": PROMETHEUS_PROVIDER,
           "metricsProvider.httpHost": HOST,
           "metricsProvider.httpPort": str(port)}
    cfg.update(extra)
    return cfg


class MetricsServer:
    def __init__(self, kind, **extra):
        if kind == "zk39" and not java_has_prometheus():
            pytest.fail(f"no zookeeper-prometheus-metrics jar in {ZK39_LIB} "
                        "(run scripts/install-deps.sh)", pytrace=False)
        self.metrics_port = zkraw.free_port(HOST)
        self.srv = ServerHandle(kind, metrics_cfg(self.metrics_port, **extra))
        self.kind = kind

    def start(self):
        self.srv.start()
        # the metrics endpoint may come up just after the client port
        wait_until(lambda: self.try_scrape() is not None, 30)
        return self

    def try_scrape(self):
        try:
            return scrape(HOST, self.metrics_port)
        except OSError:
            return None

    def cleanup(self):
        self.srv.cleanup()
        zkraw.release_port(self.metrics_port)


def http(port, raw_request, timeout=10):
    """Send raw bytes, return (status, headers text, body bytes)."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(raw_request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1"), body


def scrape(host, port, path="/metrics"):
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as r:
        return r.headers.get("Content-Type"), r.read().decode("utf-8")


def families(text):
    """name -> (type, {label-name tuples}, {sample name+labels: value})"""
    out = {}
    for f in text_string_to_metric_families(text):
        labels = set()
        values = {}
        for s in f.samples:
            labels.add(tuple(sorted(k for k in s.labels)))
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
        out[f.name] = (f.type, labels, values)
    return out


def value(fams, name):
    _, _, vals = fams[name]
    return vals[(name, ())]


def declared(text):
    """name -> TYPE from the raw text (the parser folds counters' _total)."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            out[name] = typ
    return out


def workload(hostport):
    """Deterministic: 12 znodes under /prom, 2 ephemerals, 3 data + 1 child watch on one
    session kept open (returned: the caller stops it)."""
    zk = KazooClient(hosts=hostport, timeout=10)
    zk.start(timeout=30)
    zk.create("/prom", b"root")
    for i in range(10):
        zk.create(f"/prom/n{i}", b"x" * (i * 10))
    zk.create("/prom/e1", b"", ephemeral=True)
    zk.create("/prom/e2", b"e", ephemeral=True)
    for i in range(5):
        zk.set(f"/prom/n{i}", b"y")
    zk.delete("/prom/n9")
    for i in range(3):
        zk.get(f"/prom/n{i}", watch=lambda e: None)
    zk.get_children("/prom", watch=lambda e: None)
    zk.sync("/prom")
    return zk


@pytest.fixture(scope="module")
def pair():
    """(java, ferro) standalone servers with the same settings, after the workload."""
    made, clients = [], []
    try:
        for kind in ("zk39", "ferro"):
            m = MetricsServer(kind)
            made.append(m)
            m.start()
            clients.append(workload(m.srv.hostport))
        yield made
    finally:
        for c in clients:
            c.stop()
            c.close()
        for m in made:
            m.cleanup()


def compare_families(java_text, ferro_text, where):
    jt, ft = declared(java_text), declared(ferro_text)
    jf, ff = families(java_text), families(ferro_text)
    problems = []
    for name, typ in sorted(jt.items()):
        if name.startswith("jvm_"):
            continue
        if name not in ft:
            problems.append(f"{name}: missing (Java: {typ})")
            continue
        if ft[name] != typ:
            problems.append(f"{name}: TYPE {ft[name]}, Java {typ}")
            continue
        if name in EXCEPTIONS:
            continue
        pname = name[:-len("_total")] if name.endswith("_total") else name
        jl = jf.get(pname, (None, set(), {}))[1]
        fl = ff.get(pname, (None, set(), {}))[1]
        if jl != fl:
            problems.append(f"{name}: label names {sorted(fl)}, Java {sorted(jl)}")
    extra = sorted(set(ft) - set(jt))
    assert not problems, f"{where}: differences from Java:\n" + "\n".join(problems)
    assert not extra, f"{where}: families Java does not export: {extra}"


def test_same_families_as_java(pair):
    java, ferro = pair
    _, jtext = scrape(HOST, java.metrics_port)
    _, ftext = scrape(HOST, ferro.metrics_port)
    compare_families(jtext, ftext, "standalone")
    # HELP is the name for ZooKeeper's metrics (simpleclient's own text for process_*).
    for line in ftext.splitlines():
        if line.startswith("# HELP ") and not line.startswith("# HELP process_"):
            _, _, name, help_ = line.split(" ", 3)
            assert help_ == name, line


def test_values_agree_after_the_same_workload(pair):
    java, ferro = pair
    got = {}

    def scrape_both():
        for m in pair:
            fams = families(scrape(HOST, m.metrics_port)[1])
            got[m.kind] = {k: value(fams, k) for k in (
                "znode_count", "ephemerals_count", "watch_count", "global_sessions",
                "num_alive_connections", "outstanding_requests", "local_sessions",
                "connection_drop_probability", "outstanding_tls_handshake",
                "auth_failed_count",
                # the smallest and largest frame sent to a client (the same workload; the
                # last one is a ping or not, depending on timing)
                "min_client_response_size", "max_client_response_size")}
        return got["ferro"] == got["zk39"] and got["ferro"]["outstanding_requests"] == 0.0

    # outstanding_requests counts a request in flight when the scrape is made: the
    # workload's idle kazoo sessions ping every ~3 s, so a scrape may catch one. Scrape
    # again (bounded) until none is in flight.
    wait_until(scrape_both, 10, interval=0.2)
    assert got["ferro"] == got["zk39"], got
    # known-good values: a fresh server's 5 (Java's count) + /prom + 9 + 2 ephemerals
    assert got["ferro"]["znode_count"] == 17.0
    assert got["ferro"]["ephemerals_count"] == 2.0
    assert got["ferro"]["watch_count"] == 4.0
    assert got["ferro"]["outstanding_requests"] == 0.0


def test_measured_metrics_move(pair):
    """What the workload must have moved, on both kinds."""
    for m in pair:
        fams = families(scrape(HOST, m.metrics_port)[1])
        vals = fams["updatelatency"][2]
        assert vals[("updatelatency_count", ())] >= 17, m.kind
        assert fams["fsynctime"][2][("fsynctime_count", ())] >= 1, m.kind
        assert fams["readlatency"][2][("readlatency_count", ())] >= 1, m.kind
        q = vals[("updatelatency", (("quantile", "0.99"),))]
        assert q == q and q >= 0, (m.kind, q)  # not NaN: observed in the window
        assert value(fams, "uptime") > 0
        assert value(fams, "packets_received") >= 20
        # Client bytes: at least 20 packets' length prefixes and headers (Java counts each
        # packet's 4 + length; ferrokeeper each read).
        assert fams["bytes_received_count"][2][("bytes_received_count_total", ())] >= 20 * 12, m.kind
        # Answers' bytes: at least 20 reply headers (16 bytes each) and the stats.
        assert fams["response_bytes"][2][("response_bytes_total", ())] >= 20 * 16 + 5 * 68, m.kind
        assert value(fams, "last_client_response_size") >= 16, m.kind
        # Recovery timed its snapshot load once; no txns to replay in a new data dir.
        assert fams["startup_snap_load_time"][2][("startup_snap_load_time_count", ())] == 1, m.kind
        assert fams["startup_txns_loaded"][2][("startup_txns_loaded_count", ())] == 0, m.kind


def test_watch_trigger_counts_as_java():
    """node_*_watch_count: the watchers each table fires per event, as Java's two
    WatchManagers count them (a delete counts its data watchers, then its child
    watchers); the same samples on both kinds and the expected ones."""
    got = {}
    for kind in ("zk39", "ferro"):
        m = MetricsServer(kind)
        clients = []
        try:
            m.start()
            a, b, w = (KazooClient(hosts=m.srv.hostport, timeout=10) for _ in range(3))
            clients = [a, b, w]
            for c in clients:
                c.start(timeout=30)
            for c in (a, b):
                c.exists("/w", watch=lambda e: None)
            w.create("/w", b"0")
            for c in (a, b):
                c.get("/w", watch=lambda e: None)
                c.get_children("/w", watch=lambda e: None)
            w.set("/w", b"1")
            w.create("/w/c", b"")
            a.exists("/w/c", watch=lambda e: None)
            b.get_children("/w/c", watch=lambda e: None)
            w.delete("/w/c")
            w.sync("/")
            fams = families(scrape(HOST, m.metrics_port)[1])
            got[kind] = {}
            for t in ("created", "changed", "children", "deleted"):
                name = f"node_{t}_watch_count"
                vals = fams[name][2]
                got[kind][t] = (vals[(f"{name}_count", ())], vals[(f"{name}_sum", ())])
            # The notifications' bytes: 8 sent, each ReplyHeader + type + state + path.
            got[kind]["watch_bytes"] = fams["watch_bytes"][2][("watch_bytes_total", ())]
        finally:
            for c in clients:
                c.stop()
                c.close()
            m.cleanup()
    assert got["ferro"] == got["zk39"], got
    events = [(2, "/w"), (2, "/w"), (2, "/w"), (2, "/w/c")]  # (watchers, path) per event
    want_bytes = sum(n * (16 + 4 + 4 + 4 + len(p)) for n, p in events)
    assert got["ferro"] == {"created": (1, 2), "changed": (1, 2), "children": (1, 2), "deleted": (2, 2),
                            "watch_bytes": want_bytes}


def test_text_format_as_simpleclient(pair):
    for m in pair:
        ctype, text = scrape(HOST, m.metrics_port)
        assert ctype == "text/plain; version=0.0.4; charset=utf-8", (m.kind, ctype)
        lines = text.splitlines()
        assert "# HELP updatelatency updatelatency" in lines
        # ADVANCED summaries: 0.5, 0.9, 0.99
        i = lines.index("# TYPE updatelatency summary")
        assert [l.split(" ")[0] for l in lines[i + 1:i + 6]] == [
            'updatelatency{quantile="0.5",}', 'updatelatency{quantile="0.9",}',
            'updatelatency{quantile="0.99",}', "updatelatency_count", "updatelatency_sum"], m.kind
        # BASIC summaries: the median only
        for name in ("fsynctime", "sync_processor_batch_size"):
            i = lines.index(f"# TYPE {name} summary")
            assert lines[i + 1].startswith(f'{name}{{quantile="0.5",}} '), m.kind
            assert lines[i + 2].startswith(f"{name}_count "), m.kind
        assert "\nstale_requests 0.0\n" in text, m.kind
        assert "\nmin_client_response_size " in text
        for name in ("process_open_fds", "process_max_fds", "process_resident_memory_bytes",
                     "process_virtual_memory_bytes", "process_cpu_seconds_total",
                     "process_start_time_seconds"):
            assert f"\n# TYPE {name} " in text, (m.kind, name)
        assert text.endswith("\n")


def test_name_filter_and_methods(pair):
    for m in pair:
        q = "name[]=znode_count&name[]=commit_count"
        _, text = scrape(HOST, m.metrics_port, f"/metrics?{q}")
        assert sorted(declared(text)) == ["commit_count", "znode_count"], (m.kind, text)
        statuses = {}
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE"):
            statuses[method] = http(m.metrics_port, f"{method} /metrics HTTP/1.1\r\nHost: x\r\n"
                                    "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())[0]
        assert statuses == {"GET": 200, "HEAD": 200, "POST": 200, "PUT": 405, "DELETE": 405,
                            "TRACE": 403}, (m.kind, statuses)
        st, _, body = http(m.metrics_port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert st == 200 and body == b"", m.kind


def test_bad_requests_are_refused_and_serving_goes_on(pair):
    for m in pair:
        port = m.metrics_port
        assert http(port, b"GARBAGE\r\n\r\n")[0] == 400, m.kind
        big = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
        assert http(port, big)[0] == 431, m.kind
        assert http(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 404
        assert http(port, b"GET /metricsx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 404
        # half a request, then the peer goes away; many connections at once
        socks = []
        for _ in range(50):
            s = socket.create_connection((HOST, port), timeout=5)
            s.sendall(b"GET /metr")
            socks.append(s)
        for s in socks:
            s.close()
        assert "znode_count" in scrape(HOST, port)[1], m.kind


def test_taken_metrics_port_stops_the_server(pair):
    """Java: "Cannot boot MetricsProvider", exit 1; the same for ferrokeeper."""
    for m in pair:
        other = ServerHandle(m.kind, metrics_cfg(m.metrics_port))
        try:
            proc = subprocess.Popen(other.command(), stdout=open(other.log_path, "wb"),
                                    stderr=subprocess.STDOUT, cwd=other.dir,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail(f"{m.kind} started although its metrics port was taken")
            assert rc == 1, (m.kind, rc, other.log_tail())
        finally:
            other.cleanup()
        assert "znode_count" in scrape(HOST, m.metrics_port)[1]


def test_export_jvm_info_false_leaves_process_metrics_out():
    m = MetricsServer("ferro", **{"metricsProvider.exportJvmInfo": "false"})
    try:
        m.start()
        text = scrape(HOST, m.metrics_port)[1]
        assert "\nprocess_" not in text and "# TYPE process_" not in text
        assert "\nznode_count " in text
    finally:
        m.cleanup()


def ensemble_scrapes(ens):
    out = {}
    for mem in ens.members:
        out[mem.sid] = (mem.mode(), scrape(HOST, mem.metrics_port)[1])
    return out


def srvr_zxids(ens):
    """Each member's `Zxid:` from srvr (None while it does not answer)."""
    out = []
    for m in ens.members:
        text = m.srvr() or ""
        z = re.search(r"^Zxid: (0x[0-9a-f]+)$", text, re.M)
        out.append(z.group(1) if z else None)
    return out


def test_ensemble_metrics_as_java(ensemble_factory):  # noqa: F811
    if not java_has_prometheus():
        pytest.fail("no zookeeper-prometheus-metrics jar (scripts/install-deps.sh)", pytrace=False)
    results = {}
    for kind in ("zk39", "ferro"):
        ens = ensemble_factory([kind] * 3, metrics=True)
        ens.leader()

        def all_synced():
            s = ensemble_scrapes(ens)
            lead = [t for mode, t in s.values() if mode == "leader"]
            if not lead or value(families(lead[0]), "synced_followers") != 2.0:
                return False
            # The leader forwards to a follower from before its NEWLEADER; the follower
            # counts PROPOSALs (as Java's Follower.processPacket) only after UPTODATE,
            # which its follower_sync_time marks.
            follows = [families(t) for mode, t in s.values() if mode == "follower"]
            return len(follows) == 2 and all(
                f["follower_sync_time"][2][("follower_sync_time_count", ())] >= 1 for f in follows)
        # Both followers synced before the workload: its txns then reach them as
        # PROPOSALs and COMMITs (the latency counts below), not inside a sync (seen in
        # CI: a follower still in its sync counted 11 of the 17).
        assert wait_until(all_synced, 30), kind
        zk = workload(ens.connect_string())
        try:
            wait_until(all_synced, 30)
            # A write is answered once a quorum (the leader and one follower) has it: the
            # other follower may still be taking the last PROPOSALs and COMMITs in (seen
            # under CI load). Scrape when every member has applied the leader's last zxid.
            def applied_everywhere():
                z = srvr_zxids(ens)
                return None not in z and len(set(z)) == 1
            assert wait_until(applied_everywhere, 30), (kind, srvr_zxids(ens))
            results[kind] = ensemble_scrapes(ens)
            # The leader keys its queue-size summary by each follower's sid (after the
            # workload's proposals went out through those queues).
            lead = ens.leader()
            followers = sorted(str(m.sid) for m in ens.members if m is not lead)
            assert qp_size_keys(results[kind][lead.sid][1]) == followers, (kind, results[kind][lead.sid][1])
            # ... and times a marker in each queue (the first one before its first packet).
            assert qp_size_keys(results[kind][lead.sid][1], "learner_handler_qp_time_ms") == followers, \
                (kind, results[kind][lead.sid][1])
            # Each follower timed its sync (ACKEPOCH to UPTODATE) once, and every txn of the
            # epoch (all made by the workload, after both syncs) from the leader's txn time:
            # to each follower's PROPOSAL and COMMIT, to the leader's quorum of ACKs. Exact:
            # a latency read from a stale clock once came out negative and went uncounted.
            txns = int(srvr_zxids(ens)[0], 16) & 0xFFFFFFFF
            assert txns >= 20, (kind, srvr_zxids(ens))

            def count(m, name):
                return families(results[kind][m.sid][1])[name][2][(f"{name}_count", ())]
            for m in ens.members:
                if m is not lead:
                    assert count(m, "follower_sync_time") == 1, (kind, m)
                    assert count(m, "proposal_latency") == txns, (kind, m)
                    assert count(m, "commit_propagation_latency") == txns, (kind, m)
            assert count(lead, "quorum_ack_latency") == txns, kind
        finally:
            zk.stop()
            zk.close()
        ens.close()
    by_role = {}
    for kind, scrapes in results.items():
        for sid, (mode, text) in scrapes.items():
            by_role.setdefault((kind, mode), text)
    for mode in ("leader", "follower"):
        compare_families(by_role[("zk39", mode)], by_role[("ferro", mode)], mode)
        vals = {}
        for kind in ("zk39", "ferro"):
            fams = families(by_role[(kind, mode)])
            names = ["quorum_size", "znode_count", "ephemerals_count", "synced_observers"]
            if mode == "leader":
                names += ["learners", "synced_followers", "synced_non_voting_followers",
                          "pending_syncs"]
            vals[kind] = {n: value(fams, n) for n in names}
        assert vals["ferro"] == vals["zk39"], (mode, vals)
