"""Real-client test with the Node client node-zookeeper-client 1.1.3 (npm; tools/nodeclient,
installed by scripts/install-deps.sh with `npm ci`).

Why this package: of the Node ZooKeeper clients on the npm registry, the two in real use
are `zookeeper` (7.3.0, a native binding over the C client, compiled at install) and
`node-zookeeper-client` (1.1.3, pure JavaScript; the most downloaded, with typings in
@types). `zookeeper` is the more recently released one and builds here, but it has no
multi/transaction call at all (its binding wraps no zoo_amulti), which the scenario needs;
`node-zookeeper-client` has transactions, watches, ACLs, and re-sends its watches after a
reconnect, installs with no compile step on Node 20, and is what the Node ecosystem's
wrappers (zookeeper-watcher, zookeeper-cluster-client) build on. Neither has addWatch, so
persistent/recursive watches are not covered.

Runs on every kind in COMPAT_SERVERS -- ZooKeeper 3.8.0, 3.9.5 and ferrokeeper -- with the
same expected values, so a difference on ferrokeeper alone is a ferrokeeper bug.

test_node_basic (`client.js basic`): the same scenario as test_client_go.py's basic one
(sessions, CRUD + Stat, sequential names, a successful and a failing transaction with
their per-op results, one-shot watches in order and not firing twice, digest ACLs, close
removing the ephemerals) except the four-letter words (the library has no parsers).
The library's transaction turns a version 0 into -1 ("any"; `version || -1`), so its ops
use -1 or other versions.

test_node_reconnect (`client.js reconnect`): as test_client_go.py's: the proxy drops the
connection while another client changes a watched node (notified at once after the
reconnect, through setWatches), the re-registered child watch fires later; the server
restarts on the same dataDir and port: same session, ephemeral kept, data and exists
watches set before the restart fire after it; a 4 s session cut off longer than that
expires (ephemeral gone, the library's state EXPIRED after the reconnect) while the 30 s
one survives.
"""

import os
import shutil

import pytest

from client_driver import ReconnectRig, checks, program_failure, run_program
from conftest import selected_kinds
from harness import REPO

DIR = os.path.join(REPO, "tools", "nodeclient")
PROGRAM = os.path.join(DIR, "client.js")
KINDS = selected_kinds()  # zk39 included: this file compares the client on every kind

EXPECTED_BASIC = {
    "session.id_nonzero": "true",
    "session.distinct": "true",
    "session.timeout": "10000",
    "session.state": "SYNC_CONNECTED",
    "crud.create_path": "true",
    "crud.root_data": "top",
    "crud.root_stat": "version=0,cversion=0,aversion=0,dataLength=3,numChildren=0",
    "crud.root_czxid_is_mzxid": "true",
    "crud.set_stat": "version=1,cversion=0,aversion=0,dataLength=2,numChildren=0",
    "crud.set_mzxid_after_czxid": "true",
    "crud.set_bad_version": "BADVERSION",
    "crud.create_exists": "NODEEXISTS",
    "crud.create_no_parent": "NONODE",
    "crud.delete_not_empty": "NOTEMPTY",
    "crud.get_missing": "NONODE",
    "crud.root_stat_after_child": "version=0,cversion=1,aversion=0,dataLength=3,numChildren=1",
    "crud.exists": "true,version=1,cversion=0,aversion=0,dataLength=2,numChildren=0,ephemeralOwner=0",
    "crud.delete_bad_version": "BADVERSION",
    "crud.delete": "ok",
    "crud.exists_after_delete": "false,ok",
    "crud.ephemeral_owner_is_c1": "true",
    "crud.ephemeral_child": "NOCHILDRENFOREPHEMERALS",
    "seq.names": "s-0000000002,s-0000000003,es-0000000004",
    "seq.children": "eph,es-0000000004,s-0000000002,s-0000000003",
    "seq.parent_stat": "version=0,cversion=6,aversion=0,dataLength=3,numChildren=4",
    "multi.ok_err": "ok",
    "multi.ok_results": "[ok:<root>/m1 ok:v1 ok ok:<root>/m2 ok]",
    "multi.ok_m1": "y,ok",
    "multi.fail_err": "BADVERSION",
    "multi.fail_results": "[ok BADVERSION RUNTIMEINCONSISTENCY]",
    "multi.fail_m3_exists": "false",
    "multi.fail_m1": "y,v1",
    "watch.exists_missing": "false",
    "watch.events": "[NODE_DATA_CHANGED <root>/w; NODE_CHILDREN_CHANGED <root>/w; NODE_CREATED <root>/nx]",
    "watch.delete": "ok",
    "watch.after_oneshot": "[NODE_DELETED <root>/w/c]",
    "acl.owner_read": "s,ok",
    "acl.other_read": "NOAUTH",
    "acl.other_write": "NOAUTH",
    "acl.other_getacl": "NOAUTH",
    "acl.get": "31:digest:alice:V55/p2T0OpjQ+low3NVAH4aLvm0=,aversion=0",  # base64(sha1("alice:pw"))
    "acl.wrong_password_read": "NOAUTH",
    "acl.after_auth_read": "s,ok",
    "acl.setacl": "ok",
    "acl.readonly_write": "NOAUTH",
    "acl.readonly_read": "2,ok",
    "acl.readonly_create": "NOAUTH",
    "close.ephemeral_gone": "true",
    "close.children": "m1,nx,s-0000000002,s-0000000003,secret,w",
}

EXPECTED_RECONNECT = {
    "drop.same_session": "true",
    "drop.event_for_missed_change": "[NODE_DATA_CHANGED <root>/w]",
    "drop.child_event_after": "[NODE_CHILDREN_CHANGED <root>/w]",
    "restart.later_exists_before": "false",
    "restart.same_session": "true",
    "restart.ephemeral_kept": "ok,true",
    "restart.events": "[NODE_DATA_CHANGED <root>/w; NODE_CREATED <root>/later]",
    "restart.c1_read": "2,ok",
    "expire.timeout": "4000",
    "expire.ephemeral_gone": "true",
    "expire.state": "EXPIRED",
    "expire.c1_same_session": "true",
    "close.ephemeral_gone": "true",
}


def node_command(*args):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found (scripts/install-deps.sh installs it)", pytrace=False)
    if not os.path.isdir(os.path.join(DIR, "node_modules", "node-zookeeper-client")):
        pytest.fail(f"{DIR}/node_modules missing: run `bash scripts/install-deps.sh` (npm ci)", pytrace=False)
    return [node, PROGRAM, *args]


def assert_run(rc, lines, stderr, expected):
    got = checks(lines)
    assert rc == 0 and "DONE" in lines, program_failure(rc, lines, stderr)
    diffs = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    extra = sorted(set(got) - set(expected))
    assert not diffs and not extra, f"(got, expected): {diffs}; unexpected checks: {extra}"


@pytest.mark.parametrize("kind", KINDS)
def test_node_basic(kind, server_pool, root):
    srv = server_pool.get(kind)
    rc, lines, stderr = run_program(node_command("basic", srv.hostport, root), timeout=180)
    assert_run(rc, lines, stderr, EXPECTED_BASIC)


@pytest.mark.parametrize("kind", KINDS)
def test_node_reconnect(kind, root):
    cmd = node_command("reconnect", "PROXY", "PROXY2", root)
    rig = ReconnectRig(kind)
    try:
        cmd[3:5] = [rig.proxy_addr, rig.proxy2_addr]
        rc, lines, stderr = run_program(cmd, rig.actions(), timeout=240)
        assert_run(rc, lines, stderr + "\n" + rig.describe(), EXPECTED_RECONNECT)
    finally:
        rig.close()
