"""The browser dashboard: signing in the way a browser without JavaScript does, and what a Chromium run
reads off the page."""

from __future__ import annotations

import html
import re

import httpx

from tests.support.chromium import Page
from tests.support.factories import PASSWORD

CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_of(response: httpx.Response) -> str:
    found = CSRF_INPUT.search(response.text)
    assert found, response.text[:500]
    return found.group(1)


async def sign_in(
    browser: httpx.AsyncClient, slug: str, email: str, password: str = PASSWORD
) -> httpx.Response:
    form = await browser.get("/dashboard/login")
    assert form.status_code == 200, form.text
    fields = {"tenant": slug, "email": email, "password": password, "csrf_token": csrf_of(form)}
    return await browser.post("/dashboard/login", data=fields)


async def sign_in_on_page(page: Page, base_url: str, slug: str, email: str, password: str = PASSWORD) -> None:
    """Fill in the login form in Chromium and send it, as a person does."""
    await page.goto(f"{base_url}/dashboard/login")
    await page.type_into("#tenant", slug)
    await page.type_into("#email", email)
    await page.type_into("#password", password)
    await page.press_enter()


def data_values(page: str, css_class: str) -> list[str]:
    """The values of the page's ``<data class="css_class">`` elements, in order."""
    return [html.unescape(v) for v in re.findall(rf'<data class="{css_class}" value="([^"]*)"', page)]


def data_value(page: str, css_class: str) -> str:
    values = data_values(page, css_class)
    assert values, css_class
    return values[0]


READ_DASHBOARD = """(() => {
  const value = (root, selector) => {
    const node = root.querySelector(selector);
    return node ? {value: node.value, text: node.textContent.trim()} : null;
  };
  const period = document.querySelector('.period');
  const charts = [...document.querySelectorAll('svg.chart[role="img"]')];
  return {
    start: period.dataset.start,
    end: period.dataset.end,
    charts: charts.length,
    chartsWithTitle: charts.filter(svg => svg.querySelector('title') && svg.querySelector('desc')).length,
    chartWidths: charts.map(svg => svg.getBoundingClientRect().width),
    cards: [...document.querySelectorAll('[data-contract-id]')].map(card => ({
      contract: card.dataset.contractId,
      received: value(card, 'data.volume-received'),
      coverage: card.querySelector('[data-coverage]') && {
        attainment: value(card.querySelector('[data-coverage]'), 'data.attainment'),
        target: value(card.querySelector('[data-coverage]'), 'data.target'),
        required: value(card, 'data.required-minutes'),
        staffed: value(card, 'data.fully-staffed-minutes'),
        status: card.querySelector('[data-coverage] .status').className,
      },
      objectives: [...card.querySelectorAll('[data-objective]')].map(section => ({
        key: section.dataset.objective,
        attainment: value(section, 'data.attainment'),
        target: value(section, 'data.target'),
        met: value(section, 'data.met'),
        breached: value(section, 'data.breached'),
        pending: value(section, 'data.pending'),
        status: section.querySelector('.status').className,
        checkpoints: [...section.querySelectorAll('tr[data-checkpoint]')].map(row => ({
          checkpoint: row.dataset.checkpoint,
          percent: row.querySelector('data').value,
        })),
      })),
    })),
  };
})()"""
