"""Jobs API: a tenant's users follow their background work here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from platform_core.access.dependencies import JobsRead
from platform_core.jobs import service as job_service
from platform_core.jobs.dependencies import CurrentJob
from platform_core.jobs.models import Job, JobStatus
from platform_core.jobs.schemas import JobPage, JobRead
from platform_core.kernel.paging import PageDep
from platform_core.kernel.tenancy import TenantSessionDep

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("", response_model=JobPage)
async def list_jobs(
    principal: JobsRead,
    session: TenantSessionDep,
    paging: PageDep,
    status: JobStatus | None = None,
    type: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> JobPage:
    """List the tenant's jobs, newest first."""
    return await job_service.list_jobs(
        session, status=status.value if status else None, type_=type, paging=paging
    )


@router.get("/{job_id}", response_model=JobRead)
async def get_job(principal: JobsRead, job: CurrentJob) -> Job:
    """Get one job: status, progress, result link or error."""
    return job
