"""Filter trees compiled into SQLAlchemy expressions with bound parameters.

The top-level keys clients filter on (in the spellings they use) map to indexed columns. Any
other field is reached by member access into the stored JSON document, checked against the
message schema; through a repeated field a restriction holds when it holds for any element.
"""

from __future__ import annotations

from sqlalchemy import String, and_, literal, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import BooleanClauseList, ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean

from ..errors import InvalidArgument
from ..filtering import And, Call, Compare, Field, Not, Or, Value
from ..names import parse_note_name, parse_policy_name
from ..wire.grafeas_types import NOTE_KIND
from ..wire.timestamps import to_micros
from .member_sql import (
    ASCII_INTEGER,
    ByDialect,
    compare,
    compare_text,
    holds,
    member_condition,
    member_path,
    time_micros,
)
from .tables import audit_log, decisions, notes, occurrences, projects

# Kritis and the v1beta1 API name two kinds differently.
_KIND_ALIASES = {"PACKAGE_VULNERABILITY": "VULNERABILITY", "ATTESTATION_AUTHORITY": "ATTESTATION"}


def _columns(table) -> dict:
    """Filterable fields of a table, by every spelling clients use, as (kind of value, column)."""
    fields = {
        "kind": ("kind", table.c.kind),
        "createTime": ("time", table.c.create_time),
        "create_time": ("time", table.c.create_time),
        "updateTime": ("time", table.c.update_time),
        "update_time": ("time", table.c.update_time),
    }
    if table is occurrences:
        # Container Analysis's name for the package of a PACKAGE occurrence
        for name in ("dependencyPackageName", "dependency_package_name"):
            fields[name] = ("member", member_path(Field(("package", "name")), occurrences))
        for name in ("resourceUrl", "resourceUri", "resource_url", "resource_uri"):
            fields[name] = ("text", table.c.resource_uri)
        for name in ("noteProjectId", "note_project_id"):
            fields[name] = ("text", table.c.note_project_id)
        for name in ("noteId", "note_id"):
            fields[name] = ("text", table.c.note_id)
        for name in ("noteName", "note_name"):
            fields[name] = ("note", None)
    return fields


def _decision_columns() -> dict:
    """Filterable fields of gate decisions: all of them key columns (decisions have no schema here)."""
    fields = {}
    for name in ("resourceUri", "resourceUrl", "resource_uri", "resource_url"):
        fields[name] = ("text", decisions.c.resource_uri)
    for name in ("policyId", "policy_id"):
        fields[name] = ("text", decisions.c.policy_id)
    fields["policy"] = ("policy", None)
    fields["decision"] = ("decision", decisions.c.decision)
    for name in ("evaluateTime", "evaluate_time"):
        fields[name] = ("time", decisions.c.evaluate_time)
    for name in ("policyRevision", "policy_revision"):
        fields[name] = ("number", decisions.c.policy_revision)
    return fields


def _project_columns() -> dict:
    """A project's one field, its name, as the API spells it: `projects/{id}`."""
    return {"name": ("text", literal("projects/", String) + projects.c.project_id)}


def _audit_columns() -> dict:
    """Filterable fields of sealed audit entries: who, did what, to which resource, when, and where in the chain."""
    return {
        "principal": ("text", audit_log.c.principal),
        "action": ("text", audit_log.c.action),
        "resource": ("text", audit_log.c.resource),
        "time": ("time", time_micros(audit_log.c.time)),
        "seq": ("number", audit_log.c.seq),
    }


_FIELDS = {
    notes: _columns(notes),
    occurrences: _columns(occurrences),
    decisions: _decision_columns(),
    projects: _project_columns(),
    audit_log: _audit_columns(),
}
# Tables whose other fields are reached inside the stored document, checked against its schema.
_DOCUMENTS = (notes, occurrences)
DECISIONS = ("ALLOW", "DENY", "ALLOW_WITH_WARNINGS")


def compile_filter(node, table):
    """A WHERE clause for `table` from a filter tree (None: no condition)."""
    if node is None:
        return true()
    return _compile(node, table)


def _compile(node, table):
    if isinstance(node, And):
        return and_(*(_compile(n, table) for n in node.nodes))
    if isinstance(node, Or):
        return or_(*(_compile(n, table) for n in node.nodes))
    if isinstance(node, Not):
        return not_(_compile(node.node, table))
    if isinstance(node, Compare):
        return _term(_comparison(node, table))
    if isinstance(node, Call):
        return _term(_call(node, table))
    if isinstance(node, Field):
        raise InvalidArgument(f'filter: {node.name!r} alone is not a condition; compare it, e.g. {node.name}="value"')
    raise InvalidArgument("filter: a value alone is not a condition")


def _term(condition):
    """One term's condition, kept as one operand of the AND or OR around it.

    SQLAlchemy merges an AND or OR a term compiles to (an enum's order, a note's name) into the
    chain around it, which SQLite parses left-deep and refuses beyond 1000 deep: in parentheses, a
    chain is only as long as the filter's (MAX_TERMS).
    """
    return Parenthesized(condition) if isinstance(condition, BooleanClauseList) else condition


class Parenthesized(ColumnElement):
    """A condition in parentheses that SQLAlchemy cannot flatten into the chain around it."""

    inherit_cache = False
    _traverse_internals = [("condition", InternalTraversal.dp_clauseelement)]  # its cache key: statements stay cached
    type = Boolean()

    def __init__(self, condition) -> None:
        self.condition = condition

    def self_group(self, against=None):
        # In parentheses already; and used as it stands, not as `(...) = 1`, which hides it from SQLite's indexes.
        return self


@compiles(Parenthesized)
def _parenthesized(element: Parenthesized, compiler, **kw):
    return f"({compiler.process(element.condition, **kw)})"


def _field(field: Field, table):
    known = _FIELDS[table]
    found = known.get(field.name)
    if found is not None:
        return found
    if table not in _DOCUMENTS:
        what = "audit entries" if table is audit_log else table.name
        raise InvalidArgument(f"filter: unknown field {field.name!r}; {what} filter on " + ", ".join(known))
    return ("member", member_path(field, table))


def _comparison(node: Compare, table):
    kind, column = _field(node.field, table)
    if kind == "member":
        return member_condition(column, node.op, node.value, table)
    return _column_comparison(node, kind, column, table)


def _text(value: Value, field: Field) -> str:
    if isinstance(value.value, float):
        raise InvalidArgument(f"filter: {field.name} takes text, not the number {value.value:g}; quote it")
    return value.value


def _column_comparison(node: Compare, kind: str, column, table):
    op, value, name = node.op, node.value, node.field.name
    if op == ":" and value.value == "*" and not value.quoted:
        return true()  # every filterable field is always present
    if kind == "time":
        if op == ":":
            raise InvalidArgument(f"filter: {name} is a time: compare it with = != < <= > >=")
        if isinstance(value.value, float):
            raise InvalidArgument(f"filter: {name} is a time; compare it with an RFC 3339 string, not a number")
        try:
            micros = to_micros(value.value)
        except ValueError as exc:
            raise InvalidArgument(f"filter: {name}: {exc}") from None
        return compare(column, op, micros)
    if kind == "number":
        if op == ":" or not isinstance(value.value, float):
            raise InvalidArgument(f"filter: {name} is a number: compare it with = != < <= > >= and a number")
        return compare(column, op, value.value)
    number = None
    if kind == "kind":  # by number too, quoted or not, as enums are in bodies and in member filters
        if isinstance(value.value, float):
            number = value.value
        elif len(value.value) <= 20 and ASCII_INTEGER.fullmatch(value.value):  # no kind number is longer
            number = float(value.value)
    if number is not None:
        if not number.is_integer() or int(number) not in NOTE_KIND.names:
            raise InvalidArgument(f"filter: {number:g} is not a kind number; kinds are " + ", ".join(NOTE_KIND.numbers))
        text = NOTE_KIND.names[int(number)]
    else:
        text = _text(value, node.field)
    if kind == "decision" and text not in DECISIONS:
        raise InvalidArgument(f"filter: {text!r} is not a decision; decisions are " + ", ".join(DECISIONS))
    if kind == "policy":
        if op not in ("=", "!=", ":"):
            raise InvalidArgument(f"filter: {name} can only be compared with = or !=")
        project, policy_id = parse_policy_name(text, f"filter: {name}")
        match = and_(decisions.c.project_id == project, decisions.c.policy_id == policy_id)
        return not_(match) if op == "!=" else match
    if kind == "kind":
        text = _KIND_ALIASES.get(text, text)
        if text not in NOTE_KIND.numbers:
            raise InvalidArgument(f"filter: {text!r} is not a kind; kinds are " + ", ".join(NOTE_KIND.numbers))
        if op in ("<", "<=", ">", ">="):  # by number, as other enums order (member_sql._enum_order), not by name
            number = NOTE_KIND.numbers[text]
            return column.in_([name for n, name in sorted(NOTE_KIND.names.items()) if holds(n, op, number)])
    if kind == "note":
        if op not in ("=", "!=", ":"):
            raise InvalidArgument(f"filter: {name} can only be compared with = or !=")
        note = parse_note_name(text, f"filter: {name}")
        match = and_(occurrences.c.note_project_id == note.project, occurrences.c.note_id == note.note_id)
        return not_(match) if op == "!=" else match
    return compare_text(column, "=" if op == ":" else op, text)


# What each field that is not free text is, and how to compare it instead of has_prefix or has_suffix.
_NOT_TEXT = {
    "note": "names a note whole: compare it with = or != (or noteProjectId and noteId with has_prefix)",
    "policy": "names a policy whole: compare it with = or != (or policyId with has_prefix)",
    "kind": "is a kind: compare it with = or !=",
    "decision": "is a decision: compare it with = or !=",
    "time": "is a time: compare it with = != < <= > >=",
    "number": "is a number: compare it with = != < <= > >=",
}


def _call(node: Call, table):
    if node.function not in ("has_prefix", "has_suffix"):
        raise InvalidArgument(f"filter: unknown function {node.function!r}; functions are has_prefix, has_suffix")
    if len(node.args) != 2 or not isinstance(node.args[0], Field) or not isinstance(node.args[1], Value):
        raise InvalidArgument(f'filter: {node.function} takes a field and a string: {node.function}(field, "text")')
    field, value = node.args
    kind, column = _field(field, table)
    if kind == "member":
        return member_condition(column, node.function, value, table)
    if kind != "text":
        raise InvalidArgument(f"filter: {node.function} applies to free text; {field.name} {_NOT_TEXT[kind]}")
    text = _text(value, field)
    if node.function == "has_prefix":
        return _starts_with(column, text)
    return compare(column, "suffix", text)


def _starts_with(column, prefix: str):
    """`column` begins with `prefix`, as the range of texts an index on the column serves.

    In code point order every text that begins with `prefix` lies between it and its successor, and
    nothing else does. SQLite's BINARY collation compares so; PostgreSQL's default collation may not
    (a locale can ignore punctuation, or sort "ch" after "h"), so there the range compares with the
    operators of text_pattern_ops, which the indexes of text key columns have (tables._by_code_point).
    """
    after = _successor(prefix)
    lower = ByDialect(column >= prefix, postgresql=column.op("~>=~", is_comparison=True)(prefix))
    if after is None:
        return lower
    return and_(lower, ByDialect(column < after, postgresql=column.op("~<~", is_comparison=True)(after)))


def _successor(prefix: str) -> str | None:
    """The least text after every text that begins with `prefix`, in code point order (None: there is none)."""
    kept = prefix.rstrip(chr(0x10FFFF))  # the last code point has no successor: step the one before it
    if not kept:
        return None
    following = ord(kept[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are no characters: UTF-8 and text hold none
        following = 0xE000
    return kept[:-1] + chr(following)
