"""The messages the code and templates ask for, extracted with Babel the way a translator's tool does,
to hold the catalogs to them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from babel.messages.extract import extract
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

import bpo
from bpo.core import i18n

SOURCE = Path(bpo.__file__).parent
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true"}
# The Python that produces text people read: the pages', and anything else that speaks through i18n.
I18N_IMPORT = ("from bpo.core import i18n", "from bpo.core.i18n import")


def templates() -> list[Path]:
    return sorted(
        path
        for path in SOURCE.glob("**/templates/**/*")
        if path.suffix in {".html", ".txt"} and path.is_file()
    )


def python_sources() -> list[Path]:
    return sorted(
        path
        for path in SOURCE.glob("**/*.py")
        if path.parent.name == "web" or any(line in path.read_text() for line in I18N_IMPORT)
    )


def _messages(path: Path) -> Iterator[str | tuple[str, ...]]:
    # Jinja's extractor is typed more loosely than Babel's signature for one.
    method: Any = babel_extract if path.suffix in {".html", ".txt"} else "python"
    with path.open("rb") as source:
        for _, message, _, _ in extract(method, source, keywords=i18n.KEYWORDS, options=JINJA_OPTIONS):
            yield message


def used_msgids(paths: list[Path] | None = None) -> dict[str, str]:
    """Every msgid asked for (by ``paths``, or else by the package), with one place that asks for it."""
    found: dict[str, str] = {}
    for path in paths if paths is not None else [*templates(), *python_sources()]:
        if path == Path(i18n.__file__):
            continue
        for message in _messages(path):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, path.name)
    return found


def plural_msgids() -> dict[str, str]:
    plurals: dict[str, str] = {}
    for path in [*templates(), *python_sources()]:
        for message in _messages(path):
            if isinstance(message, tuple) and message[0]:
                plurals[message[0]] = message[1]
    return plurals


def catalog_entries(language: i18n.Language) -> dict[str, str | tuple[str, ...]]:
    """msgid → translation (a tuple of the plural forms) of the language's catalog, header left out."""
    with i18n.catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    entries: dict[str, str | tuple[str, ...]] = {}
    for message in catalog:
        if not message.id:
            continue
        msgid = str(message.id[0] if isinstance(message.id, (tuple, list)) else message.id)
        string = message.string
        entries[msgid] = tuple(string) if isinstance(string, (tuple, list)) else str(string or "")
    return entries
