"""What a dashboard page shows, assembled from the SLA service's own results so the page and the JSON API
can never disagree, and the template environment that renders it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core import charts, i18n
from bpo.core.i18n import N_, Lang
from bpo.core.scope import Scope
from bpo.sla import schemas
from bpo.sla import service as sla
from bpo.sla.wording import CLOCKS, STATUSES, duration, hours, objective_label, work_type
from bpo.work.voices import schemas as voice_schemas
from bpo.work.voices import summary as voice_summary
from bpo.work.voices import wording as voice_wording

Period = Literal[7, 30, 90]
PERIODS: tuple[Period, ...] = (7, 30, 90)


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
    # (day, CSAT of the day, NPS of the day) for the days with either, in order.
    satisfaction: list[tuple[date, schemas.CsatPoint | None, schemas.NpsPoint | None]]
    # Users' voices over the period, for a contract with any in it or in the period before.
    voices: voice_schemas.ContractVoices | None = None


@dataclass(frozen=True)
class ClientDashboard:
    summary: schemas.ClientSla
    days: Period
    cards: list[ContractCard]


async def client_dashboard(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, days: Period, lang: Lang
) -> ClientDashboard:
    """The last ``days`` days up to today in the client's zone, for every contract the caller may see."""
    summary, details = await sla.client_dashboard(session, scope, client_id, days)
    calendar = [summary.start + timedelta(days=offset) for offset in range(days)]
    voices = await voice_summary.of_contracts(
        session,
        scope,
        [c.contract_id for c in summary.contracts],
        summary.time_zone,
        summary.start,
        summary.end,
    )
    cards = [
        replace(
            _card(f"k{number}", contract, details[contract.contract_id], calendar, lang),
            voices=voices.get(contract.contract_id),
        )
        for number, contract in enumerate(summary.contracts, 1)
    ]
    return ClientDashboard(summary=summary, days=days, cards=cards)


def _card(
    prefix: str,
    summary: schemas.ContractSummary,
    detail: schemas.ContractSla,
    calendar: list[date],
    lang: Lang,
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
                lang=lang,
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
                    lang=lang,
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
                lang=lang,
                title=N_("Coverage staffed at full headcount against target, by day"),
                measured=N_("required coverage"),
            ),
        )
    received = {point.period: point.received for point in detail.volumes.series}
    rated = {point.period: point for point in detail.csat.series} if detail.csat else {}
    answered = {point.period: point for point in detail.nps.series} if detail.nps else {}
    return ContractCard(
        summary=summary,
        detail=detail,
        objectives=objectives,
        coverage=coverage,
        volume_chart=charts.volume_chart(
            f"{prefix}-volume", calendar, [received.get(day, 0) for day in calendar], lang=lang
        ),
        satisfaction=[(day, rated.get(day), answered.get(day)) for day in sorted({*rated, *answered})],
    )


def _environment() -> Environment:
    env = i18n.environment(
        PackageLoader("bpo.web", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        duration=i18n.with_lang(duration),
        hours=i18n.with_lang(hours),
        objective_label=i18n.with_lang(objective_label),
        work_type=i18n.with_lang(work_type),
        span=i18n.with_lang(charts.span),
        voice_label=i18n.with_lang(voice_wording.label),
        voice_channel=i18n.with_lang(voice_wording.channel),
        voice_sentiment=i18n.with_lang(voice_wording.sentiment),
        voice_list=i18n.with_lang(voice_wording.listed),
    )
    env.globals.update(CLOCKS=CLOCKS, STATUSES=STATUSES, PERIODS=PERIODS)
    return env


TEMPLATES = TemplateConfig(instance=JinjaTemplateEngine(engine_instance=_environment()))
