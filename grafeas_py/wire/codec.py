"""The proto3 JSON mapping over plain dicts, driven by the compiled message tables.

`decode` takes what a client sent (camelCase or snake_case keys, enums as names or numbers, int64 as
strings or numbers, timestamps with offsets, bytes as any base64) and returns the canonical form:
lowerCamelCase keys, enum names, int64 as strings, UTC `Z` timestamps, standard base64, defaults
omitted. That canonical form is what is stored and what is emitted; `encode` only rewrites enums
to numbers for clients that ask for them.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import functools
import math
import re
import struct

from .quoting import quoted
from .schema import Field, Message
from .timestamps import normalize_duration, normalize_timestamp


class DecodeError(ValueError):
    """Input that does not fit the schema; `path` says where, e.g. `vulnerability.packageIssue[0]`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
# Halfway between the largest float32 and 2**128: anything below rounds to a finite float32
# (protobuf prints the largest float32 as 3.4028235e+38, which is above the float32 itself).
_FLOAT32_LIMIT = float.fromhex("0x1.ffffffp+127")
_FLOAT32_MAX = float.fromhex("0x1.fffffep+127")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_ASCII_INTEGER = re.compile(r"-?[0-9]+")
_ASCII_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _shortest_float32(value: float) -> float:
    """Round to float32 and back to the shortest decimal that survives, as protobuf prints it."""
    if not value or value != value:
        return value  # 0.0, -0.0 and NaN are their own float32; the cache below takes -0.0 for 0.0
    return _rounded_float32(value)


# Scores and ratings repeat: the findings of one scan share a few dozen values.
@functools.lru_cache(maxsize=4096)
def _rounded_float32(value: float) -> float:
    rounded = struct.unpack("<f", struct.pack("<f", value))[0]
    for precision in range(6, 10):
        shorter = float("%.*g" % (precision, rounded))
        if struct.unpack("<f", struct.pack("<f", shorter))[0] == rounded:
            # Near the largest float32 the shortest decimal lies above it, and protobuf's parser
            # refuses it ("Float value too large"): there the exact value is what clients can read.
            return shorter if abs(shorter) <= _FLOAT32_MAX else rounded
    return rounded


def canonical_base64(text: str) -> str:
    """Standard, padded base64 of the bytes `text` encodes in either alphabet, with or without padding;
    ValueError when it is not base64."""
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("not valid base64") from None
    return base64.b64encode(raw).decode("ascii")


class Codec:
    """Decodes client JSON into canonical dicts and encodes them back out."""

    def __init__(self, messages: dict[str, Message]) -> None:
        self.messages = messages  # for resolving google.protobuf.Any by type URL

    # ---- decoding -------------------------------------------------------------------------

    def decode(self, msg: Message, data, path: str = "") -> dict:
        """Decode one message from parsed JSON into its canonical dict."""
        if msg.well_known:
            raise AssertionError("well-known types are decoded by decode_field")
        return (msg.decoder or self._decoder_of(msg))(data, path)

    def _message_decoder(self, msg: Message):
        """The decoder of one message: a loop over the keys given, with the common field kinds
        (strings, enums, messages, lists of messages) converted inline and everything else, and
        every failure, left to the general `_field`.

        A batch of 1000 occurrences is some 17,000 fields; a function call per field was most of the
        time it took to decode one.
        """
        specs = {key: self._spec(f, key) for key, f in msg.by_key.items()}
        full_name, short_name = msg.full_name, msg.short_name
        general = self._field

        def decode_message(data, path):
            if type(data) is not dict:
                raise DecodeError(path, f"expected an object for {short_name}, got {type_name(data)}")
            out: dict = {}
            oneof_seen: dict[str, str] | None = None
            for key, value in data.items():
                spec = specs.get(key)
                if spec is None:
                    raise DecodeError(path, f"unknown field {quoted(key)} in {full_name}")
                f, jn, code, arg, spellings = spec
                if spellings is not None and any(other in data for other in spellings):
                    raise DecodeError(_join(path, jn), "field given twice, under two spellings")
                if value is None:
                    continue
                if f.oneof is not None:
                    if oneof_seen is None:
                        oneof_seen = {}
                    other = oneof_seen.get(f.oneof)
                    if other is not None:
                        raise DecodeError(
                            path,
                            f"fields {other!r} and {jn!r} are both set; only one member of oneof {f.oneof!r} may be",
                        )
                    oneof_seen[f.oneof] = jn
                if code is _STRING:
                    if type(value) is str and "\x00" not in value:
                        if value or f.presence:
                            out[jn] = value
                        continue
                elif code is _ENUM:
                    name = arg.get(value) if type(value) is str or type(value) is int else None
                    if name is not None:
                        if name is not _DEFAULT or f.presence:
                            out[jn] = f.enum.names[0] if name is _DEFAULT else name
                        continue
                elif code is _MESSAGE:
                    out[jn] = (arg.decoder or self._decoder_of(arg))(value, f"{path}.{jn}" if path else jn)
                    continue
                elif code is _MESSAGES and type(value) is list and None not in value:
                    if value:
                        here = f"{path}.{jn}" if path else jn
                        decode_item = arg.decoder or self._decoder_of(arg)
                        out[jn] = [decode_item(item, f"{here}[{i}]") for i, item in enumerate(value)]
                    continue
                converted = general(f, value, _join(path, jn))
                if converted is not _OMIT:
                    out[jn] = converted
            return out

        return decode_message

    def _decoder_of(self, msg: Message):
        """Build a message's decoder and keep it on the message for the next call."""
        decoder = msg.decoder = self._message_decoder(msg)
        return decoder

    @staticmethod
    def _spec(f: Field, key: str) -> tuple:
        """(field, JSON name, kind code, what the kind needs, the field's other spellings if `key` is
        not its JSON name) for the key a client sends."""
        spellings = None if key == f.json_name else tuple({f.json_name, f.name} - {key})
        if f.map_value is not None:
            return f, f.json_name, _OTHER, None, spellings
        if f.kind == "message" and not f.message.well_known:
            return f, f.json_name, _MESSAGES if f.repeated else _MESSAGE, f.message, spellings
        if f.repeated:
            return f, f.json_name, _OTHER, None, spellings
        if f.kind == "string":
            return f, f.json_name, _STRING, None, spellings
        if f.kind == "enum":
            # Every accepted spelling, name or number, to its canonical name; the default to a marker,
            # since proto3 leaves it out unless the field has presence (a oneof, `optional`).
            names = {name: f.enum.names[number] for name, number in f.enum.numbers.items()}
            names.update((number, name) for number, name in f.enum.names.items())
            default = f.enum.names.get(0)
            return f, f.json_name, _ENUM, {k: _DEFAULT if v == default else v for k, v in names.items()}, spellings
        return f, f.json_name, _OTHER, None, spellings

    def _field(self, f: Field, value, path: str):
        if f.map_value is not None:
            if not isinstance(value, dict):
                raise DecodeError(path, f"expected an object (a map), got {type_name(value)}")
            result = {}
            for k, v in value.items():
                key = self._map_key(f.map_key, k, path)
                if v is None and not (f.map_value.message and f.map_value.message.well_known == "value"):
                    raise DecodeError(f"{path}[{quoted(k)}]", "map values may not be null")
                result[key] = self._single(f.map_value, v, f"{path}[{quoted(k)}]")
            return result if result else _OMIT
        if f.repeated:
            if not isinstance(value, list):
                raise DecodeError(path, f"expected a list, got {type_name(value)}")
            items = []
            for i, v in enumerate(value):
                if v is None and not (f.message and f.message.well_known == "value"):
                    raise DecodeError(f"{path}[{i}]", "list items may not be null")
                items.append(self._single(f, v, f"{path}[{i}]"))
            return items if items else _OMIT
        converted = self._single(f, value, path)
        # proto3: a scalar at its default is not present, unless the field has presence.
        if not f.presence and f.kind != "message" and _is_default(f, converted):
            return _OMIT
        return converted

    def _map_key(self, f: Field, key: str, path: str):
        if f.kind == "string":
            return _text(key, path)
        if f.kind == "bool":
            if key not in ("true", "false"):
                raise DecodeError(path, f"map key {quoted(key)} is not a boolean")
            return key
        return str(self._integer(f.kind, key, f"{path}[{quoted(key)}]"))

    def _single(self, f: Field, value, path: str):
        kind = f.kind
        if kind == "string":
            if not isinstance(value, str):
                raise DecodeError(path, f"expected a string, got {type_name(value)}")
            return _text(value, path)
        if kind == "message":
            msg = f.message
            if msg.well_known:
                return self._well_known(msg, value, path)
            return self.decode(msg, value, path)
        if kind == "enum":
            return self._enum(f, value, path)
        return self._scalar(kind, value, path)

    def _enum(self, f: Field, value, path: str) -> str:
        enum = f.enum
        if isinstance(value, str):
            number = enum.numbers.get(value)
            if number is None:
                # str.isdigit() takes "²", which int() refuses; int() refuses over 4300 digits, and no
                # enum number has more than 10.
                if len(value) <= 20 and _ASCII_INTEGER.fullmatch(value):
                    number = int(value)
                else:
                    allowed = ", ".join(sorted(enum.numbers, key=enum.numbers.get))
                    raise DecodeError(path, f"{quoted(value)} is not a {enum.full_name}; expected one of {allowed}")
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer() and abs(value) < 2**31:  # 1.0, 1e0: protobuf takes them
            number = int(value)
        elif isinstance(value, float):
            raise DecodeError(path, f"{quoted(value)} is not a valid {enum.full_name} number")
        else:
            raise DecodeError(path, f"expected an enum name or number, got {type_name(value)}")
        name = enum.names.get(number)
        if name is None:
            raise DecodeError(path, f"{number} is not a valid {enum.full_name} number")
        return name

    def _scalar(self, kind: str, value, path: str):
        if kind == "bool":
            if not isinstance(value, bool):
                raise DecodeError(path, f"expected true or false, got {type_name(value)}")
            return value
        if kind in ("int32", "uint32"):
            return self._integer(kind, value, path)
        if kind in ("int64", "uint64"):
            return str(self._integer(kind, value, path))
        if kind in ("float", "double"):
            return self._float(kind, value, path)
        if kind == "bytes":
            return self._bytes(value, path)
        raise AssertionError(kind)

    @staticmethod
    def _integer(kind: str, value, path: str) -> int:
        if isinstance(value, bool):
            raise DecodeError(path, "expected an integer, got a boolean")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float):
            if not value.is_integer():
                raise DecodeError(path, f"expected an integer, got {quoted(value)}")
            # orjson reads an integer below int64's range as a float, and -9223372036854775809 rounds to
            # -2**63 itself: a float there may have been out of range, so the minimum comes as an integer or text.
            if value <= -(2.0**63):
                raise DecodeError(path, f"{quoted(value)} is out of range for {kind}")
            number = int(value)
        elif isinstance(value, str):
            if not _ASCII_NUMBER.fullmatch(value):  # int() and float() also take spaces and other scripts' digits
                raise DecodeError(path, f"expected an integer, got {quoted(value)}")
            try:
                # Exactly: a float rounds "1.9999999999999999999999" to 2 and "9007199254740993.0" to ...992.
                number = decimal.Decimal(value)
            except decimal.InvalidOperation:  # an exponent past Decimal's limits
                raise DecodeError(path, f"expected an integer, got {quoted(value)}") from None
            if number != number.to_integral_value():
                raise DecodeError(path, f"expected an integer, got {quoted(value)}")
        else:
            raise DecodeError(path, f"expected an integer, got {type_name(value)}")
        low, high = _INT_RANGES[kind]
        if not low <= number <= high:
            raise DecodeError(path, f"{number} is out of range for {kind}")
        return int(number)

    @staticmethod
    def _float(kind: str, value, path: str):
        if isinstance(value, bool):
            raise DecodeError(path, "expected a number, got a boolean")
        if isinstance(value, str):
            if value in _SPECIAL_FLOATS:
                return value
            try:
                number = float(value)
            except ValueError:
                raise DecodeError(path, f"expected a number, got {quoted(value)}") from None
        elif isinstance(value, (int, float)):
            try:
                number = float(value)
            except OverflowError:  # an int beyond every double
                number = math.inf
        else:
            raise DecodeError(path, f"expected a number, got {type_name(value)}")
        # NaN and the infinities come only as the three words: text past a double's range is refused (json_format
        # makes it Infinity, which nobody sent), and so are such Python numbers, which orjson never makes but a
        # caller could pass (json_format refuses them too), and which would be written out as null.
        if not math.isfinite(number):
            raise DecodeError(path, f"{quoted(value)} is not a finite number; write 'NaN', 'Infinity' or '-Infinity'")
        if kind == "float":
            if abs(number) >= _FLOAT32_LIMIT:
                raise DecodeError(path, f"{quoted(value)} is out of range for a 32-bit float")
            number = _shortest_float32(number)
        # -0.0 becomes 0.0, the default: PostgreSQL's JSONB has no negative zero, and a stored
        # value must read back the same on every database.
        return whole_as_int(number) if number != 0 else 0.0

    @staticmethod
    def _bytes(value, path: str) -> str:
        if not isinstance(value, str):
            raise DecodeError(path, f"expected base64 text, got {type_name(value)}")
        try:
            return canonical_base64(value)
        except ValueError:
            raise DecodeError(path, "not valid base64") from None

    def _well_known(self, msg: Message, value, path: str):
        wk = msg.well_known
        if wk == "timestamp":
            if not isinstance(value, str):
                raise DecodeError(path, f"expected an RFC 3339 timestamp string, got {type_name(value)}")
            try:
                return normalize_timestamp(value)
            except ValueError as exc:
                raise DecodeError(path, str(exc)) from None
        if wk == "duration":
            if not isinstance(value, str):
                raise DecodeError(path, f"expected a duration string such as '1.5s', got {type_name(value)}")
            try:
                return normalize_duration(value)
            except ValueError as exc:
                raise DecodeError(path, str(exc)) from None
        if wk == "any":
            return self._any(value, path)
        if wk == "struct":
            if not isinstance(value, dict):
                raise DecodeError(path, f"expected an object, got {type_name(value)}")
            return _json_value(value, path)
        if wk == "list":
            if not isinstance(value, list):
                raise DecodeError(path, f"expected a list, got {type_name(value)}")
            return _json_value(value, path)
        if wk == "value":
            return _json_value(value, path)
        if wk == "fieldmask":
            if not isinstance(value, str):
                raise DecodeError(path, f"expected comma-separated paths, got {type_name(value)}")
            if "_" in value:  # the JSON form is lowerCamelCase; json_format fails to read a path with `_`
                raise DecodeError(path, f"field mask paths are lowerCamelCase, without '_': {quoted(value)}")
            return _text(value, path)
        if wk == "empty":
            if not isinstance(value, dict) or value:
                raise DecodeError(path, "expected an empty object")
            return {}
        if wk == "string":  # wrappers hold one scalar, which _scalar converts unless it is text
            if not isinstance(value, str):
                raise DecodeError(path, f"expected a string, got {type_name(value)}")
            return _text(value, path)
        return self._scalar(wk, value, path)

    def _any(self, value, path: str) -> dict:
        if not isinstance(value, dict):
            raise DecodeError(path, f"expected an object with '@type', got {type_name(value)}")
        if not value:
            return {}  # an empty Any (no type, no value), as protobuf prints and parses it
        if path.count(".") + path.count("[") >= MAX_JSON_DEPTH:  # an Any in an Any in an Any...
            raise DecodeError(path, f"nested more than {MAX_JSON_DEPTH} objects or lists deep")
        type_url = value.get("@type")
        if not isinstance(type_url, str) or "/" not in type_url or type_url.endswith("/"):
            raise DecodeError(path, "an Any needs '@type', e.g. 'type.googleapis.com/google.rpc.ErrorInfo'")
        inner = self.messages.get(type_url.rsplit("/", 1)[1])
        if inner is None:
            # Kept as it came, the official client could not read it back (nor list its neighbours).
            raise DecodeError(
                path,
                f"unknown type {quoted(type_url)}: an Any may hold a Grafeas message, a well-known protobuf type "
                "or a google.rpc error detail",
            )
        rest = {k: v for k, v in value.items() if k != "@type"}
        if inner.well_known == "empty":
            # Go's protojson writes {"value": {}}, Python's json_format only reads it without.
            if rest not in ({}, {"value": {}}):
                raise DecodeError(path, "an Any holding google.protobuf.Empty has no other fields")
            return {"@type": type_url}
        if inner.well_known:
            if set(rest) - {"value"} or "value" not in rest:
                # Without it, protobuf's json_format (the official client's) fails on every read of the page.
                raise DecodeError(path, f"an Any holding {inner.full_name} carries it in 'value'")
            return {"@type": type_url, "value": self._well_known(inner, rest["value"], _join(path, "value"))}
        return {"@type": type_url, **self.decode(inner, rest, path)}

    # ---- encoding -------------------------------------------------------------------------

    def enums_to_numbers(self, msg: Message, data: dict) -> dict:
        """Copy a canonical dict with every enum name replaced by its number."""
        out = {}
        by_json = msg.by_json
        for key, value in data.items():
            f = by_json.get(key)
            if f is None:
                out[key] = value  # server-added or opaque content
                continue
            vf = f.map_value or f
            if vf.kind == "enum":
                numbers = vf.enum.numbers
                if f.map_value is not None:
                    out[key] = {k: numbers[v] for k, v in value.items()}
                elif f.repeated:
                    out[key] = [numbers[v] for v in value]
                else:
                    out[key] = numbers[value]
            elif vf.kind == "message" and vf.message.well_known in (None, "any"):
                out[key] = self._message_numbers(f, vf.message, value)
            else:
                out[key] = value
        return out

    def _message_numbers(self, f: Field, msg: Message, value):
        convert = self._any_numbers if msg.well_known == "any" else lambda v: self.enums_to_numbers(msg, v)
        if f.map_value is not None:
            return {k: convert(v) for k, v in value.items()}
        if f.repeated:
            return [convert(v) for v in value]
        return convert(value)

    def _any_numbers(self, value: dict) -> dict:
        inner = self.messages.get(value.get("@type", "").rsplit("/", 1)[-1])
        if inner is not None and inner.well_known == "any" and isinstance(value.get("value"), dict):
            return {**value, "value": self._any_numbers(value["value"])}  # an Any in an Any
        if inner is None or inner.well_known:
            return value
        return self.enums_to_numbers(inner, value)


def whole_as_int(number: float) -> float | int:
    """A double of 2**53 or more (each a whole number) as the integer it is, where orjson reads integers back.

    PostgreSQL's JSONB prints a whole number in plain digits, and orjson reads digits up to 2**64 - 1 (down to
    -2**63) as an int: kept as a float, 1.2345678901234567e19 read back as 12345678901234567000, another number
    than the double (12345678901234567168), so a resend of the same document was a change there."""
    if 2**53 <= abs(number) and -(2**63) <= number < 2**64:
        return int(number)
    return number


def _text(value: str, path: str) -> str:
    """Text without U+0000, which PostgreSQL cannot store: refused on every database alike."""
    if "\x00" in value:
        raise DecodeError(path, "text may not contain the NUL character (U+0000)")
    return value


# Objects and lists nested in one free-form JSON value, at most. protobuf holds each level as a Struct
# or ListValue inside a Value, and its JSON parser (the official client's) stops at 100 messages deep;
# orjson, which writes every answer, stops at 255 levels. Deeper, a document could be stored but never
# listed or read back.
MAX_JSON_DEPTH = 32
# Values (objects, lists, strings, numbers...) in one free-form JSON field, at most: PostgreSQL spends
# some 700 bytes parsing each into JSONB, so 11 million empty objects, which fit a 32 MB body, took
# gigabytes of its memory per request.
MAX_JSON_VALUES = 100_000


def _json_value(value, path: str):
    """Free-form JSON (Struct, Value, ListValue) as protobuf holds it: every number is a double."""
    budget = [MAX_JSON_VALUES]

    def walk(value, where: tuple, depth: int):
        # `where` is (parent's where, key): a path is spelled out only for an error, since copying it
        # for every value cost time in proportion to a long key times the values under it.
        budget[0] -= 1
        if budget[0] < 0:
            raise DecodeError(path, f"holds more than {MAX_JSON_VALUES} values")
        if isinstance(value, str):
            return value if "\x00" not in value else _text(value, _spelled(path, where))
        if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
            raise DecodeError(_spelled(path, where), f"nested more than {MAX_JSON_DEPTH} objects or lists deep")
        if isinstance(value, dict):
            return {
                (k if "\x00" not in k else _text(k, _spelled(path, where))): walk(v, (where, k), depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v, (where, i), depth + 1) for i, v in enumerate(value)]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                as_double = float(value)
            except OverflowError:
                raise DecodeError(_spelled(path, where), "number is too large for a double") from None
            if not math.isfinite(as_double):
                raise DecodeError(_spelled(path, where), "NaN and Infinity cannot be held in a JSON value")
            if as_double == 0:
                return value if type(value) is int else 0.0  # -0.0 as for floats: JSONB has no negative zero
            if type(value) is int and as_double == value:
                return value  # ints a double holds exactly stay ints
            return whole_as_int(as_double)
        return value

    return walk(value, (), 1)


def _spelled(path: str, where: tuple) -> str:
    """`path` followed by the keys and indexes in `where`, long keys cut short."""
    steps = []
    while where:
        where, step = where
        steps.append(f"[{step}]" if isinstance(step, int) else f"[{quoted(step)}]")
    return path + "".join(reversed(steps))


def _is_default(f: Field, value) -> bool:
    if f.kind == "enum":
        return value == f.enum.names.get(0)
    if f.kind == "bool":
        return value is False
    if f.kind in ("int64", "uint64"):
        return value == "0"
    if f.kind in ("string", "bytes"):
        return value == ""
    return value == 0


class _Omit:
    """Marker for a value the canonical form leaves out (a proto3 default)."""


_OMIT = _Omit()
_DEFAULT = object()  # an enum's default (number 0), kept only where the field has presence

# Kinds of field a message decoder converts inline.
_STRING, _ENUM, _MESSAGE, _MESSAGES, _OTHER = (object() for _ in range(5))
