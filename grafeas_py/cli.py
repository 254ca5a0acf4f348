"""The `grafeas-py` command: run the server, manage the schema, access control and the audit trail, and act as a
CI client."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import click

from . import __version__, db
from .client_cli import printable
from .config import MAX_PROCESSES, Settings


class _Program(click.Group):
    """The command: Ctrl-C exits 130 and a closed output pipe 141 (128 + SIGINT, SIGPIPE), as a shell reports."""

    def invoke(self, ctx: click.Context):
        # click would exit 1 for both, which for the client means the server refused or the gate denied.
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # a closed pipe shows here, not at exit where Python would complain
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is left to flush goes nowhere
            sys.exit(141)


class BadConfiguration(click.ClickException):
    """A setting that cannot work: one line naming it, and exit 2, as for bad usage."""

    exit_code = 2


@click.group(cls=_Program)
@click.version_option(__version__, prog_name="grafeas-py")
def main() -> None:
    """grafeas-py: a Grafeas v1 supply-chain metadata server."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, MAX_PROCESSES),
    help="Worker processes [default: 2 x CPUs + 1, at most 8].",
)
@click.option(
    "--threads", default=4, show_default=True, type=click.IntRange(1, MAX_PROCESSES), help="Threads per worker."
)
@click.option(
    "--certfile",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve HTTPS with this PEM certificate (and its chain).",
)
@click.option(
    "--keyfile", type=click.Path(exists=True, dir_okay=False), help="The certificate's PEM private key, if apart."
)
@click.option("--migrate/--no-migrate", default=True, show_default=True, help="Upgrade the schema before serving.")
@click.pass_context
def serve(ctx: click.Context, **flags) -> None:
    """Serve the API with gunicorn.

    GUNICORN_CMD_ARGS is read as gunicorn reads it, e.g. "--timeout 120 --forwarded-allow-ips '*'":
    it overrides serve's defaults, and the options given here override it.
    """
    from click.core import ParameterSource

    from . import server

    migrate = flags.pop("migrate")
    from_flags = {
        "bind": server.bind_address(flags["host"], flags["port"]),
        "workers": default_workers() if flags["workers"] is None else flags["workers"],
        "threads": flags["threads"],
        "certfile": flags["certfile"],
        "keyfile": flags["keyfile"],
    }
    # The flags given win over GUNICORN_CMD_ARGS (gunicorn's own precedence); those left at their
    # defaults do not, so that GUNICORN_CMD_ARGS="--bind ..." or "--workers 3" takes effect.
    given = {
        "bind" if name in ("host", "port") else name
        for name in flags
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    }
    defaults = {k: v for k, v in from_flags.items() if v is not None and k not in given}
    chosen = {k: from_flags[k] for k in given}
    try:
        options = server.options(defaults, chosen)
    except server.CmdArgsError as exc:
        raise BadConfiguration(str(exc)) from None
    settings = _settings()  # each worker reads them again; a value that cannot work is refused here, once
    _check_admission_config(settings)
    if migrate:
        _upgrade(_reachable(settings.database_url, write=True))
    else:
        try:
            db.refuse_read_only(settings.database_url)
        except db.Unreachable as exc:
            raise click.ClickException(str(exc)) from None
    server.run(options)


def default_workers() -> int:
    return min(2 * (os.cpu_count() or 1) + 1, 8)


def _settings() -> Settings:
    """The settings of the environment; a value that cannot work is a one-line error naming its variable."""
    try:
        settings = Settings.from_env()
        settings.check_files()
    except ValueError as exc:
        raise BadConfiguration(f"bad configuration: {exc}") from None
    return settings


def _check_admission_config(settings: Settings) -> None:
    """GRAFEAS_ADMISSION_CONFIG read once before the workers start, for all of them (server.admission_at_start)."""
    from .server import admission_at_start

    try:
        admission_at_start(settings.admission_config)
    except ValueError as exc:
        raise BadConfiguration(f"bad configuration: {exc}") from None


def _reachable(url: str, *, write: bool = False) -> str:
    """`url`, once a connection to it has worked (and, to `write`, a SQLite one has taken a write); otherwise
    a one-line error saying why."""
    try:
        db.reach(url, write=write)
    except db.Unreachable as exc:
        raise click.ClickException(str(exc)) from None
    return url


def _database_url(create: bool = False, write: bool = False) -> str:
    """GRAFEAS_DATABASE_URL, once reached (and, to `write`, found writable); unless `create`, a SQLite file
    that is not there is an error, not the empty database that connecting would leave at a mistyped path."""
    url = _settings().database_url
    missing = None if create else db.missing_sqlite_file(url)
    if missing:
        raise click.ClickException(f"no database at {missing}: 'grafeas-py db upgrade' makes one")
    return _reachable(url, write=write)


def _upgrade(url: str, revision: str = "head") -> None:
    """Migrate, or one line saying why it cannot (a newer release's schema, an unknown target)."""
    try:
        db.upgrade(url, revision)
    except db.NotMigratable as exc:
        raise click.ClickException(str(exc)) from None


@main.group("db")
def db_group() -> None:
    """Manage the database schema (GRAFEAS_DATABASE_URL)."""


@db_group.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the schema to REVISION (default: head)."""
    if not revision.strip():  # `db upgrade "$TARGET"` with TARGET unset: Alembic failed an assertion on it
        raise click.BadParameter("is empty; leave it out to upgrade to head", param_hint="REVISION")
    _upgrade(_database_url(create=True, write=True), revision)  # a new SQLite file is made here


@db_group.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Migrate the schema back to REVISION, for the release that runs at it; what later revisions keep (their
    tables and columns, and the data in them) is dropped. Stop this release's instances first: from then
    on they write nothing (the revision is not theirs)."""
    try:
        db.downgrade(_database_url(write=True), revision)
    except db.NotMigratable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"schema at revision {revision}")


@db_group.command()
def current() -> None:
    """Print the schema revision the database is at."""
    click.echo(db.current(_database_url()))


@db_group.command()
def check() -> None:
    """Fail if the migrated schema differs from what the code expects."""
    from alembic.util.exc import AutogenerateDiffsDetected

    try:
        db.check(_database_url())
    except db.NotMigratable as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except AutogenerateDiffsDetected as exc:
        click.echo(f"schema drift: {exc}", err=True)
        sys.exit(1)


class CannotExamine(click.ClickException):
    """`db doctor` could not look (exit 2), told apart from the findings it reports (exit 1)."""

    exit_code = 2


@db_group.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor(as_json: bool) -> None:
    """Report stored rows an earlier release wrote that this one cannot serve or treats differently, and what
    to do about each; changes nothing. Exit 0: none, 1: some, 2: the database cannot be reached or is not at
    this release's schema."""
    import json

    from sqlalchemy.exc import DBAPIError

    from .storage.doctor import NotAtHead, examine

    url = _settings().database_url
    sqlite_file = db.missing_sqlite_file(url)
    if sqlite_file:
        raise CannotExamine(f"no database at {sqlite_file}")  # connecting would create an empty one
    try:
        db.reach(url)
    except db.Unreachable as exc:
        raise CannotExamine(str(exc)) from None
    try:
        findings = examine(url, db.head())
    except NotAtHead as exc:
        raise CannotExamine(str(exc)) from None
    except DBAPIError as exc:  # the database went away meanwhile
        reason = (str(exc.orig).strip().splitlines() or ["no reason given"])[0]
        raise CannotExamine(f"cannot read the database: {reason}") from None
    if as_json:
        click.echo(json.dumps({"findings": [f.to_dict() for f in findings]}, indent=2))
    else:
        for f in findings:
            click.echo(f"{f.resource}  [{f.check}; table {f.table}, pk {f.pk}]")
            click.echo(f"  problem: {f.problem}")
            click.echo(f"  to do:   {f.remedy}")
        count = f"{len(findings)} finding{'' if len(findings) == 1 else 's'}"
        click.echo(count if findings else "no findings: this release serves every row as stored")
    if findings:
        sys.exit(1)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False), default="-")
def openapi(path: str) -> None:
    """Write the OpenAPI document (to PATH, or standard output)."""
    from .openapi_doc import render

    text = render()
    if path == "-":
        click.echo(text, nl=False)
    else:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)


# ---- access control and audit, straight on the database ------------------------------------


def _cli_principal():
    """Who the audit trail names for a change made here: whoever can reach the database is its admin."""
    import getpass

    from .auth.principal import Principal

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment
        user = "unknown"
    return Principal(f"cli:{user}", "user", via="cli")


@contextmanager
def _storage(seal_on_exit: bool = True):
    """The storage of GRAFEAS_DATABASE_URL, once its schema is current (and, to seal, found writable);
    ApiErrors and a read-only SQLite file become messages. What the command recorded in the audit trail
    is sealed as it ends, not when a server next runs a sealer."""
    from sqlalchemy.exc import DBAPIError

    from .config import masked_url
    from .errors import ApiError
    from .storage import SqlStorage
    from .storage.engine import make_engines, sqlite_read_only

    settings = _settings()
    _database_url(write=seal_on_exit)  # a mistyped SQLite path is an error, not an empty database made there
    engines = make_engines(settings.database_url, pool_size=1)
    storage = SqlStorage(*engines, audit_key=settings.auth.audit_key, schema_head=db.head())
    try:
        problem = db.schema_problem(storage.ping(), storage.schema_head)
        if problem:  # says to upgrade, or that a newer release migrated it
            raise click.ClickException(problem)
        yield storage
        if seal_on_exit:
            _seal(storage)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    except DBAPIError as exc:  # `audit verify` on a read-only copy, with entries to seal
        read_only = sqlite_read_only(exc)
        if not read_only:
            raise
        raise click.ClickException(
            f"cannot write to the database at {masked_url(settings.database_url)}: {read_only}"
        ) from None
    finally:
        storage.dispose()


# How long a command waits, before sealing, for the PostgreSQL transactions running then to end: until
# they have, its own change is not yet sealable (a transaction id may be sealed only below every
# running one), and it would be left for a server's sealer.
_SEAL_WAIT = 10.0


def _seal(storage) -> None:
    from .auth.audit import SealRefused

    try:
        storage.seal_audit(wait=_SEAL_WAIT)
    except SealRefused as exc:
        click.echo(f"audit entries left unsealed: {exc}", err=True)


@contextmanager
def _admin(*, changes: bool = True):
    """The administration verbs, as the command line's principal; a command that `changes` something
    seals what it recorded before it exits."""
    from .admin import Admin
    from .auth.context import acting_as

    with _storage(seal_on_exit=changes) as storage, acting_as(_cli_principal()):
        yield Admin(storage)


def _expiry(text: str | None):
    """`--expires`: a duration from now (90d, 12h, 30m) or an RFC 3339 time."""
    import datetime as dt
    import re

    from .wire.timestamps import to_datetime

    if text is None:
        return None
    if not text.strip():  # `--expires "$TTL"` with TTL unset must not mint a token that never expires
        raise click.BadParameter(
            "is empty; leave the option out for a token that never expires", param_hint="--expires"
        )
    duration = re.fullmatch(r"(\d+)([dhm])", text.strip(), re.ASCII)
    if duration:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[duration.group(2)]
        try:
            return dt.datetime.now(dt.UTC) + dt.timedelta(**{unit: int(duration.group(1))})
        except OverflowError:
            raise click.BadParameter(f"{text!r} ends after the year 9999", param_hint="--expires") from None
    try:
        return to_datetime(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (90d, 12h, 30m) nor an RFC 3339 time", param_hint="--expires"
        ) from None


def _binding(project: str, role: str, member: str):
    from .auth.authz import Binding

    return Binding(project, role, member)


@main.group("auth")
def auth_group() -> None:
    """Manage API tokens and role bindings in the database (GRAFEAS_DATABASE_URL).

    The first administrator: grafeas-py auth token create admin, then
    grafeas-py auth bind '*' projectAdmin token:admin
    """


@auth_group.group("token")
def token_group() -> None:
    """API tokens; a caller presenting one acts as token:NAME."""


@token_group.command("create")
@click.argument("name")
@click.option("--expires", help="When it stops working: a duration (90d, 12h, 30m) or an RFC 3339 time.")
def token_create(name: str, expires: str | None) -> None:
    """Make a token for NAME and print it, once, on standard output."""
    with _admin() as admin:
        token, record = admin.create_token(name, _expiry(expires))
    click.echo(token)
    until = f", expires {record.expires.isoformat()}" if record.expires else ""
    click.echo(f"token:{name}, id {record.token_id}{until}; it is shown only now, store it safely", err=True)


@token_group.command("list")
def token_list() -> None:
    """List the tokens (never their secrets)."""
    import datetime as dt

    with _admin(changes=False) as admin:
        records = admin.tokens()
    now = dt.datetime.now(dt.UTC)
    click.echo(f"{'NAME':24} {'TOKEN ID':16}  {'CREATED':25}  {'EXPIRES':25}  STATE")
    for r in records:
        state = "revoked" if r.revoked else "expired" if r.expires and r.expires <= now else "active"
        expires = r.expires.isoformat(timespec="seconds") if r.expires else "never"
        click.echo(f"{r.name:24} {r.token_id:16}  {r.created.isoformat(timespec='seconds'):25}  {expires:25}  {state}")


@token_group.command("revoke")
@click.argument("name")
@click.option("--id", "token_id", help="Revoke only this token of NAME (its 16-hex-digit id).")
def token_revoke(name: str, token_id: str | None) -> None:
    """Revoke NAME's tokens; they are refused from their next request."""
    with _admin() as admin:
        revoked = admin.revoke_tokens(name, token_id)
    for r in revoked:
        click.echo(f"revoked token:{r.name} id {r.token_id}")


@auth_group.command("bind")
@click.argument("project")
@click.argument("role")
@click.argument("member")
def bind(project: str, role: str, member: str) -> None:
    """Grant ROLE on PROJECT ('*': every project) to MEMBER (a principal id or group:NAME)."""
    with _admin() as admin:
        admin.bind(_binding(project, role, member))
    click.echo(f"{printable(member)} holds {role} on {printable(project)}")


@auth_group.command("unbind")
@click.argument("project")
@click.argument("role")
@click.argument("member")
def unbind(project: str, role: str, member: str) -> None:
    """Take ROLE on PROJECT back from MEMBER."""
    with _admin() as admin:
        admin.unbind(_binding(project, role, member))
    click.echo(f"{printable(member)} no longer holds {role} on {printable(project)}")


@auth_group.command("bindings")
@click.argument("project", required=False)
def bindings(project: str | None) -> None:
    """List the role bindings, all or those on PROJECT."""
    with _admin(changes=False) as admin:
        found = admin.bindings(project)
    click.echo(f"{'PROJECT':24} {'ROLE':24} MEMBER")
    for b in found:
        click.echo(f"{printable(b.project):24} {b.role:24} {printable(b.member)}")


@main.group("audit")
def audit_group() -> None:
    """The tamper-evident audit trail (GRAFEAS_AUDIT_KEY if the chain is keyed)."""


def _old_key(from_unkeyed: bool) -> list[bytes | None]:
    """The key the chain had before GRAFEAS_AUDIT_KEY, if one is given: GRAFEAS_AUDIT_OLD_KEY, or none."""
    old = os.environ.get("GRAFEAS_AUDIT_OLD_KEY") or None
    if from_unkeyed and old:
        raise click.UsageError(
            "--from-unkeyed says the chain had no key, and GRAFEAS_AUDIT_OLD_KEY names one: unset it"
        )
    return [None] if from_unkeyed else [old.encode()] if old else []


_FROM_UNKEYED = click.option(
    "--from-unkeyed", is_flag=True, help="The chain was sealed with no key before GRAFEAS_AUDIT_KEY."
)


@audit_group.command("rekey")
@_FROM_UNKEYED
def audit_rekey(from_unkeyed: bool) -> None:
    """Hand the chain to GRAFEAS_AUDIT_KEY (unset: to no key) from the key it is sealed with now, given as
    GRAFEAS_AUDIT_OLD_KEY (or --from-unkeyed): an entry sealed with the old key names the new one, and only
    sealers with the new key extend the chain after it. Give every instance the new key next."""
    from .auth.audit import SealRefused, key_id
    from .auth.context import acting_as

    old = _old_key(from_unkeyed)
    if not old:
        raise click.UsageError(
            "set GRAFEAS_AUDIT_OLD_KEY to the key the chain is sealed with now, or pass --from-unkeyed"
        )
    # What waits to be sealed is sealed after the entry, with the new key, as the command ends.
    with _storage() as storage, acting_as(_cli_principal()):
        if key_id(old[0]) == key_id(storage.audit_key):
            raise click.UsageError("GRAFEAS_AUDIT_KEY is the chain's key already")
        try:
            entry = storage.rekey_audit(old[0], storage.audit_key)
        except SealRefused as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"audit chain handed to key {key_id(storage.audit_key)} at entry {entry.seq}, hash {entry.hash}: publish it"
        f" (`audit verify --since {entry.seq}:{entry.hash}` checks what follows with the new key alone), and give"
        " every instance the new GRAFEAS_AUDIT_KEY: those with the old one stop sealing"
    )


@audit_group.command("verify")
@_FROM_UNKEYED
@click.option(
    "--since",
    "checkpoint",
    metavar="SEQ:HASH",
    callback=lambda _ctx, _param, value: _checkpoint(value) if value else None,
    help="Start at an entry whose hash you published earlier (as a run of this command printed it): the "
    "entry must still have that hash, and everything after it must link to it.",
)
def audit_verify(checkpoint: tuple[int, str] | None, from_unkeyed: bool) -> None:
    """Seal the entries committed so far, then check the chain, whole or from a published entry; name the first
    bad entry and exit 1 if there is one. A chain handed to GRAFEAS_AUDIT_KEY from another key (`audit rekey`)
    needs that key too, as GRAFEAS_AUDIT_OLD_KEY (or --from-unkeyed), or --since the entry that handed it."""
    from .auth.audit import SealRefused, verify_chain, verify_since

    earlier = _old_key(from_unkeyed)
    with _storage(seal_on_exit=False) as storage:  # it seals first, below
        try:
            storage.seal_audit(wait=_SEAL_WAIT)
        except SealRefused as exc:
            click.echo(f"not sealing: {exc}", err=True)
        pending = storage.pending_audit_entries()
        if pending:
            click.echo(f"{pending} recorded entries are not sealed yet and not verified", err=True)
        if checkpoint is None:
            result = verify_chain(storage.audit_entries(), key=storage.audit_key, earlier=earlier)
        else:
            seq, published = checkpoint
            entries = storage.audit_entries(from_seq=seq)
            result = verify_since(entries, seq, published, key=storage.audit_key, earlier=earlier)
    if not result.ok:
        click.echo(f"audit trail BROKEN at entry {result.seq} ({result.problem}): {result.message}", err=True)
        if checkpoint is not None and result.checked == 0:
            # Nothing before the published entry is read: the one before it is no "last good entry".
            where = "it is not in the chain" if result.problem == "cut" else "nothing before it is read"
            click.echo(f"0 entries verified from entry {checkpoint[0]}: {where}", err=True)
        else:
            click.echo(f"{result.checked} entries verified before it; last good entry {result.last_seq}", err=True)
        if result.problem == "altered" and result.checked == 0:
            click.echo(
                "if nobody edited it, GRAFEAS_AUDIT_KEY is not the key this chain was sealed with (or is"
                " missing, or set where the chain has none)",
                err=True,
            )
        sys.exit(1)
    since = f" since entry {checkpoint[0]}" if checkpoint else ""
    click.echo(
        f"audit trail intact{since}: {result.checked} entries; newest seq {result.last_seq}, hash {result.last_hash}"
    )


# The largest entry number the trail's column holds (a signed 64-bit integer, as PostgreSQL's bigint): a
# larger one overflowed in the query, a traceback.
_LAST_SEQ = 2**63 - 1


def _checkpoint(value: str) -> tuple[int, str]:
    seq, _, digest = value.strip().lower().partition(":")
    if not (seq.isascii() and seq.isdigit()) or int(seq) < 1 or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise click.BadParameter("expected SEQ:HASH, an entry number and its 64 hex digit hash, e.g. 42:9f86d0...")
    if int(seq) > _LAST_SEQ:
        raise click.BadParameter(f"entry {seq} cannot be in the trail: entry numbers end at {_LAST_SEQ}")
    return int(seq), digest


def _add_client_commands() -> None:
    """The CI client's commands (notes, occurrences, ingest, gate, attest), talking to a server over HTTP."""
    from .client_cli import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_add_client_commands()
