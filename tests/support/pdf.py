"""Reading PDFs the way a person's viewer does: their text (pypdf), their fonts, and a picture of a page
(poppler's pdftoppm) saved as a test artifact."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pypdf

from bpo.core.pdf import pdf_status
from tests.support.paths import ARTIFACTS
from tests.support.requirements import require


def require_pdf() -> None:
    """WeasyPrint's system library and a Japanese font (see ``require``: skipped where missing, a failure
    under CI)."""
    require("Pango", pdf_status().available, "Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0")
    fc_list = shutil.which("fc-list")
    families = (
        subprocess.run([fc_list, ":lang=ja", "family"], capture_output=True, text=True, timeout=30).stdout
        if fc_list
        else ""
    )
    require("Noto Sans CJK JP", "Noto Sans CJK JP" in families, "Debian: apt-get install fonts-noto-cjk")


def pdf_text(document: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(document)).pages)


def _descriptor(font: Any) -> Any:
    if "/DescendantFonts" in font:
        font = font["/DescendantFonts"][0].get_object()
    return font.get("/FontDescriptor")


def embedded_fonts(document: bytes) -> dict[str, bool]:
    """Every font the pages use (base name without the subset tag) → whether its file is in the PDF."""
    fonts: dict[str, bool] = {}
    for page in pypdf.PdfReader(io.BytesIO(document)).pages:
        resources = page.get("/Resources")
        for ref in (resources.get_object().get("/Font") or {}).values() if resources else []:
            font = ref.get_object()
            name = str(font["/BaseFont"]).lstrip("/").split("+", 1)[-1]
            descriptor = _descriptor(font)
            embedded = descriptor is not None and any(
                key in descriptor.get_object() for key in ("/FontFile", "/FontFile2", "/FontFile3")
            )
            fonts[name] = fonts.get(name, True) and embedded
    return fonts


def first_page_png(document: bytes, name: str, resolution: int = 80) -> Path:
    """The first page as ``tests/artifacts/<name>.png``, rendered by pdftoppm for a person to look at."""
    binary = shutil.which("pdftoppm")
    require("pdftoppm", binary, "Debian: apt-get install poppler-utils")
    assert binary is not None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "document.pdf"
        source.write_bytes(document)
        prefix = ARTIFACTS / name
        subprocess.run(
            [binary, "-png", "-r", str(resolution), "-f", "1", "-l", "1", "-singlefile", source, prefix],
            check=True,
            timeout=60,
        )
    return prefix.with_suffix(".png")
