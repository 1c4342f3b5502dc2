"""The SLA dashboard in the browser: login, one page per client, and HTML error pages."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any

import msgspec
import structlog
from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router

from bpo.clients import service as clients
from bpo.core.errors import BpoError, TooManyRequests, Unauthorized
from bpo.core.guards import parse_uuid
from bpo.core.http import Caller, Cursor, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope
from bpo.tenancy import schemas as tenancy_schemas
from bpo.tenancy import service as tenancy
from bpo.tenancy.auth import authenticate
from bpo.web.invoices import InvoicePageController
from bpo.web.session import (
    CSRF_COOKIE,
    DASHBOARD_ROLES,
    PREFIX,
    SESSION_COOKIE,
    WEB_COOKIE,
    CsrfRejected,
    SecurityHeadersMiddleware,
    SessionRenewalMiddleware,
    SignInRequired,
    check_csrf,
    csrf_binding,
    csrf_token,
    expired_session_cookies,
    new_csrf_cookie,
    new_web_session,
    session_cookies,
    session_scope,
)
from bpo.web.views import Period, client_dashboard

STATIC_PATH = "/static"
STATIC_DIR = Path(__file__).parent / "static"
LOGIN_NOTICES = {
    "expired": "Your session has ended; sign in again.",
    "signed-out": "You have signed out.",
}

log = structlog.get_logger("bpo.web")


class LoginForm(msgspec.Struct, kw_only=True):
    # Everything optional so a half-filled form re-renders with a message instead of a 400.
    tenant: str = ""
    email: str = ""
    password: str = ""
    csrf_token: str = ""


class LogoutForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""


def page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    caller: Scope | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    """Render a page whose forms carry a CSRF token: bound to the session once signed in."""
    cookies: list[Cookie] = []
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce:
        cookie = new_csrf_cookie(request)
        cookies.append(cookie)
        nonce = cookie.value or ""
    session = csrf_binding(request) if caller is not None else ""
    runtime: Runtime = request.app.state.runtime
    return Template(
        template_name=template,
        context={**context, "caller": caller, "csrf_token": csrf_token(runtime, nonce, session)},
        status_code=status,
        cookies=cookies,
        headers=headers,
    )


def _login_page(
    request: Request[Any, Any, Any],
    *,
    tenant: str = "",
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    context = {"tenant": tenant, "email": email, "error": error, "notice": notice}
    return page(request, "login.html", context, status=status, headers=headers)


class SignInController(Controller):
    path = "/"

    @get("/login", summary="Dashboard login form")
    async def login_form(
        self, request: Request[Any, Any, Any], reason: FromQuery[str | None] = None
    ) -> Response[Any]:
        try:
            await session_scope(request)
        except (SignInRequired, BpoError):
            return _login_page(request, notice=LOGIN_NOTICES.get(reason or ""))
        return Redirect(PREFIX, status_code=303)

    @post("/login", summary="Sign in to the dashboard", status_code=303)
    async def login(self, request: Request[Any, Any, Any], data: URLEncodedBody[LoginForm]) -> Response[Any]:
        check_csrf(request, data.csrf_token, session="")
        runtime: Runtime = request.app.state.runtime
        tenant, email = data.tenant.strip().lower(), data.email.strip()
        try:
            credentials = msgspec.convert(
                {"tenant": tenant, "email": email, "password": data.password}, tenancy_schemas.TokenRequest
            )
        except msgspec.ValidationError:
            return _login_page(request, tenant=tenant, email=email, error=tenancy.INVALID_LOGIN, status=401)
        client_ip = request.client.host if request.client else "unknown"
        try:
            tokens = await tenancy.login(runtime, credentials, client_ip)
        except Unauthorized:
            return _login_page(request, tenant=tenant, email=email, error=tenancy.INVALID_LOGIN, status=401)
        except TooManyRequests as exc:
            return _login_page(
                request, tenant=tenant, email=email, error=exc.detail, status=429, headers=exc.headers
            )
        # The browser keeps no refresh token: one in a cookie would be a long-lived credential, and tabs
        # rotating it would trip reuse detection. It is revoked at once; the signed session cookie renews
        # access tokens instead, for as long as the token version it was issued at holds.
        holder = await tenancy.revoke(
            runtime, tenancy_schemas.RefreshRequest(refresh_token=tokens.refresh_token)
        )
        scope = await authenticate(runtime, f"Bearer {tokens.access_token}", None)
        if scope.role not in DASHBOARD_ROLES:
            error = "This account has no SLA dashboards; ask your operator for a client viewer login."
            return _login_page(request, tenant=tenant, email=email, error=error, status=403)
        if holder is None:
            # Revoked by a password or role change in the instant since login.
            return _login_page(request, tenant=tenant, email=email, error=tenancy.INVALID_LOGIN, status=401)
        session = new_web_session(holder)
        # A fresh CSRF cookie too, so one planted before login is useless after it.
        cookies = [*session_cookies(request, runtime, session, tokens.access_token), new_csrf_cookie(request)]
        return Redirect(PREFIX, status_code=303, cookies=cookies)

    @post("/logout", summary="Sign out of the dashboard", status_code=303)
    async def logout(
        self, request: Request[Any, Any, Any], data: URLEncodedBody[LogoutForm]
    ) -> Response[Any]:
        session = csrf_binding(request)
        if session:
            check_csrf(request, data.csrf_token, session=session)
        return Redirect(
            f"{PREFIX}/login",
            status_code=303,
            query_params={"reason": "signed-out"},
            cookies=expired_session_cookies(request),
        )


class ClientPageController(Controller):
    path = "/"

    @get("/", summary="The signed-in viewer's client page, or the operator's list of clients")
    async def home(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        days: FromQuery[Period] = 30,
        cursor: Cursor = None,
    ) -> Response[Any]:
        if caller.client_id is not None:
            return Redirect(
                f"{PREFIX}/clients/{caller.client_id}", status_code=303, query_params={"days": str(days)}
            )
        listing = await clients.list_clients(session, caller, limit=DEFAULT_PAGE_SIZE, cursor=cursor)
        context = {"clients": listing.items, "next_cursor": listing.next_cursor, "days": days}
        return page(request, "clients.html", context, caller=caller)

    @get("/clients/{client_id:str}", summary="A client's SLA: a card per contract with charts")
    async def client_page(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        client_id: FromPath[str],
        days: FromQuery[Period] = 30,
    ) -> Template:
        dashboard = await client_dashboard(session, caller, parse_uuid(client_id, "Client"), days)
        return page(request, "client.html", {"dashboard": dashboard}, caller=caller)


# --- errors as pages ----------------------------------------------------------------------------


def _error_page(request: Request[Any, Any, Any], status: int, title: str, message: str) -> Template:
    return page(request, "error.html", {"status": status, "title": title, "message": message}, status=status)


def sign_in(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    query = {"reason": exc.reason} if exc.reason else None
    signed_in = request.cookies.get(SESSION_COOKIE) or request.cookies.get(WEB_COOKIE)
    cookies = expired_session_cookies(request) if signed_in else []
    return Redirect(f"{PREFIX}/login", status_code=303, query_params=query, cookies=cookies)


def csrf_rejected(request: Request[Any, Any, Any], _: CsrfRejected) -> Response[Any]:
    message = "This form has expired or did not come from this site. Go back, reload the page and try again."
    return _error_page(request, 403, "Form expired", message)


def bpo_error(request: Request[Any, Any, Any], exc: BpoError) -> Response[Any]:
    if exc.status == 401:
        return sign_in(request, SignInRequired())
    if exc.status == 404:
        # The same page for missing and not yours.
        message = "There is no dashboard here, or it is not one you may see."
        return _error_page(request, 404, "Not found", message)
    return _error_page(request, exc.status, exc.title, exc.detail)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code >= 500:
        return unexpected(request, exc)
    message = "The request was not understood. The period is 7, 30 or 90 days."
    if exc.status_code == 404:
        message = "There is no dashboard here, or it is not one you may see."
    return _error_page(request, exc.status_code, HTTPStatus(exc.status_code).phrase, message)


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("dashboard_error", error=type(exc).__name__)
    message = "Something went wrong on our side; it has been logged. Try again in a moment."
    return _error_page(request, 500, "Server error", message)


DASHBOARD = Router(
    path=PREFIX,
    route_handlers=[
        SignInController,
        ClientPageController,
        InvoicePageController,
        create_static_files_router(
            path=STATIC_PATH,
            directories=[STATIC_DIR],
            name="dashboard-static",
            cache_control=CacheControlHeader(max_age=3600),
        ),
    ],
    # Pages take the caller from the session cookie; the app's session dependency then sets its tenant.
    dependencies={"caller": Provide(session_scope)},
    middleware=[
        SecurityHeadersMiddleware(static_prefix=PREFIX + STATIC_PATH),
        SessionRenewalMiddleware(static_prefix=PREFIX + STATIC_PATH),
    ],
    exception_handlers={
        SignInRequired: sign_in,
        CsrfRejected: csrf_rejected,
        BpoError: bpo_error,
        HTTPException: http_error,
        Exception: unexpected,
    },
    include_in_schema=False,
)
