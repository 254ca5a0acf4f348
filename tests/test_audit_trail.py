"""The audit trail: one chained entry per change, written with the change, and `grafeas-py audit verify`
finding exactly the entry someone edited or removed behind the server's back."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid

import pytest
from sqlalchemy import text

from grafeas_py import create_app
from grafeas_py.auth.audit import REKEY, SealRefused, canonical_json, chain_next, key_id, verify_chain
from grafeas_py.auth.settings import AuthSettings
from grafeas_py.config import Settings
from grafeas_py.storage.engine import make_engine, make_engines
from grafeas_py.storage.sql import SqlStorage
from tests.conftest import POSTGRES_URL, Http, fresh_database_url, serve
from tests.factories import NOTE_BODIES, occurrence_body
from tests.test_cli import GRAFEAS_PY

# Seconds sealing may wait: an entry is sealed only below every write transaction running in the
# PostgreSQL cluster, another test's in another schema too, and a loaded machine runs some for long.
SEAL_WAIT = 60


def entries_after(storage, seq: int) -> list:
    """The entries after `seq`, once everything committed so far is sealed."""
    storage.seal_audit(wait=SEAL_WAIT)
    return [e for e in storage.audit_entries() if e.seq > seq]


def last_seq(storage) -> int:
    storage.seal_audit(wait=SEAL_WAIT)
    return max((e.seq for e in storage.audit_entries()), default=0)


def test_every_change_appends_one_chained_entry(app, http, project):
    storage = app.extensions["grafeas"].storage
    start = last_seq(storage)
    base = f"/v1/projects/{project}"
    note = http.post(f"{base}/notes", params={"noteId": "n1"}, json=NOTE_BODIES["BUILD"]).json()["name"]
    assert http.post(
        f"{base}/notes:batchCreate", json={"notes": {"n2": NOTE_BODIES["BUILD"], "n3": NOTE_BODIES["BUILD"]}}
    ).ok
    assert http.patch(f"/v1/{note}", json={"shortDescription": "s"}).ok
    occ = http.post(f"{base}/occurrences", json=occurrence_body("BUILD", note)).json()["name"]
    batch = [occurrence_body("BUILD", note)] * 2
    ids = [
        o["name"].rsplit("/", 1)[1]
        for o in http.post(f"{base}/occurrences:batchCreate", json={"occurrences": batch}).json()["occurrences"]
    ]
    assert http.patch(f"/v1/{occ}", params={"updateMask": "remediation"}, json={"remediation": "r"}).ok
    assert http.delete(f"/v1/{occ}").ok
    for n in ("n1", "n2", "n3"):
        assert http.delete(f"{base}/notes/{n}").ok
    policy = {"name": f"projects/{project}/policies/prod", "updateTime": "2026-01-01T00:00:00Z"}
    storage.create_policy(project, "prod", policy)
    storage.update_policy(project, "prod", {**policy, "updateTime": "2026-01-02T00:00:00Z"}, 1)
    decision = {
        "policyRevision": 2,
        "resourceUri": "https://gcr.io/a@sha256:" + "0" * 64,
        "decision": "DENY",
        "evaluateTime": "2026-01-02T00:00:01Z",
    }
    storage.record_decision(project, "d1", "prod", decision)
    storage.delete_policy(project, "prod", "2026-01-03T00:00:00Z")
    member = {"project": project, "role": "auditor", "member": "user:eve"}
    assert http.post("/v1/admin/bindings", json=member).ok
    assert http.delete("/v1/admin/bindings", params=member).ok
    token = http.post("/v1/admin/tokens", json={"name": f"audit-{project}"}).json()
    assert http.delete(f"/v1/admin/tokens/audit-{project}").ok
    assert http.post("/v1/projects", json={"name": f"projects/{project}-x"}).ok
    assert http.delete(f"/v1/projects/{project}-x").ok

    entries = entries_after(storage, start)
    assert [(e.action, e.resource) for e in entries] == [
        ("notes.create", note),
        ("notes.batchCreate", f"projects/{project}"),
        ("notes.update", note),
        ("occurrences.create", occ),
        ("occurrences.batchCreate", f"projects/{project}"),
        ("occurrences.update", occ),
        ("occurrences.delete", occ),
        ("notes.delete", note),
        ("notes.delete", f"{base[4:]}/notes/n2"),
        ("notes.delete", f"{base[4:]}/notes/n3"),
        ("policies.create", f"projects/{project}/policies/prod"),
        ("policies.update", f"projects/{project}/policies/prod"),
        ("decisions.create", f"projects/{project}/decisions/d1"),
        ("policies.delete", f"projects/{project}/policies/prod"),
        ("bindings.create", f"projects/{project}"),
        ("bindings.delete", f"projects/{project}"),
        ("tokens.create", f"tokens/audit-{project}"),
        ("tokens.revoke", f"tokens/audit-{project}"),
        ("projects.create", f"projects/{project}-x"),
        ("projects.delete", f"projects/{project}-x"),
    ]
    assert all(e.principal == "anonymous" and e.credential == "none" for e in entries)
    details = {e.action: e.detail for e in entries}
    assert details["notes.batchCreate"] == {"ids": ["n2", "n3"]}
    assert details["occurrences.batchCreate"] == {"ids": ids}
    assert details["occurrences.update"] == {"revision": 2, "changedFields": ["remediation"]}
    assert details["occurrences.delete"] == {"revision": 3}
    assert details["decisions.create"]["decision"] == "DENY"
    assert details["tokens.revoke"] == {"tokenIds": [token["tokenId"]]}
    assert [e.seq for e in entries] == list(range(start + 1, start + 1 + len(entries)))
    assert verify_chain(storage.audit_entries()).ok


def test_a_change_that_fails_writes_neither_history_nor_audit(app, http, project):
    storage = app.extensions["grafeas"].storage
    base = f"/v1/projects/{project}"
    note = http.post(f"{base}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).json()["name"]
    start = last_seq(storage)
    assert http.post(f"{base}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).status_code == 409
    batch = {"notes": {"fresh": NOTE_BODIES["BUILD"], "n": NOTE_BODIES["BUILD"]}}
    assert http.post(f"{base}/notes:batchCreate", json=batch).status_code == 409
    assert http.patch(f"/v1/{note}", json={"build": None, "image": NOTE_BODIES["IMAGE"]["image"]}).status_code == 400
    assert http.delete(f"{base}/notes/missing").status_code == 404
    assert http.delete(f"{base}/occurrences/{uuid.uuid4()}").status_code == 404
    stale, revision = storage.get_note_with_revision(project, "n")
    assert http.patch(f"/v1/{note}", json={"shortDescription": "wins"}).ok
    with pytest.raises(Exception, match="changed by another request"):
        storage.update_note(project, "n", {**stale, "shortDescription": "loses"}, revision, ["shortDescription"])
    assert [e.action for e in entries_after(storage, start)] == ["notes.update"]
    revisions = http.get(f"/v1/{note}:history").json()["revisions"]
    assert [r["revision"] for r in revisions] == [1, 2]
    assert http.get(f"{base}/notes/fresh").status_code == 404


def test_concurrent_writers_keep_one_unbroken_chain(app, http, project):
    """Writers on many connections at once, none waiting for another's audit entry: sealing puts them in line."""
    storage = app.extensions["grafeas"].storage
    note = http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
    start = last_seq(storage)
    failures = []

    def write(worker: int) -> None:
        with Http(http.base) as session:
            for i in range(15):
                body = occurrence_body("BUILD", note.json()["name"], f"https://x/{worker}/{i}")
                r = session.post(f"/v1/projects/{project}/occurrences", json=body)
                if r.status_code != 200:
                    failures.append(r.text)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    entries = entries_after(storage, start)
    assert len(entries) == 8 * 15 and [e.seq for e in entries] == list(range(start + 1, start + 121))
    result = verify_chain(storage.audit_entries())
    assert result.ok, result.message


# ---- grafeas-py audit verify against a database edited behind the server's back -----------------


def verify(url: str, key: str | None = None, *args: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != "GRAFEAS_AUDIT_KEY"}
    env["GRAFEAS_DATABASE_URL"] = url
    if key:
        env["GRAFEAS_AUDIT_KEY"] = key
    return subprocess.run([GRAFEAS_PY, "audit", "verify", *args], env=env, capture_output=True, text=True)


def run_sql(url: str, statement: str, **params) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def listed(url: str, **params):
    """GET /v1/admin/auditEntries from a server of its own on the database at `url`."""
    app = create_app(Settings(database_url=url))
    try:
        with serve(app) as base, Http(base) as http:
            return http.get("/v1/admin/auditEntries", params=params)
    finally:
        app.extensions["grafeas"].storage.dispose()


@pytest.fixture
def audited(tmp_path, worker_id):
    """A fresh database with six audited changes made over HTTP; yields its URL."""
    url = fresh_database_url(tmp_path, f"audit_{worker_id}")
    app = create_app(Settings(database_url=url))
    with serve(app) as base, Http(base) as http:
        http.post("/v1/projects/p/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
        for i in range(4):
            http.post("/v1/projects/p/occurrences", json=occurrence_body("BUILD", "projects/p/notes/n", f"u{i}"))
        http.delete("/v1/projects/p/notes/n")
    storage = app.extensions["grafeas"].storage
    storage.seal_audit(wait=SEAL_WAIT)  # the tests below edit the chain itself
    storage.dispose()
    return url


def test_verify_passes_on_an_untouched_trail(audited):
    result = verify(audited)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("audit trail intact: 6 entries; newest seq 6, hash ")


def test_verify_names_the_entry_whose_detail_was_edited(audited):
    run_sql(audited, "UPDATE audit_log SET detail = :d WHERE seq = 3", d='{"revision":7}')
    result = verify(audited)
    assert result.returncode == 1
    assert "audit trail BROKEN at entry 3 (altered): entry 3 was altered" in result.stderr
    assert "2 entries verified before it; last good entry 2" in result.stderr


@pytest.mark.parametrize(
    "stored",
    [
        "garbage",  # verify stopped with a traceback, and the listing was a 500
        '{"revision":NaN}',
        '{"revision":7,"revision":1}',  # read as {"revision":1}, the hashed value: it verified
        '{"revision": 1}',
    ],
)
def test_a_detail_no_sealer_could_have_written_is_named_altered(audited, stored):
    run_sql(audited, "UPDATE audit_log SET detail = :d WHERE seq = 3", d=stored)
    result = verify(audited)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "audit trail BROKEN at entry 3 (altered): entry 3 was altered" in result.stderr
    r = listed(audited, filter="seq = 3")
    assert r.status_code == 200, r.text
    assert r.json()["auditEntries"][0]["detail"] == stored  # shown as stored: reading is not verifying


@pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite only: PostgreSQL keeps a text column's type")
def test_a_value_of_another_type_is_named_altered(audited):
    """SQLite keeps what a hand stores: a BLOB of the same bytes made verify a traceback and the listing a 500."""
    run_sql(audited, "UPDATE audit_log SET principal = CAST(principal AS BLOB) WHERE seq = 3")
    result = verify(audited)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "audit trail BROKEN at entry 3 (altered): entry 3 was altered" in result.stderr
    r = listed(audited, pageSize=10)
    assert r.status_code == 200, r.text


def test_a_pending_entry_edited_to_hold_no_json_is_sealed_as_it_is_and_sealing_goes_on(audited):
    """json.loads of it failed on every pass: no entry after it was ever sealed, and verify was a traceback."""
    row = {"time": "2026-01-01T00:00:00Z", "principal": "p", "action": "notes.create", "resource": "projects/p"}
    txid = "pg_current_xact_id()::text::bigint" if audited.startswith("postgresql") else "NULL"
    run_sql(
        audited,
        f"INSERT INTO audit_pending (txid, time, principal, action, resource, detail)"
        f" VALUES ({txid}, :time, :principal, :action, :resource, 'garbage')",
        **row,
    )
    app = create_app(Settings(database_url=audited))
    storage = app.extensions["grafeas"].storage
    try:
        with serve(app) as base, Http(base) as http:
            assert http.post("/v1/projects/p/notes", params={"noteId": "after"}, json=NOTE_BODIES["BUILD"]).ok
        storage.seal_audit(wait=SEAL_WAIT)  # the server's own sealer may have sealed them already
        assert storage.pending_audit_entries() == 0
        assert [(e.seq, e.detail) for e in storage.audit_entries(from_seq=7)][:1] == [(7, "garbage")]
    finally:
        storage.dispose()
    result = verify(audited)
    assert result.returncode == 0, result.stderr


def test_verify_names_the_entry_that_was_removed(audited):
    run_sql(audited, "DELETE FROM audit_log WHERE seq = 4")
    result = verify(audited)
    assert result.returncode == 1
    assert "audit trail BROKEN at entry 4 (removed): entry 4 was removed: entry 5 follows entry 3" in result.stderr


def _entry_hash(url: str, seq: int) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        digest = conn.execute(text("SELECT hash FROM audit_log WHERE seq = :seq"), {"seq": seq}).scalar()
    engine.dispose()
    return digest


def test_verify_since_a_published_entry_reads_from_there(audited):
    published = _entry_hash(audited, 3)
    result = verify(audited, None, "--since", f"3:{published.upper()}")  # as some tools print hashes
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("audit trail intact since entry 3: 4 entries; newest seq 6, hash ")
    run_sql(audited, "UPDATE audit_log SET detail = :d WHERE seq = 2", d='{"revision":7}')
    assert verify(audited, None, "--since", f"3:{published}").returncode == 0  # entry 2 is before the checkpoint
    run_sql(audited, "UPDATE audit_log SET detail = :d WHERE seq = 5", d='{"revision":7}')
    after = verify(audited, None, "--since", f"3:{published}")
    assert after.returncode == 1 and "audit trail BROKEN at entry 5 (altered)" in after.stderr


def test_a_trail_rewritten_consistently_passes_alone_but_not_against_a_published_hash(audited):
    """Whoever can write the table can recompute every hash after an edit; a published hash still tells."""
    published = _entry_hash(audited, 4)
    engine = make_engine(audited)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT * FROM audit_log ORDER BY seq")).mappings().all()
        prev = None
        for row in rows:
            detail = {"revision": 99} if row["seq"] == 2 else json.loads(row["detail"])
            prev = chain_next(
                prev, row["principal"], row["action"], row["resource"], detail, row["time"], None, row["credential"]
            )
            conn.execute(
                text("UPDATE audit_log SET detail = :detail, prev_hash = :prev, hash = :hash WHERE seq = :seq"),
                {
                    "detail": canonical_json(prev.detail).decode(),
                    "prev": prev.prev_hash,
                    "hash": prev.hash,
                    "seq": prev.seq,
                },
            )
    engine.dispose()
    assert verify(audited).returncode == 0  # the rewrite is consistent
    rewritten = verify(audited, None, "--since", f"4:{published}")
    assert rewritten.returncode == 1
    assert "entry 4 no longer has the published hash: the trail was rewritten up to it" in rewritten.stderr


def test_verify_since_an_entry_the_trail_no_longer_reaches(audited):
    published = _entry_hash(audited, 6)
    run_sql(audited, "DELETE FROM audit_log WHERE seq >= 5")  # the newest entries cut off
    result = verify(audited, None, "--since", f"6:{published}")
    assert result.returncode == 1 and "entry 6 is gone" in result.stderr
    # It said "last good entry 5", which is gone too, and was never read.
    assert "0 entries verified from entry 6: it is not in the chain\n" in result.stderr, result.stderr
    assert "last good entry" not in result.stderr
    beyond = verify(audited, None, "--since", f"99999:{published}")
    assert beyond.returncode == 1 and "0 entries verified from entry 99999: it is not in the chain" in beyond.stderr
    assert "99998" not in beyond.stderr


@pytest.mark.parametrize("since", ["3", "x:" + "a" * 64, "0:" + "a" * 64, "3:abc", "3:" + "g" * 64, "²:" + "a" * 64])
def test_verify_since_needs_an_entry_number_and_its_hash(audited, since):
    result = verify(audited, None, "--since", since)
    assert result.returncode == 2 and "expected SEQ:HASH" in result.stderr


@pytest.mark.parametrize("seq", [2**63, 10**23])
def test_verify_since_an_entry_number_past_64_bits_is_a_usage_error(audited, seq):
    """The query overflowed (SQLite's OverflowError, PostgreSQL's bigint DataError): a traceback, exit 1."""
    result = verify(audited, None, "--since", f"{seq}:" + "a" * 64)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"entry {seq} cannot be in the trail: entry numbers end at {2**63 - 1}" in result.stderr


def test_a_keyed_trail_verifies_only_with_its_key(tmp_path, worker_id):
    url = fresh_database_url(tmp_path, f"keyed_{worker_id}")
    key = "k" * 32
    app = create_app(Settings(database_url=url, auth=AuthSettings(audit_key=key.encode())))
    with serve(app) as base, Http(base) as http:
        http.post("/v1/projects/p/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
    app.extensions["grafeas"].storage.dispose()
    assert verify(url, key).returncode == 0
    unkeyed = verify(url)
    assert unkeyed.returncode == 1 and "entry 1 was altered" in unkeyed.stderr
    assert "GRAFEAS_AUDIT_KEY is not the key this chain was sealed with" in unkeyed.stderr


def test_a_failed_single_create_leaves_no_entry_and_a_usable_store(app, http, project):
    """The one-message create (BEGIN, checked insert, audit append, COMMIT on PostgreSQL) is all or nothing."""
    from sqlalchemy.exc import IntegrityError

    from grafeas_py.names import NoteRef, occurrence_name
    from grafeas_py.storage.base import NewOccurrence

    storage = app.extensions["grafeas"].storage
    note = http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).json()
    body = occurrence_body("BUILD", note["name"])
    now = "2026-01-01T00:00:00Z"
    data = {"name": occurrence_name(project, "fixed"), **body, "kind": "BUILD", "createTime": now, "updateTime": now}
    occ = NewOccurrence("fixed", NoteRef(project, "n"), "BUILD", body["resourceUri"], data, None)
    storage.create_occurrences(project, [occ])
    start = last_seq(storage)
    for _ in range(3):  # the same id again: refused, and the pooled connections stay usable
        with pytest.raises(IntegrityError):
            storage.create_occurrence_if_note_matches(project, occ)
    wrong_kind = NewOccurrence("other", NoteRef(project, "n"), "VULNERABILITY", body["resourceUri"], data, None)
    assert storage.create_occurrence_if_note_matches(project, wrong_kind) is None
    missing_note = NewOccurrence("other", NoteRef(project, "nope"), "BUILD", body["resourceUri"], data, None)
    assert storage.create_occurrence_if_note_matches(project, missing_note) is None
    assert entries_after(storage, start) == []
    assert http.get(f"/v1/{data['name']}").json()["name"] == data["name"]
    assert http.post(f"/v1/projects/{project}/occurrences", json=body).ok
    assert [e.action for e in entries_after(storage, start)] == ["occurrences.create"]
    assert verify_chain(storage.audit_entries()).ok


# ---- sealing: writers record entries without waiting for one another; the sealer chains them --------


def sealed_actions(storage, after: int) -> list[str]:
    """The actions sealed into the chain after seq `after`, read without sealing anything."""
    with storage.engine.connect() as conn:
        query = text("SELECT action FROM audit_log WHERE seq > :after ORDER BY seq")
        return list(conn.execute(query, {"after": after}).scalars())


def test_entries_are_sealed_in_the_background_without_anyone_reading_the_trail(app, http, project):
    storage = app.extensions["grafeas"].storage
    start = last_seq(storage)
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).ok
    deadline = time.monotonic() + 10
    while "notes.create" not in sealed_actions(storage, start) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sealed_actions(storage, start) == ["notes.create"]  # the app's sealer runs every second


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: SQLite runs one writer at a time")
def test_an_open_write_transaction_delays_sealing_but_blocks_no_writer(app, http, project):
    storage = app.extensions["grafeas"].storage
    start = last_seq(storage)
    with storage.engine.connect() as slow:
        transaction = slow.begin()
        storage._audit(slow, "test.first", f"projects/{project}")  # recorded, not committed yet
        with storage.engine.connect() as doomed:
            rolled_back = doomed.begin()
            storage._audit(doomed, "test.rolled_back", f"projects/{project}")
            # Another writer's create goes through at once: no lock is held for the chain.
            body = NOTE_BODIES["BUILD"]
            assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=body, timeout=10).ok
            rolled_back.rollback()
        storage.seal_audit()
        assert sealed_actions(storage, start) == []  # the open transaction could still add an earlier entry
        transaction.commit()
    storage.seal_audit(wait=SEAL_WAIT)
    assert sealed_actions(storage, start) == ["test.first", "notes.create"]
    assert verify_chain(storage.audit_entries()).ok


def test_a_sealer_without_the_chains_key_refuses_to_extend_it(tmp_path, worker_id):
    """An instance started without GRAFEAS_AUDIT_KEY must not append entries no single key verifies."""
    url = fresh_database_url(tmp_path, f"keymix_{worker_id}")
    key = "k" * 32
    keyed = SqlStorage(*make_engines(url), audit_key=key.encode())
    keyed.create_project("p1", "2026-01-01T00:00:00Z")
    assert keyed.seal_audit(wait=SEAL_WAIT) == 1
    unkeyed = SqlStorage(*make_engines(url))
    unkeyed.create_project("p2", "2026-01-01T00:00:01Z")
    with pytest.raises(SealRefused, match="entry \\(1\\) does not verify with this process's GRAFEAS_AUDIT_KEY"):
        unkeyed.seal_audit(wait=SEAL_WAIT)
    assert unkeyed.pending_audit_entries() == 1  # kept for a sealer with the key
    env = {name: value for name, value in os.environ.items() if name != "GRAFEAS_AUDIT_KEY"}
    command = [GRAFEAS_PY, "auth", "bind", "p2", "auditor", "user:eve@example.com"]
    bound = subprocess.run(command, env={**env, "GRAFEAS_DATABASE_URL": url}, capture_output=True, text=True)
    assert bound.returncode == 0 and "audit entries left unsealed: the newest sealed audit entry (1)" in bound.stderr
    assert unkeyed.pending_audit_entries() == 2
    without_key = verify(url)
    assert without_key.returncode == 1
    assert without_key.stderr.count("the newest sealed audit entry (1) does not verify") == 1  # said once
    assert "not sealing: the newest sealed audit entry (1)" in without_key.stderr
    assert "2 recorded entries are not sealed yet and not verified" in without_key.stderr
    with_key = verify(url, key)
    assert with_key.returncode == 0 and with_key.stdout.startswith("audit trail intact: 3 entries"), with_key.stderr
    assert [e.resource for e in keyed.audit_entries()] == ["projects/p1", "projects/p2", "projects/p2"]
    keyed.dispose()
    unkeyed.dispose()


def audit_command(url: str, command: str, key: str | None, old: str | None = None, *args: str):
    """`grafeas-py audit COMMAND` with GRAFEAS_AUDIT_KEY and GRAFEAS_AUDIT_OLD_KEY as given (unset: None)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GRAFEAS_AUDIT_KEY", "GRAFEAS_AUDIT_OLD_KEY")}
    env |= {"GRAFEAS_DATABASE_URL": url} | ({"GRAFEAS_AUDIT_KEY": key} if key else {})
    env |= {"GRAFEAS_AUDIT_OLD_KEY": old} if old else {}
    return subprocess.run([GRAFEAS_PY, "audit", command, *args], env=env, capture_output=True, text=True)


def test_an_unkeyed_chain_is_handed_to_a_key_and_then_to_another(tmp_path, worker_id):
    """A chain begun without GRAFEAS_AUDIT_KEY could not be continued with one, nor a keyed one moved to another
    key: sealers given the new key refused it for good. `audit rekey` hands it over with an entry sealed with the
    old key; from there on only the new key seals, and verifying needs the keys in turn, or the new one alone
    from the published hand-over."""
    url = fresh_database_url(tmp_path, f"rekey_{worker_id}")
    first, second = "f" * 32, "s" * 32
    unkeyed = SqlStorage(*make_engines(url))
    unkeyed.create_project("p1", "2026-01-01T00:00:00Z")
    assert unkeyed.seal_audit(wait=SEAL_WAIT) == 1
    unnamed = audit_command(url, "rekey", first)
    assert unnamed.returncode == 2 and "set GRAFEAS_AUDIT_OLD_KEY to the key the chain is sealed with" in unnamed.stderr
    both = audit_command(url, "rekey", first, second, "--from-unkeyed")
    assert (
        both.returncode == 2
        and "--from-unkeyed says the chain had no key, and GRAFEAS_AUDIT_OLD_KEY names one" in both.stderr
    )
    same = audit_command(url, "rekey", None, None, "--from-unkeyed")
    assert same.returncode == 2 and "GRAFEAS_AUDIT_KEY is the chain's key already" in same.stderr
    handed = audit_command(url, "rekey", first, None, "--from-unkeyed")
    assert handed.returncode == 0, handed.stderr
    assert handed.stdout.startswith(f"audit chain handed to key {key_id(first.encode())} at entry 2, hash ")
    published = handed.stdout.split("hash ")[1].split(":")[0]
    # The newest entry hands the chain to `first`: handing it on needs `first` as the old key.
    handed_elsewhere = audit_command(url, "rekey", second, None, "--from-unkeyed")
    assert handed_elsewhere.returncode == 1, handed_elsewhere.stderr
    assert (
        "at entry 2 (`grafeas-py audit rekey`), and this process's GRAFEAS_AUDIT_OLD_KEY is" in handed_elsewhere.stderr
    )
    assert "Set GRAFEAS_AUDIT_OLD_KEY to the key it was handed to." in handed_elsewhere.stderr
    unkeyed.create_project("p2", "2026-01-01T00:00:01Z")
    with pytest.raises(SealRefused, match="handed to key .* at entry 2"):
        unkeyed.seal_audit(wait=SEAL_WAIT)
    keyed = SqlStorage(*make_engines(url), audit_key=first.encode())
    assert keyed.seal_audit(wait=SEAL_WAIT) == 1  # p2's entry, now sealed with the first key
    assert audit_command(url, "verify", first).returncode == 1  # entry 1 is not sealed with it
    whole = audit_command(url, "verify", first, None, "--from-unkeyed")
    assert whole.returncode == 0 and whole.stdout.startswith("audit trail intact: 3 entries"), whole.stderr
    since = audit_command(url, "verify", first, None, "--since", f"2:{published}")
    assert since.returncode == 0 and since.stdout.startswith("audit trail intact since entry 2: 2 entries")
    stale = audit_command(url, "verify", second, None, "--from-unkeyed")
    assert stale.returncode == 1 and "(unknown_key): entry 2 hands the chain to key" in stale.stderr
    wrong_old = audit_command(url, "rekey", second, "not the key")
    assert wrong_old.returncode == 1 and "does not verify with this process's GRAFEAS_AUDIT_OLD_KEY" in wrong_old.stderr
    assert "Set GRAFEAS_AUDIT_OLD_KEY to the chain's key, or run" in wrong_old.stderr  # not every instance's
    again = audit_command(url, "rekey", second, first)
    assert again.returncode == 0 and f"to key {key_id(second.encode())} at entry 4" in again.stdout, again.stderr
    second_since = again.stdout.split("hash ")[1].split(":")[0]
    assert audit_command(url, "verify", second, first, "--since", f"2:{published}").returncode == 0
    assert audit_command(url, "verify", second, None, "--since", f"4:{second_since}").returncode == 0
    assert audit_command(url, "verify", first).returncode == 1
    assert [e.action for e in keyed.audit_entries()] == ["projects.create", REKEY, "projects.create", REKEY]
    keyed.dispose()
    unkeyed.dispose()


def test_the_trail_is_listed_over_http_in_chain_order(app, http, project):
    storage = app.extensions["grafeas"].storage
    start = last_seq(storage)
    base = f"/v1/projects/{project}"
    note = http.post(f"{base}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).json()["name"]
    occ = http.post(f"{base}/occurrences", json=occurrence_body("BUILD", note)).json()["name"]
    assert http.delete(f"/v1/{occ}").ok
    storage.seal_audit(wait=SEAL_WAIT)
    ours = f'(resource="projects/{project}" OR has_prefix(resource, "projects/{project}/"))'

    def listed(filter_: str, page_size: int = 1000) -> list[dict]:
        found, token = [], None
        while True:
            params = {"filter": filter_, "pageSize": page_size, **({"pageToken": token} if token else {})}
            r = http.get("/v1/admin/auditEntries", params=params)
            assert r.status_code == 200, r.text
            found += r.json().get("auditEntries", [])
            if not (token := r.json().get("nextPageToken")):
                return found

    entries = listed(ours, page_size=2)
    actions = [("notes.create", note), ("occurrences.create", occ), ("occurrences.delete", occ)]
    assert [(e["action"], e["resource"]) for e in entries] == actions
    # the very entries `audit verify` reads, hash for hash, in chain order
    sealed = {e.seq: e for e in storage.audit_entries() if e.seq > start}
    assert all((e["hash"], e["prevHash"]) == (sealed[e["seq"]].hash, sealed[e["seq"]].prev_hash) for e in entries)
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs) and entries[1]["detail"] == {"revision": 1}
    assert [e["seq"] for e in listed(f'{ours} AND action="occurrences.delete"')] == [seqs[2]]
    assert [e["seq"] for e in listed(f'{ours} AND principal="anonymous" AND seq > {seqs[0]}')] == seqs[1:]
    assert [e["seq"] for e in listed(f'{ours} AND time >= "{entries[1]["time"]}"')] == seqs[1:]
    assert listed(f'{ours} AND time > "{entries[2]["time"]}"') == []
    r = http.get("/v1/admin/auditEntries", params={"filter": 'color="red"'})
    assert r.status_code == 400
    assert "unknown field 'color'; audit entries filter on principal, action, resource, time, seq" in r.text


def test_a_policy_update_records_its_changed_fields_as_other_updates_do(app, http, project):
    # The entry said only {"revision": 2}, while the policy's revision listed the fields that changed.
    storage = app.extensions["grafeas"].storage
    start = last_seq(storage)
    policies = f"/v1/projects/{project}/policies"
    assert http.post(policies, params={"policyId": "p"}, json={"description": "d"}).status_code == 200
    assert http.patch(f"{policies}/p", json={"description": "e"}).status_code == 200
    entries = entries_after(storage, start)
    assert [(e.action, e.detail) for e in entries] == [
        ("policies.create", {"revision": 1}),
        ("policies.update", {"revision": 2, "changedFields": ["description"]}),
    ]
