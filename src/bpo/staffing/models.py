"""Staffing tables: people, their time off, shifts built from contract coverage, who works which shift,
solver runs, swaps, claims of open shifts, attendance, calendar feeds and the tenant's rule settings.
Instants are UTC ``timestamptz``; wall-clock patterns (availability) are JSON windows in the person's
home zone."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PGUUID
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin, Timestamps

UUIDS = ARRAY(PGUUID(as_uuid=True))


class Staff(Base, TenantMixin, Timestamps):
    """A person who works shifts, optionally with a login (``user_id``)."""

    __tablename__ = "staff"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        UniqueConstraint("tenant_id", "user_id"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
    )

    # A human code (employee number) for manifests and exports; unique when given.
    code: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None]
    display_name: Mapped[str] = mapped_column(String(200))
    # What colleagues call the person (names written family-name first have it second).
    given_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    employment_type: Mapped[str] = mapped_column(String(16))
    home_zone: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(2))
    # [{"name": "moderation", "level": 3}]
    skills: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    languages: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    site_ids: Mapped[list[uuid.UUID]] = mapped_column(UUIDS, server_default="{}")
    # NULL: may work on any contract; a list: only on these.
    trained_contract_ids: Mapped[list[uuid.UUID] | None] = mapped_column(UUIDS)
    excluded_contract_ids: Mapped[list[uuid.UUID]] = mapped_column(UUIDS, server_default="{}")
    weekly_hour_cap: Mapped[float] = mapped_column(Float, server_default="40")
    contracted_hours: Mapped[float | None] = mapped_column(Float)
    hourly_cost: Mapped[int | None] = mapped_column(BigInteger)
    cost_currency: Mapped[str | None] = mapped_column(String(3))
    # Weekly windows in the home zone, like calendar windows; NULL: available at any time.
    availability: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    # When the person would rather work, in the same form; the solver's "preferences" soft rule. NULL: none.
    preferred_times: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(server_default="true")
    # Overrides of the tenant's labour limits (``StaffingSettings``); NULL: the tenant's.
    max_consecutive_days: Mapped[int | None]
    monthly_overtime_hours: Mapped[float | None] = mapped_column(Float)
    yearly_overtime_hours: Mapped[float | None] = mapped_column(Float)


class TimeOff(Base, TenantMixin):
    __tablename__ = "time_off"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "staff_id"], ["staff.tenant_id", "staff.id"], ondelete="CASCADE"),
        Index(None, "tenant_id", "staff_id", "starts_at"),
    )

    staff_id: Mapped[uuid.UUID]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500), server_default="")
    # requested -> approved | rejected; requested -> cancelled
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[uuid.UUID | None]
    decided_by: Mapped[uuid.UUID | None]
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Shift(Base, TenantMixin, Timestamps):
    """A stretch of a contract's coverage that ``headcount`` people work. Generated shifts remember the
    coverage line they came from, so generating a period twice creates nothing new."""

    __tablename__ = "shifts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contract_id", "coverage_line", "starts_at", "ends_at"),
        CheckConstraint("break_minutes >= 0", name="break_minutes"),
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
        ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"]),
        Index(None, "tenant_id", "contract_id", "starts_at"),
        Index(None, "tenant_id", "starts_at"),
    )

    contract_id: Mapped[uuid.UUID]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    mode: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[uuid.UUID | None]
    headcount: Mapped[int]
    skills: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    languages: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    # draft -> published
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    # The index of the contract's coverage line it was generated from; NULL for a manual shift.
    coverage_line: Mapped[int | None]
    published_at: Mapped[datetime | None]
    # Moved on by the database whenever the times, place, mode or status change (calendar SEQUENCE).
    revision: Mapped[int] = mapped_column(server_default="0")
    # Unpaid break within the shift; NULL: the usual one for its span (``rules.default_break_minutes``).
    break_minutes: Mapped[int | None]


class Assignment(Base, TenantMixin):
    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "shift_id", "staff_id"),
        ForeignKeyConstraint(["tenant_id", "shift_id"], ["shifts.tenant_id", "shifts.id"]),
        ForeignKeyConstraint(["tenant_id", "staff_id"], ["staff.tenant_id", "staff.id"]),
        Index(None, "tenant_id", "staff_id"),
    )

    shift_id: Mapped[uuid.UUID]
    staff_id: Mapped[uuid.UUID]
    # manual | solver | swap
    source: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ScheduleRun(Base, TenantMixin):
    """One solver run over a period and some contracts, executed as a job."""

    __tablename__ = "schedule_runs"
    __table_args__ = (Index(None, "tenant_id", "created_at"),)

    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    contract_ids: Mapped[list[uuid.UUID]] = mapped_column(UUIDS)
    replan: Mapped[bool] = mapped_column(server_default="false")
    time_limit_s: Mapped[float | None] = mapped_column(Float)
    # queued -> running -> succeeded | failed
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    weights: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    error: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class SwapRequest(Base, TenantMixin):
    """A person offers their assignment to a colleague (give-away) or for one of theirs (trade). The
    assignment ids are not foreign keys: the request outlives the assignments it moved."""

    __tablename__ = "swap_requests"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "requester_staff_id"], ["staff.tenant_id", "staff.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "counterpart_staff_id"], ["staff.tenant_id", "staff.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "requester_staff_id"),
        Index(None, "tenant_id", "counterpart_staff_id"),
    )

    assignment_id: Mapped[uuid.UUID]
    requester_staff_id: Mapped[uuid.UUID]
    counterpart_staff_id: Mapped[uuid.UUID]
    # NULL: a give-away; else the counterpart's assignment taken in exchange.
    counterpart_assignment_id: Mapped[uuid.UUID | None]
    # requested -> accepted -> approved | rejected; requested -> declined; requested | accepted -> cancelled
    status: Mapped[str] = mapped_column(String(16), server_default="requested")
    note: Mapped[str] = mapped_column(String(500), server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    accepted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[uuid.UUID | None]


class CalendarFeed(Base, TenantMixin):
    """A secret iCal URL of one person's shifts; only the token's hash is kept."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token_hash"),
        ForeignKeyConstraint(["tenant_id", "staff_id"], ["staff.tenant_id", "staff.id"], ondelete="CASCADE"),
        Index(None, "tenant_id", "staff_id"),
    )

    staff_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]


class OpenShiftClaim(Base, TenantMixin):
    """A person asks to work a published shift that still needs people; a supervisor decides, or the
    contract approves claims at once. The assignment it made is not a foreign key: it may move later."""

    __tablename__ = "open_shift_claims"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "shift_id"], ["shifts.tenant_id", "shifts.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "staff_id"], ["staff.tenant_id", "staff.id"], ondelete="CASCADE"),
        # One open claim per person and shift.
        Index(
            None,
            "tenant_id",
            "shift_id",
            "staff_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index(None, "tenant_id", "staff_id"),
        Index(None, "tenant_id", "status"),
    )

    shift_id: Mapped[uuid.UUID]
    staff_id: Mapped[uuid.UUID]
    # pending -> approved | declined | cancelled; approved at once where the contract says auto.
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    # The contract's open_shift_approval when the claim was made: supervisor | auto.
    approval: Mapped[str] = mapped_column(String(16))
    assignment_id: Mapped[uuid.UUID | None]
    # Why a supervisor declined (or that the shift was filled meanwhile).
    note: Mapped[str] = mapped_column(String(500), server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[uuid.UUID | None]


class AttendanceEvent(Base, TenantMixin):
    """A person clocking in or out of a shift: one of each per person and shift, kept as last recorded
    (by the person, a client's or site's system, or a supervisor's correction)."""

    __tablename__ = "attendance_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "shift_id", "staff_id", "kind"),
        ForeignKeyConstraint(["tenant_id", "shift_id"], ["shifts.tenant_id", "shifts.id"]),
        ForeignKeyConstraint(["tenant_id", "staff_id"], ["staff.tenant_id", "staff.id"]),
        Index(None, "tenant_id", "staff_id", "at"),
    )

    shift_id: Mapped[uuid.UUID]
    staff_id: Mapped[uuid.UUID]
    # clock_in | clock_out
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    # staff | import | correction
    source: Mapped[str] = mapped_column(String(16))
    # The user or API key that recorded it last.
    recorded_by: Mapped[uuid.UUID | None]
    # A supervisor's reason for a correction.
    note: Mapped[str] = mapped_column(String(500), server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class CancelledAssignment(Base, TenantMixin):
    """What a person's calendar showed of a shift they were taken off (written by a database trigger when
    the assignment goes, removed when they are put back on it): their feed lists it as cancelled. The id
    is the assignment's."""

    __tablename__ = "cancelled_assignments"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "staff_id"], ["staff.tenant_id", "staff.id"], ondelete="CASCADE"),
        Index(None, "tenant_id", "staff_id", "ends_at"),
    )

    staff_id: Mapped[uuid.UUID]
    shift_id: Mapped[uuid.UUID]
    contract_id: Mapped[uuid.UUID]
    site_id: Mapped[uuid.UUID | None]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    revision: Mapped[int]
    cancelled_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StaffingSettings(Base):
    """A tenant's hard-rule settings and solver weights; a tenant without a row uses the defaults."""

    __tablename__ = "staffing_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    min_rest_hours: Mapped[float] = mapped_column(Float, server_default="11")
    max_consecutive_days: Mapped[int] = mapped_column(server_default="6")
    monthly_overtime_hours: Mapped[float] = mapped_column(Float, server_default="45")
    yearly_overtime_hours: Mapped[float] = mapped_column(Float, server_default="360")
    # The month the overtime year starts in (April, like most 36協定).
    overtime_year_start_month: Mapped[int] = mapped_column(server_default="4")
    # The fields of solver.Weights that differ from its defaults.
    weights: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    updated_by: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
