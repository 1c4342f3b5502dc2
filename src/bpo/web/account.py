"""Passwords in the browser: changing one's own (and replacing a one-time password at the first sign-in),
and "forgot password": a mail with a single-use link to a page that sets a new one.

The change keeps the person signed in: the password bumps their token version, which ends every other
session, and this one goes on with a fresh session cookie. Asking for a link answers the same whether or
not the address has an account; the mail is queued in the transaction that stores the link and sent by a
job.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core import i18n, mail
from bpo.core.errors import Invalid
from bpo.core.http import Caller, Session
from bpo.core.i18n import N_, Lang
from bpo.core.jobs import outbox
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope
from bpo.delivery import messages
from bpo.tenancy import passwords
from bpo.tenancy.credentials import MIN_PASSWORD_LENGTH
from bpo.tenancy.schemas import PasswordChange
from bpo.web.pages import page, page_language, reader_language
from bpo.web.session import (
    PREFIX,
    account_scope,
    check_csrf,
    csrf_binding,
    new_csrf_cookie,
    new_web_session,
    session_cookies,
)

MAIL_KIND = "password.reset"
MAIL_TEMPLATES = mail.mail_templates("bpo.web")
# What the password rules say, in words a person reads (the rules' own text is the API's).
PASSWORD_PROBLEMS = {
    f"must be at least {MIN_PASSWORD_LENGTH} characters": N_("Use at least %(min)s characters."),
    "must be at most 256 characters": N_("Use at most 256 characters."),
    "must not start or end with spaces": N_("Do not start or end it with a space."),
    "is a commonly used password": N_("This password is too easy to guess; choose another."),
    "is too similar to the email address or the tenant": N_(
        "This password is too close to your email address or operator code."
    ),
    "must differ from the current password": N_("Choose a password different from the current one."),
}
OTHER_PROBLEM = N_("Choose a different password.")
WRONG_CURRENT = N_("That is not your current password.")
MISMATCH = N_("The two new passwords are not the same.")
LINK_SENT = N_(
    "If an account with that address exists, we have sent it a link to choose a new password. The link "
    "works once, for 30 minutes."
)


class PasswordForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""
    current_password: str = ""
    new_password: str = ""
    new_password_again: str = ""


class ForgotForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""
    tenant: str = ""
    email: str = ""


def _lang(request: Request[Any, Any, Any]) -> Lang:
    return i18n.lang(page_language(request))


def _password_errors(exc: Invalid, lang: Lang) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors or []:
        if error["field"] == "current_password":
            errors["current_password"] = lang.gettext(WRONG_CURRENT)
        elif "new_password" not in errors:
            message = PASSWORD_PROBLEMS.get(error["message"], OTHER_PROBLEM)
            errors["new_password"] = lang.gettext(message, min=MIN_PASSWORD_LENGTH)
    return errors


class AccountController(Controller):
    """The signed-in person's password, reachable with a one-time password too."""

    path = "/account"
    dependencies = {"caller": Provide(account_scope)}

    def _page(
        self,
        request: Request[Any, Any, Any],
        caller: Scope,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        context = {
            "section": "password",
            "notice": None,
            "first_sign_in": caller.must_change_password,
            "errors": errors or {},
            "min_length": MIN_PASSWORD_LENGTH,
        }
        return page(request, "password.html", context, caller=caller, status=status)

    @get("/password", summary="Change my password")
    async def password_form(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller
    ) -> Template:
        await reader_language(request, session, caller)
        return self._page(request, caller)

    @post("/password", summary="Change my password", status_code=303)
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        data: URLEncodedBody[PasswordForm],
    ) -> Response[Any]:
        check_csrf(request, data.csrf_token, session=csrf_binding(request))
        lang = i18n.lang(await reader_language(request, session, caller))
        if data.new_password != data.new_password_again:
            return self._page(request, caller, {"new_password_again": lang.gettext(MISMATCH)}, status=422)
        try:
            change = msgspec.convert(
                {"current_password": data.current_password, "new_password": data.new_password}, PasswordChange
            )
            holder = await passwords.change_password(session, caller, change)
        except msgspec.ValidationError:
            errors = {"current_password": lang.gettext(WRONG_CURRENT)}
            return self._page(request, caller, errors, status=422)
        except Invalid as exc:
            return self._page(request, caller, _password_errors(exc, lang), status=422)
        runtime: Runtime = request.app.state.runtime
        token = await passwords.access_token_after_change(runtime, session, holder)
        # The old session ended with the old token version; this browser goes on in a new one.
        cookies = [
            *session_cookies(request, runtime, new_web_session(holder), token),
            new_csrf_cookie(request),
        ]
        return Redirect(PREFIX, status_code=303, cookies=cookies)


class PasswordResetController(Controller):
    """Before sign-in: ask for a link, and use it."""

    path = "/password"

    def _forgot_page(
        self,
        request: Request[Any, Any, Any],
        form: ForgotForm | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> Template:
        context = {"form": form or ForgotForm(), "notice": notice}
        return page(request, "password_forgot.html", context, status=status)

    @get("/forgot", summary="Ask for a link to choose a new password")
    async def forgot_form(self, request: Request[Any, Any, Any]) -> Template:
        return self._forgot_page(request)

    @post("/forgot", summary="Mail a link to choose a new password", status_code=200)
    async def forgot(self, request: Request[Any, Any, Any], data: URLEncodedBody[ForgotForm]) -> Template:
        check_csrf(request, data.csrf_token, session="")
        runtime: Runtime = request.app.state.runtime
        slug, email = data.tenant.strip().lower(), data.email.strip()
        tenant_id = await passwords.active_tenant_id(runtime, slug) if slug and len(slug) <= 63 else None
        wanted = tenant_id is not None and email and len(email) <= 254
        if wanted and tenant_id is not None and await passwords.may_send_reset(runtime, tenant_id, email):
            await _mail_link(runtime, tenant_id, slug, email)
        return self._forgot_page(request, ForgotForm(tenant=slug), notice=LINK_SENT)

    async def _reset_page(
        self,
        request: Request[Any, Any, Any],
        token: str,
        *,
        live: bool,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        context = {"token": token, "live": live, "errors": errors or {}, "min_length": MIN_PASSWORD_LENGTH}
        return page(request, "password_reset.html", context, status=status if live else 404)

    @get("/reset/{token:str}", summary="Choose a new password through a mailed link")
    async def reset_form(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
        runtime: Runtime = request.app.state.runtime
        tenant_id = passwords.reset_tenant(token)
        live = False
        if tenant_id is not None:
            async with runtime.db.tenant(tenant_id) as session:
                live = await passwords.reset_is_live(session, tenant_id, token)
        return await self._reset_page(request, token, live=live)

    @post("/reset/{token:str}", summary="Set a new password through a mailed link", status_code=303)
    async def reset(
        self, request: Request[Any, Any, Any], token: FromPath[str], data: URLEncodedBody[PasswordForm]
    ) -> Response[Any]:
        check_csrf(request, data.csrf_token, session="")
        lang = _lang(request)
        tenant_id = passwords.reset_tenant(token)
        if tenant_id is None:
            return await self._reset_page(request, token, live=False)
        if data.new_password != data.new_password_again:
            errors = {"new_password_again": lang.gettext(MISMATCH)}
            return await self._reset_page(request, token, live=True, errors=errors, status=422)
        runtime: Runtime = request.app.state.runtime
        try:
            async with runtime.db.tenant(tenant_id) as session:
                done = await passwords.complete_reset(session, tenant_id, token, data.new_password)
        except Invalid as exc:
            return await self._reset_page(
                request, token, live=True, errors=_password_errors(exc, lang), status=422
            )
        if not done:
            return await self._reset_page(request, token, live=False)
        return Redirect(f"{PREFIX}/login", status_code=303, query_params={"reason": "password-changed"})


async def _mail_link(runtime: Runtime, tenant_id: uuid.UUID, slug: str, email: str) -> None:
    async with runtime.db.tenant(tenant_id) as session:
        outbox.relay_on_commit(session, runtime.relay)
        link = await passwords.create_reset(session, tenant_id, email)
        if link is not None:
            await _queue_mail(runtime, session, tenant_id, slug, link)


async def _queue_mail(
    runtime: Runtime, session: AsyncSession, tenant_id: uuid.UUID, slug: str, link: passwords.ResetLink
) -> None:
    base = runtime.settings.public_base_url
    lang = i18n.lang(link.language)
    subject = lang.gettext("Choose a new password for BPO Ops")
    context = {
        "subject": subject,
        "public_url": base,
        "reset_url": mail.absolute_url(base, f"{PREFIX}/password/reset/{link.token}"),
        "operator": link.tenant_name,
        "slug": slug,
        "email": link.email,
        "minutes": int(passwords.RESET_TTL.total_seconds() // 60),
    }
    await messages.queue_message(
        session,
        tenant_id,
        MAIL_KIND,
        "password_reset",
        link.reset_id,
        "",
        link.email,
        subject,
        i18n.render(MAIL_TEMPLATES, "mail/password_reset.txt", link.language, **context),
        i18n.render(MAIL_TEMPLATES, "mail/password_reset.html", link.language, **context),
    )


ROUTES = [AccountController, PasswordResetController]
