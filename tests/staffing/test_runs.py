"""Schedule runs: the solver as a job over a tenant's real shifts, its roster re-checked here by the
independent rule checker from the data as the test built it, follow-the-sun, reasons for gaps, replan,
repeat runs, a roster that breaks a rule never written, and the HTTP surface."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from bpo.core.jobs.registry import STAFFING_QUEUE
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.staffing import models
from bpo.staffing import schedule_runs as runs
from bpo.staffing.roster import Roster
from bpo.staffing.rules import Assignment, Shift, StaffMember, check_roster
from tests.support.factories import TenantHandle, create_tenant, create_user, onboard
from tests.support.problems import assert_problem, error_fields
from tests.support.processes import Worker
from tests.support.staffing import add_assignment, add_shift, add_staff, remote_contract

TOKYO = ZoneInfo("Asia/Tokyo")
ZONES = {
    "Aiko": "Asia/Tokyo",
    "Kenji": "Asia/Tokyo",
    "Fiona": "Europe/London",
    "Sofía": "America/Argentina/Buenos_Aires",
}
PERIOD = {"from": "2026-03-02", "to": "2026-03-04"}


def jst(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, tzinfo=TOKYO) + timedelta(hours=hour)


@dataclasses.dataclass
class Night:
    """A remote patrol of a Tokyo client: a day and a night shift on each of three days, and one shift
    that needs a skill nobody has; four people in Tokyo, Scotland and Argentina."""

    tenant: TenantHandle
    setup: dict[str, Any]
    contract_id: str
    shifts: dict[uuid.UUID, Shift]
    nights: set[uuid.UUID]
    chat: uuid.UUID
    staff: dict[uuid.UUID, StaffMember]
    names: dict[uuid.UUID, str]


async def night_patrol(client: httpx.AsyncClient, runtime: Runtime) -> Night:
    tenant = await create_tenant(client)
    setup = await onboard(client, tenant)
    contract_id = (await remote_contract(client, tenant, setup))["id"]
    shifts: dict[uuid.UUID, Shift] = {}
    nights = set()

    async def shift(start: datetime, hours: int, skills: tuple[str, ...] = ("patrol",)) -> uuid.UUID:
        end = start + timedelta(hours=hours)
        shift_id = await add_shift(runtime, tenant, contract_id, start, end, skills=skills, languages=("ja",))
        shifts[shift_id] = Shift(
            shift_id,
            uuid.UUID(contract_id),
            start,
            end,
            skills=frozenset(skills),
            languages=frozenset({"ja"}),
        )
        return shift_id

    for day in (2, 3, 4):
        await shift(jst(day, 9), 9)
        nights.add(await shift(jst(day, 22), 9))
    chat = await shift(jst(3, 12), 4, skills=("chat",))
    staff = {}
    names = {}
    for name, zone in ZONES.items():
        staff_id = await add_staff(
            runtime, tenant, f"{name} Test", zone=zone, skills=("patrol",), languages=("ja",)
        )
        staff[staff_id] = StaffMember(
            staff_id, zone, skills=frozenset({"patrol"}), languages=frozenset({"ja"})
        )
        names[staff_id] = name
    return Night(tenant, setup, contract_id, shifts, nights, chat, staff, names)


async def stored_assignments(runtime: Runtime, tenant: TenantHandle) -> list[models.Assignment]:
    async with runtime.db.tenant(tenant.id) as session:
        return list(await session.scalars(select(models.Assignment).order_by(models.Assignment.id)))


async def start_run(client: httpx.AsyncClient, world: Night, **fields: Any) -> dict[str, Any]:
    body = {**PERIOD, "contract_ids": [world.contract_id], "time_limit_s": 5, **fields}
    response = await client.post("/v1/schedule-runs", json=body, headers=world.tenant.admin)
    assert response.status_code == 202, response.text
    run: dict[str, Any] = response.json()
    assert run["status"] == "queued"
    return run


async def execute(runtime: Runtime, world: Night, run_id: str) -> None:
    async with runtime.db.tenant(world.tenant.id) as session:
        await runs.execute_run(session, system_scope(world.tenant.id), uuid.UUID(run_id))


async def get_run(client: httpx.AsyncClient, world: Night, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/schedule-runs/{run_id}", headers=world.tenant.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def independent_check(world: Night, stored: list[models.Assignment]) -> None:
    roster = [Assignment(row.shift_id, row.staff_id) for row in stored]
    assert check_roster(world.shifts.values(), world.staff.values(), [], roster) == []
    for shift_id, shift in world.shifts.items():
        assert sum(a.shift_id == shift_id for a in roster) <= shift.headcount


class TestScheduleRun:
    async def test_fills_the_roster_under_every_hard_rule(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        world = await night_patrol(client, runtime)
        run = await start_run(client, world)
        await execute(runtime, world, run["id"])
        done = await get_run(client, world, run["id"])
        assert done["status"] == "succeeded", done
        assert done["started_at"] is not None
        assert done["finished_at"] is not None
        result = done["result"]
        stored = await stored_assignments(runtime, world.tenant)
        independent_check(world, stored)
        assert {row.source for row in stored} == {"solver"}
        assert len(stored) == result["assignments_added"] == 6
        # 54 of the 58 required hours: every patrol shift filled, the chat shift not.
        contract = (await client.get(f"/v1/contracts/{world.contract_id}", headers=world.tenant.admin)).json()
        assert result["coverage"] == [
            {
                "contract_id": world.contract_id,
                "contract_code": contract["code"],
                "coverage_percent": pytest.approx(100 * 54 / 58, abs=0.01),
            }
        ]
        [gap] = result["unfilled"]
        assert gap["shift_id"] == str(world.chat)
        assert (gap["contract_id"], gap["contract_code"]) == (world.contract_id, contract["code"])
        assert gap["missing"] == 1
        assert "chat" in gap["reason"]
        assert result["solver_status"] in ("OPTIMAL", "FEASIBLE")
        assert result["solve_seconds"] > 0
        assert {p["rule"] for p in result["penalties"]} >= {"follow_the_sun", "continuity"}

    async def test_night_hours_in_tokyo_go_to_scotland_and_argentina(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        world = await night_patrol(client, runtime)
        await execute(runtime, world, (await start_run(client, world))["id"])
        stored = await stored_assignments(runtime, world.tenant)
        at_night = {world.names[row.staff_id] for row in stored if row.shift_id in world.nights}
        by_day = {world.names[row.staff_id] for row in stored if row.shift_id not in world.nights}
        assert at_night
        assert at_night <= {"Fiona", "Sofía"}
        assert by_day <= {"Aiko", "Kenji"}

    async def test_existing_assignments_stay_unless_replanned(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        world = await night_patrol(client, runtime)
        aiko = next(staff_id for staff_id, name in world.names.items() if name == "Aiko")
        first_night = min(world.nights, key=lambda shift_id: world.shifts[shift_id].start)
        manual = await add_assignment(runtime, world.tenant, first_night, aiko)

        await execute(runtime, world, (await start_run(client, world))["id"])
        stored = await stored_assignments(runtime, world.tenant)
        assert manual in {row.id for row in stored}
        assert [row.staff_id for row in stored if row.shift_id == first_night] == [aiko]
        independent_check(world, stored)

        # The same period again adds nothing and duplicates nothing.
        again = await start_run(client, world)
        await execute(runtime, world, again["id"])
        result = (await get_run(client, world, again["id"]))["result"]
        assert (result["assignments_added"], result["assignments_removed"]) == (0, 0)
        assert {row.id for row in await stored_assignments(runtime, world.tenant)} == {
            row.id for row in stored
        }

        replan = await start_run(client, world, replan=True)
        await execute(runtime, world, replan["id"])
        result = (await get_run(client, world, replan["id"]))["result"]
        assert result["assignments_removed"] >= 1
        replanned = await stored_assignments(runtime, world.tenant)
        assert manual not in {row.id for row in replanned}
        assert {world.names[row.staff_id] for row in replanned if row.shift_id == first_night} <= {
            "Fiona",
            "Sofía",
        }
        # What the new roster keeps is kept as it was (same rows).
        kept = {(row.shift_id, row.staff_id): row.id for row in stored}
        for row in replanned:
            if (row.shift_id, row.staff_id) in kept:
                assert row.id == kept[(row.shift_id, row.staff_id)]
        independent_check(world, replanned)

    async def test_a_finished_run_is_not_run_again(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        world = await night_patrol(client, runtime)
        run = await start_run(client, world)
        await execute(runtime, world, run["id"])
        first = await get_run(client, world, run["id"])
        before = await stored_assignments(runtime, world.tenant)
        await execute(runtime, world, run["id"])
        assert await get_run(client, world, run["id"]) == first
        assert [row.id for row in await stored_assignments(runtime, world.tenant)] == [
            row.id for row in before
        ]

    async def test_a_roster_that_breaks_a_rule_is_never_written(
        self, client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        world = await night_patrol(client, runtime)
        solve = runs.plan

        def overlapping(roster: Roster, *, replan: bool, time_limit_s: float) -> runs.Plan:
            outcome = solve(roster, replan=replan, time_limit_s=time_limit_s)
            # One person on a day shift and the night shift that starts 4 hours after it ends.
            day = min(
                (s for s in roster.shifts if s.id not in world.nights and s.id != world.chat),
                key=lambda s: s.start,
            )
            night = min((s for s in roster.shifts if s.id in world.nights), key=lambda s: s.start)
            person = next(iter(world.staff))
            extra = [Assignment(day.id, person), Assignment(night.id, person)]
            others = [a for a in outcome.added if a.shift_id not in (day.id, night.id)]
            return dataclasses.replace(outcome, added=others + extra, final=others + extra)

        monkeypatch.setattr(runs, "plan", overlapping)
        run = await start_run(client, world)
        await execute(runtime, world, run["id"])
        failed = await get_run(client, world, run["id"])
        assert failed["status"] == "failed"
        assert "hard rule" in failed["error"]
        assert any("min_rest" in violation for violation in failed["result"]["violations"])
        assert await stored_assignments(runtime, world.tenant) == []

    async def test_bad_input_and_isolation(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        world = await night_patrol(client, runtime)
        run = await start_run(client, world)
        h = world.tenant.admin
        other = await create_tenant(client)
        foreign = (await onboard(client, other))["contract"]["id"]
        cases: list[tuple[dict[str, Any], list[str]]] = [
            ({**PERIOD, "to": "2026-03-01", "contract_ids": [world.contract_id]}, ["to"]),
            ({"from": "2026-03-01", "to": "2026-04-01", "contract_ids": [world.contract_id]}, ["to"]),
            ({**PERIOD, "contract_ids": [world.contract_id, foreign]}, ["contract_ids[1]"]),
            ({**PERIOD, "contract_ids": [world.contract_id, world.contract_id]}, ["contract_ids[1]"]),
        ]
        for body, fields in cases:
            problem = assert_problem(await client.post("/v1/schedule-runs", json=body, headers=h), 422)
            assert error_fields(problem) == fields
        for body in (
            {**PERIOD, "contract_ids": []},
            {**PERIOD, "contract_ids": [world.contract_id], "time_limit_s": 0},
            {**PERIOD, "contract_ids": [world.contract_id], "shifts": "all"},
            {"from": "2026-03-02", "contract_ids": [world.contract_id]},
        ):
            assert_problem(await client.post("/v1/schedule-runs", json=body, headers=h), 422)
        listed = (await client.get("/v1/schedule-runs", headers=h)).json()
        assert [item["id"] for item in listed["items"]] == [run["id"]]
        assert_problem(await client.get(f"/v1/schedule-runs/{run['id']}", headers=other.admin), 404)
        assert (await client.get("/v1/schedule-runs", headers=other.admin)).json()["items"] == []
        assert_problem(await client.get(f"/v1/schedule-runs/{uuid.uuid4()}", headers=h), 404)
        _, staff = await create_user(client, world.tenant, role="staff")
        _, viewer = await create_user(
            client, world.tenant, role="client_viewer", client_id=world.setup["client"]["id"]
        )
        for caller in (staff, viewer):
            assert_problem(await client.get(f"/v1/schedule-runs/{run['id']}", headers=caller), 403)
            body = {**PERIOD, "contract_ids": [world.contract_id]}
            assert_problem(await client.post("/v1/schedule-runs", json=body, headers=caller), 403)
        _, supervisor = await create_user(client, world.tenant, role="supervisor")
        response = await client.post(
            "/v1/schedule-runs", json={**PERIOD, "contract_ids": [world.contract_id]}, headers=supervisor
        )
        assert response.status_code == 202, response.text

    async def test_the_worker_runs_the_job(
        self, client: httpx.AsyncClient, runtime: Runtime, worker_env: dict[str, str], tmp_path: Path
    ) -> None:
        world = await night_patrol(client, runtime)
        # Only its own queue: jobs other tests left in the shared Redis do not queue ahead of it.
        worker = Worker(worker_env, tmp_path / "worker.log", args=("--queue", STAFFING_QUEUE))
        try:
            run = await start_run(client, world)
            deadline = time.monotonic() + 90
            while (done := await get_run(client, world, run["id"]))["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, worker.log()[-3000:]
                await asyncio.sleep(0.3)
        finally:
            worker.kill()
        assert done["status"] == "succeeded", done
        assert done["result"]["assignments_added"] == 6
        independent_check(world, await stored_assignments(runtime, world.tenant))
        assert datetime.fromisoformat(done["finished_at"]) <= datetime.now(UTC)
