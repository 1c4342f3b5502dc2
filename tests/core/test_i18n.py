"""Japanese and English: the catalogs cover every message the templates and the pages' code ask for, and
numbers, dates and money read as each language writes them."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from jinja2 import DictLoader

from bpo.core import i18n
from tests.support.catalogs import catalog_entries, plural_msgids, used_msgids

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _as_po(msgids: list[str]) -> str:
    return "\n".join(f'msgid "{msgid}"\nmsgstr ""\n' for msgid in msgids)


class TestCatalogs:
    @pytest.mark.parametrize("language", i18n.LANGUAGES)
    def test_every_message_asked_for_is_in_the_catalog(self, language: i18n.Language) -> None:
        catalog = catalog_entries(language)
        missing = sorted(set(used_msgids()) - set(catalog))
        assert not missing, f"add to {i18n.catalog_path(language)}:\n{_as_po(missing)}"

    @pytest.mark.parametrize("language", i18n.LANGUAGES)
    def test_the_catalog_holds_no_message_nothing_asks_for(self, language: i18n.Language) -> None:
        stale = sorted(set(catalog_entries(language)) - set(used_msgids()))
        assert not stale, f"remove from {i18n.catalog_path(language)}: {stale}"

    def test_every_japanese_message_is_translated_with_the_same_placeholders(self) -> None:
        plurals = plural_msgids()
        for msgid, translation in catalog_entries("ja").items():
            forms = translation if isinstance(translation, tuple) else (translation,)
            assert forms, msgid
            assert all(forms), f"no Japanese for {msgid!r}"
            expected = set(PLACEHOLDER.findall(msgid)) | set(PLACEHOLDER.findall(plurals.get(msgid, "")))
            for form in forms:
                assert set(PLACEHOLDER.findall(form)) == expected, msgid
                # Messages are %-format strings: a lone % would break the page.
                assert "%" not in PLACEHOLDER.sub("", form).replace("%%", ""), msgid

    def test_english_is_the_source_language(self) -> None:
        for msgid, translation in catalog_entries("en").items():
            forms = translation if isinstance(translation, tuple) else (translation,)
            assert not any(forms), f"English text belongs in the msgid: {msgid!r}"

    def test_the_check_finds_untranslated_strings(self, tmp_path: Path) -> None:
        template = tmp_path / "templates" / "new.html"
        template.parent.mkdir()
        template.write_text(
            "{% trans %}Sign in{% endtrans %} {% trans n=2 %}A new line of {{ n }} words{% endtrans %} "
            "{{ _('Another new thing') }} {{ ngettext('%(num)s new day', '%(num)s new days', 2) }}"
        )
        code = tmp_path / "view.py"
        code.write_text('LABEL = N_("A new label")\nlang.gettext("Sign out")\n')
        asked = used_msgids([template, code])
        assert sorted(set(asked) - set(catalog_entries("ja"))) == [
            "%(num)s new day",
            "A new label",
            "A new line of %(n)s words",
            "Another new thing",
        ]


class TestNegotiate:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("ja-JP,ja;q=0.9,en-US;q=0.8", "ja"),
            ("en-GB,en;q=0.9", "en"),
            ("fr-FR,en;q=0.5,ja;q=0.7", "ja"),
            ("fr-FR, en;q=0.5", "en"),
            ("de", "ja"),
            ("", "ja"),
            (None, "ja"),
            ("en;q=0, ja;q=0.1", "ja"),
            ("EN-us", "en"),
            ("ja;q=nonsense, en", "en"),
        ],
    )
    def test_the_most_preferred_supported_language(self, header: str | None, expected: str) -> None:
        assert i18n.negotiate(header) == expected

    def test_the_default_when_nothing_matches(self) -> None:
        assert i18n.negotiate("de-DE", default="en") == "en"

    def test_a_tenant_in_japan_reads_japanese(self) -> None:
        assert i18n.language_for_zone("Asia/Tokyo") == "ja"
        assert i18n.language_for_zone("Europe/London") == "en"
        assert i18n.language_for_zone("America/Argentina/Buenos_Aires") == "en"


class TestFormats:
    def test_dates(self) -> None:
        day = date(2026, 12, 6)
        assert i18n.format_day(day, "ja") == "2026年12月6日"
        assert i18n.format_day(day, "en") == "6 December 2026"
        assert i18n.format_day(day, "ja", "short") == "12月6日"
        assert i18n.format_day(day, "en", "short") == "6 Dec"
        assert i18n.format_day(day, "ja", "month") == "2026年12月"
        assert i18n.format_day(day, "en", "month") == "December 2026"

    def test_moments_in_a_zone(self) -> None:
        moment = datetime(2026, 12, 6, 9, 5, tzinfo=UTC)
        assert i18n.format_moment(moment, "ja", "Asia/Tokyo") == "2026/12/06 18:05"
        assert i18n.format_moment(moment, "en", "Europe/London") == "6 Dec 2026 09:05"
        assert i18n.format_moment(moment, "en", "America/Argentina/Buenos_Aires") == "6 Dec 2026 06:05"

    def test_weekdays(self) -> None:
        assert i18n.weekday_name(date(2026, 12, 6), "ja") == "日曜日"
        assert i18n.weekday_name(0, "en") == "Monday"
        assert i18n.weekday_name(0, "ja", "abbreviated") == "月"

    def test_numbers_and_percentages(self) -> None:
        assert i18n.format_number(1234567, "ja") == "1,234,567"
        assert i18n.format_number(1234.56, "en", 1) == "1,234.6"
        assert i18n.format_number(None, "en") == "—"
        assert i18n.format_percentage(95.34, "ja") == "95.3%"
        assert i18n.format_percentage(95, "en", 2, trim=True) == "95%"
        assert i18n.format_percentage(92.5, "en", 2, trim=True) == "92.5%"
        assert i18n.format_percentage(None, "ja") == "—"

    def test_money(self) -> None:
        assert i18n.format_money(1_234_567, "JPY", "ja") == "￥1,234,567"
        assert i18n.format_money(1_234_567, "JPY", "en") == "¥1,234,567"
        assert i18n.format_money(-5_000, "JPY", "en") == "-¥5,000"
        assert i18n.format_money(1_250, "USD", "en") == "$12.50"
        assert i18n.format_money(1_250, "USD", "ja") == "$12.50"
        # A unit price may hold a fraction of a minor unit.
        assert i18n.format_money(Decimal("0.5"), "JPY", "en") == "¥0.5"

    def test_messages_in_python(self) -> None:
        ja, en = i18n.lang("ja"), i18n.lang("en")
        assert ja.gettext("Sign in") == "サインイン"
        assert en.gettext("Sign in") == "Sign in"
        assert ja.gettext("%(num)s ms", num=850) == "850ミリ秒"
        assert en.ngettext("%(num)s day", "%(num)s days", 1) == "1 day"
        assert en.ngettext("%(num)s day", "%(num)s days", 3) == "3 days"
        assert ja.ngettext("%(num)s day", "%(num)s days", 3) == "3日"


TEMPLATES = {
    "page.html": (
        '<html lang="{{ language }}"><h1>{% trans %}Sign in{% endtrans %}</h1>'
        "<p>{% trans days=days %}Last {{ days }} days: {{ start }} to {{ end }}{% endtrans %}</p>"
        "<p>{{ _('Sign out') }} {{ ngettext('%(num)s day', '%(num)s days', days) }}</p>"
        "<p>{{ day | date }} {{ amount | money('JPY') }} {{ share | percent }} {{ count | number }}</p>"
        "<p>{{ name }}</p></html>"
    )
}


class TestTemplates:
    def test_a_render_speaks_the_language_it_is_given(self) -> None:
        env = i18n.environment(DictLoader(TEMPLATES))
        values = {
            "days": 7,
            "start": "<b>1</b>",
            "end": "7",
            "day": date(2026, 12, 6),
            "amount": 1_234_567,
            "share": 95.34,
            "count": 12345,
            "name": "<script>",
        }
        ja = i18n.render(env, "page.html", "ja", **values)
        en = i18n.render(env, "page.html", "en", **values)
        assert '<html lang="ja"><h1>サインイン</h1>' in ja
        assert "直近7日間：&lt;b&gt;1&lt;/b&gt;〜7" in ja  # noqa: RUF001 (values are escaped, the message not)
        assert "サインアウト 7日" in ja
        assert "2026年12月6日 ￥1,234,567 95.3% 12,345" in ja
        assert '<html lang="en"><h1>Sign in</h1>' in en
        assert "Last 7 days: &lt;b&gt;1&lt;/b&gt; to 7" in en
        assert "Sign out 7 days" in en
        assert "6 December 2026 ¥1,234,567 95.3% 12,345" in en
        assert "&lt;script&gt;" in ja
        assert "&lt;script&gt;" in en

    async def test_concurrent_renders_in_different_languages_do_not_mix(self) -> None:
        env = i18n.environment(DictLoader(TEMPLATES))
        values = {
            "days": 2,
            "start": "a",
            "end": "b",
            "day": date(2026, 1, 2),
            "amount": 1,
            "share": 1,
            "count": 1,
        }

        def render(language: i18n.Language) -> str:
            return i18n.render(env, "page.html", language, name=language, **values)

        languages: list[i18n.Language] = ["ja", "en"] * 100
        pages = await asyncio.gather(*(asyncio.to_thread(render, language) for language in languages))
        for language, page in zip(languages, pages, strict=True):
            assert f'lang="{language}"' in page
            assert ("サインイン" in page) is (language == "ja")
            assert ("Sign in" in page) is (language == "en")
