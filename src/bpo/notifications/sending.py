"""Telling people what changed for them: each person's pending notices, gathered into one mail in their
language and on their clock, and posted to their own chat bridge as one signed webhook.

The scheduler's ``notifications.sweep`` (every minute, per tenant) first writes the lateness notices that
have come due, then sends, per person, the notices that are ready: nothing new for ``QUIET`` (so a week
published at once, or a run of edits, is one mail), or the oldest waiting ``LONGEST``. A person's notices
are locked, stored as one batch and marked with it in the sweep's transaction, together with the mail
(``delivery.messages``, keyed by the batch) and the webhook's job, so a sweep run twice sends nothing
twice. Each person is handled in a savepoint of their own: one that fails (listed in
``GET /v1/job-failures``) leaves the others told and their own notices waiting for the next sweep.

A notice no longer worth reading is dropped from its batch: a claim that is no longer waiting (a
supervisor got to it), a shift added or cancelled by the swap or claim whose decision the same batch
tells. A mail failure is in the delivery log (``GET /v1/messages``); the webhook's last delivery, with its
error, in the person's preferences.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import structlog
from babel.dates import get_timezone_location
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.core import i18n, mail
from bpo.core.i18n import N_, Lang, Language
from bpo.core.jobs import outbox
from bpo.core.jobs.failures import Failures
from bpo.core.jobs.registry import DELIVER_NOTICE_WEBHOOK_JOB, WEBHOOK_QUEUE
from bpo.core.orm import new_id
from bpo.core.scope import Role, Scope
from bpo.delivery import messages, webhooks
from bpo.notifications import service
from bpo.notifications.models import NoticeBatch
from bpo.settings import Settings
from bpo.staffing import notices
from bpo.staffing.notices import Notice
from bpo.tenancy import service as tenancy
from bpo.tenancy import users as tenancy_users

log = structlog.get_logger("bpo.notifications")

MESSAGE_KIND = "staff.notices"
SUBJECT_TYPE = "notice_batch"
EVENT_TYPE = "staff.notices"
QUIET = timedelta(seconds=60)
SUBJECT_LIMIT = 200
LONGEST = timedelta(minutes=5)
TEMPLATES = mail.mail_templates("bpo.notifications")
MY_SHIFTS = "/dashboard/me/shifts"
APPROVALS = "/dashboard/approvals"
ROSTER = "/dashboard/roster"
PREFERENCES = "/dashboard/account/notifications"

# The order a mail tells things in, each under its heading.
SECTIONS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        N_("Decisions on your requests"),
        frozenset({notices.CLAIM_DECIDED, notices.SWAP_DECIDED, notices.TIME_OFF_DECIDED}),
    ),
    (N_("New shifts for you"), frozenset({notices.SHIFT_PUBLISHED, notices.SHIFT_ADDED})),
    (N_("Changed shifts"), frozenset({notices.SHIFT_CHANGED})),
    (N_("Shifts you are no longer on"), frozenset({notices.SHIFT_CANCELLED})),
    (N_("Claims waiting for your approval"), frozenset({notices.CLAIM_WAITING})),
    (N_("Not clocked in"), frozenset({notices.LATE})),
)
DECISIONS = {
    (notices.CLAIM_DECIDED, "approved"): N_("Your claim is approved, the shift is yours: %(shift)s"),
    (notices.CLAIM_DECIDED, "declined"): N_("Your claim is not approved: %(shift)s"),
    (notices.SWAP_DECIDED, "approved"): N_("The swap is approved: %(shift)s"),
    (notices.SWAP_DECIDED, "rejected"): N_("The swap is not approved: %(shift)s"),
    (notices.SWAP_DECIDED, "declined"): N_("Your colleague declined your swap: %(shift)s"),
    (notices.TIME_OFF_DECIDED, "approved"): N_("Your time off is approved: %(start)s to %(end)s"),
    (notices.TIME_OFF_DECIDED, "rejected"): N_("Your time off is not approved: %(start)s to %(end)s"),
}
# Shift notices that a decision in the same batch already tells.
COVERED_BY_DECISIONS = frozenset({notices.SHIFT_ADDED, notices.SHIFT_CANCELLED})


@dataclass(frozen=True, slots=True)
class Reader:
    user_id: uuid.UUID
    email: str
    language: Language
    time_zone: str


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    lines: list[str]


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


# --- who is told what ------------------------------------------------------------------------------


async def supervisor_ids(session: AsyncSession, scope: Scope) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await tenancy_users.list_users(session, scope, limit=200, cursor=cursor, role=Role.SUPERVISOR)
        found += [user.id for user in page.items if user.is_active]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def _reader(session: AsyncSession, scope: Scope, user_id: uuid.UUID) -> Reader | None:
    """The person with their language and clock (their staff profile's home zone, else the tenant's);
    None when they can no longer sign in."""
    user = await tenancy_users.get_user(session, scope, user_id)
    if not user.is_active:
        return None
    tenant = await tenancy.tenant_settings(session, scope)
    zone = await notices.home_zone_of_user(session, scope, user_id) or tenant.time_zone
    return Reader(user_id, user.email, user.language or tenant.default_language, zone)


async def _worth_telling(session: AsyncSession, scope: Scope, pending: Sequence[Notice]) -> list[Notice]:
    waiting = await notices.pending_claims(
        session, scope, [n.subject_id for n in pending if n.kind == notices.CLAIM_WAITING and n.subject_id]
    )
    decided = {n.shift_id for n in pending if n.kind in (notices.CLAIM_DECIDED, notices.SWAP_DECIDED)}
    kept = []
    for notice in pending:
        if notice.kind == notices.CLAIM_WAITING and notice.subject_id not in waiting:
            continue
        if notice.kind in COVERED_BY_DECISIONS and notice.shift_id in decided:
            continue
        kept.append(notice)
    return kept


# --- words -------------------------------------------------------------------------------------------


def _clock(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%H:%M")


def when(start: datetime, end: datetime, lang: Lang, time_zone: str) -> str:
    """``12月7日(月) 09:00-18:00`` / ``Mon 7 Dec 09:00-18:00`` (an en dash between); an end on another day
    says its day."""
    zone = ZoneInfo(time_zone)
    first, last = start.astimezone(zone), end.astimezone(zone)
    text = f"{lang.day(first.date(), 'weekday')} {_clock(start, zone)}\N{EN DASH}"
    if last.date() != first.date():
        text += f"{lang.day(last.date(), 'weekday')} "
    return text + _clock(end, zone)


@dataclass(frozen=True, slots=True)
class Words:
    lang: Lang
    time_zone: str
    contracts: dict[uuid.UUID, str]
    people: dict[uuid.UUID, notices.Person]
    late_after_minutes: int

    def shift(self, notice: Notice) -> str:
        contract = self.contracts.get(notice.contract_id, "") if notice.contract_id else ""
        if notice.starts_at is None or notice.ends_at is None:
            return contract
        moment = when(notice.starts_at, notice.ends_at, self.lang, self.time_zone)
        return f"{contract}, {moment}" if contract else moment

    def period(self, start: datetime, end: datetime) -> tuple[str, str]:
        """Time off from midnight to midnight on the reader's clock as its first and last days; any other
        as the two instants."""
        zone = ZoneInfo(self.time_zone)
        first, last = start.astimezone(zone), end.astimezone(zone)
        if first.time() == last.time() == datetime.min.time():
            return self.lang.day(first.date()), self.lang.day((last - timedelta(days=1)).date())
        return self.lang.moment(start, self.time_zone), self.lang.moment(end, self.time_zone)

    def person(self, notice: Notice) -> str:
        found = self.people.get(notice.staff_id) if notice.staff_id else None
        return found.name if found else self.lang.gettext("Someone")

    def line(self, notice: Notice) -> str:
        gettext = self.lang.gettext
        if (notice.kind, notice.outcome) in DECISIONS:
            message = DECISIONS[(notice.kind, notice.outcome or "")]
            if notice.kind == notices.TIME_OFF_DECIDED:
                assert notice.starts_at is not None
                assert notice.ends_at is not None
                start, end = self.period(notice.starts_at, notice.ends_at)
                text = gettext(message, start=start, end=end)
            else:
                text = gettext(message, shift=self.shift(notice))
                if (
                    notice.kind == notices.SWAP_DECIDED
                    and notice.previous_starts_at
                    and notice.previous_ends_at
                ):
                    other = when(
                        notice.previous_starts_at, notice.previous_ends_at, self.lang, self.time_zone
                    )
                    text += " " + gettext("(in exchange for %(other)s)", other=other)
            if notice.note:
                text += " " + gettext("(Note: %(note)s)", note=notice.note)
            return text
        if notice.kind == notices.SHIFT_CHANGED:
            if (
                notice.previous_starts_at
                and notice.previous_ends_at
                and (
                    notice.previous_starts_at != notice.starts_at or notice.previous_ends_at != notice.ends_at
                )
            ):
                before = when(notice.previous_starts_at, notice.previous_ends_at, self.lang, self.time_zone)
                return gettext("%(shift)s (was %(before)s)", shift=self.shift(notice), before=before)
            return gettext("%(shift)s: the place or way of working changed", shift=self.shift(notice))
        if notice.kind == notices.CLAIM_WAITING:
            return gettext("%(name)s claims %(shift)s", name=self.person(notice), shift=self.shift(notice))
        if notice.kind == notices.LATE:
            return gettext(
                "%(name)s had not clocked in %(minutes)s minutes after the start of %(shift)s",
                name=self.person(notice),
                minutes=self.late_after_minutes,
                shift=self.shift(notice),
            )
        return self.shift(notice)


def sections(told: Sequence[Notice], words: Words) -> list[Section]:
    found = []
    for heading, kinds in SECTIONS:
        lines = [words.line(n) for n in sorted(told, key=_order) if n.kind in kinds]
        if lines:
            found.append(Section(words.lang.gettext(heading), lines))
    return found


def _order(notice: Notice) -> tuple[datetime, datetime]:
    return (notice.starts_at or notice.created_at, notice.created_at)


def links(told: Sequence[Notice], lang: Lang, base: str) -> list[Link]:
    kinds = {n.kind for n in told}
    found = []
    if kinds - {notices.CLAIM_WAITING, notices.LATE}:
        found.append(Link(lang.gettext("My shifts"), mail.absolute_url(base, MY_SHIFTS)))
    if notices.CLAIM_WAITING in kinds:
        found.append(Link(lang.gettext("Approvals"), mail.absolute_url(base, APPROVALS)))
    if notices.LATE in kinds:
        found.append(Link(lang.gettext("Roster"), mail.absolute_url(base, ROSTER)))
    return found


def subject(told: Sequence[Notice], words: Words) -> str:
    """One notice: what it says (under its heading, unless a decision says it all); several: how many."""
    if len(told) == 1:
        line = words.line(told[0])
        heading = next(h for h, kinds in SECTIONS if told[0].kind in kinds)
        text = (
            words.lang.gettext("%(heading)s: %(line)s", heading=words.lang.gettext(heading), line=line)
            if told[0].kind not in {k for k, _ in DECISIONS}
            else line
        )
        return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return words.lang.ngettext(
        "%(num)s update about shifts", "%(num)s updates about shifts", len(told), num=len(told)
    )


async def _words(session: AsyncSession, scope: Scope, reader: Reader, told: Sequence[Notice]) -> Words:
    return Words(
        lang=i18n.lang(reader.language),
        time_zone=reader.time_zone,
        contracts=await contracts.contract_names(
            session, scope, {n.contract_id for n in told if n.contract_id}
        ),
        people=await notices.people(session, scope, {n.staff_id for n in told if n.staff_id}),
        late_after_minutes=await service.late_after_minutes(session, scope),
    )


def render(told: Sequence[Notice], words: Words, reader: Reader, settings: Settings) -> tuple[str, str, str]:
    """(subject, text, HTML) of the mail telling ``told``."""
    base = settings.public_base_url
    title = subject(told, words)
    context: dict[str, Any] = {
        "subject": title,
        "public_url": base,
        "sections": sections(told, words),
        "links": links(told, words.lang, base),
        "preferences_url": mail.absolute_url(base, PREFERENCES),
        "city": str(
            get_timezone_location(
                ZoneInfo(reader.time_zone), locale=i18n.DATE_LOCALES[reader.language], return_city=True
            )
        ),
    }
    text = i18n.render(TEMPLATES, "mail/staff_notices.txt", reader.language, **context)
    html = i18n.render(TEMPLATES, "mail/staff_notices.html", reader.language, **context)
    return title, text, html


def _notice_data(notice: Notice, words: Words) -> dict[str, Any]:
    def instant(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    person = words.people.get(notice.staff_id) if notice.staff_id else None
    return {
        "kind": notice.kind,
        "text": words.line(notice),
        "shift_id": str(notice.shift_id) if notice.shift_id else None,
        "contract_id": str(notice.contract_id) if notice.contract_id else None,
        "contract_name": words.contracts.get(notice.contract_id) if notice.contract_id else None,
        "starts_at": instant(notice.starts_at),
        "ends_at": instant(notice.ends_at),
        "previous_starts_at": instant(notice.previous_starts_at),
        "previous_ends_at": instant(notice.previous_ends_at),
        "staff_id": str(notice.staff_id) if notice.staff_id else None,
        "staff_name": person.name if person else None,
        "request_id": str(notice.subject_id) if notice.subject_id else None,
        "outcome": notice.outcome,
        "note": notice.note or None,
    }


# --- the sweep -----------------------------------------------------------------------------------


async def tell(
    session: AsyncSession, scope: Scope, user_id: uuid.UUID, settings: Settings, now: datetime
) -> NoticeBatch | None:
    """Send the person's pending notices as one batch; None when another sweep holds them."""
    pending = await notices.take_pending(session, scope, user_id)
    if not pending:
        return None
    reader = await _reader(session, scope, user_id)
    told = await _worth_telling(session, scope, pending) if reader is not None else []
    preferences = await service.preferences_of(session, scope, user_id)
    batch = NoticeBatch(
        tenant_id=scope.tenant_id, id=new_id(), user_id=user_id, notices=len(told), status="none"
    )
    if reader is not None and told:
        words = await _words(session, scope, reader, told)
        mailed = [n for n in told if preferences.mails(n.kind)]
        if mailed:
            title, text, html = render(mailed, words, reader, settings)
            batch.message_id = await messages.queue_message(
                session,
                scope.tenant_id,
                MESSAGE_KIND,
                SUBJECT_TYPE,
                batch.id,
                "",
                reader.email,
                title,
                text,
                html,
            )
        hook = preferences.webhook
        if hook is not None:
            batch.webhook_url = hook[0]
            batch.body = {
                "id": str(batch.id),
                "type": EVENT_TYPE,
                "created_at": now.isoformat(),
                "tenant": str(scope.tenant_id),
                "data": {
                    "user_id": str(user_id),
                    "language": reader.language,
                    "time_zone": reader.time_zone,
                    "subject": subject(told, words),
                    "url": mail.absolute_url(settings.public_base_url, MY_SHIFTS),
                    "notices": [_notice_data(n, words) for n in sorted(told, key=_order)],
                },
            }
            batch.status = "pending"
            batch.next_attempt_at = now
            batch.enqueued_at = now
    session.add(batch)
    await session.flush()
    if batch.status == "pending":
        outbox.enqueue(
            session, scope.tenant_id, DELIVER_NOTICE_WEBHOOK_JOB, queue=WEBHOOK_QUEUE, batch_id=str(batch.id)
        )
    await notices.mark_batched(session, scope, [n.id for n in pending], batch.id)
    log.info(
        "notices_sent",
        user_id=str(user_id),
        notices=len(pending),
        told=len(told),
        mailed=batch.message_id is not None,
        webhook=batch.status == "pending",
    )
    return batch


async def sweep(
    session: AsyncSession, scope: Scope, now: datetime, settings: Settings, failures: Failures
) -> int:
    """Lateness come due, then every person whose notices are ready; the number of people told."""
    late_after = timedelta(minutes=await service.late_after_minutes(session, scope))
    await notices.record_late(session, scope, now, late_after, await supervisor_ids(session, scope))
    told = 0
    for user_id in await notices.due_recipients(session, scope, now, quiet=QUIET, longest=LONGEST):
        async with failures.isolated(session, "user", user_id):
            if await tell(session, scope, user_id, settings, now) is not None:
                told += 1
    await webhooks.enqueue_due(
        session, scope, NoticeBatch, DELIVER_NOTICE_WEBHOOK_JOB, WEBHOOK_QUEUE, "batch_id", now=now, limit=500
    )
    return told


# --- the webhook ---------------------------------------------------------------------------------


async def deliver_webhook(
    session: AsyncSession,
    scope: Scope,
    batch_id: uuid.UUID,
    *,
    now: datetime,
    policy: webhooks.DeliveryPolicy,
) -> str | None:
    """Make the batch's due webhook attempt, signed with the person's current secret; its status after, or
    None when there was nothing to do (another job holds it, it is settled, or not due yet)."""
    batch = await session.scalar(
        select(NoticeBatch)
        .where(NoticeBatch.tenant_id == scope.tenant_id, NoticeBatch.id == batch_id)
        .with_for_update(skip_locked=True)
    )
    if batch is None or batch.status != "pending" or batch.body is None or batch.webhook_url is None:
        return None
    if batch.attempts and (batch.next_attempt_at is None or batch.next_attempt_at > now):
        return None
    batch.enqueued_at = None
    hook = (await service.preferences_of(session, scope, batch.user_id)).webhook
    if hook is None:
        batch.status = "failed"
        batch.next_attempt_at = None
        batch.last_error = "the webhook was turned off before it could be delivered"
        return batch.status
    url, secret = hook
    batch.attempts += 1
    batch.last_attempt_at = now
    body = msgspec.json.encode(batch.body)
    response = await webhooks.post_signed(url, body, secret, batch.id, batch.attempts, policy)
    batch.last_status_code = response.status_code
    batch.last_error = response.error
    if response.ok:
        batch.status = "succeeded"
        batch.succeeded_at = now
        batch.next_attempt_at = None
    else:
        delay = webhooks.retry_delay(batch.attempts, policy.schedule, policy.jitter())
        batch.next_attempt_at = None if delay is None else now + delay
        if delay is None:
            batch.status = "failed"
    log.info(
        "notice_webhook_attempt",
        batch_id=str(batch.id),
        attempt=batch.attempts,
        status=batch.status,
        status_code=response.status_code,
    )
    await session.flush()
    return batch.status
