"""The words people read for the SLA's terms, in their language: objectives, clocks, statuses, work
types, durations. The dashboard and the client reports both speak them, so they live below both."""

from __future__ import annotations

from typing import Protocol

from bpo.core import charts, i18n
from bpo.core.i18n import N_, Lang


class Measured(Protocol):
    """What names an objective: its key, metric and threshold (an SLA result or a report line)."""

    @property
    def key(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def threshold(self) -> str | None: ...


METRICS = {"first_response": N_("First response"), "resolution": N_("Resolution")}
CLOCKS = {"business_hours": N_("business hours"), "calendar": N_("calendar time")}
STATUSES = {"green": N_("On target"), "amber": N_("Near target"), "red": N_("Below target")}
WORK_TYPES = {
    "patrol": N_("Patrol"),
    "review": N_("Review"),
    "active_support": N_("Active support"),
    "email_support": N_("Email support"),
    "chat_support": N_("Chat support"),
    "violation_reports": N_("Violation reports"),
    "ad_trafficking": N_("Ad trafficking"),
    "voice_reporting": N_("Voice reporting"),
}


def objective_label(detail: Measured, lang: Lang) -> str:
    metric = METRICS.get(detail.metric)
    label = lang.gettext(metric) if metric else detail.metric.replace("_", " ").capitalize()
    if detail.threshold:
        label = lang.gettext(
            "%(metric)s within %(threshold)s", metric=label, threshold=charts.span(detail.threshold, lang)
        )
    _, _, scope_filter = detail.key.partition("|")
    if scope_filter:
        label += f" ({scope_filter.replace('|', ', ')})"
    return label


def hours(minutes: float, lang: Lang) -> str:
    return lang.gettext("%(num)s h", num=lang.number(minutes / 60, 1))


def duration(milliseconds: int | None, lang: Lang) -> str:
    if milliseconds is None:
        return i18n.MISSING
    if milliseconds < 1000:
        return lang.gettext("%(num)s ms", num=lang.number(milliseconds))
    seconds = milliseconds / 1000
    if seconds < 60:
        return lang.gettext("%(num)s s", num=lang.number(seconds, 0))
    if seconds < 3600:
        return lang.gettext("%(num)s min", num=lang.number(seconds / 60, 1))
    return lang.gettext("%(num)s h", num=lang.number(seconds / 3600, 1))


def work_type(name: str, lang: Lang) -> str:
    label = WORK_TYPES.get(name)
    return lang.gettext(label) if label else name.replace("_", " ")
