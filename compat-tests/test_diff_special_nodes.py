"""Differential tests of containers, TTL nodes and quotas.

Covers: createContainer (19) reply shape (ephemeralOwner hidden as 0), reaping of a
container once its last child is gone (znode.container.checkIntervalMs = 1000 in the
test config) with NodeDeleted to watchers, never-used containers kept, containers via
plain create flags; createTTL (21): expiry of childless TTL nodes, TTL nodes with
children kept, sequential TTL, invalid TTL values and flag/opcode combinations
(BADARGUMENTS), UNIMPLEMENTED when extendedTypesEnabled is off; quotas set the way
zkCli's setquota does (/zookeeper/quota/<path>/zookeeper_limits + zookeeper_stats),
stats tracking, and hard limits giving QUOTAEXCEEDED (enforceQuota=true).
"""

import time

from zkraw import Err, Ev, Flags, Op, enc_create

REAP_WAIT = 20.0  # seconds (generous: a loaded machine); the check interval is 1 s


def wait_gone(c, path, timeout=REAP_WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if c.exists(path).err == Err.NONODE:
            return True
        time.sleep(0.2)
    return False


def scenario_containers(env):
    t, p = env.t, env.p
    c, w = env.connect(), env.connect()
    c.create(p())
    t.expect("createContainer", c.create_container(p("box"), b"d"), err=0)
    t.expect("container owner hidden", c.exists(p("box")).value.ephemeralOwner, 0)
    t.expect("createContainer never used", c.create_container(p("unused")), err=0)
    t.expect("create child", c.create(p("box/kid")), err=0)
    t.expect("ephemeral child", c.create(p("box/eph"), flags=Flags.EPHEMERAL), err=0)
    w.exists(p("box"), watch=True)
    w.get_children(p(), watch=True)
    c.delete(p("box/kid"))
    time.sleep(2.5)
    t.expect("not reaped while a child remains", c.exists(p("box")).err, 0)
    c.delete(p("box/eph"))
    t.expect("reaped after last child deleted", wait_gone(c, p("box")), True)
    t.expect("reap events", sorted(w.take_events(2, settle=0.3)))
    t.expect("never-used container kept", c.exists(p("unused")).err, 0)
    # a container via createContainer with other flags / a plain create with flags 4
    t.expect("createContainer flags 0", c.create_container(p("c0"), flags=0))
    t.expect("create op with container flag", c.create(p("c1"), flags=Flags.CONTAINER))
    t.expect("create2 op with container flag", c.create2(p("c2"), flags=Flags.CONTAINER))
    t.expect("container child of container", c.create_container(p("unused/inner")), err=0)
    c.delete(p("unused/inner"))
    t.expect("outer container reaped", wait_gone(c, p("unused")), True)
    t.expect("container delete by client", c.delete(p("c0")).err if c.exists(p("c0")).err == 0 else "absent")


def test_containers(diff):
    diff(scenario_containers)


def scenario_ttl(env):
    t, p = env.t, env.p
    c = env.connect()
    c.create(p())
    r = c.create_ttl(p("short"), b"x", ttl=500)
    t.expect("createTTL", r, err=0)
    t.expect("TTL owner hidden", r.value[1].ephemeralOwner, 0)
    t.expect("createTTL with child", c.create_ttl(p("parent"), ttl=500), err=0)
    c.create(p("parent/kid"))
    t.expect("sequential TTL", c.create_ttl(p("seq-"), ttl=500, flags=Flags.PERSISTENT_SEQUENTIAL_WITH_TTL),
             err=0)
    t.expect("long TTL", c.create_ttl(p("long"), ttl=3_600_000), err=0)
    t.expect("short TTL expired", wait_gone(c, p("short")), True)
    deadline = time.monotonic() + REAP_WAIT
    while time.monotonic() < deadline and len(c.get_children(p()).value) > 2:
        time.sleep(0.2)
    t.expect("sequential TTL expired", c.get_children(p()), value=["long", "parent"])
    t.expect("TTL with child kept", c.exists(p("parent")).err, 0)
    t.expect("long TTL kept", c.exists(p("long")).err, 0)
    for label, ttl, flags in (("ttl 0", 0, Flags.PERSISTENT_WITH_TTL), ("ttl -1", -1, Flags.PERSISTENT_WITH_TTL),
                              ("ttl 2^40", 1 << 40, Flags.PERSISTENT_WITH_TTL),
                              ("ttl max", (1 << 40) - 1, Flags.PERSISTENT_WITH_TTL),
                              ("createTTL persistent flags", 1000, Flags.PERSISTENT),
                              ("createTTL ephemeral flags", 1000, Flags.EPHEMERAL),
                              ("createTTL container flags", 1000, Flags.CONTAINER),
                              ("createTTL flags 7", 1000, 7)):
        t.expect(label, c.create_ttl(p("bad" + label.replace(" ", "_")), ttl=ttl, flags=flags))
    t.expect("TTL flag via create", c.create(p("viacreate"), flags=Flags.PERSISTENT_WITH_TTL), err=Err.BADARGUMENTS)
    t.expect("TTL flag via create2", c.create2(p("viacreate2"), flags=Flags.PERSISTENT_SEQUENTIAL_WITH_TTL),
             err=Err.BADARGUMENTS)
    t.expect("TTL flag via createContainer", c.create_container(p("viacont"), flags=Flags.PERSISTENT_WITH_TTL))
    # A TTL node kept alive by setData (mtime): touched every 0.25 s -- a tenth of its TTL,
    # so a loaded machine does not expire it between two touches -- for 1.4 x its TTL, it
    # must still be there; left alone, it expires.
    ttl_ms = 2500
    c.create_ttl(p("touched"), ttl=ttl_ms)
    created = time.monotonic()
    touches = []
    while time.monotonic() - created < ttl_ms / 1000 * 1.4:  # bounded: ~3.5 s
        time.sleep(0.25)
        touches.append(c.set_data(p("touched"), b"tick").err)
    t.expect("setData keeps TTL node alive", (sorted(set(touches)), c.exists(p("touched")).err), ([0], 0))
    t.expect("then it expires", wait_gone(c, p("touched"), timeout=ttl_ms / 1000 + REAP_WAIT), True)


def test_ttl(diff):
    diff(scenario_ttl)


def scenario_ttl_disabled(env):
    t, p = env.t, env.p
    c = env.connect()
    c.create(p())
    t.expect("createTTL disabled", c.create_ttl(p("x"), ttl=1000), err=Err.UNIMPLEMENTED)
    t.expect("createTTL disabled, bad ttl", c.create_ttl(p("x"), ttl=0), err=Err.UNIMPLEMENTED)
    t.expect("TTL in multi disabled", c.multi([(Op.CREATE_TTL, __import__("zkraw").enc_create_ttl(p("m"), ttl=10))]))
    t.expect("connection kept", c.exists(p()).err, 0)
    t.expect("container still fine", c.create_container(p("box")), err=0)


def test_ttl_disabled(server_factory, server_pool):
    disabled = server_factory(extendedTypesEnabled="false")
    import conftest
    t = conftest.run_scenario(scenario_ttl_disabled, disabled, "ttl_disabled")
    conftest.compare_with_references(t, scenario_ttl_disabled, server_pool, "ttl_disabled",
                                     extendedTypesEnabled="false")
    assert not t.failures, t.failures


def quota_path(path):
    return "/zookeeper/quota" + path


def set_quota(c, path, limits):
    """What zkCli's setquota does: create the quota node chain, the limits node and
    the stats node (whose data the server then computes)."""
    parts = quota_path(path).split("/")[1:]
    cur = ""
    for part in parts:
        cur += "/" + part
        r = c.create(cur)
        assert r.err in (0, Err.NODEEXISTS), r
    assert c.create(quota_path(path) + "/zookeeper_limits", limits.encode()).err == 0
    assert c.create(quota_path(path) + "/zookeeper_stats", b"count=0,bytes=0").err == 0


def stats_of(c, path):
    return c.get_data(quota_path(path) + "/zookeeper_stats").value[0].decode()


def scenario_quotas(env):
    t, p = env.t, env.p
    c = env.connect()
    c.create(p())
    c.create(p("counted"), b"a")
    c.create(p("counted/x"), b"bb")
    set_quota(c, p("counted"), "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=4")
    t.expect("stats computed by the server", stats_of(c, p("counted")), "count=2,bytes=3")
    t.expect("create within hard count", c.create(p("counted/y")), err=0)
    t.expect("create within hard count 2", c.create(p("counted/x/z"), b"ccc"), err=0)
    t.expect("create beyond hard count", c.create(p("counted/w")), err=Err.QUOTAEXCEEDED)
    t.expect("sequential beyond hard count", c.create(p("counted/s"), flags=Flags.PERSISTENT_SEQUENTIAL),
             err=Err.QUOTAEXCEEDED)
    t.expect("multi beyond hard count", c.multi([(Op.CREATE, enc_create(p("counted/m")))]), err=0)
    t.expect("stats after", stats_of(c, p("counted")), "count=4,bytes=6")
    t.expect("setData is not counted", c.set_data(p("counted/y"), b"1234567890"), err=0)
    t.expect("delete frees room", c.delete(p("counted/y")), err=0)
    t.expect("stats after delete", stats_of(c, p("counted")), "count=3,bytes=6")
    t.expect("create after delete", c.create(p("counted/w")), err=0)

    c.create(p("sized"), b"12345")
    set_quota(c, p("sized"), "count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=-1")
    t.expect("bytes stats", stats_of(c, p("sized")), "count=1,bytes=5")
    t.expect("create within bytes", c.create(p("sized/a"), b"123"), err=0)
    t.expect("create beyond bytes", c.create(p("sized/b"), b"123"), err=Err.QUOTAEXCEEDED)
    t.expect("setData beyond bytes", c.set_data(p("sized/a"), b"123456"), err=Err.QUOTAEXCEEDED)
    t.expect("setData within bytes", c.set_data(p("sized/a"), b"12345"), err=0)
    t.expect("bytes stats after", stats_of(c, p("sized")), "count=2,bytes=10")

    c.create(p("soft"))
    set_quota(c, p("soft"), "count=1,bytes=1")
    t.expect("soft limits only warn", [c.create(p(f"soft/{i}"), b"xx").err for i in range(3)], [0, 0, 0])
    t.expect("soft stats", stats_of(c, p("soft")), "count=4,bytes=6")
    t.expect("limits node readable", c.get_data(quota_path(p("soft")) + "/zookeeper_limits").value[0], b"count=1,bytes=1")


def test_quotas(diff):
    diff(scenario_quotas)
