"""Real Kafka 3.9 brokers (ZooKeeper mode: the last Kafka line that runs on ZooKeeper) on
the server under test, with Kafka's own AdminClient, producer and consumer.

Kafka 3.9.1 comes from Maven Central (scripts/install-deps.sh: target/kafka-3.9/lib).
Brokers are JVMs started here (kafka.Kafka with a server.properties) on free 127.0.0.1
ports, zookeeper.connect with the chroot /kafka (the brokers create it), a 20 s ZooKeeper
session timeout on the standalone server, 10 s on ensembles. java/KafkaCompat.java (compiled into .deps/ like the Curator programs)
is the client side: one command per run, printing "CHECK name value" lines compared here
with known-good values.

Standalone server, per kind (zk = ZooKeeper 3.8.0, ferro = ferrokeeper; one ZooKeeper
server and 3 brokers shared by the tests of the kind, in this order):
  - the 3 brokers register (/brokers/ids, three distinct sessions, their endpoints), one
    controller is elected (/controller, /controller_epoch) and the brokers agree on it;
  - a topic (3 partitions, RF 3) is created, 300 records produced with acks=all and all
    read back by a consumer group (its offsets topic created on the way);
  - ACLs through kafka.security.authorizer.AclAuthorizer (ZooKeeper-backed): a DENY WRITE and an ALLOW READ
    for User:ANONYMOUS (every client here) on a topic and a PREFIXED group ACL, read back
    with describeAcls and in /kafka-acl, /kafka-acl-extended; every broker refuses the
    writes once the change notification reached it (watch on /kafka-acl-changes); deleted:
    the znode goes, writes are accepted again;
  - dynamic configs: a topic's (set, deleted), one broker's, the cluster default's (seen
    by the other brokers through /config/changes), read back with describeConfigs and in
    /config/topics, /config/brokers/2, /config/brokers/<default>;
  - partition reassignment: alterPartitionReassignments [1,2] -> [2,3], its records still
    there; then the ZooKeeper way: /admin/reassign_partitions written here, the controller
    (watching it) moves the partition to [3,1] and deletes the znode;
  - the ZooKeeper server killed -9 and restarted on the same dataDir and port: the brokers'
    sessions survive (same ephemeral owners of /brokers/ids/*, same controller and epoch,
    checked after the session timeout has passed), and a topic created after the restart
    becomes usable (the controller's watches, re-set by the clients, fire), and a
    cluster-default config set after it reaches every broker (their /config/changes watches);
  - the controller broker killed -9 under acks=all load: its session expires, its
    registration goes, another broker becomes controller (epoch + 1), every acknowledged
    record is in the topic; restarted, it registers again with a new session.

Ensemble, per kind (3 members of that kind): 3 brokers with all three members in
zookeeper.connect, acks=all load, the member the controller broker is connected to (from
`cons` and the controller's session id) killed -9: the brokers' sessions move to the
other members (same ephemeral owners, same controller), a topic created after the kill is
usable, a config change reaches every broker, no acknowledged record is lost.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import zkraw
from conftest import ServerHandle, kinds_for_module
from ensemble import ensemble_factory  # noqa: F401  (a fixture)
from harness import JAVA, REPO, end_process, log_tail, wait_until
import test_client_curator as curator

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"
SOURCE = os.path.join(HERE, "java", "KafkaCompat.java")
KAFKA_LIB = os.path.join(REPO, "target", "kafka-3.9", "lib")
KAFKA_CP = os.path.join(KAFKA_LIB, "*")
CHROOT = "/kafka"
# The brokers' ZooKeeper session timeout: on an ensemble the most its tickTime of 500
# allows (20 ticks); on the standalone server (tickTime 2000) twice that, so a broker JVM
# starved of CPU for a few seconds on a loaded 2-core machine still takes its session back
# after the server's restart (seen once in CI: two brokers silent for 10 s, one session
# expired; the test is about the server keeping sessions, not about that machine's load).
SESSION_TIMEOUT_MS = 10000
STANDALONE_SESSION_TIMEOUT_MS = 20000
KINDS = kinds_for_module("test_client_kafka")

pytestmark = [pytest.mark.xdist_group("kafka"),
              # kazoo's note while the brokers have not created the chroot yet
              pytest.mark.filterwarnings("ignore:No chroot path exists")]


def kafka_missing():
    if not os.path.exists(os.path.join(KAFKA_LIB, ".complete")):
        return f"Kafka 3.9 jars not found in {KAFKA_LIB} (bash scripts/install-deps.sh)"
    return None


# --- the client program ----------------------------------------------------------------------

def compiled_classes():
    """KafkaCompat.java compiled into .deps/kafka-<hash of the source>/ (once)."""
    import hashlib
    with open(SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    out = os.path.join(HERE, ".deps", f"kafka-{digest}")
    if os.path.exists(os.path.join(out, "KafkaCompat.class")):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"kafka-{digest}.", dir=os.path.dirname(out))
    try:
        p = subprocess.run(["javac", "-nowarn", "-d", tmp, "-cp", KAFKA_CP, SOURCE], capture_output=True,
                           text=True, timeout=180)
        if p.returncode != 0:
            pytest.fail(f"javac KafkaCompat.java failed:\n{p.stdout}{p.stderr}", pytrace=False)
        try:
            os.rename(tmp, out)
        except OSError:
            if not os.path.exists(os.path.join(out, "KafkaCompat.class")):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


@pytest.fixture(scope="module")
def classes():
    missing = kafka_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    return compiled_classes()


def client_command(classes, log4j, bootstrap, *args):
    return [JAVA, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp", f"{classes}:{KAFKA_CP}", "KafkaCompat", bootstrap, *args]


class Lines:
    """The lines of a process's stream, read by a thread, waited for with deadlines."""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.t.start()

    def _read(self, stream):
        for line in stream:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait(self, pred, timeout):
        """Until pred(lines) is truthy, the stream ended, or timeout; pred's last value."""
        with self.cond:
            self.cond.wait_for(lambda: pred(self.lines) or not self.t.is_alive(), timeout)
            return pred(self.lines)


def progress(lines):
    """(acked, errors) of the last PROGRESS line of a load run, (0, 0) before the first."""
    for line in reversed(lines):
        if line.startswith("PROGRESS "):
            _, acked, errors = line.split()
            return int(acked), int(errors)
    return 0, 0


# --- brokers --------------------------------------------------------------------------------

LOG4J = """\
log4j.rootLogger=WARN, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d{HH:mm:ss,SSS} %-5p [%c{1}] %m%n
log4j.logger.kafka.controller=INFO
log4j.logger.kafka.zookeeper=INFO
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.org.apache.zookeeper.ClientCnxn=INFO
"""


class Broker:
    def __init__(self, cluster, broker_id):
        self.cluster = cluster
        self.id = broker_id
        self.port = zkraw.free_port(HOST)
        self.dir = os.path.join(cluster.dir, f"broker{broker_id}")
        os.makedirs(os.path.join(self.dir, "logs"))
        self.props_path = os.path.join(self.dir, "server.properties")
        self.log_path = os.path.join(self.dir, "broker.log")
        self.proc = None

    def write_props(self):
        props = {
            "broker.id": self.id,
            "listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "log.dirs": os.path.join(self.dir, "logs"),
            "zookeeper.connect": self.cluster.zk_connect() + CHROOT,
            "zookeeper.session.timeout.ms": self.cluster.session_timeout_ms,
            "zookeeper.connection.timeout.ms": 30000,
            "num.partitions": 1,
            "default.replication.factor": 3,
            "min.insync.replicas": 2,
            "offsets.topic.replication.factor": 3,
            "offsets.topic.num.partitions": 3,
            "transaction.state.log.replication.factor": 3,
            "transaction.state.log.min.isr": 2,
            "transaction.state.log.num.partitions": 3,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            "unclean.leader.election.enable": "false",
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "allow.everyone.if.no.acl.found": "true",
            "num.network.threads": 2,
            "num.io.threads": 2,
            "background.threads": 2,
            "num.replica.fetchers": 1,
            "num.recovery.threads.per.data.dir": 1,
            "log.cleaner.enable": "false",
            "replica.lag.time.max.ms": 10000,
            "replica.fetch.wait.max.ms": 100,
            "controlled.shutdown.enable": "false",
        }
        with open(self.props_path, "w") as f:
            for k, v in props.items():
                f.write(f"{k}={v}\n")

    def start(self):
        self.write_props()
        cmd = [JAVA, "-Xmx256m", "-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{self.cluster.log4j}",
               f"-Dkafka.logs.dir={self.dir}",
               "-cp", KAFKA_CP, "kafka.Kafka", self.props_path]
        with open(self.log_path, "ab") as logf:
            logf.write(f"=== start {time.strftime('%H:%M:%S')}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=self.dir,
                                         start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.proc is not None:
            end_process(self.proc, signal.SIGKILL, 10)

    def log_tail(self, n=40):
        return log_tail(self.log_path, n)

    @property
    def hostport(self):
        return f"{HOST}:{self.port}"


class KafkaCluster:
    """3 brokers on a ZooKeeper server (a ServerHandle) or ensemble (its connect string)."""

    def __init__(self, classes, zk_connect, kind, n=3, session_timeout_ms=SESSION_TIMEOUT_MS):
        self.classes = classes
        self.session_timeout_ms = session_timeout_ms
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix=f"compat-kafka-{kind}-")
        self.log4j = os.path.join(self.dir, "log4j.properties")
        with open(self.log4j, "w") as f:
            f.write(LOG4J)
        self.client_log4j = os.path.join(self.dir, "client-log4j.properties")
        with open(self.client_log4j, "w") as f:
            f.write(LOG4J.replace("=INFO", "=WARN"))
        self.zk_connect = zk_connect  # () -> "host:port[,host:port...]"
        self.brokers = {i: Broker(self, i) for i in range(1, n + 1)}
        print(f"kafka cluster: {self.dir} (KAFKA_KEEP=1 keeps it)")
        self.shell = None  # (process, stdout Lines, stderr Lines) of KafkaCompat's shell

    @property
    def bootstrap(self):
        return ",".join(b.hostport for b in self.brokers.values())

    def start(self, timeout=120):
        for b in self.brokers.values():
            b.start()
        self.wait_registered(list(self.brokers), timeout)
        self.wait_controller(timeout)

    def wait_controller(self, timeout=120):
        """Until a broker holds /controller: the brokers register first and elect a
        controller after, so a test reading the controller right after registration races
        the election (seen on both kinds of server)."""
        def elected():
            try:
                return self.controller()[0] is not None
            except Exception:
                return False

        if not wait_until(elected, timeout=timeout, interval=0.5):
            pytest.fail(f"no controller in {CHROOT}/controller {timeout}s after the brokers registered: "
                        f"{self.controller()}" + self.broker_tails(), pytrace=False)

    def wait_registered(self, ids, timeout=120):
        want = sorted(str(i) for i in ids)

        def registered():
            for b in self.brokers.values():
                if b.id in ids and not b.alive():
                    pytest.fail(f"broker {b.id} exited with {b.proc.returncode}; log tail:\n{b.log_tail()}",
                                pytrace=False)
            try:
                return sorted(self.zk(lambda c: c.get_children("/brokers/ids"), timeout=5)) == want
            except Exception:
                return False

        if not wait_until(registered, timeout=timeout, interval=0.5):
            pytest.fail(f"brokers {want} not all registered in {CHROOT}/brokers/ids after {timeout}s:\n"
                        + "\n".join(f"--- broker {b.id}:\n{b.log_tail(15)}" for b in self.brokers.values()),
                        pytrace=False)

    def zk(self, fn, timeout=15):
        """fn(kazoo client chrooted at /kafka), on a new short session."""
        from kazoo.client import KazooClient
        c = KazooClient(hosts=self.zk_connect() + CHROOT, timeout=10)
        c.start(timeout=timeout)
        try:
            return fn(c)
        finally:
            try:
                c.stop()
                c.close()
            except Exception:
                pass

    def zk_json(self, path):
        return json.loads(self.zk(lambda c: c.get(path)[0]).decode())

    def owners(self):
        """{broker id: ephemeral owner of /brokers/ids/<id>}."""
        def read(c):
            return {int(i): c.exists(f"/brokers/ids/{i}").ephemeralOwner for i in c.get_children("/brokers/ids")}
        return self.zk(read)

    def controller(self):
        """(controller broker id, /controller_epoch) or (None, epoch)."""
        from kazoo.exceptions import NoNodeError

        def data(c, path):
            try:
                return c.get(path)[0]
            except NoNodeError:  # (not exists() then get(): the node may go in between)
                return None

        def read(c):
            # /controller first: an election creates it and bumps the epoch in one multi,
            # so the epoch read after it is at least that controller's. (Epoch first, an
            # election between the two reads paired the new controller with the old epoch.)
            ctrl, epoch = data(c, "/controller"), data(c, "/controller_epoch")
            return (None if ctrl is None else json.loads(ctrl)["brokerid"]), (None if epoch is None else int(epoch))
        return self.zk(read)

    def command(self, *args):
        return client_command(self.classes, self.client_log4j, self.bootstrap, *args)

    def run(self, *args, timeout=150):
        """Run one KafkaCompat command to its end in the cluster's shell process (started
        on first use); its CHECK values (asserts it finished without a failure)."""
        if self.shell is None or self.shell[0].poll() is not None:
            p = subprocess.Popen(self.command("shell"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
            self.shell = (p, Lines(p.stdout), Lines(p.stderr))
        p, out, err = self.shell
        start = len(out.lines)
        p.stdin.write(" ".join(args) + "\n")
        p.stdin.flush()

        def answer(lines):
            return next((ln for ln in lines[start:] if ln in ("DONE", "FAILED")), None)

        end = out.wait(answer, timeout)
        lines = out.lines[start:]
        if end is None:
            end_process(p, signal.SIGKILL, 10)
            self.shell = None
        text = "\n".join(lines[-60:]) + "\n--- stderr:\n" + "\n".join(err.lines[-30:])
        assert end == "DONE", \
            f"KafkaCompat {' '.join(args)}: {end or f'no answer in {timeout}s'}\n{text}" + self.broker_tails()
        return curator.checks(lines)

    def start_load(self, topic):
        """A `load` run in the background: (process, stdout Lines, stderr Lines, ack file)."""
        ackfile = os.path.join(self.dir, f"acked-{topic}.txt")
        p = subprocess.Popen(self.command("load", topic, ackfile), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        return p, Lines(p.stdout), Lines(p.stderr), ackfile

    def finish_load(self, load, timeout=120):
        p, out, err, ackfile = load
        try:
            p.stdin.write("stop\n")
            p.stdin.flush()
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=timeout)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        out.t.join(5)
        text = "\n".join(out.lines[-30:]) + "\n--- stderr:\n" + "\n".join(err.lines[-30:])
        assert p.returncode == 0 and "DONE" in out.lines, f"load: rc={p.returncode}\n{text}"
        return curator.checks(out.lines), text

    def wait_acked(self, load, n, timeout):
        """Until the load run has n more acknowledged records than now; asserts it."""
        p, out, err, _ = load
        start = progress(out.lines)[0]
        ok = out.wait(lambda lines: progress(lines)[0] >= start + n, timeout)
        assert ok, (f"load: fewer than {n} records acknowledged in {timeout}s (progress {progress(out.lines)}):\n"
                    + "\n".join(out.lines[-10:] + err.lines[-20:]) + self.broker_tails())

    def broker_tails(self, n=15):
        return "".join(f"\n--- broker {b.id}:\n{b.log_tail(n)}" for b in self.brokers.values())

    def close(self, keep=None):
        """Kill the brokers and the shell; remove the directory unless keep (default: the
        KAFKA_KEEP environment variable)."""
        if keep is None:
            keep = bool(os.environ.get("KAFKA_KEEP"))
        if self.shell is not None:
            try:
                self.shell[0].stdin.close()
            except OSError:
                pass
            end_process(self.shell[0], signal.SIGTERM, 5)
        for b in self.brokers.values():
            b.kill9()
            zkraw.release_port(b.port)
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


LOAD_EXPECTED = {"load.stopped_by_request": "true", "load.errors": "0", "load.all_answered": "true"}
VERIFY_EXPECTED = {"verify.missing": "0", "verify.acked_nonzero": "true"}


def create_topic(cluster, topic, partitions=3, rf=3):
    got = cluster.run("create", topic, str(partitions), str(rf))
    assert got == {"create.created": "true", "create.partitions": str(partitions),
                   "create.replicas": str(rf), "create.isr_full": "true"}, got


def produce_consume(cluster, topic, n, tag):
    assert cluster.run("produce", topic, str(n), tag) == {"produce.acked": str(n), "produce.errors": "0"}
    assert cluster.run("consume", topic, str(n), tag) == {"consume.distinct": str(n)}


# --- standalone server, 3 brokers -----------------------------------------------------------

@pytest.fixture(scope="module", params=KINDS, ids=KINDS)
def standalone(request, classes):
    """(ZooKeeper server of the kind, KafkaCluster on it): shared by the kind's tests."""
    srv = ServerHandle(request.param)
    cluster = None
    try:
        srv.start()
        cluster = KafkaCluster(classes, lambda: srv.hostport, request.param,
                               session_timeout_ms=STANDALONE_SESSION_TIMEOUT_MS)
        cluster.start()
        yield srv, cluster
    finally:
        keep = bool(os.environ.get("KAFKA_KEEP"))
        if cluster is not None:
            cluster.close(keep)
        srv.cleanup() if not keep else srv.stop()


def test_brokers_register_and_elect_controller(standalone):
    srv, cluster = standalone
    owners = cluster.owners()
    assert sorted(owners) == [1, 2, 3], owners
    assert len(set(owners.values())) == 3 and 0 not in owners.values(), owners
    for i, b in cluster.brokers.items():
        reg = cluster.zk_json(f"/brokers/ids/{i}")
        assert reg["endpoints"] == [f"PLAINTEXT://{b.hostport}"], reg
        assert (reg["host"], reg["port"]) == (HOST, b.port), reg
    ctrl, epoch = cluster.controller()
    assert ctrl in (1, 2, 3) and epoch is not None and epoch >= 1, (ctrl, epoch)
    assert cluster.zk(lambda c: c.exists("/cluster/id")) is not None
    got = cluster.run("cluster", "3")
    assert got == {"cluster.nodes": "[1, 2, 3]", "cluster.controller": str(ctrl)}, got


def test_topic_produce_consume_acks_all(standalone):
    srv, cluster = standalone
    create_topic(cluster, "t-basic")
    produce_consume(cluster, "t-basic", 300, "basic")
    topic = cluster.zk_json("/brokers/topics/t-basic")
    assert sorted(topic["partitions"]) == ["0", "1", "2"], topic
    assert all(sorted(r) == [1, 2, 3] for r in topic["partitions"].values()), topic

    def states():
        return cluster.zk(lambda c: [json.loads(c.get(f"/brokers/topics/t-basic/partitions/{p}/state")[0])
                                     for p in range(3)])

    # A follower starved for replica.lag.time.max.ms (10 s) on a loaded machine is dropped
    # from the ISR and added back once it has caught up: wait (bounded) for the full ISR.
    wait_until(lambda: all(sorted(s["isr"]) == [1, 2, 3] for s in states()), timeout=60, interval=0.5)
    for state in states():
        assert sorted(state["isr"]) == [1, 2, 3] and state["leader"] in (1, 2, 3), state
    # the group coordinator's topic, created through ZooKeeper on the consumer's first use
    assert cluster.zk(lambda c: c.exists("/brokers/topics/__consumer_offsets")) is not None


ACL_EXPECTED = {
    "acls.topic_ready": "true",
    "acls.before_acked": "3",
    "acls.described": "[GROUP:PREFIXED:acl-group User:alice@* READ ALLOW, TOPIC:LITERAL:acl-topic User:ANONYMOUS@* READ ALLOW, "
                      "TOPIC:LITERAL:acl-topic User:ANONYMOUS@* WRITE DENY]",
    "acls.denied_partitions": "3",
    "acls.read_before_records": "[before-0, before-1, before-2]",
    "acls.deleted": "[TOPIC:LITERAL:acl-topic User:ANONYMOUS@* READ ALLOW, TOPIC:LITERAL:acl-topic User:ANONYMOUS@* WRITE DENY]",
    "acls.after_delete_acked": "3",
    "acls.remaining": "[GROUP:PREFIXED:acl-group User:alice@* READ ALLOW]",
}


def test_acls_zookeeper_authorizer(standalone):
    srv, cluster = standalone
    got = cluster.run("acls")
    assert got == ACL_EXPECTED

    def read(c):
        group = json.loads(c.get("/kafka-acl-extended/prefixed/Group/acl-group")[0])
        return (group, c.exists("/kafka-acl/Topic/acl-topic"), c.get_children("/kafka-acl-changes"),
                c.get_children("/kafka-acl-extended-changes"))

    group, topic_node, changes, ext_changes = cluster.zk(read)
    assert [(a["principal"], a["operation"], a["permissionType"]) for a in group["acls"]] == \
           [("User:alice", "Read", "Allow")], group
    assert topic_node is None  # its last ACL deleted: the znode goes too
    assert changes and all(n.startswith("acl_changes_") for n in changes), changes
    assert ext_changes, ext_changes


CONFIG_EXPECTED = {
    "configs.topic_retention": "12345/DYNAMIC_TOPIC_CONFIG",
    "configs.topic_max_message": "200000/DYNAMIC_TOPIC_CONFIG",
    "configs.topic_max_message_deleted": "1048588/DEFAULT_CONFIG",
    "configs.broker2_retention": "7200000/DYNAMIC_BROKER_CONFIG",
    "configs.broker3_retention_source": "DEFAULT_CONFIG",
    "configs.default_retention_bytes_on_3": "987654321/DYNAMIC_DEFAULT_BROKER_CONFIG",
    "configs.default_retention_bytes_on_1": "987654321/DYNAMIC_DEFAULT_BROKER_CONFIG",
}


def test_dynamic_configs(standalone):
    srv, cluster = standalone
    got = cluster.run("configs")
    assert got == CONFIG_EXPECTED
    assert cluster.zk_json("/config/topics/cfg-topic")["config"] == {"retention.ms": "12345"}
    assert cluster.zk_json("/config/brokers/2")["config"] == {"log.retention.ms": "7200000"}
    assert cluster.zk_json("/config/brokers/<default>")["config"] == {"log.retention.bytes": "987654321"}
    changes = cluster.zk(lambda c: c.get_children("/config/changes"))
    assert changes and all(n.startswith("config_change_") for n in changes), changes


REASSIGN_EXPECTED = {
    "reassign.created": "true",
    "produce.acked": "20",
    "produce.errors": "0",
    "reassign.done": "true",
    "reassign.replicas": "[2, 3]",
    "reassign.isr": "[2, 3]",
    "consume.distinct": "20",
}


def test_partition_reassignment(standalone):
    srv, cluster = standalone
    got = cluster.run("reassign", "re-topic")
    assert got == REASSIGN_EXPECTED
    assert cluster.zk_json("/brokers/topics/re-topic")["partitions"] == {"0": [2, 3]}

    # The ZooKeeper way (kafka-reassign-partitions' old --zookeeper path): the controller
    # watches /admin/reassign_partitions, moves the partition, then deletes the znode.
    plan = {"version": 1, "partitions": [{"topic": "re-topic", "partition": 0, "replicas": [3, 1]}]}
    cluster.zk(lambda c: c.create("/admin/reassign_partitions", json.dumps(plan).encode(), makepath=True))

    def moved():
        def read(c):
            topic = json.loads(c.get("/brokers/topics/re-topic")[0])
            state = json.loads(c.get("/brokers/topics/re-topic/partitions/0/state")[0])
            return c.exists("/admin/reassign_partitions") is None, topic["partitions"], sorted(state["isr"])
        return cluster.zk(read)

    final = wait_until(lambda: moved() == (True, {"0": [3, 1]}, [1, 3]), timeout=60, interval=0.5)
    assert final, f"reassignment through /admin/reassign_partitions not done: {moved()}" + cluster.broker_tails()


def test_zookeeper_killed_and_restarted(standalone):
    srv, cluster = standalone
    owners = cluster.owners()
    ctrl = cluster.controller()
    assert len(owners) == 3 and ctrl[0] is not None, (owners, ctrl)
    port = srv.port
    end_process(srv.proc, signal.SIGKILL, 10)
    srv.proc = None
    srv.start()
    restarted = time.monotonic()
    assert srv.port == port, "the restarted server had to take another port"

    # a topic created after the restart: the controller's watch on /brokers/topics fires
    create_topic(cluster, "t-after-zk-restart")
    produce_consume(cluster, "t-after-zk-restart", 100, "zkrestart")
    # a config change after the restart reaches every broker: their watches on
    # /config/changes were set again on the restarted server
    assert cluster.run("broker-default", "log.retention.bytes", "555555555") == {"default.seen_by": "[1, 2, 3]"}

    # once the session timeout has passed since the restart, a session the brokers had not
    # taken back would have expired and its ephemerals be gone (or re-created by a new one)
    rest = cluster.session_timeout_ms / 1000 + 2 - (time.monotonic() - restarted)
    if rest > 0:
        time.sleep(rest)
    assert cluster.owners() == owners, "broker sessions did not survive the ZooKeeper restart"
    assert cluster.controller() == ctrl, "the controller changed across the ZooKeeper restart"


def test_controller_broker_killed_under_load(standalone):
    srv, cluster = standalone
    create_topic(cluster, "t-failover")
    old, epoch = cluster.controller()
    owners = cluster.owners()
    load = cluster.start_load("t-failover")
    try:
        cluster.wait_acked(load, 100, 60)
        cluster.brokers[old].kill9()
        killed = time.monotonic()

        def moved():
            c = cluster.controller()
            return c if c[0] not in (None, old) else None

        new = wait_until(moved, timeout=cluster.session_timeout_ms / 1000 + 30, interval=0.3)
        assert new, f"no new controller after killing broker {old}: {cluster.controller()}" + cluster.broker_tails()
        assert new[1] == epoch + 1, (new, epoch)
        cluster.wait_acked(load, 150, 60)
    finally:
        got, text = cluster.finish_load(load)
    assert got == LOAD_EXPECTED, text
    assert cluster.run("verify", "t-failover", load[3]) == VERIFY_EXPECTED
    elapsed = time.monotonic() - killed
    # its session expired on the server: its registration is gone, the others' kept
    after = cluster.owners()
    assert after == {i: s for i, s in owners.items() if i != old}, (after, owners, old, elapsed)

    # restarted: registers again, with a new session
    cluster.brokers[old].start()
    cluster.wait_registered([1, 2, 3])
    again = cluster.owners()
    assert again[old] not in owners.values(), (again, owners)
    got = cluster.run("cluster", "3")
    assert got == {"cluster.nodes": "[1, 2, 3]", "cluster.controller": str(new[0])}, got
    produce_consume(cluster, "t-failover", 50, "after-failover")


# --- 3-member ensemble, a member killed under load -------------------------------------------

def session_member(ens, session_id):
    """The member whose `cons` lists a connection of session_id (None if none does)."""
    sid = f"sid=0x{session_id:x}"
    for m in ens.members:
        if not m.alive():
            continue
        try:
            text = m.fourlw("cons")
        except OSError:
            continue
        if sid in text:
            return m
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_ensemble_member_killed_under_load(kind, classes, ensemble_factory):
    ens = ensemble_factory([kind] * 3)
    cluster = KafkaCluster(classes, ens.connect_string, f"ens-{kind}")
    try:
        cluster.start()
        create_topic(cluster, "t-ens")
        owners = cluster.owners()
        ctrl = cluster.controller()
        load = cluster.start_load("t-ens")
        try:
            cluster.wait_acked(load, 100, 60)
            victim = session_member(ens, owners[ctrl[0]])
            chose = "controller's member"
            if victim is None:
                victim, chose = ens.leader(), "leader"
            print(f"killing member {victim} ({chose}); modes {ens.modes()}")
            ens.kill9(victim)
            cluster.wait_acked(load, 150, 60)
            # a topic created while the member is down: the controller's watches work; a
            # config change reaches every broker (their /config/changes watches too)
            create_topic(cluster, "t-ens-after")
            assert cluster.run("broker-default", "log.retention.bytes", "444444444") == \
                {"default.seen_by": "[1, 2, 3]"}
            cluster.wait_acked(load, 50, 60)
        finally:
            got, text = cluster.finish_load(load)
        assert got == LOAD_EXPECTED, text
        assert cluster.run("verify", "t-ens", load[3]) == VERIFY_EXPECTED
        produce_consume(cluster, "t-ens-after", 50, "ens-after")
        assert cluster.owners() == owners, "broker sessions did not survive the member's loss"
        assert cluster.controller() == ctrl, "the controller changed when a ZooKeeper member died"
    except BaseException:
        print("broker logs:" + cluster.broker_tails(30))
        raise
    finally:
        cluster.close()
