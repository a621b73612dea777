"""Reports API: request a report (a job), then download it."""

from __future__ import annotations

import functools
import uuid

import anyio
from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from billing.dependencies import ReportsFeature
from platform_core.access.dependencies import ReportsRun
from platform_core.jobs import service as job_service
from platform_core.jobs.models import Job
from platform_core.jobs.schemas import JobRead
from platform_core.kernel.errors import raises
from platform_core.kernel.tenancy import TenantSessionDep
from platform_core.reports import repository as report_repository
from platform_core.reports.exceptions import ReportNotFound
from platform_core.reports.schemas import ReportCreate
from platform_core.uploads.storage import get_store

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.post("", status_code=202, response_model=JobRead)
async def create_report(
    principal: ReportsRun, tenant: ReportsFeature, body: ReportCreate, session: TenantSessionDep
) -> Job:
    """Start building a report; follow it at /api/v1/jobs/{id}."""
    params = {"kind": body.kind.value}
    if body.notify_email:
        params["notify_email"] = str(body.notify_email)
    return await job_service.start_job(
        session,
        tenant,
        type_=f"report.{body.kind.value}",
        task_name=f"reports.{body.kind.value}",
        params=params,
        user_id=principal.user_id,
    )


@router.get("/{report_id}/download", response_model=None)
@raises(ReportNotFound)
async def download_report(
    principal: ReportsRun, report_id: uuid.UUID, session: TenantSessionDep
) -> Response | RedirectResponse:
    """Download a built report (a redirect to a signed link when it is in the object storage)."""
    report = await report_repository.get(session, report_id=report_id)
    if report is None:
        raise ReportNotFound
    if report.key is not None:
        url = await anyio.to_thread.run_sync(
            functools.partial(get_store().presign_get, report.key, filename=report.filename)
        )
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    return Response(
        content=report.content,
        media_type=report.content_type,
        headers={"Content-Disposition": f'attachment; filename="{report.filename}"'},
    )
