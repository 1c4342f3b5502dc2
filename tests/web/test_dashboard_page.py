"""The browser dashboard: cookie login, CSRF, isolation, security headers, and a real Chromium run."""

from __future__ import annotations

import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bpo.core.runtime import Runtime
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import READ_DASHBOARD, csrf_of, data_values, sign_in, sign_in_on_page
from tests.support.factories import (
    PASSWORD,
    TenantHandle,
    create_client,
    create_tenant,
    create_user,
    headers_for,
    login,
    post_ok,
)
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread
from tests.support.sla import chat_contract, ingest, rebuild

TOKYO = ZoneInfo("Asia/Tokyo")


# --- data -------------------------------------------------------------------------------------------


def recent_chats(days: int = 45, seed: int = 6) -> list[dict[str, Any]]:
    """Weekday chats in business hours (10:30-18:30 JST) over the last ``days`` days, most answered
    inside the 45 s target, some late, a few never answered."""
    rng = random.Random(seed)
    today = datetime.now(TOKYO).date()
    items = []
    for back in range(1, days + 1):
        day = today - timedelta(days=back)
        if day.weekday() >= 5:
            continue
        for n in range(rng.randint(8, 30)):
            received = datetime(day.year, day.month, day.day, 10, 31, tzinfo=TOKYO) + timedelta(
                seconds=rng.randint(0, 7 * 3600)
            )
            item: dict[str, Any] = {"external_id": f"{day}-{n}", "received_at": received.isoformat()}
            roll = rng.random()
            if roll < 0.9:
                item["first_response_at"] = (received + timedelta(seconds=rng.randint(8, 44))).isoformat()
            elif roll < 0.97:
                item["first_response_at"] = (received + timedelta(seconds=rng.randint(46, 400))).isoformat()
            items.append(item)
    return items


def recent_emails(days: int = 45, seed: int = 8) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    today = datetime.now(TOKYO).date()
    items = []
    for back in range(1, days + 1):
        day = today - timedelta(days=back)
        for n in range(rng.randint(3, 12)):
            received = datetime(day.year, day.month, day.day, 8, tzinfo=TOKYO) + timedelta(
                minutes=rng.randint(0, 14 * 60)
            )
            answered = received + timedelta(minutes=rng.choice([20, 45, 90, 300, 600, 900, 1300, 1700]))
            items.append(
                {
                    "external_id": f"mail-{day}-{n}",
                    "channel": "email",
                    "received_at": received.isoformat(),
                    "first_response_at": answered.isoformat(),
                    "resolved_at": answered.isoformat(),
                }
            )
    return items


async def every_hour_calendar(client: httpx.AsyncClient, h: dict[str, str], code: str) -> dict[str, Any]:
    """Open around the clock, every day, in Tokyo."""
    body = {
        "code": code,
        "name": "Every day",
        "time_zone": "Asia/Tokyo",
        "windows": [{"days": ["daily"], "start": "00:00", "end": "24:00"}],
    }
    return await post_ok(client, "/v1/calendars", body, h)


async def email_contract(client: httpx.AsyncClient, tenant: TenantHandle, service_id: str) -> dict[str, Any]:
    """The Lancers email queue: answered within 24 h of calendar time, with 1/8/12/18/24 h checkpoints."""
    h = tenant.admin
    calendar = await every_hour_calendar(client, h, f"MAIL-{uuid.uuid4().hex[:6]}")
    contract = await post_ok(
        client,
        "/v1/contracts",
        {
            "service_id": service_id,
            "code": f"MAIL-{uuid.uuid4().hex[:6]}",
            "name": "Email support",
            "work_type": "email_support",
            "start_date": "2026-01-01",
            "calendar_id": calendar["id"],
        },
        h,
    )
    objective = {
        "metric": "first_response",
        "threshold": "24h",
        "target_percent": 90,
        "clock": "calendar",
        "checkpoints": ["1h", "8h", "12h", "18h", "24h"],
    }
    policy = {"effective_from": "2026-01-01", "objectives": [objective]}
    await post_ok(client, f"/v1/contracts/{contract['id']}/sla-policies", policy, h)
    plan = {
        "effective_from": "2026-01-01",
        "currency": "JPY",
        "charges": [{"kind": "per_unit", "code": "mail", "name": "Emails", "unit_price": 300}],
    }
    await post_ok(client, f"/v1/contracts/{contract['id']}/rate-plans", plan, h)
    await post_ok(client, f"/v1/contracts/{contract['id']}/transitions", {"status": "active"}, h)
    return contract


async def staffed_contract(
    client: httpx.AsyncClient, tenant: TenantHandle, service_id: str
) -> dict[str, Any]:
    """A remote desk needing one person on weekdays 09:00-18:00 JST, with a 90% coverage objective;
    one person works every other weekday shift of the last five weeks."""
    h = tenant.admin
    code = uuid.uuid4().hex[:6]
    calendar = await every_hour_calendar(client, h, f"DESK-{code}")
    contract = await post_ok(
        client,
        "/v1/contracts",
        {
            "service_id": service_id,
            "code": f"DESK-{code}",
            "name": "Patrol desk",
            "work_type": "patrol",
            "start_date": "2026-01-01",
            "calendar_id": calendar["id"],
            "staffing_mode": "remote",
            "coverage": [{"days": ["weekdays"], "start": "09:00", "end": "18:00", "headcount": 1}],
        },
        h,
    )
    objectives = [
        {"metric": "first_response", "threshold": "1h", "target_percent": 95, "clock": "calendar"},
        {"metric": "coverage", "target_percent": 90},
    ]
    policy = {"effective_from": "2026-01-01", "objectives": objectives}
    await post_ok(client, f"/v1/contracts/{contract['id']}/sla-policies", policy, h)
    plan = {
        "effective_from": "2026-01-01",
        "currency": "JPY",
        "charges": [{"kind": "fixed_monthly", "code": "desk", "name": "Patrol desk", "amount": 300000}],
    }
    await post_ok(client, f"/v1/contracts/{contract['id']}/rate-plans", plan, h)
    await post_ok(client, f"/v1/contracts/{contract['id']}/transitions", {"status": "active"}, h)
    today = datetime.now(TOKYO).date()
    period = {"from": str(today - timedelta(days=35)), "to": str(today)}
    await post_ok(client, f"/v1/contracts/{contract['id']}/shifts:generate", period, h)
    listed = await client.get(
        "/v1/shifts", params={"contract_id": contract["id"], "limit": 200, **period}, headers=h
    )
    assert listed.status_code == 200, listed.text
    person = await post_ok(
        client, "/v1/staff", {"display_name": "Desk Person", "home_zone": "Asia/Tokyo", "country": "JP"}, h
    )
    shifts = sorted(listed.json()["items"], key=lambda shift: str(shift["start"]))
    assert len(shifts) >= 20
    for shift in shifts[::2]:
        assigned = await client.post(
            f"/v1/shifts/{shift['id']}/assignments", json={"staff_id": person["id"]}, headers=h
        )
        assert assigned.status_code == 201, assigned.text
    return contract


class Setup:
    def __init__(self, tenant: TenantHandle, customer: dict[str, Any], viewer_email: str) -> None:
        self.tenant = tenant
        self.customer = customer
        self.viewer_email = viewer_email
        self.contract_ids: list[str] = []


async def viewer_setup(
    client: httpx.AsyncClient, runtime: Runtime, *, with_email: bool = False, with_desk: bool = False
) -> Setup:
    tenant = await create_tenant(client)
    chat = await chat_contract(client, tenant)
    setup = Setup(tenant, chat["client"], f"viewer-{uuid.uuid4().hex[:6]}@{tenant.slug}.example")
    contracts = [(chat["contract"]["id"], recent_chats())]
    if with_email:
        mail = await email_contract(client, tenant, chat["contract"]["service_id"])
        contracts.append((mail["id"], recent_emails()))
    if with_desk:
        desk = await staffed_contract(client, tenant, chat["contract"]["service_id"])
        contracts.append((desk["id"], recent_chats(seed=11)))
    for contract_id, items in contracts:
        await ingest(client, tenant.admin, contract_id, items)
        # Every hour of the last few months that holds items.
        now = datetime.now(UTC)
        await rebuild(
            runtime,
            tenant,
            contract_id,
            now,
            received_between=(now - timedelta(days=120), now + timedelta(days=1)),
        )
        setup.contract_ids.append(contract_id)
    await create_user(
        client,
        tenant,
        role="client_viewer",
        client_id=uuid.UUID(chat["client"]["id"]),
        email=setup.viewer_email,
    )
    return setup


# --- a browser without JavaScript: httpx with its own cookie jar ------------------------------------


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


class TestLogin:
    async def test_login_sets_the_session_cookie_and_opens_the_viewers_client(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        response = await sign_in(browser, setup.tenant.slug, setup.viewer_email)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/dashboard"
        cookie = set_cookies(response)["bpo_session"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "path=/dashboard" in cookie
        assert "secure" not in cookie  # plain http here; https responses add Secure
        # As long as the session may go unused: its access token is renewed meanwhile.
        assert f"max-age={runtime.settings.web_session_idle_seconds}" in cookie

        home = await browser.get("/dashboard")
        assert home.status_code == 303
        assert home.headers["location"] == f"/dashboard/clients/{setup.customer['id']}?days=30"
        page = await browser.get(home.headers["location"])
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert setup.customer["name"] in page.text
        assert page.text.count("data-contract-id=") == 1

    async def test_numbers_on_the_page_are_the_apis(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        await sign_in(browser, setup.tenant.slug, setup.viewer_email)
        page = await browser.get(f"/dashboard/clients/{setup.customer['id']}", params={"days": 7})
        assert page.status_code == 200
        start, end = re.search(r'data-start="([^"]+)" data-end="([^"]+)"', page.text).groups()  # type: ignore[union-attr]
        assert (datetime.fromisoformat(end) - datetime.fromisoformat(start)).days == 6
        viewer = headers_for((await login(client, setup.tenant.slug, setup.viewer_email))["access_token"])
        api = await client.get(
            f"/v1/contracts/{setup.contract_ids[0]}/sla", params={"start": start, "end": end}, headers=viewer
        )
        (objective,) = api.json()["objectives"]
        assert data_values(page.text, "attainment") == [str(objective["attainment"])]
        assert data_values(page.text, "met") == [str(objective["met"])]
        assert data_values(page.text, "breached") == [str(objective["breached"])]
        assert data_values(page.text, "volume-received") == [str(api.json()["volumes"]["received"])]

    async def test_coverage_on_the_page_is_the_apis(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime, with_desk=True)
        desk = setup.contract_ids[-1]
        await sign_in(browser, setup.tenant.slug, setup.viewer_email)
        page = (await browser.get(f"/dashboard/clients/{setup.customer['id']}", params={"days": 30})).text
        start, end = re.search(r'data-start="([^"]+)" data-end="([^"]+)"', page).groups()  # type: ignore[union-attr]
        viewer = headers_for((await login(client, setup.tenant.slug, setup.viewer_email))["access_token"])
        api = await client.get(
            f"/v1/contracts/{desk}/sla", params={"start": start, "end": end}, headers=viewer
        )
        coverage = api.json()["coverage"]
        # Every other weekday staffed: about half the required time, below the 90% target.
        assert 30 <= coverage["attainment"] <= 70
        assert coverage["status"] == "red"
        section = page[page.index("data-coverage") :]
        assert data_values(section, "attainment")[0] == str(coverage["attainment"])
        assert data_values(section, "required-minutes") == [str(coverage["required_minutes"])]
        assert data_values(section, "fully-staffed-minutes") == [str(coverage["fully_staffed_minutes"])]
        assert "status-red" in section.split("</section>")[0]
        rows = re.findall(r'<tr data-day="([^"]+)">.*?<data value="([^"]*)"', section)
        assert rows == [(p["period"], str(p["attainment"])) for p in coverage["series"]]
        assert {value for _, value in rows} == {"0.0", "100.0"}
        assert 'aria-labelledby="k1-coverage-title k1-coverage-desc"' not in page  # the desk is card 2
        assert re.search(r'<svg [^>]*aria-labelledby="k2-coverage-title k2-coverage-desc"', page)

    async def test_wrong_password_shows_the_form_again_without_a_session(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        browser.headers["Accept-Language"] = "en-GB,en;q=0.9"
        response = await sign_in(browser, setup.tenant.slug, setup.viewer_email, password="wrong-password")
        assert response.status_code == 401
        assert "Unknown tenant, email or password." in response.text
        assert "bpo_session" not in set_cookies(response)
        assert (await browser.get("/dashboard")).headers["location"] == "/dashboard/login"

    async def test_login_attempts_are_rate_limited_like_the_api(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        browser.headers["Accept-Language"] = "en"
        limit = runtime.settings.login_attempts_per_window
        for _ in range(limit):
            assert (
                await sign_in(browser, tenant.slug, tenant.admin_email, "wrong-password")
            ).status_code == 401
        response = await sign_in(browser, tenant.slug, tenant.admin_email)
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        assert (
            f"Too many sign-in attempts; try again in {response.headers['retry-after']} seconds."
            in response.text
        )
        assert "bpo_session" not in set_cookies(response)
        # The same counter as POST /v1/auth/token: the API refuses this account too.
        api = await client.post(
            "/v1/auth/token", json={"tenant": tenant.slug, "email": tenant.admin_email, "password": PASSWORD}
        )
        assert api.status_code == 429

    async def test_cookies_are_secure_over_https(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, as behind a TLS-terminating proxy.
        https = {"X-Forwarded-Proto": "https"}
        form = await browser.get("/dashboard/login", headers=https)
        csrf_cookie = set_cookies(form)["bpo_csrf"]
        assert "; secure" in csrf_cookie.lower()
        # httpx, like a browser, keeps a Secure cookie off plain http: hand it over as the proxy would.
        fields = {"tenant": setup.tenant.slug, "email": setup.viewer_email, "password": PASSWORD}
        response = await browser.post(
            "/dashboard/login",
            data={**fields, "csrf_token": csrf_of(form)},
            headers={**https, "Cookie": csrf_cookie.split(";")[0]},
        )
        assert response.status_code == 303, response.text
        for name in ("bpo_session", "bpo_csrf"):
            assert "; secure" in set_cookies(response)[name].lower()

    async def test_staff_land_on_their_shifts_and_see_no_client_dashboard(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        customer = await create_client(client, tenant)
        user, _ = await create_user(client, tenant, role="staff")
        response = await sign_in(browser, tenant.slug, user["email"])
        assert response.status_code == 303
        home = await browser.get("/dashboard")
        assert (home.status_code, home.headers["location"]) == (303, "/dashboard/me/shifts")
        assert (await browser.get(f"/dashboard/clients/{customer['id']}")).status_code == 403

    async def test_logout_ends_the_session(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        await sign_in(browser, setup.tenant.slug, setup.viewer_email)
        page = await browser.get(f"/dashboard/clients/{setup.customer['id']}")
        response = await browser.post("/dashboard/logout", data={"csrf_token": csrf_of(page)})
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/login?reason=signed-out"
        for name in ("bpo_session", "bpo_web"):
            assert "max-age=0" in set_cookies(response)[name].lower()
        again = await browser.get(f"/dashboard/clients/{setup.customer['id']}")
        assert again.status_code == 303
        assert again.headers["location"] == "/dashboard/login"

    async def test_pages_need_the_cookie_not_a_bearer_token(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        tokens = await login(client, setup.tenant.slug, setup.viewer_email)
        page = f"/dashboard/clients/{setup.customer['id']}"
        for headers in ({}, headers_for(tokens["access_token"]), {"Cookie": "bpo_session=not-a-token"}):
            response = await client.get(page, headers=headers)
            assert response.status_code == 303, headers
            assert response.headers["location"] == "/dashboard/login"
        # And the other way round: the session cookie opens no API endpoint.
        me = await client.get("/v1/me", headers={"Cookie": f"bpo_session={tokens['access_token']}"})
        assert me.status_code == 401


class TestIsolation:
    async def test_a_viewer_sees_only_its_own_client(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        neighbour = await create_client(client, setup.tenant, name="Neighbour Co")
        stranger_tenant = await create_tenant(client)
        stranger = await create_client(client, stranger_tenant, name="Stranger Co")
        await sign_in(browser, setup.tenant.slug, setup.viewer_email)

        own = await browser.get(f"/dashboard/clients/{setup.customer['id']}")
        assert own.status_code == 200
        for other in (neighbour["id"], stranger["id"], str(uuid.uuid4()), "not-a-uuid"):
            response = await browser.get(f"/dashboard/clients/{other}")
            assert response.status_code == 404, other
            assert response.headers["content-type"].startswith("text/html")
            # In the tenant's language, Japanese: the viewer chose none.
            assert '<h1 id="problem-title">見つかりません</h1>' in response.text
            assert "Neighbour Co" not in response.text
            assert "Stranger Co" not in response.text

    async def test_operator_lists_clients_and_opens_any(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        neighbour = await create_client(client, setup.tenant, name="Neighbour Co")
        other_tenant_client = await create_client(client, await create_tenant(client), name="Stranger Co")
        await sign_in(browser, setup.tenant.slug, setup.tenant.admin_email)
        listing = await browser.get("/dashboard")
        assert listing.status_code == 200
        assert f"/dashboard/clients/{setup.customer['id']}" in listing.text
        assert f"/dashboard/clients/{neighbour['id']}" in listing.text
        assert "Stranger Co" not in listing.text
        assert (await browser.get(f"/dashboard/clients/{neighbour['id']}")).status_code == 200
        assert (await browser.get(f"/dashboard/clients/{other_tenant_client['id']}")).status_code == 404


class TestCsrf:
    async def test_login_without_the_token_is_refused(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        await browser.get("/dashboard/login")  # the CSRF cookie is set; the form field is missing
        fields = {"tenant": setup.tenant.slug, "email": setup.viewer_email, "password": PASSWORD}
        for extra in ({}, {"csrf_token": "0" * 64}):
            response = await browser.post("/dashboard/login", data={**fields, **extra})
            assert response.status_code == 403
            assert "bpo_session" not in set_cookies(response)

    async def test_a_token_from_another_browser_is_refused(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, server: ServerThread, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        async with httpx.AsyncClient(base_url=server.url) as attacker:
            stolen = csrf_of(await attacker.get("/dashboard/login"))
        await browser.get("/dashboard/login")
        response = await browser.post(
            "/dashboard/login",
            data={
                "tenant": setup.tenant.slug,
                "email": setup.viewer_email,
                "password": PASSWORD,
                "csrf_token": stolen,
            },
        )
        assert response.status_code == 403

    async def test_logout_without_the_token_keeps_the_session(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        await sign_in(browser, setup.tenant.slug, setup.viewer_email)
        login_page = await browser.get("/dashboard/login?reason=x")  # signed in: redirected, no form
        assert login_page.status_code == 303
        response = await browser.post("/dashboard/logout", data={})
        assert response.status_code == 403
        # Still signed in: the cookies are only slid, not expired.
        for name in ("bpo_session", "bpo_web"):
            assert "max-age=0" not in set_cookies(response).get(name, "").lower()
        assert (await browser.get(f"/dashboard/clients/{setup.customer['id']}")).status_code == 200

    async def test_the_bearer_api_needs_no_csrf_token(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        response = await client.post(
            "/v1/clients", json={"code": "NOCSRF", "name": "No CSRF"}, headers=tenant.admin
        )
        assert response.status_code == 201, response.text


class TestPages:
    async def test_security_headers_on_every_kind_of_response(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        anonymous = [await browser.get("/dashboard/login"), await browser.get("/dashboard")]
        await sign_in(browser, setup.tenant.slug, setup.viewer_email)
        signed_in = [
            await browser.get(f"/dashboard/clients/{setup.customer['id']}"),
            await browser.get(f"/dashboard/clients/{uuid.uuid4()}"),
            await browser.get(f"/dashboard/clients/{setup.customer['id']}?days=45"),
        ]
        static = await browser.get("/dashboard/static/dashboard.css")
        assert [r.status_code for r in [*anonymous, *signed_in, static]] == [200, 303, 200, 404, 400, 200]
        for response in [*anonymous, *signed_in, static]:
            csp = response.headers["content-security-policy"]
            assert "default-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        for response in [*anonymous, *signed_in]:
            assert response.headers["cache-control"] == "no-store"
        page = signed_in[0].text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        assert "<script" not in page
        assert " style=" not in page

    async def test_names_are_escaped(self, client: httpx.AsyncClient, browser: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        customer = await create_client(client, tenant, name='<script>alert("x")</script>')
        await sign_in(browser, tenant.slug, tenant.admin_email)
        for path in ("/dashboard", f"/dashboard/clients/{customer['id']}"):
            page = (await browser.get(path)).text
            assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
            assert "<script" not in page

    async def test_charts_have_text_alternatives_and_the_period_selector_works(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        await sign_in(browser, setup.tenant.slug, setup.viewer_email)
        for days in (7, 30, 90):
            page = (
                await browser.get(f"/dashboard/clients/{setup.customer['id']}", params={"days": days})
            ).text
            start, end = re.search(r'data-start="([^"]+)" data-end="([^"]+)"', page).groups()  # type: ignore[union-attr]
            assert (datetime.fromisoformat(end) - datetime.fromisoformat(start)).days == days - 1
            assert f'<a href="?days={days}" aria-current="page">' in page
            charts = re.findall(r'<svg [^>]*role="img"[^>]*aria-labelledby="([^"]+)"', page)
            assert len(charts) == 3  # attainment, checkpoint curve, volume
            for labels in charts:
                for label in labels.split():
                    assert f'id="{label}"' in page
            assert page.count("<table") == 3
            assert page.count("<caption>") == 3


@pytest.mark.slow
class TestInChromium:
    async def test_a_viewer_logs_in_and_sees_the_apis_numbers(
        self, client: httpx.AsyncClient, server: ServerThread, runtime: Runtime
    ) -> None:
        binary = chromium_binary()
        setup = await viewer_setup(client, runtime, with_email=True, with_desk=True)
        started = time.monotonic()
        async with Chromium(binary) as chromium:
            page = await chromium.page()
            await page.set_viewport(1280, 900, mobile=False)
            await sign_in_on_page(page, server.url, setup.tenant.slug, setup.viewer_email)

            url = await page.evaluate("location.pathname + location.search")
            assert url == f"/dashboard/clients/{setup.customer['id']}?days=30"
            shown = await page.evaluate(READ_DASHBOARD)
            viewer = headers_for((await login(client, setup.tenant.slug, setup.viewer_email))["access_token"])
            assert sorted(card["contract"] for card in shown["cards"]) == sorted(setup.contract_ids)
            for card in shown["cards"]:
                api = await client.get(
                    f"/v1/contracts/{card['contract']}/sla",
                    params={"start": shown["start"], "end": shown["end"]},
                    headers=viewer,
                )
                assert api.status_code == 200, api.text
                assert_same_numbers(card, api.json())
            assert [card["coverage"] is not None for card in shown["cards"]] == [False, True, False]
            # chat: attainment, checkpoints, volume; email: the same; desk: attainment, coverage, volume
            assert shown["charts"] == shown["chartsWithTitle"] == 9
            assert all(width > 100 for width in shown["chartWidths"])
            desktop = await page.screenshot(ARTIFACTS / "dashboard-desktop.png")

            await page.set_viewport(390, 844, mobile=True)
            await page.goto(f"{server.url}/dashboard/clients/{setup.customer['id']}?days=30")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow}px wider than a phone"
            phone = await page.screenshot(ARTIFACTS / "dashboard-phone.png")
            blocked = [text for text in page.console_errors() if "Content Security Policy" in text]
            assert blocked == []
        print(f"\nchromium run {time.monotonic() - started:.1f}s; screenshots: {desktop} {phone}")


def assert_same_numbers(card: dict[str, Any], api: dict[str, Any]) -> None:
    assert card["received"]["value"] == str(api["volumes"]["received"])
    objectives = {o["key"]: o for o in api["objectives"]}
    assert [o["key"] for o in card["objectives"]] == list(objectives)
    for shown in card["objectives"]:
        expected = objectives[shown["key"]]
        assert expected["attainment"] is not None
        # The exact number behind the figure, and the figure a person reads.
        assert float(shown["attainment"]["value"]) == expected["attainment"]
        assert shown["attainment"]["text"] == f"{expected['attainment']:.1f}%"
        assert float(shown["target"]["value"]) == expected["target_percent"]
        for name in ("met", "breached", "pending"):
            assert int(shown[name]["value"]) == expected[name], name
            assert shown[name]["text"] == str(expected[name])
        assert f"status-{expected['status']}" in shown["status"]
        assert [(c["checkpoint"], float(c["percent"])) for c in shown["checkpoints"]] == [
            (c["checkpoint"], c["percent"]) for c in expected["checkpoints"]
        ]
    coverage = api["coverage"]
    if card["coverage"] is None:
        assert coverage is None
        return
    assert coverage["attainment"] is not None
    assert float(card["coverage"]["attainment"]["value"]) == coverage["attainment"]
    assert card["coverage"]["attainment"]["text"] == f"{coverage['attainment']:.1f}%"
    assert float(card["coverage"]["target"]["value"]) == coverage["target_percent"]
    assert float(card["coverage"]["required"]["value"]) == coverage["required_minutes"]
    assert float(card["coverage"]["staffed"]["value"]) == coverage["fully_staffed_minutes"]
    assert f"status-{coverage['status']}" in card["coverage"]["status"]
