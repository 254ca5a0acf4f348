"""grafeas-py: a Grafeas v1 software supply-chain metadata server."""

__version__ = "0.1.0"


def create_app(settings=None, **options):
    """Build the WSGI application (see `grafeas_py.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(settings, **options)
