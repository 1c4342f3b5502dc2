"""Server-side SVG charts: no script, no network, a title and a description for assistive technology.

Colours come from the stylesheet through class names; the markup carries no inline style, so the
pages' Content-Security-Policy can forbid inline styles and scripts alike.
"""

from __future__ import annotations

import math
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

from bpo.core.i18n import N_, Lang, lang

ENGLISH = lang("en")
UNITS = {"h": N_("%(num)s h"), "m": N_("%(num)s min"), "s": N_("%(num)s s")}

WIDTH = 480
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 30
LEGEND_TOP = 34
MAX_X_LABELS = 6


@dataclass(frozen=True)
class Plot:
    """The drawing area inside the axes, with a linear y scale from ``low`` to ``high``."""

    bands: int
    low: float
    high: float
    top: float = TOP

    @property
    def width(self) -> float:
        return WIDTH - LEFT - RIGHT

    @property
    def height(self) -> float:
        return HEIGHT - self.top - BOTTOM

    @property
    def band(self) -> float:
        return self.width / max(self.bands, 1)

    def x(self, index: int) -> float:
        return LEFT + (index + 0.5) * self.band

    def y(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low) if self.high > self.low else 0
        return self.top + self.height * (1 - share)


def nice_step(span: float, count: int) -> float:
    """A 1, 2, 2.5 or 5 times a power of ten step that cuts ``span`` into about ``count`` parts."""
    if span <= 0:
        return 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def ticks(low: float, high: float, count: int = 4) -> list[float]:
    step = nice_step(high - low, count)
    first = math.ceil(low / step) * step
    values = []
    value = first
    while value <= high + step / 1000:
        values.append(round(value, 6))
        value += step
    return values


def percent_floor(values: Sequence[float]) -> float:
    """The bottom of a percent axis: 0, or lower than every value by a margin, in tens, so a 94-99%
    month does not look flat on a 0-100 scale."""
    lowest = min(values, default=0.0)
    return float(max(0, math.floor((lowest - 5) / 10) * 10))


def _format_number(value: float) -> str:
    return f"{value:g}"


def format_percent(value: float | None, lang: Lang = ENGLISH) -> str:
    return lang.gettext("no data") if value is None else lang.percent(value)


def day_label(day: date, lang: Lang = ENGLISH) -> str:
    return lang.day(day, "short")


def span(duration: str, lang: Lang = ENGLISH) -> str:
    """An SLA duration as a policy writes it (``1h30m``, ``45s``), in words: 1 h 30 min / 1時間30分."""
    parts = []
    for amount, unit in re.findall(r"(\d+)([dhms])", duration):
        count = int(amount)
        if unit == "d":
            parts.append(lang.ngettext("%(num)s day", "%(num)s days", count))
        else:
            parts.append(lang.gettext(UNITS[unit], num=lang.number(count)))
    return (
        lang.gettext("%(first)s %(more)s", first=parts[0], more=" ".join(parts[1:]))
        if len(parts) > 1
        else (parts[0] if parts else duration)
    )


def _text_width(text: str) -> float:
    """About how wide ``text`` is drawn in a legend: a Japanese character takes nearly two columns."""
    return sum(15.0 if unicodedata.east_asian_width(char) in "WF" else 9.0 for char in text)


def _svg(chart_id: str, title: str, description: str) -> ET.Element:
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {WIDTH} {HEIGHT}",
            "class": "chart",
            "role": "img",
            "aria-labelledby": f"{chart_id}-title {chart_id}-desc",
            "id": chart_id,
            "focusable": "false",
        },
    )
    ET.SubElement(svg, "title", {"id": f"{chart_id}-title"}).text = title
    ET.SubElement(svg, "desc", {"id": f"{chart_id}-desc"}).text = description
    return svg


def _markup(svg: ET.Element) -> Markup:
    # ElementTree escapes every text and attribute value it writes.
    return Markup(ET.tostring(svg, encoding="unicode", short_empty_elements=True))  # noqa: S704


def _y_axis(svg: ET.Element, plot: Plot, values: Sequence[float], suffix: str = "") -> None:
    grid = ET.SubElement(svg, "g", {"class": "grid", "aria-hidden": "true"})
    for value in values:
        y = f"{plot.y(value):.1f}"
        ET.SubElement(grid, "line", {"x1": str(LEFT), "x2": str(WIDTH - RIGHT), "y1": y, "y2": y})
        label = ET.SubElement(grid, "text", {"x": str(LEFT - 6), "y": y, "class": "y-label"})
        label.text = _format_number(value) + suffix


def _x_axis(svg: ET.Element, plot: Plot, labels: Sequence[str]) -> None:
    axis = ET.SubElement(svg, "g", {"class": "x-axis", "aria-hidden": "true"})
    bottom = f"{plot.top + plot.height:.1f}"
    ET.SubElement(axis, "line", {"x1": str(LEFT), "x2": str(WIDTH - RIGHT), "y1": bottom, "y2": bottom})
    count = len(labels)
    if count == 0:
        return
    shown = min(count, MAX_X_LABELS)
    indexes = sorted({round(k * (count - 1) / max(shown - 1, 1)) for k in range(shown)})
    for index in indexes:
        text = ET.SubElement(
            axis, "text", {"x": f"{plot.x(index):.1f}", "y": str(HEIGHT - 10), "class": "x-label"}
        )
        text.text = labels[index]


def _legend(svg: ET.Element, entries: Sequence[tuple[str, str]]) -> None:
    """Line samples with their names, above the plot where they never cover a data point."""
    legend = ET.SubElement(svg, "g", {"class": "legend", "aria-hidden": "true"})
    x = float(LEFT)
    for css_class, name in entries:
        ET.SubElement(
            legend,
            "line",
            {"x1": f"{x:.1f}", "x2": f"{x + 22:.1f}", "y1": "12", "y2": "12", "class": css_class},
        )
        ET.SubElement(legend, "text", {"x": f"{x + 28:.1f}", "y": "12", "class": "legend-label"}).text = name
        x += 28 + _text_width(name) + 20


def _empty(svg: ET.Element, message: str) -> None:
    note = ET.SubElement(
        svg,
        "text",
        {"x": str(WIDTH / 2), "y": str(HEIGHT / 2), "class": "empty", "aria-hidden": "true"},
    )
    note.text = message


def _line(svg: ET.Element, plot: Plot, values: Sequence[float | None], css_class: str) -> None:
    """A path through the known values, broken where a value is missing rather than drawn across it."""
    commands = []
    pen_down = False
    for index, value in enumerate(values):
        if value is None:
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{plot.x(index):.1f},{plot.y(value):.1f}")
        pen_down = True
    if commands:
        ET.SubElement(svg, "path", {"d": " ".join(commands), "class": css_class, "aria-hidden": "true"})


def attainment_chart(
    chart_id: str,
    days: Sequence[date],
    attainment: Sequence[float | None],
    target: float,
    *,
    lang: Lang = ENGLISH,
    title: str = N_("Attainment against target, by day"),
    measured: str = N_("decided items"),
) -> Markup:
    """A day's attainment in percent (None: nothing ``measured`` that day) against the target line.
    ``title`` and ``measured`` are messages, translated here."""
    known = [(day, value) for day, value in zip(days, attainment, strict=True) if value is not None]
    first, last = day_label(days[0], lang), day_label(days[-1], lang)
    shown_target = lang.percent(target, 2, trim=True)
    things = lang.gettext(measured)
    if known:
        low_day, low = min(known, key=lambda pair: pair[1])
        high_day, high = max(known, key=lambda pair: pair[1])
        below = sum(1 for _, value in known if value < target)
        description = " ".join(
            (
                lang.gettext(
                    "Daily attainment from %(start)s to %(end)s, target %(target)s.",
                    start=first,
                    end=last,
                    target=shown_target,
                ),
                lang.gettext(
                    "%(known)s of %(total)s days have %(measured)s; lowest %(low)s on %(low_day)s, "
                    "highest %(high)s on %(high_day)s;",
                    known=len(known),
                    total=len(days),
                    measured=things,
                    low=format_percent(low, lang),
                    low_day=day_label(low_day, lang),
                    high=format_percent(high, lang),
                    high_day=day_label(high_day, lang),
                ),
                lang.ngettext("below target on %(num)s day.", "below target on %(num)s days.", below),
            )
        )
    else:
        description = lang.gettext(
            "No %(measured)s between %(start)s and %(end)s.", measured=things, start=first, end=last
        )
    svg = _svg(chart_id, lang.gettext(title), description)
    plot = Plot(len(days), percent_floor([target, *(value for _, value in known)]), 100.0, top=LEGEND_TOP)
    legend = [
        ("series", lang.gettext("attainment")),
        ("target", lang.gettext("target %(target)s", target=shown_target)),
    ]
    _legend(svg, legend)
    _y_axis(svg, plot, ticks(plot.low, plot.high), "%")
    _x_axis(svg, plot, [lang.day(day, "compact") for day in days])
    target_y = f"{plot.y(target):.1f}"
    ET.SubElement(
        svg,
        "line",
        {"x1": str(LEFT), "x2": str(WIDTH - RIGHT), "y1": target_y, "y2": target_y, "class": "target"},
    )
    if not known:
        _empty(svg, lang.gettext("No %(measured)s in this period", measured=things))
        return _markup(svg)
    _line(svg, plot, attainment, "series")
    radius = f"{min(4.0, max(plot.band / 3, 1.5)):.1f}"
    points = ET.SubElement(svg, "g", {"class": "points"})
    for index, value in enumerate(attainment):
        if value is None:
            continue
        point = ET.SubElement(
            points,
            "circle",
            {
                "cx": f"{plot.x(index):.1f}",
                "cy": f"{plot.y(value):.1f}",
                "r": radius,
                "class": "point below" if value < target else "point",
            },
        )
        ET.SubElement(point, "title").text = f"{day_label(days[index], lang)}: {format_percent(value, lang)}"
    return _markup(svg)


def checkpoint_chart(
    chart_id: str, checkpoints: Sequence[str], percents: Sequence[float | None], *, lang: Lang = ENGLISH
) -> Markup:
    names = [span(name, lang) for name in checkpoints]
    parts = [
        lang.gettext("within %(checkpoint)s: %(share)s", checkpoint=name, share=format_percent(value, lang))
        for name, value in zip(names, percents, strict=True)
    ]
    description = lang.gettext(
        "Share of items answered within each checkpoint: %(parts)s.", parts="; ".join(parts)
    )
    svg = _svg(chart_id, lang.gettext("Checkpoint curve: share answered within each checkpoint"), description)
    plot = Plot(len(checkpoints), 0.0, 100.0)
    _y_axis(svg, plot, ticks(0, 100), "%")
    _x_axis(svg, plot, names)
    if all(value is None for value in percents):
        _empty(svg, lang.gettext("No answered items in this period"))
        return _markup(svg)
    _line(svg, plot, percents, "series")
    points = ET.SubElement(svg, "g", {"class": "points"})
    for index, value in enumerate(percents):
        if value is None:
            continue
        x, y = f"{plot.x(index):.1f}", f"{plot.y(value):.1f}"
        point = ET.SubElement(points, "circle", {"cx": x, "cy": y, "r": "4", "class": "point"})
        ET.SubElement(point, "title").text = parts[index]
        label = ET.SubElement(
            points,
            "text",
            {
                "x": x,
                "y": f"{max(plot.y(value) - 8, plot.top + 8):.1f}",
                "class": "value-label",
                "aria-hidden": "true",
            },
        )
        label.text = format_percent(value, lang)
    return _markup(svg)


def volume_chart(
    chart_id: str, days: Sequence[date], received: Sequence[int], *, lang: Lang = ENGLISH
) -> Markup:
    total = sum(received)
    first, last = day_label(days[0], lang), day_label(days[-1], lang)
    if total:
        busiest = max(range(len(days)), key=lambda index: received[index])
        description = lang.gettext(
            "Items received per day from %(start)s to %(end)s: %(total)s in total, most on %(day)s with "
            "%(count)s.",
            start=first,
            end=last,
            total=lang.number(total),
            day=day_label(days[busiest], lang),
            count=lang.number(received[busiest]),
        )
    else:
        description = lang.gettext("No items received between %(start)s and %(end)s.", start=first, end=last)
    svg = _svg(chart_id, lang.gettext("Items received by day"), description)
    top = max(received, default=0)
    step = nice_step(top, 4) if top else 1.0
    plot = Plot(len(days), 0.0, max(math.ceil(top / step) * step, step))
    _y_axis(svg, plot, ticks(0, plot.high))
    _x_axis(svg, plot, [lang.day(day, "compact") for day in days])
    if not total:
        _empty(svg, lang.gettext("No items received in this period"))
        return _markup(svg)
    bars = ET.SubElement(svg, "g", {"class": "bars"})
    width = max(plot.band * 0.7, 1.0)
    for index, count in enumerate(received):
        if not count:
            continue
        y = plot.y(count)
        bar = ET.SubElement(
            bars,
            "rect",
            {
                "x": f"{plot.x(index) - width / 2:.1f}",
                "y": f"{y:.1f}",
                "width": f"{width:.1f}",
                "height": f"{plot.top + plot.height - y:.1f}",
                "class": "bar",
            },
        )
        ET.SubElement(bar, "title").text = lang.gettext(
            "%(day)s: %(count)s received", day=day_label(days[index], lang), count=lang.number(count)
        )
    return _markup(svg)
