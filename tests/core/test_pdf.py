"""PDF rendering: Japanese with an embedded CJK font, only our own static files fetched, the event loop
free while a document renders, and a clear reason when the system cannot render at all."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pypdf
import pytest

from bpo.core.pdf import (
    DOCUMENT_ORIGIN,
    FetchRefused,
    render_pdf,
    render_pdf_async,
    resolve_asset,
    static_fetcher,
)
from tests.support.pdf import embedded_fonts, pdf_text, require_pdf

A4 = (595, 842)
A5 = (420, 595)


@pytest.fixture
def weasyprint() -> None:
    require_pdf()


@pytest.fixture
def assets(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a5.css").write_text("@page { size: A5; margin: 10mm; }")
    (tmp_path / "secret.txt").write_text("not a static file")
    return {"/files/": tmp_path / "static"}


class Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        Recorder.hits.append(self.path)
        body = b"@page { size: A5; }" if self.path.endswith(".css") else b"GIF89a"
        self.send_response(200)
        self.send_header("Content-Type", "text/css" if self.path.endswith(".css") else "image/gif")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def listening() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that records every request it gets."""
    Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def page_size(document: bytes) -> tuple[int, int]:
    box = pypdf.PdfReader(io.BytesIO(document)).pages[0].mediabox
    return round(float(box.width)), round(float(box.height))


@pytest.mark.usefixtures("weasyprint")
class TestJapanese:
    def test_japanese_text_renders_with_an_embedded_cjk_font(self) -> None:
        html = (
            '<html lang="ja"><body style="font-family: sans-serif">'
            "<h1>請求書</h1><p>株式会社さくら商事 御中</p><p>合計 ¥1,234,567</p></body></html>"
        )
        document = render_pdf(html)
        text = pdf_text(document)
        assert "請求書" in text
        assert "株式会社さくら商事" in text
        fonts = embedded_fonts(document)
        assert any(name.startswith("Noto-Sans-CJK-JP") for name in fonts), fonts
        assert all(fonts.values()), f"fonts not embedded: {fonts}"
        assert page_size(document) == A4


@pytest.mark.usefixtures("weasyprint")
class TestFetching:
    def test_serves_our_static_files(self, assets: dict[str, Path]) -> None:
        html = '<html><head><link rel="stylesheet" href="/files/a5.css"></head><body>x</body></html>'
        assert page_size(render_pdf(html, assets=assets)) == A5
        # Without the asset the stylesheet is not found, and the page stays A4.
        assert page_size(render_pdf(html)) == A4

    def test_a_remote_url_is_never_fetched(self, listening: str, assets: dict[str, Path]) -> None:
        html = (
            f'<html><head><link rel="stylesheet" href="{listening}/remote.css"></head>'
            f'<body><img src="{listening}/pixel.gif"><p style="background: url({listening}/bg.gif)">x</p>'
            '<img src="//127.0.0.1/protocol-relative.gif"></body></html>'
        )
        document = render_pdf(html, assets=assets)
        assert Recorder.hits == []
        assert page_size(document) == A4
        with pytest.raises(FetchRefused, match="not fetched"):
            static_fetcher(assets).fetch(f"{listening}/remote.css")
        # The server is there: the same URL fetched directly is answered.
        import urllib.request

        with urllib.request.urlopen(f"{listening}/remote.css", timeout=5) as response:
            assert response.status == 200
        assert Recorder.hits == ["/remote.css"]

    @pytest.mark.parametrize(
        "url",
        [
            "file:///etc/passwd",
            "data:text/css,@page{size:A5}",
            f"{DOCUMENT_ORIGIN}/files/../secret.txt",
            f"{DOCUMENT_ORIGIN}/files/%2e%2e/secret.txt",
            f"{DOCUMENT_ORIGIN}/files/missing.css",
            f"{DOCUMENT_ORIGIN}/elsewhere/a5.css",
            "https://document.invalid.example.com/files/a5.css",
            "http://document.invalid/files/a5.css",
        ],
    )
    def test_refuses_everything_but_the_static_files(self, url: str, assets: dict[str, Path]) -> None:
        with pytest.raises(FetchRefused):
            resolve_asset(url, assets)

    def test_a_static_file_resolves(self, assets: dict[str, Path]) -> None:
        assert (
            resolve_asset(f"{DOCUMENT_ORIGIN}/files/a5.css", assets)
            == (assets["/files/"] / "a5.css").resolve()
        )


@pytest.mark.usefixtures("weasyprint")
class TestOffTheEventLoop:
    async def test_the_loop_keeps_running_while_a_document_renders(self) -> None:
        rows = "".join(f"<tr><td>行 {n}</td><td>¥{n * 1000:,}</td></tr>" for n in range(1500))
        html = f"<html><body><table>{rows}</table></body></html>"
        ticks = 0
        rendering = True

        async def tick() -> None:
            nonlocal ticks
            while rendering:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = asyncio.get_running_loop().time()
        document = await render_pdf_async(html)
        elapsed = asyncio.get_running_loop().time() - started
        rendering = False
        await ticker
        assert len(pypdf.PdfReader(io.BytesIO(document)).pages) > 10
        # Rendered inline, the loop would not tick at all until the document is done.
        assert elapsed > 0.5
        assert ticks >= 10, f"{ticks} ticks in {elapsed:.1f}s"


FAKE_WEASYPRINT = """
# What `import weasyprint` raises on a system without Pango (cffi cannot dlopen the library).
raise OSError(
    "cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file: "
    "No such file or directory"
)
"""


def without_pango(tmp_path: Path) -> Path:
    """A directory that, first on the import path, makes `import weasyprint` fail as it does without Pango."""
    package = tmp_path / "poisoned" / "weasyprint"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_WEASYPRINT)
    return package.parent


class TestWithoutPango:
    def test_says_why_and_what_to_install(self, tmp_path: Path) -> None:
        script = textwrap.dedent(
            """
            import asyncio
            from bpo.core.pdf import PdfUnavailable, pdf_available, pdf_status, render_pdf
            assert not pdf_available()
            print(pdf_status().message)
            try:
                render_pdf("<p>x</p>")
            except PdfUnavailable as exc:
                print(exc.status, exc.slug, exc.detail == pdf_status().message)
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            env={
                "PYTHONPATH": os.pathsep.join([str(without_pango(tmp_path)), *sys.path]),
                "PATH": "/usr/bin:/bin",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        message, outcome = result.stdout.strip().splitlines()
        assert message.startswith(
            "PDF is not available on this server: install Pango (Debian libpango-1.0-0 and libpangoft2-1.0-0)"
        )
        assert "cannot load library 'libpango-1.0-0'" in message
        assert outcome == "503 pdf-unavailable True"
