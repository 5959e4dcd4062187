// The client side of compat-tests/test_client_kafka.py: Kafka 3.9's AdminClient, producer
// and consumer against brokers that keep their metadata in the ZooKeeper server under test.
//
//   java -cp <classes>:target/kafka-3.9/lib/* KafkaCompat <bootstrap> <command> args...
//
//   java ... KafkaCompat <bootstrap> shell   (commands from stdin, one a line, each
//                                             answered with its lines, then DONE or FAILED)
//
// Commands (each prints "CHECK name value" lines, "INFO ..." lines for a failure's
// context, and "DONE" when it got to its end):
//   cluster <n>                       brokers in the metadata (waits until n), controller id
//   create <topic> <partitions> <rf>  create, wait until every partition has a leader and a full ISR
//   produce <topic> <n> <tag>         n records "<tag>-<i>" with acks=all, every one acknowledged
//   consume <topic> <n> <tag>         a new consumer group reads until it saw <tag>-0..<tag>-(n-1)
//   acls                              ACLs through the brokers' ZooKeeper-backed AclAuthorizer
//   configs                           dynamic topic, broker and cluster-default configs
//   reassign <topic>                  alterPartitionReassignments of a [1,2] partition to [2,3]
//   broker-default <name> <value>     a cluster-default broker config, until every broker has it
//   load <topic> <ackfile>            produce until "stop" on stdin (or 120 s): acknowledged
//                                     values to <ackfile>, "PROGRESS <acked> <errors>" lines
//   verify <topic> <ackfile>          every value in <ackfile> is in the topic
//
// Every wait has a deadline; a command that times out prints what it saw and exits 1.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class KafkaCompat {
    static String bootstrap;
    static int failures = 0;

    static void check(String name, Object value) {
        System.out.println("CHECK " + name + " " + value);
        System.out.flush();
    }

    static void info(String msg) {
        System.out.println("INFO " + msg);
        System.out.flush();
    }

    /** Poll cond every 200 ms until true or timeoutMs passed; the last result. */
    static boolean waitFor(long timeoutMs, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (true) {
            if (cond.getAsBoolean()) {
                return true;
            }
            if (System.currentTimeMillis() >= deadline) {
                return false;
            }
            Thread.sleep(200);
        }
    }

    static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        p.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "200");
        return Admin.create(p);
    }

    static KafkaProducer<String, String> producer(int deliveryTimeoutMs) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        p.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, "200");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Integer.toString(deliveryTimeoutMs));
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<String, String> consumer(String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(ConsumerConfig.RETRY_BACKOFF_MS_CONFIG, "200");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    static TopicDescription describe(Admin a, String topic) {
        try {
            return a.describeTopics(Collections.singleton(topic)).allTopicNames().get().get(topic);
        } catch (Exception e) {
            return null;
        }
    }

    /** Every partition of topic has a leader and its ISR is all of its replicas. */
    static boolean fullyReplicated(TopicDescription d, int partitions) {
        if (d == null || d.partitions().size() != partitions) {
            return false;
        }
        for (TopicPartitionInfo p : d.partitions()) {
            if (p.leader() == null || p.leader().isEmpty() || p.isr().size() != p.replicas().size()) {
                return false;
            }
        }
        return true;
    }

    static List<Integer> ids(List<Node> nodes) {
        List<Integer> out = new ArrayList<>();
        for (Node n : nodes) {
            out.add(n.id());
        }
        return out;
    }

    static List<Integer> sortedIds(List<Node> nodes) {
        List<Integer> out = ids(nodes);
        Collections.sort(out);
        return out;
    }

    // --- cluster ---------------------------------------------------------------------------

    static void cluster(int want) throws Exception {
        try (Admin a = admin()) {
            AtomicReference<List<Integer>> nodes = new AtomicReference<>(List.of());
            AtomicInteger controller = new AtomicInteger(-1);
            boolean ok = waitFor(60000, () -> {
                try {
                    DescribeClusterResult r = a.describeCluster();
                    List<Integer> ids = new ArrayList<>();
                    for (Node n : r.nodes().get()) {
                        ids.add(n.id());
                    }
                    Collections.sort(ids);
                    nodes.set(ids);
                    Node c = r.controller().get();
                    controller.set(c == null ? -1 : c.id());
                    return ids.size() == want && controller.get() >= 0;
                } catch (Exception e) {
                    return false;
                }
            });
            check("cluster.nodes", nodes.get());
            check("cluster.controller", controller.get());
            if (!ok) {
                failures++;
            }
        }
    }

    // --- create ----------------------------------------------------------------------------

    static void create(String topic, int partitions, short rf) throws Exception {
        try (Admin a = admin()) {
            a.createTopics(List.of(new NewTopic(topic, partitions, rf))).all().get();
            check("create.created", true);
            boolean ok = waitFor(60000, () -> fullyReplicated(describe(a, topic), partitions));
            TopicDescription d = describe(a, topic);
            check("create.partitions", d == null ? -1 : d.partitions().size());
            int minReplicas = Integer.MAX_VALUE;
            for (TopicPartitionInfo p : d == null ? List.<TopicPartitionInfo>of() : d.partitions()) {
                minReplicas = Math.min(minReplicas, p.replicas().size());
                info("partition " + p.partition() + " leader " + p.leader() + " replicas " + ids(p.replicas())
                     + " isr " + ids(p.isr()));
            }
            check("create.replicas", minReplicas);
            check("create.isr_full", ok);
        }
    }

    // --- produce / consume -----------------------------------------------------------------

    static void produce(String topic, int n, String tag) throws Exception {
        int acked = 0;
        int errors = 0;
        try (KafkaProducer<String, String> p = producer(60000)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                fs.add(p.send(new ProducerRecord<>(topic, Integer.toString(i), tag + "-" + i)));
            }
            for (Future<?> f : fs) {
                try {
                    f.get();
                    acked++;
                } catch (ExecutionException e) {
                    if (errors++ == 0) {
                        info("produce error: " + e.getCause());
                    }
                }
            }
        }
        check("produce.acked", acked);
        check("produce.errors", errors);
    }

    /** Values read by a consumer (group or, with group null, all partitions assigned)
     *  until stop says enough or timeoutMs passed. */
    static List<String> readAll(String topic, String group, long timeoutMs, java.util.function.Predicate<Set<String>> stop) {
        List<String> values = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        try (KafkaConsumer<String, String> c = consumer(group)) {
            if (group != null) {
                c.subscribe(List.of(topic));
            } else {
                List<TopicPartition> tps = new ArrayList<>();
                for (var pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
                    tps.add(new TopicPartition(topic, pi.partition()));
                }
                c.assign(tps);
                c.seekToBeginning(tps);
            }
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (System.currentTimeMillis() < deadline && !stop.test(seen)) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    values.add(r.value());
                    seen.add(r.value());
                }
            }
        }
        return values;
    }

    static void consume(String topic, int n, String tag) {
        Set<String> want = new HashSet<>();
        for (int i = 0; i < n; i++) {
            want.add(tag + "-" + i);
        }
        List<String> got = readAll(topic, "g-" + tag, 60000, seen -> seen.containsAll(want));
        Set<String> distinct = new HashSet<>(got);
        distinct.retainAll(want);
        check("consume.distinct", distinct.size());
        Set<String> missing = new TreeSet<>(want);
        missing.removeAll(distinct);
        if (!missing.isEmpty()) {
            info("missing (first 20): " + new ArrayList<>(missing).subList(0, Math.min(20, missing.size())));
        }
    }

    // --- ACLs --------------------------------------------------------------------------------

    /** One record to each partition of topic; how many were refused with a
     *  TopicAuthorizationException and how many acknowledged. */
    static int[] probeWrites(String topic, int partitions, String tag) {
        int refused = 0;
        int acked = 0;
        try (KafkaProducer<String, String> p = producer(15000)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int i = 0; i < partitions; i++) {
                fs.add(p.send(new ProducerRecord<>(topic, i, "k", tag + "-" + i)));
            }
            for (Future<?> f : fs) {
                try {
                    f.get();
                    acked++;
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof TopicAuthorizationException) {
                        refused++;
                    } else {
                        info("probe write: " + e.getCause());
                    }
                } catch (Exception e) {
                    info("probe write: " + e);
                }
            }
        } catch (Exception e) {
            info("probe producer: " + e);
        }
        return new int[] {refused, acked};
    }

    static String bindings(Collection<AclBinding> acls) {
        TreeSet<String> out = new TreeSet<>();
        for (AclBinding b : acls) {
            ResourcePattern r = b.pattern();
            AccessControlEntry e = b.entry();
            out.add(r.resourceType() + ":" + r.patternType() + ":" + r.name() + " " + e.principal() + "@" + e.host()
                    + " " + e.operation() + " " + e.permissionType());
        }
        return out.toString();
    }

    static void acls() throws Exception {
        String topic = "acl-topic";
        int parts = 3;
        try (Admin a = admin()) {
            a.createTopics(List.of(new NewTopic(topic, parts, (short) 3))).all().get();
            check("acls.topic_ready", waitFor(60000, () -> fullyReplicated(describe(a, topic), parts)));
            int[] before = probeWrites(topic, parts, "before");
            check("acls.before_acked", before[1]);

            AclBinding deny = new AclBinding(new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL),
                    new AccessControlEntry("User:ANONYMOUS", "*", AclOperation.WRITE, AclPermissionType.DENY));
            // once a topic has an ACL, allow.everyone.if.no.acl.found no longer covers it: its
            // readers need an ALLOW (READ implies DESCRIBE, which metadata requests need)
            AclBinding allowRead = new AclBinding(new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL),
                    new AccessControlEntry("User:ANONYMOUS", "*", AclOperation.READ, AclPermissionType.ALLOW));
            AclBinding prefixed = new AclBinding(new ResourcePattern(ResourceType.GROUP, "acl-group", PatternType.PREFIXED),
                    new AccessControlEntry("User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW));
            a.createAcls(List.of(deny, allowRead, prefixed)).all().get();
            check("acls.described", bindings(a.describeAcls(AclBindingFilter.ANY).values().get()));

            // every partition leader (every broker) refuses the write once the ACL change
            // notification reached it through its ZooKeeper watch
            AtomicReference<int[]> last = new AtomicReference<>();
            boolean enforced = waitFor(30000, () -> {
                last.set(probeWrites(topic, parts, "denied"));
                return last.get()[0] == parts;
            });
            check("acls.denied_partitions", last.get()[0]);
            if (!enforced) {
                info("deny not enforced everywhere: " + Arrays.toString(last.get()));
            }
            // reading is not denied: the records from before are there (a probe may also have
            // written a "denied-" record to a broker the ACL had not reached yet)
            Set<String> beforeValues = new HashSet<>();
            for (int i = 0; i < parts; i++) {
                beforeValues.add("before-" + i);
            }
            TreeSet<String> read = new TreeSet<>(readAll(topic, null, 30000, seen -> seen.containsAll(beforeValues)));
            read.retainAll(beforeValues);
            check("acls.read_before_records", read);

            Collection<AclBinding> deleted = a.deleteAcls(List.of(new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.TOPIC, topic, PatternType.LITERAL),
                    AccessControlEntryFilter.ANY))).all().get();
            check("acls.deleted", bindings(deleted));
            boolean lifted = waitFor(30000, () -> {
                last.set(probeWrites(topic, parts, "after"));
                return last.get()[1] == parts;
            });
            check("acls.after_delete_acked", last.get()[1]);
            check("acls.remaining", bindings(a.describeAcls(AclBindingFilter.ANY).values().get()));
        }
    }

    // --- dynamic configs -----------------------------------------------------------------------

    static ConfigEntry configEntry(Admin a, ConfigResource r, String name) {
        try {
            Config c = a.describeConfigs(List.of(r)).all().get().get(r);
            return c == null ? null : c.get(name);
        } catch (Exception e) {
            info("describeConfigs " + r + ": " + e);
            return null;
        }
    }

    static String show(ConfigEntry e) {
        return e == null ? "null" : e.value() + "/" + e.source();
    }

    static void alter(Admin a, ConfigResource r, AlterConfigOp.OpType op, String name, String value) throws Exception {
        a.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(new ConfigEntry(name, value), op)))).all().get();
    }

    /** Wait until describeConfigs of (r, name) shows want ("value/SOURCE"); check it. */
    static void expectConfig(Admin a, String check, ConfigResource r, String name, String want) throws Exception {
        AtomicReference<String> got = new AtomicReference<>();
        waitFor(30000, () -> {
            got.set(show(configEntry(a, r, name)));
            return got.get().equals(want);
        });
        check(check, got.get());
    }

    static void configs() throws Exception {
        String topic = "cfg-topic";
        try (Admin a = admin()) {
            a.createTopics(List.of(new NewTopic(topic, 1, (short) 3))).all().get();
            ConfigResource t = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            alter(a, t, AlterConfigOp.OpType.SET, "retention.ms", "12345");
            alter(a, t, AlterConfigOp.OpType.SET, "max.message.bytes", "200000");
            expectConfig(a, "configs.topic_retention", t, "retention.ms", "12345/DYNAMIC_TOPIC_CONFIG");
            expectConfig(a, "configs.topic_max_message", t, "max.message.bytes", "200000/DYNAMIC_TOPIC_CONFIG");
            alter(a, t, AlterConfigOp.OpType.DELETE, "max.message.bytes", null);
            expectConfig(a, "configs.topic_max_message_deleted", t, "max.message.bytes", "1048588/DEFAULT_CONFIG");

            // one broker's own value: sent to broker 2, kept in /config/brokers/2
            ConfigResource b2 = new ConfigResource(ConfigResource.Type.BROKER, "2");
            alter(a, b2, AlterConfigOp.OpType.SET, "log.retention.ms", "7200000");
            expectConfig(a, "configs.broker2_retention", b2, "log.retention.ms", "7200000/DYNAMIC_BROKER_CONFIG");
            // broker 3 does not have it
            ConfigResource b3 = new ConfigResource(ConfigResource.Type.BROKER, "3");
            check("configs.broker3_retention_source", String.valueOf(configEntry(a, b3, "log.retention.ms").source()));

            // the cluster-wide default (/config/brokers/<default>): broker 3 learns of it through
            // the config change notification (its ZooKeeper watch on /config/changes)
            ConfigResource all = new ConfigResource(ConfigResource.Type.BROKER, "");
            alter(a, all, AlterConfigOp.OpType.SET, "log.retention.bytes", "987654321");
            expectConfig(a, "configs.default_retention_bytes_on_3", b3, "log.retention.bytes",
                         "987654321/DYNAMIC_DEFAULT_BROKER_CONFIG");
            expectConfig(a, "configs.default_retention_bytes_on_1", new ConfigResource(ConfigResource.Type.BROKER, "1"),
                         "log.retention.bytes", "987654321/DYNAMIC_DEFAULT_BROKER_CONFIG");
        }
    }

    /** The cluster-wide default of a dynamic broker config set to value; every broker
     *  (describeConfigs answered by that broker) reports it once its watch on
     *  /config/changes fired. */
    static void brokerDefault(String name, String value) throws Exception {
        try (Admin a = admin()) {
            alter(a, new ConfigResource(ConfigResource.Type.BROKER, ""), AlterConfigOp.OpType.SET, name, value);
            List<Integer> seenBy = new ArrayList<>();
            for (Node n : a.describeCluster().nodes().get()) {
                ConfigResource b = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(n.id()));
                AtomicReference<String> got = new AtomicReference<>();
                if (waitFor(30000, () -> {
                    got.set(show(configEntry(a, b, name)));
                    return got.get().equals(value + "/DYNAMIC_DEFAULT_BROKER_CONFIG");
                })) {
                    seenBy.add(n.id());
                } else {
                    info("broker " + n.id() + " has " + name + " " + got.get());
                }
            }
            Collections.sort(seenBy);
            check("default.seen_by", seenBy);
        }
    }

    // --- partition reassignment ------------------------------------------------------------------

    static void reassign(String topic) throws Exception {
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin a = admin()) {
            a.createTopics(List.of(new NewTopic(topic, Map.of(0, List.of(1, 2))))).all().get();
            check("reassign.created", waitFor(60000, () -> fullyReplicated(describe(a, topic), 1)));
            produce(topic, 20, "re");
            a.alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(2, 3)))))
             .all().get();
            AtomicReference<Map<TopicPartition, PartitionReassignment>> ongoing = new AtomicReference<>();
            boolean done = waitFor(60000, () -> {
                try {
                    ongoing.set(a.listPartitionReassignments().reassignments().get());
                    return ongoing.get().isEmpty();
                } catch (Exception e) {
                    return false;
                }
            });
            check("reassign.done", done);
            if (!done) {
                info("still reassigning: " + ongoing.get());
            }
            AtomicReference<TopicDescription> d = new AtomicReference<>();
            waitFor(30000, () -> {
                d.set(describe(a, topic));
                return d.get() != null && fullyReplicated(d.get(), 1)
                       && sortedIds(d.get().partitions().get(0).replicas()).equals(List.of(2, 3));
            });
            TopicPartitionInfo p = d.get() == null ? null : d.get().partitions().get(0);
            check("reassign.replicas", p == null ? "none" : ids(p.replicas()));
            check("reassign.isr", p == null ? "none" : sortedIds(p.isr()));
        }
        consume(topic, 20, "re");
    }

    // --- continuous load -----------------------------------------------------------------------

    static void load(String topic, String ackFile) throws Exception {
        Set<String> acked = new ConcurrentSkipListSet<>();
        AtomicInteger errors = new AtomicInteger();
        AtomicReference<String> firstError = new AtomicReference<>();
        AtomicReference<Boolean> stop = new AtomicReference<>(false);
        Thread stdin = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.trim().equals("stop")) {
                        break;
                    }
                }
            } catch (Exception e) {
                // stdin closed: stop as well
            }
            stop.set(true);
        });
        stdin.setDaemon(true);
        stdin.start();
        long deadline = System.currentTimeMillis() + 120000;
        int sent = 0;
        long lastProgress = 0;
        try (KafkaProducer<String, String> p = producer(90000)) {
            while (!stop.get() && System.currentTimeMillis() < deadline) {
                String v = "L-" + sent;
                p.send(new ProducerRecord<>(topic, Integer.toString(sent), v), (md, e) -> {
                    if (e == null) {
                        acked.add(v);
                    } else {
                        errors.incrementAndGet();
                        firstError.compareAndSet(null, e.toString());
                    }
                });
                sent++;
                // at most ~200 in flight beyond the acknowledged: a steady, bounded rate
                while (sent - acked.size() - errors.get() > 200 && !stop.get() && System.currentTimeMillis() < deadline) {
                    Thread.sleep(5);
                }
                Thread.sleep(4);
                long now = System.currentTimeMillis();
                if (now - lastProgress >= 250) {
                    System.out.println("PROGRESS " + acked.size() + " " + errors.get());
                    System.out.flush();
                    lastProgress = now;
                }
            }
            p.flush();
        }
        try (var w = Files.newBufferedWriter(Paths.get(ackFile), StandardCharsets.UTF_8)) {
            for (String v : acked) {
                w.write(v);
                w.write('\n');
            }
        }
        info("sent " + sent + " acked " + acked.size() + " errors " + errors.get() + " first error " + firstError.get());
        check("load.stopped_by_request", stop.get());
        check("load.errors", errors.get());
        check("load.all_answered", acked.size() + errors.get() == sent);
    }

    static void verify(String topic, String ackFile) throws Exception {
        Set<String> want = new HashSet<>(Files.readAllLines(Paths.get(ackFile), StandardCharsets.UTF_8));
        want.remove("");
        List<String> got = readAll(topic, null, 60000, seen -> seen.containsAll(want));
        Set<String> distinct = new HashSet<>(got);
        Set<String> missing = new TreeSet<>(want);
        missing.removeAll(distinct);
        info("acked " + want.size() + " read " + got.size() + " distinct " + distinct.size());
        if (!missing.isEmpty()) {
            info("missing (first 20): " + new ArrayList<>(missing).subList(0, Math.min(20, missing.size())));
        }
        check("verify.missing", missing.size());
        check("verify.acked_nonzero", !want.isEmpty());
    }

    static void dispatch(String cmd, String[] a) throws Exception {
        switch (cmd) {
            case "cluster": cluster(Integer.parseInt(a[0])); break;
            case "create": create(a[0], Integer.parseInt(a[1]), Short.parseShort(a[2])); break;
            case "produce": produce(a[0], Integer.parseInt(a[1]), a[2]); break;
            case "consume": consume(a[0], Integer.parseInt(a[1]), a[2]); break;
            case "acls": acls(); break;
            case "configs": configs(); break;
            case "reassign": reassign(a[0]); break;
            case "broker-default": brokerDefault(a[0], a[1]); break;
            case "load": load(a[0], a[1]); break;
            case "verify": verify(a[0], a[1]); break;
            default: throw new IllegalArgumentException("unknown command " + cmd);
        }
    }

    /** shell: one command a line from stdin, each answered with its lines and then "DONE"
     *  or "FAILED" (one JVM for a whole test's commands instead of one JVM each). */
    static void shell() throws Exception {
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = r.readLine()) != null) {
            String[] words = line.trim().split(" ");
            if (words[0].isEmpty()) {
                continue;
            }
            failures = 0;
            try {
                dispatch(words[0], Arrays.copyOfRange(words, 1, words.length));
            } catch (Throwable e) {
                info("command failed: " + e);
                failures++;
            }
            System.out.println(failures == 0 ? "DONE" : "FAILED");
            System.out.flush();
        }
    }

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        if (args[1].equals("shell")) {
            shell();
            System.exit(0);
        }
        dispatch(args[1], Arrays.copyOfRange(args, 2, args.length));
        System.out.println("DONE");
        System.out.flush();
        System.exit(failures == 0 ? 0 : 1);
    }
}
