"""A month-end run reads what it rates for all its clients at once (``run_inputs.gather``): one aggregate
per billable event its meters count by and one statement of SLA attainment, however many contracts.
Clients closing on different days, contracts on different clocks with different night windows and
holidays, meters of their own and service credits, all in one run, rate exactly as each client read and
rated alone."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import event

from bpo.billing import invoice_runs as runs
from bpo.billing import run_inputs
from bpo.clients import service as clients
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from tests.billing.test_meters_surcharges import PATROL_PLAN, activate, item, patrol_contract
from tests.support.billing import JST, billing_setup, get_invoice, invoices
from tests.support.factories import TenantHandle, create_tenant
from tests.support.sla import ingest

NOVEMBER = date(2026, 11, 1)

# Posts on London's clock, 20:00-02:00 at 7 yen more.
LONDON_PLAN: dict[str, Any] = {
    "effective_from": "2026-10-01",
    "currency": "JPY",
    "charges": [{"kind": "per_unit", "code": "posts", "name": "Posts", "unit": "post", "unit_price": 10}],
    "surcharges": [
        {
            "code": "night",
            "name": "Night",
            "window": "night",
            "charges": ["posts"],
            "start": "20:00",
            "end": "26:00",
            "unit_price": 7,
        }
    ],
}
# Tokyo's clock, 21:00-03:00, and the United States' holidays (Veterans Day, Thanksgiving) at 5 yen more.
LATE_PLAN: dict[str, Any] = {
    "effective_from": "2026-10-01",
    "currency": "JPY",
    "charges": [
        {
            "kind": "graduated",
            "code": "posts",
            "name": "Posts",
            "unit": "post",
            "tiers": [{"up_to": 100, "unit_price": 12}, {"up_to": None, "unit_price": 9}],
        }
    ],
    "surcharges": [
        {
            "code": "late",
            "name": "Late",
            "window": "night",
            "charges": ["posts"],
            "start": "21:00",
            "end": "27:00",
            "unit_price": 4,
        },
        {
            "code": "us-holiday",
            "name": "US holiday",
            "window": "holiday",
            "charges": ["posts"],
            "holiday_country": "US",
            "unit_price": 5,
        },
    ],
}


def month_of_items(prefix: str) -> list[dict[str, Any]]:
    """Every 7 hours from 15 October to the end of November (Tokyo), posts and images, every fifth
    escalated, every seventh resolved two days later."""
    items = []
    received = datetime.fromisoformat(f"2026-10-15T00:30:00{JST}")
    number = 0
    while received < datetime.fromisoformat(f"2026-12-01T00:00:00{JST}"):
        resolved = received + (timedelta(days=2) if number % 7 == 0 else timedelta(minutes=5))
        fields = {"kind": "image" if number % 3 == 0 else "post"}
        if number % 5 == 0:
            fields["outcome"] = "escalated"
        items.append(
            item(f"{prefix}{number}", received.isoformat(), 1 + number % 4, resolved.isoformat(), **fields)
        )
        received += timedelta(hours=7)
        number += 1
    return items


async def four_clients(client: httpx.AsyncClient, runtime: Runtime) -> tuple[TenantHandle, list[str]]:
    """A tenant with billing_setup's client (two contracts, one with a service credit from its SLA
    rollups), and three patrol clients: Tokyo closing at the month end, London and Tokyo on the 20th."""
    tenant = await create_tenant(client)
    setup = await billing_setup(client, runtime, tenant)
    tokyo = await patrol_contract(client, tenant)
    await activate(
        client, tenant, tokyo["contract"], {"effective_from": "2026-10-01", "currency": "JPY", **PATROL_PLAN}
    )
    london = await patrol_contract(client, tenant, zone="Europe/London", holidays="none", closing_day=20)
    await activate(client, tenant, london["contract"], LONDON_PLAN)
    late = await patrol_contract(client, tenant, closing_day=20)
    await activate(client, tenant, late["contract"], LATE_PLAN)
    for contract in (tokyo, london, late):
        await ingest(client, tenant.admin, contract["contract"], month_of_items("p"))
    ids = [setup["client"]["id"], tokyo["client"]["id"], london["client"]["id"], late["client"]["id"]]
    return tenant, ids


def figures(lines: list[dict[str, Any]]) -> list[tuple[str, str, Decimal, int]]:
    return [
        (line["kind"], line["code"], Decimal(line["quantity"]), line["amount"]["amount"]) for line in lines
    ]


class TestOneRunForAll:
    async def test_the_run_rates_every_client_as_it_would_alone(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        handle, client_ids = await four_clients(client, runtime)
        result = await runs.run_period_now(runtime, system_scope(handle.id), "2026-11")
        assert (result.clients, result.drafts_created) == (4, 4)

        scope = system_scope(handle.id)
        billed: dict[str, list[tuple[str, str, Decimal, int]]] = {}
        for client_id in client_ids:
            [draft] = await invoices(client, handle.admin, client_id=client_id, period="2026-11")
            billed[client_id] = figures((await get_invoice(client, handle.admin, draft["id"]))["lines"])
        async with runtime.db.tenant(handle.id) as session:
            for client_id in client_ids:
                row = await clients.get_client_row(session, scope, uuid.UUID(client_id))
                computed = await runs.compute_client(session, scope, row, runs.client_period(row, NOVEMBER))
                alone = [
                    (line.kind.value, line.code, line.quantity, line.amount)
                    for rated in computed.rated
                    for line in rated.result.lines
                ]
                assert billed[client_id] == alone, row.code

        first, tokyo, london, late = (billed[client_id] for client_id in client_ids)
        # The SLA credit of billing_setup's contract A (first response met 2 of 3 in October; a4, its one
        # November item, answered in 10 minutes): none in November.
        assert [line for line in first if line[0] == "service_credit"] == []
        # Every window of every clock caught some of the items.
        for lines, surcharges in (
            (tokyo, {"night", "holiday"}),
            (london, {"night"}),
            (late, {"late", "us-holiday"}),
        ):
            found = {code for kind, code, quantity, _ in lines if kind == "surcharge" and quantity > 0}
            assert found == surcharges, lines
        # Clients closing on the 20th have fewer of the same items than the calendar month's.
        posts = {
            name: sum(q for kind, code, q, _ in lines if (kind, code) == ("charge", "posts"))
            for name, lines in (("tokyo", tokyo), ("london", london), ("late", late))
        }
        assert posts["london"] == posts["late"] != posts["tokyo"]

    async def test_statements_do_not_grow_with_the_contracts(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        handle, client_ids = await four_clients(client, runtime)
        scope = system_scope(handle.id)

        async def statements(ids: list[str]) -> list[str]:
            """The statements reading the inputs of these clients."""
            seen: list[str] = []
            async with runtime.db.tenant(handle.id) as session:
                wanted = []
                for client_id in ids:
                    row = await clients.get_client_row(session, scope, uuid.UUID(client_id))
                    wanted.append((row, runs.client_period(row, NOVEMBER)))
                connection = await session.connection()

                def count(*args: Any) -> None:
                    seen.append(str(args[2]))

                event.listen(connection.sync_connection, "before_cursor_execute", count)
                try:
                    inputs = await run_inputs.gather(session, scope, wanted)
                finally:
                    event.remove(connection.sync_connection, "before_cursor_execute", count)
            assert all(found.problem is None for found in inputs.clients.values())
            return seen

        everyone = await statements(client_ids)
        # Five contracts billed by their billable event (resolved), one of them with images (a kind) and
        # escalations (an outcome) too, counted by the same event: one aggregate for the clients closing at
        # the month end and one for those closing on the 20th (each with a single span of days, nothing to
        # group by but the contract); one contract with a service credit.
        assert sum("work_items" in s for s in everyone) == 2
        assert sum("sla_hourly" in s for s in everyone) == 1
        # Tenant, tax terms, contracts, rate plans, calendars, SLA policies (coverage objectives), and the
        # plan mode set for the aggregates and put back.
        assert len(everyone) <= 12, everyone
        # One client more or less changes nothing but the parameters.
        assert len(await statements(client_ids[:3])) == len(everyone)
