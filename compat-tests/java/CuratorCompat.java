// Apache Curator 5.4 scenario runner for the compat suite (test_client_curator.py).
// Usage: java -cp <classes>:<curator jars> CuratorCompat HOST:PORT /unique/root
// Prints one "CHECK <name> <result>" line per step and "DONE" at the end; the Python
// test compares them. Exits non-zero on an unexpected exception.

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

public class CuratorCompat {
    static void check(String name, Object value) {
        System.out.println("CHECK " + name + " " + value);
        System.out.flush();
    }

    /** Wait (at most 20 s) until the list has at least n entries. */
    static void awaitSize(List<String> list, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (list.size() < n && System.nanoTime() < deadline) Thread.sleep(10);
    }

    static CuratorFramework client(String hp) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(hp)
                .sessionTimeoutMs(15000).connectionTimeoutMs(10000)
                .retryPolicy(new ExponentialBackoffRetry(200, 3)).build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) throw new IllegalStateException("not connected");
        return c;
    }

    public static void main(String[] args) throws Exception {
        String hp = args[0];
        String root = args[1];
        CuratorFramework a = client(hp);
        CuratorFramework b = client(hp);
        a.create().creatingParentsIfNeeded().forPath(root, "r".getBytes());
        check("connected", true);

        // --- InterProcessMutex: b waits until a releases
        // The lock's parent is created here as a plain node. Left to Curator it is a
        // container, which the server may reap in the moment between a's release and b's
        // acquire (it is empty then); Curator creates it again, and that extra child
        // creation moves the root's sequence counter (tx.seq_name below) -- seen under load.
        a.create().forPath(root + "/mutex");
        InterProcessMutex ma = new InterProcessMutex(a, root + "/mutex");
        InterProcessMutex mb = new InterProcessMutex(b, root + "/mutex");
        ma.acquire();
        check("mutex.b_blocked", !mb.acquire(300, TimeUnit.MILLISECONDS));
        ma.release();
        check("mutex.b_acquired", mb.acquire(30, TimeUnit.SECONDS));
        mb.release();

        // --- LeaderLatch: exactly one leader, handover on close
        LeaderLatch la = new LeaderLatch(a, root + "/latch", "a");
        LeaderLatch lb = new LeaderLatch(b, root + "/latch", "b");
        la.start();
        boolean aLed = la.await(30, TimeUnit.SECONDS);
        lb.start();
        // b has joined (its latch node is there) while a leads: not a fixed sleep.
        long joinDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (lb.getParticipants().size() < 2 && System.nanoTime() < joinDeadline) Thread.sleep(20);
        check("latch.a_leader", aLed && la.hasLeadership());
        check("latch.b_leader", lb.hasLeadership());
        check("latch.participants", lb.getParticipants().size());
        la.close();
        check("latch.b_after_close", lb.await(30, TimeUnit.SECONDS));
        lb.close();

        // --- CuratorCache (persistent recursive watch)
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch deleted = new CountDownLatch(1);
        CountDownLatch initialized = new CountDownLatch(1);
        CuratorCache cache = CuratorCache.build(b, root + "/cache");
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(n -> events.add("create " + n.getPath().substring(root.length())))
                .forChanges((o, n) -> events.add("change " + n.getPath().substring(root.length())))
                .forDeletes(o -> {
                    events.add("delete " + o.getPath().substring(root.length()));
                    if (o.getPath().endsWith("/cache/x/y")) deleted.countDown();
                })
                .forInitialized(initialized::countDown)
                .build());
        cache.start();
        check("cache.initialized", initialized.await(30, TimeUnit.SECONDS));
        // After each change, wait until the cache has seen it (its listener fired) before
        // the next one, so the cache reads each state (not a later one) -- not a fixed sleep.
        a.create().forPath(root + "/cache", "0".getBytes());
        awaitSize(events, 1);
        a.create().forPath(root + "/cache/x", "1".getBytes());
        awaitSize(events, 2);
        a.create().forPath(root + "/cache/x/y", "2".getBytes());
        awaitSize(events, 3);
        a.setData().forPath(root + "/cache/x", "3".getBytes());
        awaitSize(events, 4);
        a.delete().forPath(root + "/cache/x/y");
        check("cache.deleted_seen", deleted.await(30, TimeUnit.SECONDS));
        check("cache.events", events);
        check("cache.x", new String(cache.get(root + "/cache/x").get().getData()));
        check("cache.size", cache.size());
        cache.close();

        // --- DistributedAtomicLong from two clients
        AtomicInteger failures = new AtomicInteger();
        Thread[] ts = new Thread[2];
        CuratorFramework[] cs = {a, b};
        for (int i = 0; i < 2; i++) {
            final CuratorFramework c = cs[i];
            ts[i] = new Thread(() -> {
                DistributedAtomicLong counter = new DistributedAtomicLong(c, root + "/counter", new RetryNTimes(50, 20));
                for (int k = 0; k < 10; k++) {
                    try {
                        AtomicValue<Long> v = counter.increment();
                        if (!v.succeeded()) failures.incrementAndGet();
                    } catch (Exception e) {
                        failures.incrementAndGet();
                    }
                }
            });
            ts[i].start();
        }
        for (Thread t : ts) t.join(30000);
        check("counter.failures", failures.get());
        check("counter.value", new DistributedAtomicLong(a, root + "/counter", new RetryNTimes(3, 10)).get().postValue());

        // --- PersistentNode (ephemeral): exists while open, gone after close
        PersistentNode pn = new PersistentNode(a, CreateMode.EPHEMERAL, false, root + "/pn", "p".getBytes());
        pn.start();
        check("pnode.created", pn.waitForInitialCreate(30, TimeUnit.SECONDS));
        Stat st = b.checkExists().forPath(root + "/pn");
        check("pnode.ephemeral", st != null && st.getEphemeralOwner() == a.getZookeeperClient().getZooKeeper().getSessionId());
        pn.close();
        check("pnode.gone", b.checkExists().forPath(root + "/pn") == null);

        // --- transactions (multi)
        CuratorOp c1 = a.transactionOp().create().forPath(root + "/tx1", "1".getBytes());
        CuratorOp c2 = a.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(root + "/tx-", "s".getBytes());
        CuratorOp s1 = a.transactionOp().setData().forPath(root + "/tx1", "2".getBytes());
        CuratorOp k1 = a.transactionOp().check().withVersion(1).forPath(root + "/tx1");
        List<CuratorTransactionResult> res = a.transaction().forOperations(c1, c2, s1, k1);
        List<String> kinds = new ArrayList<>();
        for (CuratorTransactionResult r : res) kinds.add(r.getType() + ":" + r.getError());
        check("tx.ok", kinds);
        check("tx.seq_name", res.get(1).getResultPath().substring(root.length()));
        try {
            a.transaction().forOperations(
                    a.transactionOp().create().forPath(root + "/tx2"),
                    a.transactionOp().delete().withVersion(7).forPath(root + "/tx1"));
            check("tx.fail", "no exception");
        } catch (KeeperException e) {
            check("tx.fail", e.code());
            List<String> errs = new ArrayList<>();
            for (org.apache.zookeeper.OpResult r : e.getResults())
                errs.add(String.valueOf(((org.apache.zookeeper.OpResult.ErrorResult) r).getErr()));
            check("tx.fail_results", errs);
        }
        check("tx.tx2_absent", a.checkExists().forPath(root + "/tx2") == null);

        // --- containers and TTL through Curator's builders
        a.createContainers(root + "/cont/child");
        check("container.exists", a.checkExists().forPath(root + "/cont") != null);
        a.create().withTtl(60000).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath(root + "/ttl", "t".getBytes());
        check("ttl.exists", a.checkExists().forPath(root + "/ttl") != null);

        b.close();
        a.close();
        System.out.println("DONE");
    }
}
