"""The demo operator's attendance (`bpo tenants demo-activity`, as `bpo dev` loads it): punches on the
shifts that have ended, a few people late, exactly one absence, an open shift staff1 can claim, and a
second load that adds nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis

from bpo.settings import Settings
from tests.support.factories import PASSWORD, get_ok, headers_for, login
from tests.support.redis_databases import demo_jobs_database
from tests.tenancy.test_demo_activity import activity, demo_manifest, run

pytestmark = pytest.mark.slow

PUNCHES = re.compile(r"(\d+) new attendance punches")


@pytest.fixture
def jobs_redis(settings: Settings) -> Iterator[str]:
    assert settings.redis_url
    url = demo_jobs_database(settings.redis_url)
    yield url
    redis.Redis.from_url(url).flushdb()


async def test_the_demo_has_attendance_and_an_open_shift_for_staff1(
    client: httpx.AsyncClient, settings: Settings, jobs_redis: str, tmp_path: Path
) -> None:
    slug, manifest = demo_manifest(tmp_path)
    assert run(settings, jobs_redis, tmp_path, "tenants", "apply", str(manifest)).returncode == 0
    first = run(settings, jobs_redis, tmp_path, "tenants", "demo-activity", str(manifest), "--days", "1")
    activity(first)
    found = PUNCHES.search(first.stdout)
    assert found, first.stdout
    assert int(found[1]) > 50

    admin = headers_for((await login(client, slug, f"admin@{slug}.example", PASSWORD))["access_token"])
    contracts = (await get_ok(client, "/v1/contracts", admin, limit=200))["items"]
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    period = {"from": (today - timedelta(days=14)).isoformat(), "to": today.isoformat()}
    rows = []
    for contract in contracts:
        report = await get_ok(client, "/v1/attendance", admin, contract=contract["id"], **period)
        rows += report["shifts"]
    ended = [row for row in rows if row["status"] not in ("upcoming", "not_clocked_in", "working")]
    assert len(ended) > 50
    assert [row["status"] for row in ended].count("absent") == 1
    late = [row for row in ended if row["late_minutes"]]
    assert 1 <= len(late) <= len(ended) // 5
    assert any(row["overtime_minutes"] for row in ended)
    assert all(row["clock_in_source"] in (None, "import") for row in rows)

    staff1 = headers_for((await login(client, slug, f"staff1@{slug}.example", PASSWORD))["access_token"])
    offered = await get_ok(client, "/v1/me/open-shifts", staff1)
    assert offered["items"], offered
    # staff1's claim waits for a supervisor (the demo's chat team, whose claims go through at once, is not
    # theirs to claim).
    assert {item["approval"] for item in offered["items"]} == {"supervisor"}

    again = run(settings, jobs_redis, tmp_path, "tenants", "demo-activity", str(manifest), "--days", "1")
    activity(again)
    found = PUNCHES.search(again.stdout)
    assert found, again.stdout
    # Only shifts that ended between the two loads (seconds apart: rarely any).
    assert int(found[1]) <= 4
    assert len((await get_ok(client, "/v1/me/open-shifts", staff1))["items"]) == len(offered["items"])
