"""Query-string schemas. Bodies are described from the protobuf messages (see `openapi`)."""

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validates_schema


class _Query(Schema):
    """Query parameters by their JSON names or proto names; unknown ones (like `$alt`) are ignored."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _accept_snake_case(self, data, **_):
        out, given = {}, {}
        raw = getattr(data, "data", data)  # webargs' proxy of the query string's multidict
        for key in data:
            name = _camel(key) if "_" in key and _camel(key) in self.fields else key
            if name in self.fields and not isinstance(self.fields[name], fields.List | fields.Tuple):
                # The first of two values would be used and the other dropped without a word: a filter
                # or an update mask half applied.
                count = len(raw.getlist(key)) if hasattr(raw, "getlist") else 1
                if count > 1 or name in given:
                    twice = f"{count} times" if count > 1 else f"as {given[name]!r} and as {key!r}"
                    raise ValidationError({name: [f"given {twice}; give it once"]})
                given[name] = key
            out.setdefault(name, data[key])
        return out

    @validates_schema
    def _no_nul(self, data, **_):
        # Neither database stores or compares text holding NUL (PostgreSQL refuses it outright).
        bad = {k: ["must not contain the NUL character (U+0000)"] for k, v in data.items() if "\x00" in str(v)}
        if bad:
            raise ValidationError(bad)


class DecimalInteger(fields.Integer):
    """An integer written in ASCII digits, as grpc-gateway parses one: int() also takes `1_0` and other
    scripts' digits (`٣`)."""

    def _validated(self, value):
        if isinstance(value, str) and not re.fullmatch(r"[+-]?[0-9]+", value):
            raise self.make_error("invalid")
        return super()._validated(value)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.title() for p in rest)


class ListQuery(_Query):
    filter = fields.String(
        load_default="",
        metadata={
            "description": 'AIP-160 filter, e.g. kind="VULNERABILITY" AND resourceUrl="https://..."; fields: '
            "kind, resourceUrl (resourceUri), noteProjectId, noteId, noteName, createTime, updateTime, "
            "and any field of the resource by member access (vulnerability.effectiveSeverity); "
            "functions has_prefix(field, text) and has_suffix(field, text)."
        },
    )
    pageSize = DecimalInteger(
        load_default=0,
        metadata={"description": "Items per page: 20 when unset, at most 1000.", "minimum": 0, "maximum": 1000},
    )
    pageToken = fields.String(load_default="", metadata={"description": "nextPageToken of the previous page."})
    returnPartialSuccess = fields.Boolean(
        load_default=False, metadata={"description": "Accepted for compatibility; every region is reachable."}
    )


class NoteOccurrencesQuery(_Query):
    filter = ListQuery._declared_fields["filter"]
    pageSize = ListQuery._declared_fields["pageSize"]
    pageToken = ListQuery._declared_fields["pageToken"]


class SummaryQuery(_Query):
    filter = ListQuery._declared_fields["filter"]


class CreateNoteQuery(_Query):
    noteId = fields.String(
        required=True, metadata={"description": "The new note's id: not empty, no '/'.", "minLength": 1}
    )


class UpdateQuery(_Query):
    updateMask = fields.String(
        load_default=None,
        metadata={
            "description": "Comma-separated field paths (camelCase or snake_case) to update; "
            "`*` replaces the resource; when absent, the fields present in the body are updated."
        },
    )


class _ErrorStatus(Schema):
    code = fields.Integer(metadata={"description": "The HTTP status."})
    message = fields.String()
    status = fields.String(metadata={"description": "The gRPC status name.", "example": "NOT_FOUND"})
    details = fields.List(fields.Dict())


class ErrorSchema(Schema):
    """The Google JSON error body every error uses."""

    error = fields.Nested(_ErrorStatus)


class HistoryQuery(_Query):
    pageSize = ListQuery._declared_fields["pageSize"]
    pageToken = ListQuery._declared_fields["pageToken"]


class ArtifactHistoryQuery(HistoryQuery):
    resourceUri = fields.String(
        required=True,
        metadata={
            "description": "The artifact, read under every spelling the gate reads it by: with and without "
            "https://, and as its image reference (tag beside a digest dropped, registry host in lower case).",
            "minLength": 1,
        },
    )


class BindingsQuery(_Query):
    project = fields.String(
        load_default=None,
        metadata={"description": "Only the bindings on this project id (`*`: those on every project)."},
    )


class BindingQuery(_Query):
    project = fields.String(required=True, metadata={"description": "A project id, or `*` for every project."})
    role = fields.String(required=True)
    member = fields.String(required=True, metadata={"description": "A principal id, or `group:<name>`."})


class RevokeTokensQuery(_Query):
    tokenId = fields.String(
        load_default=None, metadata={"description": "Revoke only this token of the name (16 hex digits)."}
    )
