"""The dead-letter view: the caller's tenant's jobs that failed for good, and why."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter
from litestar.types import ControllerRouterHandler

from bpo.core.guards import ADMINS
from bpo.core.http import Caller, Cursor, Limit, Session
from bpo.core.jobs import failures, schemas
from bpo.core.pagination import DEFAULT_PAGE_SIZE

JobName = Annotated[
    str | None, QueryParameter(max_length=100, description="Only this job's, e.g. sla.detect_alerts")
]


class JobFailureController(Controller):
    path = "/v1/job-failures"
    tags = ["operations"]
    guards = [ADMINS]

    @get(
        "",
        summary="Jobs that failed for good: job, object, attempts, last error and when, oldest first",
        description=(
            "A job fails for good at once on an error that would fail the same way again (bad data, an "
            "overflow, a missing row), or once a transient error (database, network, an upstream service) "
            "has outlasted its retries. A tenant-wide job (the minutely SLA refresh and alert sweeps, the "
            "month-end invoice run) fails per contract or client and goes on with the others. A failure is "
            "`open` until a later run of the same job succeeds on the same object, then `resolved`; one "
            "that recurs meanwhile adds to `attempts`."
        ),
    )
    async def list_job_failures(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        status: FromQuery[schemas.JobFailureStatus] = schemas.JobFailureStatus.OPEN,
        job: JobName = None,
        object_id: FromQuery[uuid.UUID | None] = None,
    ) -> schemas.JobFailurePage:
        return await failures.list_failures(
            session, caller, limit=limit, cursor=cursor, status=status, job=job, object_id=object_id
        )


ROUTES: list[ControllerRouterHandler] = [JobFailureController]
