"""TLS on the client port and the x509 auth scheme, against Apache ZooKeeper 3.9.5's
Netty server (kind zk39) with the same zoo.cfg and the same key/trust stores.

Kind zk (Debian's 3.8.0) is left out: its class path has no Netty, which Java's TLS
needs (NettyServerCnxnFactory); 3.9.5 is the reference we follow.

Checked on each kind, with the same expected outcomes:
- mutual TLS with JKS, PKCS12 and PEM server stores (kazoo with a client certificate);
- x509 ids: whoAmI lists `x509:<subject in RFC 2253>`, an `x509:` ACL admits its subject
  and refuses another certificate of the same CA (NOAUTH), the superUser admits all;
- clientAuth=want (a client without a certificate connects, unauthenticated) and none (a
  certificate earns nothing);
- `client.portUnification`: TLS and plain clients on the one clientPort;
- refused: a certificate of another CA, an expired one, none where one is needed, a
  plaintext client on the TLS port; each counted in auth_failed_count, the server serving on;
- the 3.9.5 Java client (zkCli, Netty socket, PKCS12 key store + JKS trust store);
- ferrokeeper alone: a wrong key store password or a missing store stops it at start with
  a message naming the problem (Java logs the error and fails every handshake instead).
"""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_acl

import conftest
import tls_pki
import zkraw
from harness import ZK39_LIB, ferro_binary, java_missing, wait_until

KINDS = [k for k in conftest.selected_kinds() if k in ("zk39", "ferro")]
each_kind = pytest.mark.parametrize("kind", KINDS)
ferro_only = pytest.mark.skipif("ferro" not in conftest.selected_kinds(), reason="COMPAT_SERVERS leaves ferrokeeper out")

NETTY = "org.apache.zookeeper.server.NettyServerCnxnFactory"
X509 = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="compat-tls-")
    yield tls_pki.make_pki(d)
    shutil.rmtree(d, ignore_errors=True)


def tls_server(server_pool, kind, pki, store="jks", **extra):
    if kind != "ferro" and java_missing(kind):
        pytest.fail(java_missing(kind), pytrace=False)
    keystore = {"jks": pki.keystore_jks, "p12": pki.keystore_p12, "pem": pki.keystore_pem}[store]
    truststore = {"jks": pki.truststore_jks, "p12": pki.truststore_p12, "pem": pki.truststore_pem}[store]
    cfg = {
        "serverCnxnFactory": NETTY,
        "authProvider.x509": X509,
        "ssl.keyStore.location": keystore,
        "ssl.keyStore.password": pki.password,
        "ssl.trustStore.location": truststore,
        "ssl.trustStore.password": pki.password,
    }
    if not extra.pop("plain_only", False):
        cfg["secureClientPort"] = zkraw.free_port("127.0.0.1")
        cfg["secureClientPortAddress"] = "127.0.0.1"
    if store == "pem":
        # The PEM key is not encrypted; Java then needs an empty password (with one it
        # decrypts, and fails: "overrun").
        del cfg["ssl.keyStore.password"]
    cfg.update(extra)
    srv = server_pool.get(kind, **cfg)
    srv.secure_port = int(cfg["secureClientPort"]) if "secureClientPort" in cfg else None
    if srv.secure_port is not None and not wait_until(lambda: port_accepts(srv.secure_port), 30):
        pytest.fail(f"{kind}: secure port {srv.secure_port} not listening after 30 s; "
                    f"log tail:\n{srv.log_tail()}", pytrace=False)
    return srv


def port_accepts(port):
    """True once a TCP connection to the port succeeds. The pool waits for the plain
    client port only, and Java opens the secure one after it (ZooKeeperServerMain starts
    cnxnFactory, then secureCnxnFactory)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def context(pki, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=pki.ca_pem)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def tls_raw(port, ctx, timeout_ms=10000):
    """A raw client session over TLS (zkraw on a wrapped socket)."""
    c = zkraw.ZkRaw("127.0.0.1", port)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="127.0.0.1")
    c.handshake(timeout_ms=timeout_ms)
    return c


def kazoo(port, pki, cert=None, key=None):
    k = KazooClient(hosts=f"127.0.0.1:{port}", use_ssl=True, ca=pki.ca_pem, certfile=cert, keyfile=key,
                    verify_certs=True, timeout=10)
    k.start(timeout=15)
    return k


def ids(conn):
    return sorted(conn.who_am_i().value)


def auth_failed(srv):
    for line in srv.fourlw("mntr").splitlines():
        if line.startswith("zk_auth_failed_count"):
            return int(line.split()[1])
    raise AssertionError("no zk_auth_failed_count in mntr")


@each_kind
@pytest.mark.parametrize("store", ["jks", "p12", "pem"])
def test_mutual_tls_and_x509_acls(server_pool, kind, pki, store, root):
    srv = tls_server(server_pool, kind, pki, store)
    k = kazoo(srv.secure_port, pki, pki.client_cert, pki.client_key)
    try:
        path = f"{root}-{store}"
        k.create(path, b"secret", acl=[make_acl("x509", tls_pki.CLIENT_SUBJECT, all=True)])
        assert k.get(path)[0] == b"secret"
    finally:
        k.stop()
        k.close()
    me = tls_raw(srv.secure_port, context(pki, pki.client_cert, pki.client_key))
    other = tls_raw(srv.secure_port, context(pki, pki.other_cert, pki.other_key))
    try:
        assert ids(me) == [("ip", "127.0.0.1"), ("x509", tls_pki.CLIENT_SUBJECT)]
        assert me.get_data(path).err == 0
        assert other.get_data(path).err == zkraw.Err.NOAUTH
        assert ids(other) == [("ip", "127.0.0.1"), ("x509", tls_pki.OTHER_SUBJECT)]
    finally:
        me.close()
        other.close()
    # The plain port of the same server still serves plain clients; no x509 id there.
    plain = srv.raw()
    try:
        assert ids(plain) == [("ip", "127.0.0.1")]
        assert plain.get_data(path).err == zkraw.Err.NOAUTH
    finally:
        plain.close()


@each_kind
def test_x509_super_user(server_pool, kind, pki, root):
    srv = tls_server(server_pool, kind, pki, **{"X509AuthenticationProvider.superUser": tls_pki.SUPER_SUBJECT})
    me = tls_raw(srv.secure_port, context(pki, pki.client_cert, pki.client_key))
    admin = tls_raw(srv.secure_port, context(pki, pki.admin_cert, pki.admin_key))
    try:
        path = f"{root}-super"
        assert me.create(path, b"x", acl=[zkraw.ACL(31, "x509", tls_pki.CLIENT_SUBJECT)]).err == 0
        assert admin.get_data(path).err == 0
        assert ids(admin) == [("ip", "127.0.0.1"), ("super", ""),
                              ("x509", tls_pki.SUPER_SUBJECT)]
    finally:
        me.close()
        admin.close()


@each_kind
def test_client_auth_want_and_none(server_pool, kind, pki):
    want = tls_server(server_pool, kind, pki, **{"ssl.clientAuth": "want"})
    anon = tls_raw(want.secure_port, context(pki))
    named = tls_raw(want.secure_port, context(pki, pki.client_cert, pki.client_key))
    try:
        assert ids(anon) == [("ip", "127.0.0.1")]
        assert ids(named) == [("ip", "127.0.0.1"), ("x509", tls_pki.CLIENT_SUBJECT)]
    finally:
        anon.close()
        named.close()
    none = tls_server(server_pool, kind, pki, **{"ssl.clientAuth": "none"})
    c = tls_raw(none.secure_port, context(pki, pki.client_cert, pki.client_key))
    try:
        assert ids(c) == [("ip", "127.0.0.1")]
    finally:
        c.close()


@each_kind
def test_port_unification(server_pool, kind, pki):
    srv = tls_server(server_pool, kind, pki, plain_only=True, **{"client.portUnification": "true"})
    tls = tls_raw(srv.port, context(pki, pki.client_cert, pki.client_key))
    plain = srv.raw()
    try:
        assert ids(tls) == [("ip", "127.0.0.1"), ("x509", tls_pki.CLIENT_SUBJECT)]
        assert ids(plain) == [("ip", "127.0.0.1")]
        assert "Mode: standalone" in srv.fourlw("srvr")
    finally:
        tls.close()
        plain.close()


def non_mtls(srv):
    """(non_mtls_local_conn_count, non_mtls_remote_conn_count) from mntr (its own
    connection counted, as it is accepted before it is answered)."""
    got = zkraw.mntr(srv.host, srv.port)
    return int(got["zk_non_mtls_local_conn_count"]), int(got["zk_non_mtls_remote_conn_count"])


@each_kind
def test_connections_without_tls_are_counted(server_pool, kind, pki):
    """With the Netty factory Java counts every connection accepted without TLS (the
    plain clientPort, 4lw included; not the secureClientPort), from loopback as local;
    operators moving to mTLS watch it fall to nothing."""
    srv = tls_server(server_pool, kind, pki)
    before = non_mtls(srv)
    plain = [srv.raw() for _ in range(3)]
    tls = [tls_raw(srv.secure_port, context(pki, pki.client_cert, pki.client_key)) for _ in range(2)]
    try:
        after = non_mtls(srv)
        # three plain sessions and the second mntr's connection; none of the TLS ones
        assert (after[0] - before[0], after[1] - before[1]) == (4, 0), (kind, before, after)
    finally:
        for c in plain + tls:
            c.close()


@each_kind
def test_secure_port_registers_the_x509_provider(server_pool, kind, pki, root):
    """No authProvider.x509 line: a secureClientPort registers the provider anyway
    (QuorumPeerConfig.configureSSLAuth), so certificates earn x509 ids and x509 ACLs are
    valid; the unified plain port alone does not (a certificate there is refused)."""
    srv = tls_server(server_pool, kind, pki, **{"authProvider.x509": None})
    c = tls_raw(srv.secure_port, context(pki, pki.client_cert, pki.client_key))
    try:
        assert ids(c) == [("ip", "127.0.0.1"), ("x509", tls_pki.CLIENT_SUBJECT)]
        assert c.create(root, b"x", acl=[zkraw.ACL(31, "x509", tls_pki.CLIENT_SUBJECT)]).err == 0
        assert c.get_data(root).err == 0
    finally:
        c.close()
    unified = tls_server(server_pool, kind, pki, plain_only=True,
                         **{"authProvider.x509": None, "client.portUnification": "true"})
    assert refused(unified.port, context(pki, pki.client_cert, pki.client_key))
    plain = unified.raw()
    try:
        r = plain.create(root + "-u", b"x", acl=[zkraw.ACL(31, "x509", tls_pki.CLIENT_SUBJECT)])
        assert r.err == zkraw.Err.INVALIDACL
    finally:
        plain.close()


def refused(port, ctx):
    """True when no TLS session can be made with ctx (the handshake or the session fails)."""
    try:
        c = tls_raw(port, ctx, timeout_ms=5000)
    except (OSError, ssl.SSLError, zkraw.ConnectionClosed, ValueError):
        return True
    c.close()
    return False


@each_kind
def test_bad_clients_are_refused_and_counted(server_pool, kind, pki):
    srv = tls_server(server_pool, kind, pki)
    before = auth_failed(srv)
    assert refused(srv.secure_port, context(pki, pki.rogue_cert, pki.rogue_key))
    assert refused(srv.secure_port, context(pki, pki.expired_cert, pki.expired_key))
    assert refused(srv.secure_port, context(pki))
    # A plaintext client on the TLS port gets no session.
    with pytest.raises((OSError, zkraw.ConnectionClosed, ValueError)):
        c = zkraw.ZkRaw("127.0.0.1", srv.secure_port, timeout=5)
        try:
            c.handshake(timeout_ms=5000)
        finally:
            c.drop()
    # Garbage after a TLS-looking first byte.
    with socket.create_connection(("127.0.0.1", srv.secure_port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x00\x05hello" + os.urandom(64))
        try:
            s.recv(100)
        except OSError:
            pass
    assert wait_until(lambda: auth_failed(srv) - before >= 3, timeout=10), auth_failed(srv) - before
    ok = tls_raw(srv.secure_port, context(pki, pki.client_cert, pki.client_key))
    ok.close()


def java_client_cmd(srv, pki):
    return ["java", "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-Dzookeeper.client.secure=true",
            "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
            f"-Dzookeeper.ssl.keyStore.location={pki.client_p12}",
            f"-Dzookeeper.ssl.keyStore.password={pki.password}",
            f"-Dzookeeper.ssl.trustStore.location={pki.truststore_jks}",
            f"-Dzookeeper.ssl.trustStore.password={pki.password}",
            "-cp", os.path.join(ZK39_LIB, "*") + ":/usr/share/java/commons-cli.jar",
            "org.apache.zookeeper.ZooKeeperMain", "-server", f"127.0.0.1:{srv.secure_port}"]


@each_kind
def test_java_client_over_tls(server_pool, kind, pki, root):
    if java_missing("zk39"):
        pytest.fail(java_missing("zk39"), pytrace=False)
    srv = tls_server(server_pool, kind, pki, "p12")
    path = f"{root}-java"
    script = f"create {path} hello\nget {path}\nwhoami\nquit\n"
    p = subprocess.run(java_client_cmd(srv, pki), input=script, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=90)
    lines = p.stdout.splitlines()
    assert f"Created {path}" in lines, p.stdout
    assert "hello" in lines, p.stdout
    assert f"x509: {tls_pki.CLIENT_SUBJECT}" in lines, p.stdout


@ferro_only
def test_ferro_refuses_to_start_with_unusable_stores(pki, tmp_path):
    """ferrokeeper only: Java starts and fails each handshake instead (and does revocation
    checking when ssl.crl/ssl.ocsp ask for it, which ferrokeeper cannot)."""
    port, secure = zkraw.free_port("127.0.0.1"), zkraw.free_port("127.0.0.1")
    try:
        for keystore, password, expect, extra in (
            (pki.keystore_jks, "wrong-password", "password", ""),
            (pki.keystore_p12, "wrong-password", "password", ""),
            (str(tmp_path / "missing.jks"), pki.password, "missing.jks", ""),
            (pki.client_cert, pki.password, "private key", ""),
            # Revocation checking asked for (Java's JDK does it): refused, not ignored.
            (pki.keystore_jks, pki.password, "ssl.crl=true asks for CRL", "ssl.crl=true\n"),
            (pki.keystore_jks, pki.password, "ssl.ocsp=true asks for OCSP", "ssl.ocsp=True\n"),
        ):
            cfg = tmp_path / "zoo.cfg"
            cfg.write_text(f"dataDir={tmp_path}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
                           f"secureClientPort={secure}\nadmin.enableServer=false\n"
                           f"ssl.keyStore.location={keystore}\nssl.keyStore.type="
                           f"{'PEM' if keystore.endswith('.pem') else ''}\n"
                           f"ssl.keyStore.password={password}\nssl.trustStore.location={pki.truststore_jks}\n"
                           f"ssl.trustStore.password={pki.password}\n{extra}")
            p = subprocess.run([ferro_binary(), str(cfg)], capture_output=True, text=True, timeout=30)
            assert p.returncode != 0
            assert expect in (p.stdout + p.stderr), (keystore, p.stdout + p.stderr)
    finally:
        zkraw.release_port(port)
        zkraw.release_port(secure)


def server_cert_der(port, pki):
    ctx = ssl.create_default_context(cafile=pki.ca_pem)
    ctx.load_cert_chain(pki.client_cert, pki.client_key)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            return t.getpeercert(binary_form=True)


@each_kind
def test_cert_reload(server_pool, kind, pki, tmp_path):
    """`client.certReload=true`: a key store replaced on disk serves the next handshake."""
    store = tmp_path / "keystore.p12"
    shutil.copy(pki.keystore_p12, store)
    srv = tls_server(server_pool, kind, pki, "p12", **{"client.certReload": "true",
                                                       "ssl.keyStore.location": str(store)})
    first = server_cert_der(srv.secure_port, pki)
    fresh = tls_pki.make_pki(str(tmp_path / "again"), ca=pki)
    time.sleep(1.1)  # a new modification time, whatever the file system's resolution
    shutil.copy(fresh.keystore_p12, str(store) + ".new")
    os.replace(str(store) + ".new", store)
    assert wait_until(lambda: server_cert_der(srv.secure_port, pki) != first, timeout=20)
    c = tls_raw(srv.secure_port, context(pki, pki.client_cert, pki.client_key))
    c.close()


@ferro_only
def test_ferro_secure_port_only(pki, tmp_path):
    """Only secureClientPort (no clientPort): TLS clients are served. ferrokeeper only (the
    harness reaches Java servers on their plain port)."""
    secure = zkraw.free_port("127.0.0.1")
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"dataDir={tmp_path}/data\nsecureClientPort={secure}\nsecureClientPortAddress=127.0.0.1\n"
                   f"admin.enableServer=false\nauthProvider.x509={X509}\n"
                   f"ssl.keyStore.location={pki.keystore_jks}\nssl.keyStore.password={pki.password}\n"
                   f"ssl.trustStore.location={pki.truststore_jks}\nssl.trustStore.password={pki.password}\n")
    p = subprocess.Popen([ferro_binary(), str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        def up():
            try:
                c = tls_raw(secure, context(pki, pki.client_cert, pki.client_key), timeout_ms=5000)
            except (OSError, ssl.SSLError, zkraw.ConnectionClosed, ValueError):
                return False
            ok = ids(c) == [("ip", "127.0.0.1"), ("x509", tls_pki.CLIENT_SUBJECT)]
            c.close()
            return ok
        assert wait_until(up, timeout=20)
    finally:
        p.terminate()
        p.wait(timeout=10)
        zkraw.release_port(secure)
