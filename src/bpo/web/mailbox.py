"""The dev mailbox: the mail the embedded mail server kept, for a signed-in operator of the tenant it was
sent for. Served only while that server runs (``Settings.dev_mailbox``, set by ``bpo dev``).

The pages live under the dashboard (``/dashboard/dev/mailbox``) so that they get its session cookie, its
sign-in and its security headers; ``/dev/mailbox`` leads there. A message's HTML part is shown in a
sandboxed frame from a response of its own whose policy allows the mail's inline styles and nothing
that runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler

from bpo.core import mailbox
from bpo.core.errors import NotFound
from bpo.core.http import Caller, Session
from bpo.core.runtime import Runtime
from bpo.core.scope import OPERATOR_ROLES, Scope
from bpo.web.pages import page, page_router, reader_language
from bpo.web.session import (
    PREFIX,
)

PATH = "/dev/mailbox"
# The HTML part of a mail: its own inline styles and images, no script, no form, framed by our page only.
HTML_PART_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; sandbox allow-popups "
    "allow-popups-to-escape-sandbox; frame-ancestors 'self'"
)


def _directory(request: Request[Any, Any, Any]) -> Path:
    runtime: Runtime = request.app.state.runtime
    directory = runtime.settings.dev_mailbox
    assert directory is not None, "the dev mailbox is routed only when the embedded mail server runs"
    return directory


def _mail(request: Request[Any, Any, Any], caller: Scope, name: str) -> mailbox.StoredMail:
    if caller.role not in OPERATOR_ROLES:
        raise NotFound("No such message.")
    found = mailbox.read(_directory(request), str(caller.tenant_id), name)
    if found is None:
        raise NotFound("No such message.")
    return found


class MailboxController(Controller):
    path = PATH

    @get("/", summary="The mail kept by the local mail server for the caller's tenant, newest first")
    async def inbox(self, request: Request[Any, Any, Any], session: Session, caller: Caller) -> Template:
        await reader_language(request, session, caller)
        kept = (
            mailbox.stored(_directory(request), str(caller.tenant_id))
            if caller.role in OPERATOR_ROLES
            else []
        )
        context = {"messages": kept, "shown": None, "limit": mailbox.LIST_LIMIT}
        return page(request, "mailbox.html", context, caller=caller)

    @get("/{name:str}", summary="One kept message: its text, its HTML and its attachments")
    async def message(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller, name: FromPath[str]
    ) -> Template:
        await reader_language(request, session, caller)
        shown = _mail(request, caller, name)
        return page(request, "mailbox.html", {"messages": [], "shown": shown, "limit": 0}, caller=caller)

    @get("/{name:str}/html", summary="A kept message's HTML part, for the frame of its page")
    async def html_part(
        self, request: Request[Any, Any, Any], caller: Caller, name: FromPath[str]
    ) -> Response[str]:
        shown = _mail(request, caller, name)
        if shown.html is None:
            raise NotFound("This message has no HTML part.")
        # Links open outside the frame (the sandbox allows only that).
        return Response(
            '<base target="_blank">' + shown.html,
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": HTML_PART_POLICY, "x-frame-options": "SAMEORIGIN"},
        )

    @get("/{name:str}/attachments/{index:int}", summary="Download an attachment of a kept message")
    async def attachment(
        self, request: Request[Any, Any, Any], caller: Caller, name: FromPath[str], index: FromPath[int]
    ) -> Response[bytes]:
        shown = _mail(request, caller, name)
        if not 0 <= index < len(shown.attachments):
            raise NotFound("No such attachment.")
        file = shown.attachments[index]
        filename = file.filename.replace('"', "").replace("\\", "")
        return Response(
            file.content,
            media_type=file.mime_type,
            headers={"content-disposition": f'attachment; filename="{filename}"'},
        )


@get(PATH, summary="The dev mailbox (under the dashboard, where its sign-in is)", include_in_schema=False)
async def to_mailbox() -> Redirect:
    return Redirect(PREFIX + PATH + "/", status_code=303)


MAILBOX = page_router([MailboxController])

ROUTES: list[ControllerRouterHandler] = [MAILBOX, to_mailbox]
