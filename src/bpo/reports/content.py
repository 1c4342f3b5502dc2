"""A client report's numbers for one period, taken from the SLA service itself (so a report says exactly
what ``GET /v1/contracts/{id}/sla`` says for the same days), with the period before for comparison."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.models import Contract
from bpo.core.scope import Scope
from bpo.reports import schemas
from bpo.reports.periods import ReportPeriod
from bpo.sla import schemas as sla_schemas
from bpo.sla import service as sla
from bpo.work import escalations
from bpo.work.voices import schemas as voice_schemas
from bpo.work.voices import summary as voice_summary


async def _contracts_in(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    period: ReportPeriod,
    chosen: Sequence[uuid.UUID],
) -> list[tuple[uuid.UUID, str]]:
    statement = (
        contracts.visible_contracts(scope)
        .with_only_columns(Contract.id, Contract.work_type)
        .where(
            Contract.client_id == client_id,
            Contract.status != "draft",
            Contract.start_date <= period.end,
            (Contract.end_date.is_(None)) | (Contract.end_date >= period.start),
        )
        .order_by(Contract.code)
    )
    if chosen:
        statement = statement.where(Contract.id.in_(list(chosen)))
    return [(contract_id, work_type) for contract_id, work_type in await session.execute(statement)]


async def reported_contracts(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    period: ReportPeriod,
    chosen: Sequence[uuid.UUID],
) -> list[uuid.UUID]:
    """The client's contracts in force for part of ``period`` (only ``chosen``, if any), by code."""
    return [contract_id for contract_id, _ in await _contracts_in(session, scope, client_id, period, chosen)]


def _line(
    objective: sla_schemas.ObjectiveSla, before: sla_schemas.ObjectiveSla | None
) -> schemas.ObjectiveLine:
    return schemas.ObjectiveLine(
        key=objective.key,
        metric=objective.metric,
        threshold=objective.threshold,
        clock=objective.clock,
        target_percent=objective.target_percent,
        attainment=objective.attainment,
        previous_attainment=before.attainment if before else None,
        met=objective.met,
        breached=objective.breached,
        pending=objective.pending,
        status=objective.status,
        mean_ms=objective.mean_ms,
    )


def _csat(now: sla_schemas.CsatSla | None, before: sla_schemas.CsatSla | None) -> schemas.CsatLine | None:
    if now is None:
        return None
    return schemas.CsatLine(
        responses=now.responses,
        satisfied=now.satisfied,
        score=now.score,
        mean=now.mean,
        previous_score=before.score if before else None,
    )


def _nps(now: sla_schemas.NpsSla | None, before: sla_schemas.NpsSla | None) -> schemas.NpsLine | None:
    if now is None:
        return None
    return schemas.NpsLine(
        responses=now.responses,
        promoters=now.promoters,
        passives=now.passives,
        detractors=now.detractors,
        score=now.score,
        previous_score=before.score if before else None,
    )


async def _section(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, work_type: str, period: ReportPeriod
) -> schemas.ContractSection:
    now = await sla.contract_sla(session, scope, contract_id, period.start, period.end, "day")
    previous = period.previous()
    before = await sla.contract_sla(session, scope, contract_id, previous.start, previous.end, "day")
    earlier = {objective.key: objective for objective in before.objectives}
    by_day = {point.period: point for point in now.volumes.series}
    days = []
    for offset in range((period.end - period.start).days + 1):
        day = period.start + timedelta(days=offset)
        point = by_day.get(day)
        days.append(
            schemas.DayLine(
                day=day, received=point.received if point else 0, resolved=point.resolved if point else 0
            )
        )
    return schemas.ContractSection(
        contract_id=now.contract_id,
        contract_code=now.contract_code,
        name=now.name,
        work_type=work_type,
        received=now.volumes.received,
        responded=now.volumes.responded,
        resolved=now.volumes.resolved,
        previous_received=before.volumes.received,
        objectives=[_line(objective, earlier.get(objective.key)) for objective in now.objectives],
        coverage_attainment=now.coverage.attainment if now.coverage else None,
        coverage_target_percent=now.coverage.target_percent if now.coverage else None,
        days=days,
        csat=_csat(now.csat, before.csat),
        nps=_nps(now.nps, before.nps),
    )


async def sections(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    period: ReportPeriod,
    chosen: Sequence[uuid.UUID],
) -> list[schemas.ContractSection]:
    """A section per contract reported on, in the order of their codes, with its users' voices."""
    found = [
        await _section(session, scope, contract_id, work_type, period)
        for contract_id, work_type in await _contracts_in(session, scope, client_id, period, chosen)
    ]
    digests = await _voices(session, scope, client_id, period, [section.contract_id for section in found])
    return [msgspec.structs.replace(s, voices=digests.get(s.contract_id)) for s in found]


async def _voices(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    period: ReportPeriod,
    contract_ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, schemas.VoiceDigest]:
    """The users' voices of each contract with any in ``period`` or the one before, in the client's zone
    (as its SLA numbers), from the same figures as ``GET /v1/clients/{id}/voices/summary``."""
    if not contract_ids:
        return {}
    client = await clients.get_client_row(session, scope, client_id)
    figures = await voice_summary.of_contracts(
        session, scope, contract_ids, client.time_zone, period.start, period.end
    )
    return {contract_id: _digest(figure) for contract_id, figure in figures.items()}


def _digest(figure: voice_schemas.ContractVoices) -> schemas.VoiceDigest:
    labels = {line.key: (line.label_ja, line.label_en) for line in figure.categories}
    rising = [labels[key] for key in figure.trending_up]
    return schemas.VoiceDigest(
        total=figure.total,
        previous_total=figure.previous_total,
        positive=figure.sentiments.positive,
        neutral=figure.sentiments.neutral,
        negative=figure.sentiments.negative,
        unrated=figure.sentiments.unrated,
        categories=[
            schemas.VoiceCategoryLine(
                key=line.key,
                label_ja=line.label_ja,
                label_en=line.label_en,
                total=line.total,
                previous_total=line.previous_total,
                positive=line.sentiments.positive,
                neutral=line.sentiments.neutral,
                negative=line.sentiments.negative,
                trend=line.trend,
            )
            for line in figure.categories
            if line.total or line.previous_total
        ],
        rising_ja=[ja for ja, _ in rising],
        rising_en=[en for _, en in rising],
        highlighted=[
            schemas.VoiceQuote(
                text=voice.text,
                observed_at=voice.observed_at,
                category_ja=labels[voice.category][0] if voice.category in labels else None,
                category_en=labels[voice.category][1] if voice.category in labels else None,
                sentiment=voice.sentiment.value if voice.sentiment else None,
                channel=voice.channel,
                source_url=voice.source_url,
            )
            for voice in figure.highlighted
        ],
    )


async def escalation_lines(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, period: ReportPeriod, time_zone: str
) -> list[schemas.EscalationLine]:
    """The client's escalations raised in ``period`` (its days in ``time_zone``), by severity."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(period.start, time(), zone)
    end = datetime.combine(period.end + timedelta(days=1), time(), zone)
    return [
        schemas.EscalationLine(
            severity=line.severity,
            raised=line.raised,
            acknowledged=line.acknowledged,
            median_minutes_to_acknowledge=line.median_minutes_to_acknowledge,
            mean_minutes_to_acknowledge=line.mean_minutes_to_acknowledge,
        )
        for line in await escalations.figures(session, scope, client_id, start, end)
    ]
