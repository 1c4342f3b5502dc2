"""The one place the Dramatiq broker is configured (API, workers and scheduler alike)."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from bpo.settings import Settings

NAMESPACE = "bpo"
# Retries of a transient failure (with backoff from 1 s to 5 min), unless an actor says otherwise; other
# failures are not retried at all (``bpo.core.jobs.actors``).
MAX_RETRIES = 20


def make_broker(settings: Settings) -> RedisBroker:
    if settings.redis_url is None:
        raise RuntimeError("no Redis URL: start the embedded services or set BPO_REDIS_URL")
    pool = redis.ConnectionPool.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    return RedisBroker(  # type: ignore[no-untyped-call]
        connection_pool=pool,
        namespace=NAMESPACE,
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
        maintenance_chance=settings.broker_maintenance_chance,
        middleware=[
            AgeLimit(),
            TimeLimit(time_limit=15 * 60_000),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            Retries(min_backoff=1_000, max_backoff=300_000, max_retries=MAX_RETRIES),
            # Its retry count tells a failing actor whether this attempt is its last.
            CurrentMessage(),
            AsyncIO(),
        ],
    )


def setup_broker(settings: Settings) -> RedisBroker:
    broker = make_broker(settings)
    dramatiq.set_broker(broker)
    return broker
