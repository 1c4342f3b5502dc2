"""Scheduled client reports through their public surface: subscriptions by API (bad input, isolation),
a report made for a week whose figures are the SLA API's own, in HTML, PDF and CSV; the schedule making
each client's report once per period; and the mail, in Japanese with its PDF, arriving once per recipient
through the local SMTP server and a real worker however often the report is made again."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time as time_module
import uuid
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpo.core.jobs import outbox
from bpo.core.jobs.failures import Failures
from bpo.core.jobs.registry import DEFAULT_QUEUE, MAIL_QUEUE
from bpo.core.mailbox import LocalMailServer
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery import webhooks
from bpo.reports import service
from bpo.reports.periods import ReportPeriod, latest_due, parse_period
from bpo.settings import Settings
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import sign_in, sign_in_on_page
from tests.support.factories import TenantHandle, create_client, create_tenant, create_user, post_ok
from tests.support.jobs import eventually
from tests.support.mail import kept
from tests.support.mail import mail_server as mail_server
from tests.support.paths import ARTIFACTS
from tests.support.pdf import first_page_png, pdf_text, require_pdf
from tests.support.problems import assert_problem, error_fields
from tests.support.processes import BPO, Worker, command_env
from tests.support.receiver import Receiver
from tests.support.server import ServerThread
from tests.support.sla import ONE_HOUR_CALENDAR, ingest, rebuild, sla_contract

JST = ZoneInfo("Asia/Tokyo")
WEEK = parse_period("2026-W47")  # Monday 16 to Sunday 22 November 2026
DEADLINE_S = 90.0


def week_items() -> list[dict[str, Any]]:
    """Ten items a day of the week: seven answered within the hour, three after two hours."""
    items = []
    for offset in range(7):
        day = WEEK.start + timedelta(days=offset)
        for n in range(10):
            received = datetime.combine(day, time(9 + n), JST)
            late = n >= 7
            items.append(
                {
                    "external_id": f"w{offset}-{n}",
                    "received_at": received.isoformat(),
                    "first_response_at": (
                        received + timedelta(hours=2 if late else 0, minutes=20)
                    ).isoformat(),
                    "resolved_at": (received + timedelta(hours=3)).isoformat(),
                    "channel": "email",
                }
            )
    return items


class Setup:
    def __init__(
        self,
        tenant: TenantHandle,
        customer: dict[str, Any],
        contract: dict[str, Any],
        viewer_email: str,
        viewer: dict[str, str],
    ) -> None:
        self.tenant = tenant
        self.customer = customer
        self.contract = contract
        self.viewer_email = viewer_email
        self.viewer = viewer


async def measured_client(client: httpx.AsyncClient, runtime: Runtime) -> Setup:
    tenant = await create_tenant(client)
    customer = await create_client(client, tenant, time_zone="Asia/Tokyo", name="楽天レシピ")
    made = await sla_contract(
        client,
        tenant,
        objectives=ONE_HOUR_CALENDAR,
        customer=customer,
        code="RR",
        name="レシピ投稿パトロール",
    )
    contract = made["contract"]
    await ingest(client, tenant.admin, contract["id"], week_items())
    await rebuild(runtime, tenant, contract["id"], datetime(2026, 12, 1, tzinfo=UTC))
    user, viewer = await create_user(client, tenant, role="client_viewer", client_id=customer["id"])
    return Setup(tenant, customer, contract, user["email"], viewer)


async def subscribe(client: httpx.AsyncClient, setup: Setup, **fields: Any) -> dict[str, Any]:
    body = {
        "cadence": "weekly",
        "weekday": 1,
        "send_at": "09:00",
        "language": "ja",
        "extra_recipients": ["manager@recipe.example"],
        **fields,
    }
    made: dict[str, Any] = await post_ok(
        client, f"/v1/clients/{setup.customer['id']}/report-subscriptions", body, setup.tenant.admin
    )
    return made


async def sla_of_week(client: httpx.AsyncClient, setup: Setup) -> dict[str, Any]:
    response = await client.get(
        f"/v1/contracts/{setup.contract['id']}/sla",
        params={"start": WEEK.start.isoformat(), "end": WEEK.end.isoformat()},
        headers=setup.tenant.admin,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def make(client: httpx.AsyncClient, setup: Setup, period: str = WEEK.label, send: bool = True) -> Any:
    response = await client.post(
        "/v1/reports",
        json={"client_id": setup.customer["id"], "period": period, "send": send},
        headers=setup.tenant.admin,
    )
    assert response.status_code == 201, response.text
    return response.json()


# --- periods ------------------------------------------------------------------------------------


class TestPeriods:
    def test_weeks_and_months_by_name(self) -> None:
        assert (WEEK.start.isoformat(), WEEK.end.isoformat()) == ("2026-11-16", "2026-11-22")
        november = parse_period("2026-11")
        assert (november.start.isoformat(), november.end.isoformat()) == ("2026-11-01", "2026-11-30")
        assert november.previous().label == "2026-10"
        assert parse_period("2027-W01").start.isoformat() == "2027-01-04"

    @given(
        now=st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
        ),
        weekday=st.integers(1, 7),
        at=st.times(),
        zone=st.sampled_from(["Asia/Tokyo", "Europe/London", "America/Argentina/Buenos_Aires", "UTC"]),
    )
    def test_a_weekly_report_is_due_within_a_week_and_covers_the_week_before(
        self, now: datetime, weekday: int, at: time, zone: str
    ) -> None:
        due, period = latest_due("weekly", weekday, None, at, ZoneInfo(zone), now)
        assert due <= now < due + timedelta(days=7, hours=2)
        local = due.astimezone(ZoneInfo(zone)).date()
        assert local.isoweekday() == weekday
        assert period.end < local <= period.end + timedelta(days=7)
        assert period == ReportPeriod.week_of(period.start)

    @given(
        now=st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
        ),
        day=st.integers(1, 28),
        at=st.times(),
    )
    def test_a_monthly_report_covers_the_month_before_its_day(
        self, now: datetime, day: int, at: time
    ) -> None:
        due, period = latest_due("monthly", None, day, at, JST, now)
        assert due <= now < due + timedelta(days=32)
        local = due.astimezone(JST).date()
        assert local.day == day
        assert period.end == local.replace(day=1) - timedelta(days=1)


# --- subscriptions ------------------------------------------------------------------------------


class TestSubscriptions:
    async def test_create_read_change_and_end(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        setup = await measured_client(client, runtime)
        made = await subscribe(client, setup)
        assert (made["cadence"], made["weekday"], made["send_at"], made["time_zone"]) == (
            "weekly",
            1,
            "09:00",
            "Asia/Tokyo",
        )
        assert made["next_run_at"] is not None
        assert datetime.fromisoformat(made["next_run_at"]).astimezone(JST).isoweekday() == 1
        h = setup.tenant.admin
        listed = (
            await client.get(f"/v1/clients/{setup.customer['id']}/report-subscriptions", headers=h)
        ).json()
        assert [s["id"] for s in listed] == [made["id"]]
        changed = await client.patch(
            f"/v1/report-subscriptions/{made['id']}", json={"weekday": 5, "active": False}, headers=h
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["weekday"], changed.json()["next_run_at"]) == (5, None)
        monthly = await subscribe(client, setup, cadence="monthly", weekday=None, day_of_month=3)
        assert monthly["day_of_month"] == 3
        second = await client.post(
            f"/v1/clients/{setup.customer['id']}/report-subscriptions",
            json={"cadence": "weekly", "weekday": 2, "send_at": "10:00"},
            headers=h,
        )
        assert_problem(second, 409)
        gone = await client.delete(f"/v1/report-subscriptions/{made['id']}", headers=h)
        assert gone.status_code == 204
        assert (await client.get(f"/v1/report-subscriptions/{made['id']}", headers=h)).status_code == 404

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"weekday": None}, "weekday"),
            ({"day_of_month": 3}, "day_of_month"),
            ({"weekday": 8}, "weekday"),
            ({"time_zone": "Mars/Olympus"}, "time_zone"),
            ({"language": "fr"}, "language"),
            ({"extra_recipients": ["not-an-address"]}, "extra_recipients[0]"),
            ({"send_at": "25:00"}, "send_at"),
            ({"cadence": "daily"}, "cadence"),
            ({"contract_ids": [str(uuid.uuid4())]}, "contract_ids[0]"),
        ],
    )
    async def test_bad_input_names_the_field_and_writes_nothing(
        self, client: httpx.AsyncClient, runtime: Runtime, fields: dict[str, Any], field: str
    ) -> None:
        tenant = await create_tenant(client)
        customer = await create_client(client, tenant)
        body = {"cadence": "weekly", "weekday": 1, "send_at": "09:00", **fields}
        path = f"/v1/clients/{customer['id']}/report-subscriptions"
        response = await client.post(path, json=body, headers=tenant.admin)
        assert_problem(response, 422)
        assert field in error_fields(response.json()), response.text
        assert (await client.get(path, headers=tenant.admin)).json() == []

    async def test_another_clients_contract_is_refused(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await measured_client(client, runtime)
        other = await sla_contract(client, setup.tenant, objectives=ONE_HOUR_CALENDAR)
        response = await client.post(
            f"/v1/clients/{setup.customer['id']}/report-subscriptions",
            json={
                "cadence": "weekly",
                "weekday": 1,
                "send_at": "09:00",
                "contract_ids": [other["contract"]["id"]],
            },
            headers=setup.tenant.admin,
        )
        assert_problem(response, 422)
        assert error_fields(response.json()) == ["contract_ids[0]"]

    async def test_only_the_operator_manages_them(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        setup = await measured_client(client, runtime)
        made = await subscribe(client, setup)
        stranger = await create_tenant(client)
        for headers, status in ((setup.viewer, 403), (stranger.admin, 404)):
            path = f"/v1/report-subscriptions/{made['id']}"
            assert (await client.get(path, headers=headers)).status_code == status
            assert (await client.patch(path, json={"weekday": 2}, headers=headers)).status_code == status
            assert (await client.delete(path, headers=headers)).status_code == status
            listing = f"/v1/clients/{setup.customer['id']}/report-subscriptions"
            assert (await client.get(listing, headers=headers)).status_code == status
        stranger_client = await create_client(client, stranger)
        foreign = await client.get(
            f"/v1/clients/{stranger_client['id']}/report-subscriptions", headers=setup.tenant.admin
        )
        assert foreign.status_code == 404
        still = await client.get(f"/v1/report-subscriptions/{made['id']}", headers=setup.tenant.admin)
        assert still.json()["weekday"] == 1


# --- reports ------------------------------------------------------------------------------------


class TestReports:
    async def test_the_weeks_figures_are_the_sla_apis(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await measured_client(client, runtime)
        await subscribe(client, setup)
        report = await make(client, setup, send=False)
        sla = await sla_of_week(client, setup)
        assert (report["period"], report["start"], report["end"]) == ("2026-W47", "2026-11-16", "2026-11-22")
        assert report["language"] == "ja"
        [section] = report["contracts"]
        assert section["name"] == "レシピ投稿パトロール"
        assert section["received"] == sla["volumes"]["received"] == 70
        [line] = section["objectives"]
        [objective] = sla["objectives"]
        assert (line["attainment"], line["met"], line["breached"]) == (
            objective["attainment"],
            objective["met"],
            objective["breached"],
        )
        assert line["attainment"] == pytest.approx(70.0)
        assert [d["received"] for d in section["days"]] == [10] * 7

        h = setup.tenant.admin
        page = await client.get(f"/v1/reports/{report['id']}/html", headers=h)
        assert page.status_code == 200
        assert "週次レポート" in page.text
        assert "70.0%" in page.text
        assert "楽天レシピ" in page.text
        table = await client.get(f"/v1/reports/{report['id']}/csv", headers=h)
        rows = list(csv.DictReader(io.StringIO(table.text)))
        assert [(r["contract_code"], r["attainment_percent"], r["received"]) for r in rows] == [
            (setup.contract["code"], "70.00", "70")
        ]
        listed = (await client.get("/v1/reports", headers=setup.viewer)).json()
        assert [r["id"] for r in listed["items"]] == [report["id"]]

    async def test_the_pdf_says_what_the_api_says(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        require_pdf()
        setup = await measured_client(client, runtime)
        report = await make(client, setup, send=False)
        response = await client.get(f"/v1/reports/{report['id']}/pdf", headers=setup.viewer)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        text = pdf_text(response.content)
        assert "楽天レシピ" in text, text[:500]
        assert "70.0%" in text, text[:500]
        first_page_png(response.content, "report-weekly-ja")

    async def test_made_again_in_place(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        setup = await measured_client(client, runtime)
        first = await make(client, setup, send=False)
        await ingest(
            client,
            setup.tenant.admin,
            setup.contract["id"],
            [
                {
                    "external_id": "extra",
                    "received_at": datetime.combine(WEEK.start, time(23), JST).isoformat(),
                }
            ],
        )
        await rebuild(runtime, setup.tenant, setup.contract["id"], datetime(2026, 12, 1, tzinfo=UTC))
        again = await make(client, setup, send=False)
        assert again["id"] == first["id"]
        assert (again["generations"], again["contracts"][0]["received"]) == (2, 71)
        listed = (await client.get("/v1/reports", headers=setup.tenant.admin)).json()
        assert len(listed["items"]) == 1

    @pytest.mark.parametrize(
        ("period", "field"),
        [("2026-13", "period"), ("2026-W54", "period"), ("2999-01", "period"), ("nope", "period")],
    )
    async def test_bad_periods(
        self, client: httpx.AsyncClient, runtime: Runtime, period: str, field: str
    ) -> None:
        tenant = await create_tenant(client)
        customer = await create_client(client, tenant)
        response = await client.post(
            "/v1/reports", json={"client_id": customer["id"], "period": period}, headers=tenant.admin
        )
        assert_problem(response, 422)
        assert error_fields(response.json()) == [field]
        assert (await client.get("/v1/reports", headers=tenant.admin)).json()["items"] == []

    async def test_a_viewer_sees_only_their_clients_reports(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await measured_client(client, runtime)
        report = await make(client, setup, send=False)
        other_client = await create_client(client, setup.tenant)
        _, other_viewer = await create_user(
            client, setup.tenant, role="client_viewer", client_id=other_client["id"]
        )
        stranger = await create_tenant(client)
        for headers in (other_viewer, stranger.admin):
            for suffix in ("", "/html", "/pdf", "/csv"):
                response = await client.get(f"/v1/reports/{report['id']}{suffix}", headers=headers)
                assert response.status_code == 404, (suffix, response.text)
            assert (await client.get("/v1/reports", headers=headers)).json()["items"] == []
        named = await client.get(
            "/v1/reports", params={"client_id": setup.customer["id"]}, headers=other_viewer
        )
        assert named.status_code == 404
        viewer_run = await client.post(
            "/v1/reports",
            json={"client_id": setup.customer["id"], "period": WEEK.label},
            headers=setup.viewer,
        )
        assert viewer_run.status_code == 403


# --- the schedule and the mail -----------------------------------------------------------------


async def run_schedule(runtime: Runtime, tenant: TenantHandle, now: datetime) -> int:
    """What the ``reports.run_due`` job does, at an explicit instant."""
    async with runtime.db.tenant(tenant.id) as session:
        outbox.relay_on_commit(session, runtime.relay)
        return await service.run_due(session, system_scope(tenant.id), now, Failures())


@pytest.mark.slow
class TestScheduledMail:
    async def test_the_weekly_report_arrives_once_in_japanese_with_its_pdf(
        self,
        client: httpx.AsyncClient,
        runtime: Runtime,
        worker_env: dict[str, str],
        mail_server: LocalMailServer,
        tmp_path: Path,
    ) -> None:
        require_pdf()
        setup = await measured_client(client, runtime)
        subscription = await subscribe(client, setup)
        # The subscription exists from now on: its first report is the one due next Monday, 09:00 Tokyo.
        due = datetime.fromisoformat(subscription["next_run_at"])
        assert due.astimezone(JST).isoweekday() == 1
        assert await run_schedule(runtime, setup.tenant, due - timedelta(minutes=1)) == 0

        env = {**worker_env, "BPO_SMTP_URL": mail_server.url, "BPO_MAIL_FROM": "Ops <ops@bpo.test>"}
        worker = Worker(env, tmp_path / "worker.log", args=("--queue", MAIL_QUEUE, "--queue", DEFAULT_QUEUE))
        try:
            assert await run_schedule(runtime, setup.tenant, due + timedelta(minutes=5)) == 1
            # Due again a quarter of an hour later: nothing more is made.
            assert await run_schedule(runtime, setup.tenant, due + timedelta(minutes=20)) == 0
            listed = (await client.get("/v1/reports", headers=setup.tenant.admin)).json()["items"]
            [report] = listed
            period = report["period"]
            expected = ReportPeriod.week_of(due.astimezone(JST).date() - timedelta(days=7))
            assert (period, report["start"]) == (expected.label, expected.start.isoformat())

            def mine() -> list[EmailMessage]:
                return [m for m in kept(mail_server) if m["X-BPO-Tenant"] == str(setup.tenant.id)]

            async def both_arrived() -> bool:
                return len(mine()) >= 2

            await eventually("the report mail to arrive", both_arrived, within=DEADLINE_S)
            # A back-fill, then the same again (a correction): still one mail per recipient.
            await make(client, setup, period=WEEK.label)
            again = await make(client, setup, period=WEEK.label)
            assert again["generations"] == 2

            async def week47_arrived() -> bool:
                return len(mine()) >= 4

            await eventually("the back-filled report's mail", week47_arrived, within=DEADLINE_S)
            await _settled(client, setup)
        finally:
            worker.kill()
        received = mine()
        assert sorted(m["To"] for m in received) == sorted(
            [setup.viewer_email, "manager@recipe.example", setup.viewer_email, "manager@recipe.example"]
        )
        week47 = [m for m in received if "11月16日" in str(m["Subject"])]
        assert len(week47) == 2, [str(m["Subject"]) for m in received]
        message = week47[0]
        assert "週次レポート" in str(message["Subject"])
        assert "楽天レシピ" in str(message["Subject"])
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        assert "70.0%" in body.get_content()
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        pdf = attachment.get_payload(decode=True)
        assert isinstance(pdf, bytes)
        sla = await sla_of_week(client, setup)
        assert f"{sla['objectives'][0]['attainment']:.1f}%" in pdf_text(pdf)


async def _settled(client: httpx.AsyncClient, setup: Setup) -> None:
    """Every report mail logged as sent, and exactly one per report and recipient."""

    async def logged() -> list[dict[str, Any]]:
        response = await client.get(
            "/v1/messages", params={"kind": "report", "limit": 100}, headers=setup.tenant.admin
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def all_sent() -> bool:
        return {m["status"] for m in await logged()} == {"sent"}

    await eventually("every report mail to be logged as sent", all_sent, within=DEADLINE_S)
    assert len(await logged()) == 4


# --- in the browser -----------------------------------------------------------------------------


class TestInTheDashboard:
    async def test_a_viewer_reads_their_archive_and_nobody_elses(
        self, client: httpx.AsyncClient, runtime: Runtime, server: ServerThread
    ) -> None:
        setup = await measured_client(client, runtime)
        report = await make(client, setup, send=False)
        async with httpx.AsyncClient(base_url=server.url) as browser:
            signed_in = await sign_in(browser, setup.tenant.slug, setup.viewer_email)
            assert signed_in.status_code == 303
            archive = await browser.get("/dashboard/reports")
            assert archive.status_code == 200
            assert f"/dashboard/reports/{report['id']}" in archive.text
            assert "週次レポート" in archive.text
            document = await browser.get(f"/dashboard/reports/{report['id']}")
            assert document.status_code == 200
            assert "70.0%" in document.text
            assert '/dashboard/reports"' in document.text  # the way back to the archive

        other_client = await create_client(client, setup.tenant)
        other, _ = await create_user(client, setup.tenant, role="client_viewer", client_id=other_client["id"])
        async with httpx.AsyncClient(base_url=server.url) as browser:
            await sign_in(browser, setup.tenant.slug, other["email"])
            archive = await browser.get("/dashboard/reports")
            assert archive.status_code == 200
            assert report["id"] not in archive.text
            for path in (f"/dashboard/reports/{report['id']}", f"/dashboard/reports/{report['id']}.pdf"):
                assert (await browser.get(path)).status_code == 404
            assert (await browser.get("/dashboard/reports/not-an-id")).status_code == 404

    @pytest.mark.slow
    async def test_the_report_page_on_a_phone(
        self, client: httpx.AsyncClient, runtime: Runtime, server: ServerThread
    ) -> None:
        setup = await measured_client(client, runtime)
        report = await make(client, setup, send=False)
        async with Chromium(chromium_binary()) as chromium:
            page = await chromium.page()
            await page.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(page, server.url, setup.tenant.slug, setup.viewer_email)
            await page.goto(f"{server.url}/dashboard/reports/{report['id']}")
            assert await page.evaluate("document.documentElement.lang") == "ja"
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the report page is {overflow}px wider than a phone"
            await page.screenshot(ARTIFACTS / "report-phone-ja.png")
            await page.goto(f"{server.url}/dashboard/reports")
            await page.screenshot(ARTIFACTS / "reports-archive-phone-ja.png")

            # A client that reads English gets its next report in English.
            await client.patch(
                f"/v1/clients/{setup.customer['id']}", json={"language": "en"}, headers=setup.tenant.admin
            )
            english = await make(client, setup, period="2026-W46", send=False)
            await page.goto(f"{server.url}/dashboard/reports/{english['id']}")
            assert await page.evaluate("document.documentElement.lang") == "en"
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the English report page is {overflow}px wider than a phone"
            await page.screenshot(ARTIFACTS / "report-phone-en.png")


class TestCommandLine:
    async def test_a_back_fill_for_one_client_then_for_every_subscriber(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings, tmp_path: Path
    ) -> None:
        setup = await measured_client(client, runtime)
        await subscribe(client, setup)
        env = command_env(settings)
        base = [str(BPO), "reports", "run", "--tenant", setup.tenant.slug, "--no-send"]

        def bpo(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*base, *args],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )

        one = bpo("--period", WEEK.label, "--client", setup.customer["code"])
        assert one.returncode == 0, one.stderr
        assert "1 made, 0 made again, 0 failed" in one.stdout
        every = bpo("--period", WEEK.label)
        assert every.returncode == 0, every.stderr
        assert "0 made, 1 made again, 0 failed" in every.stdout
        [report] = (await client.get("/v1/reports", headers=setup.tenant.admin)).json()["items"]
        assert report["period"] == WEEK.label
        assert (await client.get(f"/v1/reports/{report['id']}", headers=setup.tenant.admin)).json()[
            "generations"
        ] == 2

        for args, says in (
            (("--period", "2026-13"), "period"),
            (("--period", WEEK.label, "--client", "NOPE"), "NOPE"),
        ):
            refused = bpo(*args)
            assert refused.returncode != 0
            assert says in refused.stderr, refused.stderr
        unfinished = bpo("--period", "2030-W01", "--client", setup.customer["code"])
        assert unfinished.returncode == 1
        assert "has not ended yet" in unfinished.stderr


class TestAnnounced:
    async def test_a_new_report_is_announced_once_by_a_signed_webhook(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await measured_client(client, runtime)
        with Receiver() as receiver:
            endpoint = await post_ok(
                client,
                "/v1/webhook-endpoints",
                {"url": receiver.url, "event_types": ["report.ready"], "client_id": setup.customer["id"]},
                setup.tenant.admin,
            )
            report = await make(client, setup, send=False)
            await make(client, setup, send=False)
            listed = await client.get(
                f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=setup.tenant.admin
            )
            [delivery] = listed.json()["items"]
            async with runtime.db.tenant(setup.tenant.id) as session:
                outcome = await webhooks.deliver(
                    session,
                    system_scope(setup.tenant.id),
                    uuid.UUID(delivery["id"]),
                    now=datetime.now(UTC),
                    policy=webhooks.DeliveryPolicy(allow_local=True, jitter=lambda: 0.0),
                )
            assert outcome == "succeeded"
            [request] = receiver.received()
        body = json.loads(request.body)
        assert body["type"] == "report.ready"
        assert body["data"]["report_id"] == report["id"]
        assert body["data"]["period"] == WEEK.label
        assert body["data"]["pdf_url"] == f"/v1/reports/{report['id']}/pdf"
        signature = {k.lower(): v for k, v in request.headers.items()}[webhooks.SIGNATURE_HEADER.lower()]
        assert webhooks.verify(signature, request.body, endpoint["secret"], time_module.time())


class TestTheClientsLanguage:
    async def test_a_client_that_reads_english_gets_english_reports_by_default(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        customer = await create_client(client, tenant, language="en")
        assert customer["language"] == "en"
        made = await post_ok(
            client,
            f"/v1/clients/{customer['id']}/report-subscriptions",
            {"cadence": "monthly", "day_of_month": 2, "send_at": "08:30"},
            tenant.admin,
        )
        assert made["language"] == "en"
        report = await post_ok(
            client,
            "/v1/reports",
            {"client_id": customer["id"], "period": "2026-10", "send": False},
            tenant.admin,
        )
        page = await client.get(f"/v1/reports/{report['id']}/html", headers=tenant.admin)
        assert "Monthly report" in page.text
        refused = await client.patch(
            f"/v1/clients/{customer['id']}", json={"language": "fr"}, headers=tenant.admin
        )
        assert_problem(refused, 422)
        assert error_fields(refused.json()) == ["language"]
        cleared = await client.patch(
            f"/v1/clients/{customer['id']}", json={"language": None}, headers=tenant.admin
        )
        assert cleared.json()["language"] is None
