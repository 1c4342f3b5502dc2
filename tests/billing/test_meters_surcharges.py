"""Several meters per contract and night and holiday surcharges: rated by hand, counted from items received
on each side of a window's edges (in Japan's zone and in one with daylight saving), split periods that still
add up to the whole, and the rate plan API refusing what it cannot rate."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import msgspec
from hypothesis import given
from hypothesis import strategies as st

from bpo.billing.invoice_runs import run_period_now
from bpo.billing.rating import BillingPeriod, LineKind, Metered, Segment, rate, rate_split
from bpo.clients import rules
from bpo.clients.schemas import Metric, RatePlanCreate, Surcharge
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from tests.support.billing import get_invoice, invoices
from tests.support.factories import TenantHandle, create_client, create_tenant, create_user, get_ok, post_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.sla import ingest

NOVEMBER = BillingPeriod.month(2026, 11)
JST = "+09:00"


def plan(**fields: Any) -> RatePlanCreate:
    return msgspec.convert({"effective_from": "2026-01-01", "currency": "JPY", **fields}, RatePlanCreate)


# Patrol billed three ways: posts by the contract's billable event, images by a meter of their own, and
# escalations raised counted as items; 50% more for posts and images received at night, 3 yen a post more
# on holidays.
PATROL_PLAN: dict[str, Any] = {
    "charges": [
        {"kind": "per_unit", "code": "posts", "name": "Posts reviewed", "unit": "post", "unit_price": 10},
        {
            "kind": "per_unit",
            "code": "images",
            "name": "Images reviewed",
            "unit": "image",
            "unit_price": 40,
            "meter": "images",
        },
        {
            "kind": "per_unit",
            "code": "escalations",
            "name": "Escalations raised",
            "unit": "escalation",
            "unit_price": 200,
            "meter": "escalations",
        },
    ],
    "meters": [
        {"code": "images", "name": "Images", "kinds": ["image"]},
        {"code": "escalations", "name": "Escalations", "outcomes": ["escalated"], "measure": "items"},
    ],
    "surcharges": [
        {
            "code": "night",
            "name": "Night surcharge",
            "window": "night",
            "charges": ["posts", "images"],
            "multiplier": 1.5,
        },
        {
            "code": "holiday",
            "name": "Holiday surcharge",
            "window": "holiday",
            "charges": ["posts"],
            "unit_price": 3,
        },
    ],
}


# --- rating, by hand --------------------------------------------------------------------------------


def test_several_meters_and_their_surcharges_rated_by_hand() -> None:
    rated = plan(
        charges=[
            {"kind": "per_unit", "code": "posts", "name": "Posts reviewed", "unit": "post", "unit_price": 25},
            {
                "kind": "per_unit",
                "code": "images",
                "name": "Images",
                "unit": "image",
                "unit_price": 40,
                "meter": "images",
            },
            {
                "kind": "graduated",
                "code": "escalations",
                "name": "Escalations raised",
                "unit": "escalation",
                "meter": "escalations",
                "tiers": [{"up_to": 10, "unit_price": 500}, {"up_to": None, "unit_price": 300}],
            },
        ],
        meters=[
            {"code": "images", "name": "Images", "kinds": ["image"]},
            {"code": "escalations", "name": "Escalations", "outcomes": ["escalated"], "measure": "items"},
        ],
        surcharges=[
            {
                "code": "night",
                "name": "Night",
                "window": "night",
                "charges": ["posts", "images"],
                "multiplier": 1.25,
            },
            {
                "code": "holiday",
                "name": "Holiday",
                "window": "holiday",
                "charges": ["posts", "escalations"],
                "unit_price": 5,
            },
        ],
    )
    result = rate(
        rated,
        NOVEMBER,
        units=1_000,
        meters={
            "": Metered(1_000, {"night": 101, "holiday": 40}),
            "images": Metered(300, {"night": 7}),
            "escalations": Metered(12, {"holiday": 3}),
        },
    )
    assert [(line.kind, line.code, line.quantity, line.unit_price, line.amount) for line in result.lines] == [
        (LineKind.CHARGE, "posts", 1_000, 25, 25_000),
        # 25 x 0.25 = 6.25 more a post at night: 101 x 6.25 = 631.25, rounded half-up once.
        (LineKind.SURCHARGE, "night", 101, Decimal("6.25"), 631),
        (LineKind.SURCHARGE, "holiday", 40, 5, 200),
        (LineKind.CHARGE, "images", 300, 40, 12_000),
        (LineKind.SURCHARGE, "night", 7, 10, 70),
        # Escalations counted as items through their own tiers: 10 at 500, 2 at 300.
        (LineKind.CHARGE, "escalations", 10, 500, 5_000),
        (LineKind.CHARGE, "escalations", 2, 300, 600),
        (LineKind.SURCHARGE, "holiday", 3, 5, 15),
    ]
    assert result.lines[1].description == "Night (101 post of Posts reviewed received 22:00-05:00)"
    assert result.lines[2].description == "Holiday (40 post of Posts reviewed received on public holidays)"
    assert (result.charges, result.surcharges, result.subtotal) == (42_600, 916, 43_516)


def test_a_surcharge_counts_toward_the_minimum_and_the_service_credit() -> None:
    rated = plan(
        charges=[{"kind": "per_unit", "code": "posts", "name": "Posts", "unit_price": 10}],
        surcharges=[
            {"code": "night", "name": "Night", "window": "night", "charges": ["posts"], "unit_price": 4}
        ],
        minimum_commitment=2_000,
        service_credits=[{"below_percent": 90, "credit_percent": 10}],
    )
    # 100 posts (1,000) of which 50 at night (200): 1,200, topped up to 2,000, 10% credited.
    result = rate(
        rated,
        NOVEMBER,
        units=100,
        meters={"": Metered(100, {"night": 50})},
        attainment={Metric.FIRST_RESPONSE: 80.0},
    )
    assert [line.amount for line in result.lines] == [1_000, 200, 800, -200]


SPLIT_PLAN = plan(
    charges=[
        {"kind": "per_unit", "code": "posts", "name": "Posts", "unit": "post", "unit_price": 25},
        {
            "kind": "graduated",
            "code": "replies",
            "name": "Replies",
            "tiers": [{"up_to": 100, "unit_price": 50}, {"up_to": None, "unit_price": 30}],
        },
        {
            "kind": "volume",
            "code": "reviews",
            "name": "Reviews",
            "tiers": [{"up_to": 150, "unit_price": 21}, {"up_to": None, "unit_price": 15}],
        },
        {"kind": "package", "code": "blocks", "name": "Blocks", "package_size": 40, "package_price": 1000},
    ],
    surcharges=[
        # Fractions of a yen per unit (25 x 0.25, 21 x 0.1 or 15 x 0.1): rounded through the period.
        {
            "code": "night",
            "name": "Night",
            "window": "night",
            "charges": ["posts", "reviews"],
            "multiplier": 1.1,
        },
        {
            "code": "late-night",
            "name": "Late night",
            "window": "night",
            "start": "01:00",
            "end": "04:00",
            "charges": ["replies"],
            "unit_price": 2,
        },
        {
            "code": "holiday",
            "name": "Holiday",
            "window": "holiday",
            "charges": ["posts", "replies", "blocks"],
            "unit_price": 7,
        },
    ],
)


@st.composite
def days_of_units(draw: st.DrawFn) -> tuple[int, int, int]:
    units = draw(st.integers(0, 300))
    return units, draw(st.integers(0, units)), draw(st.integers(0, units))


@given(st.lists(days_of_units(), min_size=1, max_size=5), st.data())
def test_surcharged_split_days_add_up_to_the_whole(
    parts: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    """Splitting a period between versions with the same prices changes no charge's nor surcharge's total,
    fractions of a yen included."""
    period = BillingPeriod(date(2026, 10, 21), date(2026, 11, 20))
    cuts = sorted(
        data.draw(st.sets(st.integers(1, period.days - 1), min_size=len(parts) - 1, max_size=len(parts) - 1))
    )
    segments = [
        Segment(
            SPLIT_PLAN,
            period.first_day + timedelta(days=a),
            period.first_day + timedelta(days=b - 1),
            units,
            {"": Metered(units, {"night": night, "late-night": night // 2, "holiday": holiday})},
        )
        for a, b, (units, night, holiday) in zip([0, *cuts], [*cuts, period.days], parts, strict=True)
    ]
    split = rate_split(period, segments)
    total, night, holiday = (sum(part[i] for part in parts) for i in range(3))
    late = sum(part[1] // 2 for part in parts)
    whole = rate(
        SPLIT_PLAN,
        period,
        units=total,
        meters={"": Metered(total, {"night": night, "late-night": late, "holiday": holiday})},
    )

    def by_charge(lines: Any) -> dict[tuple[str, str], int]:
        sums: dict[tuple[str, str], int] = {}
        for line in lines:
            # A surcharge line names the charge it adds to: "… post of Posts received …".
            charge = (
                line.description.split(" of ")[1].split(" received")[0]
                if line.kind is LineKind.SURCHARGE
                else ""
            )
            sums[(line.code, charge)] = sums.get((line.code, charge), 0) + line.amount
        return sums

    assert by_charge(split.lines) == by_charge(whole.lines)
    assert split.subtotal == whole.subtotal


# --- the rules -----------------------------------------------------------------------------------------


def surcharge_errors(*surcharges: dict[str, Any]) -> list[str]:
    rated = SPLIT_PLAN.charges
    checked = [msgspec.convert(s, Surcharge) for s in surcharges]
    return [e["field"] for e in rules.check_surcharges(checked, rated, "")]


def test_windows_of_one_charge_never_overlap() -> None:
    night = {"code": "n1", "name": "Night", "window": "night", "charges": ["posts"], "unit_price": 1}
    # 22:00-05:00 and 04:00-06:00 share the hour before five.
    assert surcharge_errors(night, {**night, "code": "n2", "start": "04:00", "end": "06:00"}) == [
        "surcharges[1].start"
    ]
    # Back to back is no overlap, nor are windows of different charges.
    assert surcharge_errors(night, {**night, "code": "n2", "start": "05:00", "end": "22:00"}) == []
    assert surcharge_errors(night, {**night, "code": "n2", "charges": ["reviews"]}) == []
    # 23:00-23:30 inside 22:00-05:00, on its first day.
    assert surcharge_errors(night, {**night, "code": "n2", "start": "23:00", "end": "23:30"}) == [
        "surcharges[1].start"
    ]
    holiday = {"code": "h1", "name": "Holiday", "window": "holiday", "charges": ["posts"], "unit_price": 1}
    assert surcharge_errors(holiday, {**holiday, "code": "h2"}) == ["surcharges[1].window"]
    # A night on a holiday pays both: night and holiday windows may meet.
    assert surcharge_errors(night, holiday) == []


def test_what_a_surcharge_cannot_be() -> None:
    base = {"code": "s", "name": "S", "window": "night", "charges": ["posts"]}
    assert surcharge_errors(base) == ["surcharges[0].multiplier"]
    assert surcharge_errors({**base, "multiplier": 1.5, "unit_price": 2}) == ["surcharges[0].multiplier"]
    # Graduated and package charges have several unit prices: a price per unit, not a multiplier.
    assert surcharge_errors({**base, "charges": ["replies", "blocks"], "multiplier": 1.5}) == [
        "surcharges[0].charges[0]",
        "surcharges[0].charges[1]",
    ]
    assert surcharge_errors({**base, "charges": ["nothing"], "unit_price": 1}) == ["surcharges[0].charges[0]"]
    assert surcharge_errors({**base, "code": "posts", "unit_price": 1}) == ["surcharges[0].code"]
    assert surcharge_errors({**base, "window": "holiday", "start": "22:00", "unit_price": 1}) == [
        "surcharges[0].start"
    ]
    assert surcharge_errors({**base, "end": "21:00", "unit_price": 1}) == ["surcharges[0].end"]
    assert surcharge_errors({**base, "holiday_country": "JP", "unit_price": 1}) == [
        "surcharges[0].holiday_country"
    ]


# --- through the API ---------------------------------------------------------------------------------


async def patrol_contract(
    client: httpx.AsyncClient,
    tenant: TenantHandle,
    *,
    zone: str = "Asia/Tokyo",
    holidays: str = "JP",
    start: str = "2026-10-01",
    **client_fields: Any,
) -> dict[str, Any]:
    """A client with a draft patrol contract on a 24/365 calendar in ``zone``."""
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
            "time_zone": zone,
            "windows": [{"days": ["daily"], "start": "00:00", "end": "24:00"}],
            "holiday_country": holidays,
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
    return {"client": account, "contract": contract["id"], "calendar": calendar}


async def activate(
    client: httpx.AsyncClient, tenant: TenantHandle, contract: str, body: dict[str, Any]
) -> None:
    await post_ok(client, f"/v1/contracts/{contract}/rate-plans", body, tenant.admin)
    await post_ok(client, f"/v1/contracts/{contract}/transitions", {"status": "active"}, tenant.admin)


def item(
    external_id: str, received: str, units: int, resolved: str | None = None, **fields: Any
) -> dict[str, Any]:
    """An item received at ``received`` and resolved five minutes later (or at ``resolved``)."""
    done = resolved or (datetime.fromisoformat(received) + timedelta(minutes=5)).isoformat()
    return {
        "external_id": external_id,
        "received_at": received,
        "resolved_at": done,
        "units": units,
        **fields,
    }


async def billed_lines(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle, client_id: str, period: str
) -> dict[str, Any]:
    await run_period_now(runtime, system_scope(tenant.id), period)
    [draft] = await invoices(client, tenant.admin, client_id=client_id, period=period)
    return await get_invoice(client, tenant.admin, draft["id"])


def figures(invoice: dict[str, Any]) -> list[tuple[str, str, str, str, int]]:
    return [
        (line["kind"], line["code"], line["quantity"], line["unit_price"], line["amount"]["amount"])
        for line in invoice["lines"]
    ]


class TestRatePlans:
    async def test_meters_and_surcharges_read_back_and_bad_ones_are_refused_naming_the_field(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        # A 24/365 calendar that closes on no public holidays.
        setup = await patrol_contract(client, tenant, holidays="none")
        path = f"/v1/contracts/{setup['contract']}/rate-plans"
        good = {"effective_from": "2026-10-01", "currency": "JPY", **PATROL_PLAN}
        good["surcharges"] = [
            PATROL_PLAN["surcharges"][0],
            {**PATROL_PLAN["surcharges"][1], "holiday_country": "JP"},
        ]

        def broken(change: Any) -> dict[str, Any]:
            body: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(good))
            change(body)
            return body

        cases = [
            (broken(lambda b: b["meters"][0].update(event="closed")), "meters[0].event"),
            (broken(lambda b: b["charges"][1].update(meter="videos")), "charges[1].meter"),
            # The second meter renamed: a duplicate code, and the charge that counted it names none.
            (broken(lambda b: b["meters"][1].update(code="images")), "meters[1].code charges[2].meter"),
            (broken(lambda b: b["charges"][0].update(tax_class="zero")), "charges[0].tax_class"),
            (
                broken(
                    lambda b: b["surcharges"].append(
                        {**b["surcharges"][0], "code": "dawn", "start": "04:00", "end": "07:00"}
                    )
                ),
                "surcharges[2].start",
            ),
            (broken(lambda b: b["surcharges"][1].pop("holiday_country")), "surcharges[1].holiday_country"),
            (broken(lambda b: b["surcharges"][0].update(multiplier=0.5)), "surcharges[0].multiplier"),
            (broken(lambda b: b["surcharges"][0].update(start="25:00")), "surcharges[0].start"),
            (broken(lambda b: b["surcharges"][1].update(window="weekend")), "surcharges[1].window"),
        ]
        for body, field in cases:
            problem = assert_problem(await client.post(path, json=body, headers=tenant.admin), 422)
            assert error_fields(problem) == field.split(), (field, problem)
        assert await get_ok(client, path, tenant.admin) == []

        created = await post_ok(client, path, good, tenant.admin)
        assert created["meters"] == [
            {
                "code": "images",
                "name": "Images",
                "event": None,
                "kinds": ["image"],
                "channels": [],
                "outcomes": [],
                "measure": "units",
            },
            {
                "code": "escalations",
                "name": "Escalations",
                "event": None,
                "kinds": [],
                "channels": [],
                "outcomes": ["escalated"],
                "measure": "items",
            },
        ]
        assert [
            (s["code"], s["window"], s["charges"], s["multiplier"], s["unit_price"], s["holiday_country"])
            for s in created["surcharges"]
        ] == [
            ("night", "night", ["posts", "images"], 1.5, None, None),
            ("holiday", "holiday", ["posts"], None, 3, "JP"),
        ]
        assert [c["meter"] for c in created["charges"]] == [None, "images", "escalations"]
        assert await get_ok(client, path, tenant.admin) == [created]

        # A correction in place is held to the same rules, and a bad one changes nothing.
        replace = {k: v for k, v in good.items() if k != "effective_from"}
        replace["surcharges"] = [PATROL_PLAN["surcharges"][1]]
        problem = assert_problem(
            await client.put(f"{path}/{created['id']}", json=replace, headers=tenant.admin), 422
        )
        assert error_fields(problem) == ["surcharges[0].holiday_country"]
        assert await get_ok(client, path, tenant.admin) == [created]

    async def test_another_tenants_contract_takes_no_rate_plan(self, client: httpx.AsyncClient) -> None:
        tenant, other = await create_tenant(client), await create_tenant(client)
        setup = await patrol_contract(client, tenant)
        body = {"effective_from": "2026-10-01", "currency": "JPY", **PATROL_PLAN}
        response = await client.post(
            f"/v1/contracts/{setup['contract']}/rate-plans", json=body, headers=other.admin
        )
        assert_problem(response, 404)


class TestSurchargedInvoices:
    async def test_night_and_holiday_in_japan_and_three_meters_on_one_contract(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await patrol_contract(client, tenant)
        await activate(
            client,
            tenant,
            setup["contract"],
            {"effective_from": "2026-10-01", "currency": "JPY", **PATROL_PLAN},
        )
        items = [
            # A minute before the night: a post.
            item("n1", f"2026-11-02T21:59:00{JST}", 1, kind="post"),
            # The night's first minute.
            item("n2", f"2026-11-02T22:00:00{JST}", 2, kind="post"),
            # Its last minute, on 文化の日 (3 November, a holiday): both surcharges; escalated.
            item("n3", f"2026-11-03T04:59:00{JST}", 4, kind="post", outcome="escalated"),
            # 05:00 on the holiday: day rate, holiday surcharge; an image.
            item("n4", f"2026-11-03T05:00:00{JST}", 8, kind="image"),
            item("n5", f"2026-11-03T12:00:00{JST}", 16, kind="image", outcome="escalated"),
            item("n6", f"2026-11-04T23:30:00{JST}", 32, kind="image"),
            # Received on an October night, resolved in November: November's, at the night rate.
            item("n7", f"2026-10-31T23:00:00{JST}", 64, resolved=f"2026-11-01T00:10:00{JST}", kind="post"),
            # Resolved in December: not November's.
            item("n8", f"2026-11-30T23:50:00{JST}", 128, resolved=f"2026-12-01T00:05:00{JST}", kind="post"),
        ]
        await ingest(client, tenant.admin, setup["contract"], items)
        invoice = await billed_lines(client, runtime, tenant, setup["client"]["id"], "2026-11")
        # Posts (the billable event, every item resolved in November): 1+2+4+8+16+32+64 = 127 at 10.
        # At night (n2, n3, n6, n7): 2+4+32+64 = 102, each 10 x 0.5 = 5 more. On the holiday (n3, n4, n5):
        # 4+8+16 = 28 at 3 more. Images (n4, n5, n6): 56 at 40; at night (n6) 32 at 20 more. Escalations
        # (n3, n5) counted as items: 2 at 200.
        assert figures(invoice) == [
            ("charge", "posts", "127", "10", 1_270),
            ("surcharge", "night", "102", "5", 510),
            ("surcharge", "holiday", "28", "3", 84),
            ("charge", "images", "56", "40", 2_240),
            ("surcharge", "night", "32", "20", 640),
            ("charge", "escalations", "2", "200", 400),
        ]
        assert invoice["lines"][1]["description"] == (
            "Night surcharge (102 post of Posts reviewed received 22:00-05:00)"
        )
        subtotal = 1_270 + 510 + 84 + 2_240 + 640 + 400
        assert (invoice["subtotal"]["amount"], invoice["tax"]["amount"], invoice["total"]["amount"]) == (
            subtotal,
            subtotal // 10,
            subtotal + subtotal // 10,
        )

    async def test_the_night_follows_the_calendars_clock_through_a_change_of_summer_time(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        """A contract on London's clock (the tenant's days are Tokyo's): British summer time ends on 25
        October 2026 at 01:00 UTC, so 21:30 UTC is night (22:30 BST) before and day (21:30 GMT) after."""
        tenant = await create_tenant(client)
        setup = await patrol_contract(client, tenant, zone="Europe/London", holidays="none")
        body = {
            "effective_from": "2026-10-01",
            "currency": "JPY",
            "charges": [
                {"kind": "per_unit", "code": "posts", "name": "Posts", "unit": "post", "unit_price": 10}
            ],
            "surcharges": [
                {"code": "night", "name": "Night", "window": "night", "charges": ["posts"], "unit_price": 7}
            ],
        }
        await activate(client, tenant, setup["contract"], body)
        items = [
            item("bst-day", "2026-10-20T20:30:00Z", 1),  # 21:30 BST
            item("bst-night", "2026-10-20T21:30:00Z", 2),  # 22:30 BST
            item("bst-morning", "2026-10-24T04:30:00Z", 4),  # 05:30 BST
            item("gmt-dawn", "2026-10-25T04:30:00Z", 8),  # 04:30 GMT, hours after the change
            item("gmt-evening", "2026-10-28T21:30:00Z", 16),  # 21:30 GMT
            item("gmt-night", "2026-10-28T22:30:00Z", 32),  # 22:30 GMT
        ]
        await ingest(client, tenant.admin, setup["contract"], items)
        invoice = await billed_lines(client, runtime, tenant, setup["client"]["id"], "2026-10")
        # 63 posts at 10; at night 2 + 8 + 32 = 42 at 7 more.
        assert figures(invoice) == [
            ("charge", "posts", "63", "10", 630),
            ("surcharge", "night", "42", "7", 294),
        ]


class TestUsageByMeter:
    async def test_each_meter_and_window_as_the_invoice_rates_them(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await patrol_contract(client, tenant)
        await activate(
            client,
            tenant,
            setup["contract"],
            {"effective_from": "2026-10-01", "currency": "JPY", **PATROL_PLAN},
        )
        items = [
            item("n1", f"2026-11-02T21:59:00{JST}", 1, kind="post"),
            item("n2", f"2026-11-02T22:00:00{JST}", 2, kind="post"),
            item("n3", f"2026-11-03T04:59:00{JST}", 4, kind="post", outcome="escalated"),
            item("n4", f"2026-11-03T05:00:00{JST}", 8, kind="image"),
            item("n5", f"2026-11-03T12:00:00{JST}", 16, kind="image", outcome="escalated"),
            item("n6", f"2026-11-04T23:30:00{JST}", 32, kind="image"),
            item("n7", f"2026-10-31T23:00:00{JST}", 64, resolved=f"2026-11-01T00:10:00{JST}", kind="post"),
            item("n8", f"2026-11-30T23:50:00{JST}", 128, resolved=f"2026-12-01T00:05:00{JST}", kind="post"),
        ]
        await ingest(client, tenant.admin, setup["contract"], items)
        path = f"/v1/contracts/{setup['contract']}/usage"
        november = {"start": "2026-11-01", "end": "2026-11-30"}
        usage = await get_ok(client, path, tenant.admin, **november)
        assert usage["units"] == 127
        # The same figures as the invoice's lines (test_night_and_holiday_in_japan_and_three_meters_...).
        assert usage["meters"] == [
            {
                "meter": None,
                "name": None,
                "event": "resolved",
                "measure": "units",
                "quantity": 127,
                "surcharged": [
                    {"code": "night", "name": "Night surcharge", "window": "night", "quantity": 102},
                    {"code": "holiday", "name": "Holiday surcharge", "window": "holiday", "quantity": 28},
                ],
            },
            {
                "meter": "escalations",
                "name": "Escalations",
                "event": "resolved",
                "measure": "items",
                "quantity": 2,
                "surcharged": [],
            },
            {
                "meter": "images",
                "name": "Images",
                "event": "resolved",
                "measure": "units",
                "quantity": 56,
                "surcharged": [
                    {"code": "night", "name": "Night surcharge", "window": "night", "quantity": 32}
                ],
            },
        ]
        invoice = await billed_lines(client, runtime, tenant, setup["client"]["id"], "2026-11")
        quantities = {(line["kind"], line["code"]): int(line["quantity"]) for line in invoice["lines"]}
        assert quantities[("charge", "images")] == 56
        assert quantities[("charge", "escalations")] == 2
        # Before the first version (1 October) no meter counts; the billable event's days still do.
        september = await get_ok(client, path, tenant.admin, start="2026-09-01", end="2026-10-31")
        assert (september["units"], september["meters"][0]["quantity"]) == (0, 0)

        # The client's own viewer reads it; another client's viewer and another tenant get a 404.
        _, own = await create_user(client, tenant, role="client_viewer", client_id=setup["client"]["id"])
        assert (await get_ok(client, path, own, **november))["meters"] == usage["meters"]
        elsewhere = await patrol_contract(client, tenant)
        _, viewer = await create_user(
            client, tenant, role="client_viewer", client_id=elsewhere["client"]["id"]
        )
        assert_problem(await client.get(path, params=november, headers=viewer), 404)
        other = await create_tenant(client)
        assert_problem(await client.get(path, params=november, headers=other.admin), 404)
        # Bad ranges are named.
        backwards = {"start": "2026-11-30", "end": "2026-11-01"}
        response = await client.get(path, params=backwards, headers=tenant.admin)
        assert error_fields(assert_problem(response, 422, "validation-error")) == ["start"]
        too_long = {"start": "2025-01-01", "end": "2026-11-30"}
        response = await client.get(path, params=too_long, headers=tenant.admin)
        assert error_fields(assert_problem(response, 422, "validation-error")) == ["end"]
        not_a_day = {"start": "2026-11-31", "end": "2026-12-01"}
        response = await client.get(path, params=not_a_day, headers=tenant.admin)
        assert error_fields(assert_problem(response, 422, "validation-error")) == ["query.start"]
