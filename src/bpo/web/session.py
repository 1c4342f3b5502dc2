"""The dashboard's browser session: a cookie holding the access token, CSRF tokens for its forms, and the
security headers every dashboard response carries.

The API under /v1 never reads these cookies (it takes bearer tokens only), so it needs no CSRF defence; the
pages never read an Authorization header. Both reach a ``Scope`` through ``tenancy.auth.authenticate``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Send
from litestar.types import Scope as ASGIScope

from bpo.core.errors import Forbidden, Unauthorized
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope
from bpo.tenancy.auth import authenticate

PREFIX = "/dashboard"
SESSION_COOKIE = "bpo_session"
CSRF_COOKIE = "bpo_csrf"
CSRF_FIELD = "csrf_token"
# The roles the SLA API lets read dashboards.
DASHBOARD_ROLES = frozenset({Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.CLIENT_VIEWER})

SECURITY_HEADERS = {
    # No script at all: charts are server-side SVG, the period selector is links, the forms are plain forms.
    "content-security-policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SignInRequired(Exception):
    """No usable session: the page answers with a redirect to the login form."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.reason = reason


class CsrfRejected(Exception):
    """A form post without the token its page was rendered with."""


def _is_https(request: Request[Any, Any, Any]) -> bool:
    return request.url.scheme == "https"


def _cookie(request: Request[Any, Any, Any], key: str, value: str, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        secure=_is_https(request),
        samesite="strict",
    )


def session_cookie(request: Request[Any, Any, Any], access_token: str, max_age: int) -> Cookie:
    return _cookie(request, SESSION_COOKIE, access_token, max_age)


def new_csrf_cookie(request: Request[Any, Any, Any]) -> Cookie:
    return _cookie(request, CSRF_COOKIE, secrets.token_urlsafe(32))


def expired_session_cookie(request: Request[Any, Any, Any]) -> Cookie:
    return _cookie(request, SESSION_COOKIE, "", max_age=0)


async def session_scope(request: Request[Any, Any, Any]) -> Scope:
    """The signed-in caller, from the session cookie only. Never from the Authorization header."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired()
    runtime: Runtime = request.app.state.runtime
    try:
        scope = await authenticate(runtime, f"Bearer {token}", None)
    except Unauthorized as exc:
        raise SignInRequired("expired" if exc.slug == "token-expired" else None) from None
    if scope.role not in DASHBOARD_ROLES:
        raise Forbidden("Your account has no SLA dashboards; ask your operator for a client viewer login.")
    return scope


def _csrf_key(runtime: Runtime) -> bytes:
    # A key of its own, derived from the signing key, so a CSRF token is never also a valid MAC elsewhere.
    return hmac.new(runtime.signing_key.encode(), b"bpo.web.csrf", hashlib.sha256).digest()


def csrf_token(runtime: Runtime, nonce: str, session: str) -> str:
    """The token a page's forms carry: bound to the browser's CSRF cookie and, once signed in, to the
    session, so a token obtained by an attacker for their own browser or session is worthless in another."""
    message = f"{nonce}\0{session}".encode()
    return hmac.new(_csrf_key(runtime), message, hashlib.sha256).hexdigest()


def check_csrf(request: Request[Any, Any, Any], submitted: str, *, session: str) -> None:
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not submitted:
        raise CsrfRejected()
    expected = csrf_token(request.app.state.runtime, nonce, session)
    if not hmac.compare_digest(expected, submitted):
        raise CsrfRejected()


class SecurityHeadersMiddleware(ASGIMiddleware):
    """Headers on every dashboard response, error pages and redirects included."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, static_prefix: str) -> None:
        self.static_prefix = static_prefix

    async def handle(self, scope: ASGIScope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        cacheable = scope["path"].startswith(self.static_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present
                ]
                if not cacheable:
                    # Pages show one caller's data: never keep them in shared or back-button caches.
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await next_app(scope, receive, send_with_headers)
