"""Upload tasks: the cleanup of pending uploads never completed (fanned out per tenant), and the removal
of a purged tenant's files."""

from __future__ import annotations

import logging

from platform_core.uploads import repository as upload_repository
from platform_core.uploads import service as upload_service
from platform_core.uploads.exceptions import StorageUnavailable
from platform_core.uploads.models import Upload
from platform_core.uploads.orphans import delete_orphans
from platform_core.uploads.storage import configured_store
from tenants.lifecycle import PURGE_FILES_TASK
from workers.base import TaskContext, platform_task, tenant_task
from workers.email.tasks import retry_countdown
from workers.fanout import fan_out

logger = logging.getLogger("platform.uploads")
CLEANUP_PERIOD = 24 * 3600  # pending uploads are removed a day after their link expired anyway


@platform_task("uploads.fan_out_cleanup")
def fan_out_cleanup(ctx: TaskContext) -> int:
    """Start one cleanup of expired pending uploads per active tenant, spread over a day."""
    return fan_out(ctx.session, "uploads.cleanup_expired", period_seconds=CLEANUP_PERIOD)


@tenant_task("uploads.cleanup_expired")
def cleanup_expired(ctx: TaskContext) -> int:
    """Delete a tenant's pending uploads long past their link and any file they left in the storage,
    then the tenant's upload objects no row refers to; return how many of each went, together."""
    store = configured_store()
    if store is None:
        return 0  # no object storage here: no uploads, no files
    removed = upload_service.delete_expired(ctx.session, store)
    assert ctx.tenant is not None  # a tenant task
    orphans = delete_orphans(ctx.session, store, ctx.tenant.id, kind="uploads", rows=Upload)
    if orphans:
        logger.info("deleted %d object(s) no row refers to", orphans)
    return removed + orphans


@platform_task(PURGE_FILES_TASK, max_retries=None)
def purge_tenant_files(ctx: TaskContext, *, tenant_id: str) -> int:
    """Delete every object under a purged tenant's key prefix (retried while the storage fails)."""
    store = configured_store()
    if store is None:
        return 0  # no object storage here: the tenant had no files
    try:
        removed = store.delete_prefix(upload_service.tenant_prefix(tenant_id))
    except StorageUnavailable as exc:
        raise ctx.task.retry(exc=exc, countdown=retry_countdown(ctx.attempt, base=60, cap=3600)) from exc
    logger.info("purged tenant %s: %d file(s) deleted from the storage", tenant_id, removed)
    return removed


@tenant_task(upload_service.LATE_OBJECT_TASK)
def delete_late_object(ctx: TaskContext, *, key: str) -> bool:
    """Delete an object posted with the signed form of an upload deleted before the form expired."""
    assert ctx.tenant is not None  # a tenant task
    store = configured_store()
    if store is None or not key.startswith(upload_service.tenant_prefix(ctx.tenant.id)):
        return False  # never outside the tenant's own prefix
    if upload_repository.get_by_key(ctx.session, key) is not None:
        return False  # the key is in use again (it never is: keys carry the upload's id)
    store.delete(key)
    return True
