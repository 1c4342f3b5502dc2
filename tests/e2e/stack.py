"""The product as an operator runs it, for end-to-end journeys: a fresh database on the test server,
`bpo migrate`, then `bpo serve`, `bpo worker` and `bpo scheduler` as separate processes. Journeys
talk to it only through HTTP and the `bpo` command."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import redis
from sqlalchemy.engine import make_url

from bpo.settings import Settings
from tests.support.paths import REPO
from tests.support.processes import BPO, command_env, free_port
from tests.support.redis_databases import e2e_database


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Stack:
    def __init__(
        self, settings: Settings, workdir: Path, platform_token: str, extra_env: dict[str, str] | None = None
    ) -> None:
        assert settings.database_url
        assert settings.redis_url
        self.workdir = workdir
        self.database = f"bpo_e2e_{uuid.uuid4().hex[:10]}"
        self.server_url = settings.database_url
        self.database_url = (
            make_url(settings.database_url).set(database=self.database).render_as_string(hide_password=False)
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A Redis database of its own: the stack's worker takes only the stack's jobs, and no test
        # worker of the session takes the stack's.
        self.redis_url = e2e_database(settings.redis_url)
        self.env = command_env(
            settings,
            BPO_DATABASE_URL=self.database_url,
            BPO_REDIS_URL=self.redis_url,
            BPO_PLATFORM_TOKEN=platform_token,
            BPO_DATA_DIR=str(workdir),
            BPO_LOG_LEVEL="WARNING",
            BPO_BROKER_HEARTBEAT_TIMEOUT_MS=str(settings.broker_heartbeat_timeout_ms),
            BPO_BROKER_MAINTENANCE_CHANCE=str(settings.broker_maintenance_chance),
            BPO_LOGIN_ATTEMPTS_PER_IP="100000",
            **(extra_env or {}),
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # --- the bpo command --------------------------------------------------------------------------

    def bpo(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(BPO), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, (
                f"bpo {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [str(BPO), *args],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> Stack:
        redis.Redis.from_url(self.redis_url).flushdb()
        asyncio.run(self._execute(f'CREATE DATABASE "{self.database}"'))
        self.bpo("migrate")
        self._spawn("api", "serve", "--port", str(self.port))
        self._spawn("worker", "worker", "--threads", "2")
        self._spawn("scheduler", "scheduler")
        deadline = time.monotonic() + 60
        while True:
            for name, process in self.processes.items():
                assert process.poll() is None, f"bpo {name} exited:\n{self.log(name)}"
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the API did not get ready in 60 s:\n{self.log('api')}"
            time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        asyncio.run(
            self._execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)', database="postgres")
        )
        redis.Redis.from_url(self.redis_url).flushdb()

    async def _execute(self, sql: str, database: str | None = None) -> None:
        url = make_url(_plain(self.server_url))
        if database is not None:
            url = url.set(database=database)
        conn = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
