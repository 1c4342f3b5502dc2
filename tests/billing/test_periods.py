"""Billing periods cut by the client's closing day, rate plan versions splitting a period, due dates from
payment terms, and the scheduled run on the day after each client's closing date. Expected amounts are
worked out by hand in the comments."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
from hypothesis import given
from hypothesis import strategies as st

from bpo.billing import invoice_runs as runs
from bpo.billing.rating import BillingPeriod, LineKind, Segment, rate, rate_split
from bpo.clients.periods import ClosingDays, due_date
from bpo.clients.schemas import RatePlanCreate
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from tests.support.billing import get_invoice, invoices
from tests.support.dashboard import sign_in
from tests.support.factories import TenantHandle, create_client, create_tenant, get_ok, post_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.sla import ingest, rebuild

TOKYO = ZoneInfo("Asia/Tokyo")
JST = "+09:00"


class TestPeriods:
    def test_closing_on_the_twentieth(self) -> None:
        twentieth = ClosingDays(20)
        november = twentieth.period(date(2026, 11, 1))
        assert (november.first_day, november.last_day, november.days) == (
            date(2026, 10, 21),
            date(2026, 11, 20),
            31,
        )
        march = twentieth.period(date(2027, 3, 1))
        assert (march.first_day, march.last_day) == (date(2027, 2, 21), date(2027, 3, 20))
        assert twentieth.period_containing(date(2026, 11, 21)).name == "2026-12"
        assert twentieth.period_containing(date(2026, 11, 20)).name == "2026-11"

    def test_month_end_is_the_calendar_month(self) -> None:
        february = ClosingDays(31).period(date(2028, 2, 1))
        assert (february.first_day, february.last_day) == (date(2028, 2, 1), date(2028, 2, 29))

    def test_a_change_cuts_only_the_periods_from_its_first(self) -> None:
        # Month end until November, the 20th from December's period: 1-30 November, then 1-20 December.
        to_twentieth = ClosingDays(31).changed(20, date(2026, 12, 1))
        assert to_twentieth.period(date(2026, 11, 1)).last_day == date(2026, 11, 30)
        december = to_twentieth.period(date(2026, 12, 1))
        assert (december.first_day, december.last_day) == (date(2026, 12, 1), date(2026, 12, 20))
        assert to_twentieth.period(date(2027, 1, 1)).first_day == date(2026, 12, 21)
        assert to_twentieth.current_from == date(2026, 12, 1)
        # Fees of the 20-day period are prorated over a regular one: 21 November - 20 December, 30 days.
        assert (december.days, december.regular_days) == (20, 30)
        # Back to the month end from January: 21 December - 31 January, the earlier periods as they were.
        back = to_twentieth.changed(31, date(2027, 1, 1))
        january = back.period(date(2027, 1, 1))
        assert (january.first_day, january.last_day) == (date(2026, 12, 21), date(2027, 1, 31))
        assert back.period(date(2026, 12, 1)).last_day == date(2026, 12, 20)
        assert (january.days, january.regular_days) == (42, 31)
        assert back.period(date(2026, 10, 1)).last_day == date(2026, 10, 31)
        assert ClosingDays.stored(31, back.to_stored()) == back

    def test_due_dates(self) -> None:
        # 翌月末: the end of the month after the closing date's; 翌々月10日: the 10th two months on.
        assert due_date(date(2026, 11, 20), 1, 31) == date(2026, 12, 31)
        assert due_date(date(2026, 11, 20), 2, 10) == date(2027, 1, 10)
        assert due_date(date(2026, 12, 31), 1, 31) == date(2027, 1, 31)
        assert due_date(date(2027, 1, 20), 1, 31) == date(2027, 2, 28)


USAGE_PLAN = msgspec.convert(
    {
        "effective_from": "2026-01-01",
        "currency": "JPY",
        "charges": [
            {"kind": "per_unit", "code": "posts", "name": "Posts", "unit": "post", "unit_price": 33},
            {
                "kind": "graduated",
                "code": "replies",
                "name": "Replies",
                "unit": "reply",
                "tiers": [{"up_to": 100, "unit_price": 50}, {"up_to": None, "unit_price": 30}],
            },
            {
                "kind": "volume",
                "code": "reviews",
                "name": "Reviews",
                "unit": "review",
                "tiers": [{"up_to": 150, "unit_price": 20}, {"up_to": None, "unit_price": 15}],
            },
            {
                "kind": "package",
                "code": "blocks",
                "name": "Blocks",
                "unit": "item",
                "package_size": 40,
                "package_price": 1000,
            },
        ],
    },
    RatePlanCreate,
)


@given(
    st.lists(st.integers(0, 300), min_size=1, max_size=5),
    st.data(),
)
def test_usage_charges_of_split_days_add_up_to_the_whole(units: list[int], data: st.DataObject) -> None:
    """Splitting a period between versions with the same prices changes no usage amount: tiers and
    packages count through the period."""
    period = BillingPeriod(date(2026, 10, 21), date(2026, 11, 20))
    cuts = sorted(
        data.draw(st.sets(st.integers(1, period.days - 1), min_size=len(units) - 1, max_size=len(units) - 1))
    )
    starts = [0, *cuts]
    ends = [*cuts, period.days]
    segments = [
        Segment(USAGE_PLAN, period.first_day + timedelta(days=a), period.first_day + timedelta(days=b - 1), n)
        for a, b, n in zip(starts, ends, units, strict=True)
    ]
    split = rate_split(period, segments)
    whole = rate(USAGE_PLAN, period, units=sum(units))
    for code in ("posts", "replies", "reviews", "blocks"):
        assert sum(line.amount for line in split.lines if line.code == code) == sum(
            line.amount for line in whole.lines if line.code == code
        ), code
    assert all(line.kind is LineKind.CHARGE for line in split.lines)


# --- through the API -------------------------------------------------------------------------------


async def customer(
    client: httpx.AsyncClient,
    tenant: TenantHandle,
    *,
    start: str,
    plans: list[dict[str, Any]],
    **client_fields: Any,
) -> dict[str, Any]:
    """A client with one active patrol contract from ``start`` with the rate plan versions ``plans``."""
    h = tenant.admin
    code = uuid.uuid4().hex[:6]
    account = await create_client(client, tenant, **client_fields)
    service = await post_ok(
        client, f"/v1/clients/{account['id']}/services", {"code": "svc", "name": "Svc"}, h
    )
    calendar = await post_ok(
        client,
        "/v1/calendars",
        {
            "code": f"CAL-{code}",
            "name": "Around the clock",
            "time_zone": "Asia/Tokyo",
            "windows": [{"days": ["daily"], "start": "00:00", "end": "24:00"}],
        },
        h,
    )
    contract = await post_ok(
        client,
        "/v1/contracts",
        {
            "service_id": service["id"],
            "code": f"PATROL-{code}",
            "name": "Post patrol",
            "work_type": "patrol",
            "start_date": start,
            "calendar_id": calendar["id"],
        },
        h,
    )
    objectives = [{"metric": "first_response", "threshold": "1h", "target_percent": 95, "clock": "calendar"}]
    await post_ok(
        client,
        f"/v1/contracts/{contract['id']}/sla-policies",
        {"effective_from": start, "objectives": objectives},
        h,
    )
    for plan in plans:
        await post_ok(client, f"/v1/contracts/{contract['id']}/rate-plans", plan, h)
    await post_ok(client, f"/v1/contracts/{contract['id']}/transitions", {"status": "active"}, h)
    return {"client": account, "contract": contract["id"]}


def plan(effective_from: str, unit_price: int, fee: int) -> dict[str, Any]:
    return {
        "effective_from": effective_from,
        "currency": "JPY",
        "charges": [
            {"kind": "per_unit", "code": "posts", "name": "Posts", "unit": "post", "unit_price": unit_price},
            {"kind": "fixed_monthly", "code": "base", "name": "Base fee", "amount": fee},
        ],
        "service_credits": [{"metric": "first_response", "below_percent": 90, "credit_percent": 10}],
    }


def item(
    external_id: str, received: str, units: int, *, answered_after: timedelta = timedelta(minutes=10)
) -> dict[str, Any]:
    received_at = datetime.fromisoformat(f"{received}{JST}")
    return {
        "external_id": external_id,
        "received_at": received_at.isoformat(),
        "first_response_at": (received_at + answered_after).isoformat(),
        "resolved_at": (received_at + answered_after).isoformat(),
        "units": units,
    }


# Resolved (so billable) on the local day they are received, apart from the last.
TWENTIETH_ITEMS = [
    # Answered two hours late: the only breach in the period, in calendar October.
    item("p1", "2026-10-26T10:00:00", 100, answered_after=timedelta(hours=2)),
    item("p2", "2026-11-09T23:30:00", 10),  # resolved 23:40, the last day of the first version
    item("p3", "2026-11-10T00:30:00", 20),  # the first day of the second version
    item("p4", "2026-11-20T23:40:00", 5),  # resolved 23:50 on the closing day
    # After the closing day: the next period's.
    item("p5", "2026-11-21T00:01:00", 7),
]


async def trigger(runtime: Runtime, tenant: TenantHandle, now: datetime) -> Any:
    async with runtime.db.tenant(tenant.id) as session:
        return await runs.run_month_end(session, system_scope(tenant.id), now)


class TestClosingOnTheTwentieth:
    async def test_scheduled_runs_periods_versions_credits_and_due_dates(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        h = tenant.admin
        # Closing on the 20th, paid at the end of the next month (翌月末); the contract starts on 25 October
        # at 50 yen a post and 31,000 a month, and from 10 November costs 40 yen a post and 62,000 a month.
        twentieth = await customer(
            client,
            tenant,
            start="2026-10-25",
            plans=[plan("2026-10-25", 50, 31000), plan("2026-11-10", 40, 62000)],
            closing_day=20,
            payment_month_offset=1,
            payment_day="end_of_month",
        )
        assert (twentieth["client"]["closing_day"], twentieth["client"]["payment_day"]) == (20, 31)
        month_end = await customer(
            client,
            tenant,
            start="2026-10-01",
            plans=[plan("2026-10-01", 10, 30000)],
            closing_day="end_of_month",
        )
        await ingest(client, h, twentieth["contract"], TWENTIETH_ITEMS)
        await rebuild(runtime, tenant, twentieth["contract"], datetime(2026, 12, 5, tzinfo=TOKYO))

        # 1 November: month-end clients only (the 20th client's October period had nothing running).
        first = await trigger(runtime, tenant, datetime(2026, 11, 1, 3, 5, tzinfo=TOKYO))
        assert (first.clients, first.drafts_created) == (1, 1)
        assert [i["client_id"] for i in await invoices(client, h, period="2026-10")] == [
            month_end["client"]["id"]
        ]
        # 21 November before 03:00: not yet; from 03:00: the 20th client alone, once.
        assert await trigger(runtime, tenant, datetime(2026, 11, 21, 2, 55, tzinfo=TOKYO)) is None
        on_21st = await trigger(runtime, tenant, datetime(2026, 11, 21, 3, 5, tzinfo=TOKYO))
        assert (on_21st.clients, on_21st.drafts_created) == (1, 1)
        assert await trigger(runtime, tenant, datetime(2026, 11, 21, 9, 11, tzinfo=TOKYO)) is None
        [summary] = await invoices(client, h, period="2026-11")
        assert summary["client_id"] == twentieth["client"]["id"]
        # 1 December: the month-end client's November; the 20th client's period closed on the 20th.
        on_1st = await trigger(runtime, tenant, datetime(2026, 12, 1, 3, 5, tzinfo=TOKYO))
        assert (on_1st.clients, on_1st.drafts_created, on_1st.drafts_replaced) == (1, 1, 0)
        by_client = {i["client_id"]: i for i in await invoices(client, h, period="2026-11")}
        assert by_client[twentieth["client"]["id"]]["id"] == summary["id"]
        calendar_month = by_client[month_end["client"]["id"]]
        assert (calendar_month["period_start"], calendar_month["period_end"]) == ("2026-11-01", "2026-11-30")
        assert calendar_month["total"]["amount"] == 33000  # 30,000 fee + 10% tax; no posts

        invoice = await get_invoice(client, h, summary["id"])
        assert (invoice["period"], invoice["period_start"], invoice["period_end"]) == (
            "2026-11-01",
            "2026-10-21",
            "2026-11-20",
        )
        assert (invoice["issued_on"], invoice["due_on"]) == ("2026-11-20", "2026-12-31")
        # 31 days in the period; the contract runs 27 of them: 16 (25 Oct - 9 Nov) at the first prices and
        # 11 (10 - 20 Nov) at the second. First response met 3 of 4 items in the period: 75% < 90%, so
        # each version credits 10% of its own charges (calendar November, 4 of 4 met, would credit nothing).
        #   first:  110 posts x 50 = 5,500; 31,000 x 16/31 = 16,000; credit -(21,500 / 10) = -2,150
        #   second:  25 posts x 40 = 1,000; 62,000 x 11/31 = 22,000; credit -(23,000 / 10) = -2,300
        lines = [
            (
                line["code"],
                line["quantity"],
                line["amount"]["amount"],
                line["period_start"],
                line["period_end"],
            )
            for line in invoice["lines"]
        ]
        assert lines == [
            ("posts", "110", 5500, "2026-10-25", "2026-11-09"),
            ("base", "1", 16000, "2026-10-25", "2026-11-09"),
            ("service-credit", "1", -2150, "2026-10-25", "2026-11-09"),
            ("posts", "25", 1000, "2026-11-10", "2026-11-20"),
            ("base", "1", 22000, "2026-11-10", "2026-11-20"),
            ("service-credit", "1", -2300, "2026-11-10", "2026-11-20"),
        ]
        assert invoice["lines"][1]["description"] == "Base fee, 16/31 days (2026-10-25 to 2026-11-09)"
        # The document and the browser's list name the month and give the period's days.
        await sign_in(browser, tenant.slug, tenant.admin_email)
        page = await browser.get(f"/dashboard/invoices/{summary['id']}")
        assert page.status_code == 200, page.text
        assert "2026年11月" in page.text
        assert "2026年10月21日\uff5e11月20日" in page.text
        listed = await browser.get("/dashboard/invoices", params={"period": "2026-11"})
        assert listed.status_code == 200, listed.text
        assert '<span class="period-days">2026年10月21日\uff5e11月20日</span>' in listed.text
        assert '<span class="period-days">2026年11月1日\uff5e30日</span>' in listed.text
        # 40,050 + 4,005 tax (10%, truncated).
        assert (invoice["subtotal"]["amount"], invoice["tax"]["amount"], invoice["total"]["amount"]) == (
            40050,
            4005,
            44055,
        )

        # Paid on the 10th two months on (翌々月10日): the re-run moves the due date only.
        response = await client.patch(
            f"/v1/clients/{twentieth['client']['id']}",
            json={"payment_month_offset": 2, "payment_day": 10},
            headers=h,
        )
        assert response.status_code == 200, response.text
        rerun = await runs.run_period_now(runtime, system_scope(tenant.id), "2026-11")
        assert rerun.drafts_replaced == 2
        again = await get_invoice(client, h, summary["id"])
        assert (again["due_on"], again["total"]["amount"]) == ("2027-01-10", 44055)

        # Usage asked for the period's days reconciles with the invoice.
        used = await get_ok(
            client, f"/v1/contracts/{twentieth['contract']}/usage", h, start="2026-10-21", end="2026-11-20"
        )
        assert used["units"] == 135


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


class TestChangingTheClosingDay:
    async def test_bad_closing_days_are_named(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        for value in (29, 30, 0, 32, "month_end"):
            response = await client.post(
                "/v1/clients", json={"code": "C-BAD", "name": "X", "closing_day": value}, headers=tenant.admin
            )
            assert error_fields(assert_problem(response, 422)) == ["closing_day"], value
        account = await create_client(client, tenant, closing_day="end_of_month")
        assert account["closing_day"] == 31
        assert account["closing_day_from"] is None
        response = await client.patch(
            f"/v1/clients/{account['id']}", json={"payment_day": 30}, headers=tenant.admin
        )
        assert error_fields(assert_problem(response, 422)) == ["payment_day"]
        response = await client.patch(
            f"/v1/clients/{account['id']}", json={"closing_day_from": "2027-01-01"}, headers=tenant.admin
        )
        assert error_fields(assert_problem(response, 422)) == ["closing_day_from"]
        after = await get_ok(client, f"/v1/clients/{account['id']}", tenant.admin)
        assert (after["closing_day"], after["payment_day"]) == (31, 31)

    async def test_inside_an_open_period_it_waits_for_the_next(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        h = tenant.admin
        running = await customer(client, tenant, start="2026-10-01", plans=[plan("2026-10-01", 10, 31000)])
        path = f"/v1/clients/{running['client']['id']}"
        # Closing at the month end, today's period is the calendar month: the change can take effect from
        # the first day of the next month.
        today = datetime.now(TOKYO).date()
        next_start = _next_month(today)
        body = assert_problem(
            await client.patch(path, json={"closing_day": 20}, headers=h), 409, "closing-day-in-open-period"
        )
        assert f'"closing_day_from": "{next_start}"' in body["detail"]
        early = {"closing_day": 20, "closing_day_from": today.replace(day=1).isoformat()}
        assert_problem(await client.patch(path, json=early, headers=h), 409, "closing-day-in-open-period")
        not_a_start = {"closing_day": 20, "closing_day_from": (next_start + timedelta(days=3)).isoformat()}
        response = await client.patch(path, json=not_a_start, headers=h)
        assert error_fields(assert_problem(response, 422)) == ["closing_day_from"]
        assert (await get_ok(client, path, h))["closing_day"] == 31

        scheduled = {"closing_day": 20, "closing_day_from": next_start.isoformat()}
        response = await client.patch(path, json=scheduled, headers=h)
        assert response.status_code == 200, response.text
        assert (response.json()["closing_day"], response.json()["closing_day_from"]) == (20, str(next_start))
        assert response.json()["payment_terms"].startswith("closing at day 20")

        # This month's period stays the calendar month; the next one closes on the 20th.
        this_month, next_month = f"{today:%Y-%m}", f"{next_start:%Y-%m}"
        for month in (this_month, next_month):
            await runs.run_period_now(runtime, system_scope(tenant.id), month)
        [current] = await invoices(client, h, period=this_month)
        assert (current["period_start"], current["period_end"]) == (
            str(today.replace(day=1)),
            str(next_start - timedelta(days=1)),
        )
        [following] = await invoices(client, h, period=next_month)
        assert (following["period_start"], following["period_end"]) == (
            str(next_start),
            str(next_start.replace(day=20)),
        )
        # The 20-day period after the change is prorated over a regular one ending on the same 20th: from
        # the 21st of this month, as many days as this month has (31,000 x 20/31 = 20,000 in December).
        regular_days = (next_start - today.replace(day=1)).days
        fee = (31000 * 20 * 2 + regular_days) // (2 * regular_days)  # half-up
        assert following["subtotal"]["amount"] == fee
        lines = (await get_invoice(client, h, following["id"]))["lines"]
        assert lines[1]["description"] == f"Base fee, 20/{regular_days} days"

    async def test_without_a_running_contract_it_applies_at_once(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        account = await create_client(client, tenant)
        response = await client.patch(
            f"/v1/clients/{account['id']}", json={"closing_day": 15}, headers=tenant.admin
        )
        assert response.status_code == 200, response.text
        assert response.json()["closing_day"] == 15
        other = await create_tenant(client)
        assert_problem(
            await client.patch(f"/v1/clients/{account['id']}", json={"closing_day": 20}, headers=other.admin),
            404,
        )
