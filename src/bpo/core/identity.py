"""Whether a user's access tokens still hold, checked on every request without a database query each time.

A user's row carries a token version, bumped whenever what their tokens say stops being true (role,
client, password, deactivation); an access token carries the version it was issued at. Each process
remembers the current version per user and, at most every ``RECHECK_SECONDS``, compares the change
markers in Redis (one per user, one per tenant) with those it saw when it last read the database. The
transaction that changes a user sets a new marker once it commits, so every process reads the database
again within ``RECHECK_SECONDS``. A marker is read before the database: a read that raced a change is
followed by the new marker at the next recheck. Without Redis the database answers; an entry older than
``MAX_AGE_SECONDS`` is read again whatever the markers say, which bounds how long a change that set no
marker (Redis down at commit, a session opened outside a ``Runtime``) goes unseen.

Every change also moves one counter in Redis on from the marker it sets (``GENERATION``). A process reads
that counter at most every ``RECHECK_SECONDS``, whoever is signed in; while it stands where it stood when
an entry was last checked, no marker has moved since, so a process serving many users asks Redis once a
second rather than once a second per user.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.db import after_commit

RECHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 60.0
# Longer than MAX_AGE_SECONDS: a marker outlives every entry read before it was set.
MARKER_TTL_SECONDS = 600
# The session.info key under which a Runtime's sessions find its token versions.
SESSION_KEY = "bpo.token_versions"
# Moved on by every change, after the change's own marker.
GENERATION = "bpo:identity:generation"

# Reads the user's current token version from the database: None when the user, or their tenant, is
# gone or inactive.
VersionLoader = Callable[[], Awaitable[int | None]]

log = structlog.get_logger("bpo.identity")


def _user_marker(tenant_id: uuid.UUID, user_id: uuid.UUID) -> str:
    return f"bpo:identity:user:{tenant_id}:{user_id}"


def _tenant_marker(tenant_id: uuid.UUID) -> str:
    return f"bpo:identity:tenant:{tenant_id}"


@dataclass(slots=True)
class _Entry:
    version: int | None
    # The markers as read just before the database was; None when Redis did not answer.
    markers: list[bytes | str | None] | None
    loaded_at: float
    checked_at: float
    # The generation counter as read before the markers were last compared; None when Redis did not answer.
    generation: bytes | str | None = None


class TokenVersions:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        capacity: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.capacity = capacity
        self.clock = clock
        self._entries: dict[tuple[uuid.UUID, uuid.UUID], _Entry] = {}
        self._generation: bytes | str | None = None
        self._generation_read_at = float("-inf")

    async def current(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, load: VersionLoader, presented: int | None = None
    ) -> int | None:
        """The user's token version now (None: no active user), as this process last saw it if that was
        under ``RECHECK_SECONDS`` ago or nothing changed since. Versions only grow, so a token that
        presents a newer version than the one remembered proves the memory stale: the database is read
        again (a request racing a change can store the old version just after the change cleared it)."""
        key = (tenant_id, user_id)
        now = self.clock()
        entry = self._entries.get(key)
        if (
            entry is not None
            and presented is not None
            and entry.version is not None
            and entry.version < presented
        ):
            entry = None
        if entry is not None and now - entry.checked_at < RECHECK_SECONDS:
            return entry.version
        fresh = entry is not None and now - entry.loaded_at < MAX_AGE_SECONDS
        # Read before the markers: a change whose marker those miss moves it on after them.
        generation, read_at = await self._current_generation(now)
        if entry is not None and fresh and generation is not None and generation == entry.generation:
            # Checked as of when the counter was read, so the next recheck reads it again.
            entry.checked_at = read_at
            return entry.version
        markers = None if generation is None else await self._markers(tenant_id, user_id)
        if entry is not None and fresh and markers is not None and markers == entry.markers:
            entry.checked_at = now
            entry.generation = generation
            return entry.version
        version = await load()
        self._entries.pop(key, None)
        if len(self._entries) >= self.capacity:
            # Least recently loaded first: dicts keep insertion order.
            del self._entries[next(iter(self._entries))]
        self._entries[key] = _Entry(version, markers, loaded_at=now, checked_at=now, generation=generation)
        return version

    async def _current_generation(self, now: float) -> tuple[bytes | str | None, float]:
        """The generation counter and when it was read, from Redis at most every ``RECHECK_SECONDS`` by
        this process; None when Redis did not answer."""
        if now - self._generation_read_at < RECHECK_SECONDS:
            return self._generation, self._generation_read_at
        try:
            generation: bytes | str | None = await self.redis.get(GENERATION)
        except RedisError as exc:
            log.warning("token_versions_unchecked", error=type(exc).__name__)
            return None, now
        # A counter never moved yet reads as its start, not as "no answer".
        self._generation, self._generation_read_at = generation or b"0", now
        return self._generation, now

    async def _markers(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[bytes | str | None] | None:
        try:
            markers: list[bytes | str | None] = await self.redis.mget(
                _user_marker(tenant_id, user_id), _tenant_marker(tenant_id)
            )
        except RedisError as exc:
            log.warning("token_versions_unchecked", error=type(exc).__name__)
            return None
        return markers

    async def publish(self, tenant_id: uuid.UUID, user_id: uuid.UUID | None) -> None:
        """Make every process read the user (every user of the tenant when None) from the database again."""
        if user_id is None:
            for key in [key for key in self._entries if key[0] == tenant_id]:
                del self._entries[key]
            marker = _tenant_marker(tenant_id)
        else:
            self._entries.pop((tenant_id, user_id), None)
            marker = _user_marker(tenant_id, user_id)
        # This process rereads the counter at its next recheck rather than trust one read before the change.
        self._generation_read_at = float("-inf")
        try:
            async with self.redis.pipeline(transaction=True) as pipeline:
                pipeline.set(marker, secrets.token_hex(8), ex=MARKER_TTL_SECONDS)
                pipeline.incr(GENERATION)
                await pipeline.execute()
        except RedisError as exc:
            # Committed already; other processes see the change within MAX_AGE_SECONDS.
            log.warning("token_versions_not_published", error=type(exc).__name__, tenant_id=str(tenant_id))


def changed(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID | None = None) -> None:
    """Once ``session`` commits, have every process check the user's tokens (every user's of the tenant
    when ``user_id`` is None) against the database."""
    versions: TokenVersions | None = session.info.get(SESSION_KEY)
    if versions is None:
        return

    async def publish() -> None:
        await versions.publish(tenant_id, user_id)

    after_commit(session, publish)
