"""Job errors."""

from __future__ import annotations

from platform_core.kernel.errors import NotFound


class JobNotFound(NotFound):
    """No such job in this tenant."""

    code = "job_not_found"
    message = "Job not found."
