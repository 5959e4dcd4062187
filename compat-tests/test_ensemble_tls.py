"""TLS between ensemble members (`sslQuorum`, `portUnification`, `ssl.quorum.*`) in mixed
ensembles of Apache ZooKeeper 3.9.5 (kind "zk39") and ferrokeeper members, every member
with the same JKS key store and trust store (tls_pki.py: CA-signed, SAN 127.0.0.1):

  - sslQuorum=true, each direction: a ferrokeeper leader with 3.9.5 followers, and a 3.9.5
    leader with a ferrokeeper follower and a ferrokeeper-ferrokeeper election link; writes
    through every member read back on every member; every member's log shows TLS
    handshakes; a plaintext initial message on any member's election port (and the
    leader's quorum port) is refused, the member unharmed. The ferrokeeper-led run has
    `zookeeper.fips-mode=false`, so both sides also check each other's certificate
    against the peer's address (Java's ZKTrustManager; ours in tls::quorum);
  - the rolling upgrade Java documents (portUnification on every member, then sslQuorum
    member by member, then portUnification off): the ensemble serves and replicates at
    every step, with plain and TLS links mixed on unified listeners of both kinds;
  - a ferrokeeper member whose key comes from another CA cannot join (its handshakes
    fail both ways, the 3.9.5 quorum goes on); with the right key it joins;
  - sslQuorum=true without ssl.quorum.keyStore.location: ferrokeeper refuses to start,
    saying so (Java starts and fails every handshake: a documented difference).

3.8.0 is left out: Debian's build lacks nothing here, but its members verify peers'
host names by default (no FIPS mode), which the shared certificate satisfies anyway; the
3.9.5 runs cover the protocol.
"""

import socket
import struct
import time

import pytest

import conftest
from ensemble import ensemble_factory  # noqa: F401  (a fixture)
from ensemble import log_lines, wait_until
from test_ensemble_mixed import kazoo, unique_root, writes_everywhere
from tls_pki import make_pki

pytestmark = [pytest.mark.xdist_group("ensemble-tls"),
              pytest.mark.skipif(not conftest.kinds_selected("zk39", "ferro"),
                                 reason="TLS ensembles need 3.9.5 and ferrokeeper (COMPAT_SERVERS)")]

HANDSHAKE_LINE = r"SSL handshake complete with"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("quorum-pki")))


def quorum_tls_cfg(pki, ssl_quorum=True, unified=False, keystore=None, truststore=None):
    cfg = {
        "ssl.quorum.keyStore.location": keystore or pki.keystore_jks,
        "ssl.quorum.keyStore.password": pki.password,
        "ssl.quorum.trustStore.location": truststore or pki.truststore_jks,
        "ssl.quorum.trustStore.password": pki.password,
        "sslQuorum": "true" if ssl_quorum else "false",
    }
    if unified:
        cfg["portUnification"] = "true"
    return cfg


def plain_initial_message(sid=99):
    """A plaintext election-port initial message (protocol version -65536, sid, address)."""
    addr = b"127.0.0.1:1"
    return struct.pack(">qqi", -65536, sid, len(addr)) + addr


def plain_follower_info(sid=99):
    """A plaintext FOLLOWERINFO quorum packet (type 11, LearnerInfo: sid, protocol
    0x10000, config version 0), which a plaintext leader answers with LEADERINFO."""
    info = struct.pack(">qiq", sid, 0x10000, 0)
    return struct.pack(">iqi", 11, 0, len(info)) + info + struct.pack(">i", -1)


def refused_plaintext(port, payload, timeout=10.0):
    """Send `payload` in plaintext to 127.0.0.1:port; True if the member closes the
    connection (whatever alert bytes come first) within `timeout`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
            if not chunk:
                return True
            # A TLS alert record (0x15) may precede the close; anything else would be the
            # member answering in plaintext.
            if chunk[0] not in (0x15, 0x16):
                return False
    return False


def start_led_by_highest(ens, timeout=90.0):
    """Start the highest sid and one other member (two of three: the highest sid must
    win, whatever the TLS set-up costs a JVM), then the rest; returns the leader."""
    first, second, *rest = sorted(ens.members, key=lambda m: -m.sid)
    ens.start(first, wait=False)
    ens.start(second, wait=False)
    ens.wait_serving(first, timeout=timeout)
    ens.wait_serving(second, timeout=timeout)
    for m in rest:
        ens.start(m, timeout=timeout)
    leader = ens.leader()
    assert leader.sid == first.sid, ens.modes()
    return leader


def assert_replicates(ens):
    leader = ens.leader()
    writes_everywhere(ens, leader, unique_root("tls"))


@pytest.mark.parametrize("kinds,leader_sid,fips", [
    (["zk39", "zk39", "ferro"], 3, "false"),   # ferrokeeper leads, names checked both ways
    (["ferro", "ferro", "zk39"], 3, "true"),   # 3.9.5 leads (Java's default FIPS mode)
], ids=["ferro_leader_names_checked", "java_leader"])
def test_ssl_quorum_mixed(ensemble_factory, pki, kinds, leader_sid, fips):  # noqa: F811
    ens = ensemble_factory(kinds, start=False, extra_cfg=quorum_tls_cfg(pki),
                           sys_props={"zookeeper.fips-mode": fips})
    leader = start_led_by_highest(ens)
    assert leader.sid == leader_sid
    assert_replicates(ens)
    for m in ens.members:
        assert log_lines(m, HANDSHAKE_LINE), f"{m!r} logged no TLS handshake:\n{m.log_tail()}"
    # Plaintext is refused on every election port and on the leader's quorum port.
    for m in ens.members:
        assert refused_plaintext(m.election_port, plain_initial_message()), m
    assert refused_plaintext(leader.quorum_port, plain_follower_info()), leader
    for m in ens.members:
        assert m.mode() in ("leader", "follower"), (m, ens.describe())
    assert_replicates(ens)


def test_rolling_upgrade_to_ssl_quorum(ensemble_factory, pki):  # noqa: F811
    """Java's documented path: portUnification everywhere, sslQuorum one member at a
    time, then portUnification off one member at a time."""
    ens = ensemble_factory(["zk39", "ferro", "zk39"], start=False,
                           extra_cfg=quorum_tls_cfg(pki, ssl_quorum=False, unified=True))
    start_led_by_highest(ens)
    assert_replicates(ens)
    for step in ("sslQuorum", "portUnification"):
        for m in ens.members:
            ens.stop(m)
            if step == "sslQuorum":
                m.extra_cfg["sslQuorum"] = "true"
            else:
                m.extra_cfg["portUnification"] = "false"
            ens.start(m, timeout=90)
            assert_replicates(ens)
    for m in ens.members:
        assert log_lines(m, HANDSHAKE_LINE), f"{m!r} logged no TLS handshake:\n{m.log_tail()}"


def test_member_with_untrusted_key_cannot_join(ensemble_factory, pki, tmp_path):  # noqa: F811
    other = make_pki(str(tmp_path / "other-ca"))
    ens = ensemble_factory(["zk39", "zk39", "ferro"], start=False, extra_cfg=quorum_tls_cfg(pki))
    ferro = ens.member(3)
    ferro.extra_cfg = {"ssl.quorum.keyStore.location": other.keystore_jks,
                       "ssl.quorum.trustStore.location": other.truststore_jks}
    ens.start(1, wait=False)
    ens.start(2, wait=False)
    ens.start(3, wait=False)
    ens.wait_serving(1, timeout=90)
    ens.wait_serving(2, timeout=90)
    assert wait_until(lambda: log_lines(ferro, r"TLS handshake with member .* failed"), 30), \
        ferro.log_tail()
    time.sleep(3)
    assert ferro.alive() and ferro.mode() is None, (ferro.mode(), ferro.log_tail())
    with kazoo(ens.member(1).hostport) as c:
        c.create(unique_root("untrusted"), b"x")
    # Java refused our certificate too.
    assert wait_until(lambda: any(log_lines(m, r"(?i)ssl|certificate|handshake")
                                  for m in (ens.member(1), ens.member(2))), 10)
    # The right key: it joins and catches up.
    ens.stop(ferro)
    ferro.extra_cfg = {}
    ens.start(ferro, timeout=90)
    assert_replicates(ens)


def test_ssl_quorum_without_key_store_refuses_to_start(ensemble_factory):  # noqa: F811
    ens = ensemble_factory(["ferro", "ferro", "ferro"], start=False,
                           extra_cfg={"sslQuorum": "true"})
    m = ens.start(1, wait=False)
    assert wait_until(lambda: not m.alive(), 30), "ferrokeeper started without a quorum key store"
    assert m.proc.returncode != 0
    text = open(m.log_path, errors="replace").read()
    assert "ssl.quorum.keyStore.location is not set" in text, text[-2000:]
