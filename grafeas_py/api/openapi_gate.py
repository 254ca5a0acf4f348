"""OpenAPI components of the deploy gate and of ingestion.

The policy document is derived from the marshmallow schemas that load it (gate.schemas), so the
spec cannot drift from what the server accepts; decisions, the admission review and ingestion
results are plain JSON schemas, as the other hand-made wrappers in api.openapi are.
"""

from __future__ import annotations

from marshmallow import fields

from ..gate import schemas as policy
from ..gate.decision import ALLOW, ALLOW_WITH_WARNINGS, DENY
from ..gate.model import MODES, RULE_NAMES
from .openapi import _WELL_KNOWN, _list_of, ref

_TIME = _WELL_KNOWN["timestamp"]

# What the gate's own field types accept, as OpenAPI says it.
_CUSTOM_FIELDS = {
    policy.PatternField: {
        "type": "string",
        "description": "A pattern: `*` matches within one path segment, `**` across segments.",
        "example": "gcr.io/acme/**",
    },
    policy.TimestampField: {
        "type": "string",
        "description": "An RFC 3339 timestamp with a time zone, or a date (00:00 UTC that day).",
        "example": "2027-01-31",
    },
    policy.DurationField: {
        "type": "string",
        "description": "Days, hours, minutes and seconds, in that order.",
        "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$",
        "example": "24h",
    },
    policy.NoteNameField: {"type": "string", "example": "projects/attestors/notes/build-attestor"},
    policy.RegoField: {
        "description": "A Rego module (`package gate`, rules `deny` and `warn`), or {module, mode}.",
        "oneOf": [{"type": "string"}, ref("RegoRule")],
    },
}


class _PolicyResource(policy.PolicySchema):
    """Documentation only: the policy document with the fields the server keeps."""

    name = fields.String(dump_only=True, metadata={"example": "projects/prod/policies/default"})
    revision = fields.Integer(dump_only=True, metadata={"description": "1, 2, ...: each change makes a new one."})
    createTime = fields.String(dump_only=True, metadata=_TIME)
    updateTime = fields.String(dump_only=True, metadata=_TIME)
    # `rules` loads into a model object; documented as the object a client writes.
    rules = fields.Nested(policy.RulesSchema, metadata={"default": {}})


def _custom_field_properties(self, field, **kwargs) -> dict:
    return dict(_CUSTOM_FIELDS.get(type(field), {}))


def register_gate_components(api) -> None:
    """Add the policy document, decisions, the admission review and ingestion results to the spec."""
    api.ma_plugin.converter.add_attribute_function(_custom_field_properties)
    spec = api.spec
    spec.components.schema("RegoRule", schema=policy.RegoRuleSchema)
    spec.components.schema("Policy", schema=_PolicyResource)
    spec.components.schema("ListPoliciesResponse", component=_list_of("policies", "Policy"))
    breakglass = {
        "type": "object",
        "required": ["justification"],
        "properties": {"justification": {"type": "string", "example": "INC-1234: hotfix for the outage"}},
        "additionalProperties": False,
    }
    spec.components.schema(
        "EvaluateRequest",
        component={
            "type": "object",
            "required": ["resourceUri"],
            "properties": {
                "resourceUri": {"type": "string", "example": "https://gcr.io/acme/app@sha256:0f1e..."},
                "breakglass": {**breakglass, "description": "Allow despite violations; always recorded."},
            },
            "additionalProperties": False,
        },
    )
    spec.components.schema(
        "Violation",
        component={
            "type": "object",
            "properties": {
                "rule": {"type": "string", "enum": [*RULE_NAMES, "input"]},
                "mode": {"type": "string", "enum": list(MODES)},
                "code": {"type": "string", "example": "SEVERITY_EXCEEDED"},
                "message": {"type": "string"},
                "evidence": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Names of the occurrences the finding rests on.",
                },
            },
        },
    )
    violations = {"type": "array", "items": ref("Violation")}
    spec.components.schema(
        "Decision",
        component={
            "type": "object",
            "properties": {
                "name": {"type": "string", "example": "projects/prod/decisions/2f0c..."},
                "policy": {"type": "string", "example": "projects/prod/policies/default"},
                "policyRevision": {"type": "integer"},
                "resourceUri": {"type": "string"},
                "evaluateTime": _TIME,
                "allowed": {"type": "boolean"},
                "decision": {"type": "string", "enum": [ALLOW, DENY, ALLOW_WITH_WARNINGS]},
                "violations": {**violations, "description": "Findings of enforce-mode rules; any denies."},
                "warnings": {**violations, "description": "Findings of warn-mode and dryrun-mode rules."},
                "exempted": {**violations, "description": "Findings an unexpired exemption waived."},
                "breakglass": {**breakglass, "description": "Set when a breakglass turned a DENY into an ALLOW."},
                "allowPattern": {"type": "string", "description": "The allow pattern that skipped every check."},
                "usedOccurrences": {"type": "array", "items": {"type": "string"}},
            },
        },
    )
    spec.components.schema("ListDecisionsResponse", component=_list_of("decisions", "Decision"))
    count = {"type": "integer", "minimum": 0}
    spec.components.schema(
        "IngestResponse",
        component={
            "type": "object",
            "properties": {
                "created": {**count, "description": "Occurrences created by this request."},
                "unchanged": {**count, "description": "Occurrences already there from an earlier post."},
                "notesCreated": count,
                "documentSha256": {"type": "string", "description": "SHA-256 of the report as posted (hex)."},
            },
        },
    )
    _register_admission_components(spec)


def _register_admission_components(spec) -> None:
    """The parts of Kubernetes' AdmissionReview (admission.k8s.io/v1) the webhook reads and writes."""
    envelope = {
        "apiVersion": {"type": "string", "enum": ["admission.k8s.io/v1"]},
        "kind": {"type": "string", "enum": ["AdmissionReview"]},
    }
    spec.components.schema(
        "AdmissionReviewRequest",
        component={
            "type": "object",
            "required": ["apiVersion", "kind", "request"],
            "properties": {
                **envelope,
                "request": {
                    "type": "object",
                    "required": ["uid"],
                    "properties": {
                        "uid": {"type": "string", "minLength": 1},
                        "kind": {"type": "object", "properties": {"kind": {"type": "string", "example": "Pod"}}},
                        "namespace": {"type": "string"},
                        "name": {"type": "string"},
                        "operation": {"type": "string", "enum": ["CREATE", "UPDATE", "DELETE", "CONNECT"]},
                        "dryRun": {"type": "boolean"},
                        "object": {
                            "type": "object",
                            "additionalProperties": True,
                            "description": "A Pod, or a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or "
                            "CronJob whose pod template names the images.",
                        },
                    },
                },
            },
        },
    )
    spec.components.schema(
        "AdmissionReviewResponse",
        component={
            "type": "object",
            "properties": {
                **envelope,
                "response": {
                    "type": "object",
                    "properties": {
                        "uid": {"type": "string", "description": "The request's uid, echoed."},
                        "allowed": {"type": "boolean"},
                        "status": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "integer", "enum": [200, 403]},
                                "reason": {"type": "string"},
                                "message": {"type": "string", "description": "Why, for the user kubectl shows it to."},
                            },
                        },
                        "warnings": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    )
    status = {"type": "string", "example": "ok"}
    spec.components.schema("Health", component={"type": "object", "properties": {"status": status}})
    spec.components.schema(
        "Readiness",
        component={
            "type": "object",
            "properties": {
                "status": {**status, "example": "ready"},
                "schemaRevision": {"type": "string", "description": "The Alembic revision of the database."},
            },
        },
    )
