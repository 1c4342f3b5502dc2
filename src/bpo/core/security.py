"""Security headers on every response, and a script nonce for the interactive API docs.

API responses are data, never documents to render: their policy forbids everything. Pages set their own
policy (the dashboard in ``bpo.web.session``); a header a route already set is never replaced. The docs
pages (Scalar, Swagger UI, ``bpo.core.api_docs``) run scripts: each of their ``<script>`` tags carries a
nonce drawn per response, and only those may run; everything else they load comes from this origin.
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request
from litestar.types import BeforeMessageSendHookHandler, Message
from litestar.types import Scope as ASGIScope

NONCE_STATE = "csp_nonce"
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
BASE_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
}


def docs_policy(nonce: str) -> str:
    return (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def with_nonce(request: Request[Any, Any, Any], page: bytes) -> bytes:
    """Give every ``<script>`` of a page the nonce drawn for this response (and put in its policy)."""
    nonce = secrets.token_urlsafe(16)
    request.scope.setdefault("state", {})[NONCE_STATE] = nonce
    return page.replace(b"<script", f'<script nonce="{nonce}"'.encode())


def security_headers(hsts_max_age_seconds: int) -> BeforeMessageSendHookHandler:
    """A ``before_send`` hook: it sees every response the app sends, unrouted 404s and 405s included. It is a
    coroutine function though it never waits: Litestar runs a plain function given as a hook in a thread
    pool, a hop per response for nothing."""
    hsts = f"max-age={hsts_max_age_seconds}; includeSubDomains" if hsts_max_age_seconds else None

    async def add_headers(message: Message, scope: ASGIScope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers", []))
        present = {bytes(name).lower() for name, _ in headers}
        wanted = dict(BASE_HEADERS)
        nonce = scope.get("state", {}).get(NONCE_STATE)
        wanted["content-security-policy"] = docs_policy(nonce) if nonce else API_POLICY
        if hsts and scope.get("scheme") == "https":
            wanted["strict-transport-security"] = hsts
        headers += [(k.encode(), v.encode()) for k, v in wanted.items() if k.encode() not in present]
        message["headers"] = headers

    return add_headers
