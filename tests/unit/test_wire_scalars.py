"""Scalar values, input by input, through the codec and through protobuf's own json_format.Parse.

Each input is the JSON text of one field of a real Grafeas Occurrence, or of a message that its
`secret.data` Any holds. The codec reads it as the server does (orjson, then `CODEC.decode`); protobuf
parses the same text. Both accept or both refuse, and what both accept the codec writes as
json_format.MessageToDict does, defaults left out. Where the codec differs on purpose, DIFFERENCES
says why.
"""

from __future__ import annotations

import json
import math

import orjson
import pytest
from google.protobuf import descriptor_pool, json_format
from google.protobuf.descriptor import FieldDescriptor
from grafeas.grafeas_v1 import types as grafeas_types

from grafeas_py.wire.codec import DecodeError
from grafeas_py.wire.grafeas_types import CODEC, OCCURRENCE

OccurrencePb = grafeas_types.Occurrence.pb()

# One field per kind: its JSON path, and the type an Any holds it in (kinds Grafeas's own messages lack).
FIELDS = {
    "int32": ("image.distance", None),
    "int64": ("build.intotoProvenance.recipe.definedInMaterial", None),
    "optional int64": ("violations[0].futureQuotaValue", "google.rpc.QuotaFailure"),
    "uint32": ("value", "google.protobuf.UInt32Value"),
    "uint64": ("value", "google.protobuf.UInt64Value"),
    "float": ("vulnerability.cvssScore", None),
    "double": ("vulnerability.risk.epss.percentile", None),
    "bool": ("vulnerability.fixAvailable", None),
    "enum": ("vulnerability.severity", None),
    "bytes": ("attestation.serializedPayload", None),
    "timestamp": ("discovery.lastScanTime", None),
    "duration": ("retryDelay", "google.rpc.RetryInfo"),
}
_F = FieldDescriptor
FIELD_TYPES = {
    "int32": (_F.TYPE_INT32, None),
    "int64": (_F.TYPE_INT64, None),
    "optional int64": (_F.TYPE_INT64, None),
    "uint32": (_F.TYPE_UINT32, None),
    "uint64": (_F.TYPE_UINT64, None),
    "float": (_F.TYPE_FLOAT, None),
    "double": (_F.TYPE_DOUBLE, None),
    "bool": (_F.TYPE_BOOL, None),
    "enum": (_F.TYPE_ENUM, None),
    "bytes": (_F.TYPE_BYTES, None),
    "timestamp": (_F.TYPE_MESSAGE, "google.protobuf.Timestamp"),
    "duration": (_F.TYPE_MESSAGE, "google.protobuf.Duration"),
}
INTEGERS = ("int32", "int64", "optional int64", "uint32", "uint64")
FLOATS = ("float", "double")

# JSON text: `1e3` is a number, `"1e3"` a string.
INTEGER_INPUTS = [
    *["0", "-0", "1", "-1", "1e3", "1E3", "1.0", "-0.0", "1.5", "1e-3", "1000e-3", "true", "null"],
    *["2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296"],
    *["9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551615"],
    *["-9223372036854775809", "-9223372036854776832", "-9223372036854775808.0", "-9.223372036854775808e18"],
    *["18446744073709551616", "1e19", "1e400", "1.9999999999999999999999", "9007199254740993.0"],
    *['"0"', '"-0"', '"1"', '"-1"', '"01"', '"1e3"', '"1E3"', '"1e+3"', '"1.0"', '"1."', '".5e1"', '"-0.0"'],
    *['"1.5"', '"1e-3"', '"1000e-3"', '"1.9999999999999999999999"', '"9007199254740993.0"', '"1e-400"'],
    *['"+1"', '" 1"', '"1 "', '"\\t1"', '"1\\n"', '"0x10"', '"1_0"', '"\u0661"', '""', '"-"', '"e3"', '"1e"'],
    *['"NaN"', '"Infinity"', '"-Infinity"', '"true"'],
    *['"2147483647"', '"2147483648"', '"-2147483648"', '"-2147483649"', '"4294967295"', '"4294967296"'],
    *['"9223372036854775807"', '"9223372036854775808"', '"-9223372036854775808"', '"-9223372036854775809"'],
    *['"18446744073709551615"', '"18446744073709551616"', '"1e19"', '"1e400"', f'"{"1" * 5000}"'],
]
FLOAT_INPUTS = [
    *["0", "-0", "-0.0", "1", "1.5", "0.1", "1e3", "1e-400", "1e-46", "true", "null"],
    *["1e38", "1e39", "-1e39", "3.4028235e38", "3.40282356e38", "1e308", "1.7976931348623157e308", "1e400"],
    *['"0"', '"-0"', '"1"', '"1.5"', '"0.1"', '"1e3"', '"1."', '".5"', '"1e-400"', '""', '"."', '"true"'],
    *['"NaN"', '"Infinity"', '"-Infinity"', '"nan"', '"Nan"', '"inf"', '"-inf"', '"infinity"', '"+Infinity"'],
    *['"NaN "', '" Infinity"', '"+1"', '" 1"', '"1_0"', '"\u0661"', '"0x10"'],
    *['"1e38"', '"1e39"', '"-1e39"', '"3.4028235e38"', '"3.4028234663852886e38"', '"1e308"', '"1e309"', '"-1e309"'],
]
INPUTS = {
    **{kind: INTEGER_INPUTS for kind in INTEGERS},
    **{kind: FLOAT_INPUTS for kind in FLOATS},
    "bool": ["true", "false", "null", '"true"', '"false"', "1", "0", '"1"', '"True"'],
    "enum": [
        *['"CRITICAL"', "5", '"5"', "0", '"0"', '"SEVERITY_UNSPECIFIED"', "null", '"critical"', '"NOPE"', '""'],
        *["99", '"99"', "-1", "2147483648", "5.0", "5.5", "1e0", "true", '"5.0"', '"+5"', '" 5"', '"05"'],
    ],
    "bytes": [
        *['"AQ=="', '"AQ"', '"AQ="', '"AQI="', '"AQI"', '"QUJD"', '"QUJDRA=="', '"QUJDRA"', '"AR=="', '""'],
        *['"-_8="', '"-_8"', '"+/8="', '"+/8"', '"-/8"', '"____"', '"A"', '"A==="', '"AQ==="', '"AQI=="'],
        *['"====="', '"AQ==AQ=="', '"A Q=="', '"AQ==\\n"', '"!!!!"', '"AQ=a"', "12", "null"],
    ],
    "timestamp": [
        *['"2024-01-02T03:04:05Z"', '"2024-01-02T03:04:05+02:00"', '"2024-01-02T03:04:05-00:30"'],
        *['"2024-01-02T03:04:05+23:59"', '"2024-01-02T03:04:05+24:00"', '"2024-01-02T03:04:05+00:60"'],
        *['"2024-01-02T03:04:05+0200"', '"2024-01-02T03:04:05+02"', '"2024-01-02T03:04:05"'],
        *['"2024-01-02t03:04:05z"', '"2024-01-02T03:04:05z"', '"2024-01-02t03:04:05Z"', '"2024-01-02 03:04:05Z"'],
        *['"2016-12-31T23:59:60Z"', '"2024-02-29T00:00:00Z"', '"2023-02-29T00:00:00Z"', '"2024-01-02T24:00:00Z"'],
        *[f'"2024-01-02T03:04:05.{"1234567890"[:n]}Z"' for n in range(0, 11)],
        *['"2024-01-02T03:04:05.000000000Z"', '"2024-01-02T03:04:05.100+01:00"'],
        *['"0000-01-01T00:00:00Z"', '"0001-01-01T00:00:00Z"', '"9999-12-31T23:59:59.999999999Z"'],
        *['"10000-01-01T00:00:00Z"', '"0001-01-01T00:00:00+01:00"', '"0001-01-01T01:00:00+01:00"'],
        *['"9999-12-31T23:59:59-01:00"', '"9999-12-31T22:59:59-01:00"', '"2024-1-02T03:04:05Z"'],
        *['"2024-01-02T3:04:05Z"', '" 2024-01-02T03:04:05Z"', '"2024-01-02T03:04:05Z "', "1700000000", "null"],
    ],
    "duration": [
        *['"1s"', '"1.5s"', '"-1.5s"', '"0s"', '"-0s"', '"-0.5s"', '"0.000000001s"', '"0.0000000001s"', '"1.000s"'],
        *['"1.100000s"', '"315576000000s"', '"315576000001s"', '"-315576000000s"', '"-315576000001s"', '"01s"'],
        *['"1.s"', '".5s"', '"+1s"', '" 1s"', '"1.5 s"', '"1_0s"', '"1"', '"1S"', '"1e3s"', '"s"', '""', "1", "null"],
    ],
}

# Where the codec reads an input otherwise than json_format on purpose, and why.
ASCII = "json_format reads text with int() and float(), which take '+', spaces, '_' and other scripts' digits"
EXACT = "json_format reads integer text through a double (2, 0, 9007199254740992); the codec is exact, as Go's is"
FLOAT_WORDS = "json_format's float() takes inf, +Infinity, any case and spaces; the spec has NaN, Infinity, -Infinity"
OVERFLOW = "json_format turns text beyond the field's range into Infinity, a value nobody sent; the codec refuses it"
NEGATIVE_ZERO = "-0.0 is stored as 0, the default: PostgreSQL's JSONB has no negative zero"
FLOAT32_MAX = "json_format refuses numbers above the largest float32, its own 3.4028235e38 too; the codec rounds them"
FLOAT32_MAX_WRITTEN = "the codec writes the largest float32 exactly: json_format refuses the 3.4028235e38 it prints"
BOOL_AS_NUMBER = "json_format takes true as the number 1; the codec takes booleans only for bools"
ENUM_UNKNOWN = "json_format keeps numbers an open enum does not declare; the codec stores names, so refuses them"
ENUM_NOT_INTEGER = "json_format takes true and fractions as enum numbers (5.5 as 5); the codec takes whole numbers only"
BASE64 = "json_format's base64 skips characters outside the alphabet and stops at padding; the codec wants well-formed"
RFC3339 = "json_format's strptime takes one-digit fields, an empty fraction and offsets past 23:59; RFC 3339 does not"
DURATION = "json_format reads durations with int() and float() ('+', spaces, '_', '1.s', 10 digits cut to 9)"
MIN_AS_FLOAT = "orjson reads integers below int64's range as floats, some as -2**63: the codec refuses that float"
NOT_JSON = "orjson refuses a number beyond a double as JSON: a 400 naming the line and column, not the field"


def _each(kinds: tuple[str, ...], values: list[str], reason: str) -> dict[tuple[str, str], str]:
    return {(kind, value): reason for kind in kinds for value in values}


DIFFERENCES = {
    **_each(INTEGERS, ['"+1"', '"\\t1"', '"1\\n"', '"1_0"', '"\u0661"'], ASCII),
    **_each(INTEGERS, ['"1.9999999999999999999999"', '"1e-400"'], EXACT),
    **_each(("int64", "optional int64", "uint64"), ['"9007199254740993.0"'], EXACT),
    **_each(INTEGERS + FLOATS, ["1e400"], NOT_JSON),
    **_each(("int64", "optional int64"), ["-9223372036854775808.0", "-9.223372036854775808e18"], MIN_AS_FLOAT),
    **_each(FLOATS, ["-0.0", '"-0"'], NEGATIVE_ZERO),
    **_each(FLOATS, ['"Nan"', '"inf"', '"-inf"', '"infinity"', '"+Infinity"', '"NaN "', '" Infinity"'], FLOAT_WORDS),
    **_each(FLOATS, ['"1e309"', '"-1e309"'], OVERFLOW),
    **_each(("float",), ['"1e39"', '"-1e39"', '"1e308"'], OVERFLOW),
    **_each(("float",), ["3.4028235e38", "3.40282356e38"], FLOAT32_MAX),
    **_each(("float",), ['"3.4028235e38"', '"3.4028234663852886e38"'], FLOAT32_MAX_WRITTEN),
    **_each(FLOATS, ["true"], BOOL_AS_NUMBER),
    **_each(("enum",), ["99", '"99"', "-1"], ENUM_UNKNOWN),
    **_each(("enum",), ["5.5", "true"], ENUM_NOT_INTEGER),
    **_each(("enum",), ['"+5"', '" 5"'], ASCII),
    **_each(("bytes",), ['"AQ==="', '"AQI=="', '"====="', '"AQ==AQ=="', '"A Q=="', '"AQ==\\n"', '"!!!!"'], BASE64),
    **_each(("bytes",), ['"AQ=a"'], BASE64),
    **_each(("timestamp",), ['"2024-01-02T03:04:05+24:00"', '"2024-01-02T03:04:05+00:60"'], RFC3339),
    **_each(("timestamp",), ['"2024-01-02T03:04:05.Z"', '"2024-1-02T03:04:05Z"', '"2024-01-02T3:04:05Z"'], RFC3339),
    **_each(("duration",), ['"0.0000000001s"', '"1.s"', '"+1s"', '" 1s"', '"1.5 s"', '"1_0s"'], DURATION),
}
CASES = [(kind, value) for kind, values in INPUTS.items() for value in values]

REFUSED = "refused"  # a DecodeError naming the field, or protobuf's ParseError
NOT_READ = "not read"  # orjson refused the text: the codec never saw it


def _body(kind: str, value: str) -> str:
    """The JSON text of an Occurrence with `value` (JSON text) in the field of `kind`."""
    path, any_type = FIELDS[kind]
    doc = _nest(path, "@@")
    if any_type is not None:
        doc = {"secret": {"data": {"@type": f"type.googleapis.com/{any_type}", **doc}}}
    return json.dumps(doc).replace('"@@"', value)


def _nest(path: str, value) -> dict:
    for key in reversed(path.split(".")):
        value = {key.removesuffix("[0]"): [value] if key.endswith("[0]") else value}
    return value


def _error_path(kind: str) -> str:
    path, any_type = FIELDS[kind]
    return path if any_type is None else f"secret.data.{path}"


def _ours(kind: str, value: str):
    """The canonical document, REFUSED or NOT_READ, as the server reads a request body."""
    try:
        sent = orjson.loads(_body(kind, value))
    except orjson.JSONDecodeError:
        return NOT_READ
    try:
        return CODEC.decode(OCCURRENCE, sent)
    except DecodeError as exc:
        assert exc.path == _error_path(kind)
        return REFUSED


def _protobufs(kind: str, value: str):
    try:
        parsed = json_format.Parse(_body(kind, value), OccurrencePb())
    except json_format.ParseError:
        return REFUSED
    return json_format.MessageToDict(parsed, preserving_proto_field_name=False)


@pytest.mark.parametrize(("kind", "value"), CASES, ids=[f"{kind}:{value[:30]}" for kind, value in CASES])
def test_scalar_read_as_protobuf_reads_it(kind, value):
    ours, protobufs = _ours(kind, value), _protobufs(kind, value)
    difference = DIFFERENCES.get((kind, value))
    if difference is None:
        assert ours == protobufs
    else:
        assert ours != protobufs, f"no longer a difference, drop it: {difference}"


def test_every_difference_is_a_case():
    assert set(DIFFERENCES) <= set(CASES)


@pytest.mark.parametrize("kind", FIELDS)
def test_each_field_is_of_its_kind(kind):
    """The fields chosen hold the kind they stand for, as the message descriptors say."""
    path, any_type = FIELDS[kind]
    pool = descriptor_pool.Default()
    desc = OccurrencePb.DESCRIPTOR if any_type is None else pool.FindMessageTypeByName(any_type)
    for key in path.split("."):
        fd = {f.json_name: f for f in desc.fields}[key.removesuffix("[0]")]
        assert fd.is_repeated == key.endswith("[0]")
        desc = fd.message_type
    field_type, message = FIELD_TYPES[kind]
    assert (fd.type, desc.full_name if desc else None) == (field_type, message)
    if message is None:
        assert fd.has_presence == (kind == "optional int64")


@pytest.mark.parametrize("kind", ["float", "double"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400], ids=["nan", "inf", "-inf", "10**400"])
def test_python_numbers_past_a_double_are_refused(kind, value):
    """Values orjson never makes, which a Python caller could pass: json_format.ParseDict refuses them too."""
    sent = _nest(FIELDS[kind][0], value)
    with pytest.raises(DecodeError) as info:
        CODEC.decode(OCCURRENCE, sent)
    assert info.value.path == _error_path(kind)
    with pytest.raises((json_format.ParseError, OverflowError)):  # 10**400: an OverflowError, not a ParseError
        json_format.ParseDict(sent, OccurrencePb())
