"""What `bpo dev` does after seeding the demo: last whole ISO week's report for every client with a weekly
report, with the seeded activity measured in it (before any worker has run), once per week."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis
import yaml

from bpo.core.runtime import Runtime
from bpo.onboarding.apply import apply_manifest
from bpo.onboarding.demo import add_activity, send_last_weekly_reports
from bpo.settings import Settings
from tests.support.factories import PASSWORD, get_ok, headers_for, login
from tests.support.manifests import load
from tests.support.paths import DEMO_MANIFEST
from tests.support.redis_databases import demo_jobs_database

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_settings(settings: Settings) -> Iterator[Settings]:
    """The suite's database, and a Redis database no worker takes jobs from (the demo's jobs stay there)."""
    assert settings.redis_url
    url = demo_jobs_database(settings.redis_url)
    yield settings.model_copy(update={"redis_url": url})
    redis.Redis.from_url(url).flushdb()


async def test_last_weeks_reports_are_made_with_the_seeded_numbers_once(
    client: httpx.AsyncClient, runtime: Runtime, demo_settings: Settings
) -> None:
    slug = f"dr-{uuid.uuid4().hex[:10]}"
    data: dict[str, Any] = yaml.safe_load(DEMO_MANIFEST.read_text(encoding="utf-8"))
    data["tenant"]["slug"] = slug
    await apply_manifest(runtime, load(data), demo_password=PASSWORD)
    await add_activity(demo_settings, slug, days=21)
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo")).date()
    sunday = today - timedelta(days=today.isoweekday())
    year, week, _ = sunday.isocalendar()

    first = await send_last_weekly_reports(demo_settings, slug)
    again = await send_last_weekly_reports(demo_settings, slug)

    assert first.period == f"{year}-W{week:02d}"
    assert (first.sent, first.failed) == (["EUREKA", "LANCERS", "RAKUTEN"], {})
    assert (again.sent, again.failed) == ([], {})
    admin = headers_for((await login(client, slug, "admin@demo.example"))["access_token"])
    listed = (await get_ok(client, "/v1/reports", admin, limit=50))["items"]
    assert sorted((r["client_code"], r["period"], r["language"]) for r in listed) == [
        (code, first.period, "ja") for code in ("EUREKA", "LANCERS", "RAKUTEN")
    ]
    for summary in listed:
        report = await get_ok(client, f"/v1/reports/{summary['id']}", admin)
        assert report["generations"] == 1
        # Measured here, not left to a worker that has not run yet.
        assert sum(section["received"] for section in report["contracts"]) > 0, report
        assert sum(section["previous_received"] for section in report["contracts"]) > 0, report
