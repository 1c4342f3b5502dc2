"""Benchmark: the month-end invoice run over a month of work items, against one SQL aggregate of the same
rows in the same run.

    python bench/invoices.py [--quick] [--contracts N] [--items M]

A tenant applied as a manifest (as tenants/demo.yaml is) with N active contracts (default 1,000; quick
100), ten per client, each with an email-support SLA policy and a rate plan in force for the whole month:
per unit, graduated tiers or volume tiers, every third one with a fixed monthly fee and every fifth with
a minimum commitment. M work items (default 1,000,000; quick 50,000) resolved in the last full month of
the tenant's zone, spread evenly over the contracts and the month, are loaded with asyncpg
``copy_records_to_table`` as the schema owner, then VACUUM (ANALYZE).

Then, in this process and one after the other on the same warm database: the month-end run as the
``billing.run_period`` job does it (one transaction with the tenant set: every contract's units by day,
plan version, SLA attainment and rating; one draft per client with its lines), and the single aggregate
no run can beat (units per contract over the same month, as the application role under row-level
security). The check: one draft per client, and for every contract the quantities of its usage lines add
up to the aggregate's units.

With no BPO_DATABASE_URL / BPO_REDIS_URL it starts embedded PostgreSQL and Redis in a temporary directory
(see bench/api.py). The last line is ``RESULT invoices contracts=… items=… run_s=… sql_s=… ratio=…``; the
exit status is non-zero if the check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

# bench/api.py and bench/ingest.py (this directory is on sys.path): environment, owner connection, COPY.
from api import Environment
from ingest import ATTRIBUTES_JSON, COPY_COLUMNS, TIME_ZONE, ZONE, Row, bench_settings, owner_connect
from sqlalchemy import func, select

from bpo.billing import invoice_runs as runs
from bpo.billing.models import Invoice, InvoiceLine
from bpo.core.db import Database
from bpo.core.orm import new_id
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.onboarding.apply import apply_manifest
from bpo.onboarding.manifest import load_manifest
from bpo.settings import Settings
from bpo.tenancy.auth import tenant_id_for
from bpo.work.models import WorkItem

CONTRACTS_PER_CLIENT = 10
CHUNK = 50_000
USAGE_CODE = "items"
OBJECTIVES = [
    {"metric": "first_response", "threshold": "8h", "target_percent": 90, "checkpoints": ["1h", "8h", "24h"]},
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
    if number % 7 == 0:
        plan["service_credits"] = [{"below_percent": 90, "credit_percent": 5, "metric": "first_response"}]
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
    """Items round-robin over the contracts, received at evenly spaced instants of the month (local),
    answered within minutes and resolved within the hour, so every one is resolved inside the month."""
    rng = random.Random(seed)
    start = datetime.combine(first, datetime.min.time(), ZONE).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), ZONE).astimezone(UTC)
    # The last item still resolves inside the month: answered within 5.6 h, resolved within 50 min more.
    step = (end - start - timedelta(hours=8)) / items
    chunk: list[Row] = []
    for number in range(items):
        received = start + step * number
        first_response = received + timedelta(seconds=rng.randint(30, 20_000))
        resolved = first_response + timedelta(seconds=rng.randint(60, 3_000))
        chunk.append(
            (
                tenant_id,
                new_id(),
                contract_ids[number % len(contract_ids)],
                f"m-{number:09d}",
                "inquiry",
                "email",
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


async def usage_by_contract(
    db: Database, tenant_id: uuid.UUID, first: date
) -> tuple[int, dict[uuid.UUID, Decimal]]:
    async with db.tenant(tenant_id) as session:
        drafts = await session.scalar(
            select(func.count()).where(
                Invoice.tenant_id == tenant_id, Invoice.period == first, Invoice.status == "draft"
            )
        )
        rows = await session.execute(
            select(InvoiceLine.contract_id, func.sum(InvoiceLine.quantity))
            .join(
                Invoice, (Invoice.tenant_id == InvoiceLine.tenant_id) & (Invoice.id == InvoiceLine.invoice_id)
            )
            .where(
                InvoiceLine.tenant_id == tenant_id, Invoice.period == first, InvoiceLine.code == USAGE_CODE
            )
            .group_by(InvoiceLine.contract_id)
        )
        billed = {contract_id: quantity for contract_id, quantity in rows.all() if contract_id is not None}
        return int(drafts or 0), billed


async def measure(settings: Settings, tenant_id: uuid.UUID, first: date, last: date) -> dict[str, Any]:
    db = Database(settings.model_copy(update={"database_pool_size": 2}))
    lower = datetime.combine(first, datetime.min.time(), ZONE).astimezone(UTC)
    upper = datetime.combine(last + timedelta(days=1), datetime.min.time(), ZONE).astimezone(UTC)
    try:
        await aggregate(db, tenant_id, lower, upper)  # warm-up: both measurements read a warm cache
        run_s, result = await month_end_run(db, tenant_id, f"{first:%Y-%m}")
        started = time.perf_counter()
        units = await aggregate(db, tenant_id, lower, upper)
        sql_s = time.perf_counter() - started
        drafts, billed = await usage_by_contract(db, tenant_id, first)
    finally:
        await db.dispose()
    return {
        "run_s": run_s,
        "sql_s": sql_s,
        "result": result,
        "units": units,
        "drafts": drafts,
        "billed": billed,
    }


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 contracts and 50,000 items")
    parser.add_argument("--contracts", type=int, help="active contracts (default 1,000, quick 100)")
    parser.add_argument("--items", type=int, help="items in the month (default 1,000,000, quick 50,000)")
    args = parser.parse_args(argv)
    if args.contracts is None:
        args.contracts = 100 if args.quick else 1_000
    if args.items is None:
        args.items = 50_000 if args.quick else 1_000_000
    if args.contracts < 1 or args.items < args.contracts:
        parser.error("--contracts must be >= 1 and --items at least one per contract")
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
        print(
            f"setup: {len(contracts)} contracts of {len(contracts) // CONTRACTS_PER_CLIENT or 1} clients "
            f"applied as a manifest in {time.monotonic() - applied:.1f} s",
            flush=True,
        )
        ids = [contracts[code] for code in sorted(contracts)]
        load_s = asyncio.run(load_items(settings, month_chunks(tenant_id, ids, args.items, first, last)))
        print(
            f"load: {args.items} items ({first} to {last}, {TIME_ZONE}) copied in {load_s:.1f} s "
            f"({args.items / load_s:.0f} items/s, generation included)",
            flush=True,
        )
        measured = asyncio.run(measure(settings, tenant_id, first, last))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        env.stop()
    result = measured["result"]
    units: dict[uuid.UUID, int] = measured["units"]
    billed: dict[uuid.UUID, Decimal] = measured["billed"]
    clients = len(contracts) // CONTRACTS_PER_CLIENT or 1
    differences = [
        c for c in set(units) | set(billed) if Decimal(units.get(c, 0)) != billed.get(c, Decimal(0))
    ]
    exact = not differences and measured["drafts"] == clients and sum(units.values()) > 0
    print(
        f"run: {result.clients} clients, {result.drafts_created} drafts in {measured['run_s']:.2f} s "
        f"({args.contracts / measured['run_s']:.0f} contracts/s, "
        f"{args.items / measured['run_s']:.0f} items/s)",
        flush=True,
    )
    print(f"sql: units per contract over the month in {measured['sql_s'] * 1000:.1f} ms", flush=True)
    print(
        f"check: {measured['drafts']} drafts for {clients} clients; usage lines "
        f"{'equal' if not differences else 'DIFFER FROM'} the aggregate for {len(units)} contracts"
        + (f" ({len(differences)} differ)" if differences else ""),
        flush=True,
    )
    ratio = measured["run_s"] / measured["sql_s"] if measured["sql_s"] else 0.0
    print(f"total {time.monotonic() - started:.1f} s; run/sql {ratio:.1f}x", flush=True)
    print(
        f"RESULT invoices contracts={args.contracts} items={args.items} run_s={measured['run_s']:.2f} "
        f"sql_s={measured['sql_s']:.3f} ratio={ratio:.1f}",
        flush=True,
    )
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
