"""The dashboard session slides: access tokens are renewed from the signed session cookie while it is used,
within the idle timeout and the absolute lifetime, and only while the user's token version holds."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from bpo.core.runtime import Runtime
from bpo.core.scope import Role
from bpo.core.tokens import AccessClaims, issue_access_token
from bpo.tenancy.schemas import CredentialHolder
from bpo.web.session import WebSession, decode_web_session, encode_web_session
from tests.support.dashboard import csrf_of, sign_in
from tests.support.factories import TenantHandle, create_tenant, create_user

HOME = "/dashboard"
ENDED = "/dashboard/login?reason=expired"


@dataclass
class Supervisor:
    tenant: TenantHandle
    user: dict[str, Any]

    @property
    def holder(self) -> CredentialHolder:
        return CredentialHolder(tenant_id=self.tenant.id, user_id=uuid.UUID(self.user["id"]), token_version=0)

    def expired_token(self, runtime: Runtime) -> str:
        claims = AccessClaims(
            tenant_id=self.tenant.id,
            user_id=uuid.UUID(self.user["id"]),
            role=Role.SUPERVISOR,
            client_id=None,
            staff_id=None,
        )
        return issue_access_token(runtime.signing_key, claims, -60)


async def supervisor(client: httpx.AsyncClient) -> Supervisor:
    tenant = await create_tenant(client)
    user, _ = await create_user(client, tenant, role="supervisor")
    return Supervisor(tenant, user)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def cookie_value(response: httpx.Response, name: str) -> str:
    return set_cookies(response)[name].split(";", 1)[0].split("=", 1)[1]


def cookies(**values: str) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in values.items())}


def forged(runtime: Runtime, holder: CredentialHolder, *, started_ago: int, seen_ago: int) -> str:
    now = int(time.time())
    session = WebSession(
        holder=holder, session_id="s" * 22, started_at=now - started_ago, last_seen_at=now - seen_ago
    )
    return encode_web_session(runtime, session)


async def open_with_expired_token(
    browser: httpx.AsyncClient, runtime: Runtime, who: Supervisor, signed: str
) -> httpx.Response:
    return await browser.get(HOME, headers=cookies(bpo_session=who.expired_token(runtime), bpo_web=signed))


def assert_ended(response: httpx.Response) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == ENDED
    for name in ("bpo_session", "bpo_web"):
        assert "max-age=0" in set_cookies(response)[name].lower()


class TestRenewal:
    async def test_an_expired_access_token_is_renewed_and_the_page_answers(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        signed_in = await sign_in(browser, who.tenant.slug, who.user["email"])
        assert signed_in.status_code == 303, signed_in.text
        web = set_cookies(signed_in)["bpo_web"].lower()
        assert "httponly" in web
        assert "samesite=strict" in web
        assert "path=/dashboard" in web
        assert f"max-age={runtime.settings.web_session_idle_seconds}" in web
        signed = cookie_value(signed_in, "bpo_web")
        assert not signed.startswith("rt_")

        expired = who.expired_token(runtime)
        page = await browser.get(HOME, headers=cookies(bpo_session=expired, bpo_web=signed))
        assert page.status_code == 200, page.text
        renewed = cookie_value(page, "bpo_session")
        assert renewed != expired
        # The new token alone opens the page: it is a real access token, not a marker.
        alone = await browser.get(HOME, headers=cookies(bpo_session=renewed))
        assert alone.status_code == 200
        assert "bpo_session" not in set_cookies(alone)

    async def test_a_missing_access_token_is_renewed(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        signed = forged(runtime, who.holder, started_ago=600, seen_ago=60)
        page = await browser.get(HOME, headers=cookies(bpo_web=signed))
        assert page.status_code == 200, page.text
        assert "bpo_session" in set_cookies(page)

    async def test_a_fresh_access_token_is_kept(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        signed_in = await sign_in(browser, who.tenant.slug, who.user["email"])
        token = cookie_value(signed_in, "bpo_session")
        page = await browser.get(HOME)
        assert page.status_code == 200
        assert cookie_value(page, "bpo_session") == token

    async def test_each_request_slides_last_seen(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        started = int(time.time()) - 900
        signed = forged(runtime, who.holder, started_ago=900, seen_ago=600)
        page = await open_with_expired_token(browser, runtime, who, signed)
        assert page.status_code == 200
        slid = decode_web_session(runtime, cookie_value(page, "bpo_web"))
        assert slid is not None
        assert slid.last_seen_at >= int(time.time()) - 5
        assert slid.started_at == started
        assert slid.session_id == "s" * 22
        for name in ("bpo_session", "bpo_web"):
            assert f"max-age={runtime.settings.web_session_idle_seconds}" in set_cookies(page)[name].lower()

    async def test_the_cookies_never_outlive_the_absolute_lifetime(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        left = 300
        started_ago = runtime.settings.web_session_max_seconds - left
        page = await open_with_expired_token(
            browser, runtime, who, forged(runtime, who.holder, started_ago=started_ago, seen_ago=60)
        )
        assert page.status_code == 200
        for name in ("bpo_session", "bpo_web"):
            max_age = int(set_cookies(page)[name].lower().split("max-age=")[1].split(";")[0])
            assert left - 5 <= max_age <= left


class TestSessionEnds:
    async def test_after_the_idle_timeout(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        idle = runtime.settings.web_session_idle_seconds
        active = forged(runtime, who.holder, started_ago=idle + 120, seen_ago=idle - 60)
        assert (await open_with_expired_token(browser, runtime, who, active)).status_code == 200
        idled = forged(runtime, who.holder, started_ago=idle + 120, seen_ago=idle + 60)
        assert_ended(await open_with_expired_token(browser, runtime, who, idled))

    async def test_after_the_absolute_lifetime_however_active(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        lifetime = runtime.settings.web_session_max_seconds
        young = forged(runtime, who.holder, started_ago=lifetime - 60, seen_ago=10)
        assert (await open_with_expired_token(browser, runtime, who, young)).status_code == 200
        old = forged(runtime, who.holder, started_ago=lifetime + 60, seen_ago=10)
        assert_ended(await open_with_expired_token(browser, runtime, who, old))

    async def test_an_ended_session_ends_even_with_a_live_access_token(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        signed_in = await sign_in(browser, who.tenant.slug, who.user["email"])
        token = cookie_value(signed_in, "bpo_session")
        idle = runtime.settings.web_session_idle_seconds
        idled = forged(runtime, who.holder, started_ago=idle + 120, seen_ago=idle + 60)
        assert_ended(await browser.get(HOME, headers=cookies(bpo_session=token, bpo_web=idled)))

    async def test_when_the_user_is_deactivated(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        signed = forged(runtime, who.holder, started_ago=600, seen_ago=60)
        assert (await open_with_expired_token(browser, runtime, who, signed)).status_code == 200
        deleted = await client.delete(f"/v1/users/{who.user['id']}", headers=who.tenant.admin)
        assert deleted.status_code == 204, deleted.text
        assert_ended(await open_with_expired_token(browser, runtime, who, signed))

    async def test_when_the_password_changes(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        signed = forged(runtime, who.holder, started_ago=600, seen_ago=60)
        assert (await open_with_expired_token(browser, runtime, who, signed)).status_code == 200
        changed = await client.patch(
            f"/v1/users/{who.user['id']}",
            json={"password": "another-long-passphrase-42"},
            headers=who.tenant.admin,
        )
        assert changed.status_code == 200, changed.text
        assert_ended(await open_with_expired_token(browser, runtime, who, signed))

    async def test_when_the_cookie_is_tampered_with(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        signed = forged(runtime, who.holder, started_ago=600, seen_ago=60)
        assert (await open_with_expired_token(browser, runtime, who, signed)).status_code == 200
        fields, mac = signed.rsplit(".", 1)
        parts = fields.split(".")
        now = int(time.time())
        tampered = [
            # An older session made young again, its MAC kept.
            ".".join([*parts[:4], str(now), str(now), mac]),
            # A session of another user of the tenant.
            ".".join([parts[0], str(uuid.uuid4()), *parts[2:], mac]),
            signed[:-1] + ("0" if signed[-1] != "0" else "1"),
            "not-a-session",
        ]
        for value in tampered:
            response = await open_with_expired_token(browser, runtime, who, value)
            assert_ended(response)
            assert "bpo_session=ey" not in response.headers.get("set-cookie", "")


class TestLogout:
    async def test_logout_expires_both_cookies_even_after_a_renewal(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        who = await supervisor(client)
        await sign_in(browser, who.tenant.slug, who.user["email"])
        page = await browser.get(HOME)
        form_token = csrf_of(page)
        signed, csrf = browser.cookies["bpo_web"], browser.cookies["bpo_csrf"]
        renewal = await browser.get(
            HOME, headers=cookies(bpo_session=who.expired_token(runtime), bpo_web=signed, bpo_csrf=csrf)
        )
        assert renewal.status_code == 200
        # The form was rendered under the old access token; it is bound to the session, so it still posts.
        response = await browser.post(
            "/dashboard/logout",
            data={"csrf_token": form_token},
            headers=cookies(
                bpo_session=cookie_value(renewal, "bpo_session"),
                bpo_web=cookie_value(renewal, "bpo_web"),
                bpo_csrf=csrf,
            ),
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/dashboard/login?reason=signed-out"
        for name in ("bpo_session", "bpo_web"):
            assert "max-age=0" in set_cookies(response)[name].lower()
