"""The 13 Grafeas v1 RPCs, and the history of notes, occurrences and artifacts, bound under
`projects/{p}` and under `projects/{p}/locations/{l}`."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from ..errors import InvalidArgument
from ..fieldmask import paths_in_body
from ..filtering import parse
from ..names import NoteRef, check_id, note_name, occurrence_name, project_name
from ..wire.grafeas_types import CODEC, NOTE, OCCURRENCE, SEVERITY
from ..wire.quoting import quoted
from .http import DecodedLazily, decode, enums_as_numbers, grafeas, json_body, respond, respond_list, respond_message
from .openapi import body_doc
from .paging import next_page_token, page_request
from .schemas import (
    ArtifactHistoryQuery,
    CreateNoteQuery,
    HistoryQuery,
    ListQuery,
    NoteOccurrencesQuery,
    SummaryQuery,
    UpdateQuery,
)

IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Makes a retry safe: a repeat with the same key creates nothing and answers with what the "
    "first request created; the same key with another request, or once what it created was changed or deleted, "
    "is a 409.",
}


def idempotency_key() -> str | None:
    """The request's Idempotency-Key header, if it has one."""
    return request.headers.get("Idempotency-Key")


def _project(project: str, location: str | None) -> str:
    if location is not None:
        check_id("location", location)
    return check_id("project", project)


def make_blueprint(name: str, url_prefix: str, description: str) -> Blueprint:
    """One binding of the Grafeas service; the views take `project` and, if bound, `location`."""
    blp = Blueprint(name, __name__, url_prefix=url_prefix, description=description)
    blp.ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS = 400

    # ---- notes ---------------------------------------------------------------------------

    @blp.route("/notes", methods=["POST"], endpoint="create_note")
    @blp.arguments(CreateNoteQuery(), location="query")
    @blp.doc(requestBody=body_doc("Note"), summary="CreateNote")
    @blp.response(200, "Note")
    def create_note(args, project, location=None):
        project = _project(project, location)
        body = decode(NOTE, json_body(), "note")
        return respond_message(NOTE, grafeas().service.create_note(project, args["noteId"], body))

    @blp.route("/notes:batchCreate", methods=["POST"], endpoint="batch_create_notes")
    @blp.doc(requestBody=body_doc("BatchCreateNotesRequest"), summary="BatchCreateNotes")
    @blp.response(200, "BatchCreateNotesResponse")
    def batch_create_notes(project, location=None):
        project = _project(project, location)
        body = json_body(unique_keys=True)  # a note id given twice would lose one of the notes
        _only_keys(body, "notes", "parent")
        notes = body.get("notes")
        if not isinstance(notes, dict):
            raise InvalidArgument('notes is required: an object mapping note ids to notes, {"notes": {"id": {...}}}')
        created = grafeas().service.batch_create_notes(project, DecodedLazily(NOTE, notes))
        return respond_list("notes", NOTE, created)

    @blp.route("/notes/<segment:note_id>", methods=["GET"], endpoint="get_note")
    @blp.doc(summary="GetNote")
    @blp.response(200, "Note")
    def get_note(project, note_id, location=None):
        project = _project(project, location)
        return respond_message(NOTE, grafeas().service.get_note(project, check_id("note id", note_id)))

    @blp.route("/notes", methods=["GET"], endpoint="list_notes")
    @blp.arguments(ListQuery(), location="query")
    @blp.doc(summary="ListNotes")
    @blp.response(200, "ListNotesResponse")
    def list_notes(args, project, location=None):
        project = _project(project, location)
        collection = project_name(project) + "/notes"
        result = grafeas().service.list_notes(project, page_request(collection, args), parse(args["filter"]))
        return respond_list("notes", NOTE, result.items, next_page_token(collection, args, result))

    @blp.route("/notes/<segment:note_id>", methods=["PATCH"], endpoint="update_note")
    @blp.arguments(UpdateQuery(), location="query")
    @blp.doc(requestBody=body_doc("Note"), summary="UpdateNote")
    @blp.response(200, "Note")
    def update_note(args, project, note_id, location=None):
        project = _project(project, location)
        sent = json_body()
        body = decode(NOTE, sent, "note")
        note_id = check_id("note id", note_id)
        updated = grafeas().service.update_note(project, note_id, body, args["updateMask"], paths_in_body(sent, NOTE))
        return respond_message(NOTE, updated)

    @blp.route("/notes/<segment:note_id>", methods=["DELETE"], endpoint="delete_note")
    @blp.doc(summary="DeleteNote")
    @blp.response(200, "Empty")
    def delete_note(project, note_id, location=None):
        project = _project(project, location)
        grafeas().service.delete_note(project, check_id("note id", note_id))
        return respond({})

    @blp.route("/notes/<segment:note_id>/occurrences", methods=["GET"], endpoint="list_note_occurrences")
    @blp.arguments(NoteOccurrencesQuery(), location="query")
    @blp.doc(summary="ListNoteOccurrences: the note's occurrences in every project")
    @blp.response(200, "ListNoteOccurrencesResponse")
    def list_note_occurrences(args, project, note_id, location=None):
        note = NoteRef(_project(project, location), check_id("note id", note_id))
        collection = note_name(*note) + "/occurrences"
        result = grafeas().service.list_note_occurrences(note, page_request(collection, args), parse(args["filter"]))
        return respond_list("occurrences", OCCURRENCE, result.items, next_page_token(collection, args, result))

    # ---- occurrences ---------------------------------------------------------------------

    @blp.route("/occurrences", methods=["POST"], endpoint="create_occurrence")
    @blp.doc(requestBody=body_doc("Occurrence"), summary="CreateOccurrence", parameters=[IDEMPOTENCY_KEY])
    @blp.response(200, "Occurrence")
    def create_occurrence(project, location=None):
        project = _project(project, location)
        body = decode(OCCURRENCE, json_body(), "occurrence")
        key = idempotency_key()
        if key is not None:
            [created] = grafeas().service.create_occurrences_once(project, [body], key, single=True)
            return respond_message(OCCURRENCE, created)
        return respond_message(OCCURRENCE, grafeas().service.create_occurrence(project, body))

    @blp.route("/occurrences:batchCreate", methods=["POST"], endpoint="batch_create_occurrences")
    @blp.doc(
        requestBody=body_doc("BatchCreateOccurrencesRequest"),
        summary="BatchCreateOccurrences",
        parameters=[IDEMPOTENCY_KEY],
    )
    @blp.response(200, "BatchCreateOccurrencesResponse")
    def batch_create_occurrences(project, location=None):
        project = _project(project, location)
        body = json_body()
        _only_keys(body, "occurrences", "parent")
        items = body.get("occurrences")
        if not isinstance(items, list):
            raise InvalidArgument('occurrences is required: a list of occurrences, {"occurrences": [{...}]}')
        key = idempotency_key()
        if key is not None:
            created = grafeas().service.create_occurrences_once(project, DecodedLazily(OCCURRENCE, items), key)
            return respond_list("occurrences", OCCURRENCE, created)
        created = grafeas().service.batch_create_occurrences(project, DecodedLazily(OCCURRENCE, items))
        return respond_list("occurrences", OCCURRENCE, created)

    @blp.route("/occurrences:vulnerabilitySummary", methods=["GET"], endpoint="vulnerability_summary")
    @blp.arguments(SummaryQuery(), location="query")
    @blp.doc(summary="GetVulnerabilityOccurrencesSummary (Container Analysis): counts by resource and severity")
    @blp.response(200, "VulnerabilityOccurrencesSummary")
    def vulnerability_summary(args, project, location=None):
        project = _project(project, location)
        counts = grafeas().service.vulnerability_summary(project, parse(args["filter"]))
        if enums_as_numbers():
            counts = [{**c, "severity": SEVERITY.numbers[c["severity"]]} if "severity" in c else c for c in counts]
        return respond({"counts": counts} if counts else {})

    @blp.route("/occurrences/<segment:occurrence_id>", methods=["GET"], endpoint="get_occurrence")
    @blp.doc(summary="GetOccurrence")
    @blp.response(200, "Occurrence")
    def get_occurrence(project, occurrence_id, location=None):
        project = _project(project, location)
        occurrence = grafeas().service.get_occurrence(project, check_id("occurrence id", occurrence_id))
        return respond_message(OCCURRENCE, occurrence)

    @blp.route("/occurrences", methods=["GET"], endpoint="list_occurrences")
    @blp.arguments(ListQuery(), location="query")
    @blp.doc(summary="ListOccurrences")
    @blp.response(200, "ListOccurrencesResponse")
    def list_occurrences(args, project, location=None):
        project = _project(project, location)
        collection = project_name(project) + "/occurrences"
        result = grafeas().service.list_occurrences(project, page_request(collection, args), parse(args["filter"]))
        return respond_list("occurrences", OCCURRENCE, result.items, next_page_token(collection, args, result))

    @blp.route("/occurrences/<segment:occurrence_id>", methods=["PATCH"], endpoint="update_occurrence")
    @blp.arguments(UpdateQuery(), location="query")
    @blp.doc(requestBody=body_doc("Occurrence"), summary="UpdateOccurrence")
    @blp.response(200, "Occurrence")
    def update_occurrence(args, project, occurrence_id, location=None):
        project = _project(project, location)
        sent = json_body()
        body = decode(OCCURRENCE, sent, "occurrence")
        occurrence_id = check_id("occurrence id", occurrence_id)
        sent_paths = paths_in_body(sent, OCCURRENCE)
        updated = grafeas().service.update_occurrence(project, occurrence_id, body, args["updateMask"], sent_paths)
        return respond_message(OCCURRENCE, updated)

    @blp.route("/occurrences/<segment:occurrence_id>", methods=["DELETE"], endpoint="delete_occurrence")
    @blp.doc(summary="DeleteOccurrence")
    @blp.response(200, "Empty")
    def delete_occurrence(project, occurrence_id, location=None):
        project = _project(project, location)
        grafeas().service.delete_occurrence(project, check_id("occurrence id", occurrence_id))
        return respond({})

    @blp.route("/occurrences/<segment:occurrence_id>/notes", methods=["GET"], endpoint="get_occurrence_note")
    @blp.doc(summary="GetOccurrenceNote: the note an occurrence is attached to")
    @blp.response(200, "Note")
    def get_occurrence_note(project, occurrence_id, location=None):
        project = _project(project, location)
        note = grafeas().service.get_occurrence_note(project, check_id("occurrence id", occurrence_id))
        return respond_message(NOTE, note)

    # ---- history (history.get) -----------------------------------------------------------

    @blp.route("/notes/<segment:note_id>:history", methods=["GET"], endpoint="note_history")
    @blp.arguments(HistoryQuery(), location="query")
    @blp.doc(summary="NoteHistory: every revision of a note, oldest first, still readable after a delete")
    @blp.response(200, "ListRevisionsResponse")
    def note_history(args, project, note_id, location=None):
        project, note_id = _project(project, location), check_id("note id", note_id)
        collection = note_name(project, note_id) + ":history"
        result = grafeas().service.note_history(project, note_id, page_request(collection, args))
        revisions = [_revision_enums(r, "note", NOTE) for r in result.items]
        return respond_list("revisions", None, revisions, next_page_token(collection, args, result))

    @blp.route("/occurrences/<segment:occurrence_id>:history", methods=["GET"], endpoint="occurrence_history")
    @blp.arguments(HistoryQuery(), location="query")
    @blp.doc(summary="OccurrenceHistory: every revision of an occurrence, oldest first, still readable after a delete")
    @blp.response(200, "ListRevisionsResponse")
    def occurrence_history(args, project, occurrence_id, location=None):
        project, occurrence_id = _project(project, location), check_id("occurrence id", occurrence_id)
        collection = occurrence_name(project, occurrence_id) + ":history"
        result = grafeas().service.occurrence_history(project, occurrence_id, page_request(collection, args))
        revisions = [_revision_enums(r, "occurrence", OCCURRENCE) for r in result.items]
        return respond_list("revisions", None, revisions, next_page_token(collection, args, result))

    @blp.route("/artifacts:history", methods=["GET"], endpoint="artifact_history")
    @blp.arguments(ArtifactHistoryQuery(), location="query")
    @blp.doc(summary="ArtifactHistory: one artifact's occurrence revisions and gate decisions in the project, by time")
    @blp.response(200, "ArtifactHistoryResponse")
    def artifact_history(args, project, location=None):
        project, uri = _project(project, location), args["resourceUri"]
        collection = f"{project_name(project)}/artifacts:history?resourceUri={uri}"
        result = grafeas().service.artifact_history(project, uri, page_request(collection, args))
        events = [
            {**e, "occurrenceRevision": _revision_enums(e["occurrenceRevision"], "occurrence", OCCURRENCE)}
            if "occurrenceRevision" in e
            else e
            for e in result.items
        ]
        return respond_list("events", None, events, next_page_token(collection, args, result))

    return blp


def _revision_enums(revision: dict, key: str, msg) -> dict:
    """A revision with its resource's enums as numbers when the caller asked for them, as a GET of
    the resource would answer."""
    if key not in revision or not enums_as_numbers():
        return revision
    return {**revision, key: CODEC.enums_to_numbers(msg, revision[key])}


def _only_keys(body: dict, key: str, parent: str) -> None:
    """A batch body holds its list (or map) and, optionally, the parent the path already gives."""
    for extra in body:
        if extra not in (key, parent):
            raise InvalidArgument(f"unknown field {quoted(extra)} in the request body; expected {key!r}")
