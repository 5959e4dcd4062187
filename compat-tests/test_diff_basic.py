"""Differential tests of the basic znode opcodes and their error paths.

Covers: connect response bytes, create/create2 (every flag), delete, exists, getData,
setData, getChildren/getChildren2, sync, ping, getEphemerals, getAllChildrenNumber,
whoAmI, Stat fields after each write (zxids/times normalized), conditional versions
(BADVERSION), NONODE / NODEEXISTS / NOTEMPTY / NOCHILDRENFOREPHEMERALS / INVALIDACL /
BADARGUMENTS for bad paths and flags, the sequential-suffix + cversion sequence from
reference-setup.md, the reserved /zookeeper subtree, RECONFIGDISABLED, SASL without a
SASL provider, and unknown opcodes (UNIMPLEMENTED + connection closed, session kept).

Each scenario runs on both servers; ferrokeeper's transcript must equal real ZooKeeper's.
"""

from zkraw import ACL, Err, Flags, Op, OPEN_ACL_UNSAFE, Perm, enc_path


def stat(czxid, mzxid, pzxid, version=0, cversion=0, aversion=0, owner=0, dlen=0, nchildren=0, times="T"):
    return {"czxid": czxid, "mzxid": mzxid, "ctime": times, "mtime": times, "version": version,
            "cversion": cversion, "aversion": aversion, "ephemeralOwner": owner, "dataLength": dlen,
            "numChildren": nchildren, "pzxid": pzxid}


def scenario_connect_response(env):
    """ConnectResponse layout: 37 bytes with the readOnly byte, 36 without; negotiated
    timeouts are clamped to [2, 20] x tickTime (tickTime 2000 in the test config)."""
    t = env.t
    for requested, expected in ((100, 4000), (10000, 10000), (10**7, 40000)):
        c = env.connect(timeout_ms=requested)
        r = c.connect_response
        t.expect(f"timeout {requested}", (r.protocolVersion, r.timeOut, len(r.passwd), r.readOnly, len(r.raw)),
                 (0, expected, 16, False, 37))
    c = env.server.raw(send_read_only=False)
    env.clients.append(c)
    r = c.connect_response
    t.expect("no readOnly byte", (r.readOnly, len(r.raw)), (None, 36))
    c = env.server.raw(read_only=True)
    env.clients.append(c)
    t.expect("readOnly requested on a normal server", c.connect_response.readOnly, False)
    t.expect("session usable", c.exists("/").err, 0)


def test_connect_response(diff):
    diff(scenario_connect_response)


def scenario_crud_and_stats(env):
    """Create / read / update / delete with full (normalized) Stat checks."""
    t, c, p = env.t, env.connect(), env.p
    t.expect("create root", c.create(p(), b"top"), err=0, value="<root>")
    t.expect("exists root", c.exists(p()), err=0, value=stat("Z1", "Z1", "Z1", dlen=3))
    t.expect("create2 child", c.create2(p("a"), b"hello"), err=0,
             value=("<root>/a", stat("Z2", "Z2", "Z2", dlen=5)))
    t.expect("getData child", c.get_data(p("a")), err=0, value=(b"hello", stat("Z2", "Z2", "Z2", dlen=5)))
    t.expect("parent after create", c.exists(p()), value=stat("Z1", "Z1", "Z2", cversion=1, dlen=3, nchildren=1))
    t.expect("setData", c.set_data(p("a"), b"world!"), err=0, value=stat("Z2", "Z3", "Z2", version=1, dlen=6))
    t.expect("setData version ok", c.set_data(p("a"), b"", 1), err=0, value=stat("Z2", "Z4", "Z2", version=2))
    t.expect("setData bad version", c.set_data(p("a"), b"x", 1), err=Err.BADVERSION)
    t.expect("setData null data", c.set_data(p("a"), None), err=0, value=stat("Z2", "Z5", "Z2", version=3))
    # Real ZooKeeper stores a null buffer as null and returns it as length -1.
    t.expect("getData null data", c.get_data(p("a")), err=0, value=(None, stat("Z2", "Z5", "Z2", version=3)))
    t.expect("getData null data raw", c.get_data(p("a")).body[:4], b"\xff\xff\xff\xff")
    t.expect("getChildren", c.get_children(p()), err=0, value=["a"])
    t.expect("getChildren2", c.get_children2(p()), err=0,
             value=(["a"], stat("Z1", "Z1", "Z2", cversion=1, dlen=3, nchildren=1)))
    t.expect("getChildren leaf", c.get_children(p("a")), err=0, value=[])
    t.expect("create existing", c.create(p("a")), err=Err.NODEEXISTS)
    t.expect("delete non-empty", c.delete(p()), err=Err.NOTEMPTY)
    t.expect("delete bad version", c.delete(p("a"), 0), err=Err.BADVERSION)
    t.expect("delete right version", c.delete(p("a"), 3), err=0)
    t.expect("delete again", c.delete(p("a")), err=Err.NONODE)
    t.expect("parent after delete", c.exists(p()), value=stat("Z1", "Z1", "Z6", cversion=2, dlen=3))
    for op, body in (("getData", c.get_data), ("exists", c.exists), ("getChildren", c.get_children),
                     ("getChildren2", c.get_children2), ("getACL", c.get_acl),
                     ("getAllChildrenNumber", c.get_all_children_number)):
        t.expect(f"{op} missing", body(p("missing")), err=Err.NONODE)
    t.expect("setData missing", c.set_data(p("missing"), b""), err=Err.NONODE)
    t.expect("setACL missing", c.set_acl(p("missing"), OPEN_ACL_UNSAFE), err=Err.NONODE)
    t.expect("create under missing parent", c.create(p("missing/x")), err=Err.NONODE)
    t.expect("large data", c.create2(p("big"), b"x" * 500_000), err=0,
             value=("<root>/big", stat("Z7", "Z7", "Z7", dlen=500_000)))
    t.expect("create with null data", c.create2(p("null"), None), err=0,
             value=("<root>/null", stat("Z8", "Z8", "Z8")))
    t.expect("getData created-null", c.get_data(p("null")).value[0], None)
    t.expect("large data read", len(c.get_data(p("big")).value[0]), 500_000)


def test_crud_and_stats(diff):
    diff(scenario_crud_and_stats)


def scenario_sequential_cversion(env):
    """The exact sequence from reference-setup.md: sequential suffixes come from the
    parent's stored cversion (creates only); the client-visible cversion counts creates
    and deletes."""
    t, c, p = env.t, env.connect(), env.p
    c.create(p())

    def step(label, reply, value, cversion):
        t.expect(label, reply, err=0, value=value)
        t.expect(label + " cversion", c.exists(p()).value.cversion, cversion)

    step("create a", c.create(p("a")), "<root>/a", 1)
    step("create b", c.create(p("b")), "<root>/b", 2)
    step("delete a", c.delete(p("a")), None, 3)
    step("seq 1", c.create(p("s-"), flags=Flags.PERSISTENT_SEQUENTIAL), "<root>/s-0000000002", 4)
    step("seq 2", c.create(p("s-"), flags=Flags.EPHEMERAL_SEQUENTIAL), "<root>/s-0000000003", 5)
    step("delete b", c.delete(p("b")), None, 6)
    step("seq 3", c.create(p("s-"), flags=Flags.PERSISTENT_SEQUENTIAL), "<root>/s-0000000004", 7)
    step("seq without prefix", c.create(p() + "/", flags=Flags.PERSISTENT_SEQUENTIAL), "<root>/0000000005", 8)
    step("seq create2", c.create2(p("t"), flags=Flags.PERSISTENT_SEQUENTIAL), ("<root>/t0000000006",
         stat("Z1", "Z1", "Z1")), 9)
    t.expect("failed create does not bump counter", c.create(p("s-0000000004")), err=Err.NODEEXISTS)
    step("seq after failure", c.create(p("s-"), flags=Flags.PERSISTENT_SEQUENTIAL), "<root>/s-0000000007", 10)
    t.expect("children", c.get_children(p()), value=sorted(
        ["0000000005", "s-0000000002", "s-0000000003", "s-0000000004", "s-0000000007", "t0000000006"]))


def test_sequential_cversion(diff):
    diff(scenario_sequential_cversion)


def scenario_ephemerals(env):
    """Ephemeral owner, NOCHILDRENFOREPHEMERALS, getEphemerals per session and prefix,
    deletion on closeSession."""
    t, p = env.t, env.p
    a, b = env.connect(), env.connect()
    a.create(p())
    t.expect("ephemeral create2", a.create2(p("e1"), b"", flags=Flags.EPHEMERAL), err=0,
             value=("<root>/e1", stat("Z1", "Z1", "Z1", owner="S1")))
    a.create(p("e2"), flags=Flags.EPHEMERAL_SEQUENTIAL)
    b.create(p("f1"), flags=Flags.EPHEMERAL)
    t.expect("child of ephemeral", a.create(p("e1/x")), err=Err.NOCHILDRENFOREPHEMERALS)
    t.expect("child of other's ephemeral", b.create(p("e1/x")), err=Err.NOCHILDRENFOREPHEMERALS)
    t.expect("sequential child of ephemeral", a.create(p("e1/x"), flags=Flags.PERSISTENT_SEQUENTIAL),
             err=Err.NOCHILDRENFOREPHEMERALS)
    t.expect("getEphemerals a (root prefix)", [x for x in a.get_ephemerals("/").value if x.startswith(p())],
             ["<root>/e1", "<root>/e20000000001"])
    t.expect("getEphemerals a (prefix)", a.get_ephemerals(p("e")), err=0, value=["<root>/e1", "<root>/e20000000001"])
    t.expect("getEphemerals a (string prefix, not path)", a.get_ephemerals(p("e2")), err=0,
             value=["<root>/e20000000001"])
    t.expect("getEphemerals b", b.get_ephemerals(p()), err=0, value=["<root>/f1"])
    t.expect("getEphemerals none", b.get_ephemerals(p("zzz")), err=0, value=[])
    t.expect("getEphemerals bad prefix", b.get_ephemerals("no-slash"), err=0, value=[])
    t.expect("getAllChildrenNumber", a.get_all_children_number(p()), err=0, value=3)
    a.close()
    t.expect("after close, a's ephemerals are gone", b.get_children(p()), value=["f1"])
    t.expect("b's ephemeral untouched", t.session(b.exists(p("f1")).value.ephemeralOwner), "S2")


def test_ephemerals(diff):
    diff(scenario_ephemerals)


def scenario_bad_paths_and_flags(env):
    """BADARGUMENTS for malformed paths and unknown create flags, and which check wins
    when several could apply (real ZooKeeper looks the parent up before validating the
    path, and fixes up the ACL before both)."""
    t, c, p = env.t, env.connect(), env.p
    c.create(p())
    for label, path, err in (
        ("relative", "relative", Err.BADARGUMENTS),
        ("empty", "", Err.BADARGUMENTS),
        ("trailing slash", p() + "/", Err.BADARGUMENTS),
        ("double slash (parent lookup first)", p() + "//x", Err.NONODE),
        ("dot component", p(".") , Err.BADARGUMENTS),
        ("dotdot component", p(".."), Err.BADARGUMENTS),
        ("dot in name is fine", p("a.b"), 0),
        ("control char", p("a\u0001"), Err.BADARGUMENTS),
        ("DEL char", p("a\u007f"), Err.BADARGUMENTS),
        ("private-use char", p("a\ue000"), Err.BADARGUMENTS),
        ("unicode ok", p("\u00e9t\u00e9"), 0),
        ("root", "/", Err.NODEEXISTS),
    ):
        t.expect(f"create {label}", c.create(path), err=err)
    t.expect("create NUL", c.create(p("a\u0000b")), err=Err.BADARGUMENTS)
    # Reads do not validate paths: they just miss in the tree (NONODE). The empty path
    # names the root, which the tree also stores under "".
    for label, path in (("relative", "relative"), ("trailing slash", p() + "/"), ("dotdot", p(".."))):
        t.expect(f"getData {label}", c.get_data(path), err=Err.NONODE)
        t.expect(f"exists {label}", c.exists(path), err=Err.NONODE)
        t.expect(f"getChildren {label}", c.get_children(path), err=Err.NONODE)
        t.expect(f"setData {label}", c.set_data(path, b""), err=Err.BADARGUMENTS)
    t.expect("getData empty path = root", c.get_data("").err, 0)
    t.expect("exists empty path = root", c.exists("").value.czxid, 0)
    t.expect("getChildren empty path = root", "zookeeper" in c.get_children("").value, True)
    t.expect("setData empty path", c.set_data("", b""), err=Err.BADARGUMENTS)
    # delete only checks for a '/' and special paths, then looks the nodes up.
    t.expect("delete relative", c.delete("relative"), err=Err.BADARGUMENTS)
    t.expect("delete empty", c.delete(""), err=Err.BADARGUMENTS)
    t.expect("delete trailing slash", c.delete(p() + "/"), err=Err.NONODE)
    t.expect("delete dotdot", c.delete(p("..")), err=Err.NONODE)
    t.expect("sequential trailing slash", c.create(p() + "/", flags=Flags.PERSISTENT_SEQUENTIAL), err=0,
             value="<root>/0000000002")
    for flags in (7, 8, 100, -1):
        t.expect(f"create flags {flags}", c.create(p(f"f{flags}"), flags=flags), err=Err.BADARGUMENTS)
    t.expect("create flags TTL via create", c.create(p("ttl"), flags=Flags.PERSISTENT_WITH_TTL), err=Err.BADARGUMENTS)
    t.expect("empty ACL", c.create(p("noacl"), acl=[]), err=Err.INVALIDACL)
    t.expect("empty ACL beats NONODE", c.create(p("nope/x"), acl=[]), err=Err.INVALIDACL)
    t.expect("auth ACL without auth", c.create(p("authacl"), acl=[ACL(Perm.ALL, "auth", "")]), err=Err.INVALIDACL)
    t.expect("unknown scheme ACL", c.create(p("badscheme"), acl=[ACL(Perm.ALL, "nosuch", "x")]),
             err=Err.INVALIDACL)
    t.expect("malformed ip ACL", c.create(p("badip"), acl=[ACL(Perm.ALL, "ip", "300.1.1.1")]), err=Err.INVALIDACL)
    t.expect("digest ACL without colon", c.create(p("baddigest"), acl=[ACL(Perm.ALL, "digest", "nocolon")]),
             err=Err.INVALIDACL)
    t.expect("world ACL with other id", c.create(p("worldx"), acl=[ACL(Perm.ALL, "world", "someone")]),
             err=Err.INVALIDACL)
    t.expect("children", c.get_children(p()), value=["0000000002", "a.b", "\u00e9t\u00e9"])


def test_bad_paths_and_flags(diff):
    diff(scenario_bad_paths_and_flags)


def scenario_reserved_nodes(env):
    """/zookeeper, /zookeeper/config, /zookeeper/quota: readable, protected from delete,
    /zookeeper/config is world:READ only."""
    t, c = env.t, env.connect()
    t.expect("children of /zookeeper", c.get_children("/zookeeper"), err=0, value=["config", "quota"])
    t.expect("/zookeeper/config data", c.get_data("/zookeeper/config"), err=0,
             value=(b"", stat(0, 0, 0, aversion=-1, times=0)))
    t.expect("/zookeeper/config acl", c.get_acl("/zookeeper/config"), err=0,
             value=([(Perm.READ, "world", "anyone")], stat(0, 0, 0, aversion=-1, times=0)))
    # Its children (and so cversion, numChildren, pzxid) are the quota tests' on the same
    # server (zkCli setquota in test_client_cli, which runs on zk and ferro, not zk39): left out.
    q = c.exists("/zookeeper/quota")
    t.expect("/zookeeper/quota stat", (q.err, {k: v for k, v in t.norm(q.value).items()
                                              if k not in ("cversion", "numChildren", "pzxid")}),
             (0, {"czxid": 0, "mzxid": 0, "ctime": 0, "mtime": 0, "version": 0, "aversion": 0,
                  "ephemeralOwner": 0, "dataLength": 0}))
    t.expect("setData /zookeeper/config", c.set_data("/zookeeper/config", b"x"), err=Err.NOAUTH)
    t.expect("delete /zookeeper/config", c.delete("/zookeeper/config"), err=Err.BADARGUMENTS)
    t.expect("delete /zookeeper/quota", c.delete("/zookeeper/quota"), err=Err.BADARGUMENTS)
    t.expect("delete /zookeeper", c.delete("/zookeeper"), err=Err.BADARGUMENTS)
    t.expect("delete /", c.delete("/"), err=Err.BADARGUMENTS)
    t.expect("create /zookeeper", c.create("/zookeeper"), err=Err.NODEEXISTS)
    t.expect("root acl", c.get_acl("/").value[0], [(Perm.ALL, "world", "anyone")])


def test_reserved_nodes(diff):
    diff(scenario_reserved_nodes)


def scenario_misc_opcodes(env):
    """sync, ping, whoAmI, reconfig (disabled), sasl without SASL, getAllChildrenNumber."""
    t, c, p = env.t, env.connect(), env.p
    c.create(p())
    c.create(p("a"))
    c.create(p("a/b"))
    c.create(p("a/b/c"))
    t.expect("sync existing", c.sync(p()), err=0, value="<root>")
    t.expect("sync missing path is fine", c.sync(p("nope")), err=0, value="<root>/nope")
    ping = c.ping()
    t.expect("ping", (ping.xid, ping.err, ping.body), (-2, 0, b""))
    t.expect("getAllChildrenNumber", c.get_all_children_number(p()), err=0, value=3)
    t.expect("getAllChildrenNumber leaf", c.get_all_children_number(p("a/b/c")), err=0, value=0)
    t.expect("whoAmI", c.who_am_i(), err=0, value=[("ip", "127.0.0.1")])
    t.expect("reconfig disabled", c.reconfig(None, None, "server.1=127.0.0.1:2888:3888", -1),
             err=Err.RECONFIGDISABLED)
    sasl = c.sasl(b"token")
    # SetSASLResponse with a null token.
    t.expect("sasl without provider", (sasl.err, sasl.body), (0, b"\xff\xff\xff\xff"))
    t.expect("still connected", c.exists(p()).err, 0)


def test_misc_opcodes(diff):
    diff(scenario_misc_opcodes)


def scenario_unknown_opcode(env):
    """Unknown opcodes get UNIMPLEMENTED with zxid -1, then the connection is closed;
    the session survives and can be re-attached."""
    t, p = env.t, env.p
    for op in (0, 10, 50, 999, -3):
        c = env.connect()
        r = c.call(op, enc_path("/"))
        t.expect(f"opcode {op} reply", (r.xid, r.zxid, r.err, r.body), (1, -1, Err.UNIMPLEMENTED, b""))
        t.expect(f"opcode {op} closes", c.wait_closed(5), True)
    c = env.connect()
    c.create(p(), b"keep", flags=Flags.EPHEMERAL)
    c.call(999)
    c.wait_closed(5)
    c2 = env.server.raw(session_id=c.session_id, passwd=c.passwd)
    env.clients.append(c2)
    t.expect("re-attach keeps session", c2.connect_response.sessionId == c.session_id, True)
    t.expect("ephemeral still there", c2.get_data(p()).value[0], b"keep")


def test_unknown_opcode(diff):
    diff(scenario_unknown_opcode)
