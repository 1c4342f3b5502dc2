"""The per-process cache of token versions: no database read per request, a change published by another
process seen at the next recheck, and the database answering whenever Redis cannot."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from bpo.core.identity import MAX_AGE_SECONDS, RECHECK_SECONDS, TokenVersions, VersionLoader
from bpo.core.runtime import Runtime
from tests.support.processes import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Database:
    """The users' current versions, counting the reads."""

    def __init__(self) -> None:
        self.versions: dict[uuid.UUID, int | None] = {}
        self.reads = 0

    def loader(self, user_id: uuid.UUID) -> VersionLoader:
        async def load() -> int | None:
            self.reads += 1
            return self.versions.get(user_id)

        return load


async def test_requests_within_the_recheck_interval_read_neither_redis_nor_the_database(
    runtime: Runtime,
) -> None:
    clock, db = Clock(), Database()
    tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
    db.versions[user_id] = 3
    # A Redis nobody listens on: any read of it would fail and fall back to the database.
    silent = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    versions = TokenVersions(silent, clock=clock)
    try:
        assert await versions.current(tenant_id, user_id, db.loader(user_id)) == 3
        for _ in range(1_000):
            clock.now += RECHECK_SECONDS / 2_000
            assert await versions.current(tenant_id, user_id, db.loader(user_id)) == 3
        assert db.reads == 1
    finally:
        await silent.aclose()


async def test_unchanged_markers_keep_the_version_until_it_is_old(runtime: Runtime) -> None:
    clock, db = Clock(), Database()
    tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
    db.versions[user_id] = 0
    versions = TokenVersions(runtime.redis, clock=clock)

    for _ in range(10):
        assert await versions.current(tenant_id, user_id, db.loader(user_id)) == 0
        clock.now += RECHECK_SECONDS
    assert db.reads == 1

    db.versions[user_id] = 1
    # A change that set no marker is seen once the entry is too old to trust.
    clock.now += MAX_AGE_SECONDS
    assert await versions.current(tenant_id, user_id, db.loader(user_id)) == 1
    assert db.reads == 2


async def test_a_change_published_by_another_process_is_seen_at_the_next_recheck(runtime: Runtime) -> None:
    clock, db = Clock(), Database()
    tenant_id, user_id, colleague = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    db.versions |= {user_id: 4, colleague: 7}
    here = TokenVersions(runtime.redis, clock=clock)
    elsewhere = TokenVersions(runtime.redis, clock=clock)
    assert await here.current(tenant_id, user_id, db.loader(user_id)) == 4
    assert await here.current(tenant_id, colleague, db.loader(colleague)) == 7

    db.versions[user_id] = 5
    await elsewhere.publish(tenant_id, user_id)

    clock.now += RECHECK_SECONDS / 2
    assert await here.current(tenant_id, user_id, db.loader(user_id)) == 4
    clock.now += RECHECK_SECONDS
    assert await here.current(tenant_id, user_id, db.loader(user_id)) == 5
    assert await here.current(tenant_id, colleague, db.loader(colleague)) == 7
    assert db.reads == 3


async def test_a_tenant_wide_change_rereads_every_user_of_the_tenant(runtime: Runtime) -> None:
    clock, db = Clock(), Database()
    tenant_id, other_tenant = uuid.uuid4(), uuid.uuid4()
    users = [uuid.uuid4() for _ in range(3)]
    db.versions |= dict.fromkeys(users, 2)
    here = TokenVersions(runtime.redis, clock=clock)
    for user_id in users:
        await here.current(tenant_id, user_id, db.loader(user_id))
    await here.current(other_tenant, users[0], db.loader(users[0]))

    db.versions |= dict.fromkeys(users, None)
    await TokenVersions(runtime.redis, clock=clock).publish(tenant_id, None)
    clock.now += RECHECK_SECONDS

    assert [await here.current(tenant_id, u, db.loader(u)) for u in users] == [None, None, None]
    # Another tenant's entry for the same id is not this tenant's change.
    assert await here.current(other_tenant, users[0], db.loader(users[0])) == 2


async def test_a_change_made_here_is_seen_here_at_once(runtime: Runtime) -> None:
    clock, db = Clock(), Database()
    tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
    db.versions[user_id] = 1
    here = TokenVersions(runtime.redis, clock=clock)
    assert await here.current(tenant_id, user_id, db.loader(user_id)) == 1

    db.versions[user_id] = None
    await here.publish(tenant_id, user_id)

    assert await here.current(tenant_id, user_id, db.loader(user_id)) is None


async def test_without_redis_the_database_answers_every_recheck(runtime: Runtime) -> None:
    clock, db = Clock(), Database()
    tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
    db.versions[user_id] = 0
    down = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    versions = TokenVersions(down, clock=clock)
    try:
        assert await versions.current(tenant_id, user_id, db.loader(user_id)) == 0
        db.versions[user_id] = 1
        clock.now += RECHECK_SECONDS
        assert await versions.current(tenant_id, user_id, db.loader(user_id)) == 1
        # Publishing without Redis still forgets the entry here and does not fail the committed change.
        db.versions[user_id] = 2
        await versions.publish(tenant_id, user_id)
        assert await versions.current(tenant_id, user_id, db.loader(user_id)) == 2
    finally:
        await down.aclose()


async def test_a_newer_version_than_remembered_is_read_again_at_once(runtime: Runtime) -> None:
    """A request racing a change can remember the old version after the change cleared it; a token with
    the new version (issued after the change) must still hold, and an old token must not trigger reads."""
    clock, db = Clock(), Database()
    tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
    db.versions[user_id] = 4
    versions = TokenVersions(runtime.redis, clock=clock)
    assert await versions.current(tenant_id, user_id, db.loader(user_id), 4) == 4
    db.versions[user_id] = 5  # changed; this process's memory still says 4, within the recheck interval
    assert await versions.current(tenant_id, user_id, db.loader(user_id), 5) == 5
    assert db.reads == 2
    for _ in range(10):
        assert await versions.current(tenant_id, user_id, db.loader(user_id), 4) == 5
        assert await versions.current(tenant_id, user_id, db.loader(user_id), 5) == 5
    assert db.reads == 2
    # Version 0 (a user never changed) is remembered like any other.
    other = uuid.uuid4()
    db.versions[other] = 0
    for _ in range(10):
        assert await versions.current(tenant_id, other, db.loader(other), 0) == 0
    assert db.reads == 3


async def test_a_process_asks_redis_once_per_recheck_whoever_is_signed_in(runtime: Runtime) -> None:
    """With nothing changed, many users' entries are rechecked by one read of the generation counter; a
    change moves the counter, and its user (only) is read again."""
    clock, db = Clock(), Database()
    tenant_id = uuid.uuid4()
    users = [uuid.uuid4() for _ in range(20)]
    db.versions |= dict.fromkeys(users, 1)
    versions = TokenVersions(runtime.redis, clock=clock)
    for user_id in users:
        await versions.current(tenant_id, user_id, db.loader(user_id))
    commands: list[str] = []
    execute = runtime.redis.execute_command

    async def counted(*args: object, **options: object) -> object:
        commands.append(str(args[0]))
        return await execute(*args, **options)

    runtime.redis.execute_command = counted  # type: ignore[method-assign]
    try:
        clock.now += RECHECK_SECONDS
        assert [await versions.current(tenant_id, u, db.loader(u)) for u in users] == [1] * 20
        assert commands == ["GET"]

        db.versions[users[3]] = 2
        await TokenVersions(runtime.redis, clock=clock).publish(tenant_id, users[3])
        commands.clear()
        clock.now += RECHECK_SECONDS
        assert [await versions.current(tenant_id, u, db.loader(u)) for u in users] == [1] * 3 + [2] + [1] * 16
        assert commands.count("GET") == 1
        assert db.reads == 21
    finally:
        del runtime.redis.execute_command
