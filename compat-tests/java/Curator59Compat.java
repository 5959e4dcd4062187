// Apache Curator 5.9 + ZooKeeper 3.9.5 client scenario runner for the compat suite
// (test_client_curator59.py; the Curator 5.4 one is CuratorCompat.java).
// Usage: java -cp <classes>:target/curator-5.9/lib/* Curator59Compat HOST:PORT /unique/root [section,...]
// Every section runs with its own clients under root/<section> and prints
// "CHECK <section>.<name> <value>" lines; an exception ends only its section (printed as
// "CHECK <section>.error ..."). "DONE" at the end. Waits are for conditions, with
// deadlines; a short fixed wait appears only as a window in which something must NOT
// happen (a blocked lock/barrier staying blocked).

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.CuratorWatcher;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.cache.TreeCache;
import org.apache.curator.framework.recipes.cache.TreeCacheEvent;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.recipes.watch.PersistentWatcher;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.x.async.AsyncCuratorFramework;
import org.apache.curator.x.async.AsyncStage;
import org.apache.curator.x.discovery.ServiceCache;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Stat;

public class Curator59Compat {
    static String hp;
    static String root;

    interface Body {
        void run(String p, List<CuratorFramework> clients) throws Exception;
    }

    static void check(String name, Object value) {
        System.out.println("CHECK " + name + " " + value);
        System.out.flush();
    }

    /** The path relative to the run's root (what the checks print). */
    static String rel(String path) {
        return path == null ? "null" : path.startsWith(root) ? path.substring(root.length()) : path;
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String s(byte[] b) {
        return b == null ? "null" : new String(b, StandardCharsets.UTF_8);
    }

    /** Poll cond every 10 ms for at most 30 s; its last value. */
    static boolean waitFor(BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) return false;
            Thread.sleep(10);
        }
        return true;
    }

    static CuratorFramework client(List<CuratorFramework> opened) throws Exception {
        return client(opened, null);
    }

    /** A started, connected client (digest auth `auth` when not null). */
    static CuratorFramework client(List<CuratorFramework> opened, String auth) throws Exception {
        CuratorFrameworkFactory.Builder builder = CuratorFrameworkFactory.builder().connectString(hp)
                .sessionTimeoutMs(20000).connectionTimeoutMs(10000)
                .retryPolicy(new ExponentialBackoffRetry(200, 5));
        if (auth != null) builder.authorization("digest", b(auth));
        CuratorFramework c = builder.build();
        opened.add(c);
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) throw new IllegalStateException("not connected");
        return c;
    }

    static java.util.Set<String> only;  // sections to run (args[2], comma-separated; all when absent)

    /** Run one section under root/name with its own clients (all closed afterwards). */
    static void section(String name, Body body) {
        if (only != null && !only.contains(name)) return;
        List<CuratorFramework> clients = Collections.synchronizedList(new ArrayList<>());
        long t0 = System.nanoTime();
        try {
            body.run(root + "/" + name, clients);
        } catch (Throwable t) {
            check(name + ".error", String.valueOf(t).replace('\n', ' '));
            t.printStackTrace();
        } finally {
            for (CuratorFramework c : new ArrayList<>(clients)) {
                try {
                    c.close();
                } catch (Throwable ignore) {
                    // already closed by the section
                }
            }
            System.err.println("section " + name + " took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        }
    }

    public static void main(String[] args) throws Exception {
        hp = args[0];
        root = args[1];
        if (args.length > 2) only = new java.util.HashSet<>(java.util.Arrays.asList(args[2].split(",")));
        List<CuratorFramework> setup = new ArrayList<>();
        client(setup).create().creatingParentsIfNeeded().forPath(root, b("r"));
        setup.get(0).close();
        check("connected", true);

        section("mutex", Curator59Compat::mutex);
        section("rwlock", Curator59Compat::rwlock);
        section("selector", Curator59Compat::selector);
        section("latch", Curator59Compat::latch);
        section("count", Curator59Compat::sharedCount);
        section("queue", Curator59Compat::queue);
        section("barrier", Curator59Compat::barrier);
        section("ccache", Curator59Compat::curatorCache);
        section("tcache", Curator59Compat::treeCache);
        section("pwatch", Curator59Compat::persistentWatcher);
        section("discovery", Curator59Compat::discovery);
        section("async", Curator59Compat::async);
        section("session", Curator59Compat::session);
        section("expiry", Curator59Compat::expiry);
        section("client", Curator59Compat::client39);
        section("misc", Curator59Compat::misc);
        System.out.println("DONE");
    }

    // The recipes' parent nodes are created as plain nodes: left to Curator they are
    // containers, which the server (checkIntervalMs=1000 here) may reap the moment they
    // are empty, e.g. between one client's release and the next one's acquire.

    // --- InterProcessMutex: reentrant; b blocks until a has released every hold.
    static void mutex(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        a.create().forPath(p);
        InterProcessMutex ma = new InterProcessMutex(a, p), mb = new InterProcessMutex(b, p);
        check("mutex.a_acquired", ma.acquire(30, TimeUnit.SECONDS));
        check("mutex.a_reentrant", ma.acquire(30, TimeUnit.SECONDS));
        CountDownLatch bGot = new CountDownLatch(1), bRelease = new CountDownLatch(1);
        AtomicBoolean bResult = new AtomicBoolean();
        // An InterProcessMutex is owned by the thread that acquired it: b's acquire and
        // release happen on one thread.
        Thread t = new Thread(() -> {
            try {
                bResult.set(mb.acquire(60, TimeUnit.SECONDS));
                bGot.countDown();
                bRelease.await(60, TimeUnit.SECONDS);
                if (bResult.get()) mb.release();
            } catch (Exception e) {
                e.printStackTrace();
                bGot.countDown();
            }
        });
        t.start();
        waitFor(() -> {
            try {
                return ma.getParticipantNodes().size() == 2;
            } catch (Exception e) {
                return false;
            }
        });
        check("mutex.participants", ma.getParticipantNodes().size());
        check("mutex.b_blocked", !bGot.await(300, TimeUnit.MILLISECONDS));
        ma.release();
        check("mutex.b_blocked_while_reentered", !bGot.await(300, TimeUnit.MILLISECONDS));
        ma.release();
        check("mutex.b_acquired", bGot.await(30, TimeUnit.SECONDS) && bResult.get());
        check("mutex.a_holds", ma.isAcquiredInThisProcess());
        check("mutex.a_try_while_b_holds", ma.acquire(200, TimeUnit.MILLISECONDS));
        bRelease.countDown();
        t.join(30000);
        check("mutex.a_after_b", ma.acquire(30, TimeUnit.SECONDS));
        ma.release();
        waitFor(() -> {
            try {
                return a.getChildren().forPath(p).isEmpty();
            } catch (Exception e) {
                return false;
            }
        });
        check("mutex.nodes_left", a.getChildren().forPath(p).size());
    }

    // --- InterProcessReadWriteLock: readers share, a writer waits for them and excludes readers.
    static void rwlock(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs), c = client(cs);
        a.create().forPath(p);
        InterProcessReadWriteLock la = new InterProcessReadWriteLock(a, p);
        InterProcessReadWriteLock lb = new InterProcessReadWriteLock(b, p);
        InterProcessReadWriteLock lc = new InterProcessReadWriteLock(c, p);
        check("rwlock.a_read", la.readLock().acquire(30, TimeUnit.SECONDS));
        check("rwlock.b_read_shared", lb.readLock().acquire(30, TimeUnit.SECONDS));
        CountDownLatch wGot = new CountDownLatch(1), wRelease = new CountDownLatch(1);
        AtomicBoolean wResult = new AtomicBoolean();
        Thread t = new Thread(() -> {
            try {
                wResult.set(lc.writeLock().acquire(60, TimeUnit.SECONDS));
                wGot.countDown();
                wRelease.await(60, TimeUnit.SECONDS);
                if (wResult.get()) lc.writeLock().release();
            } catch (Exception e) {
                e.printStackTrace();
                wGot.countDown();
            }
        });
        t.start();
        waitFor(() -> {
            try {
                return a.getChildren().forPath(p).size() == 3;
            } catch (Exception e) {
                return false;
            }
        });
        check("rwlock.nodes", a.getChildren().forPath(p).size());
        check("rwlock.writer_blocked", !wGot.await(300, TimeUnit.MILLISECONDS));
        la.readLock().release();
        check("rwlock.writer_blocked_by_b", !wGot.await(300, TimeUnit.MILLISECONDS));
        lb.readLock().release();
        check("rwlock.writer_acquired", wGot.await(30, TimeUnit.SECONDS) && wResult.get());
        check("rwlock.reader_excluded", la.readLock().acquire(300, TimeUnit.MILLISECONDS));
        wRelease.countDown();
        t.join(30000);
        check("rwlock.reader_after_writer", la.readLock().acquire(30, TimeUnit.SECONDS));
        la.readLock().release();
    }

    // --- LeaderSelector: one leader at a time; handover when the leader closes.
    static void selector(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        a.create().forPath(p);
        List<String> leaders = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger concurrent = new AtomicInteger(), maxConcurrent = new AtomicInteger();
        LeaderSelector[] sel = new LeaderSelector[2];
        String[] ids = {"a", "b"};
        CuratorFramework[] clients = {a, b};
        for (int i = 0; i < 2; i++) {
            final String id = ids[i];
            sel[i] = new LeaderSelector(clients[i], p, new LeaderSelectorListenerAdapter() {
                @Override
                public void takeLeadership(CuratorFramework client) throws Exception {
                    leaders.add(id);
                    maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
                    try {
                        Thread.sleep(120_000);  // lead until closed (close interrupts)
                    } finally {
                        concurrent.decrementAndGet();
                    }
                }
            });
            sel[i].setId(id);
        }
        sel[0].start();
        check("selector.a_leads", waitFor(() -> leaders.contains("a")));
        sel[1].start();
        waitFor(() -> {
            try {
                return sel[1].getParticipants().size() == 2;
            } catch (Exception e) {
                return false;
            }
        });
        check("selector.participants", sel[1].getParticipants().size());
        check("selector.leader_seen_by_b", sel[1].getLeader().getId());
        check("selector.b_has", sel[1].hasLeadership());
        sel[0].close();
        check("selector.b_leads_after_close", waitFor(() -> leaders.contains("b")));
        check("selector.leader_after", sel[1].getLeader().getId());
        check("selector.leaders", leaders);
        check("selector.max_concurrent", maxConcurrent.get());
        sel[1].close();
    }

    // --- LeaderLatch: one leader; handover (and the listener) when the leader closes.
    static void latch(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        a.create().forPath(p);
        LeaderLatch la = new LeaderLatch(a, p, "a"), lb = new LeaderLatch(b, p, "b");
        List<String> bCalls = Collections.synchronizedList(new ArrayList<>());
        lb.addListener(new LeaderLatchListener() {
            public void isLeader() {
                bCalls.add("isLeader");
            }

            public void notLeader() {
                bCalls.add("notLeader");
            }
        });
        la.start();
        boolean aLed = la.await(30, TimeUnit.SECONDS);
        lb.start();
        waitFor(() -> {
            try {
                return lb.getParticipants().size() == 2;
            } catch (Exception e) {
                return false;
            }
        });
        check("latch.a_leader", aLed && la.hasLeadership());
        check("latch.b_leader", lb.hasLeadership());
        check("latch.participants", lb.getParticipants().size());
        check("latch.leader_id", lb.getLeader().getId());
        la.close();
        check("latch.b_after_close", lb.await(30, TimeUnit.SECONDS));
        check("latch.leader_id_after", lb.getLeader().getId());
        waitFor(() -> !bCalls.isEmpty());  // (the listener runs before await returns; to be sure)
        check("latch.b_listener", bCalls);
        lb.close();
    }

    // --- SharedCount: versioned compare-and-set from two clients; listeners see changes.
    static void sharedCount(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        SharedCount ca = new SharedCount(a, p, 0), cb = new SharedCount(b, p, 0);
        List<Integer> seenA = Collections.synchronizedList(new ArrayList<>());
        List<Integer> seenB = Collections.synchronizedList(new ArrayList<>());
        ca.addListener(listener(seenA));
        cb.addListener(listener(seenB));
        ca.start();
        cb.start();
        VersionedValue<Integer> stale = cb.getVersionedValue();
        check("count.initial", stale.getValue() + "@" + stale.getVersion());
        check("count.a_set", ca.trySetCount(ca.getVersionedValue(), 5));
        check("count.b_stale_set", cb.trySetCount(stale, 7));
        try {
            b.setData().withVersion(stale.getVersion()).forPath(p, SharedCountBytes.of(9));
            check("count.raw_stale_version", "ok");
        } catch (KeeperException e) {
            check("count.raw_stale_version", e.code());
        }
        check("count.b_sees_5", waitFor(() -> seenB.contains(5) && cb.getCount() == 5));
        check("count.b_set", cb.trySetCount(cb.getVersionedValue(), 7));
        check("count.a_sees_7", waitFor(() -> seenA.contains(7) && ca.getCount() == 7));
        check("count.version", ca.getVersionedValue().getVersion());
        // Two clients increment concurrently, each by retried compare-and-set: none lost.
        AtomicInteger failures = new AtomicInteger();
        Thread[] ts = new Thread[2];
        SharedCount[] counts = {ca, cb};
        for (int i = 0; i < 2; i++) {
            final SharedCount c = counts[i];
            ts[i] = new Thread(() -> {
                for (int k = 0; k < 10; k++) {
                    boolean done = false;
                    for (int attempt = 0; attempt < 500 && !done; attempt++) {
                        try {
                            VersionedValue<Integer> v = c.getVersionedValue();
                            done = c.trySetCount(v, v.getValue() + 1);
                        } catch (Exception e) {
                            break;
                        }
                    }
                    if (!done) failures.incrementAndGet();
                }
            });
            ts[i].start();
        }
        for (Thread t : ts) t.join(60000);
        check("count.concurrent_failures", failures.get());
        check("count.concurrent_final", waitFor(() -> ca.getCount() == 27 && cb.getCount() == 27)
                ? 27 : ca.getCount() + "/" + cb.getCount());
        Stat st = a.checkExists().forPath(p);
        check("count.node_version", st.getVersion());
        ca.close();
        cb.close();
    }

    static SharedCountListener listener(List<Integer> seen) {
        return new SharedCountListener() {
            public void countHasChanged(SharedCountReader reader, int newCount) {
                seen.add(newCount);
            }

            public void stateChanged(CuratorFramework client, ConnectionState newState) {
            }
        };
    }

    /** SharedCount's encoding of a count (a 4-byte big-endian int), for a raw setData. */
    static class SharedCountBytes {
        static byte[] of(int v) {
            return java.nio.ByteBuffer.allocate(4).putInt(v).array();
        }
    }

    // --- DistributedQueue: items put by a are consumed by b, in order.
    static void queue(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        a.create().forPath(p);
        QueueSerializer<String> ser = new QueueSerializer<String>() {
            public byte[] serialize(String item) {
                return b(item);
            }

            public String deserialize(byte[] bytes) {
                return s(bytes);
            }
        };
        List<String> consumed = Collections.synchronizedList(new ArrayList<>());
        QueueConsumer<String> consumer = new QueueConsumer<String>() {
            public void consumeMessage(String message) {
                consumed.add(message);
            }

            public void stateChanged(CuratorFramework client, ConnectionState newState) {
            }
        };
        DistributedQueue<String> producer = QueueBuilder.builder(a, null, ser, p).buildQueue();
        producer.start();
        for (int i = 0; i < 3; i++) producer.put("item-" + i);
        // the first three are queued before the consumer starts
        waitFor(() -> {
            try {
                return a.getChildren().forPath(p).size() == 3;
            } catch (Exception e) {
                return false;
            }
        });
        check("queue.queued", a.getChildren().forPath(p).size());
        DistributedQueue<String> q = QueueBuilder.builder(b, consumer, ser, p).buildQueue();
        q.start();
        check("queue.first_three", waitFor(() -> consumed.size() >= 3));
        for (int i = 3; i < 6; i++) producer.put("item-" + i);
        waitFor(() -> consumed.size() >= 6);
        check("queue.consumed", consumed);
        waitFor(() -> {
            try {
                return a.getChildren().forPath(p).isEmpty();
            } catch (Exception e) {
                return false;
            }
        });
        check("queue.left", a.getChildren().forPath(p).size());
        q.close();
        producer.close();
    }

    // --- DistributedBarrier: waitOnBarrier blocks until removeBarrier.
    static void barrier(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        DistributedBarrier ba = new DistributedBarrier(a, p), bb = new DistributedBarrier(b, p);
        ba.setBarrier();
        check("barrier.timed_wait", bb.waitOnBarrier(200, TimeUnit.MILLISECONDS));
        CountDownLatch done = new CountDownLatch(1);
        AtomicBoolean released = new AtomicBoolean();
        Thread t = new Thread(() -> {
            try {
                released.set(bb.waitOnBarrier(60, TimeUnit.SECONDS));
            } catch (Exception e) {
                e.printStackTrace();
            }
            done.countDown();
        });
        t.start();
        check("barrier.blocked", !done.await(300, TimeUnit.MILLISECONDS));
        ba.removeBarrier();
        check("barrier.released", done.await(30, TimeUnit.SECONDS) && released.get());
        check("barrier.open_wait", bb.waitOnBarrier(5, TimeUnit.SECONDS));
        t.join(10000);
    }

    // --- CuratorCache (a persistent recursive watch): create/change/delete events in order.
    static void curatorCache(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch initialized = new CountDownLatch(1);
        CuratorCache cache = CuratorCache.build(b, p);
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(n -> events.add("create " + rel(n.getPath()) + "=" + s(n.getData())))
                .forChanges((o, n) -> events.add("change " + rel(n.getPath()) + "=" + s(n.getData())))
                .forDeletes(o -> events.add("delete " + rel(o.getPath())))
                .forInitialized(initialized::countDown)
                .build());
        cache.start();
        check("ccache.initialized", initialized.await(30, TimeUnit.SECONDS));
        // Each change waits until the cache has seen the previous one: the cache reads each
        // node after its event, so it must not read a later state instead.
        String[][] steps = {
            {"create", p, "0"}, {"create", p + "/x", "1"}, {"create", p + "/x/y", "2"},
            {"set", p + "/x", "3"}, {"create", p + "/z", "4"}, {"delete", p + "/x/y", ""},
            {"delete", p + "/x", ""}, {"set", p, "5"},
        };
        int n = 0;
        for (String[] st : steps) {
            apply(a, st);
            int want = ++n;
            waitFor(() -> events.size() >= want);
        }
        check("ccache.events", events);
        check("ccache.size", cache.size());
        check("ccache.root", s(cache.get(p).map(d -> d.getData()).orElse(null)));
        check("ccache.x_gone", !cache.get(p + "/x").isPresent());
        cache.close();
    }

    static void apply(CuratorFramework c, String[] step) throws Exception {
        switch (step[0]) {
            case "create":
                c.create().forPath(step[1], b(step[2]));
                break;
            case "set":
                c.setData().forPath(step[1], b(step[2]));
                break;
            default:
                c.delete().forPath(step[1]);
        }
    }

    // --- TreeCache (one-shot watches per node): the same tree changes, its events in order.
    static void treeCache(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch initialized = new CountDownLatch(1);
        TreeCache cache = TreeCache.newBuilder(b, p).build();
        cache.getListenable().addListener((client, ev) -> {
            if (ev.getType() == TreeCacheEvent.Type.INITIALIZED) {
                initialized.countDown();
            } else if (ev.getData() != null) {
                events.add(ev.getType() + " " + rel(ev.getData().getPath()) + "=" + s(ev.getData().getData()));
            }
        });
        cache.start();
        check("tcache.initialized", initialized.await(30, TimeUnit.SECONDS));
        String[][] steps = {
            {"create", p, "0"}, {"create", p + "/x", "1"}, {"create", p + "/x/y", "2"},
            {"set", p + "/x", "3"}, {"create", p + "/z", "4"}, {"delete", p + "/x/y", ""},
            {"delete", p + "/x", ""}, {"set", p, "5"},
        };
        int n = 0;
        for (String[] st : steps) {
            apply(a, st);
            int want = ++n;
            waitFor(() -> events.size() >= want);
        }
        check("tcache.events", events);
        check("tcache.children", new java.util.TreeSet<>(cache.getCurrentChildren(p).keySet()));
        check("tcache.root", s(cache.getCurrentData(p).getData()));
        check("tcache.x_gone", cache.getCurrentData(p + "/x") == null);
        cache.close();
    }

    // --- PersistentWatcher: recursive (every change below, no child events) and not
    // recursive (the node's own data/child events), both kept after firing.
    static void persistentWatcher(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        List<String> rec = Collections.synchronizedList(new ArrayList<>());
        List<String> flat = Collections.synchronizedList(new ArrayList<>());
        String pr = p + "-rec", pf = p + "-flat";
        PersistentWatcher wr = new PersistentWatcher(b, pr, true), wf = new PersistentWatcher(b, pf, false);
        CountDownLatch resetR = new CountDownLatch(1), resetF = new CountDownLatch(1);
        wr.getResetListenable().addListener(resetR::countDown);
        wf.getResetListenable().addListener(resetF::countDown);
        wr.getListenable().addListener(ev -> rec.add(ev.getType() + " " + rel(ev.getPath())));
        wf.getListenable().addListener(ev -> flat.add(ev.getType() + " " + rel(ev.getPath())));
        wr.start();
        wf.start();
        check("pwatch.set", resetR.await(30, TimeUnit.SECONDS) && resetF.await(30, TimeUnit.SECONDS));
        for (String q : new String[] {pr, pf}) {
            a.create().forPath(q, b("0"));
            a.create().forPath(q + "/a", b("1"));
            a.create().forPath(q + "/a/b", b("2"));
            a.setData().forPath(q + "/a/b", b("3"));
            a.setData().forPath(q, b("4"));
            a.delete().forPath(q + "/a/b");
            a.delete().forPath(q + "/a");
            a.delete().forPath(q);
            a.create().forPath(q, b("again"));
        }
        waitFor(() -> rec.size() >= 9 && flat.size() >= 6);
        check("pwatch.recursive", rec);
        check("pwatch.flat", flat);
        wr.close();
        wf.close();
    }

    // --- ServiceDiscovery: instances registered by two clients, queried by a third;
    // unregistered -> gone; an instance's owner closing -> its ephemeral node gone.
    static void discovery(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs), c = client(cs);
        ServiceDiscovery<String> da = ServiceDiscoveryBuilder.builder(String.class).client(a).basePath(p).build();
        ServiceDiscovery<String> db = ServiceDiscoveryBuilder.builder(String.class).client(b).basePath(p).build();
        ServiceDiscovery<String> dc = ServiceDiscoveryBuilder.builder(String.class).client(c).basePath(p).build();
        da.start();
        db.start();
        dc.start();
        da.registerService(ServiceInstance.<String>builder().name("web").id("w1").address("127.0.0.1")
                .port(1111).payload("one").build());
        dc.registerService(ServiceInstance.<String>builder().name("web").id("w2").address("127.0.0.1")
                .port(2222).payload("two").build());
        ServiceCache<String> cache = db.serviceCacheBuilder().name("web").build();
        cache.start();
        check("discovery.names", db.queryForNames());
        check("discovery.instances", ids(db.queryForInstances("web")));
        ServiceInstance<String> w1 = db.queryForInstance("web", "w1");
        check("discovery.w1", w1.getAddress() + ":" + w1.getPort() + " " + w1.getPayload() + " " + w1.getServiceType());
        Stat st = b.checkExists().forPath(p + "/web/w1");
        check("discovery.w1_ephemeral_of_a",
                st != null && st.getEphemeralOwner() == a.getZookeeperClient().getZooKeeper().getSessionId());
        check("discovery.cache_initial", waitFor(() -> cache.getInstances().size() == 2));
        da.unregisterService(w1);
        check("discovery.after_unregister", ids(db.queryForInstances("web")));
        check("discovery.cache_after_unregister", waitFor(() -> ids(cache.getInstances()).equals("[w2]")));
        // c's session ends (its ServiceDiscovery is not closed, so it unregisters nothing):
        // the server deletes w2's ephemeral node.
        c.close();
        check("discovery.after_owner_closed", waitFor(() -> {
            try {
                return db.queryForInstances("web").isEmpty();
            } catch (Exception e) {
                return false;
            }
        }));
        check("discovery.cache_after_owner_closed", waitFor(() -> cache.getInstances().isEmpty()));
        cache.close();
        db.close();
        da.close();
    }

    static String ids(Collection<ServiceInstance<String>> instances) {
        List<String> out = new ArrayList<>();
        for (ServiceInstance<String> i : instances) out.add(i.getId());
        Collections.sort(out);
        return out.toString();
    }

    // --- the async API (curator-x-async): CompletionStage results, errors, a watched read.
    static void async(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        AsyncCuratorFramework x = AsyncCuratorFramework.wrap(a), y = AsyncCuratorFramework.wrap(b);
        check("async.create", rel(x.create().forPath(p, b("v1")).toCompletableFuture().get(30, TimeUnit.SECONDS)));
        check("async.get", s(x.getData().forPath(p).toCompletableFuture().get(30, TimeUnit.SECONDS)));
        Stat st = x.setData().withVersion(0).forPath(p, b("v2")).toCompletableFuture().get(30, TimeUnit.SECONDS);
        check("async.set_version", st.getVersion());
        check("async.stale_set", asyncError(x.setData().withVersion(0).forPath(p, b("v3"))));
        check("async.create_existing", asyncError(x.create().forPath(p)));
        check("async.get_missing", asyncError(x.getData().forPath(p + "/missing")));
        String seq = x.create().withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(p + "/s-", b("e"))
                .toCompletableFuture().get(30, TimeUnit.SECONDS);
        check("async.seq", rel(seq));
        check("async.children", x.getChildren().forPath(p).toCompletableFuture().get(30, TimeUnit.SECONDS));
        // watched reads from b fire on a's changes
        AsyncStage<byte[]> wd = y.watched().getData().forPath(p);
        check("async.watched_get", s(wd.toCompletableFuture().get(30, TimeUnit.SECONDS)));
        AsyncStage<Stat> we = y.watched().checkExists().forPath(p + "/later");
        check("async.watched_exists", we.toCompletableFuture().get(30, TimeUnit.SECONDS));
        x.setData().forPath(p, b("v4")).toCompletableFuture().get(30, TimeUnit.SECONDS);
        WatchedEvent ev = wd.event().toCompletableFuture().get(30, TimeUnit.SECONDS);
        check("async.data_event", ev.getType() + " " + rel(ev.getPath()));
        x.create().forPath(p + "/later").toCompletableFuture().get(30, TimeUnit.SECONDS);
        ev = we.event().toCompletableFuture().get(30, TimeUnit.SECONDS);
        check("async.exists_event", ev.getType() + " " + rel(ev.getPath()));
        x.delete().withVersion(0).forPath(p + "/later").toCompletableFuture().get(30, TimeUnit.SECONDS);
        check("async.deleted", x.checkExists().forPath(p + "/later").toCompletableFuture().get(30, TimeUnit.SECONDS));
        check("async.delete_not_empty", asyncError(x.delete().forPath(p)));
    }

    /** The KeeperException code a stage completes with ("ok" if it succeeds). */
    static String asyncError(AsyncStage<?> stage) throws Exception {
        try {
            stage.toCompletableFuture().get(30, TimeUnit.SECONDS);
            return "ok";
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable cause = e.getCause();
            return cause instanceof KeeperException ? String.valueOf(((KeeperException) cause).code())
                    : String.valueOf(cause);
        }
    }

    // --- session re-attach: the client's socket is closed under it (ZooKeeper's own
    // Testable.closeSocket); it reconnects with the same session: ephemerals stay, and its
    // one-shot and persistent recursive watches are set again (setWatches2) and fire.
    static void session(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        List<String> states = Collections.synchronizedList(new ArrayList<>());
        a.getConnectionStateListenable().addListener((c, s) -> states.add(s.name()));
        a.create().forPath(p, b("w"));
        a.create().withMode(CreateMode.EPHEMERAL).forPath(p + "/e");
        ZooKeeper zk = a.getZookeeperClient().getZooKeeper();
        long sid = zk.getSessionId();
        List<String> oneShot = Collections.synchronizedList(new ArrayList<>());
        List<String> recursive = Collections.synchronizedList(new ArrayList<>());
        a.getData().usingWatcher((CuratorWatcher) ev -> oneShot.add(event(ev))).forPath(p);
        a.watchers().add().withMode(AddWatchMode.PERSISTENT_RECURSIVE)
                .usingWatcher((CuratorWatcher) ev -> recursive.add(event(ev))).forPath(p);
        zk.getTestable().closeSocket();
        check("session.reconnected", waitFor(() -> states.contains("RECONNECTED")));
        check("session.states", states);
        check("session.same_id", a.getZookeeperClient().getZooKeeper().getSessionId() == sid);
        Stat st = b.checkExists().forPath(p + "/e");
        check("session.ephemeral_kept", st != null && st.getEphemeralOwner() == sid);
        b.setData().forPath(p, b("x"));
        b.create().forPath(p + "/r");
        check("session.watches_fired", waitFor(() -> oneShot.size() >= 3 && recursive.size() >= 4));
        check("session.one_shot", oneShot);
        check("session.recursive", recursive);
        check("session.read_after", s(a.getData().forPath(p)));
    }

    // --- more of the framework through the 3.9 client: digest auth and ACLs, TTL and
    // container nodes (their ephemeralOwner encoding), async multi (success and failure),
    // removing a watcher (and NOWATCHER for one that is gone), create().orSetData(),
    // getConfig on a standalone server, an async sync.
    static void misc(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs, "u:p"), b = client(cs);
        ZooKeeper zk = a.getZookeeperClient().getZooKeeper();
        List<String> who = new ArrayList<>();
        for (ClientInfo ci : zk.whoAmI()) who.add(ci.getAuthScheme() + ":" + ci.getUser());
        Collections.sort(who);
        check("misc.whoami_auth", who);
        a.create().withACL(org.apache.zookeeper.ZooDefs.Ids.CREATOR_ALL_ACL).forPath(p + "-acl", b("secret"));
        List<String> acl = new ArrayList<>();
        for (org.apache.zookeeper.data.ACL x : a.getACL().forPath(p + "-acl"))
            acl.add(x.getPerms() + ":" + x.getId().getScheme() + ":" + x.getId().getId());
        check("misc.acl", acl);
        check("misc.acl_read_by_owner", s(a.getData().forPath(p + "-acl")));
        try {
            b.getData().forPath(p + "-acl");
            check("misc.acl_read_by_other", "ok");
        } catch (KeeperException e) {
            check("misc.acl_read_by_other", e.code());
        }
        a.create().withTtl(60000).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath(p + "-ttl", b("t"));
        check("misc.ttl_owner", Long.toHexString(a.checkExists().forPath(p + "-ttl").getEphemeralOwner()));
        a.createContainers(p + "-cont/child");
        check("misc.container_owner", Long.toHexString(a.checkExists().forPath(p + "-cont").getEphemeralOwner()));
        a.create().forPath(p);
        AsyncCuratorFramework x = AsyncCuratorFramework.wrap(a);
        List<String> res = new ArrayList<>();
        for (org.apache.curator.framework.api.transaction.CuratorTransactionResult r : x.transaction().forOperations(
                java.util.Arrays.asList(x.transactionOp().create().forPath(p + "/t1", b("1")),
                        x.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(p + "/t-", b("s")),
                        x.transactionOp().setData().forPath(p + "/t1", b("2")),
                        x.transactionOp().check().withVersion(1).forPath(p + "/t1")))
                .toCompletableFuture().get(30, TimeUnit.SECONDS)) {
            res.add(r.getType() + ":" + rel(r.getResultPath()) + ":" + r.getError());
        }
        check("misc.multi", res);
        check("misc.multi_fail", asyncError(x.transaction().forOperations(java.util.Arrays.asList(
                x.transactionOp().create().forPath(p + "/t2"),
                x.transactionOp().delete().withVersion(7).forPath(p + "/t1")))));
        check("misc.multi_fail_undone", a.checkExists().forPath(p + "/t2"));
        // removeWatches: the removed watcher gets the client's DataWatchRemoved, not the change
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        CuratorWatcher w = ev -> seen.add(event(ev));
        b.getData().usingWatcher(w).forPath(p + "/t1");
        b.watches().remove(w).forPath(p + "/t1");
        try {
            b.watches().remove(w).forPath(p + "/t1");
            check("misc.remove_again", "ok");
        } catch (KeeperException e) {
            check("misc.remove_again", e.code());
        }
        a.setData().forPath(p + "/t1", b("3"));
        b.sync().forPath(p + "/t1");
        check("misc.sync", x.sync().forPath(p).toCompletableFuture().get(30, TimeUnit.SECONDS));
        waitFor(() -> !seen.isEmpty());
        Thread.sleep(200);  // a window for a (wrong) NodeDataChanged to arrive
        check("misc.removed_watcher_events", seen);
        a.create().orSetData().forPath(p + "/o", b("1"));
        a.create().orSetData().forPath(p + "/o", b("2"));
        Stat st = new Stat();
        check("misc.or_set_data", s(a.getData().storingStatIn(st).forPath(p + "/o")) + "@" + st.getVersion());
        byte[] config = a.getConfig().forEnsemble();
        check("misc.config", "[" + s(config) + "]");
    }

    /** A watcher's event: type and path, or for a connection state event (type None) the state. */
    static String event(WatchedEvent ev) {
        return ev.getType() == org.apache.zookeeper.Watcher.Event.EventType.None
                ? "None " + ev.getState() : ev.getType() + " " + rel(ev.getPath());
    }

    // --- session expiry: a second handle attaches to a's session (id + password) and
    // closes it. The server then answers a's reconnect with an expired session; Curator
    // reports LOST and starts a new session: a's ephemeral is gone, its PersistentNode is
    // created again under the new session, its LeaderLatch leads again.
    static void expiry(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs), b = client(cs);
        List<String> states = Collections.synchronizedList(new ArrayList<>());
        a.getConnectionStateListenable().addListener((c, s) -> states.add(s.name()));
        a.create().forPath(p);
        a.create().withMode(CreateMode.EPHEMERAL).forPath(p + "/e");
        org.apache.curator.framework.recipes.nodes.PersistentNode pn =
                new org.apache.curator.framework.recipes.nodes.PersistentNode(a, CreateMode.EPHEMERAL, false, p + "/pn", b("x"));
        pn.start();
        check("expiry.pnode_created", pn.waitForInitialCreate(30, TimeUnit.SECONDS));
        a.create().forPath(p + "/latch");
        LeaderLatch latch = new LeaderLatch(a, p + "/latch", "a");
        latch.start();
        check("expiry.latch_leads", latch.await(30, TimeUnit.SECONDS));
        ZooKeeper zk = a.getZookeeperClient().getZooKeeper();
        long sid = zk.getSessionId();
        byte[] pw = zk.getSessionPasswd();
        // a's own reconnect (after a random delay of up to 1 s) may take the session back
        // before the killer's closeSession is sent: then try again (bounded).
        int attempts = 0;
        while (!states.contains("LOST") && attempts++ < 10) {
            CountDownLatch connected = new CountDownLatch(1);
            ZooKeeper killer = new ZooKeeper(hp, 20000, ev -> {
                if (ev.getState() == org.apache.zookeeper.Watcher.Event.KeeperState.SyncConnected) connected.countDown();
            }, sid, pw);
            if (connected.await(10, TimeUnit.SECONDS)) killer.close();
            else killer.close(1000);
            waitForMs(() -> states.contains("LOST"), 3000);
        }
        System.err.println("expiry: session killed after " + attempts + " attempt(s)");
        check("expiry.lost", states.contains("LOST"));
        check("expiry.reconnected_after_lost",
                waitFor(() -> states.lastIndexOf("RECONNECTED") > states.indexOf("LOST") && states.contains("LOST")));
        long sid2 = a.getZookeeperClient().getZooKeeper().getSessionId();
        check("expiry.new_session", sid2 != sid && sid2 != 0);
        check("expiry.ephemeral_gone", waitFor(() -> {
            try {
                return b.checkExists().forPath(p + "/e") == null;
            } catch (Exception e) {
                return false;
            }
        }));
        check("expiry.pnode_recreated", waitFor(() -> {
            try {
                Stat st = b.checkExists().forPath(p + "/pn");
                return st != null && st.getEphemeralOwner() == a.getZookeeperClient().getZooKeeper().getSessionId();
            } catch (Exception e) {
                return false;
            }
        }));
        check("expiry.latch_leads_again", latch.await(30, TimeUnit.SECONDS));
        check("expiry.latch_participants", waitFor(() -> {
            try {
                return latch.getParticipants().size() == 1;
            } catch (Exception e) {
                return false;
            }
        }));
        latch.close();
        pn.close();
    }

    static boolean waitForMs(BooleanSupplier cond, long ms) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) return false;
            Thread.sleep(10);
        }
        return true;
    }

    // --- ZooKeeper 3.9 client calls through Curator's handle: whoAmI, getAllChildrenNumber,
    // getEphemerals.
    static void client39(String p, List<CuratorFramework> cs) throws Exception {
        CuratorFramework a = client(cs);
        ZooKeeper zk = a.getZookeeperClient().getZooKeeper();
        List<String> who = new ArrayList<>();
        for (ClientInfo ci : zk.whoAmI()) who.add(ci.getAuthScheme() + ":" + ci.getUser());
        check("client.whoami", who);
        a.create().forPath(p);
        a.create().forPath(p + "/x");
        a.create().withMode(CreateMode.EPHEMERAL).forPath(p + "/x/e1");
        a.create().withMode(CreateMode.EPHEMERAL).forPath(p + "/e2");
        check("client.all_children", zk.getAllChildrenNumber(p));
        List<String> eph = new ArrayList<>();
        for (String e : zk.getEphemerals(p)) eph.add(rel(e));
        Collections.sort(eph);
        check("client.ephemerals", eph);
    }
}
