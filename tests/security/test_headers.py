"""Security headers on API responses, pages and the API docs; CORS closed unless origins are configured."""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bpo.app import create_app
from bpo.settings import Settings, SettingsError, load_settings
from tests.support.factories import create_tenant
from tests.support.server import ServerThread

APP_ORIGIN = "https://ops.example.com"
EVIL_ORIGIN = "https://evil.example"
HTTPS = {"X-Forwarded-Proto": "https"}


def assert_base_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


class TestApiResponses:
    async def test_json_and_problems_forbid_rendering(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        responses = [
            await client.get("/v1/me", headers=tenant.admin),
            await client.get("/v1/me"),  # 401 problem
            await client.get("/no/such/route"),  # unrouted 404
            await client.delete("/health"),  # 405
            await client.get("/health"),
        ]
        for response in responses:
            assert_base_headers(response)
            assert response.headers["content-security-policy"].startswith("default-src 'none'")
            assert "strict-transport-security" not in response.headers

    async def test_hsts_only_over_https(self, client: httpx.AsyncClient, settings: Settings) -> None:
        plain = await client.get("/health")
        secure = await client.get("/health", headers=HTTPS)

        assert "strict-transport-security" not in plain.headers
        assert secure.headers["strict-transport-security"] == (
            f"max-age={settings.hsts_max_age_seconds}; includeSubDomains"
        )


class TestPages:
    async def test_dashboard_pages_run_no_script(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/dashboard/login", headers=HTTPS)

        assert response.status_code == 200
        assert_base_headers(response)
        policy = response.headers["content-security-policy"]
        assert policy.startswith("default-src 'self'")
        assert "script-src 'none'" in policy
        assert "<script" not in response.text
        assert response.headers["strict-transport-security"].startswith("max-age=")

    @pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
    async def test_docs_scripts_carry_the_response_nonce(self, client: httpx.AsyncClient, path: str) -> None:
        first, second = await client.get(path), await client.get(path)

        nonces = []
        for response in (first, second):
            assert response.status_code == 200
            assert_base_headers(response)
            policy = response.headers["content-security-policy"]
            match = re.search(r"script-src 'nonce-([\w-]+)'", policy)
            assert match, policy
            assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
            scripts = re.findall(r"<script[^>]*>", response.text)
            assert scripts
            assert all(f'nonce="{match[1]}"' in tag for tag in scripts), scripts
            nonces.append(match[1])
        assert nonces[0] != nonces[1]


class TestCorsClosedByDefault:
    async def test_no_cross_origin_headers(self, client: httpx.AsyncClient, settings: Settings) -> None:
        assert settings.cors_origins == []
        tenant = await create_tenant(client)
        simple = await client.get("/v1/me", headers={**tenant.admin, "Origin": APP_ORIGIN})
        preflight = await client.options(
            "/v1/me",
            headers={
                "Origin": APP_ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )

        assert simple.status_code == 200
        for response in (simple, preflight):
            assert not [name for name in response.headers if name.startswith("access-control-")]


@pytest.fixture(scope="module")
def cors_server(settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(settings.model_copy(update={"cors_origins": [APP_ORIGIN]})) as running:
        yield running


@pytest.fixture(scope="module")
async def cors_client(cors_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cors_server.url, timeout=30) as http:
        yield http


class TestCorsWhenConfigured:
    async def test_only_the_configured_origin_is_allowed(self, cors_client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(cors_client)

        allowed = await cors_client.get("/v1/me", headers={**tenant.admin, "Origin": APP_ORIGIN})
        refused = await cors_client.get("/v1/me", headers={**tenant.admin, "Origin": EVIL_ORIGIN})

        assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
        assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
        assert "access-control-allow-origin" not in refused.headers
        assert "access-control-allow-credentials" not in allowed.headers

    async def test_preflight(self, cors_client: httpx.AsyncClient) -> None:
        request = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}

        allowed = await cors_client.options("/v1/clients", headers={**request, "Origin": APP_ORIGIN})
        refused = await cors_client.options("/v1/clients", headers={**request, "Origin": EVIL_ORIGIN})

        assert allowed.status_code in (200, 204)
        assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "access-control-allow-origin" not in refused.headers


class TestCorsSetting:
    def test_comma_separated_origins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BPO_CORS_ORIGINS", f"{APP_ORIGIN}, http://localhost:3000")
        assert load_settings().cors_origins == [APP_ORIGIN, "http://localhost:3000"]

    @pytest.mark.parametrize("value", ["ftp://x.example", "https://x.example/path", "x.example"])
    def test_a_bad_origin_is_refused(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        monkeypatch.setenv("BPO_CORS_ORIGINS", value)
        with pytest.raises(SettingsError, match="BPO_CORS_ORIGINS"):
            load_settings()


def test_no_response_hook_runs_in_a_thread_pool() -> None:
    """Litestar runs a plain function given as a ``before_send`` hook in a thread pool, for every response;
    the app's hooks are coroutine functions."""
    app = create_app(load_settings(log_level="WARNING"))
    assert app.before_send
    assert all(inspect.iscoroutinefunction(hook) for hook in app.before_send), app.before_send
