"""`POST /v1/projects/{p}/occurrences:ingest`: a raw scanner, SBOM, provenance or test report in,
Grafeas notes and occurrences out, so a CI job with only curl can post what its tools wrote."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import fields, validate

from ..errors import InvalidArgument
from ..ingest import FORMATS
from ..ingest.plan import PlannedOccurrence
from ..names import check_id, parse_note_name
from ..wire.grafeas_types import NOTE, OCCURRENCE
from ..wire.quoting import quoted
from .http import decode, json_body, request_body, respond
from .schemas import _Query

blp = Blueprint(
    "ingest",
    __name__,
    url_prefix="/v1/projects/<segment:project>",
    description="Ingestion of Trivy, Grype, Clair, SPDX, CycloneDX, SLSA, JUnit and DSSE reports.",
)
blp.ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS = 400

PLAN = "plan"  # a batch of an already parsed report, as `grafeas-py ingest` sends it


class IngestQuery(_Query):
    format = fields.String(
        required=True,
        validate=validate.OneOf([*FORMATS, PLAN]),
        metadata={"description": "The report's format: " + ", ".join(FORMATS) + "; or `plan` for a parsed batch."},
    )
    resourceUri = fields.String(
        load_default="", metadata={"description": "The artifact the report is about (required unless format=plan)."}
    )
    noteProject = fields.String(
        load_default="",
        metadata={"description": "Project of the notes the report needs (created when missing); default: this one."},
    )
    suite = fields.String(
        load_default=None,
        metadata={
            "description": "format=junit: the test suite the report is of (1 to 255 characters), which the gate's "
            "tests rule groups results by, the newest of each counting; default: the set of tests the report holds."
        },
    )


@blp.route("/occurrences:ingest", methods=["POST"], endpoint="ingest")
@blp.arguments(IngestQuery(), location="query")
@blp.doc(
    summary="Ingest",
    description="The body is the raw report. It is written whole, in one transaction, or not at all (a malformed "
    "report, or an item the server cannot store). Posting it again creates nothing new (each occurrence's id "
    "derives from an idempotency key); a finding that comes again with other content is updated. A VEX "
    "document's (CycloneDX, OpenVEX or CSAF) assessments are also copied onto the artifact's findings in the project "
    "that they fit, as their vexAssessment (counted as updated), which a rescan keeps.",
    requestBody={
        "required": True,
        "content": {
            "application/json": {"schema": {"description": "A JSON report, or a plan (format=plan)."}},
            "application/xml": {"schema": {"description": "A JUnit XML report (format=junit)."}},
        },
    },
)
@blp.response(200, "IngestResponse")
def ingest(args, project):
    project = check_id("project", project)
    service = current_app.extensions["grafeas"].ingest
    if args["format"] == PLAN:
        notes, occurrences = _plan(json_body())
        return respond(service.apply(project, notes, occurrences).to_dict())
    if not args["resourceUri"]:
        raise InvalidArgument("resourceUri is required: the artifact the report is about")
    note_project = check_id("noteProject", args["noteProject"]) if args["noteProject"] else project
    raw = request_body()
    now = dt.datetime.now(dt.UTC)
    return respond(service.report(project, args["format"], raw, args["resourceUri"], note_project, now, args["suite"]))


def _plan(body: dict) -> tuple[dict[str, dict], list[PlannedOccurrence]]:
    """A parsed batch: {"notes": {name: note}, "occurrences": [{"key": sha256, "occurrence": {...}}]} (<= 1000);
    an occurrence may carry a "legacyKey" too (PlannedOccurrence.legacy_key)."""
    unknown = set(body) - {"notes", "occurrences"}
    if unknown:
        raise InvalidArgument(f"unknown field {quoted(min(unknown))} in the plan")
    notes, items = body.get("notes") or {}, body.get("occurrences") or []
    if not isinstance(notes, dict) or not isinstance(items, list):
        raise InvalidArgument('a plan is {"notes": {name: note}, "occurrences": [{"key": ..., "occurrence": ...}]}')
    if len(items) > 1000 or len(notes) > 1000:
        raise InvalidArgument("a plan batch holds at most 1000 notes and 1000 occurrences")
    decoded_notes = {}
    for name, note in notes.items():
        parse_note_name(name, f"notes[{name!r}]")
        decoded_notes[name] = decode(NOTE, note, f"notes[{name!r}]")
    planned = []
    for index, item in enumerate(items):
        if (
            not isinstance(item, dict)
            or set(item) - {"legacyKey"} != {"key", "occurrence"}
            or not isinstance(item["key"], str)
            or not isinstance(item.get("legacyKey", ""), str)
        ):
            raise InvalidArgument(
                f'occurrences[{index}] must be {{"key": "<sha256 hex>", "occurrence": {{...}}}}, '
                'with "legacyKey": "<sha256 hex>" if the finding had another key before'
            )
        occurrence = decode(OCCURRENCE, item["occurrence"], f"occurrences[{index}]")
        planned.append(PlannedOccurrence(item["key"], occurrence, item.get("legacyKey", "")))
    return decoded_notes, planned
