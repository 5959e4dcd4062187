"""Mixed ensembles with Apache ZooKeeper 3.9.5 members (kind "zk39": the Maven Central jars
scripts/install-deps.sh fetches into target/zk-3.9.5/lib) and ferrokeeper members, the
scenarios test_ensemble_mixed.py runs against Debian's 3.8, on fewer ensembles (each
test does several things; its helpers are imported from there):

  - replication, each direction, 2+1 and 1+2 mixes, each with an observer of the other
    kind than the leader: a 3.9.5 leader with one or two ferro followers, a ferro leader
    with one or two 3.9.5 followers. Writes through every member read back on every
    member; a session moves across members of both kinds; the trees compared member by
    member (data and Stat). In one composition per direction the follower of the other
    kind is then killed and synced back by DIFF (7 txns behind) and by SNAP (600 txns + a
    ~1 MB node behind, snapCount=100): DIFF and SNAP from a 3.9.5 leader to ferrokeeper
    and from ferrokeeper to 3.9.5;
  - TRUNC, each direction: the leader is cut off (blackhole), a create is logged on it
    only, the others elect a leader of the other kind, the old leader is killed, healed,
    restarted and truncated by the new one (3.9.5 -> ferro old leader, ferro -> 3.9.5);
    then the same once more the other way round in the same ensemble, with a commit in
    the new epoch first: a SNAP instead (3.9.5 -> ferro, ferro -> 3.9.5);
  - kill -9 of a 3.9.5 leader (ferrokeeper takes over), then of that ferrokeeper leader
    (a 3.9.5 member takes over; more kills, at most 5 in all, if an election goes the
    other way), under the lin_history recorder: linearizable, trees identical.

How a learner was synced is read from the 3.9.5 side's log (sync_mode_seen_by, ensemble.py:
3.9.5 logs the same lines as 3.8) and asserted exactly.
"""

import pytest

import conftest
import lin_history
import zkraw
from ensemble import ensemble_factory  # noqa: F401  (a fixture)
from ensemble import kill9_leader_under_load
from test_ensemble_mixed import (assert_trees_identical, diff_then_snap, diverge_leader, kazoo, rejoin,
                                 session_moves, start_led_by, unique_root, writes_everywhere)

pytestmark = [pytest.mark.xdist_group("ensemble"),
              pytest.mark.skipif(not conftest.kinds_selected("zk39", "ferro"),
                                 reason="mixed ensembles need both the Java side and ferrokeeper (COMPAT_SERVERS)")]


def start_led_by_39(ens, sid):
    """start_led_by, then check that the zk39 members are 3.9.5 (srvr's version line), so a
    harness mistake cannot quietly run another ZooKeeper."""
    leader = start_led_by(ens, sid)
    for m in ens.members:
        if m.kind == "zk39":
            text = m.srvr() or ""
            assert text.startswith("Zookeeper version: 3.9.5-"), f"{m!r} is not ZooKeeper 3.9.5: {text[:80]!r}"
    return leader


# --- replication, DIFF and SNAP in each direction ---------------------------------------------

# (voters, observer kind, DIFF and SNAP of follower 1 too, what it shows)
REPLICATION = [
    (("ferro", "zk39", "zk39"), "ferro", True, "3.9.5 leader 3; ferro follower 1 + ferro observer 4"),
    (("zk39", "ferro", "ferro"), "zk39", True, "ferro leader 3; 3.9.5 follower 1 + 3.9.5 observer 4"),
    (("ferro", "ferro", "zk39"), "ferro", False, "3.9.5 leader 3; ferro followers 1, 2 + ferro observer 4"),
    (("zk39", "zk39", "ferro"), "zk39", False, "ferro leader 3; 3.9.5 followers 1, 2 + 3.9.5 observer 4"),
]


@pytest.mark.parametrize("voters,observer,syncs,what", REPLICATION,
                         ids=["-".join(v) + "+obs-" + o for v, o, _, _ in REPLICATION])
def test_replication_diff_snap(ensemble_factory, voters, observer, syncs, what):
    """Writes and a moving session on every member, trees identical; with `syncs` (one
    composition per direction: the DIFF/SNAP cases need not run on all four) follower 1,
    of the other kind than the leader, is synced back by DIFF and by SNAP."""
    ens = ensemble_factory(list(voters), observers=[observer], tick_ms=500, start=False,
                           extra_cfg={"snapCount": 100})
    leader = start_led_by_39(ens, 3)
    assert leader.kind == voters[2]
    one, two, _, obs = ens.members
    root = unique_root("j39")

    # writes through every member, read back on every member after sync()
    writes_everywhere(ens, leader, root)

    # a multi's create2 sub-op on every member: a 3.9.5 leader logs it as a create2
    # sub-txn (ferrokeeper learners apply it), ferrokeeper logs a create; ferrokeeper
    # answers create2 with its Stat either way, a 3.9.5 member answers from the txn
    for m in ens.members:
        r = zkraw.ZkRaw("127.0.0.1", m.client_port)
        r.handshake(timeout_ms=10000)
        res = r.multi([(zkraw.Op.CREATE2, zkraw.enc_create(f"{root}/c2-{m.sid}", b"c2"))])
        r.close()
        assert res.err == 0, (m, res)
        want = "create2" if m.kind == "ferro" or leader.kind == "zk39" else "create"
        assert [x[0] for x in res.value] == [want], (m, leader, res)

    # a session moving across members of both kinds (follower, leader, follower, observer)
    session_moves(ens, [one, leader, two, obs, one], root)
    got = assert_trees_identical(ens)
    if not syncs:
        print(f"{what}: {len(next(iter(got.values())))} nodes identical on {len(got)} members")
        return

    # DIFF, then SNAP, of follower 1 (the other kind than the leader)
    assert one.kind != leader.kind
    diff_mode, snap_mode = diff_then_snap(ens, leader, one, root, read_huge=True)

    got = assert_trees_identical(ens)
    print(f"{what}: DIFF sync seen as {diff_mode}, SNAP sync seen as {snap_mode}; "
          f"{len(next(iter(got.values())))} nodes identical on {len(got)} members")
    assert (diff_mode, snap_mode) == ("DIFF", "SNAP"), \
        f"{what}: 7 behind synced by {diff_mode} (want DIFF), 600 behind by {snap_mode} (want SNAP)"


# --- TRUNC (and the cross-epoch SNAP) in each direction ---------------------------------------
# (diverge_leader and rejoin: test_ensemble_mixed.py)

TRUNC = [
    (("zk39", "ferro", "zk39"), "3.9.5 leader 3 truncated by ferro leader 2; ferro 2 SNAPped by 3.9.5 leader 3"),
    (("ferro", "zk39", "ferro"), "ferro leader 3 truncated by 3.9.5 leader 2; 3.9.5 2 SNAPped by ferro leader 3"),
]


@pytest.mark.parametrize("voters,what", TRUNC, ids=["-".join(v) for v, _ in TRUNC])
def test_trunc_and_cross_epoch_snap_of_old_leader(ensemble_factory, voters, what):
    """test_ensemble_mixed's TRUNC (capture S09) with 3.9.5 on one end, twice in one
    ensemble. Round 1, same epoch: leader 3 logs a create only it sees, 2 (the other
    kind) is elected and commits nothing before 3 rejoins: 3 is truncated. Round 2, cross
    epoch: now 2 (leading) logs a create only it sees, 3 (the first kind) is elected and
    commits a txn of its new epoch before 2 rejoins: a TRUNC would cross an epoch, so 2 is
    sent a SNAP (S09b). Either way the never-committed txn is gone for good."""
    # a long session timeout: no session may expire in round 1 (a closeSession in the new
    # epoch would turn the TRUNC into a SNAP)
    ens = ensemble_factory(list(voters), tick_ms=500, extra_cfg={"maxSessionTimeout": 60000}, start=False)
    three = start_led_by_39(ens, 3)
    two = ens.member(2)
    root = unique_root("trunc39")
    with kazoo(ens.connect_string()) as c:
        c.create(root, b"r")
        for i in range(3):
            c.create(f"{root}/c{i}", b"committed")
    children = ["c0", "c1", "c2"]

    new, lost1 = diverge_leader(ens, three, root, "lost1", new_sid=2)
    assert new is two and two.kind == voters[1]
    mode1 = rejoin(ens, three, two, root, "lost1", children)
    children.append("after-lost1")

    new, lost2 = diverge_leader(ens, two, root, "lost2", new_sid=3)
    assert new is three
    with kazoo(three.hostport) as c:
        c.create(f"{root}/new-epoch", b"n")
    children.append("new-epoch")
    mode2 = rejoin(ens, two, three, root, "lost2", children)

    print(f"{what}: lost 0x{lost1:x} -> {mode1}, lost 0x{lost2:x} -> {mode2}")
    assert (mode1, mode2) == ("TRUNC", "SNAP"), \
        f"{what}: expected TRUNC (same epoch) then SNAP (cross epoch), the 3.9.5 side logged {mode1}, {mode2}"


# --- kill -9 of the leader, each kind in turn, under load ---------------------------------------

def test_kill9_leaders_under_load(ensemble_factory, tmp_path):
    """The leader is killed -9 and restarted (as a follower) until a ferrokeeper member has
    taken over from a killed 3.9.5 leader and a 3.9.5 member from a killed ferrokeeper
    leader (usually two kills: 3.9.5 leader 3 -> ferro 2, which wins a tie of zxids
    against 3.9.5 member 1 by sid; then only 3.9.5 members 1 and 3 are left to elect).
    The ferro observer 4 follows each new leader; clients on every member throughout."""
    ens = ensemble_factory(["zk39", "ferro", "zk39"], observers=["ferro"], tick_ms=500, start=False)
    leader = start_led_by_39(ens, 3)
    rec = lin_history.start_load(ens.connect_string(), unique_root("lin_kill39"), seed=39, max_ops=8000,
                                 max_seconds=100)
    takeovers = []  # (killed leader, new leader)
    want = {("zk39", "ferro"), ("ferro", "zk39")}
    try:
        assert rec.wait_ops(80, timeout=30), f"no load before the kill: {rec.count} ops"
        for _ in range(5):
            if want <= {(a.kind, b.kind) for a, b in takeovers}:
                break
            old = leader
            leader = kill9_leader_under_load(ens, rec, old, wait_observers=True)
            takeovers.append((old, leader))
    finally:
        rec.stop()
    path = rec.write(tmp_path / "kill9.json")
    seen = [f"{a.kind}{a.sid}->{b.kind}{b.sid}" for a, b in takeovers]
    print(f"takeovers {seen}: " + lin_history.summary(rec.history()))
    assert want <= {(a.kind, b.kind) for a, b in takeovers}, f"not both kinds took over within 5 kills: {seen}"
    lin_history.assert_linearizable(path)
    assert_trees_identical(ens)
