"""Request and response types of notification preferences and settings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

import msgspec

from bpo.core.types import Strict


class NoticeKind(StrEnum):
    """What a person can turn on or off: the kinds of notice, as people think of them."""

    # My shifts published, added, changed or cancelled.
    SHIFTS = "shifts"
    # My swap decided (approved, not approved, or declined by the colleague).
    SWAPS = "swaps"
    # My time off decided.
    TIME_OFF = "time_off"
    # My open-shift claim decided; to supervisors, a claim waiting for approval.
    OPEN_SHIFTS = "open_shifts"
    # To supervisors: someone has not clocked in to a shift that started a while ago.
    LATENESS = "lateness"


class MailPreferences(msgspec.Struct, kw_only=True):
    shifts: bool = True
    swaps: bool = True
    time_off: bool = True
    open_shifts: bool = True
    lateness: bool = True


class NoticeWebhookDelivery(msgspec.Struct, kw_only=True):
    """The latest post to the person's webhook: ``pending`` while retries remain."""

    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    at: datetime
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None


class WebhookPreference(msgspec.Struct, kw_only=True):
    url: str | None
    enabled: bool
    # Signs every post (``BPO-Signature``, as the tenant's webhooks); the person's own, shown only to them.
    secret: str | None
    last_delivery: NoticeWebhookDelivery | None


class NotificationPreferences(msgspec.Struct, kw_only=True):
    mail: MailPreferences
    webhook: WebhookPreference
    # Where the mail goes: the login's address.
    email: str


class MailPreferencesUpdate(Strict):
    shifts: bool | msgspec.UnsetType = msgspec.UNSET
    swaps: bool | msgspec.UnsetType = msgspec.UNSET
    time_off: bool | msgspec.UnsetType = msgspec.UNSET
    open_shifts: bool | msgspec.UnsetType = msgspec.UNSET
    lateness: bool | msgspec.UnsetType = msgspec.UNSET


class WebhookPreferenceUpdate(Strict):
    # https:// (http only to this machine outside production); null removes it.
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    # A new secret (the old one stops signing at once).
    rotate_secret: bool = False


class NotificationPreferencesUpdate(Strict):
    """What is left out stays as it is."""

    mail: MailPreferencesUpdate | msgspec.UnsetType = msgspec.UNSET
    webhook: WebhookPreferenceUpdate | msgspec.UnsetType = msgspec.UNSET


class NotificationSettings(msgspec.Struct, kw_only=True):
    # Supervisors hear that someone has not clocked in this many minutes after their shift started.
    late_after_minutes: int


class NotificationSettingsUpdate(Strict):
    late_after_minutes: Annotated[int, msgspec.Meta(ge=1, le=240)]
