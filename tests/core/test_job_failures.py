"""Which job errors are worth a retry: the moment's (connection, network, lock, concurrent writer), never
the data's (validation, overflow, a missing row); and a transient one retried by a real worker, then
recorded once its retries are spent."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import exc as sa_exc

from bpo.core.errors import Conflict, Invalid, NotFound
from bpo.core.jobs.failures import Transient, describe, is_transient
from bpo.core.runtime import Runtime
from tests.support.actors import QUEUE
from tests.support.factories import create_tenant
from tests.support.jobs import eventually, job_failures, send_job
from tests.support.processes import Worker


class DriverError(Exception):
    """What asyncpg raises, as SQLAlchemy's adapter wraps it: an error with a SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__("the database refused")
        self.sqlstate = sqlstate


def database_error(sqlstate: str, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", {}, DriverError(sqlstate), connection_invalidated=invalidated)


def raised_from(error: Exception, cause: BaseException) -> Exception:
    try:
        raise error from cause
    except Exception as raised:
        return raised


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused"),
        ConnectionResetError(),
        TimeoutError(),
        OSError("Multiple exceptions: [Errno 111] Connect call failed"),
        redis.ConnectionError("Redis is loading"),
        redis.TimeoutError(),
        sa_exc.TimeoutError("QueuePool limit reached"),
        database_error("XX000", invalidated=True),
        database_error("08006"),
        database_error("57P01"),
        database_error("53300"),
        database_error("40001"),
        database_error("40P01"),
        database_error("23505"),
        Transient("the upstream answered 503"),
        raised_from(RuntimeError("could not push"), ConnectionResetError()),
    ],
    ids=repr,
)
def test_transient_errors_are_retried(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        OverflowError("date value out of range"),
        ValueError("not a duration: '9999999999d'"),
        KeyError("contract"),
        TypeError("unsupported operand"),
        ZeroDivisionError(),
        FileNotFoundError("fonts/NotoSansCJK.ttc"),
        NotFound("Invoice run 1 not found."),
        Invalid("period: must be from 2000-01-01"),
        Conflict("mixed currencies"),
        database_error("22003"),
        database_error("22008"),
        database_error("23503"),
        database_error("42P01"),
        raised_from(ValueError("bad row"), OverflowError()),
    ],
    ids=repr,
)
def test_deterministic_errors_fail_at_once(error: Exception) -> None:
    assert not is_transient(error)


def test_an_actor_may_name_more_transient_errors() -> None:
    class UpstreamBusy(Exception):
        pass

    assert not is_transient(UpstreamBusy())
    assert is_transient(UpstreamBusy(), (UpstreamBusy,))
    assert is_transient(raised_from(ValueError("wrapped"), UpstreamBusy()), (UpstreamBusy,))


def test_the_reason_names_the_error_and_stays_short() -> None:
    assert describe(OverflowError("date value out of range")) == "OverflowError: date value out of range"
    assert describe(NotFound("Invoice run 1 not found.")) == "NotFound: Invoice run 1 not found."
    assert describe(ZeroDivisionError()) == "ZeroDivisionError"
    assert len(describe(ValueError("x" * 10_000))) == 2000
    # A database error without its statement and parameters.
    assert describe(database_error("22003")) == "DBAPIError: the database refused (SQLSTATE 22003)"


async def test_a_transient_failure_is_retried_then_recorded(
    client: httpx.AsyncClient, runtime: Runtime, worker_env: dict[str, str], tmp_path: Path
) -> None:
    tenant = await create_tenant(client)
    worker = Worker(worker_env, tmp_path / "worker.log")
    try:
        job_id = await send_job(runtime, "test.unreachable", QUEUE, tenant.id)

        async def recorded() -> bool:
            return bool(await job_failures(client, tenant.admin))

        await eventually("the failure recorded", recorded, within=30)
    finally:
        worker.kill()
    (failure,) = await job_failures(client, tenant.admin)
    # Tried once and retried twice (the actor's max_retries), then given up on.
    assert failure["attempts"] == 3
    assert failure["cause"] == "retries_exhausted"
    assert failure["job"] == "test.unreachable"
    assert (failure["object_type"], failure["object_id"]) == ("tenant", str(tenant.id))
    assert failure["job_id"] == str(job_id)
    assert failure["error"].startswith("ConnectionRefusedError: ")
    assert "job_retrying" in worker.log()
