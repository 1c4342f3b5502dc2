"""What the people a contract serves think of it: CSAT ratings (1-5) that work items carry, counted per
score in the volume rollups, and the answers to the contract's NPS survey (0-10), kept one row per answer.

CSAT: ``score`` is the percentage of satisfied ratings (4 and 5) among those given, ``mean`` the average
rating. NPS: promoters answer 9-10, passives 7-8, detractors 0-6; the score is the percentage of
promoters minus the percentage of detractors (-100 to 100). Both per period of the dashboards (local
days of the client's zone: CSAT by the item's receipt, NPS by the answer's time).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.schemas import ContractStatus
from bpo.core.db import Compiled, Reader
from bpo.core.errors import Conflict, FieldErrors, Invalid, field_error
from bpo.core.http import instant_period
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Scope
from bpo.sla import schemas
from bpo.sla.models import NpsResponse
from bpo.sla.rollups import day_bounds

SATISFIED = frozenset({"4", "5"})
PROMOTER = 9
PASSIVE = 7
# Clocks differ; an answer given further ahead than this is a client bug, not skew.
MAX_FUTURE = timedelta(hours=1)
Category = Literal["promoter", "passive", "detractor"]


def category(score: int) -> Category:
    if score >= PROMOTER:
        return "promoter"
    return "passive" if score >= PASSIVE else "detractor"


# --- CSAT ---------------------------------------------------------------------------------------


def _csat_figures(ratings: Mapping[str, int]) -> tuple[int, int, float | None, float | None]:
    """(responses, satisfied, score %, mean rating) of ratings counted per score."""
    responses = sum(ratings.values())
    satisfied = sum(count for score, count in ratings.items() if score in SATISFIED)
    if not responses:
        return 0, 0, None, None
    total = sum(int(score) * count for score, count in ratings.items())
    return responses, satisfied, 100 * satisfied / responses, total / responses


def csat_sla(by_period: Mapping[date, Mapping[str, int]]) -> schemas.CsatSla | None:
    """The range's CSAT from its ratings per period; None when nothing was rated."""
    distribution: Counter[str] = Counter()
    series = []
    for period in sorted(by_period):
        ratings = {score: count for score, count in by_period[period].items() if count}
        if not ratings:
            continue
        distribution.update(ratings)
        responses, satisfied, score, mean = _csat_figures(ratings)
        series.append(
            schemas.CsatPoint(period=period, responses=responses, satisfied=satisfied, score=score, mean=mean)
        )
    if not distribution:
        return None
    responses, satisfied, score, mean = _csat_figures(distribution)
    return schemas.CsatSla(
        responses=responses,
        satisfied=satisfied,
        score=score,
        mean=mean,
        distribution={str(n): distribution[str(n)] for n in range(1, 6)},
        series=series,
    )


# --- NPS: the figures ---------------------------------------------------------------------------


def nps_score(promoters: int, detractors: int, responses: int) -> float | None:
    # 100 * (p - d) first: dividing first would leave float noise in a whole score.
    return 100 * (promoters - detractors) / responses if responses else None


_NPS_BY_DAY = Compiled(
    text(
        """
        SELECT (responded_at AT TIME ZONE :zone)::date AS day,
               count(*) FILTER (WHERE score >= 9) AS promoters,
               count(*) FILTER (WHERE score BETWEEN 7 AND 8) AS passives,
               count(*) FILTER (WHERE score <= 6) AS detractors
        FROM nps_responses
        WHERE tenant_id = :tenant_id AND contract_id = :contract_id
          AND responded_at >= :lower AND responded_at < :upper
        GROUP BY 1
        """
    )
)


async def nps_sla(
    read: Reader,
    scope: Scope,
    contract_id: uuid.UUID,
    first: date,
    last: date,
    zone: ZoneInfo,
    period_of: Callable[[date], date],
) -> schemas.NpsSla | None:
    """The survey answers given on local days ``first``..``last``, in total and per period; None when
    there are none."""
    lower, upper = day_bounds(first, last, zone)
    rows = await read.all(
        _NPS_BY_DAY,
        zone=zone.key,
        tenant_id=scope.tenant_id,
        contract_id=contract_id,
        lower=lower,
        upper=upper,
    )
    periods: dict[date, list[int]] = {}
    for day, promoters, passives, detractors in rows:
        counts = periods.setdefault(period_of(day), [0, 0, 0])
        counts[0] += promoters
        counts[1] += passives
        counts[2] += detractors
    if not periods:
        return None
    series = [
        schemas.NpsPoint(
            period=period,
            responses=sum(counts),
            promoters=counts[0],
            passives=counts[1],
            detractors=counts[2],
            score=nps_score(counts[0], counts[2], sum(counts)),
        )
        for period, counts in sorted(periods.items())
    ]
    promoters, passives, detractors = (sum(point[i] for point in periods.values()) for i in range(3))
    responses = promoters + passives + detractors
    return schemas.NpsSla(
        responses=responses,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        score=nps_score(promoters, detractors, responses),
        series=series,
    )


# --- NPS: answers in and out --------------------------------------------------------------------


def check_responses(items: Sequence[schemas.NpsResponseIn], now: datetime) -> FieldErrors:
    """Every problem msgspec cannot see, each naming its index and field."""
    errors: FieldErrors = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.external_id in seen:
            repeated = f"repeats items[{seen[item.external_id]}] in this batch"
            errors.append(field_error(f"items[{i}].external_id", repeated, index=i))
        seen.setdefault(item.external_id, i)
        if item.responded_at.tzinfo is None:
            errors.append(
                field_error(
                    f"items[{i}].responded_at", "needs a UTC offset (e.g. 2026-10-01T09:00:00+09:00)", index=i
                )
            )
        elif item.responded_at > now + MAX_FUTURE:
            errors.append(field_error(f"items[{i}].responded_at", "is in the future", index=i))
    return errors


async def ingest_responses(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, batch: schemas.NpsResponseBatch
) -> schemas.NpsBatchResult:
    """Upsert the answers by external id: a resend of the same answer changes nothing, a corrected one
    replaces it. Any invalid answer rejects the batch, naming every one."""
    contract = await contracts.get_contract_row(session, scope, contract_id)
    if contract.status == ContractStatus.DRAFT.value:
        raise Conflict(
            f"Contract {contract.code} is a draft; activate it before sending survey answers.",
            slug="contract-not-active",
        )
    errors = check_responses(batch.items, datetime.now(UTC))
    if errors:
        bad = sorted({error["index"] for error in errors})
        raise Invalid(
            f"{len(bad)} of {len(batch.items)} answers are invalid (indexes {bad[:20]}); "
            "nothing was written.",
            errors=errors,
        )
    statement = insert(NpsResponse).values(
        [
            {
                "tenant_id": scope.tenant_id,
                "id": new_id(),
                "contract_id": contract.id,
                "external_id": item.external_id,
                "score": item.score,
                "responded_at": item.responded_at.astimezone(UTC),
                "comment": item.comment,
            }
            for item in batch.items
        ]
    )
    new = statement.excluded
    changed = (
        (
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["tenant_id", "contract_id", "external_id"],
                    set_={
                        "score": new.score,
                        "responded_at": new.responded_at,
                        "comment": new.comment,
                        "updated_at": func.now(),
                    },
                    where=text(
                        "(nps_responses.score, nps_responses.responded_at, nps_responses.comment)"
                        " IS DISTINCT FROM (excluded.score, excluded.responded_at, excluded.comment)"
                    ),
                ).returning(text("xmax = 0"))
            )
        )
        .scalars()
        .all()
    )
    created = sum(1 for inserted in changed if inserted)
    return schemas.NpsBatchResult(
        contract_id=contract.id,
        received=len(batch.items),
        created=created,
        updated=len(changed) - created,
        unchanged=len(batch.items) - len(changed),
    )


def response_view(row: NpsResponse) -> schemas.NpsResponse:
    return schemas.NpsResponse(
        id=row.id,
        contract_id=row.contract_id,
        external_id=row.external_id,
        score=row.score,
        category=category(row.score),
        responded_at=row.responded_at,
        comment=row.comment,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_responses(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
    start: str | None = None,
    end: str | None = None,
    external_id: str | None = None,
) -> schemas.NpsResponsePage:
    """A contract's survey answers in the order they first came in; ``start`` inclusive and ``end``
    exclusive bound the time they were answered."""
    first, last = instant_period(start, end)
    contract = await contracts.get_contract_row(session, scope, contract_id)
    statement = select(NpsResponse).where(
        NpsResponse.tenant_id == scope.tenant_id, NpsResponse.contract_id == contract.id
    )
    if first is not None:
        statement = statement.where(NpsResponse.responded_at >= first)
    if last is not None:
        statement = statement.where(NpsResponse.responded_at < last)
    if external_id is not None:
        statement = statement.where(NpsResponse.external_id == external_id)
    rows, next_cursor = await paginate(session, statement, NpsResponse.id, limit=limit, cursor=cursor)
    return schemas.NpsResponsePage(items=[response_view(row) for row in rows], next_cursor=next_cursor)
