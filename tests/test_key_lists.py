"""Lookups by many keys (storage/key_lists.py): exactly the keys asked for, on both databases, and on
PostgreSQL never by a plan cached without the keys."""

import pytest

from grafeas_py import create_app
from grafeas_py.config import Settings
from grafeas_py.names import NoteRef
from grafeas_py.storage.sql import _CHUNK
from grafeas_py.wire.grafeas_types import CODEC, NOTE, OCCURRENCE
from tests.conftest import POSTGRES_URL, fresh_database_url
from tests.factories import NOTE_BODIES, occurrence_body

IMAGE = "https://gcr.io/acme/app@sha256:" + "b" * 64


@pytest.fixture
def storage(app):
    return app.extensions["grafeas"].storage


def test_notes_are_found_by_any_number_of_keys(app, storage, project):
    """None, one, a few, and more than a chunk of keys, some of notes that do not exist, and keys that an
    array's text form would have to quote: on PostgreSQL they travel as one array parameter."""
    service = app.extensions["grafeas"].service
    quoted = ["NULL", "null", "a,b", "{c}", '"d"', "e\\f", " g ", "h i", "ü"]
    made = quoted + [f"n-{i}" for i in range(_CHUNK + 100)]
    service.batch_create_notes(project, {i: CODEC.decode(NOTE, NOTE_BODIES["BUILD"]) for i in made})
    for asked in ([], made[:1], quoted + ["gone", "g", "NUL"], made + ["gone", "n-1 "]):
        refs = [NoteRef(project, note_id) for note_id in asked]
        assert storage.note_kinds(refs) == {NoteRef(project, i): "BUILD" for i in asked if i in made}
        assert set(storage.get_notes(refs)) == {NoteRef(project, i) for i in asked if i in made}


def test_occurrences_are_found_by_their_whole_id_only(app, storage, project):
    """On PostgreSQL the keys go as one array; a key longer than the id column must not be cut to its
    length (as a cast to VARCHAR(36)[] would) and so equal the id it begins with."""
    service = app.extensions["grafeas"].service
    service.batch_create_notes(project, {"n": CODEC.decode(NOTE, NOTE_BODIES["BUILD"])})
    body = CODEC.decode(OCCURRENCE, occurrence_body("BUILD", f"projects/{project}/notes/n", IMAGE))
    made = [o["name"].rsplit("/", 1)[1] for o in service.batch_create_occurrences(project, [body] * 3)]
    longer = made[0] + "0"
    assert set(storage.get_occurrences_with_revisions(project, made[:2] + [longer])) == set(made[:2])
    assert storage.existing_occurrence_ids(project, [longer, made[2]]) == {made[2]}


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """An app of its own, whose connection pools no other test uses."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)")
    url = fresh_database_url(tmp_path_factory.mktemp("keys"), "keys")
    app = create_app(Settings(database_url=url, audit_seal_seconds=0))
    yield app
    app.extensions["grafeas"].storage.dispose()


def test_lookups_by_keys_are_never_prepared(own):
    """psycopg prepares a statement once it has run five times on a connection, and the plan PostgreSQL
    then caches, made without the keys (and, here, while the project held 3 occurrences), is kept as
    the project grows. A lookup by one key is prepared, which shows that the check sees."""
    service, storage = own.extensions["grafeas"].service, own.extensions["grafeas"].storage
    project = "keys"
    service.batch_create_notes(project, {f"n{i}": CODEC.decode(NOTE, NOTE_BODIES["BUILD"]) for i in range(3)})
    body = CODEC.decode(OCCURRENCE, occurrence_body("BUILD", f"projects/{project}/notes/n0", IMAGE))
    storage.engine.dispose()
    storage._reader.dispose()  # from here on, one call at a time: each pool opens one connection
    for _ in range(8):
        made = [o["name"].rsplit("/", 1)[1] for o in service.batch_create_occurrences(project, [body] * 3)]
        refs = [NoteRef(project, f"n{i}") for i in range(3)]
        assert len(storage.note_kinds(refs)) == len(storage.get_notes(refs)) == 3
        assert len(storage.get_occurrences_with_revisions(project, made)) == 3
        storage.get_note(project, "n0")
    for engine in (storage.engine, storage._reader):
        with engine.connect() as conn:  # the connection that ran them
            prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
        assert not any("= ANY (" in statement for statement in prepared), prepared
    assert any("notes.note_id = " in statement for statement in prepared), prepared  # the reader's
