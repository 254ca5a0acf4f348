"""HTTP plumbing shared by the views: raw-path routing, JSON bodies and proto3 JSON responses."""

from __future__ import annotations

import json
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

import orjson
from flask import Response, current_app, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import ClientDisconnected
from werkzeug.routing import BaseConverter

from ..errors import InvalidArgument, UnsupportedEncoding
from ..wire.codec import DecodeError
from ..wire.grafeas_types import CODEC
from ..wire.schema import Message


def grafeas():
    """The app's `Grafeas` service and page tokens (see `app.Extension`)."""
    return current_app.extensions["grafeas"]


class RawPathMiddleware:
    """Route on the raw request path, so that an id's `%3A` is not mistaken for a `:verb`.

    WSGI servers put the percent-decoded path in PATH_INFO; gunicorn and Werkzeug also keep the
    raw one in RAW_URI/REQUEST_URI. The `segment` converter decodes each path variable after routing.
    """

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw:
            if not raw.startswith("/"):  # absolute-form request target
                raw = urlsplit(raw).path or "/"
            path = raw.split("?", 1)[0]
            script = environ.get("SCRIPT_NAME", "")
            if script and path.startswith(script):
                path = path[len(script) :]
            environ["PATH_INFO"] = path
        return self.app(environ, start_response)


def drain_unread_body(response: Response) -> Response:
    """Read and drop what is left of a request body the view did not read (an answer given before the
    body: 401, 404, 405, a bad id), so that the connection stays usable.

    gunicorn answers such a request with keep-alive, then reads at most 64 KiB of the rest itself and
    closes the socket if there is more, under the client's next request on it (a CI job whose token
    expired lost its next call too). A body over the size limit is not read: it was refused as too
    large, and the client is still sending it."""
    length = request.content_length
    if length and length <= (current_app.config["MAX_CONTENT_LENGTH"] or length):
        try:
            while request.stream.read(65536):
                pass
        except (OSError, ClientDisconnected):  # the client went away: nothing left to keep alive
            pass
    return response


class SegmentConverter(BaseConverter):
    """One path segment, percent-decoded after matching."""

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        return quote(value, safe="")


def refuse_encoded_body() -> None:
    """A 415 for a body sent compressed (a before_request hook): read as it came, gzip was a confusing
    "not valid UTF-8", and a body merely labelled gzip was taken as plain JSON."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported: send the body uncompressed")
    # gunicorn passes `gzip, chunked` on with the body still compressed.
    transfer = [c.strip() for c in request.headers.get("Transfer-Encoding", "").lower().split(",") if c.strip()]
    if coded := [c for c in transfer if c not in ("chunked", "identity")]:
        raise UnsupportedEncoding(
            f"Transfer-Encoding {', '.join(coded)!r} is not supported: send the body uncompressed"
        )


def refuse_undecodable_url() -> None:
    """A 400 for a path or query whose percent-encoded bytes are not UTF-8 (a before_request hook): the
    path's were read as U+FFFD, so `%FE` and `%FF` named one project, and the query's were kept as
    written, so an id made from `noteId=a%FFb` could not be named again."""
    environ = request.environ
    # The path as sent, which RawPathMiddleware routes on; a server that keeps none gives it decoded already.
    path = environ.get("PATH_INFO", "") if environ.get("RAW_URI") or environ.get("REQUEST_URI") else ""
    for part, raw in (("path", path), ("query", request.query_string)):
        encoded = raw.encode("latin-1", "replace") if isinstance(raw, str) else raw  # WSGI's str holds bytes
        try:
            unquote_to_bytes(encoded).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(
                f"the request {part} is not UTF-8 once percent-decoded (byte {exc.start}); percent-encode ids as UTF-8"
            ) from None


def refuse_nul_in_path() -> None:
    """A 400 for a path variable holding NUL, on every route (a before_request hook): no database can
    store or compare it, and a view that looks it up unchecked would be a 500 on PostgreSQL."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidArgument(f"the {name} in the path must not contain the NUL character (U+0000)")


def request_body() -> bytes:
    """The whole request body; a 413 when it is over the limit (MAX_CONTENT_LENGTH).

    A body with a Content-Length over it is refused before it is read. One sent chunked has none: read up
    to the limit, it came back cut short there, and its first part was taken for the whole (a YAML policy
    lost the rules past it). Reading on from there raises the 413; a chunked body of exactly the limit is
    refused too, since what would follow it cannot be told apart."""
    try:
        raw = request.get_data(cache=False)
    except (ParseException, NoMoreData) as exc:  # gunicorn reads a chunked body as the view asks for it
        raise InvalidArgument(f"the request body is not well-formed chunked HTTP: {exc}") from None
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is None and limit is not None and len(raw) >= limit:
        request.stream.read(1)  # past the limit: RequestEntityTooLarge
    return raw


def json_body(unique_keys: bool = False, required: str | None = None) -> dict:
    """The request body as a JSON object, or a 400 saying what is wrong with it.

    orjson keeps the last of duplicate keys; `unique_keys` refuses them instead, at the price of a
    second, slower parse: for bodies where a duplicate would drop something silently. A blank body is
    `{}`, unless `required` names what the body must hold."""
    raw = request_body()
    if not raw.strip():
        if required:
            raise InvalidArgument(f"the request has no body: send {required}")
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidArgument("request body must be a JSON object")
    if unique_keys:
        try:
            json.loads(raw, object_pairs_hook=_unique_keys)
        except RecursionError:  # orjson allows 1024 levels, the json module somewhat fewer
            raise InvalidArgument("request body is nested too deeply") from None
    return body


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise InvalidArgument(f"request body is not valid: the key {twice!r} appears twice in one object")
    return found


def decode(msg: Message, value, path: str = "") -> dict:
    """Decode client JSON into a canonical document; schema errors become 400s naming the field."""
    try:
        return CODEC.decode(msg, value, path)
    except DecodeError as exc:
        raise InvalidArgument(f"invalid {path or msg.short_name}: {exc}") from None


class DecodedLazily:
    """The items of a batch body (a list, or a map of note ids), each decoded when it is looked up.

    The service validates and storage writes the first while the rest are still raw JSON, and an item
    that does not fit the schema fails on its own: the batch's error lists it with every other
    problem, by index. Not iterable, so that each item is read where its failure is caught."""

    __iter__ = None

    def __init__(self, msg: Message, items: list | dict) -> None:
        self.msg, self.items = msg, items

    def __len__(self) -> int:
        return len(self.items)

    def keys(self):
        return self.items.keys() if isinstance(self.items, dict) else range(len(self.items))

    def __getitem__(self, key) -> dict:
        try:
            return CODEC.decode(self.msg, self.items[key])
        except DecodeError as exc:
            raise InvalidArgument(str(exc)) from None


def enums_as_numbers() -> bool:
    """Google's clients ask for enum numbers with `$alt=json;enum-encoding=int`."""
    alt = request.args.get("$alt")
    return bool(alt) and "enum-encoding=int" in alt


def respond(body: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def respond_message(msg: Message, doc: dict) -> Response:
    """One resource, with enums as names or numbers as the caller asked."""
    if enums_as_numbers():
        doc = CODEC.enums_to_numbers(msg, doc)
    return respond(doc)


def respond_list(key: str, msg: Message | None, docs: list[dict], next_token: str | None = None) -> Response:
    """A list response in proto3 JSON: empty lists and an empty token are left out."""
    body: dict = {}
    if docs:
        convert = msg is not None and enums_as_numbers()
        body[key] = [CODEC.enums_to_numbers(msg, d) for d in docs] if convert else docs
    if next_token:
        body["nextPageToken"] = next_token
    return respond(body)
