"""The browser dashboard: server-rendered SLA pages for client viewers and operator staff, and the API's
documents rendered from the same templates (``API_ROUTES``: invoice PDFs)."""

from bpo.web.invoices import API_ROUTES, INVOICE_PAGES
from bpo.web.items import ITEM_PAGES
from bpo.web.pages import DASHBOARD
from bpo.web.reports import REPORT_PAGES
from bpo.web.views import TEMPLATES

__all__ = ["API_ROUTES", "DASHBOARD", "INVOICE_PAGES", "ITEM_PAGES", "REPORT_PAGES", "TEMPLATES"]
