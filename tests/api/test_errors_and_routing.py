"""The one error shape for every failure, and routing on the raw path."""

import json
import logging

import pytest
import requests

from tests.conftest import POSTGRES_URL
from tests.factories import NOTE_BODIES, OCCURRENCE_DETAILS


def assert_error(r, status, grpc_status, fragment=""):
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"code", "message", "status", "details"}
    assert error["code"] == status
    assert error["status"] == grpc_status
    assert fragment in error["message"]
    assert error["details"] == []


def test_unknown_route_is_404(http):
    assert_error(http.get("/v1/nowhere"), 404, "NOT_FOUND", "no such resource or route")
    assert_error(http.get("/v1/projects/p/widgets"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "part"),
    [
        ("POST", "/v1/projects/%FF/notes?noteId=n", "path"),  # read as U+FFFD, %FE and %FF named one project
        ("GET", "/v1/projects/{project}/notes/a%FFb", "path"),
        ("POST", "/v1/projects/{project}/notes?noteId=a%FFb", "query"),  # kept as written: never named again
        ("GET", "/v1/projects/{project}/notes?filter=%C3%28", "query"),
    ],
)
def test_percent_encoded_bytes_that_are_not_utf8_are_400(http, project, method, path, part):
    r = http.request(method, path.format(project=project), json=NOTE_BODIES["VULNERABILITY"])
    assert r.status_code == 400, r.text
    assert f"the request {part} is not UTF-8 once percent-decoded" in r.json()["error"]["message"]
    assert http.get(f"/v1/projects/{project}/notes").json() == {}  # nothing was written


def test_percent_encoded_utf8_ids_are_fine(http, project):
    r = http.post(f"/v1/projects/{project}/notes?noteId=caf%C3%A9%20%25FF", json=NOTE_BODIES["VULNERABILITY"])
    assert r.status_code == 200, r.text
    assert r.json()["name"] == f"projects/{project}/notes/café %FF"
    assert http.get(f"/v1/projects/{project}/notes/caf%C3%A9%20%25FF").json() == r.json()


def test_wrong_method_is_405(http):
    r = http.put("/v1/projects/p/notes/n")
    assert_error(r, 405, "UNIMPLEMENTED", "method PUT is not allowed")
    assert "PATCH" in r.headers["Allow"]


def test_malformed_json_is_400(http, project):
    r = http.post(
        f"/v1/projects/{project}/notes?noteId=n", data=b'{"build": ', headers={"Content-Type": "application/json"}
    )
    assert_error(r, 400, "INVALID_ARGUMENT", "request body is not valid JSON")


@pytest.mark.parametrize("payload", [b"[]", b'"note"', b"17"])
def test_body_must_be_an_object(http, project, payload):
    r = http.post(f"/v1/projects/{project}/notes?noteId=n", data=payload)
    assert_error(r, 400, "INVALID_ARGUMENT", "request body must be a JSON object")


def test_body_over_the_limit_is_413(http, project):
    big = b'{"shortDescription": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    r = http.post(f"/v1/projects/{project}/notes?noteId=n", data=big)
    assert_error(r, 413, "INVALID_ARGUMENT", "larger than the limit of 4194304 bytes")


def _chunked(data: bytes):
    """The body sent with Transfer-Encoding: chunked (no Content-Length), as requests sends a generator."""
    return (data[i : i + 65536] for i in range(0, len(data), 65536))


@pytest.mark.parametrize("where", ["note", "policy", "report"])
def test_a_chunked_body_over_the_limit_is_413_not_cut_short(http, project, where):
    """Read up to the limit, a chunked body came back cut there and its first part was taken for the whole:
    a YAML policy kept the rules before the cut and lost the rest."""
    padding = "x" * (4 * 1024 * 1024)
    if where == "policy":
        path, headers = f"/v1/projects/{project}/policies?policyId=p", {"Content-Type": "application/yaml"}
        body = f"rules:\n  secrets: {{}}\n# {padding}\n  vulnerabilities:\n    maximumFixableSeverity: LOW\n"
    elif where == "note":
        path, headers = f"/v1/projects/{project}/notes?noteId=n", {"Content-Type": "application/json"}
        body = json.dumps({"shortDescription": padding, "build": {"builderVersion": "1"}})
    else:
        path = f"/v1/projects/{project}/occurrences:ingest?format=junit&resourceUri=https://gcr.io/a/b"
        headers = {"Content-Type": "application/xml"}
        body = f"<testsuite name='s' tests='0'><!-- {padding} --></testsuite>"
    r = http.post(path, data=_chunked(body.encode()), headers=headers)
    assert_error(r, 413, "INVALID_ARGUMENT", "larger than the limit of 4194304 bytes")
    assert http.get(f"/v1/projects/{project}/policies/p").status_code == 404
    assert http.get(f"/v1/projects/{project}/notes/n").status_code == 404


def test_a_chunked_body_under_the_limit_is_read_whole(http, project):
    body = json.dumps({"shortDescription": "x" * 100_000, **NOTE_BODIES["BUILD"]}).encode()
    r = http.post(
        f"/v1/projects/{project}/notes?noteId=n", data=_chunked(body), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["shortDescription"]) == 100_000


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "labelled-only"])
def test_a_compressed_body_is_a_415(http, project, compressed):
    """gzip was read as it came (a confusing "not valid UTF-8"), and a plain body labelled gzip was taken."""
    import gzip

    text = json.dumps(NOTE_BODIES["BUILD"]).encode()
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    r = http.post(
        f"/v1/projects/{project}/notes?noteId=n", data=gzip.compress(text) if compressed else text, headers=headers
    )
    assert_error(r, 415, "INVALID_ARGUMENT", "Content-Encoding 'gzip' is not supported: send the body uncompressed")
    assert http.get(f"/v1/projects/{project}/notes/n").status_code == 404
    headers["Content-Encoding"] = "identity"
    assert http.post(f"/v1/projects/{project}/notes?noteId=n", data=text, headers=headers).status_code == 200


def test_internal_fault_is_500_with_request_id_and_no_trace(app, http, project, caplog, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.extensions["grafeas"].service, "get_note", explode)
    with caplog.at_level(logging.ERROR, logger="grafeas_py"):
        r = http.get(f"/v1/projects/{project}/notes/n", headers={"X-Request-Id": "req-123"})
    assert_error(r, 500, "INTERNAL", "request id req-123")
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert r.headers["X-Request-Id"] == "req-123"
    assert "req-123" in caplog.text and "secret internals" in caplog.text


def test_unreachable_database_is_503_which_clients_retry():
    from werkzeug.test import Client

    from grafeas_py import create_app
    from grafeas_py.config import Settings

    app = create_app(Settings(database_url="postgresql://postgres@127.0.0.1:1/nowhere", secret_key="k"))
    client = Client(app)
    r = client.get("/v1/projects/p/notes/n")
    assert r.status_code == 503
    assert r.json["error"]["status"] == "UNAVAILABLE"
    assert "database is unavailable" in r.json["error"]["message"]
    assert r.headers["Retry-After"] == "1"
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_unknown_query_parameters_are_ignored(http, project):
    r = http.post(f"/v1/projects/{project}/notes?noteId=n&foo=bar&$alt=json", json=NOTE_BODIES["BUILD"])
    assert r.status_code == 200


@pytest.mark.parametrize(
    "query, says",
    [
        ("updateMask=shortDescription&updateMask=longDescription", "updateMask: given 2 times; give it once"),
        ("update_mask=shortDescription&updateMask=longDescription", "given as 'update_mask' and as 'updateMask'"),
    ],
)
def test_a_query_parameter_given_twice_is_a_400_not_half_used(http, project, query, says):
    """The first value was used and the other dropped: an update of half the fields the caller named."""
    assert http.post(f"/v1/projects/{project}/notes?noteId=n", json=NOTE_BODIES["BUILD"]).status_code == 200
    r = http.patch(f"/v1/projects/{project}/notes/n?{query}", json={"shortDescription": "a", "longDescription": "b"})
    assert_error(r, 400, "INVALID_ARGUMENT", says)
    assert "shortDescription" not in http.get(f"/v1/projects/{project}/notes/n").json()
    r = http.get(f"/v1/projects/{project}/occurrences?filter=kind%3DBUILD&filter=kind%3DVULNERABILITY")
    assert_error(r, 400, "INVALID_ARGUMENT", "filter: given 2 times; give it once")
    assert http.get(f"/v1/projects/{project}/notes?x=1&x=2&$alt=json").status_code == 200  # unknown: ignored


@pytest.mark.parametrize("size", ["many", "1_0", "%D9%A3", "%EF%BC%91", "1e1", "%205"])  # `٣`, fullwidth `１`
def test_bad_page_size_type_is_400(http, project, size):
    """int() took `1_0` and other scripts' digits; grpc-gateway takes ASCII digits only."""
    assert_error(http.get(f"/v1/projects/{project}/notes?pageSize={size}"), 400, "INVALID_ARGUMENT", "pageSize")
    assert http.get(f"/v1/projects/{project}/notes?pageSize=%2B5").status_code == 200  # `+5`, as Go reads it


def test_filters_on_unknown_fields_are_refused_not_ignored(http, project):
    r = http.get("/v1/projects", params={"filter": 'projectId="x"'})
    assert_error(r, 400, "INVALID_ARGUMENT", "filter: unknown field 'projectId'; projects filter on name")
    r = http.get(f"/v1/projects/{project}/occurrences", params={"filter": 'vulnerability.color="red"'})
    assert_error(r, 400, "INVALID_ARGUMENT", "unknown field 'vulnerability.color': vulnerability has no field 'color'")


class TestRawPath:
    def test_ids_with_space_and_colon_round_trip(self, http, project):
        r = http.post(f"/v1/projects/{project}/notes", params={"noteId": "odd id:x"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200, r.text
        assert r.json()["name"] == f"projects/{project}/notes/odd id:x"
        r = http.get(f"/v1/projects/{project}/notes/odd%20id%3Ax")
        assert r.status_code == 200
        assert r.json()["name"] == f"projects/{project}/notes/odd id:x"

    def test_colon_id_does_not_clash_with_custom_verb(self, http, project):
        r = http.post(f"/v1/projects/{project}/notes", params={"noteId": "x:batchCreate"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200
        assert http.get(f"/v1/projects/{project}/notes/x%3AbatchCreate").json()["name"].endswith("x:batchCreate")

    def test_encoded_slash_is_not_a_path_separator(self, http, project):
        r = http.get(f"/v1/projects/{project}/notes/a%2Fb")
        assert_error(r, 400, "INVALID_ARGUMENT", "must not contain '/'")

    @pytest.mark.parametrize("method", ["GET", "DELETE"])
    def test_an_empty_segment_is_not_merged_into_another_resource(self, http, project, method):
        # With slashes merged, DELETE .../notes//occurrences was redirected to the note "occurrences".
        http.post(f"/v1/projects/{project}/notes", params={"noteId": "occurrences"}, json=NOTE_BODIES["BUILD"])
        for path in (f"/v1/projects/{project}/notes//occurrences", f"/v1//projects/{project}/notes/occurrences"):
            r = http.request(method, path, allow_redirects=False)
            assert_error(r, 404, "NOT_FOUND")
        assert http.get(f"/v1/projects/{project}/notes/occurrences").status_code == 200

    def test_ids_in_paths_are_at_most_255_characters_wherever_they_arrive(self, http, project):
        # CreateProject refused a 256-character id that creating a note in it took.
        long = "p" * 256
        for method, path in [
            ("POST", f"/v1/projects/{long}/notes?noteId=n"),
            ("POST", f"/v1/projects/{long}/occurrences"),
            ("GET", f"/v1/projects/{long}/locations/l/notes"),
            ("GET", f"/v1/projects/{project}/locations/{long}/notes"),
            ("POST", f"/v1/projects/{project}/policies?policyId={long}"),
        ]:
            r = http.request(method, path, json=NOTE_BODIES["BUILD"])
            assert_error(r, 400, "INVALID_ARGUMENT", "must be at most 255 characters")
        longest = project.ljust(255, "x")
        r = http.post(f"/v1/projects/{longest}/notes", params={"noteId": "n" * 255}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200, r.text

    def test_no_project_is_named_star(self, http, project):
        # A project named * would share its audit resource, projects/*, with bindings on every project.
        r = http.post("/v1/projects", json={"name": "projects/*"})
        assert_error(r, 400, "INVALID_ARGUMENT", "may not be named '*'")
        # Nor made one by writing to it, as projects need not be created before use.
        note = f"projects/{project}/notes/n"
        assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).ok
        occurrence = {"resourceUri": "https://gcr.io/a/b", "noteName": note, **OCCURRENCE_DETAILS["BUILD"]}
        for path, params, body in [
            ("/v1/projects/%2A/notes", {"noteId": "n"}, NOTE_BODIES["BUILD"]),
            ("/v1/projects/%2A/notes:batchCreate", {}, {"notes": {"n": NOTE_BODIES["BUILD"]}}),
            ("/v1/projects/%2A/occurrences", {}, occurrence),
            ("/v1/projects/%2A/occurrences:batchCreate", {}, {"occurrences": [occurrence]}),
            ("/v1/projects/%2A/locations/global/occurrences", {}, occurrence),
            ("/v1/projects/%2A/policies", {"policyId": "p"}, {"rules": {}}),
        ]:
            r = http.post(path, params=params, json=body)
            assert_error(r, 400, "INVALID_ARGUMENT", "may not be named '*'")
        assert http.get("/v1/projects/%2A/notes").json() == {}
        assert http.get("/v1/projects/%2A/occurrences").json() == {}

    def test_plus_in_a_path_is_a_plus(self, http, project):
        r = http.post(f"/v1/projects/{project}/notes", params={"noteId": "c++"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200
        assert http.get(f"/v1/projects/{project}/notes/c++").json()["name"].endswith("/notes/c++")

    def test_project_with_unicode(self, http):
        r = http.post("/v1/projects/%C3%BCber/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200
        assert r.json()["name"] == "projects/über/notes/n"


def test_health_and_readiness(http):
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_readiness_fails_on_an_unmigrated_database(tmp_path):
    from werkzeug.test import Client

    from grafeas_py import create_app
    from grafeas_py.config import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    r = Client(app).get("/readyz")
    assert r.status_code == 503
    assert "run 'grafeas-py db upgrade'" in r.json["error"]["message"]


def test_docs_are_served_without_a_cdn(http):
    page = http.get("/docs/")
    assert page.status_code == 200
    assert "/docs/static/swagger-ui-bundle.js" in page.text
    assert "//cdn" not in page.text and "unpkg" not in page.text
    assert '"validatorUrl": null' in page.text  # Swagger UI would otherwise call validator.swagger.io
    assert http.get("/docs/static/swagger-ui-bundle.js").status_code == 200
    assert http.get("/docs/openapi.json").json()["info"]["title"] == "grafeas-py"


def test_connection_keeps_working_after_errors(base_url):
    with requests.Session() as s:
        for _ in range(3):
            assert s.get(f"{base_url}/v1/nowhere").status_code == 404
        assert s.get(f"{base_url}/healthz").status_code == 200


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)")
def test_connections_dropped_by_the_database_cost_one_503_then_recover(database_url):
    """No pre-ping: a pooled connection the server killed fails one request with 503; the pool recovers."""
    import uuid

    from sqlalchemy import create_engine, text
    from werkzeug.test import Client

    from grafeas_py import create_app
    from grafeas_py.config import Settings

    name = f"drop-{uuid.uuid4().hex[:8]}"
    app = create_app(Settings(database_url=f"{database_url}&application_name={name}", pool_size=1))
    client = Client(app)
    project = f"p-{name}"
    assert (
        client.post(
            f"/v1/projects/{project}/notes", query_string={"noteId": "n"}, json=NOTE_BODIES["BUILD"]
        ).status_code
        == 200
    )
    body = {
        "resourceUri": "https://gcr.io/a/b@sha256:" + "1" * 64,
        "noteName": f"projects/{project}/notes/n",
        **OCCURRENCE_DETAILS["BUILD"],
    }
    assert client.post(f"/v1/projects/{project}/occurrences", json=body).status_code == 200
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.connect() as conn:
        killed = conn.execute(
            text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :n"),
            {"n": name},
        ).scalar()
    admin.dispose()
    assert killed >= 1
    statuses = [client.post(f"/v1/projects/{project}/occurrences", json=body).status_code for _ in range(4)]
    assert statuses == [503, 200, 200, 200], statuses
    assert client.get(f"/v1/projects/{project}/notes/n").status_code == 200
    app.extensions["grafeas"].storage.dispose()


@pytest.mark.parametrize(
    "where, body",
    [
        ("notes?noteId=n", lambda big: {**NOTE_BODIES["BUILD"], big: 1}),
        ("notes?noteId=n", lambda big: {**NOTE_BODIES["BUILD"], "relatedUrl": [{"url": "u", big: 1}]}),
        ("notes?noteId=n", lambda big: {**NOTE_BODIES["BUILD"], "expirationTime": big}),
        ("notes?noteId=n", lambda big: {"vulnerability": {"severity": big}}),
        ("notes:batchCreate", lambda big: {"notes": {"n": NOTE_BODIES["BUILD"]}, big: 1}),
        ("policies?policyId=p", lambda big: {"rules": {}, big: 1}),
    ],
)
def test_an_error_quotes_a_huge_value_cut_short(http, project, where, body):
    """A 1 MB unknown field name or bad value came back whole in the error message."""
    big = "x" * 500_000 + "END"
    r = http.post(f"/v1/projects/{project}/{where}", json=body(big))
    assert (r.status_code, r.json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), r.text[:2000]
    message = r.json()["error"]["message"]
    assert "xxxxxxxx...xxxxxxxx" in message and "xxxxEND" in message and "(500003 characters)" in message, message
    assert len(r.content) < 2000  # the message, and a policy's field violations too
