"""Benchmark: the SLA dashboard of a contract with a year of work items, against a trivial indexed GET.

    python bench/dashboard.py [--quick] [--items N] [--requests R]

One active contract (the three objectives of bench/ingest.py: email first reply in business hours with
the Lancers checkpoints, 45 s chat first reply, resolution within 72 h) gets N work items (default
10,000,000; quick 500,000) received over the 365 days before today, more in Japanese office hours and
on weekdays, loaded with asyncpg ``copy_records_to_table`` as the schema owner (generation of the next
chunk overlaps the COPY of the previous one). Its rollups are then built for every hour holding items
by calling ``bpo.sla.rollups.refresh_hours`` directly, a week of hours per transaction, as
``bpo sla rebuild`` would (hours, then the local days and months above them): that is the rollup build
time, reported with the load time. The rollup tables are then vacuumed and analyzed, as autovacuum does
to tables that stop changing, so the numbers are those of a dashboard over settled history.

Before the timed rounds, the month's and the year's dashboards are fetched twice: as served (from the
day and month rows) and with the contract's ``period_rollup_zones`` row set aside, which makes the API
read the hourly rows instead; the two must be equal, or the run fails.

Then, against the real app in one uvicorn process (as bench/api.py serves it), up to R rounds
(default 200, quick 50) of serial requests on one keep-alive connection after two warm-up rounds, each
round one of each: ``GET /v1/contracts/{id}`` (the trivial indexed read), ``GET /v1/contracts/{id}/sla``
for the last full calendar month, and the same for the 365 days to yesterday (both by day, the default
granularity); the year is the figure the goal (p95 within 5x of the trivial GET) is about; and the
dashboard's drill-down page of the last full month's breached items of the 45 s chat objective
(``/dashboard/clients/{id}/items?…&status=breached``: its first page of 50, each measured now), signed in
with the same token as the page's session cookie. The rounds
run twice, each with half the time budget: first as served, where a dashboard viewed again before its
contract's rollups change comes from the tallies the API keeps per rollup version; then "fresh", with
the contract's rollup version raised (untimed) before each dashboard request, as every refresh does,
so each is computed from the rollup rows. Rounds stop early, after at least 10, once a time budget
(default 600 s, quick 60 s) is spent, so a slow dashboard still gives a bounded run.

With no BPO_DATABASE_URL / BPO_REDIS_URL it starts embedded PostgreSQL and Redis in a temporary
directory. The last line is ``RESULT dashboard items=… sla_p95_ms=… get_p95_ms=… ratio=…`` with the
fresh figures, the worse (then the fresh month's p95, the served year's p95 and ratio, and the rollup
build time); the exit status is non-zero if a request failed, the
dashboard's count of received items differs from the items loaded, or the dashboards from day and month
rows differ from those from hourly rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx

# bench/api.py and bench/ingest.py (this directory is on sys.path): servers, load client, setup, items.
from api import HOST, Environment, LoadResult, ServerProcess, _read_response, serve_real
from ingest import (
    ATTRIBUTES_JSON,
    COPY_COLUMNS,
    OBJECTIVES,
    ZONE,
    Row,
    bench_settings,
    create_contracts,
    item_row,
    owner_connect,
)

from bpo.core.db import Database
from bpo.core.orm import new_id
from bpo.core.scope import system_scope
from bpo.settings import Settings
from bpo.sla import rollups
from bpo.web.session import SESSION_COOKIE

CHUNK = 50_000
HOURS_PER_TRANSACTION = 24 * 7
WARMUP_ROUNDS = 2
# Rounds always measured, even past the time budget (fewer make a p95 meaningless).
MIN_ROUNDS = 10
# Relative arrivals by local hour of day (0-23) in Japan: quiet nights, a morning peak, busy evenings.
HOURLY_SHAPE = [2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 11, 11, 10, 10, 9, 9, 8, 7, 5, 3]
WEEKEND_FACTOR = 0.5


# --- a year of items --------------------------------------------------------------------------


def hour_counts(first: date, last: date, total: int) -> list[tuple[datetime, int]]:
    """``total`` items spread over every UTC hour from ``first`` to ``last`` (JST dates, inclusive)
    in proportion to the local hour and weekday, as exact integers that add up to ``total``."""
    start = datetime.combine(first, datetime.min.time(), ZONE).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), ZONE).astimezone(UTC)
    hours: list[datetime] = []
    weights: list[float] = []
    hour = start
    while hour < end:
        local = hour.astimezone(ZONE)
        weights.append(HOURLY_SHAPE[local.hour] * (WEEKEND_FACTOR if local.weekday() >= 5 else 1.0))
        hours.append(hour)
        hour += timedelta(hours=1)
    scale = total / sum(weights)
    counts: list[tuple[datetime, int]] = []
    cumulative = 0.0
    given = 0
    for hour, weight in zip(hours, weights, strict=True):
        cumulative += weight * scale
        count = round(cumulative) - given
        given += count
        counts.append((hour, count))
    return counts


def year_chunks(
    counts: list[tuple[datetime, int]], tenant_id: uuid.UUID, contract_id: uuid.UUID, seed: int = 10
) -> Iterator[list[Row]]:
    """COPY records in order of receipt, CHUNK at a time."""
    rng = random.Random(seed)
    chunk: list[Row] = []
    number = 0
    for hour, count in counts:
        for offset in sorted(rng.random() * 3600 for _ in range(count)):
            row = item_row(rng, f"d-{number:09d}", hour + timedelta(seconds=offset))
            chunk.append((tenant_id, new_id(), contract_id, *row[:11], ATTRIBUTES_JSON[row[11]]))
            number += 1
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def load_items(settings: Settings, chunks: Iterator[list[Row]], total: int) -> float:
    """COPY every chunk (one transaction each), generating the next while the last is copied."""

    async def run() -> float:
        conn = await owner_connect(settings)
        try:
            started = time.perf_counter()
            loaded = 0
            reported = 0
            chunk = await asyncio.to_thread(next, chunks, None)
            while chunk is not None:
                copy = asyncio.create_task(
                    conn.copy_records_to_table("work_items", records=chunk, columns=COPY_COLUMNS)
                )
                following = await asyncio.to_thread(next, chunks, None)
                await copy
                loaded += len(chunk)
                chunk = following
                if loaded - reported >= max(total // 10, CHUNK) or chunk is None:
                    reported = loaded
                    elapsed = time.perf_counter() - started
                    print(f"  load: {loaded} items in {elapsed:.0f} s ({loaded / elapsed:.0f}/s)", flush=True)
            seconds = time.perf_counter() - started
            vacuumed = time.perf_counter()
            await conn.execute("VACUUM (ANALYZE) work_items")
            print(
                f"  load: VACUUM (ANALYZE) work_items in {time.perf_counter() - vacuumed:.1f} s", flush=True
            )
            return seconds
        finally:
            await conn.close()

    return asyncio.run(run())


# --- rollups ----------------------------------------------------------------------------------


def build_rollups(
    settings: Settings, tenant_id: uuid.UUID, contract_id: uuid.UUID, start: datetime, end: datetime
) -> tuple[float, int, int]:
    """refresh_hours over every hour holding items, a week per transaction: seconds, hours, rows."""

    async def run() -> tuple[float, int, int]:
        db = Database(settings.model_copy(update={"database_pool_size": 2}))
        scope = system_scope(tenant_id)
        try:
            started = time.perf_counter()
            async with db.tenant(tenant_id) as session:
                hours = sorted(await rollups.hours_of_items(session, scope, contract_id, start, end))
            now = datetime.now(UTC)
            written = 0
            batches = range(0, len(hours), HOURS_PER_TRANSACTION)
            every = max(1, len(batches) // 10)
            for number, at in enumerate(batches, 1):
                async with db.tenant(tenant_id) as session:
                    written += await rollups.refresh_hours(
                        session, scope, contract_id, hours[at : at + HOURS_PER_TRANSACTION], now
                    )
                if number % every == 0 or number == len(batches):
                    elapsed = time.perf_counter() - started
                    done = min(at + HOURS_PER_TRANSACTION, len(hours))
                    eta = elapsed / done * (len(hours) - done)
                    print(
                        f"  rollups: {done}/{len(hours)} hours in {elapsed:.0f} s (about {eta:.0f} s left)",
                        flush=True,
                    )
            return time.perf_counter() - started, len(hours), written
        finally:
            await db.dispose()

    return asyncio.run(run())


async def rolled_up_received(settings: Settings, tenant_id: uuid.UUID, contract_id: uuid.UUID) -> int:
    conn = await owner_connect(settings)
    try:
        received: int = await conn.fetchval(
            "SELECT coalesce(sum(received), 0) FROM work_hourly WHERE tenant_id = $1 AND contract_id = $2",
            tenant_id,
            contract_id,
        )
        vacuumed = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) sla_hourly, work_hourly, sla_periods, work_periods")
        print(f"rollups: VACUUM (ANALYZE) of the rollup tables in {time.perf_counter() - vacuumed:.1f} s")
    finally:
        await conn.close()
    return received


def from_hours(
    server: ServerProcess,
    settings: Settings,
    token: str,
    tenant_id: uuid.UUID,
    contract_id: uuid.UUID,
    paths: dict[str, str],
) -> dict[str, tuple[dict[str, Any], float]]:
    """Each dashboard (and its latency) while the contract's period rollups are set aside, so that the
    API reads the hourly rows instead."""

    async def set_aside(restore: tuple[str, int] | None) -> tuple[str, int] | None:
        conn = await owner_connect(settings)
        try:
            if restore is None:
                marker = await conn.fetchrow(
                    "DELETE FROM period_rollup_zones WHERE tenant_id = $1 AND contract_id = $2 "
                    "RETURNING time_zone, version",
                    tenant_id,
                    contract_id,
                )
                return None if marker is None else (marker["time_zone"], marker["version"])
            await conn.execute(
                "INSERT INTO period_rollup_zones (tenant_id, contract_id, time_zone, version) "
                "VALUES ($1, $2, $3, $4)",
                tenant_id,
                contract_id,
                *restore,
            )
            return restore
        finally:
            await conn.close()

    marker = asyncio.run(set_aside(None))
    if marker is None:
        raise RuntimeError("the contract has no period rollups")
    try:
        bodies = {}
        for name, path in paths.items():
            started = time.perf_counter()
            body = check_dashboard(server, token, path)
            bodies[name] = (body, time.perf_counter() - started)
        return bodies
    finally:
        asyncio.run(set_aside(marker))


# --- serial latency ---------------------------------------------------------------------------


class RollupVersion:
    """Raises a contract's rollup version, as every refresh of its rollups does, over one connection
    kept for the purpose: a dashboard requested next cannot come from tallies computed before."""

    def __init__(self, settings: Settings, tenant_id: uuid.UUID, contract_id: uuid.UUID) -> None:
        self.settings, self.tenant_id, self.contract_id = settings, tenant_id, contract_id
        self.conn: asyncpg.Connection | None = None

    async def raise_(self) -> None:
        if self.conn is None:
            self.conn = await owner_connect(self.settings)
        await self.conn.execute(
            "UPDATE period_rollup_zones SET version = version + 1 WHERE tenant_id = $1 AND contract_id = $2",
            self.tenant_id,
            self.contract_id,
        )

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


def serial_latencies(
    server: ServerProcess,
    token: str,
    paths: dict[str, str],
    rounds: int,
    budget: float,
    before: dict[str, Callable[[], Awaitable[None]]] | None = None,
    finish: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, LoadResult]:
    """Each round requests every path once, one after another on one keep-alive connection (after its
    ``before`` step, untimed, if it has one); rounds stop at ``rounds`` or, once MIN_ROUNDS are
    measured, when ``budget`` seconds have passed. ``finish`` runs at the end, in the same loop."""
    requests = {
        name: (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{server.port}\r\nAuthorization: Bearer {token}\r\n"
            # The dashboard's pages read the session cookie, the API the header.
            f"Cookie: {SESSION_COOKIE}={token}\r\n\r\n"
        ).encode()
        for name, path in paths.items()
    }
    results = {name: LoadResult(name=name, duration=0.0) for name in paths}

    async def run() -> None:
        reader, writer = await asyncio.open_connection(HOST, server.port)
        started = time.perf_counter()
        try:
            for number in range(WARMUP_ROUNDS + rounds):
                measured = number - WARMUP_ROUNDS
                if measured == 0:
                    started = time.perf_counter()
                elif measured >= MIN_ROUNDS and time.perf_counter() - started > budget:
                    print(f"  latency: stopped after {measured} rounds ({budget:.0f} s budget)", flush=True)
                    break
                for name, request in requests.items():
                    if before and name in before:
                        await before[name]()
                    sent = time.perf_counter()
                    writer.write(request)
                    status, close = await _read_response(reader)
                    latency = time.perf_counter() - sent
                    result = results[name]
                    if status != 200:
                        result.errors[f"HTTP {status}"] += 1
                    elif number >= WARMUP_ROUNDS:
                        result.ok += 1
                        result.latencies.append(latency)
                        result.duration += latency
                    if close:
                        writer.close()
                        reader, writer = await asyncio.open_connection(HOST, server.port)
        finally:
            writer.close()
            if finish is not None:
                await finish()

    asyncio.run(run())
    return results


def check_dashboard(server: ServerProcess, token: str, path: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=120)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: HTTP {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="500,000 items and 50 rounds of requests")
    parser.add_argument("--items", type=int, help="items over the year (default 10,000,000, quick 500,000)")
    parser.add_argument("--requests", type=int, help="measured rounds of requests (default 200, quick 50)")
    parser.add_argument(
        "--budget", type=float, help="seconds for the measured rounds (default 600, quick 60)"
    )
    args = parser.parse_args(argv)
    if args.items is None:
        args.items = 500_000 if args.quick else 10_000_000
    if args.requests is None:
        args.requests = 50 if args.quick else 200
    if args.budget is None:
        args.budget = 60.0 if args.quick else 600.0
    if args.items < 1 or args.requests < 1 or args.budget <= 0:
        parser.error("--items and --requests must be >= 1 and --budget > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(
        f"dashboard benchmark: {args.items} items over a year, {args.requests} rounds of serial requests; "
        f"{os.cpu_count()} CPUs{load}",
        flush=True,
    )
    started = time.monotonic()
    today = datetime.now(ZONE).date()
    first, last = today - timedelta(days=365), today - timedelta(days=1)
    month_end = today.replace(day=1) - timedelta(days=1)
    month_start = month_end.replace(day=1)
    env = Environment.start()
    try:
        settings = bench_settings(env)
        where = "embedded" if settings.database_url == env.services.database_url else "configured"
        print(f"setup: {where} PostgreSQL migrated in {time.monotonic() - started:.1f} s", flush=True)
        with ServerProcess("api", serve_real, (settings,), "/health") as server:
            setup = create_contracts(server.url, settings, ["year"], first - timedelta(days=1), OBJECTIVES)
            contract_id = uuid.UUID(setup.contracts["year"])
            print(f"setup: contract {contract_id}; api server pid {server.process.pid}", flush=True)
            counts = hour_counts(first, last, args.items)
            load_s = load_items(settings, year_chunks(counts, setup.tenant_id, contract_id), args.items)
            print(
                f"load: {args.items} items ({first} to {last}, JST) copied in {load_s:.1f} s "
                f"({args.items / load_s:.0f} items/s, generation included)",
                flush=True,
            )
            rollup_s, hours, written = build_rollups(
                settings, setup.tenant_id, contract_id, counts[0][0], counts[-1][0] + timedelta(hours=1)
            )
            received = asyncio.run(rolled_up_received(settings, setup.tenant_id, contract_id))
            print(
                f"rollups: {hours} hours ({written} sla_hourly rows) built in {rollup_s:.1f} s "
                f"({args.items / rollup_s:.0f} items/s); work_hourly counts {received} items",
                flush=True,
            )
            base = f"/v1/contracts/{contract_id}"
            paths = {
                "get": base,
                "month": f"{base}/sla?start={month_start}&end={month_end}&granularity=day",
                "year": f"{base}/sla?start={first}&end={last}&granularity=day",
                "items": (
                    f"/dashboard/clients/{setup.client_id}/items?contract={contract_id}"
                    f"&objective=first_response%7Cchannel%3Dchat&status=breached"
                    f"&start={month_start}&end={month_end}"
                ),
            }
            year = check_dashboard(server, setup.token, paths["year"])
            shown = year["volumes"]["received"]
            print(
                f"check: the year's dashboard shows {shown} items received, "
                f"{len(year['objectives'])} objectives",
                flush=True,
            )
            drill_down = httpx.get(
                f"{server.url}{paths['items']}", cookies={SESSION_COOKIE: setup.token}, timeout=120
            )
            if drill_down.status_code != 200:
                raise RuntimeError(f"GET {paths['items']}: HTTP {drill_down.status_code}")
            rows = drill_down.text.count('class="item-row"')
            print(
                f"check: the month's breached chat items page lists {rows} items (a page holds 50)",
                flush=True,
            )
            dashboards = {name: paths[name] for name in ("month", "year")}
            by_hour = from_hours(server, settings, setup.token, setup.tenant_id, contract_id, dashboards)
            same = all(
                check_dashboard(server, setup.token, path) == by_hour[name][0]
                for name, path in dashboards.items()
            )
            print(
                f"check: month and year dashboards from day and month rows "
                f"{'equal' if same else 'DIFFER FROM'} those from hourly rows (read from hourly rows: "
                + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, (_, seconds) in by_hour.items())
                + ")",
                flush=True,
            )
            served = serial_latencies(server, setup.token, paths, args.requests, args.budget / 2)

            version = RollupVersion(settings, setup.tenant_id, contract_id)
            fresh = serial_latencies(
                server,
                setup.token,
                paths,
                args.requests,
                args.budget / 2,
                before={"month": version.raise_, "year": version.raise_},
                finish=version.close,
            )
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        env.stop()
    ratios = {}
    for phase, results in (("served", served), ("fresh", fresh)):
        for name, result in results.items():
            print(
                f"{phase:>6} {name:>5}: p50 {result.percentile_ms(0.5):8.2f} ms  p95 "
                f"{result.percentile_ms(0.95):8.2f} ms  max {max(result.latencies, default=0) * 1000:8.2f} ms"
                f"  ({result.ok} ok, {result.error_count} failed)",
                flush=True,
            )
        get_p95 = results["get"].percentile_ms(0.95)
        ratios[phase] = {name: results[name].percentile_ms(0.95) / get_p95 for name in ("month", "year")}
    errors = sum(r.error_count for results in (served, fresh) for r in results.values())
    print(
        f"total {time.monotonic() - started:.1f} s; load {load_s:.1f} s, rollup build {rollup_s:.1f} s; "
        + "; ".join(
            f"{phase}: year/get {r['year']:.1f}x, month/get {r['month']:.1f}x" for phase, r in ratios.items()
        )
        + f" (goal <= 5x); failed requests: {errors}",
        flush=True,
    )
    # The headline is the worse phase: a dashboard right after a refresh, which no cache can help.
    get_p95 = fresh["get"].percentile_ms(0.95)
    sla_p95 = fresh["year"].percentile_ms(0.95)
    month_p95 = fresh["month"].percentile_ms(0.95)
    items_p95 = fresh["items"].percentile_ms(0.95)
    print(
        f"RESULT dashboard items={args.items} sla_p95_ms={sla_p95:.1f} get_p95_ms={get_p95:.1f} "
        f"ratio={sla_p95 / get_p95:.1f} month_p95_ms={month_p95:.1f} "
        f"served_sla_p95_ms={served['year'].percentile_ms(0.95):.1f} "
        f"served_ratio={ratios['served']['year']:.1f} rollup_build_s={rollup_s:.0f} "
        f"items_p95_ms={items_p95:.1f} items_ratio={items_p95 / get_p95:.1f}",
        flush=True,
    )
    consistent = shown == args.items and received == args.items and same
    if not consistent:
        print(
            f"error: {args.items} items loaded, dashboard shows {shown}, rollups count {received}; "
            f"dashboards from day and month rows {'equal' if same else 'differ from'} those from hourly rows"
        )
    return 0 if consistent and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
