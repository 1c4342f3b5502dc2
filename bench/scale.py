"""Benchmark: horizontal scale on one machine, in one run. API throughput with 1 and 2 server processes
(`bpo serve --workers N`), and job throughput with 1 and 2 worker processes (`bpo worker --processes N`).

    python bench/scale.py [--quick] [--duration S] [--jobs N] [--threads T]

API: the same tenant-scoped, authenticated GET and load generator as bench/api.py (N keep-alive
HTTP/1.1 connections from an asyncio client in this process, the tokens of several signed-in users in
rotation), against `bpo serve` run as operators run it, a subprocess configured by BPO_* variables.
Jobs: real work for real tenants. Four tenants are onboarded through the API, each with a client and
four active contracts under an SLA policy of three objectives (bench/ingest.py's), and each contract
gets a month of work items (loaded with COPY); then the real `sla.refresh_hours` actor is enqueued
exactly as the outbox relay sends it, each message naming one contract and one day of its hours, which
the job measures against every objective and rolls up (hourly rows, then the client's days and month).
A run is timed from the first message enqueued to the last job's row committed, after a warm-up batch.
Every process shares the machine with PostgreSQL, Redis and the load generator, so the 2-process
figures show what a second process buys here, not what a second machine would.

With no BPO_DATABASE_URL / BPO_REDIS_URL it starts embedded PostgreSQL and Redis in a temporary
directory. The last line is ``RESULT scale api_1p_rps=… api_2p_rps=… worker_1p_per_s=… worker_2p_per_s=…``;
the exit status is non-zero if any request or job failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil

# bench/api.py (this directory is on sys.path): environment, provisioning, the HTTP load generator,
# PostgreSQL's CPU.
from api import (
    HOST,
    START_TIMEOUT_S,
    Environment,
    LoadResult,
    _free_port,
    cpu_delta,
    postgres_cpu_seconds,
    provision,
    run_load,
)
from sqlalchemy import text

from bpo.core.db import Database
from bpo.core.jobs.broker import make_broker
from bpo.core.jobs.models import OutboxMessage
from bpo.core.jobs.outbox import message_for
from bpo.core.jobs.registry import REFRESH_HOURS_JOB, SLA_QUEUE
from bpo.settings import Settings

BPO = Path(sys.executable).parent / "bpo"
ACTOR = REFRESH_HOURS_JOB
QUEUE = SLA_QUEUE
TENANTS = 4
CONTRACTS_PER_TENANT = 4
ITEMS_PER_CONTRACT = 3_000


def bpo_env(settings: Settings) -> dict[str, str]:
    """What a deployed process gets: BPO_* variables only (the same signing key for every process)."""
    assert settings.database_url
    assert settings.redis_url
    assert settings.platform_token
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BPO_", "PROMETHEUS_"))}
    env.update(
        {
            "BPO_ENVIRONMENT": "test",
            "BPO_DATABASE_URL": settings.database_url,
            "BPO_REDIS_URL": settings.redis_url,
            "BPO_SECRET_KEY": settings.signing_key(),
            "BPO_PLATFORM_TOKEN": settings.platform_token.get_secret_value(),
            "BPO_DATA_DIR": str(settings.data_dir),
            "BPO_LOG_LEVEL": "WARNING",
        }
    )
    if settings.migration_database_url:
        env["BPO_MIGRATION_DATABASE_URL"] = settings.migration_database_url
    return env


class Command:
    """A `bpo …` subprocess in its own process group, with CPU time summed over its process tree."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BPO), *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def cpu_seconds(self) -> float | None:
        try:
            tree = [psutil.Process(self.process.pid)]
            tree += tree[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return None
        total = 0.0
        for process in tree:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


class Server(Command):
    """`bpo serve --workers N` on a free port; usable as run_load's server."""

    def __init__(self, workers: int, env: dict[str, str], log_dir: Path) -> None:
        self.port = _free_port()
        args = ["serve", "--host", HOST, "--port", str(self.port), "--workers", str(workers)]
        super().__init__(f"api-{workers}p", args, env, log_dir)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Server:
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while True:
                self.check_alive()
                try:
                    if client.get("/health").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.name} did not answer in {START_TIMEOUT_S:.0f} s")
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def measure_api(
    workers: int, env: dict[str, str], settings: Settings, log_dir: Path, args: argparse.Namespace
) -> tuple[LoadResult, float | None]:
    """The load's result, and PostgreSQL's CPU over the run, warm-up included (cores busy)."""
    with Server(workers, env, log_dir) as server:
        targets = provision(server.url, settings, 2, 8)
        # Sampled while the server's connections are open: a backend that exits takes its time along.
        pg0, started = postgres_cpu_seconds(settings), time.perf_counter()
        result = run_load(
            server,  # duck-typed as api.ServerProcess: name, port, cpu_seconds()
            [(path, {"Authorization": f"Bearer {token}"}) for path, token in targets.scoped],
            args.connections,
            args.warmup,
            args.duration,
        )
        pg = cpu_delta(pg0, postgres_cpu_seconds(settings))
    return result, None if pg is None else pg / (time.perf_counter() - started)


# --- jobs -------------------------------------------------------------------------------------


@dataclass
class Contract:
    tenant_id: uuid.UUID
    id: uuid.UUID
    # The UTC hours (ISO) of each local day holding its items.
    days: list[list[str]]


def onboard_tenants(settings: Settings, env: dict[str, str], log_dir: Path) -> list[Contract]:
    """Tenants with contracts and a month of items each (bench/ingest.py's setup, items loaded with COPY)."""
    # Imported here: bench/ingest.py imports this module for its `bpo` processes.
    from ingest import (
        COPY_COLUMNS,
        INGEST_SPAN,
        OBJECTIVES,
        SETTLED,
        ZONE,
        copy_records,
        create_contracts,
        ingest_rows,
        owner_connect,
    )

    end = datetime.now(UTC) - SETTLED
    start = (end - INGEST_SPAN).astimezone(ZONE).date() - timedelta(days=1)
    rows = ingest_rows(ITEMS_PER_CONTRACT, end)
    days: dict[str, list[str]] = defaultdict(list)
    for hour in sorted({row[4].replace(minute=0, second=0, microsecond=0) for row in rows}):
        days[hour.astimezone(ZONE).date().isoformat()].append(hour.isoformat())
    names = [f"c{i}" for i in range(CONTRACTS_PER_TENANT)]
    contracts: list[Contract] = []
    with Server(1, env, log_dir) as server:
        for _ in range(TENANTS):
            setup = create_contracts(server.url, settings, names, start, OBJECTIVES)
            for contract_id in setup.contracts.values():
                contracts.append(Contract(setup.tenant_id, uuid.UUID(contract_id), list(days.values())))

    async def load_items() -> None:
        conn = await owner_connect(settings)
        try:
            for contract in contracts:
                records = list(copy_records(rows, contract.tenant_id, contract.id))
                await conn.copy_records_to_table("work_items", records=records, columns=COPY_COLUMNS)
        finally:
            await conn.close()

    asyncio.run(load_items())
    return contracts


class Jobs:
    """Sends SLA refresh jobs for real contracts and counts the ones done (rows in job_runs, seen through
    RLS)."""

    def __init__(self, settings: Settings, contracts: list[Contract]) -> None:
        self.settings = settings
        self.broker = make_broker(settings)
        self.contracts = contracts
        self.tenants = sorted({contract.tenant_id for contract in contracts})
        self.sent: dict[uuid.UUID, set[uuid.UUID]] = {tenant: set() for tenant in self.tenants}
        self.turn = 0

    def send(self, count: int) -> set[uuid.UUID]:
        """``count`` jobs, each one contract's day of hours, contracts and days in turn."""
        batch: set[uuid.UUID] = set()
        for _ in range(count):
            contract = self.contracts[self.turn % len(self.contracts)]
            hours = contract.days[(self.turn // len(self.contracts)) % len(contract.days)]
            self.turn += 1
            kwargs = {"contract_id": str(contract.id), "hours": hours}
            row = OutboxMessage(
                tenant_id=contract.tenant_id, id=uuid.uuid4(), actor=ACTOR, queue=QUEUE, kwargs=kwargs
            )
            self.broker.enqueue(message_for(contract.tenant_id, row))
            self.sent[contract.tenant_id].add(row.id)
            batch.add(row.id)
        return batch

    async def done(self, db: Database, batch: set[uuid.UUID]) -> int:
        ids = list(batch)
        total = 0
        async with db.platform() as session:
            for tenant in self.tenants:
                await session.execute(
                    text("SELECT set_config('bpo.tenant_id', :t, true)"), {"t": str(tenant)}
                )
                total += (
                    await session.execute(
                        text("SELECT count(*) FROM job_runs WHERE job_id = ANY(:ids)"), {"ids": ids}
                    )
                ).scalar_one()
        return total

    def wait(self, batch: set[uuid.UUID], worker: Command, timeout: float) -> float:
        """Seconds until every job of ``batch`` has run."""

        async def poll() -> float:
            db = Database(self.settings.model_copy(update={"database_pool_size": 1}))
            started = time.perf_counter()
            try:
                while await self.done(db, batch) < len(batch):
                    worker.check_alive()
                    if time.perf_counter() - started > timeout:
                        raise RuntimeError(f"{worker.name}: jobs not done after {timeout:.0f} s")
                    await asyncio.sleep(0.05)
                return time.perf_counter() - started
            finally:
                await db.dispose()

        return asyncio.run(poll())

    def close(self) -> None:
        self.broker.close()


def measure_worker(
    processes: int, env: dict[str, str], jobs: Jobs, log_dir: Path, args: argparse.Namespace
) -> tuple[float, float | None, float | None]:
    """Jobs per second, and the workers' and PostgreSQL's CPU (cores busy) over the measured batch."""
    worker = Command(
        f"worker-{processes}p",
        ["worker", "--processes", str(processes), "--threads", str(args.threads), "--queue", QUEUE],
        env,
        log_dir,
    )
    try:
        # Warm-up: every process has started, imported the actors and opened connections.
        jobs.wait(jobs.send(20 * processes), worker, timeout=START_TIMEOUT_S)
        cpu0, pg0 = worker.cpu_seconds(), postgres_cpu_seconds(jobs.settings)
        started = time.perf_counter()
        batch = jobs.send(args.jobs)
        enqueue_s = time.perf_counter() - started
        elapsed = enqueue_s + jobs.wait(batch, worker, timeout=300)
        cpu1, pg1 = worker.cpu_seconds(), postgres_cpu_seconds(jobs.settings)
    finally:
        worker.stop()
    cpu, pg = cpu_delta(cpu0, cpu1), cpu_delta(pg0, pg1)
    return args.jobs / elapsed, None if cpu is None else cpu / elapsed, None if pg is None else pg / elapsed


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="5 s per API run, 300 jobs per worker run")
    parser.add_argument("--duration", type=float, help="seconds measured per API run (default 20, quick 5)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per API run (default 3, quick 1)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--jobs", type=int, help="jobs per worker run (default 1,200, quick 300)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 5.0 if args.quick else 20.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 3.0
    if args.jobs is None:
        args.jobs = 300 if args.quick else 1_200
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1 or args.jobs < 1 or args.threads < 1:
        parser.error("--duration must be > 0, --warmup >= 0, and --connections, --jobs, --threads >= 1")
    return args


def _cpu(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "n/a"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(
        f"scale benchmark: API {args.connections} connections, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s per run; {args.jobs} jobs per worker run, {args.threads} threads per "
        f"process; {os.cpu_count()} CPUs{load}",
        flush=True,
    )
    started = time.monotonic()
    env = Environment.start()
    log_dir = Path(tempfile.mkdtemp(prefix="bpo-bench-scale-"))
    api: dict[int, LoadResult] = {}
    workers: dict[int, tuple[float, float | None, float | None]] = {}
    try:
        where = "embedded" if env.settings.database_url == env.services.database_url else "configured"
        print(f"setup: {where} PostgreSQL migrated in {time.monotonic() - started:.1f} s", flush=True)
        process_env = bpo_env(env.settings)
        for count in (1, 2):
            api[count], pg = measure_api(count, process_env, env.settings, log_dir, args)
            summary = api[count].summary().replace(api[count].name, f"api {count}p")
            print(f"{summary}; postgres {_cpu(pg)}", flush=True)
        onboarding = time.monotonic()
        contracts = onboard_tenants(env.settings, process_env, log_dir)
        print(
            f"setup: {TENANTS} tenants, {len(contracts)} contracts with {ITEMS_PER_CONTRACT} items each, in "
            f"{time.monotonic() - onboarding:.1f} s; each job refreshes one contract's day of hours",
            flush=True,
        )
        jobs = Jobs(env.settings, contracts)
        try:
            for count in (1, 2):
                workers[count] = measure_worker(count, process_env, jobs, log_dir, args)
                rate, cpu, pg = workers[count]
                print(
                    f"worker {count}p: {rate:8.0f} jobs/s  cpu: workers {_cpu(cpu)}, postgres {_cpu(pg)}",
                    flush=True,
                )
        finally:
            jobs.close()
    except RuntimeError as exc:
        print(f"error: {exc} (logs in {log_dir})", file=sys.stderr, flush=True)
        return 1
    finally:
        env.stop()
    shutil.rmtree(log_dir, ignore_errors=True)
    errors = sum(result.error_count for result in api.values())
    print(
        f"total {time.monotonic() - started:.1f} s; failed requests: {errors}; "
        f"api 2p/1p {api[2].rps / api[1].rps:.2f}x, worker 2p/1p {workers[2][0] / workers[1][0]:.2f}x"
    )
    print(
        f"RESULT scale api_1p_rps={api[1].rps:.0f} api_2p_rps={api[2].rps:.0f} "
        f"worker_1p_per_s={workers[1][0]:.0f} worker_2p_per_s={workers[2][0]:.0f}",
        flush=True,
    )
    return 1 if errors or not all(result.ok for result in api.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
