"""What a dashboard page shows, assembled from the SLA service's own results so the page and the JSON API
can never disagree, and the template environment that renders it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import service as clients
from bpo.core.scope import Scope
from bpo.sla import schemas
from bpo.sla import service as sla
from bpo.web import charts

Period = Literal[7, 30, 90]
PERIODS: tuple[Period, ...] = (7, 30, 90)

METRICS = {"first_response": "First response", "resolution": "Resolution"}
CLOCKS = {"business_hours": "business hours", "calendar": "calendar time"}
STATUSES = {"green": "On target", "amber": "Near target", "red": "Below target"}


@dataclass(frozen=True)
class ObjectiveView:
    summary: schemas.ObjectiveSummary
    detail: schemas.ObjectiveSla
    attainment_chart: Markup
    checkpoint_chart: Markup | None


@dataclass(frozen=True)
class CoverageView:
    summary: schemas.CoverageObjectiveSummary
    detail: schemas.CoverageSla
    chart: Markup


@dataclass(frozen=True)
class ContractCard:
    summary: schemas.ContractSummary
    detail: schemas.ContractSla
    objectives: list[ObjectiveView]
    coverage: CoverageView | None
    volume_chart: Markup


@dataclass(frozen=True)
class ClientDashboard:
    summary: schemas.ClientSla
    days: Period
    cards: list[ContractCard]


async def client_dashboard(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, days: Period
) -> ClientDashboard:
    """The last ``days`` days up to today in the client's zone, for every contract the caller may see."""
    client = await clients.get_client(session, scope, client_id)
    end = datetime.now(ZoneInfo(client.time_zone)).date()
    start = end - timedelta(days=days - 1)
    summary = await sla.client_sla(session, scope, client.id, start, end)
    calendar = [start + timedelta(days=offset) for offset in range(days)]
    cards = []
    for number, contract in enumerate(summary.contracts, 1):
        detail = await sla.contract_sla(session, scope, contract.contract_id, start, end, "day")
        cards.append(_card(f"k{number}", contract, detail, calendar))
    return ClientDashboard(summary=summary, days=days, cards=cards)


def _card(
    prefix: str, summary: schemas.ContractSummary, detail: schemas.ContractSla, calendar: list[date]
) -> ContractCard:
    details = {objective.key: objective for objective in detail.objectives}
    objectives = []
    for number, objective in enumerate(summary.objectives, 1):
        full = details[objective.key]
        by_day = {point.period: point.attainment for point in full.series}
        checkpoints = None
        if full.checkpoints:
            checkpoints = charts.checkpoint_chart(
                f"{prefix}-o{number}-checkpoints",
                [c.checkpoint for c in full.checkpoints],
                [c.percent for c in full.checkpoints],
            )
        objectives.append(
            ObjectiveView(
                summary=objective,
                detail=full,
                attainment_chart=charts.attainment_chart(
                    f"{prefix}-o{number}-attainment",
                    calendar,
                    [by_day.get(day) for day in calendar],
                    full.target_percent,
                ),
                checkpoint_chart=checkpoints,
            )
        )
    coverage = None
    if summary.coverage is not None and detail.coverage is not None:
        staffed = {point.period: point.attainment for point in detail.coverage.series}
        coverage = CoverageView(
            summary=summary.coverage,
            detail=detail.coverage,
            chart=charts.attainment_chart(
                f"{prefix}-coverage",
                calendar,
                [staffed.get(day) for day in calendar],
                detail.coverage.target_percent,
                title="Coverage staffed at full headcount against target, by day",
                measured="required coverage",
            ),
        )
    received = {point.period: point.received for point in detail.volumes.series}
    return ContractCard(
        summary=summary,
        detail=detail,
        objectives=objectives,
        coverage=coverage,
        volume_chart=charts.volume_chart(
            f"{prefix}-volume", calendar, [received.get(day, 0) for day in calendar]
        ),
    )


def objective_label(detail: schemas.ObjectiveSla) -> str:
    label = METRICS.get(detail.metric, detail.metric.replace("_", " ").capitalize())
    if detail.threshold:
        label += f" within {detail.threshold}"
    _, _, scope_filter = detail.key.partition("|")
    if scope_filter:
        label += f" ({scope_filter.replace('|', ', ')})"
    return label


def hours(minutes: float) -> str:
    return f"{minutes / 60:,.1f} h"


def duration(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "—"
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def target(value: float) -> str:
    return f"{value:g}%"


def long_day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bpo.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        percent=percent,
        target=target,
        duration=duration,
        hours=hours,
        day=charts.day_label,
        long_day=long_day,
        objective_label=objective_label,
    )
    env.globals.update(CLOCKS=CLOCKS, STATUSES=STATUSES, PERIODS=PERIODS)
    return env


TEMPLATES = TemplateConfig(instance=JinjaTemplateEngine(engine_instance=_environment()))
