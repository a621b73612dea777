"""Report queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.items.models import Item
from platform_core.kernel.repository import get_by_id
from platform_core.reports.models import Report


async def get(session: AsyncSession, *, report_id: uuid.UUID) -> Report | None:
    """A built report."""
    return await get_by_id(session, Report, report_id)


def live_items(session: Session, batch: int = 1000) -> Iterator[Item]:
    """Every live item, oldest first, streamed in batches."""
    stmt = (
        select(Item)
        .where(Item.deleted_at.is_(None))
        .order_by(Item.created_at, Item.id)
        .execution_options(yield_per=batch)
    )
    yield from session.scalars(stmt)


def count_live_items(session: Session) -> int:
    """How many live items there are."""
    return int(session.scalar(select(func.count()).select_from(Item).where(Item.deleted_at.is_(None))) or 0)


def save(session: Session, report: Report) -> None:
    """Stage a built report."""
    session.add(report)


def delete_created_before(session: Session, cutoff: datetime) -> list[str]:
    """Delete reports built before `cutoff`; return the storage keys of those kept in the storage."""
    keys = session.scalars(delete(Report).where(Report.created_at < cutoff).returning(Report.key)).all()
    return [key for key in keys if key]
