"""The dashboard's browser session: a cookie holding the access token, a signed cookie that renews it while
the session is in use, CSRF tokens for its forms, and the security headers every dashboard response carries.

The API under /v1 never reads these cookies (it takes bearer tokens only), so it needs no CSRF defence; the
pages never read an Authorization header. Both reach a ``Scope`` through ``tenancy.auth.authenticate``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import jwt
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Send
from litestar.types import Scope as ASGIScope

from bpo.core.errors import Forbidden, Unauthorized
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope
from bpo.core.tokens import decode_access_token
from bpo.tenancy.auth import authenticate
from bpo.tenancy.schemas import CredentialHolder
from bpo.tenancy.service import renew_access_token

PREFIX = "/dashboard"
SESSION_COOKIE = "bpo_session"
WEB_COOKIE = "bpo_web"
CSRF_COOKIE = "bpo_csrf"
CSRF_FIELD = "csrf_token"
# The roles the SLA API lets read dashboards.
DASHBOARD_ROLES = frozenset({Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.CLIENT_VIEWER})
# Who may sign in to the pages at all: staff have their own pages (their shifts, time off, swaps).
PAGE_ROLES = DASHBOARD_ROLES | {Role.STAFF}

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


class PasswordChangeRequired(Exception):
    """The user signed in with a one-time password: every page leads to the password page until it is
    changed."""


def _is_https(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    return connection.url.scheme == "https"


def _cookie(
    connection: ASGIConnection[Any, Any, Any, Any], key: str, value: str, max_age: int | None = None
) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        secure=_is_https(connection),
        samesite="strict",
    )


def new_csrf_cookie(request: Request[Any, Any, Any]) -> Cookie:
    return _cookie(request, CSRF_COOKIE, secrets.token_urlsafe(32))


def expired_session_cookies(connection: ASGIConnection[Any, Any, Any, Any]) -> list[Cookie]:
    return [
        _cookie(connection, SESSION_COOKIE, "", max_age=0),
        _cookie(connection, WEB_COOKIE, "", max_age=0),
    ]


# --- the browser session and its renewal ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebSession:
    """What the signed ``bpo_web`` cookie holds. Never a refresh token: the holder and its token version
    are worth nothing without this server's key, and stop working once the version moves on."""

    holder: CredentialHolder
    # Random and fixed for the session's life: the forms' CSRF tokens are bound to it, so a page rendered
    # before its access token was renewed (in this tab or another) still posts.
    session_id: str
    started_at: int
    last_seen_at: int


@dataclass(frozen=True, slots=True)
class SessionState:
    """What the renewal middleware decided for this request, kept in the ASGI scope's state."""

    access_token: str | None
    session_id: str | None

    @property
    def ended(self) -> bool:
        return self.session_id is None


STATE_KEY = "bpo.web.session"
# A page never starts with an access token this close to expiring (half its lifetime when that is shorter).
RENEW_WITHIN_SECONDS = 120


def _session_key(runtime: Runtime) -> bytes:
    # A key of its own, derived from the signing key, like the CSRF key.
    return hmac.new(runtime.signing_key.encode(), b"bpo.web.session", hashlib.sha256).digest()


def _mac(runtime: Runtime, fields: str) -> str:
    return hmac.new(_session_key(runtime), fields.encode(), hashlib.sha256).hexdigest()


def new_web_session(holder: CredentialHolder) -> WebSession:
    now = int(time.time())
    return WebSession(holder=holder, session_id=secrets.token_urlsafe(16), started_at=now, last_seen_at=now)


def encode_web_session(runtime: Runtime, session: WebSession) -> str:
    holder = session.holder
    fields = ".".join(
        (
            str(holder.tenant_id),
            str(holder.user_id),
            str(holder.token_version),
            session.session_id,
            str(session.started_at),
            str(session.last_seen_at),
        )
    )
    return f"{fields}.{_mac(runtime, fields)}"


def decode_web_session(runtime: Runtime, value: str) -> WebSession | None:
    """The session a cookie value holds, or None when it is not one this server signed."""
    fields, _, mac = value.rpartition(".")
    if not fields or not hmac.compare_digest(mac, _mac(runtime, fields)):
        return None
    parts = fields.split(".")
    if len(parts) != 6:
        return None
    tenant_id, user_id, token_version, session_id, started_at, last_seen_at = parts
    try:
        holder = CredentialHolder(
            tenant_id=uuid.UUID(tenant_id), user_id=uuid.UUID(user_id), token_version=int(token_version)
        )
        return WebSession(
            holder=holder, session_id=session_id, started_at=int(started_at), last_seen_at=int(last_seen_at)
        )
    except ValueError:
        return None


def remaining_seconds(runtime: Runtime, session: WebSession, now: int) -> int:
    """How long the session may go on unused: the idle timeout, cut short by its absolute lifetime."""
    settings = runtime.settings
    idle_left = session.last_seen_at + settings.web_session_idle_seconds - now
    life_left = session.started_at + settings.web_session_max_seconds - now
    return min(idle_left, life_left)


def session_cookies(
    connection: ASGIConnection[Any, Any, Any, Any], runtime: Runtime, session: WebSession, access_token: str
) -> list[Cookie]:
    """Both cookies of a live session, kept by the browser exactly as long as the session may go on."""
    max_age = max(remaining_seconds(runtime, session, session.last_seen_at), 0)
    return [
        _cookie(connection, SESSION_COOKIE, access_token, max_age),
        _cookie(connection, WEB_COOKIE, encode_web_session(runtime, session), max_age),
    ]


def _needs_renewal(runtime: Runtime, access_token: str | None, holder: CredentialHolder, now: int) -> bool:
    if not access_token:
        return True
    try:
        claims, expires_at = decode_access_token(runtime.signing_key, access_token)
    except jwt.InvalidTokenError:
        return True
    if (claims.tenant_id, claims.user_id) != (holder.tenant_id, holder.user_id):
        return True
    margin = min(RENEW_WITHIN_SECONDS, runtime.settings.access_token_ttl_seconds // 2)
    return expires_at - now <= margin


class SessionRenewalMiddleware(ASGIMiddleware):
    """Keeps a dashboard session going while it is used: each request within the idle timeout and the
    absolute lifetime renews the access token when it is missing or about to expire (only while the user,
    tenant and token version still hold) and slides the session's last-seen time. A session past either
    limit, tampered with, or refused renewal ends: the request goes on signed out and both cookies expire.
    Requests without the signed cookie are left as they are."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, static_prefix: str) -> None:
        self.static_prefix = static_prefix

    async def handle(self, scope: ASGIScope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
        signed = connection.cookies.get(WEB_COOKIE)
        if not signed or scope["path"].startswith(self.static_prefix):
            await next_app(scope, receive, send)
            return
        runtime: Runtime = connection.app.state.runtime
        now = int(time.time())
        session = decode_web_session(runtime, signed)
        if session is not None and remaining_seconds(runtime, session, now) <= 0:
            session = None
        access_token = connection.cookies.get(SESSION_COOKIE)
        if session is not None and _needs_renewal(runtime, access_token, session.holder, now):
            access_token = await renew_access_token(runtime, session.holder)
        if session is None or access_token is None:
            state = SessionState(access_token=None, session_id=None)
            cookies = expired_session_cookies(connection)
        else:
            state = SessionState(access_token=access_token, session_id=session.session_id)
            cookies = session_cookies(connection, runtime, replace(session, last_seen_at=now), access_token)
        scope["state"][STATE_KEY] = state

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # A response that sets a session cookie itself (login, logout, sign-in redirect) has the
                # last word on it.
                already = {
                    value.split(b"=", 1)[0].strip()
                    for name, value in headers
                    if name.lower() == b"set-cookie"
                }
                extra = [c.to_encoded_header() for c in cookies if c.key.encode() not in already]
                message["headers"] = [*headers, *extra]
            await send(message)

        await next_app(scope, receive, send_with_cookies)


def _session_state(request: Request[Any, Any, Any]) -> SessionState | None:
    state: SessionState | None = request.scope["state"].get(STATE_KEY)
    return state


def session_token(request: Request[Any, Any, Any]) -> str | None:
    """The access token this request is signed in with: the renewed one when the session was renewed."""
    state = _session_state(request)
    if state is not None:
        return state.access_token
    return request.cookies.get(SESSION_COOKIE) or None


def csrf_binding(request: Request[Any, Any, Any]) -> str:
    """What a signed-in page's forms are bound to: the session's id, or for a session without the signed
    cookie its access token; empty when there is no session."""
    state = _session_state(request)
    if state is not None:
        return state.session_id or ""
    return request.cookies.get(SESSION_COOKIE, "")


async def account_scope(request: Request[Any, Any, Any]) -> Scope:
    """The signed-in caller, from the session cookies only (never from the Authorization header), whatever
    their role, a one-time password included: the password page."""
    token = session_token(request)
    if not token:
        state = _session_state(request)
        raise SignInRequired("expired" if state is not None and state.ended else None)
    runtime: Runtime = request.app.state.runtime
    try:
        scope = await authenticate(runtime, f"Bearer {token}", None)
    except Unauthorized as exc:
        raise SignInRequired("expired" if exc.slug == "token-expired" else None) from None
    if scope.role not in PAGE_ROLES:
        raise Forbidden("Your account has no pages here.")
    return scope


async def person_scope(request: Request[Any, Any, Any]) -> Scope:
    """The signed-in caller of any role, once a one-time password is replaced: their own pages."""
    scope = await account_scope(request)
    if scope.must_change_password:
        raise PasswordChangeRequired()
    return scope


async def session_scope(request: Request[Any, Any, Any]) -> Scope:
    """The signed-in caller of a role that reads SLA dashboards."""
    scope = await person_scope(request)
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
