"""Attendance over HTTP: clocking in and out of one's own shifts (and when not), punches from a client's
system in idempotent batches, supervisors' corrections in the audit log, the attendance report with
lateness, absences, overtime and adherence (hand-checked), the payroll timesheet across a night shift and a
public holiday, and nobody reaching anyone else's attendance."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bpo.core.runtime import Runtime
from tests.support.factories import create_api_key, create_tenant, create_user, get_ok, onboard, post_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.staffing import (
    World,
    add_assignment,
    add_punch,
    add_shift,
    remote_contract,
    staff_login,
    world,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def jst(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TOKYO)


@dataclass
class Desk:
    w: World
    contract: dict[str, Any]
    hana: uuid.UUID
    hana_h: dict[str, str]
    kenji: uuid.UUID
    kenji_h: dict[str, str]


async def desk(client: httpx.AsyncClient, runtime: Runtime) -> Desk:
    w = await world(client)
    contract = await remote_contract(client, w.tenant, w.setup)
    hana, hana_h = await staff_login(
        client, runtime, w.tenant, "Hana Suzuki", code=f"ST-{uuid.uuid4().hex[:6]}"
    )
    kenji, kenji_h = await staff_login(
        client, runtime, w.tenant, "Kenji Sato", code=f"ST-{uuid.uuid4().hex[:6]}"
    )
    return Desk(w, contract, hana, hana_h, kenji, kenji_h)


async def worked(
    runtime: Runtime, d: Desk, start: datetime, end: datetime, *people: uuid.UUID, headcount: int = 2
) -> uuid.UUID:
    shift = await add_shift(runtime, d.w.tenant, d.contract["id"], start, end, headcount=headcount)
    for person in people:
        await add_assignment(runtime, d.w.tenant, shift, person)
    return shift


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class TestClockingInAndOut:
    async def test_in_then_out_of_ones_own_shift(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        d = await desk(client, runtime)
        # Started 30 minutes ago, ends in 7.5 hours.
        shift = await worked(
            runtime, d, now() - timedelta(minutes=30), now() + timedelta(hours=7, minutes=30), d.hana
        )

        clocked_in = await client.post(f"/v1/me/shifts/{shift}/clock-in", headers=d.hana_h)

        assert clocked_in.status_code == 201, clocked_in.text
        record = clocked_in.json()
        assert (record["status"], record["clock_in_source"], record["late_minutes"]) == (
            "working",
            "staff",
            30,
        )
        assert datetime.fromisoformat(record["clock_in"]).utcoffset() == timedelta(hours=9)
        assert_problem(
            await client.post(f"/v1/me/shifts/{shift}/clock-in", headers=d.hana_h), 409, "already-clocked-in"
        )

        clocked_out = await client.post(f"/v1/me/shifts/{shift}/clock-out", headers=d.hana_h)

        assert clocked_out.status_code == 201, clocked_out.text
        record = clocked_out.json()
        assert (record["status"], record["early_leave_minutes"], record["worked_minutes"]) == ("done", 449, 0)
        assert_problem(
            await client.post(f"/v1/me/shifts/{shift}/clock-out", headers=d.hana_h),
            409,
            "already-clocked-out",
        )
        mine = await get_ok(client, "/v1/me/attendance", d.hana_h)
        assert [(i["shift_id"], i["status"]) for i in mine["items"]] == [(str(shift), "done")]
        audit = await get_ok(client, "/v1/audit-events", d.w.h, object_id=str(shift))
        assert [e["action"] for e in audit["items"]] == ["attendance.clock_in", "attendance.clock_out"]

    async def test_not_at_any_time(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        d = await desk(client, runtime)
        later = await worked(runtime, d, now() + timedelta(hours=12), now() + timedelta(hours=20), d.hana)
        soon = await worked(runtime, d, now() + timedelta(minutes=50), now() + timedelta(hours=9), d.hana)
        over = await worked(runtime, d, now() - timedelta(hours=10), now() - timedelta(hours=2), d.hana)
        long_over = await worked(runtime, d, now() - timedelta(hours=20), now() - timedelta(hours=9), d.hana)
        await add_punch(runtime, d.w.tenant, long_over, d.hana, "clock_in", now() - timedelta(hours=20))

        body = assert_problem(
            await client.post(f"/v1/me/shifts/{later}/clock-in", headers=d.hana_h),
            409,
            "outside-clock-window",
        )
        assert "clock-in opens at" in body["detail"]
        assert "(Asia/Tokyo)" in body["detail"]
        assert_problem(
            await client.post(f"/v1/me/shifts/{over}/clock-in", headers=d.hana_h), 409, "outside-clock-window"
        )
        assert_problem(
            await client.post(f"/v1/me/shifts/{soon}/clock-out", headers=d.hana_h), 409, "not-clocked-in"
        )
        body = assert_problem(
            await client.post(f"/v1/me/shifts/{long_over}/clock-out", headers=d.hana_h),
            409,
            "outside-clock-window",
        )
        assert "supervisor" in body["detail"]
        # Fifty minutes before the start is inside the hour before it.
        assert (await client.post(f"/v1/me/shifts/{soon}/clock-in", headers=d.hana_h)).status_code == 201
        assert (await get_ok(client, "/v1/me/attendance", d.hana_h))["adherence"]["absences"] == 1

    async def test_a_shift_that_is_not_yours_is_not_found(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        d = await desk(client, runtime)
        kenjis = await worked(runtime, d, now(), now() + timedelta(hours=8), d.kenji)
        other = await create_tenant(client)
        _, stranger = await staff_login(client, runtime, other, "Hana Suzuki")
        for shift_id, headers in ((kenjis, d.hana_h), (uuid.uuid4(), d.hana_h), (kenjis, stranger)):
            for action in ("clock-in", "clock-out"):
                assert_problem(await client.post(f"/v1/me/shifts/{shift_id}/{action}", headers=headers), 404)
        _, viewer = await create_user(
            client, d.w.tenant, role="client_viewer", client_id=d.w.setup["client"]["id"]
        )
        assert_problem(await client.post(f"/v1/me/shifts/{kenjis}/clock-in", headers=viewer), 403)
        _, unlinked = await create_user(client, d.w.tenant, role="staff")
        assert_problem(await client.post(f"/v1/me/shifts/{kenjis}/clock-in", headers=unlinked), 404)
        assert (await get_ok(client, "/v1/me/attendance", d.kenji_h))["items"][0]["clock_in"] is None


class TestImports:
    async def test_a_clients_system_sends_punches_idempotently(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        d = await desk(client, runtime)
        shift = await worked(runtime, d, jst(3, 2, 9), jst(3, 2, 18), d.hana, d.kenji)
        key = await create_api_key(client, d.w.tenant, client_id=uuid.UUID(d.w.setup["client"]["id"]))
        system = {"Authorization": f"Bearer {key['key']}"}
        staff = await get_ok(client, f"/v1/staff/{d.hana}", d.w.h)
        events = [
            {
                "shift_id": str(shift),
                "staff_code": staff["code"],
                "kind": "clock_in",
                "at": "2026-03-02T09:04:00+09:00",
            },
            {
                "shift_id": str(shift),
                "staff_id": str(d.hana),
                "kind": "clock_out",
                "at": "2026-03-02T18:20:00+09:00",
            },
            {
                "shift_id": str(shift),
                "staff_id": str(d.kenji),
                "kind": "clock_in",
                "at": "2026-03-02T00:00:00Z",
            },
        ]

        first = await post_ok(client, "/v1/attendance/events", {"events": events}, system)
        again = await post_ok(client, "/v1/attendance/events", {"events": events}, system)
        events[2]["at"] = "2026-03-02T00:10:00Z"
        moved = await post_ok(client, "/v1/attendance/events", {"events": events}, system)

        assert first == {"created": 3, "updated": 0, "unchanged": 0, "kept": 0}
        assert again == {"created": 0, "updated": 0, "unchanged": 3, "kept": 0}
        assert moved == {"created": 0, "updated": 1, "unchanged": 2, "kept": 0}
        report = await get_ok(
            client,
            "/v1/attendance",
            d.w.h,
            contract=d.contract["id"],
            **{"from": "2026-03-02", "to": "2026-03-02"},
        )
        by_name = {row["staff_name"]: row for row in report["shifts"]}
        hana, kenji = by_name["Hana Suzuki"], by_name["Kenji Sato"]
        assert (hana["late_minutes"], hana["overtime_minutes"], hana["clock_in_source"]) == (4, 20, "import")
        assert (kenji["late_minutes"], kenji["status"]) == (10, "missing_clock_out")

    async def test_a_bad_event_rejects_the_batch(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        d = await desk(client, runtime)
        shift = await worked(runtime, d, jst(3, 2, 9), jst(3, 2, 18), d.hana)
        elsewhere = await onboard(client, d.w.tenant)
        theirs = await create_api_key(client, d.w.tenant, client_id=uuid.UUID(elsewhere["client"]["id"]))
        good = {
            "shift_id": str(shift),
            "staff_id": str(d.hana),
            "kind": "clock_in",
            "at": "2026-03-02T09:00:00+09:00",
        }
        cases: list[tuple[dict[str, Any], str]] = [
            ({**good, "staff_id": str(d.kenji)}, "events[1].staff_id"),
            ({**good, "staff_id": None, "staff_code": "NOBODY"}, "events[1].staff_code"),
            ({**good, "shift_id": str(uuid.uuid4())}, "events[1].shift_id"),
            ({**good, "at": "2026-03-03T09:00:00+09:00"}, "events[1].at"),
            ({**good, "staff_code": "ST-1"}, "events[1].staff_id"),
            ({**good, "kind": "clock_out", "at": "2026-03-02T08:00:00+09:00"}, "events[1].at"),
            ({**good, "kind": "lunch"}, "events[1].kind"),
        ]
        for bad, field in cases:
            response = await client.post("/v1/attendance/events", json={"events": [good, bad]}, headers=d.w.h)
            body = assert_problem(response, 422)
            assert field in error_fields(body), (field, body)
            assert {error.get("index") for error in body["errors"]} == {1}, body
        assert_problem(await client.post("/v1/attendance/events", json={"events": []}, headers=d.w.h), 422)
        too_many = {"events": [good] * 1001}
        assert_problem(await client.post("/v1/attendance/events", json=too_many, headers=d.w.h), 422)
        # Another client's key does not see the shift at all.
        body = assert_problem(
            await client.post(
                "/v1/attendance/events",
                json={"events": [good]},
                headers={"Authorization": f"Bearer {theirs['key']}"},
            ),
            422,
        )
        assert error_fields(body) == ["events[0].shift_id"]
        report = await get_ok(
            client,
            "/v1/attendance",
            d.w.h,
            contract=d.contract["id"],
            **{"from": "2026-03-02", "to": "2026-03-02"},
        )
        assert report["shifts"][0]["clock_in"] is None


class TestCorrections:
    async def test_a_supervisor_corrects_with_a_reason_in_the_audit_log(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        d = await desk(client, runtime)
        shift = await worked(runtime, d, jst(3, 2, 9), jst(3, 2, 18), d.hana)
        await add_punch(runtime, d.w.tenant, shift, d.hana, "clock_in", jst(3, 2, 9, 40))
        _, supervisor = await create_user(client, d.w.tenant, role="supervisor")
        path = f"/v1/shifts/{shift}/attendance/{d.hana}"
        fix = {"clock_in": "2026-03-02T09:00:00+09:00", "clock_out": "2026-03-02T18:00:00+09:00"}

        for bad, field in (
            ({**fix}, "reason"),
            ({**fix, "reason": ""}, "reason"),
            ({**fix, "reason": "   "}, "reason"),
            ({**fix, "reason": "x", "clock_out": "2026-03-02T08:00:00+09:00"}, "clock_out"),
            ({**fix, "reason": "x", "clock_in": "2026-03-04T08:00:00+09:00"}, "clock_in"),
            ({"reason": "x", "clock_in": None, "clock_out": "2026-03-02T18:00:00+09:00"}, "clock_out"),
        ):
            assert error_fields(
                assert_problem(await client.put(path, json=bad, headers=supervisor), 422)
            ) == [field]
        assert_problem(await client.put(path, json={**fix, "reason": "x"}, headers=d.hana_h), 403)
        assert_problem(
            await client.put(
                f"/v1/shifts/{shift}/attendance/{d.kenji}", json={**fix, "reason": "x"}, headers=supervisor
            ),
            404,
        )

        response = await client.put(
            path, json={**fix, "reason": "Badge reader was down until 09:40"}, headers=supervisor
        )

        assert response.status_code == 200, response.text
        record = response.json()
        assert (record["late_minutes"], record["status"], record["corrected"]) == (0, "done", True)
        assert (record["clock_in_source"], record["clock_out_source"]) == ("correction", "correction")
        audit = await get_ok(client, "/v1/audit-events", d.w.h, object_id=str(shift))
        (event,) = [e for e in audit["items"] if e["action"] == "attendance.corrected"]
        assert event["detail"]["reason"] == "Badge reader was down until 09:40"
        assert event["detail"]["before"] == {"clock_in": "2026-03-02T00:40:00+00:00", "clock_out": None}
        assert event["detail"]["after"] == {
            "clock_in": "2026-03-02T00:00:00+00:00",
            "clock_out": "2026-03-02T09:00:00+00:00",
        }
        assert event["actor_id"] is not None
        # A later import leaves the corrected punches alone; clearing one is a correction too.
        imported = await post_ok(
            client,
            "/v1/attendance/events",
            {
                "events": [
                    {
                        "shift_id": str(shift),
                        "staff_id": str(d.hana),
                        "kind": "clock_in",
                        "at": "2026-03-02T09:40:00+09:00",
                    }
                ]
            },
            d.w.h,
        )
        assert imported["kept"] == 1
        cleared = await client.put(
            path, json={"clock_out": None, "reason": "Left without clocking out"}, headers=supervisor
        )
        assert (cleared.json()["clock_out"], cleared.json()["clock_in"][:16]) == (None, "2026-03-02T09:00")


class TestReport:
    async def test_late_early_absent_overtime_and_adherence(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        d = await desk(client, runtime)
        tenant = d.w.tenant
        monday = await worked(runtime, d, jst(3, 2, 9), jst(3, 2, 18), d.hana, d.kenji)
        tuesday = await worked(runtime, d, jst(3, 3, 9), jst(3, 3, 18), d.hana, d.kenji)
        # Monday: Hana 7 minutes late, Kenji absent. Tuesday: Hana leaves 30 minutes early, Kenji stays 75 on.
        for shift, person, clock_in, clock_out in (
            (monday, d.hana, jst(3, 2, 9, 7), jst(3, 2, 18)),
            (tuesday, d.hana, jst(3, 3, 8, 58), jst(3, 3, 17, 30)),
            (tuesday, d.kenji, jst(3, 3, 9), jst(3, 3, 19, 15)),
        ):
            await add_punch(runtime, tenant, shift, person, "clock_in", clock_in)
            await add_punch(runtime, tenant, shift, person, "clock_out", clock_out)
        period = {"from": "2026-03-02", "to": "2026-03-03"}

        report = await get_ok(client, "/v1/attendance", d.w.h, contract=d.contract["id"], **period)

        rows = {(r["shift_id"], r["staff_name"]): r for r in report["shifts"]}
        figures = ("status", "late_minutes", "early_leave_minutes", "overtime_minutes", "worked_minutes")
        assert {key: tuple(row[f] for f in figures) for key, row in rows.items()} == {
            (str(monday), "Hana Suzuki"): ("done", 7, 0, 0, 533),
            (str(monday), "Kenji Sato"): ("absent", None, 0, 0, 0),
            (str(tuesday), "Hana Suzuki"): ("done", 0, 30, 0, 510),
            (str(tuesday), "Kenji Sato"): ("done", 0, 0, 75, 615),
        }
        people = {p["staff_name"]: p for p in report["people"]}
        # Hana: 533 + 510 of 1,080 scheduled minutes; Kenji: 0 + 540.
        assert (people["Hana Suzuki"]["adherence_percent"], people["Hana Suzuki"]["adhered_minutes"]) == (
            96.57,
            1043.0,
        )
        assert (people["Hana Suzuki"]["late"], people["Hana Suzuki"]["early_leave_minutes"]) == (1, 30)
        assert (people["Kenji Sato"]["adherence_percent"], people["Kenji Sato"]["absences"]) == (50.0, 1)
        assert people["Kenji Sato"]["overtime_minutes"] == 75
        assert (report["adherence_percent"], report["scheduled_minutes"], report["adhered_minutes"]) == (
            73.29,
            2160.0,
            1583.0,
        )
        assert report["time_zone"] == "Asia/Tokyo"
        only_kenji = await get_ok(
            client, "/v1/attendance", d.w.h, contract=d.contract["id"], staff_id=str(d.kenji), **period
        )
        assert {r["staff_name"] for r in only_kenji["shifts"]} == {"Kenji Sato"}
        # Each person reads their own, and only theirs.
        mine = await get_ok(client, "/v1/me/attendance", d.hana_h, **period)
        assert {i["staff_name"] for i in mine["items"]} == {"Hana Suzuki"}
        assert mine["adherence"]["adherence_percent"] == 96.57
        assert "Kenji" not in str(mine)

    async def test_bad_input_and_other_tenants(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        d = await desk(client, runtime)
        contract = d.contract["id"]
        for params, field in (
            ({"contract": contract, "from": "2026-03-05", "to": "2026-03-01"}, "to"),
            ({"contract": contract, "from": "2026-01-01", "to": "2026-12-31"}, "to"),
        ):
            body = assert_problem(await client.get("/v1/attendance", params=params, headers=d.w.h), 422)
            assert error_fields(body) == [field]
        missing = await client.get(
            "/v1/attendance", params={"from": "2026-03-01", "to": "2026-03-02"}, headers=d.w.h
        )
        assert missing.status_code in (400, 422)
        other = await create_tenant(client)
        period = {"contract": contract, "from": "2026-03-01", "to": "2026-03-02"}
        assert_problem(await client.get("/v1/attendance", params=period, headers=other.admin), 404)
        assert_problem(await client.get("/v1/attendance", params=period, headers=d.hana_h), 403)
        assert_problem(
            await client.get(
                "/v1/me/attendance", params={"from": "2026-03-05", "to": "2026-03-01"}, headers=d.hana_h
            ),
            422,
        )


class TestTimesheet:
    async def test_a_month_across_a_night_shift_into_a_holiday(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        d = await desk(client, runtime)
        tenant = d.w.tenant
        # 2 Nov 2026 (Monday) 22:00 to Culture Day 07:00, in at 21:55, out at 07:30; 4-5 November, in at
        # 22:10, out at 07:30; 6 November absent.
        holiday = await worked(runtime, d, jst(11, 2, 22), jst(11, 3, 7), d.hana)
        working = await worked(runtime, d, jst(11, 4, 22), jst(11, 5, 7), d.hana)
        await worked(runtime, d, jst(11, 6, 22), jst(11, 7, 7), d.hana)
        await worked(runtime, d, jst(10, 30, 22), jst(10, 31, 7), d.hana)
        for shift, clock_in, clock_out in (
            (holiday, jst(11, 2, 21, 55), jst(11, 3, 7, 30)),
            (working, jst(11, 4, 22, 10), jst(11, 5, 7, 30)),
        ):
            await add_punch(runtime, tenant, shift, d.hana, "clock_in", clock_in)
            await add_punch(runtime, tenant, shift, d.hana, "clock_out", clock_out)

        response = await client.get(
            f"/v1/staff/{d.hana}/timesheet.csv", params={"month": "2026-11"}, headers=d.w.h
        )

        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        staff = await get_ok(client, f"/v1/staff/{d.hana}", d.w.h)
        assert f'filename="timesheet-{staff["code"]}-2026-11.csv"' in response.headers["content-disposition"]
        assert response.text.startswith("\ufeff")
        rows = list(csv.DictReader(io.StringIO(response.text.removeprefix("\ufeff"))))
        hours = ("regular_hours", "overtime_hours", "holiday_hours", "night_hours", "total_hours")
        assert [(r["date"], r["status"], *(r[h] for h in hours), r["break_minutes"]) for r in rows] == [
            # The 9-hour shifts have the usual 60-minute break, 02:00-03:00 in their middle, unpaid.
            # 22:00-24:00 regular and night; 00:00-07:30 of the holiday but the break (04:00 of it at night),
            # none overtime.
            ("2026-11-02", "done", "2.00", "0.00", "6.50", "6.00", "8.50", "60"),
            # 8 h 20 min worked from 22:10: the first 8 h regular, the 20 minutes after them overtime (staying
            # after the planned end alone is not); 22:10-05:00 but the break at night.
            ("2026-11-04", "done", "8.00", "0.33", "0.00", "5.83", "8.33", "60"),
            ("2026-11-06", "absent", "0.00", "0.00", "0.00", "0.00", "0.00", "0"),
            ("total", "", "10.00", "0.33", "6.50", "11.83", "16.83", "120"),
        ]
        assert (rows[0]["planned_start"], rows[0]["clock_in"], rows[0]["clock_out"]) == (
            "2026-11-02 22:00",
            "2026-11-02 21:55",
            "2026-11-03 07:30",
        )
        assert (rows[1]["late_minutes"], rows[0]["late_minutes"], rows[2]["late_minutes"]) == ("10", "0", "")
        own = await client.get("/v1/me/timesheet.csv", params={"month": "2026-11"}, headers=d.hana_h)
        assert own.text == response.text

    async def test_bad_month_and_not_accessible(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        d = await desk(client, runtime)
        for month in ("2026-13", "11-2026", "2026-1", "0000-01"):
            response = await client.get(
                f"/v1/staff/{d.hana}/timesheet.csv", params={"month": month}, headers=d.w.h
            )
            body = assert_problem(response, 422)
            assert error_fields(body) == ["month"], body
        other = await create_tenant(client)
        month = {"month": "2026-11"}
        assert_problem(
            await client.get(f"/v1/staff/{d.hana}/timesheet.csv", params=month, headers=other.admin), 404
        )
        assert_problem(
            await client.get(f"/v1/staff/{d.hana}/timesheet.csv", params=month, headers=d.kenji_h), 403
        )
        kenjis = await client.get("/v1/me/timesheet.csv", params=month, headers=d.kenji_h)
        assert kenjis.status_code == 200
        assert "Hana" not in kenjis.text
