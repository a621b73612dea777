"""FastAPI dependencies for jobs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from platform_core.jobs import repository as job_repository
from platform_core.jobs.exceptions import JobNotFound
from platform_core.jobs.models import Job
from platform_core.kernel.errors import raises
from platform_core.kernel.tenancy import TenantSessionDep


@raises(JobNotFound)
async def get_current_job(job_id: uuid.UUID, session: TenantSessionDep) -> Job:
    """The job named in the path, in the request's tenant; 404 otherwise."""
    job = await job_repository.get(session, job_id=job_id)
    if job is None:
        raise JobNotFound
    return job


CurrentJob = Annotated[Job, Depends(get_current_job)]
