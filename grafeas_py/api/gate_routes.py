"""The deploy gate over HTTP: policies and their revisions, evaluation, and recorded decisions."""

from __future__ import annotations

import re

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import fields

from ..errors import InvalidArgument
from ..filtering import parse
from ..names import check_id, project_name
from ..wire.quoting import quoted
from .http import json_body, request_body, respond, respond_list
from .openapi import body_doc, ref
from .paging import next_page_token, page_request
from .schemas import ListQuery, _Query

blp = Blueprint(
    "gate",
    __name__,
    url_prefix="/v1/projects/<segment:project>",
    description="Deploy gate: policies (JSON or YAML, every change a new revision), evaluation of an "
    "artifact's occurrences against a policy, and the record of every decision.",
)
blp.ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS = 400

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
POLICY_BODY = {
    "required": True,
    "content": {"application/json": {"schema": ref("Policy")}, "application/yaml": {"schema": ref("Policy")}},
}


class CreatePolicyQuery(_Query):
    policyId = fields.String(
        required=True, metadata={"description": "The new policy's id: not empty, no '/'.", "minLength": 1}
    )


class PageQuery(_Query):
    pageSize = ListQuery._declared_fields["pageSize"]
    pageToken = ListQuery._declared_fields["pageToken"]


class DecisionsQuery(_Query):
    filter = fields.String(
        load_default="",
        metadata={
            "description": "AIP-160 filter on resourceUri, policy (projects/P/policies/ID), policyId, "
            "policyRevision, decision (ALLOW, DENY, ALLOW_WITH_WARNINGS) and evaluateTime."
        },
    )
    pageSize = ListQuery._declared_fields["pageSize"]
    pageToken = ListQuery._declared_fields["pageToken"]


def gate():
    """The app's `Gate` service."""
    return current_app.extensions["grafeas"].gate


def policy_body() -> dict:
    """A policy document from a JSON or YAML request body."""
    content_type = (request.mimetype or "").lower()
    if content_type in YAML_TYPES:
        return gate().load_text(request_body(), content_type)
    # A repeated key is refused, as YAML's are: the last value winning dropped a stricter first one unseen.
    # No body is refused too, as YAML's is: taken as `{}`, a PUT without one dropped every rule (allow all).
    return json_body(unique_keys=True, required="the policy document, as JSON or YAML")


def _policy_id(value: str) -> str:
    return check_id("policy id", value)


@blp.route("/policies", methods=["POST"], endpoint="create_policy")
@blp.arguments(CreatePolicyQuery(), location="query")
@blp.doc(requestBody=POLICY_BODY, summary="CreatePolicy", description="The body is the policy document.")
@blp.response(200, "Policy", description="The policy at revision 1.")
def create_policy(args, project):
    project = check_id("project", project)
    return respond(gate().create_policy(project, _policy_id(args["policyId"]), policy_body()))


@blp.route("/policies", methods=["GET"], endpoint="list_policies")
@blp.arguments(PageQuery(), location="query")
@blp.doc(summary="ListPolicies")
@blp.response(200, "ListPoliciesResponse")
def list_policies(args, project):
    project = check_id("project", project)
    collection = project_name(project) + "/policies"
    page = gate().list_policies(project, page_request(collection, {**args, "filter": ""}))
    return respond_list("policies", None, page.items, next_page_token(collection, {**args, "filter": ""}, page))


@blp.route("/policies/<segment:policy_id>", methods=["GET"], endpoint="get_policy")
@blp.doc(summary="GetPolicy")
@blp.response(200, "Policy", description="The policy's current revision.")
def get_policy(project, policy_id):
    return respond(gate().get_policy(check_id("project", project), _policy_id(policy_id)))


@blp.route("/policies/<segment:policy_id>", methods=["PATCH", "PUT"], endpoint="update_policy")
@blp.doc(
    requestBody=POLICY_BODY,
    summary="UpdatePolicy",
    description="Replaces the policy document, making a new revision. There is no updateMask: a request "
    "with one is a 400.",
)
@blp.response(200, "Policy", description="The policy at its new revision.")
def update_policy(project, policy_id):
    project = check_id("project", project)
    # Ignored, as other unknown parameters are, a mask naming one field would have dropped every rule
    # the body left out: a policy that allows what it denied before.
    if {"updateMask", "update_mask"} & request.args.keys():
        raise InvalidArgument(
            "a policy is replaced whole, and updateMask is not supported: send the complete document "
            "(GET the policy, change it, and PATCH or PUT all of it)"
        )
    return respond(gate().update_policy(project, _policy_id(policy_id), policy_body()))


@blp.route("/policies/<segment:policy_id>", methods=["DELETE"], endpoint="delete_policy")
@blp.doc(summary="DeletePolicy", description="Deletes the policy; its revisions stay readable.")
@blp.response(200, "Empty")
def delete_policy(project, policy_id):
    gate().delete_policy(check_id("project", project), _policy_id(policy_id))
    return respond({})


@blp.route("/policies/<segment:policy_id>/revisions", methods=["GET"], endpoint="list_policy_revisions")
@blp.arguments(PageQuery(), location="query")
@blp.doc(summary="ListPolicyRevisions")
@blp.response(200, "ListRevisionsResponse", description="Oldest first; a delete shows as a tombstone.")
def list_policy_revisions(args, project, policy_id):
    project, policy_id = check_id("project", project), _policy_id(policy_id)
    collection = f"{project_name(project)}/policies/{policy_id}/revisions"
    page = gate().list_revisions(project, policy_id, page_request(collection, {**args, "filter": ""}))
    return respond_list("revisions", None, page.items, next_page_token(collection, {**args, "filter": ""}, page))


@blp.route("/policies/<segment:policy_id>/revisions/<segment:revision>", methods=["GET"], endpoint="get_revision")
@blp.doc(summary="GetPolicyRevision")
@blp.response(200, "Policy", description="The policy as it was at that revision.")
def get_policy_revision(project, policy_id, revision):
    # ASCII digits (str.isdigit() takes "²"), and within the column's range: no revision is beyond it.
    if not re.fullmatch(r"[1-9][0-9]{0,8}", revision):
        raise InvalidArgument(f"revision must be a number from 1 to 999999999, got {revision[:20]!r}")
    return respond(gate().get_revision(check_id("project", project), _policy_id(policy_id), int(revision)))


@blp.route("/policies/<segment:policy_id>:evaluate", methods=["POST"], endpoint="evaluate_policy")
@blp.doc(
    requestBody=body_doc("EvaluateRequest"),
    summary="Evaluate",
    description="Answers ALLOW, DENY or ALLOW_WITH_WARNINGS with the violations behind it; the decision is recorded.",
)
@blp.response(200, "Decision")
def evaluate_policy(project, policy_id):
    project, policy_id = check_id("project", project), _policy_id(policy_id)
    body = json_body()
    unknown = set(body) - {"resourceUri", "resource_uri", "breakglass"}
    if unknown:
        raise InvalidArgument(f"unknown field {quoted(min(unknown))} in the evaluate request")
    resource_uri = body.get("resourceUri", body.get("resource_uri"))
    return respond(gate().evaluate(project, policy_id, resource_uri, body.get("breakglass")))


@blp.route("/decisions", methods=["GET"], endpoint="list_decisions")
@blp.arguments(DecisionsQuery(), location="query")
@blp.doc(summary="ListDecisions")
@blp.response(200, "ListDecisionsResponse", description="Oldest first.")
def list_decisions(args, project):
    project = check_id("project", project)
    collection = project_name(project) + "/decisions"
    page = gate().list_decisions(project, page_request(collection, args), parse(args["filter"]))
    return respond_list("decisions", None, page.items, next_page_token(collection, args, page))


@blp.route("/decisions/<segment:decision_id>", methods=["GET"], endpoint="get_decision")
@blp.doc(summary="GetDecision")
@blp.response(200, "Decision")
def get_decision(project, decision_id):
    return respond(gate().get_decision(check_id("project", project), check_id("decision id", decision_id)))
