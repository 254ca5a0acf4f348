"""The `grafeas-py` command: serving under gunicorn and managing the schema."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from grafeas_py import db
from grafeas_py.errors import STATUS_BY_HTTP
from grafeas_py.storage.engine import make_engine
from tests.conftest import POSTGRES_URL, _postgres_schema_url, unwritable
from tests.factories import NOTE_BODIES

ROOT = Path(__file__).resolve().parents[1]
GRAFEAS_PY = shutil.which("grafeas-py") or os.path.join(os.path.dirname(sys.executable), "grafeas-py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(url: str) -> dict:
    return {**os.environ, "GRAFEAS_DATABASE_URL": url}


def _fresh_url(tmp_path, worker_id):
    if POSTGRES_URL:
        return _postgres_schema_url(POSTGRES_URL, f"cli_{worker_id}")[0]
    return f"sqlite:///{tmp_path / 'cli.db'}"


@contextmanager
def _serving(
    command: list[str],
    env: dict,
    port: int,
    *,
    scheme: str = "http",
    verify=True,
    probe: str = "/readyz",
    host: str = "127.0.0.1",
):
    """A running server's base URL once `probe` answers 200; its combined output is in the returned list once
    it has stopped."""
    output: list[str] = []
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"{scheme}://{host}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}{probe}", timeout=5, verify=verify).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or workers still booting
                pass
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        yield base, output
    finally:
        proc.send_signal(signal.SIGTERM)
        output.append(proc.communicate(timeout=30)[0].decode())


def test_serve_migrates_and_answers_under_gunicorn(tmp_path, worker_id):
    url, port = _fresh_url(tmp_path, worker_id), _free_port()
    command = [GRAFEAS_PY, "serve", "--port", str(port), "--workers", "2"]
    with _serving(command, _env(url), port) as (base, output):
        r = requests.post(f"{base}/v1/projects/cli/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200, r.text
        # A filter longer than gunicorn's default request line (4094 bytes) still reaches the app.
        long_filter = " OR ".join(f'name="projects/cli/notes/{i:0200d}"' for i in range(30))
        r = requests.get(f"{base}/v1/projects/cli/notes", params={"filter": long_filter})
        assert len(r.request.url) > 6000 and r.status_code == 200 and r.json() == {}, r.text
        # Every worker signs and checks page tokens with the same key, kept in the database.
        requests.post(f"{base}/v1/projects/cli/notes", params={"noteId": "m"}, json=NOTE_BODIES["BUILD"])
        token = requests.get(f"{base}/v1/projects/cli/notes", params={"pageSize": 1}).json()["nextPageToken"]
        for _ in range(6):
            page = requests.get(f"{base}/v1/projects/cli/notes", params={"pageSize": 1, "pageToken": token})
            assert page.json()["notes"][0]["name"] == "projects/cli/notes/m"
    assert "Booting worker" in output[0]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that signs itself, and its key: (cert.pem, key.pem)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "grafeas-py test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.mark.parametrize("how", ["GUNICORN_CMD_ARGS", "--certfile"])
def test_serve_speaks_https_with_a_certificate(tmp_path, worker_id, how):
    """The webhook's recipe: HTTPS with the given certificate, and no answer to plain HTTP."""
    cert, key = _self_signed(tmp_path)
    url, port = _fresh_url(tmp_path, worker_id), _free_port()
    command, env = [GRAFEAS_PY, "serve", "--port", str(port), "--workers", "1"], _env(url)
    if how == "GUNICORN_CMD_ARGS":  # as deploy/kubernetes/validating-webhook.yaml has it, and gunicorn reads it
        env["GUNICORN_CMD_ARGS"] = f"--certfile {cert} --keyfile {key}"
    else:  # serve's own flags, which win over GUNICORN_CMD_ARGS as gunicorn's command line does
        env["GUNICORN_CMD_ARGS"] = f"--bind 127.0.0.1:{_free_port()} --certfile {tmp_path / 'missing.pem'}"
        command += ["--certfile", str(cert), "--keyfile", str(key)]
    with _serving(command, env, port, scheme="https", verify=str(cert)) as (base, output):
        r = requests.post(
            f"{base}/v1/projects/tls/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"], verify=str(cert)
        )
        assert r.status_code == 200, r.text
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert f"Listening at: https://127.0.0.1:{port}" in output[0]


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_serve_listens_on_an_ipv6_address(tmp_path, host):
    """--host ::1 was "'' is not a valid port number": the address needs brackets in gunicorn's bind."""
    port = _free_port()
    command = [GRAFEAS_PY, "serve", "--host", host, "--port", str(port), "--workers", "1"]
    with _serving(command, _env(f"sqlite:///{tmp_path / 'g.db'}"), port, host="[::1]") as (base, _output):
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("mistake", ["another key", "no certificate", "no key"])
def test_serve_refuses_a_certificate_it_cannot_serve_in_one_line(tmp_path, mistake):
    """It started, then failed every TLS handshake with one warning per connection."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert, key = _self_signed(tmp_path / "a")
    other_cert, other_key = _self_signed(tmp_path / "b")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    flags = {
        "another key": ["--certfile", str(cert), "--keyfile", str(other_key)],
        "no certificate": ["--certfile", str(junk), "--keyfile", str(key)],
        "no key": ["--certfile", str(cert)],  # a certfile holding no key, and no --keyfile
    }[mistake]
    command = [GRAFEAS_PY, "serve", "--port", str(_free_port()), *flags]
    result = subprocess.run(command, env=_env(f"sqlite:///{tmp_path / 'never.db'}"), capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("Error: cannot serve HTTPS with the certificate ")
    assert result.stderr.count("\n") == 1 and not (tmp_path / "never.db").exists(), result.stderr


@pytest.mark.parametrize(
    "config, says",
    [
        (None, "GRAFEAS_ADMISSION_CONFIG={path}: No such file or directory"),
        ("namespaces:\n  no: projects/p/policies/x\n", "the key False is not a namespace name"),
    ],
)
@pytest.mark.parametrize("how", ["serve", "gunicorn -c deploy/gunicorn.conf.py"])
def test_an_admission_config_that_cannot_work_stops_the_start_in_one_line(tmp_path, config, says, how):
    """Each worker failed to boot on it, with a traceback each, and gunicorn gave up (exit 3)."""
    path = tmp_path / "admission.yaml"
    if config is not None:
        path.write_text(config)
    env = {**_env(f"sqlite:///{tmp_path / 'g.db'}"), "GRAFEAS_ADMISSION_CONFIG": str(path)}
    port = _free_port()
    if how == "serve":
        command = [GRAFEAS_PY, "serve", "--port", str(port)]
    else:
        command, env["GRAFEAS_BIND"] = (
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
            f"127.0.0.1:{port}",
        )
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.startswith("Error: bad configuration: ") and result.stderr.count("\n") == 1, result.stderr
    assert says.format(path=path) in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("--no-such-option", "GUNICORN_CMD_ARGS: unrecognized arguments: --no-such-option"),
        ("--workers -1", "GUNICORN_CMD_ARGS: --workers: Value must be positive: -1"),
        ("--workers 0", "GUNICORN_CMD_ARGS: --workers: must be 1 to 256, got 0"),
        ("--threads 0", "GUNICORN_CMD_ARGS: --threads: must be 1 to 256, got 0"),
        # It forked until the machine stopped answering.
        ("--workers 100000", "GUNICORN_CMD_ARGS: --workers: must be 1 to 256, got 100000"),
        ("--config gunicorn.conf.py", "GUNICORN_CMD_ARGS: --config is not read by grafeas-py serve"),
        ("--keyfile key.pem", "a keyfile needs a certfile"),
    ],
)
def test_serve_refuses_gunicorn_cmd_args_it_cannot_honour_in_one_line(tmp_path, args, message):
    env = {**_env(f"sqlite:///{tmp_path / 'never.db'}"), "GUNICORN_CMD_ARGS": args}
    command = [GRAFEAS_PY, "serve", "--port", str(_free_port())]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith(f"Error: {message}"), result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "never.db").exists()  # refused before migrating


@pytest.mark.parametrize("how", ["grafeas-py serve", "deploy/gunicorn.conf.py"])
def test_workers_are_replaced_after_10000_to_11000_requests(tmp_path, how):
    """A worker keeps the memory a large batch needed (160-200 MB after a 32 MB one); serve kept its
    workers for ever. gunicorn logs the settings it runs with at debug level."""
    port = _free_port()
    env = {**_env(f"sqlite:///{tmp_path / 'grafeas.db'}"), "GUNICORN_CMD_ARGS": "--log-level debug"}
    if how == "grafeas-py serve":
        command = [GRAFEAS_PY, "serve", "--no-migrate", "--port", str(port), "--workers", "1"]
    else:
        command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
        env.update(GRAFEAS_BIND=f"127.0.0.1:{port}", GRAFEAS_WORKERS="1")
    with _serving(command, env, port, probe="/healthz") as (_, output):
        pass
    assert "\n  max_requests: 10000\n" in output[0] and "\n  max_requests_jitter: 1000\n" in output[0], output[0]


@pytest.mark.parametrize("how", ["grafeas-py serve", "deploy/gunicorn.conf.py"])
def test_the_open_access_warning_is_given_at_length_once_not_by_every_worker(tmp_path, how):
    """Each worker logged the whole banner, and each worker replaced after 10,000 requests again. The output
    is read as it comes, until all three workers have built the app."""
    env = {k: v for k, v in _env(f"sqlite:///{tmp_path / 'grafeas.db'}").items() if k != "GRAFEAS_AUTH"}
    if how == "grafeas-py serve":
        command = [GRAFEAS_PY, "serve", "--port", str(_free_port()), "--workers", "3"]
    else:
        db.upgrade(env["GRAFEAS_DATABASE_URL"])
        command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
        env.update(GRAFEAS_BIND=f"127.0.0.1:{_free_port()}", GRAFEAS_WORKERS="3")
    reminder = "authentication is off (GRAFEAS_AUTH=none): every caller has every right"
    log = tmp_path / "output.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while log.read_text().count(reminder) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    output = log.read_text()
    assert output.count(reminder) == 3, output
    assert output.count("AUTHENTICATION IS OFF (GRAFEAS_AUTH=none)") == 1, output


def _one_worker(how: str, env: dict, port: int) -> list[str]:
    """The command serving one worker on `port` `how` (serve, or gunicorn with deploy's config, which needs
    the database migrated and its bind and workers in `env`), replaced as GUNICORN_CMD_ARGS in `env` says."""
    if how == "grafeas-py serve":
        return [GRAFEAS_PY, "serve", "--port", str(port), "--workers", "1"]
    db.upgrade(env["GRAFEAS_DATABASE_URL"])
    env.update(GRAFEAS_BIND=f"127.0.0.1:{port}", GRAFEAS_WORKERS="1")
    return [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]


@pytest.mark.parametrize("how", ["grafeas-py serve", "deploy/gunicorn.conf.py"])
def test_workers_keep_the_admission_config_read_at_start(tmp_path, how):
    """Each worker read GRAFEAS_ADMISSION_CONFIG as it booted: a file broken by an edit since stopped the
    whole server at the next worker replaced (gunicorn halts when a worker fails to boot)."""
    config = tmp_path / "admission.yaml"
    config.write_text("namespaces:\n  prod: projects/adm/policies/prod\n")
    port = _free_port()
    env = {
        **_env(f"sqlite:///{tmp_path / 'grafeas.db'}"),
        "GRAFEAS_ADMISSION_CONFIG": str(config),
        "GUNICORN_CMD_ARGS": "--max-requests 2 --max-requests-jitter 0",
    }
    command = _one_worker(how, env, port)
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "app", "image": "gcr.io/acme/app@sha256:" + "a" * 64}]}}
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u1", "kind": {"kind": "Pod"}, "namespace": "prod", "operation": "CREATE", "object": pod},
    }
    with _serving(command, env, port, probe="/healthz") as (base, output):
        policy = requests.post(f"{base}/v1/projects/adm/policies", params={"policyId": "prod"}, json={"rules": {}})
        assert policy.status_code == 200, policy.text
        config.write_text(":::broken")
        for _ in range(6):  # the worker is replaced after every second request
            r = requests.post(f"{base}/v1/admission:review", json=review, timeout=30)
            assert r.status_code == 200 and r.json()["response"]["allowed"] is True, r.text
    assert output[0].count("Booting worker with pid") >= 3, output[0]


@pytest.mark.parametrize("how", ["grafeas-py serve", "deploy/gunicorn.conf.py"])
def test_workers_boot_when_the_jwks_file_has_gone_since_the_start(tmp_path, how):
    """Each worker checked GRAFEAS_OIDC_JWKS_FILE as it booted: a file removed (or rotated badly) since the
    start stopped the whole server at the next worker replaced. The start still checks it."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    port = _free_port()
    env = {
        **_env(f"sqlite:///{tmp_path / 'grafeas.db'}"),
        "GRAFEAS_AUTH": "token,oidc",
        "GRAFEAS_OIDC_ISSUER": "https://issuer.example.com",
        "GRAFEAS_OIDC_AUDIENCE": "grafeas",
        "GRAFEAS_OIDC_JWKS_FILE": str(jwks),
        "GUNICORN_CMD_ARGS": "--max-requests 2 --max-requests-jitter 0",
    }
    command = _one_worker(how, env, port)
    with _serving(command, env, port, probe="/healthz") as (base, output):
        jwks.unlink()
        for _ in range(6):  # the worker is replaced after every second request
            assert requests.get(f"{base}/healthz", timeout=30).status_code == 200
    assert output[0].count("Booting worker with pid") >= 3, output[0]
    # Missing as the server starts: refused in one line, as before.
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr == f"Error: bad configuration: GRAFEAS_OIDC_JWKS_FILE={jwks}: no such file\n", result.stderr


def test_gunicorn_cmd_args_may_change_how_often_serve_replaces_workers(tmp_path):
    """GUNICORN_CMD_ARGS overrides serve's settings, these included."""
    port = _free_port()
    env = {
        **_env(f"sqlite:///{tmp_path / 'grafeas.db'}"),
        "GUNICORN_CMD_ARGS": "--max-requests 3 --max-requests-jitter 0",
    }
    command = [GRAFEAS_PY, "serve", "--no-migrate", "--port", str(port), "--workers", "1"]
    with _serving(command, env, port, probe="/healthz") as (base, output):
        for _ in range(6):  # those after the third wait for the worker that replaces the first
            assert requests.get(f"{base}/healthz", timeout=30).status_code == 200
    assert "Autorestarting worker after current request." in output[0]
    assert output[0].count("Booting worker with pid") >= 2, output[0]


@pytest.mark.parametrize(
    ("flag", "value", "range_"),
    [
        *((flag, value, "1<=x<=256") for flag in ("--workers", "--threads") for value in ("0", "-1", "100000")),
        ("--port", "99999", "1<=x<=65535"),  # a traceback of gunicorn's (OverflowError)
        ("--port", "0", "1<=x<=65535"),
    ],
)
def test_serve_refuses_counts_and_ports_out_of_range(tmp_path, flag, value, range_):
    """--workers 0 served with the default number instead, --threads 0 started workers that failed, and
    --workers 100000 forked until the machine stopped answering."""
    env = _env(f"sqlite:///{tmp_path / 'never.db'}")
    command = [GRAFEAS_PY, "serve", "--port", str(_free_port()), flag, value]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.endswith(f"Error: Invalid value for '{flag}': {value} is not in the range {range_}.\n")
    assert not (tmp_path / "never.db").exists()  # refused before migrating


def test_a_schema_behind_the_server_is_a_503_saying_so_until_upgraded(tmp_path, worker_id):
    """Served with --no-migrate on a database not migrated, or migrated to an older release: calls that need
    what is missing say the revision and what to run, and succeed once it has run, without a restart."""
    url, port = _fresh_url(tmp_path, worker_id), _free_port()
    env = _env(url)
    command = [GRAFEAS_PY, "serve", "--no-migrate", "--port", str(port), "--workers", "1"]
    with _serving(command, env, port, probe="/healthz") as (base, output):
        # None: nothing at all; 0005 lacks audit_pending (0007), 0008 its credential column (0009).
        for revision in (None, "0005", "0008"):
            if revision:
                subprocess.run([GRAFEAS_PY, "db", "upgrade", revision], env=env, check=True, capture_output=True)
            calls = [("POST", "/v1/projects/schema/notes?noteId=n", NOTE_BODIES["BUILD"])]
            if revision is None:
                calls += [("GET", "/v1/projects/schema/notes", None), ("GET", "/v1/projects", None)]
            for method, path, body in calls:
                r = requests.request(method, f"{base}{path}", json=body)
                assert r.status_code == 503 and r.headers["X-Request-Id"], (revision, method, path, r.text)
                error = r.json()["error"]
                assert error["status"] == "UNAVAILABLE", error
                written = "" if method == "GET" else "; nothing was written"  # a failed statement rolled it back
                assert error["message"].startswith(
                    f"the database schema is at revision {revision or 'none (never migrated)'}, not this"
                    f" server's {db.head()}: run 'grafeas-py db upgrade'{written} (request id"
                    f" {r.headers['X-Request-Id']})"
                ), error
            assert requests.get(f"{base}/readyz").status_code == 503
        subprocess.run([GRAFEAS_PY, "db", "upgrade"], env=env, check=True, capture_output=True)
        r = requests.post(f"{base}/v1/projects/schema/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200, r.text
        assert requests.get(f"{base}/readyz").status_code == 200
        # A newer release's migration (this server rolled back after it ran): no upgrade would help.
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9000'"))
            conn.execute(text("ALTER TABLE audit_pending RENAME TO audit_queue"))
        engine.dispose()
        r = requests.post(f"{base}/v1/projects/schema/notes", params={"noteId": "m"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 503 and r.json()["error"]["message"].startswith(
            f"the database schema is at revision 9000, which this server (at {db.head()}) does not know: a newer"
            " release migrated it; run that release"
        ), r.text
    assert "Traceback" not in output[0] and "not this server's" in output[0]


def _raw_exchange(port: int, request: bytes) -> tuple[int, dict, bytes]:
    """Send bytes as they are, read until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


_CHUNKED_POST = b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
# Requests gunicorn refuses before the app sees them, or that fail as the app reads them, and the error each must get.
_REFUSED_BY_GUNICORN = {
    "request line over the limit": (b"GET /v1/projects/p/notes?filter=" + b"x" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    "malformed request line": (b"GET /healthz NOT-HTTP\r\nHost: x\r\n\r\n", 400),
    "header over the limit": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431),
    "more than 100 headers": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n",
        431,
    ),
    "unsupported transfer coding": (
        b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: zstd, chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    # gunicorn reads a chunked body as the app asks for it: its framing errors were 500s with a traceback.
    "malformed chunk size": (_CHUNKED_POST + b"zz\r\n{}\r\n0\r\n\r\n", 400),
    "chunk without its terminator": (_CHUNKED_POST + b"2\r\n{}XX0\r\n\r\n", 400),
    # gunicorn passes a compressed transfer coding on with the body as it came.
    "compressed transfer coding": (_CHUNKED_POST.replace(b"chunked", b"gzip, chunked") + b"2\r\n{}\r\n0\r\n\r\n", 415),
}


# What the app's own refusals among them say.
_SAYS = {
    "malformed chunk size": "the request body is not well-formed chunked HTTP: Invalid chunk size",
    "chunk without its terminator": "the request body is not well-formed chunked HTTP",
    "compressed transfer coding": "Transfer-Encoding 'gzip' is not supported: send the body uncompressed",
}


@pytest.mark.parametrize("how", ["grafeas-py serve", "deploy/gunicorn.conf.py"])
def test_requests_gunicorn_refuses_get_the_json_error_shape(tmp_path, worker_id, how):
    url, port = _fresh_url(tmp_path, worker_id), _free_port()
    if how == "grafeas-py serve":
        command, env = [GRAFEAS_PY, "serve", "--port", str(port), "--workers", "1"], _env(url)
    else:  # production: the schema is upgraded once per release, then instances start
        db.upgrade(url)
        command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
        env = {**_env(url), "GRAFEAS_BIND": f"127.0.0.1:{port}", "GRAFEAS_WORKERS": "1"}
    env["XDG_RUNTIME_DIR"] = str(tmp_path)  # where gunicorn 25.1+ would put its control socket
    with _serving(command, env, port):
        assert not (tmp_path / "gunicorn.ctl").exists()  # instances on one host would share it
        for what, (request, status) in _REFUSED_BY_GUNICORN.items():
            got, headers, body = _raw_exchange(port, request)
            assert (got, headers["content-type"]) == (status, "application/json"), (what, body)
            error = json.loads(body)["error"]
            assert error["code"] == status and error["status"] == STATUS_BY_HTTP[status], (what, error)
            assert error["message"] and error["details"] == [], (what, error)
            assert _SAYS.get(what, "") in error["message"], (what, error)
            assert int(headers["content-length"]) == len(body)


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("GRAFEAS_WORKERS", "abc", "GRAFEAS_WORKERS must be a whole number, not 'abc'"),
        ("GRAFEAS_THREADS", "0", "GRAFEAS_THREADS must be 1 or more, not 0"),
        ("GRAFEAS_WORKERS", "100000", "GRAFEAS_WORKERS must be at most 256, not 100000"),
        (
            "GRAFEAS_DATABASE_URL",
            "not a url",
            "GRAFEAS_DATABASE_URL=not a url is not a database URL: Could not parse SQLAlchemy URL from given"
            " URL string",
        ),
    ],
)
def test_gunicorn_conf_refuses_a_bad_setting_in_one_line(tmp_path, variable, value, message):
    """It was a traceback of the config file, which gunicorn prints before giving up."""
    env = {**_env(f"sqlite:///{tmp_path / 'grafeas.db'}"), "GRAFEAS_BIND": f"127.0.0.1:{_free_port()}", variable: value}
    command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (2, f"Error: bad configuration: {message}\n"), result.stderr[-3000:]


def test_db_commands(tmp_path, worker_id):
    url = _fresh_url(tmp_path, worker_id)
    run = lambda *args: subprocess.run([GRAFEAS_PY, "db", *args], env=_env(url), capture_output=True, text=True)  # noqa: E731
    assert run("upgrade").returncode == 0
    current = run("current")
    assert current.returncode == 0 and f"{db.head()} (head)" in current.stdout
    check = run("check")
    assert check.returncode == 0, check.stderr


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)")
def test_upgrades_started_at_once_on_a_fresh_database_all_succeed():
    """Instances starting together each upgrade the schema: one migrates, the others find it at head."""
    from sqlalchemy import create_engine

    url, schema = _postgres_schema_url(POSTGRES_URL, "race")
    tag = f"upgrade-{schema}"  # finds the upgraders' sessions in pg_stat_activity
    env = _env(f"{url}&application_name={tag}")
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :tag AND wait_event_type = 'Lock'")
    upgraders = []
    try:
        with admin.connect() as holder:
            # The worst interleaving, made certain: an alembic_version not committed yet, which every upgrade
            # that looks for the table misses, so that it creates its own and waits on this one.
            holder.execute(text(f'CREATE TABLE "{schema}".alembic_version (version_num varchar(32) NOT NULL)'))
            for _ in range(3):
                upgraders.append(
                    subprocess.Popen(
                        [GRAFEAS_PY, "db", "upgrade"],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )
            deadline = time.monotonic() + 60
            while True:
                with admin.connect() as conn:  # a transaction of its own sees the activity as it is now
                    if conn.execute(waiting, {"tag": tag}).scalar() == len(upgraders):
                        break
                assert all(u.poll() is None for u in upgraders), [u.communicate() for u in upgraders]
                assert time.monotonic() < deadline, "the upgrades did not all reach the schema"
                time.sleep(0.1)
            holder.rollback()
        results = [u.communicate(timeout=120) for u in upgraders]
        assert [u.returncode for u in upgraders] == [0, 0, 0], [err[-2000:] for _out, err in results]
        with admin.connect() as conn:
            assert conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalars().all() == [
                db.head()
            ]
    finally:
        for u in upgraders:
            if u.poll() is None:
                u.kill()
        admin.dispose()


NEWER = "the database schema is at revision 0099, which this server (at {head}) does not know: a newer release"


@pytest.mark.parametrize(
    "stored, command, code, says",
    [
        (None, ["check"], 1, "the database schema is at revision none (never migrated), not this server's {head}"),
        (None, ["current"], 0, "none (never migrated): run 'grafeas-py db upgrade'"),
        ("0012", ["check"], 1, "the database schema is at revision 0012, not this server's {head}: run 'grafeas-py db"),
        ("0012", ["current"], 0, "0012 (head is {head})"),
        ("head", ["upgrade", "9999"], 1, "cannot upgrade to '9999': "),
        # Alembic's AssertionError, a traceback.
        ("head", ["upgrade", "@"], 1, "cannot upgrade to '@': no revision of this release has that name"),
        # It did nothing and exited 0: an operator rolling back believed the schema was at 0011.
        ("head", ["upgrade", "0011"], 1, "the database is at revision {head}, past 0011: 'db upgrade' only goes"),
        # A rollback to this release after a newer one migrated: each was a 90-line traceback.
        ("0099", ["check"], 1, NEWER),
        ("0099", ["upgrade"], 1, NEWER),
        ("0099", ["current"], 0, "0099 (unknown to this release, at {head}: a newer release migrated it)"),
        ("0099", ["serve", "--port", "1"], 1, NEWER),
        ("0099", ["downgrade", "0012"], 1, NEWER),
        ("head", ["downgrade", "9999"], 1, "cannot downgrade to '9999': no revision of this release has that name"),
        ("head", ["downgrade", "base"], 1, "cannot downgrade to 'base': no revision of this release has that name"),
        ("head", ["downgrade", "head"], 1, "the database is at revision {head}, not past {head}: nothing to undo"),
        ("0012", ["downgrade", "0012"], 1, "the database is at revision 0012, not past 0012: nothing to undo"),
        ("0012", ["downgrade", "0013"], 1, "the database is at revision 0012, not past 0013: nothing to undo"),
        (None, ["downgrade", "0012"], 1, "the database is at revision none, not past 0012: nothing to undo"),
        ("head", ["downgrade", "0012"], 0, "schema at revision 0012"),
    ],
)
def test_db_commands_say_in_one_line_where_the_schema_is(tmp_path, stored, command, code, says):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    (tmp_path / "g.db").touch()  # an empty database: never migrated
    if stored is not None:
        db.upgrade(url, "head" if stored == "0099" else stored)
    if stored == "0099":
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        engine.dispose()
    argv = [GRAFEAS_PY, *(command if command[0] == "serve" else ["db", *command])]
    result = subprocess.run(argv, env=_env(url), capture_output=True, text=True, timeout=120)
    output = (result.stdout if code == 0 else result.stderr).strip()
    assert result.returncode == code and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(output.splitlines()) == 1 and says.format(head=db.head()) in output, output


@pytest.mark.parametrize("revision", ["", " "])
def test_db_upgrade_to_an_empty_revision_is_a_usage_error(tmp_path, revision):
    """`db upgrade "$TARGET"` with TARGET unset: Alembic's AssertionError, a traceback and exit 1."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    result = subprocess.run([GRAFEAS_PY, "db", "upgrade", revision], env=_env(url), capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.endswith("Error: Invalid value for REVISION: is empty; leave it out to upgrade to head\n")


@pytest.mark.parametrize(
    "command",
    [
        ["db", "current"],
        ["db", "check"],
        ["db", "downgrade", "0012"],
        ["auth", "bindings"],
        ["auth", "token", "list"],
        ["audit", "verify"],
    ],
)
def test_commands_on_a_mistyped_sqlite_path_create_no_database(tmp_path, command):
    """`db current` and `db check` at a path with no database made an empty one there, and said it was never
    migrated (as did the `auth` and `audit` commands); `db upgrade` still makes the database, as a first run
    does."""
    missing = tmp_path / "grafeas.db"
    for url in (f"sqlite:///{missing}", f"sqlite:///file:{missing}?mode=rw&uri=true"):
        result = subprocess.run([GRAFEAS_PY, *command], env=_env(url), capture_output=True, text=True)
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert result.stderr == f"Error: no database at {missing}: 'grafeas-py db upgrade' makes one\n"
        assert not missing.exists()
    made = subprocess.run([GRAFEAS_PY, "db", "upgrade"], env=_env(f"sqlite:///{missing}"), capture_output=True)
    assert made.returncode == 0 and missing.exists(), made.stderr


def _no_such_database() -> str:
    """POSTGRES_URL's server, naming a database that is not there, with a password (which trust ignores)."""
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL).set(database="grafeas_py_no_such_database", password="hunter2")
    return url.render_as_string(hide_password=False)


# A setting that cannot work: (environment, exit status, the message's start); {tmp} and {port} are filled in.
_BAD_SETTINGS = {
    "a missing directory": (
        {"GRAFEAS_DATABASE_URL": "sqlite:///{tmp}/missing/grafeas.db"},
        1,
        "cannot connect to the database at sqlite:///{tmp}/missing/grafeas.db: unable to open database file",
    ),
    "a URL that does not parse": (
        {"GRAFEAS_DATABASE_URL": "postgresql://ci:hunter2@db:port/grafeas"},
        2,
        "bad configuration: GRAFEAS_DATABASE_URL=postgresql://ci:***@db:port/grafeas is not a database URL",
    ),
    "MySQL": (
        {"GRAFEAS_DATABASE_URL": "mysql://ci:hunter2@127.0.0.1/grafeas"},
        2,
        "bad configuration: GRAFEAS_DATABASE_URL=mysql://ci:***@127.0.0.1/grafeas: grafeas-py runs on SQLite",
    ),
    "a closed port": (
        {"GRAFEAS_DATABASE_URL": "postgresql://ci:hunter2@127.0.0.1:{port}/grafeas"},
        1,
        "cannot connect to the database at postgresql://ci:***@127.0.0.1:{port}/grafeas: connection failed",
    ),
    "a pool size that is not a number": (
        {"GRAFEAS_DB_POOL_SIZE": "abc"},
        2,
        "bad configuration: GRAFEAS_DB_POOL_SIZE must be a whole number, not 'abc'",
    ),
    "a pool of no connections": (
        {"GRAFEAS_DB_POOL_SIZE": "0"},
        2,
        "bad configuration: GRAFEAS_DB_POOL_SIZE must be 1 or more, not 0",
    ),
    "no threads": (
        {"GRAFEAS_THREADS": "-1"},
        2,
        "bad configuration: GRAFEAS_THREADS must be 1 or more, not -1",
    ),
    "an in-memory SQLite database": (
        {"GRAFEAS_DATABASE_URL": "sqlite://"},
        2,
        "bad configuration: GRAFEAS_DATABASE_URL=sqlite://: an in-memory SQLite database is one per worker process",
    ),
    "a TTL that is not finite": (
        {"GRAFEAS_BINDINGS_TTL": "nan"},
        2,
        "bad configuration: GRAFEAS_BINDINGS_TTL must be a finite number, not 'nan'",
    ),
    "a body limit with a unit": (
        {"GRAFEAS_MAX_BODY_BYTES": "32M"},
        2,
        "bad configuration: GRAFEAS_MAX_BODY_BYTES must be a whole number, not '32M'",
    ),
}
_NO_SUCH_DATABASE = pytest.param(
    "a database that does not exist",
    marks=pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)"),
)


@pytest.mark.parametrize("case", [*_BAD_SETTINGS, _NO_SUCH_DATABASE])
@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"], ["auth", "token", "list"]])
def test_a_setting_that_cannot_work_is_one_line_naming_it(tmp_path, case, command):
    if case == "a database that does not exist":
        url = _no_such_database()
        env, status, message = {"GRAFEAS_DATABASE_URL": url}, 1, "cannot connect to the database at "
        message += url.replace(":hunter2@", ":***@") + ": connection failed"
    else:
        env, status, message = _BAD_SETTINGS[case]
        fill = {"tmp": tmp_path, "port": _free_port()}
        env, message = {k: v.format(**fill) for k, v in env.items()}, message.format(**fill)
    if case == "a missing directory" and command[0] == "auth":  # only serve and db upgrade make a database
        message = f"no database at {tmp_path}/missing/grafeas.db: 'grafeas-py db upgrade' makes one"
    env = {**_env(f"sqlite:///{tmp_path / 'grafeas.db'}"), **env}
    if command == ["serve"]:
        command = ["serve", "--port", str(_free_port())]  # were it to start after all
    result = subprocess.run([GRAFEAS_PY, *command], env=env, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (status, ""), result.stderr[-3000:]
    assert result.stderr.startswith(f"Error: {message}") and result.stderr.count("\n") == 1, result.stderr[-3000:]
    assert "hunter2" not in result.stderr


# How a SQLite database comes to be one grafeas-py cannot write: (the URL naming it, what is made unwritable,
# why the messages say). {db} is the file.
_READ_ONLY = {
    "mode=ro in the URL": (
        "sqlite:///file:{db}?mode=ro&uri=true",
        None,
        "the file, or its -wal or -shm file beside it, is read-only (their permissions, a read-only mount, or"
        " mode=ro in the URL)",
    ),
    "a read-only file": (
        "sqlite:///{db}",
        "file",
        "the file, or its -wal or -shm file beside it, is read-only (their permissions, a read-only mount, or"
        " mode=ro in the URL)",
    ),
    "a directory it cannot write to": (
        "sqlite:///{db}",
        "directory",
        "its directory is not writable, so SQLite cannot make the -wal and -shm files beside it",
    ),
}


@pytest.mark.parametrize("how", _READ_ONLY)
@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["serve", "--no-migrate"],
        "deploy/gunicorn.conf.py",
        ["db", "upgrade"],
        ["auth", "token", "create", "ci"],
    ],
)
def test_a_sqlite_database_that_cannot_be_written_stops_the_start_in_one_line(tmp_path, how, command):
    """The server started, answered /readyz, and failed every write with a 503 to retry later, which CI jobs
    did for good; `db upgrade` and the commands that write ended in a traceback. Commands that only read it
    still do."""
    directory = tmp_path / "data"
    directory.mkdir()
    database = directory / "grafeas.db"
    db.upgrade(f"sqlite:///{database}")
    assert not list(directory.glob("grafeas.db-*"))  # closed: no -wal or -shm file left to write to
    template, made_unwritable, reason = _READ_ONLY[how]
    url = template.format(db=database)
    port = _free_port()
    env = {**_env(url), "GRAFEAS_BIND": f"127.0.0.1:{port}"}
    if command == "deploy/gunicorn.conf.py":
        command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
    else:
        command = [GRAFEAS_PY, *command, *(["--port", str(port)] if command[0] == "serve" else [])]
    target = {"file": database, "directory": directory}.get(made_unwritable)
    with unwritable(target) if target else nullcontext():
        result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        current = subprocess.run([GRAFEAS_PY, "db", "current"], env=env, capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr[-3000:]
    assert result.stderr == f"Error: cannot write to the database at {url}: {reason}\n"
    if made_unwritable != "directory":  # there SQLite cannot read it either: its -shm file is needed for that
        assert (current.returncode, current.stdout) == (0, f"{db.head()} (head)\n"), current.stderr


def test_version():
    out = subprocess.run([GRAFEAS_PY, "--version"], capture_output=True, text=True).stdout
    assert out.startswith("grafeas-py, version ")


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One response from a keep-alive connection, by its Content-Length: (status, body); (0, b"")
    if the server closed the connection instead."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, b""
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), body


def test_a_refused_request_with_a_large_body_keeps_its_connection_usable(tmp_path, worker_id):
    """gunicorn drains at most 64 KiB of a body the app did not read, then closes the connection it
    answered with keep-alive; the client's next request on it would fail."""
    url, port = _fresh_url(tmp_path, worker_id), _free_port()
    body = json.dumps({"shortDescription": "x" * 200_000}).encode()
    refused = {
        405: b"PUT /v1/projects/p/notes HTTP/1.1",  # a method the route does not take
        404: b"POST /v1/nowhere HTTP/1.1",
        400: b"POST /v1/projects/p/notes?noteId=a%2Fb HTTP/1.1",  # an id with a slash
    }
    with _serving([GRAFEAS_PY, "serve", "--port", str(port), "--workers", "1"], _env(url), port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for status, line in refused.items():
                headers = b"Host: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                sock.sendall(line + b"\r\n" + headers + body)
                assert _read_response(sock)[0] == status
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert _read_response(sock)[0] == 200, f"the connection did not survive a {status}"
