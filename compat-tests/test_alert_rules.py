"""monitoring/prometheus/ferrokeeper-alerts.yml, tested by provoking each condition.

Each test starts ferrokeeper (a standalone server or a 3-member ensemble, /metrics on),
scrapes every member once a second (a failed scrape is `up 0`, as Prometheus records
it) through a calm phase and then while it provokes a condition (members killed, a slow
disk, a flood of connections, sessions or ephemerals), and writes what it scraped as the
`input_series` of a `promtool test rules` file (interval 1s) that checks which alerts
fire: none in the calm phase, exactly the provoked ones after it.

Alert rules wait (`for:`, rate windows) minutes, longer than a test should; so after a
real phase the recorder may *hold* it: gauges keep their last scraped value and counters
go on at the rate scraped in that phase (`Recorder.hold`), as if the phase had lasted
longer. Every value in the file is scraped or continued that way; only
ZooKeeperDataDirFilling (node_exporter's metrics, which no ZooKeeper server exports) and
ZooKeeperLearnerQueueBacklog (a median queue of 1000 packets to one learner for 5 minutes
is more load than a test should make; the metric itself is checked on both kinds' leaders
in test_prometheus.py) are tested on written series.

Also `promtool check rules`. promtool comes from target/promtool (scripts/install-deps.sh
extracts it from Debian's prometheus package) or PATH.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest
from kazoo.client import KazooClient

import zkraw
from conftest import HOST, ServerHandle
from ensemble import PROMETHEUS_PROVIDER, ensemble_factory  # noqa: F401 (fixture)
from harness import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RULES = os.path.join(REPO, "monitoring", "prometheus", "ferrokeeper-alerts.yml")
JOB = "zookeeper"
# What the rules read (the recorder keeps only these).
USED = {"quorum_size", "leader_uptime", "synced_followers", "fsynctime", "outstanding_requests",
        "connection_request_count", "ephemerals_count", "process_open_fds", "process_max_fds",
        "open_file_descriptor_count", "max_file_descriptor_count"}
ALL_ALERTS = ["ZooKeeperMemberDown", "ZooKeeperNoLeader", "ZooKeeperQuorumLost",
              "ZooKeeperFollowerNotSynced", "ZooKeeperLearnerQueueBacklog", "ZooKeeperFsyncSlow",
              "ZooKeeperOutstandingRequestsHigh", "ZooKeeperSessionChurn",
              "ZooKeeperEphemeralsSpike", "ZooKeeperDataDirFilling",
              "ZooKeeperFileDescriptorsNearLimit"]


def promtool():
    p = os.path.join(REPO, "target", "promtool")
    if os.access(p, os.X_OK):
        return p
    p = shutil.which("promtool")
    if not p:
        pytest.fail("promtool not found (scripts/install-deps.sh extracts target/promtool)",
                    pytrace=False)
    return p


def scrape(port):
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as r:
        return r.read().decode()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def samples(text):
    """(family name, family type, sample name, labels, value) as Prometheus stores them
    (sample names as written: prometheus_client's parser would add _total to counters)."""
    types, out = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        name, labels, v = m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))
        fam = name
        for suffix in ("_count", "_sum"):
            if name.endswith(suffix) and name[:-len(suffix)] in types:
                fam = name[:-len(suffix)]
        out.append((fam, types.get(fam, "untyped"), name, labels, v))
    return out


def fmt_labels(labels):
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


class Recorder:
    """Scraped samples of some instances, one step per second."""

    def __init__(self, instances):
        self.instances = instances  # name -> metrics port (a callable: None = not scraped)
        self.series = {}  # series text -> list of values (None = absent at that step)
        self.counter = set()  # series that are counters (_count, _sum, counter type)
        self.offset = {}  # counter series -> added by holds
        self.rate = {}  # counter series -> per-step increase in the last real phase
        self.phase_start = {}  # counter series -> (step, value) at the phase's start
        self.steps = 0

    def _put(self, key, v):
        col = self.series.setdefault(key, [])
        col.extend([None] * (self.steps - len(col)))
        col.append(v)

    def scrape_once(self):
        for inst, port in self.instances.items():
            labels = {"job": JOB, "instance": inst}
            text = None
            try:
                text = scrape(port)
            except OSError:
                pass
            self._put("up" + fmt_labels(labels), 1.0 if text is not None else 0.0)
            if text is None:
                continue
            for fam, typ, name, slabels, v in samples(text):
                if fam not in USED:
                    continue
                key = name + fmt_labels({**slabels, **labels})
                if typ == "counter" or (typ == "summary" and name != fam):
                    self.counter.add(key)
                    v += self.offset.get(key, 0.0)
                    self.phase_start.setdefault(key, (self.steps, v))
                self._put(key, v)
        self.steps += 1

    def last_value(self, name):
        """The largest value of `name`'s series (any labels) at the last step; 0 if none."""
        got = [col[-1] for key, col in self.series.items()
               if key.split("{")[0] == name and len(col) == self.steps and col[-1] is not None]
        return max(got, default=0.0)

    def run(self, seconds, during=None):
        """Scrape once a second for `seconds` (real time) while `during()` returns
        truthy; starts a new phase for the counters' rates."""
        self.phase_start = {}
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.monotonic()
            self.scrape_once()
            if during is not None and not during():
                break
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
        for key, (step, v0) in self.phase_start.items():
            col = self.series[key]
            if self.steps - 1 > step and col[-1] is not None:
                self.rate[key] = max(0.0, (col[-1] - v0) / (self.steps - 1 - step))

    def hold(self, seconds):
        """Continue the last step for `seconds` steps: gauges as they are, counters at the
        rate of the last real phase."""
        for _ in range(int(seconds)):
            for key, col in self.series.items():
                col.extend([None] * (self.steps - len(col)))
                last = col[-1] if col else None
                if last is not None and key in self.counter:
                    inc = self.rate.get(key, 0.0)
                    self.offset[key] = self.offset.get(key, 0.0) + inc
                    last += inc
                col.append(last)
            self.steps += 1

    def now(self):
        """The eval time of the last step."""
        return f"{self.steps - 1}s"

    def input_series(self):
        """promtool's notation; a series that disappears (a failed scrape, a member that
        stopped serving) gets a staleness marker, as Prometheus writes one."""
        out = []
        for key, col in self.series.items():
            col = col + [None] * (self.steps - len(col))
            vals = []
            for i, v in enumerate(col):
                if v is not None:
                    vals.append(repr(float(v)))
                elif i > 0 and col[i - 1] is not None:
                    vals.append("stale")
                else:
                    vals.append("_")
            out.append({"series": key, "values": " ".join(vals)})
        return out


def firing_at(eval_time, alerts, may=()):
    """promql_expr_tests: each of `alerts` fires at eval_time (for n label sets: name ->
    n), and no other alert but those in `may`."""
    checks = []
    for a, n in sorted(alerts.items()):
        checks.append({"expr": f'count(ALERTS{{alertname="{a}",alertstate="firing"}})',
                       "eval_time": eval_time, "exp_samples": [{"labels": "{}", "value": n}]})
    others = "|".join(sorted(set(alerts) | set(may)))
    sel = f',alertname!~"{others}"' if others else ""
    checks.append({"expr": f'count by (alertname) (ALERTS{{alertstate="firing"{sel}}})',
                   "eval_time": eval_time, "exp_samples": []})
    return checks


def run_promtool(input_series, checks, name):
    test = {"rule_files": [RULES], "evaluation_interval": "1s",
            "tests": [{"name": name, "interval": "1s", "input_series": input_series,
                       "promql_expr_test": checks}]}
    d = tempfile.mkdtemp(prefix="alert-test-")
    path = os.path.join(d, f"{name}.yml")
    with open(path, "w") as f:
        json.dump(test, f, indent=1)  # JSON is YAML
    r = subprocess.run([promtool(), "test", "rules", path], capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        pytest.fail(f"promtool test rules {path} failed:\n{r.stdout}\n{r.stderr}", pytrace=False)
    shutil.rmtree(d, ignore_errors=True)


def metrics_server(sys_props=None, **cfg):
    port = zkraw.free_port(HOST)
    cfg.update({"metricsProvider.className": PROMETHEUS_PROVIDER,
                "metricsProvider.httpHost": HOST, "metricsProvider.httpPort": str(port)})
    srv = ServerHandle("ferro", cfg)
    if sys_props:
        cmd = srv.command()
        srv.command = lambda: [cmd[0], *(f"-D{k}={v}" for k, v in sys_props.items()), *cmd[1:]]
    srv.metrics_port = port
    return srv


def test_rules_file_checks():
    r = subprocess.run([promtool(), "check", "rules", RULES], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(ALL_ALERTS)} rules found" in r.stdout, r.stdout


def test_ensemble_member_down_follower_not_synced_no_leader_quorum_lost(ensemble_factory):  # noqa: F811
    ens = ensemble_factory(["ferro"] * 3, metrics=True)
    leader = ens.leader()
    wait_until(lambda: "synced_followers 2.0" in scrape(leader.metrics_port), 30)
    rec = Recorder({f"m{m.sid}": m.metrics_port for m in ens.members})
    rec.run(5)
    rec.hold(300)  # calm for 5 minutes: nothing may fire
    calm = rec.now()
    follower = next(m for m in ens.members if m is not leader)
    ens.kill9(follower)
    rec.run(5)
    rec.hold(150)
    one_down = rec.now()
    ens.kill9(leader)
    # the last member: LOOKING, no metrics of a serving server
    rec.run(8)
    rec.hold(90)
    all_lost = rec.now()
    run_promtool(rec.input_series(), [
        *firing_at(calm, {}),
        *firing_at(one_down, {"ZooKeeperMemberDown": 1, "ZooKeeperFollowerNotSynced": 1}),
        *firing_at(all_lost, {"ZooKeeperMemberDown": 2, "ZooKeeperNoLeader": 1,
                              "ZooKeeperQuorumLost": 1}),
    ], "ensemble")


def test_slow_fsync_and_outstanding_requests():
    # every log flush takes 1.2 s longer: fsync is "slow" and writes queue up
    srv = metrics_server(sys_props={"ferrokeeper.faultInjection.fsyncDelayMs": 1200})
    stop = threading.Event()
    clients = []
    try:
        srv.start()
        rec = Recorder({"s1": srv.metrics_port})
        rec.run(5)
        rec.hold(300)
        calm = rec.now()

        def writer(i):
            zk = KazooClient(hosts=srv.hostport, timeout=30)
            zk.start(timeout=30)
            clients.append(zk)
            zk.ensure_path(f"/load{i}")
            while not stop.is_set():
                for a in [zk.create_async(f"/load{i}/n", b"x", sequence=True) for _ in range(200)]:
                    try:
                        a.get(timeout=60)
                    except Exception:
                        return

        threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(3)]
        for t in threads:
            t.start()
        rec.run(12)
        # The phase's last scrape is held for 90 s. Every write is answered at the end of
        # a 1.2 s flush and the writers resubmit a moment later: a scrape in that gap sees
        # few outstanding. Scrape again (bounded) until the last one is inside a flush.
        for _ in range(10):
            if rec.last_value("outstanding_requests") > 100:
                break
            rec.scrape_once()
            time.sleep(0.3)
        rec.hold(90)
        slow = rec.now()
    finally:
        stop.set()
        for zk in clients:
            try:
                zk.stop()
                zk.close()
            except Exception:
                pass
        srv.cleanup()
    run_promtool(rec.input_series(), [
        *firing_at(calm, {}),
        *firing_at(slow, {"ZooKeeperFsyncSlow": 1, "ZooKeeperOutstandingRequestsHigh": 1}),
    ], "slow_disk")


def test_session_churn_and_ephemerals_spike():
    srv = metrics_server()
    try:
        srv.start()
        rec = Recorder({"s1": srv.metrics_port})
        rec.run(5)
        rec.hold(300)
        calm = rec.now()
        stop = threading.Event()

        def churn():
            while not stop.is_set():
                try:
                    c = zkraw.connect(srv.host, srv.port, timeout_ms=10000)
                    c.close()
                    c.drop()
                except Exception:
                    pass

        threads = [threading.Thread(target=churn, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        zk = KazooClient(hosts=srv.hostport, timeout=30)
        zk.start(timeout=30)
        try:
            zk.create("/eph")
            # 1500 ephemerals in a burst
            for batch in range(3):
                for a in [zk.create_async(f"/eph/e{batch}-{i}", b"", ephemeral=True)
                          for i in range(500)]:
                    a.get(timeout=60)
            rec.run(10)
            stop.set()
            for t in threads:
                t.join(10)
            # the burst is 100 s old; the churn's rate over 5 minutes may not be up yet
            rec.hold(90)
            burst = rec.now()
            # 6 minutes of churn: the burst has left delta()'s 5-minute window
            rec.hold(270)
            churned = rec.now()
        finally:
            stop.set()
            zk.stop()
            zk.close()
    finally:
        srv.cleanup()
    run_promtool(rec.input_series(), [
        *firing_at(calm, {}),
        *firing_at(burst, {"ZooKeeperEphemeralsSpike": 1}, may=["ZooKeeperSessionChurn"]),
        *firing_at(churned, {"ZooKeeperSessionChurn": 1}),
    ], "churn")


def test_file_descriptors_near_limit():
    srv = metrics_server()
    limit = 256
    # the server's own open-files limit (the test process's stays as it is)
    cmd = srv.command()
    srv.command = lambda: ["prlimit", f"--nofile={limit}:{limit}", "--", *cmd]
    socks = []
    try:
        srv.start()
        rec = Recorder({"s1": srv.metrics_port})
        rec.run(5)
        rec.hold(120)
        calm = rec.now()
        for _ in range(int(limit * 0.9)):
            try:
                socks.append(socket.create_connection((srv.host, srv.port), timeout=5))
            except OSError:
                break
        wait_until(lambda: "process_open_fds" in scrape(srv.metrics_port), 10)
        rec.run(5)
        rec.hold(90)
        near = rec.now()
        # the server keeps serving /metrics near the limit
        assert "process_max_fds 256.0" in scrape(srv.metrics_port)
    finally:
        for s in socks:
            s.close()
        srv.cleanup()
    run_promtool(rec.input_series(), [
        *firing_at(calm, {}),
        *firing_at(near, {"ZooKeeperFileDescriptorsNearLimit": 1}),
    ], "fds")


def test_rules_without_a_ferrokeeper_metric():
    """Written series: node_exporter's filesystem metrics (no ZooKeeper server exports the
    free space of its dataDir) and Java's per-learner queue summary."""
    fs = '{instance="h1:9100",mountpoint="/var/lib/zookeeper",fstype="ext4"}'
    q = '{job="zookeeper",instance="m1",key="2",quantile="0.5"}'
    series = [
        {"series": f"node_filesystem_size_bytes{fs}", "values": "1000000x700"},
        # 50% free for 5 minutes, then 5% free
        {"series": f"node_filesystem_avail_bytes{fs}", "values": "500000x300 50000x400"},
        {"series": f"learner_handler_qp_size{q}", "values": "3x300 5000x400"},
    ]
    run_promtool(series, [
        *firing_at("300s", {}),
        *firing_at("700s", {"ZooKeeperDataDirFilling": 1, "ZooKeeperLearnerQueueBacklog": 1}),
    ], "written")


DASHBOARD = os.path.join(REPO, "monitoring", "grafana", "ferrokeeper-dashboard.json")
# Gauges only a leader (and an ensemble member) exports: not in a standalone scrape.
ENSEMBLE_ONLY = {"quorum_size", "learners", "synced_followers", "synced_observers",
                 "synced_non_voting_followers", "pending_syncs", "leader_uptime",
                 "last_proposal_size", "min_proposal_size", "max_proposal_size"}


def test_dashboard_queries_parse_and_use_exported_metrics():
    """The Grafana dashboard: importable JSON (a Prometheus datasource input, unique panel
    ids), every query valid PromQL (promtool check rules on them as recording rules,
    $job/$instance replaced) and every metric it reads exported by ferrokeeper."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    assert dash["__inputs"][0]["pluginId"] == "prometheus"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 30
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": e.replace("$job", ".*").replace("$instance", ".*")}
        for i, e in enumerate(exprs)]}]}
    d = tempfile.mkdtemp(prefix="dash-test-")
    try:
        path = os.path.join(d, "dash-rules.yml")
        with open(path, "w") as f:
            json.dump(rules, f)
        r = subprocess.run([promtool(), "check", "rules", path], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)
    srv = metrics_server()
    try:
        srv.start()
        exported = {name for _, _, name, _, _ in samples(scrape(srv.metrics_port))}
    finally:
        srv.cleanup()
    used = set()
    for e in exprs:
        used |= set(re.findall(r"\b([a-z_][a-z0-9_]*)\{", e))
    missing = sorted(used - exported - ENSEMBLE_ONLY - {"up"})
    assert not missing, f"the dashboard reads metrics ferrokeeper does not export: {missing}"
