"""Keyset pages of one group's rows (a project's occurrences, a note's occurrences), read through the
group's own index on every database, whatever the rows of other groups and whatever plan is cached.

A page is `group = :value AND pk > :after ORDER BY pk LIMIT n`. On PostgreSQL that shape lets the
planner walk the primary key instead, keeping the group's rows as they pass: it assumes they are
spread evenly over the key, and it costs heap reads through a multicolumn index as less correlated
(x 0.75) than through the primary key. When a group's rows sit together, as a tenant's do, a page
then reads every row of the groups before it (200,000 rows for the last of three tenants of 100,000)
and a cached generic plan does that for every group, a 200-row one included (300,000 rows).

So the group is written `group = ANY (ARRAY[:value])` there and the page is ordered by (group, pk):
PostgreSQL derives no constant from an array comparison, so only an index that leads with the group
(group, pk), (group, kind, pk) and the like can deliver that order, and the primary key cannot; the
array of one element is estimated exactly as the equality. SQLite, which already plans these through
the group's index, gets the plain equality (and drops the constant column from the ORDER BY itself).

Pages are also never prepared on the server (`plan_with_values`, see engine.py): with a filter, the
index that serves a page depends on the filter's values, which a generic plan does not know.
"""

from __future__ import annotations

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class _OnlyValue(FunctionElement):
    """The right side of `column = value` for one group: `ANY (ARRAY[value])` on PostgreSQL (see the
    module), `value` elsewhere."""

    inherit_cache = True
    name = "only_value"

    def __init__(self, value) -> None:
        super().__init__(value)
        self.type = value.type


@compiles(_OnlyValue)
def _value(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(_OnlyValue, "postgresql")
def _any_of_one(element, compiler, **kw):
    return f"ANY (ARRAY[{compiler.process(element.clauses, **kw)}])"


def group_page(query, column, value, pk, after):
    """`query` narrowed to the rows whose `column` is `value` and whose `pk` follows `after`, in pk order."""
    value = (column == value).right  # a parameter or a literal, bound with the column's type
    query = query.where(column == _OnlyValue(value), pk > after).order_by(column, pk)
    return query.execution_options(plan_with_values=True)  # never a generic plan (see engine.py)
