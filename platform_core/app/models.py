"""Import every ORM model so both metadata collections are complete (migrations, provisioning, tests)."""

from __future__ import annotations

from billing import models as billing_models
from platform_core.access import models as api_keys_models
from platform_core.access import models as auth_models
from platform_core.access import models as users_models
from platform_core.audit import models as audit_models
from platform_core.chat import models as chat_models
from platform_core.items import models as items_models
from platform_core.jobs import models as jobs_models
from platform_core.kernel.db.base import PublicBase, TenantBase, mark_models_registered
from platform_core.kernel.events import DomainEvent
from platform_core.kernel.outbox import OutboxMessage
from platform_core.operators import models as operators_models
from platform_core.reports import models as reports_models
from platform_core.tenant_settings import models as tenant_settings_models
from platform_core.uploads import models as uploads_models
from platform_core.webhooks import models as webhooks_models
from tenants import models as tenants_models
from workers import models as workers_models

__all__ = [
    "DomainEvent",
    "OutboxMessage",
    "PublicBase",
    "TenantBase",
    "api_keys_models",
    "audit_models",
    "auth_models",
    "billing_models",
    "chat_models",
    "items_models",
    "jobs_models",
    "operators_models",
    "reports_models",
    "tenant_settings_models",
    "tenants_models",
    "uploads_models",
    "users_models",
    "webhooks_models",
    "workers_models",
]

# Every model is imported above (the outbox's with the kernel): provisioning may build schemas now.
mark_models_registered(__name__)
