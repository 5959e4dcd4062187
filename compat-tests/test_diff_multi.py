"""Differential tests of multi (14) and multiRead (22).

Covers: successful result shapes per sub-op (create, create2, container, TTL, delete,
setData, check), the failed-multi shape (earlier ops 0, failing op its code, later ops
RUNTIMEINCONSISTENCY, all as error results, header err 0, tree unchanged), one zxid
for the whole multi, empty multi, ops that see earlier ops of the same multi,
sequential creates inside a multi, watches fired once per multi, read sub-ops in a
write multi (and vice versa) giving MARSHALLINGERROR, and per-op errors in multiRead.
"""

from conftest import wait_until
from zkraw import (Err, Flags, Op, enc_check, enc_create, enc_create_ttl, enc_delete, enc_path_watch,
                   enc_set_data)

REAP_WAIT = 20.0  # seconds for a container to be reaped (generous: a loaded machine)


MULTI_CREATE2_WHY = ("3.9 answers a create2 sub-op with a Stat (ZOOKEEPER-4026; ferrokeeper too, logging it as "
                     "a create sub-txn that 3.8 members can apply); 3.8 answers it as a create")
MULTI_HEADER_WHY = ("3.9 keeps a create sub-op's header opcode (create2, createContainer) unless the mode is TTL "
                    "or container; 3.8 rebuilt every non-TTL create as a create of its mode")


def scenario_multi_success(env):
    t, c, p = env.t, env.connect(), env.p
    c.create(p())
    r = c.multi([
        (Op.CREATE, enc_create(p("a"), b"1")),
        (Op.CREATE2, enc_create(p("b"), b"22")),
        (Op.CREATE, enc_create(p("a/s-"), flags=Flags.PERSISTENT_SEQUENTIAL)),
        (Op.CREATE_CONTAINER, enc_create(p("c"), flags=Flags.CONTAINER)),
        (Op.CREATE_TTL, enc_create_ttl(p("t"), ttl=60000)),
        (Op.SET_DATA, enc_set_data(p("a"), b"one", 0)),
        (Op.CHECK, enc_check(p("a"), 1)),
        (Op.DELETE, enc_delete(p("b"), 0)),
        (Op.CREATE, enc_create(p("e"), flags=Flags.EPHEMERAL)),
    ])
    # 3.8.0 answers a create2 sub-op with a plain CreateResponse (result type 1, no Stat),
    # while container/TTL creates carry a Stat; 3.9 (ZOOKEEPER-4026) and ferrokeeper answer
    # create2 with a Create2Response. 3.9 logs the sub-txn as create2 (type 15), which a
    # 3.8 member cannot apply (DataTree.processTxn: "Invalid type of op"); ferrokeeper logs
    # a create (test_create2_subop_is_logged_as_create).
    t.since39("multi ok", r, value=0, zk38=0, why=MULTI_CREATE2_WHY)
    t.since39("result kinds", [x[0] for x in r.value],
              value=["create", "create2", "create", "create2", "create2", "setData", "check", "delete", "create"],
              zk38=["create", "create", "create", "create2", "create2", "setData", "check", "delete", "create"],
              why=MULTI_CREATE2_WHY)
    zx = {x[2].czxid for x in r.value if x[0] == "create2"} | {r.value[5][1].mzxid}
    t.expect("one zxid for the whole multi", len(zx), 1)
    t.expect("sequential inside multi", r.value[2][1], "<root>/a/s-0000000000")
    t.expect("children after", c.get_children(p()), value=["a", "c", "e", "t"])
    t.expect("parent stat after", c.exists(p()), err=0)
    t.expect("empty multi", c.multi([]), err=0, value=[])


def test_multi_success(diff):
    diff(scenario_multi_success)


def scenario_multi_create_headers(env):
    """A create sub-op's header opcode against its mode: what each becomes (result kind,
    and which persistent nodes are containers: reaped once their only child is deleted)."""
    t, c, p = env.t, env.connect(), env.p
    c.create(p())
    cases = [
        ("create2 header, persistent", Op.CREATE2, Flags.PERSISTENT),
        ("create2 header, ephemeral sequential", Op.CREATE2, Flags.EPHEMERAL_SEQUENTIAL),
        ("create2 header, container mode", Op.CREATE2, Flags.CONTAINER),
        ("createContainer header, persistent", Op.CREATE_CONTAINER, Flags.PERSISTENT),
        ("create header, container mode", Op.CREATE, Flags.CONTAINER),
        ("createTTL header, persistent", Op.CREATE_TTL, Flags.PERSISTENT),
    ]
    kinds = {}
    for i, (label, header, flags) in enumerate(cases):
        path = p(f"n{i}")
        body = enc_create_ttl(path, flags=flags, ttl=-1) if header == Op.CREATE_TTL else enc_create(path, flags=flags)
        r = c.multi([(header, body)])
        kinds[label] = [x[0] for x in r.value] if r.err == 0 else r.err
        if flags != Flags.EPHEMERAL_SEQUENTIAL:
            c.create(path + "/kid")
            c.delete(path + "/kid")
    # znode.container.checkIntervalMs is 1000 in the test config. Not a fixed wait (3.5 s
    # was too short for a starved reaper on a loaded machine): two barrier containers are
    # made reapable after the cases, the second once the first is gone. The pass that
    # reaps the second began after the one that reaped the first had ended (passes do not
    # overlap, each picks its candidates when it starts), and that one already had every
    # case container among its candidates, so whatever is reapable is gone by then.
    for n in (1, 2):
        barrier = p(f"reap-barrier-{n}")
        c.create_container(barrier)
        c.create(barrier + "/kid")
        c.delete(barrier + "/kid")
        wait_until(lambda: c.exists(barrier).err == Err.NONODE, REAP_WAIT, interval=0.2)
    left = c.get_children(p()).value
    for i, (label, header, flags) in enumerate(cases):
        shape = (kinds[label], "reaped" if f"n{i}" not in left and flags != Flags.EPHEMERAL_SEQUENTIAL else "kept")
        if header == Op.CREATE2 and flags != Flags.CONTAINER:
            t.since39(label, shape, value=(["create2"], "kept"), zk38=(["create"], "kept"), why=MULTI_CREATE2_WHY)
        elif header == Op.CREATE_CONTAINER and flags == Flags.PERSISTENT:
            t.since39(label, shape, value=(["create2"], "reaped"), zk38=(["create"], "kept"), why=MULTI_HEADER_WHY)
        else:
            t.expect(label, shape)
    # The Stat a create2 result carries is the node's as created.
    r = c.multi([(Op.CREATE2, enc_create(p("s"), b"abc")), (Op.SET_DATA, enc_set_data(p("s"), b"later"))])
    first = r.value[0] if r.err == 0 else r.err
    got = (first[0], first[2].version, first[2].dataLength, first[2].czxid == first[2].mzxid) \
        if isinstance(first, tuple) and first[0] == "create2" else first
    t.since39("create2 result stat", got, value=("create2", 0, 3, True), zk38=("create", "<root>/s"),
              why=MULTI_CREATE2_WHY)


def test_multi_create_headers(diff):
    diff(scenario_multi_create_headers)


def scenario_multi_failure(env):
    """A failing op aborts the whole multi; results show where it failed."""
    t, c, p = env.t, env.connect(), env.p
    c.create(p())
    c.create(p("x"), b"v")
    cases = {
        "node exists in the middle": [(Op.CREATE, enc_create(p("new1"))), (Op.CREATE, enc_create(p("x"))),
                                      (Op.DELETE, enc_delete(p("x")))],
        "bad version first": [(Op.SET_DATA, enc_set_data(p("x"), b"", 7)), (Op.CREATE, enc_create(p("new2")))],
        "check fails last": [(Op.CREATE, enc_create(p("new3"))), (Op.SET_DATA, enc_set_data(p("x"), b"q")),
                             (Op.CHECK, enc_check(p("x"), 0))],
        "no node": [(Op.DELETE, enc_delete(p("missing")))],
        "not empty": [(Op.CREATE, enc_create(p("x/child"))), (Op.DELETE, enc_delete(p("x")))],
        "bad path": [(Op.CREATE, enc_create(p("ok"))), (Op.CREATE, enc_create("relative"))],
        "ephemeral parent": [(Op.CREATE, enc_create(p("eph"), flags=Flags.EPHEMERAL)),
                             (Op.CREATE, enc_create(p("eph/kid")))],
        "invalid acl": [(Op.CREATE, enc_create(p("noacl"), acl=[]))],
        "delete then use": [(Op.DELETE, enc_delete(p("x"))), (Op.SET_DATA, enc_set_data(p("x"), b"z"))],
        "bad flags": [(Op.CREATE, enc_create(p("f"), flags=9))],
        "check missing": [(Op.CHECK, enc_check(p("missing"), -1))],
        "two failures": [(Op.CHECK, enc_check(p("x"), 5)), (Op.DELETE, enc_delete(p("missing")))],
    }
    for label, ops in cases.items():
        r = c.multi(ops)
        if label == "bad flags":
            # 3.9's MultiOperationRecord.deserialize rejects a create flag CreateMode does not
            # know ("invalid flag 9 for create mode": IOException -> MARSHALLINGERROR for the
            # whole request); 3.8.0 gets to prep, whose error result is BADARGUMENTS.
            t.since39(label, r, value=Err.MARSHALLINGERROR, zk38=0,
                      why="3.9 rejects unknown create flags in a multi while decoding it (MARSHALLINGERROR)")
        else:
            t.expect(label, r, err=0)
    t.expect("node exists shape", t.entries[0][1]["value"], [("error", 0), ("error", Err.NODEEXISTS),
                                                              ("error", Err.RUNTIMEINCONSISTENCY)])
    t.expect("tree unchanged", c.get_children(p()), value=["x"])
    t.expect("x unchanged", c.get_data(p("x")), err=0)


def test_multi_failure(diff):
    diff(scenario_multi_failure)


def scenario_multi_watches(env):
    """Watches fire once per affected node per multi, events ordered by op."""
    t, p = env.t, env.p
    c, w = env.connect(), env.connect()
    c.create(p())
    c.create(p("a"), b"")
    w.get_children(p(), watch=True)
    w.get_data(p("a"), watch=True)
    w.exists(p("b"), watch=True)
    r = c.multi([(Op.SET_DATA, enc_set_data(p("a"), b"1")), (Op.SET_DATA, enc_set_data(p("a"), b"2")),
                 (Op.CREATE, enc_create(p("b"))), (Op.CREATE, enc_create(p("c")))])
    t.expect("multi", r, err=0)
    t.expect("events", w.take_events(3, settle=0.3))
    w.get_data(p("a"), watch=True)
    r = c.multi([(Op.SET_DATA, enc_set_data(p("a"), b"3")), (Op.CHECK, enc_check(p("a"), 0))])
    t.expect("failed multi", r, err=0)
    t.expect("failed multi fires nothing", w.take_events(0, settle=0.3), [])


def test_multi_watches(diff):
    diff(scenario_multi_watches)


def scenario_multi_read(env):
    t, c, p = env.t, env.connect(), env.p
    c.create(p(), b"root")
    c.create(p("a"), b"A")
    c.create(p("b"), b"B")
    r = c.multi_read([(Op.GET_CHILDREN, enc_path_watch(p())), (Op.GET_DATA, enc_path_watch(p("a"))),
                      (Op.GET_DATA, enc_path_watch(p("missing"))), (Op.GET_CHILDREN, enc_path_watch(p("zz"))),
                      (Op.GET_DATA, enc_path_watch(p("b")))])
    t.expect("multiRead", r, err=0)
    t.expect("multiRead shapes", [x[0] for x in r.value],
             ["getChildren", "getData", "error", "error", "getData"])
    t.expect("multiRead errors", [x[1] for x in r.value if x[0] == "error"], [Err.NONODE, Err.NONODE])
    t.expect("multiRead empty", c.multi_read([]), err=0, value=[])
    t.expect("write op in multiRead", c.multi_read([(Op.CREATE, enc_create(p("w")))]), err=Err.MARSHALLINGERROR)
    t.expect("read op in multi", c.multi([(Op.GET_DATA, enc_path_watch(p("a")))]), err=Err.MARSHALLINGERROR)
    t.expect("exists op in multiRead", c.multi_read([(Op.EXISTS, enc_path_watch(p("a")))]),
             err=Err.MARSHALLINGERROR)
    t.expect("connection still usable", c.exists(p()).err, 0)
    t.expect("nothing created", c.get_children(p()), value=["a", "b"])


def test_multi_read(diff):
    diff(scenario_multi_read)


def scenario_multi_acl(env):
    """NOAUTH inside a multi aborts it like any other error; multiRead reports NOAUTH per op."""
    from zkraw import ACL, Perm
    t, c, other, p = env.t, env.connect(), env.connect(), env.p
    c.create(p())
    c.create(p("ro"), b"r", acl=[ACL(Perm.READ, "world", "anyone")])
    c.create(p("wo"), b"w", acl=[ACL(Perm.WRITE, "world", "anyone")])
    t.expect("write to read-only in multi",
             other.multi([(Op.CREATE, enc_create(p("n"))), (Op.SET_DATA, enc_set_data(p("ro"), b"x"))]), err=0)
    t.expect("multiRead noauth",
             other.multi_read([(Op.GET_DATA, enc_path_watch(p("ro"))), (Op.GET_DATA, enc_path_watch(p("wo")))]),
             err=0)


def test_multi_acl(diff):
    diff(scenario_multi_acl)
