"""A report as people read it: one template for the page, the PDF and the mail's summary, in the report's
language; and as CSV for those who want the figures in a spreadsheet."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined

from bpo.core import i18n, mail
from bpo.core.i18n import N_, Language
from bpo.core.pdf import render_pdf_async
from bpo.reports import schemas
from bpo.reports.escalation_notices import SEVERITIES as ESCALATION_SEVERITIES
from bpo.sla import engine, wording
from bpo.sla.export import csv_percent
from bpo.work.voices import wording as voice_wording

TEMPLATE = "report.html"
# The report page carries its own styles (the same document is mailed and printed): its responses allow
# inline styles and nothing else, no script, no fetch, no framing.
DOCUMENT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
CADENCE_TITLES = {"weekly": N_("Weekly report"), "monthly": N_("Monthly report")}
TRENDS = {"up": "▲", "down": "▼", "flat": "→"}
VOICE_FILTERS = {
    "voice_label": i18n.with_lang(voice_wording.label),
    "voice_channel": i18n.with_lang(voice_wording.channel),
    "voice_sentiment": i18n.with_lang(voice_wording.sentiment),
    "voice_list": i18n.with_lang(voice_wording.listed),
}


def _environment() -> Environment:
    env = i18n.environment(
        PackageLoader("bpo.reports", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        objective_label=i18n.with_lang(wording.objective_label),
        work_type=i18n.with_lang(wording.work_type),
        duration=i18n.with_lang(wording.duration),
    )
    env.filters.update(VOICE_FILTERS)
    env.globals.update(
        STATUSES=wording.STATUSES, CADENCE_TITLES=CADENCE_TITLES, ESCALATION_SEVERITIES=ESCALATION_SEVERITIES
    )
    return env


ENVIRONMENT = _environment()


def title(report: schemas.Report, language: Language) -> str:
    words = i18n.lang(language)
    return words.gettext(
        "%(kind)s for %(client)s: %(start)s to %(end)s",
        kind=words.gettext(CADENCE_TITLES[report.cadence]),
        client=report.client_name,
        start=i18n.format_day(report.start, language),
        end=i18n.format_day(report.end, language),
    )


def render_html(report: schemas.Report, *, back_url: str | None = None, pdf_url: str | None = None) -> str:
    """The report as a whole HTML document (its own styles inline, A4 when printed)."""
    return i18n.render(
        ENVIRONMENT,
        TEMPLATE,
        report.language,
        report=report,
        title=title(report, report.language),
        trend=engine.trend,
        TRENDS=TRENDS,
        back_url=back_url,
        pdf_url=pdf_url,
    )


async def render_pdf(report: schemas.Report) -> bytes:
    return await render_pdf_async(render_html(report))


def filename(report: schemas.Report, suffix: str) -> str:
    return f"report-{report.client_code}-{report.period}.{suffix}"


CSV_COLUMNS = (
    "period",
    "start",
    "end",
    "contract_code",
    "contract_name",
    "objective",
    "target_percent",
    "attainment_percent",
    "previous_attainment_percent",
    "met",
    "breached",
    "pending",
    "received",
    "responded",
    "resolved",
)


def render_csv(report: schemas.Report) -> str:
    """One row per contract and objective (one row with no objective for a contract that has none)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for section in report.contracts:
        head = [report.period, report.start, report.end, section.contract_code, section.name]
        tail = [section.received, section.responded, section.resolved]
        if not section.objectives:
            writer.writerow([*head, "", "", "", "", "", "", "", *tail])
        for line in section.objectives:
            writer.writerow(
                [
                    *head,
                    line.key,
                    csv_percent(line.target_percent),
                    csv_percent(line.attainment),
                    csv_percent(line.previous_attainment),
                    line.met,
                    line.breached,
                    line.pending,
                    *tail,
                ]
            )
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class MailText:
    subject: str
    text: str
    html: str


def render_mail(report: schemas.Report, *, report_url: str, public_url: str, attached: bool) -> MailText:
    templates = MAIL_TEMPLATES
    subject = title(report, report.language)
    context = {
        "report": report,
        "subject": subject,
        "report_url": report_url,
        "public_url": public_url,
        "attached": attached,
        "trend": engine.trend,
        "TRENDS": TRENDS,
    }
    return MailText(
        subject=subject,
        text=i18n.render(templates, "mail/report.txt", report.language, **context),
        html=i18n.render(templates, "mail/report.html", report.language, **context),
    )


def _mail_environment() -> Environment:
    env = mail.mail_templates("bpo.reports")
    env.filters.update(objective_label=i18n.with_lang(wording.objective_label))
    env.filters.update(VOICE_FILTERS)
    env.globals.update(ESCALATION_SEVERITIES=ESCALATION_SEVERITIES)
    return env


MAIL_TEMPLATES = _mail_environment()
