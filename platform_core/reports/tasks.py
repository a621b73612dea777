"""Report tasks (queue `reports`)."""

from __future__ import annotations

import csv
import io
import uuid

from platform_core.jobs import service as job_service
from platform_core.reports import repository as report_repository
from platform_core.reports.models import Report
from workers.base import TaskContext, tenant_task
from workers.outbox.service import enqueue

COLUMNS = ("id", "title", "status", "tags", "description", "created_at", "updated_at")


@tenant_task("reports.items_csv")
def build_items_csv(
    ctx: TaskContext, *, job_id: str, kind: str = "items_csv", notify_email: str | None = None
) -> None:
    """Build a CSV of the tenant's live items, attach it to the job, and email the requester."""
    with job_service.track(ctx, job_id) as job:
        total = report_repository.count_live_items(ctx.session)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        for n, item in enumerate(report_repository.live_items(ctx.session), start=1):
            writer.writerow(
                [
                    item.id,
                    item.title,
                    item.status,
                    " ".join(item.tags),
                    item.description or "",
                    item.created_at.isoformat(),
                    item.updated_at.isoformat(),
                ]
            )
            if total and n % 500 == 0:
                job.progress(int(n * 100 / total))
        content = buffer.getvalue().encode("utf-8")
        report_id = uuid.UUID(job_id)
        report_repository.save(
            ctx.session,
            Report(
                id=report_id,
                kind=kind,
                filename=f"items-{report_id.hex[:8]}.csv",
                content_type="text/csv; charset=utf-8",
                size_bytes=len(content),
                content=content,
            ),
        )
        job.result_url = f"/api/v1/reports/{report_id}/download"
        if notify_email and ctx.tenant is not None:
            enqueue(
                ctx.session,
                "email.send",
                to=[notify_email],
                template="report_ready",
                context={
                    "tenant_name": ctx.tenant.slug,
                    "report_name": "Items (CSV)",
                    "download_url": job.result_url,
                },
            )
