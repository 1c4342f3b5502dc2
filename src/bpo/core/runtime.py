"""Process-wide resources of the API: settings, database, Redis, broker relay. One per app."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import redis.asyncio as aioredis
from dramatiq.brokers.redis import RedisBroker

from bpo.core.db import Database
from bpo.core.identity import SESSION_KEY, TokenVersions
from bpo.core.jobs import failures
from bpo.core.jobs.broker import make_broker
from bpo.core.jobs.outbox import Relay
from bpo.core.tokens import AccessTokenVerifier
from bpo.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    broker: RedisBroker
    relay: Relay
    signing_key: str
    tokens: AccessTokenVerifier
    token_versions: TokenVersions

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        if settings.redis_url is None:
            raise RuntimeError("no Redis URL: start the embedded services or set BPO_REDIS_URL")
        redis = aioredis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        token_versions = TokenVersions(redis)
        # The runtime's sessions tell every process about identity changes once they commit.
        db = Database(settings, session_info={SESSION_KEY: token_versions})
        broker = make_broker(settings)
        # /metrics reports the job failures the workers count in this Redis.
        failures.FAILURE_COUNTS.client = broker.client
        signing_key = settings.signing_key()
        return cls(
            settings=settings,
            db=db,
            redis=redis,
            broker=broker,
            relay=Relay(db, broker),
            signing_key=signing_key,
            tokens=AccessTokenVerifier(signing_key),
            token_versions=token_versions,
        )

    async def close(self) -> None:
        await self.db.dispose()
        await self.redis.aclose()
        self.broker.close()


def freeze_startup_objects() -> None:
    """Move every object alive now (modules, routes, mappers, compiled statements: a long-running process's
    start-up) out of the cyclic collector's generations: they live as long as the process, and a full
    collection would otherwise rescan them all whenever a request or a job allocates a lot (a month-end run
    rating a thousand contracts spent a tenth of its time collecting). Called once, as a server or worker
    process is about to take work; objects made later are collected as always."""
    gc.collect()
    gc.freeze()
