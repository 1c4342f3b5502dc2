"""Benchmark: the month-end invoice run over a month of work items, against one SQL aggregate of the same
rows in the same run.

    python bench/invoices.py [--quick] [--contracts N] [--items M] [--repeat R]

A tenant applied as a manifest (as tenants/demo.yaml is) with N active contracts (default 1,000; quick
100), ten per client, each with an email-support SLA policy (first response within 8 h on the calendar's
clock, target 90%; resolution within 24 h) and a rate plan in force for the whole month: per unit,
graduated or volume tiers on the billable event (resolved items), every third one with a fixed monthly
fee, every fifth with a minimum commitment, every fourth with a meter of its own (its chats, counted)
and a per-unit charge on it, every sixth with a night surcharge (22:00-05:00 Tokyo) and every seventh
with a 5% service credit below 90% first-response attainment. M work items (default 1,000,000; quick
50,000), a third of them chats, received at evenly spaced instants of the last full month of the
tenant's zone, are loaded with asyncpg ``copy_records_to_table`` as the schema owner, then VACUUM
(ANALYZE). Every fourteenth contract answers up to 16.7 h late, so about half its items miss the
objective and its service credit applies.

The SLA rollups of every contract are then built as ``bpo sla rebuild`` builds them
(``sla.rollups.refresh_hours`` over the hours holding items, one contract per transaction), and their
tables vacuumed and analyzed, as autovacuum does to tables that stop changing (a checkpoint follows), so
the timings are those of a run over settled data rather than beside autovacuum. Then, in this
process and on the same warm database, alternated A B A B … (``--repeat`` times each, default 5): the
month-end run as the ``billing.run_period`` job does it (one transaction with the tenant set: the run's
inputs read for all clients at once, one aggregate per billable event and one statement of SLA
attainment, then client by client one draft with its lines, each in a savepoint; a repeated run replaces
the drafts), and the single aggregate no run can beat (units per contract over the same month, as the
application role under row-level security). ``run_s`` and ``sql_s`` are the medians.

The check, against SQL computed from the items, independently of the application's code: one draft per
client; for every contract, the quantities of its usage charge's lines equal its units resolved in the
month, its chat charge's its chats resolved in the month, its night surcharge's the units of those
received at night on Tokyo's clock; it has a service-credit line exactly when its plan has a credit and
its first-response attainment over the items received in the month is below 90% (met: answered within
8 h), of 5% of its other lines (half-up); and some credits apply.

With no BPO_DATABASE_URL / BPO_REDIS_URL it starts embedded PostgreSQL and Redis in a temporary directory
(see bench/api.py). The last line is ``RESULT invoices contracts=… items=… run_s=… sql_s=… ratio=…
credits=… repeats=…`` (``ratio``: run_s / sql_s; ``credits``: the service-credit lines of the drafts;
``repeats``: timings of each per median); the exit status is non-zero if the check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# bench/api.py and bench/ingest.py (this directory is on sys.path): environment, owner connection, COPY.
from api import Environment
from ingest import ATTRIBUTES_JSON, COPY_COLUMNS, TIME_ZONE, ZONE, Row, bench_settings, owner_connect
from sqlalchemy import func, select

from bpo.billing import invoice_runs as runs
from bpo.core.db import Database
from bpo.core.orm import new_id
from bpo.core.runtime import Runtime, freeze_startup_objects
from bpo.core.scope import system_scope
from bpo.onboarding.apply import apply_manifest
from bpo.onboarding.manifest import load_manifest
from bpo.settings import Settings
from bpo.sla import rollups
from bpo.tenancy.auth import tenant_id_for
from bpo.work.models import WorkItem

CONTRACTS_PER_CLIENT = 10
ROLLUP_TABLES = ("sla_hourly", "work_hourly", "sla_periods", "work_periods", "period_rollup_zones")
CHUNK = 50_000
USAGE_CODE = "items"
CHAT_CODE = "chat-items"
NIGHT_CODE = "night"
CREDIT_PERCENT = 5
CREDIT_BELOW = 90
FIRST_RESPONSE_WITHIN = timedelta(hours=8)
OBJECTIVES = [
    {
        "metric": "first_response",
        "threshold": "8h",
        "target_percent": 90,
        "clock": "calendar",
        "checkpoints": ["1h", "8h", "24h"],
    },
    {"metric": "resolution", "threshold": "24h", "target_percent": 85},
]
TIERS = [
    {"up_to": 400, "unit_price": 120},
    {"up_to": 2_000, "unit_price": 100},
    {"up_to": None, "unit_price": 80},
]


def last_full_month(today: date) -> tuple[date, date]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def chats_metered(number: int) -> bool:
    return number % 4 == 0


def night_surcharged(number: int) -> bool:
    return number % 6 == 0


def credited(number: int) -> bool:
    return number % 7 == 0


def answers_late(number: int) -> bool:
    return number % 14 == 0


# --- the tenant -------------------------------------------------------------------------------


def rate_plan(number: int) -> dict[str, Any]:
    usage: dict[str, Any]
    match number % 3:
        case 0:
            usage = {"kind": "per_unit", "code": USAGE_CODE, "name": "Items", "unit_price": 95}
        case 1:
            usage = {"kind": "graduated", "code": USAGE_CODE, "name": "Items", "tiers": TIERS}
        case _:
            usage = {"kind": "volume", "code": USAGE_CODE, "name": "Items", "tiers": TIERS}
    plan: dict[str, Any] = {"charges": [usage]}
    if number % 3 == 0:
        plan["charges"].append(
            {"kind": "fixed_monthly", "code": "base", "name": "Base fee", "amount": 30_000}
        )
    if number % 5 == 0:
        plan["minimum_commitment"] = 150_000
    if chats_metered(number):
        plan["meters"] = [{"code": "chats", "name": "Chats", "channels": ["chat"], "measure": "items"}]
        plan["charges"].append(
            {"kind": "per_unit", "code": CHAT_CODE, "name": "Chats", "unit_price": 30, "meter": "chats"}
        )
    if night_surcharged(number):
        plan["surcharges"] = [
            {
                "code": NIGHT_CODE,
                "name": "Night",
                "window": "night",
                "charges": [USAGE_CODE],
                "unit_price": 10,
            }
        ]
    if credited(number):
        plan["service_credits"] = [
            {"below_percent": CREDIT_BELOW, "credit_percent": CREDIT_PERCENT, "metric": "first_response"}
        ]
    return plan


def manifest(slug: str, contracts: int, start: date) -> dict[str, Any]:
    clients = []
    for c in range(max(1, contracts // CONTRACTS_PER_CLIENT)):
        first = c * CONTRACTS_PER_CLIENT
        numbers = range(first, min(first + CONTRACTS_PER_CLIENT, contracts))
        clients.append(
            {
                "code": f"CLIENT-{c:04d}",
                "name": f"Client {c:04d}",
                "currency": "JPY",
                "services": [{"code": "support", "name": "Support"}],
                "contracts": [
                    {
                        "code": f"K-{n:05d}",
                        "name": f"Support {n:05d}",
                        "service": "support",
                        "work_type": "email_support",
                        "start_date": start.isoformat(),
                        "status": "active",
                        "calendar": "EVERY-DAY",
                        "objectives": OBJECTIVES,
                        "rate_plan": rate_plan(n),
                    }
                    for n in numbers
                ],
            }
        )
    return {
        "tenant": {"slug": slug, "name": "Invoice Bench K.K.", "time_zone": TIME_ZONE},
        "users": [{"email": f"admin@{slug}.example", "role": "admin"}],
        "calendars": [
            {
                "code": "EVERY-DAY",
                "name": "08:00-25:30 every day",
                "time_zone": TIME_ZONE,
                "windows": [{"days": ["daily"], "start": "08:00", "end": "25:30"}],
            }
        ],
        "clients": clients,
    }


async def create_tenant(
    settings: Settings, contracts: int, start: date
) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    loaded, problems = load_manifest(json.dumps(manifest(slug, contracts, start)))
    if loaded is None:
        raise RuntimeError(f"manifest rejected: {problems[:3]}")
    runtime = Runtime.create(settings)
    try:
        await apply_manifest(runtime, loaded)
        tenant_id = await tenant_id_for(runtime, slug)
    finally:
        await runtime.close()
    conn = await owner_connect(settings)
    try:
        rows = await conn.fetch("SELECT code, id FROM contracts WHERE tenant_id = $1", tenant_id)
    finally:
        await conn.close()
    return tenant_id, {row["code"]: row["id"] for row in rows}


# --- a month of items -------------------------------------------------------------------------


def month_chunks(
    tenant_id: uuid.UUID, contract_ids: list[uuid.UUID], items: int, first: date, last: date, seed: int = 4
) -> Iterator[list[Row]]:
    """Items round-robin over the contracts (``contract_ids`` in contract number order), received at evenly
    spaced instants of the month (local), a third of them chats, answered within 5.6 h (16.7 h where the
    contract answers late) and resolved within 50 minutes more."""
    rng = random.Random(seed)
    start = datetime.combine(first, datetime.min.time(), ZONE).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), ZONE).astimezone(UTC)
    step = (end - start) / items
    chunk: list[Row] = []
    for number in range(items):
        contract = number % len(contract_ids)
        received = start + step * number
        late = answers_late(contract)
        first_response = received + timedelta(seconds=rng.randint(30, 60_000 if late else 20_000))
        resolved = first_response + timedelta(seconds=rng.randint(60, 3_000))
        chunk.append(
            (
                tenant_id,
                new_id(),
                contract_ids[contract],
                f"m-{number:09d}",
                "inquiry",
                "chat" if number % 3 == 0 else "email",
                "normal",
                received,
                first_response,
                resolved,
                "agent-001",
                "resolved",
                "neutral",
                rng.choice((1, 1, 1, 2, 3)),
                ATTRIBUTES_JSON[1],
            )
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def load_items(settings: Settings, chunks: Iterator[list[Row]]) -> float:
    conn = await owner_connect(settings)
    try:
        started = time.perf_counter()
        for chunk in chunks:
            await conn.copy_records_to_table("work_items", records=chunk, columns=COPY_COLUMNS)
        await conn.execute("VACUUM (ANALYZE) work_items")
        return time.perf_counter() - started
    finally:
        await conn.close()


# --- SLA rollups, as `bpo sla rebuild` builds them ----------------------------------------------


async def build_rollups(
    settings: Settings, tenant_id: uuid.UUID, first: date, last: date
) -> tuple[float, int]:
    """refresh_hours over every hour holding items of each contract, a contract per transaction: seconds,
    hourly SLA rows written."""
    runtime = Runtime.create(settings)
    scope = system_scope(tenant_id)
    start = datetime.combine(first - timedelta(days=1), datetime.min.time(), UTC)
    end = datetime.combine(last + timedelta(days=2), datetime.min.time(), UTC)
    written = 0
    started = time.perf_counter()
    try:
        async with runtime.db.tenant(tenant_id) as session:
            contract_ids = list(
                await session.scalars(
                    select(WorkItem.contract_id).where(WorkItem.tenant_id == tenant_id).distinct()
                )
            )
        now = datetime.now(UTC)
        for contract_id in contract_ids:
            async with runtime.db.tenant(tenant_id) as session:
                hours = await rollups.hours_of_items(session, scope, contract_id, start, end)
                written += await rollups.refresh_hours(session, scope, contract_id, hours, now)
    finally:
        await runtime.close()
    elapsed = time.perf_counter() - started
    # Settled, as autovacuum leaves tables that stopped changing (else it vacuums them during the timings).
    conn = await owner_connect(settings)
    try:
        for table in ROLLUP_TABLES:
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return elapsed, written


# --- the two measurements ---------------------------------------------------------------------


async def aggregate(
    db: Database, tenant_id: uuid.UUID, lower: datetime, upper: datetime
) -> dict[uuid.UUID, int]:
    async with db.tenant(tenant_id) as session:
        rows = await session.execute(
            select(WorkItem.contract_id, func.sum(WorkItem.units))
            .where(
                WorkItem.tenant_id == tenant_id, WorkItem.resolved_at >= lower, WorkItem.resolved_at < upper
            )
            .group_by(WorkItem.contract_id)
        )
        return {contract_id: int(units) for contract_id, units in rows.all()}


async def month_end_run(db: Database, tenant_id: uuid.UUID, period: str) -> tuple[float, Any]:
    scope = system_scope(tenant_id)
    async with db.tenant(tenant_id) as session:
        run = await runs.start_run(session, scope, runs.parse_period(period), enqueue=False)
    started = time.perf_counter()
    async with db.tenant(tenant_id) as session:
        result = await runs.execute_run(session, scope, run.id)
    return time.perf_counter() - started, result


@dataclass
class Timings:
    run_s: list[float]
    sql_s: list[float]
    results: list[Any]


async def measure(settings: Settings, tenant_id: uuid.UUID, first: date, last: date, repeats: int) -> Timings:
    """The run and the aggregate alternated, ``repeats`` times each, after one aggregate to warm up; this
    process first sets its start-up objects aside as a worker process does before it takes jobs."""
    freeze_startup_objects()
    db = Database(settings.model_copy(update={"database_pool_size": 2}))
    lower = datetime.combine(first, datetime.min.time(), ZONE).astimezone(UTC)
    upper = datetime.combine(last + timedelta(days=1), datetime.min.time(), ZONE).astimezone(UTC)
    timings = Timings([], [], [])
    try:
        await aggregate(db, tenant_id, lower, upper)
        for _ in range(repeats):
            run_s, result = await month_end_run(db, tenant_id, f"{first:%Y-%m}")
            timings.run_s.append(run_s)
            timings.results.append(result)
            started = time.perf_counter()
            await aggregate(db, tenant_id, lower, upper)
            timings.sql_s.append(time.perf_counter() - started)
    finally:
        await db.dispose()
    return timings


# --- the check, from the items in SQL ---------------------------------------------------------------

# Per contract, from the items alone: units resolved in the month, chats resolved in it, units of those
# received at night (Tokyo), and the first-response attainment of the items received in the month.
EXPECTED = """
WITH resolved AS (
    SELECT contract_id, sum(units) AS units, count(*) FILTER (WHERE channel = 'chat') AS chats,
           coalesce(sum(units) FILTER (
               WHERE extract(hour FROM received_at AT TIME ZONE $4) >= 22
                  OR extract(hour FROM received_at AT TIME ZONE $4) < 5), 0) AS night_units
    FROM work_items WHERE tenant_id = $1 AND resolved_at >= $2 AND resolved_at < $3
    GROUP BY contract_id
), received AS (
    SELECT contract_id,
           100.0 * count(*) FILTER (WHERE first_response_at - received_at <= $5) / count(*) AS attainment
    FROM work_items WHERE tenant_id = $1 AND received_at >= $2 AND received_at < $3
    GROUP BY contract_id
)
SELECT c.id, c.code, coalesce(r.units, 0) AS units, coalesce(r.chats, 0) AS chats,
       coalesce(r.night_units, 0) AS night_units, a.attainment
FROM contracts c LEFT JOIN resolved r ON r.contract_id = c.id LEFT JOIN received a ON a.contract_id = c.id
WHERE c.tenant_id = $1
"""
BILLED = """
SELECT l.contract_id, l.kind, l.code, sum(l.quantity) AS quantity, sum(l.amount) AS amount
FROM invoice_lines l JOIN invoices i ON i.tenant_id = l.tenant_id AND i.id = l.invoice_id
WHERE l.tenant_id = $1 AND i.period = $2 AND i.status = 'draft'
GROUP BY l.contract_id, l.kind, l.code
"""


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def check(
    settings: Settings, tenant_id: uuid.UUID, first: date, last: date, clients: int
) -> tuple[list[str], int]:
    """What differs between the drafts and the items (empty: nothing), and the service-credit lines."""
    lower = datetime.combine(first, datetime.min.time(), ZONE).astimezone(UTC)
    upper = datetime.combine(last + timedelta(days=1), datetime.min.time(), ZONE).astimezone(UTC)
    conn = await owner_connect(settings)
    try:
        drafts = await conn.fetchval(
            "SELECT count(*) FROM invoices WHERE tenant_id = $1 AND period = $2 AND status = 'draft'",
            tenant_id,
            first,
        )
        expected = await conn.fetch(EXPECTED, tenant_id, lower, upper, TIME_ZONE, FIRST_RESPONSE_WITHIN)
        billed: dict[uuid.UUID, dict[tuple[str, str], tuple[Decimal, int]]] = {}
        for row in await conn.fetch(BILLED, tenant_id, first):
            billed.setdefault(row["contract_id"], {})[(row["kind"], row["code"])] = (
                row["quantity"],
                int(row["amount"]),
            )
    finally:
        await conn.close()
    problems = [] if drafts == clients else [f"{drafts} drafts for {clients} clients"]
    credits = 0
    for row in expected:
        number = int(row["code"].removeprefix("K-"))
        lines = billed.get(row["id"], {})

        wanted = {
            ("charge", USAGE_CODE): Decimal(row["units"]),
            ("charge", CHAT_CODE): Decimal(row["chats"]) if chats_metered(number) else None,
            ("surcharge", NIGHT_CODE): Decimal(row["night_units"]) if night_surcharged(number) else None,
        }
        for key, units in wanted.items():
            quantity = lines[key][0] if key in lines else None
            if quantity != units:
                problems.append(f"{row['code']} {key[1]}: billed {quantity}, items say {units}")
        attainment = row["attainment"]
        credit = lines.get(("service_credit", "service-credit"))
        if credited(number) and attainment is not None and attainment < CREDIT_BELOW:
            charges = sum(amount for (kind, _), (_, amount) in lines.items() if kind != "service_credit")
            due = -half_up(Decimal(charges) * CREDIT_PERCENT / 100)
            if credit is None or credit[1] != due:
                problems.append(
                    f"{row['code']}: credit {credit and credit[1]}, attainment {attainment:.2f}% → {due}"
                )
        elif credit is not None:
            problems.append(f"{row['code']}: credit {credit[1]} with attainment {attainment}")
        credits += credit is not None
    return problems, credits


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 contracts and 50,000 items")
    parser.add_argument("--contracts", type=int, help="active contracts (default 1,000, quick 100)")
    parser.add_argument("--items", type=int, help="items in the month (default 1,000,000, quick 50,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timings of each, alternated (default 5)")
    args = parser.parse_args(argv)
    if args.contracts is None:
        args.contracts = 100 if args.quick else 1_000
    if args.items is None:
        args.items = 50_000 if args.quick else 1_000_000
    if args.contracts < CONTRACTS_PER_CLIENT or args.items < args.contracts:
        parser.error(f"--contracts must be >= {CONTRACTS_PER_CLIENT} and --items at least one per contract")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(
        f"invoices benchmark: {args.contracts} contracts, {args.items} items in a month; "
        f"{os.cpu_count()} CPUs{load}",
        flush=True,
    )
    started = time.monotonic()
    first, last = last_full_month(datetime.now(ZONE).date())
    env = Environment.start()
    try:
        settings = bench_settings(env)
        where = "embedded" if settings.database_url == env.services.database_url else "configured"
        print(f"setup: {where} PostgreSQL migrated in {time.monotonic() - started:.1f} s", flush=True)
        applied = time.monotonic()
        contract_start = first - timedelta(days=31)
        tenant_id, contracts = asyncio.run(create_tenant(settings, args.contracts, contract_start))
        clients = len(contracts) // CONTRACTS_PER_CLIENT or 1
        print(
            f"setup: {len(contracts)} contracts of {clients} clients applied as a manifest in "
            f"{time.monotonic() - applied:.1f} s",
            flush=True,
        )
        ids = [contracts[code] for code in sorted(contracts)]
        load_s = asyncio.run(load_items(settings, month_chunks(tenant_id, ids, args.items, first, last)))
        print(
            f"load: {args.items} items ({first} to {last}, {TIME_ZONE}) copied in {load_s:.1f} s "
            f"({args.items / load_s:.0f} items/s, generation included)",
            flush=True,
        )
        rollup_s, written = asyncio.run(build_rollups(settings, tenant_id, first, last))
        print(
            f"rollups: {written} hourly SLA rows of {len(ids)} contracts built in {rollup_s:.1f} s",
            flush=True,
        )
        timings = asyncio.run(measure(settings, tenant_id, first, last, args.repeat))
        problems, credits = asyncio.run(check(settings, tenant_id, first, last, clients))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        env.stop()
    run_s, sql_s = statistics.median(timings.run_s), statistics.median(timings.sql_s)
    print(
        "runs (s): "
        + " ".join(f"{t:.2f}" for t in timings.run_s)
        + "; aggregates (ms): "
        + " ".join(f"{t * 1000:.1f}" for t in timings.sql_s),
        flush=True,
    )
    result = timings.results[0]
    print(
        f"run: {result.clients} clients, {result.drafts_created} drafts created (then replaced) in a median "
        f"{run_s:.2f} s ({len(ids) / run_s:.0f} contracts/s, {args.items / run_s:.0f} items/s)",
        flush=True,
    )
    print(f"sql: units per contract over the month in a median {sql_s * 1000:.1f} ms", flush=True)
    for problem in problems[:20]:
        print(f"DIFFERS: {problem}", flush=True)
    print(
        f"check: every draft's lines against the items in SQL: "
        f"{'equal' if not problems else f'{len(problems)} differences'}; {credits} service credits",
        flush=True,
    )
    ratio = run_s / sql_s if sql_s else 0.0
    print(f"total {time.monotonic() - started:.1f} s; run/sql {ratio:.1f}x", flush=True)
    print(
        f"RESULT invoices contracts={len(ids)} items={args.items} run_s={run_s:.2f} sql_s={sql_s:.3f} "
        f"ratio={ratio:.1f} credits={credits} repeats={args.repeat}",
        flush=True,
    )
    return 0 if not problems and credits > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
