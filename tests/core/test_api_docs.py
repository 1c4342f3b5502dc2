"""The API docs (Scalar and Swagger UI) render from this server alone: in a Chromium that can reach
nothing but 127.0.0.1, under the docs' self-only policy."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from bpo.core.api_docs import ASSETS
from tests.support.chromium import Chromium, Page, chromium_binary
from tests.support.server import ServerThread

# No host name resolves but the test server's address, and anything else goes to a proxy that is not there.
OFFLINE = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
]
TEXT_OF_PAGE = "document.body ? document.body.innerText : ''"


async def text_once_rendered(page: Page, wanted: list[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = await page.evaluate(TEXT_OF_PAGE) or ""
        if all(w in text for w in wanted):
            return text
        await asyncio.sleep(0.5)
    return text


def requests(page: Page) -> dict[str, str]:
    return {
        event["params"]["requestId"]: event["params"]["request"]["url"]
        for event in page.browser.events[page.session]
        if event["method"] == "Network.requestWillBeSent"
    }


def blocked_by_policy(page: Page) -> set[str]:
    return {
        event["params"]["requestId"]
        for event in page.browser.events[page.session]
        if event["method"] == "Network.loadingFailed" and event["params"].get("blockedReason") == "csp"
    }


@pytest.fixture(scope="module")
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/schema/openapi.json")).json()
    return body


class TestInChromiumOffline:
    # Scalar renders the tag a link points at (the first one otherwise). Swagger UI lists every tag, but
    # past about 130 operations it draws only those in view: the window is made tall enough for all.
    @pytest.mark.parametrize("path", ["/schema#tag/clients", "/schema/swagger"])
    async def test_the_docs_list_the_apis_operations(
        self, server: ServerThread, document: dict[str, Any], path: str
    ) -> None:
        wanted = ["/v1/clients", document["paths"]["/v1/clients"]["get"]["summary"]]
        async with Chromium(chromium_binary(), flags=OFFLINE) as chromium:
            page = await chromium.page()
            await page.send("Network.enable")
            await page.set_viewport(1280, 60_000, mobile=False)
            await page.goto(f"{server.url}{path}")
            text = await text_once_rendered(page, wanted)

            assert [w for w in wanted if w not in text] == [], text[:2000]
            # Scalar's stylesheet names web fonts on fonts.scalar.com whatever its options say: the policy
            # refuses them before any request leaves the browser, and system fonts stand in.
            outside = {
                request_id: url
                for request_id, url in requests(page).items()
                if not url.startswith((server.url, "data:", "blob:", "about:"))
            }
            assert blocked_by_policy(page) >= set(outside), outside
            assert all(url.startswith("https://fonts.scalar.com/") for url in outside.values()), outside
            refused = [e for e in page.console_errors() if "Content Security Policy" in e]
            assert all('"font-src ' in e for e in refused), refused


class TestVendoredAssets:
    @pytest.mark.parametrize(
        ("url", "media_type"),
        [
            ("/schema/assets/scalar/standalone.js", "text/javascript"),
            ("/schema/assets/swagger-ui/swagger-ui-bundle.js", "text/javascript"),
            ("/schema/assets/swagger-ui/swagger-ui-standalone-preset.js", "text/javascript"),
            ("/schema/assets/swagger-ui/swagger-ui.css", "text/css"),
        ],
    )
    async def test_served_without_credentials(
        self, client: httpx.AsyncClient, url: str, media_type: str
    ) -> None:
        response = await client.get(url)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_nothing_outside_the_folders_is_served(self, client: httpx.AsyncClient) -> None:
        for url in ("/schema/assets/scalar/../../api_docs.py", "/schema/assets/other/x.js"):
            assert (await client.get(url)).status_code == 404

    @pytest.mark.parametrize("folder", ["scalar", "swagger-ui"])
    def test_each_folder_names_its_version_and_keeps_its_licence(self, folder: str) -> None:
        version = (ASSETS / folder / "VERSION").read_text()
        licence = (ASSETS / folder / "LICENSE").read_text()

        assert "integrity sha512-" in version
        assert ("MIT License" in licence) if folder == "scalar" else ("Apache License" in licence)

    @pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
    async def test_the_pages_load_nothing_from_elsewhere(self, client: httpx.AsyncClient, path: str) -> None:
        response = await client.get(path)
        policy = response.headers["content-security-policy"]

        assert "http" not in policy
        assert "http" not in response.text.split("<body", 1)[0]
