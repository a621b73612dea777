"""Housekeeping of the work queue itself: the outbox sweep and the cleanup of old outbox rows and task
runs. The domains' periodic tasks live in their own `tasks.py`; the beat schedule names them all."""

from __future__ import annotations

from datetime import timedelta

from platform_core.kernel.db.base import utcnow
from workers import repository
from workers.base import TaskContext, platform_task
from workers.outbox.relay import OutboxRelay
from workers.settings import get_outbox_settings


@platform_task("maintenance.outbox_sweep")
def outbox_sweep(ctx: TaskContext) -> int:
    """Publish due outbox rows: a safety net for when no relay process is running."""
    return OutboxRelay(ctx.db, ctx.task.app, get_outbox_settings()).drain()


@platform_task("maintenance.cleanup_outbox")
def cleanup_outbox(ctx: TaskContext) -> int:
    """Delete published outbox rows and task-run records older than the retention period."""
    cutoff = utcnow() - timedelta(days=get_outbox_settings().retention_days)
    return repository.delete_published_before(ctx.session, cutoff) + repository.delete_runs_before(
        ctx.session, cutoff
    )
