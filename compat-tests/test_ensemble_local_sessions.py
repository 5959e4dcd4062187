"""Local sessions (`localSessionsEnabled`, `localSessionsUpgradingEnabled`) on every
member of Java, ferrokeeper and mixed ensembles, compared step by step with what Java
3.8 and 3.9.5 members do (the Java-only cases check the expectations themselves).

On each member in turn (observers too), one raw client: its new session carries the member's id and
consumes no zxid; a persistent create takes one zxid; an ephemeral create either fails
with EPHEMERALONLOCALSESSION (-120) after consuming one zxid (an error txn) and leaves no
node, or, with upgrading on, succeeds after two zxids (createSession + create); mntr's
local_sessions counts the session while it is local; re-attaching on another member
fails (sessionId 0) for a local session and works for an upgraded one; re-attaching on
its own member works; a local close consumes no zxid, a global one does.
"""

import pytest

import conftest
import zkraw
from ensemble import ensemble_factory  # noqa: F401 (the fixture)
from test_ensemble_mixed import unique_root

pytestmark = [pytest.mark.xdist_group("ensemble-local"),
              pytest.mark.skipif(not conftest.kinds_selected("zk", "zk39", "ferro"),
                                 reason="compares Java and ferrokeeper (COMPAT_SERVERS)")]

EPHEMERAL = 1


def mntr(m):
    return zkraw.mntr("127.0.0.1", m.client_port, timeout=3.0)


def exists(c, path):
    r = c.call(zkraw.Op.EXISTS, zkraw.enc_path_watch(path))
    return r.err == 0, r.zxid


def last_zxid(c):
    """The ensemble's last zxid as the member says it after a sync (a follower may lag
    behind the quorum by a few txns otherwise: a slow fsync on a Java follower)."""
    assert c.call(zkraw.Op.SYNC, zkraw.enc_path("/")).err == 0
    return exists(c, "/")[1]


def on_member(ens, m, root):
    """The scenario on member `m`; returns what it saw, step by step."""
    seen = []
    c = zkraw.ZkRaw("127.0.0.1", m.client_port)
    c.handshake(timeout_ms=10000)
    session, passwd = c.session_id, c.passwd
    seen.append(("session carries the member id", session >> 56 == m.sid))
    z0 = last_zxid(c)
    p = c.call(zkraw.Op.CREATE, zkraw.enc_create(f"{root}/p{m.sid}", b"x"))
    seen.append(("persistent create: err, zxids taken", p.err, p.zxid - z0))
    e = c.call(zkraw.Op.CREATE, zkraw.enc_create(f"{root}/e{m.sid}", b"x", flags=EPHEMERAL))
    seen.append(("ephemeral create: err, zxids taken", e.err, e.zxid - p.zxid))
    seen.append(("ephemeral exists", exists(c, f"{root}/e{m.sid}")[0]))
    seen.append(("mntr local_sessions", mntr(m).get("zk_local_sessions")))
    c.drop()
    other = next(o for o in ens.members if o is not m)
    moved = zkraw.ZkRaw("127.0.0.1", other.client_port)
    moved.handshake(timeout_ms=10000, session_id=session, passwd=passwd)
    seen.append(("re-attach on another member keeps the session", moved.session_id == session))
    if moved.session_id != session:
        moved.drop()
        moved = zkraw.ZkRaw("127.0.0.1", m.client_port)
        moved.handshake(timeout_ms=10000, session_id=session, passwd=passwd)
        seen.append(("re-attach on its own member", moved.session_id == session))
    before = last_zxid(moved)
    closed = moved.call(zkraw.Op.CLOSE_SESSION)
    seen.append(("close: err, zxids taken", closed.err, closed.zxid - before))
    moved.drop()
    return seen


def expected(upgrading):
    if upgrading:
        return [("session carries the member id", True),
                ("persistent create: err, zxids taken", 0, 1),
                ("ephemeral create: err, zxids taken", 0, 2),
                ("ephemeral exists", True),
                ("mntr local_sessions", "0"),
                ("re-attach on another member keeps the session", True),
                ("close: err, zxids taken", 0, 1)]
    return [("session carries the member id", True),
            ("persistent create: err, zxids taken", 0, 1),
            ("ephemeral create: err, zxids taken", zkraw.Err.EPHEMERALONLOCALSESSION, 1),
            ("ephemeral exists", False),
            ("mntr local_sessions", "1"),
            ("re-attach on another member keeps the session", False),
            ("re-attach on its own member", True),
            ("close: err, zxids taken", 0, 0)]


# (voters, observers): the highest id usually leads (zk-zk-ferro: a ferrokeeper leader).
CASES = [
    (("zk", "zk", "zk"), ("zk",)),
    (("zk39", "zk39", "zk39"), ()),
    (("ferro", "ferro", "ferro"), ("ferro",)),
    (("zk", "zk", "ferro"), ("zk",)),
    (("ferro", "ferro", "zk"), ("ferro",)),
    (("zk39", "ferro", "zk39"), ()),
]


def case_id(case):
    voters, observers = case
    return "-".join(voters) + "".join(f"+{o}-observer" for o in observers)


@pytest.mark.parametrize("upgrading", [False, True], ids=["local", "upgrading"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_local_sessions_on_every_member(ensemble_factory, case, upgrading):
    kinds, observers = case
    extra = {"localSessionsEnabled": "true",
             "localSessionsUpgradingEnabled": "true" if upgrading else "false"}
    ens = ensemble_factory(list(kinds), observers=list(observers), extra_cfg=extra)
    leader = ens.leader()
    root = unique_root("local")
    setup = zkraw.ZkRaw("127.0.0.1", leader.client_port)
    setup.handshake(timeout_ms=10000)
    assert setup.call(zkraw.Op.CREATE, zkraw.enc_create(root, b"")).err == 0
    assert setup.call(zkraw.Op.CLOSE_SESSION).err == 0  # not counted in mntr below
    setup.drop()
    for m in ens.members:
        role = "leader" if m is leader else "observer" if m.observer else "follower"
        got = on_member(ens, m, root)
        assert got == expected(upgrading), f"member {m} ({role}) of {case_id(case)}"
