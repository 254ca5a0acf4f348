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

A page of documents is also bounded in bytes (`within_bytes`), not only in count: a thousand
documents of a few megabytes each (a decision about an artifact with 20,000 occurrences is 3.5 MB)
would otherwise be read, decoded and encoded whole by one worker.
"""

from __future__ import annotations

from sqlalchemy import Integer, func, select
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


class _DocumentBytes(FunctionElement):
    """The length in bytes of a stored document's JSON text."""

    inherit_cache = True
    name = "document_bytes"
    type = Integer()


@compiles(_DocumentBytes)
def _text_bytes(element, compiler, **kw):
    return f"length(CAST({compiler.process(element.clauses, **kw)} AS BLOB))"  # bytes; of TEXT, characters


@compiles(_DocumentBytes, "postgresql")
def _jsonb_bytes(element, compiler, **kw):
    # The stored size, read from the value's header: for a document big enough to be compressed, less
    # than its text (so a page may hold a few times the budget), but the text's own length doubled
    # the time of a page of a thousand (octet_length of every document turned to text once more).
    return f"pg_column_size({compiler.process(element.clauses, **kw)})"


def within_bytes(page, table, budget):
    """`page` (a limited query of `table`'s rows in pk order, with its `pk` and `data` among its columns)
    cut after the first document that takes it past `budget` bytes (a number or a parameter), with a
    `fetched` column added: the rows `page` itself held. When more than were kept, the page ended early
    and more follow (see `base.page_of`). The first document is always kept, however big: else a page
    could hold nothing and never move on.

    The cut is made over the page's keys and sizes alone, and only the rows kept are read whole, by key:
    carried through the window's sort, the documents themselves doubled the time of a page."""
    sizes = page.with_only_columns(table.c.pk, _bytes_of(table.c.data)).subquery("page")
    kept = _cut(sizes, [sizes.c.pk], budget)
    whole = select(*page.selected_columns, kept.c.fetched).join_from(table, kept, table.c.pk == kept.c.pk)
    return whole.order_by(table.c.pk).execution_options(plan_with_values=True)  # as the page itself


def rows_within_bytes(page, key: list[str], budget):
    """`page` (a limited query ordered by its columns named in `key`, with a `data` column) cut as
    `within_bytes` cuts a table's page: for pages drawn from several tables, whose rows are carried."""
    sized = page.add_columns(_bytes_of(page.selected_columns.data)).subquery("page")
    kept = _cut(sized, [sized.c[name] for name in key], budget)
    columns = [kept.c[column.key] for column in page.selected_columns]
    return select(*columns, kept.c.fetched).order_by(*(kept.c[name] for name in key))


def _bytes_of(data):
    """The `bytes` column: a document's size, 0 for none (a deleted revision's), which would void the sum."""
    return func.coalesce(_DocumentBytes(data), 0).label("bytes")


def _cut(sized, order: list, budget):
    """The rows of `sized` (a subquery with a `bytes` column) up to and including the first whose bytes,
    in `order`, take the sum past `budget`, with `fetched`: how many rows `sized` held."""
    running = select(
        sized,
        func.sum(sized.c.bytes).over(order_by=order).label("running"),
        func.count().over().label("fetched"),
    ).subquery("sized")
    return select(running).where(running.c.running - running.c.bytes < budget).subquery("kept")
