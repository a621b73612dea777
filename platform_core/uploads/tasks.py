"""Upload tasks: the cleanup of pending uploads that were never completed, fanned out per tenant."""

from __future__ import annotations

from platform_core.uploads import service as upload_service
from platform_core.uploads.storage import get_store
from workers.base import TaskContext, platform_task, tenant_task
from workers.fanout import fan_out

CLEANUP_PERIOD = 24 * 3600  # pending uploads are removed a day after their link expired anyway


@platform_task("uploads.fan_out_cleanup")
def fan_out_cleanup(ctx: TaskContext) -> int:
    """Start one cleanup of expired pending uploads per active tenant, spread over a day."""
    return fan_out(ctx.session, "uploads.cleanup_expired", period_seconds=CLEANUP_PERIOD)


@tenant_task("uploads.cleanup_expired")
def cleanup_expired(ctx: TaskContext) -> int:
    """Delete a tenant's pending uploads long past their link, and any file they left in the storage."""
    return upload_service.delete_expired(ctx.session, get_store())
