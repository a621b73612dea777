"""Job tasks: the daily cleanup of finished jobs, fanned out per tenant.

The names keep their `maintenance.` prefix from when the work queue owned them: rows already in the
outbox, and a beat still running the previous release, name them so.
"""

from __future__ import annotations

from datetime import timedelta

from platform_core.jobs import repository as job_repository
from platform_core.kernel.db.base import utcnow
from workers.base import TaskContext, platform_task, tenant_task
from workers.fanout import fan_out
from workers.settings import get_outbox_settings

CLEANUP_TASK = "maintenance.cleanup_jobs"
CLEANUP_PERIOD = 24 * 3600


@platform_task("maintenance.fan_out_job_cleanup")
def fan_out_job_cleanup(ctx: TaskContext) -> int:
    """Start one job cleanup per active tenant, spread over a day."""
    return fan_out(ctx.session, CLEANUP_TASK, period_seconds=CLEANUP_PERIOD)


@tenant_task(CLEANUP_TASK)
def cleanup_jobs(ctx: TaskContext) -> int:
    """Delete a tenant's finished jobs older than the job retention period."""
    cutoff = utcnow() - timedelta(days=get_outbox_settings().job_retention_days)
    return job_repository.delete_finished_before(ctx.session, cutoff)
