"""Outbound webhooks: endpoints, signed deliveries with retries, the delivery log and replays.

An event is written with the change that causes it, together with one delivery per subscribed endpoint
and one ``webhooks.deliver`` job per delivery in the outbox. The job locks its delivery row
(``FOR UPDATE SKIP LOCKED``), sends only while the delivery is pending and due, and records the attempt
in the same transaction, so duplicate jobs send once. A worker that dies after the receiver answered but
before its commit leaves the attempt unrecorded and the job is run again: receivers dedupe on
``BPO-Event-Id``. A failed attempt stores ``next_attempt_at``; ``webhooks.sweep_due`` (every minute,
from the scheduler) enqueues the attempts that have come due, so no retry lives only in memory.

Signature: ``BPO-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``, keyed with the
endpoint's secret (the whole ``whsec_…`` string, UTF-8). For 24 h after a rotation a second ``v1=`` made
with the previous secret follows, so a receiver may accept either while it rolls over.

Where an endpoint may point is one policy, ``destinations.check_destination``: checked when its URL is
set, and again before each attempt, which then connects to the address it checked.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import msgspec
import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import service as clients
from bpo.core import audit
from bpo.core.errors import Conflict, Invalid, NotFound, field_error
from bpo.core.jobs import outbox
from bpo.core.jobs.registry import DELIVER_JOB, WEBHOOK_QUEUE
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Scope
from bpo.delivery import schemas
from bpo.delivery.destinations import (
    Address,
    Destination,
    Refused,
    Resolve,
    check_destination,
    resolve_host,
)
from bpo.delivery.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from bpo.settings import Settings

log = structlog.get_logger("bpo.webhooks")


SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "BPO-Signature"
EVENT_ID_HEADER = "BPO-Event-Id"
ATTEMPT_HEADER = "BPO-Delivery-Attempt"
PREVIOUS_SECRET_TTL = timedelta(hours=24)
# Receivers should refuse signatures older than this (replayed requests).
SIGNATURE_TOLERANCE_S = 300
TIMEOUT_S = 10.0
# Waits after failed attempts 1, 2, …; the attempt after the last wait is the last (8 in all).
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
# Each wait is stretched by up to this share, at random, so endpoints that failed together do not retry
# in lockstep.
JITTER = 0.2
# A due attempt whose job has not run after this long was lost (broker flushed): the sweep sends another.
REQUEUE_AFTER = timedelta(minutes=10)
ERROR_LIMIT = 500


# --- pure: secrets, signatures, schedule -----------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(signing_secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in signing_secrets)])


def verify(
    header: str, body: bytes, secret: str, now: float, tolerance_s: int = SIGNATURE_TOLERANCE_S
) -> bool:
    """What a receiver does: some ``v1`` matches the body under ``secret`` and ``t`` is recent."""
    timestamp: int | None = None
    candidates = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def retry_delay(attempt: int, schedule: Sequence[timedelta], jitter: float) -> timedelta | None:
    """The wait after failed attempt ``attempt`` (1-based), stretched by ``jitter`` in [0, 1) times
    JITTER; None once the schedule is used up and the delivery has failed for good."""
    if attempt < 1:
        raise ValueError(f"attempts count from 1, got {attempt}")
    if attempt > len(schedule):
        return None
    return schedule[attempt - 1] * (1 + JITTER * jitter)


def local_receivers(settings: Settings) -> bool:
    """Receivers on this machine (http://127.0.0.1, localhost) are for development and tests only; the
    rest of the destination policy (``destinations``) holds everywhere."""
    return settings.environment != "production"


def event_body(event: WebhookEvent) -> bytes:
    return msgspec.json.encode(
        {
            "id": str(event.id),
            "type": event.type,
            "created_at": event.created_at.isoformat(),
            "tenant": str(event.tenant_id),
            "data": event.data,
        }
    )


# --- endpoints --------------------------------------------------------------------------------------


def endpoint_view(endpoint: WebhookEndpoint) -> schemas.WebhookEndpoint:
    return schemas.WebhookEndpoint(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        client_id=endpoint.client_id,
        enabled=endpoint.enabled,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


async def _check_url(url: str, allow_local: bool) -> None:
    try:
        await check_destination(url, allow_local=allow_local, must_resolve=False)
    except Refused as refusal:
        raise Invalid(f"url: {refusal.reason}", errors=[field_error("url", refusal.reason)]) from None


def _unique(event_types: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(event_types))


def _record(session: AsyncSession, scope: Scope, action: str, object_id: uuid.UUID, **detail: Any) -> None:
    audit.append(
        session,
        tenant_id=scope.tenant_id,
        actor_id=scope.user_id,
        action=action,
        object_type="webhook_endpoint",
        object_id=object_id,
        **detail,
    )


async def get_endpoint_row(
    session: AsyncSession, scope: Scope, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> WebhookEndpoint:
    statement = select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id == scope.tenant_id, WebhookEndpoint.id == endpoint_id
    )
    endpoint = await session.scalar(statement.with_for_update() if for_update else statement)
    if endpoint is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} not found.")
    return endpoint


async def create_endpoint(
    session: AsyncSession, scope: Scope, data: schemas.WebhookEndpointCreate, *, allow_local: bool
) -> schemas.WebhookEndpointCreated:
    await _check_url(data.url, allow_local)
    if data.client_id is not None:
        await clients.get_client_row(session, scope, data.client_id, field="client_id")
    endpoint = WebhookEndpoint(
        tenant_id=scope.tenant_id,
        id=new_id(),
        url=data.url,
        description=data.description,
        event_types=_unique(data.event_types),
        client_id=data.client_id,
        enabled=data.enabled,
        secret=new_secret(),
    )
    session.add(endpoint)
    await session.flush()
    await session.refresh(endpoint)
    _record(session, scope, "webhook_endpoint.created", endpoint.id, url=endpoint.url)
    view = endpoint_view(endpoint)
    return schemas.WebhookEndpointCreated(
        **{name: getattr(view, name) for name in view.__struct_fields__}, secret=endpoint.secret
    )


async def list_endpoints(
    session: AsyncSession, scope: Scope, *, limit: int, cursor: str | None
) -> schemas.WebhookEndpointPage:
    statement = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == scope.tenant_id)
    rows, next_cursor = await paginate(session, statement, WebhookEndpoint.id, limit=limit, cursor=cursor)
    return schemas.WebhookEndpointPage(items=[endpoint_view(e) for e in rows], next_cursor=next_cursor)


async def get_endpoint(
    session: AsyncSession, scope: Scope, endpoint_id: uuid.UUID
) -> schemas.WebhookEndpoint:
    return endpoint_view(await get_endpoint_row(session, scope, endpoint_id))


async def update_endpoint(
    session: AsyncSession,
    scope: Scope,
    endpoint_id: uuid.UUID,
    data: schemas.WebhookEndpointUpdate,
    *,
    allow_local: bool,
) -> schemas.WebhookEndpoint:
    endpoint = await get_endpoint_row(session, scope, endpoint_id, for_update=True)
    if not isinstance(data.url, msgspec.UnsetType):
        await _check_url(data.url, allow_local)
    if not isinstance(data.client_id, msgspec.UnsetType) and data.client_id is not None:
        await clients.get_client_row(session, scope, data.client_id, field="client_id")
    changed = []
    for name in data.__struct_fields__:
        value = getattr(data, name)
        if isinstance(value, msgspec.UnsetType):
            continue
        if name == "event_types":
            value = _unique(value)
        if getattr(endpoint, name) != value:
            setattr(endpoint, name, value)
            changed.append(name)
    if changed:
        _record(session, scope, "webhook_endpoint.updated", endpoint.id, fields=changed)
        await session.flush()
        await session.refresh(endpoint)
    return endpoint_view(endpoint)


async def delete_endpoint(session: AsyncSession, scope: Scope, endpoint_id: uuid.UUID) -> None:
    """Deletes the endpoint and its delivery log; jobs still queued for it find nothing to send."""
    endpoint = await get_endpoint_row(session, scope, endpoint_id, for_update=True)
    await session.delete(endpoint)
    _record(session, scope, "webhook_endpoint.deleted", endpoint.id, url=endpoint.url)
    await session.flush()


async def rotate_secret(session: AsyncSession, scope: Scope, endpoint_id: uuid.UUID) -> schemas.WebhookSecret:
    """A new secret from now on; the current one keeps signing alongside it for 24 h (only the latest
    previous secret: rotating twice within 24 h retires the oldest at once)."""
    endpoint = await get_endpoint_row(session, scope, endpoint_id, for_update=True)
    expires_at = await database_now(session) + PREVIOUS_SECRET_TTL
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = expires_at
    endpoint.secret = new_secret()
    _record(session, scope, "webhook_endpoint.secret_rotated", endpoint.id)
    await session.flush()
    return schemas.WebhookSecret(
        endpoint_id=endpoint.id, secret=endpoint.secret, previous_secret_expires_at=expires_at
    )


# --- events and deliveries --------------------------------------------------------------------------


async def database_now(session: AsyncSession) -> datetime:
    """The database's clock (transaction start): one clock for API, workers and scheduler."""
    now: datetime | None = await session.scalar(select(func.now()))
    assert now is not None
    return now


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    data: dict[str, Any]
    # Endpoints filtered to a client get only events about that client.
    client_id: uuid.UUID | None = None


async def emit(session: AsyncSession, tenant_id: uuid.UUID, events: Sequence[NewEvent]) -> int:
    """Write ``events`` and a delivery per subscribed, enabled endpoint, in the caller's transaction,
    each delivery with its job in the outbox. An event nobody subscribed to is not stored. Returns the
    number of deliveries."""
    if not events:
        return 0
    endpoints = (
        await session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled)
        )
    ).all()
    if not endpoints:
        return 0
    now = await database_now(session)
    rows: list[WebhookEvent] = []
    deliveries: list[WebhookDelivery] = []
    for event in events:
        targets = [
            e
            for e in endpoints
            if event.type in e.event_types and (e.client_id is None or e.client_id == event.client_id)
        ]
        if not targets:
            continue
        row = WebhookEvent(
            tenant_id=tenant_id,
            id=new_id(),
            type=event.type,
            client_id=event.client_id,
            data=event.data,
            created_at=now,
        )
        rows.append(row)
        deliveries += [
            WebhookDelivery(
                tenant_id=tenant_id,
                id=new_id(),
                endpoint_id=endpoint.id,
                event_id=row.id,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                enqueued_at=now,
            )
            for endpoint in targets
        ]
    if not deliveries:
        return 0
    session.add_all(rows)
    await session.flush()
    session.add_all(deliveries)
    for delivery in deliveries:
        outbox.enqueue(session, tenant_id, DELIVER_JOB, queue=WEBHOOK_QUEUE, delivery_id=str(delivery.id))
    await session.flush()
    return len(deliveries)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    schedule: Sequence[timedelta] = RETRY_SCHEDULE
    timeout_s: float = TIMEOUT_S
    # Receivers on this machine allowed: development and tests.
    allow_local: bool = False
    jitter: Callable[[], float] = field(default=random.random)
    resolve: Resolve = field(default=resolve_host)


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int | None
    error: str | None
    elapsed_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def _post(url: str, body: bytes, headers: dict[str, str], policy: DeliveryPolicy) -> Response:
    started = time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        destination = await check_destination(
            url, allow_local=policy.allow_local, must_resolve=True, resolve=policy.resolve
        )
    except Refused as refusal:
        return Response(None, refusal.reason[:ERROR_LIMIT], elapsed())
    try:
        # Redirects are not followed: a 3xx is a failed attempt, and the endpoint's URL should be fixed.
        async with httpx.AsyncClient(timeout=policy.timeout_s, follow_redirects=False) as http:
            return await _send(http, destination, body, headers, elapsed)
    except httpx.HTTPError as exc:
        return Response(None, f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT], elapsed())


async def _send(
    http: httpx.AsyncClient,
    destination: Destination,
    body: bytes,
    headers: dict[str, str],
    elapsed: Callable[[], int],
) -> Response:
    """POST to the checked addresses in turn until one takes the connection."""
    *others, last = destination.addresses
    for address in others:
        try:
            return await _send_to(http, destination, address, body, headers, elapsed)
        except httpx.ConnectError:
            continue
    return await _send_to(http, destination, last, body, headers, elapsed)


async def _send_to(
    http: httpx.AsyncClient,
    destination: Destination,
    address: Address,
    body: bytes,
    headers: dict[str, str],
    elapsed: Callable[[], int],
) -> Response:
    async with http.stream(
        "POST",
        destination.via(address),
        content=body,
        headers={**headers, "Host": destination.host_header},
        extensions=destination.extensions,
    ) as response:
        if response.is_success:
            return Response(response.status_code, None, elapsed())
        snippet = b""
        async for chunk in response.aiter_bytes():
            snippet += chunk
            if len(snippet) >= ERROR_LIMIT:
                break
        detail = snippet.decode(errors="replace").strip()
        error = f"HTTP {response.status_code}" + (f": {detail}" if detail else "")
        return Response(response.status_code, error[:ERROR_LIMIT], elapsed())


async def post_signed(
    url: str, body: bytes, secret: str, event_id: uuid.UUID, attempt: int, policy: DeliveryPolicy
) -> Response:
    """One signed POST of ``body`` to ``url``, with the headers and destination policy of an endpoint's
    delivery: for receivers that are not endpoints of the tenant (a person's own chat bridge)."""
    signed_at = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "BPO-Ops-Webhooks/1",
        SIGNATURE_HEADER: signature_header([secret], signed_at, body),
        EVENT_ID_HEADER: str(event_id),
        ATTEMPT_HEADER: str(attempt),
    }
    return await _post(url, body, headers, policy)


async def deliver(
    session: AsyncSession,
    scope: Scope,
    delivery_id: uuid.UUID,
    *,
    now: datetime,
    policy: DeliveryPolicy | None = None,
) -> str | None:
    """Make the delivery's due attempt; its status afterwards, or None when there was nothing to do
    (another job holds it, it already succeeded or failed, or its next attempt is not due)."""
    policy = policy or DeliveryPolicy()
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.tenant_id == scope.tenant_id, WebhookDelivery.id == delivery_id)
        .with_for_update(skip_locked=True)
    )
    if delivery is None or delivery.status != "pending":
        return None
    # A first attempt is always due; a later one only from its scheduled instant, so a duplicate job
    # cannot cut a backoff short.
    if delivery.attempts and (delivery.next_attempt_at is None or delivery.next_attempt_at > now):
        return None
    endpoint = await session.get_one(WebhookEndpoint, (scope.tenant_id, delivery.endpoint_id))
    event = await session.get_one(WebhookEvent, (scope.tenant_id, delivery.event_id))
    delivery.enqueued_at = None
    if not endpoint.enabled:
        delivery.status = "failed"
        delivery.next_attempt_at = None
        delivery.last_error = "the endpoint is disabled"
        return delivery.status
    delivery.attempts += 1
    delivery.last_attempt_at = now
    body = event_body(event)
    signed_at = int(time.time())
    signing = [endpoint.secret]
    if endpoint.previous_secret and (endpoint.previous_secret_expires_at or now) > now:
        signing.append(endpoint.previous_secret)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "BPO-Ops-Webhooks/1",
        SIGNATURE_HEADER: signature_header(signing, signed_at, body),
        EVENT_ID_HEADER: str(event.id),
        ATTEMPT_HEADER: str(delivery.attempts),
    }
    response = await _post(endpoint.url, body, headers, policy)
    delivery.last_status_code = response.status_code
    delivery.last_error = response.error
    delivery.last_response_ms = response.elapsed_ms
    if response.ok:
        delivery.status = "succeeded"
        delivery.succeeded_at = now
        delivery.next_attempt_at = None
    else:
        delay = retry_delay(delivery.attempts, policy.schedule, policy.jitter())
        delivery.next_attempt_at = None if delay is None else now + delay
        if delay is None:
            delivery.status = "failed"
    log.info(
        "webhook_attempt",
        delivery_id=str(delivery.id),
        event_id=str(event.id),
        attempt=delivery.attempts,
        status=delivery.status,
        status_code=response.status_code,
        elapsed_ms=response.elapsed_ms,
    )
    await session.flush()
    return delivery.status


async def sweep_due(session: AsyncSession, scope: Scope, *, now: datetime, limit: int = 500) -> int:
    """Enqueue a job for each pending delivery whose next attempt is due and has no job in flight."""
    return await enqueue_due(
        session, scope, WebhookDelivery, DELIVER_JOB, WEBHOOK_QUEUE, "delivery_id", now=now, limit=limit
    )


async def enqueue_due(
    session: AsyncSession,
    scope: Scope,
    model: Any,
    job: str,
    queue: str,
    argument: str,
    *,
    now: datetime,
    limit: int,
) -> int:
    """Enqueue ``job`` for each pending row of ``model`` (a webhook delivery, a message) whose next attempt
    is due and has no job in flight (or one enqueued over ``REQUEUE_AFTER`` ago, presumed lost)."""
    due = (
        await session.scalars(
            select(model)
            .where(
                model.tenant_id == scope.tenant_id,
                model.status == "pending",
                model.next_attempt_at <= now,
                or_(model.enqueued_at.is_(None), model.enqueued_at < now - REQUEUE_AFTER),
            )
            .order_by(model.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for row in due:
        row.enqueued_at = now
        outbox.enqueue(session, scope.tenant_id, job, queue=queue, **{argument: str(row.id)})
    await session.flush()
    return len(due)


def _delivery_view(delivery: WebhookDelivery, event_type: str) -> schemas.WebhookDelivery:
    return schemas.WebhookDelivery(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=event_type,
        status=delivery.status,  # type: ignore[arg-type]
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_attempt_at=delivery.last_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        last_response_ms=delivery.last_response_ms,
        succeeded_at=delivery.succeeded_at,
        created_at=delivery.created_at,
    )


async def _event_types(
    session: AsyncSession, scope: Scope, deliveries: Sequence[WebhookDelivery]
) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(WebhookEvent.id, WebhookEvent.type).where(
            WebhookEvent.tenant_id == scope.tenant_id,
            WebhookEvent.id.in_({d.event_id for d in deliveries}),
        )
    )
    return {event_id: event_type for event_id, event_type in rows.all()}


async def list_deliveries(
    session: AsyncSession,
    scope: Scope,
    endpoint_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
    status: schemas.DeliveryStatus | None = None,
) -> schemas.WebhookDeliveryPage:
    endpoint = await get_endpoint_row(session, scope, endpoint_id)
    statement = select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == scope.tenant_id, WebhookDelivery.endpoint_id == endpoint.id
    )
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    rows, next_cursor = await paginate(session, statement, WebhookDelivery.id, limit=limit, cursor=cursor)
    types = await _event_types(session, scope, rows) if rows else {}
    return schemas.WebhookDeliveryPage(
        items=[_delivery_view(d, types[d.event_id]) for d in rows], next_cursor=next_cursor
    )


async def replay(session: AsyncSession, scope: Scope, delivery_id: uuid.UUID) -> schemas.WebhookDelivery:
    """Send the delivery's event again, whatever became of it: a new attempt of the same event id."""
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.tenant_id == scope.tenant_id, WebhookDelivery.id == delivery_id)
        .with_for_update()
    )
    if delivery is None:
        raise NotFound(f"Webhook delivery {delivery_id} not found.")
    endpoint = await session.get_one(WebhookEndpoint, (scope.tenant_id, delivery.endpoint_id))
    if not endpoint.enabled:
        raise Conflict(
            "The delivery's endpoint is disabled; enable it before replaying.", slug="endpoint-disabled"
        )
    now = await database_now(session)
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.enqueued_at = now
    delivery.succeeded_at = None
    outbox.enqueue(
        session,
        scope.tenant_id,
        DELIVER_JOB,
        queue=WEBHOOK_QUEUE,
        delivery_id=str(delivery.id),
    )
    _record(session, scope, "webhook_delivery.replayed", endpoint.id, delivery_id=str(delivery.id))
    await session.flush()
    types = await _event_types(session, scope, [delivery])
    return _delivery_view(delivery, types[delivery.event_id])
