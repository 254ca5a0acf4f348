"""Member access into stored documents for filters: `vulnerability.effectiveSeverity = "HIGH"`.

A path is checked against the message schema, so only real fields (camelCase or snake_case)
reach SQL, and each segment is its canonical JSON name. Documents omit proto3 defaults, so a
missing scalar reads as its default. Through a repeated field the restriction holds when it holds
for any element: SQLite walks the arrays with json_each, PostgreSQL asks jsonb_path_exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Numeric, bindparam, cast, func, not_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import Boolean

from ..errors import InvalidArgument
from ..filtering import Field, Value
from ..wire.grafeas_types import NOTE, OCCURRENCE
from ..wire.schema import Field as SchemaField
from .tables import notes

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
    for i, part in enumerate(field.path):
        leaf = current.by_key.get(part) if current is not None else None
        if leaf is None:
            where = ".".join(field.path[:i]) or msg.short_name
            raise InvalidArgument(f"filter: unknown field {field.name!r}: {where} has no field {part!r}")
        run.append(leaf.json_name)
        last = i == len(field.path) - 1
        if leaf.is_map and not last:
            raise InvalidArgument(f"filter: {field.name!r}: map fields cannot be searched yet")
        if leaf.repeated and not leaf.is_map:
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
            raise InvalidArgument(f"filter: {op} applies to text fields, not to {path.name}")
        op = "prefix" if op == "has_prefix" else "suffix"
    literal = _literal(path, kind, value)
    if op == ":":
        op = "="
    if len(path.runs) == 1:  # no repeated field on the way: one value per document
        expr = _scalar(table.c.data, path.runs[0], kind, leaf)
        return compare(expr, op, literal)
    if op in ("prefix", "suffix"):
        raise InvalidArgument(f"filter: has_prefix and has_suffix do not reach into repeated fields yet ({path.name})")
    if op == "!=":  # no element equals it
        return not_(AnyElement(table.c.data, path.runs, kind, "=", literal))
    return AnyElement(table.c.data, path.runs, kind, op, literal)


def _leaf_kind(path: MemberPath) -> str:
    leaf = path.leaf
    kind = leaf.kind
    if kind in _TEXTS:
        return "text"
    if kind in _NUMBERS:
        return "number"
    if kind == "bool":
        return "bool"
    if kind in ("int64", "uint64") and len(path.runs) == 1:
        return "int64"
    raise InvalidArgument(f"filter: {path.name} cannot be compared yet; only its presence can: {path.name}:*")


def _literal(path: MemberPath, kind: str, value: Value):
    raw = value.value
    if kind == "text":
        enum = path.leaf.enum
        if isinstance(raw, float) and not (enum is not None and raw.is_integer()):
            raise InvalidArgument(f"filter: {path.name} takes text, not the number {raw:g}; quote it")
        if enum is not None:  # by name or by number, as in requests
            number = int(raw) if isinstance(raw, float) else enum.numbers.get(raw)
            if number is None and raw.lstrip("-").isdigit():
                number = int(raw)
            if number not in enum.names:
                raise InvalidArgument(
                    f"filter: {raw!r} is not a {enum.full_name}; expected one of " + ", ".join(enum.numbers)
                )
            return enum.names[number]
        return raw
    if kind == "bool":
        if raw not in ("true", "false"):
            raise InvalidArgument(f"filter: {path.name} is true or false, not {raw!r}")
        return raw == "true"
    try:
        return float(raw)
    except ValueError:
        raise InvalidArgument(f"filter: {path.name} is a number, not {raw!r}") from None


def _default(kind: str, leaf: SchemaField):
    if kind == "text":
        return leaf.enum.names.get(0) if leaf.enum is not None else ""
    return False if kind == "bool" else 0


def _scalar(data, run: tuple[str, ...], kind: str, leaf: SchemaField):
    """The value at `run`, or the proto3 default where the document leaves it out."""
    element = data[run]
    if kind == "text":
        expr = element.as_string()
    elif kind == "bool":
        expr = element.as_boolean()
    elif kind == "int64":
        return func.coalesce(cast(element.as_string(), Numeric), 0)
    else:
        expr = element.as_float()
    return func.coalesce(expr, _default(kind, leaf))


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


def _present(path: MemberPath, table):
    """`field:*`: the field is set (for a repeated field, it has an element)."""
    if len(path.runs) == 1:
        return table.c.data[path.runs[0]].as_string().is_not(None)
    return AnyElement(table.c.data, path.runs, "present", "=", None)


class AnyElement(ColumnElement):
    """EXISTS an element, along the repeated fields of a path, whose leaf satisfies `op literal`."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, data, runs, kind: str, op: str, literal) -> None:
        self.data, self.runs, self.kind, self.op, self.literal = data, runs, kind, op, literal


def _json_path(run: tuple[str, ...]) -> str:
    return "$" + "".join(f'."{name}"' for name in run)


@compiles(AnyElement, "sqlite")
def _any_sqlite(element: AnyElement, compiler, **kw):
    source = compiler.process(element.data, **kw)
    *walk, last = element.runs
    if element.kind == "present":
        sql = "1"
    else:
        leaf = f"e{len(walk)}.value"
        if last:
            leaf = f"json_extract({leaf}, {_param(compiler, _json_path(last), kw)})"
        literal = int(element.literal) if element.kind == "bool" else element.literal  # SQLite's JSON booleans
        sql = f"{leaf} {element.op} {_param(compiler, literal, kw)}"
    for depth in range(len(walk), 0, -1):
        parent = source if depth == 1 else f"e{depth - 1}.value"
        path = _param(compiler, _json_path(walk[depth - 1]), kw)
        sql = f"EXISTS (SELECT 1 FROM json_each({parent}, {path}) AS e{depth} WHERE {sql})"
    return sql


@compiles(AnyElement, "postgresql")
def _any_postgresql(element: AnyElement, compiler, **kw):
    source = compiler.process(element.data, **kw)
    *walk, last = element.runs
    path = "$" + "".join(_json_path(run)[1:] + "[*]" for run in walk) + _json_path(last)[1:]
    if element.kind == "present":
        return f"jsonb_path_exists({source}, CAST({_param(compiler, path, kw)} AS jsonpath))"
    op = "==" if element.op == "=" else element.op
    path += f" ? (@ {op} $v)"
    cast_to = {"text": "text", "number": "double precision", "bool": "boolean"}[element.kind]
    variable = f"CAST({_param(compiler, element.literal, kw)} AS {cast_to})"
    jsonpath = f"CAST({_param(compiler, path, kw)} AS jsonpath)"
    return f"jsonb_path_exists({source}, {jsonpath}, jsonb_build_object('v', {variable}))"


def _param(compiler, value, kw) -> str:
    return compiler.process(bindparam(None, value, unique=True), **kw)
