"""Report tasks (queue `reports`): building a report, and the daily cleanup of old reports and of report
files no row refers to, fanned out per tenant."""

from __future__ import annotations

import csv
import io
import logging
import uuid
from datetime import timedelta

from platform_core.jobs.tracker import JobTracker, job_task
from platform_core.kernel import events
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.settings import get_settings
from platform_core.reports import csv_safety
from platform_core.reports import repository as report_repository
from platform_core.reports.models import Report
from platform_core.uploads.orphans import delete_orphans
from platform_core.uploads.storage import configured_store
from workers.base import TaskContext, platform_task, tenant_task
from workers.email.tasks import send_email_later
from workers.fanout import fan_out
from workers.settings import get_outbox_settings

logger = logging.getLogger("platform.reports")
CLEANUP_TASK = "reports.cleanup"
CLEANUP_PERIOD = 24 * 3600
COLUMNS = ("id", "title", "status", "tags", "description", "created_at", "updated_at")
PROGRESS_EVERY = 500


def job_page(job_id: uuid.UUID) -> str:
    """The path of a job's page in the tenant console, where its report is downloaded."""
    return f"/jobs/{job_id}"


def report_key(tenant_id: uuid.UUID, report: Report) -> str:
    """Where a report's file is kept in the object storage: under its tenant's prefix."""
    return f"tenants/{tenant_id}/reports/{report.id}/{report.filename}"


def store_report(report: Report, content: bytes, tenant_id: uuid.UUID | None) -> None:
    """Put the file in the object storage when one is configured, else in the row.

    The object is written before the row commits: a retried task writes the same key again, and a
    row that never commits leaves an object the tenant's purge removes with the rest.
    """
    store = configured_store()
    if store is None or tenant_id is None:
        report.content = content
        return
    report.key = report_key(tenant_id, report)
    store.put(report.key, content, content_type=report.content_type)


@job_task("reports.items_csv")
def build_items_csv(
    ctx: TaskContext, job: JobTracker, *, kind: str = "items_csv", notify_email: str | None = None
) -> None:
    """Build a CSV of the tenant's live items, attach it to the job, and email the requester."""
    total = report_repository.count_live_items(ctx.session)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for n, item in enumerate(report_repository.live_items(ctx.session), start=1):
        row = [item.id, item.title, item.status, " ".join(item.tags), item.description or ""]
        row += [item.created_at.isoformat(), item.updated_at.isoformat()]
        writer.writerow([csv_safety.neutralize(cell) for cell in row])
        if n % PROGRESS_EVERY == 0:
            job.progress(n * 100 // max(total, 1))
    content = buffer.getvalue().encode("utf-8")
    report = Report(
        id=job.job_id,
        kind=kind,
        filename=f"items-{job.job_id.hex[:8]}.csv",
        content_type="text/csv; charset=utf-8",
        size_bytes=len(content),
    )
    store_report(report, content, ctx.tenant.id if ctx.tenant else None)
    report_repository.save(ctx.session, report)
    if ctx.tenant is not None:
        completed = events.ReportCompletedData(
            report_id=report.id, job_id=job.job_id, kind=kind, filename=report.filename, size=len(content)
        )
        events.record_sync(ctx.session, "report.completed", completed, tenant_id=ctx.tenant.id)
    job.result_url = f"/api/v1/reports/{job.job_id}/download"
    if notify_email and ctx.tenant is not None:
        send_email_later(
            ctx.session,
            to=[notify_email],
            template="report_ready",
            context={
                "tenant_name": ctx.tenant.slug,
                "report_name": "Items (CSV)",
                # The report's page in the tenant console: it downloads from there after signing in
                # (the API's download link needs a bearer token a mail client does not have).
                "download_url": get_settings().tenant_url(ctx.tenant.slug, job_page(job.job_id)),
                "expires_in_hours": 24 * 30,
            },
            tenant_id=ctx.tenant.id,
        )


@platform_task("reports.fan_out_cleanup")
def fan_out_cleanup(ctx: TaskContext) -> int:
    """Start one report cleanup per active tenant, spread over a day."""
    return fan_out(ctx.session, CLEANUP_TASK, period_seconds=CLEANUP_PERIOD)


@tenant_task(CLEANUP_TASK)
def cleanup(ctx: TaskContext) -> int:
    """Delete a tenant's reports older than the job retention period with their files, then the report
    files no row refers to; return how many of each went, together."""
    assert ctx.tenant is not None  # a tenant task
    cutoff = utcnow() - timedelta(days=get_outbox_settings().job_retention_days)
    keys = report_repository.delete_created_before(ctx.session, cutoff)
    store = configured_store()
    if store is None:
        return len(keys)  # no object storage here: the files were in the rows
    if keys:  # the files go first: if the storage fails, the rows come back with the rollback
        store.delete_many(keys)
    orphans = delete_orphans(ctx.session, store, ctx.tenant.id, kind="reports", rows=Report)
    if orphans:
        logger.info("deleted %d report file(s) no row refers to", orphans)
    return len(keys) + orphans
