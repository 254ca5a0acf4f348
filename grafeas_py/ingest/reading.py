"""Reading untrusted JSON reports: every problem raises InvalidArgument naming the place it was found.

Decoder errors give the line and column; shape errors give the path in the document, written the
way a reader would look it up: `Results[2].Vulnerabilities[5].Severity`. Paths are only built when
something is wrong, so reading a large report stays cheap. JSON `null` counts as absent, as Go and
most scanners emit it for empty fields.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import NoReturn, TypeVar

import orjson

from grafeas_py.errors import InvalidArgument
from grafeas_py.wire.codec import type_name
from grafeas_py.wire.timestamps import normalize_timestamp

T = TypeVar("T")

# UTF-32's marks come first: UTF-32LE's begins with UTF-16LE's.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32LE"),
    (codecs.BOM_UTF32_BE, "UTF-32BE"),
    (codecs.BOM_UTF16_LE, "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "UTF-16BE"),
)


def utf8(raw: bytes) -> bytes:
    """A document in UTF-16 or UTF-32 with a byte order mark transcoded to UTF-8; any other as it is."""
    # PowerShell 5's `trivy ... > report.json` writes UTF-16LE. JSON allows UTF-16 and UTF-32 (RFC 8259
    # 8.1 asks for UTF-8 only between systems), but orjson reads only UTF-8.
    for bom, encoding in _WIDE_BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom) :].decode(encoding).encode()
            except UnicodeDecodeError as exc:
                at = len(bom) + exc.start
                fail("", f"not valid {encoding}, as its byte order mark says it is: {exc.reason} at byte {at}")
    return raw


def load_json(raw: bytes):
    """Parse a JSON document in UTF-8 (Windows tools may start it with a byte order mark), UTF-16 or UTF-32."""
    raw = utf8(raw)
    try:
        return orjson.loads(raw[len(codecs.BOM_UTF8) :] if raw.startswith(codecs.BOM_UTF8) else raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None


def json_lines(raw: bytes) -> list[tuple[int, bytes]] | None:
    """The non-empty lines of a JSON Lines file (`raw` in UTF-8), each with its number; None when it is
    not one: fewer than two lines, or a first line that is no JSON document by itself."""
    lines = [(number, line) for number, line in enumerate(raw.split(b"\n"), 1) if line.strip()]
    if len(lines) < 2:
        return None
    first = lines[0][1].removeprefix(codecs.BOM_UTF8)  # PowerShell's UTF-8 starts so; load_json drops it
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return None  # the first line of one document written over several
    return lines


def join(path: str, key: str) -> str:
    """The path of member `key` of the object at `path` ("" is the document root)."""
    return f"{path}.{key}" if path else key


def index(path: str, i: int | str) -> str:
    """The path of item `i` of the list (or map) at `path`."""
    return f"{path}[{i}]" if isinstance(i, int) else f"{path}[{i!r}]"


def fail(path: str, message: str) -> NoReturn:
    """Raise the error for a problem at `path`."""
    raise InvalidArgument(f"{path}: {message}" if path else message)


def kind_of(value) -> str:
    """How a JSON value reads in an error message (as the wire codec says it)."""
    return type_name(value)


def _nul(path: str) -> NoReturn:
    # PostgreSQL cannot store U+0000, so the server refuses it everywhere; better to say where now.
    fail(path, "text may not contain the NUL character (U+0000)")


def as_object(value, path: str) -> dict:
    """The value itself, which must be a JSON object."""
    if type(value) is not dict:
        fail(path, f"expected an object, got {kind_of(value)}")
    return value


def obj(d: dict, key: str, path: str, required: bool = False) -> dict:
    """The member object, or {} when absent."""
    value = d.get(key)
    if value is None:
        if required:
            fail(join(path, key), "is required")
        return {}
    if type(value) is not dict:
        fail(join(path, key), f"expected an object, got {kind_of(value)}")
    return value


def text(d: dict, key: str, path: str, required: bool = False) -> str:
    """The member string, or "" when absent; `required` also refuses an empty string."""
    value = d.get(key)
    if type(value) is str and (value or not required):
        return value if "\x00" not in value else _nul(join(path, key))
    if value is None or value == "":
        if required:
            fail(join(path, key), "is required")
        return ""
    fail(join(path, key), f"expected a string, got {kind_of(value)}")


def number(d: dict, key: str, path: str) -> float | None:
    """The member number, or None when absent."""
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    fail(join(path, key), f"expected a number, got {kind_of(value)}")


def cvss_score(d: dict, key: str, path: str) -> float | None:
    """The member CVSS score, which CVSS defines from 0 to 10, or None when absent."""
    value = number(d, key, path)
    if value is not None and not 0 <= value <= 10:
        fail(join(path, key), f"expected a CVSS score from 0 to 10, got {value!r}")
    return value


def integer(d: dict, key: str, path: str) -> int | None:
    """The member integer, or None when absent."""
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    fail(join(path, key), f"expected an integer, got {kind_of(value)}")


def array(d: dict, key: str, path: str, required: bool = False) -> list:
    """The member list, or [] when absent."""
    value = d.get(key)
    if type(value) is list:
        return value
    if value is None:
        if required:
            fail(join(path, key), "is required")
        return []
    fail(join(path, key), f"expected a list, got {kind_of(value)}")


def objects(d: dict, key: str, path: str, required: bool = False) -> list[tuple[str, dict]]:
    """The member list of objects, each with its path."""
    return objects_in(array(d, key, path, required), join(path, key))


def objects_in(value, path: str) -> list[tuple[str, dict]]:
    """A list of objects found at `path`, each with its path."""
    if type(value) is not list:
        fail(path, f"expected a list, got {kind_of(value)}")
    for i, item in enumerate(value):
        if type(item) is not dict:
            fail(index(path, i), f"expected an object, got {kind_of(item)}")
    return [(f"{path}[{i}]", item) for i, item in enumerate(value)]


def strings(d: dict, key: str, path: str) -> tuple[str, ...]:
    """The member list of strings."""
    return strings_in(array(d, key, path), join(path, key))


def strings_in(value, path: str) -> tuple[str, ...]:
    """A list of strings found at `path`."""
    if type(value) is not list:
        fail(path, f"expected a list, got {kind_of(value)}")
    for i, item in enumerate(value):
        if type(item) is not str:
            fail(index(path, i), f"expected a string, got {kind_of(item)}")
        if "\x00" in item:
            _nul(index(path, i))
    return tuple(value)


def string_map(d: dict, key: str, path: str) -> dict[str, str]:
    """The member object whose values are all strings, such as a digest set."""
    value = obj(d, key, path)
    for k, v in value.items():
        if type(v) is not str:
            fail(index(join(path, key), k), f"expected a string, got {kind_of(v)}")
        if "\x00" in k or "\x00" in v:
            _nul(index(join(path, key), k))
    return value


def choice(d: dict, key: str, path: str, allowed: Mapping[str, T], default: T, fold_case: bool = False) -> T:
    """Map the member string through `allowed`; absent gives `default`, anything else is an error."""
    value = d.get(key)
    if value is None:
        return default
    if type(value) is not str:
        fail(join(path, key), f"expected a string, got {kind_of(value)}")
    found = allowed.get(value.lower() if fold_case else value)
    if found is None:
        fail(join(path, key), f"unknown value {value!r}; expected one of {', '.join(allowed)}")
    return found


def timestamp(d: dict, key: str, path: str) -> str:
    """The member RFC 3339 timestamp in canonical UTC form, or "" when absent."""
    value = text(d, key, path)
    if not value:
        return ""
    try:
        return normalize_timestamp(value)
    except ValueError as exc:
        fail(join(path, key), str(exc))
