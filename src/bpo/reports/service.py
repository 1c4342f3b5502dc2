"""Scheduled client reports: subscriptions, making a report once per client and period, and sending it.

The scheduler asks every tenant every quarter of an hour (``reports.run_due``); each active subscription
whose latest due instant has passed and whose period has no report yet gets one, in a savepoint of its
own (a failure in one client's numbers never stops the others', and is recorded against the
subscription). Making a report stores its numbers, announces it once (``report.ready``) and queues its
delivery job; the delivery renders the mail and the PDF and queues one message per recipient, which the
outbox sends at most once per (report, recipient), however often the report is made again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import msgspec
import structlog
from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.models import Client, Contract
from bpo.clients.rules import check_time_zone
from bpo.core import audit
from bpo.core.errors import Conflict, FieldError, NotFound, field_error, raise_if
from bpo.core.i18n import Language, is_language
from bpo.core.jobs import outbox
from bpo.core.jobs.failures import Failures, describe, is_transient
from bpo.core.jobs.registry import DELIVER_REPORT_JOB, MAIL_QUEUE
from bpo.core.pagination import paginate
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope
from bpo.delivery import webhooks
from bpo.reports import content, schemas
from bpo.reports.models import Report, ReportSubscription
from bpo.reports.periods import ReportPeriod, latest_due, parse_period
from bpo.tenancy import service as tenancy

log = structlog.get_logger("bpo.reports")

SUBSCRIPTION = "report_subscription"
REPORT = "report"
READY_EVENT = "report.ready"
API_PREFIX = "/v1/reports"


# --- subscriptions ------------------------------------------------------------------------------


def _next_run(row: ReportSubscription, now: datetime) -> datetime | None:
    if not row.active:
        return None
    zone = ZoneInfo(row.time_zone)
    due, _ = latest_due(
        cast("schemas.Cadence", row.cadence), row.weekday, row.day_of_month, row.send_at, zone, now
    )
    # The next one is the latest one a cycle later.
    day = due.date()
    if row.cadence == "weekly":
        day += timedelta(days=7)
    else:
        day = (day.replace(day=1) + timedelta(days=32)).replace(day=cast("int", row.day_of_month))
    return datetime.combine(day, row.send_at, zone)


def subscription_view(row: ReportSubscription, now: datetime) -> schemas.Subscription:
    return schemas.Subscription(
        id=row.id,
        client_id=row.client_id,
        cadence=cast("schemas.Cadence", row.cadence),
        weekday=row.weekday,
        day_of_month=row.day_of_month,
        send_at=row.send_at.strftime("%H:%M"),
        time_zone=row.time_zone,
        language=cast("Language", row.language),
        include_viewers=row.include_viewers,
        extra_recipients=list(row.extra_recipients),
        contract_ids=list(row.contract_ids),
        active=row.active,
        next_run_at=_next_run(row, now),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _check_contracts(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[FieldError]:
    if not ids:
        return []
    found = set(
        await session.scalars(
            contracts.visible_contracts(scope)
            .with_only_columns(Contract.id)
            .where(Contract.client_id == client_id, Contract.id.in_(ids))
        )
    )
    return [
        field_error(f"contract_ids[{index}]", "is not a contract of this client")
        for index, contract_id in enumerate(ids)
        if contract_id not in found
    ]


def check_when(cadence: str, weekday: int | None, day_of_month: int | None) -> list[FieldError]:
    if cadence == "weekly":
        errors = [] if weekday is not None else [field_error("weekday", "a weekly report names its weekday")]
        if day_of_month is not None:
            errors.append(field_error("day_of_month", "only a monthly report has a day of the month"))
        return errors
    errors = (
        [] if day_of_month is not None else [field_error("day_of_month", "a monthly report names its day")]
    )
    if weekday is not None:
        errors.append(field_error("weekday", "only a weekly report has a weekday"))
    return errors


def unique_addresses(values: Sequence[str]) -> list[str]:
    """``values`` without blanks around them and without repeats, whatever their case (the first kept)."""
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.strip().lower(), value.strip())
    return list(seen.values())


async def _get_subscription_row(
    session: AsyncSession, scope: Scope, subscription_id: uuid.UUID, *, for_update: bool = False
) -> ReportSubscription:
    statement = select(ReportSubscription).where(
        ReportSubscription.tenant_id == scope.tenant_id, ReportSubscription.id == subscription_id
    )
    row = await session.scalar(statement.with_for_update() if for_update else statement)
    if row is None:
        raise NotFound(f"Report subscription {subscription_id} not found.")
    # A client's subscriptions are its account managers' business: a client-bound caller sees its own.
    await clients.get_client_row(session, scope, row.client_id)
    return row


async def reading_language(session: AsyncSession, scope: Scope, chosen: str | None) -> Language:
    """A client's language, or else the tenant's default."""
    return chosen if is_language(chosen) else (await tenancy.tenant_settings(session, scope)).default_language


async def subscription_for(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, cadence: str
) -> ReportSubscription | None:
    """The client's weekly or monthly subscription, if it has one."""
    return await session.scalar(
        select(ReportSubscription).where(
            ReportSubscription.tenant_id == scope.tenant_id,
            ReportSubscription.client_id == client_id,
            ReportSubscription.cadence == cadence,
        )
    )


def _duplicate(cadence: str) -> Conflict:
    return Conflict(
        f"The client already has a {cadence} report: change that one (PATCH /v1/report-subscriptions/{{id}})."
    )


async def create_subscription(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, data: schemas.SubscriptionCreate
) -> schemas.Subscription:
    client = await clients.get_client_row(session, scope, client_id)
    errors = check_when(data.cadence, data.weekday, data.day_of_month)
    if data.time_zone is not None:
        errors += check_time_zone(data.time_zone, "time_zone")
    errors += await _check_contracts(session, scope, client.id, data.contract_ids)
    raise_if(errors, what="The report subscription is not valid")
    language = data.language or await reading_language(session, scope, client.language)
    row = ReportSubscription(
        tenant_id=scope.tenant_id,
        client_id=client.id,
        cadence=data.cadence,
        weekday=data.weekday,
        day_of_month=data.day_of_month,
        send_at=time.fromisoformat(data.send_at),
        time_zone=data.time_zone or client.time_zone,
        language=language,
        include_viewers=data.include_viewers,
        extra_recipients=unique_addresses(data.extra_recipients),
        contract_ids=list(dict.fromkeys(data.contract_ids)),
        active=data.active,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as error:
        raise _duplicate(data.cadence) from error
    await session.refresh(row)
    audit.record(session, scope, "report_subscription.created", SUBSCRIPTION, row.id, cadence=row.cadence)
    return subscription_view(row, datetime.now(UTC))


async def list_subscriptions(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID
) -> list[schemas.Subscription]:
    client = await clients.get_client_row(session, scope, client_id)
    rows = await session.scalars(
        select(ReportSubscription)
        .where(ReportSubscription.tenant_id == scope.tenant_id, ReportSubscription.client_id == client.id)
        .order_by(ReportSubscription.cadence.desc())
    )
    now = datetime.now(UTC)
    return [subscription_view(row, now) for row in rows]


async def all_subscriptions(session: AsyncSession, scope: Scope) -> list[schemas.Subscription]:
    """Every subscription of the tenant (a client-bound caller: its client's), by client and cadence."""
    statement = select(ReportSubscription).where(ReportSubscription.tenant_id == scope.tenant_id)
    restriction = clients.client_restriction(scope)
    if restriction is not None:
        statement = statement.where(ReportSubscription.client_id == restriction)
    rows = await session.scalars(
        statement.order_by(ReportSubscription.client_id, ReportSubscription.cadence.desc())
    )
    now = datetime.now(UTC)
    return [subscription_view(row, now) for row in rows]


async def get_subscription(
    session: AsyncSession, scope: Scope, subscription_id: uuid.UUID
) -> schemas.Subscription:
    return subscription_view(await _get_subscription_row(session, scope, subscription_id), datetime.now(UTC))


async def update_subscription(
    session: AsyncSession, scope: Scope, subscription_id: uuid.UUID, data: schemas.SubscriptionUpdate
) -> schemas.Subscription:
    row = await _get_subscription_row(session, scope, subscription_id, for_update=True)
    changes = {
        name: value for name, value in msgspec.structs.asdict(data).items() if value is not msgspec.UNSET
    }
    weekday = changes.get("weekday", row.weekday)
    day_of_month = changes.get("day_of_month", row.day_of_month)
    errors = check_when(row.cadence, weekday, day_of_month)
    if "time_zone" in changes:
        errors += check_time_zone(changes["time_zone"], "time_zone")
    if "contract_ids" in changes:
        errors += await _check_contracts(session, scope, row.client_id, changes["contract_ids"])
    raise_if(errors, what="The report subscription is not valid")
    if "send_at" in changes:
        changes["send_at"] = time.fromisoformat(changes["send_at"])
    if "extra_recipients" in changes:
        changes["extra_recipients"] = unique_addresses(changes["extra_recipients"])
    if "contract_ids" in changes:
        changes["contract_ids"] = list(dict.fromkeys(changes["contract_ids"]))
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = func.now()
    await session.flush()
    await session.refresh(row)
    audit.record(session, scope, "report_subscription.updated", SUBSCRIPTION, row.id, fields=sorted(changes))
    return subscription_view(row, datetime.now(UTC))


async def delete_subscription(session: AsyncSession, scope: Scope, subscription_id: uuid.UUID) -> None:
    row = await _get_subscription_row(session, scope, subscription_id, for_update=True)
    await session.delete(row)
    audit.record(session, scope, "report_subscription.deleted", SUBSCRIPTION, row.id, cadence=row.cadence)


# --- making reports -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Made:
    report_id: uuid.UUID
    created: bool


def links(report_id: uuid.UUID) -> dict[str, str]:
    base = f"{API_PREFIX}/{report_id}"
    return {"html_url": f"{base}/html", "pdf_url": f"{base}/pdf", "csv_url": f"{base}/csv"}


async def make_report(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    period: ReportPeriod,
    subscription: ReportSubscription | None,
    *,
    send: bool = True,
) -> Made:
    """Measure and store ``client_id``'s report for ``period`` (in place, when it exists), announce it the
    first time, and queue its delivery (which sends each recipient at most one mail for it, ever)."""
    client = await clients.get_client_row(session, scope, client_id, "client_id")
    if subscription is None:
        subscription = await subscription_for(session, scope, client.id, period.cadence)
    chosen = list(subscription.contract_ids) if subscription else []
    language = (
        subscription.language if subscription else await reading_language(session, scope, client.language)
    )
    numbers = schemas.ReportContent(
        client_code=client.code,
        client_name=client.name,
        contracts=await content.sections(session, scope, client.id, period, chosen),
        escalations=await content.escalation_lines(
            session, scope, client.id, period, subscription.time_zone if subscription else client.time_zone
        ),
    )
    values: dict[str, Any] = {
        "subscription_id": subscription.id if subscription else None,
        "cadence": period.cadence,
        "period_start": period.start,
        "period_end": period.end,
        "time_zone": subscription.time_zone if subscription else client.time_zone,
        "language": language,
        "content": msgspec.to_builtins(numbers),
    }
    statement = insert(Report).values(
        tenant_id=scope.tenant_id, client_id=client.id, period=period.label, **values
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Report.tenant_id, Report.client_id, Report.period],
        set_={
            **values,
            "generations": Report.generations + 1,
            "generated_at": func.now(),
        },
    )
    found = (await session.execute(statement.returning(Report.id, Report.generations))).one()
    report_id, generations = found
    created = generations == 1
    audit.record(
        session,
        scope,
        "report.created" if created else "report.regenerated",
        REPORT,
        report_id,
        client_id=str(client.id),
        period=period.label,
    )
    if created:
        await webhooks.emit(
            session,
            scope.tenant_id,
            [
                webhooks.NewEvent(
                    type=READY_EVENT,
                    client_id=client.id,
                    data={
                        "report_id": str(report_id),
                        "client_id": str(client.id),
                        "client_code": client.code,
                        "cadence": period.cadence,
                        "period": period.label,
                        "start": period.start.isoformat(),
                        "end": period.end.isoformat(),
                        **links(report_id),
                    },
                )
            ],
        )
    if send:
        outbox.enqueue(
            session, scope.tenant_id, DELIVER_REPORT_JOB, queue=MAIL_QUEUE, report_id=str(report_id)
        )
    return Made(report_id, created)


def _require_ended(period: ReportPeriod, time_zone: str, now: datetime) -> None:
    if period.end >= now.astimezone(ZoneInfo(time_zone)).date():
        raise_if(
            [field_error("period", f"{period.label} has not ended yet in the client's time zone")],
            what="The report cannot be made yet",
        )


async def run_now(
    session: AsyncSession, scope: Scope, data: schemas.ReportRun, today: datetime
) -> schemas.Report:
    """A report made on request (a back-fill or a correction): only for a period that has ended."""
    period = parse_period(data.period)
    client = await clients.get_client_row(session, scope, data.client_id, "client_id")
    _require_ended(period, client.time_zone, today)
    made = await make_report(session, scope, client.id, period, None, send=data.send)
    return await get_report(session, scope, made.report_id)


async def run_due(session: AsyncSession, scope: Scope, now: datetime, failures: Failures) -> int:
    """Make every report of the tenant that is due and not made yet; the number made."""
    subscriptions = (
        await session.scalars(
            select(ReportSubscription)
            .where(ReportSubscription.tenant_id == scope.tenant_id, ReportSubscription.active.is_(True))
            .order_by(ReportSubscription.id)
        )
    ).all()
    made = 0
    for subscription in subscriptions:
        due, period = latest_due(
            cast("schemas.Cadence", subscription.cadence),
            subscription.weekday,
            subscription.day_of_month,
            subscription.send_at,
            ZoneInfo(subscription.time_zone),
            now,
        )
        # A new subscription starts with the next report, not with one owed before it existed.
        if due < subscription.created_at:
            continue
        exists = await session.scalar(
            select(Report.id).where(
                Report.tenant_id == scope.tenant_id,
                Report.client_id == subscription.client_id,
                Report.period == period.label,
            )
        )
        if exists is not None:
            continue
        async with failures.isolated(session, SUBSCRIPTION, subscription.id):
            await make_report(session, scope, subscription.client_id, period, subscription)
            made += 1
    return made


# --- reading ------------------------------------------------------------------------------------


def _visible_reports(scope: Scope) -> Select[Report]:
    statement = select(Report).where(Report.tenant_id == scope.tenant_id)
    restriction = clients.client_restriction(scope)
    if restriction is not None:
        statement = statement.where(Report.client_id == restriction)
    return statement


async def get_report_row(session: AsyncSession, scope: Scope, report_id: uuid.UUID) -> Report:
    row = await session.scalar(_visible_reports(scope).where(Report.id == report_id))
    if row is None:
        raise NotFound(f"Report {report_id} not found.")
    return row


def report_content(row: Report) -> schemas.ReportContent:
    return msgspec.convert(row.content, schemas.ReportContent)


def report_view(row: Report) -> schemas.Report:
    numbers = report_content(row)
    return schemas.Report(
        id=row.id,
        client_id=row.client_id,
        client_code=numbers.client_code,
        client_name=numbers.client_name,
        cadence=cast("schemas.Cadence", row.cadence),
        period=row.period,
        start=row.period_start,
        end=row.period_end,
        time_zone=row.time_zone,
        language=row.language if is_language(row.language) else "ja",
        generated_at=row.generated_at,
        generations=row.generations,
        contracts=numbers.contracts,
        escalations=numbers.escalations,
        **links(row.id),
    )


def summary_view(row: Report) -> schemas.ReportSummary:
    return schemas.ReportSummary(
        id=row.id,
        client_id=row.client_id,
        client_code=row.content.get("client_code", ""),
        client_name=row.content.get("client_name", ""),
        cadence=cast("schemas.Cadence", row.cadence),
        period=row.period,
        start=row.period_start,
        end=row.period_end,
        language=row.language if is_language(row.language) else "ja",
        generated_at=row.generated_at,
    )


async def get_report(session: AsyncSession, scope: Scope, report_id: uuid.UUID) -> schemas.Report:
    return report_view(await get_report_row(session, scope, report_id))


async def list_reports(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    client_id: uuid.UUID | None = None,
    cadence: schemas.Cadence | None = None,
) -> schemas.ReportPage:
    statement = _visible_reports(scope)
    if client_id is not None:
        # Naming a client the caller may not see is a 404, never a quietly empty list.
        await clients.get_client_row(session, scope, client_id)
        statement = statement.where(Report.client_id == client_id)
    if cadence is not None:
        statement = statement.where(Report.cadence == cadence)
    rows, next_cursor = await paginate(session, statement, Report.id, limit=limit, cursor=cursor)
    return schemas.ReportPage(items=[summary_view(row) for row in rows], next_cursor=next_cursor)


async def recent_reports(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID | None, limit: int = 100
) -> list[schemas.ReportSummary]:
    """The newest reports first, for the dashboard's archive."""
    statement = _visible_reports(scope)
    if client_id is not None:
        statement = statement.where(Report.client_id == client_id)
    rows = await session.scalars(
        statement.order_by(Report.period_start.desc(), Report.id.desc()).limit(limit)
    )
    return [summary_view(row) for row in rows]


@dataclass(frozen=True, slots=True)
class BackfillResult:
    made: list[str]
    remade: list[str]
    failed: dict[str, str]


async def backfill(
    runtime: Runtime,
    scope: Scope,
    period_text: str,
    client_code: str | None,
    *,
    send: bool = True,
    on_total: Callable[[int], None] = lambda _: None,
    on_client: Callable[[], None] = lambda: None,
) -> BackfillResult:
    """Make one period's reports here and now, for one client (by code) or for every client subscribed to
    that kind of report, one client per transaction; a client that fails is reported and the others go on.
    Each recipient still gets at most one mail per report."""
    period = parse_period(period_text)
    async with runtime.db.tenant(scope.tenant_id) as session:
        if client_code is not None:
            found = await session.scalar(
                select(Client.id).where(Client.tenant_id == scope.tenant_id, Client.code == client_code)
            )
            if found is None:
                raise NotFound(f"No client with code {client_code!r}.")
            targets = [(found, client_code)]
        else:
            subscribed = await session.execute(
                select(Client.id, Client.code)
                .join(
                    ReportSubscription,
                    (ReportSubscription.tenant_id == Client.tenant_id)
                    & (ReportSubscription.client_id == Client.id),
                )
                .where(Client.tenant_id == scope.tenant_id, ReportSubscription.cadence == period.cadence)
                .order_by(Client.code)
            )
            targets = [(client_id, code) for client_id, code in subscribed]
    on_total(len(targets))
    result = BackfillResult(made=[], remade=[], failed={})
    for client_id, code in targets:
        try:
            async with runtime.db.tenant(scope.tenant_id) as session:
                outbox.relay_on_commit(session, runtime.relay)
                client = await clients.get_client_row(session, scope, client_id)
                _require_ended(period, client.time_zone, datetime.now(UTC))
                made = await make_report(session, scope, client_id, period, None, send=send)
            (result.made if made.created else result.remade).append(code)
        except Exception as error:
            if is_transient(error):
                raise
            result.failed[code] = describe(error)
        on_client()
    return result
