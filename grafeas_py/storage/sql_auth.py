"""Storage for access control and the audit trail: API tokens, role bindings, and the hash chain.

Every mutation of the server records one audit entry in its own transaction (`_audit`), so an entry
exists exactly when its change does. Entries are chained (`auth.audit`), and linking an entry to the
chain's head means waiting for whoever appends before it to commit. So writers do not link: they
insert into `audit_pending`, without any lock, and `seal_audit` links the pending entries into
`audit_log` afterwards, in batches, one sealer at a time (every server process runs it every
second, and `grafeas-py` commands before they exit; `audit verify` before it checks). Before, every
writer on every instance queued on one table lock from its append to its commit; now a single
create holds no lock another writer waits for.

Order: entries are sealed in the order their rows were inserted, among those whose transactions can
no longer be running. On SQLite writers take turns, so every committed row qualifies. On PostgreSQL a
row carries its writer's transaction id, and qualifies once that id is below the oldest one still
running (`pg_snapshot_xmin`): then the writer has committed or rolled back, and no transaction that
is still running can add a row sealed before it. A long write transaction delays sealing; it never
reorders or loses an entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from array import array
from collections.abc import Iterator

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from ..auth.audit import REKEY, AuditEntry, canonical_json, chain_next, check_head, key_id
from ..auth.authz import Binding
from ..auth.context import current_principal
from ..auth.tokens import TokenRecord
from ..errors import AlreadyExists, NotFound
from ..names import project_name
from ..wire.timestamps import from_datetime, to_micros
from .base import Page, PageRequest, page_of
from .filter_sql import compile_filter
from .tables import api_tokens, audit_log, audit_pending, role_bindings

_COLUMNS = "time, principal, credential, action, resource, detail"
_RECORD = {
    "sqlite": text(
        f"INSERT INTO audit_pending ({_COLUMNS}) VALUES (:time, :principal, :credential, :action, :resource, :detail)"
    ),
    "postgresql": text(
        f"INSERT INTO audit_pending (txid, {_COLUMNS})"
        " VALUES (pg_current_xact_id()::text::bigint, :time, :principal, :credential, :action, :resource, :detail)"
    ),
}
_AUDIT_HEAD = select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)
# Held by a sealer from reading the chain's head to its commit; readers of the trail never wait.
_LOCK_AUDIT = text("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
# Below this PostgreSQL transaction id, every transaction has ended.
_HORIZON = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
# One past the newest transaction id that has ended: every change committed by now is below it.
_NEXT_TXID = text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
_SEAL_BATCH = 1000
_ANY_PENDING = select(audit_pending.c.id).order_by(audit_pending.c.id).limit(1)
_GET_TOKEN = select(api_tokens).where(api_tokens.c.token_id == bindparam("token_id"))
_BINDING_KEYS = select(role_bindings.c.pk).order_by(role_bindings.c.pk)
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


def entry_params(action: str, resource: str, detail: dict | None) -> dict:
    """The columns of one pending entry, made now by the acting principal."""
    principal = current_principal()
    return {
        "time": from_datetime(dt.datetime.now(dt.UTC)),
        "principal": principal.id,
        "credential": principal.proof,
        "action": action,
        "resource": resource,
        "detail": canonical_json(detail or {}).decode(),  # the text that will be hashed, byte for byte
    }


def _entry(row) -> AuditEntry:
    detail = _stored_detail(row.detail)
    texts = (row.time, row.principal, row.action, row.resource, row.prev_hash, row.hash)
    # SQLite keeps what a hand stores, a BLOB in a text column say: shown as such, which no hash covers.
    time, principal, action, resource, prev_hash, digest = (v if isinstance(v, str) else repr(v) for v in texts)
    credential = row.credential if row.credential is None or isinstance(row.credential, str) else repr(row.credential)
    return AuditEntry(row.seq, time, principal, action, resource, detail, prev_hash, digest, credential)


def _stored_detail(text):
    """A sealed entry's detail as hashed; text that is not the canonical JSON of anything, as only a hand
    could have written it (garbage, NaN, a key twice, other spacing), comes back as the text itself,
    which the entry's hash does not cover: verifying calls the entry altered, and listing shows it."""
    if not isinstance(text, str):
        return repr(text)
    try:
        value = json.loads(text, parse_constant=_no_constant)
        if canonical_json(value).decode() == text:
            return value
    except (ValueError, TypeError):  # not JSON, or NaN and infinity
        pass
    return text


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def actor() -> str:
    """The principal id that storage records as the author of a change."""
    return current_principal().id


class AuthStorage:
    """Mixed into SqlStorage: tokens, bindings and the audit trail, over the same engines."""

    audit_key: bytes | None = None

    # ---- the audit trail -------------------------------------------------------------------

    def _audit(self, conn, action: str, resource: str, detail: dict | None = None) -> None:
        """Record the entry for a change made in `conn`'s open transaction (`_write`); it commits, or
        rolls back, with the change."""
        conn.execute(_RECORD[conn.dialect.name], entry_params(action, resource, detail))

    def seal_audit(self, wait: float = 0.0) -> int:
        """Link the pending entries that may be sealed into the chain; how many were sealed.

        With `wait` (seconds) and entries pending, first wait up to that long for the PostgreSQL
        transactions running now to end, so that every change committed before the call is sealed
        when it returns."""
        with self._read() as conn:
            if conn.execute(_ANY_PENDING).first() is None:
                return 0  # the usual case between changes: no write transaction, no lock, no wait
        if wait and self.engine.dialect.name == "postgresql":
            self._wait_for_running_writers(wait)
        sealed = 0
        while True:
            with self._write() as conn:
                count = self._seal_batch(conn)
            sealed += count
            if count < _SEAL_BATCH:
                return sealed

    def _wait_for_running_writers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._read() as conn:
            target = conn.execute(_NEXT_TXID).scalar()
            while conn.execute(_HORIZON).scalar() < target and time.monotonic() < deadline:
                time.sleep(0.005)

    def _seal_batch(self, conn) -> int:
        """Seal up to `_SEAL_BATCH` entries in `conn`'s write transaction, oldest first."""
        query = select(audit_pending).order_by(audit_pending.c.id).limit(_SEAL_BATCH)
        if conn.dialect.name == "postgresql":
            conn.execute(_LOCK_AUDIT)  # one sealer at a time, across instances
            query = query.where(audit_pending.c.txid < conn.execute(_HORIZON).scalar())
        rows = conn.execute(query).all()
        if not rows:
            return 0
        head = conn.execute(_AUDIT_HEAD).first()
        prev = _entry(head) if head else None
        check_head(prev, self.audit_key)
        sealed = []
        for row in rows:
            # Edited while pending, a detail that is not JSON is sealed as the text it is, not left to
            # stop every later entry: sealed, an edit is as visible as it gets.
            detail = _stored_detail(row.detail)
            prev = chain_next(
                prev, row.principal, row.action, row.resource, detail, row.time, self.audit_key, row.credential
            )
            sealed.append({**vars(prev), "detail": row.detail})  # detail: the very text that was hashed
        conn.execute(insert(audit_log), sealed)
        conn.execute(delete(audit_pending).where(audit_pending.c.id.in_([row.id for row in rows])))
        return len(rows)

    def rekey_audit(self, old_key: bytes | None, new_key: bytes | None) -> AuditEntry:
        """Hand the chain from `old_key`, which its newest entry must verify with, to `new_key`: a REKEY entry
        sealed with `old_key`, after which only sealers with `new_key` extend it (SealRefused otherwise)."""
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(_LOCK_AUDIT)  # as a sealer: the entry goes on the newest one
            head = conn.execute(_AUDIT_HEAD).first()
            prev = _entry(head) if head else None
            check_head(prev, old_key, "GRAFEAS_AUDIT_OLD_KEY")
            params = entry_params(REKEY, "audit", {"key": key_id(new_key)})
            detail = json.loads(params["detail"])
            entry = chain_next(
                prev, params["principal"], REKEY, "audit", detail, params["time"], old_key, params["credential"]
            )
            conn.execute(insert(audit_log), [{**vars(entry), "detail": params["detail"]}])
        return entry

    def audit_entries(self, batch: int = 1000, from_seq: int = 1) -> Iterator[AuditEntry]:
        """The sealed audit trail from seq `from_seq` on, in seq order, streamed `batch` rows at a time."""
        query = select(audit_log).where(audit_log.c.seq >= from_seq).order_by(audit_log.c.seq)
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=batch).execute(query):
                yield _entry(row)

    def list_audit_entries(self, page: PageRequest, filter_=None) -> Page:
        """Sealed audit entries (AuditEntry) in chain (seq) order that match `filter_`, a page at a time."""
        with self._read() as conn:
            rows = conn.execute(audit_entries_query(page, filter_)).all()
        return page_of([_entry(row) for row in rows], rows, page)

    def pending_audit_entries(self) -> int:
        """How many recorded audit entries wait to be sealed."""
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(audit_pending)).scalar()

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
                raise NotFound(_nothing_to_revoke(conn, name, token_id))
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

    def bindings_version(self) -> str:
        """Changes whenever a binding is added or removed: a digest of the set of keys (rows are never
        updated and keys never reused). Not (count, max key): PostgreSQL hands out keys before commit,
        so a delete after a late commit could bring that pair back to a value a process had cached,
        and the deleted binding would stay in force there."""
        with self._read() as conn:
            keys = conn.execute(_BINDING_KEYS).scalars().all()
        return hashlib.blake2b(array("q", keys).tobytes(), digest_size=16).hexdigest()


def audit_entries_query(page: PageRequest, filter_=None):
    """One page of sealed audit entries matching `filter_`, in seq order; an auditor's `resource` or
    `principal` equality is served by its (column, seq) index."""
    query = select(audit_log, audit_log.c.seq.label("pk")).where(
        audit_log.c.seq > page.after, compile_filter(filter_, audit_log)
    )
    return query.order_by(audit_log.c.seq).limit(page.size + 1)


def _nothing_to_revoke(conn, name: str, token_id: str | None) -> str:
    """Why a revocation found no token: none by that name or id, another name's id, or all revoked."""
    if token_id is None:
        named = conn.execute(select(api_tokens.c.token_id).where(api_tokens.c.name == name).limit(1)).first()
        return f"every token named {name!r} is already revoked" if named else f"no token is named {name!r}"
    owner = conn.execute(select(api_tokens.c.name).where(api_tokens.c.token_id == token_id)).scalar()
    if owner is None:
        return f"no token has the id {token_id!r}"
    if owner != name:
        return f"token {token_id} is named {owner!r}, not {name!r}"
    return f"token {token_id} of {name!r} is already revoked"
