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
    # The leader's per-learner queue summaries (LearnerHandler, key = learner sid).
    "learner_handler_qp_size": "per-learner queue summaries not kept",
    "learner_handler_qp_time_ms": "per-learner queue summaries not kept",
}


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
    for m in pair:
        fams = families(scrape(HOST, m.metrics_port)[1])
        got[m.kind] = {k: value(fams, k) for k in (
            "znode_count", "ephemerals_count", "watch_count", "global_sessions",
            "num_alive_connections", "outstanding_requests", "local_sessions",
            "connection_drop_probability", "outstanding_tls_handshake",
            "auth_failed_count")}
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


def test_ensemble_metrics_as_java(ensemble_factory):  # noqa: F811
    if not java_has_prometheus():
        pytest.fail("no zookeeper-prometheus-metrics jar (scripts/install-deps.sh)", pytrace=False)
    results = {}
    for kind in ("zk39", "ferro"):
        ens = ensemble_factory([kind] * 3, metrics=True)
        ens.leader()
        zk = workload(ens.connect_string())
        try:
            def all_synced():
                s = ensemble_scrapes(ens)
                lead = [t for mode, t in s.values() if mode == "leader"]
                return lead and value(families(lead[0]), "synced_followers") == 2.0
            wait_until(all_synced, 30)
            results[kind] = ensemble_scrapes(ens)
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
