"""Signing attestations the gate verifies: the private-key half of `keys` and `pgp`, for `grafeas-py attest sign`."""

from __future__ import annotations

import base64
import json
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pysequoia import SignatureMode, Tsk
from pysequoia import sign as pgp_sign

from ..errors import InvalidArgument
from .artifacts import parse_artifact
from .jwt_attestations import SUBJECT_PREFIX
from .keys import Algorithm, algorithm_named, algorithms_for, default_key_id, describe_key, jws_algorithm
from .pgp import sequoia_reason

_CURVES = {"secp256r1": "ECDSA_P256_SHA256", "secp384r1": "ECDSA_P384_SHA384", "secp521r1": "ECDSA_P521_SHA512"}


def is_pgp_secret_key(data: bytes) -> bool:
    """Whether a key file holds an ASCII-armored OpenPGP secret key (`gpg --armor --export-secret-keys`)."""
    return b"-----BEGIN PGP PRIVATE KEY BLOCK-----" in data


def load_private_key(pem: bytes, password: bytes | None = None):
    """A PEM private key (Ed25519, ECDSA or RSA); InvalidArgument saying why not."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"cannot read the private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise InvalidArgument(f"unsupported key type {type(key).__name__}; use Ed25519, ECDSA or RSA")
    return key


def default_algorithm(key) -> str:
    """The algorithm a policy should declare for this key, when the signer does not name one."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ED25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _CURVES.get(key.curve.name) or _unsupported(key.curve.name)
    return f"RSA_SIGN_PKCS1_{key.key_size}_SHA256"


def _unsupported(curve: str) -> str:
    raise InvalidArgument(f"unsupported curve {curve}; use P-256, P-384 or P-521")


def sign(key, algorithm: Algorithm, data: bytes) -> bytes:
    """A signature of `data` that `keys.verify` accepts for the key's public half."""
    if algorithm.family == "ed25519":
        return key.sign(data)
    if algorithm.family == "ecdsa":
        return key.sign(data, ec.ECDSA(algorithm.hash()))
    if algorithm.family == "rsa-pkcs1":
        return key.sign(data, padding.PKCS1v15(), algorithm.hash())
    pss = padding.PSS(mgf=padding.MGF1(algorithm.hash()), salt_length=padding.PSS.DIGEST_LENGTH)
    return key.sign(data, pss, algorithm.hash())


def _pinned_digest(resource_uri: str) -> str:
    """The sha256 digest an artifact URI pins; InvalidArgument when it pins none."""
    artifact = parse_artifact(resource_uri)
    if artifact.digest is None:
        raise InvalidArgument(
            f"{resource_uri!r} does not pin a sha256 digest: sign an artifact by digest (...@sha256:<hex>)"
        )
    return artifact.digest


def simple_signing_payload(resource_uri: str) -> bytes:
    """The Atomic "simple signing" document for an image (Kritis and Binary Authorization verify it)."""
    digest = _pinned_digest(resource_uri)
    reference = resource_uri.split("://", 1)[-1].rsplit("@", 1)[0].split("#", 1)[0]
    document = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": f"sha256:{digest}"},
            "type": "grafeas-py container signature",
        }
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def binauthz_jwt(key, algorithm: Algorithm, key_id: str, resource_uri: str) -> str:
    """A JWT attestation as Binary Authorization writes one: its `sub` names the artifact's digest."""
    claims = {
        "sub": f"{SUBJECT_PREFIX}{_pinned_digest(resource_uri)}",
        "aud": "//binaryauthorization.googleapis.com",
        "attestationType": "claimless",
        "iat": int(time.time()),
    }
    return jwt.encode(claims, key, algorithm=jws_algorithm(algorithm), headers={"kid": key_id})


def attestation_occurrence(
    key,
    resource_uri: str,
    note_name: str,
    algorithm: str | None = None,
    key_id: str | None = None,
    as_jwt: bool = False,
) -> dict:
    """An ATTESTATION occurrence body: the simple-signing payload and its signature, or (as_jwt) a signed JWT."""
    name = algorithm or default_algorithm(key)
    try:
        chosen = algorithm_named(name)
    except KeyError:
        raise InvalidArgument(f"unknown algorithm {name!r}; {_signs_with(key.public_key())}") from None
    if chosen.name not in algorithms_for(key.public_key()):
        raise InvalidArgument(f"cannot sign with {chosen.name}: {_signs_with(key.public_key())}")
    key_id = key_id or default_key_id(key.public_key())
    try:
        if as_jwt:
            details = {"jwts": [{"compactJwt": binauthz_jwt(key, chosen, key_id, resource_uri)}]}
        else:
            payload = simple_signing_payload(resource_uri)
            signature = base64.b64encode(sign(key, chosen, payload)).decode()
            details = {
                "serializedPayload": base64.b64encode(payload).decode(),
                "signatures": [{"publicKeyId": key_id, "signature": signature}],
            }
    except (TypeError, ValueError, AttributeError, jwt.InvalidKeyError) as exc:
        raise InvalidArgument(f"this key cannot sign with {chosen.name}: {exc}") from None
    return {"resourceUri": resource_uri, "noteName": note_name, "attestation": details}


def _signs_with(public) -> str:
    """What a key can sign with, said for an error message."""
    usable = algorithms_for(public)
    if not usable:
        return f"the gate knows no algorithm for {describe_key(public)}"
    return f"{describe_key(public)} signs with {', '.join(usable)}"


def pgp_attestation_occurrence(
    armored: bytes, resource_uri: str, note_name: str, password: str | None = None, key_id: str | None = None
) -> dict:
    """An ATTESTATION occurrence as `gcloud ... attestations create` records a PGP one: the simple-signing
    payload, and the message `gpg --armor --sign` makes of it, named by the key's fingerprint."""
    try:
        secret = Tsk.from_bytes(armored)
    except (RuntimeError, ValueError) as exc:
        raise InvalidArgument(f"cannot read the OpenPGP key: {sequoia_reason(exc)}") from None
    try:
        signer = secret.signer(password)
    except (RuntimeError, ValueError) as exc:
        if password is None:
            message = (
                f"cannot sign with the OpenPGP key ({sequoia_reason(exc)}); if it has a password, use --password-env"
            )
        else:
            message = f"cannot unlock the OpenPGP key with the password given ({sequoia_reason(exc)})"
        raise InvalidArgument(message) from None
    payload = simple_signing_payload(resource_uri)
    signed = pgp_sign(signer, payload, mode=SignatureMode.INLINE, armor=True)
    key_id = key_id or secret.extract_certificate().fingerprint.upper()
    details = {
        "serializedPayload": base64.b64encode(payload).decode(),
        "signatures": [{"publicKeyId": key_id, "signature": base64.b64encode(signed).decode()}],
    }
    return {"resourceUri": resource_uri, "noteName": note_name, "attestation": details}
