"""``bpo work``: back-load work items from files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bpo.cli.common import console, fail, out, services, settings_or_exit

work_app = typer.Typer(help="Work items: import history from CSV or NDJSON.", no_args_is_help=True)


@work_app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help=".csv, .ndjson or .jsonl")
    ],
    contract: Annotated[str, typer.Option(help="Contract code.")],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 5_000,
) -> None:
    """Validate the whole file, then upsert its items in batches (safe to re-run: idempotent).

    A CSV file has a header row naming its columns, in any order; a blank cell is an absent value.
    An NDJSON file has one JSON object per line with the same names.

    \b
    Columns (only the first two are required):
      external_id        your id of the item, 1-200 characters; an item is matched by it
      received_at        ISO 8601 time with an offset, e.g. 2026-09-01T09:00:00+09:00
      first_response_at  ISO 8601 time with an offset; only ever moves forward
      resolved_at        ISO 8601 time with an offset; only ever moves forward
      kind               up to 64 characters, e.g. post, review, ticket
      channel            up to 64 characters, e.g. email, chat, phone
      priority           up to 32 characters, e.g. high
      handled_by         who handled it, up to 200 characters
      outcome            approved, rejected, escalated, replied, acknowledged, resolved or no_action
      sentiment          positive, neutral or negative
      units              whole number of billable units, 0-1000000 (default 1)
      csat               the requester's satisfaction rating, a whole number 1-5
      started_at         when handling it started (ISO 8601 with an offset)
      handled_at         when handling it finished (ISO 8601 with an offset)
      attributes         a JSON object, e.g. {"lang": "ja"} (in CSV, quote it and double its quotes)
      voice              what the user said, a JSON object: {"text": "…", "category": "bug_report",
                         "sentiment": "negative", "source_url": "https://…", "tags": ["ios"]} (upserted)
    """
    from bpo.core.errors import BpoError
    from bpo.core.runtime import Runtime
    from bpo.tenancy.auth import operator_scope
    from bpo.work.importer import ImportProblem, import_items, read_items

    try:
        items = read_items(file)
    except ImportProblem as problem:
        for line in problem.problems:
            console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None

    with services(settings_or_exit()) as settings:

        async def run() -> None:
            runtime = Runtime.create(settings)
            try:
                scope = await operator_scope(runtime, tenant)
                columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
                with Progress(*columns, console=console) as bar:
                    task = bar.add_task("items", total=len(items))
                    result = await import_items(
                        runtime, scope, contract, items, lambda n: bar.advance(task, n), batch_size
                    )
                out.print(
                    f"{result.received} items: {result.created} created, {result.updated} updated, "
                    f"{result.unchanged} unchanged",
                    highlight=False,
                )
            finally:
                await runtime.close()

        try:
            asyncio.run(run())
        except ImportProblem as problem:
            fail(problem.problems[0])
        except BpoError as exc:
            fail(exc.detail)
