"""Storage for access control and the audit trail: API tokens, role bindings, and the hash chain.

Every mutation of the server appends one audit entry in its own transaction (`_audit`), so an
entry exists exactly when its change does. Entries are chained, so appends must be serialized:
SQLite's BEGIN IMMEDIATE (see `engine`) already runs one writer at a time; on PostgreSQL the
appender takes a SHARE ROW EXCLUSIVE lock on audit_log, which excludes other appenders until it
commits but never blocks readers, so verifying the chain runs alongside writes.

That lock is held from reading the chain's head to the commit, so every round trip to the client
inside that stretch is paid by every writer in turn; on a busy two-core machine each one costs a
scheduling delay, not just the network. So on PostgreSQL (unless the chain is keyed: HMAC needs the
key, which stays in Python) the entry is appended as the transaction ends, in one message that
takes the lock, links the entry to the head, hashes it in SQL (`audit.hash_template`) and commits:
the lock is then held only inside the server.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..auth.audit import GENESIS, AuditEntry, ChainHead, canonical_json, chain_next, hash_template
from ..auth.authz import Binding
from ..auth.context import current_principal
from ..auth.tokens import TokenRecord
from ..errors import AlreadyExists, NotFound
from ..names import project_name
from ..wire.timestamps import from_datetime, to_micros
from .engine import dumps_json
from .tables import api_tokens, audit_log, role_bindings

_AUDIT_HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_AUDIT_APPEND = insert(audit_log)
# The PostgreSQL fast path: lock, append linked to the head, and commit, in one simple-query message.
_AUDIT_APPEND_AND_COMMIT = """
LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO audit_log (seq, time, principal, action, resource, detail, prev_hash, hash)
SELECT head.seq + 1, %(time)s, %(principal)s, %(action)s, %(resource)s, %(detail)s, head.hash,
       encode(sha256(convert_to(
           %(part0)s || head.hash || %(part1)s || (head.seq + 1)::text || %(part2)s, 'UTF8')), 'hex')
FROM (
    SELECT coalesce(last.seq, 0) AS seq, coalesce(last.hash, %(genesis)s) AS hash
    FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS last ON true
) AS head;
COMMIT
"""
_PENDING = "grafeas_pending_audit"  # conn.info key of the entry the PostgreSQL fast path appends at commit
_LOCK_AUDIT = text("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
_GET_TOKEN = select(api_tokens).where(api_tokens.c.token_id == bindparam("token_id"))
_BINDINGS_VERSION = select(func.count(), func.max(role_bindings.c.pk))
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _micros(moment: dt.datetime | None) -> int | None:
    return None if moment is None else (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _moment(micros: int | None) -> dt.datetime | None:
    return None if micros is None else _EPOCH + dt.timedelta(microseconds=micros)


def _token(row) -> TokenRecord:
    return TokenRecord(
        row.token_id,
        row.name,
        row.secret_sha256,
        created=_moment(row.create_time),
        expires=_moment(row.expire_time),
        revoked=_moment(row.revoke_time),
    )


def _binding_resource(project: str) -> str:
    return project_name(project)  # `projects/*` for a binding on every project


def _append_params(principal: str, action: str, resource: str, detail: dict) -> dict:
    """The parameters of `_AUDIT_APPEND_AND_COMMIT` for one entry made now."""
    time = from_datetime(dt.datetime.now(dt.UTC))
    part0, part1, part2 = hash_template(principal, action, resource, detail, time)
    return dict(
        time=time,
        principal=principal,
        action=action,
        resource=resource,
        detail=canonical_json(detail).decode(),
        part0=part0,
        part1=part1,
        part2=part2,
        genesis=GENESIS,
    )


def actor() -> str:
    """The principal id that storage records as the author of a change."""
    return current_principal().id


class AuthStorage:
    """Mixed into SqlStorage: tokens, bindings and the audit trail, over the same engines."""

    audit_key: bytes | None = None

    # ---- the audit trail -------------------------------------------------------------------

    def _audit(self, conn, action: str, resource: str, detail: dict | None = None) -> None:
        """Append the entry for a change made in `conn`'s open transaction (`_write`); it commits with the
        change. Call it last: on PostgreSQL the entry is appended as the transaction commits."""
        if conn.dialect.name == "postgresql" and self.audit_key is None:
            conn.info[_PENDING] = (actor(), action, resource, json.loads(canonical_json(detail or {})))
            return
        if conn.dialect.name == "postgresql":
            conn.execute(_LOCK_AUDIT)  # held to the commit: the next appender reads this entry as the head
        head = conn.execute(_AUDIT_HEAD).first()
        prev = ChainHead(head.seq, head.hash) if head else None
        entry = chain_next(prev, actor(), action, resource, detail, key=self.audit_key)
        conn.execute(
            _AUDIT_APPEND,
            {
                "seq": entry.seq,
                "time": entry.time,
                "principal": entry.principal,
                "action": entry.action,
                "resource": entry.resource,
                "detail": canonical_json(entry.detail).decode(),
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            },
        )

    @staticmethod
    def _commit_with_audit(conn) -> None:
        """End `_write`'s transaction: with an entry pending, append it and commit in one round trip."""
        pending = conn.info.pop(_PENDING, None)
        if pending is None:
            return  # the transaction commits as usual
        principal, action, resource, detail = pending
        params = _append_params(principal, action, resource, detail)
        import psycopg  # only reached on PostgreSQL, where it is the driver

        # Client-side binding: a simple-query message may hold several statements, the COMMIT among
        # them. SQLAlchemy's own commit afterwards finds no transaction open and sends nothing.
        with psycopg.ClientCursor(conn.connection.driver_connection) as cursor:
            cursor.execute(_AUDIT_APPEND_AND_COMMIT, params)

    def _insert_one_audited(
        self, table, row: dict, action: str, resource: str, detail: dict, where: tuple[str, dict] | None = None
    ) -> bool | None:
        """Insert one row and append its audit entry in a single message to PostgreSQL: BEGIN, the
        insert, the locked append and COMMIT together, so a single create is one round trip, as it was
        before it had an audit entry. With `where` (SQL with its own parameters) the row is inserted
        only when it holds, and the entry only with the row. True: inserted; False: `where` did not
        hold and nothing was written; None: this path does not apply (SQLite, a keyed chain)."""
        if self.engine.dialect.name != "postgresql" or self.audit_key is not None:
            return None
        import psycopg  # only reached on PostgreSQL, where it is the driver

        columns = list(row)
        values = ", ".join(f"%(row_{c})s::jsonb" if c == "data" else f"%(row_{c})s" for c in columns)
        params = {f"row_{c}": dumps_json(row[c]) if c == "data" else row[c] for c in columns}
        condition, condition_params = where or ("true", {})
        params |= condition_params
        keys = [c for c in columns if c in ("project_id", "occurrence_id", "note_id")]
        inserted = " AND ".join(f"{c} = %(row_{c})s" for c in keys)
        params |= _append_params(actor(), action, resource, json.loads(canonical_json(detail)))
        append = _AUDIT_APPEND_AND_COMMIT.replace(
            ") AS head;", f") AS head WHERE EXISTS (SELECT 1 FROM {table.name} WHERE {inserted});"
        )
        sql = (
            f"BEGIN;\nINSERT INTO {table.name} ({', '.join(columns)}) SELECT {values} WHERE {condition}"
            f" RETURNING 1;\n{append}"
        )
        with self._read() as conn:  # autocommit: the message carries its own BEGIN and COMMIT
            driver = conn.connection.driver_connection
            try:
                with psycopg.ClientCursor(driver) as cursor:
                    cursor.execute(sql, params)
                    cursor.nextset()  # past BEGIN, to the INSERT ... RETURNING
                    return bool(cursor.fetchall())
            except psycopg.Error as exc:
                if driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE and not driver.closed:
                    driver.execute("ROLLBACK")  # a statement failed inside the explicit transaction
                if isinstance(exc, psycopg.OperationalError):
                    conn.invalidate()
                raise DBAPIError.instance(sql, params, exc, psycopg.Error) from None

    def audit_entries(self, batch: int = 1000, from_seq: int = 1) -> Iterator[AuditEntry]:
        """The audit entries from seq `from_seq` on, in seq order, streamed `batch` rows at a time."""
        query = select(audit_log).where(audit_log.c.seq >= from_seq).order_by(audit_log.c.seq)
        with self.engine.connect() as conn:
            rows = conn.execution_options(yield_per=batch).execute(query)
            for row in rows:
                detail = json.loads(row.detail)
                yield AuditEntry(
                    row.seq, row.time, row.principal, row.action, row.resource, detail, row.prev_hash, row.hash
                )

    # ---- API tokens ------------------------------------------------------------------------

    def create_token(self, record: TokenRecord) -> None:
        with self._write() as conn:
            conn.execute(
                insert(api_tokens).values(
                    token_id=record.token_id,
                    name=record.name,
                    secret_sha256=record.secret_sha256,
                    create_time=_micros(record.created),
                    expire_time=_micros(record.expires),
                )
            )
            detail = {
                "tokenId": record.token_id,
                "expireTime": from_datetime(record.expires) if record.expires else None,
            }
            self._audit(conn, "tokens.create", f"tokens/{record.name}", detail)

    def get_token(self, token_id: str) -> TokenRecord | None:
        """The record of one token, read on every request that presents it, so revocation applies at once."""
        with self._read() as conn:
            row = conn.execute(_GET_TOKEN, {"token_id": token_id}).first()
        return _token(row) if row else None

    def list_tokens(self) -> list[TokenRecord]:
        with self._read() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.name, api_tokens.c.create_time)).all()
        return [_token(r) for r in rows]

    def revoke_tokens(self, name: str, token_id: str | None, when: dt.datetime) -> list[TokenRecord]:
        """Revoke the name's unrevoked tokens (only `token_id`, if given); the records as they now are."""
        where = [api_tokens.c.name == name, api_tokens.c.revoke_time.is_(None)]
        if token_id is not None:
            where.append(api_tokens.c.token_id == token_id)
        with self._write() as conn:
            ids = list(conn.execute(select(api_tokens.c.token_id).where(*where)).scalars())
            if not ids:
                what = f"token {token_id} of {name!r}" if token_id else f"tokens named {name!r}"
                raise NotFound(f"no unrevoked {what}")
            conn.execute(update(api_tokens).where(api_tokens.c.token_id.in_(ids)).values(revoke_time=_micros(when)))
            self._audit(conn, "tokens.revoke", f"tokens/{name}", {"tokenIds": sorted(ids)})
            rows = conn.execute(select(api_tokens).where(api_tokens.c.token_id.in_(ids))).all()
        return [_token(r) for r in rows]

    # ---- role bindings ---------------------------------------------------------------------

    def create_binding(self, binding: Binding, create_time: str) -> None:
        try:
            with self._write() as conn:
                conn.execute(
                    insert(role_bindings).values(
                        project=binding.project,
                        role=binding.role,
                        member=binding.member,
                        create_time=to_micros(create_time),
                    )
                )
                detail = {"role": binding.role, "member": binding.member}
                self._audit(conn, "bindings.create", _binding_resource(binding.project), detail)
        except IntegrityError:
            raise AlreadyExists(
                f"{binding.member} already holds {binding.role} on {_binding_resource(binding.project)}"
            ) from None

    def delete_binding(self, binding: Binding) -> None:
        with self._write() as conn:
            deleted = conn.execute(
                delete(role_bindings).where(
                    role_bindings.c.project == binding.project,
                    role_bindings.c.role == binding.role,
                    role_bindings.c.member == binding.member,
                )
            ).rowcount
            if not deleted:
                raise NotFound(
                    f"{binding.member} holds no {binding.role} binding on {_binding_resource(binding.project)}"
                )
            detail = {"role": binding.role, "member": binding.member}
            self._audit(conn, "bindings.delete", _binding_resource(binding.project), detail)

    def list_bindings(self, project: str | None = None) -> list[Binding]:
        """Every binding, or those on one project (`*` for those on every project)."""
        query = select(role_bindings.c.project, role_bindings.c.role, role_bindings.c.member)
        if project is not None:
            query = query.where(role_bindings.c.project == project)
        with self._read() as conn:
            rows = conn.execute(query.order_by(role_bindings.c.pk)).all()
        return [Binding(r.project, r.role, r.member) for r in rows]

    def bindings_version(self) -> tuple[int, int]:
        """Changes whenever a binding is added or removed: rows are never updated and pks never reused."""
        with self._read() as conn:
            count, last = conn.execute(_BINDINGS_VERSION).one()
        return count, last or 0
