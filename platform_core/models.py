"""Import every ORM model so both metadata collections are complete (migrations, provisioning, tests)."""

from __future__ import annotations

from platform_core.db.base import PublicBase, TenantBase
from platform_core.items import models as items_models
from tenants import models as tenants_models

__all__ = ["PublicBase", "TenantBase", "items_models", "tenants_models"]
