"""What the escalation API takes and returns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from bpo.core.types import Strict
from bpo.tenancy.schemas import Email

Severity = Literal["critical", "high", "normal"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "normal")
State = Literal["open", "overdue", "acknowledged", "resolved"]
STATES: tuple[State, ...] = ("open", "overdue", "acknowledged", "resolved")
# How an escalation was acknowledged: the mailed link, the dashboard, or the API.
AcknowledgedVia = Literal["link", "dashboard", "api"]
EventKind = Literal["raised", "notified", "reminded", "overdue", "acknowledged", "resolved"]
MAX_RECIPIENTS = 20
# A week: an acknowledgement target is minutes to hours, days at most.
MAX_MINUTES = 7 * 24 * 60

Minutes = Annotated[
    int,
    msgspec.Meta(
        ge=1, le=MAX_MINUTES, description="Minutes from raising to acknowledgement (at most a week)"
    ),
]
Recipients = Annotated[
    list[Email],
    msgspec.Meta(max_length=MAX_RECIPIENTS, description="Addresses told beyond the client's viewers"),
]
Words = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Link = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2000,
        pattern=r"^https?://[^\s<>\"]+(?!\n)$",
        description="A page the client should look at (http or https)",
        examples=["https://recipe.rakuten.example/recipes/123"],
        extra={"expected": "a web address starting with https:// or http://"},
    ),
]


class EscalationRuleUpdate(Strict):
    notify_viewers: Annotated[bool, msgspec.Meta(description="Tell the client's viewers")] = True
    extra_recipients: Recipients = []
    acknowledge_within_minutes: (
        Annotated[Minutes, msgspec.Meta(description="The severity's default (15, 60, 240) if left out")]
        | None
    ) = None


class EscalationRulesUpdate(Strict):
    """Every severity's rule; a severity left out goes back to its default (viewers told; 15 minutes for
    critical, 60 for high, 240 for normal)."""

    critical: EscalationRuleUpdate | None = None
    high: EscalationRuleUpdate | None = None
    normal: EscalationRuleUpdate | None = None


class EscalationRule(msgspec.Struct, kw_only=True):
    notify_viewers: bool
    extra_recipients: list[str]
    acknowledge_within_minutes: int


class EscalationRules(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    critical: EscalationRule
    high: EscalationRule
    normal: EscalationRule


class EscalationCreate(Strict):
    """Raised on a work item (its contract is the item's) or on a contract alone."""

    severity: Severity
    reason: Annotated[Words, msgspec.Meta(description="What happened, in words the client reads")]
    recommended_action: Annotated[Words, msgspec.Meta(description="What the client should do")]
    contract_id: uuid.UUID | None = None
    work_item_id: uuid.UUID | None = None
    link: Link | None = None


class EscalationResolve(Strict):
    note: Annotated[Words, msgspec.Meta(description="How it was settled")]


class EscalationStep(msgspec.Struct, kw_only=True):
    event: EventKind
    at: datetime
    # Who did it (a person's name, or the address a mailed link went to); null for the system.
    by: str | None
    by_user_id: uuid.UUID | None
    detail: str | None


class EscalationSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    contract_id: uuid.UUID
    contract_code: str
    contract_name: str
    client_id: uuid.UUID
    client_code: str
    client_name: str
    work_item_id: uuid.UUID | None
    work_item_external_id: str | None
    severity: Severity
    # open → (overdue →) acknowledged → resolved; resolved may also follow open or overdue.
    state: State
    reason: str
    recommended_action: str
    link: str | None
    raised_at: datetime
    raised_by: str
    acknowledge_within_minutes: int
    acknowledge_due_at: datetime
    # When the acknowledgement target passed unmet (the operator was alerted); kept after acknowledgement.
    overdue_at: datetime | None
    # Notices mailed to the client so far: the first, then reminders.
    notices: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_via: AcknowledgedVia | None
    # Minutes from raising to acknowledgement.
    minutes_to_acknowledge: float | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


class Escalation(EscalationSummary, kw_only=True):
    timeline: list[EscalationStep]


class EscalationPage(msgspec.Struct, kw_only=True):
    items: list[EscalationSummary]
    next_cursor: str | None


class EscalationFigures(msgspec.Struct, kw_only=True):
    """A period's escalations of one severity: how many, how many acknowledged, and how fast."""

    severity: Severity
    raised: int
    acknowledged: int
    median_minutes_to_acknowledge: float | None
    mean_minutes_to_acknowledge: float | None
