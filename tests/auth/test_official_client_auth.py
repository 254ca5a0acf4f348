"""The unmodified official `grafeas` client (REST transport) against the credential-checking server,
passing an API token per call as `authorization` metadata, as Google's clients do."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from google.api_core import exceptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from grafeas.grafeas_v1 import GrafeasClient, types
from grafeas.grafeas_v1.services.grafeas.transports.rest import GrafeasRestTransport

from tests.factories import DIGEST, NOTE_BODIES
from tests.test_cli import GRAFEAS_PY


@pytest.fixture(scope="module")
def client(secure):
    transport = GrafeasRestTransport(
        host=secure.base.removeprefix("http://"), url_scheme="http", credentials=AnonymousCredentials()
    )
    return GrafeasClient(transport=transport)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def test_the_client_works_with_a_token_and_is_refused_without_one(secure, client, tenant):
    name = f"client-{tenant}"
    token = secure.token(name)
    secure.bind(tenant, "notesEditor", f"token:{name}")
    secure.bind(tenant, "notesAttacher", f"token:{name}")
    secure.bind(tenant, "occurrencesEditor", f"token:{name}")
    parent = f"projects/{tenant}"
    note = types.Note(build=types.BuildNote(builder_version="v1"))
    created = client.create_note(parent=parent, note_id="build", note=note, metadata=bearer(token))
    assert created.name == f"{parent}/notes/build"
    occurrence = types.Occurrence(
        resource_uri=f"https://gcr.io/acme/app@{DIGEST}",
        note_name=created.name,
        build=types.BuildOccurrence(provenance=types.BuildProvenance(id="b1")),
    )
    made = client.create_occurrence(parent=parent, occurrence=occurrence, metadata=bearer(token))
    assert client.get_occurrence_note(name=made.name, metadata=bearer(token)).name == created.name
    listed = client.list_occurrences(parent=f"{parent}/locations/us-central1", metadata=bearer(token))
    assert [o.name for o in listed] == [made.name]
    client.delete_occurrence(name=made.name, metadata=bearer(token))

    # On a 401 the client's session tries to refresh its credentials, which anonymous ones cannot.
    with pytest.raises(auth_exceptions.InvalidOperation, match="Anonymous credentials cannot be refreshed"):
        client.get_note(name=created.name)
    stranger = secure.token()
    with pytest.raises(exceptions.Forbidden) as denied:
        client.get_note(name=created.name, metadata=bearer(stranger))
    assert f"permission 'notes.get' denied on resource '{created.name}'" in denied.value.message


def test_the_grafeas_py_ci_client_sends_its_token(secure, tenant):
    """`grafeas-py notes ...` as a CI job runs it, with GRAFEAS_TOKEN."""
    name = f"job-{tenant}"
    token = secure.token(name)
    secure.bind(tenant, "notesViewer", f"token:{name}")
    assert secure.admin.post(f"/v1/projects/{tenant}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).ok
    env = {**os.environ, "GRAFEAS_URL": secure.base, "GRAFEAS_TOKEN": token}
    listed = subprocess.run([GRAFEAS_PY, "notes", "list", tenant], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["name"] == f"projects/{tenant}/notes/n"
    env.pop("GRAFEAS_TOKEN")
    refused = subprocess.run([GRAFEAS_PY, "notes", "list", tenant], env=env, capture_output=True, text=True)
    assert refused.returncode == 1 and "401" in refused.stderr and "authentication required" in refused.stderr
