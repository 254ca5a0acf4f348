"""The wire codec against protobuf's own json_format, on random Notes and Occurrences and on examples."""

from __future__ import annotations

import json
import math

import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grafeas.grafeas_v1 import types as grafeas_types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grafeas_py.wire.codec import DecodeError
from grafeas_py.wire.grafeas_types import (
    CODEC,
    NOTE,
    NOTE_TYPE_BY_KIND,
    OCCURRENCE,
    OCCURRENCE_DETAILS_BY_KIND,
    REGISTRY,
)
from tests.strategies import NOTE_KINDS, OCCURRENCE_KINDS, messages, note_messages, occurrence_messages

NotePb = grafeas_types.Note.pb()
OccurrencePb = grafeas_types.Occurrence.pb()

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Kinds the codec knows but the installed client does not (AI_SKILL_ANALYSIS) cannot be generated.
assert set(NOTE_KINDS) <= set(NOTE_TYPE_BY_KIND) and set(OCCURRENCE_KINDS) <= set(OCCURRENCE_DETAILS_BY_KIND)


def _same_message(a, b) -> bool:
    """Equal, counting NaN as equal to itself and Any contents equal whatever their map order."""
    return a == b or _normalized(a).SerializeToString(deterministic=True) == _normalized(b).SerializeToString(
        deterministic=True
    )


def _normalized(m):
    """A copy with every Any repacked deterministically (an Any compares its packed bytes)."""
    m = type(m).FromString(m.SerializeToString())
    _repack(m)
    return m


def _repack(m) -> None:
    if m.DESCRIPTOR.full_name == "google.protobuf.Any":
        if m.type_url:
            cls = message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(m.TypeName()))
            inner = cls.FromString(m.value)
            _repack(inner)
            m.value = inner.SerializeToString(deterministic=True)
        return
    for fd, value in m.ListFields():
        if fd.message_type is None:
            continue
        if fd.message_type.GetOptions().map_entry:
            if fd.message_type.fields_by_name["value"].message_type is not None:
                for v in value.values():
                    _repack(v)
        elif fd.is_repeated:
            for v in value:
                _repack(v)
        else:
            _repack(value)


def _check_roundtrip(schema, cls, m, ints: bool, snake: bool) -> None:
    sent = json_format.MessageToDict(m, use_integers_for_enums=ints, preserving_proto_field_name=snake)
    canonical = CODEC.decode(schema, sent)
    # a) the canonical form is exactly protobuf's default JSON form (but for the largest float32, below)
    printed = json_format.MessageToDict(m)
    assert canonical in (printed, _float32_max_exact(printed))
    # b) with enums as numbers, exactly protobuf's integer-enum form
    printed = json_format.MessageToDict(m, use_integers_for_enums=True)
    assert CODEC.enums_to_numbers(schema, canonical) in (printed, _float32_max_exact(printed))
    # c) protobuf parses the canonical form back into the same message
    parsed = json_format.ParseDict(canonical, cls())
    assert _same_message(parsed, m), (parsed, m)


# protobuf prints the largest float32 as 3.4028235e+38 and then refuses that number as "too large"
# (it compares with the exact maximum); the codec writes the exact maximum, which it reads.
_FLOAT32_MAX_PRINTED = {3.4028235e38: 3.4028234663852886e38, -3.4028235e38: -3.4028234663852886e38}


def _has_float32_max(obj) -> bool:
    if isinstance(obj, dict):
        return any(_has_float32_max(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_float32_max(v) for v in obj)
    return type(obj) is float and obj in _FLOAT32_MAX_PRINTED


def _float32_max_exact(obj):
    if isinstance(obj, dict):
        return {k: _float32_max_exact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_float32_max_exact(v) for v in obj]
    return _FLOAT32_MAX_PRINTED.get(obj, obj) if type(obj) is float else obj


# Hypothesis keys its example database by pytest node id, so each kind keeps its own failures.
@pytest.mark.parametrize("kind", [None, *NOTE_KINDS])
@PROPERTY
@given(data=st.data(), ints=st.booleans(), snake=st.booleans())
def test_note_roundtrip(kind, data, ints, snake):
    m = data.draw(note_messages(kind), label="note")
    if kind is not None:
        assert m.WhichOneof("type") == kind.lower()
    _check_roundtrip(NOTE, NotePb, m, ints, snake)


@pytest.mark.parametrize("kind", [None, *OCCURRENCE_KINDS])
@PROPERTY
@given(data=st.data(), ints=st.booleans(), snake=st.booleans())
def test_occurrence_roundtrip(kind, data, ints, snake):
    m = data.draw(occurrence_messages(kind), label="occurrence")
    if kind is not None:
        assert m.WhichOneof("details") == kind.lower()
    _check_roundtrip(OCCURRENCE, OccurrencePb, m, ints, snake)


def _default_pool_types() -> list[str]:
    """Every ordinary message type the codec has tables for that the installed client also defines."""
    pool = descriptor_pool.Default()
    names = []
    for name, msg in sorted(REGISTRY.messages.items()):
        try:
            pool.FindMessageTypeByName(name)
        except KeyError:  # AI_SKILL_ANALYSIS messages: declared by grafeas_py only
            continue
        if msg.well_known is None:
            names.append(name)
    return names


@pytest.mark.parametrize("full_name", _default_pool_types())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), ints=st.booleans(), snake=st.booleans())
def test_every_message_type_roundtrip(full_name, data, ints, snake):
    """Each message type on its own, so fields deep below Note and Occurrence get their share."""
    desc = descriptor_pool.Default().FindMessageTypeByName(full_name)
    m = data.draw(messages(desc, depth=2), label=full_name)
    _check_roundtrip(REGISTRY.messages[full_name], message_factory.GetMessageClass(desc), m, ints, snake)


# ---- examples ------------------------------------------------------------------------------------


def _decode_error(schema, data) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        CODEC.decode(schema, data)
    return info.value


def _parse_fails(cls, data) -> bool:
    """Whether the official client, which reads responses with json_format.Parse, fails on `data`."""
    try:
        json_format.Parse(json.dumps(data), cls())
    except json_format.ParseError:
        return True
    return False


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [
        ("2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05Z"),
        ("2024-01-02T03:04:05-01:30", "2024-01-02T04:34:05Z"),
        ("2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00Z"),
        ("2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.1Z", "2024-01-02T03:04:05.100Z"),
        ("2024-01-02T03:04:05.12Z", "2024-01-02T03:04:05.120Z"),
        ("2024-01-02T03:04:05.1234Z", "2024-01-02T03:04:05.123400Z"),
        ("2024-01-02T03:04:05.1234567Z", "2024-01-02T03:04:05.123456700Z"),
        ("2024-01-02T03:04:05.000000001Z", "2024-01-02T03:04:05.000000001Z"),
        ("2024-01-02T03:04:05.999999999+00:00", "2024-01-02T03:04:05.999999999Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999999999Z"),
        ("2024-02-29T12:00:00Z", "2024-02-29T12:00:00Z"),
    ],
)
def test_timestamp_normalized(sent, canonical):
    out = CODEC.decode(NOTE, {"createTime": sent})
    assert out == {"createTime": canonical}
    assert json_format.MessageToDict(json_format.ParseDict({"createTime": sent}, NotePb())) == out


@pytest.mark.parametrize(
    "sent",
    [
        "2024-01-02 03:04:05Z",
        "2024-01-02T03:04:05",
        "2024-02-30T00:00:00Z",
        "2024-01-02T03:04:05.1234567890Z",
        "0000-12-31T23:59:59Z",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
        "",
        "2024-01-02t03:04:05Z",  # lower-case t and z: RFC 3339 allows them, protobuf does not
        "2024-01-02T03:04:05z",
        "2016-12-31T23:59:60Z",  # a leap second: protobuf refuses it
        "2024-01-02T03:04:05+0200",
        "2024-01-02T03:04:05Z ",
    ],
)
def test_timestamp_rejected(sent):
    assert _decode_error(NOTE, {"updateTime": sent}).path == "updateTime"
    assert _parse_fails(NotePb, {"updateTime": sent})


@pytest.mark.parametrize("sent", ["２０２４-01-02T03:04:05Z", "2024-01-02T03:04:0٥Z", "2024-01-02T03:04:05.٥Z"])
def test_timestamp_in_other_scripts_digits_rejected(sent):
    """Protobuf's Python parser reads any script's digits (strptime's \\d); upstream Grafeas, in Go, reads
    ASCII only, and so do filters: a time that only this server could read is refused."""
    assert _decode_error(NOTE, {"updateTime": sent}).path == "updateTime"


def test_timestamp_not_a_string():
    assert _decode_error(NOTE, {"createTime": 1700000000}).path == "createTime"


@pytest.mark.parametrize(
    "value", [9223372036854775807, "9223372036854775807", -9223372036854775808, "-12", 7, "7", 7.0]
)
def test_int64_as_number_or_string(value):
    sent = {"build": {"intotoProvenance": {"recipe": {"definedInMaterial": value}}}}
    out = CODEC.decode(OCCURRENCE, sent)
    assert out == json_format.MessageToDict(json_format.ParseDict(sent, OccurrencePb()))
    assert out["build"]["intotoProvenance"]["recipe"]["definedInMaterial"] == str(int(value))
    assert CODEC.enums_to_numbers(OCCURRENCE, out) == out  # int64 stays a string


@pytest.mark.parametrize(
    "value", [9223372036854775808, "-9223372036854775809", "1.5", 1.5, "x", " 1", "1 ", "", True, [1], {}]
)
def test_int64_rejected(value):
    sent = {"build": {"intotoProvenance": {"recipe": {"definedInMaterial": value}}}}
    assert _decode_error(OCCURRENCE, sent).path == "build.intotoProvenance.recipe.definedInMaterial"
    assert _parse_fails(OccurrencePb, sent)


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("1.9999999999999999999999", None),
        ("1e-400", None),
        ("9007199254740993.0", "9007199254740993"),
        ("-1.20e1", "-12"),
    ],
)
def test_int64_text_read_exactly(value, canonical):
    # Deliberately unlike protobuf's Python json_format, which reads such text through a float: 2 for
    # the first, 0 for the second, 9007199254740992 for the third. Go's protojson is exact, as here.
    sent = {"build": {"intotoProvenance": {"recipe": {"definedInMaterial": value}}}}
    if canonical is None:
        assert _decode_error(OCCURRENCE, sent).path == "build.intotoProvenance.recipe.definedInMaterial"
    else:
        assert CODEC.decode(OCCURRENCE, sent)["build"]["intotoProvenance"]["recipe"]["definedInMaterial"] == canonical
    assert not _parse_fails(OccurrencePb, sent)


@pytest.mark.parametrize(("value", "expected"), [(2147483647, 2147483647), ("-2147483648", -2147483648), (3.0, 3)])
def test_int32_as_number_or_string(value, expected):
    out = CODEC.decode(OCCURRENCE, {"image": {"distance": value}})
    assert out == {"image": {"distance": expected}}
    assert out == json_format.MessageToDict(json_format.ParseDict({"image": {"distance": value}}, OccurrencePb()))


@pytest.mark.parametrize("value", [2147483648, "-2147483649", "1e10"])
def test_int32_out_of_range(value):
    assert _decode_error(OCCURRENCE, {"image": {"distance": value}}).path == "image.distance"
    assert _parse_fails(OccurrencePb, {"image": {"distance": value}})


@pytest.mark.parametrize("value", ["CRITICAL", 5])
def test_enum_as_name_or_number(value):
    out = CODEC.decode(OCCURRENCE, {"vulnerability": {"severity": value}})
    assert out == {"vulnerability": {"severity": "CRITICAL"}}
    assert CODEC.enums_to_numbers(OCCURRENCE, out) == {"vulnerability": {"severity": 5}}


@pytest.mark.parametrize("value", ["SEVERITY_UNSPECIFIED", 0])
def test_enum_default_omitted(value):
    assert CODEC.decode(OCCURRENCE, {"vulnerability": {"severity": value}}) == {"vulnerability": {}}


@pytest.mark.parametrize("value", ["critical", "NOPE", {}, [1]])
def test_enum_rejected(value):
    err = _decode_error(OCCURRENCE, {"vulnerability": {"severity": value}})
    assert err.path == "vulnerability.severity"
    assert _parse_fails(OccurrencePb, {"vulnerability": {"severity": value}})


@pytest.mark.parametrize("value", [99, -1, True, 2.5])
def test_enum_stricter_than_protobuf(value):
    # protobuf keeps unknown numbers of open enums and takes booleans and fractions as numbers
    # (2.5 becomes LOW); the codec refuses them on purpose.
    assert _decode_error(OCCURRENCE, {"vulnerability": {"severity": value}}).path == "vulnerability.severity"
    assert not _parse_fails(OccurrencePb, {"vulnerability": {"severity": value}})


@pytest.mark.parametrize("value", [2.0, 2e0])
def test_an_enum_number_written_as_a_whole_float_is_read_as_protobuf_reads_it(value):
    """Refused before with 'expected an enum name or number, got a number', as int32 fields take 2.0 too."""
    assert CODEC.decode(OCCURRENCE, {"vulnerability": {"severity": value}}) == {"vulnerability": {"severity": "LOW"}}
    parsed = json_format.ParseDict({"vulnerability": {"severity": value}}, OccurrencePb())
    assert json_format.MessageToDict(parsed) == {"vulnerability": {"severity": "LOW"}}


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [
        ("-_8", "+/8="),  # url-safe alphabet, no padding
        ("-_8=", "+/8="),
        ("+/8=", "+/8="),
        ("AQ", "AQ=="),
        ("AQI", "AQI="),
        ("", None),
    ],
)
def test_bytes_any_base64(sent, canonical):
    out = CODEC.decode(OCCURRENCE, {"attestation": {"serializedPayload": sent}})
    expected = {"attestation": {"serializedPayload": canonical}} if canonical else {"attestation": {}}
    assert out == expected
    assert json_format.MessageToDict(json_format.ParseDict(out, OccurrencePb())) == out


@pytest.mark.parametrize("sent", ["A", "!!!!", 12])
def test_bytes_rejected(sent):
    assert (
        _decode_error(OCCURRENCE, {"attestation": {"serializedPayload": sent}}).path == "attestation.serializedPayload"
    )


def test_unknown_field_named():
    err = _decode_error(NOTE, {"vulnerability": {"cvssScore": 1, "bogusField": 2}})
    assert "bogusField" in str(err)
    assert err.path == "vulnerability"
    assert _parse_fails(NotePb, {"vulnerability": {"cvssScore": 1, "bogusField": 2}})


def test_two_oneof_members():
    sent = {"vulnerability": {}, "build": {}}
    err = _decode_error(NOTE, sent)
    assert "vulnerability" in str(err) and "build" in str(err)
    assert _parse_fails(NotePb, sent)
    # also when spelled in snake_case, and in a nested oneof
    assert _parse_fails(OccurrencePb, {"dsse_attestation": {}, "secret": {}})
    _decode_error(OCCURRENCE, {"dsse_attestation": {}, "secret": {}})
    nested = {"build": {"provenance": {"sourceProvenance": {"context": {"git": {}, "gerrit": {}}}}}}
    _decode_error(OCCURRENCE, nested)
    assert _parse_fails(OccurrencePb, nested)


def test_one_oneof_member_and_a_null_one():
    assert CODEC.decode(NOTE, {"vulnerability": {}, "build": None}) == {"vulnerability": {}}


def test_wrong_type_path():
    sent = {"vulnerability": {"packageIssue": [{"affectedCpeUri": "x"}, {"affectedVersion": {"kind": {"x": 1}}}]}}
    err = _decode_error(OCCURRENCE, sent)
    assert err.path == "vulnerability.packageIssue[1].affectedVersion.kind"
    sent = {"vulnerability": {"packageIssue": [{"affectedVersion": {"kind": [1]}}]}}
    assert _decode_error(OCCURRENCE, sent).path == "vulnerability.packageIssue[0].affectedVersion.kind"
    assert _parse_fails(OccurrencePb, sent)
    # snake_case input still reports the canonical camelCase path
    sent = {"vulnerability": {"package_issue": [{"affected_version": {"kind": "NOT_A_KIND"}}]}}
    assert _decode_error(OCCURRENCE, sent).path == "vulnerability.packageIssue[0].affectedVersion.kind"
    # and into map values
    sent = {"build": {"provenance": {"buildOptions": {"k": 1}}}}
    assert _decode_error(OCCURRENCE, sent).path == "build.provenance.buildOptions['k']"


@pytest.mark.parametrize(
    "sent",
    [
        {"shortDescription": 5},
        {"relatedUrl": {"url": "x"}},
        {"relatedUrl": [5]},
        {"vulnerability": {"cvssScore": "high"}},
        {"build": {"builderVersion": None, "signature": {"keyType": 1.5}}},
        {"relatedNoteNames": "a"},
    ],
)
def test_wrong_types_rejected(sent):
    _decode_error(NOTE, sent)
    assert _parse_fails(NotePb, sent)


@pytest.mark.parametrize("key", ["_type", "type"])
def test_intoto_type_alias(key):
    sent = {"build": {"intotoStatement": {key: "https://in-toto.io/Statement/v0.1", "predicateType": "p"}}}
    out = CODEC.decode(OCCURRENCE, sent)
    assert out == {"build": {"intotoStatement": {"type": "https://in-toto.io/Statement/v0.1", "predicateType": "p"}}}
    # what protobuf would print for the same message
    statement = grafeas_types.InTotoStatement.pb()(type_="https://in-toto.io/Statement/v0.1", predicate_type="p")
    m = OccurrencePb()
    m.build.intoto_statement.CopyFrom(statement)
    assert out == json_format.MessageToDict(m)


def test_intoto_type_given_twice():
    sent = {"build": {"intotoStatement": {"_type": "a", "type": "b"}}}
    assert _decode_error(OCCURRENCE, sent).path == "build.intotoStatement.type"


def test_nulls_are_unset():
    sent = {
        "name": None,
        "createTime": None,
        "relatedUrl": None,
        "vulnerability": {"cvssScore": None, "severity": None, "details": None, "cvssV3": None},
        "build": None,
    }
    assert CODEC.decode(NOTE, sent) == {"vulnerability": {}}
    assert json_format.MessageToDict(json_format.ParseDict(sent, NotePb())) == {"vulnerability": {}}


def test_free_form_json_as_protobuf_holds_it():
    """Struct and Value: nulls are values there, and every number is a double."""
    annotations = {"a": None, "b": [None, 1, True], "c": {"d": None}, "big": 2**63 - 1, "s": "x"}
    sent = {"build": {"inTotoSlsaProvenanceV1": {"predicate": {"buildDefinition": {}}}}}
    sent["build"]["inTotoSlsaProvenanceV1"]["predicate"]["buildDefinition"] = {
        "externalParameters": annotations,
        "resolvedDependencies": [{"annotations": annotations}],
    }
    out = CODEC.decode(OCCURRENCE, sent)
    assert out == json_format.MessageToDict(json_format.ParseDict(sent, OccurrencePb()))
    definition = out["build"]["inTotoSlsaProvenanceV1"]["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["big"] == 2.0**63 and definition["externalParameters"]["b"][1] == 1
    for bad in (2**1024, float("nan"), float("inf")):
        definition = {"externalParameters": {"x": [bad]}}
        sent = {"build": {"inTotoSlsaProvenanceV1": {"predicate": {"buildDefinition": definition}}}}
        err = _decode_error(OCCURRENCE, sent)
        assert err.path == "build.inTotoSlsaProvenanceV1.predicate.buildDefinition.externalParameters['x'][0]"


def test_null_list_item_rejected():
    assert _decode_error(NOTE, {"relatedNoteNames": ["a", None]}).path == "relatedNoteNames[1]"
    assert _parse_fails(NotePb, {"relatedNoteNames": ["a", None]})


def test_defaults_omitted_but_oneof_kept():
    assert CODEC.decode(NOTE, {"name": "", "vulnerability": {"cvssScore": 0}}) == {"vulnerability": {}}


def test_negative_zero_is_stored_as_the_default():
    """A deliberate difference from protobuf: PostgreSQL's JSONB has no -0.0, so every database gets 0."""
    assert CODEC.decode(NOTE, {"vulnerability": {"cvssScore": -0.0}}) == {"vulnerability": {}}
    assert CODEC.decode(NOTE, {"vulnerability": {"cvssScore": "-0"}}) == {"vulnerability": {}}


@pytest.mark.parametrize(
    "body, path",
    [
        ({"shortDescription": "a\x00b"}, "shortDescription"),
        ({"relatedNoteNames": ["ok", "\x00"]}, "relatedNoteNames[1]"),
        ({"build": {"builderVersion": "v\x00"}}, "build.builderVersion"),
    ],
)
def test_nul_characters_are_refused(body, path):
    """Also deliberate: PostgreSQL cannot store U+0000, so it is refused on every database."""
    error = _decode_error(NOTE, body)
    assert error.path == path
    assert "NUL" in error.reason


@pytest.mark.parametrize(
    ("sent", "canonical"), [(0.1, 0.1), ("1e1", 10.0), (1, 1.0), ("NaN", "NaN"), ("-Infinity", "-Infinity")]
)
def test_float32(sent, canonical):
    out = CODEC.decode(OCCURRENCE, {"vulnerability": {"cvssScore": sent}})
    assert out == {"vulnerability": {"cvssScore": canonical}}
    assert out == json_format.MessageToDict(json_format.ParseDict(out, OccurrencePb()))


def test_negative_zero_in_a_struct_is_zero_as_in_numeric_fields():
    # PostgreSQL's JSONB has no -0.0: kept, it read back as 0.0 there and as -0.0 on SQLite.
    path = "build.intotoStatement.slsaProvenanceZeroTwo.buildConfig"
    out = CODEC.decode(OCCURRENCE, _nest(path, {"a": -0.0, "b": [-0.0, 0, 1.5]}))
    config = out["build"]["intotoStatement"]["slsaProvenanceZeroTwo"]["buildConfig"]
    assert config == {"a": 0.0, "b": [0.0, 0, 1.5]} and math.copysign(1, config["a"]) == 1


@pytest.mark.parametrize("text", ["²", "٣", " 1", "1 ", "+"])
def test_numbers_in_text_are_ascii(text):
    # str.isdigit() takes "²", which int() refuses: an enum given as "²" was a ValueError (a 500),
    # and int() took other scripts' digits ("٣" was 3).
    assert _decode_error(NOTE, {"vulnerability": {"severity": text}}).path == "vulnerability.severity"
    assert _decode_error(OCCURRENCE, {"image": {"distance": text}}).path == "image.distance"


def test_float32_out_of_range():
    assert _decode_error(OCCURRENCE, {"vulnerability": {"cvssScore": 1e39}}).path == "vulnerability.cvssScore"
    assert _parse_fails(OccurrencePb, {"vulnerability": {"cvssScore": 1e39}})
    # protobuf turns a string "1e39" into Infinity; the codec refuses it
    assert _decode_error(OCCURRENCE, {"vulnerability": {"cvssScore": "1e39"}}).path == "vulnerability.cvssScore"


def test_float32_max_as_protobuf_prints_it():
    # protobuf prints the largest float32 as 3.4028235e+38 (above the exact maximum), which its own
    # parser refuses: the codec accepts it and writes the exact maximum, which protobuf reads back.
    m = OccurrencePb()
    m.vulnerability.cvss_score = float.fromhex("0x1.fffffep+127")
    printed = json_format.MessageToDict(m)
    assert printed == {"vulnerability": {"cvssScore": 3.4028235e38}}
    canonical = CODEC.decode(OCCURRENCE, printed)
    assert canonical == {"vulnerability": {"cvssScore": 3.4028234663852886e38}}
    assert json_format.ParseDict(canonical, OccurrencePb()) == m
    assert _parse_fails(OccurrencePb, printed)


@pytest.mark.parametrize("sent", [[], True])
def test_stricter_than_protobuf(sent):
    # protobuf takes [] for a message and true for a float; the codec refuses both.
    _decode_error(NOTE, {"vulnerability": sent})
    _decode_error(NOTE, {"vulnerability": {"cvssScore": sent}})


def test_any_of_an_unknown_type_is_refused():
    # Kept as sent, it made the official client's json_format fail on every read of its page.
    data = {"@type": "type.googleapis.com/example.Unknown", "x": [1, {"y": None}]}
    error = _decode_error(OCCURRENCE, {"secret": {"data": data}})
    assert (error.path, "unknown type 'type.googleapis.com/example.Unknown'" in error.reason) == ("secret.data", True)
    assert _parse_fails(OccurrencePb, {"secret": {"data": data}})


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [
        ({"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1.5s"}, {"value": "1.500s"}),
        ({"@type": "type.googleapis.com/google.protobuf.Int64Value", "value": 5}, {"value": "5"}),
        ({"@type": "type.googleapis.com/google.protobuf.BoolValue", "value": True}, {"value": True}),
        ({"@type": "type.googleapis.com/google.protobuf.FieldMask", "value": "a.b,c"}, {"value": "a.b,c"}),
        ({"@type": "type.googleapis.com/google.protobuf.Empty", "value": {}}, {}),  # as Go's protojson writes it
        ({"@type": "type.googleapis.com/google.protobuf.Empty"}, {}),
        ({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "R", "metadata": {"k": "v"}}, None),
        ({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}, {"retryDelay": "2s"}),
    ],
    ids=lambda v: v["@type"].rsplit(".", 1)[1] if isinstance(v, dict) and "@type" in v else "",
)
def test_any_of_well_known_types_and_error_details(sent, canonical):
    out = CODEC.decode(OCCURRENCE, {"secret": {"data": sent}})["secret"]["data"]
    expected = {"@type": sent["@type"], **(canonical if canonical is not None else sent)}
    assert out == expected
    parsed = json_format.ParseDict({"secret": {"data": out}}, OccurrencePb())
    assert json_format.MessageToDict(parsed)["secret"]["data"] == expected


@pytest.mark.parametrize(
    "value",
    [
        {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "315576000001s"},
        {"@type": "type.googleapis.com/google.protobuf.Duration", "value": 1.5},
        {"@type": "type.googleapis.com/google.protobuf.Int64Value", "value": "x"},
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": 1},
        {"@type": "type.googleapis.com/google.protobuf.Empty", "x": 1},
        # Stored, each made the official client fail on every read of the occurrence and of its page.
        *(
            {"@type": f"type.googleapis.com/google.protobuf.{name}"}
            for name in ("Duration", "Timestamp", "Struct", "Value", "ListValue", "Any", "Int32Value", "FieldMask")
        ),
        {"@type": "type.googleapis.com/google.protobuf.FieldMask", "value": "a_b"},
        {"@type": "type.googleapis.com/grafeas.v1.AISkillAnalysisOccurrence", "skillName": "s"},
    ],
    ids=lambda v: "-".join(str(x) for x in v.values()).rsplit(".", 1)[-1],
)
def test_any_of_a_well_known_type_is_checked(value):
    error = _decode_error(OCCURRENCE, {"secret": {"data": value}})
    assert error.path.startswith("secret.data")
    if set(value) == {"@type"} and ".protobuf." in value["@type"]:  # a well-known type without its value
        assert error.reason == f"an Any holding {value['@type'].rsplit('/', 1)[1]} carries it in 'value'"
    if value.get("value") == "a_b":
        assert error.reason == "field mask paths are lowerCamelCase, without '_': 'a_b'"
    assert _parse_fails(OccurrencePb, {"secret": {"data": value}})


def test_any_known_types():
    ts = {"@type": "type.googleapis.com/google.protobuf.Timestamp", "value": "2024-01-02T03:04:05+01:00"}
    out = CODEC.decode(OCCURRENCE, {"secret": {"data": ts}})
    assert out["secret"]["data"]["value"] == "2024-01-02T02:04:05Z"
    version = {"@type": "type.googleapis.com/grafeas.v1.Version", "kind": 1, "epoch": 0, "name": "1"}
    out = CODEC.decode(OCCURRENCE, {"secret": {"data": version}})
    assert out["secret"]["data"] == {"@type": version["@type"], "name": "1", "kind": "NORMAL"}
    assert CODEC.enums_to_numbers(OCCURRENCE, out)["secret"]["data"]["kind"] == 1
    bad = {"@type": "type.googleapis.com/grafeas.v1.Version", "kind": "NOPE"}
    assert _decode_error(OCCURRENCE, {"secret": {"data": bad}}).path == "secret.data.kind"
    for malformed in ({"value": 1}, {"@type": "/"}, {"@type": "x/"}, {"@type": "x"}, {"@type": 1}):
        assert _decode_error(OCCURRENCE, {"secret": {"data": malformed}}).path == "secret.data"
    assert CODEC.decode(OCCURRENCE, {"secret": {"data": {}}}) == {"secret": {"data": {}}}
    nested = {"@type": "type.googleapis.com/google.protobuf.Any", "value": version}
    out = CODEC.decode(OCCURRENCE, {"secret": {"data": nested}})
    assert out["secret"]["data"]["value"]["kind"] == "NORMAL"
    assert CODEC.enums_to_numbers(OCCURRENCE, out)["secret"]["data"]["value"]["kind"] == 1


# ---- differential: random JSON against protobuf's parser -----------------------------------------

# One slot per kind of value, in an Occurrence (dotted JSON paths).
SLOTS = [
    "name",  # string
    "kind",  # enum
    "vulnerability.severity",  # enum, nested
    "createTime",  # Timestamp
    "vulnerability.cvssScore",  # float
    "vulnerability.risk.epss.percentile",  # double
    "vulnerability.fixAvailable",  # bool
    "image.distance",  # int32
    "build.intotoProvenance.recipe.definedInMaterial",  # int64
    "attestation.serializedPayload",  # bytes
    "deployment.resourceUri",  # repeated string
    "build.provenance.buildOptions",  # map<string, string>
    "build.intotoStatement.slsaProvenanceZeroTwo.buildConfig",  # Struct
    "secret.data",  # Any
    "discovery.analysisError",  # repeated google.rpc.Status
    "vulnerability",  # a message
    "vulnerability.packageIssue",  # repeated message
]

_INTERESTING_STRINGS = [
    *["", "0", "1", "-1", "1.0", "1e3", "1.5", " 1", "1 ", "\t1", "0x10", "1_0", "5", "4294967296"],
    *["NaN", "Infinity", "-Infinity", "nan", "inf", "true", "false", "null", "3.4028235e38", "1e39"],
    *["9223372036854775807", "9223372036854775808", "-9223372036854775809"],
    *["AQ", "AQ==", "-_8", "+/8=", "A", "CRITICAL", "NORMAL"],
    *["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5+01:00", "2024-01-02T03:04:05", "0001-01-01T00:00:00Z"],
    *["2024-01-02t03:04:05z", "2016-12-31T23:59:60Z", "type.googleapis.com/grafeas.v1.Version"],
    *["type.googleapis.com/google.protobuf.Timestamp", "type.googleapis.com/google.protobuf.Struct"],
]
_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, -1, 5, 99, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63), 2**64]),
    st.integers(),
    st.sampled_from([0.0, 1.0, 2.5, 1e20, 3.4028235e38, 1e39, -1e39, 1e-50]),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: x if x != 0 else 0.0),  # no -0.0: see above
    st.sampled_from(_INTERESTING_STRINGS),
    st.text(alphabet="0123456789+-.eE _/=AQaxZTz:", max_size=10),
)
_json_keys = st.sampled_from(["@type", "value", "kind", "name", "severity", "cvssScore", "packageIssue", "a", "k"])
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(_json_keys, inner, max_size=3)),
    max_leaves=5,
)


def _nest(path: str, value) -> dict:
    for key in reversed(path.split(".")):
        value = {key: value}
    return value


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(SLOTS), _json_values)
def test_never_more_lenient_than_protobuf(slot, value):
    """Whatever protobuf refuses, the codec refuses; whatever both take, they read the same."""
    sent = _nest(slot, value)
    try:
        expected = json_format.MessageToDict(json_format.ParseDict(sent, OccurrencePb()))
    except Exception:  # mostly ParseError; protobuf crashes outright on a few inputs ({"@type": null})
        expected = None
    try:
        got = CODEC.decode(OCCURRENCE, sent)
    except DecodeError:
        return  # refusing is always allowed (the codec is stricter in places, on purpose)
    if expected is None and _has_float32_max(sent):
        return  # see _check_roundtrip: protobuf refuses the float32 maximum it prints itself
    assert expected is not None, f"protobuf refuses {sent!r} but the codec took it as {got!r}"
    # A float field holding the float32 maximum is written exactly (see _check_roundtrip); a double is not.
    assert _without_negative_zero(got) in (
        _without_negative_zero(expected),
        _without_negative_zero(_float32_max_exact(expected)),
    )


def _without_negative_zero(obj):
    """Both sides with -0.0 entries dropped: the codec stores -0.0 as the default 0 on purpose."""
    if isinstance(obj, dict):
        return {k: _without_negative_zero(v) for k, v in obj.items() if not _is_negative_zero(v)}
    if isinstance(obj, list):
        return [_without_negative_zero(v) for v in obj]
    return obj


def _is_negative_zero(value) -> bool:
    return isinstance(value, float) and value == 0 and math.copysign(1.0, value) < 0
