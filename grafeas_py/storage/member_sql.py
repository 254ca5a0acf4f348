"""Member access into stored documents for filters: `vulnerability.effectiveSeverity = "HIGH"`.

A path is checked against the message schema, so only real fields (camelCase or snake_case)
reach SQL, and each segment is its canonical JSON name. Documents omit proto3 defaults, so a
missing scalar reads as its default. Through a repeated field the restriction holds when it holds
for any element: SQLite walks the arrays with json_each, PostgreSQL asks jsonb_path_exists.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    Numeric,
    Text,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean

from ..errors import InvalidArgument
from ..filtering import Field, Value
from ..wire.codec import canonical_base64, whole_as_int
from ..wire.grafeas_types import NOTE, OCCURRENCE
from ..wire.schema import Field as SchemaField
from ..wire.timestamps import to_micros
from .tables import notes

ASCII_INTEGER = re.compile(r"-?[0-9]+")  # ASCII: str.isdigit() and \d take "²"
_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")  # the grammar's, in ASCII
_MAX_NUMBER_LENGTH = 100  # characters of a number in a filter: far more than any double or int64 needs
_INT64_RANGES = {"int64": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1)}
# Stored JSON escapes these in keys, and SQLite matches a path's key against the key as stored.
_UNSEARCHABLE_KEY = re.compile(r'["\\\x00-\x1f]')
_NUMBERS = {"int32", "uint32", "float", "double"}
_TEXTS = {"string", "bytes", "enum"}


@dataclass(frozen=True)
class MemberPath:
    """A checked path: canonical names split after each repeated field, and the leaf's schema."""

    name: str
    runs: tuple[tuple[str, ...], ...]  # all runs but the last end at a repeated field
    leaf: SchemaField


def member_path(field: Field, table) -> MemberPath:
    """Resolve `a.b.c` against the Note or Occurrence schema; 400 for a field that does not exist."""
    msg = NOTE if table is notes else OCCURRENCE
    runs, run, leaf = [], [], None
    current = msg
    map_key = False
    for i, part in enumerate(field.path):
        if map_key:  # `leaf` is already the map's value field; `part` is any key
            if _UNSEARCHABLE_KEY.search(part):
                what = "quotes, backslashes or control characters"
                raise InvalidArgument(f"filter: {field.name!r}: map keys with {what} cannot be searched")
            run.append(part)
            map_key = False
            current = leaf.message if leaf.message is not None and not leaf.message.well_known else None
            continue
        leaf = current.by_key.get(part) if current is not None else None
        if leaf is None:
            where = ".".join(field.path[:i]) or msg.short_name
            raise InvalidArgument(f"filter: unknown field {field.name!r}: {where} has no field {part!r}")
        run.append(leaf.json_name)
        if leaf.is_map and i < len(field.path) - 1:  # the next segment is a key of the map
            leaf, map_key = leaf.map_value, True
        elif leaf.repeated and not leaf.is_map:
            runs.append(tuple(run))
            run = []
        current = leaf.message if leaf.message is not None and not leaf.message.well_known else None
    runs.append(tuple(run))
    return MemberPath(field.name, tuple(runs), leaf)


def member_condition(path: MemberPath, op: str, value: Value, table):
    """The SQL condition for `path op value` (op may also be has_prefix/has_suffix)."""
    leaf = path.leaf
    if op == ":" and value.value == "*" and not value.quoted:
        return _present(path, table)
    kind = _leaf_kind(path)
    if op in ("has_prefix", "has_suffix"):
        if kind != "text":
            raise InvalidArgument(f"filter: {op} applies to free text; {path.name} is not text: compare it instead")
        if path.leaf.enum is not None:  # stored as names, compared by number: a part of a name means nothing
            enum = path.leaf.enum.full_name
            raise InvalidArgument(f"filter: {op} applies to free text; {path.name} is a {enum}: compare it whole")
        op = "prefix" if op == "has_prefix" else "suffix"
    if op == ":" and kind == "time":
        raise InvalidArgument(f"filter: {path.name} is a time: compare it with = != < <= > >=")
    literal = _literal(path, kind, value)
    if op == ":":
        op = "="
    if leaf.kind == "bytes" and op in ("=", "!="):  # stored as the codec writes bytes, whatever spelling was sent
        try:
            literal = canonical_base64(literal)
        except ValueError:
            raise InvalidArgument(f"filter: {path.name} holds bytes: {literal!r} is not base64") from None
    if kind == "int64":
        exact = _int64_comparison(path, op, literal)
        if isinstance(exact, bool):  # the literal decides it for every value the field can hold
            return true() if exact else false()
        op, literal = exact
    if leaf.enum is not None and op in ("<", "<=", ">", ">="):
        return _enum_order(path, op, literal, table)
    if len(path.runs) == 1 and kind == "time":  # an unset time satisfies no comparison; NOT of one holds for it
        return func.coalesce(compare(time_micros(json_value(table.c.data, path.runs[0], "string")), op, literal), False)
    if len(path.runs) == 1:  # no repeated field on the way: one value per document
        expr = _scalar(table.c.data, path.runs[0], kind, leaf)
        if kind == "bool":  # bound, since SQLAlchemy refuses to order by a Python bool; false < true
            condition = compare(expr, op, bindparam(None, literal, type_=Boolean))
        else:  # `literal` stays the value itself: the containment below puts it in a JSON document
            condition = (compare_text if kind == "text" else compare)(expr, op, literal)
        if leaf.kind in ("float", "double"):
            # NaN reads as NULL, so its comparison is NULL, and NOT NULL is NULL too: as false, NaN
            # satisfies no comparison and the negation of any one holds for it (as for unset times).
            condition = func.coalesce(condition, False)
    elif op == "!=":  # no element equals it
        return not_(AnyElement(table.c.data, path.runs, kind, "=", literal, _default_of(kind, leaf)))
    else:
        condition = AnyElement(table.c.data, path.runs, kind, op, literal, _default_of(kind, leaf))
    if op == "=" and kind in ("text", "number", "bool") and literal != _default(kind, leaf):
        # A default value also matches documents that omit the field, which containment cannot express.
        return Contains(table.c.data, _containing(path.runs, literal), condition)
    return condition


def _enum_order(path: MemberPath, op: str, name: str, table):
    """Enums order by number, as protobuf declares them (Severity: LOW < MEDIUM < HIGH < CRITICAL),
    not by name: the condition is equality with any name whose number satisfies the comparison."""
    enum = path.leaf.enum
    number = enum.numbers[name]
    names = [enum.names[n] for n in sorted(enum.names) if holds(n, op, number)]
    return or_(false(), *(member_condition(path, "=", Value(n), table) for n in names))


def _leaf_kind(path: MemberPath) -> str:
    leaf = path.leaf
    kind = leaf.kind
    if kind in _TEXTS:
        return "text"
    if kind in _NUMBERS:
        return "number"
    if kind == "bool":
        return "bool"
    if kind in ("int64", "uint64"):
        return "int64"
    if kind == "message" and leaf.message is not None and leaf.message.well_known == "timestamp":
        return "time"
    raise InvalidArgument(f"filter: {path.name} cannot be compared yet; only its presence can: {path.name}:*")


def _literal(path: MemberPath, kind: str, value: Value):
    raw = value.value
    if kind == "text":
        enum = path.leaf.enum
        if isinstance(raw, float) and not (enum is not None and raw.is_integer()):
            raise InvalidArgument(f"filter: {path.name} takes text, not the number {raw:g}; quote it")
        if enum is not None:  # by name or by number, as in requests
            number = int(raw) if isinstance(raw, float) else enum.numbers.get(raw)
            if number is None and len(raw) <= 20 and ASCII_INTEGER.fullmatch(raw):  # int() refuses over 4300 digits
                number = int(raw)
            if number not in enum.names:
                raise InvalidArgument(
                    f"filter: {raw!r} is not a {enum.full_name}; expected one of " + ", ".join(enum.numbers)
                )
            return enum.names[number]
        return raw
    if kind == "time":
        if isinstance(raw, float):
            raise InvalidArgument(f"filter: {path.name} is a time; compare it with an RFC 3339 string, not a number")
        try:
            return to_micros(raw)
        except ValueError as exc:
            raise InvalidArgument(f"filter: {path.name}: {exc}") from None
    if kind == "bool":
        if raw not in ("true", "false"):
            raise InvalidArgument(f"filter: {path.name} is true or false, not {raw!r}")
        return raw == "true"
    text = value.text if value.text is not None else raw  # as written
    if text.lower() == "nan":  # SQLite matched nothing and PostgreSQL everything
        raise InvalidArgument(f"filter: {path.name}: no comparison with NaN holds; compare with a number")
    if not (_NUMBER.fullmatch(text) or text in ("Infinity", "-Infinity")):
        raise InvalidArgument(f"filter: {path.name} is a number, not {text!r}")
    if len(text) > _MAX_NUMBER_LENGTH:  # Decimal() and int() refuse exponents and digits past their limits
        raise InvalidArgument(f"filter: {path.name}: a number of more than {_MAX_NUMBER_LENGTH} characters")
    # int64 exactly, beyond a double's 2**53: stored int64 text is cast to an exact number, not a double
    return Decimal(text) if kind == "int64" else float(text)


def _int64_comparison(path: MemberPath, op: str, number: Decimal) -> tuple[str, int] | bool:
    """`op` and an integer that compare each value an int64 field can hold as `op number` does; or the
    answer, where `number` decides the comparison for all of them."""
    lowest, highest = _INT64_RANGES[path.leaf.kind]
    if not lowest <= number <= highest:  # beyond the range: every value is on the same side of it
        return holds(lowest, op, number)
    whole = math.floor(number)
    if number == whole:
        return op, whole
    # a fraction, which no integer equals; those below it are at most its floor, those above at least one more
    if op in ("=", "!="):
        return op == "!="
    return ("<=", whole) if op in ("<", "<=") else (">=", whole + 1)


def _default(kind: str, leaf: SchemaField):
    if kind == "text":
        return leaf.enum.names.get(0) if leaf.enum is not None else ""
    return False if kind == "bool" else 0


def _default_of(kind: str, leaf: SchemaField):
    """The value an element that leaves the field out has, as the element tests compare it; None for
    times (an unset time satisfies no comparison) and int64 (no repeated message holds one)."""
    if kind in ("text", "number", "bool"):
        return _default(kind, leaf)
    return None


def _scalar(data, run: tuple[str, ...], kind: str, leaf: SchemaField):
    """The value at `run`, or the proto3 default where the document leaves it out."""
    if kind == "text":
        expr = json_value(data, run, "string")
    elif kind == "bool":
        expr = json_value(data, run, "boolean")
    elif kind == "int64":
        return func.coalesce(cast(json_value(data, run, "string"), Numeric), 0)
    elif leaf.kind in ("float", "double"):
        # The JSON mapping writes the special values as text. Read the same on both databases (a cast
        # made "Infinity" 0 on SQLite; PostgreSQL sorts NaN above every number): infinities compare as
        # such, and NaN, like SQL's NULL, satisfies no comparison.
        text = json_value(data, run, "string")
        return case(
            (text.is_(None), literal(0.0, Float)),
            (text == "NaN", null()),
            (text == "Infinity", literal(math.inf, Float)),
            (text == "-Infinity", literal(-math.inf, Float)),
            else_=json_value(data, run, "float"),
        )
    else:
        expr = json_value(data, run, "float")
    return func.coalesce(expr, _default(kind, leaf))


def json_value(data, run: tuple[str, ...], as_: str):
    """The JSON value at the keys of `run` as a string, float or boolean; NULL where there is none.

    On PostgreSQL each key is a bound parameter of its own: SQLAlchemy writes the path of `#>>` as
    one array literal without quoting the keys, which a `,` `{` `}` space, NULL or empty key mangles.
    """
    default = getattr(data[run], f"as_{as_}")()
    text = func.jsonb_extract_path_text(data, *(literal(key, Text) for key in run))
    return ByDialect(default, postgresql=text if as_ == "string" else cast(text, default.type))


class ByDialect(ColumnElement):
    """`postgresql` on PostgreSQL, `default` elsewhere: one value or comparison in each database's terms."""

    inherit_cache = False
    # its cache key, so that statements holding it stay cached as compiled SQL
    _traverse_internals = [
        ("default", InternalTraversal.dp_clauseelement),
        ("postgresql", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, default, postgresql) -> None:
        self.default, self.postgresql, self.type = default, postgresql, default.type

    def self_group(self, against=None):
        # A function's value or one comparison, which binds tighter than AND, OR and NOT: used as it
        # stands, not as `x >= ? = 1`, which hides the comparison from SQLite's indexes.
        return self


@compiles(ByDialect)
def _by_dialect_default(element: ByDialect, compiler, **kw):
    return compiler.process(element.default, **kw)


@compiles(ByDialect, "postgresql")
def _by_dialect_postgresql(element: ByDialect, compiler, **kw):
    return compiler.process(element.postgresql, **kw)


def time_micros(text):
    """A stored RFC 3339 `...Z` time as epoch microseconds, computed the same way on both databases."""
    fraction = case(
        (
            func.substr(text, 20, 1) == ".",
            cast(func.substr(func.substr(text, 21, func.length(text) - 21).concat("000000"), 1, 6), Integer),
        ),
        else_=0,
    )
    return EpochSeconds(func.substr(text, 1, 19)) * 1_000_000 + fraction


class EpochSeconds(ColumnElement):
    """Whole seconds since the epoch of a UTC `YYYY-MM-DDTHH:MM:SS` text."""

    inherit_cache = False
    type = BigInteger()

    def __init__(self, text) -> None:
        self.text = text


@compiles(EpochSeconds, "sqlite")
def _epoch_sqlite(element: EpochSeconds, compiler, **kw):
    return f"CAST(strftime('%s', {compiler.process(element.text, **kw)}) AS INTEGER)"


@compiles(EpochSeconds, "postgresql")
def _epoch_postgresql(element: EpochSeconds, compiler, **kw):
    return f"CAST(EXTRACT(EPOCH FROM CAST({compiler.process(element.text, **kw)} AS timestamp)) AS BIGINT)"


def compare(expr, op: str, literal):
    """`expr op literal` for a filter's comparison; prefix and suffix match % and _ literally."""
    if op == "prefix":
        return expr.startswith(literal, autoescape=True)
    if op == "suffix":
        return expr.endswith(literal, autoescape=True)
    return {
        "=": lambda: expr == literal,
        "!=": lambda: expr != literal,
        "<": lambda: expr < literal,
        "<=": lambda: expr <= literal,
        ">": lambda: expr > literal,
        ">=": lambda: expr >= literal,
    }[op]()


# Code point order on PostgreSQL: text_pattern_ops's operators compare UTF-8 bytes, as COLLATE "C" does.
_CODE_POINT_ORDER = {"<": "~<~", "<=": "~<=~", ">": "~>~", ">=": "~>=~"}


def compare_text(expr, op: str, text: str):
    """`expr op text` for text, ordered by code point on both databases.

    SQLite's BINARY collation and PostgreSQL's jsonpath (through repeated fields) order so; PostgreSQL's
    `<` orders in the database's collation, which may not (an ICU locale has "_x" < "a" < "B"). Its
    pattern operators are code point order, and the indexes of the text key columns filters range over
    (text_pattern_ops, tables._by_code_point) serve them. An index of the default operator class
    serves neither them nor `COLLATE "C"`: on a column without one, a range is a filter.
    """
    if op not in _CODE_POINT_ORDER:
        return compare(expr, op, text)
    by_code_point = expr.op(_CODE_POINT_ORDER[op], is_comparison=True)(text)
    return ByDialect(compare(expr, op, text), postgresql=by_code_point)


def _present(path: MemberPath, table):
    """`field:*`: the field is set (for a repeated field, it has an element)."""
    if len(path.runs) == 1:
        return json_value(table.c.data, path.runs[0], "string").is_not(None)
    return AnyElement(table.c.data, path.runs, "present", "=", None)


def _containing(runs: tuple[tuple[str, ...], ...], literal) -> dict:
    """The smallest document containing `literal` at the path; arrays stand for repeated fields."""
    node = literal
    if isinstance(literal, float) and math.isinf(literal):  # the JSON mapping writes infinities as text
        node = "Infinity" if literal > 0 else "-Infinity"
    elif isinstance(literal, float):  # as the codec stores it: JSONB compares 1.2345678901234567e19 exactly
        node = whole_as_int(literal)
    for i in range(len(runs) - 1, -1, -1):
        if i < len(runs) - 1:
            node = [node]  # containment of [x] in an array means: some element contains x
        for name in reversed(runs[i]):
            node = {name: node}
    return node


class Contains(ColumnElement):
    """`data @> document` on PostgreSQL, where the GIN index answers it; `fallback` elsewhere."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, data, document: dict, fallback) -> None:
        self.data, self.document, self.fallback = data, document, fallback


@compiles(Contains)
def _contains_default(element: Contains, compiler, **kw):
    return compiler.process(element.fallback, **kw)


@compiles(Contains, "postgresql")
def _contains_postgresql(element: Contains, compiler, **kw):
    document = compiler.process(bindparam(None, element.document, type_=JSONB, unique=True), **kw)
    return f"{compiler.process(element.data, **kw)} @> {document}"


class AnyElement(ColumnElement):
    """EXISTS an element, along the repeated fields of a path, whose leaf satisfies `op literal`."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, data, runs, kind: str, op: str, literal, default=None) -> None:
        self.data, self.runs, self.kind, self.op, self.literal = data, runs, kind, op, literal
        # An element that leaves the leaf out reads as this proto3 default (None: it matches nothing).
        self.default = default if runs[-1] else None


def _json_path(run: tuple[str, ...]) -> str:
    return "$" + "".join(f'."{name}"' for name in run)


@compiles(AnyElement, "sqlite")
def _any_sqlite(element: AnyElement, compiler, **kw):
    source = compiler.process(element.data, **kw)
    *walk, last = element.runs
    if element.kind == "present":  # an element has the rest of the path, as jsonpath asks on PostgreSQL
        sql = f"json_extract(e{len(walk)}.value, {_param(compiler, _json_path(last), kw)}) IS NOT NULL" if last else "1"
    else:
        leaf = literal_column(f"e{len(walk)}.value")
        if last:
            leaf = func.json_extract(leaf, literal(_json_path(last)))
        if element.default is not None:
            leaf = func.coalesce(leaf, literal(int(element.default) if element.kind == "bool" else element.default))
        sql = _leaf_test(leaf, element, compiler, kw)
    for depth in range(len(walk), 0, -1):
        parent = source if depth == 1 else f"e{depth - 1}.value"
        path = _param(compiler, _json_path(walk[depth - 1]), kw)
        sql = f"EXISTS (SELECT 1 FROM json_each({parent}, {path}) AS e{depth} WHERE {sql})"
    return sql


def _leaf_test(leaf, element: AnyElement, compiler, kw) -> str:
    """SQL for `leaf op literal`, where `leaf` is an expression yielding one element's value as a JSON scalar."""
    literal = element.literal
    if element.op in ("prefix", "suffix"):
        escaped = literal.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = escaped + "%" if element.op == "prefix" else "%" + escaped
        return f"{compiler.process(leaf, **kw)} LIKE {_param(compiler, pattern, kw)} ESCAPE '\\'"
    if element.kind == "int64":  # int64 is a JSON string in documents
        leaf = cast(leaf, Numeric)
    elif element.kind == "time":  # an RFC 3339 string in documents; an unset one matches nothing
        leaf = time_micros(leaf)
    elif element.kind == "bool":
        literal = int(literal)  # SQLite's JSON booleans read as 0 and 1
    return f"{compiler.process(leaf, **kw)} {element.op} {_param(compiler, literal, kw)}"


@compiles(AnyElement, "postgresql")
def _any_postgresql(element: AnyElement, compiler, **kw):
    source = compiler.process(element.data, **kw)
    *walk, last = element.runs
    path = "$" + "".join(_json_path(run)[1:] + "[*]" for run in walk) + _json_path(last)[1:]
    infinite = element.kind == "number" and math.isinf(element.literal)
    if element.op in ("prefix", "suffix") or element.kind in ("int64", "time") or infinite:
        # jsonpath has no suffix test, no int64-as-string or time comparison and no infinities (a
        # variable holding one is the string "Infinity"): test each element in SQL
        elements = "$" + "".join(_json_path(run)[1:] + "[*]" for run in walk)
        values = f"jsonb_path_query({source}, CAST({_param(compiler, elements, kw)} AS jsonpath)) AS e(v)"
        leaf = literal_column("(e.v #>> '{}')")
        if last:
            leaf = func.jsonb_extract_path_text(literal_column("e.v"), *(literal(key, Text) for key in last))
        if element.kind == "number":
            leaf = cast(leaf, Float)
        if element.default is not None:
            leaf = func.coalesce(leaf, literal(element.default))
        return f"EXISTS (SELECT 1 FROM {values} WHERE {_leaf_test(leaf, element, compiler, kw)})"
    if element.kind == "present":
        return f"jsonb_path_exists({source}, CAST({_param(compiler, path, kw)} AS jsonpath))"
    op = "==" if element.op == "=" else element.op
    if element.default is not None and holds(element.default, element.op, element.literal):
        # An element leaving the leaf out matches too: test the elements, not the leaves.
        leaf = "@" + _json_path(last)[1:]
        path = "$" + "".join(_json_path(run)[1:] + "[*]" for run in walk)
        path += f" ? ({leaf} {op} $v || !exists({leaf}))"
    else:
        path += f" ? (@ {op} $v)"
    cast_to = {"text": "text", "number": "double precision", "bool": "boolean"}[element.kind]
    variable = f"CAST({_param(compiler, element.literal, kw)} AS {cast_to})"
    jsonpath = f"CAST({_param(compiler, path, kw)} AS jsonpath)"
    return f"jsonb_path_exists({source}, {jsonpath}, jsonb_build_object('v', {variable}))"


def holds(value, op: str, literal) -> bool:
    """Whether `value op literal` holds, in Python, for a default value of the leaf's kind."""
    return {
        "=": value == literal,
        "!=": value != literal,
        "<": value < literal,
        "<=": value <= literal,
        ">": value > literal,
        ">=": value >= literal,
    }[op]


def _param(compiler, value, kw) -> str:
    return compiler.process(bindparam(None, value, unique=True), **kw)
