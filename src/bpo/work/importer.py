"""Back-loading history from CSV or NDJSON files into a contract (``bpo work import``)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from bpo.core.errors import BpoError
from bpo.core.jobs import outbox
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope
from bpo.work import schemas, service

BATCH_SIZE = 5_000
MAX_REPORTED = 50
# CSV cells are text: these columns are read as numbers / JSON.
_INTEGER_COLUMNS = {"units", "csat"}
_JSON_COLUMNS = {"attributes", "voice"}


class ImportProblem(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, raw item) for each record; blank CSV cells are absent values."""
    suffix = path.suffix.lower()
    with path.open(newline="", encoding="utf-8") as handle:
        if suffix == ".csv":
            for line, row in enumerate(csv.DictReader(handle), start=2):
                item: dict[str, Any] = {}
                for key, value in row.items():
                    if key is None or value is None or value == "":
                        continue
                    if key in _INTEGER_COLUMNS:
                        item[key] = int(value) if value.lstrip("-").isdigit() else value
                    elif key in _JSON_COLUMNS:
                        item[key] = json.loads(value)
                    else:
                        item[key] = value
                yield line, item
        elif suffix in {".ndjson", ".jsonl"}:
            for line, text in enumerate(handle, start=1):
                if text.strip():
                    yield line, json.loads(text)
        else:
            raise ImportProblem([f"{path.name}: use a .csv, .ndjson or .jsonl file"])


def read_items(path: Path) -> list[tuple[int, schemas.WorkItemIn]]:
    """The whole file, validated before anything is written: every problem names its line."""
    problems: list[str] = []
    items: list[tuple[int, schemas.WorkItemIn]] = []
    try:
        for line, raw in _rows(path):
            try:
                items.append((line, msgspec.convert(raw, schemas.WorkItemIn)))
            except msgspec.ValidationError as exc:
                problems.append(f"line {line}: {exc}")
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name}: {exc}")
    lines = [line for line, _ in items]
    for error in service.check_items([item for _, item in items], datetime.now(UTC)):
        problems.append(
            f"line {lines[error['index']]}: {error['field'].split('.', 1)[1]}: {error['message']}"
        )
    if problems:
        raise ImportProblem(
            problems[:MAX_REPORTED]
            + ([f"… {len(problems) - MAX_REPORTED} more"] if len(problems) > MAX_REPORTED else [])
        )
    if not items:
        raise ImportProblem([f"{path.name}: no items"])
    return items


async def import_items(
    runtime: Runtime,
    scope: Scope,
    contract_code: str,
    items: list[tuple[int, schemas.WorkItemIn]],
    progress: Callable[[int], None],
    batch_size: int = BATCH_SIZE,
) -> schemas.BatchResult:
    """Send the items in batches, each its own transaction: a re-run after a failure is safe (idempotent)."""
    totals = {"created": 0, "updated": 0, "unchanged": 0}
    contract_id = None
    for start in range(0, len(items), batch_size):
        chunk = [item for _, item in items[start : start + batch_size]]
        batch = schemas.WorkItemBatch(items=chunk, contract_code=contract_code)
        try:
            async with runtime.db.tenant(scope.tenant_id) as session:
                outbox.relay_on_commit(session, runtime.relay)
                result = await service.ingest(session, scope, batch)
        except BpoError as exc:
            raise ImportProblem([exc.detail]) from None
        contract_id = result.contract_id
        for key in totals:
            totals[key] += getattr(result, key)
        progress(len(chunk))
    assert contract_id is not None
    return schemas.BatchResult(
        contract_id=contract_id,
        received=len(items),
        created=totals["created"],
        updated=totals["updated"],
        unchanged=totals["unchanged"],
    )
