"""The browser dashboard: server-rendered SLA pages for client viewers and operator staff."""

from bpo.web.pages import DASHBOARD
from bpo.web.views import TEMPLATES

__all__ = ["DASHBOARD", "TEMPLATES"]
