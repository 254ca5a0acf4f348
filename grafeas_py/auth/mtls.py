"""Mutual TLS: the caller is whoever its verified client certificate names.

Where the certificate comes from:

- gunicorn terminating TLS itself (`--certfile --keyfile --ca-certs --cert-reqs 2`) puts no
  certificate variable in the WSGI environ, only the connection as `environ["gunicorn.socket"]`;
  when that is an SSL socket whose context verifies clients, `getpeercert(binary_form=True)` is
  the DER of the certificate the handshake verified against `--ca-certs`.
- Werkzeug's server (and Apache's mod_wsgi) put the verified certificate as PEM in
  `environ["SSL_CLIENT_CERT"]`. Clients cannot set it: their headers arrive as `HTTP_*`.
- Behind a TLS-terminating proxy such as Envoy, the `X-Forwarded-Client-Cert` header (XFCC). It is
  honoured only when trusted proxy addresses are configured and the connection comes from one of
  them; the proxy must replace, never pass on, an XFCC sent by the client (Envoy:
  `forward_client_cert_details: SANITIZE_SET`, or APPEND_FORWARD, since only its own last element
  is read here).

This module does not verify certificate chains: the TLS layer (gunicorn, or the proxy) did that.

Identity: the certificate's SPIFFE ID (its URI SAN `spiffe://...`; a certificate with two is
refused, as the SPIFFE X.509-SVID rules require one), else `cert:<first DNS SAN>`, else
`cert:<subject CN>`. All are principals of kind `service`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from ..errors import Unauthenticated
from .headers import get_header
from .principal import Principal

log = logging.getLogger("grafeas_py.auth")

XFCC_HEADER = "X-Forwarded-Client-Cert"
SPIFFE_SCHEME = "spiffe://"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class MtlsSettings:
    """Where client certificates may come from besides the TLS connection itself."""

    # Addresses or networks (e.g. "10.0.0.5", "10.1.0.0/16") whose XFCC header is believed; empty: never.
    trusted_proxies: tuple[str, ...] = ()
    header: str = XFCC_HEADER

    def __post_init__(self) -> None:
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"trusted proxy {entry!r} is not an IP address or network") from None

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies)


def certificate_identity(cert: x509.Certificate) -> str:
    """The principal id a certificate names: its SPIFFE ID, else `cert:` and its DNS SAN or subject CN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        uris, dns_names = [], []
    except ValueError as exc:  # a malformed or repeated extension
        raise Unauthenticated(f"the client certificate's extensions cannot be read: {exc}") from None
    else:
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        dns_names = san.get_values_for_type(x509.DNSName)
    spiffe = [u for u in uris if u.lower().startswith(SPIFFE_SCHEME)]
    if len(spiffe) > 1:
        raise Unauthenticated(f"the client certificate holds {len(spiffe)} SPIFFE IDs; an X.509-SVID holds one")
    if spiffe:
        return check_spiffe_id(spiffe[0])
    if dns_names:
        return f"cert:{dns_names[0]}"
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names and common_names[0].value:
        return f"cert:{common_names[0].value}"
    raise Unauthenticated("the client certificate names nobody: no SPIFFE ID, DNS name or common name")


def check_spiffe_id(uri: str) -> str:
    """A SPIFFE ID as the principal id: `spiffe://<trust domain>/<path>`; no port, user, query or fragment."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:  # brackets: an IPv6 literal gone wrong
        raise Unauthenticated(f"the client certificate's SPIFFE ID {uri!r} is malformed") from None
    malformed = parts.scheme.lower() != "spiffe" or not parts.netloc or parts.query or parts.fragment
    if malformed or "@" in parts.netloc or ":" in parts.netloc:
        raise Unauthenticated(f"the client certificate's SPIFFE ID {uri!r} is malformed")
    return f"spiffe://{parts.netloc.lower()}{parts.path}"


def _principal(identity: str, fingerprint: str) -> Principal:
    return Principal(identity, "service", via="mtls", credential=fingerprint)


def fingerprint(cert: x509.Certificate) -> str:
    """The certificate's SHA-256 (of its DER form) in hex, as Envoy's XFCC `Hash` gives it."""
    return cert.fingerprint(hashes.SHA256()).hex()


def peer_certificate(environ: Mapping) -> x509.Certificate | None:
    """The client certificate the server's own TLS layer verified, if any."""
    sock = environ.get("gunicorn.socket")
    context = getattr(sock, "context", None)
    if hasattr(sock, "getpeercert") and context is not None and context.verify_mode != ssl.CERT_NONE:
        der = sock.getpeercert(binary_form=True)
        if der:
            return x509.load_der_x509_certificate(der)
    pem = environ.get("SSL_CLIENT_CERT")
    if pem:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    return None


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` outside double quotes (XFCC quotes values that hold , ; or =)."""
    parts, start, quoted, escaped = [], 0, False, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:i])
            start = i + 1
    if quoted:
        raise ValueError("unbalanced double quotes")
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_xfcc(header: str) -> list[dict[str, list[str]]]:
    """Envoy's XFCC header as elements (one per proxy, oldest first) of lower-cased key -> values."""
    elements = []
    for raw in _split(header, ","):
        if not raw.strip():
            continue
        element: dict[str, list[str]] = {}
        for pair in _split(raw, ";"):
            key, equals, value = pair.partition("=")
            if not equals or not key.strip():
                raise ValueError(f"{pair.strip()!r} is not key=value")
            element.setdefault(key.strip().lower(), []).append(_unquote(value))
        elements.append(element)
    return elements


def _subject_common_name(subject: str) -> str | None:
    """CN from an XFCC Subject: RFC 4514 (`CN=a,O=b`) or the OpenSSL one-line form (`/O=b/CN=a`)."""
    if subject.startswith("/"):
        names = [part[3:] for part in subject.split("/") if part.upper().startswith("CN=")]
        return names[-1] if names else None
    try:
        attributes = x509.Name.from_rfc4514_string(subject).get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return None
    return str(attributes[0].value) if attributes else None


def xfcc_client(header: str) -> tuple[str, str]:
    """The principal id of the client that the nearest proxy saw (the last element of the header), and
    its certificate's fingerprint (its `Cert`'s, or the `Hash` the proxy gives; "" if neither)."""
    try:
        elements = parse_xfcc(header)
    except ValueError as exc:
        raise Unauthenticated(f"malformed {XFCC_HEADER} header: {exc}") from None
    if not elements:
        raise Unauthenticated(f"the {XFCC_HEADER} header is empty")
    element = elements[-1]
    if "cert" in element:
        try:
            cert = x509.load_pem_x509_certificate(urllib.parse.unquote(element["cert"][0]).encode("ascii"))
        except ValueError as exc:
            raise Unauthenticated(f"the certificate in {XFCC_HEADER} cannot be read: {exc}") from None
        return certificate_identity(cert), fingerprint(cert)
    given = element.get("hash", [""])[0].lower()
    return _xfcc_identity(element), given if _SHA256_HEX.fullmatch(given) else ""


def _xfcc_identity(element: dict[str, list[str]]) -> str:
    """The principal id an XFCC element without `Cert` names."""
    spiffe = [u for u in element.get("uri", []) if u.lower().startswith(SPIFFE_SCHEME)]
    if len(spiffe) > 1:
        raise Unauthenticated(f"the {XFCC_HEADER} header names {len(spiffe)} SPIFFE IDs for one client")
    if spiffe:
        return check_spiffe_id(spiffe[0])
    if element.get("dns"):
        return f"cert:{element['dns'][0]}"
    common_name = _subject_common_name(element.get("subject", [""])[0])
    if common_name:
        return f"cert:{common_name}"
    raise Unauthenticated(f"the {XFCC_HEADER} header names nobody: no Cert, SPIFFE URI, DNS or Subject CN")


class MtlsAuthenticator:
    """Accepts a verified client certificate, from the TLS connection or a trusted proxy's XFCC header."""

    name = "mtls"

    def __init__(self, settings: MtlsSettings | None = None) -> None:
        self.settings = settings or MtlsSettings()
        self._networks = self.settings.proxy_networks

    def _from_trusted_proxy(self, environ: Mapping) -> bool:
        try:
            address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(address in network for network in self._networks)

    def authenticate(self, headers: Mapping[str, str], environ: Mapping) -> Principal | None:
        header = get_header(headers, self.settings.header) if self._networks else None
        if self._networks and self._from_trusted_proxy(environ):
            # The TLS peer is the proxy itself: only the header speaks for the caller. Without it the
            # caller showed the proxy no certificate, and must not pass as the proxy.
            return _principal(*xfcc_client(header)) if header is not None else None
        if header is not None:
            log.warning("ignoring %s from %s, not a trusted proxy", self.settings.header, environ.get("REMOTE_ADDR"))
        cert = peer_certificate(environ)
        return _principal(certificate_identity(cert), fingerprint(cert)) if cert is not None else None
