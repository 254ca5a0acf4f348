"""OpenAPI component schemas derived from the protobuf message tables, never written by hand."""

from __future__ import annotations

from ..auth.roles import ROLE_PERMISSIONS
from ..wire.grafeas_types import NOTE, OCCURRENCE, REGISTRY
from ..wire.schema import Field, Message

_PACKAGE = "grafeas.v1."
_OUTPUT_ONLY = {"name", "kind", "createTime", "updateTime"}
_SCALARS = {
    "string": {"type": "string"},
    "bool": {"type": "boolean"},
    "int32": {"type": "integer", "format": "int32"},
    "uint32": {"type": "integer", "format": "int64", "minimum": 0},
    "int64": {"type": "string", "format": "int64", "description": "int64, as a decimal string (a number is accepted)"},
    "uint64": {"type": "string", "format": "uint64", "description": "uint64, as a decimal string"},
    # The JSON mapping spells the special values as text.
    "float": {
        "oneOf": [{"type": "number", "format": "float"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]
    },
    "double": {
        "oneOf": [{"type": "number", "format": "double"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]
    },
    "bytes": {"type": "string", "format": "byte"},
}
_WELL_KNOWN = {
    "timestamp": {"type": "string", "format": "date-time", "example": "2024-01-02T03:04:05Z"},
    "duration": {"type": "string", "example": "1.5s"},
    "any": {
        "type": "object",
        "required": ["@type"],
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
    "struct": {"type": "object", "additionalProperties": True},
    "value": {},
    "list": {"type": "array", "items": {}},
    "fieldmask": {"type": "string"},
    "empty": {"type": "object"},
}
TIMESTAMP = _WELL_KNOWN["timestamp"]


def component_name(msg: Message) -> str:
    name = msg.full_name
    return name[len(_PACKAGE) :] if name.startswith(_PACKAGE) else name


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def body_doc(name: str) -> dict:
    """A requestBody object pointing at a component."""
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


def _field_schema(f: Field) -> dict:
    if f.map_value is not None:
        return {"type": "object", "additionalProperties": _field_schema(f.map_value)}
    if f.kind == "enum":
        single = {"type": "string", "enum": list(f.enum.names.values())}
    elif f.kind == "message":
        wk = f.message.well_known
        if wk is None:
            single = ref(component_name(f.message))
        elif wk in _WELL_KNOWN:
            single = dict(_WELL_KNOWN[wk])
        else:  # a wrapper type: its scalar
            single = dict(_SCALARS[wk])
    else:
        single = dict(_SCALARS[f.kind])
    if f.repeated:
        return {"type": "array", "items": single}
    return single


def message_schema(msg: Message) -> dict:
    """The JSON schema of one message: camelCase properties, one member per oneof at most."""
    properties = {}
    for f in msg.fields:
        schema, extra = _field_schema(f), {}
        if f.oneof:
            extra["description"] = f"Member of the oneof `{f.oneof}`: set at most one."
        if msg in (NOTE, OCCURRENCE) and f.json_name in _OUTPUT_ONLY:
            extra["readOnly"] = True
        if f.deprecated:
            extra["deprecated"] = True
        if extra:  # siblings of a $ref are ignored by OpenAPI 3.0 tools, so wrap it
            schema = {"allOf": [schema], **extra} if "$ref" in schema else {**schema, **extra}
        properties[f.json_name] = schema
    return {"type": "object", "properties": properties, "additionalProperties": False}


def register_components(spec) -> None:
    """Add every Grafeas message, the request/response wrappers and the error body to the spec."""
    for msg in sorted(REGISTRY.messages.values(), key=component_name):
        if msg.well_known is None and not msg.full_name.endswith("Entry"):
            spec.components.schema(component_name(msg), component=message_schema(msg))
    lists = {
        "ListNotesResponse": ("notes", "Note"),
        "ListOccurrencesResponse": ("occurrences", "Occurrence"),
        "ListNoteOccurrencesResponse": ("occurrences", "Occurrence"),
        "ListProjectsResponse": ("projects", "Project"),
    }
    for name, (key, item) in lists.items():
        spec.components.schema(
            name,
            component={
                "type": "object",
                "properties": {
                    key: {"type": "array", "items": ref(item)},
                    "nextPageToken": {"type": "string", "description": "Absent on the last page."},
                },
            },
        )
    spec.components.schema(
        "BatchCreateNotesRequest",
        component={
            "type": "object",
            "required": ["notes"],
            "properties": {
                "notes": {
                    "type": "object",
                    "description": "Note id to note; 1 to 1000 entries, all created or none.",
                    "additionalProperties": ref("Note"),
                }
            },
        },
    )
    spec.components.schema(
        "BatchCreateOccurrencesRequest",
        component={
            "type": "object",
            "required": ["occurrences"],
            "properties": {
                "occurrences": {
                    "type": "array",
                    "description": "1 to 1000 occurrences, all created or none.",
                    "items": ref("Occurrence"),
                    "minItems": 1,
                    "maxItems": 1000,
                }
            },
        },
    )
    for name, key, item in (
        ("BatchCreateNotesResponse", "notes", "Note"),
        ("BatchCreateOccurrencesResponse", "occurrences", "Occurrence"),
    ):
        spec.components.schema(
            name, component={"type": "object", "properties": {key: {"type": "array", "items": ref(item)}}}
        )
    spec.components.schema(
        "Project",
        component={
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "example": "projects/my-project"}},
        },
    )
    spec.components.schema("Empty", component={"type": "object"})
    _register_access_components(spec)
    severity = {"type": "string", "enum": list(REGISTRY.enums["grafeas.v1.Severity"].names.values())}
    spec.components.schema(
        "VulnerabilityOccurrencesSummary",
        component={
            "type": "object",
            "properties": {
                "counts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "resourceUri": {"type": "string"},
                            "severity": {**severity, "description": "Absent (SEVERITY_UNSPECIFIED): all severities"},
                            "fixableCount": {"type": "string", "format": "int64", "description": "Absent: 0"},
                            "totalCount": {"type": "string", "format": "int64", "description": "Absent: 0"},
                        },
                    },
                }
            },
        },
    )


def list_of(key: str, item: str, paged: bool = True) -> dict:
    """A list response: the items under `key`, and the next page's token if `paged`."""
    properties = {key: {"type": "array", "items": ref(item)}}
    if paged:
        properties["nextPageToken"] = {"type": "string", "description": "Absent on the last page."}
    return {"type": "object", "properties": properties}


def _register_access_components(spec) -> None:
    """History, role bindings and API tokens."""
    time = dict(TIMESTAMP)
    spec.components.schema(
        "Revision",
        component={
            "type": "object",
            "description": "One revision of a resource. A tombstone (DELETE) carries no document.",
            "properties": {
                "name": {"type": "string", "example": "projects/p/occurrences/0d9f..."},
                "revision": {"type": "integer", "description": "1, 2, ...; a re-created note continues the count."},
                "action": {"type": "string", "enum": ["CREATE", "UPDATE", "DELETE"]},
                "principal": {"type": "string", "description": "Who made it; absent for rows older than history."},
                "updateTime": time,
                "changedFields": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "UPDATE only: dotted paths of the fields whose values changed.",
                },
                "note": ref("Note"),
                "occurrence": ref("Occurrence"),
                "policy": ref("Policy"),
            },
        },
    )
    spec.components.schema("ListRevisionsResponse", component=list_of("revisions", "Revision"))
    spec.components.schema(
        "ArtifactEvent",
        component={
            "type": "object",
            "description": "An occurrence revision or a gate decision about the artifact: one of the two.",
            "properties": {
                "time": time,
                "occurrenceRevision": ref("Revision"),
                "decision": ref("Decision"),
            },
        },
    )
    spec.components.schema("ArtifactHistoryResponse", component=list_of("events", "ArtifactEvent"))
    spec.components.schema(
        "Binding",
        component={
            "type": "object",
            "required": ["project", "role", "member"],
            "properties": {
                "project": {"type": "string", "description": "A project id, or `*` for every project."},
                "role": {"type": "string", "enum": sorted(ROLE_PERMISSIONS)},
                "member": {"type": "string", "example": "token:ci", "description": "A principal id or group:<name>."},
            },
            "additionalProperties": False,
        },
    )
    spec.components.schema("ListBindingsResponse", component=list_of("bindings", "Binding", paged=False))
    token = {
        "name": {"type": "string", "description": "The caller authenticates as token:<name>."},
        "tokenId": {"type": "string", "description": "16 hex digits; not a secret."},
        "createTime": time,
        "expireTime": time,
        "revokeTime": time,
    }
    spec.components.schema("ApiToken", component={"type": "object", "properties": token})
    spec.components.schema("ListApiTokensResponse", component=list_of("tokens", "ApiToken", paged=False))
    entry = {
        "seq": {"type": "integer", "description": "Its place in the chain, from 1."},
        "time": time,
        "principal": {"type": "string", "example": "token:ci"},
        "credential": {
            "type": "string",
            "example": "token:1a2b3c4d5e6f7a8b",
            "description": "How the principal signed in: token:<tokenId>, oidc:<jti>, mtls:<certificate SHA-256>, "
            "oidc or mtls without one, cli, none. Absent on entries recorded before it was kept.",
        },
        "action": {"type": "string", "example": "occurrences.update"},
        "resource": {"type": "string", "example": "projects/p/occurrences/1f0c..."},
        "detail": {
            "oneOf": [
                {"type": "object", "additionalProperties": True, "description": "Revision, changed fields, ids."},
                {"type": "string", "description": "The stored text, where it is not JSON: the entry was altered."},
            ]
        },
        "prevHash": {"type": "string", "description": "The hash of the entry before it (hex)."},
        "hash": {"type": "string", "description": "SHA-256 (or HMAC-SHA256) over the entry and prevHash (hex)."},
    }
    spec.components.schema("AuditEntry", component={"type": "object", "properties": entry})
    spec.components.schema("ListAuditEntriesResponse", component=list_of("auditEntries", "AuditEntry"))
    spec.components.schema(
        "CreateApiTokenRequest",
        component={
            "type": "object",
            "required": ["name"],
            "properties": {"name": token["name"], "expireTime": time},
            "additionalProperties": False,
        },
    )
    secret = {"type": "string", "description": "Authorization: Bearer <token>. Shown only in this response."}
    spec.components.schema("CreatedApiToken", component={"type": "object", "properties": {"token": secret, **token}})
