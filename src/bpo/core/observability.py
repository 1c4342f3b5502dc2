"""Request ids, one structured access-log line per request, and Prometheus metrics."""

from __future__ import annotations

import os
import re
import time
from typing import Any, cast

import structlog
from litestar import Litestar
from litestar.types import ASGIApp, Message, Receive, Send
from litestar.types import Scope as ASGIScope
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from bpo.core.jobs.failures import FAILURE_COUNTS
from bpo.core.logging import cover_secret_routes, redact_path

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

REQUESTS = Counter("bpo_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "bpo_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

access_log = structlog.get_logger("bpo.access")

# Each label set's counter and histogram, looked up once: ``labels()`` validates and locks on every call.
_request_counters: dict[tuple[str, str, str], Any] = {}
_latency_histograms: dict[tuple[str, str], Any] = {}


def _count(method: str, route: str, status: int, elapsed: float) -> None:
    key = (method, route, str(status))
    counter = _request_counters.get(key)
    if counter is None:
        counter = _request_counters.setdefault(key, REQUESTS.labels(*key))
    counter.inc()
    histogram = _latency_histograms.get(key[:2])
    if histogram is None:
        histogram = _latency_histograms.setdefault(key[:2], LATENCY.labels(method, route))
    histogram.observe(elapsed)


def _route_template(scope: dict[str, Any]) -> str:
    return str(scope.get("path_template") or "unmatched")


class RequestContext:
    """Outermost ASGI wrapper, so even unrouted requests get an id, a log line and a metric. Metrics are
    labelled with the route's template, never the path; the path is logged with the values of secret
    parameters replaced (``bpo.core.logging.redact_path``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        if isinstance(app, Litestar):
            cover_secret_routes(route.path for route in app.routes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, asgi_scope: ASGIScope, receive: Receive, send: Send) -> None:
        scope = cast("dict[str, Any]", asgi_scope)
        if scope["type"] != "http":
            await self.app(asgi_scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER), None)
        valid = incoming is not None and _VALID_REQUEST_ID.match(incoming) is not None
        request_id = incoming.decode() if incoming is not None and valid else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        # The path as the client sent it: the router rewrites the scope's for mounted apps.
        path = scope["path"]
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        # Bound and reset by token: ``bound_contextvars`` copies the whole context to save what it replaces.
        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(asgi_scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            _count(scope["method"], route, status, elapsed)
            access_log.info(
                "request",
                method=scope["method"],
                path=redact_path(path),
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.reset_contextvars(**bound)


def metrics_payload() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several server processes (`bpo serve --workers N`): whichever answers reports them all.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(FAILURE_COUNTS)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
