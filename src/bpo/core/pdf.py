"""PDF documents from the HTML a page is rendered from (WeasyPrint): one template, page and PDF.

WeasyPrint is imported on first use. Without Pango on the system its import fails; the server runs on,
``pdf_status()`` says why, pages hide their PDF links, and asking for a PDF is a 503 ``PdfUnavailable``.

A document never reaches the network: its relative URLs resolve against an origin no resolver knows
(RFC 2606 ``.invalid``), and the fetcher serves only the static files it is given, refusing every
other URL (remote, ``file:``, ``data:``, a path outside the static directories).
"""

from __future__ import annotations

import functools
import mimetypes
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from bpo.core.errors import Unavailable

DOCUMENT_ORIGIN = "https://document.invalid"
PANGO_HINT = "install Pango (Debian libpango-1.0-0 and libpangoft2-1.0-0)"
WEASYPRINT_HINT = "install WeasyPrint (pip install weasyprint)"

# URL path prefix ("/dashboard/static/") → the directory its files are served from.
Assets = Mapping[str, Path]


class PdfUnavailable(Unavailable):
    slug = "pdf-unavailable"
    title = "PDF not available"


class FetchRefused(ValueError):
    """A document asked for a URL that is not one of our static files."""


@dataclass(frozen=True)
class PdfStatus:
    available: bool
    # Why not, and what to install, for a person: "install Pango (Debian libpango-1.0-0 …)".
    reason: str | None = None

    @property
    def message(self) -> str:
        return (
            "PDF is available." if self.available else f"PDF is not available on this server: {self.reason}."
        )


_status: PdfStatus | None = None
_weasyprint: ModuleType | None = None
_import_lock = threading.Lock()
# One render at a time per process: WeasyPrint shares Pango and fontconfig state between threads, and
# its layout is pure Python, so a second thread would not render any faster under the GIL.
_render_lock = threading.Lock()


def _load() -> PdfStatus:
    global _status, _weasyprint
    with _import_lock:
        if _status is None:
            try:
                import weasyprint
            except OSError as exc:
                # cffi's "cannot load library 'libpango-1.0-0'": the system library is missing.
                _status = PdfStatus(False, f"{PANGO_HINT}; {exc}")
            except ImportError as exc:
                _status = PdfStatus(False, f"{WEASYPRINT_HINT}; {exc}")
            else:
                _weasyprint = weasyprint
                _status = PdfStatus(True)
        return _status


def pdf_status() -> PdfStatus:
    """Whether this process can render PDFs; the first call imports WeasyPrint (about a second)."""
    return _status if _status is not None else _load()


def pdf_available() -> bool:
    return pdf_status().available


async def pdf_status_async() -> PdfStatus:
    """``pdf_status()`` without blocking the event loop on the first import."""
    if _status is not None:
        return _status
    return await anyio.to_thread.run_sync(_load)


def resolve_asset(url: str, assets: Assets) -> Path:
    """The static file ``url`` names, or ``FetchRefused``."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != DOCUMENT_ORIGIN:
        raise FetchRefused(f"not fetched: {url} (a document loads only this server's static files)")
    path = unquote(parts.path)
    for prefix, directory in assets.items():
        if path.startswith(prefix):
            root = directory.resolve()
            file = (root / path.removeprefix(prefix)).resolve()
            if file.is_relative_to(root) and file.is_file():
                return file
    raise FetchRefused(f"not fetched: {url} (no such static file)")


@functools.cache
def _fetcher_class(weasyprint: ModuleType) -> type[Any]:
    base: type[Any] = weasyprint.urls.URLFetcher

    class StaticFetcher(base):  # type: ignore[misc]
        def __init__(self, assets: Assets) -> None:
            super().__init__(allowed_protocols=("https",), allow_redirects=False)
            self.assets = dict(assets)

        def fetch(self, url: str, headers: Any = None) -> Any:
            file = resolve_asset(url, self.assets)
            mime_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            return weasyprint.urls.URLFetcherResponse(
                url, file.read_bytes(), headers={"Content-Type": mime_type}
            )

    return StaticFetcher


def _require() -> ModuleType:
    status = pdf_status()
    if _weasyprint is None:
        raise PdfUnavailable(status.message)
    return _weasyprint


def static_fetcher(assets: Assets) -> Any:
    """A WeasyPrint URL fetcher that serves ``assets`` and refuses everything else."""
    weasyprint = _require()
    return _fetcher_class(weasyprint)(assets)


def render_pdf(html: str, *, assets: Assets | None = None, stylesheets: Sequence[str] = ()) -> bytes:
    """``html`` as an A4 PDF (print media), its fonts embedded. ``stylesheets`` are CSS texts added
    after the document's own. Blocking and CPU-heavy: from async code use ``render_pdf_async``."""
    weasyprint = _require()
    fetcher = static_fetcher(assets or {})
    base_url = f"{DOCUMENT_ORIGIN}/"
    document = weasyprint.HTML(string=html, base_url=base_url, url_fetcher=fetcher)
    extra = [weasyprint.CSS(string=css, base_url=base_url, url_fetcher=fetcher) for css in stylesheets]
    with _render_lock:
        pdf: bytes = document.write_pdf(stylesheets=extra)
    return pdf


async def render_pdf_async(
    html: str, *, assets: Assets | None = None, stylesheets: Sequence[str] = ()
) -> bytes:
    """``render_pdf`` in a worker thread, so the server answers other requests meanwhile."""
    render = functools.partial(render_pdf, html, assets=assets, stylesheets=stylesheets)
    return await anyio.to_thread.run_sync(render)
