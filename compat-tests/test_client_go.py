"""Real-client test with the Go client github.com/go-zookeeper/zk (v1.0.4, the latest
release on the Go module proxy; tools/goclient, built into target/goclient by
scripts/install-deps.sh).

Runs on every kind in COMPAT_SERVERS -- ZooKeeper 3.8.0, 3.9.5 and ferrokeeper -- with the
same expected values, so a difference on ferrokeeper alone is a ferrokeeper bug.

test_go_basic (`goclient basic`): two sessions (ids, negotiated timeout), CRUD with Stat
fields (version, cversion, numChildren, ephemeralOwner, czxid/mzxid/pzxid relations), the
error codes of bad versions / existing / missing / non-empty nodes and children of
ephemerals, sequential and ephemeral-sequential names, multi (a successful one with its
per-op results, a failing one with ok / BADVERSION / RUNTIMEINCONSISTENCY and nothing
applied), one-shot data/child/exists watches in the order the changes were made and not
firing twice, digest ACLs (NOAUTH for reads, writes, getACL without auth or with a wrong
password; world-read + digest-all), INVALIDACL for an empty ACL list, sync, a container
reaped once its last child is deleted, TTL nodes (plain and sequential) reaped after their
TTL and BADARGUMENTS for a TTL of 0, the library's lock recipe between two sessions, its
four-letter-word parsers FLWRuok / FLWSrvr / FLWCons, and closing a session (its
ephemerals gone for the other session).

The library's FLWSrvr cannot parse the `srvr` of any current server: its regex wants the
build date as MM/dd/yyyy (servers print yyyy-MM-dd since 3.5) and a version of
[A-Za-z0-9.-] only (Debian's 3.8.0 says "3.8.0-${mvngit.commit.id}"). The test pins that
(ok false, the same error on every kind). FLWCons parses every line that has session
fields; it reports not-ok when a line does not (Java lists the 4lw connection itself
without them), so the test checks that each of our three sessions is among the parsed
clients with its timeout, address, established time and counters, and that every line of
a raw `cons` with session fields was parsed.

test_go_reconnect (`goclient reconnect`): a session through a TCP proxy (netproxy.Link)
to a server of its own (client_driver.ReconnectRig): the proxy drops the connection, a
second client (through a proxy link of its own) changes a watched node meanwhile, the proxy
heals -- same session, the missed change is notified at once
(setWatches with the client's last zxid), the re-registered child watch fires later; then
the server restarts on the same dataDir and port (SIGTERM, start) -- same session, its
ephemeral kept, data and exists watches set before the restart fire after it; then a
session with the minimum timeout (4 s) is cut off longer than that: its ephemeral goes,
on reconnect the server answers "expired" and the library reports StateExpired and gets a
new session, while the 30 s session cut off with it survives; close removes the ephemeral.

go-zookeeper has no addWatch (persistent/recursive watches), so those are not covered.
"""

import os

import pytest

from client_driver import ReconnectRig, checks, program_failure, run_program
from conftest import selected_kinds
from harness import REPO

BINARY = os.path.join(REPO, "target", "goclient")
KINDS = selected_kinds()  # zk39 included: this file compares the client on every kind

EXPECTED_BASIC = {
    "session.id_nonzero": "true",
    "session.distinct": "true",
    "session.timeout": "10000",
    "session.state": "StateHasSession",
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
    # the suffix is the parent's cversion: /a created and deleted, /eph created
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
    "watch.events": "[EventNodeDataChanged <root>/w; EventNodeChildrenChanged <root>/w; EventNodeCreated <root>/nx]",
    "watch.channel_data": "EventNodeDataChanged",
    "watch.channel_child": "EventNodeChildrenChanged",
    "watch.channel_exist": "EventNodeCreated",
    "watch.delete": "ok",
    "watch.after_oneshot": "[EventNodeDeleted <root>/w/c]",
    "acl.owner_read": "s,ok",
    "acl.other_read": "NOAUTH",
    "acl.other_write": "NOAUTH",
    "acl.other_getacl": "NOAUTH",
    # base64(sha1("alice:pw"))
    "acl.get": "31:digest:alice:V55/p2T0OpjQ+low3NVAH4aLvm0=,aversion=0",
    "acl.wrong_password_read": "NOAUTH",
    "acl.after_auth_read": "s,ok",
    "acl.setacl": "ok",
    "acl.readonly_write": "NOAUTH",
    "acl.readonly_read": "2,ok",
    "acl.readonly_create": "NOAUTH",
    "acl.empty_list": "INVALIDACL",
    "special.sync": "true,ok",
    "special.container_create": "true,ok",
    "special.container_stat": "true,version=0,cversion=1,aversion=0,dataLength=0,numChildren=1,ephemeralOwner=0",
    "special.container_reaped": "true",
    "special.ttl_create": "true,ok",
    "special.ttl_sequential": "ts-0000000012,ok",
    "special.ttl_stat": "version=0,cversion=0,aversion=0,dataLength=1,numChildren=0,ephemeralOwner=0x0",
    "special.ttl_reaped": "true",
    "special.ttl_sequential_reaped": "true",
    "special.ttl_zero": "BADARGUMENTS",
    "lock.second_blocked": "true",
    "lock.contenders": "2,ok",
    "lock.second_acquired": "ok",
    "lock.after_unlock": "0,ok",
    "flw.ruok": "true",
    "flw.srvr_ok": "false",
    "flw.srvr_error": "unable to parse fields from zookeeper response (no regex matches)",
    "flw.srvr_mode": "unknown",
    "flw.srvr_version_set": "false",
    "flw.srvr_buildtime_set": "false",
    "flw.srvr_nodes_ge_5": "false",
    "flw.srvr_connections_ge_3": "false",
    "flw.srvr_counter_positive": "false",
    "flw.cons_ok": "false",
    **{f"flw.cons_{c}": "to=10000,addr=true,est=true,lresp>0=true,lop_set=true,recved>0=true,sent>0=true,"
                        "lzxid>0=true,lcxid>0=true,queued<=1=true" for c in ("c1", "c2", "c3")},
    "flw.cons_unparsed_session_lines": "0",
    "close.ephemeral_gone": "true,ok",
    "close.children": "lock,m1,nx,s-0000000002,s-0000000003,secret,w",
    "close.c1_state": "StateDisconnected",
}

EXPECTED_RECONNECT = {
    "drop.same_session": "true",
    "drop.event_for_missed_change": "[EventNodeDataChanged <root>/w]",
    "drop.data_channel": "EventNodeDataChanged",
    "drop.child_event_after": "[EventNodeChildrenChanged <root>/w]",
    "drop.child_channel": "EventNodeChildrenChanged",
    "restart.later_exists_before": "false",
    "restart.same_session": "true",
    "restart.ephemeral_kept": "ok,true",
    "restart.events": "[EventNodeDataChanged <root>/w; EventNodeCreated <root>/later]",
    "restart.data_channel": "EventNodeDataChanged",
    "restart.exist_channel": "EventNodeCreated",
    "restart.c1_read": "2,ok",
    "expire.timeout": "4000",
    "expire.ephemeral_gone": "true",
    "expire.new_session": "true",
    "expire.c1_same_session": "true",
    "close.ephemeral_gone": "true,ok",
}


def goclient():
    if not os.path.exists(BINARY):
        pytest.fail(f"{BINARY} not found: run `bash scripts/install-deps.sh` (builds tools/goclient)",
                    pytrace=False)
    return BINARY


def assert_run(rc, lines, stderr, expected):
    got = checks(lines)
    assert rc == 0 and "DONE" in lines, program_failure(rc, lines, stderr)
    diffs = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    extra = sorted(set(got) - set(expected))
    assert not diffs and not extra, f"(got, expected): {diffs}; unexpected checks: {extra}"


@pytest.mark.parametrize("kind", KINDS)
def test_go_basic(kind, server_pool, root):
    srv = server_pool.get(kind)
    rc, lines, stderr = run_program([goclient(), "basic", srv.hostport, root], timeout=180)
    assert_run(rc, lines, stderr, EXPECTED_BASIC)


@pytest.mark.parametrize("kind", KINDS)
def test_go_reconnect(kind, root):
    binary = goclient()
    rig = ReconnectRig(kind)
    try:
        rc, lines, stderr = run_program(
            [binary, "reconnect", rig.proxy_addr, rig.proxy2_addr, root], rig.actions(), timeout=240)
        assert_run(rc, lines, stderr + "\n" + rig.describe(), EXPECTED_RECONNECT)
    finally:
        rig.close()
