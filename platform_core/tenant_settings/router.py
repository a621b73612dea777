"""HTTP routes: the tenant's own settings (need tenant:settings)."""

from __future__ import annotations

from fastapi import APIRouter

from platform_core.access.dependencies import TenantSettingsManage
from platform_core.kernel.tenancy import TenantSessionDep
from platform_core.tenant_settings import service as tenant_settings_service
from platform_core.tenant_settings.models import TenantSettings
from platform_core.tenant_settings.schemas import TenantSettingsRead, TenantSettingsUpdate

router = APIRouter(prefix="/api/v1/tenant/settings", tags=["tenant settings"])


@router.get("", response_model=TenantSettingsRead)
async def get_tenant_settings(principal: TenantSettingsManage, session: TenantSessionDep) -> TenantSettings:
    """Get the tenant's settings."""
    return await tenant_settings_service.get(session)


@router.patch("", response_model=TenantSettingsRead)
async def update_tenant_settings(
    principal: TenantSettingsManage, body: TenantSettingsUpdate, session: TenantSessionDep
) -> TenantSettings:
    """Change the tenant's settings; only the fields sent change."""
    changes = body.model_dump(exclude_unset=True)
    return await tenant_settings_service.update(session, principal.actor, changes=changes)
