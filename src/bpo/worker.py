"""Dramatiq worker entry: configures the broker, then imports every context's actors."""

from __future__ import annotations

import importlib

# Every context's tables, so that foreign keys from one context's tables to another's resolve.
import bpo.models  # noqa: F401
from bpo.core.jobs.broker import setup_broker
from bpo.core.logging import configure_logging
from bpo.core.runtime import freeze_startup_objects
from bpo.settings import get_settings

TASK_MODULES = (
    "bpo.tenancy.tasks",
    "bpo.sla.tasks",
    "bpo.billing.tasks",
    "bpo.staffing.tasks",
    "bpo.delivery.tasks",
    "bpo.reports.tasks",
    "bpo.notifications.tasks",
)

settings = get_settings()
configure_logging(settings)
broker = setup_broker(settings)
for module in TASK_MODULES:
    importlib.import_module(module)
freeze_startup_objects()
