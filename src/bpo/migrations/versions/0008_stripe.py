"""stripe

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "billing_settings",
    "stripe_customers",
    "stripe_invoices",
    "stripe_events",
    "payments",
    "stripe_reconciliations",
)


def upgrade(app_role: str) -> None:
    op.create_table(
        "billing_settings",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=6, scale=4), server_default="0.10", nullable=False),
        sa.Column("tax_rounding", sa.String(length=16), server_default="floor", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_billing_settings")),
        sa.CheckConstraint("tax_rate >= 0 AND tax_rate <= 1", name=op.f("ck_billing_settings_tax_rate")),
        sa.CheckConstraint(
            "tax_rounding IN ('floor', 'half_up')", name=op.f("ck_billing_settings_tax_rounding")
        ),
    )
    op.create_table(
        "stripe_accounts",
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("tenant", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenants.id"], name=op.f("fk_stripe_accounts_tenant_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_stripe_accounts")),
        sa.UniqueConstraint("tenant", name=op.f("uq_stripe_accounts_tenant")),
    )
    op.create_table(
        "stripe_customers",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("stripe_account_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["clients.tenant_id", "clients.id"],
            name=op.f("fk_stripe_customers_tenant_id_client_id_clients"),
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "client_id", "stripe_account_id", name=op.f("pk_stripe_customers")
        ),
    )
    op.create_table(
        "stripe_invoices",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("stripe_account_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_status", sa.String(length=32), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("last_event_created", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name=op.f("fk_stripe_invoices_tenant_id_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "invoice_id", name=op.f("pk_stripe_invoices")),
        sa.UniqueConstraint(
            "tenant_id",
            "stripe_account_id",
            "stripe_invoice_id",
            name=op.f("uq_stripe_invoices_tenant_id_stripe_account_id_stripe_invoice_id"),
        ),
    )
    op.create_table(
        "stripe_events",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name=op.f("pk_stripe_events")),
    )
    op.create_table(
        "payments",
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stripe_event_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(length=255), nullable=False),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name=op.f("fk_payments_tenant_id_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "tenant_id", "stripe_event_id", name=op.f("uq_payments_tenant_id_stripe_event_id")
        ),
    )
    op.create_index(op.f("ix_payments_tenant_id_invoice_id"), "payments", ["tenant_id", "invoice_id"])
    # An invoice is paid once, whatever Stripe sends.
    op.create_index(
        "uq_payments_one_success",
        "payments",
        ["tenant_id", "invoice_id"],
        unique=True,
        postgresql_where=sa.text("status = 'succeeded'"),
    )
    op.create_table(
        "stripe_reconciliations",
        sa.Column("stripe_account_id", sa.String(length=255), nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("mismatches", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_stripe_reconciliations")),
    )
    op.create_index(
        op.f("ix_stripe_reconciliations_tenant_id_created_at"),
        "stripe_reconciliations",
        ["tenant_id", "created_at"],
    )
    for table in TENANT_TABLES:
        rls.tenant_table(table, app_role)
    # A webhook names the connected account, not our tenant, and until the tenant is known the tenant
    # tables show nothing (RLS). This platform table is the one lookup readable before then: anyone may
    # read account -> tenant, but a row can only be written, moved or removed by a transaction whose
    # tenant is the row's own. No SECURITY DEFINER function, no BYPASSRLS.
    rls.platform_table("stripe_accounts", app_role, "SELECT, INSERT, UPDATE, DELETE")
    op.execute("ALTER TABLE stripe_accounts ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE stripe_accounts FORCE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY stripe_accounts_lookup ON stripe_accounts FOR SELECT USING (true)")
    own = "tenant = NULLIF(current_setting('bpo.tenant_id', true), '')::uuid"
    op.execute(f"CREATE POLICY stripe_accounts_insert ON stripe_accounts FOR INSERT WITH CHECK ({own})")
    op.execute(
        f"CREATE POLICY stripe_accounts_update ON stripe_accounts FOR UPDATE USING ({own}) WITH CHECK ({own})"
    )
    op.execute(f"CREATE POLICY stripe_accounts_delete ON stripe_accounts FOR DELETE USING ({own})")


def downgrade(app_role: str) -> None:
    op.drop_table("stripe_accounts")
    op.drop_index(op.f("ix_stripe_reconciliations_tenant_id_created_at"), table_name="stripe_reconciliations")
    op.drop_table("stripe_reconciliations")
    op.drop_index(
        "uq_payments_one_success", table_name="payments", postgresql_where=sa.text("status = 'succeeded'")
    )
    op.drop_index(op.f("ix_payments_tenant_id_invoice_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_table("stripe_events")
    op.drop_table("stripe_invoices")
    op.drop_table("stripe_customers")
    op.drop_table("billing_settings")
