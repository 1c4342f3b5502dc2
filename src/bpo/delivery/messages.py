"""Outgoing mail: queued in the caller's transaction, sent by a job, with a delivery log and retries.

``queue_message`` stores one message per (kind, subject object, period, recipient) — queuing it again
stores and sends nothing more — together with its ``mail.send`` job in the outbox. The job locks the
message (``FOR UPDATE SKIP LOCKED``) and sends only while it is pending and due, recording the attempt in
the same transaction, so duplicate jobs send once. A transient failure (the server down, a 4xx reply)
leaves the message pending with its error and the instant of its next attempt, which ``mail.sweep_due``
(every minute, from the scheduler) turns into a job: nothing waits only in memory, and a server that is
down for a while gets the message when it is back. A permanent failure (a 5xx reply, a refused
recipient) ends it as failed with the server's reply, as does a schedule used up; an operator can retry
a failed message through the API. Each message carries a stable ``Message-ID`` built from its id, so a
receiver can tell the rare duplicate (a worker that died between the server's answer and its commit).
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core import audit, i18n, mail
from bpo.core.errors import Conflict, NotFound, field_error, raise_if
from bpo.core.jobs import outbox
from bpo.core.jobs.registry import MAIL_QUEUE, SEND_MAIL_JOB
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Scope
from bpo.delivery import schemas
from bpo.delivery.models import Message, MessageAttachment
from bpo.delivery.webhooks import database_now, enqueue_due, retry_delay
from bpo.settings import Settings
from bpo.tenancy import service as tenancy

log = structlog.get_logger("bpo.mail")

# Waits after failed attempts 1, 2, …: about three days in all, then the message has failed.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=12),
    timedelta(hours=24),
    timedelta(hours=24),
)
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ADDRESS = re.compile(r"^[^@\s<>,;:\"()\[\]\\]+@[^@\s<>,;:\"()\[\]\\]+\.[^@\s<>,;:\"()\[\]\\]+\Z")
TEST_KIND = "mail.test"
NOT_CONFIGURED = "no SMTP server is configured: set BPO_SMTP_URL"


# --- queuing ------------------------------------------------------------------------------------


async def queue_message(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    kind: str,
    subject_type: str,
    subject_id: uuid.UUID,
    period: str,
    recipient: str,
    subject: str,
    text: str,
    html: str | None,
    attachments: Sequence[mail.Attachment] = (),
) -> uuid.UUID:
    """Store a message and its send job in the caller's transaction; the id of the one stored before for
    the same kind, subject object, period and recipient, if there is one (then nothing new is sent)."""
    errors = []
    if not ADDRESS.match(recipient) or len(recipient) > 254:
        errors.append(field_error("recipient", "must be one e-mail address like name@example.com"))
    if "\n" in subject or "\r" in subject or not subject.strip() or len(subject) > 500:
        errors.append(field_error("subject", "must be one line of 1 to 500 characters"))
    if sum(len(a.content) for a in attachments) > MAX_ATTACHMENT_BYTES:
        errors.append(field_error("attachments", f"may hold at most {MAX_ATTACHMENT_BYTES} bytes in all"))
    raise_if(errors, what="The message cannot be sent")
    message_id = new_id()
    inserted = await session.scalar(
        insert(Message)
        .values(
            tenant_id=tenant_id,
            id=message_id,
            kind=kind,
            subject_type=subject_type,
            subject_id=subject_id,
            period=period,
            recipient=recipient,
            subject=subject,
            text_body=text,
            html_body=html,
            status="pending",
            attempts=0,
            next_attempt_at=func.now(),
            enqueued_at=func.now(),
        )
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "kind", "subject_type", "subject_id", "period", "recipient"]
        )
        .returning(Message.id)
    )
    if inserted is None:
        existing = await session.scalar(
            select(Message.id).where(
                Message.tenant_id == tenant_id,
                Message.kind == kind,
                Message.subject_type == subject_type,
                Message.subject_id == subject_id,
                Message.period == period,
                Message.recipient == recipient,
            )
        )
        assert existing is not None
        return existing
    session.add_all(
        MessageAttachment(
            tenant_id=tenant_id,
            id=new_id(),
            message_id=message_id,
            position=position,
            filename=attachment.filename,
            mime_type=attachment.mime_type,
            content=attachment.content,
        )
        for position, attachment in enumerate(attachments)
    )
    outbox.enqueue(session, tenant_id, SEND_MAIL_JOB, queue=MAIL_QUEUE, message_id=str(message_id))
    await session.flush()
    return message_id


async def queue_test_message(
    session: AsyncSession, scope: Scope, to: str, settings: Settings
) -> schemas.Message:
    """A short mail to ``to`` that shows the SMTP setup works; a new one on every request."""
    tenant = await tenancy.tenant_settings(session, scope)
    context = {
        "subject": "Test message from BPO Ops",
        "public_url": settings.public_base_url,
        "dashboard_url": mail.absolute_url(settings.public_base_url, "/dashboard"),
        "tenant_name": tenant.name,
        "requested_by": "An administrator",
    }
    templates = mail.mail_templates("bpo.delivery")
    now = await database_now(session)
    message_id = await queue_message(
        session,
        scope.tenant_id,
        TEST_KIND,
        "principal",
        scope.principal_id,
        now.astimezone(UTC).isoformat(timespec="microseconds"),
        to,
        context["subject"],
        i18n.render(templates, "mail/test.txt", "en", **context),
        i18n.render(templates, "mail/test.html", "en", **context),
    )
    audit.append(
        session,
        tenant_id=scope.tenant_id,
        actor_id=scope.user_id,
        action="message.test_queued",
        object_type="message",
        object_id=message_id,
        to=to,
    )
    return await get_message(session, scope, message_id)


# --- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendPolicy:
    server: mail.SmtpServer | None
    sender: str
    schedule: Sequence[timedelta] = RETRY_SCHEDULE
    timeout_s: float = mail.TIMEOUT_S
    jitter: Callable[[], float] = field(default=random.random)

    @classmethod
    def from_settings(cls, settings: Settings) -> SendPolicy:
        url = settings.smtp_url
        server = mail.SmtpServer.from_url(url.get_secret_value()) if url is not None else None
        return cls(server=server, sender=settings.mail_from)


async def _attachments(session: AsyncSession, message: Message) -> list[mail.Attachment]:
    rows = await session.scalars(
        select(MessageAttachment)
        .where(MessageAttachment.tenant_id == message.tenant_id, MessageAttachment.message_id == message.id)
        .order_by(MessageAttachment.position)
    )
    return [mail.Attachment(r.filename, r.content, r.mime_type) for r in rows]


async def send_message(
    session: AsyncSession, scope: Scope, message_id: uuid.UUID, *, now: datetime, policy: SendPolicy
) -> str | None:
    """Make the message's due attempt; its status afterwards, or None when there was nothing to do
    (another job holds it, it was sent or failed, or its next attempt is not due)."""
    message = await session.scalar(
        select(Message)
        .where(Message.tenant_id == scope.tenant_id, Message.id == message_id)
        .with_for_update(skip_locked=True)
    )
    if message is None or message.status != "pending":
        return None
    # A first attempt is always due; a later one only from its scheduled instant, so a duplicate job
    # cannot cut a backoff short.
    if message.attempts and (message.next_attempt_at is None or message.next_attempt_at > now):
        return None
    message.enqueued_at = None
    message.attempts += 1
    message.last_attempt_at = now
    failure: mail.MailFailure | None = None
    if policy.server is None:
        failure = mail.TransientFailure(NOT_CONFIGURED)
    else:
        outgoing = mail.Mail(
            sender=policy.sender,
            recipient=message.recipient,
            subject=message.subject,
            text=message.text_body,
            html=message.html_body,
            attachments=await _attachments(session, message),
            headers=((mail.TENANT_HEADER, str(message.tenant_id)), (mail.MESSAGE_HEADER, str(message.id))),
            message_id=str(message.id),
        )
        try:
            await mail.send(policy.server, outgoing, timeout_s=policy.timeout_s)
        except mail.MailFailure as error:
            failure = error
    if failure is None:
        message.status = "sent"
        message.sent_at = now
        message.next_attempt_at = None
        message.last_error = None
    elif isinstance(failure, mail.PermanentFailure):
        _fail(message, now, failure.reason)
    else:
        message.last_error = failure.reason
        delay = retry_delay(message.attempts, policy.schedule, policy.jitter())
        if delay is None:
            _fail(message, now, f"gave up after {message.attempts} attempts: {failure.reason}")
        else:
            message.next_attempt_at = now + delay
    log.info(
        "mail_attempt",
        message_id=str(message.id),
        kind=message.kind,
        attempt=message.attempts,
        status=message.status,
        error=message.last_error,
    )
    await session.flush()
    return message.status


def _fail(message: Message, now: datetime, reason: str) -> None:
    message.status = "failed"
    message.failed_at = now
    message.next_attempt_at = None
    message.last_error = reason[: mail.ERROR_LIMIT]


async def sweep_due(session: AsyncSession, scope: Scope, *, now: datetime, limit: int = 500) -> int:
    """Enqueue a job for each pending message whose next attempt is due and has no job in flight."""
    return await enqueue_due(
        session, scope, Message, SEND_MAIL_JOB, MAIL_QUEUE, "message_id", now=now, limit=limit
    )


# --- the delivery log ---------------------------------------------------------------------------


async def _attachment_views(
    session: AsyncSession, scope: Scope, messages: Sequence[Message]
) -> dict[uuid.UUID, list[schemas.MessageAttachment]]:
    views: dict[uuid.UUID, list[schemas.MessageAttachment]] = {m.id: [] for m in messages}
    if not messages:
        return views
    rows = await session.execute(
        select(
            MessageAttachment.message_id,
            MessageAttachment.filename,
            MessageAttachment.mime_type,
            func.octet_length(MessageAttachment.content),
        )
        .where(MessageAttachment.tenant_id == scope.tenant_id, MessageAttachment.message_id.in_(views))
        .order_by(MessageAttachment.message_id, MessageAttachment.position)
    )
    for message_id, filename, mime_type, size in rows.all():
        views[message_id].append(schemas.MessageAttachment(filename=filename, mime_type=mime_type, size=size))
    return views


def _view(message: Message, attachments: list[schemas.MessageAttachment]) -> schemas.Message:
    return schemas.Message(
        id=message.id,
        kind=message.kind,
        subject_type=message.subject_type,
        subject_id=message.subject_id,
        period=message.period,
        to=message.recipient,
        subject=message.subject,
        status=message.status,  # type: ignore[arg-type]
        attempts=message.attempts,
        last_error=message.last_error,
        next_attempt_at=message.next_attempt_at,
        last_attempt_at=message.last_attempt_at,
        created_at=message.created_at,
        sent_at=message.sent_at,
        failed_at=message.failed_at,
        attachments=attachments,
    )


async def list_messages(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    status: schemas.MessageStatus | None = None,
    kind: str | None = None,
    recipient: str | None = None,
) -> schemas.MessagePage:
    statement = select(Message).where(Message.tenant_id == scope.tenant_id)
    if status is not None:
        statement = statement.where(Message.status == status)
    if kind is not None:
        statement = statement.where(Message.kind == kind)
    if recipient is not None:
        statement = statement.where(func.lower(Message.recipient) == recipient.lower())
    rows, next_cursor = await paginate(session, statement, Message.id, limit=limit, cursor=cursor)
    attachments = await _attachment_views(session, scope, rows)
    return schemas.MessagePage(items=[_view(m, attachments[m.id]) for m in rows], next_cursor=next_cursor)


async def _row(
    session: AsyncSession, scope: Scope, message_id: uuid.UUID, *, for_update: bool = False
) -> Message:
    statement = select(Message).where(Message.tenant_id == scope.tenant_id, Message.id == message_id)
    message = await session.scalar(statement.with_for_update() if for_update else statement)
    if message is None:
        raise NotFound(f"Message {message_id} not found.")
    return message


async def get_message(session: AsyncSession, scope: Scope, message_id: uuid.UUID) -> schemas.Message:
    message = await _row(session, scope, message_id)
    return _view(message, (await _attachment_views(session, scope, [message]))[message.id])


async def retry(session: AsyncSession, scope: Scope, message_id: uuid.UUID) -> schemas.Message:
    """Send a failed message again (same content and attachments), with a fresh retry schedule."""
    message = await _row(session, scope, message_id, for_update=True)
    if message.status != "failed":
        raise Conflict(
            f"Only a failed message can be retried; this one is {message.status}.", slug="not-failed"
        )
    now = await database_now(session)
    message.status = "pending"
    message.attempts = 0
    message.failed_at = None
    message.next_attempt_at = now
    message.enqueued_at = now
    outbox.enqueue(session, scope.tenant_id, SEND_MAIL_JOB, queue=MAIL_QUEUE, message_id=str(message.id))
    audit.append(
        session,
        tenant_id=scope.tenant_id,
        actor_id=scope.user_id,
        action="message.retried",
        object_type="message",
        object_id=message.id,
        last_error=message.last_error,
    )
    await session.flush()
    return await get_message(session, scope, message.id)
