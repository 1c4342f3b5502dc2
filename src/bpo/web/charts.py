"""Server-side SVG charts: no script, no network, a title and a description for assistive technology.

Colours come from the stylesheet through class names; the markup carries no inline style, so the
pages' Content-Security-Policy can forbid inline styles and scripts alike.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

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


def format_percent(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f}%"


def day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


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
        x += 28 + 9 * len(name) + 20


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
    title: str = "Attainment against target, by day",
    measured: str = "decided items",
) -> Markup:
    """A day's attainment in percent (None: nothing ``measured`` that day) against the target line."""
    known = [(day, value) for day, value in zip(days, attainment, strict=True) if value is not None]
    if known:
        low_day, low = min(known, key=lambda pair: pair[1])
        high_day, high = max(known, key=lambda pair: pair[1])
        below = sum(1 for _, value in known if value < target)
        description = (
            f"Daily attainment from {day_label(days[0])} to {day_label(days[-1])}, target {target:g}%. "
            f"{len(known)} of {len(days)} days have {measured}; lowest {format_percent(low)} on "
            f"{day_label(low_day)}, highest {format_percent(high)} on {day_label(high_day)}; "
            f"below target on {below} day{'s' if below != 1 else ''}."
        )
    else:
        description = f"No {measured} between {day_label(days[0])} and {day_label(days[-1])}."
    svg = _svg(chart_id, title, description)
    plot = Plot(len(days), percent_floor([target, *(value for _, value in known)]), 100.0, top=LEGEND_TOP)
    _legend(svg, [("series", "attainment"), ("target", f"target {target:g}%")])
    _y_axis(svg, plot, ticks(plot.low, plot.high), "%")
    _x_axis(svg, plot, [day_label(day) for day in days])
    target_y = f"{plot.y(target):.1f}"
    ET.SubElement(
        svg,
        "line",
        {"x1": str(LEFT), "x2": str(WIDTH - RIGHT), "y1": target_y, "y2": target_y, "class": "target"},
    )
    if not known:
        _empty(svg, f"No {measured} in this period")
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
        ET.SubElement(point, "title").text = f"{day_label(days[index])}: {format_percent(value)}"
    return _markup(svg)


def checkpoint_chart(chart_id: str, checkpoints: Sequence[str], percents: Sequence[float | None]) -> Markup:
    parts = [
        f"within {name}: {format_percent(value)}" for name, value in zip(checkpoints, percents, strict=True)
    ]
    description = "Share of items answered " + "; ".join(parts) + "."
    svg = _svg(chart_id, "Checkpoint curve: share answered within each checkpoint", description)
    plot = Plot(len(checkpoints), 0.0, 100.0)
    _y_axis(svg, plot, ticks(0, 100), "%")
    _x_axis(svg, plot, list(checkpoints))
    if all(value is None for value in percents):
        _empty(svg, "No answered items in this period")
        return _markup(svg)
    _line(svg, plot, percents, "series")
    points = ET.SubElement(svg, "g", {"class": "points"})
    for index, value in enumerate(percents):
        if value is None:
            continue
        x, y = f"{plot.x(index):.1f}", f"{plot.y(value):.1f}"
        point = ET.SubElement(points, "circle", {"cx": x, "cy": y, "r": "4", "class": "point"})
        ET.SubElement(point, "title").text = f"within {checkpoints[index]}: {format_percent(value)}"
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
        label.text = format_percent(value)
    return _markup(svg)


def volume_chart(chart_id: str, days: Sequence[date], received: Sequence[int]) -> Markup:
    total = sum(received)
    if total:
        busiest = max(range(len(days)), key=lambda index: received[index])
        description = (
            f"Items received per day from {day_label(days[0])} to {day_label(days[-1])}: {total} in total, "
            f"most on {day_label(days[busiest])} with {received[busiest]}."
        )
    else:
        description = f"No items received between {day_label(days[0])} and {day_label(days[-1])}."
    svg = _svg(chart_id, "Items received by day", description)
    top = max(received, default=0)
    step = nice_step(top, 4) if top else 1.0
    plot = Plot(len(days), 0.0, max(math.ceil(top / step) * step, step))
    _y_axis(svg, plot, ticks(0, plot.high))
    _x_axis(svg, plot, [day_label(day) for day in days])
    if not total:
        _empty(svg, "No items received in this period")
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
        ET.SubElement(bar, "title").text = f"{day_label(days[index])}: {count} received"
    return _markup(svg)
