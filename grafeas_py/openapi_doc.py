"""The OpenAPI document as committed in api_spec/openapi.json."""

from __future__ import annotations

import json

from .config import Settings


def render() -> str:
    """The spec of an app on a throwaway database, as stable, sorted JSON."""
    from . import create_app

    app = create_app(Settings(database_url="sqlite://"))
    spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"
