"""Tests for mutual TLS: certificates from a CA made here, real TLS handshakes (also through gunicorn),
and the X-Forwarded-Client-Cert header honoured only from trusted proxies."""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from grafeas_py.auth.mtls import MtlsAuthenticator, MtlsSettings, certificate_identity, parse_xfcc
from grafeas_py.errors import Unauthenticated

SPIFFE_ID = "spiffe://example.org/ns/ci/sa/builder"
PROXY = "10.0.0.5"


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


class CA:
    """A certificate authority that issues short-lived certificates for the tests."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Test CA"))
            .issuer_name(_name("Test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, cn: str | None, uris=(), dns=(), ips=(), server=False):
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = _name(cn) if cn else x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example")])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
        )
        names = [x509.UniformResourceIdentifier(u) for u in uris] + [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def write_pair(directory: Path, stem: str, cert, key) -> tuple[str, str]:
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_text(pem(cert))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA()


@pytest.fixture(scope="module")
def pki(ca, tmp_path_factory):
    """Files for a TLS server on 127.0.0.1 and a client with a SPIFFE ID, all issued by `ca`."""
    directory = tmp_path_factory.mktemp("pki")
    ca_path = directory / "ca.crt"
    ca_path.write_text(pem(ca.cert))
    server = write_pair(directory, "server", *ca.issue("localhost", dns=["localhost"], ips=["127.0.0.1"], server=True))
    client = write_pair(directory, "client", *ca.issue("builder", uris=[SPIFFE_ID], dns=["builder.ci.example.org"]))
    return {"ca": str(ca_path), "server": server, "client": client}


# ---- identity from a certificate -----------------------------------------------------------------


def test_identity_prefers_the_spiffe_id(ca):
    cert, _ = ca.issue("builder", uris=["https://example.org/x", SPIFFE_ID], dns=["builder.example.org"])
    assert certificate_identity(cert) == SPIFFE_ID


def test_identity_falls_back_to_dns_san_then_common_name(ca):
    assert (
        certificate_identity(ca.issue("ignored", dns=["svc.example.org", "b.example.org"])[0]) == "cert:svc.example.org"
    )
    assert certificate_identity(ca.issue("scanner-1")[0]) == "cert:scanner-1"


def test_two_spiffe_ids_or_no_name_are_refused(ca):
    with pytest.raises(Unauthenticated, match="2 SPIFFE IDs"):
        certificate_identity(ca.issue("x", uris=[SPIFFE_ID, "spiffe://example.org/other"])[0])
    with pytest.raises(Unauthenticated, match="names nobody"):
        certificate_identity(ca.issue(None)[0])


def test_malformed_spiffe_id_is_refused(ca):
    for uri in (
        "spiffe://example.org/ns?x=1",
        "spiffe://example.org:8443/ns",
        "spiffe://u@example.org/ns",
        "spiffe://[example.org/ns",  # urlsplit's ValueError was a 500
        "spiffe://example.org]/ns",
    ):
        with pytest.raises(Unauthenticated, match="malformed"):
            certificate_identity(ca.issue("x", uris=[uri])[0])
    assert certificate_identity(ca.issue("x", uris=["SPIFFE://Example.ORG/ns/ci"])[0]) == "spiffe://example.org/ns/ci"


# ---- a real TLS connection, as gunicorn hands it over ---------------------------------------------


def handshake(pki, verify_mode: int, send_client_cert: bool) -> ssl.SSLSocket:
    """Accept one TLS connection on 127.0.0.1 and return the server side of it."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(*pki["server"])
    server_ctx.verify_mode = verify_mode
    server_ctx.load_verify_locations(pki["ca"])
    client_ctx = ssl.create_default_context(cafile=pki["ca"])
    if send_client_cert:
        client_ctx.load_cert_chain(*pki["client"])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    client_side: list[ssl.SSLSocket] = []

    def connect():
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        tls = client_ctx.wrap_socket(raw, server_hostname="localhost")
        tls.sendall(b"x")  # with TLS 1.3 the client certificate is processed once the server reads
        client_side.append(tls)

    thread = threading.Thread(target=connect)
    thread.start()
    conn, _ = listener.accept()
    conn.settimeout(5)
    tls_server = server_ctx.wrap_socket(conn, server_side=True)
    tls_server.recv(1)
    thread.join(5)
    listener.close()
    tls_server._test_client = client_side  # keep the client end open while the test looks
    return tls_server


def test_client_certificate_from_the_tls_socket(pki):
    sock = handshake(pki, ssl.CERT_REQUIRED, send_client_cert=True)
    try:
        principal = MtlsAuthenticator().authenticate({}, {"gunicorn.socket": sock, "REMOTE_ADDR": "127.0.0.1"})
    finally:
        sock.close()
    assert (principal.id, principal.kind, principal.via) == (SPIFFE_ID, "service", "mtls")
    expected = x509.load_pem_x509_certificate(Path(pki["client"][0]).read_bytes()).fingerprint(hashes.SHA256()).hex()
    assert principal.proof == f"mtls:{expected}"  # which certificate, for the audit trail


def test_no_certificate_when_the_server_does_not_ask_for_one(pki):
    sock = handshake(pki, ssl.CERT_NONE, send_client_cert=True)
    try:
        assert MtlsAuthenticator().authenticate({}, {"gunicorn.socket": sock}) is None
    finally:
        sock.close()


def test_plain_socket_and_empty_environ_are_not_ours():
    a, b = socket.socketpair()
    with a, b:
        assert MtlsAuthenticator().authenticate({}, {"gunicorn.socket": a}) is None
    assert MtlsAuthenticator().authenticate({}, {}) is None


def test_ssl_client_cert_from_the_server(ca):
    cert, _ = ca.issue("scanner", dns=["scanner.example.org"])
    principal = MtlsAuthenticator().authenticate({}, {"SSL_CLIENT_CERT": pem(cert)})
    assert principal.id == "cert:scanner.example.org"


WSGI_APP = """
from grafeas_py.auth.mtls import MtlsAuthenticator

def app(environ, start_response):
    principal = MtlsAuthenticator().authenticate({}, environ)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [(principal.id if principal else "-").encode()]
"""


def test_through_gunicorn(pki, tmp_path):
    """gunicorn verifying client certificates: the environ it builds is enough to find the caller."""
    (tmp_path / "echo_app.py").write_text(WSGI_APP)
    server_cert, server_key = pki["server"]
    command = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "1"]
    command += ["--certfile", server_cert, "--keyfile", server_key, "--ca-certs", pki["ca"], "--cert-reqs", "2"]
    command += ["--chdir", str(tmp_path), "echo_app:app"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            found = re.search(r"Listening at: https://127\.0\.0\.1:(\d+)", line)
            port = int(found.group(1)) if found else None
            if not line and process.poll() is not None:
                break
        assert port, "gunicorn did not start"
        time.sleep(0.3)  # let the worker boot
        context = ssl.create_default_context(cafile=pki["ca"])
        context.load_cert_chain(*pki["client"])
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        connection.request("GET", "/")
        body = connection.getresponse().read().decode()
        connection.close()
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()
    assert body == SPIFFE_ID


# ---- X-Forwarded-Client-Cert from a proxy ---------------------------------------------------------

TRUSTING = MtlsSettings(trusted_proxies=(PROXY, "192.168.10.0/24"))


def xfcc_env(address: str = PROXY) -> dict:
    return {"REMOTE_ADDR": address}


def test_xfcc_parsing():
    header = (
        'By=spiffe://example.org/envoy;Hash=abc;Subject="CN=builder,O=Example, Inc.";URI=spiffe://example.org/a;'
        'DNS=a.example.org;DNS=b.example.org,By=spiffe://example.org/edge;Subject="CN=\\"quoted\\""'
    )
    first, second = parse_xfcc(header)
    assert first["subject"] == ["CN=builder,O=Example, Inc."]
    assert first["dns"] == ["a.example.org", "b.example.org"]
    assert first["uri"] == ["spiffe://example.org/a"]
    assert second == {"by": ["spiffe://example.org/edge"], "subject": ['CN="quoted"']}


def test_xfcc_cert_from_a_trusted_proxy(ca):
    cert, _ = ca.issue("builder", uris=[SPIFFE_ID])
    header = f'By=spiffe://example.org/envoy;Hash=x;Cert="{urllib.parse.quote(pem(cert), safe="")}";URI={SPIFFE_ID}'
    principal = MtlsAuthenticator(TRUSTING).authenticate({"X-Forwarded-Client-Cert": header}, xfcc_env())
    assert principal.id == SPIFFE_ID and principal.via == "mtls"
    assert principal.credential == cert.fingerprint(hashes.SHA256()).hex()  # the certificate's, not Hash=x


@pytest.mark.parametrize(
    "given, credential",
    [("A" * 64, "a" * 64), ("abc", ""), ("", "")],  # Envoy's Hash is the certificate's SHA-256 in hex
)
def test_xfcc_hash_names_the_certificate_when_it_is_a_sha256(given, credential):
    header = f"Hash={given};URI={SPIFFE_ID}"
    principal = MtlsAuthenticator(TRUSTING).authenticate({"X-Forwarded-Client-Cert": header}, xfcc_env())
    assert principal.credential == credential and principal.proof == (f"mtls:{credential}" if credential else "mtls")


@pytest.mark.parametrize(
    "header, identity",
    [
        (f"By=spiffe://example.org/envoy;URI={SPIFFE_ID}", SPIFFE_ID),
        ("Hash=x;DNS=scanner.example.org;DNS=other.example.org", "cert:scanner.example.org"),
        ('Hash=x;Subject="CN=scanner-2,OU=Security,O=Example"', "cert:scanner-2"),
        ('Hash=x;Subject="/C=US/O=Example/CN=Test Client"', "cert:Test Client"),
        # Each proxy appends an element: only the last, added by the proxy we trust, counts.
        (f"URI=spiffe://example.org/forged,By=spiffe://example.org/envoy;URI={SPIFFE_ID}", SPIFFE_ID),
    ],
)
def test_xfcc_fields_from_a_trusted_proxy(header, identity):
    principal = MtlsAuthenticator(TRUSTING).authenticate({"x-forwarded-client-cert": header}, xfcc_env())
    assert principal.id == identity


def test_xfcc_from_a_trusted_network_and_ipv4_mapped_address():
    auth = MtlsAuthenticator(TRUSTING)
    headers = {"X-Forwarded-Client-Cert": f"URI={SPIFFE_ID}"}
    assert auth.authenticate(headers, xfcc_env("192.168.10.77")).id == SPIFFE_ID
    assert auth.authenticate(headers, xfcc_env("::ffff:10.0.0.5")).id == SPIFFE_ID


def test_xfcc_from_an_untrusted_address_is_ignored(caplog):
    headers = {"X-Forwarded-Client-Cert": f"URI={SPIFFE_ID}"}
    assert MtlsAuthenticator(TRUSTING).authenticate(headers, xfcc_env("203.0.113.9")) is None
    assert "not a trusted proxy" in caplog.text
    assert MtlsAuthenticator(TRUSTING).authenticate(headers, {}) is None


def test_xfcc_is_ignored_unless_proxies_are_configured():
    headers = {"X-Forwarded-Client-Cert": f"URI={SPIFFE_ID}"}
    assert MtlsAuthenticator().authenticate(headers, xfcc_env()) is None


def test_untrusted_xfcc_does_not_hide_the_real_certificate(ca):
    cert, _ = ca.issue("real", dns=["real.example.org"])
    environ = {"REMOTE_ADDR": "203.0.113.9", "SSL_CLIENT_CERT": pem(cert)}
    principal = MtlsAuthenticator(TRUSTING).authenticate({"X-Forwarded-Client-Cert": f"URI={SPIFFE_ID}"}, environ)
    assert principal.id == "cert:real.example.org"


def test_trusted_proxy_without_xfcc_is_not_the_caller(ca):
    """The proxy's own certificate must never stand in for a client that showed none."""
    proxy_cert, _ = ca.issue("envoy", uris=["spiffe://example.org/envoy"])
    assert MtlsAuthenticator(TRUSTING).authenticate({}, {**xfcc_env(), "SSL_CLIENT_CERT": pem(proxy_cert)}) is None


@pytest.mark.parametrize(
    "header, message",
    [
        ('Subject="CN=unterminated', "malformed"),
        ("justtext", "malformed"),
        ("Hash=abc;By=spiffe://example.org/envoy", "names nobody"),
        ('Cert="not%20a%20certificate"', "cannot be read"),
        (f"URI={SPIFFE_ID};URI=spiffe://example.org/two", "2 SPIFFE IDs"),
    ],
)
def test_bad_xfcc_from_a_trusted_proxy_is_refused(header, message):
    with pytest.raises(Unauthenticated, match=message):
        MtlsAuthenticator(TRUSTING).authenticate({"X-Forwarded-Client-Cert": header}, xfcc_env())


def test_custom_header_name():
    auth = MtlsAuthenticator(MtlsSettings(trusted_proxies=(PROXY,), header="X-Client-Cert"))
    assert auth.authenticate({"X-Client-Cert": f"URI={SPIFFE_ID}"}, xfcc_env()).id == SPIFFE_ID


def test_bad_trusted_proxy_setting():
    with pytest.raises(ValueError, match="not an IP address"):
        MtlsSettings(trusted_proxies=("proxy.internal",))
