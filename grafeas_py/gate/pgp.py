"""OpenPGP attestor keys and signatures, through Sequoia-PGP (pysequoia): Kritis's and Binary Authorization's PGP form.

`gcloud` and Kritis record a PGP attestation as the payload in `serializedPayload` and, in the
signature, what `gpg --armor --sign` wrote: a signed message carrying the payload itself. Grafeas
asks verifiers to trust only the explicitly provided payload, so such a signature counts only when
the message it carries is exactly `serializedPayload`. A detached signature (`gpg --detach-sign`)
over the payload counts too. Either may be ASCII-armored or binary. Sequoia's standard policy
decides which hash and key algorithms are still acceptable (no SHA-1 signatures, for one), and
whether the key was valid when it signed. A key or signing subkey revoked for any reason, or past its
expiration at the time of the decision, verifies nothing: a signature's time is what its signer says,
so a key retired or expired could otherwise go on signing under an earlier date. A signed message that would
inflate past what carrying the payload needs is refused before Sequoia inflates it, and Sequoia reads
only the packets that check walked (pgp_packets).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta

from pysequoia import ArmorKind, Cert, Sig, armor, verify
from pysequoia.packet import PacketPile, SignatureType, Tag

from .pgp_packets import frame

FINGERPRINT_URI = "openpgp4fpr:"  # the publicKeyId form Grafeas recommends (IANA's openpgp4fpr scheme)
# What a signed message holds besides the payload: packet headers, the literal data's file name and date,
# one-pass signatures and signatures (a few hundred bytes each, more with notations).
_FRAMING = 64 * 1024


def load_pgp_key(text: str) -> Cert:
    """One OpenPGP public key, ASCII-armored (or base64 of that, as Kritis stores it); raises ValueError."""
    if not text.strip():
        raise ValueError("must not be empty")
    data = text.encode()
    if b"-----BEGIN " in data and b"-----BEGIN PGP" not in data:
        raise ValueError("is a PEM key, not an OpenPGP key; give a PKIX key as publicKeyPem with its algorithm")
    if b"-----BEGIN PGP" not in data:
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is neither an ASCII-armored OpenPGP key nor base64 of one") from None
    try:
        certs = Cert.split_bytes(data)
        # A packet of a tag Sequoia does not know raises as its tag is read.
        tags = [packet.tag for packet in PacketPile.from_bytes(data)]
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"is not an OpenPGP public key: {sequoia_reason(exc)}") from None
    if any(tag in (Tag.SecretKey, Tag.SecretSubkey) for tag in tags):
        # The policy document is stored and shown to whoever may read policies.
        raise ValueError("holds secret key material; give the public key only (gpg --armor --export KEY)")
    if not certs:
        raise ValueError("is not an OpenPGP public key: it holds no key")
    if len(certs) != 1:
        raise ValueError(f"holds {len(certs)} keys; give one key per entry")
    return certs[0]


def fingerprint(cert: Cert) -> str:
    """The key's fingerprint, upper-case hex: the key id Binary Authorization gives a PGP key."""
    return cert.fingerprint.upper()


def normalize_key_id(key_id: str) -> str:
    """A signature's publicKeyId as a fingerprint: `openpgp4fpr:` and case do not matter."""
    return key_id.removeprefix(FINGERPRINT_URI).upper()


def verifies(cert: Cert, signature: bytes, payload: bytes, now: datetime) -> bool:
    """Whether `signature` is the key's detached signature over `payload`, or its signed message carrying exactly
    it, and the key is neither revoked nor expired at `now`."""
    if cert.is_revoked or (cert.expiration is not None and cert.expiration <= now):
        return False
    store = lambda _key_ids: [cert]  # noqa: E731 - the attestor's key is the only one trusted here
    framed = frame(signature, len(payload) + _FRAMING)
    if framed is None:
        return False
    retired = _retired_subkeys(cert, now)
    if framed.signatures:  # detached, or a cleartext signature's block: each over the payload itself
        return any(_verifies_detached(store, packet, payload, retired) for packet in framed.signatures)
    try:
        # Armored again: given binary whose first header it finds invalid, Sequoia reads it as armor
        # and would find a bomb inside a packet's body that the walk took as opaque bytes.
        result = verify(bytes=armor(framed.packets, ArmorKind.Message).encode(), store=store)
    # No valid signature, or not an OpenPGP message at all; OSError: a message larger than Sequoia's buffer.
    except (RuntimeError, ValueError, OSError):
        return False
    return result.bytes == payload and _signed_by_current_key(result, retired)


def _verifies_detached(store, signature: bytes, payload: bytes, retired: set[str]) -> bool:
    """Whether one signature packet is a valid signature over `payload` by a current key of `store`."""
    try:
        result = verify(bytes=payload, store=store, signature=Sig.from_bytes(signature))
    except (RuntimeError, ValueError, OSError):
        return False
    return _signed_by_current_key(result, retired)


def _signed_by_current_key(result, retired: set[str]) -> bool:
    """Whether a valid signature of Sequoia's `result` was made by the primary key or a subkey not retired."""
    return any(sig.signing_key.lower() not in retired for sig in result.valid_sigs)


@dataclass
class _Subkey:
    """What a cert's own signatures say of one subkey: its newest binding's date and validity, and whether it
    was revoked."""

    created: datetime
    bound: datetime | None = None
    validity: timedelta | None = None
    revoked: bool = False

    def retired(self, now: datetime) -> bool:
        """Revoked for any reason, or expired at `now`."""
        return self.revoked or (self.validity is not None and self.created + self.validity <= now)


def _retired_subkeys(cert: Cert, now: datetime) -> set[str]:
    """Fingerprints (lower-case) of the cert's subkeys revoked for any reason or expired at `now`.

    Sequoia judges a subkey at the date its signature names, as it does the primary key, and that date is
    the signer's to choose; pysequoia exposes no subkey's validity, so it is read from the cert's own
    binding and revocation signatures (the newest binding sets the expiry). Those are taken unverified:
    the cert is the policy's, and a forged revocation or expiry could only refuse more."""
    subkeys: dict[str, _Subkey] = {}
    current = None
    for packet in PacketPile.from_bytes(bytes(cert)):
        if packet.tag == Tag.PublicSubkey:
            current = subkeys.setdefault(packet.fingerprint.lower(), _Subkey(packet.key_created))
        elif packet.tag != Tag.Signature:
            current = None  # the primary key, a user id: their signatures are Sequoia's to judge
        elif current is not None and packet.signature_type == SignatureType.SubkeyRevocation:
            current.revoked = True
        elif current is not None and packet.signature_type == SignatureType.SubkeyBinding:
            made = packet.signature_created  # none in a binding Sequoia would not take; it counts as oldest
            if current.bound is None or (made is not None and made >= current.bound):
                current.bound, current.validity = made, packet.key_validity_period
    return {fingerprint for fingerprint, subkey in subkeys.items() if subkey.retired(now)}


def sequoia_reason(exc: Exception) -> str:
    """Sequoia's message without the Rust backtrace that RUST_BACKTRACE appends."""
    return str(exc).split("\n", 1)[0].strip() or type(exc).__name__
