from __future__ import annotations

import uuid
from datetime import UTC, datetime

from litestar import Controller, Response, delete, get, patch, post
from litestar.datastructures import CacheControlHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED
from litestar.types import ControllerRouterHandler

from bpo.core.guards import OPERATORS, READERS, WRITERS
from bpo.core.http import Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.reports import document, schemas, service

# A caller's own document: never kept by shared caches.
PRIVATE = CacheControlHeader(no_store=True)


class ClientSubscriptionController(Controller):
    path = "/v1/clients/{client_id:uuid}/report-subscriptions"
    tags = ["reports"]

    @get("", guards=[OPERATORS], summary="A client's report subscriptions (weekly and/or monthly)")
    async def list_subscriptions(
        self, session: Session, caller: Caller, client_id: FromPath[uuid.UUID]
    ) -> list[schemas.Subscription]:
        return await service.list_subscriptions(session, caller, client_id)

    @post(
        "",
        guards=[WRITERS],
        status_code=HTTP_201_CREATED,
        summary="Subscribe a client to a weekly or monthly report",
        description=(
            "A weekly report goes on its weekday (1 = Monday) and covers the last whole week (Monday to "
            "Sunday) before that day; a monthly one goes on its day (1 to 28) and covers the month before. "
            "Times are local to `time_zone` (the client's if left out). One of each kind per client: 409 "
            "for a second."
        ),
    )
    async def create_subscription(
        self,
        session: Session,
        caller: Caller,
        client_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.SubscriptionCreate],
    ) -> schemas.Subscription:
        return await service.create_subscription(session, caller, client_id, data)


class SubscriptionController(Controller):
    path = "/v1/report-subscriptions/{subscription_id:uuid}"
    tags = ["reports"]

    @get("", guards=[OPERATORS], summary="One report subscription, with when its next report goes")
    async def get_subscription(
        self, session: Session, caller: Caller, subscription_id: FromPath[uuid.UUID]
    ) -> schemas.Subscription:
        return await service.get_subscription(session, caller, subscription_id)

    @patch("", guards=[WRITERS], summary="Change a report subscription (only the fields given)")
    async def update_subscription(
        self,
        session: Session,
        caller: Caller,
        subscription_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.SubscriptionUpdate],
    ) -> schemas.Subscription:
        return await service.update_subscription(session, caller, subscription_id, data)

    @delete("", guards=[WRITERS], summary="End a report subscription (the reports made stay)")
    async def delete_subscription(
        self, session: Session, caller: Caller, subscription_id: FromPath[uuid.UUID]
    ) -> None:
        await service.delete_subscription(session, caller, subscription_id)


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["reports"]

    @get(
        "",
        guards=[READERS],
        summary="Client reports made so far (oldest first)",
        description="Client viewers see their own client's reports only.",
    )
    async def list_reports(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        client_id: FromQuery[uuid.UUID | None] = None,
        cadence: FromQuery[schemas.Cadence | None] = None,
    ) -> schemas.ReportPage:
        return await service.list_reports(
            session, caller, limit=limit, cursor=cursor, client_id=client_id, cadence=cadence
        )

    @post(
        "",
        guards=[WRITERS],
        status_code=HTTP_201_CREATED,
        summary="Make a client's report for a period that has ended (a back-fill or a correction)",
        description=(
            "`period` is an ISO week (`2026-W48`) or a month (`2026-11`). A report made before is made "
            "again in place with today's numbers; each recipient still gets at most one mail for it."
        ),
    )
    async def run_report(
        self, session: Session, caller: Caller, data: JSONBody[schemas.ReportRun]
    ) -> schemas.Report:
        return await service.run_now(session, caller, data, datetime.now(UTC))

    @get("/{report_id:uuid}", guards=[READERS], summary="One report: its numbers per contract and objective")
    async def get_report(
        self, session: Session, caller: Caller, report_id: FromPath[uuid.UUID]
    ) -> schemas.Report:
        return await service.get_report(session, caller, report_id)

    @get(
        "/{report_id:uuid}/html",
        guards=[READERS],
        media_type="text/html",
        cache_control=PRIVATE,
        summary="A report as the page people read (the same as the PDF)",
    )
    async def report_html(
        self, session: Session, caller: Caller, report_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        report = await service.get_report(session, caller, report_id)
        return Response(
            document.render_html(report),
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": document.DOCUMENT_POLICY},
        )

    @get(
        "/{report_id:uuid}/pdf",
        guards=[READERS],
        media_type="application/pdf",
        cache_control=PRIVATE,
        summary="A report as a PDF (A4, fonts embedded), as mailed to its recipients",
        description="503 (`pdf-unavailable`) when this server cannot render PDFs.",
        responses={503: ResponseSpec(data_container=None, description="PDF rendering is not available")},
    )
    async def report_pdf(
        self, session: Session, caller: Caller, report_id: FromPath[uuid.UUID]
    ) -> Response[bytes]:
        report = await service.get_report(session, caller, report_id)
        return Response(
            await document.render_pdf(report),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{document.filename(report, "pdf")}"'},
        )

    @get(
        "/{report_id:uuid}/csv",
        guards=[READERS],
        media_type="text/csv",
        cache_control=PRIVATE,
        summary="A report's figures as CSV: one row per contract and objective",
    )
    async def report_csv(
        self, session: Session, caller: Caller, report_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        report = await service.get_report(session, caller, report_id)
        return Response(
            document.render_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{document.filename(report, "csv")}"'},
        )


ROUTES: list[ControllerRouterHandler] = [
    ClientSubscriptionController,
    SubscriptionController,
    ReportController,
]
