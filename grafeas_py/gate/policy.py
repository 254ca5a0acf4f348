"""Policy documents: JSON or YAML text in, a validated `Policy` out, or an InvalidArgument naming every bad field.

The document format is described in docs/policy.md; `model` holds the dataclasses it becomes.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime

import yaml
from marshmallow import ValidationError

from grafeas_py.errors import InvalidArgument
from grafeas_py.wire.quoting import cut

from .model import Policy
from .schemas import PolicySchema

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
MAX_VALUES = 100_000  # values in one policy document; real policies have hundreds
_SURROGATE = re.compile("[\ud800-\udfff]")

# marshmallow's messages, reworded to read after a field path.
_MESSAGES = {
    "Missing data for required field.": "is required",
    "Unknown field.": "is not a field of this policy format",
    "Field may not be null.": "must not be null",
}


def parse_policy(doc: dict) -> Policy:
    """Validate a policy document; raises InvalidArgument listing every problem with its field path."""
    if not isinstance(doc, dict):
        raise InvalidArgument(f"a policy must be an object, got {type(doc).__name__}")
    try:
        problems = list(_unstorable_text(doc, ""))
    except RecursionError:  # a JSON body of up to orjson's 1024 levels reaches here whole
        raise InvalidArgument("the policy is nested too deeply") from None
    if not problems:  # text that cannot be stored, so nothing else is worth saying
        try:
            return PolicySchema().load(doc)
        except ValidationError as error:
            problems = list(_flatten(error.messages, ""))
    violations = [{"field": path, "description": message} for path, message in problems]
    text = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
    raise InvalidArgument(f"invalid policy: {text}", [{"@type": BAD_REQUEST, "fieldViolations": violations}])


def _unstorable_text(value, path: str):
    """(path, problem) for each key or text in the document that no database can store as text: the
    NUL character (PostgreSQL refuses it), or a lone surrogate (YAML's "\\ud800"; not UTF-8)."""
    if isinstance(value, str):
        problem = _unstorable(value)
        if problem:
            yield path, problem
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = _unstorable(str(key))
            if problem:
                yield (f"{path}.{ascii(key)}" if path else ascii(key)), problem
            else:
                yield from _unstorable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable_text(item, f"{path}[{index}]")


def _unstorable(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain the NUL character (U+0000)"
    if _SURROGATE.search(text):
        return "must not contain a lone surrogate (U+D800 to U+DFFF): it is not Unicode text"
    return None


def load_policy_text(text: str | bytes, content_type: str) -> dict:
    """A policy document from JSON or YAML text, with JSON types only (YAML timestamps become RFC 3339 text)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument("a policy must be UTF-8 text") from None
    try:
        if media_type in JSON_TYPES or media_type.endswith("+json"):
            doc = _load_json(text)
        elif media_type in YAML_TYPES:
            doc = _load_yaml(text)
        else:
            accepted = ", ".join(JSON_TYPES + YAML_TYPES)
            raise InvalidArgument(f"a policy must be sent as one of {accepted}, not {content_type!r}")
        if not isinstance(doc, dict):
            raise InvalidArgument(f"a policy must be an object (a mapping), got {type(doc).__name__}")
        return _json_types(doc, (), [MAX_VALUES])
    except RecursionError:
        raise InvalidArgument("the policy is nested too deeply") from None


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    result = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _load_json(text: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise InvalidArgument(
            f"the policy is not valid JSON: line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except _DuplicateKey as error:
        # Silently keeping the last of two `rules` would drop rules the author wrote.
        raise InvalidArgument(f"the policy is not valid: the key {error} appears twice in one object") from None


class _StrictSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys (safe_load silently keeps the last)."""


def _construct_mapping(loader: _StrictSafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    # A key written twice, or merged (`<<`) from two maps, is refused: one value would be dropped unseen. A
    # key written beside a map that merges it overrides it, as YAML's merge means.
    written = sum(key_node.tag != "tag:yaml.org,2002:merge" for key_node, _ in node.value)
    loader.flatten_mapping(node)  # the merged pairs first, then those written
    merged_count = len(node.value) - written
    for pairs in (node.value[:merged_count], node.value[merged_count:]):
        seen = set()
        for key_node, _ in pairs:
            key = loader.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"found the key {key!r} twice", key_node.start_mark
                )
            seen.add(key if isinstance(key, str) else id(key_node))
    return loader.construct_mapping(node, deep)


class _Unreadable:
    """A YAML scalar Python cannot build; `_json_types` refuses it, naming its field."""

    def __init__(self, text: str, problem: str) -> None:
        self.text, self.problem = text, problem

    def __repr__(self) -> str:
        return repr(self.text if len(self.text) <= 40 else self.text[:40] + "...")


# PyYAML's constructors raise ValueError, not a YAMLError, for a scalar Python refuses: a 500.
def _construct_int(loader: _StrictSafeLoader, node: yaml.ScalarNode) -> object:
    try:
        return loader.construct_yaml_int(node)
    except ValueError:  # more than Python's 4300 digits
        return _Unreadable(node.value, f"an integer of {len(node.value)} characters is too long")


def _construct_timestamp(loader: _StrictSafeLoader, node: yaml.ScalarNode) -> object:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as error:  # 2026-13-01, 24:00:00
        return _Unreadable(node.value, f"{node.value} is not a valid date or time: {error}")


_StrictSafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictSafeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_StrictSafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _load_yaml(text: str) -> object:
    try:
        return yaml.load(text, Loader=_StrictSafeLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise InvalidArgument(f"the policy is not valid YAML: {where}{error.problem}") from None
    except yaml.YAMLError as error:
        raise InvalidArgument(f"the policy is not valid YAML: {error}") from None


def _json_types(value: object, where: tuple, budget: list[int]) -> object:
    """The value with YAML-only types turned into JSON ones, so that the document can be stored as JSON.

    `where` is the value's path as nested (parent, key or index) pairs, spelled only for an error:
    building each value's path as text cost time in proportion to its length (36 s for one 8 MB key
    over 98,000 values)."""
    # YAML aliases let a few lines stand for a huge tree (the "billion laughs"); stop walking before it hurts.
    budget[0] -= 1
    if budget[0] < 0:
        raise InvalidArgument(f"invalid policy: more than {MAX_VALUES} values (after expanding YAML aliases)")
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise InvalidArgument(f"invalid policy: {_spelled(where) or 'policy'}: key {key!r} must be text")
        return {key: _json_types(item, (where, key), budget) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_types(item, (where, index), budget) for index, item in enumerate(value)]
    if isinstance(value, _Unreadable):
        raise InvalidArgument(f"invalid policy: {_spelled(where)}: {value.problem}")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()  # the schema then says which field lacks a time zone
        try:
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        except OverflowError:  # past year 9999 or before year 1 in UTC: the schema says which field
            return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(f"invalid policy: {_spelled(where)}: {value} is not a JSON number")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InvalidArgument(f"invalid policy: {_spelled(where)}: a {type(value).__name__} is not a JSON value")


def _spelled(where: tuple) -> str:
    """A path such as `rules[0].name` from nested (parent, key or index) pairs, long keys cut short."""
    steps = []
    while where:
        where, step = where
        if isinstance(step, int):
            steps.append(f"[{step}]")
        else:
            steps.append(f".{step[:40] + '...' if len(step) > 40 else step}")
    return "".join(reversed(steps)).removeprefix(".")


def _flatten(messages: object, path: str):
    """(field path, message) pairs from marshmallow's nested error dict."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                sub = path
            elif isinstance(key, int):
                sub = f"{path}[{key}]"
            else:
                sub = f"{path}.{cut(str(key))}" if path else cut(str(key))
            yield from _flatten(value, sub)
    elif isinstance(messages, list):
        for message in messages:
            yield from _flatten(message, path)
    else:
        yield path, _reword(str(messages))


def _reword(message: str) -> str:
    if message in _MESSAGES:
        return _MESSAGES[message]
    if message.endswith(".") and message[:1].isupper() and message[1:2].islower():
        return message[0].lower() + message[1:-1]
    return message
