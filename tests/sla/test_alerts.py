"""SLA alerts: at risk, breached and day below target, raised once each by the periodic sweep (with an
explicit ``now`` standing in for the passing of time) or after ingest, listed by ``GET /v1/alerts``
and turned into webhook events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpo.clients.schemas import Objective, SlaClock
from bpo.core.business_time import Calendar, business_duration
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.sla import alerts, rollups
from bpo.sla.alerts import Kind, days_ended, item_alert, local_midnight, receipts_from, receipts_until
from bpo.sla.engine import ItemTimes, measure
from tests.support.factories import TenantHandle, create_tenant, create_user, post_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.sla import ONE_HOUR_CALENDAR, ingest, sla_contract
from tests.support.sla_engine import LANCERS_CHAT, scenarios, threshold_of

SECOND = timedelta(seconds=1)
TOKYO = ZoneInfo("Asia/Tokyo")


# --- pure ---------------------------------------------------------------------------------------


def offsets(rule: Objective) -> tuple[timedelta, timedelta]:
    threshold = threshold_of(rule)
    return threshold * rule.at_risk_percent / 100, threshold


@given(scenarios(), st.integers(0, 3 * 86400), st.integers(0, 3 * 86400))
@settings(deadline=None, max_examples=200)
def test_every_item_alerted_in_a_window_was_received_in_its_receipt_window(
    scenario: tuple[Objective, Calendar, datetime, timedelta], to_start: int, length: int
) -> None:
    rule, calendar, received, _ = scenario
    start = received + timedelta(seconds=to_start)
    now = start + timedelta(seconds=length)
    hit = item_alert(measure(rule, ItemTimes(received), calendar, now), start, now)
    if hit is None:
        return
    at_risk, threshold = offsets(rule)
    offset = at_risk if hit[0] is Kind.AT_RISK else threshold
    assert receipts_from(calendar, rule.clock, start, offset) <= received
    assert received <= receipts_until(calendar, rule.clock, now, offset)


@given(scenarios())
@settings(deadline=None, max_examples=150)
def test_receipt_bounds_are_exact_in_business_time(
    scenario: tuple[Objective, Calendar, datetime, timedelta],
) -> None:
    rule, calendar, end, _ = scenario
    for offset in offsets(rule):
        latest = receipts_until(calendar, SlaClock.BUSINESS_HOURS, end, offset)
        assert business_duration(calendar, latest, end) == offset
        assert business_duration(calendar, latest + SECOND, end) < offset
        earliest = receipts_from(calendar, SlaClock.BUSINESS_HOURS, end, offset)
        assert business_duration(calendar, earliest, end) <= offset
        assert business_duration(calendar, earliest - SECOND, end) > offset
        assert receipts_until(calendar, SlaClock.CALENDAR, end, offset) == end - offset


def test_receipts_walk_back_over_closed_days() -> None:
    # Chat is open 10:30-18:30 on weekdays: 1 h of business time before Monday 11:00 began on
    # Friday at 18:00.
    monday = datetime(2026, 10, 5, 11, 0, tzinfo=TOKYO)
    friday_1800 = datetime(2026, 10, 2, 18, 0, tzinfo=TOKYO)
    assert receipts_until(LANCERS_CHAT, SlaClock.BUSINESS_HOURS, monday, timedelta(hours=1)) == friday_1800
    assert receipts_from(LANCERS_CHAT, SlaClock.BUSINESS_HOURS, monday, timedelta(hours=1)) == friday_1800
    # Exactly 30 min after the opening: the latest receipt is the opening itself, the earliest the
    # previous closing.
    half = timedelta(minutes=30)
    assert receipts_until(LANCERS_CHAT, SlaClock.BUSINESS_HOURS, monday, half) == datetime(
        2026, 10, 5, 10, 30, tzinfo=TOKYO
    )
    assert receipts_from(LANCERS_CHAT, SlaClock.BUSINESS_HOURS, monday, half) == datetime(
        2026, 10, 2, 18, 30, tzinfo=TOKYO
    )


ZONES = st.sampled_from([TOKYO, ZoneInfo("Europe/London"), ZoneInfo("America/Argentina/Buenos_Aires")])
INSTANTS = st.integers(0, 400 * 86400).map(lambda s: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s))


@given(ZONES, INSTANTS, st.integers(0, 3 * 86400), st.integers(0, 3 * 86400), st.integers(0, 7200))
@settings(deadline=None)
def test_consecutive_sweeps_judge_each_day_once(
    zone: ZoneInfo, first: datetime, step: int, second_step: int, settle_s: int
) -> None:
    middle = first + timedelta(seconds=step)
    last = middle + timedelta(seconds=second_step)
    settle = timedelta(seconds=settle_s)
    split = days_ended(zone, first, middle, settle) + days_ended(zone, middle, last, settle)
    assert split == days_ended(zone, first, last, settle)
    for day in split:
        assert first < local_midnight(day + timedelta(days=1), zone) + settle <= last


# --- through the API and the detection functions --------------------------------------------------


async def sweep(runtime: Runtime, tenant: TenantHandle, now: datetime) -> list[uuid.UUID]:
    async with runtime.db.tenant(tenant.id) as session:
        return await alerts.sweep(session, system_scope(tenant.id), now)


async def list_alerts(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    response = await client.get("/v1/alerts", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


class TestItemAlerts:
    async def test_pending_item_goes_at_risk_then_breached_with_no_new_ingest(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR)
        contract_id = setup["contract"]["id"]
        endpoint = await post_ok(
            client,
            "/v1/webhook-endpoints",
            {"url": "https://hooks.example.com/sla", "event_types": ["sla.at_risk", "sla.breached"]},
            tenant.admin,
        )
        now = datetime.now(UTC).replace(microsecond=0)
        received = now - timedelta(minutes=50)
        items = [
            {"external_id": "open", "received_at": received.isoformat()},
            {
                "external_id": "answered",
                "received_at": received.isoformat(),
                "first_response_at": (received + timedelta(minutes=5)).isoformat(),
            },
        ]
        await ingest(client, tenant.admin, contract_id, items)

        assert await sweep(runtime, tenant, now - timedelta(minutes=20)) == []  # 30 of 60 min elapsed
        (at_risk,) = await sweep(runtime, tenant, now)  # 48 min: 80% at now - 2 min
        assert await sweep(runtime, tenant, now + timedelta(minutes=5)) == []
        (breached,) = await sweep(runtime, tenant, now + timedelta(minutes=15))  # due at now + 10 min
        assert await sweep(runtime, tenant, now + timedelta(minutes=16)) == []
        assert await sweep(runtime, tenant, now + timedelta(minutes=15)) == []  # time going back

        listed = await list_alerts(client, tenant.admin, contract_id=contract_id)
        assert [(a["id"], a["kind"]) for a in listed] == [
            (str(at_risk), "at_risk"),
            (str(breached), "breached"),
        ]
        assert {a["objective"] for a in listed} == {"first_response"}
        assert instant(listed[0]["occurred_at"]) == received + timedelta(minutes=48)
        assert instant(listed[1]["occurred_at"]) == received + timedelta(hours=1)
        assert listed[0]["detail"]["work_item"]["external_id"] == "open"
        assert listed[0]["work_item_id"] == listed[1]["work_item_id"]
        only_breaches = await list_alerts(client, tenant.admin, kind="breached")
        assert [a["id"] for a in only_breaches] == [str(breached)]
        window = {
            "from": (now + timedelta(minutes=5)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat(),
        }
        assert [a["id"] for a in await list_alerts(client, tenant.admin, **window)] == [str(breached)]

        # Each alert became one event, with a delivery to the subscribed endpoint.
        response = await client.get(
            f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=tenant.admin
        )
        assert response.status_code == 200, response.text
        deliveries = response.json()["items"]
        assert [d["event_type"] for d in deliveries] == ["sla.at_risk", "sla.breached"]
        assert {d["status"] for d in deliveries} == {"pending"}

    async def test_business_hours_alerts_wait_for_the_calendar_to_open(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        objectives = [
            {"metric": "first_response", "threshold": "2h", "target_percent": 90, "clock": "business_hours"}
        ]
        office = [{"days": ["weekdays"], "start": "09:00", "end": "18:00"}]
        contract_id = (await sla_contract(client, tenant, objectives=objectives, windows=office))["contract"][
            "id"
        ]
        friday = datetime(2026, 10, 2, 17, 30, tzinfo=TOKYO)
        await ingest(
            client,
            tenant.admin,
            contract_id,
            [{"external_id": "late-friday", "received_at": friday.isoformat()}],
        )

        assert await sweep(runtime, tenant, friday + timedelta(minutes=40)) == []
        monday = datetime(2026, 10, 5, tzinfo=TOKYO)
        # 30 min on Friday, then 66 min on Monday: 80% of 2 h at 10:06; due at 10:30.
        assert await sweep(runtime, tenant, monday.replace(hour=10, minute=5)) == []
        assert len(await sweep(runtime, tenant, monday.replace(hour=10, minute=7))) == 1
        assert len(await sweep(runtime, tenant, monday.replace(hour=10, minute=31))) == 1
        listed = await list_alerts(client, tenant.admin)
        assert [(a["kind"], instant(a["occurred_at"])) for a in listed] == [
            ("at_risk", monday.replace(hour=10, minute=6)),
            ("breached", monday.replace(hour=10, minute=30)),
        ]

    async def test_ingest_alerts_items_that_arrive_late_once(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR))["contract"]["id"]
        now = datetime.now(UTC).replace(microsecond=0)
        items = [
            {
                "external_id": "answered-late",
                "received_at": (now - timedelta(hours=3)).isoformat(),
                "first_response_at": (now - timedelta(hours=1)).isoformat(),
            },
            {"external_id": "open-at-risk", "received_at": (now - timedelta(minutes=55)).isoformat()},
            {"external_id": "on-time", "received_at": (now - timedelta(minutes=20)).isoformat()},
            # Breached two weeks ago: history, not news.
            {
                "external_id": "old",
                "received_at": (now - timedelta(days=14)).isoformat(),
                "first_response_at": (now - timedelta(days=13)).isoformat(),
            },
        ]
        await ingest(client, tenant.admin, contract_id, items)
        hours = sorted({rollups.hour_of(instant(i["received_at"])) for i in items})
        scope = system_scope(tenant.id)
        async with runtime.db.tenant(tenant.id) as session:
            first = await alerts.detect_in_hours(session, scope, uuid.UUID(contract_id), hours, now)
            again = await alerts.detect_in_hours(session, scope, uuid.UUID(contract_id), hours, now)
        assert len(first) == 2
        assert again == []
        listed = await list_alerts(client, tenant.admin)
        kinds = {a["detail"]["work_item"]["external_id"]: a["kind"] for a in listed}
        assert kinds == {"answered-late": "breached", "open-at-risk": "at_risk"}
        # The sweep does not raise them a second time.
        assert await sweep(runtime, tenant, now) == []


class TestDailyAlerts:
    async def test_a_day_below_target_is_alerted_once_after_it_ends(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR))["contract"]["id"]
        day = datetime(2026, 10, 7, tzinfo=TOKYO)
        answers = [10, 20, 30, 90, 120]  # minutes after receipt: 3 met, 2 breached = 60% < 90%
        items = [
            {
                "external_id": f"d{n}",
                "received_at": (day + timedelta(hours=10 + n)).isoformat(),
                "first_response_at": (day + timedelta(hours=10 + n, minutes=minutes)).isoformat(),
            }
            for n, minutes in enumerate(answers)
        ]
        await ingest(client, tenant.admin, contract_id, items)
        scope = system_scope(tenant.id)
        async with runtime.db.tenant(tenant.id) as session:
            hours = [rollups.hour_of(instant(i["received_at"])) for i in items]
            await rollups.refresh_hours(
                session, scope, uuid.UUID(contract_id), hours, day + timedelta(days=1)
            )

        midnight = day + timedelta(days=1)
        assert await sweep(runtime, tenant, midnight + timedelta(minutes=10)) == []  # not settled yet
        (raised,) = await sweep(runtime, tenant, midnight + timedelta(minutes=31))
        assert await sweep(runtime, tenant, midnight + timedelta(minutes=45)) == []
        assert await sweep(runtime, tenant, midnight + timedelta(days=1, minutes=31)) == []  # no items

        (alert,) = await list_alerts(client, tenant.admin, kind="daily_below_target")
        assert alert["id"] == str(raised)
        assert alert["day"] == "2026-10-07"
        assert instant(alert["occurred_at"]) == midnight
        detail = alert["detail"]
        assert (detail["met"], detail["breached"], detail["attainment"], detail["target_percent"]) == (
            3,
            2,
            60.0,
            90,
        )
        assert detail["time_zone"] == "Asia/Tokyo"

    async def test_a_day_on_target_raises_nothing(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        tenant = await create_tenant(client)
        contract_id = (await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR))["contract"]["id"]
        day = datetime(2026, 10, 8, tzinfo=TOKYO)
        item = {
            "external_id": "fast",
            "received_at": (day + timedelta(hours=9)).isoformat(),
            "first_response_at": (day + timedelta(hours=9, minutes=1)).isoformat(),
        }
        await ingest(client, tenant.admin, contract_id, [item])
        async with runtime.db.tenant(tenant.id) as session:
            hour = rollups.hour_of(day + timedelta(hours=9))
            await rollups.refresh_hours(session, system_scope(tenant.id), uuid.UUID(contract_id), [hour], day)
        assert await sweep(runtime, tenant, day + timedelta(days=1, hours=1)) == []


class TestAlertAccess:
    async def test_clients_see_their_own_alerts_and_other_tenants_none(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        mine = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR)
        theirs = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR)
        now = datetime.now(UTC).replace(microsecond=0)
        for setup in (mine, theirs):
            item = {"external_id": "x", "received_at": (now - timedelta(minutes=70)).isoformat()}
            await ingest(client, tenant.admin, setup["contract"]["id"], [item])
        assert len(await sweep(runtime, tenant, now)) == 2

        _, viewer = await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(mine["client"]["id"])
        )
        seen = await list_alerts(client, viewer)
        assert [a["contract_id"] for a in seen] == [mine["contract"]["id"]]
        response = await client.get(
            "/v1/alerts", params={"contract_id": theirs["contract"]["id"]}, headers=viewer
        )
        assert_problem(response, 404)
        _, staff = await create_user(client, tenant, role="staff")
        assert_problem(await client.get("/v1/alerts", headers=staff), 403)

        other = await create_tenant(client)
        assert await list_alerts(client, other.admin) == []
        response = await client.get(
            "/v1/alerts", params={"contract_id": mine["contract"]["id"]}, headers=other.admin
        )
        assert_problem(response, 404)

    async def test_bad_filters_are_named(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        response = await client.get("/v1/alerts", params={"kind": "late"}, headers=tenant.admin)
        assert_problem(response, 422)
        window = {"from": "2026-10-02T00:00:00Z", "to": "2026-10-01T00:00:00Z"}
        body = assert_problem(await client.get("/v1/alerts", params=window, headers=tenant.admin), 422)
        assert error_fields(body) == ["to"]
        naive = {"from": "2026-10-02T00:00:00"}
        body = assert_problem(await client.get("/v1/alerts", params=naive, headers=tenant.admin), 422)
        assert error_fields(body) == ["from"]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            # Numbers used to pass for Unix times.
            ({"to": "0.5"}, "to"),
            ({"from": "1791000000"}, "from"),
            ({"from": "2026-10-02"}, "from"),
            ({"to": "next week"}, "to"),
            # In UTC these fall outside what a datetime holds.
            ({"from": "0001-01-01T00:00:00+14:00"}, "from"),
            ({"to": "9999-12-31T23:59:59-14:00"}, "to"),
        ],
    )
    async def test_from_and_to_are_iso_8601_instants_with_an_offset(
        self, client: httpx.AsyncClient, params: dict[str, str], field: str
    ) -> None:
        tenant = await create_tenant(client)
        response = await client.get("/v1/alerts", params=params, headers=tenant.admin)
        assert error_fields(assert_problem(response, 422, "validation-error")) == [field]
