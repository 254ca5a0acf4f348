"""`grafeas-py` as a CI client: notes, occurrences, report ingestion and gate checks against a server.

The server is `--url` (or GRAFEAS_URL); a bearer token comes from `--token` (or GRAFEAS_TOKEN).
Exit codes a pipeline can rely on: 0 done; 1 the server refused the request (4xx: the message says
why) or, for `ingest`, some items failed; 2 bad usage; 3 the server could not be reached or failed
(5xx). `gate check` has its own: 0 allow, 1 deny, 2 error.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import sys
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import click
import requests
import yaml
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, InvalidHeader, ProxyError
from urllib3.util.retry import Retry

from .config import masked_url
from .names import IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_RULE

EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE = 1, 2, 3
BATCH = 1000
# Bytes of JSON per ingest batch: half the server's default body limit (GRAFEAS_MAX_BODY_BYTES, 32 MiB),
# for what the request adds around them. A report of large findings (long descriptions, big DSSE
# envelopes) went in batches of 1000 that the server refused as too large, every time it was sent.
BATCH_BYTES = 16 * 1024 * 1024
ABORTED_ATTEMPTS = 5  # sends of one ingest batch the server answers ABORTED before the job gives up
INGEST_COUNTS = ("created", "updated", "unchanged", "notesCreated")  # what an ingest batch's answer counts


class ClientError(Exception):
    """A request that did not succeed: `status` is the HTTP status, 0 when no Grafeas server answered it;
    `reason` the API error's status name (e.g. "ABORTED"), empty when none was given."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason

    @property
    def exit_code(self) -> int:
        return EXIT_REFUSED if 400 <= self.status < 500 else EXIT_UNAVAILABLE


class _Retry(Retry):
    """urllib3's Retry, but waiting at most `LONGEST_WAIT` seconds for a Retry-After, and using its own
    backoff where a Retry-After cannot be read: a proxy's "come back in an hour" held a CI job for the
    hour, and "Retry-After: soon" ended it as a server that cannot be reached."""

    LONGEST_WAIT = 5.0

    @staticmethod
    def may_have_deleted(retries: Retry) -> bool:
        """Whether an earlier attempt may have reached the server: answered 502-504 (by a proxy, perhaps after
        the server acted), or cut off after connecting. One whose connection was refused or timed out never
        left, and a 404 after it is what it says: there was nothing to delete."""
        for attempt in retries.history:
            error = attempt.error.original_error if isinstance(attempt.error, ProxyError) else attempt.error
            if attempt.status in (502, 503, 504) or (error is not None and not isinstance(error, ConnectTimeoutError)):
                return True
        return False

    def get_retry_after(self, response) -> float | None:
        try:
            seconds = super().get_retry_after(response)
        except InvalidHeader:
            return None
        return None if seconds is None else min(seconds, self.LONGEST_WAIT)


def _not_the_api(r: requests.Response, expected: str) -> ClientError:
    """An answer no Grafeas server gives (status 0: exit 3, as for a server that cannot be reached)."""
    kind = r.headers.get("Content-Type", "no Content-Type").split(";")[0]
    answered = f"the server answered {r.status_code} with {kind}, not {expected}"
    return ClientError(0, f"{answered}: is --url the Grafeas server?")


class Client:
    """A thin JSON client for the server's REST API, retrying what is safe to retry."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        parts = urllib.parse.urlsplit(self.url)
        # The "user:password@" of --url, and how messages show it: a CI log keeps what they say.
        self._userinfo = f"{parts.username}:{parts.password}@" if parts.password is not None else None
        # (connect, read): an address that drops packets would otherwise take the full wait at each retry.
        self.timeout = (min(timeout, 10.0), timeout)
        self.session = requests.Session()
        # Reads, deletes and ingestion (idempotent by key) are retried on connection errors and 502-504;
        # calls that are not safe to repeat pass retry=False.
        retry = _Retry(
            total=4,
            backoff_factor=0.3,
            status_forcelist=(502, 503, 504),
            allowed_methods={"GET", "DELETE", "PUT", "POST"},
            raise_on_status=False,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, *, retry: bool = True, headers: dict | None = None, **kwargs) -> dict:
        """The JSON answer to one request; ClientError with the server's message otherwise."""
        session = self.session if retry else requests
        headers = {**self.session.headers, **(headers or {})} if not retry else headers
        try:
            # Redirects are not followed: requests would resend a POST as a GET and print what that answers.
            r = session.request(
                method, self.url + path, timeout=self.timeout, headers=headers, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            raise ClientError(0, self._redact(f"cannot reach {self.url}: {exc}")) from None
        if r.is_redirect:
            raise ClientError(0, self._redact(self._redirected(r)))
        if r.status_code == 404 and method == "DELETE" and r.raw.retries and _Retry.may_have_deleted(r.raw.retries):
            # Only after an attempt that may have reached the server and whose answer was lost (a proxy's 502,
            # a dropped connection): what was to be deleted is gone either way.
            return {}
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if not isinstance(error, dict):  # not the API's error shape: no Grafeas server refused it
                raise _not_the_api(r, "an API error")
            reason = error.get("status") if isinstance(error.get("status"), str) else ""
            raise ClientError(r.status_code, f"{r.status_code} {error.get('message')}", reason)
        if not isinstance(body, dict):
            raise _not_the_api(r, "a JSON object")
        return body

    def _redact(self, message: str) -> str:
        """`message` with the password of --url, wherever it shows, replaced by ***."""
        if self._userinfo is None:
            return message
        return message.replace(self._userinfo, f"{self._userinfo.split(':', 1)[0]}:***@")

    def _redirected(self, r: requests.Response) -> str:
        """Why a redirect is an error, and the --url that needs none when the Location says."""
        location = urljoin(r.url, r.headers["Location"])
        asked = r.url[len(self.url) :]
        hint = f": use --url {location.removesuffix(asked)}" if location.endswith(asked) and location != r.url else ""
        shown = f"Location {masked_url(location)}; redirects are not followed{masked_url(hint)}"
        return f"the server answered {r.status_code} {r.reason}, {shown}"

    def pages(self, path: str, key: str, params: dict, limit: int | None = None) -> Iterator[dict]:
        """Every item of a list, or the first `limit`, following nextPageToken."""
        params, count = dict(params), 0
        while limit is None or count < limit:
            body = self.call("GET", path, params=params)
            for item in body.get(key, [])[: None if limit is None else limit - count]:
                yield item
                count += 1
            token = body.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token


# ---- plumbing ------------------------------------------------------------------------------


def _run(action):
    """Run `action`, turning a ClientError into its message and exit code."""
    try:
        return action()
    except ClientError as exc:
        click.echo(f"error: {printable(exc.message)}", err=True)
        sys.exit(exc.exit_code)


class _YamlLoader(yaml.SafeLoader):
    """YAML that reads a date as the text it is written as (JSON has no dates, the API takes RFC 3339 text),
    and takes no aliases: a few hundred bytes of aliases to aliases expand to gigabytes."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted", self.peek_event().start_mark
            )
        return super().compose_node(parent, index)


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _typed_scalar(tag: str):
    """PyYAML's constructor of `tag`, failing as YAML does: `!!int abc`, `!!bool maybe` or an integer of
    5000 digits raised ValueError, KeyError or IndexError out of the loader, a traceback."""
    construct = yaml.SafeLoader.yaml_constructors[f"tag:yaml.org,2002:{tag}"]

    def constructor(loader, node):
        try:
            return construct(loader, node)
        except (ValueError, KeyError, IndexError, AttributeError):
            text = str(node.value)
            shown = repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text)} characters)"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown} as !!{tag}", node.start_mark
            ) from None

    return constructor


for _tag in ("int", "float", "bool", "timestamp"):
    _YamlLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _typed_scalar(_tag))


def _json_int(text: str) -> int:
    """An integer of a JSON document; Python reads at most 4300 digits, and says so in terms of its own."""
    if len(text.lstrip("-")) > 4300:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits is too long")
    return int(text)


def _read_document(path: str) -> dict:
    """A JSON or YAML object from a file ('-' for standard input)."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint="--file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"{path} is not UTF-8 (at byte {exc.start}): save it as UTF-8"
        raise click.BadParameter(message, param_hint="--file") from None
    try:
        doc = json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise click.BadParameter(f"{path} is not valid JSON or YAML: nested too deeply", param_hint="--file") from None
    except ValueError as not_json:
        # JSON is YAML too, but not all of it: YAML refuses the tabs of `jq --tab`.
        try:
            doc = yaml.load(text, Loader=_YamlLoader)
        except RecursionError:
            raise click.BadParameter(f"{path} is not valid YAML: nested too deeply", param_hint="--file") from None
        except yaml.YAMLError as exc:
            reason = not_json if text.lstrip().startswith(("{", "[")) else exc
            raise click.BadParameter(f"{path} is not valid JSON or YAML: {reason}", param_hint="--file") from None
    if not isinstance(doc, dict):
        raise click.BadParameter(f"{path} must hold a JSON or YAML object", param_hint="--file")
    try:
        json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(f"{path} holds a value JSON has no form for: {exc}", param_hint="--file") from None
    return doc


COLUMNS = {
    "notes": ("name", "kind", "shortDescription"),
    "occurrences": ("name", "kind", "resourceUri", "noteName"),
}


def _emit(value, output: str, collection: str | None = None) -> None:
    """Print a resource or a list as JSON, YAML or a table."""
    if output == "json":
        _print(json.dumps(value, indent=2, ensure_ascii=False))
    elif output == "yaml":
        _print(yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip())
    else:
        rows = value if isinstance(value, list) else [value]
        columns = COLUMNS.get(collection or "", ("name",))
        table = [columns] + [tuple(_cell(row.get(c, "")) for c in columns) for row in rows]
        widths = [max(_width(r[i]) for r in table) for i in range(len(columns))]
        for row in table:
            click.echo("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=True)).rstrip())


def _print(text: str) -> None:
    """`text` and a newline on standard output. Written here, a piece at a time, so that a reader gone midway
    (`| head -1`) is a BrokenPipeError (exit 141): Python's buffered stream reported one large write that the
    closed pipe cut short as written in full, and the command exited 0, its output lost."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture): nothing is cut short there
        click.echo(text)
        return
    sys.stdout.flush()
    data = memoryview((text + "\n").encode(sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict"))
    while data:
        data = data[os.write(fd, data) :]


def _cell(value) -> str:
    """A value as table text: control characters escaped (\\n, \\t), so that a row stays one line."""
    return printable(str(value))


def printable(value: str) -> str:
    """A value with its control characters escaped (\\n, \\x1b): ids may hold them, and printed raw they
    would move the cursor or fake lines of a listing."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in value)


def _width(text: str) -> int:
    """The columns a terminal gives `text`: two for a wide (CJK) character, none for a combining one."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _name(value: str, collection: str) -> tuple[str, str]:
    """(project, id) of `projects/P/{collection}/ID`."""
    parts = value.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != collection or not parts[1] or not parts[3]:
        raise click.BadParameter(f"expected projects/PROJECT/{collection}/ID, got {value!r}")
    return parts[1], parts[3]


def _project(ctx, param, value: str | None) -> str | None:
    """A project id: one segment of a name, not empty."""
    if value is not None and (not value or "/" in value):
        raise click.BadParameter(f"expected a project id, got {value!r}", param=param)
    return value


def _quote(segment: str) -> str:
    return requests.utils.quote(segment, safe="")


def _idempotency_key(ctx, param, value: str | None) -> str | None:
    """A key that fits a header: an empty one (a CI variable left unset) would silently be a random key."""
    if value is not None and not IDEMPOTENCY_KEY.fullmatch(value):
        raise click.BadParameter(f"give a key of {IDEMPOTENCY_KEY_RULE}, as the server takes", param=param)
    return value


def idempotency_option(f):
    """--idempotency-key: what makes a create safe to retry, here and when the CI job runs again."""
    return click.option(
        "--idempotency-key",
        default=None,
        callback=_idempotency_key,
        help="Sent as Idempotency-Key: give the same value when the job runs again to create nothing twice "
        "[default: a new random key, so that this command's own retries are safe].",
    )(f)


def _once(key: str | None) -> dict:
    """The headers of a create that may be retried."""
    return {"Idempotency-Key": key or str(uuid.uuid4())}


output_option = click.option(
    "--output", "-o", type=click.Choice(["json", "yaml", "table"]), default="json", show_default=True
)


def _token(ctx, param, value: str | None) -> str | None:
    """The token without the spaces or newline around it (a secret file ends with one); others are refused."""
    token = (value or "").strip()
    if token and not (token.isascii() and token.isprintable() and " " not in token):
        # Not shown: it is a secret.
        raise click.BadParameter("the token holds spaces, control or non-ASCII characters", param=param)
    return token or None


def _url(ctx, param, value: str) -> str:
    """An http(s) URL with a host: anything else is bad usage, not a server that cannot be reached (exit 3).
    Without the whitespace around it, as a token (a secret file ends with a newline)."""
    value = value.strip()
    shown = masked_url(value)  # not its password
    if any(c.isspace() or not c.isprintable() for c in value):
        raise click.BadParameter(f"{shown!r} holds whitespace or control characters", param=param)
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018  # a port that is not a number raises here
    except ValueError as exc:
        raise click.BadParameter(f"{shown!r} is not a URL: {masked_url(str(exc))}", param=param) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"expected http://HOST[:PORT] or https://..., got {shown!r}", param=param)
    if "?" in value or "#" in value:
        # The API's paths are appended: they would end up in the query or the fragment, and go unsent.
        raise click.BadParameter(
            f"{shown!r} has a query or a fragment (?... or #...): give http(s)://HOST[:PORT][/PATH]", param=param
        )
    return value


def client_options(f):
    f = click.option("--token", envvar="GRAFEAS_TOKEN", callback=_token, help="Bearer token [env GRAFEAS_TOKEN].")(f)
    f = click.option(
        "--url",
        envvar="GRAFEAS_URL",
        default="http://127.0.0.1:8080",
        show_default=True,
        callback=_url,
        help="[env GRAFEAS_URL]",
    )(f)
    return f


LONGEST_TIMEOUT = 86400.0  # a day: no answer is worth waiting longer for, and inf or 1e308 crashed the client


def _timeout(ctx, param, value: float) -> float:
    """A number of seconds within (0, LONGEST_TIMEOUT]: NaN passes click's range check, every comparison being false."""
    if math.isnan(value):
        raise click.BadParameter(f"expected a number of seconds, got {value}", param=param)
    return value


timeout_option = click.option(
    "--timeout",
    envvar="GRAFEAS_TIMEOUT",
    type=click.FloatRange(min=0, max=LONGEST_TIMEOUT, min_open=True),
    callback=_timeout,
    default=60.0,
    show_default=True,
    help="Seconds to wait for each answer of the server [env GRAFEAS_TIMEOUT].",
)


def with_client(f):
    """Give a command --url, --token and --timeout, and hand it a `client` built from them."""

    @functools.wraps(f)
    def wrapper(url, token, timeout, **kwargs):
        return f(client=Client(url, token, timeout), **kwargs)

    return client_options(timeout_option(wrapper))


# ---- notes and occurrences -----------------------------------------------------------------


@click.group()
def notes():
    """Create, read, list and delete notes on a server."""


@notes.command("create")
@click.argument("name")
@click.option("--file", "-f", "path", required=True, help="The note as JSON or YAML ('-': standard input).")
@output_option
@with_client
def notes_create(client, name, path, output):
    """Create the note NAME (projects/P/notes/ID)."""
    project, note_id = _name(name, "notes")
    body = _read_document(path)
    path_ = f"/v1/projects/{_quote(project)}/notes"
    created = _run(lambda: client.call("POST", path_, params={"noteId": note_id}, json=body, retry=False))
    _emit(created, output, "notes")


@notes.command("get")
@click.argument("name")
@output_option
@with_client
def notes_get(client, name, output):
    """Print the note NAME."""
    project, note_id = _name(name, "notes")
    path = f"/v1/projects/{_quote(project)}/notes/{_quote(note_id)}"
    _emit(_run(lambda: client.call("GET", path)), output, "notes")


@notes.command("list")
@click.argument("project", callback=_project)
@click.option("--filter", "filter_", default="", help='AIP-160 filter, e.g. kind="VULNERABILITY".')
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many.")
@output_option
@with_client
def notes_list(client, project, filter_, limit, output):
    """List the notes of PROJECT."""
    path = f"/v1/projects/{_quote(project)}/notes"
    items = _run(lambda: list(client.pages(path, "notes", {"filter": filter_, "pageSize": 1000}, limit)))
    _emit(items, output, "notes")


@notes.command("delete")
@click.argument("name")
@with_client
def notes_delete(client, name):
    """Delete the note NAME."""
    project, note_id = _name(name, "notes")
    _run(lambda: client.call("DELETE", f"/v1/projects/{_quote(project)}/notes/{_quote(note_id)}"))


@click.group()
def occurrences():
    """Create, read, list and delete occurrences on a server."""


@occurrences.command("create")
@click.argument("project", callback=_project)
@click.option("--file", "-f", "path", required=True, help="The occurrence as JSON or YAML ('-': standard input).")
@idempotency_option
@output_option
@with_client
def occurrences_create(client, project, path, idempotency_key, output):
    """Create an occurrence in PROJECT; prints it with its server-assigned name."""
    body = _read_document(path)
    path_ = f"/v1/projects/{_quote(project)}/occurrences"
    # Retried like a read: with the key, a create that reached the server is not made twice.
    _emit(_run(lambda: client.call("POST", path_, json=body, headers=_once(idempotency_key))), output, "occurrences")


@occurrences.command("get")
@click.argument("name")
@output_option
@with_client
def occurrences_get(client, name, output):
    """Print the occurrence NAME (projects/P/occurrences/ID)."""
    project, occurrence_id = _name(name, "occurrences")
    path = f"/v1/projects/{_quote(project)}/occurrences/{_quote(occurrence_id)}"
    _emit(_run(lambda: client.call("GET", path)), output, "occurrences")


@occurrences.command("list")
@click.argument("project", callback=_project)
@click.option("--filter", "filter_", default="", help='AIP-160 filter, e.g. resourceUrl="https://..."')
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many.")
@output_option
@with_client
def occurrences_list(client, project, filter_, limit, output):
    """List the occurrences of PROJECT."""
    path = f"/v1/projects/{_quote(project)}/occurrences"
    params = {"filter": filter_, "pageSize": 1000}
    _emit(_run(lambda: list(client.pages(path, "occurrences", params, limit))), output, "occurrences")


@occurrences.command("delete")
@click.argument("name")
@with_client
def occurrences_delete(client, name):
    """Delete the occurrence NAME."""
    project, occurrence_id = _name(name, "occurrences")
    path = f"/v1/projects/{_quote(project)}/occurrences/{_quote(occurrence_id)}"
    _run(lambda: client.call("DELETE", path))


# ---- ingestion -----------------------------------------------------------------------------


@click.command()
@click.argument("format_", metavar="FORMAT")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--project", required=True, callback=_project, help="Project the occurrences go to.")
@click.option("--resource", required=True, help="The artifact the report is about (its resource URI).")
@click.option(
    "--note-project",
    default=None,
    callback=_project,
    help="Project of the notes the report needs [default: --project].",
)
@click.option(
    "--suite",
    default=None,
    help="junit: the test suite the report is of; the gate counts the newest result of each suite "
    "[default: the set of tests the report holds].",
)
@client_options
def ingest(format_, path, project, resource, note_project, suite, url, token):
    """Ingest a report FILE of FORMAT (trivy, grype, clair, spdx, cyclonedx, slsa, junit, dsse, openvex, csaf).

    The report is parsed here first, so a malformed one is refused with the place of the problem and
    nothing is sent. It then goes in batches of at most 1000, a scan's record of itself last; each
    occurrence carries an idempotency key, so running the same command again (say after a dropped
    connection) creates nothing twice, and a finding reported again with other content (a rescan) is
    updated. A batch the server refuses ends the command, the rest unsent.
    """
    import datetime as dt

    from .errors import ApiError
    from .ingest import FORMATS, parse_report

    if format_ not in FORMATS:
        raise click.BadParameter(f"FORMAT must be one of {', '.join(FORMATS)}", param_hint="FORMAT")
    if suite is not None:
        from .ingest.junit import check_suite

        if format_ != "junit":
            raise click.BadParameter("only a junit report is of a test suite", param_hint="--suite")
        try:
            check_suite(suite)
        except ApiError as exc:
            raise click.BadParameter(exc.message, param_hint="--suite") from None
    raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        plan = parse_report(
            format_,
            raw,
            resource_uri=resource,
            project=project,
            note_project=project if note_project is None else note_project,
            now=dt.datetime.now(dt.UTC),
            suite=suite,
        )
    except ApiError as exc:
        click.echo(f"error: {printable(path)}: {printable(exc.message)}", err=True)
        sys.exit(EXIT_REFUSED)
    client = Client(url, token)
    totals = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0, "notesCreated": 0}
    target = f"/v1/projects/{_quote(project)}/occurrences:ingest"
    sent, exit_code = 0, 0
    with click.progressbar(length=len(plan.occurrences), label="ingesting", file=sys.stderr) as bar:
        for notes, items in _plan_batches(plan):
            body = {"notes": notes, "occurrences": [_planned(item) for item in items]}
            try:
                answer = _send_batch(client, target, body)
            except ClientError as exc:
                # The rest is not sent: the plan ends with the scan's DISCOVERY, and a scan recorded as done
                # with some of its findings refused would let the gate allow what they would have denied.
                unsent = len(plan.occurrences) - sent - len(items)
                # Running it again helps when the server could not be reached, not when it refused the batch.
                again = ", run the command again to send them" if exc.exit_code == EXIT_UNAVAILABLE else ""
                rest = f"; the other {unsent} were not sent{again}" if unsent else ""
                batch = f"{len(items)} occurrences" if items else f"{len(notes)} notes"
                click.echo(f"\nerror: a batch of {batch} failed: {printable(exc.message)}{rest}", err=True)
                totals["failed"] += len(plan.occurrences) - sent
                exit_code = exc.exit_code
                break
            for key in INGEST_COUNTS:
                totals[key] += answer[key]
            sent += len(items)
            bar.update(len(items))
    click.echo(
        f"{plan.format} report for {resource}: {totals['created']} created, {totals['updated']} updated, "
        f"{totals['unchanged']} unchanged, {totals['failed']} failed; {totals['notesCreated']} "
        f"note{'' if totals['notesCreated'] == 1 else 's'} created"
    )
    sys.exit(exit_code)


def _send_batch(client: Client, target: str, body: dict) -> dict:
    """The server's answer to one ingest batch, sent again while it answers ABORTED: another job wrote some
    of the same notes or occurrences meanwhile, and a batch is idempotent by key, so sending it again is safe."""
    for attempt in range(1, ABORTED_ATTEMPTS + 1):
        try:
            answer = client.call("POST", target, params={"format": "plan"}, json=body)
        except ClientError as exc:
            if exc.reason != "ABORTED" or attempt == ABORTED_ATTEMPTS:
                raise
        else:
            if not all(type(answer.get(key)) is int for key in INGEST_COUNTS):
                # As for an answer that is not JSON (exit 3): no Grafeas server answers so.
                raise ClientError(0, "the server's answer is not an ingest result: is --url the Grafeas server?")
            return answer
        time.sleep(random.uniform(0.1, 0.3) * 2**attempt)  # jittered: two jobs that collided fall out of step
    raise AssertionError("unreachable")


def _planned(item) -> dict:
    """One occurrence of a plan batch, as the server's `format=plan` reads it."""
    planned = {"key": item.key, "occurrence": item.body}
    if item.legacy_key:  # the finding's key in earlier versions: what they stored is updated, not duplicated
        planned["legacyKey"] = item.legacy_key
    return planned


def _plan_batches(plan):
    """(notes, occurrences) batches of at most 1000 each and about BATCH_BYTES of JSON; each batch brings the
    notes it uses."""
    from .ingest.vex import in_batch_order

    used = {item.body["noteName"] for item in plan.occurrences}
    spare = [name for name in in_batch_order(plan.notes) if name not in used]  # e.g. VEX assessments

    def note_size(name: str) -> int:
        return _json_size({name: plan.notes[name]}) if name in plan.notes else 0

    for names in _bounded(spare, note_size):
        yield {name: plan.notes[name] for name in names}, []

    def size(item) -> int:  # as sent, with its note, which the batch may have to bring too
        return _json_size(_planned(item)) + note_size(item.body["noteName"])

    for items in _bounded(plan.occurrences, size):
        names = dict.fromkeys(item.body["noteName"] for item in items)
        yield {name: plan.notes[name] for name in names if name in plan.notes}, items


def _bounded(values: list, size) -> Iterator[list]:
    """`values` in order, in runs of at most BATCH whose `size`s add up to at most BATCH_BYTES (a value larger
    than that alone goes alone, for the server to refuse by name)."""
    run, total = [], 0
    for value in values:
        weight = size(value)
        if run and (len(run) == BATCH or total + weight > BATCH_BYTES):
            yield run
            run, total = [], 0
        run.append(value)
        total += weight
    if run:
        yield run


def _json_size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


# ---- the deploy gate -----------------------------------------------------------------------


@click.group()
def gate():
    """Ask the deploy gate about an artifact."""


@gate.command("check")
@client_options
@timeout_option
@click.option("--project", required=True, callback=_project, help="Project of the policy.")
@click.option("--policy", required=True, help="Policy id (or projects/P/policies/ID).")
@click.option("--resource", required=True, help="The artifact's resource URI, by digest.")
@click.option("--breakglass", default=None, help="Justification for overriding a denial (it is recorded).")
@output_option
def gate_check(url, token, timeout, project, policy, resource, breakglass, output):
    """Evaluate RESOURCE against a policy: exit 0 on allow, 1 on deny, 2 on error; reasons are printed."""
    if policy.startswith("projects/"):
        parts = policy.split("/")
        if len(parts) != 4 or parts[2] != "policies":
            raise click.BadParameter("expected a policy id or projects/P/policies/ID", param_hint="--policy")
        project, policy = parts[1], parts[3]
    if not project or not policy or "/" in policy:
        raise click.BadParameter("expected a policy id or projects/P/policies/ID", param_hint="--policy")
    body = {"resourceUri": resource}
    if breakglass is not None:  # "" too: the server refuses a breakglass without a justification
        body["breakglass"] = {"justification": breakglass}
    try:
        # Not retried: every evaluation is recorded, and a retried one would be recorded twice.
        decision = Client(url, token, timeout).call(
            "POST", f"/v1/projects/{_quote(project)}/policies/{_quote(policy)}:evaluate", json=body, retry=False
        )
    except ClientError as exc:
        click.echo(f"error: {printable(exc.message)}", err=True)
        sys.exit(2)
    verdict = _verdict(decision)
    if verdict is None:
        # Fails closed: an answer read as a decision it is not could let an artifact through.
        click.echo(
            "error: the server's answer is not a decision (allowed true with decision ALLOW or ALLOW_WITH_WARNINGS,"
            " or false with DENY): is --url the Grafeas server?",
            err=True,
        )
        sys.exit(2)
    try:
        if output != "table":
            _emit(decision, output)
        else:
            # Escaped: a message quotes what reports said (a package's name), which must not fake a line of
            # the CI log ("ALLOW: ...") or a CI runner's workflow command.
            policy_rev = f"{_cell(decision.get('policy'))} rev {_cell(decision.get('policyRevision'))}"
            click.echo(f"{decision['decision']}: {printable(resource)} under {policy_rev}")
            for item in _findings(decision, "violations"):
                click.echo(f"  {_cell(item.get('mode', '')):7} {_cell(item.get('code'))}: {_cell(item.get('message'))}")
            for item in _findings(decision, "warnings"):
                label = "dryrun " if item.get("mode") == "dryrun" else "warning"  # what would have denied
                click.echo(f"  {label} {_cell(item.get('code'))}: {_cell(item.get('message'))}")
            for item in _findings(decision, "exempted"):
                click.echo(f"  exempted {_cell(item.get('code'))}: {_cell(item.get('message'))}")
            # What let it through despite the findings above, or without any check.
            if isinstance(decision.get("breakglass"), dict):
                click.echo(f"  breakglass: {_cell(decision['breakglass'].get('justification'))}")
            if decision.get("allowPattern"):
                click.echo(f"  allowed by the pattern {_cell(decision['allowPattern'])}")
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader went away: 141, as a shell reports it
    except OSError as exc:  # a full disk, say: never exit 0 (or 1, a denial) on a decision no one could read
        click.echo(f"error: could not write the decision: {exc}", err=True)
        sys.exit(2)
    sys.exit(0 if verdict else 1)


def _verdict(decision: dict) -> bool | None:
    """Whether a decision allows (True) or denies (False); None when it is not a decision the gate makes: its
    `allowed` not a boolean, or at odds with its `decision`."""
    allowed, outcome = decision.get("allowed"), decision.get("decision")
    if allowed is True and outcome in ("ALLOW", "ALLOW_WITH_WARNINGS"):
        return True
    if allowed is False and outcome == "DENY":
        return False
    return None


def _findings(decision: dict, key: str) -> list[dict]:
    """The violations or warnings of a decision, as far as they are objects."""
    items = decision.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


@click.group()
def attest():
    """Sign attestations for the deploy gate."""


@attest.command("sign")
@client_options
@timeout_option
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="PEM private key, or an ASCII-armored OpenPGP secret key (gpg --armor --export-secret-keys).",
)
@click.option("--resource", required=True, help="The artifact's resource URI, by digest.")
@click.option("--note", required=True, help="The attestor's ATTESTATION note, projects/P/notes/N.")
@click.option(
    "--project", default=None, callback=_project, help="Project the occurrence goes to [default: the note's]."
)
@click.option("--algorithm", default=None, help="Signature algorithm as the policy declares it [default: by key].")
@click.option(
    "--key-id",
    default=None,
    help="Key id as the policy declares it [default: ni:///sha-256 of the key; an OpenPGP key's fingerprint].",
)
@click.option("--password-env", default=None, help="Environment variable holding the key's password.")
@click.option("--jwt", "as_jwt", is_flag=True, help="Sign a JWT attestation (Binary Authorization's form) instead.")
@output_option
def attest_sign(
    url, token, timeout, key_path, resource, note, project, algorithm, key_id, password_env, as_jwt, output
):
    """Write a signed ATTESTATION occurrence for RESOURCE that the gate's attestation rule verifies."""

    from .errors import ApiError
    from .gate.signing import attestation_occurrence, is_pgp_secret_key, load_private_key, pgp_attestation_occurrence

    note_project, _ = _name(note, "notes")
    password = os.environ.get(password_env) if password_env else None
    if password_env and password is None:
        raise click.BadParameter(f"the environment variable {password_env} is not set", param_hint="--password-env")
    data = Path(key_path).read_bytes()
    try:
        if is_pgp_secret_key(data):
            if algorithm or as_jwt:
                raise click.UsageError("an OpenPGP key signs as gpg does: --algorithm and --jwt do not apply")
            body = pgp_attestation_occurrence(data, resource, note, password, key_id)
        else:
            key = load_private_key(data, password.encode() if password is not None else None)
            body = attestation_occurrence(key, resource, note, algorithm, key_id, as_jwt)
    except ApiError as exc:  # a key or an option that does not do: nothing was sent
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_USAGE)
    path = f"/v1/projects/{_quote(project or note_project)}/occurrences"
    # A fresh key makes this command's own retries safe; a job run again signs anew, which is another request.
    created = _run(lambda: Client(url, token, timeout).call("POST", path, json=body, headers=_once(None)))
    _emit(created, output, "occurrences")


COMMANDS = (notes, occurrences, ingest, gate, attest)
