"""One day of the demo operator's staff1 (Hana Suzuki), at phone width in Japanese: signing in, next week
on Tokyo's clock, claiming an open shift, clocking in; the supervisor approving the claim; the mail that
tells her so in the dev mailbox; and the client's viewer reading planned against actual coverage of the
contract. Each step is checked against the API; screenshots go to tests/artifacts/journey-staff-day-*."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bpo.core.i18n import format_percentage
from bpo.core.mailbox import LocalMailServer
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.settings import Settings
from bpo.staffing import schedule_runs
from tests.notifications.test_staff_notices import deliver, mails, sweep
from tests.support.chromium import Chromium, Page, chromium_binary
from tests.support.dashboard import sign_in_on_page
from tests.support.factories import PASSWORD, TenantHandle, get_ok, headers_for, login, post_ok
from tests.support.mail import kept
from tests.support.mail import mail_server as mail_server
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread
from tests.tenancy.test_demo_activity import activity, demo_manifest, run
from tests.tenancy.test_demo_activity import jobs_redis as jobs_redis

pytestmark = pytest.mark.slow

TOKYO = ZoneInfo("Asia/Tokyo")
PHONE = 390


async def look(tab: Page, name: str) -> None:
    """A full-page screenshot of what the person sees now, which must not scroll sideways."""
    width = await tab.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE, f"{name} scrolls sideways at {PHONE} px: {width}"
    await tab.screenshot(ARTIFACTS / f"journey-staff-day-{name}.png")
    assert tab.console_errors() == []


async def tap(tab: Page, selector: str) -> None:
    """Press a button as a person does and wait for the page it leads to."""
    loaded = tab.browser.expect("Page.loadEventFired", tab.session)
    await tab.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
    await asyncio.wait_for(loaded, timeout=30)


async def text_on(tab: Page, selector: str = "body") -> str:
    text = await tab.evaluate(f"document.querySelector({json.dumps(selector)}).innerText")
    assert isinstance(text, str), selector
    return text


async def phone(chromium: Chromium) -> Page:
    tab = await chromium.page()
    await tab.set_viewport(PHONE, 844, mobile=True)
    return tab


async def signed_in(client: httpx.AsyncClient, slug: str, who: str) -> dict[str, str]:
    return headers_for((await login(client, slug, f"{who}@{slug}.example", PASSWORD))["access_token"])


async def assign_clearing_clashes(
    client: httpx.AsyncClient, supervisor: dict[str, str], shift_id: str, staff_id: str
) -> None:
    """Put the person on the shift, first taking them off the rostered shifts it clashes with (the demo's
    roster may have them at work right now)."""
    for _ in range(5):
        response = await client.post(
            f"/v1/shifts/{shift_id}/assignments", json={"staff_id": staff_id}, headers=supervisor
        )
        if response.status_code == 201:
            return
        assert response.status_code == 409, response.text
        clashes = {v["conflicting_shift_id"] for v in response.json()["violations"]} - {None}
        assert clashes, response.text
        for clash in clashes:
            on_it = await get_ok(client, "/v1/assignments", supervisor, shift_id=clash, staff_id=staff_id)
            for assignment in on_it["items"]:
                removed = await client.delete(f"/v1/assignments/{assignment['id']}", headers=supervisor)
                assert removed.status_code == 204, removed.text
    raise AssertionError(f"could not put {staff_id} on {shift_id}")


async def test_staff1s_day_from_signing_in_to_the_clients_coverage(
    client: httpx.AsyncClient,
    runtime: Runtime,
    settings: Settings,
    server: ServerThread,
    jobs_redis: str,
    mail_server: LocalMailServer,
    tmp_path: Path,
) -> None:
    binary = chromium_binary()

    # 1. The demo operator under a slug of its own, with its activity, and the queued schedule run done
    # as the worker would do it (it rosters the days from today).
    slug, manifest = demo_manifest(tmp_path)
    applied = run(settings, jobs_redis, tmp_path, "tenants", "apply", str(manifest))
    assert applied.returncode == 0, applied.stderr
    activity(run(settings, jobs_redis, tmp_path, "tenants", "demo-activity", str(manifest), "--days", "1"))
    admin = await signed_in(client, slug, "admin")
    tenant_id = uuid.UUID((await get_ok(client, "/v1/whoami", admin))["tenant_id"])
    tenant = TenantHandle(tenant_id, slug, f"admin@{slug}.example", admin)
    [queued] = (await get_ok(client, "/v1/schedule-runs", admin))["items"]
    async with runtime.db.tenant(tenant_id) as session:
        done = await schedule_runs.execute_run(session, system_scope(tenant_id), uuid.UUID(queued["id"]))
    assert done.status.value == "succeeded", done.error
    staff1 = await signed_in(client, slug, "staff1")
    supervisor = await signed_in(client, slug, "supervisor")
    staff1_email = f"staff1@{slug}.example"

    today = datetime.now(TOKYO).date()
    next_monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
    week = {"from": next_monday.isoformat(), "to": (next_monday + timedelta(days=6)).isoformat()}
    next_week = await get_ok(client, "/v1/me/shifts", staff1, tz="UTC", **week)
    assert next_week["items"], "staff1 has no shifts next week"
    staff_id = next_week["staff_id"]

    async with Chromium(binary) as chromium:
        tab = await phone(chromium)

        # 2. staff1 signs in and reads next week on Tokyo's clock.
        await sign_in_on_page(tab, server.url, slug, staff1_email)
        assert await tab.evaluate("location.pathname") == "/dashboard/me/shifts"
        assert await tab.evaluate("document.documentElement.lang") == "ja"
        await tab.goto(f"{server.url}/dashboard/me/shifts?week={next_monday.isoformat()}")
        assert "マイシフト" in await text_on(tab)
        for item in next_week["items"]:
            start = datetime.fromisoformat(item["start"]).astimezone(TOKYO)
            end = datetime.fromisoformat(item["end"]).astimezone(TOKYO)
            shown = await text_on(tab, f'li[data-shift-id="{item["shift_id"]}"] .when')
            assert shown.startswith(f"{start:%H:%M}\N{EN DASH}{end:%H:%M}"), (shown, item)
        await look(tab, "1-next-week")

        # 3. She claims an open shift with the page's button; it waits for a supervisor.
        offered = (await get_ok(client, "/v1/me/open-shifts", staff1))["items"]
        assert offered, "no open shift for staff1"
        wanted = offered[0]
        assert wanted["approval"] == "supervisor"
        await tab.goto(f"{server.url}/dashboard/me/open-shifts")
        await look(tab, "2-open-shifts")
        await tap(tab, f'li[data-open-shift-id="{wanted["shift_id"]}"] .claim-form button')
        assert await tab.evaluate("location.pathname + location.search") == (
            "/dashboard/me/open-shifts?done=claim-sent"
        )
        after = await text_on(tab)
        assert "応募しました" in after
        assert "スーパーバイザーの承認待ち" in after
        await look(tab, "3-claimed")
        [claim] = (await get_ok(client, "/v1/open-shift-claims", staff1))["items"]
        assert (claim["shift_id"], claim["status"]) == (wanted["shift_id"], "pending")
        still = {o["shift_id"]: o for o in (await get_ok(client, "/v1/me/open-shifts", staff1))["items"]}
        assert still[wanted["shift_id"]]["pending_claim_id"] == claim["id"]

        # 4. The supervisor puts her on a shift starting in twenty minutes; she clocks in from My shifts.
        start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=20)
        body = {
            "contract_id": wanted["contract_id"],
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
        }
        shift = await post_ok(client, "/v1/shifts", body, supervisor)
        published = await client.patch(
            f"/v1/shifts/{shift['id']}", json={"status": "published"}, headers=supervisor
        )
        assert published.status_code == 200, published.text
        await assign_clearing_clashes(client, supervisor, shift["id"], staff_id)
        await tab.goto(f"{server.url}/dashboard/me/shifts")
        await tap(tab, f'li[data-clock-shift-id="{shift["id"]}"] .clock-form button')
        [record] = [
            r
            for r in (await get_ok(client, "/v1/me/attendance", staff1))["items"]
            if r["shift_id"] == shift["id"]
        ]
        assert (record["clock_in_source"], record["clock_out"]) == ("staff", None)
        clocked_in = datetime.fromisoformat(record["clock_in"]).astimezone(TOKYO)
        now_card = await text_on(tab, f'li[data-clock-shift-id="{shift["id"]}"]')
        assert "出勤を打刻しました" in await text_on(tab)
        assert f"出勤 {clocked_in:%H:%M}" in now_card
        await look(tab, "4-clocked-in")
        report = await get_ok(
            client,
            "/v1/attendance",
            supervisor,
            contract=wanted["contract_id"],
            staff_id=staff_id,
            **{"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()},
        )
        [row] = [r for r in report["shifts"] if r["shift_id"] == shift["id"]]
        assert (row["clock_in"], row["clock_in_source"]) == (record["clock_in"], "staff")

        # What the scheduler's sweep sends meanwhile (the claim waiting, the shifts the run gave her).
        assert (await sweep(runtime, settings, tenant)).failed == []
        told_before = len(await mails(runtime, tenant, staff1_email))

        # 5. The supervisor, on a phone of their own, opens the approvals and approves the claim there.
        async with Chromium(binary) as elsewhere:
            desk = await phone(elsewhere)
            await sign_in_on_page(desk, server.url, slug, f"supervisor@{slug}.example")
            await desk.goto(f"{server.url}/dashboard/approvals")
            assert "決定待ち" in await text_on(desk, "h1")
            waiting = await text_on(desk, f'li[data-claim-id="{claim["id"]}"]')
            assert "さんがこのシフトに入りたいと応募しています" in waiting
            await look(desk, "5-approvals")
            await tap(desk, f'form[action="/dashboard/approvals/claims/{claim["id"]}/approve"] button')
            assert await desk.evaluate("location.pathname + location.search") == (
                "/dashboard/approvals?done=claim-approved"
            )
            assert "応募を承認しました" in await text_on(desk)
            await look(desk, "5-approved")
        decided = await get_ok(client, f"/v1/open-shift-claims/{claim['id']}", supervisor)
        assert decided["status"] == "approved"
        claimed_at = datetime.fromisoformat(wanted["start"]).astimezone(TOKYO)
        claimed_monday = claimed_at.date() - timedelta(days=claimed_at.weekday())
        await tab.goto(f"{server.url}/dashboard/me/shifts?week={claimed_monday.isoformat()}")
        mine = await text_on(tab, f'li[data-shift-id="{wanted["shift_id"]}"]')
        assert mine.startswith(f"{claimed_at:%H:%M}\N{EN DASH}"), mine
        await look(tab, "6-claimed-shift-is-mine")

    # 6. The sweep, as the scheduler runs it past the quiet minute: one mail to her, in Japanese, on
    # Tokyo's clock, delivered to the dev mailbox.
    assert (await sweep(runtime, settings, tenant)).failed == []
    [message] = (await mails(runtime, tenant, staff1_email))[told_before:]
    await deliver(runtime, tenant, message, mail_server)
    [received] = [m for m in kept(mail_server) if m["To"] == staff1_email]
    subject = str(received["Subject"])
    assert subject.startswith("応募が承認され、シフトはあなたの担当になりました\N{FULLWIDTH COLON}"), subject
    assert f"{claimed_at:%H:%M}" in subject, subject
    assert wanted["contract_name"] in subject
    text = received.get_body(preferencelist=("plain",))
    assert text is not None
    assert "/dashboard/me/shifts" in text.get_content()

    # 7. The client's viewer reads the contract's planned and actual coverage at phone width.
    contract = await get_ok(client, f"/v1/contracts/{wanted['contract_id']}", admin)
    customer = await get_ok(client, f"/v1/clients/{contract['client_id']}", admin)
    viewer_email = f"viewer-{customer['code'].lower()}@{slug}.example"
    viewer = headers_for((await login(client, slug, viewer_email, PASSWORD))["access_token"])
    async with Chromium(binary) as chromium:
        tab = await phone(chromium)
        await sign_in_on_page(tab, server.url, slug, viewer_email)
        assert await tab.evaluate("location.pathname") == f"/dashboard/clients/{customer['id']}"
        card = json.dumps(f'[data-contract-id="{wanted["contract_id"]}"] [data-coverage]')
        figures: dict[str, Any] = await tab.evaluate(
            f"""(() => {{
              const card = document.querySelector({card});
              const figure = name => {{
                const node = card.querySelector('data.' + name);
                return {{value: node.value, text: node.textContent.trim()}};
              }};
              const period = document.querySelector('.period');
              return {{
                start: period.dataset.start, end: period.dataset.end,
                basis: card.querySelector('[data-basis]').dataset.basis,
                planned: figure('planned-attainment'), actual: figure('actual-attainment'),
              }};
            }})()"""
        )
        await look(tab, "7-client-coverage")
    sla = await get_ok(
        client,
        f"/v1/contracts/{wanted['contract_id']}/sla",
        viewer,
        start=figures["start"],
        end=figures["end"],
    )
    coverage = sla["coverage"]
    assert coverage["planned_attainment"] is not None
    assert coverage["actual_attainment"] is not None
    assert figures["basis"] == coverage["basis"] == "actual"
    # Time clocked in counts up to the moment it is measured: the page and the API, read a moment apart,
    # may differ in the last places.
    for figure in ("planned", "actual"):
        value = float(figures[figure]["value"])
        assert value == pytest.approx(coverage[f"{figure}_attainment"], abs=0.05)
        assert figures[figure]["text"] == format_percentage(value, "ja")
