"""Job bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from platform_core.jobs.models import JobStatus
from platform_core.kernel.paging import Page


class JobRead(BaseModel):
    """A job as its tenant's users see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    type: str
    status: JobStatus
    progress: int
    params: dict[str, Any]
    result_url: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobPage(Page[JobRead]):
    """A page of jobs, newest first."""
