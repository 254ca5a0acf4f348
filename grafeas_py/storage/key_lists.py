"""`column IN (keys)` for lookups by many keys, written so that PostgreSQL cannot plan it badly.

SQLAlchemy writes a list of keys as one parameter per key, and psycopg prepares a statement once it
has run five times on a connection; PostgreSQL may then cache a generic plan for it, made without the
values and kept while the table grows. Made while a project was small, or before the table was first
analyzed, such a plan reads the project's rows and compares each with every key in turn: after a
bulk load, each chunk of 500 note or occurrence ids took 110 to 290 ms (tests/benchmarks/bench_vex.py,
10,000 findings), where probing the (project, id) index takes 2 ms.

On PostgreSQL the keys are therefore one array parameter, `column = ANY (:keys)`, and a statement
holding one is never prepared (engine.py, `plan_with_values`): each run is planned with the keys as a
constant array, which PostgreSQL compares through a hash table when it does read the project's rows,
and with the table's current size. Planning it costs a fraction of a millisecond. Elsewhere (SQLite)
the list stays a list, which SQLite always serves from the index.
"""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class _OneOf(FunctionElement):
    """The condition `column IN (keys)`, carrying the keys both as a list and as an array parameter;
    each database's compiler renders one of them (both are traversed, so a cached statement takes
    whichever it rendered from the statement at hand)."""

    inherit_cache = True
    name = "one_of"


@compiles(_OneOf)
def _in_list(element, compiler, **kw):
    column, listed, _array = element.clauses
    return compiler.process(column.in_(listed), **kw)


@compiles(_OneOf, "postgresql")
def _any_of_array(element, compiler, **kw):
    column, _listed, array = element.clauses
    compiler.plan_with_values = True  # the whole statement: see the module, and engine.py
    return compiler.process(column == array.any_(), **kw)


def one_of(column, keys=None, *, name: str | None = None):
    """`column IN (keys)`; with `name` and no keys, a parameter of that name to give at execution."""
    unique = name is None
    listed = bindparam(name, keys, type_=column.type, expanding=True, unique=unique)
    # The array's elements are of the column's type without its length: PostgreSQL's cast to
    # VARCHAR(36)[] would cut a longer key short, to equal some other key.
    array = bindparam(name, keys, type_=ARRAY(type(column.type)()), unique=unique)
    return _OneOf(column, listed, array)
