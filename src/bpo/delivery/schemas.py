"""Webhook endpoints and their delivery log, as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

EventType = Literal[
    "sla.at_risk",
    "sla.breached",
    "sla.daily_below_target",
    "invoice.finalized",
    "invoice.paid",
    "invoice.voided",
    "credit_note.issued",
    "report.ready",
    "escalation.raised",
    "escalation.overdue",
    "escalation.acknowledged",
    "escalation.resolved",
]
DeliveryStatus = Literal["pending", "succeeded", "failed"]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Description = Annotated[str, msgspec.Meta(max_length=500)]
EventTypes = Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=16)]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class WebhookEndpointCreate(Strict):
    url: Url
    event_types: EventTypes
    description: Description = ""
    # Only events about this client (alerts of its contracts); none: every event of the tenant.
    client_id: uuid.UUID | None = None
    enabled: bool = True


class WebhookEndpointUpdate(Strict):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    event_types: EventTypes | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    client_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class WebhookEndpoint(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    client_id: uuid.UUID | None
    enabled: bool
    # While set and in the future, deliveries carry a second signature made with the previous secret.
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpoint, kw_only=True):
    """Returned once, at creation: the signing secret is never shown again (rotate to get a new one)."""

    secret: str


class WebhookSecret(msgspec.Struct, kw_only=True):
    endpoint_id: uuid.UUID
    secret: str
    previous_secret_expires_at: datetime


class WebhookEndpointPage(msgspec.Struct, kw_only=True):
    items: list[WebhookEndpoint]
    next_cursor: str | None


class WebhookDelivery(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_response_ms: int | None
    succeeded_at: datetime | None
    created_at: datetime


class WebhookDeliveryPage(msgspec.Struct, kw_only=True):
    items: list[WebhookDelivery]
    next_cursor: str | None


# --- outgoing mail ------------------------------------------------------------------------------------

MessageStatus = Literal["pending", "sent", "failed"]
MessageKind = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# (?!\n) before $: Python's $ also matches before a final newline, which an address may not end with.
MailAddress = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s<>,;:\"()\[\]\\]+@[^@\s<>,;:\"()\[\]\\]+\.[^@\s<>,;:\"()\[\]\\]+(?!\n)$",
        examples=["ops@example.com"],
    ),
]
RecipientFilter = Annotated[str, msgspec.Meta(min_length=1, max_length=254)]


class MessageAttachment(msgspec.Struct, kw_only=True):
    filename: str
    mime_type: str
    size: int


class Message(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    # What the mail is about, and the period it covers ("" when none).
    subject_type: str
    subject_id: uuid.UUID
    period: str
    to: str
    subject: str
    status: MessageStatus
    attempts: int
    # The SMTP server's reply to the last failed attempt, or what kept it from reaching one.
    last_error: str | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    attachments: list[MessageAttachment]


class MessagePage(msgspec.Struct, kw_only=True):
    items: list[Message]
    next_cursor: str | None


class TestMessageRequest(Strict):
    to: MailAddress
