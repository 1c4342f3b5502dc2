"""``bpo db …``: database operations beyond migrations."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bpo.cli.common import fail, out, services, settings_or_exit

db_app = typer.Typer(help="Database operations (Citus distribution).", no_args_is_help=True)


@db_app.command("distribute")
def distribute(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the schema and print the plan; change nothing.")
    ] = False,
) -> None:
    """Distribute the schema with Citus by tenant_id (no-op on plain PostgreSQL).

    Platform tables become reference tables and tenant tables distributed tables colocated with each
    other, in foreign-key order. Runs as the schema owner after `bpo migrate`; tables already
    distributed are skipped, so it can be run again after a migration adds tables.
    """
    import asyncpg
    from sqlalchemy.engine import make_url

    from bpo.core.db import connect_params
    from bpo.migrations.citus import (
        DependencyCycle,
        Step,
        apply_plan,
        citus_version,
        distribution_plan,
        read_catalog,
        readiness_problems,
    )

    def describe(step: Step) -> str:
        if step.kind == "reference":
            return f"reference table    {step.table}"
        colocation = f" (colocated with {step.colocate_with})" if step.colocate_with else ""
        return f"distributed table  {step.table} by tenant_id{colocation}"

    async def run(url: str, database: str, statement_cache: bool) -> None:
        connection = await asyncpg.connect(
            **connect_params(url), statement_cache_size=100 if statement_cache else 0
        )
        try:
            citus = await citus_version(connection)
            if citus is None and not dry_run:
                out.print(
                    f"the citus extension is not installed in database {database!r}: nothing to distribute "
                    "(plain PostgreSQL runs the schema as it is; `--dry-run` shows what Citus would get)",
                    highlight=False,
                    soft_wrap=True,
                )
                return
            catalog = await read_catalog(connection)
            if not catalog.tenant_tables:
                fail(f"database {database!r} has no tenant tables: run `bpo migrate` first")
            problems = readiness_problems(catalog)
            if problems:
                fail(f"the schema cannot be distributed by tenant_id: {'; '.join(problems)}")
            try:
                plan = distribution_plan(catalog)
            except DependencyCycle as exc:
                fail(str(exc))
            if dry_run:
                where = f"citus {citus}" if citus else "no citus extension: nothing would run"
                out.print(f"plan for database {database!r} ({where}):", highlight=False)
                for step in plan:
                    out.print(f"  {describe(step)}", highlight=False)
                return

            def report(step: Step, ran: bool) -> None:
                out.print(f"{'done   ' if ran else 'already'}  {describe(step)}", highlight=False)

            try:
                await apply_plan(connection, plan, report)
            except asyncpg.PostgresError as exc:
                fail(f"distribution stopped: {exc}")
            out.print(f"database {database!r} is distributed by tenant_id (citus {citus})", highlight=False)
        finally:
            await connection.close()

    with services(settings_or_exit()) as settings:
        url = settings.migration_database_url or settings.database_url
        assert url is not None
        database = make_url(url).database or ""
        try:
            asyncio.run(run(url, database, settings.database_statement_cache))
        except (OSError, asyncpg.PostgresError) as exc:
            fail(f"database {database!r}: {exc}")
