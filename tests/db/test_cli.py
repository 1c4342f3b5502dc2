"""`bpo db distribute`: a clear no-op on plain PostgreSQL, the plan it would run on Citus, and the
plan's SQL run against stand-ins for the Citus functions (no Citus server here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg

from bpo.migrations.citus import Step, apply_plan, distribution_plan, read_catalog
from bpo.settings import Settings
from tests.support.processes import BPO, command_env


def bpo_db(settings: Settings, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = command_env(settings, COLUMNS="200")
    return subprocess.run(
        [str(BPO), "db", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_distribute_on_plain_postgresql_is_a_clear_no_op(settings: Settings, tmp_path: Path) -> None:
    result = bpo_db(settings, "distribute", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "the citus extension is not installed" in result.stdout
    assert "nothing to distribute" in result.stdout


def test_dry_run_prints_the_plan_in_foreign_key_order(settings: Settings, tmp_path: Path) -> None:
    result = bpo_db(settings, "distribute", "--dry-run", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.startswith("  ")]
    tables = [words[2] for words in lines]
    assert lines[0][:3] == ["reference", "table", "tenants"]
    assert "alembic_version" not in tables
    # Platform tables (tenants first) are reference tables; then the anchor, and its co-located tables.
    references = [words for words in lines if words[0] == "reference"]
    assert lines[: len(references)] == references
    distributed = lines[len(references) :]
    anchor = distributed[0][2]
    assert distributed[0][:2] == ["distributed", "table"]
    assert all(words[-1] == f"{anchor})" for words in distributed[1:]), result.stdout
    assert tables.index("users") < tables.index("refresh_tokens")
    assert tables.index("clients") < tables.index("contracts") < tables.index("api_keys")


async def test_plan_runs_against_citus_functions_and_skips_what_is_done(owner: asyncpg.Connection) -> None:
    plan = distribution_plan(await read_catalog(owner))
    transaction = owner.transaction()
    await transaction.start()
    try:
        # Stand-ins with Citus's names and parameter names, recording the calls; all rolled back.
        await owner.execute(
            """
            CREATE TABLE pg_dist_partition (logicalrelid regclass);
            CREATE TABLE zz_citus_calls (n serial, call text);
            CREATE FUNCTION create_reference_table(table_name regclass) RETURNS void LANGUAGE sql AS $$
                INSERT INTO zz_citus_calls (call) VALUES ('reference ' || table_name::text);
                INSERT INTO pg_dist_partition VALUES (table_name);
            $$;
            CREATE FUNCTION create_distributed_table(
                table_name regclass, distribution_column text, colocate_with text DEFAULT 'default'
            ) RETURNS void LANGUAGE sql AS $$
                INSERT INTO zz_citus_calls (call)
                VALUES (concat_ws(' ', 'distributed', table_name::text, distribution_column, colocate_with));
                INSERT INTO pg_dist_partition VALUES (table_name);
            $$;
            INSERT INTO pg_dist_partition VALUES ('users'::regclass);
            """
        )
        reported: list[tuple[str, bool]] = []

        def report(step: Step, ran: bool) -> None:
            reported.append((step.table, ran))

        await apply_plan(owner, plan, report)
        calls = [row["call"] for row in await owner.fetch("SELECT call FROM zz_citus_calls ORDER BY n")]
        reported_again: list[tuple[str, bool]] = []
        await apply_plan(owner, plan, lambda step, ran: reported_again.append((step.table, ran)))
    finally:
        await transaction.rollback()

    anchor = next(step.table for step in plan if step.kind != "reference")
    expected = [
        f"reference {step.table}"
        if step.kind == "reference"
        else f"distributed {step.table} tenant_id {step.colocate_with or 'none'}"
        for step in plan
        if step.table != "users"
    ]
    assert calls == expected
    assert f"distributed {anchor} tenant_id none" in calls
    assert reported == [(step.table, step.table != "users") for step in plan]
    assert reported_again == [(step.table, False) for step in plan]
