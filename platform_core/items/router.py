"""HTTP routes for items, served on a tenant's host."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from platform_core.access.dependencies import ItemsRead, ItemsWrite
from platform_core.items import service as item_service
from platform_core.items.dependencies import CurrentItem
from platform_core.items.models import Item, ItemStatus
from platform_core.items.repository import ItemFilter
from platform_core.items.schemas import ItemCreate, ItemPage, ItemRead, ItemSort, ItemUpdate
from platform_core.kernel.paging import PageDep
from platform_core.kernel.tenancy import TenantReaderDep, TenantSessionDep

router = APIRouter(prefix="/api/v1/items", tags=["items"])


@router.get("", response_model=ItemPage)
async def list_items(
    principal: ItemsRead,
    reader: TenantReaderDep,
    paging: PageDep,
    status: ItemStatus | None = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    sort: ItemSort = ItemSort.CREATED_DESC,
) -> Response:
    """List live items, filtered by status, tag or text, paged and sorted."""
    flt = ItemFilter(status=status.value if status else None, tag=tag.lower() if tag else None, q=q)
    body = await item_service.list_items_json(reader, flt, sort=sort, paging=paging)
    return Response(body, media_type="application/json")  # encoded once: FastAPI validates no model


@router.post("", status_code=201, response_model=ItemRead)
async def create_item(principal: ItemsWrite, body: ItemCreate, session: TenantSessionDep) -> Item:
    """Create an item."""
    return await item_service.create_item(session, body)


@router.get("/{item_id}", response_model=ItemRead)
async def get_item(principal: ItemsRead, item: CurrentItem) -> Item:
    """Get one item."""
    return item


@router.patch("/{item_id}", response_model=ItemRead)
async def update_item(
    principal: ItemsWrite, item: CurrentItem, body: ItemUpdate, session: TenantSessionDep
) -> Item:
    """Change an item's fields."""
    return await item_service.update_item(session, item, body)


@router.delete("/{item_id}", status_code=204)
async def delete_item(principal: ItemsWrite, item: CurrentItem, session: TenantSessionDep) -> None:
    """Delete an item (soft: it can no longer be read)."""
    await item_service.delete_item(session, item)
