"""The SLA dashboard in the browser: login, one page per client, and HTML error pages."""

from __future__ import annotations

from collections.abc import Sequence
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
from litestar.types import ControllerRouterHandler

from bpo.billing import document
from bpo.clients import service as clients
from bpo.core import i18n
from bpo.core.errors import BpoError, TooManyRequests, Unauthorized
from bpo.core.guards import parse_uuid
from bpo.core.http import Caller, Cursor, Session
from bpo.core.i18n import N_, Language
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope
from bpo.tenancy import schemas as tenancy_schemas
from bpo.tenancy import service as tenancy
from bpo.tenancy import users as tenancy_users
from bpo.tenancy.auth import authenticate
from bpo.web.session import (
    CSRF_COOKIE,
    PAGE_ROLES,
    PREFIX,
    SESSION_COOKIE,
    WEB_COOKIE,
    CsrfRejected,
    PasswordChangeRequired,
    SecurityHeadersMiddleware,
    SessionRenewalMiddleware,
    SignInRequired,
    check_csrf,
    csrf_binding,
    csrf_token,
    expired_session_cookies,
    new_csrf_cookie,
    new_web_session,
    person_scope,
    session_cookies,
    session_scope,
)
from bpo.web.views import Period, client_dashboard

STATIC_PATH = "/static"
STATIC_DIR = Path(__file__).parent / "static"
LOGIN_NOTICES = {
    "expired": N_("Your session has ended; sign in again."),
    "signed-out": N_("You have signed out."),
    "password-changed": N_("Your password is changed. Sign in with the new one."),
}
INVALID_LOGIN = N_("Unknown tenant, email or password.")
NO_DASHBOARD = N_("This account has no SLA dashboards; ask your operator for a client viewer login.")
TOO_MANY_ATTEMPTS = N_("Too many sign-in attempts; try again in %(seconds)s seconds.")
NOT_FOUND = N_("There is no dashboard here, or it is not one you may see.")
# A person reads a page: every error they can meet says what happened in their language.
ERROR_TITLES = {
    400: N_("Bad request"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Conflict"),
    422: N_("Not valid"),
    429: N_("Too many requests"),
    500: N_("Server error"),
    503: N_("Unavailable"),
}
ERROR_MESSAGES = {
    400: N_("The request was not understood. The period is 7, 30 or 90 days."),
    403: N_("This account may not see this page."),
    404: NOT_FOUND,
    429: N_("Too many requests; wait a moment and try again."),
    503: N_("This is not available just now; try again in a moment."),
}
SOMETHING_WRONG = N_("Something went wrong on our side; it has been logged. Try again in a moment.")
# The language a visitor chose on the sign-in page, for a year; once signed in, their setting decides.
LANGUAGE_COOKIE = "bpo_lang"
LANGUAGE_COOKIE_SECONDS = 365 * 86_400

log = structlog.get_logger("bpo.web")


class LoginForm(msgspec.Struct, kw_only=True):
    # Everything optional so a half-filled form re-renders with a message instead of a 400.
    tenant: str = ""
    email: str = ""
    password: str = ""
    csrf_token: str = ""


class LogoutForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""


def visitor_language(request: Request[Any, Any, Any]) -> Language:
    """Before sign-in: the language chosen with the page's switch, or else the browser's."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if i18n.is_language(chosen):
        return chosen
    return i18n.negotiate(request.headers.get("accept-language"))


async def reader_language(request: Request[Any, Any, Any], session: Session, caller: Scope) -> Language:
    """Signed in: the user's language, or else the tenant's; error pages of this request use it too."""
    language = await tenancy_users.reading_language(session, caller)
    request.state.language = language
    return language


def page_language(request: Request[Any, Any, Any]) -> Language:
    language = getattr(request.state, "language", None)
    return language if i18n.is_language(language) else visitor_language(request)


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
        context={
            **context,
            **i18n.template_context(page_language(request)),
            "caller": caller,
            "csrf_token": csrf_token(runtime, nonce, session),
        },
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
    response = page(request, "login.html", context, status=status, headers=headers)
    chosen = request.query_params.get("lang")
    if i18n.is_language(chosen):
        response.cookies.append(
            Cookie(
                key=LANGUAGE_COOKIE,
                value=chosen,
                max_age=LANGUAGE_COOKIE_SECONDS,
                path=PREFIX,
                httponly=True,
                secure=request.url.scheme == "https",
                samesite="lax",
            )
        )
    return response


def _say(request: Request[Any, Any, Any], message: str, **values: Any) -> str:
    return i18n.lang(page_language(request)).gettext(message, **values)


class SignInController(Controller):
    path = "/"

    @get("/login", summary="Dashboard login form")
    async def login_form(
        self,
        request: Request[Any, Any, Any],
        reason: FromQuery[str | None] = None,
        lang: FromQuery[Language | None] = None,
    ) -> Response[Any]:
        if lang is not None:
            request.state.language = lang
        try:
            await person_scope(request)
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
            return _login_page(
                request, tenant=tenant, email=email, error=_say(request, INVALID_LOGIN), status=401
            )
        client_ip = request.client.host if request.client else "unknown"
        try:
            tokens = await tenancy.login(runtime, credentials, client_ip)
        except Unauthorized:
            return _login_page(
                request, tenant=tenant, email=email, error=_say(request, INVALID_LOGIN), status=401
            )
        except TooManyRequests as exc:
            error = _say(request, TOO_MANY_ATTEMPTS, seconds=(exc.headers or {}).get("Retry-After", "60"))
            return _login_page(
                request, tenant=tenant, email=email, error=error, status=429, headers=exc.headers
            )
        # The browser keeps no refresh token: one in a cookie would be a long-lived credential, and tabs
        # rotating it would trip reuse detection. It is revoked at once; the signed session cookie renews
        # access tokens instead, for as long as the token version it was issued at holds.
        holder = await tenancy.revoke(
            runtime, tenancy_schemas.RefreshRequest(refresh_token=tokens.refresh_token)
        )
        scope = await authenticate(runtime, f"Bearer {tokens.access_token}", None)
        if scope.role not in PAGE_ROLES:
            error = _say(request, NO_DASHBOARD)
            return _login_page(request, tenant=tenant, email=email, error=error, status=403)
        if holder is None:
            # Revoked by a password or role change in the instant since login.
            return _login_page(
                request, tenant=tenant, email=email, error=_say(request, INVALID_LOGIN), status=401
            )
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

    @get(
        "/",
        summary="The viewer's client page, the operator's list of clients, or a staff member's shifts",
        dependencies={"caller": Provide(person_scope)},
    )
    async def home(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        days: FromQuery[Period] = 30,
        cursor: Cursor = None,
    ) -> Response[Any]:
        await reader_language(request, session, caller)
        if caller.role is Role.STAFF:
            return Redirect(f"{PREFIX}/me/shifts", status_code=303)
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
        language = await reader_language(request, session, caller)
        dashboard = await client_dashboard(
            session, caller, parse_uuid(client_id, "Client"), days, i18n.lang(language)
        )
        return page(request, "client.html", {"dashboard": dashboard}, caller=caller)


# --- errors as pages ----------------------------------------------------------------------------


def _error_page(request: Request[Any, Any, Any], status: int, message: str | None = None) -> Template:
    title = ERROR_TITLES.get(status) or ERROR_TITLES[500 if status >= 500 else 400]
    text = message or ERROR_MESSAGES.get(status) or SOMETHING_WRONG
    context = {"status": status, "title": _say(request, title), "message": _say(request, text)}
    return page(request, "error.html", context, status=status)


def sign_in(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    query = {"reason": exc.reason} if exc.reason else None
    signed_in = request.cookies.get(SESSION_COOKIE) or request.cookies.get(WEB_COOKIE)
    cookies = expired_session_cookies(request) if signed_in else []
    return Redirect(f"{PREFIX}/login", status_code=303, query_params=query, cookies=cookies)


def password_change(request: Request[Any, Any, Any], _: PasswordChangeRequired) -> Response[Any]:
    return Redirect(f"{PREFIX}/account/password", status_code=303)


def csrf_rejected(request: Request[Any, Any, Any], _: CsrfRejected) -> Response[Any]:
    message = N_(
        "This form has expired or did not come from this site. Go back, reload the page and try again."
    )
    return _error_page(request, 403, message)


def bpo_error(request: Request[Any, Any, Any], exc: BpoError) -> Response[Any]:
    if exc.status == 401:
        return sign_in(request, SignInRequired())
    # The same page for missing and not yours; the API's English detail stays in the API.
    return _error_page(request, exc.status)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code >= 500:
        return unexpected(request, exc)
    return _error_page(request, exc.status_code, ERROR_MESSAGES.get(exc.status_code, ERROR_MESSAGES[400]))


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("dashboard_error", error=type(exc).__name__)
    return _error_page(request, 500, SOMETHING_WRONG)


def page_router(route_handlers: Sequence[ControllerRouterHandler]) -> Router:
    """Server-rendered pages under ``/dashboard``: the caller from the session cookie (the app's session
    dependency then sets its tenant), the pages' security headers and session renewal, errors as pages."""
    return Router(
        path=PREFIX,
        route_handlers=list(route_handlers),
        dependencies={"caller": Provide(session_scope)},
        middleware=[
            SecurityHeadersMiddleware(static_prefix=PREFIX + STATIC_PATH),
            SessionRenewalMiddleware(static_prefix=PREFIX + STATIC_PATH),
        ],
        exception_handlers={
            SignInRequired: sign_in,
            PasswordChangeRequired: password_change,
            CsrfRejected: csrf_rejected,
            BpoError: bpo_error,
            HTTPException: http_error,
            Exception: unexpected,
        },
        include_in_schema=False,
    )


DASHBOARD = page_router(
    [
        SignInController,
        ClientPageController,
        create_static_files_router(
            path=STATIC_PATH,
            # The invoice document's stylesheet is billing's, as the document is.
            directories=[STATIC_DIR, document.STATIC_DIR],
            name="dashboard-static",
            cache_control=CacheControlHeader(max_age=3600),
        ),
    ]
)
