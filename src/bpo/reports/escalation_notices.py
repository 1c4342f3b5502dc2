"""Escalation notices: what the client's people and the operator hear of an escalation, by mail and by signed
webhook. Escalations live in ``work`` (floor 4), which sends nothing; it queues ``escalations.notify`` by
name, and the sweep ``escalations.sweep`` runs here, above both ``work`` and ``delivery``.

- Raised: each recipient of the contract's rule for the severity (the client's viewers unless turned off,
  and its extra addresses) gets a mail in their language (a viewer's own, else the client's, else the
  tenant's) with a one-click acknowledgement link of their own; ``escalation.raised`` goes out.
- Not acknowledged by its target: it turns overdue once, the operator's account managers and supervisors
  (its admins when it has neither) are mailed and ``escalation.overdue`` goes out; the client is reminded
  once per target interval, at most ``escalations.MAX_NOTICES`` notices in all.
- Acknowledged, resolved: ``escalation.acknowledged``, ``escalation.resolved``.

A message is stored once per kind, escalation, notice and recipient (``delivery.messages``), so a job run
twice sends nothing twice. One recipient's bad address (one an older release let in) is recorded as the
job's failure for that escalation and the others are still told; the sweep takes each escalation in a
savepoint of its own, so one that fails leaves the others followed up.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import service as clients
from bpo.core import i18n, mail
from bpo.core.i18n import N_, Language
from bpo.core.jobs.failures import Failures
from bpo.core.scope import Role, Scope
from bpo.delivery import messages, webhooks
from bpo.settings import Settings
from bpo.tenancy import schemas as tenancy_schemas
from bpo.tenancy import service as tenancy
from bpo.tenancy import users as tenancy_users
from bpo.work import escalation_links, escalation_rules, escalations
from bpo.work import escalations_schemas as schemas

log = structlog.get_logger("bpo.escalations")

NOTICE_KIND = "escalation.notice"
OVERDUE_KIND = "escalation.overdue"
SUBJECT_TYPE = escalations.ESCALATION
EVENT_TYPES = {
    escalations.RAISED: "escalation.raised",
    "overdue": "escalation.overdue",
    escalations.ACKNOWLEDGED: "escalation.acknowledged",
    escalations.RESOLVED: "escalation.resolved",
}
SEVERITIES = {"critical": N_("Critical"), "high": N_("High"), "normal": N_("Normal")}
STATES = {
    "open": N_("Waiting for acknowledgement"),
    "overdue": N_("Overdue"),
    "acknowledged": N_("Acknowledged"),
    "resolved": N_("Resolved"),
}
EVENTS = {
    "raised": N_("Raised"),
    "notified": N_("Client told"),
    "reminded": N_("Client reminded"),
    "overdue": N_("Not acknowledged in time: operator alerted"),
    "acknowledged": N_("Acknowledged"),
    "resolved": N_("Resolved"),
}
TEMPLATES = mail.mail_templates("bpo.reports")


@dataclass(frozen=True, slots=True)
class Reader:
    address: str
    language: Language
    # A user who can sign in (and so open the dashboard's page of it).
    signs_in: bool


def dashboard_path(escalation_id: uuid.UUID) -> str:
    return f"/dashboard/escalations/{escalation_id}"


def acknowledge_path(token: str, language: Language) -> str:
    """The page of a mailed link, in the mail's language."""
    return f"/dashboard/acknowledge/{token}?lang={language}"


async def _users(session: AsyncSession, scope: Scope, role: Role) -> list[tenancy_schemas.User]:
    found: list[tenancy_schemas.User] = []
    cursor = None
    while True:
        page = await tenancy_users.list_users(session, scope, limit=200, cursor=cursor, role=role)
        found += [user for user in page.items if user.is_active]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def _unique(readers: Sequence[Reader]) -> list[Reader]:
    seen: dict[str, Reader] = {}
    for reader in readers:
        seen.setdefault(reader.address.lower(), reader)
    return list(seen.values())


async def client_readers(
    session: AsyncSession, scope: Scope, escalation: schemas.Escalation, rule: escalation_rules.Rule
) -> tuple[list[Reader], Language]:
    """Who at the client the rule tells, each with their language; and the client's language."""
    client = await clients.get_client_row(session, scope, escalation.client_id)
    tenant_language = (await tenancy.tenant_settings(session, scope)).default_language
    language: Language = client.language if i18n.is_language(client.language) else tenant_language
    readers = []
    if rule.notify_viewers:
        readers += [
            Reader(user.email, user.language or language, True)
            for user in await _users(session, scope, Role.CLIENT_VIEWER)
            if user.client_id == escalation.client_id
        ]
    readers += [Reader(address, language, False) for address in rule.extra_recipients]
    return _unique(readers), language


async def operator_readers(session: AsyncSession, scope: Scope) -> list[Reader]:
    """The operator's account managers and supervisors; its admins when it has neither."""
    tenant_language = (await tenancy.tenant_settings(session, scope)).default_language
    people = [
        *await _users(session, scope, Role.ACCOUNT_MANAGER),
        *await _users(session, scope, Role.SUPERVISOR),
    ] or await _users(session, scope, Role.ADMIN)
    return _unique([Reader(user.email, user.language or tenant_language, True) for user in people])


def severity_word(severity: str, language: Language) -> str:
    return i18n.lang(language).gettext(SEVERITIES[severity])


def _context(
    escalation: schemas.Escalation, operator: str, time_zone: str, settings: Settings, subject: str
) -> dict[str, object]:
    return {
        "subject": subject,
        "escalation": escalation,
        "operator": operator,
        "time_zone": time_zone,
        "public_url": settings.public_base_url,
        "page_url": mail.absolute_url(settings.public_base_url, dashboard_path(escalation.id)),
        "SEVERITIES": SEVERITIES,
    }


async def tell_client(
    session: AsyncSession,
    scope: Scope,
    notice: escalations.Notice,
    settings: Settings,
    failures: Failures,
    now: datetime,
) -> int:
    """Mail the notice (the first, or a reminder) to each recipient of the rule, each with a link of
    their own; the number of recipients mailed."""
    escalation = notice.escalation
    readers, _ = await client_readers(session, scope, escalation, notice.rule)
    if not readers:
        log.warning("escalation_without_recipients", escalation_id=str(escalation.id))
        return 0
    number = escalation.notices + 1
    operator = (await tenancy.tenant_settings(session, scope)).name
    client = await clients.get_client_row(session, scope, escalation.client_id)
    sent = []
    for reader in readers:
        async with failures.isolated(session, SUBJECT_TYPE, escalation.id):
            token, expires_at = await escalation_links.issue_link(
                session, scope, escalation.id, reader.address, now
            )
            words = i18n.lang(reader.language)
            values = {
                "severity": severity_word(escalation.severity, reader.language),
                "operator": operator,
                "contract": escalation.contract_name,
            }
            subject = (
                words.gettext("[%(severity)s] Escalation from %(operator)s: %(contract)s", **values)
                if number == 1
                else words.gettext(
                    "Reminder, not yet acknowledged: [%(severity)s] escalation from %(operator)s: "
                    "%(contract)s",
                    **values,
                )
            )
            context = {
                **_context(escalation, operator, client.time_zone, settings, subject),
                "reminder": number > 1,
                "acknowledge_url": mail.absolute_url(
                    settings.public_base_url, acknowledge_path(token, reader.language)
                ),
                "expires_at": expires_at,
                "signs_in": reader.signs_in,
            }
            await messages.queue_message(
                session,
                scope.tenant_id,
                NOTICE_KIND,
                SUBJECT_TYPE,
                escalation.id,
                f"notice-{number}",
                reader.address,
                subject,
                i18n.render(TEMPLATES, "mail/escalation.txt", reader.language, **context),
                i18n.render(TEMPLATES, "mail/escalation.html", reader.language, **context),
            )
            sent.append(reader.address)
    if sent:
        await escalations.record_notice(session, scope, escalation.id, sent, now)
    log.info("escalation_notice_queued", escalation_id=str(escalation.id), notice=number, to=len(sent))
    return len(sent)


async def alert_operator(
    session: AsyncSession,
    scope: Scope,
    escalation: schemas.Escalation,
    settings: Settings,
    failures: Failures,
) -> int:
    """Mail the operator's people that the client has not acknowledged in time; the number mailed."""
    client = await clients.get_client_row(session, scope, escalation.client_id)
    operator = (await tenancy.tenant_settings(session, scope)).name
    count = 0
    for reader in await operator_readers(session, scope):
        async with failures.isolated(session, SUBJECT_TYPE, escalation.id):
            subject = i18n.lang(reader.language).gettext(
                "Not acknowledged in time: [%(severity)s] escalation to %(client)s: %(contract)s",
                severity=severity_word(escalation.severity, reader.language),
                client=escalation.client_name,
                contract=escalation.contract_name,
            )
            context = _context(escalation, operator, client.time_zone, settings, subject)
            await messages.queue_message(
                session,
                scope.tenant_id,
                OVERDUE_KIND,
                SUBJECT_TYPE,
                escalation.id,
                "overdue",
                reader.address,
                subject,
                i18n.render(TEMPLATES, "mail/escalation_overdue.txt", reader.language, **context),
                i18n.render(TEMPLATES, "mail/escalation_overdue.html", reader.language, **context),
            )
            count += 1
    return count


def event_data(escalation: schemas.Escalation) -> dict[str, object]:
    return {
        "escalation_id": str(escalation.id),
        "contract_id": str(escalation.contract_id),
        "contract_code": escalation.contract_code,
        "client_id": str(escalation.client_id),
        "client_code": escalation.client_code,
        "work_item": (
            {"id": str(escalation.work_item_id), "external_id": escalation.work_item_external_id}
            if escalation.work_item_id
            else None
        ),
        "severity": escalation.severity,
        "state": escalation.state,
        "reason": escalation.reason,
        "recommended_action": escalation.recommended_action,
        "link": escalation.link,
        "raised_at": escalation.raised_at.isoformat(),
        "raised_by": escalation.raised_by,
        "acknowledge_due_at": escalation.acknowledge_due_at.isoformat(),
        "overdue_at": escalation.overdue_at.isoformat() if escalation.overdue_at else None,
        "acknowledged_at": escalation.acknowledged_at.isoformat() if escalation.acknowledged_at else None,
        "acknowledged_by": escalation.acknowledged_by,
        "resolved_at": escalation.resolved_at.isoformat() if escalation.resolved_at else None,
        "resolution_note": escalation.resolution_note,
        "url": f"/v1/escalations/{escalation.id}",
    }


async def announce(session: AsyncSession, scope: Scope, escalation: schemas.Escalation, step: str) -> int:
    event = webhooks.NewEvent(EVENT_TYPES[step], event_data(escalation), client_id=escalation.client_id)
    return await webhooks.emit(session, scope.tenant_id, [event])


async def notify(
    session: AsyncSession,
    scope: Scope,
    escalation_id: uuid.UUID,
    step: str,
    settings: Settings,
    failures: Failures,
) -> None:
    """What ``escalations.notify`` does after a step: raised (the client's first notice, the webhook),
    acknowledged or resolved (the webhook)."""
    if step not in (escalations.RAISED, escalations.ACKNOWLEDGED, escalations.RESOLVED):
        raise ValueError(f"no such escalation step: {step!r}")
    notice = await escalations.notice_of(session, scope, escalation_id)
    first = step == escalations.RAISED and notice.escalation.notices == 0
    if first and notice.escalation.state in escalations.UNSETTLED:
        now = await webhooks.database_now(session)
        await tell_client(session, scope, notice, settings, failures, now)
    current = (await escalations.notice_of(session, scope, escalation_id)).escalation
    await announce(session, scope, current, step)


async def sweep(
    session: AsyncSession, scope: Scope, now: datetime, failures: Failures, settings: Settings
) -> int:
    """Follow up every escalation whose next check has come, each in a savepoint of its own: overdue once
    (the operator alerted), the client reminded. The number followed up."""
    done = 0
    for escalation_id in await escalations.due_follow_ups(session, scope, now):
        async with failures.isolated(session, SUBJECT_TYPE, escalation_id):
            step = await escalations.follow_up(session, scope, escalation_id, now)
            if step is None:
                continue
            notice = await escalations.notice_of(session, scope, escalation_id)
            if step.overdue:
                await alert_operator(session, scope, notice.escalation, settings, failures)
                await announce(session, scope, notice.escalation, "overdue")
            if step.remind:
                await tell_client(session, scope, notice, settings, failures, now)
            done += 1
    return done
