"""What the dead-letter view shows of a job's failure."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import msgspec


class JobFailureStatus(StrEnum):
    # The last run of the job on the object failed.
    OPEN = "open"
    # A later run of the same job succeeded on it.
    RESOLVED = "resolved"


class JobFailureCause(StrEnum):
    # An error that fails the same way every time (bad data, an overflow, a missing row): not retried.
    DETERMINISTIC = "deterministic"
    # A transient error (the database, the network, an upstream service) that outlasted every retry.
    RETRIES_EXHAUSTED = "retries_exhausted"


class JobFailure(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    job: str
    # What the job failed on: "invoice_run", "schedule_run", "invoice", "contract", "client", or "tenant"
    # for a tenant-wide job that failed as a whole.
    object_type: str
    object_id: uuid.UUID
    # The last run that failed.
    job_id: uuid.UUID
    cause: JobFailureCause
    # Failed attempts while open: retries of a run, and every run of a recurring job that failed again.
    attempts: int
    # The last run's reason.
    error: str
    first_failed_at: datetime
    last_failed_at: datetime
    resolved_at: datetime | None


class JobFailurePage(msgspec.Struct, kw_only=True):
    items: list[JobFailure]
    next_cursor: str | None
