"""Periodic work: a small process that only relays and sends messages. Several may run; one leads."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from dramatiq import Message

# Every context's tables, so that foreign keys from one context's tables to another's resolve.
import bpo.models  # noqa: F401
from bpo.core.jobs.queue_stats import queue_stats
from bpo.core.jobs.registry import (
    DEFAULT_QUEUE,
    DETECT_JOB,
    MAIL_QUEUE,
    MONTH_END_JOB,
    PURGE_EXPIRED_JOB,
    RECONCILE_JOB,
    REFRESH_DUE_JOB,
    RUN_DUE_REPORTS_JOB,
    SLA_QUEUE,
    SWEEP_ESCALATIONS_JOB,
    SWEEP_JOB,
    SWEEP_MAIL_JOB,
    SWEEP_NOTICES_JOB,
    WEBHOOK_QUEUE,
)
from bpo.core.runtime import Runtime
from bpo.settings import Settings
from bpo.tenancy import service as tenancy

log = structlog.get_logger("bpo.scheduler")

LEADER_KEY = "bpo:scheduler:leader"
LEADER_TTL_MS = 15_000
SWEEP_SECONDS = 5
QUEUE_STATS_SECONDS = 30
# Rows younger than this are still being relayed by the process that wrote them.
SWEEP_GRACE = timedelta(seconds=10)
# Relayed jobs are checked against the broker this often, once sent this long ago.
LOST_SECONDS = 60
LOST_GRACE = timedelta(seconds=60)
# Namespace for deterministic job ids: one maintenance job per tenant per hour, however often sent.
JOB_NAMESPACE = uuid.UUID("8d1f3b38-5a7e-4c57-9a0b-6f3f0d9c2e11")


class Scheduler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def is_leader(self) -> bool:
        redis = self.runtime.redis
        if await redis.set(LEADER_KEY, self.identity, nx=True, px=LEADER_TTL_MS):
            return True
        current = await redis.get(LEADER_KEY)
        if current == self.identity.encode():
            await redis.pexpire(LEADER_KEY, LEADER_TTL_MS)
            return True
        return False

    async def sweep_outbox(self) -> int:
        older_than = datetime.now(UTC) - SWEEP_GRACE
        sent = await self._relay_each_tenant(
            lambda tenant_id: self.runtime.relay.sweep_tenant(tenant_id, older_than), "outbox_sweep_failed"
        )
        if sent:
            log.info("outbox_swept", sent=sent)
        return sent

    async def resend_lost(self, grace: timedelta = LOST_GRACE) -> int:
        """Jobs relayed more than ``grace`` ago that the broker lost (see Relay.resend_lost)."""
        sent_before = datetime.now(UTC) - grace
        return await self._relay_each_tenant(
            lambda tenant_id: self.runtime.relay.resend_lost(tenant_id, sent_before), "outbox_resend_failed"
        )

    async def _relay_each_tenant(
        self, step: Callable[[uuid.UUID], Awaitable[int]], failure_event: str
    ) -> int:
        """As the leader, ``step`` for every active tenant, summing what it sent; the first failure
        (the broker or the database is down) ends the round, and the next round starts over."""
        if not await self.is_leader():
            return 0
        sent = 0
        for tenant_id in await tenancy.active_tenant_ids(self.runtime):
            try:
                sent += await step(tenant_id)
            except Exception as exc:
                log.warning(failure_event, tenant_id=str(tenant_id), error=str(exc))
                break
        return sent

    async def send_to_every_tenant(self, actor: str, period: str, queue: str = DEFAULT_QUEUE) -> int:
        """One ``actor`` job per active tenant per ``period``: the job id is derived from both, so a
        second scheduler or a retry in the same period has no second effect."""
        if not await self.is_leader():
            return 0
        tenants = await tenancy.active_tenant_ids(self.runtime)
        for tenant_id in tenants:
            job_id = uuid.uuid5(JOB_NAMESPACE, f"{actor}:{tenant_id}:{period}")
            message: Message[None] = Message(
                queue_name=queue,
                actor_name=actor,
                args=(),
                kwargs={"tenant_id": str(tenant_id), "job_id": str(job_id)},
                options={},
                message_id=str(job_id),
            )
            await asyncio.to_thread(self.runtime.broker.enqueue, message)
        return len(tenants)

    async def hourly_maintenance(self) -> int:
        return await self.send_to_every_tenant(PURGE_EXPIRED_JOB, datetime.now(UTC).strftime("%Y-%m-%dT%H"))

    async def month_end_runs(self) -> int:
        """Hourly: each tenant's job runs the previous month once it is the 1st, 03:00 in the tenant's
        zone, and only once (the run's id is derived from tenant and month)."""
        return await self.send_to_every_tenant(MONTH_END_JOB, datetime.now(UTC).strftime("%Y-%m-%dT%H"))

    async def client_reports(self) -> int:
        """Every quarter of an hour: each tenant's job makes the client reports that came due (each client
        and period once, whatever the number of triggers: see reports.service.run_due)."""
        now = datetime.now(UTC)
        return await self.send_to_every_tenant(RUN_DUE_REPORTS_JOB, f"{now:%Y-%m-%dT%H}:q{now.minute // 15}")

    async def reconcile_stripe(self) -> int:
        return await self.send_to_every_tenant(RECONCILE_JOB, datetime.now(UTC).strftime("%Y-%m-%d"))

    async def refresh_due_slas(self) -> int:
        minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
        return await self.send_to_every_tenant(REFRESH_DUE_JOB, minute, SLA_QUEUE)

    async def detect_sla_alerts(self) -> int:
        minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
        return await self.send_to_every_tenant(DETECT_JOB, minute, SLA_QUEUE)

    async def sweep_webhooks(self) -> int:
        """Retries come due in the database (``next_attempt_at``); this turns them into jobs."""
        minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
        return await self.send_to_every_tenant(SWEEP_JOB, minute, WEBHOOK_QUEUE)

    async def sweep_mail(self) -> int:
        """Mail retries come due in the database (``next_attempt_at``); this turns them into jobs."""
        minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
        return await self.send_to_every_tenant(SWEEP_MAIL_JOB, minute, MAIL_QUEUE)

    async def follow_up_escalations(self) -> int:
        """Escalations past their acknowledgement target: overdue (the operator alerted) and reminders."""
        minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
        return await self.send_to_every_tenant(SWEEP_ESCALATIONS_JOB, minute, MAIL_QUEUE)

    async def notify_staff(self) -> int:
        """Each person's notices that are ready (one mail per person), and lateness come due."""
        minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
        return await self.send_to_every_tenant(SWEEP_NOTICES_JOB, minute, MAIL_QUEUE)

    async def report_queues(self) -> None:
        if not await self.is_leader():
            return
        for stats in await queue_stats(self.runtime.redis):
            log.info("queue_stats", queue=stats.queue, depth=stats.depth, oldest_age_s=stats.oldest_age_s)


async def run_scheduler(settings: Settings, stop: asyncio.Event | None = None) -> None:
    runtime = Runtime.create(settings)
    scheduler = Scheduler(runtime)
    apscheduler = AsyncIOScheduler(timezone="UTC")
    apscheduler.add_job(
        scheduler.sweep_outbox, "interval", seconds=SWEEP_SECONDS, max_instances=1, coalesce=True
    )
    apscheduler.add_job(
        scheduler.resend_lost, "interval", seconds=LOST_SECONDS, max_instances=1, coalesce=True
    )
    apscheduler.add_job(scheduler.hourly_maintenance, "cron", minute=7, max_instances=1, coalesce=True)
    apscheduler.add_job(scheduler.refresh_due_slas, "cron", second=30, max_instances=1, coalesce=True)
    apscheduler.add_job(scheduler.detect_sla_alerts, "cron", second=40, max_instances=1, coalesce=True)
    apscheduler.add_job(scheduler.sweep_webhooks, "cron", second=50, max_instances=1, coalesce=True)
    apscheduler.add_job(scheduler.sweep_mail, "cron", second=55, max_instances=1, coalesce=True)
    apscheduler.add_job(scheduler.follow_up_escalations, "cron", second=20, max_instances=1, coalesce=True)
    apscheduler.add_job(scheduler.notify_staff, "cron", second=25, max_instances=1, coalesce=True)
    apscheduler.add_job(scheduler.month_end_runs, "cron", minute=11, max_instances=1, coalesce=True)
    apscheduler.add_job(scheduler.client_reports, "cron", minute="1,16,31,46", max_instances=1, coalesce=True)
    apscheduler.add_job(
        scheduler.reconcile_stripe, "cron", hour=19, minute=23, max_instances=1, coalesce=True
    )
    apscheduler.add_job(
        scheduler.report_queues, "interval", seconds=QUEUE_STATS_SECONDS, max_instances=1, coalesce=True
    )
    apscheduler.start()
    log.info("scheduler_started", identity=scheduler.identity)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        apscheduler.shutdown(wait=False)
        await runtime.close()
