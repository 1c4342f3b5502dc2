"""Waiting on jobs run elsewhere (a worker, the scheduler) and reading what the broker holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from dramatiq import Message

from bpo.core.runtime import Runtime


async def eventually(
    what: str, probe: Callable[[], Awaitable[bool]], *, within: float, every: float = 0.1
) -> None:
    """Poll ``probe`` until it holds, failing the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await probe():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(every)


async def broker_messages(runtime: Runtime, stored_under: str) -> dict[str, Message[Any]]:
    """The messages the broker keeps in the hash ``stored_under``, by their Redis message id."""
    # The client does not decode responses: keys and values are bytes.
    stored = cast("dict[bytes, bytes]", await runtime.redis.hgetall(stored_under))
    return {redis_id.decode(): Message.decode(data) for redis_id, data in stored.items()}
