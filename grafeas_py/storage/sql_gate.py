"""Storage for the deploy gate: policies with immutable revisions, and decisions.

Every change records its audit entry (`_audit`, from sql_auth) in its own transaction."""

from __future__ import annotations

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import Aborted, AlreadyExists, NotFound
from ..gate.artifacts import stored_artifact_key
from ..names import decision_name, policy_name
from ..wire.timestamps import from_micros, to_micros
from .base import page_of
from .filter_sql import compile_filter
from .keyset import group_page, within_bytes
from .sql_auth import actor
from .sql_history import revision_entry
from .tables import decisions, history, occurrences, policies, policy_revisions


def _policy_missing(project_id: str, policy_id: str) -> NotFound:
    return NotFound(f"policy {policy_name(project_id, policy_id)!r} not found")


# The occurrences of one artifact: through the (project, resource URI, pk) index for each spelling
# the URI may have, and through the (project, artifact key, pk) index for those stored under others.
# Sorted in Python (`artifact_occurrences`): with ORDER BY pk, SQLite reads a table of some thousands
# of rows in pk order instead (no sort, and a LIMIT to stop at), and keeps doing so longer as the lists grow.
_ARTIFACT_OCCURRENCES = (
    select(occurrences.c.pk, occurrences.c.data)
    .where(
        occurrences.c.project_id.in_(bindparam("projects", expanding=True)),
        or_(
            occurrences.c.resource_uri.in_(bindparam("resource_uris", expanding=True)),
            occurrences.c.artifact_key.in_(bindparam("artifact_keys", expanding=True)),
        ),
    )
    .limit(bindparam("limit"))
)
_CURRENT_POLICY = select(policies.c.data, policies.c.revision).where(
    policies.c.project_id == bindparam("project_id"), policies.c.policy_id == bindparam("policy_id")
)
_CURRENT_REVISION = select(policies.c.revision).where(
    policies.c.project_id == bindparam("project_id"), policies.c.policy_id == bindparam("policy_id")
)
_RECORD_DECISION = insert(decisions)


# When the project was last deleted: its latest tombstone.
_PROJECT_DELETED_AT = select(func.max(history.c.update_time)).where(
    history.c.project_id == bindparam("project_id"),
    history.c.resource_type == "project",
    history.c.resource_id == bindparam("project_id"),
    history.c.deleted.is_(True),
)


class _Kept:
    """A policy_revisions row as `revision_entry` reads it: a tombstone carries no document."""

    def __init__(self, row) -> None:
        self.revision, self.deleted, self.updated_by = row.revision, row.deleted, row.updated_by
        self.changed_fields = row.changed_fields if row.revision > 1 or row.changed_fields else None
        self.data = None if row.deleted else row.data


class GateStorage:
    """Mixed into SqlStorage: the gate's nouns and verbs over the same engines."""

    # ---- policies --------------------------------------------------------------------------

    def create_policy(self, project_id: str, policy_id: str, data: dict) -> dict:
        """Store revision 1 (or the next after a deleted policy's last) of a new policy."""
        try:
            with self._write() as conn:
                self._hold_projects(conn, [project_id])
                taken = conn.execute(
                    select(policies.c.pk).where(policies.c.project_id == project_id, policies.c.policy_id == policy_id)
                ).first()
                if taken:
                    raise AlreadyExists(f"policy {policy_name(project_id, policy_id)!r} already exists")
                now = to_micros(data["updateTime"])
                buried = conn.execute(_PROJECT_DELETED_AT, {"project_id": project_id}).scalar()
                if buried is not None and now <= buried:
                    # Made after a deletion of its project that committed first (the hold above waited for
                    # it), by a clock behind the one that stamped the deletion: dated after it, or `db
                    # doctor` would take the policy for one the deleted project left behind.
                    now = buried + 1
                    data = {**data, "createTime": from_micros(now), "updateTime": from_micros(now)}
                row = dict(project_id=project_id, policy_id=policy_id, create_time=now, update_time=now)
                conn.execute(insert(policies).values(**row, revision=1, data={**data, "revision": 1}))
                # Numbered after the insert, which waits for a delete of the policy under way, so that its
                # tombstone is seen: numbered before, a create racing a create and a delete took a number
                # the revisions already held, and answered "already exists" for a policy that did not.
                revision = self._next_revision(conn, project_id, policy_id)
                data = {**data, "revision": revision}
                if revision != 1:
                    mine = (policies.c.project_id == project_id) & (policies.c.policy_id == policy_id)
                    conn.execute(update(policies).where(mine).values(revision=revision, data=data))
                self._add_revision(conn, project_id, policy_id, revision, now, data, deleted=False)
                self._audit(conn, "policies.create", policy_name(project_id, policy_id), {"revision": revision})
        except IntegrityError:  # another writer created it between our check and our insert
            raise AlreadyExists(f"policy {policy_name(project_id, policy_id)!r} already exists") from None
        return data

    def get_policy(self, project_id: str, policy_id: str) -> tuple[dict, int]:
        """The current revision of a policy and its number."""
        with self._read() as conn:
            row = conn.execute(_CURRENT_POLICY, {"project_id": project_id, "policy_id": policy_id}).first()
        if row is None:
            raise _policy_missing(project_id, policy_id)
        return row.data, row.revision

    def policy_revision(self, project_id: str, policy_id: str) -> int:
        """The number of a policy's current revision (revisions never change, so callers may cache by it)."""
        with self._read() as conn:
            revision = conn.execute(_CURRENT_REVISION, {"project_id": project_id, "policy_id": policy_id}).scalar()
        if revision is None:
            raise _policy_missing(project_id, policy_id)
        return revision

    def list_policies(self, project_id: str, page):
        query = select(policies.c.pk, policies.c.data)
        paged = group_page(query, policies.c.project_id, project_id, policies.c.pk, page.after)
        rows = self._rows(within_bytes(paged.limit(page.size + 1), policies, page.max_bytes))
        return page_of([r.data for r in rows], rows, page)

    def update_policy(
        self, project_id: str, policy_id: str, data: dict, revision: int, changed_fields: list[str] | None = None
    ) -> dict:
        """Replace the policy read at `revision` with a new revision; Aborted if it changed since."""
        new = revision + 1
        data = {**data, "revision": new}
        now = to_micros(data["updateTime"])
        try:
            with self._write() as conn:
                changed = conn.execute(
                    update(policies)
                    .where(
                        policies.c.project_id == project_id,
                        policies.c.policy_id == policy_id,
                        policies.c.revision == revision,
                    )
                    .values(revision=new, update_time=now, data=data)
                ).rowcount
                if not changed:
                    exists = conn.execute(
                        select(policies.c.pk).where(
                            policies.c.project_id == project_id, policies.c.policy_id == policy_id
                        )
                    ).first()
                    if exists is None:
                        raise _policy_missing(project_id, policy_id)
                    raise Aborted("the policy was changed by another request while this update ran; retry it")
                changed = sorted(changed_fields or [])
                self._add_revision(conn, project_id, policy_id, new, now, data, deleted=False, changed=changed)
                detail = {"revision": new, "changedFields": changed}  # as note and occurrence updates record it
                self._audit(conn, "policies.update", policy_name(project_id, policy_id), detail)
        except IntegrityError:
            raise Aborted("the policy was changed by another request while this update ran; retry it") from None
        return data

    def delete_policy(self, project_id: str, policy_id: str, delete_time: str) -> None:
        """Remove the policy, leaving a tombstone revision; earlier revisions stay readable."""
        with self._write() as conn:
            # The tombstone follows the revision the delete removed: one read before could be replaced by
            # a concurrent update, whose revision the tombstone then collided with (a 500).
            row = conn.execute(
                policies.delete()
                .where(policies.c.project_id == project_id, policies.c.policy_id == policy_id)
                .returning(policies.c.revision, policies.c.data)
            ).first()
            if row is None:
                raise _policy_missing(project_id, policy_id)
            tombstone = {
                "name": row.data["name"],
                "revision": row.revision + 1,
                "updateTime": delete_time,
                "deleted": True,
            }
            now = to_micros(delete_time)
            self._add_revision(conn, project_id, policy_id, row.revision + 1, now, tombstone, deleted=True)
            self._audit(conn, "policies.delete", policy_name(project_id, policy_id), {"revision": row.revision + 1})

    def get_policy_revision(self, project_id: str, policy_id: str, revision: int) -> dict:
        with self._read() as conn:
            data = conn.execute(
                select(policy_revisions.c.data).where(
                    policy_revisions.c.project_id == project_id,
                    policy_revisions.c.policy_id == policy_id,
                    policy_revisions.c.revision == revision,
                )
            ).scalar()
        if data is None:
            raise NotFound(f"revision {revision} of policy {policy_name(project_id, policy_id)!r} not found")
        return data

    def list_policy_revisions(self, project_id: str, policy_id: str, page):
        """Every revision of a policy, oldest first, including those of deleted incarnations."""
        query = select(policy_revisions).where(
            policy_revisions.c.project_id == project_id,
            policy_revisions.c.policy_id == policy_id,
            policy_revisions.c.pk > page.after,
        )
        rows = self._rows(
            within_bytes(query.order_by(policy_revisions.c.pk).limit(page.size + 1), policy_revisions, page.max_bytes)
        )
        if not rows and not page.after:
            raise _policy_missing(project_id, policy_id)
        name = policy_name(project_id, policy_id)
        entries = [revision_entry("policy", name, _Kept(r), r.create_time) for r in rows]
        return page_of(entries, rows, page)

    @staticmethod
    def _next_revision(conn, project_id: str, policy_id: str) -> int:
        last = conn.execute(
            select(func.max(policy_revisions.c.revision)).where(
                policy_revisions.c.project_id == project_id, policy_revisions.c.policy_id == policy_id
            )
        ).scalar()
        return (last or 0) + 1

    @staticmethod
    def _add_revision(conn, project_id, policy_id, revision, now, data, deleted, changed=None) -> None:
        """Keep a revision: the document, who made it and, for an update, which top-level fields changed."""
        conn.execute(
            insert(policy_revisions).values(
                project_id=project_id,
                policy_id=policy_id,
                revision=revision,
                create_time=now,
                deleted=deleted,
                data=data,
                updated_by=actor(),
                changed_fields=changed,
            )
        )

    # ---- what the gate reads ---------------------------------------------------------------

    def artifact_occurrences(
        self, project_ids: list[str], resource_uris: list[str], artifact_keys: list[str], limit: int
    ) -> list[dict]:
        """The occurrences on one artifact in the given projects, oldest first: those stored under any of
        `resource_uris` (its spellings) or kept with one of its `artifact_keys` (any other). Where it has
        more than `limit`, some `limit` of them: enough to tell that it has too many."""
        with self._read() as conn:
            params = {
                "projects": project_ids,
                "resource_uris": resource_uris,
                "artifact_keys": artifact_keys,
                "limit": limit,
            }
            rows = conn.execute(_ARTIFACT_OCCURRENCES, params).all()
        return [row.data for row in sorted(rows, key=lambda row: row.pk)]

    # ---- decisions -------------------------------------------------------------------------

    def record_decision(self, project_id: str, decision_id: str, policy_id: str, data: dict) -> dict:
        """Append a decision; decisions are never changed afterwards."""
        with self._write() as conn:
            conn.execute(
                _RECORD_DECISION,
                dict(
                    project_id=project_id,
                    decision_id=decision_id,
                    policy_id=policy_id,
                    policy_revision=data["policyRevision"],
                    resource_uri=data["resourceUri"],
                    artifact_key=stored_artifact_key(data["resourceUri"]),
                    decision=data["decision"],
                    evaluate_time=to_micros(data["evaluateTime"]),
                    data=data,
                ),
            )
            detail = {
                "policy": policy_name(project_id, policy_id),
                "policyRevision": data["policyRevision"],
                "resourceUri": data["resourceUri"],
                "decision": data["decision"],
            }
            if "breakglass" in data:  # an override an auditor looks for first, chained with the rest
                detail["breakglass"] = data["breakglass"]
            self._audit(conn, "decisions.create", decision_name(project_id, decision_id), detail)
        return data

    def get_decision(self, project_id: str, decision_id: str) -> dict:
        with self._read() as conn:
            data = conn.execute(
                select(decisions.c.data).where(
                    decisions.c.project_id == project_id, decisions.c.decision_id == decision_id
                )
            ).scalar()
        if data is None:
            raise NotFound(f"decision 'projects/{project_id}/decisions/{decision_id}' not found")
        return data

    def list_decisions(self, project_id: str, page, filter_=None):
        """A project's decisions, oldest first; `filter_` on resourceUri, policy, decision, evaluateTime."""
        rows = self._rows(decisions_query(project_id, page, filter_))
        return page_of([r.data for r in rows], rows, page)


def decisions_query(project_id: str, page, filter_=None):
    """ListDecisions: one page of a project's decisions after the page's key, in key order."""
    query = select(decisions.c.pk, decisions.c.data).where(compile_filter(filter_, decisions))
    paged = group_page(query, decisions.c.project_id, project_id, decisions.c.pk, page.after)
    return within_bytes(paged.limit(page.size + 1), decisions, page.max_bytes)
