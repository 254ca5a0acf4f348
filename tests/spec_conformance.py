"""Checks real responses against the committed OpenAPI document: the operation a request reached must
be documented, and the body it answered must match the schema documented for its status."""

from __future__ import annotations

import json
import re
import urllib.parse
from functools import cache
from pathlib import Path

import requests
from openapi_schema_validator import OAS30ReadValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).resolve().parent.parent / "api_spec" / "openapi.json"
_ROOT = "urn:grafeas-py:openapi"  # where the spec's "#/components/..." references resolve


class SpecConformance:
    """The operations of one OpenAPI document, matched against requests by method and raw path."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.registry = Registry().with_resource(_ROOT, Resource.from_contents(spec, default_specification=DRAFT4))
        routes = []
        for template, item in spec["paths"].items():
            pattern = re.compile("".join(_part(piece) for piece in re.split(r"(\{[^}]+\})", template)) + "$")
            for method, operation in item.items():
                if method != "parameters":
                    routes.append((len(re.sub(r"\{[^}]+\}", "", template)), method.upper(), pattern, operation))
        # The most literal template first: ".../notes/{note_id}:history" before ".../notes/{note_id}".
        self.routes = sorted(routes, key=lambda route: -route[0])

    def operation(self, method: str, path: str) -> dict | None:
        for _, route_method, pattern, operation in self.routes:
            if route_method == method.upper() and pattern.match(path):
                return operation
        return None

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        """Raise AssertionError when the response is not what the spec documents for this request."""
        operation = self.operation(method, path)
        if operation is None:
            if status in (401, 404, 405):
                return  # unknown routes and methods (401 before them without credentials): errors tested elsewhere
            raise AssertionError(f"{method} {path} answered {status} but the spec documents no such operation")
        response = operation["responses"].get(str(status)) or operation["responses"].get("default")
        if response is None:
            raise AssertionError(f"{method} {path}: status {status} is not documented ({operation['summary']})")
        if "$ref" in response:
            response = self._resolve(response["$ref"])
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return
        if not content_type.startswith("application/json"):
            raise AssertionError(f"{method} {path} answered {content_type!r}, documented as JSON")
        errors = sorted(self._validator(json.dumps(schema)).iter_errors(json.loads(body)), key=str)
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(the body)"
            raise AssertionError(
                f"{method} {path} -> {status} ({operation['summary']}) does not match the spec at {where}: "
                f"{first.message[:500]}"
            )

    def _resolve(self, ref: str) -> dict:
        node = self.spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    @cache  # noqa: B019 - one instance per session
    def _validator(self, schema_json: str):
        return OAS30ReadValidator(_anchored(json.loads(schema_json)), registry=self.registry)


def _anchored(schema):
    """`schema` with its "#/components/..." references pointing into the spec in the registry."""
    if isinstance(schema, dict):
        return {k: _ROOT + v if k == "$ref" and v.startswith("#") else _anchored(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_anchored(item) for item in schema]
    return schema


def _part(piece: str) -> str:
    return "[^/]+" if piece.startswith("{") else re.escape(piece)


@cache
def committed_spec() -> SpecConformance:
    return SpecConformance(json.loads(SPEC_PATH.read_text()))


def check_response(response: requests.Response) -> None:
    """Fail when a response is not what api_spec/openapi.json documents for its request."""
    sent = urllib.parse.urlsplit(response.request.url)
    if sent.path.startswith("/docs") or "enum-encoding=int" in urllib.parse.unquote(sent.query):
        return  # the docs themselves; enums as numbers, which the wire allows and the schemas do not show
    content_type = response.headers.get("Content-Type", "")
    committed_spec().check(response.request.method, sent.path, response.status_code, content_type, response.content)
