"""Passwords in the browser and the API: changing one's own, a one-time password that must be replaced at
the first sign-in, and "forgot password" by mail with a single-use, expiring link."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select, update

from bpo.core.mailbox import LocalMailServer
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery import messages
from bpo.delivery.models import Message
from bpo.tenancy.models import PasswordReset
from tests.delivery.test_mail import policy_for
from tests.support.dashboard import csrf_of, sign_in
from tests.support.factories import PASSWORD, PLATFORM_HEADERS, create_tenant, create_user, headers_for, login
from tests.support.mail import kept
from tests.support.mail import mail_server as mail_server
from tests.support.problems import assert_problem

NEW_PASSWORD = "lantern-orchard-velvet-93"


async def login_status(client: httpx.AsyncClient, slug: str, email: str, password: str) -> int:
    response = await client.post(
        "/v1/auth/token", json={"tenant": slug, "email": email, "password": password}
    )
    return response.status_code


class TestChangePassword:
    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_change_it_on_the_page_and_stay_signed_in(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, language: str
    ) -> None:
        tenant = await create_tenant(client)
        user, headers = await create_user(client, tenant, role="supervisor")
        await client.patch("/v1/me", json={"language": language}, headers=headers)
        await sign_in(browser, tenant.slug, user["email"])
        form = await browser.get("/dashboard/account/password")
        assert form.status_code == 200

        wrong = await browser.post(
            "/dashboard/account/password",
            data={
                "csrf_token": csrf_of(form),
                "current_password": "not-it-at-all",
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        )
        assert wrong.status_code == 422
        assert (
            "現在のパスワードが正しくありません" if language == "ja" else "That is not your current password"
        ) in wrong.text
        weak = await browser.post(
            "/dashboard/account/password",
            data={
                "csrf_token": csrf_of(form),
                "current_password": PASSWORD,
                "new_password": "short",
                "new_password_again": "short",
            },
        )
        assert weak.status_code == 422
        assert ("12 文字以上" if language == "ja" else "Use at least 12 characters") in weak.text
        mismatch = await browser.post(
            "/dashboard/account/password",
            data={
                "csrf_token": csrf_of(form),
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD + "x",
            },
        )
        assert mismatch.status_code == 422
        assert await login_status(client, tenant.slug, user["email"], PASSWORD) == 200

        changed = await browser.post(
            "/dashboard/account/password",
            data={
                "csrf_token": csrf_of(form),
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        )
        assert (changed.status_code, changed.headers["location"]) == (303, "/dashboard")
        # This browser goes on; the tokens from before end; only the new password logs in.
        assert (await browser.get("/dashboard")).status_code == 200
        assert (await client.get("/v1/me", headers=headers)).status_code == 401
        assert await login_status(client, tenant.slug, user["email"], PASSWORD) == 401
        assert await login_status(client, tenant.slug, user["email"], NEW_PASSWORD) == 200

    async def test_through_the_api(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        user, headers = await create_user(client, tenant, role="staff")
        bad = await client.put(
            "/v1/me/password", json={"current_password": "nope", "new_password": "x"}, headers=headers
        )
        assert_problem(bad, 422)
        assert {e["field"] for e in bad.json()["errors"]} == {"current_password", "new_password"}
        ok = await client.put(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        )
        assert ok.status_code == 204, ok.text
        assert await login_status(client, tenant.slug, user["email"], NEW_PASSWORD) == 200


class TestOneTimePassword:
    async def test_it_must_be_changed_before_anything_else(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        slug = f"otp-{uuid.uuid4().hex[:8]}"
        email = f"root@{slug}.example"
        created = await client.post(
            "/v1/platform/tenants",
            json={"slug": slug, "name": "OTP", "admin_email": email},
            headers=PLATFORM_HEADERS,
        )
        assert created.status_code == 201, created.text
        one_time = created.json()["admin_password"]
        tokens = await login(client, slug, email, one_time)
        headers = headers_for(tokens["access_token"])
        assert (await client.get("/v1/me", headers=headers)).status_code == 200
        assert_problem(await client.get("/v1/clients", headers=headers), 403, "password-change-required")

        signed_in = await sign_in(browser, slug, email, one_time)
        assert signed_in.status_code == 303
        for path in ("/dashboard", "/dashboard/clients/" + str(uuid.uuid4()), "/dashboard/me/shifts"):
            response = await browser.get(path)
            assert (response.status_code, response.headers["location"]) == (
                303,
                "/dashboard/account/password",
            ), path
        form = await browser.get("/dashboard/account/password")
        assert form.status_code == 200
        assert 'id="current_password"' in form.text
        changed = await browser.post(
            "/dashboard/account/password",
            data={
                "csrf_token": csrf_of(form),
                "current_password": one_time,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        )
        assert changed.status_code == 303
        assert (await browser.get("/dashboard")).status_code == 200
        fresh = headers_for((await login(client, slug, email, NEW_PASSWORD))["access_token"])
        assert (await client.get("/v1/clients", headers=fresh)).status_code == 200


async def reset_mail(
    runtime: Runtime, tenant_id: uuid.UUID, to: str, server: LocalMailServer
) -> EmailMessage:
    """Send the queued reset mail as the mail.send job does, and read it off the local server."""
    async with runtime.db.tenant(tenant_id) as session:
        message_id = await session.scalar(
            select(Message.id)
            .where(Message.tenant_id == tenant_id, Message.kind == "password.reset", Message.recipient == to)
            .order_by(Message.created_at.desc())
            .limit(1)
        )
        assert message_id is not None
        status = await messages.send_message(
            session, system_scope(tenant_id), message_id, now=datetime.now(UTC), policy=policy_for(server)
        )
    assert status == "sent"
    [mail] = [m for m in kept(server) if m["To"] == to][-1:]
    return mail


def link_in(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    found = re.search(r"https?://\S+/dashboard/password/reset/(\S+)", body.get_content())
    assert found, body.get_content()
    return f"/dashboard/password/reset/{found[1]}"


class TestForgotPassword:
    async def test_a_mailed_link_works_once(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        runtime: Runtime,
        mail_server: LocalMailServer,
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(
            client,
            tenant,
            role="client_viewer",
            client_id=uuid.UUID(
                (
                    await client.post("/v1/clients", json={"code": "C1", "name": "One"}, headers=tenant.admin)
                ).json()["id"]
            ),
        )
        form = await browser.get("/dashboard/password/forgot")
        nobody = await browser.post(
            "/dashboard/password/forgot",
            data={"csrf_token": csrf_of(form), "tenant": tenant.slug, "email": "nobody@nowhere.example"},
        )
        asked = await browser.post(
            "/dashboard/password/forgot",
            data={"csrf_token": csrf_of(form), "tenant": tenant.slug, "email": user["email"]},
        )
        assert asked.status_code == nobody.status_code == 200
        assert re.sub(r'value="[^"]*"', "", asked.text) == re.sub(r'value="[^"]*"', "", nobody.text)

        mail = await reset_mail(runtime, tenant.id, user["email"], mail_server)
        link = link_in(mail)
        token = link.rsplit("/", 1)[1]
        async with runtime.db.tenant(tenant.id) as session:
            stored = (
                await session.scalars(
                    select(PasswordReset.token_hash).where(PasswordReset.tenant_id == tenant.id)
                )
            ).all()
        assert stored
        assert token not in stored
        assert all(token.split("_")[-1] not in h for h in stored)

        page = await browser.get(link)
        assert page.status_code == 200
        assert 'name="new_password"' in page.text
        weak = await browser.post(
            link,
            data={
                "csrf_token": csrf_of(page),
                "new_password": "password1234",
                "new_password_again": "password1234",
            },
        )
        assert weak.status_code == 422
        done = await browser.post(
            link,
            data={
                "csrf_token": csrf_of(page),
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        )
        assert (done.status_code, done.headers["location"]) == (
            303,
            "/dashboard/login?reason=password-changed",
        )
        assert await login_status(client, tenant.slug, user["email"], NEW_PASSWORD) == 200
        assert await login_status(client, tenant.slug, user["email"], PASSWORD) == 401

        again = await browser.post(
            link,
            data={
                "csrf_token": csrf_of(page),
                "new_password": PASSWORD + "-2",
                "new_password_again": PASSWORD + "-2",
            },
        )
        assert again.status_code == 404
        assert (await browser.get(link)).status_code == 404
        assert await login_status(client, tenant.slug, user["email"], NEW_PASSWORD) == 200

    async def test_a_link_expires(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        runtime: Runtime,
        mail_server: LocalMailServer,
    ) -> None:
        tenant = await create_tenant(client)
        form = await browser.get("/dashboard/password/forgot")
        await browser.post(
            "/dashboard/password/forgot",
            data={"csrf_token": csrf_of(form), "tenant": tenant.slug, "email": tenant.admin_email},
        )
        link = link_in(await reset_mail(runtime, tenant.id, tenant.admin_email, mail_server))
        async with runtime.db.tenant(tenant.id) as session:
            await session.execute(
                update(PasswordReset)
                .where(PasswordReset.tenant_id == tenant.id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        page = await browser.get(link)
        assert page.status_code == 404
        refused = await browser.post(
            link,
            data={
                "csrf_token": csrf_of(form),
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        )
        assert refused.status_code == 404
        assert await login_status(client, tenant.slug, tenant.admin_email, PASSWORD) == 200
        # Another tenant's token shape, or none at all, is the same page.
        assert (
            await browser.get(f"/dashboard/password/reset/pwr_{uuid.uuid4().hex}_{'x' * 43}")
        ).status_code == 404
        assert (await browser.get("/dashboard/password/reset/nonsense")).status_code == 404
