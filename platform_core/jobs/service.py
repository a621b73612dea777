"""Job rules: create a job with its task in one transaction, list jobs. Never commits (tasks report
through platform_core/jobs/tracker.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.jobs import repository as job_repository
from platform_core.jobs.models import Job, JobStatus
from platform_core.jobs.schemas import JobPage, JobRead
from platform_core.kernel.context import TenantContext
from platform_core.kernel.outbox import enqueue_async
from platform_core.kernel.paging import PageParams


async def start_job(
    session: AsyncSession,
    tenant: TenantContext,
    *,
    type_: str,
    task_name: str,
    params: dict[str, Any],
    user_id: uuid.UUID | None = None,
) -> Job:
    """Create a queued job and enqueue its task in the caller's transaction (both or neither).

    `user_id` is who asked for it: the job's realtime events (channel `jobs`) go to that user only.
    """
    job = Job(
        id=uuid.uuid4(), type=type_, status=JobStatus.QUEUED.value, progress=0, params=params, user_id=user_id
    )
    await job_repository.create(session, job=job)
    await enqueue_async(session, task_name, tenant_id=tenant.id, job_id=str(job.id), **params)
    return job


async def list_jobs(
    session: AsyncSession, *, status: str | None, type_: str | None, paging: PageParams
) -> JobPage:
    """A page of the tenant's jobs."""
    jobs, total = await job_repository.list_page(session, status=status, type_=type_, paging=paging)
    return JobPage.of([JobRead.model_validate(j) for j in jobs], total, paging)
