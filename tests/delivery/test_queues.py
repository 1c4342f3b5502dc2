"""Queue depth and the age of the oldest waiting message, read from the broker's own Redis keys."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from bpo.core.jobs.queue_stats import KNOWN_QUEUES, queue_stats
from bpo.settings import Settings


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    assert settings.redis_url
    client = aioredis.Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


async def test_depth_and_oldest_age_per_queue(settings: Settings, redis: aioredis.Redis) -> None:
    namespace = f"bpo-test-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(url=settings.redis_url, namespace=namespace)
    now_ms = int(time.time() * 1000)
    try:
        for queue, ages in {"ingest": [90, 30, 5], "sla": [2]}.items():
            broker.declare_queue(queue)
            for age in ages:
                broker.enqueue(
                    Message(
                        queue_name=queue,
                        actor_name="test.nothing",
                        args=(),
                        kwargs={},
                        options={},
                        message_timestamp=now_ms - age * 1000,
                    )
                )
        broker.enqueue(
            Message(queue_name="ingest", actor_name="test.later", args=(), kwargs={}, options={}),
            delay=60_000,
        )

        stats = {s.queue: s for s in await queue_stats(redis, namespace)}
    finally:
        for queue in ("ingest", "sla"):
            broker.flush(queue)
        broker.close()

    assert set(stats) == {"ingest", "sla", *KNOWN_QUEUES}, "delayed messages are not waiting work"
    assert stats["ingest"].depth == 3
    assert 89 <= stats["ingest"].oldest_age_s <= 120
    assert stats["sla"].depth == 1
    assert 1 <= stats["sla"].oldest_age_s <= 30
    assert all(stats[q].depth == 0 and stats[q].oldest_age_s == 0 for q in KNOWN_QUEUES)
