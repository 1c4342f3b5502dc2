"""``bpo reports``: client reports made from the command line (back-fills and corrections)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bpo.cli.common import console, fail, out, services, settings_or_exit

if TYPE_CHECKING:
    from bpo.reports.service import BackfillResult

reports_app = typer.Typer(help="Scheduled client reports.", no_args_is_help=True)


@reports_app.command("run")
def run(
    period: Annotated[str, typer.Option(help="An ISO week (2026-W48) or a month (2026-11).")],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    client: Annotated[
        str | None,
        typer.Option(help="Client code; every client subscribed to that kind of report if left out."),
    ] = None,
    send: Annotated[
        bool, typer.Option(help="Mail the reports (each recipient at most once per report).")
    ] = True,
) -> None:
    """Make a period's client reports now: a report made before is made again in place."""
    from bpo.core.errors import BpoError
    from bpo.core.runtime import Runtime
    from bpo.reports.service import backfill
    from bpo.tenancy.auth import operator_scope

    with services(settings_or_exit()) as settings:

        async def main() -> BackfillResult:
            runtime = Runtime.create(settings)
            try:
                scope = await operator_scope(runtime, tenant)
                columns = (TextColumn("reports"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
                with Progress(*columns, console=console) as bar:
                    task = bar.add_task("clients", total=None)
                    return await backfill(
                        runtime,
                        scope,
                        period,
                        client,
                        send=send,
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
            f"{period}: {len(result.made)} made, {len(result.remade)} made again, "
            f"{len(result.failed)} failed",
            highlight=False,
        )
        for code, reason in result.failed.items():
            console.print(f"{code}: {reason}", highlight=False, markup=False, soft_wrap=True)
        if result.failed:
            raise typer.Exit(1)
