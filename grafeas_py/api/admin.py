"""The admin API: role bindings (admin.bindings) and API tokens (admin.tokens on `*`)."""

from __future__ import annotations

from flask_smorest import Blueprint

from ..auth.audit import AuditEntry
from ..auth.authz import Binding
from ..auth.tokens import TokenRecord
from ..errors import InvalidArgument
from ..filtering import parse
from ..wire.quoting import quoted
from ..wire.timestamps import from_datetime, to_datetime
from .http import grafeas, json_body, respond, respond_list
from .openapi import body_doc
from .paging import next_page_token, page_request
from .schemas import BindingQuery, BindingsQuery, ListQuery, RevokeTokensQuery

blp = Blueprint(
    "admin",
    __name__,
    url_prefix="/v1/admin",
    description="Access control: who holds which role on which project, and the API tokens that identify callers.",
)
blp.ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS = 400


def _binding_doc(binding: Binding) -> dict:
    return {"project": binding.project, "role": binding.role, "member": binding.member}


def _token_doc(record: TokenRecord) -> dict:
    doc = {"name": record.name, "tokenId": record.token_id, "createTime": from_datetime(record.created)}
    if record.expires is not None:
        doc["expireTime"] = from_datetime(record.expires)
    if record.revoked is not None:
        doc["revokeTime"] = from_datetime(record.revoked)
    return doc


def _audit_entry_doc(entry: AuditEntry) -> dict:
    doc = {
        "seq": entry.seq,
        "time": entry.time,
        "principal": entry.principal,
        "action": entry.action,
        "resource": entry.resource,
        "detail": entry.detail,
        "prevHash": entry.prev_hash,
        "hash": entry.hash,
    }
    if entry.credential is not None:
        doc["credential"] = entry.credential
    return doc


def _fields(body: dict, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    """The body's string fields, all of `required` present; anything else is a 400 naming it."""
    for key, value in body.items():
        if key not in required + optional:
            raise InvalidArgument(f"unknown field {quoted(key)} in the request body; expected {', '.join(required)}")
        if not isinstance(value, str):
            raise InvalidArgument(f"{key} must be a string")
    missing = [key for key in required if not body.get(key)]
    if missing:
        raise InvalidArgument(f"{', '.join(missing)} is required")
    return body


@blp.route("/bindings", methods=["GET"], endpoint="list_bindings")
@blp.arguments(BindingsQuery(), location="query")
@blp.doc(summary="ListBindings: on one project, or all of them (admin.bindings on `*`)")
@blp.response(200, "ListBindingsResponse")
def list_bindings(args):
    bindings = grafeas().admin.bindings(args["project"] or None)
    return respond_list("bindings", None, [_binding_doc(b) for b in bindings])


@blp.route("/bindings", methods=["POST"], endpoint="create_binding")
@blp.doc(requestBody=body_doc("Binding"), summary="CreateBinding: grant a role on a project (or `*`)")
@blp.response(200, "Binding")
def create_binding():
    body = _fields(json_body(), ("project", "role", "member"))
    binding = grafeas().admin.bind(Binding(body["project"], body["role"], body["member"]))
    return respond(_binding_doc(binding))


@blp.route("/bindings", methods=["DELETE"], endpoint="delete_binding")
@blp.arguments(BindingQuery(), location="query")
@blp.doc(summary="DeleteBinding: take a role back")
@blp.response(200, "Empty")
def delete_binding(args):
    grafeas().admin.unbind(Binding(args["project"], args["role"], args["member"]))
    return respond({})


@blp.route("/tokens", methods=["GET"], endpoint="list_tokens")
@blp.doc(summary="ListApiTokens: every token, revoked ones included; never their secrets")
@blp.response(200, "ListApiTokensResponse")
def list_tokens():
    return respond_list("tokens", None, [_token_doc(t) for t in grafeas().admin.tokens()])


@blp.route("/tokens", methods=["POST"], endpoint="create_token")
@blp.doc(requestBody=body_doc("CreateApiTokenRequest"), summary="CreateApiToken: the secret is shown only here")
@blp.response(200, "CreatedApiToken")
def create_token():
    body = _fields(json_body(), ("name",), ("expireTime",))
    expires = None
    if "expireTime" in body:
        try:
            expires = to_datetime(body["expireTime"])
        except ValueError as exc:
            raise InvalidArgument(f"expireTime: {exc}") from None
    token, record = grafeas().admin.create_token(body["name"], expires)
    return respond({"token": token, **_token_doc(record)})


@blp.route("/tokens/<segment:name>", methods=["DELETE"], endpoint="revoke_tokens")
@blp.arguments(RevokeTokensQuery(), location="query")
@blp.doc(summary="RevokeApiTokens: every unrevoked token of the name, or one (tokenId); refused from the next request")
@blp.response(200, "ListApiTokensResponse")
def revoke_tokens(args, name):
    revoked = grafeas().admin.revoke_tokens(name, args["tokenId"])
    return respond_list("tokens", None, [_token_doc(t) for t in revoked])


@blp.route("/auditEntries", methods=["GET"], endpoint="list_audit_entries")
@blp.arguments(ListQuery(), location="query")
@blp.doc(summary="ListAuditEntries: the sealed audit trail in chain order (history.get on `*`)")
@blp.response(200, "ListAuditEntriesResponse")
def list_audit_entries(args):
    result = grafeas().admin.audit_entries(page_request("auditEntries", args), parse(args["filter"]))
    entries = [_audit_entry_doc(entry) for entry in result.items]
    return respond_list("auditEntries", None, entries, next_page_token("auditEntries", args, result))
