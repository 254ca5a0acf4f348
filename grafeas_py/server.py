"""Running the app under gunicorn, with the settings that deploy/gunicorn.conf.py also uses."""

from __future__ import annotations

import gc
import os

import orjson
from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config

from .config import MAX_PROCESSES
from .errors import error_body


def tune_gc(_worker=None) -> None:
    """Freeze what the app holds after loading and collect less often (a gunicorn post_worker_init hook).

    A batch of 1000 occurrences allocates some 100,000 short-lived dicts and lists; with CPython's
    default thresholds that sets off full collections that walk every long-lived object of the
    app as well. Measured on BatchCreateOccurrences: 100 ms -> 58 ms per batch of 1000.
    """
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


def write_json_error(sock, status: int, reason: str, message: str) -> None:
    """gunicorn's answer to a request it rejects before the app sees it (`gunicorn.util.write_error`),
    in the API's error shape instead of an HTML page: a request line or headers over the limits, a
    malformed request line, an unsupported transfer coding."""
    body = orjson.dumps(error_body(status, message or reason))
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def when_ready(server) -> None:
    """Say once, in gunicorn's master, that authentication is off (a gunicorn hook, here and in deploy/):
    every worker builds the app and said it again, as each worker replaced after MAX_REQUESTS did."""
    from .auth.authn import OPEN_ACCESS_ANNOUNCED, open_access_warning
    from .auth.settings import AuthSettings

    try:
        is_open = AuthSettings.from_env().is_open
    except ValueError:
        return  # a bad setting: each worker refuses to start and says why
    if is_open:
        server.log.warning(open_access_warning())
        os.environ[OPEN_ACCESS_ANNOUNCED] = "1"


def post_fork(_server, worker) -> None:
    """Each worker's database pools default to a connection per thread it runs, and one more (a gunicorn
    hook, here and in deploy/): Settings reads GRAFEAS_THREADS, which `serve --threads` and
    GUNICORN_CMD_ARGS would otherwise leave behind what gunicorn runs."""
    os.environ["GRAFEAS_THREADS"] = str(worker.cfg.threads)


def post_worker_init(worker=None) -> None:
    """Each worker's setup once it has loaded the app (a gunicorn hook, here and in deploy/)."""
    tune_gc()
    # gunicorn looks the function up on its util module for every error, so replacing it there is
    # enough; it has kept this signature since 19.x.
    util.write_error = write_json_error


# gunicorn's largest request line (its default is 4094): room for the long filters of list calls,
# such as an OR of dozens of resource URIs. A longer line is a 414 (see write_json_error).
LIMIT_REQUEST_LINE = 8190

# Replace each worker after 10,000 to 11,000 requests: memory a worker once needed stays with it (one
# that served a 32 MB batch keeps 160-200 MB), and slow leaks cannot accumulate. The jitter keeps the
# workers from being replaced all at once.
MAX_REQUESTS = 10_000
MAX_REQUESTS_JITTER = 1_000


class _Server(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        # gunicorn 25.1+ opens a control socket (reload, resize, stop) at one path per user, which
        # every instance on a host would share; nothing here uses it.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self):
        return worker_app()


# The admission webhook's configuration as gunicorn's master read it when the server started, which every
# worker it forks inherits: read by each worker as it started, a file broken by an edit since stopped the
# whole server at the next worker replaced (gunicorn halts when a worker fails to boot), and an edit that
# worked had workers judge by two configurations. A restart reads the file again; a reload does not.
_ADMISSION_AT_START: dict = {}


def admission_at_start(path: str | None):
    """GRAFEAS_ADMISSION_CONFIG, read the first time this process asks (ValueError in one line) and kept."""
    if "config" not in _ADMISSION_AT_START:
        from .app import read_admission_config

        _ADMISSION_AT_START["config"] = read_admission_config(path)
    return _ADMISSION_AT_START["config"]


def worker_app():
    """The WSGI app of a gunicorn worker, with the admission configuration its master read."""
    from . import create_app
    from .config import Settings

    settings = Settings.from_env()
    return create_app(settings, admission_config=admission_at_start(settings.admission_config))


# What `grafeas-py serve` sets whatever its flags say; GUNICORN_CMD_ARGS may change any of it.
SERVE_SETTINGS = {
    "worker_class": "gthread",
    "timeout": 60,
    "graceful_timeout": 30,
    "keepalive": 5,
    "limit_request_line": LIMIT_REQUEST_LINE,
    "max_requests": MAX_REQUESTS,
    "max_requests_jitter": MAX_REQUESTS_JITTER,
    "accesslog": "-",
    "errorlog": "-",
    "post_fork": post_fork,
    "post_worker_init": post_worker_init,
    "when_ready": when_ready,
}


class CmdArgsError(ValueError):
    """GUNICORN_CMD_ARGS holds something gunicorn would refuse, or that serve cannot honour."""


def _refuse(message: str):
    # argparse would print gunicorn's whole usage and exit; say what is wrong in one line instead.
    raise CmdArgsError(f"GUNICORN_CMD_ARGS: {message}")


def env_settings() -> dict:
    """The settings in GUNICORN_CMD_ARGS, parsed and checked by gunicorn's own parser, as `gunicorn` reads it."""
    cfg = Config()
    parser = cfg.parser()
    parser.error = _refuse
    given = {k: v for k, v in vars(parser.parse_args(cfg.get_cmd_args_from_env())).items() if v is not None}
    given.pop("args", None)  # an app module: gunicorn ignores it here too
    if "config" in given:
        # gunicorn would read the file before GUNICORN_CMD_ARGS; serve has no config file of its own.
        _refuse("--config is not read by grafeas-py serve; run gunicorn -c FILE (see deploy/gunicorn.conf.py)")
    for key, value in given.items():
        try:
            cfg.set(key, value)  # gunicorn's validators, so that a bad value is refused before migrating
        except (TypeError, ValueError) as exc:
            _refuse(f"{cfg.settings[key].cli[-1]}: {exc}")
    for key in ("workers", "threads"):  # gunicorn takes 0 (refusing only negatives), as serve's flags do not
        if key in given and not 1 <= given[key] <= MAX_PROCESSES:
            _refuse(f"--{key}: must be 1 to {MAX_PROCESSES}, got {given[key]}")
    return given


def options(defaults: dict, flags: dict) -> dict:
    """gunicorn's settings for serve, in gunicorn's order of precedence: serve's own settings and the
    defaults of its flags, then GUNICORN_CMD_ARGS, then the flags given on the command line."""
    merged = {**SERVE_SETTINGS, **defaults, **env_settings(), **flags}
    if merged.get("keyfile") and not merged.get("certfile"):
        raise CmdArgsError("a keyfile needs a certfile (--certfile) to serve HTTPS")
    if merged.get("certfile"):
        _check_certificate(merged["certfile"], merged.get("keyfile"))
    return merged


def _check_certificate(certfile: str, keyfile: str | None) -> None:
    """Load the certificate and its key once, as gunicorn would for each connection: a key that does not
    match, or a file that is no certificate, failed every handshake of a server that seemed up."""
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as exc:
        key = f" with the key {keyfile}" if keyfile else " (holding its key too, as no --keyfile is given)"
        raise CmdArgsError(f"cannot serve HTTPS with the certificate {certfile}{key}: {exc}") from None


def bind_address(host: str, port: int) -> str:
    """gunicorn's bind for a host and port: an IPv6 address goes in brackets, or its colons read as a port."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def run(options: dict) -> None:
    """Serve until stopped; each worker builds its own app and database pool after forking."""
    _Server(options).run()
