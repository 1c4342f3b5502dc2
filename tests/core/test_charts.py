"""The server-side SVG charts: axis arithmetic and what the markup says."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpo.core import charts, i18n

DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(7)]


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def tag(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def descendants(svg: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in svg.iter() if tag(e) == name]


@given(st.floats(min_value=1e-3, max_value=1e9), st.integers(min_value=1, max_value=10))
def test_nice_step_is_one_two_two_and_a_half_or_five_times_a_power_of_ten(span: float, count: int) -> None:
    step = charts.nice_step(span, count)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5, 10))
    assert step >= span / count * (1 - 1e-9)


@given(st.floats(min_value=0, max_value=1e6), st.floats(min_value=1e-2, max_value=1e6))
def test_ticks_stay_inside_the_range_and_cover_it(low: float, span: float) -> None:
    high = low + span
    values = charts.ticks(low, high)
    step = charts.nice_step(high - low, 4)
    assert values == sorted(values)
    assert values[0] >= low - step / 1000
    assert values[-1] <= high + step / 1000
    assert values[0] - low < step + 1e-6
    assert high - values[-1] < step + 1e-6


@given(st.lists(st.floats(min_value=0, max_value=100), min_size=1))
def test_percent_floor_sits_below_every_value_in_tens(values: list[float]) -> None:
    floor = charts.percent_floor(values)
    assert floor % 10 == 0
    assert 0 <= floor <= min(values)
    assert floor == 0 or floor <= min(values) - 5


def test_attainment_line_breaks_on_days_without_items_and_marks_misses() -> None:
    values = [100.0, 90.0, None, None, 96.0, 97.0, None]
    svg = parse(charts.attainment_chart("c1", DAYS, values, 95))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "c1-title c1-desc"
    (desc,) = descendants(svg, "desc")
    assert "4 of 7 days" in (desc.text or "")
    assert "below target on 1 day." in (desc.text or "")
    (series,) = [p for p in descendants(svg, "path") if p.get("class") == "series"]
    assert (series.get("d") or "").count("M") == 2
    points = descendants(svg, "circle")
    assert [p.get("class") for p in points] == ["point", "point below", "point", "point"]
    assert [t.text for p in points for t in p if tag(t) == "title"][1] == "2 Nov: 90.0%"


def test_empty_charts_say_so() -> None:
    for markup in (
        charts.attainment_chart("a", DAYS, [None] * 7, 95),
        charts.volume_chart("v", DAYS, [0] * 7),
        charts.checkpoint_chart("k", ["1h", "8h"], [None, None]),
    ):
        svg = parse(markup)
        assert not descendants(svg, "circle")
        assert not descendants(svg, "rect")
        assert [e.get("class") for e in descendants(svg, "text") if e.get("class") == "empty"] == ["empty"]


def test_volume_bars_are_as_tall_as_their_counts() -> None:
    svg = parse(charts.volume_chart("v", DAYS, [0, 10, 20, 0, 5, 0, 40]))
    bars = descendants(svg, "rect")
    heights = [float(bar.get("height") or 0) for bar in bars]
    assert len(bars) == 4
    # Drawn to a tenth of a unit.
    assert heights[1] == pytest.approx(2 * heights[0], abs=0.2)
    assert heights[3] == pytest.approx(8 * heights[2], abs=0.5)
    (desc,) = descendants(svg, "desc")
    assert desc.text == "Items received per day from 1 Nov to 7 Nov: 75 in total, most on 7 Nov with 40."


def test_markup_has_no_inline_style_for_the_csp() -> None:
    markup = charts.attainment_chart("a", DAYS, [50.0] * 7, 95) + charts.checkpoint_chart("k", ["1h"], [40.0])
    assert "style" not in markup


def test_charts_speak_the_readers_language() -> None:
    japanese = i18n.lang("ja")
    svg = parse(charts.volume_chart("v", DAYS, [0, 10, 20, 0, 5, 0, 40], lang=japanese))
    (title,) = [e for e in svg if tag(e) == "title"]
    (desc,) = descendants(svg, "desc")
    assert title.text == "日ごとの受付件数"
    assert desc.text == "11月1日〜11月7日の日ごとの受付件数：合計 75件、最多は11月7日の 40件。"  # noqa: RUF001
    assert next(t.text for t in descendants(svg, "text") if t.get("class") == "x-label") == "11/1"
    svg = parse(charts.checkpoint_chart("k", ["1h30m", "45s", "2d"], [40.0, None, 90.0], lang=japanese))
    assert [t.text for t in descendants(svg, "text") if t.get("class") == "x-label"] == [
        "1時間30分",
        "45秒",
        "2日",
    ]
    (desc,) = descendants(svg, "desc")
    assert "45秒以内：データなし" in (desc.text or "")  # noqa: RUF001
    english = parse(charts.checkpoint_chart("k", ["1h30m", "2d"], [40.0, 90.0], lang=i18n.lang("en")))
    assert [t.text for t in descendants(english, "text") if t.get("class") == "x-label"] == [
        "1 h 30 min",
        "2 days",
    ]
