"""SLSA v1 provenance, as an in-toto statement or a DSSE envelope holding one: a BUILD occurrence.

The occurrence carries the statement as `inTotoSlsaProvenanceV1` and a summary as `provenance`
(id: the run's invocationId, else the statement's sha256; builderVersion: the builder id; start and
end times; the subjects as built artifacts). From an envelope, the occurrence also keeps the signed
envelope itself in `envelope`; a bare statement is kept byte for byte in `provenanceBytes`, since
reading it drops members Grafeas does not model. The note is named after the builder id (without
its scheme, made safe for a note id) and holds it as builderVersion. Whether the subjects include
this resource is for the gate to judge, not ingestion.
"""

from __future__ import annotations

import hashlib

from grafeas_py.attestations import SLSA_PROVENANCE_V1
from grafeas_py.errors import InvalidArgument

from . import reading as r
from .intoto import Statement, envelope_message, read_statement, to_message
from .plan import PlanBuilder, compact, uri_note_id

PREDICATE_MESSAGE = "grafeas.v1.InTotoSlsaProvenanceV1.SlsaProvenanceV1"


def ingest(raw: bytes, plan: PlanBuilder) -> None:
    """Plan the BUILD note and occurrence of a SLSA v1 provenance statement or envelope, or of each
    bundle of SLSA provenance in a file of one bundle per line."""
    raw = r.utf8(raw)  # a bare statement is kept as text, and hashed, in UTF-8 whatever it came in
    lines = r.json_lines(raw)
    if lines is None:
        _plan_build(raw, r.as_object(r.load_json(raw), ""), plan)
        return
    # `gh attestation download` writes every attestation of the artifact, one bundle a line: its
    # SBOM's too, which are left out here.
    found = []
    for number, line in lines:
        try:
            doc = r.as_object(r.load_json(line), "")
            predicate_type = read_statement(doc)[0].predicate_type
            if predicate_type == SLSA_PROVENANCE_V1:
                _plan_build(line, doc, plan)
        except InvalidArgument as error:
            raise InvalidArgument(f"line {number}: {error.message}") from None
        found.append(predicate_type)
    if SLSA_PROVENANCE_V1 not in found:
        r.fail("", f"no line holds {SLSA_PROVENANCE_V1!r}, only {', '.join(map(repr, dict.fromkeys(found)))}")


def _plan_build(raw: bytes, doc, plan: PlanBuilder) -> None:
    statement, envelope, where = read_statement(r.as_object(doc, ""))
    if statement.predicate_type != SLSA_PROVENANCE_V1:
        r.fail(
            f"{where}predicateType",
            f"expected {SLSA_PROVENANCE_V1!r}, got {statement.predicate_type!r}; use format 'dsse' for others",
        )
    predicate = to_message(PREDICATE_MESSAGE, statement.predicate, f"{where}predicate")
    # The codec has checked the types; SLSA v1 also requires these two.
    run_details = r.obj(predicate, "runDetails", f"{where}predicate", required=True)
    builder = r.text(r.obj(run_details, "builder", ""), "id", f"{where}predicate.runDetails.builder", required=True)
    r.text(r.obj(predicate, "buildDefinition", ""), "buildType", f"{where}predicate.buildDefinition", required=True)
    digest = hashlib.sha256(envelope.payload if envelope else raw).hexdigest()
    build = compact(
        provenance=_summary(statement, run_details.get("metadata", {}), builder, digest),
        provenanceBytes=None if envelope else raw.decode(),
        inTotoSlsaProvenanceV1=compact(
            type=statement.type,
            subject=[compact(name=name, digest=d) for name, d in statement.subjects],
            predicateType=statement.predicate_type,
            predicate=predicate,
        ),
    )
    note = plan.note(
        uri_note_id(builder), {"shortDescription": f"Builds by {builder}", "build": {"builderVersion": builder}}
    )
    plan.occurrence(note, {"build": build}, ("build", digest), envelope_message(envelope) if envelope else None)


def _summary(statement: Statement, metadata: dict, builder: str, digest: str) -> dict:
    """The classic BuildProvenance that Grafeas clients without SLSA v1 support still read."""
    return compact(
        id=metadata.get("invocationId") or f"sha256:{digest}",
        builderVersion=builder,
        startTime=metadata.get("startedOn"),
        endTime=metadata.get("finishedOn"),
        builtArtifacts=[
            compact(
                id=name, checksum=f"sha256:{d['sha256']}" if "sha256" in d else None, names=[name] if name else None
            )
            for name, d in statement.subjects
        ],
    )
