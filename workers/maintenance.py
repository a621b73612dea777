"""Periodic housekeeping: the outbox sweep and the cleanup of old outbox rows, task runs and jobs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from platform_core.jobs import repository as job_repository
from platform_core.kernel.db.base import utcnow
from platform_core.reports.models import Report
from platform_core.uploads.storage import get_store
from workers.base import TaskContext, platform_task, tenant_task
from workers.fanout import fan_out
from workers.models import OutboxMessage, TaskRun
from workers.outbox.relay import OutboxRelay
from workers.settings import get_outbox_settings

JOB_CLEANUP_PERIOD = 24 * 3600


@platform_task("maintenance.outbox_sweep")
def outbox_sweep(ctx: TaskContext) -> int:
    """Publish due outbox rows: a safety net for when no relay process is running."""
    return OutboxRelay(ctx.db, ctx.task.app, get_outbox_settings()).drain()


@platform_task("maintenance.cleanup_outbox")
def cleanup_outbox(ctx: TaskContext) -> int:
    """Delete published outbox rows and task-run records older than the retention period."""
    cutoff = utcnow() - timedelta(days=get_outbox_settings().retention_days)
    rows = ctx.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.published_at.is_not(None), OutboxMessage.published_at < cutoff
        )
    )
    runs = ctx.session.execute(delete(TaskRun).where(TaskRun.finished_at < cutoff))
    return int(rows.rowcount or 0) + int(runs.rowcount or 0)  # type: ignore[attr-defined]


@platform_task("maintenance.fan_out_job_cleanup")
def fan_out_job_cleanup(ctx: TaskContext) -> int:
    """Start one job cleanup per active tenant, spread over a day."""
    return fan_out(ctx.session, "maintenance.cleanup_jobs", period_seconds=JOB_CLEANUP_PERIOD)


@tenant_task("maintenance.cleanup_jobs")
def cleanup_jobs(ctx: TaskContext) -> int:
    """Delete a tenant's finished jobs, and their reports, older than the job retention period."""
    cutoff = utcnow() - timedelta(days=get_outbox_settings().job_retention_days)
    keys = ctx.session.scalars(delete(Report).where(Report.created_at < cutoff).returning(Report.key)).all()
    stored = [key for key in keys if key]
    if stored:  # the files go first: if the storage fails, the rows come back with the rollback
        get_store().delete_many(stored)
    return job_repository.delete_finished_before(ctx.session, cutoff)
