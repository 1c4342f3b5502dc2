"""The migrated schema can be distributed by tenant_id with Citus as it is (DESIGN.md §2), read from the
live catalog so that every later migration is held to it; and the checker is shown to catch each kind
of mistake on tables created inside a transaction that is rolled back."""

from __future__ import annotations

import asyncpg
import pytest

from bpo.migrations.citus import (
    Catalog,
    DependencyCycle,
    ForeignKey,
    TenantColumn,
    distribution_order,
    distribution_plan,
    read_catalog,
    readiness_problems,
)
from bpo.migrations.rls import PLATFORM_TABLES


async def test_migrated_schema_is_ready_to_distribute_by_tenant_id(owner: asyncpg.Connection) -> None:
    catalog = await read_catalog(owner)

    assert readiness_problems(catalog) == []
    # The check saw the real schema: composite keys and foreign keys of tenant tables, and the platform table.
    assert {"users", "refresh_tokens", "contracts"} <= catalog.tenant_tables
    assert "tenants" in catalog.tables - catalog.tenant_tables
    assert any(key.table == "users" and key.kind == "unique constraint" for key in catalog.keys)
    assert any(fk.table == "refresh_tokens" and fk.references == "users" for fk in catalog.foreign_keys)


async def test_checker_reports_keys_without_tenant_id_and_undeclared_tables(
    owner: asyncpg.Connection,
) -> None:
    transaction = owner.transaction()
    await transaction.start()
    try:
        await owner.execute(
            """
            CREATE TABLE zz_widgets (
                tenant_id uuid NOT NULL,
                id uuid NOT NULL,
                code text NOT NULL,
                serial text NOT NULL,
                PRIMARY KEY (tenant_id, id),
                CONSTRAINT uq_zz_widgets_code UNIQUE (code)
            );
            CREATE UNIQUE INDEX ix_zz_widgets_serial ON zz_widgets (lower(serial));
            CREATE TABLE zz_parts (
                tenant_id uuid,
                id uuid PRIMARY KEY,
                widget_id uuid NOT NULL,
                other_tenant_id uuid NOT NULL,
                CONSTRAINT fk_zz_parts_widget FOREIGN KEY (other_tenant_id, widget_id)
                    REFERENCES zz_widgets (tenant_id, id)
            );
            CREATE TABLE zz_settings (key text PRIMARY KEY, value text);
            """
        )
        problems = readiness_problems(await read_catalog(owner))
    finally:
        await transaction.rollback()

    assert problems == [
        "zz_settings: has no tenant_id and is not declared in rls.PLATFORM_TABLES "
        "(tenant tables are distributed, platform tables replicated)",
        "zz_parts.tenant_id allows NULL (a row needs a shard)",
        "zz_parts: primary key zz_parts_pkey (id) lacks tenant_id",
        "zz_widgets: unique constraint uq_zz_widgets_code (code) lacks tenant_id",
        "zz_widgets: unique index ix_zz_widgets_serial (<expression>) lacks tenant_id",
        "zz_parts: foreign key fk_zz_parts_widget (other_tenant_id, widget_id) -> zz_widgets "
        "does not match tenant_id to tenant_id",
    ]
    assert readiness_problems(await read_catalog(owner)) == [], "the rollback left tables behind"


def test_referenced_tables_come_before_referencing_ones() -> None:
    tables = ["services", "contracts", "clients", "api_keys", "users", "audit_events"]
    foreign_keys = [
        ("services", "clients"),
        ("contracts", "services"),
        ("contracts", "clients"),
        ("api_keys", "contracts"),
        ("api_keys", "clients"),
        ("users", "clients"),
        ("users", "users"),  # self-reference: no constraint
        ("users", "tenants"),  # outside the set: no constraint
    ]

    order = distribution_order(tables, foreign_keys)

    assert order == ["audit_events", "clients", "services", "contracts", "api_keys", "users"]
    for referencing, referenced in foreign_keys:
        if referencing != referenced and referenced in tables:
            assert order.index(referenced) < order.index(referencing)


def test_a_foreign_key_cycle_is_reported_not_guessed() -> None:
    with pytest.raises(DependencyCycle, match="a, b"):
        distribution_order(["a", "b", "c"], [("a", "b"), ("b", "a"), ("c", "a")])


def test_plan_replicates_platform_tables_first_and_colocates_tenant_tables_with_the_first() -> None:
    uuid_column = TenantColumn(not_null=True, type="uuid")
    catalog = Catalog(
        tables=frozenset({"tenants", "alembic_version", "users", "refresh_tokens", "clients"}),
        tenant_columns={table: uuid_column for table in ("users", "refresh_tokens", "clients")},
        foreign_keys=(
            ForeignKey("refresh_tokens", "fk_rt", ("tenant_id", "user_id"), "users", ("tenant_id", "id")),
            ForeignKey("users", "fk_users", ("tenant_id", "client_id"), "clients", ("tenant_id", "id")),
        ),
    )

    plan = [
        (step.kind, step.table, step.colocate_with) for step in distribution_plan(catalog, PLATFORM_TABLES)
    ]

    # alembic_version stays a local table on the coordinator, where migrations run.
    assert plan == [
        ("reference", "tenants", None),
        ("distributed", "clients", None),
        ("distributed", "users", "clients"),
        ("distributed", "refresh_tokens", "clients"),
    ]
