"""What every domain repository shares: the page query, lookups by id, writes read back, locks, notices.

Each domain keeps its queries in its own `repository.py` (module functions taking the session); the
pieces they would otherwise repeat live here, so a list pages, a row is locked and a write reads back
the database's defaults the same way everywhere. Nothing here names a schema: the session is bound to
one tenant's schema (or to `public`) before it reaches a repository.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Result, Select, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.kernel.db.reads import CompiledRead
from platform_core.kernel.paging import PageParams
from platform_core.kernel.tenancy import TenantReader

M = TypeVar("M")


async def fetch_page(
    session: AsyncSession, stmt: Select[Any], *, paging: PageParams, params: Mapping[str, Any] | None = None
) -> tuple[list[Any], int]:
    """Run `stmt` (one entity, filtered and ordered) for one page; return its rows and the total.

    The total is a window count on the same query, so a page costs one round trip; a page past the end
    has no row to carry it, and one more query (the first row) reads it. `params` fill the statement's
    named bind parameters, if it has any.
    """
    windowed = stmt.add_columns(func.count().over().label("total"))
    page = windowed.offset(paging.offset).limit(paging.limit)
    rows = (await session.execute(page, dict(params or {}))).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][-1])
    if paging.offset == 0:
        return [], 0
    first = (await session.execute(windowed.limit(1), dict(params or {}))).first()
    return [], int(first[-1]) if first else 0


def paged(stmt: Select[Any]) -> Select[Any]:
    """`stmt` (columns, filtered and ordered) as a page query for `fetch_page_rows`: the total as its
    last column (a window count), then limit and offset as bind parameters."""
    windowed = stmt.add_columns(func.count().over().label("page_total"))
    return windowed.limit(bindparam("page_limit")).offset(bindparam("page_offset"))


async def fetch_page_rows(
    reader: TenantReader, read: CompiledRead, params: Mapping[str, Any], *, paging: PageParams
) -> tuple[Sequence[tuple[Any, ...]], int]:
    """One page of a `paged` statement's rows (the total still their last value) and the total.

    The lean twin of `fetch_page` (kernel/db/reads.py): one statement per page, and one more for the
    total of a page past the end.
    """
    rows = await reader.rows(read, {**params, "page_limit": paging.limit, "page_offset": paging.offset})
    if rows:
        return rows, int(rows[0][-1])
    if paging.offset == 0:
        return [], 0
    first = await reader.rows(read, {**params, "page_limit": 1, "page_offset": 0})
    return [], int(first[0][-1]) if first else 0


async def get_by_id(session: AsyncSession, model: type[M], row_id: Any, *, lock: bool = False) -> M | None:
    """The row of `model` with this primary key; locked, and read afresh, when asked."""
    if not lock:
        return await session.get(model, row_id)
    return await session.get(model, row_id, with_for_update=True, populate_existing=True)


def get_by_id_sync(session: Session, model: type[M], row_id: Any, *, lock: bool = False) -> M | None:
    """`get_by_id` for sync sessions (tasks, the CLI)."""
    if not lock:
        return session.get(model, row_id)
    return session.get(model, row_id, with_for_update=True, populate_existing=True)


async def insert(session: AsyncSession, row: M) -> M:
    """Insert `row` now and read back what the database filled in (server defaults, timestamps)."""
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def write(session: AsyncSession, row: M, *, reload: list[str] | None = None) -> M:
    """Write the session's pending changes now and read `row` back (all of it, or the `reload` attributes)."""
    await session.flush()
    await session.refresh(row, attribute_names=reload)
    return row


async def remove(session: AsyncSession, row: object) -> None:
    """Delete `row` now (its foreign keys and constraints are checked by this flush)."""
    await session.delete(row)
    await session.flush()


async def advisory_xact_lock(session: AsyncSession, *, key: str) -> None:
    """Wait for, then hold until the transaction ends, the advisory lock named `key`.

    Callers scope the key by tenant (`members:<tenant id>`): serialising one decision per tenant (a
    seat, the last owner, the last free bytes) without locking a table.
    """
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


async def notify(session: AsyncSession, *, channel: str, payload: str) -> None:
    """Send NOTIFY `channel` in the session's transaction: listeners hear it only if it commits."""
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
    )


def notify_sync(session: Session, *, channel: str, payload: str) -> None:
    """`notify` for sync sessions (the CLI, workers)."""
    session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched."""
    return int(getattr(result, "rowcount", 0) or 0)
