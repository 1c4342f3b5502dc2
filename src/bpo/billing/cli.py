"""``bpo invoices``: month-end runs from the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from bpo.billing import schemas
    from bpo.core.runtime import Runtime
    from bpo.tenancy.scope import Scope

invoices_app = typer.Typer(help="Invoices.", no_args_is_help=True)


async def run_period_now(
    runtime: Runtime,
    scope: Scope,
    period_text: str,
    on_total: Callable[[int], None] = lambda _: None,
    on_client: Callable[[], None] = lambda: None,
) -> schemas.RunResult:
    """A month-end run done here and now, one client per transaction (safe to interrupt and run again),
    recorded as an invoice run like the background one."""
    from bpo.billing import runs, schemas
    from bpo.core.errors import Conflict

    period = runs.parse_period(period_text)
    async with runtime.db.tenant(scope.tenant_id) as session:
        run_id = (await runs.start_run(session, scope, period, enqueue=False)).id
        client_ids = await runs.billable_client_ids(session, scope, period)
    on_total(len(client_ids))
    result = schemas.RunResult()
    errors: list[str] = []
    for client_id in client_ids:
        try:
            async with runtime.db.tenant(scope.tenant_id) as session:
                runs.tally(result, await runs.bill_client(session, scope, client_id, period, run_id))
        except Conflict as exc:
            errors.append(exc.detail)
        on_client()
    async with runtime.db.tenant(scope.tenant_id) as session:
        await runs.finish_run(session, scope, run_id, result, errors)
    return result


@invoices_app.command("run")
def run(
    period: Annotated[str, typer.Option(help="Month to bill, YYYY-MM.")],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
) -> None:
    """Compute the month's draft invoices now: drafts are replaced, finalized invoices left alone."""
    from bpo.cli import console, fail, out, services, settings_or_exit
    from bpo.core.errors import BpoError
    from bpo.core.runtime import Runtime
    from bpo.tenancy.auth import operator_scope

    with services(settings_or_exit()) as settings:

        async def main() -> schemas.RunResult:
            runtime = Runtime.create(settings)
            try:
                scope = await operator_scope(runtime, tenant)
                columns = (TextColumn("billing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
                with Progress(*columns, console=console) as bar:
                    task = bar.add_task("clients", total=None)
                    return await run_period_now(
                        runtime,
                        scope,
                        period,
                        on_total=lambda total: bar.update(task, total=total),
                        on_client=lambda: bar.advance(task),
                    )
            finally:
                await runtime.close()

        try:
            result = asyncio.run(main())
        except BpoError as exc:
            fail(exc.detail)
        out.print(
            f"{period}: {result.clients} clients, {result.drafts_created} drafts created, "
            f"{result.drafts_replaced} replaced, {result.drafts_removed} removed, "
            f"{result.skipped_finalized} already finalized",
            highlight=False,
        )
