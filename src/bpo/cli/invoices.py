"""``bpo invoices``: month-end runs from the command line."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bpo.cli.common import console, fail, out, services, settings_or_exit

if TYPE_CHECKING:
    from bpo.billing import schemas

invoices_app = typer.Typer(help="Invoices.", no_args_is_help=True)


@invoices_app.command("run")
def run(
    period: Annotated[str, typer.Option(help="Month to bill, YYYY-MM.")],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
) -> None:
    """Compute the month's draft invoices now: drafts are replaced, finalized invoices left alone."""
    from bpo.billing.invoice_runs import run_period_now
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
