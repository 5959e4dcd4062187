"""Quota stats text is ordinary znode data: clients can write any count into
/zookeeper/quota/<p>/zookeeper_stats. ZooKeeper parses it with Long.parseLong and adds to it
in Java long arithmetic, which wraps: with count=9223372036854775807 a create passes a
countHardLimit of 5 and the stats read back count=-9223372036854775808. ferrokeeper must do
the same (it used to overflow: a panic in debug builds, silent wrap in release).
Runs with the suite's enforceQuota=true.

(Garbage stats text with no limit to check is not exercised here: Java then throws
inside its commit path.)
"""

MAX = 9223372036854775807
MIN = -9223372036854775808


def stats_text(count, nbytes):
    return f"count={count},bytes={nbytes}".encode()


def scenario_quota_extreme_counts(env):
    t, c, p = env.t, env.connect(), env.p
    qroot = "/zookeeper/quota" + p()
    limits, stats = qroot + "/zookeeper_limits", qroot + "/zookeeper_stats"
    t.expect("create root", c.create(p(), b""), err=0)
    t.expect("quota dir", c.create(qroot, b""), err=0)
    t.expect("limits", c.create(limits, b"count=-1,bytes=-1=;countHardLimit=5;byteHardLimit=1000"), err=0)
    t.expect("stats", c.create(stats, b""), err=0)
    data = lambda: c.get_data(stats).value[0]
    t.expect("recounted", data(), stats_text(1, 0))

    # At i64::MAX: + 1 node / + 3 bytes wrap negative, under both hard limits.
    t.expect("set max", c.set_data(stats, stats_text(MAX, MAX)).err, 0)
    t.expect("create past max", c.create(p("a"), b"xyz").err, 0)
    t.expect("wrapped", data(), stats_text(MIN, MIN + 2))
    t.expect("delete back", c.delete(p("a")).err, 0)
    t.expect("wrapped back", data(), stats_text(MAX, MAX))
    # Just below the wrap: over the count limit.
    t.expect("set max-5", c.set_data(stats, stats_text(MAX - 5, 0)).err, 0)
    t.expect("create over limit", c.create(p("b"), b"").err, -125)
    # setData growth at byte i64::MAX - 1 wraps too.
    t.expect("set bytes max-1", c.set_data(stats, stats_text(0, MAX - 1)).err, 0)
    t.expect("create c", c.create(p("c"), b"").err, 0)
    t.expect("grow c", c.set_data(p("c"), b"0123456789").err, 0)
    t.expect("bytes wrapped", data(), stats_text(1, MIN + 8))
    # At i64::MIN: deletes wrap to MAX (and the next create wraps back under the limit).
    t.expect("set min", c.set_data(stats, stats_text(MIN, MIN)).err, 0)
    t.expect("delete c", c.delete(p("c")).err, 0)
    t.expect("min wrapped", data(), stats_text(MAX, MAX - 9))
    t.expect("create at max", c.create(p("d"), b"").err, 0)
    t.expect("max wrapped", data(), stats_text(MIN, MAX - 9))
    # Negative counts and extreme limits.
    t.expect("set negative", c.set_data(stats, stats_text(-5, -1000)).err, 0)
    t.expect("create e", c.create(p("e"), b"x" * 900).err, 0)
    t.expect("neg stats", data(), stats_text(-4, -100))
    t.expect("limit max", c.set_data(limits, f"count=-1,bytes=-1=;countHardLimit={MAX};byteHardLimit={MAX}".encode()).err, 0)
    t.expect("set max again", c.set_data(stats, stats_text(MAX, MAX)).err, 0)
    t.expect("create f", c.create(p("f"), b"ab").err, 0)
    t.expect("limit min", c.set_data(limits, f"count=-1,bytes=-1=;countHardLimit={MIN}".encode()).err, 0)
    t.expect("create g (no hard limit)", c.create(p("g"), b"").err, 0)
    # Stats text Java cannot parse, with a limit to check: MARSHALLINGERROR, nothing created.
    t.expect("limit 5", c.set_data(limits, b"count=-1,bytes=-1=;countHardLimit=5").err, 0)
    for i, junk in enumerate([b"count=99999999999999999999,bytes=0", b"count=lots,bytes=1", b"count"]):
        t.expect(f"junk {i}", c.set_data(stats, junk).err, 0)
        t.expect(f"create under junk {i}", c.create(p(f"h{i}"), b"").err, -5)
        t.expect(f"junk kept {i}", data(), junk)
    t.expect("no h0", c.exists(p("h0")).err, -101)
    # Clean up: removing the limits node drops the quota.
    t.expect("drop stats", c.delete(stats).err, 0)
    t.expect("drop limits", c.delete(limits).err, 0)
    t.expect("drop dir", c.delete(qroot).err, 0)


def test_quota_extreme_counts(diff):
    diff(scenario_quota_extreme_counts)
