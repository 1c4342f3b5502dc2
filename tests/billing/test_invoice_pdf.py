"""The invoice as a PDF, from the page's own template: what it says is what the API says, in Japanese
where the client's name is, for the same people as the invoice, and a clear answer where the server
cannot render PDFs."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest

from bpo.core.runtime import Runtime
from bpo.settings import Settings
from tests.core.test_pdf import without_pango
from tests.support.billing import REGISTRATION, billing_setup, get_invoice, invoices, run_october
from tests.support.dashboard import sign_in
from tests.support.factories import TenantHandle, create_tenant, create_user, login, post_ok
from tests.support.pdf import embedded_fonts, first_page_png, pdf_text, require_pdf
from tests.support.processes import BPO, command_env, free_port

JAPANESE_NAME = "さくら商事"
JAPANESE_LEGAL_NAME = "株式会社さくら商事"
A4 = (595, 842)
PANGO_MESSAGE = "PDF is not available on this server: install Pango (Debian libpango-1.0-0"


def yen(amount: int) -> str:
    return f"-¥{-amount:,}" if amount < 0 else f"¥{amount:,}"


class Billed:
    def __init__(self, tenant: TenantHandle, client_id: str, invoice: dict[str, Any], draft: dict[str, Any]):
        self.tenant = tenant
        self.client_id = client_id
        self.invoice = invoice
        self.draft = draft


async def japanese_client_billed(client: httpx.AsyncClient, runtime: Runtime) -> Billed:
    """October issued for a client with a Japanese name; another client's October still a draft."""
    tenant = await create_tenant(client)
    # The figures below are read in English (the Japanese document: tests/billing/test_invoice_page.py).
    english = await client.patch("/v1/tenant", json={"default_language": "en"}, headers=tenant.admin)
    assert english.status_code == 200, english.text
    setup = await billing_setup(client, runtime, tenant)
    other = await billing_setup(client, runtime, tenant)
    code = uuid.uuid4().hex[:4]
    response = await client.patch(
        f"/v1/clients/{setup['client']['id']}",
        json={"name": f"{JAPANESE_NAME} {code}", "legal_name": JAPANESE_LEGAL_NAME},
        headers=tenant.admin,
    )
    assert response.status_code == 200, response.text
    await run_october(runtime, tenant)
    [mine] = await invoices(client, tenant.admin, client_id=setup["client"]["id"])
    [draft] = await invoices(client, tenant.admin, client_id=other["client"]["id"])
    await post_ok(client, f"/v1/invoices/{mine['id']}/finalize", {}, tenant.admin)
    invoice = await get_invoice(client, tenant.admin, mine["id"])
    return Billed(tenant, setup["client"]["id"], invoice, draft)


async def viewer(
    client: httpx.AsyncClient, tenant: TenantHandle, client_id: str
) -> tuple[str, dict[str, str]]:
    email = f"viewer-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    _, headers = await create_user(
        client, tenant, role="client_viewer", client_id=uuid.UUID(client_id), email=email
    )
    return email, headers


def assert_pdf(response: httpx.Response, filename: str) -> bytes:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith(b"%PDF-")
    return response.content


@pytest.fixture
def weasyprint() -> None:
    require_pdf()


@pytest.mark.usefixtures("weasyprint")
class TestInvoicePdf:
    async def test_the_pdf_says_what_the_api_says(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        billed = await japanese_client_billed(client, runtime)
        invoice = billed.invoice
        response = await client.get(f"/v1/invoices/{invoice['id']}/pdf", headers=billed.tenant.admin)
        document = assert_pdf(response, f"{invoice['number']}.pdf")
        text = pdf_text(document)

        assert invoice["number"] in text
        assert f"Operator {billed.tenant.slug}" in text
        assert REGISTRATION in text
        assert invoice["payment_terms"] in text
        for line in invoice["lines"]:
            assert yen(line["amount"]["amount"]) in text, line
            assert line["contract_code"] in text
        for figure in ("subtotal", "tax", "total"):
            assert yen(invoice[figure]["amount"]) in text, figure
        amounts = [yen(line["amount"]["amount"]) for line in invoice["lines"]]
        assert len(set(amounts)) == len(amounts)
        # In the order of the invoice's lines.
        assert sorted(amounts, key=text.index) == amounts
        assert "Draft" not in text

        # Japanese: the client's names, and the document's own title, in a CJK font embedded in the file.
        assert JAPANESE_LEGAL_NAME in text
        assert invoice["client_name"] in text
        assert "請求書" in text
        fonts = embedded_fonts(document)
        assert any(name.startswith("Noto-Sans-CJK-JP") for name in fonts), fonts
        assert all(fonts.values()), f"fonts not embedded: {fonts}"

        # A document, not a web page: A4, no toolbar, its number at the head and "1 / 1" at the foot.
        reader = pypdf.PdfReader(io.BytesIO(document))
        box = reader.pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == A4
        assert "Back to the dashboard" not in text
        assert "Download PDF" not in text
        assert text.count(invoice["number"]) >= 2
        assert re.search(rf"\b1 / {len(reader.pages)}\b", text)

        png = first_page_png(document, "invoice-pdf-page1")
        assert png.stat().st_size > 10_000
        print(f"\nfirst page of the invoice PDF: {png}")

    async def test_the_browser_gets_the_same_document_and_a_link_to_it(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        billed = await japanese_client_billed(client, runtime)
        invoice = billed.invoice
        email, headers = await viewer(client, billed.tenant, billed.client_id)
        await sign_in(browser, billed.tenant.slug, email)

        page = await browser.get(f"/dashboard/invoices/{invoice['id']}")
        assert page.status_code == 200
        link = f'href="/dashboard/invoices/{invoice["id"]}.pdf"'
        assert link in page.text
        assert "pdf-missing" not in page.text

        from_page = assert_pdf(
            await browser.get(f"/dashboard/invoices/{invoice['id']}.pdf"), f"{invoice['number']}.pdf"
        )
        from_api = assert_pdf(
            await client.get(f"/v1/invoices/{invoice['id']}/pdf", headers=headers), f"{invoice['number']}.pdf"
        )
        assert pdf_text(from_page) == pdf_text(from_api)
        assert yen(invoice["total"]["amount"]) in pdf_text(from_page)

    async def test_a_draft_is_marked_and_named_as_one(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        billed = await japanese_client_billed(client, runtime)
        draft = await get_invoice(client, billed.tenant.admin, billed.draft["id"])
        response = await client.get(f"/v1/invoices/{draft['id']}/pdf", headers=billed.tenant.admin)
        text = pdf_text(assert_pdf(response, f"draft-{draft['id']}.pdf"))
        assert "Draft: not issued, figures may still change." in text
        assert yen(draft["total"]["amount"]) in text

    async def test_only_for_those_who_may_see_the_invoice(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        billed = await japanese_client_billed(client, runtime)
        issued, draft = billed.invoice["id"], billed.draft["id"]
        _, own_viewer = await viewer(client, billed.tenant, billed.client_id)
        email, other_viewer = await viewer(client, billed.tenant, billed.draft["client_id"])
        outsider = await create_tenant(client)

        def api(path_id: str, headers: dict[str, str]) -> Any:
            return client.get(f"/v1/invoices/{path_id}/pdf", headers=headers)

        assert (await api(issued, own_viewer)).status_code == 200
        # The viewer's own client's draft is not theirs to see yet; another client's invoice never is.
        for path_id, headers in [
            (draft, own_viewer),
            (issued, other_viewer),
            (issued, outsider.admin),
            (str(uuid.uuid4()), billed.tenant.admin),
        ]:
            response = await api(path_id, headers)
            assert response.status_code == 404, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"].endswith("/not-found")
        assert (await client.get(f"/v1/invoices/{issued}/pdf")).status_code == 401
        assert (
            await client.get("/v1/invoices/not-an-id/pdf", headers=billed.tenant.admin)
        ).status_code == 404

        await sign_in(browser, billed.tenant.slug, email)
        for path_id in (issued, str(uuid.uuid4()), "not-an-id"):
            response = await browser.get(f"/dashboard/invoices/{path_id}.pdf")
            assert response.status_code == 404
            assert response.headers["content-type"].startswith("text/html")
        async with httpx.AsyncClient(base_url=str(browser.base_url), timeout=30) as foreign:
            await sign_in(foreign, outsider.slug, outsider.admin_email)
            assert (await foreign.get(f"/dashboard/invoices/{issued}.pdf")).status_code == 404

    async def test_documented_as_a_pdf(self, client: httpx.AsyncClient) -> None:
        schema = (await client.get("/schema/openapi.json")).json()
        operation = schema["paths"]["/v1/invoices/{invoice_id}/pdf"]["get"]
        assert "billing" in operation["tags"]
        assert list(operation["responses"]["200"]["content"]) == ["application/pdf"]
        assert "503" in operation["responses"]
        assert "404" in operation["responses"]


@pytest.fixture
def server_without_pango(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """`bpo serve` on the test database, on a system where `import weasyprint` fails for want of Pango."""
    path = os.pathsep.join(filter(None, [str(without_pango(tmp_path)), os.environ.get("PYTHONPATH")]))
    # Every test signs in from 127.0.0.1 on the same Redis: the per-address login limit is the tests' own.
    env = command_env(
        settings,
        BPO_LOG_LEVEL="WARNING",
        PYTHONPATH=path,
        BPO_LOGIN_ATTEMPTS_PER_IP=str(settings.login_attempts_per_ip),
    )
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(BPO), "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "bpo serve did not answer in 60 s"
            time.sleep(0.1)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


@pytest.mark.slow
class TestWithoutPango:
    async def test_pages_say_why_and_the_api_answers_503(
        self, client: httpx.AsyncClient, runtime: Runtime, server_without_pango: str
    ) -> None:
        billed = await japanese_client_billed(client, runtime)
        invoice = billed.invoice
        async with httpx.AsyncClient(base_url=server_without_pango, timeout=30) as degraded:
            await sign_in(degraded, billed.tenant.slug, billed.tenant.admin_email)
            page = await degraded.get(f"/dashboard/invoices/{invoice['id']}")
            assert page.status_code == 200
            assert invoice["number"] in page.text
            assert ".pdf" not in page.text
            assert PANGO_MESSAGE in page.text
            assert 'class="pdf-missing"' in page.text

            response = await degraded.get(f"/dashboard/invoices/{invoice['id']}.pdf")
            assert response.status_code == 503
            assert response.headers["content-type"].startswith("text/html")

        async with httpx.AsyncClient(base_url=server_without_pango, timeout=30) as api:
            token = (await login(api, billed.tenant.slug, billed.tenant.admin_email))["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            response = await api.get(f"/v1/invoices/{invoice['id']}/pdf", headers=headers)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["type"].endswith("/pdf-unavailable")
            assert problem["detail"].startswith(PANGO_MESSAGE)
            # The rest of the server is unaffected, and who may not see the invoice still gets a 404.
            assert (await api.get(f"/v1/invoices/{invoice['id']}", headers=headers)).status_code == 200
            missing = await api.get(f"/v1/invoices/{uuid.uuid4()}/pdf", headers=headers)
            assert missing.status_code == 404
