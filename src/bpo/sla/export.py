"""The SLA dashboards as CSV: one row per objective and period for a contract, per contract and objective
for a client."""

from __future__ import annotations

import csv
import io
from datetime import date

from bpo.sla import schemas

CSV_COLUMNS = (
    "contract_code",
    "objective",
    "period",
    "met",
    "breached",
    "pending",
    "attainment_percent",
    "target_percent",
    "received",
    "responded",
    "resolved",
    "units",
    "required_minutes",
    "fully_staffed_minutes",
)


def csv_percent(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def contract_sla_csv(report: schemas.ContractSla) -> str:
    """The same numbers as the JSON report, one row per objective and period (volumes repeated per row).
    The coverage objective's rows leave the item counts empty and give required and fully staffed minutes;
    item objectives' rows leave those empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    volumes = {point.period: point for point in report.volumes.series}

    def write(key: str, period: date, attained: float | None, target: float, *counts: object) -> None:
        volume = volumes.get(period)
        writer.writerow(
            [
                report.contract_code,
                key,
                period.isoformat(),
                *counts[:3],
                csv_percent(attained),
                f"{target:g}",
                *((volume.received, volume.responded, volume.resolved, volume.units) if volume else (0,) * 4),
                *counts[3:],
            ]
        )

    for objective in report.objectives:
        for point in objective.series:
            write(
                objective.key,
                point.period,
                point.attainment,
                objective.target_percent,
                *(point.met, point.breached, point.pending, "", ""),
            )
    if report.coverage is not None:
        for staffed in report.coverage.series:
            write(
                "coverage",
                staffed.period,
                staffed.attainment,
                report.coverage.target_percent,
                *("", "", "", f"{staffed.required_minutes:g}", f"{staffed.fully_staffed_minutes:g}"),
            )
    return buffer.getvalue()


CLIENT_CSV_COLUMNS = (
    "contract_code",
    "contract_name",
    "objective",
    "metric",
    "target_percent",
    "attainment_percent",
    "status",
    "previous_attainment_percent",
    "trend",
    "received",
)


def client_sla_csv(report: schemas.ClientSla) -> str:
    """The client summary, one row per contract and objective (the coverage objective as "coverage")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CLIENT_CSV_COLUMNS)

    for contract in report.contracts:
        rows: list[tuple[str, str, schemas.ObjectiveSummary | schemas.CoverageObjectiveSummary]] = [
            (o.key, o.metric, o) for o in contract.objectives
        ]
        if contract.coverage is not None:
            rows.append(("coverage", "coverage", contract.coverage))
        for key, metric, summary in rows:
            writer.writerow(
                [
                    contract.contract_code,
                    contract.name,
                    key,
                    metric,
                    f"{summary.target_percent:g}",
                    csv_percent(summary.attainment),
                    summary.status or "",
                    csv_percent(summary.previous_attainment),
                    summary.trend or "",
                    contract.received,
                ]
            )
    return buffer.getvalue()
