"""The attestation formats the gate reads and ingestion writes: in-toto statements in DSSE envelopes.

A test-result attestation, as CI posts it and the gate checks it, is a DSSE_ATTESTATION occurrence
whose `envelope.payloadType` is `IN_TOTO_PAYLOAD_TYPE` and whose payload is an in-toto Statement v1
with `predicateType` `TEST_RESULT_PREDICATE_TYPE` (https://github.com/in-toto/attestation, spec
predicates/test-result.md): `{"result": "PASSED" | "WARNED" | "FAILED", "configuration": [...],
"url": ..., "passedTests": [...], "warnedTests": [...], "failedTests": [...]}`. Its subject names
the artifact and carries its sha256 digest.

How the deploy gate reads it (grafeas_py/gate/attestation_checks.py, docs/policy.md "tests"): only
the envelope's payload counts (the occurrence's decoded `statement` is ignored, as no signature
covers it); `_type` must be one of `IN_TOTO_STATEMENT_TYPES`; some `subject[].digest.sha256` must equal the
artifact's digest in lowercase hex; signatures, when a policy requires them, are over
`pae(payloadType, payload)`. Results are grouped by `configuration`, and the newest occurrence
(by createTime) of each group decides, so a rerun of a suite replaces its earlier result.
"""

from __future__ import annotations

IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
# The Statement versions read: v0.1 is what `cosign attest` still writes, for every --type.
IN_TOTO_STATEMENT_TYPES = (IN_TOTO_STATEMENT_TYPE, "https://in-toto.io/Statement/v0.1")
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
TEST_RESULT_PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SIMPLE_SIGNING_PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
TEST_RESULTS = ("PASSED", "WARNED", "FAILED")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: the bytes a DSSE signature is computed over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
