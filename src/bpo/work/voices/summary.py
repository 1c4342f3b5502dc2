"""A client's voices over a period of local days (the client's zone), per contract: how many per category
and sentiment, per day, the highlighted ones, and the categories rising against the period of the same
length just before. The dashboard and the client reports show exactly these figures."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.models import Contract
from bpo.core.errors import FieldErrors, field_error, raise_if
from bpo.core.http import date_errors
from bpo.core.scope import Scope
from bpo.work import search
from bpo.work.schemas import Sentiment
from bpo.work.voices import schemas
from bpo.work.voices.models import Voice
from bpo.work.voices.service import categories_of, visible_voices, voice_view

DEFAULT_DAYS = 7
MAX_SPAN = timedelta(days=400)
MAX_HIGHLIGHTED = 10
# A category trends up (or down) when it gathers at least MIN_CHANGE more (fewer) voices than in the
# previous period, and at least CHANGE_SHARE of that period's count more (fewer): 0 → 2 is up, 10 → 12 is
# not, 10 → 13 is.
MIN_CHANGE = 2
CHANGE_SHARE = 0.25
UNCATEGORIZED_LABELS = ("未分類", "Not categorized")
SENTIMENT_ORDER = {"positive": 0, "neutral": 1, "negative": 2, None: 3}


def trend(current: int, previous: int) -> schemas.Trend:
    change = current - previous
    if abs(change) >= MIN_CHANGE and abs(change) >= previous * CHANGE_SHARE:
        return "up" if change > 0 else "down"
    return "flat"


def resolve_days(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The period asked for, by default the last DEFAULT_DAYS days up to today; every mistake named."""
    raise_if(date_errors(("start", start), ("end", end)))
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    errors: FieldErrors = []
    if start > end:
        errors.append(field_error("start", "after end"))
    elif end - start > MAX_SPAN:
        errors.append(field_error("end", f"more than {MAX_SPAN.days} days after start"))
    raise_if(errors)
    return start, end


def _counts(by_sentiment: Counter[str | None]) -> schemas.VoiceSentimentCounts:
    return schemas.VoiceSentimentCounts(
        positive=by_sentiment[Sentiment.POSITIVE.value],
        neutral=by_sentiment[Sentiment.NEUTRAL.value],
        negative=by_sentiment[Sentiment.NEGATIVE.value],
        unrated=by_sentiment[None],
    )


def contract_voices(
    contract: Contract,
    categories: Sequence[schemas.VoiceCategory],
    rows: Sequence[tuple[date, str | None, str | None, int]],
    start: date,
    highlighted: list[schemas.Voice],
) -> schemas.ContractVoices:
    """The figures of one contract from its counts per (day, category, sentiment) over both periods."""
    now: dict[str | None, Counter[str | None]] = {}
    before: Counter[str | None] = Counter()
    days = []
    for day, category, sentiment, count in rows:
        if day >= start:
            now.setdefault(category, Counter())[sentiment] += count
            days.append((day, category, sentiment, count))
        else:
            before[category] += count
    order = {c.key: i for i, c in enumerate(categories)}
    labels: dict[str | None, tuple[str, str]] = {c.key: (c.label_ja, c.label_en) for c in categories}
    # A key no longer listed (never in practice: listed keys in use cannot be removed) shows as itself.
    extra = sorted(k for k in {*now, *before} if k is not None and k not in order)
    keys: list[str | None] = [*(c.key for c in categories), *extra]
    if None in now or None in before:
        keys.append(None)
    lines = []
    for key in keys:
        sentiments = now.get(key, Counter())
        total = sum(sentiments.values())
        label_ja, label_en = labels.get(key) or ((key, key) if key is not None else UNCATEGORIZED_LABELS)
        lines.append(
            schemas.VoiceCategoryCount(
                key=key,
                label_ja=label_ja,
                label_en=label_en,
                total=total,
                sentiments=_counts(sentiments),
                previous_total=before[key],
                trend=trend(total, before[key]),
            )
        )
    rising = [line for line in lines if line.key is not None and line.trend == "up"]
    rising.sort(key=lambda line: -(line.total - line.previous_total))
    position = {key: i for i, key in enumerate(keys)}
    days.sort(key=lambda d: (d[0], position[d[1]], SENTIMENT_ORDER.get(d[2], 3)))
    overall: Counter[str | None] = Counter()
    for sentiments in now.values():
        overall.update(sentiments)
    return schemas.ContractVoices(
        contract_id=contract.id,
        contract_code=contract.code,
        name=contract.name,
        total=sum(overall.values()),
        previous_total=sum(before.values()),
        sentiments=_counts(overall),
        categories=lines,
        days=[
            schemas.VoiceDayCount(
                day=day, category=category, sentiment=Sentiment(sentiment) if sentiment else None, count=count
            )
            for day, category, sentiment, count in days
        ],
        trending_up=[line.key for line in rising if line.key is not None],
        highlighted=highlighted,
    )


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone)


async def contracts_voices(
    session: AsyncSession,
    scope: Scope,
    rows: Sequence[Contract],
    zone: ZoneInfo,
    start: date,
    end: date,
    *,
    only_with_voices: bool = False,
) -> list[schemas.ContractVoices]:
    """The figures of each of ``rows`` (contracts the caller may see) over ``start``..``end`` local days in
    ``zone``, and the period of the same length before; ``only_with_voices`` leaves out a contract with no
    voice in either."""
    if not rows:
        return []
    previous_start = start - (end - start + timedelta(days=1))
    lower, middle = _midnight(previous_start, zone), _midnight(start, zone)
    upper = _midnight(end + timedelta(days=1), zone)
    day = func.date(func.timezone(zone.key, Voice.observed_at))
    ids = [row.id for row in rows]
    counted = await session.execute(
        select(Voice.contract_id, day, Voice.category, Voice.sentiment, func.count())
        .where(
            Voice.tenant_id == scope.tenant_id,
            Voice.contract_id.in_(ids),
            Voice.observed_at >= lower,
            Voice.observed_at < upper,
        )
        .group_by(Voice.contract_id, day, Voice.category, Voice.sentiment)
    )
    per_contract: dict[uuid.UUID, list[tuple[date, str | None, str | None, int]]] = {}
    for contract_id, on, category, sentiment, count in counted:
        per_contract.setdefault(contract_id, []).append((on, category, sentiment, count))
    categories = await categories_of(session, scope, ids)
    found = []
    for row in rows:
        if only_with_voices and row.id not in per_contract:
            continue
        highlighted = (
            await session.execute(
                visible_voices(scope)
                .where(
                    Voice.contract_id == row.id,
                    Voice.highlighted.is_(True),
                    Voice.observed_at >= middle,
                    Voice.observed_at < upper,
                )
                .order_by(Voice.observed_at.desc(), Voice.id.desc())
                .limit(MAX_HIGHLIGHTED)
            )
        ).all()
        found.append(
            contract_voices(
                row,
                categories[row.id],
                per_contract.get(row.id, []),
                start,
                [voice_view(*voice) for voice in highlighted],
            )
        )
    return found


async def of_contracts(
    session: AsyncSession,
    scope: Scope,
    contract_ids: Sequence[uuid.UUID],
    time_zone: str,
    start: date,
    end: date,
) -> dict[uuid.UUID, schemas.ContractVoices]:
    """The figures of each of ``contract_ids`` the caller may see that has voices over ``start``..``end``
    (local days in ``time_zone``) or the period of the same length before, by contract id."""
    if not contract_ids:
        return {}
    rows = (
        await session.scalars(
            contracts.visible_contracts(scope)
            .where(Contract.id.in_(list(contract_ids)))
            .order_by(Contract.code)
        )
    ).all()
    found = await contracts_voices(
        session, scope, rows, ZoneInfo(time_zone), start, end, only_with_voices=True
    )
    return {figure.contract_id: figure for figure in found}


async def client_summary(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    start: date | None,
    end: date | None,
    chosen: Sequence[uuid.UUID] = (),
) -> schemas.VoiceSummary:
    """The client's voices over ``start``..``end`` in its zone: the contracts named (each the client's, else
    404), or else every contract of the client with voices in the period or the one before."""
    client = await clients.get_client_row(session, scope, client_id)
    zone = ZoneInfo(client.time_zone)
    first, last = resolve_days(start, end, datetime.now(zone).date())
    rows = await search.visible_contracts(session, scope, list(dict.fromkeys(chosen)), client.id)
    found = await contracts_voices(session, scope, rows, zone, first, last, only_with_voices=not chosen)
    span = last - first + timedelta(days=1)
    return schemas.VoiceSummary(
        client_id=client.id,
        client_code=client.code,
        name=client.name,
        time_zone=client.time_zone,
        start=first,
        end=last,
        previous_start=first - span,
        previous_end=first - timedelta(days=1),
        contracts=found,
    )
