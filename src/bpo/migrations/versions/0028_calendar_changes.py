"""calendar feeds tell changes: a shift's revision moves on when its times, place or status change, and
a person taken off a shift leaves a cancellation behind for their feed

Revision ID: 0028
Revises: 0027
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bpo.migrations import rls

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    op.add_column("shifts", sa.Column("revision", sa.Integer(), server_default="0", nullable=False))
    # Whatever changes a shift (the API, the solver, a swap, a bulk publish), calendars see a new revision.
    op.execute(
        """
        CREATE FUNCTION bpo_shift_revision() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            IF (NEW.starts_at, NEW.ends_at, NEW.site_id, NEW.mode, NEW.status)
               IS DISTINCT FROM (OLD.starts_at, OLD.ends_at, OLD.site_id, OLD.mode, OLD.status) THEN
                NEW.revision := OLD.revision + 1;
            END IF;
            RETURN NEW;
        END
        $body$
        """
    )
    op.execute(
        "CREATE TRIGGER shift_revision BEFORE UPDATE ON shifts "
        "FOR EACH ROW EXECUTE FUNCTION bpo_shift_revision()"
    )
    op.create_table(
        "cancelled_assignments",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        # The id the assignment had, so a calendar cancels the very event it showed.
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("staff_id", sa.UUID(), nullable=False),
        sa.Column("shift_id", sa.UUID(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("site_id", sa.UUID(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column(
            "cancelled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "staff_id"], ["staff.tenant_id", "staff.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        op.f("ix_cancelled_assignments_tenant_id_staff_id_ends_at"),
        "cancelled_assignments",
        ["tenant_id", "staff_id", "ends_at"],
    )
    rls.tenant_table("cancelled_assignments", app_role, "SELECT, INSERT, DELETE")
    # Taken off a shift (unassigned, swapped away, replanned, the shift deleted): the feed says cancelled.
    # Put back on the same shift: the cancellation goes, the new assignment shows.
    op.execute(
        """
        CREATE FUNCTION bpo_assignment_cancelled() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            INSERT INTO cancelled_assignments
                (tenant_id, id, staff_id, shift_id, contract_id, site_id, starts_at, ends_at, revision)
            SELECT OLD.tenant_id, OLD.id, OLD.staff_id, s.id, s.contract_id, s.site_id, s.starts_at,
                   s.ends_at, s.revision
            FROM shifts s WHERE s.tenant_id = OLD.tenant_id AND s.id = OLD.shift_id
            ON CONFLICT (tenant_id, id) DO NOTHING;
            RETURN OLD;
        END
        $body$
        """
    )
    op.execute(
        "CREATE TRIGGER assignment_cancelled AFTER DELETE ON assignments "
        "FOR EACH ROW EXECUTE FUNCTION bpo_assignment_cancelled()"
    )
    op.execute(
        """
        CREATE FUNCTION bpo_assignment_restored() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            DELETE FROM cancelled_assignments
            WHERE tenant_id = NEW.tenant_id AND staff_id = NEW.staff_id AND shift_id = NEW.shift_id;
            RETURN NEW;
        END
        $body$
        """
    )
    op.execute(
        "CREATE TRIGGER assignment_restored AFTER INSERT ON assignments "
        "FOR EACH ROW EXECUTE FUNCTION bpo_assignment_restored()"
    )


def downgrade(app_role: str) -> None:
    op.execute("DROP TRIGGER assignment_restored ON assignments")
    op.execute("DROP FUNCTION bpo_assignment_restored()")
    op.execute("DROP TRIGGER assignment_cancelled ON assignments")
    op.execute("DROP FUNCTION bpo_assignment_cancelled()")
    op.drop_table("cancelled_assignments")
    op.execute("DROP TRIGGER shift_revision ON shifts")
    op.execute("DROP FUNCTION bpo_shift_revision()")
    op.drop_column("shifts", "revision")
