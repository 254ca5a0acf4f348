"""Occurrences, keys and signed attestations for gate tests, in the canonical Grafeas JSON the server stores."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pysequoia import SignatureMode, Tsk
from pysequoia import sign as pgp_sign

from grafeas_py.attestations import (
    IN_TOTO_PAYLOAD_TYPE,
    IN_TOTO_STATEMENT_TYPE,
    TEST_RESULT_PREDICATE_TYPE,
    pae,
)
from grafeas_py.gate import parse_policy
from grafeas_py.gate.keys import algorithm_named, jws_algorithm

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DIGEST = hashlib.sha256(b"the app image manifest").hexdigest()
OTHER_DIGEST = hashlib.sha256(b"another image manifest").hexdigest()
IMAGE = f"gcr.io/acme/app@sha256:{DIGEST}"
URI = f"https://{IMAGE}"
OTHER_URI = f"https://gcr.io/acme/app@sha256:{OTHER_DIGEST}"

_counter = iter(range(1, 1_000_000))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def occurrence(kind: str, details: dict | None = None, *, note: str = "projects/vendor/notes/note", **kwargs) -> dict:
    """An occurrence of `kind` on URI; keyword arguments override top-level fields (uri=, name=, created=)."""
    number = next(_counter)
    created = kwargs.pop("created", NOW - timedelta(hours=2))
    result = {
        "name": kwargs.pop("name", f"projects/acme/occurrences/{kind.lower()}-{number}"),
        "resourceUri": kwargs.pop("uri", URI),
        "noteName": note,
        "kind": kind,
        "createTime": stamp(created),
        "updateTime": stamp(created),
    }
    if details is not None:
        result[_DETAILS[kind]] = details
    result.update(kwargs)
    return result


_DETAILS = {
    "VULNERABILITY": "vulnerability",
    "DISCOVERY": "discovery",
    "BUILD": "build",
    "ATTESTATION": "attestation",
    "DSSE_ATTESTATION": "dsseAttestation",
    "PACKAGE": "package",
    "COMPLIANCE": "compliance",
    "SECRET": "secret",
}


def vulnerability(
    cve: str = "CVE-2023-1234", severity: str = "HIGH", *, fixable: bool = True, provider_severity: str = "", **details
) -> dict:
    """A vulnerability on openssl: effectiveSeverity `severity`, severity `provider_severity`; fixable means a
    NORMAL fixedVersion, else a MAXIMUM one."""
    fixed = {"kind": "NORMAL", "name": "3.0.2"} if fixable else {"kind": "MAXIMUM"}
    body = {
        "effectiveSeverity": severity,
        "packageIssue": [
            {
                "affectedCpeUri": "cpe:/o:debian:debian_linux:12",
                "affectedPackage": "openssl",
                "affectedVersion": {"kind": "NORMAL", "name": "3.0.1"},
                "fixedCpeUri": "cpe:/o:debian:debian_linux:12",
                "fixedPackage": "openssl",
                "fixedVersion": fixed,
            }
        ],
    }
    if provider_severity:
        body["severity"] = provider_severity
    body.update(details)
    if body.get("effectiveSeverity") is None:
        body.pop("effectiveSeverity")
    return occurrence("VULNERABILITY", body, note=f"projects/goog-vulnz/notes/{cve}")


def discovery(status: str = "FINISHED_SUCCESS", scanned: datetime | None = None, **kwargs) -> dict:
    body = {"analysisStatus": status}
    if scanned is not None:
        body["lastScanTime"] = stamp(scanned)
    return occurrence("DISCOVERY", body, note="projects/vendor/notes/discovery", **kwargs)


def build(builder: str = "https://cloudbuild.googleapis.com/GoogleHostedWorker", source: str = "") -> dict:
    """A BUILD occurrence with SLSA v1 provenance naming a builder and a source repository."""
    predicate = {"runDetails": {"builder": {"id": builder}}}
    if source:
        predicate["buildDefinition"] = {"resolvedDependencies": [{"uri": source}]}
    return occurrence("BUILD", {"inTotoSlsaProvenanceV1": {"predicate": predicate}}, note="projects/vendor/notes/b")


def package(name: str, version: str = "", licence: str = "") -> dict:
    body: dict = {"name": name}
    if version:
        body["version"] = {"kind": "NORMAL", "name": version}
    if licence:
        body["license"] = {"expression": licence}
    return occurrence("PACKAGE", body, note=f"projects/vendor/notes/{name}")


def compliance(note: str, files: tuple[str, ...] = (), reason: str = "") -> dict:
    body: dict = {}
    if files:
        body["nonCompliantFiles"] = [{"path": path, "reason": "bad"} for path in files]
    if reason:
        body["nonComplianceReason"] = reason
    return occurrence("COMPLIANCE", body, note=note)


def secret(kind: str = "SECRET_KIND_GITHUB_CLASSIC_PERSONAL_ACCESS_TOKEN", *places: tuple[str, int]) -> dict:
    """A SECRET occurrence found at each (file path, line); line 0 leaves the line out."""
    locations = [
        {"fileLocation": {"filePath": path, **({"lineNumber": line} if line else {})}} for path, line in places
    ]
    return occurrence("SECRET", {"kind": kind, "locations": locations}, note="projects/vendor/notes/trivy-secret")


# ---- keys and signatures ---------------------------------------------------------------------------------------


@cache
def _rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _private_key(algorithm: str, fresh: bool):
    if algorithm == "ED25519":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm.startswith(
        ("ECDSA_", "EC_SIGN_")
    ):  # ECDSA_P256_SHA256, or Binary Authorization's alias EC_SIGN_P256_SHA256
        curve = {"P256": ec.SECP256R1, "P384": ec.SECP384R1, "P521": ec.SECP521R1}[algorithm.split("_")[-2]]
        return ec.generate_private_key(curve())
    bits = int(algorithm.split("_")[-2])
    # RSA key generation is slow: tests share one key per size unless they need a second, different key.
    return rsa.generate_private_key(public_exponent=65537, key_size=bits) if fresh else _rsa_key(bits)


@dataclass
class Signer:
    """A private key with the algorithm name and key id a policy declares for its public half."""

    algorithm: str
    key_id: str
    private_key: object

    @property
    def public_pem(self) -> str:
        public = self.private_key.public_key()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return pem.decode()

    def public_key(self) -> dict:
        return {"id": self.key_id, "algorithm": self.algorithm, "publicKeyPem": self.public_pem}

    def sign(self, data: bytes) -> bytes:
        key, name = self.private_key, self.algorithm
        digest = hashes.SHA512() if name.endswith("SHA512") else hashes.SHA384() if "384" in name else hashes.SHA256()
        if name == "ED25519":
            return key.sign(data)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(digest))
        if name.startswith("RSA_PSS_"):
            return key.sign(data, padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.DIGEST_LENGTH), digest)
        return key.sign(data, padding.PKCS1v15(), digest)


@dataclass
class PgpSigner:
    """An OpenPGP key (Sequoia's default, Ed25519): signs as `gpg --sign` (inline) or `--detach-sign` does."""

    tsk: Tsk

    @property
    def fingerprint(self) -> str:
        return self.tsk.extract_certificate().fingerprint.upper()

    @property
    def key_id(self) -> str:
        return f"openpgp4fpr:{self.fingerprint.lower()}"  # case and the URI prefix must not matter

    def public_key(self) -> dict:
        return {"asciiArmoredPgpPublicKey": str(self.tsk.extract_certificate())}

    def sign(self, data: bytes, mode: SignatureMode = SignatureMode.INLINE, armor: bool = True) -> bytes:
        return pgp_sign(self.tsk.signer(), data, mode=mode, armor=armor)


def pgp_signer() -> PgpSigner:
    return PgpSigner(Tsk.generate("attestor <attestor@example.org>"))


def signer(algorithm: str = "ECDSA_P256_SHA256", key_id: str = "key-1", fresh: bool = False) -> Signer:
    return Signer(algorithm, key_id, _private_key(algorithm, fresh))


def attestor(name: str, signers: list[Signer | PgpSigner], note: str | None = None) -> dict:
    """An attestor declaration for a policy document."""
    return {
        "name": name,
        "noteName": note or f"projects/acme/notes/{name}",
        "publicKeys": [s.public_key() for s in signers],
    }


def simple_signing(digest: str = DIGEST) -> bytes:
    document = {
        "critical": {
            "identity": {"docker-reference": "gcr.io/acme/app"},
            "image": {"docker-manifest-digest": f"sha256:{digest}"},
            "type": "Google cloud binauthz container signature",
        }
    }
    return json.dumps(document).encode()


def statement(digest: str = DIGEST, predicate_type: str = "https://slsa.dev/provenance/v1", predicate=None) -> bytes:
    document = {
        "_type": IN_TOTO_STATEMENT_TYPE,
        "subject": [{"name": "gcr.io/acme/app", "digest": {"sha256": digest}}],
        "predicateType": predicate_type,
        "predicate": predicate if predicate is not None else {},
    }
    return json.dumps(document).encode()


def results_payload(result: str = "PASSED", digest: str = DIGEST, configuration: str = "ci/unit.yaml") -> bytes:
    predicate = {"result": result, "configuration": [{"uri": configuration}], "passedTests": ["test_a"]}
    return statement(digest, TEST_RESULT_PREDICATE_TYPE, predicate)


def attestation_occurrence(payload: bytes, signatures: list[tuple[str, bytes]], note: str, **kwargs) -> dict:
    """An ATTESTATION occurrence with detached signatures over the payload."""
    body = {
        "serializedPayload": b64(payload),
        "signatures": [{"publicKeyId": key_id, "signature": b64(sig)} for key_id, sig in signatures],
    }
    return occurrence("ATTESTATION", body, note=note, **kwargs)


def signed_attestation(by: Signer | PgpSigner, note: str, payload: bytes | None = None, **kwargs) -> dict:
    payload = simple_signing() if payload is None else payload
    return attestation_occurrence(payload, [(by.key_id, by.sign(payload))], note, **kwargs)


def dsse_occurrence(payload: bytes, signatures: list[tuple[str, bytes]], note: str, **kwargs) -> dict:
    payload_type = kwargs.pop("payload_type", IN_TOTO_PAYLOAD_TYPE)
    envelope = {
        "payload": b64(payload),
        "payloadType": payload_type,
        "signatures": [{"keyid": key_id, "sig": b64(sig)} for key_id, sig in signatures],
    }
    return occurrence("DSSE_ATTESTATION", {"envelope": envelope}, note=note, **kwargs)


def signed_dsse(by: Signer | None, note: str, payload: bytes | None = None, **kwargs) -> dict:
    payload = statement() if payload is None else payload
    payload_type = kwargs.get("payload_type", IN_TOTO_PAYLOAD_TYPE)
    signatures = [(by.key_id, by.sign(pae(payload_type, payload)))] if by else []
    return dsse_occurrence(payload, signatures, note, **kwargs)


def binauthz_claims(digest: str = DIGEST, **claims) -> dict:
    """The claims of a JWT attestation as Binary Authorization writes them."""
    return {
        "sub": f"container:digest:sha256:{digest}",
        "aud": "//binaryauthorization.googleapis.com",
        "attestationType": "claimless",
        **claims,
    }


def compact_jwt(by: Signer, claims: dict | None = None, **headers) -> str:
    """A compact JWS signed by `by` with its algorithm's JWS name, naming its key id (kid) unless told otherwise."""
    algorithm = jws_algorithm(algorithm_named(by.algorithm))
    headers = {"kid": by.key_id, **headers}
    claims = binauthz_claims() if claims is None else claims
    return jwt.encode(claims, by.private_key, algorithm=algorithm, headers={k: v for k, v in headers.items() if v})


def jwt_occurrence(tokens: list[str], note: str, **kwargs) -> dict:
    """An ATTESTATION occurrence carrying JWTs (and, with payload= and signatures=, a signed payload too)."""
    body = {"jwts": [{"compactJwt": token} for token in tokens]}
    if "payload" in kwargs:
        body["serializedPayload"] = b64(kwargs.pop("payload"))
        body["signatures"] = [{"publicKeyId": k, "signature": b64(sig)} for k, sig in kwargs.pop("signatures")]
    return occurrence("ATTESTATION", body, note=note, **kwargs)


def make_policy(rules: dict | None = None, **document):
    """A parsed policy from its rules (and any other top-level fields)."""
    return parse_policy({"rules": rules or {}, **document})


def codes(violations) -> list[str]:
    return [violation.code for violation in violations]
