"""Benchmark: authenticated, tenant-scoped GET requests per second against the real app, versus a bare
Litestar endpoint served the same way.

    python bench/api.py [--quick] [--duration S] [--connections N]

With no BPO_DATABASE_URL / BPO_REDIS_URL it starts embedded PostgreSQL and Redis in a temporary
directory; with them set it creates a throwaway database on that server and drops it at the end.
Each app runs alone in one uvicorn process (uvloop, httptools); the load comes from a small asyncio
client in this process that keeps N HTTP/1.1 connections busy, back to back, for a fixed time.
The last line is ``RESULT api scoped_rps=… bare_rps=… ratio=…``; the exit status is non-zero if any
request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import shutil
import socket
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

    @get("/bare-db/{user_id:uuid}")
    async def bare_db(user_id: uuid.UUID) -> dict[str, Any]:
        row = await pool["pool"].fetchrow(
            "SELECT id, email, full_name, role, client_id, staff_id, is_active, created_at, last_login_at "
            "FROM users WHERE id = $1",
            user_id,
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
class Target:
    path: str
    token: str
    payload: dict[str, Any]


def provision(base_url: str, settings: Settings) -> Target:
    """A tenant through the platform API, its admin's token, a few users; the GET to measure."""
    assert settings.platform_token is not None
    slug = f"bench-{uuid.uuid4().hex[:10]}"
    admin_email = f"admin@{slug}.example"
    with httpx.Client(base_url=base_url, timeout=30) as client:

        def call(method: str, path: str, expect: int, token: str, **kwargs: Any) -> Any:
            response = client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
            if response.status_code != expect:
                raise RuntimeError(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
            return response.json()

        call(
            "POST",
            "/v1/platform/tenants",
            201,
            settings.platform_token.get_secret_value(),
            json={
                "slug": slug,
                "name": f"Bench {slug}",
                "admin_email": admin_email,
                "admin_password": PASSWORD,
            },
        )
        tokens = client.post(
            "/v1/auth/token", json={"tenant": slug, "email": admin_email, "password": PASSWORD}
        )
        if tokens.status_code != 200:
            raise RuntimeError(f"login: HTTP {tokens.status_code}: {tokens.text[:300]}")
        token: str = tokens.json()["access_token"]
        users = [
            call(
                "POST",
                "/v1/users",
                201,
                token,
                json={
                    "email": f"staff{i}@{slug}.example",
                    "full_name": f"Staff Member {i}",
                    "role": "staff",
                    "password": PASSWORD,
                },
            )
            for i in range(1, USERS + 1)
        ]
        path = f"/v1/users/{users[len(users) // 2]['id']}"
        payload: dict[str, Any] = call("GET", path, 200, token)
    return Target(path=path, token=token, payload=payload)


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

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def summary(self) -> str:
        cpu = ""
        if self.server_cpu is not None and self.client_cpu is not None:
            cpu = f"  cpu: server {self.server_cpu:.0%} client {self.client_cpu:.0%}"
            if self.ok:
                # Server CPU per request: steadier than req/s when other processes share the machine.
                cpu += f" ({self.server_cpu * self.duration / self.ok * 1e6:.0f} us server cpu/req)"
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


async def _connection(port: int, request: bytes, start: float, end: float, result: LoadResult) -> None:
    """Send requests back to back on one keep-alive connection until ``end``; count those in the window."""
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
            writer.write(request)
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
    name: str, port: int, request: bytes, connections: int, warmup: float, duration: float
) -> LoadResult:
    result = LoadResult(name=name, duration=duration)
    start = time.perf_counter() + warmup
    end = start + duration
    tasks = [asyncio.create_task(_connection(port, request, start, end, result)) for _ in range(connections)]
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
    path: str,
    headers: dict[str, str],
    connections: int,
    warmup: float,
    duration: float,
) -> LoadResult:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {HOST}:{server.port}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def measure() -> LoadResult:
        task = asyncio.create_task(_load(server.name, server.port, request, connections, warmup, duration))
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
    parser.add_argument("--quick", action="store_true", help="5 s per target after 1 s of warm-up")
    parser.add_argument("--duration", type=float, help="seconds measured per target (default 20, quick 5)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per target (default 3, quick 1)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 5.0 if args.quick else 20.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 3.0
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1:
        parser.error("--duration must be > 0, --warmup >= 0 and --connections >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(
        f"api benchmark: {args.connections} connections, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s per target, {os.cpu_count()} CPUs{load}",
        flush=True,
    )
    started = time.monotonic()
    env = Environment.start()
    try:
        where = "embedded" if env.settings.database_url == env.services.database_url else "configured"
        print(f"setup: {where} PostgreSQL migrated in {time.monotonic() - started:.1f} s", flush=True)
        with ServerProcess("scoped", serve_real, (env.settings,), "/health") as real:
            target = provision(real.url, env.settings)
            print(f"setup: tenant provisioned; measuring GET {target.path}", flush=True)
            scoped = run_load(
                real,
                target.path,
                {"Authorization": f"Bearer {target.token}"},
                args.connections,
                args.warmup,
                args.duration,
            )
        print(scoped.summary(), flush=True)
        with ServerProcess("bare", serve_bare, (target.payload,), "/bare") as bare_server:
            bare = run_load(bare_server, "/bare", {}, args.connections, args.warmup, args.duration)
        print(bare.summary(), flush=True)
        user_path = "/bare-db/" + target.path.rsplit("/", 1)[1]
        assert env.settings.database_url is not None
        with ServerProcess("bare-db", serve_bare_db, (env.settings.database_url,), user_path) as db_server:
            bare_db = run_load(db_server, user_path, {}, args.connections, args.warmup, args.duration)
        print(bare_db.summary(), flush=True)
    finally:
        env.stop()
    ratio = scoped.rps / bare.rps if bare.rps else 0.0
    ratio_db = scoped.rps / bare_db.rps if bare_db.rps else 0.0
    errors = scoped.error_count + bare.error_count + bare_db.error_count
    print(f"total {time.monotonic() - started:.1f} s; failed requests: {errors}")
    print(
        f"RESULT api scoped_rps={scoped.rps:.0f} bare_rps={bare.rps:.0f} ratio={ratio:.2f} "
        f"bare_db_rps={bare_db.rps:.0f} ratio_db={ratio_db:.2f}",
        flush=True,
    )
    return 1 if errors or not (scoped.ok and bare.ok and bare_db.ok) else 0


if __name__ == "__main__":
    sys.exit(main())
