"""satisfaction: per-item CSAT, NPS responses, workable SLA alerts

Revision ID: 0024
Revises: 0023

Every column added to an existing table is nullable or has a constant default, and every check on one is
added ``NOT VALID`` (the rows already there hold NULL or the default), so none of them rewrites or scans
``work_items`` or the rollups. Rollup rows written before this revision carry no duration sum: an average
over them is shown as unknown until ``bpo sla rebuild`` recomputes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALERT_STATES = "('open', 'acknowledged', 'assigned', 'resolved')"
ALERT_ACTIONS = "('acknowledged', 'assigned', 'resolved')"


def upgrade(app_role: str) -> None:
    # Work items: the requester's satisfaction rating, and when someone started and finished handling it.
    op.add_column("work_items", sa.Column("csat", sa.SmallInteger(), nullable=True))
    op.add_column("work_items", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("work_items", sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "ALTER TABLE work_items ADD CONSTRAINT ck_work_items_csat CHECK (csat BETWEEN 1 AND 5) NOT VALID"
    )

    # Rollups: the exact sum of answered items' elapsed seconds (their count is the sketch's total), and
    # CSAT ratings counted per score ({"1": n, …, "5": n}).
    for table in ("sla_hourly", "sla_periods"):
        op.add_column(table, sa.Column("elapsed_sum", sa.Numeric(), nullable=True))
    for table in ("work_hourly", "work_periods"):
        op.add_column(
            table,
            sa.Column(
                "csat",
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'{}'"),
                nullable=False,
            ),
        )

    op.create_table(
        "nps_responses",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("score BETWEEN 0 AND 10", name=op.f("ck_nps_responses_score")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            name=op.f("fk_nps_responses_tenant_id_contract_id_contracts"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_nps_responses")),
        sa.UniqueConstraint(
            "tenant_id",
            "contract_id",
            "external_id",
            name=op.f("uq_nps_responses_tenant_id_contract_id_external_id"),
        ),
    )
    op.create_index(
        op.f("ix_nps_responses_tenant_id_contract_id_responded_at"),
        "nps_responses",
        ["tenant_id", "contract_id", "responded_at"],
    )
    rls.tenant_table("nps_responses", app_role, "SELECT, INSERT, UPDATE")

    # Alerts people act on: a state, the supervisor it is assigned to, and a timeline of who did what.
    op.add_column("alerts", sa.Column("state", sa.String(length=16), server_default="open", nullable=False))
    op.add_column("alerts", sa.Column("assignee_id", sa.UUID(), nullable=True))
    op.add_column("alerts", sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(f"ALTER TABLE alerts ADD CONSTRAINT ck_alerts_state CHECK (state IN {ALERT_STATES}) NOT VALID")
    op.execute(
        "ALTER TABLE alerts ADD CONSTRAINT fk_alerts_tenant_id_assignee_id_users FOREIGN KEY "
        "(tenant_id, assignee_id) REFERENCES users (tenant_id, id) NOT VALID"
    )
    # The alerts still to handle, in the order they were raised: a small part of a large table.
    op.create_index(
        "ix_alerts_unresolved", "alerts", ["tenant_id", "id"], postgresql_where=sa.text("state <> 'resolved'")
    )
    op.create_index(
        "ix_alerts_assignee",
        "alerts",
        ["tenant_id", "assignee_id", "id"],
        postgresql_where=sa.text("assignee_id IS NOT NULL"),
    )
    op.create_table(
        "alert_events",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("alert_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("assignee_id", sa.UUID(), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(f"action IN {ALERT_ACTIONS}", name=op.f("ck_alert_events_action")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "alert_id"],
            ["alerts.tenant_id", "alerts.id"],
            name=op.f("fk_alert_events_tenant_id_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "actor_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_alert_events_tenant_id_actor_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "assignee_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_alert_events_tenant_id_assignee_id_users"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_alert_events")),
    )
    op.create_index(
        op.f("ix_alert_events_tenant_id_alert_id_id"), "alert_events", ["tenant_id", "alert_id", "id"]
    )
    rls.tenant_table("alert_events", app_role, "SELECT, INSERT")


def downgrade(app_role: str) -> None:
    op.drop_index(op.f("ix_alert_events_tenant_id_alert_id_id"), table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_index("ix_alerts_assignee", table_name="alerts")
    op.drop_index("ix_alerts_unresolved", table_name="alerts")
    op.execute("ALTER TABLE alerts DROP CONSTRAINT fk_alerts_tenant_id_assignee_id_users")
    op.execute("ALTER TABLE alerts DROP CONSTRAINT ck_alerts_state")
    for column in ("state_changed_at", "assignee_id", "state"):
        op.drop_column("alerts", column)
    op.drop_index(op.f("ix_nps_responses_tenant_id_contract_id_responded_at"), table_name="nps_responses")
    op.drop_table("nps_responses")
    for table in ("work_hourly", "work_periods"):
        op.drop_column(table, "csat")
    for table in ("sla_hourly", "sla_periods"):
        op.drop_column(table, "elapsed_sum")
    op.execute("ALTER TABLE work_items DROP CONSTRAINT ck_work_items_csat")
    for column in ("handled_at", "started_at", "csat"):
        op.drop_column("work_items", column)
