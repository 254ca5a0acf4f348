"""DSSE envelopes as `cosign attest` writes them: a DSSE_ATTESTATION occurrence keeping the envelope exactly.

A document is one envelope, a Sigstore bundle holding one (`dsseEnvelope`; the bundle's certificate
or key is not kept: the gate verifies against keys it trusts), or JSON Lines of either, one
occurrence per line; a problem on a line is named by its number.

When the payload is an in-toto statement, the occurrence's `statement` carries its type, subjects
and predicate type, and the predicate itself when it is a provenance kind Grafeas models (SLSA 0.1
and 0.2, in-toto provenance 0.1); other predicates (test results, vulnerability scans, SLSA v1)
live in the envelope only. Any other payload type keeps only the envelope. The note stands for the
kind of attestation: its id is the predicate type (or, for other payloads, the payload type) made
safe for a note id, so every attestation of one kind shares a note. Signatures are kept, not
verified: verifying them is the gate's job, against keys it trusts.
"""

from __future__ import annotations

import hashlib

from grafeas_py.attestations import IN_TOTO_PAYLOAD_TYPE
from grafeas_py.errors import InvalidArgument

from . import reading as r
from .intoto import envelope_message, parse_envelope, statement_message, statement_payload, unwrap_bundle
from .plan import PlanBuilder, compact, uri_note_id


def ingest(raw: bytes, plan: PlanBuilder) -> None:
    """Plan the DSSE_ATTESTATION note and occurrence of each DSSE envelope (or Sigstore bundle) of a
    document, or of a JSON Lines file of them, as `cosign download attestation` writes several."""
    raw = r.utf8(raw)  # before splitting lines: a UTF-16 line break is two bytes
    try:
        _plan_envelope(r.as_object(r.load_json(raw), ""), plan)
        return
    except InvalidArgument:
        lines = r.json_lines(raw)
        if lines is None:
            raise  # one document (pretty-printed, say) with a problem of its own
    for number, line in lines:
        try:
            _plan_envelope(r.as_object(r.load_json(line), ""), plan)
        except InvalidArgument as exc:
            raise InvalidArgument(f"line {number}: {exc.message}") from None


def _plan_envelope(doc: dict, plan: PlanBuilder) -> None:
    doc, at = unwrap_bundle(doc)
    envelope = parse_envelope(doc, at)
    kind = envelope.payload_type
    attestation = {"envelope": envelope_message(envelope)}
    if envelope.payload_type == IN_TOTO_PAYLOAD_TYPE:
        statement = statement_payload(envelope, r.join(at, "payload"))
        kind = statement.predicate_type
        attestation["statement"] = statement_message(statement, r.join(at, "payload.predicate"))
    note = plan.note(
        uri_note_id(kind),
        {"shortDescription": f"Attestations of type {kind}", "dsseAttestation": {"hint": {"humanReadableName": kind}}},
    )
    # The same payload signed by another key is another attestation; re-posting one changes nothing.
    signatures = sorted(f"{s.keyid}:{hashlib.sha256(s.sig).hexdigest()}" for s in envelope.signatures)
    identity = ("dsse", envelope.payload_type, hashlib.sha256(envelope.payload).hexdigest(), *signatures)
    plan.occurrence(note, {"dsseAttestation": compact(**attestation)}, identity)
