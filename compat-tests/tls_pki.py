"""Certificates and key stores for the TLS tests, made fresh in a temp dir.

`make_pki(dir)` writes a CA, a server identity (SAN 127.0.0.1/localhost), client
identities (one trusted, one from another CA, one expired) as PEM files, and the server's
key store and trust store in every format Java reads: JKS (keytool), PKCS12 and PEM.
Keys are made with Python's `cryptography`; JKS files by the JDK's keytool, so they are
exactly what operators hold.
"""

import datetime
import ipaddress
import os
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

PASSWORD = "changeit-123"
CLIENT_SUBJECT = "CN=client,OU=test,O=ferrokeeper,C=US"
OTHER_SUBJECT = "CN=other,OU=test,O=ferrokeeper,C=US"
SUPER_SUBJECT = "CN=admin,O=ferrokeeper"


def _name(pairs):
    return x509.Name([x509.NameAttribute(oid, v) for oid, v in pairs])


def _cert(subject, issuer, key, issuer_key, *, ca=False, san=None, not_before=None, days=365):
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = not_before or now - datetime.timedelta(days=1)
    b = (x509.CertificateBuilder()
         .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_before + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def _pem_key(key, password=None):
    enc = (serialization.BestAvailableEncryption(password.encode()) if password
           else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def _pem_cert(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


class Pki:
    """Paths of everything made (attributes), see make_pki."""


def make_pki(d, server_key_kind="rsa", ca=None):
    """Everything, in the (new or empty) directory d; with ca=<an earlier Pki>, under that
    one's CA (new server and client keys)."""
    os.makedirs(d, exist_ok=True)
    p = Pki()
    p.dir = d
    p.password = PASSWORD
    if ca is not None:
        ca_key, ca = ca.ca_key, ca.ca
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name([(NameOID.COMMON_NAME, "ferrokeeper test CA"), (NameOID.ORGANIZATION_NAME, "ferrokeeper")])
        ca = _cert(ca_name, ca_name, ca_key, ca_key, ca=True, days=3650)
    ca_name = ca.subject
    p.ca_key, p.ca = ca_key, ca
    p.ca_pem = _write(os.path.join(d, "ca.pem"), _pem_cert(ca))

    if server_key_kind == "rsa":
        server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert(_name([(NameOID.COMMON_NAME, "localhost")]), ca_name, server_key, ca_key,
                   san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    p.server_cert_pem = _write(os.path.join(d, "server-cert.pem"), _pem_cert(server, ca))

    def client(fname, pairs, issuer_name, issuer_key, **kw):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(_name(pairs), issuer_name, key, issuer_key, **kw)
        cert_path = _write(os.path.join(d, f"{fname}.pem"), _pem_cert(cert))
        key_path = _write(os.path.join(d, f"{fname}.key"), _pem_key(key))
        return cert_path, key_path, key, cert

    ferro_client = [(NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "ferrokeeper"),
                    (NameOID.ORGANIZATIONAL_UNIT_NAME, "test"), (NameOID.COMMON_NAME, "client")]
    p.client_cert, p.client_key, client_key, client_cert = client("client", ferro_client, ca_name, ca_key)
    p.other_cert, p.other_key, _, _ = client(
        "other", ferro_client[:3] + [(NameOID.COMMON_NAME, "other")], ca_name, ca_key)
    p.admin_cert, p.admin_key, _, _ = client(
        "admin", [(NameOID.ORGANIZATION_NAME, "ferrokeeper"), (NameOID.COMMON_NAME, "admin")], ca_name, ca_key)
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    p.expired_cert, p.expired_key, _, _ = client("expired", ferro_client, ca_name, ca_key,
                                                 not_before=past, days=2)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_name = _name([(NameOID.COMMON_NAME, "rogue CA")])
    p.rogue_cert, p.rogue_key, _, _ = client("rogue", ferro_client, rogue_name, rogue_key)

    # Server key store: PEM (PKCS#8 key + chain; Java 17 cannot read a PBES2-encrypted
    # one: "PBES2 SecretKeyFactory not available"), PKCS12, JKS (keytool).
    p.keystore_pem = _write(os.path.join(d, "keystore.pem"), _pem_key(server_key) + _pem_cert(server, ca))
    p.keystore_p12 = _write(os.path.join(d, "keystore.p12"), pkcs12.serialize_key_and_certificates(
        b"server", server_key, server, [ca], serialization.BestAvailableEncryption(PASSWORD.encode())))
    p.keystore_jks = os.path.join(d, "keystore.jks")
    subprocess.run(["keytool", "-importkeystore", "-noprompt", "-srckeystore", p.keystore_p12,
                    "-srcstoretype", "PKCS12", "-srcstorepass", PASSWORD, "-destkeystore", p.keystore_jks,
                    "-deststoretype", "JKS", "-deststorepass", PASSWORD, "-destkeypass", PASSWORD],
                   check=True, capture_output=True)
    # Trust stores holding the CA: PEM, JKS and PKCS12 (keytool -importcert, as operators do).
    p.truststore_pem = p.ca_pem
    p.truststore_jks = os.path.join(d, "truststore.jks")
    p.truststore_p12 = os.path.join(d, "truststore.p12")
    for path, kind in ((p.truststore_jks, "JKS"), (p.truststore_p12, "PKCS12")):
        subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", p.ca_pem,
                        "-keystore", path, "-storetype", kind, "-storepass", PASSWORD],
                       check=True, capture_output=True)
    # The Java client's own stores (PKCS12 key store with the client identity).
    p.client_p12 = _write(os.path.join(d, "client.p12"), pkcs12.serialize_key_and_certificates(
        b"client", client_key, client_cert, [ca], serialization.BestAvailableEncryption(PASSWORD.encode())))
    return p
