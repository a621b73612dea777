"""FastAPI dependencies for API keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from platform_core.access.models import ApiKey
from platform_core.api_keys import repository as api_key_repository
from platform_core.api_keys.exceptions import ApiKeyNotFound
from platform_core.kernel.errors import raises
from platform_core.kernel.tenancy import TenantSessionDep


@raises(ApiKeyNotFound)
async def get_current_api_key(key_id: uuid.UUID, session: TenantSessionDep) -> ApiKey:
    """The API key named in the path, in the request's tenant; 404 otherwise."""
    key = await api_key_repository.get(session, key_id=key_id)
    if key is None:
        raise ApiKeyNotFound
    return key


CurrentApiKey = Annotated[ApiKey, Depends(get_current_api_key)]
