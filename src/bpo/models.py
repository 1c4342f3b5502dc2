"""Every context's models, gathered so that migrations see the whole schema and every process (API,
worker, scheduler, command line) has every table a foreign key may name."""

from bpo.billing import models as billing_models
from bpo.clients import models as clients_models
from bpo.core import models as core_models
from bpo.core.jobs import models as jobs_models
from bpo.core.orm import Base
from bpo.delivery import models as delivery_models
from bpo.notifications import models as notification_models
from bpo.reports import models as reports_models
from bpo.sla import models as sla_models
from bpo.staffing import models as staffing_models
from bpo.staffing import notice_models
from bpo.tenancy import models as tenancy_models
from bpo.work import escalation_models
from bpo.work import models as work_models
from bpo.work.voices import models as voice_models

metadata = Base.metadata

__all__ = [
    "billing_models",
    "clients_models",
    "core_models",
    "delivery_models",
    "escalation_models",
    "jobs_models",
    "metadata",
    "notice_models",
    "notification_models",
    "reports_models",
    "sla_models",
    "staffing_models",
    "tenancy_models",
    "voice_models",
    "work_models",
]
