"""Client reports in the browser: the archive (a client viewer's own client's, an operator's all), each
report as the same document that is mailed and printed, and its PDF."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from bpo.core.guards import parse_uuid
from bpo.core.http import Caller, Session
from bpo.reports import document
from bpo.reports import service as reports
from bpo.web.pages import page, page_router, reader_language
from bpo.web.session import PREFIX

PDF_SUFFIX = ".pdf"


class ReportPageController(Controller):
    path = "/reports"

    @get("", summary="The client reports made so far, newest first")
    async def archive(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        client: FromQuery[uuid.UUID | None] = None,
    ) -> Template:
        await reader_language(request, session, caller)
        listed = await reports.recent_reports(session, caller, client or caller.client_id)
        return page(request, "reports.html", {"reports": listed}, caller=caller)

    @get("/{name:str}", summary="One report, as mailed (or its PDF: the id followed by .pdf)")
    async def report(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller, name: FromPath[str]
    ) -> Response[Any]:
        await reader_language(request, session, caller)
        as_pdf = name.endswith(PDF_SUFFIX)
        report_id = parse_uuid(name.removesuffix(PDF_SUFFIX), "Report")
        report = await reports.get_report(session, caller, report_id)
        if as_pdf:
            return Response(
                await document.render_pdf(report),
                media_type="application/pdf",
                headers={"Content-Disposition": f'inline; filename="{document.filename(report, "pdf")}"'},
            )
        html = document.render_html(
            report, back_url=f"{PREFIX}/reports", pdf_url=f"{PREFIX}/reports/{report.id}{PDF_SUFFIX}"
        )
        return Response(
            html,
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": document.DOCUMENT_POLICY},
        )


REPORT_PAGES = page_router([ReportPageController])
