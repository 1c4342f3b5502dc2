"""The words people read for voices, in their language: sentiments, where a voice was heard, and a
category's label. The dashboard and the client reports both speak them, so they live below both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bpo.core.i18n import N_, Lang

SENTIMENTS = {"positive": N_("Positive"), "neutral": N_("Neutral"), "negative": N_("Negative")}
CHANNELS = {
    "x": N_("X (Twitter)"),
    "instagram": N_("Instagram"),
    "facebook": N_("Facebook"),
    "app_review": N_("App review"),
    "email": N_("Email"),
    "chat": N_("Chat"),
    "web": N_("Web form"),
}


class Labelled(Protocol):
    @property
    def label_ja(self) -> str | None: ...
    @property
    def label_en(self) -> str | None: ...


def label(category: Labelled, lang: Lang) -> str:
    """A category's label in the reader's language."""
    return (category.label_ja if lang.code == "ja" else category.label_en) or ""


def channel(name: str | None, lang: Lang) -> str:
    """Where a voice was heard, in words (a channel we have no words for, as it was given)."""
    if name is None:
        return ""
    known = CHANNELS.get(name)
    return lang.gettext(known) if known else name


def sentiment(name: str | None, lang: Lang) -> str:
    known = SENTIMENTS.get(name or "")
    return lang.gettext(known) if known else ""


def listed(labels: Sequence[str], lang: Lang) -> str:
    """Labels in a run of text, as each language separates them."""
    return ("、" if lang.code == "ja" else ", ").join(labels)
