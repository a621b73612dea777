"""All job queries (on a session bound to one tenant)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.jobs.models import Job
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page, get_by_id, get_by_id_sync, insert, rowcount


async def list_page(
    session: AsyncSession, *, status: str | None, type_: str | None, paging: PageParams
) -> tuple[list[Job], int]:
    """A page of jobs, newest first, and the total, in one query."""
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id.desc())
    if status:
        stmt = stmt.where(Job.status == status)
    if type_:
        stmt = stmt.where(Job.type == type_)
    return await fetch_page(session, stmt, paging=paging)


async def get(session: AsyncSession, *, job_id: uuid.UUID) -> Job | None:
    """A job by id."""
    return await get_by_id(session, Job, job_id)


async def create(session: AsyncSession, *, job: Job) -> Job:
    """Insert a new job now, with its timestamps read back."""
    return await insert(session, job)


def get_sync(session: Session, *, job_id: uuid.UUID) -> Job | None:
    """A job by id (tasks)."""
    return get_by_id_sync(session, Job, job_id)


def set_fields(session: Session, *, job_id: uuid.UUID, **values: object) -> None:
    """Update a job's fields."""
    session.execute(update(Job).where(Job.id == job_id).values(**values))


# Called as (session, cutoff) by the maintenance task.
def delete_finished_before(session: Session, cutoff: datetime) -> int:
    """Delete finished jobs older than cutoff; return how many."""
    return rowcount(
        session.execute(delete(Job).where(Job.finished_at.is_not(None), Job.finished_at < cutoff))
    )
