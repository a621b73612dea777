"""The worker side of tenant exports: build the archive (tenants.export, the same as `platformctl
tenants export`) into a temporary file, and upload it to the object storage in parts."""

from __future__ import annotations

import logging
import tempfile
import uuid
from typing import IO

from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.outages import is_database_unavailable
from platform_core.operators import repository
from platform_core.operators.models import TenantExport
from platform_core.operators.tenants import EXPORT_TASK
from platform_core.uploads.storage import ObjectStore, configured_store
from tenants.export import write_export
from tenants.models import Tenant
from workers.base import TaskContext, platform_task

logger = logging.getLogger("platform.operators")
PART_BYTES = 16 * 1024 * 1024  # multipart upload parts (S3 wants 5 MiB or more, but the last)
_HAS_DATA = {TenantStatus.ACTIVE.value, TenantStatus.SUSPENDED.value, TenantStatus.DELETING.value}


def export_key(export: TenantExport) -> str:
    """Where an export's archive is kept: outside the tenant's prefix, so a purge leaves it."""
    return f"exports/{export.tenant_id}/{export.id}.tar.gz"


def upload_file(store: ObjectStore, key: str, source: IO[bytes]) -> None:
    """Upload a file of any size to `key` in parts (nothing is visible until the last one is joined)."""
    upload_id = store.start_multipart(key, content_type="application/gzip")
    try:
        etags: list[str] = []
        while chunk := source.read(PART_BYTES):
            etags.append(store.upload_part(key, upload_id, len(etags) + 1, chunk))
        if not etags:
            etags.append(store.upload_part(key, upload_id, 1, b""))
        store.complete_multipart(key, upload_id, etags)
    except BaseException:
        store.abort_multipart(key, upload_id)
        raise


def _fail(export: TenantExport, error: str) -> None:
    export.status = "failed"
    export.error = error[:2000]
    export.finished_at = utcnow()


@platform_task(EXPORT_TASK)
def export_tenant(ctx: TaskContext, *, export_id: str) -> None:
    """Build one export; a failure is recorded on it (operators ask again), never retried blindly."""
    export = repository.lock_export(ctx.session, uuid.UUID(export_id))
    if export is None or export.status != "queued":
        return
    tenant = ctx.session.get(Tenant, export.tenant_id)
    store = configured_store()
    if tenant is None or tenant.status not in _HAS_DATA:
        _fail(export, "The tenant has no data to export any more.")
        return
    if store is None:
        _fail(export, "No object storage is configured (S3_BUCKET).")
        return
    key = export_key(export)
    try:
        with tempfile.TemporaryFile() as out:
            with ctx.db.sync_session(tenant.schema_name) as tenant_session:
                summary = write_export(
                    tenant_session, tenant=tenant, out=out, files=store, with_files=export.with_files
                )
            size = out.tell()
            out.seek(0)
            upload_file(store, key, out)
    except Exception as exc:
        if is_database_unavailable(exc):
            raise  # the wrapper retries once the database is back
        logger.exception("export %s of %s failed", export.id, tenant.slug)
        _fail(export, f"{type(exc).__name__}: {exc}")
        return
    export.status = "succeeded"
    export.object_key = key
    export.size_bytes = size
    export.rows = sum(summary.rows.values())
    export.files = summary.files
    export.finished_at = utcnow()
    logger.info("export %s of %s written: %d bytes", export.id, tenant.slug, size)
