"""Benchmark: authenticated, tenant-scoped GET requests per second against the real app, versus a bare
Litestar endpoint and a bare endpoint reading the same row on a pooled connection, served the same way.

    python bench/api.py [--quick] [--rounds N] [--duration S] [--users N] [--profile]

The scoped requests rotate over many signed-in users' tokens (account managers and client viewers of
several tenants); the three targets are measured in interleaved windows (scoped, bare, bare-db, scoped,
...) and each figure is the median of its windows, with the server's CPU time per request beside it.
--profile adds one window against a scoped server under cProfile and prints where its time goes.

With no BPO_DATABASE_URL / BPO_REDIS_URL it starts embedded PostgreSQL and Redis in a temporary
directory; with them set it creates a throwaway database on that server and drops it at the end.
Each app runs alone in one uvicorn process (uvloop, httptools); the load comes from a small asyncio
client in this process that keeps N HTTP/1.1 connections busy, back to back, for a fixed time.
The last line is ``RESULT api scoped_rps=… bare_rps=… ratio=… …``; the exit status is non-zero if any
request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Litestar imports advanced-alchemy lazily, which warns about a SQLAlchemy 2.1 deprecation of its own.
warnings.filterwarnings("ignore", message="The declarative_mixin decorator")

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402
import uvicorn  # noqa: E402
import uvloop  # noqa: E402
from litestar import Litestar, get  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bpo.embedded import EmbeddedServices  # noqa: E402
from bpo.migrations.runner import upgrade  # noqa: E402
from bpo.settings import Settings, load_settings  # noqa: E402

HOST = "127.0.0.1"
PASSWORD = "bench-horse-battery-staple"
USERS = 5
START_TIMEOUT_S = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- database and settings --------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin_dsn(url: str, database: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


def _create_database(admin_url: str, name: str) -> None:
    async def create() -> None:
        conn = await asyncpg.connect(_admin_dsn(admin_url, make_url(admin_url).database or "postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())


def _drop_database(admin_url: str, name: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(_admin_dsn(admin_url, "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@dataclass
class Environment:
    """The servers the benchmark runs against and how to tear them down."""

    settings: Settings
    services: EmbeddedServices
    admin_url: str | None = None
    database: str | None = None

    @classmethod
    def start(cls) -> Environment:
        base = load_settings()
        tmp = Path(tempfile.mkdtemp(prefix="bpo-bench-"))
        services = EmbeddedServices(tmp, throwaway=True).start(
            postgres=base.embedded_database, redis=base.embedded_redis
        )
        env = cls(settings=base, services=services)
        updates: dict[str, object] = {
            "environment": "test",
            "data_dir": tmp,
            "platform_token": SecretStr(secrets.token_urlsafe(24)),
            "log_level": "WARNING",
            # Every bench user signs in from 127.0.0.1.
            "login_attempts_per_ip": 100_000,
            "redis_url": base.redis_url or services.redis_url,
        }
        try:
            if base.database_url is None:
                updates["database_url"] = services.database_url
                updates["migration_database_url"] = None
            else:
                # A throwaway database on the configured server, created by the schema owner if given.
                env.admin_url = base.migration_database_url or base.database_url
                env.database = f"bpo_bench_{uuid.uuid4().hex[:10]}"
                _create_database(env.admin_url, env.database)
                updates["database_url"] = _with_database(base.database_url, env.database)
                updates["migration_database_url"] = (
                    _with_database(base.migration_database_url, env.database)
                    if base.migration_database_url
                    else None
                )
            env.settings = base.model_copy(update=updates)
            upgrade(env.settings)
        except BaseException:
            env.stop()
            raise
        return env

    def stop(self) -> None:
        """Drop the throwaway database or stop the embedded servers, and remove the temporary directory."""
        try:
            if self.admin_url and self.database:
                _drop_database(self.admin_url, self.database)
        finally:
            self.services.stop()
            shutil.rmtree(self.services.data_dir, ignore_errors=True)


def postgres_cpu(settings: Settings) -> dict[int, float] | None:
    """CPU time so far of each process of the embedded PostgreSQL server (None for a configured server)."""
    pid_file = Path(settings.data_dir) / "postgres" / "postmaster.pid"
    try:
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        processes = [postmaster, *postmaster.children(recursive=True)]
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    times = {}
    for process in processes:
        try:
            cpu = process.cpu_times()
        except psutil.Error:
            continue
        times[process.pid] = cpu.user + cpu.system
    return times


def postgres_cpu_seconds(settings: Settings) -> float | None:
    """CPU time of the embedded PostgreSQL server's processes (None for a configured server). A backend
    that exits takes its time with it: sample while the connections doing the work are open."""
    times = postgres_cpu(settings)
    return None if times is None else sum(times.values())


def cpu_delta(before: float | None, after: float | None) -> float | None:
    return after - before if before is not None and after is not None else None


# --- the two servers --------------------------------------------------------------------------


def _serve(app: Any, port: int) -> None:
    uvicorn.run(
        app,
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


def serve_real(settings: Settings, port: int) -> None:
    from bpo.app import create_asgi

    _serve(create_asgi(settings), port)


def serve_profiled(settings: Settings, profile_to: str, port: int) -> None:
    """The real app under cProfile; the statistics are written when the server stops."""
    import cProfile

    from bpo.app import create_asgi

    app = create_asgi(settings)

    profiler = cProfile.Profile()

    def dump(signum: int, frame: Any) -> None:
        # uvicorn shuts down on SIGTERM, then raises the signal again for the handler it replaced: this one.
        profiler.disable()
        profiler.dump_stats(profile_to)
        os._exit(0)

    signal.signal(signal.SIGTERM, dump)
    profiler.enable()
    _serve(app, port)


def bare_app(payload: dict[str, Any]) -> Litestar:
    @get("/bare")
    async def bare() -> dict[str, Any]:
        return payload

    return Litestar(route_handlers=[bare], debug=False)


def serve_bare(payload: dict[str, Any], port: int) -> None:
    _serve(bare_app(payload), port)


def bare_db_app(database_url: str) -> Litestar:
    """The same row read with one query on a pooled connection, without auth, tenant or transaction:
    what any database-backed endpoint costs, so the scoped figure can be read against it too."""
    from contextlib import asynccontextmanager

    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    pool: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: Litestar) -> Any:
        pool["pool"] = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
        yield
        await pool["pool"].close()

    @get("/bare-db/{client_id:uuid}")
    async def bare_db(client_id: uuid.UUID) -> dict[str, Any]:
        row = await pool["pool"].fetchrow(
            "SELECT id, code, name, legal_name, billing_contact_name, billing_email, currency, time_zone, "
            "closing_day, payment_month_offset, payment_day, status, created_at FROM clients WHERE id = $1",
            client_id,
        )
        return dict(row)

    return Litestar(route_handlers=[bare_db], lifespan=[lifespan], debug=False)


def serve_bare_db(database_url: str, port: int) -> None:
    _serve(bare_db_app(database_url), port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux), or None where /proc is unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class ServerProcess:
    """One uvicorn process, started from ``target(*args, port)``; ready once ``probe`` answers 200."""

    def __init__(self, name: str, target: Any, args: tuple[Any, ...], probe: str) -> None:
        self.name = name
        self.port = _free_port()
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(target=target, args=(*args, self.port), name=name, daemon=True)
        self.probe = probe

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> ServerProcess:
        self.process.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while True:
                if not self.process.is_alive():
                    raise RuntimeError(f"the {self.name} server exited with {self.process.exitcode}")
                try:
                    if client.get(self.probe).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the {self.name} server did not start in {START_TIMEOUT_S:.0f} s")
                time.sleep(0.1)

    def cpu_seconds(self) -> float | None:
        return _cpu_seconds(self.process.pid) if self.process.pid else None

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(15)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- provisioning -----------------------------------------------------------------------------


@dataclass
class Targets:
    """What each target is asked for. The scoped requests rotate over every user's token (account
    managers and client viewers of several tenants), so the token cache, the per-user check and the
    tenant context all work as they do with many people signed in; the bare database target reads
    the same client rows in the same rotation."""

    scoped: list[tuple[str, str]]  # (path, token)
    client_ids: list[str]
    payload: dict[str, Any]

    @property
    def tokens(self) -> int:
        return len({token for _, token in self.scoped})


def provision(base_url: str, settings: Settings, tenants: int, users_per_tenant: int) -> Targets:
    """Tenants through the platform API, a client each, account managers and client viewers who sign
    in; the GET of their client to measure."""
    assert settings.platform_token is not None
    scoped: list[tuple[str, str]] = []
    client_ids: list[str] = []
    payload: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, timeout=30) as client:

        def call(method: str, path: str, expect: int, token: str, **kwargs: Any) -> Any:
            response = client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
            if response.status_code != expect:
                raise RuntimeError(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
            return response.json()

        def sign_in(slug: str, email: str) -> str:
            tokens = client.post(
                "/v1/auth/token", json={"tenant": slug, "email": email, "password": PASSWORD}
            )
            if tokens.status_code != 200:
                raise RuntimeError(f"login: HTTP {tokens.status_code}: {tokens.text[:300]}")
            return str(tokens.json()["access_token"])

        for t in range(tenants):
            slug = f"bench-{uuid.uuid4().hex[:10]}"
            admin_email = f"admin@{slug}.example"
            call(
                "POST",
                "/v1/platform/tenants",
                201,
                settings.platform_token.get_secret_value(),
                json={
                    "slug": slug,
                    "name": f"Bench {t}",
                    "admin_email": admin_email,
                    "admin_password": PASSWORD,
                },
            )
            admin = sign_in(slug, admin_email)
            created = call(
                "POST", "/v1/clients", 201, admin, json={"code": f"BENCH{t}", "name": f"Bench client {t}"}
            )
            path = f"/v1/clients/{created['id']}"
            client_ids.append(created["id"])
            for i in range(users_per_tenant):
                viewer = i % 2 == 1
                email = f"user{i}@{slug}.example"
                call(
                    "POST",
                    "/v1/users",
                    201,
                    admin,
                    json={
                        "email": email,
                        "full_name": f"User {i}",
                        "role": "client_viewer" if viewer else "account_manager",
                        "password": PASSWORD,
                        **({"client_id": created["id"]} if viewer else {}),
                    },
                )
                scoped.append((path, sign_in(slug, email)))
            payload = call("GET", path, 200, admin)
    # Interleave tenants and roles, so consecutive requests on a connection differ in both.
    random.Random(7).shuffle(scoped)
    return Targets(scoped=scoped, client_ids=client_ids, payload=payload)


# --- load generator ---------------------------------------------------------------------------


@dataclass
class LoadResult:
    name: str
    duration: float
    ok: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    server_cpu: float | None = None
    client_cpu: float | None = None

    @property
    def rps(self) -> float:
        return self.ok / self.duration

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def cpu_us_per_request(self) -> float | None:
        """Server CPU per request: steadier than req/s when other processes share the machine."""
        if self.server_cpu is None or not self.ok:
            return None
        return self.server_cpu * self.duration / self.ok * 1e6

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def summary(self) -> str:
        cpu = ""
        if self.server_cpu is not None and self.client_cpu is not None:
            cpu = f"  cpu: server {self.server_cpu:.0%} client {self.client_cpu:.0%}"
            if self.cpu_us_per_request is not None:
                cpu += f" ({self.cpu_us_per_request:.0f} us server cpu/req)"
        errors = ", ".join(f"{k} x{v}" for k, v in self.errors.most_common()) or "none"
        return (
            f"{self.name:>6}: {self.rps:9.0f} req/s  p50 {self.percentile_ms(0.50):6.2f} ms"
            f"  p99 {self.percentile_ms(0.99):6.2f} ms  ({self.ok} ok in {self.duration:.1f} s){cpu}"
            f"  errors: {errors}"
        )


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server closes the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        raise ValueError("not an HTTP/1.1 response")
    status = int(head[9:12])
    lower = head.lower()
    close = b"\r\nconnection: close" in lower
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        await reader.readexactly(int(lower[at + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        close = True
        await reader.read()
    return status, close


async def _connection(
    port: int, requests: list[bytes], offset: int, start: float, end: float, result: LoadResult
) -> None:
    """Send requests back to back on one keep-alive connection until ``end``, cycling through
    ``requests`` from ``offset``; count those in the window."""
    turn = offset
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    perf = time.perf_counter
    try:
        while True:
            sent = perf()
            if sent >= end:
                return
            if writer is None or reader is None:
                try:
                    reader, writer = await asyncio.open_connection(HOST, port)
                except OSError as exc:
                    result.errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.05)
                    continue
                sent = perf()
            writer.write(requests[turn % len(requests)])
            turn += 1
            try:
                status, close = await _read_response(reader)
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                result.errors[type(exc).__name__] += 1
                writer.close()
                reader = writer = None
                continue
            done = perf()
            if status != 200:
                result.errors[f"HTTP {status}"] += 1
            elif start <= done <= end:
                result.ok += 1
                result.latencies.append(done - sent)
            if close:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _load(
    name: str, port: int, requests: list[bytes], connections: int, warmup: float, duration: float
) -> LoadResult:
    result = LoadResult(name=name, duration=duration)
    start = time.perf_counter() + warmup
    end = start + duration
    # Connections start at spread-out offsets, so at any moment they carry different tokens.
    step = max(1, len(requests) // connections)
    tasks = [
        asyncio.create_task(_connection(port, requests, i * step, start, end, result))
        for i in range(connections)
    ]
    # Measure CPU over the window only: sleep through the warm-up, sample, sleep to the end, sample.
    await asyncio.sleep(warmup)
    client_cpu0 = time.process_time()
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    result.client_cpu = (time.process_time() - client_cpu0) / duration
    _, pending = await asyncio.wait(tasks, timeout=30)
    for task in pending:
        task.cancel()
        result.errors["timeout"] += 1
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            result.errors[type(task.exception()).__name__] += 1
    return result


def run_load(
    server: ServerProcess,
    requests: list[tuple[str, dict[str, str]]],
    connections: int,
    warmup: float,
    duration: float,
) -> LoadResult:
    """``requests``: (path, headers) pairs the connections cycle through."""
    raw = [
        (
            "\r\n".join(
                [
                    f"GET {path} HTTP/1.1",
                    f"Host: {HOST}:{server.port}",
                    *(f"{k}: {v}" for k, v in headers.items()),
                ]
            )
            + "\r\n\r\n"
        ).encode()
        for path, headers in requests
    ]

    async def measure() -> LoadResult:
        task = asyncio.create_task(_load(server.name, server.port, raw, connections, warmup, duration))
        await asyncio.sleep(warmup)
        cpu0 = server.cpu_seconds()
        await asyncio.sleep(duration)
        cpu1 = server.cpu_seconds()
        result = await task
        if cpu0 is not None and cpu1 is not None:
            result.server_cpu = (cpu1 - cpu0) / duration
        return result

    return uvloop.run(measure())


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 4 s windows, 32 users")
    parser.add_argument("--duration", type=float, help="seconds measured per window (default 10, quick 4)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per window (default 2, quick 1)")
    parser.add_argument("--rounds", type=int, help="rounds of interleaved windows (default 5, quick 3)")
    parser.add_argument("--tenants", type=int, default=4, help="tenants, each with a client and users")
    parser.add_argument("--users", type=int, help="signed-in users per tenant (default 32: 128 tokens)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the rounds, profile the scoped server (cProfile) for one more window and print "
        "where its time goes",
    )
    parser.add_argument(
        "--profile-out", metavar="FILE", help="with --profile, keep the cProfile statistics here"
    )
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 4.0 if args.quick else 10.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 2.0
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    if args.users is None:
        args.users = 32
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1 or args.rounds < 1:
        parser.error("--duration must be > 0, --warmup >= 0, --connections and --rounds >= 1")
    if args.tenants < 1 or args.users < 1:
        parser.error("--tenants and --users must be >= 1")
    return args


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _profile(env: Environment, targets: Targets, args: argparse.Namespace) -> None:
    """One more window against a profiled scoped server; print the functions that take the time."""
    import pstats

    stats_file = Path(env.services.data_dir) / "scoped.prof"
    scoped_requests = [(path, {"Authorization": f"Bearer {token}"}) for path, token in targets.scoped]
    with ServerProcess("profiled", serve_profiled, (env.settings, str(stats_file)), "/health") as server:
        result = run_load(server, scoped_requests, args.connections, args.warmup, args.duration)
    print(result.summary() + "  (under the profiler: slower than unprofiled)")
    if args.profile_out:
        shutil.copyfile(stats_file, args.profile_out)
    stats = pstats.Stats(str(stats_file))
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(
        f"api benchmark: {args.connections} connections, {args.rounds} rounds of interleaved windows "
        f"({args.warmup:g} s warm-up + {args.duration:g} s each), {os.cpu_count()} CPUs{load}",
        flush=True,
    )
    started = time.monotonic()
    env = Environment.start()
    results: dict[str, list[LoadResult]] = {"scoped": [], "bare": [], "bare-db": []}
    try:
        where = "embedded" if env.settings.database_url == env.services.database_url else "configured"
        print(f"setup: {where} PostgreSQL migrated in {time.monotonic() - started:.1f} s", flush=True)
        assert env.settings.database_url is not None
        with ServerProcess("scoped", serve_real, (env.settings,), "/health") as real:
            targets = provision(real.url, env.settings, args.tenants, args.users)
            print(
                f"setup: {args.tenants} tenants, {targets.tokens} signed-in users (account managers and "
                f"client viewers); measuring GET /v1/clients/{{id}} with their tokens in rotation",
                flush=True,
            )
            first_path = "/bare-db/" + targets.client_ids[0]
            with (
                ServerProcess("bare", serve_bare, (targets.payload,), "/bare") as bare_server,
                ServerProcess(
                    "bare-db", serve_bare_db, (env.settings.database_url,), first_path
                ) as db_server,
            ):
                phases = [
                    (real, [(path, {"Authorization": f"Bearer {token}"}) for path, token in targets.scoped]),
                    (bare_server, [("/bare", {})]),
                    (db_server, [("/bare-db/" + path.rsplit("/", 1)[1], {}) for path, _ in targets.scoped]),
                ]
                # Phases interleaved (scoped, bare, bare-db, scoped, ...): drift in the machine's load
                # reaches all three alike; each figure is the median of its windows.
                for round_ in range(1, args.rounds + 1):
                    for server, requests in phases:
                        result = run_load(server, requests, args.connections, args.warmup, args.duration)
                        results[server.name].append(result)
                        print(f"round {round_} {result.summary()}", flush=True)
        if args.profile:
            _profile(env, targets, args)
    finally:
        env.stop()
    rps = {name: _median([r.rps for r in runs]) for name, runs in results.items()}
    cpu = {
        name: _median([r.cpu_us_per_request for r in runs if r.cpu_us_per_request is not None])
        for name, runs in results.items()
    }
    ratio = rps["scoped"] / rps["bare"] if rps["bare"] else 0.0
    ratio_db = rps["scoped"] / rps["bare-db"] if rps["bare-db"] else 0.0
    errors = sum(r.error_count for runs in results.values() for r in runs)
    print(f"total {time.monotonic() - started:.1f} s; failed requests: {errors}")
    print(
        "median of windows: "
        + "; ".join(f"{name} {rps[name]:.0f} req/s, {cpu[name]:.0f} us server cpu/req" for name in results)
    )
    print(
        f"RESULT api scoped_rps={rps['scoped']:.0f} bare_rps={rps['bare']:.0f} ratio={ratio:.2f} "
        f"bare_db_rps={rps['bare-db']:.0f} ratio_db={ratio_db:.2f} tokens={targets.tokens} "
        f"scoped_cpu_us={cpu['scoped']:.0f} bare_cpu_us={cpu['bare']:.0f} "
        f"bare_db_cpu_us={cpu['bare-db']:.0f}",
        flush=True,
    )
    ok = all(r.ok for runs in results.values() for r in runs)
    return 1 if errors or not ok else 0


if __name__ == "__main__":
    sys.exit(main())
