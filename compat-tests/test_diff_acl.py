"""Differential tests of ACLs and authentication.

Covers: world, auth, digest and ip schemes; which permission each opcode needs
(READ/WRITE/CREATE/DELETE/ADMIN), NOAUTH per op, getACL/setACL with aversion and
BADVERSION, INVALIDACL, the `auth` pseudo-scheme expanding to the caller's ids,
super digest (DigestAuthenticationProvider.superDigest), whoAmI after addauth, and
failed auth (unknown scheme) replying AUTHFAILED then closing the connection, and
schemes without a registered provider (sasl/x509 without authProvider.N, digest
switched off): INVALIDACL, AUTHFAILED.
"""

import base64
import hashlib

import pytest

import conftest

from zkraw import ACL, CREATOR_ALL_ACL, Err, Flags, OPEN_ACL_UNSAFE, Perm
from conftest import SUPER_PASSWORD


def digest_id(user_password):
    user = user_password.split(":", 1)[0]
    return user + ":" + base64.b64encode(hashlib.sha1(user_password.encode()).digest()).decode()


ALICE = "alice:secret"
BOB = "bob:hunter2"


def scenario_digest_and_auth(env):
    """digest ACLs via explicit ids and via the auth: pseudo-id; who can do what."""
    t, p = env.t, env.p
    alice, bob, anon = env.connect(), env.connect(), env.connect()
    t.expect("alice addauth", alice.auth("digest", ALICE.encode()), err=0)
    t.expect("bob addauth", bob.auth("digest", BOB.encode()), err=0)
    auth_reply = alice.auth("digest", ALICE.encode())
    t.expect("auth reply header", (auth_reply.xid, auth_reply.zxid, auth_reply.err), (-4, 0, 0))
    # whoAmI lists the connection's auth ids as a set (Java HashSet order, so compare sorted).
    t.expect("whoAmI alice", sorted(alice.who_am_i().value), [("digest", "alice"), ("ip", "127.0.0.1")])
    alice.create(p())
    t.expect("create with auth ACL", alice.create(p("mine"), b"x", acl=CREATOR_ALL_ACL), err=0)
    t.expect("auth ACL expanded", alice.get_acl(p("mine")).value[0], [(Perm.ALL, "digest", digest_id(ALICE))])
    t.expect("create with digest ACL", alice.create(p("d"), b"y", acl=[ACL(Perm.ALL, "digest", digest_id(BOB))]),
             err=0)
    for who, c, expected in (("anon", anon, Err.NOAUTH), ("bob", bob, Err.NOAUTH), ("alice", alice, 0)):
        t.expect(f"{who} getData mine", c.get_data(p("mine")), err=expected)
        t.expect(f"{who} setData mine", c.set_data(p("mine"), b"z"), err=expected)
        t.expect(f"{who} getChildren mine", c.get_children(p("mine")), err=expected)
        t.expect(f"{who} getChildren2 mine", c.get_children2(p("mine")), err=expected)
        t.expect(f"{who} create under mine", c.create(p(f"mine/{who}")), err=expected)
        t.expect(f"{who} getAllChildrenNumber mine", c.get_all_children_number(p("mine")), err=expected)
        t.since39(f"{who} exists mine", c.exists(p("mine")), zk38=0, value=expected,
                  why="3.8.4+/3.9 check READ on exists; 3.8.0 did not")
    t.expect("anon getACL mine", anon.get_acl(p("mine")), err=Err.NOAUTH)
    t.expect("bob getData d", bob.get_data(p("d")).value[0], b"y")
    t.expect("alice getData d", alice.get_data(p("d")), err=Err.NOAUTH)
    t.expect("auth with two ids", bob.auth("digest", ALICE.encode()), err=0)
    t.expect("whoAmI bob+alice", sorted(bob.who_am_i().value), sorted([("ip", "127.0.0.1"), ("digest", "bob"),
                                                                       ("digest", "alice")]))
    t.expect("auth ACL with two ids", bob.create(p("both"), acl=CREATOR_ALL_ACL), err=0)
    t.expect("both ids in ACL", sorted(bob.get_acl(p("both")).value[0]),
             sorted([(Perm.ALL, "digest", digest_id(BOB)), (Perm.ALL, "digest", digest_id(ALICE))]))
    t.expect("digest auth bytes are not validated", anon.auth("digest", b"nocolon"), err=0)
    t.expect("whoAmI nocolon", sorted(anon.who_am_i().value), [("digest", "nocolon"), ("ip", "127.0.0.1")])
    t.expect("repeated addauth adds no duplicate", anon.auth("digest", b"nocolon"), err=0)
    t.expect("addauth ip adds nothing new", anon.auth("ip", b"10.9.8.7"), err=0)
    t.expect("whoAmI after repeats", sorted(anon.who_am_i().value), [("digest", "nocolon"), ("ip", "127.0.0.1")])


def test_digest_and_auth(diff):
    diff(scenario_digest_and_auth)


def scenario_permission_bits(env):
    """Each permission bit on its own: which ops it allows."""
    t, p = env.t, env.p
    owner, other = env.connect(), env.connect()
    owner.auth("digest", ALICE.encode())
    owner.create(p())
    me = ACL(Perm.ALL, "digest", digest_id(ALICE))
    for name, perm in (("read", Perm.READ), ("write", Perm.WRITE), ("create", Perm.CREATE),
                       ("delete", Perm.DELETE), ("admin", Perm.ADMIN)):
        node = p(name)
        owner.create(node, b"v", acl=[me, ACL(perm, "world", "anyone")])
        owner.create(node + "/victim", b"", acl=OPEN_ACL_UNSAFE)
        t.expect(f"{name}: getData", other.get_data(node).err)
        t.expect(f"{name}: getChildren", other.get_children(node).err)
        t.expect(f"{name}: getACL", other.get_acl(node).err)
        t.expect(f"{name}: setData", other.set_data(node, b"w").err)
        t.expect(f"{name}: create child", other.create(node + "/new").err)
        t.expect(f"{name}: delete child", other.delete(node + "/victim").err)
        t.expect(f"{name}: setACL", other.set_acl(node, [me, ACL(perm, "world", "anyone")]).err)
    results = {label: v for label, v in t.entries}
    t.expect("summary", [results[f"{n}: {op}"] for n in ("read", "write", "create", "delete", "admin")
                         for op in ("getData", "getACL", "setData", "create child", "delete child", "setACL")],
             [0, 0, -102, -102, -102, -102,        # read: getData, getACL allowed
              -102, -102, 0, -102, -102, -102,      # write: setData
              -102, -102, -102, 0, -102, -102,      # create: create child
              -102, -102, -102, -102, 0, -102,      # delete: delete child
              -102, 0, -102, -102, -102, 0])        # admin: getACL + setACL


def test_permission_bits(diff):
    diff(scenario_permission_bits)


def scenario_ip_scheme(env):
    """ip ACLs match the client address (127.0.0.1), with and without a mask."""
    t, c, p = env.t, env.connect(), env.p
    c.create(p())
    for label, ident, expected in (("exact", "127.0.0.1", 0), ("mask 8", "127.0.0.0/8", 0),
                                   ("mask 32", "127.0.0.1/32", 0), ("other host", "127.0.0.2", Err.NOAUTH),
                                   ("other net", "10.0.0.0/8", Err.NOAUTH), ("mask 0", "10.1.2.3/0", 0)):
        node = p(label.replace(" ", "_"))
        t.expect(f"create ip {label}", c.create(node, b"d", acl=[ACL(Perm.ALL, "ip", ident)]), err=0)
        t.expect(f"getData ip {label}", c.get_data(node), err=expected)
        t.expect(f"getACL ip {label}", c.get_acl(node).err, expected)
    t.expect("whoAmI lists ip", c.who_am_i().value, [("ip", "127.0.0.1")])
    t.expect("addauth ip ignored id", c.auth("ip", b"10.0.0.1"), err=0)
    t.expect("ip after addauth ip", c.get_data(p("other_net")).err, Err.NOAUTH)


def test_ip_scheme(diff):
    diff(scenario_ip_scheme)


def scenario_set_acl_versions(env):
    """setACL: aversion increments, BADVERSION on mismatch, INVALIDACL for bad lists,
    getACL returns the stored list and the Stat."""
    t, c, p = env.t, env.connect(), env.p
    c.create(p())
    c.create(p("n"))
    t.expect("getACL default", c.get_acl(p("n")).value[0], [(Perm.ALL, "world", "anyone")])
    t.expect("setACL wrong version", c.set_acl(p("n"), OPEN_ACL_UNSAFE, 5), err=Err.BADVERSION)
    r = c.set_acl(p("n"), [ACL(Perm.READ | Perm.WRITE, "world", "anyone")], 0)
    t.expect("setACL v0", r, err=0)
    t.expect("aversion after setACL", r.value.aversion, 1)
    t.expect("ACL check precedes version check", c.set_acl(p("n"), OPEN_ACL_UNSAFE, 0), err=Err.NOAUTH)
    t.expect("setACL empty", c.set_acl(p("n"), [], -1), err=Err.INVALIDACL)
    t.expect("setACL auth without auth", c.set_acl(p("n"), CREATOR_ALL_ACL, -1), err=Err.INVALIDACL)
    t.expect("setACL needs ADMIN (lost it)", c.set_acl(p("n"), OPEN_ACL_UNSAFE, 1), err=Err.NOAUTH)
    t.expect("getData with READ", c.get_data(p("n")), err=0)
    t.expect("setACL unknown scheme", c.set_acl(p(), [ACL(Perm.ALL, "bogus", "x")], -1), err=Err.INVALIDACL)
    t.expect("setACL does not touch version/mzxid", c.exists(p("n")), err=0)
    t.expect("getACL", c.get_acl(p("n")), err=0)
    t.expect("duplicate ACL entries", c.create(p("dup"), acl=OPEN_ACL_UNSAFE * 2), err=0)
    t.expect("duplicates kept or removed", c.get_acl(p("dup")).value[0])
    t.expect("perms 0", c.create(p("zero"), acl=[ACL(0, "world", "anyone")]), err=0)
    t.expect("perms 0 read", c.get_data(p("zero")), err=Err.NOAUTH)
    t.expect("perms out of range", c.create(p("big"), acl=[ACL(0xff, "world", "anyone")]), err=0)
    t.expect("perms out of range stored", c.get_acl(p("big")).value[0])


def test_set_acl_versions(diff):
    diff(scenario_set_acl_versions)


def scenario_super_digest(env):
    """The super digest from zoo.cfg bypasses every ACL."""
    t, p = env.t, env.p
    owner, root_user = env.connect(), env.connect()
    owner.auth("digest", ALICE.encode())
    owner.create(p(), acl=[ACL(Perm.ALL, "digest", digest_id(ALICE))])
    owner.create(p("x"), b"secret", acl=[ACL(Perm.ALL, "digest", digest_id(ALICE))])
    t.expect("before super", root_user.get_data(p("x")), err=Err.NOAUTH)
    t.expect("addauth super", root_user.auth("digest", SUPER_PASSWORD.encode()), err=0)
    t.expect("whoAmI super", sorted(root_user.who_am_i().value),
             sorted([("ip", "127.0.0.1"), ("digest", "super"), ("super", "")]))
    t.expect("super getData", root_user.get_data(p("x")).value[0], b"secret")
    t.expect("super setData", root_user.set_data(p("x"), b"mine"), err=0)
    t.expect("super setACL", root_user.set_acl(p("x"), OPEN_ACL_UNSAFE), err=0)
    t.expect("super delete", root_user.delete(p("x")), err=0)
    t.expect("super setData /zookeeper/config", root_user.set_data("/zookeeper/config", b"x", 99),
             err=Err.BADVERSION)


def test_super_digest(diff):
    diff(scenario_super_digest)


def scenario_auth_failure(env):
    """Unknown auth scheme: AUTHFAILED (-115) with xid -4, then the server closes the
    connection. A failed auth does not affect other sessions."""
    t, p = env.t, env.p
    c = env.connect()
    c.create(p(), flags=Flags.EPHEMERAL)
    r = c.auth("nosuchscheme", b"whatever")
    t.expect("unknown scheme", (r.xid, r.zxid, r.err), (-4, 0, Err.AUTHFAILED))
    t.expect("connection closed", c.wait_closed(5), True)
    c2 = env.connect()
    r = c2.auth("super", b"x")
    t.expect("super scheme directly", (r.xid, r.err), (-4, Err.AUTHFAILED))
    t.expect("super scheme closes", c2.wait_closed(5), True)
    c3 = env.connect()
    r = c3.auth("ip", b"x")
    t.expect("ip scheme addauth", r.err, 0)
    r = c3.auth("world", b"anyone")
    t.expect("world scheme addauth", r.err, Err.AUTHFAILED)
    c4 = env.connect()
    t.expect("ephemeral survives other connections' auth failures",
             c4.get_data(p()).err, 0)


def test_auth_failure(diff):
    diff(scenario_auth_failure)


SASL_PROVIDER = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"


def scenario_schemes_need_a_provider(env):
    """Java's ProviderRegistry has ip and digest unless zoo.cfg names more
    (authProvider.N): an ACL of a scheme without a provider is INVALIDACL, on create and
    on setACL. With the sasl provider registered (the second run), a sasl ACL is valid."""
    t, p = env.t, env.p
    c = env.connect()
    c.create(p())
    t.expect("sasl ACL", c.create(p("s"), acl=[ACL(Perm.ALL, "sasl", "bob")]),
             err=0 if env.sasl_provider else Err.INVALIDACL)
    t.expect("x509 ACL without a provider", c.create(p("x"), acl=[ACL(Perm.ALL, "x509", "CN=client")]),
             err=Err.INVALIDACL)
    c.create(p("n"))
    t.expect("setACL sasl", c.set_acl(p("n"), [ACL(Perm.ALL, "sasl", "bob")]),
             err=0 if env.sasl_provider else Err.INVALIDACL)
    t.expect("digest still valid", c.create(p("d"), acl=[ACL(Perm.ALL, "digest", digest_id(ALICE))]), err=0)
    # With a provider, a sasl id must parse as a Kerberos name (KerberosName).
    t.expect("sasl principal", c.create(p("k1"), acl=[ACL(Perm.ALL, "sasl", "zk/host@EXAMPLE.COM")]),
             err=0 if env.sasl_provider else Err.INVALIDACL)
    t.expect("sasl two realms", c.create(p("k2"), acl=[ACL(Perm.ALL, "sasl", "a@b@c")]), err=Err.INVALIDACL)
    t.expect("sasl two slashes", c.create(p("k3"), acl=[ACL(Perm.ALL, "sasl", "a/b/c@R")]), err=Err.INVALIDACL)


@pytest.mark.parametrize("sasl_provider", [False, True], ids=["default_registry", "sasl_registered"])
def test_schemes_need_a_provider(server_factory, server_pool, sasl_provider):
    cfg = {"authProvider.1": SASL_PROVIDER} if sasl_provider else {}
    srv = server_factory(**cfg)

    def scenario(env):
        env.sasl_provider = sasl_provider
        scenario_schemes_need_a_provider(env)

    scenario.__name__ = scenario.__qualname__ = f"schemes_need_a_provider_{sasl_provider}"
    scenario.__module__ = __name__
    t = conftest.run_scenario(scenario, srv, scenario.__name__)
    conftest.compare_with_references(t, scenario, server_pool, scenario.__name__, **cfg)
    assert not t.failures, t.failures


def scenario_digest_disabled(env):
    """zookeeper.DigestAuthenticationProvider.enabled=false: no digest provider, so
    addauth digest is AUTHFAILED (and closes) and digest ACLs are INVALIDACL."""
    t, p = env.t, env.p
    c = env.connect()
    c.create(p())
    t.expect("digest ACL", c.create(p("d"), acl=[ACL(Perm.ALL, "digest", digest_id(ALICE))]), err=Err.INVALIDACL)
    t.expect("ip ACL", c.create(p("i"), acl=[ACL(Perm.ALL, "ip", "127.0.0.1")]), err=0)
    r = c.auth("digest", ALICE.encode())
    t.expect("addauth digest", (r.xid, r.err), (-4, Err.AUTHFAILED))
    t.expect("closed", c.wait_closed(5), True)


def test_digest_disabled(server_factory, server_pool):
    cfg = {"DigestAuthenticationProvider.enabled": "false"}
    srv = server_factory(**cfg)
    t = conftest.run_scenario(scenario_digest_disabled, srv, "digest_disabled")
    conftest.compare_with_references(t, scenario_digest_disabled, server_pool, "digest_disabled", **cfg)
    assert not t.failures, t.failures
