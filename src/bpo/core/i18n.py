"""Japanese and English: gettext catalogs, the reader's language, and numbers, dates and money as that
reader writes them (Babel).

Catalogs are the ``.po`` files under ``bpo/core/locale/<language>/LC_MESSAGES/messages.po``, compiled
in memory the first time a language is used, so there is no build step and no binary in the tree.
English is the source language: its catalog holds the msgids with empty translations.

Messages follow Jinja's "newstyle" gettext in templates and in Python alike: a message is always a
``%``-format string (a literal percent sign is ``%%``) and its values are named
(``lang.gettext("Last %(days)s days", days=7)``). Strings kept in module constants are marked with
``N_`` and translated where they are shown.

Templates get the reader's language per render (``template_context``), never through the
environment's globals, so one environment serves requests in different languages at once.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal, TypeGuard, get_args
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_interval, format_skeleton, get_day_names
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations
from jinja2 import BaseLoader, Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from bpo.core.money import MINOR_UNIT_EXPONENT

Language = Literal["ja", "en"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
DEFAULT_LANGUAGE: Final[Language] = "ja"
CATALOG_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
# Python code marks its messages with these names (``lang.gettext(...)`` counts too); templates use
# ``{% trans %}``, ``_()``, ``gettext()`` and ``ngettext()``.
KEYWORDS: Final[dict[str, Any]] = {"gettext": None, "ngettext": (1, 2), "N_": None, "_": None}
# Where a language's dates and money come from: British English writes 6 December 2026, the yen as ¥.
DATE_LOCALES: Final[dict[Language, str]] = {"ja": "ja_JP", "en": "en_GB"}
NUMBER_LOCALES: Final[dict[Language, str]] = {"ja": "ja_JP", "en": "en"}
JAPANESE_ZONES = frozenset({"Asia/Tokyo", "Japan"})
MISSING = "—"


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated where it is shown."""
    return message


def is_language(value: object) -> TypeGuard[Language]:
    return value in LANGUAGES


def language_for_zone(time_zone: str) -> Language:
    """A tenant's default language when it names none: Japanese for an operator in Japan."""
    return "ja" if time_zone in JAPANESE_ZONES else "en"


def negotiate(accept_language: str | None, default: Language = DEFAULT_LANGUAGE) -> Language:
    """The supported language the ``Accept-Language`` header prefers most (``ja-JP`` counts as ``ja``)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower().split("-")[0]))
    for _, _, primary in sorted(ranked):
        if primary in LANGUAGES:
            return primary
    return default


def catalog_path(language: Language) -> Path:
    return CATALOG_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: Language) -> Translations:
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


# --- formatting ------------------------------------------------------------------------------------


def format_day(day: date, language: Language, style: str = "long") -> str:
    """``long``: 2026年12月6日 / 6 December 2026; ``short``: 12月6日 / 6 Dec; ``compact`` (a chart's axis):
    12/6 / 6 Dec; ``month``: 2026年12月 / December 2026; ``weekday``: 12月6日(日) / Sun 6 Dec."""
    locale = DATE_LOCALES[language]
    if style == "long":
        return format_date(day, "long", locale=locale)
    if style == "compact":
        style = "numeric" if language == "ja" else "short"
    skeleton = {"short": "MMMd", "numeric": "Md", "month": "yMMMM", "weekday": "MMMEd"}[style]
    return format_skeleton(skeleton, day, locale=locale)


def format_moment(moment: datetime, language: Language, time_zone: str, style: str = "medium") -> str:
    """A point in time as read in ``time_zone``: 2026/12/06 18:05 / 6 Dec 2026, 18:05."""
    zone = ZoneInfo(time_zone)
    locale = DATE_LOCALES[language]
    if style == "medium":
        day = format_date(moment.astimezone(zone), "medium", locale=locale)
        return f"{day} {format_datetime(moment, 'HH:mm', tzinfo=zone, locale=locale)}"
    return format_datetime(moment, style, tzinfo=zone, locale=locale)


DayWidth = Literal["abbreviated", "narrow", "short", "wide"]


def weekday_name(day: date | int, language: Language, width: DayWidth = "wide") -> str:
    """Monday is 0, as ``date.weekday()``: 月曜日 / Monday; ``abbreviated``: 月 / Mon."""
    index = day.weekday() if isinstance(day, date) else day
    return str(get_day_names(width, locale=DATE_LOCALES[language])[index])


def format_number(
    value: float | Decimal | int | None, language: Language, decimals: int | None = None
) -> str:
    if value is None:
        return MISSING
    pattern = None if decimals is None else "#,##0" + ("." + "0" * decimals if decimals else "")
    # Without a number of decimals, every one the value has (an invoice's quantity).
    quantize = decimals is not None
    return format_decimal(value, pattern, locale=NUMBER_LOCALES[language], decimal_quantization=quantize)


def format_percentage(
    value: float | Decimal | None, language: Language, decimals: int = 1, *, trim: bool = False
) -> str:
    """``value`` in percent (95.3 → 95.3%); ``trim`` drops zeros after the point (a target: 95%)."""
    if value is None:
        return MISSING
    places = ("#" if trim else "0") * decimals
    pattern = "#,##0" + ("." + places if decimals else "") + "%"
    return format_percent(Decimal(str(value)) / 100, pattern, locale=NUMBER_LOCALES[language])


def format_money(amount: Decimal | int, currency: str, language: Language) -> str:
    """``amount`` in minor units as people read it: ￥1,234,567 / ¥1,234,567, $12.50; a unit price with a
    fraction of a minor unit keeps it (¥0.5)."""
    exponent = MINOR_UNIT_EXPONENT.get(currency, 2)
    major = Decimal(amount).scaleb(-exponent)
    text = format_currency(major, currency, locale=NUMBER_LOCALES[language], decimal_quantization=False)
    # CLDR's currency spacing, which Babel leaves out: a code that is letters stands apart (CHF 7.00).
    return re.sub(r"([A-Za-z])(\d)", "\\1\u00a0\\2", text)


# --- a reader's language ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Lang:
    """One language's messages and formats, for code that builds text outside a template."""

    code: Language

    @property
    def translations(self) -> Translations:
        return translations(self.code)

    def gettext(self, message: str, **values: Any) -> str:
        return self.translations.gettext(message) % values

    def ngettext(self, singular: str, plural: str, count: int, **values: Any) -> str:
        values.setdefault("num", count)
        return self.translations.ngettext(singular, plural, count) % values

    def day(self, value: date, style: str = "long") -> str:
        return format_day(value, self.code, style)

    def days(self, first: date, last: date) -> str:
        """The days from ``first`` to ``last`` as the locale writes a range of dates (CLDR's interval
        format: the year and month written once where they are shared)."""
        return str(format_interval(first, last, "yMMMd", locale=self.code))

    def moment(self, value: datetime, time_zone: str, style: str = "medium") -> str:
        return format_moment(value, self.code, time_zone, style)

    def weekday(self, value: date | int, width: DayWidth = "wide") -> str:
        return weekday_name(value, self.code, width)

    def number(self, value: float | Decimal | int | None, decimals: int | None = None) -> str:
        return format_number(value, self.code, decimals)

    def percent(self, value: float | Decimal | None, decimals: int = 1, *, trim: bool = False) -> str:
        return format_percentage(value, self.code, decimals, trim=trim)

    def money(self, amount: Decimal | int, currency: str) -> str:
        return format_money(amount, currency, self.code)


@functools.cache
def lang(code: Language) -> Lang:
    return Lang(code)


# --- templates -------------------------------------------------------------------------------------


def _template_gettext(language: Language) -> Callable[..., str]:
    catalog = translations(language)

    @pass_context
    def gettext(context: Context, message: str, **values: Any) -> str:
        text = catalog.gettext(message)
        if context.eval_ctx.autoescape:
            # Catalog text is ours, like the template's: only the values are escaped.
            text = Markup(text)  # noqa: S704
        return text % values

    return gettext


def _template_ngettext(language: Language) -> Callable[..., str]:
    catalog = translations(language)

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, count: int, **values: Any) -> str:
        values.setdefault("num", count)
        text = catalog.ngettext(singular, plural, count)
        if context.eval_ctx.autoescape:
            # Catalog text is ours, like the template's: only the values are escaped.
            text = Markup(text)  # noqa: S704
        return text % values

    return ngettext


@functools.cache
def _callables(language: Language) -> tuple[Callable[..., str], Callable[..., str]]:
    return _template_gettext(language), _template_ngettext(language)


def template_context(language: Language) -> dict[str, Any]:
    """What a render needs to speak ``language``: pass it with the template's own context."""
    gettext, ngettext = _callables(language)
    return {
        "language": language,
        "lang": lang(language),
        "gettext": gettext,
        "_": gettext,
        "ngettext": ngettext,
    }


def _language_of(context: Context) -> Language:
    language = context.get("language", DEFAULT_LANGUAGE)
    return language if is_language(language) else DEFAULT_LANGUAGE


@pass_context
def _date_filter(context: Context, value: date | None, style: str = "long") -> str:
    return MISSING if value is None else format_day(value, _language_of(context), style)


@pass_context
def _datetime_filter(context: Context, value: datetime | None, time_zone: str, style: str = "medium") -> str:
    return MISSING if value is None else format_moment(value, _language_of(context), time_zone, style)


@pass_context
def _weekday_filter(context: Context, value: date | int, width: DayWidth = "wide") -> str:
    return weekday_name(value, _language_of(context), width)


@pass_context
def _number_filter(context: Context, value: float | Decimal | int | None, decimals: int | None = None) -> str:
    return format_number(value, _language_of(context), decimals)


@pass_context
def _percent_filter(
    context: Context, value: float | Decimal | None, decimals: int = 1, trim: bool = False
) -> str:
    return format_percentage(value, _language_of(context), decimals, trim=trim)


@pass_context
def _money_filter(context: Context, amount: Decimal | int, currency: str) -> str:
    return format_money(amount, currency, _language_of(context))


FILTERS: Final[Mapping[str, Callable[..., str]]] = {
    "date": _date_filter,
    "datetime": _datetime_filter,
    "weekday": _weekday_filter,
    "number": _number_filter,
    "percent": _percent_filter,
    "money": _money_filter,
}


def with_lang(function: Callable[..., str]) -> Callable[..., str]:
    """A filter that takes the render's language (``template_context``'s ``lang``) as its last argument."""

    @pass_context
    def apply(context: Context, value: Any, *args: Any) -> str:
        return function(value, *args, context["lang"])

    return apply


def environment(loader: BaseLoader, **options: Any) -> Environment:
    """A Jinja environment with ``{% trans %}`` (newstyle, trimmed) and the locale filters ``date``,
    ``datetime``, ``weekday``, ``number``, ``percent`` and ``money``; each render passes
    ``template_context(language)`` (``render`` does)."""
    options.setdefault("autoescape", True)
    env = Environment(loader=loader, extensions=["jinja2.ext.i18n"], **options)  # noqa: S701
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.policies["ext.i18n.trimmed"] = True
    env.filters.update(FILTERS)
    return env


def render(env: Environment, template: str, language: Language, **context: Any) -> str:
    return env.get_template(template).render({**context, **template_context(language)})
