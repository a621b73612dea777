"""All item queries. The session is bound to one tenant's schema; no query here names a schema."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.items.models import Item
from platform_core.items.schemas import ItemSort
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page, insert, write

_ORDER: dict[ItemSort, tuple[ColumnElement[Any], ...]] = {
    ItemSort.CREATED: (Item.created_at.asc(), Item.id.asc()),
    ItemSort.CREATED_DESC: (Item.created_at.desc(), Item.id.desc()),
    ItemSort.TITLE: (Item.title.asc(), Item.id.asc()),
    ItemSort.TITLE_DESC: (Item.title.desc(), Item.id.desc()),
}


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Filters for listing items."""

    status: str | None = None
    tag: str | None = None
    q: str | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(flt: ItemFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Item.deleted_at.is_(None)]
    if flt.status:
        conditions.append(Item.status == flt.status)
    if flt.tag:
        conditions.append(Item.tags.contains([flt.tag]))
    if flt.q:
        pattern = f"%{_escape_like(flt.q)}%"
        conditions.append(or_(Item.title.ilike(pattern), Item.description.ilike(pattern)))
    return conditions


async def list_page(
    session: AsyncSession, *, flt: ItemFilter, sort: ItemSort, paging: PageParams
) -> tuple[list[Item], int]:
    """One page of live items and the total count, in a single round trip."""
    stmt = select(Item).where(*_conditions(flt)).order_by(*_ORDER[sort])
    return await fetch_page(session, stmt, paging=paging)


async def get_live(session: AsyncSession, *, item_id: uuid.UUID) -> Item | None:
    """A live (not soft-deleted) item by id."""
    stmt = select(Item).where(Item.id == item_id, Item.deleted_at.is_(None))
    return (await session.scalars(stmt)).first()


async def create(session: AsyncSession, *, item: Item) -> Item:
    """Insert a new item now, with its timestamps read back."""
    return await insert(session, item)


async def save(session: AsyncSession, *, item: Item) -> Item:
    """Write an item's pending changes now and read it back (its new `updated_at`)."""
    return await write(session, item)
