"""FastAPI dependencies for items."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from platform_core.items import repository as item_repository
from platform_core.items.exceptions import ItemNotFound
from platform_core.items.models import Item
from platform_core.kernel.errors import raises
from platform_core.kernel.tenancy import TenantSessionDep


@raises(ItemNotFound)
async def get_current_item(item_id: uuid.UUID, session: TenantSessionDep) -> Item:
    """The live item named in the path, in the request's tenant; 404 otherwise."""
    item = await item_repository.get_live(session, item_id=item_id)
    if item is None:
        raise ItemNotFound
    return item


CurrentItem = Annotated[Item, Depends(get_current_item)]
