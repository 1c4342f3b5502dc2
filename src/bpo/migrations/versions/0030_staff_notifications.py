"""notifications to staff and supervisors: preferences and batched notices

Whatever changes a person's published shifts or decides their requests (the API, the solver, a swap, a
claim, a bulk publish, a manifest) leaves a notice behind in the same transaction, written by the
database; the scheduler's per-minute sweep gathers each person's notices into one mail (and one signed
webhook to their own chat bridge, if they set one).

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The user behind a staff profile: only people who can sign in are told (they have a language and
# preferences).
NOTICE_FUNCTIONS = """
-- Only inside a transaction of the tenant (the application's): a migration or maintenance run as the owner
-- writes no notices.
CREATE FUNCTION bpo_notices_on(p_tenant uuid) RETURNS boolean LANGUAGE sql STABLE AS $body$
    SELECT coalesce(NULLIF(current_setting('bpo.tenant_id', true), '')::uuid = p_tenant, false)
$body$;

CREATE FUNCTION bpo_notice_for_staff(
    p_tenant uuid, p_staff uuid, p_kind text, p_shift uuid, p_subject uuid, p_outcome text, p_note text
) RETURNS void LANGUAGE plpgsql AS $body$
DECLARE
    v_user uuid;
    v_shift shifts%ROWTYPE;
BEGIN
    SELECT user_id INTO v_user FROM staff WHERE tenant_id = p_tenant AND id = p_staff;
    IF v_user IS NULL THEN
        RETURN;
    END IF;
    IF p_shift IS NOT NULL THEN
        SELECT * INTO v_shift FROM shifts WHERE tenant_id = p_tenant AND id = p_shift;
    END IF;
    INSERT INTO staff_notices
        (tenant_id, id, user_id, kind, staff_id, shift_id, contract_id, starts_at, ends_at,
         subject_id, outcome, note)
    VALUES
        (p_tenant, gen_random_uuid(), v_user, p_kind, p_staff, p_shift, v_shift.contract_id,
         v_shift.starts_at, v_shift.ends_at, p_subject, p_outcome, coalesce(p_note, ''));
END
$body$;

CREATE FUNCTION bpo_shift_notices() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    v_kind text;
BEGIN
    IF NOT bpo_notices_on(NEW.tenant_id) THEN
        RETURN NEW;
    END IF;
    IF NEW.ends_at <= now() AND OLD.ends_at <= now() THEN
        RETURN NEW;
    END IF;
    IF OLD.status <> 'published' AND NEW.status = 'published' THEN
        v_kind := 'shift.published';
    ELSIF OLD.status = 'published' AND NEW.status <> 'published' THEN
        v_kind := 'shift.cancelled';
    ELSIF NEW.status = 'published'
          AND (NEW.starts_at, NEW.ends_at, NEW.site_id, NEW.mode)
              IS DISTINCT FROM (OLD.starts_at, OLD.ends_at, OLD.site_id, OLD.mode) THEN
        v_kind := 'shift.changed';
    ELSE
        RETURN NEW;
    END IF;
    INSERT INTO staff_notices
        (tenant_id, id, user_id, kind, staff_id, shift_id, contract_id, starts_at, ends_at,
         previous_starts_at, previous_ends_at)
    SELECT NEW.tenant_id, gen_random_uuid(), st.user_id, v_kind, a.staff_id, NEW.id, NEW.contract_id,
           NEW.starts_at, NEW.ends_at,
           CASE WHEN v_kind = 'shift.changed' THEN OLD.starts_at END,
           CASE WHEN v_kind = 'shift.changed' THEN OLD.ends_at END
    FROM assignments a
    JOIN staff st ON st.tenant_id = a.tenant_id AND st.id = a.staff_id
    WHERE a.tenant_id = NEW.tenant_id AND a.shift_id = NEW.id AND st.user_id IS NOT NULL;
    RETURN NEW;
END
$body$;

-- Put on or taken off a published shift by hand or by the solver. A swap or a claim says so in its own
-- notice (its decision), so its assignments are left out here.
CREATE FUNCTION bpo_assignment_notices() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    v_row assignments%ROWTYPE;
BEGIN
    IF NOT bpo_notices_on(coalesce(NEW.tenant_id, OLD.tenant_id)) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        v_row := NEW;
        IF NEW.source NOT IN ('manual', 'solver') THEN
            RETURN NULL;
        END IF;
    ELSE
        v_row := OLD;
        IF EXISTS (
            SELECT 1 FROM swap_requests r
            WHERE r.tenant_id = OLD.tenant_id AND r.status = 'accepted'
              AND (r.assignment_id = OLD.id OR r.counterpart_assignment_id = OLD.id)
        ) THEN
            RETURN NULL;
        END IF;
    END IF;
    IF EXISTS (
        SELECT 1 FROM shifts s
        WHERE s.tenant_id = v_row.tenant_id AND s.id = v_row.shift_id
          AND s.status = 'published' AND s.ends_at > now()
    ) THEN
        PERFORM bpo_notice_for_staff(
            v_row.tenant_id, v_row.staff_id,
            CASE WHEN TG_OP = 'INSERT' THEN 'shift.added' ELSE 'shift.cancelled' END,
            v_row.shift_id, NULL, NULL, NULL
        );
    END IF;
    RETURN NULL;
END
$body$;

CREATE FUNCTION bpo_time_off_notices() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF NOT bpo_notices_on(NEW.tenant_id) THEN
        RETURN NULL;
    END IF;
    IF OLD.status = 'requested' AND NEW.status IN ('approved', 'rejected') THEN
        INSERT INTO staff_notices
            (tenant_id, id, user_id, kind, staff_id, starts_at, ends_at, subject_id, outcome)
        SELECT NEW.tenant_id, gen_random_uuid(), st.user_id, 'time_off.decided', NEW.staff_id,
               NEW.starts_at, NEW.ends_at, NEW.id, NEW.status
        FROM staff st
        WHERE st.tenant_id = NEW.tenant_id AND st.id = NEW.staff_id AND st.user_id IS NOT NULL;
    END IF;
    RETURN NULL;
END
$body$;

-- The offered shift, even once the approval has moved it (the calendar's cancellation keeps it).
CREATE FUNCTION bpo_assignment_shift(p_tenant uuid, p_assignment uuid) RETURNS uuid
LANGUAGE sql STABLE AS $body$
    SELECT coalesce(
        (SELECT shift_id FROM assignments WHERE tenant_id = p_tenant AND id = p_assignment),
        (SELECT shift_id FROM cancelled_assignments WHERE tenant_id = p_tenant AND id = p_assignment)
    )
$body$;

-- The requester hears every decision, the colleague a supervisor's; a trade names the shift given in
-- return (as previous_*).
CREATE FUNCTION bpo_swap_notices() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    v_shift shifts%ROWTYPE;
    v_other shifts%ROWTYPE;
BEGIN
    IF NOT bpo_notices_on(NEW.tenant_id) THEN
        RETURN NULL;
    END IF;
    IF NEW.status = OLD.status OR NEW.status NOT IN ('approved', 'rejected', 'declined') THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_shift FROM shifts
    WHERE tenant_id = NEW.tenant_id AND id = bpo_assignment_shift(NEW.tenant_id, NEW.assignment_id);
    IF NEW.counterpart_assignment_id IS NOT NULL THEN
        SELECT * INTO v_other FROM shifts
        WHERE tenant_id = NEW.tenant_id
          AND id = bpo_assignment_shift(NEW.tenant_id, NEW.counterpart_assignment_id);
    END IF;
    INSERT INTO staff_notices
        (tenant_id, id, user_id, kind, staff_id, shift_id, contract_id, starts_at, ends_at,
         previous_starts_at, previous_ends_at, subject_id, outcome)
    SELECT NEW.tenant_id, gen_random_uuid(), st.user_id, 'swap.decided', st.id, v_shift.id,
           v_shift.contract_id, v_shift.starts_at, v_shift.ends_at, v_other.starts_at, v_other.ends_at,
           NEW.id, NEW.status
    FROM staff st
    WHERE st.tenant_id = NEW.tenant_id AND st.user_id IS NOT NULL
      AND (st.id = NEW.requester_staff_id
           OR (NEW.status <> 'declined' AND st.id = NEW.counterpart_staff_id));
    RETURN NULL;
END
$body$;

CREATE FUNCTION bpo_claim_notices() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    v_shift shifts%ROWTYPE;
BEGIN
    IF NOT bpo_notices_on(NEW.tenant_id) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' AND NEW.status = 'pending' AND NEW.approval = 'supervisor' THEN
        SELECT * INTO v_shift FROM shifts WHERE tenant_id = NEW.tenant_id AND id = NEW.shift_id;
        INSERT INTO staff_notices
            (tenant_id, id, user_id, kind, staff_id, shift_id, contract_id, starts_at, ends_at, subject_id)
        SELECT NEW.tenant_id, gen_random_uuid(), u.id, 'claim.waiting', NEW.staff_id, NEW.shift_id,
               v_shift.contract_id, v_shift.starts_at, v_shift.ends_at, NEW.id
        FROM users u
        WHERE u.tenant_id = NEW.tenant_id AND u.role = 'supervisor' AND u.is_active;
    ELSIF TG_OP = 'UPDATE' AND OLD.status = 'pending' AND NEW.status IN ('approved', 'declined') THEN
        PERFORM bpo_notice_for_staff(NEW.tenant_id, NEW.staff_id, 'claim.decided', NEW.shift_id, NEW.id,
                                     NEW.status, NEW.note);
    END IF;
    RETURN NULL;
END
$body$;
"""

TRIGGERS = (
    ("shift_notices", "AFTER UPDATE ON shifts FOR EACH ROW", "bpo_shift_notices"),
    ("assignment_notices", "AFTER INSERT OR DELETE ON assignments FOR EACH ROW", "bpo_assignment_notices"),
    ("time_off_notices", "AFTER UPDATE OF status ON time_off FOR EACH ROW", "bpo_time_off_notices"),
    ("swap_notices", "AFTER UPDATE OF status ON swap_requests FOR EACH ROW", "bpo_swap_notices"),
    ("claim_notices", "AFTER INSERT OR UPDATE ON open_shift_claims FOR EACH ROW", "bpo_claim_notices"),
)
FUNCTIONS = (
    "bpo_claim_notices()",
    "bpo_swap_notices()",
    "bpo_assignment_shift(uuid, uuid)",
    "bpo_time_off_notices()",
    "bpo_assignment_notices()",
    "bpo_shift_notices()",
    "bpo_notice_for_staff(uuid, uuid, text, uuid, uuid, text, text)",
    "bpo_notices_on(uuid)",
)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade(app_role: str) -> None:
    op.create_table(
        "staff_notices",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("staff_id", sa.UUID(), nullable=True),
        sa.Column("shift_id", sa.UUID(), nullable=True),
        sa.Column("contract_id", sa.UUID(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("subject_id", sa.UUID(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("note", sa.String(500), server_default="", nullable=False),
        sa.Column("once_key", sa.String(200), nullable=True),
        sa.Column("batch_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_staff_notices_pending",
        "staff_notices",
        ["tenant_id", "user_id", "created_at"],
        postgresql_where=sa.text("batch_id IS NULL"),
    )
    op.create_index(
        "uq_staff_notices_once_key",
        "staff_notices",
        ["tenant_id", "once_key"],
        unique=True,
        postgresql_where=sa.text("once_key IS NOT NULL"),
    )
    op.create_index(op.f("ix_staff_notices_tenant_id_batch_id"), "staff_notices", ["tenant_id", "batch_id"])
    rls.tenant_table("staff_notices", app_role)

    op.create_table(
        "notification_preferences",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("mail_off", postgresql.ARRAY(sa.String(32)), server_default="{}", nullable=False),
        sa.Column("webhook_url", sa.String(2000), nullable=True),
        sa.Column("webhook_enabled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("webhook_secret", sa.String(100), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint(
            "tenant_id", "user_id", name=op.f("uq_notification_preferences_tenant_id_user_id")
        ),
    )
    rls.tenant_table("notification_preferences", app_role, "SELECT, INSERT, UPDATE")

    op.create_table(
        "notice_batches",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("notices", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=True),
        sa.Column("webhook_url", sa.String(2000), nullable=True),
        sa.Column("body", postgresql.JSONB(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('none', 'pending', 'succeeded', 'failed')", name=op.f("ck_notice_batches_status")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_notice_batches_due",
        "notice_batches",
        ["tenant_id", "next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f("ix_notice_batches_tenant_id_user_id_created_at"),
        "notice_batches",
        ["tenant_id", "user_id", "created_at"],
    )
    rls.tenant_table("notice_batches", app_role)

    op.create_table(
        "notification_settings",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("late_after_minutes", sa.Integer(), server_default="10", nullable=False),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    rls.tenant_table("notification_settings", app_role, "SELECT, INSERT, UPDATE")

    # One statement at a time (a prepared statement holds one): each function ends its body with "$body$;".
    for function in NOTICE_FUNCTIONS.split("$body$;"):
        if function.strip():
            op.execute(function + "$body$")
    for name, when, function in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION {function}()")


def downgrade(app_role: str) -> None:
    for name, when, _ in TRIGGERS:
        table = when.split(" ON ")[1].split()[0]
        op.execute(f"DROP TRIGGER {name} ON {table}")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    op.drop_table("notification_settings")
    op.drop_table("notice_batches")
    op.drop_table("notification_preferences")
    op.drop_table("staff_notices")
