"""Benchmark: a mixed load from many tenants at once against the product run as operators run it.

    python bench/load.py [--quick] [--duration S] [--tenants N] [--users U] [--login-rate R]

The API is `bpo serve --workers N` (default 2), a subprocess configured by BPO_* variables, with a
`bpo worker` beside it computing the SLA rollups that ingest asks for, as in production. Each tenant
is onboarded through the API first: a client with a service, a business calendar and an active
contract (SLA policy, rate plan), an ingest API key bound to the contract, a client viewer and a staff
user, and a first batch of work items. When the app's OpenAPI lists `GET /v1/me/shifts` and the routes
that create staff profiles, shifts and assignments and publish shifts, each tenant's staff user also
gets a profile and a shift a day for the next five days, assigned and published, and the mix reads
them; otherwise the run says which route is missing and leaves shift reads out.

The load: U virtual users (default 16) in a closed loop, each request sent as soon as the previous
answered, on keep-alive connections from one asyncio httpx client; each picks a tenant at random and,
by weight, one of: batch ingest with the API key (100-1,000 new items), the client's and the
contract's SLA dashboards as the client viewer, and the staff user's own shifts. Logins
(`POST /v1/auth/token`, argon2: the costliest request by design) run beside them at a fixed rate
(default 0.5/s: each of the 150 accounts of 50 tenants logs in every 5 min) over every tenant's
accounts in turn. Login rate limits are kept, not hidden: failed attempts per account would stay far
below their limit, each account logging in at most once every (accounts / rate) seconds; and since
every virtual user comes from 127.0.0.1, the per-IP limit is raised for this run's server
(BPO_LOGIN_ATTEMPTS_PER_IP). A 429 would count as an error.

Rates and latencies count requests completed inside the measured window (after a warm-up); an error
(any non-2xx answer or failed request) counts whenever it happens. Where the machine's time goes is
measured beside them: the CPU time of the API processes, of the worker and of PostgreSQL (its server
processes and backends, from /proc through psutil) over the window, as cores busy. Then each operation
runs alone for a short phase (--phase S, default 10, quick 3) with the same virtual users, once the
worker has committed every rollup job asked for before, and its CPU per request is split the same
way: API, PostgreSQL, worker (for ingest: until the worker has committed the rollups the phase asked
for). With no BPO_DATABASE_URL / BPO_REDIS_URL it starts embedded PostgreSQL and Redis in a temporary
directory (see bench/api.py).
The last line is ``RESULT load tenants=… rps=… p50_ms=… p95_ms=… p99_ms=… errors=… api_cores=…
worker_cores=… pg_cores=… <operation>_api_us=… <operation>_pg_us=… <operation>_worker_us=… …``; the
exit status is non-zero if a request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

# Sibling benchmarks (this directory is on sys.path): environment, `bpo` subprocesses, PostgreSQL CPU.
from api import Environment, postgres_cpu
from ingest import owner_connect
from scale import Command, Server, bpo_env

from bpo.core.jobs.registry import REFRESH_HOURS_JOB
from bpo.settings import Settings

TENANTS = 50
# One password for every account of the run, random so that no password policy takes it for a weak one.
PASSWORD = secrets.token_urlsafe(18)
TIME_ZONE = "Asia/Tokyo"
ITEMS_MIN, ITEMS_MAX = 100, 1_000
SEED_ITEMS = 300
# Every virtual user shares 127.0.0.1; the per-account limit (failed attempts) stays as configured.
LOGIN_ATTEMPTS_PER_IP = 1_000_000
ME_SHIFTS = "/v1/me/shifts"
SHIFT_DAYS = 5
OBJECTIVES: list[dict[str, Any]] = [
    {
        "metric": "first_response",
        "threshold": "1h",
        "target_percent": 90,
        "clock": "business_hours",
        "checkpoints": ["15m", "1h", "4h"],
    },
    {"metric": "resolution", "threshold": "24h", "target_percent": 90, "clock": "calendar"},
]
RATE_PLAN: dict[str, Any] = {
    "currency": "JPY",
    "charges": [{"kind": "per_unit", "code": "items", "name": "Items", "unit_price": 100}],
}
# Operation -> weight in the virtual users' mix (logins run at their own rate).
MIX = {"ingest": 15, "client_sla": 30, "contract_sla": 30, "me_shifts": 25}
# The parts whose CPU time is measured, as named in the output, and in the RESULT line's keys.
PARTS = ("api", "worker", "postgres")
SHORT = {"api": "api", "worker": "worker", "postgres": "pg"}


# --- measurement ------------------------------------------------------------------------------


@dataclass
class Window:
    start: float
    end: float

    def holds(self, instant: float) -> bool:
        return self.start <= instant <= self.end


@dataclass
class Stats:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    # Successes inside the window or not: what the servers spent their time on.
    completed: int = 0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def record(self, window: Window, sent: float, done: float, failure: str | None) -> None:
        """Successes count inside the measured window; failures count whenever they happen."""
        if failure is not None:
            self.errors[failure] += 1
            return
        self.completed += 1
        if window.holds(done):
            self.latencies.append(done - sent)


def percentile_ms(latencies: Sequence[float], q: float) -> float:
    if not latencies:
        return float("nan")
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def summary(stats: Stats, seconds: float) -> str:
    lat = stats.latencies
    errors = ", ".join(f"{k} x{v}" for k, v in stats.errors.most_common()) or "none"
    return (
        f"{stats.name:>13}: {len(lat) / seconds:8.1f} req/s  p50 {percentile_ms(lat, 0.50):7.1f} ms"
        f"  p95 {percentile_ms(lat, 0.95):7.1f} ms  p99 {percentile_ms(lat, 0.99):7.1f} ms"
        f"  ({len(lat)} ok)  errors: {errors}"
    )


async def timed(stats: Stats, window: Window, request: Callable[[], Awaitable[httpx.Response]]) -> None:
    sent = time.perf_counter()
    try:
        response = await request()
    except httpx.HTTPError as exc:
        stats.record(window, sent, time.perf_counter(), type(exc).__name__)
        return
    failure = None if response.is_success else f"HTTP {response.status_code}"
    stats.record(window, sent, time.perf_counter(), failure)


# --- onboarding through the API ---------------------------------------------------------------


@dataclass
class Account:
    tenant: str
    email: str


@dataclass
class Tenant:
    slug: str
    client_id: str
    contract_id: str
    api_key: str
    viewer: dict[str, str]
    staff: dict[str, str]
    accounts: list[Account]
    next_item: itertools.count[int] = field(default_factory=itertools.count)


# What the shift reads need, as (method, path) in the app's OpenAPI: the read itself, and the routes that
# create a staff profile, a shift, an assignment and publish the shifts.
STAFFING_ROUTES = [
    ("get", ME_SHIFTS),
    ("post", "/v1/staff"),
    ("post", "/v1/shifts"),
    ("post", "/v1/shifts/{shift_id}/assignments"),
    ("post", "/v1/shifts:publish"),
]


def missing_staffing_routes(openapi: dict[str, Any]) -> list[str]:
    paths: dict[str, dict[str, Any]] = openapi.get("paths", {})
    return [
        f"{method.upper()} {path}" for method, path in STAFFING_ROUTES if method not in paths.get(path, {})
    ]


class Api:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, method: str, path: str, token: str | None, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.request(method, path, json=body, headers=headers)
        if not response.is_success:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    async def login(self, slug: str, email: str) -> str:
        body = {"tenant": slug, "email": email, "password": PASSWORD}
        token: str = (await self.call("POST", "/v1/auth/token", None, body))["access_token"]
        return token


def work_items(tenant: Tenant, count: int, rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """``count`` new items received over the past week: answered in minutes to hours, most resolved."""
    items = []
    for _ in range(count):
        received = now - timedelta(days=7) + timedelta(seconds=rng.uniform(0, 6 * 86_400))
        item: dict[str, Any] = {
            "external_id": f"load-{next(tenant.next_item)}",
            "received_at": received.isoformat(),
            "channel": rng.choice(("email", "email", "chat", "form")),
        }
        if rng.random() < 0.95:
            first = received + timedelta(seconds=rng.expovariate(1 / 1_800))
            item["first_response_at"] = first.isoformat()
            if rng.random() < 0.85:
                item["resolved_at"] = (first + timedelta(seconds=rng.expovariate(1 / 14_400))).isoformat()
                item["outcome"] = rng.choice(("replied", "resolved", "escalated"))
        items.append(item)
    return items


async def onboard(api: Api, platform_token: str, index: int, shifts: bool, rng: random.Random) -> Tenant:
    slug = f"load-{index:02d}-{uuid.uuid4().hex[:6]}"
    admin_email = f"admin@{slug}.example"
    body = {"slug": slug, "name": f"Load {index}", "admin_email": admin_email, "admin_password": PASSWORD}
    await api.call("POST", "/v1/platform/tenants", platform_token, body)
    admin = await api.login(slug, admin_email)
    start = (datetime.now(UTC) - timedelta(days=90)).date().isoformat()
    customer = await api.call(
        "POST",
        "/v1/clients",
        admin,
        {"code": f"C{index:02d}", "name": f"Client {index}", "time_zone": TIME_ZONE},
    )
    service = await api.call(
        "POST", f"/v1/clients/{customer['id']}/services", admin, {"code": "support", "name": "Support"}
    )
    calendar = await api.call(
        "POST",
        "/v1/calendars",
        admin,
        {
            "code": "HOURS",
            "name": "Support hours",
            "time_zone": TIME_ZONE,
            "windows": [{"days": ["daily"], "start": "08:00", "end": "25:30"}],
        },
    )
    contract = await api.call(
        "POST",
        "/v1/contracts",
        admin,
        {
            "service_id": service["id"],
            "code": "EMAIL",
            "name": "Email support",
            "work_type": "email_support",
            "start_date": start,
            "calendar_id": calendar["id"],
        },
    )
    path = f"/v1/contracts/{contract['id']}"
    await api.call("POST", f"{path}/sla-policies", admin, {"effective_from": start, "objectives": OBJECTIVES})
    await api.call("POST", f"{path}/rate-plans", admin, {"effective_from": start, **RATE_PLAN})
    await api.call("POST", f"{path}/transitions", admin, {"status": "active"})
    key = await api.call(
        "POST",
        "/v1/api-keys",
        admin,
        {"name": "help desk", "client_id": customer["id"], "contract_id": contract["id"]},
    )
    viewer_email, staff_email = f"viewer@{slug}.example", f"agent@{slug}.example"
    await api.call(
        "POST",
        "/v1/users",
        admin,
        {"email": viewer_email, "role": "client_viewer", "client_id": customer["id"], "password": PASSWORD},
    )
    staff_user = await api.call(
        "POST", "/v1/users", admin, {"email": staff_email, "role": "staff", "password": PASSWORD}
    )
    if shifts:
        await roster(api, admin, contract["id"], staff_user["id"])
    tenant = Tenant(
        slug=slug,
        client_id=customer["id"],
        contract_id=contract["id"],
        api_key=key["key"],
        viewer={"Authorization": f"Bearer {await api.login(slug, viewer_email)}"},
        staff={"Authorization": f"Bearer {await api.login(slug, staff_email)}"},
        accounts=[Account(slug, email) for email in (admin_email, viewer_email, staff_email)],
    )
    items = work_items(tenant, SEED_ITEMS, rng, datetime.now(UTC))
    await api.call(
        "POST", "/v1/work-items:batch", tenant.api_key, {"contract_id": tenant.contract_id, "items": items}
    )
    return tenant


async def roster(api: Api, admin: str, contract_id: str, user_id: str) -> None:
    """A staff profile for the staff user and a shift a day for the coming days, assigned and published."""
    staff = await api.call(
        "POST",
        "/v1/staff",
        admin,
        {"display_name": "Agent", "home_zone": TIME_ZONE, "country": "JP", "user_id": user_id},
    )
    # 09:00-15:00 in Tokyo, from tomorrow on: well inside the rest and weekly-hours rules.
    first = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    for day in range(SHIFT_DAYS):
        begin = first + timedelta(days=day)
        body = {
            "contract_id": contract_id,
            "start": begin.isoformat(),
            "end": (begin + timedelta(hours=6)).isoformat(),
        }
        shift = await api.call("POST", "/v1/shifts", admin, body)
        await api.call("POST", f"/v1/shifts/{shift['id']}/assignments", admin, {"staff_id": staff["id"]})
    last = first.date() + timedelta(days=SHIFT_DAYS - 1)
    body = {"contract_id": contract_id, "from": first.date().isoformat(), "to": last.isoformat()}
    await api.call("POST", "/v1/shifts:publish", admin, body)


async def onboard_all(url: str, platform_token: str, count: int, shifts: bool, parallel: int) -> list[Tenant]:
    limits = httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel)
    gate = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        api = Api(http)

        async def one(index: int) -> Tenant:
            async with gate:
                return await onboard(api, platform_token, index, shifts, random.Random(index))

        return list(await asyncio.gather(*(one(i) for i in range(count))))


# --- the load ---------------------------------------------------------------------------------


class Load:
    def __init__(
        self, http: httpx.AsyncClient, tenants: list[Tenant], window: Window, operations: dict[str, int]
    ) -> None:
        self.http = http
        self.tenants = tenants
        self.window = window
        self.operations = list(operations)
        self.weights = list(operations.values())
        self.stats = {name: Stats(name) for name in [*operations, "login"]}

    async def ingest(self, tenant: Tenant, rng: random.Random) -> None:
        items = work_items(tenant, rng.randint(ITEMS_MIN, ITEMS_MAX), rng, datetime.now(UTC))
        body = msgspec.json.encode({"contract_id": tenant.contract_id, "items": items})
        headers = {"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"}
        await timed(
            self.stats["ingest"],
            self.window,
            lambda: self.http.post("/v1/work-items:batch", content=body, headers=headers),
        )

    async def get(self, name: str, path: str, headers: dict[str, str]) -> None:
        await timed(self.stats[name], self.window, lambda: self.http.get(path, headers=headers))

    async def step(self, rng: random.Random) -> None:
        tenant = rng.choice(self.tenants)
        operation = rng.choices(self.operations, self.weights)[0]
        if operation == "login":
            await self.login(rng.choice(tenant.accounts))
        elif operation == "ingest":
            await self.ingest(tenant, rng)
        elif operation == "client_sla":
            await self.get(operation, f"/v1/clients/{tenant.client_id}/sla", tenant.viewer)
        elif operation == "contract_sla":
            await self.get(operation, f"/v1/contracts/{tenant.contract_id}/sla", tenant.viewer)
        else:
            await self.get(operation, ME_SHIFTS, tenant.staff)

    async def virtual_user(self, seed: int) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < self.window.end:
            await self.step(rng)

    async def login(self, account: Account) -> None:
        body = {"tenant": account.tenant, "email": account.email, "password": PASSWORD}
        await timed(self.stats["login"], self.window, lambda: self.http.post("/v1/auth/token", json=body))

    async def logins(self, rate: float) -> None:
        """Logins at ``rate`` per second, over every account in turn, whatever the answers take."""
        accounts = itertools.cycle([a for t in self.tenants for a in t.accounts])
        in_flight: set[asyncio.Task[Any]] = set()
        started = time.perf_counter()
        for n in itertools.count():
            at = started + n / rate
            if at >= self.window.end:
                break
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            task = asyncio.create_task(self.login(next(accounts)))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)


async def run_load(
    url: str,
    tenants: list[Tenant],
    operations: dict[str, int],
    args: argparse.Namespace,
    *,
    logins: bool = True,
) -> Load:
    limits = httpx.Limits(max_connections=args.users + 16, max_keepalive_connections=args.users + 16)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        start = time.perf_counter() + args.warmup
        load = Load(http, tenants, Window(start, start + args.duration), operations)
        users = [load.virtual_user(seed) for seed in range(args.users)]
        await asyncio.gather(*([load.logins(args.login_rate)] if logins else []), *users)
    return load


# --- main -------------------------------------------------------------------------------------


@dataclass
class Sample:
    """CPU time so far of each part; a shared machine shows in what is left of its cores."""

    parts: dict[str, float | None]
    # By process: a backend that exits takes its time with it, so only processes seen twice are compared.
    postgres: dict[int, float] | None


def cpu_seconds(server: Server, worker: Command, settings: Settings) -> Sample:
    parts = {"api": server.cpu_seconds(), "worker": worker.cpu_seconds(), "this client": time.process_time()}
    return Sample(parts, postgres_cpu(settings))


def spent(before: Sample, after: Sample) -> dict[str, float]:
    """CPU seconds each part spent between two samples (parts that could not be read left out). A
    PostgreSQL process that started in between counts from zero; one that exited is left out."""
    used = {
        name: after_s - before_s
        for name, before_s in before.parts.items()
        if before_s is not None and (after_s := after.parts[name]) is not None
    }
    if before.postgres is not None and after.postgres is not None:
        used["postgres"] = sum(cpu - before.postgres.get(pid, 0.0) for pid, cpu in after.postgres.items())
    return {name: used[name] for name in (*PARTS, "this client") if name in used}


@dataclass
class Phase:
    """One operation run alone: how many answered, and the CPU each part spent on them."""

    operation: str
    requests: int
    errors: int
    cpu: dict[str, float]

    def per_request_us(self, part: str) -> float | None:
        seconds = self.cpu.get(part)
        return None if seconds is None or not self.requests else seconds / self.requests * 1e6

    def summary(self) -> str:
        parts = "  ".join(
            f"{part} {us:6.0f} us" for part in PARTS if (us := self.per_request_us(part)) is not None
        )
        return f"{self.operation:>13}: {self.requests:6d} ok, {self.errors} errors;  cpu per request: {parts}"


# Rollup jobs asked for (outbox rows) that are not over yet: neither committed nor failed for good.
PENDING_ROLLUPS = "SELECT count(*) FROM outbox o WHERE o.actor = $1 AND o.completed_at IS NULL"
# Where they stand, said when the worker does not catch up.
ROLLUP_STATE = (
    "SELECT count(*) FILTER (WHERE sent_at IS NULL) AS unsent, "
    "count(*) FILTER (WHERE sent_at IS NOT NULL AND completed_at IS NULL) AS in_flight, "
    "count(*) FILTER (WHERE completed_at IS NOT NULL) AS over, max(attempts) AS attempts "
    "FROM outbox WHERE actor = $1"
)
FAILED_ROLLUPS = "SELECT error FROM job_failures WHERE job = $1 ORDER BY last_failed_at DESC LIMIT 1"


def settle(settings: Settings, worker: Command, timeout: float = 300.0) -> None:
    """Wait until every rollup job asked for so far has committed (those of the ingests before): none of
    them counts against the next phase."""

    async def wait() -> None:
        conn = await owner_connect(settings)
        try:
            deadline = time.monotonic() + timeout
            while await conn.fetchval(PENDING_ROLLUPS, REFRESH_HOURS_JOB):
                worker.check_alive()
                if time.monotonic() > deadline:
                    state = await conn.fetchrow(ROLLUP_STATE, REFRESH_HOURS_JOB)
                    failed = await conn.fetchval(FAILED_ROLLUPS, REFRESH_HOURS_JOB)
                    raise RuntimeError(
                        f"the worker has not caught up after {timeout:.0f} s: {dict(state or {})}"
                        + (f"; last failure: {failed}" if failed else "")
                    )
                await asyncio.sleep(0.2)
        finally:
            await conn.close()

    asyncio.run(wait())


def run_phases(
    server: Server,
    worker: Command,
    settings: Settings,
    tenants: list[Tenant],
    operations: list[str],
    args: argparse.Namespace,
) -> list[Phase]:
    """Each operation alone for ``args.phase`` seconds, with the CPU each part spent on it (for ingest, the
    worker's until it has rolled up what the phase sent)."""
    phases = []
    for operation in operations:
        phase_args = argparse.Namespace(**{**vars(args), "warmup": 0.0, "duration": args.phase})
        settle(settings, worker)
        before = cpu_seconds(server, worker, settings)
        load = asyncio.run(run_load(server.url, tenants, {operation: 1}, phase_args, logins=False))
        if operation == "ingest":
            settle(settings, worker)
        cpu = spent(before, cpu_seconds(server, worker, settings))
        stats = load.stats[operation]
        phases.append(Phase(operation, stats.completed, stats.error_count, cpu))
        print(phases[-1].summary(), flush=True)
    return phases


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="60 s measured after 5 s of warm-up")
    parser.add_argument("--duration", type=float, help="seconds measured (default 300, quick 60)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up (default 15, quick 5)")
    parser.add_argument("--tenants", type=int, default=TENANTS, help="tenants onboarded and used")
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual users")
    parser.add_argument("--login-rate", type=float, default=0.5, help="logins per second")
    parser.add_argument("--api-processes", type=int, default=2, help="`bpo serve --workers`")
    parser.add_argument(
        "--phase", type=float, help="seconds each operation then runs alone (default 10, quick 3; 0: none)"
    )
    args = parser.parse_args(argv)
    if args.phase is None:
        args.phase = 3.0 if args.quick else 10.0
    if args.duration is None:
        args.duration = 60.0 if args.quick else 300.0
    if args.warmup is None:
        args.warmup = 5.0 if args.quick else 15.0
    if (
        args.duration <= 0
        or args.warmup < 0
        or min(args.tenants, args.users, args.api_processes) < 1
        or args.login_rate <= 0
    ):
        parser.error("--duration and --login-rate must be > 0, --warmup >= 0, the counts >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_avg = f", load average {os.getloadavg()[0]:.2f}"
    print(
        f"load benchmark: {args.tenants} tenants, {args.users} virtual users + {args.login_rate:g} logins/s, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s, `bpo serve --workers {args.api_processes}` "
        f"+ `bpo worker`; {os.cpu_count()} CPUs{load_avg}",
        flush=True,
    )
    started = time.monotonic()
    env = Environment.start()
    log_dir = Path(tempfile.mkdtemp(prefix="bpo-bench-load-"))
    try:
        settings = env.settings
        assert settings.platform_token is not None
        where = "embedded" if settings.database_url == env.services.database_url else "configured"
        print(f"setup: {where} PostgreSQL migrated in {time.monotonic() - started:.1f} s", flush=True)
        process_env = bpo_env(settings)
        process_env["BPO_LOGIN_ATTEMPTS_PER_IP"] = str(LOGIN_ATTEMPTS_PER_IP)
        worker = Command("worker", ["worker", "--processes", "1", "--threads", "4"], process_env, log_dir)
        try:
            with Server(args.api_processes, process_env, log_dir) as server:
                openapi = httpx.get(f"{server.url}/schema/openapi.json", timeout=60).json()
                missing = missing_staffing_routes(openapi)
                operations = dict(MIX)
                if missing:
                    del operations["me_shifts"]
                    print(f"setup: no shift reads in the mix: the app does not serve {', '.join(missing)}")
                else:
                    print(f"setup: the app serves {ME_SHIFTS}: staff get profiles and shifts, and read them")
                onboarding = time.monotonic()
                tenants = asyncio.run(
                    onboard_all(
                        server.url, settings.platform_token.get_secret_value(), args.tenants, not missing, 8
                    )
                )
                accounts = sum(len(t.accounts) for t in tenants)
                print(
                    f"setup: {len(tenants)} tenants onboarded in {time.monotonic() - onboarding:.1f} s "
                    f"({accounts} login accounts: each logs in every {accounts / args.login_rate:.0f} s; "
                    f"per-IP login limit raised to {LOGIN_ATTEMPTS_PER_IP} for the run)",
                    flush=True,
                )
                cpu0 = cpu_seconds(server, worker, settings)
                wall0 = time.monotonic()
                load = asyncio.run(run_load(server.url, tenants, operations, args))
                wall = time.monotonic() - wall0
                cpu1 = cpu_seconds(server, worker, settings)
                phases: list[Phase] = []
                if args.phase > 0:
                    print(f"each operation alone for {args.phase:g} s: server cpu per request", flush=True)
                    # Ingest last: the rollups it leaves the worker would count against the next phase.
                    alone = [op for op in operations if op != "ingest"] + ["login", "ingest"]
                    phases = run_phases(server, worker, settings, tenants, alone, args)
                worker.check_alive()
        finally:
            worker.stop()
    except RuntimeError as exc:
        print(f"error: {exc} (logs in {log_dir})", file=sys.stderr, flush=True)
        return 1
    finally:
        env.stop()
    shutil.rmtree(log_dir, ignore_errors=True)

    seconds = args.duration
    for stats in load.stats.values():
        print(summary(stats, seconds), flush=True)
    overall = Stats("overall")
    for stats in load.stats.values():
        overall.latencies += stats.latencies
        overall.errors.update(stats.errors)
    print(summary(overall, seconds), flush=True)
    busy = {name: cpu / wall for name, cpu in spent(cpu0, cpu1).items()}
    print(
        "cpu during the load (cores busy): "
        + ", ".join(f"{name} {cores:.0%}" for name, cores in busy.items())
        + f"; load average {os.getloadavg()[0]:.2f}; total {time.monotonic() - started:.1f} s"
    )
    rps = len(overall.latencies) / seconds
    p50, p95, p99 = (percentile_ms(overall.latencies, q) for q in (0.50, 0.95, 0.99))
    keys = [f"{short}_cores={busy[part]:.2f}" for part, short in SHORT.items() if part in busy]
    for phase in phases:
        for part, short in SHORT.items():
            us = phase.per_request_us(part)
            if us is not None:
                keys.append(f"{phase.operation}_{short}_us={us:.0f}")
    errors = overall.error_count + sum(phase.errors for phase in phases)
    print(
        f"RESULT load tenants={len(tenants)} rps={rps:.0f} p50_ms={p50:.1f} p95_ms={p95:.1f} "
        f"p99_ms={p99:.1f} errors={errors} " + " ".join(keys),
        flush=True,
    )
    return 1 if errors or not overall.latencies else 0


if __name__ == "__main__":
    sys.exit(main())
