"""Benchmark: bulk ingestion of work items through `POST /v1/work-items:batch` versus raw COPY into the
same table, then the SLA rollups the batches asked for, checked against an exact recomputation.

    python bench/ingest.py [--quick] [--items N] [--connections C] [--batch B] [--windows W]

One contract receives N items (default 1,000,000; quick 100,000) through the HTTP endpoint of the real
app (one uvicorn process, as bench/api.py serves it), in batches of B (default 10,000) sent over C
concurrent keep-alive connections (default 2). The very same rows also go through asyncpg
``copy_records_to_table``, over the same number of connections and in the same batches, each batch its
own transaction, as the schema owner: the fastest way PostgreSQL takes rows, without validation,
upsert, change counts or rollup jobs. COPY writes into a table built like ``work_items`` (its columns,
defaults, indexes, foreign keys and triggers) and holding what ``work_items`` held when the API phase
began, so both paths write into a table of the same size with the same indexes to keep. The batches are
sent in W windows (default 3), interleaved: a window's batches through the API, the worker catching up,
then the same rows by COPY, then the next window; the ratio reported is the median of the windows'
ratios, so a slow moment of the machine weighs on one window rather than on one path. Request bodies
and COPY records are built before any clock starts; the CPU seconds of the API process, of
PostgreSQL, of the worker and of this client are printed for each window and path.

The batches are sent in order of receipt, as a client's system would send them, each asking through
the outbox for the rollups of the hours it touched (``sla.refresh_hours`` on queue ``sla``). A real
``bpo worker --queue sla`` runs beside the API all along, as in production, computing those rollups
while the batches arrive; once the last batch is answered, the time until every job has committed is
the catch-up time (the lag a burst of N/W items leaves behind; the longest of the windows is reported).
Refreshes of one contract are serialised, so more workers do not shorten it. COPY runs after the worker
has caught up.
Finally every ``sla_hourly`` and ``work_hourly`` row of the contract is compared with an exact
recomputation from its raw items (every item measured against every objective with bpo.sla.engine):
status counts, checkpoint counts and latency sketches per objective and hour, volumes, outcomes and
sentiments per hour and channel; and every ``sla_periods`` and ``work_periods`` row with the same
recomputation summed per local day, month, and month to date of the client's zone.

With no BPO_DATABASE_URL / BPO_REDIS_URL it starts embedded PostgreSQL and Redis in a temporary
directory (see bench/api.py). The last line is
``RESULT ingest items=… api_per_s=… copy_per_s=… ratio=… rollups_exact=true|false rollup_catchup_s=…
rollup_jobs=… rollup_jobs_during_api=… windows=…``;
the exit status is non-zero if a request failed or the rollups differ from the recomputation.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import msgspec

# bench/api.py and bench/scale.py (this directory is on sys.path): environment, servers, provisioning.
from api import Environment, ServerProcess, cpu_delta, postgres_cpu_seconds, provision, serve_real
from scale import Command, bpo_env

from bpo.clients import service as clients
from bpo.clients.schemas import Objective
from bpo.core.business_time import Calendar
from bpo.core.db import Database, connect_params
from bpo.core.jobs.registry import REFRESH_HOURS_JOB, SLA_QUEUE
from bpo.core.orm import new_id
from bpo.core.scope import system_scope
from bpo.settings import Settings
from bpo.sla import engine
from bpo.sla.rollups import hour_of, objective_key
from bpo.sla.sketch import LatencySketch

TIME_ZONE = "Asia/Tokyo"
ZONE = ZoneInfo(TIME_ZONE)
CALENDAR_WINDOWS = [{"days": ["weekdays"], "start": "09:00", "end": "21:00"}]
# The Lancers email checkpoints, a 45 s chat first reply, and resolution within three days.
OBJECTIVES: list[dict[str, Any]] = [
    {
        "metric": "first_response",
        "threshold": "24h",
        "target_percent": 90,
        "clock": "business_hours",
        "checkpoints": ["1h", "8h", "12h", "18h", "24h"],
        "channels": ["email", "form"],
    },
    {
        "metric": "first_response",
        "threshold": "45s",
        "target_percent": 95,
        "clock": "business_hours",
        "checkpoints": ["45s", "1m", "5m"],
        "channels": ["chat"],
    },
    {"metric": "resolution", "threshold": "72h", "target_percent": 90, "clock": "calendar"},
]
RATE_PLAN: dict[str, Any] = {
    "currency": "JPY",
    "charges": [{"kind": "per_unit", "code": "items", "name": "Items", "unit_price": 100}],
}
# Items end this long before now: every open item is past every threshold when the rollups are built
# and when they are checked, so both see the same statuses.
SETTLED = timedelta(days=14)
INGEST_SPAN = timedelta(days=30)
BATCH_PATH = "/v1/work-items:batch"
# work_items columns a COPY row fills (created_at and updated_at take their defaults, as on insert).
COPY_COLUMNS = (
    "tenant_id",
    "id",
    "contract_id",
    "external_id",
    "kind",
    "channel",
    "priority",
    "received_at",
    "first_response_at",
    "resolved_at",
    "handled_by",
    "outcome",
    "sentiment",
    "units",
    "attributes",
)
ITEM_FIELDS = (
    "external_id",
    "kind",
    "channel",
    "priority",
    "received_at",
    "first_response_at",
    "resolved_at",
    "handled_by",
    "outcome",
    "sentiment",
    "units",
    "attributes",
)
ATTRIBUTES: list[dict[str, Any]] = [{}, {"lang": "ja"}, {"lang": "en", "tags": ["vip"]}]
ATTRIBUTES_JSON = [msgspec.json.encode(a).decode() for a in ATTRIBUTES]
HANDLERS = [f"agent-{i:03d}" for i in range(60)]

# One item: ITEM_FIELDS in order (attributes as an index into ATTRIBUTES).
Row = tuple[Any, ...]


# --- settings, owner connection, process CPU --------------------------------------------------


def bench_settings(env: Environment) -> Settings:
    """The environment's settings with tokens that outlive a long run."""
    return env.settings.model_copy(update={"access_token_ttl_seconds": 86_400})


def owner_url(settings: Settings) -> str:
    url = settings.migration_database_url or settings.database_url
    assert url is not None
    return url


async def owner_connect(settings: Settings) -> asyncpg.Connection:
    """A raw asyncpg connection as the schema owner (bypasses RLS on the embedded superuser)."""
    return await asyncpg.connect(**connect_params(owner_url(settings)))


# --- setup through the API --------------------------------------------------------------------


@dataclass
class Setup:
    tenant_id: uuid.UUID
    token: str
    client_id: str
    calendar_id: str
    contracts: dict[str, str]


def create_contracts(
    base_url: str,
    settings: Settings,
    names: Sequence[str],
    start: date,
    objectives: list[dict[str, Any]],
    work_type: str = "email_support",
) -> Setup:
    """A tenant (bench/api.py's provision), one client with a JST business calendar, and one active
    contract per name with ``objectives`` and a rate plan in force from ``start``."""
    # One tenant with one signed-in user: an account manager, who sets up what the operator sells.
    ((_, token),) = provision(base_url, settings, 1, 1).scoped
    headers = {"Authorization": f"Bearer {token}"}
    suffix = uuid.uuid4().hex[:6].upper()
    with httpx.Client(base_url=base_url, timeout=60, headers=headers) as client:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = client.post(path, json=body)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"POST {path}: HTTP {response.status_code}: {response.text[:300]}")
            result: dict[str, Any] = response.json()
            return result

        customer = post(
            "/v1/clients", {"code": f"BENCH-{suffix}", "name": "Bench client", "time_zone": TIME_ZONE}
        )
        service = post(f"/v1/clients/{customer['id']}/services", {"code": "support", "name": "Support"})
        calendar = post(
            "/v1/calendars",
            {
                "code": f"CAL-{suffix}",
                "name": "Support hours",
                "time_zone": TIME_ZONE,
                "windows": CALENDAR_WINDOWS,
            },
        )
        contracts: dict[str, str] = {}
        for name in names:
            contract = post(
                "/v1/contracts",
                {
                    "service_id": service["id"],
                    "code": f"{name.upper()}-{suffix}",
                    "name": f"Bench {name}",
                    "work_type": work_type,
                    "start_date": start.isoformat(),
                    "calendar_id": calendar["id"],
                },
            )
            path = f"/v1/contracts/{contract['id']}"
            post(f"{path}/sla-policies", {"effective_from": start.isoformat(), "objectives": objectives})
            post(f"{path}/rate-plans", {"effective_from": start.isoformat(), **RATE_PLAN})
            post(f"{path}/transitions", {"status": "active"})
            contracts[name] = contract["id"]

    async def tenant_of() -> uuid.UUID:
        conn = await owner_connect(settings)
        try:
            tenant: uuid.UUID = await conn.fetchval(
                "SELECT tenant_id FROM contracts WHERE id = $1", uuid.UUID(contracts[names[0]])
            )
        finally:
            await conn.close()
        return tenant

    return Setup(
        tenant_id=asyncio.run(tenant_of()),
        token=token,
        client_id=customer["id"],
        calendar_id=calendar["id"],
        contracts=contracts,
    )


def create_api_key(base_url: str, token: str, client_id: str, contract_id: str) -> str:
    """An ingest key bound to the client and contract, as a client's help desk would hold."""
    response = httpx.post(
        f"{base_url}/v1/api-keys",
        json={"name": "bench ingest", "client_id": client_id, "contract_id": contract_id},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code != 201:
        raise RuntimeError(f"POST /v1/api-keys: HTTP {response.status_code}: {response.text[:300]}")
    key: str = response.json()["key"]
    return key


# --- items ------------------------------------------------------------------------------------


def item_row(rng: random.Random, external_id: str, received: datetime) -> Row:
    """A plausible help-desk item: email (slow first reply), chat (seconds) or web form."""
    draw = rng.random()
    channel = "email" if draw < 0.55 else "chat" if draw < 0.85 else "form"
    first: datetime | None = None
    resolved: datetime | None = None
    if channel == "chat":
        if rng.random() < 0.97:
            first = received + timedelta(seconds=rng.expovariate(1 / 35))
            if rng.random() < 0.9:
                resolved = first + timedelta(seconds=rng.expovariate(1 / 600))
    else:
        if rng.random() < 0.97:
            first = received + timedelta(seconds=rng.lognormvariate(math.log(7_200), 1.2))
        if rng.random() < 0.85:
            resolved = (first or received) + timedelta(seconds=rng.lognormvariate(math.log(21_600), 1.0))
    draw = rng.random()
    outcome = (
        "replied"
        if draw < 0.6
        else "resolved"
        if draw < 0.8
        else "escalated"
        if draw < 0.9
        else "acknowledged"
        if resolved is not None
        else None
    )
    draw = rng.random()
    sentiment = "positive" if draw < 0.3 else "neutral" if draw < 0.85 else "negative"
    draw = rng.random()
    attributes = 1 if draw < 0.7 else 2 if draw < 0.75 else 0
    return (
        external_id,
        "complaint" if rng.random() < 0.1 else "inquiry",
        channel,
        "high" if rng.random() < 0.2 else "normal",
        received,
        first,
        resolved,
        rng.choice(HANDLERS) if first is not None else None,
        outcome,
        sentiment,
        1,
        attributes,
    )


def ingest_rows(count: int, end: datetime, seed: int = 6) -> list[Row]:
    """``count`` items received at evenly spread instants over INGEST_SPAN up to ``end``, in order."""
    rng = random.Random(seed)
    start = end - INGEST_SPAN
    step = INGEST_SPAN / count
    return [item_row(rng, f"ext-{i:08d}", start + step * i) for i in range(count)]


def api_item(row: Row) -> dict[str, Any]:
    item = {name: value for name, value in zip(ITEM_FIELDS, row, strict=True) if value is not None}
    item["attributes"] = ATTRIBUTES[row[11]]
    return item


def api_bodies(rows: Sequence[Row], contract_id: str, batch: int) -> list[bytes]:
    encode = msgspec.json.Encoder().encode
    return [
        encode({"contract_id": contract_id, "items": [api_item(row) for row in rows[at : at + batch]]})
        for at in range(0, len(rows), batch)
    ]


def copy_records(rows: Sequence[Row], tenant_id: uuid.UUID, contract_id: uuid.UUID) -> Iterator[Row]:
    for row in rows:
        yield (tenant_id, new_id(), contract_id, *row[:11], ATTRIBUTES_JSON[row[11]])


# --- the two ingest paths ---------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    items: int
    seconds: float
    server_cpu: float | None = None
    postgres_cpu: float | None = None
    worker_cpu: float | None = None
    client_cpu: float | None = None
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        cpu = []
        if self.server_cpu is not None:
            cpu.append(f"api server {self.server_cpu:.1f} s")
        if self.postgres_cpu is not None:
            cpu.append(f"postgres {self.postgres_cpu:.1f} s")
        if self.worker_cpu is not None:
            cpu.append(f"worker {self.worker_cpu:.1f} s")
        if self.client_cpu is not None:
            cpu.append(f"this client {self.client_cpu:.1f} s")
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return (
            f"{self.name:>5}: {self.per_second:9.0f} items/s  ({self.items} items in {self.seconds:.2f} s)"
            + (f"  cpu: {', '.join(cpu)}" if cpu else "")
            + (f"  [{counts}]" if counts else "")
        )


def post_batches(
    server: ServerProcess,
    settings: Settings,
    key: str,
    bodies: Sequence[bytes],
    connections: int,
    *,
    progress: bool = True,
) -> Phase:
    """Send every body once over ``connections`` keep-alive connections; stop at the first failure."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    phase = Phase("api", 0, 0.0)
    remaining = iter(range(len(bodies)))
    every = max(1, len(bodies) // 10)
    answered = [0]

    async def run() -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=server.url, timeout=600, limits=limits) as client:
            started = time.perf_counter()

            async def sender() -> None:
                for index in remaining:
                    response = await client.post(BATCH_PATH, content=bodies[index], headers=headers)
                    if response.status_code != 200:
                        raise RuntimeError(
                            f"batch {index}: HTTP {response.status_code}: {response.text[:500]}"
                        )
                    result = response.json()
                    phase.items += result["received"]
                    phase.counts.update({k: result[k] for k in ("created", "updated", "unchanged")})
                    answered[0] += 1
                    if progress and answered[0] % every == 0:
                        elapsed = time.perf_counter() - started
                        print(
                            f"  api: {phase.items} items in {elapsed:.1f} s "
                            f"({phase.items / elapsed:.0f} items/s)",
                            flush=True,
                        )

            await asyncio.gather(*(sender() for _ in range(connections)))
            phase.seconds = time.perf_counter() - started

    cpu0, pg0, client0 = server.cpu_seconds(), postgres_cpu_seconds(settings), time.process_time()
    asyncio.run(run())
    phase.server_cpu = cpu_delta(cpu0, server.cpu_seconds())
    phase.postgres_cpu = cpu_delta(pg0, postgres_cpu_seconds(settings))
    phase.client_cpu = time.process_time() - client0
    return phase


COPY_TABLE = "bench_copy_work_items"


async def create_copy_table(settings: Settings) -> None:
    """A table built like ``work_items`` (columns, defaults, indexes, foreign keys, triggers) holding what
    ``work_items`` holds now: the COPY path starts from the same table the API path started from."""
    conn = await owner_connect(settings)
    try:
        async with conn.transaction():
            await conn.execute(f"CREATE TABLE {COPY_TABLE} (LIKE work_items INCLUDING ALL)")
            for name, definition in await conn.fetch(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'work_items'::regclass AND contype = 'f'"
            ):
                await conn.execute(f'ALTER TABLE {COPY_TABLE} ADD CONSTRAINT "{name}_copy" {definition}')
            for (definition,) in await conn.fetch(
                "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE tgrelid = 'work_items'::regclass AND NOT tgisinternal"
            ):
                await conn.execute(
                    definition.replace(" ON public.work_items ", f" ON public.{COPY_TABLE} ").replace(
                        "CREATE TRIGGER ", "CREATE TRIGGER copy_", 1
                    )
                )
            await conn.execute(f"INSERT INTO {COPY_TABLE} SELECT * FROM work_items")
            await conn.execute(f"ANALYZE {COPY_TABLE}")
    finally:
        await conn.close()


async def drop_copy_table(settings: Settings) -> None:
    conn = await owner_connect(settings)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
    finally:
        await conn.close()


def copy_batches(settings: Settings, batches: Sequence[list[Row]], connections: int) -> Phase:
    """COPY every batch once, each in its own transaction, over ``connections`` owner connections, into
    ``COPY_TABLE``."""
    phase = Phase("copy", sum(len(b) for b in batches), 0.0)
    remaining = iter(range(len(batches)))

    async def run() -> None:
        conns = [await owner_connect(settings) for _ in range(connections)]
        try:

            async def copier(conn: asyncpg.Connection) -> None:
                for index in remaining:
                    async with conn.transaction():
                        await conn.copy_records_to_table(
                            COPY_TABLE, records=batches[index], columns=COPY_COLUMNS
                        )

            pg0, client0 = postgres_cpu_seconds(settings), time.process_time()
            started = time.perf_counter()
            await asyncio.gather(*(copier(conn) for conn in conns))
            phase.seconds = time.perf_counter() - started
            # Before the backends exit with their CPU time.
            phase.postgres_cpu = cpu_delta(pg0, postgres_cpu_seconds(settings))
            phase.client_cpu = time.process_time() - client0
        finally:
            for conn in conns:
                await conn.close()

    asyncio.run(run())
    return phase


# --- rollups: a real worker works off the backlog ---------------------------------------------


@dataclass
class CatchUp:
    jobs: int
    hour_refreshes: int
    # Jobs committed by the time the last batch was answered.
    done_during_api: int
    # From the last batch answered until the last job committed.
    seconds: float
    worker_cpu: float | None


def start_worker(settings: Settings, log_dir: Path) -> Command:
    """`bpo worker --queue sla`, computing the rollups the batches ask for while they arrive."""
    return Command(
        "worker-sla",
        ["worker", "--queue", SLA_QUEUE, "--processes", "1", "--threads", "2"],
        bpo_env(settings),
        log_dir,
    )


def count_done(settings: Settings, tenant_id: uuid.UUID) -> int:
    async def run() -> int:
        conn = await owner_connect(settings)
        try:
            done: int = await conn.fetchval(
                "SELECT count(*) FROM job_runs r JOIN outbox o "
                "ON o.tenant_id = r.tenant_id AND o.id = r.job_id WHERE r.tenant_id = $1 AND o.actor = $2",
                tenant_id,
                REFRESH_HOURS_JOB,
            )
        finally:
            await conn.close()
        return done

    return asyncio.run(run())


def catch_up(
    settings: Settings, tenant_id: uuid.UUID, worker: Command, done_during_api: int, timeout: float
) -> CatchUp:
    """Wait until every refresh job of the tenant has committed, from the moment the API phase ended."""

    async def pending_jobs(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        deadline = time.monotonic() + 30
        while await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND sent_at IS NULL", tenant_id
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("outbox rows still unsent 30 s after ingest (is Redis up?)")
            await asyncio.sleep(0.1)
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT id, kwargs FROM outbox WHERE tenant_id = $1 AND actor = $2",
            tenant_id,
            REFRESH_HOURS_JOB,
        )
        return rows

    async def run() -> CatchUp:
        started = time.perf_counter()
        cpu0 = worker.cpu_seconds()
        conn = await owner_connect(settings)
        try:
            jobs = await pending_jobs(conn)
            ids = [row["id"] for row in jobs]
            refreshes = sum(len(json.loads(row["kwargs"])["hours"]) for row in jobs)
            while True:
                done = await conn.fetchval(
                    "SELECT count(*) FROM job_runs WHERE tenant_id = $1 AND job_id = ANY($2::uuid[])",
                    tenant_id,
                    ids,
                )
                elapsed = time.perf_counter() - started
                if done >= len(ids):
                    cpu = cpu_delta(cpu0, worker.cpu_seconds())
                    return CatchUp(len(ids), refreshes, done_during_api, elapsed, cpu)
                worker.check_alive()
                if elapsed > timeout:
                    raise RuntimeError(f"rollup jobs: {done} of {len(ids)} done after {timeout:.0f} s")
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    return asyncio.run(run())


# --- exact recomputation ----------------------------------------------------------------------


@dataclass
class Expected:
    met: int = 0
    breached: int = 0
    pending: int = 0
    latencies: list[float] = field(default_factory=list)
    within: Counter[str] = field(default_factory=Counter)
    eligible: Counter[str] = field(default_factory=Counter)

    def as_row(self) -> tuple[int, int, int, dict[str, int], dict[str, list[int]]]:
        checkpoints = {key: [self.within[key], self.eligible[key]] for key in self.eligible}
        sketch = LatencySketch.of(self.latencies).to_json()
        return self.met, self.breached, self.pending, sketch, checkpoints


async def load_calendar(settings: Settings, tenant_id: uuid.UUID, calendar_id: str, years: range) -> Calendar:
    db = Database(settings.model_copy(update={"database_pool_size": 1}))
    try:
        async with db.tenant(tenant_id) as session:
            row = await clients.get_calendar_row(session, system_scope(tenant_id), uuid.UUID(calendar_id))
            return clients.business_calendar(row, years)
    finally:
        await db.dispose()


def _compare(what: str, expected: dict[Any, Any], actual: dict[Any, Any], problems: list[str]) -> None:
    for key in sorted(expected.keys() | actual.keys(), key=str):
        want, got = expected.get(key), actual.get(key)
        if want != got:
            problems.append(f"{what} {key}: expected {want}, rollup has {got}")


async def check_rollups(
    settings: Settings, setup: Setup, contract_id: str, objectives: Sequence[Objective]
) -> tuple[bool, list[str]]:
    """Compare the contract's rollup rows with a recomputation from its raw items; lines to print."""
    contract = uuid.UUID(contract_id)
    conn = await owner_connect(settings)
    try:
        items = await conn.fetch(
            "SELECT received_at, first_response_at, resolved_at, priority, channel, units, outcome, "
            "sentiment "
            "FROM work_items WHERE tenant_id = $1 AND contract_id = $2",
            setup.tenant_id,
            contract,
        )
        sla_rows = await conn.fetch(
            "SELECT objective, hour, met, breached, pending, sketch::text, checkpoints::text "
            "FROM sla_hourly WHERE tenant_id = $1 AND contract_id = $2",
            setup.tenant_id,
            contract,
        )
        work_rows = await conn.fetch(
            "SELECT hour, channel, received, responded, resolved, units, outcomes::text, sentiments::text "
            "FROM work_hourly WHERE tenant_id = $1 AND contract_id = $2",
            setup.tenant_id,
            contract,
        )
        sla_period_rows = await conn.fetch(
            "SELECT objective, span, starts_on, met, breached, pending, sketch::text, checkpoints::text "
            "FROM sla_periods WHERE tenant_id = $1 AND contract_id = $2",
            setup.tenant_id,
            contract,
        )
        work_period_rows = await conn.fetch(
            "SELECT span, starts_on, channel, received, responded, resolved, units, outcomes::text, "
            "sentiments::text FROM work_periods WHERE tenant_id = $1 AND contract_id = $2",
            setup.tenant_id,
            contract,
        )
        cut_in = await conn.fetchval(
            "SELECT time_zone FROM period_rollup_zones WHERE tenant_id = $1 AND contract_id = $2",
            setup.tenant_id,
            contract,
        )
    finally:
        await conn.close()
    if not items:
        return False, ["no items"]
    first_year = min(row["received_at"] for row in items).year
    last_year = max(row["received_at"] for row in items).year
    calendar = await load_calendar(
        settings, setup.tenant_id, setup.calendar_id, range(first_year - 1, last_year + 2)
    )
    now = datetime.now(UTC)
    keyed = [
        (
            objective_key(o),
            o,
            [(str(int(engine.duration(c).total_seconds())), engine.duration(c)) for c in o.checkpoints],
        )
        for o in objectives
    ]
    sla: dict[tuple[str, datetime], Expected] = defaultdict(Expected)
    volumes: dict[tuple[datetime, str], list[Any]] = {}
    for row in items:
        hour = hour_of(row["received_at"])
        item = engine.ItemTimes(
            row["received_at"], row["first_response_at"], row["resolved_at"], row["priority"], row["channel"]
        )
        for key, objective, checkpoints in keyed:
            if not engine.applies(objective, item):
                continue
            measured = engine.measure(objective, item, calendar, now)
            tally = sla[(key, hour)]
            if measured.status is engine.Status.MET:
                tally.met += 1
            elif measured.status is engine.Status.BREACHED:
                tally.breached += 1
            else:
                tally.pending += 1
            answered = measured.stopped_at is not None
            if answered:
                tally.latencies.append(measured.elapsed.total_seconds())
            for name, limit in checkpoints:
                tally.within[name] += answered and measured.elapsed <= limit
                tally.eligible[name] += answered or measured.elapsed > limit
        volume = volumes.setdefault((hour, row["channel"] or ""), [0, 0, 0, 0, Counter(), Counter()])
        volume[0] += 1
        volume[1] += row["first_response_at"] is not None
        volume[2] += row["resolved_at"] is not None
        volume[3] += row["units"]
        if row["outcome"]:
            volume[4][row["outcome"]] += 1
        if row["sentiment"]:
            volume[5][row["sentiment"]] += 1
    problems: list[str] = []
    _compare(
        "sla_hourly",
        {key: tally.as_row() for key, tally in sla.items()},
        {
            (r["objective"], r["hour"]): (
                r["met"],
                r["breached"],
                r["pending"],
                json.loads(r["sketch"]),
                json.loads(r["checkpoints"]),
            )
            for r in sla_rows
        },
        problems,
    )
    _compare(
        "work_hourly",
        {key: (*v[:4], dict(v[4]), dict(v[5])) for key, v in volumes.items()},
        {
            (r["hour"], r["channel"]): (
                r["received"],
                r["responded"],
                r["resolved"],
                r["units"],
                json.loads(r["outcomes"]),
                json.loads(r["sentiments"]),
            )
            for r in work_rows
        },
        problems,
    )
    # Days and months of the client's zone, summed from the recomputed hours.
    if cut_in != TIME_ZONE:
        problems.append(f"period_rollup_zones says {cut_in!r}, the client's zone is {TIME_ZONE}")
    sla_periods: dict[tuple[str, str, date], Expected] = defaultdict(Expected)
    for (key, hour), tally in sla.items():
        day = hour.astimezone(ZONE).date()
        for span, starts_on in (("day", day), ("month", day.replace(day=1))):
            total = sla_periods[(key, span, starts_on)]
            total.met += tally.met
            total.breached += tally.breached
            total.pending += tally.pending
            total.latencies += tally.latencies
            total.within.update(tally.within)
            total.eligible.update(tally.eligible)
    work_periods: dict[tuple[str, date, str], list[Any]] = {}
    for (hour, channel), numbers in volumes.items():
        day = hour.astimezone(ZONE).date()
        for span, starts_on in (("day", day), ("month", day.replace(day=1))):
            summed = work_periods.setdefault((span, starts_on, channel), [0, 0, 0, 0, Counter(), Counter()])
            for i in range(4):
                summed[i] += numbers[i]
            summed[4].update(numbers[4])
            summed[5].update(numbers[5])
    # Month to date: each day that has a row, summed from the first of its month.
    for key, _, day in [k for k in sla_periods if k[1] == "day"]:
        total = sla_periods[(key, "mtd", day)]
        for earlier in range(1, day.day + 1):
            if (found := sla_periods.get((key, "day", day.replace(day=earlier)))) is not None:
                total.met += found.met
                total.breached += found.breached
                total.pending += found.pending
                total.latencies += found.latencies
                total.within.update(found.within)
                total.eligible.update(found.eligible)
    for _, day, channel in [k for k in work_periods if k[0] == "day"]:
        summed = work_periods.setdefault(("mtd", day, channel), [0, 0, 0, 0, Counter(), Counter()])
        for earlier in range(1, day.day + 1):
            if (found_numbers := work_periods.get(("day", day.replace(day=earlier), channel))) is not None:
                for i in range(4):
                    summed[i] += found_numbers[i]
                summed[4].update(found_numbers[4])
                summed[5].update(found_numbers[5])
    _compare(
        "sla_periods",
        {key: tally.as_row() for key, tally in sla_periods.items()},
        {
            (r["objective"], r["span"], r["starts_on"]): (
                r["met"],
                r["breached"],
                r["pending"],
                json.loads(r["sketch"]),
                json.loads(r["checkpoints"]),
            )
            for r in sla_period_rows
        },
        problems,
    )
    _compare(
        "work_periods",
        {key: (*v[:4], dict(v[4]), dict(v[5])) for key, v in work_periods.items()},
        {
            (r["span"], r["starts_on"], r["channel"]): (
                r["received"],
                r["responded"],
                r["resolved"],
                r["units"],
                json.loads(r["outcomes"]),
                json.loads(r["sentiments"]),
            )
            for r in work_period_rows
        },
        problems,
    )
    lines = [
        f"recomputed {len(items)} items: {len(sla)} objective-hours, {len(volumes)} channel-hours, "
        f"{len(sla_periods)} objective-days, -months and -months-to-date, {len(work_periods)} channel-days, "
        "-months and -months-to-date"
    ]
    for key, _, _ in keyed:
        rows = [r for r in sla_rows if r["objective"] == key]
        met, breached, pending = (sum(r[f] for r in rows) for f in ("met", "breached", "pending"))
        attained = engine.attainment(met, breached)
        shown = f"{attained:.2f}%" if attained is not None else "n/a"
        lines.append(
            f"  {key}: met {met} breached {breached} pending {pending} "
            f"(= {met + breached + pending} items) attainment {shown}"
        )
    received = sum(r["received"] for r in work_rows)
    lines.append(f"  volumes: received {received}, items in the table {len(items)}")
    if received != len(items):
        problems.append(f"work_hourly received {received} != {len(items)} items")
    lines += [f"  MISMATCH {p}" for p in problems[:10]]
    if len(problems) > 10:
        lines.append(f"  … and {len(problems) - 10} more mismatches")
    return not problems, lines


# --- main -------------------------------------------------------------------------------------


@dataclass
class Round:
    """One window: a share of the batches through the API, the worker catching up, the same rows by COPY."""

    api: Phase
    copy: Phase
    caught: CatchUp


def run_window(
    server: ServerProcess,
    settings: Settings,
    tenant_id: uuid.UUID,
    worker: Command,
    key: str,
    bodies: Sequence[bytes],
    batches: Sequence[list[Row]],
    args: argparse.Namespace,
) -> Round:
    """The window's batches through the API with the worker beside it, the worker catching up, then the
    same rows by COPY."""
    done_before = count_done(settings, tenant_id)
    worker_cpu0 = worker.cpu_seconds()
    api = post_batches(server, settings, key, bodies, args.connections)
    api.worker_cpu = cpu_delta(worker_cpu0, worker.cpu_seconds())
    print(api.summary(), flush=True)
    done_during_api = count_done(settings, tenant_id) - done_before
    caught = catch_up(settings, tenant_id, worker, done_during_api, timeout=max(300.0, args.items / 500))
    worker_cpu = f", worker cpu {caught.worker_cpu:.1f} s" if caught.worker_cpu is not None else ""
    print(
        f"rollups: the worker beside the API had committed {done_during_api} jobs of this window when its "
        f"last batch was answered ({caught.jobs} jobs, {caught.hour_refreshes} hour refreshes so far); "
        f"the rest took {caught.seconds:.1f} s more{worker_cpu}",
        flush=True,
    )
    copy = copy_batches(settings, batches, args.connections)
    print(copy.summary(), flush=True)
    return Round(api, copy, caught)


def windows(batches: int, count: int) -> list[slice]:
    """``count`` consecutive runs of batch indexes, as even as they divide (fewer if there are fewer
    batches)."""
    count = min(count, batches)
    edges = [batches * n // count for n in range(count + 1)]
    return [slice(start, stop) for start, stop in itertools.pairwise(edges)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100,000 items instead of 1,000,000")
    parser.add_argument("--items", type=int, help="items per path (default 1,000,000, quick 100,000)")
    parser.add_argument("--batch", type=int, default=10_000, help="items per request and per COPY")
    parser.add_argument("--connections", type=int, default=2, help="concurrent connections per path")
    parser.add_argument(
        "--windows", type=int, default=3, help="windows of API then COPY, interleaved (median reported)"
    )
    args = parser.parse_args(argv)
    if args.items is None:
        args.items = 100_000 if args.quick else 1_000_000
    if args.items < 1 or not 1 <= args.batch <= 10_000 or args.connections < 1 or args.windows < 1:
        parser.error("--items, --connections and --windows must be >= 1 and --batch within 1..10,000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(
        f"ingest benchmark: {args.items} items per path in batches of {args.batch} over "
        f"{args.connections} connections; {os.cpu_count()} CPUs{load}",
        flush=True,
    )
    started = time.monotonic()
    end = datetime.now(UTC) - SETTLED
    contract_start = (end - INGEST_SPAN).astimezone(ZONE).date() - timedelta(days=1)
    objectives = msgspec.convert(OBJECTIVES, list[Objective])
    env = Environment.start()
    log_dir = Path(tempfile.mkdtemp(prefix="bpo-bench-ingest-"))
    rounds: list[Round] = []
    try:
        settings = bench_settings(env)
        where = "embedded" if settings.database_url == env.services.database_url else "configured"
        print(f"setup: {where} PostgreSQL migrated in {time.monotonic() - started:.1f} s", flush=True)
        generated = time.monotonic()
        rows = ingest_rows(args.items, end)
        with ServerProcess("api", serve_real, (settings,), "/health") as server:
            setup = create_contracts(
                server.url, settings, ["api", "copy", "warmup"], contract_start, OBJECTIVES
            )
            key = create_api_key(server.url, setup.token, setup.client_id, setup.contracts["api"])
            bodies = api_bodies(rows, setup.contracts["api"], args.batch)
            records = list(copy_records(rows, setup.tenant_id, uuid.UUID(setup.contracts["copy"])))
            batches = [records[at : at + args.batch] for at in range(0, len(records), args.batch)]
            megabytes = sum(len(b) for b in bodies) / 1e6
            print(
                f"setup: {len(bodies)} request bodies ({megabytes:.0f} MB of JSON) and {len(records)} COPY "
                f"records built in {time.monotonic() - generated:.1f} s; api server pid {server.process.pid}",
                flush=True,
            )
            worker = start_worker(settings, log_dir)
            try:
                warm_key = create_api_key(server.url, setup.token, setup.client_id, setup.contracts["warmup"])
                warm = api_bodies(rows[: min(1_000, len(rows))], setup.contracts["warmup"], args.batch)
                post_batches(server, settings, warm_key, warm, 1, progress=False)
                # The COPY path's table: like work_items, holding what it holds as the API phase begins;
                # each window then adds the same rows to both.
                asyncio.run(create_copy_table(settings))
                for number, part in enumerate(windows(len(bodies), args.windows), 1):
                    print(
                        f"window {number} of {args.windows}: batches {part.start + 1}-{part.stop}", flush=True
                    )
                    rounds.append(
                        run_window(
                            server, settings, setup.tenant_id, worker, key, bodies[part], batches[part], args
                        )
                    )
            finally:
                worker.stop()
        created = sum(r.api.counts["created"] for r in rounds)
        if created != args.items:
            raise RuntimeError(f"the API created {created} of {args.items} items")
        del bodies, records, batches
        asyncio.run(drop_copy_table(settings))
        checked = time.monotonic()
        exact, lines = asyncio.run(check_rollups(settings, setup, setup.contracts["api"], objectives))
        print("\n".join(lines), flush=True)
        print(
            f"check: rollups {'equal' if exact else 'DIFFER FROM'} the recomputation "
            f"({time.monotonic() - checked:.1f} s)",
            flush=True,
        )
    except RuntimeError as exc:
        print(f"error: {exc} (logs in {log_dir})", file=sys.stderr, flush=True)
        return 1
    finally:
        env.stop()
    shutil.rmtree(log_dir, ignore_errors=True)
    ratios = [r.api.per_second / r.copy.per_second if r.copy.per_second else 0.0 for r in rounds]
    ratio = statistics.median(ratios)
    api_per_s = statistics.median(r.api.per_second for r in rounds)
    copy_per_s = statistics.median(r.copy.per_second for r in rounds)
    print(
        f"total {time.monotonic() - started:.1f} s; api/copy per window "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f": median {ratio:.2f} (goal >= 0.5)",
        flush=True,
    )
    print(
        f"RESULT ingest items={args.items} api_per_s={api_per_s:.0f} copy_per_s={copy_per_s:.0f} "
        f"ratio={ratio:.2f} rollups_exact={'true' if exact else 'false'} "
        f"rollup_catchup_s={max(r.caught.seconds for r in rounds):.1f} rollup_jobs={rounds[-1].caught.jobs} "
        f"rollup_jobs_during_api={sum(r.caught.done_during_api for r in rounds)} windows={len(rounds)}",
        flush=True,
    )
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
