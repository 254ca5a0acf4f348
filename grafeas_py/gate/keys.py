"""Attestor public keys (PKIX PEM) and signature verification, named like Binary Authorization's algorithms.

ECDSA signatures are accepted DER-encoded (what OpenSSL, cosign and Cloud KMS produce) and, as a
fallback, as raw r||s (IEEE P1363, what some DSSE signers produce). RSA-PSS signatures verify with
MGF1 over the same hash and any salt length.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

PublicKeyObject = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class Algorithm:
    """A signature algorithm: the key type and size it needs, and its hash."""

    name: str
    family: str  # "ed25519" | "ecdsa" | "rsa-pkcs1" | "rsa-pss"
    hash: type[hashes.HashAlgorithm] | None
    curve: type[ec.EllipticCurve] | None = None
    rsa_bits: int | None = None


def _rsa(family: str, bits: int, hash_bits: int) -> Algorithm:
    prefix = "RSA_SIGN_PKCS1" if family == "rsa-pkcs1" else "RSA_PSS"
    digest = hashes.SHA256 if hash_bits == 256 else hashes.SHA512
    return Algorithm(f"{prefix}_{bits}_SHA{hash_bits}", family, digest, rsa_bits=bits)


_ALL = [
    Algorithm("ED25519", "ed25519", None),
    Algorithm("ECDSA_P256_SHA256", "ecdsa", hashes.SHA256, ec.SECP256R1),
    Algorithm("ECDSA_P384_SHA384", "ecdsa", hashes.SHA384, ec.SECP384R1),
    Algorithm("ECDSA_P521_SHA512", "ecdsa", hashes.SHA512, ec.SECP521R1),
    *(_rsa(family, bits, 256) for family in ("rsa-pkcs1", "rsa-pss") for bits in (2048, 3072, 4096)),
    _rsa("rsa-pkcs1", 4096, 512),
    _rsa("rsa-pss", 4096, 512),
]
ALGORITHMS: dict[str, Algorithm] = {algorithm.name: algorithm for algorithm in _ALL}
# Binary Authorization's aliases for the ECDSA names (its proto gives both).
ALIASES = {f"EC_SIGN_{name.removeprefix('ECDSA_')}": name for name in ALGORITHMS if name.startswith("ECDSA_")}


def algorithm_named(name: str) -> Algorithm:
    """The algorithm for a name or alias; raises KeyError for an unknown name."""
    return ALGORITHMS[ALIASES.get(name, name)]


def load_public_key(pem: str, algorithm: Algorithm) -> PublicKeyObject:
    """Load a PKIX (SubjectPublicKeyInfo) PEM key; raises ValueError unless it fits the algorithm."""
    blocks = pem.count("-----BEGIN ")
    if blocks > 1:  # the first alone would be loaded, and the others silently trusted by no one
        raise ValueError(f"holds {blocks} PEM blocks; give one key per entry")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm, TypeError):
        raise ValueError("is not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    problem = _mismatch(key, algorithm)
    if problem:
        raise ValueError(f"{problem}, which does not fit algorithm {algorithm.name}")
    return key


def _mismatch(key: object, algorithm: Algorithm) -> str | None:
    if algorithm.family == "ed25519":
        return None if isinstance(key, ed25519.Ed25519PublicKey) else f"is {describe_key(key)}"
    if algorithm.family == "ecdsa":
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, algorithm.curve):
            return None
        return f"is {describe_key(key)}"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size == algorithm.rsa_bits:
        return None
    return f"is {describe_key(key)}"


def algorithms_for(key: PublicKeyObject) -> list[str]:
    """The names of the algorithms a key signs (and verifies) with."""
    return [algorithm.name for algorithm in _ALL if _mismatch(key, algorithm) is None]


def describe_key(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"a {key.key_size}-bit RSA key"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an EC key on curve {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "an Ed25519 key"
    return f"a {type(key).__name__}"


def default_key_id(key: PublicKeyObject) -> str:
    """An RFC 6920 `ni:///sha-256;...` id from the key's DER encoding, as Binary Authorization derives PKIX ids."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    return f"ni:///sha-256;{digest}"


def verify(key: PublicKeyObject, algorithm: Algorithm, signature: bytes, data: bytes) -> bool:
    """Whether `signature` is a valid signature of `data` under the key."""
    try:
        if algorithm.family == "ed25519":
            key.verify(signature, data)
        elif algorithm.family == "ecdsa":
            return _verify_ecdsa(key, algorithm, signature, data)
        elif algorithm.family == "rsa-pkcs1":
            key.verify(signature, data, padding.PKCS1v15(), algorithm.hash())
        else:
            pss = padding.PSS(mgf=padding.MGF1(algorithm.hash()), salt_length=padding.PSS.AUTO)
            key.verify(signature, data, pss, algorithm.hash())
    except (InvalidSignature, ValueError):
        return False
    return True


def _verify_ecdsa(key: ec.EllipticCurvePublicKey, algorithm: Algorithm, signature: bytes, data: bytes) -> bool:
    scheme = ec.ECDSA(algorithm.hash())
    try:
        key.verify(signature, data, scheme)
        return True
    except (InvalidSignature, ValueError):
        pass
    size = (key.curve.key_size + 7) // 8
    if len(signature) != 2 * size:
        return False
    r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    try:
        key.verify(encode_dss_signature(r, s), data, scheme)
    except (InvalidSignature, ValueError):
        return False
    return True


def jws_algorithm(algorithm: Algorithm) -> str:
    """The JWS `alg` (RFC 7518, RFC 8037) that signs as `algorithm` does: ES256, PS512, RS256, EdDSA, ..."""
    if algorithm.family == "ed25519":
        return "EdDSA"
    prefix = {"ecdsa": "ES", "rsa-pkcs1": "RS", "rsa-pss": "PS"}[algorithm.family]
    return f"{prefix}{algorithm.hash.digest_size * 8}"
