"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Controller, Litestar, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Every context's tables, so that foreign keys from one context's tables to another's resolve.
import bpo.models  # noqa: F401
from bpo import __version__
from bpo.billing.api import ROUTES as BILLING_ROUTES
from bpo.clients import service as clients
from bpo.clients.api import ROUTES as CLIENT_ROUTES
from bpo.core.api_docs import ScalarDocs, SwaggerDocs
from bpo.core.db import TenantReads
from bpo.core.guards import scope_of
from bpo.core.http import Caller
from bpo.core.idempotency import IdempotencyMiddleware
from bpo.core.input_guard import InputGuardMiddleware
from bpo.core.jobs import outbox
from bpo.core.jobs.api import ROUTES as JOB_ROUTES
from bpo.core.logging import configure_logging
from bpo.core.observability import RequestContext, metrics_payload
from bpo.core.openapi import StrictStructSchemaPlugin, document_problems
from bpo.core.problems import EXCEPTION_HANDLERS, problem_response
from bpo.core.routing import AllowHeaderMiddleware
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope
from bpo.core.security import security_headers
from bpo.delivery.messages_api import ROUTES as MESSAGE_ROUTES
from bpo.delivery.webhooks_api import ROUTES as WEBHOOK_ROUTES
from bpo.notifications.api import ROUTES as NOTIFICATION_ROUTES
from bpo.reports.api import ROUTES as REPORT_ROUTES
from bpo.settings import Settings
from bpo.sla.alerts_api import ROUTES as ALERT_ROUTES
from bpo.sla.api import ROUTES as SLA_ROUTES
from bpo.sla.items_api import ROUTES as WORK_ITEM_SEARCH_ROUTES
from bpo.sla.productivity_api import ROUTES as PRODUCTIVITY_ROUTES
from bpo.sla.satisfaction_api import ROUTES as SATISFACTION_ROUTES
from bpo.staffing import service as staffing
from bpo.staffing.api import EXCEPTION_HANDLERS as STAFFING_EXCEPTION_HANDLERS
from bpo.staffing.api import ROUTES as STAFFING_ROUTES
from bpo.staffing.attendance_api import ROUTES as STAFFING_ATTENDANCE_ROUTES
from bpo.staffing.availability_api import ROUTES as STAFFING_AVAILABILITY_ROUTES
from bpo.staffing.open_shifts_api import ROUTES as STAFFING_OPEN_SHIFT_ROUTES
from bpo.staffing.planning_api import ROUTES as STAFFING_PLANNING_ROUTES
from bpo.staffing.selfservice_api import ROUTES as STAFFING_SELF_SERVICE_ROUTES
from bpo.tenancy.api import ROUTES as TENANCY_ROUTES
from bpo.tenancy.auth import AuthenticationMiddleware
from bpo.tenancy.users import ClientBindingCheck, StaffBindingCheck
from bpo.web import API_ROUTES as DOCUMENT_ROUTES
from bpo.web import DASHBOARD, INVOICE_PAGES, ITEM_PAGES, REPORT_PAGES, TEMPLATES
from bpo.web.alerts import ALERT_PAGES
from bpo.web.escalations import ESCALATION_PAGES
from bpo.web.mailbox import ROUTES as MAILBOX_ROUTES
from bpo.web.notification_pages import NOTIFICATION_PAGES
from bpo.web.open_shift_pages import OPEN_SHIFT_PAGES
from bpo.web.staff import PAGES as PERSONAL_PAGES
from bpo.web.supervisor import SUPERVISOR_PAGES
from bpo.work.api import ROUTES as WORK_ROUTES
from bpo.work.escalations_api import ROUTES as ESCALATION_ROUTES
from bpo.work.voices.api import ROUTES as VOICE_ROUTES

PUBLIC_PATHS = ["^/health$", "^/ready$", "^/metrics$", "^/schema"]
# The browser dashboard authenticates from its own session cookie (bpo.web.session), never a header.
COOKIE_PATHS = ["^/dashboard(/|$)", "^/dev/mailbox$"]


async def provide_client_binding() -> ClientBindingCheck:
    return clients.require_client_binding


async def provide_staff_binding() -> StaffBindingCheck:
    return staffing.require_staff_binding


async def provide_caller(request: Request[Any, Any, Any]) -> Scope:
    return scope_of(request)


async def provide_reads(request: Request[Any, Any, Any], caller: Caller) -> TenantReads:
    """Hot reads in the caller's tenant, each its own read-only transaction (no session, no ORM)."""
    runtime: Runtime = request.app.state.runtime
    return TenantReads(runtime.db, caller.tenant_id)


async def provide_session(request: Request[Any, Any, Any], caller: Caller) -> AsyncIterator[AsyncSession]:
    """The request's transaction, with the caller's tenant set for RLS; commits before the response."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.db.tenant(caller.tenant_id) as session:
        outbox.relay_on_commit(session, runtime.relay)
        yield session


class OperationsController(Controller):
    path = "/"
    tags = ["operations"]

    @get("/health", summary="Liveness", exclude_from_auth=True)
    async def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready", summary="Readiness: database and Redis reachable", exclude_from_auth=True)
    async def ready(self, request: Request[Any, Any, Any]) -> Response[Any]:
        runtime: Runtime = request.app.state.runtime
        failures = []
        try:
            async with runtime.db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            failures.append(f"database: {type(exc).__name__}")
        try:
            await runtime.redis.ping()
        except Exception as exc:
            failures.append(f"redis: {type(exc).__name__}")
        if failures:
            return problem_response(
                request,
                status=503,
                slug="not-ready",
                detail="Not ready: " + "; ".join(failures),
                headers={"Retry-After": "5"},
            )
        return Response({"status": "ready", "database": "ok", "redis": "ok"})

    @get("/metrics", summary="Prometheus metrics", exclude_from_auth=True, include_in_schema=False)
    async def metrics(self) -> Response[bytes]:
        payload, content_type = metrics_payload()
        # Set as a header: Litestar would append a second "; charset=" to a text/* media_type.
        return Response(payload, headers={"Content-Type": content_type})


def _cors(settings: Settings) -> CORSConfig | None:
    """Closed unless origins are configured: no CORS headers at all, so browsers keep the same-origin rule."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key", "X-Request-ID"],
        expose_headers=["Retry-After", "X-Request-ID", "Content-Disposition"],
        max_age=600,
    )


def create_app(settings: Settings, runtime: Runtime | None = None) -> Litestar:
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = getattr(app.state, "runtime", None) is None
        if owned:
            app.state.runtime = Runtime.create(settings)
        try:
            yield
        finally:
            if owned:
                await app.state.runtime.close()
                app.state.runtime = None

    app = Litestar(
        route_handlers=[
            OperationsController,
            *TENANCY_ROUTES,
            *CLIENT_ROUTES,
            *WORK_ROUTES,
            *ESCALATION_ROUTES,
            *SLA_ROUTES,
            *ALERT_ROUTES,
            *SATISFACTION_ROUTES,
            *PRODUCTIVITY_ROUTES,
            *WORK_ITEM_SEARCH_ROUTES,
            *VOICE_ROUTES,
            *BILLING_ROUTES,
            *DOCUMENT_ROUTES,
            *WEBHOOK_ROUTES,
            *REPORT_ROUTES,
            *MESSAGE_ROUTES,
            *JOB_ROUTES,
            *STAFFING_ROUTES,
            *STAFFING_PLANNING_ROUTES,
            *STAFFING_SELF_SERVICE_ROUTES,
            *STAFFING_AVAILABILITY_ROUTES,
            *STAFFING_OPEN_SHIFT_ROUTES,
            *STAFFING_ATTENDANCE_ROUTES,
            *NOTIFICATION_ROUTES,
            DASHBOARD,
            PERSONAL_PAGES,
            OPEN_SHIFT_PAGES,
            NOTIFICATION_PAGES,
            INVOICE_PAGES,
            ITEM_PAGES,
            REPORT_PAGES,
            ESCALATION_PAGES,
            ALERT_PAGES,
            SUPERVISOR_PAGES,
            # Only while `bpo dev` runs the embedded mail server: the mail it kept.
            *(MAILBOX_ROUTES if settings.dev_mailbox is not None else []),
        ],
        dependencies={
            "session": Provide(provide_session),
            "reads": Provide(provide_reads),
            "caller": Provide(provide_caller),
            "client_binding": Provide(provide_client_binding),
            "staff_binding": Provide(provide_staff_binding),
        },
        middleware=[
            AllowHeaderMiddleware(),
            DefineMiddleware(AuthenticationMiddleware, exclude=[*PUBLIC_PATHS, *COOKIE_PATHS]),
            InputGuardMiddleware(),
            IdempotencyMiddleware(),
        ],
        exception_handlers={**EXCEPTION_HANDLERS, **STAFFING_EXCEPTION_HANDLERS},
        before_send=[security_headers(settings.hsts_max_age_seconds)],
        plugins=[StrictStructSchemaPlugin()],
        lifespan=[lifespan],
        template_config=TEMPLATES,
        cors_config=_cors(settings),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="BPO Ops API",
            version=__version__,
            description="Clients, contracts, staffing, SLA and volume billing for BPO operators.",
            path="/schema",
            render_plugins=[ScalarDocs(), SwaggerDocs(path="/swagger")],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http", scheme="bearer", bearer_format="JWT or bpo_ API key"
                    ),
                }
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
        # Logging is configured once, by configure_logging (structured JSON); Litestar must not replace it.
        logging_config=None,
    )
    document_problems(app)
    if runtime is not None:
        app.state.runtime = runtime
    return app


def create_asgi(settings: Settings, runtime: Runtime | None = None) -> RequestContext:
    return RequestContext(create_app(settings, runtime))
