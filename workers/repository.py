"""All queries of the work queue: task runs (effect once) and the outbox rows the relay publishes and
the gauges count."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.kernel.outbox import OutboxMessage
from platform_core.kernel.repository import rowcount
from workers.models import TaskRun


def claim_run(session: Session, *, task_id: str, task_name: str, tenant_id: uuid.UUID | None) -> bool:
    """Record a task run in this transaction; False if a run of this task id already committed."""
    stmt = (
        insert(TaskRun)
        .values(task_id=task_id, task_name=task_name, tenant_id=tenant_id)
        .on_conflict_do_nothing(index_elements=["task_id"])
        .returning(TaskRun.task_id)
    )
    return session.execute(stmt).first() is not None


def due_messages(session: Session, *, limit: int) -> Sequence[OutboxMessage]:
    """Unpublished outbox rows that are due, oldest first, locked (SKIP LOCKED: relays share the work)."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.published_at.is_(None), OutboxMessage.available_at <= func.now())
        .order_by(OutboxMessage.available_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(stmt).all()


def mark_published(session: Session, message_ids: Sequence[uuid.UUID]) -> None:
    """Mark outbox rows published now (counting the attempt)."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .values(published_at=func.now(), attempts=OutboxMessage.attempts + 1)
    )


def delete_published_before(session: Session, cutoff: datetime) -> int:
    """Delete outbox rows published before `cutoff`; return how many."""
    result = session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.published_at.is_not(None), OutboxMessage.published_at < cutoff
        )
    )
    return rowcount(result)


def delete_runs_before(session: Session, cutoff: datetime) -> int:
    """Delete task-run records finished before `cutoff`; return how many."""
    result = session.execute(delete(TaskRun).where(TaskRun.finished_at < cutoff))
    return rowcount(result)


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """Unpublished outbox rows, those whose publication already failed, and how long the oldest due
    one has waited (0 when none is due)."""

    pending: int
    retrying: int
    oldest_due_seconds: float


async def outbox_backlog(session: AsyncSession) -> OutboxBacklog:
    """Count the unpublished outbox rows in one query (through the partial index on them)."""
    stmt = select(
        func.count(),
        func.count().filter(OutboxMessage.attempts > 0),
        func.extract(
            "epoch",
            func.now()
            - func.min(OutboxMessage.available_at).filter(OutboxMessage.available_at <= func.now()),
        ),
    ).where(OutboxMessage.published_at.is_(None))
    row = (await session.execute(stmt)).one()
    return OutboxBacklog(pending=row[0], retrying=row[1], oldest_due_seconds=float(row[2] or 0))
