"""Item rules. Services never commit: the request does, once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.items import repository as item_repository
from platform_core.items.models import Item
from platform_core.items.schemas import ItemCreate, ItemPage, ItemRead, ItemSort, ItemUpdate
from platform_core.kernel import events
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.paging import PageParams, encode_page
from platform_core.kernel.tenancy import TenantReader


async def list_items(
    session: AsyncSession, flt: item_repository.ItemFilter, *, sort: ItemSort, paging: PageParams
) -> ItemPage:
    """A page of the tenant's live items."""
    items, total = await item_repository.list_page(session, flt=flt, sort=sort, paging=paging)
    return ItemPage.of([ItemRead.model_validate(i) for i in items], total, paging)


async def list_items_json(
    reader: TenantReader, flt: item_repository.ItemFilter, *, sort: ItemSort, paging: PageParams
) -> bytes:
    """`list_items` as the JSON it serialises to, read and encoded without model objects (the API's
    list route: its hottest path)."""
    columns, rows, total = await item_repository.list_page_rows(reader, flt=flt, sort=sort, paging=paging)
    return encode_page(columns, rows, total, paging)


async def create_item(session: AsyncSession, body: ItemCreate) -> Item:
    """Create an item."""
    item = Item(title=body.title, description=body.description, status=body.status.value, tags=body.tags)
    item = await item_repository.create(session, item=item)
    await events.record(session, "item.created", _data(item))
    return item


async def update_item(session: AsyncSession, item: Item, body: ItemUpdate) -> Item:
    """Apply a partial update."""
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field in ("title", "status", "tags"):
            continue  # these cannot be null; an explicit null leaves them unchanged
        setattr(item, field, value.value if field == "status" else value)
    item = await item_repository.save(session, item=item)
    await events.record(session, "item.updated", _data(item))
    return item


async def delete_item(session: AsyncSession, item: Item) -> None:
    """Soft-delete an item: it disappears from every read."""
    item.deleted_at = utcnow()
    await session.flush()
    await events.record(session, "item.deleted", events.ItemDeletedData(id=item.id, title=item.title))


def _data(item: Item) -> events.ItemData:
    return events.ItemData.model_validate(item, from_attributes=True)
