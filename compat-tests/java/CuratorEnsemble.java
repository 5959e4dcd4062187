// Apache Curator 5.4 against an ensemble whose leader is killed mid-way, for the compat
// suite (test_ensemble_clients.py).
// Usage: java -cp <classes>:<curator jars> CuratorEnsemble CONNECT_STRING FOLLOWER_HOST:PORT /unique/root
//
// Two clients on the full connect string (a, b) and one on a single follower (f) set up
// an InterProcessMutex held by a, a LeaderLatch with both, a CuratorCache on b, and two
// writer threads (one through a, one through the follower f) that create and setData
// nodes in a loop, printing "ACK create|set <path> <value>" for every acknowledged write.
// Then "READY"; the test kills the leader (kill -9) and writes "KILLED" on stdin. After
// that the recipes are exercised again across the failover (b still blocked while a
// holds the mutex, a's release hands it to b, exactly one latch leader, the cache sees
// new changes), the writers go on until each has acknowledged writes after the kill,
// and the clients' connection states and session ids are reported.
// Prints "CHECK <name> <value>" lines and "DONE"; the Python test checks those and that
// every ACKed write is on every member. Exits non-zero on an unexpected exception.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorEnsemble {
    static synchronized void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void check(String name, Object value) {
        out("CHECK " + name + " " + value);
    }

    static CuratorFramework client(String hp, List<String> states) throws Exception {
        // Retries for ~25 s (sleeps up to 1 s): well beyond an election plus a reconnect.
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(hp)
                .sessionTimeoutMs(20000).connectionTimeoutMs(10000)
                .retryPolicy(new ExponentialBackoffRetry(100, 29, 1000)).build();
        c.getConnectionStateListenable().addListener((cl, s) -> states.add(s.toString()));
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) throw new IllegalStateException("not connected to " + hp);
        return c;
    }

    static boolean waitFor(java.util.function.BooleanSupplier cond, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            if (cond.getAsBoolean()) return true;
            Thread.sleep(20);
        }
        return cond.getAsBoolean();
    }

    /** create + setData of fresh nodes in a loop; every acknowledged write is printed. */
    static class Writer extends Thread {
        final CuratorFramework c;
        final String base;
        final String tag;
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicBoolean killed;
        final AtomicInteger acks = new AtomicInteger();
        final AtomicInteger acksAfterKill = new AtomicInteger();
        final AtomicInteger errors = new AtomicInteger();

        Writer(CuratorFramework c, String base, String tag, AtomicBoolean killed) {
            this.c = c;
            this.base = base;
            this.tag = tag;
            this.killed = killed;
            setDaemon(true);
        }

        void acked() {
            acks.incrementAndGet();
            if (killed.get()) acksAfterKill.incrementAndGet();
        }

        public void run() {
            for (int i = 0; i < 5000 && !stop.get(); i++) {
                String p = base + "/" + tag + "-" + String.format("%04d", i);
                // A write whose outcome is unknown (connection lost, retried into
                // NodeExists, ...) is not reported: only acknowledged ones must survive.
                try {
                    c.create().forPath(p, ("c" + i).getBytes());
                    out("ACK create " + p + " c" + i);
                    acked();
                    c.setData().forPath(p, ("s" + i).getBytes());
                    out("ACK set " + p + " s" + i);
                    acked();
                } catch (Exception e) {
                    errors.incrementAndGet();
                    out("UNKNOWN " + tag + " " + p + " " + e.getClass().getSimpleName());
                }
                try {
                    Thread.sleep(15);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        String all = args[0];
        String follower = args[1];
        String root = args[2];
        List<String> statesA = Collections.synchronizedList(new ArrayList<>());
        List<String> statesB = Collections.synchronizedList(new ArrayList<>());
        List<String> statesF = Collections.synchronizedList(new ArrayList<>());
        CuratorFramework a = client(all, statesA);
        CuratorFramework b = client(all, statesB);
        CuratorFramework f = client(follower, statesF);
        // create through the follower (forwarded to the leader)
        f.create().creatingParentsIfNeeded().forPath(root + "/w", "w".getBytes());
        f.create().forPath(root + "/mutex");
        f.setData().forPath(root, "root-set-on-follower".getBytes());
        check("connected", true);
        long sidA = a.getZookeeperClient().getZooKeeper().getSessionId();
        long sidB = b.getZookeeperClient().getZooKeeper().getSessionId();
        long sidF = f.getZookeeperClient().getZooKeeper().getSessionId();

        // --- mutex held by a across the failover
        InterProcessMutex ma = new InterProcessMutex(a, root + "/mutex");
        InterProcessMutex mb = new InterProcessMutex(b, root + "/mutex");
        ma.acquire();
        check("mutex.b_blocked_before", !mb.acquire(200, TimeUnit.MILLISECONDS));

        // --- leader latch with both
        LeaderLatch la = new LeaderLatch(a, root + "/latch", "a");
        LeaderLatch lb = new LeaderLatch(b, root + "/latch", "b");
        la.start();
        boolean aLed = la.await(30, TimeUnit.SECONDS);
        lb.start();
        waitFor(() -> {
            try {
                return lb.getParticipants().size() == 2;
            } catch (Exception e) {
                return false;
            }
        }, 20);
        check("latch.a_leader_before", aLed && la.hasLeadership() && !lb.hasLeadership());

        // --- cache on b (persistent recursive watch)
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch initialized = new CountDownLatch(1);
        CuratorCache cache = CuratorCache.build(b, root + "/cache");
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(n -> events.add("create " + n.getPath().substring(root.length())))
                .forChanges((o, n) -> events.add("change " + n.getPath().substring(root.length()) + "="
                        + new String(n.getData())))
                .forDeletes(o -> events.add("delete " + o.getPath().substring(root.length())))
                .forInitialized(initialized::countDown)
                .build());
        cache.start();
        check("cache.initialized", initialized.await(30, TimeUnit.SECONDS));
        a.create().forPath(root + "/cache", "0".getBytes());
        check("cache.create_seen", waitFor(() -> events.contains("create /cache"), 20));

        // --- writers, through a (any member) and through the follower f
        AtomicBoolean killed = new AtomicBoolean();
        Writer wa = new Writer(a, root + "/w", "a", killed);
        Writer wf = new Writer(f, root + "/w", "f", killed);
        wa.start();
        wf.start();
        check("writers.acked_before", waitFor(() -> wa.acks.get() >= 10 && wf.acks.get() >= 10, 30));

        out("READY");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line = in.readLine();
        if (!"KILLED".equals(line)) throw new IllegalStateException("expected KILLED on stdin, got " + line);
        killed.set(true);

        // --- across the failover
        a.setData().forPath(root + "/cache", "after-kill".getBytes());
        a.create().forPath(root + "/cache/x", "x".getBytes());
        check("cache.after_kill_seen", waitFor(
                () -> events.contains("change /cache=after-kill") && events.contains("create /cache/x"), 30));
        check("mutex.b_blocked_after", !mb.acquire(500, TimeUnit.MILLISECONDS));
        check("mutex.a_holds", ma.isAcquiredInThisProcess());
        ma.release();
        check("mutex.b_acquired", mb.acquire(30, TimeUnit.SECONDS));
        mb.release();
        check("latch.one_leader", waitFor(() -> la.hasLeadership() != lb.hasLeadership(), 30));
        String leaderId = la.getLeader().getId();
        check("latch.leader_agrees", leaderId.equals(lb.getLeader().getId())
                && leaderId.equals(la.hasLeadership() ? "a" : "b"));
        check("latch.participants", la.getParticipants().size());

        check("writers.acked_after", waitFor(() -> wa.acksAfterKill.get() >= 10 && wf.acksAfterKill.get() >= 10, 40));
        wa.stop.set(true);
        wf.stop.set(true);
        wa.join(30000);
        wf.join(30000);
        check("writers.stopped", !wa.isAlive() && !wf.isAlive());
        out("INFO writer a acks=" + wa.acks + " unknown=" + wa.errors + "; writer f acks=" + wf.acks
                + " unknown=" + wf.errors);

        // Curator saw the connection go and come back, and no session was lost.
        check("a.reconnected", statesA.contains("RECONNECTED") && !statesA.contains("LOST"));
        check("b.reconnected", statesB.contains("RECONNECTED") && !statesB.contains("LOST"));
        check("f.reconnected", statesF.contains("RECONNECTED") && !statesF.contains("LOST"));
        check("sessions.same", sidA == a.getZookeeperClient().getZooKeeper().getSessionId()
                && sidB == b.getZookeeperClient().getZooKeeper().getSessionId()
                && sidF == f.getZookeeperClient().getZooKeeper().getSessionId());
        out("INFO states a=" + statesA + " b=" + statesB + " f=" + statesF);

        cache.close();
        la.close();
        lb.close();
        f.close();
        b.close();
        a.close();
        out("DONE");
    }
}
