"""`grafeas-py db doctor`: stored rows that an earlier release could write but this one cannot serve or
treats differently. It only reads, in one read-only transaction.

Each check names what the current code refuses, using the same rule (names.check_id, the codec's
nesting limit), so that the report follows the code when a rule changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import DBAPIError

from ..auth.authz import ALL_PROJECTS, Binding
from ..db import schema_problem
from ..errors import InvalidArgument
from ..gate.policy import parse_policy
from ..gate.service import OUTPUT_ONLY
from ..names import MAX_ID_LENGTH, check_id, decision_name, note_name, occurrence_name, policy_name, project_name
from ..validation import odd_resource_uri
from ..wire.codec import MAX_JSON_DEPTH, DecodeError
from ..wire.grafeas_types import CODEC, NOTE, OCCURRENCE
from ..wire.timestamps import from_micros
from .engine import make_engine
from .tables import decisions, history, notes, occurrences, policies, policy_revisions, projects, role_bindings

# Rows per read: documents may be megabytes each, so a whole table is never held at once.
CHUNK = 100
# orjson, which writes every answer, refuses values nested 255 levels deep or more.
ANSWER_MAX_DEPTH = 254


@dataclass(frozen=True)
class Finding:
    """One stored row this release cannot serve as it was written, or serves differently."""

    check: str
    resource: str
    problem: str
    remedy: str
    table: str
    pk: int

    def to_dict(self) -> dict:
        return asdict(self)


class NotAtHead(Exception):
    """The schema is not the one this release reads; the message says what to run."""


def examine(database_url: str, expected_revision: str) -> list[Finding]:
    """Every finding in the database at `database_url`, which must be at `expected_revision`."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            _read_only(conn)
            try:
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except DBAPIError:  # no such table: never migrated
                revision = None
            problem = schema_problem(revision, expected_revision)
            if problem:
                raise NotAtHead(problem)
            return [
                *_wildcard_occurrence_projects(conn),
                *_refused_policies(conn),
                *_unaddressable_ids(conn),
                *_unloadable_bindings(conn),
                *_policies_of_deleted_projects(conn),
                *_projects_named_star(conn),
                *_documents_too_deep(conn),
                *_odd_resource_uris(conn),
            ]
    finally:
        engine.dispose()  # the connection was made read-only: it must not serve anyone else


def _read_only(conn) -> None:
    """Make the transaction unable to write, so that no mistake here can change the database."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET TRANSACTION READ ONLY"))
    else:
        conn.execute(text("PRAGMA query_only = ON"))


def _chunks(conn, table, *columns, where=None) -> Iterator:
    """The rows of `table` in pk order, read CHUNK at a time by keyset."""
    after = 0
    while True:
        query = select(table.c.pk, *columns).where(table.c.pk > after).order_by(table.c.pk).limit(CHUNK)
        if where is not None:
            query = query.where(where)
        rows = conn.execute(query).all()
        yield from rows
        if len(rows) < CHUNK:
            return
        after = rows[-1].pk


# ---- 1. policies that read occurrences of '*' ----------------------------------------------


def _wildcard_occurrence_projects(conn) -> Iterator[Finding]:
    """Policies whose occurrenceProjects the gate now refuses ('*', or an id no project can have): every
    evaluation under them is a 400 and every admission under them is denied."""
    for row in _chunks(conn, policies, policies.c.project_id, policies.c.policy_id, policies.c.data):
        listed = row.data.get("occurrenceProjects") if isinstance(row.data, dict) else None
        refused = [p for p in listed or () if _refused_project(p)]
        if refused:
            spelled = ", ".join(repr(_cut(str(p))) for p in refused)
            yield Finding(
                check="policy-occurrence-projects",
                resource=policy_name(row.project_id, row.policy_id),
                problem=(
                    f"occurrenceProjects holds {spelled}, which this release refuses when it evaluates the policy"
                    " ('*' is no wildcard: no project is named so): every evaluation under it fails and every"
                    " admission it judges is denied"
                ),
                remedy=(
                    "rewrite the policy whole (PUT, or PATCH with the whole document), naming each project whose"
                    " occurrences count"
                ),
                table="policies",
                pk=row.pk,
            )


def _refused_policies(conn) -> Iterator[Finding]:
    """Policies this release refuses on other grounds than occurrenceProjects (a key it no longer takes,
    say): parsed as the gate parses them at each evaluation, which then fails."""
    for row in _chunks(conn, policies, policies.c.project_id, policies.c.policy_id, policies.c.data):
        document = row.data if isinstance(row.data, dict) else {}
        if any(_refused_project(p) for p in document.get("occurrenceProjects") or ()):
            continue  # reported above, with what to do about it
        try:
            parse_policy({k: v for k, v in document.items() if k not in OUTPUT_ONLY})
        except InvalidArgument as refusal:
            yield Finding(
                check="policy-refused",
                resource=policy_name(row.project_id, row.policy_id),
                problem=(
                    f"this release refuses the stored policy ({_cut(refusal.message, 300)}): every evaluation under it"
                    " fails and every admission it judges is denied"
                ),
                remedy="update the policy (PUT or PATCH) so that it passes, as the message says",
                table="policies",
                pk=row.pk,
            )


def _refused_project(value) -> bool:
    if not isinstance(value, str) or value == ALL_PROJECTS:
        return True
    try:
        check_id("a project id", value)
    except InvalidArgument:
        return True
    return False


# ---- 2. ids no request can name ------------------------------------------------------------

# Each id-keyed table: its id columns, what to call each, how its resource is named, and what more a
# row costs when it cannot be addressed.
_IDS = [
    (projects, {"project_id": "the project id"}, lambda r: project_name(r.project_id), ""),
    (
        notes,
        {"project_id": "its project id", "note_id": "the note id"},
        lambda r: note_name(r.project_id, r.note_id),
        "",
    ),
    (
        occurrences,
        {"project_id": "its project id", "occurrence_id": "the occurrence id"},
        lambda r: occurrence_name(r.project_id, r.occurrence_id),
        "",
    ),
    (
        policies,
        {"project_id": "its project id", "policy_id": "the policy id"},
        lambda r: policy_name(r.project_id, r.policy_id),
        "; while it exists DeleteProject refuses to delete its project",
    ),
    (
        decisions,
        {"project_id": "its project id", "decision_id": "the decision id"},
        lambda r: decision_name(r.project_id, r.decision_id),
        "",
    ),
]


def _unaddressable_ids(conn) -> Iterator[Finding]:
    """Rows whose ids the current id rule refuses (longer than MAX_ID_LENGTH, or '.' or '..'): every
    route checks the ids in its path, so no request can read, update or delete them."""
    for table, labels, name, cost in _IDS:
        columns = [table.c[c] for c in labels]
        # Only the few rows that can break the rule are read: the rest of the table never leaves the database.
        suspect = or_(*(func.length(c) > MAX_ID_LENGTH for c in columns), *(c.in_((".", "..")) for c in columns))
        for row in conn.execute(select(table.c.pk, *columns).where(suspect).order_by(table.c.pk)):
            problems = [_id_problem(label, getattr(row, column)) for column, label in labels.items()]
            yield Finding(
                check="unaddressable-id",
                resource=name(row),
                problem="; ".join(p for p in problems if p) + f": no request can name it{cost}",
                remedy=(
                    f"copy what is still needed to a resource with a valid id, then delete the row with SQL"
                    f" (table {table.name}, pk {row.pk}): the API cannot reach it"
                ),
                table=table.name,
                pk=row.pk,
            )


def _id_problem(label: str, value: str) -> str | None:
    try:
        check_id(label, value)
    except InvalidArgument as exc:
        return exc.message
    return None


def _unloadable_bindings(conn) -> Iterator[Finding]:
    """Role bindings the server can no longer load (a project id over the limit, say): loading the bindings
    fails, so with GRAFEAS_AUTH set every request that checks a permission fails."""
    columns = role_bindings.c.project, role_bindings.c.role, role_bindings.c.member
    for row in _chunks(conn, role_bindings, *columns):
        try:
            Binding(row.project, row.role, row.member)
        except InvalidArgument as exc:
            yield Finding(
                check="unloadable-binding",
                resource=f"binding of {row.role} on {_cut(row.project)} to {_cut(row.member)}",
                problem=(
                    f"{exc.message}: the server cannot load the role bindings, so under GRAFEAS_AUTH every request"
                    " that checks a permission fails with 400"
                ),
                remedy=(
                    f"delete the row with SQL (table role_bindings, pk {row.pk}): neither 'grafeas-py auth unbind'"
                    " nor the admin API can name it; bind again under a valid project id if needed"
                ),
                table="role_bindings",
                pk=row.pk,
            )


def _cut(value: str, keep: int = 60) -> str:
    """A long id shortened for a message (the finding's pk says which row it is)."""
    return value if len(value) <= keep else f"{value[:keep]}... ({len(value)} characters)"


# ---- 3. policies left behind by a deleted project ------------------------------------------


def _policies_of_deleted_projects(conn) -> Iterator[Finding]:
    """Policies older than their project's deletion. DeleteProject now refuses while policies remain;
    releases before it deleted the project and left them gating admissions, and a project created again
    under the id inherits them. Only deletions that left a tombstone in history (releases at 0005 on)
    can be found: an earlier deletion left no trace."""
    deleted = (
        select(history.c.project_id, func.max(history.c.update_time).label("deleted_at"))
        .where(history.c.resource_type == "project", history.c.deleted.is_(True))
        .group_by(history.c.project_id)
        .subquery()
    )
    query = (
        select(
            policies.c.pk,
            policies.c.project_id,
            policies.c.policy_id,
            deleted.c.deleted_at,
            projects.c.pk.label("again"),
        )
        .join(deleted, deleted.c.project_id == policies.c.project_id)
        .outerjoin(projects, projects.c.project_id == policies.c.project_id)
        .where(policies.c.create_time < deleted.c.deleted_at)
        .order_by(policies.c.pk)
    )
    for row in conn.execute(query):
        name = project_name(row.project_id)
        now = f"{name} was created again since, and inherits it" if row.again else f"{name} does not exist now"
        yield Finding(
            check="policy-outlived-project",
            resource=policy_name(row.project_id, row.policy_id),
            problem=(
                f"the policy was made before {name} was deleted ({from_micros(row.deleted_at)}) and outlived it;"
                f" {now}: it gates admissions that name it, and a project of that id inherits it"
            ),
            remedy=(
                "delete the policy if it belonged to the deleted project; if the project's present owners want it,"
                " delete it and create it again with the same document, so that it dates from after the deletion"
            ),
            table="policies",
            pk=row.pk,
        )


# ---- 4. a project named '*' ----------------------------------------------------------------


def _projects_named_star(conn) -> Iterator[Finding]:
    """CreateProject refuses '*' now, and so does every write that would make one (projects need not be
    created before use): its name, projects/*, is what the audit trail and bindings use for every project."""
    for table, what in ((notes, "notes"), (occurrences, "occurrences"), (policies, "policies")):
        count, first = conn.execute(
            select(func.count(), func.min(table.c.pk)).where(table.c.project_id == ALL_PROJECTS)
        ).one()
        if count:
            yield Finding(
                check="project-named-star",
                resource=project_name(ALL_PROJECTS),
                problem=(
                    f"{count} {what} are stored in a project named '*', which no write may make now: their audit"
                    " entries name projects/*/..., which reads as every project"
                ),
                remedy=f"create them again in a project with another id, then delete them from projects/%2A/{what}",
                table=table.name,
                pk=first,
            )
    for row in conn.execute(select(projects.c.pk).where(projects.c.project_id == ALL_PROJECTS)):
        yield Finding(
            check="project-named-star",
            resource=project_name(ALL_PROJECTS),
            problem=(
                "no project may be named '*' now: its audit entries name projects/*, which reads as every project,"
                " and only a holder of a role on every project may read or delete it"
            ),
            remedy=(
                "move what it holds to a project with another id, then delete it (DELETE /v1/projects/%2A,"
                " once it holds no notes, occurrences or policies)"
            ),
            table="projects",
            pk=row.pk,
        )


# ---- 5. documents nested deeper than this release stores or can answer -----------------------

# The answers that hold a stored document, and how many levels each wraps it in: a list page
# {"notes": [doc]} 2, a revision history page {"revisions": [{"note": doc}]} 3, an artifact timeline
# page {"events": [{"occurrenceRevision": {"occurrence": doc}}]} 4 ({"events": [{"decision": doc}]} 3).
_LIST, _HISTORY, _TIMELINE = "list pages", "history pages", "artifact timeline pages"


@dataclass(frozen=True)
class _Documents:
    """A table of documents: the columns naming a row, its resource name, the answers holding it, and the
    message the codec decodes it as, for the tables whose documents clients write."""

    table: object
    keys: tuple[str, ...]
    name: object
    answers: dict
    message: object = None


_DOCUMENTS = [
    _Documents(
        notes, ("project_id", "note_id"), lambda r: note_name(r.project_id, r.note_id), {_LIST: 2, _HISTORY: 3}, NOTE
    ),
    _Documents(
        occurrences,
        ("project_id", "occurrence_id"),
        lambda r: occurrence_name(r.project_id, r.occurrence_id),
        {_LIST: 2, _HISTORY: 3, _TIMELINE: 4},
        OCCURRENCE,
    ),
    _Documents(
        policies, ("project_id", "policy_id"), lambda r: policy_name(r.project_id, r.policy_id), {_LIST: 2, _HISTORY: 3}
    ),
    _Documents(
        decisions,
        ("project_id", "decision_id"),
        lambda r: decision_name(r.project_id, r.decision_id),
        {_LIST: 2, _TIMELINE: 3},
    ),
    _Documents(
        policy_revisions,
        ("project_id", "policy_id", "revision"),
        lambda r: f"{policy_name(r.project_id, r.policy_id)} revision {r.revision}",
        {_HISTORY: 3},
    ),
    _Documents(
        history,
        ("project_id", "resource_type", "resource_id", "revision"),
        lambda r: f"{_HISTORY_NAMES[r.resource_type](r.project_id, r.resource_id)} revision {r.revision}",
        {_HISTORY: 3, _TIMELINE: 4},  # timelines show occurrences' revisions only
    ),
]
_HISTORY_NAMES = {"project": lambda p, _id: project_name(p), "note": note_name, "occurrence": occurrence_name}


def _documents_too_deep(conn) -> Iterator[Finding]:
    """Documents too deep to be answered (orjson writes ANSWER_MAX_DEPTH levels at most, so a page holding
    one fails), and notes and occurrences with a free-form field nested deeper than the codec's
    MAX_JSON_DEPTH, which this release refuses to store and the official client may not parse."""
    for kind in _DOCUMENTS:
        table = kind.table
        columns = [table.c[k] for k in kind.keys]
        for row in _chunks(conn, table, *columns, table.c.data, where=table.c.data.is_not(None)):
            depth = nesting(row.data)
            answers = kind.answers
            if table is history and row.resource_type != "occurrence":
                answers = {_HISTORY: 3}
            failing = [answer for answer, wrapping in answers.items() if depth + wrapping > ANSWER_MAX_DEPTH]
            if failing:
                yield _unanswerable(table, kind.name(row), row.pk, depth, failing)
            elif kind.message is not None and depth > MAX_JSON_DEPTH:
                refusal = _nesting_refusal(kind.message, row.data)
                if refusal:
                    yield _past_limit(table, kind.name(row), row.pk, refusal)


def nesting(value) -> int:
    """How many objects and lists deep `value` is (0 for a scalar), by an explicit stack: documents
    hundreds of levels deep would exhaust recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _nesting_refusal(message, document: dict) -> str | None:
    """What the codec says of the document's nesting when it decodes it as a request today; None if it
    accepts it (objects nested as messages do not count: the limit is per free-form field)."""
    try:
        CODEC.decode(message, document)
    except DecodeError as exc:
        # Only nesting is this check's business; another refusal could hide one, which this misses.
        if exc.reason.startswith("nested more than"):
            return f"{_cut(exc.path, 100)}: {exc.reason}"
    return None


def _unanswerable(table, resource: str, pk: int, depth: int, failing: list[str]) -> Finding:
    current = table.name in ("notes", "occurrences", "policies")
    return Finding(
        check="document-too-deep",
        resource=resource,
        problem=(
            f"the document is nested {depth} levels deep, and answers are written at most {ANSWER_MAX_DEPTH} deep:"
            f" the {_spelled_out(failing)} that hold it fail with 500"
        ),
        remedy=(
            "update the deep field to a shallower value (PATCH with an updateMask naming it) or delete the"
            " resource; the old revision stays in history, which only SQL can remove"
            if current
            else f"a stored record cannot be changed through the API: delete the row with SQL (table {table.name},"
            f" pk {pk}) if the pages holding it must work"
        ),
        table=table.name,
        pk=pk,
    )


def _spelled_out(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _past_limit(table, resource: str, pk: int, refusal: str) -> Finding:
    return Finding(
        check="nested-past-limit",
        resource=resource,
        problem=(
            f"{refusal}: this release refuses such a value, so it cannot be written back as it is, and past some"
            " 45 levels the official client (protobuf's parser, 100 messages deep) cannot read it nor a page holding it"
        ),
        remedy="update the field to a value nested less deeply (PATCH with an updateMask naming it), or delete it",
        table=table.name,
        pk=pk,
    )


# ---- 6. occurrences under a resource URI no artifact has ------------------------------------


def _odd_resource_uris(conn) -> Iterator[Finding]:
    """Occurrences whose resourceUri holds control characters or edge spaces, which this release refuses
    to write: the gate and the artifact timeline read them as no artifact, so they never count."""
    columns = occurrences.c.project_id, occurrences.c.occurrence_id, occurrences.c.resource_uri
    for row in _chunks(conn, occurrences, *columns):
        if odd_resource_uri(row.resource_uri):
            yield Finding(
                check="resource-uri-unreadable",
                resource=occurrence_name(row.project_id, row.occurrence_id),
                problem=(
                    f"its resourceUri {_cut(row.resource_uri)!r} holds control characters or begins or ends with a"
                    " space: the gate reads it as no artifact, so it never counts, and this release refuses to"
                    " update it"
                ),
                remedy="delete it and create it again under the artifact's URI, as written by the scanner or build",
                table="occurrences",
                pk=row.pk,
            )
