"""The application factory."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, send_from_directory
from flask_smorest import Api

from . import __version__, db
from .admin import Admin
from .api import admin, admission, auth, errors, gate_routes, health, ingest_routes, projects
from .api.grafeas_routes import make_blueprint
from .api.health import Readiness
from .api.http import (
    RawPathMiddleware,
    SegmentConverter,
    drain_unread_body,
    refuse_encoded_body,
    refuse_nul_in_path,
    refuse_undecodable_url,
)
from .api.openapi import register_components
from .api.openapi_gate import register_gate_components
from .api.paging import PageTokens
from .api.schemas import ErrorSchema
from .auth.access import Access, LiveAuthorizer
from .auth.authn import OPEN_ACCESS_ANNOUNCED, build_chain, open_access_warning
from .config import Settings
from .errors import InvalidArgument
from .gate.admission import AdmissionConfig
from .gate.admission import load_config as load_admission_config
from .gate.service import Gate
from .ingest.service import Ingest
from .names import KeyedIds
from .service import Grafeas
from .storage import SqlStorage, Storage
from .storage.engine import make_engines

log = logging.getLogger("grafeas_py")


@dataclass
class Extension:
    """What views reach through `current_app.extensions["grafeas"]`."""

    storage: Storage
    service: Grafeas
    admin: Admin
    tokens: PageTokens
    schema_head: str
    gate: Gate
    ingest: Ingest
    admission: AdmissionConfig | None = None
    db_timeout: float = 5.0  # seconds, named in the error of a statement it cut off
    readiness: Readiness = field(init=False)

    def __post_init__(self) -> None:
        self.readiness = Readiness(self.storage.ping, writable=self.storage.check_writable)


_READ_IT = object()


def create_app(settings: Settings | None = None, admission_config=_READ_IT) -> Flask:
    """Build the WSGI app: Grafeas v1 and Projects APIs, probes and docs, on one database.

    `admission_config`: the admission webhook's configuration as read already (gunicorn's workers take the one
    their master read as the server started, `server.admission_at_start`); by default the file is read."""
    settings = settings or Settings.from_env()
    if admission_config is _READ_IT:
        admission_config = read_admission_config(settings.admission_config)
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="grafeas-py",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/docs",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/",
        OPENAPI_SWAGGER_UI_URL="/docs/static/",  # served from the swagger-ui-bundle package: no CDN
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},  # no calls to the online spec validator
        API_SPEC_OPTIONS={
            "info": {
                "description": "Grafeas v1 software supply-chain metadata: notes, occurrences and projects. "
                "Bodies use the proto3 JSON mapping; errors use the Google JSON error shape."
            },
        },
    )
    app.url_map.converters["segment"] = SegmentConverter
    app.url_map.strict_slashes = False
    # "//" is an empty id, not a slash to tidy away: merging would redirect (308, HTML) to another resource.
    app.url_map.merge_slashes = False
    app.wsgi_app = RawPathMiddleware(app.wsgi_app)

    storage = SqlStorage(
        *make_engines(settings.database_url, pool_size=settings.pool_size, timeout=settings.db_timeout),
        audit_key=settings.auth.audit_key,
        schema_head=db.head(),
    )
    if settings.audit_seal_seconds > 0:
        storage.seal_in_background(settings.audit_seal_seconds)

    def secret(purpose: str) -> Callable[[], str]:
        """GRAFEAS_SECRET_KEY, else the database's secret for `purpose`: one for every instance, fetched when
        first used. Each user derives its own key from it, so page tokens and ids never share one."""
        return lambda: settings.secret_key or storage.secret(purpose, lambda: secrets.token_urlsafe(32))

    if settings.auth.is_open:
        if os.environ.get(OPEN_ACCESS_ANNOUNCED):  # gunicorn's master said it at length (server.when_ready)
            log.warning("authentication is off (GRAFEAS_AUTH=none): every caller has every right")
        else:
            log.warning(open_access_warning())
        access, bindings_changed = Access.open(), lambda: None
    else:
        bindings = LiveAuthorizer(storage.bindings_version, storage.list_bindings, ttl=settings.bindings_ttl)
        access, bindings_changed = Access(bindings.current), bindings.invalidate
        auth.install(app, build_chain(settings.auth, token_lookup=storage.get_token))
    grafeas = Grafeas(storage, access, keyed_ids=KeyedIds(secret("idempotency-ids")))
    app.extensions["grafeas"] = Extension(
        storage=storage,
        service=grafeas,
        admin=Admin(storage, access, bindings_changed),
        tokens=PageTokens(secret("page-token"), settings.max_body_bytes),
        schema_head=storage.schema_head,
        gate=Gate(storage, access),
        ingest=Ingest(grafeas),
        admission=admission_config,
        db_timeout=settings.db_timeout,
    )

    api = _Api(app)
    api.register_converter(SegmentConverter, lambda _converter: {"type": "string"})
    register_components(api.spec)
    register_gate_components(api)
    api.register_blueprint(projects.blp)
    api.register_blueprint(admin.blp)
    api.register_blueprint(make_blueprint("grafeas", "/v1/projects/<segment:project>", "Grafeas v1"))
    api.register_blueprint(
        make_blueprint(
            "grafeas_locations",
            "/v1/projects/<segment:project>/locations/<segment:location>",
            "Grafeas v1 under a location: the same resources; this server is a single region.",
        )
    )
    api.register_blueprint(gate_routes.blp)
    api.register_blueprint(ingest_routes.blp)
    api.register_blueprint(admission.blp)
    api.register_blueprint(health.blp)
    _serve_swagger_ui(app)
    errors.register(app)
    app.before_request(refuse_encoded_body)
    app.before_request(refuse_undecodable_url)
    app.before_request(refuse_nul_in_path)
    app.after_request(drain_unread_body)
    return app


def read_admission_config(path: str | None) -> AdmissionConfig | None:
    """The admission webhook's configuration (without one the webhook denies every review); ValueError in
    one line naming GRAFEAS_ADMISSION_CONFIG if it cannot be read or used."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as config:
            return load_admission_config(config.read())
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"GRAFEAS_ADMISSION_CONFIG={path}: {exc.strerror if isinstance(exc, OSError) else exc}"
        ) from None
    except InvalidArgument as exc:
        raise ValueError(f"GRAFEAS_ADMISSION_CONFIG={path}: {exc.message}") from None


class _Api(Api):
    ERROR_SCHEMA = ErrorSchema  # documents our error shape instead of flask-smorest's


def _serve_swagger_ui(app: Flask) -> None:
    import swagger_ui_bundle

    @app.get("/docs/static/<path:filename>")
    def swagger_ui_static(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
