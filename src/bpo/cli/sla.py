"""``bpo sla``: rebuild rollups from the raw items."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bpo.cli.common import console, fail, out, services, settings_or_exit

sla_app = typer.Typer(help="SLA rollups.", no_args_is_help=True)

# Hours per transaction: a rebuild of a year stays a series of short transactions.
HOURS_PER_STEP = 24


@sla_app.command("rebuild")
def rebuild(
    contract: Annotated[str, typer.Option(help="Contract code.")],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    since: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First day (UTC) to rebuild.")],
    until: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Day after the last (UTC); default: now.")
    ] = None,
) -> None:
    """Recompute the hourly SLA and volume rollups of a contract from its work items."""
    from bpo.clients.contracts import get_contract_row_by_code
    from bpo.core.errors import BpoError
    from bpo.core.runtime import Runtime
    from bpo.sla import rollups
    from bpo.tenancy.auth import operator_scope

    start = datetime.combine(since.date(), time(), UTC)
    end = datetime.combine(until.date(), time(), UTC) if until else datetime.now(UTC)
    if end <= start:
        fail("--until must be after --since", 2)

    with services(settings_or_exit()) as settings:

        async def run() -> int:
            runtime = Runtime.create(settings)
            try:
                scope = await operator_scope(runtime, tenant)
                async with runtime.db.tenant(scope.tenant_id) as session:
                    contract_id = (await get_contract_row_by_code(session, scope, contract)).id
                    hours = await rollups.hours_of_items(session, scope, contract_id, start, end)
                columns = (TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
                written = 0
                with Progress(*columns, console=console) as bar:
                    task = bar.add_task("hours", total=len(hours))
                    for i in range(0, len(hours), HOURS_PER_STEP):
                        step = hours[i : i + HOURS_PER_STEP]
                        async with runtime.db.tenant(scope.tenant_id) as session:
                            now = datetime.now(UTC)
                            written += await rollups.refresh_hours(session, scope, contract_id, step, now)
                        bar.advance(task, len(step))
                out.print(
                    f"{len(hours)} hours with items rebuilt ({written} objective rows)", highlight=False
                )
                return len(hours)
            finally:
                await runtime.close()

        try:
            asyncio.run(run())
        except BpoError as exc:
            fail(exc.detail)
