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
    hsts = f"max-age={hsts_max_age_seconds}; includeSubDomains".encode() if hsts_max_age_seconds else None
    # Encoded once: every response carries them.
    base = [(name.encode(), value.encode()) for name, value in BASE_HEADERS.items()]
    api_policy = (b"content-security-policy", API_POLICY.encode())

    async def add_headers(message: Message, scope: ASGIScope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers", []))
        present = {bytes(name).lower() for name, _ in headers}
        nonce = scope.get("state", {}).get(NONCE_STATE)
        policy = (b"content-security-policy", docs_policy(nonce).encode()) if nonce else api_policy
        wanted = [*base, policy]
        if hsts and scope.get("scheme") == "https":
            wanted.append((b"strict-transport-security", hsts))
        headers += [(name, value) for name, value in wanted if name not in present]
        message["headers"] = headers

    return add_headers
