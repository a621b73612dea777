"""HTTP routes: API keys for machine access (all need api_keys:manage)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from billing.dependencies import ApiKeysFeature
from platform_core.access.dependencies import ApiKeysManage
from platform_core.api_keys import service as api_key_service
from platform_core.api_keys.dependencies import CurrentApiKey
from platform_core.api_keys.exceptions import InvalidExpiry, UnknownPermission
from platform_core.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPage, ApiKeyRead, api_key_read
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.errors import raises
from platform_core.kernel.paging import PageDep
from platform_core.kernel.tenancy import TenantSessionDep
from platform_core.members.exceptions import CannotGrant

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])


@router.get("", response_model=ApiKeyPage)
async def list_api_keys(
    principal: ApiKeysManage,
    session: TenantSessionDep,
    paging: PageDep,
) -> ApiKeyPage:
    """List the tenant's API keys, newest first, revoked and expired ones included."""
    return await api_key_service.list_api_keys(session, paging)


@router.post("", status_code=201, response_model=ApiKeyCreated)
@raises(UnknownPermission, InvalidExpiry, CannotGrant)
async def create_api_key(
    principal: ApiKeysManage,
    plan: ApiKeysFeature,
    body: ApiKeyCreate,
    session: TenantSessionDep,
    response: Response,
) -> ApiKeyCreated:
    """Create an API key within your own permissions; its secret is shown in this response only."""
    response.headers["Cache-Control"] = "no-store"
    return await api_key_service.create_api_key(session, principal, body)


@router.get("/{key_id}", response_model=ApiKeyRead)
async def get_api_key(principal: ApiKeysManage, key: CurrentApiKey) -> ApiKeyRead:
    """Get one API key (never its secret)."""
    return api_key_read(key, now=utcnow())


@router.delete("/{key_id}", status_code=204)
async def revoke_api_key(principal: ApiKeysManage, key: CurrentApiKey, session: TenantSessionDep) -> None:
    """Revoke an API key at once; revoking it again is a no-op."""
    await api_key_service.revoke_api_key(session, principal, key)
