"""Hypothesis strategies that build random, valid protobuf messages from their descriptors.

`messages(descriptor)` works for any message type; `note_messages` and `occurrence_messages` build
Grafeas v1 Notes and Occurrences (raw protobuf classes), optionally with one kind's member set.
"""

from __future__ import annotations

import math
import string

from google.protobuf import any_pb2, descriptor_pool, message_factory, struct_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from grafeas.grafeas_v1 import types as grafeas_types
from hypothesis import strategies as st

MAX_LIST = 3  # repeated fields, maps and Struct containers hold 0..MAX_LIST items
MAX_FIELDS = 6  # at most this many non-oneof fields set per message
DEFAULT_DEPTH = 6  # levels of nested messages below the top one

NOTE_DESCRIPTOR: Descriptor = grafeas_types.Note.pb().DESCRIPTOR
OCCURRENCE_DESCRIPTOR: Descriptor = grafeas_types.Occurrence.pb().DESCRIPTOR

# Timestamp's documented range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
_TS_MIN, _TS_MAX = -62135596800, 253402300799
_DURATION_MAX = 315576000000
_F = FieldDescriptor

_INT_BOUNDS = {
    _F.TYPE_INT32: (-(2**31), 2**31 - 1),
    _F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    _F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    _F.TYPE_UINT32: (0, 2**32 - 1),
    _F.TYPE_FIXED32: (0, 2**32 - 1),
    _F.TYPE_INT64: (-(2**63), 2**63 - 1),
    _F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    _F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    _F.TYPE_UINT64: (0, 2**64 - 1),
    _F.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = sorted(n for n in {low, high, 0, 1, -1, 2**31 - 1, -(2**31), 2**53 + 1, -(2**53) - 1} if low <= n <= high)
    return st.one_of(st.sampled_from(edges), st.integers(max(low, -1000), 1000), st.integers(low, high))


_FLOAT32_MAX = float.fromhex("0x1.fffffep+127")


def _floats(width: int) -> st.SearchStrategy[float]:
    # math.nan only: hypothesis' other NaN payloads would not survive a JSON round trip bit for bit.
    # No -0.0: the server stores it as 0.0 on purpose (PostgreSQL's JSONB has no negative zero).
    # Nor the float32 maximum: protobuf-python refuses to parse the text it prints for it (the codec's
    # handling of it has its own example tests).
    finite = (
        st.floats(width=width, allow_nan=False)
        .map(lambda x: x if x != 0 else 0.0)
        .filter(lambda x: width != 32 or abs(x) != _FLOAT32_MAX)
    )
    return st.one_of(finite, st.sampled_from([0.0, 0.1, 1.5, math.inf, -math.inf, math.nan]))


def _nanos() -> st.SearchStrategy[int]:
    # Biased towards the 0/3/6-digit fractions JSON prints, but any nanosecond value.
    return st.one_of(
        st.just(0),
        st.integers(0, 999).map(lambda n: n * 1_000_000),
        st.integers(0, 999_999).map(lambda n: n * 1000),
        st.integers(0, 999_999_999),
    )


# No U+0000: the server refuses it on purpose (PostgreSQL cannot store it in text or JSONB).
_CHARS = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
_TEXT = st.text(_CHARS, max_size=12)
_KEYS = st.text(_CHARS, max_size=8)


def _scalar(fd: FieldDescriptor) -> st.SearchStrategy:
    t = fd.type
    if t in _INT_BOUNDS:
        return _integers(*_INT_BOUNDS[t])
    if t == _F.TYPE_DOUBLE:
        return _floats(64)
    if t == _F.TYPE_FLOAT:
        return _floats(32)
    if t == _F.TYPE_BOOL:
        return st.booleans()
    if t == _F.TYPE_STRING:
        return _TEXT
    if t == _F.TYPE_BYTES:
        return st.binary(max_size=12)
    if t == _F.TYPE_ENUM:
        # Only declared numbers: unknown ones are rejected by the codec on purpose.
        return st.sampled_from(sorted({v.number for v in fd.enum_type.values}))
    raise AssertionError(f"not a scalar field: {fd.full_name}")


# ---- well-known types -----------------------------------------------------------------------------


# JSON-safe plain values for Struct/Value/ListValue (protobuf holds every number as a double), with
# no -0.0: the server stores it as 0.0 there too.
_JSON_NUMBERS = st.floats(allow_nan=False, allow_infinity=False).map(lambda x: x if x != 0 else 0.0)
_JSON_LEAVES = st.one_of(st.none(), st.booleans(), _TEXT, _JSON_NUMBERS)
_JSON_VALUES = st.recursive(
    _JSON_LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=MAX_LIST), st.dictionaries(_KEYS, inner, max_size=MAX_LIST)),
    max_leaves=6,
)


def _timestamps() -> st.SearchStrategy:
    edges = st.sampled_from([_TS_MIN, _TS_MAX, 0, -1, 951782400])  # incl. 2000-02-29 (a leap day)
    seconds = st.one_of(edges, st.integers(_TS_MIN, _TS_MAX))
    return st.builds(lambda s, n: timestamp_pb2.Timestamp(seconds=s, nanos=n), seconds, _nanos())


def _well_known(desc: Descriptor, depth: int) -> st.SearchStrategy | None:
    """A strategy for a well-known type with its own JSON form, or None for an ordinary message."""
    name = desc.full_name
    cls = message_factory.GetMessageClass(desc)
    if name == "google.protobuf.Timestamp":
        return _timestamps()
    if name == "google.protobuf.Duration":
        seconds = st.integers(-_DURATION_MAX, _DURATION_MAX)
        return st.builds(
            lambda s, n: cls(seconds=s, nanos=0 if s == 0 and n == 0 else (-n if s < 0 else n)), seconds, _nanos()
        )
    if name == "google.protobuf.Struct":
        return st.dictionaries(_KEYS, _JSON_VALUES, max_size=MAX_LIST).map(_struct)
    if name == "google.protobuf.Value":
        return _JSON_VALUES.map(_value)
    if name == "google.protobuf.ListValue":
        return st.lists(_JSON_VALUES, max_size=MAX_LIST).map(_list_value)
    if name == "google.protobuf.FieldMask":
        path = st.lists(st.text(string.ascii_lowercase, min_size=1, max_size=5), min_size=1, max_size=3)
        paths = st.lists(path.map("_".join), max_size=MAX_LIST)
        return paths.map(lambda ps: cls(paths=ps))
    if name == "google.protobuf.Any":
        return _any(depth)
    if name == "google.protobuf.Empty":
        return st.just(cls())
    if name.startswith("google.protobuf.") and name.endswith("Value") and len(desc.fields) == 1:
        return _scalar(desc.fields[0]).map(lambda v: cls(value=v))  # a wrapper
    return None


def _struct(data: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(data)
    return s


def _value(data) -> struct_pb2.Value:
    v = struct_pb2.Value()
    if data is None:
        v.null_value = struct_pb2.NULL_VALUE
    elif isinstance(data, bool):
        v.bool_value = data
    elif isinstance(data, float):
        v.number_value = data
    elif isinstance(data, str):
        v.string_value = data
    elif isinstance(data, list):
        v.list_value.CopyFrom(_list_value(data))
    else:
        v.struct_value.CopyFrom(_struct(data))
    return v


def _list_value(data: list) -> struct_pb2.ListValue:
    lv = struct_pb2.ListValue()
    lv.extend(data)
    return lv


# What an Any may hold: well-known types plus a few Grafeas messages (with enums, bytes, nesting).
ANY_PAYLOADS = (
    "google.protobuf.Timestamp",
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.Any",  # an Any in an Any, while depth lasts
    "google.protobuf.Duration",
    "google.protobuf.Empty",
    "google.protobuf.FieldMask",
    "google.protobuf.ListValue",
    # Every wrapper: each is written as its bare value in "value".
    "google.protobuf.DoubleValue",
    "google.protobuf.FloatValue",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.Int32Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
    "grafeas.v1.Version",
    "grafeas.v1.Hash",
    "grafeas.v1.VulnerabilityOccurrence.PackageIssue",
)


def _pack(inner) -> any_pb2.Any:
    a = any_pb2.Any()
    a.Pack(inner)
    return a


def _any(depth: int) -> st.SearchStrategy[any_pb2.Any]:
    pool = descriptor_pool.Default()
    names = [n for n in ANY_PAYLOADS if depth > 0 or n != "google.protobuf.Any"]
    inner = st.one_of([messages(pool.FindMessageTypeByName(n), depth=max(depth - 1, 0)) for n in names])
    return st.one_of(st.just(any_pb2.Any()), inner.map(_pack))  # an empty Any is valid too


# ---- ordinary messages ----------------------------------------------------------------------------

_CACHE: dict[tuple[str, int, str | None], st.SearchStrategy] = {}


def messages(desc: Descriptor, depth: int = DEFAULT_DEPTH, force_oneof: str | None = None) -> st.SearchStrategy:
    """Random valid instances of the message `desc`.

    depth: levels of nested messages allowed below this one; at 0 only scalars, enums and
    well-known types other than Any (all bounded in size) are set. force_oneof: a field name that
    is always set (the other members of its oneof never are).
    """
    key = (desc.full_name, depth, force_oneof)
    found = _CACHE.get(key)
    if found is None:
        wk = _well_known(desc, depth)
        found = _CACHE[key] = wk if wk is not None else _message(desc, depth, force_oneof)
    return found


def _usable(fd: FieldDescriptor, depth: int) -> bool:
    """Whether a field can be filled at this depth (nested plain messages need depth to spare)."""
    if fd.type not in (_F.TYPE_MESSAGE, _F.TYPE_GROUP):
        return True
    mt = fd.message_type
    if mt.GetOptions().map_entry:
        return _usable(mt.fields_by_name["value"], depth)
    return depth > 0 or (mt.full_name.startswith("google.protobuf.") and mt.full_name != "google.protobuf.Any")


def _value_strategy(fd: FieldDescriptor, depth: int) -> st.SearchStrategy:
    """Values for one field: a scalar, a message, a list of either, or a dict for a map."""
    if fd.type in (_F.TYPE_MESSAGE, _F.TYPE_GROUP):
        mt = fd.message_type
        if mt.GetOptions().map_entry:
            keys = _scalar(mt.fields_by_name["key"])
            keys = _KEYS if mt.fields_by_name["key"].type == _F.TYPE_STRING else keys
            return st.dictionaries(keys, _value_strategy(mt.fields_by_name["value"], depth), max_size=MAX_LIST)
        single = st.deferred(lambda: messages(mt, depth - 1))
    else:
        single = _scalar(fd)
    if fd.is_repeated:
        return st.lists(single, max_size=MAX_LIST)
    return single


def _message(desc: Descriptor, depth: int, force_oneof: str | None) -> st.SearchStrategy:
    cls = message_factory.GetMessageClass(desc)
    plain, groups = [], []
    for oneof in desc.oneofs:
        members = [fd for fd in oneof.fields if _usable(fd, depth)]
        forced = [fd for fd in oneof.fields if fd.name == force_oneof]
        if len(oneof.fields) == 1 and oneof.name == "_" + oneof.fields[0].name:  # proto3 `optional`
            plain.extend(members)
        elif forced or members:
            groups.append((forced or members, bool(forced)))
    plain += [fd for fd in desc.fields if fd.containing_oneof is None and _usable(fd, depth)]
    strategies = {fd.name: _value_strategy(fd, depth) for fd in plain + [fd for ms, _ in groups for fd in ms]}
    by_name = {fd.name: fd for fd in desc.fields}

    @st.composite
    def build(draw):
        # A uniform count, then which fields: every field gets a fair chance, even in wide messages.
        count = draw(st.integers(0, min(len(plain), MAX_FIELDS)))
        chosen = draw(st.permutations(plain))[:count] if count else []
        for members, forced in groups:
            if forced:
                chosen.append(members[0])
            else:
                pick = draw(st.none() | st.sampled_from(members))
                if pick is not None:
                    chosen.append(pick)
        m = cls()
        for fd in chosen:
            _set(m, by_name[fd.name], draw(strategies[fd.name]))
        return m

    return build()


def _set(m, fd: FieldDescriptor, value) -> None:
    if fd.type in (_F.TYPE_MESSAGE, _F.TYPE_GROUP):
        target = getattr(m, fd.name)
        if fd.message_type.GetOptions().map_entry:
            is_msg = fd.message_type.fields_by_name["value"].type == _F.TYPE_MESSAGE
            for k, v in value.items():
                if is_msg:
                    target[k].CopyFrom(v)
                else:
                    target[k] = v
        elif fd.is_repeated:
            for v in value:
                target.add().CopyFrom(v)
        else:
            target.CopyFrom(value)
            if not value.ListFields():
                target.SetInParent()  # present though empty, as a client may send {}
    elif fd.is_repeated:
        getattr(m, fd.name).extend(value)
    else:
        setattr(m, fd.name, value)


# ---- Grafeas -----------------------------------------------------------------------------------------


def _kind_member(desc: Descriptor, oneof: str, kind: str | None) -> str | None:
    if kind is None:
        return None
    member = kind.lower()
    if member not in [fd.name for fd in desc.oneofs_by_name[oneof].fields]:
        raise ValueError(f"{desc.full_name} has no {oneof} member for kind {kind}")
    return member


def kinds(desc: Descriptor, oneof: str) -> list[str]:
    """The kind names (upper case) whose member the installed client declares in `oneof`."""
    return [fd.name.upper() for fd in desc.oneofs_by_name[oneof].fields]


NOTE_KINDS = kinds(NOTE_DESCRIPTOR, "type")
OCCURRENCE_KINDS = kinds(OCCURRENCE_DESCRIPTOR, "details")


def note_messages(kind: str | None = None, depth: int = DEFAULT_DEPTH) -> st.SearchStrategy:
    """Random `Note.pb()` instances; with `kind` (e.g. "VULNERABILITY") that member is set."""
    return messages(NOTE_DESCRIPTOR, depth, _kind_member(NOTE_DESCRIPTOR, "type", kind))


def occurrence_messages(kind: str | None = None, depth: int = DEFAULT_DEPTH) -> st.SearchStrategy:
    """Random `Occurrence.pb()` instances; with `kind` (e.g. "BUILD") that member is set."""
    return messages(OCCURRENCE_DESCRIPTOR, depth, _kind_member(OCCURRENCE_DESCRIPTOR, "details", kind))
