"""Workforce forecast: Erlang C against the textbook and the closed form, minimality of the staffing it
asks for, the fluid backlog model against a simulation, coverage lines, and the forecast endpoint."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpo.staffing.queueing import (
    average_speed_of_answer,
    backlog_busy,
    backlog_forecast,
    coverage_windows,
    erlang_b,
    erlang_c,
    erlang_forecast,
    interval_starts,
    required_agents,
    scheduled_headcount,
    service_level,
    traffic_erlangs,
)
from tests.support.factories import create_tenant, create_user, onboard
from tests.support.problems import assert_problem, error_fields

TOKYO = ZoneInfo("Asia/Tokyo")

traffic_values = st.floats(min_value=0.01, max_value=400, allow_nan=False)
aht_values = st.floats(min_value=5, max_value=3600, allow_nan=False)
threshold_values = st.floats(min_value=0, max_value=600, allow_nan=False)
targets = st.floats(min_value=0.05, max_value=0.99, allow_nan=False)


def closed_form_erlang_c(agents: int, traffic: Fraction) -> Fraction:
    """The factorial formula, exactly: the reference the recursion must agree with."""
    top = traffic**agents / math.factorial(agents) * Fraction(agents) / (agents - traffic)
    return top / (sum(traffic**k / math.factorial(k) for k in range(agents)) + top)


class TestErlang:
    def test_textbook_example(self) -> None:
        # 100 calls in 30 minutes, 180 s handling: 10 Erlangs. 80% within 20 s needs 14 agents, at which
        # 88.8% are answered within 20 s with an average wait of 7.8 s; 13 agents reach only 79.6%.
        traffic = traffic_erlangs(100, 1800, 180)
        assert traffic == pytest.approx(10)
        assert required_agents(traffic, 180, 20, 0.80) == 14
        assert service_level(14, traffic, 180, 20) == pytest.approx(0.8884, abs=5e-4)
        assert service_level(13, traffic, 180, 20) == pytest.approx(0.7956, abs=5e-4)
        assert erlang_c(14, traffic) == pytest.approx(0.1741, abs=5e-4)
        assert average_speed_of_answer(14, traffic, 180) == pytest.approx(7.8, abs=0.05)
        # 30% shrinkage: 14 / 0.7 = 20 people scheduled.
        assert scheduled_headcount(14, 0.30) == 20

    def test_erlang_b_table_value(self) -> None:
        # Standard Erlang B table: 10 circuits offered 5 Erlangs block 1.84% of calls.
        assert erlang_b(10, 5.0) == pytest.approx(0.01838, abs=1e-5)

    @settings(deadline=None, max_examples=150)
    @given(
        agents=st.integers(min_value=1, max_value=60),
        traffic=st.fractions(min_value=Fraction(1, 100), max_value=Fraction(59)),
    )
    def test_recursion_matches_the_factorial_formula(self, agents: int, traffic: Fraction) -> None:
        if traffic >= agents:
            assert erlang_c(agents, float(traffic)) == 1.0
            return
        assert erlang_c(agents, float(traffic)) == pytest.approx(float(closed_form_erlang_c(agents, traffic)))

    def test_stable_at_thousands_of_agents(self) -> None:
        # 74,000 posts a day at 2 minutes each would need factorials of ~100 digits; the recursion is fine.
        traffic = traffic_erlangs(74_000 / 48 * 40, 1800, 120)
        agents = required_agents(traffic, 120, 45, 0.8)
        assert traffic < agents < traffic + 5 * math.sqrt(traffic)
        assert service_level(agents, traffic, 120, 45) >= 0.8 > service_level(agents - 1, traffic, 120, 45)
        assert 0 < erlang_c(agents, traffic) < 1

    @settings(deadline=None, max_examples=200)
    @given(
        traffic=traffic_values,
        aht=aht_values,
        threshold=threshold_values,
        agents=st.integers(min_value=0, max_value=500),
    )
    def test_service_level_rises_with_agents(
        self, traffic: float, aht: float, threshold: float, agents: int
    ) -> None:
        lower = service_level(agents, traffic, aht, threshold)
        higher = service_level(agents + 1, traffic, aht, threshold)
        assert 0 <= lower <= higher <= 1
        assert average_speed_of_answer(agents + 1, traffic, aht) <= average_speed_of_answer(
            agents, traffic, aht
        )

    @settings(deadline=None, max_examples=200)
    @given(traffic=traffic_values, aht=aht_values, threshold=threshold_values, target=targets)
    def test_required_agents_is_the_fewest_that_meet_the_target(
        self, traffic: float, aht: float, threshold: float, target: float
    ) -> None:
        agents = required_agents(traffic, aht, threshold, target)
        assert agents > traffic
        assert service_level(agents, traffic, aht, threshold) >= target
        assert service_level(agents - 1, traffic, aht, threshold) < target

    @settings(deadline=None, max_examples=150)
    @given(
        traffic=traffic_values,
        aht=aht_values,
        target=targets,
        occupancy=st.floats(min_value=0.3, max_value=1.0, allow_nan=False),
    )
    def test_occupancy_cap(self, traffic: float, aht: float, target: float, occupancy: float) -> None:
        capped = required_agents(traffic, aht, 20, target, max_occupancy=occupancy)
        plain = required_agents(traffic, aht, 20, target)
        assert traffic / capped <= occupancy + 1e-9
        assert capped >= plain
        # The cap adds nobody beyond what it needs.
        assert capped == plain or traffic / (capped - 1) > occupancy

    def test_no_traffic_needs_nobody(self) -> None:
        [need] = erlang_forecast([0], 1800, 180, 20, 0.8, shrinkage=0.3)
        assert (need.agents, need.headcount, need.service_level) == (0, 0, 1.0)

    def test_rejects_impossible_objectives(self) -> None:
        with pytest.raises(ValueError, match="target"):
            required_agents(10, 180, 20, 1.0)
        with pytest.raises(ValueError, match="shrinkage"):
            scheduled_headcount(10, 1.0)


def simulate_earliest_deadline(
    arrivals: list[float], interval_s: float, aht: float, staff: list[float], steps: int
) -> float:
    """Work the arrivals with `staff[i]` people during interval i, earliest deadline (here: first come)
    first, in `steps` time steps per interval; the longest any work waited to be finished, in seconds,
    or inf if work is left at the end."""
    dt = interval_s / steps
    queue: list[list[float]] = []  # [arrival time, remaining work seconds]
    longest = 0.0
    for index, count in enumerate(arrivals):
        capacity = staff[index] * dt
        for step in range(steps):
            now = (index * steps + step) * dt
            if count:
                queue.append([now, count / steps * aht])
            budget = capacity
            while queue and budget > 1e-12:
                work = min(budget, queue[0][1])
                queue[0][1] -= work
                budget -= work
                if queue[0][1] <= 1e-9:
                    longest = max(longest, now + dt * (capacity - budget) / capacity - queue[0][0])
                    queue.pop(0)
    return math.inf if queue else longest


class TestBacklog:
    def test_steady_arrivals(self) -> None:
        # 60 emails an hour at 10 minutes each is 10 people busy once the first 4 hours have passed;
        # before that, the fluid model spreads the work over the 4 h each email may wait.
        busy = backlog_busy([60] * 8, 3600, 600, 4 * 3600)
        assert busy[:4] == pytest.approx([2.5, 5, 7.5, 10])
        assert busy[4:] == pytest.approx([10] * 4)
        needs = backlog_forecast([60] * 8, 3600, 600, 4 * 3600, max_occupancy=0.8, shrinkage=0.2)
        # 10 busy at 80% occupancy: 12.5 → 13 agents, then 13 / 0.8 → 17 people.
        assert [need.agents for need in needs[4:]] == [13] * 4
        assert [need.headcount for need in needs[4:]] == [17] * 4

    def test_a_burst_is_spread_over_the_threshold(self) -> None:
        # 120 emails in one hour, nothing after; 8 h to answer: 120 x 600 s over 8 h is 2.5 people for the
        # whole 8 h window after the burst (the most of each hour's ramp), then nobody.
        busy = backlog_busy([120] + [0] * 11, 3600, 600, 8 * 3600)
        assert busy[:9] == pytest.approx([120 * 600 / (8 * 3600)] * 9)
        assert busy[9:] == pytest.approx([0, 0, 0])

    @settings(deadline=None, max_examples=40)
    @given(
        arrivals=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=12),
        aht=st.integers(min_value=60, max_value=1200),
        threshold_hours=st.integers(min_value=1, max_value=6),
    )
    def test_staffing_it_clears_all_work_within_the_threshold(
        self, arrivals: list[int], aht: int, threshold_hours: int
    ) -> None:
        threshold = threshold_hours * 3600.0
        # Quiet hours after the last arrivals, so the forecast also covers finishing their work.
        counts = [float(count) for count in arrivals] + [0.0] * threshold_hours
        staff = backlog_busy(counts, 3600, aht, threshold)
        steps = 60
        longest = simulate_earliest_deadline(counts, 3600, aht, staff, steps)
        # A step of slack: the simulation lets each step's work arrive in one lump at its start.
        assert longest <= threshold + 3600 / steps

    def test_rejects_a_zero_threshold(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            backlog_busy([1.0], 3600, 600, 0)


class TestCoverageWindows:
    def test_runs_join_and_equal_days_share_a_line(self) -> None:
        # A week of hourly needs in Tokyo: 2 people 09:00-18:00 on weekdays, 1 person 22:00-24:00 daily.
        starts = interval_starts(datetime(2026, 3, 2, tzinfo=TOKYO), 60, 7 * 24)
        heads = []
        for start in starts:
            local = start.astimezone(TOKYO)
            if local.weekday() < 5 and 9 <= local.hour < 18:
                heads.append(2)
            elif local.hour >= 22:
                heads.append(1)
            else:
                heads.append(0)
        windows = coverage_windows(starts, heads, 60, "Asia/Tokyo")
        assert [(w.days, w.start_minute, w.end_minute, w.headcount) for w in windows] == [
            (["weekdays"], 9 * 60, 18 * 60, 2),
            (["daily"], 22 * 60, 24 * 60, 1),
        ]

    def test_the_largest_need_of_a_weekday_slot_wins(self) -> None:
        monday = datetime(2026, 3, 2, 10, tzinfo=TOKYO)
        starts = [monday, monday + timedelta(days=7)]
        [window] = coverage_windows(starts, [3, 5], 30, "Asia/Tokyo")
        assert (window.days, window.start_minute, window.end_minute, window.headcount) == (
            ["mon"],
            600,
            630,
            5,
        )

    def test_interval_starts_are_absolute_across_a_dst_change(self) -> None:
        london = ZoneInfo("Europe/London")
        starts = interval_starts(datetime(2026, 3, 29, 0, 30, tzinfo=london), 30, 3)
        assert [s.astimezone(london).strftime("%H:%M") for s in starts] == ["00:30", "02:00", "02:30"]
        assert starts[1] - starts[0] == timedelta(minutes=30)
        assert starts[0].tzinfo is UTC


TEXTBOOK = {
    "start": "2026-03-02T09:00:00+09:00",
    "interval_minutes": 30,
    "arrivals": [100, 100, 50, 0],
    "aht_seconds": 180,
    "objective": {"threshold": "20s", "target_percent": 80},
    "shrinkage_percent": 30,
}


class TestForecastEndpoint:
    async def test_erlang_forecast_and_coverage_lines(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        contract_id = setup["contract"]["id"]
        _, supervisor = await create_user(client, tenant, role="supervisor")
        response = await client.post(
            f"/v1/contracts/{contract_id}/forecast",
            json={**TEXTBOOK, "coverage": {"languages": ["ja"]}},
            headers=supervisor,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["time_zone"] == "Asia/Tokyo"
        first, _, third, fourth = body["intervals"]
        assert (first["start"], first["end"]) == ("2026-03-02T09:00:00+09:00", "2026-03-02T09:30:00+09:00")
        assert first["workload_erlangs"] == 10
        assert (first["agents"], first["headcount"]) == (14, 20)
        assert first["service_level_percent"] == pytest.approx(88.84, abs=0.01)
        assert first["asa_seconds"] == pytest.approx(7.8, abs=0.05)
        assert third["agents"] == required_agents(5, 180, 20, 0.8)
        assert (fourth["agents"], fourth["headcount"]) == (0, 0)
        assert body["peak_headcount"] == 20
        assert body["coverage"] == [
            {
                "days": ["mon"],
                "start": "09:00",
                "end": "10:00",
                "headcount": 20,
                "skills": [],
                "languages": ["ja"],
            },
            {
                "days": ["mon"],
                "start": "10:00",
                "end": "10:30",
                "headcount": third["headcount"],
                "skills": [],
                "languages": ["ja"],
            },
        ]
        # Nothing was written to the contract.
        contract = await client.get(f"/v1/contracts/{contract_id}", headers=tenant.admin)
        assert contract.json()["coverage"] == setup["contract"]["coverage"]

    async def test_backlog_forecast(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        contract_id = (await onboard(client, tenant))["contract"]["id"]
        response = await client.post(
            f"/v1/contracts/{contract_id}/forecast",
            json={
                "model": "backlog",
                "start": "2026-03-02T08:00:00+09:00",
                "interval_minutes": 60,
                "arrivals": [60] * 8,
                "aht_seconds": 600,
                "objective": {"threshold": "4h"},
                "max_occupancy_percent": 80,
                "shrinkage_percent": 20,
            },
            headers=tenant.admin,
        )
        assert response.status_code == 200, response.text
        intervals = response.json()["intervals"]
        assert [i["headcount"] for i in intervals] == [5, 9, 13, 17, 17, 17, 17, 17]
        assert intervals[0]["service_level_percent"] is None
        assert response.json()["coverage"] is None

    async def test_bad_input_names_each_field(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        path = f"/v1/contracts/{(await onboard(client, tenant))['contract']['id']}/forecast"
        bad = {
            **TEXTBOOK,
            "start": "2026-03-02T09:00:00",
            "interval_minutes": 7,
            "objective": {"threshold": "20s"},
        }
        body = assert_problem(
            await client.post(path, json=bad, headers=tenant.admin), 422, "validation-error"
        )
        assert set(error_fields(body)) == {"start", "interval_minutes", "objective.target_percent"}
        backlog = {**TEXTBOOK, "model": "backlog", "objective": {"threshold": "0s", "target_percent": 80}}
        body = assert_problem(await client.post(path, json=backlog, headers=tenant.admin), 422)
        assert set(error_fields(body)) == {"objective.threshold", "objective.target_percent"}
        for wrong in (
            {**TEXTBOOK, "arrivals": [-1]},
            {**TEXTBOOK, "arrivals": []},
            {**TEXTBOOK, "objective": {"threshold": "20s", "target_percent": 100}},
            {**TEXTBOOK, "aht_seconds": 0},
            {**TEXTBOOK, "colour": "blue"},
            {**TEXTBOOK, "objective": {"threshold": "soon", "target_percent": 80}},
            # Three million Erlangs would take minutes to staff one agent count at a time.
            {**TEXTBOOK, "arrivals": [10_000_000], "aht_seconds": 600},
        ):
            assert_problem(await client.post(path, json=wrong, headers=tenant.admin), 422)

    async def test_not_accessible(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        path = f"/v1/contracts/{setup['contract']['id']}/forecast"
        other = await create_tenant(client)
        assert_problem(await client.post(path, json=TEXTBOOK, headers=other.admin), 404)
        missing = f"/v1/contracts/{uuid.uuid4()}/forecast"
        assert_problem(await client.post(missing, json=TEXTBOOK, headers=tenant.admin), 404)
        _, viewer = await create_user(client, tenant, role="client_viewer", client_id=setup["client"]["id"])
        assert_problem(await client.post(path, json=TEXTBOOK, headers=viewer), 403)
        _, staff = await create_user(client, tenant, role="staff")
        assert_problem(await client.post(path, json=TEXTBOOK, headers=staff), 403)
