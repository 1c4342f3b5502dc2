"""How far behind the workers are, per queue: waiting messages and the age of the oldest one.

The scheduler logs it (`queue_stats`) every 30 s; in AWS, CloudWatch metric filters turn those lines
into the QueueDepth and OldestMessageAgeSeconds metrics that scale the workers and raise the
queue-age and SLA-lag alarms (infra/terraform/monitoring.tf).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from bpo.core.jobs.broker import NAMESPACE
from bpo.core.jobs.registry import KNOWN_QUEUES


@dataclass(frozen=True)
class QueueStats:
    queue: str
    depth: int
    oldest_age_s: float


async def queue_names(redis: aioredis.Redis, namespace: str = NAMESPACE) -> list[str]:
    names = set(KNOWN_QUEUES)
    prefix, suffix = f"{namespace}:", ".msgs"
    async for key in redis.scan_iter(match=f"{prefix}*{suffix}", count=500):
        name = key.decode()[len(prefix) : -len(suffix)]
        # Delayed (retries, ETA) and dead-letter queues are not waiting work.
        if not name.endswith((".DQ", ".XQ")):
            names.add(name)
    return sorted(names)


async def queue_stats(redis: aioredis.Redis, namespace: str = NAMESPACE) -> list[QueueStats]:
    """Dramatiq's Redis broker appends message ids to the list ``<namespace>:<queue>`` and workers take
    them from the front, so the front is the oldest waiting message; its body is in ``….msgs``."""
    now_ms = time.time() * 1000
    stats = []
    for queue in await queue_names(redis, namespace):
        key = f"{namespace}:{queue}"
        depth = int(await redis.llen(key))
        age = 0.0
        oldest = await redis.lindex(key, 0)
        if oldest is not None:
            body = await redis.hget(f"{key}.msgs", oldest)
            if body is not None:
                age = max(0.0, (now_ms - json.loads(body)["message_timestamp"]) / 1000)
        stats.append(QueueStats(queue, depth, round(age, 1)))
    return stats
