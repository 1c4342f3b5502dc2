"""The `bpo` command in subprocesses pointed at the test database and Redis."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bpo.settings import Settings
from tests.support.paths import REPO

BPO = Path(sys.executable).parent / "bpo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command_env(settings: Settings, **variables: str) -> dict[str, str]:
    """The test database and Redis, ``variables`` on top, and no other BPO_ variable."""
    assert settings.database_url
    assert settings.redis_url
    # An inherited PROMETHEUS_MULTIPROC_DIR would put the subprocess's metrics in multiprocess mode.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BPO_", "PROMETHEUS_"))}
    env.update({"BPO_DATABASE_URL": settings.database_url, "BPO_REDIS_URL": settings.redis_url, **variables})
    return env


def process_env(settings: Settings) -> dict[str, str]:
    """Environment for a `bpo` subprocess (worker, scheduler, server) that runs jobs as the tests do."""
    return command_env(
        settings,
        BPO_BROKER_HEARTBEAT_TIMEOUT_MS=str(settings.broker_heartbeat_timeout_ms),
        BPO_BROKER_MAINTENANCE_CHANCE=str(settings.broker_maintenance_chance),
        BPO_DATA_DIR=str(settings.data_dir),
        # Tests wait for a job's `job_done`, a debug line.
        BPO_LOG_LEVEL="DEBUG",
        # The code under test, whichever checkout it is in, and tests.support's own actors.
        PYTHONPATH=os.pathsep.join((str(REPO / "src"), str(REPO))),
    )


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is in the group; reparented zombies may linger unreaped."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


class BpoProcess:
    """`bpo <args>` in its own process group, its output in a log file."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path, cwd: Path = REPO) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bpo.cli", *args],
                env=env,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def entries(self) -> Iterator[dict[str, Any]]:
        """The structured entries of the log. The worker's threads and Dramatiq's own logging write to the
        same file, so a line may hold more than one entry, or an entry after other text."""
        decoder = json.JSONDecoder()
        for line in self.log().splitlines():
            start = line.find("{")
            while start != -1:
                try:
                    entry, end = decoder.raw_decode(line, start)
                except ValueError:
                    start = line.find("{", start + 1)
                    continue
                if isinstance(entry, dict):
                    yield entry
                start = line.find("{", end)

    def logged(self, event: str, job_id: uuid.UUID) -> bool:
        return any(
            entry.get("event") == event and entry.get("job_id") == str(job_id) for entry in self.entries()
        )

    def kill(self) -> None:
        """SIGKILL the whole group and return once none of its processes can still act."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)


class Worker(BpoProcess):
    """`bpo worker`: the CLI, the dramatiq parent and its worker process. By default it runs the actors
    of tests/support/actors.py on their queue (`test`) only."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        args: Sequence[str] = ("tests.support.actors", "--queue", "test"),
    ) -> None:
        super().__init__(["worker", *args], env, log_path)
