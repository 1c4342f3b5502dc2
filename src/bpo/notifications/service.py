"""Each person's notification preferences and the tenant's notification settings.

A person reads and changes only their own preferences (the caller's user; there is no id to name anyone
else's). Without a row, every kind is mailed and no webhook is set. A webhook URL passes the same
destination policy as the tenant's webhooks (``delivery.destinations``); its secret is made when the URL
is first set, and shown to its owner only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import msgspec
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.audit import record
from bpo.core.errors import NotFound, field_error, raise_if
from bpo.core.orm import new_id
from bpo.core.scope import Scope
from bpo.delivery import webhooks
from bpo.delivery.destinations import Refused, check_destination
from bpo.notifications import schemas
from bpo.notifications.models import NoticeBatch, NotificationPreference, NotificationSettings
from bpo.settings import Settings
from bpo.staffing import notices
from bpo.tenancy import users as tenancy_users

DEFAULT_LATE_AFTER_MINUTES = 10
# Which preference turns each kind of notice on or off.
PREFERENCE_OF = {
    notices.SHIFT_PUBLISHED: schemas.NoticeKind.SHIFTS,
    notices.SHIFT_ADDED: schemas.NoticeKind.SHIFTS,
    notices.SHIFT_CHANGED: schemas.NoticeKind.SHIFTS,
    notices.SHIFT_CANCELLED: schemas.NoticeKind.SHIFTS,
    notices.SWAP_DECIDED: schemas.NoticeKind.SWAPS,
    notices.TIME_OFF_DECIDED: schemas.NoticeKind.TIME_OFF,
    notices.CLAIM_DECIDED: schemas.NoticeKind.OPEN_SHIFTS,
    notices.CLAIM_WAITING: schemas.NoticeKind.OPEN_SHIFTS,
    notices.LATE: schemas.NoticeKind.LATENESS,
}


@dataclass(frozen=True, slots=True)
class Preferences:
    mail_off: frozenset[str] = field(default_factory=frozenset)
    webhook_url: str | None = None
    webhook_enabled: bool = False
    webhook_secret: str | None = None

    def mails(self, kind: str) -> bool:
        return PREFERENCE_OF[kind].value not in self.mail_off

    @property
    def webhook(self) -> tuple[str, str] | None:
        """(URL, secret) while the webhook is on."""
        if self.webhook_enabled and self.webhook_url and self.webhook_secret:
            return self.webhook_url, self.webhook_secret
        return None


async def _row(
    session: AsyncSession, scope: Scope, user_id: uuid.UUID, *, for_update: bool = False
) -> NotificationPreference | None:
    statement = select(NotificationPreference).where(
        NotificationPreference.tenant_id == scope.tenant_id, NotificationPreference.user_id == user_id
    )
    found: NotificationPreference | None = await session.scalar(
        statement.with_for_update() if for_update else statement
    )
    return found


async def preferences_of(session: AsyncSession, scope: Scope, user_id: uuid.UUID) -> Preferences:
    row = await _row(session, scope, user_id)
    if row is None:
        return Preferences()
    return Preferences(frozenset(row.mail_off), row.webhook_url, row.webhook_enabled, row.webhook_secret)


def _caller(scope: Scope) -> uuid.UUID:
    if scope.user_id is None:
        raise NotFound("Only a person who signs in has notification preferences.")
    return scope.user_id


async def _last_delivery(
    session: AsyncSession, scope: Scope, user_id: uuid.UUID
) -> schemas.NoticeWebhookDelivery | None:
    batch = await session.scalar(
        select(NoticeBatch)
        .where(
            NoticeBatch.tenant_id == scope.tenant_id,
            NoticeBatch.user_id == user_id,
            NoticeBatch.status != "none",
        )
        .order_by(NoticeBatch.created_at.desc(), NoticeBatch.id.desc())
        .limit(1)
    )
    if batch is None:
        return None
    return schemas.NoticeWebhookDelivery(
        status=batch.status,  # type: ignore[arg-type]
        attempts=batch.attempts,
        at=batch.last_attempt_at or batch.created_at,
        last_status_code=batch.last_status_code,
        last_error=batch.last_error,
        next_attempt_at=batch.next_attempt_at,
    )


async def my_preferences(session: AsyncSession, scope: Scope) -> schemas.NotificationPreferences:
    user_id = _caller(scope)
    user = await tenancy_users.get_user(session, scope, user_id)
    current = await preferences_of(session, scope, user_id)
    mail = schemas.MailPreferences(
        **{kind.value: kind.value not in current.mail_off for kind in schemas.NoticeKind}
    )
    return schemas.NotificationPreferences(
        mail=mail,
        webhook=schemas.WebhookPreference(
            url=current.webhook_url,
            enabled=current.webhook_enabled,
            secret=current.webhook_secret,
            last_delivery=await _last_delivery(session, scope, user_id),
        ),
        email=user.email,
    )


async def _check_url(url: str, settings: Settings) -> None:
    try:
        await check_destination(url, allow_local=webhooks.local_receivers(settings), must_resolve=False)
    except Refused as refusal:
        raise_if([field_error("webhook.url", refusal.reason)], what="The webhook cannot be used")


async def update_my_preferences(
    session: AsyncSession, scope: Scope, data: schemas.NotificationPreferencesUpdate, settings: Settings
) -> schemas.NotificationPreferences:
    user_id = _caller(scope)
    # Checked before anything changes: a refused address saves nothing (a page re-renders the form and
    # its transaction still commits).
    hook = data.webhook
    if hook is not msgspec.UNSET and hook.url is not msgspec.UNSET and hook.url is not None:
        await _check_url(hook.url, settings)
    await session.execute(
        insert(NotificationPreference)
        .values(tenant_id=scope.tenant_id, id=new_id(), user_id=user_id)
        .on_conflict_do_nothing(index_elements=["tenant_id", "user_id"])
    )
    row = await _row(session, scope, user_id, for_update=True)
    assert row is not None
    if hook is not msgspec.UNSET and hook.enabled is True:
        url = row.webhook_url if hook.url is msgspec.UNSET else hook.url
        if not url:
            raise_if(
                [field_error("webhook.url", "is needed to turn the webhook on")],
                what="The webhook cannot be used",
            )
    changed: list[str] = []
    if data.mail is not msgspec.UNSET:
        off = set(row.mail_off)
        for kind in schemas.NoticeKind:
            wanted = getattr(data.mail, kind.value)
            if wanted is msgspec.UNSET:
                continue
            (off.discard if wanted else off.add)(kind.value)
        if off != set(row.mail_off):
            row.mail_off = sorted(off)
            changed.append("mail")
    if hook is not msgspec.UNSET:
        if hook.url is not msgspec.UNSET and hook.url != row.webhook_url:
            row.webhook_url = hook.url
            changed.append("webhook_url")
        if hook.enabled is not msgspec.UNSET and hook.enabled != row.webhook_enabled:
            row.webhook_enabled = hook.enabled
            changed.append("webhook_enabled")
        if row.webhook_enabled and not row.webhook_url:
            # Removing the address turns the webhook off.
            row.webhook_enabled = False
        if hook.rotate_secret or (row.webhook_url and not row.webhook_secret):
            row.webhook_secret = webhooks.new_secret()
            changed.append("webhook_secret")
    if changed:
        # What changed, never the URL's query or the secret.
        record(session, scope, "notification_preferences.updated", "user", user_id, changed=changed)
    await session.flush()
    return await my_preferences(session, scope)


async def late_after_minutes(session: AsyncSession, scope: Scope) -> int:
    row = await session.get(NotificationSettings, scope.tenant_id)
    return row.late_after_minutes if row is not None else DEFAULT_LATE_AFTER_MINUTES


async def get_settings(session: AsyncSession, scope: Scope) -> schemas.NotificationSettings:
    return schemas.NotificationSettings(late_after_minutes=await late_after_minutes(session, scope))


async def update_settings(
    session: AsyncSession, scope: Scope, data: schemas.NotificationSettingsUpdate
) -> schemas.NotificationSettings:
    await session.execute(
        insert(NotificationSettings)
        .values(
            tenant_id=scope.tenant_id, late_after_minutes=data.late_after_minutes, updated_by=scope.user_id
        )
        .on_conflict_do_update(
            index_elements=["tenant_id"],
            set_={"late_after_minutes": data.late_after_minutes, "updated_by": scope.user_id},
        )
    )
    record(
        session,
        scope,
        "notification_settings.updated",
        "tenant",
        scope.tenant_id,
        late_after_minutes=data.late_after_minutes,
    )
    return schemas.NotificationSettings(late_after_minutes=data.late_after_minutes)
