"""`bpo tenants demo-activity` (what `bpo dev` does after loading the demo): recent work items on the demo
operator's active contracts, shifts around today and a schedule run; a second run adds nothing; a
manifest not marked as a demo is refused."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis

from bpo.clients.models import Contract
from bpo.clients.schemas import Metric, Objective
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.onboarding.demo_activity import _day_of_answers, _day_of_items
from bpo.settings import Settings
from bpo.staffing import schedule_runs
from tests.support.factories import PASSWORD, get_ok, headers_for, login
from tests.support.paths import DEMO_MANIFEST
from tests.support.processes import BPO, command_env
from tests.support.redis_databases import demo_jobs_database

pytestmark = pytest.mark.slow

TOKYO = ZoneInfo("Asia/Tokyo")
ACTIVITY = re.compile(
    r"demo activity: (\d+) new work items over (\d+) contract-days, (\d+) new shifts, "
    r"(a schedule run queued|no new schedule run)"
)


@pytest.fixture
def jobs_redis(settings: Settings) -> Iterator[str]:
    assert settings.redis_url
    url = demo_jobs_database(settings.redis_url)
    yield url
    redis.Redis.from_url(url).flushdb()


def run(settings: Settings, redis_url: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = command_env(settings, BPO_REDIS_URL=redis_url, BPO_DEMO_PASSWORD=PASSWORD)
    return subprocess.run(
        [str(BPO), *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=300, check=False
    )


def demo_manifest(workdir: Path, *, demo: bool = True) -> tuple[str, Path]:
    """The demo operator under a slug of its own."""
    slug = f"demo{uuid.uuid4().hex[:8]}"
    text = DEMO_MANIFEST.read_text(encoding="utf-8")
    text = text.replace("slug: demo", f"slug: {slug}").replace("@demo.example", f"@{slug}.example")
    if not demo:
        text = re.sub(r"^(\s*)demo: true", r"\1demo: false", text, count=1, flags=re.MULTILINE)
    path = workdir / f"{slug}.yaml"
    path.write_text(text, encoding="utf-8")
    return slug, path


def activity(result: subprocess.CompletedProcess[str]) -> tuple[int, int, int, bool]:
    assert result.returncode == 0, result.stderr
    found = ACTIVITY.search(result.stdout)
    assert found, result.stdout
    items, days, shifts, run = found.groups()
    return int(items), int(days), int(shifts), run == "a schedule run queued"


async def test_a_demo_tenant_gets_recent_work_shifts_and_a_schedule_run_once(
    client: httpx.AsyncClient, settings: Settings, jobs_redis: str, tmp_path: Path
) -> None:
    slug, manifest = demo_manifest(tmp_path)
    applied = run(settings, jobs_redis, tmp_path, "tenants", "apply", str(manifest))
    assert applied.returncode == 0, applied.stderr

    items, days, shifts, queued = activity(
        run(settings, jobs_redis, tmp_path, "tenants", "demo-activity", str(manifest), "--days", "5")
    )
    # The ten active contracts get the five days before today (weekdays only where they staff weekdays).
    assert items > 0
    assert shifts > 0
    assert queued
    assert 5 * 8 <= days <= 5 * 10

    admin = headers_for((await login(client, slug, f"admin@{slug}.example", PASSWORD))["access_token"])
    contracts = {c["code"]: c for c in (await get_ok(client, "/v1/contracts", admin, limit=200))["items"]}
    chat = contracts["LAN-CHAT"]
    today = datetime.now(TOKYO).date()
    listed = await get_ok(client, f"/v1/contracts/{chat['id']}/work-items", admin, limit=200)
    received = [datetime.fromisoformat(i["received_at"]).astimezone(TOKYO) for i in listed["items"]]
    assert received
    assert {r.date() for r in received} <= {today - timedelta(days=n) for n in range(1, 6)}
    # Chats arrive while the chat desk is staffed (10:30-18:30 JST on weekdays).
    assert all((10, 30) <= (r.hour, r.minute) < (18, 30) and r.weekday() < 5 for r in received)
    assert all(i["external_id"].startswith("demo-") for i in listed["items"])
    answered = [i for i in listed["items"] if i["first_response_at"]]
    assert len(answered) == len(listed["items"])

    # The rollups, rebuilt from the items, give a dashboard near the generator's on-time share.
    since = (today - timedelta(days=7)).isoformat()
    rebuilt = run(
        settings, jobs_redis, tmp_path, "sla", "rebuild", "--contract", "LAN-CHAT", "--tenant", slug,
        "--since", since,
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    sla = await get_ok(
        client,
        f"/v1/contracts/{chat['id']}/sla",
        admin,
        start=(today - timedelta(days=5)).isoformat(),
        end=(today - timedelta(days=1)).isoformat(),
    )
    (first_response,) = sla["objectives"]
    assert sla["volumes"]["received"] >= len(received)
    assert first_response["met"] + first_response["breached"] == sla["volumes"]["received"]
    assert 75 <= first_response["attainment"] < 100

    # Shifts around today, published, and one queued schedule run covering today.
    shifts_today = await get_ok(
        client, "/v1/shifts", admin, contract_id=chat["id"], tz="Asia/Tokyo",
        **{"from": (today - timedelta(days=7)).isoformat(), "to": (today + timedelta(days=7)).isoformat()},
    )  # fmt: skip
    assert shifts_today["items"]
    assert {s["status"] for s in shifts_today["items"]} == {"published"}
    schedule_runs = (await get_ok(client, "/v1/schedule-runs", admin))["items"]
    assert [(r["status"], r["from"] <= today.isoformat() <= r["to"]) for r in schedule_runs] == [
        ("queued", True)
    ]

    # Users' voices on Rakuten Recipe's social-media desk and Pairs' email desk only.
    voiced = [contracts["RKT-RECIPE-SOCIAL"]["id"], contracts["EUR-PAIRS-EMAIL"]["id"]]
    voices = (await get_ok(client, "/v1/voices", admin, contract=voiced, limit=200))["items"]
    assert {v["contract_id"] for v in voices} == set(voiced)
    assert all(v["text"] and v["category"] and v["work_item_id"] for v in voices)
    everywhere = (await get_ok(client, "/v1/voices", admin, limit=200))["items"]
    assert len(everywhere) == len(voices)

    # Again: nothing new (the days are there, the shifts exist, a run covers today). Only answers whose
    # time has come since the first run are filled in, on the days they belong to (seconds apart, that is
    # rarely any, and never more days than were seeded).
    again_items, again_days, again_shifts, again_queued = activity(
        run(settings, jobs_redis, tmp_path, "tenants", "demo-activity", str(manifest), "--days", "5")
    )
    assert (again_items, again_shifts, again_queued) == (0, 0, False)
    assert again_days <= days
    assert len((await get_ok(client, "/v1/schedule-runs", admin))["items"]) == 1
    assert (await get_ok(client, "/v1/voices", admin, limit=200))["items"] == everywhere


async def test_a_tenant_not_marked_as_a_demo_is_refused(
    settings: Settings, jobs_redis: str, tmp_path: Path
) -> None:
    slug, manifest = demo_manifest(tmp_path, demo=False)
    applied = run(settings, jobs_redis, tmp_path, "tenants", "apply", str(manifest))
    assert applied.returncode == 0, applied.stderr

    refused = run(settings, jobs_redis, tmp_path, "tenants", "demo-activity", str(manifest))

    assert refused.returncode == 2
    assert f"tenant {slug!r} is not marked as a demo" in refused.stderr
    assert not ACTIVITY.search(refused.stdout)


def test_a_day_of_items_is_the_same_whenever_it_is_drawn() -> None:
    """Drawn just after the day (a late shift still running, long answers still to come) and again days
    later, every item that exists both times has the same receipt, and answers only ever appear."""
    contract = Contract(
        id=uuid.uuid4(),
        work_type="email_support",
        expected_monthly_volume=3000,
        coverage=[{"days": ["daily"], "start": "08:00", "end": "25:30", "headcount": 3}],
    )
    objectives = [
        Objective(metric=Metric.FIRST_RESPONSE, target_percent=90, threshold="8h"),
        Objective(metric=Metric.RESOLUTION, target_percent=85, threshold="24h"),
    ]
    day = date(2026, 11, 10)
    early = datetime(2026, 11, 11, 0, 30, tzinfo=TOKYO)

    first = {i.external_id: i for i in _day_of_items(contract, objectives, day, TOKYO, early)}
    later = {
        i.external_id: i for i in _day_of_items(contract, objectives, day, TOKYO, early + timedelta(days=5))
    }

    assert set(first) < set(later), "items received after midnight exist only once it has passed"
    assert any(i.first_response_at is None for i in first.values())
    assert all(i.first_response_at is not None for i in later.values())
    for external_id, item in first.items():
        again = later[external_id]
        assert (item.received_at, item.channel) == (again.received_at, again.channel)
        for name in ("first_response_at", "resolved_at", "outcome"):
            if getattr(item, name) is not None:
                assert getattr(item, name) == getattr(again, name), name


def test_support_items_are_rated_and_their_survey_answered_the_same_on_every_draw() -> None:
    """Support contracts (Rakuten's social replies, email, chat) get CSAT ratings on some resolved items
    and a few NPS answers a day, drawn alike every time; other work gets neither."""
    support = Contract(id=uuid.uuid4(), work_type="active_support", expected_monthly_volume=3000, coverage=[])
    patrol = Contract(id=uuid.uuid4(), work_type="patrol", expected_monthly_volume=3000, coverage=[])
    objectives = [Objective(metric=Metric.FIRST_RESPONSE, target_percent=90, threshold="1h")]
    day = date(2026, 11, 10)
    later = datetime(2026, 11, 20, tzinfo=TOKYO)

    items = _day_of_items(support, objectives, day, TOKYO, later)
    rated = [item.csat for item in items if item.csat is not None]
    assert 0.2 * len(items) < len(rated) < 0.5 * len(items)
    assert set(rated) <= {1, 2, 3, 4, 5}
    assert all(item.resolved_at is not None for item in items if item.csat is not None)
    assert [i.csat for i in _day_of_items(support, objectives, day, TOKYO, later)] == [i.csat for i in items]
    answers = _day_of_answers(support, day, TOKYO, later)
    assert 1 <= len(answers) <= 4
    assert answers == _day_of_answers(support, day, TOKYO, later)
    assert all(0 <= a.score <= 10 and a.responded_at.astimezone(TOKYO).date() == day for a in answers)
    assert all(i.csat is None for i in _day_of_items(patrol, objectives, day, TOKYO, later))
    assert _day_of_answers(patrol, day, TOKYO, later) == []


async def test_the_demo_roster_covers_what_its_contracts_ask_for(
    client: httpx.AsyncClient, settings: Settings, runtime: Runtime, jobs_redis: str, tmp_path: Path
) -> None:
    """The demo operator has the people its 24/365 contracts need: planned over the two weeks from today,
    the shifts cover at least 95% of the time the coverage lines ask for, so client viewers see real
    coverage and no invoice carries a credit for an empty roster."""
    slug, manifest = demo_manifest(tmp_path)
    applied = run(settings, jobs_redis, tmp_path, "tenants", "apply", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert activity(
        run(settings, jobs_redis, tmp_path, "tenants", "demo-activity", str(manifest), "--days", "1")
    )[3]
    admin = headers_for((await login(client, slug, f"admin@{slug}.example", PASSWORD))["access_token"])
    tenant_id = uuid.UUID((await get_ok(client, "/v1/whoami", admin))["tenant_id"])
    [queued] = (await get_ok(client, "/v1/schedule-runs", admin))["items"]
    async with runtime.db.tenant(tenant_id) as session:
        done = await schedule_runs.execute_run(session, system_scope(tenant_id), uuid.UUID(queued["id"]))
    assert done.status.value == "succeeded", done.error
    assert done.result["overall_coverage_percent"] >= 95, done.result["coverage"]
    assert all(c["coverage_percent"] >= 90 for c in done.result["coverage"]), done.result["coverage"]
    assert done.result["rejected_existing"] == []
