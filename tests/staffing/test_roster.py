"""The rules' view of stored rosters: the loader the solver and swaps start from, and the check of one
person on one shift with some assignments set aside."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.staffing import rules
from bpo.staffing.models import Shift, Staff
from bpo.staffing.roster import load_roster, violations_for
from tests.support.staffing import REMOTE_DAY, world


async def test_load_roster_gives_the_period_the_people_and_what_constrains_them(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    w = await world(client)
    target = await w.contract(client, REMOTE_DAY)
    other = await w.contract(client, REMOTE_DAY)
    ann, ben, gone = await w.staff(client), await w.staff(client), await w.staff(client)
    in_period = await w.shift(client, target, "2026-11-03T00:00:00Z", "2026-11-03T08:00:00Z", headcount=3)
    elsewhere = await w.shift(client, other, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
    far_away = await w.shift(client, other, "2026-12-20T00:00:00Z", "2026-12-20T08:00:00Z")
    for shift, person in ((in_period, ann), (in_period, gone), (elsewhere, ben), (far_away, ann)):
        assert (await w.assign(client, shift, person["id"])).status_code == 201
    assert (
        await client.patch(f"/v1/staff/{gone['id']}", json={"active": False}, headers=w.h)
    ).status_code == 200
    leave = await client.post(
        f"/v1/staff/{ben['id']}/time-off",
        json={"start": "2026-11-04T00:00:00Z", "end": "2026-11-05T00:00:00Z"},
        headers=w.h,
    )
    assert (await client.post(f"/v1/time-off/{leave.json()['id']}:approve", headers=w.h)).status_code == 200
    assert (
        await client.put("/v1/staffing/settings", json={"min_rest_hours": 9}, headers=w.h)
    ).status_code == 200

    async with runtime.db.tenant(w.tenant.id) as session:
        roster = await load_roster(
            session,
            system_scope(w.tenant.id),
            datetime(2026, 11, 3, tzinfo=UTC),
            datetime(2026, 11, 4, tzinfo=UTC),
            contract_ids=[uuid.UUID(target["id"])],
        )

    assert [(str(s.id), s.headcount) for s in roster.shifts] == [(in_period, 2)]
    assert [str(s.id) for s in roster.booked] == [elsewhere]
    assert {str(m.id) for m in roster.staff} == {ann["id"], ben["id"]}
    assert {(str(a.shift_id), str(a.staff_id)) for a in roster.assignments} == {
        (in_period, ann["id"]),
        (elsewhere, ben["id"]),
    }
    (ben_member,) = [m for m in roster.staff if str(m.id) == ben["id"]]
    assert ben_member.time_off == ((datetime(2026, 11, 4, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC)),)
    assert roster.settings.min_rest == timedelta(hours=9)
    assert roster.weights.coverage == 1000
    assert (
        rules.check_roster(
            [*roster.shifts, *roster.booked], roster.staff, roster.sites, roster.assignments, roster.settings
        )
        == []
    )


async def test_violations_for_can_set_assignments_aside(client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await world(client)
    contract = await w.contract(client, REMOTE_DAY)
    person = await w.staff(client)
    held = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
    wanted = await w.shift(client, contract, "2026-11-02T04:00:00Z", "2026-11-02T10:00:00Z")
    assignment = (await w.assign(client, held, person["id"])).json()

    async with runtime.db.tenant(w.tenant.id) as session:
        scope = system_scope(w.tenant.id)
        shift = await session.scalar(select(Shift).where(Shift.id == uuid.UUID(wanted)))
        staff = await session.scalar(select(Staff).where(Staff.id == uuid.UUID(person["id"])))
        assert shift is not None
        assert staff is not None
        kept = await violations_for(session, scope, shift, staff)
        set_aside = await violations_for(
            session, scope, shift, staff, excluding=[uuid.UUID(assignment["id"])]
        )

    assert [(v.code, str(v.conflicting_shift_id)) for v in kept] == [("overlap", held)]
    assert set_aside == []
