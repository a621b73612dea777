"""All item queries. The session is bound to one tenant's schema; no query here names a schema."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, String, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.items.models import Item
from platform_core.items.schemas import ItemSort
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page, fetch_page_rows, insert, paged, write
from platform_core.kernel.tenancy import TenantReader

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

    def shape(self) -> tuple[bool, bool, bool]:
        """Which filters are set: what changes the SQL (their values are bind parameters)."""
        return (bool(self.status), bool(self.tag), bool(self.q))

    def params(self) -> dict[str, Any]:
        """The bind parameters of the filters that are set."""
        values: dict[str, Any] = {}
        if self.status:
            values["status"] = self.status
        if self.tag:
            values["tag"] = [self.tag]
        if self.q:
            values["q"] = f"%{_escape_like(self.q)}%"
        return values


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(shape: tuple[bool, bool, bool]) -> list[ColumnElement[bool]]:
    status, tag, q = shape
    conditions: list[ColumnElement[bool]] = [Item.deleted_at.is_(None)]
    if status:
        conditions.append(Item.status == bindparam("status"))
    if tag:
        conditions.append(Item.tags.contains(bindparam("tag")))
    if q:
        pattern = bindparam("q", type_=String)
        conditions.append(or_(Item.title.ilike(pattern), Item.description.ilike(pattern)))
    return conditions


async def list_page(
    session: AsyncSession, *, flt: ItemFilter, sort: ItemSort, paging: PageParams
) -> tuple[list[Item], int]:
    """One page of live items and the total count, in a single round trip."""
    stmt = select(Item).where(*_conditions(flt.shape())).order_by(*_ORDER[sort])
    return await fetch_page(session, stmt, paging=paging, params=flt.params())


# The columns of the lean list, named as ItemRead's fields (checked by the items tests).
_T = Item.__table__
LIST_COLUMNS = (
    _T.c.id,
    _T.c.title,
    _T.c.description,
    _T.c.status,
    _T.c.tags,
    _T.c.created_at,
    _T.c.updated_at,
)


def _list_rows_statement(sort: ItemSort, shape: tuple[bool, bool, bool]) -> Select[Any]:
    return paged(select(*LIST_COLUMNS).where(*_conditions(shape)).order_by(*_ORDER[sort]))


async def list_page_rows(
    reader: TenantReader, *, flt: ItemFilter, sort: ItemSort, paging: PageParams
) -> tuple[tuple[str, ...], Sequence[tuple[Any, ...]], int]:
    """One page of live items as rows (column names, rows, total): `list_page` without the ORM."""
    shape = flt.shape()
    read = reader.compiled(("items.list", sort, shape), lambda: _list_rows_statement(sort, shape))
    rows, total = await fetch_page_rows(reader, read, flt.params(), paging=paging)
    return read.columns[:-1], rows, total


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
