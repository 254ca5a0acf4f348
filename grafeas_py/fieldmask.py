"""Update masks per AIP-134, applied to canonical documents."""

from __future__ import annotations

import orjson

from .errors import InvalidArgument
from .wire.schema import Message

Path = tuple[str, ...]  # canonical (camelCase) field names from the resource root


def parse_mask(mask: str, msg: Message) -> list[Path] | None:
    """Comma-separated camelCase or snake_case paths -> canonical paths; None for `*` (replace all)."""
    paths: list[Path] = []
    for raw in mask.split(","):
        raw = raw.strip()
        if not raw:
            continue
        if raw == "*":
            return None
        paths.append(_resolve(raw, msg))
    if not paths:
        raise InvalidArgument("updateMask names no fields")
    return paths


def _resolve(raw: str, msg: Message) -> Path:
    """Check a dotted path against the schema; a path may not go through a list or map."""
    resolved = []
    current: Message | None = msg
    for part in raw.split("."):
        field = current.by_key.get(part) if current is not None else None
        if field is None:
            raise InvalidArgument(f"updateMask path {raw!r} names no field of {msg.short_name}")
        resolved.append(field.json_name)
        nested = field.message
        if field.repeated or field.is_map or nested is None or nested.well_known:
            current = None  # a leaf: nothing below it can be named
        else:
            current = nested
    return tuple(resolved)


def paths_in_body(body: dict, msg: Message) -> list[Path]:
    """The leaf paths present in a partial body, in canonical spelling: what an update without a
    mask changes. Given the body as the client wrote it, that includes fields sent empty or null,
    which clear them (the canonical form leaves such fields out)."""
    paths: list[Path] = []

    def walk(doc: dict, table: Message, prefix: Path) -> None:
        for key, value in doc.items():
            field = table.by_key[key]
            path = prefix + (field.json_name,)
            nested = field.message
            if isinstance(value, dict) and value and nested and not nested.well_known and not field.is_map:
                walk(value, nested, path)
            else:
                paths.append(path)

    walk(body, msg, ())
    return paths


def apply_mask(existing: dict, body: dict, paths: list[Path], msg: Message) -> dict:
    """A copy of `existing` where each path takes its value from `body`, or is cleared if absent there."""
    result = _deep_copy(existing)
    for path in paths:
        source = _get(body, path)
        if source is _MISSING:
            _clear(result, path)
        else:
            _set(result, path, _deep_copy(source), msg)
    return result


_MISSING = object()


def _get(doc: dict, path: Path):
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return _MISSING
        doc = doc[key]
    return doc


def _set(doc: dict, path: Path, value, msg: Message) -> None:
    """Set the value at `path`; setting a member of a oneof, or anything inside one, clears the
    others, as in protobuf (two members set would make a document no client can read)."""
    table: Message | None = msg
    for depth, key in enumerate(path):
        field = table.by_json.get(key) if table is not None else None
        if field is not None and field.oneof is not None:
            for sibling in table.oneofs[field.oneof]:
                if sibling.json_name != key:
                    doc.pop(sibling.json_name, None)
        if depth == len(path) - 1:
            doc[key] = value
            return
        doc = doc.setdefault(key, {})
        table = field.message if field is not None else None


def _clear(doc: dict, path: Path) -> None:
    for key in path[:-1]:
        doc = doc.get(key)
        if not isinstance(doc, dict):
            return
    doc.pop(path[-1], None)


def _deep_copy(value):
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def same(a, b) -> bool:
    """Whether two JSON values are equal as JSON: Python's == holds true equal to 1 (and false to 0),
    which in a free-form field (a Struct) made changing one into the other no change at all."""
    if a is b:
        return True
    if a != b:  # in C: most documents that differ differ here
        return False
    try:  # equal documents, the usual case of a report posted again, mostly serialize alike: also in C
        if orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS):
            return True
    except TypeError:  # not JSON-native after all: the walk below decides
        pass
    return _same(a, b)  # 1 and 1.0, say, which serialize apart and are one number


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


# How far, and into how many changes, changed_paths spells out an object that changed. Past these it
# names the object: free-form JSON (a Struct) can hold any number of keys, and one update of 5,000
# values under a long key recorded a 500 MB list of paths in history and the audit trail.
_MAX_PATH_DEPTH = 8
_MAX_PATHS_PER_OBJECT = 50


def changed_paths(before: dict, after: dict) -> list[str]:
    """Dotted paths of the leaves whose values differ between two documents (lists count as leaves; an
    object deeper than 8 levels, or with more than 50 changes below it, counts as one)."""

    def walk(old: dict, new: dict, prefix: str, depth: int, limit: int | None) -> list[str] | None:
        """The changed paths below, or None as soon as they are more than `limit`."""
        paths: list[str] = []
        for key in sorted(old.keys() | new.keys()):
            a, b = old.get(key, _MISSING), new.get(key, _MISSING)
            if same(a, b):
                continue
            below = None
            if isinstance(a, dict) and isinstance(b, dict) and depth < _MAX_PATH_DEPTH:
                below = walk(a, b, f"{prefix}{key}.", depth + 1, _MAX_PATHS_PER_OBJECT)
            paths += below if below is not None else [prefix + key]
            if limit is not None and len(paths) > limit:
                return None
        return paths

    return walk(before, after, "", 1, None)
