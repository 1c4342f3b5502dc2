"""The interactive API docs (Scalar at ``/schema``, Swagger UI at ``/schema/swagger``), served with their
scripts and styles from this package so that they work offline and under a self-only policy.

The assets are vendored, pinned and unmodified in ``docs_assets/`` (each folder's ``VERSION`` says which
release, where from and its digest; its licence sits beside it). Each docs plugin mounts its folder under the
OpenAPI router, at ``<schema path>/assets/<folder>/``.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Router
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from bpo.core.security import with_nonce

ASSETS = Path(__file__).parent / "docs_assets"
SCALAR_ASSETS = "scalar"
SWAGGER_ASSETS = "swagger-ui"
# Litestar's default favicon and Scalar stylesheet come from a CDN; the docs need neither.
NO_FAVICON = ""
# Scalar otherwise fetches its fonts, and reports telemetry, from scalar.com.
SCALAR_OPTIONS: dict[str, Any] = {"withDefaultFonts": False, "telemetry": False, "agent": {"disabled": True}}


def _mount_assets(router: Router, folder: str) -> str:
    """Serve one vendored folder under the docs router; returns its URL prefix."""
    path = f"/assets/{folder}"
    router.register(
        create_static_files_router(
            path=path, directories=[ASSETS / folder], name=f"api-docs-{folder}", include_in_schema=False
        )
    )
    return f"{router.path.rstrip('/')}{path}"


class ScalarDocs(ScalarRenderPlugin):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(favicon=NO_FAVICON, options=SCALAR_OPTIONS, **kwargs)

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        self.js_url = f"{_mount_assets(router, SCALAR_ASSETS)}/standalone.js"

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        document_url = self.get_openapi_json_route(request)
        configuration = {"url": document_url, **(self.options or {})}
        # "<" escaped so that no string in the configuration can close the script element.
        script_json = msgspec.json.encode(configuration).decode().replace("<", "\\u003c")
        page = f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <title>{html.escape(openapi_schema["info"]["title"])}</title>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    {self.style}
  </head>
  <body>
    <noscript>The API reference needs JavaScript; the document is at {html.escape(document_url)}.</noscript>
    <div id="api-reference"></div>
    <script src="{html.escape(self.js_url)}"></script>
    <script>Scalar.createApiReference("#api-reference", {script_json})</script>
  </body>
</html>
"""
        return with_nonce(request, page.encode())


class SwaggerDocs(SwaggerRenderPlugin):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(favicon=NO_FAVICON, **kwargs)

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        prefix = _mount_assets(router, SWAGGER_ASSETS)
        self.js_url = f"{prefix}/swagger-ui-bundle.js"
        self.css_url = f"{prefix}/swagger-ui.css"
        self.standalone_preset_js_url = f"{prefix}/swagger-ui-standalone-preset.js"

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return with_nonce(request, super().render(request, openapi_schema))
