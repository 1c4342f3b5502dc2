"""onboarding

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    op.create_table(
        "calendars",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("windows", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("holiday_country", sa.String(length=8), nullable=True),
        sa.Column("holiday_subdivision", sa.String(length=16), nullable=True),
        sa.Column("exceptions", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_calendars")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_calendars_tenant_id_code")),
    )
    op.create_table(
        "clients",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("legal_name", sa.String(length=300), server_default="", nullable=False),
        sa.Column("billing_contact_name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("billing_email", sa.String(length=254), server_default="", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("closing_day", sa.Integer(), server_default="31", nullable=False),
        sa.Column("payment_month_offset", sa.Integer(), server_default="1", nullable=False),
        sa.Column("payment_day", sa.Integer(), server_default="31", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_clients")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_clients_tenant_id_code")),
    )
    op.create_table(
        "services",
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), server_default="", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["clients.tenant_id", "clients.id"],
            name=op.f("fk_services_tenant_id_client_id_clients"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_services")),
        sa.UniqueConstraint(
            "tenant_id", "client_id", "code", name=op.f("uq_services_tenant_id_client_id_code")
        ),
    )
    op.create_table(
        "sites",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.UUID(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=500), server_default="", nullable=False),
        sa.Column("seat_capacity", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["clients.tenant_id", "clients.id"],
            name=op.f("fk_sites_tenant_id_client_id_clients"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_sites")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_sites_tenant_id_code")),
    )
    op.create_table(
        "contracts",
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("work_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("staffing_mode", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.UUID(), nullable=True),
        sa.Column("calendar_id", sa.UUID(), nullable=False),
        sa.Column("coverage", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("expected_monthly_volume", sa.Integer(), nullable=True),
        sa.Column("billable_event", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "calendar_id"],
            ["calendars.tenant_id", "calendars.id"],
            name=op.f("fk_contracts_tenant_id_calendar_id_calendars"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["clients.tenant_id", "clients.id"],
            name=op.f("fk_contracts_tenant_id_client_id_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "service_id"],
            ["services.tenant_id", "services.id"],
            name=op.f("fk_contracts_tenant_id_service_id_services"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "site_id"],
            ["sites.tenant_id", "sites.id"],
            name=op.f("fk_contracts_tenant_id_site_id_sites"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_contracts_tenant_id_code")),
    )
    op.create_index(
        op.f("ix_contracts_tenant_id_client_id"), "contracts", ["tenant_id", "client_id"], unique=False
    )
    op.create_table(
        "rate_plans",
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("charges", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("minimum_commitment", sa.Integer(), nullable=True),
        sa.Column(
            "service_credits", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            name=op.f("fk_rate_plans_tenant_id_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_rate_plans")),
        sa.UniqueConstraint(
            "tenant_id",
            "contract_id",
            "effective_from",
            name=op.f("uq_rate_plans_tenant_id_contract_id_effective_from"),
        ),
    )
    op.create_table(
        "sla_policies",
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("objectives", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            name=op.f("fk_sla_policies_tenant_id_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint(
            "tenant_id",
            "contract_id",
            "effective_from",
            name=op.f("uq_sla_policies_tenant_id_contract_id_effective_from"),
        ),
    )
    op.create_foreign_key(
        op.f("fk_api_keys_tenant_id_contract_id_contracts"),
        "api_keys",
        "contracts",
        ["tenant_id", "contract_id"],
        ["tenant_id", "id"],
    )
    op.create_foreign_key(
        op.f("fk_api_keys_tenant_id_client_id_clients"),
        "api_keys",
        "clients",
        ["tenant_id", "client_id"],
        ["tenant_id", "id"],
    )
    op.add_column("tenants", sa.Column("invoice_registration_number", sa.String(length=14), nullable=True))
    op.create_foreign_key(
        op.f("fk_users_tenant_id_client_id_clients"),
        "users",
        "clients",
        ["tenant_id", "client_id"],
        ["tenant_id", "id"],
    )

    for table in ("calendars", "clients", "services", "sites", "contracts", "rate_plans", "sla_policies"):
        rls.tenant_table(table, app_role)


def downgrade(app_role: str) -> None:
    op.drop_constraint(op.f("fk_users_tenant_id_client_id_clients"), "users", type_="foreignkey")
    op.drop_column("tenants", "invoice_registration_number")
    op.drop_constraint(op.f("fk_api_keys_tenant_id_client_id_clients"), "api_keys", type_="foreignkey")
    op.drop_constraint(op.f("fk_api_keys_tenant_id_contract_id_contracts"), "api_keys", type_="foreignkey")
    for table in ("sla_policies", "rate_plans", "contracts", "sites", "services", "clients", "calendars"):
        op.drop_table(table)
