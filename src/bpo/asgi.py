"""The API as an import string for multi-process servers, configured from BPO_* variables alone:
``bpo serve --workers N`` uses it, and so can ``uvicorn --factory bpo.asgi:create --workers N``."""

from __future__ import annotations

from bpo.app import create_asgi
from bpo.core.observability import RequestContext
from bpo.core.runtime import freeze_startup_objects
from bpo.settings import load_settings


def create() -> RequestContext:
    app = create_asgi(load_settings())
    freeze_startup_objects()
    return app
