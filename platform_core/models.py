"""Import every ORM model so both metadata collections are complete (migrations, provisioning, tests)."""

from __future__ import annotations

from platform_core.db.base import PublicBase, TenantBase
from platform_core.items import models as items_models
from platform_core.jobs import models as jobs_models
from platform_core.reports import models as reports_models
from tenants import models as tenants_models
from workers import models as workers_models

__all__ = [
    "PublicBase",
    "TenantBase",
    "items_models",
    "jobs_models",
    "reports_models",
    "tenants_models",
    "workers_models",
]
