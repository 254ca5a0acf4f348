"""Reading canonical Grafeas occurrence dicts defensively: bad data raises Malformed, never a stray TypeError.

Occurrences arrive in proto3 JSON form: a missing key is the field's default, so readers take a
default for absent fields and only complain about values of the wrong type.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from .timeutil import parse_timestamp


class Malformed(ValueError):
    """Occurrence data that is not valid canonical Grafeas JSON."""


def get(obj: dict, path: str, kind: type | tuple[type, ...], default=None):
    """The value at a dotted path of nested messages, or `default` when any part is absent."""
    value = obj
    # The gate calls this thousands of times per decision: a plain dict lookup for the split path.
    keys = _SPLIT.get(path) or _keys(path)
    for key in keys:
        if not isinstance(value, dict):
            raise Malformed(f"{'.'.join(keys[: keys.index(key)])} is not an object")
        value = value.get(key)
        if value is None:
            return default
    # bool is an int in Python, but a JSON true is never a valid number here.
    if isinstance(value, kind) and (value.__class__ is not bool or kind is bool):
        return value
    raise Malformed(f"{path} is {type(value).__name__}, expected {_names(kind)}")


def get_list(obj: dict, path: str, item_kind: type | tuple[type, ...] = dict) -> list:
    """A repeated field: a list whose items all have the given type (empty when absent)."""
    items = get(obj, path, list, [])
    for index, item in enumerate(items):
        if not isinstance(item, item_kind):
            raise Malformed(f"{path}[{index}] is {type(item).__name__}, expected {_names(item_kind)}")
    return items


def get_time(obj: dict, path: str) -> datetime | None:
    """A timestamp field, or None when absent."""
    text = get(obj, path, str)
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError as error:
        raise Malformed(f"{path} {error}") from None


def decode_bytes(text: str, path: str) -> bytes:
    """A proto3 JSON bytes field: standard or URL-safe base64, with or without padding."""
    if not isinstance(text, str):
        raise Malformed(f"{path} is {type(text).__name__}, expected base64 text")
    normalized = text.replace("-", "+").replace("_", "/")
    normalized += "=" * (-len(normalized) % 4)
    try:
        return base64.b64decode(normalized, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"{path} is not valid base64") from None


def decode_json_object(raw: bytes, path: str) -> dict:
    """A payload that must be a JSON object."""
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise Malformed(f"{path} is not valid JSON") from None
    except RecursionError:
        raise Malformed(f"{path} nests deeper than this reader follows") from None
    if not isinstance(value, dict):
        raise Malformed(f"{path} is not a JSON object")
    return value


def note_id(note_name: str) -> str:
    """The last segment of a note name: `projects/p/notes/CVE-2023-1234` -> `CVE-2023-1234`."""
    return note_name.rsplit("/", 1)[-1]


_SPLIT: dict[str, tuple[str, ...]] = {}


def _keys(path: str) -> tuple[str, ...]:
    keys = _SPLIT[path] = tuple(path.split("."))
    return keys


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
