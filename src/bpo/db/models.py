"""Every context's models, gathered so migrations see the whole schema."""

from bpo.billing import models as billing_models
from bpo.clients import models as clients_models
from bpo.core import models as core_models
from bpo.db.base import Base
from bpo.delivery import models as delivery_models
from bpo.sla import models as sla_models
from bpo.staffing import models as staffing_models
from bpo.tenancy import models as tenancy_models
from bpo.work import models as work_models

metadata = Base.metadata

__all__ = [
    "billing_models",
    "clients_models",
    "core_models",
    "delivery_models",
    "metadata",
    "sla_models",
    "staffing_models",
    "tenancy_models",
    "work_models",
]
