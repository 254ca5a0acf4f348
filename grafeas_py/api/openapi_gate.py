"""OpenAPI components of the deploy gate and of ingestion.

The policy document is derived from the marshmallow schemas that load it (gate.schemas), so the
spec cannot drift from what the server accepts; decisions, the admission review and ingestion
results are plain JSON schemas, as the other hand-made wrappers in api.openapi are.
"""

from __future__ import annotations

from marshmallow import fields

from ..gate import schemas as policy
from ..gate.admission import API_VERSIONS
from ..gate.decision import ALLOW, ALLOW_WITH_WARNINGS, DENY
from ..gate.model import MODES, RULE_NAMES
from .openapi import TIMESTAMP, list_of, ref

# What the gate's own field types accept, as OpenAPI says it.
_CUSTOM_FIELDS = {
    policy.PatternField: {
        "type": "string",
        "description": "A pattern: `*` matches within one path segment, `**` across segments.",
        "example": "gcr.io/acme/**",
    },
    policy.ArtifactPatternField: {
        "type": "string",
        "description": "A pattern of artifact URIs (`*` within one path segment, `**` across segments), matched "
        "against every spelling of the artifact: `https://`, `http://`, `docker://`, `oci://` or no scheme.",
        "example": "gcr.io/acme/**",
    },
    policy.SourcePatternField: {
        "type": "string",
        "description": "A pattern of source URIs (`*` within one path segment, `**` across segments).",
        "example": "https://github.com/acme/**",
    },
    policy.VersionPatternField: {
        "type": "string",
        "description": "A pattern over one version (`*` and `**` as in every pattern), not a range.",
        "example": "2.1*",
    },
    policy.LicenceField: {
        "type": "string",
        "description": "An SPDX licence or exception id, or `<licence> WITH <exception>`; deprecated ids are "
        "compared as their current ones. No globs or expressions.",
        "example": "AGPL-3.0-only",
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
    createTime = fields.String(dump_only=True, metadata=TIMESTAMP)
    updateTime = fields.String(dump_only=True, metadata=TIMESTAMP)
    # `rules` loads into a model object; documented as the object a client writes.
    rules = fields.Nested(policy.RulesSchema, metadata={"default": {}})


def _custom_field_properties(self, field, **kwargs) -> dict:
    return dict(_CUSTOM_FIELDS.get(type(field), {}))


def _object(properties: dict, *, required: tuple[str, ...] = (), closed: bool = False) -> dict:
    """An object schema; a closed one refuses properties it does not list, as the server does."""
    schema: dict = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def register_gate_components(api) -> None:
    """Add the policy document, decisions, the admission review and ingestion results to the spec."""
    api.ma_plugin.converter.add_attribute_function(_custom_field_properties)
    spec = api.spec
    spec.components.schema("RegoRule", schema=policy.RegoRuleSchema)
    spec.components.schema("Policy", schema=_PolicyResource)
    spec.components.schema("ListPoliciesResponse", component=list_of("policies", "Policy"))
    justification = {"type": "string", "example": "INC-1234: hotfix for the outage"}
    breakglass = _object({"justification": justification}, required=("justification",), closed=True)
    resource_uri = {"type": "string", "example": "https://gcr.io/acme/app@sha256:0f1e..."}
    spec.components.schema(
        "EvaluateRequest",
        component=_object(
            {
                "resourceUri": resource_uri,
                "breakglass": {**breakglass, "description": "Allow despite violations; always recorded."},
            },
            required=("resourceUri",),
            closed=True,
        ),
    )
    names = {"type": "array", "items": {"type": "string"}}
    violation = {
        "rule": {"type": "string", "enum": [*RULE_NAMES, "input"]},
        "mode": {"type": "string", "enum": list(MODES)},
        "code": {"type": "string", "example": "SEVERITY_EXCEEDED"},
        "message": {"type": "string"},
        "evidence": {**names, "description": "Names of the occurrences the finding rests on."},
    }
    spec.components.schema("Violation", component=_object(violation))
    violations = {"type": "array", "items": ref("Violation")}
    decision = {
        "name": {"type": "string", "example": "projects/prod/decisions/2f0c..."},
        "policy": {"type": "string", "example": "projects/prod/policies/default"},
        "policyRevision": {"type": "integer"},
        "resourceUri": resource_uri,
        "evaluateTime": TIMESTAMP,
        "allowed": {"type": "boolean"},
        "decision": {"type": "string", "enum": [ALLOW, DENY, ALLOW_WITH_WARNINGS]},
        "violations": {**violations, "description": "Findings of enforce-mode rules; any denies."},
        "warnings": {**violations, "description": "Findings of warn-mode and dryrun-mode rules."},
        "exempted": {**violations, "description": "Findings an unexpired exemption waived."},
        "breakglass": {**breakglass, "description": "Set when a breakglass turned a DENY into an ALLOW."},
        "allowPattern": {"type": "string", "description": "The allow pattern that skipped every check."},
        "usedOccurrences": names,
    }
    spec.components.schema("Decision", component=_object(decision))
    spec.components.schema("ListDecisionsResponse", component=list_of("decisions", "Decision"))
    count = {"type": "integer", "minimum": 0}
    ingested = {
        "created": {**count, "description": "Occurrences created by this request."},
        "updated": {**count, "description": "Occurrences from an earlier post that this one changed (a rescan)."},
        "unchanged": {**count, "description": "Occurrences already there from an earlier post, as posted again."},
        "notesCreated": count,
        "documentSha256": {"type": "string", "description": "SHA-256 of the report as posted (hex)."},
    }
    spec.components.schema("IngestResponse", component=_object(ingested))
    _register_admission_components(spec)


def _register_admission_components(spec) -> None:
    """The parts of Kubernetes' AdmissionReview (admission.k8s.io/v1, v1beta1) the webhook reads and writes, and
    the probes."""
    envelope = {
        "apiVersion": {"type": "string", "enum": list(API_VERSIONS)},
        "kind": {"type": "string", "enum": ["AdmissionReview"]},
    }
    obj = {
        "type": "object",
        "additionalProperties": True,
        "description": "A Pod, or a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob whose pod "
        "template names the images.",
    }
    request = {
        "uid": {"type": "string", "minLength": 1},
        "kind": _object({"kind": {"type": "string", "example": "Pod"}}),
        "namespace": {"type": "string"},
        "name": {"type": "string"},
        "operation": {"type": "string", "enum": ["CREATE", "UPDATE", "DELETE", "CONNECT"]},
        "dryRun": {"type": "boolean"},
        "object": obj,
    }
    spec.components.schema(
        "AdmissionReviewRequest",
        component=_object(
            {**envelope, "request": _object(request, required=("uid",))}, required=("apiVersion", "kind", "request")
        ),
    )
    status = {
        "code": {"type": "integer", "enum": [200, 403]},
        "reason": {"type": "string"},
        "message": {"type": "string", "description": "Why, for the user kubectl shows it to."},
    }
    answer = {
        "uid": {"type": "string", "description": "The request's uid, echoed."},
        "allowed": {"type": "boolean"},
        "status": _object(status),
        "warnings": {"type": "array", "items": {"type": "string"}},
    }
    spec.components.schema("AdmissionReviewResponse", component=_object({**envelope, "response": _object(answer)}))
    spec.components.schema("Health", component=_object({"status": {"type": "string", "example": "ok"}}))
    readiness = {
        "status": {"type": "string", "example": "ready"},
        "schemaRevision": {"type": "string", "description": "The Alembic revision of the database."},
    }
    spec.components.schema("Readiness", component=_object(readiness))
