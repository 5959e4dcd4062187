"""Quorum SASL (`quorum.auth.enableSasl`, `quorum.auth.learnerRequireSasl`,
`quorum.auth.serverRequireSasl`, DIGEST-MD5 users in the JAAS sections `QuorumServer` /
`QuorumLearner`) in mixed ensembles of Apache ZooKeeper 3.9.5 (kind "zk39") and
ferrokeeper members, every member with the same JAAS file given as
-Djava.security.auth.login.config (ferrokeeper reads Java's -D flags), and
-Dzookeeper.fips-mode=false: in 3.9's default FIPS mode a Java learner refuses DIGEST-MD5
("QuorumLearner will not use DIGEST-MD5 as SASL mechanism, because FIPS mode is enabled",
then a NullPointerException on every connection it dials; seen here), so a 3.9 ensemble
with DIGEST quorum SASL has to run with it off. ferrokeeper authenticates either way.

  - required both ways, each direction: a 3.9.5 leader with ferrokeeper followers (and a
    ferrokeeper-ferrokeeper election link), and a ferrokeeper leader with 3.9.5
    followers; writes through every member read back on every member; every member
    logged authenticating its peers;
  - a member whose QuorumLearner password is wrong (its
    quorum.auth.learner.saslLoginContext names a section with another password) cannot
    join, of either kind: a ferrokeeper member refused by 3.9.5 members, a 3.9.5 member
    refused by ferrokeeper members; the other two serve; with the right section it joins;
  - a member without quorum SASL is refused by members that require it (a ferrokeeper
    one by 3.9.5, a 3.9.5 one by ferrokeeper);
  - Java's rolling-upgrade setting (enableSasl=true, nothing required) between members
    with and without SASL: the ensemble serves;
  - a missing JAAS section stops ferrokeeper's start, saying which (as Java's does);
  - all of it inside sslQuorum's TLS (a ferrokeeper leader);
  - Debian's 3.8.0 leading two ferrokeeper followers, all required (when "zk" is selected).
"""

import os

import pytest

import conftest
from ensemble import ensemble_factory  # noqa: F401  (a fixture)
from ensemble import log_lines, wait_until
from test_ensemble_mixed import kazoo, unique_root, writes_everywhere
from test_ensemble_tls import HANDSHAKE_LINE, quorum_tls_cfg, start_led_by_highest
from tls_pki import make_pki

pytestmark = [pytest.mark.xdist_group("ensemble-sasl"),
              pytest.mark.skipif(not conftest.kinds_selected("zk39", "ferro"),
                                 reason="quorum SASL ensembles need 3.9.5 and ferrokeeper (COMPAT_SERVERS)")]

JAAS = """
QuorumServer {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  user_test="test-secret"
  user_other="other-secret";
};
QuorumLearner {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  username="test"
  password="test-secret";
};
BadLearner {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  username="test"
  password="wrong";
};
"""

REQUIRED = {"quorum.auth.enableSasl": "true",
            "quorum.auth.learnerRequireSasl": "true",
            "quorum.auth.serverRequireSasl": "true"}
NO_SASL = {k: None for k in REQUIRED}

# What each kind logs for an authenticated peer, as the accepting and the dialing side.
SERVER_OK = {"zk39": r"Successfully completed the authentication using SASL. learner addr",
             "ferro": r"Successfully authenticated learner test using SASL"}
LEARNER_OK = {"zk39": r"Successfully completed the authentication using SASL. server addr",
              "ferro": r"Successfully completed the authentication using SASL. server addr"}


@pytest.fixture(scope="module")
def jaas(tmp_path_factory):
    path = os.path.join(str(tmp_path_factory.mktemp("quorum-jaas")), "jaas.conf")
    with open(path, "w") as f:
        f.write(JAAS)
    return path


def sasl_ensemble(ensemble_factory, jaas, kinds, cfg=REQUIRED):  # noqa: F811
    return ensemble_factory(kinds, start=False, extra_cfg=dict(cfg),
                            sys_props={"java.security.auth.login.config": jaas,
                                       "zookeeper.fips-mode": "false"})


@pytest.mark.parametrize("kinds", [
    ["ferro", "ferro", "zk39"],   # 3.9.5 leads: ferrokeeper learners authenticate to Java
    ["zk39", "zk39", "ferro"],    # ferrokeeper leads: Java learners authenticate to it
], ids=["java_leader", "ferro_leader"])
def test_required_both_ways(ensemble_factory, jaas, kinds):  # noqa: F811
    ens = sasl_ensemble(ensemble_factory, jaas, kinds)
    leader = start_led_by_highest(ens)
    writes_everywhere(ens, leader, unique_root("qsasl"))
    for m in ens.members:
        assert m.mode() in ("leader", "follower"), (m, ens.describe())
        # Every member accepted election connections from a lower id and dialed others.
        assert log_lines(m, LEARNER_OK[m.kind]), f"{m!r} never authenticated:\n{m.log_tail()}"
        if m.sid != 1:
            assert log_lines(m, SERVER_OK[m.kind]), f"{m!r} authenticated nobody:\n{m.log_tail()}"
    # The leader also authenticated its learners on the quorum port (two per follower:
    # the election link, plus the learner link).
    assert len(log_lines(leader, SERVER_OK[leader.kind])) >= 2, leader.log_tail()


def test_required_over_ssl_quorum(ensemble_factory, jaas, tmp_path):  # noqa: F811
    """Quorum SASL inside sslQuorum's TLS (a ferrokeeper leader, 3.9.5 followers, and a
    ferrokeeper learner in the election links): both layers logged, data replicated."""
    pki = make_pki(str(tmp_path / "pki"))
    ens = sasl_ensemble(ensemble_factory, jaas, ["zk39", "ferro", "ferro"],
                        cfg=dict(REQUIRED, **quorum_tls_cfg(pki)))
    leader = start_led_by_highest(ens)
    writes_everywhere(ens, leader, unique_root("qsasl-tls"))
    for m in ens.members:
        assert log_lines(m, HANDSHAKE_LINE), f"{m!r} logged no TLS handshake:\n{m.log_tail()}"
        assert log_lines(m, LEARNER_OK[m.kind]), f"{m!r} never authenticated:\n{m.log_tail()}"
    assert len(log_lines(leader, SERVER_OK[leader.kind])) >= 2, leader.log_tail()


@pytest.mark.skipif(not conftest.kinds_selected("zk"), reason="3.8.0 not selected (COMPAT_SERVERS)")
def test_required_with_a_3_8_leader(ensemble_factory, jaas):  # noqa: F811
    """Debian's 3.8.0 (no FIPS mode) leading two ferrokeeper followers."""
    ens = sasl_ensemble(ensemble_factory, jaas, ["ferro", "ferro", "zk"])
    leader = start_led_by_highest(ens)
    writes_everywhere(ens, leader, unique_root("qsasl38"))
    assert len(log_lines(leader, SERVER_OK["zk39"])) >= 2, leader.log_tail()
    for m in ens.members[:2]:
        assert log_lines(m, LEARNER_OK["ferro"]), m.log_tail()


def cannot_join(ens, m, others, timeout=90):
    for o in others:
        ens.start(o, wait=False)
    ens.start(m, wait=False)
    for o in others:
        ens.wait_serving(o, timeout=timeout)
    # Long enough for several election rounds and learner attempts.
    wait_until(lambda: False, 8)
    assert m.alive() and m.mode() is None, (m, m.mode(), m.log_tail())
    with kazoo(others[0].hostport) as c:
        c.create(unique_root("qsasl-refused"), b"x")


@pytest.mark.parametrize("kinds,bad", [
    (["zk39", "zk39", "ferro"], 3),   # ferrokeeper's password is wrong: Java refuses it
    (["zk39", "ferro", "ferro"], 1),  # Java's password is wrong: ferrokeeper refuses it
], ids=["ferro_wrong_password", "java_wrong_password"])
def test_wrong_password_cannot_join(ensemble_factory, jaas, kinds, bad):  # noqa: F811
    ens = sasl_ensemble(ensemble_factory, jaas, kinds)
    m = ens.member(bad)
    m.extra_cfg = {"quorum.auth.learner.saslLoginContext": "BadLearner"}
    others = [o for o in ens.members if o is not m]
    cannot_join(ens, m, others)
    if m.kind == "ferro":
        assert log_lines(m, r"Authentication failed against the server"), m.log_tail()
    else:
        assert any(log_lines(o, r"Failed to authenticate using SASL") for o in others), \
            [o.log_tail() for o in others]
    # The right password: it joins and catches up.
    ens.stop(m)
    m.extra_cfg = {}
    ens.start(m, timeout=90)
    writes_everywhere(ens, ens.leader(), unique_root("qsasl-fixed"))


@pytest.mark.parametrize("kinds,plain", [
    (["zk39", "zk39", "ferro"], 3),   # ferrokeeper without SASL: Java requires it
    (["zk39", "ferro", "ferro"], 1),  # Java without SASL: ferrokeeper requires it
], ids=["ferro_without_sasl", "java_without_sasl"])
def test_member_without_sasl_is_refused(ensemble_factory, jaas, kinds, plain):  # noqa: F811
    ens = sasl_ensemble(ensemble_factory, jaas, kinds)
    m = ens.member(plain)
    m.extra_cfg = dict(NO_SASL)
    others = [o for o in ens.members if o is not m]
    cannot_join(ens, m, others)
    assert any(log_lines(o, r"Learner not trying to authenticate|Failed to authenticate using SASL")
               for o in others), [o.log_tail() for o in others]


def test_rolling_upgrade_setting_mixes_members(ensemble_factory, jaas):  # noqa: F811
    """enableSasl=true with nothing required (Java's first rolling-upgrade step) on two
    members, none on the third: all serve and replicate."""
    ens = sasl_ensemble(ensemble_factory, jaas, ["zk39", "ferro", "ferro"],
                        cfg={"quorum.auth.enableSasl": "true"})
    ens.member(2).extra_cfg = {"quorum.auth.enableSasl": None}
    leader = start_led_by_highest(ens)
    writes_everywhere(ens, leader, unique_root("qsasl-rolling"))


def test_missing_section_stops_ferrokeeper(ensemble_factory, jaas):  # noqa: F811
    ens = sasl_ensemble(ensemble_factory, jaas, ["ferro", "ferro", "ferro"],
                        cfg=dict(REQUIRED, **{"quorum.auth.server.saslLoginContext": "Nope"}))
    m = ens.start(1, wait=False)
    assert wait_until(lambda: not m.alive(), 30), "ferrokeeper started without its JAAS section"
    assert m.proc.returncode != 0
    text = open(m.log_path, errors="replace").read()
    assert "section 'Nope' could not be found" in text, text[-2000:]
